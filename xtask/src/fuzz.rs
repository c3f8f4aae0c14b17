//! `cargo xtask fuzz` and `cargo xtask stress`: long runs of a guest
//! program that tries to bring the kernel down.
//!
//! Both boot the kernel with `run=/bin/PROGRAM,...` (the program's exit
//! status decides the run) under a timeout of the run's length plus
//! [`GRACE`], and judge the result with [`verdict`]: the run passes iff
//! QEMU exits 33 and the output has the program's `PROGRAM: ok` line.
//! A kernel panic (exit 37), a CPU exception (39), a timeout (a hang) or a
//! failed check is reported with the program's last progress line (which
//! names what was running) and the end of the output.
//!
//! - `fuzz` runs `/bin/fuzz` (`user/fuzz`: random system calls with
//!   hostile arguments in forked children) with `--seed S --seconds T`;
//!   without `--seed` the seed is taken from the clock and printed, so any
//!   run can be repeated.
//! - `stress` runs `/bin/stress` (`user/stress`: every CPU forks, vforks,
//!   spawns, execs, pipes, signals and writes copy-on-write memory at
//!   once, then `sysctl debug.check`) with `--seconds T`.
//!
//! `cargo xtask test` runs a short fuzz and a short stress at `-smp 4`
//! ([`run`] with the test's kernel and initramfs).

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::Args;

use crate::build::{self, Profile};
use crate::deps;
use crate::initramfs;
use crate::qemu::{self, Accel, Boot, KernelExit, Outcome, QemuConfig};
use crate::run::{parse_mem_mib, parse_smp};

/// Time allowed beyond the run's length: boot, the final checks.
const GRACE: Duration = Duration::from_secs(240);
/// Lines of output a failed run shows.
const TAIL_LINES: usize = 60;

#[derive(Args)]
pub struct FuzzArgs {
    /// Minutes to run (fractions allowed).
    #[arg(long, default_value_t = 2.0)]
    minutes: f64,
    /// The fuzzer's seed (default: from the clock, printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Number of CPUs.
    #[arg(long, default_value_t = 4, value_parser = parse_smp)]
    smp: u32,
    /// Memory in MiB.
    #[arg(long = "mem", value_name = "MiB", default_value_t = 512, value_parser = parse_mem_mib)]
    mem_mib: u32,
    /// Boot the release kernel.
    #[arg(long)]
    release: bool,
}

#[derive(Args)]
pub struct StressArgs {
    /// Minutes to run (fractions allowed).
    #[arg(long, default_value_t = 2.0)]
    minutes: f64,
    /// Number of CPUs.
    #[arg(long, default_value_t = 4, value_parser = parse_smp)]
    smp: u32,
    /// Memory in MiB.
    #[arg(long = "mem", value_name = "MiB", default_value_t = 512, value_parser = parse_mem_mib)]
    mem_mib: u32,
    /// Boot the release kernel.
    #[arg(long)]
    release: bool,
}

/// What to run in the guest.
pub enum Job {
    Fuzz { seed: u64 },
    Stress,
}

impl Job {
    fn program(&self) -> &'static str {
        match self {
            Job::Fuzz { .. } => "fuzz",
            Job::Stress => "stress",
        }
    }

    /// The kernel command line for a run of `seconds`.
    pub fn cmdline(&self, seconds: u64) -> String {
        match self {
            Job::Fuzz { seed } => {
                format!("run=/bin/fuzz,--seed,{seed},--seconds,{seconds}")
            }
            Job::Stress => format!("run=/bin/stress,--seconds,{seconds}"),
        }
    }
}

pub fn fuzz_main(args: &FuzzArgs) -> Result<()> {
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs())
    });
    println!("fuzz: seed {seed}");
    standalone(
        Job::Fuzz { seed },
        args.minutes,
        args.smp,
        args.mem_mib,
        args.release,
    )
}

pub fn stress_main(args: &StressArgs) -> Result<()> {
    standalone(
        Job::Stress,
        args.minutes,
        args.smp,
        args.mem_mib,
        args.release,
    )
}

fn standalone(job: Job, minutes: f64, smp: u32, mem_mib: u32, release: bool) -> Result<()> {
    deps::ensure_qemu()?;
    deps::ensure_kernel_target()?;
    let initrd = initramfs::build_initramfs(&[])?;
    let kernel = build::build_kernel(Profile::from_release_flag(release))?;
    let seconds = (minutes * 60.0).max(1.0) as u64;
    let note = run(&job, &kernel, &initrd, seconds, smp, mem_mib, true)?;
    println!("{}: passed: {note}", job.program());
    Ok(())
}

