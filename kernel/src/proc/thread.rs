//! User threads: a thread is a future that runs its user code in a loop.
//!
//! A [`Thread`] is what one thread of a process owns: its TID (the
//! leader's is the PID), the `clear_child_tid` address, the robust-list
//! head and the CPU it last ran on. Its registers and FPU state (with the
//! TLS base, `fs_base`) are the `UserContext` inside its future. The
//! process owns what its threads share (address space, descriptors, cwd,
//! credentials, limits, signal actions) and the list of its threads
//! (`Process::threads`). `docs/threads.md` has the whole design.
//!
//! [`run`] is the whole life of a thread: it enters ring 3 with
//! `arch::user::run` (a synchronous call on the executor's per-CPU stack)
//! and handles whatever brought the CPU back:
//!
//! | trap | what happens |
//! |---|---|
//! | `Syscall` | `syscall::dispatch(..).await`; the result goes to `rax` |
//! | `SyscallDone` | a fast path ran the call and a signal may be deliverable: the loop top delivers |
//! | `PageFault` | `AddressSpace::fault`; a refused fault kills the process with `SIGSEGV`; out of memory, the out-of-memory killer (`super::oom`) kills the largest process with `SIGKILL` (this one, or another and the fault is tried again); a resolved one re-enters ring 3 at once (below) |
//! | `Exception` | the process dies with the signal Linux would send (`SIGILL` for #UD, `SIGFPE` for #DE, `SIGSEGV` for #GP, ...) |
//! | `Interrupt` (timer) | the time slice is over: `yield_now().await` |
//! | `Interrupt` (other) | its handler ran; enter ring 3 again |
//!
//! Time slices: [`SLICE_NS`] of user time, measured from the slice's start
//! (ended by the timer up to [`SLICE_SLACK_NS`] late);
//! the LAPIC timer is armed for the slice's end before every entry (the
//! executor may have re-armed it for its own deadline while the thread
//! awaited), and when the slice is over the thread yields to the other
//! tasks of its CPU. Kernel code is never preempted.
//!
//! **The fast paths** ([`FastPaths`], run by
//! `arch::user::run_until_with` without returning at all): a page fault
//! the address space resolves (zero fill, copy-on-write;
//! `AddressSpace::fault` never waits) and a system call that never waits
//! (`syscall::fast`: `getpid`, `gettid`, `getppid`, answered before the
//! CPU stops being marked as running the table; `syscall::now`:
//! `rt_sigprocmask`, `rt_sigaction`, the ids, `uname`, ...) go straight
//! back to ring 3. They skip the loop top's signal delivery, slice check,
//! space-generation and affinity checks, unless `signal::needs_attention`
//! (two lock-free flag loads) says a signal may have arrived or become
//! deliverable: then a call already run returns as `Trap::SyscallDone`
//! and the loop top delivers. What they skip is taken at the next other
//! trap, as it would be for a program that traps for nothing: a system
//! call that waits, an interrupt, at the latest the slice's timer, which
//! stays armed. A refused fault leaves the inner loop and is handled as
//! above.
//!
//! **User time** is measured with one clock read at each entry to ring 3
//! from the loop top and one at each return to it; what the fast paths
//! do in between (the system calls they run, a few hundred nanoseconds
//! at most; the page faults they resolve, a few microseconds) counts as
//! user time, with no clock read of its own, so a thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`, `/proc/PID/stat`'s `utime`) includes
//! them, as Linux's CPU-time clocks include system time.
//!
//! Between two `run` calls a thread is its `UserContext` plus this
//! future's state: no kernel stack.
//!
//! **Ending.** `exit` ends the calling thread ([`exit_thread`]);
//! `exit_group`, a fatal signal or a fault that kills end the whole
//! group: the first one records the group's wait status in the process's
//! signal state (`SignalState::start_group_exit`), which every other
//! thread sees at its next return to user mode, and which interrupts
//! whatever it awaits (`signal::interruptible`). A thread that ends
//! stores 0 at its `clear_child_tid` address and wakes one futex waiter
//! there (`pthread_join`, and musl's thread-list lock), walks its robust
//! list, leaves the process's list and gives back its TID and its
//! `maxproc`/`RLIMIT_NPROC` charge (the leader's are the process's, given
//! back at reaping). The last thread to leave calls `Process::exit` with
//! the group's status if one was set, else its own.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use arch::irq::vector;
use arch::user::{Handled, Trap, UserContext};

