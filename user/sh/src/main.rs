//! `/bin/sh`: Tine's user shell (`docs/shell.md`).
//!
//! The pure half (parsing, line editing, names, records) is the `sh`
//! library next to this file; this binary is the half that talks to the
//! kernel:
//!
//! - [`term`]: the terminal: raw mode while the user edits a line (the
//!   shell's own editor echoes), cooked mode while a job runs, the
//!   foreground process group;
//! - [`jobs`]: running pipelines (fork, setpgid, pipes, redirections,
//!   execve with a `$PATH` search), the job table, waiting and reporting;
//! - [`builtins`]: the table of builtins and the simple ones;
//! - [`forkcmds`]: the fork-family builtins (`fork`, `cow`, `vfork`,
//!   `rfork`, `spawn`, `pdfork`, `forkbomb`);
//! - [`info`]: builtins over Tine's information calls (`ps`, `pstree`,
//!   `cpus`, `mem`, `uptime`, `sysctl`, `ulimit`, `trace`, `bench`).
//!
//! Every system call that fails prints `cmd: ENAME` and the shell goes
//! on: it runs on kernels that lack some calls (and on Linux). If its
//! input cannot be read at all, it exits with [`NO_INPUT`] (126).
#![no_std]
#![no_main]

extern crate alloc;

mod builtins;
mod forkcmds;
mod info;
mod jobs;
mod term;

use alloc::string::String;
use sh::errno::Name;
use tine_rt::syscall::{self, Errno};
use tine_rt::{Args, eprintln, print};

tine_rt::entry!(main);

/// The shell's state.
pub struct Shell {
    pub term: term::Terminal,
    pub jobs: jobs::JobTable,
    /// The status of the last foreground job (`$?`).
    pub status: i32,
    /// `exit` was asked for, with this status.
    pub exit: Option<i32>,
}

/// Prints `what: ENAME` on stderr.
pub fn report(what: &str, e: Errno) {
    eprintln!("{what}: {}", Name(e.0));
}

fn main(args: Args) -> i32 {
    let mut shell = Shell {
        term: term::Terminal::open(),
        jobs: jobs::JobTable::default(),
        status: 0,
        exit: None,
    };
    // `sh -c LINE` runs one line; further arguments are joined to it with
    // blanks (so `run=/bin/sh,-c,fork,3` works from the kernel command
    // line, which cannot quote blanks).
    if args.get(1) == Some(b"-c") {
        let words: alloc::vec::Vec<_> = args.iter().skip(2).map(String::from_utf8_lossy).collect();
        let line = words.join(" ");
        run_line(&mut shell, &line);
        return shell.exit.unwrap_or(shell.status);
    }
    jobs::ignore_job_signals();
    shell.term.take_foreground();
    if shell.term.is_interactive() {
        print!("Tine sh. Type 'help'.\n");
    }
    loop {
        shell.jobs.reap_background(true);
        let prompt = prompt();
        let Some(line) = shell.term.read_line(&prompt) else {
            // End of input.
            break;
        };
        run_line(&mut shell, &line);
        if let Some(status) = shell.exit {
            return status;
        }
    }
    if shell.term.input_failed {
        return NO_INPUT;
    }
    if shell.term.is_interactive() {
        print!("exit\n");
    }
    shell.status
}

/// The exit status when the input cannot be read (init then stops
/// restarting the shell).
pub const NO_INPUT: i32 = 126;

/// Parses and runs one line.
pub fn run_line(shell: &mut Shell, line: &str) {
    match sh::parse::parse(line) {
        Ok(jobs) => {
            for mut job in jobs {
                job.expand_status(shell.status);
                jobs::run_job(shell, &job);
                if shell.exit.is_some() {
                    return;
                }
            }
        }
        Err(e) => {
            eprintln!("sh: {e}");
            shell.status = 2;
        }
    }
}

/// `CWD $ ` (`$ ` alone when `getcwd` fails).
fn prompt() -> String {
    match cwd() {
        Ok(cwd) => alloc::format!("{cwd} $ "),
        Err(_) => String::from("$ "),
    }
}

/// The working directory.
pub fn cwd() -> Result<String, Errno> {
    let mut buf = [0u8; 256];
    let n = syscall::getcwd(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}
