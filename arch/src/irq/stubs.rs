//! The 256 trap entry stubs, in `global_asm!` (stable Rust has no
//! `extern "x86-interrupt"`).
//!
//! Stub `v` pushes a zero error code unless the CPU pushed one (vectors 8,
//! 10–14, 17, 21, 29, 30), then `v`, and jumps to one of two common paths
//! that save the 15 general-purpose registers (forming a
//! [`super::frame::TrapFrame`]), call `trap_dispatch(&mut TrapFrame)`,
//! restore the registers and `iretq`:
//!
//! - `tine_trap_common` swaps to the kernel GS base when the saved CS has
//!   RPL 3 (a trap from user mode), so GS is always the per-CPU block
//!   inside Rust, and clears RFLAGS when the user had AC set (interrupt
//!   gates keep AC and DF; DF is cleared by `cld` before the call). The
//!   gate has cleared IF, TF, NT and RF already, so without AC nothing
//!   else is left: no `popfq`, which ends the translation block under
//!   QEMU's TCG (every page fault from user mode comes through here). A trap from ring 3 never `iretq`s back: after
//!   `trap_dispatch` saved the user state, the stub jumps to
//!   `tine_user_return`, which returns from `user::run` (see
//!   [`crate::user`]). An exception from ring 3 (a page fault) skips
//!   even that: `tine_user_exception` stores the registers straight into
//!   the running context, as the `syscall` entry does, since
//!   `trap_dispatch` has nothing to do for it. Traps from ring 0 restore
//!   and `iretq` as always.
//! - `tine_trap_paranoid`, for NMI, double fault and machine check, which
//!   can arrive anywhere, even between a `swapgs` and the instruction that
//!   leaves the kernel: it reads `IA32_GS_BASE` and swaps only when the
//!   base is not a kernel (upper-half) address, remembering in r12
//!   (callee-saved, so it survives the call) whether to swap back.
//!
//! The table `tine_trap_stubs` holds the 256 stub addresses for the IDT.
//! The text must not contain braces (they would be format operands).

use super::frame::{CS_OFFSET, RFLAGS_OFFSET, VECTOR_OFFSET};

// CS sits 3 words above the vector slot (vector, error code, rip, cs) while
// only the vector and error code are on the stack above the CPU's frame.
const _: () = assert!(CS_OFFSET - VECTOR_OFFSET == 24);
// After `trap_dispatch`, RSP points at the whole frame: CS is at 144.
const _: () = assert!(CS_OFFSET == 144);
// Before the registers are pushed, RFLAGS is 4 words above the vector
// slot (the stub tests its AC bit at `[rsp + 32]`).
const _: () = assert!(RFLAGS_OFFSET - VECTOR_OFFSET == 32);

core::arch::global_asm!(
    r#"
    .section .text.tine_traps, "ax"
    .altmacro

    .macro TINE_TRAP_STUB v
    .p2align 4
tine_trap_stub_\v:
    .if \v < 32
    .if ((0x60227d00 >> \v) & 1) == 0
    push 0
    .endif
    .else
    push 0
    .endif
    push \v
    .if (\v == 2) || (\v == 8) || (\v == 18)
    jmp tine_trap_paranoid
    .else
    jmp tine_trap_common
    .endif
    .endm

    .macro TINE_SAVE_GPRS
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    .endm

    .macro TINE_RESTORE_GPRS
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    .endm

    .set tine_i, 0
    .rept 256
    TINE_TRAP_STUB %tine_i
    .set tine_i, tine_i + 1
    .endr

    .p2align 4
tine_trap_common:
    /* [rsp] = vector, [rsp + 8] = error code, [rsp + 24] = CS,
       [rsp + 32] = RFLAGS (bit 18: AC) */
    test byte ptr [rsp + 24], 3
    jz tine_trap_common_saved_gs
    swapgs
    test dword ptr [rsp + 32], 0x40000
    jz tine_trap_common_user
    push 2
    popfq
tine_trap_common_user:
    /* An exception from ring 3 (vectors below 32; NMI, #DF and #MC take
       the paranoid path): straight into the context (`crate::user`). */
    cmp qword ptr [rsp], 32
    jb tine_user_exception
    .global tine_trap_common_saved_gs
tine_trap_common_saved_gs:
    TINE_SAVE_GPRS
    mov rdi, rsp
    cld
    call trap_dispatch
    test byte ptr [rsp + 144], 3
    jnz tine_user_return
    TINE_RESTORE_GPRS
    add rsp, 16
    iretq

    .p2align 4
tine_trap_paranoid:
    TINE_SAVE_GPRS
    mov ecx, 0xc0000101
    rdmsr
    xor r12d, r12d
    test edx, edx
    js tine_trap_paranoid_kernel_gs
    swapgs
    mov r12d, 1
tine_trap_paranoid_kernel_gs:
    mov rdi, rsp
    cld
    call trap_dispatch
    test r12d, r12d
    jz tine_trap_paranoid_restore
    swapgs
tine_trap_paranoid_restore:
    TINE_RESTORE_GPRS
    add rsp, 16
    iretq

    .macro TINE_STUB_ADDR v
    .quad tine_trap_stub_\v
    .endm

    .section .rodata.tine_trap_stubs, "a"
    .p2align 3
    .global tine_trap_stubs
tine_trap_stubs:
    .set tine_i, 0
    .rept 256
    TINE_STUB_ADDR %tine_i
    .set tine_i, tine_i + 1
    .endr

    .noaltmacro
    .text
"#
);

unsafe extern "C" {
    /// The entry addresses of stubs 0..=255, in vector order.
    pub(super) static tine_trap_stubs: [u64; 256];
}
