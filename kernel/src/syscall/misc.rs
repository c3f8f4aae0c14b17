//! The process's own knobs and the machine's small services:
//! credentials, resource limits, CPU affinity, thread bookkeeping for the
//! C library, random bytes, `sysinfo`, `mprotect`/`madvise`, clocks and
//! sleeps (`super::time`), and Tine's `poweroff`.
//!
//! [`handles`] says which numbers live here; the dispatcher sends them to
//! [`call`] with one match arm. Each call's Linux rules are in its doc
//! comment and in `docs/syscalls.md`.

use alloc::sync::Arc;

use super::time;
use crate::proc::affinity;
use crate::proc::cred::Rlimit;
use crate::proc::pid::Pid;
use crate::proc::process::{self, Process};
use crate::proc::thread::Thread;
use crate::vm::space::AddressSpace;
use abi::nr;
use abi::prctl::{self as pr, COMM_LEN};
use abi::{Errno, SysResult};

/// Whether system call `n` is one of this module's that may wait or take
/// long ([`call`]; the others are [`now`]'s).
pub fn handles(n: u64) -> bool {
    matches!(
        n,
        nr::SETUID
            | nr::SETGID
            | nr::GETRANDOM
            | nr::SYSINFO
            | nr::SCHED_SETAFFINITY
            | nr::MPROTECT
            | nr::MADVISE
            | nr::CLOCK_GETTIME
            | nr::NANOSLEEP
            | nr::CLOCK_NANOSLEEP
            | nr::TINE_POWEROFF
            | nr::PRCTL
            | nr::GETPRIORITY
            | nr::SETPRIORITY
            | nr::ALARM
            | nr::UNSHARE
            | nr::GETGROUPS
            | nr::SETGROUPS
            | nr::SETHOSTNAME
            | nr::SETDOMAINNAME
            | nr::GETITIMER
            | nr::SETITIMER
    )
}

/// Runs system call `n` with `args` if it is one of this module's that
/// never waits, takes no time to speak of and allocates nothing (the
/// credentials read, the resource limits, the affinity read, the clock
/// resolution, `gettimeofday`):
/// `super::fast::now` runs it from the trap loop. `None` for any other
/// number.
pub fn now(
    process: &Arc<Process>,
    space: &AddressSpace,
    n: u64,
    [a0, a1, a2, a3, _, _]: [u64; 6],
) -> Option<SysResult> {
    Some(match n {
        nr::GETUID => Ok(u64::from(process.creds().uid)),
        nr::GETEUID => Ok(u64::from(process.creds().euid)),
        nr::GETGID => Ok(u64::from(process.creds().gid)),
        nr::GETEGID => Ok(u64::from(process.creds().egid)),
        nr::GETRLIMIT => prlimit(process, space, 0, a0, 0, a1),
        nr::SETRLIMIT => prlimit(process, space, 0, a0, a1, 0),
        nr::PRLIMIT64 => prlimit(process, space, a0, a1, a2, a3),
        nr::SCHED_GETAFFINITY => sched_getaffinity(space, a0, a1, a2),
        nr::CLOCK_GETRES => time::clock_getres(space, a0, a1),
        nr::GETTIMEOFDAY => time::gettimeofday(space, a0, a1),
        _ => return None,
    })
}

