//! `/bin/forkfam MODE`: the fork family from user space, through the raw
//! system calls, one check per mode. Exit status 0 when every check of the
//! mode passes; each failure prints `forkfam MODE: FAIL ...` and makes the
//! status 1. The in-kernel tests (`kernel/src/proc/forkfam_ktests.rs`) run
//! every mode.
//!
//! The event stream (`forkevents`, Tine 1010) doubles as the tests'
//! witness: it records, in order, what the kernel did (a vfork, the
//! child's exit, `VforkDone`) before the parent's system call returned.
//!
//! | mode | checks |
//! |---|---|
//! | `vfork` | vfork(2): the child runs first in the parent's memory (its store is seen), the parent resumes only after the child's exit (the `Exit` and `VforkDone` events precede the return) |
//! | `vfork44` | `rfork(RFPROC\|RFFDG\|RFPPWAIT)`: NetBSD's 4.4BSD vfork, a copied space (the child's store is not seen) and still a wait |
//! | `clone-vfork` | `clone(CLONE_VM\|CLONE_VFORK\|SIGCHLD, stack)` with a private stack, as musl's posix_spawn does |
//! | `settid` | `CLONE_PARENT_SETTID` and `CLONE_CHILD_SETTID` store the child's PID in each side's memory |
//! | `nowait` | `rfork(RFPROC\|RFFDG\|RFNOWAIT)`: the child is the reaper's, not the caller's |
//! | `einval` | the rfork and clone `EINVAL` matrices, table-driven from the seeds |
//! | `sysctl` | the `sysctl` call: read, write, list, `ENOENT`, `EPERM`, `EFAULT`, `ENOMEM` |
//! | `peers` | `rfork(RFPROC\|RFTHREAD)`: two peers spin; when the leader (this process) exits, they are killed (the kernel test sees them go) |
//! | `sighand` | `clone(CLONE_VM\|CLONE_SIGHAND\|CLONE_VFORK)`: a handler the child installs is the parent's; with a plain fork it is not |
//! | `spawn` | `rfork(RFSPAWN)`: posix_spawn's shape; caught signals are reset to the default in the child, ignored ones stay ignored |
//! | `eintr` | a blocking `forkevents` read ends with `EINTR` when a signal arrives (the shell's `trace` and Ctrl-C) |
//! | `nproc` | `RLIMIT_NPROC`: root is not held to it; uid 1000 with a limit of 5 has 5 processes and its next fork is `EAGAIN` with nothing left behind (`kern.nprocs` unchanged) |
//! | `cleartid` | `CLONE_CHILD_CLEARTID`: the child's exit stores 0 at `child_tid` |
//! | `files` | descriptor tables and cwd: `RFFDG` copies, rfork without it shares, `RFCFDG` starts empty, `CLONE_FILES` with a close-on-fork descriptor is `EINVAL`, `CLONE_FS` shares the cwd |
//! | `unshare` | rfork without `RFPROC` (`fork_norfproc`): a child sharing the table or the space divorces them in place |
//! | `pdfork` | process descriptors: `pdgetpid`, `wait4(-1)` skips the child, closing the last descriptor kills a non-daemon child (and it is reaped), not a `PD_DAEMON` one, `pdkill`, no `SIGCHLD`, `CLONE_PIDFD`, the `EBADF`/`EINVAL`/`EFAULT` cases with nothing left behind |
//! | `exitsig` | the exit signal a child sends: SIGCHLD by default, SIGUSR1 for `RFLINUXTHPN`, the `RFTSIGZMB` signal, none for `RFTSIGZMB` with 0 |
//! | `vforkkill` | a vfork child killed by a signal releases its parent, which sees the signal status |
//! | `reaper` | `procctl(PROC_REAP_*)`: acquire, status, an orphaned grandchild comes to the reaper, release, the errors |
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use tine_rt::syscall::abi::record::{EventKind, ForkEvent};
use tine_rt::syscall::{self, Errno};
use tine_rt::{Args, println};

tine_rt::entry!(main);

/// System call numbers (`abi`'s), by the short names this program uses.
mod nr {
    pub use tine_rt::syscall::nr::*;
    pub use tine_rt::syscall::nr::{
        TINE_PDFORK as PDFORK, TINE_PDGETPID as PDGETPID, TINE_PDKILL as PDKILL,
        TINE_PROCCTL as PROCCTL, TINE_RFORK as RFORK, TINE_SYSCTL as SYSCTL,
    };
}

/// FreeBSD's rfork flags (`abi::fork`; Tine's `RFPPWAIT` is bit 15,
/// `docs/fork.md`) as the `usize` the raw calls take.
mod rf {
    use tine_rt::syscall::abi::fork::{self, RfFlags};
    const fn bits(f: RfFlags) -> usize {
        f.bits() as usize
    }
    pub const FDG: usize = bits(fork::RFFDG);
    pub const PROC: usize = bits(fork::RFPROC);
    pub const MEM: usize = bits(fork::RFMEM);
    pub const NOWAIT: usize = bits(fork::RFNOWAIT);
    pub const CFDG: usize = bits(fork::RFCFDG);
    pub const THREAD: usize = bits(fork::RFTHREAD);
    pub const LINUXTHPN: usize = bits(fork::RFLINUXTHPN);
    pub const PPWAIT: usize = bits(fork::RFPPWAIT_USER);
    pub const STOPPED: usize = bits(fork::RFSTOPPED);
    pub const HIGHPID: usize = bits(fork::RFHIGHPID);
    pub const TSIGZMB: usize = bits(fork::RFTSIGZMB);
    pub const PROCDESC: usize = bits(fork::RFPROCDESC);
    pub const SPAWN: usize = bits(fork::RFSPAWN);
    pub const fn tsig(n: usize) -> usize {
        bits(RfFlags::tsig(n as u8))
    }
}

/// Linux clone flags (`abi::fork`) as the `usize` the raw calls take.
mod cl {
    use tine_rt::syscall::abi::fork::{self, CloneFlags};
    const fn bits(f: CloneFlags) -> usize {
        f.bits() as usize
    }
    pub const VM: usize = bits(fork::CLONE_VM);
    pub const FS: usize = bits(fork::CLONE_FS);
    pub const FILES: usize = bits(fork::CLONE_FILES);
    pub const SIGHAND: usize = bits(fork::CLONE_SIGHAND);
    pub const PIDFD: usize = bits(fork::CLONE_PIDFD);
    pub const PTRACE: usize = bits(fork::CLONE_PTRACE);
    pub const VFORK: usize = bits(fork::CLONE_VFORK);
    pub const THREAD: usize = bits(fork::CLONE_THREAD);
    pub const NEWNS: usize = bits(fork::CLONE_NEWNS);
    pub const PARENT_SETTID: usize = bits(fork::CLONE_PARENT_SETTID);
    pub const CHILD_CLEARTID: usize = bits(fork::CLONE_CHILD_CLEARTID);
    pub const CHILD_SETTID: usize = bits(fork::CLONE_CHILD_SETTID);
    pub const SIGCHLD: usize = tine_rt::syscall::abi::signal::SIGCHLD.number() as usize;
}

const EINVAL: Errno = Errno::EINVAL;
const WNOHANG: i32 = tine_rt::syscall::abi::wait::WNOHANG as i32;
const ENOENT: Errno = Errno::ENOENT;
const EPERM: Errno = Errno::EPERM;
const EFAULT: Errno = Errno::EFAULT;
const ENOMEM: Errno = Errno::ENOMEM;

/// A store the vfork children make; seen by the parent only when the
/// space is shared.
static MARK: AtomicU32 = AtomicU32::new(0);
/// Failed checks.
static FAILS: AtomicUsize = AtomicUsize::new(0);

macro_rules! check {
    ($mode:expr, $cond:expr, $($why:tt)+) => {
        if !$cond {
            FAILS.fetch_add(1, Ordering::Relaxed);
            println!("forkfam {}: FAIL {}", $mode, format_args!($($why)+));
        }
    };
}

