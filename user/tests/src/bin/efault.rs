//! `/test/efault`: every system call that takes a pointer answers a bad
//! one with `EFAULT` (never a crash, never success), table-driven; and an
//! unknown system call number is `ENOSYS`.
//!
//! Bad pointers: an unmapped low address, a kernel address, and (for
//! pointers the kernel writes through) the read-only program text.
#![no_std]
#![no_main]

use tine_rt::Args;
use tine_rt::syscall::{self, Errno};
use tine_tests::sys::{self, errno, nr};
use tine_tests::{Checks, check_eq};

tine_rt::entry!(main);

/// An address in the first page: never mapped.
const LOW: usize = 0x10;
/// A kernel address.
const KERNEL: usize = 0xffff_8000_0000_1000;

/// What a pointer argument is for: the kernel only reads it, or writes
/// through it too.
#[derive(Clone, Copy)]
enum Dir {
    In,
    Out,
}

/// One row: a name, the number, the arguments with `P` where the bad
/// pointer goes, and the pointer's direction.
struct Row {
    name: &'static str,
    nr: u64,
    args: [usize; 6],
    dir: Dir,
}

/// Where the bad pointer goes in `Row::args`.
const P: usize = usize::MAX - 0xbad;

const fn row(name: &'static str, nr: u64, args: [usize; 6], dir: Dir) -> Row {
    Row {
        name,
        nr,
        args,
        dir,
    }
}

const SIGUSR1: usize = 10;

/// What the rows need from the running program: an open directory, an
/// open regular file, a valid path, a writable buffer and zeros.
struct Ctx {
    dir: usize,
    file: usize,
    path: usize,
    buf: usize,
    /// A symbolic link (`/proc/self`).
    link: usize,
    /// 32 zero bytes, never written: a zero timeout.
    zeros: usize,
    /// An epoll instance watching `pipe_w` for `EPOLLOUT`.
    epoll: usize,
    /// A pipe's ends.
    pipe_r: usize,
    /// A pidfd of this process.
    pidfd: usize,
}

const AT_FDCWD: usize = -100isize as usize;
const TCGETS: usize = 0x5401;

