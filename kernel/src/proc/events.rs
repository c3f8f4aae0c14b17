//! Process-lifecycle events and fork hooks.
//!
//! Two mechanisms, as the BSDs have them:
//!
//! - **Fork hooks** (FreeBSD's `EVENTHANDLER(process_fork)`, NetBSD's
//!   `doforkhooks`): a subsystem registers a function with
//!   [`register_fork_hook`]; `fork1` calls every hook with the parent's and
//!   the child's PIDs and the request after the commit point, before the
//!   child runs. Hooks run in registration order and cannot fail (the fork
//!   is committed).
//! - **The event stream** (the `NOTE_FORK` / `PTRACE_FORK`,
//!   `PTRACE_VFORK`, `PTRACE_VFORK_DONE`, `NOTE_EXEC`, `NOTE_EXIT`
//!   analogue): every fork, vfork, vfork-done, exec and exit is published
//!   as a fixed 24-byte [`ForkEvent`] into one ring of the last
//!   [`RING_EVENTS`] events. Readers (the `forkevents` Tine system call,
//!   the shell's `trace`) each keep a sequence-number cursor; a reader that
//!   falls more than a ring behind skips what was overwritten (it is a
//!   trace, not an audit log) and is told how many it lost.
//!
//! The ring ([`Ring`]) is pure logic, host-tested; the global one sits
//! under a spin lock held for one push or one copy-out, and an
//! [`Event`](crate::task::Event) wakes blocked readers.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

pub use abi::record::{EventKind, ForkEvent};

/// Size of one event in user memory.
pub const EVENT_BYTES: usize = abi::record::ForkEvent::SIZE;

/// Events the ring keeps.
pub const RING_EVENTS: usize = 256;

/// The last `capacity` events, numbered from 0 in publication order.
#[derive(Debug)]
pub struct Ring {
    events: VecDeque<ForkEvent>,
    capacity: usize,
    /// The sequence number of the next event published.
    next_seq: u64,
}

impl Ring {
    /// An empty ring keeping `capacity` events (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            events: VecDeque::new(),
            capacity: capacity.max(1),
            next_seq: 0,
        }
    }

    /// Appends `event`, dropping the oldest when full.
    pub fn push(&mut self, event: ForkEvent) {
        if self.events.len() == self.capacity {
            self.events.pop_front();
        }
        self.events.push_back(event);
        self.next_seq += 1;
    }

    /// The sequence number the next event will have: a new reader starts
    /// here, so it sees only what happens after it started.
    pub fn head(&self) -> u64 {
        self.next_seq
    }

    /// The sequence number of the oldest event kept.
    fn oldest(&self) -> u64 {
        self.next_seq - self.events.len() as u64
    }

    /// Up to `max` events from `cursor` on. Returns them, the new cursor,
    /// and how many events were lost because the cursor was older than the
    /// ring.
    pub fn read_from(&self, cursor: u64, max: usize) -> (Vec<ForkEvent>, u64, u64) {
        let start = cursor.max(self.oldest()).min(self.next_seq);
        let lost = start - cursor.min(start);
        let skip = (start - self.oldest()) as usize;
        let out: Vec<ForkEvent> = self.events.iter().skip(skip).take(max).copied().collect();
        let cursor = start + out.len() as u64;
        (out, cursor, lost)
    }
}

#[cfg(target_os = "none")]
pub use imp::*;

#[cfg(target_os = "none")]
mod imp {
    use alloc::vec::Vec;

    // `spin`'s, not `conquer_once`'s: conquer_once 0.4.0's `Lazy` panics
    // (`unreachable!` converting `AlreadyInit`) when another CPU finishes
    // the initialization between its two looks.
    use spin::Lazy;

    use super::{EventKind, ForkEvent, RING_EVENTS, Ring};
    use crate::proc::fork_flags::ForkRequest;
    use crate::proc::pid::Pid;
    use crate::task::Event;

    /// A fork hook: parent PID, child PID, the request. The child is in the
    /// process table and has not run yet.
    pub type ForkHook = fn(parent: Pid, child: Pid, req: &ForkRequest);

