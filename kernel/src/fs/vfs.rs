//! The one name space user processes see: the initramfs at `/`, with
//! `/dev` and `/tmp` laid over it.
//!
//! A path is first made absolute and normal ([`super::path::normalize`]);
//! its first component then picks the file system:
//!
//! | path | holder | `st_dev` |
//! |---|---|---|
//! | `/dev`, `/dev/console`, `/dev/tty`, `/dev/null` | built in (`Vnode::DevDir`, `Vnode::Dev`) | 3 |
//! | `/tmp/...` | the tmpfs ([`super::tmpfs`]) | 2 |
//! | anything else | the initramfs (read-only: writes are `EROFS`) | 1 |
//!
//! Listing `/` shows `dev` and `tmp` besides the initramfs's own names.
//! Symbolic links inside the initramfs are followed by its own lookup;
//! one pointing into `/dev` or `/tmp` is not (none does today).

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::initramfs::NodeId;
use super::path::Normal;
use super::stat::{DT_CHR, DT_DIR, S_IFCHR, S_IFDIR, Stat, dtype, makedev};
use super::tmpfs::TmpNode;
use super::{FsError, root};
use crate::syscall::Errno;

/// `st_dev` of the initramfs.
pub const RAM_DEV: u64 = 1;
/// `st_dev` of `/dev`.
pub const DEV_DEV: u64 = 3;

/// A built-in device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// The console terminal (`/dev/console`, `/dev/tty`).
    Console,
    /// `/dev/null`.
    Null,
}

impl Device {
    fn stat(self) -> Stat {
        let (ino, perm, rdev) = match self {
            Device::Console => (2, 0o620, makedev(5, 1)),
            Device::Null => (3, 0o666, makedev(1, 3)),
        };
        Stat {
            dev: DEV_DEV,
            ino,
            nlink: 1,
            mode: S_IFCHR | perm,
            rdev,
            blksize: 4096,
            ..Stat::default()
        }
    }
}

/// A file found by name.
#[derive(Clone)]
pub enum Vnode {
    /// An initramfs inode.
    Ram(NodeId),
    /// A tmpfs node.
    Tmp(Arc<TmpNode>),
    /// `/dev`.
    DevDir,
    /// A device in `/dev`.
    Dev(Device),
}

/// The tmpfs mounted at `/tmp`, limited to half of RAM (Linux's default
/// `size=50%`).
static TMP: spin::Lazy<Arc<TmpNode>> = spin::Lazy::new(|| {
    let (_, total_frames) = arch::mm::frame::stats();
    TmpNode::new_root(0o1777, total_frames as u64 / 2)
});

/// The root of `/tmp`.
pub fn tmp_root() -> Arc<TmpNode> {
    TMP.clone()
}

/// The errno for an initramfs error.
pub fn errno(e: FsError) -> Errno {
    match e {
        FsError::NotFound | FsError::NotMounted => Errno::ENOENT,
        FsError::NotDir => Errno::ENOTDIR,
        FsError::IsDir => Errno::EISDIR,
        FsError::Loop => Errno::ELOOP,
        FsError::NameTooLong => Errno::ENAMETOOLONG,
        _ => Errno::EIO,
    }
}

/// Finds the file `path` names; `follow` says whether a symbolic link as
/// the last component is followed (`stat` vs `lstat`). A path that ended
/// in `/` must name a directory (`ENOTDIR`).
pub fn resolve(path: &Normal, follow: bool) -> Result<Vnode, Errno> {
    let node = resolve_components(path, follow)?;
    if path.must_be_dir && !node.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    Ok(node)
}

