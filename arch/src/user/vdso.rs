//! The vDSO: a one-page ELF shared object mapped into every process, with
//! a data page in front of it that the kernel keeps up to date, so that
//! `clock_gettime`, `gettimeofday`, `time` and `getcpu` need no system
//! call. `docs/user-mode.md` has the layout and the contract.
//!
//! The image is written here in assembly, as data directives around the
//! code: an ELF header, two program headers (`PT_LOAD` of the whole page,
//! `PT_DYNAMIC`), a dynamic section with `DT_HASH`, `DT_SYMTAB`,
//! `DT_STRTAB`, a one-bucket hash table, the symbols (`__vdso_*`, what
//! musl looks up, with no version information: musl checks versions only
//! when `DT_VERSYM` is present) and the functions. Every address inside
//! is an offset from the image's start (the object is linked at 0), and
//! the code reaches the data page RIP-relatively at `start - 4096`, so
//! the image works wherever it is mapped.
//!
//! The data page ([`VdsoData`]): a sequence count (odd while the kernel
//! writes), the TSC at boot, nanoseconds per TSC tick scaled by 2^32 (the
//! kernel's own `tsc::now_ns` formula, so both clocks agree to the
//! nanosecond) and the wall-clock time at boot. `getcpu` reads the CPU
//! number with `lsl` from a per-CPU GDT descriptor (`gdt::CPU_NUMBER_SEL`,
//! DPL 3, its limit the CPU number), as no CPU model TCG offers by default
//! has RDPID.
//!
//! Clocks the vDSO does not serve (the CPU-time clocks, unknown ids) fall
//! back to the system call from inside the vDSO.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The data page's layout (at its start).
#[repr(C)]
#[cfg_attr(not(target_os = "none"), allow(dead_code))]
pub struct VdsoData {
    /// Odd while the kernel updates the fields below.
    seq: AtomicU32,
    _pad: u32,
    /// The TSC at boot (`tsc::boot_reference`).
    boot_tsc: AtomicU64,
    /// Nanoseconds per TSC tick << 32 (`tsc::ticks_to_ns`).
    ns_per_tick_x2_32: AtomicU64,
    /// The wall-clock time at boot, in ns since 1970.
    realtime_at_boot_ns: AtomicU64,
}

#[cfg_attr(not(target_os = "none"), allow(dead_code))]
const SEQ: usize = core::mem::offset_of!(VdsoData, seq);
#[cfg_attr(not(target_os = "none"), allow(dead_code))]
const BOOT_TSC: usize = core::mem::offset_of!(VdsoData, boot_tsc);
#[cfg_attr(not(target_os = "none"), allow(dead_code))]
const MULT: usize = core::mem::offset_of!(VdsoData, ns_per_tick_x2_32);
#[cfg_attr(not(target_os = "none"), allow(dead_code))]
const REALTIME: usize = core::mem::offset_of!(VdsoData, realtime_at_boot_ns);

#[cfg_attr(not(target_os = "none"), allow(dead_code))]
impl VdsoData {
    /// Writes the clock parameters under the sequence count.
    fn write(&self, boot_tsc: u64, mult: u64, realtime_at_boot_ns: u64) {
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        core::sync::atomic::fence(Ordering::Release);
        self.boot_tsc.store(boot_tsc, Ordering::Relaxed);
        self.ns_per_tick_x2_32.store(mult, Ordering::Relaxed);
        self.realtime_at_boot_ns
            .store(realtime_at_boot_ns, Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }
}

#[cfg(target_os = "none")]
pub use imp::*;

#[cfg(target_os = "none")]
mod imp {
    use super::*;
    use crate::cpu::gdt::CPU_NUMBER_SEL;
    use crate::mm::{Frame, PAGE_SIZE};

    /// The data page and the image page, made once by [`init`].
    static PAGES: spin::Once<(Frame, Frame)> = spin::Once::new();

    unsafe extern "C" {
        static tine_vdso_start: u8;
        static tine_vdso_end: u8;
    }

    /// The image's bytes.
    pub fn image() -> &'static [u8] {
        // SAFETY: both symbols bound the image below, in `.rodata`, which
        // is mapped and never written.
        unsafe {
            let start = &raw const tine_vdso_start;
            let end = &raw const tine_vdso_end;
            core::slice::from_raw_parts(start, end.offset_from(start) as usize)
        }
    }

