//! Physical frames as owned values.
//!
//! A [`Frame`] is one reference to a 4 KiB physical frame: cloning it adds
//! a reference, dropping it removes one, and the last drop frees the frame.
//! This is what copy-on-write sharing rests on. The contents are writable
//! only through a unique reference ([`Frame::bytes_mut`] sees refcount 1),
//! so two clones can never both write.
//!
//! The bookkeeping is [`super::frame_alloc::FrameAllocator`].

#[cfg(target_os = "none")]
use alloc::vec::Vec;
use conquer_once::spin::OnceCell;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use super::frame_alloc::FrameAllocator;
use super::{PAGE_SIZE, phys_to_virt};

static FRAMES: OnceCell<FrameAllocator> = OnceCell::uninit();

/// Hands every usable frame left in `memory` to the allocator.
#[cfg(target_os = "none")]
pub(crate) fn init(memory: &crate::boot::MemoryMap) {
    FRAMES.init_once(|| FrameAllocator::new(memory.regions(), crate::smp::MAX_CPUS));
    let set: &'static FrameAllocator = FRAMES.get().expect("initialised above");
    FRAMES_AT.store(core::ptr::from_ref(set).cast_mut(), Ordering::Release);
    RESERVE.store(reserve_for(frames().total_frames()), Ordering::Relaxed);
}

/// Frames kept for the kernel heap (which grows from them through
/// [`alloc_contiguous_raw`]), so that user memory runs out first: a fault
/// or `mmap` then fails with `ENOMEM` (the faulting process is killed)
/// while the kernel still has room to clean up. New work (a fork: its
/// memory check reads [`available`]) stops at the whole reserve;
/// [`Frame::alloc`], which serves the faults and page tables of processes
/// already running, may use its upper half ([`allocatable`]). The heap
/// can grow into the reserve while the last forks' children start, and a
/// parent whose fork was just refused must still get the page its next
/// write copies: with the whole reserve closed to it, that write found no
/// frame, and killing children that share every page with it freed
/// nothing above the reserve (a kill storm of the 128 MiB
/// fork-until-exhaustion boot).
static RESERVE: AtomicUsize = AtomicUsize::new(0);

/// The reserve for a machine of `total` frames: 1/64 of them, between
/// 1 MiB and 32 MiB.
pub const fn reserve_for(total: usize) -> usize {
    let r = total / 64;
    if r < 256 {
        256
    } else if r > 8192 {
        8192
    } else {
        r
    }
}

/// Free frames above the reserve: what new work (a fork) may count on.
pub fn available() -> usize {
    let free = free_now();
    free.saturating_sub(RESERVE.load(Ordering::Relaxed))
}

/// Frames [`Frame::alloc`] can still hand out: free ones above half the
/// reserve ([`RESERVE`]).
#[inline]
pub fn allocatable() -> usize {
    let free = free_now();
    free.saturating_sub(RESERVE.load(Ordering::Relaxed) / 2)
}

/// [`FRAMES`]' allocator once it is set up, for [`frames`]: one load
/// instead of the `OnceCell`'s state checks (a handful of branches, each
/// ending a translation block under QEMU's TCG, on every allocation,
/// free and refcount read).
static FRAMES_AT: AtomicPtr<FrameAllocator> = AtomicPtr::new(core::ptr::null_mut());

#[inline]
fn frames() -> &'static FrameAllocator {
    // Acquire: pairs with `init`'s Release (a plain load on x86).
    let at = FRAMES_AT.load(Ordering::Acquire);
    if at.is_null() {
        return frames_slow();
    }
    // SAFETY: `init` stored the address of the allocator inside the
    // `static` `FRAMES`, which is set once and never changed or dropped.
    unsafe { &*at }
}

/// [`frames`] before `init` published the pointer (host tests).
#[cold]
fn frames_slow() -> &'static FrameAllocator {
    FRAMES
        .get()
        .expect("frame allocator used before boot set it up")
}

