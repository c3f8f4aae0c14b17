//! Linux as the reference: a Debian kernel and busybox, fetched and
//! extracted under `target/linux/`, and an initramfs whose `/init` runs a
//! benchmark program and powers off.
//!
//! `cargo xtask bench --compare-linux` boots it in the same QEMU
//! configuration as Tine (same `-M`, `-cpu`, `-accel`, `-smp`, `-m`; Linux
//! with `mitigations=off`), so
//! that every figure of the user-space benchmark has its Linux twin from
//! the same host at the same time.
//!
//! [`fetch`] uses `apt-get download` (no root needed, nothing installed on
//! the host) for `busybox-static` and for the kernel package that Debian's
//! `linux-image-cloud-amd64` metapackage depends on (found with
//! `apt-cache depends`), and `dpkg-deb -x` to unpack them. The unpacked
//! trees are the cache: a second run downloads nothing. `rm -r
//! target/linux` fetches the current versions again.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cpio::Archive;
use crate::deps::find_in_path;
use crate::{run_command, target_dir};

/// Debian's metapackage for the newest cloud kernel (small: the drivers a
/// virtual machine needs, which is all QEMU offers).
pub const KERNEL_METAPACKAGE: &str = "linux-image-cloud-amd64";
/// Debian's statically linked busybox: the init script's shell and
/// `poweroff`.
pub const BUSYBOX_PACKAGE: &str = "busybox-static";
/// Linux's command line: the serial console, quiet (no boot log between
/// the benchmark's lines), a panic ends the run instead of hanging, and
/// no speculative-execution mitigations (page-table isolation, retpolines,
/// buffer clearing on return to user mode...): Tine has none of them, so
/// comparing against a Linux that pays for them would flatter Tine (see
/// docs/benchmarks.md).
pub const LINUX_CMDLINE: &str = "console=ttyS0 quiet panic=-1 mitigations=off";

/// The fetched reference system.
#[derive(Clone, Debug)]
pub struct Linux {
    /// The bzImage (`boot/vmlinuz-*`).
    pub kernel: PathBuf,
    /// The static busybox binary.
    pub busybox: PathBuf,
    /// The kernel package, e.g. `linux-image-6.1.0-56-cloud-amd64`.
    pub kernel_package: String,
}

/// `target/linux`.
fn cache_dir() -> PathBuf {
    target_dir().join("linux")
}

/// Debian's static busybox, downloaded and unpacked unless it already is
/// (`target/linux/busybox/bin/busybox`).
pub fn fetch_busybox() -> Result<PathBuf> {
    let tree = cache_dir().join("busybox");
    let busybox = tree.join("bin/busybox");
    if !busybox.is_file() {
        for tool in ["apt-get", "dpkg-deb"] {
            if find_in_path(tool).is_none() {
                bail!("fetching {BUSYBOX_PACKAGE} needs Debian's {tool}; it is not on the PATH");
            }
        }
        let deb = match download(BUSYBOX_PACKAGE) {
            Ok(deb) => deb,
            // A fresh container has no package lists yet.
            Err(_) if crate::deps::is_root() => {
                run_command(Command::new("apt-get").arg("update"))?;
                download(BUSYBOX_PACKAGE)?
            }
            Err(e) => return Err(e),
        };
        unpack(&deb, &tree)?;
    }
    Ok(busybox)
}

/// The kernel and busybox, downloaded and unpacked unless they already are.
pub fn fetch() -> Result<Linux> {
    let dir = cache_dir();
    let kernel_tree = dir.join("kernel");
    if find_vmlinuz(&kernel_tree).is_none() {
        for tool in ["apt-get", "apt-cache", "dpkg-deb"] {
            if find_in_path(tool).is_none() {
                bail!(
                    "--compare-linux needs Debian's {tool} to fetch {KERNEL_METAPACKAGE}; \
                     it is not on the PATH"
                );
            }
        }
        let package = kernel_package()?;
        unpack(&download(&package)?, &kernel_tree)?;
    }
    let busybox = fetch_busybox()?;
    let kernel = find_vmlinuz(&kernel_tree)
        .with_context(|| format!("no boot/vmlinuz-* in {}", kernel_tree.display()))?;
    let version = kernel
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| name.strip_prefix("vmlinuz-"))
        .unwrap_or("unknown");
    Ok(Linux {
        kernel_package: format!("linux-image-{version}"),
        busybox,
        kernel,
    })
}

/// The `boot/vmlinuz-*` in an unpacked kernel package.
fn find_vmlinuz(tree: &Path) -> Option<PathBuf> {
    std::fs::read_dir(tree.join("boot"))
        .ok()?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .find(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with("vmlinuz-"))
        })
}

