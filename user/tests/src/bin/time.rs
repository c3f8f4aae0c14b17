//! `/test/time`: clocks (`clock_gettime` on every clock Tine has, the
//! errors of the others, `clock_getres`, `gettimeofday`) and sleeps
//! (`nanosleep`, `clock_nanosleep` relative and `TIMER_ABSTIME`: never
//! shorter than asked; bad timespecs `EINVAL`).
//!
//! No upper bounds on durations: the machine is shared and slow.
#![no_std]
#![no_main]

use tine_rt::Args;
use tine_tests::sys::{self, errno, nr};
use tine_tests::{Checks, check, check_eq};

tine_rt::entry!(main);

const REALTIME: usize = 0;
const MONOTONIC: usize = 1;
const PROCESS_CPUTIME: usize = 2;
const THREAD_CPUTIME: usize = 3;
const MONOTONIC_RAW: usize = 4;
const BOOTTIME: usize = 7;
const TIMER_ABSTIME: usize = 1;
/// 2026-01-01, the fixed date Tine's wall clock starts from.
const EPOCH_2026: i64 = 1_767_225_600;

fn gettime(clock: usize) -> Result<(i64, i64), tine_rt::syscall::Errno> {
    let mut ts = [0i64; 2];
    // SAFETY: the kernel writes 16 bytes into `ts`.
    unsafe { sys::call(nr::CLOCK_GETTIME, &[clock, ts.as_mut_ptr() as usize]) }
        .map(|_| (ts[0], ts[1]))
}

fn ns(ts: (i64, i64)) -> i128 {
    ts.0 as i128 * 1_000_000_000 + ts.1 as i128
}

fn main(_: Args) -> i32 {
    let mut c = Checks::new("time");
    for clock in [
        REALTIME,
        MONOTONIC,
        PROCESS_CPUTIME,
        THREAD_CPUTIME,
        MONOTONIC_RAW,
        5,
        6,
        BOOTTIME,
    ] {
        let a = gettime(clock);
        let b = gettime(clock);
        match (a, b) {
            (Ok(a), Ok(b)) => {
                check!(
                    c,
                    (0..1_000_000_000).contains(&a.1),
                    "clock {clock}: nsec {}",
                    a.1
                );
                check!(
                    c,
                    ns(b) >= ns(a),
                    "clock {clock} goes backwards: {a:?} then {b:?}"
                );
            }
            _ => check!(c, false, "clock {clock}: {a:?} {b:?}"),
        }
    }
    check!(
        c,
        gettime(REALTIME).is_ok_and(|t| t.0 >= EPOCH_2026),
        "the wall clock is past 2026"
    );
    // CLOCK_REALTIME_ALARM, CLOCK_BOOTTIME_ALARM, CLOCK_TAI (Linux has
    // them; 10, CLOCK_SGI_CYCLE, it has not).
    for clock in [8, 9, 11] {
        check!(c, gettime(clock).is_ok(), "clock {clock}");
    }
    for clock in [10, 12, usize::MAX - 5] {
        check_eq!(c, gettime(clock), Err(errno::EINVAL), "clock {clock}");
    }
    let mut res = [0i64; 2];
    // SAFETY: 16 bytes into `res`, then a NULL pointer (allowed).
    let r = unsafe { sys::call(nr::CLOCK_GETRES, &[MONOTONIC, res.as_mut_ptr() as usize]) };
    check_eq!(c, (r, res), (Ok(0), [0, 1]), "clock_getres");
    // SAFETY: as above.
    let r = unsafe { sys::call(nr::CLOCK_GETRES, &[REALTIME, 0]) };
    check_eq!(c, r, Ok(0), "clock_getres with NULL");
    // SAFETY: as above.
    let r = unsafe { sys::call(nr::CLOCK_GETRES, &[42, 0]) };
    check_eq!(c, r, Err(errno::EINVAL), "clock_getres of no clock");
    let mut tv = [0i64; 2];
    // SAFETY: 16 bytes into `tv`; NULL time zone.
    let r = unsafe { sys::call(nr::GETTIMEOFDAY, &[tv.as_mut_ptr() as usize, 0]) };
    check!(
        c,
        r == Ok(0) && tv[0] >= EPOCH_2026 && (0..1_000_000).contains(&tv[1]),
        "gettimeofday {tv:?}"
    );
    // Burn some CPU: the CPU-time clock moves.
    let cpu0 = gettime(PROCESS_CPUTIME).map(ns).unwrap_or(0);
    let mut x = 0u64;
    for i in 0..3_000_000u64 {
        x = core::hint::black_box(x.wrapping_add(i));
    }
    let cpu1 = gettime(PROCESS_CPUTIME).map(ns).unwrap_or(0);
    check!(c, cpu1 > cpu0, "CPU time moved: {cpu0} -> {cpu1}");
    sleeps(&mut c);
    c.finish()
}