fn main(args: Args) -> i32 {
    let mode = args.get(1).unwrap_or(b"");
    let name = core::str::from_utf8(mode).unwrap_or("?");
    match mode {
        b"vfork" => vfork(name),
        b"vfork44" => vfork44(name),
        b"clone-vfork" => clone_vfork(name),
        b"settid" => settid(name),
        b"nowait" => nowait(name),
        b"einval" => einval(name),
        b"sysctl" => sysctl(name),
        b"reaper" => reaper(name),
        b"peers" => peers(name),
        b"sighand" => sighand(name),
        b"spawn" => spawn(name),
        b"eintr" => eintr(name),
        b"nproc" => nproc(name),
        b"cleartid" => cleartid(name),
        b"files" => files(name),
        b"unshare" => unshare(name),
        b"pdfork" => pdfork_mode(name),
        b"exitsig" => exitsig(name),
        b"vforkkill" => vforkkill(name),
        b"childfirst" => childfirst(name),
        _ => {
            println!(
                "usage: forkfam vfork|vfork44|clone-vfork|settid|nowait|einval|sysctl|reaper|peers|sighand|spawn|eintr|nproc|cleartid|files|unshare|pdfork|exitsig|vforkkill|childfirst"
            );
            return 2;
        }
    }
    let fails = FAILS.load(Ordering::Relaxed);
    if fails == 0 {
        println!("forkfam {name}: ok");
        0
    } else {
        1
    }
}

/// A raw result as `Result`.
fn res(ret: isize) -> Result<usize, Errno> {
    if (-4095..0).contains(&ret) {
        Err(Errno(-ret as i32))
    } else {
        Ok(ret as usize)
    }
}

fn rfork(flags: usize) -> Result<usize, Errno> {
    // SAFETY: rfork takes no pointer; a child continues here with a copy
    // (or, with RFMEM, the parent's own memory while the parent waits).
    unsafe { syscall::call(nr::RFORK, &[flags]) }
}

/// `_exit` without touching the stack (vfork children).
#[inline(always)]
fn exit_now(status: i32) -> ! {
    // SAFETY: exit does not return.
    unsafe { syscall::syscall1(nr::EXIT, status as usize) };
    unreachable!()
}

/// One event of the stream: kind, flags, pid, other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Event {
    kind: u32,
    pid: u32,
    other: u32,
}

/// An empty slot of an event buffer.
const NO_EVENT: Event = Event {
    kind: 0,
    pid: 0,
    other: 0,
};

const FORK: u32 = EventKind::Fork as u32;
const VFORK: u32 = EventKind::Vfork as u32;
const VFORK_DONE: u32 = EventKind::VforkDone as u32;
const EXIT: u32 = EventKind::Exit as u32;

/// Reads the events published since the last call (non-blocking) into
/// `out`; returns how many.
fn events(out: &mut [Event; 32]) -> usize {
    const SIZE: usize = ForkEvent::SIZE;
    let mut buf = [0u8; SIZE * 32];
    let Ok(n) = syscall::forkevents(&mut buf, 1) else {
        return 0;
    };
    let count = n / SIZE;
    for (i, e) in out.iter_mut().enumerate().take(count) {
        let (kind, _, pid, other, _) = ForkEvent::fields(&buf[i * SIZE..]).unwrap_or_default();
        *e = Event { kind, pid, other };
    }
    count
}

/// Starts this process's event cursor (its first read sees nothing older).
fn start_events() {
    let mut sink = [NO_EVENT; 32];
    while events(&mut sink) == 32 {}
}

/// Whether the events read now contain `kind` for `pid` (with `other`
/// if given).
fn saw(list: &[Event], kind: u32, pid: u32, other: Option<u32>) -> bool {
    list.iter()
        .any(|e| e.kind == kind && e.pid == pid && other.is_none_or(|o| o == e.other))
}

/// The checks every waiting fork shares: the events read when the
/// parent's call returned hold the vfork and the child's exit with
/// `status`.
fn check_waited(mode: &str, list: &[Event], me: u32, child: u32, status: u32) {
    check!(
        mode,
        saw(list, VFORK, me, Some(child)),
        "no vfork event: {list:?}"
    );
    check!(
        mode,
        saw(list, EXIT, child, Some(status)),
        "the parent returned before the child's exit: {list:?}"
    );
}

fn wait_status(mode: &str, pid: usize) -> i32 {
    match syscall::wait4(pid as i32, 0) {
        Ok((p, status)) if p == pid as i32 => status,
        other => {
            check!(mode, false, "wait4({pid}) = {other:?}");
            -1
        }
    }
}

fn vfork(mode: &str) {
    MARK.store(0, Ordering::SeqCst);
    start_events();
    let me = syscall::getpid() as u32;
    // SAFETY: vfork's child runs in this memory on this stack until it
    // exits; it only yields, stores to a static and exits.
    let ret = unsafe { syscall::syscall0(nr::VFORK) };
    if ret == 0 {
        for _ in 0..20 {
            // SAFETY: no arguments.
            unsafe { syscall::syscall0(nr::SCHED_YIELD) };
        }
        // SAFETY: no arguments.
        let pid = unsafe { syscall::syscall0(nr::GETPID) } as u32;
        MARK.store(pid, Ordering::SeqCst);
        exit_now(7);
    }
    let child = match res(ret) {
        Ok(pid) => pid as u32,
        Err(e) => {
            check!(mode, false, "vfork: {e}");
            return;
        }
    };
    // Read before anything else: the child's exit must already be done.
    let mut list = [NO_EVENT; 32];
    let n = events(&mut list);
    let list = &list[..n];
    check!(
        mode,
        MARK.load(Ordering::SeqCst) == child,
        "the child's store is not in the parent's memory (mark {:#x}, child {child})",
        MARK.load(Ordering::SeqCst)
    );
    check_waited(mode, list, me, child, 7 << 8);
    check!(
        mode,
        saw(list, VFORK_DONE, child, Some(me)),
        "no vfork-done event: {list:?}"
    );
    check!(mode, wait_status(mode, child as usize) == 7 << 8, "status");
}

fn vfork44(mode: &str) {
    MARK.store(0, Ordering::SeqCst);
    start_events();
    let me = syscall::getpid() as u32;
    let child = match rfork(rf::PROC | rf::FDG | rf::PPWAIT) {
        Ok(0) => {
            for _ in 0..20 {
                syscall::sched_yield();
            }
            MARK.store(0xBAD, Ordering::SeqCst);
            syscall::exit(5);
        }
        Ok(pid) => pid as u32,
        Err(e) => {
            check!(mode, false, "rfork: {e}");
            return;
        }
    };
    let mut list = [NO_EVENT; 32];
    let n = events(&mut list);
    let list = &list[..n];
    check!(
        mode,
        MARK.load(Ordering::SeqCst) == 0,
        "the child's store reached the parent: the space is not a copy"
    );
    check_waited(mode, list, me, child, 5 << 8);
    check!(mode, wait_status(mode, child as usize) == 5 << 8, "status");
}

/// The private stack of the `clone-vfork` child (16-byte aligned).
static mut CHILD_STACK: [u128; 1024] = [0; 1024];

/// What the `clone-vfork` child runs on its own stack.
extern "C" fn clone_child(arg: usize) -> i32 {
    MARK.store(arg as u32, Ordering::SeqCst);
    9
}

/// `clone(flags, stack)` whose child calls `f(arg)` on `stack` and exits
/// with its return value (the runtime's `clone_run`).
///
/// # Safety
/// `stack` is the top of memory no one else uses while the child runs.
unsafe fn clone_call(
    flags: usize,
    stack: usize,
    f: extern "C" fn(usize) -> i32,
    arg: usize,
) -> Result<usize, Errno> {
    // SAFETY: the caller's contract; no tid pointers.
    unsafe { syscall::clone_run(flags, stack, 0, 0, f, arg) }
}

