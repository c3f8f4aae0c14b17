//! The benchmark cases: memory first; executor cases live beside them.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::hint::black_box;

use crate::harness::measure;

crate::bench_case!(FRAME_ALLOC_FREE, "frame_alloc_free", async {
    Ok(measure(|| {
        let f = arch::mm::Frame::alloc().expect("frame");
        black_box(f.paddr());
    }))
});

crate::bench_case!(HEAP_ALLOC_FREE_64, "heap_alloc_free_64", async {
    Ok(measure(|| {
        black_box(Box::new([0u8; 64]));
    }))
});

crate::bench_case!(HEAP_ALLOC_FREE_4K, "heap_alloc_free_4k", async {
    Ok(measure(|| {
        black_box(Vec::<u8>::with_capacity(4096));
    }))
});
