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

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::proc::process::{self, Process};

/// The breakdown (module docs). Byte counts unless named otherwise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemStat {
    /// Frames in the machine.
    pub frames_total: u64,
    /// Frames free.
    pub frames_free: u64,
    /// Heap bytes in live allocations.
    pub heap_allocated: u64,
    /// Live heap allocations.
    pub heap_allocations: u64,
    /// Bytes the heap holds from the frames (allocated or free inside it).
    pub heap_claimed: u64,
    /// Process records (zombies included) and the heap they take.
    pub processes: u64,
    pub process_bytes: u64,
    /// Tasks (threads and kernel tasks) and the heap they took at spawn.
    pub tasks: u64,
    pub task_bytes: u64,
    /// Page-table pages of the user address spaces (frames).
    pub table_pages: u64,
    /// Descriptor tables and the heap they take.
    pub fd_tables: u64,
    pub fd_bytes: u64,
}

/// Takes the figures now.
pub fn now() -> MemStat {
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
    MemStat {
        frames_total: total as u64,
        frames_free: free as u64,
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

/// The breakdown as text, one figure a line (the kernel shell's `mem`).
pub fn report(m: &MemStat) -> alloc::string::String {
    use core::fmt::Write;
    let kib = |b: u64| b / 1024;
    let page = crate::vm::vma::PAGE_SIZE;
    let mut s = alloc::string::String::new();
    let heap_other = m
        .heap_allocated
        .saturating_sub(m.process_bytes + m.task_bytes + m.fd_bytes);
    let _ = writeln!(
        s,
        "frames: {} free of {} ({} MiB of {} MiB)",
        m.frames_free,
        m.frames_total,
        m.frames_free * page / (1 << 20),
        m.frames_total * page / (1 << 20)
    );
    let _ = writeln!(
        s,
        "heap:   {} KiB in use in {} allocations, {} KiB claimed ({} KiB free inside)",
        kib(m.heap_allocated),
        m.heap_allocations,
        kib(m.heap_claimed),
        kib(m.heap_claimed.saturating_sub(m.heap_allocated))
    );
    let _ = writeln!(
        s,
        "  process records:   {:>8} KiB ({} processes)",
        kib(m.process_bytes),
        m.processes
    );
    let _ = writeln!(
        s,
        "  tasks:             {:>8} KiB ({} tasks)",
        kib(m.task_bytes),
        m.tasks
    );
    let _ = writeln!(
        s,
        "  descriptor tables: {:>8} KiB ({} tables)",
        kib(m.fd_bytes),
        m.fd_tables
    );
    let _ = writeln!(s, "  other heap:        {:>8} KiB", kib(heap_other));
    let _ = writeln!(
        s,
        "page tables:         {:>8} KiB ({} pages)",
        m.table_pages * page / 1024,
        m.table_pages
    );
    s
}
