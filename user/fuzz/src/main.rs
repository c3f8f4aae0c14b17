//! `/bin/fuzz`: a system-call fuzzer (`cargo xtask fuzz`, issue 13).
//!
//! ```text
//! fuzz [--seed S] [--seconds T] [--calls K] [--jobs P] [--verbose] [--child I [--trace]]
//! ```
//!
//! The parent (root, a reaper for its subtree) runs children one after
//! another, P at a time (default: two per CPU), for T seconds (default
//! 60; 0 runs one round of P children). Child I seeds its generator from
//! `(S, I)`, so `--child I` reruns exactly that child in the foreground
//! (with `--trace`, printing each call before making it). A child:
//!
//! - makes its own process group; three in four drop to uid/gid 65534;
//! - installs a handler for every catchable signal (a fault signal
//!   `SIGSEGV`/`SIGBUS`/`SIGILL`/`SIGFPE`/`SIGTRAP`/`SIGSYS` exits, the
//!   others return);
//! - swaps the console for pipes (fd 0 reads a pipe, fds 1 and 2 write
//!   one; mostly non-blocking) and closes every other inherited file;
//! - opens a pool of real files: `/tmp/fuzz/*` read-write, `/`, `/bin`,
//!   `/bin/hello`, `/dev/null`, pipes;
//! - makes K calls (default 200): a random number among Linux's 0..=334
//!   and Tine's 1000..=1020, six arguments each drawn from a hostile class
//!   (small numbers, pool descriptors, null, kernel addresses,
//!   non-canonical, unmapped, a buffer straddling a mapped and an
//!   unmapped page, a read-only page, huge and negative numbers, random
//!   words, path strings, and pointers into its own heap, stack and
//!   code). Buffers are refilled with random bytes now and then.
//!
//! Fork, vfork, clone, rfork and pdfork are allowed: a child process
//! (return 0) goes on with half the remaining calls. What would take the
//! machine down by design, not by bug, is left out: `reboot`,
//! `tine_poweroff` and `tine_sysctl` are skipped, `setsid`/`setpgid` too
//! (the parent kills a child's whole group), and the process arguments
//! of the kill family, `prlimit64`, `sched_setaffinity` and the like are
//! replaced by the caller's own PID or group (`kill(-1)` would reach
//! init). A child that has not finished within 3 s is killed (its group
//! with `SIGKILL`).
//!
//! Every 32 calls a child writes its count to a pipe the parent reads,
//! as tagged 8-byte records on descriptor 200, out of reach of the small
//! numbers passed as descriptors (a child that closes it anyway is
//! undercounted; a stray write there is skipped). At the end the parent
//! kills and reaps everything, removes `/tmp/fuzz`, then checks that fork
//! and wait still work and that memory came back (frames free again, less
//! what the heap claimed meanwhile and keeps, within 2 MiB; heap in use
//! within 1 MiB), and that the kernel's invariant check (`sysctl
//! debug.check`) finds nothing. It prints `fuzz: seed S: N calls in C children` and
//! `fuzz: ok`, and exits 0; any failed check prints `fuzz: FAILED ...`
//! and exits 1. Progress lines (`fuzz: Ts ...`, with the children
//! running) come every 5 s: after a kernel panic the last one names the
//! children to rerun.
#![no_std]
#![no_main]

use core::ffi::CStr;

use tine_rt::memcheck::{self, MemRecord};
use tine_rt::syscall::{self, Errno, nr, signal as sig};
use tine_rt::{Args, println};

tine_rt::entry!(main);

/// Linux numbers tried: 0..=LINUX_LAST.
const LINUX_LAST: u64 = 334;
/// Tine's own numbers tried: 1000..=TINE_LAST.
const TINE_LAST: u64 = 1020;
/// How long a child may run before it is killed.
const CHILD_NS: u64 = 3_000_000_000;
/// Pages of the child's heap buffer.
const HEAP_PAGES: usize = 4;
const PAGE: usize = 4096;
const WNOHANG: usize = 1;
/// Where `--trace` writes (a copy of the console made before the swap).
const TRACE_FD: i32 = 99;
const SIGKILL: usize = 9;
const O_RDONLY: u32 = 0;
const O_RDWR: u32 = 2;
const O_CREAT: u32 = 0o100;
const O_NONBLOCK: u32 = 0o4000;
const O_DIRECTORY: u32 = 0o200000;

