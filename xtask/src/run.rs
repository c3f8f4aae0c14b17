//! `cargo xtask run`: build the kernel and boot it on this terminal.
//!
//! The serial console and QEMU's monitor share the terminal
//! (`-serial mon:stdio`), so Ctrl-A X quits and Ctrl-A C switches to the
//! monitor. Words after `--` become the kernel command line (`test`,
//! `bench=fork`, `crash=pagefault`, ...; none boots to the shell). The
//! initrd is the initramfs of user programs ([`initramfs`]), with any
//! `--add HOST[:GUEST]` files, unless `--initrd FILE` names another.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;

use crate::build::{self, Profile};
use crate::deps;
use crate::initramfs::{self, AddFile};
use crate::qemu::{self, Accel, KernelExit, Outcome, QemuConfig};

/// The QEMU machine options shared by `run` and `bench`.
#[derive(Args)]
pub struct MachineArgs {
    /// Memory in MiB.
    #[arg(long = "mem", value_name = "MiB", default_value_t = 512)]
    pub mem_mib: u32,
    /// QEMU accelerator.
    #[arg(long, value_enum, default_value_t = Accel::Tcg)]
    pub accel: Accel,
    /// Kill QEMU after this many seconds (default: never for `run`, 600 for
    /// `bench`).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
}

#[derive(Args)]
pub struct RunArgs {
    /// Number of CPUs.
    #[arg(long, default_value_t = 4)]
    smp: u32,
    #[command(flatten)]
    machine: MachineArgs,
    /// Build and boot the release kernel.
    #[arg(long)]
    release: bool,
    /// A file handed to the kernel as its initrd (PVH module) instead of
    /// the initramfs xtask builds (target/initramfs.cpio).
    #[arg(long, value_name = "FILE", conflicts_with = "add")]
    initrd: Option<PathBuf>,
    /// Also pack host file HOST into the initramfs, at GUEST (default: /
    /// and its file name). Repeatable.
    #[arg(long, value_name = "HOST[:GUEST]")]
    add: Vec<AddFile>,
    /// The kernel command line, after `--`.
    #[arg(last = true, value_name = "KERNEL ARGS")]
    kernel_args: Vec<String>,
}

pub fn main(args: &RunArgs) -> Result<()> {
    deps::ensure_qemu()?;
    deps::ensure_kernel_target()?;
    let initrd = match &args.initrd {
        Some(file) => file.clone(),
        None => initramfs::build_initramfs(&args.add)?,
    };
    let kernel = build::build_kernel(Profile::from_release_flag(args.release))?;
    let config = QemuConfig {
        smp: args.smp,
        mem_mib: args.machine.mem_mib,
        accel: args.machine.accel,
        kernel,
        initrd: Some(initrd),
        append: args.kernel_args.join(" "),
        interactive: true,
    };
    let timeout = args.machine.timeout.map(Duration::from_secs);
    let outcome = qemu::boot_interactive(&config, timeout)?;
    println!();
    println!("QEMU: {outcome}");
    match outcome {
        Outcome::Kernel(KernelExit::Success) | Outcome::Status(0) => Ok(()),
        _ => bail!("the run did not end cleanly: {outcome}"),
    }
}
