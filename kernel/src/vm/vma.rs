//! VMA bookkeeping: which ranges of a user address space exist, with what
//! permissions, and what a page fault in them means. Pure logic, tested on
//! the host; `super::space::AddressSpace` pairs it with the page table.
//!
//! - [`Vma`]: a page-aligned range `[start, end)` with [`VmPerms`], a
//!   [`VmaKind`] (what it is for: private memory whose missing pages are
//!   zero-filled on first touch, or a shared-memory object's pages) and
//!   an [`Inherit`] (what fork gives the child).
//! - [`VmaSet`]: the non-overlapping VMAs of one address space, sorted by
//!   start: insert, lookup, remove a range (splitting VMAs), resize one
//!   (`brk`), find a free gap (`mmap`).
//! - [`classify`]: the page-fault policy as a pure function: a fault is a
//!   page to fill, a copy-on-write, a spurious fault to retry, or a
//!   `SIGSEGV`.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::Cell;

/// The page size.
pub const PAGE_SIZE: u64 = 4096;

/// Rounds `addr` down to a page boundary.
pub const fn page_down(addr: u64) -> u64 {
    addr & !(PAGE_SIZE - 1)
}

/// Rounds `addr` up to a page boundary (`None` on overflow).
pub const fn page_up(addr: u64) -> Option<u64> {
    match addr.checked_add(PAGE_SIZE - 1) {
        Some(a) => Some(a & !(PAGE_SIZE - 1)),
        None => None,
    }
}

/// Access rights of a VMA.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmPerms {
    pub read: bool,
    pub write: bool,
    pub exec: bool,
}

impl VmPerms {
    /// Read-only.
    pub const R: Self = Self {
        read: true,
        write: false,
        exec: false,
    };
    /// Read-write.
    pub const RW: Self = Self {
        read: true,
        write: true,
        exec: false,
    };
    /// Read-execute (code).
    pub const RX: Self = Self {
        read: true,
        write: false,
        exec: true,
    };

    /// The `PROT_READ | PROT_WRITE | PROT_EXEC` bits of `mmap`.
    pub const fn from_prot(prot: u64) -> Self {
        Self {
            read: prot & 1 != 0,
            write: prot & 2 != 0,
            exec: prot & 4 != 0,
        }
    }

    /// The union of two permission sets.
    pub const fn union(self, other: Self) -> Self {
        Self {
            read: self.read || other.read,
            write: self.write || other.write,
            exec: self.exec || other.exec,
        }
    }
}

impl core::fmt::Display for VmPerms {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let c = |on: bool, ch: char| if on { ch } else { '-' };
        write!(
            f,
            "{}{}{}",
            c(self.read, 'r'),
            c(self.write, 'w'),
            c(self.exec, 'x')
        )
    }
}

/// What a VMA is for. All kinds but [`VmaKind::Shared`] are private,
/// zero-filled on demand; the program image's pages that hold file bytes
/// are copied in at load time (`exec::load`), its `.bss`-only pages are
/// left to the first touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmaKind {
    /// A `PT_LOAD` segment of the program (copied from the initramfs).
    Image,
    /// The heap `brk` moves.
    Heap,
    /// The initial thread's stack.
    Stack,
    /// `mmap(MAP_ANONYMOUS)` or the kernel's own anonymous mappings.
    Anonymous,
    /// `mmap(MAP_SHARED | MAP_ANONYMOUS)`: the pages belong to the
    /// shared-memory object `object` of the address space, whose page `i`
    /// appears at `base + i * PAGE_SIZE` (`base` stays put when the VMA is
    /// split, and moves with it under `mremap`). Writes are seen by every
    /// space mapping the object; fork shares it (FreeBSD's
    /// `VM_INHERIT_SHARE`).
    Shared { object: u64, base: u64 },
    /// The vDSO's data page or image (`arch::user::vdso`): frames shared
    /// by every process, mapped read-only (a write after `mprotect` gets a
    /// private copy, as for any shared frame).
    Vdso,
}

impl VmaKind {
    /// Whether the pages are private to the address space (copy-on-write
    /// across fork).
    pub const fn is_private(self) -> bool {
        !matches!(self, Self::Shared { .. })
    }
}

