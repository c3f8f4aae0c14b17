//! Process descriptors, Linux's way and FreeBSD's: `pidfd_open`,
//! `pidfd_send_signal`, `pidfd_getfd`, `waitid` (with `P_PIDFD`), and
//! Tine's `pdwait` (FreeBSD 15's wait on a process descriptor, Tine
//! number 1013).
//!
//! A pidfd is the same open-file kind as a `pdfork` descriptor
//! (`FileKind::ProcDesc`, `proc/procdesc.rs`) with Linux's meaning:
//! closing it does nothing to the process. It names the process itself,
//! not its number, and polls readable once the process has exited.
//!
//! `waitid` follows Linux's `kernel_waitid`: options other than
//! `WNOHANG | WNOWAIT | WEXITED | WSTOPPED | WCONTINUED` (and the
//! `__W*` thread bits) `EINVAL`, none of `WEXITED | WSTOPPED |
//! WCONTINUED` `EINVAL`; `P_PID` with `id <= 0`, `P_PGID`/`P_PIDFD` with
//! `id < 0`, an unknown `idtype` `EINVAL`; `P_PIDFD` of a descriptor that
//! is not a pidfd `EBADF`, of a non-blocking one (`PIDFD_NONBLOCK`) with
//! nothing to report `EAGAIN`. It fills `si_signo` (`SIGCHLD`, or 0 when
//! `WNOHANG` found nothing), `si_code` (`CLD_*`), `si_pid`, `si_uid`,
//! `si_status`; `WNOWAIT` leaves the child waitable.

use alloc::sync::Arc;

use crate::fs::FileRef;
use crate::fs::file::FileKind;
use crate::fs::file::oflags::{O_NONBLOCK, O_RDWR};
use crate::proc::pid::Pid;
use crate::proc::procdesc::ProcDesc;
use crate::proc::process::{self, Process, WaitFor, WaitOptions};
use crate::proc::signal::{self, SigInfo, Signal};
use crate::vm::space::AddressSpace;
use abi::nr;
use abi::{Errno, SysResult};

/// `pidfd_open` flags: `PIDFD_NONBLOCK` is `O_NONBLOCK`; `PIDFD_THREAD`
/// (`O_EXCL`) asks for a thread. Tine's pidfds name processes, so it is
/// accepted for a leader's TID (the PID) and another thread's TID is
/// `ESRCH`, as without the flag.
const PIDFD_THREAD: u64 = 0o200;

/// `pidfd_send_signal` flags (Linux 6.9): which of the process's
/// relatives get the signal.
const PIDFD_SIGNAL_THREAD: u64 = 1;
const PIDFD_SIGNAL_THREAD_GROUP: u64 = 2;
const PIDFD_SIGNAL_PROCESS_GROUP: u64 = 4;

/// `waitid` id types.
const P_ALL: u64 = 0;
const P_PID: u64 = 1;
const P_PGID: u64 = 2;
const P_PIDFD: u64 = 3;

/// `wait` options beyond `nr::wait`'s.
const WEXITED: u32 = 4;
const WNOWAIT: u32 = 0x0100_0000;

/// `sizeof(struct rusage)` (zeros).
const RUSAGE_SIZE: usize = 144;

/// Whether system call `n` is one of this module's.
pub fn handles(n: u64) -> bool {
    matches!(
        n,
        nr::PIDFD_OPEN | nr::PIDFD_SEND_SIGNAL | nr::PIDFD_GETFD | nr::WAITID | nr::TINE_PDWAIT
    )
}

/// Runs process-descriptor call `n` (module docs).
pub async fn call(
    process: &Arc<Process>,
    space: &AddressSpace,
    n: u64,
    [a0, a1, a2, a3, a4, _]: [u64; 6],
) -> SysResult {
    match n {
        nr::PIDFD_OPEN => pidfd_open(process, a0, a1),
        nr::PIDFD_SEND_SIGNAL => pidfd_send_signal(process, space, a0, a1, a2, a3),
        nr::PIDFD_GETFD => pidfd_getfd(process, a0, a1, a2),
        nr::WAITID => waitid(process, space, [a0, a1, a2, a3, a4]).await,
        nr::TINE_PDWAIT => pdwait(process, space, [a0, a1, a2, a3, a4]).await,
        _ => Err(Errno::ENOSYS),
    }
}

/// The process descriptor open at `fd`: `EBADF` if `fd` is not open or
/// not a process descriptor. Also returns the open file (its status
/// flags say `PIDFD_NONBLOCK`).
fn procdesc_at(process: &Process, fd: u64) -> Result<(FileRef, Arc<ProcDesc>), Errno> {
    let file = file_at(process, fd)?;
    let pd = file.procdesc().cloned().ok_or(Errno::EBADF)?;
    Ok((file, pd))
}

