//! Clocks and sleeps: `clock_gettime`, `clock_getres`, `gettimeofday`,
//! `nanosleep`, `clock_nanosleep`.
//!
//! | clock | id | what it reads |
//! |---|---:|---|
//! | `CLOCK_REALTIME` (and `_COARSE`, 5) | 0 | the CMOS RTC's date at boot (`drivers::rtc`, read once, at the first use) + time since boot; [`REALTIME_AT_BOOT`] if the RTC cannot be read |
//! | `CLOCK_MONOTONIC` (and `_COARSE`, 6), `CLOCK_MONOTONIC_RAW` (4), `CLOCK_BOOTTIME` (7) | 1 | nanoseconds since boot (the calibrated TSC; nothing is suspended, so all are one clock) |
//! | `CLOCK_PROCESS_CPUTIME_ID`, `CLOCK_THREAD_CPUTIME_ID` | 2, 3 | the user-mode time of the process (all its threads, the ended ones included) or of the calling thread, measured by the thread's trap loop around each entry to ring 3; kernel time is not counted (an approximation) |
//!
//! Any other id (the alarm clocks, `CLOCK_TAI`, per-process CPU clocks
//! with negative ids) is `EINVAL`. Every clock's resolution is 1 ns.
//!
//! Sleeps await `task::sleep_until` on the monotonic clock: the thread's
//! future simply is not polled until the deadline (no CPU is held).
//! `TIMER_ABSTIME` deadlines of `CLOCK_REALTIME` are converted with the
//! same fixed offset. A signal the mask lets through interrupts a sleep
//! (`proc::signal::interruptible`): `EINTR`, and for a relative sleep with
//! a non-NULL `rem` the time left is written there (`EFAULT` if it
//! cannot be).
//!
//! The parsing and clock rules are pure and host-tested; the system
//! calls themselves are on the machine.

use abi::Errno;

/// Clock ids (Linux).
pub mod clock {
    pub const REALTIME: u64 = 0;
    pub const MONOTONIC: u64 = 1;
    pub const PROCESS_CPUTIME_ID: u64 = 2;
    pub const THREAD_CPUTIME_ID: u64 = 3;
    pub const MONOTONIC_RAW: u64 = 4;
    pub const REALTIME_COARSE: u64 = 5;
    pub const MONOTONIC_COARSE: u64 = 6;
    pub const BOOTTIME: u64 = 7;
    pub const REALTIME_ALARM: u64 = 8;
    pub const BOOTTIME_ALARM: u64 = 9;
    pub const TAI: u64 = 11;
}

/// `clock_nanosleep`'s flag for an absolute deadline.
pub const TIMER_ABSTIME: u64 = 1;

/// The wall-clock time at boot, in seconds since 1970, used when the RTC
/// cannot be read (2026-01-01 00:00:00 UTC).
pub const REALTIME_AT_BOOT: u64 = 1_767_225_600;

const NS_PER_SEC: u64 = 1_000_000_000;

/// What a clock id reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// The wall clock: boot date + monotonic.
    Realtime,
    /// Time since boot.
    Monotonic,
    /// The process's CPU time.
    CpuTime,
    /// The calling thread's CPU time.
    ThreadCpuTime,
}

impl Clock {
    /// The clock `id` names; `EINVAL` for one Tine does not have. The
    /// alarm clocks read as their plain twins (Tine never suspends), and
    /// `CLOCK_TAI` as `CLOCK_REALTIME`: Linux's TAI offset is 0 until
    /// `adjtimex` sets it, which Tine has not (the kselftest
    /// `vdso_test_abi` failed on `CLOCK_TAI`).
    pub fn from_id(id: u64) -> Result<Self, Errno> {
        use clock::*;
        match id {
            REALTIME | REALTIME_COARSE | REALTIME_ALARM | TAI => Ok(Self::Realtime),
            MONOTONIC | MONOTONIC_RAW | MONOTONIC_COARSE | BOOTTIME | BOOTTIME_ALARM => {
                Ok(Self::Monotonic)
            }
            PROCESS_CPUTIME_ID => Ok(Self::CpuTime),
            THREAD_CPUTIME_ID => Ok(Self::ThreadCpuTime),
            _ => Err(Errno::EINVAL),
        }
    }

    /// The clock's reading given the time since boot, the CPU time and
    /// the wall-clock time of the boot (ns since 1970).
    pub fn read(self, since_boot_ns: u64, cpu_ns: u64, boot_realtime_ns: u64) -> u64 {
        match self {
            Self::Realtime => boot_realtime_ns + since_boot_ns,
            Self::Monotonic => since_boot_ns,
            Self::CpuTime | Self::ThreadCpuTime => cpu_ns,
        }
    }
}

/// `struct timespec { tv_sec: i64, tv_nsec: i64 }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timespec {
    pub sec: i64,
    pub nsec: i64,
}

impl Timespec {
    /// Nanoseconds to a timespec.
    pub fn from_ns(ns: u64) -> Self {
        Self {
            sec: (ns / NS_PER_SEC) as i64,
            nsec: (ns % NS_PER_SEC) as i64,
        }
    }