/// Numbers never made (module docs).
const SKIP: &[u64] = &[
    169,  // reboot
    112,  // setsid
    109,  // setpgid
    1006, // tine_poweroff
    1005, // tine_sysctl
    1011, // tine_kbench (runs the kernel benchmarks: slow, not hostile)
];

/// Calls whose first argument is a process (or group) to act on.
const PID_FIRST: &[u64] = &[
    62,   // kill
    200,  // tkill
    234,  // tgkill (tgid; the tid is the second)
    129,  // rt_sigqueueinfo
    297,  // rt_tgsigqueueinfo
    302,  // prlimit64
    203,  // sched_setaffinity
    204,  // sched_getaffinity
    141,  // setpriority (which, who): rewritten too, harmless
    1004, // tine_procctl (idtype, id)
];

/// Fork-family numbers: a zero return means "I am the new process".
const FORKS: &[u64] = &[56, 57, 58, 435, 1000, 1001];

/// Paths handed out as string arguments.
const PATHS: &[&CStr] = &[
    c"/tmp/fuzz/a",
    c"/tmp/fuzz/b",
    c"/tmp/fuzz/d",
    c"/tmp/fuzz/d/e",
    c"/tmp/fuzz",
    c"/tmp",
    c"/",
    c"",
    c".",
    c"..",
    c"/bin/hello",
    c"/bin/sh",
    c"/dev/null",
    c"/nonexistent/x",
    c"/tmp/fuzz/a/",
    c"////tmp//fuzz/../fuzz/./b",
    c"/test-data/script",
    c"/init",
];

/// splitmix64: small, fast, good enough for argument choice.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, index: u64) -> Self {
        let mut r = Rng(seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        r.next();
        r
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.below(from.len() as u64) as usize]
    }
}

struct Options {
    seed: u64,
    seconds: u64,
    calls: u64,
    jobs: u64,
    child: Option<u64>,
    trace: bool,
    verbose: bool,
}

fn parse_num(s: &[u8]) -> Option<u64> {
    let (digits, radix) = match s {
        [b'0', b'x', rest @ ..] => (rest, 16),
        _ => (s, 10),
    };
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &c| {
        let d = (c as char).to_digit(radix)?;
        n.checked_mul(radix as u64)?.checked_add(d as u64)
    })
}

fn options(args: &Args) -> Option<Options> {
    let mut o = Options {
        seed: 1,
        seconds: 60,
        calls: 200,
        jobs: 0,
        child: None,
        trace: false,
        verbose: false,
    };
    let mut i = 1;
    while let Some(word) = args.get(i) {
        let mut value = || {
            i += 1;
            args.get(i).and_then(parse_num)
        };
        match word {
            b"--seed" => o.seed = value()?,
            b"--seconds" => o.seconds = value()?,
            b"--calls" => o.calls = value()?,
            b"--jobs" => o.jobs = value()?,
            b"--child" => o.child = Some(value()?),
            b"--trace" => o.trace = true,
            b"--verbose" => o.verbose = true,
            _ => return None,
        }
        i += 1;
    }
    Some(o)
}

fn main(args: Args) -> i32 {
    let Some(mut o) = options(&args) else {
        println!(
            "usage: fuzz [--seed S] [--seconds T] [--calls K] [--jobs P] [--child I [--trace]]"
        );
        return 2;
    };
    if o.jobs == 0 {
        let mut buf = [0u8; 64 * 64];
        // cpuinfo returns the number of records (CPUs).
        let cpus = syscall::tine_info(nr::TINE_CPUINFO, &mut buf).unwrap_or(1);
        o.jobs = (2 * cpus as u64).max(1);
    }
    let _ = syscall::files::mkdir(c"/tmp/fuzz", 0o777);
    if let Some(index) = o.child {
        // One child, in the foreground (a reproduction).
        let pid = syscall::fork().unwrap_or(-1);
        if pid == 0 {
            child(&o, index, -1);
        }
        let start = now();
        let status = loop {
            match syscall::wait4(pid, WNOHANG as i32) {
                Ok((0, _)) => {}
                Ok((_, status)) => break status,
                Err(_) => break -1,
            }
            if now() - start > CHILD_NS {
                let _ = raw(62, [(-pid) as u64, SIGKILL as u64, 0, 0, 0, 0]);
                let _ = raw(62, [pid as u64, SIGKILL as u64, 0, 0, 0, 0]);
            }
            let _ = syscall::nanosleep(5_000_000);
        };
        finish_subtree();
        println!("fuzz: child {index} ended with status {status:#x}");
        cleanup();
        return 0;
    }
    parent(&o)
}

