//! `cargo xtask test`: the three test tiers, then a summary table.
//!
//! 1. **host**: `cargo test` on every crate that builds for the host, the
//!    user shell's pure library (`user/sh`, built for the host), and the
//!    loom models of the kernel's lock-free structures.
//! 2. **in-kernel**: build the user programs and the initramfs
//!    ([`initramfs`]), which every boot below gets as its `-initrd`; boot
//!    with `test` at `-smp 1` and `-smp 4`; pass iff
//!    QEMU exits 33 and the kernel reports `ktest result: N passed, 0 failed`.
//! 3. **system**: boot with `test=boot` and check that every CPU came
//!    online (at `-smp 4`, and with `--quick` off also at 1, 2, 8 CPUs and
//!    128 MiB / 8 GiB of memory); boot with `crash=pagefault` and
//!    `crash=panic` and check the reports; boot with
//!    `bench=fork1_exit_reap` (it must end); boot with `utest=c_oom` at
//!    128 MiB (the OOM killer's line) and with `utest` at `-smp 1` and
//!    `-smp 4`: every user test program under `/test/` must exit 0; run
//!    `/bin/scale` (3,000 processes, then until memory runs out); then the
//!    sessions on the kernel shell and the user shell ([`shell`]), the
//!    gdb check, the busybox checks and (not with `--quick`) a 60 s fuzz
//!    run and a 30 s stress run at `-smp 4`.
//!
//! Every step runs even when an earlier one failed, each QEMU run is under
//! a timeout, and the exit status is non-zero if any step failed. The tiers
//! and the serial contract are described in `docs/testing.md`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::build::{self, Profile};
use crate::fuzz;
use crate::initramfs;
use crate::qemu::{self, Accel, KernelExit, Outcome, QemuConfig};
use crate::shell;
use crate::{deps, display_command, run_command, serial, target_dir};

/// Deadline for a boot that runs the in-kernel tests: about 10 s on a quiet
/// 2-core machine, but a loaded host (several builds and boots at once)
/// has taken 90 s, and a deadline is not a timing assertion.
const KTEST_TIMEOUT: Duration = Duration::from_secs(300);
/// The seed of the suite's fuzz run (fixed, so a failure repeats).
const FUZZ_SEED: u64 = 13;

/// Deadline for a boot that only checks the system came up (or crashed as
/// asked).
const BOOT_TIMEOUT: Duration = Duration::from_secs(180);
/// How many lines of serial output a failed boot shows.
const TAIL_LINES: usize = 40;

#[derive(Args)]
pub struct TestArgs {
    /// Skip the loom models, the boots at 1, 2 and 8 CPUs and at
    /// 128 MiB / 8 GiB, and the fuzz and stress runs.
    #[arg(long)]
    quick: bool,
    /// Copy each boot's serial output to the terminal as it arrives.
    #[arg(long, short)]
    verbose: bool,
    /// Run only the steps whose name contains PATTERN (the builds they
    /// need always run), e.g. `--only "user shell"`. Repeatable.
    #[arg(long, value_name = "PATTERN")]
    only: Vec<String>,
}

