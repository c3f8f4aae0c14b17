//! The bootable Tine image.
//!
//! `arch` boots the machine and calls [`kernel_main`], which hands over to
//! [`kernel::init::start`]. This crate exists to link three things into one
//! ELF: `arch`, the `kernel` (with its in-kernel tests) and the `bench`
//! cases, which depend on the kernel and so cannot live inside it.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate alloc;

use alloc::boxed::Box;
use alloc::string::String;
use core::future::Future;
use core::pin::Pin;

fn kernel_main(info: &'static arch::boot::BootInfo) -> ! {
    kernel::init::start(info, run_benches)
}

/// Runs the benchmarks named in `names` (comma list, empty = all).
fn run_benches(names: String) -> Pin<Box<dyn Future<Output = usize> + Send>> {
    Box::pin(async move { bench::run(&names, drivers::serial::write_fmt).await })
}

arch::entry_point!(kernel_main);
