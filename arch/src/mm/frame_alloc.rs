//! The physical frame allocator's bookkeeping: which frames are free, a
//! small cache of free frames per CPU, and a reference count per frame.
//!
//! Pure logic over frame numbers, tested on the host; [`super::frame`]
//! wraps it in the owning `Frame` type the kernel uses.
//!
//! - A global bitmap (bit set = free) under a spin lock holds the truth.
//!   Contiguous runs (for heap growth) are found there.
//! - Each CPU keeps up to [`CACHE_CAP`] free frames of its own, so the
//!   common single-frame alloc and free touch only that CPU's lock. Caches
//!   refill and drain in batches of [`BATCH`].
//! - Reference counts are atomics indexed by frame number: COW sharing bumps
//!   them without any lock.
//!
//! Not for interrupt context: the locks do not mask interrupts.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use spin::Mutex;

use crate::boot::memmap::{PAGE_SIZE, Region};

/// Frames a CPU cache holds at most.
pub const CACHE_CAP: usize = 64;
/// Frames moved between a CPU cache and the global pool at once.
pub const BATCH: usize = 32;

struct Pool {
    /// Bit `pfn` set = frame `pfn` is free in the pool.
    free: Vec<u64>,
    /// Word to start the next single-frame search from: moved back to the
    /// lowest word a frame is freed into, so freed frames are reused
    /// before memory never handed out. (A next-fit search sweeps through
    /// all of RAM first; under QEMU every frame the guest touches for the
    /// first time costs the host a page fault, which made the fault
    /// benchmarks 10x slower in the boots where they drew fresh frames.)
    hint: usize,
}

struct Cache {
    frames: [u64; CACHE_CAP],
    len: usize,
}

/// Free frames and reference counts for physical memory `[0, end)`.
pub struct FrameAllocator {
    /// Lock order: a CPU's cache, then the pool.
    pool: Mutex<Pool>,
    caches: Vec<Mutex<Cache>>,
    refcount: Vec<AtomicU32>,
    free_frames: AtomicUsize,
    total_frames: usize,
}

impl FrameAllocator {
    /// Creates an allocator owning exactly the frames of `regions`, with one
    /// cache for each of `cpus` CPUs.
    pub fn new(regions: &[Region], cpus: usize) -> Self {
        let end = regions.iter().map(|r| r.end).max().unwrap_or(0);
        let nframes = (end / PAGE_SIZE) as usize;
        let mut free = alloc::vec![0u64; nframes.div_ceil(64)];
        let mut total = 0;
        for r in regions {
            for pfn in r.start / PAGE_SIZE..r.end / PAGE_SIZE {
                free[pfn as usize / 64] |= 1 << (pfn % 64);
                total += 1;
            }
        }
        Self {
            pool: Mutex::new(Pool { free, hint: 0 }),
            caches: (0..cpus.max(1))
                .map(|_| {
                    Mutex::new(Cache {
                        frames: [0; CACHE_CAP],
                        len: 0,
                    })
                })
                .collect(),
            refcount: (0..nframes).map(|_| AtomicU32::new(0)).collect(),
            free_frames: AtomicUsize::new(total),
            total_frames: total,
        }
    }

    /// `cpu`'s cache. Without a division for the CPUs that have their own
    /// (all but in host tests): a `div` is a helper call under QEMU's TCG,
    /// and every allocation and free comes here.
    fn cache(&self, cpu: usize) -> &Mutex<Cache> {
        match self.caches.get(cpu) {
            Some(cache) => cache,
            None => &self.caches[cpu % self.caches.len()],
        }
    }

    /// Allocates one frame on behalf of `cpu`; its reference count is 1.
    /// Returns its physical address.
    #[inline]
    pub fn alloc(&self, cpu: usize) -> Option<u64> {
        let mut cache = self.cache(cpu).lock();
        if cache.len == 0 {
            return self.alloc_refilling(cpu, cache);
        }
        cache.len -= 1;
        let pfn = cache.frames[cache.len];
        drop(cache);
        self.claimed(pfn);
        Some(pfn * PAGE_SIZE)
    }

