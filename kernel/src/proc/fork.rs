//! `fork1`: make one new process from a validated [`ForkRequest`].
//!
//! The shape follows FreeBSD's `fork1` (seed 001) with NetBSD's limits
//! (seed 002): the front ends (`super::fork_flags`) have already validated
//! the caller's flags, so `fork1` runs five stages, and every stage that
//! can fail undoes what the earlier ones did before it returns:
//!
//! 1. **Refusals.** What this version does not implement yet is refused
//!    with `ENOSYS` before anything is taken ([`unsupported`]). The request
//!    is valid (`EINVAL` is the front end's verdict on a bad flag word);
//!    the kernel lacks the piece, which is what `ENOSYS` says, so a program
//!    can tell the two apart.
//!    With user memory short (fewer frames above the heap's reserve than
//!    the parent's page tables and the first writes may need,
//!    `fork_memory_ok`, `docs/memory.md`) the fork is `ENOMEM` before
//!    anything is taken.
//! 2. **Limits.** A process slot is taken against [`maxproc`] (the
//!    `kern.maxproc` knob, [`DEFAULT_MAXPROC`] at boot); FreeBSD keeps the
//!    last [`ROOT_RESERVED`] slots for root ([`slot_limit`]). None left is
//!    `EAGAIN`, and the console says `maxproc limit exceeded by uid U (pid
//!    P)` at most once a second ([`RateLimit`], FreeBSD's `ppsratecheck`)
//!    however hard a fork bomb pushes.
//! 3. **Allocations**, each undone if a later one fails: the PID
//!    (`pids().alloc`, `RFHIGHPID` honoured; exhausted is `EAGAIN`), then
//!    the child's address space (a copy-on-write copy, `ENOMEM` when frames
//!    run out; or the parent's own for `RFMEM`/`CLONE_VM`/vfork, which
//!    cannot fail), then the `Process` (a heap allocation).
//! 4. **Commit**: nothing fails after this point. The child enters the
//!    process table with its parent (the caller, the caller's parent for
//!    `CLONE_PARENT`, or the caller's reaper for `RFNOWAIT`), clone's TID
//!    stores happen, the fork is counted ([`super::counters`]), published
//!    as an event and shown to the fork hooks ([`super::events`]), and its
//!    thread future is spawned with a copy of the caller's `UserContext`
//!    whose `rax` is 0 (FreeBSD's `cpu_fork`, sys/amd64/amd64/vm_machdep.c).
//! 5. **The parent's return.** For vfork-style requests (`RFPPWAIT`,
//!    `CLONE_VFORK`) the parent's system call now *awaits* the child's
//!    `VforkDone`, which the child fires exactly once when it execs, exits
//!    or is killed (`Process::vfork_release`); then it returns the child's
//!    PID (`fork_return`). A `CLONE_VFORK` thread's caller awaits the
//!    thread's exit or exec (which ends the caller too) instead.
//!    A new process whose thread is pinned to the caller's CPU (a pinned
//!    caller's child inherits its CPU mask; with one CPU online nothing
//!    is pinned) runs first, unless
//!    `kern.sched_child_runs_first` is 0 ([`child_runs_first`]): the parent
//!    yields once before it returns ([`Started::ChildFirst`], Linux's
//!    `sched_child_runs_first`, which is off there by default; FreeBSD's
//!    and NetBSD's parents go on). The child is queued behind the
//!    parent on that CPU either way, and a child that exits or execs at
//!    once (fork+exit, fork+exec) is then done before the parent writes
//!    its memory: the parent finds its page tables and pages no longer
//!    shared and takes them back without copying, its CPU loads the
//!    parent's page table once instead of twice (under QEMU's TCG each
//!    load is a whole software-TLB flush and its refills), and its
//!    `wait4` reaps a zombie without sleeping. An unpinned child is
//!    left to the scheduler, which may start it on an idle CPU.
//!
//! A fork that fails at a limit (stage 2) sleeps for `kern.forkfsleep`
//! milliseconds before it returns `EAGAIN` (NetBSD's `forkfsleep`; 0, the
//! default, is no sleep). The sleep is an await in the failing process's
//! own system call: nothing else on its CPU waits. FreeBSD instead pauses
//! every failed fork for half a second; Tine follows NetBSD here (a knob,
//! off by default: `docs/fork.md`).
//!
//! `FailAt` injects a failure at each allocation so the tests can check
//! every rollback.

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use super::fork_flags::ForkRequest;
use abi::Errno;

#[cfg(target_os = "none")]
pub use imp::*;

