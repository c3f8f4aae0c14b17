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