pub fn main(args: &TestArgs) -> Result<()> {
    deps::ensure_qemu()?;
    deps::ensure_kernel_target()?;
    let mut suite = Suite {
        only: args.only.clone(),
        ..Suite::default()
    };

    suite.run(Tier::Host, "cargo test (host crates)", || {
        run_command(Command::new("cargo").args(["test", "--workspace", "--exclude", "tine"]))?;
        Ok(String::new())
    });
    suite.run(
        Tier::Host,
        "cargo test (user shell library)",
        user_host_tests,
    );
    if !args.quick {
        suite.run(Tier::Host, "loom models", loom_models);
    }

    let mut initrd = None;
    suite.run(Tier::Kernel, "build user programs + initramfs", || {
        initrd = Some(initramfs::build_initramfs(&[])?);
        Ok(String::new())
    });
    let mut kernel = None;
    suite.run(Tier::Kernel, "build kernel (debug)", || {
        kernel = Some(build::build_kernel(Profile::Debug)?);
        Ok(String::new())
    });
    for boot in boots(args.quick) {
        suite.run(boot.tier, &boot.name(), || {
            boot.run(kernel.as_deref(), initrd.as_deref(), args.verbose)
        });
    }
    for smp in [1, 4] {
        suite.run(Tier::System, &format!("shell session -smp {smp}"), || {
            shell::session(kernel.as_deref(), initrd.as_deref(), smp)
        });
    }
    suite.run(Tier::System, "gdb: entry breakpoint, tine-tasks", || {
        crate::gdb::check(kernel.as_deref(), initrd.as_deref())
    });
    for smp in [1, 4] {
        suite.run(
            Tier::System,
            &format!("user shell session -smp {smp}"),
            || shell::user_session(kernel.as_deref(), initrd.as_deref(), smp),
        );
    }

    for smp in [1, 4] {
        suite.run(Tier::System, &format!("busybox checks -smp {smp}"), || {
            crate::busybox::check(kernel.as_deref(), smp, args.verbose)
        });
    }

    if !args.quick {
        suite.run(Tier::System, "fuzz -smp 4 (60 s)", || {
            let (Some(kernel), Some(initrd)) = (kernel.as_deref(), initrd.as_deref()) else {
                bail!("no kernel or initramfs");
            };
            let job = fuzz::Job::Fuzz { seed: FUZZ_SEED };
            fuzz::run(&job, kernel, initrd, 60, 4, 512, args.verbose)
        });
        suite.run(Tier::System, "stress -smp 4 (30 s)", || {
            let (Some(kernel), Some(initrd)) = (kernel.as_deref(), initrd.as_deref()) else {
                bail!("no kernel or initramfs");
            };
            fuzz::run(&fuzz::Job::Stress, kernel, initrd, 30, 4, 512, args.verbose)
        });
    }

    suite.print_summary();
    let failed = suite.failed();
    if failed > 0 {
        bail!("{failed} of {} test steps failed", suite.steps.len());
    }
    Ok(())
}

/// Runs the host tests of the user programs' pure code (the `sh`
/// library: parser, line editor, names, records), built for the host from
/// `user/` (its own workspace, whose default target is the bare one).
fn user_host_tests() -> Result<String> {
    let rustc = Command::new("rustc")
        .arg("-vV")
        .output()
        .context("cannot start rustc")?;
    let info = String::from_utf8_lossy(&rustc.stdout);
    let host = info
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .context("rustc -vV names no host")?
        .to_owned();
    let mut cmd = Command::new("cargo");
    cmd.current_dir(crate::repo_root().join("user"))
        .args(["test", "-p", "sh", "--lib", "--target", &host])
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env("CARGO_TARGET_DIR", target_dir().join("user"));
    let output = cmd.output().context("cannot start cargo")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "{} failed:\n{stdout}{}",
            display_command(&cmd),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(format!("{} tests passed", cargo_tests_passed(&stdout)))
}

/// Runs the loom model tests (the tests with `loom` in their name, built
/// with `--cfg loom`) and reports how many ran; zero is not a failure.
fn loom_models() -> Result<String> {
    let mut cmd = Command::new("cargo");
    cmd.args([
        "test",
        "-p",
        "kernel",
        "-p",
        "arch",
        "--release",
        "--lib",
        "loom",
    ])
    .env("RUSTFLAGS", "--cfg loom")
    // The release profile's fat LTO and single code unit are for the
    // kernel image; the models only need optimised code, built quickly.
    .env("CARGO_PROFILE_RELEASE_LTO", "false")
    .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
    .env("CARGO_TARGET_DIR", target_dir().join("loom"))
    .stderr(Stdio::inherit());
    println!("$ {}", display_command(&cmd));
    let output = cmd.output().context("cannot start cargo")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    print!("{stdout}");
    if !output.status.success() {
        bail!("the loom models failed: {}", output.status);
    }
    Ok(format!("{} loom tests passed", cargo_tests_passed(&stdout)))
}

/// The number of passed tests over all `test result:` lines of
/// `cargo test` output.
fn cargo_tests_passed(stdout: &str) -> u64 {
    stdout
        .lines()
        .filter_map(|line| {
            let counts = line.trim().strip_prefix("test result: ")?;
            let (_, counts) = counts.split_once(". ")?;
            counts.split_once(" passed")?.0.parse::<u64>().ok()
        })
        .sum()
}

/// The test tier a step belongs to.
#[derive(Clone, Copy)]
enum Tier {
    Host,
    Kernel,
    System,
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Self::Host => "host",
            Self::Kernel => "in-kernel",
            Self::System => "system",
        })
    }
}

