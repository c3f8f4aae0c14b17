//! Records the kernel writes to (or reads from) user memory, with their
//! byte layouts (little-endian, x86-64):
//!
//! - [`ForkEvent`]: one record of Tine's `forkevents` stream (24 bytes);
//! - [`Stat`]: Linux's `struct stat` (144 bytes), with the file-type bits
//!   and `getdents64`'s `d_type` values;
//! - [`Clone3Args`]: clone3's `struct clone_args` (64, 80 or 88 bytes by
//!   version);
//! - the records of Tine's information calls: [`ProcRecord`] (`proclist`,
//!   56 bytes), [`ThreadRecord`] (`threadlist`, 48), [`CpuRecord`]
//!   (`cpuinfo`, 64), [`MemRecord`] (`meminfo`, 104) and [`VmRecord`]
//!   (`vmstat`, 32). The kernel writes them with `to_bytes`; the shells,
//!   the fuzzer and the stress test read them with `from_bytes`.
//!
//! `siginfo_t` is [`crate::signal::SigInfo`].

// ---------------------------------------------------------------------------
// The fork event stream
// ---------------------------------------------------------------------------

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum EventKind {
    /// A process forked (`pid` the parent, `other` the child).
    Fork = 1,
    /// A process vforked: its system call waits for the child.
    Vfork = 2,
    /// A vfork child exec'd or exited: its parent goes on (`pid` the child,
    /// `other` the parent).
    VforkDone = 3,
    /// A process exec'd (`other` 0).
    Exec = 4,
    /// A process exited (`other` its wait status).
    Exit = 5,
}

impl EventKind {
    /// The kind numbered `n`, if there is one.
    pub const fn from_u32(n: u32) -> Option<EventKind> {
        Some(match n {
            1 => EventKind::Fork,
            2 => EventKind::Vfork,
            3 => EventKind::VforkDone,
            4 => EventKind::Exec,
            5 => EventKind::Exit,
            _ => return None,
        })
    }
}

/// One event, as user space reads it (24 bytes, little-endian):
/// `{ u32 kind, u32 flags, u32 pid, u32 other, u64 time_ns }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForkEvent {
    pub kind: EventKind,
    /// For forks: the rfork-style flag word of the request (`RFPROC`,
    /// `RFMEM`, `RFPPWAIT`, ...), else 0.
    pub flags: u32,
    pub pid: u32,
    pub other: u32,
    /// Nanoseconds since boot.
    pub time_ns: u64,
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from(u32_at(b, i)) | (u64::from(u32_at(b, i + 4)) << 32)
}

impl ForkEvent {
    /// Size of one event in user memory.
    pub const SIZE: usize = 24;

    /// The user-space layout.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0u8; Self::SIZE];
        out[0..4].copy_from_slice(&(self.kind as u32).to_le_bytes());
        out[4..8].copy_from_slice(&self.flags.to_le_bytes());
        out[8..12].copy_from_slice(&self.pid.to_le_bytes());
        out[12..16].copy_from_slice(&self.other.to_le_bytes());
        out[16..24].copy_from_slice(&self.time_ns.to_le_bytes());
        out
    }

    /// The raw fields of a record (`kind` as the number it holds): `(kind,
    /// flags, pid, other, time_ns)`; `None` when `b` is shorter than
    /// [`ForkEvent::SIZE`].
    pub fn fields(b: &[u8]) -> Option<(u32, u32, u32, u32, u64)> {
        (b.len() >= Self::SIZE).then(|| {
            (
                u32_at(b, 0),
                u32_at(b, 4),
                u32_at(b, 8),
                u32_at(b, 12),
                u64_at(b, 16),
            )
        })
    }

    /// Reads a record; `None` when it is short or of an unknown kind.
    pub fn from_bytes(b: &[u8]) -> Option<ForkEvent> {
        let (kind, flags, pid, other, time_ns) = Self::fields(b)?;
        Some(ForkEvent {
            kind: EventKind::from_u32(kind)?,
            flags,
            pid,
            other,
            time_ns,
        })
    }
}

// ---------------------------------------------------------------------------
// Tine's information calls (proclist, threadlist, cpuinfo, meminfo, vmstat)
// ---------------------------------------------------------------------------

/// Little-endian field writer of a fixed-size record.
struct Put<'a>(&'a mut [u8], usize);

impl Put<'_> {
    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0[self.1..self.1 + b.len()].copy_from_slice(b);
        self.1 += b.len();
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes(&v.to_le_bytes())
    }
}

