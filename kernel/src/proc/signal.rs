//! Signals: numbers, sets, actions, per-process state, delivery.
//!
//! Linux x86-64 numbering and layouts throughout, so musl programs see
//! what they see on Linux (`docs/signals.md` is the full description).
//!
//! Pure logic (host-tested):
//! - [`Signal`] (1..=64) and [`SigSet`] (`sigset_t`: bit `n - 1` for
//!   signal `n`), [`default_action`] (Linux's table);
//! - [`SigAction`] (the kernel's `struct sigaction` for `rt_sigaction`)
//!   and [`SigActions`], the 64 dispositions of a process, kept in an
//!   `Arc<spin::Mutex<_>>` so processes can share them (`CLONE_SIGHAND`,
//!   `RFSIGSHARE`); [`SigActions::fork_copy`], [`SigActions::reset_caught`]
//!   (exec, posix_spawn);
//! - [`SigInfo`] (`siginfo_t`, 128 bytes), [`SigQueue`]: blocked mask,
//!   pending set, the siginfo of the first instance of each pending signal,
//!   the job-control state (stopped, what `wait4` has yet to report), the
//!   alternate stack, and the mask `rt_sigsuspend` will restore;
//! - [`frame`]: the `rt_sigframe` a handler runs on (build and restore,
//!   with the sanitising of what comes back from user memory).
//!
//! On the machine (`imp`):
//! - [`SignalState`]: one per process (`Process::signals()`), the queue
//!   of the process's signals under a spin lock, the shared actions, and
//!   an [`Event`](crate::task::Event) notified whenever a signal is posted
//!   or the process is continued; each thread's `ThreadSignals` (its mask,
//!   its own pending signals, its alternate stack) is in `imp`;
//! - [`send`], [`kill_pgrp`], [`kill`], [`force`]: posting signals;
//! - [`interruptible`]: how a blocking system call lets a signal interrupt
//!   it (`EINTR`);
//! - [`deliver`]: what the thread loop runs before every return to user
//!   mode: default actions (terminate, ignore, stop, continue) and
//!   handlers (the frame, the new mask).
//!
//! Lock order: a process's actions (the outer `Arc` holder, then the
//! `SigActions` mutex) before its queue; the process table before either.
//! Neither is held across an `await`, a wake-up or a lookup of another
//! process.

pub mod frame;

use alloc::sync::Arc;
use alloc::vec::Vec;

pub use abi::signal::*;

/// What a signal does when no handler catches it (Linux's table, `man 7
/// signal`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    /// The process ends; its wait status is the signal number.
    Terminate,
    /// `Terminate` with a core dump on Linux; Tine writes no core files,
    /// so the status is the same as `Terminate` (no `0x80` flag).
    CoreDump,
    /// Nothing happens.
    Ignore,
    /// The process stops until `SIGCONT` (or dies of `SIGKILL`).
    Stop,
    /// `SIGCONT`: the continuing happened when it was sent; delivering it
    /// is then ignoring it.
    Continue,
}

/// The default action of `sig`. Real-time signals terminate.
pub const fn default_action(sig: Signal) -> DefaultAction {
    match sig.number() {
        3..=8 | 11 | 24 | 25 | 31 => DefaultAction::CoreDump,
        17 | 23 | 28 => DefaultAction::Ignore,
        18 => DefaultAction::Continue,
        19..=22 => DefaultAction::Stop,
        _ => DefaultAction::Terminate,
    }
}

/// What a process does with one signal: the kernel's `struct sigaction`
/// as `rt_sigaction` passes it (`handler, flags, restorer, mask`, 32
/// bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    /// `SIG_DFL`, `SIG_IGN` or the handler's address.
    pub handler: u64,
    /// `SA_*` ([`sa`]).
    pub flags: u64,
    /// Where the handler returns to (it calls `rt_sigreturn`).
    pub restorer: u64,
    /// Blocked while the handler runs (never `SIGKILL`/`SIGSTOP`).
    pub mask: SigSet,
}

/// What delivery does with a signal, from its action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// The default action.
    Default(DefaultAction),
    /// Discard it (`SIG_IGN`).
    Ignore,
    /// Run the handler of this action.
    Catch(SigAction),
}

impl SigAction {
    /// The size of the user structure.
    pub const SIZE: usize = 32;

