//! Readiness calls: `poll`, `ppoll`, `select`, `pselect6`, and `eventfd`/
//! `eventfd2` (the epoll calls are in `syscall/epoll.rs`).
//!
//! Each call reads its descriptors, computes every file's mask
//! (`OpenFile::poll_mask`, `fs::poll`), and when nothing is ready and the
//! timeout allows, awaits [`crate::task::wait_any`] on the files' event
//! sources (`OpenFile::poll_sources`), raced against the deadline
//! (`task::sleep_until`) and the caller's signals
//! (`proc::signal::interruptible`, `EINTR`); then it computes the masks
//! again. No loop polls a file: the thread's future sleeps until a pipe,
//! the tty, an eventfd or a process exit notifies.
//!
//! Argument errors, in Linux's order: `poll` with more descriptors than
//! `RLIMIT_NOFILE` `EINVAL`; `select` with a negative count `EINVAL` (a
//! count beyond the table is cut to it), a set naming a closed descriptor
//! `EBADF`; a negative or oversized timeout field `EINVAL`; a signal mask
//! of a size other than 8 `EINVAL`; any bad pointer `EFAULT`. `ppoll` and
//! `pselect6` install their mask for the wait; when a signal interrupts
//! it, the old mask comes back after the handler (as `rt_sigsuspend`'s
//! does), else at once. `select`, `pselect6` and `ppoll` write the time
//! left back (Linux does; a read-only timeout is not an error).

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use crate::fs::FileRef;
use crate::fs::fdtable::NOFILE_MAX;
use crate::fs::poll::{ALWAYS, POLLNVAL, SELECT_EX, SELECT_IN, SELECT_OUT};
use crate::proc::process::Process;
use crate::proc::signal::{self, SigSet};
use crate::proc::thread::Thread;
use crate::task::Event;
use crate::vm::space::AddressSpace;
use abi::nr;
use abi::{Errno, SysResult};

const NS_PER_SEC: u64 = 1_000_000_000;

/// `sizeof(sigset_t)` as the kernel takes it.
const SIGSET_SIZE: u64 = 8;

/// Whether system call `n` is one of this module's.
pub fn handles(n: u64) -> bool {
    matches!(
        n,
        nr::POLL | nr::PPOLL | nr::SELECT | nr::PSELECT6 | nr::EVENTFD | nr::EVENTFD2
    )
}

/// Runs readiness call `n` (module docs).
pub async fn call(
    process: &Arc<Process>,
    space: &AddressSpace,
    n: u64,
    [a0, a1, a2, a3, a4, a5]: [u64; 6],
) -> SysResult {
    match n {
        nr::POLL => {
            let timeout = match a2 as i32 {
                t if t < 0 => None,
                t => Some(crate::task::now_ns().saturating_add(t as u64 * 1_000_000)),
            };
            poll(process, space, a0, a1, timeout).await
        }
        nr::PPOLL => ppoll(process, space, [a0, a1, a2, a3, a4]).await,
        nr::SELECT => select(process, space, [a0, a1, a2, a3, a4], Timeout::Timeval).await,
        nr::PSELECT6 => pselect6(process, space, [a0, a1, a2, a3, a4, a5]).await,
        nr::EVENTFD => eventfd2(process, a0, 0),
        nr::EVENTFD2 => eventfd2(process, a0, a1),
        _ => Err(Errno::ENOSYS),
    }
}

/// Waits until `ready()` holds, the monotonic `deadline` passes (`None`:
/// never) or a signal comes (`EINTR`), queued on the event sources of
/// `files` (module docs). Returns at once when `ready()` already holds.
/// With `process` `None` (kernel tests) signals are not watched.
pub async fn await_ready(
    process: Option<&Process>,
    files: &[FileRef],
    extra: &[&Event],
    deadline: Option<u64>,
    ready: impl FnMut() -> bool,
) -> Result<(), Errno> {
    let files: Vec<(FileRef, bool)> = files.iter().map(|f| (f.clone(), false)).collect();
    await_ready_exclusive(process, &files, extra, deadline, ready).await
}

