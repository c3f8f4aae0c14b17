//! # acpi — the MADT as Tine's own plain data
//!
//! `arch::acpi` finds the ACPI tables (it owns the `unsafe` mapping
//! handler); this module reads the MADT ("APIC" table) out of them into a
//! [`Madt`] of plain vectors: the CPUs' local APICs, the I/O APICs and the
//! ISA interrupt source overrides. Nothing else in Tine touches the `acpi`
//! crate's types.
//!
//! The interpretation is split in two so the logic runs on the host:
//! [`Madt::from_entries`] folds Tine's own [`MadtEntry`] values (tested
//! below), and [`read_madt`] (kernel target only) adapts the crate's
//! entries into them.
//!
//! Consumers: `arch::smp::start_aps` takes the enabled CPUs' APIC ids, the
//! I/O APIC driver takes [`Madt::ioapics`] and asks [`Madt::isa_irq`] where
//! a legacy IRQ (the UART's 4, the PIT's 0) is wired.

use alloc::vec::Vec;

/// One CPU's local APIC, from a Processor Local APIC or Local x2APIC entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lapic {
    /// The ACPI processor UID (ties the CPU to its `Processor` object).
    pub processor_uid: u32,
    /// The local APIC id, which IPIs address.
    pub apic_id: u32,
    /// Whether the CPU can be started: enabled now, or "online capable"
    /// (ACPI 6.3+, may be started by the OS).
    pub enabled: bool,
}

/// One I/O APIC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoApic {
    /// Its I/O APIC id.
    pub id: u8,
    /// Physical address of its registers.
    pub address: u32,
    /// The first global system interrupt (GSI) its inputs carry.
    pub gsi_base: u32,
}

/// An ISA IRQ that is not wired identity / edge / active-high.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IsaOverride {
    /// The ISA IRQ (0..16).
    pub isa_irq: u8,
    /// The GSI it arrives on.
    pub gsi: u32,
    /// Polarity: active low (else active high).
    pub active_low: bool,
    /// Trigger mode: level (else edge).
    pub level_triggered: bool,
}

impl IsaOverride {
    /// Decodes an override from its MPS INTI `flags`: bits 0-1 polarity
    /// (0 = bus default, 1 = high, 3 = low), bits 2-3 trigger mode
    /// (0 = bus default, 1 = edge, 3 = level). The ISA default is edge,
    /// active high; the reserved value 2 is read as the default too.
    pub fn from_flags(isa_irq: u8, gsi: u32, flags: u16) -> Self {
        Self {
            isa_irq,
            gsi,
            active_low: flags & 0b11 == 0b11,
            level_triggered: (flags >> 2) & 0b11 == 0b11,
        }
    }
}

/// What the MADT says, in Tine's terms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Madt {
    /// Every CPU listed, in table order (the BSP included), without
    /// duplicates.
    pub lapics: Vec<Lapic>,
    /// The APIC id of the CPU that read the table (the boot CPU).
    pub bsp_apic_id: u32,
    /// Every I/O APIC.
    pub ioapics: Vec<IoApic>,
    /// Every ISA interrupt source override.
    pub overrides: Vec<IsaOverride>,
    /// The physical address of the local APICs' registers (xAPIC mode).
    pub local_apic_address: u64,
    /// Whether the machine also has dual 8259 PICs (to be masked).
    pub has_8259: bool,
}

