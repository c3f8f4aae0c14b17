//! The global allocator: `alloc` (`Vec`, `String`, `Box`) for programs
//! over this runtime.
//!
//! Small blocks (up to [`MAX_CLASS`] bytes) come from power-of-two size
//! classes: each class keeps a free list threaded through its free blocks,
//! refilled by carving a 64 KiB chunk taken with anonymous `mmap`. Larger
//! blocks are their own `mmap` (rounded to pages) and are unmapped when
//! freed. A spin flag guards the lists: the programs are single-threaded,
//! but a process sharing memory with its parent (`vfork`, `rfork(RFMEM)`)
//! must not corrupt them, and the flag costs one uncontended atomic.
//! Memory of small blocks is never given back to the kernel (programs are
//! short-lived; the shell's allocations are small and reused).

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::syscall;

/// The smallest class (a free-list link must fit).
const MIN_CLASS: usize = 16;
/// The largest class; bigger requests are mapped directly.
pub const MAX_CLASS: usize = 2048;
/// Number of classes: 16, 32, ..., 2048.
const CLASSES: usize = 8;
/// What one refill maps.
const CHUNK: usize = 64 << 10;
const PAGE: usize = 4096;

/// The free lists and the chunk being carved.
struct Lists {
    free: [usize; CLASSES],
    /// The uncarved rest of the current chunk: `[next, end)`.
    next: usize,
    end: usize,
}

/// The allocator ([`GlobalAlloc`] over anonymous `mmap`).
pub struct Heap {
    lock: AtomicBool,
    lists: UnsafeCell<Lists>,
}

// SAFETY: `lists` is only touched with `lock` held (see `with_lists`).
unsafe impl Sync for Heap {}

impl Heap {
    const fn new() -> Self {
        Self {
            lock: AtomicBool::new(false),
            lists: UnsafeCell::new(Lists {
                free: [0; CLASSES],
                next: 0,
                end: 0,
            }),
        }
    }

    fn with_lists<R>(&self, f: impl FnOnce(&mut Lists) -> R) -> R {
        // Acquire: pairs with the Release below, so the previous holder's
        // list updates are visible.
        while self
            .lock
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        // SAFETY: the flag is ours, so no other reference to `lists`
        // exists until we clear it.
        let r = f(unsafe { &mut *self.lists.get() });
        self.lock.store(false, Ordering::Release);
        r
    }
}

/// The class index for a block of `size` bytes aligned to `align`.
fn class_of(size: usize, align: usize) -> Option<usize> {
    let need = size.max(align).max(MIN_CLASS).next_power_of_two();
    (need <= MAX_CLASS)
        .then(|| need.trailing_zeros() as usize - MIN_CLASS.trailing_zeros() as usize)
}

fn class_size(class: usize) -> usize {
    MIN_CLASS << class
}

fn map(len: usize) -> Option<usize> {
    syscall::mmap_anonymous(len).ok()
}

// SAFETY: `alloc` returns blocks of at least `layout.size()` bytes aligned
// to `layout.align()` (a class's blocks are aligned to their power-of-two
// size, carved from page-aligned chunks; big blocks are page-aligned maps)
// that no other live allocation overlaps (a block is on a free list or
// handed out, never both).
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class_of(layout.size(), layout.align()) else {
            if layout.align() > PAGE {
                return core::ptr::null_mut();
            }
            let len = layout.size().next_multiple_of(PAGE);
            return map(len).map_or(core::ptr::null_mut(), |a| a as *mut u8);
        };
        let size = class_size(class);
        self.with_lists(|l| {
            let head = l.free[class];
            if head != 0 {
                // SAFETY: `head` is a free block of this class; its first
                // word is the next link, written by `dealloc`.
                l.free[class] = unsafe { *(head as *const usize) };
                return head as *mut u8;
            }
            // Sizes are powers of two up to 2048 and chunks page-aligned,
            // so `next` stays aligned to the block size after rounding.
            let mut at = l.next.next_multiple_of(size);
            if l.next == 0 || at + size > l.end {
                let Some(chunk) = map(CHUNK) else {
                    return core::ptr::null_mut();
                };
                l.next = chunk;
                l.end = chunk + CHUNK;
                at = chunk;
            }
            l.next = at + size;
            at as *mut u8
        })
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(class) = class_of(layout.size(), layout.align()) else {
            let len = layout.size().next_multiple_of(PAGE);
            let _ = syscall::munmap(ptr as usize, len);
            return;
        };
        self.with_lists(|l| {
            // SAFETY: `ptr` is a block of this class the caller no longer
            // uses (GlobalAlloc's contract); it is at least 16 bytes and
            // aligned, so its first word can hold the link.
            unsafe { *(ptr as *mut usize) = l.free[class] };
            l.free[class] = ptr as usize;
        });
    }
}

#[global_allocator]
static HEAP: Heap = Heap::new();
