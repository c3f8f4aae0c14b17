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
//! - A descriptor polls readable (`POLLIN`) once its process has exited,
//!   and `POLLHUP` too once it is reaped (Linux's `pidfd_poll`). The
//!   wake-up comes from [`exit_event`]: one of [`EXIT_BUCKETS`] events,
//!   chosen by PID, notified when a process of that bucket exits or is
//!   reaped ([`notify_exit`]). Hashing (as Linux's hashed wait queues
//!   do) keeps the process record free of a per-process event and makes
//!   a descriptor made after the exit (`pidfd_open` of a zombie) wait on
//!   the same queue.
//! - The descriptor keeps a weak reference to the process, so once the
//!   process is reaped and its PID reused the descriptor does not name
//!   the newcomer ([`ProcDesc::process`]).

#[cfg(target_os = "none")]
use alloc::sync::Arc;

use super::pid::Pid;
use crate::task::Event;

/// Number of exit events PIDs hash into.
pub const EXIT_BUCKETS: usize = 64;

static EXIT_EVENTS: [Event; EXIT_BUCKETS] = [const { Event::new() }; EXIT_BUCKETS];

/// The event notified when process `pid` exits or is reaped (module docs).
pub fn exit_event(pid: Pid) -> &'static Event {
    &EXIT_EVENTS[pid.as_u32() as usize % EXIT_BUCKETS]
}

/// Wakes whoever polls or waits on a descriptor of `pid`: called when it
/// becomes a zombie and when it is reaped.
pub fn notify_exit(pid: Pid) {
    exit_event(pid).notify_all();
}

/// What a process descriptor refers to.
#[derive(Debug)]
pub struct ProcDesc {
    pid: Pid,
    daemon: bool,
    /// Linux's pidfd: closing it does nothing.
    pidfd: bool,
    /// The process itself: a PID alone could name a later process once
    /// this one is reaped and its number reused.
    #[cfg(target_os = "none")]
    process: alloc::sync::Weak<super::process::Process>,
}

impl ProcDesc {
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
impl ProcDesc {
    /// A descriptor for `process`; `daemon` is `PD_DAEMON`, `pidfd` a
    /// Linux pidfd (`CLONE_PIDFD`, `pidfd_open`).
    pub fn new(process: &Arc<super::process::Process>, daemon: bool, pidfd: bool) -> Arc<Self> {
        Arc::new(Self {
            pid: process.pid(),
            daemon,
            pidfd,
            process: Arc::downgrade(process),
        })
    }

    /// The process, while it is in the process table (running or a
    /// zombie); `None` once reaped (or never published: a failed fork).
    pub fn process(&self) -> Option<Arc<super::process::Process>> {
        let p = super::process::lookup(self.pid)?;
        core::ptr::eq(Arc::as_ptr(&p), self.process.as_ptr()).then_some(p)
    }

    /// The process while it runs (not yet a zombie).
    pub fn running(&self) -> Option<Arc<super::process::Process>> {
        self.process()
            .filter(|p| p.state() == super::process::State::Running)
    }

    /// `poll` readiness (module docs): `POLLIN` once exited, `POLLHUP`
    /// too once reaped.
    pub fn poll_mask(&self) -> u32 {
        use crate::fs::poll::{POLLHUP, POLLIN, POLLRDNORM};
        match self.process() {
            None => POLLIN | POLLRDNORM | POLLHUP,
            Some(p) if p.state() != super::process::State::Running => POLLIN | POLLRDNORM,
            Some(_) => 0,
        }
    }
}

#[cfg(target_os = "none")]
impl Drop for ProcDesc {
    /// The last descriptor is closed (module docs).
    fn drop(&mut self) {
        use super::signal;
        let Some(p) = self.process().filter(|_| !self.is_pidfd()) else {
            // A Linux pidfd, a fork that failed after making the
            // descriptor (no process), or a process already reaped
            // (waited for by PID).
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
