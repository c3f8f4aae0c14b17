//! The per-process file descriptor table (pure, host-tested).
//!
//! [`FdTable<F>`] maps small integers to open files `F` (on the machine
//! `Arc<OpenFile>`, in host tests anything `Clone`), each with its own
//! descriptor flags ([`FdFlags`]: `FD_CLOEXEC`, and Tine's `FD_CLOFORK`).
//! The table locks itself (one spin lock, held for a slot operation
//! only, never across an await), so a process can hold it in an `Arc` and
//! share it with another process (`CLONE_FILES`) or have it replaced in
//! place (`rfork` without `RFPROC`); see `docs/files.md`.
//!
//! Rules, as POSIX and Linux give them:
//! - a new descriptor is the lowest free one (at or above a minimum for
//!   `F_DUPFD`) below the caller's limit, its soft `RLIMIT_NOFILE`
//!   (each allocating call takes it as `limit`, as Linux's `alloc_fd`
//!   takes `rlimit(RLIMIT_NOFILE)`: a table shared by `CLONE_FILES` has
//!   no limit of its own), never past the table's size [`NOFILE_MAX`];
//!   when that lowest free one would be at or past the limit the call is
//!   `EMFILE`, and `F_DUPFD` with a minimum at or past it `EINVAL`;
//! - descriptors already open at or above a lowered limit stay usable
//!   (read, close, `dup` from them), as on Linux;
//! - a descriptor argument is its register's low 32 bits ([`fd_arg`]:
//!   Linux's calls take an `int`), so `fd | 1 << 32` is `fd`;
//! - `dup2(old, new)` with `old == new` checks `old` and returns it;
//!   `dup3` refuses it (`EINVAL`); a `new` at or past the limit is `EBADF`;
//! - fork copies every slot except those marked `FD_CLOFORK`
//!   ([`FdTable::fork_copy`]); exec closes those marked `FD_CLOEXEC`
//!   ([`FdTable::close_on_exec`]).
//!
//! Files removed from the table are handed back to the caller, so their
//! last reference is dropped (a pipe end closed, waking readers) after the
//! table's lock is released.

use alloc::vec::Vec;

use abi::Errno;

/// Most descriptors a process may hold (`RLIMIT_NOFILE`, soft and hard):
/// Linux's default soft limit, 1024 (it was 256: the kselftest
/// `close_range_test` `dup2`s to 1000). The table grows as it is used.
pub const NOFILE_MAX: usize = 1024;

/// Per-descriptor flags (`F_GETFD`/`F_SETFD`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FdFlags(u32);

impl FdFlags {
    /// Close on exec (`FD_CLOEXEC`, Linux's value).
    pub const CLOEXEC: Self = Self(1);
    /// Close on fork (`FD_CLOFORK`, POSIX.1-2024; 2 as on NetBSD/FreeBSD).
    pub const CLOFORK: Self = Self(2);
    pub const NONE: Self = Self(0);

    /// From `F_SETFD`'s argument: unknown bits are ignored, as on Linux.
    pub const fn from_bits_truncate(bits: u64) -> Self {
        Self((bits as u32) & (Self::CLOEXEC.0 | Self::CLOFORK.0))
    }

    pub const fn bits(self) -> u32 {
        self.0
    }

    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// One used slot.
#[derive(Clone, Debug)]
struct Slot<F> {
    file: F,
    flags: FdFlags,
}

/// A descriptor table (module docs).
pub struct FdTable<F: Clone> {
    slots: spin::Mutex<Vec<Option<Slot<F>>>>,
}

impl<F: Clone> Default for FdTable<F> {
    fn default() -> Self {
        Self::empty()
    }
}

/// Checks a descriptor number from user space. Only its low 32 bits
/// count: Linux's calls take an `int` or `unsigned int`, so the upper
/// half of the register is ignored and a negative `int` is past every
/// table ([`fd_arg`]).
fn index(fd: u64) -> Result<usize, Errno> {
    Some(fd_arg(fd) as usize)
        .filter(|&i| i < NOFILE_MAX)
        .ok_or(Errno::EBADF)
}

/// A descriptor argument as the kernel reads it: the register's low 32
/// bits (`int fd` or `unsigned int fd` in Linux's system calls; a
/// negative one becomes a huge unsigned number, so `EBADF`).
pub const fn fd_arg(register: u64) -> u32 {
    register as u32
}

/// The lowest free slot at or above `min`, growing the vector as needed;
/// `EMFILE` when it would be at or past `limit` (or the table's size).
fn lowest_free<F>(
    slots: &mut Vec<Option<Slot<F>>>,
    min: usize,
    limit: usize,
) -> Result<usize, Errno> {
    let limit = limit.min(NOFILE_MAX);
    let found = (min..slots.len().min(limit)).find(|&i| slots[i].is_none());
    let fd = match found {
        Some(fd) => fd,
        None => slots.len().max(min),
    };
    if fd >= limit {
        return Err(Errno::EMFILE);
    }
    if fd >= slots.len() {
        slots.resize_with(fd + 1, || None);
    }
    Ok(fd)
}

impl<F: Clone> FdTable<F> {
    /// A table with no descriptors.
    pub const fn empty() -> Self {
        Self {
            slots: spin::Mutex::new(Vec::new()),
        }
    }

