//! Symmetric multiprocessing: per-CPU data and AP start-up.
//!
//! - [`percpu`]: each CPU's block, reached through its GS base.
//! - `trampoline`: the 16-bit code an AP starts in, copied below 1 MiB,
//!   and the parameter block the boot CPU fills in for each AP.
//! - `start`: [`start_aps`], the INIT-SIPI-SIPI sequence, one AP at a
//!   time, and the AP's first Rust code.
//!
//! CPU indices are dense: the boot CPU is 0, APs are 1, 2, … in start
//! order, and exactly `0..online_count()` are online. `docs/smp.md` has
//! the why.

pub mod percpu;
#[cfg(target_os = "none")]
mod start;
#[cfg(target_os = "none")]
mod trampoline;

#[cfg(target_os = "none")]
pub use start::start_aps;

use core::sync::atomic::{AtomicUsize, Ordering};

/// Upper bound on CPUs Tine supports.
pub const MAX_CPUS: usize = 64;

/// CPUs online: the boot CPU, then each AP adds itself (Release) once its
/// per-CPU block, GDT, IDT and local APIC are set up.
static ONLINE: AtomicUsize = AtomicUsize::new(1);

/// Number of CPUs that are online.
pub fn online_count() -> usize {
    // Acquire: pairs with the Release increment done by each AP as it comes online.
    ONLINE.load(Ordering::Acquire)
}

/// The local APIC id of CPU `cpu`, for IPIs by CPU index. Meaningful for
/// `cpu < online_count()`.
pub fn cpu_apic_id(cpu: usize) -> u32 {
    percpu::of(cpu).apic_id()
}
