//! A process's live threads in numbered slots (pure logic, host-tested).
//!
//! Each thread keeps the number of its slot (`Thread::slot`), so leaving
//! the list is O(1): its slot is emptied and remembered as free, and
//! nothing moves. A walk by slot number that takes the list's lock once
//! per step ([`Slots::next_from`]; `Process::find_thread`) therefore
//! never skips a thread that was there throughout: with a `Vec` whose
//! removal shifted the later threads down one place, the thread after
//! each one that left meanwhile was skipped. A thread that arrives during
//! such a walk may be seen or not (it may take a free slot behind the
//! walk), as with a snapshot taken a moment earlier or later.
//!
//! A new thread takes the slot freed last, else a new one at the end; the
//! first thread of a process (its leader) takes slot 0, so a walk sees
//! the leader first while it lives. The slot table keeps its length once
//! grown (one word per slot, as the `Vec` of threads it replaces) until
//! the last thread leaves.

use alloc::vec::Vec;

/// Items in numbered slots (module docs).
#[derive(Debug)]
pub struct Slots<T> {
    slots: Vec<Option<T>>,
    /// The empty slots below `slots.len()`, freed last at the end.
    free: Vec<u32>,
    /// How many slots hold an item.
    live: usize,
}

impl<T> Default for Slots<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Slots<T> {
    /// No slot.
    pub const fn new() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
        }
    }

    /// Puts `item` in the slot freed last, or a new one; returns its
    /// number.
    pub fn insert(&mut self, item: T) -> usize {
        self.live += 1;
        if let Some(slot) = self.free.pop() {
            let slot = slot as usize;
            debug_assert!(self.slots[slot].is_none());
            self.slots[slot] = Some(item);
            return slot;
        }
        self.slots.push(Some(item));
        self.slots.len() - 1
    }

    /// Takes the item out of `slot` if there is one and `is_it` holds for
    /// it (the caller's check that it is the item it means); O(1).
    pub fn remove_if(&mut self, slot: usize, is_it: impl FnOnce(&T) -> bool) -> Option<T> {
        let entry = self.slots.get_mut(slot)?;
        if !entry.as_ref().is_some_and(is_it) {
            return None;
        }
        let item = entry.take();
        self.live -= 1;
        if self.live == 0 {
            // The last one left: give the table's memory back.
            self.slots = Vec::new();
            self.free = Vec::new();
        } else {
            // Fits: slot numbers come from `insert`, and the table never
            // holds more items than the process may have threads.
            self.free.push(slot as u32);
        }
        item
    }

    /// The item in `slot`.
    pub fn get(&self, slot: usize) -> Option<&T> {
        self.slots.get(slot)?.as_ref()
    }

    /// The first occupied slot numbered `from` or more, with its item.
    pub fn next_from(&self, from: usize) -> Option<(usize, &T)> {
        self.slots
            .get(from..)?
            .iter()
            .enumerate()
            .find_map(|(i, item)| item.as_ref().map(|item| (from + i, item)))
    }

    /// Every item, by slot number.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().flatten()
    }

    /// How many items there are.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(s: &Slots<u32>) -> Vec<u32> {
        s.iter().copied().collect()
    }

    #[test]
    fn the_first_item_takes_slot_zero_and_freed_slots_are_reused_last_first() {
        let mut s = Slots::new();
        assert_eq!(
            (s.insert(10), s.insert(11), s.insert(12), s.insert(13)),
            (0, 1, 2, 3)
        );
        assert_eq!(s.remove_if(1, |&t| t == 11), Some(11));
        assert_eq!(s.remove_if(2, |&t| t == 12), Some(12));
        assert_eq!((s.len(), items(&s)), (2, vec![10, 13]));
        assert_eq!(s.insert(14), 2);
        assert_eq!(s.insert(15), 1);
        assert_eq!(s.insert(16), 4);
        assert_eq!(items(&s), [10, 15, 14, 13, 16]);
        assert_eq!(s.get(2), Some(&14));
    }

    #[test]
    fn removal_checks_the_item_and_leaves_the_others_where_they_are() {
        let mut s = Slots::new();
        for t in 0..5 {
            s.insert(t);
        }
        // Not the item meant, an empty slot, a slot past the end.
        assert_eq!(s.remove_if(3, |&t| t == 4), None);
        assert_eq!(s.remove_if(9, |_| true), None);
        assert_eq!(s.remove_if(3, |&t| t == 3), Some(3));
        assert_eq!(s.remove_if(3, |_| true), None);
        assert_eq!((s.get(4), s.get(3), s.len()), (Some(&4), None, 4));
        // The last one out empties the table; the next starts at 0.
        for slot in [0, 1, 2, 4] {
            assert!(s.remove_if(slot, |_| true).is_some());
        }
        assert!(s.is_empty() && s.next_from(0).is_none());
        assert_eq!(s.insert(7), 0);
    }

    #[test]
    fn a_walk_by_slot_misses_no_item_that_stays_while_others_leave() {
        // The walk `Process::find_thread` makes, one step at a time,
        // with items leaving behind and ahead of it between steps.
        let mut s = Slots::new();
        for t in 0..8 {
            s.insert(t);
        }
        let mut seen = Vec::new();
        let mut at = 0;
        while let Some((slot, &item)) = s.next_from(at) {
            seen.push(item);
            if item == 2 {
                s.remove_if(0, |_| true);
                s.remove_if(2, |_| true);
                s.remove_if(5, |_| true);
            }
            at = slot + 1;
        }
        assert_eq!(seen, [0, 1, 2, 3, 4, 6, 7]);
        assert_eq!(s.next_from(100), None);
    }
}
