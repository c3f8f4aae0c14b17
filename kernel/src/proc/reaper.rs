//! Reapers: FreeBSD's `procctl(PROC_REAP_*)`.
//!
//! A process that acquires reaper status (`PROC_REAP_ACQUIRE`) adopts the
//! orphans of its subtree instead of init: when a process exits, its
//! children go to its **reaper**, the nearest ancestor that is a reaper,
//! or init (always a reaper, FreeBSD's `REAPER_STATUS_REALINIT`) while it
//! runs, else the kernel, which reaps them itself. `RFNOWAIT` gives the
//! new child to the caller's reaper the same way.
//!
//! FreeBSD stores each process's reaper (`p_reaper`) at fork and fixes
//! the pointers up when a reaper releases or exits. Tine finds it by
//! walking the parent chain ([`reaper_of`]), which gives the same answer
//! (a parent chain only changes by reparenting to a reaper, and a released
//! reaper is skipped) with nothing to keep consistent. While a process is
//! a reaper its PID is marked in the PID allocator's reaper bitmap
//! (`PidMap::set_id(IdKind::Reaper, ..)`), which FreeBSD's `fork_findpid`
//! skips, and unmarked at release or exit.
//!
//! The system call is `procctl(idtype, id, cmd, data)` (Tine 1004) with
//! FreeBSD's numbers: `P_PID` (0) is the only id type; `id` 0 or the
//! caller's PID (another process is `EPERM`; none `ESRCH`).
//!
//! | cmd | value | what |
//! |---|---:|---|
//! | `PROC_REAP_ACQUIRE` | 2 | become a reaper; `EBUSY` if already |
//! | `PROC_REAP_RELEASE` | 3 | stop being one; `EINVAL` if not, or for init |
//! | `PROC_REAP_STATUS` | 4 | fill `struct procctl_reaper_status` (80 bytes) |
//!
//! `PROC_REAP_GETPIDS` and `PROC_REAP_KILL` are `EINVAL` for now (not
//! needed by anything in Tine yet).

/// `P_PID`.
pub const P_PID: u64 = 0;
/// `PROC_REAP_ACQUIRE`.
pub const PROC_REAP_ACQUIRE: u64 = 2;
/// `PROC_REAP_RELEASE`.
pub const PROC_REAP_RELEASE: u64 = 3;
/// `PROC_REAP_STATUS`.
pub const PROC_REAP_STATUS: u64 = 4;
/// `REAPER_STATUS_OWNED`: the process is a reaper itself.
pub const REAPER_STATUS_OWNED: u32 = 1;
/// `REAPER_STATUS_REALINIT`: the reaper is init.
pub const REAPER_STATUS_REALINIT: u32 = 2;

/// FreeBSD's `struct procctl_reaper_status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReaperStatus {
    pub flags: u32,
    /// Processes whose real parent is the reaper.
    pub children: u32,
    /// Processes whose reaper is the reaper.
    pub descendants: u32,
    /// The reaper.
    pub reaper: i32,
    /// A child of the reaper (its first), or -1.
    pub pid: i32,
}

/// Size of `struct procctl_reaper_status` (five words and 15 of padding).
pub const REAPER_STATUS_BYTES: usize = 80;

impl ReaperStatus {
    /// The user-space layout.
    pub fn to_bytes(&self) -> [u8; REAPER_STATUS_BYTES] {
        let mut out = [0u8; REAPER_STATUS_BYTES];
        out[0..4].copy_from_slice(&self.flags.to_le_bytes());
        out[4..8].copy_from_slice(&self.children.to_le_bytes());
        out[8..12].copy_from_slice(&self.descendants.to_le_bytes());
        out[12..16].copy_from_slice(&self.reaper.to_le_bytes());
        out[16..20].copy_from_slice(&self.pid.to_le_bytes());
        out
    }
}

#[cfg(target_os = "none")]
pub use imp::*;

#[cfg(target_os = "none")]
mod imp {
    use alloc::sync::Arc;

    use super::{
        P_PID, PROC_REAP_ACQUIRE, PROC_REAP_RELEASE, PROC_REAP_STATUS, REAPER_STATUS_OWNED,
        REAPER_STATUS_REALINIT, ReaperStatus,
    };
    use crate::proc::pid::{IdKind, Pid};
    use crate::proc::process::{self, Process, State};
    use abi::Errno;

    /// Whether `pid` is a reaper now: init while it runs, or a process that
    /// acquired the status.
    fn is_reaper(p: &Process) -> bool {
        p.state() == State::Running && (p.pid() == Pid::INIT || p.is_reaper())
    }