/// What a child gets of a VMA at fork (set by `madvise`; FreeBSD's
/// `vm_inherit_t`, Linux's `VM_DONTCOPY`/`VM_WIPEONFORK`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Inherit {
    /// The child gets the VMA: private pages copy-on-write, shared ones
    /// shared (`MADV_DOFORK`, `MADV_KEEPONFORK`; the default).
    #[default]
    Copy,
    /// The child has nothing there (`MADV_DONTFORK`).
    None,
    /// The child gets the VMA empty: its pages read as zeros
    /// (`MADV_WIPEONFORK`, private memory only).
    Zero,
}

/// A virtual memory area: `[start, end)`, page-aligned, non-empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vma {
    pub start: u64,
    pub end: u64,
    pub perms: VmPerms,
    pub kind: VmaKind,
    /// What fork gives the child.
    pub inherit: Inherit,
}

impl Vma {
    /// A VMA inherited by fork the default way.
    pub const fn new(start: u64, end: u64, perms: VmPerms, kind: VmaKind) -> Self {
        Self {
            start,
            end,
            perms,
            kind,
            inherit: Inherit::Copy,
        }
    }

    /// Whether `addr` lies in the VMA.
    pub fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether the VMA is empty (never true of a VMA in a set).
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// Why a VMA change was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmaError {
    /// Not page-aligned, empty, or reaching past the end of user space.
    BadRange,
    /// The range overlaps an existing VMA.
    Overlap,
    /// No VMA starts there (`resize`).
    NotFound,
    /// No free range of that size.
    NoSpace,
}

/// The most VMAs one address space may have (Linux's default
/// `vm.max_map_count`): past it, a mapping, or a split by `munmap` or
/// `mprotect`, is `NoSpace` (`ENOMEM`), so no process can grow its VMA
/// tree until the kernel heap is exhausted.
pub const MAX_VMAS: usize = 65_530;

/// The VMAs of one address space, keyed by start address.
///
/// Cloning is O(1): the tree is shared (`Arc`) and copied at the first
/// change made while another set still shares it (`Arc::make_mut`). A
/// fork clones its parent's set and the child usually exits or execs
/// without changing it, so a process with many VMAs (64 threads have 128:
/// a stack and its guard each) no longer pays a tree copy at every fork
/// and a tree teardown at every child's exit. The set also keeps the
/// total of its pages and the number of VMAs with an inheritance other
/// than [`Inherit::Copy`], so neither needs a walk (fork reads both).
#[derive(Clone, Debug, Default)]
pub struct VmaSet {
    map: Arc<BTreeMap<u64, Vma>>,
    /// User addresses end here (exclusive).
    limit: u64,
    /// The pages of every VMA, summed.
    pages: u64,
    /// How many VMAs have `inherit != Inherit::Copy`.
    odd: usize,
    /// The VMA [`Self::lookup`] found last (page faults mostly come
    /// in runs in one VMA); forgotten at every change of the tree.
    last: Cell<Option<Vma>>,
}

impl VmaSet {
    /// An empty set over `[0, limit)`.
    pub fn new(limit: u64) -> Self {
        Self {
            map: Arc::new(BTreeMap::new()),
            limit,
            pages: 0,
            odd: 0,
            last: Cell::new(None),
        }
    }

    /// The tree, to change (copied first if another set shares it); the
    /// lookup cache is forgotten. Every change goes through here.
    fn tree_mut(&mut self) -> &mut BTreeMap<u64, Vma> {
        self.last.set(None);
        Arc::make_mut(&mut self.map)
    }

    /// Adds (or replaces, by its start) `vma` in the tree, copying the
    /// tree first if another set shares it, and keeps the counts.
    fn put(&mut self, vma: Vma) {
        if let Some(old) = self.tree_mut().insert(vma.start, vma) {
            self.uncount(&old);
        }
        self.count(&vma);
    }

    /// Takes the VMA starting at `start` out of the tree (copying it
    /// first if shared), keeping the counts.
    fn take(&mut self, start: u64) -> Option<Vma> {
        let old = self.tree_mut().remove(&start)?;
        self.uncount(&old);
        Some(old)
    }

    fn count(&mut self, vma: &Vma) {
        self.pages += vma.len() / PAGE_SIZE;
        self.odd += usize::from(vma.inherit != Inherit::Copy);
    }

    fn uncount(&mut self, vma: &Vma) {
        self.pages -= vma.len() / PAGE_SIZE;
        self.odd -= usize::from(vma.inherit != Inherit::Copy);
    }

    /// The pages of every VMA, summed (kept, not walked).
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// Whether some VMA has an inheritance other than [`Inherit::Copy`]
    /// (kept, not walked: fork looks for such VMAs only then).
    pub fn has_odd_inherit(&self) -> bool {
        self.odd != 0
    }

