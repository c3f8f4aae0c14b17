//! A CPU's "sleeping" flag: the executor's half and the waker's half of the
//! lost-wakeup protocol described on [`super::Platform`].

#[cfg(not(loom))]
use core::sync::atomic::{AtomicBool, Ordering, fence};
#[cfg(loom)]
use loom::sync::atomic::{AtomicBool, Ordering, fence};

/// Set while a CPU is about to halt or halted. One per executor.
pub(crate) struct IdleFlag {
    sleeping: AtomicBool,
}

impl IdleFlag {
    pub(crate) fn new() -> Self {
        Self {
            sleeping: AtomicBool::new(false),
        }
    }

    /// Executor, with interrupts masked, before re-checking for work: "I am
    /// going to halt". After this returns, the caller must re-check its run
    /// queue (and everything else that could give it work) and halt only if
    /// all of it is empty.
    pub(crate) fn announce(&self) {
        // SeqCst store: also a Release, so a waker whose SeqCst load reads
        // `true` sees everything this CPU did before (on the host, the
        // thread handle it registered for `wake_cpu`).
        self.sleeping.store(true, Ordering::SeqCst);
        // SeqCst fence: orders the flag store before the queue re-check
        // against the waker's fence in `claim_wakeup` (store-load: only a
        // full fence does that). Pairs with the fence in `claim_wakeup`.
        fence(Ordering::SeqCst);
    }

    /// Executor, after the halt (or the decision not to halt).
    pub(crate) fn clear(&self) {
        // Relaxed: a waker that still reads `true` just sends a spurious
        // IPI, which the protocol allows.
        self.sleeping.store(false, Ordering::Relaxed);
    }

    /// Waker, after making work visible to the CPU (the run-queue push):
    /// returns `true` if the CPU may be halted and the caller must send it
    /// the wake-up IPI. Among the wakers of one sleep, at most one gets
    /// `true`; the others rely on that IPI.
    pub(crate) fn claim_wakeup(&self) -> bool {
        // SeqCst fence: pairs with the fence in `announce`. Either our fence
        // comes first in the single total order of SeqCst fences, and the
        // CPU's re-check sees our push; or the CPU's comes first, and our
        // load below sees its `true`.
        fence(Ordering::SeqCst);
        // SeqCst load/swap: Acquire pairs with the Release of `announce`;
        // the swap makes exactly one waker win.
        self.sleeping.load(Ordering::SeqCst) && self.sleeping.swap(false, Ordering::SeqCst)
    }

    /// A cheap hint (Relaxed): is the CPU idle? For statistics and for
    /// picking a CPU to wake for stealing; never the last word (use
    /// [`IdleFlag::claim_wakeup`]).
    pub(crate) fn is_sleeping(&self) -> bool {
        self.sleeping.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! Model: an executor that announces, re-checks a "queue" and halts if
    //! it is empty, against wakers that push and then claim the wake-up.
    //! Property: if the executor halted, a waker sent the IPI (a halted CPU
    //! with queued work and no IPI on its way is a lost wakeup), and at most
    //! one waker did.
    use super::IdleFlag;
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::thread;

    struct Cpu {
        flag: IdleFlag,
        queue: AtomicUsize,
        halted: AtomicUsize,
        ipis: AtomicUsize,
    }

    fn model(wakers: usize) {
        loom::model(move || {
            let cpu = Arc::new(Cpu {
                flag: IdleFlag::new(),
                queue: AtomicUsize::new(0),
                halted: AtomicUsize::new(0),
                ipis: AtomicUsize::new(0),
            });
            let handles: alloc::vec::Vec<_> = (0..wakers)
                .map(|_| {
                    let cpu = cpu.clone();
                    thread::spawn(move || {
                        // Relaxed: the protocol's fences must carry it.
                        cpu.queue.fetch_add(1, Ordering::Relaxed);
                        if cpu.flag.claim_wakeup() {
                            cpu.ipis.fetch_add(1, Ordering::Relaxed);
                        }
                    })
                })
                .collect();
            cpu.flag.announce();
            if cpu.queue.load(Ordering::Relaxed) == 0 {
                // Halted: it stays so (flag set) until an IPI, which in
                // this model never ends the halt; the check below asks
                // whether one was sent.
                cpu.halted.store(1, Ordering::Relaxed);
            } else {
                cpu.flag.clear();
            }
            for h in handles {
                h.join().unwrap();
            }
            let halted = cpu.halted.load(Ordering::Relaxed) == 1;
            let ipis = cpu.ipis.load(Ordering::Relaxed);
            assert!(!halted || ipis >= 1, "halted with work queued and no IPI");
            assert!(ipis <= 1, "more than one IPI for one sleep");
        });
    }

    #[test]
    fn loom_idle_flag_one_waker() {
        model(1);
    }

    #[test]
    fn loom_idle_flag_two_wakers() {
        model(2);
    }
}
