//! The kernel heap: `talc`, started on a region taken from the memory map
//! at boot and grown from the frame allocator when it runs out.
//!
//! Growth takes physically contiguous frames, reached through the direct
//! map: a 2 MiB step, or a 128 KiB piece, or a region of its own for a big
//! allocation. When memory is too fragmented for that, growth takes the
//! largest run it finds down to the few pages the allocation needs (one
//! page for any allocation below about 4 KiB, the great majority), so the
//! heap grows while single frames are free. An allocation of more than a
//! page that finds no run of its pages free gets that many scattered
//! frames mapped together in the VMAP window ([`grow_mapped`]), so it
//! too is served while enough frames are free; its growth fails (and the
//! allocation: `ENOMEM` for the fallible ones, the system-call paths of
//! `kernel/src/fallible.rs`, a panic for an infallible one) only when
//! the frames, or the table pages to map them, are not there.
//!
//! The initial region and the growth are two talc heaps: every
//! allocation tries the initial region first ([`malloc`]) and takes from
//! the growth only when that is full, and a block goes back to the heap
//! its address is in ([`free`]). So what is allocated while the initial
//! region has room (most of what outlives a burst of processes, once
//! the burst is over) pins no growth region; [`trim_settled`] lets a
//! caller copy its long-lived structures out of the growth at the end of
//! a burst. The growth heap's own metadata (talc's free-list heads) sits
//! in a page of the initial region ([`GROWTH_META_BYTES`]).
//!
//! Growth regions whose pages hold no allocation any more are given back
//! to the frame allocator by [`trim`] (after reaping, through
//! [`maybe_trim`], and when frames run out); a mapped region goes back
//! whole, once nothing is allocated in it.
//!
//! The heap lock masks interrupts ([`IrqRawMutex`]), because an interrupt
//! handler that wakes a task may allocate (a run-queue block).
//!
//! In front of it, each CPU caches freed blocks of up to 1 KiB in size
//! classes (`heap_cache.rs`, [`CpuCache`]): most allocations and frees
//! take one atomic exchange on the CPU's own cache and never the lock
//! (which masks interrupts, and an `sti` ends a translation block under
//! QEMU's TCG). The cached blocks count as free in [`stats`]; [`trim`]
//! and an allocation that finds no memory give them back first.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use talc::{Counters, ErrOnOom, OomHandler, Span, Talc, Talck};

use super::heap_cache::{self, Backing, Chain, CpuCache};
use super::{PAGE_SIZE, frame, paging, phys_to_virt};
use crate::boot::MemoryMap;
use crate::sync::IrqRawMutex;

/// Heap growth step: this much is taken from the frames at once when that
/// much is free in one piece (one piece otherwise).
const GROW_BYTES: usize = 2 << 20;

/// Growth is claimed in pieces of this size, each a talc heap of its own,
/// so that a long-lived allocation keeps at most its piece from being
/// given back; bigger allocations get a region of their own.
const PIECE_BYTES: usize = 128 << 10;

/// Most growth regions remembered for [`trim`] (2 GiB of pieces); growth
/// past this many fails.
const MAX_GROWN: usize = 16384;

/// A region the heap grew by: the heap span talc made of it (`base..acme`,
/// empty once given back) and the frames still owned (`lo..hi`, physical;
/// for a `mapped` region, the virtual range its scattered frames are
/// mapped at).
#[derive(Clone, Copy)]
struct Grown {
    base: usize,
    acme: usize,
    lo: u64,
    hi: u64,
    mapped: bool,
}

impl Grown {
    const NONE: Grown = Grown {
        base: 0,
        acme: 0,
        lo: 0,
        hi: 0,
        mapped: false,
    };

    fn span(&self) -> Span {
        Span::new(self.base as *mut u8, self.acme as *mut u8)
    }
}