/// `kern.maxproc` at boot.
pub const DEFAULT_MAXPROC: usize = 1000;

/// Slots FreeBSD keeps for root below `maxproc`.
pub const ROOT_RESERVED: usize = 10;

static MAXPROC: AtomicUsize = AtomicUsize::new(DEFAULT_MAXPROC);

/// `kern.forkfsleep`, in milliseconds.
static FORKFSLEEP_MS: AtomicU64 = AtomicU64::new(0);

/// The most processes that may exist (running and zombies).
pub fn maxproc() -> usize {
    MAXPROC.load(Ordering::Relaxed)
}

/// Sets [`maxproc`]; returns the old value. Lowering it below the number
/// of processes kills nothing; forks fail until enough are reaped.
pub fn set_maxproc(limit: usize) -> usize {
    MAXPROC.swap(limit, Ordering::Relaxed)
}

/// `kern.sched_child_runs_first`: a new process pinned to its parent's
/// CPU runs before the parent returns from fork (module docs, stage 5).
/// On by default; Linux's knob of the same name is off by default.
static CHILD_RUNS_FIRST: AtomicBool = AtomicBool::new(true);

/// Whether a pinned parent's child runs first ([`CHILD_RUNS_FIRST`]).
pub fn child_runs_first() -> bool {
    CHILD_RUNS_FIRST.load(Ordering::Relaxed)
}

/// Sets [`child_runs_first`]; returns the old value.
pub fn set_child_runs_first(on: bool) -> bool {
    CHILD_RUNS_FIRST.swap(on, Ordering::Relaxed)
}

/// How long a fork that hits a limit sleeps before `EAGAIN`, in ms.
pub fn forkfsleep_ms() -> u64 {
    FORKFSLEEP_MS.load(Ordering::Relaxed)
}

/// Sets [`forkfsleep_ms`]; returns the old value.
pub fn set_forkfsleep_ms(ms: u64) -> u64 {
    FORKFSLEEP_MS.swap(ms, Ordering::Relaxed)
}

/// FreeBSD's rule as the number of processes a fork may find and still
/// go on: below `maxproc`, and for an unprivileged caller also outside the
/// last [`ROOT_RESERVED`].
pub const fn slot_limit(maxproc: usize, privileged: bool) -> usize {
    if privileged {
        maxproc
    } else {
        maxproc.saturating_sub(ROOT_RESERVED)
    }
}

/// At most one event per interval (FreeBSD's `ppsratecheck(.., 1)`,
/// NetBSD's `ratecheck`): [`RateLimit::check`] says yes to the first call
/// and then to the first call at least `interval_ns` after the last yes.
/// Lock-free: racing callers agree on one winner with a compare-exchange.
#[derive(Debug)]
pub struct RateLimit {
    /// The time of the last yes, plus one (0: never).
    last: AtomicU64,
    interval_ns: u64,
}

impl RateLimit {
    /// A limit of one per `interval_ns`.
    pub const fn new(interval_ns: u64) -> Self {
        Self {
            last: AtomicU64::new(0),
            interval_ns,
        }
    }

    /// Whether an event at `now_ns` may go out (and records it if so).
    pub fn check(&self, now_ns: u64) -> bool {
        let last = self.last.load(Ordering::Relaxed);
        if last != 0 && now_ns.saturating_sub(last - 1) < self.interval_ns {
            return false;
        }
        self.last
            .compare_exchange(last, now_ns + 1, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }
}

/// Refuses what `fork1` does not make (stage 1, module docs): kernel
/// processes (they are made by `kproc_create`).
pub fn unsupported(req: &ForkRequest) -> Result<(), Errno> {
    let missing = req.kernel;
    if missing { Err(Errno::ENOSYS) } else { Ok(()) }
}

#[cfg(target_os = "none")]
mod imp {
    use alloc::sync::Arc;
    use core::sync::atomic::{AtomicU8, Ordering};

    use arch::user::UserContext;

    use super::{RateLimit, forkfsleep_ms, maxproc, slot_limit, unsupported};
    use crate::proc::events::{self, EventKind};
    use crate::proc::fork_flags::{AddressSpace, ChildParent, FileTable, ForkRequest, FsInfo};
    use crate::proc::pid::Pid;
    use crate::proc::process::{self, Process};
    use crate::proc::thread::Thread;
    use crate::proc::{counters, cred, uidinfo};
    use abi::Errno;

    /// A made child, and whether it runs before its parent returns
    /// (module docs, stage 5).
    struct Made {
        child: Arc<Process>,
        child_first: bool,
    }

