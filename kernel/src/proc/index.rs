//! The process table and its indexes: every lookup that fork, exit, wait,
//! `kill` and `setpgid` make is O(log n) (pure logic, host-tested).
//!
//! An [`Index`] maps a [`Pid`] to an entry (the caller's value, a
//! `Arc<Process>` on the machine, plus the IDs the indexes are keyed by)
//! and keeps ordered sets of composite keys beside it, one per question
//! asked of the table:
//!
//! | index | key | answers |
//! |---|---|---|
//! | `children` | (parent, pid) | the children of a process (reparenting at exit) |
//! | `visible` | (parent, pid) | its children `wait4(-1)` may report (not owned by a process descriptor) |
//! | `group_children` | (parent, pgid, pid) | its children in a process group (`wait4(0)`, `wait4(-pgid)`) |
//! | `ready_visible` | (parent, pid) | its children with something to report (a zombie, a stop or continue) that `wait4(-1)` may report |
//! | `ready_group` | (parent, pgid, pid) | the same, in a process group |
//! | `groups` | (pgid, pid) | the members of a process group (`kill(-pgid)`, `setpgid`, `setsid`) |
//! | `sessions` | (sid, pid) | the members of a session |
//! | `peers` | (leader, pid) | an `RFTHREAD` peer group's members other than its leader |
//!
//! A range query over a composite key lists the members in O(log n + k);
//! its first element answers "is there one" in O(log n). No operation
//! walks the whole table except [`Index::values`] (`ps`, `kill(-1)`).
//! Linux keeps intrusive lists instead (`task_struct::children`, the PID
//! hash's per-type lists); sets of keys need no unsafe code and cost about
//! 150 bytes per process in all (`docs/memory.md`).
//!
//! "Ready" is a hint the owner keeps: [`Index::set_ready`] when a child
//! becomes reportable (its exit is complete, it stopped, it continued),
//! cleared by the owner when a look finds nothing to report any more
//! (a stop report taken). A waiter looks only at ready children.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use super::pid::Pid;

/// The lowest and highest PIDs, for range queries.
const LO: Pid = Pid::KERNEL;
const HI: Pid = match Pid::new(super::pid::PID_MAX_LIMIT - 1) {
    Some(p) => p,
    None => panic!("PID_MAX_LIMIT - 1 is a PID"),
};

/// Which children a wait looks for (`wait4`'s `pid`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitFor {
    /// Any child (`pid = -1`) not owned by a process descriptor.
    Any,
    /// This one (`pid > 0`).
    Pid(Pid),
    /// Those in this process group (`pid = 0`: the caller's; `pid <
    /// -1`: group `-pid`).
    Group(Pid),
}

/// The IDs an entry is indexed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ids {
    /// The parent.
    pub ppid: Pid,
    /// The process group.
    pub pgid: Pid,
    /// The session.
    pub sid: Pid,
    /// The `RFTHREAD` peer-group leader (the process itself if none).
    pub leader: Pid,
}

/// One process in the table.
#[derive(Clone, Debug)]
struct Entry<V> {
    value: V,
    ids: Ids,
    /// Owned by an open process descriptor: `wait4(-1)` skips it.
    hidden: bool,
    /// Has something to report (module docs).
    ready: bool,
}

/// The process table (module docs). `V` is what it holds per process.
#[derive(Debug)]
pub struct Index<V> {
    procs: BTreeMap<Pid, Entry<V>>,
    children: BTreeSet<(Pid, Pid)>,
    visible: BTreeSet<(Pid, Pid)>,
    group_children: BTreeSet<(Pid, Pid, Pid)>,
    ready_visible: BTreeSet<(Pid, Pid)>,
    ready_group: BTreeSet<(Pid, Pid, Pid)>,
    groups: BTreeSet<(Pid, Pid)>,
    sessions: BTreeSet<(Pid, Pid)>,
    peers: BTreeSet<(Pid, Pid)>,
}

