//! ELF64 executables: validation and the load plan.
//!
//! [`LoadPlan::new`] reads an executable image (a file of the initramfs)
//! and says what `execve` must map: the `PT_LOAD` segments with their
//! addresses, sizes, file ranges and permissions, the entry point, and the
//! values the auxiliary vector needs (`AT_PHDR`, `AT_PHENT`, `AT_PHNUM`,
//! `AT_ENTRY`). It maps nothing itself: it is pure and host-tested, and the
//! VM layer carries the plan out.
//!
//! Accepted: ELF64, little-endian, x86-64, `ET_EXEC` (linked at fixed
//! addresses; the bias is 0) or `ET_DYN` without `PT_INTERP` (a static
//! PIE, moved by the caller's page-aligned `bias`). Refused with an
//! [`ElfError`] (every one of which is `ENOEXEC` to user space):
//! a dynamically linked program (`PT_INTERP`), no `PT_LOAD`, a segment
//! whose file size exceeds its memory size, whose file range is past the
//! end of the image, whose address and offset disagree modulo the page
//! size (the file could not be mapped page by page), that reaches below
//! [`USER_BOTTOM`] or above [`USER_TOP`] (`crate::vm`'s user range), two
//! segments that overlap, and an entry point outside every executable
//! segment. Neighbouring segments may share a boundary page (their byte
//! ranges do not overlap); the mapper then gives that page the union of
//! their permissions.
//!
//! The headers are parsed with the `elf` crate (`default-features = false`:
//! no `std`, no `alloc`, no unsafe code, zero-copy; `docs/initramfs.md`
//! says why it was chosen). Only the file header and the program headers
//! are read: section headers, which a loader does not need, may be absent
//! or even damaged.

use alloc::vec::Vec;
use core::fmt;

use elf::abi;
use elf::endian::LittleEndian;
use elf::file::{Class, FileHeader};
use elf::parse::ParseError;
use elf::segment::{ProgramHeader, SegmentTable};

use crate::vm::{USER_BOTTOM, USER_TOP};

/// The page size the plan aligns to.
pub const PAGE_SIZE: u64 = 4096;
/// A load bias for static PIEs when the caller has no better one (no
/// address-space randomization yet).
pub const DEFAULT_PIE_BIAS: u64 = 0x0000_5555_5555_0000;
/// Most program headers accepted (Linux accepts up to 64 KiB of them;
/// real programs have about ten).
pub const MAX_PHNUM: usize = 256;

/// Size of an ELF64 file header.
const EHDR_SIZE: usize = 64;
/// Size of an ELF64 program header.
const PHDR_SIZE: usize = 56;

