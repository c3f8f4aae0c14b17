//! epoll instances: an interest list over other open files (Linux's
//! `epoll_create1`/`epoll_ctl`/`epoll_wait`).
//!
//! An [`Epoll`] keeps one [`Interest`] per registered (descriptor, open
//! file) pair: the events asked for, the user's 64-bit `data`, and the
//! mode bits (`EPOLLET`, `EPOLLONESHOT`). It holds the file weakly, as
//! Linux's epoll does not keep a file open: once the last descriptor of
//! the file is closed, its interest disappears.
//!
//! Readiness is computed, never cached: [`Epoll::collect`] asks each
//! file's `poll_mask` and reports what holds of the events asked for plus
//! `EPOLLERR`/`EPOLLHUP`. Level-triggered interests report while the
//! condition holds; an `EPOLLONESHOT` one is disabled after one report
//! until `EPOLL_CTL_MOD` re-arms it; an `EPOLLET` one reports when its
//! mask gains a bit or its file's event source has been notified since the
//! last report (each `Event` counts its broadcasts: a pipe that receives
//! more bytes while already readable reports again, as on Linux).
//!
//! Waiting (`syscall/epoll.rs`) is the same await as `poll`'s, on the
//! sources of the registered files plus [`Epoll::changed`], which
//! `epoll_ctl` notifies so that a waiter sees files added while it sleeps.
//! An `EPOLLEXCLUSIVE` interest makes the waiter queue on its file's
//! event as an exclusive waiter (`task::wait_any_exclusive`): a
//! notification wakes every other waiter of the file but only one
//! exclusive one, so of several processes each blocked in `epoll_wait`
//! on its own instance over one file, one is woken per event (Linux's
//! thundering-herd cure). Unlike Linux, readiness is still computed at
//! each wait: an instance that was not woken still reports the file
//! ready if it looks (a timeout, another file's event), where Linux's
//! would have nothing on its ready list.
//!
//! An epoll file is itself pollable: `POLLIN` while an interest is ready;
//! adding an epoll instance to itself or in a cycle is `ELOOP`, nesting
//! deeper than [`MAX_NESTS`] too.

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use super::poll::{POLLERR, POLLHUP, POLLIN, POLLRDNORM};
use super::{FileRef, OpenFile};
use crate::task::Event;
use abi::Errno;

/// `EPOLLEXCLUSIVE`: of the waiters of several epoll instances watching
/// one file exclusively, an event of the file wakes one (module docs).
pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
/// The bits `EPOLLEXCLUSIVE` may come with (Linux's
/// `EPOLLEXCLUSIVE_OK_BITS`: `EPOLLIN`, `EPOLLOUT`, `EPOLLERR`,
/// `EPOLLHUP`, `EPOLLWAKEUP`, `EPOLLET`).
const EXCLUSIVE_OK: u32 = 0x1 | 0x4 | 0x8 | 0x10 | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE;
/// `EPOLLWAKEUP`: hold a wake lock (accepted, no effect).
pub const EPOLLWAKEUP: u32 = 1 << 29;
/// `EPOLLONESHOT`: report once, then stay disabled until re-armed.
pub const EPOLLONESHOT: u32 = 1 << 30;
/// `EPOLLET`: edge-triggered.
pub const EPOLLET: u32 = 1 << 31;
/// `epoll_ctl` operations.
pub const EPOLL_CTL_ADD: u32 = 1;
pub const EPOLL_CTL_DEL: u32 = 2;
pub const EPOLL_CTL_MOD: u32 = 3;
/// How deep epoll instances may nest (Linux's `EP_MAX_NESTS`).
pub const MAX_NESTS: usize = 4;
/// `sizeof(struct epoll_event)` on x86-64 (packed: `u32` events, `u64`
/// data).
pub const EPOLL_EVENT_SIZE: usize = 12;

/// Epoll watches (interests) registered now, machine-wide.
static WATCHES: AtomicUsize = AtomicUsize::new(0);

/// Linux's `max_user_watches`: 4% of RAM at 128 bytes a watch (on the
/// whole machine here, not per user), so epoll interest lists cannot
/// exhaust the kernel heap.
fn max_watches() -> usize {
    #[cfg(target_os = "none")]
    {
        arch::mm::frame::stats().1 * 4096 / 25 / 128
    }
    #[cfg(not(target_os = "none"))]
    {
        1 << 20
    }
}

