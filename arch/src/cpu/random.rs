//! The kernel's random source (filled in by the PID allocator issue).
