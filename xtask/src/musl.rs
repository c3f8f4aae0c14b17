//! C user programs: every `user/c/<dir>/*.c`, built with `musl-gcc -static`.
//!
//! Each `.c` file is one program (no multi-file programs: a helper shared
//! by several programs goes in a header next to them). [`build_c_programs`]
//! compiles each with `musl-gcc` and [`CFLAGS`] (`-static -O2 -Wall
//! -Wextra -std=gnu11`) into
//! `target/c/<dir>/<name>`, skipping a program whose binary is newer than
//! its source and every header in its directory. [`CProgram::guest_path`]
//! says where the initramfs puts it: `user/c/tests/x.c` at `/test/x`,
//! everything else (`user/c/bin`, `user/c/bench`, ...) at `/bin/x`.
//!
//! These are ordinary static Linux executables, so they also run on the
//! host (`target/c/bin/hello`) and on the Linux that
//! `cargo xtask bench --compare-linux` boots.
//!
//! `musl-gcc` comes with Debian's `musl-tools`; [`ensure_musl`] installs it
//! with apt-get when running as root, or says how to.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use anyhow::{Context, Result, bail};

use crate::deps::{self, find_in_path};
use crate::{repo_root, run_command, target_dir};

/// The compiler driver.
pub const MUSL_GCC: &str = "musl-gcc";
/// The Debian package that provides [`MUSL_GCC`].
const MUSL_PACKAGE: &str = "musl-tools";
/// The flags every C program is built with.
pub const CFLAGS: &[&str] = &["-static", "-O2", "-Wall", "-Wextra", "-std=gnu11"];
/// The source directory whose programs are tests (packed under `/test`).
const TEST_DIR: &str = "tests";

/// One C program: `user/c/<dir>/<name>.c`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CProgram {
    /// The directory under `user/c/` (`bin`, `bench`, `tests`, ...).
    pub dir: String,
    /// The file name without `.c`.
    pub name: String,
    pub source: PathBuf,
    /// Where the binary is written: `target/c/<dir>/<name>`.
    pub binary: PathBuf,
}

impl CProgram {
    /// The program's path in the initramfs: `/test/NAME` for `user/c/tests`,
    /// `/bin/NAME` for every other directory.
    pub fn guest_path(&self) -> String {
        guest_path(&self.dir, &self.name)
    }
}

/// See [`CProgram::guest_path`].
fn guest_path(dir: &str, name: &str) -> String {
    if dir == TEST_DIR {
        format!("/test/{name}")
    } else {
        format!("/bin/{name}")
    }
}

/// The C sources directory, `user/c`.
pub fn source_root() -> PathBuf {
    repo_root().join("user").join("c")
}

/// Every `user/c/<dir>/*.c`, sorted by directory and name.
pub fn find_c_programs() -> Result<Vec<CProgram>> {
    find_in(&source_root(), &target_dir().join("c"))
}

fn find_in(root: &Path, out: &Path) -> Result<Vec<CProgram>> {
    let mut programs = Vec::new();
    let Ok(dirs) = std::fs::read_dir(root) else {
        return Ok(programs);
    };
    for dir in dirs {
        let dir = dir?.path();
        if !dir.is_dir() {
            continue;
        }
        let dir_name = file_name(&dir)?;
        for file in std::fs::read_dir(&dir).with_context(|| format!("{}", dir.display()))? {
            let source = file?.path();
            if source.extension().is_none_or(|ext| ext != "c") {
                continue;
            }
            let name = file_name(&source.with_extension(""))?;
            programs.push(CProgram {
                binary: out.join(&dir_name).join(&name),
                dir: dir_name.clone(),
                name,
                source,
            });
        }
    }
    programs.sort_by(|a, b| (&a.dir, &a.name).cmp(&(&b.dir, &b.name)));
    Ok(programs)
}

