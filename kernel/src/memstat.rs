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
//! thread's boxed future). Page-table pages
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
