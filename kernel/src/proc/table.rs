//! The process table: every process from its creation until it is
//! reaped, by PID.
//!
//! - The table maps `Pid` to `Arc<Process>` under one spin lock (never
//!   taken in interrupt handlers, held for a map operation only), with
//!   the indexes of `super::index` beside it: the children of a process,
//!   those ready for `wait4`, the members of a process group, a session,
//!   a peer group; every operation fork, exit and wait make is O(log n).
//! - [`nprocs`] counts the processes in it (zombies included); `fork1`
//!   holds it against `maxproc` with [`reserve_slot`].
//! - The kernel (PID 0) is the parent of processes the kernel starts (the
//!   shell, tests); its child-state event is a static here, and
//!   [`notify_parent`] wakes whoever waits for a child of a PID.
//!
//! See `docs/processes.md`.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::proc::index::{Ids, Index};
use crate::proc::job::JobIds;
use crate::proc::pid::{IdKind, Pid};
use crate::proc::process::{Process, State};
use crate::task::Event;
use crate::vm::space::AddressSpace;

/// The process table and its indexes (`super::index`).
pub(super) static TABLE: spin::Mutex<Index<Arc<Process>>> = spin::Mutex::new(Index::new());

/// The child-state event of the kernel (PID 0), the parent of the
/// processes the kernel starts.
pub(super) static KERNEL_CHILDREN: Event = Event::new();

/// The number of processes in the table (module docs).
pub(super) static NPROCS: AtomicUsize = AtomicUsize::new(0);

/// How many processes exist now (running and zombies).
pub fn nprocs() -> usize {
    NPROCS.load(Ordering::Relaxed)
}

/// Takes a process slot if fewer than `limit` are taken (fork's
/// `maxproc` check, done atomically so two forks cannot both take the
/// last slot). Give it back with [`release_slot`] if the fork fails.
pub fn reserve_slot(limit: usize) -> bool {
    NPROCS
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
            (n < limit).then_some(n + 1)
        })
        .is_ok()
}

/// Gives back a slot of [`reserve_slot`] (a failed fork) or of a
/// reaped process.
pub fn release_slot() {
    NPROCS.fetch_sub(1, Ordering::Relaxed);
}

/// The process with PID `pid`, if it exists (zombies included).
pub fn lookup(pid: Pid) -> Option<Arc<Process>> {
    TABLE.lock().get(pid).cloned()
}

/// The process with the lowest PID above `after` (the lowest of all for
/// `None`), zombies included: walks the table without a snapshot and
/// without allocating (the out-of-memory killer, `super::oom`).
pub fn next_after(after: Option<Pid>) -> Option<Arc<Process>> {
    TABLE.lock().next_after(after).map(|(_, p)| p.clone())
}

/// The members of process group `pgid` (zombies included), by PID.
pub fn group_members(pgid: Pid) -> Vec<Arc<Process>> {
    let table = TABLE.lock();
    table
        .group(pgid)
        .filter_map(|pid| table.get(pid).cloned())
        .collect()
}

/// Marks `child` as having something for `wait4` to report (a stop or
/// a continue; exit marks itself) before its parent is woken.
pub(crate) fn mark_ready(child: &Process) {
    TABLE.lock().set_ready(child.pid, true);
}

/// Every process in the table (zombies included), by PID.
pub fn all() -> Vec<Arc<Process>> {
    TABLE.lock().values().cloned().collect()
}

/// One line of `ps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcInfo {
    pub pid: Pid,
    pub ppid: Pid,
    pub state: State,
    pub name: String,
    /// A kernel process.
    pub system: bool,
    /// The CPU it last ran on (`None`: never ran).
    pub last_cpu: Option<u32>,
    /// Its process group and session.
    pub pgid: Pid,
    pub sid: Pid,
    /// Stopped by a signal.
    pub stopped: bool,
    /// Its live threads' IDs and last CPUs (empty for a zombie).
    pub threads: Vec<(Pid, Option<u32>)>,
    /// Every live thread is parked (blocked, not queued or running).
    pub parked: bool,
}

/// Every process, by PID (a snapshot).
pub fn list() -> Vec<ProcInfo> {
    let procs: Vec<Arc<Process>> = TABLE.lock().values().cloned().collect();
    procs
        .iter()
        .map(|p| ProcInfo {
            pid: p.pid,
            ppid: p.ppid(),
            state: p.state(),
            name: p.name(),
            system: p.is_system(),
            last_cpu: p.last_cpu(),
            pgid: p.pgid(),
            sid: p.sid(),
            stopped: p.signals().is_stopped(),
            threads: p
                .threads()
                .iter()
                .map(|t| (t.tid(), t.last_cpu()))
                .collect(),
            parked: {
                let threads = p.threads();
                !threads.is_empty() && threads.iter().all(|t| t.is_parked())
            },
        })
        .collect()
}

