//! PID allocation: the lock-free `PidMap` against a spin-locked bitmap
//! with the same search ([`SpinPidMap`]), measured in the same run.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use kernel::proc::pid::{PID_MAX_DEFAULT, Pid, PidFlags, PidMap};
use kernel::task::{self, Builder};

use crate::BenchReport;
use crate::harness::{BATCHES, measure, summarize};

/// The baseline: FreeBSD's shape, a bitmap and `lastpid` under one lock.
pub struct SpinPidMap {
    inner: spin::Mutex<(Vec<u64>, u32)>,
    pid_max: u32,
}

impl SpinPidMap {
    /// PIDs `1..pid_max`, 0 reserved for the kernel.
    pub fn new(pid_max: u32) -> Self {
        let mut words = alloc::vec![0u64; (pid_max as usize).div_ceil(64)];
        words[0] = 1;
        Self {
            inner: spin::Mutex::new((words, 0)),
            pid_max,
        }
    }

    /// First free PID after `lastpid`, wrapping to 2.
    pub fn alloc(&self) -> Option<u32> {
        let mut guard = self.inner.lock();
        let (words, lastpid) = &mut *guard;
        let mut pid = *lastpid + 1;
        for _ in 0..self.pid_max {
            if pid >= self.pid_max {
                pid = 2;
            }
            let (w, bit) = (pid as usize / 64, 1u64 << (pid % 64));
            if words[w] & bit == 0 {
                words[w] |= bit;
                *lastpid = pid;
                return Some(pid);
            }
            pid += 1;
        }
        None
    }

    /// Returns `pid` to the map.
    pub fn free(&self, pid: u32) {
        self.inner.lock().0[pid as usize / 64] &= !(1u64 << (pid % 64));
    }
}

fn lockfree() -> PidMap {
    PidMap::new(PID_MAX_DEFAULT, arch::cpu::random::u64)
}

/// Fills 90% of the map, spread out as a long-running system leaves
/// it (every 10th PID free).
fn fill_90(map: &PidMap) -> Vec<Pid> {
    let all: Vec<Pid> = core::iter::from_fn(|| map.alloc(PidFlags::NONE).ok()).collect();
    let mut freed = Vec::new();
    for (i, &pid) in all.iter().enumerate() {
        if i % 10 == 0 {
            map.free(pid);
            freed.push(pid);
        }
    }
    freed
}

/// Runs `pairs` alloc+free pairs on every CPU at once, `BATCHES` times;
/// reports the aggregate time per pair (wall time / all pairs).
async fn all_cpus(op: fn(usize), pairs: usize) -> BenchReport {
    let n = task::ncpus();
    let mut samples = Vec::with_capacity(BATCHES);
    for _ in 0..BATCHES {
        // No start barrier: a worker spinning for one would starve this
        // task on its own CPU. Spawning is microseconds; a batch is far
        // longer.
        let t0 = arch::cpu::tsc::now_ns();
        let workers: Vec<_> = (0..n)
            .map(|cpu| {
                Builder::new().cpu(cpu).pinned().spawn(async move {
                    for _ in 0..pairs {
                        op(cpu);
                    }
                })
            })
            .collect();
        for w in workers {
            w.await;
        }
        let dt = arch::cpu::tsc::now_ns() - t0;
        samples.push(dt as f64 / (pairs * n) as f64);
    }
    summarize(&mut samples, (BATCHES * pairs * n) as u64)
}

static SHARED_LOCKFREE: spin::Once<PidMap> = spin::Once::new();
static SHARED_SPIN: spin::Once<SpinPidMap> = spin::Once::new();
static SINK: AtomicU64 = AtomicU64::new(0);

fn shared_lockfree_pair(_cpu: usize) {
    let map = SHARED_LOCKFREE.call_once(lockfree);
    let pid = map.alloc(PidFlags::NONE).expect("pid");
    SINK.store(pid.as_u32() as u64, Ordering::Relaxed);
    map.free(pid);
}

fn shared_spin_pair(_cpu: usize) {
    let map = SHARED_SPIN.call_once(|| SpinPidMap::new(PID_MAX_DEFAULT));
    let pid = map.alloc().expect("pid");
    SINK.store(pid as u64, Ordering::Relaxed);
    map.free(pid);
}

crate::bench_case!(PID_ALLOC_FREE, "pid_alloc_free", async {
    let map = lockfree();
    Ok(measure(|| {
        let pid = map.alloc(PidFlags::NONE).expect("pid");
        map.free(core::hint::black_box(pid));
    }))
});

crate::bench_case!(PID_ALLOC_FREE_SPIN, "pid_alloc_free_spinlock", async {
    let map = SpinPidMap::new(PID_MAX_DEFAULT);
    Ok(measure(|| {
        let pid = map.alloc().expect("pid");
        map.free(core::hint::black_box(pid));
    }))
});

crate::bench_case!(PID_ALL_CPUS, "pid_alloc_free_all_cpus", async {
    Ok(all_cpus(shared_lockfree_pair, 20_000).await)
});

crate::bench_case!(
    PID_ALL_CPUS_SPIN,
    "pid_alloc_free_all_cpus_spinlock",
    async { Ok(all_cpus(shared_spin_pair, 20_000).await) }
);

crate::bench_case!(PID_90_FULL, "pid_alloc_free_90pct_full", async {
    let map = lockfree();
    let _holes = fill_90(&map);
    Ok(measure(|| {
        let pid = map.alloc(PidFlags::NONE).expect("pid");
        map.free(core::hint::black_box(pid));
    }))
});

crate::bench_case!(
    PID_90_FULL_SPIN,
    "pid_alloc_free_90pct_full_spinlock",
    async {
        let map = SpinPidMap::new(PID_MAX_DEFAULT);
        let all: Vec<u32> = core::iter::from_fn(|| map.alloc()).collect();
        for (i, &pid) in all.iter().enumerate() {
            if i % 10 == 0 {
                map.free(pid);
            }
        }
        Ok(measure(|| {
            let pid = map.alloc().expect("pid");
            map.free(core::hint::black_box(pid));
        }))
    }
);

#[cfg(test)]
mod tests {
    #[test]
    fn spin_baseline_searches_after_lastpid_and_wraps() {
        let m = super::SpinPidMap::new(300);
        assert_eq!(m.alloc(), Some(1));
        assert_eq!(m.alloc(), Some(2));
        m.free(1);
        assert_eq!(m.alloc(), Some(3), "the search continues after lastpid");
        let rest: Vec<u32> = core::iter::from_fn(|| m.alloc()).collect();
        assert_eq!(rest.len(), 300 - 4);
        assert_eq!(m.alloc(), None);
        m.free(150);
        assert_eq!(m.alloc(), Some(150));
    }
}
