//! Per-CPU caches of small heap blocks, in front of the global heap
//! (`heap.rs`).
//!
//! Every allocation of at most [`MAX_CACHED`] bytes (alignment 8 or 16,
//! [`CLASS_ALIGNS`]) is rounded up to one of [`CLASSES`] size classes,
//! and the block comes from the global heap with the class's layout
//! ([`class_layout`]), whether or not a cache handled it. A freed block goes onto its class's
//! list in the freeing CPU's [`CpuCache`] (a last-in first-out list linked
//! through the free blocks themselves); an allocation takes the last one
//! back. An empty list is refilled with half its [`limit`] in one hold of
//! the global heap's lock, and a full one gives half back the same way,
//! so a fork/exit loop's allocations (about twenty per cycle, all below
//! 1 KiB) cycle through the cache without touching the global heap.
//!
//! A cache is taken with [`CpuCache`]'s try-lock (one atomic exchange),
//! never by masking interrupts. The caller uses the cache of the CPU it
//! runs on; when the try fails (an interrupt handler allocating while the
//! code it interrupted holds the cache, or another CPU emptying it with
//! [`CpuCache::flush`]), the block goes to or comes from the global heap
//! directly, with the same class layout. So the cache is only ever held
//! by one context, whichever CPU that runs on, and nothing spins for it
//! except [`CpuCache::flush`], for a bounded number of tries.
//!
//! The blocks a cache holds are allocated in the global heap's counters;
//! [`CpuCache::held`] reports them so that the heap's statistics can
//! count them as free.

use core::alloc::Layout;
use core::ptr::NonNull;

