//! `struct stat` (Linux x86-64, 144 bytes), `linux_dirent64` records and
//! the file-type constants (pure, host-tested).

use alloc::vec::Vec;

pub use super::cpio::{S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};

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

/// Appends one `linux_dirent64` record (`d_ino` u64, `d_off` i64,
/// `d_reclen` u16, `d_type` u8, the NUL-terminated name, padded to 8
/// bytes) to `out` if it fits in `limit` bytes in all; returns whether it
/// did.
pub fn push_dirent(
    out: &mut Vec<u8>,
    limit: usize,
    ino: u64,
    off: i64,
    dtype: u8,
    name: &[u8],
) -> bool {
    let reclen = (19 + name.len() + 1).next_multiple_of(8);
    if out.len() + reclen > limit {
        return false;
    }
    out.extend_from_slice(&ino.to_le_bytes());
    out.extend_from_slice(&off.to_le_bytes());
    out.extend_from_slice(&(reclen as u16).to_le_bytes());
    out.push(dtype);
    out.extend_from_slice(name);
    out.resize(out.len() + reclen - 19 - name.len(), 0);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_layout_matches_linux_x86_64() {
        let st = Stat {
            dev: 0x0102,
            ino: 0x1122_3344,
            nlink: 2,
            mode: S_IFREG | 0o644,
            uid: 5,
            gid: 6,
            rdev: makedev(5, 1),
            ..Stat::default()
        }
        .sized(1000);
        let b = st.to_bytes();
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
        assert_eq!(b.len(), 144);
        assert_eq!(u64_at(0), 0x0102);
        assert_eq!(u64_at(8), 0x1122_3344);
        assert_eq!(u64_at(16), 2);
        assert_eq!(u32_at(24), 0o100_644);
        assert_eq!(u32_at(28), 5);
        assert_eq!(u32_at(32), 6);
        assert_eq!(u64_at(40), 0x501);
        assert_eq!(u64_at(48), 1000);
        assert_eq!(u64_at(56), 4096);
        assert_eq!(u64_at(64), 2, "1000 bytes are two 512-byte blocks");
        assert!(b[72..].iter().all(|&x| x == 0));
        let timed = Stat {
            mtime_ns: 3_000_000_007,
            ..Stat::default()
        }
        .to_bytes();
        let u64_at = |o: usize| u64::from_le_bytes(timed[o..o + 8].try_into().unwrap());
        assert_eq!((u64_at(72), u64_at(80)), (0, 0), "atime");
        assert_eq!((u64_at(88), u64_at(96)), (3, 7), "mtime: seconds, ns");
    }

    #[test]
    fn dirents_are_aligned_and_bounded() {
        let mut out = Vec::new();
        assert!(push_dirent(&mut out, 64, 7, 1, DT_REG, b"init"));
        assert_eq!(out.len(), 24, "19 + 5 bytes is exactly 24");
        assert_eq!(u16::from_le_bytes([out[16], out[17]]), 24);
        assert_eq!(out[18], DT_REG);
        assert_eq!(&out[19..24], b"init\0");
        assert!(push_dirent(&mut out, 64, 8, 2, DT_DIR, b"a"));
        assert_eq!(out.len(), 48, "19 + 2 rounds up to 24");
        assert!(!push_dirent(&mut out, 64, 9, 3, DT_DIR, b"b"));
        assert_eq!(out.len(), 48, "a record that does not fit is not written");
        assert_eq!(dtype(S_IFDIR | 0o755), DT_DIR);
        assert_eq!(dtype(S_IFIFO), DT_FIFO);
        assert_eq!(dtype(S_IFCHR), DT_CHR);
    }
}
