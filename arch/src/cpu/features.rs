//! CPUID feature detection, read once on the boot CPU.

use core::arch::x86_64::{__cpuid, __cpuid_count};

/// The CPU features Tine cares about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features {
    pub nx: bool,
    pub pdpe1gb: bool,
    pub smep: bool,
    pub smap: bool,
    pub umip: bool,
    pub x2apic: bool,
    pub tsc_deadline: bool,
    pub invariant_tsc: bool,
    pub rdrand: bool,
    pub rdseed: bool,
    pub pcid: bool,
    pub invpcid: bool,
    pub xsave: bool,
    pub fsgsbase: bool,
    pub max_leaf: u32,
    pub max_ext_leaf: u32,
}

impl Features {
    /// Reads the features of the executing CPU.
    #[allow(
        unused_unsafe,
        reason = "`__cpuid_count` is an unsafe fn on some Rust versions and safe on others"
    )]
    pub fn read() -> Self {
        // SAFETY: CPUID is available on every x86_64 CPU; leaves beyond
        // the maximum are only queried after checking `max_leaf`.
        let cpuid = |leaf: u32, sub: u32| unsafe { __cpuid_count(leaf, sub) };
        // SAFETY: as above.
        let max_leaf = unsafe { __cpuid(0) }.eax;
        // SAFETY: as above.
        let max_ext_leaf = unsafe { __cpuid(0x8000_0000) }.eax;
        let l1 = cpuid(1, 0);
        let l7 = if max_leaf >= 7 {
            cpuid(7, 0)
        } else {
            cpuid(0, 0)
        };
        let has7 = max_leaf >= 7;
        let e1 = if max_ext_leaf >= 0x8000_0001 {
            cpuid(0x8000_0001, 0)
        } else {
            cpuid(0, 0)
        };
        let has_e1 = max_ext_leaf >= 0x8000_0001;
        let e7 = if max_ext_leaf >= 0x8000_0007 {
            Some(cpuid(0x8000_0007, 0))
        } else {
            None
        };
        Self {
            nx: has_e1 && e1.edx & (1 << 20) != 0,
            pdpe1gb: has_e1 && e1.edx & (1 << 26) != 0,
            smep: has7 && l7.ebx & (1 << 7) != 0,
            smap: has7 && l7.ebx & (1 << 20) != 0,
            umip: has7 && l7.ecx & (1 << 2) != 0,
            x2apic: l1.ecx & (1 << 21) != 0,
            tsc_deadline: l1.ecx & (1 << 24) != 0,
            invariant_tsc: e7.is_some_and(|r| r.edx & (1 << 8) != 0),
            rdrand: l1.ecx & (1 << 30) != 0,
            rdseed: has7 && l7.ebx & (1 << 18) != 0,
            pcid: l1.ecx & (1 << 17) != 0,
            invpcid: has7 && l7.ebx & (1 << 10) != 0,
            xsave: l1.ecx & (1 << 26) != 0,
            fsgsbase: has7 && l7.ebx & 1 != 0,
            max_leaf,
            max_ext_leaf,
        }
    }

    /// The features of the boot CPU, read at boot (all CPUs are assumed
    /// alike, as they are under QEMU).
    pub fn get() -> &'static Features {
        static FEATURES: spin::Once<Features> = spin::Once::new();
        FEATURES.call_once(Features::read)
    }

    /// Raw CPUID access for code that needs a leaf not decoded here.
    #[allow(
        unused_unsafe,
        reason = "`__cpuid_count` is an unsafe fn on some Rust versions and safe on others"
    )]
    pub fn cpuid(leaf: u32, sub: u32) -> [u32; 4] {
        // SAFETY: CPUID is always available on x86_64 and has no side effects.
        let r = unsafe { __cpuid_count(leaf, sub) };
        [r.eax, r.ebx, r.ecx, r.edx]
    }
}

/// The executing CPU's initial APIC id (CPUID leaf 1, EBX bits 31..24; the
/// x2APIC id from leaf 0xB when the CPU has it).
pub fn initial_apic_id() -> u32 {
    let f = Features::get();
    if f.max_leaf >= 0xb {
        let [_, ebx, _, edx] = Features::cpuid(0xb, 0);
        if ebx != 0 {
            return edx;
        }
    }
    Features::cpuid(1, 0)[1] >> 24
}