/// Grows the heap from contiguous frames and remembers each growth so
/// that [`trim`] can give back the parts with no allocation left.
pub struct GrowFromFrames {
    /// The initial region, a talc heap of its own that never grows:
    /// every allocation tries it first ([`malloc`]), so that what is
    /// allocated while it has room pins no growth region (module docs).
    home: Talc<ErrOnOom>,
    /// The initial region's addresses (`home_lo..home_hi`): a block
    /// there goes back to `home` ([`free`]).
    home_lo: usize,
    home_hi: usize,
    grown: [Grown; MAX_GROWN],
    /// Slots at and past this index have never been used (`trim` looks
    /// only below it).
    high: usize,
    /// Slots holding a region now.
    regions: usize,
    /// Of those, regions of scattered frames mapped in the VMAP window.
    mapped: usize,
}

/// Bytes talc needs in a heap of its own besides an allocation (its tags
/// and the heap's end marker), rounded up generously.
const TALC_OVERHEAD: usize = 128;

impl OomHandler for GrowFromFrames {
    fn handle_oom(talc: &mut Talc<Self>, layout: Layout) -> Result<(), ()> {
        // Blocks the CPUs' caches hold go back before the heap takes
        // frames (talc then looks again, and calls here again if they did
        // not make room).
        if drain_caches(talc) > 0 {
            return Ok(());
        }
        let page = PAGE_SIZE as usize;
        let need = (layout.size() + layout.align() + 4 * page).next_multiple_of(page);
        if need > PIECE_BYTES {
            // A big allocation gets a region of its own.
            if let Some(pa) = contiguous(need / page) {
                return claim(talc, pa, need);
            }
            return grow_fragmented(talc, layout);
        }
        // Pieces of PIECE_BYTES, claimed one by one so that each can be
        // given back on its own: a big step when physical memory has one
        // in one piece and twice that is free above the reserve (near the
        // end of memory a big step would eat the reserve at once), else
        // one piece.
        let big = if frame::available() >= 2 * GROW_BYTES / page {
            contiguous(GROW_BYTES / page)
        } else {
            None
        };
        let (pa, bytes) = match big {
            Some(pa) => (pa, GROW_BYTES),
            None => match contiguous(PIECE_BYTES / page) {
                Some(pa) => (pa, PIECE_BYTES),
                None => return grow_fragmented(talc, layout),
            },
        };
        let mut claimed = false;
        for at in (0..bytes).step_by(PIECE_BYTES) {
            claimed |= claim(talc, pa + at as u64, PIECE_BYTES).is_ok();
        }
        if claimed { Ok(()) } else { Err(()) }
    }
}

/// The fewest pages a heap of its own needs to hold `layout`.
fn pages_for(layout: Layout) -> usize {
    (layout.size() + layout.align() + TALC_OVERHEAD).div_ceil(PAGE_SIZE as usize)
}

/// Growth when no piece is free in one run (module docs): the largest
/// run from half a piece down to [`pages_for`] `layout`, each size
/// halving the last; when not even that many frames are free in one run,
/// that many scattered frames mapped together ([`grow_mapped`]).
fn grow_fragmented(talc: &mut Talc<GrowFromFrames>, layout: Layout) -> Result<(), ()> {
    let page = PAGE_SIZE as usize;
    let least = pages_for(layout);
    let mut pages = (PIECE_BYTES / page / 2).max(least);
    loop {
        if let Some(pa) = contiguous(pages) {
            return claim(talc, pa, pages * page);
        }
        if pages == least {
            // One page not free in a run is no frame free at all.
            return if least > 1 {
                grow_mapped(talc, least)
            } else {
                Err(())
            };
        }
        pages = (pages / 2).max(least);
    }
}

/// Tries for the VMAP window's lock, which the heap takes with its own
/// lock held ([`paging::lock_vmap_for_heap`]).
const VMAP_TRIES: usize = 10_000;

