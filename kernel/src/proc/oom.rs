//! The out-of-memory killer.
//!
//! When a page fault of a user thread finds no frame (`ENOMEM` from
//! `AddressSpace::fault`), the kernel frees memory by killing one
//! process, as Linux's `out_of_memory` (mm/oom_kill.c) does: the one with
//! the most resident pages ([`choose`]; Linux's `oom_badness` is its
//! resident set, swap and page tables, without Tine's swap), never init
//! (PID 1), a kernel process or a zombie. The victim gets `SIGKILL` and a
//! console line naming it:
//!
//! ```text
//! out of memory: killed NAME[PID] (N pages resident), fault at ADDR in NAME[PID]: SIGKILL
//! ```
//!
//! If the victim is the faulting process, it dies at once (its thread
//! ends the group). Otherwise the faulting thread waits a moment
//! ([`RETRY_AFTER`]) and returns to user mode, where the instruction
//! faults again, now with the victim's memory back (Linux's
//! `pagefault_out_of_memory` retries the same way). While a victim still
//! holds its address space, a new fault kills no one else: it waits
//! (Linux's `oom_evaluate_task` aborts its scan for a victim still
//! exiting), unless the victim has not let go after [`VICTIM_GRACE`],
//! when the next one is chosen.
//!
//! Resident pages are counted by walking the page table
//! (`UserPageTable::mapped_pages`): a page a forked child shares with its
//! parent counts in both, as in Linux's RSS. Children that share their
//! parent's whole table (forks without a write between share one PML4) are
//! counted once per table: the last few tables' counts are kept in a
//! small fixed cache, by root, so nothing is allocated (the heap may be
//! short too) and a parent's thousands of sharing children cost one walk.
//! The walk over the processes takes one at a time from the table
//! (`table::next_after`), never a snapshot.

use core::time::Duration;

/// How long a faulting thread waits before it tries again once another
/// process was killed for memory (or is still dying).
pub const RETRY_AFTER: Duration = Duration::from_millis(10);

/// How long a victim may keep its memory after `SIGKILL` before the next
/// fault chooses another process.
pub const VICTIM_GRACE: Duration = Duration::from_secs(2);

/// A process the killer may choose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Its PID.
    pub pid: u32,
    /// Its resident pages.
    pub pages: usize,
    /// It is the process whose fault found no frame.
    pub faulting: bool,
}

/// The victim among `candidates` (module docs): the most resident pages;
/// on a tie the faulting process (killing it surely ends the fault), else
/// the first one given (the walk is by PID, so the oldest, as Linux's
/// scan keeps the first of equals).
pub fn choose(candidates: impl IntoIterator<Item = Candidate>) -> Option<Candidate> {
    let mut best: Option<Candidate> = None;
    for c in candidates {
        let better = match best {
            None => true,
            Some(b) => c.pages > b.pages || (c.pages == b.pages && c.faulting && !b.faulting),
        };
        if better {
            best = Some(c);
        }
    }
    best
}

#[cfg(target_os = "none")]
pub use imp::*;

#[cfg(target_os = "none")]
mod imp {
    use alloc::sync::{Arc, Weak};

    use super::{Candidate, RETRY_AFTER, VICTIM_GRACE, choose};
    use crate::proc::pid::Pid;
    use crate::proc::process::{Process, State};
    use crate::proc::signal::{self, SigInfo};