    /// Empties the table in place and returns what it held, for the
    /// caller to drop (closing those descriptors) outside any lock: a
    /// process's exit when no one else shares its table, so no new empty
    /// table is made.
    pub fn take_all(&self) -> Self {
        Self {
            slots: spin::Mutex::new(core::mem::take(&mut *self.slots.lock())),
        }
    }

    /// The heap bytes the table holds: itself and its slots (`mem`).
    pub fn heap_bytes(&self) -> usize {
        core::mem::size_of::<Self>()
            + self.slots.lock().capacity() * core::mem::size_of::<Option<Slot<F>>>()
    }

    /// A table with `file` at 0, 1 and 2 (what the kernel gives the
    /// processes it starts: the console).
    pub fn with_stdio(file: F) -> Self {
        let table = Self::empty();
        for _ in 0..3 {
            // Cannot fail: the table is far below its limit.
            let _ = table.insert(file.clone(), FdFlags::NONE, NOFILE_MAX);
        }
        table
    }

    /// Installs `file` at the lowest free descriptor. `EMFILE` when that
    /// is at or past `limit` (the caller's soft `RLIMIT_NOFILE`).
    pub fn insert(&self, file: F, flags: FdFlags, limit: usize) -> Result<u32, Errno> {
        self.insert_from(0, file, flags, limit)
    }

    /// Installs `file` at the lowest free descriptor `>= min` (`F_DUPFD`),
    /// below `limit`.
    pub fn insert_from(
        &self,
        min: usize,
        file: F,
        flags: FdFlags,
        limit: usize,
    ) -> Result<u32, Errno> {
        let mut slots = self.slots.lock();
        let fd = lowest_free(&mut slots, min, limit)?;
        slots[fd] = Some(Slot { file, flags });
        Ok(fd as u32)
    }

    /// `EMFILE` when no descriptor below `limit` is free. `open` asks
    /// before it creates or truncates a file, so a call that fails with
    /// `EMFILE` changes nothing (Linux takes the descriptor first); another
    /// thread may still take the last one in between, and then the
    /// `insert` that follows fails.
    pub fn check_room(&self, limit: usize) -> Result<(), Errno> {
        let slots = self.slots.lock();
        let limit = limit.min(NOFILE_MAX);
        if slots.len() < limit || slots[..limit].iter().any(Option::is_none) {
            Ok(())
        } else {
            Err(Errno::EMFILE)
        }
    }

    /// Installs two files at the two lowest free descriptors below
    /// `limit` (`pipe`): both or neither.
    pub fn insert_pair(&self, a: F, b: F, flags: FdFlags, limit: usize) -> Result<[u32; 2], Errno> {
        let mut slots = self.slots.lock();
        let first = lowest_free(&mut slots, 0, limit)?;
        slots[first] = Some(Slot { file: a, flags });
        match lowest_free(&mut slots, first + 1, limit) {
            Ok(second) => {
                slots[second] = Some(Slot { file: b, flags });
                Ok([first as u32, second as u32])
            }
            Err(e) => {
                let undone = slots[first].take();
                drop(slots);
                drop(undone);
                Err(e)
            }
        }
    }

