//! The per-CPU executors: [`Scheduler`] (all CPUs of one machine), the
//! private `Executor` (one CPU) and `Task`, spawning and the executor loop.

use alloc::boxed::Box;
use alloc::sync::{Arc, Weak};
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use core::task::Context;
use core::time::Duration;
use crossbeam_queue::SegQueue;
use futures_util::task::{ArcWake, waker_ref};

use super::Platform;
use super::haltpoll::{IdlePoll, PollChoice, Waited};
use super::idle::IdleFlag;
use super::join::{JoinHandle, JoinState};
use super::state::TaskState;
use super::timer::{Sleep, TimerQueue};

/// A task's id, unique within its [`Scheduler`], never 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(u64);

impl TaskId {
    /// The raw number.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task#{}", self.0)
    }
}

/// A task's future, boxed once at spawn. Its output is delivered to the
/// [`JoinHandle`] by the wrapper made in `Scheduler::spawn_task`.
type TaskFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A spawned future and its scheduling state. Shared (`Arc`) by the run
/// queue it sits in and by its wakers.
pub(crate) struct Task {
    id: TaskId,
    name: Option<Arc<str>>,
    /// The CPU whose run queue wakers push onto. Written only by the CPU
    /// that holds the task popped (a thief, on migration); read by wakers
    /// with Relaxed: a waker that reads the old home pushes there, and that
    /// CPU runs (or someone steals) the task, which is just as correct.
    /// 32 bits: with `bytes` beside it, a task is 72 bytes, not 80 (every
    /// user thread has one).
    home: AtomicU32,
    /// Never stolen: the task always runs on its home CPU (user threads
    /// with an affinity of one CPU; benchmarks that measure one CPU).
    /// Written, like `home`, only by the CPU that holds the task popped
    /// (a migration, [`super::migrate()`]); Relaxed for the same reason.
    pinned: AtomicBool,
    state: TaskState,
    /// Plain spin lock, never contended: [`TaskState`] lets one CPU at a
    /// time poll the task, and the lock only gives that CPU `&mut`. Never
    /// taken in interrupt context. `None` once the future completed.
    future: spin::Mutex<Option<TaskFuture>>,
    sched: &'static Scheduler,
    /// Heap bytes this task took at spawn (itself, its future, its join
    /// state), for [`task_memory`].
    bytes: u32,
}

impl Task {
    /// The CPU whose run queue wakers push onto (Relaxed: see `home`).
    fn home(&self) -> usize {
        self.home.load(Ordering::Relaxed) as usize
    }

    /// Makes `cpu` the home; returns the old one. Only by the CPU that
    /// holds the task popped.
    fn move_home(&self, cpu: usize) -> usize {
        self.home.swap(cpu as u32, Ordering::Relaxed) as usize
    }
}

/// Live tasks and the heap bytes they took at spawn (`mem`).
static TASKS_LIVE: AtomicUsize = AtomicUsize::new(0);
static TASK_BYTES: AtomicUsize = AtomicUsize::new(0);

/// How many tasks exist (spawned, not yet freed) and the heap bytes they
/// took at spawn: the task, its boxed future, its join state.
pub fn task_memory() -> (usize, usize) {
    (
        TASKS_LIVE.load(Ordering::Relaxed),
        TASK_BYTES.load(Ordering::Relaxed),
    )
}

impl Drop for Task {
    fn drop(&mut self) {
        // Relaxed: statistics.
        TASKS_LIVE.fetch_sub(1, Ordering::Relaxed);
        TASK_BYTES.fetch_sub(self.bytes as usize, Ordering::Relaxed);
    }
}

impl ArcWake for Task {
    fn wake(self: Arc<Self>) {
        if self.state.wake() {
            let sched = self.sched;
            sched.enqueue(self);
        }
    }

    fn wake_by_ref(arc_self: &Arc<Self>) {
        if arc_self.state.wake() {
            arc_self.sched.enqueue(arc_self.clone());
        }
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("home", &self.home())
            .finish()
    }
}

/// A weak reference to a task, to ask how it is scheduled without keeping
/// it alive (a process's threads keep one each for `ps`).
#[derive(Clone, Default)]
pub struct TaskRef(Weak<Task>);

impl TaskRef {
    /// Whether the task still exists (its future has not completed, or a
    /// queue or waker still holds it).
    pub fn is_alive(&self) -> bool {
        self.0.strong_count() > 0
    }

    /// Whether the task is parked: alive, not queued, not being polled
    /// (a blocked thread). A snapshot for reports.
    pub fn is_parked(&self) -> bool {
        self.0.upgrade().is_some_and(|t| t.state.is_parked())
    }
}

