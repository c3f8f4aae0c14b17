//! The shell task and its built-in commands (on the machine only).

use super::line;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use core::time::Duration;

use line::{Edit, LineEditor};

pub use crate::syscall::tine::BenchRunner;

/// One built-in command.
struct Command {
    name: &'static str,
    args: &'static str,
    help: &'static str,
}

const COMMANDS: &[Command] = &[
    Command {
        name: "help",
        args: "",
        help: "this list",
    },
    Command {
        name: "cpus",
        args: "",
        help: "CPUs online and their executors' counters",
    },
    Command {
        name: "mem",
        args: "",
        help: "physical frames and heap in use",
    },
    Command {
        name: "uptime",
        args: "",
        help: "time since boot",
    },
    Command {
        name: "spawn",
        args: "N",
        help: "spawn N tasks across the CPUs; each reports where it ran",
    },
    Command {
        name: "sleep",
        args: "MS",
        help: "sleep on the executor's timer queue",
    },
    Command {
        name: "run",
        args: "PATH [ARGS...] [&]",
        help: "run a program of the initramfs (and wait for it, unless &)",
    },
    Command {
        name: "fork",
        args: "[N]",
        help: "run /bin/forks N: N forked children report their CPU",
    },
    Command {
        name: "ps",
        args: "[-T]",
        help: "list processes (-T: threads)",
    },
    Command {
        name: "sysctl",
        args: "[NAME[=VALUE]...]",
        help: "read or set kernel knobs; with no name, list them all",
    },
    Command {
        name: "test",
        args: "[FILTER]",
        help: "run in-kernel tests",
    },
    Command {
        name: "bench",
        args: "[NAME,...]",
        help: "run benchmarks",
    },
    Command {
        name: "poweroff",
        args: "",
        help: "leave QEMU",
    },
];

fn print(args: core::fmt::Arguments<'_>) {
    drivers::serial::write_fmt(args);
}

macro_rules! say {
    ($($t:tt)*) => { print(format_args!($($t)*)) };
}

/// The shell task: prompt, read a line, run it, forever.
pub async fn run(bench: BenchRunner) {
    // The console tty in raw mode: this shell echoes and edits itself.
    let tty = crate::fs::tty::console();
    tty.set_raw();
    let mut input = TtyBytes::default();
    let mut editor = LineEditor::new();
    say!("\nTine shell. Type 'help'.\n");
    loop {
        say!("tine> ");
        let line = loop {
            match editor.feed(input.next(tty).await) {
                Edit::None => {}
                Edit::Echo(bytes) => drivers::serial::write_str(&String::from_utf8_lossy(&bytes)),
                Edit::Line(line) => {
                    say!("\n");
                    break line;
                }
                Edit::Interrupt => {
                    say!("^C\n");
                    break String::new();
                }
                Edit::Eof => {
                    say!("\n");
                    break String::new();
                }
            }
        };
        execute(&line, bench).await;
    }
}

/// Bytes read from the tty, handed out one at a time.
#[derive(Default)]
struct TtyBytes {
    buf: [u8; 32],
    len: usize,
    at: usize,
}

impl TtyBytes {
    async fn next(&mut self, tty: &crate::fs::tty::Tty) -> u8 {
        while self.at == self.len {
            self.len = tty.read(&mut self.buf, false).await.unwrap_or(0);
            self.at = 0;
        }
        self.at += 1;
        self.buf[self.at - 1]
    }
}

/// Runs one command line.
pub async fn execute(line: &str, bench: BenchRunner) {
    let mut words = line.split_whitespace();
    let Some(cmd) = words.next() else { return };
    let rest: Vec<&str> = words.collect();
    match cmd {
        "help" => {
            for c in COMMANDS {
                let mut left = String::from(c.name);
                if !c.args.is_empty() {
                    let _ = write!(left, " {}", c.args);
                }
                say!("  {left:<18} {}\n", c.help);
            }
        }
        "cpus" => cpus(),
        "mem" => mem(),
        "uptime" => {
            let ns = arch::cpu::tsc::now_ns();
            say!("up {}.{:03} s\n", ns / 1_000_000_000, ns / 1_000_000 % 1000);
        }
        "spawn" => {
            spawn(
                rest.first()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(arch::cpu::count()),
            )
            .await
        }
        "sleep" => {
            let ms: u64 = rest.first().and_then(|n| n.parse().ok()).unwrap_or(1000);
            let t0 = arch::cpu::tsc::now_ns();
            crate::task::sleep(Duration::from_millis(ms)).await;
            say!("slept {} µs\n", (arch::cpu::tsc::now_ns() - t0) / 1000);
        }
        "sysctl" => sysctl(&rest),
        "run" => run_program(&rest).await,
        "fork" => {
            let n = rest.first().copied().unwrap_or("3");
            run_program(&["/bin/forks", n]).await
        }
        "ps" => ps(rest.first() == Some(&"-T")),
        "test" => {
            let filter = rest.first().copied().unwrap_or("");
            crate::ktest::run(filter, print).await;
        }
        "bench" => {
            bench(rest.join(",")).await;
        }
        "poweroff" => arch::cpu::exit_qemu(arch::ExitCode::Success),
        other => say!("{other}: unknown command (try 'help')\n"),
    }
}

