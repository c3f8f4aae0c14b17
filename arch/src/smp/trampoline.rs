//! The real-mode trampoline every AP starts in, and its parameter block.
//!
//! A start-up IPI (SIPI) starts an AP in 16-bit real mode at `vector *
//! 0x1000`, so the first instructions must sit in a page below 1 MiB.
//! [`install`] copies the trampoline to [`TRAMPOLINE_PA`] (0x8000: the
//! low 1 MiB is reserved from the frame allocator at boot, and 0x8000 is
//! far from the BIOS data area below 0x500 and the EBDA from 0x9f000).
//!
//! The code is assembled into `.rodata` at its link address but runs at
//! 0x8000, so every absolute address in it is written `TRAMPOLINE_PA +
//! (label - tine_ap_trampoline)`, with the base passed in as a `const`
//! operand; nothing in it needs patching. Path:
//!
//! 1. real mode (CS = 0x0800): load the trampoline's GDT, set CR0.PE,
//!    far-jump to 32-bit code;
//! 2. protected mode: PAE and PGE in CR4, CR3 = the boot page tables
//!    (`boot_pml4`: identity map of 0..4 GiB and the kernel image at
//!    -2 GiB), EFER.LME (and NXE), CR0.PG, far-jump to 64-bit code;
//! 3. long mode, still on the identity map: claim the parameter block's
//!    stack (`lock xchg` with 0; an AP that reads 0 parks with `hlt`), load
//!    CPU index, APIC id and the kernel's CR3 from the block, and jump to
//!    `ap_enter_kernel` in the higher half;
//! 4. `ap_enter_kernel` (kernel text, mapped by both page tables) switches
//!    CR3 to the kernel's tables, which do not map the trampoline but do
//!    map the stack, and calls `super::start::ap_entry(cpu, apic_id)`.
//!
//! The GDT descriptors carry the "accessed" bit so the CPU never writes
//! them. Until `irq::init_ap` loads the CPU's real GDT, GDTR still points
//! at the trampoline's (no longer mapped) GDT, exactly as the boot CPU
//! runs on the boot stub's GDT until `irq::init_bsp`: nothing before then
//! loads a segment register or takes an interrupt (IF is clear).

use core::mem::offset_of;
use core::sync::atomic::{AtomicU32, AtomicU64};

use crate::mm::{PAGE_SIZE, phys_to_virt};

/// Physical address of the trampoline page.
pub(super) const TRAMPOLINE_PA: u64 = 0x8000;
/// The SIPI vector: the trampoline's page number.
pub(super) const SIPI_VECTOR: u8 = (TRAMPOLINE_PA / PAGE_SIZE) as u8;
/// Where the parameter block sits inside the trampoline page.
const PARAMS_OFFSET: u64 = 0xf00;

const _: () = assert!(TRAMPOLINE_PA.is_multiple_of(PAGE_SIZE) && TRAMPOLINE_PA < 0x9f000);
const _: () = assert!(PARAMS_OFFSET as usize + size_of::<ApParams>() <= PAGE_SIZE as usize);

/// What the BSP tells the AP it is starting, at `TRAMPOLINE_PA +
/// PARAMS_OFFSET`. The trampoline reads it with plain loads and claims
/// `stack_top` with `lock xchg`; Rust uses atomics for the same fields.
#[repr(C)]
#[derive(Debug)]
pub(super) struct ApParams {
    /// Physical address of `boot_pml4` (below 4 GiB).
    pub boot_cr3: AtomicU32,
    /// Bits to set in EFER: LME, and NXE when the CPU has NX.
    pub efer: AtomicU32,
    /// The kernel's PML4 (`mm::paging::kernel_pml4`).
    pub kernel_cr3: AtomicU64,
    /// CPU index of the AP being started.
    pub cpu: AtomicU64,
    /// Its APIC id.
    pub apic_id: AtomicU64,
    /// Top of its stack; written last (Release) by the BSP, swapped to 0 by
    /// the AP that takes it, or by the BSP to withdraw it after a timeout.
    pub stack_top: AtomicU64,
}

