//! # bench — in-kernel microbenchmarks
//!
//! A harness (warm-up, N iterations, median and p99 from the TSC in
//! nanoseconds) and the benchmark cases, linked into the image and run when
//! the kernel command line says `bench`.
#![cfg_attr(target_os = "none", no_std)]
#![deny(unsafe_code)]

extern crate alloc;