/// Why an image cannot be executed. To user space, all of these are
/// `ENOEXEC`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// No ELF magic (or shorter than an ELF identification).
    NotElf,
    /// An ELF32 (or unknown class) file.
    NotElf64,
    /// Big-endian (or unknown byte order).
    NotLittleEndian,
    /// Not for x86-64 (`e_machine` is given).
    WrongMachine(u16),
    /// Neither `ET_EXEC` nor `ET_DYN` (`e_type` is given).
    NotExecutable(u16),
    /// It names an interpreter (`PT_INTERP`): dynamic linking is not
    /// supported.
    Dynamic,
    /// The file header or program header table is truncated or
    /// inconsistent.
    BadHeaders,
    /// More than [`MAX_PHNUM`] program headers.
    TooManyHeaders,
    /// No `PT_LOAD` segment.
    NoLoadSegments,
    /// A segment's file size exceeds its memory size (segment index).
    FileSizeExceedsMemSize(usize),
    /// A segment's file range ends past the end of the image.
    OffsetPastFile(usize),
    /// A segment's address and file offset differ modulo the page size.
    Misaligned(usize),
    /// A segment reaches outside `[USER_BOTTOM, USER_TOP)`.
    OutsideUserSpace(usize),
    /// Two segments overlap (the indices of both).
    Overlap(usize, usize),
    /// The entry point is in no executable segment.
    BadEntry(u64),
    /// The caller's bias is not page-aligned.
    BadBias(u64),
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotElf => f.write_str("not an ELF file"),
            Self::NotElf64 => f.write_str("not a 64-bit ELF file"),
            Self::NotLittleEndian => f.write_str("not little-endian"),
            Self::WrongMachine(m) => write!(f, "not for x86-64 (e_machine {m})"),
            Self::NotExecutable(t) => write!(f, "not an executable (e_type {t})"),
            Self::Dynamic => f.write_str("dynamically linked (PT_INTERP)"),
            Self::BadHeaders => f.write_str("truncated or inconsistent headers"),
            Self::TooManyHeaders => f.write_str("too many program headers"),
            Self::NoLoadSegments => f.write_str("no PT_LOAD segment"),
            Self::FileSizeExceedsMemSize(i) => write!(f, "segment {i}: filesz > memsz"),
            Self::OffsetPastFile(i) => write!(f, "segment {i}: file range past the end"),
            Self::Misaligned(i) => write!(f, "segment {i}: vaddr and offset disagree mod page"),
            Self::OutsideUserSpace(i) => write!(f, "segment {i}: outside user space"),
            Self::Overlap(a, b) => write!(f, "segments {a} and {b} overlap"),
            Self::BadEntry(e) => write!(f, "entry {e:#x} is in no executable segment"),
            Self::BadBias(b) => write!(f, "load bias {b:#x} is not page-aligned"),
        }
    }
}

impl From<ParseError> for ElfError {
    fn from(error: ParseError) -> Self {
        match error {
            ParseError::BadMagic(_) => Self::NotElf,
            ParseError::UnsupportedElfClass(_) => Self::NotElf64,
            ParseError::UnsupportedElfEndianness(_) => Self::NotLittleEndian,
            _ => Self::BadHeaders,
        }
    }
}

/// Access rights of a segment (`PF_R`, `PF_W`, `PF_X`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Perms {
    pub read: bool,
    pub write: bool,
    pub execute: bool,
}

impl Perms {
    fn from_flags(flags: u32) -> Self {
        Self {
            read: flags & abi::PF_R != 0,
            write: flags & abi::PF_W != 0,
            execute: flags & abi::PF_X != 0,
        }
    }
}

/// Whether the image was linked at fixed addresses or is position
/// independent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfKind {
    /// `ET_EXEC`: loaded where it was linked.
    Exec,
    /// `ET_DYN` without an interpreter: a static PIE, loaded at the bias.
    StaticPie,
}

/// One `PT_LOAD` segment, with the bias already added to its address.
///
/// Memory `[vaddr, vaddr + filesz)` receives the file bytes
/// `[offset, offset + filesz)`; `[vaddr + filesz, vaddr + memsz)` is zero
/// (`.bss`). The pages to map are `[map_start(), map_end())`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: u64,
    pub memsz: u64,
    pub filesz: u64,
    pub offset: u64,
    pub perms: Perms,
}

impl Segment {
    /// The first page to map.
    pub fn map_start(&self) -> u64 {
        page_down(self.vaddr)
    }

    /// The end of the last page to map (exclusive).
    pub fn map_end(&self) -> u64 {
        // Validated: vaddr + memsz < USER_TOP, so neither step overflows.
        page_up(self.vaddr + self.memsz)
    }

    /// Whether `addr` lies in `[vaddr, vaddr + memsz)`.
    pub fn contains(&self, addr: u64) -> bool {
        addr >= self.vaddr && addr - self.vaddr < self.memsz
    }

    /// The file bytes that go to `vaddr`. `image` must be the image the
    /// plan was made from (for another, the slice may be shorter).
    pub fn file_bytes<'a>(&self, image: &'a [u8]) -> &'a [u8] {
        let start = usize::try_from(self.offset).unwrap_or(usize::MAX);
        let end = usize::try_from(self.offset + self.filesz).unwrap_or(usize::MAX);
        image.get(start..end).unwrap_or_default()
    }
}

