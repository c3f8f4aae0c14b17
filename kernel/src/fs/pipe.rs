//! Pipes: a bounded byte ring shared by a read end and a write end.
//!
//! - [`Ring`] is the pure part (host-tested): a circular buffer of
//!   [`PIPE_CAPACITY`] bytes with the POSIX write rule: a write of at most
//!   [`PIPE_BUF`] bytes goes in whole or not at all (so writes from several
//!   writers never interleave), a longer one takes whatever room there is.
//! - [`Pipe`] is the shared object: the ring, the number of open read and
//!   write ends, and two [`Event`]s. A reader waits on `readable` until the
//!   ring holds bytes or no writer is left (then it reads 0: end of file);
//!   a writer waits on `writable` until there is room or no reader is left
//!   (then the write fails with `EPIPE`). Waits use [`Event::wait_until`],
//!   whose condition is checked after the waiter is queued, so no wake-up
//!   is lost between the check and the sleep. `O_NONBLOCK` turns a wait
//!   into `EAGAIN`.
//! - [`PipeEnd`] counts one open end: made by [`pipe`], it decrements its
//!   count when dropped (the last close of that end's open file) and wakes
//!   the other side.
//!
//! - A named pipe (FIFO, `mknod(S_IFIFO)` in the tmpfs) is a [`Pipe`]
//!   made by [`fifo`] with no ends; each `open` adds one
//!   ([`open_end`]: `O_RDONLY` a read end, `O_WRONLY` a write end,
//!   `O_RDWR` an end that is both, [`Side::Both`]). As Linux's
//!   `fifo_open`, a blocking open of one side waits until the other side
//!   has been opened ([`PipeEnd::wait_partner`]); `O_NONBLOCK` does not
//!   wait, and a write-only one with no reader is `ENXIO`.
//!
//! Capacity: 16 KiB, a quarter of Linux's default 64 KiB: enough for
//! shell pipelines, small for a kernel heap that holds every pipe; the
//! number is not part of any ABI (`F_GETPIPE_SZ` is not implemented).

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::task::Event;
use abi::Errno;

/// Bytes a pipe holds.
pub const PIPE_CAPACITY: usize = 16 << 10;
/// Writes up to this size are atomic (POSIX `PIPE_BUF`, Linux's value).
pub const PIPE_BUF: usize = 4096;

/// A bounded circular byte buffer (module docs).
#[derive(Debug)]
pub struct Ring {
    buf: Vec<u8>,
    /// Index of the oldest byte.
    head: usize,
    len: usize,
}

impl Ring {
    /// An empty ring of `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        Self {
            buf: vec![0; capacity],
            head: 0,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Free bytes.
    pub fn room(&self) -> usize {
        self.capacity() - self.len
    }

    /// Whether a write of `len` bytes can make progress now: an atomic one
    /// (`len <= PIPE_BUF`) needs room for all of it, a longer one for one
    /// byte.
    pub fn can_write(&self, len: usize) -> bool {
        if len <= PIPE_BUF.min(self.capacity()) {
            self.room() >= len
        } else {
            self.room() > 0
        }
    }

    /// Moves up to `out.len()` bytes out; returns how many.
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.len);
        let cap = self.capacity();
        let first = n.min(cap - self.head);
        out[..first].copy_from_slice(&self.buf[self.head..self.head + first]);
        out[first..n].copy_from_slice(&self.buf[..n - first]);
        self.head = (self.head + n) % cap.max(1);
        self.len -= n;
        n
    }

    /// Appends as much of `data` as fits; returns how many bytes. Callers
    /// check [`Ring::can_write`] first for the atomicity rule.
    pub fn write(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.room());
        let cap = self.capacity();
        let tail = (self.head + self.len) % cap.max(1);
        let first = n.min(cap - tail);
        self.buf[tail..tail + first].copy_from_slice(&data[..first]);
        self.buf[..n - first].copy_from_slice(&data[first..n]);
        self.len += n;
        n
    }
}