/// A process or command name as records carry it: NUL-padded, cut at 32
/// bytes.
pub type Name = [u8; 32];

/// `name` cut to fit a record.
pub fn name(name: &str) -> Name {
    let mut out = [0u8; 32];
    let n = name.len().min(out.len());
    out[..n].copy_from_slice(&name.as_bytes()[..n]);
    out
}

/// The text of a record's name: up to the first NUL, and up to the last
/// whole UTF-8 character when the cut at 32 bytes split one.
pub fn name_str(name: &Name) -> &str {
    let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
    match core::str::from_utf8(&name[..end]) {
        Ok(s) => s,
        Err(e) => core::str::from_utf8(&name[..e.valid_up_to()]).unwrap_or(""),
    }
}

fn name_at(b: &[u8], at: usize) -> Name {
    let mut n = [0u8; 32];
    n.copy_from_slice(&b[at..at + 32]);
    n
}

/// One process of `proclist` (Tine 1007), 56 bytes: `{u32 pid, u32 ppid,
/// u32 pgid, u32 sid, u8 state, u8 pad, u16 threads, i32 last_cpu,
/// u8 name[32]}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcRecord {
    pub pid: u32,
    pub ppid: u32,
    pub pgid: u32,
    pub sid: u32,
    /// `R` queued or running, `S` every thread blocked, `T` stopped, `Z`
    /// zombie.
    pub state: u8,
    /// Live threads, at most 65535 (0 for a zombie).
    pub threads: u16,
    /// The CPU it last ran on, -1 before it ran.
    pub cpu: i32,
    pub name: Name,
}

impl ProcRecord {
    pub const SIZE: usize = 56;

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        Put(&mut b, 0)
            .u32(self.pid)
            .u32(self.ppid)
            .u32(self.pgid)
            .u32(self.sid)
            .bytes(&[self.state, 0])
            .bytes(&self.threads.to_le_bytes())
            .u32(self.cpu as u32)
            .bytes(&self.name);
        b
    }

    /// `None` when `b` is shorter than [`ProcRecord::SIZE`].
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        (b.len() >= Self::SIZE).then(|| Self {
            pid: u32_at(b, 0),
            ppid: u32_at(b, 4),
            pgid: u32_at(b, 8),
            sid: u32_at(b, 12),
            state: b[16],
            threads: u16::from_le_bytes([b[18], b[19]]),
            cpu: u32_at(b, 20) as i32,
            name: name_at(b, 24),
        })
    }
}

/// One thread of `threadlist` (Tine 1014), 48 bytes: `{u32 pid, u32 tid,
/// u8 state, u8 pad[3], i32 last_cpu, u8 name[32]}` (the process's
/// name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadRecord {
    pub pid: u32,
    pub tid: u32,
    /// `R` queued or running, `S` blocked, `T` its process stopped.
    pub state: u8,
    /// The CPU it last ran user code on, -1 before it did.
    pub cpu: i32,
    pub name: Name,
}

impl ThreadRecord {
    pub const SIZE: usize = 48;

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        Put(&mut b, 0)
            .u32(self.pid)
            .u32(self.tid)
            .bytes(&[self.state, 0, 0, 0])
            .u32(self.cpu as u32)
            .bytes(&self.name);
        b
    }

    /// `None` when `b` is shorter than [`ThreadRecord::SIZE`].
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        (b.len() >= Self::SIZE).then(|| Self {
            pid: u32_at(b, 0),
            tid: u32_at(b, 4),
            state: b[8],
            cpu: u32_at(b, 12) as i32,
            name: name_at(b, 16),
        })
    }
}

/// One CPU of `cpuinfo` (Tine 1008), 64 bytes: `{u32 cpu, u32 apic,
/// u64 polls, u64 spawned, u64 completed, u64 stolen, u64 ipis,
/// u32 queued, u32 live, u32 idle, u32 pad}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuRecord {
    pub cpu: u32,
    pub apic: u32,
    /// Task polls run on this CPU (user threads run inside polls).
    pub polls: u64,
    pub spawned: u64,
    pub completed: u64,
    pub stolen: u64,
    pub ipis: u64,
    /// Tasks in its run queues now.
    pub queued: u32,
    /// Live tasks whose home is this CPU.
    pub live: u32,
    /// Whether the CPU is halted.
    pub idle: bool,
}

