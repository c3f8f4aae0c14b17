//! `fork1`: make one new process from a validated [`ForkRequest`].
//!
//! The shape follows FreeBSD's `fork1` (seed 001): the front ends
//! (`super::fork_flags`) have already validated the caller's flags, so
//! `fork1` runs four stages, and every stage that can fail undoes what the
//! earlier ones did before it returns:
//!
//! 1. **Refusals.** What this first version does not implement yet is
//!    refused with `ENOSYS` before anything is taken ([`unsupported`]):
//!    a shared address space or a parent that waits (vfork, `RFMEM`,
//!    `CLONE_VM`, `CLONE_VFORK`), shared or fresh descriptor tables, cwd or
//!    signal actions, another parent than the caller, peer groups,
//!    stopped children, process descriptors, clone's TID pointers and
//!    kernel processes. The request is valid (`EINVAL` is the front end's
//!    verdict on a bad flag word); the kernel lacks the piece, which is
//!    what `ENOSYS` says, so a program can tell the two apart.
//! 2. **Limits.** A process slot is taken against [`maxproc`] (a knob,
//!    [`DEFAULT_MAXPROC`] at boot); none left is `EAGAIN`. FreeBSD keeps
//!    the last [`ROOT_RESERVED`] slots for root ([`slot_limit`]); Tine
//!    has no user IDs yet, so every caller counts as privileged and the
//!    limit is plain.
//! 3. **Allocations**, each undone if a later one fails: the PID
//!    (`pids().alloc`; exhausted is `EAGAIN`), then the child's address
//!    space (`AddressSpace::fork`: copy-on-write page table and a copy of
//!    the VMAs; out of frames is `ENOMEM`), then the `Process` (a heap
//!    allocation, which cannot fail short of the kernel's OOM abort).
//! 4. **Commit**: nothing fails after this point. The child enters the
//!    process table with the caller as parent, and its thread future is
//!    spawned with a copy of the caller's `UserContext` whose `rax` is 0
//!    (the child's fork returns 0, FreeBSD's `child_return`); the caller's
//!    system call returns the child's PID (`fork_return`).
//!
//! The exit signal (`SIGCHLD` for fork) is recorded in the child; nothing
//! delivers signals yet. `FailAt` injects a failure at each allocation
//! so the tests can check every rollback.

use core::sync::atomic::{AtomicUsize, Ordering};

use super::fork_flags::{
    AddressSpace, ChildParent, CloneTids, FileTable, ForkRequest, FsInfo, SigActions,
};
use crate::syscall::Errno;

#[cfg(target_os = "none")]
pub use imp::*;

/// `kern.maxproc` at boot.
pub const DEFAULT_MAXPROC: usize = 1000;

/// Slots FreeBSD keeps for root below `maxproc`.
pub const ROOT_RESERVED: usize = 10;

static MAXPROC: AtomicUsize = AtomicUsize::new(DEFAULT_MAXPROC);

/// The most processes that may exist (running and zombies).
pub fn maxproc() -> usize {
    MAXPROC.load(Ordering::Relaxed)
}

/// Sets [`maxproc`]; returns the old value. Lowering it below the number
/// of processes kills nothing; forks fail until enough are reaped.
pub fn set_maxproc(limit: usize) -> usize {
    MAXPROC.swap(limit, Ordering::Relaxed)
}

/// FreeBSD's rule as the number of processes a fork may find and still
/// go on: below `maxproc`, and for an unprivileged caller also outside the
/// last [`ROOT_RESERVED`].
pub const fn slot_limit(maxproc: usize, privileged: bool) -> usize {
    if privileged {
        maxproc
    } else {
        maxproc.saturating_sub(ROOT_RESERVED)
    }
}

/// Refuses what this version does not implement (stage 1, module docs).
pub fn unsupported(req: &ForkRequest) -> Result<(), Errno> {
    let missing = req.address_space != AddressSpace::Copy
        || req.wait_for_child
        || req.files != FileTable::Copy
        || req.fs != FsInfo::Copy
        || req.sigactions != SigActions::Copy
        || req.parent != ChildParent::Caller
        || req.peer_thread_group
        || req.stopped
        || req.procdesc.is_some()
        || req.tids != CloneTids::default()
        || req.kernel;
    if missing { Err(Errno::ENOSYS) } else { Ok(()) }
}

#[cfg(target_os = "none")]
mod imp {
    use alloc::sync::Arc;
    use core::sync::atomic::{AtomicU8, Ordering};

    use arch::user::UserContext;

