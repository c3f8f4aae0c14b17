//! The serial shell: a prompt on the console, running as a kernel task.
//!
//! It runs when the command line says `kshell` and reads the console tty
//! (`crate::fs::tty`) in raw mode, edits lines with
//! [`line::LineEditor`], and runs built-in commands: CPUs, memory, tasks,
//! processes, tests, benchmarks, and user programs from the initramfs.
//! Without `kshell` the console belongs to `/bin/init` and the user shell
//! `/bin/sh` (`docs/shell.md`).

#[cfg(target_os = "none")]
mod console;
pub mod line;

#[cfg(target_os = "none")]
pub use console::{BenchRunner, execute, run};
