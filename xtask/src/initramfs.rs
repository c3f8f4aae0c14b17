//! The initramfs every boot gets: the user programs, built and packed.
//!
//! [`build_user_programs`] builds the `user/` workspace (release profile,
//! `x86_64-unknown-none`, static non-PIE executables at 0x400000; the flags
//! are in `user/.cargo/config.toml`) and finds its executables in cargo's
//! JSON messages. [`build_initramfs`] packs each at `/bin/NAME` (so
//! `user/init` is `/bin/init`, the program the kernel starts, and `/init`
//! links to it as Linux expects), adds the C programs of `user/c`
//! ([`musl`]: `user/c/tests/x.c` at `/test/x`, the others at `/bin/x`),
//! adds the files given with `--add HOST[:GUEST]`, and writes the archive to
//! `target/initramfs.cpio`, which `run`, `test` and `bench` pass to QEMU
//! with `-initrd`. The layout is described in `docs/initramfs.md`.

use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;

use anyhow::{Context, Result, bail};

use crate::build::KERNEL_TARGET;
use crate::cpio::Archive;
use crate::musl::{self, CProgram};
use crate::{display_command, repo_root, target_dir};

/// Where the user programs go in the archive.
pub const BIN_DIR: &str = "/bin";
/// Where the test programs (the `tine-tests` package, `user/tests`) go:
/// booting with `utest` runs each one (`docs/testing.md`).
pub const TEST_DIR: &str = "/test";
/// The package whose binaries are test programs.
const TEST_PACKAGE: &str = "tine-tests";
/// Files the test programs use, with their permissions: an executable
/// that is not an ELF (`ENOEXEC`), a file without an execute bit
/// (`EACCES`), and `#!` scripts (one that runs `/test/exec --script`, one
/// that is its own interpreter (`ELOOP`), one without an interpreter
/// (`ENOEXEC`), one whose interpreter does not exist (`ENOENT`)).
const TEST_DATA: [(&str, &[u8], u32); 6] = [
    ("/test-data/not-elf", b"#not an ELF file\n", 0o755),
    (
        "/test-data/not-executable",
        b"\x7fELF but not executable\n",
        0o644,
    ),
    (
        "/test-data/script",
        b"#!/test/exec --script\nnot read\n",
        0o755,
    ),
    (
        "/test-data/script-loop",
        b"#!/test-data/script-loop\n",
        0o755,
    ),
    ("/test-data/script-empty", b"#!  \n", 0o755),
    ("/test-data/script-missing", b"#!/nonexistent/sh\n", 0o755),
];

/// A host file to put in the archive: `HOST[:GUEST]`; without GUEST it
/// goes to `/` under its own name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddFile {
    pub host: PathBuf,
    pub guest: String,
}

impl FromStr for AddFile {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, String> {
        let (host, guest) = match spec.split_once(':') {
            Some((host, guest)) => (host, guest.to_owned()),
            None => {
                let name = Path::new(spec)
                    .file_name()
                    .and_then(|name| name.to_str())
                    .ok_or_else(|| format!("{spec:?} has no file name"))?;
                (spec, format!("/{name}"))
            }
        };
        if host.is_empty() {
            return Err(format!("{spec:?}: no host file"));
        }
        if !guest.starts_with('/') || guest.ends_with('/') {
            return Err(format!(
                "{spec:?}: the guest path must be absolute and name a file"
            ));
        }
        Ok(Self {
            host: PathBuf::from(host),
            guest,
        })
    }
}

/// A built user program: its name, the executable, and whether it is a
/// test program (packed under [`TEST_DIR`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Program {
    pub name: String,
    pub path: PathBuf,
    pub test: bool,
}

impl Program {
    /// Its path in the archive.
    pub fn guest_path(&self) -> String {
        let dir = if self.test { TEST_DIR } else { BIN_DIR };
        format!("{dir}/{}", self.name)
    }
}