/// Grows the heap by `pages` frames from anywhere in memory, mapped
/// together in the VMAP window: an allocation of more than a page when no
/// run of that many frames is free. [`trim`] gives such a region back
/// only whole, once nothing is allocated in it.
fn grow_mapped(talc: &mut Talc<GrowFromFrames>, pages: usize) -> Result<(), ()> {
    let Some(slot) = talc.oom_handler.grown.iter().position(|g| g.base == g.acme) else {
        return Err(());
    };
    let mut vmap = paging::lock_vmap_for_heap(VMAP_TRIES).ok_or(())?;
    let base = vmap
        .map(pages, &mut || contiguous(1), &mut frame::free_raw)
        .ok_or(())?;
    let bytes = pages * PAGE_SIZE as usize;
    // SAFETY: `base..base + bytes` was just mapped to frames allocated for
    // the heap alone; the heap owns them until `trim` unmaps and frees
    // them after talc gave the region up.
    let heap = match unsafe { talc.claim(Span::from_base_size(base as *mut u8, bytes)) } {
        Ok(heap) => heap,
        Err(()) => {
            vmap.unmap(base, pages, &mut frame::free_raw);
            return Err(());
        }
    };
    let Some((hb, ha)) = heap.get_base_acme() else {
        return Err(());
    };
    let g = &mut talc.oom_handler;
    g.high = g.high.max(slot + 1);
    g.regions += 1;
    g.mapped += 1;
    GREW.store(true, Ordering::Relaxed);
    g.grown[slot] = Grown {
        base: hb as usize,
        acme: ha as usize,
        lo: base,
        hi: base + bytes as u64,
        mapped: true,
    };
    Ok(())
}

/// `count` contiguous frames for the heap (the reserve included), unless
/// [`with_runs_limited`] forbids a run that long on this CPU.
fn contiguous(count: usize) -> Option<u64> {
    let (cpu, max) = (
        RUN_LIMIT_CPU.load(Ordering::Relaxed),
        RUN_LIMIT.load(Ordering::Relaxed),
    );
    if count > max && cpu == crate::cpu::id() {
        return None;
    }
    frame::alloc_contiguous_raw(count)
}

/// The CPU whose heap growth [`with_runs_limited`] restricts, and to how
/// many contiguous frames (`usize::MAX`: none).
static RUN_LIMIT_CPU: AtomicUsize = AtomicUsize::new(usize::MAX);
static RUN_LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Runs `f` with the heap's growth on this CPU limited to runs of at most
/// `max_frames` contiguous frames, as if physical memory were that
/// fragmented (a test of the fragmented path: the kernel's ktests). Other
/// CPUs are not affected. `f` must not wait (the task must stay on this
/// CPU); one such test at a time.
pub fn with_runs_limited<R>(max_frames: usize, f: impl FnOnce() -> R) -> R {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            RUN_LIMIT_CPU.store(usize::MAX, Ordering::Relaxed);
            RUN_LIMIT.store(usize::MAX, Ordering::Relaxed);
        }
    }
    let _reset = Reset;
    RUN_LIMIT.store(max_frames, Ordering::Relaxed);
    RUN_LIMIT_CPU.store(crate::cpu::id(), Ordering::Relaxed);
    f()
}

/// Hands `bytes` of frames at `pa` (just allocated) to talc as a heap of
/// its own and remembers it for [`trim`]; frees them if talc refuses.
fn claim(talc: &mut Talc<GrowFromFrames>, pa: u64, bytes: usize) -> Result<(), ()> {
    let page = PAGE_SIZE as usize;
    let free_all = || {
        for i in 0..bytes / page {
            frame::free_raw(pa + (i * page) as u64);
        }
    };
    let Some(slot) = talc.oom_handler.grown.iter().position(|g| g.base == g.acme) else {
        // Nowhere to remember it: not used (it could never be given back).
        free_all();
        return Err(());
    };
    let base = phys_to_virt(pa) as *mut u8;
    // SAFETY: the frames were just allocated (refcount 1) and are owned by
    // the heap until `trim` frees them after talc gave them up; the direct
    // map covers them.
    let heap = match unsafe { talc.claim(Span::from_base_size(base, bytes)) } {
        Ok(heap) => heap,
        Err(()) => {
            free_all();
            return Err(());
        }
    };
    let Some((hb, ha)) = heap.get_base_acme() else {
        return Err(());
    };
    talc.oom_handler.high = talc.oom_handler.high.max(slot + 1);
    talc.oom_handler.regions += 1;
    GREW.store(true, Ordering::Relaxed);
    talc.oom_handler.grown[slot] = Grown {
        base: hb as usize,
        acme: ha as usize,
        lo: pa,
        hi: pa + bytes as u64,
        mapped: false,
    };
    Ok(())
}

