//! The kernel's serial-output contract, parsed.
//!
//! Log lines carry a prefix, `[    0.012345 cpu0  INFO] message`; the
//! contract is about the message, so every parser here looks past that
//! prefix ([`message`]) and accepts unprefixed lines too. The lines read:
//!
//! - `cpu N online (apic A)`: CPU `N` is up ([`cpus_online`]);
//! - `ktest NAME ... ok` / `ktest NAME ... FAILED: reason`, closed by
//!   `ktest result: N passed, M failed` ([`ktest_summary`],
//!   [`ktest_failures`]);
//! - `bench NAME iters=N median_ns=X p99_ns=Y` or `bench NAME FAILED: why`,
//!   closed by `bench done` ([`bench_report`]).
//!
//! The full contract is in `docs/testing.md`.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// The message of a serial line: what follows a `[time cpuN LEVEL] ` log
/// prefix, or the whole (trimmed) line if it has none.
pub fn message(line: &str) -> &str {
    let line = line.trim();
    line.strip_prefix('[')
        .and_then(|rest| rest.split_once("] "))
        .map_or(line, |(_, message)| message.trim())
}

/// The CPUs that reported `cpu N online`.
pub fn cpus_online(output: &str) -> BTreeSet<u32> {
    output
        .lines()
        .filter_map(|line| {
            let rest = message(line).strip_prefix("cpu ")?;
            let (number, rest) = rest.split_once(' ')?;
            rest.starts_with("online").then(|| number.parse().ok())?
        })
        .collect()
}

/// The closing line of an in-kernel test run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KtestSummary {
    pub passed: u32,
    pub failed: u32,
}

/// The last `ktest result: N passed, M failed` line, if any.
pub fn ktest_summary(output: &str) -> Option<KtestSummary> {
    output.lines().rev().find_map(|line| {
        let counts = message(line).strip_prefix("ktest result:")?;
        let (mut passed, mut failed) = (None, None);
        for part in counts.split(',') {
            let (count, word) = part.trim().split_once(' ')?;
            match word.trim() {
                "passed" => passed = Some(count.parse().ok()?),
                "failed" => failed = Some(count.parse().ok()?),
                _ => {}
            }
        }
        Some(KtestSummary {
            passed: passed?,
            failed: failed?,
        })
    })
}

/// The messages of the `ktest NAME ... FAILED: reason` lines.
pub fn ktest_failures(output: &str) -> Vec<&str> {
    output
        .lines()
        .map(message)
        .filter(|message| message.starts_with("ktest ") && message.contains(" FAILED"))
        .collect()
}

/// One benchmark's result line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchResult {
    pub name: String,
    pub iters: u64,
    pub median_ns: f64,
    pub p99_ns: f64,
}

/// The benchmark lines of a run, and whether it got to `bench done`.
#[derive(Debug, PartialEq)]
pub struct BenchReport<'a> {
    pub results: Vec<BenchResult>,
    /// The `bench NAME FAILED: why` messages.
    pub failures: Vec<&'a str>,
    pub done: bool,
}

/// Collects every `bench NAME iters=N median_ns=X p99_ns=Y` line, every
/// `bench NAME FAILED: why` line and the closing `bench done`.
pub fn bench_report(output: &str) -> BenchReport<'_> {
    let mut report = BenchReport {
        results: Vec::new(),
        failures: Vec::new(),
        done: false,
    };
    for line in output.lines().map(message) {
        if line == "bench done" {
            report.done = true;
        } else if let Some(result) = bench_line(line) {
            report.results.push(result);
        } else if line.starts_with("bench ") && line.contains(" FAILED") {
            report.failures.push(line);
        }
    }
    report
}

/// Parses one `bench NAME iters=N median_ns=X p99_ns=Y` message; the
/// `key=value` fields may come in any order, unknown ones are ignored.
fn bench_line(message: &str) -> Option<BenchResult> {
    let mut words = message.strip_prefix("bench ")?.split_whitespace();
    let name = words.next()?;
    let (mut iters, mut median_ns, mut p99_ns) = (None, None, None);
    for field in words {
        match field.split_once('=')? {
            ("iters", value) => iters = Some(value.parse().ok()?),
            ("median_ns", value) => median_ns = Some(value.parse().ok()?),
            ("p99_ns", value) => p99_ns = Some(value.parse().ok()?),
            _ => {}
        }
    }
    Some(BenchResult {
        name: name.to_owned(),
        iters: iters?,
        median_ns: median_ns?,
        p99_ns: p99_ns?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_strips_the_log_prefix() {
        assert_eq!(message("[    0.012345 cpu0  INFO] hello"), "hello");
        assert_eq!(
            message("[   12.000001 cpu11 WARN] cpu 3 online"),
            "cpu 3 online"
        );
        assert_eq!(message("ktest a ... ok\r"), "ktest a ... ok");
        assert_eq!(message("[not a prefix"), "[not a prefix");
    }

    #[test]
    fn finds_the_cpus_online() {
        let output = "\
[    0.001000 cpu0  INFO] cpu 0 online (apic 0)
[    0.002000 cpu1  INFO] cpu 1 online (apic 2)
cpu 3 online (apic 6)
[    0.003000 cpu0  INFO] cpu 2 starting
[    0.003000 cpu0  INFO] cpu x online
";
        assert_eq!(cpus_online(output), BTreeSet::from([0, 1, 3]));
    }

    #[test]
    fn parses_the_ktest_summary() {
        let output = "\
[    0.1 cpu0  INFO] ktest pid::alloc ... ok
[    0.2 cpu0  INFO] ktest vm::cow ... FAILED: refcount was 2
[    0.3 cpu0  INFO] ktest result: 7 passed, 1 failed
";
        assert_eq!(
            ktest_summary(output),
            Some(KtestSummary {
                passed: 7,
                failed: 1
            })
        );
        assert_eq!(
            ktest_failures(output),
            ["ktest vm::cow ... FAILED: refcount was 2"]
        );
        assert_eq!(
            ktest_summary("ktest result: 0 passed, 0 failed, 2 ignored"),
            Some(KtestSummary {
                passed: 0,
                failed: 0
            })
        );
    }

    #[test]
    fn a_missing_or_malformed_ktest_summary_is_none() {
        assert_eq!(ktest_summary("ktest a ... ok\n"), None);
        assert_eq!(ktest_summary("ktest result: 3 passed"), None);
        assert_eq!(ktest_summary("ktest result: many passed, 0 failed"), None);
    }

    #[test]
    fn parses_bench_lines_and_done() {
        let output = "\
[    1.0 cpu0  INFO] bench fork iters=1000 median_ns=12345 p99_ns=20000.5
bench getpid iters=100000 median_ns=85.25 p99_ns=120
bench broken iters=ten median_ns=1 p99_ns=2
bench partial iters=10
[    1.5 cpu1  INFO] bench spawn FAILED: out of memory
[    2.0 cpu0  INFO] bench done
";
        let report = bench_report(output);
        assert!(report.done);
        assert_eq!(report.failures, ["bench spawn FAILED: out of memory"]);
        assert_eq!(
            report.results,
            [
                BenchResult {
                    name: "fork".to_owned(),
                    iters: 1000,
                    median_ns: 12345.0,
                    p99_ns: 20000.5
                },
                BenchResult {
                    name: "getpid".to_owned(),
                    iters: 100_000,
                    median_ns: 85.25,
                    p99_ns: 120.0
                },
            ]
        );
        assert!(!bench_report("bench fork iters=1 median_ns=1 p99_ns=1").done);
    }
}
