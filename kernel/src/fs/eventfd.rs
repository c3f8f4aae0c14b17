//! `eventfd`: a 64-bit counter behind a descriptor (Linux's `eventfd2`).
//!
//! A write of an 8-byte value adds it to the counter, waiting while the
//! sum would exceed [`EVENTFD_MAX`]; a read of 8 bytes takes the counter
//! and resets it to 0 (with `EFD_SEMAPHORE`: takes 1 and decrements),
//! waiting while it is 0. `O_NONBLOCK` turns a wait into `EAGAIN`. A
//! buffer shorter than 8 bytes is `EINVAL`, as is writing `u64::MAX`.
//! `poll` sees `POLLIN` while the counter is non-zero and `POLLOUT` while
//! 1 can be added. The counter rules ([`Counter`]) are pure and
//! host-tested; one [`Event`] is notified at every change and is both the
//! readers', the writers' and `poll`'s wake-up.

use crate::task::Event;
use abi::Errno;

/// The counter's largest value (Linux's `ULLONG_MAX - 1`).
pub const EVENTFD_MAX: u64 = u64::MAX - 1;
/// `EFD_SEMAPHORE`: a read takes 1.
pub const EFD_SEMAPHORE: u32 = 1;

/// The counter's rules (module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    value: u64,
    semaphore: bool,
}

impl Counter {
    pub const fn new(value: u64, semaphore: bool) -> Self {
        Self { value, semaphore }
    }

    pub fn value(&self) -> u64 {
        self.value
    }

    /// A read: `Some(value)` taken, `None` when it would wait.
    pub fn take(&mut self) -> Option<u64> {
        match self.value {
            0 => None,
            _ if self.semaphore => {
                self.value -= 1;
                Some(1)
            }
            v => {
                self.value = 0;
                Some(v)
            }
        }
    }

    /// A write of `add`: `Ok(true)` done, `Ok(false)` when it would wait,
    /// `EINVAL` for `u64::MAX`.
    pub fn add(&mut self, add: u64) -> Result<bool, Errno> {
        if add == u64::MAX {
            return Err(Errno::EINVAL);
        }
        if EVENTFD_MAX - self.value < add {
            return Ok(false);
        }
        self.value += add;
        Ok(true)
    }

    pub fn readable(&self) -> bool {
        self.value > 0
    }

    pub fn writable(&self) -> bool {
        self.value < EVENTFD_MAX
    }
}

/// An eventfd's shared state (module docs).
pub struct EventFd {
    counter: spin::Mutex<Counter>,
    /// Notified at every change of the counter.
    changed: Event,
}

impl EventFd {
    pub fn new(initval: u32, semaphore: bool) -> Self {
        Self {
            counter: spin::Mutex::new(Counter::new(u64::from(initval), semaphore)),
            changed: Event::new(),
        }
    }

    /// `read`: 8 bytes, native endianness.
    pub async fn read(&self, out: &mut [u8], nonblock: bool) -> Result<usize, Errno> {
        if out.len() < 8 {
            return Err(Errno::EINVAL);
        }
        loop {
            if let Some(v) = self.counter.lock().take() {
                self.changed.notify_all();
                out[..8].copy_from_slice(&v.to_ne_bytes());
                return Ok(8);
            }
            if nonblock {
                return Err(Errno::EAGAIN);
            }
            self.changed
                .wait_until(|| self.counter.lock().readable())
                .await;
        }
    }

    /// `write`: 8 bytes, native endianness.
    pub async fn write(&self, data: &[u8], nonblock: bool) -> Result<usize, Errno> {
        let Some(bytes) = data.get(..8) else {
            return Err(Errno::EINVAL);
        };
        let mut raw = [0u8; 8];
        raw.copy_from_slice(bytes);
        let add = u64::from_ne_bytes(raw);
        loop {
            if self.counter.lock().add(add)? {
                self.changed.notify_all();
                return Ok(8);
            }
            if nonblock {
                return Err(Errno::EAGAIN);
            }
            self.changed
                .wait_until(|| EVENTFD_MAX - self.counter.lock().value() >= add)
                .await;
        }
    }

    /// `poll` readiness.
    pub fn poll_mask(&self) -> u32 {
        use super::poll::*;
        let c = self.counter.lock();
        let mut mask = 0;
        if c.readable() {
            mask |= POLLIN | POLLRDNORM;
        }
        if c.writable() {
            mask |= POLLOUT | POLLWRNORM;
        }
        mask
    }

    /// The event `poll` waits on.
    pub fn poll_event(&self) -> &Event {
        &self.changed
    }

    /// The counter now (`/proc/PID/fdinfo` would show it; tests read it).
    pub fn value(&self) -> u64 {
        self.counter.lock().value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_takes_the_whole_counter_or_one_as_a_semaphore() {
        let mut c = Counter::new(5, false);
        assert_eq!(c.take(), Some(5));
        assert_eq!(c.take(), None, "0 waits");
        let mut s = Counter::new(2, true);
        assert_eq!(s.take(), Some(1));
        assert_eq!(s.take(), Some(1));
        assert_eq!(s.take(), None);
    }

    #[test]
    fn a_write_waits_rather_than_overflow_and_max_is_einval() {
        let mut c = Counter::new(0, false);
        assert_eq!(c.add(u64::MAX), Err(Errno::EINVAL));
        assert_eq!(c.add(EVENTFD_MAX), Ok(true));
        assert!(!c.writable());
        assert_eq!(c.add(1), Ok(false), "would exceed the maximum: waits");
        assert_eq!(c.add(0), Ok(true), "adding 0 never waits");
        assert_eq!(c.take(), Some(EVENTFD_MAX));
        assert_eq!(c.add(1), Ok(true));
        assert!(c.readable());
    }
}
