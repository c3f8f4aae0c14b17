//! Futexes: the wait queue behind `futex(2)` (`docs/futex.md`).
//!
//! A futex is a 32-bit word in user memory; the kernel keeps no state for
//! it except the threads waiting on it. Those wait in one [`FutexTable`]:
//! a fixed array of buckets, each a spin lock over a list of waiters,
//! indexed by a hash of the waiter's [`Key`]:
//!
//! - a private futex (`FUTEX_PRIVATE_FLAG`, or any futex in private
//!   memory, as on Linux) is keyed by (address space, address);
//! - a futex in shared memory (`MAP_SHARED`) without the private flag is
//!   keyed by the shared-memory object and the offset in it, so two
//!   address spaces that map the object meet.
//!
//! **The lost-wake-up window.** `FUTEX_WAIT(addr, val)` must not sleep
//! after a `FUTEX_WAKE` that follows a store to `*addr`. [`FutexTable::wait`]
//! runs the caller's check (`*addr == val`) *under the bucket lock* and
//! enqueues the waiter before the lock is released; a waker that stored to
//! `*addr` and then takes the same lock either runs before the check (the
//! check sees the new value: `EAGAIN`) or after the enqueue (it finds the
//! waiter). The waiter's [`Waiting`] future then completes once a waker
//! has set its slot's `woken` flag; the waker stores the flag before it
//! takes the slot's `Waker`, and the future stores its `Waker` before it
//! looks at the flag again, so a wake between the enqueue and the first
//! poll is not lost either. Both windows are loom models below.
//!
//! A blocked thread is its parked future plus one [`Slot`] (an `Arc` of a
//! flag, a key and a `Waker`) and one bucket entry: no stack.
//!
//! A wait that ends early (a signal, a timeout: the future is dropped, or
//! [`Waiting::cancel`]) removes its entry; if a waker already removed it,
//! the wait counts as woken (Linux returns 0 then, never losing the wake).
//! `FUTEX_REQUEUE` moves entries to another key's bucket and rewrites the
//! slot's key under both bucket locks, so a cancelling waiter looks its
//! entry up under the key it has now.
//!
//! The table is pure logic: the system call (`imp`, on the machine) reads
//! and writes user memory through the closures it passes in.

use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use sync::{Arc, AtomicBool, Lock, Ordering};

mod sync {
    #[cfg(not(loom))]
    pub use alloc::sync::Arc;
    #[cfg(not(loom))]
    pub use core::sync::atomic::{AtomicBool, Ordering};
    #[cfg(loom)]
    pub use loom::sync::Arc;
    #[cfg(loom)]
    pub use loom::sync::atomic::{AtomicBool, Ordering};

    /// A mutex with `spin`'s shape (`lock()` gives the guard) over `spin`
    /// on the machine and loom's mutex in the models.
    pub struct Lock<T>(
        #[cfg(not(loom))] spin::Mutex<T>,
        #[cfg(loom)] loom::sync::Mutex<T>,
    );

    impl<T> Lock<T> {
        pub fn new(value: T) -> Self {
            #[cfg(not(loom))]
            return Self(spin::Mutex::new(value));
            #[cfg(loom)]
            return Self(loom::sync::Mutex::new(value));
        }

        #[cfg(not(loom))]
        pub fn lock(&self) -> spin::MutexGuard<'_, T> {
            self.0.lock()
        }

        #[cfg(loom)]
        pub fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
            self.0.lock().unwrap()
        }
    }
}

/// What a futex is known by (module docs): for a private futex, the
/// address space's identity (the address of its `AddressSpace`, which a
/// waiter keeps alive) and the user address; for a shared one, the
/// identity of the shared-memory object (its address, alive while mapped)
/// and the byte offset in it ([`Key::private`], [`Key::shared`]).
///
/// 16 bytes, where an enum of the two took 24: every waiter keeps its key
/// twice (its bucket entry and its `Slot`), and a bucket's entries are
/// one `Vec`. A shared key has bit 63 of `at` set ([`SHARED`]). An
/// address or offset with that bit set already is never a user address
/// or an offset in a mapping, and still cannot make a private key equal
/// to a shared one: their `id`s are the addresses of two different live
/// objects (a space, a shared-memory object).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    id: usize,
    at: u64,
}

/// The bit of [`Key::at`] that marks a shared futex's key.
const SHARED: u64 = 1 << 63;

const _: () = assert!(core::mem::size_of::<Key>() == 16);

impl Key {
    /// The key of the private futex at `addr` in the space `space`.
    pub const fn private(space: usize, addr: u64) -> Key {
        Key {
            id: space,
            at: addr,
        }
    }

    /// The key of the shared futex at byte `offset` of the shared-memory
    /// object `object`.
    pub const fn shared(object: usize, offset: u64) -> Key {
        Key {
            id: object,
            at: offset | SHARED,
        }
    }

    /// A 64-bit mix of the key (multiply-xorshift; any spread will do,
    /// futex addresses differ in their low bits).
    fn hash(&self) -> u64 {
        let tag = if self.at & SHARED != 0 {
            0xc2b2_ae3d_27d4_eb4f
        } else {
            0x9e37_79b9_7f4a_7c15u64
        };
        let (a, b) = (self.id as u64, self.at & !SHARED);
        let mut h = a.wrapping_mul(0xff51_afd7_ed55_8ccd) ^ b.rotate_left(29) ^ tag;
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 29)
    }
}

