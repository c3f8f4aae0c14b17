//! Virtual memory policy: address spaces, VMAs, page faults and
//! copy-on-write, over the page tables and frames `arch` provides.
//!
//! - [`vma`]: VMA bookkeeping and the fault policy (pure, host-tested);
//! - `space` (on the machine): `space::AddressSpace`, a user page table
//!   with its VMAs, the page-fault handler (zero-fill on first touch,
//!   copy-on-write), `brk`, anonymous `mmap` (private and shared),
//!   `munmap`, `mprotect`, `mremap`, `madvise`, fork of the space, and
//!   user-memory copies that resolve faults.
//!
//! Also the in-kernel tests of the memory layer `arch` provides (frames,
//! heap, kernel mappings, user page tables) under real use from every CPU.

/// The top of user space: nothing user-visible (a segment, a mapping, the
/// stack) reaches at or above this address (the top of the lower canonical
/// half, less a guard page, as on Linux).
pub const USER_TOP: u64 = 0x0000_7fff_ffff_f000;
/// The bottom of user space: nothing is mapped below this address (Linux's
/// default `mmap_min_addr`: the low 64 KiB stay unmapped to catch NULL
/// pointers).
pub const USER_BOTTOM: u64 = 0x1_0000;

#[cfg(target_os = "none")]
mod deferred_ktests;
#[cfg(target_os = "none")]
mod inherit_ktests;
#[cfg(target_os = "none")]
mod share_ktests;
#[cfg(target_os = "none")]
pub mod space;
#[cfg(target_os = "none")]
mod space_ktests;
#[cfg(target_os = "none")]
mod subtree_ktests;
#[cfg(target_os = "none")]
mod user_ktests;
pub mod vma;

#[cfg(target_os = "none")]
mod ktests {
    use alloc::boxed::Box;
    use alloc::vec::Vec;
    use arch::mm::Frame;
    use arch::mm::frame::KernelMapping;

    use crate::{kassert, kassert_eq, ktest, task};

