//! Page tables: the boot-time build of the kernel's tables and the
//! kernel mappings of frames and MMIO in the `VMAP` window (and of the
//! heap's growth from scattered frames, [`HeapVmap`]).

use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::structures::paging::{
    FrameAllocator, Mapper, OffsetPageTable, Page, PageSize, PageTable, PageTableFlags as F,
    PhysFrame, Size1GiB, Size2MiB, Size4KiB,
};
use x86_64::{PhysAddr, VirtAddr};

use super::{KERNEL_VIRT, PAGE_SIZE, PHYS_OFFSET, VMAP_BASE, VMAP_SIZE};
use crate::boot::MemoryMap;
use crate::cpu::Features;

const GIB: u64 = 1 << 30;

/// Physical address of the kernel's PML4.
static KERNEL_PML4: AtomicU64 = AtomicU64::new(0);

/// The kernel's PML4, as CR3 holds it.
pub fn kernel_pml4() -> u64 {
    KERNEL_PML4.load(Ordering::Relaxed)
}

/// Page-table frames taken straight from the memory map, before the frame
/// allocator exists. They stay page tables forever.
struct EarlyFrames<'a>(&'a mut MemoryMap);

// SAFETY: `take` removes each frame from the map, so no frame is returned
// twice or later handed to the frame allocator; the frames are below 4 GiB,
// where the boot identity map (offset 0) reaches them.
unsafe impl FrameAllocator<Size4KiB> for EarlyFrames<'_> {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        let pa = self.0.take(PAGE_SIZE, PAGE_SIZE, 4 * GIB)?;
        Some(PhysFrame::containing_address(PhysAddr::new(pa)))
    }
}

/// Builds and loads the kernel's page tables, then starts the heap and the
/// frame allocator from what is left of `memory`.
pub(crate) fn init(memory: &mut MemoryMap) {
    let nx = if Features::get().nx {
        F::NO_EXECUTE
    } else {
        F::empty()
    };
    let mut early = EarlyFrames(memory);
    let pml4_frame = early
        .allocate_frame()
        .expect("no memory for the kernel PML4");
    let pml4_ptr = pml4_frame.start_address().as_u64() as *mut PageTable;
    // SAFETY: the frame was just taken from the memory map (so nothing else
    // uses it) and is identity-mapped by the boot tables.
    let pml4 = unsafe {
        pml4_ptr.write(PageTable::new());
        &mut *pml4_ptr
    };
    // SAFETY: offset 0 is correct while the boot identity map is active, and
    // every table reachable from this new PML4 comes from `early` (< 4 GiB).
    let mut mapper = unsafe { OffsetPageTable::new(pml4, VirtAddr::new(0)) };
    let table = F::PRESENT | F::WRITABLE;

    // The direct map: all of RAM (and the holes between, up to the last
    // GiB boundary above the highest RAM address, at least 4 GiB so
    // low firmware tables are covered), read-write, no execute.
    let end = early.0.ram_end().max(4 * GIB).div_ceil(GIB) * GIB;
    let dm = table | F::GLOBAL | nx;
    if Features::get().pdpe1gb {
        map_direct::<Size1GiB>(&mut mapper, end, dm, &mut early);
    } else {
        map_direct::<Size2MiB>(&mut mapper, end, dm, &mut early);
    }

    // The kernel image, W^X by segment.
    unsafe extern "C" {
        static __text_start: u8;
        static __text_end: u8;
        static __rodata_start: u8;
        static __rodata_end: u8;
        static __data_start: u8;
        static __data_end: u8;
    }
    let segments = [
        (
            &raw const __text_start as u64,
            &raw const __text_end as u64,
            F::empty(),
        ),
        (
            &raw const __rodata_start as u64,
            &raw const __rodata_end as u64,
            nx,
        ),
        (
            &raw const __data_start as u64,
            &raw const __data_end as u64,
            F::WRITABLE | nx,
        ),
    ];
    for (start, end, flags) in segments {
        for va in (start..end).step_by(PAGE_SIZE as usize) {
            let page = Page::<Size4KiB>::containing_address(VirtAddr::new(va));
            let frame = PhysFrame::containing_address(PhysAddr::new(va - KERNEL_VIRT));
            // SAFETY: maps the kernel image onto itself, as linked.
            unsafe {
                mapper.map_to_with_table_flags(
                    page,
                    frame,
                    F::PRESENT | F::GLOBAL | flags,
                    table,
                    &mut early,
                )
            }
            .expect("kernel image map")
            .ignore();
        }
    }

    // The VMAP window's PDPT exists from the start, so later kernel mappings
    // appear in every address space that copied the upper half.
    let vmap_pdpt = early.allocate_frame().expect("no memory for the VMAP PDPT");
    let vmap_ptr = vmap_pdpt.start_address().as_u64() as *mut PageTable;
    // SAFETY: fresh frame from the map, identity-mapped; the PML4 entry
    // index 384 is unused so far.
    unsafe {
        vmap_ptr.write(PageTable::new());
        let pml4 = &mut *pml4_ptr;
        pml4[((VMAP_BASE >> 39) & 511) as usize].set_frame(vmap_pdpt, table);
    }

    KERNEL_PML4.store(pml4_frame.start_address().as_u64(), Ordering::Relaxed);
    // SAFETY: the new tables map the running code (kernel image), the stack
    // (.bss) and all RAM through the direct map; nothing after this point
    // uses the identity map except through `phys_to_virt`.
    unsafe {
        x86_64::registers::control::Cr3::write(
            pml4_frame,
            x86_64::registers::control::Cr3Flags::empty(),
        )
    };

    super::heap::init(memory);
    super::frame::init(memory);
}

