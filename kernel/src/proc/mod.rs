//! Processes: PIDs, fork, exit, wait.
