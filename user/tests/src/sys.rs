//! Raw system calls by number, for tests that pass odd arguments on
//! purpose. Results are Linux's: `Ok(value)` or `Err(errno)`.

use tine_rt::syscall::{Errno, syscall6};

/// Linux x86-64 numbers (and Tine's own from 1000).
pub mod nr {
    pub const READ: usize = 0;
    pub const OPEN: usize = 2;
    pub const STAT: usize = 4;
    pub const FSTAT: usize = 5;
    pub const LSTAT: usize = 6;
    pub const PREAD64: usize = 17;
    pub const READV: usize = 19;
    pub const ACCESS: usize = 21;
    pub const IOCTL: usize = 16;
    pub const GETCWD: usize = 79;
    pub const CHDIR: usize = 80;
    pub const MKDIR: usize = 83;
    pub const UNLINK: usize = 87;
    pub const CLONE: usize = 56;
    pub const TRUNCATE: usize = 76;
    pub const GETDENTS64: usize = 217;
    pub const OPENAT: usize = 257;
    pub const NEWFSTATAT: usize = 262;
    pub const PIPE2: usize = 293;
    pub const FACCESSAT2: usize = 439;
    pub const RT_SIGPROCMASK: usize = 14;
    pub const RT_SIGPENDING: usize = 127;
    pub const RT_SIGSUSPEND: usize = 130;
    pub const SIGALTSTACK: usize = 131;
    pub const WRITE: usize = 1;
    pub const MMAP: usize = 9;
    pub const MPROTECT: usize = 10;
    pub const MUNMAP: usize = 11;
    pub const BRK: usize = 12;
    pub const RT_SIGACTION: usize = 13;
    pub const WRITEV: usize = 20;
    pub const PIPE: usize = 22;
    pub const MADVISE: usize = 28;
    pub const NANOSLEEP: usize = 35;
    pub const GETPID: usize = 39;
    pub const FORK: usize = 57;
    pub const VFORK: usize = 58;
    pub const EXIT: usize = 60;
    pub const EXECVE: usize = 59;
    pub const WAIT4: usize = 61;
    pub const KILL_: usize = 62;
    pub const UNAME: usize = 63;
    pub const GETTIMEOFDAY: usize = 96;
    pub const GETRLIMIT: usize = 97;
    pub const SYSINFO: usize = 99;
    pub const GETUID: usize = 102;
    pub const GETGID: usize = 104;
    pub const SETUID: usize = 105;
    pub const SETGID: usize = 106;
    pub const GETEUID: usize = 107;
    pub const GETEGID: usize = 108;
    pub const SETRLIMIT: usize = 160;
    pub const ARCH_PRCTL: usize = 158;
    pub const SCHED_SETAFFINITY: usize = 203;
    pub const SCHED_GETAFFINITY: usize = 204;
    pub const SET_TID_ADDRESS: usize = 218;
    pub const CLOCK_GETTIME: usize = 228;
    pub const CLOCK_GETRES: usize = 229;
    pub const CLOCK_NANOSLEEP: usize = 230;
    pub const SET_ROBUST_LIST: usize = 273;
    pub const PRLIMIT64: usize = 302;
    pub const GETCPU: usize = 309;
    pub const GETRANDOM: usize = 318;
    pub const RSEQ: usize = 334;
    pub const RENAME: usize = 82;
    pub const RMDIR: usize = 84;
    pub const LINK: usize = 86;
    pub const SYMLINK: usize = 88;
    pub const READLINK: usize = 89;
    pub const CHMOD: usize = 90;
    pub const PRCTL: usize = 157;
    pub const MKDIRAT: usize = 258;
    pub const UNLINKAT: usize = 263;
    pub const RENAMEAT: usize = 264;
    pub const LINKAT: usize = 265;
    pub const SYMLINKAT: usize = 266;
    pub const READLINKAT: usize = 267;
    pub const FCHMODAT: usize = 268;
    pub const UTIMENSAT: usize = 280;
    pub const RENAMEAT2: usize = 316;
    pub const TINE_PROCCTL: usize = 1004;
    pub const TINE_POWEROFF: usize = 1006;
    pub const TINE_SYSCTL: usize = 1005;
    pub const TINE_PROCLIST: usize = 1007;
    pub const TINE_CPUINFO: usize = 1008;
    pub const TINE_MEMINFO: usize = 1009;
    pub const TINE_FORKEVENTS: usize = 1010;
    pub const TINE_KBENCH: usize = 1011;
    pub const TINE_VMSTAT: usize = 1012;
}

/// Error numbers the tests expect.
pub mod errno {
    use tine_rt::syscall::Errno;
    pub const EPERM: Errno = Errno(1);
    pub const ENOENT: Errno = Errno(2);
    pub const ESRCH: Errno = Errno(3);
    pub const E2BIG: Errno = Errno(7);
    pub const ENOEXEC: Errno = Errno(8);
    pub const ENOMEM: Errno = Errno(12);
    pub const EACCES: Errno = Errno(13);
    pub const EFAULT: Errno = Errno(14);
    pub const ENOTDIR: Errno = Errno(20);
    pub const EINVAL: Errno = Errno(22);
    pub const ENAMETOOLONG: Errno = Errno(36);
    pub const ELOOP: Errno = Errno(40);
    pub const ENOSYS: Errno = Errno(38);
}

/// System call `n` with up to six arguments (missing ones are 0).
///
/// # Safety
/// As `tine_rt::syscall::syscall6`: the arguments must not make the
/// kernel write over memory Rust relies on (bad pointers the kernel
/// refuses with `EFAULT` are fine; that is what the tests check).
pub unsafe fn call(n: usize, args: &[usize]) -> Result<usize, Errno> {
    let mut a = [0usize; 6];
    a[..args.len()].copy_from_slice(args);
    // SAFETY: the caller's contract.
    let ret = unsafe { syscall6(n, a[0], a[1], a[2], a[3], a[4], a[5]) };
    if (-4095..0).contains(&ret) {
        Err(Errno(-ret as i32))
    } else {
        Ok(ret as usize)
    }
}

/// `mmap(NULL, len, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS)`.
pub fn mmap_anon(len: usize) -> Result<*mut u8, Errno> {
    // SAFETY: a fresh anonymous mapping changes no memory in use.
    unsafe { call(nr::MMAP, &[0, len, 3, 0x22, usize::MAX, 0]) }.map(|a| a as *mut u8)
}

/// `munmap(addr, len)` of a mapping made by [`mmap_anon`].
///
/// # Safety
/// Nothing may use the memory afterwards.
pub unsafe fn munmap(addr: *mut u8, len: usize) -> Result<(), Errno> {
    // SAFETY: the caller's contract.
    unsafe { call(nr::MUNMAP, &[addr as usize, len]) }.map(drop)
}
