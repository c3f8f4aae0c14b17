//! The `sysctl` knobs of the process subsystem, by name.
//!
//! One table ([`KNOBS`]) names every knob, says whether it can be written
//! and how it is read and set. The Tine `sysctl` system call, the kernel
//! shell's `sysctl` and the user shell's go through [`get`], [`set`] and
//! [`list`], so a knob exists in one place.
//!
//! | knob | access | meaning |
//! |---|---|---|
//! | `kern.pid_max` | read-only | PIDs are below this (boot command line `pid_max=`) |
//! | `kern.lastpid` | read-only | the last PID handed out |
//! | `kern.randompid` | read-write | FreeBSD's PID randomisation (0 off, else the range) |
//! | `kern.maxproc` | read-write | most processes (running and zombies) |
//! | `kern.nprocs` | read-only | processes now |
//! | `kern.forkfsleep` | read-write | ms a fork that hits a limit sleeps before `EAGAIN` (NetBSD; 0..=20000) |
//! | `kern.sched_child_runs_first` | read-write | 1 (the default): a new process pinned to its parent's CPU runs before the parent returns from fork; 0: the parent goes on (Linux's knob of the name, off there by default) |
//! | `vm.stats.vm.v_forks` ... | read-only | fork counters ([`super::counters`]) |
//! | `debug.heap_allocs` | read-only | kernel heap allocations since boot (the difference around an operation counts its allocations, `/bin/allocs`) |
//! | `debug.check` | read-only | runs the kernel's invariant check ([`super::check`]) and reads the number of problems found, 0 if all hold; not in the full list (it is slow with many processes) |
//!
//! Values are integers; the system call carries them as decimal text.

use abi::Errno;

/// The most `kern.forkfsleep` may be, in milliseconds (NetBSD: `MAXSLP`
/// seconds, 20).
pub const FORKFSLEEP_MAX_MS: i64 = 20_000;

/// Splits `name=value` (the shell's and the system call's text form).
/// `Ok((name, None))` for a bare name; `EINVAL` for an empty name or a
/// value that is not a decimal integer.
pub fn parse_assignment(text: &str) -> Result<(&str, Option<i64>), Errno> {
    let (name, value) = match text.split_once('=') {
        Some((n, v)) => (n.trim(), Some(parse_value(v)?)),
        None => (text.trim(), None),
    };
    if name.is_empty() {
        return Err(Errno::EINVAL);
    }
    Ok((name, value))
}

/// A decimal integer, surrounding blanks and a final newline allowed.
pub fn parse_value(text: &str) -> Result<i64, Errno> {
    text.trim().parse::<i64>().map_err(|_| Errno::EINVAL)
}

#[cfg(target_os = "none")]
pub use imp::*;

#[cfg(target_os = "none")]
mod imp {
    use super::FORKFSLEEP_MAX_MS;
    use crate::proc::counters::{self, Counter};
    use crate::proc::{PidKnob, fork, pids, process};
    use abi::Errno;

    /// How a knob is read.
    #[derive(Clone, Copy)]
    enum Source {
        Pid(PidKnob),
        MaxProc,
        NProcs,
        ForkFSleep,
        ChildRunsFirst,
        Counter(Counter),
        Check,
        HeapAllocs,
    }

    /// One knob.
    #[derive(Clone, Copy)]
    pub struct Knob {
        pub name: &'static str,
        pub writable: bool,
        source: Source,
    }

    const fn knob(name: &'static str, writable: bool, source: Source) -> Knob {
        Knob {
            name,
            writable,
            source,
        }
    }

