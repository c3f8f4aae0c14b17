//! Deliberate faults, for the tests that check the exception report
//! (`crash=...` on the kernel command line). Each function's whole purpose
//! is to make the CPU raise one exception in kernel mode; none returns
//! normally while the exception path is installed (the report ends the
//! session).

/// An address in the kernel half that is never mapped: the last page of
/// the VMAP window, which is handed out from its bottom and never gets
/// that far (512 GiB).
const UNMAPPED: u64 = crate::mm::VMAP_BASE + crate::mm::VMAP_SIZE - 0x1000;

/// Reads an unmapped kernel address: a page fault (#PF, 14) with
/// `CR2 = 0xffff_c07f_ffff_f000`.
pub fn touch_unmapped() -> u64 {
    #[cfg(target_os = "none")]
    {
        let value: u64;
        // SAFETY: the read targets an address no mapping covers (the VMAP
        // window is handed out from its bottom and never reaches its last
        // page), so it cannot observe or disturb any memory; it faults,
        // which is the point, and the exception report ends the session.
        unsafe {
            core::arch::asm!("mov {}, [{}]", out(reg) value, in(reg) UNMAPPED, options(nostack, readonly))
        };
        value
    }
    #[cfg(not(target_os = "none"))]
    {
        UNMAPPED
    }
}

/// Executes `ud2`: an invalid-opcode exception (#UD, 6).
pub fn invalid_opcode() {
    #[cfg(target_os = "none")]
    // SAFETY: `ud2` only raises #UD; it touches no memory.
    unsafe {
        core::arch::asm!("ud2", options(nostack))
    };
}

/// Divides by zero with `div`: a divide error (#DE, 0). (Rust's `/` would
/// panic before dividing.)
pub fn divide_by_zero() -> u64 {
    #[cfg(target_os = "none")]
    {
        let quotient: u64;
        // SAFETY: `div` with a zero divisor only raises #DE; the registers
        // it clobbers are declared.
        unsafe {
            core::arch::asm!(
                "xor edx, edx",
                "div {zero}",
                zero = in(reg) 0u64,
                inout("rax") 1u64 => quotient,
                out("rdx") _,
                options(nostack, nomem),
            )
        };
        quotient
    }
    #[cfg(not(target_os = "none"))]
    {
        0
    }
}

/// Makes a page fault impossible to deliver: with RSP on an unmapped page
/// the CPU cannot push the #PF frame, which escalates to a double fault
/// (#DF, 8) handled on its IST stack.
pub fn double_fault() {
    #[cfg(target_os = "none")]
    // SAFETY: RSP is pointed at an unmapped page and then used by a push;
    // the resulting page fault cannot be delivered, so the CPU raises a
    // double fault, which runs on IST1 (its own stack) and ends the
    // session. Control never comes back to this code, so the clobbered
    // RSP is never used again.
    unsafe {
        core::arch::asm!("mov rsp, {}", "push rax", in(reg) UNMAPPED + 0x800, options(noreturn))
    };
}