/// What `execve` must do to load an image: see the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadPlan {
    pub kind: ElfKind,
    /// Added to every address of the file (0 for `ET_EXEC`).
    pub bias: u64,
    /// Where the program starts (biased): `AT_ENTRY` and the initial `rip`.
    pub entry: u64,
    /// The `PT_LOAD` segments, sorted by address, not overlapping.
    pub segments: Vec<Segment>,
    /// The address of the program headers in memory (`AT_PHDR`): from
    /// `PT_PHDR`, else the `PT_LOAD` that contains the table; `None` if no
    /// segment loads it.
    pub phdr_addr: Option<u64>,
    /// Size of one program header (`AT_PHENT`).
    pub phent: u16,
    /// Number of program headers (`AT_PHNUM`).
    pub phnum: u16,
    /// `PT_GNU_STACK` asks for an executable stack (false without one,
    /// as on Linux x86-64 for 64-bit programs).
    pub stack_executable: bool,
    /// The end of the last mapped page: where the heap (`brk`) can start.
    pub image_end: u64,
}

impl LoadPlan {
    /// Validates `image` and computes its plan; a static PIE is placed at
    /// `bias` (which must be page-aligned; it is ignored for `ET_EXEC`).
    pub fn new(image: &[u8], bias: u64) -> Result<Self, ElfError> {
        let ident_bytes = image.get(..abi::EI_NIDENT).ok_or(ElfError::NotElf)?;
        let ident = elf::file::parse_ident::<LittleEndian>(ident_bytes)?;
        if ident.1 != Class::ELF64 {
            return Err(ElfError::NotElf64);
        }
        let tail = image
            .get(abi::EI_NIDENT..EHDR_SIZE)
            .ok_or(ElfError::BadHeaders)?;
        let header = FileHeader::parse_tail(ident, tail)?;
        if header.e_machine != abi::EM_X86_64 {
            return Err(ElfError::WrongMachine(header.e_machine));
        }
        let (kind, bias) = match header.e_type {
            abi::ET_EXEC => (ElfKind::Exec, 0),
            abi::ET_DYN if !bias.is_multiple_of(PAGE_SIZE) => return Err(ElfError::BadBias(bias)),
            abi::ET_DYN => (ElfKind::StaticPie, bias),
            other => return Err(ElfError::NotExecutable(other)),
        };
        let phnum = usize::from(header.e_phnum);
        if phnum > MAX_PHNUM {
            return Err(ElfError::TooManyHeaders);
        }
        if usize::from(header.e_phentsize) != PHDR_SIZE {
            return Err(ElfError::BadHeaders);
        }
        let table_start = usize::try_from(header.e_phoff).map_err(|_| ElfError::BadHeaders)?;
        let table_len = phnum * PHDR_SIZE;
        let table = table_start
            .checked_add(table_len)
            .and_then(|end| image.get(table_start..end))
            .ok_or(ElfError::BadHeaders)?;
        let headers = SegmentTable::new(LittleEndian, Class::ELF64, table);

        let mut segments: Vec<(usize, Segment)> = Vec::new();
        let mut phdr_segment = None;
        let mut stack_executable = false;
        for (index, ph) in headers.iter().enumerate() {
            match ph.p_type {
                abi::PT_INTERP => return Err(ElfError::Dynamic),
                abi::PT_LOAD => segments.push((index, load_segment(index, &ph, image, bias)?)),
                abi::PT_PHDR => phdr_segment = Some(ph.p_vaddr),
                abi::PT_GNU_STACK => stack_executable = ph.p_flags & abi::PF_X != 0,
                _ => {}
            }
        }
        if segments.is_empty() {
            return Err(ElfError::NoLoadSegments);
        }
        segments.sort_by_key(|(_, s)| s.vaddr);
        for pair in segments.windows(2) {
            let ((a, first), (b, second)) = (pair[0], pair[1]);
            if first.vaddr + first.memsz > second.vaddr {
                return Err(ElfError::Overlap(a, b));
            }
        }
        let segments: Vec<Segment> = segments.into_iter().map(|(_, s)| s).collect();

        let entry = header.e_entry.wrapping_add(bias);
        if !segments
            .iter()
            .any(|s| s.perms.execute && s.contains(entry))
        {
            return Err(ElfError::BadEntry(entry));
        }
        let phdr_addr = match phdr_segment {
            Some(vaddr) => Some(vaddr.wrapping_add(bias)),
            None => segments.iter().find_map(|s| {
                let within = header.e_phoff.checked_sub(s.offset)?;
                (within + table_len as u64 <= s.filesz).then_some(s.vaddr + within)
            }),
        };
        let image_end = segments.iter().map(Segment::map_end).max().unwrap_or(0);
        Ok(Self {
            kind,
            bias,
            entry,
            segments,
            phdr_addr,
            phent: PHDR_SIZE as u16,
            phnum: header.e_phnum,
            stack_executable,
            image_end,
        })
    }
}