// ---------------------------------------------------------------------------
// The parent
// ---------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct Running {
    pid: i32,
    index: u64,
    started: u64,
}

fn now() -> u64 {
    syscall::clock_gettime(1).unwrap_or(0)
}

fn raw(n: u64, a: [u64; 6]) -> isize {
    // SAFETY: the parent passes only its own live buffers or plain
    // numbers (procctl, kill, wait4 with a NULL status).
    unsafe {
        syscall::syscall6(
            n,
            a[0] as usize,
            a[1] as usize,
            a[2] as usize,
            a[3] as usize,
            a[4] as usize,
            a[5] as usize,
        )
    }
}

/// A signal reaching the parent is a finding (children may only signal
/// their own group): report who sent it.
extern "C" fn parent_signal(signo: i32, info: *mut u8, _: *mut u8) {
    let (mut code, mut pid) = (0i32, 0i32);
    if !info.is_null() {
        // SAFETY: the kernel passes a siginfo_t (128 bytes) on our stack:
        // si_code at 8, si_pid at 16.
        unsafe {
            code = core::ptr::read_unaligned(info.add(8) as *const i32);
            pid = core::ptr::read_unaligned(info.add(16) as *const i32);
        }
    }
    println!("fuzz: FAILED: the parent got signal {signo} (si_code {code}, from pid {pid})");
}

fn parent(o: &Options) -> i32 {
    for signo in 1..=31 {
        if !matches!(signo, 9 | 17 | 19) {
            let act = sig::SigAction::handler(parent_signal, 0, 0);
            let _ = sig::sigaction(signo, Some(&act), None);
        }
    }
    // Orphans of the fuzzed subtree come back to us, to be reaped.
    let _ = raw(nr::TINE_PROCCTL, [0, 0, 2, 0, 0, 0]);
    let before = memcheck::meminfo();
    let Ok([report_r, report_w]) = syscall::pipe2(O_NONBLOCK as i32) else {
        println!("fuzz: FAILED: pipe2");
        return 1;
    };
    let start = now();
    let deadline = start + o.seconds * 1_000_000_000;
    let mut running = [None::<Running>; 64];
    let slots = (o.jobs as usize).min(running.len());
    let (mut next, mut calls, mut killed, mut reaped_others) = (0u64, 0u64, 0u64, 0u64);
    let mut last_report = start;
    loop {
        let t = now();
        let stopping = if o.seconds == 0 {
            next >= slots as u64
        } else {
            t >= deadline
        };
        for slot in running.iter_mut().take(slots) {
            if slot.is_none() && !stopping {
                match syscall::fork() {
                    Ok(0) => {
                        let _ = syscall::close(report_r);
                        // Out of reach of the small numbers the fuzzer
                        // passes as descriptors.
                        let report = match syscall::dup2(report_w, REPORT_FD) {
                            Ok(fd) => {
                                let _ = syscall::close(report_w);
                                fd
                            }
                            Err(_) => -1,
                        };
                        child(o, next, report)
                    }
                    Ok(pid) => {
                        if o.verbose {
                            println!("fuzz: child {next} is pid {pid}");
                        }
                        *slot = Some(Running {
                            pid,
                            index: next,
                            started: t,
                        });
                        next += 1;
                    }
                    Err(e) => {
                        println!("fuzz: fork failed ({e}); retrying");
                        let _ = syscall::nanosleep(10_000_000);
                    }
                }
            }
            if let Some(r) = slot
                && t.saturating_sub(r.started) > CHILD_NS
            {
                let _ = raw(62, [(-r.pid) as u64, SIGKILL as u64, 0, 0, 0, 0]);
                let _ = raw(62, [r.pid as u64, SIGKILL as u64, 0, 0, 0, 0]);
                killed += 1;
                r.started = u64::MAX / 2; // killed once
            }
        }
        calls += drain(report_r);
        // Reap whatever ended: our children and adopted orphans.
        loop {
            match syscall::wait4(-1, WNOHANG as i32) {
                Ok((0, _)) | Err(_) => break,
                Ok((pid, _)) => {
                    match running.iter_mut().find(|r| r.is_some_and(|r| r.pid == pid)) {
                        Some(slot) => *slot = None,
                        None => reaped_others += 1,
                    }
                }
            }
        }
        if t.saturating_sub(last_report) >= 5_000_000_000 {
            last_report = t;
            let mut list = [0u64; 64];
            let mut n = 0;
            for r in running.iter().flatten() {
                list[n] = r.index;
                n += 1;
            }
            println!(
                "fuzz: {}s {} calls {} children ({} killed, {} other processes) running {:?}",
                (t - start) / 1_000_000_000,
                calls,
                next,
                killed,
                reaped_others,
                &list[..n]
            );
        }
        if stopping && running.iter().all(Option::is_none) {
            break;
        }
        let _ = syscall::nanosleep(5_000_000);
    }
    // Everything left over in the subtree (adopted orphans that outlived
    // their group) is killed and reaped.
    finish_subtree();
    calls += drain(report_r);
    let _ = syscall::close(report_r);
    let _ = syscall::close(report_w);
    cleanup();
    let secs = (now() - start) / 1_000_000_000;
    println!(
        "fuzz: seed {}: {} calls in {} children over {}s ({} killed after {} s, {} other processes reaped)",
        o.seed,
        calls,
        next,
        secs,
        killed,
        CHILD_NS / 1_000_000_000,
        reaped_others
    );
    checks(&before)
}

