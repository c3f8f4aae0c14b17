//! ACPI tables, reached through the direct map.
//!
//! The `acpi` crate parses the static tables but leaves mapping physical
//! memory to the kernel through its `unsafe` [`AcpiHandler`] trait, and its
//! entry point [`AcpiTables::from_rsdp`] is `unsafe` too. This module is the
//! one place that implements and calls them: [`DirectMap`] hands out views
//! of the direct map (which covers at least 0..4 GiB, where firmware puts
//! the tables), and [`tables`] is the safe way in. `drivers::acpi` turns
//! what it finds into Tine's own plain structures (MADT: CPUs, I/O APICs,
//! ISA overrides).
//!
//! Tine version choice: `acpi` 5.2 with default features off. Its defaults
//! (`alloc`, `allocator_api`) need the nightly `allocator_api` feature, 6.x
//! needs it unconditionally, and 7.0.0-pre1's `alloc` needs nightly
//! `allocator_ext`. Without them, 5.2 still gives table discovery, checksum
//! validation and the MADT entry iterator, which is all Tine needs.

pub use acpi::{AcpiError, AcpiHandler, AcpiTables, PhysicalMapping};

use core::ptr::NonNull;

/// The end of the physical range every direct map covers, whatever the RAM
/// size (see `mm::paging::init`).
const DIRECT_MAP_MIN_END: u64 = 4 << 30;

/// An [`AcpiHandler`] that maps nothing: every physical address below
/// 4 GiB already has a permanent virtual alias in the direct map.
///
/// Tine never writes ACPI tables: the crate offers `DerefMut` on mappings of
/// `Unpin` tables, and no Tine code may use it (the tables are firmware's,
/// and two mappings of one table alias each other).
#[derive(Clone, Copy, Debug, Default)]
pub struct DirectMap;

impl AcpiHandler for DirectMap {
    /// # Safety
    /// The crate's contract: `physical_address` holds a valid `T` and `size`
    /// is at least `size_of::<T>()`. Panics if the region leaves the low
    /// 4 GiB, which the direct map is guaranteed to cover.
    unsafe fn map_physical_region<T>(
        &self,
        physical_address: usize,
        size: usize,
    ) -> PhysicalMapping<Self, T> {
        let pa = physical_address as u64;
        let end = pa.checked_add(size as u64).expect("ACPI region wraps");
        assert!(
            end <= DIRECT_MAP_MIN_END,
            "ACPI region {pa:#x}+{size:#x} is above 4 GiB"
        );
        let va = NonNull::new(crate::mm::phys_to_virt(pa) as *mut T)
            .expect("the direct map is never at 0");
        // SAFETY: (1) `va` is the direct-map alias of `pa`, mapped for the
        // whole region (checked below 4 GiB above) and forever, so it stays
        // valid for any lifetime of the mapping; (2) region and mapped
        // length are the requested `size`, at least `size_of::<T>()` by the
        // caller's contract; (3) the handler is the one that "unmaps" it
        // (a no-op).
        unsafe { PhysicalMapping::new(physical_address, va, size, size, *self) }
    }

    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {
        // The direct map is permanent: nothing to undo.
    }
}

/// The ACPI tables found from the RSDP at physical `rsdp_phys`.
///
/// Pass the address the loader reported ([`crate::boot::BootInfo::rsdp`]);
/// the tables are only read, never written.
///
/// Errors: the RSDP's signature or checksum is wrong, or the RSDT/XSDT it
/// names is invalid.
#[cfg(target_os = "none")]
pub fn tables(rsdp_phys: u64) -> Result<AcpiTables<DirectMap>, AcpiError> {
    // The RSDP is 16-byte aligned in low memory (ACPI 6.5, 5.2.5.1).
    if !rsdp_phys.is_multiple_of(16) || rsdp_phys >= DIRECT_MAP_MIN_END {
        return Err(AcpiError::RsdpIncorrectSignature);
    }
    // SAFETY: `from_rsdp` requires an address that is valid to read as an
    // RSDP. (1) The address comes from the loader's `hvm_start_info`
    // (`BootInfo::rsdp`), which points at firmware-provided RAM below
    // 4 GiB, so reading it through the direct map reads memory, not a
    // device; (2) the crate checks the signature and checksum before it
    // follows any pointer in it, and every table it then maps is named by
    // the validated RSDT/XSDT and length-checked by the crate; (3) the
    // memory is never written by Tine (see `DirectMap`), so the shared
    // references the crate creates stay valid.
    unsafe { AcpiTables::from_rsdp(DirectMap, rsdp_phys as usize) }
}