fn clone_vfork(mode: &str) {
    MARK.store(0, Ordering::SeqCst);
    let top = core::ptr::addr_of_mut!(CHILD_STACK) as usize + 16384;
    // SAFETY: the stack is used by this child only.
    let ret = unsafe {
        syscall::clone_run(
            cl::VM | cl::VFORK | cl::SIGCHLD,
            top,
            0,
            0,
            clone_child,
            0x5EED,
        )
    };
    let child = match ret {
        Ok(pid) => pid,
        Err(e) => {
            check!(mode, false, "clone: {e}");
            return;
        }
    };
    check!(
        mode,
        MARK.load(Ordering::SeqCst) == 0x5EED,
        "the child's store is not seen after the vfork wait"
    );
    check!(mode, wait_status(mode, child) == 9 << 8, "status");
}

fn settid(mode: &str) {
    let mut ptid: u32 = 0;
    let mut ctid: u32 = 0;
    let ptid_addr = core::ptr::addr_of_mut!(ptid) as usize;
    let ctid_addr = core::ptr::addr_of_mut!(ctid) as usize;
    // SAFETY: both pointers are to live locals; the child gets a copy of
    // this memory (no CLONE_VM) and continues like a fork child.
    let ret = unsafe {
        syscall::syscall6(
            nr::CLONE,
            cl::PARENT_SETTID | cl::CHILD_SETTID | cl::SIGCHLD,
            0,
            ptid_addr,
            ctid_addr,
            0,
            0,
        )
    };
    if ret == 0 {
        // SAFETY: a volatile read of a live local the kernel wrote.
        let seen = unsafe { core::ptr::read_volatile(ctid_addr as *const u32) };
        syscall::exit(if seen == syscall::getpid() as u32 {
            0
        } else {
            1
        });
    }
    let child = match res(ret) {
        Ok(pid) => pid,
        Err(e) => {
            check!(mode, false, "clone: {e}");
            return;
        }
    };
    // SAFETY: as above.
    let seen = unsafe { core::ptr::read_volatile(ptid_addr as *const u32) };
    check!(
        mode,
        seen == child as u32,
        "parent_tid holds {seen}, not {child}"
    );
    check!(mode, ctid == 0, "CHILD_SETTID wrote into the parent's copy");
    check!(
        mode,
        wait_status(mode, child) == 0,
        "the child did not find its PID at child_tid"
    );
}

fn nowait(mode: &str) {
    start_events();
    let me = syscall::getpid();
    let child = match rfork(rf::PROC | rf::FDG | rf::NOWAIT) {
        Ok(0) => syscall::exit(if syscall::getppid() == me { 1 } else { 0 }),
        Ok(pid) => pid as u32,
        Err(e) => {
            check!(mode, false, "rfork: {e}");
            return;
        }
    };
    check!(
        mode,
        syscall::wait4(-1, 0) == Err(Errno::ECHILD),
        "the RFNOWAIT child is the caller's"
    );
    // The child's verdict comes back through its exit event.
    let mut list = [NO_EVENT; 32];
    // Bounded by time, not by a count of yields: a loaded host can keep
    // the child's vCPU stopped for longer than any such count.
    let mut verdict = None;
    let give_up = syscall::clock_gettime(1).unwrap_or(0) + 30_000_000_000;
    while syscall::clock_gettime(1).unwrap_or(u64::MAX) < give_up {
        let n = events(&mut list);
        if let Some(e) = list[..n].iter().find(|e| e.kind == EXIT && e.pid == child) {
            verdict = Some(e.other);
            break;
        }
        let _ = syscall::nanosleep(1_000_000);
    }
    check!(
        mode,
        verdict == Some(0),
        "the child saw the caller as its parent (exit event {verdict:?})"
    );
    let _ = FORK;
}

fn einval(mode: &str) {
    // rfork (FreeBSD sys_rfork + fork1, seed 001).
    let rfork_cases: [(usize, &str); 9] = [
        (rf::PROC | rf::STOPPED, "RFSTOPPED is kernel-only"),
        (rf::PROC | rf::HIGHPID, "RFHIGHPID is kernel-only"),
        (rf::PROC | rf::PROCDESC, "RFPROCDESC is kernel-only"),
        (rf::SPAWN | rf::PROC, "RFSPAWN with another flag"),
        (rf::PROC | (1 << 8), "an unknown bit"),
        (rf::PROC | rf::tsig(5), "a signal without RFTSIGZMB"),
        (rf::PROC | rf::FDG | rf::CFDG, "RFFDG with RFCFDG"),
        (
            rf::PROC | rf::TSIGZMB | rf::tsig(65),
            "a signal above the maximum",
        ),
        (1 << 40, "bits above 32"),
    ];
    for (flags, why) in rfork_cases {
        match rfork(flags) {
            Err(e) => check!(
                mode,
                e == EINVAL,
                "rfork({flags:#x}) ({why}) = {e}, not EINVAL"
            ),
            Ok(0) => syscall::exit(99),
            Ok(pid) => {
                let _ = syscall::wait4(pid as i32, 0);
                check!(mode, false, "rfork({flags:#x}) ({why}) made a process");
            }
        }
    }
    // clone (NetBSD __clone, seed 002, and Linux's rules).
    let clone_cases: [(usize, &str); 6] = [
        (cl::PTRACE | cl::SIGCHLD, "CLONE_PTRACE"),
        (cl::SIGHAND | cl::SIGCHLD, "CLONE_SIGHAND without CLONE_VM"),
        (65, "exit signal 65"),
        (cl::THREAD | cl::VM, "CLONE_THREAD without CLONE_SIGHAND"),
        (cl::NEWNS | cl::SIGCHLD, "a namespace"),
        (
            cl::PIDFD | cl::PARENT_SETTID | cl::SIGCHLD,
            "CLONE_PIDFD with CLONE_PARENT_SETTID",
        ),
    ];
    for (flags, why) in clone_cases {
        // SAFETY: no pointers (all zero); a child (not expected) exits.
        let ret = unsafe { syscall::syscall6(nr::CLONE, flags, 0, 0, 0, 0, 0) };
        match res(ret) {
            Err(e) => check!(
                mode,
                e == EINVAL,
                "clone({flags:#x}) ({why}) = {e}, not EINVAL"
            ),
            Ok(0) => syscall::exit(99),
            Ok(pid) => {
                let _ = syscall::wait4(pid as i32, 0);
                check!(mode, false, "clone({flags:#x}) ({why}) made a process");
            }
        }
    }
    // Valid: rfork without RFPROC on an unshared process changes nothing.
    check!(mode, rfork(0) == Ok(0), "rfork(0) = {:?}", rfork(0));
    check!(
        mode,
        rfork(rf::MEM) == Ok(0),
        "rfork(RFMEM) = {:?}",
        rfork(rf::MEM)
    );
    let _ = cl::FILES;
}

/// `sysctl(name, old, new)` with `old` a buffer; returns the text read.
fn sysctl_call(name: &[u8], old: Option<&mut [u8]>, new: Option<&[u8]>) -> Result<usize, Errno> {
    let (old_ptr, mut old_len) = match old {
        Some(buf) => (buf.as_mut_ptr() as usize, buf.len()),
        None => (0, 0),
    };
    let (new_ptr, new_len) = new.map_or((0, 0), |n| (n.as_ptr() as usize, n.len()));
    // SAFETY: every pointer is to a live buffer of the length passed.
    let ret = unsafe {
        syscall::syscall6(
            nr::SYSCTL,
            name.as_ptr() as usize,
            name.len(),
            old_ptr,
            core::ptr::addr_of_mut!(old_len) as usize,
            new_ptr,
            new_len,
        )
    };
    res(ret).map(|_| old_len)
}

fn parse(text: &[u8]) -> Option<i64> {
    core::str::from_utf8(text).ok()?.trim().parse().ok()
}

