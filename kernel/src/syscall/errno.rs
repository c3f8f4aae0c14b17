//! Error numbers and a system call's outcome, now in the `abi` crate
//! (`abi::Errno`, `abi::SysResult`, `abi::errno::encode`); re-exported
//! here under their old paths while callers move to `abi`.

pub use abi::errno::{Errno, SysResult, encode};
