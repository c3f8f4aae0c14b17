//! User page tables: one [`UserPageTable`] per address space.
//!
//! A table is a PML4 whose upper 256 entries are copies of the kernel's
//! (those never change after boot, see [`super`]) and whose lower half maps
//! user pages. The table owns one reference ([`Frame`]) of every page it
//! maps and every page-table page below its PML4; dropping it frees them.
//! Only the lower half is ever walked or changed here.
//!
//! # The write invariant (what makes copy-on-write sound)
//! A frame is writable through a user PTE (and every entry above it, see
//! "Shared page-table subtrees") only while that PTE holds the
//! frame's *only* reference. [`UserPageTable::map`] and
//! [`UserPageTable::protect`] refuse write permission for a shared frame
//! ([`MapError::Shared`]), and the only ways to get a new reference out of
//! a table ([`UserPageTable::share_frame`], [`UserPageTable::fork`]'s
//! table copies) clear the write bit first. So a frame with several
//! references is read-only everywhere, and `Frame::bytes` on any clone
//! sees contents no user program can change. A write fault on such a page
//! is the kernel's copy-on-write ([`UserPageTable::write_fault`]): copy
//! into a fresh frame mapped writable, or, when the refcount has dropped
//! back to 1, make it writable in place.
//!
//! # Shared page-table subtrees (fork)
//! Every page-table page below the PML4 (a PDPT, a PD, a last-level table)
//! is a refcounted [`Frame`] like any page; each entry pointing at it holds
//! one reference. Fork ([`UserPageTable::fork`], after On-demand-fork,
//! EuroSys 2021, taken up to the top level) clears the write bit of the
//! parent's user PML4 entries and gives the child the parent's PML4
//! itself: the PML4 is shared too (an `Arc<Root>` each table holds), so a
//! fork allocates nothing. The x86 write bit of an upper-level entry gates
//! its whole subtree: no page under a write-protected entry is writable
//! through it, whatever the entries below say, so nothing below needs a
//! refcount change and fork costs one step per used PML4 entry (none when
//! the PML4 is shared already), not per table or page. The rules:
//! - **Nobody writes a shared table.** An entry of an upper-level table
//!   is write-protected exactly when the table it points at is, or was,
//!   shared, and every user entry of a shared PML4 is write-protected.
//!   Every change of a PTE goes through `leaf`, which first makes the
//!   PML4 its own (`own_root`: still shared → copy it, the copy's entries
//!   one more reference to each PDPT; the table switches to the copy, and
//!   the CPUs running it reload CR3, before it lets go of the shared one),
//!   then walks down and makes each table on the way its own
//!   (`own_table`) when the entry above it is write-protected: if others
//!   still share it, copy it (one
//!   more reference to each table or page it points at, every entry
//!   read-only in the copy but shared-memory pages, since two tables now
//!   point at them), point the entry at the copy and release the shared
//!   one; if nobody else does any more, write-protect what the former
//!   sharers' copies may reach too (every table entry, and the private
//!   pages whose refcount is above 1), and keep it. Either way the entry
//!   is writable again. So the first write under a shared subtree copies
//!   only the path to it, level by level. Readers (`peek`, the copies,
//!   `pages`) only read shared tables, and take "writable" to mean
//!   writable at every level.
//! - **Only the last owner frees.** Dropping the last table of a PML4
//!   releases each table below it (`release_table`): the reference goes,
//!   and only the
//!   owner of the last one releases what that table points at, and so on
//!   down. So exit or exec of a child never touches the parent's pages.
//! - Fork's write-protection of the parent's PML4 entries is a weakening:
//!   one epoch bump and flush for the whole table, with a shootdown of the
//!   CPUs running it (below).
//!
//! The other exception is shared memory (`MAP_SHARED`):
//! [`UserPageTable::map_shared`] maps a [`SharedFrame`] with a software
//! PTE bit that exempts it. Such a frame is writable in every table that
//! maps it, fork maps it unchanged, `unmap` drops it instead of handing it
//! out, and `share_frame` refuses it; its contents are never visible as
//! `&[u8]` because `SharedFrame` has no `bytes`.
//!
//! # TLBs
//! Each CPU remembers which table it has loaded in CR3 (by the table's
//! unique `id`, not its PML4, which forked tables share and a table may
//! replace) and the table's *epoch* at that moment (`LOADED`). Every change that removes or weakens a
//! present mapping bumps the table's epoch, so a CPU whose recorded epoch
//! is old reloads CR3 (a full flush of user entries; PCID is not used yet)
//! the next time it runs that table. When the changing CPU itself has the
//! table loaded and up to date, it flushes the one entry with `invlpg` and
//! records the new epoch instead, so the common case (a fault handled on
//! the CPU that took it) does not reload CR3. New mappings (not-present to
//! present) need no flush at all.
//!
//! This covers every CPU that is *not* running user code of the table at
//! the moment of the change. CPUs that are (processes sharing a table:
//! `CLONE_VM`, vfork) get a **shootdown**: each CPU publishes the table it
//! runs user code with (`RUNNING`, set before the epoch is read on entry,
//! cleared on the way out). A change bumps the epoch, then scans the
//! CPUs' `RUNNING` marks and, if some other CPU runs the table, sends it an IPI
//! on [`TLB_SHOOTDOWN`](crate::irq::vector::TLB_SHOOTDOWN), which makes it
//! leave user mode (`user::run` returns `Interrupt`; its next `run` sees
//! the new epoch and reloads CR3), and *waits* until it has left (or
//! entered again, which means it left). Only then does the change return,
//! so a frame an unmap hands back is never freed while a TLB may still
//! map it. Both sides use sequentially consistent operations on the epoch
//! and the running marks (a store-load handshake): either the entering CPU
//! sees the new epoch, or the changing CPU sees it running.
//!
//! # Deferred invalidation
//! A copy-on-write fault resolved inside `user::run` (the CPU marks
//! itself [`RESOLVING`] the table) skips its local `invlpg`, which under
//! QEMU's TCG ends the translation block and clears part of the jump
//! cache (about a tenth of a COW fault): the old frame's reference goes on
//! the CPU's deferred list, flushed (one `invlpg` per page, or a CR3
//! reload past [`DEFER_ONE_BY_ONE`]) when `run` returns or the list is
//! full. A stale entry maps only the old frame, read-only; the list's
//! reference keeps that frame unchanged (the write invariant), so the
//! entry reads what the copy held at the fault, and the CPU's own first
//! write walks the tables again and replaces it. Only someone else writing
//! the copy could tell, so a CPU defers only while no other CPU runs the
//! table's user code (a scan of `RUNNING`) and marks the table
//! (`deferred_on`). Only that first deferral bumps the epoch: while the
//! mark is held no other CPU can enter the table or load its epoch, so
//! the later deferrals of the run just go on the list. Another CPU entering user mode with the table
//! (`activate_irqs_off`, after its `RUNNING` mark) or writing its memory
//! (`copy`, under the lock the deferring fault holds) waits for the flush
//! first (`wait_drain`): it counts itself in `drain_waiters` (no deferral
//! starts while any waits) and sends the shootdown IPI if that CPU runs
//! the table (it flushes on its way out of `run`); otherwise that CPU
//! flushes at its next entry. Sequentially consistent operations on both
//! sides make these store-load handshakes, as for shootdowns.
//!
//! # A full flush now and then
//! Every [`RESIZE_EVERY`]th entry to user mode on a CPU flushes its TLB
//! (a CR3 reload) even when nothing changed. This is for QEMU's TCG, whose
//! software TLB (one per vCPU, direct-mapped) changes its size only when
//! it is flushed whole: it grows when more than 70% of its entries were
//! filled since the previous full flush and shrinks when fewer than 30%
//! were over 100 ms (QEMU's `tlb_mmu_resize_locked`). A loop that never
//! reloads CR3 (vfork+exit+wait: the child shares the table, and the
//! kernel has no periodic tick) keeps the size the last flushes chose,
//! often one fitted to a fork loop's short intervals, and its working set
//! then evicts itself in the direct-mapped table on every iteration:
//! vfork+exit+wait took 27-31 or 22-24 µs depending on what ran before
//! it. With the flush its TLB is sized to its working set within a few
//! milliseconds. On hardware the cost is one refill per 1024 entries.
//!
//! A CPU keeps a reference to the PML4 frame it has loaded, so a dropped
//! table's PML4 cannot be reused by a new table while a CPU still has it in
//! CR3 (its lower half is cleared first, so such a CPU sees no user pages).
//! A table that replaces its PML4 (`own_root`) publishes the new one
//! (`root_pa`) before the epoch bump and lets go of the old one only after
//! the shootdown, so a CPU entering user mode either reads the new PML4 or
//! is waited for; being marked running keeps the PML4 it read alive until
//! `LOADED` holds it.
//!
//! # Concurrency
//! All methods take `&self`: a table is shared by the threads of a
//! process. One spin lock serialises walks and changes; no allocation
//! happens under it except page-table pages, and copies hold it for at most
//! one page. Never taken in interrupt handlers.

use x86_64::structures::paging::page_table::PageTableEntry;
use x86_64::structures::paging::{PageTable, PageTableFlags as F};
use x86_64::{PhysAddr, VirtAddr};

use super::{Frame, PAGE_SIZE, SharedFrame, phys_to_virt};
use crate::cpu::Features;

use crate::smp::MAX_CPUS;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The end of user space: user addresses are `0..USER_END` (the canonical
/// lower half with 4-level paging).
pub const USER_END: u64 = 0x0000_8000_0000_0000;

/// Whether `va` is a user address.
pub const fn is_user(va: u64) -> bool {
    va < USER_END
}

/// Permissions of a user page (always readable).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserFlags {
    /// Writable by user code.
    pub write: bool,
    /// Executable by user code (read-only pages without NX hardware are
    /// executable regardless).
    pub exec: bool,
}