impl<V> Default for Index<V> {
    fn default() -> Self {
        Self::new()
    }
}

/// The keys `(a, *)`.
fn pairs(a: Pid) -> core::ops::RangeInclusive<(Pid, Pid)> {
    (a, LO)..=(a, HI)
}

/// Whether `set` has a key `(a, *)`: a range with one bound, which the
/// B-tree finds in one descent (a range with two bounds may take two).
fn any_pair(set: &BTreeSet<(Pid, Pid)>, a: Pid) -> bool {
    set.range((a, LO)..).next().is_some_and(|k| k.0 == a)
}

impl<V: Clone> Index<V> {
    /// Copies every B-tree into new nodes, then frees the old ones. The
    /// few nodes left after a burst of processes were allocated during
    /// it, in a growth region of the heap they would keep from being
    /// given back; their copies go where the heap has room once the
    /// burst is over (its initial region: `arch::mm::heap::trim_settled`).
    pub fn compact(&mut self) {
        self.procs = self.procs.clone();
        for set in [
            &mut self.children,
            &mut self.visible,
            &mut self.ready_visible,
            &mut self.groups,
            &mut self.sessions,
            &mut self.peers,
        ] {
            *set = set.clone();
        }
        self.group_children = self.group_children.clone();
        self.ready_group = self.ready_group.clone();
    }
}

impl<V> Index<V> {
    /// An empty table.
    pub const fn new() -> Self {
        Self {
            procs: BTreeMap::new(),
            children: BTreeSet::new(),
            visible: BTreeSet::new(),
            group_children: BTreeSet::new(),
            ready_visible: BTreeSet::new(),
            ready_group: BTreeSet::new(),
            groups: BTreeSet::new(),
            sessions: BTreeSet::new(),
            peers: BTreeSet::new(),
        }
    }

    /// How many processes the table holds.
    pub fn len(&self) -> usize {
        self.procs.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.procs.is_empty()
    }

    /// Adds (or replaces) process `pid`. One map insertion, not a
    /// removal first: a fork's child is new (a replaced entry's keys go
    /// before the new ones are made).
    pub fn insert(&mut self, pid: Pid, ids: Ids, hidden: bool, value: V) {
        let e = Entry {
            value,
            ids,
            hidden,
            ready: false,
        };
        if let Some(old) = self.procs.insert(pid, e) {
            self.unindex(pid, old.ids, old.hidden, old.ready);
        }
        self.index(pid, ids, hidden, false);
    }

    /// Removes process `pid`, returning its value.
    pub fn remove(&mut self, pid: Pid) -> Option<V> {
        let e = self.procs.remove(&pid)?;
        self.unindex(pid, e.ids, e.hidden, e.ready);
        Some(e.value)
    }

    /// The value of process `pid`.
    pub fn get(&self, pid: Pid) -> Option<&V> {
        self.procs.get(&pid).map(|e| &e.value)
    }

    /// The IDs of process `pid`.
    pub fn ids(&self, pid: Pid) -> Option<Ids> {
        self.procs.get(&pid).map(|e| e.ids)
    }

    /// The first process with a PID above `after` (the lowest for
    /// `None`) and its value: a walk one step at a time, each O(log n),
    /// without holding anything between steps.
    pub fn next_after(&self, after: Option<Pid>) -> Option<(Pid, &V)> {
        use core::ops::Bound::{Excluded, Unbounded};
        let from = after.map_or(Unbounded, Excluded);
        self.procs
            .range((from, Unbounded))
            .next()
            .map(|(&pid, e)| (pid, &e.value))
    }