    /// The file at `fd`; `EBADF` if it is not open.
    pub fn get(&self, fd: u64) -> Result<F, Errno> {
        let i = index(fd)?;
        self.slots
            .lock()
            .get(i)
            .and_then(|s| s.as_ref())
            .map(|s| s.file.clone())
            .ok_or(Errno::EBADF)
    }

    /// The descriptor flags of `fd` (`F_GETFD`).
    pub fn flags(&self, fd: u64) -> Result<FdFlags, Errno> {
        let i = index(fd)?;
        self.slots
            .lock()
            .get(i)
            .and_then(|s| s.as_ref())
            .map(|s| s.flags)
            .ok_or(Errno::EBADF)
    }

    /// Sets the descriptor flags of `fd` (`F_SETFD`).
    pub fn set_flags(&self, fd: u64, flags: FdFlags) -> Result<(), Errno> {
        let i = index(fd)?;
        let mut slots = self.slots.lock();
        let slot = slots
            .get_mut(i)
            .and_then(|s| s.as_mut())
            .ok_or(Errno::EBADF)?;
        slot.flags = flags;
        Ok(())
    }

    /// Closes `fd` and returns its file (drop it after this returns).
    pub fn remove(&self, fd: u64) -> Result<F, Errno> {
        let i = index(fd)?;
        let mut slots = self.slots.lock();
        let slot = slots
            .get_mut(i)
            .and_then(Option::take)
            .ok_or(Errno::EBADF)?;
        Ok(slot.file)
    }

    /// `dup(old)` and `F_DUPFD(old, min)`: the lowest free descriptor
    /// `>= min` gets `old`'s file with `flags`. `EBADF` for a closed `old`,
    /// `EINVAL` for `min` at or past `limit` (Linux's `f_dupfd`), `EMFILE`
    /// when no descriptor below `limit` is free.
    pub fn dup_from(&self, old: u64, min: u64, flags: FdFlags, limit: usize) -> Result<u32, Errno> {
        let file = self.get(old)?;
        let min = usize::try_from(min)
            .ok()
            .filter(|&m| m < limit.min(NOFILE_MAX))
            .ok_or(Errno::EINVAL)?;
        self.insert_from(min, file, flags, limit)
    }

    /// `dup2`/`dup3(old, new, flags)`: `new` (closed first if open) gets
    /// `old`'s file. Returns `new` and the file it replaced (drop it after
    /// this returns). `EBADF` for a closed `old` or a `new` at or past
    /// `limit`. `old == new` is left to the caller (`dup2` returns it,
    /// `dup3` refuses it).
    pub fn dup_to(
        &self,
        old: u64,
        new: u64,
        flags: FdFlags,
        limit: usize,
    ) -> Result<(u32, Option<F>), Errno> {
        let o = index(old)?;
        let n = index(new)?;
        if n >= limit {
            return Err(Errno::EBADF);
        }
        let mut slots = self.slots.lock();
        let file = slots
            .get(o)
            .and_then(|s| s.as_ref())
            .map(|s| s.file.clone())
            .ok_or(Errno::EBADF)?;
        if n >= slots.len() {
            slots.resize_with(n + 1, || None);
        }
        let replaced = slots[n].replace(Slot { file, flags });
        Ok((n as u32, replaced.map(|s| s.file)))
    }

    /// Fork's copy: every descriptor except those marked `FD_CLOFORK`,
    /// same numbers, same flags, sharing the open files (offsets and
    /// status flags) with this table.
    pub fn fork_copy(&self) -> Self {
        let slots = self.slots.lock();
        let copy = slots
            .iter()
            .map(|s| {
                s.as_ref()
                    .filter(|s| !s.flags.contains(FdFlags::CLOFORK))
                    .cloned()
            })
            .collect();
        Self {
            slots: spin::Mutex::new(copy),
        }
    }

    /// A full copy, close-on-fork descriptors included: what a process
    /// that shared its table gets when it unshares it in place (rfork
    /// without `RFPROC`, FreeBSD's `fdunshare`).
    pub fn unshared_copy(&self) -> Self {
        Self {
            slots: spin::Mutex::new(self.slots.lock().clone()),
        }
    }