fn file_name(path: &Path) -> Result<String> {
    path.file_name()
        .and_then(|name| name.to_str())
        .map(str::to_owned)
        .with_context(|| format!("{}: not a UTF-8 file name", path.display()))
}

/// Builds every C program that is out of date and returns them all. No C
/// sources: an empty list, and musl-gcc is not needed.
pub fn build_c_programs() -> Result<Vec<CProgram>> {
    let programs = find_c_programs()?;
    if programs.is_empty() {
        return Ok(programs);
    }
    ensure_musl()?;
    for program in &programs {
        if !is_up_to_date(program)? {
            compile(program)?;
        }
    }
    Ok(programs)
}

/// `musl-gcc -static -O2 ... -o target/c/<dir>/<name> <source>`.
fn compile(program: &CProgram) -> Result<()> {
    if let Some(dir) = program.binary.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    run_command(
        Command::new(MUSL_GCC)
            .args(CFLAGS)
            .arg("-o")
            .arg(&program.binary)
            .arg(&program.source),
    )
    .with_context(|| format!("building {}", program.source.display()))
}

/// Whether the binary is newer than the source and the headers beside it.
fn is_up_to_date(program: &CProgram) -> Result<bool> {
    let Some(built) = modified(&program.binary) else {
        return Ok(false);
    };
    let mut inputs = vec![program.source.clone()];
    if let Some(dir) = program.source.parent() {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|ext| ext == "h") {
                inputs.push(path);
            }
        }
    }
    Ok(inputs
        .iter()
        .all(|input| modified(input).is_some_and(|time| time <= built)))
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).ok()?.modified().ok()
}

/// Makes sure `musl-gcc` is on the PATH, installing `musl-tools` with
/// apt-get when running as root.
pub fn ensure_musl() -> Result<()> {
    if find_in_path(MUSL_GCC).is_some() {
        return Ok(());
    }
    let install = format!("apt-get update && apt-get install -y {MUSL_PACKAGE}");
    if !deps::is_root() || find_in_path("apt-get").is_none() {
        bail!(
            "{MUSL_GCC} (for the C programs in user/c) is not installed; install it with:\n    \
             sudo sh -c '{install}'"
        );
    }
    println!("{MUSL_GCC} is missing; installing it: {install}");
    deps::apt_install(MUSL_PACKAGE)?;
    if find_in_path(MUSL_GCC).is_none() {
        bail!("{MUSL_GCC} is still not on the PATH after installing {MUSL_PACKAGE}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tests_go_to_test_and_the_rest_to_bin() {
        assert_eq!(guest_path("tests", "pipe"), "/test/pipe");
        assert_eq!(guest_path("bin", "hello"), "/bin/hello");
        assert_eq!(guest_path("bench", "forkbench"), "/bin/forkbench");
    }

    #[test]
    fn finds_c_files_one_level_down_sorted() {
        let root = std::env::temp_dir().join(format!("tine-musl-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (dir, file) in [
            ("bin", "b.c"),
            ("bin", "a.c"),
            ("bin", "util.h"),
            ("tests", "t.c"),
        ] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
            std::fs::write(root.join(dir).join(file), "").unwrap();
        }
        std::fs::write(root.join("top.c"), "").unwrap();
        let found = find_in(&root, Path::new("/out")).unwrap();
        std::fs::remove_dir_all(&root).unwrap();
        let names: Vec<(String, String, PathBuf)> = found
            .into_iter()
            .map(|p| (p.dir, p.name, p.binary))
            .collect();
        assert_eq!(
            names,
            [
                ("bin".into(), "a".into(), "/out/bin/a".into()),
                ("bin".into(), "b".into(), "/out/bin/b".into()),
                ("tests".into(), "t".into(), "/out/tests/t".into()),
            ]
        );
    }

    #[test]
    fn no_source_directory_means_no_programs() {
        assert!(
            find_in(Path::new("/nonexistent/user/c"), Path::new("/out"))
                .unwrap()
                .is_empty()
        );
    }
}
