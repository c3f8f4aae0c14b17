//! System-call numbers: Linux x86-64 for every call Linux has, Tine's own
//! from 1000 up for the BSD calls Linux lacks (`docs/syscalls.md`). This
//! file is the only place a number is written: the kernel's dispatcher and
//! every user program take them from here.
//!
//! A number here is not a promise that the call is implemented: the
//! dispatcher answers `ENOSYS` for any it does not handle. The type is
//! `u64`, the width of `rax`.

pub const READ: u64 = 0;
pub const WRITE: u64 = 1;
pub const OPEN: u64 = 2;
pub const CLOSE: u64 = 3;
pub const STAT: u64 = 4;
pub const FSTAT: u64 = 5;
pub const LSTAT: u64 = 6;
pub const POLL: u64 = 7;
pub const LSEEK: u64 = 8;
pub const MMAP: u64 = 9;
pub const MPROTECT: u64 = 10;
pub const MUNMAP: u64 = 11;
pub const BRK: u64 = 12;
pub const RT_SIGACTION: u64 = 13;
pub const RT_SIGPROCMASK: u64 = 14;
pub const RT_SIGRETURN: u64 = 15;
pub const IOCTL: u64 = 16;
pub const PREAD64: u64 = 17;
pub const PWRITE64: u64 = 18;
pub const READV: u64 = 19;
pub const WRITEV: u64 = 20;
pub const ACCESS: u64 = 21;
pub const PIPE: u64 = 22;
pub const SCHED_YIELD: u64 = 24;
pub const MREMAP: u64 = 25;
pub const MADVISE: u64 = 28;
pub const DUP: u64 = 32;
pub const DUP2: u64 = 33;
pub const PAUSE: u64 = 34;
pub const NANOSLEEP: u64 = 35;
pub const GETPID: u64 = 39;
pub const CLONE: u64 = 56;
pub const FORK: u64 = 57;
pub const VFORK: u64 = 58;
pub const EXECVE: u64 = 59;
pub const EXIT: u64 = 60;
pub const WAIT4: u64 = 61;
pub const KILL: u64 = 62;
pub const UNAME: u64 = 63;
pub const FCNTL: u64 = 72;
pub const TRUNCATE: u64 = 76;
pub const FTRUNCATE: u64 = 77;
pub const GETCWD: u64 = 79;
pub const CHDIR: u64 = 80;
pub const FCHDIR: u64 = 81;
pub const MKDIR: u64 = 83;
pub const UNLINK: u64 = 87;
pub const GETTIMEOFDAY: u64 = 96;
pub const GETRLIMIT: u64 = 97;
pub const SYSINFO: u64 = 99;
pub const GETUID: u64 = 102;
pub const GETGID: u64 = 104;
pub const SETUID: u64 = 105;
pub const SETGID: u64 = 106;
pub const GETEUID: u64 = 107;
pub const GETEGID: u64 = 108;
pub const SETPGID: u64 = 109;
pub const GETPPID: u64 = 110;
pub const GETPGRP: u64 = 111;
pub const SETSID: u64 = 112;
pub const GETPGID: u64 = 121;
pub const GETSID: u64 = 124;
pub const RT_SIGPENDING: u64 = 127;
pub const RT_SIGTIMEDWAIT: u64 = 128;
pub const RT_SIGSUSPEND: u64 = 130;
pub const SIGALTSTACK: u64 = 131;
pub const ARCH_PRCTL: u64 = 158;
pub const SETRLIMIT: u64 = 160;
pub const GETTID: u64 = 186;
pub const TKILL: u64 = 200;
pub const FUTEX: u64 = 202;
pub const SCHED_SETAFFINITY: u64 = 203;
pub const SCHED_GETAFFINITY: u64 = 204;
pub const GETDENTS64: u64 = 217;
pub const SET_TID_ADDRESS: u64 = 218;
pub const CLOCK_GETTIME: u64 = 228;
pub const CLOCK_GETRES: u64 = 229;
pub const CLOCK_NANOSLEEP: u64 = 230;
pub const EXIT_GROUP: u64 = 231;
pub const TGKILL: u64 = 234;
pub const WAITID: u64 = 247;
pub const OPENAT: u64 = 257;
pub const NEWFSTATAT: u64 = 262;
pub const SET_ROBUST_LIST: u64 = 273;
pub const DUP3: u64 = 292;
pub const PIPE2: u64 = 293;
pub const PRLIMIT64: u64 = 302;
pub const GETCPU: u64 = 309;
pub const GETRANDOM: u64 = 318;
pub const RSEQ: u64 = 334;
pub const PIDFD_SEND_SIGNAL: u64 = 424;
pub const PIDFD_OPEN: u64 = 434;
pub const CLONE3: u64 = 435;
pub const FACCESSAT2: u64 = 439;
pub const RENAME: u64 = 82;
pub const RMDIR: u64 = 84;
pub const LINK: u64 = 86;
pub const SYMLINK: u64 = 88;
pub const READLINK: u64 = 89;
pub const CHMOD: u64 = 90;
pub const FCHMOD: u64 = 91;
pub const UMASK: u64 = 95;
pub const PRCTL: u64 = 157;
pub const MKDIRAT: u64 = 258;
pub const UNLINKAT: u64 = 263;
pub const RENAMEAT: u64 = 264;
pub const LINKAT: u64 = 265;
pub const SYMLINKAT: u64 = 266;
pub const READLINKAT: u64 = 267;
pub const FCHMODAT: u64 = 268;
pub const UTIMENSAT: u64 = 280;
pub const RENAMEAT2: u64 = 316;
pub const STATFS: u64 = 137;
pub const FSTATFS: u64 = 138;
// Readiness, process descriptors and descriptor ranges (issue 12).
pub const SELECT: u64 = 23;
pub const EPOLL_CREATE: u64 = 213;
pub const EPOLL_WAIT: u64 = 232;
pub const EPOLL_CTL: u64 = 233;
pub const PSELECT6: u64 = 270;
pub const PPOLL: u64 = 271;
pub const EPOLL_PWAIT: u64 = 281;
pub const EVENTFD: u64 = 284;
pub const EVENTFD2: u64 = 290;
pub const EPOLL_CREATE1: u64 = 291;
pub const CLOSE_RANGE: u64 = 436;
pub const PIDFD_GETFD: u64 = 438;
pub const EPOLL_PWAIT2: u64 = 441;
// Found by busybox applets and the kselftests (session 20).
pub const GETPRIORITY: u64 = 140;
pub const SETPRIORITY: u64 = 141;
pub const CHOWN: u64 = 92;
pub const FCHOWN: u64 = 93;
pub const LCHOWN: u64 = 94;
pub const FCHOWNAT: u64 = 260;
pub const MKNOD: u64 = 133;
pub const MKNODAT: u64 = 259;
pub const GETITIMER: u64 = 36;
pub const ALARM: u64 = 37;
pub const SETITIMER: u64 = 38;
pub const UNSHARE: u64 = 272;
pub const UMOUNT2: u64 = 166;
pub const GETGROUPS: u64 = 115;
pub const SETGROUPS: u64 = 116;
pub const FALLOCATE: u64 = 285;
pub const SETHOSTNAME: u64 = 170;
pub const SETDOMAINNAME: u64 = 171;