use super::pid::Pid;
use super::process::{Process, signal_for_exception, signal_status};
use super::signal::frame::TrapRegs;
use super::signal::{self, Interrupted, SigInfo, code};
use crate::syscall::{Action, dispatch};
use crate::vm::space::AddressSpace;
use abi::Errno;

/// One thread of a process (module docs).
pub struct Thread {
    /// Its TID; `execve` from a non-leader changes it to the PID.
    tid: AtomicU32,
    process: Arc<Process>,
    /// `set_tid_address` / `CLONE_CHILD_CLEARTID`: where to store 0 and
    /// wake a futex at exit (0: nowhere).
    clear_child_tid: AtomicU64,
    /// `set_robust_list`: the list head (0: none).
    robust_list: AtomicU64,
    /// The CPU it last entered user mode on (`u32::MAX`: not yet).
    last_cpu: AtomicU32,
    /// Its slot in its process's list (`Process::add_thread`; written
    /// and read under the list's lock, so `Relaxed`).
    slot: AtomicU32,
    /// The CPUs it may run on (bit N = CPU N): `sched_setaffinity`.
    affinity: AtomicU64,
    /// It has yet to move to obey `affinity`.
    affinity_changed: core::sync::atomic::AtomicBool,
    /// Its signal mask, the signals sent to it alone (`tgkill`, faults),
    /// its alternate stack (`signal::ThreadSignals`).
    signals: signal::ThreadSignals,
    /// Its task, once spawned ([`spawn`]): `ps` asks it whether the thread
    /// is parked (blocked) or queued/running.
    task: spin::Once<crate::task::TaskRef>,
    /// Nanoseconds it spent in user mode (`CLOCK_THREAD_CPUTIME_ID`);
    /// written only by its own trap loop, folded into the process's count
    /// when it ends (`Process::remove_thread`).
    user_ns: AtomicU64,
}

impl Thread {
    /// A new thread `tid` of `process` (not yet in its list), nothing
    /// blocked.
    pub fn new(tid: Pid, process: Arc<Process>) -> Arc<Thread> {
        Self::with_signals(tid, process, signal::ThreadSignals::new())
    }

    /// A new thread with these signal state (a copy of its creator's mask).
    pub fn with_signals(
        tid: Pid,
        process: Arc<Process>,
        signals: signal::ThreadSignals,
    ) -> Arc<Thread> {
        Arc::new(Thread {
            tid: AtomicU32::new(tid.as_u32()),
            process,
            clear_child_tid: AtomicU64::new(0),
            robust_list: AtomicU64::new(0),
            last_cpu: AtomicU32::new(u32::MAX),
            slot: AtomicU32::new(u32::MAX),
            affinity: AtomicU64::new(!0),
            affinity_changed: core::sync::atomic::AtomicBool::new(false),
            signals,
            task: spin::Once::new(),
            user_ns: AtomicU64::new(0),
        })
    }

    /// Adds `ns` of user-mode time; called only by the thread's own trap
    /// loop, so a load and a store (no locked read-modify-write).
    fn account_user_ns(&self, ns: u64) {
        let now = self.user_ns.load(Ordering::Relaxed);
        self.user_ns.store(now + ns, Ordering::Relaxed);
    }

    /// Nanoseconds it spent in user mode so far.
    pub fn user_ns(&self) -> u64 {
        self.user_ns.load(Ordering::Relaxed)
    }

    /// The CPU mask it may run on.
    pub fn affinity(&self) -> u64 {
        self.affinity.load(Ordering::Relaxed)
    }

    /// Records a new CPU mask; the thread moves at its next trip through
    /// its trap loop (`proc::affinity::apply`), or at once when it
    /// set its own.
    pub fn set_affinity(&self, mask: u64) {
        self.affinity.store(mask, Ordering::Relaxed);
        // Release: pairs with the Acquire in `take_affinity_change`.
        self.affinity_changed.store(true, Ordering::Release);
    }

