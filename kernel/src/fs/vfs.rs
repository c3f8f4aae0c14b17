//! The one name space user processes see: the initramfs at `/`, with
//! `/dev`, `/tmp` and `/proc` laid over it.
//!
//! A path is first made absolute and normal ([`super::path::normalize`]);
//! its first component then picks the file system:
//!
//! | path | holder | `st_dev` |
//! |---|---|---|
//! | `/dev`, `/dev/console`, `/dev/tty`, `/dev/null`, `/dev/zero`, `/dev/full`, `/dev/random`, `/dev/urandom` | built in (`Vnode::DevDir`, `Vnode::Dev`) | 3 |
//! | `/tmp/...` | the tmpfs ([`super::tmpfs`]) | 2 |
//! | `/proc/...` | the process file system ([`super::procfs`], read-only) | 6 |
//! | anything else | the initramfs (read-only: writes are `EROFS`) | 1 |
//!
//! Listing `/` shows `dev`, `tmp` and `proc` besides the initramfs's own
//! names. Symbolic links inside the initramfs are followed by its own
//! lookup (one pointing into `/dev`, `/tmp` or `/proc` is not); those of
//! the tmpfs by [`resolve`], which restarts the lookup at the link's
//! target joined with the rest of the path (relative targets from the
//! link's directory), up to [`MAX_SYMLINKS`] times (`ELOOP`).

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::initramfs::NodeId;
use super::path::{Normal, normalize};
use super::procfs::{self, ProcNode};
use super::stat::{DT_CHR, DT_DIR, S_IFCHR, S_IFDIR, Stat, dtype, makedev};
use super::tmpfs::TmpNode;
use super::{FsError, root};
use abi::Errno;

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
    /// `/dev/zero`: reads zeros, swallows writes.
    Zero,
    /// `/dev/full`: reads zeros, writes fail with `ENOSPC`.
    Full,
    /// `/dev/random`: random bytes (RDRAND); never blocks (Linux's
    /// `/dev/random` has not blocked once seeded since 5.6, and RDRAND
    /// needs no seeding). Writes are accepted and dropped.
    Random,
    /// `/dev/urandom`: the same bytes as `/dev/random`.
    Urandom,
}

