//! `/test/exec`: `execve` with argv, envp and the auxiliary vector
//! checked in the new image, and every error before the point of no
//! return leaving the caller intact.
//!
//! Parent: each failing `execve` (`ENOENT`, `EACCES`, `ENOTDIR`,
//! `ENOEXEC`, `EFAULT` for each pointer, `ENAMETOOLONG`, `E2BIG`) returns
//! and this process goes on with its memory unchanged; then a forked
//! child writes a static and execs this program with `--child`, and must
//! exit 42.
//! Child (`--child`): argv, envp, the auxv entries (`AT_PAGESZ`,
//! `AT_PHDR`/`PHENT`/`PHNUM`, `AT_ENTRY`, the ids, `AT_SECURE`,
//! `AT_HWCAP`, `AT_RANDOM`, `AT_EXECFN`) and a fresh copy of the static.
#![no_std]
#![no_main]

use core::ffi::{CStr, c_char};
use core::sync::atomic::{AtomicU32, Ordering};

use tine_rt::Args;
use tine_rt::start::auxv;
use tine_rt::syscall::{self, Errno};
use tine_tests::sys::{self, errno, nr};
use tine_tests::{Checks, check, check_eq, exited};

tine_rt::entry!(main);

/// Its initial value must be back after exec, whatever the caller wrote.
static MARK: AtomicU32 = AtomicU32::new(7);

const CHILD_STATUS: i32 = 42;
const ARGV1: &CStr = c"--child";
const ARGV2: &CStr = c"two words";
const ENV0: &CStr = c"TINE_TEST=exec";
const ENV1: &CStr = c"EMPTY=";

mod at {
    pub const PHDR: u64 = 3;
    pub const PHENT: u64 = 4;
    pub const PHNUM: u64 = 5;
    pub const PAGESZ: u64 = 6;
    pub const ENTRY: u64 = 9;
    pub const UID: u64 = 11;
    pub const EUID: u64 = 12;
    pub const GID: u64 = 13;
    pub const EGID: u64 = 14;
    pub const HWCAP: u64 = 16;
    pub const SECURE: u64 = 23;
    pub const RANDOM: u64 = 25;
    pub const EXECFN: u64 = 31;
}

fn main(args: Args) -> i32 {
    match args.get(1) {
        Some(a) if a == ARGV1.to_bytes() => child(args),
        Some(b"--script") => script(args),
        _ => parent(),
    }
}

const SCRIPT_STATUS: i32 = 43;

/// Run as the interpreter of `/test-data/script` (`#!/test/exec
/// --script`): argv is `[interpreter, its argument, the script, the
/// script's own arguments]`, `AT_EXECFN` the script.
fn script(args: Args) -> i32 {
    let mut c = Checks::new("exec --script");
    let want: [&[u8]; 5] = [
        b"/test/exec",
        b"--script",
        b"/test-data/script",
        b"x",
        b"y z",
    ];
    check_eq!(c, args.len(), want.len(), "argc");
    for (i, w) in want.iter().enumerate() {
        check_eq!(c, args.get(i), Some(*w), "argv[{i}]");
    }
    check_eq!(
        c,
        self_path().to_bytes(),
        b"/test-data/script".as_slice(),
        "AT_EXECFN"
    );
    if c.finish() == 0 { SCRIPT_STATUS } else { 1 }
}

/// This program's path, as the kernel recorded it.
fn self_path() -> &'static CStr {
    let p = auxv(at::EXECFN).unwrap_or(0) as *const c_char;
    if p.is_null() {
        return c"/test/exec";
    }
    // SAFETY: AT_EXECFN points at a NUL-terminated string on the initial
    // stack, alive for the whole program.
    unsafe { CStr::from_ptr(p) }
}

/// `execve` with raw pointers.
fn execve_raw(path: usize, argv: usize, envp: usize) -> Errno {
    // SAFETY: execve reads these pointers (bad ones are EFAULT) and on
    // success replaces this program, which is what the caller wants.
    match unsafe { sys::call(nr::EXECVE, &[path, argv, envp]) } {
        Ok(_) => Errno(0),
        Err(e) => e,
    }
}