/// `FUTEX_BITSET_MATCH_ANY`: what `FUTEX_WAIT`/`FUTEX_WAKE` use.
pub const MATCH_ANY: u32 = u32::MAX;

/// One waiter's shared half (module docs).
pub struct Slot {
    /// Set by the waker that removed the entry (before it takes `waker`).
    woken: AtomicBool,
    /// The key the entry is filed under now (requeue changes it, holding
    /// both bucket locks). The bucket's entry has no copy of it: a scan
    /// reads it here, under the bucket lock (lock order: bucket, then
    /// this).
    key: Lock<Key>,
    /// The wake bitset it waits for (`FUTEX_WAIT_BITSET`).
    bitset: u32,
    /// The waiting task's waker, once it has been polled.
    waker: Lock<Option<Waker>>,
}

/// A bucket's entry: its waiter's slot alone, 8 bytes (with a copy of
/// the key and the bitset it was 32, in a `Vec` that holds every waiter
/// of the bucket: a process's 10,000 threads waiting on one word took 52
/// bytes each there, with the `Vec`'s spare capacity).
struct Entry {
    slot: Arc<Slot>,
}

impl Entry {
    /// Whether the entry waits on `key`.
    fn has_key(&self, key: Key) -> bool {
        *self.slot.key.lock() == key
    }

    /// Whether a wake of `key` with `bitset` picks it.
    fn matches(&self, key: Key, bitset: u32) -> bool {
        self.slot.bitset & bitset != 0 && self.has_key(key)
    }
}

/// The futex wait queue: hashed buckets of waiters (module docs).
pub struct FutexTable {
    buckets: Vec<Lock<Vec<Entry>>>,
}

impl FutexTable {
    /// A table of `nbuckets` buckets (rounded up to a power of two, at
    /// least 1).
    pub fn new(nbuckets: usize) -> Self {
        let n = nbuckets.max(1).next_power_of_two();
        Self {
            buckets: (0..n).map(|_| Lock::new(Vec::new())).collect(),
        }
    }

    fn index(&self, key: &Key) -> usize {
        (key.hash() as usize) & (self.buckets.len() - 1)
    }

    /// Enqueues a waiter on `key` (woken by wakes whose bitset meets
    /// `bitset`) if `check` says yes: `check` runs under the bucket lock
    /// (it reads the futex word; its error, `EAGAIN` for a changed value or
    /// `EFAULT`, is returned and nothing is enqueued). The returned future
    /// completes when a wake picks the waiter.
    pub fn wait<E>(
        &self,
        key: Key,
        bitset: u32,
        check: impl FnOnce() -> Result<(), E>,
    ) -> Result<Waiting<'_>, E> {
        let slot = Arc::new(Slot {
            woken: AtomicBool::new(false),
            key: Lock::new(key),
            bitset,
            waker: Lock::new(None),
        });
        let mut bucket = self.buckets[self.index(&key)].lock();
        check()?;
        bucket.push(Entry { slot: slot.clone() });
        Ok(Waiting {
            table: self,
            slot,
            finished: false,
        })
    }

    /// Wakes up to `n` waiters of `key` whose bitset meets `bitset`,
    /// oldest first; returns how many.
    pub fn wake(&self, key: Key, n: usize, bitset: u32) -> usize {
        if n == 1 {
            // The common case (a mutex unlock, a condition signal, a
            // ping-pong): no list of woken entries to allocate.
            let woken = {
                let mut bucket = self.buckets[self.index(&key)].lock();
                take_first(&mut bucket, key, bitset)
            };
            let count = usize::from(woken.is_some());
            wake_all(woken);
            return count;
        }
        let woken = {
            let mut bucket = self.buckets[self.index(&key)].lock();
            take_matching(&mut bucket, key, bitset, n)
        };
        let count = woken.len();
        wake_all(woken);
        count
    }

    /// `FUTEX_REQUEUE`/`FUTEX_CMP_REQUEUE`: under both bucket locks,
    /// `check` (the compare of `CMP_REQUEUE`), then wakes up to `nr_wake`
    /// waiters of `from` and moves up to `nr_requeue` more to `to`. Returns
    /// woken + moved.
    pub fn requeue<E>(
        &self,
        from: Key,
        to: Key,
        nr_wake: usize,
        nr_requeue: usize,
        check: impl FnOnce() -> Result<(), E>,
    ) -> Result<usize, E> {
        let (i, j) = (self.index(&from), self.index(&to));
        let (woken, moved) = if i == j {
            let mut bucket = self.buckets[i].lock();
            check()?;
            let woken = take_matching(&mut bucket, from, MATCH_ANY, nr_wake);
            let mut moved = 0;
            for e in bucket.iter().filter(|e| e.has_key(from)).take(nr_requeue) {
                *e.slot.key.lock() = to;
                moved += 1;
            }
            (woken, moved)
        } else {
            // Lock order: the lower index first.
            let (lo, hi) = (i.min(j), i.max(j));
            let mut first = self.buckets[lo].lock();
            let mut second = self.buckets[hi].lock();
            let (src, dst) = if i < j {
                (&mut *first, &mut *second)
            } else {
                (&mut *second, &mut *first)
            };
            check()?;
            let woken = take_matching(src, from, MATCH_ANY, nr_wake);
            let moving = take_matching(src, from, MATCH_ANY, nr_requeue);
            for e in &moving {
                *e.slot.key.lock() = to;
            }
            let moved = moving.len();
            dst.extend(moving);
            (woken, moved)
        };
        let count = woken.len() + moved;
        wake_all(woken);
        Ok(count)
    }

    /// `FUTEX_WAKE_OP`: under both bucket locks, `op` (the atomic update
    /// of the second word; it returns whether its comparison held), then
    /// wakes up to `n1` waiters of `k1` and, if `op` said so, up to `n2` of
    /// `k2`. Returns how many woke.
    pub fn wake_op<E>(
        &self,
        k1: Key,
        k2: Key,
        n1: usize,
        n2: usize,
        op: impl FnOnce() -> Result<bool, E>,
    ) -> Result<usize, E> {
        let (i, j) = (self.index(&k1), self.index(&k2));
        let mut woken;
        if i == j {
            let mut bucket = self.buckets[i].lock();
            let second = op()?;
            woken = take_matching(&mut bucket, k1, MATCH_ANY, n1);
            if second {
                woken.extend(take_matching(&mut bucket, k2, MATCH_ANY, n2));
            }
        } else {
            let (lo, hi) = (i.min(j), i.max(j));
            let mut first = self.buckets[lo].lock();
            let mut second_b = self.buckets[hi].lock();
            let (b1, b2) = if i < j {
                (&mut *first, &mut *second_b)
            } else {
                (&mut *second_b, &mut *first)
            };
            let second = op()?;
            woken = take_matching(b1, k1, MATCH_ANY, n1);
            if second {
                woken.extend(take_matching(b2, k2, MATCH_ANY, n2));
            }
        }
        let count = woken.len();
        wake_all(woken);
        Ok(count)
    }

    /// How many waiters are queued (all keys).
    pub fn waiters(&self) -> usize {
        self.buckets.iter().map(|b| b.lock().len()).sum()
    }

    /// How many waiters are queued on `key`.
    pub fn waiters_on(&self, key: Key) -> usize {
        self.buckets[self.index(&key)]
            .lock()
            .iter()
            .filter(|e| e.has_key(key))
            .count()
    }

    /// Removes `slot`'s entry if it is still queued; returns whether it was
    /// woken instead (a waker removed it first).
    fn cancel(&self, slot: &Arc<Slot>) -> bool {
        loop {
            let key = *slot.key.lock();
            let mut bucket = self.buckets[self.index(&key)].lock();
            // A requeue may have moved it between the read and the lock.
            if *slot.key.lock() != key {
                continue;
            }
            if let Some(at) = bucket.iter().position(|e| Arc::ptr_eq(&e.slot, slot)) {
                bucket.remove(at);
                return false;
            }
            return true;
        }
    }
}

