//! Boot: from QEMU's PVH entry to the kernel's `main`.
//!
//! 1. [`pvh`] (assembly) enters long mode on throw-away page tables and
//!    calls `tine_bsp_entry` on the boot stack.
//! 2. `tine_bsp_entry` installs the boot CPU's per-CPU block, reads
//!    `hvm_start_info` (memory map, command line, modules, RSDP), reserves
//!    what must not be handed out, builds the real page tables (direct map
//!    of all RAM, W^X kernel image), starts the heap and the frame
//!    allocator, and calls the kernel's entry named by [`entry_point!`](crate::entry_point).
//!
//! [`memmap`] is the pure memory-map logic, tested on the host.

pub mod memmap;
#[cfg(target_os = "none")]
mod pvh;

pub use memmap::{MemoryMap, Region};

/// What the boot CPU learned at boot, handed to the kernel.
#[derive(Debug)]
pub struct BootInfo {
    /// The kernel command line (`-append`), empty when there is none.
    pub cmdline: &'static str,
    /// The first boot module (`-initrd`), read-only and reserved forever.
    pub initrd: Option<&'static [u8]>,
    /// Physical address of the ACPI RSDP, if the loader gave one.
    pub rsdp: Option<u64>,
    /// Usable RAM as handed to the frame allocator.
    pub memory: MemoryMap,
    /// Physical range of the kernel image.
    pub kernel_image: Region,
}

/// Names the kernel's entry function: `fn(&'static BootInfo) -> !`.
///
/// `arch` calls it on the boot CPU once memory is set up. Use exactly once,
/// in the image crate.
#[macro_export]
macro_rules! entry_point {
    ($main:path) => {
        #[unsafe(export_name = "__tine_kernel_main")]
        extern "Rust" fn __tine_kernel_main(info: &'static $crate::boot::BootInfo) -> ! {
            let main: fn(&'static $crate::boot::BootInfo) -> ! = $main;
            main(info)
        }
    };
}

/// The magic number at the start of `hvm_start_info`.
pub const HVM_START_MAGIC: u32 = 0x336e_c578;

#[cfg(target_os = "none")]
mod entry {
    use super::{BootInfo, HVM_START_MAGIC, MemoryMap, Region};
    use crate::mm;
    use core::ptr::read_unaligned;

    unsafe extern "Rust" {
        safe fn __tine_kernel_main(info: &'static BootInfo) -> !;
    }

    /// `struct hvm_start_info` (version 1), as the PVH ABI lays it out.
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct StartInfo {
        magic: u32,
        version: u32,
        flags: u32,
        nr_modules: u32,
        modlist_paddr: u64,
        cmdline_paddr: u64,
        rsdp_paddr: u64,
        memmap_paddr: u64,
        memmap_entries: u32,
        reserved: u32,
    }

    /// `struct hvm_modlist_entry`.
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct ModEntry {
        paddr: u64,
        size: u64,
        cmdline_paddr: u64,
        reserved: u64,
    }

    /// `struct hvm_memmap_table_entry`.
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct MemmapEntry {
        addr: u64,
        size: u64,
        kind: u32,
        reserved: u32,
    }

    /// Reads a `T` at physical address `pa` through the boot identity map.
    ///
    /// # Safety
    /// The boot page tables must still be active (they identity-map the low
    /// 4 GiB) and `[pa, pa + size_of::<T>())` must lie below 4 GiB and hold
    /// a `T` written by the loader.
    unsafe fn read_phys<T: Copy>(pa: u64) -> T {
        // SAFETY: the caller guarantees the address is identity-mapped and
        // holds a T; read_unaligned makes no alignment assumption.
        unsafe { read_unaligned(pa as *const T) }
    }

    static CMDLINE: spin::Once<heapless_str::Buf> = spin::Once::new();
    static BOOT_INFO: spin::Once<BootInfo> = spin::Once::new();

    mod heapless_str {
        /// A fixed buffer for the command line, which must outlive the
        /// boot identity map it is read through.
        pub struct Buf {
            pub bytes: [u8; 4096],
            pub len: usize,
        }
    }

    fn kernel_image() -> Region {
        unsafe extern "C" {
            static __boot_start: u8;
            static __kernel_end: u8;
        }
        let start = &raw const __boot_start as u64;
        let end = &raw const __kernel_end as u64 - mm::KERNEL_VIRT;
        Region { start, end }
    }

    /// The boot CPU's first Rust code, called by the PVH stub.
    #[unsafe(no_mangle)]
    extern "C" fn tine_bsp_entry(start_info_pa: u64) -> ! {
        crate::smp::percpu::install(0, crate::cpu::features::initial_apic_id());
        crate::cpu::tsc::set_boot_reference();
        crate::cpu::init_this_cpu();

        // SAFETY: the PVH ABI passes the start-info address in EBX, which the
        // stub forwarded; the loader places it below 4 GiB and the boot
        // identity map is active.
        let si: StartInfo = unsafe { read_phys(start_info_pa) };
        if si.magic != HVM_START_MAGIC {
            crate::cpu::console::emergency(format_args!(
                "tine: bad hvm_start_info magic {:#x}\n",
                si.magic
            ));
            crate::cpu::exit_qemu(crate::ExitCode::Panic);
        }

        let mut memory = if si.version >= 1 && si.memmap_entries > 0 {
            MemoryMap::from_entries((0..si.memmap_entries as u64).map(|i| {
                // SAFETY: entry i of the loader's memory-map table, below 4 GiB.
                let e: MemmapEntry = unsafe { read_phys(si.memmap_paddr + i * 24) };
                (e.addr, e.size, e.kind)
            }))
        } else {
            MemoryMap::empty()
        };

        // What must never be handed out: real-mode memory (BIOS data, the AP
        // trampoline), the kernel image, the start info and module table,
        // and every module's bytes.
        let image = kernel_image();
        memory.reserve(0, 0x10_0000);
        memory.reserve(image.start, image.end);
        memory.reserve(start_info_pa, start_info_pa + size_of::<StartInfo>() as u64);
        let mut initrd_range = None;
        for i in 0..si.nr_modules as u64 {
            // SAFETY: entry i of the loader's module list, below 4 GiB.
            let m: ModEntry = unsafe { read_phys(si.modlist_paddr + i * 32) };
            memory.reserve(m.paddr, m.paddr + m.size);
            if i == 0 {
                initrd_range = Some((m.paddr, m.size));
            }
        }

        let cmdline = CMDLINE.call_once(|| {
            let mut buf = heapless_str::Buf {
                bytes: [0; 4096],
                len: 0,
            };
            if si.cmdline_paddr != 0 {
                while buf.len < buf.bytes.len() - 1 {
                    // SAFETY: the NUL-terminated command line is below 4 GiB.
                    let b: u8 = unsafe { read_phys(si.cmdline_paddr + buf.len as u64) };
                    if b == 0 {
                        break;
                    }
                    buf.bytes[buf.len] = b;
                    buf.len += 1;
                }
            }
            buf
        });
        let cmdline = core::str::from_utf8(&cmdline.bytes[..cmdline.len]).unwrap_or("");

        mm::init(&mut memory);

        let initrd = initrd_range.map(|(pa, size)| mm::reserved_bytes(pa, size as usize));
        let info = BOOT_INFO.call_once(|| BootInfo {
            cmdline,
            initrd,
            rsdp: (si.rsdp_paddr != 0).then_some(si.rsdp_paddr),
            memory,
            kernel_image: image,
        });
        __tine_kernel_main(info)
    }
}