    /// A test's injected failure (module docs).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    #[repr(u8)]
    pub enum FailAt {
        /// No injected failure.
        Nothing = 0,
        /// The PID allocation fails (as if the map were exhausted).
        Pid = 1,
        /// The address-space copy fails (as if frames ran out).
        Space = 2,
        /// The process descriptor cannot be made (as if the caller's
        /// descriptor table were full).
        ProcDesc = 3,
    }

    static FAIL_AT: AtomicU8 = AtomicU8::new(FailAt::Nothing as u8);

    /// Makes the next forks fail at `at` (tests only; `FailAt::Nothing`
    /// turns it off).
    pub fn inject_failure(at: FailAt) {
        FAIL_AT.store(at as u8, Ordering::Relaxed);
    }

    fn injected(at: FailAt) -> bool {
        FAIL_AT.load(Ordering::Relaxed) == at as u8
    }

    /// The once-a-second `maxproc` message.
    static MAXPROC_LOG: RateLimit = RateLimit::new(1_000_000_000);

    /// How many `maxproc limit exceeded` lines were printed (tests).
    static MAXPROC_LOGGED: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

    /// How many times the `maxproc` message has been printed since boot.
    pub fn maxproc_messages() -> u64 {
        MAXPROC_LOGGED.load(Ordering::Relaxed)
    }

    /// Why `fork_now` failed, and whether the caller must sleep
    /// `kern.forkfsleep` first (a limit was hit).
    struct Failure {
        errno: Errno,
        at_limit: bool,
    }

    impl From<Errno> for Failure {
        fn from(errno: Errno) -> Self {
            Self {
                errno,
                at_limit: false,
            }
        }
    }

    /// Makes a child of `parent`, which trapped with `ctx`, as `req` asks
    /// (module docs). Returns the child's PID once the parent may go on
    /// (at once, or for vfork when the child has exec'd or exited).
    /// Errors: `ENOSYS` for what is not implemented, `EAGAIN` at the
    /// process limit or with no PID free, `ENOMEM` when the address space
    /// cannot be copied, `ESRCH` if the parent has already exited.
    pub async fn fork1(
        parent: &Arc<Process>,
        ctx: &UserContext,
        req: &ForkRequest,
    ) -> Result<Pid, Errno> {
        if req.thread {
            return match fork_thread(parent, ctx, req) {
                Ok(thread) => {
                    let tid = thread.tid();
                    if req.wait_for_child {
                        // `CLONE_VFORK`: the caller waits until the thread
                        // exits, or execs (which ends the group's other
                        // threads, the caller among them), as Linux's
                        // `wait_for_vfork_done` until the thread's
                        // `mm_release`. The thread's exit and the group
                        // exit both notify the signal event.
                        let events = parent.signals();
                        events
                            .event()
                            .wait_until(|| {
                                events.group_exit().is_some()
                                    || parent.thread(tid).is_none_or(|t| !Arc::ptr_eq(&t, &thread))
                            })
                            .await;
                    }
                    Ok(tid)
                }
                Err(Failure { errno, at_limit }) => {
                    let ms = forkfsleep_ms();
                    if at_limit && ms > 0 {
                        crate::task::sleep(core::time::Duration::from_millis(ms)).await;
                    }
                    Err(errno)
                }
            };
        }
        match start(parent, ctx, req) {
            Started::Done(result) => result,
            Started::ChildFirst(pid) => {
                crate::task::yield_now().await;
                Ok(pid)
            }
            Started::Vfork(child) => {
                // Stage 5: the parent's system call awaits the child's exec
                // or exit (FreeBSD's `fork_return` wait on P_PPWAIT).
                child.vfork_wait().await;
                Ok(child.pid())
            }
            Started::Throttled(errno) => Err(throttle(errno).await),
            Started::Thread => unreachable!("threads are made above"),
        }
    }

    /// What [`start`] did: all of a fork that does not wait.
    pub enum Started {
        /// The fork is over: the child's PID, or why there is none.
        Done(Result<Pid, Errno>),
        /// A child was made on the caller's CPU: the caller yields once
        /// ([`crate::task::yield_now`]) so that the child runs first
        /// (module docs, stage 5), then returns its PID.
        ChildFirst(Pid),
        /// A vfork child was made: the caller awaits its exec or exit
        /// ([`Process::vfork_wait`], stage 5), then returns its PID.
        Vfork(Arc<Process>),
        /// Refused at a limit: the caller fails with this error after
        /// [`throttle`] (`kern.forkfsleep`).
        Throttled(Errno),
        /// The request makes a thread: [`fork1`] does it.
        Thread,
    }