/// One counted watch: taken by `EPOLL_CTL_ADD`, given back when its
/// interest is dropped (`EPOLL_CTL_DEL`, its file closed, the epoll gone).
struct Watch;

impl Watch {
    /// `ENOSPC` past [`max_watches`] (Linux's answer).
    fn take() -> Result<Watch, Errno> {
        let max = max_watches();
        WATCHES
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .map(|_| Watch)
            .map_err(|_| Errno::ENOSPC)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        WATCHES.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One registered file (module docs).
struct Interest {
    /// Its place in the machine's count.
    _watch: Watch,
    fd: i32,
    file: Weak<OpenFile>,
    events: u32,
    data: u64,
    /// `EPOLLONESHOT` reported: disabled until `EPOLL_CTL_MOD`.
    disarmed: bool,
    /// `EPOLLET`: the mask and the source's broadcast count at the last
    /// report.
    last_mask: u32,
    last_generation: u64,
}

impl Interest {
    fn same(&self, fd: i32, file: &FileRef) -> bool {
        self.fd == fd && core::ptr::eq(self.file.as_ptr(), Arc::as_ptr(file))
    }
}

/// An epoll instance (module docs).
#[derive(Default)]
pub struct Epoll {
    interests: spin::Mutex<Vec<Interest>>,
    /// Notified by every `epoll_ctl` change.
    changed: Event,
}

/// One reported event: `(events, data)`.
pub type Ready = (u32, u64);

impl Epoll {
    pub fn new() -> Self {
        Self::default()
    }

    /// `epoll_ctl(op, fd, event)` with `file` open at `fd` (checked by the
    /// caller, as are `EBADF` and `fd == epfd`): `EEXIST` adding twice,
    /// `ENOENT` changing or deleting what is not there, `EPERM` a file
    /// that cannot be polled (regular files, directories, `/dev/null`:
    /// always ready), `ELOOP` an epoll cycle or nesting past
    /// [`MAX_NESTS`], `EINVAL` an unknown `op` or, as Linux,
    /// `EPOLLEXCLUSIVE` with `EPOLL_CTL_MOD`, on an epoll file or with
    /// bits besides [`EXCLUSIVE_OK`], and `EPOLL_CTL_MOD` of an exclusive
    /// interest. `self_file` is the epoll's own open file.
    pub fn ctl(
        &self,
        self_file: &FileRef,
        op: u32,
        fd: i32,
        file: &FileRef,
        events: u32,
        data: u64,
    ) -> Result<(), Errno> {
        if op == EPOLL_CTL_ADD || op == EPOLL_CTL_MOD {
            if file.poll_sources().is_none() && file.epoll().is_none() {
                return Err(Errno::EPERM);
            }
            if events & EPOLLEXCLUSIVE != 0
                && (op == EPOLL_CTL_MOD || file.epoll().is_some() || events & !EXCLUSIVE_OK != 0)
            {
                return Err(Errno::EINVAL);
            }
            if let Some(inner) = file.epoll()
                && (inner.reaches(self_file, 0)? || inner.depth(0)? + 1 > MAX_NESTS)
            {
                return Err(Errno::ELOOP);
            }
        }
        let mut list = self.interests.lock();
        list.retain(|i| i.file.strong_count() > 0);
        let at = list.iter().position(|i| i.same(fd, file));
        match (op, at) {
            (EPOLL_CTL_ADD, Some(_)) => return Err(Errno::EEXIST),
            (EPOLL_CTL_ADD, None) => crate::fallible::push(
                &mut list,
                Interest {
                    _watch: Watch::take()?,
                    fd,
                    file: Arc::downgrade(file),
                    events,
                    data,
                    disarmed: false,
                    last_mask: 0,
                    last_generation: generation(file),
                },
            )?,
            (EPOLL_CTL_MOD, Some(i)) if list[i].events & EPOLLEXCLUSIVE != 0 => {
                return Err(Errno::EINVAL);
            }
            (EPOLL_CTL_MOD, Some(i)) => {
                let it = &mut list[i];
                it.events = events;
                it.data = data;
                it.disarmed = false;
                it.last_mask = 0;
            }
            (EPOLL_CTL_DEL, Some(i)) => {
                list.remove(i);
            }
            (EPOLL_CTL_MOD | EPOLL_CTL_DEL, None) => return Err(Errno::ENOENT),
            _ => return Err(Errno::EINVAL),
        }
        drop(list);
        self.changed.notify_all();
        Ok(())
    }

    /// Whether `target` (an epoll's open file) is this instance or is
    /// reachable through its interests (`ELOOP` past the nesting limit).
    fn reaches(&self, target: &FileRef, depth: usize) -> Result<bool, Errno> {
        if depth > MAX_NESTS {
            return Err(Errno::ELOOP);
        }
        for f in self.files() {
            if Arc::ptr_eq(&f, target) {
                return Ok(true);
            }
            if let Some(inner) = f.epoll()
                && inner.reaches(target, depth + 1)?
            {
                return Ok(true);
            }
        }
        Ok(target.epoll().is_some_and(|e| core::ptr::eq(e, self)))
    }

    /// How many epoll levels hang below this one.
    fn depth(&self, depth: usize) -> Result<usize, Errno> {
        if depth > MAX_NESTS {
            return Err(Errno::ELOOP);
        }
        let mut deepest = 0;
        for f in self.files() {
            if let Some(inner) = f.epoll() {
                deepest = deepest.max(inner.depth(depth + 1)? + 1);
            }
        }
        Ok(deepest)
    }

    /// The registered files that are still open, each with whether an
    /// interest in it is `EPOLLEXCLUSIVE` (only if all of its interests
    /// here are).
    pub fn files_exclusive(&self) -> Vec<(FileRef, bool)> {
        let mut out: Vec<(FileRef, bool)> = Vec::new();
        for i in self.interests.lock().iter() {
            let Some(file) = i.file.upgrade() else {
                continue;
            };
            let exclusive = i.events & EPOLLEXCLUSIVE != 0;
            match out.iter_mut().find(|(f, _)| Arc::ptr_eq(f, &file)) {
                Some((_, x)) => *x &= exclusive,
                None => out.push((file, exclusive)),
            }
        }
        out
    }

    /// The registered files that are still open.
    pub fn files(&self) -> Vec<FileRef> {
        self.interests
            .lock()
            .iter()
            .filter_map(|i| i.file.upgrade())
            .collect()
    }

    /// The event `epoll_ctl` notifies.
    pub fn changed(&self) -> &Event {
        &self.changed
    }

    /// Up to `max` ready events (module docs), consuming `EPOLLONESHOT`
    /// and `EPOLLET` reports when `consume`.
    pub fn collect(&self, max: usize, consume: bool) -> Vec<Ready> {
        // The files are polled without the interest lock held (a nested
        // epoll's mask takes its own); the list is then updated by
        // identity.
        let snapshot: Vec<(i32, Weak<OpenFile>)> = self
            .interests
            .lock()
            .iter()
            .filter(|i| !i.disarmed)
            .map(|i| (i.fd, i.file.clone()))
            .collect();
        let mut out = Vec::new();
        for (fd, weak) in snapshot {
            if out.len() >= max {
                break;
            }
            let Some(file) = weak.upgrade() else { continue };
            let mask = file.poll_mask();
            let generation_now = generation(&file);
            let mut list = self.interests.lock();
            let Some(it) = list.iter_mut().find(|i| i.same(fd, &file)) else {
                continue;
            };
            let got = mask & (it.events | POLLERR | POLLHUP);
            if got == 0 || it.disarmed {
                if consume && it.events & EPOLLET != 0 {
                    it.last_mask = got;
                }
                continue;
            }
            if it.events & EPOLLET != 0
                && got & !it.last_mask == 0
                && generation_now == it.last_generation
            {
                continue;
            }
            out.push((got, it.data));
            if consume {
                it.last_mask = got;
                it.last_generation = generation_now;
                if it.events & EPOLLONESHOT != 0 {
                    it.disarmed = true;
                }
            }
        }
        out
    }

    /// `poll` readiness of the epoll file itself: `POLLIN` while an
    /// interest is ready.
    pub fn poll_mask(&self) -> u32 {
        if self.collect(1, false).is_empty() {
            0
        } else {
            POLLIN | POLLRDNORM
        }
    }
}

/// How many times `file`'s event source has broadcast (0 without one).
fn generation(file: &OpenFile) -> u64 {
    file.poll_sources().map_or(0, Event::broadcasts)
}