/// Gives back to the frame allocator every whole page of the heap's
/// growth regions that holds no allocation (a region with none goes
/// entirely); returns the bytes given back. The initial region stays.
pub fn trim() -> usize {
    flush_caches();
    let page = PAGE_SIZE;
    let mut talc = HEAP.lock();
    let mut freed_frames = 0usize;
    for i in 0..talc.oom_handler.high {
        let g = talc.oom_handler.grown[i];
        if g.base == g.acme {
            continue;
        }
        let heap = g.span();
        // SAFETY: `heap` is the span talc returned for this region (by
        // claim or by the last truncate), and the heap lock is held
        // between the look and the truncation.
        let used = unsafe { talc.get_allocated_span(heap) };
        if g.mapped {
            if !used.is_empty() {
                continue;
            }
            // A mapped region goes back whole: its frames are not the
            // direct map's pages of `lo..hi`.
            let Some(mut vmap) = paging::lock_vmap_for_heap(VMAP_TRIES) else {
                continue;
            };
            // SAFETY: nothing is allocated in `heap` (looked at under
            // this lock hold), so the empty span covers every allocation.
            unsafe { talc.truncate(heap, Span::empty()) };
            let pages = ((g.hi - g.lo) / page) as usize;
            vmap.unmap(g.lo, pages, &mut |pa| {
                frame::free_raw(pa);
                freed_frames += 1;
            });
            let o = &mut talc.oom_handler;
            o.grown[i] = Grown::NONE;
            o.regions -= 1;
            o.mapped -= 1;
            continue;
        }
        let (new, keep) = match used.get_base_acme() {
            Some((ub, ua)) if !used.is_empty() => {
                let lo = (ub as u64 - (ub as u64 % page)) as *mut u8;
                let hi = (ua as u64).next_multiple_of(page) as *mut u8;
                (Span::new(lo, hi).fit_within(heap), true)
            }
            _ => (Span::empty(), false),
        };
        if keep && new.get_base_acme() == heap.get_base_acme() {
            continue;
        }
        // SAFETY: `new` lies within `heap` and covers every allocation in
        // it (`used`), under the same lock hold.
        let now = unsafe { talc.truncate(heap, new) };
        let virt_lo = phys_to_virt(g.lo);
        let (keep_lo, keep_hi) = match now.get_base_acme() {
            Some((b, a)) if !now.is_empty() => (
                (b as u64 - virt_lo) / page * page + g.lo,
                (a as u64 - virt_lo).next_multiple_of(page) + g.lo,
            ),
            _ => (g.lo, g.lo),
        };
        let mut pa = g.lo;
        while pa < g.hi {
            if pa < keep_lo || pa >= keep_hi {
                frame::free_raw(pa);
                freed_frames += 1;
            }
            pa += page;
        }
        talc.oom_handler.grown[i] = match now.get_base_acme() {
            Some((b, a)) if !now.is_empty() => Grown {
                base: b as usize,
                acme: a as usize,
                lo: keep_lo,
                hi: keep_hi,
                mapped: false,
            },
            _ => {
                talc.oom_handler.regions -= 1;
                Grown::NONE
            }
        };
    }
    let c = counters(&talc);
    SLACK_LOW.store(
        c.claimed_bytes.saturating_sub(c.allocated_bytes),
        Ordering::Relaxed,
    );
    TRIM_DUE.store(false, Ordering::Relaxed);
    freed_frames * page as usize
}

/// The heap's free space (claimed minus allocated, talc's counters) at
/// its lowest since the last trim. With [`TRIM_DUE`], written only with
/// the heap lock held ([`note_slack`], [`trim`]).
static SLACK_LOW: AtomicUsize = AtomicUsize::new(0);

/// The free space has grown by [`maybe_trim`]'s step above [`SLACK_LOW`].
static TRIM_DUE: AtomicBool = AtomicBool::new(false);