    /// A new thread's mask, inherited from its creator (no move needed
    /// for "every CPU").
    pub fn inherit_affinity(&self, mask: u64) {
        if mask != !0 {
            self.set_affinity(mask);
        }
    }

    /// Whether the mask changed since the last call (and forgets it).
    pub fn take_affinity_change(&self) -> bool {
        // A cheap load first: this runs before every entry to user mode.
        self.affinity_changed.load(Ordering::Acquire)
            && self.affinity_changed.swap(false, Ordering::Acquire)
    }

    /// Its own signal state.
    pub fn signals(&self) -> &signal::ThreadSignals {
        &self.signals
    }

    /// Its TID (`gettid`).
    pub fn tid(&self) -> Pid {
        // Relaxed: changed only by the thread itself (exec), read by others
        // as a name.
        Pid::new(self.tid.load(Ordering::Relaxed)).unwrap_or(self.process.pid())
    }

    /// `execve` from a non-leader: the thread becomes the leader, its TID
    /// the PID (Linux's `de_thread`); returns the TID it gave up.
    pub fn become_leader(&self) -> Pid {
        let old = self.tid();
        self.tid
            .store(self.process.pid().as_u32(), Ordering::Relaxed);
        old
    }

    /// Its slot in its process's list (`u32::MAX` before it is added).
    pub fn slot(&self) -> usize {
        self.slot.load(Ordering::Relaxed) as usize
    }

    /// Records the slot `Process::add_thread` gave it.
    pub fn set_slot(&self, slot: usize) {
        self.slot
            .store(u32::try_from(slot).unwrap_or(u32::MAX), Ordering::Relaxed);
    }

    /// Its process.
    pub fn process(&self) -> &Arc<Process> {
        &self.process
    }

    /// Whether it is the group leader (its TID is the PID).
    pub fn is_leader(&self) -> bool {
        self.tid() == self.process.pid()
    }

    /// `set_tid_address`: at exit, 0 is stored at `addr` (if not 0) and a
    /// futex waiter there is woken.
    pub fn set_clear_child_tid(&self, addr: u64) {
        self.clear_child_tid.store(addr, Ordering::Relaxed);
    }

    /// The address `set_tid_address` stored (0: none).
    pub fn clear_child_tid(&self) -> u64 {
        self.clear_child_tid.load(Ordering::Relaxed)
    }

    /// `set_robust_list`: remembers the list head.
    pub fn set_robust_list(&self, head: u64) {
        self.robust_list.store(head, Ordering::Relaxed);
    }

    /// The robust list head (0: none).
    pub fn robust_list(&self) -> u64 {
        self.robust_list.load(Ordering::Relaxed)
    }

    /// Records that it runs on `cpu` now.
    pub fn set_last_cpu(&self, cpu: usize) {
        // Relaxed: a statistic.
        self.last_cpu.store(cpu as u32, Ordering::Relaxed);
        self.process.set_last_cpu(cpu);
    }

    /// Whether its task is parked: blocked in a system call (or not yet
    /// spawned), neither queued nor running. A snapshot for `ps`.
    pub fn is_parked(&self) -> bool {
        self.task.get().is_none_or(crate::task::TaskRef::is_parked)
    }

    /// Whether its task was spawned and still exists (`debug.check`).
    pub fn has_task(&self) -> bool {
        self.task.get().is_some_and(crate::task::TaskRef::is_alive)
    }

    /// The CPU it last ran user code on, if it ran.
    pub fn last_cpu(&self) -> Option<u32> {
        Some(self.last_cpu.load(Ordering::Relaxed)).filter(|&c| c != u32::MAX)
    }

    /// What `execve` forgets: the `set_tid_address` pointer and the robust
    /// list belonged to the old image.
    pub fn exec_reset(&self) {
        self.clear_child_tid.store(0, Ordering::Relaxed);
        self.robust_list.store(0, Ordering::Relaxed);
        self.signals.exec_reset();
    }
}

/// The thread each CPU is polling now (module docs of `current`).
/// `spin::Lazy`: conquer_once 0.4.0's panics when another CPU finishes
/// the initialization between its two looks.
static CURRENT: spin::Lazy<alloc::vec::Vec<spin::Mutex<Option<Arc<Thread>>>>> =
    spin::Lazy::new(|| {
        (0..crate::task::ncpus().max(1))
            .map(|_| spin::Mutex::new(None))
            .collect()
    });

