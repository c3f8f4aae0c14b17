//! The fork-family builtins (issue 5, item 11): `fork N`, `cow`, `vfork`,
//! `rfork`, `spawn`, `pdfork`, `forkbomb`.
//!
//! Children that share the shell's memory (`vfork`, `rfork` with `RFMEM`,
//! `RFPPWAIT` or `RFSPAWN`) are made with `tine_rt::syscall::vfork_exec`,
//! whose child runs one `asm!` block and no Rust code (it must not touch
//! the stack the parent resumes on). Children with a copy of the memory
//! run ordinary Rust. Every child that runs a program is a job of its own
//! (own process group, the terminal's foreground), as in `jobs`.

use alloc::ffi::CString;
use alloc::string::String;
use alloc::vec::Vec;
use core::ffi::CStr;
use sh::errno::Name;
use sh::rflags;
use sh::wstatus::WaitStatus;
use tine_rt::syscall::{self, CStrArray, Errno, VforkExec, nr};
use tine_rt::{eprintln, println};

use crate::builtins::number;
use crate::jobs::{self, wait_pid};
use crate::{Shell, info, report};

/// Most children `fork N` makes.
const FORK_MAX: usize = 256;

/// `fork [N]`: N children print pid, ppid and CPU and exit with K; the
/// parent reaps each and prints its status.
pub fn fork(_: &mut Shell, argv: &[String]) -> i32 {
    let n = match argv.get(1) {
        Some(a) => match number::<usize>("fork", a) {
            Some(n) if (1..=FORK_MAX).contains(&n) => n,
            _ => {
                eprintln!("fork: N must be 1..={FORK_MAX}");
                return 2;
            }
        },
        None => 3,
    };
    let mut pids = Vec::new();
    for k in 1..=n {
        match syscall::fork() {
            Ok(0) => {
                let cpu = syscall::getcpu().map_or(-1, |c| c as i64);
                println!(
                    "child {k}: pid {} ppid {} cpu {cpu}",
                    syscall::getpid(),
                    syscall::getppid()
                );
                syscall::exit_group(k as i32 & 0xff)
            }
            Ok(pid) => pids.push(pid),
            Err(e) => {
                report(&alloc::format!("fork: child {k}"), e);
                break;
            }
        }
    }
    let mut code = 0;
    for (i, &pid) in pids.iter().enumerate() {
        match wait_pid(pid, 0) {
            Ok(s) => {
                println!("reaped child {} (pid {pid}): {s}", i + 1);
                if s != WaitStatus::Exited((i as i32 + 1) & 0xff) {
                    code = 1;
                }
            }
            Err(e) => {
                report(&alloc::format!("fork: wait4 {pid}"), e);
                code = 1;
            }
        }
    }
    println!(
        "parent {}: reaped {} children",
        syscall::getpid(),
        pids.len()
    );
    if pids.len() < n { 1 } else { code }
}

/// `cow [PAGES]`: map PAGES pages and write them (zero-fill faults), fork;
/// the child writes every page again (copy-on-write copies) and prints
/// its fault counters; then the parent, alone again, writes (reuses).
pub fn cow(_: &mut Shell, argv: &[String]) -> i32 {
    const PAGE: usize = 4096;
    let pages = match argv.get(1) {
        Some(a) => match number::<usize>("cow", a) {
            Some(n) if (1..=4096).contains(&n) => n,
            _ => {
                eprintln!("cow: PAGES must be 1..=4096");
                return 2;
            }
        },
        None => 16,
    };
    let mut mem: Vec<u8> = Vec::new();
    if mem.try_reserve_exact(pages * PAGE).is_err() {
        eprintln!("cow: ENOMEM");
        return 1;
    }
    let before = info::vmstat();
    mem.resize(pages * PAGE, 1);
    // Page-aligned start within the buffer: write one byte per page.
    let touch = |mem: &mut Vec<u8>, value: u8| {
        for page in 0..pages {
            mem[page * PAGE] = value;
        }
    };
    touch(&mut mem, 1);
    let parent_fill = info::vmstat().zip(before).map(|(a, b)| a.since(&b));
    if let Some(d) = parent_fill {
        println!(
            "parent: {pages} pages mapped and written: {} zero-fill faults",
            d.zero_fills
        );
    }
    let pid = match syscall::fork() {
        Ok(0) => {
            let start = info::vmstat();
            touch(&mut mem, 2);
            let end = info::vmstat();
            match start.zip(end) {
                Some((s, e)) => {
                    let d = e.since(&s);
                    println!(
                        "child {}: wrote {pages} pages: {} COW copies, {} reuses, {} zero-fills",
                        syscall::getpid(),
                        d.cow_copies,
                        d.cow_reuses,
                        d.zero_fills
                    );
                }
                None => {
                    println!("child: wrote {pages} pages (no fault counters: TINE_VMSTAT failed)")
                }
            }
            syscall::exit_group(0)
        }
        Ok(pid) => pid,
        Err(e) => {
            report("cow: fork", e);
            return 1;
        }
    };
    let status = wait_pid(pid, 0);
    let intact = (0..pages).all(|p| mem[p * PAGE] == 1);
    println!(
        "parent: child {pid} {}; parent's pages {}",
        status.map_or_else(
            |e| alloc::format!("{}", Name(e.0)),
            |s| alloc::format!("{s}")
        ),
        if intact {
            "unchanged"
        } else {
            "CHANGED (COW broken)"
        }
    );
    let start = info::vmstat();
    touch(&mut mem, 3);
    if let Some((s, e)) = start.zip(info::vmstat()) {
        let d = e.since(&s);
        println!(
            "parent: wrote {pages} pages again: {} COW copies, {} reuses",
            d.cow_copies, d.cow_reuses
        );
    }
    if intact { 0 } else { 1 }
}

