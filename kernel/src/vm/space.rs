//! [`AddressSpace`]: a user page table and its VMAs, and the page-fault
//! handler that keeps the two consistent.
//!
//! The VMAs ([`super::vma::VmaSet`]) say what may exist; the page table
//! ([`arch::mm::user::UserPageTable`]) holds what exists now. A page is
//! missing until the program touches it (zero-fill on first touch), except
//! the program image's pages that carry file bytes, which `exec::load`
//! maps at load time. [`AddressSpace::fault`] resolves, in the policy of
//! [`super::vma::classify`]:
//! - not present, in a VMA that allows the access: map a zero-filled frame;
//! - not present in a shared VMA (`MAP_SHARED`): map the shared-memory
//!   object's page (`ShmObject`, created zero-filled at the first touch);
//! - a write to a present page of a writable VMA that is not writable
//!   now (a copy-on-write page, or one under a last-level table a fork
//!   shares): `UserPageTable::write_fault` takes the table back if needed,
//!   then makes the page writable in place (refcount 1, or shared memory)
//!   or copies it into a fresh frame mapped writable;
//! - anything else: `EFAULT`, which the thread turns into `SIGSEGV`.
//!
//! [`AddressSpace::copy_from_user`] and [`AddressSpace::copy_to_user`] are
//! the syscall layer's way into user memory: they resolve missing and
//! copy-on-write pages through the same handler and return `EFAULT` where
//! the program itself would get `SIGSEGV`.
//!
//! Each space counts the faults it resolved ([`FaultStats`]: copy-on-write
//! copies and reuses, zero fills), which `TINE_VMSTAT` reports to the
//! process (the shell's `cow` command shows them).
//!
//! # Locking
//! The VMA lock (a plain spin lock, never taken in interrupt handlers) is
//! held across a whole fault or mapping change, so faults, `brk`, `mmap` and
//! `munmap` of one address space are serialised. Lock order: the VMA lock,
//! then the page table's internal lock (taken inside its methods). No
//! await, no console output under it; the only allocation is the frame
//! being mapped (and page-table pages).

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use arch::mm::user::{Fault, MapError, USER_END, UserFlags, UserPageTable, WriteFault};
use arch::mm::{Frame, SharedFrame};

use super::vma::{
    FaultAction, Inherit, PAGE_SIZE, VmPerms, Vma, VmaError, VmaKind, VmaSet, accessible, classify,
    page_down, page_up, pf,
};
use abi::Errno;

/// How far `brk` may move above its start.
pub const BRK_MAX: u64 = 1 << 30;

/// The page-table flags for a VMA's permissions (pages are always
/// readable on x86).
fn flags(perms: VmPerms) -> UserFlags {
    UserFlags {
        write: perms.write,
        exec: perms.exec,
    }
}

/// The mutable part of an address space: VMAs and the program break.
#[derive(Clone, Debug)]
struct Layout {
    vmas: VmaSet,
    /// Where the heap starts (page-aligned; the end of the image).
    brk_start: u64,
    /// The current break (`brk_start..=brk_start + BRK_MAX`).
    brk: u64,
    /// The lowest address `mmap` may choose.
    mmap_floor: u64,
    /// The highest end `mmap` may choose (below the stack).
    mmap_ceiling: u64,
    /// The shared-memory objects the `VmaKind::Shared` VMAs name.
    objects: BTreeMap<u64, Arc<ShmObject>>,
}

impl Layout {
    /// Forgets the objects no VMA names any more (their pages are freed
    /// with the last space that maps them).
    fn drop_unused_objects(&mut self) {
        let vmas = &self.vmas;
        self.objects.retain(|&id, _| {
            vmas.iter()
                .any(|v| matches!(v.kind, VmaKind::Shared { object, .. } if object == id))
        });
    }

    /// The object and page index behind the page `va` of a shared VMA.
    fn shared_page(&self, va: u64) -> Option<(&Arc<ShmObject>, u64)> {
        match self.vmas.find(va)?.kind {
            VmaKind::Shared { object, base } => Some((
                self.objects.get(&object)?,
                va.wrapping_sub(base) / PAGE_SIZE,
            )),
            _ => None,
        }
    }
}

/// The pages of a `MAP_SHARED | MAP_ANONYMOUS` mapping by page index,
/// shared by every address space that maps it (fork keeps the mapping
/// shared: FreeBSD's `vmspace_fork`, `VM_INHERIT_SHARE`). A page is
/// created zero-filled at its first touch in any of them and lives until
/// the last space drops the object.
#[derive(Debug, Default)]
pub struct ShmObject {
    pages: spin::Mutex<BTreeMap<u64, SharedFrame>>,
}

impl ShmObject {
    /// Page `index`, created zero-filled at the first call. `None` when
    /// frames run out. Lock order: after the VMA lock, before the page
    /// table's.
    fn page(&self, index: u64) -> Option<SharedFrame> {
        let mut pages = self.pages.lock();
        if let Some(f) = pages.get(&index) {
            return Some(f.clone());
        }
        let frame = SharedFrame::alloc_zeroed()?;
        pages.insert(index, frame.clone());
        Some(frame)
    }

    /// How many pages exist.
    pub fn pages(&self) -> usize {
        self.pages.lock().len()
    }
}