/// The user thread whose future this CPU is polling, if any: what a
/// system call's code deep inside the kernel asks for its caller's signal
/// mask (`signal::interruptible`) without every call site passing the
/// thread. Set around every poll of a thread's future ([`start`]); a
/// task is polled on one CPU at a time and kernel code is never
/// preempted, so the answer is exact for the code running now.
pub fn current() -> Option<Arc<Thread>> {
    CURRENT.get(arch::cpu::id())?.lock().clone()
}

/// How many threads' futures exist: made by [`start`], dropped when the
/// task completes (or is dropped unfinished). `sysctl debug.check`
/// compares it with the live threads.
static LIVE_TASKS: AtomicUsize = AtomicUsize::new(0);

/// How many thread futures exist (see [`LIVE_TASKS`]).
pub fn live_tasks() -> usize {
    LIVE_TASKS.load(Ordering::Relaxed)
}

/// The size of a thread's boxed [`run`] future.
static RUN_FUTURE_BYTES: AtomicUsize = AtomicUsize::new(0);

/// The heap the threads' [`run`] futures take, besides what their tasks
/// took at spawn (`memstat`: it is boxed apart from its task).
pub fn future_bytes() -> usize {
    live_tasks() * RUN_FUTURE_BYTES.load(Ordering::Relaxed)
}

/// One count of [`LIVE_TASKS`], given back when the future holding it is
/// dropped.
struct Live;