/// Looks at talc's counters after it handed out or took back blocks
/// (a cache refill or spill, an uncached allocation or free), with the
/// heap lock held: lowers [`SLACK_LOW`], or says a trim is due when the
/// free space grew by half a MiB, or by a sixteenth of the heap if that
/// is more, above it. A few loads and no lock of its own, so
/// [`maybe_trim`] reads one flag instead of every cache and the heap's
/// counters (under the lock, with interrupts masked) at every reaping.
fn note_slack(talc: &Talc<GrowFromFrames>) {
    let c = counters(talc);
    let slack = c.claimed_bytes.saturating_sub(c.allocated_bytes);
    let low = SLACK_LOW.load(Ordering::Relaxed);
    if slack < low {
        SLACK_LOW.store(slack, Ordering::Relaxed);
    } else if slack - low >= TRIM_STEP.max(c.claimed_bytes / 16) {
        TRIM_DUE.store(true, Ordering::Relaxed);
    }
}

/// [`trim`]s when [`note_slack`] said the heap's free space grew by the
/// step (one flag read otherwise). The process table calls it after
/// reaping, so memory comes back as processes go. A trim looks at every
/// region the heap grew by, so a fixed step made reaping N processes cost
/// O(N) trims of O(N) regions each (90,000 processes: about 870 trims of
/// 3,500 regions); a step proportional to the heap keeps it to a few
/// dozen trims, and [`trim_settled`] gives back the rest when the reaping
/// is over. Blocks in the CPUs' caches are not in talc's free space: they
/// count once a cache spills them.
pub fn maybe_trim() {
    if TRIM_DUE.load(Ordering::Relaxed) {
        trim();
    }
}

/// [`trim`]s if the heap's free space grew at all (by a piece) since the
/// last trim: for when a burst of frees is over (a parent found no child
/// left to wait for). Here the blocks in the CPUs' caches count as free
/// ([`stats`]): they can hold up to about 462 KiB per CPU that no spill
/// showed [`note_slack`], and a trim gives them back first (without
/// them, the 90,000-process run left 652 KiB of heap behind).
///
/// If the heap grew since the last such call, `compact` runs first (with
/// the caches emptied, so that what it allocates comes from the initial
/// region while that has room): a caller's long-lived structures that
/// the growth holds (the process table's B-tree nodes after a burst of
/// processes) move out of it, so that the trim gives those regions back
/// too.
pub fn trim_settled(compact: impl FnOnce()) {
    if GREW.swap(false, Ordering::Relaxed) {
        flush_caches();
        compact();
        trim();
        return;
    }
    let slack = {
        let s = stats();
        s.claimed_bytes.saturating_sub(s.allocated_bytes)
    };
    if slack.saturating_sub(SLACK_LOW.load(Ordering::Relaxed)) >= PIECE_BYTES {
        trim();
    }
}

/// The heap took a growth region since the last [`trim_settled`].
static GREW: AtomicBool = AtomicBool::new(false);

/// How much the heap's free space grows before [`maybe_trim`] trims.
const TRIM_STEP: usize = 512 << 10;

static HEAP: Talck<IrqRawMutex, GrowFromFrames> = Talc::new(GrowFromFrames {
    home: Talc::new(ErrOnOom),
    home_lo: 0,
    home_hi: 0,
    grown: [Grown::NONE; MAX_GROWN],
    high: 0,
    regions: 0,
    mapped: 0,
})
.lock();

/// Starts the heap on a region big enough for the frame allocator's own
/// bookkeeping (4 bytes of refcount and 1 bit per frame) plus 4 MiB.
pub(crate) fn init(memory: &mut MemoryMap) {
    let frames = memory.ram_end().div_ceil(PAGE_SIZE);
    let bytes = (4 << 20) + frames * 5;
    let pa = memory
        .take(bytes, PAGE_SIZE, u64::MAX)
        .expect("no memory for the initial heap");
    let size = bytes.next_multiple_of(PAGE_SIZE) as usize;
    let base = phys_to_virt(pa) as usize;
    let meta = GROWTH_META_BYTES;
    let mut talc = HEAP.lock();
    // SAFETY: the region was removed from the memory map (nobody else will
    // own it) and is reachable through the direct map; its first
    // `GROWTH_META_BYTES` and the rest are disjoint heaps.
    unsafe {
        talc.claim(Span::from_base_size(base as *mut u8, meta))
            .expect("heap claim");
        talc.oom_handler
            .home
            .claim(Span::from_base_size((base + meta) as *mut u8, size - meta))
            .expect("heap claim");
    }
    talc.oom_handler.home_lo = base + meta;
    talc.oom_handler.home_hi = base + size;
}

