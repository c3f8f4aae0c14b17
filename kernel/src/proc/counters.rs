//! Fork counters, kept per CPU and summed on read.
//!
//! FreeBSD counts every fork by its shape (`v_forks`, `v_vforks`,
//! `v_rforks`, `v_kthreads`) and the pages each shape touched
//! (`v_forkpages`, ...: the parent's data and stack size at the fork);
//! NetBSD counts the forks whose parent waited (`PPWAIT`) and those that
//! shared the address space (`SHAREVM`). Tine keeps all ten.
//!
//! A fork adds to the slots of the CPU it runs on with a relaxed
//! `fetch_add`: no cache line is shared between CPUs on the fork path, and
//! a reader ([`read`], the `sysctl` knobs `vm.stats.vm.v_*` and
//! `kern.fork.*`) sums the slots of every CPU. A sum taken while forks run
//! is a value the counter had at some moment between the first and the
//! last slot read: exact enough for statistics, and the tests read it
//! when nothing forks.

use core::sync::atomic::{AtomicU64, Ordering};

use arch::smp::MAX_CPUS;

use super::fork_flags::{AddressSpace, ForkCounter, ForkRequest};

/// One counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Counter {
    /// `v_forks`: forks shaped like fork(2).
    Forks,
    /// `v_vforks`: forks shaped like vfork(2) (posix_spawn too).
    Vforks,
    /// `v_rforks`: everything else a user process asked for.
    Rforks,
    /// `v_kthreads`: kernel processes.
    Kthreads,
    /// `v_forkpages`: pages of the parents of [`Counter::Forks`].
    ForkPages,
    /// `v_vforkpages`.
    VforkPages,
    /// `v_rforkpages`.
    RforkPages,
    /// `v_kthreadpages`.
    KthreadPages,
    /// NetBSD's "fork ppwait": the parent waited for the child's exec or
    /// exit.
    Ppwait,
    /// NetBSD's "fork sharevm": the child shares the parent's address space.
    Sharevm,
}

impl Counter {
    /// Every counter with its `sysctl` name.
    pub const ALL: [(&'static str, Counter); 10] = [
        ("vm.stats.vm.v_forks", Counter::Forks),
        ("vm.stats.vm.v_vforks", Counter::Vforks),
        ("vm.stats.vm.v_rforks", Counter::Rforks),
        ("vm.stats.vm.v_kthreads", Counter::Kthreads),
        ("vm.stats.vm.v_forkpages", Counter::ForkPages),
        ("vm.stats.vm.v_vforkpages", Counter::VforkPages),
        ("vm.stats.vm.v_rforkpages", Counter::RforkPages),
        ("vm.stats.vm.v_kthreadpages", Counter::KthreadPages),
        ("kern.fork.ppwait", Counter::Ppwait),
        ("kern.fork.sharevm", Counter::Sharevm),
    ];

    /// The counter of forks of this shape, and the one of their pages.
    pub const fn for_shape(shape: ForkCounter) -> (Counter, Counter) {
        match shape {
            ForkCounter::Forks => (Counter::Forks, Counter::ForkPages),
            ForkCounter::Vforks => (Counter::Vforks, Counter::VforkPages),
            ForkCounter::Rforks => (Counter::Rforks, Counter::RforkPages),
            ForkCounter::Kthreads => (Counter::Kthreads, Counter::KthreadPages),
        }
    }
}

const COUNTERS: usize = Counter::ALL.len();

/// One CPU's slots, on a cache line of their own (two lines: 80 bytes).
#[repr(align(128))]
struct Slots([AtomicU64; COUNTERS]);

static SLOTS: [Slots; MAX_CPUS] =
    [const { Slots([const { AtomicU64::new(0) }; COUNTERS]) }; MAX_CPUS];

/// Adds `n` to `counter` on this CPU.
pub fn add(counter: Counter, n: u64) {
    let cpu = arch::cpu::id() % MAX_CPUS;
    SLOTS[cpu].0[counter as usize].fetch_add(n, Ordering::Relaxed);
}

/// The sum of `counter` over every CPU.
pub fn read(counter: Counter) -> u64 {
    SLOTS
        .iter()
        .map(|s| s.0[counter as usize].load(Ordering::Relaxed))
        .sum()
}

/// Counts one fork of `req`'s shape whose parent had `parent_pages` pages
/// (FreeBSD's `vm_forkproc` accounting, NetBSD's event counters).
pub fn count_fork(req: &ForkRequest, parent_pages: u64) {
    let (forks, pages) = Counter::for_shape(req.counter());
    add(forks, 1);
    add(pages, parent_pages);
    if req.wait_for_child {
        add(Counter::Ppwait, 1);
    }
    if req.address_space == AddressSpace::Share {
        add(Counter::Sharevm, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::super::fork_flags;
    use super::*;

    #[test]
    fn each_shape_counts_where_freebsd_does() {
        // Host tests share the statics: compare differences.
        let before: [u64; COUNTERS] = core::array::from_fn(|i| read(Counter::ALL[i].1));
        count_fork(&fork_flags::fork(), 10);
        count_fork(&fork_flags::vfork(), 20);
        count_fork(&fork_flags::posix_spawn(), 1);
        count_fork(&fork_flags::kthread(false), 0);
        count_fork(&fork_flags::vfork_44bsd(), 5);
        let delta = |c: Counter| read(c) - before[c as usize];
        assert_eq!(delta(Counter::Forks), 1);
        assert_eq!(delta(Counter::ForkPages), 10);
        // vfork and posix_spawn have the same flag word.
        assert_eq!(delta(Counter::Vforks), 2);
        assert_eq!(delta(Counter::VforkPages), 21);
        assert_eq!(delta(Counter::Kthreads), 1);
        // The 4.4BSD vfork is an rfork shape.
        assert_eq!(delta(Counter::Rforks), 1);
        assert_eq!(delta(Counter::RforkPages), 5);
        assert_eq!(delta(Counter::Ppwait), 3);
        // vfork, posix_spawn and the kernel process share the space.
        assert_eq!(delta(Counter::Sharevm), 3);
    }

    #[test]
    fn names_are_unique_and_in_order() {
        for (i, (name, c)) in Counter::ALL.iter().enumerate() {
            assert_eq!(*c as usize, i, "{name}");
        }
    }
}
