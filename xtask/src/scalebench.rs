//! `cargo xtask bench --procs`: processes at scale (issue 13's figures).
//!
//! Boots Tine (and, with `--compare-linux`, Linux) in a 2 GiB guest and
//! runs `/bin/scale` (`user/c/bench/scale.c`) once per count: N children
//! blocked on a pipe are forked, released and reaped; each round prints a
//! `SCALE` line (create and reap times, free memory before, during and
//! after) and, on Tine, `TINEMEM` lines (the `mem` breakdown). This
//! module turns them into a table and `target/bench/procs-latest.json`.
//!
//! Kept apart from `bench.rs`'s forkbench comparison: one boot per kernel,
//! all counts in it, no rounds (a 90,000-process round takes minutes
//! under TCG).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use serde::Serialize;

use crate::linux::{self, Linux};
use crate::qemu::{self, Accel, QemuConfig};
use crate::{musl, target_dir};

/// The scale benchmark's options (part of `cargo xtask bench`).
#[derive(Args, Debug)]
pub struct ProcsArgs {
    /// Also run the processes-at-scale benchmark (`/bin/scale`): create and
    /// reap N blocked children, memory per process (docs/memory.md).
    #[arg(long)]
    pub procs: bool,
    /// Only the processes-at-scale benchmark.
    #[arg(long, requires = "procs")]
    pub procs_only: bool,
    /// The counts N (comma-separated).
    #[arg(
        long,
        value_name = "N,...",
        value_delimiter = ',',
        default_values_t = [1_000u32, 10_000, 90_000]
    )]
    pub procs_counts: Vec<u32>,
    /// Guest memory for it (MiB).
    #[arg(long, value_name = "MiB", default_value_t = 2048)]
    pub procs_mem: u32,
}

/// One `SCALE` line.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Round {
    pub n: u64,
    pub made: u64,
    pub create_s: f64,
    pub reap_s: f64,
    pub per_proc_kib: f64,
    pub lost_kib: i64,
    pub fork_errno: i64,
    /// Tine only: the `mem` breakdown before, while the N processes
    /// lived, and after reaping.
    pub before: BTreeMap<String, u64>,
    pub during: BTreeMap<String, u64>,
    pub after: BTreeMap<String, u64>,
}

impl Round {
    /// How much the kernel heap's free space (a cache that shrinks under
    /// pressure, shown apart by `mem`) grew from before to after, in KiB
    /// (Tine; 0 without the breakdown).
    pub fn heap_cache_growth_kib(&self) -> i64 {
        let slack =
            |m: &BTreeMap<String, u64>| match (m.get("heap_claimed"), m.get("heap_allocated")) {
                (Some(c), Some(a)) => *c as i64 - *a as i64,
                _ => 0,
            };
        (slack(&self.after) - slack(&self.before)) / 1024
    }
}

/// One kernel's run.
#[derive(Debug, Default, Serialize)]
pub struct Run {
    pub kernel: String,
    pub outcome: String,
    pub rounds: Vec<Round>,
}

fn fields(line: &str) -> BTreeMap<&str, &str> {
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .collect()
}

/// The rounds in `output` (`SCALE` lines, each with the `TINEMEM
/// phase=during` line before it, if any).
pub fn parse(output: &str) -> Vec<Round> {
    let mut rounds = Vec::new();
    let mut before = BTreeMap::new();
    let mut during = BTreeMap::new();
    let mut after = BTreeMap::new();
    for line in output.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("TINEMEM ") {
            let f = fields(rest);
            let values = f
                .iter()
                .filter_map(|(k, v)| Some(((*k).to_owned(), v.parse().ok()?)))
                .collect();
            match f.get("phase") {
                Some(&"before") => before = values,
                Some(&"during") => during = values,
                Some(&"after") => after = values,
                _ => {}
            }
        } else if let Some(rest) = line.strip_prefix("SCALE ") {
            let f = fields(rest);
            let int = |k: &str| f.get(k).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
            rounds.push(Round {
                n: int("n") as u64,
                made: int("made") as u64,
                create_s: int("create_us") as f64 / 1e6,
                reap_s: int("reap_us") as f64 / 1e6,
                per_proc_kib: int("per_proc_bytes") as f64 / 1024.0,
                lost_kib: int("lost_kib"),
                fork_errno: int("fork_errno"),
                before: std::mem::take(&mut before),
                during: std::mem::take(&mut during),
                after: std::mem::take(&mut after),
            });
        }
    }
    rounds
}

/// The `/bin/scale` command: `-e` (running out of memory or processes is
/// reported, not a failure), then the counts.
fn command(counts: &[u32]) -> Vec<String> {
    let mut c = vec!["/bin/scale".to_owned(), "-e".to_owned()];
    c.extend(counts.iter().map(u32::to_string));
    c
}

