//! # Tasks: the per-CPU async executors, wakers and timers
//!
//! Every thread in Tine is an async task: a `Send + 'static` future, boxed
//! once when it is spawned. There is no per-thread kernel stack; each CPU
//! runs one executor loop ([`run_cpu`]) on its own per-CPU stack, and a
//! thread's state between two `.await`s is its future. See
//! `docs/executor.md` for the why.
//!
//! ## Key types
//! - [`Platform`]: the five things the executors need from the machine
//!   (CPU id, clock, IPI, interrupt masking, halt). The kernel implements it
//!   over `arch`; `host::HostPlatform` (host builds only) implements it with std threads so
//!   everything here runs under `cargo test`.
//! - [`Scheduler`]: the set of per-CPU executors of one machine. Each CPU
//!   has a run queue (a crossbeam `SegQueue`) and a queue of tasks pinned
//!   to it (never stolen), a timer heap, an idle flag and statistics
//!   ([`CpuStats`]). The kernel has exactly one, created by
//!   [`init`]; host tests create as many as they like (`host::HostMachine`, host builds only).
//! - A task (private `Task`) has a [`TaskId`], an optional name and a *home
//!   CPU*: a waker pushes the task onto its home CPU's run queue and sends
//!   that CPU an IPI if it is halted. An idle CPU steals from the other run
//!   queues; the thief becomes the stolen task's new home (the task
//!   migrates).
//! - [`JoinHandle<T>`]: a future for a task's result; dropping it detaches
//!   the task.
//! - [`Builder`]: spawn options (name, CPU, pinned).
//! - [`Event`]: a wait queue. [`Event::wait_until`] is the race-free way to
//!   block on a condition; [`Event::notify_one`] / [`Event::notify_all`]
//!   may be called from interrupt handlers.
//! - [`sleep`], [`sleep_until`] ([`Sleep`]): per-CPU timer heaps, fired by
//!   the executor loop; the earliest deadline is handed to
//!   [`Platform::idle`] so the CPU arms a one-shot timer.
//! - [`yield_now()`]: go to the back of the run queue.
//! - [`migrate()`]: move the current task to a CPU, pinned there or not
//!   (`sched_setaffinity`).
//!
//! ## The API the rest of the kernel uses
//! ```text
//! init(platform: &'static dyn Platform, ncpus: usize)      once, on the BSP
//! run_cpu() -> !                                           on every CPU, last
//! spawn(fut) -> JoinHandle<T>                              least-loaded CPU
//! spawn_on(cpu, fut) -> JoinHandle<T>
//! Builder::new().name("init").cpu(0).spawn(fut)
//! yield_now().await, sleep(Duration).await, sleep_until(ns).await,
//!     migrate(cpu, pinned).await
//! Event::new(), ev.wait().await, ev.wait_until(|| cond).await,
//!     ev.notify_one(), ev.notify_all()
//! stats(cpu) -> CpuStats, ncpus(), now_ns()
//! ```
//! The free functions act on the scheduler of the calling context: inside a
//! host-test executor thread that is the test's own [`Scheduler`], elsewhere
//! the global one made by [`init`]. Each has a method twin on [`Scheduler`].
//!
//! ## Interrupt context
//! Wakers ([`core::task::Waker::wake`]) and [`Event::notify_one`] /
//! [`Event::notify_all`] may run in interrupt handlers. Pushing onto a run
//! queue and taking an [`Event`]'s lock both happen with interrupts masked
//! on the current CPU ([`Platform::without_interrupts`]), so a handler can
//! never interrupt its own CPU in the middle of either. Waking may allocate
//! (a `SegQueue` block) and dropping a waker may free a task, so the global
//! allocator must be usable from interrupt handlers.
//!
//! ## Host tests
//! `CARGO_TARGET_DIR=target/h-exec cargo test -p kernel --lib task`; the
//! loom models of the two lock-free protocols of this module (task state,
//! idle flag) run with
//! `RUSTFLAGS="--cfg loom" cargo test -p kernel --release --lib loom`.

mod event;
mod executor;
mod haltpoll;
#[cfg(not(target_os = "none"))]
pub mod host;
mod idle;
mod join;
#[cfg(target_os = "none")]
mod ktests;
mod migrate;
mod state;
#[cfg(all(test, not(loom)))]
mod tests;
mod timer;
mod yield_now;

use conquer_once::spin::OnceCell;
use core::future::Future;

pub use event::{Event, Wait, WaitAny, WaitUntil, wait_any, wait_any_exclusive};
pub use executor::{Builder, CpuStats, Scheduler, TaskId, TaskRef, task_memory};
pub use haltpoll::IdlePoll;
pub use join::JoinHandle;
pub use migrate::Migrate;
pub use timer::Sleep;
pub use yield_now::YieldNow;

