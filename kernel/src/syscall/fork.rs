//! The fork family's system calls, each a thin translation into `fork1`
//! (`crate::proc::fork`), as the seeds' `sys_fork`, `sys_vfork`,
//! `sys_rfork`, `sys___clone` are; plus the knobs (`sysctl`) and the event
//! stream (`forkevents`) that watch them.
//!
//! | call | number | front end |
//! |---|---|---|
//! | `fork()` | 57 | `fork_flags::fork()` |
//! | `vfork()` | 58 | `fork_flags::vfork()`: shared space, the parent awaits `VforkDone` |
//! | `clone(flags, stack, parent_tid, child_tid, tls)` | 56 | `fork_flags::clone` (Linux order of arguments) |
//! | `clone3(args, size)` | 435 | `fork_flags::clone3` (`struct clone_args`, size-versioned) |
//! | `rfork(flags)` | 1000 | `fork_flags::rfork`: `RFPROC` forks; without it `fork_norfproc` |
//! | `sysctl(name, namelen, old, oldlenp, new, newlen)` | 1005 | `proc::sysctl` |
//! | `pdfork(fdp, flags)`, `pdgetpid(fd, pidp)`, `pdkill(fd, sig)` | 1001-1003 | `proc::procdesc` |
//! | `procctl(idtype, id, cmd, data)` | 1004 | `proc::reaper` |
//! | `forkevents(buf, len, flags)` | 1010 | `proc::events` |

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Write;

use arch::user::UserContext;

use super::Action;
use crate::proc::events::{self, EVENT_BYTES};
use crate::proc::fork::fork1;
use crate::proc::fork_flags::{self, CloneArgs, CloneCaller, DivorceRequest, ForkRequest, Lowered};
use crate::proc::process::Process;
use crate::proc::sysctl;
use crate::vm::space::AddressSpace;
use abi::{Errno, SysResult};

/// `fork1` for a system call: the child's PID in `rax`.
async fn fork_as_syscall(
    process: &Arc<Process>,
    ctx: &UserContext,
    req: &ForkRequest,
) -> SysResult {
    settls_allowed(req)?;
    fork1(process, ctx, req)
        .await
        .map(|pid| u64::from(pid.as_u32()))
}

