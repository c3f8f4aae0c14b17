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
use tine_rt::syscall::{syscall0, syscall1, syscall2, syscall3, syscall6};
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
            -(unsafe { syscall3(1, 1, 1, 5) } as i32)
        }
        Some(b"--enosys") => {
            // SAFETY: an unknown system call takes no memory.
            -(unsafe { syscall0(9999) } as i32)
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

/// `brk`, `mmap` and `munmap`; returns the failed step or 0.
fn mem() -> i32 {
    // SAFETY: brk(0) only asks for the current break.
    let start = unsafe { syscall1(12, 0) } as usize;
    if start == 0 || !start.is_multiple_of(PAGE) {
        return 1;
    }
    let want = start + 5 * PAGE + 123;
    // SAFETY: growing the break maps fresh memory nobody uses yet.
    let got = unsafe { syscall1(12, want) } as usize;
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
    if unsafe { syscall1(12, start) } as usize != start {
        return 4;
    }
    // An anonymous mapping: PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS.
    // SAFETY: the kernel picks a free range.
    let map = unsafe { syscall6(9, 0, 3 * PAGE, 3, 0x22, usize::MAX, 0) };
    if map < 0 || !(map as usize).is_multiple_of(PAGE) {
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
    if unsafe { syscall2(11, map as usize, 3 * PAGE) } != 0 {
        return 8;
    }
    // A file mapping is refused (ENODEV), a zero length too (EINVAL).
    // SAFETY: both are refused before anything is mapped.
    if unsafe { syscall6(9, 0, PAGE, 3, 0x02, 0, 0) } != -19 {
        return 9;
    }
    // SAFETY: as above.
    if unsafe { syscall6(9, 0, 0, 3, 0x22, usize::MAX, 0) } != -22 {
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
    if unsafe { syscall2(158, 0x1002, base) } != 0 {
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
    if unsafe { syscall2(158, 0x1003, &mut read_back as *mut u64 as usize) } != 0
        || read_back != base as u64
    {
        return 3;
    }
    // A kernel address is refused (EPERM), an unknown code too (EINVAL).
    // SAFETY: both are refused without changing anything.
    if unsafe { syscall2(158, 0x1002, 0xffff_8000_0000_0000) } != -1 {
        return 4;
    }
    // SAFETY: as above.
    if unsafe { syscall2(158, 0x9999, 0) } != -22 {
        return 5;
    }
    0
}