fn table(x: &Ctx) -> [Row; 109] {
    use Dir::{In, Out};
    [
        row("write", nr::WRITE, [1, P, 5, 0, 0, 0], In),
        row("writev iov", nr::WRITEV, [1, P, 1, 0, 0, 0], In),
        row("uname", nr::UNAME, [P, 0, 0, 0, 0, 0], Out),
        row(
            "arch_prctl GET_FS",
            nr::ARCH_PRCTL,
            [0x1003, P, 0, 0, 0, 0],
            Out,
        ),
        row("getcpu cpu", nr::GETCPU, [P, 0, 0, 0, 0, 0], Out),
        row("getcpu node", nr::GETCPU, [0, P, 0, 0, 0, 0], Out),
        row(
            "rt_sigaction act",
            nr::RT_SIGACTION,
            [SIGUSR1, P, 0, 8, 0, 0],
            In,
        ),
        row(
            "rt_sigaction oldact",
            nr::RT_SIGACTION,
            [SIGUSR1, 0, P, 8, 0, 0],
            Out,
        ),
        row(
            "rt_sigprocmask set",
            nr::RT_SIGPROCMASK,
            [0, P, 0, 8, 0, 0],
            In,
        ),
        row(
            "rt_sigprocmask oldset",
            nr::RT_SIGPROCMASK,
            [0, 0, P, 8, 0, 0],
            Out,
        ),
        row("rt_sigpending", nr::RT_SIGPENDING, [P, 8, 0, 0, 0, 0], Out),
        row("rt_sigsuspend", nr::RT_SIGSUSPEND, [P, 8, 0, 0, 0, 0], In),
        // rt_sigtimedwait: the set, and the timeout (an empty set read
        // from the zeros).
        row(
            "rt_sigtimedwait set",
            nr::RT_SIGTIMEDWAIT,
            [P, 0, x.zeros, 8, 0, 0],
            In,
        ),
        row(
            "rt_sigtimedwait timeout",
            nr::RT_SIGTIMEDWAIT,
            [x.zeros, 0, P, 8, 0, 0],
            In,
        ),
        row("sigaltstack ss", nr::SIGALTSTACK, [P, 0, 0, 0, 0, 0], In),
        row("sigaltstack old", nr::SIGALTSTACK, [0, P, 0, 0, 0, 0], Out),
        row("execve path", nr::EXECVE, [P, 0, 0, 0, 0, 0], In),
        row("clock_gettime", nr::CLOCK_GETTIME, [1, P, 0, 0, 0, 0], Out),
        row("clock_getres", nr::CLOCK_GETRES, [1, P, 0, 0, 0, 0], Out),
        row("gettimeofday tv", nr::GETTIMEOFDAY, [P, 0, 0, 0, 0, 0], Out),
        row("gettimeofday tz", nr::GETTIMEOFDAY, [0, P, 0, 0, 0, 0], Out),
        row("nanosleep req", nr::NANOSLEEP, [P, 0, 0, 0, 0, 0], In),
        // futex: FUTEX_WAIT's word and timeout, FUTEX_WAKE_OP's second word.
        row("futex wait uaddr", nr::FUTEX, [P, 0, 0, 0, 0, 0], In),
        row("futex wait timeout", nr::FUTEX, [x.buf, 0, 0, P, 0, 0], In),
        row(
            "futex wake_op uaddr2",
            nr::FUTEX,
            [x.buf, 5, 1, 1, P, 0],
            Out,
        ),
        row(
            "clock_nanosleep req",
            nr::CLOCK_NANOSLEEP,
            [1, 0, P, 0, 0, 0],
            In,
        ),
        row("getrlimit", nr::GETRLIMIT, [7, P, 0, 0, 0, 0], Out),
        row("setrlimit", nr::SETRLIMIT, [7, P, 0, 0, 0, 0], In),
        row("prlimit64 new", nr::PRLIMIT64, [0, 7, P, 0, 0, 0], In),
        row("prlimit64 old", nr::PRLIMIT64, [0, 7, 0, P, 0, 0], Out),
        row("getrandom", nr::GETRANDOM, [P, 16, 0, 0, 0, 0], Out),
        row("sysinfo", nr::SYSINFO, [P, 0, 0, 0, 0, 0], Out),
        row(
            "sched_getaffinity",
            nr::SCHED_GETAFFINITY,
            [0, 8, P, 0, 0, 0],
            Out,
        ),
        row(
            "sched_setaffinity",
            nr::SCHED_SETAFFINITY,
            [0, 8, P, 0, 0, 0],
            In,
        ),
        // Files.
        row("read", nr::READ, [x.file, P, 8, 0, 0, 0], Out),
        row("pread64", nr::PREAD64, [x.file, P, 8, 0, 0, 0], Out),
        row("readv iov", nr::READV, [x.file, P, 1, 0, 0, 0], In),
        row("open path", nr::OPEN, [P, 0, 0, 0, 0, 0], In),
        row("openat path", nr::OPENAT, [AT_FDCWD, P, 0, 0, 0, 0], In),
        row("stat path", nr::STAT, [P, x.buf, 0, 0, 0, 0], In),
        row("stat buf", nr::STAT, [x.path, P, 0, 0, 0, 0], Out),
        row("lstat buf", nr::LSTAT, [x.path, P, 0, 0, 0, 0], Out),
        row("fstat buf", nr::FSTAT, [x.file, P, 0, 0, 0, 0], Out),
        row("statfs path", nr::STATFS, [P, x.buf, 0, 0, 0, 0], In),
        row("statfs buf", nr::STATFS, [x.path, P, 0, 0, 0, 0], Out),
        row("fstatfs buf", nr::FSTATFS, [x.file, P, 0, 0, 0, 0], Out),
        row(
            "newfstatat path",
            nr::NEWFSTATAT,
            [AT_FDCWD, P, x.buf, 0, 0, 0],
            In,
        ),
        row(
            "newfstatat buf",
            nr::NEWFSTATAT,
            [AT_FDCWD, x.path, P, 0, 0, 0],
            Out,
        ),
        row("access path", nr::ACCESS, [P, 0, 0, 0, 0, 0], In),
        row(
            "faccessat2 path",
            nr::FACCESSAT2,
            [AT_FDCWD, P, 0, 0, 0, 0],
            In,
        ),
        row("getdents64", nr::GETDENTS64, [x.dir, P, 4096, 0, 0, 0], Out),
        row("ioctl TCGETS", nr::IOCTL, [1, TCGETS, P, 0, 0, 0], Out),
        row("pipe", nr::PIPE, [P, 0, 0, 0, 0, 0], Out),
        row("pipe2", nr::PIPE2, [P, 0, 0, 0, 0, 0], Out),
        row("getcwd", nr::GETCWD, [P, 256, 0, 0, 0, 0], Out),
        row("chdir", nr::CHDIR, [P, 0, 0, 0, 0, 0], In),
        row("mkdir", nr::MKDIR, [P, 0o755, 0, 0, 0, 0], In),
        row("unlink", nr::UNLINK, [P, 0, 0, 0, 0, 0], In),
        row("truncate", nr::TRUNCATE, [P, 0, 0, 0, 0, 0], In),
        // Name space and process knobs (issue 12).
        row("rename old", nr::RENAME, [P, x.path, 0, 0, 0, 0], In),
        row("rename new", nr::RENAME, [x.path, P, 0, 0, 0, 0], In),
        row(
            "renameat old",
            nr::RENAMEAT,
            [AT_FDCWD, P, AT_FDCWD, x.path, 0, 0],
            In,
        ),
        row(
            "renameat2 new",
            nr::RENAMEAT2,
            [AT_FDCWD, x.path, AT_FDCWD, P, 0, 0],
            In,
        ),
        row("rmdir", nr::RMDIR, [P, 0, 0, 0, 0, 0], In),
        row("mkdirat", nr::MKDIRAT, [AT_FDCWD, P, 0o755, 0, 0, 0], In),
        row("unlinkat", nr::UNLINKAT, [AT_FDCWD, P, 0, 0, 0, 0], In),
        row("link old", nr::LINK, [P, x.path, 0, 0, 0, 0], In),
        row("link new", nr::LINK, [x.path, P, 0, 0, 0, 0], In),
        row(
            "linkat new",
            nr::LINKAT,
            [AT_FDCWD, x.path, AT_FDCWD, P, 0, 0],
            In,
        ),
        row("symlink target", nr::SYMLINK, [P, x.path, 0, 0, 0, 0], In),
        row("symlink path", nr::SYMLINK, [x.path, P, 0, 0, 0, 0], In),
        row(
            "symlinkat path",
            nr::SYMLINKAT,
            [x.path, AT_FDCWD, P, 0, 0, 0],
            In,
        ),
        row("readlink path", nr::READLINK, [P, x.buf, 64, 0, 0, 0], In),
        row("readlink buf", nr::READLINK, [x.link, P, 64, 0, 0, 0], Out),
        row(
            "readlinkat buf",
            nr::READLINKAT,
            [AT_FDCWD, x.link, P, 64, 0, 0],
            Out,
        ),
        row("chmod", nr::CHMOD, [P, 0o644, 0, 0, 0, 0], In),
        row("fchmodat", nr::FCHMODAT, [AT_FDCWD, P, 0o644, 0, 0, 0], In),
        row(
            "utimensat path",
            nr::UTIMENSAT,
            [AT_FDCWD, P, 0, 0, 0, 0],
            In,
        ),
        row(
            "utimensat times",
            nr::UTIMENSAT,
            [AT_FDCWD, x.path, P, 0, 0, 0],
            In,
        ),
        row("prctl SET_NAME", nr::PRCTL, [15, P, 0, 0, 0, 0], In),
        row("prctl GET_NAME", nr::PRCTL, [16, P, 0, 0, 0, 0], Out),
        row("prctl GET_PDEATHSIG", nr::PRCTL, [2, P, 0, 0, 0, 0], Out),
        row(
            "prctl GET_CHILD_SUBREAPER",
            nr::PRCTL,
            [37, P, 0, 0, 0, 0],
            Out,
        ),
        // Readiness (timeouts of zero: `x.zeros` is a zero `timespec`).
        row("poll fds", nr::POLL, [P, 1, 0, 0, 0, 0], Out),
        row("ppoll fds", nr::PPOLL, [P, 1, x.zeros, 0, 8, 0], Out),
        row("ppoll timeout", nr::PPOLL, [x.zeros, 0, P, 0, 8, 0], In),
        row(
            "ppoll sigmask",
            nr::PPOLL,
            [x.zeros, 0, x.zeros, P, 8, 0],
            In,
        ),
        row("select readfds", nr::SELECT, [1, P, 0, 0, x.zeros, 0], Out),
        row("select writefds", nr::SELECT, [1, 0, P, 0, x.zeros, 0], Out),
        row(
            "select exceptfds",
            nr::SELECT,
            [1, 0, 0, P, x.zeros, 0],
            Out,
        ),
        row("select timeout", nr::SELECT, [0, 0, 0, 0, P, 0], In),
        row("pselect6 timeout", nr::PSELECT6, [0, 0, 0, 0, P, 0], In),
        row(
            "pselect6 sigmask",
            nr::PSELECT6,
            [0, 0, 0, 0, x.zeros, P],
            In,
        ),
        // epoll: the pipe's write end is registered for EPOLLOUT, so a
        // wait always has an event to store.
        row(
            "epoll_ctl event",
            nr::EPOLL_CTL,
            [x.epoll, 1, x.pipe_r, P, 0, 0],
            In,
        ),
        row(
            "epoll_wait events",
            nr::EPOLL_WAIT,
            [x.epoll, P, 4, 0, 0, 0],
            Out,
        ),
        row(
            "epoll_pwait events",
            nr::EPOLL_PWAIT,
            [x.epoll, P, 4, 0, 0, 8],
            Out,
        ),
        row(
            "epoll_pwait sigmask",
            nr::EPOLL_PWAIT,
            [x.epoll, x.buf, 4, 0, P, 8],
            In,
        ),
        row(
            "epoll_pwait2 timeout",
            nr::EPOLL_PWAIT2,
            [x.epoll, x.buf, 4, P, 0, 8],
            In,
        ),
        // Process descriptors (`x.pidfd` is the caller's own).
        row(
            "pidfd_send_signal info",
            nr::PIDFD_SEND_SIGNAL,
            [x.pidfd, 0, P, 0, 0, 0],
            In,
        ),
        row("waitid infop", nr::WAITID, [0, 0, P, 5, 0, 0], Out),
        row("clone3 args", nr::CLONE3, [P, 88, 0, 0, 0, 0], In),
        // Tine's own.
        row("sysctl name", nr::TINE_SYSCTL, [P, 14, 0, 0, 0, 0], In),
        row("proclist", nr::TINE_PROCLIST, [P, 4096, 0, 0, 0, 0], Out),
        row(
            "threadlist",
            nr::TINE_THREADLIST,
            [P, 4096, 0, 0, 0, 0],
            Out,
        ),
        row("cpuinfo", nr::TINE_CPUINFO, [P, 4096, 0, 0, 0, 0], Out),
        row("meminfo", nr::TINE_MEMINFO, [P, 4096, 0, 0, 0, 0], Out),
        row("vmstat", nr::TINE_VMSTAT, [P, 4096, 0, 0, 0, 0], Out),
        row("kbench names", nr::TINE_KBENCH, [P, 5, 0, 0, 0, 0], In),
        row(
            "procctl REAP_STATUS data",
            nr::TINE_PROCCTL,
            [0, 0, 4, P, 0, 0],
            Out,
        ),
    ]
}