fn sysctl(mode: &str) {
    let mut buf = [0u8; 64];
    match sysctl_call(b"kern.maxproc", Some(&mut buf), None) {
        Ok(n) => check!(
            mode,
            parse(&buf[..n]).is_some_and(|v| v > 0),
            "kern.maxproc reads {:?}",
            &buf[..n]
        ),
        Err(e) => check!(mode, false, "read kern.maxproc: {e}"),
    }
    // Write, read back (the old value comes back with the write).
    let old =
        sysctl_call(b"kern.forkfsleep", Some(&mut buf), Some(b"25")).map(|n| parse(&buf[..n]));
    check!(mode, old == Ok(Some(0)), "write kern.forkfsleep: {old:?}");
    let now = sysctl_call(b"kern.forkfsleep", Some(&mut buf), Some(b"0")).map(|n| parse(&buf[..n]));
    check!(
        mode,
        now == Ok(Some(25)),
        "kern.forkfsleep after the write: {now:?}"
    );
    check!(
        mode,
        sysctl_call(b"kern.forkfsleep", None, Some(b"999999")) == Err(EINVAL),
        "out of range"
    );
    check!(
        mode,
        sysctl_call(b"kern.forkfsleep", None, Some(b"ten")) == Err(EINVAL),
        "not a number"
    );
    check!(
        mode,
        sysctl_call(b"kern.nprocs", None, Some(b"5")) == Err(EPERM),
        "a read-only knob"
    );
    check!(
        mode,
        sysctl_call(b"kern.nope", Some(&mut buf), None) == Err(ENOENT),
        "an unknown knob"
    );
    check!(
        mode,
        sysctl_call(b"kern.maxproc", Some(&mut buf[..1]), None) == Err(ENOMEM),
        "a short buffer"
    );
    // The counters count this process's forks.
    let forks = |buf: &mut [u8; 64]| {
        sysctl_call(b"vm.stats.vm.v_forks", Some(buf), None)
            .ok()
            .and_then(|n| parse(&buf[..n]))
    };
    let before = forks(&mut buf);
    if let Ok(pid) = syscall::fork() {
        if pid == 0 {
            syscall::exit(0);
        }
        let _ = syscall::wait4(pid, 0);
    }
    let after = forks(&mut buf);
    check!(
        mode,
        matches!((before, after), (Some(b), Some(a)) if a > b),
        "v_forks {before:?} -> {after:?}"
    );
    // A bad name pointer.
    // SAFETY: the kernel must refuse the address, not use it.
    let ret = unsafe { syscall::syscall6(nr::SYSCTL, 0x10, 8, 0, 0, 0, 0) };
    check!(mode, res(ret) == Err(EFAULT), "bad name pointer: {ret}");
    // The list holds every knob, one per line.
    let mut all = [0u8; 2048];
    match sysctl_call(b"", Some(&mut all), None) {
        Ok(n) => {
            let text = core::str::from_utf8(&all[..n]).unwrap_or("");
            for knob in [
                "kern.maxproc=",
                "kern.nprocs=",
                "kern.forkfsleep=",
                "kern.lastpid=",
                "vm.stats.vm.v_vforks=",
            ] {
                check!(mode, text.contains(knob), "the list lacks {knob}");
            }
        }
        Err(e) => check!(mode, false, "list: {e}"),
    }
}

/// `procctl(P_PID, id, cmd, data)`.
fn procctl(idtype: usize, id: usize, cmd: usize, data: usize) -> Result<usize, Errno> {
    // SAFETY: `data` is either 0 or a live buffer of 80 bytes, or a bad
    // address the kernel must refuse.
    unsafe { syscall::call(nr::PROCCTL, &[idtype, id, cmd, data]) }
}

const REAP_ACQUIRE: usize = 2;
const REAP_RELEASE: usize = 3;
const REAP_STATUS: usize = 4;

/// `PROC_REAP_STATUS` of this process: flags, children, descendants,
/// reaper, pid.
fn reap_status() -> Result<[i32; 5], Errno> {
    let mut buf = [0i32; 20];
    procctl(0, 0, REAP_STATUS, buf.as_mut_ptr() as usize)?;
    Ok([buf[0], buf[1], buf[2], buf[3], buf[4]])
}

fn reaper(mode: &str) {
    let me = syscall::getpid();
    check!(mode, procctl(0, 0, REAP_ACQUIRE, 0) == Ok(0), "acquire");
    check!(
        mode,
        procctl(0, 0, REAP_ACQUIRE, 0) == Err(Errno::EBUSY),
        "acquire twice is EBUSY"
    );
    match reap_status() {
        Ok(st) => {
            check!(mode, st[0] & 1 == 1, "status flags {:#x} lack OWNED", st[0]);
            check!(mode, st[3] == me, "status reaper {} is not me", st[3]);
            check!(
                mode,
                st[1] == 0 && st[2] == 0 && st[4] == -1,
                "status of a childless reaper {st:?}"
            );
        }
        Err(e) => check!(mode, false, "status: {e}"),
    }
    // A child forks a grandchild and exits: the orphan must come to me.
    let child = match syscall::fork() {
        Ok(0) => {
            let middle = syscall::getpid();
            match syscall::fork() {
                Ok(0) => {
                    // Wait to be orphaned, then report who adopted me.
                    while syscall::getppid() == middle {
                        syscall::sched_yield();
                    }
                    syscall::exit(if syscall::getppid() == me { 0 } else { 1 });
                }
                Ok(_) => syscall::exit(0),
                Err(_) => syscall::exit(3),
            }
        }
        Ok(pid) => pid,
        Err(e) => {
            check!(mode, false, "fork: {e}");
            return;
        }
    };
    check!(
        mode,
        syscall::wait4(child, 0).map(|(_, s)| s) == Ok(0),
        "the middle child failed"
    );
    // The grandchild is mine now: wait4(-1) finds it.
    match syscall::wait4(-1, 0) {
        Ok((pid, status)) => {
            check!(mode, pid != child, "wait4 found the middle child twice");
            check!(
                mode,
                status == 0,
                "the orphan's parent was not the reaper (status {status:#x})"
            );
        }
        Err(e) => check!(mode, false, "the orphan did not come to the reaper: {e}"),
    }
    check!(mode, procctl(0, 0, REAP_RELEASE, 0) == Ok(0), "release");
    check!(
        mode,
        procctl(0, 0, REAP_RELEASE, 0) == Err(EINVAL),
        "release twice is EINVAL"
    );
    check!(
        mode,
        reap_status().is_ok_and(|st| st[0] & 1 == 0 && st[3] != me),
        "status after release"
    );
    check!(
        mode,
        procctl(1, 0, REAP_STATUS, 0) == Err(EINVAL),
        "idtype other than P_PID"
    );
    check!(mode, procctl(0, 0, 99, 0) == Err(EINVAL), "unknown command");
    check!(
        mode,
        procctl(0, 99_999, REAP_STATUS, 0) == Err(Errno::ESRCH),
        "a PID that does not exist is ESRCH"
    );
    check!(
        mode,
        procctl(0, 0, REAP_STATUS, 0x10) == Err(EFAULT),
        "a bad status pointer is EFAULT"
    );
}

const RFTHREAD: usize = rf::THREAD;

fn peers(mode: &str) {
    for _ in 0..2 {
        match rfork(rf::PROC | rf::FDG | RFTHREAD) {
            // A peer never exits by itself: only the leader's exit ends it.
            Ok(0) => loop {
                syscall::sched_yield();
            },
            Ok(_) => {}
            Err(e) => check!(mode, false, "rfork(RFTHREAD): {e}"),
        }
    }
    // Return: the leader exits and the kernel must kill both peers.
}

const SIGUSR1: usize = tine_rt::syscall::abi::signal::SIGUSR1.number() as usize;
const SIGUSR2: usize = tine_rt::syscall::abi::signal::SIGUSR2.number() as usize;

/// `rt_sigaction(sig, act, old)` with the kernel's 32-byte struct
/// `{handler, flags, restorer, mask}`; returns the old handler.
fn sigaction(sig: usize, handler: Option<u64>) -> Result<u64, Errno> {
    let act = [handler.unwrap_or(0), 0, 0, 0];
    let mut old = [0u64; 4];
    let act_ptr = if handler.is_some() {
        act.as_ptr() as usize
    } else {
        0
    };
    // SAFETY: both structs are live and 32 bytes.
    let ret =
        unsafe { syscall::syscall4(nr::RT_SIGACTION, sig, act_ptr, old.as_mut_ptr() as usize, 8) };
    res(ret).map(|_| old[0])
}

extern "C" fn on_signal(_sig: i32) {}

