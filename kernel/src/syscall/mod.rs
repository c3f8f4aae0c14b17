//! The system-call layer: Linux x86-64 numbers and layouts, one typed
//! [`Errno`] converted to the user ABI in one place.

pub mod errno;

pub use errno::{Errno, SysResult};
