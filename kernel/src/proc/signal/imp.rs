//! Signals on the machine: per-process and per-thread state, posting,
//! interrupting blocked calls, and delivery in the thread loop (the parent
//! module's docs, `docs/signals.md` and `docs/threads.md`).
//!
//! A process's [`SignalState`] holds the shared actions, the signals sent
//! to the process that no thread could take when they were sent (all
//! blocked them), the job-control state and the group exit; each
//! thread's [`ThreadSignals`] holds its mask, the signals sent to it
//! (`tgkill`, faults, and process signals it was picked for), its
//! alternate stack and `rt_sigsuspend`'s saved mask. A process-directed
//! signal goes to the first thread (leader first) that does not block it
//! (Linux's `complete_signal`); `SIGKILL`, the stop signals and `SIGCONT`
//! stay with the process and act on all its threads. Lock order: actions,
//! then the process's queue, then a thread's queue.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::future::Future;
use core::sync::atomic::{AtomicBool, Ordering};

use arch::user::{FpuState, UserContext};
use futures_util::future::{Either, select};
use futures_util::task::AtomicWaker;

use super::frame::{self, FrameArgs, TrapRegs};
use super::{
    DefaultAction, Disposition, JobReport, SIGCHLD, SIGCONT, SIGKILL, SIGSEGV, SigAction,
    SigActions, SigInfo, SigQueue, SigSet, Signal, code, sa,
};
use crate::proc::pid::Pid;
use crate::proc::process::{self, Process, State, signal_status};
use crate::proc::thread::Thread;
use crate::task::Event;
use crate::vm::space::AddressSpace;
use abi::Errno;

/// The actions a process uses; processes may share one (module docs).
pub type SharedActions = Arc<spin::Mutex<SigActions>>;

/// A process's signal state: its queue, its (possibly shared) actions,
/// and the event a blocked thread of it waits on.
pub struct SignalState {
    /// Lock order: after `actions` (and after the `SigActions` inside).
    queue: QueueLock,
    /// Replaced by exec (which unshares) and by the shared-action fork
    /// variants; the lock guards the `Arc`, not the actions.
    actions: spin::Mutex<SharedActions>,
    /// Notified when a signal becomes pending or the process is continued.
    event: Event,
}

/// The queue's lock, with a hint that lets the return to user mode skip
/// both locks when nothing can be pending.
///
/// `attention` is written only with the lock held: every `lock` sets it
/// (whoever locks may post a signal, unblock one or save a mask), and
/// `deliver` clears it when it found nothing to do, before unlocking. So
/// while it reads false, nothing has changed the queue since a `deliver`
/// saw it empty, and `deliver` may return at once. A signal posted from
/// another CPU just as the flag is read is taken at the next entry to the
/// kernel, exactly as one posted just after the locked check would be.
struct QueueLock {
    inner: spin::Mutex<SigQueue>,
    attention: AtomicBool,
}

impl QueueLock {
    fn new(queue: SigQueue) -> Self {
        Self {
            inner: spin::Mutex::new(queue),
            attention: AtomicBool::new(true),
        }
    }

    fn lock(&self) -> spin::MutexGuard<'_, SigQueue> {
        let guard = self.inner.lock();
        self.attention.store(true, Ordering::Relaxed);
        guard
    }

    /// The lock without the hint: for a holder that only reads, or whose
    /// change `deliver` need not see (a mask that lets nothing pending
    /// through, `set_thread_mask`).
    fn lock_quiet(&self) -> spin::MutexGuard<'_, SigQueue> {
        self.inner.lock()
    }

    /// Whether the queue may have changed since `deliver` last found
    /// nothing to deliver.
    fn needs_attention(&self) -> bool {
        self.attention.load(Ordering::Acquire)
    }

    /// Clears the hint; `_held` proves the lock is held.
    fn settle(&self, _held: &spin::MutexGuard<'_, SigQueue>) {
        self.attention.store(false, Ordering::Release);
    }
}

impl Default for SignalState {
    fn default() -> Self {
        Self::new()
    }
}

impl SignalState {
    /// Every action default, nothing blocked or pending.
    pub fn new() -> Self {
        Self::with(
            SigQueue::default(),
            Arc::new(spin::Mutex::new(SigActions::new())),
        )
    }

    fn with(queue: SigQueue, actions: SharedActions) -> Self {
        Self {
            queue: QueueLock::new(queue),
            actions: spin::Mutex::new(actions),
            event: Event::new(),
        }
    }

    /// A fork child's state: a copy of the actions and of the mask (and
    /// alternate stack), nothing pending.
    pub fn fork_copy(&self) -> Self {
        let actions = self.actions().lock().fork_copy();
        Self::with(
            self.queue.lock().fork_copy(),
            Arc::new(spin::Mutex::new(actions)),
        )
    }

    /// A child that shares this process's actions (`CLONE_SIGHAND`,
    /// `RFSIGSHARE`): the same `Arc`, a copy of the mask, nothing pending.
    pub fn fork_shared(&self) -> Self {
        Self::with(self.queue.lock().fork_copy(), self.actions())
    }

    /// Resets caught signals to the default in these actions (posix_spawn's
    /// and rfork's `FR2_DROPSIG_CAUGHT` on a fresh copy).
    pub fn reset_caught(&self) {
        self.actions().lock().reset_caught();
    }

    /// The actions (shared with other processes if they were shared).
    pub fn actions(&self) -> SharedActions {
        self.actions.lock().clone()
    }

