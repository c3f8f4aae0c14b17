//! What a fresh machine lacks, installed before it is needed.
//!
//! A fresh Debian machine has stable Rust (host target only) but no
//! `qemu-system-x86_64` and no `x86_64-unknown-none` target, and
//! `RUSTUP_AUTO_INSTALL=0` stops `rust-toolchain.toml` from fetching the
//! target by itself. `run`, `test`, `bench`, `gdb`, `fuzz`, `stress` and
//! `busybox` call [`ensure_qemu`] and [`ensure_kernel_target`] first
//! (`build` only the latter, `busybox --linux` only the former); `gdb`
//! also installs gdb with [`ensure_tool`]; `lint` calls
//! [`ensure_components`] and [`ensure_kernel_target`]. `musl-gcc` is
//! `crate::musl`'s, and Debian's busybox and kernel packages are fetched,
//! not installed, by `crate::linux`.
//! Each prints what it installs; where it cannot install (not root, no
//! apt-get) it prints the exact command to run and fails.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::build::KERNEL_TARGET;
use crate::run_command;

/// The QEMU binary every boot uses.
pub const QEMU: &str = "qemu-system-x86_64";
/// The Debian package that provides [`QEMU`].
const QEMU_PACKAGE: &str = "qemu-system-x86";

/// Makes sure `qemu-system-x86_64` is on the PATH, installing it with
/// apt-get when running as root.
pub fn ensure_qemu() -> Result<()> {
    ensure_tool(QEMU, QEMU_PACKAGE)
}

/// Makes sure `binary` is on the PATH, installing Debian's `package` with
/// apt-get when running as root (else the error names the command).
pub fn ensure_tool(binary: &str, package: &str) -> Result<()> {
    if find_in_path(binary).is_some() {
        return Ok(());
    }
    let install = format!("apt-get update && apt-get install -y {package}");
    if !is_root() || find_in_path("apt-get").is_none() {
        bail!("{binary} is not installed; install it with:\n    sudo sh -c '{install}'");
    }
    println!("{binary} is missing; installing it: {install}");
    apt_install(package)?;
    if find_in_path(binary).is_none() {
        bail!("{binary} is still not on the PATH after installing {package}");
    }
    Ok(())
}

/// `apt-get update && apt-get install -y PACKAGE`, non-interactive (the
/// caller checked that this process is root).
pub fn apt_install(package: &str) -> Result<()> {
    run_command(
        Command::new("apt-get")
            .arg("update")
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    run_command(
        Command::new("apt-get")
            .args(["install", "-y", package])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// Makes sure rustup has the kernel's target installed.
pub fn ensure_kernel_target() -> Result<()> {
    let Some(installed) = rustup_list(&["target", "list", "--installed"])? else {
        return Ok(());
    };
    if !installed.iter().any(|target| target == KERNEL_TARGET) {
        println!("the {KERNEL_TARGET} target is missing; adding it");
        run_command(Command::new("rustup").args(["target", "add", KERNEL_TARGET]))?;
    }
    Ok(())
}

/// Makes sure rustup has each of `components` (e.g. `rustfmt`, `clippy`).
pub fn ensure_components(components: &[&str]) -> Result<()> {
    let Some(installed) = rustup_list(&["component", "list", "--installed"])? else {
        return Ok(());
    };
    // Installed components are listed with their host triple:
    // `clippy-x86_64-unknown-linux-gnu`.
    let missing: Vec<&str> = components
        .iter()
        .copied()
        .filter(|name| {
            !installed
                .iter()
                .any(|line| line == name || line.starts_with(&format!("{name}-")))
        })
        .collect();
    if !missing.is_empty() {
        println!(
            "rustup components missing: {}; adding them",
            missing.join(", ")
        );
        run_command(
            Command::new("rustup")
                .args(["component", "add"])
                .args(&missing),
        )?;
    }
    Ok(())
}

/// The lines `rustup <args>` prints, or `None` (with a note) when there is
/// no rustup: a toolchain installed some other way is taken as it is.
fn rustup_list(args: &[&str]) -> Result<Option<Vec<String>>> {
    if find_in_path("rustup").is_none() {
        println!("note: rustup not found; assuming the toolchain has what Tine needs");
        return Ok(None);
    }
    let output = Command::new("rustup")
        .args(args)
        .output()
        .context("cannot run rustup")?;
    if !output.status.success() {
        bail!(
            "`rustup {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    Ok(Some(
        stdout.lines().map(|line| line.trim().to_owned()).collect(),
    ))
}

/// The first executable called `name` on the PATH.
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Whether this process runs with effective user id 0.
pub fn is_root() -> bool {
    // `Uid:` lists the real, effective, saved and filesystem user ids.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|line| line.starts_with("Uid:"))?;
            Some(line.split_whitespace().nth(2)? == "0")
        })
        .unwrap_or(false)
}
