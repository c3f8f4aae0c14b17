//! `/bin/forks [N]`: forks N children (3 by default, at most 64) and waits
//! for them all.
//!
//! Each child K (1..=N) prints `child K: pid P on cpu C` and exits with
//! status K; the parent reaps them with `wait4(-1)`, checks each status,
//! checks that one more `wait4` is `ECHILD`, and prints
//! `parent: reaped N children`.
//!
//! Copy-on-write check: the parent stores a value in a static before
//! forking; each child overwrites it with its own K; after all children
//! exited the parent's value must be unchanged. Exit status 0 when every
//! check passes, 1 otherwise.
//!
//! `/bin/forks --efault`: a child exits, and `wait4` with a bad status
//! pointer must be `EFAULT` with the child reaped anyway (the next `wait4`
//! is `ECHILD`), as on Linux. `/bin/forks --echild`: `wait4` without
//! children, or for a PID that is not a child, is `ECHILD`.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};

use tine_rt::syscall::{self, Errno};
use tine_rt::{Args, eprintln, println};

tine_rt::entry!(main);

/// Most children.
const MAX: usize = 64;
/// The most `--orphans` makes.
const MAX_ORPHANS: usize = 1000;
/// What the parent stores before forking.
const PARENT_VALUE: u32 = 0xC0FF_EE00;
/// `WNOHANG`.
const WNOHANG: i32 = 1;
/// `EFAULT`.
const EFAULT: Errno = Errno::EFAULT;

/// A writable static: the children's writes must not reach the parent.
static SHARED: AtomicU32 = AtomicU32::new(0);

fn main(args: Args) -> i32 {
    match args.get(1) {
        Some(b"--efault") => efault(),
        Some(b"--echild") => echild(),
        Some(b"--orphan") => orphan(),
        Some(b"--orphans") => match args.get(2).and_then(parse) {
            Some(n) if (1..=MAX_ORPHANS).contains(&n) => orphans(n),
            _ => {
                eprintln!("usage: forks --orphans N (1..={MAX_ORPHANS})");
                2
            }
        },
        Some(n) => match parse(n) {
            Some(n) if (1..=MAX).contains(&n) => forks(n),
            _ => {
                eprintln!(
                    "usage: forks [N (1..={MAX})] | --efault | --echild | --orphan | --orphans N"
                );
                2
            }
        },
        None => forks(3),
    }
}

fn parse(s: &[u8]) -> Option<usize> {
    if s.is_empty() || s.len() > 4 {
        return None;
    }
    s.iter().try_fold(0usize, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + usize::from(c - b'0'))
    })
}

/// The child's side: store K, report, exit with K.
fn child(k: usize) -> ! {
    SHARED.store(k as u32, Ordering::Relaxed);
    let cpu = match syscall::getcpu() {
        Ok(cpu) => cpu as i64,
        Err(_) => -1,
    };
    println!("child {k}: pid {} on cpu {cpu}", syscall::getpid());
    if SHARED.load(Ordering::Relaxed) != k as u32 {
        syscall::exit(100);
    }
    syscall::exit(k as i32)
}

fn forks(n: usize) -> i32 {
    SHARED.store(PARENT_VALUE, Ordering::Relaxed);
    let mut pids = [0i32; MAX];
    for (i, slot) in pids.iter_mut().enumerate().take(n) {
        match syscall::fork() {
            Ok(0) => child(i + 1),
            Ok(pid) => *slot = pid,
            Err(e) => {
                eprintln!("forks: fork {}: {e}", i + 1);
                return 1;
            }
        }
    }
    let mut ok = true;
    let mut reaped = 0;
    for _ in 0..n {
        match syscall::wait4(-1, 0) {
            Ok((pid, status)) => {
                reaped += 1;
                match pids[..n].iter().position(|&p| p == pid) {
                    Some(i) if status == ((i + 1) as i32 & 0xff) << 8 => {}
                    Some(i) => {
                        eprintln!("forks: child {} (pid {pid}): status {status:#x}", i + 1);
                        ok = false;
                    }
                    None => {
                        eprintln!("forks: reaped pid {pid}, not a child");
                        ok = false;
                    }
                }
            }
            Err(e) => {
                eprintln!("forks: wait4: {e}");
                ok = false;
            }
        }
    }
    let r = syscall::wait4(-1, WNOHANG);
    if r != Err(Errno::ECHILD) {
        eprintln!("forks: wait4 after the last child: {r:?}, not ECHILD");
        ok = false;
    }
    println!("parent: reaped {reaped} children");
    let value = SHARED.load(Ordering::Relaxed);
    if value != PARENT_VALUE {
        eprintln!("forks: the parent's value is {value:#x}, not {PARENT_VALUE:#x}");
        ok = false;
    }
    if ok { 0 } else { 1 }
}

fn efault() -> i32 {
    let pid = match syscall::fork() {
        Ok(0) => syscall::exit(7),
        Ok(pid) => pid,
        Err(e) => {
            eprintln!("forks: fork: {e}");
            return 1;
        }
    };
    // SAFETY: the status pointer is bad on purpose; the kernel checks it
    // and writes nothing of ours.
    let ret = unsafe { syscall::call(syscall::nr::WAIT4, &[pid as usize, 1, 0, 0]) };
    if ret != Err(EFAULT) {
        eprintln!("forks: wait4 with a bad pointer: {ret:?}, not EFAULT");
        return 1;
    }
    match syscall::wait4(pid, 0) {
        Err(Errno::ECHILD) => {
            println!("forks: EFAULT, child reaped");
            0
        }
        r => {
            eprintln!("forks: wait4 after EFAULT: {r:?}, not ECHILD");
            1
        }
    }
}

fn echild() -> i32 {
    let mut ok = true;
    for (pid, options) in [(-1, 0), (-1, WNOHANG), (1, 0), (syscall::getpid(), 0)] {
        let r = syscall::wait4(pid, options);
        if r != Err(Errno::ECHILD) {
            eprintln!("forks: wait4({pid}, {options}): {r:?}, not ECHILD");
            ok = false;
        }
    }
    if ok {
        println!("forks: ECHILD");
        0
    } else {
        1
    }
}

fn orphan() -> i32 {
    match syscall::fork() {
        Ok(0) => {
            for _ in 0..50 {
                syscall::sched_yield();
            }
            syscall::exit(0)
        }
        Ok(_) => 0,
        Err(e) => {
            eprintln!("forks: fork: {e}");
            1
        }
    }
}

/// `N` children blocked reading a pipe whose write end only this process
/// holds; it exits without waiting, so they all see end-of-file and exit
/// at once, orphans (the kernel reaps them when init is not running).
fn orphans(n: usize) -> i32 {
    let [rd, wr] = match syscall::pipe2(0) {
        Ok(fds) => fds,
        Err(e) => {
            eprintln!("forks: pipe2: {e}");
            return 1;
        }
    };
    for _ in 0..n {
        match syscall::fork() {
            Ok(0) => {
                let _ = syscall::close(wr);
                let mut byte = [0u8; 1];
                let _ = syscall::read(rd, &mut byte);
                syscall::exit(0)
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("forks: fork: {e}");
                return 1;
            }
        }
    }
    0
}