    /// [`Self::alloc`] with `cpu`'s cache empty (`cache`, locked): a
    /// batch from the pool, or a frame from another CPU's cache.
    #[cold]
    fn alloc_refilling(&self, cpu: usize, mut cache: spin::MutexGuard<'_, Cache>) -> Option<u64> {
        {
            let mut pool = self.pool.lock();
            while cache.len < BATCH {
                let Some(pfn) = pool.take_one() else { break };
                let len = cache.len;
                cache.frames[len] = pfn;
                cache.len += 1;
            }
        }
        if cache.len == 0 {
            drop(cache);
            return self.take_cached_elsewhere(cpu);
        }
        cache.len -= 1;
        let pfn = cache.frames[cache.len];
        drop(cache);
        self.claimed(pfn);
        Some(pfn * PAGE_SIZE)
    }

    /// One frame from another CPU's cache, for when `cpu`'s cache and the
    /// pool are empty: up to [`CACHE_CAP`] free frames can sit in each
    /// other CPU's cache, and a single-frame allocation that ignored them
    /// failed while they were free. Takes one cache lock at a time (none
    /// is held on the way in), so the lock order holds.
    fn take_cached_elsewhere(&self, cpu: usize) -> Option<u64> {
        let n = self.caches.len();
        for i in 1..n {
            let mut other = self.caches[(cpu + i) % n].lock();
            if other.len > 0 {
                other.len -= 1;
                let pfn = other.frames[other.len];
                drop(other);
                self.claimed(pfn);
                return Some(pfn * PAGE_SIZE);
            }
        }
        None
    }

    /// Moves every CPU's cached frames back to the pool's bitmap, where
    /// contiguous runs are looked for; returns how many moved. Each cache
    /// is locked, then the pool (the lock order), one cache at a time.
    fn drain_caches(&self) -> usize {
        let mut moved = 0;
        for cache in &self.caches {
            let mut cache = cache.lock();
            if cache.len == 0 {
                continue;
            }
            let mut pool = self.pool.lock();
            for &f in &cache.frames[..cache.len] {
                pool.give(f);
            }
            moved += cache.len;
            cache.len = 0;
        }
        moved
    }

    /// Allocates `count` physically contiguous frames, the first aligned to
    /// `align` frames, each with reference count 1.
    pub fn alloc_contiguous(&self, count: usize, align: usize) -> Option<u64> {
        if count == 0 {
            return None;
        }
        let align = align.max(1);
        let take = || {
            let mut pool = self.pool.lock();
            let first = pool.find_run(count, align, self.refcount.len())?;
            for pfn in first..first + count {
                pool.free[pfn / 64] &= !(1 << (pfn % 64));
            }
            Some(first)
        };
        // Frames in the CPUs' caches are free but not in the bitmap: when
        // no run is found without them, they go back to the pool and the
        // search runs once more.
        let first = match take() {
            Some(first) => first,
            None if self.drain_caches() > 0 => take()?,
            None => return None,
        };
        for pfn in first..first + count {
            self.claimed(pfn as u64);
        }
        Some(first as u64 * PAGE_SIZE)
    }

    #[inline]
    fn claimed(&self, pfn: u64) {
        // Relaxed: the frame is exclusively ours; the caller publishes it
        // through whatever hands the frame on (a lock, a page table write).
        // A store, not a swap: nobody else touches a free frame's count,
        // and a locked instruction is a helper call under QEMU's TCG.
        let count = &self.refcount[pfn as usize];
        debug_assert_eq!(
            count.load(Ordering::Relaxed),
            0,
            "free frame {pfn:#x} had references"
        );
        count.store(1, Ordering::Relaxed);
        self.free_frames.fetch_sub(1, Ordering::Relaxed);
    }

    /// Adds a reference to the allocated frame at `pa`.
    pub fn inc_ref(&self, pa: u64) {
        // Relaxed: taking another reference needs no ordering, only that the
        // count never reaches 0 while a reference exists (as for Arc).
        let old = self.refcount[(pa / PAGE_SIZE) as usize].fetch_add(1, Ordering::Relaxed);
        assert!(old > 0, "inc_ref on free frame {pa:#x}");
    }