/// Runs the benchmark on Tine (and Linux), prints the table, writes the
/// JSON record. `(kernel, initrd)` are Tine's; both kernels get the
/// `-cpu` model `cpu` (the rest of `bench` compares them that way).
pub fn run(
    args: &ProcsArgs,
    smp: u32,
    accel: Accel,
    cpu: &str,
    (kernel, initrd): (&Path, &Path),
    linux: Option<&Linux>,
    timeout: Duration,
) -> Result<()> {
    let cmd = command(&args.procs_counts);
    let config = |kernel: &Path, initrd: &Path, append: String| QemuConfig {
        smp,
        cpu: Some(cpu.to_owned()),
        mem_mib: args.procs_mem,
        accel,
        kernel: kernel.to_path_buf(),
        initrd: Some(initrd.to_path_buf()),
        append,
        interactive: false,
    };
    println!("==> processes at scale on Tine: {}", cmd.join(" "));
    let boot = qemu::boot(
        &config(kernel, initrd, format!("run={} log=warn", cmd.join(","))),
        timeout,
        true,
    )?;
    let tine = Run {
        kernel: "Tine".to_owned(),
        outcome: boot.outcome.to_string(),
        rounds: parse(&boot.output),
    };
    let linux_run = match linux {
        Some(linux) => {
            let files: Vec<_> = musl::find_c_programs()?
                .into_iter()
                .map(|p| (p.guest_path(), p.binary))
                .collect();
            let initrd = linux::build_initramfs(linux, &files, &cmd)?;
            println!("==> processes at scale on Linux {}", linux.kernel_package);
            let append = linux::LINUX_CMDLINE.to_owned();
            let boot = qemu::boot(&config(&linux.kernel, &initrd, append), timeout, true)?;
            Some(Run {
                kernel: format!("Linux {}", linux.kernel_package),
                outcome: boot.outcome.to_string(),
                rounds: parse(&boot.output),
            })
        }
        None => None,
    };
    println!();
    println!(
        "Processes at scale (/bin/scale, -smp {smp} -m {}, {accel:?}; per process = \
         (free before - free during) / made; lost = free before - free after reaping):",
        args.procs_mem
    );
    print!("{}", table(&tine, linux_run.as_ref()));
    let dir = target_dir().join("bench");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("procs-latest.json");
    let json = serde_json::to_string_pretty(&(&tine, &linux_run))? + "\n";
    std::fs::write(&path, json).with_context(|| format!("cannot write {}", path.display()))?;
    println!("results written to {}", path.display());
    Ok(())
}

/// The table: one row per count, Tine's figures then Linux's.
fn table(tine: &Run, linux: Option<&Run>) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "{:>7} | {:>7} {:>8} {:>8} {:>9} {:>8} | {:>7} {:>8} {:>8} {:>9} {:>8}\n",
        "N",
        "made",
        "create s",
        "reap s",
        "KiB/proc",
        "lost KiB",
        "Linux",
        "create s",
        "reap s",
        "KiB/proc",
        "lost KiB"
    ));
    let cells = |r: Option<&Round>| match r {
        Some(r) => format!(
            "{:>7} {:>8.2} {:>8.2} {:>9.1} {:>8}",
            r.made, r.create_s, r.reap_s, r.per_proc_kib, r.lost_kib
        ),
        None => format!("{:>7} {:>8} {:>8} {:>9} {:>8}", "-", "-", "-", "-", "-"),
    };
    for (i, r) in tine.rounds.iter().enumerate() {
        let l = linux.and_then(|l| l.rounds.get(i));
        s.push_str(&format!("{:>7} | {} | {}\n", r.n, cells(Some(r)), cells(l)));
    }
    if tine.rounds.is_empty() {
        s.push_str(&format!("(no rounds from Tine: {})\n", tine.outcome));
    }
    for r in &tine.rounds {
        let d = &r.during;
        let (Some(procs), Some(pt)) = (d.get("processes"), d.get("table_pages")) else {
            continue;
        };
        let per = |k: &str| d.get(k).map_or(0.0, |v| *v as f64 / (*procs).max(1) as f64);
        s.push_str(&format!(
            "Tine N={}: per process {:.0} B record, {:.0} B task, {:.0} B descriptors, \
             {:.1} page-table pages, {:.0} B heap in all\n",
            r.n,
            per("process_bytes"),
            per("task_bytes"),
            per("fd_bytes"),
            *pt as f64 / (*procs).max(1) as f64,
            per("heap_allocated"),
        ));
    }
    s
}

/// How much less free memory `/bin/scale` may find after reaping.
const SCALE_LOST_KIB_MAX: i64 = 1024;