/// Builds the user programs.
pub fn build_user_programs() -> Result<Vec<Program>> {
    let mut cmd = Command::new("cargo");
    // Run *in* user/, so that cargo reads user/.cargo/config.toml (cargo
    // looks for config from the working directory, not the manifest).
    cmd.current_dir(repo_root().join("user"))
        .args([
            "build",
            "--release",
            "--target",
            KERNEL_TARGET,
            "--message-format=json-render-diagnostics",
        ])
        // An outer RUSTFLAGS would replace the user programs' rustflags.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("CARGO_TARGET_DIR", target_dir().join("user"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    println!("$ (cd user && {})", display_command(&cmd));
    let output = cmd.output().context("cannot start cargo")?;
    if !output.status.success() {
        bail!("building the user programs failed: {}", output.status);
    }
    let mut programs = executables(&output.stdout);
    programs.sort();
    if !programs.iter().any(|p| p.name == "init" && !p.test) {
        bail!("the user workspace built no `init` program");
    }
    Ok(programs)
}

/// Every executable in cargo's JSON messages.
fn executables(json_lines: &[u8]) -> Vec<Program> {
    json_lines
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(&line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter_map(|message| {
            let path = message["executable"].as_str()?;
            let name = message["target"]["name"].as_str()?;
            let test = message["package_id"]
                .as_str()
                .is_some_and(|id| id.contains(&format!("#{TEST_PACKAGE}@")));
            Some(Program {
                name: name.to_owned(),
                path: PathBuf::from(path),
                test,
            })
        })
        .collect()
}

/// Where [`build_initramfs`] writes the archive.
pub fn initramfs_path() -> PathBuf {
    target_dir().join("initramfs.cpio")
}

/// Builds the user programs, packs them and `extra` into the initramfs and
/// returns its path.
pub fn build_initramfs(extra: &[AddFile]) -> Result<PathBuf> {
    build_initramfs_at(&initramfs_path(), extra, &[])
}

/// [`build_initramfs`] written to `path`, with symbolic `links` (`(path,
/// target)`) added where the archive has nothing of that name (busybox's
/// applet links, `crate::busybox`).
pub fn build_initramfs_at(
    path: &Path,
    extra: &[AddFile],
    links: &[(String, String)],
) -> Result<PathBuf> {
    let programs = build_user_programs()?;
    let c_programs = musl::build_c_programs()?;
    let mut archive = pack(&programs, &c_programs, extra)?;
    let taken: std::collections::BTreeSet<String> = archive.paths().collect();
    for (link, target) in links {
        if !taken.contains(link) {
            archive.add_symlink(link, target)?;
        }
    }
    let path = path.to_path_buf();
    let bytes = archive.to_bytes();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&path, &bytes).with_context(|| format!("cannot write {}", path.display()))?;
    let mut paths: Vec<String> = archive.paths().collect();
    let listed = paths.len();
    paths.truncate(80);
    println!(
        "initramfs: {} ({} KiB, {listed} members): {}{}",
        path.display(),
        bytes.len().div_ceil(1024),
        paths.join(" "),
        if listed > paths.len() { " ..." } else { "" }
    );
    Ok(path)
}

