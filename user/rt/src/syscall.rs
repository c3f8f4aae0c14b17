//! Linux x86-64 system calls.
//!
//! `syscall0`..`syscall6` are the raw instruction (number in `rax`,
//! arguments in `rdi rsi rdx r10 r8 r9`, result in `rax`; the CPU
//! clobbers `rcx` and `r11`). The safe wrappers below turn a result in
//! `-4095..=-1` into an [`Errno`].

use core::arch::asm;
use core::ffi::{CStr, c_char};

/// System call numbers (Linux x86-64; Tine uses the same).
pub mod nr {
    pub const READ: usize = 0;
    pub const WRITE: usize = 1;
    pub const CLOSE: usize = 3;
    pub const SCHED_YIELD: usize = 24;
    pub const GETPID: usize = 39;
    pub const FORK: usize = 57;
    pub const EXECVE: usize = 59;
    pub const EXIT: usize = 60;
    pub const WAIT4: usize = 61;
    pub const KILL: usize = 62;
    pub const GETPPID: usize = 110;
    pub const EXIT_GROUP: usize = 231;
    pub const GETCPU: usize = 309;
}

/// An error number from the kernel (`EINVAL` is `Errno(22)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    pub const ENOENT: Self = Self(2);
    pub const EINTR: Self = Self(4);
    pub const E2BIG: Self = Self(7);
    pub const ENOEXEC: Self = Self(8);
    pub const ECHILD: Self = Self(10);
    pub const EAGAIN: Self = Self(11);
    pub const EINVAL: Self = Self(22);
    pub const ENOSYS: Self = Self(38);
}

impl core::fmt::Display for Errno {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "errno {}", self.0)
    }
}

/// A raw result: errors are `-4095..=-1`.
fn check(ret: isize) -> Result<usize, Errno> {
    if (-4095..0).contains(&ret) {
        Err(Errno(-ret as i32))
    } else {
        Ok(ret as usize)
    }
}

