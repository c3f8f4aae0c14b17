//! Tine's user/kernel ABI, written once: the kernel and every user program
//! (`user/`, through `tine-rt`) take their numbers, flags and layouts from
//! here.
//!
//! - [`nr`]: system-call numbers (Linux x86-64, Tine's own from 1000) and
//!   their names;
//! - [`Errno`]: error numbers (Linux's), with names;
//! - [`signal`]: signal numbers ([`signal::Signal`], one type), `sigset_t`,
//!   the `sigaction`/`siginfo`/`sigaltstack` constants;
//! - [`fork`]: the fork family's flag words (`RF*`, `PD_*`, `CLONE_*`),
//!   made with [`flag_set!`] (module [`flags`] says why not `bitflags`);
//! - [`record`]: the records the kernel and user programs exchange (the
//!   fork event, `struct stat`; `siginfo_t` is [`signal::SigInfo`]);
//! - small option sets: [`wait`] (`wait4`), [`mman`] (`mmap`),
//!   [`futex`] (`futex`), [`arch_prctl`], [`prctl`], [`rename`]
//!   (`renameat2`).
//!
//! `#![no_std]`, no dependencies, no `unsafe`: it builds for the kernel
//! target, for user programs and for the host (`cargo test -p abi`).
//! New numbers, flags and records go here, never into a second list.

#![no_std]
#![forbid(unsafe_code)]

pub mod errno;
pub mod flags;
pub mod fork;
pub mod nr;
pub mod record;
pub mod signal;

pub use errno::{Errno, SysResult};

/// `arch_prctl` codes.
pub mod arch_prctl {
    pub const SET_GS: u64 = 0x1001;
    pub const SET_FS: u64 = 0x1002;
    pub const GET_FS: u64 = 0x1003;
    pub const GET_GS: u64 = 0x1004;
}

/// `futex(2)`: the operation word's commands and flags, and the bits of
/// a robust futex word (Linux's `<linux/futex.h>`).
pub mod futex {
    pub const WAIT: u32 = 0;
    pub const WAKE: u32 = 1;
    pub const FD: u32 = 2;
    pub const REQUEUE: u32 = 3;
    pub const CMP_REQUEUE: u32 = 4;
    pub const WAKE_OP: u32 = 5;
    pub const LOCK_PI: u32 = 6;
    pub const UNLOCK_PI: u32 = 7;
    pub const TRYLOCK_PI: u32 = 8;
    pub const WAIT_BITSET: u32 = 9;
    pub const WAKE_BITSET: u32 = 10;
    pub const WAIT_REQUEUE_PI: u32 = 11;
    pub const CMP_REQUEUE_PI: u32 = 12;
    pub const LOCK_PI2: u32 = 13;
    /// `FUTEX_PRIVATE_FLAG`.
    pub const PRIVATE: u32 = 128;
    /// `FUTEX_CLOCK_REALTIME`.
    pub const CLOCK_REALTIME: u32 = 256;
    /// `FUTEX_OWNER_DIED`.
    pub const OWNER_DIED: u32 = 0x4000_0000;
    /// `FUTEX_WAITERS`.
    pub const WAITERS: u32 = 0x8000_0000;
    /// `FUTEX_TID_MASK`.
    pub const TID_MASK: u32 = 0x3fff_ffff;
}

/// `prctl` options (Linux's `<linux/prctl.h>`) and `TASK_COMM_LEN`.
pub mod prctl {
    pub const SET_PDEATHSIG: u64 = 1;
    pub const GET_PDEATHSIG: u64 = 2;
    pub const SET_NAME: u64 = 15;
    pub const GET_NAME: u64 = 16;
    pub const SET_CHILD_SUBREAPER: u64 = 36;
    pub const GET_CHILD_SUBREAPER: u64 = 37;
    /// `TASK_COMM_LEN`: a name is at most 15 bytes and a NUL.
    pub const COMM_LEN: usize = 16;
}

/// `renameat2` flags (Linux's `<linux/fs.h>`).
pub mod rename {
    pub const NOREPLACE: u64 = 1;
    pub const EXCHANGE: u64 = 2;
    pub const WHITEOUT: u64 = 4;
}

/// `wait4` options.
pub mod wait {
    pub const WNOHANG: u32 = 0x1;
    pub const WUNTRACED: u32 = 0x2;
    pub const WCONTINUED: u32 = 0x8;
    pub const WNOTHREAD: u32 = 0x2000_0000;
    pub const WALL: u32 = 0x4000_0000;
    pub const WCLONE: u32 = 0x8000_0000;
}

/// `mmap` flags.
pub mod mman {
    pub const SHARED: u64 = 0x01;
    pub const PRIVATE: u64 = 0x02;
    pub const FIXED: u64 = 0x10;
    pub const ANONYMOUS: u64 = 0x20;
    pub const GROWSDOWN: u64 = 0x100;
    pub const FIXED_NOREPLACE: u64 = 0x10_0000;
}
