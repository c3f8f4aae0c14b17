//! The system calls that never wait, run from the trap loop
//! (`proc::thread::run`'s fast paths, `arch::user::Inline`) without the
//! thread's loop top, the `dispatch` future or a return from
//! `arch::user::run_until_with`:
//!
//! - [`fast`]: `getpid`, `gettid` and `getppid`, answered before the CPU
//!   even stops being marked as running the caller's page table (they
//!   take no lock and touch no user memory);
//! - [`now`]: every call that cannot wait, allocates nothing and takes a
//!   bounded, short time (identifiers, credentials, the signal mask and
//!   actions, limits, `uname`, ...): run with interrupts masked, so each
//!   must stay short; one that may wait, allocate or walk something
//!   unbounded (a file, `mmap`, `kill` of a group, `brk`'s unmapping)
//!   stays with [`super::dispatch()`].
//!
//! [`super::dispatch()`] runs [`now`] first, so a call's code is written
//! once whichever way it comes.

use arch::user::UserContext;

use crate::proc::thread::Thread;
use crate::vm::space::AddressSpace;
use abi::errno::encode;
use abi::nr;
use abi::{Errno, SysResult};

/// The system calls answered without even leaving the user-mode inner
/// loop (module docs): those that only read the caller's own
/// identifiers, never fail, never wait, take no lock and change nothing.
/// `None` for every other number.
pub fn fast(thread: &Thread, nr: u64) -> Option<u64> {
    match nr {
        nr::GETPID => Some(u64::from(thread.process().pid().as_u32())),
        nr::GETTID => Some(u64::from(thread.tid().as_u32())),
        nr::GETPPID => Some(u64::from(thread.process().ppid().as_u32())),
        _ => None,
    }
}

/// Runs the system call `thread` trapped with (number in `ctx.rax`, which
/// the result replaces in the caller) if it is one that never waits
/// (module docs), returning its `rax`; `None` (nothing done) for every
/// other call. They allocate nothing, so they need no heap headroom
/// (`crate::fallible::syscall_headroom`).
pub fn now(thread: &Thread, space: &AddressSpace, ctx: &mut UserContext) -> Option<u64> {
    use super::signal;
    let process = thread.process();
    let [a0, a1, a2, a3, a4, a5] = ctx.syscall_args();
    let n = ctx.rax;
    let result: SysResult = match n {
        nr::GETPID | nr::GETTID | nr::GETPPID => return fast(thread, n),
        nr::SET_TID_ADDRESS => {
            thread.set_clear_child_tid(a0);
            Ok(u64::from(thread.tid().as_u32()))
        }
        nr::SET_ROBUST_LIST => super::misc::set_robust_list(thread, a0, a1),
        nr::UNAME => uname(space, a0),
        nr::ARCH_PRCTL => arch_prctl(space, ctx, a0, a1),
        nr::GETCPU => getcpu(space, a0, a1),
        nr::RT_SIGACTION => signal::rt_sigaction(process, space, [a0, a1, a2, a3]),
        nr::RT_SIGPROCMASK => signal::rt_sigprocmask(thread, space, [a0, a1, a2, a3]),
        nr::RT_SIGPENDING => signal::rt_sigpending(thread, space, a0, a1),
        nr::SIGALTSTACK => signal::sigaltstack(thread, space, ctx, a0, a1),
        nr::GETPGID => signal::getpgid(process, a0),
        nr::GETPGRP => signal::getpgid(process, 0),
        nr::GETSID => signal::getsid(process, a0),
        n => super::misc::now(process, space, n, [a0, a1, a2, a3, a4, a5])?,
    };
    Some(encode(result))
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
    use super::misc::{DOMAINNAME, HOSTNAME, uts_name_into};
    const FIELD: usize = 65;
    let fields: [&str; 6] = [
        "Tine",
        "",
        env!("CARGO_PKG_VERSION"),
        "#1 SMP",
        "x86_64",
        "",
    ];
    let mut out = [0u8; 6 * FIELD];
    for (i, f) in fields.iter().enumerate() {
        out[i * FIELD..i * FIELD + f.len()].copy_from_slice(f.as_bytes());
    }
    // The names `sethostname`/`setdomainname` set, copied under their
    // locks without allocating.
    uts_name_into(&HOSTNAME, "tine", &mut out[FIELD..2 * FIELD]);
    uts_name_into(&DOMAINNAME, "(none)", &mut out[5 * FIELD..6 * FIELD]);
    space.copy_to_user(buf, &out)?;
    Ok(0)
}
