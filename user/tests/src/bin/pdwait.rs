//! `/test/pdwait`: Tine's `pdwait(fd, status, options, rusage, info)`
//! (1013, FreeBSD 15's wait on a process descriptor) on `pdfork`
//! children: an exit with its status and `siginfo_t`; `WNOHANG` while
//! the child runs; `WUNTRACED` and `WCONTINUED` reports (each once);
//! `WNOWAIT` leaving the child waitable; a holder that is not the parent
//! (a sibling that inherited the descriptor) reaping it, after which the
//! parent has nothing to wait for; a death by signal; and the errors
//! (`EBADF` for a descriptor that is not a process descriptor, `EINVAL`
//! for unknown options, `ECHILD` once reaped). The bad-pointer cases are
//! in /test/efault. Tine only (`pdfork` and `pdwait` are Tine calls).
#![no_std]
#![no_main]

use tine_rt::Args;
use tine_rt::syscall::{self, Errno};
use tine_tests::sys::{self, nr};
use tine_tests::{Checks, check, check_eq, exited, killed};

tine_rt::entry!(main);

const WNOHANG: usize = 0x1;
const WUNTRACED: usize = 0x2;
const WCONTINUED: usize = 0x8;
const WNOWAIT: usize = 0x0100_0000;
/// `SIGCHLD` and the `CLD_*` codes of `siginfo_t`.
const SIGCHLD: i32 = 17;
const CLD_EXITED: i32 = 1;
const CLD_KILLED: i32 = 2;
const SIGKILL: i32 = 9;
const SIGCONT: i32 = 18;
const SIGSTOP: i32 = 19;

/// What one `pdwait` returned: the PID (0 with `WNOHANG` while it
/// runs), the wait status and the `siginfo_t`'s signo, code, pid and
/// status fields.
#[derive(Debug, PartialEq, Eq)]
struct Waited {
    pid: usize,
    status: i32,
    info: [i32; 4],
}

/// `pdwait(fd, &status, options, NULL, &info)`.
fn pdwait(fd: i32, options: usize) -> Result<Waited, Errno> {
    let mut status: i32 = -1;
    let mut info = [0u8; 128];
    // SAFETY: `status` and `info` are ours and large enough.
    let pid = unsafe {
        sys::call(
            nr::TINE_PDWAIT,
            &[
                fd as usize,
                &mut status as *mut i32 as usize,
                options,
                0,
                info.as_mut_ptr() as usize,
            ],
        )
    }?;
    let field = |at: usize| i32::from_le_bytes(info[at..at + 4].try_into().unwrap());
    Ok(Waited {
        pid,
        status,
        info: [field(0), field(8), field(16), field(24)],
    })
}

/// A pipe; the child of [`pdfork_blocked`] reads its read end.
fn pipe() -> [i32; 2] {
    syscall::pipe2(0).unwrap_or([-1, -1])
}

/// `pdfork`s a child that waits for a byte on `fds[0]` (or end of file)
/// and exits with `code`; returns its PID and descriptor.
fn pdfork_blocked(fds: [i32; 2], code: i32) -> Option<(i32, i32)> {
    match syscall::pdfork(0) {
        Ok((0, _)) => {
            let _ = syscall::close(fds[1]);
            let mut b = [0u8; 1];
            let _ = syscall::read(fds[0], &mut b);
            syscall::exit_group(code)
        }
        Ok((pid, fd)) => Some((pid, fd)),
        Err(_) => None,
    }
}

fn exit_status(c: &mut Checks) {
    let Ok((pid, fd)) = syscall::pdfork(0) else {
        return c.check(false, format_args!("pdfork failed"));
    };
    if pid == 0 {
        syscall::exit_group(7);
    }
    check_eq!(
        c,
        pdwait(fd, 0),
        Ok(Waited {
            pid: pid as usize,
            status: exited(7),
            info: [SIGCHLD, CLD_EXITED, pid, 7],
        }),
        "pdwait reaps an exit(7) with its siginfo"
    );
    check_eq!(
        c,
        pdwait(fd, 0).map(|w| w.pid),
        Err(Errno::ECHILD),
        "a second pdwait: ECHILD"
    );
    check_eq!(
        c,
        syscall::wait4(pid, WNOHANG as i32).map(|r| r.0),
        Err(Errno::ECHILD),
        "wait4 has nothing left either"
    );
    let _ = syscall::close(fd);
}

fn nohang(c: &mut Checks) {
    let fds = pipe();
    let Some((pid, fd)) = pdfork_blocked(fds, 3) else {
        return c.check(false, format_args!("pdfork failed"));
    };
    check_eq!(
        c,
        pdwait(fd, WNOHANG).map(|w| w.pid),
        Ok(0),
        "WNOHANG while the child runs: 0"
    );
    let _ = syscall::write(fds[1], b"x");
    check_eq!(
        c,
        pdwait(fd, 0).map(|w| (w.pid, w.status)),
        Ok((pid as usize, exited(3))),
        "then a blocking pdwait gets the exit"
    );
    for f in [fds[0], fds[1], fd] {
        let _ = syscall::close(f);
    }
}