/// Maps physical `[0, end)` at [`PHYS_OFFSET`] with pages of size `S`.
fn map_direct<S: PageSize + core::fmt::Debug>(
    mapper: &mut OffsetPageTable<'_>,
    end: u64,
    flags: F,
    early: &mut EarlyFrames<'_>,
) where
    for<'a> OffsetPageTable<'a>: Mapper<S>,
{
    for pa in (0..end).step_by(S::SIZE as usize) {
        let page = Page::<S>::containing_address(VirtAddr::new(PHYS_OFFSET + pa));
        let frame = PhysFrame::<S>::containing_address(PhysAddr::new(pa));
        // SAFETY: the new tables are not active yet; the direct map aliases
        // physical memory by design and is reached only through
        // `phys_to_virt` users that own what they touch.
        unsafe {
            mapper.map_to_with_table_flags(page, frame, flags, F::PRESENT | F::WRITABLE, early)
        }
        .expect("direct map")
        .ignore();
    }
}

/// The frame allocator, seen by x86_64's mapper for new page-table pages.
struct TableFrames;

// SAFETY: each frame comes from the global frame allocator with refcount 1
// and is leaked into the page tables (never freed), so it is never handed
// out twice.
unsafe impl FrameAllocator<Size4KiB> for TableFrames {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        let frame = super::Frame::alloc_zeroed()?;
        Some(PhysFrame::containing_address(PhysAddr::new(frame.leak())))
    }
}

/// The kernel's tables through the direct map.
///
/// # Safety
/// The caller must hold [`VMAP_LOCK`] (the only writer of kernel mappings
/// after boot), so no two mappers walk the same tables at once.
unsafe fn kernel_mapper() -> OffsetPageTable<'static> {
    let pml4 = (PHYS_OFFSET + kernel_pml4()) as *mut PageTable;
    // SAFETY: the PML4 is reached through the direct map; exclusive use is
    // the caller's contract.
    unsafe { OffsetPageTable::new(&mut *pml4, VirtAddr::new(PHYS_OFFSET)) }
}

/// Serialises changes to kernel mappings; holds the next free VMAP address.
static VMAP_LOCK: spin::Mutex<u64> = spin::Mutex::new(VMAP_BASE);

