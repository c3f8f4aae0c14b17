//! # The Tine kernel
//!
//! Everything above the hardware: the per-CPU async executors ([`task`]),
//! processes and the BSD fork family ([`proc`]), address-space policy
//! ([`vm`]), the Linux-ABI syscall layer ([`syscall`]) and files ([`fs`]);
//! program loading ([`exec`]); the boot sequence ([`init`]) and the
//! command line that picks what it does ([`cmdline`]); the kernel's own
//! serial shell ([`shell`], with `kshell`); the in-kernel test registry
//! ([`ktest`](mod@ktest)); fallible allocation for system-call paths ([`fallible`]);
//! and where memory goes ([`memstat`], the `mem` figures).
//!
//! This crate contains no `unsafe` code: what needs the machine is asked of
//! `arch` through safe APIs. Pure logic (PID bitmap, executor queues, ...)
//! builds for the host as well and is tested with plain `cargo test`.
//!
//! The bootable image (`kernel/image`, binary `tine`) calls `init::start` once
//! `arch` has brought the boot CPU into long mode.
#![cfg_attr(target_os = "none", no_std)]
#![deny(unsafe_code)]

extern crate alloc;

pub mod cmdline;
pub mod exec;
pub mod fallible;
pub mod fs;
#[cfg(target_os = "none")]
pub mod init;
pub mod ktest;
#[cfg(target_os = "none")]
mod machine;
#[cfg(target_os = "none")]
pub mod memstat;
pub mod proc;
pub mod shell;
pub mod syscall;
pub mod task;
pub mod vm;
