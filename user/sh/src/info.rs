//! Builtins over Tine's own calls: `ps`, `pstree`, `cpus`, `mem`,
//! `uptime`, `sysctl`, `ulimit`, `trace`, `bench`, `poweroff`. The record
//! layouts are decoded by the library (`sh::records`).

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use sh::errno::Name;
use sh::records::{
    CpuRecord, ForkEvent, MemRecord, ProcRecord, ThreadRecord, VmRecord, decode_all, name_str,
};
use tine_rt::syscall::{self, Errno, nr};
use tine_rt::{eprintln, print, println};

use crate::{Shell, jobs, report};

/// Reads a list call's records, growing the buffer until they fit (the
/// call returns how many exist, which may exceed what it wrote).
fn records(call: u64, size: usize) -> Result<Vec<u8>, Errno> {
    let mut cap = 64;
    loop {
        let mut buf = vec![0u8; cap * size];
        let n = syscall::tine_info(call, &mut buf)?;
        if n <= cap {
            buf.truncate(n * size);
            return Ok(buf);
        }
        cap = n + 16;
    }
}

/// The process table.
pub fn processes() -> Result<Vec<ProcRecord>, Errno> {
    records(nr::TINE_PROCLIST, ProcRecord::SIZE)
        .map(|b| decode_all(&b, ProcRecord::SIZE, ProcRecord::from_bytes))
}

/// This process's fault counters (`None` when the call fails).
pub fn vmstat() -> Option<VmRecord> {
    let mut buf = [0u8; VmRecord::SIZE];
    syscall::tine_info(nr::TINE_VMSTAT, &mut buf).ok()?;
    VmRecord::from_bytes(&buf)
}

/// `ps` (one line per process, `THR` its threads) or `ps -T` (one line
/// per thread, `SPID` its TID, as Linux's `ps -T`).
pub fn ps(_: &mut Shell, argv: &[String]) -> i32 {
    match argv.get(1).map(String::as_str) {
        None => {}
        Some("-T") => {
            let threads = records(nr::TINE_THREADLIST, ThreadRecord::SIZE)
                .map(|b| decode_all(&b, ThreadRecord::SIZE, ThreadRecord::from_bytes));
            return match processes().and_then(|p| Ok((p, threads?))) {
                Ok((procs, threads)) => {
                    print!("{}", sh::records::ps_threads(&procs, &threads));
                    0
                }
                Err(e) => {
                    report("ps", e);
                    1
                }
            };
        }
        Some(other) => {
            eprintln!("ps: unknown option '{other}' (usage: ps [-T])");
            return 2;
        }
    }
    match processes() {
        Ok(procs) => {
            println!("  PID  PPID  PGID S CPU THR COMMAND");
            for p in procs {
                let cpu = if p.cpu < 0 {
                    String::from("-")
                } else {
                    alloc::format!("{}", p.cpu)
                };
                println!(
                    "{:>5} {:>5} {:>5} {} {:>3} {:>3} {}",
                    p.pid,
                    p.ppid,
                    p.pgid,
                    char::from(p.state),
                    cpu,
                    p.threads,
                    name_str(&p.name)
                );
            }
            0
        }
        Err(e) => {
            report("ps", e);
            1
        }
    }
}

pub fn pstree(_: &mut Shell, _: &[String]) -> i32 {
    match processes() {
        Ok(procs) => {
            print!("{}", sh::records::pstree(&procs));
            0
        }
        Err(e) => {
            report("pstree", e);
            1
        }
    }
}

fn cpu_records() -> Result<Vec<CpuRecord>, Errno> {
    records(nr::TINE_CPUINFO, CpuRecord::SIZE)
        .map(|b| decode_all(&b, CpuRecord::SIZE, CpuRecord::from_bytes))
}

/// How long `cpus` samples.
const SAMPLE_NS: u64 = 100_000_000;

pub fn cpus(_: &mut Shell, _: &[String]) -> i32 {
    let first = match cpu_records() {
        Ok(r) => r,
        Err(e) => {
            report("cpus", e);
            return 1;
        }
    };
    // Two samples: the polls in between are the CPU's recent load.
    let second = match syscall::nanosleep(SAMPLE_NS) {
        Ok(()) => cpu_records().ok(),
        Err(_) => None,
    };
    println!("CPU APIC  POLLS/100ms  LIVE QUEUED STATE      POLLS  SPAWNED   STOLEN");
    for (i, c) in first.iter().enumerate() {
        let recent = second
            .as_ref()
            .and_then(|s| s.get(i))
            .map_or(String::from("-"), |s| {
                alloc::format!("{}", s.polls.saturating_sub(c.polls))
            });
        let now = second.as_ref().and_then(|s| s.get(i)).unwrap_or(c);
        println!(
            "{:>3} {:>4} {:>12} {:>5} {:>6} {:<6} {:>10} {:>8} {:>8}",
            c.cpu,
            c.apic,
            recent,
            now.live,
            now.queued,
            if now.idle { "idle" } else { "busy" },
            now.polls,
            now.spawned,
            now.stolen
        );
    }
    0
}

pub fn mem(_: &mut Shell, _: &[String]) -> i32 {
    let mut buf = [0u8; MemRecord::SIZE];
    if let Err(e) = syscall::tine_info(nr::TINE_MEMINFO, &mut buf) {
        report("mem", e);
        return 1;
    }
    print!("{}", MemRecord::from_bytes(&buf).unwrap_or_default());
    0
}