    /// The 16-byte user layout.
    pub fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.sec.to_le_bytes());
        out[8..].copy_from_slice(&self.nsec.to_le_bytes());
        out
    }

    /// From the 16-byte user layout.
    pub fn from_bytes(raw: [u8; 16]) -> Self {
        let word = |i: usize| i64::from_le_bytes(raw[i..i + 8].try_into().expect("8 bytes"));
        Self {
            sec: word(0),
            nsec: word(8),
        }
    }

    /// A sleep's length or deadline in nanoseconds: `EINVAL` for a
    /// negative second count or nanoseconds outside `0..1e9` (Linux's
    /// `timespec64_valid`); saturates far in the future.
    pub fn to_ns(self) -> Result<u64, Errno> {
        if self.sec < 0 || !(0..NS_PER_SEC as i64).contains(&self.nsec) {
            return Err(Errno::EINVAL);
        }
        Ok((self.sec as u64)
            .saturating_mul(NS_PER_SEC)
            .saturating_add(self.nsec as u64))
    }
}

/// The monotonic deadline of a `clock_nanosleep` on `clock` with
/// `flags` for `ts`, at monotonic time `now`, the boot having happened at
/// wall-clock time `boot_realtime_ns`. `EINVAL` for a CPU-time clock
/// (Tine cannot sleep on one) or a bad timespec.
pub fn sleep_deadline(
    clock: Clock,
    flags: u64,
    ts: Timespec,
    now: u64,
    boot_realtime_ns: u64,
) -> Result<u64, Errno> {
    let ns = ts.to_ns()?;
    if matches!(clock, Clock::CpuTime | Clock::ThreadCpuTime) {
        return Err(Errno::EINVAL);
    }
    if flags & TIMER_ABSTIME == 0 {
        return Ok(now.saturating_add(ns));
    }
    Ok(match clock {
        Clock::Realtime => ns.saturating_sub(boot_realtime_ns),
        _ => ns,
    })
}

#[cfg(target_os = "none")]
pub use imp::*;

#[cfg(target_os = "none")]
mod imp {
    use super::*;
    use crate::proc::process::Process;
    use crate::vm::space::AddressSpace;
    use abi::SysResult;

    fn now() -> u64 {
        crate::task::now_ns()
    }

    /// The wall-clock time of the boot in ns since 1970: the RTC's reading
    /// minus the time since boot, taken once (at boot, for the vDSO).
    pub fn boot_realtime_ns() -> u64 {
        static BOOT: spin::Once<u64> = spin::Once::new();
        *BOOT.call_once(|| {
            let secs = drivers::rtc::read_unix_seconds().unwrap_or_else(|| {
                log::warn!("RTC unreadable: the wall clock starts at {REALTIME_AT_BOOT}");
                REALTIME_AT_BOOT
            });
            (secs * NS_PER_SEC).saturating_sub(now())
        })
    }

    /// `CLOCK_REALTIME` now, in ns since 1970 (file times).
    pub fn realtime_ns() -> u64 {
        Clock::Realtime.read(now(), 0, boot_realtime_ns())
    }

    fn read_clock(process: &Process, clock: Clock) -> u64 {
        let cpu_ns = match clock {
            Clock::ThreadCpuTime => {
                crate::proc::thread::current().map_or_else(|| process.user_ns(), |t| t.user_ns())
            }
            Clock::CpuTime => process.user_ns(),
            Clock::Realtime | Clock::Monotonic => 0,
        };
        clock.read(now(), cpu_ns, boot_realtime_ns())
    }

    /// `clock_gettime(clock, tp)`.
    pub fn clock_gettime(process: &Process, space: &AddressSpace, id: u64, tp: u64) -> SysResult {
        let clock = Clock::from_id(id)?;
        let ts = Timespec::from_ns(read_clock(process, clock));
        space.copy_to_user(tp, &ts.to_bytes())?;
        Ok(0)
    }

    /// `clock_getres(clock, res)`: 1 ns for every clock; `res` may be NULL.
    pub fn clock_getres(space: &AddressSpace, id: u64, res: u64) -> SysResult {
        Clock::from_id(id)?;
        if res != 0 {
            space.copy_to_user(res, &Timespec { sec: 0, nsec: 1 }.to_bytes())?;
        }
        Ok(0)
    }

    /// `gettimeofday(tv, tz)`: either may be NULL; the time zone is UTC
    /// (zeros).
    pub fn gettimeofday(space: &AddressSpace, tv: u64, tz: u64) -> SysResult {
        let ns = Clock::Realtime.read(now(), 0, boot_realtime_ns());
        if tv != 0 {
            let mut out = [0u8; 16];
            out[..8].copy_from_slice(&((ns / NS_PER_SEC) as i64).to_le_bytes());
            out[8..].copy_from_slice(&(((ns % NS_PER_SEC) / 1000) as i64).to_le_bytes());
            space.copy_to_user(tv, &out)?;
        }
        if tz != 0 {
            space.copy_to_user(tz, &[0u8; 8])?;
        }
        Ok(0)
    }