    /// Every knob (module docs).
    pub static KNOBS: [Knob; 19] = [
        knob("kern.pid_max", false, Source::Pid(PidKnob::PidMax)),
        knob("kern.lastpid", false, Source::Pid(PidKnob::LastPid)),
        knob("kern.randompid", true, Source::Pid(PidKnob::RandomPid)),
        knob("kern.maxproc", true, Source::MaxProc),
        knob("kern.nprocs", false, Source::NProcs),
        knob("kern.forkfsleep", true, Source::ForkFSleep),
        knob("kern.sched_child_runs_first", true, Source::ChildRunsFirst),
        knob(Counter::ALL[0].0, false, Source::Counter(Counter::ALL[0].1)),
        knob(Counter::ALL[1].0, false, Source::Counter(Counter::ALL[1].1)),
        knob(Counter::ALL[2].0, false, Source::Counter(Counter::ALL[2].1)),
        knob(Counter::ALL[3].0, false, Source::Counter(Counter::ALL[3].1)),
        knob(Counter::ALL[4].0, false, Source::Counter(Counter::ALL[4].1)),
        knob(Counter::ALL[5].0, false, Source::Counter(Counter::ALL[5].1)),
        knob(Counter::ALL[6].0, false, Source::Counter(Counter::ALL[6].1)),
        knob(Counter::ALL[7].0, false, Source::Counter(Counter::ALL[7].1)),
        knob(Counter::ALL[8].0, false, Source::Counter(Counter::ALL[8].1)),
        knob(Counter::ALL[9].0, false, Source::Counter(Counter::ALL[9].1)),
        knob("debug.heap_allocs", false, Source::HeapAllocs),
        knob("debug.check", false, Source::Check),
    ];

    fn find(name: &str) -> Result<&'static Knob, Errno> {
        KNOBS.iter().find(|k| k.name == name).ok_or(Errno::ENOENT)
    }

    fn read(knob: &Knob) -> i64 {
        match knob.source {
            Source::Pid(p) => p.get(pids()),
            Source::MaxProc => fork::maxproc() as i64,
            Source::NProcs => process::nprocs() as i64,
            Source::ForkFSleep => fork::forkfsleep_ms() as i64,
            Source::ChildRunsFirst => i64::from(fork::child_runs_first()),
            Source::Counter(c) => counters::read(c) as i64,
            Source::Check => crate::proc::check::run() as i64,
            Source::HeapAllocs => arch::mm::heap::stats().total_allocations as i64,
        }
    }

    /// The value of knob `name`; `ENOENT` if there is none.
    pub fn get(name: &str) -> Result<i64, Errno> {
        find(name).map(read)
    }

    /// Sets knob `name` to `value` and returns the value now in effect
    /// (some knobs clamp). `ENOENT` unknown, `EPERM` read-only (FreeBSD's
    /// answer for a read-only sysctl), `EINVAL` out of range.
    pub fn set(name: &str, value: i64) -> Result<i64, Errno> {
        let knob = find(name)?;
        if !knob.writable {
            return Err(Errno::EPERM);
        }
        match knob.source {
            Source::Pid(p) => {
                let v = i32::try_from(value).map_err(|_| Errno::EINVAL)?;
                p.set(pids(), v).ok_or(Errno::EPERM)
            }
            Source::MaxProc => {
                let v = usize::try_from(value).map_err(|_| Errno::EINVAL)?;
                if v == 0 {
                    return Err(Errno::EINVAL);
                }
                fork::set_maxproc(v);
                Ok(value)
            }
            Source::ForkFSleep => {
                if !(0..=FORKFSLEEP_MAX_MS).contains(&value) {
                    return Err(Errno::EINVAL);
                }
                fork::set_forkfsleep_ms(value as u64);
                Ok(value)
            }
            Source::ChildRunsFirst => {
                if !(0..=1).contains(&value) {
                    return Err(Errno::EINVAL);
                }
                fork::set_child_runs_first(value == 1);
                Ok(value)
            }
            Source::NProcs | Source::Counter(_) | Source::Check | Source::HeapAllocs => {
                Err(Errno::EPERM)
            }
        }
    }

    /// Every knob with its value, in table order, except `debug.check`
    /// (a check, not a value to list; it walks every process).
    pub fn list() -> impl Iterator<Item = (&'static str, i64)> {
        KNOBS
            .iter()
            .filter(|k| !matches!(k.source, Source::Check))
            .map(|k| (k.name, read(k)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_parse_like_the_sysctl_command() {
        assert_eq!(parse_assignment("kern.maxproc"), Ok(("kern.maxproc", None)));
        assert_eq!(
            parse_assignment("kern.maxproc=50"),
            Ok(("kern.maxproc", Some(50)))
        );
        assert_eq!(
            parse_assignment("kern.forkfsleep= 20\n"),
            Ok(("kern.forkfsleep", Some(20)))
        );
        assert_eq!(parse_assignment("kern.maxproc=x"), Err(Errno::EINVAL));
        assert_eq!(parse_assignment("=5"), Err(Errno::EINVAL));
        assert_eq!(parse_value("-3"), Ok(-3));
        assert_eq!(parse_value(""), Err(Errno::EINVAL));
    }
}
