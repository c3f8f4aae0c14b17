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
    match pinned_cpu(thread) {
        Some(cpu) => crate::task::migrate(cpu, true).await,
        None => crate::task::migrate(arch::cpu::id(), false).await,
    }
}

/// The CPU [`apply`] pins `thread` to, `None` when it is free: the
/// executing CPU if the mask allows it, else the lowest allowed.
pub fn pinned_cpu(thread: &Thread) -> Option<usize> {
    let mask = thread.affinity() & online_mask();
    let here = arch::cpu::id();
    if mask == online_mask() || mask == 0 {
        return None;
    }
    Some(if mask & (1 << here) != 0 {
        here
    } else {
        mask.trailing_zeros() as usize
    })
}