    /// Replaces the actions (e.g. with ones shared with another process).
    pub fn set_actions(&self, actions: SharedActions) {
        *self.actions.lock() = actions;
    }

    /// The action of `sig` now.
    pub fn action(&self, sig: Signal) -> SigAction {
        self.actions().lock().get(sig)
    }

    /// What `execve` does to signals: the actions become this process's
    /// own (unshared) with caught signals back to default
    /// ([`SigActions::reset_caught`]); the mask and pending signals stay;
    /// the alternate stack is disabled (the old stack is gone).
    pub fn exec_reset(&self) {
        let mut actions = self.actions().lock().clone();
        actions.reset_caught();
        self.set_actions(Arc::new(spin::Mutex::new(actions)));
        self.queue.lock().altstack = super::AltStack::default();
    }

    /// Runs `f` on the queue under its lock (no other lock may be taken
    /// inside, no await).
    pub fn with_queue<R>(&self, f: impl FnOnce(&mut SigQueue) -> R) -> R {
        f(&mut self.queue.lock())
    }

    /// The mask.
    pub fn blocked(&self) -> SigSet {
        self.queue.lock().blocked
    }

    /// Sets the mask, discarding the newly unblocked pending signals that
    /// are ignored.
    pub fn set_blocked(&self, mask: SigSet) {
        let actions = self.actions();
        let actions = actions.lock();
        self.queue.lock().set_blocked(mask, actions.ignored());
    }

    /// The pending set.
    pub fn pending(&self) -> SigSet {
        self.queue.lock_quiet().pending
    }

    /// Whether a signal is pending that the mask lets through, or the
    /// process is ending: what makes [`interruptible`] give up.
    pub fn has_deliverable(&self) -> bool {
        let queue = self.queue.lock();
        queue.group_exit.is_some() || !queue.deliverable().is_empty()
    }

    /// Starts the group exit with wait status `status` unless one has
    /// started (the first status wins) and wakes the process's event;
    /// returns whether this call started it (then the caller wakes the
    /// threads: [`wake_threads`]; the others need not, the starter did).
    pub fn start_group_exit(&self, status: i32) -> bool {
        let started = {
            let mut queue = self.queue.lock();
            let started = queue.group_exit.is_none();
            queue.group_exit.get_or_insert(status);
            started
        };
        self.event.notify_all();
        started
    }

    /// `execve`'s start of the group exit the caller survives: `false` if
    /// a group exit had already started (it wins). The caller wakes the
    /// threads ([`wake_threads`]).
    pub fn begin_dethread(&self, status: i32) -> bool {
        {
            let mut queue = self.queue.lock();
            if queue.group_exit.is_some() {
                return false;
            }
            queue.group_exit = Some(status);
        }
        self.event.notify_all();
        true
    }

    /// FreeBSD's `thread_single(SINGLE_BOUNDARY)` for thread `tid`: asks
    /// every other thread to park at its return to user mode (a blocked
    /// interruptible call ends and runs again afterwards; `wake_others`
    /// wakes them) and waits until `others` of them have. `false` (nothing done) when a group exit or
    /// another thread's single-threading is under way.
    pub async fn single_thread(
        &self,
        tid: u32,
        others: impl Fn() -> usize,
        wake_others: impl FnOnce(),
    ) -> bool {
        {
            let mut queue = self.queue.lock();
            if queue.group_exit.is_some() || queue.single.is_some() {
                return false;
            }
            queue.single = Some(tid);
        }
        // Their interruptible waits end ([`wake_threads`]).
        wake_others();
        self.event
            .wait_until(|| {
                let queue = self.queue.lock();
                queue.parked as usize >= others() || queue.group_exit.is_some()
            })
            .await;
        true
    }

    /// `thread_single_end`: the parked threads go on.
    pub fn single_thread_end(&self) {
        self.queue.lock().single = None;
        self.event.notify_all();
    }

    /// `execve`'s end of it: the other threads are gone.
    pub fn end_dethread(&self) {
        self.queue.lock().group_exit = None;
    }

    /// The group exit's wait status, once one has started.
    pub fn group_exit(&self) -> Option<i32> {
        self.queue.lock().group_exit
    }

    /// Whether a stop signal stopped the process (and no `SIGCONT` came).
    pub fn is_stopped(&self) -> bool {
        self.queue.lock().stopped
    }

    /// The event a blocked thread of this process waits on (notified at
    /// every posted signal and at `SIGCONT`).
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// Takes what `wait4` may report about this (child) process's
    /// job-control state with these options.
    pub fn take_report(&self, untraced: bool, continued: bool) -> Option<JobReport> {
        self.queue.lock().take_report(untraced, continued)
    }

    /// What [`SignalState::take_report`] would take, left in place.
    pub fn peek_report(&self, untraced: bool, continued: bool) -> Option<JobReport> {
        self.queue.lock().peek_report(untraced, continued)
    }

    /// Whether [`SignalState::take_report`] would find something.
    pub fn has_report(&self, untraced: bool, continued: bool) -> bool {
        self.queue.lock().has_report(untraced, continued)
    }
}

