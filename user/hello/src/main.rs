//! `/bin/hello`: prints its arguments, one per line, and exits 0.
//!
//! With an option as its first argument it exercises the kernel instead
//! (the in-kernel process tests use these):
//! - `--panic`: panics (the runtime reports it on stderr and exits 127);
//! - `--segv`: stores to address 0 (killed by `SIGSEGV`);
//! - `--ud2`: executes `ud2` (killed by `SIGILL`);
//! - `--efault`: `write(1, 0x1, 5)` and exits with the negated result
//!   (`EFAULT`, 14, expected);
//! - `--enosys`: calls system call 9999 and exits with the negated result
//!   (`ENOSYS`, 38, expected);
//! - `--mem`: grows the heap with `brk`, maps and unmaps anonymous memory,
//!   and checks the memory reads back; exits 0, or the number of the
//!   failed step;
//! - `--tls`: sets the FS base with `arch_prctl` and reads through it;
//!   exits 0, or the number of the failed step;
//! - `--spin N`: busy-loops N million iterations (time-slice tests), then
//!   exits 0.
#![no_std]
#![no_main]

use core::arch::asm;
use tine_rt::syscall::abi::{arch_prctl, mman};
use tine_rt::syscall::{Errno, call, nr};
use tine_rt::{Args, println};

tine_rt::entry!(main);

fn main(args: Args) -> i32 {
    match args.get(1) {
        Some(b"--panic") => panic!("hello: asked to panic"),
        Some(b"--segv") => segv(),
        Some(b"--ud2") => ud2(),
        Some(b"--efault") => {
            // SAFETY: the kernel only reads the (invalid) buffer, which is
            // the point: it must refuse with EFAULT.
            negated(unsafe { call(nr::WRITE, &[1, 1, 5]) })
        }
        Some(b"--enosys") => {
            // SAFETY: an unknown system call takes no memory.
            negated(unsafe { call(9999, &[]) })
        }
        Some(b"--mem") => mem(),
        Some(b"--tls") => tls(),
        Some(b"--spin") => {
            let millions: u64 = args
                .get(2)
                .and_then(|a| core::str::from_utf8(a).ok())
                .and_then(|a| a.parse().ok())
                .unwrap_or(1);
            let mut x = 0u64;
            for i in 0..millions * 1_000_000 {
                x = core::hint::black_box(x.wrapping_add(i));
            }
            core::hint::black_box(x);
            0
        }
        _ => {
            println!("hello: {} argument(s)", args.len());
            for (i, arg) in args.iter().enumerate() {
                println!(
                    "argv[{i}] = {}",
                    core::str::from_utf8(arg).unwrap_or("<not UTF-8>")
                );
            }
            0
        }
    }
}

/// Stores to address 0.
fn segv() -> i32 {
    // SAFETY: not safe at all: the store faults and the kernel kills the
    // process with SIGSEGV, which is what this option is for. The
    // instruction touches no memory Rust knows about.
    unsafe { asm!("mov qword ptr [{0}], 1", in(reg) 0usize, options(nostack)) };
    1
}

/// Executes an undefined instruction.
fn ud2() -> i32 {
    // SAFETY: `ud2` raises #UD; the kernel kills the process with SIGILL.
    unsafe { asm!("ud2", options(nostack, nomem)) };
    1
}

const PAGE: usize = 4096;
/// `PROT_READ | PROT_WRITE`.
const PROT_RW: usize = 3;
/// `MAP_PRIVATE | MAP_ANONYMOUS`.
const ANON: usize = (mman::PRIVATE | mman::ANONYMOUS) as usize;
const SET_FS: usize = arch_prctl::SET_FS as usize;
const GET_FS: usize = arch_prctl::GET_FS as usize;

/// The exit status `--efault`/`--enosys` report: the error number, or
/// minus the value (a call that wrongly succeeded).
fn negated(r: Result<usize, Errno>) -> i32 {
    match r {
        Err(e) => e.0,
        Ok(v) => -(v as i32),
    }
}