macro_rules! raw_syscall {
    ($(#[$doc:meta])* $name:ident($($arg:ident => $reg:tt),*)) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// The arguments must be valid for system call `n` as the kernel
        /// defines it: pointers point at memory of the size and mutability
        /// the call reads or writes, and the call must not break an
        /// invariant Rust relies on (unmapping live memory, say).
        #[inline]
        pub unsafe fn $name(n: usize $(, $arg: usize)*) -> isize {
            let ret: isize;
            // SAFETY: the caller guarantees the call itself is sound; the
            // instruction clobbers only rax (the result), rcx and r11,
            // which are declared, and leaves the stack alone.
            unsafe {
                asm!(
                    "syscall",
                    inlateout("rax") n as isize => ret,
                    $(in($reg) $arg,)*
                    lateout("rcx") _,
                    lateout("r11") _,
                    options(nostack),
                );
            }
            ret
        }
    };
}

raw_syscall!(
    /// A system call without arguments.
    syscall0()
);
raw_syscall!(
    /// A system call with one argument.
    syscall1(a => "rdi")
);
raw_syscall!(
    /// A system call with two arguments.
    syscall2(a => "rdi", b => "rsi")
);
raw_syscall!(
    /// A system call with three arguments.
    syscall3(a => "rdi", b => "rsi", c => "rdx")
);
raw_syscall!(
    /// A system call with four arguments.
    syscall4(a => "rdi", b => "rsi", c => "rdx", d => "r10")
);
raw_syscall!(
    /// A system call with six arguments.
    syscall6(a => "rdi", b => "rsi", c => "rdx", d => "r10", e => "r8", f => "r9")
);

/// `read(fd, buf)`: the number of bytes read.
pub fn read(fd: i32, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: the kernel writes at most buf.len() bytes into buf, which we
    // borrow mutably for the call.
    check(unsafe { syscall3(nr::READ, fd as usize, buf.as_mut_ptr() as usize, buf.len()) })
}

/// `write(fd, buf)`: the number of bytes written.
pub fn write(fd: i32, buf: &[u8]) -> Result<usize, Errno> {
    // SAFETY: the kernel reads at most buf.len() bytes from buf.
    check(unsafe { syscall3(nr::WRITE, fd as usize, buf.as_ptr() as usize, buf.len()) })
}

/// Writes all of `buf`, retrying short writes and `EINTR`.
pub fn write_all(fd: i32, mut buf: &[u8]) -> Result<(), Errno> {
    while !buf.is_empty() {
        match write(fd, buf) {
            Ok(0) => return Err(Errno(5)), // EIO: no progress
            Ok(n) => buf = &buf[n.min(buf.len())..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `close(fd)`.
pub fn close(fd: i32) -> Result<(), Errno> {
    // SAFETY: no memory is passed.
    check(unsafe { syscall1(nr::CLOSE, fd as usize) }).map(|_| ())
}

/// `getpid()`.
pub fn getpid() -> i32 {
    // SAFETY: no arguments; getpid cannot fail.
    unsafe { syscall0(nr::GETPID) as i32 }
}

/// `getppid()`.
pub fn getppid() -> i32 {
    // SAFETY: no arguments; getppid cannot fail.
    unsafe { syscall0(nr::GETPPID) as i32 }
}

/// `sched_yield()`.
pub fn sched_yield() {
    // SAFETY: no arguments.
    unsafe { syscall0(nr::SCHED_YIELD) };
}

/// `fork()`: `Ok(0)` in the child, the child's pid in the parent.
pub fn fork() -> Result<i32, Errno> {
    // SAFETY: the child gets a copy of the address space; programs using
    // this runtime are single-threaded, so no lock is held by a thread
    // that does not exist in the child.
    check(unsafe { syscall0(nr::FORK) }).map(|pid| pid as i32)
}

/// `kill(pid, sig)`.
pub fn kill(pid: i32, sig: i32) -> Result<(), Errno> {
    // SAFETY: no memory is passed.
    check(unsafe { syscall2(nr::KILL, pid as usize, sig as usize) }).map(|_| ())
}

/// `wait4(pid, &status, options, NULL)`: the pid reaped and its status.
pub fn wait4(pid: i32, options: i32) -> Result<(i32, i32), Errno> {
    let mut status: i32 = 0;
    // SAFETY: the kernel writes one i32 to `status`, which lives across
    // the call; rusage is NULL.
    let ret = unsafe {
        syscall4(
            nr::WAIT4,
            pid as usize,
            &mut status as *mut i32 as usize,
            options as usize,
            0,
        )
    };
    check(ret).map(|pid| (pid as i32, status))
}

/// `getcpu(&cpu, NULL, NULL)`: the CPU the caller runs on (it may move
/// right after).
pub fn getcpu() -> Result<u32, Errno> {
    let mut cpu: u32 = 0;
    // SAFETY: the kernel writes one u32 to `cpu`, which lives across the
    // call; node and tcache are NULL.
    let ret = unsafe { syscall3(nr::GETCPU, &mut cpu as *mut u32 as usize, 0, 0) };
    check(ret).map(|_| cpu)
}

/// Most arguments plus environment strings [`execve`] passes.
pub const EXECVE_MAX_STRINGS: usize = 64;

/// `execve(path, argv, envp)`: returns only on failure.
pub fn execve(path: &CStr, argv: &[&CStr], envp: &[&CStr]) -> Errno {
    if argv.len() + envp.len() > EXECVE_MAX_STRINGS {
        return Errno::E2BIG;
    }
    let mut argv_ptrs = [core::ptr::null::<c_char>(); EXECVE_MAX_STRINGS + 1];
    let mut envp_ptrs = [core::ptr::null::<c_char>(); EXECVE_MAX_STRINGS + 1];
    for (slot, s) in argv_ptrs.iter_mut().zip(argv) {
        *slot = s.as_ptr();
    }
    for (slot, s) in envp_ptrs.iter_mut().zip(envp) {
        *slot = s.as_ptr();
    }
    // SAFETY: path and every string are NUL-terminated (`CStr`); both
    // pointer arrays are NULL-terminated (they are longer than the
    // strings they hold) and live across the call.
    let ret = unsafe {
        syscall3(
            nr::EXECVE,
            path.as_ptr() as usize,
            argv_ptrs.as_ptr() as usize,
            envp_ptrs.as_ptr() as usize,
        )
    };
    match check(ret) {
        Err(e) => e,
        Ok(_) => Errno::EINVAL, // execve does not return on success
    }
}

/// `exit(status)`: ends this thread.
pub fn exit(status: i32) -> ! {
    // SAFETY: exit does not return and touches no memory of ours.
    unsafe { syscall1(nr::EXIT, status as usize) };
    unreachable_exit()
}

/// `exit_group(status)`: ends the process.
pub fn exit_group(status: i32) -> ! {
    // SAFETY: exit_group does not return and touches no memory of ours.
    unsafe { syscall1(nr::EXIT_GROUP, status as usize) };
    unreachable_exit()
}

/// Where an exit that returned (a kernel bug) ends up: spin forever.
fn unreachable_exit() -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// Signals, process groups and sessions (Linux x86-64 numbers and
/// layouts; `docs/signals.md`).
pub mod signal {
    use super::{Errno, check, syscall0, syscall1, syscall2, syscall3, syscall4};

    /// System call numbers.
    pub mod nr {
        pub const RT_SIGACTION: usize = 13;
        pub const RT_SIGPROCMASK: usize = 14;
        pub const RT_SIGRETURN: usize = 15;
        pub const PAUSE: usize = 34;
        pub const SETPGID: usize = 109;
        pub const GETPGRP: usize = 111;
        pub const SETSID: usize = 112;
        pub const GETPGID: usize = 121;
        pub const GETSID: usize = 124;
        pub const RT_SIGPENDING: usize = 127;
        pub const RT_SIGSUSPEND: usize = 130;
        pub const SIGALTSTACK: usize = 131;
        pub const TKILL: usize = 200;
        pub const TGKILL: usize = 234;
    }

    pub const SIGINT: i32 = 2;
    pub const SIGILL: i32 = 4;
    pub const SIGKILL: i32 = 9;
    pub const SIGUSR1: i32 = 10;
    pub const SIGSEGV: i32 = 11;
    pub const SIGUSR2: i32 = 12;
    pub const SIGTERM: i32 = 15;
    pub const SIGCHLD: i32 = 17;
    pub const SIGCONT: i32 = 18;
    pub const SIGSTOP: i32 = 19;
    pub const SIGTSTP: i32 = 20;

    /// `sa_flags`.
    pub const SA_NOCLDSTOP: u64 = 1;
    pub const SA_NOCLDWAIT: u64 = 2;
    pub const SA_SIGINFO: u64 = 4;
    pub const SA_RESTORER: u64 = 0x0400_0000;
    pub const SA_ONSTACK: u64 = 0x0800_0000;
    pub const SA_RESTART: u64 = 0x1000_0000;
    pub const SA_NODEFER: u64 = 0x4000_0000;
    pub const SA_RESETHAND: u64 = 0x8000_0000;

    /// `sa_handler` values.
    pub const SIG_DFL: usize = 0;
    pub const SIG_IGN: usize = 1;

    /// `rt_sigprocmask`'s `how`.
    pub const SIG_BLOCK: usize = 0;
    pub const SIG_UNBLOCK: usize = 1;
    pub const SIG_SETMASK: usize = 2;

    /// `ss_flags`.
    pub const SS_ONSTACK: i32 = 1;
    pub const SS_DISABLE: i32 = 2;

    /// The bit of signal `sig` in a `sigset_t`.
    pub const fn bit(sig: i32) -> u64 {
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
        sig: i32,
        act: Option<&SigAction>,
        old: Option<&mut SigAction>,
    ) -> Result<(), Errno> {
        let act = act.map_or(0, |a| a as *const SigAction as usize);
        let old = old.map_or(0, |o| o as *mut SigAction as usize);
        // SAFETY: both pointers are NULL or point at a `SigAction` that
        // lives across the call; the kernel reads one and writes the other.
        check(unsafe { syscall4(nr::RT_SIGACTION, sig as usize, act, old, 8) }).map(|_| ())
    }

    /// `rt_sigprocmask(how, set, oset, 8)`: the old mask.
    pub fn sigprocmask(how: usize, set: Option<u64>) -> Result<u64, Errno> {
        let mut old = 0u64;
        let set_ptr = set.as_ref().map_or(0, |s| s as *const u64 as usize);
        // SAFETY: `set` is NULL or a u64 of ours the kernel reads; `old` is
        // a u64 it writes; both live across the call.
        let r = unsafe {
            syscall4(
                nr::RT_SIGPROCMASK,
                how,
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
    pub fn tgkill(tgid: i32, tid: i32, sig: i32) -> Result<(), Errno> {
        // SAFETY: no memory is passed.
        check(unsafe { syscall3(nr::TGKILL, tgid as usize, tid as usize, sig as usize) })
            .map(|_| ())
    }

    /// `tkill(tid, sig)`.
    pub fn tkill(tid: i32, sig: i32) -> Result<(), Errno> {
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
}
