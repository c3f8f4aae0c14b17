//! Timing: batches of iterations timed with the TSC, summarised as median
//! and p99 nanoseconds per iteration.
//!
//! Each measurement first warms up (at least [`WARMUP_ITERS`] iterations
//! and [`WARMUP_NS`]), so a cold first iteration cannot fix the batch size
//! at 1; then doubles the batch until one takes [`MIN_BATCH_NS`].

use alloc::string::String;
use alloc::vec::Vec;
use core::future::Future;

use crate::BenchReport;

/// Batches timed per benchmark.
pub const BATCHES: usize = 41;
/// A batch is grown until it takes at least this long.
pub const MIN_BATCH_NS: u64 = 200_000;
/// Upper bound on iterations in one batch.
pub const MAX_BATCH: u64 = 1 << 20;
/// Warm-up before sizing: at least this many iterations and this long.
pub const WARMUP_ITERS: u64 = 64;
/// See [`WARMUP_ITERS`].
pub const WARMUP_NS: u64 = 2_000_000;

/// How a slow operation (milliseconds: a fork of thousands of pages) is
/// measured by [`measure_slow`]: this many timed iterations after
/// [`SLOW_WARMUP`], one iteration per batch (the TSC's cost is nothing next
/// to it).
pub const SLOW_BATCHES: usize = 11;
/// Untimed iterations before [`measure_slow`] times.
pub const SLOW_WARMUP: usize = 2;

/// Summarises per-iteration times of each batch (sorted in place).
pub fn summarize(per_iter_ns: &mut [f64], iters: u64) -> BenchReport {
    if per_iter_ns.is_empty() {
        return BenchReport::default();
    }
    per_iter_ns.sort_by(|a, b| a.total_cmp(b));
    let n = per_iter_ns.len();
    let p99 = ((n * 99).div_ceil(100)).clamp(1, n) - 1;
    BenchReport {
        iters,
        median_ns: per_iter_ns[n / 2],
        p99_ns: per_iter_ns[p99],
    }
}

/// Benchmarks a synchronous operation: [`measure_async`] over a future that
/// is ready at once, so its single poll completes without a waker.
pub fn measure(mut op: impl FnMut()) -> BenchReport {
    let run = measure_async(|| {
        op();
        core::future::ready(())
    });
    futures_util::FutureExt::now_or_never(run).expect("ready futures complete in one poll")
}

/// Benchmarks an asynchronous operation (each iteration awaits `op()`).
pub async fn measure_async<F: Future<Output = ()>>(mut op: impl FnMut() -> F) -> BenchReport {
    let now = arch::cpu::tsc::now_ns;
    let (t0, mut n) = (now(), 0);
    while n < WARMUP_ITERS || now() - t0 < WARMUP_NS {
        op().await;
        n += 1;
    }
    let mut batch = 1u64;
    loop {
        let t0 = now();
        for _ in 0..batch {
            op().await;
        }
        if now() - t0 >= MIN_BATCH_NS || batch >= MAX_BATCH {
            break;
        }
        batch *= 2;
    }
    let mut samples = Vec::with_capacity(BATCHES);
    for _ in 0..BATCHES {
        let t0 = arch::cpu::tsc::read();
        for _ in 0..batch {
            op().await;
        }
        let dt = arch::cpu::tsc::ticks_to_ns(arch::cpu::tsc::read() - t0);
        samples.push(dt as f64 / batch as f64);
    }
    summarize(&mut samples, batch * BATCHES as u64)
}

/// Benchmarks an operation that takes milliseconds: [`SLOW_WARMUP`]
/// untimed runs, then [`SLOW_BATCHES`] timed one by one. `op` may fail
/// (the case then fails with its message).
pub async fn measure_slow<F: Future<Output = Result<(), String>>>(
    mut op: impl FnMut() -> F,
) -> Result<BenchReport, String> {
    for _ in 0..SLOW_WARMUP {
        op().await?;
    }
    let mut samples = Vec::with_capacity(SLOW_BATCHES);
    for _ in 0..SLOW_BATCHES {
        let t0 = arch::cpu::tsc::read();
        op().await?;
        samples.push(arch::cpu::tsc::ticks_to_ns(arch::cpu::tsc::read() - t0) as f64);
    }
    Ok(summarize(&mut samples, SLOW_BATCHES as u64))
}

/// Benchmarks an operation that needs fresh state for each batch (a page
/// can be copied on write once per fork): for each of [`BATCHES`] batches,
/// `prepare` (untimed) returns the state and the number of operations
/// `run` will do on it; `run` is timed and its time divided by that count.
/// One untimed batch first warms up.
pub fn measure_prepared<S>(
    mut prepare: impl FnMut() -> Result<(S, u64), String>,
    mut run: impl FnMut(&mut S) -> Result<(), String>,
) -> Result<BenchReport, String> {
    let (mut state, _) = prepare()?;
    run(&mut state)?;
    drop(state);
    let mut samples = Vec::with_capacity(BATCHES);
    let mut total = 0;
    for _ in 0..BATCHES {
        let (mut state, ops) = prepare()?;
        let t0 = arch::cpu::tsc::read();
        run(&mut state)?;
        let dt = arch::cpu::tsc::ticks_to_ns(arch::cpu::tsc::read() - t0);
        drop(state);
        samples.push(dt as f64 / ops.max(1) as f64);
        total += ops;
    }
    Ok(summarize(&mut samples, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p99_of_batches() {
        let mut v: Vec<f64> = (1..=100).rev().map(|x| x as f64).collect();
        let r = summarize(&mut v, 1000);
        assert_eq!(r.iters, 1000);
        assert_eq!(r.median_ns, 51.0);
        assert_eq!(r.p99_ns, 99.0);
    }

    #[test]
    fn small_sample_p99_is_the_max() {
        let mut v = vec![3.0, 1.0, 2.0];
        let r = summarize(&mut v, 3);
        assert_eq!((r.median_ns, r.p99_ns), (2.0, 3.0));
        assert_eq!(summarize(&mut [], 0), BenchReport::default());
    }

    #[test]
    fn selection_by_comma_list() {
        // No cases are linked on the host; the filter logic still holds.
        assert_eq!(crate::selected("nothing,else").count(), 0);
    }

    #[test]
    fn a_term_selects_by_whole_name_or_prefix() {
        use crate::filter_selects;
        assert!(filter_selects("", "fork1_exit_reap"));
        assert!(filter_selects("fork", "fork1_exit_reap"));
        assert!(filter_selects("fork1_exit_reap", "fork1_exit_reap"));
        assert!(filter_selects("pid, fork", "fork1_exit_reap"));
        assert!(!filter_selects("vm", "fork1_exit_reap"));
        assert!(!filter_selects("fork1_exit_reap_more", "fork1_exit_reap"));
    }

    #[test]
    fn unknown_terms_are_reported() {
        let names = ["fork1_exit_reap", "vm_fork_pages_1", "pid_alloc_free"];
        assert_eq!(crate::unmatched_terms("fork,zzz,vm_", &names), ["zzz"]);
        assert!(crate::unmatched_terms("", &names).is_empty());
        assert!(crate::unmatched_terms("pid", &names).is_empty());
    }
}