impl UserFlags {
    /// Read-only data.
    pub const READ: Self = Self {
        write: false,
        exec: false,
    };
    /// Read-write data.
    pub const WRITE: Self = Self {
        write: true,
        exec: false,
    };
    /// Code.
    pub const EXEC: Self = Self {
        write: false,
        exec: true,
    };

    fn pte_flags(self) -> F {
        let mut f = F::PRESENT | F::USER_ACCESSIBLE;
        if self.write {
            f |= F::WRITABLE;
        }
        if !self.exec && Features::get().nx {
            f |= F::NO_EXECUTE;
        }
        f
    }

    fn from_pte(f: F) -> Self {
        Self {
            write: f.contains(F::WRITABLE),
            exec: !f.contains(F::NO_EXECUTE),
        }
    }
}

/// Why a mapping change was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// The address is not in user space.
    NotUser,
    /// `map` needs a page-aligned address.
    Misaligned,
    /// No frame for a page-table page.
    NoMemory,
    /// Write permission for a frame with other references (see the module
    /// docs' write invariant).
    Shared,
    /// Nothing is mapped there (`protect`).
    NotMapped,
}

/// Why a user-memory copy failed, with the first user address that could
/// not be accessed. Nothing was copied past it; bytes before it were.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Not a user address, or no page mapped there.
    NotMapped(u64),
    /// `copy_to_user` into a read-only page (after `fork`, a
    /// copy-on-write page: the kernel resolves it as a write fault and
    /// retries).
    ReadOnly(u64),
    /// `copy_to_user` into a page whose frame has other references. The
    /// write invariant makes such a page read-only, so this is reported
    /// only if that invariant were broken; resolve it like `ReadOnly`.
    Cow(u64),
}

/// The PTE bit (one the CPU ignores) marking a page of shared memory
/// ([`UserPageTable::map_shared`]): the write invariant does not apply to
/// it, fork maps it unchanged, and it is never copied on write.
const SHARED: F = F::BIT_9;

/// What [`UserPageTable::write_fault`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteFault {
    /// The page was writable already (once the tables above it were this
    /// table's own): a stale TLB entry, or a table shared since a fork.
    Writable,
    /// Made writable in place: no other reference to the frame (or shared
    /// memory).
    Reused,
    /// Copied into a fresh frame, mapped writable.
    Copied,
}

/// What `flush` does on the executing CPU when its TLB is up to date.
#[derive(Clone, Copy)]
enum Local {
    /// `invlpg` of one page.
    Page(u64),
    /// Nothing: the page is on this CPU's deferred list (`defer`).
    Deferred,
    /// Nothing now: the CPU reloads CR3 (a whole flush) at its next entry
    /// to user mode with the table, its recorded epoch being old. The
    /// kernel never reaches user memory through the TLB, and under TCG
    /// a flush now would be a second one (its refills too) before that
    /// reload: a fork's parent returns to user mode, or its CPU switches
    /// to another table, soon after.
    Reload,
}

/// One user address space's page tables.
#[derive(Debug)]
pub struct UserPageTable {
    /// This table's name for the CPUs' records (`LOADED`, `RUNNING`):
    /// unique, never reused (two tables may share a PML4).
    id: u64,
    /// The physical address of the PML4 in `lock` (what CR3 holds when
    /// this table runs), for the readers that do not take the lock.
    root_pa: AtomicU64,
    /// The PML4, shared copy-on-write with the tables forked from this
    /// one (module docs); the lock serialises every walk and change of
    /// the lower half.
    lock: spin::Mutex<Arc<Root>>,
    /// Bumped by every change that needs a TLB flush (module docs).
    epoch: AtomicU64,
    /// The CPU (its number + 1; 0: none) whose TLB may still hold
    /// entries for old frames of pages this table copied on write
    /// (module docs, "Deferred invalidation").
    deferred_on: AtomicU64,
    /// CPUs waiting for `deferred_on`'s CPU to flush (entering user
    /// mode, writing user memory); no deferral starts while any waits.
    drain_waiters: AtomicU64,
}

/// A PML4 and what it holds; shared by the tables forked from one
/// another until one of them changes a mapping (`own_root`). The last
/// table to let go frees the lower half.
#[derive(Debug)]
struct Root {
    frame: Frame,
}