    /// Exec's step: closes every descriptor marked `FD_CLOEXEC`; returns
    /// the files (drop them after this returns).
    pub fn close_on_exec(&self) -> Vec<F> {
        let mut slots = self.slots.lock();
        slots
            .iter_mut()
            .filter(|s| {
                s.as_ref()
                    .is_some_and(|s| s.flags.contains(FdFlags::CLOEXEC))
            })
            .filter_map(|s| s.take().map(|s| s.file))
            .collect()
    }

    /// `close_range(first, last)`: closes every open descriptor in
    /// `first..=last` and returns their files (drop them after this
    /// returns); with `cloexec` (`CLOSE_RANGE_CLOEXEC`) marks them
    /// `FD_CLOEXEC` instead and returns nothing. Closed numbers in the
    /// range are skipped; `last` may be far beyond the table.
    pub fn close_range(&self, first: u64, last: u64, cloexec: bool) -> Vec<F> {
        let mut slots = self.slots.lock();
        let Ok(first) = usize::try_from(first) else {
            return Vec::new();
        };
        let end = usize::try_from(last)
            .unwrap_or(usize::MAX)
            .saturating_add(1)
            .min(slots.len());
        if first >= end {
            return Vec::new();
        }
        let range = &mut slots[first..end];
        if cloexec {
            for slot in range.iter_mut().flatten() {
                slot.flags = slot.flags.union(FdFlags::CLOEXEC);
            }
            return Vec::new();
        }
        range
            .iter_mut()
            .filter_map(|s| s.take().map(|s| s.file))
            .collect()
    }

    /// Whether some descriptor is marked `FD_CLOFORK` (so a fork that
    /// shares the table cannot honour it: the fork family decides).
    pub fn has_clofork(&self) -> bool {
        self.slots
            .lock()
            .iter()
            .flatten()
            .any(|s| s.flags.contains(FdFlags::CLOFORK))
    }

    /// Closes everything; returns the files (process exit).
    pub fn clear(&self) -> Vec<F> {
        let mut slots = self.slots.lock();
        core::mem::take(&mut *slots)
            .into_iter()
            .flatten()
            .map(|s| s.file)
            .collect()
    }

    /// How many descriptors are open.
    pub fn len(&self) -> usize {
        self.slots.lock().iter().flatten().count()
    }

    /// Whether no descriptor is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The open descriptors, in order.
    pub fn fds(&self) -> Vec<u32> {
        self.slots
            .lock()
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some())
            .map(|(i, _)| i as u32)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(n: u32) -> FdTable<u32> {
        let t = FdTable::empty();
        for i in 0..n {
            assert_eq!(t.insert(100 + i, FdFlags::NONE, NOFILE_MAX), Ok(i));
        }
        t
    }

    #[test]
    fn lowest_free_descriptor_is_reused() {
        let t = table(5);
        assert_eq!(t.remove(1), Ok(101));
        assert_eq!(t.remove(3), Ok(103));
        assert_eq!(t.insert(7, FdFlags::NONE, NOFILE_MAX), Ok(1));
        assert_eq!(t.insert(8, FdFlags::NONE, NOFILE_MAX), Ok(3));
        assert_eq!(t.insert(9, FdFlags::NONE, NOFILE_MAX), Ok(5));
        assert_eq!(t.get(3), Ok(8));
        assert_eq!(t.remove(3), Ok(8));
        assert_eq!(t.remove(3), Err(Errno::EBADF));
        assert_eq!(t.get(3), Err(Errno::EBADF));
        assert_eq!(t.get(u64::MAX), Err(Errno::EBADF));
        assert_eq!(t.get(NOFILE_MAX as u64 + 5), Err(Errno::EBADF));
    }

    #[test]
    fn only_the_low_32_bits_of_a_descriptor_count() {
        let t = table(3);
        assert_eq!(t.get(1 << 32 | 2), Ok(102));
        assert_eq!(t.flags(u64::MAX << 32), Ok(FdFlags::NONE));
        assert_eq!(t.get(0xffff_ffff), Err(Errno::EBADF));
        assert_eq!(
            t.dup_to(1 << 40 | 1, 1 << 33 | 5, FdFlags::NONE, NOFILE_MAX)
                .map(|(n, _)| n),
            Ok(5)
        );
        assert_eq!(t.remove(7 << 32 | 5), Ok(101));
        assert_eq!(t.get(5), Err(Errno::EBADF));
    }

