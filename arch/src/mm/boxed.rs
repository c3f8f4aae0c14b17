//! A fallible `Box::new`: stable Rust has no `Box::try_new`, and a kernel
//! path that boxes on a user's behalf (a system call's future) must see a
//! failed allocation as `ENOMEM`, not reach the allocation error handler
//! (a panic).

use alloc::boxed::Box;
use core::alloc::Layout;

/// `Box::new(value)`, or `Err(value)` back when the global allocator has
/// no memory for it.
pub fn try_box<T>(value: T) -> Result<Box<T>, T> {
    let layout = Layout::new::<T>();
    if layout.size() == 0 {
        // A zero-sized box allocates nothing.
        return Ok(Box::new(value));
    }
    // SAFETY: `layout` has a non-zero size, as `alloc` requires.
    let ptr = unsafe { alloc::alloc::alloc(layout) }.cast::<T>();
    if ptr.is_null() {
        return Err(value);
    }
    // SAFETY: `ptr` is a fresh allocation of `T`'s layout from the global
    // allocator, the one `Box` frees with; `write` initialises it without
    // reading the old bytes, and the box then owns it alone.
    unsafe {
        ptr.write(value);
        Ok(Box::from_raw(ptr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_what_it_is_given_and_drops_it_once() {
        use alloc::rc::Rc;
        let shared = Rc::new(5);
        let b = try_box([Rc::clone(&shared), Rc::clone(&shared)]).expect("boxed");
        assert_eq!(*b[1], 5);
        assert_eq!(Rc::strong_count(&shared), 3);
        drop(b);
        assert_eq!(Rc::strong_count(&shared), 1);
        try_box(()).expect("zero-sized");
        let big = try_box([7u64; 512]).expect("boxed");
        assert!(big.iter().all(|&x| x == 7));
    }
}
