//! Per-CPU GDT and TSS.
//!
//! Every CPU gets its own GDT (the TSS descriptor differs per CPU, and the
//! CPU marks a loaded TSS descriptor busy) and its own TSS with its own IST
//! stacks. The selector layout is fixed by what `syscall`/`sysret` need:
//!
//! | selector | descriptor | why here |
//! |---|---|---|
//! | `0x00` | null | |
//! | `0x08` [`KERNEL_CS`] | 64-bit kernel code, DPL 0 | `STAR[47:32]` = 0x08: `syscall` loads CS = 0x08 |
//! | `0x10` [`KERNEL_SS`] | kernel data, DPL 0 | ... and SS = 0x08 + 8 |
//! | `0x1b` [`USER_SS`] | user data, DPL 3 (slot 0x18) | `STAR[63:48]` = 0x10: `sysretq` loads SS = 0x10 + 8, RPL 3 |
//! | `0x23` [`USER_CS`] | 64-bit user code, DPL 3 (slot 0x20) | ... and CS = 0x10 + 16, RPL 3 |
//! | `0x28` [`TSS_SELECTOR`] | 64-bit TSS (two slots, 0x28 and 0x30) | |
//! | `0x3b` [`CPU_NUMBER_SEL`] | read-only data, DPL 3, limit = the CPU number (slot 0x38) | the vDSO's `getcpu` reads it with `lsl` |
//!
//! So `STAR` = `(0x10 << 48) | (0x08 << 32)` ([`STAR_VALUE`]).
//!
//! TSS interrupt stacks: IST1 = double fault, IST2 = NMI, IST3 = machine
//! check ([`IST_DOUBLE_FAULT`], ...), each [`IST_STACK_PAGES`] pages in
//! the VMAP window with an unmapped guard page below. RSP0 (the stack an
//! interrupt from ring 3 switches to) is set by [`set_kernel_stack`].

/// Kernel code selector.
pub const KERNEL_CS: u16 = 0x08;
/// Kernel data / stack selector.
pub const KERNEL_SS: u16 = 0x10;
/// User data / stack selector (RPL 3).
pub const USER_SS: u16 = 0x18 | 3;
/// User 64-bit code selector (RPL 3).
pub const USER_CS: u16 = 0x20 | 3;
/// The TSS selector.
pub const TSS_SELECTOR: u16 = 0x28;
/// A user-readable descriptor whose limit is the CPU's number (RPL 3):
/// `lsl` on it in ring 3 gives `getcpu` without a system call.
pub const CPU_NUMBER_SEL: u16 = 0x38 | 3;
/// The value for `IA32_STAR`: kernel base 0x08, user base 0x10 (sysret adds
/// 8 for SS and 16 for CS).
pub const STAR_VALUE: u64 = ((KERNEL_SS as u64) << 48) | ((KERNEL_CS as u64) << 32);

/// IST index (1-based, as IDT gates name it) of the double-fault stack.
pub const IST_DOUBLE_FAULT: u8 = 1;
/// IST index of the NMI stack.
pub const IST_NMI: u8 = 2;
/// IST index of the machine-check stack.
pub const IST_MACHINE_CHECK: u8 = 3;
/// Size of each IST stack, in 4 KiB pages.
pub const IST_STACK_PAGES: usize = 4;

/// Descriptors (flat, so base and limit are ignored in 64-bit mode; the
/// accessed bit is preset so the CPU never writes the table).
const DESC_KERNEL_CODE: u64 = 0x00af_9b00_0000_ffff;
const DESC_KERNEL_DATA: u64 = 0x00cf_9300_0000_ffff;
const DESC_USER_DATA: u64 = 0x00cf_f300_0000_ffff;
const DESC_USER_CODE: u64 = 0x00af_fb00_0000_ffff;

/// The two GDT words of an available 64-bit TSS at `base`, limit 103.
pub const fn tss_descriptor(base: u64) -> [u64; 2] {
    let limit = 104 - 1;
    let low = limit
        | ((base & 0xff_ffff) << 16)
        | (0x89 << 40) // present, DPL 0, type 9 = available 64-bit TSS
        | (((base >> 24) & 0xff) << 56);
    [low, base >> 32]
}

