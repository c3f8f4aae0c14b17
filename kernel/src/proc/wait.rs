//! Waiting for children.
//!
//! - [`wait`] awaits one zombie child of the kernel on its event
//!   (`wait_until`, so no notification is lost), then reaps it: removes it
//!   from the table and frees its PID.
//! - [`wait_child`] is `wait4`'s kernel side: one child or any child of a
//!   parent, or those of a process group ([`WaitFor`]), optionally without
//!   blocking, reporting stopped and continued children
//!   ([`WaitOptions`]); reaped atomically under the table lock so two
//!   waiters never reap the same child. [`wait_child_info`] also gives
//!   the child's uid (`waitid`'s `si_uid`); `WEXITED` and `WNOWAIT`
//!   (leave the child waitable) are options too.
//! - [`wait_process`] is `pdwait`'s: one process, whoever its parent is,
//!   woken by its PID's exit event (`super::procdesc::exit_event`).
//!
//! See `docs/processes.md`.

use alloc::sync::Arc;

use crate::proc::pid::Pid;
use crate::proc::process::{Process, State};
use crate::proc::table::{KERNEL_CHILDREN, TABLE, lookup, reaped};
use abi::Errno;

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
    if super::table::unlist(&mut TABLE.lock(), pid).is_none() {
        return Err(Errno::ECHILD);
    }
    reaped(&process);
    Ok(status)
}

pub use crate::proc::index::WaitFor;

/// What a wait reports (`WEXITED`, `WUNTRACED`/`WSTOPPED`,
/// `WCONTINUED`), whether it blocks (`WNOHANG`) and whether it consumes
/// what it reports (`WNOWAIT` does not). The default is `wait4` without
/// flags: block until a child exits, and reap it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitOptions {
    /// Return `Ok(None)` instead of waiting.
    pub nohang: bool,
    /// Report children that stopped (status `sig << 8 | 0x7f`).
    pub untraced: bool,
    /// Report children that continued (status `0xffff`).
    pub continued: bool,
    /// Report children that exited (`wait4` always does; `waitid`
    /// only with `WEXITED`).
    pub exited: bool,
    /// Leave the child waitable: a zombie is not reaped, a stop or
    /// continue report is not taken (`WNOWAIT`).
    pub nowait: bool,
}

impl Default for WaitOptions {
    /// `wait4(pid, &status, 0)`: exits only, blocking, reaping. (A
    /// derived default would ask for nothing at all, `exited` false, and
    /// a wait for nothing never ends: see [`WaitOptions::asks_nothing`].)
    fn default() -> Self {
        Self::wait4(false, false, false)
    }
}

impl WaitOptions {
    /// Whether these options ask for no kind of report (no `WEXITED`,
    /// `WUNTRACED` or `WCONTINUED`): such a wait could never end, so
    /// [`wait_child`] and [`wait_process`] refuse it with `EINVAL`, as
    /// Linux's `waitid` does.
    pub const fn asks_nothing(self) -> bool {
        !self.exited && !self.untraced && !self.continued
    }

    /// What `wait4` uses: exits always, the rest as asked.
    pub const fn wait4(nohang: bool, untraced: bool, continued: bool) -> Self {
        Self {
            nohang,
            untraced,
            continued,
            exited: true,
            nowait: false,
        }
    }

    /// Whether `p` has something to report under these options.
    fn reportable(self, p: &Process) -> bool {
        (self.exited && p.reapable().is_some())
            || p.signals.has_report(self.untraced, self.continued)
    }

    /// Reports what `p` has for these options: its exit (reaped by
    /// the caller unless `nowait`) or its stop/continue report (taken
    /// unless `nowait`). The wait status, and whether it was an exit.
    fn report(self, p: &Process) -> Option<(i32, bool)> {
        if self.exited
            && let Some(status) = p.reapable()
        {
            return Some((status, true));
        }
        let report = if self.nowait {
            p.signals.peek_report(self.untraced, self.continued)
        } else {
            p.signals.take_report(self.untraced, self.continued)
        };
        report.map(|r| (r.wait_status(), false))
    }
}

/// What a look over the table found.
enum Scan {
    /// Reaped this child (of this real uid), or took its
    /// stop/continue report, with this status.
    Found(Pid, u32, i32),
    /// Matching children exist, none has anything to report; `true`
    /// when one has exited and is being reported to its parent right now
    /// ([`Process::exit_in_flight`]).
    Running(bool),
    /// No matching child.
    None,
}

