//! In-kernel tests of process-group and session ids in the PID map: a
//! group's number is not handed out as a PID while the group lives, even
//! after its leader is reaped and the PIDs wrap around (the seeds'
//! `fork_findpid`), and it is free again once the group is gone.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;

use super::pid::{IdKind, Pid, PidFlags};
use super::process::{self, Process};
use crate::vm::space::AddressSpace;
use crate::{kassert, kassert_eq, ktest};

/// A process that never runs, in the table with its slot and uid count
/// taken as fork takes them (reaping gives them back): a child of the
/// kernel, in `like`'s group and session, or leading its own.
fn listed_process(like: Option<&Arc<Process>>) -> Result<Arc<Process>, String> {
    let pid = super::pids()
        .alloc(PidFlags::NONE)
        .map_err(|e| format!("{e}"))?;
    let space = Arc::new(AddressSpace::new().map_err(|e| format!("space: {e}"))?);
    let p = match like {
        Some(like) => Process::new_child_of(
            like,
            pid,
            Pid::KERNEL,
            space,
            None,
            like.signals().fork_copy(),
            (
                Arc::new(crate::fs::Files::empty()),
                Arc::new(crate::fs::FsContext::root()),
            ),
        ),
        None => Process::new_child(pid, Pid::KERNEL, "job-test", space, None),
    };
    kassert!(process::reserve_slot(usize::MAX));
    super::uidinfo::charge(p.charged_uid(), None);
    process::insert(p.clone());
    Ok(p)
}

/// Allocates and frees every number of the map once; returns whether
/// `wanted` came up.
fn wrap_around_sees(wanted: Pid) -> Result<bool, String> {
    let pids = super::pids();
    let mut seen = false;
    for _ in 0..pids.pid_max() {
        let pid = pids.alloc(PidFlags::NONE).map_err(|e| format!("{e}"))?;
        seen |= pid == wanted;
        pids.free(pid);
    }
    Ok(seen)
}

ktest!(
    async fn job_ids_stay_reserved_while_the_group_lives_across_a_pid_wrap() {
        let pids = super::pids();
        let leader = listed_process(None)?;
        let id = leader.pid();
        kassert!(pids.has_id(IdKind::ProcessGroup, id));
        kassert!(pids.has_id(IdKind::Session, id));
        let member = listed_process(Some(&leader))?;
        kassert_eq!(member.pgid(), id);
        leader.exit(0);
        kassert_eq!(process::wait(id).await, Ok(0));
        kassert!(!pids.is_allocated(id), "the leader's PID is free");
        kassert!(pids.has_id(IdKind::ProcessGroup, id), "its group lives on");
        kassert!(
            !wrap_around_sees(id)?,
            "{id} was handed out while group {id} lives"
        );
        member.exit(0);
        kassert_eq!(process::wait(member.pid()).await, Ok(0));
        kassert!(!pids.has_id(IdKind::ProcessGroup, id), "group released");
        kassert!(!pids.has_id(IdKind::Session, id), "session released");
        kassert!(wrap_around_sees(id)?, "{id} is never handed out again");
        Ok(())
    }
);

ktest!(
    async fn job_ids_follow_setpgid_and_setsid() {
        let pids = super::pids();
        let leader = listed_process(None)?;
        let member = listed_process(Some(&leader))?;
        let (lid, mid) = (leader.pid(), member.pid());
        // The member leads a group of its own: reserved.
        kassert!(!pids.has_id(IdKind::ProcessGroup, mid));
        process::set_pgid(&member, mid, None).map_err(|e| format!("setpgid: {e}"))?;
        kassert!(pids.has_id(IdKind::ProcessGroup, mid));
        // The leader's group has the leader still.
        kassert!(pids.has_id(IdKind::ProcessGroup, lid));
        // A new session: the member's group ends with the move.
        kassert_eq!(process::set_sid(&member), Err(abi::Errno::EPERM));
        process::set_pgid(&member, mid, Some(lid)).map_err(|e| format!("back: {e}"))?;
        kassert!(
            !pids.has_id(IdKind::ProcessGroup, mid),
            "empty group released"
        );
        kassert_eq!(process::set_sid(&member), Ok(mid));
        kassert!(pids.has_id(IdKind::ProcessGroup, mid));
        kassert!(pids.has_id(IdKind::Session, mid));
        kassert!(
            pids.has_id(IdKind::Session, lid),
            "the leader's session lives"
        );
        for p in [&leader, &member] {
            p.exit(0);
            kassert_eq!(process::wait(p.pid()).await, Ok(0));
        }
        for id in [lid, mid] {
            kassert!(!pids.has_id(IdKind::ProcessGroup, id), "group {id}");
            kassert!(!pids.has_id(IdKind::Session, id), "session {id}");
        }
        Ok(())
    }
);
