//! The fork family's flag words with their real values: FreeBSD's `RF*`
//! (`rfork(2)`, [`RfFlags`]) and `PD_*` (`pdfork(2)`, [`PdFlags`]), Linux's
//! `CLONE_*` ([`CloneFlags`]), and the signal bounds the fork checks use.
//! The kernel's validation and lowering of these words is
//! `kernel/src/proc/fork_flags.rs`; `docs/fork.md` has the table.

use crate::flag_set;

// ---------------------------------------------------------------------------
// FreeBSD's rfork flags (sys/unistd.h), FR2_* (sys/proc.h), PD_* (procdesc.h)
// ---------------------------------------------------------------------------

flag_set!(
    /// FreeBSD's `RF*` flags: the `fr_flags` of a `struct fork_req`, and the
    /// argument of `rfork(2)`. Bits 20..=27 hold a signal number
    /// ([`RfFlags::tsig`], [`RfFlags::tsignum`]).
    RfFlags,
    RF_NAMES
);

/// Copy the descriptor table (and the cwd/root with it).
pub const RFFDG: RfFlags = RfFlags(1 << 2);
/// Make a new process (without it, `rfork` changes the caller in place).
pub const RFPROC: RfFlags = RfFlags(1 << 4);
/// Share the address space.
pub const RFMEM: RfFlags = RfFlags(1 << 5);
/// The child's parent is the caller's reaper, not the caller.
pub const RFNOWAIT: RfFlags = RfFlags(1 << 6);
/// A fresh, empty descriptor table.
pub const RFCFDG: RfFlags = RfFlags(1 << 12);
/// Join the caller's peer group (killed when the leader exits).
pub const RFTHREAD: RfFlags = RfFlags(1 << 13);
/// Share the signal actions.
pub const RFSIGSHARE: RfFlags = RfFlags(1 << 14);
/// Linux-thread exit notification: the parent gets `SIGUSR1`.
pub const RFLINUXTHPN: RfFlags = RfFlags(1 << 16);
/// The child is created stopped. Kernel-only in FreeBSD's `rfork`.
pub const RFSTOPPED: RfFlags = RfFlags(1 << 17);
/// A PID of 10 or more, `lastpid` untouched (the kernel's `PidFlags::HIGH`).
/// Kernel-only in FreeBSD's `rfork`.
pub const RFHIGHPID: RfFlags = RfFlags(1 << 18);
/// The exit signal is in bits 20..=27 (0 = none).
pub const RFTSIGZMB: RfFlags = RfFlags(1 << 19);
/// Where the `RFTSIGZMB` signal number starts.
pub const RFTSIGSHIFT: u32 = 20;
/// The `RFTSIGZMB` signal number's mask, after the shift.
pub const RFTSIGMASK: u32 = 0xff;
/// Return a process descriptor. Kernel-only in FreeBSD's `rfork`.
pub const RFPROCDESC: RfFlags = RfFlags(1 << 28);
/// Kernel meaning of bit 31: the parent waits until the child execs or
/// exits (vfork).
pub const RFPPWAIT: RfFlags = RfFlags(1 << 31);
/// User meaning of bit 31 (the same bit as [`RFPPWAIT`]): posix_spawn
/// semantics, only on its own.
pub const RFSPAWN: RfFlags = RfFlags(1 << 31);
/// Tine's user-visible `RFPPWAIT` for its `rfork` system call: bit 15, which
/// neither FreeBSD nor Plan 9 uses. FreeBSD's user ABI cannot ask for
/// `RFPPWAIT` next to other flags (bit 31 means `RFSPAWN` there); `rfork`
/// moves this bit to [`RFPPWAIT`] before `fork1`'s checks. See
/// `docs/fork.md`, "RFPPWAIT".
pub const RFPPWAIT_USER: RfFlags = RfFlags(1 << 15);
/// Every flag `fork1` knows (the signal bits are allowed separately).
pub const RFFLAGS: RfFlags = RfFlags(
    RFFDG.0
        | RFPROC.0
        | RFMEM.0
        | RFNOWAIT.0
        | RFCFDG.0
        | RFTHREAD.0
        | RFSIGSHARE.0
        | RFLINUXTHPN.0
        | RFSTOPPED.0
        | RFHIGHPID.0
        | RFTSIGZMB.0
        | RFPROCDESC.0
        | RFSPAWN.0
        | RFPPWAIT.0,
);
/// Flags user `rfork` may not pass (FreeBSD's current `RFKERNELONLY`).
pub const RFKERNELONLY: RfFlags = RfFlags(RFSTOPPED.0 | RFHIGHPID.0 | RFPROCDESC.0);

