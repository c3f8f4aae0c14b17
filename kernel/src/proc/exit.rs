//! Exit and reparenting.
//!
//! - Exit ([`Process::exit`]) records the Linux wait status
//!   ([`exit_status`](super::process::exit_status),
//!   [`signal_status`](super::process::signal_status)), closes the
//!   descriptors, drops the address space (its memory is freed now, not
//!   at reaping), marks the process a zombie, sends the exit signal to the
//!   parent (reaping at once when the parent ignores `SIGCHLD`) and
//!   notifies the parent's event.
//! - Orphans: when a process exits, its children are reparented to their
//!   reaper (`super::reaper`: init if it is alive, else the kernel, which
//!   reaps them: one task for all the orphans of one exit); the new
//!   parent's event is notified so a zombie orphan is seen.
//! - The peers of an `RFTHREAD` leader die with it; the last close of a
//!   process descriptor ([`close_procdesc`]) reaps or reparents.
//!
//! See `docs/processes.md` and `docs/fork.md`.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use crate::fs::Files;
use crate::proc::pid::Pid;
use crate::proc::process::{Process, State};
use crate::proc::signal as sig;
use crate::proc::table::{TABLE, notify_parent, reaped, unlist};
use crate::proc::wait::wait;

impl Process {
    /// Ends the process with wait status `status` (module docs). Only
    /// the first call counts.
    pub fn exit(&self, status: i32) {
        // Closes its descriptors first (Linux's `exit_files` before
        // `exit_notify`): pipe readers see end of file now, not at
        // reaping, and nothing is left to do between the zombie state
        // and the parent's notification. A repeated call finds the
        // table empty.
        if self.state() == State::Running {
            self.close_files();
        }
        {
            let mut state = self.state.lock();
            if *state != State::Running {
                return;
            }
            *state = State::Zombie(status);
        }
        // Frees the memory unless a thread (or a vfork parent) still
        // holds the space.
        drop(self.space.lock().take());
        crate::proc::events::publish(
            crate::proc::events::EventKind::Exit,
            0,
            self.pid,
            status as u32,
        );
        // A vfork parent goes on (the child exited or was killed), next
        // on its CPU (the child's, unless it moved): nothing else is left
        // to run for it there, so no idle CPU is called to take it.
        crate::task::wake_first(|| self.vfork_release());
        crate::proc::reaper::on_exit(self);
        // One look at the table for what the rest needs from it (its lock
        // is the one every exit and every reaping takes: each extra
        // acquisition was contended when thousands exit at once): marked
        // ready before the parent is told (a `WNOHANG` wait that finds it
        // exiting, `exit_in_flight`, waits for the notification below
        // rather than answer "nothing yet" to a parent whose SIGCHLD
        // handler may already have run: `wait::wait_child_info`), whether
        // it has peers or children to see to, and its parent.
        let (has_peers, has_children, parent) = {
            let mut table = TABLE.lock();
            table.set_ready(self.pid, true);
            let ppid = self.ppid();
            (
                table.has_peers(self.pid),
                table.has_children(self.pid),
                (ppid != Pid::KERNEL)
                    .then(|| table.get(ppid).cloned())
                    .flatten(),
            )
        };
        if has_peers {
            kill_peers(self.pid);
        }
        if has_children {
            reparent_children(self.pid);
        }
        // The parent now: the one looked up above unless this process was
        // reparented since (its parent exited meanwhile).
        let parent = self.parent_now(parent);
        if sig::exit_notify(self, parent.as_deref(), status)
            && unlist(&mut TABLE.lock(), self.pid).is_some()
        {
            // The parent ignores SIGCHLD: nobody will wait for us.
            reaped(self);
        }
        // Release: pairs with the Acquire in `reapable`; the exit
        // signal is pending in the parent before a waiter can reap.
        self.exit_notified.store(true, Ordering::Release);
        // Whoever waits for a child of the parent it has now (a
        // reparenting since is seen here: the new parent's waiter,
        // woken by the reparenting before this process was reapable,
        // must be woken again).
        // The parent's waiter runs next on its CPU (`task::wake_first`):
        // queued behind thousands of exiting siblings it would reap them
        // all only after the last exit, one CPU idle meanwhile.
        match self.parent_now(parent) {
            Some(parent) => {
                crate::task::wake_first(|| parent.children.notify_all());
            }
            None => notify_parent(self.ppid()),
        }
        crate::proc::procdesc::notify_exit(self.pid);
    }

    /// Closes every descriptor: the table is emptied in place when no
    /// one else holds it (no `CLONE_FILES` sharer, no `/proc` reader), else
    /// the process gets a new empty one and the sharers keep theirs.
    fn close_files(&self) {
        let closed = {
            let mut files = self.files.lock();
            Arc::get_mut(&mut files).map(|table| table.take_all())
        };
        if closed.is_none() {
            self.set_files(Arc::new(Files::empty()));
        }
        // Outside the lock: closing may wake pipe readers and writers.
        drop(closed);
    }