/// One MADT entry, as far as Tine cares: a plain copy of the table's
/// fields, so [`Madt::from_entries`] can be tested on the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MadtEntry {
    /// Processor Local APIC (type 0) or Local x2APIC (type 9).
    LocalApic {
        /// ACPI processor UID.
        processor_uid: u32,
        /// (x2)APIC id.
        apic_id: u32,
        /// Bit 0 enabled, bit 1 online capable.
        flags: u32,
    },
    /// I/O APIC (type 1).
    IoApic {
        /// Its id.
        id: u8,
        /// Register base.
        address: u32,
        /// First GSI.
        gsi_base: u32,
    },
    /// Interrupt Source Override (type 2).
    Override {
        /// Bus: 0 is ISA, the only one defined.
        bus: u8,
        /// Bus-relative IRQ.
        irq: u8,
        /// The GSI it arrives on.
        gsi: u32,
        /// MPS INTI flags.
        flags: u16,
    },
    /// Local APIC Address Override (type 5): a 64-bit LAPIC base.
    LocalApicAddress(u64),
}

impl Madt {
    /// Builds the MADT view from its header fields and entries.
    ///
    /// A CPU listed twice (some firmware lists CPUs with small ids in both
    /// a type-0 and a type-9 entry) appears once, enabled if either entry
    /// says so. Overrides on buses other than ISA are ignored.
    pub fn from_entries(
        local_apic_address: u32,
        flags: u32,
        bsp_apic_id: u32,
        entries: impl IntoIterator<Item = MadtEntry>,
    ) -> Self {
        let mut madt = Madt {
            bsp_apic_id,
            local_apic_address: local_apic_address as u64,
            has_8259: flags & 1 != 0,
            ..Madt::default()
        };
        for entry in entries {
            match entry {
                MadtEntry::LocalApic {
                    processor_uid,
                    apic_id,
                    flags,
                } => {
                    let enabled = flags & 0b11 != 0;
                    match madt.lapics.iter_mut().find(|l| l.apic_id == apic_id) {
                        Some(known) => known.enabled |= enabled,
                        None => madt.lapics.push(Lapic {
                            processor_uid,
                            apic_id,
                            enabled,
                        }),
                    }
                }
                MadtEntry::IoApic {
                    id,
                    address,
                    gsi_base,
                } => madt.ioapics.push(IoApic {
                    id,
                    address,
                    gsi_base,
                }),
                MadtEntry::Override {
                    bus: 0,
                    irq,
                    gsi,
                    flags,
                } => madt
                    .overrides
                    .push(IsaOverride::from_flags(irq, gsi, flags)),
                MadtEntry::Override { .. } => {}
                MadtEntry::LocalApicAddress(address) => madt.local_apic_address = address,
            }
        }
        madt
    }

    /// Where ISA IRQ `irq` arrives: `(gsi, active_low, level_triggered)`.
    /// Without an override it is GSI `irq`, edge-triggered, active high.
    pub fn isa_irq(&self, irq: u8) -> (u32, bool, bool) {
        match self.overrides.iter().find(|o| o.isa_irq == irq) {
            Some(o) => (o.gsi, o.active_low, o.level_triggered),
            None => (irq as u32, false, false),
        }
    }

    /// The APIC ids of the CPUs that can be started, BSP included, in
    /// table order: what `arch::smp::start_aps` takes.
    pub fn cpu_apic_ids(&self) -> Vec<u32> {
        self.lapics
            .iter()
            .filter(|l| l.enabled)
            .map(|l| l.apic_id)
            .collect()
    }

    /// The I/O APIC whose inputs carry `gsi`, and the input's index.
    pub fn ioapic_for_gsi(&self, gsi: u32) -> Option<(&IoApic, u32)> {
        // The one with the highest base not above `gsi` (whether the input
        // exists is the I/O APIC driver's check, against its register).
        self.ioapics
            .iter()
            .filter(|io| io.gsi_base <= gsi)
            .max_by_key(|io| io.gsi_base)
            .map(|io| (io, gsi - io.gsi_base))
    }
}