impl CpuRecord {
    pub const SIZE: usize = 64;

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        Put(&mut b, 0)
            .u32(self.cpu)
            .u32(self.apic)
            .u64(self.polls)
            .u64(self.spawned)
            .u64(self.completed)
            .u64(self.stolen)
            .u64(self.ipis)
            .u32(self.queued)
            .u32(self.live)
            .u32(u32::from(self.idle))
            .u32(0);
        b
    }

    /// `None` when `b` is shorter than [`CpuRecord::SIZE`].
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        (b.len() >= Self::SIZE).then(|| Self {
            cpu: u32_at(b, 0),
            apic: u32_at(b, 4),
            polls: u64_at(b, 8),
            spawned: u64_at(b, 16),
            completed: u64_at(b, 24),
            stolen: u64_at(b, 32),
            ipis: u64_at(b, 40),
            queued: u32_at(b, 48),
            live: u32_at(b, 52),
            idle: u32_at(b, 56) != 0,
        })
    }
}

/// `meminfo` (Tine 1009), 104 bytes of thirteen `u64`s in this order. A
/// caller may ask for only the first [`MemRecord::MIN`] bytes (the frame
/// and heap figures).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemRecord {
    pub frames_total: u64,
    pub frames_free: u64,
    pub frames_used: u64,
    /// Heap bytes in live allocations.
    pub heap_allocated: u64,
    pub heap_allocations: u64,
    /// Bytes the heap holds from the frames (in use or free inside it).
    pub heap_claimed: u64,
    /// Process records (zombies included) and the heap they take.
    pub processes: u64,
    pub process_bytes: u64,
    /// Tasks and the heap they take.
    pub tasks: u64,
    pub task_bytes: u64,
    /// Page-table pages of the user address spaces.
    pub table_pages: u64,
    /// Descriptor tables and the heap they take.
    pub fd_tables: u64,
    pub fd_bytes: u64,
}

impl MemRecord {
    pub const SIZE: usize = 104;
    /// The shortest buffer `meminfo` fills: the first six fields.
    pub const MIN: usize = 48;

    fn fields(&self) -> [u64; 13] {
        [
            self.frames_total,
            self.frames_free,
            self.frames_used,
            self.heap_allocated,
            self.heap_allocations,
            self.heap_claimed,
            self.processes,
            self.process_bytes,
            self.tasks,
            self.task_bytes,
            self.table_pages,
            self.fd_tables,
            self.fd_bytes,
        ]
    }

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        let mut put = Put(&mut b, 0);
        for v in self.fields() {
            put.u64(v);
        }
        b
    }

    /// The fields `b` holds (at least [`MemRecord::MIN`] bytes; those it
    /// is too short for are 0); `None` when it is shorter.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() < Self::MIN {
            return None;
        }
        let f = |i: usize| {
            if b.len() >= i * 8 + 8 {
                u64_at(b, i * 8)
            } else {
                0
            }
        };
        Some(Self {
            frames_total: f(0),
            frames_free: f(1),
            frames_used: f(2),
            heap_allocated: f(3),
            heap_allocations: f(4),
            heap_claimed: f(5),
            processes: f(6),
            process_bytes: f(7),
            tasks: f(8),
            task_bytes: f(9),
            table_pages: f(10),
            fd_tables: f(11),
            fd_bytes: f(12),
        })
    }
}

/// The breakdown as both shells' `mem` prints it, one figure a line
/// (pages of 4 KiB).
impl core::fmt::Display for MemRecord {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let kib = |b: u64| b / 1024;
        let heap_other = self
            .heap_allocated
            .saturating_sub(self.process_bytes + self.task_bytes + self.fd_bytes);
        writeln!(
            f,
            "frames: {} free of {} ({} MiB of {} MiB), {} used",
            self.frames_free,
            self.frames_total,
            self.frames_free * 4 / 1024,
            self.frames_total * 4 / 1024,
            self.frames_used
        )?;
        writeln!(
            f,
            "heap:   {} KiB in use in {} allocations, {} KiB claimed ({} KiB free inside)",
            kib(self.heap_allocated),
            self.heap_allocations,
            kib(self.heap_claimed),
            kib(self.heap_claimed.saturating_sub(self.heap_allocated))
        )?;
        let part = |f: &mut core::fmt::Formatter<'_>, what: &str, bytes: u64, n: u64, of: &str| {
            writeln!(f, "  {what:<18} {:>8} KiB ({n} {of})", kib(bytes))
        };
        part(
            f,
            "process records:",
            self.process_bytes,
            self.processes,
            "processes",
        )?;
        part(f, "tasks:", self.task_bytes, self.tasks, "tasks")?;
        part(
            f,
            "descriptor tables:",
            self.fd_bytes,
            self.fd_tables,
            "tables",
        )?;
        writeln!(f, "  other heap:        {:>8} KiB", kib(heap_other))?;
        writeln!(
            f,
            "page tables:         {:>8} KiB ({} pages)",
            self.table_pages * 4,
            self.table_pages
        )
    }
}