/// `/bin/scale`'s verdict (`Expect::Scale`): a note and the problems.
pub fn check(exhausted: bool, output: &str) -> (String, Vec<String>) {
    let rounds = parse(output);
    let mut problems = Vec::new();
    if rounds.is_empty() {
        problems.push("no `SCALE` line from /bin/scale".to_owned());
    }
    if !output.contains("scale done failures=0") {
        problems.push("no `scale done failures=0` line".to_owned());
    }
    for r in &rounds {
        match (exhausted, r.made == r.n) {
            (false, false) => problems.push(format!(
                "made {} of {} processes (errno {})",
                r.made, r.n, r.fork_errno
            )),
            (true, true) => problems.push(format!("{} forks never ran out", r.n)),
            (true, false) if ![11, 12].contains(&r.fork_errno) => problems.push(format!(
                "fork ran out with errno {}, not EAGAIN or ENOMEM",
                r.fork_errno
            )),
            _ => {}
        }
        // The kernel heap's free space is a cache (it shrinks under
        // pressure and `mem` shows it apart): not counted as lost.
        let lost = r.lost_kib - r.heap_cache_growth_kib();
        if lost > SCALE_LOST_KIB_MAX {
            problems.push(format!(
                "{lost} KiB less free memory after reaping {} processes \
                 (besides {} KiB more free inside the heap)",
                r.made,
                r.heap_cache_growth_kib()
            ));
        }
    }
    let note = rounds
        .iter()
        .map(|r| {
            format!(
                "{} processes made and reaped, {} KiB not back",
                r.made, r.lost_kib
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    (note, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_boots_need_every_process_and_the_memory_back() {
        let line = |made: u32, lost: i64, errno: u32| {
            format!(
                "SCALE n=3000 made={made} create_us=1 reap_us=1 per_proc_bytes=1 \
                 lost_kib={lost} fork_errno={errno}\nscale done failures=0\n"
            )
        };
        assert!(check(false, &line(3000, 12, 0)).1.is_empty());
        assert_eq!(check(false, &line(2999, 12, 12)).1.len(), 1);
        assert_eq!(check(false, &line(3000, 4096, 0)).1.len(), 1);
        assert!(check(true, &line(1234, -5, 12)).1.is_empty());
        assert_eq!(check(true, &line(1234, 0, 14)).1.len(), 1);
        assert_eq!(check(true, &line(3000, 0, 0)).1.len(), 1);
        assert!(!check(false, "nothing").1.is_empty());
    }

    #[test]
    fn parses_rounds_with_their_breakdown() {
        let out = "scale start\n\
            TINEMEM phase=before processes=1 table_pages=7\n\
            TINEMEM phase=before heap_claimed=5000 heap_allocated=1000\n\
            TINEMEM phase=during processes=1001 table_pages=7007 task_bytes=4664000\n\
            TINEMEM phase=after heap_claimed=1029000 heap_allocated=1000\n\
            SCALE n=1000 made=1000 create_us=1500000 reap_us=250000 free_before_kib=100 \
            free_during_kib=60 free_after_kib=99 per_proc_bytes=40960 lost_kib=1 fork_errno=0\n\
            SCALE n=5 made=3 create_us=1 reap_us=2 per_proc_bytes=0 lost_kib=-2 fork_errno=12\n\
            scale done failures=0\n";
        let r = parse(out);
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].n, r[0].made, r[0].lost_kib), (1000, 1000, 1));
        assert_eq!(
            (r[0].create_s, r[0].reap_s, r[0].per_proc_kib),
            (1.5, 0.25, 40.0)
        );
        assert_eq!(r[0].during.get("table_pages"), Some(&7007));
        assert_eq!(r[0].heap_cache_growth_kib(), 1000);
        assert_eq!(r[1].heap_cache_growth_kib(), 0, "no breakdown");
        assert!(r[1].during.is_empty(), "no breakdown for the second round");
        assert_eq!((r[1].made, r[1].fork_errno, r[1].lost_kib), (3, 12, -2));
        let t = table(
            &Run {
                kernel: "Tine".into(),
                outcome: "exit 33".into(),
                rounds: r,
            },
            None,
        );
        let row = t.lines().nth(1).unwrap_or_default();
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            cells[..7],
            ["1000", "|", "1000", "1.50", "0.25", "40.0", "1"],
            "{t}"
        );
        assert!(
            t.contains("Tine N=1000: per process 0 B record, 4659 B task"),
            "{t}"
        );
    }

    #[test]
    fn the_command_tolerates_running_out() {
        assert_eq!(command(&[1, 2]), ["/bin/scale", "-e", "1", "2"]);
    }
}
