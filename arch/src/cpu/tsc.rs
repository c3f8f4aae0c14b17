//! The time-stamp counter: Tine's monotonic clock.
//!
//! `now()` is nanoseconds since boot, computed from the TSC and the frequency
//! calibrated at boot ([`calibrate`], run by `irq::init_bsp`: CPUID leaf
//! 0x15 (crystal ratio) or 0x16 (base MHz) when present and non-zero, else
//! measured against PIT channel 2).

use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

/// TSC ticks per microsecond, scaled by 2^16 (set once at boot).
static TICKS_PER_US_X65536: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds per tick, scaled by 2^32: `ticks_to_ns` is then one
/// multiply and a shift, no division (a library call for u128, and slow
/// under emulation), on the executor's hot path.
static NS_PER_TICK_X2_32: AtomicU64 = AtomicU64::new(0);
/// `ticks_to_ns`'s factor: nanoseconds per tick, scaled by 2^32 (the
/// vDSO computes the same).
pub fn ns_per_tick_x2_32() -> u64 {
    NS_PER_TICK_X2_32.load(Ordering::Relaxed)
}

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
    // Rounded to nearest: the error is then below 2^-33 ns per tick.
    let per_tick = match hz as u128 {
        0 => 0,
        hz => ((1_000_000_000u128 << 32) + hz / 2) / hz,
    };
    NS_PER_TICK_X2_32.store(per_tick as u64, Ordering::Relaxed);
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
    let per_tick = NS_PER_TICK_X2_32.load(Ordering::Relaxed);
    ((ticks as u128 * per_tick as u128) >> 32) as u64
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
/// else 15 ms measurements against PIT channel 2 until two agree within
/// 0.05 % (see [`pit`] for why they survive the vCPU being descheduled),
/// else a guess. Called once by `irq::init_bsp`.
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
        .or_else(|| Some((Source::Pit, calibrate_against_pit()?)))
        .unwrap_or((Source::Guess, 2_000_000_000));
    set_frequency(hz);
    SOURCE.store(source as u8, Ordering::Relaxed);
    (source, hz)
}

/// Up to six 15 ms PIT measurements; the mean of the first two that agree
/// within 0.05 %, else the median of those made. (A run during which the
/// vCPU was descheduled for longer than the rest of the 16-bit PIT period
/// sees the count wrap and over-estimates; such a run agrees with no other.)
#[cfg(target_os = "none")]
fn calibrate_against_pit() -> Option<u64> {
    let mut runs = [0u64; 6];
    let mut made = 0;
    for _ in 0..runs.len() {
        let Some((tsc_ticks, pit_ticks)) = pit::measure(PIT_HZ * 15 / 1000) else {
            continue;
        };
        let hz = hz_from(tsc_ticks, pit_ticks);
        if let Some(&other) = runs[..made].iter().find(|&&r| r.abs_diff(hz) <= hz / 2000) {
            return Some((hz + other) / 2);
        }
        runs[made] = hz;
        made += 1;
    }
    let runs = &mut runs[..made];
    runs.sort_unstable();
    runs.get(made / 2).copied()
}

/// The TSC frequency when `tsc_ticks` passed during `pit_ticks` of the
/// PIT's 1.193182 MHz clock.
pub fn hz_from(tsc_ticks: u64, pit_ticks: u32) -> u64 {
    (tsc_ticks as u128 * PIT_HZ as u128 / pit_ticks.max(1) as u128) as u64
}

/// The PIT input clock, Hz.
pub const PIT_HZ: u32 = 1_193_182;

/// Waits `ms` milliseconds of PIT time (independent of the TSC) and
/// returns the TSC ticks that passed meanwhile, or `None` if the PIT does
/// not count. For checking the calibration: `ticks_to_ns` of the result
/// should be about `ms` million.
#[cfg(target_os = "none")]
pub fn pit_wait_ms(ms: u32) -> Option<u64> {
    let mut total = 0u128;
    let mut left = ms;
    while left > 0 {
        let step = left.min(40);
        let want = PIT_HZ * step / 1000;
        let (tsc_ticks, mut pit_ticks) = pit::measure(want)?;
        // A descheduled vCPU can miss a wrap of the 16-bit count: add the
        // periods the calibrated frequency says went by.
        let expected = tsc_ticks as u128 * PIT_HZ as u128 / frequency().max(1) as u128;
        while frequency() != 0 && expected > pit_ticks as u128 + 0x8000 {
            pit_ticks += 0x10000;
        }
        // Scale to exactly `want` PIT ticks (the last sample overshoots).
        total += tsc_ticks as u128 * want as u128 / pit_ticks.max(1) as u128;
        left -= step;
    }
    Some(total as u64)
}

