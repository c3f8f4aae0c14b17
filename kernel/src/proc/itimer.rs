//! The real-time interval timer of a process (`alarm`,
//! `setitimer(ITIMER_REAL)`, `getitimer`): at expiry the process gets
//! `SIGALRM` (`si_code` `SI_KERNEL`, as Linux's `it_real_fn` sends it) and
//! a timer with an interval is armed again for the next multiple of it
//! after now (Linux's `hrtimer_forward`), so a late expiry does not fire
//! a burst. Fork gives the child no timer; `execve` keeps it (POSIX).
//!
//! One kernel task per armed timer sleeps until the deadline or until the
//! timer is changed ([`RealTimer::set`] notifies it), then looks again; it
//! ends once the timer is disarmed, and dropping the process's
//! [`RealTimer`] (the process is freed) disarms it. It holds the process
//! weakly, so an armed timer never keeps a reaped process alive.
//!
//! The conversions (`struct timeval` to nanoseconds and back, `alarm`'s
//! rounding) are pure and host-tested.

/// Nanoseconds per microsecond and per second.
const NS_PER_US: u64 = 1_000;
const NS_PER_S: u64 = 1_000_000_000;

/// A `struct timeval` as nanoseconds: `None` (`EINVAL`) for a negative
/// second count or microseconds outside 0..1_000_000, as Linux's
/// `setitimer` checks (`timeval_valid`).
pub fn timeval_ns(sec: i64, usec: i64) -> Option<u64> {
    if sec < 0 || !(0..1_000_000).contains(&usec) {
        return None;
    }
    Some(
        (sec as u64)
            .saturating_mul(NS_PER_S)
            .saturating_add(usec as u64 * NS_PER_US),
    )
}

/// Nanoseconds as a `struct timeval`, rounded up to the next microsecond
/// (a timer with 1 ns left still reads as running).
pub fn ns_timeval(ns: u64) -> (i64, i64) {
    let us = ns.div_ceil(NS_PER_US);
    ((us / 1_000_000) as i64, (us % 1_000_000) as i64)
}

/// `alarm`'s result from the time the old timer had left: whole seconds,
/// rounded to the nearest, but at least 1 if it was running (Linux's
/// `alarm_setitimer`: a pending alarm never reads as none).
pub fn alarm_seconds(left_ns: u64) -> u64 {
    if left_ns == 0 {
        return 0;
    }
    let (sec, usec) = ns_timeval(left_ns);
    let sec = sec as u64 + u64::from(usec >= 500_000);
    sec.max(1)
}

/// The next expiry of a timer with `interval` that was due at `deadline`,
/// now being `now` (`now >= deadline`): the first `deadline + k *
/// interval` after `now`.
pub fn next_expiry(deadline: u64, interval: u64, now: u64) -> u64 {
    let missed = (now - deadline) / interval + 1;
    deadline.saturating_add(missed.saturating_mul(interval))
}

#[cfg(target_os = "none")]
pub use imp::RealTimer;

#[cfg(target_os = "none")]
mod imp {
    use alloc::sync::{Arc, Weak};

    use super::next_expiry;
    use crate::proc::process::Process;
    use crate::proc::signal::{self, SIGALRM, SigInfo};
    use crate::task::Event;

    /// The timer's settings: `deadline` 0 is disarmed.
    #[derive(Default)]
    struct Settings {
        deadline: u64,
        interval: u64,
        /// A task is watching the timer.
        task: bool,
    }

    struct Shared {
        settings: spin::Mutex<Settings>,
        changed: Event,
    }

    /// A process's `ITIMER_REAL`: nothing until first set (a fork
    /// allocates nothing for it).
    pub struct RealTimer(spin::Mutex<Option<Arc<Shared>>>);

    impl RealTimer {
        pub const fn new() -> Self {
            Self(spin::Mutex::new(None))
        }

        /// The shared part, made at the first `set`.
        fn shared(&self) -> Arc<Shared> {
            self.0
                .lock()
                .get_or_insert_with(|| {
                    Arc::new(Shared {
                        settings: spin::Mutex::new(Settings::default()),
                        changed: Event::new(),
                    })
                })
                .clone()
        }

        /// The time left and the interval, in ns (0, 0 when disarmed).
        pub fn get(&self) -> (u64, u64) {
            let Some(shared) = self.0.lock().clone() else {
                return (0, 0);
            };
            let s = shared.settings.lock();
            Self::left(&s)
        }

