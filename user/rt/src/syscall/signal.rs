//! Signals, process groups and sessions (Linux x86-64 numbers and
//! layouts; `docs/signals.md`).

use super::{Errno, check, syscall0, syscall1, syscall2, syscall3, syscall4};

/// System call numbers.
pub use abi::nr;

/// Signal numbers: `abi`'s one type, [`Signal`], which converts into the
/// `i32` the calls take (`kill(pid, SIGTERM)`) and compares with one.
pub use abi::signal::*;

/// `sa_flags`.
pub use abi::signal::sa::{
    NOCLDSTOP as SA_NOCLDSTOP, NOCLDWAIT as SA_NOCLDWAIT, NODEFER as SA_NODEFER,
    ONSTACK as SA_ONSTACK, RESETHAND as SA_RESETHAND, RESTART as SA_RESTART,
    RESTORER as SA_RESTORER, SIGINFO as SA_SIGINFO,
};

/// `sa_handler` values, as the `usize` [`SigAction::handler`] holds.
pub const SIG_DFL: usize = abi::signal::SIG_DFL as usize;
pub const SIG_IGN: usize = abi::signal::SIG_IGN as usize;

/// `rt_sigprocmask`'s `how`.
pub use abi::signal::how::{SIG_BLOCK, SIG_SETMASK, SIG_UNBLOCK};

/// `ss_flags`.
pub use abi::signal::ss::{DISABLE as SS_DISABLE, ONSTACK as SS_ONSTACK};

/// The bit of signal `sig` in a `sigset_t`.
pub fn bit(sig: impl Into<i32>) -> u64 {
    let sig: i32 = sig.into();
    1 << (sig - 1)
}

/// A three-argument handler: signal, `siginfo_t *`, `ucontext_t *`.
pub type Handler = extern "C" fn(i32, *mut u8, *mut u8);

/// The kernel's `struct sigaction` (what `rt_sigaction` takes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    pub handler: usize,
    pub flags: u64,
    pub restorer: usize,
    pub mask: u64,
}

impl SigAction {
    /// `handler` with `SA_SIGINFO | SA_RESTORER | flags`, returning
    /// through [`restorer`], blocking `mask` while it runs.
    pub fn handler(handler: Handler, flags: u64, mask: u64) -> Self {
        Self {
            handler: handler as usize,
            flags: flags | SA_SIGINFO | SA_RESTORER,
            restorer: restorer(),
            mask,
        }
    }

    /// `SIG_DFL` or `SIG_IGN` with `flags`.
    pub fn disposition(handler: usize, flags: u64) -> Self {
        Self {
            handler,
            flags,
            ..Self::default()
        }
    }
}

/// `stack_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stack {
    pub sp: usize,
    pub flags: i32,
    pub size: usize,
}

core::arch::global_asm!(
    ".globl __tine_rt_restore",
    "__tine_rt_restore:",
    "mov eax, 15",
    "syscall",
    "ud2",
);

unsafe extern "C" {
    /// `rt_sigreturn` (the handler's return address).
    fn __tine_rt_restore();
}

/// The address of the `rt_sigreturn` trampoline (`sa_restorer`).
pub fn restorer() -> usize {
    __tine_rt_restore as *const () as usize
}

/// `rt_sigaction(sig, act, oact, 8)`.
pub fn sigaction(
    sig: impl Into<i32>,
    act: Option<&SigAction>,
    old: Option<&mut SigAction>,
) -> Result<(), Errno> {
    let sig: i32 = sig.into();
    let act = act.map_or(0, |a| a as *const SigAction as usize);
    let old = old.map_or(0, |o| o as *mut SigAction as usize);
    // SAFETY: both pointers are NULL or point at a `SigAction` that
    // lives across the call; the kernel reads one and writes the other.
    check(unsafe { syscall4(nr::RT_SIGACTION, sig as usize, act, old, 8) }).map(|_| ())
}

/// `rt_sigprocmask(how, set, oset, 8)`: the old mask.
pub fn sigprocmask(how: u64, set: Option<u64>) -> Result<u64, Errno> {
    let mut old = 0u64;
    let set_ptr = set.as_ref().map_or(0, |s| s as *const u64 as usize);
    // SAFETY: `set` is NULL or a u64 of ours the kernel reads; `old` is
    // a u64 it writes; both live across the call.
    let r = unsafe {
        syscall4(
            nr::RT_SIGPROCMASK,
            how as usize,
            set_ptr,
            &mut old as *mut u64 as usize,
            8,
        )
    };
    check(r).map(|_| old)
}

/// `rt_sigpending(set, 8)`.
pub fn sigpending() -> Result<u64, Errno> {
    let mut set = 0u64;
    // SAFETY: the kernel writes 8 bytes to `set`.
    let r = unsafe { syscall2(nr::RT_SIGPENDING, &mut set as *mut u64 as usize, 8) };
    check(r).map(|_| set)
}

/// `rt_sigsuspend(mask, 8)`: returns when a handler has run (`EINTR`).
pub fn sigsuspend(mask: u64) -> Errno {
    // SAFETY: the kernel reads 8 bytes from `mask`.
    let r = unsafe { syscall2(nr::RT_SIGSUSPEND, &mask as *const u64 as usize, 8) };
    check(r).err().unwrap_or(Errno::EINVAL)
}