/// `vmstat` (Tine 1012): the caller's page-fault counters, 32 bytes,
/// four `u64`s in this order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmRecord {
    /// Write faults that copied a shared page.
    pub cow_copies: u64,
    /// Write faults on a page no one else shared any more (made writable
    /// in place).
    pub cow_reuses: u64,
    /// First touches filled with a zeroed frame.
    pub zero_fills: u64,
    /// Every fault resolved.
    pub faults: u64,
}

impl VmRecord {
    pub const SIZE: usize = 32;

    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        Put(&mut b, 0)
            .u64(self.cow_copies)
            .u64(self.cow_reuses)
            .u64(self.zero_fills)
            .u64(self.faults);
        b
    }

    /// `None` when `b` is shorter than [`VmRecord::SIZE`].
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        (b.len() >= Self::SIZE).then(|| Self {
            cow_copies: u64_at(b, 0),
            cow_reuses: u64_at(b, 8),
            zero_fills: u64_at(b, 16),
            faults: u64_at(b, 24),
        })
    }

    /// The counts from `earlier` to `self`.
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            cow_copies: self.cow_copies.wrapping_sub(earlier.cow_copies),
            cow_reuses: self.cow_reuses.wrapping_sub(earlier.cow_reuses),
            zero_fills: self.zero_fills.wrapping_sub(earlier.zero_fills),
            faults: self.faults.wrapping_sub(earlier.faults),
        }
    }
}

// ---------------------------------------------------------------------------
// struct stat, file types, d_type
// ---------------------------------------------------------------------------

/// File-type bits of a mode (`S_IFMT`).
pub const S_IFMT: u32 = 0o170_000;
/// A regular file.
pub const S_IFREG: u32 = 0o100_000;
/// A directory.
pub const S_IFDIR: u32 = 0o040_000;
/// A symbolic link.
pub const S_IFLNK: u32 = 0o120_000;
/// A character device.
pub const S_IFCHR: u32 = 0o020_000;
/// A FIFO (a pipe).
pub const S_IFIFO: u32 = 0o010_000;

/// `d_type` values of `getdents64`.
pub const DT_FIFO: u8 = 1;
pub const DT_CHR: u8 = 2;
pub const DT_DIR: u8 = 4;
pub const DT_REG: u8 = 8;
pub const DT_LNK: u8 = 10;

/// The `d_type` for a mode's file type.
pub const fn dtype(mode: u32) -> u8 {
    match mode & S_IFMT {
        S_IFDIR => DT_DIR,
        S_IFREG => DT_REG,
        S_IFLNK => DT_LNK,
        S_IFCHR => DT_CHR,
        S_IFIFO => DT_FIFO,
        _ => 0,
    }
}

/// Linux's `makedev(major, minor)` for small numbers.
pub const fn makedev(major: u32, minor: u32) -> u64 {
    ((major as u64) << 8) | (minor as u64)
}

/// The fields of `struct stat` Tine fills (times in ns since 1970; only
/// tmpfs files have them, the rest are zero).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub size: i64,
    pub blksize: i64,
    pub blocks: i64,
    /// `st_atim`, `st_mtim`, `st_ctim` in ns since 1970.
    pub atime_ns: u64,
    pub mtime_ns: u64,
    pub ctime_ns: u64,
}

/// `sizeof(struct stat)` on x86-64.
pub const STAT_SIZE: usize = 144;