impl fmt::Debug for TaskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.upgrade() {
            Some(task) => write!(f, "TaskRef({})", task.id),
            None => f.write_str("TaskRef(gone)"),
        }
    }
}

/// A CPU's queue of ready tasks: multi-producer (wakers on any CPU and in
/// interrupt handlers), multi-consumer (its own executor and thieves).
///
/// Every push runs with interrupts masked on the pushing CPU
/// (`Scheduler::enqueue`): `SegQueue::push` is lock-free across CPUs but
/// not reentrant. Between claiming the last slot of a block and installing
/// the next block, other pushers spin; an interrupt handler pushing onto the
/// same queue on the same CPU in that window would spin forever.
type RunQueue = SegQueue<Arc<Task>>;

/// `Executor::migrate` when no migration is asked for.
const NO_MIGRATION: usize = usize::MAX;
/// The bit of `Executor::migrate` that pins the task at its new home.
const MIGRATE_PINNED: usize = 1 << (usize::BITS - 2);

/// What one CPU is polling, for debuggers: plain words at a fixed symbol
/// (`kernel::task::executor::ON_CPU`), which `cargo xtask gdb`'s
/// `tine-tasks` command reads while the machine is stopped. Written by the
/// kernel's executors around every poll (not by host tests, whose
/// schedulers share CPU numbers).
#[repr(C)]
pub struct OnCpu {
    /// The id of the task being polled, 0 when none is.
    pub task: AtomicU64,
    /// The address of the task's name (UTF-8), 0 when it has none; valid
    /// while `task` is not 0 (the task is alive while it is polled).
    pub name_ptr: AtomicUsize,
    /// The length of the name in bytes.
    pub name_len: AtomicUsize,
}

/// [`OnCpu`] for each CPU, by index.
pub static ON_CPU: [OnCpu; arch::smp::MAX_CPUS] = [const {
    OnCpu {
        task: AtomicU64::new(0),
        name_ptr: AtomicUsize::new(0),
        name_len: AtomicUsize::new(0),
    }
}; arch::smp::MAX_CPUS];

impl OnCpu {
    /// Records that this CPU polls `task` (or, with `None`, nothing).
    /// Relaxed: only a debugger reads it, with every CPU stopped.
    fn set(&self, task: Option<&Task>) {
        if cfg!(not(target_os = "none")) {
            return;
        }
        let (id, name) = task.map_or((0, ""), |t| (t.id.0, t.name.as_deref().unwrap_or("")));
        self.name_ptr
            .store(name.as_ptr() as usize, Ordering::Relaxed);
        self.name_len.store(name.len(), Ordering::Relaxed);
        self.task.store(id, Ordering::Relaxed);
    }
}

/// One CPU's executor state.
pub(crate) struct Executor {
    run_queue: RunQueue,
    /// Ready tasks that must run on this CPU: thieves never look here.
    pinned_queue: RunQueue,
    pub(crate) timers: TimerQueue,
    idle: IdleFlag,
    /// A migration the task being polled asked for ([`super::migrate()`]):
    /// [`NO_MIGRATION`], or the target CPU with [`MIGRATE_PINNED`]. Only
    /// this CPU writes and reads it (during and right after a poll), so
    /// Relaxed is enough.
    migrate: AtomicUsize,
    /// Tasks whose home is this CPU and that have not completed: the load
    /// measure for [`Scheduler::spawn`].
    live: AtomicUsize,
    /// Set while this CPU runs [`Scheduler::wake_first`]'s wake-ups: the
    /// tasks they wake go to their home's pinned queue, which its
    /// executor polls first. Only this CPU writes it (Relaxed).
    urgent: AtomicBool,
    /// This CPU's adaptive choice between polling and halting
    /// ([`PollChoice`]): its two averages and its idle count. Only this CPU
    /// reads and writes them (Relaxed).
    poll_avg_ns: AtomicU64,
    halt_avg_ns: AtomicU64,
    caught: AtomicU32,
    idles: AtomicU32,
    // Statistics, all Relaxed counters: read only as a snapshot.
    spawned: AtomicU64,
    completed: AtomicU64,
    stolen: AtomicU64,
    polls: AtomicU64,
    ipis: AtomicU64,
    polls_caught: AtomicU64,
    polls_expired: AtomicU64,
    halts_unpolled: AtomicU64,
}

