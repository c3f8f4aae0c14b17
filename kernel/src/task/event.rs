//! [`Event`]: a wait queue for tasks.
//!
//! Waiters queue up in FIFO order; [`Event::notify_one`] wakes the oldest,
//! [`Event::notify_all`] wakes every waiter queued at that moment. An event
//! keeps no memory of notifications nobody waited for, so the race-free way
//! to block is [`Event::wait_until`]: it queues the waiter *before* it
//! evaluates the condition, so a notifier that makes the condition true and
//! then notifies either finds the waiter queued, or runs before the waiter's
//! check, which then sees the condition true.
//!
//! A waiter dropped after `notify_one` picked it but before it observed the
//! notification passes the notification on to the next waiter, so a
//! cancelled wait never swallows a wake-up.
//!
//! An *exclusive* waiter ([`wait_any_exclusive`]; Linux's
//! `add_wait_queue_exclusive`, what `EPOLLEXCLUSIVE` asks for) is woken
//! one at a time: `notify_all` wakes every other waiter and only the
//! oldest exclusive one; a picked exclusive waiter that is cancelled
//! passes the wake-up on to the next.

use alloc::collections::VecDeque;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

/// Up to this many waiters, `notify_all` moves their wakers onto the
/// stack and leaves the queue its room.
const FEW: usize = 4;

/// A queued waiter.
struct Waiter {
    ticket: u64,
    waker: Waker,
    /// Woken alone by `notify_all` (module docs).
    exclusive: bool,
}

#[derive(Default)]
struct EventState {
    next_ticket: u64,
    /// Number of `notify_all` calls so far: tells a cancelled waiter
    /// whether it was picked by `notify_one` (pass it on) or swept by a
    /// `notify_all` (nothing to pass on).
    broadcasts: u64,
    /// Sorted by ticket (tickets only grow, removal keeps the order).
    waiters: VecDeque<Waiter>,
}

impl EventState {
    fn position(&self, ticket: u64) -> Option<usize> {
        self.waiters
            .binary_search_by_key(&ticket, |w| w.ticket)
            .ok()
    }
}

/// A wait queue (wake one / wake all). See the module docs.
///
/// `notify_one` and `notify_all` may be called from interrupt handlers
/// (UART receive, timers): the queue's lock is always taken with
/// interrupts masked on the current CPU.
pub struct Event {
    /// IRQ-safe spin lock: taken only inside `without_interrupts` (the
    /// lock is shared with interrupt handlers that notify; an interrupt on
    /// this CPU while it holds the lock would spin forever). Held for a few
    /// instructions; wakers are called after it is released.
    state: spin::Mutex<EventState>,
}

/// A waiter's place in the queue, from `register` to completion or drop.
#[derive(Clone, Copy)]
struct Registration {
    ticket: u64,
    broadcasts: u64,
    exclusive: bool,
}

impl Event {
    /// An event with no waiters. `const`, so it can be a `static`.
    pub const fn new() -> Self {
        Self {
            state: spin::Mutex::new(EventState {
                next_ticket: 0,
                broadcasts: 0,
                waiters: VecDeque::new(),
            }),
        }
    }

    /// Runs `f` on the queue, with interrupts masked and the lock held.
    fn locked<R>(&self, f: impl FnOnce(&mut EventState) -> R) -> R {
        super::without_interrupts(|| f(&mut self.state.lock()))
    }

    /// Wakes the oldest waiter. Returns whether there was one; with no
    /// waiter the notification is lost (use [`Event::wait_until`]).
    pub fn notify_one(&self) -> bool {
        match self.locked(|s| s.waiters.pop_front()) {
            Some(w) => {
                w.waker.wake();
                true
            }
            None => false,
        }
    }

    /// Wakes every waiter queued now, except that of the exclusive ones
    /// only the oldest (module docs). Returns how many.
    pub fn notify_all(&self) -> usize {
        // The common case, a few waiters, none exclusive: their wakers
        // are moved out and the queue keeps its room, so the next wait
        // does not allocate again (a parent's wait for its children, a
        // vfork parent's wait, at every fork).
        let mut few: [Option<Waker>; FEW] = Default::default();
        let waiters = self.locked(|s| {
            s.broadcasts += 1;
            if !s.waiters.iter().any(|w| w.exclusive) {
                if s.waiters.len() <= FEW {
                    for (slot, w) in few.iter_mut().zip(s.waiters.drain(..)) {
                        *slot = Some(w.waker);
                    }
                    return VecDeque::new();
                }
                return core::mem::take(&mut s.waiters);
            }
            let mut woken = VecDeque::new();
            let mut kept = VecDeque::new();
            let mut exclusive_woken = false;
            for w in core::mem::take(&mut s.waiters) {
                if !w.exclusive || !exclusive_woken {
                    exclusive_woken |= w.exclusive;
                    woken.push_back(w);
                } else {
                    kept.push_back(w);
                }
            }
            s.waiters = kept;
            woken
        });
        let mut n = waiters.len();
        for w in few.into_iter().flatten() {
            w.wake();
            n += 1;
        }
        for w in waiters {
            w.waker.wake();
        }
        n
    }

