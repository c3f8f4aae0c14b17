//! `cargo xtask lint`: formatting, clippy, and the unsafe boundary, for
//! the kernel's workspace and for the user programs' (`user/`).
//!
//! Tine keeps every `unsafe` in `arch/` (`docs/design.md`). The compiler
//! enforces that through `#![deny(unsafe_code)]` at the roots of the safe
//! crates; this lint checks the attribute is still there, and also scans
//! the safe crates' sources for any `unsafe` token outside comments and
//! literals, so a local `#[allow(unsafe_code)]` cannot slip through either.
//! `cargo doc` runs with warnings denied over the kernel's crates (private
//! items included, so that a module's docs may link to its private
//! helpers) and over xtask, so a broken intra-doc link fails the lint.
//! All checks run; the command fails if any did.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::build::kernel_cargo;
use crate::{deps, run_command};

/// Crate roots that must carry `#![deny(unsafe_code)]` or
/// `#![forbid(unsafe_code)]`.
const SAFE_CRATE_ROOTS: [&str; 5] = [
    "kernel/src/lib.rs",
    "kernel/abi/src/lib.rs",
    "kernel/image/src/main.rs",
    "drivers/src/lib.rs",
    "bench/src/lib.rs",
];
/// Trees in which no `.rs` file may use `unsafe`.
const SAFE_TREES: [&str; 3] = ["kernel", "drivers", "bench"];

pub fn main() -> Result<()> {
    deps::ensure_components(&["rustfmt", "clippy"])?;
    deps::ensure_kernel_target()?;
    type Check = fn() -> Result<()>;
    let checks: [(&str, Check); 9] = [
        ("rustfmt", || {
            run_command(Command::new("cargo").args(["fmt", "--all", "--check"]))
        }),
        ("rustfmt (user programs)", || {
            run_command(
                Command::new("cargo")
                    .current_dir("user")
                    .args(["fmt", "--all", "--check"]),
            )
        }),
        ("clippy (user programs)", || {
            // From user/, so that user/.cargo/config.toml applies.
            run_command(
                Command::new("cargo")
                    .current_dir("user")
                    .args(["clippy", "--release", "--", "-D", "warnings"])
                    .env_remove("RUSTFLAGS")
                    .env_remove("CARGO_ENCODED_RUSTFLAGS")
                    .env("CARGO_TARGET_DIR", crate::target_dir().join("user")),
            )
        }),
        ("clippy (kernel target)", || {
            run_command(kernel_cargo("clippy").args(["--", "-D", "warnings"]))
        }),
        ("clippy (host crates)", || {
            run_command(Command::new("cargo").args([
                "clippy",
                "--workspace",
                "--exclude",
                "tine",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]))
        }),
        ("cargo doc (kernel target)", || {
            run_command(rustdoc_checked(&mut kernel_cargo("doc")).args([
                "-p", "abi", "-p", "arch", "-p", "drivers", "-p", "kernel", "-p", "bench",
            ]))
        }),
        ("cargo doc (xtask)", || {
            run_command(rustdoc_checked(Command::new("cargo").arg("doc")).args(["-p", "xtask"]))
        }),
        (
            "#![deny(unsafe_code)] in the safe crates",
            check_deny_attributes,
        ),
        ("no unsafe under kernel/, drivers/, bench/", check_no_unsafe),
    ];
    let mut failed = Vec::new();
    for (name, check) in checks {
        println!("==> {name}");
        match check() {
            Ok(()) => println!("<== ok"),
            Err(error) => {
                println!("<== FAILED: {error:#}");
                failed.push(name);
            }
        }
    }
    println!(
        "lint: {} passed, {} failed",
        checks.len() - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        bail!("lint failed: {}", failed.join(", "));
    }
    Ok(())
}

/// `cmd` (a `cargo doc`) with every rustdoc warning an error, private
/// items documented, and no documentation of dependencies.
fn rustdoc_checked(cmd: &mut Command) -> &mut Command {
    cmd.args(["--no-deps", "--document-private-items"])
        .env("RUSTDOCFLAGS", "-D warnings")
}

fn check_deny_attributes() -> Result<()> {
    let mut missing = Vec::new();
    for root in SAFE_CRATE_ROOTS {
        let source =
            std::fs::read_to_string(root).with_context(|| format!("cannot read {root}"))?;
        if !denies_unsafe_code(&source) {
            missing.push(root);
        }
    }
    if !missing.is_empty() {
        bail!("no #![deny(unsafe_code)] in {}", missing.join(", "));
    }
    Ok(())
}

fn check_no_unsafe() -> Result<()> {
    let mut files = Vec::new();
    for tree in SAFE_TREES {
        rust_files(Path::new(tree), &mut files)?;
    }
    files.sort();
    let mut uses = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        for line in unsafe_lines(&source) {
            let text = source.lines().nth(line - 1).unwrap_or_default().trim();
            uses.push(format!("{}:{line}: {text}", file.display()));
        }
    }
    if !uses.is_empty() {
        bail!(
            "unsafe belongs in arch/ behind a safe API:\n  {}",
            uses.join("\n  ")
        );
    }
    println!("{} files scanned", files.len());
    Ok(())
}

/// Every `.rs` file under `dir`, skipping build output.
fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|name| name != "target") {
                rust_files(&path, files)?;
            }
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    Ok(())
}