/// `sysctl [name[=value]]...`: every knob, or the named ones read or set
/// (`crate::proc::sysctl`).
fn sysctl(args: &[&str]) {
    use crate::proc::sysctl;
    if args.is_empty() {
        for (name, value) in sysctl::list() {
            say!("{name}: {value}\n");
        }
        return;
    }
    for arg in args {
        let result = sysctl::parse_assignment(arg).and_then(|(name, value)| {
            let now = match value {
                None => sysctl::get(name)?,
                Some(v) => sysctl::set(name, v)?,
            };
            Ok((name, now))
        });
        match result {
            Ok((name, now)) => say!("{name}: {now}\n"),
            Err(e) => say!("sysctl: {arg}: {e:?}\n"),
        }
    }
}

/// `run PATH [ARGS...] [&]`: argv is the path and the arguments. With a
/// final `&` the shell does not wait; a kernel task reaps the process and
/// reports its status.
async fn run_program(args: &[&str]) {
    use crate::proc::process;
    let (args, background) = match args.split_last() {
        Some((&"&", rest)) => (rest, true),
        _ => (args, false),
    };
    let Some(&path) = args.first() else {
        say!("usage: run PATH [ARGS...] [&]\n");
        return;
    };
    let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    let pid = match process::spawn_process(path, &argv, &[b"HOME=/", b"TERM=vt100"]) {
        Ok(pid) => pid,
        Err(e) => {
            say!("run: {path}: {e}\n");
            return;
        }
    };
    let reap = async move {
        match process::wait(pid).await {
            Ok(status) => say!("[pid {pid} exited with status {status}]\n"),
            Err(e) => say!("run: wait for {pid}: {e}\n"),
        }
    };
    if background {
        say!("[pid {pid}]\n");
        drop(crate::task::spawn(reap));
    } else {
        reap.await;
    }
}

/// `ps`: the process table; `ps -T`: a line per thread (TID, CPU it last
/// ran on, its process's thread count).
fn ps(threads: bool) {
    use crate::proc::process::{self, State};
    if threads {
        say!("  PID   TID  S  CPU  THR  NAME\n");
        for p in process::all() {
            let list = p.threads();
            for t in list.iter() {
                let state = if p.signals().is_stopped() {
                    'T'
                } else if t.is_parked() {
                    'S'
                } else {
                    'R'
                };
                let cpu = t
                    .last_cpu()
                    .map_or_else(|| String::from("-"), |c| alloc::format!("{c}"));
                say!(
                    "{:>5} {:>5}  {state}  {cpu:>3}  {:>3}  {}\n",
                    p.pid(),
                    t.tid(),
                    list.len(),
                    p.name()
                );
            }
        }
        return;
    }
    say!("  PID  PPID  STATE        NAME\n");
    for p in process::list() {
        let state = match p.state {
            State::Running => String::from("running"),
            State::Zombie(status) => alloc::format!("zombie({status})"),
        };
        let mark = if p.system { " [kernel]" } else { "" };
        say!("{:>5} {:>5}  {state:<12} {}{mark}\n", p.pid, p.ppid, p.name);
    }
}

fn cpus() {
    say!("cpu  apic  polled    spawned   stolen  queued\n");
    for cpu in 0..arch::cpu::count() {
        let s = crate::task::stats(cpu);
        say!(
            "{cpu:>3}  {:>4}  {:>8}  {:>8}  {:>7}  {:>6}\n",
            arch::smp::cpu_apic_id(cpu),
            s.polls,
            s.spawned,
            s.stolen,
            s.queued
        );
    }
}

fn mem() {
    say!("{}", crate::memstat::now());
    let tmp = crate::fs::vfs::tmp_root().quota().usage();
    say!(
        "tmpfs:  {} KiB size, {} KiB used, {} KiB avail (/tmp)\n",
        tmp.size / 1024,
        tmp.used / 1024,
        tmp.avail / 1024
    );
}

async fn spawn(n: usize) {
    let handles: Vec<_> = (0..n)
        .map(|i| {
            crate::task::spawn(async move {
                crate::task::yield_now().await;
                (i, arch::cpu::id())
            })
        })
        .collect();
    for h in handles {
        let (i, cpu) = h.await;
        say!("task {i} ran on cpu {cpu}\n");
    }
}
