//! The system-call dispatcher: from the trapped thread's registers to a
//! result in `rax`, keyed by Linux x86-64 numbers ([`abi::nr`]).
//!
//! Arguments come from `rdi, rsi, rdx, r10, r8, r9`. Every call returns a
//! [`SysResult`]; [`encode`] turns it into `rax` (the one place errors
//! become `-errno`). User memory is reached only through the address
//! space's `copy_from_user`/`copy_to_user`, so a bad pointer is `EFAULT`,
//! never a kernel fault. Unknown numbers are `ENOSYS`.

use alloc::boxed::Box;
use alloc::sync::Arc;
use arch::user::UserContext;

use super::signal;
use crate::proc::pid::Pid;
use crate::proc::process::{self, Process, WaitFor, WaitOptions, exit_status};
use crate::vm::space::AddressSpace;
use crate::vm::vma::VmPerms;
use abi::errno::encode;
use abi::nr;
use abi::{Errno, SysResult};

/// What the thread does after a system call.
#[derive(Debug)]
pub enum Action {
    /// Return to user mode with this `rax`.
    Return(u64),
    /// The process ends with this wait status (`exit_group`).
    Exit(i32),
    /// The calling thread ends with this wait status (`exit`); the
    /// process too if it was the last.
    ExitThread(i32),
    /// `execve` succeeded: continue in this new image (its space is the
    /// process's now; the thread drops its reference to the old one).
    Exec(super::exec::NewImage),
    /// Return with this `rax` in this address space, now the process's
    /// (rfork without `RFPROC` unsharing a shared space).
    Switch(Arc<crate::vm::space::AddressSpace>, u64),
}

/// The system calls answered from the trap loop without [`dispatch`]
/// (`proc::thread::run`'s fast path): those that only read the caller's
/// own identifiers, never fail, never wait and change nothing. `None`
/// for every other number.
pub fn fast(thread: &crate::proc::thread::Thread, nr: u64) -> Option<u64> {
    match nr {
        nr::GETPID => Some(u64::from(thread.process().pid().as_u32())),
        nr::GETTID => Some(u64::from(thread.tid().as_u32())),
        _ => None,
    }
}

/// `future` on the heap, pinned: the calls with big futures run boxed
/// ([`dispatch`]). Boxed fallibly: when the heap has no memory left for
/// it, the call is `ENOMEM`, even one that skips the per-call headroom
/// check (`close`, `wait4`, ...), instead of a kernel panic.
fn pinned<F: Future>(future: F) -> Result<core::pin::Pin<Box<F>>, Errno> {
    arch::mm::boxed::try_box(future)
        .map(Box::into_pin)
        .map_err(|_| Errno::ENOMEM)
}

/// Runs a call's future boxed ([`pinned`]): its result, or `ENOMEM` when
/// it could not be boxed.
macro_rules! boxed {
    ($future:expr) => {
        match pinned($future) {
            Ok(future) => future.await,
            Err(e) => Err(e),
        }
    };
}

