//! Program entry: `_start`, the initial stack, argv and envp.
//!
//! The kernel starts a program at `_start` with `rsp` pointing at `argc`,
//! followed by the argv pointers, NULL, the envp pointers, NULL, and the
//! auxiliary vector (System V x86-64 ABI §3.4.1). `_start` clears the frame
//! pointer, passes that `rsp` to [`start_rust`], which records argv/envp,
//! calls the program's `__tine_rt_main` (defined by [`crate::entry!`]) and
//! exits with its status.

use core::ffi::{CStr, c_char};
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

core::arch::global_asm!(
    ".globl _start",
    ".type _start,@function",
    "_start:",
    // The outermost frame: no return address, no saved frame pointer.
    "xor ebp, ebp",
    "mov rdi, rsp",
    // The ABI already guarantees 16-byte alignment at entry; be robust.
    "and rsp, -16",
    "call {start}",
    "ud2",
    ".size _start, . - _start",
    start = sym start_rust,
);

unsafe extern "Rust" {
    /// The program's main, defined by [`crate::entry!`].
    safe fn __tine_rt_main(args: Args) -> i32;
}

/// The environment pointer array (NULL-terminated), set once at start.
static ENVP: AtomicPtr<*const c_char> = AtomicPtr::new(core::ptr::null_mut());
/// The auxiliary vector, set once at start.
static AUXV: AtomicPtr<u64> = AtomicPtr::new(core::ptr::null_mut());
static ARGC: AtomicUsize = AtomicUsize::new(0);

/// Called by `_start` with the initial stack pointer.
///
/// # Safety
/// `sp` is the initial stack pointer the kernel gave the program: it points
/// at argc, followed by argc argv pointers and a NULL, envp pointers and a
/// NULL, then the auxiliary vector, all valid for the program's lifetime.
unsafe extern "C" fn start_rust(sp: *const usize) -> ! {
    // SAFETY: the initial stack starts with argc (the caller's contract).
    let argc = unsafe { *sp };
    // SAFETY: argv follows argc, envp follows argv's NULL; both stay in
    // the initial stack block the contract describes.
    let argv = unsafe { sp.add(1) } as *const *const c_char;
    // SAFETY: as above: argc pointers and a NULL precede envp.
    let envp = unsafe { argv.add(argc + 1) };
    let mut end = envp;
    // SAFETY: envp is NULL-terminated (contract); we stop at the NULL.
    while !unsafe { *end }.is_null() {
        // SAFETY: not past the NULL yet, so the next slot is in the array.
        end = unsafe { end.add(1) };
    }
    // SAFETY: the auxiliary vector follows envp's NULL.
    let auxv = unsafe { end.add(1) } as *mut u64;
    // Relaxed: single-threaded at this point; later readers run after
    // these stores in program order.
    ARGC.store(argc, Ordering::Relaxed);
    ENVP.store(envp as *mut _, Ordering::Relaxed);
    AUXV.store(auxv, Ordering::Relaxed);
    let status = __tine_rt_main(Args { argv, argc });
    crate::syscall::exit_group(status)
}

/// The program's arguments, as handed over by `execve`.
#[derive(Clone, Copy)]
pub struct Args {
    argv: *const *const c_char,
    argc: usize,
}

impl Args {
    /// Number of arguments (argc).
    pub fn len(&self) -> usize {
        self.argc
    }

    pub fn is_empty(&self) -> bool {
        self.argc == 0
    }

    /// Argument `index` without its NUL.
    pub fn get(&self, index: usize) -> Option<&'static [u8]> {
        if index >= self.argc {
            return None;
        }
        // SAFETY: index < argc, so argv[index] is one of the argument
        // pointers `start_rust` found on the initial stack; each points at
        // a NUL-terminated string that lives as long as the program.
        Some(unsafe { CStr::from_ptr(*self.argv.add(index)) }.to_bytes())
    }

    pub fn iter(&self) -> impl Iterator<Item = &'static [u8]> + '_ {
        (0..self.argc).filter_map(|i| self.get(i))
    }
}

/// The environment, `KEY=VALUE` strings without their NUL.
pub fn env() -> impl Iterator<Item = &'static [u8]> {
    let mut at = ENVP.load(Ordering::Relaxed) as *const *const c_char;
    core::iter::from_fn(move || {
        if at.is_null() {
            return None;
        }
        // SAFETY: `at` walks the NULL-terminated envp array `start_rust`
        // recorded and stops at its NULL.
        let ptr = unsafe { *at };
        if ptr.is_null() {
            return None;
        }
        // SAFETY: not at the NULL, so the next slot is still in the array.
        at = unsafe { at.add(1) };
        // SAFETY: envp entries are NUL-terminated strings on the initial
        // stack, alive for the whole program.
        Some(unsafe { CStr::from_ptr(ptr) }.to_bytes())
    })
}

/// The value of auxiliary vector entry `kind` (`AT_*`), if present.
pub fn auxv(kind: u64) -> Option<u64> {
    let mut at = AUXV.load(Ordering::Relaxed) as *const u64;
    if at.is_null() {
        return None;
    }
    loop {
        // SAFETY: the auxiliary vector is (type, value) pairs ending with
        // AT_NULL (0); we read pairs until that terminator.
        let (key, value) = unsafe { (*at, *at.add(1)) };
        if key == 0 {
            return None;
        }
        if key == kind {
            return Some(value);
        }
        // SAFETY: not at AT_NULL, so another pair follows.
        at = unsafe { at.add(2) };
    }
}

/// The number of arguments (for code without the [`Args`] value).
pub fn argc() -> usize {
    ARGC.load(Ordering::Relaxed)
}