    /// Drops a reference to the frame at `pa`; the last one returns the
    /// frame to `cpu`'s cache. Returns whether the frame was freed.
    pub fn dec_ref(&self, pa: u64, cpu: usize) -> bool {
        let pfn = pa / PAGE_SIZE;
        // Release: our writes to the frame happen before its reuse; the
        // Acquire fence below pairs with the other owners' Release (as Arc).
        let old = self.refcount[pfn as usize].fetch_sub(1, Ordering::Release);
        assert!(old > 0, "dec_ref on free frame {pa:#x}");
        if old != 1 {
            return false;
        }
        core::sync::atomic::fence(Ordering::Acquire);
        self.free_frames.fetch_add(1, Ordering::Relaxed);
        self.cache(cpu).lock().push(pfn, &self.pool);
        true
    }

    /// [`Self::dec_ref`] for each frame of `pas`, with one hold of
    /// `cpu`'s cache lock for the frames whose last reference went (a
    /// page table's teardown frees hundreds). Those are moved to the front
    /// of `pas`; returns how many there are.
    pub fn dec_ref_many(&self, pas: &mut [u64], cpu: usize) -> usize {
        let mut freed = 0;
        for i in 0..pas.len() {
            let pa = pas[i];
            // Release: as in `dec_ref`.
            let old = self.refcount[(pa / PAGE_SIZE) as usize].fetch_sub(1, Ordering::Release);
            assert!(old > 0, "dec_ref on free frame {pa:#x}");
            if old == 1 {
                pas[freed] = pa;
                freed += 1;
            }
        }
        if freed == 0 {
            return 0;
        }
        // Acquire: as in `dec_ref`, for every frame freed here.
        core::sync::atomic::fence(Ordering::Acquire);
        self.free_frames.fetch_add(freed, Ordering::Relaxed);
        let mut cache = self.cache(cpu).lock();
        for &pa in &pas[..freed] {
            cache.push(pa / PAGE_SIZE, &self.pool);
        }
        freed
    }