/// What the ends see, under the pipe's lock.
struct PipeState {
    ring: Ring,
    readers: usize,
    writers: usize,
    /// Opens of each side so far (a FIFO's open waits for the other's
    /// count to move, as Linux's `r_counter`/`w_counter`).
    read_opens: u64,
    write_opens: u64,
}

/// A pipe (module docs).
pub struct Pipe {
    state: spin::Mutex<PipeState>,
    /// Notified when bytes arrive or the last writer goes.
    readable: Event,
    /// Notified when room appears or the last reader goes.
    writable: Event,
    /// `st_ino` of both ends.
    ino: u64,
}

/// Which end a [`PipeEnd`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Read,
    Write,
    /// A FIFO opened `O_RDWR`: a reader and a writer at once.
    Both,
}

impl Side {
    fn reads(self) -> bool {
        self != Side::Write
    }

    fn writes(self) -> bool {
        self != Side::Read
    }
}

/// One open end of a pipe (module docs).
pub struct PipeEnd {
    pipe: Arc<Pipe>,
    side: Side,
    /// For a FIFO end opened while the other side had no end open, that
    /// side's open count then: [`PipeEnd::wait_partner`] waits for it to
    /// move. `None`: the other side was open (no wait, as Linux decides at
    /// the open: a partner that has come and gone since still met it).
    partner_opens: Option<u64>,
}

static NEXT_INO: AtomicU64 = AtomicU64::new(1);

/// A pipe with no ends yet.
fn new_pipe(readers: usize, writers: usize) -> Arc<Pipe> {
    Arc::new(Pipe {
        state: spin::Mutex::new(PipeState {
            ring: Ring::new(PIPE_CAPACITY),
            readers,
            writers,
            read_opens: readers as u64,
            write_opens: writers as u64,
        }),
        readable: Event::new(),
        writable: Event::new(),
        // Relaxed: a unique number, nothing is published through it.
        ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
    })
}

/// A named pipe's shared pipe, with no ends open (module docs).
pub fn fifo() -> Arc<Pipe> {
    new_pipe(0, 0)
}

/// Opens a new end of FIFO `pipe` on `side`, without waiting (the caller
/// then awaits [`PipeEnd::wait_partner`] unless `O_NONBLOCK`). `ENXIO`
/// for a write-only end with no reader when `nonblock`, as Linux.
pub fn open_end(pipe: &Arc<Pipe>, side: Side, nonblock: bool) -> Result<PipeEnd, Errno> {
    let mut s = pipe.state.lock();
    if side == Side::Write && nonblock && s.readers == 0 {
        return Err(Errno::ENXIO);
    }
    if side.reads() {
        s.readers += 1;
        s.read_opens += 1;
    }
    if side.writes() {
        s.writers += 1;
        s.write_opens += 1;
    }
    let partner_opens = match side {
        Side::Both => None,
        Side::Read => (s.writers == 0).then_some(s.write_opens),
        Side::Write => (s.readers == 0).then_some(s.read_opens),
    };
    drop(s);
    // A side waiting in its open for this one, or a reader at end of
    // file (none of Linux's: a reader blocked in read sees the writer).
    pipe.readable.notify_all();
    pipe.writable.notify_all();
    Ok(PipeEnd {
        pipe: pipe.clone(),
        side,
        partner_opens,
    })
}

/// A new pipe: its read end and its write end.
pub fn pipe() -> (PipeEnd, PipeEnd) {
    let pipe = new_pipe(1, 1);
    (
        PipeEnd {
            pipe: pipe.clone(),
            side: Side::Read,
            partner_opens: None,
        },
        PipeEnd {
            pipe,
            side: Side::Write,
            partner_opens: None,
        },
    )
}

impl PipeEnd {
    pub fn side(&self) -> Side {
        self.side
    }

    /// A FIFO end's open: if the other side had no end open when this end
    /// was opened, waits until it has been opened since (a writer that came
    /// and went still ends a reader's wait, as Linux's counters do). An
    /// end that is both never waits.
    pub async fn wait_partner(&self) {
        let pipe = &*self.pipe;
        let Some(since) = self.partner_opens else {
            return;
        };
        let reads = self.side == Side::Read;
        let event = if reads {
            &pipe.readable
        } else {
            &pipe.writable
        };
        event
            .wait_until(|| {
                let s = pipe.state.lock();
                if reads {
                    s.write_opens != since
                } else {
                    s.read_opens != since
                }
            })
            .await;
    }

