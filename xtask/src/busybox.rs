//! Debian's busybox on Tine: `cargo xtask busybox` (the shell and applet
//! checks of `xtask/busybox/check.sh` on Tine or, to check the script
//! itself, on Linux), the same checks as steps of `cargo xtask test`
//! ([`check`], at `-smp 1` and `-smp 4`), and `cargo xtask run --busybox`.
//!
//! [`initramfs()`] fetches `busybox-static` ([`linux::fetch_busybox`]: `apt-get
//! download`, unpacked under `target/linux/busybox`), and packs the usual
//! initramfs plus `/bin/busybox`, a link `/bin/APPLET -> busybox` for every
//! applet whose name no Tine program has (`busybox --list`, run on the
//! host: the binary is static), and the check script
//! `xtask/busybox/check.sh` at [`SCRIPT_GUEST`], into
//! `target/initramfs-busybox.cpio`.
//!
//! [`check_on_tine`] boots it with `run=/bin/busybox,ash,SCRIPT`: ash runs
//! the script, which prints `bbcheck NAME ... ok` (or `... FAILED: why`)
//! per check and `busybox result: N passed, M failed`, and exits with the
//! number of failures (the kernel then exits QEMU with success only for
//! 0). [`check_on_linux`] runs the same script under the Debian kernel
//! that `bench --compare-linux` uses, where the script first installs the
//! applet links and mounts `/proc` itself.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::build::{self, Profile};
use crate::initramfs::{self, AddFile};
use crate::linux;
use crate::qemu::{self, Accel, KernelExit, Outcome, QemuConfig};
use crate::{deps, repo_root, target_dir};

/// Where the check script goes in the archive.
pub const SCRIPT_GUEST: &str = "/busybox/check.sh";
/// Deadline for one boot running the script (it takes seconds; the
/// deadline allows for a loaded host).
const TIMEOUT: Duration = Duration::from_secs(150);
/// Lines of output a failed run shows.
const TAIL_LINES: usize = 30;

#[derive(Args)]
pub struct BusyboxArgs {
    /// Run the checks on Linux (Debian's kernel) instead of Tine.
    #[arg(long)]
    linux: bool,
    /// Number of CPUs.
    #[arg(long, default_value_t = 4)]
    smp: u32,
    /// Copy the serial output to the terminal as it arrives.
    #[arg(long, short)]
    verbose: bool,
}

/// `cargo xtask busybox`.
pub fn main(args: &BusyboxArgs) -> Result<()> {
    deps::ensure_qemu()?;
    let note = if args.linux {
        check_on_linux(args.smp, args.verbose)?
    } else {
        deps::ensure_kernel_target()?;
        let initrd = initramfs()?;
        let kernel = build::build_kernel(Profile::Debug)?;
        check_on_tine(&kernel, &initrd, args.smp, args.verbose)?
    };
    println!("{note}");
    Ok(())
}

/// The script on the host.
fn script() -> PathBuf {
    repo_root().join("xtask/busybox/check.sh")
}

/// The applets of `busybox` (`busybox --list`).
pub fn applets(busybox: &Path) -> Result<Vec<String>> {
    let output = Command::new(busybox)
        .arg("--list")
        .output()
        .with_context(|| format!("cannot run {} --list", busybox.display()))?;
    if !output.status.success() {
        bail!("{} --list failed: {}", busybox.display(), output.status);
    }
    Ok(parse_applets(&String::from_utf8_lossy(&output.stdout)))
}

