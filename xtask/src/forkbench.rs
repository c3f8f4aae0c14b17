//! The user-space benchmark `/bin/forkbench` (`user/c/bench/forkbench.c`):
//! its output contract, the targets Tine is held to, and the side-by-side
//! table.
//!
//! forkbench prints one line per result (see the program's header):
//! `METRIC name value unit`, `SKIP name reason`, `FAIL name reason`,
//! `NOTE name text`, and `forkbench done failures=N` at the end.
//! [`parse`] collects them from a boot's serial output, whichever kernel
//! printed it (log lines and anything else are ignored).

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// One `METRIC` line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub name: String,
    pub value: f64,
    pub unit: String,
}

/// A `SKIP` or `FAIL` line: the workload and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub name: String,
    pub reason: String,
}

/// Everything one forkbench run printed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub metrics: Vec<Metric>,
    pub skipped: Vec<Problem>,
    pub failed: Vec<Problem>,
    pub notes: Vec<String>,
    /// Whether the closing `forkbench done` line came.
    pub done: bool,
}

impl Report {
    /// The metric called `name`.
    pub fn get(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|metric| metric.name == name)
    }

    /// The value of the metric called `name`.
    pub fn value(&self, name: &str) -> Option<f64> {
        self.get(name).map(|metric| metric.value)
    }
}

/// Collects forkbench's lines from `output`.
pub fn parse(output: &str) -> Report {
    let mut report = Report::default();
    for line in output.lines().map(str::trim) {
        let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
        match kind {
            "METRIC" => {
                let words: Vec<&str> = rest.split_whitespace().collect();
                if let [name, value, unit] = words[..]
                    && let Ok(value) = value.parse()
                {
                    report.metrics.push(Metric {
                        name: name.to_owned(),
                        value,
                        unit: unit.to_owned(),
                    });
                }
            }
            "SKIP" | "FAIL" => {
                let (name, reason) = rest.split_once(' ').unwrap_or((rest, ""));
                let problem = Problem {
                    name: name.to_owned(),
                    reason: reason.to_owned(),
                };
                if kind == "SKIP" {
                    report.skipped.push(problem);
                } else {
                    report.failed.push(problem);
                }
            }
            "NOTE" => report.notes.push(rest.to_owned()),
            "forkbench" if rest.starts_with("done") => report.done = true,
            _ => {}
        }
    }
    report
}

/// What Tine is aiming for on a metric (issue 10), compared with Linux in
/// the same QEMU configuration. The latency targets hold for the pinned
/// figures (the plain names); of the unpinned ones (`*_unpinned`) only
/// `vfork_exit_wait_unpinned` has one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Target {
    /// Tine / Linux at most this (a latency).
    RatioAtMost(f64),
    /// The metric itself at least this (fork_scaling).
    AtLeast(f64),
    /// The metric itself at most this (thread_kheap, bytes).
    AtMost(f64),
}

impl Target {
    /// The target of metric `name`, if it has one.
    pub fn of(name: &str) -> Option<Self> {
        match name {
            "getpid" | "first_touch_fault_per_page" => Some(Self::RatioAtMost(0.8)),
            "clock_gettime" => Some(Self::RatioAtMost(0.5)),
            "cow_fault_per_page" => Some(Self::RatioAtMost(0.3)),
            "fork_exit_wait" => Some(Self::RatioAtMost(0.25)),
            "vfork_exit_wait"
            | "vfork_exit_wait_unpinned"
            | "vfork_exec_wait"
            | "posix_spawn_wait" => Some(Self::RatioAtMost(0.15)),
            "fork_after_256mib" => Some(Self::RatioAtMost(0.05)),
            "fork_scaling" => Some(Self::AtLeast(1.9)),
            // Issue 11's thread figures.
            "pthread_create_join" => Some(Self::RatioAtMost(0.5)),
            "futex_pingpong_same_cpu" | "futex_pingpong_cross_cpu" => Some(Self::RatioAtMost(1.0)),
            "thread_kheap" => Some(Self::AtMost(2048.0)),
            _ => None,
        }
    }

    /// Whether Tine's `value` meets it (`None`: a ratio target without a
    /// Linux figure).
    pub fn met(self, value: f64, linux: Option<f64>) -> Option<bool> {
        match self {
            Self::RatioAtMost(ratio) => {
                let linux = linux.filter(|&linux| linux > 0.0)?;
                Some(value / linux <= ratio)
            }
            Self::AtLeast(floor) => Some(value >= floor),
            Self::AtMost(ceiling) => Some(value <= ceiling),
        }
    }

    fn label(self) -> String {
        match self {
            Self::RatioAtMost(ratio) => format!("<= {ratio:.2}x"),
            Self::AtLeast(floor) => format!(">= {floor:.1}"),
            Self::AtMost(ceiling) => format!("<= {ceiling:.0}"),
        }
    }
}