    /// How many `notify_all` calls there have been: a generation count
    /// (edge-triggered epoll compares it).
    pub fn broadcasts(&self) -> u64 {
        self.locked(|s| s.broadcasts)
    }

    /// Number of queued waiters (a snapshot).
    pub fn waiters(&self) -> usize {
        self.locked(|s| s.waiters.len())
    }

    /// A future that completes at the first notification after its first
    /// poll. Prefer [`Event::wait_until`] unless the notifier and the
    /// waiter are otherwise ordered.
    pub fn wait(&self) -> Wait<'_> {
        Wait {
            event: self,
            registration: None,
            done: false,
        }
    }

    /// A future that completes once `condition()` returns `true`. It is
    /// evaluated when polled, after the waiter is queued, so a notifier that
    /// makes it true and then calls `notify_*` is never missed. It runs
    /// without the event's lock held and may be called more than once.
    pub fn wait_until<F: FnMut() -> bool>(&self, condition: F) -> WaitUntil<'_, F> {
        WaitUntil {
            event: self,
            condition,
            registration: None,
        }
    }

    fn register(&self, waker: &Waker) -> Registration {
        self.register_as(waker, false)
    }

    fn register_as(&self, waker: &Waker, exclusive: bool) -> Registration {
        self.locked(|s| {
            let ticket = s.next_ticket;
            s.next_ticket += 1;
            // Most events have one waiter at a time (each thread's signal
            // event, while it blocks): room for one, not the four a first
            // push makes (96 bytes per blocked thread); more grow as usual.
            if s.waiters.capacity() == 0 {
                s.waiters.reserve_exact(1);
            }
            s.waiters.push_back(Waiter {
                ticket,
                waker: waker.clone(),
                exclusive,
            });
            Registration {
                ticket,
                broadcasts: s.broadcasts,
                exclusive,
            }
        })
    }

    /// Wakes the oldest exclusive waiter, or the oldest waiter when none
    /// is exclusive (a cancelled exclusive waiter's pass-on).
    fn notify_exclusive(&self) {
        let picked = self.locked(|s| {
            let at = s.waiters.iter().position(|w| w.exclusive).unwrap_or(0);
            s.waiters.remove(at)
        });
        if let Some(w) = picked {
            w.waker.wake();
        }
    }

    /// Returns `true` if the registration was notified (it is no longer
    /// queued); else refreshes its waker and returns `false`.
    fn is_notified(&self, reg: Registration, waker: &Waker) -> bool {
        self.locked(|s| match s.position(reg.ticket) {
            Some(i) => {
                let queued = &mut s.waiters[i].waker;
                if !queued.will_wake(waker) {
                    queued.clone_from(waker);
                }
                false
            }
            None => true,
        })
    }

    /// Leaves the queue. A registration that `notify_one` had already
    /// picked passes the notification on if `pass_on` (the waiter is being
    /// cancelled) and keeps it otherwise (the waiter completed).
    fn deregister(&self, reg: Registration, pass_on: bool) {
        // An exclusive waiter is only ever woken alone: gone from the
        // queue, it was picked.
        let picked_alone = self.locked(|s| match s.position(reg.ticket) {
            Some(i) => {
                s.waiters.remove(i);
                false
            }
            None => reg.exclusive || s.broadcasts == reg.broadcasts,
        });
        if pass_on && picked_alone {
            if reg.exclusive {
                self.notify_exclusive();
            } else {
                self.notify_one();
            }
        }
    }
}

impl Default for Event {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for Event {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Event")
            .field("waiters", &self.waiters())
            .finish()
    }
}

/// Returned by [`Event::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct Wait<'a> {
    event: &'a Event,
    registration: Option<Registration>,
    done: bool,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.done {
            return Poll::Ready(());
        }
        match self.registration {
            None => {
                self.registration = Some(self.event.register(cx.waker()));
                Poll::Pending
            }
            Some(reg) => {
                if self.event.is_notified(reg, cx.waker()) {
                    self.registration = None;
                    self.done = true;
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if let Some(reg) = self.registration.take() {
            self.event.deregister(reg, true);
        }
    }
}

/// Returned by [`Event::wait_until`].
#[must_use = "futures do nothing unless awaited"]
pub struct WaitUntil<'a, F> {
    event: &'a Event,
    condition: F,
    registration: Option<Registration>,
}