/// `brk`, `mmap` and `munmap`; returns the failed step or 0.
fn mem() -> i32 {
    // SAFETY: brk(0) only asks for the current break.
    let start = unsafe { call(nr::BRK, &[0]) }.unwrap_or(0);
    if start == 0 || !start.is_multiple_of(PAGE) {
        return 1;
    }
    let want = start + 5 * PAGE + 123;
    // SAFETY: growing the break maps fresh memory nobody uses yet.
    let got = unsafe { call(nr::BRK, &[want]) }.unwrap_or(0);
    if got != want {
        return 2;
    }
    let heap = start as *mut u8;
    for i in (0..5 * PAGE + 123).step_by(512) {
        // SAFETY: [start, want) is the heap we just got.
        unsafe { heap.add(i).write_volatile(i as u8) };
    }
    for i in (0..5 * PAGE + 123).step_by(512) {
        // SAFETY: as above.
        if unsafe { heap.add(i).read_volatile() } != i as u8 {
            return 3;
        }
    }
    // Shrink back: the break moves, the pages go.
    // SAFETY: nothing refers to the heap any more.
    if unsafe { call(nr::BRK, &[start]) } != Ok(start) {
        return 4;
    }
    // An anonymous mapping: PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS.
    // SAFETY: the kernel picks a free range.
    let Ok(map) = (unsafe { call(nr::MMAP, &[0, 3 * PAGE, PROT_RW, ANON, usize::MAX, 0]) }) else {
        return 5;
    };
    if !map.is_multiple_of(PAGE) {
        return 5;
    }
    let map = map as *mut u64;
    // SAFETY: three fresh pages, zero-filled.
    unsafe {
        if map.add(PAGE / 8).read_volatile() != 0 {
            return 6;
        }
        map.add(2 * PAGE / 8).write_volatile(0xdead_beef);
        if map.add(2 * PAGE / 8).read_volatile() != 0xdead_beef {
            return 7;
        }
    }
    // SAFETY: the mapping is ours and nothing refers to it after this.
    if unsafe { call(nr::MUNMAP, &[map as usize, 3 * PAGE]) } != Ok(0) {
        return 8;
    }
    // A file mapping is refused (ENODEV), a zero length too (EINVAL).
    // SAFETY: both are refused before anything is mapped.
    if unsafe { call(nr::MMAP, &[0, PAGE, PROT_RW, mman::PRIVATE as usize, 0, 0]) }
        != Err(Errno::ENODEV)
    {
        return 9;
    }
    // SAFETY: as above.
    if unsafe { call(nr::MMAP, &[0, 0, PROT_RW, ANON, usize::MAX, 0]) } != Err(Errno::EINVAL) {
        return 10;
    }
    0
}

/// `arch_prctl(ARCH_SET_FS)` and a read through `fs`; returns the failed
/// step or 0.
fn tls() -> i32 {
    static SLOT: [u64; 2] = [0x7115_7115_7115_7115, 0];
    let base = SLOT.as_ptr() as usize;
    // SAFETY: ARCH_SET_FS only changes this thread's FS base, which the
    // runtime does not use.
    if unsafe { call(nr::ARCH_PRCTL, &[SET_FS, base]) } != Ok(0) {
        return 1;
    }
    let value: u64;
    // SAFETY: FS points at SLOT, which is 16 bytes long and lives forever.
    unsafe { asm!("mov {}, qword ptr fs:[0]", out(reg) value, options(nostack, readonly)) };
    if value != SLOT[0] {
        return 2;
    }
    let mut read_back = 0u64;
    // SAFETY: ARCH_GET_FS writes one u64 to `read_back`.
    if unsafe {
        call(
            nr::ARCH_PRCTL,
            &[GET_FS, &mut read_back as *mut u64 as usize],
        )
    } != Ok(0)
        || read_back != base as u64
    {
        return 3;
    }
    // A kernel address is refused (EPERM), an unknown code too (EINVAL).
    // SAFETY: both are refused without changing anything.
    if unsafe { call(nr::ARCH_PRCTL, &[SET_FS, 0xffff_8000_0000_0000]) } != Err(Errno::EPERM) {
        return 4;
    }
    // SAFETY: as above.
    if unsafe { call(nr::ARCH_PRCTL, &[0x9999, 0]) } != Err(Errno::EINVAL) {
        return 5;
    }
    0
}
