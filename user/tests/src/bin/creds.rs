//! `/test/creds`: user and group ids (root at boot, inherited by fork,
//! setuid/setgid rules) and resource limits (getrlimit, setrlimit,
//! prlimit64: the soft/hard rules, root-only raises, ESRCH, inheritance).
#![no_std]
#![no_main]

use tine_rt::Args;
use tine_rt::syscall;
use tine_tests::sys::{self, errno, nr};
use tine_tests::{Checks, check_eq, exited, fork_and_wait};

tine_rt::entry!(main);

const RLIMIT_NOFILE: usize = 7;
const RLIMIT_CORE: usize = 4;
const RLIMIT_STACK: usize = 3;
const INFINITY: u64 = !0;

fn call(n: u64, args: &[usize]) -> Result<usize, tine_rt::syscall::Errno> {
    // SAFETY: the callers pass pointers to their own live buffers only.
    unsafe { sys::call(n, args) }
}

fn ids() -> [usize; 4] {
    [nr::GETUID, nr::GETEUID, nr::GETGID, nr::GETEGID].map(|n| call(n, &[]).unwrap_or(9999))
}

fn getrlimit(resource: usize) -> Result<(u64, u64), tine_rt::syscall::Errno> {
    let mut lim = [0u64; 2];
    call(nr::GETRLIMIT, &[resource, lim.as_mut_ptr() as usize]).map(|_| (lim[0], lim[1]))
}

fn setrlimit(resource: usize, cur: u64, max: u64) -> Result<usize, tine_rt::syscall::Errno> {
    let lim = [cur, max];
    call(nr::SETRLIMIT, &[resource, lim.as_ptr() as usize])
}

fn main(_: Args) -> i32 {
    let mut c = Checks::new("creds");
    check_eq!(c, ids(), [0; 4], "root at boot");
    limits(&mut c);
    // A child inherits a lowered limit.
    check_eq!(
        c,
        setrlimit(RLIMIT_CORE, 0, 1 << 20),
        Ok(0),
        "lower RLIMIT_CORE"
    );
    let status = fork_and_wait(|| {
        if getrlimit(RLIMIT_CORE) == Ok((0, 1 << 20)) {
            0
        } else {
            1
        }
    });
    check_eq!(c, status, exited(0), "the child has the parent's limit");
    // Root may raise the hard limit again.
    check_eq!(
        c,
        setrlimit(RLIMIT_CORE, 0, INFINITY),
        Ok(0),
        "root raises a hard limit"
    );

    // Dropping root happens in a child, so this process stays root.
    let status = fork_and_wait(|| {
        let mut c = Checks::new("creds (uid 1000)");
        check_eq!(c, call(nr::SETGID, &[100]), Ok(0), "setgid(100) as root");
        check_eq!(c, call(nr::SETUID, &[1000]), Ok(0), "setuid(1000) as root");
        check_eq!(c, ids(), [1000, 1000, 100, 100], "all ids changed");
        check_eq!(
            c,
            call(nr::SETUID, &[0]),
            Err(errno::EPERM),
            "no way back to root"
        );
        check_eq!(c, call(nr::SETUID, &[1000]), Ok(0), "setuid to its own id");
        check_eq!(
            c,
            call(nr::SETGID, &[0]),
            Err(errno::EPERM),
            "setgid(0) as a user"
        );
        check_eq!(
            c,
            call(nr::SETUID, &[usize::MAX]),
            Err(errno::EINVAL),
            "setuid(-1)"
        );
        // Limits as a user: lower yes, raise the hard one no.
        check_eq!(c, setrlimit(RLIMIT_NOFILE, 64, 128), Ok(0), "a user lowers");
        check_eq!(
            c,
            setrlimit(RLIMIT_NOFILE, 128, 128),
            Ok(0),
            "soft up to hard"
        );
        check_eq!(
            c,
            setrlimit(RLIMIT_NOFILE, 64, 129),
            Err(errno::EPERM),
            "hard up"
        );
        check_eq!(
            c,
            getrlimit(RLIMIT_NOFILE),
            Ok((128, 128)),
            "unchanged by EPERM"
        );
        // Another user's (root's) process: EPERM for prlimit64.
        let parent = syscall::getppid() as usize;
        let mut old = [0u64; 2];
        let r = call(
            nr::PRLIMIT64,
            &[parent, RLIMIT_NOFILE, 0, old.as_mut_ptr() as usize],
        );
        check_eq!(c, r, Err(errno::EPERM), "prlimit64 on root's process");
        let ok = call(nr::TINE_POWEROFF, &[0]);
        check_eq!(c, ok, Err(errno::EPERM), "poweroff as a user");
        // sysctl: a user reads knobs but writes none (FreeBSD's
        // PRIV_SYSCTL_WRITE), and the knob keeps its value.
        let maxproc = || {
            let mut old = [0u8; 24];
            syscall::sysctl(b"kern.maxproc", &mut old, None).map(|n| (old, n))
        };
        let before = maxproc();
        check_eq!(c, before.is_ok(), true, "a user reads kern.maxproc");
        let mut old = [0u8; 24];
        check_eq!(
            c,
            syscall::sysctl(b"kern.maxproc", &mut old, Some(b"200000")),
            Err(errno::EPERM),
            "a user raises kern.maxproc"
        );
        check_eq!(
            c,
            syscall::sysctl(b"kern.forkfsleep", &mut old, Some(b"x")),
            Err(errno::EPERM),
            "a user writes a bad value (EPERM first)"
        );
        check_eq!(c, maxproc(), before, "kern.maxproc unchanged");
        if c.finish() != 0 {
            return 1;
        }
        // The ids survive exec and reach the new program's auxiliary
        // vector: `/test/exec --child` checks AT_UID.. against get*id and
        // exits 42.
        let e = syscall::execve(
            c"/test/exec",
            &[c"exec-child", c"--child", c"two words", c""],
            &[c"TINE_TEST=exec", c"EMPTY="],
        );
        tine_rt::eprintln!("creds: execve: {e}");
        1
    });
    check_eq!(
        c,
        status,
        exited(42),
        "the unprivileged child's checks, then its exec"
    );
    check_eq!(c, ids(), [0; 4], "the parent is still root");
    c.finish()
}