/// The start of the initial region given to the growth heap at boot,
/// which never goes back: talc keeps its metadata (its free lists' heads,
/// about 1 KiB) in the first heap it is given, and in the first growth
/// region it would keep that region from ever being given back.
const GROWTH_META_BYTES: usize = 4096;

/// A block for `layout`: from the initial region when it has room, from
/// the growth regions (growing them if need be) otherwise.
///
/// # Safety
/// `layout` has a non-zero size.
unsafe fn malloc(talc: &mut Talc<GrowFromFrames>, layout: Layout) -> Result<NonNull<u8>, ()> {
    // SAFETY: the caller's contract, passed on.
    match unsafe { talc.oom_handler.home.malloc(layout) } {
        Ok(block) => Ok(block),
        // SAFETY: as above.
        Err(()) => unsafe { talc.malloc(layout) },
    }
}

/// Whether `block` lies in the initial region.
fn at_home(talc: &Talc<GrowFromFrames>, block: NonNull<u8>) -> bool {
    let at = block.as_ptr() as usize;
    (talc.oom_handler.home_lo..talc.oom_handler.home_hi).contains(&at)
}

/// Frees a block [`malloc`] gave, into the heap it came from.
///
/// # Safety
/// `block` is a live block [`malloc`] gave for `layout`.
unsafe fn free(talc: &mut Talc<GrowFromFrames>, block: NonNull<u8>, layout: Layout) {
    if at_home(talc, block) {
        // SAFETY: the caller's contract: a block at home came from there.
        unsafe { talc.oom_handler.home.free(block, layout) }
    } else {
        // SAFETY: the caller's contract: any other came from the growth.
        unsafe { talc.free(block, layout) }
    }
}

/// Shrinks `block` to `new_size`, or grows it there if the heap it came
/// from has room right after it; whether it did.
///
/// # Safety
/// `block` is a live block [`malloc`] gave for `old`; `new_size` is not
/// zero.
unsafe fn resize_in_place(
    talc: &mut Talc<GrowFromFrames>,
    block: NonNull<u8>,
    old: Layout,
    new_size: usize,
) -> bool {
    let home = at_home(talc, block);
    if new_size <= old.size() {
        // SAFETY: the caller's contract, in the heap the block came from.
        unsafe {
            if home {
                talc.oom_handler.home.shrink(block, old, new_size);
            } else {
                talc.shrink(block, old, new_size);
            }
        }
        return true;
    }
    // SAFETY: as above; `new_size` is larger than the block's.
    unsafe {
        if home {
            talc.oom_handler.home.grow_in_place(block, old, new_size)
        } else {
            talc.grow_in_place(block, old, new_size)
        }
    }
    .is_ok()
}

/// Both heaps' counters added up (the initial region's and the growth's).
fn counters(talc: &Talc<GrowFromFrames>) -> Counters {
    let (a, b) = (talc.oom_handler.home.get_counters(), talc.get_counters());
    let mut c = *b;
    c.allocation_count += a.allocation_count;
    c.total_allocation_count += a.total_allocation_count;
    c.allocated_bytes += a.allocated_bytes;
    c.total_allocated_bytes += a.total_allocated_bytes;
    c.available_bytes += a.available_bytes;
    c.fragment_count += a.fragment_count;
    c.heap_count += a.heap_count;
    c.total_heap_count += a.total_heap_count;
    c.claimed_bytes += a.claimed_bytes;
    c.total_claimed_bytes += a.total_claimed_bytes;
    c
}

/// The heap's counters, for statistics and leak tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapStats {
    /// Bytes in live allocations.
    pub allocated_bytes: usize,
    /// Live allocations.
    pub allocations: usize,
    /// Bytes ever allocated.
    pub total_allocated_bytes: u64,
    /// Allocations ever made (`sysctl debug.heap_allocs`: counting them
    /// around an operation tells how many it makes).
    pub total_allocations: u64,
    /// Bytes the heap owns (initial region plus growth).
    pub claimed_bytes: usize,
    /// Growth regions it holds (each a run of contiguous frames, or
    /// scattered frames mapped together: `mapped_regions`).
    pub regions: usize,
    /// Growth regions of scattered frames mapped in the VMAP window.
    pub mapped_regions: usize,
}