    /// Drops a reference to the frame at `pa` unless it is the last one:
    /// returns `true` if it dropped one, `false` if the caller holds the
    /// only reference (then nothing changed, and since nobody else holds
    /// one, nobody can add one either). The owner of a page-table page
    /// shared by several tables frees what the page maps before freeing
    /// the page itself; this is how it learns it is the last owner.
    pub fn dec_ref_unless_last(&self, pa: u64) -> bool {
        let count = &self.refcount[(pa / PAGE_SIZE) as usize];
        let mut cur = count.load(Ordering::Relaxed);
        loop {
            assert!(cur > 0, "dec_ref on free frame {pa:#x}");
            if cur == 1 {
                // Acquire: the other owners' last accesses (their Release
                // decrements) happen before the caller frees the frame.
                core::sync::atomic::fence(Ordering::Acquire);
                return false;
            }
            match count.compare_exchange_weak(cur, cur - 1, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    /// Current reference count of the frame at `pa` (0 = free).
    #[inline]
    pub fn refcount(&self, pa: u64) -> u32 {
        self.refcount[(pa / PAGE_SIZE) as usize].load(Ordering::Relaxed)
    }

    /// Frames free right now (pool and caches).
    pub fn free_frames(&self) -> usize {
        self.free_frames.load(Ordering::Relaxed)
    }

    /// Frames this allocator manages.
    pub fn total_frames(&self) -> usize {
        self.total_frames
    }

    /// Checks the bookkeeping against itself (`sysctl debug.check`): every
    /// frame in the pool's bitmap or a CPU cache is there once and has
    /// reference count 0; the free counter equals the frames found there;
    /// and the frames with a reference plus the free ones are all the
    /// frames managed. Holds every cache's lock and the pool's while it
    /// looks (a scan of one counter per frame, some milliseconds for 8 GiB:
    /// a debugging aid, not for hot paths), so it is exact when no
    /// allocation or free is half done
    /// (those update the counter and the reference count outside the
    /// locks; a call racing one can report a difference of a frame or two).
    pub fn audit(&self) -> Result<(), alloc::string::String> {
        use alloc::format;
        let caches: Vec<_> = self.caches.iter().map(|c| c.lock()).collect();
        let pool = self.pool.lock();
        let mut seen = pool.free.clone();
        let mut free = seen.iter().map(|w| w.count_ones() as usize).sum::<usize>();
        for cache in &caches {
            for &pfn in &cache.frames[..cache.len] {
                let (word, bit) = (pfn as usize / 64, 1u64 << (pfn % 64));
                if seen.get(word).is_none_or(|w| w & bit != 0) {
                    return Err(format!("frame {pfn:#x} is free twice (pool or caches)"));
                }
                seen[word] |= bit;
                free += 1;
            }
        }
        // The scan runs under the locks, so no frame seen free is handed
        // out meanwhile.
        let counter = self.free_frames();
        let mut in_use = 0;
        for (pfn, count) in self.refcount.iter().enumerate() {
            let count = count.load(Ordering::Relaxed);
            let is_free = seen[pfn / 64] & (1 << (pfn % 64)) != 0;
            if is_free && count != 0 {
                return Err(format!("free frame {pfn:#x} has {count} references"));
            }
            if count != 0 {
                in_use += 1;
            }
        }
        drop(pool);
        drop(caches);
        if counter != free {
            return Err(format!("free counter {counter}, free frames found {free}"));
        }
        if in_use + free != self.total_frames {
            return Err(format!(
                "{in_use} frames in use + {free} free != {} managed",
                self.total_frames
            ));
        }
        Ok(())
    }
}

impl Cache {
    /// Adds free frame `pfn`; a full cache first gives [`BATCH`] frames
    /// back to `pool` (locked here: the caller holds this cache's lock,
    /// the lock order).
    fn push(&mut self, pfn: u64, pool: &Mutex<Pool>) {
        if self.len == CACHE_CAP {
            let mut pool = pool.lock();
            for _ in 0..BATCH {
                self.len -= 1;
                pool.give(self.frames[self.len]);
            }
        }
        self.frames[self.len] = pfn;
        self.len += 1;
    }
}

impl Pool {
    /// Marks frame `pfn` free, and the next search to start at or below it.
    fn give(&mut self, pfn: u64) {
        let word = pfn as usize / 64;
        self.free[word] |= 1 << (pfn % 64);
        self.hint = self.hint.min(word);
    }

    fn take_one(&mut self) -> Option<u64> {
        let n = self.free.len();
        for i in 0..n {
            // `hint` < n and i < n: a subtraction, not a division (see
            // `FrameAllocator::cache`).
            let w = self.hint + i;
            let w = if w >= n { w - n } else { w };
            if self.free[w] != 0 {
                let bit = self.free[w].trailing_zeros() as u64;
                self.free[w] &= !(1 << bit);
                self.hint = w;
                return Some(w as u64 * 64 + bit);
            }
        }
        None
    }

    fn is_free(&self, pfn: usize) -> bool {
        self.free[pfn / 64] & (1 << (pfn % 64)) != 0
    }

    fn find_run(&self, count: usize, align: usize, nframes: usize) -> Option<usize> {
        let mut start = 0;
        while start + count <= nframes {
            match (start..start + count).rev().find(|&p| !self.is_free(p)) {
                None => return Some(start),
                Some(busy) => start = (busy + 1).div_ceil(align) * align,
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::Arc;

    const MIB: u64 = 1 << 20;

    fn alloc16() -> FrameAllocator {
        FrameAllocator::new(
            &[
                Region {
                    start: MIB,
                    end: 9 * MIB,
                },
                Region {
                    start: 10 * MIB,
                    end: 18 * MIB,
                },
            ],
            4,
        )
    }

    #[test]
    fn hands_out_only_owned_frames_once() {
        let a = alloc16();
        assert_eq!(a.total_frames(), 4096);
        let mut seen = HashSet::new();
        while let Some(pa) = a.alloc(0) {
            assert!(pa % PAGE_SIZE == 0);
            assert!(
                (MIB..9 * MIB).contains(&pa) || (10 * MIB..18 * MIB).contains(&pa),
                "{pa:#x}"
            );
            assert!(seen.insert(pa), "frame {pa:#x} handed out twice");
            assert_eq!(a.refcount(pa), 1);
        }
        assert_eq!(seen.len(), 4096);
        assert_eq!(a.free_frames(), 0);
    }

    #[test]
    fn freed_frames_are_reused_before_untouched_ones() {
        let a = alloc16();
        let first: Vec<u64> = (0..1000).map(|_| a.alloc(0).unwrap()).collect();
        let highest = *first.iter().max().unwrap();
        for &pa in &first {
            a.dec_ref(pa, 0);
        }
        for _ in 0..1000 {
            let pa = a.alloc(0).unwrap();
            assert!(pa <= highest, "{pa:#x} is above every frame used so far");
        }
    }

    #[test]
    fn dec_ref_many_frees_only_the_last_references_through_the_cache() {
        let a = FrameAllocator::new(
            &[Region {
                start: 0,
                end: 400 * PAGE_SIZE,
            }],
            2,
        );
        let mut pas: Vec<u64> = (0..300).map(|_| a.alloc(1).unwrap()).collect();
        // Every third frame has a second reference, which stays.
        let shared: Vec<u64> = pas.iter().copied().step_by(3).collect();
        for &pa in &shared {
            a.inc_ref(pa);
        }
        let free_before = a.free_frames();
        let freed = a.dec_ref_many(&mut pas, 1);
        assert_eq!(freed, 200);
        assert!(pas[..freed].iter().all(|pa| !shared.contains(pa)));
        assert_eq!(a.free_frames(), free_before + 200);
        for &pa in &shared {
            assert_eq!(a.refcount(pa), 1);
        }
        // More than a cache holds went through it: the rest is in the pool.
        assert!(a.caches[1].lock().len <= CACHE_CAP);
        a.audit().unwrap();
        let mut none = [0u64; 0];
        assert_eq!(a.dec_ref_many(&mut none, 0), 0);
    }

    #[test]
    fn dec_ref_unless_last_keeps_the_last_reference() {
        let a = alloc16();
        let pa = a.alloc(0).unwrap();
        a.inc_ref(pa);
        a.inc_ref(pa);
        assert!(a.dec_ref_unless_last(pa));
        assert!(a.dec_ref_unless_last(pa));
        assert_eq!(a.refcount(pa), 1);
        assert!(!a.dec_ref_unless_last(pa), "the last reference stays");
        assert_eq!(a.refcount(pa), 1);
        assert!(a.dec_ref(pa, 0));
    }

    #[test]
    fn refcount_frees_on_last_reference_and_reuses() {
        let a = alloc16();
        let pa = a.alloc(1).unwrap();
        a.inc_ref(pa);
        assert_eq!(a.refcount(pa), 2);
        assert!(!a.dec_ref(pa, 1));
        let before = a.free_frames();
        assert!(a.dec_ref(pa, 1));
        assert_eq!(a.free_frames(), before + 1);
        assert_eq!(
            a.alloc(1),
            Some(pa),
            "the CPU cache returns the freed frame first"
        );
    }

    #[test]
    fn caches_drain_to_the_pool_and_other_cpus_see_the_frames() {
        let a = alloc16();
        let frames: Vec<u64> = (0..4096).map(|_| a.alloc(0).unwrap()).collect();
        for &f in &frames {
            a.dec_ref(f, 0);
        }
        // CPU 3 can still get every frame: CPU 0's cache drained to the pool.
        let mut got = 0;
        while a.alloc(3).is_some() {
            got += 1;
            if got == 4096 - CACHE_CAP {
                break;
            }
        }
        assert_eq!(got, 4096 - CACHE_CAP);
    }

    #[test]
    fn the_last_frames_come_from_other_cpus_caches() {
        let a = alloc16();
        let frames: Vec<u64> = (0..4096).map(|_| a.alloc(0).unwrap()).collect();
        // CPUs 1 and 2 free a cacheful each; the rest goes to CPU 0.
        for (i, &f) in frames.iter().enumerate() {
            let cpu = match i / CACHE_CAP {
                0 => 1,
                1 => 2,
                _ => 0,
            };
            a.dec_ref(f, cpu);
        }
        // CPU 3's cache and, at the end, the pool are empty: it gets every
        // frame anyway, each once.
        let mut seen = HashSet::new();
        while let Some(pa) = a.alloc(3) {
            assert!(seen.insert(pa), "{pa:#x} handed out twice");
        }
        assert_eq!(seen.len(), 4096);
        assert_eq!(a.free_frames(), 0);
        assert_eq!(a.audit(), Ok(()));
    }

    #[test]
    fn contiguous_runs_include_cached_frames() {
        let a = alloc16();
        let mut frames: Vec<u64> = (0..4096).map(|_| a.alloc(0).unwrap()).collect();
        frames.sort();
        // 48 contiguous frames freed on CPU 1 sit in its cache, not in the
        // pool; everything else stays allocated.
        let run = &frames[100..148];
        assert!(run.windows(2).all(|w| w[1] == w[0] + PAGE_SIZE));
        for &f in run {
            a.dec_ref(f, 1);
        }
        assert_eq!(a.alloc_contiguous(48, 1), Some(run[0]));
        assert!(a.alloc_contiguous(1, 1).is_none());
        assert_eq!(a.audit(), Ok(()));
    }

    #[test]
    fn contiguous_runs_are_aligned_and_skip_holes() {
        let a = alloc16();
        // 2 MiB (512 frames) aligned to 2 MiB: the first such run is [2, 4) MiB... [8,9) is short.
        let pa = a.alloc_contiguous(512, 512).unwrap();
        assert_eq!(pa, 2 * MIB);
        // A run cannot straddle the hole at [9, 10) MiB.
        let big = a.alloc_contiguous(1536, 1).unwrap();
        assert!(big >= 10 * MIB || big + 1536 * PAGE_SIZE <= 9 * MIB);
        assert!(a.alloc_contiguous(4096, 1).is_none());
        for pfn in 0..512 {
            assert_eq!(a.refcount(pa + pfn * PAGE_SIZE), 1);
        }
    }

    #[test]
    fn audit_agrees_with_the_bookkeeping_and_finds_a_broken_count() {
        let a = alloc16();
        assert_eq!(a.audit(), Ok(()));
        let held: Vec<u64> = (0..100).filter_map(|i| a.alloc(i % 4)).collect();
        a.inc_ref(held[0]);
        assert_eq!(a.audit(), Ok(()));
        for &pa in &held {
            a.dec_ref(pa, 1);
        }
        a.dec_ref(held[0], 2);
        assert_eq!(a.audit(), Ok(()));
        // A leaked reference count on a free frame is found.
        a.refcount[(held[5] / PAGE_SIZE) as usize].store(1, Ordering::Relaxed);
        assert!(a.audit().unwrap_err().contains("references"));
        a.refcount[(held[5] / PAGE_SIZE) as usize].store(0, Ordering::Relaxed);
        // So is a frame in use that the counter thinks free.
        a.free_frames.fetch_add(1, Ordering::Relaxed);
        assert!(a.audit().unwrap_err().contains("free counter"));
    }

    #[test]
    fn all_cpus_at_once_lose_nothing() {
        let a = Arc::new(alloc16());
        let start = a.free_frames();
        let threads: Vec<_> = (0..4)
            .map(|cpu| {
                let a = a.clone();
                std::thread::spawn(move || {
                    let mut held = Vec::new();
                    for i in 0..20_000 {
                        if i % 3 != 2 {
                            if let Some(pa) = a.alloc(cpu) {
                                held.push(pa);
                            }
                        } else if let Some(pa) = held.pop() {
                            a.dec_ref(pa, cpu);
                        }
                        if held.len() > 200 {
                            for pa in held.drain(..) {
                                a.dec_ref(pa, cpu);
                            }
                        }
                    }
                    held
                })
            })
            .collect();
        let mut all = HashSet::new();
        for t in threads {
            for pa in t.join().unwrap() {
                assert!(all.insert(pa), "{pa:#x} held twice");
            }
        }
        assert_eq!(a.free_frames(), start - all.len());
        for pa in all {
            a.dec_ref(pa, 0);
        }
        assert_eq!(a.free_frames(), start);
    }
}