/// Reserves `pages` pages of VMAP address space (plus one guard page).
/// Addresses are never reused, so a stale TLB entry on another CPU can
/// never point a new mapping at an old frame.
fn vmap_reserve(next: &mut u64, pages: u64) -> Option<u64> {
    let va = *next;
    let end = va.checked_add((pages + 1) * PAGE_SIZE)?;
    if end > VMAP_BASE + VMAP_SIZE {
        return None;
    }
    *next = end;
    Some(va)
}

/// Maps `frames` contiguously in the VMAP window with `flags`.
pub(crate) fn vmap_frames(frames: &[u64], writable: bool, uncached: bool) -> Option<u64> {
    let nx = if Features::get().nx {
        F::NO_EXECUTE
    } else {
        F::empty()
    };
    let mut flags = F::PRESENT | F::GLOBAL | nx;
    if writable {
        flags |= F::WRITABLE;
    }
    if uncached {
        flags |= F::NO_CACHE | F::WRITE_THROUGH;
    }
    let mut next = VMAP_LOCK.lock();
    let base = vmap_reserve(&mut next, frames.len() as u64)?;
    // SAFETY: VMAP_LOCK is held.
    let mut mapper = unsafe { kernel_mapper() };
    for (i, &pa) in frames.iter().enumerate() {
        let page = Page::<Size4KiB>::containing_address(VirtAddr::new(base + i as u64 * PAGE_SIZE));
        let frame = PhysFrame::containing_address(PhysAddr::new(pa));
        // SAFETY: `page` is fresh VMAP space nobody else maps; the caller
        // owns the frame (or it is MMIO the caller owns).
        unsafe {
            mapper.map_to_with_table_flags(
                page,
                frame,
                flags,
                F::PRESENT | F::WRITABLE,
                &mut TableFrames,
            )
        }
        .ok()?
        .flush();
    }
    Some(base)
}

/// Unmaps `pages` pages at `base` in the VMAP window (local TLB flush;
/// VMAP addresses are never reused, see [`vmap_reserve`]).
pub(crate) fn vunmap(base: u64, pages: usize) {
    let _guard = VMAP_LOCK.lock();
    // SAFETY: VMAP_LOCK is held.
    let mut mapper = unsafe { kernel_mapper() };
    for i in 0..pages as u64 {
        let page = Page::<Size4KiB>::containing_address(VirtAddr::new(base + i * PAGE_SIZE));
        if let Ok((_, flush)) = mapper.unmap(page) {
            flush.flush();
        }
    }
}

/// Translates a kernel virtual address through the kernel's tables.
pub fn translate(va: u64) -> Option<u64> {
    use x86_64::structures::paging::Translate;
    let _guard = VMAP_LOCK.lock();
    // SAFETY: VMAP_LOCK is held.
    let mapper = unsafe { kernel_mapper() };
    mapper.translate_addr(VirtAddr::new(va)).map(|p| p.as_u64())
}

/// Maps `len` bytes of MMIO at physical `pa`, uncached, and returns the
/// virtual address of `pa`.
pub(crate) fn map_mmio(pa: u64, len: u64) -> Option<u64> {
    let first = pa & !(PAGE_SIZE - 1);
    let last = (pa + len).div_ceil(PAGE_SIZE) * PAGE_SIZE;
    let mut frames = [0u64; 16];
    let n = ((last - first) / PAGE_SIZE) as usize;
    if n > frames.len() {
        return None;
    }
    for (i, f) in frames[..n].iter_mut().enumerate() {
        *f = first + i as u64 * PAGE_SIZE;
    }
    Some(vmap_frames(&frames[..n], true, true)? + (pa - first))
}

/// Frames for kernel page-table pages made while the heap grows (its
/// out-of-memory handler holds the heap's lock): taken raw, the reserve
/// included, never through `Frame::alloc`, which trims the heap (taking
/// that lock) when frames run short.
struct RawTableFrames;

