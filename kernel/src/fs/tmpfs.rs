//! A small writable in-memory file system, mounted at `/tmp`
//! (host-tested).
//!
//! A [`TmpNode`] is a directory (a sorted map from name to node) or a
//! regular file (a byte vector), reference-counted: an open file keeps its
//! node alive after `unlink`, as POSIX requires. Each node has its own spin
//! lock, held for one map or vector operation (never across an await).
//! Files grow up to [`MAX_FILE`] bytes (`EFBIG` beyond). No hard links,
//! symbolic links, renames or `rmdir` yet; file times are zero.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::stat::{S_IFDIR, S_IFREG, Stat, dtype};
use crate::syscall::Errno;

/// Largest file, in bytes.
pub const MAX_FILE: usize = 4 << 20;
/// `st_dev` of `/tmp`.
pub const TMP_DEV: u64 = 2;

/// What a node holds.
enum Contents {
    Dir(spin::Mutex<BTreeMap<String, Arc<TmpNode>>>),
    File(spin::Mutex<Vec<u8>>),
}

/// A file or directory of the tmpfs (module docs).
pub struct TmpNode {
    ino: u64,
    perm: AtomicU32,
    contents: Contents,
}

/// Inode numbers; the root is 1.
static NEXT_INO: AtomicU64 = AtomicU64::new(2);

fn next_ino() -> u64 {
    // Relaxed: a unique number, nothing is published through it.
    NEXT_INO.fetch_add(1, Ordering::Relaxed)
}

impl TmpNode {
    /// An empty directory with permissions `perm` (the root gets inode 1).
    pub fn new_dir(perm: u32) -> Arc<Self> {
        Arc::new(Self {
            ino: next_ino(),
            perm: AtomicU32::new(perm & 0o7777),
            contents: Contents::Dir(spin::Mutex::new(BTreeMap::new())),
        })
    }

    fn new_file(perm: u32) -> Arc<Self> {
        Arc::new(Self {
            ino: next_ino(),
            perm: AtomicU32::new(perm & 0o7777),
            contents: Contents::File(spin::Mutex::new(Vec::new())),
        })
    }

    pub fn ino(&self) -> u64 {
        self.ino
    }

    pub fn is_dir(&self) -> bool {
        matches!(self.contents, Contents::Dir(_))
    }

    fn children(&self) -> Result<&spin::Mutex<BTreeMap<String, Arc<TmpNode>>>, Errno> {
        match &self.contents {
            Contents::Dir(children) => Ok(children),
            Contents::File(_) => Err(Errno::ENOTDIR),
        }
    }

    fn data(&self) -> Result<&spin::Mutex<Vec<u8>>, Errno> {
        match &self.contents {
            Contents::File(data) => Ok(data),
            Contents::Dir(_) => Err(Errno::EISDIR),
        }
    }

    /// The node `name` in this directory.
    pub fn lookup(&self, name: &str) -> Result<Arc<TmpNode>, Errno> {
        self.children()?
            .lock()
            .get(name)
            .cloned()
            .ok_or(Errno::ENOENT)
    }