/// The file open at `fd` (an `int`): `EBADF` if none.
fn file_at(process: &Process, fd: u64) -> Result<FileRef, Errno> {
    let fd = i32::try_from(fd as i64).map_err(|_| Errno::EBADF)?;
    if fd < 0 {
        return Err(Errno::EBADF);
    }
    process.files().get(fd as u64)
}

/// `pidfd_open(pid, flags)`: a close-on-exec pidfd for `pid` (running or
/// a zombie). `PIDFD_NONBLOCK`, `PIDFD_THREAD`; other flags or `pid <=
/// 0` `EINVAL`; no such process (or already reaped) `ESRCH`; `EMFILE`.
fn pidfd_open(process: &Process, pid: u64, flags: u64) -> SysResult {
    if flags & !(O_NONBLOCK as u64 | PIDFD_THREAD) != 0 {
        return Err(Errno::EINVAL);
    }
    let pid = i32::try_from(pid as i64).map_err(|_| Errno::EINVAL)?;
    if pid <= 0 {
        return Err(Errno::EINVAL);
    }
    let pid = Pid::new(pid as u32).ok_or(Errno::ESRCH)?;
    let target = process::lookup(pid).ok_or(Errno::ESRCH)?;
    let file = crate::fs::OpenFile::new(
        FileKind::ProcDesc(ProcDesc::new(&target, true, true)),
        alloc::string::String::from("anon_inode:[pidfd]"),
        O_RDWR | (flags as u32 & O_NONBLOCK),
    );
    process
        .files()
        .insert(file, crate::fs::FdFlags::CLOEXEC, process.nofile())
        .map(u64::from)
}

/// `pidfd_send_signal(pidfd, sig, info, flags)`: `sig` (0 checks) to the
/// process, with `info` (a `siginfo_t`) if not NULL. As on Linux, an
/// open `/proc/PID` directory serves as `pidfd` too. Flags: 0 or
/// `PIDFD_SIGNAL_THREAD_GROUP` (the process), `PIDFD_SIGNAL_THREAD` (its
/// leader thread) or `PIDFD_SIGNAL_PROCESS_GROUP` (its group);
/// more than one, or others, `EINVAL`. `EBADF` not a pidfd, `EINVAL` bad
/// signal or `info.si_signo != sig`, `EPERM` a forged `si_code` (>= 0 or
/// `SI_TKILL`) sent to another process, `ESRCH` once reaped (a zombie
/// takes and ignores it), `EFAULT` bad `info`.
fn pidfd_send_signal(
    process: &Process,
    space: &AddressSpace,
    pidfd: u64,
    sig: u64,
    info: u64,
    flags: u64,
) -> SysResult {
    let scope =
        flags & (PIDFD_SIGNAL_THREAD | PIDFD_SIGNAL_THREAD_GROUP | PIDFD_SIGNAL_PROCESS_GROUP);
    if flags != scope || scope.count_ones() > 1 {
        return Err(Errno::EINVAL);
    }
    // Linux's `pidfd_to_pid`: a `/proc/PID` directory names its process
    // here too (only here: `waitid` and `pidfd_getfd` want a pidfd).
    let pd = match procdesc_at(process, pidfd) {
        Ok((_, pd)) => pd,
        Err(Errno::EBADF) => file_at(process, pidfd)?
            .proc_dir()
            .cloned()
            .ok_or(Errno::EBADF)?,
        Err(e) => return Err(e),
    };
    let sig = match sig {
        0 => None,
        s => Some(
            u32::try_from(s)
                .ok()
                .and_then(Signal::new)
                .ok_or(Errno::EINVAL)?,
        ),
    };
    let mut siginfo = sig.map(|s| SigInfo::user(s, process.pid().as_u32()));
    if info != 0 {
        let mut b = [0u8; SigInfo::SIZE];
        space.copy_from_user(info, &mut b)?;
        let signo = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let code = i32::from_le_bytes([b[8], b[9], b[10], b[11]]);
        if signo != sig.map_or(0, |s| i32::from(s.number())) {
            return Err(Errno::EINVAL);
        }
        if pd.pid() != process.pid() && (code >= 0 || code == signal::code::SI_TKILL) {
            return Err(Errno::EPERM);
        }
        if let Some(si) = &mut siginfo {
            si.code = code;
            si.pid = u32::from_le_bytes([b[16], b[17], b[18], b[19]]);
            si.status = i32::from_le_bytes([b[24], b[25], b[26], b[27]]);
        }
    }
    // A zombie still exists (the signal is ignored); a reaped process
    // does not.
    let target = pd.process().ok_or(Errno::ESRCH)?;
    // The same permission check as kill(2) and pdkill.
    signal::check_may_signal(process, &target, sig)?;
    if scope == PIDFD_SIGNAL_PROCESS_GROUP {
        let group = signal::KillTarget::Group(target.pgid());
        return signal::kill(group, sig, siginfo.unwrap_or_default(), Some(process)).map(|()| 0);
    }
    if let (Some(sig), Some(info)) = (sig, siginfo) {
        // A pidfd names a process by its leader's TID: the thread scope
        // is that thread while it lives, the process once it is gone.
        match target.thread(target.pid()) {
            Some(leader) if scope == PIDFD_SIGNAL_THREAD => {
                signal::send_thread(&leader, sig, info);
            }
            _ => signal::send(&target, sig, info),
        }
    }
    Ok(0)
}