/// A thread's own signal state (module docs).
pub struct ThreadSignals {
    /// Its mask, own pending set, alternate stack, saved mask; the
    /// job-control fields are unused (they are the process's); with the
    /// same fast-path hint as the process's queue.
    queue: QueueLock,
    /// The task of this thread's [`interruptible`] wait, if it waits:
    /// woken ([`ThreadSignals::notify`]) when a signal is posted to the
    /// thread, and (with every other thread's, by [`wake_threads`]) when
    /// something the whole process must see happens: a signal pending for
    /// the process, a group exit, a single-threading. So a signal for one
    /// thread of 10,000 wakes one. Only the thread's own task waits here,
    /// so one slot will do: no queue, no lock with interrupts masked,
    /// nothing allocated, which a full [`Event`] took at every blocking
    /// call (a futex wait registered and removed a waiter).
    waiter: AtomicWaker,
}

impl Default for ThreadSignals {
    fn default() -> Self {
        Self::new()
    }
}

impl ThreadSignals {
    /// Nothing blocked or pending, no alternate stack.
    pub fn new() -> Self {
        Self {
            queue: QueueLock::new(SigQueue::default()),
            waiter: AtomicWaker::new(),
        }
    }

    /// A fork child's first thread: this thread's mask and alternate
    /// stack, nothing pending.
    pub fn fork_copy(&self) -> Self {
        Self {
            queue: QueueLock::new(self.queue.lock().fork_copy()),
            waiter: AtomicWaker::new(),
        }
    }

    /// A new thread of the same process: this thread's mask only.
    pub fn thread_copy(&self) -> Self {
        let q = SigQueue {
            blocked: self.queue.lock().blocked,
            ..SigQueue::default()
        };
        Self {
            queue: QueueLock::new(q),
            waiter: AtomicWaker::new(),
        }
    }

    /// Wakes the thread's [`interruptible`] wait, if any: after the change
    /// it must see (a posted signal) is made, as with an [`Event`].
    fn notify(&self) {
        self.waiter.wake();
    }

    /// `execve`: the alternate stack is gone; mask and pending stay.
    pub fn exec_reset(&self) {
        self.queue.lock().altstack = super::AltStack::default();
    }

    /// Runs `f` on the queue under its lock (no other lock inside).
    pub fn with_queue<R>(&self, f: impl FnOnce(&mut SigQueue) -> R) -> R {
        f(&mut self.queue.lock())
    }

    /// Its mask.
    pub fn blocked(&self) -> SigSet {
        self.queue.lock_quiet().blocked
    }

    /// The signals sent to it alone that are pending.
    pub fn pending(&self) -> SigSet {
        self.queue.lock_quiet().pending
    }

    /// Takes every pending signal with its siginfo (a thread that ends
    /// hands them to its process) and closes the queue to process
    /// signals ([`SigQueue::ended`]), in one hold of its lock: one routed
    /// here later would be lost with the thread.
    fn drain(&self) -> Vec<(Signal, SigInfo)> {
        let mut queue = self.queue.lock();
        queue.ended = true;
        let mut out = Vec::new();
        while let Some(sig) = queue.pending.lowest() {
            out.push((sig, queue.take(sig)));
        }
        out
    }
}

/// A thread that ends alone (`exit`) gives its pending signals to its
/// process, so a process signal it had been picked for is not lost: each
/// goes to another thread that does not block it, or stays pending for
/// the process.
pub fn thread_exit_signals(thread: &Thread) {
    let process = thread.process();
    for (sig, info) in thread.signals().drain() {
        if sig == SIGKILL || sig == SIGCONT || sig.is_stop() {
            continue;
        }
        route(process, Some(thread.tid()), sig, info);
    }
}

/// Wakes every thread of `process` that waits in [`interruptible`], and
/// whoever waits on the process's own event: for what every thread must
/// see (a signal pending for the process, `SIGKILL`, a stop or continue,
/// a group exit, a single-threading).
pub fn wake_threads(process: &Process) {
    // The walk by slot skips no thread that stays while others leave
    // (a group exit wakes each thread once, `thread::exit_thread`, so a
    // skipped one would wait for ever), and copies no list.
    process.find_thread(|t| {
        t.signals().notify();
        false
    });
    process.signals().event.notify_all();
}

/// Hands process-directed `sig` to the first thread of `process` (leader
/// first, `except` left out) that does not block it, or keeps it pending
/// for the process when every thread blocks it (Linux's shared pending
/// set and `complete_signal`), and wakes the thread that took it (or, for
/// the process, every thread).
fn route(process: &Process, except: Option<Pid>, sig: Signal, info: SigInfo) -> super::Posted {
    let state = process.signals();
    let action = state.action(sig);
    // The mask is checked and the signal posted in one hold of the
    // thread's queue lock: checked first and posted after, a thread that
    // blocked the signal in between (or ended, its queue drained) would
    // hold it where no one takes it while another thread could.
    let posted = core::cell::Cell::new(super::Posted::Discarded);
    let (target, has_threads) = process.find_thread(|t| {
        if Some(t.tid()) == except {
            return false;
        }
        let mut queue = t.signals().queue.lock();
        if queue.ended || queue.blocked.contains(sig) {
            return false;
        }
        let p = queue.post(sig, info, &action);
        if p != super::Posted::Discarded {
            queue.routed.add(sig);
        }
        posted.set(p);
        true
    });
    if let Some(t) = target {
        let posted = posted.get();
        if posted != super::Posted::Discarded {
            t.signals().notify();
        }
        return posted;
    }
    // Every thread blocks it: an ignored signal stays pending too (a
    // thread may unblock it, or `rt_sigtimedwait` for it). A process
    // without threads (a kernel test's) has only its own mask.
    let posted = {
        let mut queue = state.queue.lock();
        let held = has_threads || queue.blocked.contains(sig);
        queue.post_held(sig, info, &action, held)
    };
    if posted != super::Posted::Discarded {
        wake_threads(process);
    }
    posted
}

