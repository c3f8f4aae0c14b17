//! The local APIC: x2APIC (MSRs) when CPUID reports it, else xAPIC (MMIO
//! mapped once through `mm::paging::map_mmio`; every CPU sees its own APIC
//! at the same physical address).
//!
//! The mode is chosen once on the boot CPU ([`init_bsp`]) and every AP
//! enables its APIC in the same mode ([`init_this_cpu`]). Inter-processor
//! interrupts go through the ICR: [`send_ipi`], [`send_init`] and
//! [`send_startup`] (the AP start-up sequence). The timer registers are
//! driven by [`super::timer`].

use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use x86_64::registers::model_specific::Msr;

use super::vector;
use crate::cpu::Features;

/// `IA32_APIC_BASE`: bit 11 enables the APIC, bit 10 selects x2APIC mode.
const IA32_APIC_BASE: u32 = 0x1b;
const APIC_BASE_ENABLE: u64 = 1 << 11;
const APIC_BASE_EXTD: u64 = 1 << 10;
/// `IA32_TSC_DEADLINE`: the TSC value at which the timer fires.
const IA32_TSC_DEADLINE: u32 = 0x6e0;

/// Register offsets in the xAPIC page; the x2APIC MSR is `0x800 + off / 16`.
pub(crate) mod reg {
    pub const ID: u32 = 0x020;
    pub const TPR: u32 = 0x080;
    pub const EOI: u32 = 0x0b0;
    pub const SVR: u32 = 0x0f0;
    pub const ESR: u32 = 0x280;
    pub const ICR_LOW: u32 = 0x300;
    pub const ICR_HIGH: u32 = 0x310;
    pub const LVT_TIMER: u32 = 0x320;
    pub const LVT_THERMAL: u32 = 0x330;
    pub const LVT_PERF: u32 = 0x340;
    pub const LVT_LINT0: u32 = 0x350;
    pub const LVT_LINT1: u32 = 0x360;
    pub const LVT_ERROR: u32 = 0x370;
    pub const TIMER_INITIAL: u32 = 0x380;
    pub const TIMER_CURRENT: u32 = 0x390;
    pub const TIMER_DIVIDE: u32 = 0x3e0;
}

/// LVT mask bit.
pub(crate) const LVT_MASKED: u32 = 1 << 16;
/// LVT delivery mode NMI.
const LVT_NMI: u32 = 4 << 8;

/// ICR fields.
const ICR_FIXED: u32 = 0 << 8;
const ICR_NMI: u32 = 4 << 8;
const ICR_INIT: u32 = 5 << 8;
const ICR_STARTUP: u32 = 6 << 8;
const ICR_PENDING: u32 = 1 << 12;
const ICR_ASSERT: u32 = 1 << 14;
const ICR_LEVEL: u32 = 1 << 15;
const ICR_SELF: u32 = 1 << 18;
const ICR_ALL_BUT_SELF: u32 = 3 << 18;

const MODE_NONE: u8 = 0;
const MODE_XAPIC: u8 = 1;
const MODE_X2APIC: u8 = 2;

/// Which APIC mode every CPU runs in (set once on the boot CPU).
static MODE: AtomicU8 = AtomicU8::new(MODE_NONE);
/// Virtual address of the xAPIC register page (xAPIC mode only).
static XAPIC_VA: AtomicU64 = AtomicU64::new(0);

/// Whether the APICs run in x2APIC mode.
pub fn is_x2apic() -> bool {
    MODE.load(Ordering::Relaxed) == MODE_X2APIC
}

/// Whether [`init_bsp`] has run (the APIC registers are reachable).
pub fn is_ready() -> bool {
    MODE.load(Ordering::Relaxed) != MODE_NONE
}

fn read_msr(msr: u32) -> u64 {
    // SAFETY: only called with MSRs that exist on every CPU that reaches
    // this code: IA32_APIC_BASE, and x2APIC registers after x2APIC mode
    // was enabled on this CPU (`init_this_cpu` runs before any other use).
    unsafe { Msr::new(msr).read() }
}

/// # Safety
/// `msr` must be an APIC MSR (or `IA32_TSC_DEADLINE`) and `value` one that
/// this module's callers intend: the APIC's own state, not memory.
unsafe fn write_msr(msr: u32, value: u64) {
    // SAFETY: the caller's contract; APIC MSRs change only this CPU's
    // interrupt delivery, never memory safety.
    unsafe { Msr::new(msr).write(value) }
}