impl Stat {
    /// The bytes of Linux x86-64's `struct stat`: `st_dev` 0, `st_ino` 8,
    /// `st_nlink` 16, `st_mode` 24, `st_uid` 28, `st_gid` 32, padding 36,
    /// `st_rdev` 40, `st_size` 48, `st_blksize` 56, `st_blocks` 64, then
    /// three `timespec`s (72..120) and three reserved longs (120..144).
    pub fn to_bytes(&self) -> [u8; STAT_SIZE] {
        let mut b = [0u8; STAT_SIZE];
        b[0..8].copy_from_slice(&self.dev.to_le_bytes());
        b[8..16].copy_from_slice(&self.ino.to_le_bytes());
        b[16..24].copy_from_slice(&self.nlink.to_le_bytes());
        b[24..28].copy_from_slice(&self.mode.to_le_bytes());
        b[28..32].copy_from_slice(&self.uid.to_le_bytes());
        b[32..36].copy_from_slice(&self.gid.to_le_bytes());
        b[40..48].copy_from_slice(&self.rdev.to_le_bytes());
        b[48..56].copy_from_slice(&self.size.to_le_bytes());
        b[56..64].copy_from_slice(&self.blksize.to_le_bytes());
        b[64..72].copy_from_slice(&self.blocks.to_le_bytes());
        for (i, ns) in [self.atime_ns, self.mtime_ns, self.ctime_ns]
            .into_iter()
            .enumerate()
        {
            let at = 72 + 16 * i;
            b[at..at + 8].copy_from_slice(&(ns / 1_000_000_000).to_le_bytes());
            b[at + 8..at + 16].copy_from_slice(&(ns % 1_000_000_000).to_le_bytes());
        }
        b
    }

    /// A stat for a file of `size` bytes: `blksize` 4096 and `blocks` in
    /// 512-byte units, rounded up.
    pub fn sized(mut self, size: usize) -> Self {
        self.size = size as i64;
        self.blksize = 4096;
        self.blocks = size.div_ceil(512) as i64;
        self
    }
}

