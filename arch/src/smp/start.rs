//! Starting the application processors: INIT-SIPI-SIPI, one at a time.
//!
//! For each AP, [`start_aps`] gives it a fresh stack and CPU index through
//! the trampoline's parameter block, sends INIT, waits 10 ms, sends a
//! SIPI, waits 200 µs, sends a second SIPI if the AP has not yet taken its
//! stack (the MP specification's sequence), then waits up to 100 ms for
//! the AP to count itself in [`super::ONLINE`]. The AP runs [`ap_entry`]:
//! per-CPU block, control registers, `irq::init_ap`, online, then the
//! kernel's `ap_main`.
//!
//! Delays are measured with the TSC. Before `irq::init_bsp` has calibrated
//! it, a rate of 4 GHz is assumed, which no TSC here exceeds, so every
//! delay is then at least as long as asked.

use core::sync::atomic::{AtomicBool, Ordering, fence};

use super::trampoline::{self, ApParams, SIPI_VECTOR};
use super::{MAX_CPUS, ONLINE, cpu_apic_id, percpu};
use crate::cpu::tsc;
use crate::irq::lapic;
use crate::mm::frame::{Frame, KernelMapping};

/// Each AP's stack: 64 KiB, with an unmapped page below it (every VMAP
/// mapping is followed by an unmapped guard page, so the mapping before
/// this one ends in one).
const STACK_PAGES: usize = 16;

/// INIT to first SIPI (MP specification B.4).
const INIT_DELAY_NS: u64 = 10_000_000;
/// Between the two SIPIs.
const SIPI_DELAY_NS: u64 = 200_000;
/// From the first SIPI until the AP must be online.
const ONLINE_TIMEOUT_NS: u64 = 100_000_000;
/// TSC ticks per microsecond assumed before calibration (4 GHz).
const UNCALIBRATED_TICKS_PER_US: u64 = 4_000;

/// Set by the first [`start_aps`]: the trampoline page is then in use.
static STARTED: AtomicBool = AtomicBool::new(false);
/// The kernel's per-AP main, set before the first AP starts.
static AP_MAIN: spin::Once<fn(usize) -> !> = spin::Once::new();

/// Starts every CPU in `apic_ids` except the boot CPU, one at a time,
/// numbering them 1, 2, … in start order, and returns how many APs came
/// online (so [`super::online_count`] is that plus one).
///
/// Each AP logs `cpu N online (apic A)` and then calls `ap_main(N)` on its
/// own 64 KiB stack with interrupts disabled; the boot CPU logs its own
/// line first. An AP that does not respond within 100 ms is reported and
/// skipped (its CPU index goes to the next one); an AP that took its
/// parameters but never came online stops the start-up, so CPU indices
/// stay dense: exactly `0..online_count()` are online.
///
/// Call once, on the boot CPU, after `irq::init_bsp` (which enables the
/// local APIC and calibrates the TSC). `apic_ids` is typically every
/// enabled CPU of the MADT (`drivers::acpi::Madt::cpu_apic_ids`).
pub fn start_aps(apic_ids: &[u32], ap_main: fn(cpu: usize) -> !) -> usize {
    assert!(
        !STARTED.swap(true, Ordering::AcqRel),
        "start_aps called twice"
    );
    assert_eq!(crate::cpu::id(), 0, "start_aps runs on the boot CPU");
    AP_MAIN.call_once(|| ap_main);
    let bsp_apic = cpu_apic_id(0);
    log::info!("cpu 0 online (apic {bsp_apic})");

    // SAFETY: STARTED makes this the only call, and no AP has been sent a
    // SIPI yet, so none runs the trampoline page.
    let params = unsafe { trampoline::install() };

    let mut next_cpu = 1;
    let mut spare_stack = None;
    for &apic_id in apic_ids.iter().filter(|&&id| id != bsp_apic) {
        if next_cpu == MAX_CPUS {
            log::warn!(
                "smp: more than {MAX_CPUS} CPUs; not starting apic {apic_id} and later ones"
            );
            break;
        }
        let Some(stack) = spare_stack.take().or_else(new_stack) else {
            log::error!(
                "smp: no memory for an AP stack; not starting apic {apic_id} and later ones"
            );
            break;
        };
        let stack_top = stack.addr() + stack.len() as u64;
        match start_one(params, next_cpu, apic_id, stack_top) {
            Outcome::Online => {
                // The AP runs on it for good.
                core::mem::forget(stack);
                next_cpu += 1;
            }
            Outcome::NoResponse => {
                log::error!("smp: cpu {next_cpu} (apic {apic_id}) did not start; skipping it");
                spare_stack = Some(stack);
            }
            Outcome::Stuck => {
                log::error!(
                    "smp: cpu {next_cpu} (apic {apic_id}) took its stack but never came online; stopping"
                );
                core::mem::forget(stack);
                break;
            }
        }
    }
    next_cpu - 1
}