impl Root {
    fn pa(&self) -> u64 {
        self.frame.paddr()
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        // SAFETY: the last `Arc`: no table reaches this PML4 any more;
        // CPUs that still have it in CR3 keep the frame alive through
        // `LOADED` and see an empty lower half once `free_tree` unlinks it.
        unsafe { free_tree(self.pa(), 4) };
        // The frame itself goes with `self.frame`.
        TABLE_PAGES.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The next table's `id` (0 means none in `RUNNING`).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

// `shoot_down` keeps the CPUs running a table in a `u64` bitmask.
const _: () = assert!(MAX_CPUS <= 64);

/// The table each CPU runs user code with (its `id`, 0: none), and how
/// many times it has entered user mode (module docs, shootdowns).
static RUNNING: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static ENTRIES: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// Shootdown IPIs sent since boot.
static SHOOTDOWNS: AtomicU64 = AtomicU64::new(0);

/// Copy-on-write faults whose local flush was put off (module docs,
/// "Deferred invalidation"), per CPU: each CPU counts its own with a
/// load and a store (no locked instruction, a helper call under TCG).
static DEFERRALS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// How many copy-on-write faults have put off their local TLB flush since
/// boot (module docs, "Deferred invalidation").
pub fn deferred_flushes() -> u64 {
    DEFERRALS.iter().map(|d| d.load(Ordering::Relaxed)).sum()
}

/// How many TLB-shootdown IPIs have been sent since boot (module docs).
pub fn shootdowns() -> u64 {
    SHOOTDOWNS.load(Ordering::Relaxed)
}

/// What a CPU has in CR3: `None` = the kernel's boot-time PML4, else a
/// reference to a user PML4, the `id` of the table it was loaded for and
/// that table's epoch when it was loaded or last flushed. Only its own CPU
/// touches a slot, with interrupts off.
static LOADED: [spin::Mutex<Option<Loaded>>; MAX_CPUS] =
    [const { spin::Mutex::new(None) }; MAX_CPUS];
/// `LOADED` without its lock, for the check on every entry to user mode:
/// the table's `id` (0: none), the PML4's address and the epoch. Written
/// by its own CPU only, with interrupts off and the slot locked, whenever
/// the slot changes.
static LOADED_TABLE: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static LOADED_ROOT: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static LOADED_EPOCH: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// The table (its `id`) whose user page fault this CPU is resolving
/// inside `user::run` (0: none): only then may a copy-on-write fault put
/// off its local flush (module docs, "Deferred invalidation").
static RESOLVING: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Copy-on-write faults a CPU has not flushed from its own TLB yet
/// (module docs, "Deferred invalidation"): the page and the old frame,
/// whose reference the list holds. Only its own CPU touches its list
/// (`activate_irqs_off`, `defer`, `drain_deferred`, none of which calls
/// another while it holds the list), never an interrupt handler: no
/// lock. Allocated at the CPU's first CR3 load (room for [`DEFER_CAP`],
/// so pushing never allocates); without memory for it, the CPU just does
/// not defer.
static DEFERRED: [CpuLocal<alloc::vec::Vec<(u64, u64)>>; MAX_CPUS] =
    [const { CpuLocal(core::cell::UnsafeCell::new(alloc::vec::Vec::new())) }; MAX_CPUS];

/// A value each CPU has one of, touched only by code running on that CPU
/// and never by interrupt handlers, so by one access at a time: no lock
/// (a spin lock's compare-exchange is a helper call under QEMU's TCG).
struct CpuLocal<T>(core::cell::UnsafeCell<T>);

// SAFETY: each slot is reached only through `get`, whose contract gives
// one CPU one access at a time.
unsafe impl<T: Send> Sync for CpuLocal<T> {}

impl<T> CpuLocal<T> {
    /// The slot, to read and change.
    ///
    /// # Safety
    /// `self` is the executing CPU's slot, and no other reference from
    /// `get` to it is alive (the caller calls nothing that takes it
    /// while holding this one); interrupt handlers never touch it.
    #[allow(clippy::mut_from_ref)]
    unsafe fn get(&self) -> &mut T {
        // SAFETY: the caller's contract.
        unsafe { &mut *self.0.get() }
    }
}

/// Gives up the old frames' references a deferred list held (module
/// docs, "Deferred invalidation"), once no TLB maps them any more, in
/// batches (`Frame::drop_many`: one refcount decrement each, and one
/// hold of the frame cache's lock for those freed).
fn release_deferred(list: &mut alloc::vec::Vec<(u64, u64)>) {
    let mut batch = DropBatch::new();
    for (_, pa) in list.drain(..) {
        // SAFETY: a reference `defer` took over, given up once.
        unsafe { batch.push(pa) };
    }
}

/// Frame references given up in batches of 64 (`Frame::drop_many`: one
/// hold of the frame cache's lock for the frames freed in each), the
/// rest when the batch is dropped.
struct DropBatch {
    pas: [u64; 64],
    held: usize,
}

impl DropBatch {
    fn new() -> Self {
        Self {
            pas: [0; 64],
            held: 0,
        }
    }

    /// Adds the reference to the frame at `pa`.
    ///
    /// # Safety
    /// `pa` is a reference from `Frame::leak` (a PTE's, a deferred
    /// list's), given up here once.
    unsafe fn push(&mut self, pa: u64) {
        self.pas[self.held] = pa;
        self.held += 1;
        if self.held == self.pas.len() {
            // SAFETY: the references `push` was given.
            unsafe { Frame::drop_many(&mut self.pas) };
            self.held = 0;
        }
    }
}

impl Drop for DropBatch {
    fn drop(&mut self) {
        // SAFETY: the references `push` was given and did not drop yet.
        unsafe { Frame::drop_many(&mut self.pas[..self.held]) };
    }
}

/// Deferred pages a CPU holds at most; the next one flushes its whole TLB.
/// Under QEMU's TCG a whole flush (and the refills after it) costs about
/// 25 `invlpg`s: at 128 a child writing 1024 pages took 8 of them.
pub const DEFER_CAP: usize = 512;
/// Up to this many deferred pages are flushed one by one (`invlpg`), more
/// by a CR3 reload: under QEMU's TCG an `invlpg` costs about a
/// thirtieth of a whole flush and the refills after it.
const DEFER_ONE_BY_ONE: usize = 16;

/// Entries to user mode on one CPU between two full TLB flushes when
/// nothing else flushes (module docs, "A full flush now and then").
const RESIZE_EVERY: u64 = 1024;

/// A CPU's record in `LOADED`.
#[derive(Debug)]
struct Loaded {
    root: Frame,
    table: u64,
    epoch: u64,
}

fn table_at(pa: u64) -> *mut PageTable {
    phys_to_virt(pa) as *mut PageTable
}

/// The refcount of the frame at `pa`, which a PTE of a locked table holds.
fn refcount_of(pa: u64) -> u32 {
    // SAFETY: the PTE holds a reference leaked by `map`; the temporary
    // `Frame` is never dropped, so that reference stays the PTE's.
    core::mem::ManuallyDrop::new(unsafe { Frame::from_raw(pa) }).refcount()
}

/// The physical-address bits of a page-table entry.
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

fn index(va: u64, level: u32) -> usize {
    ((va >> (12 + 9 * (level - 1))) & 511) as usize
}

impl UserPageTable {
    /// A fresh address space: empty lower half, the kernel's upper half.
    pub fn new() -> Option<Self> {
        let root = Frame::alloc_zeroed()?;
        TABLE_PAGES.fetch_add(1, Ordering::Relaxed);
        let kernel = table_at(super::paging::kernel_pml4());
        let pml4 = table_at(root.paddr());
        // SAFETY: (1) `root` is a fresh frame nobody else references, reached
        // through the direct map; (2) the kernel PML4's upper half is written
        // only at boot, so reading it races with nothing.
        unsafe {
            for i in 256..512 {
                (&mut *pml4)[i] = (&*kernel)[i].clone();
            }
        }
        Some(Self::with_root(Arc::new(Root { frame: root })))
    }

    fn with_root(root: Arc<Root>) -> Self {
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            root_pa: AtomicU64::new(root.pa()),
            lock: spin::Mutex::new(root),
            epoch: AtomicU64::new(0),
            deferred_on: AtomicU64::new(0),
            drain_waiters: AtomicU64::new(0),
        }
    }

    /// Physical address of the PML4 (what CR3 holds when this table
    /// runs). It changes when a change of a mapping gives the table its own
    /// copy of a PML4 shared since a fork.
    pub fn root_pa(&self) -> u64 {
        self.root_pa.load(Ordering::SeqCst)
    }

    /// Loads this table into CR3 on the executing CPU, unless it is loaded
    /// there already with no change since (module docs, "TLBs"). Called by
    /// `user::run` with interrupts masked, after [`Self::enter_user`]:
    /// being marked as running is what keeps the PML4 read here from being
    /// freed before `LOADED` holds it (a change that replaces the PML4
    /// shoots this CPU down, and waits for it, before letting go of the
    /// old one).
    pub(crate) fn activate_irqs_off(&self) {
        let cpu = crate::cpu::id();
        // Deferred invalidation (module docs): SeqCst, the other half of
        // `defer`'s handshake (after `enter_user`'s running mark).
        let owner = self.deferred_on.load(Ordering::SeqCst);
        if owner != 0 {
            if owner == cpu as u64 + 1 {
                // This CPU's own; flushed now if another CPU waits for it.
                if self.drain_waiters.load(Ordering::SeqCst) != 0 {
                    self.drain_deferred();
                }
            } else {
                // Another CPU's: not into user mode before it flushed. Not
                // marked running while waiting, so a shootdown that CPU
                // makes meanwhile does not wait for this one; marked again
                // before the waiter count drops, so no deferral starts
                // before `defer` sees the mark.
                self.leave_user();
                self.wait_drain(|| self.enter_user());
            }
        }
        // Acquire: pairs with the Release in `changed`, so the PTE changes
        // of that epoch are visible to the page walks after the CR3 load.
        // The epoch first: a new PML4 is published before the epoch bump.
        let epoch = self.epoch.load(Ordering::SeqCst);
        let root = self.root_pa.load(Ordering::SeqCst);
        // The common case without the lock: loaded and up to date. Relaxed:
        // only this CPU writes its mirrors, with interrupts off as now.
        if LOADED_TABLE[cpu].load(Ordering::Relaxed) == self.id
            && LOADED_ROOT[cpu].load(Ordering::Relaxed) == root
            && LOADED_EPOCH[cpu].load(Ordering::Relaxed) == epoch
        {
            // Module docs, "A full flush now and then" (`enter_user`
            // counted this entry).
            if ENTRIES[cpu]
                .load(Ordering::Relaxed)
                .is_multiple_of(RESIZE_EVERY)
            {
                x86_64::instructions::tlb::flush_all();
            }
            return;
        }
        let mut slot = LOADED[cpu].lock();
        if let Some(l) = slot.as_ref()
            && l.table == self.id
            && l.root.paddr() == root
            && l.epoch == epoch
        {
            return;
        }
        // This CPU's deferred list, made at its first CR3 load, not under
        // a table's lock in a fault; without memory for it the CPU does
        // not defer.
        {
            // SAFETY: this CPU's list (interrupts are masked here), held
            // for this block only.
            let list = unsafe { DEFERRED[cpu].get() };
            if list.capacity() < DEFER_CAP {
                let _ = list.try_reserve_exact(DEFER_CAP);
            }
        }
        let frame = x86_64::structures::paging::PhysFrame::containing_address(PhysAddr::new(root));
        // SAFETY: the PML4's upper half is the kernel's, so the running code,
        // its stack and the direct map stay mapped; the lower half maps only
        // frames this table owns. `LOADED` keeps a reference to the PML4 so
        // it is not freed while in CR3.
        unsafe {
            x86_64::registers::control::Cr3::write(
                frame,
                x86_64::registers::control::Cr3Flags::empty(),
            )
        };
        // SAFETY: the PML4 at `root` is alive: the table's `Arc<Root>` holds
        // it until this CPU has left user mode (see above); the temporary
        // `Frame` is cloned (a new reference) and never dropped.
        let held = core::mem::ManuallyDrop::new(unsafe { Frame::from_raw(root) });
        // The old PML4 reference (if any) is dropped after the switch.
        let _old = slot.replace(Loaded {
            root: (*held).clone(),
            table: self.id,
            epoch,
        });
        LOADED_TABLE[cpu].store(self.id, Ordering::Relaxed);
        LOADED_ROOT[cpu].store(root, Ordering::Relaxed);
        LOADED_EPOCH[cpu].store(epoch, Ordering::Relaxed);
    }

    /// Records a change to the PTE of `va` that needs a TLB flush; call
    /// with the lock held, after the change.
    fn changed(&self, va: u64) {
        self.flush(Local::Page(va));
    }

    /// [`Self::changed`] for changes anywhere in the table (fork's
    /// write-protection of the PML4 entries, a new PML4): this CPU
    /// reloads CR3 at its next entry to user mode ([`Local::Reload`]).
    fn changed_all(&self) {
        self.flush(Local::Reload);
    }

    fn flush(&self, local: Local) {
        crate::cpu::irq::without(|| {
            let mut slot = LOADED[crate::cpu::id()].lock();
            // Release: pairs with the Acquire in `activate_irqs_off`.
            let old = self.epoch.fetch_add(1, Ordering::SeqCst);
            if let Some(l) = slot.as_mut()
                && l.table == self.id
                && l.root.paddr() == self.root_pa.load(Ordering::SeqCst)
                && l.epoch == old
            {
                // This CPU's TLB was up to date before the change: flushing
                // the one entry (`invlpg` also drops every cached upper-level
                // entry) or all of them keeps it so (or the page is on this
                // CPU's deferred list).
                match local {
                    Local::Page(va) => x86_64::instructions::tlb::flush(VirtAddr::new(va)),
                    Local::Deferred => {}
                    // The recorded epoch stays old: the next entry reloads.
                    Local::Reload => return,
                }
                l.epoch = old + 1;
                LOADED_EPOCH[crate::cpu::id()].store(old + 1, Ordering::Relaxed);
            }
        });
        self.shoot_down();
    }

    /// Marks (`Some(())`) or unmarks this CPU as resolving a page fault of
    /// this table's user code inside `user::run` (interrupts masked):
    /// copy-on-write faults resolved meanwhile may put off their local
    /// flush until [`Self::drain_deferred`] (module docs).
    pub(crate) fn resolving(&self, on: bool) {
        RESOLVING[crate::cpu::id()].store(if on { self.id } else { 0 }, Ordering::Relaxed);
    }

    /// Puts off the local flush of the copy-on-write change of `va`
    /// (lock held, the PTE already points at the copy) and keeps the
    /// reference to the old frame at `old` until the flush (module docs,
    /// "Deferred invalidation"); the epoch bump and TLB bookkeeping of the
    /// change are done here too. `false` when that is not allowed now: the
    /// caller flushes and drops the frame as for any change.
    ///
    /// Only the first deferral of a run (the one that marks the table)
    /// bumps the epoch and checks for CPUs running the table. While the
    /// mark is held no other CPU can run the table's user code (one that
    /// enters sees the mark and waits for the drain) or load its epoch,
    /// so the later deferrals of the run need neither: every CPU but this
    /// one reloads CR3 at its next entry anyway (its recorded epoch is
    /// older than the first deferral's bump), and this one's entries go
    /// with the drain.
    fn defer(&self, va: u64, old: u64) -> bool {
        let cpu = crate::cpu::id();
        if RESOLVING[cpu].load(Ordering::Relaxed) != self.id {
            return false;
        }
        // Only while this CPU's TLB is up to date for the table: otherwise
        // the next entry reloads CR3 anyway (and `flush` would not
        // `invlpg`).
        if LOADED_TABLE[cpu].load(Ordering::Relaxed) != self.id
            || LOADED_ROOT[cpu].load(Ordering::Relaxed) != self.root_pa.load(Ordering::SeqCst)
            || LOADED_EPOCH[cpu].load(Ordering::Relaxed) != self.epoch.load(Ordering::SeqCst)
        {
            return false;
        }
        let me = cpu as u64 + 1;
        // Relaxed: only this CPU sets its own mark or clears it.
        let marked = self.deferred_on.load(Ordering::Relaxed) == me;
        if marked {
            // A CPU waiting for the drain: no more deferrals (it waits
            // until this CPU's next entry to user mode flushes).
            if self.drain_waiters.load(Ordering::SeqCst) != 0 {
                return false;
            }
        } else if !self.mark_deferring(cpu) {
            return false;
        }
        // SAFETY: this CPU's list (`RESOLVING` is set only inside
        // `user::run`, with interrupts masked, and a task does not move
        // between CPUs within a call), held until `flush` below.
        let list = unsafe { DEFERRED[cpu].get() };
        if list.capacity() < DEFER_CAP {
            // No list (`activate_irqs_off` makes it): no deferral.
            if !marked {
                self.deferred_on.store(0, Ordering::SeqCst);
            }
            return false;
        }
        // Only this CPU writes its count.
        DEFERRALS[cpu].store(
            DEFERRALS[cpu].load(Ordering::Relaxed) + 1,
            Ordering::Relaxed,
        );
        if list.len() == DEFER_CAP {
            // Full: one flush of the whole TLB (this page's change
            // included) lets go of every old frame, this one too.
            x86_64::instructions::tlb::flush_all();
            list.push((va, old));
            release_deferred(list);
        } else {
            list.push((va, old));
        }
        if !marked {
            // The run's first deferral: the epoch bump every other CPU
            // reloads CR3 for; this CPU's TLB counts as up to date.
            self.flush(Local::Deferred);
        }
        true
    }

    /// Marks the table as having flushes put off on `cpu` (`deferred_on`),
    /// unless another CPU runs its user code or waits for a drain, or
    /// another CPU holds the mark (module docs, "Deferred invalidation").
    fn mark_deferring(&self, cpu: usize) -> bool {
        if self
            .deferred_on
            .compare_exchange(0, cpu as u64 + 1, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return false;
        }
        // The other half of the handshakes of `activate_irqs_off` and
        // `wait_drain` (SeqCst both sides): either they see this CPU's
        // mark, or this sees them waiting or running the table.
        let cpus = crate::cpu::count().min(MAX_CPUS);
        let excluded = self.drain_waiters.load(Ordering::SeqCst) != 0
            || (0..cpus).any(|c| c != cpu && RUNNING[c].load(Ordering::SeqCst) == self.id);
        if excluded {
            self.deferred_on.store(0, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// The CPU whose TLB may still hold entries for old frames of pages
    /// this table copied on write (module docs, "Deferred invalidation").
    pub fn deferring_cpu(&self) -> Option<usize> {
        match self.deferred_on.load(Ordering::SeqCst) {
            0 => None,
            cpu => Some((cpu - 1) as usize),
        }
    }

    /// Flushes from this CPU's TLB the pages whose invalidation it put off
    /// for this table, and lets go of their old frames (module docs,
    /// "Deferred invalidation"). `user::run` calls it with interrupts
    /// masked before it returns; a no-op when there is nothing.
    pub(crate) fn drain_deferred(&self) {
        let cpu = crate::cpu::id();
        if self.deferred_on.load(Ordering::SeqCst) != cpu as u64 + 1 {
            return;
        }
        // SAFETY: this CPU's list; the callers mask interrupts (a task
        // does not move between CPUs within a call), held to the end.
        let list = unsafe { DEFERRED[cpu].get() };
        if list.len() <= DEFER_ONE_BY_ONE {
            for &(va, _) in list.iter() {
                x86_64::instructions::tlb::flush(VirtAddr::new(va));
            }
        } else {
            x86_64::instructions::tlb::flush_all();
        }
        // SeqCst: a waiter that sees 0 sees the flush done.
        self.deferred_on.store(0, Ordering::SeqCst);
        // No TLB entry maps the old frames for this table any more.
        release_deferred(list);
    }

    /// Waits until no other CPU has copy-on-write flushes of this table
    /// put off (module docs, "Deferred invalidation"): counted among the
    /// waiters, so none starts meanwhile, that CPU is made to leave user
    /// mode if it runs the table (it drains on the way out) or drains at
    /// its next entry. Call without the table's lock, and not marked as
    /// running the table (its shootdowns would wait for this CPU).
    /// `done` runs while still counted (no new deferral can start before
    /// it returns).
    fn wait_drain<R>(&self, done: impl FnOnce() -> R) -> R {
        let me = crate::cpu::id() as u64 + 1;
        // SeqCst: the store-load handshake with `defer`.
        self.drain_waiters.fetch_add(1, Ordering::SeqCst);
        let mut kicked = false;
        loop {
            let owner = self.deferred_on.load(Ordering::SeqCst);
            if owner == 0 || owner == me {
                break;
            }
            let cpu = (owner - 1) as usize;
            if !kicked && RUNNING[cpu].load(Ordering::SeqCst) == self.id {
                kicked = true;
                SHOOTDOWNS.fetch_add(1, Ordering::Relaxed);
                crate::irq::lapic::send_ipi(
                    crate::smp::cpu_apic_id(cpu),
                    crate::irq::vector::TLB_SHOOTDOWN,
                );
            }
            core::hint::spin_loop();
        }
        let r = done();
        self.drain_waiters.fetch_sub(1, Ordering::SeqCst);
        r
    }

    /// Marks this CPU as running this table's user code; `user::run` calls
    /// it with interrupts masked before [`Self::activate_irqs_off`].
    pub(crate) fn enter_user(&self) {
        let cpu = crate::cpu::id();
        // Only this CPU writes its count: no read-modify-write. Release is
        // enough: the SeqCst store below orders it before the epoch read,
        // and a shooter only needs to see it change eventually.
        let entries = ENTRIES[cpu].load(Ordering::Relaxed);
        ENTRIES[cpu].store(entries + 1, Ordering::Release);
        // SeqCst: the store-load handshake with `shoot_down` (module docs);
        // the one locked instruction of an entry.
        RUNNING[cpu].store(self.id, Ordering::SeqCst);
    }

    /// How many CPUs run this table's user code now.
    pub fn running_cpus(&self) -> u32 {
        let cpus = crate::cpu::count().min(MAX_CPUS);
        RUNNING[..cpus]
            .iter()
            .filter(|r| r.load(Ordering::SeqCst) == self.id)
            .count() as u32
    }

    /// Undoes [`Self::enter_user`] once the CPU is back in ring 0.
    pub(crate) fn leave_user(&self) {
        // Release: the CPU has left ring 3 and is done with the PML4 it
        // loaded for this table (`activate_irqs_off` ran before); the
        // kernel reaches user memory by walking the table, never through
        // the TLB, so a shooter waiting for this store needs no more.
        RUNNING[crate::cpu::id()].store(0, Ordering::Release);
    }

    /// Makes every other CPU running this table's user code leave ring 3,
    /// and waits until each has (module docs). Called after an epoch bump.
    fn shoot_down(&self) {
        let me = crate::cpu::id();
        let root = self.id;
        let cpus = crate::cpu::count().min(MAX_CPUS);
        // The common case first, with nothing to set up (every change
        // comes here): no other CPU runs the table's user code. A CPU not
        // running it now sees the new epoch when it enters (the store-load
        // handshake); only those that run it need the careful steps below.
        let mut running = 0u64;
        for cpu in (0..cpus).filter(|&c| c != me) {
            if RUNNING[cpu].load(Ordering::SeqCst) == root {
                running |= 1 << cpu;
            }
        }
        if running == 0 {
            return;
        }
        let mut seen = [0u64; MAX_CPUS];
        let mut kicked = [false; MAX_CPUS];
        for cpu in (0..cpus).filter(|&c| running & (1 << c) != 0) {
            seen[cpu] = ENTRIES[cpu].load(Ordering::SeqCst);
            if RUNNING[cpu].load(Ordering::SeqCst) == root {
                kicked[cpu] = true;
                SHOOTDOWNS.fetch_add(1, Ordering::Relaxed);
                crate::irq::lapic::send_ipi(
                    crate::smp::cpu_apic_id(cpu),
                    crate::irq::vector::TLB_SHOOTDOWN,
                );
            }
        }
        for cpu in (0..cpus).filter(|&c| kicked[c]) {
            while RUNNING[cpu].load(Ordering::SeqCst) == root
                && ENTRIES[cpu].load(Ordering::SeqCst) == seen[cpu]
            {
                core::hint::spin_loop();
            }
        }
    }

    /// The leaf PTE of `va`; with `create`, missing tables are allocated.
    /// `Ok(None)` when a table is missing and `create` is false.
    fn leaf<'g>(
        &'g self,
        guard: &'g mut spin::MutexGuard<'_, Arc<Root>>,
        va: u64,
        create: bool,
    ) -> Result<Option<&'g mut PageTableEntry>, MapError> {
        debug_assert!(is_user(va));
        self.own_root(guard)?;
        // The shared tables the path was copied from (`own_table`), given
        // up after one flush for the whole path (`Replaced::release`).
        let mut replaced = Replaced::default();
        let mut table = table_at(guard.pa());
        for level in [4, 3, 2] {
            // SAFETY: `table` is this table's PML4 or a page-table page it
            // owns (created below), reached through the direct map; the lock
            // (`guard`) makes this the only access from Rust.
            let entry = unsafe { &mut (&mut *table)[index(va, level)] };
            if entry.is_unused() {
                if !create {
                    replaced.release(self, va);
                    return Ok(None);
                }
                let Some(page) = Frame::alloc_zeroed() else {
                    replaced.release(self, va);
                    return Err(MapError::NoMemory);
                };
                TABLE_PAGES.fetch_add(1, Ordering::Relaxed);
                // The table owns the page from now on; `Drop` takes it back.
                entry.set_addr(
                    PhysAddr::new(page.leak()),
                    F::PRESENT | F::WRITABLE | F::USER_ACCESSIBLE,
                );
            } else if !entry.flags().contains(F::WRITABLE) {
                // The table below is (or was) shared since a fork: the
                // caller changes a leaf under it, so make it this table's
                // own first (top down: the path is ours down to here).
                if let Err(e) = self.own_table(entry, level, &mut replaced) {
                    replaced.release(self, va);
                    return Err(e);
                }
            }
            table = table_at(entry.addr().as_u64());
        }
        replaced.release(self, va);
        // SAFETY: as above, for the last-level table, which is this
        // table's alone now (`own_table` at every level above).
        Ok(Some(unsafe { &mut (&mut *table)[index(va, 1)] }))
    }

    /// The used leaf PTE of `va` when no table on the path to it needs
    /// taking back first (the common case of a copy-on-write fault after
    /// the first one under a table): the PML4 is this table's alone and
    /// every entry above the leaf present and writable, which says the
    /// table below is this table's own (module docs, "Shared page-table
    /// subtrees"). `None` otherwise (`leaf` then does the whole work). The
    /// walk `leaf` does, without its per-level calls and checks: each is
    /// a translation block under QEMU's TCG.
    #[inline(always)]
    fn owned_leaf(
        &self,
        guard: &spin::MutexGuard<'_, Arc<Root>>,
        va: u64,
    ) -> Option<*mut PageTableEntry> {
        // As in `own_root`: the only `Arc`, so no other table shares the
        // PML4.
        if Arc::strong_count(guard) != 1 {
            return None;
        }
        // Acquire: as in `own_root`.
        core::sync::atomic::fence(Ordering::Acquire);
        const PATH: u64 = F::PRESENT.bits() | F::WRITABLE.bits();
        let mut table = guard.pa();
        for level in [4, 3, 2] {
            // SAFETY: a page-table page this table references (its PML4,
            // then tables the entries above lead to), read while the lock
            // is held; `PageTableEntry` is one `u64`.
            let raw = unsafe { *table_at(table).cast::<u64>().add(index(va, level)) };
            if raw & PATH != PATH {
                return None;
            }
            table = raw & ADDR_MASK;
        }
        // SAFETY: as above; the last-level table is this table's own.
        let leaf = unsafe { table_at(table).cast::<PageTableEntry>().add(index(va, 1)) };
        // SAFETY: as above.
        if unsafe { (*leaf).is_unused() } {
            return None;
        }
        Some(leaf)
    }

    /// Makes the PML4 this table's own if a fork shared it (module docs):
    /// copy it (one more reference to each PDPT, every entry read-only in
    /// the copy as in the shared one), publish the copy for the CPUs
    /// (`root_pa`, an epoch bump, a shootdown of the CPUs running this
    /// table, which reload CR3), then let go of the shared one.
    fn own_root(&self, guard: &mut spin::MutexGuard<'_, Arc<Root>>) -> Result<(), MapError> {
        // The only `Arc` (no `Weak` to a `Root` is ever made): every other
        // table that shared it has let go, and none can take a new one
        // (that clones the `Arc` under this lock: `fork`). A plain count
        // load, not `Arc::get_mut`'s compare-exchange (every fault
        // comes here).
        if Arc::strong_count(guard) == 1 {
            // Acquire: the former sharers' reads of the PML4 (before their
            // Release decrement) happen before this table changes it.
            core::sync::atomic::fence(Ordering::Acquire);
            return Ok(());
        }
        // SAFETY: a PML4 other tables share; nobody writes a shared
        // PML4's lower half (its sharers copy it first, as here).
        let new = unsafe { copy_root(guard.pa()) }.ok_or(MapError::NoMemory)?;
        self.root_pa.store(new.pa(), Ordering::SeqCst);
        let shared = core::mem::replace(&mut **guard, new);
        // Every CPU running this table leaves user mode and reloads CR3
        // before the shared PML4 is let go of.
        self.changed_all();
        drop(shared);
        Ok(())
    }

    /// Makes the table the write-protected entry `entry` (of this table's
    /// table of `level`, lock held, on the path this call owns already)
    /// points at this table's own, and the entry writable again (module
    /// docs, "Shared page-table subtrees"). Still shared: copy it (one more
    /// reference to everything it points at, every entry read-only in the
    /// copy but shared-memory pages), point `entry` at the copy and give up
    /// the shared one (recorded in `replaced`, which lets go of it after
    /// the flush). No longer shared: write-protect what the former
    /// sharers' copies may still reach (every table entry; the private
    /// pages with other references), and keep it.
    fn own_table(
        &self,
        entry: &mut PageTableEntry,
        level: u32,
        replaced: &mut Replaced,
    ) -> Result<(), MapError> {
        let old = entry.addr().as_u64();
        let below = level - 1;
        if refcount_of(old) == 1 {
            // Acquire: the former sharers' reads of the table (before
            // their Release decrement) happen before the writes below.
            core::sync::atomic::fence(Ordering::Acquire);
            // SAFETY: refcount 1: only `entry` references the table, so
            // nobody else can reach it; the lock makes this the only
            // access, and no reference into it is alive here.
            unsafe {
                // A table below may have been copied by a former sharer
                // meanwhile (its entries then reach frames the copy maps
                // too): it is owned again on the next walk through it.
                write_protect(table_at(old), 512, |f, pa| {
                    below == 1 && (f.contains(SHARED) || refcount_of(pa) == 1)
                });
            }
            // The entry only gains a right, and nothing under it became
            // weaker through it (it was read-only): no flush.
            entry.set_flags(entry.flags() | F::WRITABLE);
            return Ok(());
        }
        let copy = Frame::alloc().ok_or(MapError::NoMemory)?;
        TABLE_PAGES.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `old` is a table other tables share; nobody writes a
        // shared table (its sharers copy it first, as here), so reading it
        // races with nothing. `copy` is a fresh frame only this call
        // references, every entry of which is written.
        unsafe {
            copy_shared(table_at(old), &mut *table_at(copy.paddr()), 512, |flags| {
                if below == 1 && flags.contains(SHARED) {
                    flags
                } else {
                    flags - F::WRITABLE
                }
            });
        }
        entry.set_addr(PhysAddr::new(copy.leak()), entry.flags() | F::WRITABLE);
        // Page walks may have cached the old table: this table's reference
        // to it goes after the flush.
        replaced.tables[replaced.count] = (old, below);
        replaced.count += 1;
        Ok(())
    }

    /// The leaf PTE of `va` (a copy of it) and whether the page is
    /// writable through every level (a page under a write-protected,
    /// shared table is not), without changing anything.
    fn peek(
        &self,
        guard: &spin::MutexGuard<'_, Arc<Root>>,
        va: u64,
    ) -> Option<(PageTableEntry, bool)> {
        debug_assert!(is_user(va));
        let mut table = table_at(guard.pa());
        let mut writable = true;
        for level in [4, 3, 2] {
            // SAFETY: a page-table page this table references, read while
            // the lock is held; a shared table is written by
            // nobody (`own_table`), so reading it races with nothing.
            let entry = unsafe { &(&*table)[index(va, level)] };
            if entry.is_unused() {
                return None;
            }
            writable &= entry.flags().contains(F::WRITABLE);
            table = table_at(entry.addr().as_u64());
        }
        // SAFETY: as above.
        let entry = unsafe { (&*table)[index(va, 1)].clone() };
        if entry.is_unused() {
            return None;
        }
        let writable = writable && entry.flags().contains(F::WRITABLE);
        Some((entry, writable))
    }

    /// Maps `frame` at the page `va` (page-aligned, user) with `flags`,
    /// and returns the frame it replaces. The table keeps the reference.
    pub fn map(&self, va: u64, frame: Frame, flags: UserFlags) -> Result<Option<Frame>, MapError> {
        if !is_user(va) {
            return Err(MapError::NotUser);
        }
        if !va.is_multiple_of(PAGE_SIZE) {
            return Err(MapError::Misaligned);
        }
        if flags.write && frame.refcount() != 1 {
            return Err(MapError::Shared);
        }
        let mut guard = self.lock.lock();
        let entry = self.leaf(&mut guard, va, true)?.expect("created");
        let old = (!entry.is_unused()).then(|| {
            // SAFETY: a used leaf holds a reference leaked by `map`, taken
            // back exactly once here (the entry is overwritten next).
            unsafe { Frame::from_raw(entry.addr().as_u64()) }
        });
        entry.set_addr(PhysAddr::new(frame.leak()), flags.pte_flags());
        if old.is_some() {
            self.changed(va);
        }
        Ok(old)
    }

    /// Maps the shared-memory page `frame` at the page `va` with `flags`
    /// (write allowed although the frame has other references: module
    /// docs). What was mapped there is dropped.
    pub fn map_shared(
        &self,
        va: u64,
        frame: &SharedFrame,
        flags: UserFlags,
    ) -> Result<(), MapError> {
        if !is_user(va) {
            return Err(MapError::NotUser);
        }
        if !va.is_multiple_of(PAGE_SIZE) {
            return Err(MapError::Misaligned);
        }
        let frame = frame.clone().into_frame();
        let mut guard = self.lock.lock();
        let entry = self.leaf(&mut guard, va, true)?.expect("created");
        let old = (!entry.is_unused()).then(|| {
            // SAFETY: a used leaf's reference, taken back once (the entry
            // is overwritten next).
            unsafe { Frame::from_raw(entry.addr().as_u64()) }
        });
        entry.set_addr(PhysAddr::new(frame.leak()), flags.pte_flags() | SHARED);
        if old.is_some() {
            self.changed(va);
        }
        drop(guard);
        drop(old);
        Ok(())
    }

    /// Unmaps the page containing `va` and returns its frame (`None` for
    /// a page of shared memory, whose reference is dropped).
    pub fn unmap(&self, va: u64) -> Option<Frame> {
        if !is_user(va) {
            return None;
        }
        let mut guard = self.lock.lock();
        let entry = self.leaf(&mut guard, va, false).ok()??;
        if entry.is_unused() {
            return None;
        }
        // SAFETY: the leaf's reference, taken back once: the entry is
        // cleared next.
        let frame = unsafe { Frame::from_raw(entry.addr().as_u64()) };
        let shared = entry.flags().contains(SHARED);
        entry.set_unused();
        self.changed(va);
        // A shared page's reference is dropped here (after the flush):
        // its contents are not to be seen through `Frame::bytes`.
        (!shared).then_some(frame)
    }

    /// Changes the permissions of the page containing `va`. Write
    /// permission needs the frame's only reference ([`MapError::Shared`]).
    pub fn protect(&self, va: u64, flags: UserFlags) -> Result<(), MapError> {
        if !is_user(va) {
            return Err(MapError::NotUser);
        }
        let mut guard = self.lock.lock();
        let entry = self
            .leaf(&mut guard, va, false)?
            .filter(|e| !e.is_unused())
            .ok_or(MapError::NotMapped)?;
        let old = entry.flags();
        if flags.write && !old.contains(SHARED) && refcount_of(entry.addr().as_u64()) != 1 {
            return Err(MapError::Shared);
        }
        let new = flags.pte_flags() | (old & SHARED);
        entry.set_flags(new);
        // Adding rights needs no flush (a stale, weaker entry only faults
        // again); removing any does.
        let removed = (old.contains(F::WRITABLE) && !new.contains(F::WRITABLE))
            || (!old.contains(F::NO_EXECUTE) && new.contains(F::NO_EXECUTE));
        if removed {
            self.changed(va);
        }
        Ok(())
    }

    /// Makes the page containing `va` read-only (fork's copy-on-write);
    /// returns whether a page is mapped there.
    pub fn clear_write(&self, va: u64) -> bool {
        if !is_user(va) {
            return false;
        }
        let mut guard = self.lock.lock();
        self.clear_write_locked(&mut guard, va).is_some()
    }

    /// The leaf of `va` with the write bit cleared, if mapped.
    fn clear_write_locked<'g>(
        &'g self,
        guard: &'g mut spin::MutexGuard<'_, Arc<Root>>,
        va: u64,
    ) -> Option<&'g mut PageTableEntry> {
        let entry = self.leaf(guard, va, false).ok()??;
        if entry.is_unused() {
            return None;
        }
        let flags = entry.flags();
        if flags.contains(F::WRITABLE) {
            entry.set_flags(flags - F::WRITABLE);
            self.changed(va);
        }
        Some(entry)
    }

