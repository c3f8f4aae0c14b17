//! Processes: the process table, exit and wait.
//!
//! A `Process` is a PID, its parent's PID, a name, an address space
//! (shared with its threads through an `Arc`), a [`State`] (`Running` or
//! `Zombie(wait status)`) and an [`Event`](crate::task::Event) its children
//! notify when they change state. Its threads are futures
//! (`super::thread`); the first one is spawned by `spawn_process`.
//!
//! - The global process table maps `Pid` to `Arc<Process>` under one
//!   spin lock (never taken in interrupt handlers, held for a map operation
//!   only). A process is in it from its creation until it is reaped.
//! - Exit (`Process::exit`) records the Linux wait status
//!   ([`exit_status`], [`signal_status`]), drops the address space (its
//!   memory is freed now, not at reaping), marks the process a zombie and
//!   notifies the parent's event. The kernel (PID 0) is the parent of
//!   processes the kernel starts (the shell, tests); its event is a static.
//! - `wait` awaits the zombie on the parent's event (`wait_until`, so no
//!   notification is lost), then reaps it: removes it from the table and
//!   frees its PID.
//!
//! - Fork (`super::fork::fork1`) is the second way to make a `Process`
//!   ([`Process::new_child`], [`insert`]): a copy-on-write copy of the
//!   parent's address space and a copy of its `UserContext`.
//! - Orphans: when a process exits, its children are reparented to init
//!   (PID 1) if init is alive, else to the kernel, which reaps them with a
//!   small task each; the new parent's event is notified so a zombie
//!   orphan is seen.
//! - [`wait_child`] is `wait4`'s kernel side: one child or any child of a
//!   parent, optionally without blocking, reaped atomically under the table
//!   lock so two waiters never reap the same child.
//! - [`nprocs`] counts the processes in the table (zombies included);
//!   `fork1` holds it against `maxproc`.
//! - Signals (`super::signal`): each process has a `SignalState`
//!   ([`Process::signals`]); exit sends the exit signal to the parent and
//!   reaps at once when the parent ignores `SIGCHLD`. Process groups and
//!   sessions are two IDs per process ([`JobIds`]); [`set_pgid`],
//!   [`set_sid`]; `wait_child` takes a [`WaitFor::Group`] and reports
//!   stopped and continued children ([`WaitOptions`]).
//!
//! See `docs/processes.md` and `docs/fork.md`.

/// Signal numbers (Linux x86-64) the kernel raises itself.
pub mod signal {
    pub const SIGILL: i32 = 4;
    pub const SIGTRAP: i32 = 5;
    pub const SIGBUS: i32 = 7;
    pub const SIGFPE: i32 = 8;
    pub const SIGKILL: i32 = 9;
    pub const SIGSEGV: i32 = 11;
}

/// The wait status of a process that called `exit(code)`: `(code & 0xff)
/// << 8` (`WIFEXITED`, `WEXITSTATUS` = the low 8 bits of `code`).
pub const fn exit_status(code: i32) -> i32 {
    (code & 0xff) << 8
}

/// The wait status of a process killed by signal `sig` (`WIFSIGNALED`,
/// `WTERMSIG` = `sig`; no core dump flag).
pub const fn signal_status(sig: i32) -> i32 {
    sig & 0x7f
}

/// The signal a CPU exception in user mode raises, as on Linux: #DE and
/// the floating-point exceptions `SIGFPE`, #UD `SIGILL`, #DB/#BP
/// `SIGTRAP`, #AC `SIGBUS`, everything else (#GP, #SS, #NP, ...) `SIGSEGV`.
pub const fn signal_for_exception(vector: u8) -> i32 {
    match vector {
        0 | 16 | 19 => signal::SIGFPE,
        1 | 3 => signal::SIGTRAP,
        6 => signal::SIGILL,
        17 => signal::SIGBUS,
        _ => signal::SIGSEGV,
    }
}

/// A process's life stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Its threads run (or are runnable, or blocked in a system call).
    Running,
    /// Exited with this wait status; waiting to be reaped.
    Zombie(i32),
}

#[cfg(target_os = "none")]
pub use imp::*;

#[cfg(target_os = "none")]
mod imp {
    use alloc::collections::BTreeMap;
    use alloc::string::String;
    use alloc::sync::Arc;
    use alloc::vec::Vec;
    use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

    use super::State;
    use crate::fs::{Files, FsContext, OpenFile};
    use crate::proc::cred::{Creds, Rlimit, Rlimits};
    use crate::proc::pid::{Pid, PidFlags};
    use crate::proc::signal::{self as sig, SignalState};
    use crate::syscall::Errno;
    use crate::task::Event;
    use crate::vm::space::AddressSpace;

