//! `sysctl debug.check`: the kernel's bookkeeping checked against itself.
//!
//! Reading the knob runs [`run`], which prints one `debug.check:` line
//! per problem on the console and returns how many it found (0: all
//! hold). `cargo xtask stress` and `cargo xtask fuzz` read it at the end
//! of a run and fail on anything but 0. What is checked:
//!
//! 1. **PID map == processes**: the PID bitmap's set bits are exactly the
//!    PIDs of the processes in the table (zombies included) and the TIDs
//!    of their live threads; the process-group and session bitmaps hold
//!    exactly the groups and sessions some process is in; the reaper
//!    bitmap exactly the processes with reaper status.
//! 2. **Threads and tasks**: a zombie has no threads; every live thread's
//!    task exists, and its slot in its process's list
//!    (`super::thread_slots`) holds it; and the number of thread tasks alive
//!    ([`super::thread::live_tasks`]) equals the number of live threads,
//!    so no task is left (queued or parked) for a thread that is gone.
//! 3. **Frames**: the frame allocator's free count, free bitmap, per-CPU
//!    caches and reference counts agree (`arch::mm::frame::audit`), and
//!    every page mapped in a live process's address space is a frame with
//!    a reference count of at least 1 (no mapping of a freed frame).
//!    A frame's count is not compared with the number of mappings: page
//!    tables shared after fork count once for all the spaces that share
//!    them, so that equality is not cheap to check.
//! 4. **Wait marks**: every zombie whose exit its parent has been told
//!    about ([`Process::reapable`](super::process::Process)) is marked
//!    ready in the table's `ready` index (`super::index`), which is all a
//!    `wait4` looks at: an unmarked one would never be reaped, and its
//!    parent's wait would sleep forever (the lost mark `proc::wait`'s
//!    `still_ready` once caused).
//!
//! The check takes snapshots one after the other, not one atomic picture:
//! a fork or exit running meanwhile can show up as a problem that is gone
//! a moment later. Callers check a quiet system (the stress and fuzz
//! programs after reaping everything), and retry once or twice before
//! failing.

use alloc::collections::BTreeSet;
use alloc::vec::Vec;

/// Where two sets of ids differ, each side's extra ids (a few of them, for
/// the report).
#[derive(Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Ids only in the first set.
    pub only_first: Vec<u32>,
    /// Ids only in the second set.
    pub only_second: Vec<u32>,
}

/// How many ids of each side a report lists.
const REPORT_IDS: usize = 8;

/// The difference of two id sets, `None` if they are equal.
pub fn diff(first: &BTreeSet<u32>, second: &BTreeSet<u32>) -> Option<Mismatch> {
    let only_first: Vec<u32> = first.difference(second).take(REPORT_IDS).copied().collect();
    let only_second: Vec<u32> = second.difference(first).take(REPORT_IDS).copied().collect();
    (!only_first.is_empty() || !only_second.is_empty()).then_some(Mismatch {
        only_first,
        only_second,
    })
}

#[cfg(target_os = "none")]
pub use imp::run;

#[cfg(target_os = "none")]
mod imp {
    use super::diff;
    use crate::proc::pid::{IdKind, Pid};
    use crate::proc::process::{self, State};
    use alloc::collections::BTreeSet;
    use alloc::sync::Arc;
    use alloc::vec::Vec;

    /// Counts and reports problems.
    struct Problems(usize);

    impl Problems {
        fn report(&mut self, args: core::fmt::Arguments<'_>) {
            self.0 += 1;
            log::error!("debug.check: {args}");
        }
    }

    /// Runs every check (module docs); returns the number of problems,
    /// each also printed on the console.
    pub fn run() -> usize {
        let mut problems = Problems(0);
        let procs = process::all();
        check_ids(&procs, &mut problems);
        check_tasks(&procs, &mut problems);
        check_frames(&procs, &mut problems);
        check_waits(&procs, &mut problems);
        log::info!(
            "debug.check: {} processes, {} problems",
            procs.len(),
            problems.0
        );
        problems.0
    }

    fn bitmap(kind: Option<IdKind>) -> BTreeSet<u32> {
        crate::proc::pids().set_ids(kind).map(Pid::as_u32).collect()
    }

    fn compare(what: &str, table: &BTreeSet<u32>, kind: Option<IdKind>, problems: &mut Problems) {
        if let Some(m) = diff(table, &bitmap(kind)) {
            problems.report(format_args!(
                "{what}: in use but not in the PID map {:?}, in the PID map but not in use {:?}",
                m.only_first, m.only_second
            ));
        }
    }