/// A program to run: its path candidates and C strings, kept alive for a
/// `vfork_exec` child.
struct Program {
    paths: Vec<CString>,
    _args: Vec<CString>,
    _env: Vec<CString>,
    argv: CStrArray,
    envp: CStrArray,
    text: String,
}

impl Program {
    fn new(argv: &[String]) -> Result<Self, Errno> {
        let args = jobs::c_args(argv)?;
        let env = jobs::envp();
        let arg_refs: Vec<&CStr> = args.iter().map(|a| a.as_c_str()).collect();
        let env_refs: Vec<&CStr> = env.iter().map(|a| a.as_c_str()).collect();
        let argv_arr = CStrArray::new(&arg_refs)?;
        let envp_arr = CStrArray::new(&env_refs)?;
        let paths = jobs::candidates(&argv[0])
            .into_iter()
            .filter_map(|p| CString::new(p).ok())
            .collect();
        Ok(Self {
            paths,
            _args: args,
            _env: env,
            argv: argv_arr,
            envp: envp_arr,
            text: argv.join(" "),
        })
    }

    /// Creates the child with `call(arg)` and execs the program in it,
    /// trying each path until one is not `ENOENT`.
    fn vfork_exec(&self, call: u64, arg: usize) -> Result<i32, Errno> {
        let mut last = Errno::ENOENT;
        for path in &self.paths {
            let req = VforkExec {
                path: Some(path.as_c_str()),
                argv: &self.argv,
                envp: &self.envp,
                pgid: 0,
            };
            match syscall::vfork_exec(call, arg, &req)? {
                (pid, None) => return Ok(pid),
                (pid, Some(e)) => {
                    // The child exited 127 after the failed exec.
                    let _ = wait_pid(pid, 0);
                    if e != Errno::ENOENT && e != Errno::ENOTDIR {
                        return Err(e);
                    }
                    last = e;
                }
            }
        }
        Err(last)
    }
}

/// Waits for `pid`, the one process of a foreground job it leads.
fn foreground(shell: &mut Shell, pid: i32, text: String) -> i32 {
    let _ = syscall::setpgid(pid, pid);
    shell.term.give_to(pid);
    jobs::wait_foreground(shell, pid, &[pid], text)
}

fn usage(cmd: &str, args: &str) -> i32 {
    eprintln!("usage: {cmd} {args}");
    2
}

/// `vfork CMD [ARG...]`.
pub fn vfork(shell: &mut Shell, argv: &[String]) -> i32 {
    if argv.len() < 2 {
        return usage("vfork", "CMD [ARG...]");
    }
    run_shared(shell, "vfork", nr::VFORK, 0, &argv[1..])
}

/// `spawn CMD [ARG...]`: `rfork(RFSPAWN)` + exec, or `vfork` + exec where
/// the kernel has no RFSPAWN.
pub fn spawn(shell: &mut Shell, argv: &[String]) -> i32 {
    if argv.len() < 2 {
        return usage("spawn", "CMD [ARG...]");
    }
    let program = match Program::new(&argv[1..]) {
        Ok(p) => p,
        Err(e) => {
            report("spawn", e);
            return 1;
        }
    };
    let r = match program.vfork_exec(nr::TINE_RFORK, rflags::RFSPAWN as usize) {
        Err(Errno::ENOSYS | Errno::EINVAL) => {
            println!("spawn: no rfork(RFSPAWN); using vfork");
            program.vfork_exec(nr::VFORK, 0)
        }
        r => r,
    };
    finish_shared(shell, "spawn", &program, r)
}

