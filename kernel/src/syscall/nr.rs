//! The system-call numbers, now in the `abi` crate (`abi::nr`); this
//! module re-exports them under their old path while callers move to
//! `abi` directly.

pub use abi::arch_prctl;
pub use abi::mman as map;
pub use abi::nr::*;
pub use abi::wait;
