//! Program loading: what `execve` needs to start a program, as pure logic.
//!
//! - [`args`]: `execve`'s path, argv and envp copied in from user
//!   memory with Linux's limits (`ENAMETOOLONG`, `E2BIG`, `EFAULT`);
//! - [`elf`]: validates an ELF64 x86-64 executable (static, `ET_EXEC` or
//!   static PIE) and computes its [`elf::LoadPlan`]: the segments to map
//!   with their permissions, the entry point and the values for the
//!   auxiliary vector.
//! - [`load`]: carries a plan and a stack image out into a fresh
//!   address space (`vm::space::AddressSpace`), W^X enforced.
//! - `utest` (on the machine): the `utest` boot mode, which runs every
//!   program under `/test/` and exits QEMU with the verdict;
//! - [`script`]: `#!` lines (interpreter, optional argument, new argv);
//! - [`stack`]: lays out the initial user stack (argc, argv, envp, auxv,
//!   strings, `AT_RANDOM` bytes) and the initial `rsp`.
//!
//! - `cache` (on the machine): the image page cache, the pages holding
//!   file bytes built once per program and shared (copy-on-write) by every
//!   process that runs it.
//!
//! Neither `elf` nor `stack` maps memory: the VM layer (`kernel::vm`, over
//! `arch::mm::user`) carries the plan out, mapping each page of file bytes
//! from the cache, built from the initramfs ([`crate::fs`]) on the first
//! exec of the program. Both are host-tested;
//! `docs/initramfs.md` describes the checks.

pub mod args;
#[cfg(target_os = "none")]
pub mod cache;
pub mod elf;
#[cfg(target_os = "none")]
mod exec_ktests;
pub mod load;
pub mod script;
pub mod stack;
#[cfg(target_os = "none")]
pub mod utest;
