//! The fork family's front ends: every entry point lowered into one
//! [`ForkRequest`].
//!
//! The seeds (FreeBSD and NetBSD `kern_fork.c`) have one `fork1` and many
//! thin system calls in front of it, each of which only fills in a request:
//! FreeBSD's `sys_fork`/`sys_vfork`/`sys_pdfork`/`sys_rfork` build a
//! `struct fork_req` (RF* flags, `fr_flags2`, procdesc fields) and `fork1`
//! validates it; NetBSD's `sys_fork`/`sys_vfork`/`sys___vfork14`/`sys___clone`
//! translate into `FORK_*` flags and an exit signal. This module is that
//! front half for Tine, as pure logic that runs on the host:
//!
//! - the flag sets with their real values: FreeBSD's `RF*` ([`RfFlags`]),
//!   `FR2_*` ([`Fr2Flags`]), `PD_*` ([`PdFlags`]) and Linux's `CLONE_*`
//!   ([`CloneFlags`]);
//! - [`ForkArgs`], FreeBSD's `struct fork_req`, and [`ForkArgs::lower`], which
//!   applies `fork1`'s validation in `fork1`'s order and lowers the flags;
//! - the normalized result: a [`ForkRequest`] (a new process: what to copy,
//!   share or start fresh, who waits, which signal the parent gets, ...) or,
//!   for rfork without `RFPROC`, a [`DivorceRequest`] (`fork_norfproc`:
//!   which parts of the caller to unshare in place);
//! - one function per entry point: [`fork`], [`vfork`], [`vfork_44bsd`],
//!   [`pdfork`], [`rfork`], [`clone`], [`posix_spawn`], [`kthread`].
//!
//! `fork1` itself (limits, allocation, rollback, commit) lives beside this
//! module and takes a [`ForkRequest`]; it never looks at a flag word. A
//! rejected request is a [`Rejection`] that names the rule it broke (the
//! shell shows it); every rejection is `EINVAL` to user space
//! ([`Rejection::errno`], `From<Rejection> for Errno`).
//!
//! Signal numbers are Linux's (Tine speaks the Linux ABI): `SIGCHLD` is 17,
//! `SIGUSR1` 10, and the largest signal is 64. `docs/fork.md` has the
//! front-end table, the validation order with the seed line numbers, every
//! FreeBSD/NetBSD difference and which one Tine follows, and why Tine's user
//! `rfork` has its own `RFPPWAIT` bit ([`RFPPWAIT_USER`]).

use core::fmt;

use crate::proc::pid::PidFlags;
use abi::Errno;
pub use abi::fork::*;

// ---------------------------------------------------------------------------
// FreeBSD's fr_flags2 (sys/proc.h); the flag words themselves are in
// `abi::fork`
// ---------------------------------------------------------------------------

abi::flag_set!(
    /// FreeBSD's `fr_flags2`: what the flag word cannot say.
    Fr2Flags,
    FR2_NAMES
);

/// Caught signals revert to their default action in the child (RFSPAWN,
/// posix_spawn).
pub const FR2_DROPSIG_CAUGHT: Fr2Flags = Fr2Flags(0x1);
/// The cwd/root go the other way from the descriptor table: shared when
/// the table is copied, copied when it is shared (FreeBSD's Linux clone).
pub const FR2_SHARE_PATHS: Fr2Flags = Fr2Flags(0x2);
/// A kernel process (`kproc_create`; NetBSD's `FORK_SYSTEM`).
pub const FR2_KPROC: Fr2Flags = Fr2Flags(0x4);

const FR2_NAMES: &[(&str, Fr2Flags)] = &[
    ("FR2_DROPSIG_CAUGHT", FR2_DROPSIG_CAUGHT),
    ("FR2_SHARE_PATHS", FR2_SHARE_PATHS),
    ("FR2_KPROC", FR2_KPROC),
];

// ---------------------------------------------------------------------------
// Signals (Linux numbers)
// ---------------------------------------------------------------------------

/// Linux's `SIGUSR1` (FreeBSD's is 30): the `RFLINUXTHPN` exit signal.
pub const SIGUSR1: u8 = abi::signal::SIGUSR1.number();
/// Linux's `SIGCHLD` (FreeBSD's is 20): the default exit signal.
pub const SIGCHLD: u8 = abi::signal::SIGCHLD.number();

// ---------------------------------------------------------------------------
// The normalized request
// ---------------------------------------------------------------------------

/// The child's address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressSpace {
    /// A copy-on-write copy of the parent's (fork).
    Copy,
    /// The parent's own (`RFMEM`, `CLONE_VM`, vfork).
    Share,
}

/// The child's descriptor table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileTable {
    /// A copy (`RFFDG`, clone without `CLONE_FILES`); close-on-fork
    /// descriptors are left out.
    Copy,
    /// The parent's own (rfork without `RFFDG`/`RFCFDG`, `CLONE_FILES`).
    Share,
    /// A new empty table (`RFCFDG`; NetBSD's `FORK_CLEANFILES`).
    Fresh,
}

/// The child's cwd and root (FreeBSD's `pwddesc`, NetBSD's `cwdinfo`,
/// Linux's `fs_struct`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsInfo {
    /// Its own copy.
    Copy,
    /// The parent's own: a `chdir` in one is seen by the other
    /// (`CLONE_FS`; rfork sharing the descriptor table).
    Share,
}

/// The child's signal actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigActions {
    /// A copy.
    Copy,
    /// The parent's own (`RFSIGSHARE`, `CLONE_SIGHAND`).
    Share,
}

/// Whose child the new process is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildParent {
    /// The caller's.
    Caller,
    /// The caller's reaper's (`RFNOWAIT`; FreeBSD, where NetBSD's
    /// `FORK_NOWAIT` gives it to init).
    Reaper,
    /// The caller's parent's (`CLONE_PARENT`). Linux then gives the child
    /// the caller's own exit signal: see
    /// [`ForkRequest::resolved_exit_signal`].
    CallersParent,
}

/// Where the parent's process-descriptor number goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdOut {
    /// Stored as an `int` at this user address (`pdfork`'s `fdp`,
    /// `CLONE_PIDFD`'s `parent_tid`).
    User(u64),
    /// Handed back to a kernel caller (the shell's `pdfork`).
    Kernel,
}

/// A process descriptor to create with the child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcDesc {
    /// `PD_DAEMON`, `PD_CLOEXEC`.
    pub flags: PdFlags,
    /// Where the descriptor number goes.
    pub fd_out: FdOut,
    /// Linux's pidfd (`CLONE_PIDFD`) rather than FreeBSD's descriptor:
    /// closing it changes nothing, and the child stays an ordinary child
    /// (`wait4(-1)` reports it).
    pub pidfd: bool,
}

/// Linux clone's thread-ID pointers (user addresses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CloneTids {
    /// `CLONE_PARENT_SETTID`: store the child's PID here, in the parent's
    /// memory, before the child runs.
    pub parent_settid: Option<u64>,
    /// `CLONE_CHILD_SETTID`: store the child's PID here, in the child's
    /// memory.
    pub child_settid: Option<u64>,
    /// `CLONE_CHILD_CLEARTID`: when the child exits (or execs), store 0
    /// here and wake a futex waiter.
    pub child_cleartid: Option<u64>,
}

/// What `fork1` is asked to make: one new process, described by its effects
/// rather than by any entry point's flag word. Every front end lowers into
/// it; `fork1` reads nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForkRequest {
    /// `RFMEM` / `CLONE_VM`.
    pub address_space: AddressSpace,
    /// `RFFDG` / `RFCFDG` / `CLONE_FILES`.
    pub files: FileTable,
    /// `CLONE_FS`; on the rfork side it follows `files`.
    pub fs: FsInfo,
    /// `RFSIGSHARE` / `CLONE_SIGHAND`.
    pub sigactions: SigActions,
    /// Caught signals revert to the default action in the child
    /// (`FR2_DROPSIG_CAUGHT`: RFSPAWN, posix_spawn). Only with
    /// [`SigActions::Copy`].
    pub drop_caught_signals: bool,
    /// The parent's system call awaits the child's `VforkDone` (exec, exit
    /// or death): `RFPPWAIT`, `CLONE_VFORK`, vfork, posix_spawn.
    pub wait_for_child: bool,
    /// The signal the parent gets when the child exits; `None` for none,
    /// never `Some(0)`, never above [`SIG_MAXSIG`].
    pub exit_signal: Option<u8>,
    /// `RFNOWAIT` / `CLONE_PARENT`.
    pub parent: ChildParent,
    /// `RFTHREAD`: the child joins the caller's peer group (same leader);
    /// when the leader exits the peers are killed.
    pub peer_thread_group: bool,
    /// `CLONE_THREAD`: a new thread of the caller's process, not a new
    /// process (it shares everything; `exit_signal` is `None`).
    pub thread: bool,
    /// `RFSTOPPED`: the child exists but stays stopped until `SIGCONT`.
    pub stopped: bool,
    /// `RFHIGHPID`: allocate with [`PidFlags::HIGH`].
    pub high_pid: bool,
    /// `RFPROCDESC` / pdfork / `CLONE_PIDFD`.
    pub procdesc: Option<ProcDesc>,
    /// Linux clone's `*_SETTID` / `CHILD_CLEARTID` pointers.
    pub tids: CloneTids,
    /// `CLONE_SETTLS`: the child's FS base.
    pub tls: Option<u64>,
    /// Linux clone's child stack pointer (`None`: the parent's `rsp`).
    pub stack: Option<u64>,
    /// A kernel process (`FR2_KPROC`, NetBSD's `FORK_SYSTEM`): marked
    /// system, and its own children are not waited for (`PS_NOCLDWAIT`).
    pub kernel: bool,
    /// clone3's `set_tid`: this PID rather than the allocator's choice
    /// (root only; `EEXIST` if it is not free).
    pub set_tid: Option<u32>,
}

/// FreeBSD's fork counters (`v_forks`, `v_vforks`, `v_rforks`,
/// `v_kthreads`): which one a fork adds to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForkCounter {
    /// Shaped exactly like fork(2).
    Forks,
    /// Shaped exactly like vfork(2) (posix_spawn too: FreeBSD compares the
    /// flag word only).
    Vforks,
    /// Anything else made by a user process.
    Rforks,
    /// Made for the kernel.
    Kthreads,
}

impl ForkRequest {
    /// The flags for the PID allocator.
    pub const fn pid_flags(&self) -> PidFlags {
        if self.high_pid {
            PidFlags::HIGH
        } else {
            PidFlags::NONE
        }
    }

    /// The exit signal the child really gets: `exit_signal`, except under
    /// [`ChildParent::CallersParent`], where Linux gives the child the
    /// caller's own exit signal (`callers_exit_signal`).
    pub const fn resolved_exit_signal(&self, callers_exit_signal: Option<u8>) -> Option<u8> {
        match self.parent {
            ChildParent::CallersParent => callers_exit_signal,
            ChildParent::Caller | ChildParent::Reaper => self.exit_signal,
        }
    }