    /// The monotonic deadline of a wait on clock `id` (`TIMER_ABSTIME` in
    /// `flags`: `ts` is a time on that clock, else a length from now), as
    /// [`sleep_deadline`] decides (the futex timeouts use it).
    pub fn deadline_for(id: u64, flags: u64, ts: Timespec) -> Result<u64, Errno> {
        sleep_deadline(Clock::from_id(id)?, flags, ts, now(), boot_realtime_ns())
    }

    fn read_timespec(space: &AddressSpace, at: u64) -> Result<Timespec, Errno> {
        let mut raw = [0u8; 16];
        space.copy_from_user(at, &mut raw)?;
        Ok(Timespec::from_bytes(raw))
    }

    /// `nanosleep(req, rem)`: a relative sleep on the monotonic clock.
    pub async fn nanosleep(
        process: &Process,
        space: &AddressSpace,
        req: u64,
        rem: u64,
    ) -> SysResult {
        clock_nanosleep(process, space, clock::MONOTONIC, 0, req, rem).await
    }

    /// `clock_nanosleep(clock, flags, req, rem)` (module docs).
    pub async fn clock_nanosleep(
        process: &Process,
        space: &AddressSpace,
        id: u64,
        flags: u64,
        req: u64,
        rem: u64,
    ) -> SysResult {
        let clock = Clock::from_id(id)?;
        let ts = read_timespec(space, req)?;
        let deadline = sleep_deadline(clock, flags, ts, now(), boot_realtime_ns())?;
        let slept =
            crate::proc::signal::interruptible(process, crate::task::sleep_until(deadline)).await;
        if let Err(e) = slept {
            if flags & TIMER_ABSTIME == 0 && rem != 0 {
                let left = Timespec::from_ns(deadline.saturating_sub(now()));
                space.copy_to_user(rem, &left.to_bytes())?;
            }
            return Err(e);
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_ids_are_linuxs() {
        assert_eq!(Clock::from_id(0), Ok(Clock::Realtime));
        for id in [1, 4, 6, 7, 9] {
            assert_eq!(Clock::from_id(id), Ok(Clock::Monotonic), "{id}");
        }
        for id in [5, 8, 11] {
            assert_eq!(Clock::from_id(id), Ok(Clock::Realtime), "{id}");
        }
        assert_eq!(Clock::from_id(2), Ok(Clock::CpuTime));
        assert_eq!(Clock::from_id(3), Ok(Clock::ThreadCpuTime));
        for id in [10, 12, u64::MAX, (-6i64) as u64] {
            assert_eq!(Clock::from_id(id), Err(Errno::EINVAL), "{id}");
        }
        assert_eq!(Clock::Realtime.read(5, 9, 1000), 1005);
        assert_eq!(Clock::Monotonic.read(5, 9, 1000), 5);
        assert_eq!(Clock::CpuTime.read(5, 9, 1000), 9);
        assert_eq!(Clock::ThreadCpuTime.read(5, 7, 1000), 7);
    }

    #[test]
    fn timespecs_convert_and_validate() {
        let ts = Timespec::from_ns(3 * NS_PER_SEC + 7);
        assert_eq!(ts, Timespec { sec: 3, nsec: 7 });
        assert_eq!(Timespec::from_bytes(ts.to_bytes()), ts);
        assert_eq!(ts.to_ns(), Ok(3 * NS_PER_SEC + 7));
        assert_eq!(Timespec { sec: -1, nsec: 0 }.to_ns(), Err(Errno::EINVAL));
        assert_eq!(Timespec { sec: 0, nsec: -1 }.to_ns(), Err(Errno::EINVAL));
        let too_many = NS_PER_SEC as i64;
        assert_eq!(
            Timespec {
                sec: 0,
                nsec: too_many
            }
            .to_ns(),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            Timespec {
                sec: i64::MAX,
                nsec: 0
            }
            .to_ns(),
            Ok(u64::MAX)
        );
    }

    #[test]
    fn sleep_deadlines() {
        let ts = Timespec { sec: 1, nsec: 0 };
        let (now, boot) = (500, REALTIME_AT_BOOT * NS_PER_SEC);
        let deadline = |clock, flags, ts| sleep_deadline(clock, flags, ts, now, boot);
        assert_eq!(deadline(Clock::Monotonic, 0, ts), Ok(NS_PER_SEC + 500));
        assert_eq!(
            deadline(Clock::Monotonic, TIMER_ABSTIME, ts),
            Ok(NS_PER_SEC)
        );
        let wall = Timespec::from_ns(boot + 42);
        assert_eq!(deadline(Clock::Realtime, TIMER_ABSTIME, wall), Ok(42));
        // A wall-clock deadline before boot is already past.
        assert_eq!(deadline(Clock::Realtime, TIMER_ABSTIME, ts), Ok(0));
        assert_eq!(deadline(Clock::CpuTime, 0, ts), Err(Errno::EINVAL));
        assert_eq!(deadline(Clock::ThreadCpuTime, 0, ts), Err(Errno::EINVAL));
        let bad = Timespec { sec: 0, nsec: -5 };
        assert_eq!(deadline(Clock::Monotonic, 0, bad), Err(Errno::EINVAL));
    }
}