/// Removes up to `n` entries of `key` meeting `bitset` from `bucket`
/// (oldest first) and marks them woken; returns them (their wakers are
/// called once the lock is dropped).
fn take_matching(bucket: &mut Vec<Entry>, key: Key, bitset: u32, n: usize) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bucket.len() && out.len() < n {
        if bucket[i].matches(key, bitset) {
            let e = bucket.remove(i);
            out.push(e);
        } else {
            i += 1;
        }
    }
    for e in &out {
        // Release: the wait future's Acquire load sees everything the waker
        // did before the wake (the store to the futex word).
        e.slot.woken.store(true, Ordering::Release);
    }
    out
}

/// Calls the wakers of `woken` entries (no lock held).
/// [`take_matching`] of one entry, without a `Vec`.
fn take_first(bucket: &mut Vec<Entry>, key: Key, bitset: u32) -> Option<Entry> {
    let at = bucket.iter().position(|e| e.matches(key, bitset))?;
    let e = bucket.remove(at);
    // Release: as in `take_matching`.
    e.slot.woken.store(true, Ordering::Release);
    Some(e)
}

fn wake_all(woken: impl IntoIterator<Item = Entry>) {
    for e in woken {
        let waker = e.slot.waker.lock().take();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// A queued waiter: completes when a wake picks it (module docs). Dropping
/// it before then dequeues it.
pub struct Waiting<'a> {
    table: &'a FutexTable,
    slot: Arc<Slot>,
    finished: bool,
}

impl Waiting<'_> {
    /// Ends the wait now (a signal or timeout won): dequeues it and
    /// returns whether a wake had already picked it (the wait then counts
    /// as a normal wake-up).
    pub fn cancel(mut self) -> bool {
        self.finished = true;
        self.table.cancel(&self.slot)
    }

    /// Whether a wake picked it.
    pub fn is_woken(&self) -> bool {
        self.slot.woken.load(Ordering::Acquire)
    }
}

impl Future for Waiting<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.slot.woken.load(Ordering::Acquire) {
            self.finished = true;
            return Poll::Ready(());
        }
        *self.slot.waker.lock() = Some(cx.waker().clone());
        // The waker sets the flag before it takes the waker: stored first,
        // looked again, so a wake in between is seen here or wakes us.
        if self.slot.woken.load(Ordering::Acquire) {
            self.finished = true;
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.table.cancel(&self.slot);
        }
    }
}

/// The `futex(2)` operation word, decoded (Linux's `do_futex`).
pub mod op {
    use abi::Errno;

