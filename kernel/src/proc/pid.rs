//! Process IDs: the lock-free [`PidMap`] allocator.
//!
//! [`PidMap`] hands out [`Pid`]s with the behaviour of FreeBSD's
//! `fork_findpid` and its `kern.randompid`/`kern.lastpid` knobs, but without
//! a lock: the map is a bitmap of `AtomicU64` words over `0..pid_max`, a
//! PID is claimed with one `fetch_or` on its word, and a lost race just moves
//! the search on. `free` is one `fetch_and`.
//!
//! - The search starts at `lastpid + 1` (plus a random offset below
//!   `randompid` when that knob is on), finds the first clear bit, and wraps
//!   to 2 at `pid_max` (0 is the kernel, 1 is init).
//! - A number still in use as a process-group, session or reaper-subtree id
//!   is skipped; three more bitmaps record those ids ([`PidMap::set_id`],
//!   [`PidMap::clear_id`]), driven by the process-group, session and reaper
//!   code.
//! - [`PidFlags::HIGH`] (FreeBSD's `RFHIGHPID`, for boot-time processes)
//!   never goes below 10 and leaves `lastpid` alone.
//! - A full map gives [`Exhausted`]; fork turns it into `EAGAIN`.
//!
//! The random source is injected ([`PidMap::new`] takes a `fn() -> u64`):
//! the kernel passes `arch::cpu::random::u64`, tests pass something
//! deterministic. `docs/pid.md` gives the algorithm and the argument for
//! every memory ordering below; a `loom` model (`cfg(loom)`) and a
//! multi-threaded stress test check it.

use alloc::boxed::Box;
use core::fmt;

// The loom model tests swap in loom's atomics, which record every access
// and explore the orderings the memory model allows. loom is a
// dev-dependency, so only the test build may name it.
#[cfg(all(test, loom))]
use loom::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};

#[cfg(not(all(test, loom)))]
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};

/// FreeBSD's `PID_MAX`: the default `pid_max`, so PIDs run `1..99999`.
pub const PID_MAX_DEFAULT: u32 = 99_999;

/// The largest `pid_max` accepted (Linux's `PID_MAX_LIMIT`, 2^22).
pub const PID_MAX_LIMIT: u32 = 4_194_304;

/// The smallest `pid_max` accepted (FreeBSD's floor for the `kern.pid_max`
/// tunable); it keeps `randompid`'s upper clamp, `pid_max - 100`, at 200 or
/// more.
pub const PID_MAX_MIN: u32 = 300;

/// Where an ordinary search restarts after reaching `pid_max`: 0 is the
/// kernel's and 1 is init's for ever.
const WRAP_PID: u32 = 2;

/// The lowest PID a [`PidFlags::HIGH`] allocation hands out.
const HIGH_PID_FLOOR: u32 = 10;

/// A process ID.
///
/// At most [`PID_MAX_LIMIT`]` - 1`; [`Pid::KERNEL`] (0) and [`Pid::INIT`]
/// (1) are fixed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pid(u32);

impl Pid {
    /// The kernel's own "process" (FreeBSD's proc0, the swapper).
    pub const KERNEL: Pid = Pid(0);
    /// The first user process; the first ordinary allocation gets it.
    pub const INIT: Pid = Pid(1);

    /// The PID numbered `raw`, if it is below [`PID_MAX_LIMIT`] (for
    /// numbers that come from user space: `kill`, `wait4`, ...).
    pub const fn new(raw: u32) -> Option<Pid> {
        if raw < PID_MAX_LIMIT {
            Some(Pid(raw))
        } else {
            None
        }
    }

    /// The number.
    pub const fn as_u32(self) -> u32 {
        self.0
    }

    /// The number as a `pid_t` (the Linux ABI's `int`); lossless because
    /// PIDs are below [`PID_MAX_LIMIT`].
    pub const fn as_i32(self) -> i32 {
        self.0 as i32
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Every PID from 1 (or 10, for [`PidFlags::HIGH`]) to `pid_max - 1` is
/// taken, or reserved as a process-group, session or reaper id. Fork
/// reports it as `EAGAIN`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exhausted;

impl fmt::Display for Exhausted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no free process ID")
    }
}

/// How to allocate a PID.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PidFlags {
    /// FreeBSD's `RFHIGHPID`, for processes started at boot: no PID below
    /// 10, no random offset, and `lastpid` does not move.
    pub high: bool,
}

impl PidFlags {
    /// An ordinary fork.
    pub const NONE: PidFlags = PidFlags { high: false };
    /// `RFHIGHPID`.
    pub const HIGH: PidFlags = PidFlags { high: true };
}

/// What else a number can be in use as, besides a live process's PID.
///
/// Such a number must not be handed out as a new PID, or the new process
/// would look like a member or leader of a group, session or reaper subtree
/// it has nothing to do with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdKind {
    /// A process-group id (`setpgid`, `setsid`).
    ProcessGroup,
    /// A session id (`setsid`).
    Session,
    /// The id of a reaper's subtree (`procctl(PROC_REAP_ACQUIRE)`).
    Reaper,
}

/// A fixed-size bitmap of atomic words; bit `n` is id `n`.
struct IdBitmap {
    words: Box<[AtomicU64]>,
}