    /// Walks `components` down from this directory.
    pub fn walk<'a>(
        self: &Arc<Self>,
        components: impl IntoIterator<Item = &'a str>,
    ) -> Result<Arc<TmpNode>, Errno> {
        let mut node = self.clone();
        for name in components {
            node = node.lookup(name)?;
        }
        Ok(node)
    }

    /// `open(O_CREAT)` in this directory: the file `name`, created empty
    /// with `perm` if missing. `EEXIST` if it exists and `exclusive`;
    /// returns whether it was created.
    pub fn create(
        &self,
        name: &str,
        perm: u32,
        exclusive: bool,
    ) -> Result<(Arc<TmpNode>, bool), Errno> {
        let mut children = self.children()?.lock();
        if let Some(node) = children.get(name) {
            return if exclusive {
                Err(Errno::EEXIST)
            } else {
                Ok((node.clone(), false))
            };
        }
        let node = TmpNode::new_file(perm);
        children.insert(String::from(name), node.clone());
        Ok((node, true))
    }

    /// `mkdir` in this directory. `EEXIST` if `name` exists.
    pub fn mkdir(&self, name: &str, perm: u32) -> Result<(), Errno> {
        let mut children = self.children()?.lock();
        if children.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        children.insert(String::from(name), TmpNode::new_dir(perm));
        Ok(())
    }

    /// `unlink` in this directory: `ENOENT` if missing, `EISDIR` for a
    /// directory (Linux's answer for `unlink` on one).
    pub fn unlink(&self, name: &str) -> Result<(), Errno> {
        let mut children = self.children()?.lock();
        match children.get(name) {
            None => Err(Errno::ENOENT),
            Some(node) if node.is_dir() => Err(Errno::EISDIR),
            Some(_) => {
                let removed = children.remove(name);
                drop(children);
                drop(removed);
                Ok(())
            }
        }
    }

    /// The names in this directory with their inode numbers and `d_type`s.
    pub fn entries(&self) -> Result<Vec<(String, u64, u8)>, Errno> {
        Ok(self
            .children()?
            .lock()
            .iter()
            .map(|(name, node)| (name.clone(), node.ino, dtype(node.mode())))
            .collect())
    }

    /// Copies bytes from `offset` into `out`; returns how many (0 at or
    /// past the end).
    pub fn read_at(&self, offset: u64, out: &mut [u8]) -> Result<usize, Errno> {
        let data = self.data()?.lock();
        let Ok(start) = usize::try_from(offset) else {
            return Ok(0);
        };
        if start >= data.len() {
            return Ok(0);
        }
        let n = out.len().min(data.len() - start);
        out[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }

    /// Writes `bytes` at `offset` (the end of the file if `None`, for
    /// `O_APPEND`), filling a gap with zeros. Returns the offset written at
    /// and the count. `EFBIG` if the file would outgrow [`MAX_FILE`]
    /// (a write that fits in part is short).
    pub fn write_at(&self, offset: Option<u64>, bytes: &[u8]) -> Result<(u64, usize), Errno> {
        let mut data = self.data()?.lock();
        let start = match offset {
            None => data.len(),
            Some(off) => usize::try_from(off).map_err(|_| Errno::EFBIG)?,
        };
        if start >= MAX_FILE && !bytes.is_empty() {
            return Err(Errno::EFBIG);
        }
        let n = bytes.len().min(MAX_FILE - start.min(MAX_FILE));
        let end = start + n;
        if data.len() < end {
            data.resize(end, 0);
        }
        data[start..end].copy_from_slice(&bytes[..n]);
        Ok((start as u64, n))
    }

    /// Sets the length to `len` (`O_TRUNC` with 0).
    pub fn truncate(&self, len: usize) -> Result<(), Errno> {
        if len > MAX_FILE {
            return Err(Errno::EFBIG);
        }
        self.data()?.lock().resize(len, 0);
        Ok(())
    }

    /// File size in bytes (0 for a directory).
    pub fn size(&self) -> usize {
        match &self.contents {
            Contents::File(data) => data.lock().len(),
            Contents::Dir(_) => 0,
        }
    }

    /// `st_mode`.
    pub fn mode(&self) -> u32 {
        let kind = if self.is_dir() { S_IFDIR } else { S_IFREG };
        // Relaxed: permissions are a plain value.
        kind | self.perm.load(Ordering::Relaxed)
    }

    /// `fstat`'s view.
    pub fn stat(&self) -> Stat {
        Stat {
            dev: TMP_DEV,
            ino: self.ino,
            nlink: if self.is_dir() { 2 } else { 1 },
            mode: self.mode(),
            ..Stat::default()
        }
        .sized(self.size())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_write_read_truncate() {
        let root = TmpNode::new_dir(0o1777);
        let (f, created) = root.create("a", 0o644, false).unwrap();
        assert!(created);
        assert_eq!(root.create("a", 0o600, true).err(), Some(Errno::EEXIST));
        let (again, created) = root.create("a", 0o600, false).unwrap();
        assert!(!created);
        assert_eq!(again.ino(), f.ino());
        assert_eq!(f.write_at(Some(0), b"hello"), Ok((0, 5)));
        assert_eq!(f.write_at(None, b"!"), Ok((5, 1)));
        assert_eq!(f.write_at(Some(8), b"x"), Ok((8, 1)));
        let mut buf = [0xffu8; 16];
        assert_eq!(f.read_at(0, &mut buf), Ok(9));
        assert_eq!(&buf[..9], b"hello!\0\0x");
        assert_eq!(f.read_at(9, &mut buf), Ok(0));
        assert_eq!(f.read_at(u64::MAX, &mut buf), Ok(0));
        assert_eq!(f.stat().size, 9);
        assert_eq!(f.stat().mode, S_IFREG | 0o644);
        f.truncate(0).unwrap();
        assert_eq!(f.size(), 0);
    }

    #[test]
    fn files_are_bounded() {
        let root = TmpNode::new_dir(0o755);
        let (f, _) = root.create("big", 0o644, false).unwrap();
        assert_eq!(f.write_at(Some(MAX_FILE as u64), b"x"), Err(Errno::EFBIG));
        assert_eq!(
            f.write_at(Some(MAX_FILE as u64 - 2), b"xyz"),
            Ok((MAX_FILE as u64 - 2, 2))
        );
        assert_eq!(f.truncate(MAX_FILE + 1), Err(Errno::EFBIG));
    }

    #[test]
    fn directories_mkdir_unlink_and_walk() {
        let root = TmpNode::new_dir(0o755);
        root.mkdir("d", 0o755).unwrap();
        assert_eq!(root.mkdir("d", 0o755), Err(Errno::EEXIST));
        let d = root.walk(["d"]).unwrap();
        assert!(d.is_dir());
        let (f, _) = d.create("f", 0o600, false).unwrap();
        assert_eq!(root.walk(["d", "f"]).unwrap().ino(), f.ino());
        assert_eq!(root.walk(["d", "f", "g"]).err(), Some(Errno::ENOTDIR));
        assert_eq!(root.walk(["nope"]).err(), Some(Errno::ENOENT));
        assert_eq!(root.unlink("d"), Err(Errno::EISDIR));
        assert_eq!(
            d.entries().unwrap(),
            [(String::from("f"), f.ino(), super::super::stat::DT_REG)]
        );
        f.write_at(Some(0), b"kept").unwrap();
        d.unlink("f").unwrap();
        assert_eq!(d.unlink("f"), Err(Errno::ENOENT));
        let mut buf = [0u8; 4];
        assert_eq!(
            f.read_at(0, &mut buf),
            Ok(4),
            "an unlinked open file lives on"
        );
        assert_eq!(f.read_at(0, &mut buf).map(|_| buf), Ok(*b"kept"));
        assert_eq!(f.create("x", 0, false).err(), Some(Errno::ENOTDIR));
        assert_eq!(d.read_at(0, &mut buf), Err(Errno::EISDIR));
    }
}