    pub use abi::futex::{
        CLOCK_REALTIME, CMP_REQUEUE, CMP_REQUEUE_PI, FD, LOCK_PI, LOCK_PI2, PRIVATE, REQUEUE,
        TRYLOCK_PI, UNLOCK_PI, WAIT, WAIT_BITSET, WAIT_REQUEUE_PI, WAKE, WAKE_BITSET, WAKE_OP,
    };

    /// A futex command Tine runs.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Cmd {
        /// `FUTEX_WAIT` (relative timeout) and `FUTEX_WAIT_BITSET`
        /// (absolute timeout).
        Wait { bitset: u32, absolute: bool },
        /// `FUTEX_WAKE`, `FUTEX_WAKE_BITSET`.
        Wake { bitset: u32 },
        /// `FUTEX_REQUEUE` (`cmp: false`), `FUTEX_CMP_REQUEUE`.
        Requeue { cmp: bool },
        /// `FUTEX_WAKE_OP`.
        WakeOp,
    }

    /// A decoded operation word.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Op {
        pub cmd: Cmd,
        pub private: bool,
        pub realtime: bool,
    }

    /// Decodes `futex(uaddr, op, val, timeout, uaddr2, val3)`'s `op` (with
    /// `val3`, the bitset of the bitset commands). Linux's answers: an
    /// unknown command, the PI commands and `FUTEX_FD` (which Tine does
    /// not run) and `FUTEX_CLOCK_REALTIME` on a command other than
    /// `FUTEX_WAIT_BITSET` are `ENOSYS`; a bitset of 0 is `EINVAL`.
    pub fn decode(op: u32, val3: u32) -> Result<Op, Errno> {
        let private = op & PRIVATE != 0;
        let realtime = op & CLOCK_REALTIME != 0;
        let base = op & !(PRIVATE | CLOCK_REALTIME);
        if realtime && !matches!(base, WAIT_BITSET | WAIT_REQUEUE_PI | LOCK_PI2) {
            return Err(Errno::ENOSYS);
        }
        let cmd = match base {
            WAIT => Cmd::Wait {
                bitset: super::MATCH_ANY,
                absolute: false,
            },
            WAIT_BITSET => Cmd::Wait {
                bitset: val3,
                absolute: true,
            },
            WAKE => Cmd::Wake {
                bitset: super::MATCH_ANY,
            },
            WAKE_BITSET => Cmd::Wake { bitset: val3 },
            REQUEUE => Cmd::Requeue { cmp: false },
            CMP_REQUEUE => Cmd::Requeue { cmp: true },
            WAKE_OP => Cmd::WakeOp,
            _ => return Err(Errno::ENOSYS),
        };
        if let Cmd::Wait { bitset: 0, .. } | Cmd::Wake { bitset: 0 } = cmd {
            return Err(Errno::EINVAL);
        }
        Ok(Op {
            cmd,
            private,
            realtime,
        })
    }

    /// `FUTEX_WAKE_OP`'s encoded operation: `*uaddr2 = old OP oparg`, then
    /// wake `uaddr2`'s waiters too if `old CMP cmparg`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct WakeOp {
        op: u32,
        oparg: u32,
        cmp: u32,
        cmparg: i32,
    }

    impl WakeOp {
        /// Decodes Linux's `FUTEX_OP(op, oparg, cmp, cmparg)` word: `op`
        /// in bits 28-31 (bit 31: `oparg` is a shift count), `cmp` in
        /// 24-27, `oparg` and `cmparg` signed 12-bit fields. An unknown
        /// operation or comparison is `ENOSYS`.
        pub fn decode(encoded: u32) -> Result<WakeOp, Errno> {
            let top = encoded >> 28;
            let op = top & 7;
            let cmp = (encoded >> 24) & 15;
            let mut oparg = (((encoded << 8) as i32) >> 20) as u32;
            let cmparg = ((encoded << 20) as i32) >> 20;
            if top & 8 != 0 {
                // Linux masks a shift out of range (after a warning).
                oparg = 1u32 << (oparg & 31);
            }
            if op > 4 || cmp > 5 {
                return Err(Errno::ENOSYS);
            }
            Ok(WakeOp {
                op,
                oparg,
                cmp,
                cmparg,
            })
        }

        /// The new value of a word that held `old`.
        pub fn apply(&self, old: u32) -> u32 {
            match self.op {
                0 => self.oparg,
                1 => old.wrapping_add(self.oparg),
                2 => old | self.oparg,
                3 => old & !self.oparg,
                _ => old ^ self.oparg,
            }
        }

        /// Whether the old value passes the comparison (signed, as Linux).
        pub fn compare(&self, old: u32) -> bool {
            let old = old as i32;
            match self.cmp {
                0 => old == self.cmparg,
                1 => old != self.cmparg,
                2 => old < self.cmparg,
                3 => old <= self.cmparg,
                4 => old > self.cmparg,
                _ => old >= self.cmparg,
            }
        }
    }
}

#[cfg(target_os = "none")]
pub use imp::*;

#[cfg(target_os = "none")]
mod imp {
    // `spin`'s, not `conquer_once`'s: conquer_once 0.4.0's `Lazy` panics
    // (`unreachable!` converting `AlreadyInit`) when another CPU finishes
    // the initialization between its two looks.
    use spin::Lazy;

    use alloc::boxed::Box;
    use core::future::Future;