/// Free frames now (0 before the allocator is set up).
#[inline]
fn free_now() -> usize {
    // Acquire: as in `frames`.
    let at = FRAMES_AT.load(Ordering::Acquire);
    if at.is_null() {
        return FRAMES.get().map_or(0, FrameAllocator::free_frames);
    }
    // SAFETY: as in `frames`.
    unsafe { &*at }.free_frames()
}

/// `count` contiguous frames owned forever by the caller (the heap).
#[cfg(target_os = "none")]
pub(crate) fn alloc_contiguous_raw(count: usize) -> Option<u64> {
    FRAMES.get()?.alloc_contiguous(count, 1)
}

/// Ways to fill or copy a 4 KiB page. Under QEMU's TCG, string
/// instructions run one emulated iteration at a time, so the element size
/// decides: `rep stosb`/`rep movsb` take 4096 iterations per page,
/// `rep stosq`/`rep movsq` 512 (whatever ERMS/FSRM the CPU model
/// advertises, which only make hardware fast). The `page_zero_*` and
/// `page_copy_*` benchmarks compare them in one boot (docs/bench.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageOp {
    /// `slice::fill` / `copy_from_slice`: the compiler's `memset` and
    /// `memcpy` (`compiler_builtins`).
    Builtin,
    /// `rep stosq` / `rep movsq`.
    RepQ,
    /// `rep stosb` / `rep movsb`.
    RepB,
    /// A loop of 512 eight-byte volatile stores (and loads).
    Loop,
    /// 32 eight-byte moves per iteration (256 bytes), at fixed offsets
    /// from two pointers advanced once per iteration: 16 iterations, no
    /// indexed addressing (each `[base + index * 8]` is two more TCG
    /// operations than `[base + offset]`).
    Unrolled,
}

/// The way the kernel zeroes and copies pages (fresh frames, copy-on-write):
/// the fastest under TCG in the `page_*` benchmarks. Copy, -smp 2, two
/// boots: 0.55-0.56 µs against 0.64 for `Loop` (four indexed moves per
/// iteration), 0.57-0.58 for 16 moves per iteration, 0.65-0.67 for 16
/// `movsq` per iteration, 0.82 for `rep movsq` and 1.54 for SSE `movdqa`
/// (QEMU 7.2 moves xmm registers through its CPU state: slower than
/// eight-byte moves). Earlier: `Loop` against 0.67-0.68 for the builtin
/// and 6.7-7.5 for `rep movsb`. Zero: 0.31 µs against 0.33 for `Loop`.
pub const PAGE_OP: PageOp = PageOp::Unrolled;

const WORDS: usize = PAGE_SIZE as usize / 8;

/// Zero-fills `page` the way `how` says.
pub fn zero_with(page: &mut [u8; PAGE_SIZE as usize], how: PageOp) {
    let dst = page.as_mut_ptr();
    match how {
        PageOp::Builtin => page.fill(0),
        // SAFETY: `dst` is the start of a 4096-byte buffer we borrow
        // mutably; the instruction writes exactly its bytes (the direction
        // flag is clear, as the ABI requires).
        PageOp::RepQ => unsafe {
            core::arch::asm!("rep stosq", inout("rcx") WORDS => _, inout("rdi") dst => _,
                in("rax") 0u64, options(nostack, preserves_flags));
        },
        // SAFETY: as for `rep stosq`.
        PageOp::RepB => unsafe {
            core::arch::asm!("rep stosb", inout("rcx") PAGE_SIZE as usize => _,
                inout("rdi") dst => _, in("al") 0u8, options(nostack, preserves_flags));
        },
        PageOp::Loop => {
            let words = dst.cast::<u64>();
            assert!(words.is_aligned(), "page buffers are 8-byte aligned");
            for i in 0..WORDS {
                // SAFETY: in bounds of the borrowed page, aligned (checked
                // above).
                unsafe { words.add(i).write_volatile(0) };
            }
        }
        // SAFETY: 16 iterations of 256 bytes write exactly the borrowed
        // page.
        PageOp::Unrolled => unsafe {
            core::arch::asm!(
                "2:",
                ".set tine_page_off, 0",
                ".rept 32",
                "mov qword ptr [{d} + tine_page_off], {z}",
                ".set tine_page_off, tine_page_off + 8",
                ".endr",
                "add {d}, 256",
                "dec {n:e}",
                "jnz 2b",
                d = inout(reg) dst => _, z = in(reg) 0u64, n = inout(reg) 16u32 => _,
                options(nostack));
        },
    }
}

