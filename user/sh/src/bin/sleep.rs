//! `/bin/sleep SECONDS[.FRACTION]`: sleeps with `nanosleep`; a signal
//! that interrupts it ends the program (default action) as usual.
#![no_std]
#![no_main]

use tine_rt::syscall::{self, Errno};
use tine_rt::{Args, eprintln};

tine_rt::entry!(main);

fn main(args: Args) -> i32 {
    let Some(ns) = args.get(1).and_then(parse) else {
        eprintln!("usage: sleep SECONDS[.FRACTION]");
        return 2;
    };
    match syscall::nanosleep(ns) {
        Ok(()) => 0,
        Err(Errno::EINTR) => 1,
        Err(e) => {
            eprintln!("sleep: nanosleep: {}", sh::errno::Name(e.0));
            1
        }
    }
}

/// `1`, `0.25`, `2.5` -> nanoseconds.
fn parse(s: &[u8]) -> Option<u64> {
    let s = core::str::from_utf8(s).ok()?;
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() && frac.is_empty() || frac.len() > 9 {
        return None;
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut frac_ns = 0u64;
    for (i, c) in frac.bytes().enumerate() {
        if !c.is_ascii_digit() {
            return None;
        }
        frac_ns += u64::from(c - b'0') * 10u64.pow(8 - i as u32);
    }
    whole.checked_mul(1_000_000_000)?.checked_add(frac_ns)
}