/// [`await_ready`] where each file says whether the waiter queues on its
/// event as an exclusive waiter (`epoll_wait` on `EPOLLEXCLUSIVE`
/// interests: `task::wait_any_exclusive`); a source shared by an
/// exclusive and a plain file is waited on plainly.
pub async fn await_ready_exclusive(
    process: Option<&Process>,
    files: &[(FileRef, bool)],
    extra: &[&Event],
    deadline: Option<u64>,
    ready: impl FnMut() -> bool,
) -> Result<(), Errno> {
    use futures_util::future::{Either, select};
    let mut sources: Vec<(&Event, bool)> = extra.iter().map(|e| (*e, false)).collect();
    for (f, exclusive) in files {
        let Some(e) = f.poll_sources() else { continue };
        match sources.iter_mut().find(|(s, _)| core::ptr::eq(*s, e)) {
            Some((_, x)) => *x &= *exclusive,
            None => sources.push((e, *exclusive)),
        }
    }
    let waiting = crate::task::wait_any_exclusive(&sources, ready);
    let bounded = async {
        match deadline {
            None => waiting.await,
            Some(t) => {
                let sleep = crate::task::sleep_until(t);
                futures_util::pin_mut!(sleep);
                match select(waiting, sleep).await {
                    Either::Left(_) | Either::Right(_) => {}
                }
            }
        }
    };
    match process {
        Some(p) => crate::proc::signal::interruptible(p, bounded).await,
        None => {
            bounded.await;
            Ok(())
        }
    }
}

/// `files` and, for every epoll instance among them, the files it
/// watches (nested ones too, to `fs::epoll::MAX_NESTS`): whose sources a
/// wait on `files` must queue on.
pub fn expand(files: &[FileRef]) -> Vec<FileRef> {
    let mut out: Vec<FileRef> = Vec::new();
    let mut todo: Vec<(FileRef, usize)> = files.iter().map(|f| (f.clone(), 0)).collect();
    while let Some((f, depth)) = todo.pop() {
        if out.iter().any(|o| Arc::ptr_eq(o, &f)) {
            continue;
        }
        if let Some(ep) = f.epoll()
            && depth < crate::fs::epoll::MAX_NESTS
        {
            todo.extend(ep.files().into_iter().map(|m| (m, depth + 1)));
        }
        out.push(f);
    }
    out
}

/// One `struct pollfd`'s file and the events asked for.
struct Watched {
    fd: i32,
    file: Option<FileRef>,
    events: u32,
}

impl Watched {
    /// `revents`: what holds of the events asked for, plus the ones always
    /// reported; `POLLNVAL` for a closed descriptor, 0 for a negative one.
    fn revents(&self) -> u32 {
        match &self.file {
            _ if self.fd < 0 => 0,
            None => POLLNVAL,
            Some(f) => f.poll_mask() & (self.events | ALWAYS),
        }
    }
}

/// `sizeof(struct pollfd)`.
const POLLFD_SIZE: usize = 8;

/// `poll(fds, nfds, timeout)` with a monotonic deadline (`None`: wait for
/// ever).
async fn poll(
    process: &Process,
    space: &AddressSpace,
    fds: u64,
    nfds: u64,
    deadline: Option<u64>,
) -> SysResult {
    if nfds > process.nofile() as u64 {
        return Err(Errno::EINVAL);
    }
    let mut raw = crate::fallible::zeroed(nfds as usize * POLLFD_SIZE)?;
    space.copy_from_user(fds, &mut raw)?;
    let table = process.files();
    let watched: Vec<Watched> = raw
        .chunks_exact(POLLFD_SIZE)
        .map(|c| {
            let fd = i32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            let events = u32::from(u16::from_le_bytes([c[4], c[5]]));
            let file = if fd < 0 {
                None
            } else {
                table.get(fd as u64).ok()
            };
            Watched { fd, file, events }
        })
        .collect();
    drop(table);
    let files: Vec<FileRef> = watched.iter().filter_map(|w| w.file.clone()).collect();
    let files = expand(&files);
    await_ready(Some(process), &files, &[], deadline, || {
        watched.iter().any(|w| w.revents() != 0)
    })
    .await?;
    let mut count = 0;
    for (w, c) in watched.iter().zip(raw.chunks_exact_mut(POLLFD_SIZE)) {
        let revents = w.revents();
        if revents != 0 {
            count += 1;
        }
        c[6..8].copy_from_slice(&(revents as u16).to_le_bytes());
    }
    space.copy_to_user(fds, &raw)?;
    Ok(count)
}

/// Reads a `struct timespec` timeout into a monotonic deadline; `EINVAL`
/// for a negative field or nanoseconds past a second.
pub(super) fn read_timespec(space: &AddressSpace, at: u64) -> Result<u64, Errno> {
    let mut b = [0u8; 16];
    space.copy_from_user(at, &mut b)?;
    let sec = i64::from_le_bytes(b[..8].try_into().unwrap_or_default());
    let nsec = i64::from_le_bytes(b[8..].try_into().unwrap_or_default());
    duration_ns(sec, nsec, NS_PER_SEC as i64, 1)
}

/// Reads `select`'s `struct timeval` timeout into a monotonic deadline:
/// microseconds past a second carry into the seconds (Linux), a negative
/// field is `EINVAL`.
fn read_timeval(space: &AddressSpace, at: u64) -> Result<u64, Errno> {
    let mut b = [0u8; 16];
    space.copy_from_user(at, &mut b)?;
    let sec = i64::from_le_bytes(b[..8].try_into().unwrap_or_default());
    let usec = i64::from_le_bytes(b[8..].try_into().unwrap_or_default());
    if usec < 0 {
        return Err(Errno::EINVAL);
    }
    let sec = sec.saturating_add(usec / 1_000_000);
    duration_ns(sec, usec % 1_000_000, 1_000_000, 1000)
}