/// Sets `thread`'s mask, discarding the newly unblocked pending signals
/// that are ignored. A signal sent to the process and handed to this
/// thread that the new mask blocks goes back to the process: to another
/// thread that does not block it, or pending for the process (Linux
/// keeps process-directed signals on the shared pending set).
///
/// The common case takes neither the actions' lock nor the way back to
/// user mode through `deliver`: when nothing pending (the thread's or
/// the process's) gets through the new mask and nothing routed here gets
/// blocked (`SigQueue::set_blocked_alone`), only the mask changes, and
/// the queues' hint stays as it was (`QueueLock::lock_quiet`). The
/// process's pending set may be read before the thread's lock is taken:
/// a signal posted to the process after the read is posted because
/// every thread blocked it under its own lock (this one before the
/// change, or it would have been routed here), and that post sets the
/// process's hint itself.
pub fn set_thread_mask(thread: &Thread, mask: SigSet) {
    change_thread_mask(thread, |_| mask);
}

/// [`set_thread_mask`] to `change(old mask)`, the old mask read under the
/// same hold of the thread's lock as the common case's change
/// (`rt_sigprocmask`'s `SIG_BLOCK` and `SIG_UNBLOCK`); returns the old
/// mask. Only the thread itself changes its mask, so the old mask is
/// still the thread's when the whole way is taken.
pub fn change_thread_mask(thread: &Thread, change: impl FnOnce(SigSet) -> SigSet) -> SigSet {
    let shared = thread.process().signals().pending();
    let (old, mask) = {
        let mut queue = thread.signals().queue.lock_quiet();
        let old = queue.blocked;
        let mask = change(old);
        if queue.set_blocked_alone(mask, shared) {
            return old;
        }
        (old, mask)
    };
    let back = {
        let actions = thread.process().signals().actions();
        let actions = actions.lock();
        let mut queue = thread.signals().queue.lock();
        queue.set_blocked(mask, actions.ignored());
        queue.take_blocked_routed()
    };
    give_back(thread, back);
    old
}

/// Routes signals `thread` took back from its queue to the process again.
fn give_back(thread: &Thread, back: Vec<(Signal, SigInfo)>) {
    if back.is_empty() {
        return;
    }
    let process = thread.process();
    for (sig, info) in back {
        route(process, Some(thread.tid()), sig, info);
    }
}

/// `rt_sigtimedwait`'s wait (Linux's `do_sigtimedwait`): takes a pending
/// signal of `set` sent to `thread` or to its process, blocked or not.
/// If there is none: `EAGAIN` at once when `poll_only` (a zero timeout);
/// otherwise `set` is unblocked while the thread waits (the old mask is
/// kept in `real_blocked`, so an ignored signal of `set` is not discarded
/// meanwhile) until a signal comes, the monotonic `deadline` passes
/// (`EAGAIN`; `None`: never) or a signal outside `set` interrupts
/// (`EINTR`, never restarted, as on Linux). The signal is taken before
/// the return to user mode, so no handler runs for it.
pub async fn timed_wait(
    thread: &Thread,
    set: SigSet,
    deadline: Option<u64>,
    poll_only: bool,
) -> Result<(Signal, SigInfo), Errno> {
    let set = set.blockable();
    let process = thread.process();
    let take = || {
        let own = thread.signals().queue.lock().take_from(set);
        own.or_else(|| process.signals().queue.lock().take_from(set))
    };
    if let Some(found) = take() {
        return Ok(found);
    }
    if poll_only {
        return Err(Errno::EAGAIN);
    }
    let old = {
        let mut queue = thread.signals().queue.lock();
        let old = queue.blocked;
        queue.real_blocked = old;
        queue.blocked = old.minus(set);
        old
    };
    let timer = async {
        match deadline {
            Some(d) => crate::task::sleep_until(d).await,
            None => core::future::pending::<()>().await,
        }
    };
    let outcome = interruptible(process, timer).await;
    let back = {
        let mut queue = thread.signals().queue.lock();
        queue.blocked = old;
        queue.real_blocked = SigSet::EMPTY;
        queue.take_from(set)
    };
    let found = back.or_else(|| process.signals().queue.lock().take_from(set));
    // Process signals handed to this thread while it waited that it
    // blocks again go back (another thread may take them).
    let routed = thread.signals().queue.lock().take_blocked_routed();
    give_back(thread, routed);
    match (found, outcome) {
        (Some(found), _) => Ok(found),
        (None, Ok(())) => Err(Errno::EAGAIN),
        (None, Err(e)) => Err(e),
    }
}

/// Whether `thread` has something to deliver or must leave: the group is
/// ending, a signal sent to it is unblocked, or one pending for the
/// process is not blocked by its mask.
pub fn thread_has_deliverable(thread: &Thread) -> bool {
    let pq = thread.process().signals().queue.lock();
    if pq.group_exit.is_some() || pq.single.is_some_and(|t| t != thread.tid().as_u32()) {
        return true;
    }
    let tq = thread.signals().queue.lock();
    !tq.deliverable().is_empty() || !pq.deliverable_with(tq.blocked).is_empty()
}