/// Whether `source` has a crate-level `deny` or `forbid` naming
/// `unsafe_code` (outside comments).
fn denies_unsafe_code(source: &str) -> bool {
    let code: String = code_only(source)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    ["#![deny(", "#![forbid("].iter().any(|open| {
        code.match_indices(open).any(|(at, _)| {
            let lints = &code[at + open.len()..];
            let lints = &lints[..lints.find(')').unwrap_or(lints.len())];
            lints.split(',').any(|lint| lint == "unsafe_code")
        })
    })
}

/// The 1-based numbers of the lines where the keyword `unsafe` appears in
/// code (not in comments or literals; `unsafe_code` is another word).
fn unsafe_lines(source: &str) -> Vec<usize> {
    let code = code_only(source);
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut lines: Vec<usize> = code
        .match_indices("unsafe")
        .filter(|&(at, word)| {
            let before = code[..at].chars().next_back();
            let after = code[at + word.len()..].chars().next();
            !before.is_some_and(is_word) && !after.is_some_and(is_word)
        })
        .map(|(at, _)| code[..at].matches('\n').count() + 1)
        .collect();
    lines.dedup();
    lines
}

/// `source` with the text of comments, string literals and character
/// literals replaced by spaces (newlines kept, so line numbers still hold).
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let at = |i: usize| chars.get(i).copied();
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let starts_word = i == 0 || !is_word(chars[i - 1]);
        if c == '/' && at(i + 1) == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && at(i + 1) == Some('*') {
            // Block comments nest in Rust.
            let mut depth = 0;
            loop {
                match (at(i), at(i + 1)) {
                    (Some('/'), Some('*')) => depth += 1,
                    (Some('*'), Some('/')) => depth -= 1,
                    (None, _) => break,
                    (Some(c), _) => {
                        out.push(blank(c));
                        i += 1;
                        continue;
                    }
                }
                out.push_str("  ");
                i += 2;
                if depth == 0 {
                    break;
                }
            }
        } else if c == '"' {
            out.push('"');
            i += 1;
            while let Some(c) = at(i) {
                i += 1;
                if c == '"' {
                    break;
                }
                out.push(blank(c));
                if c == '\\'
                    && let Some(escaped) = at(i)
                {
                    out.push(blank(escaped));
                    i += 1;
                }
            }
            out.push('"');
        } else if let Some(hashes) = (c == 'r' && (starts_word || raw_byte_string(&chars, i)))
            .then(|| raw_string_hashes(&chars, i + 1))
            .flatten()
        {
            // r#"..."#: ends at a quote followed by the same number of #.
            let body = i + 2 + hashes;
            let closing: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            let end = (body..chars.len())
                .find(|&j| chars[j..].starts_with(&closing))
                .map_or(chars.len(), |j| j + closing.len());
            out.extend(chars[i..end].iter().map(|&c| blank(c)));
            i = end;
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{..}') or a lifetime ('a).
            let end = match (at(i + 1), at(i + 2)) {
                (Some('\\'), _) => (i + 3..chars.len()).find(|&j| chars[j] == '\''),
                (Some(_), Some('\'')) => Some(i + 2),
                _ => None,
            };
            match end {
                Some(end) => {
                    out.extend(chars[i..=end].iter().map(|&c| blank(c)));
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Whether the `r` at `i` is the `r` of a `br"..."` byte string.
fn raw_byte_string(chars: &[char], i: usize) -> bool {
    i >= 1
        && chars[i - 1] == 'b'
        && (i == 1 || !(chars[i - 2].is_alphanumeric() || chars[i - 2] == '_'))
}

/// If `#`s and then a `"` start at `i`, the number of `#`s.
fn raw_string_hashes(chars: &[char], i: usize) -> Option<usize> {
    let hashes = chars[i..].iter().take_while(|&&c| c == '#').count();
    (chars.get(i + hashes) == Some(&'"')).then_some(hashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_deny_attribute() {
        assert!(denies_unsafe_code("#![no_std]\n#![deny(unsafe_code)]\n"));
        assert!(denies_unsafe_code("#![forbid(unsafe_code)]"));
        assert!(denies_unsafe_code("#![deny(missing_docs, unsafe_code)]"));
        assert!(denies_unsafe_code("#![ deny( unsafe_code ) ]"));
        assert!(!denies_unsafe_code("// #![deny(unsafe_code)]\n"));
        assert!(!denies_unsafe_code("#![deny(unsafe_op_in_unsafe_fn)]"));
        assert!(!denies_unsafe_code("#[deny(unsafe_code)] fn f() {}"));
    }

    #[test]
    fn finds_unsafe_blocks_fns_impls_and_attributes() {
        let source = "\
#![deny(unsafe_code)]
fn a() { unsafe { f() } }
pub unsafe fn b() {}
unsafe impl Send for C {}
#[unsafe(no_mangle)]
extern \"C\" fn d() {}
";
        assert_eq!(unsafe_lines(source), [2, 3, 4, 5]);
    }

    #[test]
    fn ignores_unsafe_in_comments_literals_and_identifiers() {
        let source = r##"
// unsafe { }
/* outer /* unsafe */ still a comment: unsafe */
/// Calls into arch without unsafe.
let s = "unsafe {";
let r = r#"unsafe " fn"#;
let b = br"unsafe";
let c = '"'; let q = '\''; fn f<'a>(x: &'a u8) {}
let not_unsafe = unsafe_code + my_unsafe_count;
"##;
        assert_eq!(unsafe_lines(source), Vec::<usize>::new());
    }

    #[test]
    fn literals_do_not_hide_later_code() {
        let source = "let s = \"a \\\" b\"; let c = '\"';\nunsafe {}\n";
        assert_eq!(unsafe_lines(source), [2]);
    }
}