    /// Parses the user structure; the mask loses `SIGKILL`/`SIGSTOP`.
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> SigAction {
        let word = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        SigAction {
            handler: word(0),
            flags: word(1),
            restorer: word(2),
            mask: SigSet(word(3)).blockable(),
        }
    }

    /// The user structure.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        for (i, w) in [self.handler, self.flags, self.restorer, self.mask.0]
            .into_iter()
            .enumerate()
        {
            b[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        b
    }

    /// What delivering `sig` under this action does.
    pub fn disposition(&self, sig: Signal) -> Disposition {
        if sig.is_unblockable() {
            return Disposition::Default(default_action(sig));
        }
        match self.handler {
            SIG_DFL => Disposition::Default(default_action(sig)),
            SIG_IGN => Disposition::Ignore,
            _ => Disposition::Catch(*self),
        }
    }

    /// Whether `sig` under this action is discarded without effect:
    /// `SIG_IGN`, or a default action of ignoring (`SIGCONT`'s default is
    /// too: its effect happens when it is sent).
    pub fn ignores(&self, sig: Signal) -> bool {
        match self.disposition(sig) {
            Disposition::Ignore => true,
            Disposition::Default(a) => matches!(a, DefaultAction::Ignore | DefaultAction::Continue),
            Disposition::Catch(_) => false,
        }
    }
}

/// The 64 actions of a process (or of processes that share them).
///
/// The table (2 KiB) is copy-on-write: a fork's copy shares it until one
/// side changes an action (`Arc::make_mut`), so the usual fork, whose
/// child never calls `sigaction`, costs a reference count instead of
/// 2 KiB per process (`docs/memory.md`). Sharing in the `CLONE_SIGHAND`
/// sense (one table that both see change) is the `SharedActions` lock
/// around this.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigActions(Arc<[SigAction; NSIG as usize]>);

impl Default for SigActions {
    fn default() -> Self {
        Self(Arc::new([SigAction::default(); NSIG as usize]))
    }
}

impl SigActions {
    /// Every signal at its default action.
    pub fn new() -> Self {
        Self::default()
    }

    /// The action of `sig`.
    pub fn get(&self, sig: Signal) -> SigAction {
        self.0[sig.index()]
    }

    /// Sets the action of `sig`.
    pub fn set(&mut self, sig: Signal, action: SigAction) {
        if self.0[sig.index()] != action {
            Arc::make_mut(&mut self.0)[sig.index()] = action;
        }
    }

    /// A fork child's actions: an independent copy (FreeBSD's
    /// `sigacts_copy`), made lazily (type docs).
    pub fn fork_copy(&self) -> SigActions {
        self.clone()
    }

    /// What exec (and posix_spawn with `POSIX_SPAWN_SETSIGDEF`-less
    /// defaults) leaves: caught signals go back to the default action,
    /// ignored ones stay ignored, flags and masks of the default ones are
    /// cleared (FreeBSD's `execsigs`, `FR2_DROPSIG_CAUGHT`).
    pub fn reset_caught(&mut self) {
        let reset = |a: &SigAction| {
            if a.handler == SIG_IGN {
                SigAction {
                    handler: SIG_IGN,
                    ..SigAction::default()
                }
            } else {
                SigAction::default()
            }
        };
        if self.0.iter().all(|a| reset(a) == *a) {
            return;
        }
        for a in Arc::make_mut(&mut self.0).iter_mut() {
            *a = reset(a);
        }
    }

    /// The signals this table ignores ([`SigAction::ignores`]).
    pub fn ignored(&self) -> SigSet {
        let mut set = SigSet::EMPTY;
        for n in 1..=NSIG {
            let Some(sig) = Signal::new(u32::from(n)) else {
                continue;
            };
            if self.get(sig).ignores(sig) {
                set.add(sig);
            }
        }
        set
    }
}

/// What `wait4` has yet to be told about a child's job-control state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobReport {
    /// It stopped with this signal (`WUNTRACED`: status `sig << 8 | 0x7f`).
    Stopped(Signal),
    /// It continued (`WCONTINUED`: status `0xffff`).
    Continued,
}

impl JobReport {
    /// The wait status.
    pub const fn wait_status(self) -> i32 {
        match self {
            JobReport::Stopped(sig) => ((sig.number() as i32) << 8) | 0x7f,
            JobReport::Continued => 0xffff,
        }
    }
}

