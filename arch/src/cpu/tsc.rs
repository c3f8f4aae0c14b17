//! The time-stamp counter: Tine's monotonic clock.
//!
//! `now()` is nanoseconds since boot, computed from the TSC and the frequency
//! calibrated at boot ([`calibrate`], run by `irq::init_bsp`: CPUID leaf
//! 0x15 (crystal ratio) or 0x16 (base MHz) when present and non-zero, else
//! measured against PIT channel 2).

use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

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

/// The TSC value at time zero.
pub fn boot_reference() -> u64 {
    BOOT_TSC.load(Ordering::Relaxed)
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

/// Where the TSC frequency came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Source {
    /// Not calibrated yet.
    None = 0,
    /// CPUID leaf 0x15: crystal frequency times the TSC/crystal ratio.
    CpuidCrystal = 1,
    /// CPUID leaf 0x16: the processor base frequency.
    CpuidBase = 2,
    /// Measured against PIT channel 2.
    Pit = 3,
    /// Nothing worked: a guess of 2 GHz.
    Guess = 4,
}

static SOURCE: AtomicU8 = AtomicU8::new(Source::None as u8);

/// How the frequency was found, and the frequency in Hz.
pub fn calibration() -> (Source, u64) {
    let source = match SOURCE.load(Ordering::Relaxed) {
        1 => Source::CpuidCrystal,
        2 => Source::CpuidBase,
        3 => Source::Pit,
        4 => Source::Guess,
        _ => Source::None,
    };
    (source, frequency())
}

/// The TSC frequency from CPUID leaves `leaf15` = (eax, ebx, ecx) =
/// (denominator, numerator, crystal Hz) and `base_mhz` (leaf 0x16 EAX),
/// when they give one.
pub fn frequency_from_cpuid(
    leaf15: Option<(u32, u32, u32)>,
    base_mhz: Option<u32>,
) -> Option<(Source, u64)> {
    if let Some((den, num, crystal)) = leaf15
        && den != 0
        && num != 0
        && crystal != 0
    {
        return Some((
            Source::CpuidCrystal,
            crystal as u64 * num as u64 / den as u64,
        ));
    }
    match base_mhz {
        Some(mhz) if mhz != 0 => Some((Source::CpuidBase, mhz as u64 * 1_000_000)),
        _ => None,
    }
}

/// Calibrates the TSC and records its frequency ([`set_frequency`]):
/// CPUID leaf 0x15/0x16 when present and non-zero (unless `force_pit`),
/// else the shortest of three 10 ms PIT channel-2 countdowns (the
/// shortest has the least polling and scheduling noise), else a guess.
/// Called once by `irq::init_bsp`.
#[cfg(target_os = "none")]
pub fn calibrate(force_pit: bool) -> (Source, u64) {
    let f = super::Features::get();
    let leaf15 = (f.max_leaf >= 0x15).then(|| {
        let [a, b, c, _] = super::Features::cpuid(0x15, 0);
        (a, b, c)
    });
    let base_mhz = (f.max_leaf >= 0x16).then(|| super::Features::cpuid(0x16, 0)[0]);
    let cpuid = if force_pit {
        None
    } else {
        frequency_from_cpuid(leaf15, base_mhz)
    };
    let (source, hz) = cpuid
        .or_else(|| {
            let ms = 10;
            let best = (0..3)
                .filter_map(|_| pit::countdown(pit::HZ * ms / 1000))
                .min()?;
            Some((Source::Pit, best * 1000 / ms as u64))
        })
        .unwrap_or((Source::Guess, 2_000_000_000));
    set_frequency(hz);
    SOURCE.store(source as u8, Ordering::Relaxed);
    (source, hz)
}

/// Busy-waits `ms` milliseconds timed by the PIT (independent of the TSC),
/// returning the TSC ticks that passed, or `None` if the PIT does not
/// count. For checking the calibration.
#[cfg(target_os = "none")]
pub fn pit_wait_ms(ms: u32) -> Option<u64> {
    let mut total = 0;
    let mut left = ms;
    while left > 0 {
        let step = left.min(50);
        total += pit::countdown(pit::HZ * step / 1000)?;
        left -= step;
    }
    Some(total)
}

/// PIT channel 2, gated by port 0x61 (ports reserved for arch in `io`).
#[cfg(target_os = "none")]
mod pit {
    use x86_64::instructions::port::Port;

    /// The PIT input clock.
    pub const HZ: u32 = 1_193_182;

    /// Serialises users of channel 2 (one counter for the whole machine).
    static LOCK: spin::Mutex<()> = spin::Mutex::new(());

    /// Counts `count` PIT ticks down in mode 0 and returns how many TSC
    /// ticks it took, or `None` if the output never rises.
    pub fn countdown(count: u32) -> Option<u64> {
        let count = count.clamp(1, 0xffff) as u16;
        let _guard = LOCK.lock();
        let mut gate = Port::<u8>::new(0x61);
        let mut command = Port::<u8>::new(0x43);
        let mut channel2 = Port::<u8>::new(0x42);
        // SAFETY: ports 0x42, 0x43 and 0x61 are reserved for arch by
        // `io::RESERVED`; LOCK makes this the only user of channel 2; the
        // original port 0x61 value is restored, leaving the speaker as it was.
        unsafe {
            let saved = gate.read();
            gate.write((saved & !0x02) | 0x01); // gate 2 on, speaker data off
            command.write(0b1011_0000); // channel 2, lobyte/hibyte, mode 0, binary
            channel2.write(count as u8);
            channel2.write((count >> 8) as u8);
            let start = super::read();
            let mut risen = false;
            for _ in 0..20_000_000u32 {
                if gate.read() & 0x20 != 0 {
                    risen = true;
                    break;
                }
            }
            let end = super::read();
            gate.write(saved);
            risen.then_some(end - start)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuid_crystal_ratio_wins() {
        // 24 MHz crystal, ratio 250/2 = 3 GHz.
        assert_eq!(
            frequency_from_cpuid(Some((2, 250, 24_000_000)), Some(2900)),
            Some((Source::CpuidCrystal, 3_000_000_000))
        );
    }

    #[test]
    fn cpuid_base_when_crystal_is_zero() {
        assert_eq!(
            frequency_from_cpuid(Some((2, 250, 0)), Some(2900)),
            Some((Source::CpuidBase, 2_900_000_000))
        );
        assert_eq!(frequency_from_cpuid(None, Some(0)), None);
        assert_eq!(frequency_from_cpuid(Some((0, 0, 0)), None), None);
    }

    #[test]
    fn ns_ticks_round_trip() {
        set_frequency(2_500_000_000);
        assert_eq!(ns_to_ticks(1_000_000), 2_500_000);
        let ns = ticks_to_ns(2_500_000);
        assert!((999_000..=1_001_000).contains(&ns), "{ns}");
    }
}
