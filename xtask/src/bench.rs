//! `cargo xtask bench`: boot a release kernel with `bench`, tabulate and
//! record the results.
//!
//! The kernel prints `bench NAME iters=N median_ns=X p99_ns=Y` (or
//! `bench NAME FAILED: why`) per benchmark, then `bench done`
//! ([`serial::bench_report`]). Each run is written to
//! `target/bench/<unix-time>.json` and `target/bench/latest.json` with what
//! is needed to compare runs fairly: the QEMU command line, the git
//! revision and the host's load average. The table's `prev` column is the
//! median from the previous `latest.json`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::{Deserialize, Serialize};

use crate::build::{self, Profile};
use crate::initramfs;
use crate::qemu::{self, KernelExit, Outcome, QemuConfig};
use crate::run::MachineArgs;
use crate::serial::{self, BenchResult};
use crate::{deps, display_command, target_dir};

/// Deadline for a benchmark run when `--timeout` is not given.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Args)]
pub struct BenchArgs {
    /// Number of CPUs.
    #[arg(long, default_value_t = 2)]
    smp: u32,
    #[command(flatten)]
    machine: MachineArgs,
    /// Benchmark a debug kernel (the release kernel is the default).
    #[arg(long)]
    debug: bool,
    /// Only these benchmarks (after `--`; all of them if none).
    #[arg(last = true, value_name = "NAMES")]
    names: Vec<String>,
}

/// One run as stored in `target/bench/*.json`.
#[derive(Serialize)]
struct BenchRecord<'a> {
    unix_time: u64,
    git_rev: String,
    qemu_command: String,
    /// `/proc/loadavg`'s 1, 5 and 15 minute averages before the run.
    host_loadavg: Vec<f64>,
    kernel_profile: &'static str,
    results: &'a [BenchResult],
}

/// The part of an earlier record the `prev` column needs.
#[derive(Deserialize)]
struct PreviousRecord {
    results: Vec<BenchResult>,
}

pub fn main(args: &BenchArgs) -> Result<()> {
    deps::ensure_qemu()?;
    deps::ensure_kernel_target()?;
    let profile = if args.debug {
        Profile::Debug
    } else {
        Profile::Release
    };
    let initrd = initramfs::build_initramfs(&[])?;
    let kernel = build::build_kernel(profile)?;
    let config = QemuConfig {
        smp: args.smp,
        mem_mib: args.machine.mem_mib,
        accel: args.machine.accel,
        kernel,
        initrd: Some(initrd),
        append: bench_command_line(&args.names),
        interactive: false,
    };
    let host_loadavg = loadavg();
    let timeout = args
        .machine
        .timeout
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs);
    let boot = qemu::boot(&config, timeout, true)?;
    let report = serial::bench_report(&boot.output);
    if boot.outcome != Outcome::Kernel(KernelExit::Success) || !report.done {
        let mut problems = vec![boot.outcome.to_string()];
        if !report.done {
            problems.push("no `bench done` line".to_owned());
        }
        problems.extend(report.failures.iter().map(|failure| failure.to_string()));
        bail!("the benchmark run failed: {}", problems.join("; "));
    }

    let dir = target_dir().join("bench");
    let latest = dir.join("latest.json");
    println!();
    print!("{}", table(&report.results, &previous_medians(&latest)));

    let unix_time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs();
    let record = BenchRecord {
        unix_time,
        git_rev: git_rev(),
        qemu_command: display_command(&config.command()),
        host_loadavg,
        kernel_profile: profile.dir_name(),
        results: &report.results,
    };
    let json = serde_json::to_string_pretty(&record)? + "\n";
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let stamped = dir.join(format!("{unix_time}.json"));
    for path in [&stamped, &latest] {
        std::fs::write(path, &json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!("results written to {}", stamped.display());
    Ok(())
}

/// `bench` for every benchmark, `bench=a,b` for some.
fn bench_command_line(names: &[String]) -> String {
    if names.is_empty() {
        "bench".to_owned()
    } else {
        format!("bench={}", names.join(","))
    }
}

/// The medians of the run recorded in `latest`, by name (none if there is
/// no readable record).
fn previous_medians(latest: &Path) -> HashMap<String, f64> {
    std::fs::read_to_string(latest)
        .ok()
        .and_then(|json| serde_json::from_str::<PreviousRecord>(&json).ok())
        .map(|record| {
            record
                .results
                .into_iter()
                .map(|result| (result.name, result.median_ns))
                .collect()
        })
        .unwrap_or_default()
}

/// The results as an aligned table, with the previous median and the change
/// from it where known.
fn table(results: &[BenchResult], previous: &HashMap<String, f64>) -> String {
    let header = ["name", "iters", "median ns", "p99 ns", "prev", "change"];
    let mut rows: Vec<[String; 6]> = vec![header.map(str::to_owned)];
    for result in results {
        let prev = previous.get(&result.name).copied();
        rows.push([
            result.name.clone(),
            result.iters.to_string(),
            format!("{:.1}", result.median_ns),
            format!("{:.1}", result.p99_ns),
            prev.map_or("-".to_owned(), |prev| format!("{prev:.1}")),
            prev.filter(|&prev| prev > 0.0)
                .map_or("-".to_owned(), |prev| {
                    format!("{:+.1}%", (result.median_ns - prev) / prev * 100.0)
                }),
        ]);
    }
    let mut widths = [0; 6];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = String::new();
    for row in &rows {
        // The name is left-aligned, the numbers right-aligned.
        let mut line = format!("{:<w$}", row[0], w = widths[0]);
        for (cell, width) in row.iter().zip(widths).skip(1) {
            write!(line, "  {cell:>width$}").expect("writing to a String cannot fail");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `git rev-parse HEAD`, or `unknown` outside a git checkout.
fn git_rev() -> String {
    Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map_or("unknown".to_owned(), |output| {
            String::from_utf8_lossy(&output.stdout).trim().to_owned()
        })
}

/// The host's 1, 5 and 15 minute load averages (empty if unknown).
fn loadavg() -> Vec<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .filter_map(|field| field.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(name: &str, median_ns: f64) -> BenchResult {
        BenchResult {
            name: name.to_owned(),
            iters: 1000,
            median_ns,
            p99_ns: median_ns * 2.0,
        }
    }

    #[test]
    fn command_line_names_the_benchmarks() {
        assert_eq!(bench_command_line(&[]), "bench");
        let names = ["fork".to_owned(), "getpid".to_owned()];
        assert_eq!(bench_command_line(&names), "bench=fork,getpid");
    }

    #[test]
    fn table_aligns_and_compares_with_the_previous_run() {
        let previous = HashMap::from([("fork".to_owned(), 200.0)]);
        let table = table(&[result("fork", 250.0), result("getpid", 85.5)], &previous);
        assert_eq!(
            table,
            "\
name    iters  median ns  p99 ns   prev  change
fork     1000      250.0   500.0  200.0  +25.0%
getpid   1000       85.5   171.0      -       -
"
        );
    }

    #[test]
    fn a_missing_previous_record_means_no_prev_column_values() {
        assert!(previous_medians(Path::new("/nonexistent/latest.json")).is_empty());
    }
}