// Tine's own calls (no Linux equivalent).
/// `rfork(flags)` (FreeBSD).
pub const TINE_RFORK: u64 = 1000;
/// `pdfork(fdp, flags)` (FreeBSD).
pub const TINE_PDFORK: u64 = 1001;
/// `pdgetpid(fd, pidp)`.
pub const TINE_PDGETPID: u64 = 1002;
/// `pdkill(fd, signum)`.
pub const TINE_PDKILL: u64 = 1003;
/// `procctl(idtype, id, cmd, data)` (reaper commands).
pub const TINE_PROCCTL: u64 = 1004;
/// `sysctl(name, namelen, old, oldlenp, new, newlen)` by name string.
pub const TINE_SYSCTL: u64 = 1005;
/// power the machine off.
pub const TINE_POWEROFF: u64 = 1006;
/// process table snapshot for `ps`/`pstree`.
pub const TINE_PROCLIST: u64 = 1007;
/// per-CPU load for `cpus`.
pub const TINE_CPUINFO: u64 = 1008;
/// frames free/used for `mem`.
pub const TINE_MEMINFO: u64 = 1009;
/// read fork/exec/exit events (`trace`).
pub const TINE_FORKEVENTS: u64 = 1010;
/// run in-kernel benchmarks by name.
pub const TINE_KBENCH: u64 = 1011;
/// this process's fault counters (COW, zero-fill).
pub const TINE_VMSTAT: u64 = 1012;
/// `pdwait(fd, status, options, rusage, info)` (FreeBSD 15).
pub const TINE_PDWAIT: u64 = 1013;
/// thread list snapshot for `ps -T`.
pub const TINE_THREADLIST: u64 = 1014;

