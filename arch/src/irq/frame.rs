//! The trap frame: what every entry stub leaves on the stack.
//!
//! The CPU pushes `ss, rsp, rflags, cs, rip` (and an error code for some
//! exceptions); the stub pushes a zero error code where the CPU does not,
//! then the vector number, then the 15 general-purpose registers, `rax`
//! first, so `r15` ends up at the lowest address. The stubs in
//! [`super::stubs`] and this struct must agree: the offsets are asserted
//! below and named for the assembly.

/// The saved state of an interrupted context, as the entry stubs lay it
/// out. The same frame will carry user-mode traps.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// The vector number, pushed by the stub.
    pub vector: u64,
    /// The CPU's error code, or 0 pushed by the stub.
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// Byte offset of `vector` in the frame (after the 15 registers).
pub const VECTOR_OFFSET: usize = 15 * 8;
/// Byte offset of `cs`, which the stubs test for a ring-3 origin.
pub const CS_OFFSET: usize = 18 * 8;
/// Byte offset of `rflags`, whose AC bit the stubs test.
pub const RFLAGS_OFFSET: usize = 19 * 8;
/// Size of the frame; a multiple of 16, so the stack stays aligned for the
/// call into Rust (the CPU aligns RSP to 16 before pushing `ss`).
pub const FRAME_SIZE: usize = 22 * 8;

const _: () = {
    assert!(core::mem::offset_of!(TrapFrame, vector) == VECTOR_OFFSET);
    assert!(core::mem::offset_of!(TrapFrame, rflags) == RFLAGS_OFFSET);
    assert!(core::mem::offset_of!(TrapFrame, cs) == CS_OFFSET);
    assert!(core::mem::offset_of!(TrapFrame, rax) == 14 * 8);
    assert!(size_of::<TrapFrame>() == FRAME_SIZE);
    assert!(FRAME_SIZE.is_multiple_of(16));
};

impl TrapFrame {
    /// Whether the trap came from ring 3.
    pub fn from_user(&self) -> bool {
        self.cs & 3 == 3
    }

    /// The registers as `(name, value)` pairs, in report order.
    pub fn gprs(&self) -> [(&'static str, u64); 15] {
        [
            ("RAX", self.rax),
            ("RBX", self.rbx),
            ("RCX", self.rcx),
            ("RDX", self.rdx),
            ("RSI", self.rsi),
            ("RDI", self.rdi),
            ("RBP", self.rbp),
            ("R8", self.r8),
            ("R9", self.r9),
            ("R10", self.r10),
            ("R11", self.r11),
            ("R12", self.r12),
            ("R13", self.r13),
            ("R14", self.r14),
            ("R15", self.r15),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_mode_is_rpl3() {
        let mut f = TrapFrame {
            cs: 0x08,
            ..Default::default()
        };
        assert!(!f.from_user());
        f.cs = crate::cpu::gdt::USER_CS as u64;
        assert!(f.from_user());
    }

    #[test]
    fn gprs_cover_every_register_once() {
        let f = TrapFrame {
            r15: 15,
            r14: 14,
            r13: 13,
            r12: 12,
            r11: 11,
            r10: 10,
            r9: 9,
            r8: 8,
            rbp: 7,
            rdi: 6,
            rsi: 5,
            rdx: 4,
            rcx: 3,
            rbx: 2,
            rax: 1,
            ..Default::default()
        };
        let mut seen: Vec<u64> = f.gprs().iter().map(|&(_, v)| v).collect();
        seen.sort();
        assert_eq!(seen, (1..=15).collect::<Vec<_>>());
    }
}