    use futures_util::future::{Either, Ready, ready};

    use super::op::{self, Cmd, WakeOp};
    use super::{FutexTable, Key, MATCH_ANY, Waiting};
    use crate::proc::process::Process;
    use crate::proc::signal::interruptible;
    use crate::syscall::time::{Timespec, clock};
    use crate::vm::space::AddressSpace;
    use abi::{Errno, SysResult};

    /// Buckets of the machine's table (Linux sizes its table by CPUs;
    /// 256 per CPU, rounded: enough that waiters rarely share a bucket).
    const BUCKETS: usize = 1024;

    /// The machine's futex table.
    static TABLE: Lazy<FutexTable> = Lazy::new(|| FutexTable::new(BUCKETS));

    /// The table (tests, statistics).
    pub fn table() -> &'static FutexTable {
        &TABLE
    }

    /// The key of the futex at `addr` in `space` (module docs): a
    /// non-private futex in a `MAP_SHARED` mapping is keyed by its
    /// shared-memory object and offset, every other by (space, address),
    /// as Linux keys a futex in private memory. `EINVAL` for an address
    /// that is not 4-byte aligned.
    fn key(space: &AddressSpace, addr: u64, private: bool) -> Result<Key, Errno> {
        if !addr.is_multiple_of(4) {
            return Err(Errno::EINVAL);
        }
        if !private && let Some((object, offset)) = space.shared_offset(addr) {
            return Ok(Key::shared(object, offset));
        }
        Ok(Key::private(core::ptr::from_ref(space) as usize, addr))
    }

    fn read_u32(space: &AddressSpace, addr: u64) -> Result<u32, Errno> {
        let mut b = [0u8; 4];
        space.copy_from_user(addr, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Wakes up to `n` waiters of the futex at `addr` (thread exit's
    /// `clear_child_tid` wake). A bad address wakes nobody.
    pub fn wake_address(space: &AddressSpace, addr: u64, n: usize) -> usize {
        key(space, addr, false).map_or(0, |k| TABLE.wake(k, n, MATCH_ANY))
    }

    /// `futex(uaddr, op, val, timeout, uaddr2, val3)` (`docs/futex.md`).
    /// `timeout` is also `val2` (a count) for the requeue commands.
    ///
    /// Not an `async fn`: everything but the wait itself runs here, and
    /// the future returned is either the result, ready, or the wait, which
    /// keeps only what it needs, not the arguments and their decoding:
    /// that future is what a blocked thread holds, inline in its own
    /// through `dispatch` (`docs/memory.md`, "Per thread").
    pub fn futex<'a>(
        process: &'a Process,
        space: &AddressSpace,
        a: [u64; 6],
    ) -> Either<Ready<SysResult>, impl Future<Output = SysResult> + Send + 'a> {
        match command(process, space, a) {
            Ok(Call::Wait(wait)) => Either::Right(wait),
            Ok(Call::Done(result)) => Either::Left(ready(result)),
            Err(e) => Either::Left(ready(Err(e))),
        }
    }

    /// What [`futex`] found to do: done at once (every command but a wait
    /// that enqueued), or a wait to await.
    enum Call<F> {
        Done(SysResult),
        Wait(F),
    }

    fn command<'a>(
        process: &'a Process,
        space: &AddressSpace,
        a: [u64; 6],
    ) -> Result<Call<impl Future<Output = SysResult> + Send + 'a>, Errno> {
        let [uaddr, op, val, timeout, uaddr2, val3] = a;
        let op = op::decode(op as u32, val3 as u32)?;
        let k1 = key(space, uaddr, op.private)?;
        let n = match op.cmd {
            Cmd::Wait { bitset, absolute } => {
                let deadline = if timeout == 0 {
                    None
                } else {
                    let mut raw = [0u8; 16];
                    space.copy_from_user(timeout, &mut raw)?;
                    let ts = Timespec::from_bytes(raw);
                    let (clock, flags) = match (absolute, op.realtime) {
                        (false, _) => (clock::MONOTONIC, 0),
                        (true, false) => (clock::MONOTONIC, crate::syscall::time::TIMER_ABSTIME),
                        (true, true) => (clock::REALTIME, crate::syscall::time::TIMER_ABSTIME),
                    };
                    Some(crate::syscall::time::deadline_for(clock, flags, ts)?)
                };
                // The value is checked and the waiter enqueued now, under
                // the bucket lock (module docs); the future only waits.
                let waiting = TABLE.wait(k1, bitset, || {
                    if read_u32(space, uaddr)? == val as u32 {
                        Ok(())
                    } else {
                        Err(Errno::EAGAIN)
                    }
                })?;
                return Ok(Call::Wait(wait(process, waiting, deadline)));
            }
            Cmd::Wake { bitset } => TABLE.wake(k1, wake_count(val), bitset),
            Cmd::Requeue { cmp } => {
                let (nr_wake, nr_requeue) = (val as i32, timeout as i32);
                if nr_wake < 0 || nr_requeue < 0 {
                    return Err(Errno::EINVAL);
                }
                let k2 = key(space, uaddr2, op.private)?;
                TABLE.requeue(k1, k2, nr_wake as usize, nr_requeue as usize, || {
                    if cmp && read_u32(space, uaddr)? != val3 as u32 {
                        return Err(Errno::EAGAIN);
                    }
                    Ok(())
                })?
            }
            Cmd::WakeOp => {
                let k2 = key(space, uaddr2, op.private)?;
                let wop = WakeOp::decode(val3 as u32)?;
                TABLE.wake_op(k1, k2, wake_count(val), wake_count(timeout), || {
                    let old = space.update_u32(uaddr2, |v| Some(wop.apply(v)))?;
                    Ok::<_, Errno>(wop.compare(old))
                })?
            }
        };
        Ok(Call::Done(Ok(n as u64)))
    }

    /// A wake count from a register: Linux's is an `int`, and a count of 0
    /// or less still wakes one.
    fn wake_count(v: u64) -> usize {
        (v as i32).max(1) as usize
    }

    /// `FUTEX_WAIT` once enqueued: await a wake (0), the deadline
    /// (`ETIMEDOUT`) or a signal (`EINTR`, never restarted, as Linux's
    /// `FUTEX_WAIT` with a handler). A wake that raced the timeout or
    /// signal wins. An `async move` block, not an `async fn`, which would
    /// store its arguments twice.
    #[allow(clippy::manual_async_fn)] // on purpose: see above
    fn wait<'a>(
        process: &'a Process,
        mut waiting: Waiting<'static>,
        deadline: Option<u64>,
    ) -> impl Future<Output = SysResult> + Send + 'a {
        use futures_util::future::select;
        async move {
            let outcome = match deadline {
                None => interruptible(process, &mut waiting).await.map(|()| true),
                // Boxed: the timer would make every wait's future bigger.
                Some(d) => Box::pin(interruptible(
                    process,
                    select(&mut waiting, crate::task::sleep_until(d)),
                ))
                .await
                .map(|either| matches!(either, Either::Left(_))),
            };
            match outcome {
                Ok(true) => Ok(0),
                // Woken after all: the wake is not lost.
                _ if waiting.is_woken() => Ok(0),
                Ok(false) => Err(Errno::ETIMEDOUT),
                Err(e) => Err(e),
            }
        }
    }

    const OWNER_DIED: u32 = abi::futex::OWNER_DIED;
    const WAITERS: u32 = abi::futex::WAITERS;
    const TID_MASK: u32 = abi::futex::TID_MASK;
    /// Most robust-list entries walked (Linux's `ROBUST_LIST_LIMIT`).
    const ROBUST_LIST_LIMIT: usize = 2048;

    /// Linux's `handle_futex_death`: a robust futex at `uaddr` still owned
    /// by `tid` gets `FUTEX_OWNER_DIED` (keeping `FUTEX_WAITERS`) and one
    /// waiter is woken.
    fn futex_death(space: &AddressSpace, uaddr: u64, tid: u32) {
        let mut died = false;
        let old = space.update_u32(uaddr, |v| {
            died = v & TID_MASK == tid;
            died.then_some((v & WAITERS) | OWNER_DIED)
        });
        if let Ok(old) = old
            && died
            && old & WAITERS != 0
        {
            wake_address(space, uaddr, 1);
        }
    }

    fn read_u64(space: &AddressSpace, addr: u64) -> Option<u64> {
        let mut b = [0u8; 8];
        space.copy_from_user(addr, &mut b).ok()?;
        Some(u64::from_le_bytes(b))
    }

    /// The robust-list walk at thread exit (Linux's `exit_robust_list`):
    /// `struct robust_list_head { next; futex_offset; list_op_pending }`;
    /// each entry's futex word is at `entry + futex_offset`; bit 0 of a
    /// pointer marks a PI futex (handled like the others here). At most
    /// [`ROBUST_LIST_LIMIT`] entries; a bad pointer ends the walk.
    pub fn exit_robust_list(space: &AddressSpace, thread: &crate::proc::thread::Thread) {
        let head = thread.robust_list();
        if head == 0 {
            return;
        }
        let tid = thread.tid().as_u32();
        let (Some(mut entry), Some(offset), Some(pending)) = (
            read_u64(space, head),
            read_u64(space, head + 8),
            read_u64(space, head + 16),
        ) else {
            return;
        };
        let offset = offset as i64;
        let pending = pending & !1;
        for _ in 0..ROBUST_LIST_LIMIT {
            entry &= !1;
            if entry == head || entry == 0 {
                break;
            }
            let next = read_u64(space, entry);
            if entry != pending {
                futex_death(space, entry.wrapping_add_signed(offset), tid);
            }
            match next {
                Some(n) => entry = n,
                None => break,
            }
        }
        if pending != 0 {
            futex_death(space, pending.wrapping_add_signed(offset), tid);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::op::{self, Cmd, WakeOp};
    use super::*;
    use abi::Errno;
    use futures_util::task::noop_waker;

    fn key(addr: u64) -> Key {
        Key::private(1, addr)
    }

    fn poll(w: &mut Waiting<'_>) -> bool {
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        Pin::new(w).poll(&mut cx).is_ready()
    }

    #[test]
    fn a_changed_value_enqueues_nothing() {
        let t = FutexTable::new(16);
        let r = t.wait(key(8), MATCH_ANY, || Err(Errno::EAGAIN));
        assert!(matches!(r, Err(Errno::EAGAIN)));
        assert_eq!(t.waiters(), 0);
    }

    #[test]
    fn wake_picks_the_oldest_waiters_of_its_key_only() {
        let t = FutexTable::new(1); // everything in one bucket
        let mut a = t.wait(key(8), MATCH_ANY, || Ok::<_, ()>(())).unwrap();
        let mut b = t.wait(key(8), MATCH_ANY, || Ok::<_, ()>(())).unwrap();
        let mut other = t.wait(key(16), MATCH_ANY, || Ok::<_, ()>(())).unwrap();
        assert!(!poll(&mut a));
        assert_eq!(t.wake(key(8), 1, MATCH_ANY), 1);
        assert!(poll(&mut a), "the oldest goes first");
        assert!(!poll(&mut b));
        assert!(!poll(&mut other));
        assert_eq!(t.wake(key(8), 10, MATCH_ANY), 1);
        assert!(poll(&mut b));
        assert_eq!(t.waiters(), 1);
        drop(other);
        assert_eq!(t.waiters(), 0, "a dropped wait dequeues itself");
    }

    #[test]
    fn private_keys_of_two_spaces_differ() {
        let t = FutexTable::new(64);
        let _w = t
            .wait(Key::private(1, 8), MATCH_ANY, || Ok::<_, ()>(()))
            .unwrap();
        assert_eq!(t.wake(Key::private(2, 8), 1, MATCH_ANY), 0);
        assert_eq!(t.wake(Key::shared(1, 8), 1, MATCH_ANY), 0);
        assert_eq!(t.wake(Key::private(1, 8), 1, MATCH_ANY), 1);
    }

    #[test]
    fn bitsets_select_waiters() {
        let t = FutexTable::new(8);
        let mut w1 = t.wait(key(0), 0b01, || Ok::<_, ()>(())).unwrap();
        let mut w2 = t.wait(key(0), 0b10, || Ok::<_, ()>(())).unwrap();
        assert_eq!(t.wake(key(0), 10, 0b10), 1);
        assert!(!poll(&mut w1));
        assert!(poll(&mut w2));
        assert_eq!(t.wake(key(0), 10, MATCH_ANY), 1);
        assert!(poll(&mut w1));
    }

    #[test]
    fn a_cancelled_wait_that_was_woken_says_so() {
        let t = FutexTable::new(8);
        let w = t.wait(key(4), MATCH_ANY, || Ok::<_, ()>(())).unwrap();
        assert_eq!(t.wake(key(4), 1, MATCH_ANY), 1);
        assert!(w.cancel(), "the wake was not lost");
        let w = t.wait(key(4), MATCH_ANY, || Ok::<_, ()>(())).unwrap();
        assert!(!w.cancel());
        assert_eq!(t.wake(key(4), 1, MATCH_ANY), 0);
    }

    #[test]
    fn requeue_wakes_some_and_moves_the_rest() {
        for buckets in [1, 1024] {
            let t = FutexTable::new(buckets);
            let mut ws: Vec<_> = (0..5)
                .map(|_| t.wait(key(100), MATCH_ANY, || Ok::<_, ()>(())).unwrap())
                .collect();
            assert_eq!(
                t.requeue(key(100), key(200), 1, 2, || Ok::<_, ()>(())),
                Ok(3)
            );
            assert!(poll(&mut ws[0]));
            assert_eq!(t.waiters_on(key(100)), 2);
            assert_eq!(t.waiters_on(key(200)), 2);
            assert_eq!(t.wake(key(200), 10, MATCH_ANY), 2);
            assert!(poll(&mut ws[1]) && poll(&mut ws[2]));
            // A moved-then-cancelled waiter finds itself under its new key.
            assert_eq!(
                t.requeue(key(100), key(300), 0, 1, || Ok::<_, ()>(())),
                Ok(1)
            );
            let moved = ws.remove(3);
            assert!(!moved.cancel());
            assert_eq!(t.waiters_on(key(300)), 0);
            assert_eq!(
                t.requeue(key(100), key(300), 0, 1, || Err(Errno::EAGAIN)),
                Err(Errno::EAGAIN),
                "CMP_REQUEUE's compare failing changes nothing"
            );
            assert_eq!(t.waiters_on(key(100)), 1);
        }
    }

    #[test]
    fn wake_op_wakes_the_second_key_when_the_compare_holds() {
        let t = FutexTable::new(4);
        let mut a = t.wait(key(1), MATCH_ANY, || Ok::<_, ()>(())).unwrap();
        let mut b = t.wait(key(2), MATCH_ANY, || Ok::<_, ()>(())).unwrap();
        assert_eq!(
            t.wake_op(key(1), key(2), 1, 1, || Ok::<_, ()>(false)),
            Ok(1)
        );
        assert!(poll(&mut a) && !poll(&mut b));
        assert_eq!(t.wake_op(key(1), key(2), 1, 1, || Ok::<_, ()>(true)), Ok(1));
        assert!(poll(&mut b));
    }

    #[test]
    fn operation_words_decode_as_linux() {
        let d = |o, v3| op::decode(o, v3);
        assert_eq!(
            d(op::WAIT | op::PRIVATE, 0).unwrap().cmd,
            Cmd::Wait {
                bitset: MATCH_ANY,
                absolute: false
            }
        );
        assert!(d(op::WAKE | op::PRIVATE, 0).unwrap().private);
        assert_eq!(d(op::WAIT | op::CLOCK_REALTIME, 0), Err(Errno::ENOSYS));
        assert!(d(op::WAIT_BITSET | op::CLOCK_REALTIME, 1).unwrap().realtime);
        assert_eq!(d(op::WAIT_BITSET, 0), Err(Errno::EINVAL));
        assert_eq!(d(op::WAKE_BITSET, 0), Err(Errno::EINVAL));
        for unsupported in [op::FD, op::LOCK_PI, op::UNLOCK_PI, op::TRYLOCK_PI, 14, 99] {
            assert_eq!(d(unsupported, 1), Err(Errno::ENOSYS), "{unsupported}");
        }
        assert_eq!(
            d(op::CMP_REQUEUE, 0).unwrap().cmd,
            Cmd::Requeue { cmp: true }
        );
    }

    /// Linux's `FUTEX_OP(op, oparg, cmp, cmparg)`.
    const fn futex_op(op: u32, oparg: u32, cmp: u32, cmparg: u32) -> u32 {
        ((op & 0xf) << 28) | ((cmp & 0xf) << 24) | ((oparg & 0xfff) << 12) | (cmparg & 0xfff)
    }

    #[test]
    fn wake_op_words_decode_and_apply() {
        // FUTEX_OP_ADD 1, FUTEX_OP_CMP_GT 0 (glibc's old condvar).
        let w = WakeOp::decode(futex_op(1, 1, 4, 0)).unwrap();
        assert_eq!(w.apply(5), 6);
        assert!(w.compare(5) && !w.compare(0));
        // Negative oparg/cmparg sign-extend.
        let w = WakeOp::decode(futex_op(0, 0xfff, 2, 0xfff)).unwrap();
        assert_eq!(w.apply(7), u32::MAX);
        assert!(w.compare((-2i32) as u32) && !w.compare(0));
        // FUTEX_OP_OPARG_SHIFT | FUTEX_OP_OR, 4: sets bit 4.
        let w = WakeOp::decode(futex_op(8 | 2, 4, 0, 0)).unwrap();
        assert_eq!(w.apply(1), 0x11);
        assert_eq!(WakeOp::decode(futex_op(5, 0, 0, 0)), Err(Errno::ENOSYS));
        assert_eq!(WakeOp::decode(futex_op(0, 0, 6, 0)), Err(Errno::ENOSYS));
        let andn = WakeOp::decode(futex_op(3, 1, 1, 0)).unwrap();
        assert_eq!(andn.apply(3), 2);
        let xor = WakeOp::decode(futex_op(4, 3, 5, 1)).unwrap();
        assert_eq!(xor.apply(1), 2);
        assert!(xor.compare(1) && !xor.compare(0));
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! The two lost-wake-up windows of the module docs. A "user" word
    //! (an atomic) is the futex; the waiter checks it under the bucket
    //! lock, the waker stores it and then wakes. If a wake were lost, the
    //! waiter's `block_on` would never return and loom reports a deadlock.
    use super::*;
    use loom::sync::atomic::AtomicU32;
    use loom::thread;

    const K: Key = Key::private(1, 0);

    /// A waker that notifies a loom `Notify` (a permit is kept when no one
    /// waits yet).
    struct NotifyWaker(loom::sync::Notify);

    impl std::task::Wake for NotifyWaker {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.notify();
        }
    }

    /// Polls `fut` until it is ready, parking on the waker in between: a
    /// lost wake-up leaves the thread parked forever, which loom reports.
    fn block_on(fut: Waiting<'_>) {
        let notify = std::sync::Arc::new(NotifyWaker(loom::sync::Notify::new()));
        let waker = Waker::from(notify.clone());
        let mut cx = Context::from_waker(&waker);
        let mut fut = core::pin::pin!(fut);
        while fut.as_mut().poll(&mut cx).is_pending() {
            notify.0.wait();
        }
    }

    #[test]
    fn loom_futex_wait_check_then_enqueue_never_loses_a_wake() {
        loom::model(|| {
            let table = Arc::new(FutexTable::new(1));
            let word = Arc::new(AtomicU32::new(0));
            let waiter = {
                let (table, word) = (table.clone(), word.clone());
                thread::spawn(move || {
                    // FUTEX_WAIT(word, 0) until the word changes.
                    loop {
                        let r = table.wait(K, MATCH_ANY, || {
                            if word.load(Ordering::SeqCst) == 0 {
                                Ok(())
                            } else {
                                Err(())
                            }
                        });
                        match r {
                            Err(()) => return,
                            Ok(w) => block_on(w),
                        }
                    }
                })
            };
            word.store(1, Ordering::SeqCst);
            table.wake(K, 1, MATCH_ANY);
            waiter.join().unwrap();
            assert_eq!(table.waiters(), 0);
        });
    }

    #[test]
    fn loom_futex_cancel_racing_a_wake_keeps_the_wake() {
        loom::model(|| {
            let table = Arc::new(FutexTable::new(1));
            let w = table.wait(K, MATCH_ANY, || Ok::<_, ()>(())).unwrap();
            let waker = {
                let table = table.clone();
                thread::spawn(move || table.wake(K, 1, MATCH_ANY))
            };
            let woken_by_cancel = w.cancel();
            let woke = waker.join().unwrap();
            assert_eq!(
                woke == 1,
                woken_by_cancel,
                "a wake counted a waiter that did not see it"
            );
            assert_eq!(table.waiters(), 0);
        });
    }
}
