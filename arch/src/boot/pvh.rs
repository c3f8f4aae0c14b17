//! The PVH entry: QEMU starts the boot CPU here in 32-bit protected mode,
//! paging off, with the physical address of `hvm_start_info` in EBX.
//!
//! The stub builds throw-away page tables (identity map of the low 4 GiB and
//! the kernel window at -2 GiB, 2 MiB pages), enables PAE, long mode and NX,
//! and jumps to `tine_bsp_entry` (in [`super`]) in the higher half on the boot stack.
//! `mm::init` replaces these tables with the real ones. The AP trampoline
//! (`smp/trampoline.rs`) has its own real-mode → long-mode path but uses
//! `boot_pml4` as its first page tables (it identity-maps low memory).
//!
//! Proven constraints (`docs/boot.md`): the note is 4-aligned with a
//! `.quad` address; EBX is saved before `cpuid` clobbers it; the text holds
//! no braces.

core::arch::global_asm!(
    r#"
    .section .note.Xen, "a"
    .p2align 2
    .long 4                      /* namesz: "Xen\0" */
    .long 8                      /* descsz */
    .long 18                     /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .p2align 2
    .quad pvh_start32
    .p2align 2

    .section .boot.text, "ax"
    .code32
    .global pvh_start32
pvh_start32:
    cli
    cld
    movl %ebx, %edi              /* hvm_start_info (cpuid clobbers ebx) */

    /* PML4[0] -> low PDPT (identity), PML4[511] -> high PDPT. */
    movl $boot_pdpt_low, %eax
    orl $3, %eax
    movl %eax, boot_pml4
    movl $boot_pdpt_high, %eax
    orl $3, %eax
    movl %eax, boot_pml4 + 511 * 8

    /* low PDPT[0..4] -> boot_pd + i * 4096: identity 0..4 GiB. */
    xorl %ecx, %ecx
pvh_fill_pdpt:
    movl %ecx, %eax
    shll $12, %eax
    addl $boot_pd, %eax
    orl $3, %eax
    movl %eax, boot_pdpt_low(,%ecx,8)
    incl %ecx
    cmpl $4, %ecx
    jb pvh_fill_pdpt

    /* high PDPT[510], [511] -> the first two PDs: -2 GiB maps 0..2 GiB. */
    movl $boot_pd, %eax
    orl $3, %eax
    movl %eax, boot_pdpt_high + 510 * 8
    addl $4096, %eax
    movl %eax, boot_pdpt_high + 511 * 8

    /* 2048 PD entries of 2 MiB: present, writable, huge. */
    xorl %ecx, %ecx
pvh_fill_pd:
    movl %ecx, %eax
    shll $21, %eax
    orl $0x83, %eax
    movl %eax, boot_pd(,%ecx,8)
    movl %ecx, %eax
    shrl $11, %eax
    movl %eax, boot_pd + 4(,%ecx,8)
    incl %ecx
    cmpl $2048, %ecx
    jb pvh_fill_pd

    /* Long mode: CR3, PAE, EFER.LME (+NXE), paging. EDI is preserved. */
    movl $boot_pml4, %eax
    movl %eax, %cr3
    movl %cr4, %eax
    orl $0xa0, %eax              /* PAE | PGE */
    movl %eax, %cr4

    movl $0x80000001, %eax
    cpuid
    movl $0x100, %esi            /* EFER.LME */
    testl $0x100000, %edx        /* NX available? */
    jz pvh_no_nx
    orl $0x800, %esi             /* EFER.NXE */
pvh_no_nx:
    movl $0xc0000080, %ecx
    rdmsr
    orl %esi, %eax
    wrmsr

    movl %cr0, %eax
    orl $0x80010001, %eax        /* PG | WP | PE */
    movl %eax, %cr0

    lgdt boot_gdt_ptr
    pushl $0x08
    pushl $pvh_long
    lret

    .code64
pvh_long:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorl %eax, %eax
    movw %ax, %fs
    movw %ax, %gs
    movl %edi, %edi              /* zero-extend the start-info address */
    movabsq $boot_stack_top, %rsp
    xorl %ebp, %ebp
    movabsq $tine_bsp_entry, %rax
    callq *%rax
    ud2

    .section .boot.data, "aw"
    .p2align 3
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff     /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff     /* 0x10: data */
boot_gdt_end:
    .global boot_gdt_ptr
boot_gdt_ptr:
    .word boot_gdt_end - boot_gdt - 1
    .quad boot_gdt

    .p2align 12
    .global boot_pml4
boot_pml4:
    .zero 4096
boot_pdpt_low:
    .zero 4096
boot_pdpt_high:
    .zero 4096
boot_pd:
    .zero 4096 * 4

    .section .bss.boot_stack, "aw", @nobits
    .p2align 12
boot_stack_bottom:
    .zero 65536
    .global boot_stack_top
boot_stack_top:

    .section .text
    "#,
    options(att_syntax)
);