/// What a boot must show to pass.
#[derive(Clone, Copy)]
enum Expect {
    /// Exit 33 and `ktest result: N passed, 0 failed`.
    Ktests,
    /// Exit 33 and `cpu K online` for every CPU.
    AllCpusOnline,
    /// Exit 39 and a page-fault exception report with CR2.
    PageFault,
    /// Exit 33 and `utest result: N passed, 0 failed` with N > 0.
    UserTests,
    /// As `UserTests`, and the console names the process killed for
    /// running out of memory (`utest=c_oom` at 128 MiB).
    OomKill,
    /// Exit 37, the panic message and a symbolised backtrace through the
    /// function that panicked (`crash=panic`).
    Panic,
    /// Exit 33 and `/bin/scale`'s rounds: every child made (`Exhausted`:
    /// fork failed with `EAGAIN` or `ENOMEM` before the count) and reaped,
    /// and free memory after reaping within 1 MiB of before, besides the
    /// kernel heap's free space (a cache `mem` shows apart).
    Scale { exhausted: bool },
}

/// One QEMU boot of the suite.
struct BootCheck {
    tier: Tier,
    smp: u32,
    mem_mib: u32,
    append: &'static str,
    expect: Expect,
}

/// The boots of tiers 2 and 3; `quick` leaves out the SMP/memory matrix.
fn boots(quick: bool) -> Vec<BootCheck> {
    let boot = |tier, smp, mem_mib, append, expect| BootCheck {
        tier,
        smp,
        mem_mib,
        append,
        expect,
    };
    let mut boots = vec![
        boot(Tier::Kernel, 1, 512, "test", Expect::Ktests),
        boot(Tier::Kernel, 4, 512, "test", Expect::Ktests),
        boot(Tier::System, 4, 512, "test=boot", Expect::AllCpusOnline),
        boot(Tier::System, 1, 512, "crash=pagefault", Expect::PageFault),
        boot(Tier::System, 1, 512, "crash=panic", Expect::Panic),
        // One in-kernel benchmark that forks, exits and reaps: it must end
        // (exit 33) within the boot deadline (it once waited forever).
        boot(
            Tier::System,
            2,
            512,
            "bench=fork1_exit_reap",
            Expect::AllCpusOnline,
        ),
        boot(Tier::System, 2, 128, "utest=c_oom", Expect::OomKill),
        boot(Tier::System, 1, 512, "utest", Expect::UserTests),
        boot(Tier::System, 4, 512, "utest", Expect::UserTests),
        // Processes at scale, short: 3,000 made and reaped, all memory
        // back; then forking until 128 MiB runs out (ENOMEM, all reaped).
        boot(
            Tier::System,
            2,
            512,
            "run=/bin/scale,3000 log=warn",
            Expect::Scale { exhausted: false },
        ),
        boot(
            Tier::System,
            2,
            128,
            "run=/bin/scale,-e,100000 log=warn",
            Expect::Scale { exhausted: true },
        ),
    ];
    if !quick {
        for smp in [1, 2, 8] {
            boots.push(boot(
                Tier::System,
                smp,
                512,
                "test=boot",
                Expect::AllCpusOnline,
            ));
        }
        for mem_mib in [128, 8192] {
            boots.push(boot(
                Tier::System,
                4,
                mem_mib,
                "test=boot",
                Expect::AllCpusOnline,
            ));
        }
    }
    boots
}

impl BootCheck {
    fn name(&self) -> String {
        format!(
            "boot '{}' -smp {} -m {}",
            self.append, self.smp, self.mem_mib
        )
    }

