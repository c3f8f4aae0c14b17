//! The executors' [`Platform`] on real (emulated) hardware: CPU index from
//! the per-CPU block, time from the TSC, wake-ups as LAPIC IPIs, idling as
//! `sti; hlt` with the LAPIC timer armed for the next deadline.

use crate::task::Platform;
use arch::irq::vector;

/// The machine Tine runs on.
#[derive(Debug)]
struct Machine;

static MACHINE: Machine = Machine;

impl Platform for Machine {
    fn cpu_id(&self) -> usize {
        arch::cpu::id()
    }

    fn now_ns(&self) -> u64 {
        arch::cpu::tsc::now_ns()
    }

    fn wake_cpu(&self, cpu: usize) {
        // Sticky as the contract wants: a fixed IPI stays pending in the
        // target's IRR while it has interrupts masked, and its `sti; hlt`
        // takes it at once.
        arch::irq::lapic::send_ipi(arch::smp::cpu_apic_id(cpu), vector::WAKEUP);
    }

    fn without_interrupts(&self, f: &mut dyn FnMut()) {
        arch::cpu::irq::without(f)
    }

    fn idle(&self, deadline_ns: Option<u64>) {
        if let Some(deadline) = deadline_ns {
            arch::irq::timer::arm_deadline_ns(deadline);
        }
        arch::cpu::irq::enable_and_halt();
    }
}

/// Installs the interrupt handlers the executors rely on. Both only end a
/// `hlt`: the executor loop itself finds the woken task or expired timer.
pub fn install() {
    arch::irq::set_handler(vector::WAKEUP, |_| {});
    arch::irq::timer::set_hook(|| {});
}

/// The platform to hand to [`crate::task::init`].
pub fn platform() -> &'static dyn Platform {
    &MACHINE
}
