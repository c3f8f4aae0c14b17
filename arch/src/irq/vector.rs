//! Interrupt vector numbers (the table is in the [`super`] module docs)
//! and exception names.

pub const DIVIDE_ERROR: u8 = 0;
pub const DEBUG: u8 = 1;
pub const NMI: u8 = 2;
pub const BREAKPOINT: u8 = 3;
pub const INVALID_OPCODE: u8 = 6;
pub const DOUBLE_FAULT: u8 = 8;
pub const GENERAL_PROTECTION: u8 = 13;
pub const PAGE_FAULT: u8 = 14;
pub const MACHINE_CHECK: u8 = 18;

/// LAPIC timer.
pub const TIMER: u8 = 0x20;
/// Wake-up / reschedule IPI: makes an idle CPU leave `hlt`.
pub const WAKEUP: u8 = 0x21;
/// TLB shootdown IPI (reserved for the VM code).
pub const TLB_SHOOTDOWN: u8 = 0x22;
/// First device vector; device IRQs use `DEVICE_BASE + gsi`.
pub const DEVICE_BASE: u8 = 0x30;
/// Last device vector.
pub const DEVICE_LAST: u8 = 0xdf;
/// The masked 8259 PICs are remapped to `PIC_BASE..=PIC_LAST`.
pub const PIC_BASE: u8 = 0xe0;
/// Last PIC vector.
pub const PIC_LAST: u8 = 0xef;
/// LAPIC error interrupt.
pub const APIC_ERROR: u8 = 0xfe;
/// LAPIC spurious interrupt.
pub const SPURIOUS: u8 = 0xff;

/// The conventional vector for global system interrupt `gsi`, if it fits
/// in the device range.
pub const fn for_gsi(gsi: u32) -> Option<u8> {
    if gsi <= (DEVICE_LAST - DEVICE_BASE) as u32 {
        Some(DEVICE_BASE + gsi as u8)
    } else {
        None
    }
}

/// Whether `handler`s may be registered for `v` (IPIs and devices).
pub const fn is_registrable(v: u8) -> bool {
    v > TIMER && v <= DEVICE_LAST
}

/// Whether the CPU pushes an error code for exception `v`.
pub const fn has_error_code(v: u8) -> bool {
    matches!(v, 8 | 10..=14 | 17 | 21 | 29 | 30)
}

/// The name and mnemonic of exception `v` (`("page fault", "#PF")`), or
/// a generic description for other vectors.
pub const fn name(v: u8) -> (&'static str, &'static str) {
    match v {
        0 => ("divide error", "#DE"),
        1 => ("debug", "#DB"),
        2 => ("non-maskable interrupt", "NMI"),
        3 => ("breakpoint", "#BP"),
        4 => ("overflow", "#OF"),
        5 => ("bound range exceeded", "#BR"),
        6 => ("invalid opcode", "#UD"),
        7 => ("device not available", "#NM"),
        8 => ("double fault", "#DF"),
        9 => ("coprocessor segment overrun", "#CSO"),
        10 => ("invalid TSS", "#TS"),
        11 => ("segment not present", "#NP"),
        12 => ("stack-segment fault", "#SS"),
        13 => ("general protection fault", "#GP"),
        14 => ("page fault", "#PF"),
        16 => ("x87 floating-point error", "#MF"),
        17 => ("alignment check", "#AC"),
        18 => ("machine check", "#MC"),
        19 => ("SIMD floating-point error", "#XM"),
        20 => ("virtualization exception", "#VE"),
        21 => ("control protection", "#CP"),
        28 => ("hypervisor injection", "#HV"),
        29 => ("VMM communication", "#VC"),
        30 => ("security exception", "#SX"),
        15 | 22..=27 | 31 => ("reserved exception", "#??"),
        _ => ("interrupt", "IRQ"),
    }
}

// The vector ranges are ordered and disjoint, checked at compile time.
const _: () = assert!(TIMER < WAKEUP && WAKEUP < TLB_SHOOTDOWN && TLB_SHOOTDOWN < DEVICE_BASE);
const _: () = assert!(DEVICE_LAST < PIC_BASE && PIC_LAST < APIC_ERROR && APIC_ERROR < SPURIOUS);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_code_mask_matches_the_stub_constant() {
        // The stubs use the bit mask 0x60227d00 in assembly.
        for v in 0..32u8 {
            assert_eq!(
                has_error_code(v),
                (0x6022_7d00u32 >> v) & 1 == 1,
                "vector {v}"
            );
        }
        for v in 32..=255u8 {
            assert!(!has_error_code(v));
        }
    }

    #[test]
    fn ranges_do_not_overlap() {
        assert!(!is_registrable(TIMER));
        assert!(!is_registrable(PAGE_FAULT));
        assert!(is_registrable(WAKEUP));
        assert!(is_registrable(for_gsi(4).unwrap()));
        assert!(!is_registrable(PIC_BASE));
        assert!(!is_registrable(SPURIOUS));
        assert_eq!(for_gsi(4), Some(0x34));
        assert_eq!(for_gsi(200), None);
    }

    #[test]
    fn names() {
        assert_eq!(name(14), ("page fault", "#PF"));
        assert_eq!(name(6).1, "#UD");
        assert_eq!(name(15).0, "reserved exception");
        assert_eq!(name(0x40).1, "IRQ");
    }
}
