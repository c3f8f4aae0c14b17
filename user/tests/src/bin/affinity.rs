//! `/test/affinity`: `sched_setaffinity` really moves the thread and
//! keeps it on an allowed CPU (`getcpu` checked many times, across
//! yields and sleeps), `sched_getaffinity` reads the mask back, fork
//! inherits it, an empty or offline-only mask is `EINVAL`, a missing
//! PID `ESRCH`.
#![no_std]
#![no_main]

use tine_rt::Args;
use tine_rt::syscall;
use tine_tests::sys::{self, errno, nr};
use tine_tests::{Checks, check, check_eq, exited, fork_and_wait};

tine_rt::entry!(main);

fn getaffinity(pid: usize) -> Result<u64, tine_rt::syscall::Errno> {
    let mut mask = 0u64;
    // SAFETY: the kernel writes 8 bytes into `mask`.
    unsafe {
        sys::call(
            nr::SCHED_GETAFFINITY,
            &[pid, 8, &mut mask as *mut u64 as usize],
        )
    }
    .map(|_| mask)
}

fn setaffinity(pid: usize, mask: u64) -> Result<usize, tine_rt::syscall::Errno> {
    // SAFETY: the kernel reads 8 bytes from `mask`.
    unsafe {
        sys::call(
            nr::SCHED_SETAFFINITY,
            &[pid, 8, &mask as *const u64 as usize],
        )
    }
}

/// Whether the thread stays on `cpu` through yields, a sleep and work.
fn stays_on(cpu: u32) -> bool {
    let sleep = [0i64, 1_000_000];
    for i in 0..100 {
        if syscall::getcpu() != Ok(cpu) {
            return false;
        }
        if i % 10 == 0 {
            // SAFETY: reads `sleep`.
            let _ = unsafe { sys::call(nr::NANOSLEEP, &[sleep.as_ptr() as usize, 0]) };
        }
        let mut x = 0u64;
        for j in 0..20_000u64 {
            x = core::hint::black_box(x ^ j);
        }
        syscall::sched_yield();
    }
    true
}

fn main(_: Args) -> i32 {
    let mut c = Checks::new("affinity");
    let all = getaffinity(0);
    check!(
        c,
        all.is_ok_and(|m| m != 0 && m & 1 == 1),
        "the mask at start: {all:?}"
    );
    let all = all.unwrap_or(1);
    let ncpus = all.count_ones();
    let every = if ncpus == 64 { !0 } else { (1u64 << ncpus) - 1 };
    check_eq!(c, all, every, "every CPU, and only those");
    for cpu in (0..ncpus).rev() {
        check_eq!(c, setaffinity(0, 1 << cpu), Ok(0), "pin to cpu {cpu}");
        check_eq!(c, syscall::getcpu(), Ok(cpu), "moved to cpu {cpu} at once");
        check!(c, stays_on(cpu), "stays on cpu {cpu}");
        check_eq!(c, getaffinity(0), Ok(1 << cpu), "the mask reads back");
    }
    // Fork inherits the mask; the child runs on the pinned CPU.
    let last = ncpus - 1;
    check_eq!(c, setaffinity(0, 1 << last), Ok(0), "pin to the last cpu");
    let status = fork_and_wait(move || {
        let ok = getaffinity(0) == Ok(1 << last) && stays_on(last);
        if ok { 0 } else { 1 }
    });
    check_eq!(
        c,
        status,
        exited(0),
        "the child inherits the mask and obeys it"
    );
    // A mask with several CPUs: the thread stays inside it.
    if ncpus >= 2 {
        let two = 0b11u64 << (ncpus - 2);
        check_eq!(c, setaffinity(0, two), Ok(0), "a two-CPU mask");
        let mut inside = true;
        for _ in 0..50 {
            inside &= syscall::getcpu().is_ok_and(|cpu| two & (1 << cpu) != 0);
            syscall::sched_yield();
        }
        check!(c, inside, "stays inside a two-CPU mask");
    }
    check_eq!(c, setaffinity(0, 0), Err(errno::EINVAL), "an empty mask");
    if ncpus < 64 {
        check_eq!(
            c,
            setaffinity(0, 1 << 63),
            Err(errno::EINVAL),
            "only an offline CPU"
        );
    }
    check_eq!(
        c,
        setaffinity(99_999, 1),
        Err(errno::ESRCH),
        "no such process"
    );
    check_eq!(
        c,
        getaffinity(99_999),
        Err(errno::ESRCH),
        "no such process (get)"
    );
    let mut m = 0u64;
    // SAFETY: 4 bytes would be too small: EINVAL before any write.
    let r = unsafe { sys::call(nr::SCHED_GETAFFINITY, &[0, 4, &mut m as *mut u64 as usize]) };
    check_eq!(c, r, Err(errno::EINVAL), "a 4-byte mask buffer");
    // Back to every CPU: free again.
    check_eq!(c, setaffinity(0, all), Ok(0), "unpin");
    check_eq!(c, getaffinity(0), Ok(all), "the full mask again");
    c.finish()
}