    /// The request as a user `rfork` flag word (Tine's [`RFPPWAIT_USER`]
    /// for the parent's wait): what the event stream and the shell's
    /// `trace` show. Clone's stack and TID pointers and
    /// `drop_caught_signals` have no bit and are left out.
    pub fn rfork_flags(&self) -> u32 {
        let mut f = RFPROC;
        let mut add = |cond: bool, bit: RfFlags| {
            if cond {
                f = f | bit;
            }
        };
        add(self.address_space == AddressSpace::Share, RFMEM);
        add(self.files == FileTable::Copy, RFFDG);
        add(self.files == FileTable::Fresh, RFCFDG);
        add(self.sigactions == SigActions::Share, RFSIGSHARE);
        add(self.wait_for_child, RFPPWAIT_USER);
        add(self.parent == ChildParent::Reaper, RFNOWAIT);
        add(self.peer_thread_group, RFTHREAD);
        add(self.stopped, RFSTOPPED);
        add(self.high_pid, RFHIGHPID);
        add(self.procdesc.is_some(), RFPROCDESC);
        let sig = match self.exit_signal {
            Some(SIGCHLD) => 0,
            Some(SIGUSR1) => RFLINUXTHPN.bits(),
            Some(n) => RFTSIGZMB.bits() | (u32::from(n) << RFTSIGSHIFT),
            None => RFTSIGZMB.bits(),
        };
        f.bits() | sig
    }

    /// The counter this fork adds to, by FreeBSD's rule in `do_fork` (seed
    /// 001 lines 675-691): the exact fork(2) shape, the exact vfork(2)
    /// shape, a kernel process, or an rfork. What a flag word cannot hold
    /// (clone's stack and TID pointers, `FR2_DROPSIG_CAUGHT`) does not
    /// count.
    pub fn counter(&self) -> ForkCounter {
        let shape = ForkRequest {
            drop_caught_signals: false,
            tids: CloneTids::default(),
            tls: None,
            stack: None,
            ..*self
        };
        if self.kernel {
            ForkCounter::Kthreads
        } else if shape == fork() {
            ForkCounter::Forks
        } else if shape == vfork() {
            ForkCounter::Vforks
        } else {
            ForkCounter::Rforks
        }
    }
}

/// What happens to the caller's descriptor table in `fork_norfproc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilesInPlace {
    /// Nothing.
    Keep,
    /// If shared with another process, the caller gets its own copy
    /// (`RFFDG`: `fdunshare`, and the cwd/root with it).
    Unshare,
    /// The caller's descriptors are all closed: a new empty table
    /// (`RFCFDG`).
    Fresh,
}

/// rfork without `RFPROC` (FreeBSD's `fork_norfproc`): no new process; the
/// caller divorces parts of itself from whoever it shares them with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DivorceRequest {
    /// Without `RFMEM`: a shared address space becomes the caller's own
    /// copy-on-write copy (`vmspace_unshare`); a private one is untouched.
    pub unshare_address_space: bool,
    /// `RFFDG` / `RFCFDG`.
    pub files: FilesInPlace,
}

/// What an rfork-style request lowers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lowered {
    /// `RFPROC`: a new process, for `fork1`.
    Fork(ForkRequest),
    /// No `RFPROC`: change the caller in place, for `fork_norfproc`.
    Divorce(DivorceRequest),
}

// ---------------------------------------------------------------------------
// Rejections
// ---------------------------------------------------------------------------

/// A request that breaks one of the seeds' rules, named after the rule.
/// Every one is `EINVAL` to user space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// rfork: `RFSTOPPED`, `RFHIGHPID` or `RFPROCDESC` from user space.
    KernelOnlyFlags,
    /// rfork: `RFSPAWN` together with any other bit.
    SpawnNotAlone,
    /// fork1: a bit outside `RFFLAGS` and the signal field.
    UnknownFlags,
    /// fork1: signal bits without `RFTSIGZMB`.
    SignalWithoutTsigzmb,
    /// fork1: `RFFDG` and `RFCFDG` ("can't copy and clear").
    CopyAndClearFiles,
    /// fork1: an `RFTSIGZMB` signal above [`SIG_MAXSIG`].
    SignalAboveMax,
    /// fork1: `RFPROCDESC` without `RFPROC`.
    ProcdescWithoutProc,
    /// fork1: `RFPROCDESC` with nowhere to put the descriptor.
    ProcdescWithoutPlace,
    /// fork1: procdesc flags outside `PD_ALLOWED_AT_FORK`.
    BadProcdescFlags,
    /// clone: `CLONE_PTRACE` (NetBSD: not supported).
    ClonePtrace,
    /// clone: `CLONE_SIGHAND` without `CLONE_VM`.
    SighandWithoutVm,
    /// clone: an exit signal above [`SIG_MAXSIG`].
    BadExitSignal,
    /// clone: `CLONE_FILES` while the caller has close-on-fork descriptors
    /// (NetBSD 1.232).
    ShareFilesWithClofork,
    /// clone: `CLONE_THREAD` without `CLONE_SIGHAND` (Linux).
    ThreadWithoutSighand,
    /// clone: `CLONE_THREAD` with `CLONE_PIDFD` (Linux before 6.9).
    ThreadWithPidfd,
    /// clone: a `CLONE_NEW*` namespace (Tine has none).
    Namespace,
    /// clone: `CLONE_PIDFD` with `CLONE_DETACHED` (Linux).
    PidfdWithDetached,
    /// clone: `CLONE_PIDFD` with `CLONE_PARENT_SETTID`: both write to
    /// `parent_tid` (Linux).
    PidfdWithParentSettid,
    /// clone: `CLONE_PARENT` from init, whose child would have no one to
    /// reap it (Linux).
    ParentFromInit,
}

impl Rejection {
    /// The error user space sees: always `EINVAL`.
    pub const fn errno(self) -> Errno {
        Errno::EINVAL
    }
}

impl From<Rejection> for Errno {
    fn from(r: Rejection) -> Errno {
        r.errno()
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self {
            Self::KernelOnlyFlags => "kernel-only rfork flag",
            Self::SpawnNotAlone => "RFSPAWN with other flags",
            Self::UnknownFlags => "unknown rfork flag",
            Self::SignalWithoutTsigzmb => "signal number without RFTSIGZMB",
            Self::CopyAndClearFiles => "RFFDG with RFCFDG",
            Self::SignalAboveMax => "RFTSIGZMB signal above the maximum",
            Self::ProcdescWithoutProc => "RFPROCDESC without RFPROC",
            Self::ProcdescWithoutPlace => "RFPROCDESC with nowhere to put the descriptor",
            Self::BadProcdescFlags => "procdesc flags outside PD_ALLOWED_AT_FORK",
            Self::ClonePtrace => "CLONE_PTRACE",
            Self::SighandWithoutVm => "CLONE_SIGHAND without CLONE_VM",
            Self::BadExitSignal => "clone exit signal above the maximum",
            Self::ShareFilesWithClofork => "CLONE_FILES with close-on-fork descriptors",
            Self::ThreadWithoutSighand => "CLONE_THREAD without CLONE_SIGHAND",
            Self::ThreadWithPidfd => "CLONE_THREAD with CLONE_PIDFD",
            Self::Namespace => "CLONE_NEW* namespace",
            Self::PidfdWithDetached => "CLONE_PIDFD with CLONE_DETACHED",
            Self::PidfdWithParentSettid => "CLONE_PIDFD with CLONE_PARENT_SETTID",
            Self::ParentFromInit => "CLONE_PARENT from init",
        };
        write!(f, "EINVAL: {why}")
    }
}

// ---------------------------------------------------------------------------
// FreeBSD's fork_req and fork1's validation
// ---------------------------------------------------------------------------

/// FreeBSD's `struct fork_req`, the fields that decide validation and
/// lowering: what a kernel caller (pdfork, posix_spawn, kthread, the shell)
/// hands to `fork1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ForkArgs {
    /// `fr_flags`, kernel meaning (bit 31 is [`RFPPWAIT`]).
    pub flags: RfFlags,
    /// `fr_flags2`.
    pub flags2: Fr2Flags,
    /// `fr_pd_fd`: where a process descriptor goes (`None` is NULL).
    pub pd_fd: Option<FdOut>,
    /// `fr_pd_flags`.
    pub pd_flags: PdFlags,
}

impl ForkArgs {
    /// A request with these flags and nothing else.
    pub const fn new(flags: RfFlags) -> Self {
        Self {
            flags,
            flags2: Fr2Flags::EMPTY,
            pd_fd: None,
            pd_flags: PdFlags::EMPTY,
        }
    }

    /// `fork1`'s validation, in `fork1`'s order (seed 001 lines 872-900),
    /// then the lowering: a [`ForkRequest`] with `RFPROC`, a
    /// [`DivorceRequest`] (`fork_norfproc`, line 908) without. Kernel-only
    /// flags are allowed here; [`rfork`] rejects them before it gets here.
    pub fn lower(&self) -> Result<Lowered, Rejection> {
        let flags = self.flags;
        // Undefined or unimplemented flags.
        if !flags
            .difference(RFFLAGS.union(RfFlags::TSIG_BITS))
            .is_empty()
        {
            return Err(Rejection::UnknownFlags);
        }
        // A signal value needs RFTSIGZMB.
        if flags.intersects(RfFlags::TSIG_BITS) && !flags.contains(RFTSIGZMB) {
            return Err(Rejection::SignalWithoutTsigzmb);
        }
        // Can't copy and clear.
        if flags.contains(RFFDG | RFCFDG) {
            return Err(Rejection::CopyAndClearFiles);
        }
        // The signal number must exist.
        if flags.contains(RFTSIGZMB) && flags.tsignum() > SIG_MAXSIG as u32 {
            return Err(Rejection::SignalAboveMax);
        }
        let procdesc = if flags.contains(RFPROCDESC) {
            // No process, no process descriptor.
            if !flags.contains(RFPROC) {
                return Err(Rejection::ProcdescWithoutProc);
            }
            // Somewhere to put it.
            let Some(fd_out) = self.pd_fd else {
                return Err(Rejection::ProcdescWithoutPlace);
            };
            // Only the flags a fork may ask for.
            if !self.pd_flags.difference(PD_ALLOWED_AT_FORK).is_empty() {
                return Err(Rejection::BadProcdescFlags);
            }
            Some(ProcDesc {
                flags: self.pd_flags,
                fd_out,
                pidfd: false,
            })
        } else {
            None
        };
        if !flags.contains(RFPROC) {
            return Ok(Lowered::Divorce(lower_divorce(flags)));
        }
        Ok(Lowered::Fork(lower_fork(flags, self.flags2, procdesc)))
    }

    /// [`ForkArgs::lower`] for callers that always set `RFPROC`.
    fn lower_new_process(&self) -> Result<ForkRequest, Rejection> {
        match self.lower()? {
            Lowered::Fork(req) => Ok(req),
            // Only reachable without RFPROC, which these callers always set;
            // fork1 would make no process either.
            Lowered::Divorce(_) => Err(Rejection::ProcdescWithoutProc),
        }
    }
}

