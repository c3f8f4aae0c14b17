//! CPU affinity: the mask of CPUs a thread may run on
//! (`sched_setaffinity`) and moving the calling thread to obey it.

use crate::proc::thread::Thread;

/// The mask of the CPUs that are online.
pub fn online_mask() -> u64 {
    let n = crate::task::ncpus().min(64);
    if n == 64 { !0 } else { (1 << n) - 1 }
}

/// Makes the calling thread obey its own affinity mask (each thread of a
/// process has its own, `Thread::affinity`): a
/// thread allowed on every online CPU is free (stealable); otherwise it
/// is pinned to one allowed CPU, the one it is on if allowed, else the
/// lowest. A pinned task never leaves its CPU, so the thread always runs
/// on a CPU of its mask (a stricter rule than Linux's, which lets it move
/// within the mask).
pub async fn apply(thread: &Thread) {
    let mask = thread.affinity() & online_mask();
    let here = arch::cpu::id();
    if mask == online_mask() || mask == 0 {
        crate::task::migrate(here, false).await;
        return;
    }
    let cpu = if mask & (1 << here) != 0 {
        here
    } else {
        mask.trailing_zeros() as usize
    };
    crate::task::migrate(cpu, true).await;
}
