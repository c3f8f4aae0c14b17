//! `/bin/stress [--seconds T] [--workers W]`: every CPU at once forks,
//! vforks, spawns, execs, pipes, signals and writes copy-on-write memory,
//! checking every result (`cargo xtask stress`, issue 13).
//!
//! W workers (default: two per CPU) are forked; each repeats a round until
//! T seconds (default 60) have passed:
//!
//! 1. **COW**: store a worker-specific value in every word of a page,
//!    fork; the child checks it sees the value, writes its own and exits
//!    0; the parent checks the exit status and that its page is unchanged;
//! 2. **vfork + exec**: `vfork` + `execve("/bin/nop", [.., "stress"])`, status 0;
//! 3. **spawn**: `vfork_exec` of `/bin/nop` with rfork(`RFSPAWN`), status 0;
//! 4. **exec**: fork, the child execs `/bin/nop` with arguments, status 0;
//! 5. **pipe**: fork a child that writes 16 KiB of a pattern into a pipe;
//!    the parent reads it all back and checks every byte, then end of file;
//! 6. **signals**: fork a child that counts `SIGUSR1` in a handler and
//!    waits; the parent sends it `SIGUSR1`, then `SIGKILL`, and checks
//!    the child died of `SIGKILL`.
//!
//! Every failed check prints `stress: FAILED: worker N: ...`; a worker
//! exits 1 after its first failure. After the workers, the parent checks
//! that no child is left, and that the frames free and the heap in use
//! are back within 2 MiB / 1 MiB of the start (what the heap claimed
//! meanwhile counted as returned), and that the kernel's invariant check
//! (`sysctl debug.check`: PID map, threads and tasks, frames) finds
//! nothing. It prints
//! `stress: N rounds by W workers in Ts` and `stress: ok` (exit 0).
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use tine_rt::memcheck;
use tine_rt::syscall::{self, CStrArray, Errno, VforkExec, nr, signal as sig};
use tine_rt::{Args, println};

tine_rt::entry!(main);

const WNOHANG: i32 = 1;
const SIGKILL: i32 = 9;
const SIGUSR1: i32 = 10;
const PAGE_WORDS: usize = 512;

/// A page both sides of a fork write.
#[repr(align(4096))]
struct Page([AtomicU64; PAGE_WORDS]);
static PAGE: Page = Page([const { AtomicU64::new(0) }; PAGE_WORDS]);

/// `SIGUSR1`s a signal child has seen.
static USR1: AtomicU32 = AtomicU32::new(0);

fn parse(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |n, &c| {
        n.checked_mul(10)?
            .checked_add((c as char).to_digit(10)? as u64)
    })
}

fn now() -> u64 {
    syscall::clock_gettime(1).unwrap_or(0)
}