impl Device {
    /// The entries of `/dev` (`tty` is the console's second name).
    pub const NAMES: [(&'static str, Device); 7] = [
        ("console", Device::Console),
        ("full", Device::Full),
        ("null", Device::Null),
        ("random", Device::Random),
        ("tty", Device::Console),
        ("urandom", Device::Urandom),
        ("zero", Device::Zero),
    ];

    /// The device called `name` in `/dev`.
    fn named(name: &str) -> Option<Device> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, device)| device)
    }

    fn stat(self) -> Stat {
        let (ino, perm, rdev) = match self {
            Device::Console => (2, 0o620, makedev(5, 1)),
            Device::Null => (3, 0o666, makedev(1, 3)),
            Device::Zero => (4, 0o666, makedev(1, 5)),
            Device::Full => (5, 0o666, makedev(1, 7)),
            Device::Random => (6, 0o666, makedev(1, 8)),
            Device::Urandom => (7, 0o666, makedev(1, 9)),
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
    /// A node of `/proc`.
    Proc(ProcNode),
}

/// Most symbolic links one lookup follows (Linux's `MAXSYMLINKS`).
pub const MAX_SYMLINKS: usize = 40;

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

/// `statfs`'s view of the file system whose files have `st_dev` `dev`:
/// the initramfs (ramfs, read-only: its inodes and bytes, none free),
/// `/tmp` (tmpfs: its quota), `/dev` (devtmpfs, which says tmpfs), `/proc`,
/// pipes (pipefs), anonymous inodes (eventfd, epoll, process
/// descriptors).
pub fn statfs(dev: u64) -> super::stat::StatFs {
    use super::stat::StatFs;
    use super::stat::statfs::*;
    const PAGE: u64 = 4096;
    let base = StatFs {
        bsize: PAGE,
        fsid: dev as u32,
        namelen: 255,
        flags: ST_VALID,
        ..StatFs::default()
    };
    match dev {
        RAM_DEV => {
            let (inodes, bytes) = root().map_or((0, 0), |fs| fs.totals());
            StatFs {
                kind: RAMFS_MAGIC,
                blocks: (bytes as u64).div_ceil(PAGE),
                files: inodes as u64,
                flags: ST_VALID | ST_RDONLY,
                ..base
            }
        }
        super::tmpfs::TMP_DEV => {
            let usage = tmp_root().quota().usage();
            StatFs {
                kind: TMPFS_MAGIC,
                blocks: usage.size / PAGE,
                bfree: usage.avail / PAGE,
                bavail: usage.avail / PAGE,
                files: usage.inodes,
                ffree: usage.inodes.saturating_sub(usage.inodes_used),
                flags: ST_VALID | ST_NOSUID | ST_NODEV,
                ..base
            }
        }
        DEV_DEV => StatFs {
            kind: TMPFS_MAGIC,
            flags: ST_VALID | ST_NOSUID,
            ..base
        },
        procfs::PROC_DEV => StatFs {
            kind: PROC_SUPER_MAGIC,
            flags: ST_VALID | ST_NOSUID | ST_NODEV | ST_NOEXEC,
            ..base
        },
        4 => StatFs {
            kind: PIPEFS_MAGIC,
            ..base
        },
        _ => StatFs {
            kind: ANON_INODE_FS_MAGIC,
            ..base
        },
    }
}

/// Finds the file `path` names; `follow` says whether a symbolic link as
/// the last component is followed (`stat` vs `lstat`). A path that ended
/// in `/` must name a directory (`ENOTDIR`).
pub fn resolve(path: &Normal, follow: bool) -> Result<Vnode, Errno> {
    resolve_to(path, follow).map(|(node, _)| node)
}

/// [`resolve`] that also gives the path it ended at once the links
/// were followed (`execve`, which loads programs from the initramfs by
/// path, runs a link's target).
pub fn resolve_to(path: &Normal, follow: bool) -> Result<(Vnode, String), Errno> {
    // A trailing slash follows a final link (`ls link/`).
    let follow = follow || path.must_be_dir;
    let mut next = None;
    for _ in 0..=MAX_SYMLINKS {
        let at = next.as_ref().unwrap_or(path);
        match resolve_components(at, follow)? {
            Step::Found(node) => {
                if path.must_be_dir && !node.is_dir() {
                    return Err(Errno::ENOTDIR);
                }
                return Ok((node, at.path.clone()));
            }
            Step::Link(target) => next = Some(target),
        }
    }
    Err(Errno::ELOOP)
}

/// One pass of a lookup: the node, or a symbolic link to restart at.
enum Step {
    Found(Vnode),
    Link(Normal),
}

/// Walks `/tmp/<components>`, stopping at a symbolic link to follow.
fn walk_tmp<'a>(components: impl Iterator<Item = &'a str>, follow: bool) -> Result<Step, Errno> {
    let rest: Vec<&str> = components.collect();
    let mut node = tmp_root();
    let mut dir = String::from("/tmp");
    for (i, name) in rest.iter().enumerate() {
        let child = node.lookup(name)?;
        let last = i + 1 == rest.len();
        if let Some(target) = child.link_target()
            && (follow || !last)
        {
            let mut joined = String::from(target);
            for more in &rest[i + 1..] {
                joined.push('/');
                joined.push_str(more);
            }
            return normalize(&dir, joined.as_bytes()).map(Step::Link);
        }
        dir.push('/');
        dir.push_str(name);
        node = child;
    }
    Ok(Step::Found(Vnode::Tmp(node)))
}

/// Whether a file of `/proc/PID` is a symbolic link.
fn node_is_link(file: procfs::PidFile) -> bool {
    ProcNode::PidFile(0, file).is_symlink()
}

