//! `cargo xtask build`: the kernel image.
//!
//! `cargo build -p tine --target x86_64-unknown-none [--release]` leaves the
//! ELF at `target/x86_64-unknown-none/{debug,release}/tine`. The target's
//! rustflags (static relocation model, kernel code model) come from
//! `.cargo/config.toml`; the linker script is passed by
//! `kernel/image/build.rs`. Every command that boots Tine builds through
//! [`build_kernel`] first.

use std::path::PathBuf;
use std::process::Command;

use anyhow::Result;
use clap::Args;

use crate::{deps, run_command, target_dir};

/// The target triple the kernel is built for.
pub const KERNEL_TARGET: &str = "x86_64-unknown-none";

#[derive(Args)]
pub struct BuildArgs {
    /// Build with the release profile (optimized, with debug info).
    #[arg(long)]
    release: bool,
}

/// The cargo profile a kernel image is built with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Debug,
    Release,
}

impl Profile {
    pub fn from_release_flag(release: bool) -> Self {
        if release { Self::Release } else { Self::Debug }
    }

    /// The directory cargo puts this profile's output in.
    pub fn dir_name(self) -> &'static str {
        match self {
            Self::Debug => "debug",
            Self::Release => "release",
        }
    }
}

pub fn main(args: &BuildArgs) -> Result<()> {
    deps::ensure_kernel_target()?;
    let elf = build_kernel(Profile::from_release_flag(args.release))?;
    println!("kernel image: {}", elf.display());
    Ok(())
}

/// Builds the kernel image and returns the path of its ELF.
pub fn build_kernel(profile: Profile) -> Result<PathBuf> {
    let mut cmd = kernel_cargo("build");
    if profile == Profile::Release {
        cmd.arg("--release");
    }
    run_command(&mut cmd)?;
    Ok(kernel_elf(profile))
}

/// `cargo <subcommand> -p tine --target x86_64-unknown-none`.
pub fn kernel_cargo(subcommand: &str) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.args([subcommand, "-p", "tine", "--target", KERNEL_TARGET]);
    // A RUSTFLAGS from the environment would replace the kernel target's
    // rustflags in .cargo/config.toml, and the image would not link.
    cmd.env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    cmd
}

/// Where cargo leaves the kernel ELF for `profile`.
pub fn kernel_elf(profile: Profile) -> PathBuf {
    target_dir()
        .join(KERNEL_TARGET)
        .join(profile.dir_name())
        .join("tine")
}