/// Validates one `PT_LOAD` header and biases its address.
fn load_segment(
    index: usize,
    ph: &ProgramHeader,
    image: &[u8],
    bias: u64,
) -> Result<Segment, ElfError> {
    if ph.p_filesz > ph.p_memsz {
        return Err(ElfError::FileSizeExceedsMemSize(index));
    }
    let file_end = ph
        .p_offset
        .checked_add(ph.p_filesz)
        .ok_or(ElfError::OffsetPastFile(index))?;
    if file_end > image.len() as u64 {
        return Err(ElfError::OffsetPastFile(index));
    }
    if ph.p_vaddr % PAGE_SIZE != ph.p_offset % PAGE_SIZE {
        return Err(ElfError::Misaligned(index));
    }
    let vaddr = ph
        .p_vaddr
        .checked_add(bias)
        .ok_or(ElfError::OutsideUserSpace(index))?;
    let end = vaddr
        .checked_add(ph.p_memsz)
        .ok_or(ElfError::OutsideUserSpace(index))?;
    if page_down(vaddr) < USER_BOTTOM || end > USER_TOP {
        return Err(ElfError::OutsideUserSpace(index));
    }
    Ok(Segment {
        vaddr,
        memsz: ph.p_memsz,
        filesz: ph.p_filesz,
        offset: ph.p_offset,
        perms: Perms::from_flags(ph.p_flags),
    })
}

/// `addr` rounded down to a page boundary.
pub const fn page_down(addr: u64) -> u64 {
    addr & !(PAGE_SIZE - 1)
}

/// `addr` rounded up to a page boundary (`addr` must be below
/// `u64::MAX - PAGE_SIZE`).
pub const fn page_up(addr: u64) -> u64 {
    page_down(addr + PAGE_SIZE - 1)
}

/// Hand-made ELF images for the tests of this module and of
/// [`super::stack`].
#[cfg(test)]
pub(crate) mod build {
    use alloc::vec;
    use alloc::vec::Vec;

    /// A program header to write.
    #[derive(Clone, Copy)]
    pub struct Ph {
        pub p_type: u32,
        pub flags: u32,
        pub offset: u64,
        pub vaddr: u64,
        pub filesz: u64,
        pub memsz: u64,
    }

    impl Ph {
        pub fn load(flags: u32, offset: u64, vaddr: u64, filesz: u64, memsz: u64) -> Self {
            Self {
                p_type: elf::abi::PT_LOAD,
                flags,
                offset,
                vaddr,
                filesz,
                memsz,
            }
        }

        pub fn other(p_type: u32, flags: u32) -> Self {
            Self {
                p_type,
                flags,
                offset: 0,
                vaddr: 0,
                filesz: 0,
                memsz: 0,
            }
        }
    }