impl Drop for Live {
    fn drop(&mut self) {
        LIVE_TASKS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Spawns `thread`'s task from `ctx` in `space` with `builder` (its name
/// and CPU), detached (the process's state says when it ends), and keeps a
/// weak reference to the task for [`Thread::is_parked`]. A thread whose
/// affinity mask (inherited: fork, clone) pins it starts pinned on the CPU
/// `affinity::apply` would move it to, instead of on the least-loaded CPU
/// and migrating from there at its first entry (an IPI and a wake-up of
/// another CPU for every fork of a pinned process).
pub fn spawn(
    builder: crate::task::Builder,
    thread: Arc<Thread>,
    space: Arc<AddressSpace>,
    ctx: UserContext,
) {
    let builder = match crate::proc::affinity::pinned_cpu(&thread) {
        Some(cpu) if thread.take_affinity_change() => builder.cpu(cpu).pinned(),
        _ => builder,
    };
    let task = builder.spawn_detached(start(thread.clone(), space, ctx));
    thread.task.call_once(|| task);
}

/// The future of `thread` from `ctx` in `space`: [`run`] with [`current`]
/// set around each poll; what [`spawn`] runs. [`run`]'s state is boxed
/// apart: inline, the task's box was past the largest block the heap's
/// per-CPU caches keep, and vfork+exit+wait took 2-3 us longer (minlat).
/// The box is made here, before the `async move` block: made inside it,
/// the block's first state held `space` and the 176-byte `UserContext`
/// until its first poll, and the task's box (sized for its largest
/// state) was 224 bytes instead of 48 for every thread.
pub fn start(
    thread: Arc<Thread>,
    space: Arc<AddressSpace>,
    ctx: UserContext,
) -> impl core::future::Future<Output = ()> + Send {
    LIVE_TASKS.fetch_add(1, Ordering::Relaxed);
    let live = Live;
    let mut fut = alloc::boxed::Box::pin(run(thread.clone(), space, ctx));
    // Relaxed: statistics; every thread's future has the same size.
    RUN_FUTURE_BYTES.store(core::mem::size_of_val(&*fut), Ordering::Relaxed);
    async move {
        let _live = live;
        core::future::poll_fn(|cx| {
            let slot = CURRENT.get(arch::cpu::id());
            if let Some(slot) = slot {
                *slot.lock() = Some(thread.clone());
            }
            let out = fut.as_mut().poll(cx);
            // The same CPU: nothing in a poll migrates it.
            if let Some(slot) = slot {
                slot.lock().take();
            }
            out
        })
        .await;
    }
}

/// How a thread's loop ended.
enum Ending {
    /// `exit(status)`: this thread only.
    Thread(i32),
    /// `exit_group`, a fatal signal: the whole process.
    Group(i32),
}

/// A user time slice (at least; at most [`SLICE_SLACK_NS`] more).
pub const SLICE_NS: u64 = 10_000_000;

/// How late the timer may end a slice: an entry to user mode keeps the
/// CPU's timer armed when it fires no later than the slice's end plus
/// this (earlier is fine: the loop top decides whether the slice is
/// over), so threads taking turns on a CPU (a parent and the child it
/// waits for, each process of a fork or exec loop) do not rewrite the
/// LAPIC timer at every entry (an MMIO exit taking QEMU's big lock under
/// emulation; `arch::irq::timer::arm_deadline_within_ns`).
pub const SLICE_SLACK_NS: u64 = SLICE_NS / 2;

/// Runs `thread` from `ctx` until it ends (module docs); `space` is the
/// process's address space.
///
/// Not an `async fn`: an `async fn` keeps its arguments in its state and
/// moves them into locals of the body, so the `UserContext` would be
/// stored twice in every thread's future (176 bytes more per thread);
/// the `async move` block uses the captured `ctx` and `space` in place.
#[allow(clippy::manual_async_fn)] // on purpose: see above
pub fn run(
    thread: Arc<Thread>,
    mut space: Arc<AddressSpace>,
    mut ctx: UserContext,
) -> impl core::future::Future<Output = ()> + Send {
    async move {
        let process = thread.process().clone();
        let mut space_generation = process.space_generation();
        let mut slice_end = 0;
        // The system call a signal interrupted, if it may run again.
        let mut interrupted = None;
        let ending = loop {
            // Signals are taken before every return to user mode (and a group
            // exit is seen there); `deliver` is not even called while nothing
            // can have changed (`needs_attention`) and no call is to restart.
            if (interrupted.is_some() || signal::needs_attention(&thread))
                && let Some(status) =
                    signal::deliver(&thread, &space, &mut ctx, interrupted.take()).await
            {
                break Ending::Group(status);
            }
            // Another thread replaced the process's space (rfork without
            // RFMEM unsharing it): this one follows.
            if process.space_generation() != space_generation {
                space_generation = process.space_generation();
                if let Some(new) = process.space() {
                    space = new;
                }
            }
            // One clock read serves the slice check and the user-time start,
            // unless the thread waited in between.
            let mut now = arch::cpu::tsc::now_ns();
            if now >= slice_end {
                if slice_end != 0 {
                    crate::task::yield_now().await;
                    now = arch::cpu::tsc::now_ns();
                }
                slice_end = now + SLICE_NS;
            }
            if thread.take_affinity_change() {
                crate::proc::affinity::apply(&thread).await;
                now = arch::cpu::tsc::now_ns();
            }
            thread.set_last_cpu(arch::cpu::id());
            // The slice's end is armed with interrupts masked, right
            // before the entry (`run_until_with`): armed earlier, it could
            // fire in the kernel and leave the program running with no
            // timer. The fast paths (module docs) run inside `arch::user`,
            // with interrupts masked; the slice's end needs no check
            // there: its timer stays armed and interrupts the program
            // when it passes.
            let mut inline = FastPaths {
                thread: &thread,
                space: &space,
                resolved: Ok(()),
            };
            let trap = arch::user::run_until_with(
                &mut ctx,
                &space.table,
                slice_end,
                SLICE_SLACK_NS,
                &mut inline,
            );
            let resolved = inline.resolved;
            let left = arch::cpu::tsc::now_ns();
            thread.account_user_ns(left.saturating_sub(now));
            match trap {
                Trap::Syscall => {
                    let nr = ctx.rax;
                    match dispatch(&thread, &space, &mut ctx).await {
                        Action::Return(rax) => {
                            ctx.rax = rax;
                            interrupted = Interrupted::after(nr, rax);
                        }
                        Action::Exit(status) => break Ending::Group(status),
                        Action::ExitThread(status) => break Ending::Thread(status),
                        // execve: the new program, from its first instruction.
                        Action::Exec(image) => {
                            space = image.space;
                            ctx = UserContext::new(image.entry, image.rsp);
                        }
                        // rfork's fork_norfproc: the process's own copy now.
                        Action::Switch(new, rax) => {
                            space = new;
                            space_generation = process.space_generation();
                            ctx.rax = rax;
                        }
                    }
                }
                Trap::PageFault { addr, error_code } => {
                    if let Err(e) = resolved {
                        if e == Errno::ENOMEM {
                            // The out-of-memory killer (`super::oom`): this
                            // process dies, or another did and the fault is
                            // tried again from the loop top.
                            match super::oom::out_of_memory(&process, addr).await {
                                super::oom::Verdict::Die => {
                                    break Ending::Group(signal_status(signal::SIGKILL));
                                }
                                super::oom::Verdict::Retry => continue,
                            }
                        }
                        page_fault_signal(&thread, &space, &ctx, addr, error_code);
                    }
                }
                Trap::Exception { vector, error_code } => {
                    exception_signal(&thread, &ctx, vector, error_code);
                }
                Trap::Interrupt {
                    vector: vector::TIMER,
                } => {
                    // The slice end (checked at the top) decides: a timer armed
                    // by someone else may fire early.
                }
                Trap::Interrupt { .. } => {}
                // Run by `syscall::now`; the loop top has work (signals).
                Trap::SyscallDone => {}
            }
        };
        exit_thread(&thread, space, ending);
    }
}

/// The thread loop's fast paths (module docs), which `arch::user` runs
/// between two trips to ring 3 without returning to [`run`].
struct FastPaths<'a> {
    thread: &'a Thread,
    space: &'a AddressSpace,
    /// What `space.fault` said about the last page fault.
    resolved: Result<(), Errno>,
}

impl arch::user::Inline for FastPaths<'_> {
    /// `getpid`, `gettid` (`syscall::fast`): their few instructions count
    /// as user time. Not when a signal may have arrived: the loop top
    /// looks first.
    fn answer(&mut self, nr: u64) -> Option<u64> {
        crate::syscall::fast(self.thread, nr).filter(|_| !signal::needs_attention(self.thread))
    }