    /// Boots `kernel` (with `initrd`, if it was built) and checks the run;
    /// on failure shows the end of the serial output.
    fn run(&self, kernel: Option<&Path>, initrd: Option<&Path>, verbose: bool) -> Result<String> {
        let kernel = kernel.context("not run: the kernel did not build")?;
        let config = QemuConfig {
            smp: self.smp,
            cpu: None,
            mem_mib: self.mem_mib,
            accel: Accel::Tcg,
            kernel: PathBuf::from(kernel),
            initrd: initrd.map(PathBuf::from),
            append: self.append.to_owned(),
            interactive: false,
        };
        let timeout = match self.expect {
            Expect::Ktests
            | Expect::UserTests
            | Expect::OomKill
            | Expect::Scale { exhausted: false } => KTEST_TIMEOUT,
            Expect::AllCpusOnline
            | Expect::PageFault
            | Expect::Panic
            | Expect::Scale { exhausted: true } => BOOT_TIMEOUT,
        };
        let boot = qemu::boot(&config, timeout, verbose)?;
        println!(
            "QEMU: {} in {:.1} s",
            boot.outcome,
            boot.elapsed.as_secs_f64()
        );
        check(self.expect, self.smp, boot.outcome, &boot.output).or_else(|problems| {
            println!("--- last {TAIL_LINES} lines of output ---");
            println!("{}", boot.tail(TAIL_LINES));
            println!("---");
            bail!(problems.join("; "))
        })
    }
}

/// The verdict on one boot: a note on success, every problem found on
/// failure.
fn check(expect: Expect, smp: u32, outcome: Outcome, output: &str) -> Result<String, Vec<String>> {
    let mut problems = Vec::new();
    let wanted = match expect {
        Expect::Ktests
        | Expect::AllCpusOnline
        | Expect::UserTests
        | Expect::OomKill
        | Expect::Scale { .. } => KernelExit::Success,
        Expect::PageFault => KernelExit::Exception,
        Expect::Panic => KernelExit::Panic,
    };
    if outcome != Outcome::Kernel(wanted) {
        problems.push(format!(
            "expected exit {}, got {outcome}",
            wanted.host_status()
        ));
    }
    let summary = serial::ktest_summary(output);
    if let Some(summary) = summary.filter(|summary| summary.failed > 0) {
        problems.push(format!("{} in-kernel tests failed", summary.failed));
        problems.extend(
            serial::ktest_failures(output)
                .into_iter()
                .map(str::to_owned),
        );
    }
    let note = match expect {
        Expect::Ktests => match summary {
            Some(summary) => format!("{} tests passed", summary.passed),
            None => {
                problems.push("no `ktest result: N passed, M failed` line".to_owned());
                String::new()
            }
        },
        Expect::AllCpusOnline => {
            let online = serial::cpus_online(output);
            let missing: Vec<String> = (0..smp)
                .filter(|cpu| !online.contains(cpu))
                .map(|cpu| cpu.to_string())
                .collect();
            if !missing.is_empty() {
                problems.push(format!("no `cpu K online` for K = {}", missing.join(", ")));
            }
            format!("{smp} CPUs online")
        }
        Expect::PageFault => {
            for (needle, found) in [
                ("KERNEL EXCEPTION", output.contains("KERNEL EXCEPTION")),
                ("page fault", output.to_lowercase().contains("page fault")),
                ("CR2", output.contains("CR2")),
            ] {
                if !found {
                    problems.push(format!("no `{needle}` in the output"));
                }
            }
            "page fault reported".to_owned()
        }
        Expect::Panic => {
            for needle in [
                "KERNEL PANIC",
                "a deliberate kernel panic",
                "symbolised backtrace",
            ] {
                if !output.contains(needle) {
                    problems.push(format!("no `{needle}` in the output"));
                }
            }
            if !output.contains("kernel::init::deliberate_panic+0x") {
                problems.push("the backtrace does not name kernel::init::deliberate_panic".into());
            }
            "panic reported with a symbolised backtrace".to_owned()
        }
        Expect::UserTests | Expect::OomKill => {
            if matches!(expect, Expect::OomKill) && !output.contains("out of memory: killed c_oom[")
            {
                problems.push("no `out of memory: killed c_oom[PID]` line".to_owned());
            }
            if matches!(expect, Expect::OomKill) && !oom_killed_another(output) {
                problems.push(
                    "no out-of-memory kill of a process other than the faulting one".to_owned(),
                );
            }
            problems.extend(utest_failures(output).into_iter().map(str::to_owned));
            match utest_summary(output) {
                Some((passed, 0)) if passed > 0 => format!("{passed} user test programs passed"),
                Some((passed, failed)) => {
                    problems.push(format!("user tests: {passed} passed, {failed} failed"));
                    String::new()
                }
                None => {
                    problems.push("no `utest result: N passed, M failed` line".to_owned());
                    String::new()
                }
            }
        }
        Expect::Scale { exhausted } => {
            let (note, found) = crate::scalebench::check(exhausted, output);
            problems.extend(found);
            note
        }
    };
    if problems.is_empty() {
        Ok(note)
    } else {
        Err(problems)
    }
}