/// `pause()`: returns when a handler has run (`EINTR`).
pub fn pause() -> Errno {
    // SAFETY: no memory is passed.
    check(unsafe { syscall0(nr::PAUSE) })
        .err()
        .unwrap_or(Errno::EINVAL)
}

/// `sigaltstack(ss, old_ss)`.
pub fn sigaltstack(new: Option<&Stack>, old: Option<&mut Stack>) -> Result<(), Errno> {
    let new = new.map_or(0, |s| s as *const Stack as usize);
    let old = old.map_or(0, |s| s as *mut Stack as usize);
    // SAFETY: NULL or `Stack`s of ours that live across the call.
    check(unsafe { syscall2(nr::SIGALTSTACK, new, old) }).map(|_| ())
}

/// `tgkill(tgid, tid, sig)`.
pub fn tgkill(tgid: i32, tid: i32, sig: impl Into<i32>) -> Result<(), Errno> {
    let sig: i32 = sig.into();
    // SAFETY: no memory is passed.
    check(unsafe { syscall3(nr::TGKILL, tgid as usize, tid as usize, sig as usize) }).map(|_| ())
}

/// `tkill(tid, sig)`.
pub fn tkill(tid: i32, sig: impl Into<i32>) -> Result<(), Errno> {
    let sig: i32 = sig.into();
    // SAFETY: no memory is passed.
    check(unsafe { syscall2(nr::TKILL, tid as usize, sig as usize) }).map(|_| ())
}

/// `setpgid(pid, pgid)`.
pub fn setpgid(pid: i32, pgid: i32) -> Result<(), Errno> {
    // SAFETY: no memory is passed.
    check(unsafe { syscall2(nr::SETPGID, pid as usize, pgid as usize) }).map(|_| ())
}

/// `getpgid(pid)`.
pub fn getpgid(pid: i32) -> Result<i32, Errno> {
    // SAFETY: no memory is passed.
    check(unsafe { syscall1(nr::GETPGID, pid as usize) }).map(|p| p as i32)
}

/// `getpgrp()`.
pub fn getpgrp() -> i32 {
    // SAFETY: no memory is passed; getpgrp cannot fail.
    unsafe { syscall0(nr::GETPGRP) as i32 }
}

/// `setsid()`: the new session's ID.
pub fn setsid() -> Result<i32, Errno> {
    // SAFETY: no memory is passed.
    check(unsafe { syscall0(nr::SETSID) }).map(|p| p as i32)
}

/// `getsid(pid)`.
pub fn getsid(pid: i32) -> Result<i32, Errno> {
    // SAFETY: no memory is passed.
    check(unsafe { syscall1(nr::GETSID, pid as usize) }).map(|p| p as i32)
}

/// The top-level wrappers (`tine_rt::syscall::{signal, pause, setpgid,
/// getpgid}`), kept where programs have always found them.
pub mod top {
    use super::super::{Errno, check, nr, syscall0, syscall1, syscall2, syscall4};

    /// `setpgid(pid, pgid)`.
    pub fn setpgid(pid: i32, pgid: i32) -> Result<(), Errno> {
        // SAFETY: no memory is passed.
        check(unsafe { syscall2(nr::SETPGID, pid as usize, pgid as usize) }).map(|_| ())
    }

    /// `getpgid(pid)`.
    pub fn getpgid(pid: i32) -> Result<i32, Errno> {
        // SAFETY: no memory is passed.
        check(unsafe { syscall1(nr::GETPGID, pid as usize) }).map(|p| p as i32)
    }

    /// `pause()`: sleeps until a signal arrives.
    pub fn pause() -> Errno {
        // SAFETY: no memory is passed.
        match check(unsafe { syscall0(nr::PAUSE) }) {
            Err(e) => e,
            Ok(_) => Errno::EINTR,
        }
    }

    /// `SIG_DFL` and `SIG_IGN`, the handlers [`signal`] can set.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Disposition {
        Default = 0,
        Ignore = 1,
    }

    /// Linux's `struct kernel_sigaction` for a handler without a function:
    /// handler, flags, restorer, mask.
    #[repr(C)]
    pub struct KernelSigaction {
        pub handler: usize,
        pub flags: u64,
        pub restorer: usize,
        pub mask: u64,
    }

    /// `rt_sigaction(sig, {disposition}, NULL, 8)`: sets `sig` to default or
    /// ignored (no handlers: they would need a restorer trampoline).
    pub fn signal(sig: impl Into<i32>, disposition: Disposition) -> Result<(), Errno> {
        let sig: i32 = sig.into();
        let act = KernelSigaction {
            handler: disposition as usize,
            flags: 0,
            restorer: 0,
            mask: 0,
        };
        // SAFETY: the kernel reads one `kernel_sigaction` from `act`; the old
        // action pointer is NULL; the mask size is 8 bytes as on Linux.
        check(unsafe {
            syscall4(
                nr::RT_SIGACTION,
                sig as usize,
                &act as *const _ as usize,
                0,
                8,
            )
        })
        .map(|_| ())
    }
}
