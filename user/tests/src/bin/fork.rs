//! `/test/fork`: fork returns twice with the right PIDs; copy-on-write
//! isolation (both sides write the same page and keep their own value,
//! and memory comes back after the child is reaped); wait4 statuses for
//! exits and deaths by signal; a SIGSEGV kills only the child; a pipe
//! carries bytes both ways between parent and child, with end-of-file
//! when the writer is gone; an orphan is adopted by its reaper, and an
//! orphan made by `clone` with another exit signal (SIGTERM) tells its
//! reaper of its exit with SIGCHLD instead (a fuzzer finding: the signal
//! used to reach, and kill, the reaper).
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};

use tine_rt::Args;
use tine_rt::syscall::{self, Errno};
use tine_tests::sys::{self, nr};
use tine_tests::{Checks, check, check_eq, exited, fork_and_wait, killed};

tine_rt::entry!(main);

const WNOHANG: i32 = 1;
const SIGKILL: i32 = 9;
const SIGSEGV: i32 = 11;

/// One page of data both sides write.
#[repr(align(4096))]
struct Page([AtomicU64; 512]);
static PAGE: Page = Page([const { AtomicU64::new(0) }; 512]);

fn main(_: Args) -> i32 {
    let mut c = Checks::new("fork");
    returns_twice(&mut c);
    cow(&mut c);
    memory_comes_back(&mut c);
    statuses(&mut c);
    segv_kills_only_the_child(&mut c);
    pipes(&mut c);
    orphan(&mut c);
    orphan_exit_signal(&mut c);
    c.finish()
}

fn returns_twice(c: &mut Checks) {
    let me = syscall::getpid();
    match syscall::fork() {
        Ok(0) => {
            // The child: its own PID, the parent's as PPID. Exit codes
            // say what went wrong.
            let code = if syscall::getppid() != me {
                1
            } else if syscall::getpid() == me {
                2
            } else {
                // Report our PID in the status (low 7 bits).
                (syscall::getpid() & 0x7f) + 8
            };
            syscall::exit_group(code)
        }
        Ok(child) => {
            check!(c, child > 0 && child != me, "fork returned {child}");
            let r = syscall::wait4(child, 0);
            check_eq!(
                c,
                r,
                Ok((child, exited((child & 0x7f) + 8))),
                "the child's view"
            );
        }
        Err(e) => check!(c, false, "fork: {e}"),
    }
}

fn cow(c: &mut Checks) {
    for (i, w) in PAGE.0.iter().enumerate() {
        w.store(i as u64, Ordering::Relaxed);
    }
    let status = fork_and_wait(|| {
        for w in PAGE.0.iter() {
            w.store(0xC0DE, Ordering::Relaxed);
        }
        // Our writes stay ours; give the parent time to write its own.
        for _ in 0..20 {
            syscall::sched_yield();
        }
        let ok = PAGE.0.iter().all(|w| w.load(Ordering::Relaxed) == 0xC0DE);
        if ok { 0 } else { 1 }
    });
    check_eq!(c, status, exited(0), "the child kept its own page");
    let ok = PAGE
        .0
        .iter()
        .enumerate()
        .all(|(i, w)| w.load(Ordering::Relaxed) == i as u64);
    check!(
        c,
        ok,
        "the parent's page is unchanged by the child's writes"
    );
    // The parent writes after the fork too: the child must not see it.
    let status = fork_and_wait(|| {
        for _ in 0..20 {
            syscall::sched_yield();
        }
        let ok = PAGE.0[7].load(Ordering::Relaxed) == 7;
        if ok { 0 } else { 1 }
    });
    PAGE.0[7].store(77, Ordering::Relaxed);
    check_eq!(
        c,
        status,
        exited(0),
        "the parent's later write stays its own"
    );
}

/// `sysinfo`'s free memory in bytes.
fn free_bytes() -> u64 {
    let mut info = [0u64; 14];
    // SAFETY: sysinfo writes 112 bytes into `info`, which has 112.
    match unsafe { sys::call(nr::SYSINFO, &[info.as_mut_ptr() as usize]) } {
        Ok(_) => info[5],
        Err(_) => 0,
    }
}

