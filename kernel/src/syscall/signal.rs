//! The signal, process-group and session system calls: `rt_sigaction`,
//! `rt_sigprocmask`, `rt_sigreturn`, `rt_sigpending`, `rt_sigsuspend`,
//! `rt_sigtimedwait`, `pause`, `sigaltstack`, `kill`, `tkill`, `tgkill`, `setpgid`,
//! `getpgid`, `getpgrp`, `setsid`, `getsid`.
//!
//! Argument checks follow Linux's order (which error wins when several
//! apply); `docs/syscalls.md` has a row per call, `docs/signals.md` the
//! design. The kernel side is `proc::signal` and `proc::process`.

use arch::user::UserContext;

use crate::proc::pid::Pid;
use crate::proc::process::{self, Process};
use crate::proc::signal::{self, AltStack, KillTarget, SigAction, SigInfo, SigSet, Signal};
use crate::proc::thread::Thread;
use crate::vm::space::AddressSpace;
use abi::{Errno, SysResult};

/// `sizeof(sigset_t)` as the kernel takes it.
const SIGSET_SIZE: u64 = 8;

/// `rt_sigprocmask`'s `how`.
const SIG_BLOCK: u64 = 0;
const SIG_UNBLOCK: u64 = 1;
const SIG_SETMASK: u64 = 2;

