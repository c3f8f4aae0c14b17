//! Linux x86-64 system calls: the only place a Tine user program issues
//! one.
//!
//! `syscall0`..`syscall6` are the raw instruction (number in `rax`,
//! arguments in `rdi rsi rdx r10 r8 r9`, result in `rax`; the CPU
//! clobbers `rcx` and `r11`). The safe wrappers turn a result in
//! `-4095..=-1` into an [`Errno`]. Numbers, error numbers, signal numbers
//! and flags come from the `abi` crate, shared with the kernel.
//!
//! - [`process`]: the fork family, exec, exit, wait, kill, resource
//!   limits, Tine's process and information calls;
//! - [`signal`]: signal actions and masks, process groups and sessions;
//! - [`files`]: descriptors, paths, the terminal;
//! - here: memory, clocks, and the wrappers every program uses, re-exported
//!   from those modules under their old paths.

use core::arch::asm;

pub use abi::nr;
pub use abi::{self, Errno};

pub mod files;
pub mod process;
pub mod signal;

pub use files::top::*;
pub use process::*;
pub use signal::top::*;

/// System call `n` with up to six arguments (missing ones are 0), decoded
/// as Linux's: `Ok(value)` or `Err(errno)`. For programs that pass odd
/// arguments on purpose (the EFAULT and EINVAL tests); everything else
/// uses a typed wrapper.
///
/// # Safety
/// As [`syscall6`]: the arguments must not make the kernel write over
/// memory Rust relies on (bad pointers the kernel refuses with `EFAULT`
/// are fine).
pub unsafe fn call(n: u64, args: &[usize]) -> Result<usize, Errno> {
    let mut a = [0usize; 6];
    let len = args.len().min(6);
    a[..len].copy_from_slice(&args[..len]);
    // SAFETY: the caller's contract.
    check(unsafe { syscall6(n, a[0], a[1], a[2], a[3], a[4], a[5]) })
}

/// A raw result: errors are `-4095..=-1`.
pub(crate) fn check(ret: isize) -> Result<usize, Errno> {
    Errno::from_ret(ret)
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
        pub unsafe fn $name(n: u64 $(, $arg: usize)*) -> isize {
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

/// `nanosleep` for `ns` nanoseconds (`EINTR` when a signal cut it short).
pub fn nanosleep(ns: u64) -> Result<(), Errno> {
    let req = [ns / 1_000_000_000, ns % 1_000_000_000];
    // SAFETY: the kernel reads one `struct timespec` (two u64s) from
    // `req`; the remainder pointer is NULL.
    check(unsafe { syscall2(nr::NANOSLEEP, req.as_ptr() as usize, 0) }).map(|_| ())
}

/// `CLOCK_MONOTONIC`.
pub const CLOCK_MONOTONIC: i32 = 1;

/// `clock_gettime(clock)` in nanoseconds.
pub fn clock_gettime(clock: i32) -> Result<u64, Errno> {
    let mut ts = [0u64; 2];
    // SAFETY: the kernel writes one `struct timespec` (two u64s) to `ts`.
    check(unsafe { syscall2(nr::CLOCK_GETTIME, clock as usize, ts.as_mut_ptr() as usize) })?;
    Ok(ts[0] * 1_000_000_000 + ts[1])
}

/// `mmap(NULL, len, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS)`:
/// the address of `len` fresh zeroed bytes.
pub fn mmap_anonymous(len: usize) -> Result<usize, Errno> {
    // SAFETY: a new private mapping touches no existing memory.
    check(unsafe { syscall6(nr::MMAP, 0, len, 3, 0x22, usize::MAX, 0) })
}

/// `munmap(addr, len)`.
///
/// The caller must not use the memory afterwards; the allocator is the
/// only user.
pub fn munmap(addr: usize, len: usize) -> Result<(), Errno> {
    // SAFETY: the range was mapped by `mmap_anonymous` for an allocation
    // its owner just freed; nothing refers to it any more.
    check(unsafe { syscall2(nr::MUNMAP, addr, len) }).map(|_| ())
}
