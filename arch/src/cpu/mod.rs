//! The CPU: feature detection, control-register setup, interrupt masking,
//! the TSC clock, random numbers, and leaving QEMU.

#[cfg(target_os = "none")]
pub mod backtrace;
pub mod debug;
pub mod features;
pub mod gdt;
pub mod random;
pub mod tsc;

#[cfg(target_os = "none")]
pub(crate) mod console;

pub use features::Features;

use crate::ExitCode;

/// This CPU's index (0 = the boot CPU, then in order of start-up).
///
/// Read from the per-CPU block through GS, so it is one instruction.
#[inline]
pub fn id() -> usize {
    crate::smp::percpu::current_id()
}

/// Number of CPUs that are online.
pub fn count() -> usize {
    crate::smp::online_count()
}

/// Ends the QEMU session with `code` through `isa-debug-exit`.
/// See [`ExitCode`] for the host status each code becomes.
pub fn exit_qemu(code: ExitCode) -> ! {
    #[cfg(target_os = "none")]
    {
        // SAFETY: port 0xf4 is QEMU's isa-debug-exit device, reserved by
        // `io::RESERVED` for this function alone; writing it ends the VM.
        unsafe { x86_64::instructions::port::Port::<u32>::new(0xf4).write(code as u32) };
        halt_forever()
    }
    #[cfg(not(target_os = "none"))]
    {
        std::process::exit(code.host_status())
    }
}

/// Stops this CPU for good, with interrupts off.
pub fn halt_forever() -> ! {
    loop {
        #[cfg(target_os = "none")]
        {
            x86_64::instructions::interrupts::disable();
            x86_64::instructions::hlt();
        }
        #[cfg(not(target_os = "none"))]
        std::thread::park();
    }
}

/// The executing CPU's RFLAGS (0 on the host), for tests of what the
/// entry paths leave in it.
pub fn rflags() -> u64 {
    #[cfg(target_os = "none")]
    {
        x86_64::registers::rflags::read_raw()
    }
    #[cfg(not(target_os = "none"))]
    {
        0
    }
}

/// Interrupt masking on this CPU.
pub mod irq {
    /// Whether interrupts are enabled on this CPU.
    pub fn enabled() -> bool {
        #[cfg(target_os = "none")]
        {
            x86_64::instructions::interrupts::are_enabled()
        }
        #[cfg(not(target_os = "none"))]
        {
            false
        }
    }

    /// Runs `f` with interrupts disabled on this CPU, restoring the previous
    /// state afterwards.
    pub fn without<R>(f: impl FnOnce() -> R) -> R {
        #[cfg(target_os = "none")]
        {
            x86_64::instructions::interrupts::without_interrupts(f)
        }
        #[cfg(not(target_os = "none"))]
        {
            f()
        }
    }

    /// Enables interrupts.
    pub fn enable() {
        #[cfg(target_os = "none")]
        x86_64::instructions::interrupts::enable();
    }

    /// Disables interrupts.
    pub fn disable() {
        #[cfg(target_os = "none")]
        x86_64::instructions::interrupts::disable();
    }

    /// Enables interrupts and halts until the next one, atomically: an
    /// interrupt that arrives between the two cannot be missed, because `sti`
    /// takes effect only after the following `hlt`. Call with interrupts
    /// disabled after checking there is no work.
    pub fn enable_and_halt() {
        #[cfg(target_os = "none")]
        x86_64::instructions::interrupts::enable_and_hlt();
        #[cfg(not(target_os = "none"))]
        std::thread::yield_now();
    }
}

/// Per-CPU control-register setup, run by every CPU before its first Rust
/// work: write protection in ring 0, SSE state for user programs, SMEP,
/// SMAP and UMIP where CPUID reports them. NX was enabled in EFER by the
/// long-mode switch.
#[cfg(target_os = "none")]
pub(crate) fn init_this_cpu() {
    use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
    let f = Features::get();
    let mut cr0 = Cr0::read();
    cr0.insert(Cr0Flags::WRITE_PROTECT | Cr0Flags::MONITOR_COPROCESSOR);
    cr0.remove(Cr0Flags::EMULATE_COPROCESSOR);
    let mut cr4 = Cr4::read();
    cr4.insert(Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE | Cr4Flags::PAGE_GLOBAL);
    if f.smep {
        cr4.insert(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION);
    }
    if f.smap {
        cr4.insert(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION);
    }
    if f.umip {
        cr4.insert(Cr4Flags::USER_MODE_INSTRUCTION_PREVENTION);
    }
    // SAFETY: (1) WP and the x87/SSE bits only tighten checks or enable
    // state the kernel itself never uses (the kernel target is soft-float);
    // (2) SMEP/SMAP/UMIP are set only when CPUID reports them, and the
    // kernel maps no user pages yet, so no kernel access trips them.
    unsafe {
        Cr0::write(cr0);
        Cr4::write(cr4);
    }
}