    /// The other calls that never wait (`syscall::now`), their time
    /// counted as user time too (so no clock read; they are short), back
    /// to user mode at once unless they may have made a signal
    /// deliverable (an unblocking `rt_sigprocmask`) or one arrived
    /// meanwhile: then the loop top delivers it first.
    fn syscall(&mut self, ctx: &mut UserContext) -> Handled {
        let Some(rax) = crate::syscall::now(self.thread, self.space, ctx) else {
            return Handled::Pass;
        };
        ctx.rax = rax;
        if signal::needs_attention(self.thread) {
            Handled::Return
        } else {
            Handled::Resume
        }
    }

    /// `AddressSpace::fault`, which never waits; its time counts as the
    /// thread's CPU time, as the calls' above (no clock read).
    fn fault(&mut self, addr: u64, error_code: u64) -> bool {
        self.resolved = self.space.fault(addr, error_code);
        self.resolved.is_ok() && !signal::needs_attention(self.thread)
    }
}

/// Ends `thread` (module docs): its group's too for [`Ending::Group`].
fn exit_thread(thread: &Arc<Thread>, space: Arc<AddressSpace>, ending: Ending) {
    let process = thread.process();
    let own = match ending {
        Ending::Thread(status) => {
            signal::thread_exit_signals(thread);
            status
        }
        Ending::Group(status) => {
            // Only the thread that starts the group exit wakes the others
            // (if there are any: no copy of the list for a lone thread);
            // each of them then ends here too, and waking every thread
            // again at each of N exits was O(N^2) (4,000 threads took
            // 11 s to exit).
            if process.signals().start_group_exit(status) && process.nthreads() > 1 {
                signal::wake_threads(process);
            }
            status
        }
    };
    let addr = thread.clear_child_tid.swap(0, Ordering::Relaxed);
    // Linux ignores a fault here; so does Tine.
    if addr != 0 && space.copy_to_user(addr, &0u32.to_le_bytes()).is_ok() {
        crate::proc::futex::wake_address(&space, addr, 1);
    }
    crate::proc::futex::exit_robust_list(&space, thread);
    let tid = thread.tid();
    let remaining = process.remove_thread(thread);
    if !thread.is_leader() {
        release_tid(process, tid);
    }
    // An `execve` may wait for the others to be gone.
    process.signals().event().notify_all();
    drop(space);
    if remaining == 0 {
        let status = process.signals().group_exit().unwrap_or(own);
        process.exit(status);
    }
}