/// Posts `sig` to `thread` alone (`tgkill`, `tkill`): `SIGKILL`, the stop
/// signals and `SIGCONT` act on the whole process (as on Linux), so they
/// go to it; anything else is pending for this thread only.
pub fn send_thread(thread: &Thread, sig: Signal, info: SigInfo) {
    let process = thread.process();
    if sig == SIGKILL || sig == SIGCONT || sig.is_stop() {
        return send(process, sig, info);
    }
    if process.state() != State::Running {
        return;
    }
    let state = process.signals();
    let action = state.action(sig);
    if thread.signals().queue.lock().post(sig, info, &action) == super::Posted::Discarded {
        return;
    }
    thread.signals().notify();
}

/// Posts `sig` with `info` to `process` (Linux's `send_signal`): the
/// effect of `SIGCONT` (continue a stopped process, tell the parent)
/// happens now; otherwise the signal becomes pending, unless ignored, and
/// whatever the process awaits in [`interruptible`] is woken. A process
/// that has exited ignores signals. Permission checks are the caller's
/// ([`may_signal`], [`check_may_signal`]); signals the kernel raises are
/// not checked.
pub fn send(process: &Process, sig: Signal, info: SigInfo) {
    if process.state() != State::Running {
        return;
    }
    let state = process.signals();
    if sig != SIGKILL && sig != SIGCONT && !sig.is_stop() {
        route(process, None, sig, info);
        return;
    }
    let action = state.action(sig);
    let posted = state.queue.lock().post(sig, info, &action);
    match posted {
        super::Posted::Discarded => return,
        super::Posted::Pending => {}
        super::Posted::Continued { .. } => {
            notify_parent_job(process, code::CLD_CONTINUED, SIGCONT, || {});
        }
    }
    wake_threads(process);
}

/// Raises a fault signal in `thread` (after its own trap):
/// delivered to a handler if one is installed and the signal is not
/// blocked, else the default action (a blocked or ignored fault signal is
/// unblocked and reset to the default, as Linux's `force_sig_info`). `trap`
/// goes into the handler's `sigcontext`.
pub fn force(thread: &Thread, sig: Signal, info: SigInfo, trap: TrapRegs) {
    let state = thread.process().signals();
    let actions = state.actions();
    let mut actions = actions.lock();
    let mut queue = thread.signals().queue.lock();
    let action = actions.get(sig);
    if queue.blocked.contains(sig) || action.handler == super::SIG_IGN {
        actions.set(sig, SigAction::default());
        queue.blocked.remove(sig);
    }
    queue.pending.remove(sig);
    queue.post(sig, info, &actions.get(sig));
    queue.trap = trap;
}

/// [`force`] with the action reset to the default first (a signal frame
/// that could not be written: Linux's `force_sigsegv`).
fn force_default(thread: &Thread, sig: Signal) {
    thread
        .process()
        .signals()
        .actions()
        .lock()
        .set(sig, SigAction::default());
    force(thread, sig, SigInfo::kernel(sig), TrapRegs::default());
}

/// Whom `kill` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillTarget {
    /// One process.
    Pid(Pid),
    /// Every process of a group.
    Group(Pid),
    /// Every process but init and the sender (`kill(-1, ..)`).
    All { sender: Pid },
}

/// Whether `sender` may send `sig` to `target` (`None`: the existence
/// check of signal 0, which needs the same permission): POSIX's rule,
/// [`crate::proc::cred::Creds::may_signal`] (root, or the sender's real
/// or effective uid is the target's real or saved uid), or `SIGCONT` to a
/// process of the sender's session. The one check of every signal a
/// process asks for: `kill`, `tkill`/`tgkill`, `pdkill`,
/// `pidfd_send_signal`.
pub fn may_signal(sender: &Process, target: &Process, sig: Option<Signal>) -> bool {
    sender.creds().may_signal(&target.creds())
        || (sig == Some(SIGCONT) && sender.sid() == target.sid())
}

/// [`may_signal`] as a result: `EPERM` when not allowed.
pub fn check_may_signal(
    sender: &Process,
    target: &Process,
    sig: Option<Signal>,
) -> Result<(), Errno> {
    if may_signal(sender, target, sig) {
        Ok(())
    } else {
        Err(Errno::EPERM)
    }
}

/// Sends `sig` (`None`: only check that the target exists, `kill(pid,
/// 0)`) to `target` with `info`, on behalf of `sender` (`None`: the
/// kernel, which may signal anyone). `ESRCH` when no process matched.
/// Zombies count as existing (and ignore the signal), as on Linux.
/// Processes `sender` may not signal ([`may_signal`]) are skipped: `EPERM`
/// when that leaves none of a process or a group; `kill(-1)` succeeds when
/// it found anyone at all (Linux's `kill_something_info`).
pub fn kill(
    target: KillTarget,
    sig: Option<Signal>,
    info: SigInfo,
    sender: Option<&Process>,
) -> Result<(), Errno> {
    let victims: Vec<Arc<Process>> = match target {
        KillTarget::Pid(pid) => process::lookup(pid).into_iter().collect(),
        KillTarget::Group(pgid) => process::group_members(pgid),
        KillTarget::All { sender } => process::all()
            .into_iter()
            .filter(|p| p.pid() != Pid::INIT && p.pid() != sender)
            .collect(),
    };
    if victims.is_empty() {
        return Err(Errno::ESRCH);
    }
    let allowed: Vec<&Arc<Process>> = victims
        .iter()
        .filter(|p| sender.is_none_or(|s| may_signal(s, p, sig)))
        .collect();
    if allowed.is_empty() && !matches!(target, KillTarget::All { .. }) {
        return Err(Errno::EPERM);
    }
    if let Some(sig) = sig {
        for p in allowed {
            send(p, sig, info);
        }
    }
    Ok(())
}