    /// Every value, by PID.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.procs.values().map(|e| &e.value)
    }

    /// Makes the keys of an entry with `ids`, `hidden` and `ready`.
    fn index(&mut self, pid: Pid, ids: Ids, hidden: bool, ready: bool) {
        let Ids {
            ppid,
            pgid,
            sid,
            leader,
        } = ids;
        self.children.insert((ppid, pid));
        self.group_children.insert((ppid, pgid, pid));
        self.groups.insert((pgid, pid));
        self.sessions.insert((sid, pid));
        if leader != pid {
            self.peers.insert((leader, pid));
        }
        if !hidden {
            self.visible.insert((ppid, pid));
        }
        if ready {
            self.ready_group.insert((ppid, pgid, pid));
            if !hidden {
                self.ready_visible.insert((ppid, pid));
            }
        }
    }

    /// Removes the keys [`Self::index`] made for the same arguments (and
    /// only those: each set is searched only if it holds one, every
    /// reaping passes here).
    fn unindex(&mut self, pid: Pid, ids: Ids, hidden: bool, ready: bool) {
        let Ids {
            ppid,
            pgid,
            sid,
            leader,
        } = ids;
        self.children.remove(&(ppid, pid));
        self.group_children.remove(&(ppid, pgid, pid));
        self.groups.remove(&(pgid, pid));
        self.sessions.remove(&(sid, pid));
        if leader != pid {
            self.peers.remove(&(leader, pid));
        }
        if !hidden {
            self.visible.remove(&(ppid, pid));
        }
        if ready {
            self.ready_group.remove(&(ppid, pgid, pid));
            if !hidden {
                self.ready_visible.remove(&(ppid, pid));
            }
        }
    }

    /// Changes an entry's indexed fields with `f`; false if `pid` is not
    /// in the table.
    fn update(&mut self, pid: Pid, f: impl FnOnce(&mut Ids, &mut bool, &mut bool)) -> bool {
        let Some(e) = self.procs.get_mut(&pid) else {
            return false;
        };
        let (ids, hidden, ready) = (e.ids, e.hidden, e.ready);
        f(&mut e.ids, &mut e.hidden, &mut e.ready);
        let (new_ids, new_hidden, new_ready) = (e.ids, e.hidden, e.ready);
        self.unindex(pid, ids, hidden, ready);
        self.index(pid, new_ids, new_hidden, new_ready);
        true
    }

    /// Gives process `pid` a new parent.
    pub fn set_ppid(&mut self, pid: Pid, ppid: Pid) -> bool {
        self.update(pid, |ids, _, _| ids.ppid = ppid)
    }

    /// Moves process `pid` to group `pgid` and session `sid`.
    pub fn set_job(&mut self, pid: Pid, pgid: Pid, sid: Pid) -> bool {
        self.update(pid, |ids, _, _| {
            ids.pgid = pgid;
            ids.sid = sid;
        })
    }

    /// Hides process `pid` from `wait4(-1)` or shows it again.
    pub fn set_hidden(&mut self, pid: Pid, hidden: bool) -> bool {
        self.update(pid, |_, h, _| *h = hidden)
    }

    /// Marks process `pid` as having something to report to its parent, or
    /// not (module docs).
    ///
    /// Only the two ready sets change (two set operations, where a
    /// general [`Self::update`] takes the entry out of every index and puts
    /// it back): every exit marks itself ready and every reaping removes
    /// the mark, so this is on the path of each child.
    pub fn set_ready(&mut self, pid: Pid, ready: bool) -> bool {
        let Some(e) = self.procs.get_mut(&pid) else {
            return false;
        };
        if e.ready == ready {
            return true;
        }
        e.ready = ready;
        let Ids { ppid, pgid, .. } = e.ids;
        let hidden = e.hidden;
        if ready {
            self.ready_group.insert((ppid, pgid, pid));
            if !hidden {
                self.ready_visible.insert((ppid, pid));
            }
        } else {
            self.ready_group.remove(&(ppid, pgid, pid));
            self.ready_visible.remove(&(ppid, pid));
        }
        true
    }

    /// Whether process `pid` is marked ready ([`Index::set_ready`]).
    pub fn is_ready(&self, pid: Pid) -> bool {
        self.procs.get(&pid).is_some_and(|e| e.ready)
    }

    /// Gives every child of `dead` to `adopter`; returns their PIDs. O(k
    /// log n) for k children.
    pub fn reparent_children(&mut self, dead: Pid, adopter: Pid) -> Vec<Pid> {
        let orphans: Vec<Pid> = self.children.range(pairs(dead)).map(|&(_, p)| p).collect();
        for &pid in &orphans {
            self.set_ppid(pid, adopter);
        }
        orphans
    }

    /// The children of `parent`, by PID.
    pub fn children_of(&self, parent: Pid) -> impl Iterator<Item = Pid> + '_ {
        self.children.range(pairs(parent)).map(|&(_, p)| p)
    }

    /// Whether `parent` has a child `target` names.
    pub fn has_child(&self, parent: Pid, target: WaitFor) -> bool {
        match target {
            WaitFor::Any => any_pair(&self.visible, parent),
            WaitFor::Pid(pid) => self.procs.get(&pid).is_some_and(|e| e.ids.ppid == parent),
            WaitFor::Group(pgid) => self
                .group_children
                .range((parent, pgid, LO)..)
                .next()
                .is_some_and(|k| k.0 == parent && k.1 == pgid),
        }
    }

    /// Whether `parent` has any child (hidden ones included).
    pub fn has_children(&self, parent: Pid) -> bool {
        any_pair(&self.children, parent)
    }

    /// Whether `leader` has `RFTHREAD` peers.
    pub fn has_peers(&self, leader: Pid) -> bool {
        any_pair(&self.peers, leader)
    }

    /// The first child of `parent` that `target` names, that is marked
    /// ready and whose PID is above `after` (all of them for `None`): a
    /// waiter looks at them one at a time, each in O(log n).
    pub fn next_ready(&self, parent: Pid, target: WaitFor, after: Option<Pid>) -> Option<Pid> {
        use core::ops::Bound::{Excluded, Included};
        let from = |p: Option<Pid>| p.map_or(Included(LO), Excluded);
        match target {
            WaitFor::Any => self
                .ready_visible
                .range((from(after).map(|p| (parent, p)), Included((parent, HI))))
                .next()
                .map(|k| k.1),
            WaitFor::Pid(pid) => (after.is_none_or(|a| a < pid)
                && self
                    .procs
                    .get(&pid)
                    .is_some_and(|e| e.ready && e.ids.ppid == parent))
            .then_some(pid),
            WaitFor::Group(pgid) => self
                .ready_group
                .range((
                    from(after).map(|p| (parent, pgid, p)),
                    Included((parent, pgid, HI)),
                ))
                .next()
                .map(|k| k.2),
        }
    }

    /// The members of process group `pgid`, by PID.
    pub fn group(&self, pgid: Pid) -> impl Iterator<Item = Pid> + '_ {
        self.groups.range(pairs(pgid)).map(|&(_, p)| p)
    }

    /// The session of process group `pgid`, if the group has a member
    /// (all members of a group are in one session).
    pub fn group_session(&self, pgid: Pid) -> Option<Pid> {
        let pid = self.group(pgid).next()?;
        self.ids(pid).map(|ids| ids.sid)
    }

    /// The members of session `sid`, by PID.
    pub fn session(&self, sid: Pid) -> impl Iterator<Item = Pid> + '_ {
        self.sessions.range(pairs(sid)).map(|&(_, p)| p)
    }

    /// The members of `leader`'s `RFTHREAD` peer group other than the
    /// leader, by PID.
    pub fn peers_of(&self, leader: Pid) -> impl Iterator<Item = Pid> + '_ {
        self.peers.range(pairs(leader)).map(|&(_, p)| p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::String;

    fn pid(n: u32) -> Pid {
        Pid::new(n).unwrap()
    }

    fn ids(ppid: u32, pgid: u32, sid: u32, leader: u32) -> Ids {
        Ids {
            ppid: pid(ppid),
            pgid: pid(pgid),
            sid: pid(sid),
            leader: pid(leader),
        }
    }

    /// init (1), its children 2 and 3 in group 2 (session 1), 3's child 4
    /// in group 4, 4's RFTHREAD peer 5.
    fn family() -> Index<u32> {
        let mut t = Index::new();
        t.insert(pid(1), ids(0, 1, 1, 1), false, 10);
        t.insert(pid(2), ids(1, 2, 1, 2), false, 20);
        t.insert(pid(3), ids(1, 2, 1, 3), false, 30);
        t.insert(pid(4), ids(3, 4, 1, 4), false, 40);
        t.insert(pid(5), ids(4, 4, 1, 4), false, 50);
        t
    }

    fn all<I: Iterator<Item = Pid>>(it: I) -> Vec<u32> {
        it.map(Pid::as_u32).collect()
    }

    #[test]
    fn insert_replaces_an_entry_and_its_keys() {
        let mut t = family();
        t.set_ready(pid(5), true);
        // 5 again: now a hidden child of 2 in group 2, its own peer leader.
        t.insert(pid(5), ids(2, 2, 1, 5), true, 55);
        assert_eq!(t.get(pid(5)), Some(&55));
        assert_eq!(all(t.children_of(pid(4))), Vec::<u32>::new());
        assert_eq!(all(t.children_of(pid(2))), [5]);
        assert_eq!(all(t.group(pid(4))), [4]);
        assert_eq!(all(t.group(pid(2))), [2, 3, 5]);
        assert!(!t.has_peers(pid(4)));
        assert!(!t.is_ready(pid(5)), "a new entry is not ready");
        assert_eq!(t.next_ready(pid(4), WaitFor::Any, None), None);
        assert!(!t.has_child(pid(2), WaitFor::Any), "hidden");
        assert!(t.has_child(pid(2), WaitFor::Pid(pid(5))));
        assert_eq!(t.remove(pid(5)), Some(55));
        assert!(!t.has_children(pid(2)));
        assert_eq!(all(t.group(pid(2))), [2, 3]);
    }

    #[test]
    fn one_bound_lookups_see_only_their_own_keys() {
        let t = family();
        assert!(t.has_children(pid(1)));
        assert!(t.has_children(pid(3)));
        assert!(!t.has_children(pid(2)));
        assert!(!t.has_children(pid(5)), "5 is last: nothing above it");
        assert!(t.has_peers(pid(4)));
        assert!(!t.has_peers(pid(5)));
        assert!(!t.has_peers(pid(1)));
        assert!(t.has_child(pid(3), WaitFor::Group(pid(4))));
        assert!(!t.has_child(pid(3), WaitFor::Group(pid(2))));
        assert!(
            t.has_child(pid(4), WaitFor::Group(pid(4))),
            "5, the last key"
        );
    }

    #[test]
    fn next_after_steps_through_every_pid() {
        let mut t = family();
        t.remove(pid(3));
        let mut seen = Vec::new();
        let mut at = None;
        while let Some((p, &v)) = t.next_after(at) {
            seen.push((p.as_u32(), v));
            at = Some(p);
        }
        assert_eq!(seen, [(1, 10), (2, 20), (4, 40), (5, 50)]);
        assert_eq!(t.next_after(Some(pid(5))), None);
    }

    #[test]
    fn lookups_follow_inserts_and_removes() {
        let mut t = family();
        assert_eq!(t.len(), 5);
        assert_eq!(t.get(pid(3)), Some(&30));
        assert_eq!(all(t.children_of(pid(1))), [2, 3]);
        assert_eq!(all(t.group(pid(2))), [2, 3]);
        assert_eq!(all(t.session(pid(1))), [1, 2, 3, 4, 5]);
        assert_eq!(all(t.peers_of(pid(4))), [5]);
        assert_eq!(t.remove(pid(3)), Some(30));
        assert_eq!(t.remove(pid(3)), None);
        assert_eq!(all(t.children_of(pid(1))), [2]);
        assert_eq!(all(t.group(pid(2))), [2]);
        assert_eq!(t.values().copied().collect::<Vec<_>>(), [10, 20, 40, 50]);
    }

    #[test]
    fn reparenting_moves_every_child_and_only_those() {
        let mut t = family();
        let moved = t.reparent_children(pid(3), pid(1));
        assert_eq!(all(moved.into_iter()), [4]);
        assert_eq!(all(t.children_of(pid(1))), [2, 3, 4]);
        assert_eq!(all(t.children_of(pid(3))), []);
        assert_eq!(t.ids(pid(4)).unwrap().ppid, pid(1));
        assert!(t.has_child(pid(1), WaitFor::Group(pid(4))));
        assert!(!t.has_child(pid(3), WaitFor::Any));
    }

    #[test]
    fn waits_see_ready_children_by_target() {
        let mut t = family();
        assert_eq!(t.next_ready(pid(1), WaitFor::Any, None), None);
        assert!(t.has_child(pid(1), WaitFor::Any));
        assert!(t.has_child(pid(1), WaitFor::Pid(pid(3))));
        assert!(!t.has_child(pid(1), WaitFor::Pid(pid(4))), "a grandchild");
        assert!(t.has_child(pid(1), WaitFor::Group(pid(2))));
        assert!(!t.has_child(pid(1), WaitFor::Group(pid(4))));
        t.set_ready(pid(3), true);
        assert_eq!(t.next_ready(pid(1), WaitFor::Any, None), Some(pid(3)));
        assert_eq!(
            t.next_ready(pid(1), WaitFor::Pid(pid(3)), None),
            Some(pid(3))
        );
        assert_eq!(t.next_ready(pid(1), WaitFor::Pid(pid(2)), None), None);
        assert_eq!(
            t.next_ready(pid(1), WaitFor::Group(pid(2)), None),
            Some(pid(3))
        );
        assert_eq!(t.next_ready(pid(1), WaitFor::Group(pid(4)), None), None);
        assert_eq!(t.next_ready(pid(3), WaitFor::Any, None), None);
        t.set_ready(pid(3), false);
        assert_eq!(t.next_ready(pid(1), WaitFor::Any, None), None);
        t.set_ready(pid(2), true);
        t.set_ready(pid(3), true);
        let any = WaitFor::Any;
        assert_eq!(t.next_ready(pid(1), any, None), Some(pid(2)));
        assert_eq!(t.next_ready(pid(1), any, Some(pid(2))), Some(pid(3)));
        assert_eq!(t.next_ready(pid(1), any, Some(pid(3))), None);
        let group = WaitFor::Group(pid(2));
        assert_eq!(t.next_ready(pid(1), group, Some(pid(2))), Some(pid(3)));
        assert_eq!(
            t.next_ready(pid(1), WaitFor::Pid(pid(3)), Some(pid(3))),
            None
        );
        t.remove(pid(2));
        assert_eq!(t.next_ready(pid(1), any, None), Some(pid(3)));
    }

    #[test]
    fn hidden_children_are_not_any_child() {
        let mut t = family();
        t.set_hidden(pid(2), true);
        t.set_hidden(pid(3), true);
        assert!(!t.has_child(pid(1), WaitFor::Any));
        assert!(t.has_child(pid(1), WaitFor::Pid(pid(2))));
        t.set_ready(pid(2), true);
        assert_eq!(t.next_ready(pid(1), WaitFor::Any, None), None);
        assert_eq!(
            t.next_ready(pid(1), WaitFor::Pid(pid(2)), None),
            Some(pid(2))
        );
        t.set_hidden(pid(2), false);
        assert_eq!(
            t.next_ready(pid(1), WaitFor::Any, None),
            Some(pid(2)),
            "ready kept"
        );
    }

    #[test]
    fn job_changes_move_group_and_session_keys() {
        let mut t = family();
        t.set_job(pid(3), pid(3), pid(3));
        assert_eq!(all(t.group(pid(2))), [2]);
        assert_eq!(all(t.group(pid(3))), [3]);
        assert_eq!(t.group_session(pid(3)), Some(pid(3)));
        assert_eq!(t.group_session(pid(2)), Some(pid(1)));
        assert_eq!(t.group_session(pid(9)), None);
        assert_eq!(all(t.session(pid(3))), [3]);
        assert!(
            t.has_child(pid(1), WaitFor::Group(pid(2))),
            "2 is still in it"
        );
        assert!(t.has_child(pid(1), WaitFor::Group(pid(3))));
        assert!(!t.set_job(pid(42), pid(1), pid(1)), "no such process");
    }

    #[test]
    fn a_replaced_entry_leaves_no_stale_keys() {
        let mut t = family();
        t.set_ready(pid(3), true);
        t.insert(pid(3), ids(2, 7, 7, 3), false, 31);
        assert_eq!(all(t.children_of(pid(1))), [2]);
        assert_eq!(all(t.children_of(pid(2))), [3]);
        assert_eq!(t.next_ready(pid(1), WaitFor::Any, None), None);
        assert_eq!(all(t.group(pid(2))), [2]);
    }

    /// The sets of `t`, and of a table built afresh from its entries:
    /// equal when no operation left a stale or missing key.
    fn sets_and_rebuilt(t: &Index<u32>) -> (String, String) {
        let sets = |t: &Index<u32>| {
            format!(
                "{:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
                t.children,
                t.visible,
                t.group_children,
                t.ready_visible,
                t.ready_group,
                t.groups,
                t.sessions,
                t.peers
            )
        };
        let mut fresh = Index::new();
        for (&pid, e) in &t.procs {
            fresh.insert(pid, e.ids, e.hidden, e.value);
            fresh.set_ready(pid, e.ready);
        }
        (sets(t), sets(&fresh))
    }

    #[test]
    fn ready_marks_keep_the_indexes_consistent() {
        let mut t = family();
        t.set_hidden(pid(2), true);
        t.set_ready(pid(2), true);
        t.set_ready(pid(3), true);
        t.set_ready(pid(5), true);
        t.set_ready(pid(3), true);
        let (now, fresh) = sets_and_rebuilt(&t);
        assert_eq!(now, fresh);
        t.set_job(pid(3), pid(3), pid(3));
        t.set_hidden(pid(2), false);
        t.reparent_children(pid(4), pid(1));
        t.set_ready(pid(2), false);
        t.set_ready(pid(5), false);
        let (now, fresh) = sets_and_rebuilt(&t);
        assert_eq!(now, fresh);
        t.remove(pid(3));
        let (now, fresh) = sets_and_rebuilt(&t);
        assert_eq!(now, fresh);
        assert_eq!(t.next_ready(pid(1), WaitFor::Any, None), None);
        assert_eq!(
            t.next_ready(pid(1), WaitFor::Group(pid(2)), None),
            None,
            "3 left the group and the table"
        );
    }

    #[test]
    fn many_children_reap_in_order_without_walking_the_table() {
        let mut t: Index<()> = Index::new();
        t.insert(pid(1), ids(0, 1, 1, 1), false, ());
        for n in 2..20_000 {
            t.insert(pid(n), ids(1, 1, 1, n), false, ());
        }
        for n in (2..20_000).rev() {
            t.set_ready(pid(n), true);
        }
        let mut reaped = 0;
        while let Some(p) = t.next_ready(pid(1), WaitFor::Any, None) {
            t.remove(p);
            reaped += 1;
        }
        assert_eq!(reaped, 19_998);
        assert!(!t.has_child(pid(1), WaitFor::Any));
        assert_eq!(t.len(), 1);
    }
}