/// Copies `src` into `dst` the way `how` says.
pub fn copy_with(dst: &mut [u8; PAGE_SIZE as usize], src: &[u8; PAGE_SIZE as usize], how: PageOp) {
    // SAFETY: two distinct 4096-byte buffers (`&mut` and `&` cannot alias).
    unsafe { copy_raw(dst.as_mut_ptr(), src.as_ptr(), how) }
}

/// Copies a page from `src` to `dst` (direct-map addresses) with
/// [`PAGE_OP`]: copy-on-write, which reads a frame others map read-only.
///
/// # Safety
/// Both must be mapped 4096-byte buffers that do not overlap; nobody
/// writes `src` or accesses `dst` meanwhile.
#[cfg(target_os = "none")]
pub(crate) unsafe fn copy_page(dst: u64, src: u64) {
    // SAFETY: the caller's contract.
    unsafe { copy_raw(dst as *mut u8, src as *const u8, PAGE_OP) }
}

/// # Safety
/// As `copy_page`: two mapped, non-overlapping 4096-byte buffers nobody
/// else accesses meanwhile.
unsafe fn copy_raw(dst: *mut u8, src: *const u8, how: PageOp) {
    match how {
        // SAFETY: the caller's contract.
        PageOp::Builtin => unsafe { core::ptr::copy_nonoverlapping(src, dst, PAGE_SIZE as usize) },
        // SAFETY: the caller's contract; the instruction reads and writes
        // exactly the two pages (the direction flag is clear).
        PageOp::RepQ => unsafe {
            core::arch::asm!("rep movsq", inout("rcx") WORDS => _, inout("rdi") dst => _,
                inout("rsi") src => _, options(nostack, preserves_flags));
        },
        // SAFETY: as for `rep movsq`.
        PageOp::RepB => unsafe {
            core::arch::asm!("rep movsb", inout("rcx") PAGE_SIZE as usize => _,
                inout("rdi") dst => _, inout("rsi") src => _, options(nostack, preserves_flags));
        },
        PageOp::Loop => {
            let (d, s) = (dst.cast::<u64>(), src.cast::<u64>());
            assert!(
                d.is_aligned() && s.is_aligned(),
                "page buffers are 8-byte aligned"
            );
            for i in 0..WORDS {
                // SAFETY: in bounds of both pages, aligned (checked above).
                unsafe { d.add(i).write_volatile(s.add(i).read_volatile()) };
            }
        }
        // SAFETY: the caller's contract; 16 iterations of 256 bytes read
        // and write exactly the two pages.
        PageOp::Unrolled => unsafe {
            core::arch::asm!(
                "2:",
                ".set tine_page_off, 0",
                ".rept 32",
                "mov {t}, qword ptr [{s} + tine_page_off]",
                "mov qword ptr [{d} + tine_page_off], {t}",
                ".set tine_page_off, tine_page_off + 8",
                ".endr",
                "add {s}, 256",
                "add {d}, 256",
                "dec {n:e}",
                "jnz 2b",
                s = inout(reg) src => _, d = inout(reg) dst => _, t = out(reg) _,
                n = inout(reg) 16u32 => _, options(nostack));
        },
    }
}

/// Frees one frame of [`alloc_contiguous_raw`] (the heap giving memory
/// back).
#[cfg(target_os = "none")]
pub(crate) fn free_raw(pa: u64) {
    frames().dec_ref(pa, crate::cpu::id());
}

/// One reference to a physical frame.
#[derive(Debug)]
pub struct Frame {
    pa: u64,
}