    /// The pipe's inode number (`fstat`).
    pub fn ino(&self) -> u64 {
        self.pipe.ino
    }

    /// Bytes waiting in the pipe (`FIONREAD`).
    pub fn available(&self) -> usize {
        self.pipe.state.lock().ring.len()
    }

    /// Reads into `out`: waits for at least one byte unless `nonblock`
    /// (then `EAGAIN`); 0 at end of file (no writer left and the pipe
    /// empty) or for an empty `out`.
    pub async fn read(&self, out: &mut [u8], nonblock: bool) -> Result<usize, Errno> {
        if out.is_empty() {
            return Ok(0);
        }
        let pipe = &*self.pipe;
        loop {
            {
                let mut s = pipe.state.lock();
                if !s.ring.is_empty() {
                    let n = s.ring.read(out);
                    drop(s);
                    pipe.writable.notify_all();
                    return Ok(n);
                }
                if s.writers == 0 {
                    return Ok(0);
                }
            }
            if nonblock {
                return Err(Errno::EAGAIN);
            }
            pipe.readable
                .wait_until(|| {
                    let s = pipe.state.lock();
                    !s.ring.is_empty() || s.writers == 0
                })
                .await;
        }
    }

    /// Writes all of `data`, waiting for room (a write of at most
    /// [`PIPE_BUF`] bytes goes in as one piece). `EPIPE` if no reader is
    /// left (when nothing was written yet; else the count so far). With
    /// `nonblock`, writes what fits now and `EAGAIN` if nothing does.
    pub async fn write(&self, data: &[u8], nonblock: bool) -> Result<usize, Errno> {
        // Linux: an empty write succeeds even with no reader.
        if data.is_empty() {
            return Ok(0);
        }
        let pipe = &*self.pipe;
        let mut done = 0;
        while done < data.len() {
            let rest = &data[done..];
            {
                let mut s = pipe.state.lock();
                if s.readers == 0 {
                    return if done == 0 {
                        Err(Errno::EPIPE)
                    } else {
                        Ok(done)
                    };
                }
                // Only the first piece of a write is held to atomicity: an
                // atomic write is a single piece.
                let wanted = if done == 0 { rest.len() } else { 1 };
                if s.ring.can_write(wanted) {
                    done += s.ring.write(rest);
                    drop(s);
                    pipe.readable.notify_all();
                    continue;
                }
            }
            if nonblock {
                return if done == 0 {
                    Err(Errno::EAGAIN)
                } else {
                    Ok(done)
                };
            }
            let wanted = if done == 0 { rest.len() } else { 1 };
            pipe.writable
                .wait_until(|| {
                    let s = pipe.state.lock();
                    s.readers == 0 || s.ring.can_write(wanted)
                })
                .await;
        }
        Ok(done)
    }

    /// Whether a read would not wait (bytes, or end of file).
    pub fn read_ready(&self) -> bool {
        let s = self.pipe.state.lock();
        !s.ring.is_empty() || s.writers == 0
    }

    /// Whether a write of one byte would not wait (room, or `EPIPE`).
    pub fn write_ready(&self) -> bool {
        let s = self.pipe.state.lock();
        s.readers == 0 || s.ring.room() > 0
    }
}