/// The descriptor of [`CPU_NUMBER_SEL`] for CPU `cpu`: present, DPL 3,
/// read-only data (accessed), byte granularity, limit = `cpu` (20 bits).
pub const fn cpu_number_descriptor(cpu: u32) -> u64 {
    let cpu = cpu as u64;
    (cpu & 0xffff) | (0xf1 << 40) | (((cpu >> 16) & 0xf) << 48)
}

/// The GDT of CPU `cpu`, whose TSS is at `tss`.
pub const fn gdt_for(tss: u64, cpu: u32) -> [u64; 8] {
    let [t0, t1] = tss_descriptor(tss);
    [
        0,
        DESC_KERNEL_CODE,
        DESC_KERNEL_DATA,
        DESC_USER_DATA,
        DESC_USER_CODE,
        t0,
        t1,
        cpu_number_descriptor(cpu),
    ]
}

#[cfg(target_os = "none")]
pub use imp::*;

#[cfg(target_os = "none")]
mod imp {
    use alloc::boxed::Box;
    use core::sync::atomic::Ordering;
    use x86_64::structures::tss::TaskStateSegment;

    use super::*;
    use crate::mm::Frame;

    /// One CPU's GDT and TSS, leaked for the life of the system.
    #[repr(C, align(16))]
    struct CpuTables {
        gdt: [u64; 8],
        tss: TaskStateSegment,
    }

    /// Allocates a `pages`-page stack in the VMAP window and returns its top.
    /// The page below it is unmapped (the previous VMAP reservation's
    /// trailing guard, or the unmapped space below the window).
    fn alloc_stack(pages: usize) -> u64 {
        let mut frames = [0u64; IST_STACK_PAGES];
        for f in frames[..pages].iter_mut() {
            // Leaked: the stack is used for the life of the system.
            *f = Frame::alloc_zeroed()
                .expect("no memory for an IST stack")
                .leak();
        }
        let base = crate::mm::paging::vmap_frames(&frames[..pages], true, false)
            .expect("no VMAP space for an IST stack");
        base + (pages as u64) * crate::mm::PAGE_SIZE
    }

    /// Builds and loads a fresh GDT and TSS on the executing CPU: reloads
    /// CS/SS/DS/ES (FS and GS are left alone: loading them would clear the
    /// per-CPU GS base) and the task register. Call once per CPU.
    pub(crate) fn init_this_cpu() {
        let mut tss = TaskStateSegment::new();
        tss.interrupt_stack_table[(IST_DOUBLE_FAULT - 1) as usize] =
            x86_64::VirtAddr::new(alloc_stack(IST_STACK_PAGES));
        tss.interrupt_stack_table[(IST_NMI - 1) as usize] =
            x86_64::VirtAddr::new(alloc_stack(IST_STACK_PAGES));
        tss.interrupt_stack_table[(IST_MACHINE_CHECK - 1) as usize] =
            x86_64::VirtAddr::new(alloc_stack(IST_STACK_PAGES));
        // No I/O bitmap: the offset points past the TSS limit, so ring 3
        // gets no port access.
        tss.iomap_base = size_of::<TaskStateSegment>() as u16;

        let tables = Box::leak(Box::new(CpuTables { gdt: [0; 8], tss }));
        let tss_addr = &raw const tables.tss as u64;
        tables.gdt = gdt_for(tss_addr, crate::cpu::id() as u32);
        crate::smp::percpu::current()
            .tss
            .store(tss_addr, Ordering::Relaxed);

        let pointer = x86_64::structures::DescriptorTablePointer {
            limit: (size_of::<[u64; 8]>() - 1) as u16,
            base: x86_64::VirtAddr::new(&raw const tables.gdt as u64),
        };
        // SAFETY: (1) `tables` is leaked, so the GDT outlives its use; (2) its
        // code and data descriptors match the selectors the running code
        // uses (0x08 / 0x10, the same as the boot GDT), so reloading CS, SS,
        // DS and ES keeps every segment flat; (3) the TSS descriptor points
        // at this CPU's own TSS, not yet loaded anywhere, so `ltr` finds it
        // available; (4) FS and GS are not touched, keeping the GS base.
        unsafe {
            x86_64::instructions::tables::lgdt(&pointer);
            core::arch::asm!(
                "push {cs}",
                "lea {tmp}, [rip + 2f]",
                "push {tmp}",
                "retfq",
                "2:",
                "mov {tmp:e}, {ss}",
                "mov ss, {tmp:e}",
                "mov ds, {tmp:e}",
                "mov es, {tmp:e}",
                "ltr {tss:x}",
                cs = const KERNEL_CS as u64,
                ss = const KERNEL_SS as u32,
                tss = in(reg) TSS_SELECTOR,
                tmp = out(reg) _,
                options(preserves_flags),
            );
        }
    }

