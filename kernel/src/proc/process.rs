//! Processes: the process record and its accessors.
//!
//! A `Process` is a PID, its parent's PID, a name, an address space
//! (shared with its threads through an `Arc`), a [`State`] (`Running` or
//! `Zombie(wait status)`) and an [`Event`](crate::task::Event) its children
//! notify when they change state. Its threads are futures
//! (`super::thread`); the first one is spawned by `spawn_process`.
//!
//! The rest of the process code lives next to this module, and is
//! re-exported here so `proc::process::X` names all of it:
//! - `super::table`: the process table (`lookup`, `all`, `list`,
//!   `insert`, `nprocs` and the `maxproc` slots);
//! - `super::exit`: `Process::exit`, reparenting orphans, `close_procdesc`;
//! - `super::job`: process groups and sessions (`JobIds`, `set_pgid`,
//!   `set_sid`);
//! - `super::spawn`: `spawn_process` (load a program from the initramfs and
//!   start it);
//! - `super::wait`: `wait` and `wait4`'s `wait_child`.
//!
//! Fork (`super::fork::fork1`) makes a `Process` with
//! [`Process::new_child_of`] and `insert`s it: a copy-on-write copy of
//! the parent's address space and a copy of its `UserContext`. Signals
//! (`super::signal`): each process has a `SignalState`
//! ([`Process::signals`]).
//!
//! See `docs/processes.md` and `docs/fork.md`.

use abi::signal::{self, Signal};

/// The wait status of a process that called `exit(code)`: `(code & 0xff)
/// << 8` (`WIFEXITED`, `WEXITSTATUS` = the low 8 bits of `code`).
pub const fn exit_status(code: i32) -> i32 {
    (code & 0xff) << 8
}

/// The wait status of a process killed by signal `sig` (`WIFSIGNALED`,
/// `WTERMSIG` = `sig`; no core dump flag).
pub const fn signal_status(sig: Signal) -> i32 {
    sig.number() as i32 & 0x7f
}