    /// [`fork1`] for a new process up to where it would wait: stages 1 to
    /// 4, synchronous. The system calls use it to run fork, vfork and
    /// clone without boxing [`fork1`]'s future (`syscall::dispatch`):
    /// what is left to await (vfork's wait, the throttle) is small.
    pub fn start(parent: &Arc<Process>, ctx: &UserContext, req: &ForkRequest) -> Started {
        if req.thread {
            return Started::Thread;
        }
        match fork_now(parent, ctx, req) {
            Ok(Made { child, .. }) if req.wait_for_child => Started::Vfork(child),
            Ok(Made {
                child,
                child_first: true,
            }) => Started::ChildFirst(child.pid()),
            Ok(Made { child, .. }) => Started::Done(Ok(child.pid())),
            Err(Failure {
                errno,
                at_limit: true,
            }) if forkfsleep_ms() > 0 => Started::Throttled(errno),
            Err(Failure { errno, .. }) => Started::Done(Err(errno)),
        }
    }

    /// Sleeps `kern.forkfsleep` after a fork refused at a limit (FreeBSD's
    /// `fork1` pause before `EAGAIN`), then gives back `errno`.
    pub async fn throttle(errno: Errno) -> Errno {
        let ms = forkfsleep_ms();
        if ms > 0 {
            crate::task::sleep(core::time::Duration::from_millis(ms)).await;
        }
        errno
    }

    /// [`fork1`]'s stages 1 to 4, synchronous. A plain function on purpose:
    /// it spawns a thread future, whose `Send` check would otherwise depend
    /// on `fork1`'s own future (the thread awaits `dispatch`, which awaits
    /// `fork1`) and be a cycle the compiler refuses.
    fn fork_now(
        parent: &Arc<Process>,
        ctx: &UserContext,
        req: &ForkRequest,
    ) -> Result<Made, Failure> {
        // 1. Refusals.
        unsupported(req)?;
        let Some(parent_space) = parent.space() else {
            return Err(Errno::ESRCH.into());
        };
        let ppid = match req.parent {
            ChildParent::Caller => parent.pid(),
            ChildParent::CallersParent => parent.ppid(),
            ChildParent::Reaper => crate::proc::reaper::reaper_of(parent.pid()),
        };
        let parent_ids = Ids {
            process: Some(parent),
            pid: parent.pid(),
            ppid,
            // The child takes the parent's (shared) name.
            name: "",
            exit_signal: req.resolved_exit_signal(parent.exit_signal()),
        };
        // 2. and 3.
        let (child, space) = make_child(&parent_ids, &parent_space, req)?;
        // The last allocation (after the child's table is made, which must
        // not hold it): the process descriptor, in the parent's
        // table (its number stored for the caller), undone with the rest.
        if let Some(pd) = req.procdesc
            && let Err(e) = make_procdesc(parent, &parent_space, &child, pd)
        {
            unmake_child(&child);
            return Err(e.into());
        }

        // 4. Commit: nothing fails from here on.
        let mut child_ctx = ctx.clone();
        child_ctx.rax = 0;
        if let Some(tls) = req.tls {
            child_ctx.fs_base = tls;
        }
        if let Some(stack) = req.stack {
            child_ctx.rsp = stack;
        }
        // Linux ignores a fault in these stores; so does Tine.
        let pid_bytes = child.pid().as_u32().to_le_bytes();
        if let Some(addr) = req.tids.parent_settid {
            let _ = parent_space.copy_to_user(addr, &pid_bytes);
        }
        if let Some(addr) = req.tids.child_settid {
            let _ = space.copy_to_user(addr, &pid_bytes);
        }
        // The child's one thread: a copy of the caller only (POSIX; seed
        // 001's fork1 copies `td`, the calling thread).
        // Its signal mask, alternate stack and CPU mask are the calling
        // thread's.
        let caller = crate::proc::thread::current();
        let signals = caller
            .as_ref()
            .map_or_else(crate::proc::signal::ThreadSignals::new, |t| {
                t.signals().fork_copy()
            });
        let leader = Thread::with_signals(child.pid(), child.clone(), signals);
        leader.inherit_affinity(caller.map_or(parent.affinity(), |t| t.affinity()));
        if let Some(addr) = req.tids.child_cleartid {
            leader.set_clear_child_tid(addr);
        }
        // Stage 5: a child pinned to this CPU runs first.
        let child_first = !req.wait_for_child
            && super::child_runs_first()
            && crate::proc::affinity::pinned_cpu(&leader) == Some(arch::cpu::id());
        child.add_thread(leader.clone());
        publish(&parent_ids, &parent_space, &child, req);
        // Detached, like `spawn_process`: the process state says when it ends.
        let builder = crate::task::Builder::new().name(child.name_shared());
        if req.wait_for_child {
            // The parent waits for this child's exec or exit (stage 5):
            // its CPU is about to be free, so the child starts there,
            // next in line (`task::wake_first`), and no idle CPU is called
            // to take it; the parent's wake-up at the child's exit then
            // stays on this CPU too (`Process::exit`). (A pinned parent's
            // child starts on its CPU anyway: `thread::spawn`.)
            let here = builder.cpu(arch::cpu::id());
            crate::task::wake_first(|| {
                crate::proc::thread::spawn(here, leader, space, child_ctx);
            });
        } else {
            crate::proc::thread::spawn(builder, leader, space, child_ctx);
        }
        Ok(Made { child, child_first })
    }