    /// The data page as the kernel sees it.
    fn data(page: &Frame) -> &VdsoData {
        // SAFETY: the frame lives as long as `PAGES` (forever); the direct
        // map covers it; `VdsoData` is atomics only, so shared access from
        // the kernel and read-only user mappings is sound.
        unsafe { &*(crate::mm::phys_to_virt(page.paddr()) as *const VdsoData) }
    }

    /// Makes the two pages (after the TSC is calibrated): the image copied
    /// into a frame, the data page filled with the TSC parameters and
    /// `realtime_at_boot_ns`. Later calls only update the wall clock.
    pub fn init(realtime_at_boot_ns: u64) {
        let (data_page, _) = PAGES.call_once(|| {
            let data_page = Frame::alloc_zeroed().expect("no memory for the vDSO");
            let mut image_page = Frame::alloc_zeroed().expect("no memory for the vDSO");
            let bytes = image();
            assert!(bytes.len() <= PAGE_SIZE as usize, "the vDSO is one page");
            image_page.bytes_mut().expect("a fresh frame")[..bytes.len()].copy_from_slice(bytes);
            (data_page, image_page)
        });
        data(data_page).write(
            crate::cpu::tsc::boot_reference(),
            crate::cpu::tsc::ns_per_tick_x2_32(),
            realtime_at_boot_ns,
        );
    }

    /// The data page and the image page for a new address space (more
    /// references to the same frames), or `None` before [`init`].
    pub fn pages() -> Option<(Frame, Frame)> {
        PAGES.get().cloned()
    }