fn memory_comes_back(c: &mut Checks) {
    let touch = || {
        let len = 64 * 4096;
        let Ok(p) = sys::mmap_anon(len) else { return 1 };
        for i in 0..64 {
            // SAFETY: inside the fresh mapping of 64 pages.
            unsafe { p.add(i * 4096).write_volatile(i as u8) };
        }
        for w in PAGE.0.iter() {
            w.store(1, Ordering::Relaxed);
        }
        0
    };
    // Warm up (page tables, per-CPU caches), then measure.
    check_eq!(c, fork_and_wait(touch), exited(0), "warm-up child");
    let before = free_bytes();
    for _ in 0..3 {
        check_eq!(c, fork_and_wait(touch), exited(0), "child");
    }
    let after = free_bytes();
    check!(c, before > 0, "sysinfo reports free memory");
    // Three children touched 65+ pages each: a leak would be hundreds of
    // pages; per-CPU caches and CR3 references account for a few.
    let slack = 64 * 4096;
    check!(
        c,
        after + slack >= before,
        "free memory {before} before, {after} after three children"
    );
}

fn statuses(c: &mut Checks) {
    for code in [0, 1, 42, 255, 256 + 3] {
        check_eq!(c, fork_and_wait(|| code), exited(code), "exit({code})");
    }
    check_eq!(
        c,
        fork_and_wait(|| {
            let _ = syscall::kill(syscall::getpid(), SIGKILL);
            0
        }),
        killed(SIGKILL),
        "killed by SIGKILL"
    );
    // WNOHANG while the child runs (it runs until killed), then the
    // status.
    match syscall::fork() {
        Ok(0) => loop {
            syscall::sched_yield();
        },
        Ok(pid) => {
            check_eq!(
                c,
                syscall::wait4(pid, WNOHANG),
                Ok((0, 0)),
                "WNOHANG while it runs"
            );
            check_eq!(c, syscall::kill(pid, SIGKILL), Ok(()), "kill");
            check_eq!(
                c,
                syscall::wait4(pid, 0),
                Ok((pid, killed(SIGKILL))),
                "then its status"
            );
        }
        Err(e) => check!(c, false, "fork: {e}"),
    }
    check_eq!(
        c,
        syscall::wait4(-1, 0),
        Err(Errno::ECHILD),
        "no children left"
    );
}

fn segv_kills_only_the_child(c: &mut Checks) {
    let status = fork_and_wait(|| {
        // SAFETY: deliberately faults: the kernel kills this child.
        unsafe { core::ptr::null_mut::<u64>().write_volatile(1) };
        0
    });
    check_eq!(c, status, killed(SIGSEGV), "the child died of SIGSEGV");
    // We are alive and our memory is fine.
    PAGE.0[0].store(9, Ordering::Relaxed);
    check_eq!(
        c,
        PAGE.0[0].load(Ordering::Relaxed),
        9,
        "the parent goes on"
    );
}

/// Reads from `fd` until end of file into `buf`; the byte count.
fn read_all(fd: i32, buf: &mut [u8]) -> Result<usize, Errno> {
    let mut n = 0;
    while n < buf.len() {
        match syscall::read(fd, &mut buf[n..])? {
            0 => break,
            got => n += got,
        }
    }
    Ok(n)
}

fn pipes(c: &mut Checks) {
    let (Ok(down), Ok(up)) = (syscall::pipe2(0), syscall::pipe2(0)) else {
        check!(c, false, "pipe2");
        return;
    };
    // The child reads the parent's message from `down`, answers on `up`.
    let pid = match syscall::fork() {
        Ok(0) => {
            let _ = syscall::close(down[1]);
            let _ = syscall::close(up[0]);
            let mut buf = [0u8; 64];
            let n = read_all(down[0], &mut buf).unwrap_or(0);
            let mut answer = [0u8; 80];
            answer[..6].copy_from_slice(b"child:");
            answer[6..6 + n].copy_from_slice(&buf[..n]);
            let ok = syscall::write_all(up[1], &answer[..6 + n]).is_ok();
            syscall::exit_group(if ok { 0 } else { 1 })
        }
        Ok(pid) => pid,
        Err(e) => {
            check!(c, false, "fork: {e}");
            return;
        }
    };
    let _ = syscall::close(down[0]);
    let _ = syscall::close(up[1]);
    check_eq!(
        c,
        syscall::write_all(down[1], b"ping 123"),
        Ok(()),
        "write to the child"
    );
    // Closing our write end is the child's end of file.
    check_eq!(c, syscall::close(down[1]), Ok(()), "close the write end");
    let mut buf = [0u8; 80];
    let n = read_all(up[0], &mut buf);
    check_eq!(
        c,
        n.map(|n| &buf[..n]),
        Ok(b"child:ping 123".as_slice()),
        "the answer"
    );
    let _ = syscall::close(up[0]);
    check_eq!(
        c,
        syscall::wait4(pid, 0),
        Ok((pid, exited(0))),
        "the pipe child"
    );
}