fn main(_: Args) -> i32 {
    let mut c = Checks::new("efault");
    let text = main as *const () as usize & !0xfff;
    let path = c"/test-data/not-elf";
    // SAFETY: opening files with valid NUL-terminated paths.
    let (dir, file) = unsafe {
        (
            sys::call(nr::OPEN, &[c"/".as_ptr() as usize, 0o200000]),
            sys::call(nr::OPEN, &[path.as_ptr() as usize, 0]),
        )
    };
    let (Ok(dir), Ok(file)) = (dir, file) else {
        c.check(false, format_args!("open: {dir:?} {file:?}"));
        return c.finish();
    };
    // 256 bytes, 8-aligned (a futex word must be aligned).
    let mut buf = [0u64; 32];
    let zeros = [0u64; 4];
    let Some((epoll, pipe_r, pidfd)) = readiness_fds(&mut c) else {
        return c.finish();
    };
    let x = Ctx {
        zeros: zeros.as_ptr() as usize,
        epoll,
        pipe_r,
        pidfd,
        dir,
        file,
        path: path.as_ptr() as usize,
        buf: buf.as_mut_ptr() as usize,
        link: c"/proc/self".as_ptr() as usize,
    };
    for row in table(&x) {
        let bad: &[usize] = match row.dir {
            Dir::In => &[LOW, KERNEL],
            Dir::Out => &[LOW, KERNEL, text],
        };
        for &ptr in bad {
            let args = row.args.map(|a| if a == P { ptr } else { a });
            // SAFETY: the only pointer is bad on purpose; the kernel must
            // refuse it and touch nothing of ours.
            let r = unsafe { sys::call(row.nr, &args) };
            check_eq!(c, r, Err(errno::EFAULT), "{} with {ptr:#x}", row.name);
        }
    }
    // The faults consumed nothing: the file and the directory still read
    // from their start.
    let mut head = [0u8; 4];
    // SAFETY: reads into our own buffers.
    let r = unsafe { sys::call(nr::READ, &[x.file, head.as_mut_ptr() as usize, 4]) };
    check_eq!(c, (r, &head), (Ok(4), b"#not"), "read after the faults");
    // SAFETY: as above, 256 bytes.
    let r = unsafe { sys::call(nr::GETDENTS64, &[x.dir, x.buf, 256]) };
    c.check(
        matches!(r, Ok(n) if n > 0),
        format_args!("getdents64 after the faults: {r:?}"),
    );
    wait4_pointers(&mut c);
    pdwait_pointers(&mut c);
    forkevents(&mut c);
    writev_element(&mut c);
    enosys(&mut c);
    c.finish()
}