/// Sends `sig` from the kernel (`SI_KERNEL`) to every process of group
/// `pgid`: the terminal's `SIGINT`/`SIGQUIT`/`SIGTSTP` to its foreground
/// group. `ESRCH` when the group is empty. Task context only, like
/// [`send`] (not an interrupt handler: it takes the process table's and
/// the processes' spin locks, which interrupted kernel code may hold); a
/// terminal's receive interrupt should wake its input task, which calls
/// this.
pub fn kill_pgrp(pgid: Pid, sig: Signal) -> Result<(), Errno> {
    kill(
        KillTarget::Group(pgid),
        Some(sig),
        SigInfo::kernel(sig),
        None,
    )
}

/// Runs `fut` until it completes (`Ok(output)`) or a signal the mask lets
/// through is pending in `process` (`Err(EINTR)`; `fut` is dropped, so it
/// must be cancel-safe). What every blocking system call awaits through:
/// pipe and terminal reads, `nanosleep`, `wait4`, vfork's wait.
///
/// No wake-up is lost: the signal event is queued before the pending set
/// is checked ([`Event::wait_until`]). A signal already pending when the
/// call starts interrupts it at once, unless `fut` is ready on its first
/// poll. Return the `EINTR` from the system call: the thread loop then
/// runs the call again when the signal had no handler (a stop and
/// continue) or a handler with `SA_RESTART`, for the calls
/// [`super::restart_policy`] lists (add yours there); otherwise the
/// program sees `EINTR` (`docs/signals.md`).
pub async fn interruptible<F: Future>(process: &Process, fut: F) -> Result<F::Output, Errno> {
    let state = process.signals();
    // The calling thread's mask decides (a kernel task has none: the
    // process's own queue does).
    let thread =
        crate::proc::thread::current().filter(|t| core::ptr::eq(t.process().as_ref(), process));
    futures_util::pin_mut!(fut);
    match &thread {
        // A thread waits in its own slot (`ThreadSignals::waiter`),
        // registered before the pending set is checked, as
        // `Event::wait_until` queues first: a sender posts (under the queue
        // lock) and then wakes, so either the check sees the signal or the
        // wake finds the registration (`AtomicWaker`'s guarantee).
        Some(t) => {
            let signals = t.signals();
            let signalled = core::future::poll_fn(|cx| {
                signals.waiter.register(cx.waker());
                if thread_has_deliverable(t) {
                    core::task::Poll::Ready(())
                } else {
                    core::task::Poll::Pending
                }
            });
            let outcome = select(fut, signalled).await;
            // No stale waker left behind (it would keep the task alive).
            drop(signals.waiter.take());
            match outcome {
                Either::Left((output, _)) => Ok(output),
                Either::Right(((), _)) => Err(Errno::EINTR),
            }
        }
        // A kernel task waits on the process's event.
        None => {
            let signalled = state.event.wait_until(|| state.has_deliverable());
            match select(fut, signalled).await {
                Either::Left((output, _)) => Ok(output),
                Either::Right(((), _)) => Err(Errno::EINTR),
            }
        }
    }
}

/// Waits until a signal the mask lets through is pending (`pause`,
/// `rt_sigsuspend`).
pub async fn wait_for_signal(process: &Process) {
    // Never completes: `interruptible` ends it.
    let _ = interruptible(process, core::future::pending::<()>()).await;
}

/// Tells the parent of `child` that it stopped or continued: wakes its
/// `wait4` and sends it `SIGCHLD` (`CLD_STOPPED`/`CLD_CONTINUED`, with the
/// signal as `si_status`) unless its `SIGCHLD` action has `SA_NOCLDSTOP`.
/// `before_wake` runs between the signal and the wake-up.
fn notify_parent_job(child: &Process, code: i32, sig: Signal, before_wake: impl FnOnce()) {
    let ppid = child.ppid();
    if let Some(parent) = process::lookup(ppid)
        && parent.signals().action(SIGCHLD).flags & sa::NOCLDSTOP == 0
    {
        let info = SigInfo::child(SIGCHLD, code, child.pid().as_u32(), i32::from(sig.number()));
        send(&parent, SIGCHLD, info);
    }
    before_wake();
    process::mark_ready(child);
    process::notify_parent(ppid);
    // `pdwait` waits on the PID's exit event.
    crate::proc::procdesc::notify_exit(child.pid());
}

/// Tells the parent of `child`, which just exited with wait status
/// `status`, with `child`'s exit signal (`SIGCHLD` after fork;
/// `CLD_EXITED` with the exit code or `CLD_KILLED` with the signal).
/// Returns whether the parent reaps its children automatically (its
/// `SIGCHLD` action is `SIG_IGN` or has `SA_NOCLDWAIT`, POSIX's rule), in
/// which case the caller reaps `child` now. `parent` is the parent
/// (`None`: the kernel), looked up by the caller.
pub fn exit_notify(child: &Process, parent: Option<&Process>, status: i32) -> bool {
    let Some(parent) = parent else {
        return false;
    };
    let chld = parent.signals().action(SIGCHLD);
    let autoreap = child.exit_signal() == Some(SIGCHLD.number())
        && (chld.handler == super::SIG_IGN || chld.flags & sa::NOCLDWAIT != 0);
    if let Some(sig) = child.exit_signal().and_then(|n| Signal::new(u32::from(n))) {
        let (code, value) = if status & 0x7f != 0 {
            (code::CLD_KILLED, status & 0x7f)
        } else {
            (code::CLD_EXITED, (status >> 8) & 0xff)
        };
        send(
            parent,
            sig,
            SigInfo::child(sig, code, child.pid().as_u32(), value),
        );
    }
    autoreap
}

