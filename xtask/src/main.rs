//! # xtask — Tine's single entry point
//!
//! A host binary, run as `cargo xtask <command>` (the alias lives in
//! `.cargo/config.toml`). Every way of building, booting, testing,
//! benchmarking and linting Tine goes through here, so a fresh machine needs
//! only `cargo xtask run` or `cargo xtask test`.
//!
//! One module per subcommand: [`build`], [`run`], [`test`](mod@test), [`bench`](mod@bench),
//! [`lint`], [`gdb`], [`fuzz`] (`fuzz` and `stress`), [`busybox`],
//! [`modgraph`]. Shared pieces: [`initramfs`] builds the user programs (the C
//! ones with [`musl`]) and packs them with [`cpio`] into the archive every
//! boot gets; `bench` reads the user-space benchmark with [`forkbench`],
//! runs the processes-at-scale benchmark with [`scalebench`],
//! fetches and boots Linux for comparison with [`linux`] and draws with
//! [`svg`]; [`deps`] installs
//! what a fresh machine lacks
//! (QEMU, gdb, the `x86_64-unknown-none` target, rustfmt/clippy; `musl`
//! installs `musl-gcc`), [`qemu`] turns
//! a typed [`qemu::QemuConfig`] into a QEMU command line and runs it under a
//! timeout, [`serial`] parses the kernel's serial-output contract
//! (documented in `docs/testing.md`), [`symbolize`] resolves the
//! addresses of a kernel backtrace, and [`shell`] drives the test suite's
//! sessions on the kernel shell and the user shell.

mod bench;
mod build;
mod busybox;
mod cpio;
mod deps;
mod forkbench;
mod fuzz;
mod gdb;
mod initramfs;
mod lint;
mod linux;
mod modgraph;
mod musl;
mod qemu;
mod run;
mod scalebench;
mod serial;
mod shell;
mod svg;
mod symbolize;
mod test;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

/// Build, boot, test, benchmark and lint Tine.
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build the kernel image (target/x86_64-unknown-none/{debug,release}/tine).
    Build(build::BuildArgs),
    /// Build the kernel and boot it in QEMU with the serial console on this
    /// terminal (Ctrl-A X quits).
    Run(run::RunArgs),
    /// Run the three test tiers: host, in-kernel, whole system.
    Test(test::TestArgs),
    /// Boot a release kernel with `bench`, print and record the results.
    Bench(bench::BenchArgs),
    /// rustfmt and clippy (kernel target, host crates, user programs), the
    /// unsafe-boundary check and `cargo doc` with warnings denied.
    Lint,
    /// Boot the kernel halted under gdb (breakpoint at the kernel's entry;
    /// `tine-tasks` prints what each CPU runs).
    Gdb(gdb::GdbArgs),
    /// Random system calls with hostile arguments, in forked children
    /// (`user/fuzz`); passes iff the kernel neither panics nor hangs and
    /// fork, wait and memory are intact afterwards.
    Fuzz(fuzz::FuzzArgs),
    /// Every CPU forks, vforks, spawns, execs, pipes, signals and writes
    /// COW memory at once (`user/stress`), then the kernel checks its
    /// invariants.
    Stress(fuzz::StressArgs),
    /// Print the kernel's module import graph and its cycles.
    Modgraph(modgraph::ModgraphArgs),
    /// Run the busybox checks (xtask/busybox/check.sh) under Debian's
    /// busybox ash, on Tine or (`--linux`) on Linux.
    Busybox(busybox::BusyboxArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the cause chain on one line, without the
            // backtrace `RUST_BACKTRACE` would add to a returned error.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(task: Task) -> Result<()> {
    std::env::set_current_dir(repo_root())
        .with_context(|| format!("cannot enter {}", repo_root().display()))?;
    match task {
        Task::Build(args) => build::main(&args),
        Task::Run(args) => run::main(&args),
        Task::Test(args) => test::main(&args),
        Task::Bench(args) => bench::main(&args),
        Task::Lint => lint::main(),
        Task::Gdb(args) => gdb::main(&args),
        Task::Fuzz(args) => fuzz::fuzz_main(&args),
        Task::Stress(args) => fuzz::stress_main(&args),
        Task::Modgraph(args) => modgraph::main(&args),
        Task::Busybox(args) => busybox::main(&args),
    }
}

/// The workspace root: the parent of this crate's directory.
fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` if set (relative paths are
/// taken from the workspace root, as cargo does), else `<root>/target`.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => repo_root().join(dir),
        None => repo_root().join("target"),
    }
}

/// Prints `$ command` and runs it with inherited stdio; an error if it
/// cannot start or exits non-zero.
fn run_command(cmd: &mut Command) -> Result<()> {
    println!("$ {}", display_command(cmd));
    let status = cmd
        .status()
        .with_context(|| format!("cannot start `{}`", cmd.get_program().to_string_lossy()))?;
    if !status.success() {
        bail!("`{}` failed: {status}", display_command(cmd));
    }
    Ok(())
}

/// A command as a person would type it: environment overrides, program,
/// arguments, each shell-quoted where needed.
fn display_command(cmd: &Command) -> String {
    let env = cmd.get_envs().filter_map(|(key, value)| {
        Some(format!(
            "{}={}",
            key.to_str()?,
            shell_quote(value?.to_str()?)
        ))
    });
    let words = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|word| shell_quote(&word.to_string_lossy()));
    env.chain(words).collect::<Vec<_>>().join(" ")
}

/// Quotes `word` for a POSIX shell if it contains anything but plain
/// characters.
fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=,:+@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_leaves_plain_words_alone() {
        assert_eq!(shell_quote("-smp"), "-smp");
        assert_eq!(shell_quote("tcg,thread=multi"), "tcg,thread=multi");
    }

    #[test]
    fn shell_quote_quotes_spaces_and_quotes() {
        assert_eq!(shell_quote("test bench"), "'test bench'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn display_command_shows_env_then_words() {
        let mut cmd = Command::new("cargo");
        cmd.env("RUSTFLAGS", "--cfg loom")
            .args(["test", "-p", "kernel"]);
        assert_eq!(
            display_command(&cmd),
            "RUSTFLAGS='--cfg loom' cargo test -p kernel"
        );
    }
}