// SAFETY: each frame comes from the frame allocator with refcount 1 and is
// leaked into the page tables (never freed), zeroed through the direct map
// before it is returned, so it is never handed out twice.
unsafe impl FrameAllocator<Size4KiB> for RawTableFrames {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        let pa = super::frame::alloc_contiguous_raw(1)?;
        // SAFETY: a frame just allocated for us alone, reached through
        // the direct map.
        unsafe { core::ptr::write_bytes((PHYS_OFFSET + pa) as *mut u8, 0, PAGE_SIZE as usize) };
        Some(PhysFrame::containing_address(PhysAddr::new(pa)))
    }
}

/// The VMAP window held for the heap's mapped growth ([`lock_vmap_for_heap`]).
pub(crate) struct HeapVmap(spin::MutexGuard<'static, u64>);

/// The VMAP lock for the heap, tried `tries` times: the heap calls this
/// with its own lock held, and a VMAP holder may be waiting for that lock
/// (a `vmap_frames` whose table frame made `Frame::alloc` trim the heap),
/// so it must not wait for good. None if it stayed busy.
pub(crate) fn lock_vmap_for_heap(tries: usize) -> Option<HeapVmap> {
    for _ in 0..tries {
        if let Some(g) = VMAP_LOCK.try_lock() {
            return Some(HeapVmap(g));
        }
        core::hint::spin_loop();
    }
    None
}

impl HeapVmap {
    /// Maps `pages` frames, each from `frame`, contiguously and writable
    /// in fresh VMAP space (no guard page is needed: the heap never runs
    /// past a region's end); their table pages come from
    /// [`RawTableFrames`]. On failure every frame taken so far is
    /// unmapped and passed to `free`, and None is returned.
    pub(crate) fn map(
        &mut self,
        pages: usize,
        frame: &mut dyn FnMut() -> Option<u64>,
        free: &mut dyn FnMut(u64),
    ) -> Option<u64> {
        let nx = if Features::get().nx {
            F::NO_EXECUTE
        } else {
            F::empty()
        };
        let flags = F::PRESENT | F::GLOBAL | F::WRITABLE | nx;
        let base = vmap_reserve(&mut self.0, pages as u64)?;
        // SAFETY: VMAP_LOCK is held (`self`).
        let mut mapper = unsafe { kernel_mapper() };
        for i in 0..pages {
            let page =
                Page::<Size4KiB>::containing_address(VirtAddr::new(base + i as u64 * PAGE_SIZE));
            let mapped = frame().and_then(|pa| {
                let f = PhysFrame::containing_address(PhysAddr::new(pa));
                // SAFETY: `page` is fresh VMAP space nobody else maps; the
                // frame was just allocated for the heap.
                match unsafe {
                    mapper.map_to_with_table_flags(
                        page,
                        f,
                        flags,
                        F::PRESENT | F::WRITABLE,
                        &mut RawTableFrames,
                    )
                } {
                    Ok(flush) => {
                        flush.flush();
                        Some(())
                    }
                    Err(_) => {
                        free(pa);
                        None
                    }
                }
            });
            if mapped.is_none() {
                self.unmap(base, i, free);
                return None;
            }
        }
        Some(base)
    }

    /// Unmaps `pages` pages at `base` (mapped by [`HeapVmap::map`]) and
    /// passes each one's frame to `free`. The TLB is flushed on this CPU
    /// only: VMAP addresses are never reused ([`vmap_reserve`]) and no
    /// heap block lives there any more, so no CPU reads through a stale
    /// entry.
    pub(crate) fn unmap(&mut self, base: u64, pages: usize, free: &mut dyn FnMut(u64)) {
        // SAFETY: VMAP_LOCK is held (`self`).
        let mut mapper = unsafe { kernel_mapper() };
        for i in 0..pages as u64 {
            let page = Page::<Size4KiB>::containing_address(VirtAddr::new(base + i * PAGE_SIZE));
            if let Ok((frame, flush)) = mapper.unmap(page) {
                flush.flush();
                free(frame.start_address().as_u64());
            }
        }
    }
}
