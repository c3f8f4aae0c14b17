//! Per-CPU blocks, reached through the GS base.
//!
//! Each CPU's GS base points at its own [`PerCpu`]. The first words have
//! fixed offsets because assembly (the syscall entry, trap stubs) reads
//! them; the rest is ordinary Rust.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::MAX_CPUS;

/// One CPU's block. The `gs:`-relative offsets of the first fields are ABI
/// for assembly: do not reorder them.
#[repr(C, align(64))]
#[derive(Debug)]
pub struct PerCpu {
    /// gs:0 — this block's own address (lets code turn GS into a pointer).
    self_ptr: AtomicU64,
    /// gs:8 — the CPU index.
    id: AtomicU64,
    /// gs:16 — kernel stack pointer to switch to on entry from user mode.
    pub(crate) kernel_rsp: AtomicU64,
    /// gs:24 — scratch slot for the user stack pointer during syscall entry.
    pub(crate) user_rsp: AtomicU64,
    /// The CPU's local APIC id.
    apic_id: AtomicU32,
    /// Address of this CPU's TSS (0 until `irq::init_bsp`/`init_ap`), for
    /// `cpu::gdt::set_kernel_stack`.
    pub(crate) tss: AtomicU64,
    /// LAPIC timer interrupts taken on this CPU.
    pub(crate) timer_interrupts: AtomicU64,
}

impl PerCpu {
    const fn new() -> Self {
        Self {
            self_ptr: AtomicU64::new(0),
            id: AtomicU64::new(0),
            kernel_rsp: AtomicU64::new(0),
            user_rsp: AtomicU64::new(0),
            apic_id: AtomicU32::new(0),
            tss: AtomicU64::new(0),
            timer_interrupts: AtomicU64::new(0),
        }
    }

    /// This block's CPU index.
    pub fn id(&self) -> usize {
        self.id.load(Ordering::Relaxed) as usize
    }

    /// This CPU's local APIC id.
    pub fn apic_id(&self) -> u32 {
        self.apic_id.load(Ordering::Relaxed)
    }
}

static PERCPU: [PerCpu; MAX_CPUS] = [const { PerCpu::new() }; MAX_CPUS];

/// The block of CPU `id`.
pub fn of(id: usize) -> &'static PerCpu {
    &PERCPU[id]
}

/// Points this CPU's GS base at block `id` and fills it in.
/// Called once per CPU, first thing after entering long mode.
#[cfg(target_os = "none")]
pub(crate) fn install(id: usize, apic_id: u32) {
    let block = &PERCPU[id];
    let addr = block as *const PerCpu as u64;
    block.self_ptr.store(addr, Ordering::Relaxed);
    block.id.store(id as u64, Ordering::Relaxed);
    block.apic_id.store(apic_id, Ordering::Relaxed);
    // IA32_GS_BASE only affects GS-relative accesses, and every one in Tine
    // expects exactly this block, a static that stays valid forever.
    x86_64::registers::model_specific::GsBase::write(x86_64::VirtAddr::new(addr));
}

/// Index of the executing CPU.
#[inline]
pub(crate) fn current_id() -> usize {
    #[cfg(target_os = "none")]
    {
        let id: u64;
        // SAFETY: `install` ran on this CPU before any code that can call
        // this (it is the first thing each CPU does in long mode), so gs:8
        // is this CPU's `id` field.
        unsafe {
            core::arch::asm!("mov {}, gs:[8]", out(reg) id, options(nostack, readonly, preserves_flags))
        };
        id as usize
    }
    #[cfg(not(target_os = "none"))]
    {
        0
    }
}

/// The executing CPU's block.
pub fn current() -> &'static PerCpu {
    &PERCPU[current_id()]
}