/// Boots `kernel` with `initrd` and runs `job` for `seconds` at `smp`
/// CPUs; the summary line on success, an error with the evidence
/// otherwise.
pub fn run(
    job: &Job,
    kernel: &Path,
    initrd: &Path,
    seconds: u64,
    smp: u32,
    mem_mib: u32,
    echo: bool,
) -> Result<String> {
    let config = QemuConfig {
        smp,
        mem_mib,
        accel: Accel::Tcg,
        cpu: None,
        kernel: kernel.to_owned(),
        initrd: Some(initrd.to_owned()),
        append: job.cmdline(seconds),
        interactive: false,
    };
    let boot = qemu::boot(&config, Duration::from_secs(seconds) + GRACE, echo)?;
    println!(
        "QEMU: {} after {:.1} s",
        boot.outcome,
        boot.elapsed.as_secs_f64()
    );
    verdict(job.program(), &boot.outcome, &boot.output)
        .map_err(|e| anyhow::anyhow!("{e}\n--- last {TAIL_LINES} lines ---\n{}", boot_tail(&boot)))
}

fn boot_tail(boot: &Boot) -> String {
    boot.tail(TAIL_LINES)
}

/// Judges a run of `program` (module docs): `Ok(summary line)` or what
/// went wrong, with its last progress line.
pub fn verdict(program: &str, outcome: &Outcome, output: &str) -> Result<String> {
    let prefix = format!("{program}: ");
    let lines: Vec<&str> = output
        .lines()
        .filter_map(|l| l.find(&prefix).map(|at| &l[at..]))
        .collect();
    let ok = lines.iter().any(|l| *l == format!("{program}: ok"));
    let failed: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.contains("FAILED"))
        .collect();
    let summary = lines
        .iter()
        .rev()
        .find(|l| l.contains(" calls in ") || l.contains(" rounds"))
        .copied();
    let last = lines
        .last()
        .copied()
        .unwrap_or("(no line from the program)");
    let what = match outcome {
        Outcome::Kernel(KernelExit::Success) if ok && failed.is_empty() => {
            return Ok(summary.unwrap_or(last).to_owned());
        }
        Outcome::Kernel(KernelExit::Panic) => "the kernel panicked".to_owned(),
        Outcome::Kernel(KernelExit::Exception) => "the kernel took a CPU exception".to_owned(),
        Outcome::TimedOut(limit) => format!(
            "no result within {} s: the kernel hung (or the run overran)",
            limit.as_secs()
        ),
        Outcome::Kernel(KernelExit::Success) => "the program's checks did not pass".to_owned(),
        other => format!("QEMU {other}"),
    };
    let mut report = format!("{program}: {what} (QEMU {outcome})\nlast progress: {last}");
    for line in failed {
        report.push('\n');
        report.push_str(line);
    }
    bail!(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_passes_only_with_exit_33_and_ok() {
        let out = "boot\nfuzz: 5s 10 calls 3 children\nfuzz: seed 7: 99 calls in 4 children over 5s\nfuzz: ok\n";
        let success = Outcome::Kernel(KernelExit::Success);
        assert_eq!(
            verdict("fuzz", &success, out).unwrap(),
            "fuzz: seed 7: 99 calls in 4 children over 5s"
        );
        let panic = Outcome::Kernel(KernelExit::Panic);
        let e = verdict(
            "fuzz",
            &panic,
            "fuzz: 5s 10 calls running [3]\npanicked at x\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("panicked") && e.contains("running [3]"), "{e}");
        let e = verdict("fuzz", &success, "fuzz: FAILED: 3 KiB\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("FAILED: 3 KiB"), "{e}");
        let hang = Outcome::TimedOut(Duration::from_secs(9));
        assert!(verdict("stress", &hang, "stress: ok\n").is_err());
        assert!(verdict("stress", &success, "").is_err());
    }

    #[test]
    fn command_lines() {
        assert_eq!(
            Job::Fuzz { seed: 5 }.cmdline(60),
            "run=/bin/fuzz,--seed,5,--seconds,60"
        );
        assert_eq!(Job::Stress.cmdline(9), "run=/bin/stress,--seconds,9");
    }
}
