//! Loading a program from the initramfs into a fresh address space: the
//! part of `execve` that carries out an [`elf::LoadPlan`](super::elf::LoadPlan)
//! and a [`StackImage`](super::stack::StackImage).
//!
//! [`image_vmas`] (pure, host-tested) turns the plan's segments into VMAs:
//! page ranges with permissions. Neighbouring segments may share a boundary
//! page; that page gets the union of their permissions. Tine enforces W^X:
//! a page that would be both writable and executable (an `RWX` segment, or
//! a shared page between a code and a data segment) makes the image
//! `ENOEXEC`. Linkers that put each permission on its own pages (lld does
//! by default, and `user/` is linked with it) never produce one.
//!
//! `load` (on the machine) then builds the `AddressSpace`:
//! - one `Image` VMA per range; the pages that hold file bytes come from
//!   the image page cache ([`super::cache`]: built from the initramfs at
//!   the program's first exec, shared by every process running it, mapped
//!   read-only so that a write makes a private copy), the `.bss`-only
//!   pages are left to be zero-filled on first touch. The plan, the
//!   ranges and the list of pages are worked out at the program's first
//!   exec and kept with the cache (`cache::Prepared`);
//! - the heap (`brk`) starts at the page after the image, empty;
//! - the stack: a VMA of [`STACK_SIZE`] (more if the arguments need it)
//!   below `DEFAULT_STACK_TOP`, with nothing mapped below it for
//!   [`STACK_GUARD`] bytes (`mmap` keeps out of that gap), the initial stack
//!   image (argv, envp, auxv with 16 `AT_RANDOM` bytes from
//!   `arch::cpu::random`) copied to its top. The stack is never
//!   executable, whatever `PT_GNU_STACK` asks for;
//! - the vDSO (`arch::user::vdso`): its data page and image, the same
//!   frames in every process, at [`VDSO_BASE`], `AT_SYSINFO_EHDR` naming
//!   the image (fork shares them like any page, exec maps them afresh).
//!
//! The result is the entry point and the initial `rsp`, from which the
//! caller makes the first thread's `UserContext::new(entry, rsp)`.

use alloc::vec::Vec;

use super::elf::Segment;
use crate::vm::vma::{PAGE_SIZE, VmPerms};

/// The stack VMA's size when the arguments are small: Linux's default
/// `RLIMIT_STACK` (8 MiB), which Linux's stack may grow to. Tine's does
/// not grow, so it is that size from the start (lazily filled, so only
/// touched pages cost memory). It was 128 KiB: a program with 1 MiB of
/// locals died of `SIGSEGV` (kselftest `virtual_address_range`;
/// `/test/c_compat`).
pub const STACK_SIZE: u64 = 8 << 20;
/// The unmapped gap kept below the stack VMA.
pub const STACK_GUARD: u64 = 1 << 20;
/// Where the vDSO goes (its data page; the ELF image follows, and
/// `AT_SYSINFO_EHDR` points there): 16 MiB below the stack's top, below
/// the largest stack and its guard, in the `mmap` window (which leaves
/// the two pages alone).
pub const VDSO_BASE: u64 = crate::exec::stack::DEFAULT_STACK_TOP - (16 << 20);

/// Why a plan cannot be mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// A page would be both writable and executable (its address).
    WriteExec(u64),
}

/// A page range of the image and its permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageRange {
    pub start: u64,
    pub end: u64,
    pub perms: VmPerms,
}

fn perms_of(s: &Segment) -> VmPerms {
    VmPerms {
        read: s.perms.read,
        write: s.perms.write,
        exec: s.perms.execute,
    }
}