/// Runs system call `n` (one that [`handles`]) with `args`.
pub async fn call(
    process: &Arc<Process>,
    space: &AddressSpace,
    n: u64,
    [a0, a1, a2, a3, _, _]: [u64; 6],
) -> SysResult {
    match n {
        nr::SETUID => process.setuid(a0 as u32).map(|()| 0),
        nr::SETGID => process.update_creds(|c| c.setgid(a0 as u32)).map(|()| 0),
        nr::GETRANDOM => getrandom(space, a0, a1, a2),
        nr::SYSINFO => sysinfo(space, a0),
        nr::SCHED_SETAFFINITY => sched_setaffinity(process, space, a0, a1, a2).await,
        nr::MPROTECT => space.mprotect(a0, a1, a2).map(|()| 0),
        nr::MADVISE => space.madvise(a0, a1, a2).map(|()| 0),
        nr::CLOCK_GETTIME => time::clock_gettime(process, space, a0, a1),
        nr::NANOSLEEP => time::nanosleep(process, space, a0, a1).await,
        nr::CLOCK_NANOSLEEP => time::clock_nanosleep(process, space, a0, a1, a2, a3).await,
        nr::TINE_POWEROFF => poweroff(process, a0),
        nr::PRCTL => prctl(process, space, a0, a1),
        nr::GETPRIORITY => getpriority(process, a0, a1),
        nr::SETPRIORITY => setpriority(process, a0, a1, a2),
        nr::ALARM => {
            // Linux's `alarm` takes an unsigned int of seconds.
            let secs = u64::from(a0 as u32);
            let (left, _) = process.real_timer().set(process, secs * 1_000_000_000, 0);
            Ok(crate::proc::itimer::alarm_seconds(left))
        }
        nr::GETITIMER => getitimer(process, space, a0, a1),
        nr::UNSHARE => unshare(process, a0),
        nr::GETGROUPS => getgroups(process, space, a0, a1),
        nr::SETHOSTNAME => set_uts_name(process, space, &HOSTNAME, a0, a1),
        nr::SETDOMAINNAME => set_uts_name(process, space, &DOMAINNAME, a0, a1),
        nr::SETGROUPS => setgroups(process, space, a0, a1),
        nr::SETITIMER => setitimer(process, space, a0, a1, a2),
        _ => Err(Errno::ENOSYS),
    }
}

/// The process `pid` names for the calls that take one: 0 is the caller;
/// any other existing process (zombies included) is allowed; `ESRCH`
/// otherwise.
fn target(process: &Arc<Process>, pid: u64) -> Result<Arc<Process>, Errno> {
    let pid = pid as i32;
    if pid == 0 || pid as u32 == process.pid().as_u32() {
        return Ok(process.clone());
    }
    if pid < 0 {
        return Err(Errno::EINVAL);
    }
    Pid::new(pid as u32)
        .and_then(process::lookup)
        .ok_or(Errno::ESRCH)
}

/// `prlimit64(pid, resource, new, old)` (and `getrlimit`/`setrlimit`,
/// which are it for the caller with one pointer NULL). `EINVAL` for an
/// unknown resource or soft > hard, `EPERM` for a hard-limit raise
/// without root or for another user's process, `ESRCH` for no such
/// process, `EFAULT` for either pointer (the new limit is read before
/// anything changes; the old one is written after, as Linux does).
fn prlimit(
    process: &Arc<Process>,
    space: &AddressSpace,
    pid: u64,
    resource: u64,
    new: u64,
    old: u64,
) -> SysResult {
    let target = target(process, pid)?;
    let resource = u32::try_from(resource).map_err(|_| Errno::EINVAL)?;
    let by = process.creds();
    if !Arc::ptr_eq(&target, process) && !by.is_root() && target.creds().uid != by.uid {
        return Err(Errno::EPERM);
    }
    let current = target.rlimit(resource)?;
    let previous = if new != 0 {
        let mut raw = [0u8; 16];
        space.copy_from_user(new, &mut raw)?;
        target.set_rlimit(resource, Rlimit::from_bytes(raw), &by)?
    } else {
        current
    };
    if old != 0 {
        space.copy_to_user(old, &previous.to_bytes())?;
    }
    Ok(0)
}

/// The processes `which` (`PRIO_PROCESS`, `PRIO_PGRP`, `PRIO_USER`) and
/// `who` (0: the caller's own) name for `getpriority`/`setpriority`, as
/// Linux's `kernel/sys.c` picks them: a process id (a thread id names its
/// process; Tine keeps one nice value per process), a process group, a
/// real uid. `EINVAL` for another `which`; none found is `ESRCH`.
fn priority_targets(
    process: &Arc<Process>,
    which: u64,
    who: u64,
) -> Result<alloc::vec::Vec<Arc<Process>>, Errno> {
    const PRIO_PROCESS: u64 = 0;
    const PRIO_PGRP: u64 = 1;
    const PRIO_USER: u64 = 2;
    let who = who as u32;
    let found: alloc::vec::Vec<Arc<Process>> = match which {
        PRIO_PROCESS if who == 0 => alloc::vec![process.clone()],
        PRIO_PROCESS => Pid::new(who)
            .and_then(|pid| {
                process::lookup(pid)
                    .or_else(|| crate::proc::thread::by_tid(pid).map(|t| t.process().clone()))
            })
            .into_iter()
            .collect(),
        PRIO_PGRP => {
            let pgid = if who == 0 {
                process.pgid().as_u32()
            } else {
                who
            };
            process::all()
                .into_iter()
                .filter(|p| p.pgid().as_u32() == pgid && p.state() == process::State::Running)
                .collect()
        }
        PRIO_USER => {
            let uid = if who == 0 { process.creds().uid } else { who };
            process::all()
                .into_iter()
                .filter(|p| p.creds().uid == uid && p.state() == process::State::Running)
                .collect()
        }
        _ => return Err(Errno::EINVAL),
    };
    if found.is_empty() {
        return Err(Errno::ESRCH);
    }
    Ok(found)
}