/// Sums the counts children wrote to the report pipe: 8-byte records
/// `{u32 REPORT_MAGIC, u32 count <= 32}`, each one `write` (atomic on a
/// pipe). Anything else (a stray write) is skipped.
fn drain(fd: i32) -> u64 {
    let mut total = 0;
    let mut buf = [0u8; 512];
    while let Ok(n) = syscall::read(fd, &mut buf) {
        if n == 0 {
            break;
        }
        for rec in buf[..n].chunks_exact(8) {
            let magic = u32::from_le_bytes([rec[0], rec[1], rec[2], rec[3]]);
            let count = u32::from_le_bytes([rec[4], rec[5], rec[6], rec[7]]);
            if magic == REPORT_MAGIC && count <= 32 {
                total += u64::from(count);
            }
        }
    }
    total
}

/// Tags a count record on the report pipe.
const REPORT_MAGIC: u32 = 0xf022_ca11;
/// The child's descriptor for the report pipe.
const REPORT_FD: i32 = 200;

fn report_calls(fd: i32, count: u32) {
    let mut rec = [0u8; 8];
    rec[..4].copy_from_slice(&REPORT_MAGIC.to_le_bytes());
    rec[4..].copy_from_slice(&count.to_le_bytes());
    let _ = syscall::write(fd, &rec);
}

/// Kills every process below us (the subtree `proclist` shows under our
/// PID) until `wait4` says there are none; after 2 s of trying, names
/// the survivors (a finding: something SIGKILL cannot end).
fn finish_subtree() {
    let me = syscall::getpid();
    for round in 0..400 {
        let mut buf = [0u8; 56 * 512];
        let n = syscall::tine_info(nr::TINE_PROCLIST, &mut buf).unwrap_or(0);
        let procs: [(i32, i32, u8); 512] = core::array::from_fn(|i| {
            let rec = &buf[(i * 56).min(buf.len() - 56)..][..56];
            if i < n {
                let word = |at: usize| {
                    i32::from_le_bytes([rec[at], rec[at + 1], rec[at + 2], rec[at + 3]])
                };
                (word(0), word(4), rec[16])
            } else {
                (0, 0, 0)
            }
        });
        // proclist returns the number of processes (records).
        let count = n.min(512);
        let mut below = [false; 512];
        // Mark descendants: a fixed point over the parent links.
        let mut changed = true;
        while changed {
            changed = false;
            for i in 0..count {
                let (pid, ppid, _) = procs[i];
                if !below[i]
                    && pid != me
                    && (ppid == me || (0..count).any(|j| below[j] && procs[j].0 == ppid))
                {
                    below[i] = true;
                    changed = true;
                }
            }
        }
        if round == 200 {
            println!("fuzz: the process list after 2 s of killing ({count} processes):");
            for &(pid, ppid, state) in &procs[..count] {
                println!("fuzz:   pid {pid} parent {ppid} state {}", state as char);
            }
        }
        for i in 0..count {
            if below[i] {
                let pid = procs[i].0;
                let _ = raw(62, [pid as u64, SIGKILL as u64, 0, 0, 0, 0]);
                if round == 200 {
                    println!(
                        "fuzz: FAILED: pid {} (parent {}, state {}) is still here after SIGKILL",
                        pid, procs[i].1, procs[i].2 as char
                    );
                }
            }
        }
        loop {
            match syscall::wait4(-1, WNOHANG as i32) {
                Ok((0, _)) => break,
                Ok(_) => {}
                Err(_) => return, // ECHILD: nothing left
            }
        }
        let _ = syscall::nanosleep(10_000_000);
    }
    println!("fuzz: FAILED: processes of the subtree would not go away");
}