core::arch::global_asm!(
    r#"
    .pushsection .rodata.tine_ap_trampoline, "a"
    .balign 16
    .global tine_ap_trampoline
tine_ap_trampoline:
    .code16
    cli
    cld
    movw %cs, %ax
    movw %ax, %ds
    lgdtl ap_tramp_gdtr - tine_ap_trampoline
    movl %cr0, %eax
    orl $1, %eax                     /* PE */
    movl %eax, %cr0
    ljmpl $0x08, ${base} + ap_tramp_32 - tine_ap_trampoline

    .code32
ap_tramp_32:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movl %cr4, %eax
    orl $0xa0, %eax                  /* PAE | PGE */
    movl %eax, %cr4
    movl {base} + {boot_cr3}, %eax
    movl %eax, %cr3
    movl $0xc0000080, %ecx           /* EFER */
    rdmsr
    orl {base} + {efer}, %eax
    wrmsr
    movl %cr0, %eax
    orl $0x80000001, %eax            /* PG | PE */
    movl %eax, %cr0
    ljmpl $0x18, ${base} + ap_tramp_64 - tine_ap_trampoline

    .code64
ap_tramp_64:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorl %eax, %eax
    movw %ax, %fs
    movw %ax, %gs
    /* Take the stack; 0 means this start-up is not ours to run. */
    lock xchgq %rax, {base} + {stack_top}
    testq %rax, %rax
    jz ap_tramp_park
    movq %rax, %rsp
    movq {base} + {cpu}, %rdi
    movq {base} + {apic_id}, %rsi
    movq {base} + {kernel_cr3}, %rdx
    movabsq $tine_ap_enter_kernel, %rax
    jmpq *%rax
ap_tramp_park:
    cli
    hlt
    jmp ap_tramp_park

    .balign 8
ap_tramp_gdt:
    .quad 0
    .quad 0x00cf9b000000ffff         /* 0x08: 32-bit code, accessed */
    .quad 0x00cf93000000ffff         /* 0x10: data, accessed */
    .quad 0x00af9b000000ffff         /* 0x18: 64-bit code, accessed */
ap_tramp_gdt_end:
ap_tramp_gdtr:
    .word ap_tramp_gdt_end - ap_tramp_gdt - 1
    .long {base} + ap_tramp_gdt - tine_ap_trampoline
    .global tine_ap_trampoline_end
tine_ap_trampoline_end:
    .popsection

    .pushsection .text.tine_ap_enter_kernel, "ax"
    .global tine_ap_enter_kernel
tine_ap_enter_kernel:
    /* rdi = cpu, rsi = APIC id, rdx = kernel CR3, rsp = the AP's stack. */
    movq %rdx, %cr3
    xorl %ebp, %ebp
    callq {entry}
    ud2
    .popsection
    "#,
    base = const TRAMPOLINE_PA,
    boot_cr3 = const PARAMS_OFFSET as usize + offset_of!(ApParams, boot_cr3),
    efer = const PARAMS_OFFSET as usize + offset_of!(ApParams, efer),
    kernel_cr3 = const PARAMS_OFFSET as usize + offset_of!(ApParams, kernel_cr3),
    cpu = const PARAMS_OFFSET as usize + offset_of!(ApParams, cpu),
    apic_id = const PARAMS_OFFSET as usize + offset_of!(ApParams, apic_id),
    stack_top = const PARAMS_OFFSET as usize + offset_of!(ApParams, stack_top),
    entry = sym super::start::ap_entry,
    options(att_syntax)
);

unsafe extern "C" {
    static tine_ap_trampoline: u8;
    static tine_ap_trampoline_end: u8;
    static boot_pml4: u8;
}

/// Copies the trampoline to [`TRAMPOLINE_PA`] and returns its parameter
/// block with the fields every AP shares filled in (no stack yet: no AP
/// that wakes up now can run).
///
/// # Safety
/// Call at most once, and only while no AP executes the trampoline page:
/// this takes ownership of the page at [`TRAMPOLINE_PA`] for the rest of
/// the kernel's life.
pub(super) unsafe fn install() -> &'static ApParams {
    let start = &raw const tine_ap_trampoline;
    let len = &raw const tine_ap_trampoline_end as usize - start as usize;
    assert!(
        len <= PARAMS_OFFSET as usize,
        "AP trampoline overlaps its parameter block"
    );
    let page = phys_to_virt(TRAMPOLINE_PA) as *mut u8;
    // SAFETY: (1) the source is the trampoline's `len` bytes in the kernel
    // image's rodata; (2) the destination is the direct-map alias of the
    // page at 0x8000, which boot reserved (all of the low 1 MiB) so the
    // frame allocator never hands it out, and which nothing else in Tine
    // uses: the caller's contract makes this the only user, and no AP runs
    // it yet; (3) the two do not overlap (rodata is above 1 MiB).
    unsafe { core::ptr::copy_nonoverlapping(start, page, len) };

    // SAFETY: the block lies inside that same page, after the code (checked
    // above), is suitably aligned (0x8f00), and an all-zero bit pattern is a
    // valid `ApParams` of atomics; it is only ever accessed through atomics
    // and the trampoline's atomic `lock xchg` and plain loads.
    let params = unsafe {
        let p = page.add(PARAMS_OFFSET as usize) as *mut ApParams;
        p.write_bytes(0, 1);
        &*p
    };
    let efer = 1 << 8
        | if crate::cpu::Features::get().nx {
            1 << 11
        } else {
            0
        };
    use core::sync::atomic::Ordering::Relaxed;
    // Relaxed: published to the APs by the Release store of `stack_top`.
    params.boot_cr3.store(&raw const boot_pml4 as u32, Relaxed);
    params.efer.store(efer, Relaxed);
    params
        .kernel_cr3
        .store(crate::mm::paging::kernel_pml4(), Relaxed);
    params
}