/// Runs `argv` in a child made by `call(arg)` sharing our memory.
fn run_shared(shell: &mut Shell, cmd: &str, call: u64, arg: usize, argv: &[String]) -> i32 {
    let program = match Program::new(argv) {
        Ok(p) => p,
        Err(e) => {
            report(cmd, e);
            return 1;
        }
    };
    let r = program.vfork_exec(call, arg);
    finish_shared(shell, cmd, &program, r)
}

fn finish_shared(shell: &mut Shell, cmd: &str, program: &Program, r: Result<i32, Errno>) -> i32 {
    match r {
        Ok(pid) => {
            println!("{cmd}: child {pid}");
            foreground(shell, pid, program.text.clone())
        }
        Err(e) => {
            report(&alloc::format!("{cmd}: {}", program.text), e);
            if e == Errno::ENOENT { 127 } else { 1 }
        }
    }
}

/// `rfork FLAG... [-- CMD...]`.
pub fn rfork(shell: &mut Shell, argv: &[String]) -> i32 {
    let split = argv.iter().position(|a| a == "--");
    let (flag_args, cmd) = match split {
        Some(at) => (&argv[1..at], &argv[at + 1..]),
        None => (&argv[1..], &argv[argv.len()..]),
    };
    if flag_args.is_empty() {
        let names: Vec<&str> = rflags::NAMES.iter().map(|&(n, _)| n).collect();
        eprintln!(
            "usage: rfork FLAG... [-- CMD...]; flags: {}",
            names.join(" ")
        );
        return 2;
    }
    let flags = match rflags::parse(flag_args.iter().map(String::as_str)) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("rfork: {e}");
            return 2;
        }
    };
    // Flags whose child shares our memory (and stack).
    let shared = flags & rflags::RFSPAWN != 0
        || (flags & rflags::RFPROC != 0 && flags & (rflags::RFMEM | rflags::RFPPWAIT) != 0);
    let mut flags = flags;
    if shared && !cmd.is_empty() && flags & (rflags::RFPPWAIT | rflags::RFSPAWN) == 0 {
        // A child on our memory that runs a program reads its strings
        // after the call: we must not run on until it has exec'd.
        println!("rfork: RFMEM with a command: adding RFPPWAIT (we wait for its exec)");
        flags |= rflags::RFPPWAIT;
    }
    println!("rfork: flags {} ({flags:#x})", rflags::describe(flags));
    if shared {
        // The child shares our stack: only vfork_exec's child is safe.
        let r = if cmd.is_empty() {
            let empty = CStrArray::new(&[]).expect("empty fits");
            let req = VforkExec {
                path: None,
                argv: &empty,
                envp: &empty,
                pgid: 0,
            };
            syscall::vfork_exec(nr::TINE_RFORK, flags as usize, &req).map(|(pid, _)| pid)
        } else {
            match Program::new(cmd) {
                Ok(p) => p.vfork_exec(nr::TINE_RFORK, flags as usize),
                Err(e) => Err(e),
            }
        };
        return match r {
            Ok(0) => {
                println!("rfork: no new process (no RFPROC)");
                0
            }
            Ok(pid) => after_rfork(shell, flags, pid, cmd),
            Err(e) => {
                println!("rfork: {}", Name(e.0));
                1
            }
        };
    }
    match syscall::rfork(flags) {
        Ok(0) if flags & rflags::RFPROC != 0 => {
            println!(
                "rfork child: pid {} ppid {}",
                syscall::getpid(),
                syscall::getppid()
            );
            if cmd.is_empty() {
                syscall::exit_group(0);
            }
            let _ = syscall::setpgid(0, 0);
            jobs::default_job_signals();
            let e = jobs::exec(cmd);
            report(&alloc::format!("rfork: {}", cmd[0]), e);
            syscall::exit_group(127)
        }
        Ok(0) => {
            println!("rfork: done in place (no RFPROC)");
            0
        }
        Ok(pid) => after_rfork(shell, flags, pid, cmd),
        Err(e) => {
            println!("rfork: {}", Name(e.0));
            1
        }
    }
}