    /// Whether this set's tree is shared with another set (a fork's
    /// clone that neither side changed yet).
    pub fn shares_tree(&self) -> bool {
        Arc::strong_count(&self.map) > 1
    }

    fn check_range(&self, start: u64, end: u64) -> Result<(), VmaError> {
        if start >= end
            || !start.is_multiple_of(PAGE_SIZE)
            || !end.is_multiple_of(PAGE_SIZE)
            || end > self.limit
        {
            return Err(VmaError::BadRange);
        }
        Ok(())
    }

    /// Whether any VMA overlaps `[start, end)`.
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        // The last VMA starting below `end` is the only candidate (VMAs do
        // not overlap one another).
        self.map
            .range(..end)
            .next_back()
            .is_some_and(|(_, v)| v.end > start)
    }

    /// Adds a VMA; it must not overlap any other.
    pub fn insert(&mut self, vma: Vma) -> Result<(), VmaError> {
        self.check_range(vma.start, vma.end)?;
        if self.overlaps(vma.start, vma.end) {
            return Err(VmaError::Overlap);
        }
        if self.map.len() >= MAX_VMAS {
            return Err(VmaError::NoSpace);
        }
        self.put(vma);
        Ok(())
    }

    /// The VMA containing `addr`.
    pub fn find(&self, addr: u64) -> Option<&Vma> {
        self.map
            .range(..=addr)
            .next_back()
            .map(|(_, v)| v)
            .filter(|v| v.contains(addr))
    }

    /// A copy of the VMA containing `addr`, as [`Self::find`], but the
    /// VMA found last is checked first: the page-fault path's lookup (a
    /// tree search is two descents under QEMU's TCG, tens of branches).
    pub fn lookup(&self, addr: u64) -> Option<Vma> {
        if let Some(v) = self.last.get()
            && v.contains(addr)
        {
            return Some(v);
        }
        let found = self.find(addr).copied();
        if found.is_some() {
            self.last.set(found);
        }
        found
    }

    /// The VMA starting at `start`.
    pub fn get(&self, start: u64) -> Option<&Vma> {
        self.map.get(&start)
    }

    /// Every VMA, in address order.
    pub fn iter(&self) -> impl Iterator<Item = &Vma> {
        self.map.values()
    }

    /// Number of VMAs.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there is no VMA.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Removes `[start, end)` from every VMA it touches (splitting those
    /// that reach outside it) and returns the removed pieces: the caller
    /// unmaps their pages.
    pub fn remove_range(&mut self, start: u64, end: u64) -> Result<Vec<Vma>, VmaError> {
        self.check_range(start, end)?;
        let touched: Vec<u64> = self
            .map
            .range(..end)
            .rev()
            .take_while(|(_, v)| v.end > start)
            .map(|(&k, _)| k)
            .collect();
        // One VMA cut in the middle leaves two pieces: one VMA more.
        let splits_one = touched.len() == 1
            && self
                .map
                .get(&touched[0])
                .is_some_and(|v| v.start < start && v.end > end);
        if splits_one && self.map.len() >= MAX_VMAS {
            return Err(VmaError::NoSpace);
        }
        let mut removed = Vec::new();
        for key in touched.into_iter().rev() {
            let vma = self.take(key).expect("listed above");
            if vma.start < start {
                self.put(Vma { end: start, ..vma });
            }
            if vma.end > end {
                self.put(Vma { start: end, ..vma });
            }
            removed.push(Vma {
                start: vma.start.max(start),
                end: vma.end.min(end),
                ..vma
            });
        }
        Ok(removed)
    }

    /// Whether every page of `[start, end)` lies in some VMA.
    pub fn covers(&self, start: u64, end: u64) -> bool {
        let mut at = start;
        while at < end {
            match self.find(at) {
                Some(vma) => at = vma.end,
                None => return false,
            }
        }
        true
    }

    /// Gives `[start, end)` the permissions `perms` (`mprotect`),
    /// splitting the VMAs that reach outside it; every page of the range
    /// must be in a VMA (`NotFound` otherwise, and nothing changes).
    /// Returns the changed pieces with their old permissions; neighbours
    /// that end up equal are merged.
    pub fn protect(&mut self, start: u64, end: u64, perms: VmPerms) -> Result<Vec<Vma>, VmaError> {
        self.check_range(start, end)?;
        if !self.covers(start, end) {
            return Err(VmaError::NotFound);
        }
        self.update(start, end, |v| v.perms = perms)
    }

    /// Applies `change` to the parts of VMAs inside `[start, end)`
    /// (splitting those that reach outside it; gaps are skipped) and
    /// returns those parts as they were before. Neighbours that end up
    /// equal are merged.
    pub fn update(
        &mut self,
        start: u64,
        end: u64,
        change: impl Fn(&mut Vma),
    ) -> Result<Vec<Vma>, VmaError> {
        // At most two VMAs more (both ends split), before merging.
        if self.map.len() + 2 > MAX_VMAS {
            return Err(VmaError::NoSpace);
        }
        let pieces = self.remove_range(start, end)?;
        for piece in &pieces {
            let mut new = *piece;
            change(&mut new);
            debug_assert_eq!(new.start, piece.start, "update moves no start");
            self.put(new);
        }
        self.merge_around(start, end);
        Ok(pieces)
    }

    /// Merges the VMAs around `[start, end]` that can be one
    /// (`merge_around`): after a caller inserted pieces there.
    pub fn merge(&mut self, start: u64, end: u64) {
        self.merge_around(start, end);
    }

    /// Merges neighbouring VMAs of equal kind, permissions and inheritance whose
    /// boundary lies in `[start, end]`.
    fn merge_around(&mut self, start: u64, end: u64) {
        let keys: Vec<u64> = self
            .map
            .range(..=end)
            .rev()
            .take_while(|(_, v)| v.end >= start)
            .map(|(&k, _)| k)
            .collect();
        // From low to high: fold each VMA into its lower neighbour.
        for key in keys.into_iter().rev() {
            let Some(&vma) = self.map.get(&key) else {
                continue;
            };
            let lower = self.map.range(..key).next_back().map(|(_, v)| *v);
            if let Some(low) = lower
                && low.end == vma.start
                && low.perms == vma.perms
                && low.kind == vma.kind
                && low.inherit == vma.inherit
            {
                self.take(key);
                self.put(Vma {
                    end: vma.end,
                    ..low
                });
            }
        }
    }

    /// Moves the end of the VMA that starts at `start` to `new_end`
    /// (`brk`). Growing must not run into the next VMA; shrinking returns
    /// the range given up (the caller unmaps it). A VMA shrunk to nothing
    /// is removed.
    pub fn resize(&mut self, start: u64, new_end: u64) -> Result<Option<Vma>, VmaError> {
        let vma = *self.map.get(&start).ok_or(VmaError::NotFound)?;
        if new_end < start || !new_end.is_multiple_of(PAGE_SIZE) || new_end > self.limit {
            return Err(VmaError::BadRange);
        }
        if new_end > vma.end {
            if self.overlaps(vma.end, new_end) {
                return Err(VmaError::Overlap);
            }
            self.put(Vma {
                end: new_end,
                ..vma
            });
            return Ok(None);
        }
        if new_end == start {
            self.take(start);
        } else {
            self.put(Vma {
                end: new_end,
                ..vma
            });
        }
        Ok((new_end < vma.end).then_some(Vma {
            start: new_end,
            ..vma
        }))
    }

    /// The highest free range of `len` bytes (page-aligned) that lies in
    /// `[floor, ceiling)` and keeps a gap of `guard` bytes to the VMAs on
    /// either side (so a stack or heap never runs silently into it).
    pub fn find_free(&self, len: u64, floor: u64, ceiling: u64, guard: u64) -> Option<u64> {
        if len == 0 || !len.is_multiple_of(PAGE_SIZE) {
            return None;
        }
        let ceiling = ceiling.min(self.limit);
        // Walk the gaps from the top down.
        let mut hi = ceiling;
        for vma in self.map.values().rev() {
            if vma.start >= hi {
                // Entirely above the window (or at its edge).
                hi = hi.min(vma.start.saturating_sub(guard));
                continue;
            }
            let lo = vma.end.saturating_add(guard).max(floor);
            if let Some(start) = hi.checked_sub(len)
                && start >= lo
            {
                return Some(page_down(start));
            }
            hi = vma.start.saturating_sub(guard).min(hi);
            if hi <= floor {
                return None;
            }
        }
        hi.checked_sub(len).filter(|&s| s >= floor).map(page_down)
    }
}

