//! `cargo xtask bench`: the in-kernel microbenchmarks and the user-space
//! fork benchmark on Tine, optionally side by side with Linux booted in the
//! same QEMU configuration; a table, a JSON record and an SVG chart.
//!
//! Boots one after the other (never two QEMUs at once):
//! 1. the release kernel with `bench` (or `bench=A,B` for the names given
//!    after `--`): one line per in-kernel case, `bench NAME iters=N
//!    median_ns=X p99_ns=Y`, then `bench done` ([`serial::bench_report`])
//!    (not with `--skip-kernel`);
//! 2. the same kernel with `run=/bin/forkbench,-c,SMP,-s,SCALE[,NAME...],-t,MHZ`:
//!    the user-space benchmark ([`forkbench`]), whose `METRIC` lines it
//!    prints, or the `--program` given (not with `--skip-user`); MHZ is
//!    the TSC frequency boot 1 logged (with `--skip-kernel`, a short
//!    extra boot with `bench=-` reads it);
//! 3. with `--compare-linux`, Debian's cloud kernel ([`linux`]) with an
//!    initramfs whose `/init` runs the same binary, and the same
//!    `-M`, `-cpu`, `-accel`, `-smp` and `-m`.
//!
//! Boots 2 and 3 alternate `--rounds` times (each figure the median over
//! the rounds); `--procs` first runs the processes-at-scale benchmark
//! ([`crate::scalebench`]) in boots of its own.
//!
//! Each run is written to `target/bench/<unix-time>.json` and
//! `target/bench/latest.json` with what is needed to compare runs fairly:
//! every QEMU command line, the git revision, the host's load average
//! before and after, and every figure; the chart goes to `<unix-time>.svg`
//! and `latest.svg` ([`svg`]). The tables' `prev` columns come from the
//! previous `latest.json`. Nothing here asserts a timing: a run fails only
//! when a boot does not get to the end of its benchmark. The method and
//! the latest figures are in `docs/benchmarks.md`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::{Deserialize, Serialize};

use crate::build::{self, Profile};
use crate::forkbench::{self, Report};
use crate::linux;
use crate::musl;
use crate::qemu::{self, KernelExit, Outcome, QemuConfig};
use crate::run::MachineArgs;
use crate::serial::{self, BenchResult};
use crate::svg::{self, Group, Scale, Series};
use crate::{deps, display_command, initramfs, target_dir};

/// Deadline for each boot when `--timeout` is not given.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// The user-space benchmark in the initramfs, and the program it execs.
const FORKBENCH: &str = "/bin/forkbench";
/// The fork latencies against memory touched: (metric, MiB).
const FORK_AFTER: [(&str, f64); 5] = [
    ("fork_exit_wait", 0.0),
    ("fork_after_1mib", 1.0),
    ("fork_after_16mib", 16.0),
    ("fork_after_64mib", 64.0),
    ("fork_after_256mib", 256.0),
];
/// The latency metrics drawn as bars.
const LATENCIES: [&str; 8] = [
    "getpid",
    "fork_exit_wait",
    "vfork_exit_wait",
    "vfork_exec_wait",
    "fork_exec_wait",
    "posix_spawn_wait",
    "cow_fault_per_page",
    "first_touch_fault_per_page",
];

#[derive(Args)]
pub struct BenchArgs {
    /// Number of CPUs (1 to 64).
    #[arg(long, default_value_t = 2, value_parser = crate::run::parse_smp)]
    smp: u32,
    #[command(flatten)]
    machine: MachineArgs,
    /// Benchmark a debug kernel (the release kernel is the default).
    #[arg(long)]
    debug: bool,
    /// Also run the user-space benchmark on Linux (Debian's cloud kernel,
    /// fetched into target/linux/) in the same QEMU configuration.
    #[arg(long)]
    compare_linux: bool,
    /// Skip the in-kernel microbenchmarks (only the user-space benchmark).
    #[arg(long)]
    skip_kernel: bool,
    /// Skip the user-space benchmark (only the in-kernel microbenchmarks).
    #[arg(long, conflicts_with = "compare_linux")]
    skip_user: bool,
    /// Boots of the user-space benchmark per kernel, Tine and Linux
    /// alternating; each figure is the median over them.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// Multiply forkbench's iteration counts (0.2 for a quick look).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Extra words for Linux's command line (after `console=ttyS0 quiet
    /// panic=-1`), e.g. `idle=poll` (see docs/benchmarks.md).
    #[arg(long, value_name = "WORDS", requires = "compare_linux")]
    linux_append: Option<String>,
    /// Run this static Linux x86-64 program (a host file) instead of
    /// forkbench, on Tine and on Linux alike, at /bench/NAME; its METRIC
    /// lines are tabulated like forkbench's.
    #[arg(long, value_name = "HOST_FILE")]
    program: Option<PathBuf>,
    /// An argument for --program (repeatable; no commas or spaces, which
    /// the kernel command line cannot carry).
    #[arg(
        long,
        value_name = "ARG",
        requires = "program",
        allow_hyphen_values = true
    )]
    program_arg: Vec<String>,
    /// The processes-at-scale benchmark (`scalebench`).
    #[command(flatten)]
    procs: crate::scalebench::ProcsArgs,
    /// Only forkbench's workloads whose name starts with NAME
    /// (repeatable, e.g. `--only pthread --only futex`; all if none).
    #[arg(long, value_name = "NAME", conflicts_with = "program")]
    only: Vec<String>,
    /// Only these in-kernel benchmarks (after `--`; all of them if none).
    #[arg(last = true, value_name = "NAMES")]
    names: Vec<String>,
}