impl Stat {
    /// Reads the fields [`Stat::to_bytes`] writes (a user program's
    /// `fstat` result).
    pub fn from_bytes(b: &[u8; STAT_SIZE]) -> Stat {
        let u64_at = |i: usize| u64_at(b, i);
        Stat {
            dev: u64_at(0),
            ino: u64_at(8),
            nlink: u64_at(16),
            mode: u32_at(b, 24),
            uid: u32_at(b, 28),
            gid: u32_at(b, 32),
            rdev: u64_at(40),
            size: u64_at(48) as i64,
            blksize: u64_at(56) as i64,
            blocks: u64_at(64) as i64,
            atime_ns: u64_at(72) * 1_000_000_000 + u64_at(80),
            mtime_ns: u64_at(88) * 1_000_000_000 + u64_at(96),
            ctime_ns: u64_at(104) * 1_000_000_000 + u64_at(112),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_what_they_wrote() {
        let e = ForkEvent {
            kind: EventKind::VforkDone,
            flags: 0x14,
            pid: 7,
            other: 5,
            time_ns: 1 << 40,
        };
        assert_eq!(ForkEvent::from_bytes(&e.to_bytes()), Some(e));
        assert_eq!(ForkEvent::from_bytes(&[0; 23]), None);
        let mut b = e.to_bytes();
        b[0] = 9;
        assert_eq!(ForkEvent::from_bytes(&b), None);
        let st = Stat {
            dev: 2,
            ino: 99,
            nlink: 1,
            mode: S_IFREG | 0o644,
            uid: 1000,
            gid: 1000,
            rdev: makedev(5, 1),
            mtime_ns: 1_700_000_000_123_456_789,
            ..Stat::default()
        }
        .sized(5000);
        assert_eq!(st.blocks, 10);
        assert_eq!(Stat::from_bytes(&st.to_bytes()), st);
        assert_eq!(dtype(S_IFDIR | 0o755), DT_DIR);
    }

    #[test]
    fn info_records_read_back_what_they_wrote() {
        let p = ProcRecord {
            pid: 7,
            ppid: 1,
            pgid: 7,
            sid: 1,
            state: b'S',
            threads: 3,
            cpu: -1,
            name: name("sh"),
        };
        let b = p.to_bytes();
        assert_eq!(&b[..8], &[7, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!((b[16], b[18], &b[20..24]), (b'S', 3, &[0xff; 4][..]));
        assert_eq!(ProcRecord::from_bytes(&b), Some(p));
        assert_eq!(ProcRecord::from_bytes(&b[..55]), None);
        let t = ThreadRecord {
            pid: 7,
            tid: 9,
            state: b'R',
            cpu: 2,
            name: name("a-name-longer-than-thirty-two-bytes"),
        };
        assert_eq!(ThreadRecord::from_bytes(&t.to_bytes()), Some(t));
        assert_eq!(name_str(&t.name), "a-name-longer-than-thirty-two-by");
        let c = CpuRecord {
            cpu: 1,
            apic: 1,
            polls: 5,
            ipis: 1 << 33,
            live: 4,
            idle: true,
            ..CpuRecord::default()
        };
        assert_eq!(CpuRecord::from_bytes(&c.to_bytes()), Some(c));
        let m = MemRecord {
            frames_total: 1 << 17,
            frames_free: 1000,
            heap_claimed: 4096,
            fd_bytes: 77,
            ..MemRecord::default()
        };
        let b = m.to_bytes();
        assert_eq!(u64_at(&b, 96), 77);
        assert_eq!(MemRecord::from_bytes(&b), Some(m));
        let short = MemRecord::from_bytes(&b[..MemRecord::MIN]).unwrap();
        assert_eq!((short.heap_claimed, short.fd_bytes), (4096, 0));
        assert_eq!(MemRecord::from_bytes(&b[..47]), None);
        let v = VmRecord {
            cow_copies: 3,
            faults: 10,
            ..VmRecord::default()
        };
        assert_eq!(VmRecord::from_bytes(&v.to_bytes()), Some(v));
        assert_eq!(v.since(&VmRecord { faults: 4, ..v }).faults, 6);
    }

    #[test]
    fn a_name_cut_inside_a_character_keeps_the_whole_ones() {
        // 31 ASCII bytes and a 2-byte character: the cut leaves half of it.
        let long = "abcdefghijklmnopqrstuvwxyz01234\u{e9}";
        assert_eq!(name_str(&name(long)), "abcdefghijklmnopqrstuvwxyz01234");
        assert_eq!(name_str(&name("")), "");
    }
}

// ---- clone3(2)'s `struct clone_args` ----

/// The first published `struct clone_args` (up to `tls`).
pub const CLONE_ARGS_SIZE_VER0: usize = 64;
/// With `set_tid` and `set_tid_size`.
pub const CLONE_ARGS_SIZE_VER1: usize = 80;
/// With `cgroup`: the `struct clone_args` Tine knows.
pub const CLONE_ARGS_SIZE_VER2: usize = 88;
/// The most a caller may pass (Linux: a page).
pub const CLONE_ARGS_SIZE_MAX: usize = 4096;

/// Linux's `struct clone_args` (every field a `u64`, in this order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Clone3Args {
    pub flags: u64,
    /// Where `CLONE_PIDFD` stores the pidfd (an `int`).
    pub pidfd: u64,
    /// `CLONE_CHILD_SETTID` / `CLONE_CHILD_CLEARTID` address.
    pub child_tid: u64,
    /// `CLONE_PARENT_SETTID` address.
    pub parent_tid: u64,
    /// The exit signal (not in `flags`, unlike clone's).
    pub exit_signal: u64,
    /// The lowest address of the child's stack (0: the parent's).
    pub stack: u64,
    pub stack_size: u64,
    /// `CLONE_SETTLS`'s value.
    pub tls: u64,
    /// Address of `set_tid_size` PIDs to give the child.
    pub set_tid: u64,
    pub set_tid_size: u64,
    /// `CLONE_INTO_CGROUP`'s cgroup directory descriptor.
    pub cgroup: u64,
}

impl Clone3Args {
    /// Reads the first `bytes.len()` bytes of a `struct clone_args`
    /// (fields past the end are 0: an older, smaller struct). Linux's
    /// `copy_struct_from_user`: a larger struct whose extra bytes are not
    /// all zero is `E2BIG` (a field this kernel does not know); the size
    /// checks (`EINVAL` below version 0, `E2BIG` past a page) are the
    /// caller's (the kernel's `clone3`).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, crate::Errno> {
        if bytes.len() > CLONE_ARGS_SIZE_VER2
            && bytes[CLONE_ARGS_SIZE_VER2..].iter().any(|&b| b != 0)
        {
            return Err(crate::Errno::E2BIG);
        }
        let mut raw = [0u8; CLONE_ARGS_SIZE_VER2];
        let n = bytes.len().min(CLONE_ARGS_SIZE_VER2);
        raw[..n].copy_from_slice(&bytes[..n]);
        let field = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&raw[i * 8..i * 8 + 8]);
            u64::from_le_bytes(w)
        };
        Ok(Self {
            flags: field(0),
            pidfd: field(1),
            child_tid: field(2),
            parent_tid: field(3),
            exit_signal: field(4),
            stack: field(5),
            stack_size: field(6),
            tls: field(7),
            set_tid: field(8),
            set_tid_size: field(9),
            cgroup: field(10),
        })
    }
}