    /// `CLONE_THREAD`: a new thread of `parent` (`docs/threads.md`). The
    /// same stages as a process: the `maxproc` slot and the uid's
    /// `RLIMIT_NPROC` count (a thread counts as on Linux), then the TID,
    /// then the commit: the TID stores, the thread joins the process's
    /// list and its future starts from a copy of the caller's registers
    /// with `rax` 0, the new stack and TLS base. Returns the thread
    /// ([`fork1`] waits for it with `CLONE_VFORK`).
    fn fork_thread(
        parent: &Arc<Process>,
        ctx: &UserContext,
        req: &ForkRequest,
    ) -> Result<Arc<Thread>, Failure> {
        let Some(space) = parent.space() else {
            return Err(Errno::ESRCH.into());
        };
        if parent.signals().group_exit().is_some() {
            // The group is going away (Linux: a fatal signal is pending).
            return Err(Errno::EAGAIN.into());
        }
        let uid = take_limits(Some(parent), parent.pid())?;
        let tid = if injected(FailAt::Pid) {
            Err(Errno::EAGAIN)
        } else {
            crate::proc::pids()
                .alloc(req.pid_flags())
                .map_err(|_| Errno::EAGAIN)
        };
        let tid = match tid {
            Ok(tid) => tid,
            Err(e) => {
                uidinfo::uncharge(uid);
                process::release_slot();
                return Err(e.into());
            }
        };
        // Commit.
        // The caller's signal and CPU masks; no alternate stack (Linux
        // clears it for CLONE_VM without CLONE_VFORK).
        let caller = crate::proc::thread::current();
        let signals = caller
            .as_ref()
            .map_or_else(crate::proc::signal::ThreadSignals::new, |t| {
                t.signals().thread_copy()
            });
        let thread = Thread::with_signals(tid, parent.clone(), signals);
        thread.inherit_affinity(caller.map_or(!0, |t| t.affinity()));
        let mut thread_ctx = ctx.clone();
        thread_ctx.rax = 0;
        if let Some(tls) = req.tls {
            thread_ctx.fs_base = tls;
        }
        if let Some(stack) = req.stack {
            thread_ctx.rsp = stack;
        }
        let tid_bytes = tid.as_u32().to_le_bytes();
        for addr in [req.tids.parent_settid, req.tids.child_settid]
            .into_iter()
            .flatten()
        {
            let _ = space.copy_to_user(addr, &tid_bytes);
        }
        if let Some(addr) = req.tids.child_cleartid {
            thread.set_clear_child_tid(addr);
        }
        parent.add_thread(thread.clone());
        counters::count_fork(req, 0);
        crate::proc::thread::spawn(
            crate::task::Builder::new().name(parent.name_shared()),
            thread.clone(),
            space,
            thread_ctx,
        );
        Ok(thread)
    }

    /// Who makes a child: the parent's PID, the child's parent (stage 4's
    /// choice), name and exit signal.
    struct Ids<'a> {
        /// The parent process (`None` for the kernel), whose process group,
        /// session, signal state, name, descriptors and fs context the
        /// child inherits (as the request says).
        process: Option<&'a Process>,
        pid: Pid,
        ppid: Pid,
        /// The child's name when the kernel makes it (a forked child
        /// shares its parent's).
        name: &'a str,
        exit_signal: Option<u8>,
    }

    /// Frames a fork wants available (above the heap's reserve) besides
    /// the page tables it may have to copy ([`fork_memory_ok`]): the pages
    /// the first writes on both sides copy (a stack page, a data page,
    /// the TLS block: 16 between them) and a 128 KiB heap piece (32) for
    /// the child's records.
    const FORK_BASE_FRAMES: usize = 48;