    use super::{maxproc, slot_limit, unsupported};
    use crate::proc::fork_flags::ForkRequest;
    use crate::proc::pid::Pid;
    use crate::proc::process::{self, Process};
    use crate::syscall::Errno;

    /// A test's injected failure (module docs).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    #[repr(u8)]
    pub enum FailAt {
        /// No injected failure.
        Nothing = 0,
        /// The PID allocation fails (as if the map were exhausted).
        Pid = 1,
        /// The address-space copy fails (as if frames ran out).
        Space = 2,
    }

    static FAIL_AT: AtomicU8 = AtomicU8::new(FailAt::Nothing as u8);

    /// Makes the next forks fail at `at` (tests only; `FailAt::Nothing`
    /// turns it off).
    pub fn inject_failure(at: FailAt) {
        FAIL_AT.store(at as u8, Ordering::Relaxed);
    }

    fn injected(at: FailAt) -> bool {
        FAIL_AT.load(Ordering::Relaxed) == at as u8
    }

    /// Makes a child of `parent`, which trapped with `ctx`, as `req` asks
    /// (module docs). Returns the child's PID. Errors: `ENOSYS` for what is
    /// not implemented, `EAGAIN` at the process limit or with no PID free,
    /// `ENOMEM` when the address space cannot be copied, `ESRCH` if the
    /// parent has already exited.
    pub async fn fork1(
        parent: &Arc<Process>,
        ctx: &UserContext,
        req: &ForkRequest,
    ) -> Result<Pid, Errno> {
        // vfork's wait for the child will be the await here.
        fork_now(parent, ctx, req)
    }

    /// [`fork1`]'s work, synchronous. A plain function on purpose: it
    /// spawns a thread future, whose `Send` check would otherwise depend on
    /// `fork1`'s own future (the thread awaits `dispatch`, which awaits
    /// `fork1`) and be a cycle the compiler refuses.
    fn fork_now(parent: &Arc<Process>, ctx: &UserContext, req: &ForkRequest) -> Result<Pid, Errno> {
        unsupported(req)?;

        // Limits. No credentials exist yet: every caller is privileged.
        if !process::reserve_slot(slot_limit(maxproc(), true)) {
            return Err(Errno::EAGAIN);
        }

        // Allocations, each undone on a later failure.
        let pid = if injected(FailAt::Pid) {
            Err(Errno::EAGAIN)
        } else {
            crate::proc::pids()
                .alloc(req.pid_flags())
                .map_err(|_| Errno::EAGAIN)
        };
        let pid = match pid {
            Ok(pid) => pid,
            Err(e) => {
                process::release_slot();
                return Err(e);
            }
        };
        let space = match parent.space() {
            None => Err(Errno::ESRCH),
            Some(_) if injected(FailAt::Space) => Err(Errno::ENOMEM),
            Some(space) => space.fork(),
        };
        let space = match space {
            Ok(space) => Arc::new(space),
            Err(e) => {
                crate::proc::pids().free(pid);
                process::release_slot();
                return Err(e);
            }
        };
        let child = Process::new_child(
            pid,
            parent.pid(),
            parent.name(),
            space.clone(),
            req.exit_signal,
        );

        // Commit: nothing fails from here on.
        let mut child_ctx = ctx.clone();
        child_ctx.rax = 0;
        if let Some(tls) = req.tls {
            child_ctx.fs_base = tls;
        }
        if let Some(stack) = req.stack {
            child_ctx.rsp = stack;
        }
        process::insert(child.clone());
        let name = alloc::string::String::from(parent.name());
        // Detached, like `spawn_process`: the process state says when it ends.
        drop(
            crate::task::Builder::new()
                .name(name)
                .spawn(crate::proc::thread::run(child, space, child_ctx)),
        );
        Ok(pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_slots_are_roots() {
        assert_eq!(slot_limit(1000, true), 1000);
        assert_eq!(slot_limit(1000, false), 990);
        assert_eq!(slot_limit(5, false), 0);
        assert_eq!(slot_limit(0, true), 0);
    }

    #[test]
    fn fork_is_supported_and_vfork_is_not_yet() {
        assert_eq!(unsupported(&super::super::fork_flags::fork()), Ok(()));
        assert_eq!(
            unsupported(&super::super::fork_flags::vfork()),
            Err(Errno::ENOSYS)
        );
        assert_eq!(
            unsupported(&super::super::fork_flags::kthread(false)),
            Err(Errno::ENOSYS)
        );
    }
}
