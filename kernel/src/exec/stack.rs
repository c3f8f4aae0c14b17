//! The initial user stack of a new program (System V x86-64 ABI, §3.4.1,
//! as Linux lays it out).
//!
//! [`StackImage::new`] produces the bytes that `execve` copies to just
//! below the stack top, and the initial `rsp`, which points at `argc` and
//! is 16-byte aligned. From `rsp` upwards:
//!
//! ```text
//! rsp ->  argc
//!         argv[0] .. argv[argc-1], NULL        (pointers to the strings)
//!         envp[0] .. envp[n-1], NULL
//!         auxv: (type, value) pairs, ending with (AT_NULL, 0)
//!         padding (zeros) to keep rsp 16-aligned
//!         AT_RANDOM's 16 bytes                 (16-aligned)
//!         argv strings, then envp strings      (NUL-terminated)
//!         the AT_EXECFN string                 (the path given to execve)
//! top ->  (8 zero bytes end the image, as on Linux)
//! ```
//!
//! Pure and host-tested; the tests read the image back as a C runtime
//! would.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use super::elf::{LoadPlan, PAGE_SIZE};

/// The stack top `execve` uses until address-space randomization arrives:
/// 16 MiB below [`crate::vm::USER_TOP`], 16-aligned. The gap is what
/// Linux's randomized stack top leaves (at least a page, usually
/// gigabytes): a program may `mmap`/`mremap` with `MAP_FIXED` at the top
/// of user space (the kselftest `sysret_rip` moves a page to
/// `0x7fff_ffff_d000` and `0x7fff_ffff_e000`, which was the stack's top
/// page: the test died of `SIGSEGV`; `/test/c_mmap_top`).
pub const DEFAULT_STACK_TOP: u64 = 0x0000_7fff_ff00_0000;
/// Most bytes the image may take (`E2BIG` beyond): a quarter of Linux's
/// default 8 MiB stack limit, which is Linux's own bound.
pub const MAX_IMAGE: usize = 2 << 20;

/// Auxiliary vector entry types (`AT_*`, from the Linux ABI).
pub mod at {
    pub const NULL: u64 = 0;
    pub const PHDR: u64 = 3;
    pub const PHENT: u64 = 4;
    pub const PHNUM: u64 = 5;
    pub const PAGESZ: u64 = 6;
    pub const BASE: u64 = 7;
    pub const FLAGS: u64 = 8;
    pub const ENTRY: u64 = 9;
    pub const UID: u64 = 11;
    pub const EUID: u64 = 12;
    pub const GID: u64 = 13;
    pub const EGID: u64 = 14;
    pub const HWCAP: u64 = 16;
    pub const CLKTCK: u64 = 17;
    pub const SECURE: u64 = 23;
    pub const RANDOM: u64 = 25;
    pub const EXECFN: u64 = 31;
    pub const SYSINFO_EHDR: u64 = 33;
}

/// The values the auxiliary vector carries that the kernel decides.
/// `AT_PAGESZ`, `AT_CLKTCK`, `AT_BASE`, `AT_FLAGS` are constants and the
/// addresses of `AT_RANDOM` and `AT_EXECFN` are the image's own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuxInfo {
    /// `AT_PHDR`: the program headers in memory (0 if not loaded).
    pub phdr: u64,
    pub phent: u64,
    pub phnum: u64,
    /// `AT_ENTRY`: the program's entry point.
    pub entry: u64,
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
    /// `AT_HWCAP`: CPUID.1:EDX, as Linux gives on x86.
    pub hwcap: u64,
    /// `AT_SECURE`: set-id execution (the C library then ignores
    /// dangerous environment variables).
    pub secure: bool,
    /// The 16 bytes `AT_RANDOM` points at (stack protector and pointer
    /// guard seeds).
    pub random: [u8; 16],
    /// `AT_SYSINFO_EHDR`: where the vDSO's ELF header is mapped (0: none).
    pub sysinfo_ehdr: u64,
}