        fn left(s: &Settings) -> (u64, u64) {
            if s.deadline == 0 {
                return (0, 0);
            }
            // A timer due now but not yet fired reads as 1 ns left.
            let left = s.deadline.saturating_sub(crate::task::now_ns()).max(1);
            (left, s.interval)
        }

        /// Arms the timer to fire in `value` ns and every `interval` ns
        /// after (`value` 0 disarms it); returns the old time left and
        /// interval. `process` is the owner, which the timer signals.
        pub fn set(&self, process: &Arc<Process>, value: u64, interval: u64) -> (u64, u64) {
            if value == 0 && self.0.lock().is_none() {
                return (0, 0);
            }
            let shared = self.shared();
            let spawn = {
                let mut s = shared.settings.lock();
                let old = Self::left(&s);
                s.deadline = if value == 0 {
                    0
                } else {
                    crate::task::now_ns().saturating_add(value)
                };
                s.interval = if value == 0 { 0 } else { interval };
                let spawn = s.deadline != 0 && !s.task;
                s.task |= spawn;
                (old, spawn)
            };
            let (old, spawn) = spawn;
            if spawn {
                let owner = Arc::downgrade(process);
                drop(crate::task::spawn(watch(shared, owner)));
            } else {
                shared.changed.notify_all();
            }
            old
        }
    }

    impl Default for RealTimer {
        fn default() -> Self {
            Self::new()
        }
    }

    impl Drop for RealTimer {
        fn drop(&mut self) {
            if let Some(shared) = self.0.lock().take() {
                shared.settings.lock().deadline = 0;
                shared.changed.notify_all();
            }
        }
    }

    /// The timer's task: fires the timer at its deadlines until it is
    /// disarmed or its process is gone.
    async fn watch(shared: Arc<Shared>, owner: Weak<Process>) {
        use futures_util::future::select;
        loop {
            let now = crate::task::now_ns();
            let deadline = {
                let mut s = shared.settings.lock();
                if s.deadline == 0 {
                    s.task = false;
                    return;
                }
                if now >= s.deadline {
                    s.deadline = if s.interval == 0 {
                        0
                    } else {
                        next_expiry(s.deadline, s.interval, now)
                    };
                    None
                } else {
                    Some(s.deadline)
                }
            };
            let Some(deadline) = deadline else {
                match owner.upgrade() {
                    Some(process) => signal::send(&process, SIGALRM, SigInfo::kernel(SIGALRM)),
                    None => {
                        let mut s = shared.settings.lock();
                        s.deadline = 0;
                        s.task = false;
                        return;
                    }
                }
                continue;
            };
            let sleep = crate::task::sleep_until(deadline);
            let changed = shared
                .changed
                .wait_until(|| shared.settings.lock().deadline != deadline);
            futures_util::pin_mut!(sleep);
            futures_util::pin_mut!(changed);
            select(sleep, changed).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timevals_are_checked_and_round_up() {
        assert_eq!(timeval_ns(1, 500_000), Some(1_500_000_000));
        assert_eq!(timeval_ns(0, 0), Some(0));
        assert_eq!(timeval_ns(-1, 0), None);
        assert_eq!(timeval_ns(0, -1), None);
        assert_eq!(timeval_ns(0, 1_000_000), None);
        assert_eq!(timeval_ns(i64::MAX, 999_999), Some(u64::MAX));
        assert_eq!(ns_timeval(1_500_000_000), (1, 500_000));
        assert_eq!(ns_timeval(1), (0, 1));
        assert_eq!(ns_timeval(0), (0, 0));
    }

    #[test]
    fn alarm_rounds_to_the_nearest_second_but_never_to_zero() {
        assert_eq!(alarm_seconds(0), 0);
        assert_eq!(alarm_seconds(1), 1);
        assert_eq!(alarm_seconds(1_400_000_000), 1);
        assert_eq!(alarm_seconds(1_500_000_000), 2);
        assert_eq!(alarm_seconds(9_999_999_999), 10);
    }

    #[test]
    fn a_late_periodic_timer_skips_to_the_next_period() {
        assert_eq!(next_expiry(100, 10, 100), 110);
        assert_eq!(next_expiry(100, 10, 109), 110);
        assert_eq!(next_expiry(100, 10, 110), 120);
        assert_eq!(next_expiry(100, 10, 155), 160);
        assert_eq!(next_expiry(u64::MAX - 5, 10, u64::MAX), u64::MAX);
    }
}