#[cfg(not(loom))]
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
#[cfg(loom)]
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Block sizes at alignment 8: steps of 8 bytes (talc's own granule) up
/// to 640, of 64 up to 1 KiB. The fine steps are where
/// a thread's and a process's records fall: rounding is memory every
/// live thread pays, and with 64-byte steps from 256 (and 16 below) the
/// kernel heap per parked thread grew by 166 bytes, past its 2 KiB
/// target. A 909-byte process record takes 960.
pub const SIZES_8: [usize; 86] = size_steps(8);

/// Block sizes at alignment 16 (what asks for it: a thread's future with
/// its `UserContext`, the FPU save area): steps of 16 up to 640, of 64
/// up to 1 KiB.
pub const SIZES_16: [usize; 46] = size_steps(16);

/// `N` block sizes: steps of `step` up to 640, then of 64 (`N` is chosen
/// to end at 1 KiB).
const fn size_steps<const N: usize>(step: usize) -> [usize; N] {
    let fine = 640 / step;
    let mut t = [0; N];
    let mut i = 0;
    while i < N {
        t[i] = if i < fine {
            step * (i + 1)
        } else {
            640 + 64 * (i + 1 - fine)
        };
        i += 1;
    }
    t
}

/// Number of size classes: [`SIZES_8`] at alignment 8, then
/// [`SIZES_16`] at 16.
pub const CLASSES: usize = SIZES_8.len() + SIZES_16.len();

/// The largest allocation the caches take.
pub const MAX_CACHED: usize = 1024;
const _: () =
    assert!(SIZES_8[SIZES_8.len() - 1] == MAX_CACHED && SIZES_16[SIZES_16.len() - 1] == MAX_CACHED);

/// The alignments of class blocks: talc's own (a machine word), and 16
/// for what asks for it (a `UserContext`'s FXSAVE area, two blocks per
/// fork and exit). A bigger alignment is not cached: talc serves one by
/// scanning a free list for a gap that fits, and the gaps aligned blocks
/// leave below them pile up; when every class was aligned to 16-64 a
/// fork storm in a debug kernel slowed to a crawl in those scans.
pub const CLASS_ALIGNS: [usize; 2] = [8, 16];

/// The block size of class `c`.
#[inline]
pub const fn class_size(c: usize) -> usize {
    if c < SIZES_8.len() {
        SIZES_8[c]
    } else {
        SIZES_16[c - SIZES_8.len()]
    }
}

/// The alignment of class `c`'s blocks.
#[inline]
pub const fn class_align(c: usize) -> usize {
    if c < SIZES_8.len() {
        CLASS_ALIGNS[0]
    } else {
        CLASS_ALIGNS[1]
    }
}

/// The layout class `c`'s blocks are allocated and freed with in the
/// global heap.
pub const fn class_layout(c: usize) -> Layout {
    match Layout::from_size_align(class_size(c), class_align(c)) {
        Ok(l) => l,
        Err(_) => panic!("class layouts are valid"),
    }
}

/// The smallest class whose size holds `layout.size()` at the smallest
/// class alignment that satisfies `layout.align()`; None for an
/// allocation the caches do not take (empty, bigger than [`MAX_CACHED`],
/// or aligned to more than 16).
#[inline]
pub const fn class_of(layout: Layout) -> Option<usize> {
    let size = layout.size();
    if size == 0 || size > MAX_CACHED {
        return None;
    }
    match layout.align() {
        1..=8 => Some(if size <= 640 {
            size.div_ceil(8) - 1
        } else {
            80 + (size - 641) / 64
        }),
        16 => Some(
            SIZES_8.len()
                + if size <= 640 {
                    size.div_ceil(16) - 1
                } else {
                    40 + (size - 641) / 64
                },
        ),
        _ => None,
    }
}

/// How many blocks of class `c` one cache keeps at most: about 4 KiB of
/// them, between 4 and 32 blocks. A cache holds at most about 462 KiB
/// (300 KiB at alignment 8, 162 KiB at 16).
pub const fn limit(c: usize) -> usize {
    let n = 4096 / class_size(c);
    if n < 4 {
        4
    } else if n > 32 {
        32
    } else {
        n
    }
}

/// Blocks moved between a cache and the global heap at once.
const fn batch(c: usize) -> usize {
    limit(c) / 2
}

/// Where the caches get their blocks and give them back: the global heap
/// (or, in tests, a counting model of it).
pub trait Backing {
    /// One block of `layout`; None when there is no memory.
    fn alloc(&self, layout: Layout) -> Option<NonNull<u8>>;

    /// Up to `n` blocks of `layout` in one go, each passed to `put`;
    /// returns how many it found (fewer when memory ran out).
    fn alloc_many(&self, layout: Layout, n: usize, put: &mut dyn FnMut(NonNull<u8>)) -> usize;

    /// Frees one block.
    ///
    /// # Safety
    /// `block` came from this backing with `layout` and is no longer used.
    unsafe fn free(&self, block: NonNull<u8>, layout: Layout);

    /// Frees every block of `chain` (all of `layout`): one by one unless
    /// the backing can do it in one go (the global heap, in one hold of
    /// its lock).
    fn free_chain(&self, chain: Chain, layout: Layout) {
        for b in chain {
            // SAFETY: a chain's blocks came from this backing with
            // `layout` and are used by nobody (`Chain`).
            unsafe { self.free(b, layout) };
        }
    }
}

/// A free block's first word: the next block of its list.
struct Free {
    next: *mut Free,
}

/// A list of free blocks of one class, taken out of a cache (to be
/// given to the global heap): every block in it came from the backing
/// with the class's layout and is used by nobody.
pub struct Chain {
    head: *mut Free,
}

impl Iterator for Chain {
    type Item = NonNull<u8>;

    fn next(&mut self) -> Option<NonNull<u8>> {
        let block = NonNull::new(self.head)?;
        // SAFETY: a chain's blocks are free class blocks (at least 16
        // bytes, 8-aligned) whose first word was written with the next
        // block's address when they were linked, and nobody else uses
        // them (type invariant).
        self.head = unsafe { block.as_ptr().read() }.next;
        Some(block.cast())
    }
}

/// One CPU's lists, one per class (used only under [`CpuCache`]'s lock).
struct Magazine {
    heads: [*mut Free; CLASSES],
    counts: [u8; CLASSES],
}

impl Magazine {
    const fn new() -> Self {
        Self {
            heads: [core::ptr::null_mut(); CLASSES],
            counts: [0; CLASSES],
        }
    }

    fn pop(&mut self, c: usize) -> Option<NonNull<u8>> {
        let block = NonNull::new(self.heads[c])?;
        // SAFETY: the list's blocks are free class-`c` blocks owned by the
        // magazine; each one's first word holds the next (`push`).
        self.heads[c] = unsafe { block.as_ptr().read() }.next;
        self.counts[c] -= 1;
        Some(block.cast())
    }

    /// # Safety
    /// `block` is a free block of class `c` from the backing, used by
    /// nobody else from now on.
    unsafe fn push(&mut self, c: usize, block: NonNull<u8>) {
        let node = block.cast::<Free>();
        // SAFETY: the block is at least 16 bytes and 8-aligned (a class
        // block) and ours (caller), so its first word is ours to write.
        unsafe {
            node.as_ptr().write(Free {
                next: self.heads[c],
            })
        };
        self.heads[c] = node.as_ptr();
        self.counts[c] += 1;
    }

    /// Takes up to `n` blocks of class `c` off the list.
    fn take(&mut self, c: usize, n: usize) -> Chain {
        let head = self.heads[c];
        let mut last: *mut Free = core::ptr::null_mut();
        let mut cursor = head;
        let mut taken = 0;
        while taken < n && !cursor.is_null() {
            last = cursor;
            // SAFETY: as in `pop`: a block of the list, holding the next.
            cursor = unsafe { cursor.read() }.next;
            taken += 1;
        }
        if last.is_null() {
            return Chain {
                head: core::ptr::null_mut(),
            };
        }
        // SAFETY: `last` is a block of the list (found above); cutting the
        // list after it leaves `head..=last` to the chain alone.
        unsafe {
            last.write(Free {
                next: core::ptr::null_mut(),
            })
        };
        self.heads[c] = cursor;
        self.counts[c] -= taken as u8;
        Chain { head }
    }
}

/// [`Magazine`] in a cell that loom can check.
#[cfg(not(loom))]
struct MagCell(core::cell::UnsafeCell<Magazine>);
#[cfg(loom)]
struct MagCell(loom::cell::UnsafeCell<Magazine>);

impl MagCell {
    #[cfg(not(loom))]
    const fn new() -> Self {
        Self(core::cell::UnsafeCell::new(Magazine::new()))
    }

    #[cfg(loom)]
    fn new() -> Self {
        Self(loom::cell::UnsafeCell::new(Magazine::new()))
    }

    /// # Safety
    /// The caller holds the owning [`CpuCache`]'s lock.
    unsafe fn with<R>(&self, f: impl FnOnce(&mut Magazine) -> R) -> R {
        #[cfg(not(loom))]
        {
            // SAFETY: the lock makes this the only access (caller).
            f(unsafe { &mut *self.0.get() })
        }
        #[cfg(loom)]
        {
            // SAFETY: as above; loom checks it.
            self.0.with_mut(|m| f(unsafe { &mut *m }))
        }
    }
}

/// One CPU's cache: the class lists behind a try-lock, and counters that
/// anyone may read.
#[repr(align(64))]
pub struct CpuCache {
    busy: AtomicBool,
    mag: MagCell,
    /// Blocks and bytes on the lists (written under the lock).
    blocks: AtomicUsize,
    bytes: AtomicUsize,
    /// Blocks handed out from the lists, and blocks taken from the
    /// backing into them, since boot, with their bytes (written under
    /// the lock).
    served: AtomicUsize,
    refilled: AtomicUsize,
    served_bytes: AtomicUsize,
    refilled_bytes: AtomicUsize,
}

// SAFETY: the magazine's raw pointers are blocks the cache owns; it is
// reached only under `busy` (Acquire on taking, Release on leaving), so
// one context at a time uses it, from any CPU.
unsafe impl Sync for CpuCache {}
// SAFETY: as above: the blocks belong to the cache, not to a thread.
unsafe impl Send for CpuCache {}

/// What a cache holds now, or has done since boot ([`CpuCache::held`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Held {
    /// Blocks on the lists.
    pub blocks: usize,
    /// Their bytes (class sizes).
    pub bytes: usize,
    /// Blocks handed out from the lists since boot.
    pub served: usize,
    /// Blocks taken from the backing onto the lists since boot.
    pub refilled: usize,
    /// The bytes of `served`.
    pub served_bytes: usize,
    /// The bytes of `refilled`.
    pub refilled_bytes: usize,
}

