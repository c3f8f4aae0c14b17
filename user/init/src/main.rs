//! `/bin/init`: the first user program (pid 1).
//!
//! It greets, then starts the user shell `/bin/sh` on the console (fork +
//! execve, with `PATH=/bin`) and reaps every child that comes its way: its
//! own and the orphans the kernel hands it. When the shell exits (`exit`,
//! ^D, or a signal), init starts a new one, as a getty would; `poweroff`
//! is how to leave. If the *first* shell cannot start (the child exits
//! with 127: exec failed, e.g. a kernel without `execve`, or no
//! `/bin/sh`), or a shell cannot read the console (it exits with 126: a
//! kernel without console input), or `fork` itself fails, init says so and
//! exits with status 0; the kernel logs that and the machine idles (its
//! own shell runs only when the command line says `kshell`).
//!
//! `init --greet` only greets and exits 0 (the in-kernel process tests run
//! it so, without a shell waiting for the console).
#![no_std]
#![no_main]

use tine_rt::syscall::{self, Errno};
use tine_rt::{Args, eprintln, println};

tine_rt::entry!(main);

/// The status of a child whose exec failed.
const EXEC_FAILED: i32 = 127;
/// The shell's status when it cannot read its input (`user/sh`).
const NO_INPUT: i32 = 126;

fn main(args: Args) -> i32 {
    println!("init: hello from user space (pid {})", syscall::getpid());
    if args.get(1) == Some(b"--greet") {
        return 0;
    }
    let mut first = true;
    loop {
        let shell = match start_shell() {
            Ok(pid) => pid,
            Err(e) => {
                eprintln!("init: fork: {e}; no user shell");
                return 0;
            }
        };
        let Some(status) = reap_until(shell) else {
            return 0;
        };
        if first && status == EXEC_FAILED << 8 {
            println!("init: /bin/sh did not start; leaving the console to the kernel");
            return 0;
        }
        if status == NO_INPUT << 8 {
            println!("init: /bin/sh cannot read the console; leaving it to the kernel");
            return 0;
        }
        first = false;
        println!("init: the shell ended (status {status:#x}); starting a new one");
    }
}

/// Forks a child that execs `/bin/sh`.
fn start_shell() -> Result<i32, Errno> {
    match syscall::fork()? {
        0 => {
            let e = syscall::execve(
                c"/bin/sh",
                &[c"sh"],
                &[c"PATH=/bin", c"HOME=/", c"TERM=vt100"],
            );
            eprintln!("init: exec /bin/sh: {e}");
            syscall::exit_group(EXEC_FAILED)
        }
        pid => Ok(pid),
    }
}

/// Reaps children (orphans included) until `shell` exits; its status,
/// or `None` when `wait4` fails (then init gives up rather than fork
/// shells in a loop).
fn reap_until(shell: i32) -> Option<i32> {
    loop {
        match syscall::wait4(-1, 0) {
            Ok((pid, status)) if pid == shell => return Some(status),
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => {
                eprintln!("init: wait4: {e}");
                return None;
            }
        }
    }
}