fn read_u64(space: &AddressSpace, va: u64) -> Result<u64, Errno> {
    let mut b = [0u8; 8];
    space.copy_from_user(va, &mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// A signal number from a system call argument: `EINVAL` outside 1..=64.
fn signal_arg(sig: u64) -> Result<Signal, Errno> {
    u32::try_from(sig)
        .ok()
        .and_then(Signal::new)
        .ok_or(Errno::EINVAL)
}

/// `rt_sigaction(sig, act, oact, sigsetsize)`: `EINVAL` for a size other
/// than 8, a signal outside 1..=64, or a new action for `SIGKILL`/`SIGSTOP`;
/// `EFAULT` for a bad `act` (nothing changes) or `oact` (the new action is
/// already set, Linux's order). Setting `SIG_IGN` (or a default that
/// ignores) discards the pending instances of the signal (POSIX).
pub fn rt_sigaction(
    process: &Process,
    space: &AddressSpace,
    [sig, act, oact, size]: [u64; 4],
) -> SysResult {
    if size != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let sig = signal_arg(sig)?;
    let new = if act != 0 {
        let mut b = [0u8; SigAction::SIZE];
        space.copy_from_user(act, &mut b)?;
        Some(SigAction::from_bytes(&b))
    } else {
        None
    };
    if new.is_some() && sig.is_unblockable() {
        return Err(Errno::EINVAL);
    }
    let state = process.signals();
    let actions = state.actions();
    let old = {
        let mut actions = actions.lock();
        let old = actions.get(sig);
        if let Some(new) = new {
            actions.set(sig, new);
            if new.ignores(sig) {
                state.with_queue(|q| {
                    q.take(sig);
                });
                for t in process.threads() {
                    t.signals().with_queue(|q| {
                        q.take(sig);
                    });
                }
            }
        }
        old
    };
    if oact != 0 {
        space.copy_to_user(oact, &old.to_bytes())?;
    }
    Ok(0)
}

/// `rt_sigprocmask(how, set, oset, sigsetsize)`: `EINVAL` for a size
/// other than 8 or (with a `set`) an unknown `how`; `EFAULT` for a bad
/// `set` (nothing changes) or `oset` (the mask has changed). `SIGKILL` and
/// `SIGSTOP` are silently left out of the mask.
pub fn rt_sigprocmask(
    thread: &Thread,
    space: &AddressSpace,
    [how, set, oset, size]: [u64; 4],
) -> SysResult {
    if size != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let old = if set != 0 {
        let set = SigSet(read_u64(space, set)?);
        if !matches!(how, SIG_BLOCK | SIG_UNBLOCK | SIG_SETMASK) {
            return Err(Errno::EINVAL);
        }
        signal::change_thread_mask(thread, |old| match how {
            SIG_BLOCK => old.union(set),
            SIG_UNBLOCK => old.minus(set),
            _ => set,
        })
    } else {
        thread.signals().blocked()
    };
    if oset != 0 {
        space.copy_to_user(oset, &old.0.to_le_bytes())?;
    }
    Ok(0)
}

/// `rt_sigpending(set, sigsetsize)`: the pending signals that are blocked
/// (Linux: pending ∩ blocked). `EINVAL` for a size above 8 (a smaller one
/// gets that many bytes), `EFAULT` for a bad `set`.
pub fn rt_sigpending(thread: &Thread, space: &AddressSpace, set: u64, size: u64) -> SysResult {
    if size > SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let own = thread.signals();
    let pending = thread
        .process()
        .signals()
        .pending()
        .union(own.pending())
        .intersect(own.blocked());
    space.copy_to_user(set, &pending.0.to_le_bytes()[..size as usize])?;
    Ok(0)
}

/// `rt_sigsuspend(mask, sigsetsize)`: waits with `mask` as the mask until
/// a signal is delivered, then returns `EINTR`; the old mask comes back
/// once the handler has been set up (it is the frame's `uc_sigmask`).
/// `EINVAL` for a size other than 8, `EFAULT` for a bad `mask`.
pub async fn rt_sigsuspend(
    thread: &Thread,
    space: &AddressSpace,
    mask: u64,
    size: u64,
) -> SysResult {
    if size != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let mask = SigSet(read_u64(space, mask)?);
    let old = thread.signals().blocked();
    signal::set_thread_mask(thread, mask);
    thread.signals().with_queue(|q| q.set_saved_mask(old));
    signal::wait_for_signal(thread.process()).await;
    Err(Errno::EINTR)
}

/// `rt_sigtimedwait(set, info, timeout, sigsetsize)` (also musl's
/// `sigwaitinfo`, `sigtimedwait` and `sigwait`): takes a pending signal
/// of `set` (`SIGKILL`/`SIGSTOP` left out) sent to the calling thread or
/// its process, waiting for one if none is pending, and returns its
/// number, with its siginfo in `info` (NULL: not written). `timeout`
/// (NULL: none) is a relative monotonic time; once it passes, or at once
/// for a zero timeout, `EAGAIN`. A caught signal outside `set` ends the
/// wait with `EINTR` (not restarted). Linux's order of errors: `EINVAL`
/// for a size other than 8, `EFAULT` for a bad `set` or `timeout`,
/// `EINVAL` for a bad timespec, and `EFAULT` for a bad `info` (the signal
/// is taken nonetheless). The wait is `signal::timed_wait`.
pub async fn rt_sigtimedwait(
    thread: &Thread,
    space: &AddressSpace,
    [set, info, timeout, size]: [u64; 4],
) -> SysResult {
    use crate::syscall::time::{Timespec, clock, deadline_for};
    if size != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let set = SigSet(read_u64(space, set)?);
    let ts = if timeout != 0 {
        let mut raw = [0u8; 16];
        space.copy_from_user(timeout, &mut raw)?;
        Some(Timespec::from_bytes(raw))
    } else {
        None
    };
    let deadline = ts
        .map(|ts| deadline_for(clock::MONOTONIC, 0, ts))
        .transpose()?;
    let poll_only = ts.is_some_and(|ts| ts.sec == 0 && ts.nsec == 0);
    let (sig, siginfo) = signal::timed_wait(thread, set, deadline, poll_only).await?;
    if info != 0 {
        space.copy_to_user(info, &siginfo.to_bytes())?;
    }
    Ok(u64::from(sig.number()))
}

/// `pause()`: waits until a signal is delivered; always `EINTR`.
pub async fn pause(process: &Process) -> SysResult {
    signal::wait_for_signal(process).await;
    Err(Errno::EINTR)
}

/// `sigaltstack(ss, old_ss)`: `EFAULT` for a bad pointer, `EPERM` when
/// changing the stack while running on it, `EINVAL` for unknown flags,
/// `ENOMEM` for a stack smaller than `MINSIGSTKSZ` (2048). The old stack
/// is reported as it was before the change.
pub fn sigaltstack(
    thread: &Thread,
    space: &AddressSpace,
    ctx: &UserContext,
    ss: u64,
    old_ss: u64,
) -> SysResult {
    let state = thread.signals();
    let current = state.with_queue(|q| q.altstack);
    let old_bytes = current.to_bytes(ctx.rsp);
    if ss != 0 {
        let mut b = [0u8; AltStack::SIZE];
        space.copy_from_user(ss, &mut b)?;
        if current.contains(ctx.rsp) {
            return Err(Errno::EPERM);
        }
        let new = AltStack::from_bytes(&b)?;
        state.with_queue(|q| q.altstack = new);
    }
    if old_ss != 0 {
        space.copy_to_user(old_ss, &old_bytes)?;
    }
    Ok(0)
}

/// A signal argument of `kill`: 0 is the existence check (`None`).
fn kill_signal(sig: u64) -> Result<Option<Signal>, Errno> {
    if sig == 0 {
        Ok(None)
    } else {
        signal_arg(sig).map(Some)
    }
}

/// `kill(pid, sig)`: `pid > 0` that process, `0` the caller's group, `-1`
/// every process but init and the caller, `< -1` group `-pid`. Signal 0
/// checks existence only. `EINVAL` for a bad signal, `ESRCH` when nothing
/// matches, `EPERM` when the caller may signal none of a process or group
/// (`signal::may_signal`).
pub fn kill(process: &Process, pid: u64, sig: u64) -> SysResult {
    let sig = kill_signal(sig)?;
    let pid = pid as i32;
    let target = match pid {
        0 => KillTarget::Group(process.pgid()),
        -1 => KillTarget::All {
            sender: process.pid(),
        },
        // i32::MIN has no positive twin: no such group (Linux: ESRCH).
        i32::MIN => return Err(Errno::ESRCH),
        p if p < 0 => KillTarget::Group(Pid::new((-p) as u32).ok_or(Errno::ESRCH)?),
        p => KillTarget::Pid(Pid::new(p as u32).ok_or(Errno::ESRCH)?),
    };
    let info = sig.map_or_else(SigInfo::default, |s| {
        SigInfo::user(s, process.pid().as_u32())
    });
    signal::kill(target, sig, info, Some(process)).map(|()| 0)
}

/// `tgkill(tgid, tid, sig)` (`tgid = None`: `tkill(tid, sig)`): one
/// thread, found by its TID (in process `tgid` for `tgkill`); the signal
/// is that thread's alone (`signal::send_thread`). `EINVAL` for a
/// non-positive ID or a bad signal, `ESRCH` when no such live thread (or
/// it is not in `tgid`), `EPERM` as for `kill`.
pub fn tgkill(process: &Process, tgid: Option<u64>, tid: u64, sig: u64) -> SysResult {
    let tid = tid as i32;
    if tid <= 0 || tgid.is_some_and(|g| g as i32 <= 0) {
        return Err(Errno::EINVAL);
    }
    let sig = kill_signal(sig)?;
    let tid = Pid::new(tid as u32).ok_or(Errno::ESRCH)?;
    let thread = match tgid {
        Some(g) => {
            process::lookup(Pid::new(g as u32).ok_or(Errno::ESRCH)?).and_then(|p| p.thread(tid))
        }
        None => crate::proc::thread::by_tid(tid),
    }
    .ok_or(Errno::ESRCH)?;
    // Permission, as `kill` checks it (SIGCONT within the session too).
    signal::check_may_signal(process, thread.process(), sig)?;
    if let Some(sig) = sig {
        signal::send_thread(&thread, sig, SigInfo::tkill(sig, process.pid().as_u32()));
    }
    Ok(0)
}

/// A PID argument where 0 means the caller.
fn pid_or_self(process: &Process, pid: u64) -> Result<Pid, Errno> {
    match pid as i32 {
        0 => Ok(process.pid()),
        p if p < 0 => Err(Errno::ESRCH),
        p => Pid::new(p as u32).ok_or(Errno::ESRCH),
    }
}

/// `setpgid(pid, pgid)`: `EINVAL` for a negative `pgid`, or a negative
/// `pid` with `pgid` 0 (which stands for `pid`: Linux's order); the rest
/// is `process::set_pgid` (POSIX's `ESRCH`/`EACCES`/`EPERM` rules).
pub fn setpgid(process: &Process, pid: u64, pgid: u64) -> SysResult {
    let pgid = pgid as i32;
    if pgid < 0 || (pgid == 0 && (pid as i32) < 0) {
        return Err(Errno::EINVAL);
    }
    let pid = pid_or_self(process, pid)?;
    let pgid = if pgid == 0 {
        None
    } else {
        Some(Pid::new(pgid as u32).ok_or(Errno::EPERM)?)
    };
    process::set_pgid(process, pid, pgid).map(|()| 0)
}

/// `getpgid(pid)` (0: the caller): `ESRCH` for no such process.
pub fn getpgid(process: &Process, pid: u64) -> SysResult {
    let pid = pid_or_self(process, pid)?;
    let target = process::lookup(pid).ok_or(Errno::ESRCH)?;
    Ok(u64::from(target.pgid().as_u32()))
}

/// `getsid(pid)` (0: the caller): `ESRCH` for no such process.
pub fn getsid(process: &Process, pid: u64) -> SysResult {
    let pid = pid_or_self(process, pid)?;
    let target = process::lookup(pid).ok_or(Errno::ESRCH)?;
    Ok(u64::from(target.sid().as_u32()))
}

/// `setsid()`: the new session's ID (the caller's PID); `EPERM` for a
/// process-group leader.
pub fn setsid(process: &Process) -> SysResult {
    process::set_sid(process).map(|sid| u64::from(sid.as_u32()))
}