fn parent() -> i32 {
    let mut c = Checks::new("exec");
    let me = self_path();
    MARK.store(1234, Ordering::Relaxed);

    for (path, want) in [
        (c"/nonexistent", errno::ENOENT),
        (c"/test", errno::EACCES),
        (c"/bin", errno::EACCES),
        (c"/test/exec/x", errno::ENOTDIR),
        (c"/test-data/not-elf", errno::ENOEXEC),
        (c"/test-data/not-executable", errno::EACCES),
    ] {
        check_eq!(
            c,
            syscall::execve(path, &[path], &[]),
            want,
            "execve {path:?}"
        );
    }
    // EFAULT for a bad pointer anywhere: the path, either array, a string
    // in either array.
    let argv_ok = [me.as_ptr(), core::ptr::null()];
    let good_argv = argv_ok.as_ptr() as usize;
    let bad_strings = [me.as_ptr(), 8 as *const c_char, core::ptr::null()];
    let unterminated = 0x7fff_ffff_f000usize; // never mapped (stack top guard)
    for (what, path, argv, envp) in [
        ("path", 1, good_argv, 0),
        ("argv array", me.as_ptr() as usize, 16, 0),
        ("envp array", me.as_ptr() as usize, good_argv, 24),
        (
            "argv string",
            me.as_ptr() as usize,
            bad_strings.as_ptr() as usize,
            0,
        ),
        (
            "envp string",
            me.as_ptr() as usize,
            good_argv,
            bad_strings.as_ptr() as usize,
        ),
        ("kernel path", 0xffff_8000_0000_0000, good_argv, 0),
        ("path at the guard", unterminated, good_argv, 0),
    ] {
        check_eq!(
            c,
            execve_raw(path, argv, envp),
            errno::EFAULT,
            "execve with a bad {what}"
        );
    }
    // ENOENT for the empty path, ENAMETOOLONG past PATH_MAX.
    check_eq!(
        c,
        execve_raw(c"".as_ptr() as usize, good_argv, 0),
        errno::ENOENT,
        "empty path"
    );
    long_arguments(&mut c, me);

    check_eq!(
        c,
        MARK.load(Ordering::Relaxed),
        1234,
        "memory after failed execs"
    );

    let status = tine_tests::fork_and_wait(|| {
        MARK.store(99, Ordering::Relaxed);
        let e = syscall::execve(me, &[c"exec-child", ARGV1, ARGV2, c""], &[ENV0, ENV1]);
        tine_rt::eprintln!("exec: execve {me:?}: {e}");
        100
    });
    check_eq!(c, status, exited(CHILD_STATUS), "the exec'd child's status");

    // `#!` scripts.
    let status = tine_tests::fork_and_wait(|| {
        let e = syscall::execve(c"/test-data/script", &[c"script", c"x", c"y z"], &[]);
        tine_rt::eprintln!("exec: execve /test-data/script: {e}");
        100
    });
    check_eq!(
        c,
        status,
        exited(SCRIPT_STATUS),
        "the script's interpreter's status"
    );
    for (path, want) in [
        (c"/test-data/script-loop", errno::ELOOP),
        (c"/test-data/script-empty", errno::ENOEXEC),
        (c"/test-data/script-missing", errno::ENOENT),
    ] {
        check_eq!(
            c,
            syscall::execve(path, &[path], &[]),
            want,
            "execve {path:?}"
        );
    }
    check_eq!(
        c,
        MARK.load(Ordering::Relaxed),
        1234,
        "memory after failed script execs"
    );
    c.finish()
}