/// `getpriority(which, who)`: `20 - nice` of the highest-priority (lowest
/// nice) process named, 1 to 40, as Linux's raw call returns it (the C
/// library turns it back into a nice value).
fn getpriority(process: &Arc<Process>, which: u64, who: u64) -> SysResult {
    let targets = priority_targets(process, which, who)?;
    let best = targets.iter().map(|p| p.nice()).min().unwrap_or(0);
    Ok((20 - i64::from(best)) as u64)
}

/// `setpriority(which, who, nice)`: sets the nice value (clamped to -20
/// to 19) of every process named, as Linux's `set_one_prio`: `EPERM` for
/// one owned by another user (real or effective uid unlike the caller's
/// effective uid) unless root, `EACCES` for a lower nice than it has
/// unless root or `RLIMIT_NICE` allows it (`20 - nice <= limit`); the
/// result is the last error, or 0 once any process was changed.
fn setpriority(process: &Arc<Process>, which: u64, who: u64, nice: u64) -> SysResult {
    let targets = priority_targets(process, which, who)?;
    let nice = (nice as i32).clamp(-20, 19) as i8;
    let by = process.creds();
    let limit = process
        .rlimit(crate::proc::cred::resource::NICE)
        .map_or(0, |l| l.cur);
    let mut result = Err(Errno::ESRCH);
    for target in targets {
        let owner = target.creds();
        if !by.is_root() && by.euid != owner.uid && by.euid != owner.euid {
            result = Err(Errno::EPERM);
            continue;
        }
        if nice < target.nice() && !by.is_root() && (20 - i64::from(nice)) as u64 > limit {
            result = Err(Errno::EACCES);
            continue;
        }
        target.set_nice(nice);
        if result == Err(Errno::ESRCH) {
            result = Ok(0);
        }
    }
    result
}

/// Longest host or domain name (Linux's `__NEW_UTS_LEN`).
const UTS_LEN: usize = 64;

/// The machine's host name (`uname`'s nodename), `sethostname`.
pub static HOSTNAME: spin::Mutex<alloc::string::String> =
    spin::Mutex::new(alloc::string::String::new());
/// The machine's NIS domain name (`uname`'s domainname), `setdomainname`.
pub static DOMAINNAME: spin::Mutex<alloc::string::String> =
    spin::Mutex::new(alloc::string::String::new());

/// A host or domain name as `uname` shows it: `default` until set.
pub fn uts_name(name: &spin::Mutex<alloc::string::String>, default: &str) -> alloc::string::String {
    let name = name.lock();
    if name.is_empty() {
        alloc::string::String::from(default)
    } else {
        name.clone()
    }
}

/// [`uts_name`] copied into `out` (at most `out.len() - 1` bytes, the
/// rest left as it is), without allocating: `uname` runs from the trap
/// loop (`syscall::fast`), where no allocation may fail.
pub fn uts_name_into(name: &spin::Mutex<alloc::string::String>, default: &str, out: &mut [u8]) {
    let name = name.lock();
    let text = if name.is_empty() {
        default
    } else {
        name.as_str()
    };
    let n = text.len().min(out.len().saturating_sub(1));
    out[..n].copy_from_slice(&text.as_bytes()[..n]);
}

/// `sethostname(name, len)`, `setdomainname(name, len)`: root only
/// (`EPERM`), at most 64 bytes (`EINVAL`), `EFAULT` for a bad pointer, as
/// Linux's. Bytes that are not UTF-8 are `EINVAL` (Tine keeps text); an
/// empty name brings back the default.
fn set_uts_name(
    process: &Arc<Process>,
    space: &AddressSpace,
    name: &spin::Mutex<alloc::string::String>,
    ptr: u64,
    len: u64,
) -> SysResult {
    if !process.creds().is_root() {
        return Err(Errno::EPERM);
    }
    let len = usize::try_from(len as i32).map_err(|_| Errno::EINVAL)?;
    if len > UTS_LEN {
        return Err(Errno::EINVAL);
    }
    let mut bytes = [0u8; UTS_LEN];
    space.copy_from_user(ptr, &mut bytes[..len])?;
    let text = core::str::from_utf8(&bytes[..len]).map_err(|_| Errno::EINVAL)?;
    // A NUL ends it (uname's fields are C strings).
    let text = text.split('\0').next().unwrap_or("");
    *name.lock() = alloc::string::String::from(text);
    Ok(0)
}

