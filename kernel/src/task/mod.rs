//! Tasks: the per-CPU async executors, wakers, timers.