/// Whether [`deliver`] may have work for `thread`: false while nothing
/// changed its process's queue or its own since `deliver` last found
/// nothing (`QueueLock`), so that the return to user mode after a
/// resolved page fault can skip it (`thread::run`). Lock-free.
pub fn needs_attention(thread: &Thread) -> bool {
    thread.process().signals().queue.needs_attention() || thread.signals().queue.needs_attention()
}

/// Handles the pending signals `process`'s thread may take before it
/// returns to user mode with `ctx` (module docs): default actions and
/// handler frames, as many as are deliverable. `interrupted` is the system
/// call that just returned `EINTR`, if it may restart: it runs again when
/// no handler runs, or when the first handler has `SA_RESTART` and the
/// call allows it (`super::Interrupted::restarts_with`). `Some(wait
/// status)` when a signal ends the process.
pub async fn deliver(
    thread: &Thread,
    space: &AddressSpace,
    ctx: &mut UserContext,
    mut interrupted: Option<super::Interrupted>,
) -> Option<i32> {
    let process = thread.process().as_ref();
    let state = process.signals();
    // The common case, without a lock: nothing changed in the process's
    // queue or this thread's since the last return found nothing
    // (`QueueLock`).
    if !needs_attention(thread) {
        if let Some(call) = interrupted
            && call.restarts_with(None)
        {
            call.rewind(ctx);
        }
        return None;
    }
    // Parked for another thread's single-threading: the call it
    // interrupted runs again (FreeBSD's ERESTART) unless a handler runs.
    let mut restart_after_park = false;
    loop {
        let me = thread.tid().as_u32();
        let parked = {
            let mut queue = state.queue.lock();
            let park = queue.single.is_some_and(|t| t != me) && queue.group_exit.is_none();
            if park {
                queue.parked += 1;
            }
            park
        };
        if parked {
            state.event.notify_all();
            state
                .event
                .wait_until(|| {
                    let queue = state.queue.lock();
                    queue.single.is_none() || queue.group_exit.is_some()
                })
                .await;
            state.queue.lock().parked -= 1;
            restart_after_park = true;
        }
        // A stopped process: every thread waits here.
        if state.is_stopped() {
            state
                .event
                .wait_until(|| {
                    let queue = state.queue.lock();
                    !queue.stopped || queue.pending.contains(SIGKILL) || queue.group_exit.is_some()
                })
                .await;
        }
        let (sig, info, action, old_mask, trap) = {
            let actions = state.actions();
            let mut actions = actions.lock();
            let mut shared = state.queue.lock();
            if let Some(status) = shared.group_exit {
                return Some(status);
            }
            let mut queue = thread.signals().queue.lock();
            // SIGKILL of the process first, then the thread's own (faults
            // among them), then the process's.
            let own = queue.next();
            let from_shared = shared
                .next_with(queue.blocked)
                .filter(|&s| s == SIGKILL || own.is_none());
            let next = from_shared.or(own);
            let Some(sig) = next else {
                // `rt_sigsuspend`'s mask, if no handler took it over.
                if let Some(mask) = queue.take_saved_mask() {
                    // A signal the old mask held back may be deliverable
                    // now: look again next time.
                    queue.blocked = mask;
                } else {
                    state.queue.settle(&shared);
                    thread.signals().queue.settle(&queue);
                }
                drop(queue);
                drop(shared);
                if let Some(call) = interrupted
                    && (call.restarts_with(None) || restart_after_park)
                {
                    call.rewind(ctx);
                }
                return None;
            };
            let info = if from_shared.is_some() {
                shared.take(sig)
            } else {
                queue.take(sig)
            };
            let action = actions.get(sig);
            let old_mask = queue.blocked;
            if let Disposition::Catch(act) = action.disposition(sig) {
                if act.flags & sa::RESETHAND != 0 {
                    actions.set(sig, SigAction::default());
                }
            } else if sig.is_stop() {
                shared.stop_dequeued = true;
            }
            let trap = if super::SigSet::SYNCHRONOUS.contains(sig) {
                core::mem::take(&mut queue.trap)
            } else {
                TrapRegs::default()
            };
            (sig, info, action, old_mask, trap)
        };
        match action.disposition(sig) {
            Disposition::Ignore
            | Disposition::Default(DefaultAction::Ignore | DefaultAction::Continue) => {}
            Disposition::Default(DefaultAction::Terminate | DefaultAction::CoreDump) => {
                return Some(signal_status(sig));
            }
            Disposition::Default(DefaultAction::Stop) => stop(process, sig).await,
            Disposition::Catch(act) => {
                // The frame saves the registers the handler returns to: the
                // call again, or its EINTR.
                if let Some(call) = interrupted.take()
                    && call.restarts_with(Some(&act))
                {
                    call.rewind(ctx);
                }
                if setup_handler(thread, space, ctx, sig, &info, &act, old_mask, trap).is_err() {
                    log::info!(
                        "{}[{}]: cannot write the frame for {sig} (rsp {:#x}): SIGSEGV",
                        process.name(),
                        process.pid(),
                        ctx.rsp
                    );
                    force_default(thread, SIGSEGV);
                }
            }
        }
    }
}

