//! Link-time registries: in-kernel tests and benchmarks.
//!
//! `linkme` gathers statics from every crate into one slice by placing them
//! in a named linker section. That placement is an unsafe attribute, so the
//! slices are declared here, in the one crate allowed `unsafe`; the
//! `ktest!`/`bench_case!` macros of `kernel` and `bench` register into them
//! through the macros `linkme` generates in this crate. The linker script
//! keeps the sections (`KEEP(*(linkme_KTESTS))`, ...).

use alloc::boxed::Box;
use alloc::string::String;
use core::future::Future;
use core::pin::Pin;

#[doc(hidden)]
pub use linkme;

/// What a test body evaluates to.
pub type TestResult = Result<(), String>;
/// A running test.
pub type TestFuture = Pin<Box<dyn Future<Output = TestResult> + Send>>;

/// One registered in-kernel test.
#[derive(Debug)]
pub struct KTest {
    /// `module::path::name`.
    pub name: &'static str,
    /// Starts the test.
    pub run: fn() -> TestFuture,
}

/// Every in-kernel test linked into the image.
#[linkme::distributed_slice]
pub static KTESTS: [KTest];

/// A benchmark's report: one line of the results table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BenchReport {
    /// Iterations measured (all batches).
    pub iters: u64,
    /// Median nanoseconds per iteration over the batches.
    pub median_ns: f64,
    /// 99th-percentile nanoseconds per iteration over the batches.
    pub p99_ns: f64,
}

/// A running benchmark.
pub type BenchFuture = Pin<Box<dyn Future<Output = Result<BenchReport, String>> + Send>>;

/// One registered benchmark.
#[derive(Debug)]
pub struct BenchCase {
    /// Short name, as `bench=NAME` selects it.
    pub name: &'static str,
    /// Runs it.
    pub run: fn() -> BenchFuture,
}

/// Every benchmark linked into the image.
#[linkme::distributed_slice]
pub static BENCHES: [BenchCase];