/// Linux's copy_thread: a `CLONE_SETTLS` base outside user space is
/// `EPERM`, as `arch_prctl(ARCH_SET_FS)` is (the child could never run).
fn settls_allowed(req: &ForkRequest) -> Result<(), Errno> {
    if req.tls.is_some_and(|tls| tls >= arch::mm::user::USER_END) {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// How [`begin`] left a `fork()`, `vfork()` or `clone()`: the system
/// call awaits the rest in its own future, without the box its other
/// calls' big futures get (`dispatch`).
pub enum Begun {
    /// Answered: the child's PID, or the error.
    Done(SysResult),
    /// A child that runs first (`proc::fork`, stage 5): yield once
    /// (`task::yield_now`), then return its PID.
    ChildFirst(u64),
    /// A vfork child (`vfork()`, `CLONE_VFORK`): await its exec or exit
    /// (`Process::vfork_wait`), then return its PID.
    Vfork(Arc<Process>),
    /// Refused at a limit: fail with this error after
    /// `proc::fork::throttle` (`kern.forkfsleep`).
    Throttled(Errno),
    /// `CLONE_THREAD`: [`clone`] makes the thread (boxed).
    Thread,
}

/// `fork()` (`fork_flags::fork()`), `vfork()` (`fork_flags::vfork()`) or
/// `clone()` ([`clone_request`]) as far as it goes without waiting
/// (`proc::fork::start`).
pub fn begin(process: &Arc<Process>, ctx: &UserContext, req: Result<ForkRequest, Errno>) -> Begun {
    use crate::proc::fork::{Started, start};
    let req = match req.and_then(|req| settls_allowed(&req).map(|()| req)) {
        Ok(req) => req,
        Err(e) => return Begun::Done(Err(e)),
    };
    match start(process, ctx, &req) {
        Started::Done(result) => Begun::Done(result.map(|pid| u64::from(pid.as_u32()))),
        Started::ChildFirst(pid) => Begun::ChildFirst(u64::from(pid.as_u32())),
        Started::Vfork(child) => Begun::Vfork(child),
        Started::Throttled(errno) => Begun::Throttled(errno),
        Started::Thread => Begun::Thread,
    }
}

/// The request of `clone(flags, stack, parent_tid, child_tid, tls)`
/// (x86-64 argument order).
pub fn clone_request(process: &Process, a: [u64; 5]) -> Result<ForkRequest, Errno> {
    let [flags, stack, parent_tid, child_tid, tls] = a;
    let caller = CloneCaller {
        // NetBSD 1.232: CLONE_FILES would share them.
        has_clofork_fds: process.files().has_clofork(),
        is_init: process.pid() == crate::proc::pid::Pid::INIT,
    };
    let args = CloneArgs {
        flags,
        stack,
        parent_tid,
        child_tid,
        tls,
    };
    fork_flags::clone(args, caller).map_err(Errno::from)
}

/// `clone(flags, stack, parent_tid, child_tid, tls)` through [`fork1`]
/// (boxed by `dispatch`: the threads, which [`begin`] leaves).
pub async fn clone(process: &Arc<Process>, ctx: &UserContext, a: [u64; 5]) -> SysResult {
    let req = clone_request(process, a)?;
    fork_as_syscall(process, ctx, &req).await
}

/// `clone3(args, size)`: Linux's `struct clone_args` of `size` bytes
/// (`fork_flags::clone3` has the rules): below version 0 (64 bytes)
/// `EINVAL`, past a page or with unknown non-zero fields `E2BIG`, a bad
/// `args` or `set_tid` `EFAULT`; `set_tid` outside `1..pid_max` `EINVAL`,
/// taken `EEXIST`, without root `EPERM`; `CLONE_INTO_CGROUP` `EBADF` (no
/// cgroups). Then the one `fork1`.
pub async fn clone3(
    process: &Arc<Process>,
    space: &AddressSpace,
    ctx: &UserContext,
    uargs: u64,
    size: u64,
) -> SysResult {
    use abi::record::{CLONE_ARGS_SIZE_MAX, CLONE_ARGS_SIZE_VER0, Clone3Args};
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    if size > CLONE_ARGS_SIZE_MAX {
        return Err(Errno::E2BIG);
    }
    if size < CLONE_ARGS_SIZE_VER0 {
        return Err(Errno::EINVAL);
    }
    let mut raw = crate::fallible::zeroed(size)?;
    space.copy_from_user(uargs, &mut raw)?;
    let args = Clone3Args::from_bytes(&raw)?;
    let caller = CloneCaller {
        has_clofork_fds: process.files().has_clofork(),
        is_init: process.pid() == crate::proc::pid::Pid::INIT,
    };
    let mut set_tid = None;
    if args.set_tid_size == 1 {
        let mut b = [0u8; 4];
        space.copy_from_user(args.set_tid, &mut b)?;
        set_tid = Some(i32::from_le_bytes(b));
    }
    let mut req = fork_flags::clone3(&args, size, caller)?;
    if let Some(tid) = set_tid {
        if tid < 1 || tid as u32 >= crate::proc::pids().pid_max() {
            return Err(Errno::EINVAL);
        }
        req.set_tid = Some(tid as u32);
    }
    fork_as_syscall(process, ctx, &req).await
}

/// `rfork(flags)` (Tine 1000): FreeBSD's, with Tine's `RFPPWAIT` bit
/// (`docs/fork.md`). Without `RFPROC` it changes the caller in place
/// ([`fork_norfproc`]) and returns 0.
pub async fn rfork(process: &Arc<Process>, ctx: &UserContext, flags: u64) -> Result<Action, Errno> {
    let flags = u32::try_from(flags).map_err(|_| Errno::EINVAL)?;
    match fork_flags::rfork(flags)? {
        Lowered::Fork(req) => Ok(Action::Return(fork_as_syscall(process, ctx, &req).await?)),
        Lowered::Divorce(d) => fork_norfproc(process, d).await,
    }
}

/// `rfork` without `RFPROC` (`proc::divorce::fork_norfproc`): the caller
/// goes on, in a new address space when it got one.
///
/// In a process with several threads that unshares the descriptor table
/// or the address space, the other threads are parked at their return to
/// user mode around the change (FreeBSD's `thread_single(SINGLE_BOUNDARY)`
/// and `thread_single_end`); `EINTR` if a group exit or another thread's
/// single-threading is under way (FreeBSD's `ERESTART`).
async fn fork_norfproc(process: &Arc<Process>, d: DivorceRequest) -> Result<Action, Errno> {
    let quiesce = process.nthreads() > 1
        && (d.unshare_address_space || d.files != crate::proc::fork_flags::FilesInPlace::Keep);
    let me = crate::proc::thread::current();
    if quiesce {
        let tid = me.as_ref().map_or(0, |t| t.tid().as_u32());
        let others = || process.nthreads().saturating_sub(1);
        let wake = || crate::proc::signal::wake_threads(process);
        if !process.signals().single_thread(tid, others, wake).await {
            return Err(Errno::EINTR);
        }
    }
    let r = crate::proc::divorce::fork_norfproc(process, d);
    if quiesce {
        process.signals().single_thread_end();
    }
    Ok(match r? {
        Some(space) => Action::Switch(space, 0),
        None => Action::Return(0),
    })
}

/// Longest knob name.
const SYSCTL_NAME_MAX: u64 = 128;
/// Longest value text written.
const SYSCTL_VALUE_MAX: u64 = 32;

/// `sysctl(name, namelen, old, oldlenp, new, newlen)` (Tine 1005), values
/// as decimal text. `namelen` 0 lists every knob as `name=value\n` lines.
/// With `old` NULL, `*oldlenp` gets the length needed; a buffer too small
/// is `ENOMEM` with `*oldlenp` set to the length needed (BSD). `new`
/// writes the knob (`EPERM` read-only, `EINVAL` not a number or out of
/// range, `ENOENT` unknown name). Writing needs root (effective uid 0):
/// anyone else gets `EPERM` before the new value is read, as FreeBSD's
/// `sysctl_root` (`sys/kern/kern_sysctl.c`, git `0029a996`) answers a
/// write without `PRIV_SYSCTL_WRITE`.
pub fn sysctl(process: &Process, space: &AddressSpace, a: [u64; 6]) -> SysResult {
    let [name, namelen, old, oldlenp, new, newlen] = a;
    if namelen > SYSCTL_NAME_MAX || newlen > SYSCTL_VALUE_MAX {
        return Err(Errno::EINVAL);
    }
    let text = if namelen == 0 {
        if new != 0 {
            return Err(Errno::EINVAL);
        }
        let mut all = String::new();
        for (n, v) in sysctl::list() {
            let _ = writeln!(all, "{n}={v}");
        }
        all
    } else {
        let mut raw = crate::fallible::zeroed(namelen as usize)?;
        space.copy_from_user(name, &mut raw)?;
        let name = core::str::from_utf8(&raw).map_err(|_| Errno::EINVAL)?;
        let name = name.trim_end_matches('\0');
        let old_value = sysctl::get(name)?;
        if new != 0 {
            if !process.creds().is_root() {
                return Err(Errno::EPERM);
            }
            let mut raw = crate::fallible::zeroed(newlen as usize)?;
            space.copy_from_user(new, &mut raw)?;
            let value = core::str::from_utf8(&raw).map_err(|_| Errno::EINVAL)?;
            sysctl::set(name, sysctl::parse_value(value.trim_end_matches('\0'))?)?;
        }
        alloc::format!("{old_value}")
    };
    if oldlenp == 0 {
        return if old == 0 { Ok(0) } else { Err(Errno::EFAULT) };
    }
    let mut len = [0u8; 8];
    space.copy_from_user(oldlenp, &mut len)?;
    let room = u64::from_le_bytes(len);
    let need = text.len() as u64;
    space.copy_to_user(oldlenp, &need.to_le_bytes())?;
    if old == 0 {
        return Ok(0);
    }
    if room < need {
        return Err(Errno::ENOMEM);
    }
    space.copy_to_user(old, text.as_bytes())?;
    Ok(0)
}

/// `forkevents` flag: return `EAGAIN` instead of waiting.
const FORKEVENTS_NONBLOCK: u64 = 1;

/// `forkevents(buf, len, flags)` (Tine 1010): whole 24-byte events
/// (`proc::events::ForkEvent`) published since the caller's previous
/// call (its first call starts the stream). Waits for one unless
/// `FORKEVENTS_NONBLOCK` (then `EAGAIN`); a signal ends the wait with
/// `EINTR`. `EINVAL` for a buffer smaller
/// than one event or unknown flags.
pub async fn forkevents(process: &Process, space: &AddressSpace, a: [u64; 3]) -> SysResult {
    let [buf, len, flags] = a;
    if flags & !FORKEVENTS_NONBLOCK != 0 || len < EVENT_BYTES as u64 {
        return Err(Errno::EINVAL);
    }
    let max = (len / EVENT_BYTES as u64).min(256) as usize;
    let cursor = process.event_cursor(events::head);
    let (got, next, _lost) = loop {
        let read = events::read_now(cursor, max);
        if !read.0.is_empty() {
            break read;
        }
        if flags & FORKEVENTS_NONBLOCK != 0 {
            return Err(Errno::EAGAIN);
        }
        // A signal (the shell's Ctrl-C for `trace`) ends the wait: EINTR.
        crate::proc::signal::interruptible(process, events::wait_past(cursor)).await?;
    };
    let bytes: Vec<u8> = got.iter().flat_map(|e| e.to_bytes()).collect();
    space.copy_to_user(buf, &bytes)?;
    process.set_event_cursor(next);
    Ok(bytes.len() as u64)
}

/// `procctl(idtype, id, cmd, data)` (Tine 1004): FreeBSD's reaper
/// commands (`proc::reaper`).
pub fn procctl(process: &Arc<Process>, space: &AddressSpace, a: [u64; 4]) -> SysResult {
    let [idtype, id, cmd, data] = a;
    crate::proc::reaper::procctl(process, idtype, id, cmd, |st| {
        space.copy_to_user(data, &st.to_bytes())
    })
}

/// The process descriptor `fd` of `process` refers to; `EBADF` if `fd` is
/// not open or not a process descriptor.
fn procdesc_of(process: &Process, fd: u64) -> Result<Arc<crate::proc::procdesc::ProcDesc>, Errno> {
    let file = process.files().get(fd)?;
    file.procdesc().cloned().ok_or(Errno::EBADF)
}

/// `pdfork(fdp, flags)` (Tine 1001): fork with a process descriptor stored
/// at `fdp` (`PD_DAEMON`, `PD_CLOEXEC`; other flags `EINVAL`).
pub async fn pdfork(process: &Arc<Process>, ctx: &UserContext, fdp: u64, flags: u64) -> SysResult {
    let flags = u32::try_from(flags).map_err(|_| Errno::EINVAL)?;
    let req = fork_flags::pdfork(flags, fork_flags::FdOut::User(fdp))?;
    fork_as_syscall(process, ctx, &req).await
}

/// `pdgetpid(fd, pidp)` (Tine 1002).
pub fn pdgetpid(process: &Process, space: &AddressSpace, fd: u64, pidp: u64) -> SysResult {
    let pd = procdesc_of(process, fd)?;
    space.copy_to_user(pidp, &(pd.pid().as_u32() as i32).to_le_bytes())?;
    Ok(0)
}

/// `pdkill(fd, sig)` (Tine 1003): `sig` to the process (0 checks it
/// exists); `ESRCH` once it has exited, `EINVAL` for a bad signal,
/// `EPERM` when the caller may not signal it (`signal::may_signal`).
pub fn pdkill(process: &Process, fd: u64, sig: u64) -> SysResult {
    use crate::proc::signal;
    let pd = procdesc_of(process, fd)?;
    let target = pd.running().ok_or(Errno::ESRCH)?;
    let sig = match sig {
        0 => None,
        sig => Some(
            u32::try_from(sig)
                .ok()
                .and_then(signal::Signal::new)
                .ok_or(Errno::EINVAL)?,
        ),
    };
    // FreeBSD's pdkill: `p_cansignal` first.
    signal::check_may_signal(process, &target, sig)?;
    let Some(sig) = sig else {
        return Ok(0);
    };
    signal::send(
        &target,
        sig,
        signal::SigInfo::user(sig, process.pid().as_u32()),
    );
    Ok(0)
}
