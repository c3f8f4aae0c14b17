//! The `utest` boot mode: run every user test program, then exit QEMU.
//!
//! Booting with `utest` (or `utest=SUBSTR`) makes the boot task run each
//! executable file directly under `/test/` of the initramfs (those whose
//! name contains SUBSTR), one after another, in name order, as a child of
//! the kernel with `argv = [path]` and a small environment. Each must exit
//! with status 0. The serial output (parsed by `xtask test`):
//!
//! ```text
//! utest /test/exec ... ok
//! utest /test/segv ... FAILED: exit status 1
//! utest result: N passed, M failed
//! ```
//!
//! and QEMU exits with `Success` (33) when M is 0 and at least one
//! program ran, `Failure` (35) otherwise. The programs live in
//! `user/tests` (`docs/testing.md`).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::proc::process;

/// Where the test programs are.
pub const TEST_DIR: &str = "/test";

/// The environment every test program gets.
const ENVP: [&[u8]; 2] = [b"PATH=/bin:/test", b"TERM=tine"];

/// The paths of the test programs whose name contains `filter`, sorted.
pub fn programs(filter: &str) -> Vec<String> {
    let Ok(root) = crate::fs::root() else {
        return Vec::new();
    };
    let Ok(dir) = root.lookup(TEST_DIR) else {
        return Vec::new();
    };
    let Ok(entries) = root.readdir(dir.id) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| {
            let node = root.node(e.id)?;
            let name = core::str::from_utf8(e.name).ok()?;
            (node.data().is_some() && node.perm & 0o111 != 0 && name.contains(filter))
                .then(|| format!("{TEST_DIR}/{name}"))
        })
        .collect()
}

/// Runs one program and waits for it: `Ok(())` for status 0, else why
/// not.
async fn run_one(path: &str) -> Result<(), String> {
    let pid = process::spawn_process(path, &[path.as_bytes()], &ENVP)
        .map_err(|e| format!("spawn: {e}"))?;
    match process::wait(pid).await {
        Ok(0) => Ok(()),
        Ok(status) if status & 0x7f == 0 => Err(format!("exit status {}", (status >> 8) & 0xff)),
        Ok(status) => Err(format!("killed by signal {}", status & 0x7f)),
        Err(e) => Err(format!("wait: {e}")),
    }
}

/// Runs the test programs matching `filter` and prints the contract lines
/// with `out`; returns (passed, failed).
pub async fn run(filter: &str, out: fn(core::fmt::Arguments<'_>)) -> (usize, usize) {
    let (mut passed, mut failed) = (0, 0);
    for path in programs(filter) {
        match run_one(&path).await {
            Ok(()) => {
                passed += 1;
                out(format_args!("utest {path} ... ok\n"));
            }
            Err(why) => {
                failed += 1;
                out(format_args!("utest {path} ... FAILED: {why}\n"));
            }
        }
    }
    out(format_args!(
        "utest result: {passed} passed, {failed} failed\n"
    ));
    (passed, failed)
}