    /// The physical address `va` maps to and the page's permissions as
    /// user code has them (not writable under a write-protected table).
    pub fn translate(&self, va: u64) -> Option<(u64, UserFlags)> {
        if !is_user(va) {
            return None;
        }
        let guard = self.lock.lock();
        let (entry, writable) = self.peek(&guard, va)?;
        Some((
            entry.addr().as_u64() + (va & (PAGE_SIZE - 1)),
            UserFlags {
                write: writable,
                ..UserFlags::from_pte(entry.flags())
            },
        ))
    }

    /// The refcount of the frame mapped at `va` (for the kernel's
    /// copy-on-write decision: 1 means `protect` may make it writable).
    pub fn refcount_at(&self, va: u64) -> Option<u32> {
        let (pa, _) = self.translate(va)?;
        Some(refcount_of(pa & !(PAGE_SIZE - 1)))
    }

    /// A new reference to the frame at `va` and the page's permissions
    /// before the call. The page is made read-only first (write
    /// invariant), so the clone's contents cannot change under its holder.
    /// `None` for a page of shared memory (it has no private contents).
    pub fn share_frame(&self, va: u64) -> Option<(Frame, UserFlags)> {
        if !is_user(va) {
            return None;
        }
        let mut guard = self.lock.lock();
        let before = self.leaf(&mut guard, va, false).ok()??.flags();
        if before.contains(SHARED) {
            return None;
        }
        let before = UserFlags::from_pte(before);
        let entry = self.clear_write_locked(&mut guard, va)?;
        // SAFETY: the leaf holds a reference; the temporary `Frame` is
        // cloned (a new reference) and forgotten, so the leaf keeps its own.
        let frame = unsafe {
            let held = core::mem::ManuallyDrop::new(Frame::from_raw(entry.addr().as_u64()));
            (*held).clone()
        };
        Some((frame, before))
    }