/// PIT channel 2, gated by port 0x61 (ports reserved for arch in `io`).
///
/// A measurement pairs the TSC with the PIT's own count rather than
/// timing a countdown: each `Sample` latches the count between two TSC
/// reads, and the tightest of a few samples at each end of the window is
/// kept. If the vCPU is descheduled in the middle, both clocks keep
/// running and the result is unaffected; only the few microseconds of a
/// sample's own spread count as error.
#[cfg(target_os = "none")]
mod pit {
    use x86_64::instructions::port::Port;

    /// Serialises users of channel 2 (one counter for the whole machine).
    static LOCK: spin::Mutex<()> = spin::Mutex::new(());

    /// A PIT count latched between TSC reads `before` and `after`.
    #[derive(Clone, Copy)]
    struct Sample {
        before: u64,
        after: u64,
        count: u16,
    }

    impl Sample {
        fn spread(&self) -> u64 {
            self.after - self.before
        }
        fn mid(&self) -> u64 {
            self.before + self.spread() / 2
        }
    }

    fn sample() -> Sample {
        let mut command = Port::<u8>::new(0x43);
        let mut channel2 = Port::<u8>::new(0x42);
        let before = super::read();
        // SAFETY: ports 0x42/0x43 are reserved for arch by `io::RESERVED`
        // and the caller holds LOCK; the latch command (channel 2, counter
        // latch) and the two data reads only read the count.
        let count = unsafe {
            command.write(0b1000_0000);
            let lo = channel2.read();
            let hi = channel2.read();
            u16::from_le_bytes([lo, hi])
        };
        Sample {
            before,
            after: super::read(),
            count,
        }
    }

    /// The tightest of eight consecutive samples.
    fn best_sample() -> Sample {
        (0..8)
            .map(|_| sample())
            .min_by_key(Sample::spread)
            .expect("eight samples")
    }

    /// Lets channel 2 count down from 0xffff (mode 0) and returns the TSC
    /// ticks and PIT ticks between two samples at least `pit_ticks` (at most
    /// 50 000, i.e. ~42 ms) apart; `None` if the PIT does not count.
    pub fn measure(pit_ticks: u32) -> Option<(u64, u32)> {
        let pit_ticks = pit_ticks.clamp(1, 50_000);
        let _guard = LOCK.lock();
        let mut gate = Port::<u8>::new(0x61);
        let mut command = Port::<u8>::new(0x43);
        let mut channel2 = Port::<u8>::new(0x42);
        // SAFETY: ports 0x42, 0x43 and 0x61 are reserved for arch by
        // `io::RESERVED` and LOCK makes this the only user of channel 2;
        // port 0x61 is restored below, leaving the speaker as it was.
        let saved = unsafe {
            let saved = gate.read();
            gate.write((saved & !0x02) | 0x01); // gate 2 on, speaker data off
            command.write(0b1011_0000); // channel 2, lobyte/hibyte, mode 0, binary
            channel2.write(0xff);
            channel2.write(0xff);
            saved
        };
        let result = (|| {
            // Wait until the count is loaded and running.
            let mut tries = 0u32;
            while sample().count > 0xfff0 {
                tries += 1;
                if tries > 1_000_000 {
                    return None;
                }
            }
            let start = best_sample();
            let mut tries = 0u32;
            loop {
                let s = sample();
                if start.count.wrapping_sub(s.count) as u32 >= pit_ticks && s.count < start.count {
                    break;
                }
                tries += 1;
                if tries > 50_000_000 {
                    return None;
                }
            }
            let end = best_sample();
            (end.count < start.count)
                .then(|| (end.mid() - start.mid(), (start.count - end.count) as u32))
        })();
        // SAFETY: as above: restores port 0x61's saved value.
        unsafe { gate.write(saved) };
        result
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
        // Multiply-shift conversion: exact at whole seconds, no overflow or
        // drift beyond a microsecond over an hour of uptime.
        assert!(ticks_to_ns(2_500_000_000).abs_diff(1_000_000_000) <= 1);
        let hour = ticks_to_ns(2_500_000_000 * 3600);
        assert!(hour.abs_diff(3_600_000_000_000) < 1_000, "{hour}");
    }
}