/// The forkbench table: each metric of Tine, and of Linux when compared,
/// the ratio Tine/Linux with its lowest and highest value over the rounds
/// (`spread`, by metric name), the target, the previous run's Tine value
/// and the change. The skipped, failed and noted workloads follow.
pub fn table(
    tine: &Report,
    linux: Option<&Report>,
    spread: &HashMap<String, (f64, f64)>,
    previous: &HashMap<String, f64>,
) -> String {
    let mut names: Vec<(&str, &str)> = tine
        .metrics
        .iter()
        .map(|m| (m.name.as_str(), m.unit.as_str()))
        .collect();
    for metric in linux.iter().flat_map(|report| &report.metrics) {
        if tine.get(&metric.name).is_none() {
            names.push((&metric.name, &metric.unit));
        }
    }
    let mut rows = vec![
        [
            "metric",
            "unit",
            "Tine",
            "Linux",
            "Tine/Linux",
            "rounds",
            "target",
            "",
            "prev Tine",
            "change",
        ]
        .map(str::to_owned),
    ];
    let number = |value: Option<f64>| value.map_or("-".to_owned(), |v| format!("{v:.1}"));
    for (name, unit) in names {
        let value = tine.value(name);
        let twin = linux.and_then(|report| report.value(name));
        let ratio = value.zip(twin.filter(|&t| t > 0.0)).map(|(v, t)| v / t);
        let target = Target::of(name);
        let verdict = target
            .zip(value)
            .and_then(|(target, value)| target.met(value, twin))
            .map_or("", |met| if met { "met" } else { "not met" });
        let prev = previous.get(name).copied();
        let change = value
            .zip(prev.filter(|&p| p > 0.0))
            .map_or("-".to_owned(), |(v, p)| {
                format!("{:+.1}%", (v - p) / p * 100.0)
            });
        rows.push([
            name.to_owned(),
            unit.to_owned(),
            number(value),
            number(twin),
            ratio.map_or("-".to_owned(), |r| format!("{r:.2}x")),
            spread
                .get(name)
                .map_or("-".to_owned(), |(lo, hi)| format!("{lo:.2}..{hi:.2}")),
            target.map_or(String::new(), Target::label),
            verdict.to_owned(),
            number(prev),
            change,
        ]);
    }
    let mut out = align(&rows);
    for (kernel, report) in std::iter::once(("Tine", Some(tine))).chain([("Linux", linux)]) {
        let Some(report) = report else { continue };
        for problem in &report.skipped {
            writeln!(out, "{kernel}: SKIP {} {}", problem.name, problem.reason).unwrap();
        }
        for problem in &report.failed {
            writeln!(out, "{kernel}: FAIL {} {}", problem.name, problem.reason).unwrap();
        }
        for note in &report.notes {
            writeln!(out, "{kernel}: NOTE {note}").unwrap();
        }
        if !report.done {
            writeln!(out, "{kernel}: forkbench did not finish").unwrap();
        }
    }
    out
}

/// The most a fork from a process with 64 more threads may cost, as a
/// multiple of a fork from a single-threaded one (issue 11), through the
/// raw system call (the kernel's work).
pub const THREAD_FORK_RATIO: f64 = 1.2;

/// The fork of a 64-thread process taken apart, one round (one boot) at
/// a time; the figures are the medians over the rounds of each round's
/// own (docs/benchmarks.md, "Threads (issue 11), fifth pass").
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct ThreadFork {
    raw0: f64,
    raw64: f64,
    /// `fork_exit_wait`, `fork_64threads`, `fork_raw_64threads_touch`.
    musl: Option<(f64, f64, f64)>,
    /// `fork_64threads_child_writes`.
    writes: Option<f64>,
}

impl ThreadFork {
    fn of(report: &Report) -> Option<Self> {
        let value = |name| report.value(name);
        Some(Self {
            raw0: value("fork_raw_exit_wait")?,
            raw64: value("fork_raw_64threads")?,
            musl: value("fork_exit_wait")
                .zip(value("fork_64threads"))
                .zip(value("fork_raw_64threads_touch"))
                .map(|((a, b), c)| (a, b, c)),
            writes: value("fork_64threads_child_writes"),
        })
    }
}

