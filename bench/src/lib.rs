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

/// Benchmarks selected by a comma-separated list of names (all when empty).
pub fn selected(filter: &str) -> impl Iterator<Item = &'static BenchCase> + '_ {
    arch::registry::BENCHES
        .iter()
        .filter(move |b| filter.is_empty() || filter.split(',').any(|f| b.name == f.trim()))
}

/// Runs the selected benchmarks one after another, printing one line each
/// and `bench done` at the end; returns how many failed.
pub async fn run(filter: &str, mut print: impl FnMut(core::fmt::Arguments<'_>)) -> usize {
    let mut failed = 0;
    for case in selected(filter) {
        match (case.run)().await {
            Ok(r) => print(format_args!(
                "bench {} iters={} median_ns={:.1} p99_ns={:.1}\n",
                case.name, r.iters, r.median_ns, r.p99_ns
            )),
            Err(why) => {
                failed += 1;
                print(format_args!("bench {} FAILED: {}\n", case.name, why));
            }
        }
    }
    print(format_args!("bench done\n"));
    failed
}