/// The lowering of validated RF* flags with `RFPROC` (what `do_fork` and
/// `vm_forkproc` do with each flag).
const fn lower_fork(flags: RfFlags, flags2: Fr2Flags, procdesc: Option<ProcDesc>) -> ForkRequest {
    let files = if flags.contains(RFCFDG) {
        FileTable::Fresh
    } else if flags.contains(RFFDG) {
        FileTable::Copy
    } else {
        FileTable::Share
    };
    // The cwd/root follow the descriptor table (pdinit/pdcopy with a new
    // table, pdshare with a shared one) unless FR2_SHARE_PATHS turns it
    // round (seed 001 lines 417-451).
    let share_paths = flags2.contains(FR2_SHARE_PATHS);
    let fs = match (files, share_paths) {
        (FileTable::Copy, true) | (FileTable::Share, false) => FsInfo::Share,
        (FileTable::Copy | FileTable::Share | FileTable::Fresh, _) => FsInfo::Copy,
    };
    let sigactions = if flags.contains(RFSIGSHARE) {
        SigActions::Share
    } else {
        SigActions::Copy
    };
    // p_sigparent (seed 001 lines 520-525); a process with a descriptor
    // sends no SIGCHLD unless asked for a signal (issue 5, item 4).
    let exit_signal = if flags.contains(RFTSIGZMB) {
        match flags.tsignum() {
            0 => None,
            n => Some(n as u8),
        }
    } else if flags.contains(RFLINUXTHPN) {
        Some(SIGUSR1)
    } else if flags.contains(RFPROCDESC) {
        None
    } else {
        Some(SIGCHLD)
    };
    ForkRequest {
        address_space: if flags.contains(RFMEM) {
            AddressSpace::Share
        } else {
            AddressSpace::Copy
        },
        files,
        fs,
        sigactions,
        // Applied only to copied actions (seed 001 lines 505-516).
        drop_caught_signals: flags2.contains(FR2_DROPSIG_CAUGHT)
            && matches!(sigactions, SigActions::Copy),
        wait_for_child: flags.contains(RFPPWAIT),
        exit_signal,
        parent: if flags.contains(RFNOWAIT) {
            ChildParent::Reaper
        } else {
            ChildParent::Caller
        },
        peer_thread_group: flags.contains(RFTHREAD),
        thread: false,
        stopped: flags.contains(RFSTOPPED),
        high_pid: flags.contains(RFHIGHPID),
        procdesc,
        tids: CloneTids {
            parent_settid: None,
            child_settid: None,
            child_cleartid: None,
        },
        tls: None,
        stack: None,
        kernel: flags2.contains(FR2_KPROC),
        set_tid: None,
    }
}

/// The lowering of validated RF* flags without `RFPROC` (`fork_norfproc`,
/// seed 001 lines 304-363, with `vm_forkproc`'s `RFPROC`-less branch).
const fn lower_divorce(flags: RfFlags) -> DivorceRequest {
    DivorceRequest {
        unshare_address_space: !flags.contains(RFMEM),
        files: if flags.contains(RFCFDG) {
            FilesInPlace::Fresh
        } else if flags.contains(RFFDG) {
            FilesInPlace::Unshare
        } else {
            FilesInPlace::Keep
        },
    }
}

// ---------------------------------------------------------------------------
// The front ends
// ---------------------------------------------------------------------------

/// fork(2): `RFFDG | RFPROC` (FreeBSD `sys_fork`; NetBSD `fork1(0,
/// SIGCHLD)`).
pub const fn fork() -> ForkRequest {
    lower_fork(RFFDG.union(RFPROC), Fr2Flags::EMPTY, None)
}

/// vfork(2), FreeBSD/3BSD: shared address space, the parent waits
/// (`RFFDG | RFPROC | RFPPWAIT | RFMEM`; NetBSD's `__vfork14`, Linux's
/// `CLONE_VM | CLONE_VFORK`).
pub const fn vfork() -> ForkRequest {
    lower_fork(
        RFFDG.union(RFPROC).union(RFPPWAIT).union(RFMEM),
        Fr2Flags::EMPTY,
        None,
    )
}

/// NetBSD's 4.4BSD `sys_vfork`: a copied address space, the parent still
/// waits (`FORK_PPWAIT`; `rfork(RFPROC | RFFDG | RFPPWAIT)`,
/// `clone(CLONE_VFORK)`).
pub const fn vfork_44bsd() -> ForkRequest {
    lower_fork(RFFDG.union(RFPROC).union(RFPPWAIT), Fr2Flags::EMPTY, None)
}

/// pdfork(2): fork with a process descriptor (`RFFDG | RFPROC |
/// RFPROCDESC`, `pd_flags` checked against `PD_ALLOWED_AT_FORK`). The child
/// sends no `SIGCHLD`.
pub fn pdfork(pd_flags: u32, fd_out: FdOut) -> Result<ForkRequest, Rejection> {
    ForkArgs {
        flags: RFFDG | RFPROC | RFPROCDESC,
        flags2: Fr2Flags::EMPTY,
        pd_fd: Some(fd_out),
        pd_flags: PdFlags::from_bits_retain(pd_flags),
    }
    .lower_new_process()
}

/// posix_spawn: FreeBSD's `rfork(RFSPAWN)`, vfork with caught signals reset
/// to default in the child (`RFFDG | RFPROC | RFPPWAIT | RFMEM`,
/// `FR2_DROPSIG_CAUGHT`).
pub const fn posix_spawn() -> ForkRequest {
    lower_fork(
        RFFDG.union(RFPROC).union(RFPPWAIT).union(RFMEM),
        FR2_DROPSIG_CAUGHT,
        None,
    )
}

/// A kernel process (FreeBSD's `kproc_create`: `RFMEM | RFFDG | RFPROC`,
/// `FR2_KPROC`; NetBSD's `FORK_SYSTEM`), `RFHIGHPID` if `high_pid`.
/// FreeBSD's `RFSTOPPED` is left out: Tine's kernel process is an async
/// task its creator spawns once `fork1` returns, not a thread on a run
/// queue.
pub const fn kthread(high_pid: bool) -> ForkRequest {
    let flags = RFMEM.union(RFFDG).union(RFPROC);
    let flags = if high_pid {
        flags.union(RFHIGHPID)
    } else {
        flags
    };
    lower_fork(flags, FR2_KPROC, None)
}

/// rfork(2) from user space, FreeBSD's `sys_rfork` (seed 001 lines
/// 162-189) then `fork1`'s checks, in that order:
///
/// 1. a kernel-only flag (`RFSTOPPED`, `RFHIGHPID`, `RFPROCDESC`);
/// 2. `RFSPAWN` with any other bit;
/// 3. `RFSPAWN` alone becomes `RFFDG | RFPROC | RFPPWAIT | RFMEM` with
///    `FR2_DROPSIG_CAUGHT` (posix_spawn); otherwise Tine moves its
///    [`RFPPWAIT_USER`] bit to the kernel's [`RFPPWAIT`];
/// 4. [`ForkArgs::lower`]: unknown bits, a signal without `RFTSIGZMB`,
///    `RFFDG` with `RFCFDG`, a signal above [`SIG_MAXSIG`] (the procdesc
///    rules cannot fire: `RFPROCDESC` was refused in 1).
///
/// Every rejection is `EINVAL`.
pub fn rfork(user_flags: u32) -> Result<Lowered, Rejection> {
    let user = RfFlags::from_bits_retain(user_flags);
    if user.intersects(RFKERNELONLY) {
        return Err(Rejection::KernelOnlyFlags);
    }
    if user.intersects(RFSPAWN) && user != RFSPAWN {
        return Err(Rejection::SpawnNotAlone);
    }
    let fr = if user == RFSPAWN {
        ForkArgs {
            flags: RFFDG | RFPROC | RFPPWAIT | RFMEM,
            flags2: FR2_DROPSIG_CAUGHT,
            pd_fd: None,
            pd_flags: PdFlags::EMPTY,
        }
    } else if user.contains(RFPPWAIT_USER) {
        // Bit 31 is clear here (RFSPAWN would have been alone).
        ForkArgs::new(user.difference(RFPPWAIT_USER).union(RFPPWAIT))
    } else {
        ForkArgs::new(user)
    };
    fr.lower()
}

/// Linux `clone(2)`'s arguments, in the x86-64 register order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CloneArgs {
    /// `CLONE_*` flags and the exit signal (only the low 32 bits count, as
    /// in Linux's legacy clone).
    pub flags: u64,
    /// The child's stack pointer; 0 = the parent's.
    pub stack: u64,
    /// `CLONE_PARENT_SETTID` / `CLONE_PIDFD` destination.
    pub parent_tid: u64,
    /// `CLONE_CHILD_SETTID` / `CLONE_CHILD_CLEARTID` address.
    pub child_tid: u64,
    /// `CLONE_SETTLS` value (the FS base).
    pub tls: u64,
}

/// What clone's validation needs to know about the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CloneCaller {
    /// The caller's descriptor table holds a close-on-fork descriptor
    /// (NetBSD's `fd_foclose`).
    pub has_clofork_fds: bool,
    /// The caller is init (PID 1).
    pub is_init: bool,
}