/// Looks for a zombie child of `parent` matching `target` and reaps it
/// (under the table lock, so one waiter gets it), or for one with a
/// stop/continue report `options` asks for. Only the children marked
/// ready are looked at (`super::index`), each in O(log n); one found with
/// nothing to report any more is unmarked. (An exiting child is marked
/// ready before its parent is told: `Process::exit`.)
fn scan(parent: Pid, target: WaitFor, options: WaitOptions) -> Scan {
    let mut table = TABLE.lock();
    // A ready child is a matching child: whether there is one at all is
    // asked only when none is ready (one index lookup less per reaping).
    let mut after = None;
    let mut in_flight = false;
    while let Some(pid) = table.next_ready(parent, target, after) {
        after = Some(pid);
        let Some(p) = table.get(pid).cloned() else {
            break;
        };
        in_flight |= options.exited && p.exit_in_flight();
        if let Some((status, exited)) = options.report(&p) {
            let uid = p.creds().uid;
            if exited && !options.nowait {
                super::table::unlist(&mut table, pid);
                drop(table);
                reaped(&p);
            } else if !exited && !still_ready(&p) {
                table.set_ready(pid, false);
            }
            return Scan::Found(pid, uid, status);
        }
        if !still_ready(&p) {
            table.set_ready(pid, false);
        }
    }
    if !table.has_child(parent, target) {
        drop(table);
        // Reaping is over for this parent: what the heap still holds
        // below `maybe_trim`'s step goes back too, and the process
        // table's B-trees move out of the growth regions the heap took
        // meanwhile (`Index::compact`).
        arch::mm::heap::trim_settled(super::table::compact);
        return Scan::None;
    }
    Scan::Running(in_flight)
}

/// Whether `p` still has something to report to some wait: its exit
/// (told to its parent or being told) or a stop/continue report not yet
/// taken.
///
/// A zombie still in the table always has its exit to report, so this
/// asks only whether it is a zombie: one read of a state that never goes
/// back, set before `Process::exit` marks it ready. It once asked
/// `reapable() || exit_in_flight()`, two reads of `exit_notified`: when
/// `exit` set that flag between them (the parent's `wait4` scanning while
/// the child's exit was telling it), both said no, the ready mark was
/// cleared for good, and the parent slept forever beside an unreaped
/// zombie (`docs/processes.md`, "Ready marks").
fn still_ready(p: &Process) -> bool {
    matches!(p.state(), State::Zombie(_)) || p.signals.has_report(true, true)
}

/// Whether a wait for `target` by `parent` has something to look at: a
/// ready child with a report `options` asks for, or no matching child at
/// all.
fn wait_ready(parent: Pid, target: WaitFor, options: WaitOptions) -> bool {
    let table = TABLE.lock();
    if !table.has_child(parent, target) {
        return true;
    }
    let mut after = None;
    while let Some(pid) = table.next_ready(parent, target, after) {
        after = Some(pid);
        if table.get(pid).is_some_and(|p| options.reportable(p)) {
            return true;
        }
    }
    false
}

/// `wait4`'s kernel side: reaps a zombie child of `parent` matching
/// `target` (or takes a stop/continue report `options` asks for) and
/// returns its PID and wait status, waiting for one unless
/// `options.nohang` (then `Ok(None)` while they all run). `ECHILD`
/// when `parent` has no matching child; `EINVAL` when `options` ask for
/// no report ([`WaitOptions::asks_nothing`]). Not interruptible by
/// itself: the system call wraps it in `signal::interruptible`.
pub async fn wait_child(
    parent: Pid,
    target: WaitFor,
    options: WaitOptions,
) -> Result<Option<(Pid, i32)>, Errno> {
    let found = wait_child_info(parent, target, options).await?;
    Ok(found.map(|(pid, _, status)| (pid, status)))
}

/// [`wait_child`] when it need not wait: `Some` with what [`wait_child`]
/// would return (a child reaped or a report taken, `ECHILD`, `EINVAL`,
/// `WNOHANG`'s `None` while they run), `None` when it would wait: then
/// the caller awaits [`wait_child`], which looks again. `wait4`'s first
/// try, without a future (`syscall::dispatch`).
pub fn try_wait_child(
    parent: Pid,
    target: WaitFor,
    options: WaitOptions,
) -> Option<Result<Option<(Pid, i32)>, Errno>> {
    if options.asks_nothing() {
        return Some(Err(Errno::EINVAL));
    }
    // As in `wait_child_info` (a parent not in the table has no child
    // either: `scan` says `None`).
    match scan(parent, target, options) {
        Scan::Found(pid, _, status) => Some(Ok(Some((pid, status)))),
        Scan::None => Some(Err(Errno::ECHILD)),
        Scan::Running(false) if options.nohang => Some(Ok(None)),
        Scan::Running(_) => None,
    }
}