/// What the `sighand` child does on its own stack: install a handler.
extern "C" fn install_handler(_arg: usize) -> i32 {
    match sigaction(SIGUSR1, Some(handler_addr())) {
        Ok(_) => 0,
        Err(_) => 1,
    }
}

fn sighand(mode: &str) {
    let handler = handler_addr();
    check!(mode, sigaction(SIGUSR1, Some(0)) == Ok(0), "reset SIGUSR1");
    // A plain fork: the child's handler stays the child's.
    match syscall::fork() {
        Ok(0) => syscall::exit(install_handler(0)),
        Ok(pid) => {
            check!(mode, wait_status(mode, pid as usize) == 0, "fork child");
            check!(
                mode,
                sigaction(SIGUSR1, None) == Ok(0),
                "a forked child's handler reached the parent"
            );
        }
        Err(e) => check!(mode, false, "fork: {e}"),
    }
    // CLONE_SIGHAND: one table of actions.
    let top = core::ptr::addr_of_mut!(CHILD_STACK) as usize + 16384;
    // SAFETY: the stack is used by this child only, and the parent waits.
    let ret = unsafe {
        clone_call(
            cl::VM | cl::SIGHAND | cl::VFORK | cl::SIGCHLD,
            top,
            install_handler,
            0,
        )
    };
    match ret {
        Ok(pid) => {
            check!(mode, wait_status(mode, pid) == 0, "clone child");
            check!(
                mode,
                sigaction(SIGUSR1, None) == Ok(handler),
                "the CLONE_SIGHAND child's handler is not the parent's"
            );
        }
        Err(e) => check!(mode, false, "clone: {e}"),
    }
    let _ = sigaction(SIGUSR1, Some(0));
}

/// The `spawn` child's findings: 1 = SIGUSR1 default, 2 = SIGUSR2 ignored.
static SPAWN_SEEN: AtomicU32 = AtomicU32::new(0);

fn spawn(mode: &str) {
    let handler = handler_addr();
    check!(
        mode,
        sigaction(SIGUSR1, Some(handler)).is_ok(),
        "catch SIGUSR1"
    );
    check!(mode, sigaction(SIGUSR2, Some(1)).is_ok(), "ignore SIGUSR2");
    SPAWN_SEEN.store(0, Ordering::SeqCst);
    match rfork(rf::SPAWN) {
        Ok(0) => {
            let mut seen = 0;
            if sigaction(SIGUSR1, None) == Ok(0) {
                seen |= 1;
            }
            if sigaction(SIGUSR2, None) == Ok(1) {
                seen |= 2;
            }
            SPAWN_SEEN.store(seen, Ordering::SeqCst);
            exit_now(0);
        }
        Ok(pid) => {
            // The parent waited (RFPPWAIT) and shares the memory (RFMEM).
            let seen = SPAWN_SEEN.load(Ordering::SeqCst);
            check!(
                mode,
                seen & 1 != 0,
                "the caught SIGUSR1 was not reset in the child ({seen})"
            );
            check!(
                mode,
                seen & 2 != 0,
                "the ignored SIGUSR2 did not stay ignored ({seen})"
            );
            check!(mode, wait_status(mode, pid) == 0, "spawn child");
            check!(
                mode,
                sigaction(SIGUSR1, None) == Ok(handler),
                "the parent's handler was reset too"
            );
        }
        Err(e) => check!(mode, false, "rfork(RFSPAWN): {e}"),
    }
    let _ = sigaction(SIGUSR1, Some(0));
    let _ = sigaction(SIGUSR2, Some(0));
}

/// The address of [`on_signal`], as `sa_handler`.
fn handler_addr() -> u64 {
    let f: extern "C" fn(i32) = on_signal;
    f as usize as u64
}

/// Set by the SIGUSR1 handler of `eintr`.
static GOT_SIGNAL: AtomicU32 = AtomicU32::new(0);

extern "C" fn note_signal(_sig: i32, _info: *mut u8, _ctx: *mut u8) {
    GOT_SIGNAL.store(1, Ordering::SeqCst);
}

fn eintr(mode: &str) {
    let act = syscall::signal::SigAction::handler(note_signal, 0, 0);
    check!(
        mode,
        syscall::signal::sigaction(SIGUSR1 as i32, Some(&act), None).is_ok(),
        "install handler"
    );
    let me = syscall::getpid();
    GOT_SIGNAL.store(0, Ordering::SeqCst);
    // The child signals the parent again and again until it is killed, so
    // one signal surely comes while the parent's read waits.
    let child = match syscall::fork() {
        Ok(0) => loop {
            for _ in 0..100 {
                syscall::sched_yield();
            }
            let _ = syscall::kill(me, SIGUSR1 as i32);
        },
        Ok(pid) => pid,
        Err(e) => {
            check!(mode, false, "fork: {e}");
            return;
        }
    };
    start_events();
    let mut buf = [0u8; ForkEvent::SIZE];
    let ret = syscall::forkevents(&mut buf, 0);
    let _ = syscall::kill(child, 9);
    check!(
        mode,
        wait_status(mode, child as usize) == 9,
        "the child was not killed"
    );
    check!(
        mode,
        ret == Err(Errno::EINTR),
        "forkevents returned {:?}, not EINTR",
        ret
    );
    check!(
        mode,
        GOT_SIGNAL.load(Ordering::SeqCst) == 1,
        "the handler did not run"
    );
    let dfl = syscall::signal::SigAction::disposition(0, 0);
    let _ = syscall::signal::sigaction(SIGUSR1 as i32, Some(&dfl), None);
}

/// `setrlimit(RLIMIT_NPROC, {n, n})`.
fn set_nproc(n: u64) -> Result<usize, Errno> {
    let lim = [n, n];
    // SAFETY: `lim` is a live 16-byte struct rlimit.
    unsafe { syscall::call(nr::SETRLIMIT, &[6, lim.as_ptr() as usize]) }
}

/// `kern.nprocs` now.
fn nprocs_now() -> Option<i64> {
    let mut buf = [0u8; 32];
    sysctl_call(b"kern.nprocs", Some(&mut buf), None)
        .ok()
        .and_then(|n| parse(&buf[..n]))
}

fn nproc(mode: &str) {
    // Root is not held to RLIMIT_NPROC.
    check!(mode, set_nproc(1) == Ok(0), "setrlimit as root");
    match syscall::fork() {
        Ok(0) => syscall::exit(0),
        Ok(pid) => check!(
            mode,
            wait_status(mode, pid as usize) == 0,
            "root's fork over the limit"
        ),
        Err(e) => check!(mode, false, "root's fork over RLIMIT_NPROC: {e}"),
    }
    check!(mode, set_nproc(!0) == Ok(0), "raise again");
    // A user with a limit of 5 processes, itself included.
    let user = match syscall::fork() {
        Ok(0) => {
            // SAFETY: setuid takes no pointer.
            let ok = unsafe { syscall::call(nr::SETUID, &[1000]) }.is_ok() && set_nproc(5).is_ok();
            if !ok {
                syscall::exit(10);
            }
            let mut kids = [0i32; 8];
            let mut made = 0;
            let mut refused = None;
            for _ in 0..6 {
                let before = nprocs_now();
                match syscall::fork() {
                    Ok(0) => loop {
                        syscall::sched_yield();
                    },
                    Ok(pid) => {
                        kids[made] = pid;
                        made += 1;
                    }
                    Err(e) => {
                        refused = Some((e, before == nprocs_now()));
                        break;
                    }
                }
            }
            for &pid in &kids[..made] {
                let _ = syscall::kill(pid, 9);
                let _ = syscall::wait4(pid, 0);
            }
            // 4 forks + this process = 5; the fifth fork is the sixth
            // process.
            let status = match refused {
                Some((Errno::EAGAIN, true)) if made == 4 => 0,
                Some((Errno::EAGAIN, false)) => 11,
                Some(_) => 12,
                None => 13,
            };
            syscall::exit(if made == 4 { status } else { 20 + made as i32 });
        }
        Ok(pid) => pid,
        Err(e) => {
            check!(mode, false, "fork: {e}");
            return;
        }
    };
    let status = wait_status(mode, user as usize);
    check!(
        mode,
        status == 0,
        "uid 1000 with RLIMIT_NPROC 5: status {:#x} (0: 4 forks then EAGAIN with nothing left; 11: nprocs changed; 2x: x forks made)",
        status
    );
}