    /// Its parent process now: `cached` if that is still its parent
    /// (a process cannot be reaped, and its PID reused, before its
    /// children are reparented), else a lookup; `None` for the kernel.
    fn parent_now(&self, cached: Option<Arc<Process>>) -> Option<Arc<Process>> {
        let ppid = self.ppid();
        match cached {
            Some(p) if p.pid == ppid => Some(p),
            _ if ppid == Pid::KERNEL => None,
            _ => crate::proc::table::lookup(ppid),
        }
    }
}

/// When the leader of an `RFTHREAD` peer group exits, its peers are
/// killed (FreeBSD's `exit1`, which also waits for them; Tine does not
/// wait: the peers die on their own).
fn kill_peers(leader: Pid) {
    let peers: Vec<Arc<Process>> = {
        let table = TABLE.lock();
        table
            .peers_of(leader)
            .filter_map(|pid| table.get(pid).cloned())
            .collect()
    };
    for p in peers {
        sig::send(&p, sig::SIGKILL, sig::SigInfo::kernel(sig::SIGKILL));
    }
}

/// The last process descriptor of `p` was closed (`super::procdesc`):
/// a zombie is reaped now; a running process goes to its reaper, which
/// waits for it as for any orphan, and it is no longer hidden from
/// `wait4(-1)`.
pub fn close_procdesc(p: &Process) {
    if p.state() != State::Running {
        if unlist(&mut TABLE.lock(), p.pid).is_some() {
            reaped(p);
        }
        return;
    }
    let reaper = crate::proc::reaper::reaper_of(p.pid);
    {
        let mut table = TABLE.lock();
        p.procdesc.store(false, Ordering::Release);
        p.set_ppid(reaper);
        table.set_hidden(p.pid, false);
        table.set_ppid(p.pid, reaper);
    }
    if reaper == Pid::KERNEL {
        reap_in_background(p.pid);
    }
    notify_parent(reaper);
}

/// Has a kernel task wait for and reap `pid`, a child of the kernel no
/// one else waits for.
pub fn reap_in_background(pid: Pid) {
    drop(crate::task::spawn(async move {
        // `ECHILD` only if someone else reaped it first.
        let _ = wait(pid).await;
    }));
}

/// Has one kernel task reap `orphans`, children the kernel adopted that
/// no one else waits for, as each becomes a zombie. One task for the
/// whole batch, not one each: when a parent of thousands dies with memory
/// nearly gone, a task per orphan was thousands of heap allocations in
/// the exit path (a kernel panic when the heap could not grow), and every
/// exit woke all of those tasks.
fn reap_orphans(mut orphans: Vec<Arc<Process>>) {
    if orphans.is_empty() {
        return;
    }
    drop(crate::task::spawn(async move {
        while !orphans.is_empty() {
            crate::proc::table::KERNEL_CHILDREN
                .wait_until(|| orphans.iter().any(|p| p.reapable().is_some()))
                .await;
            orphans.retain(|p| {
                if p.reapable().is_none() {
                    return true;
                }
                // `None` only if someone else reaped it first.
                if unlist(&mut TABLE.lock(), p.pid).is_some() {
                    reaped(p);
                }
                false
            });
        }
    }));
}

/// Gives the children of `dead` to its reaper (`super::reaper`): the
/// nearest reaper ancestor, init if it is alive, else the kernel, which
/// reaps them (module docs).
fn reparent_children(dead: Pid) {
    let adopter = crate::proc::reaper::reaper_of(dead);
    let mut bereaved = Vec::new();
    // The kernel's orphans, for one task that reaps them all.
    let mut for_kernel = Vec::new();
    let orphans = {
        let mut table = TABLE.lock();
        let orphans = table.reparent_children(dead, adopter);
        if adopter == Pid::KERNEL {
            for_kernel.reserve_exact(orphans.len());
        }
        for &pid in &orphans {
            if let Some(p) = table.get(pid) {
                p.set_ppid(adopter);
                p.adopted();
                if p.pdeathsig() != 0 {
                    bereaved.push(p.clone());
                }
                if adopter == Pid::KERNEL {
                    for_kernel.push(p.clone());
                }
            }
        }
        orphans
    };
    if orphans.is_empty() {
        return;
    }
    // `prctl(PR_SET_PDEATHSIG)`: told after the move, so a handler that
    // calls `getppid` sees the new parent (as on Linux).
    for p in bereaved {
        if let Some(sig) = sig::Signal::new(u32::from(p.pdeathsig())) {
            sig::send(&p, sig, sig::SigInfo::user(sig, dead.as_u32()));
        }
    }
    if adopter == Pid::KERNEL {
        reap_orphans(for_kernel);
    }
    // Init may already wait for any child; a zombie orphan is one now.
    notify_parent(adopter);
}