    /// A new reference to the shared-memory page mapped at `va`, if that
    /// is what is mapped there.
    fn shared_frame_at(&self, va: u64) -> Option<SharedFrame> {
        let guard = self.lock.lock();
        let (entry, _) = self.peek(&guard, va)?;
        if !entry.flags().contains(SHARED) {
            return None;
        }
        // SAFETY: the leaf holds a reference; the temporary `Frame` is
        // cloned and forgotten, so the leaf keeps its own.
        let frame = unsafe {
            let held = core::mem::ManuallyDrop::new(Frame::from_raw(entry.addr().as_u64()));
            (*held).clone()
        };
        Some(SharedFrame::from_frame(frame))
    }

    /// How many pages are mapped, counted without allocating (the
    /// out-of-memory report runs when nothing is left).
    pub fn mapped_pages(&self) -> usize {
        let mut count = 0;
        let guard = self.lock.lock();
        // SAFETY: the lock is held; the walk only reads this table's pages.
        unsafe { walk(guard.pa(), 4, 0, true, &mut |_, _, _| count += 1) };
        count
    }

    /// How many page-table pages this table's tree has, its root
    /// included (shared subtrees counted as if its own), without
    /// allocating and without reading the last-level tables: what
    /// un-sharing the whole tree after a fork could copy (fork's memory
    /// precheck, `proc::fork`).
    pub fn tree_pages(&self) -> usize {
        let guard = self.lock.lock();
        // SAFETY: the lock is held; the count only reads this table's pages.
        1 + unsafe { count_tables(guard.pa(), 4) }
    }