const RF_NAMES: &[(&str, RfFlags)] = &[
    ("RFFDG", RFFDG),
    ("RFPROC", RFPROC),
    ("RFMEM", RFMEM),
    ("RFNOWAIT", RFNOWAIT),
    ("RFCFDG", RFCFDG),
    ("RFTHREAD", RFTHREAD),
    ("RFSIGSHARE", RFSIGSHARE),
    ("RFPPWAIT_USER", RFPPWAIT_USER),
    ("RFLINUXTHPN", RFLINUXTHPN),
    ("RFSTOPPED", RFSTOPPED),
    ("RFHIGHPID", RFHIGHPID),
    ("RFTSIGZMB", RFTSIGZMB),
    ("RFPROCDESC", RFPROCDESC),
    // Bit 31 prints as the kernel's name; "RFSPAWN" parses to the same bit.
    ("RFPPWAIT", RFPPWAIT),
    ("RFSPAWN", RFSPAWN),
];

impl RfFlags {
    /// FreeBSD's `RFTSIGFLAGS(signum)`: `signum` placed in bits 20..=27
    /// (only its low 8 bits).
    pub const fn tsig(signum: u8) -> Self {
        Self((signum as u32) << RFTSIGSHIFT)
    }

    /// FreeBSD's `RFTSIGNUM(flags)`: the signal number in bits 20..=27.
    pub const fn tsignum(self) -> u32 {
        (self.0 >> RFTSIGSHIFT) & RFTSIGMASK
    }

    /// Every signal-number bit (`RFTSIGFLAGS(RFTSIGMASK)`).
    pub const TSIG_BITS: Self = Self(RFTSIGMASK << RFTSIGSHIFT);
}

flag_set!(
    /// FreeBSD's process-descriptor flags, `pdfork(2)`'s second argument.
    PdFlags,
    PD_NAMES
);

/// Closing the last descriptor does not kill the child.
pub const PD_DAEMON: PdFlags = PdFlags(0x1);
/// The descriptor is closed on exec.
pub const PD_CLOEXEC: PdFlags = PdFlags(0x2);
/// The flags a fork may ask for.
pub const PD_ALLOWED_AT_FORK: PdFlags = PdFlags(PD_DAEMON.0 | PD_CLOEXEC.0);

const PD_NAMES: &[(&str, PdFlags)] = &[("PD_DAEMON", PD_DAEMON), ("PD_CLOEXEC", PD_CLOEXEC)];

// ---------------------------------------------------------------------------
// Linux's clone flags (include/uapi/linux/sched.h), legacy clone(2)
// ---------------------------------------------------------------------------

flag_set!(
    /// Linux's `CLONE_*` flags, the low 32 bits of `clone(2)`'s first
    /// argument; the low byte ([`CSIGNAL`]) is the exit signal.
    CloneFlags,
    CLONE_NAMES
);