/// Removes what the children left in `/tmp/fuzz` (one level of
/// directories: the children's paths go no deeper).
fn cleanup() {
    for path in PATHS {
        let bytes = path.to_bytes();
        if bytes.starts_with(b"/tmp/fuzz/") {
            let _ = syscall::files::unlink(path);
        }
    }
    let Ok(dir) = syscall::files::open(c"/tmp/fuzz", O_RDONLY | O_DIRECTORY, 0) else {
        return;
    };
    let mut buf = [0u8; 4096];
    while let Ok(n) = syscall::files::getdents64(dir, &mut buf) {
        if n == 0 {
            break;
        }
        let mut at = 0;
        while at + 19 < n {
            let reclen = u16::from_le_bytes([buf[at + 16], buf[at + 17]]) as usize;
            if reclen == 0 {
                break;
            }
            let name = &buf[at + 19..at + reclen];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if name != b"." && name != b".." && name.len() < 200 {
                let mut path = [0u8; 256];
                path[..10].copy_from_slice(b"/tmp/fuzz/");
                path[10..10 + name.len()].copy_from_slice(name);
                if let Ok(p) = CStr::from_bytes_until_nul(&path) {
                    let _ = syscall::files::unlink(p);
                }
            }
            at += reclen;
        }
    }
    let _ = syscall::close(dir);
}

/// `wait4(pid)` for at most 10 s (a hang here is a finding, reported).
fn wait_for(pid: i32) -> Result<(i32, i32), Errno> {
    let start = now();
    loop {
        match syscall::wait4(pid, WNOHANG as i32) {
            Ok((0, _)) if now() - start < 10_000_000_000 => {
                let _ = syscall::nanosleep(5_000_000);
            }
            Ok((0, _)) => return Err(Errno::EAGAIN),
            other => return other,
        }
    }
}

/// After the run: fork and wait work, memory came back.
fn checks(before: &MemRecord) -> i32 {
    let mut ok = true;
    match syscall::fork() {
        Ok(0) => syscall::exit(42),
        Ok(pid) => match wait_for(pid) {
            Ok((p, status)) if p == pid && status == 42 << 8 => {}
            other => {
                println!("fuzz: FAILED: fork/wait after the run: {other:?}");
                ok = false;
            }
        },
        Err(e) => {
            println!("fuzz: FAILED: fork after the run: {e}");
            ok = false;
        }
    }
    if syscall::wait4(-1, WNOHANG as i32) != Err(Errno::ECHILD) {
        println!("fuzz: FAILED: a child is left after the run");
        ok = false;
    }
    if !memcheck::after_run("fuzz", before) {
        ok = false;
    }
    if ok {
        println!("fuzz: ok");
        0
    } else {
        1
    }
}

// ---------------------------------------------------------------------------
// A child
// ---------------------------------------------------------------------------

/// What a child points its arguments at.
struct Targets {
    fds: [u64; 16],
    nfds: usize,
    heap: u64,
    straddle: u64,
    readonly: u64,
    code: u64,
}

extern "C" fn on_fault(signo: i32, _: *mut u8, _: *mut u8) {
    syscall::exit_group(128 + signo);
}

extern "C" fn on_signal(_: i32, _: *mut u8, _: *mut u8) {}

