//! The IDT: one table shared by every CPU, built once on the boot CPU from
//! the stub addresses in [`super::stubs`].
//!
//! All gates are interrupt gates (interrupts stay disabled in handlers),
//! DPL 0 except the breakpoint (`int3` from user mode must reach its
//! handler, not #GP). Double fault, NMI and machine check run on their IST
//! stacks (see [`crate::cpu::gdt`]).

use crate::cpu::gdt;

/// One 16-byte IDT gate.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    type_attr: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

/// Present, 64-bit interrupt gate, DPL 0.
const INTERRUPT_GATE: u8 = 0x8e;
/// Present, 64-bit interrupt gate, DPL 3 (reachable with `int n` from ring 3).
const INTERRUPT_GATE_USER: u8 = 0xee;

impl Gate {
    /// An interrupt gate to `handler` in the kernel code segment.
    pub const fn new(handler: u64, ist: u8, user_callable: bool) -> Self {
        Self {
            offset_low: handler as u16,
            selector: gdt::KERNEL_CS,
            ist,
            type_attr: if user_callable {
                INTERRUPT_GATE_USER
            } else {
                INTERRUPT_GATE
            },
            offset_mid: (handler >> 16) as u16,
            offset_high: (handler >> 32) as u32,
            reserved: 0,
        }
    }

    /// The handler address this gate points at.
    pub const fn handler(&self) -> u64 {
        self.offset_low as u64 | (self.offset_mid as u64) << 16 | (self.offset_high as u64) << 32
    }
}

const _: () = assert!(size_of::<Gate>() == 16);

/// The IST index (0 = none) vector `v` runs on.
pub const fn ist_for(v: u8) -> u8 {
    match v {
        super::vector::DOUBLE_FAULT => gdt::IST_DOUBLE_FAULT,
        super::vector::NMI => gdt::IST_NMI,
        super::vector::MACHINE_CHECK => gdt::IST_MACHINE_CHECK,
        _ => 0,
    }
}

/// Builds the 256 gates from the stub addresses.
pub fn build(stubs: &[u64; 256]) -> [Gate; 256] {
    core::array::from_fn(|v| {
        Gate::new(
            stubs[v],
            ist_for(v as u8),
            v as u8 == super::vector::BREAKPOINT,
        )
    })
}

#[cfg(target_os = "none")]
pub(super) use imp::load;

#[cfg(target_os = "none")]
mod imp {
    use super::{Gate, build};

    static IDT: spin::Once<[Gate; 256]> = spin::Once::new();

    /// Loads the shared IDT on the executing CPU (building it on first use).
    pub(in crate::irq) fn load() {
        // SAFETY: `tine_trap_stubs` is the read-only table of 256 stub
        // addresses emitted by `stubs`' global_asm, initialised at link time.
        let idt = IDT.call_once(|| build(unsafe { &super::super::stubs::tine_trap_stubs }));
        let pointer = x86_64::structures::DescriptorTablePointer {
            limit: (size_of::<[Gate; 256]>() - 1) as u16,
            base: x86_64::VirtAddr::new(idt.as_ptr() as u64),
        };
        // SAFETY: (1) the table lives in a static `Once`, valid and unchanged
        // forever; (2) every gate points at a stub in `stubs`, which builds a
        // TrapFrame and returns with `iretq`; (3) the IST indices name stacks
        // that `gdt::init_this_cpu` set up on this CPU before this call.
        unsafe { x86_64::instructions::tables::lidt(&pointer) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_encodes_address_and_ist() {
        let g = Gate::new(0xffff_ffff_8012_3456, 2, false);
        assert_eq!(g.handler(), 0xffff_ffff_8012_3456);
        assert_eq!(g.ist, 2);
        assert_eq!(g.selector, 0x08);
        assert_eq!(g.type_attr, 0x8e);
    }

    #[test]
    fn ist_assignment() {
        let stubs = core::array::from_fn(|v| 0x1000 + v as u64 * 16);
        let idt = build(&stubs);
        assert_eq!(idt[8].ist, gdt::IST_DOUBLE_FAULT);
        assert_eq!(idt[2].ist, gdt::IST_NMI);
        assert_eq!(idt[14].ist, 0);
        assert_eq!(idt[3].type_attr, 0xee);
        assert_eq!(idt[0x20].handler(), 0x1200);
    }
}
