//! Where the machine's memory goes: the figures `mem` (both shells) and
//! the `meminfo` call show (`docs/memory.md`).
//!
//! Frames are counted by the frame allocator; the heap by its allocator
//! (bytes in use, bytes claimed from frames). The parts of the heap the
//! processes hold are estimated by walking the process table (a `mem` is
//! the only walk of all processes; fork, exit and wait never make one):
//! each process record (the `Process` and its name), each descriptor
//! table (counted once however many processes share it), and the tasks
//! (the executor's count of what they took at spawn, plus each user
//! thread's boxed `run` future). Page-table pages
//! are frames, counted by `arch`.
//!
//! The figures are an `abi::record::MemRecord`, the record `meminfo`
//! copies out; its `Display` is the text `mem` prints.

use alloc::sync::Arc;
use alloc::vec::Vec;

use abi::record::MemRecord;

use crate::proc::process::{self, Process};

/// Takes the figures now.
pub fn now() -> MemRecord {
    let (free, total) = arch::mm::frame::stats();
    let heap = arch::mm::heap::stats();
    let (tasks, task_bytes) = crate::task::task_memory();
    let procs = process::all();
    let process_bytes: usize = procs
        .iter()
        .map(|p| {
            core::mem::size_of::<Process>() + 2 * core::mem::size_of::<usize>() + p.name().len()
        })
        .sum();
    let mut tables: Vec<(usize, usize)> = procs
        .iter()
        .map(|p| {
            let files = p.files();
            (Arc::as_ptr(&files) as usize, files.heap_bytes())
        })
        .collect();
    tables.sort_unstable();
    tables.dedup_by_key(|t| t.0);
    MemRecord {
        frames_total: total as u64,
        frames_free: free as u64,
        frames_used: total.saturating_sub(free) as u64,
        heap_allocated: heap.allocated_bytes as u64,
        heap_allocations: heap.allocations as u64,
        heap_claimed: heap.claimed_bytes as u64,
        processes: procs.len() as u64,
        process_bytes: process_bytes as u64,
        tasks: tasks as u64,
        task_bytes: (task_bytes + crate::proc::thread::future_bytes()) as u64,
        table_pages: arch::mm::user::table_pages() as u64,
        fd_tables: tables.len() as u64,
        fd_bytes: tables.iter().map(|t| t.1 as u64 + 16).sum(),
    }
}

mod ktests {
    use alloc::boxed::Box;
    use alloc::string::String;
    use alloc::vec::Vec;

    use arch::mm::heap;

    use crate::{kassert, ktest};

    /// Checks that the `i`th box still holds `i + 1` (wrapping) in every
    /// byte, frees them all and trims the heap; the heap's figures after.
    fn check_free_and_trim<T: AsRef<[u8]> + ?Sized>(
        boxes: Vec<Box<T>>,
    ) -> Result<heap::HeapStats, String> {
        let mut n = 0u8;
        for b in &boxes {
            n = n.wrapping_add(1);
            let bytes: &[u8] = (**b).as_ref();
            kassert!(bytes.iter().all(|&x| x == n), "a box lost its contents");
        }
        drop(boxes);
        heap::trim();
        Ok(heap::stats())
    }

    /// Whether the free frames are back to within 64 of `before`.
    fn frames_back(before: usize) -> Result<(), String> {
        let (after, _) = arch::mm::frame::stats();
        kassert!(after + 64 >= before, "frames not back: {before} -> {after}");
        Ok(())
    }

    ktest!(
        async fn heap_grows_from_scattered_frames_and_gives_them_back() {
            // As if no two free frames were adjacent: the heap must grow
            // one page at a time for small allocations instead of failing
            // (and so panicking) for want of a 128 KiB run.
            let (frames_before, _) = arch::mm::frame::stats();
            let before = heap::stats();
            let mut boxes: Vec<Box<[u8; 1000]>> = Vec::with_capacity(1 << 16);
            let grown = heap::with_runs_limited(1, || {
                // Enough for 256 KiB of growth past whatever is free now.
                let mut n = 0u8;
                while boxes.len() < boxes.capacity()
                    && heap::stats().claimed_bytes < before.claimed_bytes + (256 << 10)
                {
                    n = n.wrapping_add(1);
                    boxes.push(Box::new([n; 1000]));
                }
                heap::stats()
            });
            kassert!(
                grown.claimed_bytes >= before.claimed_bytes + (256 << 10),
                "the heap did not grow: {before:?} -> {grown:?}"
            );
            kassert!(
                grown.regions >= before.regions + 60,
                "growth was not page by page: {before:?} -> {grown:?}"
            );
            let after = check_free_and_trim(boxes)?;
            kassert!(
                after.regions <= before.regions + 4,
                "the pages were not given back: {before:?} -> {after:?}"
            );
            frames_back(frames_before)
        }
    );

    ktest!(
        async fn heap_maps_scattered_frames_for_allocations_bigger_than_a_page() {
            // As if no two free frames were adjacent: an allocation of
            // three pages must get three scattered frames mapped together
            // (it failed, and an infallible one panicked).
            let (frames_before, _) = arch::mm::frame::stats();
            let before = heap::stats();
            let mut boxes: Vec<Box<[u8]>> = Vec::with_capacity(4096);
            let grown = heap::with_runs_limited(1, || {
                let mut n = 0u8;
                while boxes.len() < boxes.capacity()
                    && heap::stats().mapped_regions < before.mapped_regions + 8
                {
                    n = n.wrapping_add(1);
                    boxes.push(alloc::vec![n; 12 << 10].into_boxed_slice());
                }
                heap::stats()
            });
            kassert!(
                grown.mapped_regions >= before.mapped_regions + 8,
                "no mapped growth: {before:?} -> {grown:?} ({} boxes)",
                boxes.len()
            );
            let after = check_free_and_trim(boxes)?;
            // A small allocation made meanwhile may keep a region or two.
            kassert!(
                after.mapped_regions <= before.mapped_regions + 2,
                "the mapped regions were not given back: {before:?} -> {after:?}"
            );
            frames_back(frames_before)
        }
    );
}