/// Most supplementary groups (Linux's `NGROUPS_MAX`).
const NGROUPS_MAX: u64 = 65536;

/// `getgroups(size, list)`: the supplementary group ids, sorted; with
/// `size` 0 only their number. `EINVAL` for a negative `size` or one
/// smaller than the number, `EFAULT` for a bad `list` (Linux's order).
fn getgroups(process: &Arc<Process>, space: &AddressSpace, size: u64, list: u64) -> SysResult {
    let size = size as i32;
    if size < 0 {
        return Err(Errno::EINVAL);
    }
    let groups = process.groups().unwrap_or_default();
    if size != 0 {
        if groups.len() > size as usize {
            return Err(Errno::EINVAL);
        }
        let mut bytes = crate::fallible::zeroed(groups.len() * 4)?;
        for (out, g) in bytes.chunks_exact_mut(4).zip(groups.iter()) {
            out.copy_from_slice(&g.to_ne_bytes());
        }
        space.copy_to_user(list, &bytes)?;
    }
    Ok(groups.len() as u64)
}

/// `setgroups(size, list)`: root only (`EPERM`), at most
/// [`NGROUPS_MAX`] (`EINVAL`), a bad `list` `EFAULT`; kept sorted, as
/// Linux's `groups_sort` keeps them.
fn setgroups(process: &Arc<Process>, space: &AddressSpace, size: u64, list: u64) -> SysResult {
    if !process.creds().is_root() {
        return Err(Errno::EPERM);
    }
    let size = u64::from(size as u32);
    if size > NGROUPS_MAX {
        return Err(Errno::EINVAL);
    }
    let mut bytes = crate::fallible::zeroed(size as usize * 4)?;
    space.copy_from_user(list, &mut bytes)?;
    let mut groups = alloc::vec::Vec::new();
    groups
        .try_reserve_exact(size as usize)
        .map_err(|_| Errno::ENOMEM)?;
    groups.extend(
        bytes
            .chunks_exact(4)
            .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]])),
    );
    groups.sort_unstable();
    process.set_groups(groups);
    Ok(0)
}

/// What `unshare(flags)` asks of a process (pure: [`unshare_request`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Unshare {
    files: bool,
    fs: bool,
    /// `CLONE_THREAD`, `CLONE_SIGHAND` or `CLONE_VM`: allowed only for a
    /// process with one thread (and, for `CLONE_VM`, an address space of
    /// its own), where they change nothing, as Linux's `check_unshare_flags`.
    alone: bool,
    vm: bool,
}

/// `unshare`'s flags, as Linux's `ksys_unshare` takes them: `CLONE_FILES`,
/// `CLONE_FS`, `CLONE_SYSVSEM` (Tine keeps no semaphore undo lists: nothing
/// to do), `CLONE_THREAD`/`CLONE_SIGHAND`/`CLONE_VM` (see [`Unshare`]).
/// The namespace flags are `EINVAL`, Linux's answer when a namespace kind
/// is not configured (Tine has none); so is any other bit.
fn unshare_request(flags: u64) -> Result<Unshare, Errno> {
    const CLONE_VM: u64 = 0x100;
    const CLONE_FS: u64 = 0x200;
    const CLONE_FILES: u64 = 0x400;
    const CLONE_SIGHAND: u64 = 0x800;
    const CLONE_THREAD: u64 = 0x10000;
    const CLONE_SYSVSEM: u64 = 0x40000;
    let known = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM;
    if flags & !known != 0 {
        return Err(Errno::EINVAL);
    }
    Ok(Unshare {
        files: flags & CLONE_FILES != 0,
        fs: flags & CLONE_FS != 0,
        alone: flags & (CLONE_THREAD | CLONE_SIGHAND | CLONE_VM) != 0,
        vm: flags & CLONE_VM != 0,
    })
}

