//! Job control: a process's process group and session ([`JobIds`]),
//! `setpgid` ([`set_pgid`]) and `setsid` ([`set_sid`]). A group's and a
//! session's number is reserved in the PID map while it has members
//! (`super::table::enlist`, `unlist`; `docs/pid.md`).
//!
//! See `docs/signals.md` (job control) and `docs/processes.md`.

use crate::proc::pid::{IdKind, Pid};
use crate::proc::process::Process;
use crate::proc::table::{TABLE, release_ids, reserve_id};
use abi::Errno;

/// A process's process group and session IDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobIds {
    /// The process group (`getpgid`).
    pub pgid: Pid,
    /// The session (`getsid`).
    pub sid: Pid,
}

/// `setpgid(pid, pgid)` called by `caller` (POSIX's rules): `pid` 0
/// is the caller, `pgid` 0 is `pid`. `ESRCH` unless the target is the
/// caller or one of its children; `EACCES` for a child that has exec'd;
/// `EPERM` for a child in another session, a session leader, or a
/// group that does not exist in the caller's session (other than the
/// target's own PID). `EINVAL` for a negative `pgid` is the caller's.
pub fn set_pgid(caller: &Process, pid: Pid, pgid: Option<Pid>) -> Result<(), Errno> {
    let mut table = TABLE.lock();
    let target = table.get(pid).ok_or(Errno::ESRCH)?.clone();
    let is_self = target.pid == caller.pid;
    if !is_self && target.ppid() != caller.pid {
        return Err(Errno::ESRCH);
    }
    let caller_job = caller.job();
    let target_job = target.job();
    if !is_self {
        if target_job.sid != caller_job.sid {
            return Err(Errno::EPERM);
        }
        if target.has_execed() {
            return Err(Errno::EACCES);
        }
    }
    if target_job.sid == target.pid {
        return Err(Errno::EPERM);
    }
    let pgid = pgid.unwrap_or(target.pid);
    let exists = table.group_session(pgid) == Some(caller_job.sid);
    if pgid != target.pid && !exists {
        return Err(Errno::EPERM);
    }
    if pgid == target_job.pgid {
        return Ok(());
    }
    if !exists {
        // A new group, led by the target: its number is reserved in the
        // PID map while it has members (`super::table::release_ids`).
        reserve_id(IdKind::ProcessGroup, pgid);
    }
    target.job.lock().pgid = pgid;
    table.set_job(target.pid, pgid, target_job.sid);
    release_ids(&table, target_job);
    Ok(())
}

/// `setsid()`: `caller` leads a new session and group, both its PID.
/// `EPERM` if a process group with its PID exists (it leads one).
pub fn set_sid(caller: &Process) -> Result<Pid, Errno> {
    let mut table = TABLE.lock();
    if table.group(caller.pid).next().is_some() {
        return Err(Errno::EPERM);
    }
    let old = caller.job();
    reserve_id(IdKind::ProcessGroup, caller.pid);
    reserve_id(IdKind::Session, caller.pid);
    *caller.job.lock() = JobIds {
        pgid: caller.pid,
        sid: caller.pid,
    };
    table.set_job(caller.pid, caller.pid, caller.pid);
    release_ids(&table, old);
    Ok(caller.pid)
}