/// One run as stored in `target/bench/*.json`.
#[derive(Serialize)]
struct BenchRecord<'a> {
    unix_time: u64,
    git_rev: String,
    /// The in-kernel run's QEMU command line.
    qemu_command: String,
    /// `/proc/loadavg`'s 1, 5 and 15 minute averages before the first boot
    /// and after the last.
    host_loadavg: Vec<f64>,
    host_loadavg_after: Vec<f64>,
    /// Host CPUs (`nproc`): with fewer than the guest's plus the rest of the
    /// host's work, TCG's vCPU threads compete.
    host_cpus: usize,
    kernel_profile: &'static str,
    /// The machine every boot had.
    machine: Machine,
    /// The in-kernel microbenchmarks.
    results: &'a [BenchResult],
    tine_forkbench: Option<&'a UserRun>,
    linux_forkbench: Option<&'a UserRun>,
}

/// One boot of forkbench, on Tine or on Linux.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct UserRun {
    /// `Tine` or `Linux <package>`.
    kernel: String,
    qemu_command: String,
    /// How QEMU ended.
    outcome: String,
    elapsed_s: f64,
    host_loadavg_before: Vec<f64>,
    /// The figures: with several rounds, each metric's median over them.
    report: Report,
    /// Each round's own report (empty for a single round).
    #[serde(default)]
    rounds: Vec<Report>,
}

/// The QEMU machine of a run: runs compare only with runs of the same.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Machine {
    smp: u32,
    /// QEMU's `-cpu` model (records from before it was chosen: `max`).
    #[serde(default = "old_cpu")]
    cpu: String,
    mem_mib: u32,
    accel: qemu::Accel,
}

/// The CPU model of records made before `--cpu` existed.
fn old_cpu() -> String {
    "max".to_owned()
}

/// The parts of an earlier record the `prev` columns need.
#[derive(Deserialize, Default)]
struct PreviousRecord {
    #[serde(default)]
    machine: Option<Machine>,
    #[serde(default)]
    results: Vec<BenchResult>,
    #[serde(default)]
    tine_forkbench: Option<UserRun>,
}

impl PreviousRecord {
    /// The record in `latest` if it was made on `machine` (empty if there
    /// is none, it is unreadable or another machine's).
    fn load(latest: &Path, machine: &Machine) -> Self {
        std::fs::read_to_string(latest)
            .ok()
            .and_then(|json| serde_json::from_str::<Self>(&json).ok())
            .filter(|record| record.machine.as_ref() == Some(machine))
            .unwrap_or_default()
    }

    fn medians(&self) -> HashMap<String, f64> {
        self.results
            .iter()
            .map(|result| (result.name.clone(), result.median_ns))
            .collect()
    }

    fn tine_metrics(&self) -> HashMap<String, f64> {
        self.tine_forkbench
            .iter()
            .flat_map(|run| &run.report.metrics)
            .map(|metric| (metric.name.clone(), metric.value))
            .collect()
    }
}

