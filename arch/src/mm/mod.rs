//! Memory: the kernel's virtual layout, page tables, physical frames and
//! the heap.
//!
//! Virtual layout (PML4 index in brackets):
//!
//! | range | what |
//! |---|---|
//! | `0000_0000_0000_0000 ..` | user space, PML4 slots 0..256 |
//! | `ffff_8000_0000_0000 ..` | direct map of all RAM, [`PHYS_OFFSET`], PML4 slots 256.. |
//! | `ffff_c000_0000_0000 ..` | kernel mappings of frames and MMIO, [`VMAP_BASE`], PML4 slot 384 |
//! | `ffff_ffff_8000_0000 ..` | the kernel image, [`KERNEL_VIRT`], PML4 slot 511 |
//!
//! The upper-half PML4 entries are created once at boot and never change,
//! so every address space can share them by copying the top 256 entries.

pub mod boxed;
pub mod frame;
pub mod frame_alloc;
#[cfg(target_os = "none")]
pub mod heap;
pub mod heap_cache;
#[cfg(target_os = "none")]
pub mod paging;
#[cfg(target_os = "none")]
pub mod user;

pub use frame::{Frame, SharedFrame};

/// Base of the direct map of physical memory.
pub const PHYS_OFFSET: u64 = 0xffff_8000_0000_0000;
/// Base of the kernel image window (physical address + this).
pub const KERNEL_VIRT: u64 = 0xffff_ffff_8000_0000;
/// Base of the window for kernel mappings of frames and MMIO.
pub const VMAP_BASE: u64 = 0xffff_c000_0000_0000;
/// Size of that window (one PML4 entry).
pub const VMAP_SIZE: u64 = 1 << 39;

pub use crate::boot::memmap::PAGE_SIZE;

/// The direct-map address of physical address `pa`.
pub const fn phys_to_virt(pa: u64) -> u64 {
    PHYS_OFFSET + pa
}

#[cfg(target_os = "none")]
pub(crate) use paging::init;

/// A reserved physical range (a boot module) as bytes, through the
/// direct map.
#[cfg(target_os = "none")]
pub(crate) fn reserved_bytes(pa: u64, len: usize) -> &'static [u8] {
    // SAFETY: the range was removed from the memory map before the frame
    // allocator was built, so no frame in it is ever handed out or written;
    // the direct map covers all RAM and stays mapped forever.
    unsafe { core::slice::from_raw_parts(phys_to_virt(pa) as *const u8, len) }
}