    fn check_ids(procs: &[Arc<process::Process>], problems: &mut Problems) {
        let mut ids = BTreeSet::new();
        let mut groups = BTreeSet::new();
        let mut sessions = BTreeSet::new();
        let mut reapers = BTreeSet::new();
        for p in procs {
            ids.insert(p.pid().as_u32());
            ids.extend(p.threads().iter().map(|t| t.tid().as_u32()));
            for (set, id) in [(&mut groups, p.pgid()), (&mut sessions, p.sid())] {
                if id != Pid::KERNEL {
                    set.insert(id.as_u32());
                }
            }
            if p.is_reaper() {
                reapers.insert(p.pid().as_u32());
            }
        }
        compare("PIDs and TIDs", &ids, None, problems);
        compare(
            "process groups",
            &groups,
            Some(IdKind::ProcessGroup),
            problems,
        );
        compare("sessions", &sessions, Some(IdKind::Session), problems);
        compare("reapers", &reapers, Some(IdKind::Reaper), problems);
    }

    fn check_tasks(procs: &[Arc<process::Process>], problems: &mut Problems) {
        let mut threads = 0;
        for p in procs {
            let list = p.threads();
            if matches!(p.state(), State::Zombie(_)) && !list.is_empty() {
                problems.report(format_args!(
                    "zombie {} ({}) has {} threads",
                    p.pid(),
                    p.name(),
                    list.len()
                ));
            }
            for t in &list {
                if !t.has_task() {
                    problems.report(format_args!(
                        "thread {} of {} ({}) has no task",
                        t.tid(),
                        p.pid(),
                        p.name()
                    ));
                }
                // Its slot holds it (`proc::thread_slots`; it may have
                // left since the snapshot: then the slot is empty or
                // another thread's, and it is no longer listed).
                if !p.holds_thread_in_slot(t)
                    && p.thread(t.tid()).is_some_and(|l| Arc::ptr_eq(&l, t))
                {
                    problems.report(format_args!(
                        "thread {} of {} ({}) is not in its slot {}",
                        t.tid(),
                        p.pid(),
                        p.name(),
                        t.slot()
                    ));
                }
            }
            threads += list.len();
        }
        let tasks = crate::proc::thread::live_tasks();
        if tasks != threads {
            problems.report(format_args!(
                "{tasks} thread tasks alive for {threads} live threads"
            ));
        }
    }

    /// Every zombie its parent has been told about is marked ready for
    /// `wait4` (module docs, 4).
    fn check_waits(procs: &[Arc<process::Process>], problems: &mut Problems) {
        for p in procs {
            let Some(status) = p.reapable() else {
                continue;
            };
            // Still this process's entry (a zombie reaped since the
            // snapshot is gone from the table, not unmarked).
            let unmarked = {
                let table = crate::proc::table::TABLE.lock();
                table.get(p.pid()).is_some_and(|q| Arc::ptr_eq(q, p)) && !table.is_ready(p.pid())
            };
            if unmarked {
                let waiters = process::lookup(p.ppid()).map(|q| q.children.waiters());
                problems.report(format_args!(
                    "zombie {} ({}, status {status:#x}) of {} is not marked ready for wait4 (its parent's waiters: {waiters:?})",
                    p.pid(),
                    p.name(),
                    p.ppid(),
                ));
            }
        }
    }

    fn check_frames(procs: &[Arc<process::Process>], problems: &mut Problems) {
        if let Err(e) = arch::mm::frame::audit() {
            problems.report(format_args!("frame allocator: {e}"));
        }
        let mut spaces: Vec<Arc<crate::vm::space::AddressSpace>> = Vec::new();
        for p in procs {
            if let Some(s) = p.space()
                && !spaces.iter().any(|seen| Arc::ptr_eq(seen, &s))
            {
                spaces.push(s);
            }
        }
        for space in &spaces {
            let mut freed = 0usize;
            let mut first = None;
            for (va, _) in space.table.pages() {
                if space.table.refcount_at(va) == Some(0) {
                    freed += 1;
                    first.get_or_insert(va);
                }
            }
            if let Some(va) = first {
                problems.report(format_args!(
                    "{freed} pages mapped to free frames in an address space (first at {va:#x})"
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_sets_have_no_mismatch_and_extras_are_listed_per_side() {
        let a: BTreeSet<u32> = [1, 2, 3].into();
        assert_eq!(diff(&a, &a.clone()), None);
        let b: BTreeSet<u32> = [2, 3, 4, 5].into();
        assert_eq!(
            diff(&a, &b),
            Some(Mismatch {
                only_first: vec![1],
                only_second: vec![4, 5],
            })
        );
        let many: BTreeSet<u32> = (0..100).collect();
        let m = diff(&many, &BTreeSet::new()).unwrap();
        assert_eq!(m.only_first.len(), REPORT_IDS);
    }
}