fn main(args: Args) -> i32 {
    let (mut seconds, mut workers) = (60, 0);
    let mut i = 1;
    while let Some(word) = args.get(i) {
        let value = args.get(i + 1).and_then(parse);
        match (word, value) {
            (b"--seconds", Some(v)) => seconds = v,
            (b"--workers", Some(v)) => workers = v,
            _ => {
                println!("usage: stress [--seconds T] [--workers W]");
                return 2;
            }
        }
        i += 2;
    }
    if workers == 0 {
        let mut buf = [0u8; 64 * 64];
        // cpuinfo returns the number of records (CPUs).
        let cpus = syscall::tine_info(nr::TINE_CPUINFO, &mut buf).unwrap_or(1) as u64;
        workers = (2 * cpus).clamp(1, 64);
    }
    let before = memcheck::meminfo();
    let start = now();
    let deadline = start + seconds * 1_000_000_000;
    let Ok([report_r, report_w]) = syscall::pipe2(0o4000) else {
        println!("stress: FAILED: pipe2");
        return 1;
    };
    let mut pids = [0i32; 64];
    for (w, slot) in pids.iter_mut().enumerate().take(workers as usize) {
        match syscall::fork() {
            Ok(0) => {
                let _ = syscall::close(report_r);
                let rounds = worker(w as u64, deadline);
                let _ = syscall::write(report_w, &rounds.to_le_bytes());
                syscall::exit_group(i32::from(rounds == u64::MAX))
            }
            Ok(pid) => *slot = pid,
            Err(e) => {
                println!("stress: FAILED: fork of worker {w}: {e}");
                return 1;
            }
        }
    }
    let mut ok = true;
    let mut rounds = 0u64;
    let mut last = start;
    let mut left = workers;
    while left > 0 {
        match syscall::wait4(-1, WNOHANG) {
            Ok((0, _)) => {
                let t = now();
                if t - last >= 5_000_000_000 {
                    last = t;
                    println!(
                        "stress: {}s, {} workers running",
                        (t - start) / 1_000_000_000,
                        left
                    );
                }
                let _ = syscall::nanosleep(20_000_000);
            }
            Ok((pid, status)) => {
                if let Some(w) = pids.iter().position(|&p| p == pid) {
                    left -= 1;
                    // 0: ok; 1: it printed why.
                    if status != 0 {
                        println!("stress: FAILED: worker {w} ended with status {status:#x}");
                        ok = false;
                    }
                } else {
                    println!("stress: FAILED: reaped an unknown child {pid}");
                    ok = false;
                }
            }
            Err(e) => {
                println!("stress: FAILED: wait4: {e}");
                ok = false;
                break;
            }
        }
    }
    let mut buf = [0u8; 8];
    while let Ok(8) = syscall::read(report_r, &mut buf) {
        rounds += u64::from_le_bytes(buf);
    }
    if syscall::wait4(-1, WNOHANG) != Err(Errno::ECHILD) {
        println!("stress: FAILED: a child is left after the workers");
        ok = false;
    }
    if !memcheck::after_run("stress", &before) {
        ok = false;
    }
    println!(
        "stress: {} rounds by {} workers in {}s",
        rounds,
        workers,
        (now() - start) / 1_000_000_000
    );
    if ok {
        println!("stress: ok");
        0
    } else {
        1
    }
}

macro_rules! fail {
    ($w:expr, $($arg:tt)*) => {{
        println!("stress: FAILED: worker {}: {}", $w, format_args!($($arg)*));
        return u64::MAX;
    }};
}

fn wait_status(pid: i32) -> Result<i32, Errno> {
    syscall::wait4(pid, 0).map(|(_, s)| s)
}