    /// Runs `work(cpu)` as one task pinned to each CPU, all at once.
    async fn on_every_cpu<T: Send + 'static>(work: fn(usize) -> T) -> Vec<T> {
        let handles: Vec<_> = (0..task::ncpus())
            .map(|cpu| task::spawn_on(cpu, async move { work(cpu) }))
            .collect();
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await);
        }
        out
    }

    ktest!(
        async fn frames_from_all_cpus_lose_nothing() {
            let (free_before, _) = arch::mm::frame::stats();
            let held = on_every_cpu(|_| {
                let mut kept = Vec::new();
                for i in 0..4000 {
                    let f = Frame::alloc().expect("out of frames");
                    if i % 4 == 0 {
                        kept.push(f);
                    }
                }
                kept.into_iter()
                    .map(|f| f.paddr())
                    .collect::<Vec<_>>()
                    .len()
            })
            .await;
            kassert_eq!(held.len(), task::ncpus());
            let (free_after, _) = arch::mm::frame::stats();
            kassert_eq!(free_after, free_before);
            Ok(())
        }
    );

    ktest!(
        async fn frames_are_unique_across_cpus() {
            let per_cpu = on_every_cpu(|_| {
                (0..2000)
                    .map(|_| Frame::alloc().expect("frame"))
                    .collect::<Vec<_>>()
            })
            .await;
            let mut all: Vec<u64> = per_cpu.iter().flatten().map(Frame::paddr).collect();
            let n = all.len();
            all.sort_unstable();
            all.dedup();
            kassert_eq!(all.len(), n);
            Ok(())
        }
    );

    ktest!(
        async fn frame_refcount_and_unique_write() {
            let mut a = Frame::alloc_zeroed().expect("frame");
            kassert!(a.bytes().iter().all(|&b| b == 0));
            a.bytes_mut().expect("unique")[7] = 42;
            let b = a.clone();
            kassert_eq!(a.refcount(), 2);
            kassert!(
                a.bytes_mut().is_none(),
                "a shared frame must not be writable"
            );
            kassert_eq!(b.bytes()[7], 42);
            drop(b);
            kassert_eq!(a.refcount(), 1);
            kassert!(a.bytes_mut().is_some());
            Ok(())
        }
    );

    /// Every CPU allocates and frees boxes of many sizes at once.
    fn heap_churn(cpu: usize) -> usize {
        let mut boxes: Vec<Box<[u64]>> = Vec::new();
        for i in 0..2000usize {
            boxes.push(alloc::vec![(cpu * 1_000_000 + i) as u64; 1 + i % 64].into_boxed_slice());
            if i % 3 == 0 {
                boxes.swap_remove(i % boxes.len());
            }
        }
        boxes.iter().map(|b| b.len()).sum()
    }

    ktest!(
        async fn heap_from_all_cpus_returns_to_start() {
            use arch::mm::heap::stats;
            // A first round warms up what the executor keeps for good (run-queue
            // blocks, per-CPU timer heaps).
            on_every_cpu(heap_churn).await;
            let before = stats();
            let sums = on_every_cpu(heap_churn).await;
            kassert!(sums.iter().all(|&s| s > 0));
            drop(sums);
            // Other CPUs drop their finished tasks just after the results arrive;
            // yield (which allocates nothing) until the counts settle.
            // A loaded host can stop the other vCPUs for longer than any
            // count of yields, so the wait is bounded by time (2 s).
            let mut after = stats();
            let give_up = task::now_ns() + 2_000_000_000;
            while after.allocations > before.allocations && task::now_ns() < give_up {
                task::yield_now().await;
                after = stats();
            }
            let churned = after.total_allocated_bytes - before.total_allocated_bytes;
            kassert!(
                churned > (256 << 10),
                "the round allocated only {churned} bytes"
            );
            // Exact equality is not an invariant: the lock-free run queues
            // allocate and free their blocks (~500 B) on their own schedule,
            // and blocks from before the round (an earlier test's tasks, a
            // run queue's spare block) may be freed during it, so the count
            // can go down by any amount. A lost allocation of the round would
            // leave thousands of boxes: the count may grow by only a few.
            kassert!(
                after.allocations <= before.allocations + 4
                    && after.allocated_bytes <= before.allocated_bytes + 4096,
                "heap did not return to its start: {before:?} -> {after:?}"
            );
            Ok(())
        }
    );

    ktest!(
        async fn heap_grows_from_frames() {
            let (free_before, _) = arch::mm::frame::stats();
            // More than the initial heap region holds: the heap must grow.
            let big: Vec<Vec<u8>> = (0..24).map(|i| alloc::vec![i as u8; 1 << 20]).collect();
            kassert!(
                big.iter()
                    .enumerate()
                    .all(|(i, v)| v[v.len() - 1] == i as u8)
            );
            let (free_after, _) = arch::mm::frame::stats();
            kassert!(
                free_after < free_before,
                "the heap took frames ({free_before} -> {free_after})"
            );
            Ok(())
        }
    );

    ktest!(
        async fn map_and_unmap_pages() {
            let frames: Vec<Frame> = (0..8)
                .map(|_| Frame::alloc_zeroed().expect("frame"))
                .collect();
            let pas: Vec<u64> = frames.iter().map(Frame::paddr).collect();
            let mut m = KernelMapping::new(frames).map_err(|_| "map failed")?;
            let base = m.addr();
            for (i, &pa) in pas.iter().enumerate() {
                kassert_eq!(
                    arch::mm::paging::translate(base + i as u64 * 4096 + 12),
                    Some(pa + 12)
                );
            }
            m.as_mut_slice()[4096 * 3 + 5] = 0xab;
            kassert_eq!(m.as_slice()[4096 * 3 + 5], 0xab);
            let frames = m.unmap();
            kassert_eq!(arch::mm::paging::translate(base), None);
            kassert_eq!(frames[3].bytes()[5], 0xab);
            Ok(())
        }
    );
}
