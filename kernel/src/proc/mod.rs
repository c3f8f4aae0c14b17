//! Processes: PIDs, fork, exit, wait.
//!
//! - `affinity` (on the machine): CPU masks, moving a thread to obey its
//!   mask;
//! - `check` (on the machine): `sysctl debug.check`, the kernel's
//!   bookkeeping checked against itself (`docs/robustness.md`);
//! - `divorce` (on the machine): `rfork` without `RFPROC`, unsharing in
//!   place;
//! - [`cred`]: user and group ids, resource limits (pure logic);
//! - [`fork`]: `fork1`, which makes a process from a request: refusals,
//!   the `maxproc` limit, allocations with rollback, the commit point;
//! - [`itimer`]: the real-time interval timer (`alarm`, `setitimer`):
//!   its conversions (pure) and, on the machine, the timer and its task;
//! - [`futex`]: the futex wait queue (pure, loom-modelled) and, on the
//!   machine, `futex(2)` and the robust-list walk (`docs/futex.md`);
//! - [`fork_flags`]: the fork family's front ends (fork, vfork, rfork,
//!   clone, pdfork, posix_spawn) as validated requests, pure logic
//!   (`docs/fork.md`);
//! - [`pid`]: the machine's one [`pid::PidMap`], made at boot with the
//!   `pid_max` the command line asks for, and the PID knobs FreeBSD exposes
//!   as sysctls (`kern.pid_max`, `kern.lastpid`, `kern.randompid`);
//! - [`process`]: the process record and its accessors, exit and wait
//!   statuses; it re-exports the five modules that follow;
//! - `table` (on the machine): the process table, `nprocs`, the `maxproc`
//!   slots;
//! - `exit` (on the machine): `Process::exit`, reparenting orphans;
//! - `job` (on the machine): process groups and sessions (`setpgid`,
//!   `setsid`);
//! - `spawn` (on the machine): `spawn_process` (load a program from the
//!   initramfs and start it);
//! - `wait` (on the machine): `wait` and `wait4`'s kernel side;
//! - [`index`]: the process table's indexes (children, children ready
//!   for `wait4`, process groups, sessions, peer groups), every operation
//!   O(log n), pure logic;
//! - [`oom`]: the out-of-memory killer (a user fault that finds no frame
//!   kills the process with the most resident pages);
//! - [`counters`]: fork counters per CPU (FreeBSD's `v_forks`...);
//! - [`events`]: fork hooks and the fork/exec/exit event stream;
//! - [`procdesc`]: process descriptors (pdfork, `CLONE_PIDFD`);
//! - [`reaper`]: `procctl`'s reapers, where orphans go;
//! - [`uidinfo`]: processes per real uid, for `RLIMIT_NPROC`;
//! - [`sysctl`]: the knobs by name (`kern.maxproc`, `kern.forkfsleep`...);
//! - [`signal`]: signal numbers, sets, actions, the per-process queue,
//!   the signal frame, and (on the machine) sending, delivery and
//!   [`signal::interruptible`] (`docs/signals.md`);
//! - `thread` (on the machine): `Thread` (one per thread of a process),
//!   a user thread as a future, the trap loop around `arch::user::run`,
//!   thread and group exit (`docs/threads.md`);
//! - [`thread_slots`]: a process's live threads in numbered slots (O(1)
//!   removal, a walk that skips no thread), pure logic.

#[cfg(target_os = "none")]
pub mod affinity;
pub mod check;
#[cfg(target_os = "none")]
mod check_ktests;
pub mod counters;
pub mod cred;
#[cfg(target_os = "none")]
pub mod divorce;
pub mod events;
#[cfg(target_os = "none")]
pub mod exit;
pub mod fork;
pub mod fork_flags;
#[cfg(target_os = "none")]
mod fork_ktests;
#[cfg(target_os = "none")]
mod forkfam_ktests;
pub mod futex;
pub mod index;
pub mod itimer;
#[cfg(target_os = "none")]
pub mod job;
#[cfg(target_os = "none")]
mod job_ktests;
pub mod oom;
pub mod pid;
#[cfg(target_os = "none")]
mod pid_ktests;
pub mod procdesc;
pub mod process;
#[cfg(target_os = "none")]
mod process_ktests;
pub mod reaper;
pub mod signal;
#[cfg(target_os = "none")]
mod signal_ktests;
#[cfg(target_os = "none")]
pub mod spawn;
pub mod sysctl;
#[cfg(target_os = "none")]
pub mod table;
#[cfg(target_os = "none")]
pub mod thread;
#[cfg(target_os = "none")]
mod thread_ktests;
pub mod thread_slots;
pub mod uidinfo;
#[cfg(target_os = "none")]
pub mod wait;
#[cfg(target_os = "none")]
mod wait_ktests;

use conquer_once::spin::OnceCell;

use pid::PidMap;

static PIDS: OnceCell<PidMap> = OnceCell::uninit();

/// Makes the machine's PID map (once; later calls keep the first map).
/// `random` feeds `kern.randompid`.
pub fn init_pids(pid_max: u32, random: fn() -> u64) {
    PIDS.init_once(|| PidMap::new(pid_max, random));
}

/// The machine's PID map.
///
/// # Panics
/// Before [`init_pids`].
pub fn pids() -> &'static PidMap {
    PIDS.get().expect("proc::init_pids has not run")
}

/// A PID knob, as `sysctl` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PidKnob {
    /// `kern.pid_max` (read-only after boot).
    PidMax,
    /// `kern.lastpid` (read-only).
    LastPid,
    /// `kern.randompid` (read-write).
    RandomPid,
}

impl PidKnob {
    /// The knob called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "kern.pid_max" => Some(Self::PidMax),
            "kern.lastpid" => Some(Self::LastPid),
            "kern.randompid" => Some(Self::RandomPid),
            _ => None,
        }
    }

    /// Every knob, with its name.
    pub const ALL: [(&'static str, PidKnob); 3] = [
        ("kern.pid_max", Self::PidMax),
        ("kern.lastpid", Self::LastPid),
        ("kern.randompid", Self::RandomPid),
    ];

    /// Reads the knob from `map`.
    pub fn get(self, map: &PidMap) -> i64 {
        match self {
            Self::PidMax => map.pid_max() as i64,
            Self::LastPid => map.lastpid().as_u32() as i64,
            Self::RandomPid => map.randompid() as i64,
        }
    }

    /// Writes the knob; returns the value in effect, or `None` (EPERM, as
    /// FreeBSD's read-only sysctls) for a read-only knob.
    pub fn set(self, map: &PidMap, value: i32) -> Option<i64> {
        match self {
            Self::RandomPid => Some(map.set_randompid(value) as i64),
            Self::PidMax | Self::LastPid => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PidKnob;
    use super::pid::{PidFlags, PidMap};

    #[test]
    fn knobs_read_and_write_like_the_sysctls() {
        let map = PidMap::new(1000, || 7);
        assert_eq!(PidKnob::from_name("kern.pid_max").unwrap().get(&map), 1000);
        let pid = map.alloc(PidFlags::NONE).unwrap();
        assert_eq!(PidKnob::LastPid.get(&map), pid.as_u32() as i64);
        assert_eq!(
            PidKnob::RandomPid.set(&map, 50),
            Some(100),
            "below 100 becomes 100"
        );
        assert_eq!(PidKnob::RandomPid.get(&map), 100);
        assert_eq!(PidKnob::LastPid.set(&map, 5), None);
        assert_eq!(PidKnob::PidMax.set(&map, 5), None);
        assert_eq!(PidKnob::from_name("kern.nope"), None);
    }
}
