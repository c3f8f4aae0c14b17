//! Running jobs: pipelines of forked children, each job in a process group
//! of its own (the first child's pid), the terminal handed to foreground
//! jobs, and the table of background jobs.
//!
//! A child sets its group and, for a foreground job, takes the terminal
//! itself too (the parent does both as well: whichever runs first wins
//! the race harmlessly), resets the job-control signals the shell ignores,
//! wires its stdin/stdout (pipes, `<`, `>`), and runs a builtin or
//! `execve`s the program. The shell waits for each pid of a foreground job
//! with `wait4(pid, WUNTRACED)`, takes the terminal back, and reports
//! `[signal N]` for a child a signal killed. Background jobs are reaped
//! with `WNOHANG` before each prompt.

use alloc::ffi::CString;
use alloc::string::String;
use alloc::vec::Vec;
use sh::parse::{Job, Stage};
use sh::signal;
use sh::wstatus::WaitStatus;
use tine_rt::syscall::{self, Disposition, Errno, o};
use tine_rt::{eprintln, println};

use crate::{Shell, builtins, report};

/// `WNOHANG`.
pub const WNOHANG: i32 = 1;
/// `WUNTRACED`.
pub const WUNTRACED: i32 = 2;

/// The signals an interactive shell ignores and its children get back.
const JOB_SIGNALS: [abi::signal::Signal; 5] = [
    signal::SIGINT,
    signal::SIGQUIT,
    signal::SIGTSTP,
    signal::SIGTTIN,
    signal::SIGTTOU,
];

/// The shell ignores ^C, ^\, ^Z and background-terminal signals (the
/// terminal sends them to the foreground job, never to the shell's group
/// while a job runs; ignoring them covers the moments in between).
pub fn ignore_job_signals() {
    for sig in JOB_SIGNALS {
        let _ = syscall::signal(sig, Disposition::Ignore);
    }
}

/// In a child: the job-control signals back to their defaults.
pub fn default_job_signals() {
    for sig in JOB_SIGNALS {
        let _ = syscall::signal(sig, Disposition::Default);
    }
}

/// A background (or stopped) job.
pub struct JobEntry {
    pub id: usize,
    pub pgid: i32,
    /// Each pid with its final status once reaped.
    pub pids: Vec<(i32, Option<WaitStatus>)>,
    pub text: String,
    pub stopped: bool,
}

impl JobEntry {
    pub fn done(&self) -> bool {
        self.pids.iter().all(|(_, s)| s.is_some())
    }

    /// The status that describes the job: the last stage's.
    fn status(&self) -> Option<WaitStatus> {
        self.pids.last().and_then(|&(_, s)| s)
    }
}

/// The background jobs.
#[derive(Default)]
pub struct JobTable {
    pub jobs: Vec<JobEntry>,
}

impl JobTable {
    fn add(&mut self, pgid: i32, pids: &[i32], text: String, stopped: bool) -> usize {
        let id = self.jobs.iter().map(|j| j.id).max().unwrap_or(0) + 1;
        self.jobs.push(JobEntry {
            id,
            pgid,
            pids: pids.iter().map(|&p| (p, None)).collect(),
            text,
            stopped,
        });
        id
    }

    /// Records that `pid` ended with `status`; whether it was one of ours.
    pub fn record(&mut self, pid: i32, status: WaitStatus) -> bool {
        for job in &mut self.jobs {
            for entry in &mut job.pids {
                if entry.0 == pid {
                    match status {
                        WaitStatus::Stopped(_) => job.stopped = true,
                        WaitStatus::Continued => job.stopped = false,
                        _ => entry.1 = Some(status),
                    }
                    return true;
                }
            }
        }
        false
    }

    /// Reaps finished background children without blocking; with
    /// `announce`, prints `[N] done TEXT` for each job that finished and
    /// drops it.
    pub fn reap_background(&mut self, announce: bool) {
        if self.jobs.is_empty() {
            return;
        }
        while let Ok((pid, raw)) = syscall::wait4(-1, WNOHANG | WUNTRACED) {
            if pid == 0 {
                break;
            }
            self.record(pid, WaitStatus::decode(raw));
        }
        if announce {
            self.announce_done();
        }
    }

    /// Prints and drops the finished jobs.
    pub fn announce_done(&mut self) {
        self.jobs.retain(|job| {
            if !job.done() {
                return true;
            }
            match job.status() {
                Some(WaitStatus::Exited(0)) | None => println!("[{}] done  {}", job.id, job.text),
                Some(s) => println!("[{}] {s}  {}", job.id, job.text),
            }
            false
        });
    }

    /// Finds a job by `%N` or by one of its pids.
    pub fn find(&self, spec: &str) -> Option<&JobEntry> {
        match spec.strip_prefix('%') {
            Some(n) => {
                let id: usize = n.parse().ok()?;
                self.jobs.iter().find(|j| j.id == id)
            }
            None => {
                let pid: i32 = spec.parse().ok()?;
                self.jobs
                    .iter()
                    .find(|j| j.pids.iter().any(|&(p, _)| p == pid))
            }
        }
    }

