//! Fallible heap allocation for system-call paths: an allocation a user
//! can size or repeat returns `ENOMEM` instead of reaching the allocation
//! error handler (a kernel panic).
//!
//! Two layers (the audit is in `docs/robustness.md`):
//!
//! - **Headroom.** The kernel heap grows from the frame allocator, and
//!   `Frame::alloc` keeps a reserve (1/64 of RAM, 1-32 MiB) that user
//!   pages cannot take. [`headroom`] refuses an allocation of `bytes` that
//!   would eat into the first half of that reserve: the heap must already
//!   have the bytes free inside, or the frames left after it must still
//!   cover half the reserve. The other half stays for the kernel's own
//!   small allocations (tasks, wakers, records) that are not fallible.
//!   The system-call dispatcher asks it for [`SYSCALL_HEADROOM`] before
//!   every call that may allocate ([`syscall_headroom`]), so near
//!   exhaustion such calls fail with `ENOMEM` and calls that release
//!   memory (`close`, `munmap`, `exit`, `wait4`, `kill`, ...) still work.
//! - **Fallible collections.** [`zeroed`], [`with_capacity`] and [`push`]
//!   check the headroom for their size and use `try_reserve`, so a size
//!   the allocator cannot satisfy (or that overflows) is `ENOMEM` too.
//!
//! Stable Rust has no fallible `Box::new`/`Arc::new` (the dispatcher's
//! per-call box uses `arch::mm::boxed::try_box`); small fixed-size
//! objects a user can multiply (descriptors, pipes, epoll watches, VMAs,
//! processes) are bounded by a count limit where they are created and
//! covered by the per-call headroom.

use abi::Errno;
use alloc::vec::Vec;

/// What every allocating system call needs free before it starts.
pub const SYSCALL_HEADROOM: usize = 64 << 10;

/// The decision behind [`headroom`], pure for the host tests: may
/// `bytes` be allocated with `free_frames` of `total_frames` frames free
/// and `heap_free` bytes free inside the heap?
pub fn enough(free_frames: usize, total_frames: usize, heap_free: usize, bytes: usize) -> bool {
    const PAGE: usize = 4096;
    let keep = arch::mm::frame::reserve_for(total_frames) / 2 * PAGE;
    bytes <= heap_free
        || free_frames
            .saturating_mul(PAGE)
            .checked_sub(bytes)
            .is_some_and(|left| left >= keep)
}

/// `ENOMEM` unless `bytes` can be allocated without eating into the
/// kernel's half of the frame reserve (module docs).
pub fn headroom(bytes: usize) -> Result<(), Errno> {
    #[cfg(target_os = "none")]
    {
        let (free, total) = arch::mm::frame::stats();
        // The fast case reads one counter; the heap's lock only near the
        // edge.
        if enough(free, total, 0, bytes) {
            return Ok(());
        }
        let heap = arch::mm::heap::stats();
        let inside = heap.claimed_bytes.saturating_sub(heap.allocated_bytes);
        if enough(free, total, inside, bytes) {
            return Ok(());
        }
        Err(Errno::ENOMEM)
    }
    #[cfg(not(target_os = "none"))]
    {
        let _ = bytes;
        Ok(())
    }
}

/// [`headroom`] for [`SYSCALL_HEADROOM`], unless system call `nr` only
/// releases or reports (those must work when memory is short).
pub fn syscall_headroom(nr: u64) -> Result<(), Errno> {
    use abi::nr;
    match nr {
        nr::EXIT
        | nr::EXIT_GROUP
        | nr::CLOSE
        | nr::MUNMAP
        | nr::WAIT4
        | nr::WAITID
        | nr::KILL
        | nr::TKILL
        | nr::TGKILL
        | nr::RT_SIGRETURN
        | nr::RT_SIGPROCMASK
        | nr::SCHED_YIELD
        | nr::GETPID
        | nr::GETTID
        | nr::GETPPID
        | nr::MADVISE
        | nr::FTRUNCATE
        | nr::UNLINK
        | nr::UNLINKAT
        | nr::RMDIR => Ok(()),
        _ => headroom(SYSCALL_HEADROOM),
    }
}

/// A vector of `len` zero bytes, or `ENOMEM`.
pub fn zeroed(len: usize) -> Result<Vec<u8>, Errno> {
    let mut v = with_capacity(len)?;
    v.resize(len, 0);
    Ok(v)
}

/// An empty vector with room for `n` elements, or `ENOMEM`.
pub fn with_capacity<T>(n: usize) -> Result<Vec<T>, Errno> {
    let bytes = n
        .checked_mul(core::mem::size_of::<T>())
        .ok_or(Errno::ENOMEM)?;
    headroom(bytes)?;
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| Errno::ENOMEM)?;
    Ok(v)
}

/// Pushes `x` onto `v`, or `ENOMEM` if `v` cannot grow.
pub fn push<T>(v: &mut Vec<T>, x: T) -> Result<(), Errno> {
    if v.len() == v.capacity() {
        headroom(v.capacity().max(4) * core::mem::size_of::<T>())?;
        v.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
    }
    v.push(x);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headroom_keeps_half_the_reserve() {
        // 512 MiB: 131072 frames, reserve 2048 frames, half kept: 1024.
        let total = 131_072;
        assert!(enough(2_000, total, 0, 4096 * 900));
        assert!(!enough(2_000, total, 0, 4096 * 1_000));
        assert!(
            enough(2_000, total, 4096 * 1_000, 4096 * 1_000),
            "fits inside the heap"
        );
        assert!(!enough(0, total, 0, 1));
        assert!(!enough(usize::MAX, total, 0, usize::MAX));
    }

    #[test]
    fn impossible_sizes_are_enomem_not_a_panic() {
        assert_eq!(zeroed(usize::MAX).err(), Some(Errno::ENOMEM));
        assert_eq!(
            with_capacity::<u64>(usize::MAX / 4).err(),
            Some(Errno::ENOMEM)
        );
        let mut v = with_capacity::<u32>(1).unwrap();
        push(&mut v, 1).unwrap();
        push(&mut v, 2).unwrap();
        assert_eq!(v, [1, 2]);
        assert_eq!(zeroed(3).unwrap(), [0, 0, 0]);
    }
}