fn sleeps(c: &mut Checks) {
    let t0 = gettime(MONOTONIC).map(ns).unwrap_or(0);
    let req = [0i64, 20_000_000];
    let mut rem = [7i64; 2];
    // SAFETY: the kernel reads `req` and may write `rem`.
    let r = unsafe {
        sys::call(
            nr::NANOSLEEP,
            &[req.as_ptr() as usize, rem.as_mut_ptr() as usize],
        )
    };
    let t1 = gettime(MONOTONIC).map(ns).unwrap_or(0);
    check_eq!(c, r, Ok(0), "nanosleep 20 ms");
    check!(c, t1 - t0 >= 20_000_000, "nanosleep slept {} ns", t1 - t0);
    for bad in [[0i64, -1], [0, 1_000_000_000], [-1, 0]] {
        // SAFETY: as above.
        let r = unsafe { sys::call(nr::NANOSLEEP, &[bad.as_ptr() as usize, 0]) };
        check_eq!(c, r, Err(errno::EINVAL), "nanosleep {bad:?}");
    }
    // clock_nanosleep, relative then absolute.
    let t0 = gettime(MONOTONIC).map(ns).unwrap_or(0);
    // SAFETY: reads `req`.
    let r = unsafe {
        sys::call(
            nr::CLOCK_NANOSLEEP,
            &[MONOTONIC, 0, req.as_ptr() as usize, 0],
        )
    };
    let t1 = gettime(MONOTONIC).map(ns).unwrap_or(0);
    check!(
        c,
        r == Ok(0) && t1 - t0 >= 20_000_000,
        "clock_nanosleep relative: {r:?}, {} ns",
        t1 - t0
    );
    for clock in [MONOTONIC, REALTIME] {
        let now = gettime(clock).map(ns).unwrap_or(0) + 30_000_000;
        let deadline = [(now / 1_000_000_000) as i64, (now % 1_000_000_000) as i64];
        // SAFETY: reads `deadline`.
        let r = unsafe {
            sys::call(
                nr::CLOCK_NANOSLEEP,
                &[clock, TIMER_ABSTIME, deadline.as_ptr() as usize, 0],
            )
        };
        let after = gettime(clock).map(ns).unwrap_or(0);
        check!(
            c,
            r == Ok(0) && after >= now,
            "clock_nanosleep({clock}, ABSTIME): {r:?}, woke {} ns early",
            now - after
        );
    }
    // A deadline in the past returns at once.
    let past = [0i64, 0];
    // SAFETY: reads `past`.
    let r = unsafe {
        sys::call(
            nr::CLOCK_NANOSLEEP,
            &[MONOTONIC, TIMER_ABSTIME, past.as_ptr() as usize, 0],
        )
    };
    check_eq!(c, r, Ok(0), "an absolute deadline in the past");
    // SAFETY: reads `req`.
    let r = unsafe {
        sys::call(
            nr::CLOCK_NANOSLEEP,
            &[PROCESS_CPUTIME, 0, req.as_ptr() as usize, 0],
        )
    };
    check_eq!(c, r, Err(errno::EINVAL), "sleeping on a CPU-time clock");
    // SAFETY: reads `req`.
    let r = unsafe { sys::call(nr::CLOCK_NANOSLEEP, &[99, 0, req.as_ptr() as usize, 0]) };
    check_eq!(c, r, Err(errno::EINVAL), "sleeping on no clock");
}