/// Runs the system call `thread` trapped with (number in `ctx.rax`).
///
/// Its future is part of every thread's future (`proc::thread::run`), as
/// big as the biggest call's future inline here: so the calls whose
/// futures are big (the file calls, poll, epoll, exec, the fork family,
/// the waits) are boxed ([`pinned`]: fallibly, `ENOMEM` when the heap is
/// out), one allocation per call, sized to that call. A
/// thread blocked in a futex wait, `pause` or `rt_sigsuspend` (inline)
/// holds no box (`docs/memory.md`, "Threads").
pub async fn dispatch(
    thread: &Arc<crate::proc::thread::Thread>,
    space: &AddressSpace,
    ctx: &mut UserContext,
) -> Action {
    let process = thread.process();
    let [a0, a1, a2, a3, a4, a5] = ctx.syscall_args();
    // Near heap exhaustion a call that may allocate is ENOMEM; calls that
    // release memory still run (`crate::fallible`).
    if let Err(e) = crate::fallible::syscall_headroom(ctx.rax) {
        return Action::Return(encode(Err(e)));
    }
    let result: SysResult = match ctx.rax {
        n if super::fs::handles(n) => boxed!(async move {
            let cx = super::fs::FileCtx {
                files: process.files(),
                fs: process.fs(),
                process: Some(process.clone()),
                tid: thread.tid().as_u32(),
            };
            super::fs::call(&cx, space, n, [a0, a1, a2, a3, a4, a5]).await
        }),
        nr::BRK => Ok(space.brk(a0)),
        nr::MMAP => mmap(space, [a0, a1, a2, a3, a4, a5]),
        nr::MUNMAP => space.munmap(a0, a1).map(|()| 0),
        nr::MREMAP => space.mremap(a0, a1, a2, a3, a4),
        nr::SCHED_YIELD => {
            crate::task::yield_now().await;
            Ok(0)
        }
        nr::GETPID => Ok(u64::from(process.pid().as_u32())),
        nr::GETTID => Ok(u64::from(thread.tid().as_u32())),
        nr::SET_TID_ADDRESS => {
            thread.set_clear_child_tid(a0);
            Ok(u64::from(thread.tid().as_u32()))
        }
        nr::SET_ROBUST_LIST => super::misc::set_robust_list(thread, a0, a1),
        nr::FUTEX => crate::proc::futex::futex(process, space, [a0, a1, a2, a3, a4, a5]).await,
        nr::GETPPID => Ok(u64::from(process.ppid().as_u32())),
        nr::UNAME => uname(space, a0),
        nr::ARCH_PRCTL => arch_prctl(space, ctx, a0, a1),
        // Unboxed: what waits (vfork's wait, the throttle) is small.
        nr::FORK | nr::VFORK | nr::CLONE => {
            use super::fork::{Begun, begin, clone_request};
            let req = match ctx.rax {
                nr::FORK => Ok(crate::proc::fork_flags::fork()),
                nr::VFORK => Ok(crate::proc::fork_flags::vfork()),
                _ => clone_request(process, [a0, a1, a2, a3, a4]),
            };
            match begin(process, ctx, req) {
                Begun::Done(result) => result,
                Begun::Vfork(child) => {
                    child.vfork_wait().await;
                    Ok(u64::from(child.pid().as_u32()))
                }
                Begun::Throttled(errno) => {
                    boxed!(async move { Err(crate::proc::fork::throttle(errno).await) })
                }
                Begun::Thread => boxed!(super::fork::clone(process, ctx, [a0, a1, a2, a3, a4])),
            }
        }
        nr::CLONE3 => boxed!(super::fork::clone3(process, space, ctx, a0, a1)),
        nr::TINE_RFORK => match pinned(super::fork::rfork(process, ctx, a0)) {
            Ok(rfork) => match rfork.await {
                Ok(action) => return action,
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        },
        nr::TINE_PDFORK => boxed!(super::fork::pdfork(process, ctx, a0, a1)),
        nr::TINE_PDGETPID => super::fork::pdgetpid(process, space, a0, a1),
        nr::TINE_PDKILL => super::fork::pdkill(process, a0, a1),
        nr::TINE_PROCCTL => super::fork::procctl(process, space, [a0, a1, a2, a3]),
        nr::TINE_SYSCTL => super::fork::sysctl(process, space, [a0, a1, a2, a3, a4, a5]),
        nr::TINE_FORKEVENTS => {
            boxed!(super::fork::forkevents(process, space, [a0, a1, a2]))
        }
        nr::TINE_PROCLIST => super::tine::proclist(space, a0, a1),
        nr::TINE_THREADLIST => super::tine::threadlist(space, a0, a1),
        nr::TINE_CPUINFO => super::tine::cpuinfo(space, a0, a1),
        nr::TINE_MEMINFO => super::tine::meminfo(space, a0, a1),
        nr::TINE_VMSTAT => super::tine::vmstat(space, a0, a1),
        nr::TINE_KBENCH => boxed!(super::tine::kbench(space, a0, a1)),
        // Boxed only when it must wait.
        nr::WAIT4 => match wait4_now(process, space, [a0, a1, a2, a3]) {
            Some(result) => result,
            None => boxed!(wait4(process, space, [a0, a1, a2, a3])),
        },
        nr::GETCPU => getcpu(space, a0, a1),
        nr::RT_SIGACTION => signal::rt_sigaction(process, space, [a0, a1, a2, a3]),
        nr::RT_SIGPROCMASK => signal::rt_sigprocmask(thread, space, [a0, a1, a2, a3]),
        nr::RT_SIGRETURN => {
            return Action::Return(crate::proc::signal::sigreturn(thread, space, ctx));
        }
        nr::RT_SIGPENDING => signal::rt_sigpending(thread, space, a0, a1),
        nr::RT_SIGSUSPEND => signal::rt_sigsuspend(thread, space, a0, a1).await,
        nr::RT_SIGTIMEDWAIT => {
            boxed!(signal::rt_sigtimedwait(thread, space, [a0, a1, a2, a3]))
        }
        nr::PAUSE => signal::pause(process).await,
        nr::SIGALTSTACK => signal::sigaltstack(thread, space, ctx, a0, a1),
        nr::KILL => signal::kill(process, a0, a1),
        nr::TKILL => signal::tgkill(process, None, a0, a1),
        nr::TGKILL => signal::tgkill(process, Some(a0), a1, a2),
        nr::SETPGID => signal::setpgid(process, a0, a1),
        nr::GETPGID => signal::getpgid(process, a0),
        nr::GETPGRP => signal::getpgid(process, 0),
        nr::SETSID => signal::setsid(process),
        nr::GETSID => signal::getsid(process, a0),
        nr::EXECVE => match pinned(super::exec::execve(thread, space, a0, a1, a2)) {
            Ok(execve) => {
                return execve.await.unwrap_or_else(|e| Action::Return(e.to_user()));
            }
            Err(e) => Err(e),
        },
        n if super::pidfd::handles(n) => boxed!(super::pidfd::call(
            process,
            space,
            n,
            [a0, a1, a2, a3, a4, a5]
        )),
        n if super::epoll::handles(n) => boxed!(super::epoll::call(
            process,
            space,
            n,
            [a0, a1, a2, a3, a4, a5]
        )),
        n if super::poll::handles(n) => boxed!(super::poll::call(
            process,
            space,
            n,
            [a0, a1, a2, a3, a4, a5]
        )),
        n if super::misc::handles(n) => boxed!(super::misc::call(
            process,
            space,
            n,
            [a0, a1, a2, a3, a4, a5]
        )),
        nr::EXIT => return Action::ExitThread(exit_status(a0 as i32)),
        nr::EXIT_GROUP => return Action::Exit(exit_status(a0 as i32)),
        other => {
            log::debug!(
                "{}[{}]: system call {other} ({}) is not implemented",
                process.name(),
                process.pid(),
                nr::name(other).unwrap_or("unknown")
            );
            Err(Errno::ENOSYS)
        }
    };
    Action::Return(encode(result))
}

/// `arch_prctl(code, addr)`: the FS and GS bases.
fn arch_prctl(space: &AddressSpace, ctx: &mut UserContext, code: u64, addr: u64) -> SysResult {
    use abi::arch_prctl::{GET_FS, GET_GS, SET_FS, SET_GS};
    match code {
        SET_FS | SET_GS => {
            // Linux: EPERM for an address outside user space.
            if addr >= arch::mm::user::USER_END {
                return Err(Errno::EPERM);
            }
            if code == SET_FS {
                ctx.fs_base = addr;
            } else {
                ctx.gs_base = addr;
            }
            Ok(0)
        }
        GET_FS | GET_GS => {
            let value = if code == GET_FS {
                ctx.fs_base
            } else {
                ctx.gs_base
            };
            space.copy_to_user(addr, &value.to_le_bytes())?;
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// The size of Linux's `struct rusage` (all zeros for now).
const RUSAGE_SIZE: usize = 144;

/// `wait4(pid, wstatus, options, rusage)`: `pid > 0` that child, `-1`
/// any child, `0` the children in the caller's process group, `< -1` those
/// in group `-pid`. `WNOHANG` returns 0 while the children run;
/// `WUNTRACED` reports a stopped child (status `sig << 8 | 0x7f`),
/// `WCONTINUED` a continued one (`0xffff`), each once; unknown options
/// `EINVAL`, then `INT_MIN` `ESRCH` (Linux's `kernel_wait4`). No matching
/// child `ECHILD`; a signal while waiting `EINTR`.
/// The child is reaped before the status is stored, so a bad `wstatus` is
/// `EFAULT` with the child gone (Linux does the same).
async fn wait4(
    process: &Arc<Process>,
    space: &AddressSpace,
    [pid, wstatus, options, rusage]: [u64; 4],
) -> SysResult {
    let (target, options) = wait4_args(process, pid, options)?;
    let waiting = process::wait_child(process.pid(), target, options);
    let found = crate::proc::wait::for_syscall(process, options, waiting).await??;
    wait4_store(space, found, wstatus, rusage)
}

/// [`wait4`] when a child is there to reap (or there is none, or the
/// arguments are wrong): `None` when it must wait.
fn wait4_now(
    process: &Process,
    space: &AddressSpace,
    [pid, wstatus, options, rusage]: [u64; 4],
) -> Option<SysResult> {
    let (target, options) = match wait4_args(process, pid, options) {
        Ok(args) => args,
        Err(e) => return Some(Err(e)),
    };
    let found = process::try_wait_child(process.pid(), target, options)?;
    Some(found.and_then(|found| wait4_store(space, found, wstatus, rusage)))
}

/// [`wait4`]'s `pid` and `options` read: whom it waits for, and how.
fn wait4_args(process: &Process, pid: u64, options: u64) -> Result<(WaitFor, WaitOptions), Errno> {
    use abi::wait::{WALL, WCLONE, WCONTINUED, WNOHANG, WNOTHREAD, WUNTRACED};
    let options = options as u32;
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | WNOTHREAD | WALL | WCLONE) != 0 {
        return Err(Errno::EINVAL);
    }
    let target = match pid as i32 {
        -1 => WaitFor::Any,
        0 => WaitFor::Group(process.pgid()),
        // Linux: `-INT_MIN` is no group ("not defined"), ESRCH.
        i32::MIN => return Err(Errno::ESRCH),
        p if p < 0 => WaitFor::Group(Pid::new((-p) as u32).ok_or(Errno::ECHILD)?),
        p => WaitFor::Pid(Pid::new(p as u32).ok_or(Errno::ECHILD)?),
    };
    let options = WaitOptions::wait4(
        options & WNOHANG != 0,
        options & WUNTRACED != 0,
        options & WCONTINUED != 0,
    );
    Ok((target, options))
}

/// [`wait4`]'s result: the child's status stored, its PID returned (0
/// for `WNOHANG` with nothing to report).
fn wait4_store(
    space: &AddressSpace,
    found: Option<(Pid, i32)>,
    wstatus: u64,
    rusage: u64,
) -> SysResult {
    let Some((child, status)) = found else {
        return Ok(0);
    };
    if wstatus != 0 {
        space.copy_to_user(wstatus, &status.to_le_bytes())?;
    }
    if rusage != 0 {
        space.copy_to_user(rusage, &[0u8; RUSAGE_SIZE])?;
    }
    Ok(u64::from(child.as_u32()))
}

/// `getcpu(cpu, node, tcache)`: the CPU the thread runs on now (it may
/// migrate right after) and node 0; either pointer may be NULL.
fn getcpu(space: &AddressSpace, cpu: u64, node: u64) -> SysResult {
    if cpu != 0 {
        space.copy_to_user(cpu, &(arch::cpu::id() as u32).to_le_bytes())?;
    }
    if node != 0 {
        space.copy_to_user(node, &0u32.to_le_bytes())?;
    }
    Ok(0)
}

/// `uname(buf)`: `struct utsname`, six 65-byte NUL-terminated fields.
fn uname(space: &AddressSpace, buf: u64) -> SysResult {
    use super::misc::{DOMAINNAME, HOSTNAME, uts_name};
    const FIELD: usize = 65;
    let node = uts_name(&HOSTNAME, "tine");
    let domain = uts_name(&DOMAINNAME, "(none)");
    let fields: [&str; 6] = [
        "Tine",
        &node,
        env!("CARGO_PKG_VERSION"),
        "#1 SMP",
        "x86_64",
        &domain,
    ];
    let mut out = [0u8; 6 * FIELD];
    for (i, f) in fields.iter().enumerate() {
        let n = f.len().min(FIELD - 1);
        out[i * FIELD..i * FIELD + n].copy_from_slice(&f.as_bytes()[..n]);
    }
    space.copy_to_user(buf, &out)?;
    Ok(0)
}

/// `mmap(addr, len, prot, flags, fd, offset)`: anonymous memory only
/// (file mappings are `ENODEV`), private or shared (`MAP_SHARED`: a new
/// shared-memory object, shared with children across fork). Exactly one
/// of `MAP_PRIVATE` and `MAP_SHARED` (or `MAP_SHARED_VALIDATE`, both
/// bits, which Tine treats as `MAP_SHARED`), else `EINVAL`; shared memory
/// with `MAP_GROWSDOWN` is `EINVAL`. PROT bits other than read, write and
/// exec are ignored, as Linux's `mmap` ignores them (`mprotect` refuses
/// them).
fn mmap(space: &AddressSpace, [addr, len, prot, flags, _fd, offset]: [u64; 6]) -> SysResult {
    use abi::mman::{ANONYMOUS, FIXED, FIXED_NOREPLACE, GROWSDOWN, PRIVATE, SHARED};
    if len == 0 || !offset.is_multiple_of(4096) {
        return Err(Errno::EINVAL);
    }
    let shared = match flags & (SHARED | PRIVATE) {
        PRIVATE => false,
        SHARED | 0x03 if flags & GROWSDOWN == 0 => true,
        _ => return Err(Errno::EINVAL),
    };
    if flags & ANONYMOUS == 0 {
        return Err(Errno::ENODEV);
    }
    let fixed = if flags & (FIXED | FIXED_NOREPLACE) != 0 {
        Some(addr)
    } else {
        None
    };
    space.mmap_anonymous(
        fixed,
        len,
        VmPerms::from_prot(prot & 7),
        flags & FIXED_NOREPLACE == 0,
        shared,
    )
}