    static HOOKS: spin::RwLock<Vec<(&'static str, ForkHook)>> = spin::RwLock::new(Vec::new());

    /// The ring and how many readers wait in [`wait_past`], under one lock:
    /// a publication reads the count with its push, so with no reader
    /// waiting (nearly always: every fork, exec and exit publishes) it
    /// notifies nobody and leaves [`PUBLISHED`]'s lock alone.
    struct Stream {
        ring: Ring,
        waiting: usize,
    }

    static RING: Lazy<spin::Mutex<Stream>> = Lazy::new(|| {
        spin::Mutex::new(Stream {
            ring: Ring::new(RING_EVENTS),
            waiting: 0,
        })
    });

    /// Notified after a publication when a reader waits.
    static PUBLISHED: Event = Event::new();

    /// A reader counted in [`Stream::waiting`] while it lives (a wait a
    /// signal cancels is uncounted too).
    struct Waiting;

    impl Waiting {
        fn new() -> Self {
            RING.lock().waiting += 1;
            Self
        }
    }

    impl Drop for Waiting {
        fn drop(&mut self) {
            RING.lock().waiting -= 1;
        }
    }

    /// Registers `hook` under `name` (for the log); it runs on every fork
    /// from now on.
    pub fn register_fork_hook(name: &'static str, hook: ForkHook) {
        HOOKS.write().push((name, hook));
        log::debug!("fork hook '{name}' registered");
    }

    /// Removes the hooks registered under `name` (tests).
    pub fn unregister_fork_hook(name: &'static str) {
        HOOKS.write().retain(|(n, _)| *n != name);
    }

    /// Runs every fork hook (`fork1`, after the commit point).
    pub fn run_fork_hooks(parent: Pid, child: Pid, req: &ForkRequest) {
        // Copy the list out (a hook may register or remove hooks), but
        // allocate nothing on the fork path when there are none.
        let hooks: Vec<ForkHook> = {
            let registered = HOOKS.read();
            if registered.is_empty() {
                return;
            }
            registered.iter().map(|(_, h)| *h).collect()
        };
        for hook in hooks {
            hook(parent, child, req);
        }
    }

    /// Publishes an event of `kind` now.
    pub fn publish(kind: EventKind, flags: u32, pid: Pid, other: u32) {
        let event = ForkEvent {
            kind,
            flags,
            pid: pid.as_u32(),
            other,
            time_ns: crate::task::now_ns(),
        };
        // A reader counted before this push checks the ring after its
        // registration on `PUBLISHED`: it sees this event, or is queued
        // for the notification below. One counted after it finds the
        // event already in the ring.
        let waiting = {
            let mut stream = RING.lock();
            stream.ring.push(event);
            stream.waiting > 0
        };
        if waiting {
            PUBLISHED.notify_all();
        }
    }

    /// Where a new reader starts (only later events).
    pub fn head() -> u64 {
        RING.lock().ring.head()
    }

    /// Up to `max` events from `cursor`, without waiting: the events, the
    /// new cursor, how many were lost.
    pub fn read_now(cursor: u64, max: usize) -> (Vec<ForkEvent>, u64, u64) {
        RING.lock().ring.read_from(cursor, max)
    }

    /// Waits until an event at or after `cursor` exists.
    pub async fn wait_past(cursor: u64) {
        let _counted = Waiting::new();
        PUBLISHED
            .wait_until(|| RING.lock().ring.head() > cursor)
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(pid: u32) -> ForkEvent {
        ForkEvent {
            kind: EventKind::Fork,
            flags: 0x30,
            pid,
            other: pid + 1,
            time_ns: u64::from(pid) * 10,
        }
    }

    #[test]
    fn a_reader_sees_events_in_order_from_its_cursor() {
        let mut ring = Ring::new(4);
        let start = ring.head();
        ring.push(ev(1));
        ring.push(ev(2));
        let (got, cursor, lost) = ring.read_from(start, 10);
        assert_eq!(got, [ev(1), ev(2)]);
        assert_eq!((cursor, lost), (2, 0));
        let (got, cursor2, _) = ring.read_from(cursor, 10);
        assert!(got.is_empty());
        assert_eq!(cursor2, cursor);
        ring.push(ev(3));
        let (got, _, _) = ring.read_from(cursor, 1);
        assert_eq!(got, [ev(3)]);
    }

    #[test]
    fn a_slow_reader_skips_what_was_overwritten_and_is_told() {
        let mut ring = Ring::new(3);
        for pid in 1..=5 {
            ring.push(ev(pid));
        }
        let (got, cursor, lost) = ring.read_from(0, 10);
        assert_eq!(got, [ev(3), ev(4), ev(5)]);
        assert_eq!((cursor, lost), (5, 2));
    }

    #[test]
    fn max_limits_a_read_and_the_cursor_follows() {
        let mut ring = Ring::new(8);
        for pid in 1..=5 {
            ring.push(ev(pid));
        }
        let (got, cursor, _) = ring.read_from(0, 2);
        assert_eq!(got, [ev(1), ev(2)]);
        let (got, cursor, _) = ring.read_from(cursor, 2);
        assert_eq!(got, [ev(3), ev(4)]);
        assert_eq!(cursor, 4);
    }

    #[test]
    fn a_cursor_from_the_future_reads_nothing() {
        let mut ring = Ring::new(2);
        ring.push(ev(1));
        let (got, cursor, lost) = ring.read_from(99, 4);
        assert!(got.is_empty());
        assert_eq!((cursor, lost), (1, 0));
    }

    #[test]
    fn the_user_layout_is_little_endian_24_bytes() {
        let b = ev(7).to_bytes();
        assert_eq!(&b[0..4], &1u32.to_le_bytes());
        assert_eq!(&b[4..8], &0x30u32.to_le_bytes());
        assert_eq!(&b[8..12], &7u32.to_le_bytes());
        assert_eq!(&b[12..16], &8u32.to_le_bytes());
        assert_eq!(&b[16..24], &70u64.to_le_bytes());
    }
}