impl AuxInfo {
    /// The ELF-derived fields from `plan`; credentials root, `hwcap` 0,
    /// not secure.
    pub fn for_plan(plan: &LoadPlan, random: [u8; 16]) -> Self {
        Self {
            phdr: plan.phdr_addr.unwrap_or(0),
            phent: u64::from(plan.phent),
            phnum: u64::from(plan.phnum),
            entry: plan.entry,
            random,
            ..Self::default()
        }
    }
}

/// Why the image cannot be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackError {
    /// The strings and vectors need more than [`MAX_IMAGE`] bytes
    /// (`E2BIG`).
    TooBig,
    /// An argument, environment string or the path contains a NUL byte.
    InteriorNul,
    /// The stack top is not 16-aligned, or too low to hold the image.
    BadTop(u64),
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooBig => f.write_str("argument list too long"),
            Self::InteriorNul => f.write_str("NUL byte inside a string"),
            Self::BadTop(top) => write!(f, "bad stack top {top:#x}"),
        }
    }
}

/// The initial stack: `bytes` go to `[rsp, top)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackImage {
    pub bytes: Vec<u8>,
    /// The initial `rsp`: the address of `argc`, 16-aligned;
    /// `top - bytes.len()`.
    pub rsp: u64,
    /// Where the argv pointer array starts (`rsp + 8`).
    pub argv: u64,
    /// Where the envp pointer array starts.
    pub envp: u64,
    /// Where the auxiliary vector starts.
    pub auxv: u64,
}

impl StackImage {
    /// Lays out `argv`, `envp` (strings without their NUL), the auxiliary
    /// vector from `aux` and the path `execfn` below `top`.
    pub fn new(
        top: u64,
        argv: &[&[u8]],
        envp: &[&[u8]],
        execfn: &[u8],
        aux: &AuxInfo,
    ) -> Result<Self, StackError> {
        if !top.is_multiple_of(16) {
            return Err(StackError::BadTop(top));
        }
        let strings = || argv.iter().chain(envp).chain(core::iter::once(&execfn));
        if strings().any(|s| s.contains(&0)) {
            return Err(StackError::InteriorNul);
        }
        // Every size below is bounded by the sum of the inputs' lengths,
        // which are in memory, so the arithmetic cannot overflow; the
        // image size is checked before anything is allocated.
        let string_bytes: usize = strings().map(|s| s.len() + 1).sum();
        let end_marker = 8;
        let random_at_offset = align_up(end_marker + string_bytes + 16, 16);
        let auxv = auxv_entries(aux);
        let words = 1 + argv.len() + 1 + envp.len() + 1 + 2 * auxv.len();
        let size = align_up(random_at_offset + 8 * words, 16);
        if size > MAX_IMAGE {
            return Err(StackError::TooBig);
        }
        let rsp = top
            .checked_sub(size as u64)
            .filter(|&rsp| rsp >= PAGE_SIZE)
            .ok_or(StackError::BadTop(top))?;

        let mut bytes = vec![0u8; size];
        let addr = |index: usize| rsp + index as u64;
        // Strings, from low to high: argv, envp, execfn; the last 8 bytes
        // stay zero.
        let mut at = size - end_marker - string_bytes;
        let mut place = |s: &[u8]| {
            bytes[at..at + s.len()].copy_from_slice(s);
            let address = addr(at);
            at += s.len() + 1;
            address
        };
        let argv_ptrs: Vec<u64> = argv.iter().map(|s| place(s)).collect();
        let envp_ptrs: Vec<u64> = envp.iter().map(|s| place(s)).collect();
        let execfn_ptr = place(execfn);
        let random_index = size - random_at_offset;
        bytes[random_index..random_index + 16].copy_from_slice(&aux.random);
        let random_ptr = addr(random_index);

        let mut words_out = Vec::with_capacity(words);
        words_out.push(argv.len() as u64);
        words_out.extend(&argv_ptrs);
        words_out.push(0);
        words_out.extend(&envp_ptrs);
        words_out.push(0);
        for (kind, value) in auxv {
            let value = match kind {
                at::RANDOM => random_ptr,
                at::EXECFN => execfn_ptr,
                _ => value,
            };
            words_out.extend([kind, value]);
        }
        for (i, word) in words_out.iter().enumerate() {
            bytes[8 * i..8 * i + 8].copy_from_slice(&word.to_le_bytes());
        }
        let envp_at = rsp + 8 * (argv.len() as u64 + 2);
        Ok(Self {
            bytes,
            rsp,
            argv: rsp + 8,
            envp: envp_at,
            auxv: envp_at + 8 * (envp.len() as u64 + 1),
        })
    }
}