impl Frame {
    /// Allocates a frame (contents undefined: old data of a freed frame).
    /// When none is free, the heap gives back what it can first
    /// ([`super::heap::trim`]). None when only the lower half of the
    /// reserve is left ([`allocatable`]).
    #[inline]
    pub fn alloc() -> Option<Frame> {
        // The common case inline: frames above the reserve and one in
        // this CPU's cache (or the pool).
        #[cfg(target_os = "none")]
        if allocatable() == 0 {
            return Self::alloc_trimming();
        }
        match frames().alloc(crate::cpu::id()) {
            Some(pa) => Some(Frame { pa }),
            #[cfg(target_os = "none")]
            None => Self::alloc_trimming(),
            #[cfg(not(target_os = "none"))]
            None => None,
        }
    }

    /// [`Self::alloc`] when frames are short: the heap gives back what
    /// it can first.
    #[cfg(target_os = "none")]
    #[cold]
    fn alloc_trimming() -> Option<Frame> {
        if allocatable() == 0 {
            super::heap::trim();
            if allocatable() == 0 {
                return None;
            }
        }
        let pa = frames().alloc(crate::cpu::id());
        let pa = pa.or_else(|| {
            super::heap::trim();
            frames().alloc(crate::cpu::id())
        });
        pa.map(|pa| Frame { pa })
    }

    /// Allocates a zero-filled frame (filled with [`PAGE_OP`]).
    pub fn alloc_zeroed() -> Option<Frame> {
        let mut f = Self::alloc()?;
        zero_with(f.bytes_mut().expect("a new frame is unique"), PAGE_OP);
        Some(f)
    }

    /// The frame's physical address.
    pub fn paddr(&self) -> u64 {
        self.pa
    }

    /// How many references the frame has.
    #[inline]
    pub fn refcount(&self) -> u32 {
        frames().refcount(self.pa)
    }

    /// The frame's contents, read-only.
    pub fn bytes(&self) -> &[u8; PAGE_SIZE as usize] {
        // SAFETY: the frame is allocated while `self` lives, the direct map
        // covers it, and no `&mut` to it exists: `bytes_mut` requires the
        // only reference, which `&self` here would share.
        unsafe { &*(phys_to_virt(self.pa) as *const [u8; PAGE_SIZE as usize]) }
    }

    /// The frame's contents, writable, if this is its only reference.
    pub fn bytes_mut(&mut self) -> Option<&mut [u8; PAGE_SIZE as usize]> {
        if self.refcount() != 1 {
            return None;
        }
        // SAFETY: refcount 1 means `self` is the only reference, and `&mut
        // self` means nobody else borrows it, so this is the only access.
        Some(unsafe { &mut *(phys_to_virt(self.pa) as *mut [u8; PAGE_SIZE as usize]) })
    }

    /// Gives up ownership without freeing (page-table pages, heap).
    #[cfg(target_os = "none")]
    pub(crate) fn leak(self) -> u64 {
        let pa = self.pa;
        core::mem::forget(self);
        pa
    }

    /// Drops this reference unless it is the frame's last: `None` if
    /// others remain, else `Some(self)` (the caller, now sole owner, frees
    /// what the frame holds before dropping it: a shared page-table page).
    #[cfg(target_os = "none")]
    pub(crate) fn into_last(self) -> Option<Frame> {
        if frames().dec_ref_unless_last(self.pa) {
            core::mem::forget(self);
            None
        } else {
            Some(self)
        }
    }

    /// Drops the references `pas` hold, given up with [`Frame::leak`],
    /// as dropping a `Frame` of each would, with one hold of this CPU's
    /// frame-cache lock for the ones freed (`FrameAllocator::dec_ref_many`).
    /// `pas` is reordered.
    ///
    /// # Safety
    /// Each entry must be a reference from [`Frame::leak`], given up here
    /// once (as [`Frame::from_raw`] then a drop).
    #[cfg(target_os = "none")]
    pub(crate) unsafe fn drop_many(pas: &mut [u64]) {
        frames().dec_ref_many(pas, crate::cpu::id());
    }