fn cleartid(mode: &str) {
    static TID_WORD: AtomicU32 = AtomicU32::new(0);
    TID_WORD.store(0xFFFF, Ordering::SeqCst);
    let top = core::ptr::addr_of_mut!(CHILD_STACK) as usize + 16384;
    extern "C" fn exit_zero(_: usize) -> i32 {
        0
    }
    // SAFETY: the stack is used by this child only; TID_WORD is a static
    // the kernel clears at the child's exit.
    let ret = unsafe {
        syscall::clone_run(
            cl::VM | cl::VFORK | CLONE_CHILD_CLEARTID | cl::SIGCHLD,
            top,
            0,
            TID_WORD.as_ptr() as usize,
            exit_zero,
            0,
        )
    };
    match ret {
        Ok(pid) => {
            check!(mode, wait_status(mode, pid) == 0, "child status");
            check!(
                mode,
                TID_WORD.load(Ordering::SeqCst) == 0,
                "child_tid holds {:#x} after the child's exit",
                TID_WORD.load(Ordering::SeqCst)
            );
        }
        Err(e) => check!(mode, false, "clone: {e}"),
    }
}

const CLONE_CHILD_CLEARTID: usize = cl::CHILD_CLEARTID;

const EBADF: Errno = Errno::EBADF;

/// `fcntl(fd, F_GETFD)`: whether `fd` is open (and its flags).
fn fd_flags(fd: usize) -> Result<usize, Errno> {
    // SAFETY: fcntl with F_GETFD takes no pointer.
    unsafe { syscall::call(nr::FCNTL, &[fd, 1, 0]) }
}

/// `dup(fd)`.
fn dup(fd: usize) -> Result<usize, Errno> {
    // SAFETY: no pointer.
    unsafe { syscall::call(nr::DUP, &[fd]) }
}

/// `close(fd)`.
fn close(fd: usize) {
    // SAFETY: no pointer.
    unsafe { syscall::syscall1(nr::CLOSE, fd) };
}

/// `chdir(path)` (NUL-terminated).
fn chdir(path: &[u8]) -> Result<usize, Errno> {
    // SAFETY: `path` is NUL-terminated and lives across the call.
    unsafe { syscall::call(nr::CHDIR, &[path.as_ptr() as usize]) }
}

/// `getcwd` into `buf`; the path without its NUL.
fn getcwd(buf: &mut [u8; 64]) -> &[u8] {
    // SAFETY: `buf` is writable for its length.
    let n =
        unsafe { syscall::call(nr::GETCWD, &[buf.as_mut_ptr() as usize, buf.len()]) }.unwrap_or(0);
    &buf[..n.saturating_sub(1)]
}

/// Forks with rfork `flags`; the child runs `f` and exits with its value.
fn rfork_run(mode: &str, flags: usize, f: fn() -> i32) -> i32 {
    match rfork(flags) {
        Ok(0) => syscall::exit(f()),
        Ok(pid) => wait_status(mode, pid),
        Err(e) => {
            check!(mode, false, "rfork({flags:#x}): {e}");
            -1
        }
    }
}

fn files(mode: &str) {
    // A descriptor to play with: a dup of stdout.
    let fd = match dup(1) {
        Ok(fd) => fd,
        Err(e) => {
            check!(mode, false, "dup: {e}");
            return;
        }
    };
    FD.store(fd as u32, Ordering::SeqCst);
    // RFFDG: the child's close is its own.
    let st = rfork_run(mode, rf::PROC | rf::FDG, || {
        close(FD.load(Ordering::SeqCst) as usize);
        0
    });
    check!(mode, st == 0, "RFFDG child");
    check!(
        mode,
        fd_flags(fd).is_ok(),
        "a copied table's close reached the parent"
    );
    // Without RFFDG the table is shared: the child's new descriptor is
    // the parent's too.
    let st = rfork_run(mode, rf::PROC, || dup(1).map_or(200, |fd| fd as i32));
    check!(mode, st & 0x7f == 0, "shared-table child died");
    let new_fd = (st >> 8) as usize;
    check!(
        mode,
        new_fd < 200 && fd_flags(new_fd).is_ok(),
        "the shared table's new descriptor {new_fd} is not the parent's"
    );
    close(new_fd);
    // RFCFDG: the child starts with no descriptors at all.
    let st = rfork_run(mode, rf::PROC | rf::CFDG, || {
        if fd_flags(0) == Err(EBADF) && fd_flags(1) == Err(EBADF) {
            0
        } else {
            1
        }
    });
    check!(mode, st == 0, "the RFCFDG child had descriptors");
    // CLONE_FILES while a descriptor is close-on-fork: EINVAL (NetBSD).
    // SAFETY: fcntl F_SETFD takes no pointer; FD_CLOFORK is 2.
    let set = unsafe { syscall::call(nr::FCNTL, &[fd, 2, 2]) };
    check!(mode, set.is_ok(), "F_SETFD FD_CLOFORK: {set:?}");
    // SAFETY: no pointers; a child (not expected) exits at once.
    let ret = unsafe { syscall::syscall6(nr::CLONE, cl::FILES | cl::SIGCHLD, 0, 0, 0, 0, 0) };
    match res(ret) {
        Err(e) => check!(
            mode,
            e == EINVAL,
            "CLONE_FILES with a close-on-fork descriptor: {e}"
        ),
        Ok(0) => syscall::exit(0),
        Ok(pid) => {
            let _ = syscall::wait4(pid as i32, 0);
            check!(
                mode,
                false,
                "CLONE_FILES with a close-on-fork descriptor made a process"
            );
        }
    }
    // ... and fork leaves that descriptor out of the child's copy.
    let st = rfork_run(mode, rf::PROC | rf::FDG, || {
        if fd_flags(FD.load(Ordering::SeqCst) as usize) == Err(EBADF) {
            0
        } else {
            1
        }
    });
    check!(mode, st == 0, "an FD_CLOFORK descriptor was copied");
    close(fd);
    // CLONE_FS: one cwd; without it, the child's chdir is its own.
    let mut buf = [0u8; 64];
    check!(mode, chdir(b"/\0").is_ok(), "chdir /");
    for (flags, shared) in [(cl::SIGCHLD, false), (CLONE_FS | cl::SIGCHLD, true)] {
        // SAFETY: no pointers; the child continues here with a copy of
        // this memory (no CLONE_VM), like a fork child.
        let ret = unsafe { syscall::syscall6(nr::CLONE, flags, 0, 0, 0, 0, 0) };
        match res(ret) {
            Ok(0) => syscall::exit(if chdir(b"/tmp\0").is_ok() { 0 } else { 1 }),
            Ok(pid) => {
                check!(mode, wait_status(mode, pid) == 0, "chdir child");
                let cwd = getcwd(&mut buf);
                let want: &[u8] = if shared { b"/tmp" } else { b"/" };
                check!(
                    mode,
                    cwd == want,
                    "cwd after a {} child's chdir: {:?}",
                    if shared { "CLONE_FS" } else { "plain" },
                    core::str::from_utf8(cwd)
                );
            }
            Err(e) => check!(mode, false, "clone: {e}"),
        }
    }
    let _ = chdir(b"/\0");
}

const CLONE_FS: usize = cl::FS;
static FD: AtomicU32 = AtomicU32::new(0);

/// The `unshare` child on its own stack, sharing the parent's space:
/// divorce it, then store.
extern "C" fn divorce_then_store(_arg: usize) -> i32 {
    if rfork(0) != Ok(0) {
        return 1;
    }
    MARK.store(0xD1, Ordering::SeqCst);
    0
}