impl PipeEnd {
    /// `poll` readiness as Linux's `pipe_poll` gives it: the read end is
    /// `POLLIN` with bytes waiting and `POLLHUP` once no writer is left;
    /// the write end `POLLOUT` with room and `POLLERR` once no reader is
    /// left.
    pub fn poll_mask(&self) -> u32 {
        use super::poll::*;
        let s = self.pipe.state.lock();
        match self.side {
            Side::Read => {
                let mut mask = 0;
                if !s.ring.is_empty() {
                    mask |= POLLIN | POLLRDNORM;
                }
                if s.writers == 0 {
                    mask |= POLLHUP;
                }
                mask
            }
            Side::Write => {
                let mut mask = 0;
                if s.ring.room() > 0 {
                    mask |= POLLOUT | POLLWRNORM;
                }
                if s.readers == 0 {
                    mask |= POLLERR;
                }
                mask
            }
            // Its own ends keep both counts above 0.
            Side::Both => {
                let mut mask = 0;
                if !s.ring.is_empty() {
                    mask |= POLLIN | POLLRDNORM;
                }
                if s.ring.room() > 0 {
                    mask |= POLLOUT | POLLWRNORM;
                }
                mask
            }
        }
    }

    /// The event notified when this end's readiness changes.
    pub fn poll_event(&self) -> &Event {
        match self.side {
            // Both: bytes arriving (a writer waiting for room on its own
            // read-write end is woken by reads of it, which it polls for
            // less often).
            Side::Read | Side::Both => &self.pipe.readable,
            Side::Write => &self.pipe.writable,
        }
    }

    /// Whether this end reads (a read end, or a FIFO's read-write end).
    pub fn reads(&self) -> bool {
        self.side.reads()
    }

    /// Whether this end writes.
    pub fn writes(&self) -> bool {
        self.side.writes()
    }
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        let mut s = self.pipe.state.lock();
        if self.side.reads() {
            s.readers -= 1;
        }
        if self.side.writes() {
            s.writers -= 1;
        }
        drop(s);
        if self.side.reads() {
            self.pipe.writable.notify_all();
        }
        if self.side.writes() {
            self.pipe.readable.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_come_out_in_order_across_the_wrap() {
        let mut r = Ring::new(8);
        assert_eq!(r.write(b"abcdef"), 6);
        let mut out = [0u8; 4];
        assert_eq!(r.read(&mut out), 4);
        assert_eq!(&out, b"abcd");
        assert_eq!(r.write(b"ghijklmn"), 6, "only the room is taken");
        assert_eq!(r.len(), 8);
        assert_eq!(r.room(), 0);
        let mut out = [0u8; 16];
        assert_eq!(r.read(&mut out), 8);
        assert_eq!(&out[..8], b"efghijkl");
        assert!(r.is_empty());
        assert_eq!(r.read(&mut out), 0);
    }

    #[test]
    fn small_writes_are_all_or_nothing() {
        let mut r = Ring::new(PIPE_CAPACITY);
        assert_eq!(r.write(&[1; PIPE_CAPACITY - 100]), PIPE_CAPACITY - 100);
        assert!(r.can_write(100));
        assert!(!r.can_write(101), "an atomic write must fit whole");
        assert!(
            r.can_write(PIPE_BUF + 1),
            "a long write goes in piece by piece"
        );
        r.write(&[2; 100]);
        assert!(!r.can_write(PIPE_BUF + 1));
        assert!(!r.can_write(1));
    }

    #[test]
    fn random_traffic_keeps_the_byte_stream() {
        // A deterministic pseudo-random mix of reads and writes against a
        // model (a plain vector).
        let mut seed = 0x1234_5678_u64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed as usize) % n
        };
        let mut r = Ring::new(61);
        let mut model: Vec<u8> = Vec::new();
        let mut counter = 0u8;
        for _ in 0..10_000 {
            if next(2) == 0 {
                let data: Vec<u8> = (0..next(40))
                    .map(|_| {
                        counter = counter.wrapping_add(1);
                        counter
                    })
                    .collect();
                let n = r.write(&data);
                assert_eq!(n, data.len().min(61 - model.len()));
                model.extend_from_slice(&data[..n]);
                // Bytes not taken are not part of the stream.
                counter = counter.wrapping_sub((data.len() - n) as u8);
            } else {
                let mut out = vec![0u8; next(40)];
                let n = r.read(&mut out);
                assert_eq!(n, out.len().min(model.len()));
                assert_eq!(&out[..n], &model[..n]);
                model.drain(..n);
            }
            assert_eq!(r.len(), model.len());
        }
    }
}