/// Inserts a forked child (fork's commit point: this cannot fail). Its
/// slot was taken with [`reserve_slot`].
pub fn insert(process: Arc<Process>) {
    enlist(&mut TABLE.lock(), process);
}

/// The process table, as its lock's guard derefs.
pub(super) type Table = Index<Arc<Process>>;

/// Puts `process` in the table and its indexes. A process that enters it
/// as the leader of its own group or session (one the kernel starts, or a
/// fork without a parent process) reserves that id in the PID map, so no
/// new process gets its number while the group or session lives (the
/// seeds' `fork_findpid`). Forked children join their parent's.
pub(super) fn enlist(table: &mut Table, process: Arc<Process>) {
    let job = process.job();
    if job.pgid == process.pid {
        reserve_id(IdKind::ProcessGroup, job.pgid);
    }
    if job.sid == process.pid {
        reserve_id(IdKind::Session, job.sid);
    }
    let ids = Ids {
        ppid: process.ppid(),
        pgid: job.pgid,
        sid: job.sid,
        leader: process.peer_leader(),
    };
    let hidden = process.has_procdesc();
    table.insert(process.pid, ids, hidden, process);
}

/// Takes `pid` out of the table (it is reaped) and releases the ids of the
/// group and session it leaves, if it was their last member. Under the
/// table's lock, like every change of group or session
/// (`super::job`), so a group's end and a new group of the same number
/// cannot interleave.
pub(super) fn unlist(table: &mut Table, pid: Pid) -> Option<Arc<Process>> {
    let process = table.remove(pid)?;
    release_ids(table, process.job());
    Some(process)
}

/// Records `id` as a live `kind` id (one already recorded is left alone).
pub(super) fn reserve_id(kind: IdKind, id: Pid) {
    let pids = crate::proc::pids();
    if !pids.has_id(kind, id) {
        pids.set_id(kind, id);
    }
}

/// Releases the ids of `job` that no process in `table` uses any more
/// (a look at the group's and the session's index: O(log n)). A group
/// (session) whose leader is still in it has a member: one map lookup
/// answers that, the common case when a child is reaped, before the
/// index's range is searched.
pub(super) fn release_ids(table: &Table, job: JobIds) {
    let pids = crate::proc::pids();
    let led = |id: Pid, of: fn(Ids) -> Pid| table.ids(id).is_some_and(|ids| of(ids) == id);
    if !led(job.pgid, |ids| ids.pgid)
        && table.group(job.pgid).next().is_none()
        && pids.has_id(IdKind::ProcessGroup, job.pgid)
    {
        pids.clear_id(IdKind::ProcessGroup, job.pgid);
    }
    if !led(job.sid, |ids| ids.sid)
        && table.session(job.sid).next().is_none()
        && pids.has_id(IdKind::Session, job.sid)
    {
        pids.clear_id(IdKind::Session, job.sid);
    }
}

/// Copies the table's B-trees into new nodes (`Index::compact`).
pub(super) fn compact() {
    TABLE.lock().compact();
}

/// What follows a removal from the table: the PID, the slot and the
/// uid's count are free.
pub(super) fn reaped(p: &Process) {
    crate::proc::pids().free(p.pid);
    release_slot();
    crate::proc::uidinfo::uncharge(p.charged_uid.load(Ordering::Relaxed));
    crate::proc::procdesc::notify_exit(p.pid);
    // The heap gives back what the dead processes held.
    arch::mm::heap::maybe_trim();
}

/// How many live processes use `space` (more than one after vfork or
/// `CLONE_VM`).
pub fn space_sharers(space: &Arc<AddressSpace>) -> usize {
    let procs: Vec<Arc<Process>> = TABLE.lock().values().cloned().collect();
    procs
        .iter()
        .filter(|p| p.space().is_some_and(|s| Arc::ptr_eq(&s, space)))
        .count()
}

/// Wakes whoever waits for a child of `ppid`.
pub(crate) fn notify_parent(ppid: Pid) {
    if ppid == Pid::KERNEL {
        KERNEL_CHILDREN.notify_all();
    } else if let Some(parent) = lookup(ppid) {
        parent.children.notify_all();
    }
}