/// The auxiliary vector, ending with `AT_NULL`; the values of `AT_RANDOM`
/// and `AT_EXECFN` are filled in by the caller.
fn auxv_entries(aux: &AuxInfo) -> [(u64, u64); 18] {
    [
        (at::SYSINFO_EHDR, aux.sysinfo_ehdr),
        (at::HWCAP, aux.hwcap),
        (at::PAGESZ, PAGE_SIZE),
        (at::CLKTCK, 100),
        (at::PHDR, aux.phdr),
        (at::PHENT, aux.phent),
        (at::PHNUM, aux.phnum),
        (at::BASE, 0),
        (at::FLAGS, 0),
        (at::ENTRY, aux.entry),
        (at::UID, u64::from(aux.uid)),
        (at::EUID, u64::from(aux.euid)),
        (at::GID, u64::from(aux.gid)),
        (at::EGID, u64::from(aux.egid)),
        (at::SECURE, u64::from(aux.secure)),
        (at::RANDOM, 0),
        (at::EXECFN, 0),
        (at::NULL, 0),
    ]
}

const fn align_up(n: usize, align: usize) -> usize {
    (n + align - 1) & !(align - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::elf::build::typical;
    use alloc::collections::BTreeMap;

    /// What a C runtime finds on its initial stack.
    struct Parsed {
        argv: Vec<Vec<u8>>,
        envp: Vec<Vec<u8>>,
        auxv: BTreeMap<u64, u64>,
    }

    /// Reads the image back, following pointers as user space would.
    fn parse(image: &StackImage) -> Parsed {
        let top = image.rsp + image.bytes.len() as u64;
        let index = |addr: u64| {
            assert!(
                addr >= image.rsp && addr < top,
                "{addr:#x} is outside the image"
            );
            (addr - image.rsp) as usize
        };
        let word = |addr: u64| {
            let i = index(addr);
            u64::from_le_bytes(image.bytes[i..i + 8].try_into().unwrap())
        };
        let string = |addr: u64| {
            let i = index(addr);
            let len = image.bytes[i..].iter().position(|&b| b == 0).unwrap();
            image.bytes[i..i + len].to_vec()
        };
        let mut at = image.rsp;
        let argc = word(at);
        at += 8;
        assert_eq!(at, image.argv);
        let argv: Vec<_> = (0..argc).map(|i| string(word(at + 8 * i))).collect();
        at += 8 * argc;
        assert_eq!(word(at), 0, "argv ends with NULL");
        at += 8;
        assert_eq!(at, image.envp);
        let mut envp = Vec::new();
        while word(at) != 0 {
            envp.push(string(word(at)));
            at += 8;
        }
        at += 8;
        assert_eq!(at, image.auxv);
        let mut auxv = BTreeMap::new();
        loop {
            let (kind, value) = (word(at), word(at + 8));
            assert!(auxv.insert(kind, value).is_none(), "AT {kind} twice");
            at += 16;
            if kind == at::NULL {
                break;
            }
        }
        Parsed { argv, envp, auxv }
    }

    fn aux() -> AuxInfo {
        AuxInfo {
            phdr: 0x40_0040,
            phent: 56,
            phnum: 5,
            entry: 0x40_1010,
            uid: 1,
            euid: 2,
            gid: 3,
            egid: 4,
            hwcap: 0x178b_fbff,
            secure: true,
            random: *b"0123456789abcdef",
            sysinfo_ehdr: 0x7fff_feff_f000,
        }
    }

    #[test]
    fn argv_envp_and_auxv_read_back() {
        let top = DEFAULT_STACK_TOP;
        let image = StackImage::new(
            top,
            &[b"/bin/hello", b"one", b""],
            &[b"HOME=/", b"TERM=vt100"],
            b"/bin/hello",
            &aux(),
        )
        .unwrap();
        assert_eq!(image.rsp % 16, 0);
        assert_eq!(image.rsp + image.bytes.len() as u64, top);
        assert_eq!(image.bytes[image.bytes.len() - 8..], [0; 8]);
        let parsed = parse(&image);
        assert_eq!(parsed.argv, [&b"/bin/hello"[..], b"one", b""]);
        assert_eq!(parsed.envp, [&b"HOME=/"[..], b"TERM=vt100"]);
        let a = &parsed.auxv;
        assert_eq!(a[&at::PHDR], 0x40_0040);
        assert_eq!(a[&at::PHENT], 56);
        assert_eq!(a[&at::PHNUM], 5);
        assert_eq!(a[&at::PAGESZ], 4096);
        assert_eq!(a[&at::ENTRY], 0x40_1010);
        assert_eq!(
            (a[&at::UID], a[&at::EUID], a[&at::GID], a[&at::EGID]),
            (1, 2, 3, 4)
        );
        assert_eq!(a[&at::HWCAP], 0x178b_fbff);
        assert_eq!(a[&at::SECURE], 1);
        assert_eq!(a[&at::SYSINFO_EHDR], 0x7fff_feff_f000);
        assert_eq!(a[&at::NULL], 0);
        let random = a[&at::RANDOM];
        assert_eq!(random % 16, 0);
        let i = (random - image.rsp) as usize;
        assert_eq!(&image.bytes[i..i + 16], b"0123456789abcdef");
        let execfn = a[&at::EXECFN];
        let i = (execfn - image.rsp) as usize;
        assert_eq!(&image.bytes[i..i + 11], b"/bin/hello\0");
        assert!(execfn > random, "strings sit above the random bytes");
    }

    #[test]
    fn rsp_is_16_aligned_for_every_shape() {
        for argc in 0..6 {
            for envc in 0..6 {
                for len in 0..20 {
                    let arg = vec![b'a'; len];
                    let argv: Vec<&[u8]> = (0..argc).map(|_| &arg[..]).collect();
                    let envp: Vec<&[u8]> = (0..envc).map(|_| &b"K=V"[..]).collect();
                    let image = StackImage::new(0x7fff_0000, &argv, &envp, b"/x", &aux()).unwrap();
                    assert_eq!(image.rsp % 16, 0);
                    let parsed = parse(&image);
                    assert_eq!(parsed.argv.len(), argc);
                    assert_eq!(parsed.envp.len(), envc);
                }
            }
        }
    }

    #[test]
    fn aux_info_comes_from_the_load_plan() {
        let elf = typical(elf::abi::ET_EXEC, 0x40_0000);
        let plan = LoadPlan::new(&elf, 0).unwrap();
        let info = AuxInfo::for_plan(&plan, [7; 16]);
        assert_eq!(
            (info.phdr, info.phent, info.phnum, info.entry),
            (0x40_0040, 56, 5, 0x40_1010)
        );
        let image =
            StackImage::new(DEFAULT_STACK_TOP, &[b"init"], &[], b"/bin/init", &info).unwrap();
        let parsed = parse(&image);
        assert_eq!(parsed.auxv[&at::ENTRY], plan.entry);
        assert_eq!(parsed.auxv[&at::SECURE], 0);
    }

    #[test]
    fn bad_inputs_are_refused() {
        let a = aux();
        assert_eq!(
            StackImage::new(DEFAULT_STACK_TOP + 8, &[], &[], b"/x", &a),
            Err(StackError::BadTop(DEFAULT_STACK_TOP + 8))
        );
        assert_eq!(
            StackImage::new(0x100, &[], &[], b"/x", &a),
            Err(StackError::BadTop(0x100))
        );
        assert_eq!(
            StackImage::new(DEFAULT_STACK_TOP, &[b"a\0b"], &[], b"/x", &a),
            Err(StackError::InteriorNul)
        );
        assert_eq!(
            StackImage::new(DEFAULT_STACK_TOP, &[], &[], b"/x\0", &a),
            Err(StackError::InteriorNul)
        );
        let big = vec![b'x'; MAX_IMAGE];
        assert_eq!(
            StackImage::new(DEFAULT_STACK_TOP, &[&big], &[], b"/x", &a),
            Err(StackError::TooBig)
        );
    }
}