/// Shared-memory object numbers (unique per boot).
static NEXT_OBJECT: AtomicU64 = AtomicU64::new(1);

/// A user address space: page table + VMAs. Shared (`Arc`) by the threads
/// of a process.
#[derive(Debug)]
pub struct AddressSpace {
    /// The page table `arch::user::run` runs the threads in.
    pub table: UserPageTable,
    layout: spin::Mutex<Layout>,
    /// Pages of `PROT_NONE` ranges (`mprotect`): x86 has no present but
    /// inaccessible PTE, so their frames are taken out of the page table
    /// and kept here, by page address, until the range is made accessible
    /// again (or unmapped). Lock order: after the VMA lock.
    hidden: spin::Mutex<BTreeMap<u64, Frame>>,
    faults: FaultCounters,
}

/// The fault counters of one address space (module docs).
#[derive(Debug, Default)]
struct FaultCounters {
    cow_copies: AtomicU64,
    cow_reuses: AtomicU64,
    zero_fills: AtomicU64,
    faults: AtomicU64,
}

/// A snapshot of an address space's fault counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// Write faults that copied a shared frame.
    pub cow_copies: u64,
    /// Write faults on a copy-on-write page no one shared any more, made
    /// writable in place.
    pub cow_reuses: u64,
    /// Missing pages filled with a zeroed frame.
    pub zero_fills: u64,
    /// Every fault resolved (including those that found the page already
    /// there).
    pub faults: u64,
}

/// Counts one event. Only fault resolutions count, and each holds the
/// VMA lock (`AddressSpace::fault`), so a load and a store lose no
/// update: no locked instruction (a helper call under QEMU's TCG).
/// Relaxed: statistics, read without ordering.
fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// Counters of one address space, for `ps`-style output and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpaceStats {
    /// Number of VMAs.
    pub vmas: usize,
    /// Bytes covered by VMAs.
    pub virtual_bytes: u64,
    /// Pages mapped in the page table.
    pub resident_pages: usize,
}

fn vma_errno(e: VmaError) -> Errno {
    match e {
        VmaError::BadRange => Errno::EINVAL,
        VmaError::Overlap => Errno::EEXIST,
        VmaError::NotFound => Errno::EINVAL,
        VmaError::NoSpace => Errno::ENOMEM,
    }
}

impl AddressSpace {
    /// An empty address space (no VMAs, an empty page table).
    pub fn new() -> Result<Self, Errno> {
        let table = UserPageTable::new().ok_or(Errno::ENOMEM)?;
        Ok(Self {
            table,
            layout: spin::Mutex::new(Layout {
                vmas: VmaSet::new(super::USER_TOP),
                brk_start: 0,
                brk: 0,
                mmap_floor: super::USER_BOTTOM,
                mmap_ceiling: super::USER_TOP,
                objects: BTreeMap::new(),
            }),
            hidden: spin::Mutex::new(BTreeMap::new()),
            faults: FaultCounters::default(),
        })
    }

    /// Fork: a copy of this space whose pages share this one's frames
    /// copy-on-write, with a copy of the VMAs and the break. The page
    /// table shares this one's PML4 and everything under it
    /// (`UserPageTable::fork`: no page allocated, the PML4 entries
    /// write-protected; the first write under a shared subtree copies the
    /// path of tables to it, then the page is copied on write as ever);
    /// shared memory stays shared.
    /// The VMA lock is held throughout, so no fault, `brk` or `mmap` of this
    /// space runs in between. `ENOMEM` when frames for the child's page
    /// table run out (its partial table is freed; this space's pages stay
    /// read-only, which costs only faults).
    pub fn fork(&self) -> Result<Self, Errno> {
        self.fork_with(UserPageTable::fork)
    }

    /// [`Self::fork`] with the page table copied page by page
    /// (`UserPageTable::fork_per_page`), as before last-level tables were
    /// shared: kept only as the baseline of the fork benchmarks.
    pub fn fork_per_page(&self) -> Result<Self, Errno> {
        self.fork_with(UserPageTable::fork_per_page)
    }

    fn fork_with(
        &self,
        fork_table: fn(&UserPageTable) -> Option<UserPageTable>,
    ) -> Result<Self, Errno> {
        let layout = self.layout.lock();
        let table = fork_table(&self.table).ok_or(Errno::ENOMEM)?;
        // Hidden frames are shared too (one more reference each), so
        // neither side gets them back writable without a copy.
        let hidden = self.hidden.lock().clone();
        let child = Self {
            table,
            layout: spin::Mutex::new(layout.clone()),
            hidden: spin::Mutex::new(hidden),
            faults: FaultCounters::default(),
        };
        // The inheritance `madvise` chose (FreeBSD's `vmspace_fork`):
        // `MADV_DONTFORK` VMAs leave the child, `MADV_WIPEONFORK` ones
        // lose their pages there. Shared VMAs kept their shared PTEs.
        // The child's VMA tree is the parent's, shared until either side
        // changes it (`VmaSet`'s docs); the set knows whether it has such
        // VMAs without a walk.
        if layout.vmas.has_odd_inherit() {
            let odd: Vec<Vma> = layout
                .vmas
                .iter()
                .filter(|v| v.inherit != Inherit::Copy)
                .copied()
                .collect();
            let mut child_layout = child.layout.lock();
            for vma in odd {
                if vma.inherit == Inherit::None {
                    drop(child_layout.vmas.remove_range(vma.start, vma.end));
                }
                child.unmap_pages(&vma);
            }
            child_layout.drop_unused_objects();
        }
        Ok(child)
    }