/// `sigaltstack`'s stack (`stack_t`: `ss_sp`, `ss_flags`, `ss_size`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AltStack {
    pub sp: u64,
    pub size: u64,
    /// `SS_AUTODISARM` was asked for.
    pub autodisarm: bool,
    /// Set up (not `SS_DISABLE`).
    pub enabled: bool,
}

impl AltStack {
    /// The size of `stack_t`.
    pub const SIZE: usize = 24;

    /// Whether `sp` is on the stack (Linux's `on_sig_stack`).
    pub fn contains(&self, sp: u64) -> bool {
        self.enabled && sp > self.sp && sp - self.sp <= self.size
    }

    /// `stack_t` as `sigaltstack` reports it for a thread at `sp`.
    pub fn to_bytes(&self, sp: u64) -> [u8; Self::SIZE] {
        let flags = if !self.enabled {
            ss::DISABLE
        } else if self.contains(sp) {
            ss::ONSTACK
        } else if self.autodisarm {
            ss::AUTODISARM
        } else {
            0
        };
        let (base, size) = if self.enabled {
            (self.sp, self.size)
        } else {
            (0, 0)
        };
        let mut b = [0u8; Self::SIZE];
        b[0..8].copy_from_slice(&base.to_le_bytes());
        b[8..12].copy_from_slice(&flags.to_le_bytes());
        b[16..24].copy_from_slice(&size.to_le_bytes());
        b
    }

    /// Parses `stack_t` as `sigaltstack` takes it: `EINVAL` for unknown
    /// flags, `ENOMEM` for a stack below [`MINSIGSTKSZ`].
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Result<AltStack, abi::Errno> {
        use abi::Errno;
        let sp = u64::from_le_bytes(b[0..8].try_into().expect("8 bytes"));
        let flags = i32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
        let size = u64::from_le_bytes(b[16..24].try_into().expect("8 bytes"));
        let mode = flags & !ss::AUTODISARM;
        if mode != 0 && mode != ss::DISABLE && mode != ss::ONSTACK {
            return Err(Errno::EINVAL);
        }
        if mode == ss::DISABLE {
            return Ok(AltStack::default());
        }
        if size < MINSIGSTKSZ {
            return Err(Errno::ENOMEM);
        }
        Ok(AltStack {
            sp,
            size,
            autodisarm: flags & ss::AUTODISARM != 0,
            enabled: true,
        })
    }
}

/// What posting a signal did, for the sender's follow-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Posted {
    /// Discarded (ignored, or already pending).
    Discarded,
    /// Now pending.
    Pending,
    /// `SIGCONT` continued the stopped process (tell the parent), and
    /// `pending` says whether it is also pending (caught).
    Continued { pending: bool },
}

/// A process's signal queue and job-control state (module docs).
#[derive(Clone, Debug)]
pub struct SigQueue {
    /// The signal mask.
    pub blocked: SigSet,
    /// Posted, not yet delivered.
    pub pending: SigSet,
    /// The siginfo of each pending signal's first instance, by signal
    /// number: only the pending ones (a queue with nothing pending holds
    /// no heap; a table of all 64 would be 1.5 KiB in every process and
    /// thread, `docs/memory.md`).
    infos: Vec<(u8, SigInfo)>,
    /// The mask to restore once a handler has been set up
    /// (`rt_sigsuspend`), if `has_saved_mask` ([`SigQueue::saved_mask`]):
    /// two fields, not an `Option<SigSet>` (16 bytes, where the flag
    /// packs with the other flags here), in every thread's queue.
    saved_mask: SigSet,
    has_saved_mask: bool,
    /// Stopped by a stop signal, waiting for `SIGCONT`.
    pub stopped: bool,
    /// What `wait4` (`WUNTRACED`/`WCONTINUED`) has yet to report.
    pub report: Option<JobReport>,
    /// `sigaltstack`.
    pub altstack: AltStack,
    /// A stop signal was taken for delivery and no `SIGCONT` came since
    /// (Linux's `SIGNAL_STOP_DEQUEUED`).
    pub stop_dequeued: bool,
    /// The trap registers of the pending fault signal, for its frame.
    pub trap: frame::TrapRegs,
    /// The whole process is ending with this wait status (`exit_group`, a
    /// fatal signal): every thread leaves at its next return to user mode
    /// and every interruptible wait ends (`docs/threads.md`).
    pub group_exit: Option<i32>,
    /// A thread (this TID) is changing what the threads share and wants
    /// the others parked at their return to user mode (FreeBSD's
    /// `thread_single(SINGLE_BOUNDARY)`, `docs/threads.md`).
    pub single: Option<u32>,
    /// How many threads are parked for `single`.
    pub parked: u32,
    /// The mask before `rt_sigtimedwait` unblocked the signals it waits
    /// for (Linux's `real_blocked`): a signal in it is not discarded as
    /// ignored while the wait lasts.
    pub real_blocked: SigSet,
    /// The pending signals that were sent to the process and handed to
    /// this thread (a thread's queue only): if the thread blocks one
    /// before taking it, it goes back to the process
    /// (`signal::set_thread_mask`).
    pub routed: SigSet,
    /// The thread has ended alone and handed its pending signals to its
    /// process (a thread's queue only): a process signal is no longer
    /// handed to it (`signal::route` checks this, and the mask, under
    /// the queue's lock).
    pub ended: bool,
}

