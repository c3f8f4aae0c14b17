//! Process descriptors: FreeBSD's `pdfork`, `pdgetpid`, `pdkill`, and the
//! descriptor Linux's `CLONE_PIDFD` returns.
//!
//! A fork with a process descriptor (`RFPROCDESC`: `pdfork`, `CLONE_PIDFD`)
//! puts an open file of kind `ProcDesc` in the parent's descriptor table
//! before the child is published (`fork1`'s last allocation, undone like
//! the others). The file holds an `Arc<ProcDesc>`: the child's PID and
//! whether it is a daemon (`PD_DAEMON`). Its life follows FreeBSD's:
//!
//! - The child sends no `SIGCHLD` unless the request asked for a signal
//!   (`fork_flags`), and `wait4(-1)` does not report it (FreeBSD's
//!   `proc_to_reap` skips descriptor-owned children for `P_ALL`); waiting
//!   for its PID does.
//! - When the **last** descriptor is closed (the `ProcDesc` is dropped:
//!   `close`, exit, exec with `PD_CLOEXEC`), a zombie child is reaped; a
//!   running one is given to its reaper (FreeBSD's `procdesc_close`:
//!   `proc_reparent(p, p->p_reaper)`) and, unless `PD_DAEMON`, killed
//!   with `SIGKILL`.
//! - `CLONE_PIDFD` makes the same kind of descriptor with Linux's meaning:
//!   the child stays an ordinary child (SIGCHLD as asked, `wait4(-1)`
//!   reports it) and closing the pidfd changes nothing.
//! - `pdgetpid(fd, pidp)` stores the PID; `pdkill(fd, sig)` signals the
//!   process (`ESRCH` once it has exited). A descriptor that is not a
//!   process descriptor is `EBADF` to both.

use alloc::sync::Arc;

use super::pid::Pid;

/// What a process descriptor refers to.
#[derive(Debug)]
pub struct ProcDesc {
    pid: Pid,
    daemon: bool,
    /// Linux's pidfd: closing it does nothing.
    pidfd: bool,
}

impl ProcDesc {
    /// A descriptor for child `pid`; `daemon` is `PD_DAEMON`, `pidfd` a
    /// Linux pidfd (`CLONE_PIDFD`).
    pub fn new(pid: Pid, daemon: bool, pidfd: bool) -> Arc<Self> {
        Arc::new(Self { pid, daemon, pidfd })
    }

    /// The process's PID.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Whether closing it leaves the process alone.
    pub fn is_daemon(&self) -> bool {
        self.daemon
    }

    /// Whether it is a Linux pidfd (closing it changes nothing at all).
    pub fn is_pidfd(&self) -> bool {
        self.pidfd
    }
}

#[cfg(target_os = "none")]
impl Drop for ProcDesc {
    /// The last descriptor is closed (module docs).
    fn drop(&mut self) {
        use super::signal;
        let Some(p) = super::process::lookup(self.pid).filter(|_| !self.is_pidfd()) else {
            // A Linux pidfd, or a fork that failed after making the
            // descriptor (no process).
            return;
        };
        if !self.daemon && p.state() == super::process::State::Running {
            signal::send(
                &p,
                signal::SIGKILL,
                signal::SigInfo::kernel(signal::SIGKILL),
            );
        }
        super::process::close_procdesc(&p);
    }
}
