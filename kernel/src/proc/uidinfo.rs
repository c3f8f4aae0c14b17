//! Processes per user: what `RLIMIT_NPROC` is held against.
//!
//! FreeBSD keeps a count of processes per real user id (`uidinfo`,
//! `chgproccnt`), NetBSD the same (`chgproccnt`). A fork charges the
//! caller's real uid *before* the child exists and fails with `EAGAIN`
//! when the count would pass the caller's `RLIMIT_NPROC` soft limit,
//! unless the caller is root (FreeBSD's `PRIV_PROC_LIMIT`, NetBSD's
//! `KAUTH_REQ_PROCESS_RLIMIT_BYPASS`); a reaped process uncharges the uid
//! it was charged to, and a change of real uid (`setuid`) moves its charge
//! (FreeBSD's `change_ruid`), without a limit check. The counts include
//! the caller itself, so with a limit of 5 a user may have 5 processes:
//! its sixth is refused.
//!
//! [`ProcCounts`] is the logic (host-tested); the machine has one under a
//! spin lock held for one map operation.

use alloc::collections::BTreeMap;

use super::cred::Id;

/// Processes per real uid.
#[derive(Debug, Default)]
pub struct ProcCounts {
    counts: BTreeMap<Id, usize>,
}

impl ProcCounts {
    /// No processes.
    pub const fn new() -> Self {
        Self {
            counts: BTreeMap::new(),
        }
    }

    /// How many processes `uid` has.
    pub fn count(&self, uid: Id) -> usize {
        self.counts.get(&uid).copied().unwrap_or(0)
    }

    /// Adds a process to `uid` if that keeps its count within `limit`
    /// (`None`: no limit). Returns whether it did.
    pub fn charge(&mut self, uid: Id, limit: Option<usize>) -> bool {
        let n = self.counts.entry(uid).or_insert(0);
        if limit.is_some_and(|max| *n + 1 > max) {
            if *n == 0 {
                self.counts.remove(&uid);
            }
            return false;
        }
        *n += 1;
        true
    }

    /// Removes a process from `uid`.
    pub fn uncharge(&mut self, uid: Id) {
        if let Some(n) = self.counts.get_mut(&uid) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.counts.remove(&uid);
            }
        }
    }

    /// Moves one process from `from` to `to` (a change of real uid).
    pub fn transfer(&mut self, from: Id, to: Id) {
        if from != to {
            self.uncharge(from);
            self.charge(to, None);
        }
    }
}

#[cfg(target_os = "none")]
pub use imp::*;

#[cfg(target_os = "none")]
mod imp {
    use super::ProcCounts;
    use crate::proc::cred::Id;

    static COUNTS: spin::Mutex<ProcCounts> = spin::Mutex::new(ProcCounts::new());

    /// [`ProcCounts::charge`] on the machine's counts.
    pub fn charge(uid: Id, limit: Option<usize>) -> bool {
        COUNTS.lock().charge(uid, limit)
    }

    /// [`ProcCounts::uncharge`] on the machine's counts.
    pub fn uncharge(uid: Id) {
        COUNTS.lock().uncharge(uid);
    }

    /// [`ProcCounts::transfer`] on the machine's counts.
    pub fn transfer(from: Id, to: Id) {
        COUNTS.lock().transfer(from, to);
    }

    /// How many processes `uid` has now.
    pub fn count(uid: Id) -> usize {
        COUNTS.lock().count(uid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_of_five_allows_five_processes() {
        let mut c = ProcCounts::new();
        for i in 0..5 {
            assert!(c.charge(1000, Some(5)), "process {}", i + 1);
        }
        assert!(!c.charge(1000, Some(5)), "the sixth");
        assert_eq!(c.count(1000), 5, "a refused charge takes nothing");
        c.uncharge(1000);
        assert!(c.charge(1000, Some(5)), "room again after a reap");
        // Root's charge has no limit.
        for _ in 0..100 {
            assert!(c.charge(0, None));
        }
        assert_eq!(c.count(0), 100);
    }

    #[test]
    fn setuid_moves_the_charge_and_counts_vanish_at_zero() {
        let mut c = ProcCounts::new();
        assert!(c.charge(0, None));
        c.transfer(0, 1000);
        assert_eq!((c.count(0), c.count(1000)), (0, 1));
        c.transfer(1000, 1000);
        assert_eq!(c.count(1000), 1);
        c.uncharge(1000);
        c.uncharge(1000);
        assert_eq!(c.count(1000), 0);
        assert!(c.counts.is_empty());
        assert!(!c.charge(7, Some(0)));
        assert!(
            c.counts.is_empty(),
            "a refused first charge leaves no entry"
        );
    }
}