    /// Blocks until job `id`'s children are all reaped (or one stops).
    pub fn wait_job(&mut self, id: usize) -> Option<WaitStatus> {
        let pids: Vec<i32> = self
            .jobs
            .iter()
            .find(|j| j.id == id)?
            .pids
            .iter()
            .filter(|(_, s)| s.is_none())
            .map(|&(p, _)| p)
            .collect();
        for pid in pids {
            match wait_pid(pid, 0) {
                Ok(s) => {
                    self.record(pid, s);
                }
                Err(_) => {
                    // Reaped elsewhere or gone: count it as done.
                    self.record(pid, WaitStatus::Exited(0));
                }
            }
        }
        self.jobs
            .iter()
            .find(|j| j.id == id)
            .and_then(JobEntry::status)
    }
}

/// `wait4(pid, options)` retried on `EINTR`, decoded.
pub fn wait_pid(pid: i32, options: i32) -> Result<WaitStatus, Errno> {
    loop {
        match syscall::wait4(pid, options) {
            Ok((_, raw)) => return Ok(WaitStatus::decode(raw)),
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Runs one parsed job (module docs).
pub fn run_job(shell: &mut Shell, job: &Job) {
    let single = &job.stages[0];
    if job.stages.len() == 1
        && !job.background
        && single.stdin.is_none()
        && single.stdout.is_none()
        && builtins::find(&single.argv[0]).is_some()
    {
        shell.status = builtins::run(shell, &single.argv);
        return;
    }
    let mut pids = Vec::new();
    let mut pgid = 0;
    // The read end of the previous stage's pipe.
    let mut prev_read: Option<i32> = None;
    let last = job.stages.len() - 1;
    for (i, stage) in job.stages.iter().enumerate() {
        let pipe = if i < last {
            // CLOEXEC keeps the ends from programs; where pipe2 lacks it,
            // the children close what they do not use themselves.
            match syscall::pipe2(o::CLOEXEC).or_else(|_| syscall::pipe2(0)) {
                Ok(fds) => Some(fds),
                Err(e) => {
                    report("sh: pipe", e);
                    break;
                }
            }
        } else {
            None
        };
        let stdout = pipe.map(|[_, w]| w);
        match syscall::fork() {
            Ok(0) => {
                if let Some([r, _]) = pipe {
                    let _ = syscall::close(r);
                }
                let status = child(shell, stage, pgid, !job.background, prev_read, stdout);
                syscall::exit_group(status)
            }
            Ok(pid) => {
                if pgid == 0 {
                    pgid = pid;
                }
                let _ = syscall::setpgid(pid, pgid);
                if i == 0 && !job.background {
                    shell.term.give_to(pgid);
                }
                pids.push(pid);
            }
            Err(e) => {
                report("sh: fork", e);
                if let Some([r, w]) = pipe {
                    let _ = syscall::close(r);
                    let _ = syscall::close(w);
                }
                break;
            }
        }
        if let Some(r) = prev_read.take() {
            let _ = syscall::close(r);
        }
        if let Some([r, w]) = pipe {
            let _ = syscall::close(w);
            prev_read = Some(r);
        }
    }
    if let Some(r) = prev_read {
        let _ = syscall::close(r);
    }
    if pids.is_empty() {
        shell.status = 1;
        return;
    }
    if job.background {
        let id = shell.jobs.add(pgid, &pids, job.text(), false);
        println!("[{id}] {}", pids[pids.len() - 1]);
        shell.status = 0;
        return;
    }
    shell.status = wait_foreground(shell, pgid, &pids, job.text());
}

/// Waits for a foreground job's children, takes the terminal back, and
/// reports how they died; returns `$?`.
pub fn wait_foreground(shell: &mut Shell, pgid: i32, pids: &[i32], text: String) -> i32 {
    let mut status = WaitStatus::Exited(0);
    let mut stopped = false;
    for &pid in pids {
        match wait_pid(pid, WUNTRACED) {
            Ok(s @ WaitStatus::Stopped(_)) => {
                stopped = true;
                status = s;
                break;
            }
            Ok(s) => {
                if let WaitStatus::Signaled { signal, .. } = s {
                    println!("[signal {signal}]");
                }
                status = s;
            }
            Err(Errno::ECHILD) => {}
            Err(e) => report("sh: wait4", e),
        }
    }
    shell.term.take_back();
    if stopped {
        let id = shell.jobs.add(pgid, pids, text, true);
        println!(
            "[{id}] stopped  {}",
            shell.jobs.jobs.last().map_or("", |j| j.text.as_str())
        );
    }
    status.code()
}

/// The child's side of a stage: group, terminal, signals, fds, then the
/// builtin or the program. Returns the exit status (on exec failure).
fn child(
    shell: &mut Shell,
    stage: &Stage,
    pgid: i32,
    foreground: bool,
    stdin: Option<i32>,
    stdout: Option<i32>,
) -> i32 {
    let _ = syscall::setpgid(0, pgid);
    if foreground {
        shell.term.give_to(syscall::getpgid(0).unwrap_or(pgid));
    }
    default_job_signals();
    for (fd, target) in [(stdin, 0), (stdout, 1)] {
        if let Some(fd) = fd
            && let Err(e) = syscall::dup2(fd, target)
        {
            report("sh: dup2", e);
            return 1;
        }
    }
    for fd in [stdin.filter(|&fd| fd != 0), stdout.filter(|&fd| fd != 1)]
        .into_iter()
        .flatten()
    {
        let _ = syscall::close(fd);
    }
    if let Some(path) = &stage.stdin
        && let Err(e) = redirect(path, 0, o::RDONLY)
    {
        report(&alloc::format!("sh: {path}"), e);
        return 1;
    }
    if let Some(out) = &stage.stdout {
        let flags = o::WRONLY | o::CREAT | if out.append { o::APPEND } else { o::TRUNC };
        if let Err(e) = redirect(&out.path, 1, flags) {
            report(&alloc::format!("sh: {}", out.path), e);
            return 1;
        }
    }
    if builtins::find(&stage.argv[0]).is_some() {
        return builtins::run(shell, &stage.argv);
    }
    let e = exec(&stage.argv);
    // A name searched for in PATH that is nowhere: what other shells say.
    // A path with a slash keeps its errno (`sh: /bin/x: ENOENT`).
    if e == Errno::ENOENT && !stage.argv[0].contains('/') {
        eprintln!("sh: {}: command not found", stage.argv[0]);
        return 127;
    }
    report(&alloc::format!("sh: {}", stage.argv[0]), e);
    if e == Errno::ENOENT { 127 } else { 126 }
}

/// Opens `path` and puts it at `fd`.
fn redirect(path: &str, fd: i32, flags: i32) -> Result<(), Errno> {
    let c = CString::new(path).map_err(|_| Errno::EINVAL)?;
    let opened = syscall::open(&c, flags, 0o644)?;
    if opened != fd {
        syscall::dup2(opened, fd)?;
        let _ = syscall::close(opened);
    }
    Ok(())
}

/// The `$PATH` to search (`/bin` when unset).
pub fn path_var() -> String {
    tine_rt::env()
        .find_map(|kv| kv.strip_prefix(b"PATH="))
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_else(|| String::from("/bin"))
}

/// The environment for programs the shell starts (its own).
pub fn envp() -> Vec<CString> {
    tine_rt::env()
        .filter_map(|kv| CString::new(kv).ok())
        .collect()
}

/// Each argument as a C string (an argument with a NUL cannot be passed).
pub fn c_args(argv: &[String]) -> Result<Vec<CString>, Errno> {
    argv.iter()
        .map(|a| CString::new(a.as_str()).map_err(|_| Errno::EINVAL))
        .collect()
}

/// The program `name` resolves to: the first candidate that exists
/// would need `access`; instead, every candidate is returned in order
/// and exec tries them.
pub fn candidates(name: &str) -> Vec<String> {
    let path = path_var();
    sh::parse::search_path(name, &path).collect()
}

/// Replaces this process with `argv[0]` (searched in `$PATH`); returns
/// the error of the most telling attempt (another than `ENOENT` if any).
pub fn exec(argv: &[String]) -> Errno {
    let args = match c_args(argv) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let refs: Vec<&core::ffi::CStr> = args.iter().map(|a| a.as_c_str()).collect();
    let env = envp();
    let env_refs: Vec<&core::ffi::CStr> = env.iter().map(|a| a.as_c_str()).collect();
    let mut err = Errno::ENOENT;
    for path in candidates(&argv[0]) {
        let Ok(c) = CString::new(path) else { continue };
        match syscall::execve(&c, &refs, &env_refs) {
            Errno::ENOENT | Errno::ENOTDIR => {}
            e => err = e,
        }
    }
    err
}

/// Prints one job line for `jobs`.
pub fn print_job(job: &JobEntry) {
    let state = if job.stopped { "stopped" } else { "running" };
    let pids: Vec<String> = job
        .pids
        .iter()
        .map(|(p, _)| alloc::format!("{p}"))
        .collect();
    println!(
        "[{}] {state:<8} pgid {} pids {}  {}",
        job.id,
        job.pgid,
        pids.join(","),
        job.text
    );
}

/// `fg`: continue a job in the foreground.
pub fn foreground(shell: &mut Shell, spec: Option<&str>) -> i32 {
    let spec = spec
        .map(String::from)
        .or_else(|| shell.jobs.jobs.last().map(|j| alloc::format!("%{}", j.id)));
    let Some(job) = spec.as_deref().and_then(|s| shell.jobs.find(s)) else {
        eprintln!("fg: no such job");
        return 1;
    };
    let (id, pgid, text) = (job.id, job.pgid, job.text.clone());
    let pids: Vec<i32> = job
        .pids
        .iter()
        .filter(|(_, s)| s.is_none())
        .map(|&(p, _)| p)
        .collect();
    shell.jobs.jobs.retain(|j| j.id != id);
    println!("{text}");
    shell.term.give_to(pgid);
    if let Err(e) = syscall::kill(-pgid, signal::SIGCONT) {
        report("fg: kill", e);
    }
    wait_foreground(shell, pgid, &pids, text)
}