/// `unshare(flags)` ([`unshare_request`]): a descriptor table or file
/// system context (cwd, umask) shared with another process (`CLONE_FILES`,
/// `CLONE_FS`, vfork) becomes the caller's own copy. Tine's tables are
/// per process: threads of one process keep sharing them (Linux would
/// give the calling thread its own).
fn unshare(process: &Arc<Process>, flags: u64) -> SysResult {
    let req = unshare_request(flags)?;
    if req.alone {
        let shared_space = req.vm
            && process
                .space()
                .is_some_and(|space| process::space_sharers(&space) > 1);
        if process.threads().len() > 1 || shared_space {
            return Err(Errno::EINVAL);
        }
    }
    if req.files {
        let files = process.files();
        // Ours plus the process's reference: anything more is another
        // process's.
        if Arc::strong_count(&files) > 2 {
            process.set_files(Arc::new(files.unshared_copy()));
        }
    }
    if req.fs {
        let fs = process.fs();
        if Arc::strong_count(&fs) > 2 {
            process.set_fs(Arc::new(fs.clone_copy()));
        }
    }
    Ok(0)
}

/// `ITIMER_REAL`, the one interval timer Tine has (`ITIMER_VIRTUAL` and
/// `ITIMER_PROF`, which count CPU time, are `EINVAL`).
const ITIMER_REAL: u64 = 0;

/// A `struct itimerval` (interval, then value; each a `timeval`) of
/// `(value, interval)` in ns.
fn itimerval_bytes((value, interval): (u64, u64)) -> [u8; 32] {
    let mut out = [0u8; 32];
    let (isec, iusec) = crate::proc::itimer::ns_timeval(interval);
    let (vsec, vusec) = crate::proc::itimer::ns_timeval(value);
    for (i, field) in [isec, iusec, vsec, vusec].into_iter().enumerate() {
        out[i * 8..i * 8 + 8].copy_from_slice(&field.to_ne_bytes());
    }
    out
}

/// `getitimer(which, curr)`: the time left and the interval.
fn getitimer(process: &Arc<Process>, space: &AddressSpace, which: u64, curr: u64) -> SysResult {
    if which != ITIMER_REAL {
        return Err(Errno::EINVAL);
    }
    space.copy_to_user(curr, &itimerval_bytes(process.real_timer().get()))?;
    Ok(0)
}

/// `setitimer(which, new, old)`: arms (or, with a zero value, disarms)
/// the timer; `old` gets the previous setting. A NULL `new` disarms, as
/// Linux takes it; a bad `timeval` is `EINVAL`, a bad pointer `EFAULT`
/// before anything changes.
fn setitimer(
    process: &Arc<Process>,
    space: &AddressSpace,
    which: u64,
    new: u64,
    old: u64,
) -> SysResult {
    use crate::proc::itimer::timeval_ns;
    if which != ITIMER_REAL {
        return Err(Errno::EINVAL);
    }
    let (value, interval) = if new == 0 {
        (0, 0)
    } else {
        let mut raw = [0u8; 32];
        space.copy_from_user(new, &mut raw)?;
        let field =
            |i: usize| i64::from_ne_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap_or_default());
        let interval = timeval_ns(field(0), field(1)).ok_or(Errno::EINVAL)?;
        let value = timeval_ns(field(2), field(3)).ok_or(Errno::EINVAL)?;
        (value, interval)
    };
    if old != 0 {
        // Checked before the timer changes: a bad `old` leaves it as it was.
        space.check_writable(old)?;
    }
    let previous = process.real_timer().set(process, value, interval);
    if old != 0 {
        space.copy_to_user(old, &itimerval_bytes(previous))?;
    }
    Ok(0)
}

/// `set_robust_list(head, len)`: the calling thread's list, walked at its
/// exit (`proc::futex::exit_robust_list`); `len` must be the size of
/// `struct robust_list_head` (24), as Linux checks.
pub fn set_robust_list(thread: &crate::proc::thread::Thread, head: u64, len: u64) -> SysResult {
    if len != 24 {
        return Err(Errno::EINVAL);
    }
    thread.set_robust_list(head);
    Ok(0)
}

/// Most bytes one `getrandom` returns (a short read beyond; Linux's
/// limit is 32 MiB).
const GETRANDOM_MAX: usize = 1 << 20;