    /// Adds a VMA `[start, end)` (page-aligned) with no pages yet: they are
    /// zero-filled on first touch. `EINVAL` for a bad range, `EEXIST` if it
    /// overlaps another VMA.
    pub fn map_anonymous(
        &self,
        start: u64,
        end: u64,
        perms: VmPerms,
        kind: VmaKind,
    ) -> Result<(), Errno> {
        self.layout
            .lock()
            .vmas
            .insert(Vma::new(start, end, perms, kind))
            .map_err(vma_errno)
    }

    /// Maps a prepared frame (the loader's, filled with file bytes) at the
    /// page `va`, which must lie in a VMA; it gets the VMA's permissions,
    /// except write while the frame has other references (the image page
    /// cache's): then the first write is a copy-on-write fault.
    pub fn map_frame(&self, va: u64, frame: Frame) -> Result<(), Errno> {
        let layout = self.layout.lock();
        let vma = layout.vmas.find(va).ok_or(Errno::EFAULT)?;
        let mut flags = flags(vma.perms);
        flags.write &= frame.refcount() == 1;
        self.table
            .map(va, frame, flags)
            .map(drop)
            .map_err(map_errno)
    }

    /// Maps the vDSO (`arch::user::vdso::pages`: its data page read-only
    /// at `at`, its image read and execute at `at` + 4096), two
    /// [`VmaKind::Vdso`] VMAs. `EEXIST` if the range is taken.
    pub fn map_vdso(&self, at: u64, data: Frame, image: Frame) -> Result<(), Errno> {
        let mut layout = self.layout.lock();
        for (va, perms, frame) in [(at, VmPerms::R, data), (at + PAGE_SIZE, VmPerms::RX, image)] {
            layout
                .vmas
                .insert(Vma::new(va, va + PAGE_SIZE, perms, VmaKind::Vdso))
                .map_err(vma_errno)?;
            self.table.map(va, frame, flags(perms)).map_err(map_errno)?;
        }
        Ok(())
    }

    /// Sets where the heap starts (the loader: the end of the image) and
    /// the window `mmap` chooses addresses from.
    pub fn set_layout(&self, brk_start: u64, mmap_floor: u64, mmap_ceiling: u64) {
        let mut layout = self.layout.lock();
        layout.brk_start = brk_start;
        layout.brk = brk_start;
        layout.mmap_floor = mmap_floor;
        layout.mmap_ceiling = mmap_ceiling;
    }

    /// Resolves a page fault at `addr` with the CPU's `error_code` (module
    /// docs). `EFAULT` when the access is not allowed (the program gets
    /// `SIGSEGV`), `ENOMEM` when no frame is left.
    pub fn fault(&self, addr: u64, error_code: u64) -> Result<(), Errno> {
        let layout = self.layout.lock();
        let result = self.resolve(&layout, addr, error_code);
        if result.is_ok() {
            bump(&self.faults.faults);
        }
        result
    }