/// The versioned kernel package the metapackage depends on. With no
/// package lists (a fresh container), runs `apt-get update` first when
/// root.
fn kernel_package() -> Result<String> {
    let depends = || -> Result<Option<String>> {
        let output = Command::new("apt-cache")
            .args(["depends", KERNEL_METAPACKAGE])
            .output()
            .context("cannot run apt-cache")?;
        Ok(depends_on_kernel(&String::from_utf8_lossy(&output.stdout)))
    };
    if let Some(package) = depends()? {
        return Ok(package);
    }
    if crate::deps::is_root() {
        run_command(Command::new("apt-get").arg("update"))?;
        if let Some(package) = depends()? {
            return Ok(package);
        }
    }
    bail!(
        "apt-cache knows no {KERNEL_METAPACKAGE}; run `sudo apt-get update` \
         (it is in Debian's main archive)"
    )
}

/// The `linux-image-*` package in `apt-cache depends` output.
fn depends_on_kernel(apt_cache: &str) -> Option<String> {
    apt_cache.lines().find_map(|line| {
        let package = line.trim().strip_prefix("Depends:")?.trim();
        package
            .starts_with("linux-image-")
            .then(|| package.to_owned())
    })
}

/// `apt-get download PACKAGE` into `target/linux/debs`; returns the `.deb`.
fn download(package: &str) -> Result<PathBuf> {
    let debs = cache_dir().join("debs");
    std::fs::create_dir_all(&debs).with_context(|| format!("cannot create {}", debs.display()))?;
    run_command(
        Command::new("apt-get")
            .args(["download", package])
            .current_dir(&debs),
    )?;
    // The file is PACKAGE_VERSION_ARCH.deb, the version with `:` quoted.
    let prefix = format!("{package}_");
    std::fs::read_dir(&debs)?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(&prefix) && name.ends_with(".deb"))
        })
        .max()
        .with_context(|| {
            format!(
                "apt-get download {package} left no .deb in {}",
                debs.display()
            )
        })
}

/// `dpkg-deb -x DEB TREE` (into a fresh TREE).
fn unpack(deb: &Path, tree: &Path) -> Result<()> {
    if tree.exists() {
        std::fs::remove_dir_all(tree)
            .with_context(|| format!("cannot clear {}", tree.display()))?;
    }
    run_command(Command::new("dpkg-deb").arg("-x").arg(deb).arg(tree))
}

/// The `/init` script: mounts `/proc` (forkbench raises
/// `kernel.threads-max` there), runs `command` (a guest path and its arguments),
/// reports its status and powers off (QEMU then exits 0).
fn init_script(command: &[String]) -> String {
    let program = command.first().map_or("", String::as_str);
    format!(
        "#!/bin/busybox sh\n\
         # Generated by xtask/src/linux.rs: run one benchmark, power off.\n\
         /bin/busybox echo \"linux-init: Linux $(/bin/busybox uname -r), $(/bin/busybox nproc) CPUs\"\n\
         /bin/busybox mkdir -p /proc && /bin/busybox mount -t proc proc /proc\n\
         {}\n\
         /bin/busybox echo \"linux-init: {program} exited with status $?\"\n\
         /bin/busybox poweroff -f\n",
        command.join(" ")
    )
}

/// An initramfs for Linux: busybox, the `files` (`(guest path, host
/// path)`, executable) and an `/init` that runs `command` (a guest path
/// and its arguments) and powers off. Written to
/// `target/linux/initramfs.cpio`.
pub fn build_initramfs(
    linux: &Linux,
    files: &[(String, PathBuf)],
    command: &[String],
) -> Result<PathBuf> {
    let mut archive = Archive::default();
    let read = |path: &Path| std::fs::read(path).with_context(|| format!("{}", path.display()));
    archive.add_file("/bin/busybox", read(&linux.busybox)?, 0o755)?;
    for (guest, host) in files {
        archive.add_file(guest, read(host)?, 0o755)?;
    }
    archive.add_file("/init", init_script(command).into_bytes(), 0o755)?;
    let path = cache_dir().join("initramfs.cpio");
    std::fs::write(&path, archive.to_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_versioned_kernel_the_metapackage_depends_on() {
        let out = "linux-image-cloud-amd64\n  Depends: linux-image-6.1.0-56-cloud-amd64\n";
        assert_eq!(
            depends_on_kernel(out).as_deref(),
            Some("linux-image-6.1.0-56-cloud-amd64")
        );
        assert_eq!(depends_on_kernel("linux-image-cloud-amd64\n"), None);
    }

    #[test]
    fn init_runs_the_program_then_powers_off() {
        let script = init_script(&["/bin/forkbench".into(), "-c".into(), "2".into()]);
        assert!(script.starts_with("#!/bin/busybox sh\n"));
        let run = script.lines().position(|l| l == "/bin/forkbench -c 2");
        let off = script.lines().position(|l| l == "/bin/busybox poweroff -f");
        assert!(run.is_some() && off > run, "{script}");
    }
}