impl Executor {
    fn new() -> Self {
        Self {
            run_queue: SegQueue::new(),
            pinned_queue: SegQueue::new(),
            timers: TimerQueue::new(),
            idle: IdleFlag::new(),
            migrate: AtomicUsize::new(NO_MIGRATION),
            live: AtomicUsize::new(0),
            urgent: AtomicBool::new(false),
            poll_avg_ns: AtomicU64::new(PollChoice::default().poll_avg_ns),
            halt_avg_ns: AtomicU64::new(PollChoice::default().halt_avg_ns),
            caught: AtomicU32::new(PollChoice::default().caught),
            idles: AtomicU32::new(0),
            spawned: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            stolen: AtomicU64::new(0),
            polls: AtomicU64::new(0),
            ipis: AtomicU64::new(0),
            polls_caught: AtomicU64::new(0),
            polls_expired: AtomicU64::new(0),
            halts_unpolled: AtomicU64::new(0),
        }
    }

    /// Runs `f` on this CPU's [`PollChoice`] (this CPU only).
    fn update_poll_choice<R>(&self, f: impl FnOnce(&mut PollChoice) -> R) -> R {
        let mut c = PollChoice {
            poll_avg_ns: self.poll_avg_ns.load(Ordering::Relaxed),
            halt_avg_ns: self.halt_avg_ns.load(Ordering::Relaxed),
            caught: self.caught.load(Ordering::Relaxed),
            idles: self.idles.load(Ordering::Relaxed),
        };
        let out = f(&mut c);
        self.poll_avg_ns.store(c.poll_avg_ns, Ordering::Relaxed);
        self.halt_avg_ns.store(c.halt_avg_ns, Ordering::Relaxed);
        self.caught.store(c.caught, Ordering::Relaxed);
        self.idles.store(c.idles, Ordering::Relaxed);
        out
    }
}

/// Adds one to a counter only this CPU writes: a load and a store, no RMW.
fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// A snapshot of one CPU's executor statistics (for tests and benchmarks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuStats {
    /// Tasks spawned with this CPU as their first home.
    pub spawned: u64,
    /// Tasks that completed on this CPU.
    pub completed: u64,
    /// Tasks this CPU stole from other CPUs' run queues.
    pub stolen: u64,
    /// Polls run on this CPU.
    pub polls: u64,
    /// Wake-up IPIs sent to this CPU (one per halt at most).
    pub ipis: u64,
    /// Tasks in this CPU's run queue now.
    pub queued: usize,
    /// Live (not yet completed) tasks whose home is this CPU.
    pub live: usize,
    /// Timers armed on this CPU (including stale entries).
    pub timers: usize,
    /// Whether the CPU is halted (or about to) now.
    pub idle: bool,
    /// Idle polls that found work before their window ended.
    pub polls_caught: u64,
    /// Idle polls that ran their whole window and found none.
    pub polls_expired: u64,
    /// Idle periods that halted without polling.
    pub halts_unpolled: u64,
    /// The adaptive policy's moving averages of the idle periods that
    /// began with a poll and of those that halted at once, ns.
    pub poll_avg_ns: u64,
    pub halt_avg_ns: u64,
}

/// Spawn options: a name and a CPU.
#[derive(Clone, Debug, Default)]
pub struct Builder {
    name: Option<Arc<str>>,
    cpu: Option<usize>,
    pinned: bool,
}

impl Builder {
    /// No name, least-loaded CPU.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the task (for debugging output). An `Arc<str>` is shared,
    /// not copied (a thread's task takes its process's name so).
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Makes `cpu` the task's first home instead of the least-loaded CPU.
    pub fn cpu(mut self, cpu: usize) -> Self {
        self.cpu = Some(cpu);
        self
    }

    /// Pins the task to its home CPU (the one given to [`Builder::cpu`], else
    /// the least-loaded one): idle CPUs never steal it.
    pub fn pinned(mut self) -> Self {
        self.pinned = true;
        self
    }

    /// Spawns on the scheduler of the calling context ([`super::scheduler`]).
    pub fn spawn<F>(self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_in(super::scheduler(), fut)
    }

    /// Spawns `fut` detached on the calling context's scheduler: no join
    /// state is made (one allocation fewer than [`Builder::spawn`]); the
    /// returned reference says whether the task is alive or parked. What
    /// a user thread's task is (its process's state says when it ends).
    pub fn spawn_detached<F>(self, fut: F) -> TaskRef
    where
        F: Future<Output = ()> + Send + 'static,
    {
        super::scheduler().spawn_boxed(self, Box::pin(fut), 0)
    }

    /// Spawns on `sched`.
    pub fn spawn_in<F>(self, sched: &'static Scheduler, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        sched.spawn_task(self, fut)
    }
}