/// A snapshot of the heap's counters.
///
/// Blocks in the CPUs' caches count as free: they are allocations of the
/// global heap that no one uses. The sum over the caches is read without
/// stopping them, so a count can be off by a refill in flight.
pub fn stats() -> HeapStats {
    let mut cached = heap_cache::Held::default();
    // Only CPUs that came online have used their cache.
    let online = crate::smp::online_count().clamp(1, CACHES.len());
    for h in CACHES[..online].iter().map(CpuCache::held) {
        cached.blocks += h.blocks;
        cached.bytes += h.bytes;
        cached.served += h.served;
        cached.refilled += h.refilled;
        cached.served_bytes += h.served_bytes;
        cached.refilled_bytes += h.refilled_bytes;
    }
    let heap = HEAP.lock();
    let c = counters(&heap);
    // talc counted the blocks it gave the caches when it gave them; each
    // block a cache hands out is an allocation talc did not see.
    HeapStats {
        allocated_bytes: c.allocated_bytes.saturating_sub(cached.bytes),
        allocations: c.allocation_count.saturating_sub(cached.blocks),
        total_allocated_bytes: (c.total_allocated_bytes + cached.served_bytes as u64)
            .saturating_sub(cached.refilled_bytes as u64),
        total_allocations: (c.total_allocation_count + cached.served as u64)
            .saturating_sub(cached.refilled as u64),
        claimed_bytes: c.claimed_bytes,
        regions: heap.oom_handler.regions,
        mapped_regions: heap.oom_handler.mapped,
    }
}

/// Bytes the heap currently has in use.
pub fn allocated_bytes() -> usize {
    stats().allocated_bytes
}

/// Each CPU's cache of small blocks, by CPU index.
static CACHES: [CpuCache; crate::smp::MAX_CPUS] = [const { CpuCache::new() }; crate::smp::MAX_CPUS];

/// How many times [`flush_caches`] tries a busy cache before it leaves it.
const FLUSH_TRIES: usize = 1000;

/// Gives every CPU's cached blocks back to the global heap (those of a
/// cache that stays busy through [`FLUSH_TRIES`] tries stay). Must not be
/// called with the heap lock held (a cache's holder may be waiting for
/// it).
pub fn flush_caches() {
    for cache in &CACHES {
        cache.flush(&Global, FLUSH_TRIES);
    }
}

/// Gives the blocks of every CPU's cache that is not held right now
/// straight to `talc` (whose lock the caller holds, so a cache is only
/// tried once: its holder may be waiting for that lock); returns how
/// many it gave.
fn drain_caches(talc: &mut Talc<GrowFromFrames>) -> usize {
    let online = crate::smp::online_count().clamp(1, CACHES.len());
    let mut given = 0;
    for cache in &CACHES[..online] {
        given += cache
            .flush_with(1, &mut |chain, layout| {
                for block in chain {
                    // SAFETY: a chain's blocks came from the heap with
                    // the class's layout and are used by no one.
                    unsafe { free(talc, block, layout) };
                }
            })
            .unwrap_or(0);
    }
    given
}

/// The global heap (talc behind its lock) as the caches' [`Backing`].
struct Global;

impl Backing for Global {
    fn alloc(&self, layout: Layout) -> Option<NonNull<u8>> {
        let mut talc = HEAP.lock();
        // SAFETY: class layouts have a non-zero size.
        let block = unsafe { malloc(&mut talc, layout) }.ok();
        note_slack(&talc);
        block
    }

    fn alloc_many(&self, layout: Layout, n: usize, put: &mut dyn FnMut(NonNull<u8>)) -> usize {
        let mut talc = HEAP.lock();
        let mut got = 0;
        while got < n {
            // SAFETY: as in `alloc`.
            match unsafe { malloc(&mut talc, layout) } {
                Ok(block) => put(block),
                Err(()) => break,
            }
            got += 1;
        }
        note_slack(&talc);
        got
    }

    unsafe fn free(&self, block: NonNull<u8>, layout: Layout) {
        let mut talc = HEAP.lock();
        // SAFETY: the caller's block was allocated by the heap with
        // `layout`.
        unsafe { free(&mut talc, block, layout) };
        note_slack(&talc);
    }

