//! syscall (later issues).