/// clone(2) with Linux semantics, validated as NetBSD's `__clone` (seed
/// 002 lines 150-210) and then Linux's extra rules:
///
/// 1. `CLONE_PTRACE` (NetBSD; NetBSD 1.209 also refused `CLONE_PID`, whose
///    bit is now [`CLONE_PIDFD`]);
/// 2. `CLONE_SIGHAND` without `CLONE_VM`;
/// 3. an exit signal above [`SIG_MAXSIG`] (Linux's `valid_signal`);
/// 4. `CLONE_FILES` while the caller has close-on-fork descriptors
///    (NetBSD 1.232);
/// 5. `CLONE_THREAD` without `CLONE_SIGHAND` or with `CLONE_PIDFD`, a
///    `CLONE_NEW*` namespace, `CLONE_PIDFD` with
///    `CLONE_DETACHED` or with `CLONE_PARENT_SETTID`, `CLONE_PARENT` from
///    init (Linux's `copy_process` / `kernel_clone`).
///
/// Every rejection is `EINVAL`. `CLONE_SYSVSEM`, `CLONE_IO`,
/// `CLONE_UNTRACED` and `CLONE_DETACHED` (without `CLONE_PIDFD`) are
/// accepted and have no effect.
pub fn clone(args: CloneArgs, caller: CloneCaller) -> Result<ForkRequest, Rejection> {
    // Linux's legacy clone reads the low 32 bits only.
    let flags = CloneFlags::from_bits_retain(args.flags as u32);
    if flags.intersects(CLONE_PTRACE) {
        return Err(Rejection::ClonePtrace);
    }
    if flags.intersects(CLONE_SIGHAND) && !flags.intersects(CLONE_VM) {
        return Err(Rejection::SighandWithoutVm);
    }
    let sig = flags.exit_signal();
    if sig > SIG_MAXSIG {
        return Err(Rejection::BadExitSignal);
    }
    if flags.intersects(CLONE_FILES) && caller.has_clofork_fds {
        return Err(Rejection::ShareFilesWithClofork);
    }
    if flags.intersects(CLONE_THREAD) && !flags.intersects(CLONE_SIGHAND) {
        return Err(Rejection::ThreadWithoutSighand);
    }
    if flags.contains(CLONE_THREAD | CLONE_PIDFD) {
        return Err(Rejection::ThreadWithPidfd);
    }
    if flags.intersects(CLONE_NAMESPACES) {
        return Err(Rejection::Namespace);
    }
    if flags.contains(CLONE_PIDFD | CLONE_DETACHED) {
        return Err(Rejection::PidfdWithDetached);
    }
    if flags.contains(CLONE_PIDFD | CLONE_PARENT_SETTID) {
        return Err(Rejection::PidfdWithParentSettid);
    }
    if flags.intersects(CLONE_PARENT) && caller.is_init {
        return Err(Rejection::ParentFromInit);
    }
    let has = |f: CloneFlags| flags.intersects(f);
    let ptr = |f: CloneFlags, addr: u64| if has(f) { Some(addr) } else { None };
    let sigactions = if has(CLONE_SIGHAND) {
        SigActions::Share
    } else {
        SigActions::Copy
    };
    Ok(ForkRequest {
        address_space: if has(CLONE_VM) {
            AddressSpace::Share
        } else {
            AddressSpace::Copy
        },
        files: if has(CLONE_FILES) {
            FileTable::Share
        } else {
            FileTable::Copy
        },
        fs: if has(CLONE_FS) {
            FsInfo::Share
        } else {
            FsInfo::Copy
        },
        sigactions,
        drop_caught_signals: false,
        wait_for_child: has(CLONE_VFORK),
        // A thread never signals anyone when it ends (Linux: -1).
        exit_signal: if sig == 0 || has(CLONE_THREAD) {
            None
        } else {
            Some(sig)
        },
        parent: if has(CLONE_PARENT) {
            ChildParent::CallersParent
        } else {
            ChildParent::Caller
        },
        peer_thread_group: false,
        thread: has(CLONE_THREAD),
        stopped: false,
        high_pid: false,
        // A pidfd, like Linux's: closing it does not kill the child, and it
        // is closed on exec.
        procdesc: if has(CLONE_PIDFD) {
            Some(ProcDesc {
                flags: PD_DAEMON.union(PD_CLOEXEC),
                fd_out: FdOut::User(args.parent_tid),
                pidfd: true,
            })
        } else {
            None
        },
        tids: CloneTids {
            parent_settid: ptr(CLONE_PARENT_SETTID, args.parent_tid),
            child_settid: ptr(CLONE_CHILD_SETTID, args.child_tid),
            child_cleartid: ptr(CLONE_CHILD_CLEARTID, args.child_tid),
        },
        tls: ptr(CLONE_SETTLS, args.tls),
        stack: if args.stack == 0 {
            None
        } else {
            Some(args.stack)
        },
        kernel: false,
        set_tid: None,
    })
}

// ---------------------------------------------------------------------------
// Linux's clone3
// ---------------------------------------------------------------------------

/// `CLONE_CLEAR_SIGHAND` (clone3 only): caught signals revert to the
/// default action in the child.
pub const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;
/// `CLONE_INTO_CGROUP` (clone3 only): start the child in the cgroup
/// `clone_args.cgroup` names.
pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
// `struct clone_args` and its sizes are the ABI's (`abi::record`).
use abi::record::{CLONE_ARGS_SIZE_VER2, Clone3Args};

/// Why `clone3` refused, beyond clone's [`Rejection`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clone3Error {
    /// `EINVAL` (the rule in [`clone3`]'s list), or a clone rule.
    Invalid(&'static str),
    /// One of clone's rules.
    Clone(Rejection),
    /// `CLONE_INTO_CGROUP`: Tine has no cgroup file system, so no
    /// descriptor names a cgroup directory; Linux answers such a
    /// descriptor with `EBADF` (`cgroup_get_from_file`).
    NoCgroup,
}

impl From<Clone3Error> for Errno {
    fn from(e: Clone3Error) -> Errno {
        match e {
            Clone3Error::Invalid(_) => Errno::EINVAL,
            Clone3Error::Clone(r) => r.errno(),
            Clone3Error::NoCgroup => Errno::EBADF,
        }
    }
}