/// The page ranges the segments (sorted, not overlapping in bytes, as a
/// `LoadPlan` has them) need, with a shared boundary page given the union
/// of both segments' permissions, neighbouring ranges with equal
/// permissions merged. Refuses any writable and executable page.
pub fn image_vmas(segments: &[Segment]) -> Result<Vec<ImageRange>, LayoutError> {
    let mut out: Vec<ImageRange> = Vec::new();
    for seg in segments {
        let (mut start, end, perms) = (seg.map_start(), seg.map_end(), perms_of(seg));
        if start == end {
            continue;
        }
        if let Some(last) = out.last_mut()
            && start < last.end
        {
            // Only the one boundary page can be shared (the segments do not
            // overlap in bytes).
            let shared = last.end - PAGE_SIZE;
            let union = last.perms.union(perms);
            last.end = shared;
            if last.start == last.end {
                out.pop();
            }
            out.push(ImageRange {
                start: shared,
                end: shared + PAGE_SIZE,
                perms: union,
            });
            start = shared + PAGE_SIZE;
        }
        if start < end {
            out.push(ImageRange { start, end, perms });
        }
    }
    let mut merged: Vec<ImageRange> = Vec::with_capacity(out.len());
    for r in out {
        if r.perms.write && r.perms.exec {
            return Err(LayoutError::WriteExec(r.start));
        }
        match merged.last_mut() {
            Some(last) if last.end == r.start && last.perms == r.perms => last.end = r.end,
            _ => merged.push(r),
        }
    }
    Ok(merged)
}

#[cfg(target_os = "none")]
pub use imp::{Loaded, executable, load, load_as, load_exec};

#[cfg(target_os = "none")]
mod imp {
    use alloc::collections::BTreeMap;
    use arch::mm::Frame;

    use super::*;
    use crate::exec::cache;
    use crate::exec::elf::{DEFAULT_PIE_BIAS, LoadPlan};
    use crate::exec::stack::{AuxInfo, DEFAULT_STACK_TOP, StackError, StackImage};
    use crate::fs::FsError;
    use crate::proc::cred::Creds;
    use crate::vm::USER_BOTTOM;
    use crate::vm::space::{AddressSpace, BRK_MAX};
    use crate::vm::vma::{VmaKind, page_down, page_up};
    use abi::Errno;

    /// A program ready to run: its address space and first registers.
    #[derive(Debug)]
    pub struct Loaded {
        pub space: AddressSpace,
        /// The entry point (`rip`).
        pub entry: u64,
        /// The initial stack pointer (at `argc`).
        pub rsp: u64,
    }

    /// The errno of a failed lookup.
    pub fn fs_errno(e: FsError) -> Errno {
        match e {
            FsError::NotFound | FsError::NotMounted => Errno::ENOENT,
            FsError::NotDir => Errno::ENOTDIR,
            FsError::IsDir => Errno::EISDIR,
            FsError::Loop => Errno::ELOOP,
            FsError::NameTooLong => Errno::ENAMETOOLONG,
            FsError::BadName | FsError::Archive(_) | FsError::AlreadyMounted => Errno::EIO,
        }
    }

    /// Loads the program at `path` of the initramfs with `argv` and `envp`
    /// for root ([`load_as`]).
    pub fn load(path: &str, argv: &[&[u8]], envp: &[&[u8]]) -> Result<Loaded, Errno> {
        load_as(path, argv, envp, &Creds::ROOT)
    }

    /// `AT_HWCAP` on x86: CPUID leaf 1's EDX, as Linux gives it.
    fn hwcap() -> u64 {
        u64::from(arch::cpu::Features::cpuid(1, 0)[3])
    }

    /// Loads the program at `path` of the initramfs with `argv` and `envp`
    /// (module docs) for a process with `creds` (the auxiliary vector's
    /// `AT_UID`, `AT_EUID`, `AT_GID`, `AT_EGID`; `AT_SECURE` is 0, there
    /// are no set-id files). Errors: the lookup's (`ENOENT`, `ENOTDIR`, ...),
    /// `EACCES` for a directory or a file without an execute bit,
    /// `ENOEXEC` for an image the ELF checks or W^X refuse, `E2BIG` for
    /// arguments over 2 MiB, `EINVAL` for a NUL inside one, `ENOMEM`.
    /// Nothing outside the new space is changed, so a failure leaves the
    /// caller as it was.
    pub fn load_as(
        path: &str,
        argv: &[&[u8]],
        envp: &[&[u8]],
        creds: &Creds,
    ) -> Result<Loaded, Errno> {
        load_exec(path, path.as_bytes(), argv, envp, creds)
    }

