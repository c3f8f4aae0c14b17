//! # bench — in-kernel microbenchmarks
//!
//! A harness and the benchmark cases, linked into the image and run when the
//! kernel command line says `bench` (or `bench=NAME,NAME`), or from the
//! shell with `bench [NAME...]`.
//!
//! Method ([`harness`]): warm up; pick a batch size so one batch takes at
//! least [`harness::MIN_BATCH_NS`]; time [`harness::BATCHES`] batches with
//! the TSC; report the median and the 99th percentile of the per-iteration
//! time over the batches. Batching keeps the cost of reading the TSC (a
//! helper call under QEMU TCG) out of sub-microsecond figures.
//!
//! Cases register themselves with [`bench_case!`] into the link-time
//! registry `arch::registry::BENCHES`; each prints one line,
//! `bench NAME iters=N median_ns=X p99_ns=Y`, which `cargo xtask bench`
//! turns into a table and JSON.
#![cfg_attr(target_os = "none", no_std)]
#![deny(unsafe_code)]

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::vec::Vec;

#[cfg(target_os = "none")]
mod cases;
#[cfg(target_os = "none")]
mod fork;
pub mod harness;
pub mod pid;

#[doc(hidden)]
pub use arch::registry::linkme;
pub use arch::registry::{BenchCase, BenchReport};

/// Declares a benchmark: `bench_case!(name, async { ...; Ok(report) });`
#[macro_export]
macro_rules! bench_case {
    ($static:ident, $name:literal, $body:expr) => {
        #[$crate::linkme::distributed_slice(::arch::registry::BENCHES)]
        #[linkme(crate = $crate::linkme)]
        static $static: $crate::BenchCase = $crate::BenchCase {
            name: $name,
            run: || ::alloc::boxed::Box::pin($body),
        };
    };
}

/// Whether one filter `term` selects the benchmark `name`: the whole name
/// or a prefix of it (`fork` selects `fork1_exit_reap`).
fn term_selects(term: &str, name: &str) -> bool {
    name.starts_with(term)
}

/// The non-empty terms of a comma-separated filter.
fn terms(filter: &str) -> impl Iterator<Item = &str> {
    filter.split(',').map(str::trim).filter(|t| !t.is_empty())
}

/// Whether `filter` (comma-separated names or prefixes; empty = all)
/// selects `name`.
pub fn filter_selects(filter: &str, name: &str) -> bool {
    let mut terms = terms(filter).peekable();
    terms.peek().is_none() || terms.any(|t| term_selects(t, name))
}

/// The terms of `filter` that select none of `names`.
pub fn unmatched_terms<'f>(filter: &'f str, names: &[&str]) -> Vec<&'f str> {
    terms(filter)
        .filter(|t| !names.iter().any(|n| term_selects(t, n)))
        .collect()
}

/// Benchmarks selected by a comma-separated list of names or name
/// prefixes (all when empty).
pub fn selected(filter: &str) -> impl Iterator<Item = &'static BenchCase> + '_ {
    arch::registry::BENCHES
        .iter()
        .filter(move |b| filter_selects(filter, b.name))
}

/// The median of each benchmark's previous run in this boot, shown next to
/// the new figure.
static LAST_MEDIAN_NS: spin::Mutex<BTreeMap<&'static str, f64>> = spin::Mutex::new(BTreeMap::new());

/// Runs the selected benchmarks one after another, printing one line each
/// (with `last_median_ns=` when the benchmark ran before in this boot) and
/// `bench done` at the end; returns how many failed. A name that selects
/// nothing counts as a failure and the valid names are listed.
pub async fn run(filter: &str, mut print: impl FnMut(core::fmt::Arguments<'_>)) -> usize {
    let names: Vec<&str> = arch::registry::BENCHES.iter().map(|b| b.name).collect();
    let unknown = unmatched_terms(filter, &names);
    let mut failed = unknown.len();
    for term in &unknown {
        print(format_args!(
            "bench: no benchmark is named or starts with '{term}'\n"
        ));
    }
    if !unknown.is_empty() {
        print(format_args!(
            "bench: the benchmarks are: {}\n",
            names.join(" ")
        ));
    }
    for case in selected(filter) {
        match (case.run)().await {
            Ok(r) => {
                let last = LAST_MEDIAN_NS.lock().insert(case.name, r.median_ns);
                let last = last.map(|ns| format!(" last_median_ns={ns:.1}"));
                print(format_args!(
                    "bench {} iters={} median_ns={:.1} p99_ns={:.1}{}\n",
                    case.name,
                    r.iters,
                    r.median_ns,
                    r.p99_ns,
                    last.as_deref().unwrap_or("")
                ));
            }
            Err(why) => {
                failed += 1;
                print(format_args!("bench {} FAILED: {}\n", case.name, why));
            }
        }
    }
    print(format_args!("bench done\n"));
    failed
}
