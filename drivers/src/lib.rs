//! # drivers — Tine's device drivers
//!
//! Safe code over `arch`: the 16550 UART console (output through the `log`
//! crate, interrupt-driven input as an async byte stream), ACPI table
//! discovery through the `acpi` crate, and the CMOS real-time clock.
//! (The timers are `arch::irq::timer` and the kernel's `task::timer`.)
#![cfg_attr(target_os = "none", no_std)]
#![deny(unsafe_code)]

extern crate alloc;

pub mod acpi;
pub mod logger;
pub mod rtc;
pub mod serial;