/// The archive of `programs` (at `/bin/NAME`, the tests at `/test/NAME`),
/// `c_programs` (at their [`CProgram::guest_path`]), the test data and
/// `extra`. A name given twice (a C program named like a Rust one) is an
/// error.
fn pack(programs: &[Program], c_programs: &[CProgram], extra: &[AddFile]) -> Result<Archive> {
    let mut archive = Archive::default();
    let rust = programs
        .iter()
        .map(|program| (program.guest_path(), &program.path));
    let c = c_programs
        .iter()
        .map(|program| (program.guest_path(), &program.binary));
    for (guest, path) in rust.chain(c) {
        let data =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        archive
            .add_file(&guest, data, 0o755)
            .with_context(|| format!("packing {}", path.display()))?;
    }
    for (guest, data, perm) in TEST_DATA {
        archive.add_file(guest, data.to_vec(), perm)?;
    }
    // Linux's initramfs convention, so the same archive also boots Linux.
    archive.add_symlink("/init", "bin/init")?;
    for add in extra {
        let data = std::fs::read(&add.host)
            .with_context(|| format!("--add: cannot read {}", add.host.display()))?;
        let executable = std::fs::metadata(&add.host)?.permissions().mode() & 0o111 != 0;
        // Only "executable or not" is taken from the host, so the archive
        // does not depend on the umask.
        let perm = if executable { 0o755 } else { 0o644 };
        archive
            .add_file(&add.guest, data, perm)
            .with_context(|| format!("--add {}", add.host.display()))?;
    }
    Ok(archive)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel::exec::elf::{self, ElfKind, LoadPlan};
    use kernel::fs::Initramfs;

    #[test]
    fn add_specs_parse() {
        let add: AddFile = "target/x.txt".parse().unwrap();
        assert_eq!(add.host, PathBuf::from("target/x.txt"));
        assert_eq!(add.guest, "/x.txt");
        let add: AddFile = "a/b:/etc/b.conf".parse().unwrap();
        assert_eq!(
            (add.host, add.guest),
            (PathBuf::from("a/b"), "/etc/b.conf".to_owned())
        );
        assert!("a:relative".parse::<AddFile>().is_err());
        assert!("a:/dir/".parse::<AddFile>().is_err());
        assert!(":/x".parse::<AddFile>().is_err());
    }

    #[test]
    fn executables_come_from_compiler_artifacts() {
        let json = br#"{"reason":"compiler-artifact","target":{"name":"tine_rt"},"executable":null}
{"reason":"compiler-artifact","package_id":"path+file:///r/user/init#0.1.0","target":{"name":"init"},"executable":"/t/init"}
{"reason":"compiler-artifact","package_id":"path+file:///r/user/tests#tine-tests@0.1.0","target":{"name":"exec"},"executable":"/t/exec"}
not json
{"reason":"build-finished","success":true}
"#;
        let programs = executables(json);
        assert_eq!(
            programs,
            [
                Program {
                    name: "init".to_owned(),
                    path: PathBuf::from("/t/init"),
                    test: false
                },
                Program {
                    name: "exec".to_owned(),
                    path: PathBuf::from("/t/exec"),
                    test: true
                }
            ]
        );
        assert_eq!(programs[0].guest_path(), "/bin/init");
        assert_eq!(programs[1].guest_path(), "/test/exec");
    }

    /// Builds the real user programs (the release build of `user/`) and
    /// checks the archive and every program's load plan with the kernel's
    /// own code, and that they are what docs/initramfs.md promises: static
    /// `ET_EXEC` at 0x400000, program headers loaded, no writable and
    /// executable segment.
    #[test]
    fn user_programs_pack_and_have_valid_load_plans() {
        let programs = build_user_programs().expect("the user programs build");
        let c_programs = musl::build_c_programs().expect("the C programs build");
        let dir = std::env::temp_dir().join(format!("tine-xtask-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let note = dir.join("note.txt");
        std::fs::write(&note, "added\n").unwrap();
        let extra = [AddFile {
            host: note.clone(),
            guest: "/etc/note".to_owned(),
        }];
        let bytes = pack(&programs, &c_programs, &extra).unwrap().to_bytes();
        std::fs::remove_dir_all(&dir).unwrap();

        let fs = Initramfs::new(&bytes).expect("the kernel reads the archive");
        assert_eq!(
            fs.lookup("/etc/note").unwrap().data(),
            Some(&b"added\n"[..])
        );
        assert_eq!(fs.lookup("/init"), fs.lookup("/bin/init"));
        assert_eq!(fs.lookup("/test-data/not-elf").unwrap().perm, 0o755);
        assert!(
            programs.iter().any(|p| p.test && p.name == "exec"),
            "the test programs are built"
        );
        let c_paths = c_programs.iter().map(CProgram::guest_path);
        assert!(c_paths.clone().any(|path| path == "/bin/musl-hello"));
        let rust_paths = ["/bin/init", "/bin/hello", "/test/exec"].map(String::from);
        for path in rust_paths.into_iter().chain(c_paths) {
            let node = fs.lookup(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(node.perm, 0o755);
            let image = node.data().unwrap();
            let plan = LoadPlan::new(image, elf::DEFAULT_PIE_BIAS)
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(plan.kind, ElfKind::Exec, "{path}");
            assert_eq!(plan.segments[0].map_start(), 0x40_0000, "{path}");
            assert!(plan.phdr_addr.is_some(), "{path}");
            assert!(!plan.stack_executable, "{path}");
            for segment in &plan.segments {
                assert!(
                    !(segment.perms.write && segment.perms.execute),
                    "{path}: W+X segment {segment:?}"
                );
            }
        }
    }
}