/// The counts of the `utest result: N passed, M failed` line.
fn utest_summary(output: &str) -> Option<(u32, u32)> {
    output.lines().find_map(|line| {
        let counts = line.trim().strip_prefix("utest result: ")?;
        let (passed, failed) = counts.split_once(" passed, ")?;
        let failed = failed.strip_suffix(" failed")?;
        Some((passed.parse().ok()?, failed.parse().ok()?))
    })
}

/// Whether the kernel's out-of-memory killer chose a process other than
/// the one whose fault found no frame (`out of memory: killed A[..] ...
/// in B[..]: SIGKILL` with A != B; `/test/c_oom`'s largest-goes check).
fn oom_killed_another(output: &str) -> bool {
    output.lines().any(|line| {
        let Some(rest) = line.split("out of memory: killed ").nth(1) else {
            return false;
        };
        let victim = rest.split(' ').next().unwrap_or_default();
        let faulting = rest
            .rsplit(" in ")
            .next()
            .and_then(|t| t.split(':').next())
            .unwrap_or_default();
        !victim.is_empty() && !faulting.is_empty() && victim != faulting
    })
}

/// The `utest PATH ... FAILED: why` lines.
fn utest_failures(output: &str) -> Vec<&str> {
    output
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("utest ") && line.contains(" ... FAILED"))
        .collect()
}

/// The steps run so far and their verdicts.
#[derive(Default)]
struct Suite {
    steps: Vec<Step>,
    /// `--only` patterns; empty runs every step.
    only: Vec<String>,
}

struct Step {
    tier: Tier,
    name: String,
    /// A note on success, the reason on failure.
    verdict: Result<String, String>,
    elapsed: Duration,
}

impl Suite {
    /// Runs one step, timing it and recording its verdict; a step that
    /// `--only` leaves out is not run (the builds always are).
    fn run(&mut self, tier: Tier, name: &str, step: impl FnOnce() -> Result<String>) {
        let build = name.starts_with("build ");
        if !build && !self.only.is_empty() && !self.only.iter().any(|p| name.contains(p.as_str())) {
            return;
        }
        println!();
        println!("==> [{tier}] {name}");
        let start = Instant::now();
        let verdict = step().map_err(|error| format!("{error:#}"));
        let elapsed = start.elapsed();
        match &verdict {
            Ok(_) => println!("<== ok ({:.1} s)", elapsed.as_secs_f64()),
            Err(reason) => println!("<== FAILED ({:.1} s): {reason}", elapsed.as_secs_f64()),
        }
        self.steps.push(Step {
            tier,
            name: name.to_owned(),
            verdict,
            elapsed,
        });
    }

    fn failed(&self) -> usize {
        self.steps
            .iter()
            .filter(|step| step.verdict.is_err())
            .count()
    }