    /// Whether memory allows a fork of a process whose space is
    /// `parent_space` (copied when `copy`, else shared). Fork itself
    /// copies at most one table (the child shares the parent's whole
    /// tree; a parent that wrote since its last fork moves to a copy of
    /// its PML4), but
    /// the writes after it copy the shared tables on the path they write
    /// on each side, and in all they can copy the tree once
    /// (`UserPageTable::tree_pages`: a static program's seven pages, a
    /// large process's hundreds); with less than that and
    /// [`FORK_BASE_FRAMES`] left, a fork that succeeded would have its
    /// parent (or the child) killed by the next faults. A shared space
    /// (vfork, `CLONE_VM`) copies no table. The tree is walked only when
    /// memory is short: every user table page in the machine
    /// (`arch::mm::user::table_pages`) bounds it, and available memory
    /// above that bound needs no look.
    fn fork_memory_ok(parent_space: &crate::vm::space::AddressSpace, copy: bool) -> bool {
        let available = arch::mm::frame::available();
        if available < FORK_BASE_FRAMES {
            return false;
        }
        if !copy || available >= FORK_BASE_FRAMES + arch::mm::user::table_pages() {
            return true;
        }
        available >= FORK_BASE_FRAMES + parent_space.table.tree_pages()
    }

    /// Stages 2 and 3 for any parent: the limits, then the PID, the address
    /// space and the `Process`, each undone if a later one fails. The child
    /// is not in the table yet.
    fn make_child(
        parent: &Ids<'_>,
        parent_space: &Arc<crate::vm::space::AddressSpace>,
        req: &ForkRequest,
    ) -> Result<(Arc<Process>, Arc<crate::vm::space::AddressSpace>), Failure> {
        // 1b. Memory: a process needs page-table pages and kernel heap;
        // with too little user memory left for what the parent's tables
        // may need (`fork_memory_ok`, `docs/memory.md`) the fork is
        // refused before anything is taken.
        let copy = matches!(req.address_space, AddressSpace::Copy);
        if !fork_memory_ok(parent_space, copy) {
            return Err(Failure {
                errno: Errno::ENOMEM,
                at_limit: false,
            });
        }
        let uid = take_limits(parent.process, parent.pid)?;
        // The kernel counts as root (clone3's set_tid below).
        let root = parent.process.is_none_or(|p| p.creds().is_root());

        // 3. Allocations, each undone on a later failure.
        let pid = if injected(FailAt::Pid) {
            Err(Errno::EAGAIN)
        } else if let Some(want) = req.set_tid {
            // clone3's set_tid: Linux asks for CAP_CHECKPOINT_RESTORE,
            // root here.
            if root {
                crate::proc::pids().alloc_exact(want).ok_or(Errno::EEXIST)
            } else {
                Err(Errno::EPERM)
            }
        } else {
            crate::proc::pids()
                .alloc(req.pid_flags())
                .map_err(|_| Errno::EAGAIN)
        };
        let pid = match pid {
            Ok(pid) => pid,
            Err(e) => {
                uidinfo::uncharge(uid);
                process::release_slot();
                return Err(e.into());
            }
        };
        let space = match req.address_space {
            _ if injected(FailAt::Space) => Err(Errno::ENOMEM),
            AddressSpace::Share => Ok(parent_space.clone()),
            AddressSpace::Copy => parent_space.fork().map(Arc::new),
        };
        let space = match space {
            Ok(space) => space,
            Err(e) => {
                crate::proc::pids().free(pid);
                uidinfo::uncharge(uid);
                process::release_slot();
                return Err(e.into());
            }
        };
        let child = match parent.process {
            // Process group, session, signal actions (copied or shared)
            // and mask are inherited; pending signals are not.
            Some(p) => {
                let signals = match req.sigactions {
                    crate::proc::fork_flags::SigActions::Copy => p.signals().fork_copy(),
                    crate::proc::fork_flags::SigActions::Share => p.signals().fork_shared(),
                };
                if req.drop_caught_signals {
                    signals.reset_caught();
                }
                // The descriptor table copied (without its FD_CLOFORK
                // descriptors), shared or fresh, and the cwd/umask copied
                // or shared; none of it can fail.
                let files = match req.files {
                    FileTable::Copy => Arc::new(p.files().fork_copy()),
                    FileTable::Share => p.files(),
                    FileTable::Fresh => Arc::new(crate::fs::Files::empty()),
                };
                let fs = match req.fs {
                    FsInfo::Copy => Arc::new(p.fs().clone_copy()),
                    FsInfo::Share => p.fs(),
                };
                Process::new_child_of(
                    p,
                    pid,
                    parent.ppid,
                    space.clone(),
                    parent.exit_signal,
                    signals,
                    (files, fs),
                )
            }
            None => Process::new_child(
                pid,
                parent.ppid,
                parent.name,
                space.clone(),
                parent.exit_signal,
            ),
        };
        child.set_charged_uid(uid);
        if req.wait_for_child {
            child.set_ppwait();
        }
        if req.kernel {
            child.set_system();
        }
        if let Some(p) = parent.process.filter(|_| req.peer_thread_group) {
            child.set_peer_leader(p.peer_leader());
        }
        if req.stopped {
            // RFSTOPPED: the child stops before its first instruction and
            // waits for SIGCONT.
            let stop = crate::proc::signal::SIGSTOP;
            crate::proc::signal::send(&child, stop, crate::proc::signal::SigInfo::kernel(stop));
        }
        Ok((child, space))
    }

