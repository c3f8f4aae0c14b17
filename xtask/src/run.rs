//! `cargo xtask run`: build the kernel and boot it on this terminal.
//!
//! The serial console and QEMU's monitor share the terminal
//! (`-serial mon:stdio`), so Ctrl-A X quits and Ctrl-A C switches to the
//! monitor. Words after `--` become the kernel command line (`test`,
//! `bench=fork`, `crash=pagefault`, `kshell`, ...; none boots to
//! `/bin/init` and the user shell). The
//! kernel is the release build (optimised, with debug info) unless
//! `--debug` asks for the opt-level-1 one. The
//! initrd is the initramfs of user programs ([`initramfs`]), with any
//! `--add HOST[:GUEST]` files, unless `--initrd FILE` names another;
//! `--busybox` adds Debian's busybox as `/bin/busybox` with its applet
//! links (`crate::busybox`), so `ash` and the applets can be used by hand.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;

use crate::build::{self, Profile};
use crate::deps;
use crate::initramfs::{self, AddFile};
use crate::qemu::{self, Accel, KernelExit, Outcome, QemuConfig};

/// The most CPUs the kernel brings online (`arch::smp::MAX_CPUS`).
pub const MAX_SMP: u32 = 64;
/// The least memory the kernel boots into its shell with, and the most
/// xtask asks QEMU for.
pub const MEM_MIB_RANGE: std::ops::RangeInclusive<u32> = 64..=65536;

/// `--smp N`: 1 to [`MAX_SMP`], refused before QEMU starts (0 would boot
/// nothing, and too many would be QEMU's error or CPUs the kernel ignores).
pub fn parse_smp(arg: &str) -> Result<u32, String> {
    let n: u32 = arg.parse().map_err(|e| format!("{e}"))?;
    if (1..=MAX_SMP).contains(&n) {
        Ok(n)
    } else {
        Err(format!("{n} CPUs: Tine runs on 1 to {MAX_SMP}"))
    }
}

/// `--mem MiB`: within [`MEM_MIB_RANGE`] (below it the kernel runs out of
/// frames while booting).
pub fn parse_mem_mib(arg: &str) -> Result<u32, String> {
    let n: u32 = arg.parse().map_err(|e| format!("{e}"))?;
    if MEM_MIB_RANGE.contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "{n} MiB: Tine boots with {} to {} MiB",
            MEM_MIB_RANGE.start(),
            MEM_MIB_RANGE.end()
        ))
    }
}

/// The QEMU machine options shared by `run`, `bench` and `gdb`.
#[derive(Args)]
pub struct MachineArgs {
    /// Memory in MiB (64 to 65536).
    #[arg(long = "mem", value_name = "MiB", default_value_t = 512, value_parser = parse_mem_mib)]
    pub mem_mib: u32,
    /// QEMU accelerator.
    #[arg(long, value_enum, default_value_t = Accel::Tcg)]
    pub accel: Accel,
    /// QEMU's `-cpu` model (default: `qemu64` under TCG, `host` under KVM).
    #[arg(long, value_name = "MODEL")]
    pub cpu: Option<String>,
    /// Kill QEMU after this many seconds (default: never for `run`, 600 for
    /// `bench`).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
}

#[derive(Args)]
pub struct RunArgs {
    /// Number of CPUs (1 to 64).
    #[arg(long, default_value_t = 4, value_parser = parse_smp)]
    smp: u32,
    #[command(flatten)]
    machine: MachineArgs,
    /// Build and boot the debug kernel (opt-level 1, debug assertions on)
    /// instead of the release kernel (optimised, with debug info), which
    /// is the default so that the shell's `bench` shows the figures of
    /// docs/bench.md.
    #[arg(long)]
    debug: bool,
    /// The release kernel (the default; kept for old command lines).
    #[arg(long, conflicts_with = "debug", hide = true)]
    release: bool,
    /// A file handed to the kernel as its initrd (PVH module) instead of
    /// the initramfs xtask builds (target/initramfs.cpio).
    #[arg(long, value_name = "FILE", conflicts_with = "add")]
    initrd: Option<PathBuf>,
    /// Also pack host file HOST into the initramfs, at GUEST (default: /
    /// and its file name). Repeatable.
    #[arg(long, value_name = "HOST[:GUEST]")]
    add: Vec<AddFile>,
    /// Install Debian's busybox (fetched with apt-get) as /bin/busybox
    /// with a link per applet that no Tine program shadows.
    #[arg(long, conflicts_with_all = ["initrd", "add"])]
    busybox: bool,
    /// The kernel command line, after `--`.
    #[arg(last = true, value_name = "KERNEL ARGS")]
    kernel_args: Vec<String>,
}

pub fn main(args: &RunArgs) -> Result<()> {
    deps::ensure_qemu()?;
    deps::ensure_kernel_target()?;
    let initrd = match &args.initrd {
        Some(file) => file.clone(),
        None if args.busybox => crate::busybox::initramfs()?,
        None => initramfs::build_initramfs(&args.add)?,
    };
    let kernel = build::build_kernel(Profile::from_release_flag(!args.debug))?;
    let config = QemuConfig {
        smp: args.smp,
        cpu: args.machine.cpu.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smp_and_mem_are_checked_before_qemu_starts() {
        assert_eq!(parse_smp("1"), Ok(1));
        assert_eq!(parse_smp("64"), Ok(64));
        assert!(parse_smp("0").unwrap_err().contains("1 to 64"));
        assert!(parse_smp("300").is_err());
        assert!(parse_smp("four").is_err());
        assert_eq!(parse_mem_mib("512"), Ok(512));
        assert!(parse_mem_mib("8").unwrap_err().contains("64 to 65536"));
        assert!(parse_mem_mib("-1").is_err());
    }

    #[test]
    fn max_smp_is_the_kernels_max_cpus() {
        let source = include_str!("../../arch/src/smp/mod.rs");
        let wanted = format!("pub const MAX_CPUS: usize = {MAX_SMP};");
        assert!(
            source.contains(&wanted),
            "arch/src/smp/mod.rs lacks `{wanted}`"
        );
    }
}