    // The image. See the module docs; offsets of the data page come in as
    // constants. Registers: the SysV ABI (rdi, rsi, rdx arguments; rax,
    // rcx, rdx, rsi, rdi, r8-r11 may be clobbered).
    core::arch::global_asm!(
        r#"
    .pushsection .rodata.tine_vdso, "a"
    .p2align 12
    .global tine_vdso_start
tine_vdso_start:
    /* Elf64_Ehdr */
    .byte 0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0
    .quad 0
    .short 3                        /* ET_DYN */
    .short 62                       /* EM_X86_64 */
    .long 1                         /* EV_CURRENT */
    .quad 0                         /* e_entry */
    .quad 64                        /* e_phoff */
    .quad 0                         /* e_shoff */
    .long 0                         /* e_flags */
    .short 64, 56, 2, 64, 0, 0      /* ehsize phentsize phnum shentsize shnum shstrndx */
    /* PT_LOAD: the whole image, read and execute */
    .long 1, 5
    .quad 0, 0, 0
    .quad tine_vdso_end - tine_vdso_start, tine_vdso_end - tine_vdso_start
    .quad 4096
    /* PT_DYNAMIC */
    .long 2, 4
    .quad 2f - tine_vdso_start, 2f - tine_vdso_start, 2f - tine_vdso_start
    .quad 3f - 2f, 3f - 2f
    .quad 8
2:  /* the dynamic section */
    .quad 4, 4f - tine_vdso_start   /* DT_HASH */
    .quad 5, 6f - tine_vdso_start   /* DT_STRTAB */
    .quad 6, 5f - tine_vdso_start   /* DT_SYMTAB */
    .quad 10, 7f - 6f               /* DT_STRSZ */
    .quad 11, 24                    /* DT_SYMENT */
    .quad 0, 0                      /* DT_NULL */
3:
4:  /* DT_HASH: one bucket holding every symbol in one chain */
    .long 1, 5
    .long 1
    .long 0, 2, 3, 4, 0
    .p2align 3
5:  /* the symbols: null, then GLOBAL FUNC ones */
    .long 0
    .byte 0, 0
    .short 0
    .quad 0, 0
    .long 61f - 6f
    .byte 0x12, 0
    .short 1
    .quad tine_vdso_clock_gettime - tine_vdso_start, 0
    .long 62f - 6f
    .byte 0x12, 0
    .short 1
    .quad tine_vdso_gettimeofday - tine_vdso_start, 0
    .long 63f - 6f
    .byte 0x12, 0
    .short 1
    .quad tine_vdso_time - tine_vdso_start, 0
    .long 64f - 6f
    .byte 0x12, 0
    .short 1
    .quad tine_vdso_getcpu - tine_vdso_start, 0
6:  /* the string table */
    .byte 0
61: .asciz "__vdso_clock_gettime"
62: .asciz "__vdso_gettimeofday"
63: .asciz "__vdso_time"
64: .asciz "__vdso_getcpu"
7:

    /* rax = CLOCK_MONOTONIC in ns, r8 = the wall-clock time at boot in
       ns; clobbers rdx, r9, r10. */
    .p2align 4
tine_vdso_now:
    lea r9, [rip + tine_vdso_start - 4096]
8:  mov r10d, dword ptr [r9 + {seq}]
    test r10d, 1
    jnz 9f
    rdtsc
    shl rdx, 32
    or rax, rdx
    sub rax, qword ptr [r9 + {boot_tsc}]
    jae 18f
    xor eax, eax
18: mul qword ptr [r9 + {mult}]
    shrd rax, rdx, 32
    mov r8, qword ptr [r9 + {realtime}]
    cmp r10d, dword ptr [r9 + {seq}]
    jne 8b
    ret
9:  pause
    jmp 8b

    /* int clock_gettime(clockid_t clock, struct timespec *ts) */
    .p2align 4
tine_vdso_clock_gettime:
    cmp edi, 7
    ja 19f
    mov eax, 0xf3                   /* 0, 1, 4, 5, 6, 7 are served here */
    bt eax, edi
    jnc 19f
    call tine_vdso_now
    mov ecx, 0x21                   /* REALTIME, REALTIME_COARSE */
    bt ecx, edi
    jnc 12f
    add rax, r8
12: mov ecx, 1000000000
    xor edx, edx
    div rcx
    mov qword ptr [rsi], rax
    mov qword ptr [rsi + 8], rdx
    xor eax, eax
    ret
19: mov eax, 228                    /* SYS_clock_gettime */
    syscall
    ret

    /* int gettimeofday(struct timeval *tv, struct timezone *tz) */
    .p2align 4
tine_vdso_gettimeofday:
    test rdi, rdi
    jz 13f
    call tine_vdso_now
    add rax, r8
    mov ecx, 1000
    xor edx, edx
    div rcx                         /* rax = us */
    mov ecx, 1000000
    xor edx, edx
    div rcx
    mov qword ptr [rdi], rax
    mov qword ptr [rdi + 8], rdx
13: test rsi, rsi
    jz 14f
    mov qword ptr [rsi], 0
14: xor eax, eax
    ret

    /* time_t time(time_t *t) */
    .p2align 4
tine_vdso_time:
    call tine_vdso_now
    add rax, r8
    mov ecx, 1000000000
    xor edx, edx
    div rcx
    test rdi, rdi
    jz 15f
    mov qword ptr [rdi], rax
15: ret

    /* int getcpu(unsigned *cpu, unsigned *node, void *cache) */
    .p2align 4
tine_vdso_getcpu:
    mov eax, {cpu_sel}
    lsl eax, eax
    test rdi, rdi
    jz 16f
    mov dword ptr [rdi], eax
16: test rsi, rsi
    jz 17f
    mov dword ptr [rsi], 0
17: xor eax, eax
    ret

    .global tine_vdso_end
tine_vdso_end:
    .popsection
"#,
        seq = const SEQ,
        boot_tsc = const BOOT_TSC,
        mult = const MULT,
        realtime = const REALTIME,
        cpu_sel = const CPU_NUMBER_SEL as u32,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_page_layout_is_what_the_code_reads() {
        assert_eq!((SEQ, BOOT_TSC, MULT, REALTIME), (0, 8, 16, 24));
    }

    #[test]
    fn updates_leave_an_even_sequence() {
        let d = VdsoData {
            seq: AtomicU32::new(0),
            _pad: 0,
            boot_tsc: AtomicU64::new(0),
            ns_per_tick_x2_32: AtomicU64::new(0),
            realtime_at_boot_ns: AtomicU64::new(0),
        };
        d.write(5, 6, 7);
        assert_eq!(d.seq.load(Ordering::Relaxed), 2);
        assert_eq!(d.realtime_at_boot_ns.load(Ordering::Relaxed), 7);
    }
}