    fn free_chain(&self, chain: Chain, layout: Layout) {
        let mut talc = HEAP.lock();
        for block in chain {
            // SAFETY: a chain's blocks came from the heap with the
            // class's layout and are used by no one.
            unsafe { free(&mut talc, block, layout) };
        }
        note_slack(&talc);
    }
}

/// The kernel's global allocator: the CPU caches for small blocks, talc
/// for the rest (module docs).
struct Kheap;

#[global_allocator]
static KHEAP: Kheap = Kheap;

impl Kheap {
    /// A block for `layout` (class or not), after emptying the caches
    /// once if the heap has no memory; null if it still has none.
    fn alloc_slow(layout: Layout) -> *mut u8 {
        let layout = match heap_cache::class_of(layout) {
            Some(c) => heap_cache::class_layout(c),
            None => layout,
        };
        let first = {
            let mut talc = HEAP.lock();
            // SAFETY: GlobalAlloc callers never pass a zero size.
            let first = unsafe { malloc(&mut talc, layout) };
            note_slack(&talc);
            first
        };
        let block = first.or_else(|()| {
            flush_caches();
            // SAFETY: as above.
            unsafe { malloc(&mut HEAP.lock(), layout) }
        });
        block.map_or(core::ptr::null_mut(), NonNull::as_ptr)
    }
}

// SAFETY: every block comes from talc, which hands out disjoint blocks of
// at least the asked layout; a class block has the class's layout, which
// holds the asked size and alignment (`class_of`), and a cache hands a
// freed block out again only after it was freed (`CpuCache`).
unsafe impl GlobalAlloc for Kheap {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if let Some(c) = heap_cache::class_of(layout)
            && let Some(block) = CACHES[crate::cpu::id()].alloc(c, &Global)
        {
            return block.as_ptr();
        }
        Self::alloc_slow(layout)
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's `ptr` is a live block of ours for `layout`.
        let block = unsafe { NonNull::new_unchecked(ptr) };
        match heap_cache::class_of(layout) {
            // SAFETY: a block for `layout` is a block of its class.
            Some(c) => unsafe { CACHES[crate::cpu::id()].free(c, block, &Global) },
            None => {
                let mut talc = HEAP.lock();
                // SAFETY: a block for an uncached layout came from the
                // heap with it.
                unsafe { free(&mut talc, block, layout) };
                note_slack(&talc);
            }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, old: Layout, new_size: usize) -> *mut u8 {
        let Ok(new) = Layout::from_size_align(new_size, old.align()) else {
            return core::ptr::null_mut();
        };
        match (heap_cache::class_of(old), heap_cache::class_of(new)) {
            // The block already holds the new size.
            (Some(a), Some(b)) if a == b => ptr,
            (None, None) => {
                // SAFETY: the caller's `ptr` is a live block of ours.
                let block = unsafe { NonNull::new_unchecked(ptr) };
                {
                    let mut talc = HEAP.lock();
                    // SAFETY: an uncached block came from the heap (the
                    // one its address is in) with `old`; `new_size` is
                    // not zero (the caller's contract).
                    let in_place = unsafe { resize_in_place(&mut talc, block, old, new_size) };
                    if in_place {
                        note_slack(&talc);
                        return ptr;
                    }
                }
                // SAFETY: `new` has a non-zero size (the caller's contract).
                let p = unsafe { self.alloc(new) };
                if !p.is_null() {
                    // SAFETY: both blocks are live and distinct; the copy
                    // stays within both sizes.
                    unsafe {
                        core::ptr::copy_nonoverlapping(ptr, p, old.size().min(new_size));
                        self.dealloc(ptr, old);
                    }
                }
                p
            }
            _ => {
                // SAFETY: `new` has a non-zero size (the caller's contract).
                let p = unsafe { self.alloc(new) };
                if !p.is_null() {
                    // SAFETY: both blocks are live and distinct; the copy
                    // stays within both sizes.
                    unsafe {
                        core::ptr::copy_nonoverlapping(ptr, p, old.size().min(new_size));
                        self.dealloc(ptr, old);
                    }
                }
                p
            }
        }
    }
}
