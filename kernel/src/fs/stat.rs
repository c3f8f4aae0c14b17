//! `linux_dirent64` records (pure, host-tested); `struct stat` and the
//! file-type constants are the `abi` crate's (`abi::record`), re-exported.

use alloc::vec::Vec;

pub use abi::record::{
    DT_CHR, DT_DIR, DT_FIFO, DT_LNK, DT_REG, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG,
    STAT_SIZE, Stat, dtype, makedev,
};

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

/// Linux x86-64's `struct statfs` (`statfs`, `fstatfs`): 120 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatFs {
    /// The file system's magic number (`TMPFS_MAGIC`, ...).
    pub kind: u64,
    /// Block size, also `f_frsize`.
    pub bsize: u64,
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    /// `f_fsid`: the `st_dev` of the file system's files, in its first
    /// word.
    pub fsid: u32,
    pub namelen: u64,
    /// `ST_*` mount flags (`ST_VALID` always).
    pub flags: u64,
}

/// `statfs`'s magic numbers and flags (Linux's values).
pub mod statfs {
    pub const RAMFS_MAGIC: u64 = 0x8584_58f6;
    pub const TMPFS_MAGIC: u64 = 0x0102_1994;
    pub const PROC_SUPER_MAGIC: u64 = 0x9fa0;
    pub const PIPEFS_MAGIC: u64 = 0x5049_5045;
    pub const ANON_INODE_FS_MAGIC: u64 = 0x0904_1934;
    pub const ST_RDONLY: u64 = 1;
    pub const ST_NOSUID: u64 = 2;
    pub const ST_NODEV: u64 = 4;
    pub const ST_NOEXEC: u64 = 8;
    pub const ST_VALID: u64 = 0x20;
}

impl StatFs {
    pub const SIZE: usize = 120;

    /// The record as user memory holds it.
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0u8; Self::SIZE];
        let words = [
            self.kind,
            self.bsize,
            self.blocks,
            self.bfree,
            self.bavail,
            self.files,
            self.ffree,
            u64::from(self.fsid),
            self.namelen,
            self.bsize,
            self.flags,
        ];
        for (i, w) in words.iter().enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statfs_layout_matches_linux_x86_64() {
        let fs = StatFs {
            kind: statfs::TMPFS_MAGIC,
            bsize: 4096,
            blocks: 10,
            bfree: 7,
            bavail: 6,
            files: 100,
            ffree: 90,
            fsid: 2,
            namelen: 255,
            flags: statfs::ST_VALID,
        };
        let b = fs.to_bytes();
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
        assert_eq!(u64_at(0), 0x0102_1994);
        assert_eq!(u64_at(8), 4096);
        assert_eq!((u64_at(16), u64_at(24), u64_at(32)), (10, 7, 6));
        assert_eq!((u64_at(40), u64_at(48)), (100, 90));
        assert_eq!((u32_at(56), u32_at(60)), (2, 0));
        assert_eq!(u64_at(64), 255);
        assert_eq!(u64_at(72), 4096, "f_frsize");
        assert_eq!(u64_at(80), 0x20);
        assert!(b[88..].iter().all(|&x| x == 0), "f_spare");
    }

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
