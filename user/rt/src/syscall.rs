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
    pub const OPEN: usize = 2;
    pub const MMAP: usize = 9;
    pub const MUNMAP: usize = 11;
    pub const RT_SIGACTION: usize = 13;
    pub const IOCTL: usize = 16;
    pub const PIPE: usize = 22;
    pub const DUP2: usize = 33;
    pub const PAUSE: usize = 34;
    pub const NANOSLEEP: usize = 35;
    pub const VFORK: usize = 58;
    pub const GETCWD: usize = 79;
    pub const CHDIR: usize = 80;
    pub const SETPGID: usize = 109;
    pub const GETPGRP: usize = 111;
    pub const GETPGID: usize = 121;
    pub const CLOCK_GETTIME: usize = 228;
    pub const PIPE2: usize = 293;
    pub const PRLIMIT64: usize = 302;
    /// Tine's own calls (`docs/syscalls.md`).
    pub const TINE_RFORK: usize = 1000;
    pub const TINE_PDFORK: usize = 1001;
    pub const TINE_PDGETPID: usize = 1002;
    pub const TINE_PDKILL: usize = 1003;
    pub const TINE_PROCCTL: usize = 1004;
    pub const TINE_SYSCTL: usize = 1005;
    pub const TINE_POWEROFF: usize = 1006;
    pub const TINE_PROCLIST: usize = 1007;
    pub const TINE_CPUINFO: usize = 1008;
    pub const TINE_MEMINFO: usize = 1009;
    pub const TINE_FORKEVENTS: usize = 1010;
    pub const TINE_KBENCH: usize = 1011;
    pub const TINE_VMSTAT: usize = 1012;
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
    pub const EFAULT: Self = Self(14);
    pub const ESRCH: Self = Self(3);
    pub const ERANGE: Self = Self(34);
    pub const ENOTTY: Self = Self(25);
    pub const ENOTDIR: Self = Self(20);
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

/// `open(path, flags, mode)`: a new file descriptor.
pub fn open(path: &CStr, flags: i32, mode: u32) -> Result<i32, Errno> {
    // SAFETY: `path` is NUL-terminated and lives across the call.
    check(unsafe {
        syscall3(
            nr::OPEN,
            path.as_ptr() as usize,
            flags as usize,
            mode as usize,
        )
    })
    .map(|fd| fd as i32)
}

/// `open` flags.
pub mod o {
    pub const RDONLY: i32 = 0;
    pub const WRONLY: i32 = 1;
    pub const RDWR: i32 = 2;
    pub const CREAT: i32 = 0o100;
    pub const TRUNC: i32 = 0o1000;
    pub const APPEND: i32 = 0o2000;
    pub const CLOEXEC: i32 = 0o2000000;
}

/// `dup2(old, new)`.
pub fn dup2(old: i32, new: i32) -> Result<i32, Errno> {
    // SAFETY: no memory is passed.
    check(unsafe { syscall2(nr::DUP2, old as usize, new as usize) }).map(|fd| fd as i32)
}

/// `pipe2(fds, flags)`, falling back to `pipe(fds)` where `pipe2` is
/// `ENOSYS` and no flags are asked for: `[read end, write end]`.
pub fn pipe2(flags: i32) -> Result<[i32; 2], Errno> {
    let mut fds = [0i32; 2];
    // SAFETY: the kernel writes two i32s to `fds`, which lives across the
    // call.
    let r = check(unsafe { syscall2(nr::PIPE2, fds.as_mut_ptr() as usize, flags as usize) });
    match r {
        Err(Errno::ENOSYS) if flags == 0 => {
            // SAFETY: as above.
            check(unsafe { syscall1(nr::PIPE, fds.as_mut_ptr() as usize) })?;
        }
        r => {
            r?;
        }
    }
    Ok(fds)
}

/// `chdir(path)`.
pub fn chdir(path: &CStr) -> Result<(), Errno> {
    // SAFETY: `path` is NUL-terminated and lives across the call.
    check(unsafe { syscall1(nr::CHDIR, path.as_ptr() as usize) }).map(|_| ())
}