    /// The reaper of process `pid` (module docs): its nearest running
    /// reaper ancestor, init while it runs, else the kernel.
    pub fn reaper_of(pid: Pid) -> Pid {
        let mut at = process::lookup(pid).map(|p| p.ppid());
        // The chain ends at the kernel; the bound guards a (bug) cycle.
        for _ in 0..crate::proc::pids().pid_max() {
            let Some(ancestor) = at.filter(|&a| a != Pid::KERNEL) else {
                break;
            };
            match process::lookup(ancestor) {
                Some(p) if is_reaper(&p) => return ancestor,
                Some(p) => at = Some(p.ppid()),
                None => break,
            }
        }
        match process::lookup(Pid::INIT) {
            Some(init) if pid != Pid::INIT && init.state() == State::Running => Pid::INIT,
            _ => Pid::KERNEL,
        }
    }

    /// Called when `p` exits: it stops being a reaper.
    pub fn on_exit(p: &Process) {
        if p.set_reaper(false) {
            crate::proc::pids().clear_id(IdKind::Reaper, p.pid());
        }
    }

    /// `prctl(PR_SET_CHILD_SUBREAPER)`: sets (`on`) or clears `p`'s
    /// reaper status, reserving or releasing its PID as a reaper id. Unlike
    /// `procctl`, setting it twice or clearing it when clear is no error.
    pub fn set_subreaper(p: &Process, on: bool) {
        // The swap decides who reserves or releases: one of two racing
        // calls sees the old value change.
        if p.set_reaper(on) != on {
            if on {
                crate::proc::pids().set_id(IdKind::Reaper, p.pid());
            } else {
                crate::proc::pids().clear_id(IdKind::Reaper, p.pid());
            }
        }
    }

    /// The status FreeBSD's `PROC_REAP_STATUS` reports for `p`.
    pub fn status(p: &Process) -> ReaperStatus {
        let owned = is_reaper(p);
        let reaper = if owned { p.pid() } else { reaper_of(p.pid()) };
        let mut st = ReaperStatus {
            flags: 0,
            children: 0,
            descendants: 0,
            reaper: reaper.as_u32() as i32,
            pid: -1,
        };
        if owned {
            st.flags |= REAPER_STATUS_OWNED;
        }
        if reaper == Pid::INIT {
            st.flags |= REAPER_STATUS_REALINIT;
        }
        for info in process::list() {
            if info.pid == reaper || reaper_of(info.pid) != reaper {
                continue;
            }
            st.descendants += 1;
            if info.ppid == reaper {
                st.children += 1;
                if st.pid == -1 {
                    st.pid = info.pid.as_u32() as i32;
                }
            }
        }
        st
    }

    /// `procctl(idtype, id, cmd, data)`'s reaper commands for `caller`
    /// (module docs). `write_status` stores a status at `data`.
    pub fn procctl(
        caller: &Arc<Process>,
        idtype: u64,
        id: u64,
        cmd: u64,
        write_status: impl FnOnce(&ReaperStatus) -> Result<(), Errno>,
    ) -> Result<u64, Errno> {
        if idtype != P_PID {
            return Err(Errno::EINVAL);
        }
        let target = match id {
            0 => caller.clone(),
            id => {
                let pid = u32::try_from(id)
                    .ok()
                    .and_then(Pid::new)
                    .ok_or(Errno::ESRCH)?;
                process::lookup(pid).ok_or(Errno::ESRCH)?
            }
        };
        match cmd {
            PROC_REAP_ACQUIRE | PROC_REAP_RELEASE if !Arc::ptr_eq(&target, caller) => {
                Err(Errno::EPERM)
            }
            PROC_REAP_ACQUIRE => {
                if is_reaper(caller) {
                    return Err(Errno::EBUSY);
                }
                caller.set_reaper(true);
                crate::proc::pids().set_id(IdKind::Reaper, caller.pid());
                Ok(0)
            }
            PROC_REAP_RELEASE => {
                if caller.pid() == Pid::INIT || !caller.is_reaper() {
                    return Err(Errno::EINVAL);
                }
                // Its subtree's reaper is now its own reaper: nothing to
                // move, `reaper_of` walks past it from now on.
                caller.set_reaper(false);
                crate::proc::pids().clear_id(IdKind::Reaper, caller.pid());
                Ok(0)
            }
            PROC_REAP_STATUS => {
                write_status(&status(&target))?;
                Ok(0)
            }
            _ => Err(Errno::EINVAL),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_layout_is_freebsds() {
        let st = ReaperStatus {
            flags: REAPER_STATUS_OWNED | REAPER_STATUS_REALINIT,
            children: 2,
            descendants: 5,
            reaper: 1,
            pid: -1,
        };
        let b = st.to_bytes();
        assert_eq!(b.len(), 80);
        assert_eq!(&b[0..4], &3u32.to_le_bytes());
        assert_eq!(&b[4..8], &2u32.to_le_bytes());
        assert_eq!(&b[8..12], &5u32.to_le_bytes());
        assert_eq!(&b[12..16], &1i32.to_le_bytes());
        assert_eq!(&b[16..20], &(-1i32).to_le_bytes());
        assert!(b[20..].iter().all(|&x| x == 0));
    }
}