    #[test]
    fn the_limit_is_emfile_and_nothing_changes() {
        let t = table(NOFILE_MAX as u32);
        assert_eq!(t.insert(1, FdFlags::NONE, NOFILE_MAX), Err(Errno::EMFILE));
        assert_eq!(
            t.dup_from(0, 0, FdFlags::NONE, NOFILE_MAX),
            Err(Errno::EMFILE)
        );
        assert_eq!(t.len(), NOFILE_MAX);
        t.remove(10).unwrap();
        assert_eq!(
            t.insert_pair(1, 2, FdFlags::NONE, NOFILE_MAX),
            Err(Errno::EMFILE)
        );
        assert_eq!(
            t.len(),
            NOFILE_MAX - 1,
            "a failed pair leaves no slot taken"
        );
        assert_eq!(t.insert(1, FdFlags::NONE, NOFILE_MAX), Ok(10));
    }

    #[test]
    fn a_lowered_limit_bounds_new_descriptors_only() {
        let t = table(5);
        // Limit 5: 0..=4 are open, so nothing more fits.
        assert_eq!(t.insert(1, FdFlags::NONE, 5), Err(Errno::EMFILE));
        assert_eq!(t.dup_from(0, 0, FdFlags::NONE, 5), Err(Errno::EMFILE));
        assert_eq!(t.dup_from(0, 4, FdFlags::NONE, 5), Err(Errno::EMFILE));
        assert_eq!(t.dup_from(0, 5, FdFlags::NONE, 5), Err(Errno::EINVAL));
        assert_eq!(t.dup_to(0, 5, FdFlags::NONE, 5), Err(Errno::EBADF));
        assert_eq!(t.dup_to(0, 4, FdFlags::NONE, 5), Ok((4, Some(104))));
        t.remove(3).unwrap();
        assert_eq!(
            t.insert_pair(1, 2, FdFlags::NONE, 5),
            Err(Errno::EMFILE),
            "one slot below the limit is not two"
        );
        assert_eq!(t.fds(), [0, 1, 2, 4], "the failed pair took nothing");
        assert_eq!(t.insert(7, FdFlags::NONE, 5), Ok(3));
        // Open at 10 under the full limit, then lower it to 3: 10 stays
        // usable, and a freed slot below the limit is still found.
        assert_eq!(t.dup_to(0, 10, FdFlags::NONE, NOFILE_MAX), Ok((10, None)));
        assert_eq!(t.get(10), Ok(100));
        assert_eq!(t.dup_from(10, 0, FdFlags::NONE, 3), Err(Errno::EMFILE));
        assert_eq!(t.remove(1), Ok(101));
        assert_eq!(t.dup_from(10, 0, FdFlags::NONE, 3), Ok(1));
        assert_eq!(t.remove(10), Ok(100));
        assert_eq!(t.check_room(5), Err(Errno::EMFILE));
        assert_eq!(t.check_room(6), Ok(()));
        assert_eq!(t.check_room(0), Err(Errno::EMFILE));
        t.remove(2).unwrap();
        assert_eq!(t.check_room(3), Ok(()));
        assert_eq!(t.insert(2, FdFlags::NONE, 3), Ok(2));
        assert_eq!(t.insert(9, FdFlags::NONE, 0), Err(Errno::EMFILE));
        assert_eq!(
            t.insert(9, FdFlags::NONE, usize::MAX),
            Ok(5),
            "the table's own size still bounds"
        );
    }

    #[test]
    fn pairs_take_the_two_lowest() {
        let t = table(4);
        t.remove(0).unwrap();
        t.remove(2).unwrap();
        assert_eq!(
            t.insert_pair(50, 51, FdFlags::CLOEXEC, NOFILE_MAX),
            Ok([0, 2])
        );
        assert_eq!(t.flags(2), Ok(FdFlags::CLOEXEC));
        assert_eq!(t.insert_pair(60, 61, FdFlags::NONE, NOFILE_MAX), Ok([4, 5]));
    }