/// The parent's side after rfork made child `pid`.
fn after_rfork(shell: &mut Shell, flags: u32, pid: i32, cmd: &[String]) -> i32 {
    println!("rfork: child {pid}");
    let text = if cmd.is_empty() {
        String::from("rfork")
    } else {
        cmd.join(" ")
    };
    if flags & rflags::RFNOWAIT != 0 {
        println!("rfork: RFNOWAIT: child {pid} belongs to the reaper, not to us");
        return 0;
    }
    if flags & rflags::RFSTOPPED != 0 {
        println!("rfork: child {pid} created stopped; `kill -CONT {pid}` resumes it");
        let id = shell.jobs.jobs.iter().map(|j| j.id).max().unwrap_or(0) + 1;
        shell.jobs.jobs.push(jobs::JobEntry {
            id,
            pgid: pid,
            pids: alloc::vec![(pid, None)],
            text,
            stopped: true,
        });
        return 0;
    }
    foreground(shell, pid, text)
}

/// `pdfork [-d] CMD [ARG...]`.
pub fn pdfork(shell: &mut Shell, argv: &[String]) -> i32 {
    let (flags, cmd) = match argv.get(1).map(String::as_str) {
        Some("-d") => (1u32, &argv[2..]), // PD_DAEMON
        _ => (0u32, &argv[1..]),
    };
    if cmd.is_empty() {
        return usage("pdfork", "[-d] CMD [ARG...]");
    }
    let (pid, fd) = match syscall::pdfork(flags) {
        Ok((0, _)) => {
            let _ = syscall::setpgid(0, 0);
            jobs::default_job_signals();
            let e = jobs::exec(cmd);
            report(&alloc::format!("pdfork: {}", cmd[0]), e);
            syscall::exit_group(127)
        }
        Ok(r) => r,
        Err(e) => {
            report("pdfork", e);
            return 1;
        }
    };
    match syscall::pdgetpid(fd) {
        Ok(p) => println!("pdfork: child {pid}, descriptor {fd}, pdgetpid {p}"),
        Err(e) => println!(
            "pdfork: child {pid}, descriptor {fd}, pdgetpid {}",
            Name(e.0)
        ),
    }
    let code = foreground(shell, pid, cmd.join(" "));
    let _ = syscall::close(fd);
    code
}

/// `forkbomb [N]`: fork until EAGAIN (or N children); the children wait
/// on a pipe; then it reports the count, closes the pipe and reaps them.
pub fn forkbomb(_: &mut Shell, argv: &[String]) -> i32 {
    const BOMB_MAX: usize = 100_000;
    let limit = match argv.get(1) {
        Some(a) => match number::<usize>("forkbomb", a) {
            Some(n) if (1..=BOMB_MAX).contains(&n) => n,
            _ => {
                eprintln!("forkbomb: N must be 1..={BOMB_MAX}");
                return 2;
            }
        },
        None => BOMB_MAX,
    };
    let pipe = syscall::pipe2(0).ok();
    let mut pids: Vec<i32> = Vec::new();
    let mut stop = None;
    while pids.len() < limit {
        match syscall::fork() {
            Ok(0) => bomb_child(pipe),
            Ok(pid) => pids.push(pid),
            Err(e) => {
                stop = Some(e);
                break;
            }
        }
    }
    match stop {
        Some(e) => println!(
            "forkbomb: {} children, then fork: {}",
            pids.len(),
            Name(e.0)
        ),
        None => println!("forkbomb: {} children (the limit asked for)", pids.len()),
    }
    match pipe {
        Some([r, w]) => {
            let _ = syscall::close(r);
            let _ = syscall::close(w);
        }
        None => {
            for &pid in &pids {
                let _ = syscall::kill(pid, sh::signal::SIGKILL);
            }
        }
    }
    let mut reaped = 0;
    for &pid in &pids {
        if wait_pid(pid, 0).is_ok() {
            reaped += 1;
        }
    }
    println!(
        "forkbomb: reaped {reaped} of {}; the shell survives (pid {})",
        pids.len(),
        syscall::getpid()
    );
    if reaped == pids.len() { 0 } else { 1 }
}

/// A bomb child: waits for the pipe's write end to close (or to be
/// killed), then exits.
fn bomb_child(pipe: Option<[i32; 2]>) -> ! {
    match pipe {
        Some([r, w]) => {
            let _ = syscall::close(w);
            let mut b = [0u8; 1];
            loop {
                match syscall::read(r, &mut b) {
                    Err(Errno::EINTR) => {}
                    _ => syscall::exit_group(0),
                }
            }
        }
        None => loop {
            if syscall::pause() == Errno::ENOSYS {
                let _ = syscall::nanosleep(10_000_000);
            }
        },
    }
}