/// The exit signal (0 = none).
pub const CSIGNAL: CloneFlags = CloneFlags(0xff);
/// Share the address space.
pub const CLONE_VM: CloneFlags = CloneFlags(0x100);
/// Share the cwd, root and umask.
pub const CLONE_FS: CloneFlags = CloneFlags(0x200);
/// Share the descriptor table.
pub const CLONE_FILES: CloneFlags = CloneFlags(0x400);
/// Share the signal actions (needs `CLONE_VM`).
pub const CLONE_SIGHAND: CloneFlags = CloneFlags(0x800);
/// Store a process descriptor (pidfd) at `parent_tid`.
pub const CLONE_PIDFD: CloneFlags = CloneFlags(0x1000);
/// NetBSD 1.209's `CLONE_PID` (share the caller's PID): Linux 2.5.16 dropped
/// it and Linux 5.2 gave its bit to [`CLONE_PIDFD`]; Tine reads the bit as
/// `CLONE_PIDFD`, so a shared PID can never be asked for.
pub const CLONE_PID: CloneFlags = CLONE_PIDFD;
/// Let the tracer trace the child too (rejected: NetBSD).
pub const CLONE_PTRACE: CloneFlags = CloneFlags(0x2000);
/// The parent waits until the child execs or exits.
pub const CLONE_VFORK: CloneFlags = CloneFlags(0x4000);
/// The child's parent is the caller's parent.
pub const CLONE_PARENT: CloneFlags = CloneFlags(0x8000);
/// A thread in the caller's thread group (not a process: rejected).
pub const CLONE_THREAD: CloneFlags = CloneFlags(0x1_0000);
/// New mount namespace.
pub const CLONE_NEWNS: CloneFlags = CloneFlags(0x2_0000);
/// Share System V semaphore undo lists (Tine has none: no effect).
pub const CLONE_SYSVSEM: CloneFlags = CloneFlags(0x4_0000);
/// Set the child's TLS (FS base) to `tls`.
pub const CLONE_SETTLS: CloneFlags = CloneFlags(0x8_0000);
/// Store the child's PID at `parent_tid` in the parent.
pub const CLONE_PARENT_SETTID: CloneFlags = CloneFlags(0x10_0000);
/// Clear `child_tid` (and wake a futex there) when the child exits.
pub const CLONE_CHILD_CLEARTID: CloneFlags = CloneFlags(0x20_0000);
/// Ignored since Linux 2.6.2, except with `CLONE_PIDFD` (rejected).
pub const CLONE_DETACHED: CloneFlags = CloneFlags(0x40_0000);
/// A tracer may not force `CLONE_PTRACE` (no tracer: no effect).
pub const CLONE_UNTRACED: CloneFlags = CloneFlags(0x80_0000);
/// Store the child's PID at `child_tid` in the child.
pub const CLONE_CHILD_SETTID: CloneFlags = CloneFlags(0x100_0000);
/// New cgroup namespace.
pub const CLONE_NEWCGROUP: CloneFlags = CloneFlags(0x200_0000);
/// New UTS namespace.
pub const CLONE_NEWUTS: CloneFlags = CloneFlags(0x400_0000);
/// New IPC namespace.
pub const CLONE_NEWIPC: CloneFlags = CloneFlags(0x800_0000);
/// New user namespace.
pub const CLONE_NEWUSER: CloneFlags = CloneFlags(0x1000_0000);
/// New PID namespace.
pub const CLONE_NEWPID: CloneFlags = CloneFlags(0x2000_0000);
/// New network namespace.
pub const CLONE_NEWNET: CloneFlags = CloneFlags(0x4000_0000);
/// Share the I/O context (Tine has none: no effect).
pub const CLONE_IO: CloneFlags = CloneFlags(0x8000_0000);
/// Every namespace flag (Tine has no namespaces).
pub const CLONE_NAMESPACES: CloneFlags = CloneFlags(
    CLONE_NEWNS.0
        | CLONE_NEWCGROUP.0
        | CLONE_NEWUTS.0
        | CLONE_NEWIPC.0
        | CLONE_NEWUSER.0
        | CLONE_NEWPID.0
        | CLONE_NEWNET.0,
);

const CLONE_NAMES: &[(&str, CloneFlags)] = &[
    ("CLONE_VM", CLONE_VM),
    ("CLONE_FS", CLONE_FS),
    ("CLONE_FILES", CLONE_FILES),
    ("CLONE_SIGHAND", CLONE_SIGHAND),
    ("CLONE_PIDFD", CLONE_PIDFD),
    ("CLONE_PTRACE", CLONE_PTRACE),
    ("CLONE_VFORK", CLONE_VFORK),
    ("CLONE_PARENT", CLONE_PARENT),
    ("CLONE_THREAD", CLONE_THREAD),
    ("CLONE_NEWNS", CLONE_NEWNS),
    ("CLONE_SYSVSEM", CLONE_SYSVSEM),
    ("CLONE_SETTLS", CLONE_SETTLS),
    ("CLONE_PARENT_SETTID", CLONE_PARENT_SETTID),
    ("CLONE_CHILD_CLEARTID", CLONE_CHILD_CLEARTID),
    ("CLONE_DETACHED", CLONE_DETACHED),
    ("CLONE_UNTRACED", CLONE_UNTRACED),
    ("CLONE_CHILD_SETTID", CLONE_CHILD_SETTID),
    ("CLONE_NEWCGROUP", CLONE_NEWCGROUP),
    ("CLONE_NEWUTS", CLONE_NEWUTS),
    ("CLONE_NEWIPC", CLONE_NEWIPC),
    ("CLONE_NEWUSER", CLONE_NEWUSER),
    ("CLONE_NEWPID", CLONE_NEWPID),
    ("CLONE_NEWNET", CLONE_NEWNET),
    ("CLONE_IO", CLONE_IO),
];