pub fn main(args: &BenchArgs) -> Result<()> {
    deps::ensure_qemu()?;
    deps::ensure_kernel_target()?;
    if args.scale.is_nan() || args.scale <= 0.0 {
        bail!("--scale must be positive");
    }
    let profile = if args.debug {
        Profile::Debug
    } else {
        Profile::Release
    };
    let workload = Workload::new(args)?;
    let initrd = initramfs::build_initramfs(&workload.extra_files())?;
    let kernel = build::build_kernel(profile)?;
    let linux = if args.compare_linux {
        Some(linux::fetch()?)
    } else {
        None
    };
    let timeout = args
        .machine
        .timeout
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs);
    let cpu = args
        .machine
        .cpu
        .clone()
        .unwrap_or_else(|| qemu::default_cpu(args.machine.accel).to_owned());
    let machine = |kernel: &Path, initrd: &Path, append: String| QemuConfig {
        smp: args.smp,
        cpu: Some(cpu.clone()),
        mem_mib: args.machine.mem_mib,
        accel: args.machine.accel,
        kernel: kernel.to_path_buf(),
        initrd: Some(initrd.to_path_buf()),
        append,
        interactive: false,
    };
    // The processes-at-scale benchmark: its own boots, table and record
    // (`scalebench`).
    if args.procs.procs {
        crate::scalebench::run(
            &args.procs,
            args.smp,
            args.machine.accel,
            &cpu,
            (&kernel, &initrd),
            linux.as_ref(),
            timeout,
        )?;
        if args.procs.procs_only {
            return Ok(());
        }
    }
    let dir = target_dir().join("bench");
    let this_machine = Machine {
        smp: args.smp,
        cpu: cpu.clone(),
        mem_mib: args.machine.mem_mib,
        accel: args.machine.accel,
    };
    let previous = PreviousRecord::load(&dir.join("latest.json"), &this_machine);
    let host_loadavg = loadavg();
    let mut problems = Vec::new();

    // 1. In-kernel microbenchmarks.
    let kernel_config = machine(&kernel, &initrd, bench_command_line(&args.names));
    let mut results = Vec::new();
    let mut tsc_mhz = None;
    if !args.skip_kernel {
        let boot = qemu::boot(&kernel_config, timeout, true)?;
        tsc_mhz = tsc_mhz_in(&boot.output);
        let report = serial::bench_report(&boot.output);
        if boot.outcome != Outcome::Kernel(KernelExit::Success) || !report.done {
            problems.push(format!("in-kernel benchmarks: {}", boot.outcome));
            if !report.done {
                problems.push("in-kernel benchmarks: no `bench done` line".to_owned());
            }
            problems.extend(report.failures.iter().map(|f| format!("in-kernel: {f}")));
        }
        results = report.results;
    }

    // 2. and 3. forkbench (or --program) on Tine and on Linux, alternating
    // for --rounds rounds so that a change in the host's load hits both.
    let mut tine_rounds = Vec::new();
    let mut linux_rounds = Vec::new();
    let mut tine_config = None;
    if !args.skip_user {
        if tsc_mhz.is_none() && workload.program.is_none() {
            // forkbench's fallback clock needs the TSC frequency (below):
            // a boot that runs no benchmark logs it.
            let config = machine(&kernel, &initrd, "bench=-".to_owned());
            tsc_mhz = tsc_mhz_in(&qemu::boot(&config, timeout, false)?.output);
        }
        let append = format!("run={}", workload.tine_command(tsc_mhz).join(","));
        tine_config = Some(machine(&kernel, &initrd, append));
    }
    let mut linux_config = None;
    if let Some(linux) = &linux {
        let linux_initrd =
            linux::build_initramfs(linux, &workload.linux_files()?, &workload.command)?;
        let mut append = linux::LINUX_CMDLINE.to_owned();
        if let Some(words) = &args.linux_append {
            append = format!("{append} {words}");
        }
        let kernel = format!("Linux {}", linux.kernel_package);
        linux_config = Some((kernel, machine(&linux.kernel, &linux_initrd, append)));
    }
    let (tine_expected, linux_expected) =
        (Outcome::Kernel(KernelExit::Success), Outcome::Status(0));
    for round in 1..=args.rounds {
        if let Some(config) = &tine_config {
            println!("==> forkbench on Tine, round {round} of {}", args.rounds);
            let run = run_forkbench("Tine".to_owned(), config, timeout)?;
            tine_rounds.push(workload.finish(run, tine_expected));
        }
        if let Some((kernel, config)) = &linux_config {
            println!("==> forkbench on Linux, round {round} of {}", args.rounds);
            let run = run_forkbench(kernel.clone(), config, timeout)?;
            linux_rounds.push(workload.finish(run, linux_expected));
        }
    }
    let tine_run = merge_rounds(tine_rounds);
    let linux_run = merge_rounds(linux_rounds);
    for (run, expected) in [(&tine_run, tine_expected), (&linux_run, linux_expected)] {
        if let Some(run) = run {
            problems.extend(run_problems(run, expected));
        }
    }
    let host_loadavg_after = loadavg();

    // The report.
    println!();
    if !results.is_empty() {
        println!(
            "In-kernel microbenchmarks (release kernel, -smp {}):",
            args.smp
        );
        print!("{}", table(&results, &previous.medians()));
        println!();
    }
    if let Some(tine) = &tine_run {
        println!(
            "forkbench (user space, -smp {}, -cpu {cpu}, {:?}, median of {} round(s); \
             Tine/Linux < 1 means Tine is faster, except for forks/s and x where higher \
             is better; `rounds`: the lowest and highest Tine/Linux of the rounds):",
            args.smp, args.machine.accel, args.rounds
        );
        let linux_report = linux_run.as_ref().map(|run| &run.report);
        let spread = linux_run
            .as_ref()
            .map(|linux| ratio_spread(tine, linux))
            .unwrap_or_default();
        print!(
            "{}",
            forkbench::table(
                &tine.report,
                linux_report,
                &spread,
                &previous.tine_metrics()
            )
        );
        for (kernel, run) in [("Tine", Some(tine)), ("Linux", linux_run.as_ref())] {
            if let Some(text) = run.and_then(|run| forkbench::thread_fork(&run_rounds(run))) {
                print!("{kernel}: {text}");
            }
        }
    }
    println!(
        "host load average: {} before, {} after ({} host CPUs)",
        show_load(&host_loadavg),
        show_load(&host_loadavg_after),
        host_cpus()
    );

    let unix_time = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs();
    let record = BenchRecord {
        unix_time,
        git_rev: git_rev(),
        qemu_command: display_command(&kernel_config.command()),
        host_loadavg,
        host_loadavg_after,
        host_cpus: host_cpus(),
        kernel_profile: profile.dir_name(),
        machine: this_machine,
        results: &results,
        tine_forkbench: tine_run.as_ref(),
        linux_forkbench: linux_run.as_ref(),
    };
    let json = serde_json::to_string_pretty(&record)? + "\n";
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let stamped = dir.join(format!("{unix_time}.json"));
    for path in [&stamped, &dir.join("latest.json")] {
        std::fs::write(path, &json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    println!("results written to {}", stamped.display());
    if tine_run.is_some() || !results.is_empty() {
        let caption = format!(
            "Tine {} ({}), QEMU {:?} -cpu {cpu} -smp {} -m {}, host load {} (unix time {unix_time})",
            &record.git_rev[..record.git_rev.len().min(12)],
            profile.dir_name(),
            args.machine.accel,
            args.smp,
            args.machine.mem_mib,
            show_load(&record.host_loadavg),
        );
        let chart = chart(
            &caption,
            tine_run.as_ref(),
            linux_run.as_ref(),
            &previous.tine_metrics(),
            &results,
        );
        let svg_path = dir.join(format!("{unix_time}.svg"));
        for path in [&svg_path, &dir.join("latest.svg")] {
            std::fs::write(path, &chart)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        println!("chart written to {}", svg_path.display());
        if let Some(tine) = &tine_run {
            let path = dir.join("latest-fork-memory.svg");
            let chart = fork_memory_document(&caption, tine, linux_run.as_ref());
            std::fs::write(&path, chart)
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!("fork-memory chart written to {}", path.display());
        }
    }
    if !problems.is_empty() {
        bail!("the benchmark run had problems: {}", problems.join("; "));
    }
    Ok(())
}

/// forkbench's arguments: the CPU count (so that both kernels run as many
/// throughput workers as the machine has CPUs, whatever musl's `sysconf`
/// counts) and the scale.
fn forkbench_args(smp: u32, scale: f64) -> Vec<String> {
    vec![
        "-c".to_owned(),
        smp.to_string(),
        "-s".to_owned(),
        scale.to_string(),
    ]
}

/// What the user-space boots run: forkbench, or the `--program` given.
struct Workload {
    /// The guest path and the arguments.
    command: Vec<String>,
    /// `--program`'s host file, packed at `command[0]`.
    program: Option<PathBuf>,
}

impl Workload {
    fn new(args: &BenchArgs) -> Result<Self> {
        let Some(program) = &args.program else {
            let mut command = vec![FORKBENCH.to_owned()];
            command.extend(forkbench_args(args.smp, args.scale));
            if let Some(bad) = args.only.iter().find(|a| a.contains([',', ' '])) {
                bail!("--only {bad:?}: commas and spaces cannot be passed");
            }
            command.extend(args.only.iter().cloned());
            return Ok(Self {
                command,
                program: None,
            });
        };
        let name = program
            .file_name()
            .and_then(|name| name.to_str())
            .with_context(|| format!("--program {}: no file name", program.display()))?;
        if let Some(bad) = args.program_arg.iter().find(|a| a.contains([',', ' '])) {
            bail!("--program-arg {bad:?}: commas and spaces cannot be passed");
        }
        let mut command = vec![format!("/bench/{name}")];
        command.extend(args.program_arg.iter().cloned());
        Ok(Self {
            command,
            program: Some(program.clone()),
        })
    }

    /// The command Tine runs: forkbench also gets `-t MHZ`, the clock it
    /// falls back on when the raw `clock_gettime` call is `ENOSYS` (it is
    /// ignored when `clock_gettime` works, as it does on Tine and on
    /// Linux).
    fn tine_command(&self, tsc_mhz: Option<u64>) -> Vec<String> {
        let mut command = self.command.clone();
        if let (None, Some(mhz)) = (&self.program, tsc_mhz) {
            command.extend(["-t".to_owned(), mhz.to_string()]);
        }
        command
    }

    /// A `--program` need not print forkbench's `forkbench done`: it
    /// finished when QEMU ended as `expected` (the program exited 0).
    fn finish(&self, mut run: UserRun, expected: Outcome) -> UserRun {
        if self.program.is_some() && run.outcome == expected.to_string() {
            run.report.done = true;
        }
        run
    }

    /// What Tine's initramfs needs besides its usual programs.
    fn extra_files(&self) -> Vec<initramfs::AddFile> {
        self.program
            .iter()
            .map(|host| initramfs::AddFile {
                host: host.clone(),
                guest: self.command[0].clone(),
            })
            .collect()
    }

    /// Linux's initramfs (besides busybox): the C programs at their Tine
    /// paths (forkbench, /bin/nop, ...), and `--program`.
    fn linux_files(&self) -> Result<Vec<(String, PathBuf)>> {
        let mut files: Vec<(String, PathBuf)> = musl::find_c_programs()?
            .into_iter()
            .map(|p| (p.guest_path(), p.binary))
            .collect();
        if self.program.is_none() && !files.iter().any(|(guest, _)| guest == FORKBENCH) {
            bail!("user/c/bench/forkbench.c is missing");
        }
        files.extend(self.extra_files().into_iter().map(|f| (f.guest, f.host)));
        Ok(files)
    }
}

/// Boots `config` (which runs forkbench) and collects its report.
fn run_forkbench(kernel: String, config: &QemuConfig, timeout: Duration) -> Result<UserRun> {
    let host_loadavg_before = loadavg();
    let boot = qemu::boot(config, timeout, true)?;
    Ok(UserRun {
        kernel,
        qemu_command: display_command(&config.command()),
        outcome: boot.outcome.to_string(),
        elapsed_s: boot.elapsed.as_secs_f64(),
        host_loadavg_before,
        report: forkbench::parse(&boot.output),
        rounds: Vec::new(),
    })
}

/// One run from several rounds of the same boot: each metric is the median
/// of its values over the rounds that have it (the mean of the middle two
/// for an even count); skips, failures and notes are those of every round
/// (without repeats); it finished if every round did; the outcome is the
/// first round's unless another's differs; times add up. `None` for no
/// rounds.
fn merge_rounds(mut rounds: Vec<UserRun>) -> Option<UserRun> {
    if rounds.len() <= 1 {
        return rounds.pop();
    }
    let reports: Vec<Report> = rounds.iter().map(|run| run.report.clone()).collect();
    let mut merged = rounds[0].clone();
    merged.elapsed_s = rounds.iter().map(|run| run.elapsed_s).sum();
    if let Some(odd) = rounds.iter().find(|run| run.outcome != rounds[0].outcome) {
        merged.outcome = odd.outcome.clone();
    }
    let mut report = Report {
        done: reports.iter().all(|r| r.done),
        ..Report::default()
    };
    for r in &reports {
        for metric in &r.metrics {
            if report.get(&metric.name).is_none() {
                let mut values: Vec<f64> = reports
                    .iter()
                    .filter_map(|r| r.value(&metric.name))
                    .collect();
                values.sort_by(f64::total_cmp);
                let n = values.len();
                let median = if n % 2 == 1 {
                    values[n / 2]
                } else {
                    (values[n / 2 - 1] + values[n / 2]) / 2.0
                };
                report.metrics.push(forkbench::Metric {
                    value: median,
                    ..metric.clone()
                });
            }
        }
        for problem in &r.skipped {
            if !report.skipped.contains(problem) {
                report.skipped.push(problem.clone());
            }
        }
        for problem in &r.failed {
            if !report.failed.contains(problem) {
                report.failed.push(problem.clone());
            }
        }
        for note in &r.notes {
            if !report.notes.contains(note) {
                report.notes.push(note.clone());
            }
        }
    }
    merged.report = report;
    merged.rounds = reports;
    Some(merged)
}

/// A run's report of each round (its one report if it had one round).
fn run_rounds(run: &UserRun) -> Vec<Report> {
    if run.rounds.is_empty() {
        vec![run.report.clone()]
    } else {
        run.rounds.clone()
    }
}

/// Each metric's lowest and highest Tine/Linux over the rounds, round `i`
/// of Tine against round `i` of Linux (they ran one after the other).
fn ratio_spread(tine: &UserRun, linux: &UserRun) -> HashMap<String, (f64, f64)> {
    let rounds = run_rounds;
    let mut spread: HashMap<String, (f64, f64)> = HashMap::new();
    for (t, l) in rounds(tine).iter().zip(&rounds(linux)) {
        for metric in &t.metrics {
            let Some(twin) = l.value(&metric.name).filter(|&v| v > 0.0) else {
                continue;
            };
            let ratio = metric.value / twin;
            let entry = spread.entry(metric.name.clone()).or_insert((ratio, ratio));
            entry.0 = entry.0.min(ratio);
            entry.1 = entry.1.max(ratio);
        }
    }
    spread
}

/// What went wrong with a forkbench boot: it did not finish, or QEMU did
/// not end as `expected`. FAIL lines are in the table, not problems: the
/// figures that did come are still worth recording.
fn run_problems(run: &UserRun, expected: Outcome) -> Vec<String> {
    let mut problems = Vec::new();
    if !run.report.done {
        problems.push(format!(
            "{}: forkbench did not finish ({})",
            run.kernel, run.outcome
        ));
    } else if run.outcome != expected.to_string() && run.report.failed.is_empty() {
        problems.push(format!("{}: {}", run.kernel, run.outcome));
    }
    problems
}

/// The SVG: fork latency against memory touched (lines), the latencies
/// (bars, log axis), fork throughput (bars), and the in-kernel medians.
fn chart(
    caption: &str,
    tine: Option<&UserRun>,
    linux: Option<&UserRun>,
    previous: &HashMap<String, f64>,
    kernel_results: &[BenchResult],
) -> String {
    let empty = Report::default();
    let tine = tine.map_or(&empty, |run| &run.report);
    let linux = linux.map(|run| &run.report);
    let mut series = vec![Series {
        label: "Tine".to_owned(),
        color: "#c0392b",
    }];
    let metrics = |report: &Report| -> HashMap<String, f64> {
        report
            .metrics
            .iter()
            .map(|metric| (metric.name.clone(), metric.value))
            .collect()
    };
    // One map of figures per series, in the order of `series`.
    let mut figures = vec![metrics(tine)];
    if let Some(linux) = linux {
        series.push(Series {
            label: "Linux".to_owned(),
            color: "#2c3e50",
        });
        figures.push(metrics(linux));
    }
    let charted = |name: &str| {
        LATENCIES.contains(&name) || FORK_AFTER.iter().any(|&(after, _)| after == name)
    };
    if previous.keys().any(|name| charted(name)) {
        series.push(Series {
            label: "Tine, previous run".to_owned(),
            color: "#bbbbbb",
        });
        figures.push(previous.clone());
    }
    let mut charts = Vec::new();

    charts.push(fork_memory_chart(&series, &figures));

    let in_us = |name: &str, value: f64| {
        let unit = tine.get(name).or(linux.and_then(|l| l.get(name)));
        match unit.map(|metric| metric.unit.as_str()) {
            Some("ns") => value / 1000.0,
            _ => value,
        }
    };
    let groups: Vec<Group> = LATENCIES
        .iter()
        .map(|&name| Group {
            label: ratio_label(name, tine.value(name), linux.and_then(|l| l.value(name))),
            values: figures
                .iter()
                .map(|figures| figures.get(name).map(|&v| in_us(name, v)))
                .collect(),
        })
        .collect();
    charts.push(svg::bar_chart(
        "Latency (lower is better; log scale)",
        "µs",
        Scale::Log,
        &series,
        &groups,
    ));

    let mut throughput: Vec<&str> = tine
        .metrics
        .iter()
        .chain(linux.iter().flat_map(|l| &l.metrics))
        .filter(|m| m.unit == "forks/s")
        .map(|m| m.name.as_str())
        .collect();
    throughput.sort();
    throughput.dedup();
    let groups: Vec<Group> = throughput
        .iter()
        .map(|&name| Group {
            label: name.to_owned(),
            values: figures
                .iter()
                .map(|figures| figures.get(name).copied())
                .collect(),
        })
        .collect();
    if !groups.is_empty() {
        let scaling = |report: Option<&Report>| {
            report
                .and_then(|r| r.value("fork_scaling"))
                .map_or("-".to_owned(), |x| format!("{x:.2}x"))
        };
        charts.push(svg::bar_chart(
            &format!(
                "Fork throughput (higher is better); scaling Tine {}, Linux {}",
                scaling(Some(tine)),
                scaling(linux)
            ),
            "forks/s",
            Scale::Linear,
            &series,
            &groups,
        ));
    }

    if !kernel_results.is_empty() {
        let groups: Vec<Group> = kernel_results
            .iter()
            .map(|result| Group {
                label: result.name.clone(),
                values: vec![Some(result.median_ns)],
            })
            .collect();
        charts.push(svg::bar_chart(
            "In-kernel microbenchmarks, Tine (median per iteration; log scale)",
            "ns",
            Scale::Log,
            &series[..1],
            &groups,
        ));
    }
    svg::document(caption, &charts)
}

/// Fork latency (pinned) against the memory the parent wrote, a line per
/// series (`figures` in the order of `series`, metric name to value).
fn fork_memory_chart(series: &[Series], figures: &[HashMap<String, f64>]) -> svg::Chart {
    let points: Vec<Vec<(f64, f64)>> = figures
        .iter()
        .map(|figures| {
            FORK_AFTER
                .iter()
                .filter_map(|&(name, mib)| Some((mib, figures.get(name)? / 1000.0)))
                .collect()
        })
        .collect();
    svg::line_chart(
        "fork + exit + wait after the parent wrote N MiB (pinned to one CPU)",
        "MiB of anonymous memory the parent wrote before forking",
        "ms per fork + exit + wait",
        series,
        &points,
    )
}

/// The SVG of the fork-latency-against-memory chart alone, Tine and
/// Linux (`docs/benchmarks.md` shows one).
fn fork_memory_document(caption: &str, tine: &UserRun, linux: Option<&UserRun>) -> String {
    let figures = |run: &UserRun| -> HashMap<String, f64> {
        run.report
            .metrics
            .iter()
            .map(|metric| (metric.name.clone(), metric.value))
            .collect()
    };
    let mut series = vec![Series {
        label: "Tine".to_owned(),
        color: "#c0392b",
    }];
    let mut all = vec![figures(tine)];
    if let Some(linux) = linux {
        series.push(Series {
            label: "Linux".to_owned(),
            color: "#2c3e50",
        });
        all.push(figures(linux));
    }
    svg::document(caption, &[fork_memory_chart(&series, &all)])
}

/// `name (0.30x)`: the metric and Tine/Linux when both are known.
fn ratio_label(name: &str, tine: Option<f64>, linux: Option<f64>) -> String {
    match (tine, linux) {
        (Some(t), Some(l)) if l > 0.0 => format!("{name} ({}x)", svg::short(t / l)),
        _ => name.to_owned(),
    }
}

fn show_load(load: &[f64]) -> String {
    if load.is_empty() {
        return "unknown".to_owned();
    }
    load.iter()
        .map(|l| format!("{l:.2}"))
        .collect::<Vec<_>>()
        .join("/")
}

/// The host's CPU count.
fn host_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The TSC frequency Tine's boot log reports (`tsc 2596 MHz`).
fn tsc_mhz_in(output: &str) -> Option<u64> {
    output.lines().find_map(|line| {
        let (_, rest) = line.split_once("] tsc ")?;
        rest.strip_suffix(" MHz")?.trim().parse().ok()
    })
}

/// `bench` for every benchmark, `bench=a,b` for some.
fn bench_command_line(names: &[String]) -> String {
    if names.is_empty() {
        "bench".to_owned()
    } else {
        format!("bench={}", names.join(","))
    }
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
        let machine = Machine {
            smp: 2,
            cpu: "qemu64".to_owned(),
            mem_mib: 512,
            accel: qemu::Accel::Tcg,
        };
        let previous = PreviousRecord::load(Path::new("/nonexistent/latest.json"), &machine);
        assert!(previous.medians().is_empty());
        assert!(previous.tine_metrics().is_empty());
    }

    #[test]
    fn previous_records_with_and_without_forkbench_load() {
        let old = r#"{"results":[{"name":"fork","iters":1,"median_ns":5.0,"p99_ns":6.0}]}"#;
        let record: PreviousRecord = serde_json::from_str(old).unwrap();
        assert_eq!(record.medians()["fork"], 5.0);
        let run = UserRun {
            kernel: "Tine".into(),
            qemu_command: "qemu".into(),
            outcome: "exit 33 (success)".into(),
            elapsed_s: 1.0,
            host_loadavg_before: vec![],
            report: forkbench::parse("METRIC getpid 400 ns\nforkbench done failures=0\n"),
            rounds: vec![],
        };
        let json = serde_json::json!({ "tine_forkbench": run }).to_string();
        let record: PreviousRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(record.tine_metrics()["getpid"], 400.0);
    }

    #[test]
    fn a_run_that_did_not_finish_is_a_problem_but_fail_lines_are_not() {
        let mut run = UserRun {
            kernel: "Tine".into(),
            qemu_command: String::new(),
            outcome: Outcome::Kernel(KernelExit::Failure).to_string(),
            elapsed_s: 0.0,
            host_loadavg_before: vec![],
            report: forkbench::parse("FAIL x why\nforkbench done failures=1\n"),
            rounds: vec![],
        };
        let success = Outcome::Kernel(KernelExit::Success);
        assert!(run_problems(&run, success).is_empty());
        run.report.done = false;
        assert_eq!(run_problems(&run, success).len(), 1);
    }

    fn bench_args(words: &[&str]) -> BenchArgs {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            bench: BenchArgs,
        }
        let words = std::iter::once("bench").chain(words.iter().copied());
        <Cli as clap::Parser>::try_parse_from(words)
            .expect("valid arguments")
            .bench
    }

    #[test]
    fn the_workload_is_forkbench_or_the_program_given() {
        let forkbench = Workload::new(&bench_args(&["--smp", "4", "--scale", "0.5"])).unwrap();
        assert_eq!(forkbench.command, [FORKBENCH, "-c", "4", "-s", "0.5"]);
        assert!(forkbench.extra_files().is_empty());
        assert_eq!(forkbench.tine_command(Some(2596))[5..], ["-t", "2596"]);
        assert_eq!(forkbench.tine_command(None), forkbench.command);
        let args = bench_args(&[
            "--program",
            "/tmp/x/lat",
            "--program-arg",
            "-n",
            "--program-arg",
            "9",
        ]);
        let program = Workload::new(&args).unwrap();
        assert_eq!(program.command, ["/bench/lat", "-n", "9"]);
        assert_eq!(program.tine_command(Some(2596)), program.command);
        assert_eq!(program.extra_files()[0].host, PathBuf::from("/tmp/x/lat"));
        assert_eq!(program.extra_files()[0].guest, "/bench/lat");
        let bad = bench_args(&["--program", "/tmp/lat", "--program-arg", "a,b"]);
        assert!(Workload::new(&bad).is_err());
        // Without `forkbench done`, a program finished if QEMU ended well.
        let run = UserRun {
            kernel: "Tine".into(),
            qemu_command: String::new(),
            outcome: Outcome::Status(0).to_string(),
            elapsed_s: 0.0,
            host_loadavg_before: vec![],
            report: Report::default(),
            rounds: vec![],
        };
        assert!(program.finish(run.clone(), Outcome::Status(0)).report.done);
        assert!(!forkbench.finish(run, Outcome::Status(0)).report.done);
    }

    #[test]
    fn rounds_merge_into_medians() {
        let run = |text: &str, outcome: &str| UserRun {
            kernel: "Tine".into(),
            qemu_command: "q".into(),
            outcome: outcome.into(),
            elapsed_s: 1.0,
            host_loadavg_before: vec![],
            report: forkbench::parse(text),
            rounds: vec![],
        };
        let ok = "exit 33 (success)";
        let merged = merge_rounds(vec![
            run(
                "METRIC a 1 us\nMETRIC b 5 ns\nSKIP c ENOSYS\nforkbench done\n",
                ok,
            ),
            run("METRIC a 9 us\nSKIP c ENOSYS\nforkbench done\n", ok),
            run(
                "METRIC a 3 us\nMETRIC b 7 ns\nforkbench done\n",
                "timed out",
            ),
        ])
        .unwrap();
        assert_eq!(merged.report.value("a"), Some(3.0));
        assert_eq!(merged.report.value("b"), Some(6.0));
        assert_eq!(merged.report.skipped.len(), 1);
        assert!(merged.report.done);
        assert_eq!(merged.outcome, "timed out");
        assert_eq!(merged.elapsed_s, 3.0);
        assert_eq!(merged.rounds.len(), 3);
        assert!(merge_rounds(vec![]).is_none());
        let single = merge_rounds(vec![run("METRIC a 1 us\n", ok)]).unwrap();
        assert!(single.rounds.is_empty());
    }

    #[test]
    fn ratios_spread_over_paired_rounds() {
        let run = |texts: &[&str]| UserRun {
            kernel: "k".into(),
            qemu_command: String::new(),
            outcome: String::new(),
            elapsed_s: 0.0,
            host_loadavg_before: vec![],
            report: forkbench::parse(texts[0]),
            rounds: texts.iter().map(|t| forkbench::parse(t)).collect(),
        };
        let tine = run(&["METRIC a 1 us\nMETRIC b 1 us\n", "METRIC a 3 us\n"]);
        let linux = run(&["METRIC a 4 us\n", "METRIC a 4 us\nMETRIC b 2 us\n"]);
        let spread = ratio_spread(&tine, &linux);
        assert_eq!(spread["a"], (0.25, 0.75));
        // b has no pair in the same round.
        assert!(!spread.contains_key("b"));
    }

    #[test]
    fn the_tsc_frequency_comes_from_the_boot_log() {
        let log = "[    0.000000 cpu0  INFO] initramfs\n[    0.062195 cpu0  INFO] tsc 2596 MHz\n";
        assert_eq!(tsc_mhz_in(log), Some(2596));
        assert_eq!(tsc_mhz_in("no clock here\n"), None);
    }

    #[test]
    fn forkbench_gets_the_cpus_and_the_scale() {
        assert_eq!(forkbench_args(2, 0.5), ["-c", "2", "-s", "0.5"]);
        assert_eq!(
            ratio_label("getpid", Some(1.0), Some(4.0)),
            "getpid (0.250x)"
        );
        assert_eq!(ratio_label("getpid", Some(1.0), None), "getpid");
    }

    #[test]
    fn the_chart_draws_both_kernels() {
        let tine = forkbench::parse(
            "METRIC fork_exit_wait 100 us\nMETRIC fork_after_256mib 9000 us\n\
             METRIC getpid 3000 ns\nMETRIC fork_throughput_1cpu 900 forks/s\n",
        );
        let linux = forkbench::parse("METRIC fork_exit_wait 400 us\nMETRIC getpid 500 ns\n");
        let run = |kernel: &str, report: Report| UserRun {
            kernel: kernel.into(),
            qemu_command: String::new(),
            outcome: String::new(),
            elapsed_s: 0.0,
            host_loadavg_before: vec![],
            report,
            rounds: vec![],
        };
        let svg = chart(
            "caption",
            Some(&run("Tine", tine)),
            Some(&run("Linux", linux)),
            &HashMap::new(),
            &[result("task_yield", 120.0)],
        );
        assert!(svg.contains("fork_exit_wait (0.250x)"), "{svg}");
        assert!(svg.contains("getpid (6.00x)"));
        assert!(svg.contains(">3.00 µs<"));
        assert!(svg.contains("fork_throughput_1cpu"));
        assert!(svg.contains("task_yield"));
    }
}
