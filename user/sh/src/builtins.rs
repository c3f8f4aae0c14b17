//! The builtins: one table (name, arguments, one-line help, function),
//! which `help` prints.
//!
//! A builtin alone on a line without redirections runs in the shell
//! itself; in a pipeline, with a redirection or with `&`, a forked child
//! runs it with its fds wired like a program's (`jobs::run_job`).

use alloc::string::String;
use alloc::vec::Vec;
use tine_rt::syscall;
use tine_rt::{eprintln, println};

use crate::{Shell, forkcmds, info, jobs, report};

/// A builtin's code: `argv` includes the name; returns the status.
type Run = fn(&mut Shell, &[String]) -> i32;

/// One builtin.
pub struct Builtin {
    pub name: &'static str,
    pub args: &'static str,
    pub help: &'static str,
    pub run: Run,
}

/// Every builtin, in `help`'s order.
pub const BUILTINS: &[Builtin] = &[
    b("help", "", "list the builtins", help),
    b(
        "cd",
        "[DIR]",
        "change the working directory (default /)",
        cd,
    ),
    b("pwd", "", "print the working directory", pwd),
    b("echo", "[ARG...]", "print the arguments", echo),
    b("exit", "[N]", "leave the shell with status N", exit),
    b("jobs", "", "list background and stopped jobs", jobs_cmd),
    b("fg", "[%N|PID]", "continue a job in the foreground", fg),
    b(
        "wait",
        "[%N|PID]",
        "wait for background jobs (all, or one)",
        wait,
    ),
    b(
        "kill",
        "[-SIG] PID|%N...",
        "send a signal (default TERM)",
        kill,
    ),
    b(
        "ps",
        "[-T]",
        "processes: pid, ppid, pgid, state, cpu, threads, command (-T: a line per thread)",
        info::ps,
    ),
    b("pstree", "", "processes as a tree", info::pstree),
    b(
        "cpus",
        "",
        "per-CPU load: polls in 100 ms, tasks, counters",
        info::cpus,
    ),
    b(
        "mem",
        "",
        "physical frames free/used and the kernel heap",
        info::mem,
    ),
    b("uptime", "", "time since boot", info::uptime),
    b(
        "fork",
        "[N]",
        "fork N children that print pid, ppid, CPU; reap them",
        forkcmds::fork,
    ),
    b(
        "threads",
        "[N]",
        "start N threads in one process (each prints TID and CPU), show ps -T",
        threads,
    ),
    b(
        "cow",
        "[PAGES]",
        "fork over written pages; show the COW faults each side takes",
        forkcmds::cow,
    ),
    b(
        "vfork",
        "CMD [ARG...]",
        "vfork, then exec CMD in the child",
        forkcmds::vfork,
    ),
    b(
        "rfork",
        "FLAG... [-- CMD...]",
        "rfork with RF* flags (RFPROC RFFDG RFMEM ...)",
        forkcmds::rfork,
    ),
    b(
        "spawn",
        "CMD [ARG...]",
        "posix_spawn-like: rfork(RFSPAWN) (or vfork) + exec",
        forkcmds::spawn,
    ),
    b(
        "pdfork",
        "[-d] CMD [ARG...]",
        "pdfork + exec; show the descriptor and pdgetpid",
        forkcmds::pdfork,
    ),
    b(
        "forkbomb",
        "[N]",
        "fork until EAGAIN (or N), count, reap all",
        forkcmds::forkbomb,
    ),
    b(
        "sysctl",
        "[NAME[=VALUE]...]",
        "read or set kernel knobs (all without args)",
        info::sysctl,
    ),
    b(
        "ulimit",
        "-u [N|unlimited]",
        "show or set RLIMIT_NPROC",
        info::ulimit,
    ),
    b(
        "trace",
        "",
        "print fork/exec/exit events live until ^C",
        info::trace,
    ),
    b(
        "bench",
        "[NAME...]",
        "run in-kernel benchmarks (output on the console)",
        info::bench,
    ),
    b(
        "poweroff",
        "[STATUS]",
        "power the machine off (QEMU exits 33, or 35 for a non-zero STATUS)",
        info::poweroff,
    ),
];

const fn b(name: &'static str, args: &'static str, help: &'static str, run: Run) -> Builtin {
    Builtin {
        name,
        args,
        help,
        run,
    }
}

/// The builtin called `name`.
pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// Runs builtin `argv[0]` (which must exist).
pub fn run(shell: &mut Shell, argv: &[String]) -> i32 {
    match find(&argv[0]) {
        Some(b) => (b.run)(shell, argv),
        None => 127,
    }
}

/// Parses a number argument, printing `cmd: bad number` when it is not.
pub fn number<T: core::str::FromStr>(cmd: &str, arg: &str) -> Option<T> {
    let n = arg.parse().ok();
    if n.is_none() {
        eprintln!("{cmd}: bad number '{arg}'");
    }
    n
}