/// `sec` seconds and `frac` fractions (`per_sec` to the second, each
/// `unit_ns` long) from now, as a monotonic deadline.
fn duration_ns(sec: i64, frac: i64, per_sec: i64, unit_ns: u64) -> Result<u64, Errno> {
    if sec < 0 || !(0..per_sec).contains(&frac) {
        return Err(Errno::EINVAL);
    }
    let ns = (sec as u64)
        .saturating_mul(NS_PER_SEC)
        .saturating_add(frac as u64 * unit_ns);
    Ok(crate::task::now_ns().saturating_add(ns))
}

/// Writes the time left before `deadline` at `at`, as a `timespec`
/// (`per_sec` 10^9) or a `timeval` (10^6). A fault is ignored (Linux: a
/// read-only timeout must not turn a finished call into `EFAULT`).
fn write_time_left(space: &AddressSpace, at: u64, deadline: u64, per_sec: u64) {
    let left = deadline.saturating_sub(crate::task::now_ns());
    let unit = NS_PER_SEC / per_sec;
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&(left / NS_PER_SEC).to_le_bytes());
    b[8..].copy_from_slice(&((left % NS_PER_SEC) / unit).to_le_bytes());
    let _ = space.copy_to_user(at, &b);
}

/// A signal mask installed for the length of a `ppoll`/`pselect6` wait.
pub(super) struct TemporaryMask {
    /// The calling thread (masks are per thread) and its old mask.
    old: Option<(Arc<Thread>, SigSet)>,
}

impl TemporaryMask {
    /// Reads the mask at `set` (`size` must be 8) and installs it as the
    /// calling thread's; NULL installs nothing.
    pub(super) fn install(
        _process: &Process,
        space: &AddressSpace,
        set: u64,
        size: u64,
    ) -> Result<Self, Errno> {
        if set == 0 {
            return Ok(Self { old: None });
        }
        if size != SIGSET_SIZE {
            return Err(Errno::EINVAL);
        }
        let mut b = [0u8; 8];
        space.copy_from_user(set, &mut b)?;
        // A system call always runs in a thread's future.
        let Some(thread) = crate::proc::thread::current() else {
            return Err(Errno::ESRCH);
        };
        let old = thread.signals().blocked();
        signal::set_thread_mask(&thread, SigSet(u64::from_le_bytes(b)));
        Ok(Self {
            old: Some((thread, old)),
        })
    }

    /// Ends the wait with `result`: after `EINTR` the old mask comes back
    /// once the signal's handler is set up (the frame keeps it), else now.
    pub(super) fn restore(self, _process: &Process, result: &SysResult) {
        let Some((thread, old)) = self.old else {
            return;
        };
        if *result == Err(Errno::EINTR) {
            thread.signals().with_queue(|q| q.set_saved_mask(old));
        } else {
            signal::set_thread_mask(&thread, old);
        }
    }
}

/// `ppoll(fds, nfds, tmo_p, sigmask, sigsetsize)`.
async fn ppoll(
    process: &Process,
    space: &AddressSpace,
    [fds, nfds, tmo, set, size]: [u64; 5],
) -> SysResult {
    let deadline = if tmo == 0 {
        None
    } else {
        Some(read_timespec(space, tmo)?)
    };
    let mask = TemporaryMask::install(process, space, set, size)?;
    let result = poll(process, space, fds, nfds, deadline).await;
    mask.restore(process, &result);
    if let Some(d) = deadline {
        write_time_left(space, tmo, d, NS_PER_SEC);
    }
    result
}

/// How `select`'s fifth argument is read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Timeout {
    /// `select`: a `struct timeval`.
    Timeval,
    /// `pselect6`: a `struct timespec`.
    Timespec,
}

/// `pselect6(nfds, readfds, writefds, exceptfds, timeout, sigmask)`; the
/// sixth argument points at `{ const sigset_t *ss; size_t ss_len; }`.
async fn pselect6(process: &Process, space: &AddressSpace, a: [u64; 6]) -> SysResult {
    let [nfds, r, w, e, tmo, sig] = a;
    let (set, size) = if sig == 0 {
        (0, 0)
    } else {
        let mut b = [0u8; 16];
        space.copy_from_user(sig, &mut b)?;
        (
            u64::from_le_bytes(b[..8].try_into().unwrap_or_default()),
            u64::from_le_bytes(b[8..].try_into().unwrap_or_default()),
        )
    };
    // The timeout is checked before the mask (Linux's order).
    if tmo != 0 {
        read_timespec(space, tmo)?;
    }
    let mask = TemporaryMask::install(process, space, set, size)?;
    let result = select(process, space, [nfds, r, w, e, tmo], Timeout::Timespec).await;
    mask.restore(process, &result);
    result
}