impl Default for SigQueue {
    fn default() -> Self {
        Self {
            blocked: SigSet::EMPTY,
            pending: SigSet::EMPTY,
            infos: Vec::new(),
            saved_mask: SigSet::EMPTY,
            has_saved_mask: false,
            stopped: false,
            report: None,
            altstack: AltStack::default(),
            stop_dequeued: false,
            trap: frame::TrapRegs::default(),
            group_exit: None,
            single: None,
            parked: 0,
            real_blocked: SigSet::EMPTY,
            routed: SigSet::EMPTY,
            ended: false,
        }
    }
}

impl SigQueue {
    /// The mask `rt_sigsuspend` (or `ppoll`, `pselect`) saved, to restore
    /// once a handler has been set up.
    pub fn saved_mask(&self) -> Option<SigSet> {
        self.has_saved_mask.then_some(self.saved_mask)
    }

    /// Saves `mask` (see [`Self::saved_mask`]).
    pub fn set_saved_mask(&mut self, mask: SigSet) {
        self.saved_mask = mask;
        self.has_saved_mask = true;
    }

    /// Takes the saved mask, leaving none.
    pub fn take_saved_mask(&mut self) -> Option<SigSet> {
        let mask = self.saved_mask();
        self.has_saved_mask = false;
        mask
    }
}

impl SigQueue {
    /// A fork child's queue: the parent's mask and alternate stack,
    /// nothing pending, running.
    pub fn fork_copy(&self) -> SigQueue {
        SigQueue {
            blocked: self.blocked,
            altstack: self.altstack,
            ..SigQueue::default()
        }
    }

    /// Posts `info`'s signal, whose action is `action` (Linux's
    /// `prepare_signal` + `send_signal`): `SIGCONT` continues a stopped
    /// process and discards pending stop signals; a stop signal discards a
    /// pending `SIGCONT`; an ignored signal that is not blocked is
    /// discarded; a pending standard signal keeps its first siginfo.
    pub fn post(&mut self, sig: Signal, info: SigInfo, action: &SigAction) -> Posted {
        let held = self.blocked.contains(sig) || self.real_blocked.contains(sig);
        self.post_held(sig, info, action, held)
    }

    /// [`SigQueue::post`] where `held` says whether the signal is blocked
    /// where it will be taken (a process's queue: by every thread), so an
    /// ignored one is kept pending.
    pub fn post_held(
        &mut self,
        sig: Signal,
        info: SigInfo,
        action: &SigAction,
        held: bool,
    ) -> Posted {
        let mut continued = false;
        if sig == SIGCONT {
            self.pending = self.pending.minus(SigSet::STOP);
            self.stop_dequeued = false;
            if self.stopped {
                self.stopped = false;
                self.report = Some(JobReport::Continued);
                continued = true;
            }
        } else if sig.is_stop() {
            self.pending.remove(SIGCONT);
        }
        let ignored = action.ignores(sig) && !held;
        let queued = if ignored || self.pending.contains(sig) {
            false
        } else {
            self.pending.add(sig);
            self.keep_info(sig, info);
            true
        };
        match (continued, queued) {
            (true, pending) => Posted::Continued { pending },
            (false, true) => Posted::Pending,
            (false, false) => Posted::Discarded,
        }
    }