fn setup_signals() {
    for signo in 1..=31 {
        if signo == 9 || signo == 19 {
            continue;
        }
        let handler: sig::Handler = if matches!(signo, 4 | 5 | 7 | 8 | 11 | 31) {
            on_fault
        } else {
            on_signal
        };
        let act = sig::SigAction::handler(handler, 0, 0);
        let _ = sig::sigaction(signo, Some(&act), None);
    }
}

/// Pipes for the console and a pool of open files.
fn setup_files(rng: &mut Rng, report: i32) -> ([u64; 16], usize) {
    let nb = |rng: &mut Rng| {
        if rng.below(4) == 0 {
            0
        } else {
            O_NONBLOCK as i32
        }
    };
    let keep = [report, TRACE_FD];
    // fd 0 reads a pipe whose write end we keep; fds 1 and 2 write one
    // whose read end we keep.
    let mut fds = [0u64; 16];
    let mut n = 0;
    if let (Ok([r0, w0]), Ok([r1, w1])) = (syscall::pipe2(nb(rng)), syscall::pipe2(nb(rng))) {
        let _ = syscall::dup2(r0, 0);
        let _ = syscall::dup2(w1, 1);
        let _ = syscall::dup2(w1, 2);
        for fd in [r0, w0, r1, w1] {
            if fd > 2 {
                fds[n] = fd as u64;
                n += 1;
            }
        }
    }
    // Close anything else inherited (the parent's console copies).
    for fd in (3..TRACE_FD).chain(TRACE_FD + 1..REPORT_FD) {
        if !keep.contains(&fd) && !fds[..n].contains(&(fd as u64)) {
            let _ = syscall::close(fd);
        }
    }
    let opens: [(&CStr, u32); 7] = [
        (c"/tmp/fuzz/a", O_RDWR | O_CREAT),
        (c"/tmp/fuzz/b", O_RDWR | O_CREAT),
        (c"/", O_RDONLY | O_DIRECTORY),
        (c"/bin", O_RDONLY | O_DIRECTORY),
        (c"/bin/hello", O_RDONLY),
        (c"/dev/null", O_RDWR),
        (c"/tmp/fuzz", O_RDONLY | O_DIRECTORY),
    ];
    for (path, flags) in opens {
        if let Ok(fd) = syscall::files::open(path, flags, 0o666) {
            fds[n] = fd as u64;
            n += 1;
        }
    }
    if let Ok([r, w]) = syscall::pipe2(nb(rng)) {
        fds[n] = r as u64;
        fds[n + 1] = w as u64;
        n += 2;
    }
    fds[n] = 0;
    fds[n + 1] = 1;
    fds[n + 2] = 2;
    n += 3;
    (fds, n)
}

fn setup_memory(rng: &mut Rng) -> (u64, u64, u64) {
    let heap = syscall::mmap_anonymous(HEAP_PAGES * PAGE).unwrap_or(0) as u64;
    let two = syscall::mmap_anonymous(2 * PAGE).unwrap_or(0);
    let straddle = if two != 0 {
        let _ = syscall::munmap(two + PAGE, PAGE);
        (two + PAGE - 8) as u64
    } else {
        0
    };
    let ro = syscall::mmap_anonymous(PAGE).unwrap_or(0) as u64;
    if ro != 0 {
        // mprotect(ro, PAGE, PROT_READ)
        let _ = raw(10, [ro, PAGE as u64, 1, 0, 0, 0]);
    }
    if heap != 0 {
        randomize(rng, heap, HEAP_PAGES * PAGE);
    }
    (heap, straddle, ro)
}

/// Fills `len` bytes at `addr` (our own mapping) with random words.
fn randomize(rng: &mut Rng, addr: u64, len: usize) {
    // SAFETY: [addr, addr + len) is a private anonymous mapping of ours
    // that nothing else refers to as Rust data.
    let words = unsafe { core::slice::from_raw_parts_mut(addr as *mut u64, len / 8) };
    for w in words {
        *w = match rng.below(4) {
            0 => 0,
            1 => rng.below(4096),
            _ => rng.next(),
        };
    }
}