/// Reads APIC register `off` (an xAPIC offset).
pub(crate) fn read(off: u32) -> u32 {
    if is_x2apic() {
        read_msr(0x800 + (off >> 4)) as u32
    } else {
        let va = XAPIC_VA.load(Ordering::Relaxed);
        debug_assert!(va != 0, "xAPIC used before init");
        // SAFETY: `va` is the uncached mapping of the APIC page made by
        // `init_bsp` (never unmapped) and `off` a register offset within it,
        // 16-byte aligned, read as the 32-bit access the APIC requires.
        unsafe { core::ptr::read_volatile((va + off as u64) as *const u32) }
    }
}

/// Writes APIC register `off` (an xAPIC offset).
pub(crate) fn write(off: u32, value: u32) {
    if is_x2apic() {
        // SAFETY: an x2APIC register MSR, written with a value meant for it;
        // x2APIC mode is enabled on this CPU.
        unsafe { write_msr(0x800 + (off >> 4), value as u64) }
    } else {
        let va = XAPIC_VA.load(Ordering::Relaxed);
        debug_assert!(va != 0, "xAPIC used before init");
        // SAFETY: as in `read`: a register in the APIC page mapped by
        // `init_bsp`, written with a 32-bit access.
        unsafe { core::ptr::write_volatile((va + off as u64) as *mut u32, value) }
    }
}

/// Chooses the APIC mode (x2APIC when CPUID reports it and `allow_x2apic`,
/// else xAPIC, mapping its page) and enables the boot CPU's APIC.
pub(crate) fn init_bsp(allow_x2apic: bool) {
    let mode = if allow_x2apic && Features::get().x2apic {
        MODE_X2APIC
    } else {
        let pa = read_msr(IA32_APIC_BASE) & 0x000f_ffff_ffff_f000;
        let va = crate::mm::paging::map_mmio(pa, 0x1000).expect("no VMAP space for the local APIC");
        XAPIC_VA.store(va, Ordering::Relaxed);
        MODE_XAPIC
    };
    // Relaxed: APs read it after the start-up handshake, which orders it.
    MODE.store(mode, Ordering::Relaxed);
    init_this_cpu(true);
}

/// Enables the executing CPU's APIC in the chosen mode: spurious vector
/// [`vector::SPURIOUS`], task priority 0, every LVT masked except LINT1 =
/// NMI on the boot CPU (`bsp`), errors cleared.
pub(crate) fn init_this_cpu(bsp: bool) {
    let base = read_msr(IA32_APIC_BASE);
    let xapic_on = (base | APIC_BASE_ENABLE) & !APIC_BASE_EXTD;
    // SAFETY: (1) the writes follow the transitions the SDM allows:
    // x2APIC -> disabled -> xAPIC, disabled -> xAPIC -> x2APIC; (2) the base
    // address bits are kept, so the xAPIC page mapping stays valid; (3) the
    // APIC is not yet delivering anything Tine relies on.
    unsafe {
        if base & APIC_BASE_EXTD != 0 && !is_x2apic() {
            write_msr(IA32_APIC_BASE, base & !(APIC_BASE_ENABLE | APIC_BASE_EXTD));
        }
        if base & APIC_BASE_ENABLE == 0 || (base & APIC_BASE_EXTD != 0 && !is_x2apic()) {
            write_msr(IA32_APIC_BASE, xapic_on);
        }
        if is_x2apic() && base & APIC_BASE_EXTD == 0 {
            write_msr(IA32_APIC_BASE, xapic_on | APIC_BASE_EXTD);
        }
    }
    write(reg::TPR, 0);
    write(reg::LVT_TIMER, LVT_MASKED | vector::TIMER as u32);
    write(reg::LVT_LINT0, LVT_MASKED);
    write(reg::LVT_LINT1, if bsp { LVT_NMI } else { LVT_MASKED });
    write(reg::LVT_ERROR, vector::APIC_ERROR as u32);
    // The performance and thermal LVTs exist on every APIC QEMU emulates.
    write(reg::LVT_PERF, LVT_MASKED);
    write(reg::LVT_THERMAL, LVT_MASKED);
    write(reg::SVR, 0x100 | vector::SPURIOUS as u32);
    clear_errors();
    eoi();
}