/// [`wait_child`] that also returns the child's real uid (`waitid`'s
/// `si_uid`).
pub async fn wait_child_info(
    parent: Pid,
    target: WaitFor,
    options: WaitOptions,
) -> Result<Option<(Pid, u32, i32)>, Errno> {
    if options.asks_nothing() {
        return Err(Errno::EINVAL);
    }
    let owner = if parent == Pid::KERNEL {
        None
    } else {
        Some(lookup(parent).ok_or(Errno::ECHILD)?)
    };
    let event = owner.as_ref().map_or(&KERNEL_CHILDREN, |p| &p.children);
    loop {
        match scan(parent, target, options) {
            Scan::Found(pid, uid, status) => return Ok(Some((pid, uid, status))),
            Scan::None => return Err(Errno::ECHILD),
            // A child between its zombie state and its parent's
            // notification is as good as reapable: its `SIGCHLD` may
            // already have run the caller's handler, which expects to
            // reap it (busybox ash: `waitpid(WNOHANG)` from its SIGCHLD
            // loop). Linux's waiters never see that moment (tasklist_lock
            // covers both); here `WNOHANG` waits it out (the exiting CPU
            // is inside `Process::exit`, which does not block).
            Scan::Running(false) if options.nohang => return Ok(None),
            Scan::Running(_) => {}
        }
        // Something to look at again: a matching zombie or report, or
        // the child gone (another waiter; a kernel caller of `wait`;
        // automatic reaping).
        event
            .wait_until(|| wait_ready(parent, target, options))
            .await;
    }
}

/// Runs `waiting` (a [`wait_child_info`] or [`wait_process`] for
/// `options`) for a system call of `process`: interruptible by a signal
/// (`EINTR`), except with `WNOHANG`, which never blocks (it only waits out
/// a child that is inside `Process::exit`, which does not block either)
/// and so never fails with `EINTR`, as on Linux.
pub async fn for_syscall<T>(
    process: &Process,
    options: WaitOptions,
    waiting: impl core::future::Future<Output = T>,
) -> Result<T, Errno> {
    if options.nohang {
        Ok(waiting.await)
    } else {
        crate::proc::signal::interruptible(process, waiting).await
    }
}

/// `pdwait`'s kernel side: waits, as [`wait_child`] does, for the one
/// process `p` (whoever its parent is: holding its descriptor is
/// enough), woken by its PID's exit event
/// (`super::procdesc::exit_event`), which exits, stops and continues
/// notify. Returns its PID, real uid and wait status; `Ok(None)` with
/// `nohang` while there is nothing to report; `ECHILD` once it has
/// been reaped by someone else.
pub async fn wait_process(
    p: &Arc<Process>,
    options: WaitOptions,
) -> Result<Option<(Pid, u32, i32)>, Errno> {
    if options.asks_nothing() {
        return Err(Errno::EINVAL);
    }
    let event = crate::proc::procdesc::exit_event(p.pid);
    let in_table = || TABLE.lock().get(p.pid).is_some_and(|q| Arc::ptr_eq(q, p));
    loop {
        if !in_table() {
            return Err(Errno::ECHILD);
        }
        // Read before the report: `exit_notified` only goes from false
        // to true, so "not in flight" here and "no exit" in the report
        // cannot both come from an exit that completed between them.
        let in_flight = options.exited && p.exit_in_flight();
        if let Some((status, exited)) = options.report(p) {
            if exited && !options.nowait {
                let removed = {
                    let mut table = TABLE.lock();
                    match table.get(p.pid) {
                        Some(q) if Arc::ptr_eq(q, p) => super::table::unlist(&mut table, p.pid),
                        _ => None,
                    }
                };
                match removed {
                    Some(_) => reaped(p),
                    None => return Err(Errno::ECHILD),
                }
            }
            return Ok(Some((p.pid, p.creds().uid, status)));
        }
        // As in `wait_child_info`: the moment between the zombie state
        // and the parent's notification is waited out.
        if options.nohang && !in_flight {
            return Ok(None);
        }
        event
            .wait_until(|| !in_table() || options.reportable(p))
            .await;
    }
}
