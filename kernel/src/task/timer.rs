//! Per-CPU timer queues and [`Sleep`].
//!
//! A sleeping task puts `(deadline, seq, waker)` into the timer heap of the
//! CPU that polls it. That CPU's executor loop fires due entries (wakes
//! them, which pushes each task onto its home CPU's run queue) and, before
//! halting, hands the earliest deadline to [`super::Platform::idle`] so the
//! CPU's one-shot timer ends the halt on time. Entries are never removed
//! early: a dropped or re-polled `Sleep` leaves its old entry behind, which
//! later causes one spurious wake (allowed for every future). A `Sleep`
//! re-polled with the same waker does not arm again: its entry stays valid
//! on whichever CPU holds it, since that CPU accounted for it before halting.

use alloc::collections::BinaryHeap;
use core::cmp::{Ordering as CmpOrdering, Reverse};
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicU64, Ordering};
use core::task::{Context, Poll, Waker};

use super::Scheduler;

/// "No timer pending" in [`TimerQueue::next_deadline`].
const NO_DEADLINE: u64 = u64::MAX;

struct TimerEntry {
    deadline_ns: u64,
    /// Insertion order: equal deadlines fire first-in first-out.
    seq: u64,
    waker: Waker,
}

impl TimerEntry {
    fn key(&self) -> (u64, u64) {
        (self.deadline_ns, self.seq)
    }
}

impl PartialEq for TimerEntry {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for TimerEntry {}
impl PartialOrd for TimerEntry {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for TimerEntry {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.key().cmp(&other.key())
    }
}

#[derive(Default)]
struct TimerHeap {
    /// Min-heap on (deadline, seq).
    entries: BinaryHeap<Reverse<TimerEntry>>,
    next_seq: u64,
}

/// One CPU's timers.
pub(crate) struct TimerQueue {
    /// Plain spin lock, never taken in interrupt context: entries are added
    /// by tasks polled on this CPU and fired by this CPU's executor loop.
    /// (The timer interrupt only ends the halt; it does not touch the heap.)
    /// If an interrupt handler ever needs it, take it inside
    /// `without_interrupts` everywhere.
    heap: spin::Mutex<TimerHeap>,
    /// Cache of the earliest deadline ([`NO_DEADLINE`] if none), written
    /// under `heap`'s lock, so the executor loop can skip the lock when
    /// nothing is due.
    next_deadline: AtomicU64,
}

impl TimerQueue {
    pub(crate) fn new() -> Self {
        Self {
            heap: spin::Mutex::new(TimerHeap::default()),
            next_deadline: AtomicU64::new(NO_DEADLINE),
        }
    }

    /// Arms a timer: `waker` is woken once [`Scheduler::now_ns`] reaches
    /// `deadline_ns`.
    pub(crate) fn insert(&self, deadline_ns: u64, waker: &Waker) {
        let mut heap = self.heap.lock();
        let seq = heap.next_seq;
        heap.next_seq += 1;
        heap.entries.push(Reverse(TimerEntry {
            deadline_ns,
            seq,
            waker: waker.clone(),
        }));
        self.publish(&heap);
    }

    /// The earliest deadline, if any timer is armed.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        // Acquire: pairs with the Release in `publish`.
        let next = self.next_deadline.load(Ordering::Acquire);
        (next != NO_DEADLINE).then_some(next)
    }

    /// Wakes every timer whose deadline is `<= now_ns`, earliest first.
    /// Returns how many fired.
    pub(crate) fn fire_due(&self, now_ns: u64) -> usize {
        let mut fired = 0;
        while self.next_deadline().is_some_and(|d| d <= now_ns) {
            let due = {
                let mut heap = self.heap.lock();
                let due = match heap.entries.peek() {
                    Some(Reverse(e)) if e.deadline_ns <= now_ns => heap.entries.pop(),
                    _ => None,
                };
                self.publish(&heap);
                due
            };
            // Wake outside the lock: waking pushes onto a run queue and may
            // send an IPI.
            match due {
                Some(Reverse(entry)) => entry.waker.wake(),
                None => break,
            }
            fired += 1;
        }
        fired
    }

    /// Number of armed timers (including stale ones).
    pub(crate) fn len(&self) -> usize {
        self.heap.lock().entries.len()
    }

    fn publish(&self, heap: &TimerHeap) {
        let next = heap
            .entries
            .peek()
            .map_or(NO_DEADLINE, |Reverse(e)| e.deadline_ns);
        // Release: under the lock anyway; pairs with `next_deadline`.
        self.next_deadline.store(next, Ordering::Release);
    }
}

/// Returned by [`super::sleep`] / [`super::sleep_until`]: completes once the
/// scheduler's clock reaches its deadline, never earlier.
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    sched: &'static Scheduler,
    deadline_ns: u64,
    /// The waker of the entry this `Sleep` has armed, if any.
    armed: Option<Waker>,
}

impl Sleep {
    pub(crate) fn new(sched: &'static Scheduler, deadline_ns: u64) -> Self {
        Self {
            sched,
            deadline_ns,
            armed: None,
        }
    }

    /// The deadline, in [`Scheduler::now_ns`] time.
    pub fn deadline_ns(&self) -> u64 {
        self.deadline_ns
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.sched.now_ns() >= self.deadline_ns {
            return Poll::Ready(());
        }
        if self.armed.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            // Our entry is still in some CPU's heap (it fires only at the
            // deadline, and then we return Ready above).
            return Poll::Pending;
        }
        self.armed = Some(cx.waker().clone());
        // Arm on the CPU that polls us: its executor is running (it is
        // polling us), so it sees the new deadline before it next halts.
        self.sched
            .local_executor()
            .expect("Sleep polled outside an executor of its scheduler")
            .timers
            .insert(self.deadline_ns, cx.waker());
        Poll::Pending
    }
}