/// Clears (and returns) the error status register.
pub(crate) fn clear_errors() -> u32 {
    // The ESR latches on a write; x2APIC requires the written value be 0.
    write(reg::ESR, 0);
    read(reg::ESR)
}

/// The executing CPU's APIC id (the CPUID initial id before [`init_bsp`]).
pub fn id() -> u32 {
    match MODE.load(Ordering::Relaxed) {
        MODE_X2APIC => read(reg::ID),
        MODE_XAPIC => read(reg::ID) >> 24,
        _ => crate::cpu::features::initial_apic_id(),
    }
}

/// Signals end of interrupt to the executing CPU's APIC.
#[inline]
pub fn eoi() {
    write(reg::EOI, 0);
}

/// Waits (bounded) for the xAPIC to accept the previous ICR command.
fn wait_icr_idle() {
    if is_x2apic() {
        return; // x2APIC has no delivery-status bit: writes never stall.
    }
    for _ in 0..1_000_000 {
        if read(reg::ICR_LOW) & ICR_PENDING == 0 {
            return;
        }
        core::hint::spin_loop();
    }
}

/// Writes the ICR: destination `dest` (an APIC id; ignored with a
/// shorthand) and the low word `low`, which sends the IPI.
fn send_icr(dest: u32, low: u32) {
    assert!(is_ready(), "IPI before irq::init_bsp");
    // Interrupts off: a handler sending its own IPI between the two xAPIC
    // writes would replace the destination.
    crate::cpu::irq::without(|| {
        if is_x2apic() {
            // x2APIC ICR writes are not serializing: make earlier stores
            // (what the IPI announces) visible first.
            // SAFETY: fences have no memory-safety preconditions.
            unsafe { core::arch::asm!("mfence", "lfence", options(nostack, preserves_flags)) };
            // SAFETY: the x2APIC ICR MSR (0x830), with a well-formed command.
            unsafe { write_msr(0x830, (dest as u64) << 32 | low as u64) };
        } else {
            wait_icr_idle();
            write(reg::ICR_HIGH, (dest & 0xff) << 24);
            write(reg::ICR_LOW, low);
            wait_icr_idle();
        }
    });
}

/// Sends fixed interrupt `vector` to the CPU with APIC id `apic_id`.
pub fn send_ipi(apic_id: u32, vector: u8) {
    send_icr(apic_id, ICR_FIXED | ICR_ASSERT | vector as u32);
}

/// Sends fixed interrupt `vector` to the executing CPU.
pub fn send_ipi_self(vector: u8) {
    send_icr(0, ICR_FIXED | ICR_ASSERT | ICR_SELF | vector as u32);
}

/// Sends fixed interrupt `vector` to every CPU but the executing one.
pub fn send_ipi_all_but_self(vector: u8) {
    send_icr(0, ICR_FIXED | ICR_ASSERT | ICR_ALL_BUT_SELF | vector as u32);
}

/// Sends an NMI to the CPU with APIC id `apic_id`.
pub fn send_nmi(apic_id: u32) {
    send_icr(apic_id, ICR_NMI | ICR_ASSERT);
}

/// Sends an INIT IPI to `apic_id` (first step of starting an AP; wait
/// 10 ms before [`send_startup`]). In xAPIC mode this is followed by the
/// INIT level de-assert older APICs expect; x2APIC does not support it.
pub fn send_init(apic_id: u32) {
    send_icr(apic_id, ICR_INIT | ICR_ASSERT | ICR_LEVEL);
    if !is_x2apic() {
        send_icr(apic_id, ICR_INIT | ICR_LEVEL);
    }
}

/// Sends a start-up IPI to `apic_id`: the AP begins in real mode at
/// physical address `page * 0x1000` (e.g. `0x08` for a trampoline at
/// 0x8000). Send it twice, ~200 µs apart, after [`send_init`].
pub fn send_startup(apic_id: u32, page: u8) {
    send_icr(apic_id, ICR_STARTUP | ICR_ASSERT | page as u32);
}

/// Arms TSC-deadline mode's deadline MSR (0 disarms).
pub(crate) fn write_tsc_deadline(tsc: u64) {
    // SAFETY: IA32_TSC_DEADLINE exists (the caller checked CPUID) and only
    // schedules this CPU's timer interrupt.
    unsafe { write_msr(IA32_TSC_DEADLINE, tsc) }
}