/// The executors of one machine, one per CPU.
pub struct Scheduler {
    platform: &'static dyn Platform,
    executors: Box<[Executor]>,
    next_task_id: AtomicU64,
    /// Rotating start for the least-loaded search from non-CPU threads.
    spawn_cursor: AtomicUsize,
    /// A halted CPU was woken to steal and has not woken up yet.
    thief_pending: AtomicBool,
    /// How idle CPUs wait ([`IdlePoll`]): adaptively or not, and the
    /// polling window in ns. Set at boot ([`Scheduler::set_idle_poll`]);
    /// Relaxed.
    poll_adaptive: AtomicBool,
    poll_ns: AtomicU64,
    shutdown: AtomicBool,
}

#[cfg(not(target_os = "none"))]
std::thread_local! {
    /// Host only: the scheduler whose executor loop runs on this thread, so
    /// the free functions (`task::spawn`, `task::sleep`) find a test's own
    /// scheduler. In the kernel there is only the global one.
    static CURRENT: core::cell::Cell<Option<&'static Scheduler>> =
        const { core::cell::Cell::new(None) };
}

/// Host only: the scheduler running on this thread, if any.
#[cfg(not(target_os = "none"))]
pub(crate) fn host_current() -> Option<&'static Scheduler> {
    CURRENT.with(core::cell::Cell::get)
}

impl Scheduler {
    /// Executors for CPUs `0..ncpus` of `platform`. Nothing runs until each
    /// CPU calls [`Scheduler::run`].
    pub fn new(platform: &'static dyn Platform, ncpus: usize) -> Self {
        assert!(ncpus > 0, "a machine needs at least one CPU");
        Self {
            platform,
            executors: (0..ncpus).map(|_| Executor::new()).collect(),
            next_task_id: AtomicU64::new(1),
            spawn_cursor: AtomicUsize::new(0),
            thief_pending: AtomicBool::new(false),
            poll_adaptive: AtomicBool::new(matches!(IdlePoll::DEFAULT, IdlePoll::Adaptive(_))),
            poll_ns: AtomicU64::new(IdlePoll::DEFAULT.window_ns()),
            shutdown: AtomicBool::new(false),
        }
    }

    /// Sets how idle CPUs wait for work (the `idle_poll=` boot option;
    /// [`IdlePoll::DEFAULT`] until then).
    pub fn set_idle_poll(&self, policy: IdlePoll) {
        self.poll_ns.store(policy.window_ns(), Ordering::Relaxed);
        self.poll_adaptive
            .store(matches!(policy, IdlePoll::Adaptive(_)), Ordering::Relaxed);
    }

    /// How idle CPUs wait for work.
    pub fn idle_poll(&self) -> IdlePoll {
        let ns = self.poll_ns.load(Ordering::Relaxed);
        if self.poll_adaptive.load(Ordering::Relaxed) {
            IdlePoll::Adaptive(ns)
        } else {
            IdlePoll::Fixed(ns)
        }
    }

    /// Number of CPUs.
    pub fn ncpus(&self) -> usize {
        self.executors.len()
    }