impl IdBitmap {
    fn new(bits: u32) -> Self {
        let words = bits.div_ceil(64) as usize;
        Self {
            words: (0..words).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn word(&self, id: u32) -> &AtomicU64 {
        &self.words[(id / 64) as usize]
    }

    fn test(&self, id: u32) -> bool {
        // Relaxed: a snapshot. `PidMap::reserved` needs more than that and
        // gets it from the Acquire claim made just before (see `claim`);
        // `is_allocated` only reports.
        self.word(id).load(Ordering::Relaxed) & bit(id) != 0
    }
}

/// The mask of `id` within its word.
const fn bit(id: u32) -> u64 {
    1 << (id % 64)
}

/// The PID allocator: which PIDs are live, which numbers are reserved as
/// other ids, and the `lastpid`/`randompid` state of FreeBSD's allocator.
///
/// Every method takes `&self` and none locks; the kernel keeps one map for
/// the whole system in a static once-cell, built at boot with `pid_max`
/// from the command line.
pub struct PidMap {
    /// Bit `n` set: PID `n` belongs to a live (or zombie) process.
    pids: IdBitmap,
    process_groups: IdBitmap,
    sessions: IdBitmap,
    reapers: IdBitmap,
    /// PIDs are below this; between [`PID_MAX_MIN`] and [`PID_MAX_LIMIT`].
    pid_max: u32,
    /// `kern.lastpid`: the PID most recently handed out without
    /// [`PidFlags::HIGH`], 0 before the first. A hint where to search next.
    lastpid: AtomicU32,
    /// `kern.randompid`: the effective modulus of the random offset, 0 off.
    randompid: AtomicI32,
    /// Where random offsets and the random `randompid` modulus come from.
    random: fn() -> u64,
}

impl PidMap {
    /// An empty map for PIDs below `pid_max`, clamped to
    /// [`PID_MAX_MIN`]`..=`[`PID_MAX_LIMIT`] as FreeBSD clamps its
    /// `kern.pid_max` tunable. `random` supplies the randomness of
    /// `kern.randompid` (the kernel passes `arch::cpu::random::u64`).
    pub fn new(pid_max: u32, random: fn() -> u64) -> Self {
        Self::with_bound(pid_max.clamp(PID_MAX_MIN, PID_MAX_LIMIT), random)
    }

    fn with_bound(pid_max: u32, random: fn() -> u64) -> Self {
        Self {
            pids: IdBitmap::new(pid_max),
            process_groups: IdBitmap::new(pid_max),
            sessions: IdBitmap::new(pid_max),
            reapers: IdBitmap::new(pid_max),
            pid_max,
            lastpid: AtomicU32::new(0),
            randompid: AtomicI32::new(0),
            random,
        }
    }

    /// PIDs are below this.
    pub fn pid_max(&self) -> u32 {
        self.pid_max
    }

    /// Allocates a PID (FreeBSD's `fork_findpid`).
    ///
    /// The search starts at `lastpid + 1`, plus a random offset below
    /// `randompid` when that is on, or at `max(lastpid + 1, 10)` for
    /// [`PidFlags::HIGH`]. It takes the first free number that is not a
    /// process-group, session or reaper id, wrapping once to 2 (10 for
    /// `HIGH`) at `pid_max`. Without `HIGH`, `lastpid` becomes the result.
    ///
    /// Lock-free: a claim lost to another CPU retries at the next free bit.
    /// `Exhausted` means the map was seen full over one complete pass; with
    /// PIDs freed concurrently that is a transient state, as `EAGAIN` is.
    pub fn alloc(&self, flags: PidFlags) -> Result<Pid, Exhausted> {
        // Relaxed: `lastpid` and `randompid` are plain numbers that only
        // choose where the search starts; no other memory is published
        // through them, and any value either can hold is a valid start.
        let lastpid = self.lastpid.load(Ordering::Relaxed);
        let (mut trypid, floor) = if flags.high {
            ((lastpid + 1).max(HIGH_PID_FLOOR), HIGH_PID_FLOOR)
        } else {
            let randompid = self.randompid.load(Ordering::Relaxed);
            // Only positive values draw; `set_randompid` stores a negative
            // one only for a test map below PID_MAX_MIN.
            let offset = match u64::try_from(randompid) {
                Ok(modulus) if modulus > 0 => ((self.random)() % modulus) as u32,
                _ => 0,
            };
            (lastpid + 1 + offset, WRAP_PID)
        };
        // A search that starts at or below the wrap point covers the whole
        // range in its first pass.
        let mut wrapped = trypid <= floor;
        loop {
            if trypid >= self.pid_max {
                if wrapped {
                    return Err(Exhausted);
                }
                wrapped = true;
                trypid = floor;
            }
            let Some(pid) = self.claim(trypid) else {
                trypid = self.pid_max;
                continue;
            };
            if self.reserved(pid) {
                // Relaxed: this claim published nothing and nothing is
                // published by undoing it. A clear RMW keeps the word's
                // release sequence going, so the next claimer of `pid`
                // still synchronises with the last `free` of it.
                self.pids.word(pid).fetch_and(!bit(pid), Ordering::Relaxed);
                trypid = pid + 1;
                continue;
            }
            if !flags.high {
                // Relaxed: a hint (see the load above). Racing allocators
                // may store out of order and move `lastpid` back a little;
                // the next search then starts at bits already set and
                // skips them, which costs time, never correctness.
                self.lastpid.store(pid, Ordering::Relaxed);
            }
            return Ok(Pid(pid));
        }
    }

    /// Claims the first clear bit of the PID map at or above `from` (which
    /// is below `pid_max`) by setting it; `None` if every bit up to
    /// `pid_max` looked set.
    fn claim(&self, from: u32) -> Option<u32> {
        let last = ((self.pid_max - 1) / 64) as usize;
        let tail = match self.pid_max % 64 {
            0 => u64::MAX,
            used => (1 << used) - 1,
        };
        let mut mask = u64::MAX << (from % 64);
        for index in (from / 64) as usize..=last {
            if index == last {
                mask &= tail;
            }
            let word = &self.pids.words[index];
            // Relaxed: only a guess which bits are clear; the fetch_or
            // decides.
            let mut seen = word.load(Ordering::Relaxed);
            loop {
                let free = !seen & mask;
                if free == 0 {
                    break;
                }
                let offset = free.trailing_zeros();
                let claimed = 1u64 << offset;
                // Acquire: pairs with the Release of `free`. If the bit was
                // clear because its last owner freed it, everything that
                // owner did first (its process-group, session and reaper ids
                // set in the maps) is visible to `reserved` below. The RMW
                // reads the latest value of the word, so two claims of one
                // bit cannot both see it clear: no PID is handed out twice.
                // Only the claimed bit of the result is used, so this is one
                // `lock bts`, not a compare-exchange loop.
                if word.fetch_or(claimed, Ordering::Acquire) & claimed == 0 {
                    return Some(index as u32 * 64 + offset);
                }
                // Lost the race for this bit: it is set now, so a fresh look
                // at the word tries the next clear one.
                seen = word.load(Ordering::Relaxed);
            }
            mask = u64::MAX;
        }
        None
    }

    /// Claims exactly `pid` (clone3's `set_tid`, Linux's `alloc_pid` with
    /// a requested number): `None` if it is 0 or not below `pid_max`, if
    /// a process has it, or if it is in use as a process-group, session
    /// or reaper id. `lastpid` is left alone.
    pub fn alloc_exact(&self, pid: u32) -> Option<Pid> {
        if pid == 0 || pid >= self.pid_max {
            return None;
        }
        let word = self.pids.word(pid);
        // Acquire: as the claim in `claim`, so `reserved` below sees the
        // ids a previous owner of the number set.
        if word.fetch_or(bit(pid), Ordering::Acquire) & bit(pid) != 0 {
            return None;
        }
        if self.reserved(pid) {
            // Release: as in `free` (nothing was published under it).
            word.fetch_and(!bit(pid), Ordering::Release);
            return None;
        }
        Some(Pid(pid))
    }

    /// Whether `id` is in use as a process-group, session or reaper id.
    /// Called with `id` claimed in the PID map, which orders these loads
    /// after every `set_id` of `id` (see `set_id`).
    fn reserved(&self, id: u32) -> bool {
        self.process_groups.test(id) || self.sessions.test(id) || self.reapers.test(id)
    }

    /// Frees `pid` (at exit, once it can no longer be looked up).
    ///
    /// # Panics
    /// If `pid` is not allocated: a double free is a kernel bug.
    pub fn free(&self, pid: Pid) {
        assert!(
            pid.0 < self.pid_max,
            "free of PID {pid} >= pid_max {}",
            self.pid_max
        );
        // Release: pairs with the Acquire claim in `claim`, so the next owner
        // of this number sees everything done before this free, in
        // particular the process-group, session and reaper ids this process
        // set, and never mistakes such an id for a free PID.
        let before = self
            .pids
            .word(pid.0)
            .fetch_and(!bit(pid.0), Ordering::Release);
        assert!(
            before & bit(pid.0) != 0,
            "free of PID {pid}, which is not allocated"
        );
    }

    /// Whether `pid` belongs to a process.
    pub fn is_allocated(&self, pid: Pid) -> bool {
        pid.0 < self.pid_max && self.pids.test(pid.0)
    }

    fn ids(&self, kind: IdKind) -> &IdBitmap {
        match kind {
            IdKind::ProcessGroup => &self.process_groups,
            IdKind::Session => &self.sessions,
            IdKind::Reaper => &self.reapers,
        }
    }

    /// The numbers set in one bitmap, in order: live PIDs (and TIDs) for
    /// `None`, else the `kind` ids. A snapshot word by word, for
    /// `sysctl debug.check` (`super::check`).
    pub fn set_ids(&self, kind: Option<IdKind>) -> impl Iterator<Item = Pid> + '_ {
        let map = kind.map_or(&self.pids, |k| self.ids(k));
        map.words.iter().enumerate().flat_map(|(i, word)| {
            // Relaxed: a snapshot (see `IdBitmap::test`).
            let mut bits = word.load(Ordering::Relaxed);
            core::iter::from_fn(move || {
                let b = bits.trailing_zeros();
                (b < 64).then(|| {
                    bits &= bits - 1;
                    Pid(i as u32 * 64 + b)
                })
            })
        })
    }

    /// Records that the number `id` is in use as a `kind` id, so no new
    /// process gets it as its PID until [`clear_id`](Self::clear_id).
    ///
    /// `id` must be the PID of a live process (the new group's or
    /// session's leader, or the reaper) and this call must happen before
    /// that process's PID is freed: by the process itself, or under the lock
    /// its exit also takes. That holds for every such id, which is always
    /// created as the PID of an existing process.
    ///
    /// # Panics
    /// If `id` is already in use as a `kind` id.
    pub fn set_id(&self, kind: IdKind, id: Pid) {
        debug_assert!(self.is_allocated(id), "{kind:?} id {id} is not a live PID");
        // Relaxed: while `id` is a live PID no allocator looks at this bit
        // except to find it set; the next allocator to claim `id` does so
        // after the `free` (Release) that follows this store, and the claim
        // (Acquire) makes the store visible.
        let before = self
            .ids(kind)
            .word(id.0)
            .fetch_or(bit(id.0), Ordering::Relaxed);
        assert!(before & bit(id.0) == 0, "{kind:?} id {id} set twice");
    }

    /// Whether `id` is recorded as a live `kind` id.
    pub fn has_id(&self, kind: IdKind, id: Pid) -> bool {
        id.0 < self.pid_max && self.ids(kind).test(id.0)
    }

    /// Records that `id` is no longer in use as a `kind` id (the group,
    /// session or reaper subtree is gone).
    ///
    /// # Panics
    /// If `id` is not in use as a `kind` id.
    pub fn clear_id(&self, kind: IdKind, id: Pid) {
        // Relaxed: an allocator that still sees the bit set only skips a
        // number it could have used.
        let before = self
            .ids(kind)
            .word(id.0)
            .fetch_and(!bit(id.0), Ordering::Relaxed);
        assert!(
            before & bit(id.0) != 0,
            "{kind:?} id {id} cleared but not set"
        );
    }

    /// Sets `kern.randompid` and returns the value in effect: 0 turns the
    /// random offset off; 1 picks a random modulus in 100..=1123; negative
    /// or above `pid_max - 100` becomes `pid_max - 100`; below 100 becomes
    /// 100; anything else is taken as is.
    pub fn set_randompid(&self, requested: i32) -> i32 {
        let ceiling = self.pid_max as i32 - 100;
        let effective = match requested {
            0 => 0,
            1 => 100 + ((self.random)() % 1024) as i32,
            r if r < 0 || r > ceiling => ceiling,
            r if r < 100 => 100,
            r => r,
        };
        // Relaxed: a tuning number, read as such by `alloc`; a concurrent
        // fork may use the old or the new value.
        self.randompid.store(effective, Ordering::Relaxed);
        effective
    }

    /// `kern.randompid`: the random-offset modulus in effect (0: off).
    pub fn randompid(&self) -> i32 {
        // Relaxed: see `set_randompid`.
        self.randompid.load(Ordering::Relaxed)
    }

    /// `kern.lastpid`: the last PID handed out without
    /// [`PidFlags::HIGH`] ([`Pid::KERNEL`] before the first).
    pub fn lastpid(&self) -> Pid {
        // Relaxed: see `alloc`.
        Pid(self.lastpid.load(Ordering::Relaxed))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, Barrier};

    #[test]
    fn set_ids_lists_each_bitmap_in_order() {
        let map = PidMap::new(1000, || 0);
        let a = map.alloc(PidFlags::NONE).unwrap();
        let b = map.alloc(PidFlags::NONE).unwrap();
        let high = map.alloc_exact(700).unwrap();
        map.set_id(IdKind::Session, b);
        let pids: Vec<Pid> = map.set_ids(None).collect();
        assert_eq!(pids, [a, b, high]);
        let sessions: Vec<Pid> = map.set_ids(Some(IdKind::Session)).collect();
        assert_eq!(sessions, [b]);
        assert_eq!(map.set_ids(Some(IdKind::Reaper)).count(), 0);
    }

    #[test]
    fn alloc_exact_takes_only_a_free_unreserved_number() {
        let map = PidMap::new(PID_MAX_MIN, no_random);
        assert_eq!(map.alloc_exact(0), None);
        assert_eq!(map.alloc_exact(PID_MAX_MIN), None, "not below pid_max");
        let p = map.alloc_exact(100).expect("a free number");
        assert_eq!(p.as_u32(), 100);
        assert!(map.is_allocated(p));
        assert_eq!(map.alloc_exact(100), None, "taken");
        map.set_id(IdKind::ProcessGroup, p);
        map.free(p);
        assert_eq!(map.alloc_exact(100), None, "a process group's number");
        assert!(!map.is_allocated(p), "a refused claim is undone");
        map.clear_id(IdKind::ProcessGroup, p);
        assert_eq!(map.alloc_exact(100), Some(p));
        assert_eq!(map.lastpid().as_u32(), 0, "lastpid untouched");
    }

    fn no_random() -> u64 {
        panic!("randomness drawn while randompid is 0");
    }

    fn fixed_random() -> u64 {
        1234
    }

    fn alloc(map: &PidMap) -> u32 {
        map.alloc(PidFlags::NONE).expect("map full").as_u32()
    }

    /// A map with every PID from 1 to `pid_max - 1` allocated.
    fn full_map(random: fn() -> u64) -> PidMap {
        let map = PidMap::new(PID_MAX_MIN, random);
        for expected in 1..PID_MAX_MIN {
            assert_eq!(alloc(&map), expected);
        }
        map
    }

    #[test]
    fn first_pid_is_init_then_sequential() {
        let map = PidMap::new(PID_MAX_DEFAULT, no_random);
        assert_eq!(map.lastpid(), Pid::KERNEL);
        assert_eq!(map.alloc(PidFlags::NONE), Ok(Pid::INIT));
        assert_eq!(alloc(&map), 2);
        assert_eq!(alloc(&map), 3);
        assert!(map.is_allocated(Pid::INIT));
        assert!(!map.is_allocated(Pid::KERNEL));
    }

    #[test]
    fn lastpid_is_the_pid_handed_out() {
        let map = PidMap::new(PID_MAX_DEFAULT, no_random);
        for _ in 0..70 {
            let pid = map.alloc(PidFlags::NONE).unwrap();
            assert_eq!(map.lastpid(), pid);
        }
        assert_eq!(map.lastpid().as_u32(), 70);
    }

    #[test]
    fn search_starts_after_lastpid() {
        let map = PidMap::new(PID_MAX_DEFAULT, no_random);
        for _ in 1..=5 {
            alloc(&map);
        }
        map.free(Pid(2));
        map.free(Pid(4));
        assert_eq!(alloc(&map), 6, "a free PID below lastpid is not reused yet");
        map.free(Pid(6));
        assert_eq!(alloc(&map), 7);
    }

    #[test]
    fn search_skips_pids_in_use() {
        let map = full_map(no_random);
        // After the wrap the search crosses runs of live PIDs and the word
        // boundaries 63/64 and 127/128.
        let free = [63, 64, 127, 128, 200];
        for pid in free {
            map.free(Pid(pid));
        }
        for pid in free {
            assert_eq!(alloc(&map), pid);
        }
        assert_eq!(map.alloc(PidFlags::NONE), Err(Exhausted));
    }

    #[test]
    fn random_offset_is_added_to_the_search_start() {
        let map = PidMap::new(PID_MAX_DEFAULT, fixed_random);
        alloc(&map);
        assert_eq!(map.set_randompid(150), 150);
        // lastpid 1, offset 1234 % 150 = 34: the search starts at 36.
        assert_eq!(alloc(&map), 36);
        assert_eq!(map.lastpid().as_u32(), 36);
        assert_eq!(alloc(&map), 37 + 34);
    }

    #[test]
    fn random_offset_is_below_randompid() {
        fn counting() -> u64 {
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        }
        let map = PidMap::new(PID_MAX_DEFAULT, counting);
        map.set_randompid(100);
        let mut last = 0;
        for _ in 0..500 {
            let pid = alloc(&map);
            let step = pid - last;
            assert!((1..=100).contains(&step), "step {step} from {last}");
            last = pid;
        }
    }

    #[test]
    fn randompid_zero_draws_no_randomness() {
        let map = PidMap::new(PID_MAX_DEFAULT, no_random);
        assert_eq!(map.randompid(), 0);
        assert_eq!(map.set_randompid(0), 0);
        for expected in 1..=10 {
            assert_eq!(alloc(&map), expected);
        }
    }

    #[test]
    fn high_pid_is_never_below_ten_and_keeps_lastpid() {
        let map = PidMap::new(PID_MAX_DEFAULT, no_random);
        map.set_randompid(0);
        assert_eq!(map.alloc(PidFlags::HIGH).map(Pid::as_u32), Ok(10));
        assert_eq!(map.alloc(PidFlags::HIGH).map(Pid::as_u32), Ok(11));
        assert_eq!(map.lastpid(), Pid::KERNEL);
        assert_eq!(map.alloc(PidFlags::NONE), Ok(Pid::INIT));
        // Above 10, HIGH starts after lastpid like an ordinary search.
        for _ in 2..=20 {
            let _ = map.alloc(PidFlags::NONE);
        }
        let lastpid = map.lastpid();
        assert_eq!(
            map.alloc(PidFlags::HIGH).map(Pid::as_u32),
            Ok(lastpid.as_u32() + 1)
        );
        assert_eq!(map.lastpid(), lastpid);
    }

    #[test]
    fn high_pid_ignores_randompid() {
        let map = PidMap::new(PID_MAX_DEFAULT, fixed_random);
        map.set_randompid(500);
        assert_eq!(map.alloc(PidFlags::HIGH).map(Pid::as_u32), Ok(10));
    }

    #[test]
    fn wraps_to_two_at_pid_max() {
        let map = full_map(no_random);
        assert_eq!(map.lastpid().as_u32(), PID_MAX_MIN - 1);
        map.free(Pid::INIT);
        map.free(Pid(5));
        map.free(Pid(250));
        assert_eq!(alloc(&map), 5, "wrapped to 2, not to 1 and not to lastpid");
        assert_eq!(map.lastpid().as_u32(), 5);
        assert_eq!(alloc(&map), 250);
        assert_eq!(
            map.alloc(PidFlags::NONE),
            Err(Exhausted),
            "1 is init's for ever"
        );
    }

    #[test]
    fn random_offset_past_pid_max_wraps() {
        let map = PidMap::new(PID_MAX_MIN, fixed_random);
        map.set_randompid(200);
        // 1234 % 200 = 34 each time.
        for _ in 0..7 {
            alloc(&map);
        }
        assert_eq!(map.lastpid().as_u32(), 7 * 35);
        // 245 + 1 + 34 = 280 is free; next 281 + 34 = 315 wraps to 2.
        assert_eq!(alloc(&map), 280);
        assert_eq!(alloc(&map), 2);
    }

    #[test]
    fn high_pid_wraps_to_ten() {
        let map = full_map(no_random);
        map.free(Pid(3));
        map.free(Pid(12));
        assert_eq!(map.alloc(PidFlags::HIGH).map(Pid::as_u32), Ok(12));
        assert_eq!(map.alloc(PidFlags::HIGH), Err(Exhausted), "3 is below 10");
        assert_eq!(alloc(&map), 3);
        assert_eq!(map.lastpid().as_u32(), 3);
    }

    #[test]
    fn pgrp_session_and_reaper_ids_are_skipped() {
        let map = full_map(no_random);
        map.set_id(IdKind::ProcessGroup, Pid(3));
        map.set_id(IdKind::Session, Pid(4));
        map.set_id(IdKind::Reaper, Pid(5));
        for pid in 3..=6 {
            map.free(Pid(pid));
        }
        assert_eq!(alloc(&map), 6);
        assert_eq!(
            map.alloc(PidFlags::NONE),
            Err(Exhausted),
            "only reserved ids are free"
        );
        assert!(
            !map.is_allocated(Pid(3)),
            "a skipped id is not left claimed"
        );
        map.clear_id(IdKind::Session, Pid(4));
        assert_eq!(alloc(&map), 4);
        map.clear_id(IdKind::ProcessGroup, Pid(3));
        map.clear_id(IdKind::Reaper, Pid(5));
        assert_eq!(alloc(&map), 5);
        assert_eq!(alloc(&map), 3);
    }

    #[test]
    fn full_map_is_exhausted_until_a_free() {
        let map = full_map(no_random);
        assert_eq!(map.alloc(PidFlags::NONE), Err(Exhausted));
        assert_eq!(map.alloc(PidFlags::HIGH), Err(Exhausted));
        map.free(Pid(100));
        assert_eq!(alloc(&map), 100);
        assert_eq!(map.alloc(PidFlags::NONE), Err(Exhausted));
    }

    #[test]
    fn set_randompid_clamps_like_kern_randompid() {
        let map = PidMap::new(PID_MAX_DEFAULT, fixed_random);
        assert_eq!(map.set_randompid(0), 0);
        assert_eq!(map.set_randompid(1), 100 + 1234 % 1024);
        assert_eq!(map.randompid(), 310);
        assert_eq!(map.set_randompid(-1), 99_899);
        assert_eq!(map.set_randompid(i32::MIN), 99_899);
        assert_eq!(map.set_randompid(99_900), 99_899);
        assert_eq!(map.set_randompid(99_899), 99_899);
        assert_eq!(map.set_randompid(2), 100);
        assert_eq!(map.set_randompid(99), 100);
        assert_eq!(map.set_randompid(100), 100);
        assert_eq!(map.set_randompid(12_345), 12_345);
        assert_eq!(map.randompid(), 12_345);
    }

    #[test]
    fn randompid_one_picks_a_modulus_in_100_to_1123() {
        fn high() -> u64 {
            u64::MAX
        }
        fn low() -> u64 {
            1024 * 7
        }
        assert_eq!(PidMap::new(PID_MAX_DEFAULT, high).set_randompid(1), 1123);
        assert_eq!(PidMap::new(PID_MAX_DEFAULT, low).set_randompid(1), 100);
    }

    #[test]
    fn pid_max_is_clamped() {
        assert_eq!(PidMap::new(0, no_random).pid_max(), PID_MAX_MIN);
        assert_eq!(PidMap::new(u32::MAX, no_random).pid_max(), PID_MAX_LIMIT);
        assert_eq!(PidMap::new(PID_MAX_DEFAULT, no_random).pid_max(), 99_999);
    }

    #[test]
    fn largest_map_reaches_its_last_pid() {
        let map = PidMap::new(PID_MAX_LIMIT, no_random);
        // Fill all but the last word, then the tail.
        for _ in 1..PID_MAX_LIMIT - 70 {
            alloc(&map);
        }
        for expected in PID_MAX_LIMIT - 70..PID_MAX_LIMIT {
            assert_eq!(alloc(&map), expected);
        }
        assert_eq!(map.alloc(PidFlags::NONE), Err(Exhausted));
        map.free(Pid(PID_MAX_LIMIT - 1));
        assert_eq!(alloc(&map), PID_MAX_LIMIT - 1);
    }

    #[test]
    fn pid_max_not_a_multiple_of_64_never_hands_out_pid_max() {
        let map = PidMap::new(PID_MAX_DEFAULT, no_random);
        for _ in 1..PID_MAX_DEFAULT {
            alloc(&map);
        }
        assert_eq!(map.lastpid().as_u32(), PID_MAX_DEFAULT - 1);
        assert_eq!(map.alloc(PidFlags::NONE), Err(Exhausted));
        assert!(
            !map.pids.test(PID_MAX_DEFAULT),
            "a bit past pid_max was claimed"
        );
    }

    #[test]
    #[should_panic(expected = "not allocated")]
    fn double_free_panics() {
        let map = PidMap::new(PID_MAX_DEFAULT, no_random);
        let pid = map.alloc(PidFlags::NONE).unwrap();
        map.free(pid);
        map.free(pid);
    }

    #[test]
    #[should_panic(expected = "set twice")]
    fn setting_an_id_twice_panics() {
        let map = PidMap::new(PID_MAX_DEFAULT, no_random);
        let pid = map.alloc(PidFlags::NONE).unwrap();
        map.set_id(IdKind::Session, pid);
        map.set_id(IdKind::Session, pid);
    }

    #[test]
    fn pid_conversions_and_display() {
        let pid = Pid::new(4321).unwrap();
        assert_eq!(pid.as_u32(), 4321);
        assert_eq!(pid.as_i32(), 4321);
        assert_eq!(format!("{pid}"), "4321");
        assert_eq!(format!("{:>6}", Pid::INIT), "     1");
        assert_eq!(
            Pid::new(PID_MAX_LIMIT - 1).map(Pid::as_u32),
            Some(PID_MAX_LIMIT - 1)
        );
        assert_eq!(Pid::new(PID_MAX_LIMIT), None);
        assert_eq!(format!("{Exhausted}"), "no free process ID");
    }

    /// A `randompid` source for many threads at once.
    fn shared_random() -> u64 {
        static STATE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let z = STATE.fetch_add(0x9e37_79b9_7f4a_7c15, std::sync::atomic::Ordering::Relaxed);
        (z ^ (z >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9)
    }

    /// Threads allocate and free on a small, contended map: each keeps a
    /// window of PIDs and frees the oldest when it is full or the map is
    /// exhausted. `owned` catches a PID handed out while someone holds it;
    /// at the end the map must hold exactly the PIDs the threads kept.
    #[test]
    fn concurrent_alloc_and_free_never_hand_out_a_pid_twice() {
        const THREADS: usize = 4;
        const ROUNDS: usize = 500_000;
        const WINDOW: usize = 80;
        let map = Arc::new(PidMap::new(PID_MAX_MIN, shared_random));
        map.set_randompid(100);
        let owned: Arc<Vec<AtomicBool>> =
            Arc::new((0..PID_MAX_MIN).map(|_| AtomicBool::new(false)).collect());
        let start_line = Arc::new(Barrier::new(THREADS));
        let start = std::time::Instant::now();
        let threads: Vec<_> = (0..THREADS)
            .map(|thread| {
                let map = Arc::clone(&map);
                let owned = Arc::clone(&owned);
                let start_line = Arc::clone(&start_line);
                std::thread::spawn(move || {
                    start_line.wait();
                    let mut held = VecDeque::with_capacity(WINDOW);
                    let (mut ops, mut exhausted) = (0usize, 0usize);
                    for round in 0..ROUNDS {
                        let flags = PidFlags {
                            high: (round + thread) % 16 == 0,
                        };
                        let got = map.alloc(flags);
                        ops += 1;
                        match got {
                            Ok(pid) => {
                                // Relaxed is enough here: free's Release and
                                // the claim's Acquire order the previous
                                // owner's store(false) before this swap.
                                let was_owned =
                                    owned[pid.as_u32() as usize].swap(true, Ordering::Relaxed);
                                assert!(!was_owned, "PID {pid} handed out twice");
                                assert!(!flags.high || pid.as_u32() >= 10, "HIGH gave {pid}");
                                held.push_back(pid);
                            }
                            Err(Exhausted) => exhausted += 1,
                        }
                        if held.len() > WINDOW || (got.is_err() && !held.is_empty()) {
                            let pid = held.pop_front().unwrap();
                            owned[pid.as_u32() as usize].store(false, Ordering::Relaxed);
                            map.free(pid);
                            ops += 1;
                        }
                    }
                    (held, ops, exhausted)
                })
            })
            .collect();
        let mut still_held = vec![false; PID_MAX_MIN as usize];
        let (mut ops, mut exhausted) = (0, 0);
        for thread in threads {
            let (held, thread_ops, thread_exhausted) = thread.join().unwrap();
            ops += thread_ops;
            exhausted += thread_exhausted;
            for pid in held {
                still_held[pid.as_u32() as usize] = true;
            }
        }
        eprintln!(
            "{ops} operations ({exhausted} exhausted) in {:?}",
            start.elapsed()
        );
        assert!(ops >= 1_000_000);
        for pid in 0..PID_MAX_MIN {
            assert_eq!(
                map.is_allocated(Pid(pid)),
                still_held[pid as usize],
                "PID {pid} lost or leaked"
            );
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! Exhaustive interleavings (bounded by preemptions) of allocators on
    //! a map with PIDs 1..4: init holds 1, so 2 and 3 are contended.

    use super::*;
    use loom::sync::Arc;
    use std::sync::atomic::AtomicBool;

    /// PIDs 0..4: one word, and only 2 and 3 to share once init has 1.
    const TINY_PID_MAX: u32 = 4;

    fn no_random() -> u64 {
        unreachable!("randompid is 0 in the loom models")
    }

    /// Runs `f` under loom with at most `preemptions` forced thread
    /// switches per execution (`None`: every interleaving).
    fn model(preemptions: Option<usize>, f: impl Fn() + Send + Sync + 'static) {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = preemptions;
        builder.check(f);
    }

    /// Marks `pid` as held by the caller; panics if someone holds it.
    /// Plain std atomics: loom runs one thread at a time, so they need no
    /// modelling and add no interleavings.
    fn take(owned: &[AtomicBool], pid: Pid) -> Pid {
        let was_owned =
            owned[pid.as_u32() as usize].swap(true, std::sync::atomic::Ordering::SeqCst);
        assert!(!was_owned, "PID {pid} handed out twice");
        pid
    }

    fn give_back(owned: &[AtomicBool], map: &PidMap, pid: Pid) {
        owned[pid.as_u32() as usize].store(false, std::sync::atomic::Ordering::SeqCst);
        map.free(pid);
    }

    /// Whether the map holds exactly the PIDs in `held`.
    fn assert_map_holds(map: &PidMap, held: &[bool]) {
        for pid in 0..TINY_PID_MAX {
            assert_eq!(
                map.is_allocated(Pid(pid)),
                held[pid as usize],
                "PID {pid} lost or leaked"
            );
        }
    }

    fn tiny_map() -> PidMap {
        let map = PidMap::with_bound(TINY_PID_MAX, no_random);
        assert_eq!(map.alloc(PidFlags::NONE), Ok(Pid::INIT));
        map
    }

    /// Two threads each allocate two PIDs and free the first, so claims,
    /// frees, lost races, wrap-around and exhaustion all meet. No PID is
    /// held by two threads at once, and at the end the map holds exactly
    /// init plus the PIDs still held: nothing handed out twice, no freed
    /// PID lost.
    #[test]
    fn loom_alloc_and_free_are_exact() {
        model(Some(3), || {
            let map = Arc::new(tiny_map());
            let owned = Arc::new([const { AtomicBool::new(false) }; TINY_PID_MAX as usize]);
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let map = Arc::clone(&map);
                    let owned = Arc::clone(&owned);
                    loom::thread::spawn(move || {
                        let first = map.alloc(PidFlags::NONE).map(|pid| take(&*owned, pid));
                        let second = map.alloc(PidFlags::NONE).map(|pid| take(&*owned, pid));
                        if let Ok(pid) = first {
                            give_back(&*owned, &map, pid);
                        }
                        second.ok()
                    })
                })
                .collect();
            let mut held = [false; TINY_PID_MAX as usize];
            held[1] = true;
            for thread in threads {
                if let Some(pid) = thread.join().unwrap() {
                    held[pid.as_u32() as usize] = true;
                }
            }
            assert_map_holds(&map, &held);
        });
    }

    /// Three threads contend for the two free PIDs, each allocating one
    /// and freeing it: at least one must fail or wait for a free, none may
    /// share a PID, and the map ends with init alone.
    #[test]
    fn loom_three_threads_share_two_pids() {
        model(Some(2), || {
            let map = Arc::new(tiny_map());
            let owned = Arc::new([const { AtomicBool::new(false) }; TINY_PID_MAX as usize]);
            let threads: Vec<_> = (0..3)
                .map(|_| {
                    let map = Arc::clone(&map);
                    let owned = Arc::clone(&owned);
                    loom::thread::spawn(move || {
                        if let Ok(pid) = map.alloc(PidFlags::NONE) {
                            give_back(&*owned, &map, take(&*owned, pid));
                        }
                    })
                })
                .collect();
            for thread in threads {
                thread.join().unwrap();
            }
            assert_map_holds(&map, &[false, true, false, false]);
        });
    }

    /// A process sets its PID as a process-group id and exits; the group
    /// lives on. A concurrent allocator must never get that number, even
    /// when it claims the bit right after the exit's free: the free's
    /// Release and the claim's Acquire carry the group id to it.
    #[test]
    fn loom_freed_group_leader_pid_is_not_reused() {
        model(None, || {
            let map = Arc::new(tiny_map());
            let leader = map.alloc(PidFlags::NONE).unwrap();
            let other = {
                let map = Arc::clone(&map);
                loom::thread::spawn(move || {
                    let first = map.alloc(PidFlags::NONE).ok();
                    let second = map.alloc(PidFlags::NONE).ok();
                    [first, second]
                })
            };
            map.set_id(IdKind::ProcessGroup, leader);
            map.free(leader);
            for pid in other.join().unwrap().into_iter().flatten() {
                assert_ne!(pid, leader, "group id {leader} handed out as a PID");
            }
        });
    }
}