fn stop_and_continue(c: &mut Checks) {
    let fds = pipe();
    let Some((pid, fd)) = pdfork_blocked(fds, 0) else {
        return c.check(false, format_args!("pdfork failed"));
    };
    check!(c, syscall::pdkill(fd, SIGSTOP).is_ok(), "pdkill SIGSTOP");
    check_eq!(
        c,
        pdwait(fd, WUNTRACED).map(|w| (w.pid, w.status)),
        Ok((pid as usize, (SIGSTOP << 8) | 0x7f)),
        "WUNTRACED reports the stop"
    );
    check_eq!(
        c,
        pdwait(fd, WUNTRACED | WNOHANG).map(|w| w.pid),
        Ok(0),
        "and only once"
    );
    check!(c, syscall::pdkill(fd, SIGCONT).is_ok(), "pdkill SIGCONT");
    check_eq!(
        c,
        pdwait(fd, WCONTINUED).map(|w| (w.pid, w.status)),
        Ok((pid as usize, 0xffff)),
        "WCONTINUED reports the continue"
    );
    check!(c, syscall::pdkill(fd, SIGKILL).is_ok(), "pdkill SIGKILL");
    check_eq!(
        c,
        pdwait(fd, 0),
        Ok(Waited {
            pid: pid as usize,
            status: killed(SIGKILL),
            info: [SIGCHLD, CLD_KILLED, pid, SIGKILL],
        }),
        "a death by SIGKILL"
    );
    for f in [fds[0], fds[1], fd] {
        let _ = syscall::close(f);
    }
}

fn nowait(c: &mut Checks) {
    let Ok((pid, fd)) = syscall::pdfork(0) else {
        return c.check(false, format_args!("pdfork failed"));
    };
    if pid == 0 {
        syscall::exit_group(5);
    }
    for round in ["first", "second"] {
        check_eq!(
            c,
            pdwait(fd, WNOWAIT).map(|w| (w.pid, w.status)),
            Ok((pid as usize, exited(5))),
            "WNOWAIT ({round} time) reports and leaves the child"
        );
    }
    check_eq!(
        c,
        pdwait(fd, 0).map(|w| (w.pid, w.status)),
        Ok((pid as usize, exited(5))),
        "then pdwait reaps it"
    );
    check_eq!(
        c,
        pdwait(fd, WNOWAIT).map(|w| w.pid),
        Err(Errno::ECHILD),
        "and it is gone"
    );
    let _ = syscall::close(fd);
}

/// A sibling that inherited the descriptor reaps the child; the parent
/// then finds nothing to wait for.
fn other_holder(c: &mut Checks) {
    let fds = pipe();
    let Some((pid, fd)) = pdfork_blocked(fds, 9) else {
        return c.check(false, format_args!("pdfork failed"));
    };
    let helper = match syscall::fork() {
        Ok(0) => {
            let _ = syscall::close(fds[1]);
            let ok = pdwait(fd, 0).map(|w| (w.pid, w.status)) == Ok((pid as usize, exited(9)));
            syscall::exit_group(if ok { 0 } else { 1 })
        }
        Ok(helper) => helper,
        Err(e) => return c.check(false, format_args!("fork: {e:?}")),
    };
    // The child sees end of file once neither of us holds the write end.
    let _ = syscall::close(fds[1]);
    check_eq!(
        c,
        syscall::wait4(helper, 0),
        Ok((helper, exited(0))),
        "a sibling holding the descriptor reaps the child with pdwait"
    );
    check_eq!(
        c,
        syscall::wait4(pid, WNOHANG as i32).map(|r| r.0),
        Err(Errno::ECHILD),
        "the parent has nothing left to wait for"
    );
    check_eq!(
        c,
        pdwait(fd, 0).map(|w| w.pid),
        Err(Errno::ECHILD),
        "nor has its pdwait"
    );
    let _ = syscall::close(fds[0]);
    let _ = syscall::close(fd);
}

fn errors(c: &mut Checks) {
    let fds = pipe();
    check_eq!(
        c,
        pdwait(fds[0], 0).map(|w| w.pid),
        Err(Errno::EBADF),
        "a pipe is not a process descriptor"
    );
    check_eq!(c, pdwait(-1, 0).map(|w| w.pid), Err(Errno::EBADF), "fd -1");
    check_eq!(
        c,
        pdwait(4000, 0).map(|w| w.pid),
        Err(Errno::EBADF),
        "a closed fd"
    );
    let Some((pid, fd)) = pdfork_blocked(fds, 0) else {
        return c.check(false, format_args!("pdfork failed"));
    };
    check_eq!(
        c,
        pdwait(fd, 0x40).map(|w| w.pid),
        Err(Errno::EINVAL),
        "an unknown option bit"
    );
    check_eq!(
        c,
        pdwait(fd, 1 << 40).map(|w| w.pid),
        Err(Errno::EINVAL),
        "options above 32 bits"
    );
    let _ = syscall::close(fds[1]);
    check_eq!(
        c,
        pdwait(fd, 0).map(|w| (w.pid, w.status)),
        Ok((pid as usize, exited(0))),
        "the child still ends normally"
    );
    let _ = syscall::close(fds[0]);
    let _ = syscall::close(fd);
}

fn main(_: Args) -> i32 {
    let mut c = Checks::new("pdwait");
    exit_status(&mut c);
    nohang(&mut c);
    stop_and_continue(&mut c);
    nowait(&mut c);
    other_holder(&mut c);
    errors(&mut c);
    c.finish()
}