    /// The pending signals the mask lets through.
    pub fn deliverable(&self) -> SigSet {
        self.pending.minus(self.blocked.blockable())
    }

    /// The next signal to deliver: `SIGKILL` first, then the synchronous
    /// ones (faults), then the lowest number.
    pub fn next(&self) -> Option<Signal> {
        self.next_with(self.blocked)
    }

    /// The pending signals `blocked` (a thread's mask, for the process's
    /// shared queue) lets through.
    pub fn deliverable_with(&self, blocked: SigSet) -> SigSet {
        self.pending.minus(blocked.blockable())
    }

    /// [`SigQueue::next`] under the mask `blocked`.
    pub fn next_with(&self, blocked: SigSet) -> Option<Signal> {
        let ready = self.deliverable_with(blocked);
        if ready.contains(SIGKILL) {
            return Some(SIGKILL);
        }
        ready
            .intersect(SigSet::SYNCHRONOUS)
            .lowest()
            .or_else(|| ready.lowest())
    }

    /// Removes `sig` from the pending set and returns its siginfo.
    pub fn take(&mut self, sig: Signal) -> SigInfo {
        self.pending.remove(sig);
        self.routed.remove(sig);
        match self.infos.iter().position(|&(n, _)| n == sig.number()) {
            Some(i) => self.infos.swap_remove(i).1,
            // Its siginfo could not be kept (no memory).
            None => SigInfo::kernel(sig),
        }
    }

    /// Records `info` for the newly pending `sig`, dropping the siginfo of
    /// signals no longer pending (a stop signal discarded by `SIGCONT`...).
    /// With no memory for it the signal stays pending without its siginfo
    /// ([`SigQueue::take`] then gives a kernel one).
    fn keep_info(&mut self, sig: Signal, info: SigInfo) {
        let pending = self.pending;
        self.infos.retain(|&(n, _)| {
            n != sig.number() && Signal::new(u32::from(n)).is_some_and(|s| pending.contains(s))
        });
        if self.infos.try_reserve(1).is_ok() {
            self.infos.push((sig.number(), info));
        }
    }

    /// Takes the pending signal of `set` that delivery would pick first
    /// (the synchronous ones, then the lowest number), blocked or not
    /// (`rt_sigtimedwait`); never `SIGKILL` or `SIGSTOP`.
    pub fn take_from(&mut self, set: SigSet) -> Option<(Signal, SigInfo)> {
        let ready = self.pending.intersect(set.blockable());
        let sig = ready
            .intersect(SigSet::SYNCHRONOUS)
            .lowest()
            .or_else(|| ready.lowest())?;
        Some((sig, self.take(sig)))
    }

    /// Takes the signals handed to this thread by its process that its
    /// mask now blocks (they go back to the process).
    pub fn take_blocked_routed(&mut self) -> Vec<(Signal, SigInfo)> {
        let mut out = Vec::new();
        while let Some(sig) = self
            .pending
            .intersect(self.routed)
            .intersect(self.blocked)
            .lowest()
        {
            out.push((sig, self.take(sig)));
        }
        out
    }

    /// Sets a thread's mask to `mask` (never holding `SIGKILL`/`SIGSTOP`)
    /// when that is all the change does, `shared` being its process's
    /// pending set: no pending signal, the thread's or the process's, is
    /// let through by the new mask (nothing becomes deliverable, nothing
    /// ignored is left to discard), and no signal routed to the thread
    /// is blocked by it (nothing goes back to the process). Returns
    /// whether it did; when not, nothing changed and the caller takes
    /// the whole way (`signal::set_thread_mask`).
    pub fn set_blocked_alone(&mut self, mask: SigSet, shared: SigSet) -> bool {
        let mask = mask.blockable();
        let let_through = self.pending.union(shared).minus(mask);
        let taken_back = self.pending.intersect(self.routed).intersect(mask);
        if !let_through.is_empty() || !taken_back.is_empty() {
            return false;
        }
        self.blocked = mask;
        true
    }