/// `ENAMETOOLONG` for a path of 4096 bytes, `E2BIG` for 300 KiB of
/// arguments.
fn long_arguments(c: &mut Checks, me: &CStr) {
    let len = 300 << 10;
    let Ok(buf) = sys::mmap_anon(len + 4096) else {
        check!(c, false, "mmap for the long arguments");
        return;
    };
    // SAFETY: a fresh private mapping of len + 4096 bytes, ours alone.
    let bytes = unsafe { core::slice::from_raw_parts_mut(buf, len + 4096) };
    bytes.fill(b'a');
    bytes[0] = b'/';
    bytes[4096] = 0;
    check_eq!(
        c,
        execve_raw(buf as usize, 0, 0),
        errno::ENAMETOOLONG,
        "a 4096-byte path"
    );
    bytes[4096] = b'a';
    bytes[len] = 0;
    let argv = [me.as_ptr(), buf as *const c_char, core::ptr::null()];
    check_eq!(
        c,
        execve_raw(me.as_ptr() as usize, argv.as_ptr() as usize, 0),
        errno::E2BIG,
        "300 KiB of arguments"
    );
    // SAFETY: nothing uses the mapping after this.
    let _ = unsafe { sys::munmap(buf, len + 4096) };
}

fn child(args: Args) -> i32 {
    let mut c = Checks::new("exec --child");
    let want_args: [&[u8]; 4] = [b"exec-child", ARGV1.to_bytes(), ARGV2.to_bytes(), b""];
    check_eq!(c, args.len(), want_args.len(), "argc");
    for (i, want) in want_args.iter().enumerate() {
        check_eq!(c, args.get(i), Some(*want), "argv[{i}]");
    }
    let mut env = tine_rt::env();
    check_eq!(c, env.next(), Some(ENV0.to_bytes()), "envp[0]");
    check_eq!(c, env.next(), Some(ENV1.to_bytes()), "envp[1]");
    check_eq!(c, env.next(), None, "envp ends");
    check_eq!(c, MARK.load(Ordering::Relaxed), 7, "a fresh image");

    check_eq!(c, auxv(at::PAGESZ), Some(4096), "AT_PAGESZ");
    check_eq!(c, auxv(at::PHENT), Some(56), "AT_PHENT");
    let phnum = auxv(at::PHNUM).unwrap_or(0);
    check!(c, (1..64).contains(&phnum), "AT_PHNUM {phnum}");
    let phdr = auxv(at::PHDR).unwrap_or(0);
    check!(c, phdr >= 0x40_0000, "AT_PHDR {phdr:#x}");
    if phdr >= 0x40_0000 {
        // SAFETY: AT_PHDR points at the loaded program headers, PHNUM
        // entries of 56 bytes; the first word of each is p_type.
        let types = (0..phnum).map(|i| unsafe { *((phdr + 56 * i) as *const u32) });
        // PT_LOAD = 1: a loaded image has at least one.
        check!(c, types.clone().any(|t| t == 1), "a PT_LOAD at AT_PHDR");
    }
    let entry = auxv(at::ENTRY).unwrap_or(0);
    check!(c, entry >= 0x40_0000, "AT_ENTRY {entry:#x}");
    // SAFETY: get*id take no arguments and cannot fail.
    let ids = unsafe {
        [nr::GETUID, nr::GETEUID, nr::GETGID, nr::GETEGID]
            .map(|n| sys::call(n, &[]).unwrap_or(usize::MAX) as u64)
    };
    let aux_ids = [at::UID, at::EUID, at::GID, at::EGID].map(|k| auxv(k).unwrap_or(u64::MAX));
    check_eq!(c, aux_ids, ids, "AT_UID/EUID/GID/EGID vs get*id");
    check_eq!(c, auxv(at::SECURE), Some(0), "AT_SECURE");
    check!(c, auxv(at::HWCAP).unwrap_or(0) != 0, "AT_HWCAP set");
    let random = auxv(at::RANDOM).unwrap_or(0);
    check!(c, random != 0, "AT_RANDOM");
    if random != 0 {
        // SAFETY: AT_RANDOM points at 16 bytes on the initial stack.
        let bytes = unsafe { core::slice::from_raw_parts(random as *const u8, 16) };
        check!(
            c,
            bytes.iter().any(|&b| b != 0),
            "AT_RANDOM bytes are not all zero"
        );
    }
    check_eq!(
        c,
        self_path().to_bytes(),
        b"/test/exec".as_slice(),
        "AT_EXECFN"
    );
    if c.finish() == 0 { CHILD_STATUS } else { 1 }
}