/// Reads the MADT from the ACPI tables at the loader's RSDP
/// (`BootInfo::rsdp`). Run on the boot CPU: the executing CPU's APIC id is
/// recorded as [`Madt::bsp_apic_id`].
#[cfg(target_os = "none")]
pub fn read_madt(rsdp_phys: u64) -> Result<Madt, ::acpi::AcpiError> {
    use ::acpi::madt::{Madt as RawMadt, MadtEntry as Raw};

    let tables = arch::acpi::tables(rsdp_phys)?;
    let raw = tables.find_table::<RawMadt>()?;
    let raw = raw.get();
    // Packed fields: copy each out before use.
    let (lapic_address, flags) = (raw.local_apic_address, raw.flags);
    let entries = raw.entries().filter_map(|entry| match entry {
        Raw::LocalApic(e) => Some(MadtEntry::LocalApic {
            processor_uid: e.processor_id as u32,
            apic_id: e.apic_id as u32,
            flags: { e.flags },
        }),
        Raw::LocalX2Apic(e) => Some(MadtEntry::LocalApic {
            processor_uid: { e.processor_uid },
            apic_id: { e.x2apic_id },
            flags: { e.flags },
        }),
        Raw::IoApic(e) => Some(MadtEntry::IoApic {
            id: e.io_apic_id,
            address: { e.io_apic_address },
            gsi_base: { e.global_system_interrupt_base },
        }),
        Raw::InterruptSourceOverride(e) => Some(MadtEntry::Override {
            bus: e.bus,
            irq: e.irq,
            gsi: { e.global_system_interrupt },
            flags: { e.flags },
        }),
        Raw::LocalApicAddressOverride(e) => Some(MadtEntry::LocalApicAddress(e.local_apic_address)),
        _ => None,
    });
    Ok(Madt::from_entries(
        lapic_address,
        flags,
        arch::smp::cpu_apic_id(0),
        entries,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The MADT QEMU's q35 machine gives at `-smp 2`: two CPUs, one I/O
    /// APIC, the PIT moved to GSI 2 and the SCI level-triggered, plus the
    /// usual edge/high overrides of 5, 9, 10, 11.
    fn q35() -> Madt {
        let entries = [
            MadtEntry::LocalApic {
                processor_uid: 0,
                apic_id: 0,
                flags: 1,
            },
            MadtEntry::LocalApic {
                processor_uid: 1,
                apic_id: 1,
                flags: 1,
            },
            MadtEntry::IoApic {
                id: 0,
                address: 0xfec0_0000,
                gsi_base: 0,
            },
            MadtEntry::Override {
                bus: 0,
                irq: 0,
                gsi: 2,
                flags: 0,
            },
            MadtEntry::Override {
                bus: 0,
                irq: 5,
                gsi: 5,
                flags: 0xd,
            },
            MadtEntry::Override {
                bus: 0,
                irq: 9,
                gsi: 9,
                flags: 0xd,
            },
            MadtEntry::Override {
                bus: 0,
                irq: 10,
                gsi: 10,
                flags: 0xd,
            },
            MadtEntry::Override {
                bus: 0,
                irq: 11,
                gsi: 11,
                flags: 0xd,
            },
        ];
        Madt::from_entries(0xfee0_0000, 1, 0, entries)
    }

    #[test]
    fn acpi_q35_cpus_and_ioapic() {
        let madt = q35();
        assert_eq!(madt.cpu_apic_ids(), [0, 1]);
        assert_eq!(madt.bsp_apic_id, 0);
        assert_eq!(
            madt.ioapics,
            [IoApic {
                id: 0,
                address: 0xfec0_0000,
                gsi_base: 0
            }]
        );
        assert_eq!(madt.local_apic_address, 0xfee0_0000);
        assert!(madt.has_8259);
        assert_eq!(madt.overrides.len(), 5);
    }

    #[test]
    fn acpi_isa_irq_without_override_is_identity_edge_high() {
        let madt = q35();
        assert_eq!(madt.isa_irq(4), (4, false, false));
        assert_eq!(madt.isa_irq(1), (1, false, false));
        assert_eq!(Madt::default().isa_irq(0), (0, false, false));
    }

    #[test]
    fn acpi_isa_irq_applies_override() {
        let madt = q35();
        // The PIT: moved to GSI 2, bus defaults (edge, high).
        assert_eq!(madt.isa_irq(0), (2, false, false));
        // flags 0xd = polarity 01 (high), trigger 11 (level).
        assert_eq!(madt.isa_irq(9), (9, false, true));
    }

    #[test]
    fn acpi_override_flags_decode() {
        let o = |flags| {
            let o = IsaOverride::from_flags(3, 19, flags);
            (o.active_low, o.level_triggered)
        };
        assert_eq!(o(0b0000), (false, false), "bus defaults");
        assert_eq!(o(0b0101), (false, false), "explicit edge, high");
        assert_eq!(o(0b1111), (true, true), "level, low");
        assert_eq!(o(0b0011), (true, false), "edge, low");
        assert_eq!(o(0b1101), (false, true), "level, high");
        assert_eq!(
            o(0b1010),
            (false, false),
            "reserved values read as defaults"
        );
        assert_eq!(IsaOverride::from_flags(3, 19, 0xf).gsi, 19);
    }

    #[test]
    fn acpi_non_isa_overrides_are_ignored() {
        let madt = Madt::from_entries(
            0,
            0,
            0,
            [MadtEntry::Override {
                bus: 1,
                irq: 4,
                gsi: 20,
                flags: 0xf,
            }],
        );
        assert!(madt.overrides.is_empty());
        assert_eq!(madt.isa_irq(4), (4, false, false));
    }

    #[test]
    fn acpi_disabled_and_online_capable_cpus() {
        let madt = Madt::from_entries(
            0,
            0,
            0,
            [
                MadtEntry::LocalApic {
                    processor_uid: 0,
                    apic_id: 0,
                    flags: 1,
                },
                MadtEntry::LocalApic {
                    processor_uid: 1,
                    apic_id: 2,
                    flags: 0,
                },
                MadtEntry::LocalApic {
                    processor_uid: 2,
                    apic_id: 4,
                    flags: 0b10,
                },
            ],
        );
        assert_eq!(madt.lapics.len(), 3);
        assert_eq!(madt.cpu_apic_ids(), [0, 4]);
    }

    #[test]
    fn acpi_cpu_listed_as_xapic_and_x2apic_appears_once() {
        let madt = Madt::from_entries(
            0,
            0,
            0,
            [
                MadtEntry::LocalApic {
                    processor_uid: 0,
                    apic_id: 0,
                    flags: 1,
                },
                MadtEntry::LocalApic {
                    processor_uid: 0,
                    apic_id: 0,
                    flags: 1,
                },
                MadtEntry::LocalApic {
                    processor_uid: 300,
                    apic_id: 300,
                    flags: 1,
                },
            ],
        );
        assert_eq!(madt.cpu_apic_ids(), [0, 300]);
    }

    #[test]
    fn acpi_local_apic_address_override() {
        let madt = Madt::from_entries(
            0xfee0_0000,
            0,
            0,
            [MadtEntry::LocalApicAddress(0x1_0000_0000)],
        );
        assert_eq!(madt.local_apic_address, 0x1_0000_0000);
    }

    #[test]
    fn acpi_ioapic_for_gsi_picks_the_covering_ioapic() {
        let madt = Madt::from_entries(
            0,
            0,
            0,
            [
                MadtEntry::IoApic {
                    id: 0,
                    address: 0xfec0_0000,
                    gsi_base: 0,
                },
                MadtEntry::IoApic {
                    id: 1,
                    address: 0xfec0_1000,
                    gsi_base: 24,
                },
            ],
        );
        assert_eq!(
            madt.ioapic_for_gsi(2).map(|(io, pin)| (io.id, pin)),
            Some((0, 2))
        );
        assert_eq!(
            madt.ioapic_for_gsi(30).map(|(io, pin)| (io.id, pin)),
            Some((1, 6))
        );
    }
}
