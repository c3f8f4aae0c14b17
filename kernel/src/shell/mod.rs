//! The serial shell: a prompt on the console, running as a kernel task.
//!
//! It runs when the command line says `kshell` and reads the console tty
//! (`crate::fs::tty`) in raw mode, edits lines with
//! [`line::LineEditor`], and runs built-in commands. User programs (and the
//! user-space `sh`) come with the processes issue; until then this is how a
//! person looks at a running Tine: CPUs, memory, tasks, tests, benchmarks.

#[cfg(target_os = "none")]
mod console;
pub mod line;

#[cfg(target_os = "none")]
pub use console::{BenchRunner, execute, run};
