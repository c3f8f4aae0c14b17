//! `/test/memory`: `mprotect` (a read-only page kills a writer with
//! SIGSEGV, `PROT_NONE` kills a reader and keeps the contents for when
//! access comes back, a copy-on-write page made writable stays private,
//! splitting a mapping, the errors) and `madvise` (`MADV_DONTNEED` zeroes
//! anonymous pages; hints accepted; errors), `sysinfo`.
#![no_std]
#![no_main]

use tine_rt::Args;
use tine_tests::sys::{self, errno, nr};
use tine_tests::{Checks, check, check_eq, exited, fork_and_wait, killed};

tine_rt::entry!(main);

const PAGE: usize = 4096;
const PROT_NONE: usize = 0;
const PROT_READ: usize = 1;
const PROT_RW: usize = 3;
const SIGSEGV: i32 = 11;
const MADV_DONTNEED: usize = 4;

fn mprotect(addr: *mut u8, len: usize, prot: usize) -> Result<usize, tine_rt::syscall::Errno> {
    // SAFETY: changing protections of our own test mapping; accesses that
    // would fault happen only in children that are meant to die.
    unsafe { sys::call(nr::MPROTECT, &[addr as usize, len, prot]) }
}

fn madvise(addr: *mut u8, len: usize, advice: usize) -> Result<usize, tine_rt::syscall::Errno> {
    // SAFETY: as above; DONTNEED only on our own anonymous test pages.
    unsafe { sys::call(nr::MADVISE, &[addr as usize, len, advice]) }
}

/// Reads byte `i` of the mapping.
fn get(p: *mut u8, i: usize) -> u8 {
    // SAFETY: callers stay inside the mapping and only read pages that are
    // readable (or are in a child meant to die).
    unsafe { p.add(i).read_volatile() }
}

/// Writes byte `i` of the mapping.
fn put(p: *mut u8, i: usize, v: u8) {
    // SAFETY: as `get`, for writable pages.
    unsafe { p.add(i).write_volatile(v) }
}

fn main(_: Args) -> i32 {
    let mut c = Checks::new("memory");
    let len = 4 * PAGE;
    let Ok(p) = sys::mmap_anon(len) else {
        check!(c, false, "mmap");
        return c.finish();
    };
    for i in 0..4 {
        put(p, i * PAGE, 10 + i as u8);
    }
    // Read-only: reads work, a write kills (in a child).
    check_eq!(c, mprotect(p, PAGE, PROT_READ), Ok(0), "mprotect R");
    check_eq!(c, get(p, 0), 10, "a read-only page reads");
    check_eq!(
        c,
        fork_and_wait(|| {
            put(p, 0, 1);
            0
        }),
        killed(SIGSEGV),
        "writing a read-only page"
    );
    check_eq!(
        c,
        fork_and_wait(|| {
            put(p, PAGE, 1);
            0
        }),
        exited(0),
        "the next page is still writable"
    );
    // PROT_NONE: a read kills; the contents come back with the access.
    check_eq!(
        c,
        mprotect(p.wrapping_add(PAGE), PAGE, PROT_NONE),
        Ok(0),
        "mprotect NONE"
    );
    check_eq!(
        c,
        fork_and_wait(|| get(p, PAGE) as i32),
        killed(SIGSEGV),
        "reading a PROT_NONE page"
    );
    // A child forked while the page is PROT_NONE gets it back too.
    check_eq!(
        c,
        fork_and_wait(|| {
            if mprotect(p.wrapping_add(PAGE), PAGE, PROT_RW).is_err() {
                return 2;
            }
            put(p, PAGE, 99);
            i32::from(get(p, PAGE) != 99)
        }),
        exited(0),
        "a child unprotects and writes its own copy"
    );
    check_eq!(c, mprotect(p, 2 * PAGE, PROT_RW), Ok(0), "mprotect RW");
    check_eq!(
        c,
        get(p, PAGE),
        11,
        "the PROT_NONE page kept its contents (not the child's)"
    );
    put(p, 0, 20);
    check_eq!(c, get(p, 0), 20, "writable again");
    // Copy-on-write: after a fork, the child makes a page read-only then
    // writable again and writes it: the parent's copy is untouched.
    check_eq!(
        c,
        fork_and_wait(|| {
            let ok = mprotect(p, PAGE, PROT_READ).is_ok() && mprotect(p, PAGE, PROT_RW).is_ok();
            put(p, 0, 77);
            if ok && get(p, 0) == 77 { 0 } else { 1 }
        }),
        exited(0),
        "the child's mprotect + write"
    );
    check_eq!(
        c,
        get(p, 0),
        20,
        "the parent's copy-on-write page is its own"
    );
    // Errors.
    check_eq!(
        c,
        mprotect(p.wrapping_add(1), PAGE, PROT_READ),
        Err(errno::EINVAL),
        "unaligned"
    );
    check_eq!(
        c,
        mprotect(p, PAGE, 0x10),
        Err(errno::EINVAL),
        "unknown prot bit (8, PROT_SEM, is accepted as on Linux)"
    );
    check_eq!(c, mprotect(p, 0, PROT_READ), Ok(0), "length 0");
    check_eq!(
        c,
        mprotect(p, len + PAGE * 1000, PROT_READ),
        Err(errno::ENOMEM),
        "past the mapping"
    );
    check_eq!(c, get(p, 0), 20, "a refused mprotect changed nothing");
    put(p, 0, 21);
    check_eq!(
        c,
        mprotect(0x1000 as *mut u8, PAGE, PROT_READ),
        Err(errno::ENOMEM),
        "nothing mapped"
    );

    // madvise(DONTNEED): zeros afterwards.
    put(p, 2 * PAGE, 55);
    check_eq!(
        c,
        madvise(p.wrapping_add(2 * PAGE), PAGE, MADV_DONTNEED),
        Ok(0),
        "MADV_DONTNEED"
    );
    check_eq!(c, get(p, 2 * PAGE), 0, "zero after DONTNEED");
    check_eq!(c, get(p, 3 * PAGE), 13, "the next page is untouched");
    for hint in [0, 1, 2, 3, 10, 11, 14, 15] {
        check_eq!(c, madvise(p, PAGE, hint), Ok(0), "madvise hint {hint}");
    }
    check_eq!(c, get(p, 0), 21, "hints change nothing");
    for bad in [9, 5, 99, 1000] {
        check_eq!(
            c,
            madvise(p, PAGE, bad),
            Err(errno::EINVAL),
            "madvise advice {bad}"
        );
    }
    check_eq!(
        c,
        madvise(p.wrapping_add(3), PAGE, 0),
        Err(errno::EINVAL),
        "madvise unaligned"
    );
    check_eq!(
        c,
        madvise(0x1000 as *mut u8, PAGE, MADV_DONTNEED),
        Err(errno::ENOMEM),
        "madvise unmapped"
    );
    // SAFETY: nothing uses the mapping after this.
    check_eq!(c, unsafe { sys::munmap(p, len) }, Ok(()), "munmap");

    let mut info = [0u64; 14];
    // SAFETY: 112 bytes into `info`.
    let r = unsafe { sys::call(nr::SYSINFO, &[info.as_mut_ptr() as usize]) };
    let (total, free, procs, unit) = (info[4], info[5], info[10] & 0xffff, info[13] & 0xffff_ffff);
    check_eq!(c, r, Ok(0), "sysinfo");
    check!(
        c,
        total >= free && free > 0 && unit == 1,
        "sysinfo memory {total} {free} unit {unit}"
    );
    check!(c, procs >= 1, "sysinfo procs {procs}");
    c.finish()
}
