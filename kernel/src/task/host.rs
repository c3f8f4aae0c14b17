//! Host only: a simulated machine for `cargo test`, std threads standing in
//! for CPUs. Other modules' host tests can use it too:
//!
//! ```ignore
//! let machine = HostMachine::start(4);
//! let handle = machine.scheduler.spawn(async { 6 * 7 });
//! assert_eq!(machine.block_on(handle), 42);
//! ```
//! (Inside tasks the free functions `task::spawn`, `task::sleep`, ... act on
//! the machine's scheduler.)

use std::boxed::Box;
use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Barrier, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};
use std::vec::Vec;

use super::{Platform, Scheduler};

std::thread_local! {
    /// The simulated CPU this thread is; `usize::MAX` for other threads.
    static CPU_ID: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// [`Platform`] over std threads: the CPU id is thread-local, an IPI is
/// `Thread::unpark` (sticky, like a pending LAPIC interrupt), halting is
/// `park`/`park_timeout` (which may return spuriously, as `idle` may), and
/// there are no interrupts to mask.
pub struct HostPlatform {
    epoch: Instant,
    cpus: Box<[OnceLock<Thread>]>,
}

impl HostPlatform {
    /// A machine with `ncpus` CPUs, none of them running yet.
    pub fn new(ncpus: usize) -> Self {
        Self {
            epoch: Instant::now(),
            cpus: (0..ncpus).map(|_| OnceLock::new()).collect(),
        }
    }

    /// Makes the calling thread CPU `cpu` of this machine. Call before the
    /// thread runs [`Scheduler::run`].
    ///
    /// # Panics
    /// If another thread already is that CPU.
    pub fn become_cpu(&self, cpu: usize) {
        CPU_ID.set(cpu);
        assert!(
            self.cpus[cpu].set(thread::current()).is_ok(),
            "CPU {cpu} already has a thread"
        );
    }
}

impl Platform for HostPlatform {
    fn cpu_id(&self) -> usize {
        CPU_ID.get()
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn wake_cpu(&self, cpu: usize) {
        // A CPU without a thread has not entered its loop yet, and will see
        // the work when it does.
        if let Some(thread) = self.cpus[cpu].get() {
            thread.unpark();
        }
    }

    fn without_interrupts(&self, f: &mut dyn FnMut()) {
        f();
    }

    fn idle(&self, deadline_ns: Option<u64>) {
        match deadline_ns {
            None => thread::park(),
            Some(deadline) => {
                let now = self.now_ns();
                if deadline > now {
                    thread::park_timeout(Duration::from_nanos(deadline - now));
                }
            }
        }
    }
}

/// A running simulated machine: a [`HostPlatform`], its [`Scheduler`] and
/// one thread per CPU running the executor loop. Dropping it shuts the
/// executors down and joins the threads. The platform and scheduler are
/// leaked (they must be `'static`, like the kernel's).
pub struct HostMachine {
    /// The machine's scheduler.
    pub scheduler: &'static Scheduler,
    /// The machine's platform.
    pub platform: &'static HostPlatform,
    threads: Vec<thread::JoinHandle<()>>,
}

impl HostMachine {
    /// Starts `ncpus` CPU threads, each running [`Scheduler::run`]; returns
    /// once all of them have registered as CPUs.
    pub fn start(ncpus: usize) -> Self {
        let platform: &'static HostPlatform = Box::leak(Box::new(HostPlatform::new(ncpus)));
        let scheduler: &'static Scheduler = Box::leak(Box::new(Scheduler::new(platform, ncpus)));
        let registered = Arc::new(Barrier::new(ncpus + 1));
        let threads = (0..ncpus)
            .map(|cpu| {
                let registered = registered.clone();
                thread::Builder::new()
                    .name(std::format!("cpu{cpu}"))
                    .spawn(move || {
                        platform.become_cpu(cpu);
                        registered.wait();
                        scheduler.run();
                    })
                    .expect("spawn a CPU thread")
            })
            .collect();
        registered.wait();
        Self {
            scheduler,
            platform,
            threads,
        }
    }

    /// Runs `fut` to completion on the calling (non-CPU) thread, parking
    /// between polls.
    ///
    /// # Panics
    /// If `fut` is not done within 60 s: a hung test fails instead of
    /// hanging (the bound is a watchdog, not a timing assertion).
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        block_on_timeout(fut, Duration::from_secs(60))
            .expect("block_on: not done within 60 s (lost wakeup?)")
    }

    /// Stops the executors and joins the CPU threads.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.scheduler.shutdown();
        for t in self.threads.drain(..) {
            // A CPU thread that panicked already failed the test.
            let _ = t.join();
        }
    }
}

impl Drop for HostMachine {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Wakes a parked std thread.
struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `fut` on the calling thread until it is ready or `timeout` passed
/// (then `None`).
pub fn block_on_timeout<F: Future>(fut: F, timeout: Duration) -> Option<F::Output> {
    let limit = Instant::now() + timeout;
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return Some(out);
        }
        let now = Instant::now();
        if now >= limit {
            return None;
        }
        thread::park_timeout(limit - now);
    }
}