impl CloneFlags {
    /// The exit signal in the low byte (0 = none).
    pub const fn exit_signal(self) -> u8 {
        (self.0 & CSIGNAL.0) as u8
    }
}

// ---------------------------------------------------------------------------
// Signal bounds
// ---------------------------------------------------------------------------

/// The largest signal number Tine delivers: Linux's `_NSIG`, 64. Both
/// `rfork`'s `RFTSIGZMB` check and `clone`'s exit-signal check use it; see
/// [`FREEBSD_SIG_MAXSIG`].
pub const SIG_MAXSIG: u8 = 64;
/// FreeBSD's `_SIG_MAXSIG`, 128: the bound in FreeBSD's `fork1`. Tine
/// numbers signals as Linux does, so signals 65..=128 do not exist and its
/// `rfork` rejects them against [`SIG_MAXSIG`] instead (same rule, Tine's
/// maximum).
pub const FREEBSD_SIG_MAXSIG: u32 = 128;

// ---------------------------------------------------------------------------
// The user runtime's vfork + exec
// ---------------------------------------------------------------------------

/// Whether `tine_rt::syscall::vfork_exec` may make a child with system
/// call `call` (`nr::VFORK` or `nr::TINE_RFORK`) and argument `arg`;
/// `has_path`: the child execs a program (it reads the caller's strings
/// and may write the exec error into the caller's memory). `vfork` is
/// always fine (the parent waits for the exec). An `rfork` must make a
/// child (`RFPROC` or `RFSPAWN`; otherwise the "child" code would run in
/// the caller), its flags must fit 32 bits, and with a program a child on
/// the caller's memory (`RFMEM`) needs the parent to wait for its exec
/// (`RFPPWAIT` (Tine's user bit) or `RFSPAWN`).
pub const fn vfork_exec_is_sound(call: u64, arg: u64, has_path: bool) -> bool {
    match call {
        crate::nr::VFORK => true,
        crate::nr::TINE_RFORK => {
            if arg > u32::MAX as u64 {
                return false;
            }
            let flags = RfFlags::from_bits_retain(arg as u32);
            let makes_child = flags.intersects(RFPROC.union(RFSPAWN));
            let parent_waits = flags.intersects(RFPPWAIT_USER.union(RFSPAWN));
            makes_child && (!has_path || !flags.contains(RFMEM) || parent_waits)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nr;

    #[test]
    fn vfork_exec_needs_a_child_and_a_waiting_parent_for_a_program() {
        let rf = |f: RfFlags| u64::from(f.bits());
        assert!(vfork_exec_is_sound(nr::VFORK, 0, true));
        assert!(vfork_exec_is_sound(nr::TINE_RFORK, rf(RFSPAWN), true));
        assert!(vfork_exec_is_sound(
            nr::TINE_RFORK,
            rf(RFPROC | RFMEM | RFPPWAIT_USER),
            true
        ));
        assert!(vfork_exec_is_sound(
            nr::TINE_RFORK,
            rf(RFPROC | RFMEM),
            false
        ));
        assert!(vfork_exec_is_sound(nr::TINE_RFORK, rf(RFPROC), true));
        assert!(!vfork_exec_is_sound(
            nr::TINE_RFORK,
            rf(RFPROC | RFMEM),
            true
        ));
        assert!(!vfork_exec_is_sound(nr::TINE_RFORK, rf(RFMEM), false));
        assert!(!vfork_exec_is_sound(nr::TINE_RFORK, 1 << 40, false));
        assert!(!vfork_exec_is_sound(nr::FORK, 0, false));
        assert!(!vfork_exec_is_sound(nr::CLONE, 0, false));
    }

    #[test]
    fn flag_words_have_their_c_values_and_names() {
        assert_eq!(RFPROC.bits(), 1 << 4);
        assert_eq!(CLONE_VM.bits(), 0x100);
        assert_eq!(RfFlags::from_name("RFSPAWN"), Some(RFSPAWN));
        assert_eq!(alloc_free_debug(RFPROC | RFMEM), "RFPROC|RFMEM");
    }

    fn alloc_free_debug(f: RfFlags) -> &'static str {
        extern crate std;
        std::boxed::Box::leak(std::format!("{f:?}").into_boxed_str())
    }
}