/// The signal a CPU exception in user mode raises, as on Linux: #DE and
/// the floating-point exceptions `SIGFPE`, #UD `SIGILL`, #DB/#BP
/// `SIGTRAP`, #AC `SIGBUS`, everything else (#GP, #SS, #NP, ...) `SIGSEGV`.
pub const fn signal_for_exception(vector: u8) -> Signal {
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
pub use super::exit::{close_procdesc, reap_in_background};
#[cfg(target_os = "none")]
pub use super::job::{JobIds, set_pgid, set_sid};
#[cfg(target_os = "none")]
pub use super::spawn::{spawn_process, spawn_process_on};
#[cfg(target_os = "none")]
pub use super::table::{
    ProcInfo, all, group_members, insert, list, lookup, nprocs, release_slot, reserve_slot,
    space_sharers,
};
#[cfg(target_os = "none")]
pub(crate) use super::table::{mark_ready, notify_parent};
#[cfg(target_os = "none")]
pub use super::wait::{WaitFor, WaitOptions, try_wait_child, wait, wait_child};

#[cfg(target_os = "none")]
mod imp {
    use alloc::string::String;
    use alloc::sync::Arc;
    use alloc::vec::Vec;
    use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

    use futures_util::task::AtomicWaker;

    use super::State;
    use crate::fs::{Files, FsContext};
    use crate::proc::cred::{Creds, Rlimit, Rlimits};
    use crate::proc::job::JobIds;
    use crate::proc::pid::Pid;
    use crate::proc::signal::SignalState;
    use crate::proc::thread_slots::Slots;
    use crate::task::Event;
    use crate::vm::space::AddressSpace;
    use abi::Errno;

    /// What a new process starts with that is shared or made apart from
    /// the record (a forked child shares its parent's name, arguments and
    /// program path; its descriptors and fs context are as the fork asks).
    struct Given {
        name: Arc<str>,
        cmdline: Arc<[u8]>,
        exe: Arc<str>,
        files: Arc<Files>,
        fs: Arc<FsContext>,
    }

    /// A process (module docs).
    pub struct Process {
        pub(in crate::proc) pid: Pid,
        /// Changes when the parent exits (reparenting to init or the
        /// kernel, under the process table's lock: [`Process::set_ppid`]);
        /// an atomic, so `getppid` takes no lock (`syscall::fast`).
        ppid: AtomicU32,
        /// The program's file name; `execve` changes it. Shared, never
        /// changed in place: fork and the thread's task name share the
        /// parent's (no copy per fork).
        name: spin::Mutex<Arc<str>>,
        /// The arguments of the last `execve`, each ending in a NUL
        /// (`/proc/PID/cmdline`); fork shares them, as `name`.
        cmdline: spin::Mutex<Arc<[u8]>>,
        /// The program file it runs (`/proc/PID/exe`): the path `execve`
        /// loaded (a script's interpreter); fork shares it, as `name`.
        exe: spin::Mutex<Arc<str>>,
        /// User and group ids (`super::cred`); fork copies them.
        creds: spin::Mutex<Creds>,
        /// Resource limits; fork copies them.
        rlimits: spin::Mutex<Rlimits>,
        /// Its nice value, -20 to 19 (`setpriority`; fork copies it). Tine
        /// schedules every thread alike, so it is kept and shown only.
        nice: core::sync::atomic::AtomicI8,
        /// Supplementary group ids, sorted (`setgroups`; fork copies them).
        groups: spin::Mutex<Option<Arc<alloc::vec::Vec<u32>>>>,
        /// `ITIMER_REAL` (`alarm`, `setitimer`): not inherited by fork,
        /// kept by exec.
        real_timer: crate::proc::itimer::RealTimer,
        /// The real uid this process is counted under (`super::uidinfo`).
        pub(in crate::proc) charged_uid: core::sync::atomic::AtomicU32,
        /// Its live threads (`super::thread::Thread`), each in the slot
        /// its `Thread::slot` names (`super::thread_slots`), the leader
        /// in slot 0 while it lives; empty once the last one has ended.
        threads: spin::Mutex<Slots<Arc<crate::proc::thread::Thread>>>,
        /// Bumped by `replace_space`.
        space_generation: AtomicU64,
        /// The last mask `sched_setaffinity` gave any of its threads (bit
        /// N = CPU N; each thread has its own, `Thread::affinity`): what a
        /// fork without a calling thread (a kernel caller) inherits; fork
        /// copies it.
        affinity: AtomicU64,
        /// Nanoseconds spent in user mode (measured by the thread loop
        /// around each entry to ring 3).
        user_ns: AtomicU64,
        /// The signal the parent gets when this process exits (`SIGCHLD`
        /// for fork; 0 sends nothing). Reparenting makes it `SIGCHLD`.
        exit_signal: core::sync::atomic::AtomicU8,
        /// Its process group and session (`JobIds`).
        pub(in crate::proc) job: spin::Mutex<JobIds>,
        /// It has called `execve` (a parent's `setpgid` on it is `EACCES`
        /// from then on).
        execed: AtomicBool,
        /// Its exit is complete: the parent has been sent the exit signal,
        /// so `wait4` may reap it (a waiter that reaps a zombie must find
        /// its `SIGCHLD` already pending, as on Linux).
        pub(in crate::proc) exit_notified: AtomicBool,
        /// Its signal mask, pending signals, actions, job-control state.
        pub(in crate::proc) signals: SignalState,
        /// `None` once the process has exited (the memory is freed then).
        pub(in crate::proc) space: spin::Mutex<Option<Arc<AddressSpace>>>,
        pub(in crate::proc) state: spin::Mutex<State>,
        /// Notified when one of this process's children changes state.
        pub(in crate::proc) children: Event,
        /// The parent waits for this child's exec or exit (`RFPPWAIT`,
        /// vfork): FreeBSD's `P_PPWAIT`.
        ppwait: AtomicBool,
        /// Set once, when the vfork wait is over (`VforkDone`).
        vfork_done: AtomicBool,
        /// The vfork parent's task, woken when `vfork_done` is set: one
        /// waiter (the parent's `fork1`), so a waker slot, not an `Event`
        /// (no queue to allocate, no lock with interrupts masked).
        vfork_waiter: AtomicWaker,
        /// A kernel process (`FR2_KPROC`; `ps` marks it).
        system: AtomicBool,
        /// Acquired reaper status (`procctl(PROC_REAP_ACQUIRE)`,
        /// `prctl(PR_SET_CHILD_SUBREAPER)`).
        reaper: AtomicBool,
        /// `prctl(PR_SET_PDEATHSIG)`: the signal sent to this process when
        /// its parent exits (0: none). Not inherited by fork.
        pdeathsig: core::sync::atomic::AtomicU8,
        /// Owned by a process descriptor (`super::procdesc`) that is still
        /// open: `wait4(-1)` skips it.
        pub(in crate::proc) procdesc: AtomicBool,
        /// The leader of this process's peer group (`RFTHREAD`; FreeBSD's
        /// `p_leader`); 0 means the process leads itself.
        leader: core::sync::atomic::AtomicU32,
        /// Where this process's next `forkevents` read starts (`u64::MAX`:
        /// it has not read yet).
        event_cursor: AtomicU64,
        /// The CPU one of its threads last entered user mode on
        /// (`u32::MAX`: not yet), for `ps`.
        last_cpu: AtomicU32,
        /// The descriptor table: an `Arc` so it can be shared
        /// (`CLONE_FILES`) or replaced in place; emptied at exit.
        pub(in crate::proc) files: spin::Mutex<Arc<Files>>,
        /// The cwd and umask, an `Arc` so it can be shared (`CLONE_FS`).
        fs: spin::Mutex<Arc<FsContext>>,
    }

    impl Process {
        /// A new process: `pid`, parent `ppid`, `name`, its own `space`,
        /// running, leader of its own session and group (`pgid = sid =
        /// pid`), default signal state, no descriptors, cwd `/`. It is
        /// not in the table until [`insert`](crate::proc::table::insert).
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
                space,
                exit_signal,
                JobIds {
                    pgid: pid,
                    sid: pid,
                },
                SignalState::new(),
                Given {
                    name: Arc::from(name),
                    cmdline: Arc::from(&[][..]),
                    exe: Arc::from(""),
                    files: Arc::new(Files::empty()),
                    fs: Arc::new(FsContext::root()),
                },
            )
        }

        /// A forked child of `parent` whose parent is `ppid` (usually
        /// `parent`): `parent`'s name, process group and session; `signals`
        /// is `parent.signals().fork_copy()` (fork) or `.fork_shared()`
        /// (`CLONE_SIGHAND`, `RFSIGSHARE`); `files` its descriptor table
        /// and fs context (copied or shared, as the fork asks).
        pub fn new_child_of(
            parent: &Process,
            pid: Pid,
            ppid: Pid,
            space: Arc<AddressSpace>,
            exit_signal: Option<u8>,
            signals: SignalState,
            files: (Arc<Files>, Arc<FsContext>),
        ) -> Arc<Process> {
            let (files, fs) = files;
            let child = Self::build(
                pid,
                ppid,
                space,
                exit_signal,
                parent.job(),
                signals,
                Given {
                    name: parent.name_shared(),
                    cmdline: parent.cmdline.lock().clone(),
                    exe: parent.exe.lock().clone(),
                    files,
                    fs,
                },
            );
            child.inherit_from(parent);
            child
        }

        fn build(
            pid: Pid,
            ppid: Pid,
            space: Arc<AddressSpace>,
            exit_signal: Option<u8>,
            job: JobIds,
            signals: SignalState,
            given: Given,
        ) -> Arc<Process> {
            let Given {
                name,
                cmdline,
                exe,
                files,
                fs,
            } = given;
            Arc::new(Process {
                pid,
                ppid: AtomicU32::new(ppid.as_u32()),
                name: spin::Mutex::new(name),
                cmdline: spin::Mutex::new(cmdline),
                exe: spin::Mutex::new(exe),
                creds: spin::Mutex::new(Creds::ROOT),
                rlimits: spin::Mutex::new(Rlimits::boot_defaults(
                    crate::proc::fork::maxproc() as u64
                )),
                charged_uid: core::sync::atomic::AtomicU32::new(0),
                nice: core::sync::atomic::AtomicI8::new(0),
                groups: spin::Mutex::new(None),
                real_timer: crate::proc::itimer::RealTimer::new(),
                threads: spin::Mutex::new(Slots::new()),
                space_generation: AtomicU64::new(0),
                affinity: AtomicU64::new(!0),
                user_ns: AtomicU64::new(0),
                exit_signal: core::sync::atomic::AtomicU8::new(exit_signal.unwrap_or(0)),
                job: spin::Mutex::new(job),
                execed: AtomicBool::new(false),
                exit_notified: AtomicBool::new(false),
                signals,
                space: spin::Mutex::new(Some(space)),
                state: spin::Mutex::new(State::Running),
                children: Event::new(),
                ppwait: AtomicBool::new(false),
                vfork_done: AtomicBool::new(false),
                vfork_waiter: AtomicWaker::new(),
                event_cursor: AtomicU64::new(u64::MAX),
                system: AtomicBool::new(false),
                reaper: AtomicBool::new(false),
                pdeathsig: core::sync::atomic::AtomicU8::new(0),
                procdesc: AtomicBool::new(false),
                leader: core::sync::atomic::AtomicU32::new(0),
                last_cpu: AtomicU32::new(u32::MAX),
                files: spin::Mutex::new(files),
                fs: spin::Mutex::new(fs),
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
        pub(in crate::proc) fn reapable(&self) -> Option<i32> {
            // Acquire: pairs with the Release at the end of `exit`.
            if !self.exit_notified.load(Ordering::Acquire) {
                return None;
            }
            match self.state() {
                State::Zombie(status) => Some(status),
                State::Running => None,
            }
        }

        /// Whether the process has exited but `exit` has not yet told its
        /// parent (`SIGCHLD` may be posted, `exit_notified` not yet
        /// set): a moment on the exiting CPU, which `wait4`'s `WNOHANG`
        /// waits out (`wait::wait_child_info`).
        pub(in crate::proc) fn exit_in_flight(&self) -> bool {
            // Acquire: pairs with the Release at the end of `exit`.
            !self.exit_notified.load(Ordering::Acquire) && matches!(self.state(), State::Zombie(_))
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

        /// Records that one of its threads runs on `cpu` now
        /// (`Thread::set_last_cpu`, before entering user mode).
        pub fn set_last_cpu(&self, cpu: usize) {
            // Relaxed: a statistic; readers need no ordering with it.
            self.last_cpu.store(cpu as u32, Ordering::Relaxed);
        }

        /// The CPU one of its threads last ran user code on, if any ran.
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
            // Relaxed: a plain value, read by the exiting process's parent
            // notification after the reparenting that may change it (both
            // under the process table's lock order).
            match self.exit_signal.load(Ordering::Relaxed) {
                0 => None,
                sig => Some(sig),
            }
        }

        /// On reparenting: an adopted process tells its new parent of its
        /// exit with `SIGCHLD`, whatever `clone` asked for, so that an
        /// orphan cannot kill its reaper (or init) with its exit signal
        /// (Linux's `reparent_leader`, kernel/exit.c: "We don't want
        /// people slaying init"). A process that sends none stays silent.
        pub fn adopted(&self) {
            if self.exit_signal().is_some() {
                self.exit_signal
                    .store(crate::proc::fork_flags::SIGCHLD, Ordering::Relaxed);
            }
        }

        /// This process's PID.
        pub fn pid(&self) -> Pid {
            self.pid
        }

        /// Its parent's PID ([`Pid::KERNEL`] for processes the kernel
        /// started).
        pub fn ppid(&self) -> Pid {
            // Acquire: pairs with the Release in `set_ppid`.
            Pid::new(self.ppid.load(Ordering::Acquire)).unwrap_or(Pid::KERNEL)
        }

        /// Records a new parent (reparenting, `proc::exit`).
        pub(in crate::proc) fn set_ppid(&self, ppid: Pid) {
            self.ppid.store(ppid.as_u32(), Ordering::Release);
        }

        /// Its name (the file name of the program it runs now).
        pub fn name(&self) -> String {
            String::from(&**self.name.lock())
        }

        /// Its name, shared (no copy: fork's child and the task of a new
        /// thread take it so).
        pub fn name_shared(&self) -> Arc<str> {
            self.name.lock().clone()
        }

        /// What fork copies from the parent besides the address space, the
        /// name, arguments and program path ([`Self::new_child_of`] shares
        /// those): credentials, resource limits, the CPU affinity.
        pub fn inherit_from(&self, parent: &Process) {
            *self.creds.lock() = parent.creds();
            *self.rlimits.lock() = *parent.rlimits.lock();
            self.affinity.store(parent.affinity(), Ordering::Relaxed);
            self.nice.store(parent.nice(), Ordering::Relaxed);
            *self.groups.lock() = parent.groups.lock().clone();
        }

        /// Its supplementary group ids, sorted (`None`: none, the usual
        /// case, which costs a fork no allocation).
        pub fn groups(&self) -> Option<Arc<alloc::vec::Vec<u32>>> {
            self.groups.lock().clone()
        }

        /// Sets its supplementary group ids (the caller has checked them).
        pub fn set_groups(&self, groups: alloc::vec::Vec<u32>) {
            let groups = if groups.is_empty() {
                None
            } else {
                Some(Arc::new(groups))
            };
            *self.groups.lock() = groups;
        }

        /// Its nice value (-20 to 19).
        pub fn nice(&self) -> i8 {
            self.nice.load(Ordering::Relaxed)
        }

        /// Its real-time interval timer (`alarm`, `setitimer`).
        pub fn real_timer(&self) -> &crate::proc::itimer::RealTimer {
            &self.real_timer
        }

        /// Sets its nice value (the caller clamps and checks it).
        pub fn set_nice(&self, nice: i8) {
            self.nice.store(nice, Ordering::Relaxed);
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

        /// Its descriptor limit, as the descriptor table takes it: the
        /// soft `RLIMIT_NOFILE` (never past the table's size).
        pub fn nofile(&self) -> usize {
            let cur = self.rlimits.lock().get(crate::proc::cred::resource::NOFILE);
            cur.map_or(0, |l| usize::try_from(l.cur).unwrap_or(usize::MAX))
                .min(crate::fs::fdtable::NOFILE_MAX)
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

        /// Adds a thread to its list (its creation's commit point); it
        /// learns its slot there.
        pub fn add_thread(&self, thread: Arc<crate::proc::thread::Thread>) {
            crate::proc::thread::register_tid(&thread);
            let mut threads = self.threads.lock();
            let t = thread.clone();
            t.set_slot(threads.insert(thread));
        }

        /// Removes `thread` from its list in O(1) (from its slot; nothing
        /// if it is not there), its user time going to the process's
        /// (under the list's lock, so [`Self::user_ns`] never sees it
        /// twice or not at all); returns how many remain.
        pub fn remove_thread(&self, thread: &crate::proc::thread::Thread) -> usize {
            let mut threads = self.threads.lock();
            if let Some(t) = threads.remove_if(thread.slot(), |t| core::ptr::eq(&**t, thread)) {
                self.user_ns.fetch_add(t.user_ns(), Ordering::Relaxed);
            }
            threads.len()
        }

        /// Whether `thread` is in the slot it knows (`debug.check`).
        pub fn holds_thread_in_slot(&self, thread: &crate::proc::thread::Thread) -> bool {
            self.threads
                .lock()
                .get(thread.slot())
                .is_some_and(|t| core::ptr::eq(&**t, thread))
        }

        /// Its live threads (a snapshot).
        pub fn threads(&self) -> Vec<Arc<crate::proc::thread::Thread>> {
            self.threads.lock().iter().cloned().collect()
        }

        /// Its first live thread for which `pred` holds, and whether it
        /// had any live thread, without copying the list (a signal sent
        /// to the process: `signal::route`; `signal::wake_threads`). The
        /// walk goes by slot, taking the list's lock for each step only:
        /// `pred` runs without it (it may take the thread's own locks). A
        /// thread there throughout is never skipped, whoever leaves
        /// meanwhile (`super::thread_slots`); one that comes meanwhile may
        /// be seen or not, as with a snapshot taken a moment earlier or
        /// later.
        pub fn find_thread(
            &self,
            mut pred: impl FnMut(&crate::proc::thread::Thread) -> bool,
        ) -> (Option<Arc<crate::proc::thread::Thread>>, bool) {
            let mut any = false;
            let mut at = 0;
            loop {
                let Some((slot, t)) = self
                    .threads
                    .lock()
                    .next_from(at)
                    .map(|(slot, t)| (slot, t.clone()))
                else {
                    break;
                };
                any = true;
                if pred(&t) {
                    return (Some(t), true);
                }
                at = slot + 1;
            }
            (None, any)
        }

        /// How many live threads it has.
        pub fn nthreads(&self) -> usize {
            self.threads.lock().len()
        }

        /// Its live thread `tid`.
        pub fn thread(&self, tid: Pid) -> Option<Arc<crate::proc::thread::Thread>> {
            self.threads.lock().iter().find(|t| t.tid() == tid).cloned()
        }

        /// The process-wide mask (the `affinity` field's docs).
        pub fn affinity(&self) -> u64 {
            self.affinity.load(Ordering::Relaxed)
        }

        /// Records the last mask set on any of its threads (what a fork
        /// without a calling thread inherits); each thread moves by its own
        /// (`Thread::set_affinity`).
        pub fn set_affinity(&self, mask: u64) {
            self.affinity.store(mask, Ordering::Relaxed);
        }

        /// Nanoseconds its threads spent in user mode so far: those that
        /// ended, and those alive.
        pub fn user_ns(&self) -> u64 {
            let threads = self.threads.lock();
            self.user_ns.load(Ordering::Relaxed) + threads.iter().map(|t| t.user_ns()).sum::<u64>()
        }

        /// `execve`'s commit: the process now runs `space` under `name`;
        /// the old space is returned (dropped by the caller outside the
        /// lock; another holder, a vfork parent, keeps it intact).
        /// (The calling thread forgets its `set_tid_address` pointer:
        /// `Thread::exec_reset`.)
        pub fn exec_commit(
            &self,
            name: &str,
            space: Arc<AddressSpace>,
        ) -> Option<Arc<AddressSpace>> {
            *self.name.lock() = Arc::from(name);
            self.space.lock().replace(space)
        }

        /// Gives the process a new address space (rfork's unsharing);
        /// returns the old one. The calling thread must switch to it too
        /// (`syscall::Action::Switch`).
        pub fn replace_space(&self, space: Arc<AddressSpace>) -> Option<Arc<AddressSpace>> {
            let old = self.space.lock().replace(space);
            // Release: a thread that sees the new generation sees the space.
            self.space_generation.fetch_add(1, Ordering::Release);
            old
        }

        /// Counts [`Process::replace_space`] calls: a thread whose space
        /// is of an older generation switches to the process's (the other
        /// threads after rfork's unsharing).
        pub fn space_generation(&self) -> u64 {
            self.space_generation.load(Ordering::Acquire)
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
            self.vfork_waiter.wake();
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

        /// The parent-death signal (0: none).
        pub fn pdeathsig(&self) -> u8 {
            // Relaxed: a plain value, read at the parent's exit.
            self.pdeathsig.load(Ordering::Relaxed)
        }

        /// Sets the parent-death signal (`prctl(PR_SET_PDEATHSIG)`).
        pub fn set_pdeathsig(&self, sig: u8) {
            self.pdeathsig.store(sig, Ordering::Relaxed);
        }

        /// The arguments of its last `execve`, each ending in a NUL.
        pub fn cmdline(&self) -> Vec<u8> {
            self.cmdline.lock().to_vec()
        }

        /// The path of the program file it runs (empty for a process that
        /// never ran one).
        pub fn exe(&self) -> String {
            String::from(&**self.exe.lock())
        }

        /// Records the program file of a new image (`execve`, spawn).
        pub fn set_exe(&self, path: &str) {
            *self.exe.lock() = Arc::from(path);
        }

        /// Records the arguments of a new program (`execve`, spawn): each
        /// followed by a NUL, in one allocation.
        pub fn set_cmdline(&self, args: &[&[u8]]) {
            let len = args.iter().map(|a| a.len() + 1).sum();
            let mut bytes: Arc<[u8]> = core::iter::repeat_n(0, len).collect();
            if let Some(out) = Arc::get_mut(&mut bytes) {
                let mut at = 0;
                for arg in args {
                    out[at..at + arg.len()].copy_from_slice(arg);
                    at += arg.len() + 1;
                }
            }
            *self.cmdline.lock() = bytes;
        }

        /// Renames the process (`prctl(PR_SET_NAME)`; `execve` renames it
        /// through [`Process::exec_commit`]).
        pub fn set_name(&self, name: &str) {
            *self.name.lock() = Arc::from(name);
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
            core::future::poll_fn(|cx| {
                if self.vfork_released() {
                    return core::task::Poll::Ready(());
                }
                // Register, then check again: `vfork_release` sets the
                // flag before it wakes, and a wake after the registration
                // finds it (`AtomicWaker`), so the flag is seen or the
                // task is woken.
                self.vfork_waiter.register(cx.waker());
                if self.vfork_released() {
                    core::task::Poll::Ready(())
                } else {
                    core::task::Poll::Pending
                }
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