    /// Sets the mask (never holding `SIGKILL`/`SIGSTOP`), discarding the
    /// pending signals it unblocks that `ignored` ignores.
    pub fn set_blocked(&mut self, mask: SigSet, ignored: SigSet) {
        self.blocked = mask.blockable();
        let drop = self.pending.minus(self.blocked).intersect(ignored);
        self.pending = self.pending.minus(drop);
    }

    /// Takes what `wait4` may report with these options.
    pub fn take_report(&mut self, untraced: bool, continued: bool) -> Option<JobReport> {
        match self.report {
            Some(JobReport::Stopped(_)) if untraced => self.report.take(),
            Some(JobReport::Continued) if continued => self.report.take(),
            _ => None,
        }
    }

    /// What [`SigQueue::take_report`] would take, left in place
    /// (`WNOWAIT`).
    pub fn peek_report(&self, untraced: bool, continued: bool) -> Option<JobReport> {
        match self.report {
            Some(JobReport::Stopped(_)) if untraced => self.report,
            Some(JobReport::Continued) if continued => self.report,
            _ => None,
        }
    }

    /// Whether [`SigQueue::take_report`] would find something.
    pub fn has_report(&self, untraced: bool, continued: bool) -> bool {
        matches!(
            self.report,
            Some(JobReport::Stopped(_)) if untraced
        ) || matches!(self.report, Some(JobReport::Continued) if continued)
    }
}

/// Whether a system call that a signal interrupted (it returned `EINTR`)
/// runs again after the signal (Linux's `-ERESTARTSYS` and
/// `-ERESTARTNOHAND`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// Never: the program sees `EINTR`.
    Never,
    /// When no handler ran (a stop and continue, an ignored signal), or
    /// the handler's action has `SA_RESTART`: `read`, `write`, `wait4`, ...
    Sys,
    /// Only when no handler ran: `pause`, `rt_sigsuspend`.
    NoHandler,
}

/// How system call `nr` restarts after `EINTR`. Sleeps (`nanosleep`,
/// `clock_nanosleep`) and `futex` never do: Linux restarts them with the
/// remaining time, which Tine does not track, so they return `EINTR`;
/// `vfork` and `close` never restart on Linux either.
pub const fn restart_policy(nr: u64) -> Restart {
    use abi::nr;
    match nr {
        nr::READ
        | nr::WRITE
        | nr::READV
        | nr::WRITEV
        | nr::PREAD64
        | nr::PWRITE64
        | nr::IOCTL
        | nr::OPEN
        | nr::OPENAT
        | nr::WAIT4
        | nr::WAITID => Restart::Sys,
        // Linux: ERESTARTNOHAND (poll's restart block also restarts only
        // without a handler).
        nr::PAUSE | nr::RT_SIGSUSPEND | nr::POLL | nr::PPOLL | nr::SELECT | nr::PSELECT6 => {
            Restart::NoHandler
        }
        _ => Restart::Never,
    }
}

/// A system call a signal interrupted: its number and how it restarts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interrupted {
    pub nr: u64,
    pub restart: Restart,
}

impl Interrupted {
    /// What the thread loop records after system call `nr` returned `rax`:
    /// `Some` when it was `EINTR` (a call whose policy is
    /// [`Restart::Never`] runs again only after a single-threading park,
    /// `docs/threads.md`).
    pub fn after(nr: u64, rax: u64) -> Option<Interrupted> {
        let restart = restart_policy(nr);
        (rax == abi::Errno::EINTR.to_user()).then_some(Interrupted { nr, restart })
    }

    /// Whether it restarts given the handler about to run (`None`: no
    /// handler ran).
    pub fn restarts_with(&self, handler: Option<&SigAction>) -> bool {
        match (self.restart, handler) {
            (Restart::Never, _) => false,
            (_, None) => true,
            (Restart::Sys, Some(act)) => act.flags & sa::RESTART != 0,
            (Restart::NoHandler, Some(_)) => false,
        }
    }

    /// Sets the thread up to execute the `syscall` instruction again:
    /// `rax` = the number, `rip` back over the 2-byte instruction (the
    /// arguments are still in their registers).
    pub fn rewind(&self, ctx: &mut arch::user::UserContext) {
        ctx.rax = self.nr;
        ctx.rip = ctx.rip.wrapping_sub(2);
    }
}

#[cfg(target_os = "none")]
mod imp;
#[cfg(target_os = "none")]
pub use imp::*;

#[cfg(test)]
mod tests;