fn unshare(mode: &str) {
    // The space: a CLONE_VM child (no vfork wait) unshares it, and its
    // store stays in its own copy.
    MARK.store(0, Ordering::SeqCst);
    let top = core::ptr::addr_of_mut!(CHILD_STACK) as usize + 16384;
    // SAFETY: the stack is this child's only.
    let ret = unsafe { clone_call(cl::VM | cl::SIGCHLD, top, divorce_then_store, 0) };
    match ret {
        Ok(pid) => {
            check!(
                mode,
                wait_status(mode, pid) == 0,
                "the divorcing child failed"
            );
            check!(
                mode,
                MARK.load(Ordering::SeqCst) == 0,
                "the child's store after rfork(0) reached the parent"
            );
        }
        Err(e) => check!(mode, false, "clone: {e}"),
    }
    // The table: a child sharing it unshares with rfork(RFFDG); its new
    // descriptor is then not the parent's.
    let st = rfork_run(mode, rf::PROC, || {
        if rfork(rf::FDG) != Ok(0) {
            return 250;
        }
        dup(1).map_or(251, |fd| fd as i32)
    });
    check!(
        mode,
        st & 0x7f == 0 && (st >> 8) < 250,
        "unshare child: {st:#x}"
    );
    check!(
        mode,
        fd_flags((st >> 8) as usize) == Err(EBADF),
        "the descriptor made after rfork(RFFDG) is the parent's"
    );
    // rfork(RFCFDG) without RFPROC closes everything of the caller's.
    let st = rfork_run(mode, rf::PROC | rf::FDG, || {
        if rfork(rf::CFDG) != Ok(0) {
            return 2;
        }
        if fd_flags(1) == Err(EBADF) { 0 } else { 1 }
    });
    check!(mode, st == 0, "rfork(RFCFDG) in place: {st:#x}");
}

const PD_DAEMON: usize = 1;
const PDFORK: u64 = nr::PDFORK;
const PDGETPID: u64 = nr::PDGETPID;
const PDKILL: u64 = nr::PDKILL;

/// `pdfork(&fd, flags)`: (pid or 0, fd).
fn pdfork(flags: usize) -> Result<(usize, i32), Errno> {
    let mut fd: i32 = -1;
    // SAFETY: `fd` is a live int the kernel writes.
    let pid = unsafe { syscall::call(PDFORK, &[core::ptr::addr_of_mut!(fd) as usize, flags]) }?;
    Ok((pid, fd))
}

fn pdgetpid(fd: i32) -> Result<i32, Errno> {
    let mut pid: i32 = 0;
    // SAFETY: `pid` is a live int the kernel writes.
    res(unsafe {
        syscall::syscall2(PDGETPID, fd as usize, core::ptr::addr_of_mut!(pid) as usize)
    })?;
    Ok(pid)
}

fn pdkill(fd: i32, sig: usize) -> Result<usize, Errno> {
    // SAFETY: no pointer.
    unsafe { syscall::call(PDKILL, &[fd as usize, sig]) }
}

/// The wait status in `pid`'s exit event, yielding up to `tries` times
/// for it (the cursor started earlier with `start_events`).
fn exit_event(pid: u32, tries: usize) -> Option<u32> {
    let mut list = [NO_EVENT; 32];
    for _ in 0..tries {
        let n = events(&mut list);
        if let Some(e) = list[..n].iter().find(|e| e.kind == EXIT && e.pid == pid) {
            return Some(e.other);
        }
        syscall::sched_yield();
    }
    None
}

/// SIGCHLDs seen by the `pdfork` mode's handler.
static CHLD: AtomicU32 = AtomicU32::new(0);

extern "C" fn count_chld(_sig: i32, _info: *mut u8, _ctx: *mut u8) {
    CHLD.fetch_add(1, Ordering::SeqCst);
}

fn pdfork_mode(mode: &str) {
    let act = syscall::signal::SigAction::handler(count_chld, SA_RESTART_FLAG, 0);
    check!(
        mode,
        syscall::signal::sigaction(17, Some(&act), None).is_ok(),
        "SIGCHLD handler"
    );
    CHLD.store(0, Ordering::SeqCst);
    // A non-daemon child: closing the descriptor kills it.
    match pdfork(0) {
        Ok((0, _)) => loop {
            syscall::sched_yield();
        },
        Ok((pid, fd)) => {
            check!(mode, fd >= 0, "no descriptor stored: {fd}");
            check!(
                mode,
                pdgetpid(fd) == Ok(pid as i32),
                "pdgetpid {:?} for {pid}",
                pdgetpid(fd)
            );
            check!(
                mode,
                syscall::wait4(-1, 1) == Err(Errno::ECHILD),
                "wait4(-1) saw the descriptor-owned child"
            );
            start_events();
            close(fd as usize);
            check!(
                mode,
                exit_event(pid as u32, 5000) == Some(9),
                "closing the descriptor did not kill the child"
            );
        }
        Err(e) => check!(mode, false, "pdfork: {e}"),
    }
    // PD_DAEMON: closing leaves it alone.
    match pdfork(PD_DAEMON) {
        Ok((0, _)) => loop {
            syscall::sched_yield();
        },
        Ok((pid, fd)) => {
            start_events();
            close(fd as usize);
            check!(
                mode,
                exit_event(pid as u32, 200).is_none(),
                "a PD_DAEMON child died when its descriptor closed"
            );
            let _ = syscall::kill(pid as i32, 9);
            check!(
                mode,
                exit_event(pid as u32, 5000) == Some(9),
                "the daemon child did not die of SIGKILL"
            );
        }
        Err(e) => check!(mode, false, "pdfork(PD_DAEMON): {e}"),
    }
    // pdkill, then wait for it by PID; and it exits on its own without SIGCHLD.
    match pdfork(0) {
        Ok((0, _)) => loop {
            syscall::sched_yield();
        },
        Ok((pid, fd)) => {
            check!(mode, pdkill(fd, 0) == Ok(0), "pdkill 0");
            check!(
                mode,
                pdkill(fd, 99) == Err(EINVAL),
                "pdkill with a bad signal"
            );
            check!(mode, pdkill(fd, 15) == Ok(0), "pdkill SIGTERM");
            check!(
                mode,
                wait_status(mode, pid) == 15,
                "the pdkilled child's status"
            );
            check!(
                mode,
                pdkill(fd, 15) == Err(Errno::ESRCH),
                "pdkill after the exit is ESRCH"
            );
            close(fd as usize);
        }
        Err(e) => check!(mode, false, "pdfork: {e}"),
    }
    match pdfork(0) {
        Ok((0, _)) => syscall::exit(4),
        Ok((pid, fd)) => {
            check!(mode, wait_status(mode, pid) == 4 << 8, "status");
            close(fd as usize);
        }
        Err(e) => check!(mode, false, "pdfork: {e}"),
    }
    check!(
        mode,
        CHLD.load(Ordering::SeqCst) == 0,
        "a descriptor-owned child sent SIGCHLD"
    );
    // The errors, with nothing left behind.
    let before = nprocs_now();
    check!(
        mode,
        pdgetpid(1) == Err(EBADF),
        "pdgetpid of a non-descriptor"
    );
    check!(
        mode,
        pdfork(0x100).err() == Some(EINVAL),
        "pdfork with a bad flag"
    );
    // SAFETY: the kernel must refuse the address.
    let ret = unsafe { syscall::syscall2(PDFORK, 0x10, 0) };
    check!(
        mode,
        res(ret) == Err(EFAULT),
        "pdfork with a bad fdp: {ret}"
    );
    check!(
        mode,
        nprocs_now() == before,
        "a failed pdfork left a process"
    );
    // CLONE_PIDFD: the same kind of descriptor, closed without killing.
    let mut pidfd: i32 = -1;
    // SAFETY: `pidfd` is a live int; the child continues with a copy.
    let ret = unsafe {
        syscall::syscall6(
            nr::CLONE,
            0x1000 | cl::SIGCHLD,
            0,
            core::ptr::addr_of_mut!(pidfd) as usize,
            0,
            0,
            0,
        )
    };
    match res(ret) {
        Ok(0) => {
            for _ in 0..100 {
                syscall::sched_yield();
            }
            syscall::exit(6);
        }
        Ok(pid) => {
            check!(
                mode,
                pdgetpid(pidfd) == Ok(pid as i32),
                "pdgetpid of a pidfd"
            );
            close(pidfd as usize);
            check!(
                mode,
                wait_status(mode, pid) == 6 << 8,
                "a pidfd child's own exit"
            );
        }
        Err(e) => check!(mode, false, "clone(CLONE_PIDFD): {e}"),
    }
    let dfl = syscall::signal::SigAction::disposition(0, 0);
    let _ = syscall::signal::sigaction(17, Some(&dfl), None);
}

