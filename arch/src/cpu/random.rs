//! The kernel's random source: [`u64()`] and [`fill`].
//!
//! Each draw asks the CPU first: `RDRAND` (a DRBG reseeded by the on-chip
//! entropy source) when CPUID advertises it, then `RDSEED` (the entropy
//! source itself). Both may report "not ready" (carry flag clear); `RDRAND`
//! is retried [`RDRAND_RETRIES`] times as Intel's DRNG guide recommends,
//! `RDSEED` [`RDSEED_RETRIES`] times with a `pause` between tries. A CPU
//! with neither instruction, or one that keeps failing, falls back to
//! [`SplitMix64`] seeded once from the TSC: well distributed and lock-free,
//! but predictable to anyone who can guess the boot-time TSC, so it is good
//! for PID randomisation and hash seeds, not for keys.
//!
//! Users: the PID allocator's `kern.randompid` offset (the kernel injects
//! [`u64()`] into its `PidMap`), and through [`fill`] the 16 `AT_RANDOM`
//! bytes given to every new program, `getrandom` and `/dev/random`.
//!
//! All of this also runs on the host (RDRAND/RDSEED/RDTSC are unprivileged),
//! so `cargo test -p arch` exercises the real instructions where the host
//! CPU has them, and the fallback generator everywhere.

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

use super::{Features, tsc};

/// Tries of `RDRAND` before giving up on it for one draw (Intel DRNG
/// software implementation guide, §5.2.1: ten tries make a failure caused
/// by anything but a broken unit vanishingly unlikely).
const RDRAND_RETRIES: u32 = 10;

/// Tries of `RDSEED`, which runs dry more easily than `RDRAND` under load.
const RDSEED_RETRIES: u32 = 10;

/// A 64-bit random number.
pub fn u64() -> u64 {
    let features = Features::get();
    if features.rdrand {
        for _ in 0..RDRAND_RETRIES {
            // SAFETY: `features.rdrand` says the CPU implements RDRAND
            // (CPUID.01H:ECX bit 30); every CPU is assumed to have the boot
            // CPU's features (see `Features::get`).
            if let Some(value) = unsafe { rdrand() } {
                return value;
            }
        }
    }
    if features.rdseed {
        for _ in 0..RDSEED_RETRIES {
            // SAFETY: `features.rdseed` says the CPU implements RDSEED
            // (CPUID.(EAX=07H,ECX=0):EBX bit 18); all CPUs are alike as above.
            if let Some(value) = unsafe { rdseed() } {
                return value;
            }
            core::hint::spin_loop();
        }
    }
    fallback().next_u64()
}

/// Fills `buf` with random bytes.
pub fn fill(buf: &mut [u8]) {
    for chunk in buf.chunks_mut(8) {
        let bytes = u64().to_ne_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
}

/// One `RDRAND`; `None` when the DRNG had no value ready (CF = 0).
///
/// # Safety
/// The CPU must implement RDRAND (CPUID.01H:ECX bit 30); otherwise the
/// instruction raises #UD.
unsafe fn rdrand() -> Option<u64> {
    let value: u64;
    let ready: u8;
    // SAFETY: the caller guarantees RDRAND exists. It writes only the named
    // output register and the flags (asm! assumes flags are clobbered), and
    // touches neither memory nor the stack.
    unsafe {
        asm!(
            "rdrand {value}",
            "setc {ready}",
            value = out(reg) value,
            ready = out(reg_byte) ready,
            options(nomem, nostack),
        );
    }
    (ready != 0).then_some(value)
}

/// One `RDSEED`; `None` when the entropy source had no value ready (CF = 0).
///
/// # Safety
/// The CPU must implement RDSEED (CPUID.(EAX=07H,ECX=0):EBX bit 18);
/// otherwise the instruction raises #UD.
unsafe fn rdseed() -> Option<u64> {
    let value: u64;
    let ready: u8;
    // SAFETY: the caller guarantees RDSEED exists; like RDRAND it writes
    // only the named output register and the flags, no memory, no stack.
    unsafe {
        asm!(
            "rdseed {value}",
            "setc {ready}",
            value = out(reg) value,
            ready = out(reg_byte) ready,
            options(nomem, nostack),
        );
    }
    (ready != 0).then_some(value)
}

/// The fallback generator, seeded from the TSC on first use.
fn fallback() -> &'static SplitMix64 {
    static FALLBACK: spin::Once<SplitMix64> = spin::Once::new();
    FALLBACK.call_once(|| SplitMix64::new(tsc::read()))
}

/// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number
/// generators", OOPSLA 2014) over an atomic counter.
///
/// The state is a Weyl sequence: each draw claims the next counter value
/// with one `fetch_add` and mixes it. Concurrent callers on different CPUs
/// therefore get distinct counter values (distinct outputs, since the mix is
/// a bijection) without a lock, which is what a generator shared by every
/// CPU needs.
struct SplitMix64 {
    state: AtomicU64,
}

impl SplitMix64 {
    /// The Weyl increment: 2^64 / φ, odd, so the counter has period 2^64.
    const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

    const fn new(seed: u64) -> Self {
        Self {
            state: AtomicU64::new(seed),
        }
    }

    fn next_u64(&self) -> u64 {
        // Relaxed: the counter guards no other data; the RMW alone makes
        // every caller see a different value.
        let mut z = self
            .state
            .fetch_add(Self::GAMMA, Ordering::Relaxed)
            .wrapping_add(Self::GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Arc;

    /// The reference outputs for seed 0 published with Vigna's splitmix64.c.
    #[test]
    fn splitmix64_matches_reference_sequence() {
        let generator = SplitMix64::new(0);
        assert_eq!(generator.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(generator.next_u64(), 0x6e78_9e6a_a1b9_65f4);
        assert_eq!(generator.next_u64(), 0x06c4_5d18_8009_454f);
    }

    #[test]
    fn splitmix64_is_unique_across_threads() {
        const THREADS: usize = 4;
        const DRAWS: usize = 20_000;
        let generator = Arc::new(SplitMix64::new(tsc::read()));
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let generator = Arc::clone(&generator);
                std::thread::spawn(move || {
                    (0..DRAWS).map(|_| generator.next_u64()).collect::<Vec<_>>()
                })
            })
            .collect();
        let mut seen = HashSet::new();
        for handle in handles {
            for value in handle.join().unwrap() {
                assert!(seen.insert(value), "SplitMix64 repeated {value:#x}");
            }
        }
        assert_eq!(seen.len(), THREADS * DRAWS);
    }

    #[test]
    fn splitmix64_bits_are_balanced() {
        // Every output bit should be set in about half of 4096 draws; a
        // stuck bit or a broken mix shows as a count far from 2048 (the
        // standard deviation is 32, the bound is > 8 sigma).
        let generator = SplitMix64::new(tsc::read());
        let mut ones = [0u32; 64];
        for _ in 0..4096 {
            let value = generator.next_u64();
            for (bit, count) in ones.iter_mut().enumerate() {
                *count += ((value >> bit) & 1) as u32;
            }
        }
        for (bit, count) in ones.iter().enumerate() {
            assert!(
                (1792..=2304).contains(count),
                "bit {bit} set {count}/4096 times"
            );
        }
    }

    #[test]
    fn fallback_is_seeded_once_and_keeps_going() {
        assert!(core::ptr::eq(fallback(), fallback()));
        let a = fallback().next_u64();
        let b = fallback().next_u64();
        assert_ne!(a, b);
    }

    #[test]
    fn u64_values_differ() {
        let draws: HashSet<u64> = (0..1000).map(|_| u64()).collect();
        assert_eq!(draws.len(), 1000);
    }

    #[test]
    fn hardware_instructions_work_where_cpuid_has_them() {
        let features = Features::get();
        if features.rdrand {
            // SAFETY: CPUID says this CPU implements RDRAND.
            let got = (0..RDRAND_RETRIES).find_map(|_| unsafe { rdrand() });
            assert!(got.is_some(), "RDRAND never ready");
        }
        if features.rdseed {
            // SAFETY: CPUID says this CPU implements RDSEED.
            let got = (0..1000).find_map(|_| unsafe { rdseed() });
            assert!(got.is_some(), "RDSEED never ready");
        }
    }

    #[test]
    fn fill_covers_every_length() {
        for len in [0, 1, 7, 8, 9, 16, 33] {
            // 33 zero bytes survive a fill with chance 2^-264; seeing any
            // all-zero buffer longer than a few bytes means a missed chunk.
            let mut buf = [0u8; 33];
            fill(&mut buf[..len]);
            assert!(buf[len..].iter().all(|&b| b == 0), "fill wrote past {len}");
            if len >= 8 {
                assert!(
                    buf[len - 8..len].iter().any(|&b| b != 0),
                    "tail of {len} not filled"
                );
            }
        }
    }
}