fn resolve_components(path: &Normal, follow: bool) -> Result<Vnode, Errno> {
    let mut components = path.components();
    match components.next() {
        Some("dev") => match (components.next(), components.next()) {
            (None, _) => Ok(Vnode::DevDir),
            (Some("console" | "tty"), None) => Ok(Vnode::Dev(Device::Console)),
            (Some("null"), None) => Ok(Vnode::Dev(Device::Null)),
            (Some("console" | "tty" | "null"), Some(_)) => Err(Errno::ENOTDIR),
            (Some(_), _) => Err(Errno::ENOENT),
        },
        Some("tmp") => tmp_root().walk(components).map(Vnode::Tmp),
        _ => {
            let fs = root().map_err(errno)?;
            let node = if follow {
                fs.lookup(path.path.as_bytes())
            } else {
                fs.lookup_nofollow(path.path.as_bytes())
            };
            node.map(|n| Vnode::Ram(n.id)).map_err(errno)
        }
    }
}

/// The directory that would hold `path`'s last name, and that name
/// (`open(O_CREAT)`, `mkdir`, `unlink`). `EEXIST` for `/`.
pub fn resolve_parent(path: &Normal) -> Result<(Vnode, String), Errno> {
    let (parent, name) = path.split_last().ok_or(Errno::EEXIST)?;
    let parent = super::path::normalize("/", parent.as_bytes())?;
    let dir = resolve(&parent, true)?;
    if !dir.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    Ok((dir, String::from(name)))
}

impl Vnode {
    pub fn is_dir(&self) -> bool {
        match self {
            Vnode::Ram(id) => root()
                .ok()
                .and_then(|fs| fs.node(*id))
                .is_some_and(|n| n.is_dir()),
            Vnode::Tmp(node) => node.is_dir(),
            Vnode::DevDir => true,
            Vnode::Dev(_) => false,
        }
    }

    /// Whether it is a symbolic link (`O_NOFOLLOW`).
    pub fn is_symlink(&self) -> bool {
        matches!(self, Vnode::Ram(id) if root()
            .ok()
            .and_then(|fs| fs.node(*id))
            .is_some_and(|n| matches!(n.kind, super::NodeKind::Symlink(_))))
    }

    /// `stat`'s view.
    pub fn stat(&self) -> Stat {
        match self {
            Vnode::Ram(id) => match root().ok().and_then(|fs| fs.node(*id)) {
                Some(node) => Stat {
                    dev: RAM_DEV,
                    ino: id.ino(),
                    nlink: if node.is_dir() { 2 } else { 1 },
                    mode: node.mode(),
                    uid: node.uid,
                    gid: node.gid,
                    ..Stat::default()
                }
                .sized(node.size()),
                None => Stat::default(),
            },
            Vnode::Tmp(node) => node.stat(),
            Vnode::DevDir => Stat {
                dev: DEV_DEV,
                ino: 1,
                nlink: 2,
                mode: S_IFDIR | 0o755,
                blksize: 4096,
                ..Stat::default()
            },
            Vnode::Dev(device) => device.stat(),
        }
    }

    /// The entries of a directory, `.` and `..` first: `(name, inode,
    /// d_type)`. `ENOTDIR` for anything else.
    pub fn entries(&self, parent_ino: u64) -> Result<Vec<(String, u64, u8)>, Errno> {
        let own = self.stat().ino;
        let mut out = alloc::vec![
            (String::from("."), own, DT_DIR),
            (String::from(".."), parent_ino, DT_DIR),
        ];
        match self {
            Vnode::Ram(id) => {
                let fs = root().map_err(errno)?;
                for e in fs.readdir(*id).map_err(errno)? {
                    let mode = fs.node(e.id).map_or(0, |n| n.mode());
                    let name = String::from_utf8_lossy(e.name).into_owned();
                    out.push((name, e.id.ino(), dtype(mode)));
                }
                if *id == NodeId::ROOT {
                    for (name, ino) in [("dev", 1), ("tmp", tmp_root().ino())] {
                        if !out.iter().any(|(n, _, _)| n == name) {
                            out.push((String::from(name), ino, DT_DIR));
                        }
                    }
                }
            }
            Vnode::Tmp(node) => out.extend(node.entries()?),
            Vnode::DevDir => {
                for (name, ino) in [("console", 2), ("null", 3), ("tty", 2)] {
                    out.push((String::from(name), ino, DT_CHR));
                }
            }
            Vnode::Dev(_) => return Err(Errno::ENOTDIR),
        }
        Ok(out)
    }
}