/// One applet name per line; anything that is not a plain name is left
/// out (it could not be a file name in `/bin`).
fn parse_applets(list: &str) -> Vec<String> {
    list.lines()
        .map(str::trim)
        .filter(|name| {
            !name.is_empty()
                && name != &"busybox"
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.[".contains(&b))
        })
        .map(str::to_owned)
        .collect()
}

/// Builds `target/initramfs-busybox.cpio` (module docs) and returns its
/// path.
pub fn initramfs() -> Result<PathBuf> {
    let busybox = linux::fetch_busybox()?;
    let applets = applets(&busybox)?;
    let extra = [
        AddFile {
            host: busybox,
            guest: "/bin/busybox".to_owned(),
        },
        AddFile {
            host: script(),
            guest: SCRIPT_GUEST.to_owned(),
        },
    ];
    let links: Vec<(String, String)> = applets
        .iter()
        .map(|name| (format!("/bin/{name}"), "busybox".to_owned()))
        .collect();
    initramfs::build_initramfs_at(&target_dir().join("initramfs-busybox.cpio"), &extra, &links)
}

/// `cargo xtask test`'s step: packs the initramfs ([`initramfs()`]: the
/// download is cached, the archive takes a fraction of a second) and runs
/// [`check_on_tine`] on the kernel an earlier step built.
pub fn check(kernel: Option<&Path>, smp: u32, verbose: bool) -> Result<String> {
    let kernel = kernel.context("not run: the kernel did not build")?;
    check_on_tine(kernel, &initramfs()?, smp, verbose)
}

/// Boots `kernel` with `initrd` (from [`initramfs()`]) at `smp` CPUs,
/// running the script; a note on success (`N checks passed`).
pub fn check_on_tine(kernel: &Path, initrd: &Path, smp: u32, verbose: bool) -> Result<String> {
    let config = QemuConfig {
        smp,
        cpu: None,
        mem_mib: 512,
        accel: Accel::Tcg,
        kernel: kernel.to_path_buf(),
        initrd: Some(initrd.to_path_buf()),
        append: format!("run=/bin/busybox,ash,{SCRIPT_GUEST} log=warn"),
        interactive: false,
    };
    let boot = qemu::boot(&config, TIMEOUT, verbose)?;
    println!(
        "QEMU: {} in {:.1} s",
        boot.outcome,
        boot.elapsed.as_secs_f64()
    );
    verdict(
        boot.outcome == Outcome::Kernel(KernelExit::Success),
        &boot.output,
    )
    .or_else(|problems| {
        println!("--- last {TAIL_LINES} lines of output ---");
        println!("{}", boot.tail(TAIL_LINES));
        println!("---");
        bail!("{problems}")
    })
}

/// Runs the script on Linux at `smp` CPUs (fetching the kernel and
/// busybox first): the check of the script itself.
pub fn check_on_linux(smp: u32, verbose: bool) -> Result<String> {
    let linux = linux::fetch()?;
    let initrd = linux::build_initramfs(
        &linux,
        &[(SCRIPT_GUEST.to_owned(), script())],
        &[
            "/bin/busybox".to_owned(),
            "ash".to_owned(),
            SCRIPT_GUEST.to_owned(),
        ],
    )?;
    let config = QemuConfig {
        smp,
        cpu: None,
        mem_mib: 512,
        accel: Accel::Tcg,
        kernel: linux.kernel.clone(),
        initrd: Some(initrd),
        append: linux::LINUX_CMDLINE.to_owned(),
        interactive: false,
    };
    let boot = qemu::boot(&config, TIMEOUT, verbose)?;
    println!(
        "QEMU: {} in {:.1} s",
        boot.outcome,
        boot.elapsed.as_secs_f64()
    );
    let exited_0 = boot.output.contains("exited with status 0");
    verdict(exited_0 && boot.outcome == Outcome::Status(0), &boot.output).or_else(|problems| {
        println!("{}", boot.tail(TAIL_LINES));
        bail!("{problems}")
    })
}

/// The verdict on a run's output: `N checks passed`, or every problem.
fn verdict(clean_exit: bool, output: &str) -> Result<String, String> {
    let mut problems: Vec<String> = output
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("bbcheck ") && line.contains(" ... FAILED"))
        .map(str::to_owned)
        .collect();
    let summary = output.lines().find_map(|line| {
        let counts = line.trim().strip_prefix("busybox result: ")?;
        let (passed, failed) = counts.split_once(" passed, ")?;
        let failed = failed.strip_suffix(" failed")?;
        Some((passed.parse::<u32>().ok()?, failed.parse::<u32>().ok()?))
    });
    match summary {
        Some((passed, 0)) if passed > 0 && clean_exit && problems.is_empty() => {
            return Ok(format!("{passed} busybox checks passed"));
        }
        Some((passed, failed)) => {
            problems.push(format!("busybox checks: {passed} passed, {failed} failed"))
        }
        None => problems.push("no `busybox result: N passed, M failed` line".to_owned()),
    }
    if !clean_exit {
        problems.push("the script did not exit 0".to_owned());
    }
    Err(problems.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applet_list_is_names() {
        assert_eq!(
            parse_applets("[\n[[\nash\nbusybox\nrun-parts\n\n../x\nsh\n"),
            ["[", "[[", "ash", "run-parts", "sh"]
        );
    }

    #[test]
    fn verdict_wants_a_clean_summary() {
        let good = "bbcheck a ... ok\nbbcheck b ... ok\nbusybox result: 2 passed, 0 failed\n";
        assert_eq!(
            verdict(true, good),
            Ok("2 busybox checks passed".to_owned())
        );
        assert!(verdict(false, good).is_err(), "exit status counts");
        let bad = "bbcheck a ... FAILED: wanted [1], got [2]\nbusybox result: 0 passed, 1 failed\n";
        let why = verdict(false, bad).unwrap_err();
        assert!(
            why.contains("bbcheck a ... FAILED: wanted [1], got [2]"),
            "{why}"
        );
        assert!(why.contains("0 passed, 1 failed"), "{why}");
        assert!(verdict(true, "").is_err());
    }
}