    /// The counters of the faults this space resolved.
    pub fn fault_stats(&self) -> FaultStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        FaultStats {
            cow_copies: get(&self.faults.cow_copies),
            cow_reuses: get(&self.faults.cow_reuses),
            zero_fills: get(&self.faults.zero_fills),
            faults: get(&self.faults.faults),
        }
    }

    /// [`Self::fault`]'s work, with the VMA lock held (`layout`).
    fn resolve(&self, layout: &Layout, addr: u64, error_code: u64) -> Result<(), Errno> {
        let page = page_down(addr);
        let vma = layout.vmas.lookup(addr);
        // Only a shared VMA has an object to look up (a second search).
        let shared = vma.is_some_and(|v| matches!(v.kind, VmaKind::Shared { .. }));
        match classify(vma.as_ref(), error_code) {
            FaultAction::Segv => Err(Errno::EFAULT),
            FaultAction::Retry => Ok(()),
            FaultAction::ZeroFill(perms) => {
                if self.table.translate(page).is_some() {
                    // Filled since the CPU looked (another thread's fault,
                    // or a kernel copy that resolved it): run again.
                    return Ok(());
                }
                if shared && let Some((object, index)) = layout.shared_page(page) {
                    let frame = object.page(index).ok_or(Errno::ENOMEM)?;
                    return self
                        .table
                        .map_shared(page, &frame, flags(perms))
                        .map_err(map_errno);
                }
                let frame = Frame::alloc_zeroed().ok_or(Errno::ENOMEM)?;
                self.table
                    .map(page, frame, flags(perms))
                    .map(|_| bump(&self.faults.zero_fills))
                    .map_err(map_errno)
            }
            // Shared memory is never copied (`write_fault` only makes its
            // page writable again: `mprotect`, a table shared by fork).
            FaultAction::CopyOnWrite(perms) => {
                match shared.then(|| layout.shared_page(page)).flatten() {
                    Some((object, index)) if self.table.translate(page).is_none() => {
                        let frame = object.page(index).ok_or(Errno::ENOMEM)?;
                        self.table
                            .map_shared(page, &frame, flags(perms))
                            .map_err(map_errno)
                    }
                    _ => self.copy_on_write(page, perms),
                }
            }
        }
    }

    /// The write fault on a present read-only page of a writable VMA:
    /// `UserPageTable::write_fault` makes the tables on the path to the
    /// page this space's own if a fork shared them, then makes the page writable in
    /// place (no other reference, or shared memory) or copies it.
    fn copy_on_write(&self, page: u64, perms: VmPerms) -> Result<(), Errno> {
        match self.table.write_fault(page, flags(perms)) {
            Ok(WriteFault::Copied) => bump(&self.faults.cow_copies),
            Ok(WriteFault::Reused) => bump(&self.faults.cow_reuses),
            Ok(WriteFault::Writable) => {}
            Err(MapError::NotMapped) => {
                // Gone (unmapped under a racing thread): fill it afresh.
                let frame = Frame::alloc_zeroed().ok_or(Errno::ENOMEM)?;
                return self
                    .table
                    .map(page, frame, flags(perms))
                    .map(|_| bump(&self.faults.zero_fills))
                    .map_err(map_errno);
            }
            Err(e) => return Err(map_errno(e)),
        }
        Ok(())
    }

    /// Whether user code may write the byte at `va` (`EFAULT` if not: no
    /// VMA there, or one without write permission), decided by the VMAs
    /// alone: nothing is filled, copied or written, so a page shared
    /// copy-on-write since a fork stays shared (a read that probes its
    /// buffer before it blocks costs a forked child nothing).
    pub fn check_writable(&self, va: u64) -> Result<(), Errno> {
        check_user_range(va, 1)?;
        let layout = self.layout.lock();
        match classify(layout.vmas.find(va), pf::USER | pf::WRITE) {
            FaultAction::Segv => Err(Errno::EFAULT),
            _ => Ok(()),
        }
    }

    /// Copies user memory at `va` into `buf`, filling missing pages of VMAs
    /// on the way. `EFAULT` if any byte is outside every readable VMA.
    pub fn copy_from_user(&self, va: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let end = check_user_range(va, buf.len())?;
        let mut at = va;
        for _ in 0..=pages_in(va, end) {
            let done = (at - va) as usize;
            match self.table.copy_from_user(at, &mut buf[done..]) {
                Ok(()) => return Ok(()),
                Err(Fault::NotMapped(bad)) if bad >= at && bad < end => {
                    self.fault(bad, pf::USER).map_err(|_| Errno::EFAULT)?;
                    at = page_down(bad).max(va);
                }
                Err(_) => return Err(Errno::EFAULT),
            }
        }
        Err(Errno::EFAULT)
    }

    /// Copies `buf` into user memory at `va`, filling missing pages and
    /// resolving copy-on-write ones. `EFAULT` if any byte is outside every
    /// writable VMA.
    pub fn copy_to_user(&self, va: u64, buf: &[u8]) -> Result<(), Errno> {
        let end = check_user_range(va, buf.len())?;
        let mut at = va;
        // Each page may need a fill and then a copy-on-write.
        for _ in 0..=2 * pages_in(va, end) {
            let done = (at - va) as usize;
            let (bad, code) = match self.table.copy_to_user(at, &buf[done..]) {
                Ok(()) => return Ok(()),
                Err(Fault::NotMapped(bad)) => (bad, pf::USER | pf::WRITE),
                Err(Fault::ReadOnly(bad) | Fault::Cow(bad)) => {
                    (bad, pf::USER | pf::WRITE | pf::PRESENT)
                }
            };
            if bad < at || bad >= end {
                return Err(Errno::EFAULT);
            }
            self.fault(bad, code).map_err(|_| Errno::EFAULT)?;
            at = page_down(bad).max(va);
        }
        Err(Errno::EFAULT)
    }

    /// The identity of the shared-memory object behind `va` (the address
    /// of its `ShmObject`) and `va`'s byte offset in it, if `va` lies in
    /// a `MAP_SHARED` VMA: the key of a shared futex there, the same in
    /// every space that maps the object.
    pub fn shared_offset(&self, va: u64) -> Option<(usize, u64)> {
        let layout = self.layout.lock();
        let (object, index) = layout.shared_page(va)?;
        Some((
            Arc::as_ptr(object) as usize,
            index * PAGE_SIZE + va % PAGE_SIZE,
        ))
    }

    /// Atomically updates the `u32` at `va` with `f` (current value in,
    /// new value or `None` out), filling missing pages and resolving
    /// copy-on-write ones first; returns the value `f` last saw. `EINVAL`
    /// for an address that is not 4-byte aligned, `EFAULT` outside every
    /// writable VMA. The futex code's read-modify-write (`FUTEX_WAKE_OP`,
    /// the robust-list walk).
    pub fn update_u32(&self, va: u64, mut f: impl FnMut(u32) -> Option<u32>) -> Result<u32, Errno> {
        if !va.is_multiple_of(4) {
            return Err(Errno::EINVAL);
        }
        check_user_range(va, 4)?;
        for _ in 0..3 {
            let (bad, code) = match self.table.update_u32(va, &mut f) {
                Ok(v) => return Ok(v),
                Err(Fault::NotMapped(bad)) => (bad, pf::USER | pf::WRITE),
                Err(Fault::ReadOnly(bad) | Fault::Cow(bad)) => {
                    (bad, pf::USER | pf::WRITE | pf::PRESENT)
                }
            };
            self.fault(bad, code).map_err(|_| Errno::EFAULT)?;
        }
        Err(Errno::EFAULT)
    }

    /// `brk(addr)`: moves the program break to `addr` if it lies in
    /// `[start, start + BRK_MAX]` and the heap does not run into another
    /// VMA; returns the break in effect (the old one on failure, as Linux
    /// does). `brk(0)` asks for the current break.
    pub fn brk(&self, addr: u64) -> u64 {
        let mut layout = self.layout.lock();
        let (start, old) = (layout.brk_start, layout.brk);
        if addr < start || addr - start > BRK_MAX {
            return old;
        }
        let (Some(old_end), Some(new_end)) = (page_up(old), page_up(addr)) else {
            return old;
        };
        if new_end != old_end {
            let changed = if old_end == start {
                layout
                    .vmas
                    .insert(Vma::new(start, new_end, VmPerms::RW, VmaKind::Heap))
            } else {
                layout.vmas.resize(start, new_end).map(|gone| {
                    if let Some(gone) = gone {
                        self.unmap_pages(&gone);
                    }
                })
            };
            if changed.is_err() {
                return old;
            }
        }
        layout.brk = addr;
        addr
    }

    /// `mmap` of anonymous memory: `len` bytes (rounded up to pages) at
    /// `fixed` (which replaces what was there) or at an address the kernel
    /// picks below the stack. `shared` (`MAP_SHARED`) makes it a new
    /// shared-memory object, which fork keeps shared. Returns the address.
    pub fn mmap_anonymous(
        &self,
        fixed: Option<u64>,
        len: u64,
        perms: VmPerms,
        replace: bool,
        shared: bool,
    ) -> Result<u64, Errno> {
        let len = page_up(len).filter(|&l| l > 0).ok_or(Errno::ENOMEM)?;
        let mut layout = self.layout.lock();
        let start = match fixed {
            Some(addr) => {
                if !addr.is_multiple_of(PAGE_SIZE) {
                    return Err(Errno::EINVAL);
                }
                let end = addr.checked_add(len).ok_or(Errno::ENOMEM)?;
                if addr < super::USER_BOTTOM || end > super::USER_TOP {
                    return Err(Errno::ENOMEM);
                }
                if layout.vmas.overlaps(addr, end) {
                    if !replace {
                        return Err(Errno::EEXIST);
                    }
                    for gone in layout.vmas.remove_range(addr, end).map_err(vma_errno)? {
                        self.unmap_pages(&gone);
                    }
                    layout.drop_unused_objects();
                }
                addr
            }
            None => layout
                .vmas
                .find_free(len, layout.mmap_floor, layout.mmap_ceiling, PAGE_SIZE)
                .ok_or(Errno::ENOMEM)?,
        };
        let kind = if shared {
            let object = NEXT_OBJECT.fetch_add(1, Ordering::Relaxed);
            layout
                .objects
                .insert(object, Arc::new(ShmObject::default()));
            VmaKind::Shared {
                object,
                base: start,
            }
        } else {
            VmaKind::Anonymous
        };
        layout
            .vmas
            .insert(Vma::new(start, start + len, perms, kind))
            .map_err(vma_errno)?;
        Ok(start)
    }

    /// `munmap(addr, len)`: removes the range from every VMA and unmaps
    /// its pages. Unmapping nothing is not an error.
    pub fn munmap(&self, addr: u64, len: u64) -> Result<(), Errno> {
        if !addr.is_multiple_of(PAGE_SIZE) || len == 0 {
            return Err(Errno::EINVAL);
        }
        let end = page_up(len)
            .and_then(|l| addr.checked_add(l))
            .filter(|&e| e <= USER_END)
            .ok_or(Errno::EINVAL)?;
        let end = end.min(super::USER_TOP);
        if addr >= end {
            return Ok(());
        }
        let mut layout = self.layout.lock();
        for gone in layout.vmas.remove_range(addr, end).map_err(vma_errno)? {
            self.unmap_pages(&gone);
        }
        layout.drop_unused_objects();
        Ok(())
    }

    /// `mremap(old, old_len, new_len, flags, new_addr)`: resizes the
    /// mapping at `old` (`old_len` bytes, all in one VMA) to `new_len`,
    /// moving it if `MREMAP_MAYMOVE` (1) allows and the space after it is
    /// taken, or to `new_addr` with `MREMAP_FIXED` (2, which needs
    /// `MAYMOVE`; whatever is there is unmapped first). Shrinking unmaps
    /// the tail; growing in place extends the VMA (the new pages are
    /// zero-filled on first touch, or the shared-memory object's next
    /// pages); a move carries the pages (frames, permissions, copy-on-write
    /// state, `PROT_NONE` pages kept aside) to the new range, and a shared
    /// mapping keeps its object. Returns the mapping's address. Errors as
    /// Linux: `EINVAL` for unknown flags, `FIXED` without `MAYMOVE`, an
    /// unaligned `old` or `new_addr`, a zero `new_len`, a zero `old_len`
    /// (Linux's duplication of shared mappings is not supported), or
    /// overlapping old and new ranges; `EFAULT` if `[old, old + old_len)`
    /// is not inside one VMA; `ENOMEM` if it cannot grow in place and may
    /// not move, or no room is free. `MREMAP_DONTUNMAP` (4) is not
    /// supported: `EINVAL`.
    pub fn mremap(
        &self,
        old: u64,
        old_len: u64,
        new_len: u64,
        flags: u64,
        new_addr: u64,
    ) -> Result<u64, Errno> {
        const MAYMOVE: u64 = 1;
        const FIXED: u64 = 2;
        if flags & !(MAYMOVE | FIXED) != 0
            || (flags & FIXED != 0 && flags & MAYMOVE == 0)
            || !old.is_multiple_of(PAGE_SIZE)
        {
            return Err(Errno::EINVAL);
        }
        let old_len = page_up(old_len).ok_or(Errno::EINVAL)?;
        let new_len = page_up(new_len).ok_or(Errno::EINVAL)?;
        if old_len == 0 || new_len == 0 {
            return Err(Errno::EINVAL);
        }
        let top = super::USER_TOP;
        let old_end = old.checked_add(old_len).ok_or(Errno::EFAULT)?;
        let mut layout = self.layout.lock();
        let vma = *layout.vmas.find(old).ok_or(Errno::EFAULT)?;
        if old_end > vma.end {
            return Err(Errno::EFAULT);
        }
        if flags & FIXED != 0 {
            let new_end = new_addr.checked_add(new_len).ok_or(Errno::EINVAL)?;
            if !new_addr.is_multiple_of(PAGE_SIZE) || new_addr < super::USER_BOTTOM || new_end > top
            {
                return Err(Errno::EINVAL);
            }
            if new_addr < old_end && old < new_end {
                return Err(Errno::EINVAL);
            }
            for gone in layout
                .vmas
                .remove_range(new_addr, new_end)
                .map_err(vma_errno)?
            {
                self.unmap_pages(&gone);
            }
            self.move_range(&mut layout, vma, old, old_len.min(new_len), new_addr);
            if old_len > new_len {
                self.unmap_range(&mut layout, old + new_len, old_end);
            } else if new_len > old_len {
                layout
                    .vmas
                    .insert(Vma {
                        start: new_addr + old_len,
                        end: new_end,
                        ..moved_kind(vma, old, new_addr)
                    })
                    .map_err(vma_errno)?;
            }
            layout.vmas.merge(new_addr, new_end);
            layout.drop_unused_objects();
            return Ok(new_addr);
        }
        if new_len <= old_len {
            if new_len < old_len {
                self.unmap_range(&mut layout, old + new_len, old_end);
                layout.drop_unused_objects();
            }
            return Ok(old);
        }
        let grow_end = old.checked_add(new_len).filter(|&e| e <= top);
        if let Some(grow_end) = grow_end
            && old_end == vma.end
            && !layout.vmas.overlaps(old_end, grow_end)
        {
            layout
                .vmas
                .insert(Vma {
                    start: old_end,
                    end: grow_end,
                    ..vma
                })
                .map_err(vma_errno)?;
            layout.vmas.merge(old, grow_end);
            return Ok(old);
        }
        if flags & MAYMOVE == 0 {
            return Err(Errno::ENOMEM);
        }
        let to = layout
            .vmas
            .find_free(new_len, layout.mmap_floor, layout.mmap_ceiling, PAGE_SIZE)
            .ok_or(Errno::ENOMEM)?;
        self.move_range(&mut layout, vma, old, old_len, to);
        layout
            .vmas
            .insert(Vma {
                start: to + old_len,
                end: to + new_len,
                ..moved_kind(vma, old, to)
            })
            .map_err(vma_errno)?;
        layout.vmas.merge(to, to + new_len);
        Ok(to)
    }

    /// Moves `[from, from + len)` of `vma` (a piece of it) to `to` (free
    /// of VMAs): the VMA piece, its mapped pages and its hidden ones.
    fn move_range(&self, layout: &mut Layout, vma: Vma, from: u64, len: u64, to: u64) {
        let pieces = layout
            .vmas
            .remove_range(from, from + len)
            .expect("a range inside one VMA");
        debug_assert_eq!(pieces.len(), 1);
        let moved = Vma {
            start: to,
            end: to + len,
            ..moved_kind(vma, from, to)
        };
        layout
            .vmas
            .insert(moved)
            .expect("the target range was made free");
        let perms = flags(vma.perms);
        for va in self.mapped_pages(from, from + len) {
            let writable = self.table.translate(va).is_some_and(|(_, f)| f.write);
            // A shared-memory page comes back `None`: the next touch maps
            // the object's page at the new place.
            if let Some(frame) = self.table.unmap(va) {
                let want = UserFlags {
                    write: perms.write && writable,
                    ..perms
                };
                // Mapping into an empty slot only fails without a frame
                // for a page-table page; then the page is dropped (a
                // private page reads as zeros later: the rarest of
                // out-of-memory outcomes, never a crash).
                drop(self.table.map(to + (va - from), frame, want));
            }
        }
        let mut hidden = self.hidden.lock();
        let keys: Vec<u64> = hidden.range(from..from + len).map(|(&va, _)| va).collect();
        for va in keys {
            let frame = hidden.remove(&va).expect("listed above");
            hidden.insert(to + (va - from), frame);
        }
    }

    /// Removes `[start, end)` from the VMAs and unmaps its pages.
    fn unmap_range(&self, layout: &mut Layout, start: u64, end: u64) {
        if let Ok(gone) = layout.vmas.remove_range(start, end) {
            for piece in gone {
                self.unmap_pages(&piece);
            }
        }
    }

    /// `mprotect(addr, len, prot)`: gives the range the permissions
    /// `prot` (`PROT_READ | PROT_WRITE | PROT_EXEC`), splitting VMAs.
    /// Mapped pages get the new rights at once, except that write is
    /// given only to a page whose frame has no other reference (a
    /// copy-on-write page stays read-only and is copied at its first write
    /// fault, the write invariant of `arch::mm::user`). `PROT_NONE` pages
    /// are taken out of the page table and kept aside (`hidden`), so they
    /// keep their contents. Errors as Linux: `EINVAL` for an unaligned
    /// address or unknown `prot` bits, `ENOMEM` for a range that wraps,
    /// leaves user space or has pages outside every VMA (then nothing
    /// changes). A length of 0 does nothing.
    pub fn mprotect(&self, addr: u64, len: u64, prot: u64) -> Result<(), Errno> {
        // PROT_SEM (8) is accepted and means nothing here, as on Linux.
        if !addr.is_multiple_of(PAGE_SIZE) || prot & !0xf != 0 {
            return Err(Errno::EINVAL);
        }
        if len == 0 {
            return Ok(());
        }
        let end = page_up(len)
            .and_then(|l| addr.checked_add(l))
            .filter(|&e| e <= super::USER_TOP)
            .ok_or(Errno::ENOMEM)?;
        let perms = VmPerms::from_prot(prot & 7);
        let mut layout = self.layout.lock();
        layout.vmas.protect(addr, end, perms).map_err(|e| match e {
            VmaError::BadRange => Errno::EINVAL,
            _ => Errno::ENOMEM,
        })?;
        let mut hidden = self.hidden.lock();
        for va in self.mapped_pages(addr, end) {
            if accessible(perms) {
                // A private page shared copy-on-write is refused write
                // (`Shared`) and stays read-only.
                let want = UserFlags {
                    write: perms.write,
                    exec: perms.exec,
                };
                match self.table.protect(va, want) {
                    Err(MapError::Shared) => self
                        .table
                        .protect(
                            va,
                            UserFlags {
                                write: false,
                                ..want
                            },
                        )
                        .map_err(map_errno)?,
                    other => other.map_err(map_errno)?,
                }
            } else if let Some(frame) = self.table.unmap(va) {
                hidden.insert(va, frame);
            }
        }
        if accessible(perms) {
            let back: Vec<u64> = hidden.range(addr..end).map(|(&va, _)| va).collect();
            for va in back {
                let frame = hidden.remove(&va).expect("listed above");
                let want = UserFlags {
                    write: perms.write && frame.refcount() == 1,
                    exec: perms.exec,
                };
                self.table.map(va, frame, want).map_err(map_errno)?;
            }
        }
        drop(layout);
        Ok(())
    }

    /// `madvise(addr, len, advice)`. `MADV_DONTNEED` (4) and `MADV_FREE`
    /// (8) drop the pages of anonymous memory (heap, stack, `mmap`): they
    /// read as zeros at the next touch. The program image's pages are
    /// left as they are (Tine cannot re-read the file they came from).
    /// In shared memory only this space's mappings go; the pages stay
    /// in the object. What fork does with the range (the VMA's
    /// [`Inherit`]): `MADV_DONTFORK` (10) leaves it out of the child,
    /// `MADV_DOFORK` (11) undoes that, `MADV_WIPEONFORK` (18) gives the
    /// child the range empty (private memory only: `EINVAL` on shared
    /// memory or the program image, as Linux for file and shared
    /// mappings, and nothing changes), `MADV_KEEPONFORK` (19) undoes that.
    /// The other advice Linux knows (0-3, 12-17, 20-23) is accepted and
    /// changes nothing; `MADV_REMOVE` (9) and unknown advice are `EINVAL`,
    /// as is an unaligned address or a wrapping range; a range with pages
    /// outside every VMA is `ENOMEM` (after the rest was done, as Linux).
    pub fn madvise(&self, addr: u64, len: u64, advice: u64) -> Result<(), Errno> {
        const DONTNEED: u64 = 4;
        const FREE: u64 = 8;
        const DONTFORK: u64 = 10;
        const DOFORK: u64 = 11;
        const WIPEONFORK: u64 = 18;
        const KEEPONFORK: u64 = 19;
        let drop_pages = match advice {
            DONTNEED | FREE => true,
            0..=3 | 10..=23 => false,
            _ => return Err(Errno::EINVAL),
        };
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        if len == 0 {
            return Ok(());
        }
        let end = page_up(len)
            .and_then(|l| addr.checked_add(l))
            .ok_or(Errno::EINVAL)?;
        if matches!(advice, DONTFORK | DOFORK | WIPEONFORK | KEEPONFORK) {
            let mut layout = self.layout.lock();
            let top = end.min(super::USER_TOP);
            if addr < top {
                let inside = |v: &&Vma| v.end > addr && v.start < top;
                if advice == WIPEONFORK
                    && layout.vmas.iter().filter(inside).any(|v| {
                        !v.kind.is_private() || matches!(v.kind, VmaKind::Image | VmaKind::Vdso)
                    })
                {
                    return Err(Errno::EINVAL);
                }
                let change = |v: &mut Vma| match advice {
                    DONTFORK => v.inherit = Inherit::None,
                    WIPEONFORK => v.inherit = Inherit::Zero,
                    // DOFORK undoes only DONTFORK, KEEPONFORK only WIPEONFORK.
                    DOFORK if v.inherit == Inherit::None => v.inherit = Inherit::Copy,
                    KEEPONFORK if v.inherit == Inherit::Zero => v.inherit = Inherit::Copy,
                    _ => {}
                };
                layout.vmas.update(addr, top, change).map_err(vma_errno)?;
            }
            if end > super::USER_TOP || !layout.vmas.covers(addr, end) {
                return Err(Errno::ENOMEM);
            }
            return Ok(());
        }
        let layout = self.layout.lock();
        if drop_pages {
            let anonymous = |va: u64| {
                layout
                    .vmas
                    .find(va)
                    .is_some_and(|v| !matches!(v.kind, VmaKind::Image | VmaKind::Vdso))
            };
            for va in self.mapped_pages(addr, end) {
                if anonymous(va) {
                    drop(self.table.unmap(va));
                }
            }
            let mut hidden = self.hidden.lock();
            let gone: Vec<u64> = hidden
                .range(addr..end)
                .map(|(&va, _)| va)
                .filter(|&va| anonymous(va))
                .collect();
            for va in gone {
                drop(hidden.remove(&va));
            }
        }
        if end > super::USER_TOP || !layout.vmas.covers(addr, end) {
            return Err(Errno::ENOMEM);
        }
        Ok(())
    }

    /// The pages of `[start, end)` mapped in the page table now.
    fn mapped_pages(&self, start: u64, end: u64) -> Vec<u64> {
        let pages = (end - start) / PAGE_SIZE;
        if pages <= 4096 {
            (0..pages)
                .map(|i| start + i * PAGE_SIZE)
                .filter(|&va| self.table.translate(va).is_some())
                .collect()
        } else {
            self.table
                .pages()
                .into_iter()
                .map(|(va, _)| va)
                .filter(|&va| start <= va && va < end)
                .collect()
        }
    }

    /// Unmaps the pages of a removed VMA piece (the frames are dropped).
    fn unmap_pages(&self, gone: &Vma) {
        {
            let mut hidden = self.hidden.lock();
            let keys: Vec<u64> = hidden
                .range(gone.start..gone.end)
                .map(|(&va, _)| va)
                .collect();
            for va in keys {
                drop(hidden.remove(&va));
            }
        }
        let pages = gone.len() / PAGE_SIZE;
        if pages <= 4096 {
            for i in 0..pages {
                drop(self.table.unmap(gone.start + i * PAGE_SIZE));
            }
        } else {
            // A huge range: walk what is mapped instead of every page.
            for (va, _) in self.table.pages() {
                if gone.contains(va) {
                    drop(self.table.unmap(va));
                }
            }
        }
    }

    /// The VMAs, in address order (a snapshot).
    pub fn vmas(&self) -> Vec<Vma> {
        self.layout.lock().vmas.iter().copied().collect()
    }

    /// The current program break.
    pub fn current_brk(&self) -> u64 {
        self.layout.lock().brk
    }

    /// Pages covered by VMAs (O(1): the set keeps the sum). The fork
    /// counters charge this to each fork, as FreeBSD charges the data and
    /// stack size.
    pub fn virtual_pages(&self) -> u64 {
        self.layout.lock().vmas.pages()
    }

    /// VMA and page counts.
    pub fn stats(&self) -> SpaceStats {
        let (vmas, virtual_bytes) = {
            let layout = self.layout.lock();
            (layout.vmas.len(), layout.vmas.pages() * PAGE_SIZE)
        };
        SpaceStats {
            vmas,
            virtual_bytes,
            resident_pages: self.table.mapped_pages(),
        }
    }
}

/// `vma` as it is once its page at `from` moves to `to`: a shared VMA's
/// object pages keep their indices (the base moves along).
fn moved_kind(vma: Vma, from: u64, to: u64) -> Vma {
    let kind = match vma.kind {
        VmaKind::Shared { object, base } => VmaKind::Shared {
            object,
            base: base.wrapping_add(to.wrapping_sub(from)),
        },
        other => other,
    };
    Vma { kind, ..vma }
}

/// `va + len` if the whole range is user space, else `EFAULT`.
fn check_user_range(va: u64, len: usize) -> Result<u64, Errno> {
    va.checked_add(len as u64)
        .filter(|&end| end <= USER_END)
        .ok_or(Errno::EFAULT)
}

/// How many pages `[va, end)` touches.
fn pages_in(va: u64, end: u64) -> u64 {
    if end <= va {
        return 0;
    }
    (page_down(end - 1) - page_down(va)) / PAGE_SIZE + 1
}

fn map_errno(e: MapError) -> Errno {
    match e {
        MapError::NoMemory => Errno::ENOMEM,
        MapError::NotUser | MapError::Misaligned | MapError::NotMapped | MapError::Shared => {
            Errno::EFAULT
        }
    }
}
