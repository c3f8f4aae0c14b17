//! Processes: PIDs, fork, exit, wait.

pub mod pid;