/// `pidfd_getfd(pidfd, targetfd, flags)`: a close-on-exec duplicate, in
/// the caller's table, of the process's descriptor `targetfd`. Flags
/// other than 0 `EINVAL`; `EBADF` not a pidfd or `targetfd` not open
/// there; `ESRCH` exited; `EPERM` another user's process unless root
/// (Linux's `PTRACE_MODE_ATTACH_REALCREDS`, without capabilities);
/// `EMFILE`.
fn pidfd_getfd(process: &Process, pidfd: u64, targetfd: u64, flags: u64) -> SysResult {
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let (_, pd) = procdesc_at(process, pidfd)?;
    let target = pd.running().ok_or(Errno::ESRCH)?;
    let me = process.creds();
    let them = target.creds();
    let same_user = me.uid == them.uid && me.uid == them.euid && me.uid == them.suid;
    if me.euid != 0 && !same_user {
        return Err(Errno::EPERM);
    }
    let file = target.files().get(targetfd)?;
    process
        .files()
        .insert(file, crate::fs::FdFlags::CLOEXEC, process.nofile())
        .map(u64::from)
}

/// `waitid`'s and `pdwait`'s options, checked (module docs).
fn wait_options(options: u64) -> Result<WaitOptions, Errno> {
    use abi::wait::{WALL, WCLONE, WCONTINUED, WNOHANG, WNOTHREAD, WUNTRACED};
    let options = u32::try_from(options).map_err(|_| Errno::EINVAL)?;
    let known = WNOHANG | WNOWAIT | WEXITED | WUNTRACED | WCONTINUED | WNOTHREAD | WCLONE | WALL;
    if options & !known != 0 || options & (WEXITED | WUNTRACED | WCONTINUED) == 0 {
        return Err(Errno::EINVAL);
    }
    Ok(WaitOptions {
        nohang: options & WNOHANG != 0,
        untraced: options & WUNTRACED != 0,
        continued: options & WCONTINUED != 0,
        exited: options & WEXITED != 0,
        nowait: options & WNOWAIT != 0,
    })
}

/// The `siginfo_t` `waitid` stores for a child `pid` of user `uid` with
/// wait status `status`: `si_code` `CLD_EXITED`/`CLD_KILLED`/
/// `CLD_DUMPED`/`CLD_STOPPED`/`CLD_CONTINUED`, `si_status` the exit code
/// or signal.
pub fn child_siginfo(pid: Pid, uid: u32, status: i32) -> [u8; SigInfo::SIZE] {
    use signal::code::{CLD_CONTINUED, CLD_EXITED, CLD_KILLED, CLD_STOPPED};
    const CLD_DUMPED: i32 = 3;
    let (code, value) = if status == 0xffff {
        (CLD_CONTINUED, i32::from(signal::SIGCONT.number()))
    } else if status & 0xff == 0x7f {
        (CLD_STOPPED, (status >> 8) & 0xff)
    } else if status & 0x7f == 0 {
        (CLD_EXITED, (status >> 8) & 0xff)
    } else if status & 0x80 != 0 {
        (CLD_DUMPED, status & 0x7f)
    } else {
        (CLD_KILLED, status & 0x7f)
    };
    let mut b = [0u8; SigInfo::SIZE];
    b[0..4].copy_from_slice(&i32::from(signal::SIGCHLD.number()).to_le_bytes());
    b[8..12].copy_from_slice(&code.to_le_bytes());
    b[16..20].copy_from_slice(&pid.as_u32().to_le_bytes());
    b[20..24].copy_from_slice(&uid.to_le_bytes());
    b[24..28].copy_from_slice(&value.to_le_bytes());
    b
}