    /// The mapped pages (page address and permissions as user code has
    /// them), in address order.
    pub fn pages(&self) -> alloc::vec::Vec<(u64, UserFlags)> {
        let mut out = alloc::vec::Vec::new();
        let guard = self.lock.lock();
        // SAFETY: the lock is held; the walk only reads this table's pages.
        unsafe {
            walk(guard.pa(), 4, 0, true, &mut |va, e, writable| {
                out.push((
                    va,
                    UserFlags {
                        write: writable,
                        ..UserFlags::from_pte(e.flags())
                    },
                ))
            })
        };
        out
    }

    /// Fork: a new table that shares this one's PML4 and so every
    /// subtree (module docs, "Shared page-table subtrees"), its user
    /// entries write-protected. When that write-protected some (this
    /// table wrote since its last fork, and will likely write right after
    /// this one, as musl's `fork` does), this table moves to a copy of the
    /// PML4 at once ([`copy_root`]), as its first write would: its CPU
    /// then reloads CR3 once, at its return to user mode, not once for
    /// the fork's write-protection and again for the new PML4 at that
    /// write (under TCG each is a whole software-TLB flush and its
    /// refills). A PML4 shared already (nothing written since a fork) is
    /// just shared with one more child: a parent forking without writing
    /// between (`/bin/scale`) has all its children on one PML4. The cost
    /// is one step per used PML4 entry (512 GiB of address space each)
    /// and at most one page. Never fails (`Option` for the callers' sake):
    /// without a frame for the copy, the PML4 is shared as it is.
    pub fn fork(&self) -> Option<UserPageTable> {
        let mut guard = self.lock.lock();
        let mut protected = false;
        if let Some(root) = Arc::get_mut(&mut guard) {
            // SAFETY: the lock is held and the PML4 is this table's alone:
            // its entries are ours to write-protect; no reference into it
            // is alive.
            protected = unsafe { write_protect(table_at(root.pa()), 256, |_, _| false) };
        }
        // A shared PML4's user entries are all write-protected already.
        let child = UserPageTable::with_root(Arc::clone(&guard));
        if protected {
            // SAFETY: this table's PML4, locked (and now shared with the
            // child: written by nobody).
            if let Some(own) = unsafe { copy_root(guard.pa()) } {
                // As `own_root`: published before the epoch bump below;
                // the child holds the old PML4.
                self.root_pa.store(own.pa(), Ordering::SeqCst);
                *guard = own;
            }
            self.changed_all();
        }
        Some(child)
    }