/// The name of system call `nr`, for the ones Tine knows.
pub const fn name(nr: u64) -> Option<&'static str> {
    Some(match nr {
        READ => "read",
        WRITE => "write",
        OPEN => "open",
        CLOSE => "close",
        STAT => "stat",
        FSTAT => "fstat",
        LSTAT => "lstat",
        POLL => "poll",
        LSEEK => "lseek",
        MMAP => "mmap",
        MPROTECT => "mprotect",
        MUNMAP => "munmap",
        MREMAP => "mremap",
        BRK => "brk",
        RT_SIGACTION => "rt_sigaction",
        RT_SIGPROCMASK => "rt_sigprocmask",
        RT_SIGRETURN => "rt_sigreturn",
        IOCTL => "ioctl",
        PREAD64 => "pread64",
        PWRITE64 => "pwrite64",
        READV => "readv",
        WRITEV => "writev",
        ACCESS => "access",
        PIPE => "pipe",
        SCHED_YIELD => "sched_yield",
        MADVISE => "madvise",
        DUP => "dup",
        DUP2 => "dup2",
        PAUSE => "pause",
        NANOSLEEP => "nanosleep",
        GETPID => "getpid",
        CLONE => "clone",
        FORK => "fork",
        VFORK => "vfork",
        EXECVE => "execve",
        EXIT => "exit",
        WAIT4 => "wait4",
        KILL => "kill",
        UNAME => "uname",
        FCNTL => "fcntl",
        GETCWD => "getcwd",
        CHDIR => "chdir",
        FCHDIR => "fchdir",
        TRUNCATE => "truncate",
        FTRUNCATE => "ftruncate",
        MKDIR => "mkdir",
        UNLINK => "unlink",
        GETTIMEOFDAY => "gettimeofday",
        GETRLIMIT => "getrlimit",
        SYSINFO => "sysinfo",
        GETUID => "getuid",
        GETGID => "getgid",
        SETUID => "setuid",
        SETGID => "setgid",
        GETEUID => "geteuid",
        GETEGID => "getegid",
        SETPGID => "setpgid",
        GETPPID => "getppid",
        GETPGRP => "getpgrp",
        SETSID => "setsid",
        GETPGID => "getpgid",
        GETSID => "getsid",
        RT_SIGPENDING => "rt_sigpending",
        RT_SIGTIMEDWAIT => "rt_sigtimedwait",
        RT_SIGSUSPEND => "rt_sigsuspend",
        SIGALTSTACK => "sigaltstack",
        ARCH_PRCTL => "arch_prctl",
        SETRLIMIT => "setrlimit",
        GETTID => "gettid",
        TKILL => "tkill",
        FUTEX => "futex",
        SCHED_SETAFFINITY => "sched_setaffinity",
        SCHED_GETAFFINITY => "sched_getaffinity",
        GETDENTS64 => "getdents64",
        SET_TID_ADDRESS => "set_tid_address",
        CLOCK_GETTIME => "clock_gettime",
        CLOCK_GETRES => "clock_getres",
        CLOCK_NANOSLEEP => "clock_nanosleep",
        EXIT_GROUP => "exit_group",
        TGKILL => "tgkill",
        WAITID => "waitid",
        OPENAT => "openat",
        NEWFSTATAT => "newfstatat",
        SET_ROBUST_LIST => "set_robust_list",
        DUP3 => "dup3",
        PIPE2 => "pipe2",
        PRLIMIT64 => "prlimit64",
        GETCPU => "getcpu",
        GETRANDOM => "getrandom",
        RSEQ => "rseq",
        PIDFD_SEND_SIGNAL => "pidfd_send_signal",
        PIDFD_OPEN => "pidfd_open",
        CLONE3 => "clone3",
        FACCESSAT2 => "faccessat2",
        RENAME => "rename",
        RMDIR => "rmdir",
        LINK => "link",
        SYMLINK => "symlink",
        READLINK => "readlink",
        CHMOD => "chmod",
        FCHMOD => "fchmod",
        UMASK => "umask",
        PRCTL => "prctl",
        MKDIRAT => "mkdirat",
        UNLINKAT => "unlinkat",
        RENAMEAT => "renameat",
        LINKAT => "linkat",
        SYMLINKAT => "symlinkat",
        READLINKAT => "readlinkat",
        FCHMODAT => "fchmodat",
        UTIMENSAT => "utimensat",
        RENAMEAT2 => "renameat2",
        STATFS => "statfs",
        FSTATFS => "fstatfs",
        SELECT => "select",
        EPOLL_CREATE => "epoll_create",
        EPOLL_WAIT => "epoll_wait",
        EPOLL_CTL => "epoll_ctl",
        PSELECT6 => "pselect6",
        PPOLL => "ppoll",
        EPOLL_PWAIT => "epoll_pwait",
        EVENTFD => "eventfd",
        EVENTFD2 => "eventfd2",
        EPOLL_CREATE1 => "epoll_create1",
        CLOSE_RANGE => "close_range",
        PIDFD_GETFD => "pidfd_getfd",
        EPOLL_PWAIT2 => "epoll_pwait2",
        GETPRIORITY => "getpriority",
        SETPRIORITY => "setpriority",
        CHOWN => "chown",
        FCHOWN => "fchown",
        LCHOWN => "lchown",
        FCHOWNAT => "fchownat",
        MKNOD => "mknod",
        MKNODAT => "mknodat",
        GETITIMER => "getitimer",
        ALARM => "alarm",
        SETITIMER => "setitimer",
        UNSHARE => "unshare",
        UMOUNT2 => "umount2",
        GETGROUPS => "getgroups",
        SETGROUPS => "setgroups",
        FALLOCATE => "fallocate",
        SETHOSTNAME => "sethostname",
        SETDOMAINNAME => "setdomainname",
        TINE_RFORK => "tine_rfork",
        TINE_PDFORK => "tine_pdfork",
        TINE_PDGETPID => "tine_pdgetpid",
        TINE_PDKILL => "tine_pdkill",
        TINE_PROCCTL => "tine_procctl",
        TINE_SYSCTL => "tine_sysctl",
        TINE_POWEROFF => "tine_poweroff",
        TINE_PROCLIST => "tine_proclist",
        TINE_CPUINFO => "tine_cpuinfo",
        TINE_MEMINFO => "tine_meminfo",
        TINE_FORKEVENTS => "tine_forkevents",
        TINE_KBENCH => "tine_kbench",
        TINE_VMSTAT => "tine_vmstat",
        TINE_PDWAIT => "tine_pdwait",
        TINE_THREADLIST => "tine_threadlist",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn names() {
        assert_eq!(super::name(231), Some("exit_group"));
        assert_eq!(super::name(1), Some("write"));
        assert_eq!(super::name(9999), None);
    }
}