/// Stores `waitid`'s result: the child's `siginfo_t`, or the fields Linux
/// clears when `WNOHANG` found nothing (`si_signo`, `si_errno`,
/// `si_code`, `si_pid`, `si_uid`, `si_status`: the first 28 bytes).
fn store_siginfo(
    space: &AddressSpace,
    infop: u64,
    found: Option<(Pid, u32, i32)>,
) -> Result<(), Errno> {
    if infop == 0 {
        return Ok(());
    }
    match found {
        Some((pid, uid, status)) => {
            space.copy_to_user(infop, &child_siginfo(pid, uid, status)[..28])
        }
        None => space.copy_to_user(infop, &[0u8; 28]),
    }
}

/// `waitid(idtype, id, infop, options, rusage)` (module docs). As on
/// Linux, `infop` is written whatever the outcome (zeros when nothing was
/// found or the call failed), so a bad `infop` is `EFAULT` even where the
/// call would fail otherwise.
async fn waitid(process: &Arc<Process>, space: &AddressSpace, a: [u64; 5]) -> SysResult {
    let [_, _, infop, _, rusage] = a;
    let result = waitid_find(process, a).await;
    match result {
        Ok(found) => {
            if rusage != 0 {
                space.copy_to_user(rusage, &[0u8; RUSAGE_SIZE])?;
            }
            store_siginfo(space, infop, found)?;
            Ok(0)
        }
        Err(e) => {
            store_siginfo(space, infop, None)?;
            Err(e)
        }
    }
}

/// `waitid`'s wait: the child found (PID, uid, status), `None` for
/// `WNOHANG` with nothing to report.
async fn waitid_find(
    process: &Arc<Process>,
    [idtype, id, _, options, _]: [u64; 5],
) -> Result<Option<(Pid, u32, i32)>, Errno> {
    let mut options = wait_options(options)?;
    let id = id as i32;
    let target = match idtype {
        P_ALL => WaitFor::Any,
        P_PID if id <= 0 => return Err(Errno::EINVAL),
        P_PID => WaitFor::Pid(Pid::new(id as u32).ok_or(Errno::ECHILD)?),
        P_PGID if id < 0 => return Err(Errno::EINVAL),
        P_PGID if id == 0 => WaitFor::Group(process.pgid()),
        P_PGID => WaitFor::Group(Pid::new(id as u32).ok_or(Errno::ECHILD)?),
        P_PIDFD if id < 0 => return Err(Errno::EINVAL),
        P_PIDFD => {
            let (file, pd) = procdesc_at(process, id as u64)?;
            if file.status() & O_NONBLOCK != 0 && !options.nohang {
                options.nohang = true;
                let found = wait_for(process, WaitFor::Pid(pd.pid()), options).await?;
                return found.map(Some).ok_or(Errno::EAGAIN);
            }
            WaitFor::Pid(pd.pid())
        }
        _ => return Err(Errno::EINVAL),
    };
    wait_for(process, target, options).await
}

/// Waits as `wait4` does (interruptible unless `WNOHANG`); the child's PID,
/// uid, status.
async fn wait_for(
    process: &Arc<Process>,
    target: WaitFor,
    options: WaitOptions,
) -> Result<Option<(Pid, u32, i32)>, Errno> {
    let waiting = crate::proc::wait::wait_child_info(process.pid(), target, options);
    crate::proc::wait::for_syscall(process, options, waiting).await?
}

/// `pdwait(fd, status, options, rusage, info)` (Tine 1013; FreeBSD 15's
/// `pdwait(2)`): `wait4` on the process `fd` is a descriptor of, which
/// the caller need not be the parent of: holding the descriptor is
/// enough. Options as `waitid`'s, except that `WEXITED` is implied (as
/// in `wait4`); `WNOWAIT` leaves it waitable. Returns its PID (0 with
/// `WNOHANG` while it runs), the wait status at `status` and a
/// `siginfo_t` at `info` (either may be NULL), zeros at `rusage`. `EBADF`
/// not a process descriptor; `ECHILD` once another wait reaped it; a
/// signal `EINTR`.
async fn pdwait(
    process: &Arc<Process>,
    space: &AddressSpace,
    [fd, status, options, rusage, info]: [u64; 5],
) -> SysResult {
    let options = wait_options(options | u64::from(WEXITED))?;
    let (_, pd) = procdesc_at(process, fd)?;
    let target = pd.process().ok_or(Errno::ECHILD)?;
    let waiting = crate::proc::wait::wait_process(&target, options);
    let Some((pid, uid, st)) = crate::proc::wait::for_syscall(process, options, waiting).await??
    else {
        return Ok(0);
    };
    if status != 0 {
        space.copy_to_user(status, &st.to_le_bytes())?;
    }
    if rusage != 0 {
        space.copy_to_user(rusage, &[0u8; RUSAGE_SIZE])?;
    }
    if info != 0 {
        space.copy_to_user(info, &child_siginfo(pid, uid, st))?;
    }
    Ok(u64::from(pid.as_u32()))
}