/// `getrandom(buf, len, flags)`: bytes from `arch::cpu::random` (RDRAND,
/// never blocks, so `GRND_NONBLOCK`, `GRND_RANDOM` and `GRND_INSECURE`
/// change nothing); other flag bits, or `GRND_RANDOM | GRND_INSECURE`,
/// `EINVAL`. A fault after some bytes gives a short count.
fn getrandom(space: &AddressSpace, buf: u64, len: u64, flags: u64) -> SysResult {
    const NONBLOCK: u64 = 1;
    const RANDOM: u64 = 2;
    const INSECURE: u64 = 4;
    if flags & !(NONBLOCK | RANDOM | INSECURE) != 0
        || flags & (RANDOM | INSECURE) == RANDOM | INSECURE
    {
        return Err(Errno::EINVAL);
    }
    let len = (len as usize).min(GETRANDOM_MAX);
    let mut chunk = [0u8; 256];
    let mut done = 0;
    while done < len {
        // Chunks end at page boundaries, so a fault leaves exactly the
        // bytes before the bad page written.
        let at = buf.wrapping_add(done as u64);
        let to_page_end = (crate::vm::vma::PAGE_SIZE - at % crate::vm::vma::PAGE_SIZE) as usize;
        let n = (len - done).min(chunk.len()).min(to_page_end);
        arch::cpu::random::fill(&mut chunk[..n]);
        if let Err(e) = space.copy_to_user(at, &chunk[..n]) {
            return if done == 0 { Err(e) } else { Ok(done as u64) };
        }
        done += n;
    }
    Ok(done as u64)
}

/// `sysinfo(info)`: uptime, memory from the frame allocator (`mem_unit`
/// 1), the number of processes; no swap, no load averages (zeros).
fn sysinfo(space: &AddressSpace, info: u64) -> SysResult {
    let (free, total) = arch::mm::frame::stats();
    let page = crate::vm::vma::PAGE_SIZE;
    let mut out = [0u8; 112];
    let mut put = |at: usize, bytes: &[u8]| out[at..at + bytes.len()].copy_from_slice(bytes);
    put(0, &(crate::task::now_ns() / 1_000_000_000).to_le_bytes());
    put(32, &(total as u64 * page).to_le_bytes());
    put(40, &(free as u64 * page).to_le_bytes());
    put(
        80,
        &(process::nprocs().min(u16::MAX as usize) as u16).to_le_bytes(),
    );
    put(104, &1u32.to_le_bytes());
    space.copy_to_user(info, &out)?;
    Ok(0)
}

/// The thread `sched_*affinity` names: 0 the caller, else the thread with
/// that TID (a process's PID names its leader), as on Linux. `ESRCH` for
/// none (a negative ID too).
fn target_thread(pid: u64) -> Result<Arc<Thread>, Errno> {
    let pid = pid as i32;
    if pid == 0 {
        return crate::proc::thread::current().ok_or(Errno::ESRCH);
    }
    let tid = u32::try_from(pid)
        .ok()
        .and_then(Pid::new)
        .ok_or(Errno::ESRCH)?;
    crate::proc::thread::by_tid(tid).ok_or(Errno::ESRCH)
}

/// `sched_getaffinity(pid, len, mask)`: the mask (8 bytes, CPUs 0..64)
/// as set, limited to the online CPUs; returns the bytes written.
/// `EINVAL` when `len` is under 8 or not a multiple of 8, as Linux.
fn sched_getaffinity(space: &AddressSpace, pid: u64, len: u64, mask: u64) -> SysResult {
    if len < 8 || !len.is_multiple_of(8) {
        return Err(Errno::EINVAL);
    }
    let target = target_thread(pid)?;
    let value = target.affinity() & affinity::online_mask();
    space.copy_to_user(mask, &value.to_le_bytes())?;
    Ok(8)
}