/// What the executors need from the machine. The kernel implements it over
/// `arch` (LAPIC IPIs, `sti; hlt`, the TSC-deadline timer);
/// `host::HostPlatform` (host builds only) implements it with std threads for tests.
///
/// # The lost-wakeup protocol
/// A CPU halts only through this sequence, with interrupts masked
/// (`without_interrupts`) from step 1 to step 3:
/// 1. set its "sleeping" flag (SeqCst store), then a SeqCst fence;
/// 2. re-check its run queue, the other CPUs' queues (work to steal), its
///    timers and the shutdown flag;
/// 3. only if all are empty, call [`Platform::idle`];
/// 4. clear the flag.
///
/// A waker first pushes the task onto the run queue, then issues a SeqCst
/// fence, then reads the home CPU's flag; if it is set, it clears it (one
/// waker per sleep wins the swap) and calls [`Platform::wake_cpu`]. The two
/// SeqCst fences are totally ordered: if the waker's comes first, the CPU's
/// re-check in step 2 sees the pushed task and does not halt; if the CPU's
/// comes first, the waker sees the flag and sends the IPI. Either way the
/// task runs. The IPI may arrive before the CPU reaches `hlt`; that is why
/// [`Platform::wake_cpu`] must be *sticky* (below).
pub trait Platform: Send + Sync + 'static {
    /// The executing CPU, `0..ncpus`. Threads that are not one of the
    /// machine's CPUs (only on the host: the test's own thread) return a
    /// value `>= ncpus`.
    fn cpu_id(&self) -> usize;

    /// Monotonic time in nanoseconds since an arbitrary epoch, the same on
    /// every CPU. Timer deadlines are in this time base.
    fn now_ns(&self) -> u64;

    /// Makes `cpu` return from [`Platform::idle`] (an IPI). Sticky: if `cpu`
    /// is not halted yet, its next `idle` call returns promptly (a LAPIC IPI
    /// stays pending while the target has interrupts masked, and `sti; hlt`
    /// takes it; on the host, `unpark` leaves a token for `park`). Callable
    /// from interrupt handlers.
    fn wake_cpu(&self, cpu: usize);

    /// Runs `f` with interrupts masked on this CPU and restores the previous
    /// state afterwards (nesting allowed). On the host: just calls `f`.
    fn without_interrupts(&self, f: &mut dyn FnMut());

    /// Called inside [`Platform::without_interrupts`], with this CPU's
    /// sleeping flag set and all work re-checked and found empty:
    /// atomically enable interrupts and halt (`sti; hlt`) until an interrupt
    /// arrives: an IPI, a device, or this CPU's one-shot timer, armed for
    /// `deadline_ns` (in [`Platform::now_ns`] time) when it is `Some`. May
    /// return spuriously; may return with interrupts enabled or masked.
    fn idle(&self, deadline_ns: Option<u64>);
}

/// The kernel's scheduler, made once by [`init`].
static SCHEDULER: OnceCell<Scheduler> = OnceCell::uninit();

/// Creates the kernel's executors, one per CPU. Call once on the boot CPU
/// before any [`spawn`]; later calls do nothing.
pub fn init(platform: &'static dyn Platform, ncpus: usize) {
    SCHEDULER.init_once(|| Scheduler::new(platform, ncpus));
}

/// The scheduler of the calling context: the host test's own when called on
/// one of its executor threads, else the kernel's global one.
///
/// # Panics
/// If neither exists ([`init`] has not run).
pub fn scheduler() -> &'static Scheduler {
    #[cfg(not(target_os = "none"))]
    if let Some(sched) = executor::host_current() {
        return sched;
    }
    SCHEDULER.get().expect("task::init has not run")
}

/// Runs this CPU's executor loop, forever. Every CPU calls it last, after
/// its own setup (the BSP after spawning init, each AP once started). If the
/// scheduler is shut down ([`Scheduler::shutdown`]), the CPU halts for good.
pub fn run_cpu() -> ! {
    let sched = scheduler();
    sched.run();
    loop {
        sched.platform().idle(None);
    }
}

/// Spawns `fut` as a new task on the least-loaded CPU.
pub fn spawn<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    scheduler().spawn(fut)
}

/// Spawns `fut` as a new task whose home is `cpu` (it may still be stolen).
pub fn spawn_on<F>(cpu: usize, fut: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    scheduler().spawn_on(cpu, fut)
}

/// Runs `wake` so that the tasks it wakes run next on their home CPUs
/// ([`Scheduler::wake_first`]).
pub fn wake_first<R>(wake: impl FnOnce() -> R) -> R {
    scheduler().wake_first(wake)
}

/// Yields to the other tasks of this CPU: the task goes to the back of the
/// run queue.
pub fn yield_now() -> YieldNow {
    YieldNow::new()
}

/// Moves the calling task to `cpu` (`< ncpus()`) and, if `pinned`, keeps
/// it there (no CPU steals it) until the next migration; with `pinned`
/// false it is free to be stolen again. Completes on the new CPU (or, not
/// pinned, wherever it was stolen to).
///
/// # Panics
/// If `cpu` is not one of the scheduler's CPUs.
pub fn migrate(cpu: usize, pinned: bool) -> Migrate {
    assert!(cpu < ncpus(), "migrate to CPU {cpu}: no such CPU");
    Migrate::new(cpu, pinned)
}

/// Completes after `duration` (never earlier).
pub fn sleep(duration: core::time::Duration) -> Sleep {
    scheduler().sleep(duration)
}

/// Completes when [`now_ns`] reaches `deadline_ns` (never earlier).
pub fn sleep_until(deadline_ns: u64) -> Sleep {
    scheduler().sleep_until(deadline_ns)
}

/// The scheduler's monotonic clock, in nanoseconds.
pub fn now_ns() -> u64 {
    scheduler().now_ns()
}

/// Number of CPUs (executors).
pub fn ncpus() -> usize {
    scheduler().ncpus()
}

/// Statistics of `cpu`'s executor.
pub fn stats(cpu: usize) -> CpuStats {
    scheduler().stats(cpu)
}

/// Runs `f` with interrupts masked on this CPU through the kernel's
/// [`Platform`]; before [`init`] (no interrupt handler is installed yet)
/// and on the host it just calls `f`. Used by [`Event`], which has no
/// scheduler of its own.
pub(crate) fn without_interrupts<R>(f: impl FnOnce() -> R) -> R {
    match SCHEDULER.get() {
        Some(sched) => sched.without_interrupts(f),
        None => f(),
    }
}