const SA_RESTART_FLAG: u64 = tine_rt::syscall::abi::signal::sa::RESTART;

/// Signals counted by `exitsig`'s handler, one counter per signal.
static SEEN: [AtomicU32; 65] = [const { AtomicU32::new(0) }; 65];

extern "C" fn count_signal(sig: i32, _info: *mut u8, _ctx: *mut u8) {
    if let Some(c) = SEEN.get(sig as usize) {
        c.fetch_add(1, Ordering::SeqCst);
    }
}

const RFLINUXTHPN: usize = rf::LINUXTHPN;
const WALL: i32 = tine_rt::syscall::abi::wait::WALL as i32;

fn exitsig(mode: &str) {
    for sig in [10usize, 12, 17] {
        let act = syscall::signal::SigAction::handler(count_signal, SA_RESTART_FLAG, 0);
        check!(
            mode,
            syscall::signal::sigaction(sig as i32, Some(&act), None).is_ok(),
            "handler {sig}"
        );
    }
    let cases: [(usize, Option<usize>, &str); 4] = [
        (rf::PROC | rf::FDG, Some(17), "default"),
        (rf::PROC | rf::FDG | RFLINUXTHPN, Some(10), "RFLINUXTHPN"),
        (
            rf::PROC | rf::FDG | rf::TSIGZMB | rf::tsig(12),
            Some(12),
            "RFTSIGZMB(SIGUSR2)",
        ),
        (rf::PROC | rf::FDG | rf::TSIGZMB, None, "RFTSIGZMB(0)"),
    ];
    for (flags, want, what) in cases {
        for c in &SEEN {
            c.store(0, Ordering::SeqCst);
        }
        match rfork(flags) {
            Ok(0) => syscall::exit(0),
            Ok(pid) => {
                let st = syscall::wait4(pid as i32, WALL);
                check!(
                    mode,
                    st.map(|(p, s)| (p as usize, s)) == Ok((pid, 0)),
                    "{what}: wait4 {st:?}"
                );
                // The signal is pending before wait4 can see the exit; it
                // was delivered on the way back from wait4.
                for sig in [10usize, 12, 17] {
                    let n = SEEN[sig].load(Ordering::SeqCst);
                    let expected = u32::from(want == Some(sig));
                    check!(
                        mode,
                        n == expected,
                        "{what}: signal {sig} seen {n} times, expected {expected}"
                    );
                }
            }
            Err(e) => check!(mode, false, "{what}: rfork: {e}"),
        }
    }
    let dfl = syscall::signal::SigAction::disposition(0, 0);
    for sig in [10, 12, 17] {
        let _ = syscall::signal::sigaction(sig, Some(&dfl), None);
    }
}

fn vforkkill(mode: &str) {
    // SAFETY: the vfork child only kills itself.
    let ret = unsafe { syscall::syscall0(nr::VFORK) };
    if ret == 0 {
        // SAFETY: getpid takes no pointer.
        let me = unsafe { syscall::syscall0(nr::GETPID) };
        // SAFETY: kill takes no pointer.
        unsafe { syscall::syscall2(nr::KILL, me as usize, 9) };
        exit_now(1);
    }
    match res(ret) {
        Ok(pid) => check!(
            mode,
            wait_status(mode, pid) == 9,
            "the killed vfork child's status"
        ),
        Err(e) => check!(mode, false, "vfork: {e}"),
    }
}

/// Of `n` forks whose child exits at once, how many children were
/// already zombies when fork returned in the parent (a `WNOHANG` wait
/// found them); the parent reaps each before the next fork.
fn zombies_at_return(mode: &str, n: usize) -> usize {
    let mut found = 0;
    for _ in 0..n {
        match syscall::fork() {
            Ok(0) => syscall::exit(0),
            Ok(pid) => match syscall::wait4(pid, WNOHANG) {
                Ok((p, _)) if p == pid => found += 1,
                Ok(_) => {
                    let reaped = syscall::wait4(pid, 0).map(|(p, _)| p);
                    check!(mode, reaped == Ok(pid), "wait for {pid}: {reaped:?}");
                }
                Err(e) => check!(mode, false, "wait4 WNOHANG {pid}: {e}"),
            },
            Err(e) => {
                check!(mode, false, "fork: {e}");
                break;
            }
        }
    }
    found
}

/// `kern.sched_child_runs_first` (`proc::fork`, stage 5): a parent
/// pinned to one CPU, whose child inherits the pin, finds (nearly) every
/// child that exits at once already a zombie when fork returns with the
/// knob at 1, and (nearly) none with it at 0 (the child is queued behind
/// the parent on that CPU). "Nearly": a timer interrupt may preempt
/// either side under a loaded host; 9 in 10 is the bar. With one CPU
/// online nothing is pinned: the parent goes on first either way.
fn childfirst(mode: &str) {
    const N: usize = 40;
    let mut buf = [0u8; 64];
    // With one CPU online a mask cannot pin (it holds every CPU), so the
    // parent goes on first whatever the knob says.
    let mut online: u64 = 0;
    // SAFETY: the kernel writes at most 8 bytes to `online`.
    let ret = unsafe {
        syscall::syscall3(
            nr::SCHED_GETAFFINITY,
            0,
            8,
            core::ptr::addr_of_mut!(online) as usize,
        )
    };
    check!(mode, res(ret).is_ok(), "sched_getaffinity: {ret}");
    let pinnable = online.count_ones() > 1;
    // Pin to the CPU this runs on.
    let mut cpu: u32 = 0;
    // SAFETY: getcpu writes one u32 to `cpu`; the node and cache pointers
    // are NULL.
    let ret = unsafe { syscall::syscall3(nr::GETCPU, core::ptr::addr_of_mut!(cpu) as usize, 0, 0) };
    check!(mode, res(ret).is_ok(), "getcpu: {ret}");
    let mask: u64 = 1 << cpu;
    // SAFETY: the kernel reads 8 bytes from `mask`, which lives across
    // the call.
    let ret = unsafe {
        syscall::syscall3(
            nr::SCHED_SETAFFINITY,
            0,
            8,
            core::ptr::addr_of!(mask) as usize,
        )
    };
    check!(
        mode,
        res(ret).is_ok(),
        "sched_setaffinity to CPU {cpu}: {ret}"
    );
    let old = sysctl_call(b"kern.sched_child_runs_first", Some(&mut buf), Some(b"1"))
        .map(|n| parse(&buf[..n]));
    check!(
        mode,
        matches!(old, Ok(Some(0 | 1))),
        "write kern.sched_child_runs_first: {old:?}"
    );
    let first = zombies_at_return(mode, N);
    if pinnable {
        check!(
            mode,
            first * 10 >= N * 9,
            "child first: {first} of {N} children were zombies when fork returned"
        );
    } else {
        check!(
            mode,
            first * 10 <= N,
            "one CPU, nothing pinned: {first} of {N} children were zombies when fork returned"
        );
    }
    check!(
        mode,
        sysctl_call(b"kern.sched_child_runs_first", None, Some(b"0")).is_ok(),
        "write 0"
    );
    let after = zombies_at_return(mode, N);
    check!(
        mode,
        after * 10 <= N,
        "parent first: {after} of {N} children were zombies when fork returned"
    );
    check!(
        mode,
        sysctl_call(b"kern.sched_child_runs_first", None, Some(b"2")) == Err(EINVAL),
        "2 is out of range"
    );
    if let Ok(Some(v)) = old {
        let text = [b'0' + v as u8];
        check!(
            mode,
            sysctl_call(b"kern.sched_child_runs_first", None, Some(&text)).is_ok(),
            "restore {v}"
        );
    }
}