    fn print_summary(&self) {
        let name_width = self
            .steps
            .iter()
            .map(|step| step.name.len())
            .max()
            .unwrap_or(0);
        let total: Duration = self.steps.iter().map(|step| step.elapsed).sum();
        println!();
        println!(
            "{:<9}  {:<name_width$}  {:<6}  {:>7}  note",
            "tier", "step", "result", "time"
        );
        for step in &self.steps {
            let (result, note) = match &step.verdict {
                Ok(note) => ("ok", note.as_str()),
                Err(reason) => ("FAILED", reason.as_str()),
            };
            println!(
                "{:<9}  {:<name_width$}  {result:<6}  {:>6.1}s  {note}",
                step.tier,
                step.name,
                step.elapsed.as_secs_f64(),
            );
        }
        println!("total time {:.1} s", total.as_secs_f64());
        let failed = self.failed();
        println!(
            "summary: {} passed, {failed} failed",
            self.steps.len() - failed
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_passed_cargo_tests() {
        let stdout = "\
running 2 tests
test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 5 filtered out; finished in 0.01s

test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
";
        assert_eq!(cargo_tests_passed(stdout), 2);
        assert_eq!(cargo_tests_passed(""), 0);
    }

    #[test]
    fn ktests_pass_on_exit_33_and_no_failures() {
        let output = "[ 0.1 cpu0  INFO] ktest a ... ok\nktest result: 1 passed, 0 failed\n";
        let success = Outcome::Kernel(KernelExit::Success);
        assert_eq!(
            check(Expect::Ktests, 1, success, output),
            Ok("1 tests passed".into())
        );
        let problems = check(Expect::Ktests, 1, Outcome::Status(0), "").unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn ktest_failures_are_listed() {
        let output = "ktest b ... FAILED: boom\nktest result: 0 passed, 1 failed\n";
        let failure = Outcome::Kernel(KernelExit::Failure);
        let problems = check(Expect::Ktests, 1, failure, output).unwrap_err();
        assert_eq!(
            problems,
            [
                "expected exit 33, got exit 35 (failure reported by the kernel)",
                "1 in-kernel tests failed",
                "ktest b ... FAILED: boom",
            ]
        );
    }

    #[test]
    fn boot_checks_every_cpu() {
        let output = "cpu 0 online (apic 0)\ncpu 2 online (apic 2)\n";
        let success = Outcome::Kernel(KernelExit::Success);
        assert_eq!(
            check(Expect::AllCpusOnline, 3, success, output),
            Err(vec!["no `cpu K online` for K = 1".to_owned()])
        );
        assert!(check(Expect::AllCpusOnline, 1, success, output).is_ok());
        assert!(
            check(
                Expect::AllCpusOnline,
                1,
                Outcome::TimedOut(BOOT_TIMEOUT),
                output
            )
            .is_err()
        );
    }

    #[test]
    fn crash_test_wants_exit_39_and_the_report() {
        let report = "KERNEL EXCEPTION: Page Fault (#PF) at rip 0xffff8000\n  CR2=0x0\n";
        let exception = Outcome::Kernel(KernelExit::Exception);
        assert!(check(Expect::PageFault, 1, exception, report).is_ok());
        let problems = check(Expect::PageFault, 1, exception, "KERNEL PANIC").unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
    }

    #[test]
    fn panic_test_wants_exit_37_and_the_function_name() {
        let report = "KERNEL PANIC on cpu0: crash=panic: a deliberate kernel panic\n\
                      backtrace: 0x1\n--- symbolised backtrace ---\n\
                      #1 0xffffffff80001234 kernel::init::deliberate_panic+0x1d\n";
        let panic = Outcome::Kernel(KernelExit::Panic);
        assert!(check(Expect::Panic, 1, panic, report).is_ok());
        let problems =
            check(Expect::Panic, 1, panic, "KERNEL PANIC\nbacktrace: 0x1\n").unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
    }

    #[test]
    fn an_oom_kill_of_another_process_is_recognised() {
        let own = "out of memory: killed c_oom[7] (900 pages resident), fault at 0x1000 in c_oom[7]: SIGKILL";
        let other = "out of memory: killed c_oom[8] (900 pages resident), fault at 0x1000 in c_oom[9]: SIGKILL";
        assert!(!oom_killed_another(own));
        assert!(oom_killed_another(&format!("{own}\n{other}\n")));
        assert!(!oom_killed_another("nothing"));
    }

    #[test]
    fn quick_runs_a_subset_of_the_boots() {
        assert_eq!(boots(true).len(), 11);
        assert_eq!(boots(false).len(), 16);
    }

    #[test]
    fn user_tests_need_a_clean_summary() {
        let success = Outcome::Kernel(KernelExit::Success);
        let good = "utest /test/exec ... ok\nutest result: 1 passed, 0 failed\n";
        assert_eq!(
            check(Expect::UserTests, 1, success, good),
            Ok("1 user test programs passed".into())
        );
        let bad = "utest /test/a ... FAILED: exit status 1\nutest result: 0 passed, 1 failed\n";
        let failure = Outcome::Kernel(KernelExit::Failure);
        assert_eq!(
            check(Expect::UserTests, 1, failure, bad).unwrap_err(),
            [
                "expected exit 33, got exit 35 (failure reported by the kernel)",
                "utest /test/a ... FAILED: exit status 1",
                "user tests: 0 passed, 1 failed",
            ]
        );
        let none = "utest result: 0 passed, 0 failed\n";
        assert!(check(Expect::UserTests, 1, success, none).is_err());
        assert!(check(Expect::UserTests, 1, success, "").is_err());
    }
}
