//! The kernel heap: `talc`, started on a region taken from the memory map
//! at boot and grown from the frame allocator when it runs out.
//!
//! The heap lock masks interrupts ([`IrqRawMutex`]), because an interrupt
//! handler that wakes a task may allocate (a run-queue block).

use core::alloc::Layout;
use talc::{OomHandler, Span, Talc, Talck};

use super::{PAGE_SIZE, frame, phys_to_virt};
use crate::boot::MemoryMap;
use crate::sync::IrqRawMutex;

/// Heap growth step: at least this much is claimed from frames at once.
const GROW_BYTES: usize = 2 << 20;

/// Grows the heap from contiguous frames.
pub struct GrowFromFrames;

impl OomHandler for GrowFromFrames {
    fn handle_oom(talc: &mut Talc<Self>, layout: Layout) -> Result<(), ()> {
        let bytes = (layout.size() + layout.align() + 4 * PAGE_SIZE as usize)
            .max(GROW_BYTES)
            .next_multiple_of(PAGE_SIZE as usize);
        let pa = frame::alloc_contiguous_raw(bytes / PAGE_SIZE as usize).ok_or(())?;
        let base = phys_to_virt(pa) as *mut u8;
        // SAFETY: the frames were just allocated (refcount 1) and are never
        // freed, so the heap owns them for good; the direct map covers them.
        unsafe { talc.claim(Span::from_base_size(base, bytes)) }.map(|_| ())
    }
}

#[global_allocator]
static HEAP: Talck<IrqRawMutex, GrowFromFrames> = Talc::new(GrowFromFrames).lock();

/// Starts the heap on a region big enough for the frame allocator's own
/// bookkeeping (4 bytes of refcount and 1 bit per frame) plus 4 MiB.
pub(crate) fn init(memory: &mut MemoryMap) {
    let frames = memory.ram_end().div_ceil(PAGE_SIZE);
    let bytes = (4 << 20) + frames * 5;
    let pa = memory
        .take(bytes, PAGE_SIZE, u64::MAX)
        .expect("no memory for the initial heap");
    let size = bytes.next_multiple_of(PAGE_SIZE) as usize;
    // SAFETY: the region was removed from the memory map (nobody else will
    // own it) and is reachable through the direct map.
    unsafe {
        HEAP.lock()
            .claim(Span::from_base_size(phys_to_virt(pa) as *mut u8, size))
    }
    .expect("heap claim");
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
    /// Bytes the heap owns (initial region plus growth).
    pub claimed_bytes: usize,
}

/// A snapshot of the heap's counters.
pub fn stats() -> HeapStats {
    let heap = HEAP.lock();
    let c = heap.get_counters();
    HeapStats {
        allocated_bytes: c.allocated_bytes,
        allocations: c.allocation_count,
        total_allocated_bytes: c.total_allocated_bytes,
        claimed_bytes: c.claimed_bytes,
    }
}

/// Bytes the heap currently has in use.
pub fn allocated_bytes() -> usize {
    stats().allocated_bytes
}