    /// What the faulting thread does next.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Verdict {
        /// Its process was chosen (or nothing else could be): it dies
        /// with `SIGKILL`.
        Die,
        /// Another process is dying to free memory: fault again (after
        /// the wait [`out_of_memory`] already did).
        Retry,
    }

    /// The last victim and when it was killed (ns): while it holds its
    /// address space, its memory is on the way back.
    static VICTIM: spin::Mutex<Option<(Weak<Process>, u64)>> = spin::Mutex::new(None);

    /// A page fault of `me` at `addr` found no frame (module docs):
    /// chooses and kills a victim, or waits for the last one, and says
    /// what the faulting thread does.
    pub async fn out_of_memory(me: &Arc<Process>, addr: u64) -> Verdict {
        let now = crate::task::now_ns();
        let grace = VICTIM_GRACE.as_nanos() as u64;
        let pending = {
            let victim = VICTIM.lock();
            victim
                .as_ref()
                .and_then(|(v, at)| Some((v.upgrade()?, *at)))
                .filter(|(v, at)| v.space().is_some() && now.saturating_sub(*at) < grace)
                .map(|(v, _)| v)
        };
        if let Some(v) = pending {
            if Arc::ptr_eq(&v, me) {
                return Verdict::Die;
            }
            crate::task::sleep(RETRY_AFTER).await;
            return Verdict::Retry;
        }
        let Some((victim, pages)) = select(me) else {
            // Nothing else to kill: the faulting process goes (init
            // included, as before there was a choice).
            report(
                me,
                me.space().map_or(0, |s| s.table.mapped_pages()),
                me,
                addr,
            );
            return Verdict::Die;
        };
        report(&victim, pages, me, addr);
        if Arc::ptr_eq(&victim, me) {
            return Verdict::Die;
        }
        *VICTIM.lock() = Some((Arc::downgrade(&victim), now));
        signal::send(&victim, signal::SIGKILL, SigInfo::kernel(signal::SIGKILL));
        crate::task::sleep(RETRY_AFTER).await;
        Verdict::Retry
    }

    /// The console line (module docs). No allocation: the heap may be
    /// short too.
    fn report(victim: &Process, pages: usize, me: &Process, addr: u64) {
        log::warn!(
            "out of memory: killed {}[{}] ({} pages resident), fault at {addr:#x} in {}[{}]: SIGKILL",
            victim.name(),
            victim.pid(),
            pages,
            me.name(),
            me.pid()
        );
    }

    /// Whether the killer may choose `p`: a live user process other than
    /// init, with an address space.
    fn eligible(p: &Process) -> bool {
        p.pid() != Pid::INIT && !p.is_system() && p.state() == State::Running
    }

    /// Walks every process (module docs) and returns the victim and its
    /// resident pages.
    fn select(me: &Arc<Process>) -> Option<(Arc<Process>, usize)> {
        // Resident pages of the last few page tables walked, by root.
        let mut cache = [(0u64, 0usize); 8];
        let mut next = 0;
        let mut best: Option<(Arc<Process>, Candidate)> = None;
        let mut at = None;
        while let Some(p) = crate::proc::table::next_after(at) {
            at = Some(p.pid());
            if !eligible(&p) {
                continue;
            }
            let Some(space) = p.space() else {
                continue;
            };
            let root = space.table.root_pa();
            let pages = match cache.iter().find(|(r, _)| *r == root) {
                Some(&(_, pages)) => pages,
                None => {
                    let pages = space.table.mapped_pages();
                    cache[next] = (root, pages);
                    next = (next + 1) % cache.len();
                    pages
                }
            };
            let c = Candidate {
                pid: p.pid().as_u32(),
                pages,
                faulting: Arc::ptr_eq(&p, me),
            };
            // `choose` keeps the first of equals: `c` wins only if better.
            if best
                .as_ref()
                .is_none_or(|(_, b)| choose([*b, c]) == Some(c))
            {
                best = Some((p, c));
            }
        }
        best.map(|(p, c)| (p, c.pages))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(pid: u32, pages: usize, faulting: bool) -> Candidate {
        Candidate {
            pid,
            pages,
            faulting,
        }
    }

    #[test]
    fn the_largest_is_chosen_not_the_faulting_one() {
        let got = choose([c(2, 10, true), c(3, 500, false), c(4, 40, false)]);
        assert_eq!(got.map(|v| v.pid), Some(3));
    }

    #[test]
    fn ties_go_to_the_faulting_process_else_the_first() {
        let got = choose([c(2, 50, false), c(3, 50, true), c(4, 50, false)]);
        assert_eq!(got.map(|v| v.pid), Some(3));
        let got = choose([c(2, 50, false), c(3, 50, false)]);
        assert_eq!(got.map(|v| v.pid), Some(2));
        assert_eq!(choose([]), None);
    }
}