fn argument(rng: &mut Rng, t: &Targets, stack: u64) -> u64 {
    const KERNEL: [u64; 4] = [
        0xffff_8000_0000_0000,
        0xffff_ffff_8000_0000,
        0xffff_ffff_ffff_f000,
        0xffff_8880_0010_0000,
    ];
    const NONCANONICAL: [u64; 3] = [
        0x0000_8000_0000_0000,
        0x8000_0000_0000_0000,
        0x0001_0000_0000_0000,
    ];
    const HUGE: [u64; 7] = [
        u64::MAX,
        1 << 63,
        1 << 62,
        1 << 40,
        1 << 38,
        1 << 32,
        u32::MAX as u64,
    ];
    const NEGATIVE: [i64; 6] = [-1, -2, -4096, -4095, i32::MIN as i64, i64::MIN];
    match rng.below(18) {
        0 | 1 => rng.below(16),
        2 | 3 => t.fds[rng.below(t.nfds as u64) as usize],
        4 => 0,
        5 => rng.pick(&KERNEL) + rng.below(4096),
        6 => rng.pick(&NONCANONICAL) + rng.below(64),
        7 => 0x10_0000_0000 + rng.below(1 << 20) * 8, // unmapped
        8 => t.straddle,
        9 => t.readonly + rng.below(PAGE as u64 - 64),
        10 => rng.pick(&HUGE),
        11 => rng.pick(&NEGATIVE) as u64,
        12 => rng.next(),
        13 => rng.pick(PATHS).as_ptr() as u64,
        14 | 15 => t.heap + rng.below((HEAP_PAGES * PAGE - 512) as u64) / 8 * 8,
        16 => stack.wrapping_sub(rng.below(512) / 8 * 8),
        _ => t.code + rng.below(256),
    }
}

fn child(o: &Options, index: u64, report: i32) -> ! {
    let mut rng = Rng::new(o.seed, index);
    let _ = raw(109, [0, 0, 0, 0, 0, 0]); // setpgid(0, 0)
    if !index.is_multiple_of(4) {
        let _ = raw(106, [65534, 0, 0, 0, 0, 0]); // setgid
        let _ = raw(105, [65534, 0, 0, 0, 0, 0]); // setuid
    }
    setup_signals();
    if o.trace {
        let _ = syscall::dup2(1, TRACE_FD);
    }
    let (fds, nfds) = setup_files(&mut rng, report);
    let (heap, straddle, readonly) = setup_memory(&mut rng);
    let t = Targets {
        fds,
        nfds,
        heap,
        straddle,
        readonly,
        code: child as *const () as u64,
    };
    let mut remaining = o.calls;
    let mut unreported = 0u32;
    while remaining > 0 {
        remaining -= 1;
        let local = [0u64; 64];
        let stack = core::hint::black_box(&local) as *const _ as u64 + 256;
        let n = if rng.below(8) == 0 {
            1000 + rng.below(TINE_LAST - 999)
        } else {
            rng.below(LINUX_LAST + 1)
        };
        if SKIP.contains(&n) {
            continue;
        }
        let mut a: [u64; 6] = core::array::from_fn(|_| argument(&mut rng, &t, stack));
        if PID_FIRST.contains(&n) {
            let me = syscall::getpid() as u64;
            a[0] = match rng.below(3) {
                0 => me,
                1 => 0,
                _ => 99_999 + rng.below(1000), // no such process
            };
            if n == 234 || n == 297 {
                a[1] = me;
            }
            if n == 1004 {
                a[0] = 0; // P_PID
                a[1] = rng.pick(&[0, me]);
            }
        }
        if rng.below(16) == 0 && heap != 0 {
            randomize(&mut rng, heap, HEAP_PAGES * PAGE);
        }
        if o.trace {
            tine_rt::io::_print(
                TRACE_FD,
                format_args!("call {}: {} {:x?}\n", o.calls - remaining, n, a),
            );
        }
        let ret = raw(n, a);
        if o.trace {
            tine_rt::io::_print(TRACE_FD, format_args!("  = {ret}\n"));
        }
        if ret == 0 && FORKS.contains(&n) {
            // A new process: fewer calls, its own sequence.
            remaining /= 2;
            rng = Rng::new(o.seed ^ rng.next(), syscall::getpid() as u64);
        }
        unreported += 1;
        if unreported == 32 && report >= 0 {
            report_calls(report, unreported);
            unreported = 0;
        }
    }
    if report >= 0 {
        report_calls(report, unreported);
    }
    syscall::exit_group(0)
}