    /// Fork the way it was done before page tables were shared: a
    /// new table mapping every page to the same frame, read-only in both
    /// (one step per page). Kept only as the baseline of the fork
    /// benchmarks (`vm_fork_pages_*_per_page`).
    pub fn fork_per_page(&self) -> Option<UserPageTable> {
        let child = UserPageTable::new()?;
        for (va, flags) in self.pages() {
            if let Some(frame) = self.shared_frame_at(va) {
                child.map_shared(va, &frame, flags).ok()?;
                continue;
            }
            let (frame, _) = self.share_frame(va)?;
            child
                .map(
                    va,
                    frame,
                    UserFlags {
                        write: false,
                        ..flags
                    },
                )
                .ok()?;
        }
        Some(child)
    }

    /// Resolves a write fault on the present page `va` that `flags` (the
    /// VMA's permissions, with write) allow, under one hold of the lock:
    /// the tables on the path to it are made this table's own if shared;
    /// then a shared-memory page or a frame with no other reference is
    /// made writable in place, and any other frame is copied into a fresh
    /// one mapped writable (copy-on-write). `NotMapped` if the page is
    /// gone, `NoMemory` without a frame for the copy or the table.
    pub fn write_fault(&self, va: u64, flags: UserFlags) -> Result<WriteFault, MapError> {
        if !is_user(va) {
            return Err(MapError::NotUser);
        }
        let va = va & !(PAGE_SIZE - 1);
        let mut guard = self.lock.lock();
        let entry = match self.owned_leaf(&guard, va) {
            // SAFETY: a leaf of this table's own last-level table, used
            // only while `guard` is held (see `owned_leaf`).
            Some(leaf) => unsafe { &mut *leaf },
            None => self
                .leaf(&mut guard, va, false)?
                .filter(|e| !e.is_unused())
                .ok_or(MapError::NotMapped)?,
        };
        let old = entry.flags();
        let pa = entry.addr().as_u64();
        let new = flags.pte_flags() | (old & SHARED);
        if old.contains(SHARED) || refcount_of(pa) == 1 {
            entry.set_flags(new);
            if !old.contains(F::NO_EXECUTE) && new.contains(F::NO_EXECUTE) {
                self.changed(va);
            }
            return Ok(if old.contains(F::WRITABLE) {
                WriteFault::Writable
            } else {
                WriteFault::Reused
            });
        }
        let copy = Frame::alloc().ok_or(MapError::NoMemory)?;
        // SAFETY: `pa` is the frame this leaf maps, shared with others and
        // so read-only everywhere (write invariant): nobody writes it while
        // the reference is held. `copy` is fresh and only ours.
        unsafe { super::frame::copy_page(phys_to_virt(copy.paddr()), phys_to_virt(pa)) };
        entry.set_addr(PhysAddr::new(copy.leak()), new);
        if self.defer(va, pa) {
            // The deferred list holds the old frame's reference now.
            return Ok(WriteFault::Copied);
        }
        self.changed(va);
        drop(guard);
        // SAFETY: the leaf's reference to the old frame, replaced above;
        // dropped after the flush, so no TLB still maps it writable (none
        // ever did) or at all.
        drop(unsafe { Frame::from_raw(pa) });
        Ok(WriteFault::Copied)
    }

    /// Copies `buf.len()` bytes of user memory at `va` into `buf`, through
    /// the direct map.
    pub fn copy_from_user(&self, va: u64, buf: &mut [u8]) -> Result<(), Fault> {
        self.copy(va, buf.len(), false, |pa, off, n| {
            // SAFETY: `pa..pa + n` lies in one frame the table owns (it holds
            // a reference while the lock is held); the direct map covers it.
            // User code may write it concurrently (threads): raw byte copies,
            // no reference to the frame is formed.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    phys_to_virt(pa) as *const u8,
                    buf.as_mut_ptr().add(off),
                    n,
                )
            }
        })
    }

    /// Copies `buf` into user memory at `va`, through the direct map. Every
    /// page must be writable and its frame unshared (else [`Fault`]).
    pub fn copy_to_user(&self, va: u64, buf: &[u8]) -> Result<(), Fault> {
        self.copy(va, buf.len(), true, |pa, off, n| {
            // SAFETY: as in `copy_from_user`; moreover the frame's only
            // reference is the table's (checked by `copy`), so no `Frame`
            // holder can be reading it through `bytes()`.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    buf.as_ptr().add(off),
                    phys_to_virt(pa) as *mut u8,
                    n,
                )
            }
        })
    }

    /// Atomically updates the aligned `u32` of user memory at `va` (futex
    /// words): `f` gets the current value and returns the new one (`None`:
    /// leave it); a compare-exchange loop, so a user thread writing the
    /// word on another CPU is never overwritten unseen. Returns the value
    /// `f` last saw. The page must be writable and unshared, as for
    /// [`UserPageTable::copy_to_user`]. `va` must be 4-byte aligned (the
    /// caller checks; an unaligned `va` is reported as not mapped).
    pub fn update_u32(&self, va: u64, mut f: impl FnMut(u32) -> Option<u32>) -> Result<u32, Fault> {
        if !va.is_multiple_of(4) {
            return Err(Fault::NotMapped(va));
        }
        let mut seen = 0;
        self.copy(va, 4, true, |pa, _, _| {
            // SAFETY: `pa..pa + 4` lies in one frame the table owns (aligned,
            // so it does not cross a page), mapped writable and unshared
            // (checked by `copy`); the direct map covers it and the address
            // is 4-aligned. User threads may access it concurrently, which
            // is what the atomic operations are for.
            let word =
                unsafe { core::sync::atomic::AtomicU32::from_ptr(phys_to_virt(pa) as *mut u32) };
            let mut cur = word.load(core::sync::atomic::Ordering::SeqCst);
            loop {
                seen = cur;
                let Some(new) = f(cur) else { break };
                match word.compare_exchange(
                    cur,
                    new,
                    core::sync::atomic::Ordering::SeqCst,
                    core::sync::atomic::Ordering::SeqCst,
                ) {
                    Ok(_) => break,
                    Err(actual) => cur = actual,
                }
            }
        })?;
        Ok(seen)
    }

    /// Walks `va..va + len` page by page, calling `each(pa, offset in the
    /// buffer, bytes)` with the lock held (at most one page per hold).
    fn copy(
        &self,
        va: u64,
        len: usize,
        write: bool,
        mut each: impl FnMut(u64, usize, usize),
    ) -> Result<(), Fault> {
        let end = va.checked_add(len as u64).ok_or(Fault::NotMapped(va))?;
        if len > 0 && end > USER_END {
            // Report the first address that is not user space.
            let first_bad = va.max(USER_END);
            return self
                .copy(va, (first_bad - va) as usize, write, each)
                .and(Err(Fault::NotMapped(first_bad)));
        }
        let mut cur = va;
        while cur < end {
            let n = (PAGE_SIZE - (cur & (PAGE_SIZE - 1))).min(end - cur) as usize;
            let mut step = |guard: spin::MutexGuard<'_, Arc<Root>>| {
                let (entry, writable) = self.peek(&guard, cur).ok_or(Fault::NotMapped(cur))?;
                let page = entry.addr().as_u64();
                if write {
                    if !writable {
                        return Err(Fault::ReadOnly(cur));
                    }
                    if !entry.flags().contains(SHARED) && refcount_of(page) != 1 {
                        return Err(Fault::Cow(cur));
                    }
                }
                each(page + (cur & (PAGE_SIZE - 1)), (cur - va) as usize, n);
                drop(guard);
                Ok(())
            };
            let guard = self.lock.lock();
            // A write while a CPU's TLB may still map old frames of this
            // table's pages (module docs, "Deferred invalidation") waits
            // until it has flushed them. The lock orders this check with
            // `defer`, which marks the table under it.
            let owner = self.deferred_on.load(Ordering::SeqCst);
            if write && owner != 0 {
                drop(guard);
                if owner == crate::cpu::id() as u64 + 1 {
                    crate::cpu::irq::without(|| self.drain_deferred());
                    step(self.lock.lock())?;
                } else {
                    self.wait_drain(|| step(self.lock.lock()))?;
                }
            } else {
                step(guard)?;
            }
            cur += n as u64;
        }
        Ok(())
    }
}

/// Calls `f(va, leaf, writable)` for every used leaf under the table at
/// `pa` of `level` that maps addresses from `base` (`writable`: through
/// every level); the PML4 (level 4) is walked over its lower half only.
///
/// # Safety
/// `pa` must be a page-table page of a table whose lock the caller holds.
unsafe fn walk(
    pa: u64,
    level: u32,
    base: u64,
    writable: bool,
    f: &mut dyn FnMut(u64, &PageTableEntry, bool),
) {
    let table = table_at(pa);
    let entries = if level == 4 { 256 } else { 512 };
    for i in 0..entries {
        // SAFETY: the caller's contract: a page-table page, lock held (a
        // shared table is written by nobody).
        let entry = unsafe { &(&*table)[i] };
        if entry.is_unused() {
            continue;
        }
        let va = base + ((i as u64) << (12 + 9 * (level - 1)));
        let writable = writable && entry.flags().contains(F::WRITABLE);
        if level == 1 {
            f(va, entry, writable);
        } else {
            // SAFETY: a used non-leaf entry points at a page-table page of
            // the same table.
            unsafe { walk(entry.addr().as_u64(), level - 1, va, writable, f) };
        }
    }
}

