//! # tine-tests — user-level test programs
//!
//! Every binary of this crate is packed at `/test/NAME` in the initramfs.
//! Booting with `utest` makes the kernel run each one in turn; each must
//! exit 0 (`docs/testing.md`). The binaries are plain Linux x86-64
//! programs, so they also run (and should pass) on Linux.
//!
//! This library holds what they share: [`Checks`] (count and report
//! failed checks), raw system calls with their Linux numbers ([`sys`]),
//! and small helpers (`fork_and_wait`, wait-status decoding).
#![no_std]

pub mod sys;

use tine_rt::{eprintln, println};

/// A test program's tally: each failed check prints a line on stderr;
/// [`Checks::finish`] prints the verdict and gives the exit status.
pub struct Checks {
    name: &'static str,
    run: u32,
    failed: u32,
}

impl Checks {
    /// A tally for the program `name`.
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            run: 0,
            failed: 0,
        }
    }

    /// Records a check: `ok`, or a failure described by `what`.
    pub fn check(&mut self, ok: bool, what: core::fmt::Arguments<'_>) {
        self.run += 1;
        if !ok {
            self.failed += 1;
            eprintln!("{}: FAIL: {}", self.name, what);
        }
    }

    /// Checks that `got == want`.
    pub fn eq<T: PartialEq + core::fmt::Debug>(
        &mut self,
        got: T,
        want: T,
        what: core::fmt::Arguments<'_>,
    ) {
        let ok = got == want;
        self.run += 1;
        if !ok {
            self.failed += 1;
            eprintln!(
                "{}: FAIL: {}: got {:?}, want {:?}",
                self.name, what, got, want
            );
        }
    }

    /// Whether every check so far passed.
    pub fn ok(&self) -> bool {
        self.failed == 0
    }

    /// Prints `NAME: ok (N checks)` or `NAME: K of N checks failed` and
    /// returns the exit status (0 iff every check passed).
    pub fn finish(self) -> i32 {
        if self.failed == 0 {
            println!("{}: ok ({} checks)", self.name, self.run);
            0
        } else {
            println!(
                "{}: {} of {} checks failed",
                self.name, self.failed, self.run
            );
            1
        }
    }
}

/// `check!(checks, cond, "fmt", args..)`.
#[macro_export]
macro_rules! check {
    ($c:expr, $cond:expr) => {
        $c.check($cond, format_args!("{}:{}: {}", file!(), line!(), stringify!($cond)))
    };
    ($c:expr, $cond:expr, $($fmt:tt)+) => {
        $c.check($cond, format_args!("{}:{}: {}", file!(), line!(), format_args!($($fmt)+)))
    };
}

/// `check_eq!(checks, got, want, "fmt", args..)`.
#[macro_export]
macro_rules! check_eq {
    ($c:expr, $got:expr, $want:expr) => {
        $c.eq($got, $want, format_args!("{}:{}: {}", file!(), line!(), stringify!($got)))
    };
    ($c:expr, $got:expr, $want:expr, $($fmt:tt)+) => {
        $c.eq($got, $want, format_args!("{}:{}: {}", file!(), line!(), format_args!($($fmt)+)))
    };
}

/// The wait status of `exit(code)`.
pub const fn exited(code: i32) -> i32 {
    (code & 0xff) << 8
}

/// The wait status of a death by signal `sig`.
pub const fn killed(sig: i32) -> i32 {
    sig & 0x7f
}

/// Forks; the child runs `child` and exits with its result; the parent
/// waits for it and returns the wait status (or the errno of a failed
/// fork/wait, negated).
pub fn fork_and_wait(child: impl FnOnce() -> i32) -> i32 {
    match tine_rt::syscall::fork() {
        Ok(0) => tine_rt::syscall::exit_group(child()),
        Ok(pid) => match tine_rt::syscall::wait4(pid, 0) {
            Ok((_, status)) => status,
            Err(e) => -e.0,
        },
        Err(e) => -e.0,
    }
}