/// `getcwd(buf)`: the path's length without its NUL.
pub fn getcwd(buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: the kernel writes at most buf.len() bytes into buf.
    check(unsafe { syscall2(nr::GETCWD, buf.as_mut_ptr() as usize, buf.len()) })?;
    Ok(buf.iter().position(|&b| b == 0).unwrap_or(buf.len()))
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

/// `ioctl(fd, request, arg)` with an integer or pointer argument the
/// caller vouches for.
///
/// # Safety
/// `arg` must be what `request` expects: when it is a pointer, it points
/// at memory of the size and mutability the request reads or writes.
pub unsafe fn ioctl(fd: i32, request: usize, arg: usize) -> Result<usize, Errno> {
    // SAFETY: the caller's contract.
    check(unsafe { syscall3(nr::IOCTL, fd as usize, request, arg) })
}

/// `nanosleep` for `ns` nanoseconds (`EINTR` when a signal cut it short).
pub fn nanosleep(ns: u64) -> Result<(), Errno> {
    let req = [ns / 1_000_000_000, ns % 1_000_000_000];
    // SAFETY: the kernel reads one `struct timespec` (two u64s) from
    // `req`; the remainder pointer is NULL.
    check(unsafe { syscall2(nr::NANOSLEEP, req.as_ptr() as usize, 0) }).map(|_| ())
}

/// `pause()`: sleeps until a signal arrives.
pub fn pause() -> Errno {
    // SAFETY: no memory is passed.
    match check(unsafe { syscall0(nr::PAUSE) }) {
        Err(e) => e,
        Ok(_) => Errno::EINTR,
    }
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
pub fn signal(sig: i32, disposition: Disposition) -> Result<(), Errno> {
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

/// `RLIMIT_NPROC`.
pub const RLIMIT_NPROC: i32 = 6;
/// `RLIM_INFINITY`.
pub const RLIM_INFINITY: u64 = u64::MAX;

/// `prlimit64(0, resource, new, &old)`: the old `(soft, hard)` limits,
/// setting `new` when given.
pub fn prlimit(resource: i32, new: Option<(u64, u64)>) -> Result<(u64, u64), Errno> {
    let new = new.map(|(soft, hard)| [soft, hard]);
    let mut old = [0u64; 2];
    let new_ptr = new.as_ref().map_or(0, |n| n.as_ptr() as usize);
    // SAFETY: the kernel reads two u64s from `new` (when not NULL) and
    // writes two to `old`; both live across the call.
    check(unsafe {
        syscall4(
            nr::PRLIMIT64,
            0,
            resource as usize,
            new_ptr,
            old.as_mut_ptr() as usize,
        )
    })?;
    Ok((old[0], old[1]))
}

/// `vfork()` + `execve(path, argv, envp)` in the child, written so that
/// the child touches no stack: the child runs only the instructions of
/// one `asm!` block (reset `sigdfl` signals to their default, `setpgid(0,
/// pgid)` when `pgid >= 0`, execve, and on failure store `-errno` in
/// `*exec_error` and `exit_group(127)`). Returns the child's pid to the
/// parent, with the exec error when the address space is shared
/// (FreeBSD-style vfork, so the child's store is seen) and exec failed;
/// such a child has exited with 127 and still needs reaping. `Err` when
/// the child could not be created.
///
/// `call` is the system call that creates the child: [`nr::VFORK`] with
/// `arg` unused, or [`nr::TINE_RFORK`] with the rfork flags in `arg`
/// (RFMEM children share the stack too, so they need the same care).
/// `path` NULL makes the child `exit_group(0)` at once instead of exec,
/// touching no memory (safe even when the parent runs on meanwhile). With
/// a path, the parent must not run on before the child's exec (vfork,
/// `RFPPWAIT`, `RFSPAWN`): the child reads the strings and may write the
/// error.
pub fn vfork_exec(
    call: usize,
    arg: usize,
    req: &VforkExec<'_>,
) -> Result<(i32, Option<Errno>), Errno> {
    /// `SIG_DFL` for every signal the child resets: a static, so that it
    /// stays valid whatever the parent does meanwhile.
    static DFL: KernelSigaction = KernelSigaction {
        handler: 0,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    let mut exec_error: i32 = 0;
    let ret: isize;
    // SAFETY: everything the child needs is loaded into registers before
    // the call (the syscall instruction preserves all but rax, rcx and
    // r11), so the child reads no stack memory of the parent, which may
    // run on (RFMEM without RFPPWAIT). Without a path it exits at once,
    // touching nothing. Otherwise it calls rt_sigaction with the static
    // default action, setpgid, and execve with NUL-terminated strings and
    // NULL-terminated arrays (`VforkExec`'s invariants; the caller keeps
    // them alive until the child has exec'd: a vfork-style parent waits
    // for that); a failed exec stores one i32 through `errp` (the
    // parent's local, alive because such a parent is still waiting) and
    // exits. The parent resumes with its stack intact; rcx, r11, rsi, rdx
    // and r10 are declared clobbered, rdi consumed.
    unsafe {
        asm!(
            "syscall",
            "test rax, rax",
            "jnz 3f",
            // Child. No program: exit at once.
            "test r12, r12",
            "jz 4f",
            // SIGINT, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU to default.
            "mov eax, 13", "mov edi, 2", "mov rsi, r9", "xor edx, edx", "mov r10d, 8", "syscall",
            "mov eax, 13", "mov edi, 3", "mov rsi, r9", "xor edx, edx", "mov r10d, 8", "syscall",
            "mov eax, 13", "mov edi, 20", "mov rsi, r9", "xor edx, edx", "mov r10d, 8", "syscall",
            "mov eax, 13", "mov edi, 21", "mov rsi, r9", "xor edx, edx", "mov r10d, 8", "syscall",
            "mov eax, 13", "mov edi, 22", "mov rsi, r9", "xor edx, edx", "mov r10d, 8", "syscall",
            // setpgid(0, pgid) unless pgid < 0.
            "test r13, r13",
            "js 2f",
            "mov eax, 109",
            "xor edi, edi",
            "mov rsi, r13",
            "syscall",
            "2:",
            "mov rdi, r12",
            "mov rsi, r14",
            "mov rdx, r15",
            "mov eax, 59",
            "syscall",
            "neg eax",
            "mov [r8], eax",
            "mov edi, 127",
            "mov eax, 231",
            "syscall",
            "ud2",
            "4:",
            "xor edi, edi",
            "mov eax, 231",
            "syscall",
            "ud2",
            "3:",
            in("r12") req.path.map_or(0, |p| p.as_ptr() as usize),
            in("r13") req.pgid as isize,
            in("r14") req.argv.as_ptr() as usize,
            in("r15") req.envp.as_ptr() as usize,
            in("r8") &mut exec_error as *mut i32 as usize,
            in("r9") &DFL as *const KernelSigaction as usize,
            inout("rdi") arg => _,
            inlateout("rax") call as isize => ret,
            lateout("rcx") _,
            lateout("r11") _,
            lateout("rsi") _,
            lateout("rdx") _,
            lateout("r10") _,
        );
    }
    let pid = check(ret)? as i32;
    // Volatile: the child (sharing our memory) may have written it behind
    // the compiler's back.
    // SAFETY: `exec_error` is a live, aligned local.
    let err = unsafe { core::ptr::read_volatile(&exec_error) };
    Ok((pid, (err != 0).then_some(Errno(err))))
}

/// What [`vfork_exec`]'s child runs.
pub struct VforkExec<'a> {
    /// The program; `None`: the child exits with status 0 at once.
    pub path: Option<&'a CStr>,
    /// NULL-terminated argv pointers (see [`CStrArray`]).
    pub argv: &'a CStrArray,
    /// NULL-terminated envp pointers.
    pub envp: &'a CStrArray,
    /// The child's process group (`setpgid(0, pgid)`), or -1 to stay in
    /// ours.
    pub pgid: i32,
}

/// A NULL-terminated array of string pointers for `execve`.
pub struct CStrArray {
    ptrs: [*const c_char; EXECVE_MAX_STRINGS + 1],
}

impl CStrArray {
    /// The pointers of `strings` (at most [`EXECVE_MAX_STRINGS`]; `E2BIG`
    /// beyond), then NULL. The strings must outlive every use of the
    /// array (the caller keeps them).
    pub fn new(strings: &[&CStr]) -> Result<Self, Errno> {
        if strings.len() > EXECVE_MAX_STRINGS {
            return Err(Errno::E2BIG);
        }
        let mut ptrs = [core::ptr::null::<c_char>(); EXECVE_MAX_STRINGS + 1];
        for (slot, s) in ptrs.iter_mut().zip(strings) {
            *slot = s.as_ptr();
        }
        Ok(Self { ptrs })
    }

    fn as_ptr(&self) -> *const *const c_char {
        self.ptrs.as_ptr()
    }
}

/// `rfork(flags)` (Tine 1000): 0 in the child, the child's pid in the
/// parent (or 0 without `RFPROC`). Only for flags that give the child a
/// copy of our memory: `RFPROC` with `RFMEM` or `RFPPWAIT` (bit 15), and
/// `RFSPAWN` (bit 31), share it and are refused with `EINVAL` here; use
/// [`vfork_exec`] with [`nr::TINE_RFORK`] for those.
pub fn rfork(flags: u32) -> Result<i32, Errno> {
    const RFPROC: u32 = 1 << 4;
    const SHARING: u32 = (1 << 5) | (1 << 15);
    const RFSPAWN: u32 = 1 << 31;
    if flags & RFSPAWN != 0 || (flags & RFPROC != 0 && flags & SHARING != 0) {
        return Err(Errno::EINVAL);
    }
    // SAFETY: the child gets a copy of the address space (no RFMEM), as
    // with fork.
    check(unsafe { syscall1(nr::TINE_RFORK, flags as usize) }).map(|p| p as i32)
}

/// `pdfork(&fd, flags)` (Tine 1001): `(0, _)` in the child, `(pid, fd)` in
/// the parent.
pub fn pdfork(flags: u32) -> Result<(i32, i32), Errno> {
    let mut fd: i32 = -1;
    // SAFETY: the kernel writes one i32 to `fd`; the child gets a copy of
    // the address space, as with fork.
    let pid = check(unsafe {
        syscall2(
            nr::TINE_PDFORK,
            &mut fd as *mut i32 as usize,
            flags as usize,
        )
    })?;
    Ok((pid as i32, fd))
}

/// `pdgetpid(fd)` (Tine 1002).
pub fn pdgetpid(fd: i32) -> Result<i32, Errno> {
    let mut pid: i32 = 0;
    // SAFETY: the kernel writes one i32 to `pid`.
    check(unsafe {
        syscall2(
            nr::TINE_PDGETPID,
            fd as usize,
            &mut pid as *mut i32 as usize,
        )
    })?;
    Ok(pid)
}

/// `pdkill(fd, sig)` (Tine 1003).
pub fn pdkill(fd: i32, sig: i32) -> Result<(), Errno> {
    // SAFETY: no memory is passed.
    check(unsafe { syscall2(nr::TINE_PDKILL, fd as usize, sig as usize) }).map(|_| ())
}

/// `sysctl(name, old, new)` (Tine 1005) by name (empty: every knob as
/// `name=value` lines): copies the old value into `old` (ASCII) and
/// returns its length; sets `new` when given. With `old` empty, returns
/// the length needed.
pub fn sysctl(name: &[u8], old: &mut [u8], new: Option<&[u8]>) -> Result<usize, Errno> {
    let mut oldlen = old.len();
    let old_ptr = if old.is_empty() {
        0
    } else {
        old.as_mut_ptr() as usize
    };
    let (new_ptr, new_len) = new.map_or((0, 0), |n| (n.as_ptr() as usize, n.len()));
    // SAFETY: the kernel reads `name.len()` bytes of `name` and `new_len`
    // of `new`, writes at most `oldlen` bytes to `old` and one usize to
    // `oldlen`; all live across the call.
    check(unsafe {
        syscall6(
            nr::TINE_SYSCTL,
            name.as_ptr() as usize,
            name.len(),
            old_ptr,
            &mut oldlen as *mut usize as usize,
            new_ptr,
            new_len,
        )
    })?;
    Ok(oldlen)
}

/// `poweroff(status)` (Tine 1006): ends the machine (under QEMU, status
/// 0 exits 33 and anything else 35); returns only on failure (`EPERM`
/// when not root).
pub fn poweroff(status: i32) -> Errno {
    // SAFETY: no memory is passed.
    match check(unsafe { syscall1(nr::TINE_POWEROFF, status as usize) }) {
        Err(e) => e,
        Ok(_) => Errno::EINVAL,
    }
}

/// A Tine information call (`TINE_PROCLIST`, `TINE_CPUINFO`,
/// `TINE_MEMINFO`, `TINE_VMSTAT`) filling `buf` with fixed-size records;
/// returns what the call returns (the record count for the lists).
pub fn tine_info(call: usize, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: the kernel writes at most buf.len() bytes into buf.
    check(unsafe { syscall2(call, buf.as_mut_ptr() as usize, buf.len()) })
}

/// `forkevents(buf, flags)` (Tine 1010): bytes of whole 24-byte records.
pub fn forkevents(buf: &mut [u8], flags: u32) -> Result<usize, Errno> {
    // SAFETY: the kernel writes at most buf.len() bytes into buf.
    check(unsafe {
        syscall3(
            nr::TINE_FORKEVENTS,
            buf.as_mut_ptr() as usize,
            buf.len(),
            flags as usize,
        )
    })
}

/// `kbench(names)` (Tine 1011): runs in-kernel benchmarks (comma list,
/// empty = all), which print on the console.
pub fn kbench(names: &[u8]) -> Result<usize, Errno> {
    // SAFETY: the kernel reads names.len() bytes of names.
    check(unsafe { syscall2(nr::TINE_KBENCH, names.as_ptr() as usize, names.len()) })
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

/// File system calls (descriptors, pipes, paths, terminal `ioctl`s):
/// thin wrappers over the Linux x86-64 calls (`docs/files.md`).
pub mod files {
    use core::ffi::CStr;

    use super::{Errno, check, syscall1, syscall2, syscall3};

    /// System-call numbers (Linux x86-64).
    pub mod nr {
        pub const OPEN: usize = 2;
        pub const FSTAT: usize = 5;
        pub const LSEEK: usize = 8;
        pub const IOCTL: usize = 16;
        pub const PIPE2: usize = 293;
        pub const DUP: usize = 32;
        pub const DUP2: usize = 33;
        pub const DUP3: usize = 292;
        pub const FCNTL: usize = 72;
        pub const GETCWD: usize = 79;
        pub const CHDIR: usize = 80;
        pub const MKDIR: usize = 83;
        pub const UNLINK: usize = 87;
        pub const GETDENTS64: usize = 217;
    }

    pub const O_RDONLY: u32 = 0;
    pub const O_WRONLY: u32 = 1;
    pub const O_RDWR: u32 = 2;
    pub const O_CREAT: u32 = 0o100;
    pub const O_EXCL: u32 = 0o200;
    pub const O_TRUNC: u32 = 0o1000;
    pub const O_APPEND: u32 = 0o2000;
    pub const O_NONBLOCK: u32 = 0o4000;
    pub const O_DIRECTORY: u32 = 0o200000;
    pub const O_CLOEXEC: u32 = 0o2000000;
    /// Tine's close-on-fork flag (Linux has none).
    pub const O_CLOFORK: u32 = 0o40000000;
    pub const F_DUPFD: u32 = 0;
    pub const F_GETFD: u32 = 1;
    pub const F_SETFD: u32 = 2;
    pub const F_GETFL: u32 = 3;
    pub const F_SETFL: u32 = 4;
    pub const FD_CLOEXEC: u32 = 1;
    /// Tine's close-on-fork descriptor flag.
    pub const FD_CLOFORK: u32 = 2;
    pub const TCGETS: u32 = 0x5401;
    pub const TCSETS: u32 = 0x5402;
    pub const TIOCGPGRP: u32 = 0x540f;
    pub const TIOCSPGRP: u32 = 0x5410;
    pub const TIOCGWINSZ: u32 = 0x5413;

    /// `open(path, flags, mode)`: the new descriptor.
    pub fn open(path: &CStr, flags: u32, mode: u32) -> Result<i32, Errno> {
        // SAFETY: `path` is NUL-terminated and outlives the call.
        check(unsafe {
            syscall3(
                nr::OPEN,
                path.as_ptr() as usize,
                flags as usize,
                mode as usize,
            )
        })
        .map(|fd| fd as i32)
    }

    /// `pipe2(fds, flags)`: `[read end, write end]`.
    pub fn pipe2(flags: u32) -> Result<[i32; 2], Errno> {
        let mut fds = [0i32; 2];
        // SAFETY: the kernel writes two ints into `fds`.
        check(unsafe { syscall2(nr::PIPE2, fds.as_mut_ptr() as usize, flags as usize) })?;
        Ok(fds)
    }

    /// `dup(fd)`.
    pub fn dup(fd: i32) -> Result<i32, Errno> {
        // SAFETY: no memory is passed.
        check(unsafe { syscall1(nr::DUP, fd as usize) }).map(|fd| fd as i32)
    }

    /// `dup2(old, new)`.
    pub fn dup2(old: i32, new: i32) -> Result<i32, Errno> {
        // SAFETY: no memory is passed.
        check(unsafe { syscall2(nr::DUP2, old as usize, new as usize) }).map(|fd| fd as i32)
    }

    /// `dup3(old, new, flags)`.
    pub fn dup3(old: i32, new: i32, flags: u32) -> Result<i32, Errno> {
        // SAFETY: no memory is passed.
        check(unsafe { syscall3(nr::DUP3, old as usize, new as usize, flags as usize) })
            .map(|fd| fd as i32)
    }

    /// `fcntl(fd, cmd, arg)` for the integer commands.
    pub fn fcntl(fd: i32, cmd: u32, arg: usize) -> Result<usize, Errno> {
        // SAFETY: the integer commands pass no memory.
        check(unsafe { syscall3(nr::FCNTL, fd as usize, cmd as usize, arg) })
    }

    /// `lseek(fd, offset, whence)`: the new offset.
    pub fn lseek(fd: i32, offset: i64, whence: u32) -> Result<u64, Errno> {
        // SAFETY: no memory is passed.
        check(unsafe { syscall3(nr::LSEEK, fd as usize, offset as usize, whence as usize) })
            .map(|o| o as u64)
    }

    /// `fstat(fd)`: the 144 bytes of `struct stat`.
    pub fn fstat(fd: i32) -> Result<[u8; 144], Errno> {
        let mut st = [0u8; 144];
        // SAFETY: the kernel writes 144 bytes into `st`.
        check(unsafe { syscall2(nr::FSTAT, fd as usize, st.as_mut_ptr() as usize) })?;
        Ok(st)
    }

    /// `getdents64(fd, buf)`: bytes of `linux_dirent64` records (0 at the
    /// end).
    pub fn getdents64(fd: i32, buf: &mut [u8]) -> Result<usize, Errno> {
        // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
        check(unsafe {
            syscall3(
                nr::GETDENTS64,
                fd as usize,
                buf.as_mut_ptr() as usize,
                buf.len(),
            )
        })
    }

    /// `getcwd(buf)`: the length written, NUL included.
    pub fn getcwd(buf: &mut [u8]) -> Result<usize, Errno> {
        // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
        check(unsafe { syscall2(nr::GETCWD, buf.as_mut_ptr() as usize, buf.len()) })
    }

    /// `chdir(path)`.
    pub fn chdir(path: &CStr) -> Result<(), Errno> {
        // SAFETY: `path` is NUL-terminated and outlives the call.
        check(unsafe { syscall1(nr::CHDIR, path.as_ptr() as usize) }).map(|_| ())
    }

    /// `mkdir(path, mode)`.
    pub fn mkdir(path: &CStr, mode: u32) -> Result<(), Errno> {
        // SAFETY: `path` is NUL-terminated and outlives the call.
        check(unsafe { syscall2(nr::MKDIR, path.as_ptr() as usize, mode as usize) }).map(|_| ())
    }

    /// `unlink(path)`.
    pub fn unlink(path: &CStr) -> Result<(), Errno> {
        // SAFETY: `path` is NUL-terminated and outlives the call.
        check(unsafe { syscall1(nr::UNLINK, path.as_ptr() as usize) }).map(|_| ())
    }

    /// `ioctl(fd, TIOCSPGRP, &pgid)`: makes `pgid` the terminal's
    /// foreground process group.
    pub fn tcsetpgrp(fd: i32, pgid: i32) -> Result<(), Errno> {
        // SAFETY: the kernel reads one int from `pgid`.
        check(unsafe {
            syscall3(
                nr::IOCTL,
                fd as usize,
                TIOCSPGRP as usize,
                &pgid as *const i32 as usize,
            )
        })
        .map(|_| ())
    }

    /// `ioctl(fd, TIOCGPGRP)`: the terminal's foreground process group.
    pub fn tcgetpgrp(fd: i32) -> Result<i32, Errno> {
        let mut pgid = 0i32;
        // SAFETY: the kernel writes one int into `pgid`.
        check(unsafe {
            syscall3(
                nr::IOCTL,
                fd as usize,
                TIOCGPGRP as usize,
                &mut pgid as *mut i32 as usize,
            )
        })?;
        Ok(pgid)
    }

    /// `ioctl(fd, TCGETS)`: the kernel's 36-byte `struct termios`.
    pub fn tcgets(fd: i32) -> Result<[u8; 36], Errno> {
        let mut t = [0u8; 36];
        // SAFETY: the kernel writes 36 bytes into `t`.
        check(unsafe {
            syscall3(
                nr::IOCTL,
                fd as usize,
                TCGETS as usize,
                t.as_mut_ptr() as usize,
            )
        })?;
        Ok(t)
    }

    /// `ioctl(fd, TCSETS)`.
    pub fn tcsets(fd: i32, termios: &[u8; 36]) -> Result<(), Errno> {
        // SAFETY: the kernel reads 36 bytes from `termios`.
        check(unsafe {
            syscall3(
                nr::IOCTL,
                fd as usize,
                TCSETS as usize,
                termios.as_ptr() as usize,
            )
        })
        .map(|_| ())
    }

    /// `ioctl(fd, TIOCGWINSZ)`: `(rows, cols)`; `ENOTTY` for a
    /// non-terminal (`isatty`).
    pub fn winsize(fd: i32) -> Result<(u16, u16), Errno> {
        let mut ws = [0u16; 4];
        // SAFETY: the kernel writes 8 bytes into `ws`.
        check(unsafe {
            syscall3(
                nr::IOCTL,
                fd as usize,
                TIOCGWINSZ as usize,
                ws.as_mut_ptr() as usize,
            )
        })?;
        Ok((ws[0], ws[1]))
    }

    /// `ioctl(fd, request, arg)` with an integer or pointer argument the
    /// caller vouches for.
    ///
    /// # Safety
    /// `arg` must be what `request` expects (a pointer to memory of the
    /// right size, or an integer).
    pub unsafe fn ioctl(fd: i32, request: u32, arg: usize) -> Result<usize, Errno> {
        // SAFETY: the caller guarantees `arg` suits `request`.
        check(unsafe { syscall3(nr::IOCTL, fd as usize, request as usize, arg) })
    }
}