    /// Takes back a reference given up with [`Frame::leak`] (the user page
    /// tables keep their frames as physical addresses in PTEs).
    ///
    /// # Safety
    /// `pa` must come from [`Frame::leak`], and each leaked reference may be
    /// taken back at most once.
    #[cfg(target_os = "none")]
    pub(crate) unsafe fn from_raw(pa: u64) -> Frame {
        Frame { pa }
    }
}

impl Clone for Frame {
    fn clone(&self) -> Self {
        frames().inc_ref(self.pa);
        Frame { pa: self.pa }
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        frames().dec_ref(self.pa, crate::cpu::id());
    }
}

/// One reference to a frame of shared memory (`MAP_SHARED`): such a frame
/// is mapped writable in several page tables at once (the write invariant
/// of [`super::user`] exempts it), so its contents are never handed out as
/// `&[u8]`: this type has no `bytes`. The shared-memory object that owns
/// the page keeps one reference, each PTE mapping it another.
#[derive(Debug, Clone)]
pub struct SharedFrame(Frame);

impl SharedFrame {
    /// A zero-filled frame for shared memory.
    pub fn alloc_zeroed() -> Option<Self> {
        Frame::alloc_zeroed().map(Self)
    }

    /// The frame's physical address.
    pub fn paddr(&self) -> u64 {
        self.0.pa
    }

    /// How many references the frame has (the object's and the PTEs').
    pub fn refcount(&self) -> u32 {
        self.0.refcount()
    }

    /// A frame a shared-memory PTE holds, as the shared frame it is.
    #[cfg(target_os = "none")]
    pub(crate) fn from_frame(frame: Frame) -> Self {
        Self(frame)
    }

    /// The reference as a plain [`Frame`], for the page table to keep.
    #[cfg(target_os = "none")]
    pub(crate) fn into_frame(self) -> Frame {
        self.0
    }
}

/// The frame allocator's bookkeeping checked against itself
/// (`FrameAllocator::audit`), for `sysctl debug.check`.
pub fn audit() -> Result<(), alloc::string::String> {
    frames().audit()
}

/// Frames free and in total, for statistics and leak tests.
pub fn stats() -> (usize, usize) {
    let f = frames();
    (f.free_frames(), f.total_frames())
}

/// Frames mapped contiguously into the kernel's VMAP window.
#[cfg(target_os = "none")]
#[derive(Debug)]
pub struct KernelMapping {
    base: u64,
    frames: Vec<Frame>,
}

#[cfg(target_os = "none")]
impl KernelMapping {
    /// Maps `frames` read-write at a fresh kernel address. Each frame must
    /// be unique (refcount 1): the mapping then owns its contents.
    pub fn new(frames: Vec<Frame>) -> Result<Self, Vec<Frame>> {
        if frames.iter().any(|f| f.refcount() != 1) {
            return Err(frames);
        }
        let pas: Vec<u64> = frames.iter().map(Frame::paddr).collect();
        match super::paging::vmap_frames(&pas, true, false) {
            Some(base) => Ok(Self { base, frames }),
            None => Err(frames),
        }
    }

    /// Kernel virtual address of the first byte.
    pub fn addr(&self) -> u64 {
        self.base
    }

    /// The mapped bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the range is mapped to frames this mapping owns uniquely
        // (checked in `new`, and `frames` is never exposed), for its lifetime.
        unsafe { core::slice::from_raw_parts(self.base as *const u8, self.len()) }
    }

    /// The mapped bytes, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as `as_slice`, and `&mut self` makes this the only access.
        unsafe { core::slice::from_raw_parts_mut(self.base as *mut u8, self.len()) }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.frames.len() * PAGE_SIZE as usize
    }

    /// Whether the mapping is empty.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Unmaps and returns the frames.
    pub fn unmap(mut self) -> Vec<Frame> {
        super::paging::vunmap(self.base, self.frames.len());
        core::mem::take(&mut self.frames)
    }
}

#[cfg(target_os = "none")]
impl Drop for KernelMapping {
    fn drop(&mut self) {
        if !self.frames.is_empty() {
            super::paging::vunmap(self.base, self.frames.len());
        }
    }
}
