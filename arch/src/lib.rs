//! # arch — the one place where Tine touches the machine
//!
//! Every `unsafe` operation of the kernel lives in this crate, behind safe
//! APIs: the PVH boot stub and long-mode switch ([`boot`]), CPU features,
//! control registers, TSC and random numbers ([`cpu`]), page tables, the
//! direct map and the heap ([`mm`]), the IDT, trap stubs and the APICs
//! ([`irq`]), AP start-up and per-CPU data ([`smp`]), port I/O ([`io`]),
//! the user/kernel switch ([`user`]), ACPI tables through the direct map
//! ([`acpi`]), the link-time registries of tests and benchmarks
//! ([`registry`]), locks named by what they disable ([`sync`]) and the
//! panic handler.
//!
//! `kernel`, `drivers` and `bench` deny `unsafe_code`; when they need
//! something unsafe, it is added here as a safe function whose contract this
//! crate upholds ("if a kernel crate needs an unsafe operation, the framework
//! provides it as a safe API").
//!
//! Pure logic (memory-map parsing, frame arithmetic) also builds for the
//! host so `cargo test -p arch` can check it; everything that executes
//! privileged instructions is compiled only for `target_os = "none"`.
#![cfg_attr(target_os = "none", no_std)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

extern crate alloc;

pub mod acpi;
pub mod boot;
pub mod cpu;
pub mod io;
pub mod irq;
pub mod mm;
pub mod registry;
pub mod smp;
pub mod sync;
pub mod user;

#[cfg(target_os = "none")]
mod panic;

/// Exit codes written to QEMU's `isa-debug-exit` device (port 0xf4).
///
/// QEMU exits with status `(code << 1) | 1`, so [`ExitCode::Success`]
/// (0x10) becomes host status 33 and every failure is odd and non-zero.
/// Status 0 or 1 never come from these codes, so "QEMU died" and "Tine
/// said success" cannot be confused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    /// Everything asked for ran and passed: host status 33.
    Success = 0x10,
    /// A test or benchmark reported failure: host status 35.
    Failure = 0x11,
    /// The kernel panicked: host status 37.
    Panic = 0x12,
    /// An unexpected CPU exception in kernel mode: host status 39.
    Exception = 0x13,
}

impl ExitCode {
    /// The status the QEMU process exits with for this code.
    pub const fn host_status(self) -> i32 {
        ((self as i32) << 1) | 1
    }
}