    /// An ELF64 x86-64 image of type `e_type` with program headers `phs`
    /// right after the file header, padded with zeros to `len` bytes.
    pub fn image(e_type: u16, entry: u64, phs: &[Ph], len: usize) -> Vec<u8> {
        let mut out = vec![0u8; 64];
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = 2; // ELFCLASS64
        out[5] = 1; // ELFDATA2LSB
        out[6] = 1; // EV_CURRENT
        out[16..18].copy_from_slice(&e_type.to_le_bytes());
        out[18..20].copy_from_slice(&62u16.to_le_bytes()); // EM_X86_64
        out[20..24].copy_from_slice(&1u32.to_le_bytes());
        out[24..32].copy_from_slice(&entry.to_le_bytes());
        out[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        out[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
        out[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        out[56..58].copy_from_slice(&(phs.len() as u16).to_le_bytes());
        for ph in phs {
            out.extend_from_slice(&ph.p_type.to_le_bytes());
            out.extend_from_slice(&ph.flags.to_le_bytes());
            out.extend_from_slice(&ph.offset.to_le_bytes());
            out.extend_from_slice(&ph.vaddr.to_le_bytes());
            out.extend_from_slice(&ph.vaddr.to_le_bytes()); // p_paddr
            out.extend_from_slice(&ph.filesz.to_le_bytes());
            out.extend_from_slice(&ph.memsz.to_le_bytes());
            out.extend_from_slice(&0x1000u64.to_le_bytes()); // p_align
        }
        if out.len() < len {
            out.resize(len, 0);
        }
        out
    }

    /// A typical static executable at 0x400000: headers and rodata (R),
    /// text (RX) from 0x401000, data+bss (RW) from 0x402000.
    pub fn typical(e_type: u16, base: u64) -> Vec<u8> {
        use elf::abi::{PF_R, PF_W, PF_X, PT_GNU_STACK, PT_PHDR};
        let mut phdr = Ph::other(PT_PHDR, PF_R);
        phdr.offset = 64;
        phdr.vaddr = base + 64;
        phdr.filesz = 5 * 56;
        phdr.memsz = 5 * 56;
        image(
            e_type,
            base + 0x1010,
            &[
                phdr,
                Ph::load(PF_R, 0, base, 0x400, 0x400),
                Ph::load(PF_R | PF_X, 0x1000, base + 0x1000, 0x234, 0x234),
                Ph::load(PF_R | PF_W, 0x2000, base + 0x2000, 0x10, 0x3000),
                Ph::other(PT_GNU_STACK, PF_R | PF_W),
            ],
            0x2010,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::build::{Ph, image, typical};
    use super::*;
    use elf::abi::{ET_DYN, ET_EXEC, ET_REL, PF_R, PF_W, PF_X, PT_GNU_STACK, PT_INTERP};

    #[test]
    fn plans_a_typical_static_executable() {
        let bytes = typical(ET_EXEC, 0x40_0000);
        let plan = LoadPlan::new(&bytes, DEFAULT_PIE_BIAS).unwrap();
        assert_eq!(plan.kind, ElfKind::Exec);
        assert_eq!(plan.bias, 0);
        assert_eq!(plan.entry, 0x40_1010);
        assert_eq!(plan.phdr_addr, Some(0x40_0040));
        assert_eq!((plan.phent, plan.phnum), (56, 5));
        assert!(!plan.stack_executable);
        let rx = Perms {
            read: true,
            write: false,
            execute: true,
        };
        assert_eq!(
            plan.segments[1],
            Segment {
                vaddr: 0x40_1000,
                memsz: 0x234,
                filesz: 0x234,
                offset: 0x1000,
                perms: rx
            }
        );
        let data = plan.segments[2];
        assert!(data.perms.write && !data.perms.execute);
        assert_eq!((data.map_start(), data.map_end()), (0x40_2000, 0x40_5000));
        assert_eq!(plan.image_end, 0x40_5000);
        assert_eq!(data.file_bytes(&bytes).len(), 0x10);
        assert_eq!(plan.segments[0].file_bytes(&bytes)[..4], *b"\x7fELF");
    }

    #[test]
    fn static_pie_is_moved_by_the_bias() {
        let bytes = typical(ET_DYN, 0);
        // With a zero base the first segment sits at 0, below USER_BOTTOM.
        assert_eq!(LoadPlan::new(&bytes, 0), Err(ElfError::OutsideUserSpace(1)));
        let plan = LoadPlan::new(&bytes, DEFAULT_PIE_BIAS).unwrap();
        assert_eq!(plan.kind, ElfKind::StaticPie);
        assert_eq!(plan.entry, DEFAULT_PIE_BIAS + 0x1010);
        assert_eq!(plan.phdr_addr, Some(DEFAULT_PIE_BIAS + 64));
        assert_eq!(plan.segments[0].vaddr, DEFAULT_PIE_BIAS);
        assert_eq!(
            LoadPlan::new(&bytes, DEFAULT_PIE_BIAS + 1),
            Err(ElfError::BadBias(DEFAULT_PIE_BIAS + 1))
        );
    }

    #[test]
    fn phdr_address_comes_from_the_segment_holding_the_table() {
        let bytes = image(
            ET_EXEC,
            0x40_0100,
            &[Ph::load(PF_R | PF_X, 0, 0x40_0000, 0x200, 0x200)],
            0x200,
        );
        let plan = LoadPlan::new(&bytes, 0).unwrap();
        assert_eq!(plan.phdr_addr, Some(0x40_0040));
        // Table not loaded: no AT_PHDR to give.
        let bytes = image(
            ET_EXEC,
            0x40_1000,
            &[Ph::load(PF_R | PF_X, 0x1000, 0x40_1000, 0x200, 0x200)],
            0x1200,
        );
        assert_eq!(LoadPlan::new(&bytes, 0).unwrap().phdr_addr, None);
    }

    #[test]
    fn executable_stack_is_reported() {
        let bytes = image(
            ET_EXEC,
            0x40_0100,
            &[
                Ph::load(PF_R | PF_X, 0, 0x40_0000, 0x200, 0x200),
                Ph::other(PT_GNU_STACK, PF_R | PF_W | PF_X),
            ],
            0x200,
        );
        assert!(LoadPlan::new(&bytes, 0).unwrap().stack_executable);
    }

    #[test]
    fn segments_are_sorted_and_may_share_a_boundary_page() {
        let bytes = image(
            ET_EXEC,
            0x40_0100,
            &[
                Ph::load(PF_R | PF_W, 0x800, 0x40_0800, 0x100, 0x100),
                Ph::load(PF_R | PF_X, 0, 0x40_0000, 0x800, 0x800),
            ],
            0x900,
        );
        let plan = LoadPlan::new(&bytes, 0).unwrap();
        assert_eq!(plan.segments[0].vaddr, 0x40_0000);
        assert_eq!(plan.segments[1].vaddr, 0x40_0800);
        assert_eq!(plan.segments[0].map_end(), plan.segments[1].map_end());
    }

    /// `image` with one RX segment at 0x400000 plus `extra`.
    fn with(extra: Ph) -> Vec<u8> {
        image(
            ET_EXEC,
            0x40_0100,
            &[Ph::load(PF_R | PF_X, 0, 0x40_0000, 0x200, 0x200), extra],
            0x3000,
        )
    }

    #[test]
    fn bad_segments_are_refused() {
        let cases = [
            (
                Ph::load(PF_R, 0x1000, 0x50_1000, 0x200, 0x100),
                ElfError::FileSizeExceedsMemSize(1),
            ),
            (
                Ph::load(PF_R, 0x2000, 0x50_2000, 0x1001, 0x1001),
                ElfError::OffsetPastFile(1),
            ),
            (
                Ph::load(PF_R, u64::MAX - 4, 0x50_2000, 0x10, 0x10),
                ElfError::OffsetPastFile(1),
            ),
            (
                Ph::load(PF_R, 0x1000, 0x50_1200, 0x10, 0x10),
                ElfError::Misaligned(1),
            ),
            (
                Ph::load(PF_R, 0x1000, USER_TOP - 0x1000, 0x10, 0x1001),
                ElfError::OutsideUserSpace(1),
            ),
            (
                Ph::load(PF_R, 0x1000, 0xffff_8000_0000_1000, 0x10, 0x10),
                ElfError::OutsideUserSpace(1),
            ),
            (
                Ph::load(PF_R, 0x1000, u64::MAX - 0xfff, 0x10, 0x10),
                ElfError::OutsideUserSpace(1),
            ),
            (
                Ph::load(PF_R, 0x1000, 0x1000, 0x10, 0x10),
                ElfError::OutsideUserSpace(1),
            ),
            (
                Ph::load(PF_R, 0x1100, 0x40_0100, 0x10, 0x10),
                ElfError::Overlap(0, 1),
            ),
            (Ph::other(PT_INTERP, PF_R), ElfError::Dynamic),
        ];
        for (ph, expected) in cases {
            assert_eq!(LoadPlan::new(&with(ph), 0), Err(expected));
        }
        // At the very top is fine.
        let top = Ph::load(PF_R, 0x1000, USER_TOP - 0x1000, 0x10, 0x1000);
        assert!(LoadPlan::new(&with(top), 0).is_ok());
    }

    #[test]
    fn bad_files_are_refused() {
        let good = typical(ET_EXEC, 0x40_0000);
        assert_eq!(LoadPlan::new(b"", 0), Err(ElfError::NotElf));
        assert_eq!(
            LoadPlan::new(b"#!/bin/sh\necho hi\n", 0),
            Err(ElfError::NotElf)
        );
        assert_eq!(LoadPlan::new(&good[..40], 0), Err(ElfError::BadHeaders));
        assert_eq!(LoadPlan::new(&good[..200], 0), Err(ElfError::BadHeaders));
        let patched = |at: usize, bytes: &[u8]| {
            let mut image = good.clone();
            image[at..at + bytes.len()].copy_from_slice(bytes);
            LoadPlan::new(&image, 0)
        };
        assert_eq!(patched(4, &[1]), Err(ElfError::NotElf64));
        assert_eq!(patched(5, &[2]), Err(ElfError::NotLittleEndian));
        assert_eq!(
            patched(18, &3u16.to_le_bytes()),
            Err(ElfError::WrongMachine(3))
        );
        assert_eq!(
            patched(16, &ET_REL.to_le_bytes()),
            Err(ElfError::NotExecutable(ET_REL))
        );
        assert_eq!(patched(54, &32u16.to_le_bytes()), Err(ElfError::BadHeaders));
        assert_eq!(
            patched(56, &0u16.to_le_bytes()),
            Err(ElfError::NoLoadSegments)
        );
        assert_eq!(
            patched(56, &1000u16.to_le_bytes()),
            Err(ElfError::TooManyHeaders)
        );
        assert_eq!(
            patched(24, &0x40_0010u64.to_le_bytes()),
            Err(ElfError::BadEntry(0x40_0010))
        );
        assert_eq!(
            patched(32, &u64::MAX.to_le_bytes()),
            Err(ElfError::BadHeaders)
        );
    }

    #[test]
    fn corrupted_images_never_panic() {
        let good = typical(ET_DYN, 0);
        let mut state = 0x1234_5678_9abc_def1u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let mut bytes = good.clone();
            for _ in 0..1 + next() % 4 {
                // Mostly the headers, where the interesting fields are.
                let at = (next() % 400) as usize;
                bytes[at] = next() as u8;
            }
            let cut = bytes.len() - (next() % 64) as usize;
            if let Ok(plan) = LoadPlan::new(&bytes[..cut], DEFAULT_PIE_BIAS) {
                for s in &plan.segments {
                    assert!(s.map_start() >= USER_BOTTOM && s.map_end() <= USER_TOP);
                    assert!(s.filesz <= s.memsz);
                    assert_eq!(s.file_bytes(&bytes[..cut]).len() as u64, s.filesz);
                }
            }
        }
    }
}