pub fn uptime(_: &mut Shell, _: &[String]) -> i32 {
    match syscall::clock_gettime(syscall::CLOCK_MONOTONIC) {
        Ok(ns) => {
            let s = ns / 1_000_000_000;
            print!(
                "up {}:{:02}:{:02}.{:03}",
                s / 3600,
                s / 60 % 60,
                s % 60,
                ns / 1_000_000 % 1000
            );
            match processes() {
                Ok(p) => println!(", {} processes", p.len()),
                Err(_) => println!(),
            }
            0
        }
        Err(e) => {
            report("uptime", e);
            1
        }
    }
}

/// Reads knob `name` (empty: all of them as `name=value` lines): asks
/// for the length first (NULL `old`), then reads; retried if the value
/// grew in between (`ENOMEM`).
fn sysctl_read(name: &str) -> Result<String, Errno> {
    loop {
        let need = syscall::sysctl(name.as_bytes(), &mut [], None)?;
        let mut buf = vec![0u8; need.max(1) + 16];
        match syscall::sysctl(name.as_bytes(), &mut buf, None) {
            Ok(n) => {
                buf.truncate(n.min(buf.len()));
                while buf.last() == Some(&0) {
                    buf.pop();
                }
                return Ok(String::from_utf8_lossy(&buf).into_owned());
            }
            Err(Errno::ENOMEM) => {}
            Err(e) => return Err(e),
        }
    }
}

pub fn sysctl(_: &mut Shell, argv: &[String]) -> i32 {
    if argv.len() < 2 {
        return match sysctl_read("") {
            Ok(all) => {
                for line in all.lines() {
                    match line.split_once('=') {
                        Some((n, v)) => println!("{n}: {v}"),
                        None => println!("{line}"),
                    }
                }
                0
            }
            Err(e) => {
                report("sysctl", e);
                1
            }
        };
    }
    let mut code = 0;
    for arg in &argv[1..] {
        let (name, value) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (arg.as_str(), None),
        };
        let result = match value {
            None => sysctl_read(name).map(|v| alloc::format!("{name}: {v}")),
            Some(v) => {
                let mut old = vec![0u8; 64];
                syscall::sysctl(name.as_bytes(), &mut old, Some(v.as_bytes())).and_then(|n| {
                    let old = String::from_utf8_lossy(&old[..n.min(old.len())]);
                    let now = sysctl_read(name)?;
                    Ok(alloc::format!(
                        "{name}: {} -> {now}",
                        old.trim_end_matches('\0')
                    ))
                })
            }
        };
        match result {
            Ok(line) => println!("{line}"),
            Err(e) => {
                println!("sysctl: {name}: {}", Name(e.0));
                code = 1;
            }
        }
    }
    code
}

fn show_limit(v: u64) -> String {
    if v == syscall::RLIM_INFINITY {
        String::from("unlimited")
    } else {
        alloc::format!("{v}")
    }
}

pub fn ulimit(_: &mut Shell, argv: &[String]) -> i32 {
    if argv.get(1).map(String::as_str) != Some("-u") {
        eprintln!("usage: ulimit -u [N|unlimited]");
        return 2;
    }
    let new = match argv.get(2).map(String::as_str) {
        None => None,
        Some("unlimited") => Some(syscall::RLIM_INFINITY),
        Some(n) => match n.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                eprintln!("ulimit: bad number '{n}'");
                return 2;
            }
        },
    };
    let current = match syscall::prlimit(syscall::RLIMIT_NPROC, None) {
        Ok(l) => l,
        Err(e) => {
            report("ulimit", e);
            return 1;
        }
    };
    match new {
        None => {
            println!("{}", show_limit(current.0));
            0
        }
        Some(n) => {
            // The hard limit follows when the soft one goes above it.
            let hard = if n > current.1 { n } else { current.1 };
            match syscall::prlimit(syscall::RLIMIT_NPROC, Some((n, hard))) {
                Ok(_) => {
                    println!(
                        "max user processes: {} -> {}",
                        show_limit(current.0),
                        show_limit(n)
                    );
                    0
                }
                Err(e) => {
                    report("ulimit", e);
                    1
                }
            }
        }
    }
}

/// `trace`: a child prints the events until ^C kills it.
pub fn trace(shell: &mut Shell, _: &[String]) -> i32 {
    let pid = match syscall::fork() {
        Ok(0) => {
            let _ = syscall::setpgid(0, 0);
            jobs::default_job_signals();
            println!("trace: fork/exec/exit events; ^C stops");
            let mut buf = [0u8; ForkEvent::SIZE * 32];
            loop {
                match syscall::forkevents(&mut buf, 0) {
                    Ok(n) => {
                        for rec in buf[..n].chunks_exact(ForkEvent::SIZE) {
                            println!("{}", ForkEvent::decode(rec).line());
                        }
                    }
                    Err(Errno::EINTR) => {}
                    Err(e) => {
                        report("trace", e);
                        syscall::exit_group(1)
                    }
                }
            }
        }
        Ok(pid) => pid,
        Err(e) => {
            report("trace: fork", e);
            return 1;
        }
    };
    let _ = syscall::setpgid(pid, pid);
    shell.term.give_to(pid);
    jobs::wait_foreground(shell, pid, &[pid], String::from("trace"))
}

pub fn bench(_: &mut Shell, argv: &[String]) -> i32 {
    let names = argv[1..].join(",");
    match syscall::kbench(names.as_bytes()) {
        Ok(_) => 0,
        Err(e) => {
            report("bench", e);
            1
        }
    }
}

pub fn poweroff(_: &mut Shell, argv: &[String]) -> i32 {
    let status = argv.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let e = syscall::poweroff(status);
    report("poweroff", e);
    1
}
