//! `/test/misc`: `set_tid_address` (returns the tid; the kernel clears
//! the word at exit, seen through a vfork child sharing our memory),
//! `set_robust_list`, `rseq` (`ENOSYS`), `getrandom` (bytes, flags),
//! `uname`, `tine_poweroff`'s refusal for non-root is in /test/creds.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};

use tine_rt::Args;
use tine_rt::syscall;
use tine_tests::sys::{self, errno, nr};
use tine_tests::{Checks, check, check_eq, exited};

tine_rt::entry!(main);

/// The word a vfork child registers with `set_tid_address`.
static TID_WORD: AtomicU32 = AtomicU32::new(0);

fn call(n: u64, args: &[usize]) -> Result<usize, tine_rt::syscall::Errno> {
    // SAFETY: callers pass only pointers to their own live buffers.
    unsafe { sys::call(n, args) }
}

/// `vfork()`; the child calls `set_tid_address(word)` and `exit(0)`
/// (the runtime's `vfork_call_exit`: the child shares our stack, so it
/// must not touch it). Returns the child's PID.
fn vfork_set_tid_and_exit(word: usize) -> Result<usize, tine_rt::syscall::Errno> {
    // SAFETY: `word` is a static u32 the kernel may clear at the child's
    // exit.
    unsafe { syscall::vfork_call_exit(nr::SET_TID_ADDRESS, word) }
}

fn main(_: Args) -> i32 {
    let mut c = Checks::new("misc");
    let word = TID_WORD.as_ptr() as usize;
    check_eq!(
        c,
        call(nr::SET_TID_ADDRESS, &[word]),
        Ok(syscall::getpid() as usize),
        "set_tid_address returns the tid"
    );
    check_eq!(
        c,
        call(nr::SET_TID_ADDRESS, &[0]),
        Ok(syscall::getpid() as usize),
        "and again with NULL"
    );
    // A vfork child shares our memory: it stores its tid, registers the
    // word and exits; the kernel stores 0 there at its exit.
    TID_WORD.store(0xffff_ffff, Ordering::SeqCst);
    match vfork_set_tid_and_exit(word) {
        Ok(pid) => {
            check_eq!(
                c,
                TID_WORD.load(Ordering::SeqCst),
                0,
                "the word is 0 after the child's exit"
            );
            check_eq!(
                c,
                syscall::wait4(pid as i32, 0),
                Ok((pid as i32, exited(0))),
                "the vfork child"
            );
        }
        Err(e) => check!(c, false, "vfork: {e}"),
    }
    check_eq!(
        c,
        call(nr::SET_ROBUST_LIST, &[word, 24]),
        Ok(0),
        "set_robust_list"
    );
    check_eq!(
        c,
        call(nr::SET_ROBUST_LIST, &[word, 16]),
        Err(errno::EINVAL),
        "set_robust_list with a bad size"
    );
    check_eq!(
        c,
        call(nr::RSEQ, &[word, 32, 0, 0]),
        Err(errno::ENOSYS),
        "rseq"
    );

    let mut a = [0u8; 64];
    let mut b = [0u8; 64];
    check_eq!(
        c,
        call(nr::GETRANDOM, &[a.as_mut_ptr() as usize, 64, 0]),
        Ok(64),
        "getrandom 64"
    );
    check_eq!(
        c,
        call(nr::GETRANDOM, &[b.as_mut_ptr() as usize, 64, 1 | 2]),
        Ok(64),
        "getrandom NONBLOCK|RANDOM"
    );
    check!(c, a != b && a != [0; 64], "two draws differ");
    check_eq!(
        c,
        call(nr::GETRANDOM, &[a.as_mut_ptr() as usize, 0, 0]),
        Ok(0),
        "getrandom 0 bytes"
    );
    check_eq!(
        c,
        call(nr::GETRANDOM, &[a.as_mut_ptr() as usize, 8, 8]),
        Err(errno::EINVAL),
        "getrandom flag 8"
    );
    check_eq!(
        c,
        call(nr::GETRANDOM, &[a.as_mut_ptr() as usize, 8, 2 | 4]),
        Err(errno::EINVAL),
        "RANDOM|INSECURE"
    );
    // A fault after the first page: a short count.
    if let Ok(p) = sys::mmap_anon(4096) {
        let r = call(nr::GETRANDOM, &[p as usize + 4000, 200, 0]);
        check_eq!(c, r, Ok(96), "getrandom stops at the end of the mapping");
    }

    let mut uts = [0u8; 6 * 65];
    check_eq!(
        c,
        call(nr::UNAME, &[uts.as_mut_ptr() as usize]),
        Ok(0),
        "uname"
    );
    check_eq!(c, &uts[..5], b"Tine\0".as_slice(), "sysname");
    c.finish()
}