/// One of `select`'s descriptor sets: `nfds` bits in whole 64-bit words.
fn read_set(space: &AddressSpace, at: u64, words: usize) -> Result<Vec<u64>, Errno> {
    if at == 0 {
        let mut none = crate::fallible::with_capacity(words)?;
        none.resize(words, 0);
        return Ok(none);
    }
    let mut b = crate::fallible::zeroed(words * 8)?;
    space.copy_from_user(at, &mut b)?;
    Ok(b.chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect())
}

/// `select(nfds, readfds, writefds, exceptfds, timeout)` (module docs).
async fn select(process: &Process, space: &AddressSpace, a: [u64; 5], kind: Timeout) -> SysResult {
    let [nfds, r, w, e, tmo] = a;
    let nfds = i32::try_from(nfds as i64).map_err(|_| Errno::EINVAL)?;
    if nfds < 0 {
        return Err(Errno::EINVAL);
    }
    let nfds = (nfds as usize).min(NOFILE_MAX);
    let deadline = match (tmo, kind) {
        (0, _) => None,
        (t, Timeout::Timeval) => Some(read_timeval(space, t)?),
        (t, Timeout::Timespec) => Some(read_timespec(space, t)?),
    };
    let words = nfds.div_ceil(64);
    let sets = [
        read_set(space, r, words)?,
        read_set(space, w, words)?,
        read_set(space, e, words)?,
    ];
    let table = process.files();
    let mut watched: Vec<(usize, FileRef)> = Vec::new();
    for fd in 0..nfds {
        let bit = 1u64 << (fd % 64);
        if sets.iter().any(|s| s[fd / 64] & bit != 0) {
            watched.push((fd, table.get(fd as u64)?));
        }
    }
    drop(table);
    let result_sets = || {
        let mut out = [vec![0u64; words], vec![0u64; words], vec![0u64; words]];
        let mut count = 0u64;
        for (fd, file) in &watched {
            let mask = file.poll_mask();
            let bit = 1u64 << (fd % 64);
            for (i, want) in [SELECT_IN, SELECT_OUT, SELECT_EX].into_iter().enumerate() {
                if sets[i][fd / 64] & bit != 0 && mask & want != 0 {
                    out[i][fd / 64] |= bit;
                    count += 1;
                }
            }
        }
        (out, count)
    };
    let files: Vec<FileRef> = watched.iter().map(|(_, f)| f.clone()).collect();
    let files = expand(&files);
    await_ready(Some(process), &files, &[], deadline, || {
        result_sets().1 != 0
    })
    .await?;
    let (out, count) = result_sets();
    for (at, set) in [r, w, e].into_iter().zip(&out) {
        if at != 0 {
            let bytes: Vec<u8> = set.iter().flat_map(|v| v.to_le_bytes()).collect();
            space.copy_to_user(at, &bytes)?;
        }
    }
    if let Some(d) = deadline {
        let per_sec = match kind {
            Timeout::Timeval => 1_000_000,
            Timeout::Timespec => NS_PER_SEC,
        };
        write_time_left(space, tmo, d, per_sec);
    }
    Ok(count)
}

/// `eventfd2(initval, flags)`: `EFD_SEMAPHORE` (1), `EFD_NONBLOCK`
/// (`O_NONBLOCK`), `EFD_CLOEXEC` (`O_CLOEXEC`); other flags `EINVAL`;
/// `EMFILE` with a full table. `eventfd(initval)` is flags 0.
fn eventfd2(process: &Process, initval: u64, flags: u64) -> SysResult {
    use crate::fs::eventfd::{EFD_SEMAPHORE, EventFd};
    use crate::fs::file::FileKind;
    use crate::fs::file::oflags::{O_CLOEXEC, O_NONBLOCK, O_RDWR};
    let flags = u32::try_from(flags).map_err(|_| Errno::EINVAL)?;
    if flags & !(EFD_SEMAPHORE | O_NONBLOCK | O_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let file = crate::fs::OpenFile::new(
        FileKind::EventFd(EventFd::new(initval as u32, flags & EFD_SEMAPHORE != 0)),
        alloc::string::String::from("anon_inode:[eventfd]"),
        O_RDWR | (flags & O_NONBLOCK),
    );
    let fd_flags = if flags & O_CLOEXEC != 0 {
        crate::fs::FdFlags::CLOEXEC
    } else {
        crate::fs::FdFlags::NONE
    };
    process
        .files()
        .insert(file, fd_flags, process.nofile())
        .map(u64::from)
}