fn help(_: &mut Shell, _: &[String]) -> i32 {
    for b in BUILTINS {
        let mut left = String::from(b.name);
        if !b.args.is_empty() {
            left.push(' ');
            left.push_str(b.args);
        }
        println!("  {left:<26} {}", b.help);
    }
    println!("Programs run from /bin with arguments; `a | b`, `< f`, `> f`, `>> f`, `&`, `;`.");
    0
}

fn cd(_: &mut Shell, argv: &[String]) -> i32 {
    let dir = argv.get(1).map_or("/", String::as_str);
    let Ok(c) = alloc::ffi::CString::new(dir) else {
        return 1;
    };
    match syscall::chdir(&c) {
        Ok(()) => 0,
        Err(e) => {
            report(&alloc::format!("cd: {dir}"), e);
            1
        }
    }
}

fn pwd(_: &mut Shell, _: &[String]) -> i32 {
    match crate::cwd() {
        Ok(cwd) => {
            println!("{cwd}");
            0
        }
        Err(e) => {
            report("pwd", e);
            1
        }
    }
}

fn echo(_: &mut Shell, argv: &[String]) -> i32 {
    let (newline, words) = match argv.get(1).map(String::as_str) {
        Some("-n") => (false, &argv[2..]),
        _ => (true, &argv[1..]),
    };
    let mut line = words.join(" ");
    if newline {
        line.push('\n');
    }
    match syscall::write_all(1, line.as_bytes()) {
        Ok(()) => 0,
        Err(e) => {
            report("echo", e);
            1
        }
    }
}

fn exit(shell: &mut Shell, argv: &[String]) -> i32 {
    let status = match argv.get(1) {
        Some(n) => match number::<i32>("exit", n) {
            Some(n) => n,
            None => return 2,
        },
        None => shell.status,
    };
    shell.exit = Some(status);
    status
}

/// `jobs`: one line per job: the live ones with their state, then the
/// finished ones with how they ended (and they are dropped).
fn jobs_cmd(shell: &mut Shell, _: &[String]) -> i32 {
    shell.jobs.reap_background(false);
    for job in shell.jobs.jobs.iter().filter(|j| !j.done()) {
        jobs::print_job(job);
    }
    shell.jobs.announce_done();
    0
}

fn fg(shell: &mut Shell, argv: &[String]) -> i32 {
    jobs::foreground(shell, argv.get(1).map(String::as_str))
}

fn wait(shell: &mut Shell, argv: &[String]) -> i32 {
    let ids: Vec<usize> = match argv.get(1) {
        Some(spec) => match shell.jobs.find(spec) {
            Some(job) => alloc::vec![job.id],
            None => {
                eprintln!("wait: no such job '{spec}'");
                return 127;
            }
        },
        None => shell.jobs.jobs.iter().map(|j| j.id).collect(),
    };
    let mut code = 0;
    for id in ids {
        if let Some(s) = shell.jobs.wait_job(id) {
            code = s.code();
        }
    }
    shell.jobs.announce_done();
    code
}

/// `threads [N]`: `/bin/threads -s N` in the background (N threads of one
/// process print their TID and CPU, then stay for a second), `ps -T`
/// while they are alive (a line per thread, THR counting them), then
/// waits for it.
fn threads(shell: &mut Shell, argv: &[String]) -> i32 {
    let n: u32 = match argv.get(1) {
        Some(a) => match number("threads", a) {
            Some(n) if (1..=10_000).contains(&n) => n,
            _ => return 2,
        },
        None => 4,
    };
    let line = alloc::format!("/bin/threads -s {n} &");
    let Ok(parsed) = sh::parse::parse(&line) else {
        return 1;
    };
    for job in &parsed {
        jobs::run_job(shell, job);
    }
    // Long enough for every thread to start and report.
    let _ = syscall::nanosleep(300_000_000);
    info::ps(shell, &[String::from("ps"), String::from("-T")]);
    wait(shell, &[String::from("wait")])
}

fn kill(shell: &mut Shell, argv: &[String]) -> i32 {
    let mut args = &argv[1..];
    let mut sig: i32 = sh::signal::SIGTERM.into();
    if let Some(s) = args.first().and_then(|a| a.strip_prefix('-')) {
        match sh::signal::parse(s) {
            Some(n) => sig = n,
            None => {
                eprintln!("kill: unknown signal '{s}'");
                return 2;
            }
        }
        args = &args[1..];
    }
    if args.is_empty() {
        eprintln!("usage: kill [-SIG] PID|%N...");
        return 2;
    }
    let mut code = 0;
    for target in args {
        let pid = if target.starts_with('%') {
            match shell.jobs.find(target) {
                Some(job) => -job.pgid,
                None => {
                    eprintln!("kill: no such job '{target}'");
                    code = 1;
                    continue;
                }
            }
        } else {
            match number::<i32>("kill", target) {
                Some(p) => p,
                None => {
                    code = 2;
                    continue;
                }
            }
        };
        if let Err(e) = syscall::kill(pid, sig) {
            report(&alloc::format!("kill: {target}"), e);
            code = 1;
        }
    }
    code
}