fn resolve_components(path: &Normal, follow: bool) -> Result<Step, Errno> {
    let mut components = path.components();
    match components.next() {
        Some("dev") => match (components.next(), components.next()) {
            (None, _) => Ok(Step::Found(Vnode::DevDir)),
            (Some(name), rest) => match (Device::named(name), rest) {
                (Some(device), None) => Ok(Step::Found(Vnode::Dev(device))),
                (Some(_), Some(_)) => Err(Errno::ENOTDIR),
                (None, _) => Err(Errno::ENOENT),
            },
        },
        Some("tmp") => walk_tmp(components, follow),
        // `/proc/PID/exe` and `/proc/PID/cwd` are links, followed when
        // last if `follow`, always when more components come (`cwd/x`).
        Some("proc") => {
            let rest: Vec<&str> = components.collect();
            // The file's name follows `PID` or `PID/task/TID`.
            let at = if rest.get(1) == Some(&"task") { 3 } else { 1 };
            if let Some(name) = rest.get(at)
                && let Some(file) = procfs::PidFile::named(name).filter(|&f| node_is_link(f))
                && (follow || rest.len() > at + 1)
                && let ProcNode::PidFile(pid, _) = procfs::resolve(rest[..=at].iter().copied())?
            {
                let more = &rest[at + 1..];
                let mut target = procfs::link_target(pid, file)?;
                for name in more {
                    target.push('/');
                    target.push_str(name);
                }
                return normalize("/", target.as_bytes()).map(Step::Link);
            }
            let node = procfs::resolve(rest.iter().copied())?;
            // `/proc/PID/fd/N` leads to the file's path, if it has one
            // (a pipe's or an eventfd's link is not followed).
            if let ProcNode::Fd(pid, fd) = node
                && follow
                && let Ok(target) = procfs::fd_target(pid, fd)
                && target.starts_with('/')
            {
                return normalize("/", target.as_bytes()).map(Step::Link);
            }
            Ok(Step::Found(Vnode::Proc(node)))
        }
        _ => {
            let fs = root().map_err(errno)?;
            let node = if follow {
                fs.lookup(path.path.as_bytes())
            } else {
                fs.lookup_nofollow(path.path.as_bytes())
            };
            node.map(|n| Step::Found(Vnode::Ram(n.id))).map_err(errno)
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
            Vnode::Proc(node) => node.is_dir(),
        }
    }

    /// Whether it is a symbolic link (`O_NOFOLLOW`).
    pub fn is_symlink(&self) -> bool {
        match self {
            Vnode::Ram(id) => root()
                .ok()
                .and_then(|fs| fs.node(*id))
                .is_some_and(|n| matches!(n.kind, super::NodeKind::Symlink(_))),
            Vnode::Tmp(node) => node.is_symlink(),
            Vnode::Proc(node) => node.is_symlink(),
            _ => false,
        }
    }

    /// A symbolic link's target (`readlink`): `EINVAL` for anything else.
    pub fn link_target(&self) -> Result<String, Errno> {
        match self {
            Vnode::Ram(id) => match root().ok().and_then(|fs| fs.node(*id)).map(|n| n.kind) {
                Some(super::NodeKind::Symlink(target)) => {
                    Ok(String::from_utf8_lossy(target).into_owned())
                }
                _ => Err(Errno::EINVAL),
            },
            Vnode::Tmp(node) => node.link_target().map(String::from).ok_or(Errno::EINVAL),
            Vnode::Proc(node @ ProcNode::PidFile(pid, file)) if node.is_symlink() => {
                procfs::link_target(*pid, *file)
            }
            Vnode::Proc(ProcNode::Fd(pid, fd)) => procfs::fd_target(*pid, *fd),
            _ => Err(Errno::EINVAL),
        }
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
            Vnode::Proc(node) => procfs::stat(*node),
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
                    for (name, ino) in [("dev", 1), ("tmp", tmp_root().ino()), ("proc", 1)] {
                        if !out.iter().any(|(n, _, _)| n == name) {
                            out.push((String::from(name), ino, DT_DIR));
                        }
                    }
                }
            }
            Vnode::Tmp(node) => out.extend(node.entries()?),
            Vnode::DevDir => {
                for (name, device) in Device::NAMES {
                    out.push((String::from(name), device.stat().ino, DT_CHR));
                }
            }
            Vnode::Dev(_) => return Err(Errno::ENOTDIR),
            Vnode::Proc(node) if node.is_dir() => out.extend(procfs::entries(*node)),
            Vnode::Proc(_) => return Err(Errno::ENOTDIR),
        }
        Ok(out)
    }
}