/// Stops `process` with `sig` until `SIGCONT` or `SIGKILL` (its thread's
/// future waits on the signal event), telling the parent first.
async fn stop(process: &Process, sig: Signal) {
    let state = process.signals();
    {
        let mut queue = state.queue.lock();
        // A `SIGCONT` since the stop signal was taken cancels it (Linux's
        // `SIGNAL_STOP_DEQUEUED`); a pending `SIGKILL` wins.
        if !queue.stop_dequeued || queue.pending.contains(SIGKILL) {
            return;
        }
        queue.stop_dequeued = false;
        queue.stopped = true;
    }
    log::debug!("{}[{}]: stopped by {sig}", process.name(), process.pid());
    // SIGCHLD first, then the report `wait4` takes: a waiter that sees the
    // stop finds the signal pending.
    notify_parent_job(process, code::CLD_STOPPED, sig, || {
        state.queue.lock().report = Some(JobReport::Stopped(sig));
    });
    state
        .event
        .wait_until(|| {
            let queue = state.queue.lock();
            !queue.stopped || queue.pending.contains(SIGKILL) || queue.group_exit.is_some()
        })
        .await;
    state.queue.lock().stopped = false;
}

/// Writes the frame for handler `act` of `sig` and points `ctx` at the
/// handler (Linux's `handle_signal`); then blocks `sa_mask` and `sig`
/// (unless `SA_NODEFER`). `EFAULT` if the frame cannot be written (or the
/// action has no `SA_RESTORER`: there would be nowhere to return to).
#[expect(clippy::too_many_arguments, reason = "one call site, all distinct")]
fn setup_handler(
    thread: &Thread,
    space: &AddressSpace,
    ctx: &mut UserContext,
    sig: Signal,
    info: &SigInfo,
    act: &SigAction,
    mask_now: SigSet,
    trap: TrapRegs,
) -> Result<(), Errno> {
    if act.flags & sa::RESTORER == 0 {
        return Err(Errno::EFAULT);
    }
    let state = thread.signals();
    let (altstack, saved_mask) = {
        let queue = state.queue.lock();
        (queue.altstack, queue.saved_mask())
    };
    let old_mask = saved_mask.unwrap_or(mask_now);
    let use_alt = act.flags & sa::ONSTACK != 0 && altstack.enabled && !altstack.contains(ctx.rsp);
    let sp = if use_alt {
        altstack.sp.wrapping_add(altstack.size)
    } else {
        ctx.rsp
    };
    let (frame_addr, fpstate) = frame::layout(sp, use_alt).ok_or(Errno::EFAULT)?;
    let bytes = frame::build(
        ctx,
        &FrameArgs {
            restorer: act.restorer,
            info,
            old_mask,
            uc_stack: altstack.to_bytes(ctx.rsp),
            fpstate,
            trap,
        },
    );
    space.copy_to_user(fpstate, &frame::fpstate_bytes(ctx))?;
    space.copy_to_user(frame_addr, &bytes)?;
    frame::enter_handler(ctx, act.handler, sig.number(), frame_addr);
    // The handler starts with a clean FPU (Linux's `fpu__clear_user_states`).
    ctx.set_fpu(FpuState::default());
    let mut queue = state.queue.lock();
    if use_alt && altstack.autodisarm {
        queue.altstack = super::AltStack::default();
    }
    queue.take_saved_mask();
    let mut blocked = queue.blocked.union(act.mask);
    if act.flags & sa::NODEFER == 0 {
        blocked.add(sig);
    }
    queue.blocked = blocked.blockable();
    Ok(())
}

/// `rt_sigreturn`: restores the registers, the FPU state, the mask and the
/// alternate stack from the frame the handler was entered with (its
/// `ret` popped the return address: the frame is at `rsp - 8`). A frame
/// that cannot be read is `SIGSEGV` (forced default), as on Linux.
/// Returns the restored `rax`.
pub fn sigreturn(thread: &Thread, space: &AddressSpace, ctx: &mut UserContext) -> u64 {
    let process = thread.process();
    match restore_frame(thread, space, ctx) {
        Ok(()) => ctx.rax,
        Err(_) => {
            log::info!(
                "{}[{}]: rt_sigreturn with a bad frame (rsp {:#x}): SIGSEGV",
                process.name(),
                process.pid(),
                ctx.rsp
            );
            force_default(thread, SIGSEGV);
            ctx.rax
        }
    }
}

fn restore_frame(
    thread: &Thread,
    space: &AddressSpace,
    ctx: &mut UserContext,
) -> Result<(), Errno> {
    let frame_addr = ctx.rsp.checked_sub(8).ok_or(Errno::EFAULT)?;
    let mut bytes = [0u8; frame::FRAME_SIZE];
    space.copy_from_user(frame_addr, &mut bytes)?;
    let mut restored = ctx.clone();
    let r = frame::restore(&mut restored, &bytes);
    let mut fpu = FpuState::default();
    if r.fpstate != 0 {
        space.copy_from_user(r.fpstate, &mut fpu.0)?;
    }
    restored.set_fpu(fpu);
    *ctx = restored;
    set_thread_mask(thread, r.mask);
    let state = thread.signals();
    // Linux's `restore_altstack`: as `sigaltstack` would, errors ignored.
    if let Ok(alt) = super::AltStack::from_bytes(&r.uc_stack) {
        let mut queue = state.queue.lock();
        if !queue.altstack.contains(ctx.rsp) {
            queue.altstack = alt;
        }
    }
    Ok(())
}