fn limits(c: &mut Checks) {
    check_eq!(
        c,
        getrlimit(RLIMIT_STACK),
        Ok((8 << 20, INFINITY)),
        "RLIMIT_STACK"
    );
    check_eq!(
        c,
        getrlimit(RLIMIT_NOFILE),
        Ok((1024, 1024)),
        "RLIMIT_NOFILE: the descriptor table's size"
    );
    check_eq!(
        c,
        setrlimit(RLIMIT_NOFILE, 1024, 1025),
        Err(errno::EPERM),
        "NOFILE past the table, even as root"
    );
    check_eq!(c, getrlimit(16), Err(errno::EINVAL), "resource 16");
    check_eq!(
        c,
        setrlimit(RLIMIT_NOFILE, 10, 5),
        Err(errno::EINVAL),
        "soft > hard"
    );
    check_eq!(
        c,
        setrlimit(99, 1, 1),
        Err(errno::EINVAL),
        "unknown resource"
    );
    // prlimit64: set and get the old value in one call, on pid 0 and on
    // our own pid; ESRCH for a PID that does not exist.
    let new = [128u64, 256];
    let mut old = [0u64; 2];
    let me = syscall::getpid() as usize;
    let r = call(
        nr::PRLIMIT64,
        &[
            me,
            RLIMIT_NOFILE,
            new.as_ptr() as usize,
            old.as_mut_ptr() as usize,
        ],
    );
    check_eq!(c, r, Ok(0), "prlimit64 on ourselves");
    check_eq!(c, old, [1024, 1024], "the old limit");
    check_eq!(c, getrlimit(RLIMIT_NOFILE), Ok((128, 256)), "the new limit");
    let r = call(
        nr::PRLIMIT64,
        &[99_999, RLIMIT_NOFILE, 0, old.as_mut_ptr() as usize],
    );
    check_eq!(c, r, Err(errno::ESRCH), "prlimit64 on no process");
    let r = call(
        nr::PRLIMIT64,
        &[0, RLIMIT_NOFILE, 0, old.as_mut_ptr() as usize],
    );
    check_eq!(c, (r, old), (Ok(0), [128, 256]), "prlimit64 pid 0 reads");
    check_eq!(
        c,
        setrlimit(RLIMIT_NOFILE, 1024, 1024),
        Ok(0),
        "back to the default"
    );
}