    /// Stage 2, the limits: the global process count against `maxproc`
    /// (root may use the last slots), then the caller's real uid against
    /// its RLIMIT_NPROC (root is not held to it). Returns the uid charged.
    fn take_limits(process: Option<&Process>, pid: Pid) -> Result<u32, Failure> {
        let (uid, root, nproc) = match process {
            Some(p) => {
                let creds = p.creds();
                let limit = p
                    .rlimit(cred::resource::NPROC)
                    .map_or(cred::RLIM_INFINITY, |l| l.cur);
                let nproc = (!creds.is_root() && limit != cred::RLIM_INFINITY)
                    .then(|| usize::try_from(limit).unwrap_or(usize::MAX));
                (creds.uid, creds.is_root(), nproc)
            }
            None => (cred::ROOT, true, None),
        };
        if !process::reserve_slot(slot_limit(maxproc(), root)) {
            if MAXPROC_LOG.check(crate::task::now_ns()) {
                MAXPROC_LOGGED.fetch_add(1, Ordering::Relaxed);
                log::warn!("maxproc limit exceeded by uid {uid} (pid {})", pid);
            }
            return Err(Failure {
                errno: Errno::EAGAIN,
                at_limit: true,
            });
        }
        if !uidinfo::charge(uid, nproc) {
            process::release_slot();
            return Err(Failure {
                errno: Errno::EAGAIN,
                at_limit: true,
            });
        }
        Ok(uid)
    }

    /// Puts a process descriptor for `child` in `parent`'s table and stores
    /// its number where the request says (`pdfork`'s `fdp`, clone's
    /// `parent_tid`). `EMFILE` with a full table, `EFAULT` for a bad
    /// address; either leaves the table as it was.
    fn make_procdesc(
        parent: &Process,
        parent_space: &crate::vm::space::AddressSpace,
        child: &Arc<Process>,
        pd: crate::proc::fork_flags::ProcDesc,
    ) -> Result<(), Errno> {
        use crate::fs::fdtable::FdFlags;
        use crate::proc::fork_flags::{FdOut, PD_CLOEXEC, PD_DAEMON};
        if injected(FailAt::ProcDesc) {
            return Err(Errno::EMFILE);
        }
        let desc =
            crate::proc::procdesc::ProcDesc::new(child, pd.flags.contains(PD_DAEMON), pd.pidfd);
        let file = crate::fs::OpenFile::new(
            crate::fs::file::FileKind::ProcDesc(desc),
            alloc::string::String::new(),
            crate::fs::file::oflags::O_RDWR,
        );
        let flags = if pd.flags.contains(PD_CLOEXEC) {
            FdFlags::CLOEXEC
        } else {
            FdFlags::NONE
        };
        let files = parent.files();
        let fd = files.insert(file, flags, parent.nofile())?;
        if let FdOut::User(addr) = pd.fd_out
            && let Err(e) = parent_space.copy_to_user(addr, &(fd as i32).to_le_bytes())
        {
            drop(files.remove(u64::from(fd)));
            return Err(e);
        }
        if !pd.pidfd {
            child.set_procdesc();
        }
        Ok(())
    }

    /// Undoes [`make_child`] for a child that was never published.
    fn unmake_child(child: &Process) {
        crate::proc::pids().free(child.pid());
        uidinfo::uncharge(child.charged_uid());
        process::release_slot();
    }