fn median_of(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// The fork of a 64-thread process taken apart, from the rounds of one
/// kernel's run (each round one boot): the raw system call's ratio
/// against its target, and musl's `fork_64threads - fork_exit_wait` as
/// the kernel's per-thread work (`fork_raw_64threads -
/// fork_raw_exit_wait`), the child's 64 copy-on-write faults on the other
/// threads' descriptors (`fork_raw_64threads_touch - fork_raw_64threads`,
/// of which `fork_64threads_child_writes` is the writes timed in the
/// child) and the rest of musl's `fork` (what remains). Every figure is
/// the median over the rounds of that round's own figure, so that the
/// parts of one line come from the same boots. `None` without the raw
/// pair in any round.
pub fn thread_fork(rounds: &[Report]) -> Option<String> {
    let rounds: Vec<ThreadFork> = rounds.iter().filter_map(ThreadFork::of).collect();
    if rounds.is_empty() {
        return None;
    }
    let med = |f: &dyn Fn(&ThreadFork) -> Option<f64>| -> Option<f64> {
        let values: Vec<f64> = rounds.iter().filter_map(f).collect();
        (!values.is_empty()).then(|| median_of(values))
    };
    let ratios: Vec<String> = rounds
        .iter()
        .map(|r| format!("{:.2}", r.raw64 / r.raw0))
        .collect();
    let raw0 = med(&|r| Some(r.raw0))?;
    let raw64 = med(&|r| Some(r.raw64))?;
    let ratio = med(&|r| Some(r.raw64 / r.raw0))?;
    let verdict = if ratio <= THREAD_FORK_RATIO {
        "met"
    } else {
        "not met"
    };
    let mut out = format!(
        "thread fork: raw fork with 64 threads {raw64:.1} us, {ratio:.2}x of none \
         ({raw0:.1} us; rounds {}; target <= {THREAD_FORK_RATIO:.2}x: {verdict})\n",
        ratios.join(", ")
    );
    let musl = |f: fn(&ThreadFork, (f64, f64, f64)) -> f64| med(&|r| r.musl.map(|m| f(r, m)));
    let (Some(musl0), Some(musl64), Some(more), Some(musl_ratio)) = (
        musl(|_, (a, _, _)| a),
        musl(|_, (_, b, _)| b),
        musl(|_, (a, b, _)| b - a),
        musl(|_, (a, b, _)| b / a),
    ) else {
        return Some(out);
    };
    let kernel = musl(|r, _| r.raw64 - r.raw0).unwrap_or_default();
    let faults = musl(|r, (_, _, touch)| touch - r.raw64).unwrap_or_default();
    let rest = musl(|r, (a, b, touch)| b - a - (touch - r.raw0)).unwrap_or_default();
    let without = musl(|r, (a, b, touch)| (b - (touch - r.raw64)) / a).unwrap_or_default();
    let writes = med(&|r| r.writes.zip(r.musl).map(|(w, _)| w));
    let torn = med(&|r| {
        r.writes
            .zip(r.musl)
            .map(|(w, (_, _, touch))| touch - r.raw64 - w)
    });
    write!(
        out,
        "  musl fork with 64 threads {musl64:.1} us, {musl_ratio:.2}x of none ({musl0:.1} us); \
         the {more:.1} us more:\n\
         \x20   {kernel:8.1} us the kernel's per-thread work (fork_raw_64threads - fork_raw_exit_wait)\n\
         \x20   {faults:8.1} us the child's 64 copy-on-write faults on the other threads' \
         descriptors (fork_raw_64threads_touch - fork_raw_64threads: {:.2} us each)\n",
        faults / 64.0,
    )
    .unwrap();
    if let (Some(writes), Some(torn)) = (writes, torn) {
        writeln!(
            out,
            "\x20       of which {writes:.1} us the writes themselves, timed in the child \
             ({:.2} us each), and {torn:.1} us the rest: the child's exit frees the copies and the page tables the writes unshared",
            writes / 64.0,
        )
        .unwrap();
    }
    write!(
        out,
        "\x20   {rest:8.1} us the rest of musl's fork (its atfork locks and handlers)\n\
         \x20 without the 64 faults musl's fork would be {without:.2}x of none\n",
    )
    .unwrap();
    Some(out)
}

/// Rows as aligned columns: the first left-aligned, the rest right-aligned.
fn align<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = format!("{:<w$}", row[0], w = widths[0]);
        for (cell, width) in row.iter().zip(widths).skip(1) {
            write!(line, "  {cell:>width$}").expect("writing to a String cannot fail");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "\
[    0.07 cpu0  INFO] 2 of 2 CPUs online
forkbench start cpus=2 scale=1 nop=/bin/nop
METRIC getpid 3623.727 ns
METRIC fork_exit_wait 121.614 us\r
SKIP vfork_exit_wait vfork: ENOSYS (not implemented)
FAIL fork_exec_wait execve /bin/nop failed in the child
METRIC broken
NOTE fork_throughput workers not pinned: sched_setaffinity: ENOSYS
METRIC fork_scaling 0.921 x
forkbench done failures=1
";

    #[test]
    fn parses_every_kind_of_line_and_ignores_the_rest() {
        let report = parse(OUTPUT);
        assert_eq!(report.metrics.len(), 3);
        assert_eq!(report.value("fork_exit_wait"), Some(121.614));
        assert_eq!(report.get("getpid").unwrap().unit, "ns");
        assert_eq!(
            report.skipped,
            [Problem {
                name: "vfork_exit_wait".into(),
                reason: "vfork: ENOSYS (not implemented)".into()
            }]
        );
        assert_eq!(report.failed[0].name, "fork_exec_wait");
        assert_eq!(
            report.notes,
            ["fork_throughput workers not pinned: sched_setaffinity: ENOSYS"]
        );
        assert!(report.done);
        assert!(!parse("METRIC getpid 1 ns\n").done);
    }

    #[test]
    fn targets_compare_ratios_and_floors() {
        let fork = Target::of("fork_exit_wait").unwrap();
        assert_eq!(fork.met(100.0, Some(400.0)), Some(true));
        assert_eq!(fork.met(101.0, Some(400.0)), Some(false));
        assert_eq!(fork.met(41.0, None), None);
        let scaling = Target::of("fork_scaling").unwrap();
        assert_eq!(scaling.met(1.95, None), Some(true));
        assert_eq!(scaling.met(1.5, Some(2.0)), Some(false));
        assert_eq!(Target::of("fork_after_1mib"), None);
        assert_eq!(Target::of("getpid_unpinned"), None);
        assert!(Target::of("vfork_exit_wait_unpinned").is_some());
    }

    #[test]
    fn a_thread_fork_is_taken_apart() {
        let round = |raw0: f64| {
            parse(&format!(
                "METRIC fork_exit_wait 200 us\nMETRIC fork_64threads 480 us\n\
                 METRIC fork_raw_exit_wait {raw0} us\nMETRIC fork_raw_64threads 160 us\n\
                 METRIC fork_raw_64threads_touch 416 us\n\
                 METRIC fork_64threads_child_writes 192 us\n"
            ))
        };
        // Three rounds; the odd one's figures are all taken from the
        // same round, as the median of each.
        let text = thread_fork(&[round(150.0), round(80.0), round(160.0)]).unwrap();
        assert!(
            text.starts_with(
                "thread fork: raw fork with 64 threads 160.0 us, 1.07x of none (150.0 us; \
                 rounds 1.07, 2.00, 1.00; target <= 1.20x: met)\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("480.0 us, 2.40x of none (200.0 us); the 280.0 us more"),
            "{text}"
        );
        let numbers: Vec<&str> = text
            .lines()
            .skip(2)
            .map(|l| l.split_whitespace().next().unwrap())
            .collect();
        assert_eq!(
            numbers,
            ["10.0", "256.0", "of", "14.0", "without"],
            "{text}"
        );
        assert!(
            text.contains("(fork_raw_64threads_touch - fork_raw_64threads: 4.00 us each)"),
            "{text}"
        );
        assert!(
            text.contains("192.0 us the writes themselves, timed in the child (3.00 us each), and 64.0 us the rest"),
            "{text}"
        );
        assert!(
            text.contains("musl's fork would be 1.12x of none"),
            "{text}"
        );
        // The raw pair alone gives the first line; a ratio over the
        // target is not met.
        let raw = parse("METRIC fork_raw_exit_wait 100 us\nMETRIC fork_raw_64threads 125 us\n");
        let text = thread_fork(&[raw]).unwrap();
        assert!(
            text.contains("1.25x of none") && text.ends_with("not met)\n"),
            "{text}"
        );
        assert_eq!(thread_fork(&[parse("METRIC fork_exit_wait 1 us\n")]), None);
    }

    #[test]
    fn table_puts_tine_and_linux_side_by_side() {
        let tine = parse(OUTPUT);
        let linux = parse("METRIC fork_exit_wait 400 us\nMETRIC vfork_exit_wait 85 us\n");
        let previous = HashMap::from([("fork_exit_wait".to_owned(), 100.0)]);
        let spread = HashMap::from([("fork_exit_wait".to_owned(), (0.25, 0.41))]);
        let table = table(&tine, Some(&linux), &spread, &previous);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("metric"), "{table}");
        let fork = lines
            .iter()
            .find(|l| l.starts_with("fork_exit_wait"))
            .unwrap();
        let words: Vec<&str> = fork.split_whitespace().collect();
        assert_eq!(
            words,
            [
                "fork_exit_wait",
                "us",
                "121.6",
                "400.0",
                "0.30x",
                "0.25..0.41",
                "<=",
                "0.25x",
                "not",
                "met",
                "100.0",
                "+21.6%"
            ]
        );
        // A metric only Linux has still gets a row.
        assert!(table.contains("vfork_exit_wait"));
        assert!(table.contains("Tine: SKIP vfork_exit_wait vfork: ENOSYS"));
        assert!(table.contains("Tine: FAIL fork_exec_wait"));
        assert!(table.contains("Linux: forkbench did not finish"));
    }
}