    /// Sets RSP0 in the executing CPU's TSS: the stack the CPU switches to
    /// when an interrupt or exception arrives in ring 3. Later user mode
    /// sets it before entering ring 3.
    pub fn set_kernel_stack(rsp: u64) {
        let tss =
            crate::smp::percpu::current().tss.load(Ordering::Relaxed) as *mut TaskStateSegment;
        assert!(
            !tss.is_null(),
            "set_kernel_stack before irq::init on this CPU"
        );
        // SAFETY: `tss` is this CPU's leaked TSS (set by `init_this_cpu` on
        // this CPU), written only by this CPU, and the CPU reads RSP0 only
        // on a ring change, which cannot happen while ring 0 runs this
        // store. The field is unaligned in the packed TSS, hence
        // `write_unaligned`.
        unsafe {
            (&raw mut (*tss).privilege_stack_table[0]).write_unaligned(x86_64::VirtAddr::new(rsp));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysret_layout() {
        let user_base = (STAR_VALUE >> 48) as u16;
        let kernel_base = (STAR_VALUE >> 32) as u16;
        assert_eq!(kernel_base, KERNEL_CS);
        assert_eq!(kernel_base + 8, KERNEL_SS);
        assert_eq!((user_base + 8) | 3, USER_SS);
        assert_eq!((user_base + 16) | 3, USER_CS);
    }

    #[test]
    fn descriptors_have_expected_privilege() {
        let gdt = gdt_for(0, 0x1_2345);
        let dpl = |d: u64| (d >> 45) & 3;
        let cpu = gdt[(CPU_NUMBER_SEL >> 3) as usize];
        assert_eq!(dpl(cpu), 3);
        assert_eq!((cpu & 0xffff) | (((cpu >> 48) & 0xf) << 16), 0x1_2345);
        assert_eq!((cpu >> 47) & 1, 1, "present");
        let long = |d: u64| (d >> 53) & 1;
        assert_eq!(dpl(gdt[(KERNEL_CS >> 3) as usize]), 0);
        assert_eq!(long(gdt[(KERNEL_CS >> 3) as usize]), 1);
        assert_eq!(dpl(gdt[(KERNEL_SS >> 3) as usize]), 0);
        assert_eq!(dpl(gdt[(USER_SS >> 3) as usize]), 3);
        assert_eq!(dpl(gdt[(USER_CS >> 3) as usize]), 3);
        assert_eq!(long(gdt[(USER_CS >> 3) as usize]), 1);
    }

    #[test]
    fn tss_descriptor_splits_base() {
        let base = 0xffff_c000_1234_5678;
        let [low, high] = tss_descriptor(base);
        assert_eq!(low & 0xffff, 103);
        assert_eq!((low >> 16) & 0xff_ffff, 0x34_5678);
        assert_eq!((low >> 56) & 0xff, 0x12);
        assert_eq!(high, 0xffff_c000);
        assert_eq!((low >> 40) & 0xff, 0x89);
    }
}