    #[test]
    fn dup_from_honours_the_minimum() {
        let t = table(3);
        assert_eq!(t.dup_from(1, 10, FdFlags::CLOEXEC, NOFILE_MAX), Ok(10));
        assert_eq!(t.get(10), Ok(101));
        assert_eq!(t.flags(10), Ok(FdFlags::CLOEXEC));
        assert_eq!(t.dup_from(1, 0, FdFlags::NONE, NOFILE_MAX), Ok(3));
        assert_eq!(
            t.dup_from(9, 0, FdFlags::NONE, NOFILE_MAX),
            Err(Errno::EBADF)
        );
        assert_eq!(
            t.dup_from(1, NOFILE_MAX as u64, FdFlags::NONE, NOFILE_MAX),
            Err(Errno::EINVAL)
        );
        assert_eq!(t.fds(), [0, 1, 2, 3, 10]);
    }

    #[test]
    fn dup_to_replaces_and_returns_the_old_file() {
        let t = table(3);
        assert_eq!(
            t.dup_to(0, 2, FdFlags::NONE, NOFILE_MAX),
            Ok((2, Some(102)))
        );
        assert_eq!(t.get(2), Ok(100));
        assert_eq!(
            t.dup_to(1, 40, FdFlags::CLOEXEC, NOFILE_MAX),
            Ok((40, None))
        );
        assert_eq!(t.flags(40), Ok(FdFlags::CLOEXEC));
        assert_eq!(t.dup_to(7, 3, FdFlags::NONE, NOFILE_MAX), Err(Errno::EBADF));
        assert_eq!(
            t.dup_to(0, NOFILE_MAX as u64, FdFlags::NONE, NOFILE_MAX),
            Err(Errno::EBADF)
        );
        assert_eq!(t.insert(9, FdFlags::NONE, NOFILE_MAX), Ok(3));
    }

    #[test]
    fn close_range_closes_or_marks_only_the_open_descriptors_in_range() {
        let t = table(8);
        t.remove(3).unwrap();
        let closed = t.close_range(2, 5, false);
        assert_eq!(closed.len(), 3, "2, 4 and 5 (3 was closed)");
        assert_eq!(t.fds(), vec![0, 1, 6, 7]);
        assert!(t.close_range(100, u64::MAX, false).is_empty());
        assert!(t.close_range(7, 1, false).is_empty(), "empty range");
        assert!(t.close_range(6, u64::MAX, true).is_empty());
        assert_eq!(t.fds(), vec![0, 1, 6, 7], "CLOEXEC closes nothing");
        assert!(t.flags(6).unwrap().contains(FdFlags::CLOEXEC));
        assert!(t.flags(7).unwrap().contains(FdFlags::CLOEXEC));
        assert!(!t.flags(1).unwrap().contains(FdFlags::CLOEXEC));
        assert_eq!(t.close_range(0, u64::MAX, false).len(), 4);
        assert!(t.is_empty());
    }

    #[test]
    fn fork_copy_drops_clofork_and_exec_closes_cloexec() {
        let t = table(4);
        t.set_flags(1, FdFlags::CLOFORK).unwrap();
        t.set_flags(2, FdFlags::CLOEXEC).unwrap();
        t.set_flags(3, FdFlags::CLOEXEC.union(FdFlags::CLOFORK))
            .unwrap();
        assert!(t.has_clofork());
        let child = t.fork_copy();
        assert_eq!(child.fds(), [0, 2]);
        assert!(!child.has_clofork());
        assert_eq!(child.flags(2), Ok(FdFlags::CLOEXEC));
        assert_eq!(child.insert(5, FdFlags::NONE, NOFILE_MAX), Ok(1));
        let mut closed = t.close_on_exec();
        closed.sort();
        assert_eq!(closed, [102, 103]);
        assert_eq!(t.fds(), [0, 1]);
        assert_eq!(child.close_on_exec(), [102]);
        assert_eq!(child.fds(), [0, 1]);
        assert_eq!(t.fds(), [0, 1], "the parent's table is its own");
    }

    #[test]
    fn setfd_keeps_only_known_bits() {
        assert_eq!(FdFlags::from_bits_truncate(0xff), FdFlags(3));
        assert_eq!(FdFlags::from_bits_truncate(1 << 40), FdFlags::NONE);
        let t = FdTable::with_stdio(7u32);
        assert_eq!(t.fds(), [0, 1, 2]);
        assert_eq!(t.clear(), [7, 7, 7]);
        assert!(t.is_empty());
    }
}