/// `sched_setaffinity(pid, len, mask)`: the thread (`target_thread`) may
/// run only on the CPUs in `mask` (bits past the 64th and offline CPUs
/// are ignored; none left is `EINVAL`). The caller moves at once
/// ([`affinity::apply`]); another thread moves at its next system call or
/// time-slice end. `ESRCH` for no such thread, `EPERM` for another user's
/// process without root.
async fn sched_setaffinity(
    process: &Arc<Process>,
    space: &AddressSpace,
    pid: u64,
    len: u64,
    mask: u64,
) -> SysResult {
    let target = target_thread(pid)?;
    let by = process.creds();
    if !Arc::ptr_eq(target.process(), process)
        && !by.is_root()
        && target.process().creds().uid != by.uid
    {
        return Err(Errno::EPERM);
    }
    let mut raw = [0u8; 8];
    let n = (len as usize).min(8);
    space.copy_from_user(mask, &mut raw[..n])?;
    let wanted = u64::from_le_bytes(raw) & affinity::online_mask();
    if wanted == 0 {
        return Err(Errno::EINVAL);
    }
    target.set_affinity(wanted);
    // The process-wide copy `fork` of a kernel caller reads.
    target.process().set_affinity(wanted);
    let me = crate::proc::thread::current();
    if me.is_some_and(|t| Arc::ptr_eq(&t, &target)) && target.take_affinity_change() {
        affinity::apply(&target).await;
    }
    Ok(0)
}

/// `prctl(option, arg2, ...)`:
/// - `PR_SET_PDEATHSIG` (`arg2` a signal, 0 for none; else `EINVAL`): the
///   signal this process gets when its parent exits
///   (`process::reparent_children` sends it); fork clears it in the child;
///   `PR_GET_PDEATHSIG` stores it as an `int` at `arg2`.
/// - `PR_SET_NAME`: the name (`ps`, `/proc/PID/comm`) becomes the string
///   at `arg2`, cut at 15 bytes; `PR_GET_NAME` stores it with its NUL in
///   the 16 bytes at `arg2`.
/// - `PR_SET_CHILD_SUBREAPER` (`arg2` non-zero to set, 0 to clear):
///   FreeBSD's `PROC_REAP_ACQUIRE`/`RELEASE` (`proc::reaper`), without
///   their errors (Linux's flag may be set twice or cleared when clear);
///   `PR_GET_CHILD_SUBREAPER` stores the flag as an `int` at `arg2`.
///
/// A bad pointer is `EFAULT`, an unknown option `EINVAL`.
fn prctl(process: &Arc<Process>, space: &AddressSpace, option: u64, arg2: u64) -> SysResult {
    match option {
        pr::SET_PDEATHSIG => {
            let sig = u8::try_from(arg2)
                .ok()
                .filter(|&s| s == 0 || crate::proc::signal::Signal::new(u32::from(s)).is_some())
                .ok_or(Errno::EINVAL)?;
            process.set_pdeathsig(sig);
            Ok(0)
        }
        pr::GET_PDEATHSIG => {
            let sig = i32::from(process.pdeathsig());
            space.copy_to_user(arg2, &sig.to_le_bytes())?;
            Ok(0)
        }
        pr::SET_NAME => {
            // Byte by byte up to the NUL, so a name that ends just before
            // an unmapped page is fine (Linux's `strncpy_from_user`).
            let mut name = alloc::vec::Vec::with_capacity(COMM_LEN);
            for at in 0..COMM_LEN as u64 - 1 {
                let mut byte = [0u8];
                space.copy_from_user(arg2.wrapping_add(at), &mut byte)?;
                if byte[0] == 0 {
                    break;
                }
                name.push(byte[0]);
            }
            process.set_name(&alloc::string::String::from_utf8_lossy(&name));
            Ok(0)
        }
        pr::GET_NAME => {
            let mut out = [0u8; COMM_LEN];
            let name = process.name();
            let comm = crate::fs::procfs::comm(&name).as_bytes();
            out[..comm.len()].copy_from_slice(comm);
            space.copy_to_user(arg2, &out)?;
            Ok(0)
        }
        pr::SET_CHILD_SUBREAPER => {
            crate::proc::reaper::set_subreaper(process, arg2 != 0);
            Ok(0)
        }
        pr::GET_CHILD_SUBREAPER => {
            let on = i32::from(process.is_reaper());
            space.copy_to_user(arg2, &on.to_le_bytes())?;
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// `tine_poweroff(status)`: ends the machine (QEMU's isa-debug-exit, as
/// the kernel shell's `poweroff`): status 0 is success (QEMU exits 33),
/// anything else failure (35). Root only (`EPERM`).
fn poweroff(process: &Process, status: u64) -> SysResult {
    if !process.creds().is_root() {
        return Err(Errno::EPERM);
    }
    log::info!(
        "{}[{}]: power off ({status})",
        process.name(),
        process.pid()
    );
    arch::cpu::exit_qemu(if status == 0 {
        arch::ExitCode::Success
    } else {
        arch::ExitCode::Failure
    })
}
