//! In-kernel tests of the PID allocator: every CPU at once, on real
//! hardware atomics (the host has a std-thread stress test and a loom
//! model of the same claims).

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::pid::{Pid, PidFlags, PidMap};
use crate::task::{self, Builder};
use crate::{kassert, kassert_eq, ktest};

/// Every CPU allocates, holds a window of PIDs, and frees, concurrently;
/// `owned` catches any PID handed out twice, and at the end the map holds
/// exactly what the CPUs still hold.
async fn all_cpus_stress(randompid: i32) -> crate::ktest::TestResult {
    const OPS: usize = 30_000;
    const WINDOW: usize = 48;
    let map = Arc::new(PidMap::new(2_000, arch::cpu::random::u64));
    map.set_randompid(randompid);
    let owned: Arc<Vec<AtomicBool>> =
        Arc::new((0..2_000).map(|_| AtomicBool::new(false)).collect());
    let twice = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..task::ncpus())
        .map(|cpu| {
            let (map, owned, twice) = (map.clone(), owned.clone(), twice.clone());
            Builder::new().cpu(cpu).pinned().spawn(async move {
                let mut held: Vec<Pid> = Vec::new();
                for i in 0..OPS {
                    if held.len() < WINDOW && (i % 3 != 0 || held.is_empty()) {
                        if let Ok(pid) = map.alloc(if i % 17 == 0 {
                            PidFlags::HIGH
                        } else {
                            PidFlags::NONE
                        }) {
                            if owned[pid.as_u32() as usize].swap(true, Ordering::AcqRel) {
                                twice.fetch_add(1, Ordering::Relaxed);
                            }
                            held.push(pid);
                        }
                    } else {
                        let pid = held.swap_remove(i % held.len());
                        owned[pid.as_u32() as usize].store(false, Ordering::Release);
                        map.free(pid);
                    }
                }
                held
            })
        })
        .collect();
    let mut still_held = Vec::new();
    for w in workers {
        still_held.extend(w.await);
    }
    kassert_eq!(twice.load(Ordering::Relaxed), 0);
    let allocated = (1..2_000)
        .filter(|&n| map.is_allocated(Pid::new(n).expect("pid")))
        .count();
    kassert_eq!(allocated, still_held.len());
    for pid in still_held {
        kassert!(map.is_allocated(pid), "{pid} was lost");
        map.free(pid);
    }
    Ok(())
}

ktest!(
    async fn pid_alloc_free_on_all_cpus_never_duplicates() {
        all_cpus_stress(0).await
    }
);

ktest!(
    async fn pid_alloc_free_on_all_cpus_with_randompid() {
        all_cpus_stress(100).await
    }
);

ktest!(
    async fn machine_pid_map_hands_out_high_pids_without_moving_lastpid() {
        let map = super::pids();
        let lastpid = map.lastpid();
        let pid = map
            .alloc(PidFlags::HIGH)
            .map_err(|e| alloc::format!("{e}"))?;
        kassert!(pid.as_u32() >= 10);
        kassert_eq!(map.lastpid(), lastpid);
        map.free(pid);
        kassert!(!map.is_allocated(pid));
        Ok(())
    }
);