    /// The machine.
    pub fn platform(&self) -> &'static dyn Platform {
        self.platform
    }

    /// The monotonic clock, in nanoseconds.
    pub fn now_ns(&self) -> u64 {
        self.platform.now_ns()
    }

    /// The calling CPU, if the caller runs on one of this machine's CPUs.
    pub fn current_cpu(&self) -> Option<usize> {
        let cpu = self.platform.cpu_id();
        (cpu < self.ncpus()).then_some(cpu)
    }

    pub(crate) fn local_executor(&self) -> Option<&Executor> {
        self.current_cpu().map(|cpu| &self.executors[cpu])
    }

    /// `f` with interrupts masked on this CPU (see
    /// [`Platform::without_interrupts`]), returning its result.
    pub fn without_interrupts<R>(&self, f: impl FnOnce() -> R) -> R {
        let mut f = Some(f);
        let mut result = None;
        self.platform.without_interrupts(&mut || {
            if let Some(f) = f.take() {
                result = Some(f());
            }
        });
        result.expect("Platform::without_interrupts did not call its closure")
    }

    /// Spawns `fut` on the least-loaded CPU.
    pub fn spawn<F>(&'static self, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_task(Builder::new(), fut)
    }

    /// Spawns `fut` with `cpu` as its home.
    pub fn spawn_on<F>(&'static self, cpu: usize, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_task(Builder::new().cpu(cpu), fut)
    }

    /// A future that completes after `duration`.
    pub fn sleep(&'static self, duration: Duration) -> Sleep {
        let ns = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        self.sleep_until(self.now_ns().saturating_add(ns))
    }

    /// A future that completes when [`Scheduler::now_ns`] reaches
    /// `deadline_ns`.
    pub fn sleep_until(&'static self, deadline_ns: u64) -> Sleep {
        Sleep::new(self, deadline_ns)
    }

    fn spawn_task<F>(&'static self, builder: Builder, fut: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let join = Arc::new(JoinState::new());
        let result = join.clone();
        let future: TaskFuture = Box::pin(async move {
            result.finish(fut.await);
        });
        // An Arc header is two words.
        let join_bytes = core::mem::size_of_val(&*join) + 2 * core::mem::size_of::<usize>();
        let (id, task_ref) = self.spawn_boxed_id(builder, future, join_bytes);
        JoinHandle::new(id, join, task_ref)
    }

    /// Spawns a boxed `future` with no join state ([`Builder::spawn_detached`]);
    /// `extra_bytes` of heap besides the task and the box are counted with it.
    fn spawn_boxed(
        &'static self,
        builder: Builder,
        future: TaskFuture,
        extra_bytes: usize,
    ) -> TaskRef {
        self.spawn_boxed_id(builder, future, extra_bytes).1
    }

    /// [`Self::spawn_boxed`], also returning the new task's id.
    fn spawn_boxed_id(
        &'static self,
        builder: Builder,
        future: TaskFuture,
        extra_bytes: usize,
    ) -> (TaskId, TaskRef) {
        let home = match builder.cpu {
            Some(cpu) => {
                assert!(cpu < self.ncpus(), "spawn on CPU {cpu}: no such CPU");
                cpu
            }
            None => self.least_loaded_cpu(),
        };
        // Relaxed: ids need only be unique.
        let id = TaskId(self.next_task_id.fetch_add(1, Ordering::Relaxed));
        // An Arc header is two words.
        let bytes = core::mem::size_of_val(&*future)
            + core::mem::size_of::<Task>()
            + 2 * core::mem::size_of::<usize>()
            + extra_bytes;
        let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
        TASKS_LIVE.fetch_add(1, Ordering::Relaxed);
        TASK_BYTES.fetch_add(bytes as usize, Ordering::Relaxed);
        let task = Arc::new(Task {
            id,
            name: builder.name,
            home: AtomicU32::new(home as u32),
            pinned: AtomicBool::new(builder.pinned),
            state: TaskState::new_queued(),
            // The one allocation of the future: the caller's future and the
            // delivery of its output, in one box.
            future: spin::Mutex::new(Some(future)),
            sched: self,
            bytes,
        });
        let ex = &self.executors[home];
        // Relaxed counters: `live` is a load estimate; its decrement happens
        // after the task is popped, which happens after this (the push).
        ex.live.fetch_add(1, Ordering::Relaxed);
        ex.spawned.fetch_add(1, Ordering::Relaxed);
        log::trace!("spawn {id} {:?} on cpu {home}", task.name);
        let task_ref = TaskRef(Arc::downgrade(&task));
        self.enqueue(task);
        (id, task_ref)
    }

    /// The CPU with the fewest live tasks. Ties go to the calling CPU (the
    /// new task shares its caches) or, from a non-CPU thread, rotate.
    fn least_loaded_cpu(&self) -> usize {
        let n = self.ncpus();
        let start = self.current_cpu().unwrap_or_else(|| {
            // Relaxed: a hint for spreading ties.
            self.spawn_cursor.fetch_add(1, Ordering::Relaxed) % n
        });
        (0..n)
            .map(|i| (start + i) % n)
            .min_by_key(|&cpu| self.executors[cpu].live.load(Ordering::Relaxed))
            .unwrap_or(start)
    }

    /// Puts a ready task onto its home CPU's run queue and makes sure some
    /// CPU will run it: the home CPU gets an IPI if it is halted; if it is
    /// busy and has a backlog, a halted CPU gets one to come and steal.
    /// Callable from interrupt handlers.
    fn enqueue(&self, task: Arc<Task>) {
        let home = task.home();
        let ex = &self.executors[home];
        // Interrupts masked: see `RunQueue` (SegQueue::push is not
        // reentrant on one CPU). A task woken by `wake_first` goes ahead
        // of the run queue, as a pinned one does (and like one, it is not
        // stolen this time).
        let pinned = task.pinned.load(Ordering::Relaxed)
            || self
                .current_cpu()
                .is_some_and(|cpu| self.executors[cpu].urgent.load(Ordering::Relaxed));
        self.without_interrupts(|| {
            if pinned {
                ex.pinned_queue.push(task)
            } else {
                ex.run_queue.push(task)
            }
        });
        // A waker on the home CPU itself is either a task running there (so
        // the CPU is not halted) or an interrupt handler that ended its
        // `hlt` (interrupts are masked from `announce` to the `sti; hlt`,
        // and the idle loop re-checks the queues before halting again):
        // neither needs the fence or an IPI. The flag is cleared by the
        // idle loop itself.
        if self.platform.cpu_id() == home {
            if !pinned {
                self.wake_thief(home);
            }
            return;
        }
        // After the push, the waker's half of the lost-wakeup protocol.
        if ex.idle.claim_wakeup() {
            ex.ipis.fetch_add(1, Ordering::Relaxed);
            self.platform.wake_cpu(home);
        } else if !pinned {
            self.wake_thief(home);
        }
    }

    /// The home CPU is busy (polling): wake one halted CPU, if any, to come
    /// and steal, so a task does not wait behind a long poll (a user thread
    /// runs until its timeslice ends) while a CPU idles. Only a latency
    /// policy: the busy home CPU runs the task anyway, since it checks its
    /// queue before it halts. At most one kicked thief is in flight
    /// (`thief_pending`), so a burst of wakes costs one IPI, not one each.
    fn wake_thief(&self, busy: usize) {
        // Relaxed throughout: a heuristic, no data is published through it.
        if self.thief_pending.load(Ordering::Relaxed) {
            return;
        }
        for (cpu, ex) in self.executors.iter().enumerate() {
            // `is_sleeping` is a cheap filter (per-CPU lines, read-shared);
            // `claim_wakeup` decides.
            if cpu == busy || !ex.idle.is_sleeping() {
                continue;
            }
            if self.thief_pending.swap(true, Ordering::Relaxed) {
                return; // another waker is kicking one
            }
            if ex.idle.claim_wakeup() {
                ex.ipis.fetch_add(1, Ordering::Relaxed);
                if self.platform.cpu_id() != cpu {
                    self.platform.wake_cpu(cpu);
                }
                return;
            }
            self.thief_pending.store(false, Ordering::Relaxed);
        }
    }

    /// Runs `wake` (calls that wake tasks, on this CPU, without waiting)
    /// so that each task it wakes runs next on its home CPU, ahead of that
    /// CPU's run queue: a parent woken by its child's exit, which would
    /// otherwise wait behind every other exiting child queued there. Off
    /// a CPU (host threads outside an executor), just runs `wake`.
    pub fn wake_first<R>(&self, wake: impl FnOnce() -> R) -> R {
        let Some(cpu) = self.current_cpu() else {
            return wake();
        };
        let urgent = &self.executors[cpu].urgent;
        urgent.store(true, Ordering::Relaxed);
        let out = wake();
        urgent.store(false, Ordering::Relaxed);
        out
    }

    /// Runs the calling CPU's executor loop until [`Scheduler::shutdown`]:
    /// fire due timers, run one task from the local queue, else steal one,
    /// else halt.
    ///
    /// # Panics
    /// If the calling thread is not one of the machine's CPUs.
    pub fn run(&'static self) {
        let cpu = self
            .current_cpu()
            .expect("Scheduler::run on a thread that is not a CPU");
        #[cfg(not(target_os = "none"))]
        let _current = {
            struct Reset;
            impl Drop for Reset {
                fn drop(&mut self) {
                    CURRENT.set(None);
                }
            }
            CURRENT.set(Some(self));
            Reset
        };
        let ex = &self.executors[cpu];
        log::debug!("cpu {cpu}: executor running");
        // Acquire: pairs with the Release in `shutdown`.
        while !self.shutdown.load(Ordering::Acquire) {
            // The clock is read only when a timer is armed: most loop
            // turns have none, and a TSC read is not free under emulation.
            if ex.timers.next_deadline().is_some() {
                ex.timers.fire_due(self.now_ns());
            }
            if let Some(task) = ex.pinned_queue.pop().or_else(|| ex.run_queue.pop()) {
                self.poll_task(cpu, task);
            } else if let Some(task) = self.steal(cpu) {
                self.poll_task(cpu, task);
            } else {
                self.wait_for_work(cpu);
            }
        }
        log::debug!("cpu {cpu}: executor stopped");
    }

    /// No work anywhere: poll for some (halt-polling) and, if none comes,
    /// halt. Whether to poll is the [`IdlePoll`] policy's; the adaptive one
    /// times this idle period for its next choice ([`PollChoice`]).
    fn wait_for_work(&self, cpu: usize) {
        let ex = &self.executors[cpu];
        let window = self.poll_ns.load(Ordering::Relaxed);
        if !self.poll_adaptive.load(Ordering::Relaxed) {
            if window == 0 || !self.poll_before_halt(cpu, window) {
                self.idle(cpu);
            }
            return;
        }
        let start = self.now_ns();
        let poll = window > 0 && ex.update_poll_choice(PollChoice::choose);
        if !poll {
            bump(&ex.halts_unpolled);
        }
        let waited = match poll {
            false => Waited::Halted,
            true if self.poll_before_halt(cpu, window) => Waited::Caught,
            true => Waited::Expired,
        };
        if waited != Waited::Caught {
            self.idle(cpu);
        }
        let idle_ns = self.now_ns().saturating_sub(start);
        ex.update_poll_choice(|c| c.record(waited, idle_ns));
    }

    /// Halt-polling: watch for work for up to `window_ns` before halting. A
    /// CPU that has not announced itself as sleeping gets no IPI: the
    /// waker's push is seen here. Waking a halted CPU costs tens of µs under
    /// QEMU (the vCPU's host thread must be woken), and a CPU that ran out
    /// of work is often given some again at once (request and reply).
    /// Returns whether work came.
    fn poll_before_halt(&self, cpu: usize, window_ns: u64) -> bool {
        let ex = &self.executors[cpu];
        let until = self.now_ns().saturating_add(window_ns);
        loop {
            let timer_due = ex
                .timers
                .next_deadline()
                .is_some_and(|d| d <= self.now_ns());
            if timer_due
                || !ex.pinned_queue.is_empty()
                || self.executors.iter().any(|other| !other.run_queue.is_empty())
                // Acquire: pairs with the Release in `shutdown`.
                || self.shutdown.load(Ordering::Acquire)
            {
                bump(&ex.polls_caught);
                return true;
            }
            if self.now_ns() >= until {
                bump(&ex.polls_expired);
                return false;
            }
            core::hint::spin_loop();
        }
    }

    /// Polls a task popped from a run queue, on `cpu`.
    fn poll_task(&self, cpu: usize, task: Arc<Task>) {
        let ex = &self.executors[cpu];
        // Single writer (this CPU): a load and a store, no RMW.
        ex.polls
            .store(ex.polls.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        task.state.start_poll();
        let on_cpu = ON_CPU.get(cpu);
        if let Some(on_cpu) = on_cpu {
            on_cpu.set(Some(&task));
        }
        let ready = {
            let waker = waker_ref(&task);
            let mut cx = Context::from_waker(&waker);
            let mut slot = task
                .future
                .try_lock()
                .expect("a task is polled by one CPU at a time");
            let ready = match slot.as_mut() {
                Some(fut) => fut.as_mut().poll(&mut cx).is_ready(),
                None => true,
            };
            if ready {
                // Drop the future (and all it owns) now, not when the last
                // waker goes away; before `release_fpu`, so that an ended
                // thread's FPU state is not saved into a context that is
                // gone (`release_fpu` skips an area nothing else refers to).
                *slot = None;
            }
            // A thread's x87/SSE registers stay in the CPU while its poll
            // lasts (`arch::user::FpuSlot`): into its context before any
            // other task runs here or it moves.
            #[cfg(target_os = "none")]
            arch::user::release_fpu();
            ready
        };
        if let Some(on_cpu) = on_cpu {
            on_cpu.set(None);
        }
        // Relaxed: this CPU's own slot (see `Executor::migrate`).
        if ex.migrate.load(Ordering::Relaxed) != NO_MIGRATION {
            let request = ex.migrate.swap(NO_MIGRATION, Ordering::Relaxed);
            if !ready {
                self.move_task(&task, request);
            }
        }
        if ready {
            task.state.finish();
            ex.completed
                .store(ex.completed.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            let home = task.home();
            self.executors[home].live.fetch_sub(1, Ordering::Relaxed);
        } else if task.state.end_poll_pending() {
            // Woken during its own poll (yield_now, or a wake from another
            // CPU): back to the tail of its home queue.
            self.enqueue(task);
        }
    }

    /// Carries out a migration request (`Executor::migrate`) for `task`,
    /// which this CPU holds popped: its new home and pinning take effect
    /// when it is re-queued (it woke itself during the poll).
    fn move_task(&self, task: &Task, request: usize) {
        let target = request & !MIGRATE_PINNED;
        if target >= self.ncpus() {
            return;
        }
        // We hold the popped task, so no one else writes `home`/`pinned`.
        let old = task.move_home(target);
        if old != target {
            self.executors[old].live.fetch_sub(1, Ordering::Relaxed);
            self.executors[target].live.fetch_add(1, Ordering::Relaxed);
        }
        task.pinned
            .store(request & MIGRATE_PINNED != 0, Ordering::Relaxed);
        log::trace!("{} moves from cpu {old} to cpu {target}", task.id);
    }

    /// Asks the executor of the calling CPU to move the task it is polling
    /// to `cpu` (pinned there, or free to be stolen) when the poll returns
    /// pending; see [`super::migrate()`]. Returns whether the calling thread
    /// is one of this scheduler's CPUs (if not, nothing will happen).
    pub(crate) fn request_migration(&self, cpu: usize, pinned: bool) -> bool {
        let Some(here) = self.current_cpu() else {
            return false;
        };
        let request = cpu | if pinned { MIGRATE_PINNED } else { 0 };
        self.executors[here]
            .migrate
            .store(request, Ordering::Relaxed);
        true
    }

    /// Takes one task from another CPU's run queue, scanning from the next
    /// CPU up. The thief becomes the task's home: its later wakes come here.
    fn steal(&self, thief: usize) -> Option<Arc<Task>> {
        let n = self.ncpus();
        (1..n).find_map(|i| {
            let victim = (thief + i) % n;
            let task = self.executors[victim].run_queue.pop()?;
            // We hold the popped task, so no one else writes `home`.
            let old = task.move_home(thief);
            if old != thief {
                self.executors[old].live.fetch_sub(1, Ordering::Relaxed);
                self.executors[thief].live.fetch_add(1, Ordering::Relaxed);
            }
            self.executors[thief].stolen.fetch_add(1, Ordering::Relaxed);
            log::trace!("cpu {thief} stole {} from cpu {victim}", task.id);
            Some(task)
        })
    }

    /// The executor's half of the lost-wakeup protocol: announce, re-check
    /// everything that could give this CPU work, halt only if nothing.
    fn idle(&self, cpu: usize) {
        let ex = &self.executors[cpu];
        // Interrupts masked from `announce` to the `sti; hlt` in
        // `Platform::idle`, so no interrupt handler on this CPU can slip a
        // wake in between the re-check and the halt.
        self.without_interrupts(|| {
            ex.idle.announce();
            let deadline = ex.timers.next_deadline();
            let timer_due = deadline.is_some_and(|d| d <= self.now_ns());
            let work = !ex.run_queue.is_empty()
                || !ex.pinned_queue.is_empty()
                || self
                    .executors
                    .iter()
                    .enumerate()
                    .any(|(i, other)| i != cpu && !other.run_queue.is_empty());
            // Acquire: pairs with the Release in `shutdown`.
            if !timer_due && !work && !self.shutdown.load(Ordering::Acquire) {
                self.platform.idle(deadline);
                // Whoever kicked a thief: it (or some CPU) is awake now.
                self.thief_pending.store(false, Ordering::Relaxed);
            }
            ex.idle.clear();
        });
    }

    /// Stops every executor loop ([`Scheduler::run`] returns) once the task
    /// it is polling returns. Queued tasks are never run. For host tests and
    /// power-off.
    pub fn shutdown(&self) {
        // Release: pairs with the Acquire loads in `run` and `idle`.
        self.shutdown.store(true, Ordering::Release);
        for cpu in 0..self.ncpus() {
            // Sticky wake-ups: a CPU that has not halted yet will not halt.
            self.platform.wake_cpu(cpu);
        }
    }

    /// Whether [`Scheduler::shutdown`] was called.
    pub fn is_shut_down(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// A snapshot of `cpu`'s statistics.
    pub fn stats(&self, cpu: usize) -> CpuStats {
        let ex = &self.executors[cpu];
        CpuStats {
            spawned: ex.spawned.load(Ordering::Relaxed),
            completed: ex.completed.load(Ordering::Relaxed),
            stolen: ex.stolen.load(Ordering::Relaxed),
            polls: ex.polls.load(Ordering::Relaxed),
            ipis: ex.ipis.load(Ordering::Relaxed),
            queued: ex.run_queue.len() + ex.pinned_queue.len(),
            live: ex.live.load(Ordering::Relaxed),
            timers: ex.timers.len(),
            idle: ex.idle.is_sleeping(),
            polls_caught: ex.polls_caught.load(Ordering::Relaxed),
            polls_expired: ex.polls_expired.load(Ordering::Relaxed),
            halts_unpolled: ex.halts_unpolled.load(Ordering::Relaxed),
            poll_avg_ns: ex.poll_avg_ns.load(Ordering::Relaxed),
            halt_avg_ns: ex.halt_avg_ns.load(Ordering::Relaxed),
        }
    }
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("ncpus", &self.ncpus())
            .field("shut_down", &self.is_shut_down())
            .finish()
    }
}