/// The page-table pages below the table at `pa` of `level` (4: a PML4,
/// its user half) down to the last-level tables, which are counted but
/// not read.
///
/// # Safety
/// As [`walk`]: a page-table page of a table whose lock is held.
unsafe fn count_tables(pa: u64, level: u32) -> usize {
    let table = table_at(pa);
    let entries = if level == 4 { 256 } else { 512 };
    let mut n = 0;
    for i in 0..entries {
        // SAFETY: the caller's contract, as in `walk`.
        let entry = unsafe { &(&*table)[i] };
        if entry.is_unused() {
            continue;
        }
        n += 1;
        if level > 2 {
            // SAFETY: a used non-leaf entry points at a page-table page of
            // the same table.
            n += unsafe { count_tables(entry.addr().as_u64(), level - 1) };
        }
    }
    n
}

/// A new reference to the frame at `pa`, which a PTE of a locked table
/// holds, leaked for another PTE to hold.
fn share_raw(pa: u64) -> u64 {
    // SAFETY: the PTE holds a reference leaked by `map` or `leaf`; the
    // temporary `Frame` is cloned (a new reference) and never dropped.
    let held = core::mem::ManuallyDrop::new(unsafe { Frame::from_raw(pa) });
    (*held).clone().leak()
}

/// Gives up one reference to the page-table page at `pa` of `level`
/// (3: a PDPT, 2: a PD, 1: a last-level table); the last one frees what
/// the table maps, then the table.
///
/// # Safety
/// The caller gives up a reference an entry held (the entry no longer
/// points at `pa`).
unsafe fn release_table(pa: u64, level: u32) {
    // SAFETY: the caller's contract: a leaked reference, taken back once.
    let table = unsafe { Frame::from_raw(pa) };
    if let Some(last) = table.into_last() {
        // SAFETY: the only reference left is ours, so nobody else reaches
        // the table.
        unsafe { free_tree(pa, level) };
        drop(last);
        TABLE_PAGES.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Entries a table loop looks at together ([`unused_group`]).
const GROUP: usize = 8;

/// Whether the [`GROUP`] entries from `first` of the page-table page at
/// `table` are all unused (zero). The loops over a table's 512 entries
/// (a fork's shared tables made a process's own, their teardown) skip a
/// program's mostly empty tables a group at a time: under TCG every guest
/// instruction costs, and one chain of ORs replaces eight tests and
/// branches.
///
/// # Safety
/// `table` is a page-table page the caller may read, with no `&mut` into
/// it alive, and `first + GROUP <= 512`.
#[inline(always)]
unsafe fn unused_group(table: *const PageTable, first: usize) -> bool {
    let raw = table.cast::<u64>();
    let mut any = 0;
    for k in 0..GROUP {
        // SAFETY: the caller's contract; a `PageTable` is 512 `u64`
        // entries (`PageTableEntry` is `repr(transparent)`).
        any |= unsafe { raw.add(first + k).read() };
    }
    any == 0
}

/// Clears the write bit of the used, writable entries among the first
/// `entries` of the page-table page `table` but those `keep` (given an
/// entry's flags and address) spares; all-zero groups are skipped
/// ([`unused_group`]). Whether any entry changed.
///
/// # Safety
/// The caller may write the table (its table's lock is held and nobody
/// else reaches it) and no reference into it is alive; `entries` is at
/// most 512 and a multiple of [`GROUP`].
unsafe fn write_protect(
    table: *mut PageTable,
    entries: usize,
    keep: impl Fn(F, u64) -> bool,
) -> bool {
    let mut changed = false;
    for group in (0..entries).step_by(GROUP) {
        // SAFETY: the caller's contract.
        if unsafe { unused_group(table, group) } {
            continue;
        }
        for i in group..group + GROUP {
            // SAFETY: as above; one entry's reference at a time.
            let e = unsafe { &mut (&mut *table)[i] };
            let f = e.flags();
            if e.is_unused() || !f.contains(F::WRITABLE) || keep(f, e.addr().as_u64()) {
                continue;
            }
            e.set_flags(f - F::WRITABLE);
            changed = true;
        }
    }
    changed
}

/// Fills the first `entries` entries of the fresh page-table page `to`
/// from the shared one `from`: each used entry points where its original
/// does, with one more reference to it ([`share_raw`]) and `flags` of the
/// original's flags; all-zero groups are skipped ([`unused_group`]).
///
/// # Safety
/// `from` is a page-table page nobody writes meanwhile (a shared one), not
/// `to`; `entries` is at most 512 and a multiple of [`GROUP`].
unsafe fn copy_shared(
    from: *const PageTable,
    to: &mut PageTable,
    entries: usize,
    flags: impl Fn(F) -> F,
) {
    for group in (0..entries).step_by(GROUP) {
        // SAFETY: the caller's contract.
        if unsafe { unused_group(from, group) } {
            for i in group..group + GROUP {
                to[i].set_unused();
            }
            continue;
        }
        for i in group..group + GROUP {
            // SAFETY: as above.
            let f = unsafe { &(&*from)[i] };
            if f.is_unused() {
                to[i].set_unused();
            } else {
                to[i].set_addr(
                    PhysAddr::new(share_raw(f.addr().as_u64())),
                    flags(f.flags()),
                );
            }
        }
    }
}

/// The shared tables a walk (`leaf`) replaced by copies on the path to
/// one address, at most one per level below the PML4, whose references
/// it still holds: their entries point at the copies now, but page walks
/// may have cached them. [`Replaced::release`] flushes once for the whole
/// path (an `invlpg` drops every cached upper-level entry, and a stale
/// entry for another page under an old table maps what the copy maps)
/// and then gives them up; under TCG a flush per level was three
/// `invlpg`s (each also ends a translation block) per copied path.
#[derive(Default)]
struct Replaced {
    /// (physical address, level) of each old table.
    tables: [(u64, u32); 3],
    count: usize,
}

impl Replaced {
    /// Flushes `va`'s path in `table` (if anything was replaced), then
    /// gives up the old tables' references.
    fn release(&mut self, table: &UserPageTable, va: u64) {
        if self.count == 0 {
            return;
        }
        table.changed(va);
        for &(pa, level) in &self.tables[..self.count] {
            // SAFETY: an entry's reference to a table it no longer points
            // at (`own_table` replaced it by a copy), taken back once, after
            // the flush.
            unsafe { release_table(pa, level) };
        }
        self.count = 0;
    }
}

/// A new PML4 from the one at `from`: its user entries point where
/// `from`'s do, write-protected, with one more reference to each PDPT
/// ([`copy_shared`]); its upper half is the kernel's. `None` without a
/// frame.
///
/// # Safety
/// `from` is a PML4 nobody writes meanwhile (a shared one, or its table's
/// lock is held).
unsafe fn copy_root(from: u64) -> Option<Arc<Root>> {
    let copy = Frame::alloc()?;
    TABLE_PAGES.fetch_add(1, Ordering::Relaxed);
    // SAFETY: the caller's contract for `from`; the upper half is written
    // only at boot, so reading it races with nothing. `copy` is a fresh
    // frame only this call references, every entry of which is written.
    unsafe {
        let from = table_at(from);
        let to = &mut *table_at(copy.paddr());
        copy_shared(from, to, 256, |flags| flags - F::WRITABLE);
        for i in 256..512 {
            to[i] = (&*from)[i].clone();
        }
    }
    Some(Arc::new(Root { frame: copy }))
}

/// Gives up every reference the table at `pa` of `level` holds (lower
/// half only for the PML4), clearing the entries: tables below through
/// [`release_table`], pages directly.
///
/// # Safety
/// The caller owns the table exclusively (`Root`'s drop, `release_table`).
unsafe fn free_tree(pa: u64, level: u32) {
    let table = table_at(pa);
    let entries = if level == 4 { 256 } else { 512 };
    // A last-level table's pages go back in batches (`Frame::drop_many`:
    // one hold of the frame cache's lock each), not one drop at a time.
    let mut pages = DropBatch::new();
    for i in (0..entries).step_by(GROUP).flat_map(move |group| {
        // SAFETY: a page-table page of a table the caller owns exclusively
        // (no reference into it is alive while a group is looked at);
        // `entries` is a multiple of the group.
        let unused = unsafe { unused_group(table, group) };
        group..if unused { group } else { group + GROUP }
    }) {
        // SAFETY: as above; one entry's reference at a time.
        let entry = unsafe { &mut (&mut *table)[i] };
        if entry.is_unused() {
            continue;
        }
        let child = entry.addr().as_u64();
        // Unlink first: a CPU that still has this PML4 loaded (see
        // `LOADED`) must never reach a freed page through it.
        entry.set_unused();
        if level > 1 {
            // A table below may be shared with other tables since a fork:
            // only the last owner frees what it maps.
            // SAFETY: the entry's reference, cleared above.
            unsafe { release_table(child, level - 1) };
        } else {
            // SAFETY: a used leaf holds one reference leaked by `map` or
            // `leaf`, given up once here (the entry was cleared above).
            unsafe { pages.push(child) };
        }
    }
}

/// Page-table pages of every user page table (roots included).
static TABLE_PAGES: AtomicUsize = AtomicUsize::new(0);

/// How many frames the user page tables hold as page-table pages (`mem`).
pub fn table_pages() -> usize {
    TABLE_PAGES.load(Ordering::Relaxed)
}
