//! Records the kernel writes to (or reads from) user memory, with their
//! byte layouts (little-endian, x86-64):
//!
//! - [`ForkEvent`]: one record of Tine's `forkevents` stream (24 bytes);
//! - [`Stat`]: Linux's `struct stat` (144 bytes), with the file-type bits
//!   and `getdents64`'s `d_type` values;
//! - [`Clone3Args`]: clone3's `struct clone_args` (64, 80 or 88 bytes by
//!   version).
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