    /// A process (module docs).
    pub struct Process {
        pid: Pid,
        /// Changes when the parent exits (reparenting to init or the
        /// kernel).
        ppid: spin::Mutex<Pid>,
        /// The program's file name; `execve` changes it.
        name: spin::Mutex<String>,
        /// User and group ids (`super::cred`); fork copies them.
        creds: spin::Mutex<Creds>,
        /// Resource limits; fork copies them.
        rlimits: spin::Mutex<Rlimits>,
        /// The real uid this process is counted under (`super::uidinfo`).
        charged_uid: core::sync::atomic::AtomicU32,
        /// `set_tid_address`: where to store 0 at exit (0 = nowhere). Per
        /// thread once processes have several.
        clear_child_tid: AtomicU64,
        /// `set_robust_list`: the list head (stored, not walked yet).
        robust_list: AtomicU64,
        /// The CPUs the thread may run on (bit N = CPU N);
        /// `sched_setaffinity` changes it, fork copies it.
        affinity: AtomicU64,
        /// The thread has yet to move to obey `affinity` (set by
        /// `set_affinity` and fork, cleared by `take_affinity_change`).
        affinity_changed: core::sync::atomic::AtomicBool,
        /// Nanoseconds spent in user mode (measured by the thread loop
        /// around each entry to ring 3).
        user_ns: AtomicU64,
        /// The signal the parent gets when this process exits (`SIGCHLD`
        /// for fork; `None` sends nothing).
        exit_signal: Option<u8>,
        /// Its process group and session (`JobIds`).
        job: spin::Mutex<JobIds>,
        /// It has called `execve` (a parent's `setpgid` on it is `EACCES`
        /// from then on).
        execed: AtomicBool,
        /// Its exit is complete: the parent has been sent the exit signal,
        /// so `wait4` may reap it (a waiter that reaps a zombie must find
        /// its `SIGCHLD` already pending, as on Linux).
        exit_notified: AtomicBool,
        /// Its signal mask, pending signals, actions, job-control state.
        signals: SignalState,
        /// `None` once the process has exited (the memory is freed then).
        space: spin::Mutex<Option<Arc<AddressSpace>>>,
        state: spin::Mutex<State>,
        /// Notified when one of this process's children changes state.
        children: Event,
        /// The parent waits for this child's exec or exit (`RFPPWAIT`,
        /// vfork): FreeBSD's `P_PPWAIT`.
        ppwait: AtomicBool,
        /// Set once, when the vfork wait is over (`VforkDone`).
        vfork_done: AtomicBool,
        /// Notified when `vfork_done` is set.
        vfork_event: Event,
        /// A kernel process (`FR2_KPROC`; `ps` marks it).
        system: AtomicBool,
        /// Acquired reaper status (`procctl(PROC_REAP_ACQUIRE)`).
        reaper: AtomicBool,
        /// Owned by a process descriptor (`super::procdesc`) that is still
        /// open: `wait4(-1)` skips it.
        procdesc: AtomicBool,
        /// The leader of this process's peer group (`RFTHREAD`; FreeBSD's
        /// `p_leader`); 0 means the process leads itself.
        leader: core::sync::atomic::AtomicU32,
        /// Where this process's next `forkevents` read starts (`u64::MAX`:
        /// it has not read yet).
        event_cursor: AtomicU64,
        /// The CPU its thread last entered user mode on (`u32::MAX`: not
        /// yet), for `ps`.
        last_cpu: AtomicU32,
        /// The descriptor table: an `Arc` so it can be shared
        /// (`CLONE_FILES`) or replaced in place; emptied at exit.
        files: spin::Mutex<Arc<Files>>,
        /// The cwd and umask, an `Arc` so it can be shared (`CLONE_FS`).
        fs: spin::Mutex<Arc<FsContext>>,
    }