/// clone3(2): Linux's `copy_clone_args_from_user` and
/// `clone3_args_valid`, then clone's rules ([`clone`]) on the 64-bit flag
/// word, lowered to the same [`ForkRequest`]. `size` is the caller's
/// struct size (already read into `args`). `EINVAL` for:
///
/// 1. `set_tid_size` above 32 (`MAX_PID_NS_LEVEL`), or `set_tid` and
///    `set_tid_size` not both zero or both non-zero; or `set_tid_size`
///    above 1 (no PID namespaces: one level);
/// 2. an `exit_signal` with bits above `CSIGNAL` or above the last
///    signal;
/// 3. `CLONE_INTO_CGROUP` with a `cgroup` above `INT_MAX` or a struct
///    older than version 2;
/// 4. unknown flags, `CLONE_DETACHED` or `CSIGNAL` bits in `flags`
///    (clone3 has its own `exit_signal`), `CLONE_SIGHAND` with
///    `CLONE_CLEAR_SIGHAND`, an exit signal with `CLONE_THREAD` or
///    `CLONE_PARENT`;
/// 5. a stack without a size or a size without a stack;
/// 6. every rule of [`clone`] except `CLONE_PIDFD` with
///    `CLONE_PARENT_SETTID` (clone3 has a separate `pidfd` field).
///
/// Then `CLONE_INTO_CGROUP` is [`Clone3Error::NoCgroup`]. The child's
/// stack pointer is `stack + stack_size` (the stack grows down);
/// `CLONE_CLEAR_SIGHAND` resets caught signals as `posix_spawn` does.
/// `set_tid` itself (the PID wanted) is read and checked by the caller.
pub fn clone3(
    args: &Clone3Args,
    size: usize,
    caller: CloneCaller,
) -> Result<ForkRequest, Clone3Error> {
    use Clone3Error::Invalid;
    const MAX_PID_NS_LEVEL: u64 = 32;
    const CSIGNAL: u64 = 0xff;
    const INT_MAX: u64 = i32::MAX as u64;
    if args.set_tid_size > MAX_PID_NS_LEVEL {
        return Err(Invalid("set_tid_size above MAX_PID_NS_LEVEL"));
    }
    if (args.set_tid == 0) != (args.set_tid_size == 0) {
        return Err(Invalid("set_tid without set_tid_size or the reverse"));
    }
    if args.exit_signal & !CSIGNAL != 0 || args.exit_signal > u64::from(SIG_MAXSIG) {
        return Err(Invalid("bad exit_signal"));
    }
    if args.flags & CLONE_INTO_CGROUP != 0 && (args.cgroup > INT_MAX || size < CLONE_ARGS_SIZE_VER2)
    {
        return Err(Invalid(
            "CLONE_INTO_CGROUP with a bad cgroup or an old struct",
        ));
    }
    let legacy = u64::from(u32::MAX) & !CSIGNAL;
    if args.flags & !(legacy | CLONE_CLEAR_SIGHAND | CLONE_INTO_CGROUP) != 0 {
        return Err(Invalid("unknown flags"));
    }
    let flags = CloneFlags::from_bits_retain(args.flags as u32);
    if flags.intersects(CLONE_DETACHED) {
        return Err(Invalid("CLONE_DETACHED"));
    }
    let clear_sighand = args.flags & CLONE_CLEAR_SIGHAND != 0;
    if clear_sighand && flags.intersects(CLONE_SIGHAND) {
        return Err(Invalid("CLONE_SIGHAND with CLONE_CLEAR_SIGHAND"));
    }
    if flags.intersects(CLONE_THREAD | CLONE_PARENT) && args.exit_signal != 0 {
        return Err(Invalid("exit_signal with CLONE_THREAD or CLONE_PARENT"));
    }
    if (args.stack == 0) != (args.stack_size == 0) {
        return Err(Invalid("stack without stack_size or the reverse"));
    }
    if args.set_tid_size > 1 {
        return Err(Invalid("set_tid_size above the one PID level"));
    }
    // clone's rules on the same flag word, the exit signal in its place,
    // and CLONE_PIDFD's destination apart from CLONE_PARENT_SETTID's.
    let as_clone = CloneArgs {
        flags: u64::from(flags.difference(CLONE_PIDFD).bits()) | args.exit_signal,
        stack: args.stack.wrapping_add(args.stack_size),
        parent_tid: args.parent_tid,
        child_tid: args.child_tid,
        tls: args.tls,
    };
    // clone's rule that CLONE_PIDFD is not seen above: no pidfd for a
    // thread (Linux before 6.9).
    if flags.contains(CLONE_THREAD | CLONE_PIDFD) {
        return Err(Clone3Error::Clone(Rejection::ThreadWithPidfd));
    }
    let mut req = clone(as_clone, caller).map_err(Clone3Error::Clone)?;
    if flags.intersects(CLONE_PIDFD) {
        if flags.intersects(CLONE_DETACHED) {
            return Err(Clone3Error::Clone(Rejection::PidfdWithDetached));
        }
        req.procdesc = Some(ProcDesc {
            flags: PD_DAEMON.union(PD_CLOEXEC),
            fd_out: FdOut::User(args.pidfd),
            pidfd: true,
        });
    }
    if args.flags & CLONE_INTO_CGROUP != 0 {
        return Err(Clone3Error::NoCgroup);
    }
    req.drop_caught_signals = clear_sighand;
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi::record::{CLONE_ARGS_SIZE_VER0, CLONE_ARGS_SIZE_VER1};

    /// A user rfork expected to make a process.
    fn rfork_fork(user: RfFlags) -> ForkRequest {
        match rfork(user.bits()) {
            Ok(Lowered::Fork(req)) => req,
            other => panic!("rfork({user:?}) = {other:?}, expected a new process"),
        }
    }

    /// A kernel fork_req expected to make a process.
    fn kernel_fork(fr: ForkArgs) -> ForkRequest {
        match fr.lower() {
            Ok(Lowered::Fork(req)) => req,
            other => panic!("lower({fr:?}) = {other:?}, expected a new process"),
        }
    }

    fn clone_flags(flags: CloneFlags) -> Result<ForkRequest, Rejection> {
        clone(
            CloneArgs {
                flags: flags.bits() as u64,
                ..CloneArgs::default()
            },
            CloneCaller::default(),
        )
    }

    fn sig(n: u8) -> CloneFlags {
        CloneFlags::from_bits_retain(n as u32)
    }

    #[test]
    fn rfork_flags_round_trip_through_user_rfork() {
        // Every user-expressible request reads back as the flags that made it.
        for flags in [
            RFPROC | RFFDG,
            RFPROC | RFMEM | RFPPWAIT_USER,
            RFPROC | RFCFDG | RFNOWAIT,
            RFPROC | RFSIGSHARE | RFTHREAD,
            RFPROC | RFLINUXTHPN,
            RFPROC | RFFDG | RFTSIGZMB | RfFlags::tsig(15),
            RFPROC | RFTSIGZMB,
        ] {
            let req = rfork_fork(flags);
            assert_eq!(req.rfork_flags(), flags.bits(), "{flags:?}");
            assert_eq!(
                rfork_fork(RfFlags::from_bits_retain(req.rfork_flags())),
                req
            );
        }
        assert_eq!(fork().rfork_flags(), (RFPROC | RFFDG).bits());
        assert_eq!(
            vfork().rfork_flags(),
            (RFPROC | RFFDG | RFMEM | RFPPWAIT_USER).bits()
        );
    }

    // --- constants ------------------------------------------------------

    #[test]
    fn constants_have_the_headers_values() {
        assert_eq!(RFFDG.bits(), 0x4);
        assert_eq!(RFPROC.bits(), 0x10);
        assert_eq!(RFMEM.bits(), 0x20);
        assert_eq!(RFNOWAIT.bits(), 0x40);
        assert_eq!(RFCFDG.bits(), 0x1000);
        assert_eq!(RFTHREAD.bits(), 0x2000);
        assert_eq!(RFSIGSHARE.bits(), 0x4000);
        assert_eq!(RFLINUXTHPN.bits(), 0x1_0000);
        assert_eq!(RFSTOPPED.bits(), 0x2_0000);
        assert_eq!(RFHIGHPID.bits(), 0x4_0000);
        assert_eq!(RFTSIGZMB.bits(), 0x8_0000);
        assert_eq!((RFTSIGSHIFT, RFTSIGMASK), (20, 0xff));
        assert_eq!(RFPROCDESC.bits(), 0x1000_0000);
        assert_eq!(RFPPWAIT, RFSPAWN);
        assert_eq!(RFSPAWN.bits(), 0x8000_0000);
        assert_eq!(RFKERNELONLY, RFSTOPPED | RFHIGHPID | RFPROCDESC);
        assert_eq!(RFFLAGS.bits(), 0x900f_7074);
        assert!(!RFFLAGS.intersects(RFPPWAIT_USER | RfFlags::TSIG_BITS));
        assert_eq!(PD_ALLOWED_AT_FORK.bits(), 0x3);
        assert_eq!(CLONE_VM.bits(), 0x100);
        assert_eq!(CLONE_PIDFD.bits(), 0x1000);
        assert_eq!(CLONE_VFORK.bits(), 0x4000);
        assert_eq!(CLONE_THREAD.bits(), 0x1_0000);
        assert_eq!(CLONE_SETTLS.bits(), 0x8_0000);
        assert_eq!(CLONE_PARENT_SETTID.bits(), 0x10_0000);
        assert_eq!(CLONE_CHILD_CLEARTID.bits(), 0x20_0000);
        assert_eq!(CLONE_CHILD_SETTID.bits(), 0x100_0000);
        assert_eq!(CLONE_IO.bits(), 0x8000_0000);
        // Every bit of Linux's legacy clone word is named or the signal.
        let all = CloneFlags::NAMED
            .iter()
            .fold(CSIGNAL, |acc, &(_, f)| acc.union(f));
        assert_eq!(all.bits(), u32::MAX);
    }

    #[test]
    fn flag_names_parse_and_print() {
        assert_eq!(RfFlags::from_name("RFCFDG"), Some(RFCFDG));
        assert_eq!(RfFlags::from_name("RFSPAWN"), Some(RFSPAWN));
        assert_eq!(RfFlags::from_name("RFNOPE"), None);
        assert_eq!(CloneFlags::from_name("CLONE_VFORK"), Some(CLONE_VFORK));
        assert_eq!(format!("{:?}", RFPROC | RFFDG), "RFFDG|RFPROC");
        assert_eq!(
            format!("{:?}", RFTSIGZMB | RfFlags::tsig(12)),
            "RFTSIGZMB|0xc00000"
        );
        assert_eq!(format!("{:?}", RfFlags::EMPTY), "0x0");
        assert_eq!(
            format!("{:?}", PD_DAEMON | PD_CLOEXEC),
            "PD_DAEMON|PD_CLOEXEC"
        );
        assert_eq!(
            Rejection::CopyAndClearFiles.to_string(),
            "EINVAL: RFFDG with RFCFDG"
        );
    }

    // --- rfork: FreeBSD's validation, one test per rule ----------------------

    #[test]
    fn rfork_rejects_kernel_only_flags() {
        for flag in [RFSTOPPED, RFHIGHPID, RFPROCDESC] {
            assert_eq!(
                rfork((RFPROC | RFFDG | flag).bits()),
                Err(Rejection::KernelOnlyFlags),
                "{flag:?}"
            );
        }
    }

    #[test]
    fn rfork_rejects_rfspawn_with_other_flags() {
        for other in [RFPROC, RFFDG, RFMEM, RFPPWAIT_USER, RFNOWAIT] {
            assert_eq!(
                rfork((RFSPAWN | other).bits()),
                Err(Rejection::SpawnNotAlone),
                "{other:?}"
            );
        }
    }

    #[test]
    fn rfork_rejects_unknown_flags() {
        // Plan 9's RFNAMEG, RFENVG, RFNOTEG, RFCNAMEG, RFCENVG, and the
        // bits nobody defines.
        for bit in [0, 1, 3, 7, 8, 9, 10, 11, 29, 30] {
            assert_eq!(
                rfork((RFPROC | RfFlags::from_bits_retain(1 << bit)).bits()),
                Err(Rejection::UnknownFlags),
                "bit {bit}"
            );
        }
    }

    #[test]
    fn rfork_rejects_signal_without_tsigzmb() {
        assert_eq!(
            rfork((RFPROC | RfFlags::tsig(SIGUSR1)).bits()),
            Err(Rejection::SignalWithoutTsigzmb)
        );
    }

    #[test]
    fn rfork_rejects_copy_and_clear_files() {
        assert_eq!(
            rfork((RFPROC | RFFDG | RFCFDG).bits()),
            Err(Rejection::CopyAndClearFiles)
        );
        // Also without RFPROC: fork1 checks before fork_norfproc.
        assert_eq!(
            rfork((RFFDG | RFCFDG).bits()),
            Err(Rejection::CopyAndClearFiles)
        );
    }

    #[test]
    fn rfork_rejects_signal_above_the_maximum() {
        for n in [65u8, 128, 200, 255] {
            assert_eq!(
                rfork((RFPROC | RFTSIGZMB | RfFlags::tsig(n)).bits()),
                Err(Rejection::SignalAboveMax),
                "signal {n}"
            );
        }
        let req = rfork_fork(RFPROC | RFTSIGZMB | RfFlags::tsig(SIG_MAXSIG));
        assert_eq!(req.exit_signal, Some(64));
    }

    #[test]
    fn fork1_rejects_procdesc_without_rfproc() {
        let fr = ForkArgs {
            pd_fd: Some(FdOut::Kernel),
            ..ForkArgs::new(RFFDG | RFPROCDESC)
        };
        assert_eq!(fr.lower(), Err(Rejection::ProcdescWithoutProc));
    }

    #[test]
    fn fork1_rejects_procdesc_without_a_place_for_it() {
        let fr = ForkArgs::new(RFFDG | RFPROC | RFPROCDESC);
        assert_eq!(fr.lower(), Err(Rejection::ProcdescWithoutPlace));
    }

    #[test]
    fn fork1_rejects_bad_procdesc_flags() {
        for bad in [0x4, 0x8, 0x8000_0000, 0x7] {
            assert_eq!(
                pdfork(bad, FdOut::User(0x1000)),
                Err(Rejection::BadProcdescFlags),
                "{bad:#x}"
            );
        }
    }

    #[test]
    fn rejections_are_einval() {
        assert_eq!(Errno::from(Rejection::KernelOnlyFlags), Errno::EINVAL);
        let e: Result<(), Errno> = (|| {
            rfork(u32::MAX)?;
            Ok(())
        })();
        assert_eq!(e, Err(Errno::EINVAL));
        assert_eq!(Rejection::ParentFromInit.errno(), Errno::EINVAL);
    }

    /// The seeds' order, table-driven: each row breaks the named rule and
    /// every rule after it, so the first rule must be the one reported.
    #[test]
    fn rfork_checks_run_in_freebsds_order() {
        let bad_sig = RfFlags::tsig(200);
        let rows: &[(RfFlags, Rejection)] = &[
            (RFSTOPPED | RFSPAWN | RFPROC, Rejection::KernelOnlyFlags),
            (
                RFHIGHPID | RfFlags::from_bits_retain(1),
                Rejection::KernelOnlyFlags,
            ),
            (
                RFSPAWN | RfFlags::from_bits_retain(1) | bad_sig,
                Rejection::SpawnNotAlone,
            ),
            (
                RFPROC | RfFlags::from_bits_retain(1 << 30) | bad_sig | RFFDG | RFCFDG,
                Rejection::UnknownFlags,
            ),
            (
                RFPROC | bad_sig | RFFDG | RFCFDG,
                Rejection::SignalWithoutTsigzmb,
            ),
            (
                RFPROC | RFTSIGZMB | bad_sig | RFFDG | RFCFDG,
                Rejection::CopyAndClearFiles,
            ),
            (RFPROC | RFTSIGZMB | bad_sig, Rejection::SignalAboveMax),
        ];
        for &(flags, want) in rows {
            assert_eq!(rfork(flags.bits()), Err(want), "{flags:?}");
        }
        // The kernel path: the procdesc rules come last, in their order.
        let fr = ForkArgs {
            pd_flags: PdFlags::from_bits_retain(0x10),
            ..ForkArgs::new(RFFDG | RFCFDG | RFPROCDESC)
        };
        assert_eq!(fr.lower(), Err(Rejection::CopyAndClearFiles));
        let fr = ForkArgs {
            flags: RFFDG | RFPROCDESC,
            ..fr
        };
        assert_eq!(fr.lower(), Err(Rejection::ProcdescWithoutProc));
        let fr = ForkArgs {
            flags: RFFDG | RFPROC | RFPROCDESC,
            ..fr
        };
        assert_eq!(fr.lower(), Err(Rejection::ProcdescWithoutPlace));
        let fr = ForkArgs {
            pd_fd: Some(FdOut::Kernel),
            ..fr
        };
        assert_eq!(fr.lower(), Err(Rejection::BadProcdescFlags));
    }

    // --- front ends ------------------------------------------------------

    #[test]
    fn fork_copies_everything_and_sends_sigchld() {
        let req = fork();
        assert_eq!(req.address_space, AddressSpace::Copy);
        assert_eq!(req.files, FileTable::Copy);
        assert_eq!(req.fs, FsInfo::Copy);
        assert_eq!(req.sigactions, SigActions::Copy);
        assert!(!req.wait_for_child && !req.drop_caught_signals && !req.kernel);
        assert_eq!(req.exit_signal, Some(SIGCHLD));
        assert_eq!(req.parent, ChildParent::Caller);
        assert_eq!(req.procdesc, None);
        assert_eq!(req.pid_flags(), PidFlags::NONE);
        assert_eq!(kernel_fork(ForkArgs::new(RFFDG | RFPROC)), req);
        assert_eq!(rfork_fork(RFFDG | RFPROC), req);
    }

    #[test]
    fn vfork_shares_the_address_space_and_waits() {
        let req = vfork();
        assert_eq!(req.address_space, AddressSpace::Share);
        assert_eq!(req.files, FileTable::Copy);
        assert!(req.wait_for_child);
        assert_eq!(req.exit_signal, Some(SIGCHLD));
        assert_eq!(
            kernel_fork(ForkArgs::new(RFFDG | RFPROC | RFPPWAIT | RFMEM)),
            req
        );
    }

    #[test]
    fn vfork_44bsd_copies_the_address_space_and_waits() {
        let req = vfork_44bsd();
        assert_eq!(req.address_space, AddressSpace::Copy);
        assert_eq!(req.files, FileTable::Copy);
        assert!(req.wait_for_child);
        assert_eq!(req.exit_signal, Some(SIGCHLD));
    }

    #[test]
    fn rfork_ppwait_user_bit_gives_both_vforks() {
        // Issue 5: rfork(RFPROC|RFMEM|RFPPWAIT) is the 3BSD vfork (with the
        // descriptor table shared: no RFFDG), rfork(RFPROC|RFFDG|RFPPWAIT)
        // NetBSD's 4.4BSD one.
        let shared = rfork_fork(RFPROC | RFMEM | RFPPWAIT_USER);
        assert_eq!(shared.address_space, AddressSpace::Share);
        assert!(shared.wait_for_child);
        assert_eq!(shared.files, FileTable::Share);
        assert_eq!(rfork_fork(RFPROC | RFFDG | RFMEM | RFPPWAIT_USER), vfork());
        assert_eq!(rfork_fork(RFPROC | RFFDG | RFPPWAIT_USER), vfork_44bsd());
    }

    #[test]
    fn rfork_bit_31_is_rfspawn_as_in_freebsd() {
        // FreeBSD's user ABI is kept: bit 31 with other bits is not RFPPWAIT.
        assert_eq!(
            rfork((RFPROC | RFMEM | RFPPWAIT).bits()),
            Err(Rejection::SpawnNotAlone)
        );
    }

    #[test]
    fn rfork_ppwait_user_bit_is_unknown_to_fork1() {
        // The translation happens only in the user front end.
        assert_eq!(
            ForkArgs::new(RFPROC | RFPPWAIT_USER).lower(),
            Err(Rejection::UnknownFlags)
        );
    }

    #[test]
    fn posix_spawn_is_vfork_with_caught_signals_dropped() {
        let req = posix_spawn();
        assert_eq!(
            req,
            ForkRequest {
                drop_caught_signals: true,
                ..vfork()
            }
        );
    }

    #[test]
    fn rfork_rfspawn_is_posix_spawn() {
        assert_eq!(rfork_fork(RFSPAWN), posix_spawn());
    }

    #[test]
    fn pdfork_makes_a_descriptor_and_sends_no_sigchld() {
        let req = pdfork((PD_DAEMON | PD_CLOEXEC).bits(), FdOut::User(0x7000)).unwrap();
        assert_eq!(
            req.procdesc,
            Some(ProcDesc {
                flags: PD_DAEMON | PD_CLOEXEC,
                fd_out: FdOut::User(0x7000),
                pidfd: false,
            })
        );
        assert_eq!(req.exit_signal, None);
        assert_eq!(req.files, FileTable::Copy);
        let plain = pdfork(0, FdOut::Kernel).unwrap();
        assert_eq!(plain.procdesc.unwrap().flags, PdFlags::EMPTY);
        assert_eq!(
            ForkRequest {
                procdesc: None,
                exit_signal: Some(SIGCHLD),
                ..plain
            },
            fork()
        );
    }

    #[test]
    fn procdesc_child_signals_only_when_asked() {
        let fr = ForkArgs {
            pd_fd: Some(FdOut::Kernel),
            ..ForkArgs::new(RFFDG | RFPROC | RFPROCDESC | RFTSIGZMB | RfFlags::tsig(SIGCHLD))
        };
        assert_eq!(kernel_fork(fr).exit_signal, Some(SIGCHLD));
    }

    #[test]
    fn kthread_is_a_kernel_process() {
        let req = kthread(false);
        assert!(req.kernel);
        assert_eq!(req.address_space, AddressSpace::Share);
        assert!(!req.stopped && !req.high_pid);
        assert_eq!(kthread(true).pid_flags(), PidFlags::HIGH);
        let fr = ForkArgs {
            flags2: FR2_KPROC,
            ..ForkArgs::new(RFMEM | RFFDG | RFPROC)
        };
        assert_eq!(kernel_fork(fr), req);
    }

    // --- rfork: each flag's lowering -------------------------------------

    #[test]
    fn rfork_descriptor_tables_copy_share_and_fresh() {
        let copy = rfork_fork(RFPROC | RFFDG);
        assert_eq!((copy.files, copy.fs), (FileTable::Copy, FsInfo::Copy));
        let share = rfork_fork(RFPROC);
        assert_eq!((share.files, share.fs), (FileTable::Share, FsInfo::Share));
        let fresh = rfork_fork(RFPROC | RFCFDG);
        assert_eq!((fresh.files, fresh.fs), (FileTable::Fresh, FsInfo::Copy));
    }

    #[test]
    fn fr2_share_paths_turns_the_cwd_round() {
        let copied = kernel_fork(ForkArgs {
            flags2: FR2_SHARE_PATHS,
            ..ForkArgs::new(RFPROC | RFFDG)
        });
        assert_eq!((copied.files, copied.fs), (FileTable::Copy, FsInfo::Share));
        let shared = kernel_fork(ForkArgs {
            flags2: FR2_SHARE_PATHS,
            ..ForkArgs::new(RFPROC)
        });
        assert_eq!((shared.files, shared.fs), (FileTable::Share, FsInfo::Copy));
    }

    #[test]
    fn rfork_sigshare_shares_signal_actions() {
        assert_eq!(
            rfork_fork(RFPROC | RFFDG | RFSIGSHARE).sigactions,
            SigActions::Share
        );
    }

    #[test]
    fn dropping_caught_signals_needs_copied_actions() {
        let req = kernel_fork(ForkArgs {
            flags2: FR2_DROPSIG_CAUGHT,
            ..ForkArgs::new(RFPROC | RFFDG | RFSIGSHARE)
        });
        assert!(!req.drop_caught_signals);
    }

    #[test]
    fn rfork_nowait_gives_the_child_to_the_reaper() {
        assert_eq!(
            rfork_fork(RFPROC | RFFDG | RFNOWAIT).parent,
            ChildParent::Reaper
        );
    }

    #[test]
    fn rfork_thread_joins_the_peer_group() {
        assert!(rfork_fork(RFPROC | RFTHREAD).peer_thread_group);
        assert!(!fork().peer_thread_group);
    }

    #[test]
    fn rfork_tsigzmb_takes_the_signal_from_bits_20_to_27() {
        let flags = RFPROC | RFFDG | RFTSIGZMB | RfFlags::tsig(12);
        assert_eq!(flags.bits(), 0x10 | 0x4 | 0x8_0000 | (12 << 20));
        assert_eq!(flags.tsignum(), 12);
        assert_eq!(rfork_fork(flags).exit_signal, Some(12));
        // Signal 0: the parent is not signalled at all.
        assert_eq!(rfork_fork(RFPROC | RFTSIGZMB).exit_signal, None);
        // The mask is 8 bits: bit 28 (RFPROCDESC) is not part of the number.
        assert_eq!((RFPROCDESC | RfFlags::tsig(0xff)).tsignum(), 0xff);
    }

    #[test]
    fn rfork_linuxthpn_signals_sigusr1() {
        assert_eq!(rfork_fork(RFPROC | RFLINUXTHPN).exit_signal, Some(SIGUSR1));
        // RFTSIGZMB wins (seed 001 lines 520-525).
        assert_eq!(
            rfork_fork(RFPROC | RFLINUXTHPN | RFTSIGZMB | RfFlags::tsig(3)).exit_signal,
            Some(3)
        );
    }

    #[test]
    fn rfork_defaults_to_sigchld() {
        assert_eq!(rfork_fork(RFPROC).exit_signal, Some(SIGCHLD));
        assert_eq!(
            rfork_fork(RFPROC | RFMEM | RFSIGSHARE).exit_signal,
            Some(SIGCHLD)
        );
    }

    #[test]
    fn kernel_rfork_stopped_and_high_pid() {
        let req = kernel_fork(ForkArgs::new(RFPROC | RFFDG | RFSTOPPED | RFHIGHPID));
        assert!(req.stopped);
        assert!(req.high_pid);
        assert_eq!(req.pid_flags(), PidFlags::HIGH);
    }

    #[test]
    fn rfork_without_rfproc_divorces_in_place() {
        let rows: &[(RfFlags, bool, FilesInPlace)] = &[
            (RfFlags::EMPTY, true, FilesInPlace::Keep),
            (RFMEM, false, FilesInPlace::Keep),
            (RFFDG, true, FilesInPlace::Unshare),
            (RFCFDG | RFMEM, false, FilesInPlace::Fresh),
            // Flags that only mean something for a new process are ignored.
            (
                RFNOWAIT | RFSIGSHARE | RFTHREAD | RFPPWAIT_USER | RFTSIGZMB,
                true,
                FilesInPlace::Keep,
            ),
        ];
        for &(flags, unshare_address_space, files) in rows {
            assert_eq!(
                rfork(flags.bits()),
                Ok(Lowered::Divorce(DivorceRequest {
                    unshare_address_space,
                    files
                })),
                "{flags:?}"
            );
        }
    }

    // --- clone -----------------------------------------------------------

    #[test]
    fn clone_sigchld_is_fork() {
        assert_eq!(clone_flags(sig(SIGCHLD)), Ok(fork()));
    }

    #[test]
    fn clone_vm_vfork_is_vfork_and_clone_vfork_is_44bsd() {
        assert_eq!(
            clone_flags(CLONE_VM | CLONE_VFORK | sig(SIGCHLD)),
            Ok(vfork())
        );
        assert_eq!(clone_flags(CLONE_VFORK | sig(SIGCHLD)), Ok(vfork_44bsd()));
    }

    #[test]
    fn clone_as_musl_posix_spawn_calls_it() {
        let req = clone(
            CloneArgs {
                flags: (CLONE_VM | CLONE_VFORK | sig(SIGCHLD)).bits() as u64,
                stack: 0x7fff_0000,
                ..CloneArgs::default()
            },
            CloneCaller {
                has_clofork_fds: true,
                is_init: false,
            },
        )
        .unwrap();
        assert!(req.wait_for_child);
        assert_eq!(req.address_space, AddressSpace::Share);
        assert_eq!(req.stack, Some(0x7fff_0000));
        assert_eq!(req.counter(), ForkCounter::Vforks);
    }

    #[test]
    fn clone_exit_signal_is_the_low_byte() {
        assert_eq!(clone_flags(CloneFlags::EMPTY).unwrap().exit_signal, None);
        assert_eq!(clone_flags(sig(SIGUSR1)).unwrap().exit_signal, Some(10));
        assert_eq!(clone_flags(sig(64)).unwrap().exit_signal, Some(64));
        for bad in [65, 128, 255] {
            assert_eq!(
                clone_flags(sig(bad)),
                Err(Rejection::BadExitSignal),
                "{bad}"
            );
        }
    }

    #[test]
    fn clone_rejects_ptrace() {
        assert_eq!(
            clone_flags(CLONE_PTRACE | sig(SIGCHLD)),
            Err(Rejection::ClonePtrace)
        );
    }

    #[test]
    fn clone_rejects_sighand_without_vm() {
        assert_eq!(
            clone_flags(CLONE_SIGHAND | sig(SIGCHLD)),
            Err(Rejection::SighandWithoutVm)
        );
        let req = clone_flags(CLONE_SIGHAND | CLONE_VM).unwrap();
        assert_eq!(req.sigactions, SigActions::Share);
    }

    #[test]
    fn clone_rejects_shared_files_with_close_on_fork_descriptors() {
        let caller = CloneCaller {
            has_clofork_fds: true,
            is_init: false,
        };
        let args = |flags: CloneFlags| CloneArgs {
            flags: flags.bits() as u64,
            ..CloneArgs::default()
        };
        assert_eq!(
            clone(args(CLONE_FILES | sig(SIGCHLD)), caller),
            Err(Rejection::ShareFilesWithClofork)
        );
        // A copied table just leaves them out.
        assert!(clone(args(sig(SIGCHLD)), caller).is_ok());
        let shared = clone(args(CLONE_FILES), CloneCaller::default()).unwrap();
        assert_eq!(shared.files, FileTable::Share);
    }

    #[test]
    fn clone_fs_shares_the_cwd_alone() {
        let req = clone_flags(CLONE_FS | sig(SIGCHLD)).unwrap();
        assert_eq!((req.files, req.fs), (FileTable::Copy, FsInfo::Share));
    }

    #[test]
    fn clone_pid_bit_means_pidfd_never_a_shared_pid() {
        // NetBSD 1.209 refused CLONE_PID; its bit is Linux's CLONE_PIDFD now.
        assert_eq!(CLONE_PID, CLONE_PIDFD);
        let req = clone(
            CloneArgs {
                flags: (CLONE_PID | sig(SIGCHLD)).bits() as u64,
                parent_tid: 0x5000,
                ..CloneArgs::default()
            },
            CloneCaller::default(),
        )
        .unwrap();
        assert_eq!(
            req.procdesc,
            Some(ProcDesc {
                flags: PD_DAEMON | PD_CLOEXEC,
                fd_out: FdOut::User(0x5000),
                pidfd: true,
            })
        );
        // A pidfd does not silence the exit signal the caller asked for.
        assert_eq!(req.exit_signal, Some(SIGCHLD));
    }

    #[test]
    fn clone_rejects_pidfd_with_detached() {
        assert_eq!(
            clone_flags(CLONE_PIDFD | CLONE_DETACHED),
            Err(Rejection::PidfdWithDetached)
        );
        // Without CLONE_PIDFD, CLONE_DETACHED is ignored.
        assert_eq!(clone_flags(CLONE_DETACHED | sig(SIGCHLD)), Ok(fork()));
    }

    #[test]
    fn clone_rejects_pidfd_with_parent_settid() {
        assert_eq!(
            clone_flags(CLONE_PIDFD | CLONE_PARENT_SETTID),
            Err(Rejection::PidfdWithParentSettid)
        );
    }

    #[test]
    fn clone_thread_needs_sighand_which_needs_vm() {
        assert_eq!(
            clone_flags(CLONE_VM | CLONE_THREAD),
            Err(Rejection::ThreadWithoutSighand)
        );
        assert_eq!(
            clone_flags(CLONE_THREAD),
            Err(Rejection::ThreadWithoutSighand)
        );
        assert_eq!(
            clone_flags(CLONE_SIGHAND | CLONE_THREAD),
            Err(Rejection::SighandWithoutVm)
        );
        assert_eq!(
            clone_flags(CLONE_VM | CLONE_SIGHAND | CLONE_THREAD | CLONE_PIDFD),
            Err(Rejection::ThreadWithPidfd)
        );
        // musl's pthread_create.
        let musl = CLONE_VM
            | CLONE_FS
            | CLONE_FILES
            | CLONE_SIGHAND
            | CLONE_THREAD
            | CLONE_SYSVSEM
            | CLONE_SETTLS
            | CLONE_PARENT_SETTID
            | CLONE_CHILD_CLEARTID
            | CLONE_DETACHED;
        let req = clone_flags(musl).unwrap();
        assert!(req.thread);
        assert_eq!(req.exit_signal, None);
        assert_eq!(req.address_space, AddressSpace::Share);
        assert_eq!(req.sigactions, SigActions::Share);
        assert_eq!(req.files, FileTable::Share);
    }

    #[test]
    fn clone_rejects_namespaces() {
        for ns in [
            CLONE_NEWNS,
            CLONE_NEWCGROUP,
            CLONE_NEWUTS,
            CLONE_NEWIPC,
            CLONE_NEWUSER,
            CLONE_NEWPID,
            CLONE_NEWNET,
        ] {
            assert_eq!(clone_flags(ns), Err(Rejection::Namespace), "{ns:?}");
        }
    }

    #[test]
    fn clone_rejects_parent_from_init() {
        let args = CloneArgs {
            flags: (CLONE_PARENT | sig(SIGCHLD)).bits() as u64,
            ..CloneArgs::default()
        };
        let init = CloneCaller {
            has_clofork_fds: false,
            is_init: true,
        };
        assert_eq!(clone(args, init), Err(Rejection::ParentFromInit));
        let req = clone(args, CloneCaller::default()).unwrap();
        assert_eq!(req.parent, ChildParent::CallersParent);
        // Linux: the child takes the caller's own exit signal.
        assert_eq!(req.resolved_exit_signal(Some(SIGUSR1)), Some(SIGUSR1));
        assert_eq!(fork().resolved_exit_signal(Some(SIGUSR1)), Some(SIGCHLD));
    }

    #[test]
    fn clone_tid_pointers_and_tls() {
        let req = clone(
            CloneArgs {
                flags: (CLONE_VM
                    | CLONE_PARENT_SETTID
                    | CLONE_CHILD_SETTID
                    | CLONE_CHILD_CLEARTID
                    | CLONE_SETTLS
                    | sig(SIGCHLD))
                .bits() as u64,
                stack: 0,
                parent_tid: 0x1000,
                child_tid: 0x2000,
                tls: 0x3000,
            },
            CloneCaller::default(),
        )
        .unwrap();
        assert_eq!(
            req.tids,
            CloneTids {
                parent_settid: Some(0x1000),
                child_settid: Some(0x2000),
                child_cleartid: Some(0x2000),
            }
        );
        assert_eq!(req.tls, Some(0x3000));
        assert_eq!(req.stack, None);
        // Without the flags the pointers are ignored.
        let plain = clone(
            CloneArgs {
                flags: SIGCHLD as u64,
                parent_tid: 0x1000,
                child_tid: 0x2000,
                tls: 0x3000,
                ..CloneArgs::default()
            },
            CloneCaller::default(),
        );
        assert_eq!(plain, Ok(fork()));
    }

    #[test]
    fn clone_reads_only_the_low_32_bits() {
        let args = CloneArgs {
            // CLONE_CLEAR_SIGHAND (clone3 only) in bit 32.
            flags: (1u64 << 32) | SIGCHLD as u64,
            ..CloneArgs::default()
        };
        assert_eq!(clone(args, CloneCaller::default()), Ok(fork()));
    }

    #[test]
    fn clone_accepts_flags_without_effect() {
        for f in [CLONE_SYSVSEM, CLONE_IO, CLONE_UNTRACED, CLONE_DETACHED] {
            assert_eq!(clone_flags(f | sig(SIGCHLD)), Ok(fork()), "{f:?}");
        }
    }

    #[test]
    fn clone_checks_run_in_netbsds_order() {
        let clofork = CloneCaller {
            has_clofork_fds: true,
            is_init: true,
        };
        let rows: &[(CloneFlags, Rejection)] = &[
            (
                CLONE_PTRACE | CLONE_SIGHAND | sig(200) | CLONE_FILES | CLONE_THREAD,
                Rejection::ClonePtrace,
            ),
            (
                CLONE_SIGHAND | sig(200) | CLONE_FILES | CLONE_THREAD,
                Rejection::SighandWithoutVm,
            ),
            (
                sig(200) | CLONE_FILES | CLONE_THREAD | CLONE_NEWPID,
                Rejection::BadExitSignal,
            ),
            (
                CLONE_FILES | CLONE_THREAD | CLONE_NEWPID,
                Rejection::ShareFilesWithClofork,
            ),
            (CLONE_THREAD | CLONE_NEWPID, Rejection::ThreadWithoutSighand),
            (
                CLONE_NEWPID | CLONE_PIDFD | CLONE_DETACHED,
                Rejection::Namespace,
            ),
            (
                CLONE_PIDFD | CLONE_DETACHED | CLONE_PARENT_SETTID,
                Rejection::PidfdWithDetached,
            ),
            (
                CLONE_PIDFD | CLONE_PARENT_SETTID | CLONE_PARENT,
                Rejection::PidfdWithParentSettid,
            ),
            (CLONE_PARENT, Rejection::ParentFromInit),
        ];
        for &(flags, want) in rows {
            let args = CloneArgs {
                flags: flags.bits() as u64,
                ..CloneArgs::default()
            };
            assert_eq!(clone(args, clofork), Err(want), "{flags:?}");
        }
    }

    // --- counters --------------------------------------------------------

    #[test]
    fn fork_counters_follow_freebsds_rule() {
        assert_eq!(fork().counter(), ForkCounter::Forks);
        assert_eq!(vfork().counter(), ForkCounter::Vforks);
        assert_eq!(posix_spawn().counter(), ForkCounter::Vforks);
        assert_eq!(vfork_44bsd().counter(), ForkCounter::Rforks);
        assert_eq!(
            pdfork(0, FdOut::Kernel).unwrap().counter(),
            ForkCounter::Rforks
        );
        assert_eq!(kthread(true).counter(), ForkCounter::Kthreads);
        assert_eq!(
            clone_flags(sig(SIGCHLD)).unwrap().counter(),
            ForkCounter::Forks
        );
        assert_eq!(rfork_fork(RFPROC).counter(), ForkCounter::Rforks);
    }

    // --- properties ------------------------------------------------------

    /// splitmix64: deterministic, good enough to spread bits.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
    }

    /// An independent statement of which user rfork flags are accepted.
    fn rfork_accepts(bits: u32) -> bool {
        let spawn = 1 << 31;
        let known = 0x4
            | 0x10
            | 0x20
            | 0x40
            | 0x1000
            | 0x2000
            | 0x4000
            | 0x8000
            | 0x1_0000
            | 0x8_0000
            | 0x0ff0_0000;
        let signum = (bits >> 20) & 0xff;
        if bits & (0x2_0000 | 0x4_0000 | 0x1000_0000) != 0 {
            return false;
        }
        if bits & spawn != 0 {
            return bits == spawn;
        }
        bits & !known == 0
            && (signum == 0 || bits & 0x8_0000 != 0)
            && bits & 0x1004 != 0x1004
            && signum <= 64
    }

    /// What must hold for every accepted user rfork.
    fn check_rfork_invariants(bits: u32, got: &Result<Lowered, Rejection>) {
        assert_eq!(got.is_ok(), rfork_accepts(bits), "{bits:#x}: {got:?}");
        let flags = RfFlags::from_bits_retain(bits);
        match got {
            Ok(Lowered::Fork(req)) => {
                assert!(flags.contains(RFPROC) || flags == RFSPAWN, "{bits:#x}");
                // Never both copy and clear: one FileTable value.
                if flags.contains(RFCFDG) {
                    assert_eq!(req.files, FileTable::Fresh);
                }
                if flags.contains(RFFDG) {
                    assert_eq!(req.files, FileTable::Copy);
                }
                assert_ne!(req.exit_signal, Some(0));
                assert!(req.exit_signal.is_none_or(|s| s <= SIG_MAXSIG));
                assert!(!req.drop_caught_signals || req.sigactions == SigActions::Copy);
                assert!(!req.drop_caught_signals || flags == RFSPAWN);
                // User rfork never gets a kernel-only effect.
                assert!(!req.stopped && !req.high_pid && !req.kernel);
                assert_eq!(req.procdesc, None);
                assert_eq!(req.tids, CloneTids::default());
                assert_eq!((req.tls, req.stack), (None, None));
                assert_eq!(
                    req.wait_for_child,
                    flags.intersects(RFPPWAIT_USER | RFSPAWN)
                );
                assert_eq!(req.fs == FsInfo::Share, req.files == FileTable::Share);
            }
            Ok(Lowered::Divorce(_)) => assert!(!flags.contains(RFPROC)),
            Err(r) => assert_eq!(r.errno(), Errno::EINVAL),
        }
    }

    #[test]
    fn rfork_random_flags_never_panic_and_keep_the_invariants() {
        let mut rng = Rng(0x5eed);
        for _ in 0..200_000 {
            let r = rng.next();
            // Half fully random, half only among meaningful bits so that
            // acceptance is common too.
            let bits = if r & 1 == 0 {
                (r >> 32) as u32
            } else {
                let mask = 0x0ff0_0000 | 0x8000_0000 | 0x1ff_f074;
                (r >> 32) as u32 & mask & !((r as u32) & 0x8000_0000)
            };
            check_rfork_invariants(bits, &rfork(bits));
        }
    }

    #[test]
    fn rfork_every_named_flag_combination_keeps_the_invariants() {
        let named: Vec<u32> = RfFlags::NAMED.iter().map(|(_, f)| f.bits()).collect();
        for combo in 0u32..(1 << named.len()) {
            let mut bits = named
                .iter()
                .enumerate()
                .filter(|(i, _)| combo & (1 << i) != 0)
                .fold(0, |acc, (_, b)| acc | b);
            for signum in [0, 12, 64, 65] {
                bits = (bits & !0x0ff0_0000) | (signum << 20);
                check_rfork_invariants(bits, &rfork(bits));
            }
        }
    }

    #[test]
    fn clone_random_flags_never_panic_and_keep_the_invariants() {
        let mut rng = Rng(0xc10e);
        for _ in 0..200_000 {
            let r = rng.next();
            let flags = if r & 1 == 0 {
                r
            } else {
                // Mostly the flags a process clone may carry.
                r & 0x01f8_5f7f
            };
            let caller = CloneCaller {
                has_clofork_fds: r & 2 != 0,
                is_init: r & 4 != 0,
            };
            let args = CloneArgs {
                flags,
                stack: r & 0xfff0,
                parent_tid: 8,
                child_tid: 16,
                tls: 24,
            };
            let Ok(req) = clone(args, caller) else {
                continue;
            };
            let f = CloneFlags::from_bits_retain(flags as u32);
            assert!(!f.intersects(CLONE_PTRACE | CLONE_NAMESPACES));
            // A thread shares the actions (so the space) and signals no one.
            assert_eq!(req.thread, f.intersects(CLONE_THREAD));
            assert!(!req.thread || req.sigactions == SigActions::Share);
            assert!(!req.thread || (req.exit_signal.is_none() && req.procdesc.is_none()));
            assert!(req.sigactions == SigActions::Copy || req.address_space == AddressSpace::Share);
            assert_ne!(req.exit_signal, Some(0));
            assert!(req.exit_signal.is_none_or(|s| s <= SIG_MAXSIG));
            assert!(!(req.files == FileTable::Share && caller.has_clofork_fds));
            assert!(!req.kernel && !req.stopped && !req.high_pid && !req.drop_caught_signals);
            assert_eq!(req.wait_for_child, f.intersects(CLONE_VFORK));
        }
    }

    /// clone3 with `args` at the full size, from a caller that is not init.
    fn clone3_req(args: Clone3Args) -> Result<ForkRequest, Clone3Error> {
        clone3(&args, CLONE_ARGS_SIZE_VER2, CloneCaller::default())
    }

    #[test]
    fn clone3_reads_each_struct_version_and_refuses_unknown_tails() {
        let mut raw = [0u8; 128];
        raw[32] = SIGCHLD; // exit_signal
        raw[56] = 0x42; // tls
        let v0 = Clone3Args::from_bytes(&raw[..CLONE_ARGS_SIZE_VER0]).unwrap();
        assert_eq!((v0.exit_signal, v0.tls, v0.set_tid), (17, 0x42, 0));
        raw[80] = 3; // cgroup, a version 2 field
        assert_eq!(
            Clone3Args::from_bytes(&raw[..CLONE_ARGS_SIZE_VER1])
                .unwrap()
                .cgroup,
            0
        );
        assert_eq!(
            Clone3Args::from_bytes(&raw[..CLONE_ARGS_SIZE_VER2])
                .unwrap()
                .cgroup,
            3
        );
        assert!(Clone3Args::from_bytes(&raw).is_ok(), "a zero tail is fine");
        raw[100] = 1;
        assert_eq!(Clone3Args::from_bytes(&raw), Err(Errno::E2BIG));
    }

    #[test]
    fn clone3_lowers_like_clone_with_its_own_exit_signal_stack_and_pidfd() {
        let plain = clone3_req(Clone3Args {
            exit_signal: u64::from(SIGCHLD),
            ..Clone3Args::default()
        });
        assert_eq!(plain, Ok(fork()));
        let req = clone3_req(Clone3Args {
            flags: u64::from((CLONE_PIDFD | CLONE_PARENT_SETTID | CLONE_SETTLS).bits())
                | CLONE_CLEAR_SIGHAND,
            pidfd: 0x1000,
            parent_tid: 0x2000,
            exit_signal: 10,
            stack: 0x7000,
            stack_size: 0x1000,
            tls: 0x3000,
            ..Clone3Args::default()
        })
        .unwrap();
        assert_eq!(req.exit_signal, Some(10));
        assert_eq!(req.stack, Some(0x8000), "the top of the stack");
        assert_eq!(req.tls, Some(0x3000));
        assert_eq!(req.tids.parent_settid, Some(0x2000));
        let pd = req.procdesc.unwrap();
        assert!(pd.pidfd && pd.fd_out == FdOut::User(0x1000));
        assert!(req.drop_caught_signals, "CLONE_CLEAR_SIGHAND");
        assert_eq!(req.set_tid, None);
    }

    #[test]
    fn clone3_refuses_as_linux_does() {
        let einval = |args: Clone3Args| {
            let r = clone3_req(args);
            assert!(
                matches!(r, Err(Clone3Error::Invalid(_) | Clone3Error::Clone(_))),
                "{args:?}: {r:?}"
            );
            assert_eq!(r.map_err(Errno::from), Err(Errno::EINVAL));
        };
        let d = Clone3Args::default();
        einval(Clone3Args {
            flags: u64::from(SIGCHLD),
            ..d
        });
        einval(Clone3Args {
            flags: u64::from((CLONE_VM | CLONE_SIGHAND | CLONE_THREAD | CLONE_PIDFD).bits()),
            ..d
        });
        einval(Clone3Args {
            exit_signal: 65,
            ..d
        });
        einval(Clone3Args {
            exit_signal: 0x100 | 17,
            ..d
        });
        einval(Clone3Args {
            flags: 1 << 40,
            ..d
        });
        einval(Clone3Args {
            flags: u64::from(CLONE_DETACHED.bits()),
            ..d
        });
        einval(Clone3Args {
            flags: u64::from(CLONE_SIGHAND.bits() | CLONE_VM.bits()) | CLONE_CLEAR_SIGHAND,
            ..d
        });
        einval(Clone3Args {
            flags: u64::from(CLONE_PARENT.bits()),
            exit_signal: 17,
            ..d
        });
        einval(Clone3Args { stack: 0x1000, ..d });
        einval(Clone3Args {
            stack_size: 0x1000,
            ..d
        });
        einval(Clone3Args {
            set_tid: 0x1000,
            ..d
        });
        einval(Clone3Args {
            set_tid_size: 1,
            ..d
        });
        einval(Clone3Args {
            set_tid: 0x1000,
            set_tid_size: 2,
            ..d
        });
        einval(Clone3Args {
            set_tid: 0x1000,
            set_tid_size: 33,
            ..d
        });
        einval(Clone3Args {
            flags: u64::from(CLONE_NEWPID.bits()),
            ..d
        });
        // CLONE_INTO_CGROUP: EINVAL for an old struct or a bad cgroup,
        // else EBADF (no cgroup directories).
        let cg = Clone3Args {
            flags: CLONE_INTO_CGROUP,
            ..d
        };
        assert_eq!(
            clone3(&cg, CLONE_ARGS_SIZE_VER1, CloneCaller::default()).map_err(Errno::from),
            Err(Errno::EINVAL)
        );
        einval(Clone3Args {
            cgroup: 1 << 31,
            ..cg
        });
        assert_eq!(clone3_req(cg), Err(Clone3Error::NoCgroup));
        assert_eq!(Errno::from(Clone3Error::NoCgroup), Errno::EBADF);
        // CLONE_PIDFD with CLONE_PARENT_SETTID is fine here (separate
        // fields), unlike clone's.
        assert!(
            clone3_req(Clone3Args {
                flags: u64::from((CLONE_PIDFD | CLONE_PARENT_SETTID).bits()),
                ..d
            })
            .is_ok()
        );
    }
}
