//! Symmetric multiprocessing: per-CPU data and AP start-up.

pub mod percpu;

use core::sync::atomic::{AtomicUsize, Ordering};

/// Upper bound on CPUs Tine supports.
pub const MAX_CPUS: usize = 64;

static ONLINE: AtomicUsize = AtomicUsize::new(1);

/// Number of CPUs that are online.
pub fn online_count() -> usize {
    // Acquire: pairs with the Release increment done by each AP as it comes online.
    ONLINE.load(Ordering::Acquire)
}