/// The cache, held: released on drop.
struct Guard<'a> {
    cache: &'a CpuCache,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        // Release: the next holder sees this one's list and counter writes.
        self.cache.busy.store(false, Ordering::Release);
    }
}

impl Guard<'_> {
    fn with<R>(&mut self, f: impl FnOnce(&mut Magazine) -> R) -> R {
        // SAFETY: a guard exists only while `busy` is ours.
        unsafe { self.cache.mag.with(f) }
    }

    /// Adds to a counter; only the holder writes them, so a load and a
    /// store (no locked instruction) do.
    fn add(counter: &AtomicUsize, delta: isize) {
        let v = counter.load(Ordering::Relaxed);
        counter.store(v.wrapping_add_signed(delta), Ordering::Relaxed);
    }

    fn count(&self, c: usize, blocks: isize) {
        Self::add(&self.cache.blocks, blocks);
        Self::add(&self.cache.bytes, blocks * class_size(c) as isize);
    }
}

impl Default for CpuCache {
    fn default() -> Self {
        Self::new()
    }
}

impl CpuCache {
    /// An empty cache.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self {
            busy: AtomicBool::new(false),
            mag: MagCell::new(),
            blocks: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            served: AtomicUsize::new(0),
            refilled: AtomicUsize::new(0),
            served_bytes: AtomicUsize::new(0),
            refilled_bytes: AtomicUsize::new(0),
        }
    }

    /// An empty cache.
    #[cfg(loom)]
    pub fn new() -> Self {
        Self {
            busy: AtomicBool::new(false),
            mag: MagCell::new(),
            blocks: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            served: AtomicUsize::new(0),
            refilled: AtomicUsize::new(0),
            served_bytes: AtomicUsize::new(0),
            refilled_bytes: AtomicUsize::new(0),
        }
    }

    #[inline]
    fn try_lock(&self) -> Option<Guard<'_>> {
        // Acquire: pairs with the Release in `Guard::drop`. A failed try
        // writes nothing.
        self.busy
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| Guard { cache: self })
    }

    /// A block of class `c`: from the list, else from a refill of it,
    /// else (cache busy) from `backing` directly. None when `backing` has
    /// no memory.
    #[inline]
    pub fn alloc(&self, c: usize, backing: &impl Backing) -> Option<NonNull<u8>> {
        let Some(mut g) = self.try_lock() else {
            return backing.alloc(class_layout(c));
        };
        if let Some(block) = g.with(|m| m.pop(c)) {
            g.count(c, -1);
            Guard::add(&g.cache.served, 1);
            Guard::add(&g.cache.served_bytes, class_size(c) as isize);
            return Some(block);
        }
        // Refill: a batch in one go, one of it for the caller.
        let mut first = None;
        let got = g.with(|m| {
            backing.alloc_many(class_layout(c), batch(c), &mut |block| {
                if first.is_none() {
                    first = Some(block);
                } else {
                    // SAFETY: a fresh block of class `c`'s layout.
                    unsafe { m.push(c, block) };
                }
            })
        });
        if got > 1 {
            g.count(c, got as isize - 1);
            Guard::add(&g.cache.refilled, got as isize - 1);
            Guard::add(
                &g.cache.refilled_bytes,
                ((got - 1) * class_size(c)) as isize,
            );
        }
        first
    }

    /// Gives back a block of class `c`: onto the list, after handing half
    /// of a full list to `backing`; or (cache busy) to `backing` directly.
    ///
    /// # Safety
    /// `block` came from [`CpuCache::alloc`] for class `c` (of any CPU's
    /// cache of the same backing) and is no longer used.
    #[inline]
    pub unsafe fn free(&self, c: usize, block: NonNull<u8>, backing: &impl Backing) {
        let Some(mut g) = self.try_lock() else {
            // SAFETY: a class-`c` block from `backing` (caller).
            unsafe { backing.free(block, class_layout(c)) };
            return;
        };
        let spill = g.with(|m| {
            let spill = if usize::from(m.counts[c]) >= limit(c) {
                Some(m.take(c, batch(c)))
            } else {
                None
            };
            // SAFETY: the caller gives the block up; it is of class `c`.
            unsafe { m.push(c, block) };
            spill
        });
        g.count(c, 1);
        if let Some(chain) = spill {
            g.count(c, -(batch(c) as isize));
            // Still holding the cache: an interrupt on this CPU meanwhile
            // goes to the backing, and the chain is out of the lists.
            backing.free_chain(chain, class_layout(c));
        }
    }

    /// Gives every block on the lists back to `backing`. The lock is
    /// tried `tries` times (spinning between tries); if it stays busy
    /// (its holder may be the code this call interrupted) nothing is
    /// given back and false is returned.
    pub fn flush(&self, backing: &impl Backing, tries: usize) -> bool {
        self.flush_with(tries, &mut |chain, layout| {
            backing.free_chain(chain, layout)
        })
        .is_some()
    }

    /// [`CpuCache::flush`] with each class's list passed to `free`;
    /// returns the blocks given back, None if the lock stayed busy.
    pub fn flush_with(&self, tries: usize, free: &mut dyn FnMut(Chain, Layout)) -> Option<usize> {
        if self.blocks.load(Ordering::Relaxed) == 0 {
            return Some(0);
        }
        let mut guard = None;
        for _ in 0..tries {
            if let Some(g) = self.try_lock() {
                guard = Some(g);
                break;
            }
            #[cfg(loom)]
            loom::thread::yield_now();
            #[cfg(not(loom))]
            core::hint::spin_loop();
        }
        let mut g = guard?;
        let mut given = 0;
        for c in 0..CLASSES {
            let (chain, n) = g.with(|m| {
                let n = usize::from(m.counts[c]);
                (m.take(c, n), n)
            });
            if n > 0 {
                g.count(c, -(n as isize));
                free(chain, class_layout(c));
                given += n;
            }
        }
        Some(given)
    }

    /// What the cache holds now and has done since boot (a snapshot of
    /// counters its holder writes as it goes).
    pub fn held(&self) -> Held {
        Held {
            blocks: self.blocks.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            served: self.served.load(Ordering::Relaxed),
            refilled: self.refilled.load(Ordering::Relaxed),
            served_bytes: self.served_bytes.load(Ordering::Relaxed),
            refilled_bytes: self.refilled_bytes.load(Ordering::Relaxed),
        }
    }

    /// Whether the cache is held right now (for tests).
    pub fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashSet;

    /// The global heap's model: std's allocator, every live block
    /// remembered with its layout, and a budget of blocks.
    #[derive(Default)]
    struct Model {
        live: RefCell<HashSet<(usize, usize, usize)>>,
        budget: RefCell<Option<usize>>,
        calls: RefCell<usize>,
    }

    impl Model {
        fn live(&self) -> usize {
            self.live.borrow().len()
        }
    }

    impl Backing for Model {
        fn alloc(&self, layout: Layout) -> Option<NonNull<u8>> {
            *self.calls.borrow_mut() += 1;
            if let Some(b) = self.budget.borrow_mut().as_mut() {
                if *b == 0 {
                    return None;
                }
                *b -= 1;
            }
            // SAFETY: class layouts have a non-zero size.
            let p = NonNull::new(unsafe { std::alloc::alloc(layout) })?;
            assert!(self.live.borrow_mut().insert((
                p.as_ptr() as usize,
                layout.size(),
                layout.align()
            )));
            Some(p)
        }

        fn alloc_many(&self, layout: Layout, n: usize, put: &mut dyn FnMut(NonNull<u8>)) -> usize {
            let mut got = 0;
            while got < n {
                let Some(p) = self.alloc(layout) else { break };
                put(p);
                got += 1;
            }
            got
        }

        unsafe fn free(&self, block: NonNull<u8>, layout: Layout) {
            assert!(
                self.live.borrow_mut().remove(&(
                    block.as_ptr() as usize,
                    layout.size(),
                    layout.align()
                )),
                "freed a block the model did not hand out with this layout"
            );
            // SAFETY: allocated above with this layout.
            unsafe { std::alloc::dealloc(block.as_ptr(), layout) };
        }
    }

    #[test]
    fn every_small_layout_gets_the_smallest_class_that_fits() {
        for size in 1..=MAX_CACHED + 64 {
            for align in [1, 2, 4, 8, 16, 32, 64, 128] {
                let l = Layout::from_size_align(size, align).unwrap();
                let fits = |c: usize| class_size(c) >= size && class_align(c) >= align;
                match class_of(l) {
                    Some(c) => {
                        assert!(fits(c), "{l:?} -> {c}");
                        assert!((0..c).all(|d| !fits(d)), "{l:?}: a smaller class fits");
                        let cl = class_layout(c);
                        assert_eq!(cl.size() % cl.align(), 0);
                    }
                    None => assert!(size > MAX_CACHED || align > 16, "{l:?} not cached"),
                }
            }
        }
        assert_eq!(class_of(Layout::from_size_align(0, 1).unwrap()), None);
        assert_eq!(class_layout(2), Layout::from_size_align(24, 8).unwrap());
        assert_eq!(
            class_of(Layout::from_size_align(545, 16).unwrap()).map(class_layout),
            Some(Layout::from_size_align(560, 16).unwrap())
        );
        assert_eq!(
            class_of(Layout::from_size_align(528, 8).unwrap()).map(class_layout),
            Some(Layout::from_size_align(528, 8).unwrap())
        );
        assert!((0..CLASSES).all(|c| (4..=32).contains(&limit(c)) && batch(c) >= 2));
    }

    /// A small deterministic random sequence.
    fn lcg(seed: &mut u64) -> usize {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*seed >> 33) as usize
    }

    #[test]
    fn blocks_cycle_through_the_cache_and_all_go_back_on_flush() {
        let model = Model::default();
        let cache = CpuCache::new();
        let mut mine: Vec<(NonNull<u8>, usize, u8)> = Vec::new();
        let mut seed = 7;
        for step in 0..20_000usize {
            if mine.len() < 300 && (!lcg(&mut seed).is_multiple_of(3) || mine.is_empty()) {
                let size = 1 + lcg(&mut seed) % MAX_CACHED;
                let c = class_of(Layout::from_size_align(size, 8).unwrap()).unwrap();
                let p = cache.alloc(c, &model).expect("memory");
                let tag = step as u8;
                // SAFETY: a fresh block of at least `size` bytes.
                unsafe { p.as_ptr().write_bytes(tag, size) };
                mine.push((p, size, tag));
            } else {
                let i = lcg(&mut seed) % mine.len();
                let (p, size, tag) = mine.swap_remove(i);
                // SAFETY: still ours; nothing else wrote it.
                let bytes = unsafe { std::slice::from_raw_parts(p.as_ptr(), size) };
                assert!(bytes.iter().all(|&b| b == tag), "a live block was written");
                let c = class_of(Layout::from_size_align(size, 8).unwrap()).unwrap();
                // SAFETY: from `alloc` for class `c`, dropped here.
                unsafe { cache.free(c, p, &model) };
            }
            let held = cache.held();
            assert_eq!(model.live(), mine.len() + held.blocks);
            assert!(held.bytes <= (0..CLASSES).map(|c| limit(c) * class_size(c)).sum());
        }
        let calls = *model.calls.borrow();
        assert!(calls < 20_000 / 2, "the cache should serve most: {calls}");
        // Every allocation is the model's or the cache's, once.
        let held = cache.held();
        let allocs = calls + held.served - held.refilled;
        assert!(allocs > 20_000 / 3, "{allocs} allocations counted");
        for (p, size, _) in mine.drain(..) {
            let c = class_of(Layout::from_size_align(size, 8).unwrap()).unwrap();
            // SAFETY: as above.
            unsafe { cache.free(c, p, &model) };
        }
        assert!(cache.flush(&model, 1));
        assert_eq!(model.live(), 0);
        assert_eq!(cache.held().blocks, 0);
        assert_eq!(cache.held().bytes, 0);
    }

    #[test]
    fn a_full_list_spills_half_and_a_busy_cache_goes_to_the_backing() {
        let model = Model::default();
        let cache = CpuCache::new();
        let c = 0;
        let blocks: Vec<_> = (0..limit(c) + 1)
            .map(|_| model.alloc(class_layout(c)).unwrap())
            .collect();
        for &b in &blocks {
            // SAFETY: blocks of class `c` from the model.
            unsafe { cache.free(c, b, &model) };
        }
        assert_eq!(cache.held().blocks, limit(c) + 1 - batch(c));
        assert_eq!(model.live(), cache.held().blocks);
        // Busy (as if an interrupt came while its holder was inside).
        let g = cache.try_lock().unwrap();
        assert!(cache.is_busy());
        let p = cache.alloc(c, &model).unwrap();
        assert_eq!(model.live(), cache.held().blocks + 1);
        // SAFETY: from `alloc` for class `c`.
        unsafe { cache.free(c, p, &model) };
        assert!(!cache.flush(&model, 3), "a held cache cannot be flushed");
        drop(g);
        assert!(cache.flush(&model, 1));
        assert_eq!(model.live(), 0);
    }

    #[test]
    fn out_of_memory_is_none_and_a_partial_refill_is_kept() {
        let model = Model::default();
        let cache = CpuCache::new();
        *model.budget.borrow_mut() = Some(2);
        let a = cache.alloc(5, &model).expect("one of two");
        let b = cache.alloc(5, &model).expect("the refill's second");
        assert_eq!(cache.alloc(5, &model), None);
        assert_eq!(cache.held().blocks, 0);
        for p in [a, b] {
            // SAFETY: from `alloc` for class 5.
            unsafe { cache.free(5, p, &model) };
        }
        assert!(cache.flush(&model, 1));
        assert_eq!(model.live(), 0);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! Model: the owning CPU allocates and frees through its cache while
    //! another CPU flushes it. Property: no block is handed out twice or
    //! lost (the backing's count of live blocks ends at zero once the
    //! owner's blocks are freed and the cache flushed), and loom finds no
    //! unsynchronised access to the lists.
    use super::*;
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::thread;

    /// Counting backing over std's allocator.
    struct Count(AtomicUsize);

    impl Backing for Count {
        fn alloc(&self, layout: Layout) -> Option<NonNull<u8>> {
            self.0.fetch_add(1, Ordering::Relaxed);
            // SAFETY: non-zero class size.
            NonNull::new(unsafe { std::alloc::alloc(layout) })
        }

        fn alloc_many(&self, layout: Layout, n: usize, put: &mut dyn FnMut(NonNull<u8>)) -> usize {
            for _ in 0..n {
                put(self.alloc(layout).unwrap());
            }
            n
        }

        unsafe fn free(&self, block: NonNull<u8>, layout: Layout) {
            self.0.fetch_sub(1, Ordering::Relaxed);
            // SAFETY: allocated by `alloc` with this layout.
            unsafe { std::alloc::dealloc(block.as_ptr(), layout) };
        }
    }

    #[test]
    fn loom_heap_cache_owner_against_a_flush() {
        loom::model(|| {
            let backing = Arc::new(Count(AtomicUsize::new(0)));
            let cache = Arc::new(CpuCache::new());
            let c = CLASSES - 1;
            let flusher = {
                let (backing, cache) = (backing.clone(), cache.clone());
                thread::spawn(move || {
                    cache.flush(&*backing, 2);
                })
            };
            let a = cache.alloc(c, &*backing).unwrap();
            let b = cache.alloc(c, &*backing).unwrap();
            assert_ne!(a, b);
            // SAFETY: from `alloc` for class `c`, no longer used.
            unsafe { cache.free(c, a, &*backing) };
            let d = cache.alloc(c, &*backing).unwrap();
            assert_ne!(d, b);
            for p in [b, d] {
                // SAFETY: as above.
                unsafe { cache.free(c, p, &*backing) };
            }
            flusher.join().unwrap();
            assert!(!cache.is_busy(), "a try that failed left the cache held");
            assert!(cache.flush(&*backing, 1));
            assert_eq!(backing.0.load(Ordering::Relaxed), 0);
            assert_eq!(cache.held().blocks, 0);
        });
    }
}
