//! A task's scheduling state: the small lock-free state machine that keeps a
//! task in at most one run queue and polled by at most one CPU, and makes
//! sure a wake that races with a poll is never lost.
//!
//! ```text
//!            wake (push)            pop
//!   IDLE ───────────────► QUEUED ─────────► RUNNING ── Ready ──► DONE
//!    ▲                      ▲                 │  │
//!    │   Pending            │   Pending,      │  │ wake during the poll
//!    └──────────────────────┼─ not woken ─────┘  ▼
//!                           └──────────── RUNNING|QUEUED
//!                             Pending (re-push)
//! ```
//! `QUEUED` is one bit, set by every wake with a single `fetch_or`; a wake
//! must push the task only when it moved the state from `IDLE`.

#[cfg(not(loom))]
use core::sync::atomic::{AtomicU8, Ordering};
#[cfg(loom)]
use loom::sync::atomic::{AtomicU8, Ordering};

/// Set by a wake: the task is in a run queue, or (with [`RUNNING`]) must go
/// back into one when its current poll ends.
const QUEUED: u8 = 1 << 0;
/// A CPU is polling the task.
const RUNNING: u8 = 1 << 1;
/// The future returned `Ready`; wakes are ignored from now on.
const DONE: u8 = 1 << 2;

/// See the module docs. Every transition is a read-modify-write, so each one
/// reads the latest value and the release sequences are never broken: a
/// waker's writes before `wake()` are visible to the poll that follows it.
pub(crate) struct TaskState(AtomicU8);

impl TaskState {
    /// A new task, about to be pushed onto its first run queue.
    pub(crate) fn new_queued() -> Self {
        Self(AtomicU8::new(QUEUED))
    }

    /// A waker's transition. Returns `true` if the caller moved the task
    /// from idle to queued and must push it onto a run queue; `false` if it
    /// is already queued, being polled (it will be re-pushed when the poll
    /// ends), or done.
    pub(crate) fn wake(&self) -> bool {
        // AcqRel: Release publishes what the waker wrote before waking (the
        // condition the task waits for) to the CPU that next polls the task:
        // its `start_poll` or `end_poll_pending` RMW reads this write or a
        // later RMW in the same release sequence. Acquire pairs with the
        // Release of `end_poll_pending`, so the pusher sees the task as the
        // last poller left it.
        self.0.fetch_or(QUEUED, Ordering::AcqRel) == 0
    }

    /// The executor popped the task from a run queue and is about to poll
    /// it: `QUEUED` becomes `RUNNING`.
    pub(crate) fn start_poll(&self) {
        // Acquire: pairs with the Release of every `wake` before this point
        // (all of them RMWs, so they form one release sequence), so the poll
        // sees what the wakers published.
        let prev = self.0.swap(RUNNING, Ordering::Acquire);
        debug_assert_eq!(prev, QUEUED, "a task was popped but not queued");
    }

    /// The poll returned `Pending`. Returns `true` if the task was woken
    /// during the poll; it is then `QUEUED` again and the caller must push
    /// it (the waker did not).
    pub(crate) fn end_poll_pending(&self) -> bool {
        // One RMW, not a compare-exchange plus a store: a plain store could
        // overwrite a concurrent wake's RMW and cut it out of the release
        // sequence. AcqRel: Acquire pairs with the wakes during the poll
        // (their data must reach the next poll, which may run on another
        // CPU after our push); Release pairs with the Acquire of the next
        // `wake` that finds the task idle.
        let prev = self.0.fetch_and(!RUNNING, Ordering::AcqRel);
        debug_assert!(prev & RUNNING != 0, "end of a poll that never started");
        prev & QUEUED != 0
    }

    /// Whether the task is parked: not in a run queue, not being polled,
    /// not done (it waits for a wake). A snapshot: Relaxed, for reports
    /// such as `ps`, never for a decision.
    pub(crate) fn is_parked(&self) -> bool {
        self.0.load(Ordering::Relaxed) == 0
    }

    /// The poll returned `Ready`: the task is done for good; later wakes
    /// see `DONE` and do nothing.
    pub(crate) fn finish(&self) {
        // Relaxed is enough: no one reads anything published by the end of
        // a task through its state (the result goes through the JoinHandle,
        // which has its own Release/Acquire pair). An RMW keeps the release
        // sequences of the wakes intact, as everywhere else here.
        self.0.swap(DONE, Ordering::Relaxed);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! Model: one task, one executor thread, two wakers. A waker publishes
    //! "event i happened" with a *Relaxed* store (so only the task state's
    //! orderings can carry it) and wakes. Properties: the task is never in
    //! two queues at once, and the last poll sees both events (no lost
    //! wakeup, no lost data).
    use super::TaskState;
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::thread;

    struct Model {
        state: TaskState,
        /// Number of queue entries for the task: must stay 0 or 1.
        queued: AtomicUsize,
        /// Bit i set by waker i (Relaxed).
        events: AtomicUsize,
        /// What the most recent poll saw.
        last_seen: AtomicUsize,
    }

    impl Model {
        fn push(&self) {
            let prev = self.queued.fetch_add(1, Ordering::Relaxed);
            assert_eq!(prev, 0, "task pushed onto a run queue twice");
        }

        /// Pops and polls the task if it is queued; returns whether it ran.
        fn run_once(&self) -> bool {
            if self
                .queued
                .compare_exchange(1, 0, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
            {
                return false;
            }
            self.state.start_poll();
            let seen = self.events.load(Ordering::Relaxed);
            self.last_seen.store(seen, Ordering::Relaxed);
            if self.state.end_poll_pending() {
                self.push();
            }
            true
        }

        fn wake(&self, bit: usize) {
            self.events.fetch_or(bit, Ordering::Relaxed);
            if self.state.wake() {
                self.push();
            }
        }
    }

    #[test]
    fn loom_task_state_no_lost_wakeup() {
        loom::model(|| {
            let m = Arc::new(Model {
                state: TaskState::new_queued(),
                queued: AtomicUsize::new(1),
                events: AtomicUsize::new(0),
                last_seen: AtomicUsize::new(0),
            });
            let wakers: [_; 2] = core::array::from_fn(|i| {
                let m = m.clone();
                thread::spawn(move || m.wake(1 << i))
            });
            let exec = {
                let m = m.clone();
                thread::spawn(move || {
                    m.run_once();
                })
            };
            for w in wakers {
                w.join().unwrap();
            }
            exec.join().unwrap();
            // Drain: whatever is still queued runs now, as an executor would.
            while m.run_once() {}
            assert_eq!(
                m.last_seen.load(Ordering::Relaxed),
                0b11,
                "a wake was lost: the last poll did not see every event"
            );
        });
    }
}