/// One worker's rounds until `deadline`: how many (`u64::MAX` after a
/// failed check, which it printed).
fn worker(w: u64, deadline: u64) -> u64 {
    let handler = sig::SigAction::handler(on_usr1, 0, 0);
    if sig::sigaction(SIGUSR1, Some(&handler), None).is_err() {
        fail!(w, "sigaction");
    }
    let nop_path = c"/bin/nop";
    let argv_strings = [nop_path, c"stress"];
    let Ok(argv) = CStrArray::new(&argv_strings) else {
        fail!(w, "argv");
    };
    let Ok(envp) = CStrArray::new(&[]) else {
        fail!(w, "envp");
    };
    let nop = [c"/bin/nop"];
    let Ok(nop_argv) = CStrArray::new(&nop) else {
        fail!(w, "argv");
    };
    let mut rounds = 0u64;
    while now() < deadline {
        let value = (w << 32) | rounds;
        // 1. COW.
        for word in &PAGE.0 {
            word.store(value, Ordering::Relaxed);
        }
        match syscall::fork() {
            Ok(0) => {
                let seen = PAGE.0.iter().all(|x| x.load(Ordering::Relaxed) == value);
                for word in &PAGE.0 {
                    word.store(!value, Ordering::Relaxed);
                }
                syscall::exit_group(if seen { 0 } else { 3 })
            }
            Ok(pid) => match wait_status(pid) {
                Ok(0) => {}
                other => fail!(w, "COW child: {other:?}"),
            },
            Err(e) => fail!(w, "fork: {e}"),
        }
        if !PAGE.0.iter().all(|x| x.load(Ordering::Relaxed) == value) {
            fail!(w, "the child's writes reached the parent's page");
        }
        // 2. vfork + exec.
        let req = VforkExec {
            path: Some(nop_path),
            argv: &argv,
            envp: &envp,
            pgid: -1,
        };
        match syscall::vfork_exec(nr::VFORK, 0, &req) {
            Ok((pid, None)) => match wait_status(pid) {
                Ok(0) => {}
                other => fail!(w, "vfork+exec child: {other:?}"),
            },
            other => fail!(w, "vfork+exec: {other:?}"),
        }
        // 3. spawn (rfork RFSPAWN).
        let req = VforkExec {
            path: Some(nop[0]),
            argv: &nop_argv,
            envp: &envp,
            pgid: -1,
        };
        const RFSPAWN: usize = 1 << 31;
        match syscall::vfork_exec(nr::TINE_RFORK, RFSPAWN, &req) {
            Ok((pid, None)) => match wait_status(pid) {
                Ok(0) => {}
                other => fail!(w, "spawn child: {other:?}"),
            },
            other => fail!(w, "spawn: {other:?}"),
        }
        // 4. fork + exec.
        match syscall::fork() {
            Ok(0) => {
                let e = syscall::execve(nop_path, &argv_strings, &[]);
                syscall::exit_group(100 + e.0)
            }
            Ok(pid) => match wait_status(pid) {
                Ok(0) => {}
                other => fail!(w, "fork+exec child: {other:?}"),
            },
            Err(e) => fail!(w, "fork: {e}"),
        }
        // 5. A pipe.
        let Ok([r, wr]) = syscall::pipe2(0) else {
            fail!(w, "pipe2");
        };
        match syscall::fork() {
            Ok(0) => {
                let _ = syscall::close(r);
                let mut chunk = [0u8; 1024];
                for k in 0..16u64 {
                    for (i, b) in chunk.iter_mut().enumerate() {
                        *b = (k as usize * 1024 + i + w as usize) as u8;
                    }
                    if syscall::write_all(wr, &chunk).is_err() {
                        syscall::exit_group(4);
                    }
                }
                syscall::exit_group(0)
            }
            Ok(pid) => {
                let _ = syscall::close(wr);
                let mut got = 0usize;
                let mut buf = [0u8; 1500];
                loop {
                    match syscall::read(r, &mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            for (i, &b) in buf[..n].iter().enumerate() {
                                if b != (got + i + w as usize) as u8 {
                                    fail!(w, "pipe byte {} is {b}", got + i);
                                }
                            }
                            got += n;
                        }
                        Err(e) => fail!(w, "pipe read: {e}"),
                    }
                }
                let _ = syscall::close(r);
                if got != 16 * 1024 {
                    fail!(w, "pipe carried {got} bytes");
                }
                match wait_status(pid) {
                    Ok(0) => {}
                    other => fail!(w, "pipe writer: {other:?}"),
                }
            }
            Err(e) => fail!(w, "fork: {e}"),
        }
        // 6. Signals.
        match syscall::fork() {
            Ok(0) => {
                USR1.store(0, Ordering::Relaxed);
                loop {
                    let _ = syscall::nanosleep(1_000_000);
                }
            }
            Ok(pid) => {
                if syscall::kill(pid, SIGUSR1).is_err() {
                    fail!(w, "kill SIGUSR1");
                }
                if syscall::kill(pid, SIGKILL).is_err() {
                    fail!(w, "kill SIGKILL");
                }
                match wait_status(pid) {
                    Ok(s) if s & 0x7f == SIGKILL => {}
                    other => fail!(w, "signal child: {other:?}"),
                }
            }
            Err(e) => fail!(w, "fork: {e}"),
        }
        rounds += 1;
    }
    rounds
}

extern "C" fn on_usr1(_: i32, _: *mut u8, _: *mut u8) {
    USR1.fetch_add(1, Ordering::Relaxed);
}