fn orphan(c: &mut Checks) {
    // Orphans go to the nearest reaper ancestor, else init, else the
    // kernel. Become a reaper (FreeBSD's procctl(P_PID, 0,
    // PROC_REAP_ACQUIRE)), so the orphan comes to us and its exit status
    // says what it saw.
    // SAFETY: procctl with a NULL data pointer.
    let acquired = unsafe { sys::call(nr::TINE_PROCCTL, &[0, 0, 2, 0]) };
    check_eq!(c, acquired, Ok(0), "procctl(PROC_REAP_ACQUIRE)");
    let me = syscall::getpid();
    let status = fork_and_wait(|| {
        let middle = syscall::getpid();
        match syscall::fork() {
            Ok(0) => {
                // The grandchild waits until its parent is gone.
                for _ in 0..100_000 {
                    if syscall::getppid() != middle {
                        break;
                    }
                    syscall::sched_yield();
                }
                syscall::exit_group(if syscall::getppid() == me { 0 } else { 3 })
            }
            Ok(_) => 0,
            Err(_) => 1,
        }
    });
    check_eq!(c, status, exited(0), "the middle process");
    // The orphan is our child now: reap it.
    let r = syscall::wait4(-1, 0);
    check!(
        c,
        matches!(r, Ok((pid, 0)) if pid > 0),
        "the orphan was adopted and saw us as its parent: {r:?}"
    );
    // SAFETY: procctl(PROC_REAP_RELEASE), no data.
    let released = unsafe { sys::call(nr::TINE_PROCCTL, &[0, 0, 3, 0]) };
    check_eq!(c, released, Ok(0), "procctl(PROC_REAP_RELEASE)");
}

fn orphan_exit_signal(c: &mut Checks) {
    // SAFETY: procctl(PROC_REAP_ACQUIRE), no data.
    let acquired = unsafe { sys::call(nr::TINE_PROCCTL, &[0, 0, 2, 0]) };
    check_eq!(c, acquired, Ok(0), "procctl(PROC_REAP_ACQUIRE) again");
    let status = fork_and_wait(|| {
        let middle = syscall::getpid();
        // clone(SIGTERM): a fork whose exit signal is SIGTERM.
        // SAFETY: no CLONE_VM: the child gets a copy of our memory, as
        // with fork; no pointers are passed.
        match unsafe { sys::call(nr::CLONE, &[15, 0, 0, 0, 0]) } {
            Ok(0) => {
                for _ in 0..100_000 {
                    if syscall::getppid() != middle {
                        break;
                    }
                    syscall::sched_yield();
                }
                syscall::exit_group(0)
            }
            Ok(_) => 0,
            Err(_) => 1,
        }
    });
    check_eq!(c, status, exited(0), "the middle process (clone)");
    // Were the orphan's SIGTERM to reach us, we would die here.
    let r = syscall::wait4(-1, 0);
    check!(
        c,
        matches!(r, Ok((pid, 0)) if pid > 0),
        "the clone orphan was adopted and reaped: {r:?}"
    );
    // SAFETY: procctl(PROC_REAP_RELEASE), no data.
    let released = unsafe { sys::call(nr::TINE_PROCCTL, &[0, 0, 3, 0]) };
    check_eq!(c, released, Ok(0), "procctl(PROC_REAP_RELEASE) again");
}