/// The process of every live non-leader thread, by TID: how `tkill`,
/// `tgkill` without a group and `sched_setaffinity` find a thread whose
/// TID is not a PID without a walk of all processes (a leader is found
/// through the process table, its TID being the PID).
static OTHER_TIDS: spin::Mutex<alloc::collections::BTreeMap<u32, alloc::sync::Weak<Process>>> =
    spin::Mutex::new(alloc::collections::BTreeMap::new());

/// Records a new thread's TID (`Process::add_thread`) if it is not its
/// process's PID.
pub fn register_tid(thread: &Thread) {
    if !thread.is_leader() {
        OTHER_TIDS
            .lock()
            .insert(thread.tid().as_u32(), Arc::downgrade(thread.process()));
    }
}

/// The live thread with TID `tid`, of any process.
pub fn by_tid(tid: Pid) -> Option<Arc<Thread>> {
    if let Some(t) = crate::proc::process::lookup(tid).and_then(|p| p.thread(tid)) {
        return Some(t);
    }
    let owner = OTHER_TIDS.lock().get(&tid.as_u32())?.upgrade()?;
    owner.thread(tid)
}

/// Gives back what a non-leader thread took at creation: its TID (out of
/// [`OTHER_TIDS`] before the PID map, which may hand it out again at
/// once), its process slot and its count under the process's uid.
pub fn release_tid(process: &Process, tid: Pid) {
    OTHER_TIDS.lock().remove(&tid.as_u32());
    crate::proc::pids().free(tid);
    crate::proc::process::release_slot();
    crate::proc::uidinfo::uncharge(process.charged_uid());
}

/// Raises `SIGSEGV` for a page fault the address space refused:
/// `SEGV_MAPERR` where no mapping covers `addr`, `SEGV_ACCERR` where one
/// forbids the access; `si_addr` = `addr` (CR2).
fn page_fault_signal(
    thread: &Thread,
    space: &AddressSpace,
    ctx: &UserContext,
    addr: u64,
    error_code: u64,
) {
    let process = thread.process();
    let mapped = space.vmas().iter().any(|v| v.contains(addr));
    let si_code = if mapped {
        code::SEGV_ACCERR
    } else {
        code::SEGV_MAPERR
    };
    log::info!(
        "{}[{}]: page fault at {addr:#x} (error {error_code:#x}) rip {:#x}: SIGSEGV",
        process.name(),
        process.pid(),
        ctx.rip
    );
    signal::force(
        thread,
        signal::SIGSEGV,
        SigInfo::fault(signal::SIGSEGV, si_code, addr),
        TrapRegs {
            trapno: vector::PAGE_FAULT,
            // An exception's error code is 32 bits.
            err: error_code as u32,
            cr2: addr,
        },
    );
}

/// Raises the signal Linux raises for CPU exception `vector` in user mode
/// (`signal_for_exception`), `si_addr` = the faulting instruction.
fn exception_signal(thread: &Thread, ctx: &UserContext, vector: u8, error_code: u64) {
    let process = thread.process();
    let sig = signal_for_exception(vector);
    let si_code = match vector {
        0 => code::FPE_INTDIV,
        16 | 19 => code::FPE_FLTINV,
        1 => code::TRAP_TRACE,
        3 => code::TRAP_BRKPT,
        6 => code::ILL_ILLOPN,
        17 => code::BUS_ADRALN,
        // #GP and friends: Linux sends SI_KERNEL with no address.
        _ => code::SI_KERNEL,
    };
    log::info!(
        "{}[{}]: exception {vector} (error {error_code:#x}) rip {:#x}: {sig}",
        process.name(),
        process.pid(),
        ctx.rip
    );
    let addr = if si_code == code::SI_KERNEL {
        0
    } else {
        ctx.rip
    };
    signal::force(
        thread,
        sig,
        SigInfo::fault(sig, si_code, addr),
        TrapRegs {
            trapno: vector,
            // An exception's error code is 32 bits.
            err: error_code as u32,
            cr2: 0,
        },
    );
}