    /// A process's process group and session IDs.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct JobIds {
        /// The process group (`getpgid`).
        pub pgid: Pid,
        /// The session (`getsid`).
        pub sid: Pid,
    }

    /// The process table.
    static TABLE: spin::Mutex<BTreeMap<Pid, Arc<Process>>> = spin::Mutex::new(BTreeMap::new());

    /// The child-state event of the kernel (PID 0), the parent of the
    /// processes the kernel starts.
    static KERNEL_CHILDREN: Event = Event::new();

    /// The number of processes in the table (module docs).
    static NPROCS: AtomicUsize = AtomicUsize::new(0);

    /// How many processes exist now (running and zombies).
    pub fn nprocs() -> usize {
        NPROCS.load(Ordering::Relaxed)
    }

    /// Takes a process slot if fewer than `limit` are taken (fork's
    /// `maxproc` check, done atomically so two forks cannot both take the
    /// last slot). Give it back with [`release_slot`] if the fork fails.
    pub fn reserve_slot(limit: usize) -> bool {
        NPROCS
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < limit).then_some(n + 1)
            })
            .is_ok()
    }

    /// Gives back a slot of [`reserve_slot`] (a failed fork) or of a
    /// reaped process.
    pub fn release_slot() {
        NPROCS.fetch_sub(1, Ordering::Relaxed);
    }

    impl Process {
        /// A new process: `pid`, parent `ppid`, `name`, its own `space`,
        /// running, leader of its own session and group (`pgid = sid =
        /// pid`), default signal state. It is not in the table until
        /// [`insert`].
        pub fn new_child(
            pid: Pid,
            ppid: Pid,
            name: &str,
            space: Arc<AddressSpace>,
            exit_signal: Option<u8>,
        ) -> Arc<Process> {
            Self::build(
                pid,
                ppid,
                name,
                space,
                exit_signal,
                JobIds {
                    pgid: pid,
                    sid: pid,
                },
                SignalState::new(),
            )
        }

        /// A forked child of `parent` whose parent is `ppid` (usually
        /// `parent`): `parent`'s name, process group and session; `signals`
        /// is `parent.signals().fork_copy()` (fork) or `.fork_shared()`
        /// (`CLONE_SIGHAND`, `RFSIGSHARE`).
        pub fn new_child_of(
            parent: &Process,
            pid: Pid,
            ppid: Pid,
            space: Arc<AddressSpace>,
            exit_signal: Option<u8>,
            signals: SignalState,
        ) -> Arc<Process> {
            let child = Self::build(
                pid,
                ppid,
                &parent.name(),
                space,
                exit_signal,
                parent.job(),
                signals,
            );
            child.inherit_from(parent);
            child
        }

        fn build(
            pid: Pid,
            ppid: Pid,
            name: &str,
            space: Arc<AddressSpace>,
            exit_signal: Option<u8>,
            job: JobIds,
            signals: SignalState,
        ) -> Arc<Process> {
            Arc::new(Process {
                pid,
                ppid: spin::Mutex::new(ppid),
                name: spin::Mutex::new(String::from(name)),
                creds: spin::Mutex::new(Creds::ROOT),
                rlimits: spin::Mutex::new(Rlimits::boot_defaults(
                    crate::proc::fork::maxproc() as u64
                )),
                clear_child_tid: AtomicU64::new(0),
                charged_uid: core::sync::atomic::AtomicU32::new(0),
                robust_list: AtomicU64::new(0),
                affinity: AtomicU64::new(!0),
                affinity_changed: core::sync::atomic::AtomicBool::new(false),
                user_ns: AtomicU64::new(0),
                exit_signal,
                job: spin::Mutex::new(job),
                execed: AtomicBool::new(false),
                exit_notified: AtomicBool::new(false),
                signals,
                space: spin::Mutex::new(Some(space)),
                state: spin::Mutex::new(State::Running),
                children: Event::new(),
                ppwait: AtomicBool::new(false),
                vfork_done: AtomicBool::new(false),
                vfork_event: Event::new(),
                event_cursor: AtomicU64::new(u64::MAX),
                system: AtomicBool::new(false),
                reaper: AtomicBool::new(false),
                procdesc: AtomicBool::new(false),
                leader: core::sync::atomic::AtomicU32::new(0),
                last_cpu: AtomicU32::new(u32::MAX),
                files: spin::Mutex::new(Arc::new(Files::empty())),
                fs: spin::Mutex::new(Arc::new(FsContext::root())),
            })
        }

        /// Its signal state (`proc::signal`).
        pub fn signals(&self) -> &SignalState {
            &self.signals
        }

        /// Its process group and session.
        pub fn job(&self) -> JobIds {
            *self.job.lock()
        }

        /// Its process group.
        pub fn pgid(&self) -> Pid {
            self.job().pgid
        }

        /// Its session.
        pub fn sid(&self) -> Pid {
            self.job().sid
        }

        /// The wait status, once the process has exited and its parent has
        /// been told (what `wait4` reaps).
        fn reapable(&self) -> Option<i32> {
            // Acquire: pairs with the Release at the end of `exit`.
            if !self.exit_notified.load(Ordering::Acquire) {
                return None;
            }
            match self.state() {
                State::Zombie(status) => Some(status),
                State::Running => None,
            }
        }

        /// Records that the process has called `execve` (the exec code
        /// calls this once the new image is committed).
        pub fn mark_execed(&self) {
            // Relaxed: read by `setpgid` under no ordering with other data.
            self.execed.store(true, Ordering::Relaxed);
        }

        /// Whether the process has called `execve`.
        pub fn has_execed(&self) -> bool {
            self.execed.load(Ordering::Relaxed)
        }

        /// Records that its thread runs on `cpu` now (the thread loop
        /// calls this before entering user mode).
        pub fn set_last_cpu(&self, cpu: usize) {
            // Relaxed: a statistic; readers need no ordering with it.
            self.last_cpu.store(cpu as u32, Ordering::Relaxed);
        }

        /// The CPU its thread last ran user code on, if it ran.
        pub fn last_cpu(&self) -> Option<u32> {
            Some(self.last_cpu.load(Ordering::Relaxed)).filter(|&c| c != u32::MAX)
        }

        /// Its descriptor table (new processes start with an empty one).
        pub fn files(&self) -> Arc<Files> {
            self.files.lock().clone()
        }

        /// Replaces its descriptor table (fork gives the child a copy;
        /// `CLONE_FILES` would give it the parent's `Arc`).
        pub fn set_files(&self, files: Arc<Files>) {
            let old = core::mem::replace(&mut *self.files.lock(), files);
            drop(old);
        }

        /// Its fs context (cwd, umask).
        pub fn fs(&self) -> Arc<FsContext> {
            self.fs.lock().clone()
        }

        /// Replaces its fs context.
        pub fn set_fs(&self, fs: Arc<FsContext>) {
            *self.fs.lock() = fs;
        }

        /// The signal the parent gets at this process's exit.
        pub fn exit_signal(&self) -> Option<u8> {
            self.exit_signal
        }

        /// This process's PID.
        pub fn pid(&self) -> Pid {
            self.pid
        }

        /// Its parent's PID ([`Pid::KERNEL`] for processes the kernel
        /// started).
        pub fn ppid(&self) -> Pid {
            *self.ppid.lock()
        }

        /// Its name (the file name of the program it runs now).
        pub fn name(&self) -> String {
            self.name.lock().clone()
        }

        /// What fork copies from the parent besides the address space:
        /// credentials, resource limits, the CPU affinity.
        pub fn inherit_from(&self, parent: &Process) {
            *self.creds.lock() = parent.creds();
            *self.rlimits.lock() = *parent.rlimits.lock();
            let mask = parent.affinity();
            self.affinity.store(mask, Ordering::Relaxed);
            // Release: as in `set_affinity`.
            self.affinity_changed.store(mask != !0, Ordering::Release);
        }

        /// Its user and group ids.
        pub fn creds(&self) -> Creds {
            *self.creds.lock()
        }

        /// Changes its ids with `f` (which may refuse, leaving them as
        /// they were).
        pub fn update_creds<T>(
            &self,
            f: impl FnOnce(&mut Creds) -> Result<T, Errno>,
        ) -> Result<T, Errno> {
            let mut creds = self.creds.lock();
            let mut new = *creds;
            let out = f(&mut new)?;
            *creds = new;
            Ok(out)
        }

        /// Its limit of `resource` (`cred::resource::*`); `EINVAL` for an
        /// unknown one.
        pub fn rlimit(&self, resource: u32) -> Result<Rlimit, Errno> {
            self.rlimits.lock().get(resource)
        }

        /// `setrlimit`: sets the limit of `resource` if `by` (the caller's
        /// credentials) may (`cred::Rlimits::set`); returns the old one.
        pub fn set_rlimit(&self, resource: u32, new: Rlimit, by: &Creds) -> Result<Rlimit, Errno> {
            let mut limits = self.rlimits.lock();
            let old = limits.get(resource)?;
            limits.set(resource, new, by)?;
            Ok(old)
        }

        /// Records that this (new) process is counted under `uid`
        /// (`uidinfo::charge` already ran).
        pub fn set_charged_uid(&self, uid: u32) {
            self.charged_uid.store(uid, Ordering::Relaxed);
        }

        /// The real uid this process is counted under.
        pub fn charged_uid(&self) -> u32 {
            self.charged_uid.load(Ordering::Relaxed)
        }

        /// `setuid`: changes the ids with [`crate::proc::cred::Creds::setuid`]
        /// and moves the process's count to its new real uid (FreeBSD's
        /// `change_ruid`).
        pub fn setuid(&self, uid: u32) -> Result<(), Errno> {
            let mut creds = self.creds.lock();
            let mut new = *creds;
            new.setuid(uid)?;
            let old = self.charged_uid.swap(new.uid, Ordering::Relaxed);
            crate::proc::uidinfo::transfer(old, new.uid);
            *creds = new;
            Ok(())
        }

        /// `set_tid_address`: at exit, 0 is stored at `addr` (if not 0).
        pub fn set_clear_child_tid(&self, addr: u64) {
            self.clear_child_tid.store(addr, Ordering::Relaxed);
        }

        /// `set_robust_list`: remembers the list head.
        pub fn set_robust_list(&self, head: u64) {
            self.robust_list.store(head, Ordering::Relaxed);
        }

        /// The robust list head `set_robust_list` stored.
        pub fn robust_list(&self) -> u64 {
            self.robust_list.load(Ordering::Relaxed)
        }

        /// The CPU mask its thread may run on.
        pub fn affinity(&self) -> u64 {
            self.affinity.load(Ordering::Relaxed)
        }

        /// Records a new CPU mask; the thread moves at its next trip
        /// through its trap loop (`syscall::misc::apply_affinity`).
        pub fn set_affinity(&self, mask: u64) {
            self.affinity.store(mask, Ordering::Relaxed);
            // Release: pairs with the Acquire in `take_affinity_change`, so
            // the thread that sees the flag sees the mask.
            self.affinity_changed.store(true, Ordering::Release);
        }

        /// Whether the mask changed since the last call (and forgets it).
        pub fn take_affinity_change(&self) -> bool {
            // Acquire: pairs with the Release in `set_affinity`. A cheap
            // load first: this runs before every entry to user mode.
            self.affinity_changed.load(Ordering::Acquire)
                && self.affinity_changed.swap(false, Ordering::Acquire)
        }

        /// Adds `ns` of user-mode time.
        pub fn account_user_ns(&self, ns: u64) {
            self.user_ns.fetch_add(ns, Ordering::Relaxed);
        }

        /// Nanoseconds spent in user mode so far.
        pub fn user_ns(&self) -> u64 {
            self.user_ns.load(Ordering::Relaxed)
        }

        /// `execve`'s commit: the process now runs `space` under `name`;
        /// the old space is returned (dropped by the caller outside the
        /// lock; another holder, a vfork parent, keeps it intact).
        /// `set_tid_address`'s pointer belonged to the old image and is
        /// forgotten.
        pub fn exec_commit(
            &self,
            name: &str,
            space: Arc<AddressSpace>,
        ) -> Option<Arc<AddressSpace>> {
            *self.name.lock() = String::from(name);
            self.clear_child_tid.store(0, Ordering::Relaxed);
            self.robust_list.store(0, Ordering::Relaxed);
            self.space.lock().replace(space)
        }

        /// Gives the process a new address space (rfork's unsharing);
        /// returns the old one. The calling thread must switch to it too
        /// (`syscall::Action::Switch`).
        pub fn replace_space(&self, space: Arc<AddressSpace>) -> Option<Arc<AddressSpace>> {
            self.space.lock().replace(space)
        }

        /// Its state now.
        pub fn state(&self) -> State {
            *self.state.lock()
        }

        /// Its address space; `None` after exit.
        pub fn space(&self) -> Option<Arc<AddressSpace>> {
            self.space.lock().clone()
        }

        /// Marks this child as one its parent waits for (vfork; before it
        /// runs).
        pub fn set_ppwait(&self) {
            self.ppwait.store(true, Ordering::Release);
        }

        /// Fires `VforkDone`: the vfork parent may go on. Called when the
        /// child execs, exits or is killed; only the first call of a vfork
        /// child does anything (it is published as a `VforkDone` event), and
        /// for other processes it is a no-op.
        pub fn vfork_release(&self) {
            if !self.ppwait.load(Ordering::Acquire) || self.vfork_done.swap(true, Ordering::AcqRel)
            {
                return;
            }
            crate::proc::events::publish(
                crate::proc::events::EventKind::VforkDone,
                0,
                self.pid,
                self.ppid().as_u32(),
            );
            self.vfork_event.notify_all();
        }

        /// Whether `VforkDone` has fired.
        pub fn vfork_released(&self) -> bool {
            self.vfork_done.load(Ordering::Acquire)
        }

        /// Marks this process a kernel process (before it is published).
        pub fn set_system(&self) {
            self.system.store(true, Ordering::Relaxed);
        }

        /// Whether this is a kernel process.
        pub fn is_system(&self) -> bool {
            self.system.load(Ordering::Relaxed)
        }

        /// The leader of this process's peer group: itself unless it was
        /// made by `RFTHREAD`.
        pub fn peer_leader(&self) -> Pid {
            match self.leader.load(Ordering::Relaxed) {
                0 => self.pid,
                n => Pid::new(n).unwrap_or(self.pid),
            }
        }

        /// Puts this (new) process in `leader`'s peer group.
        pub fn set_peer_leader(&self, leader: Pid) {
            let raw = if leader == self.pid {
                0
            } else {
                leader.as_u32()
            };
            self.leader.store(raw, Ordering::Relaxed);
        }

        /// Marks this (new) process as owned by a process descriptor.
        pub fn set_procdesc(&self) {
            self.procdesc.store(true, Ordering::Release);
        }

        /// Whether an open process descriptor owns it (`wait4(-1)` skips
        /// it).
        pub fn has_procdesc(&self) -> bool {
            self.procdesc.load(Ordering::Acquire)
        }

        /// Whether this process acquired reaper status.
        pub fn is_reaper(&self) -> bool {
            self.reaper.load(Ordering::Acquire)
        }

        /// Sets or clears reaper status; returns whether it was set.
        pub fn set_reaper(&self, on: bool) -> bool {
            self.reaper.swap(on, Ordering::AcqRel)
        }

        /// This process's event-stream cursor; its first use starts at
        /// `head()` (only later events).
        pub fn event_cursor(&self, head: fn() -> u64) -> u64 {
            match self.event_cursor.load(Ordering::Relaxed) {
                u64::MAX => {
                    let start = head();
                    self.event_cursor.store(start, Ordering::Relaxed);
                    start
                }
                c => c,
            }
        }

        /// Moves the event-stream cursor.
        pub fn set_event_cursor(&self, cursor: u64) {
            self.event_cursor.store(cursor, Ordering::Relaxed);
        }

        /// Waits for `VforkDone` (the vfork parent's await).
        pub async fn vfork_wait(&self) {
            self.vfork_event.wait_until(|| self.vfork_released()).await;
        }

        /// Ends the process with wait status `status` (module docs). Only
        /// the first call counts.
        pub fn exit(&self, status: i32) {
            // Closes its descriptors first (Linux's `exit_files` before
            // `exit_notify`): pipe readers see end of file now, not at
            // reaping, and nothing is left to do between the zombie state
            // and the parent's notification. A repeated call finds the
            // table empty.
            if self.state() == State::Running {
                self.set_files(Arc::new(Files::empty()));
            }
            {
                let mut state = self.state.lock();
                if *state != State::Running {
                    return;
                }
                *state = State::Zombie(status);
            }
            self.clear_tid();
            // Frees the memory unless a thread (or a vfork parent) still
            // holds the space.
            drop(self.space.lock().take());
            crate::proc::events::publish(
                crate::proc::events::EventKind::Exit,
                0,
                self.pid,
                status as u32,
            );
            // A vfork parent goes on (the child exited or was killed).
            self.vfork_release();
            crate::proc::reaper::on_exit(self);
            kill_peers(self.pid);
            reparent_children(self.pid);
            if sig::exit_notify(self, status) && TABLE.lock().remove(&self.pid).is_some() {
                // The parent ignores SIGCHLD: nobody will wait for us.
                reaped(self);
            }
            // Release: pairs with the Acquire in `reapable`; the exit
            // signal is pending in the parent before a waiter can reap.
            self.exit_notified.store(true, Ordering::Release);
            notify_parent(self.ppid());
        }
    }

    /// When the leader of an `RFTHREAD` peer group exits, its peers are
    /// killed (FreeBSD's `exit1`, which also waits for them; Tine does not
    /// wait: the peers die on their own).
    fn kill_peers(leader: Pid) {
        let peers: Vec<Arc<Process>> = TABLE
            .lock()
            .values()
            .filter(|p| p.pid != leader && p.peer_leader() == leader)
            .cloned()
            .collect();
        for p in peers {
            sig::send(&p, sig::SIGKILL, sig::SigInfo::kernel(sig::SIGKILL));
        }
    }

    /// The last process descriptor of `p` was closed (`super::procdesc`):
    /// a zombie is reaped now; a running process goes to its reaper, which
    /// waits for it as for any orphan, and it is no longer hidden from
    /// `wait4(-1)`.
    pub fn close_procdesc(p: &Process) {
        if p.state() != State::Running {
            if TABLE.lock().remove(&p.pid).is_some() {
                reaped(p);
            }
            return;
        }
        p.procdesc.store(false, Ordering::Release);
        let reaper = crate::proc::reaper::reaper_of(p.pid);
        *p.ppid.lock() = reaper;
        if reaper == Pid::KERNEL {
            reap_in_background(p.pid);
        }
        notify_parent(reaper);
    }

    /// How many live processes use `space` (more than one after vfork or
    /// `CLONE_VM`).
    pub fn space_sharers(space: &Arc<AddressSpace>) -> usize {
        let procs: Vec<Arc<Process>> = TABLE.lock().values().cloned().collect();
        procs
            .iter()
            .filter(|p| p.space().is_some_and(|s| Arc::ptr_eq(&s, space)))
            .count()
    }

    /// Has a kernel task wait for and reap `pid`, a child of the kernel no
    /// one else waits for.
    pub fn reap_in_background(pid: Pid) {
        drop(crate::task::spawn(async move {
            // `ECHILD` only if someone else reaped it first.
            let _ = wait(pid).await;
        }));
    }

    impl Process {
        /// `set_tid_address`'s exit half: store a 0 `u32` at the address
        /// (a bad one is ignored, as Linux does). No futex wake yet.
        fn clear_tid(&self) {
            let addr = self.clear_child_tid.swap(0, Ordering::Relaxed);
            if addr != 0
                && let Some(space) = self.space()
            {
                let _ = space.copy_to_user(addr, &0u32.to_le_bytes());
            }
        }
    }

    /// Gives the children of `dead` to its reaper (`super::reaper`): the
    /// nearest reaper ancestor, init if it is alive, else the kernel, which
    /// reaps them (module docs).
    fn reparent_children(dead: Pid) {
        let adopter = crate::proc::reaper::reaper_of(dead);
        let mut orphans = Vec::new();
        for p in TABLE.lock().values() {
            let mut ppid = p.ppid.lock();
            if *ppid == dead {
                *ppid = adopter;
                orphans.push(p.pid);
            }
        }
        if orphans.is_empty() {
            return;
        }
        if adopter == Pid::KERNEL {
            for pid in orphans {
                reap_in_background(pid);
            }
        }
        // Init may already wait for any child; a zombie orphan is one now.
        notify_parent(adopter);
    }

    /// Wakes whoever waits for a child of `ppid`.
    pub(crate) fn notify_parent(ppid: Pid) {
        if ppid == Pid::KERNEL {
            KERNEL_CHILDREN.notify_all();
        } else if let Some(parent) = lookup(ppid) {
            parent.children.notify_all();
        }
    }

    /// Every process in the table (zombies included), by PID.
    pub fn all() -> Vec<Arc<Process>> {
        TABLE.lock().values().cloned().collect()
    }

    /// `setpgid(pid, pgid)` called by `caller` (POSIX's rules): `pid` 0
    /// is the caller, `pgid` 0 is `pid`. `ESRCH` unless the target is the
    /// caller or one of its children; `EACCES` for a child that has exec'd;
    /// `EPERM` for a child in another session, a session leader, or a
    /// group that does not exist in the caller's session (other than the
    /// target's own PID). `EINVAL` for a negative `pgid` is the caller's.
    pub fn set_pgid(caller: &Process, pid: Pid, pgid: Option<Pid>) -> Result<(), Errno> {
        let table = TABLE.lock();
        let target = table.get(&pid).ok_or(Errno::ESRCH)?;
        let is_self = target.pid == caller.pid;
        if !is_self && target.ppid() != caller.pid {
            return Err(Errno::ESRCH);
        }
        let caller_job = caller.job();
        let target_job = target.job();
        if !is_self {
            if target_job.sid != caller_job.sid {
                return Err(Errno::EPERM);
            }
            if target.has_execed() {
                return Err(Errno::EACCES);
            }
        }
        if target_job.sid == target.pid {
            return Err(Errno::EPERM);
        }
        let pgid = pgid.unwrap_or(target.pid);
        if pgid != target.pid
            && !table
                .values()
                .any(|p| p.pgid() == pgid && p.sid() == caller_job.sid)
        {
            return Err(Errno::EPERM);
        }
        target.job.lock().pgid = pgid;
        Ok(())
    }

    /// `setsid()`: `caller` leads a new session and group, both its PID.
    /// `EPERM` if a process group with its PID exists (it leads one).
    pub fn set_sid(caller: &Process) -> Result<Pid, Errno> {
        let table = TABLE.lock();
        if table.values().any(|p| p.pgid() == caller.pid) {
            return Err(Errno::EPERM);
        }
        *caller.job.lock() = JobIds {
            pgid: caller.pid,
            sid: caller.pid,
        };
        Ok(caller.pid)
    }

    /// The process with PID `pid`, if it exists (zombies included).
    pub fn lookup(pid: Pid) -> Option<Arc<Process>> {
        TABLE.lock().get(&pid).cloned()
    }

    /// One line of `ps`.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct ProcInfo {
        pub pid: Pid,
        pub ppid: Pid,
        pub state: State,
        pub name: String,
        /// A kernel process.
        pub system: bool,
        /// The CPU it last ran on (`None`: never ran).
        pub last_cpu: Option<u32>,
        /// Its process group and session.
        pub pgid: Pid,
        pub sid: Pid,
        /// Stopped by a signal.
        pub stopped: bool,
    }

    /// Every process, by PID (a snapshot).
    pub fn list() -> Vec<ProcInfo> {
        let procs: Vec<Arc<Process>> = TABLE.lock().values().cloned().collect();
        procs
            .iter()
            .map(|p| ProcInfo {
                pid: p.pid,
                ppid: p.ppid(),
                state: p.state(),
                name: p.name(),
                system: p.is_system(),
                last_cpu: p.last_cpu(),
                pgid: p.pgid(),
                sid: p.sid(),
                stopped: p.signals().is_stopped(),
            })
            .collect()
    }

    /// Starts the program at `path` of the initramfs as a new process whose
    /// parent is the kernel, with `argv` and `envp`, its one thread on the
    /// least-loaded CPU. Errors: those of [`crate::exec::load`], `EAGAIN`
    /// when no PID is free.
    pub fn spawn_process(path: &str, argv: &[&[u8]], envp: &[&[u8]]) -> Result<Pid, Errno> {
        spawn_process_on(None, path, argv, envp)
    }

    /// [`spawn_process`] with the thread's first CPU chosen (`Some(cpu)`;
    /// it may still migrate).
    pub fn spawn_process_on(
        cpu: Option<usize>,
        path: &str,
        argv: &[&[u8]],
        envp: &[&[u8]],
    ) -> Result<Pid, Errno> {
        let loaded = crate::exec::load::load(path, argv, envp)?;
        // Nothing fails after the PID is taken.
        let pid = crate::proc::pids()
            .alloc(PidFlags::NONE)
            .map_err(|_| Errno::EAGAIN)?;
        let name = String::from(path.rsplit('/').next().unwrap_or(path));
        let space = Arc::new(loaded.space);
        let process = Process::new_child(pid, Pid::KERNEL, &name, space.clone(), None);
        process.set_files(Arc::new(Files::with_stdio(OpenFile::console())));
        NPROCS.fetch_add(1, Ordering::Relaxed);
        // Root's, without a limit.
        crate::proc::uidinfo::charge(crate::proc::cred::ROOT, None);
        TABLE.lock().insert(pid, process.clone());
        let ctx = arch::user::UserContext::new(loaded.entry, loaded.rsp);
        let mut builder = crate::task::Builder::new().name(name);
        if let Some(cpu) = cpu {
            builder = builder.cpu(cpu % crate::task::ncpus());
        }
        // Detached: the process's state, not the task, says when it ends.
        drop(builder.spawn(crate::proc::thread::run(process, space, ctx)));
        Ok(pid)
    }

    /// Waits until process `pid` (a child of the kernel) has exited, reaps
    /// it (removes it from the table, frees its PID) and returns its wait
    /// status. `ECHILD` if there is no such process or another waiter
    /// reaped it first.
    pub async fn wait(pid: Pid) -> Result<i32, Errno> {
        let process = lookup(pid).ok_or(Errno::ECHILD)?;
        let zombie = || process.reapable().is_some();
        let ppid = process.ppid();
        if ppid == Pid::KERNEL {
            KERNEL_CHILDREN.wait_until(zombie).await;
        } else {
            let parent = lookup(ppid).ok_or(Errno::ECHILD)?;
            parent.children.wait_until(zombie).await;
        }
        let State::Zombie(status) = process.state() else {
            unreachable!("waited for the zombie state");
        };
        if TABLE.lock().remove(&pid).is_none() {
            return Err(Errno::ECHILD);
        }
        reaped(&process);
        Ok(status)
    }

    /// What follows a removal from the table: the PID, the slot and the
    /// uid's count are free.
    fn reaped(p: &Process) {
        crate::proc::pids().free(p.pid);
        release_slot();
        crate::proc::uidinfo::uncharge(p.charged_uid.load(Ordering::Relaxed));
    }

    /// Inserts a forked child (fork's commit point: this cannot fail). Its
    /// slot was taken with [`reserve_slot`].
    pub fn insert(process: Arc<Process>) {
        TABLE.lock().insert(process.pid, process);
    }

    /// Which children `wait4` waits for.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum WaitFor {
        /// Any child (`pid = -1`).
        Any,
        /// This one (`pid > 0`).
        Pid(Pid),
        /// Those in this process group (`pid = 0`: the caller's; `pid <
        /// -1`: group `-pid`).
        Group(Pid),
    }

    impl WaitFor {
        /// Whether `p` is a child of `parent` this target names.
        fn matches(self, parent: Pid, p: &Process) -> bool {
            p.ppid() == parent
                && match self {
                    // FreeBSD: a descriptor-owned child is not "any" child.
                    WaitFor::Any => !p.has_procdesc(),
                    WaitFor::Pid(pid) => pid == p.pid,
                    WaitFor::Group(pgid) => pgid == p.pgid(),
                }
        }
    }

    /// What `wait4` reports besides exits (`WUNTRACED`, `WCONTINUED`) and
    /// whether it blocks (`WNOHANG`).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct WaitOptions {
        /// Return `Ok(None)` instead of waiting.
        pub nohang: bool,
        /// Report children that stopped (status `sig << 8 | 0x7f`).
        pub untraced: bool,
        /// Report children that continued (status `0xffff`).
        pub continued: bool,
    }

    impl WaitOptions {
        /// Whether `p` has something to report under these options.
        fn reportable(self, p: &Process) -> bool {
            p.reapable().is_some() || p.signals.has_report(self.untraced, self.continued)
        }
    }

    /// What a look over the table found.
    enum Scan {
        /// Reaped this child, or took its stop/continue report, with this
        /// status.
        Found(Pid, i32),
        /// Matching children exist, none has anything to report.
        Running,
        /// No matching child.
        None,
    }

    /// Looks for a zombie child of `parent` matching `target` and reaps it
    /// (under the table lock, so one waiter gets it), or for one with a
    /// stop/continue report `options` asks for.
    fn scan(parent: Pid, target: WaitFor, options: WaitOptions) -> Scan {
        let mut table = TABLE.lock();
        let mut found = Scan::None;
        let mut zombie = None;
        for p in table.values().filter(|p| target.matches(parent, p)) {
            if let Some(status) = p.reapable() {
                zombie = Some(p.pid);
                found = Scan::Found(p.pid, status);
                break;
            }
            if let Some(report) = p.signals.take_report(options.untraced, options.continued) {
                found = Scan::Found(p.pid, report.wait_status());
                break;
            }
            found = Scan::Running;
        }
        if let Some(p) = zombie.and_then(|pid| table.remove(&pid)) {
            drop(table);
            reaped(&p);
        }
        found
    }

    /// `wait4`'s kernel side: reaps a zombie child of `parent` matching
    /// `target` (or takes a stop/continue report `options` asks for) and
    /// returns its PID and wait status, waiting for one unless
    /// `options.nohang` (then `Ok(None)` while they all run). `ECHILD`
    /// when `parent` has no matching child. Not interruptible by itself:
    /// the system call wraps it in `signal::interruptible`.
    pub async fn wait_child(
        parent: Pid,
        target: WaitFor,
        options: WaitOptions,
    ) -> Result<Option<(Pid, i32)>, Errno> {
        let owner = if parent == Pid::KERNEL {
            None
        } else {
            Some(lookup(parent).ok_or(Errno::ECHILD)?)
        };
        let event = owner.as_ref().map_or(&KERNEL_CHILDREN, |p| &p.children);
        loop {
            match scan(parent, target, options) {
                Scan::Found(pid, status) => return Ok(Some((pid, status))),
                Scan::None => return Err(Errno::ECHILD),
                Scan::Running if options.nohang => return Ok(None),
                Scan::Running => {}
            }
            // Something to look at again: a matching zombie or report, or
            // the child gone (another waiter; a kernel caller of `wait`;
            // automatic reaping).
            event
                .wait_until(|| {
                    let table = TABLE.lock();
                    let mut matching = table.values().filter(|p| target.matches(parent, p));
                    let mut any = false;
                    let ready = matching.any(|p| {
                        any = true;
                        options.reportable(p)
                    });
                    ready || !any
                })
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_statuses_are_linux_ones() {
        assert_eq!(exit_status(0), 0);
        assert_eq!(exit_status(127), 127 << 8);
        assert_eq!(exit_status(-1), 0xff << 8);
        assert_eq!(exit_status(256 + 3), 3 << 8);
        assert_eq!(signal_status(signal::SIGSEGV), 11);
        assert_eq!(signal_for_exception(0), signal::SIGFPE);
        assert_eq!(signal_for_exception(6), signal::SIGILL);
        assert_eq!(signal_for_exception(13), signal::SIGSEGV);
        assert_eq!(signal_for_exception(3), signal::SIGTRAP);
        assert_eq!(signal_for_exception(17), signal::SIGBUS);
        assert_eq!(signal_for_exception(12), signal::SIGSEGV);
    }
}
