//! I/O APICs: device interrupts by global system interrupt (GSI).
//!
//! The MADT parser (in `drivers`) hands each I/O APIC's address and GSI
//! base to [`init`], and resolves ISA overrides itself; [`route`] then
//! takes the final GSI, polarity and trigger mode. Entries use fixed
//! delivery to one CPU in physical destination mode (APIC ids up to 255,
//! which is all xAPIC-style IOAPIC destinations can name without
//! interrupt remapping).

use crate::sync::IrqMutex;

/// Most I/O APICs Tine keeps track of.
const MAX_IOAPICS: usize = 8;

const IOREGSEL: u64 = 0x00;
const IOWIN: u64 = 0x10;
const REG_VERSION: u32 = 0x01;
const fn redirection(index: u32) -> u32 {
    0x10 + 2 * index
}
const ENTRY_MASKED: u32 = 1 << 16;
const ENTRY_LEVEL: u32 = 1 << 15;
const ENTRY_ACTIVE_LOW: u32 = 1 << 13;

#[derive(Clone, Copy, Debug)]
struct IoApic {
    /// Virtual address of the register window.
    va: u64,
    gsi_base: u32,
    entries: u32,
}

impl IoApic {
    fn read(&self, reg: u32) -> u32 {
        // SAFETY: `va` maps this I/O APIC's registers (uncached, forever,
        // by `init`); the select/window pair is used under `IOAPICS`' lock,
        // so no other CPU interleaves a select.
        unsafe {
            core::ptr::write_volatile((self.va + IOREGSEL) as *mut u32, reg);
            core::ptr::read_volatile((self.va + IOWIN) as *const u32)
        }
    }

    fn write(&self, reg: u32, value: u32) {
        // SAFETY: as in `read`.
        unsafe {
            core::ptr::write_volatile((self.va + IOREGSEL) as *mut u32, reg);
            core::ptr::write_volatile((self.va + IOWIN) as *mut u32, value);
        }
    }

    fn contains(&self, gsi: u32) -> bool {
        gsi >= self.gsi_base && gsi - self.gsi_base < self.entries
    }
}

/// The known I/O APICs. An IRQ-masking lock: the selector/window protocol
/// must not be interleaved, and a handler may mask its own line.
static IOAPICS: IrqMutex<[Option<IoApic>; MAX_IOAPICS]> = IrqMutex::new([None; MAX_IOAPICS]);

/// Why [`init`] or [`route`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoApicError {
    /// No registered I/O APIC handles this GSI.
    NoSuchGsi,
    /// The vector is not a device/IPI vector (see `irq::vector`).
    BadVector,
    /// The destination APIC id does not fit the 8-bit destination field.
    BadDestination,
    /// Too many I/O APICs, or no VMAP space to map one.
    NoRoom,
}

/// Registers the I/O APIC at physical `phys_base` serving GSIs from
/// `gsi_base`: maps its registers and masks every entry.
pub fn init(phys_base: u64, gsi_base: u32) -> Result<(), IoApicError> {
    let va = crate::mm::paging::map_mmio(phys_base, 0x20).ok_or(IoApicError::NoRoom)?;
    let mut apic = IoApic {
        va,
        gsi_base,
        entries: 0,
    };
    apic.entries = ((apic.read(REG_VERSION) >> 16) & 0xff) + 1;
    let mut all = IOAPICS.lock();
    for i in 0..apic.entries {
        apic.write(redirection(i), ENTRY_MASKED);
        apic.write(redirection(i) + 1, 0);
    }
    let slot = all
        .iter_mut()
        .find(|s| s.is_none())
        .ok_or(IoApicError::NoRoom)?;
    *slot = Some(apic);
    Ok(())
}

/// Routes `gsi` to `vector` on the CPU with APIC id `dest_apic`, with the
/// given trigger mode and polarity, and unmasks it.
pub fn route(
    gsi: u32,
    vector: u8,
    dest_apic: u32,
    level_triggered: bool,
    active_low: bool,
) -> Result<(), IoApicError> {
    if !super::vector::is_registrable(vector) {
        return Err(IoApicError::BadVector);
    }
    if dest_apic > 0xff {
        return Err(IoApicError::BadDestination);
    }
    let all = IOAPICS.lock();
    let apic = all
        .iter()
        .flatten()
        .find(|a| a.contains(gsi))
        .ok_or(IoApicError::NoSuchGsi)?;
    let index = gsi - apic.gsi_base;
    let mut low = vector as u32; // fixed delivery, physical destination
    if level_triggered {
        low |= ENTRY_LEVEL;
    }
    if active_low {
        low |= ENTRY_ACTIVE_LOW;
    }
    // Masked while the destination changes, then unmasked in one write.
    apic.write(redirection(index), low | ENTRY_MASKED);
    apic.write(redirection(index) + 1, dest_apic << 24);
    apic.write(redirection(index), low);
    Ok(())
}

/// Masks (`true`) or unmasks `gsi`, keeping its routing.
pub fn set_masked(gsi: u32, masked: bool) -> Result<(), IoApicError> {
    let all = IOAPICS.lock();
    let apic = all
        .iter()
        .flatten()
        .find(|a| a.contains(gsi))
        .ok_or(IoApicError::NoSuchGsi)?;
    let reg = redirection(gsi - apic.gsi_base);
    let low = apic.read(reg);
    apic.write(
        reg,
        if masked {
            low | ENTRY_MASKED
        } else {
            low & !ENTRY_MASKED
        },
    );
    Ok(())
}
