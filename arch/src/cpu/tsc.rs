//! The time-stamp counter: Tine's monotonic clock.
//!
//! `now()` is nanoseconds since boot, computed from the TSC and the frequency
//! calibrated at boot (`calibrate`, run by `irq::timer` init: CPUID leaf
//! 0x15/0x16 when present, else against the PIT).

use core::sync::atomic::{AtomicU64, Ordering};

/// TSC ticks per microsecond, scaled by 2^16 (set once at boot).
static TICKS_PER_US_X65536: AtomicU64 = AtomicU64::new(0);
/// TSC value at boot.
static BOOT_TSC: AtomicU64 = AtomicU64::new(0);

/// Reads the TSC.
#[inline]
pub fn read() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC is unprivileged (CR4.TSD is clear) and side-effect free.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
}

/// Records the TSC frequency in Hz. Called once by the calibration code.
pub fn set_frequency(hz: u64) {
    // Relaxed: written once on the boot CPU before APs start; the AP start-up
    // handshake orders it before any AP reads it.
    TICKS_PER_US_X65536.store((hz << 16) / 1_000_000, Ordering::Relaxed);
}

/// Marks "now" as time zero.
pub fn set_boot_reference() {
    BOOT_TSC.store(read(), Ordering::Relaxed);
}

/// The calibrated TSC frequency in Hz (0 before calibration).
pub fn frequency() -> u64 {
    (TICKS_PER_US_X65536.load(Ordering::Relaxed) * 1_000_000) >> 16
}

/// Converts TSC ticks to nanoseconds.
#[inline]
pub fn ticks_to_ns(ticks: u64) -> u64 {
    let per_us = TICKS_PER_US_X65536.load(Ordering::Relaxed);
    if per_us == 0 {
        return 0;
    }
    ((ticks as u128 * 1000 * 65536) / per_us as u128) as u64
}

/// Converts nanoseconds to TSC ticks.
#[inline]
pub fn ns_to_ticks(ns: u64) -> u64 {
    let per_us = TICKS_PER_US_X65536.load(Ordering::Relaxed);
    ((ns as u128 * per_us as u128) / (1000 * 65536)) as u64
}

/// Monotonic nanoseconds since boot.
#[inline]
pub fn now_ns() -> u64 {
    ticks_to_ns(read().saturating_sub(BOOT_TSC.load(Ordering::Relaxed)))
}