    /// Stage 4's publication: count the fork, enter the child in the table,
    /// publish the event, run the fork hooks, and have the kernel reap a
    /// child it adopted.
    fn publish(
        parent: &Ids<'_>,
        parent_space: &crate::vm::space::AddressSpace,
        child: &Arc<Process>,
        req: &ForkRequest,
    ) {
        counters::count_fork(req, parent_space.virtual_pages());
        process::insert(child.clone());
        let kind = if req.wait_for_child {
            EventKind::Vfork
        } else {
            EventKind::Fork
        };
        events::publish(kind, req.rfork_flags(), parent.pid, child.pid().as_u32());
        events::run_fork_hooks(parent.pid, child.pid(), req);
        if parent.ppid == Pid::KERNEL {
            process::reap_in_background(child.pid());
        }
    }

    /// The address space kernel processes share (FreeBSD's `vmspace0`):
    /// empty, never entered.
    fn kernel_space() -> Result<Arc<crate::vm::space::AddressSpace>, Errno> {
        static SPACE: conquer_once::spin::OnceCell<Arc<crate::vm::space::AddressSpace>> =
            conquer_once::spin::OnceCell::uninit();
        if let Some(space) = SPACE.get() {
            return Ok(space.clone());
        }
        let space = Arc::new(crate::vm::space::AddressSpace::new()?);
        // Not `get_or_init`: conquer-once 0.4.0's panics (an `unreachable!`)
        // when another CPU completes the cell between its two looks. Here a
        // CPU that loses the race drops its space and takes the winner's;
        // `get` waits while the winner is storing it.
        let _ = SPACE.try_init_once(|| space);
        Ok(SPACE
            .get()
            .expect("the cell was set by this CPU or another")
            .clone())
    }

    /// A kernel process (FreeBSD's `kproc_create`, NetBSD's
    /// `FORK_SYSTEM`): `body` runs as an async kernel task that has a PID,
    /// a place in the process table (marked system, parent the kernel, so
    /// `ps` shows it) and the fork accounting of `fork_flags::kthread`
    /// (`v_kthreads`, shared space, hooks, events). When `body` ends the
    /// process exits with status 0 and the kernel reaps it. `high_pid`
    /// asks for `RFHIGHPID`. Errors: `EAGAIN` at the process limit or with
    /// no PID free, `ENOMEM` without a frame for the kernel space.
    pub fn kproc_create<F>(name: &str, high_pid: bool, body: F) -> Result<Pid, Errno>
    where
        F: core::future::Future<Output = ()> + Send + 'static,
    {
        let req = crate::proc::fork_flags::kthread(high_pid);
        let kernel = Ids {
            process: None,
            pid: Pid::KERNEL,
            ppid: Pid::KERNEL,
            name,
            exit_signal: None,
        };
        let parent_space = kernel_space()?;
        let (child, _space) = make_child(&kernel, &parent_space, &req).map_err(|f| f.errno)?;
        publish(&kernel, &parent_space, &child, &req);
        let pid = child.pid();
        drop(
            crate::task::Builder::new()
                .name(alloc::string::String::from(name))
                .spawn(async move {
                    body.await;
                    child.exit(0);
                }),
        );
        Ok(pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_slots_are_roots() {
        assert_eq!(slot_limit(1000, true), 1000);
        assert_eq!(slot_limit(1000, false), 990);
        assert_eq!(slot_limit(5, false), 0);
        assert_eq!(slot_limit(0, true), 0);
    }

    #[test]
    fn fork_and_vfork_are_supported_kernel_processes_not_yet() {
        use super::super::fork_flags;
        assert_eq!(unsupported(&fork_flags::fork()), Ok(()));
        assert_eq!(unsupported(&fork_flags::vfork()), Ok(()));
        assert_eq!(unsupported(&fork_flags::vfork_44bsd()), Ok(()));
        assert_eq!(unsupported(&fork_flags::kthread(false)), Err(Errno::ENOSYS));
    }

    #[test]
    fn the_rate_limit_lets_one_through_per_interval() {
        let limit = RateLimit::new(1000);
        assert!(limit.check(0), "the first event goes out");
        assert!(!limit.check(1));
        assert!(!limit.check(999));
        assert!(limit.check(1000), "a full interval later");
        assert!(!limit.check(1500));
        assert!(limit.check(5000));
        // 10,000 attempts within one interval: one message.
        let limit = RateLimit::new(1_000_000_000);
        let allowed = (0..10_000u64).filter(|i| limit.check(7 + i * 1000)).count();
        assert_eq!(allowed, 1);
    }
}