/// How starting one AP went.
enum Outcome {
    /// It counted itself online.
    Online,
    /// It never took its stack; the BSP withdrew it, so the AP can no
    /// longer run with these parameters.
    NoResponse,
    /// It took its stack but did not come online in time.
    Stuck,
}

/// Runs INIT-SIPI-SIPI for one AP and waits for it to come online.
fn start_one(params: &ApParams, cpu: usize, apic_id: u32, stack_top: u64) -> Outcome {
    // Relaxed: these are published by the Release store of `stack_top`,
    // and the AP reads them only after its locked swap of `stack_top`.
    params.cpu.store(cpu as u64, Ordering::Relaxed);
    params.apic_id.store(apic_id as u64, Ordering::Relaxed);
    params.stack_top.store(stack_top, Ordering::Release);
    // The trampoline and parameters must be visible before the IPIs
    // (`lapic` also fences before x2APIC ICR writes; this covers xAPIC).
    fence(Ordering::SeqCst);

    // Acquire: pairs with the AP's Release increment in `ap_entry`, so its
    // set-up happens-before whatever the boot CPU does next.
    let online = || ONLINE.load(Ordering::Acquire) > cpu;
    // Relaxed: only a hint whether the second SIPI is needed.
    let taken = || params.stack_top.load(Ordering::Relaxed) == 0;

    lapic::send_init(apic_id);
    spin_for(INIT_DELAY_NS, || false);
    let sipi = tsc::read();
    lapic::send_startup(apic_id, SIPI_VECTOR);
    spin_for(SIPI_DELAY_NS, taken);
    if !taken() {
        lapic::send_startup(apic_id, SIPI_VECTOR);
    }
    if spin_until(sipi + ticks(ONLINE_TIMEOUT_NS), online) {
        return Outcome::Online;
    }
    // Withdraw the stack. AcqRel: if the AP swaps it later it reads 0 and
    // parks; if it already took it, the AP is somewhere between the
    // trampoline and `ONLINE`.
    if params.stack_top.swap(0, Ordering::AcqRel) != 0 {
        Outcome::NoResponse
    } else if online() {
        Outcome::Online // came online between the two checks
    } else {
        Outcome::Stuck
    }
}

/// A fresh AP stack in the VMAP window.
fn new_stack() -> Option<KernelMapping> {
    let frames = (0..STACK_PAGES)
        .map(|_| Frame::alloc())
        .collect::<Option<_>>()?;
    KernelMapping::new(frames).ok()
}

/// TSC ticks for `ns` nanoseconds (at least that long before calibration).
fn ticks(ns: u64) -> u64 {
    if tsc::frequency() != 0 {
        tsc::ns_to_ticks(ns)
    } else {
        ns.div_ceil(1000) * UNCALIBRATED_TICKS_PER_US
    }
}

/// Spins for `ns` nanoseconds or until `done()`; returns `done()`.
fn spin_for(ns: u64, done: impl Fn() -> bool) -> bool {
    spin_until(tsc::read() + ticks(ns), done)
}

/// Spins until TSC `deadline` or until `done()`; returns `done()`.
fn spin_until(deadline: u64, done: impl Fn() -> bool) -> bool {
    while tsc::read() < deadline {
        if done() {
            return true;
        }
        core::hint::spin_loop();
    }
    done()
}

/// An AP's first Rust code, called by the trampoline on the AP's own stack
/// and the kernel's page tables, interrupts disabled.
pub(super) extern "C" fn ap_entry(cpu: u64, apic_id: u64) -> ! {
    let (cpu, apic_id) = (cpu as usize, apic_id as u32);
    // The parameters name the CPU the boot CPU sent SIPIs to. Another AP
    // could only be here after missing its own time-out and finding a later
    // AP's parameters; it must not take that CPU's identity. It parks
    // without touching anything shared, and the boot CPU reports the
    // start-up as stuck.
    if crate::cpu::features::initial_apic_id() != apic_id {
        crate::cpu::halt_forever();
    }
    percpu::install(cpu, apic_id);
    crate::cpu::init_this_cpu();
    crate::irq::init_ap();
    log::info!("cpu {cpu} online (apic {apic_id})");
    // Release: publishes this CPU's set-up to the Acquire loads of ONLINE
    // (`start_one`, `online_count`).
    ONLINE.fetch_add(1, Ordering::Release);
    let ap_main = AP_MAIN.get().expect("AP_MAIN is set before any AP starts");
    ap_main(cpu)
}