/// Whether `perms` allow any access at all (`PROT_NONE` does not).
pub const fn accessible(perms: VmPerms) -> bool {
    perms.read || perms.write || perms.exec
}

/// Page-fault error code bits (the CPU's).
pub mod pf {
    /// The page was present (a protection fault).
    pub const PRESENT: u64 = 1;
    /// The access was a write.
    pub const WRITE: u64 = 2;
    /// The access came from user mode.
    pub const USER: u64 = 4;
    /// A reserved bit was set in a paging entry.
    pub const RESERVED: u64 = 8;
    /// The access was an instruction fetch.
    pub const FETCH: u64 = 16;
}

/// What to do about a page fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Not present in a VMA that allows the access: map a zero-filled
    /// page with the VMA's permissions.
    ZeroFill(VmPerms),
    /// A write to a present, read-only page of a writable VMA: the page is
    /// shared copy-on-write (or was, and its refcount is now 1).
    CopyOnWrite(VmPerms),
    /// A present page the VMA allows this access to: the fault came from a
    /// stale TLB entry or a race with another thread's fault; run again.
    Retry,
    /// No VMA there, or the VMA forbids the access: `SIGSEGV`.
    Segv,
}

/// The fault policy: `vma` is the VMA containing the faulting address (if
/// any), `error_code` the CPU's.
pub fn classify(vma: Option<&Vma>, error_code: u64) -> FaultAction {
    let Some(vma) = vma else {
        return FaultAction::Segv;
    };
    if error_code & pf::RESERVED != 0 {
        return FaultAction::Segv;
    }
    let write = error_code & pf::WRITE != 0;
    let fetch = error_code & pf::FETCH != 0;
    let allowed = if write {
        vma.perms.write
    } else if fetch {
        vma.perms.exec
    } else {
        // x86 pages are always readable when present: a PROT_NONE VMA
        // (none of the three) is the only non-readable one.
        vma.perms.read || vma.perms.write || vma.perms.exec
    };
    if !allowed {
        return FaultAction::Segv;
    }
    if error_code & pf::PRESENT == 0 {
        FaultAction::ZeroFill(vma.perms)
    } else if write {
        FaultAction::CopyOnWrite(vma.perms)
    } else {
        FaultAction::Retry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: u64 = 0x7fff_ffff_f000;

    fn vma(start: u64, end: u64, perms: VmPerms) -> Vma {
        Vma::new(start, end, perms, VmaKind::Anonymous)
    }

    fn set(ranges: &[(u64, u64)]) -> VmaSet {
        let mut s = VmaSet::new(LIMIT);
        for &(a, b) in ranges {
            s.insert(vma(a, b, VmPerms::RW)).unwrap();
        }
        s
    }

    fn ranges(s: &VmaSet) -> Vec<(u64, u64)> {
        s.iter().map(|v| (v.start, v.end)).collect()
    }

    #[test]
    fn lookup_sees_every_change_of_the_set() {
        let span = |v: Option<Vma>| v.map(|v| (v.start, v.end));
        let mut s = set(&[(0x1000, 0x5000), (0x8000, 0x9000)]);
        assert_eq!(span(s.lookup(0x2000)), Some((0x1000, 0x5000)));
        assert_eq!(span(s.lookup(0x2fff)), Some((0x1000, 0x5000)));
        assert_eq!(span(s.lookup(0x5000)), None);
        // A hole punched into the VMA found last.
        s.remove_range(0x2000, 0x3000).unwrap();
        assert_eq!(span(s.lookup(0x2000)), None);
        assert_eq!(span(s.lookup(0x1000)), Some((0x1000, 0x2000)));
        assert_eq!(span(s.lookup(0x3000)), Some((0x3000, 0x5000)));
        // New permissions, a grown VMA, a changed inheritance.
        s.protect(0x3000, 0x5000, VmPerms::R).unwrap();
        assert_eq!(s.lookup(0x4000).unwrap().perms, VmPerms::R);
        s.resize(0x8000, 0xa000).unwrap();
        assert_eq!(span(s.lookup(0x8000)), Some((0x8000, 0xa000)));
        s.update(0x8000, 0xa000, |v| v.inherit = Inherit::Zero)
            .unwrap();
        assert_eq!(s.lookup(0x9000).unwrap().inherit, Inherit::Zero);
        // A clone's changes are its own: the original still finds its VMA.
        let mut c = s.clone();
        c.remove_range(0x8000, 0xa000).unwrap();
        assert_eq!(span(c.lookup(0x8000)), None);
        assert_eq!(span(s.lookup(0x8000)), Some((0x8000, 0xa000)));
        // `lookup` agrees with `find` everywhere.
        for addr in (0..0xb000).step_by(0x800) {
            assert_eq!(s.lookup(addr), s.find(addr).copied(), "{addr:#x}");
        }
    }

    #[test]
    fn the_vma_count_is_bounded() {
        // MAX_VMAS separate pages (a gap after each, so none merge).
        let mut s = VmaSet::new(LIMIT);
        for i in 0..MAX_VMAS as u64 {
            s.insert(vma(0x10000 + i * 0x2000, 0x11000 + i * 0x2000, VmPerms::RW))
                .unwrap();
        }
        let past = 0x10000 + MAX_VMAS as u64 * 0x2000;
        assert_eq!(
            s.insert(vma(past, past + 0x1000, VmPerms::RW)),
            Err(VmaError::NoSpace)
        );
        // Freeing one makes room again; cutting one in the middle at the
        // limit does not fit, taking its end does.
        s.remove_range(0x10000, 0x11000).unwrap();
        s.insert(vma(past, past + 0x3000, VmPerms::RW)).unwrap();
        assert_eq!(
            s.remove_range(past + 0x1000, past + 0x2000),
            Err(VmaError::NoSpace)
        );
        assert_eq!(
            s.protect(past + 0x1000, past + 0x2000, VmPerms::R),
            Err(VmaError::NoSpace)
        );
        assert_eq!(
            s.remove_range(past + 0x2000, past + 0x3000).unwrap().len(),
            1
        );
        assert_eq!(s.len(), MAX_VMAS);
    }

    #[test]
    fn insert_refuses_overlaps_and_bad_ranges() {
        let mut s = set(&[(0x1000, 0x3000), (0x5000, 0x6000)]);
        assert_eq!(
            s.insert(vma(0x2000, 0x4000, VmPerms::R)),
            Err(VmaError::Overlap)
        );
        assert_eq!(
            s.insert(vma(0x0, 0x2000, VmPerms::R)),
            Err(VmaError::Overlap)
        );
        assert_eq!(
            s.insert(vma(0x4000, 0x8000, VmPerms::R)),
            Err(VmaError::Overlap)
        );
        assert_eq!(
            s.insert(vma(0x3001, 0x4000, VmPerms::R)),
            Err(VmaError::BadRange)
        );
        assert_eq!(
            s.insert(vma(0x4000, 0x4000, VmPerms::R)),
            Err(VmaError::BadRange)
        );
        assert_eq!(
            s.insert(vma(LIMIT, LIMIT + 0x1000, VmPerms::R)),
            Err(VmaError::BadRange)
        );
        // Touching neighbours are fine.
        s.insert(vma(0x3000, 0x5000, VmPerms::R)).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s.find(0x2fff).map(|v| v.start), Some(0x1000));
        assert_eq!(s.find(0x3000).map(|v| v.perms), Some(VmPerms::R));
        assert_eq!(s.find(0x6000), None);
        assert_eq!(s.find(0xfff), None);
    }

    #[test]
    fn remove_range_splits() {
        let mut s = set(&[(0x1000, 0x5000), (0x6000, 0x8000), (0x9000, 0xa000)]);
        let gone = s.remove_range(0x2000, 0x7000).unwrap();
        assert_eq!(
            gone.iter().map(|v| (v.start, v.end)).collect::<Vec<_>>(),
            [(0x2000, 0x5000), (0x6000, 0x7000)]
        );
        assert_eq!(
            ranges(&s),
            [(0x1000, 0x2000), (0x7000, 0x8000), (0x9000, 0xa000)]
        );
        // A hole in the middle of one VMA.
        let mut s = set(&[(0x1000, 0x9000)]);
        s.remove_range(0x3000, 0x4000).unwrap();
        assert_eq!(ranges(&s), [(0x1000, 0x3000), (0x4000, 0x9000)]);
        // Nothing there: nothing removed.
        assert!(s.remove_range(0x10000, 0x20000).unwrap().is_empty());
        assert_eq!(s.remove_range(0x1001, 0x2000), Err(VmaError::BadRange));
    }

    #[test]
    fn resize_grows_and_shrinks() {
        let mut s = set(&[(0x10000, 0x10000 + 0x1000), (0x20000, 0x21000)]);
        assert_eq!(s.resize(0x10000, 0x14000), Ok(None));
        assert_eq!(s.get(0x10000).unwrap().end, 0x14000);
        assert_eq!(s.resize(0x10000, 0x21000), Err(VmaError::Overlap));
        let gone = s.resize(0x10000, 0x12000).unwrap().unwrap();
        assert_eq!((gone.start, gone.end), (0x12000, 0x14000));
        assert_eq!(s.resize(0x10000, 0x10000).unwrap().unwrap().end, 0x12000);
        assert!(s.get(0x10000).is_none());
        assert_eq!(s.resize(0x10000, 0x11000), Err(VmaError::NotFound));
        assert_eq!(s.resize(0x20000, 0x20800), Err(VmaError::BadRange));
    }

    #[test]
    fn find_free_keeps_guards_and_goes_top_down() {
        let s = set(&[(0x10000, 0x20000), (0x40000, 0x50000)]);
        // Highest fit below the ceiling.
        assert_eq!(s.find_free(0x1000, 0, 0x100000, 0x1000), Some(0xff000));
        // Below the upper VMA with a guard page.
        assert_eq!(s.find_free(0x1000, 0, 0x40000, 0x1000), Some(0x3e000));
        // A gap too small once the guards are counted.
        assert_eq!(s.find_free(0x1f000, 0x20000, 0x40000, 0x1000), None);
        assert_eq!(
            s.find_free(0x1e000, 0x20000, 0x40000, 0x1000),
            Some(0x21000)
        );
        // Below everything.
        assert_eq!(s.find_free(0x8000, 0x1000, 0x20000, 0x1000), Some(0x7000));
        assert_eq!(s.find_free(0x10000, 0x1000, 0x20000, 0x1000), None);
        assert_eq!(s.find_free(0, 0, 0x100000, 0), None);
        assert_eq!(s.find_free(0x800, 0, 0x100000, 0), None);
        assert_eq!(
            VmaSet::new(LIMIT).find_free(0x2000, 0x1000, LIMIT, 0x1000),
            Some(LIMIT - 0x2000)
        );
    }

    #[test]
    fn fault_policy() {
        let rw = vma(0x1000, 0x2000, VmPerms::RW);
        let ro = vma(0x1000, 0x2000, VmPerms::R);
        let rx = vma(0x1000, 0x2000, VmPerms::RX);
        let none = vma(0x1000, 0x2000, VmPerms::default());
        let u = pf::USER;
        assert_eq!(classify(None, u), FaultAction::Segv);
        assert_eq!(classify(Some(&rw), u), FaultAction::ZeroFill(VmPerms::RW));
        assert_eq!(
            classify(Some(&rw), u | pf::WRITE),
            FaultAction::ZeroFill(VmPerms::RW)
        );
        assert_eq!(
            classify(Some(&rw), u | pf::WRITE | pf::PRESENT),
            FaultAction::CopyOnWrite(VmPerms::RW)
        );
        assert_eq!(classify(Some(&rw), u | pf::PRESENT), FaultAction::Retry);
        assert_eq!(classify(Some(&ro), u | pf::WRITE), FaultAction::Segv);
        assert_eq!(
            classify(Some(&ro), u | pf::WRITE | pf::PRESENT),
            FaultAction::Segv
        );
        assert_eq!(classify(Some(&rw), u | pf::FETCH), FaultAction::Segv);
        assert_eq!(
            classify(Some(&rx), u | pf::FETCH),
            FaultAction::ZeroFill(VmPerms::RX)
        );
        assert_eq!(classify(Some(&none), u), FaultAction::Segv);
        assert_eq!(
            classify(Some(&rw), u | pf::RESERVED | pf::PRESENT),
            FaultAction::Segv
        );
    }

    #[test]
    fn page_rounding() {
        assert_eq!(page_down(0x1fff), 0x1000);
        assert_eq!(page_up(0x1001), Some(0x2000));
        assert_eq!(page_up(0x1000), Some(0x1000));
        assert_eq!(page_up(u64::MAX), None);
        assert_eq!(VmPerms::from_prot(3), VmPerms::RW);
        assert_eq!(VmPerms::R.union(VmPerms::RX), VmPerms::RX);
        assert_eq!(std::format!("{}", VmPerms::RX), "r-x");
    }

    #[test]
    fn protect_splits_and_merges_back() {
        let mut s = set(&[(0x1000, 0x5000)]);
        let old = s.protect(0x2000, 0x3000, VmPerms::R).unwrap();
        assert_eq!(old, [vma(0x2000, 0x3000, VmPerms::RW)]);
        assert_eq!(
            ranges(&s),
            [(0x1000, 0x2000), (0x2000, 0x3000), (0x3000, 0x5000)]
        );
        assert_eq!(s.find(0x2000).unwrap().perms, VmPerms::R);
        assert_eq!(s.find(0x3000).unwrap().perms, VmPerms::RW);
        // Back to RW: one VMA again.
        s.protect(0x2000, 0x3000, VmPerms::RW).unwrap();
        assert_eq!(ranges(&s), [(0x1000, 0x5000)]);
        // Across two VMAs with a hole: refused, nothing changed.
        let mut s = set(&[(0x1000, 0x2000), (0x3000, 0x4000)]);
        assert_eq!(
            s.protect(0x1000, 0x4000, VmPerms::R),
            Err(VmaError::NotFound)
        );
        assert!(s.iter().all(|v| v.perms == VmPerms::RW));
        // Adjacent VMAs, both covered: both change, and merge.
        let mut s = set(&[(0x1000, 0x2000), (0x2000, 0x4000)]);
        let old = s.protect(0x1000, 0x4000, VmPerms::default()).unwrap();
        assert_eq!(old.len(), 2);
        assert_eq!(ranges(&s), [(0x1000, 0x4000)]);
        assert!(!accessible(s.find(0x1000).unwrap().perms));
        assert!(s.covers(0x1000, 0x4000) && !s.covers(0x1000, 0x5000));
        assert_eq!(
            s.protect(0x1001, 0x2000, VmPerms::R),
            Err(VmaError::BadRange)
        );
    }

    /// The kept counts against a walk.
    fn assert_counts(s: &VmaSet) {
        assert_eq!(
            s.pages(),
            s.iter().map(|v| v.len() / PAGE_SIZE).sum::<u64>()
        );
        assert_eq!(
            s.has_odd_inherit(),
            s.iter().any(|v| v.inherit != Inherit::Copy)
        );
    }

    #[test]
    fn a_clone_shares_the_tree_until_either_side_changes_it() {
        let mut parent = set(&[(0x10000, 0x14000), (0x20000, 0x21000)]);
        let mut child = parent.clone();
        assert!(parent.shares_tree() && child.shares_tree());
        // Reads copy nothing.
        assert_eq!(child.find(0x10000), parent.find(0x10000));
        assert!(parent.shares_tree());
        // The child's change is its own: the parent keeps its VMAs.
        child.remove_range(0x11000, 0x12000).unwrap();
        assert!(!parent.shares_tree() && !child.shares_tree());
        assert_eq!(ranges(&parent), [(0x10000, 0x14000), (0x20000, 0x21000)]);
        assert_eq!(
            ranges(&child),
            [(0x10000, 0x11000), (0x12000, 0x14000), (0x20000, 0x21000)]
        );
        assert_counts(&parent);
        assert_counts(&child);
        // And the parent's, made while a second child shares it.
        let other = parent.clone();
        parent.resize(0x20000, 0x23000).unwrap();
        assert_eq!(ranges(&other), [(0x10000, 0x14000), (0x20000, 0x21000)]);
        assert_eq!(ranges(&parent), [(0x10000, 0x14000), (0x20000, 0x23000)]);
        assert_eq!((parent.pages(), other.pages()), (7, 5));
        // The last sharer left: a change copies nothing more.
        drop(other);
        assert!(!parent.shares_tree());
    }

    #[test]
    fn pages_and_odd_inheritance_are_kept_through_every_change() {
        let mut s = set(&[(0x10000, 0x20000), (0x30000, 0x31000)]);
        assert_counts(&s);
        s.protect(0x12000, 0x14000, VmPerms::R).unwrap();
        assert_counts(&s);
        s.update(0x15000, 0x17000, |v| v.inherit = Inherit::Zero)
            .unwrap();
        assert!(s.has_odd_inherit());
        assert_counts(&s);
        let shared = s.clone();
        s.update(0x15000, 0x17000, |v| v.inherit = Inherit::Copy)
            .unwrap();
        assert!(!s.has_odd_inherit() && shared.has_odd_inherit());
        assert_counts(&s);
        assert_counts(&shared);
        s.protect(0x12000, 0x14000, VmPerms::RW).unwrap();
        assert_eq!(ranges(&s), [(0x10000, 0x20000), (0x30000, 0x31000)]);
        s.remove_range(0x1f000, 0x31000).unwrap();
        s.resize(0x10000, 0x10000).unwrap();
        assert_eq!((s.len(), s.pages()), (0, 0));
        assert_counts(&s);
        assert_counts(&shared);
    }
}