    /// The contents of the executable file at `path`: the lookup's errors
    /// (`ENOENT`, `ENOTDIR`, ...), `EACCES` for a directory or a file
    /// without an execute bit.
    pub fn executable(path: &str) -> Result<&'static [u8], Errno> {
        let root = crate::fs::root().map_err(fs_errno)?;
        let node = root.lookup(path).map_err(fs_errno)?;
        match node.data() {
            Some(data) if node.mode() & 0o111 != 0 => Ok(data),
            _ => Err(Errno::EACCES),
        }
    }

    /// What every exec of `image` needs from the file (`cache::Prepared`):
    /// its plan and page ranges (`ENOEXEC` for a file the ELF checks or
    /// W^X refuse), and its pages of file bytes, from the image page cache
    /// or built now (filled, then cached; `ENOMEM` without a frame).
    fn prepare(image: &'static [u8]) -> Result<cache::Prepared, Errno> {
        let plan = LoadPlan::new(image, DEFAULT_PIE_BIAS).map_err(|_| Errno::ENOEXEC)?;
        let ranges = image_vmas(&plan.segments).map_err(|_| Errno::ENOEXEC)?;
        let mut pages: BTreeMap<u64, (Frame, bool)> = BTreeMap::new();
        for seg in &plan.segments {
            let bytes = seg.file_bytes(image);
            let mut at = 0usize;
            while at < bytes.len() {
                let va = seg.vaddr + at as u64;
                let page = page_down(va);
                let offset = (va - page) as usize;
                let n = (PAGE_SIZE as usize - offset).min(bytes.len() - at);
                let (frame, fresh) = match pages.entry(page) {
                    alloc::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                    alloc::collections::btree_map::Entry::Vacant(e) => {
                        e.insert(match cache::get(image, page) {
                            Some(cached) => (cached, false),
                            None => (Frame::alloc_zeroed().ok_or(Errno::ENOMEM)?, true),
                        })
                    }
                };
                if *fresh {
                    frame.bytes_mut().expect("a fresh frame is unique")[offset..offset + n]
                        .copy_from_slice(&bytes[at..at + n]);
                }
                at += n;
            }
        }
        // A segment with no permissions at all stays unmapped (every
        // access is SIGSEGV, as PROT_NONE).
        let no_access = |va: u64| {
            ranges
                .iter()
                .any(|r| r.start <= va && va < r.end && r.perms == VmPerms::default())
        };
        let mut mapped = Vec::with_capacity(pages.len());
        for (page, (frame, fresh)) in pages {
            if fresh {
                cache::insert(image, page, &frame);
            }
            if !no_access(page) {
                mapped.push((page, frame));
            }
        }
        Ok(cache::Prepared {
            plan,
            ranges,
            pages: mapped,
        })
    }

    /// [`load_as`] with `AT_EXECFN` given separately (for a `#!` script,
    /// the script's path while `path` is its interpreter).
    pub fn load_exec(
        path: &str,
        execfn: &[u8],
        argv: &[&[u8]],
        envp: &[&[u8]],
        creds: &Creds,
    ) -> Result<Loaded, Errno> {
        let image = executable(path)?;
        let prepared = match cache::prepared(image) {
            Some(prepared) => prepared,
            None => cache::keep_prepared(image, prepare(image)?),
        };
        let plan = &prepared.plan;

        let mut random = [0u8; 16];
        arch::cpu::random::fill(&mut random);
        let vdso = arch::user::vdso::pages();
        let aux = AuxInfo {
            sysinfo_ehdr: if vdso.is_some() {
                VDSO_BASE + PAGE_SIZE
            } else {
                0
            },
            uid: creds.uid,
            euid: creds.euid,
            gid: creds.gid,
            egid: creds.egid,
            hwcap: hwcap(),
            secure: false,
            ..AuxInfo::for_plan(plan, random)
        };
        let stack =
            StackImage::new(DEFAULT_STACK_TOP, argv, envp, execfn, &aux).map_err(|e| match e {
                StackError::TooBig => Errno::E2BIG,
                StackError::InteriorNul | StackError::BadTop(_) => Errno::EINVAL,
            })?;

        let space = AddressSpace::new()?;
        for r in &prepared.ranges {
            space.map_anonymous(r.start, r.end, r.perms, VmaKind::Image)?;
        }
        // The cache's reference makes a writable page read-only until its
        // first write (a private copy then).
        for (page, frame) in &prepared.pages {
            space.map_frame(*page, frame.clone())?;
        }

        // The stack: big enough for the image plus room to grow.
        let image_bytes = page_up(stack.bytes.len() as u64).ok_or(Errno::E2BIG)?;
        let stack_size = STACK_SIZE.max(image_bytes + STACK_SIZE / 2);
        let stack_bottom = DEFAULT_STACK_TOP - stack_size;
        space
            .map_anonymous(stack_bottom, DEFAULT_STACK_TOP, VmPerms::RW, VmaKind::Stack)
            .map_err(|_| Errno::ENOMEM)?;
        space.copy_to_user(stack.rsp, &stack.bytes)?;
        if let Some((data, image)) = vdso {
            debug_assert!(VDSO_BASE + 2 * PAGE_SIZE <= stack_bottom - STACK_GUARD);
            space.map_vdso(VDSO_BASE, data, image)?;
        }

        let brk_start = plan.image_end;
        let mmap_floor = brk_start.saturating_add(BRK_MAX).max(USER_BOTTOM);
        space.set_layout(
            brk_start,
            mmap_floor,
            stack_bottom.saturating_sub(STACK_GUARD),
        );
        Ok(Loaded {
            space,
            entry: plan.entry,
            rsp: stack.rsp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::elf::Perms;

    fn seg(vaddr: u64, memsz: u64, r: bool, w: bool, x: bool) -> Segment {
        Segment {
            vaddr,
            memsz,
            filesz: memsz,
            offset: vaddr & 0xfff,
            perms: Perms {
                read: r,
                write: w,
                execute: x,
            },
        }
    }

    fn range(start: u64, end: u64, perms: VmPerms) -> ImageRange {
        ImageRange { start, end, perms }
    }

    #[test]
    fn separate_pages_stay_separate() {
        // The layout lld gives user/hello: R, RX, RW, RW (.bss).
        let segs = [
            seg(0x40_0000, 0x5b4, true, false, false),
            seg(0x40_15c0, 0x185a, true, false, true),
            seg(0x40_3e20, 0x1e0, true, true, false),
            seg(0x40_4e70, 0x18, true, true, false),
        ];
        assert_eq!(
            image_vmas(&segs),
            Ok(alloc::vec![
                range(0x40_0000, 0x40_1000, VmPerms::R),
                range(0x40_1000, 0x40_3000, VmPerms::RX),
                range(0x40_3000, 0x40_5000, VmPerms::RW),
            ])
        );
    }

    #[test]
    fn a_shared_boundary_page_gets_the_union() {
        let segs = [
            seg(0x40_0000, 0x1800, true, false, false),
            seg(0x40_1800, 0x2000, true, true, false),
        ];
        assert_eq!(
            image_vmas(&segs),
            Ok(alloc::vec![
                range(0x40_0000, 0x40_1000, VmPerms::R),
                range(0x40_1000, 0x40_4000, VmPerms::RW),
            ])
        );
        // Two small segments inside one page.
        let segs = [
            seg(0x40_0000, 0x100, true, false, false),
            seg(0x40_0200, 0x100, true, false, true),
        ];
        assert_eq!(
            image_vmas(&segs),
            Ok(alloc::vec![range(0x40_0000, 0x40_1000, VmPerms::RX)])
        );
    }

    #[test]
    fn write_and_execute_together_is_refused() {
        let rwx = [seg(0x40_0000, 0x1000, true, true, true)];
        assert_eq!(image_vmas(&rwx), Err(LayoutError::WriteExec(0x40_0000)));
        let code_then_data = [
            seg(0x40_0000, 0x1800, true, false, true),
            seg(0x40_1800, 0x1000, true, true, false),
        ];
        assert_eq!(
            image_vmas(&code_then_data),
            Err(LayoutError::WriteExec(0x40_1000))
        );
    }
}