/// An epoll instance watching a pipe's write end for `EPOLLOUT` (always
/// ready), the pipe's read end, and a pidfd of this process.
fn readiness_fds(c: &mut Checks) -> Option<(usize, usize, usize)> {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` is ours, 8 bytes.
    let pipe = unsafe { sys::call(nr::PIPE2, &[fds.as_mut_ptr() as usize, 0]) };
    // SAFETY: no pointers.
    let epoll = unsafe { sys::call(nr::EPOLL_CREATE1, &[0]) };
    // SAFETY: no pointers.
    let pidfd = unsafe { sys::call(nr::PIDFD_OPEN, &[syscall::getpid() as usize, 0]) };
    let (Ok(_), Ok(epoll), Ok(pidfd)) = (pipe, epoll, pidfd) else {
        c.check(
            false,
            format_args!("pipe2 {pipe:?}, epoll_create1 {epoll:?}, pidfd_open {pidfd:?}"),
        );
        return None;
    };
    // EPOLLOUT with data 7: {u32 events, u64 data}, packed.
    let mut event = [0u8; 12];
    event[..4].copy_from_slice(&4u32.to_le_bytes());
    event[4..].copy_from_slice(&7u64.to_le_bytes());
    // SAFETY: `event` is ours, 12 bytes.
    let r = unsafe {
        sys::call(
            nr::EPOLL_CTL,
            &[epoll, 1, fds[1] as usize, event.as_ptr() as usize],
        )
    };
    check_eq!(c, r, Ok(0), "epoll_ctl ADD");
    Some((epoll, fds[0] as usize, pidfd))
}

/// `wait4` with a bad status or rusage pointer: `EFAULT`, and the child
/// is reaped anyway (Linux's order).
fn wait4_pointers(c: &mut Checks) {
    for (what, status, rusage) in [("status", LOW, 0), ("rusage", 0, KERNEL)] {
        match syscall::fork() {
            Ok(0) => syscall::exit_group(0),
            Ok(pid) => {
                // SAFETY: bad pointers on purpose.
                let r = unsafe { sys::call(nr::WAIT4, &[pid as usize, status, 0, rusage]) };
                check_eq!(c, r, Err(errno::EFAULT), "wait4 with a bad {what}");
                check_eq!(
                    c,
                    syscall::wait4(pid, 0),
                    Err(Errno::ECHILD),
                    "reaped anyway"
                );
            }
            Err(e) => c.check(false, format_args!("fork: {e}")),
        }
    }
}

/// Tine's `pdwait` with a bad status, rusage or info pointer: `EFAULT`,
/// and the child is reaped anyway (as `wait4`).
fn pdwait_pointers(c: &mut Checks) {
    for (what, slot) in [("status", 1), ("rusage", 3), ("info", 4)] {
        let mut fd = -1i32;
        // SAFETY: `fd` is ours; the child exits at once.
        match unsafe { sys::call(nr::TINE_PDFORK, &[&mut fd as *mut i32 as usize, 0]) } {
            Ok(0) => syscall::exit_group(0),
            Ok(_) => {
                let mut args = [fd as usize, 0, 0, 0, 0];
                args[slot] = LOW;
                // SAFETY: a bad pointer on purpose.
                let r = unsafe { sys::call(nr::TINE_PDWAIT, &args) };
                check_eq!(c, r, Err(errno::EFAULT), "pdwait with a bad {what}");
                // SAFETY: no pointers.
                let r = unsafe { sys::call(nr::TINE_PDWAIT, &[fd as usize, 0, 0, 0, 0]) };
                check_eq!(c, r, Err(Errno::ECHILD), "reaped anyway");
                // SAFETY: closing our descriptor.
                let _ = unsafe { sys::call(nr::CLOSE, &[fd as usize]) };
            }
            Err(e) => c.check(false, format_args!("pdfork: {e:?}")),
        }
    }
}

/// `forkevents(buf, len, NONBLOCK)` with events to deliver and a bad
/// buffer (with none it is `EAGAIN` before the buffer is looked at).
fn forkevents(c: &mut Checks) {
    let mut buf = [0u8; 240];
    // The first call starts this process's stream.
    // SAFETY: the buffer is ours and 240 bytes long.
    let _ = unsafe { sys::call(nr::TINE_FORKEVENTS, &[buf.as_mut_ptr() as usize, 240, 1]) };
    // A fork and an exit to report.
    match syscall::fork() {
        Ok(0) => syscall::exit_group(0),
        Ok(pid) => drop(syscall::wait4(pid, 0)),
        Err(e) => c.check(false, format_args!("fork: {e}")),
    }
    let text = main as *const () as usize & !0xfff;
    for ptr in [LOW, KERNEL, text] {
        // SAFETY: a bad buffer on purpose.
        let r = unsafe { sys::call(nr::TINE_FORKEVENTS, &[ptr, 240, 1]) };
        check_eq!(c, r, Err(errno::EFAULT), "forkevents with {ptr:#x}");
    }
    // The events are still there for a good buffer.
    // SAFETY: as above.
    let r = unsafe { sys::call(nr::TINE_FORKEVENTS, &[buf.as_mut_ptr() as usize, 240, 1]) };
    c.check(
        matches!(r, Ok(n) if n > 0 && n % 24 == 0),
        format_args!("forkevents after the faults: {r:?}"),
    );
}

/// `writev` whose array is fine but whose one element points nowhere.
fn writev_element(c: &mut Checks) {
    let iov = [LOW, 4usize];
    // SAFETY: the array is ours; its buffer is bad on purpose.
    let r = unsafe { sys::call(nr::WRITEV, &[1, iov.as_ptr() as usize, 1]) };
    check_eq!(c, r, Err(errno::EFAULT), "writev with a bad buffer");
}

fn enosys(c: &mut Checks) {
    for n in [9999, 335, 423, 999, 1015, 1099, 1 << 20, u64::MAX] {
        // SAFETY: unknown numbers take no memory.
        let r = unsafe { sys::call(n, &[LOW, LOW, LOW]) };
        check_eq!(c, r, Err(errno::ENOSYS), "system call {n}");
    }
}