// The condition is only ever called through `&mut`, never pinned, so the
// future can move freely whatever `F` is.
impl<F> Unpin for WaitUntil<'_, F> {}

impl<F: FnMut() -> bool> WaitUntil<'_, F> {
    /// Queue, then check: see the module docs for why this order.
    fn register_and_check(&mut self, waker: &Waker) -> Poll<()> {
        let reg = self.event.register(waker);
        if (self.condition)() {
            // Completing: a notification that picked us meanwhile is ours.
            self.event.deregister(reg, false);
            Poll::Ready(())
        } else {
            self.registration = Some(reg);
            Poll::Pending
        }
    }
}

impl<F: FnMut() -> bool> Future for WaitUntil<'_, F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        match this.registration {
            // Fast path: no need to queue if the condition already holds.
            None if (this.condition)() => Poll::Ready(()),
            None => this.register_and_check(cx.waker()),
            Some(reg) => {
                let notified = this.event.is_notified(reg, cx.waker());
                if (this.condition)() {
                    this.registration = None;
                    this.event.deregister(reg, false);
                    Poll::Ready(())
                } else if notified {
                    // Woken, but the condition is false again (someone else
                    // got there first): queue again, at the back.
                    this.registration = None;
                    this.register_and_check(cx.waker())
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

impl<F> Drop for WaitUntil<'_, F> {
    fn drop(&mut self) {
        if let Some(reg) = self.registration.take() {
            self.event.deregister(reg, true);
        }
    }
}

/// A future that completes once `condition()` returns `true`, woken by a
/// notification of any of several events: what `poll`, `select` and
/// `epoll_wait` await (one event per file they watch). The rule of
/// [`Event::wait_until`] holds for each event: the waiter is queued on all
/// of them *before* the condition is evaluated, so a notifier that makes
/// it true and then notifies any of them is never missed.
pub fn wait_any<'a, F: FnMut() -> bool>(events: &[&'a Event], condition: F) -> WaitAny<'a, F> {
    WaitAny {
        events: events.iter().map(|e| (*e, false, None)).collect(),
        condition,
        queued: false,
    }
}

/// [`wait_any`] where each event says whether the waiter queues on it as
/// an exclusive waiter (module docs): `epoll_wait` on `EPOLLEXCLUSIVE`
/// interests.
pub fn wait_any_exclusive<'a, F: FnMut() -> bool>(
    events: &[(&'a Event, bool)],
    condition: F,
) -> WaitAny<'a, F> {
    WaitAny {
        events: events.iter().map(|&(e, x)| (e, x, None)).collect(),
        condition,
        queued: false,
    }
}

/// Returned by [`wait_any`].
#[must_use = "futures do nothing unless awaited"]
pub struct WaitAny<'a, F> {
    /// Each event, whether the waiter is exclusive there, and its place
    /// in the queue.
    events: alloc::vec::Vec<(&'a Event, bool, Option<Registration>)>,
    condition: F,
    /// Whether the first registration round is done.
    queued: bool,
}

impl<F> Unpin for WaitAny<'_, F> {}

impl<F> WaitAny<'_, F> {
    /// Leaves every queue; `pass_on` as in [`Event::deregister`].
    fn leave_all(&mut self, pass_on: bool) {
        for (event, _, reg) in &mut self.events {
            if let Some(reg) = reg.take() {
                event.deregister(reg, pass_on);
            }
        }
    }
}

impl<F: FnMut() -> bool> Future for WaitAny<'_, F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if !this.queued {
            // Fast path: no need to queue if the condition already holds.
            if (this.condition)() {
                return Poll::Ready(());
            }
            this.queued = true;
        }
        // Queue on every event we are not queued on (first poll, or
        // notified since), refresh the wakers of the others; then check.
        for (event, exclusive, reg) in &mut this.events {
            match reg {
                Some(r) if !event.is_notified(*r, cx.waker()) => {}
                _ => *reg = Some(event.register_as(cx.waker(), *exclusive)),
            }
        }
        if (this.condition)() {
            // Completing: notifications that picked us are ours.
            this.leave_all(false);
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl<F> Drop for WaitAny<'_, F> {
    fn drop(&mut self) {
        self.leave_all(true);
    }
}
