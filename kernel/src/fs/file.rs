//! Open files: what a file descriptor refers to.
//!
//! An [`OpenFile`] is Linux's `struct file`: a [`FileKind`] (what is
//! open), the status flags (access mode, `O_APPEND`, `O_NONBLOCK`) and the
//! offset, shared by every descriptor that `dup` or fork made from the one
//! `open` (an `Arc`, [`FileRef`]). The kinds:
//!
//! | kind | read | write | seek | notes |
//! |---|---|---|---|---|
//! | `Ram` (initramfs file) | yes | `EBADF` (opening for write is `EROFS`) | yes | contents are slices of the archive |
//! | `Dir` (any directory) | `EISDIR` | `EISDIR` | `SEEK_SET`/`SEEK_CUR` | `getdents64`; the offset counts entries |
//! | `Tmp` (tmpfs file) | yes | yes, `O_APPEND` | yes | `O_TRUNC` at open |
//! | `Proc` (`/proc` file) | yes | `EBADF` (opening for write is `EACCES`) | yes | contents made at open |
//! | `Console` | the tty, blocking | to the serial port | `ESPIPE` | `ioctl`s of a terminal |
//! | `Mem` (`/dev/null`) | 0 (end of file) | swallows everything | always 0 | |
//! | `Mem` (`/dev/zero`) | zeros | swallows everything | always 0 | |
//! | `Mem` (`/dev/full`) | zeros | `ENOSPC` | always 0 | |
//! | `Mem` (`/dev/random`, `/dev/urandom`) | random bytes (RDRAND) | swallows everything | always 0 | never blocks |
//! | `Pipe` (one end) | blocking / `EAGAIN` | blocking / `EAGAIN` / `EPIPE` | `ESPIPE` | |
//! | `ProcDesc` (pdfork, pidfd) | `EOPNOTSUPP` | `EOPNOTSUPP` | `ESPIPE` | polls readable when the process exits |
//! | `EventFd` | 8 bytes, blocking / `EAGAIN` | 8 bytes, blocking / `EAGAIN` | `ESPIPE` | `super::eventfd` |
//! | `Epoll` | `EINVAL` | `EINVAL` | `ESPIPE` | `super::epoll`; polls readable while a registered file is ready |
//!
//! Readiness for `poll`/`select`/`epoll` is [`OpenFile::poll_mask`], and
//! the events that announce its changes [`OpenFile::poll_sources`]
//! (`super::poll`).
//!
//! Reads and writes are `async`: a blocking one is an await on an
//! [`crate::task::Event`]. No lock is held across an await; the offset's
//! lock is held only for the synchronous copy of a seekable file.
//! The syscall layer (`syscall/fs.rs`) does the user-memory copies; these
//! methods work on kernel buffers.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use super::initramfs::NodeId;
use super::path::Normal;
use super::pipe::{PipeEnd, Side};
use super::stat::{S_IFIFO, Stat, push_dirent};
use super::tmpfs::TmpNode;
use super::tty;
use super::vfs::{self, Device, Vnode};
use abi::Errno;

/// `open` flags (Linux x86-64 values), and Tine's `O_CLOFORK`.
pub mod oflags {
    pub const O_ACCMODE: u32 = 0o3;
    pub const O_RDONLY: u32 = 0o0;
    pub const O_WRONLY: u32 = 0o1;
    pub const O_RDWR: u32 = 0o2;
    pub const O_CREAT: u32 = 0o100;
    pub const O_EXCL: u32 = 0o200;
    pub const O_NOCTTY: u32 = 0o400;
    pub const O_TRUNC: u32 = 0o1000;
    pub const O_APPEND: u32 = 0o2000;
    pub const O_NONBLOCK: u32 = 0o4000;
    pub const O_LARGEFILE: u32 = 0o100000;
    pub const O_DIRECTORY: u32 = 0o200000;
    pub const O_NOFOLLOW: u32 = 0o400000;
    pub const O_CLOEXEC: u32 = 0o2000000;
    pub const O_PATH: u32 = 0o10000000;
    /// `__O_TMPFILE` (with `O_DIRECTORY` it is `O_TMPFILE`).
    pub const O_TMPFILE: u32 = 0o20000000;
    /// Close on fork (POSIX.1-2024). Linux has none; Tine uses the value
    /// of the Linux O_CLOFORK proposal for the generic `fcntl.h`
    /// (0o40000000, the bit after `__O_TMPFILE`). NetBSD's 0x40000 is
    /// Linux's `O_NOATIME` and would clash.
    pub const O_CLOFORK: u32 = 0o40000000;
    /// Status flags `F_SETFL` may change.
    pub const SETFL_MASK: u32 = O_APPEND | O_NONBLOCK;
}

use oflags::*;

/// `lseek` whence values.
pub const SEEK_SET: u32 = 0;
pub const SEEK_CUR: u32 = 1;
pub const SEEK_END: u32 = 2;

/// A `/proc` file's contents, as an open file holds them.
pub struct ProcData {
    bytes: Vec<u8>,
    /// Whether a read has happened (the first needs no new contents:
    /// `open` just made them).
    read: bool,
}

/// What an open file is (module docs).
pub enum FileKind {
    /// A regular file of the initramfs.
    Ram { id: NodeId, data: &'static [u8] },
    /// A directory of any of the file systems.
    Dir(Vnode),
    /// A regular file of the tmpfs.
    Tmp(Arc<TmpNode>),
    /// A file of `/proc`: its contents when it was opened, made again
    /// by every later read at offset 0 (as Linux's `seq_file` restarts).
    Proc {
        node: super::procfs::ProcNode,
        data: spin::Mutex<ProcData>,
    },
    /// The console tty.
    Console,
    /// One of Linux's "memory" devices (major 1): `/dev/null`,
    /// `/dev/zero`, `/dev/full`, `/dev/random`, `/dev/urandom`.
    Mem(Device),
    /// One end of a pipe.
    Pipe(PipeEnd),
    /// A process descriptor (`crate::proc::procdesc`): no data, only
    /// `pdgetpid`, `pdkill` and close.
    ProcDesc(Arc<crate::proc::procdesc::ProcDesc>),
    /// An eventfd counter (`super::eventfd`).
    EventFd(super::eventfd::EventFd),
    /// An epoll instance (`super::epoll`).
    Epoll(super::epoll::Epoll),
}

/// An open file (module docs).
pub struct OpenFile {
    kind: FileKind,
    /// The normalised path it was opened by (`""` for pipes): what
    /// `openat` and `fchdir` start from for a directory.
    path: String,
    /// Access mode and status flags (`F_GETFL`).
    status: AtomicU32,
    /// The file offset (entries for a directory).
    offset: spin::Mutex<u64>,
    /// For a `/proc/PID` directory, the process it named when it was
    /// opened: Linux's `pidfd_send_signal` takes such a descriptor as a
    /// pidfd, and like Linux's (whose inode holds the `struct pid`) it
    /// keeps naming that process, never a later one given the same PID.
    proc_dir: Option<Arc<crate::proc::procdesc::ProcDesc>>,
}

/// A shared reference to an open file: what a descriptor holds.
pub type FileRef = Arc<OpenFile>;

impl OpenFile {
    /// A new open file with `status` (access mode and status flags).
    pub fn new(kind: FileKind, path: String, status: u32) -> FileRef {
        Arc::new(Self {
            kind,
            path,
            status: AtomicU32::new(status & (O_ACCMODE | SETFL_MASK)),
            offset: spin::Mutex::new(0),
            proc_dir: None,
        })
    }

    /// The console, open for reading and writing.
    pub fn console() -> FileRef {
        Self::new(FileKind::Console, String::from("/dev/console"), O_RDWR)
    }

    /// A new pipe's two ends, `status` being `O_NONBLOCK` or 0.
    pub fn pipe(status: u32) -> (FileRef, FileRef) {
        let (r, w) = super::pipe::pipe();
        (
            Self::new(FileKind::Pipe(r), String::new(), O_RDONLY | status),
            Self::new(FileKind::Pipe(w), String::new(), O_WRONLY | status),
        )
    }

    /// Opens `path` as `open(2)` does with `flags` and (for a new file)
    /// `mode` less `umask`. Errors as Linux gives them: `ENOENT`,
    /// `ENOTDIR`, `EISDIR` (a directory for writing, or `O_CREAT`),
    /// `EEXIST` (`O_CREAT|O_EXCL`), `EROFS` (writing or creating outside
    /// `/tmp`), `ELOOP` (`O_NOFOLLOW` on a link), `EINVAL` (access mode 3),
    /// `EOPNOTSUPP` (`O_TMPFILE`). A new file belongs to `ids` (the
    /// caller's effective uid and gid; `TmpNode::owner_for_new`).
    pub fn open(
        path: &Normal,
        flags: u32,
        mode: u32,
        umask: u32,
        ids: (u32, u32),
    ) -> Result<FileRef, Errno> {
        let access = flags & O_ACCMODE;
        if access == O_ACCMODE {
            return Err(Errno::EINVAL);
        }
        if flags & O_TMPFILE != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        let writing = access != O_RDONLY;
        let follow = flags & O_NOFOLLOW == 0;
        // The file's path is where the lookup ended, links followed: a
        // directory opened through a link is the directory itself, so
        // `openat(fd, "..")` and `fchdir` go where Linux goes.
        let (vnode, resolved) = match vfs::resolve_to(path, follow) {
            Ok(_) if flags & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL => {
                return Err(Errno::EEXIST);
            }
            Ok(found) => found,
            Err(Errno::ENOENT) if flags & O_CREAT != 0 => {
                return Self::create(path, flags, mode & !umask, ids);
            }
            Err(e) => return Err(e),
        };
        if !follow && vnode.is_symlink() {
            return Err(Errno::ELOOP);
        }
        let is_dir = vnode.is_dir();
        if flags & O_DIRECTORY != 0 && !is_dir {
            return Err(Errno::ENOTDIR);
        }
        if is_dir && (writing || flags & O_CREAT != 0) {
            return Err(Errno::EISDIR);
        }
        let proc_dir = match vnode {
            Vnode::Proc(super::procfs::ProcNode::Dir(pid)) => crate::proc::pid::Pid::new(pid)
                .and_then(crate::proc::process::lookup)
                .map(|p| crate::proc::procdesc::ProcDesc::new(&p, true, true)),
            _ => None,
        };
        let kind = match vnode {
            v if is_dir => FileKind::Dir(v),
            Vnode::Ram(id) => {
                if writing {
                    return Err(Errno::EROFS);
                }
                let node = super::root()
                    .ok()
                    .and_then(|fs| fs.node(id))
                    .ok_or(Errno::ENOENT)?;
                FileKind::Ram {
                    id,
                    data: node.data().unwrap_or(&[]),
                }
            }
            Vnode::Tmp(node) if node.fifo().is_some() => {
                let side = match access {
                    O_RDONLY => Side::Read,
                    O_WRONLY => Side::Write,
                    _ => Side::Both,
                };
                let pipe = node.fifo().ok_or(Errno::ENOENT)?;
                FileKind::Pipe(super::pipe::open_end(pipe, side, flags & O_NONBLOCK != 0)?)
            }
            Vnode::Tmp(node) => {
                if flags & O_TRUNC != 0 && writing {
                    node.truncate(0)?;
                }
                FileKind::Tmp(node)
            }
            Vnode::Proc(node) => {
                if writing {
                    return Err(Errno::EACCES);
                }
                FileKind::Proc {
                    node,
                    data: spin::Mutex::new(ProcData {
                        bytes: super::procfs::contents(node)?,
                        read: false,
                    }),
                }
            }
            Vnode::Dev(Device::Console) => FileKind::Console,
            Vnode::Dev(device) => FileKind::Mem(device),
            Vnode::DevDir => FileKind::Dir(Vnode::DevDir),
        };
        let status = AtomicU32::new(flags & (O_ACCMODE | SETFL_MASK));
        Ok(Arc::new(Self {
            kind,
            path: resolved,
            status,
            offset: spin::Mutex::new(0),
            proc_dir,
        }))
    }

    /// `open(O_CREAT)` of a missing file.
    fn create(path: &Normal, flags: u32, perm: u32, ids: (u32, u32)) -> Result<FileRef, Errno> {
        if path.must_be_dir {
            return Err(Errno::EISDIR);
        }
        let (dir, name) = vfs::resolve_parent(path)?;
        match dir {
            Vnode::Tmp(dir) => {
                let owner = dir.owner_for_new(ids);
                let (node, _) = dir.create_as(&name, perm, flags & O_EXCL != 0, owner)?;
                Ok(Self::new(FileKind::Tmp(node), path.path.clone(), flags))
            }
            _ => Err(Errno::EROFS),
        }
    }

    pub fn kind(&self) -> &FileKind {
        &self.kind
    }

    /// The path it was opened by.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// `F_GETFL`: access mode and status flags.
    pub fn status(&self) -> u32 {
        // Relaxed: a plain value; F_SETFL races resolve either way.
        self.status.load(Ordering::Relaxed)
    }

    /// `F_SETFL`: changes `O_APPEND` and `O_NONBLOCK`, ignores the rest.
    pub fn set_status(&self, flags: u32) {
        let keep = self.status() & !SETFL_MASK;
        self.status
            .store(keep | (flags & SETFL_MASK), Ordering::Relaxed);
    }

    fn nonblock(&self) -> bool {
        self.status() & O_NONBLOCK != 0
    }

    fn readable(&self) -> bool {
        self.status() & O_ACCMODE != O_WRONLY
    }

    fn writable(&self) -> bool {
        self.status() & O_ACCMODE != O_RDONLY
    }

    /// Whether it is a directory (`openat`'s `dirfd`, `fchdir`).
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, FileKind::Dir(_))
    }

    /// Whether a read takes its bytes away for good (a pipe, the tty): the
    /// syscall layer checks the buffer before such a read.
    pub fn consumes_input(&self) -> bool {
        matches!(
            self.kind,
            FileKind::Console | FileKind::Pipe(_) | FileKind::EventFd(_)
        )
    }

    /// Whether it is a terminal (`isatty`, the terminal `ioctl`s).
    pub fn is_tty(&self) -> bool {
        matches!(self.kind, FileKind::Console)
    }

    /// `read`: from the offset, advancing it; may wait (pipes, the tty).
    /// `EBADF` if not open for reading, `EISDIR` for a directory.
    pub async fn read(&self, out: &mut [u8]) -> Result<usize, Errno> {
        if !self.readable() {
            return Err(Errno::EBADF);
        }
        match &self.kind {
            FileKind::Ram { .. } | FileKind::Tmp(_) | FileKind::Proc { .. } => {
                let mut offset = self.offset.lock();
                let n = self.read_at(*offset, out)?;
                *offset += n as u64;
                Ok(n)
            }
            FileKind::Dir(_) => Err(Errno::EISDIR),
            FileKind::Console => tty::console().read(out, self.nonblock()).await,
            FileKind::Mem(device) => Ok(mem_read(*device, out)),
            FileKind::Pipe(end) => end.read(out, self.nonblock()).await,
            FileKind::EventFd(e) => e.read(out, self.nonblock()).await,
            FileKind::Epoll(_) => Err(Errno::EINVAL),
            FileKind::ProcDesc(_) => Err(Errno::EOPNOTSUPP),
        }
    }

    /// `write`: at the offset (the end with `O_APPEND`), advancing it; may
    /// wait (pipes). `EBADF` if not open for writing, `EPIPE` for a pipe
    /// without readers (the caller raises `SIGPIPE`).
    pub async fn write(&self, data: &[u8]) -> Result<usize, Errno> {
        if !self.writable() {
            return Err(Errno::EBADF);
        }
        match &self.kind {
            FileKind::Tmp(node) => {
                let mut offset = self.offset.lock();
                let at = if self.status() & O_APPEND != 0 {
                    None
                } else {
                    Some(*offset)
                };
                let (start, n) = node.write_at(at, data)?;
                *offset = start + n as u64;
                Ok(n)
            }
            FileKind::Ram { .. } | FileKind::Proc { .. } => Err(Errno::EBADF),
            FileKind::Dir(_) => Err(Errno::EISDIR),
            FileKind::Console => {
                tty::console().write(data);
                Ok(data.len())
            }
            FileKind::Mem(device) => mem_write(*device, data),
            FileKind::Pipe(end) => end.write(data, self.nonblock()).await,
            FileKind::EventFd(e) => e.write(data, self.nonblock()).await,
            FileKind::Epoll(_) => Err(Errno::EINVAL),
            FileKind::ProcDesc(_) => Err(Errno::EOPNOTSUPP),
        }
    }

    /// Gives back `n` bytes a [`OpenFile::read`] took from a seekable file
    /// (its offset moves back), when they could not be copied out: a read
    /// that fails with `EFAULT` leaves the offset alone, as on Linux.
    pub fn unread(&self, n: usize) {
        if matches!(
            self.kind,
            FileKind::Ram { .. } | FileKind::Tmp(_) | FileKind::Proc { .. }
        ) {
            let mut offset = self.offset.lock();
            *offset = offset.saturating_sub(n as u64);
        }
    }

    /// Reads a seekable file at `offset` (the offset is not used or
    /// moved): `pread64`. `ESPIPE` for pipes and the tty.
    pub fn pread(&self, out: &mut [u8], offset: u64) -> Result<usize, Errno> {
        if !self.readable() {
            return Err(Errno::EBADF);
        }
        self.read_at(offset, out)
    }

    fn read_at(&self, offset: u64, out: &mut [u8]) -> Result<usize, Errno> {
        match &self.kind {
            FileKind::Ram { data, .. } => Ok(copy_at(data, offset, out)),
            FileKind::Proc { node, data } => {
                let mut data = data.lock();
                // A read from the start after the first sees the file as
                // it is now (`pread(fd, buf, n, 0)` in a loop, as
                // `/proc/uptime` readers do).
                if offset == 0 && data.read {
                    data.bytes = super::procfs::contents(*node)?;
                }
                data.read = true;
                Ok(copy_at(&data.bytes, offset, out))
            }
            FileKind::Tmp(node) => node.read_at(offset, out),
            FileKind::Dir(_) => Err(Errno::EISDIR),
            FileKind::Mem(device) => Ok(mem_read(*device, out)),
            FileKind::Console
            | FileKind::Pipe(_)
            | FileKind::ProcDesc(_)
            | FileKind::EventFd(_)
            | FileKind::Epoll(_) => Err(Errno::ESPIPE),
        }
    }

    /// Writes a seekable file at `offset`: `pwrite64`.
    pub fn pwrite(&self, data: &[u8], offset: u64) -> Result<usize, Errno> {
        if !self.writable() {
            return Err(Errno::EBADF);
        }
        match &self.kind {
            FileKind::Tmp(node) => node.write_at(Some(offset), data).map(|(_, n)| n),
            FileKind::Mem(device) => mem_write(*device, data),
            FileKind::Ram { .. } | FileKind::Proc { .. } => Err(Errno::EBADF),
            FileKind::Dir(_) => Err(Errno::EISDIR),
            FileKind::Console
            | FileKind::Pipe(_)
            | FileKind::ProcDesc(_)
            | FileKind::EventFd(_)
            | FileKind::Epoll(_) => Err(Errno::ESPIPE),
        }
    }

    /// `ftruncate`: sets a tmpfs file's length. `EINVAL` for a negative
    /// length, a file not open for writing or one that is not a regular
    /// tmpfs file (Linux's answers), `EFBIG` past the largest file.
    pub fn truncate(&self, length: i64) -> Result<(), Errno> {
        let length = u64::try_from(length).map_err(|_| Errno::EINVAL)?;
        match &self.kind {
            FileKind::Tmp(node) if self.writable() => node.truncate(length),
            _ => Err(Errno::EINVAL),
        }
    }

    /// `fallocate(mode, offset, len)` on a tmpfs file, as Linux's
    /// `vfs_fallocate` checks it: `EINVAL` for a negative offset or a
    /// length under 1, `EBADF` unless open for writing, `ESPIPE` for a
    /// pipe, `EISDIR` for a directory, `ENODEV` for other files, `EFBIG`
    /// past the largest file. Mode 0 makes the file at least `offset +
    /// len` long; `FALLOC_FL_KEEP_SIZE` (1) changes nothing. Tine's files
    /// are sparse, so nothing is reserved: a later write may still find
    /// the file system full. Other modes (holes, ranges) are `EOPNOTSUPP`.
    pub fn fallocate(&self, mode: u32, offset: i64, len: i64) -> Result<(), Errno> {
        const KEEP_SIZE: u32 = 1;
        if offset < 0 || len <= 0 {
            return Err(Errno::EINVAL);
        }
        if !self.writable() {
            return Err(Errno::EBADF);
        }
        let node = match &self.kind {
            FileKind::Tmp(node) => node,
            FileKind::Pipe(_) => return Err(Errno::ESPIPE),
            FileKind::Dir(_) => return Err(Errno::EISDIR),
            _ => return Err(Errno::ENODEV),
        };
        let end = offset.checked_add(len).ok_or(Errno::EFBIG)?;
        match mode {
            0 if end as u64 > node.size() => node.truncate(end as u64),
            0 | KEEP_SIZE => Ok(()),
            _ => Err(Errno::EOPNOTSUPP),
        }
    }

    /// `lseek`: the new offset. `ESPIPE` for pipes and the tty, `EINVAL`
    /// for a bad `whence` or a negative result (and `SEEK_END` on a
    /// directory).
    pub fn lseek(&self, offset: i64, whence: u32) -> Result<u64, Errno> {
        let size = match &self.kind {
            FileKind::Console
            | FileKind::Pipe(_)
            | FileKind::ProcDesc(_)
            | FileKind::EventFd(_)
            | FileKind::Epoll(_) => {
                return Err(Errno::ESPIPE);
            }
            FileKind::Mem(_) => return Ok(0),
            FileKind::Ram { data, .. } => Some(data.len() as i64),
            FileKind::Proc { data, .. } => Some(data.lock().bytes.len() as i64),
            FileKind::Tmp(node) => Some(node.size() as i64),
            FileKind::Dir(_) => None,
        };
        let mut current = self.offset.lock();
        let base = match whence {
            SEEK_SET => 0,
            SEEK_CUR => *current as i64,
            SEEK_END => size.ok_or(Errno::EINVAL)?,
            _ => return Err(Errno::EINVAL),
        };
        let new = base.checked_add(offset).ok_or(Errno::EINVAL)?;
        let new = u64::try_from(new).map_err(|_| Errno::EINVAL)?;
        *current = new;
        Ok(new)
    }

    /// `fstat`.
    pub fn stat(&self) -> Stat {
        match &self.kind {
            FileKind::Ram { id, .. } => Vnode::Ram(*id).stat(),
            FileKind::Dir(vnode) => vnode.stat(),
            FileKind::Tmp(node) => node.stat(),
            FileKind::Proc { node, .. } => Vnode::Proc(*node).stat(),
            FileKind::Console => Vnode::Dev(Device::Console).stat(),
            FileKind::Mem(device) => Vnode::Dev(*device).stat(),
            FileKind::Pipe(end) => Stat {
                dev: 4,
                ino: end.ino(),
                nlink: 1,
                mode: S_IFIFO | 0o600,
                blksize: 4096,
                ..Stat::default()
            },
            // FreeBSD's procdesc_stat: the PID as the inode, no type bits.
            FileKind::ProcDesc(pd) => Stat {
                dev: 5,
                ino: u64::from(pd.pid().as_u32()),
                nlink: 1,
                mode: 0o600,
                blksize: 4096,
                ..Stat::default()
            },
            // Linux's anonymous inode: no type bits, mode 0600.
            FileKind::EventFd(_) | FileKind::Epoll(_) => Stat {
                dev: 5,
                ino: 0,
                nlink: 1,
                mode: 0o600,
                blksize: 4096,
                ..Stat::default()
            },
        }
    }

    /// The epoll instance this file is, if it is one.
    pub fn epoll(&self) -> Option<&super::epoll::Epoll> {
        match &self.kind {
            FileKind::Epoll(ep) => Some(ep),
            _ => None,
        }
    }

    /// The process descriptor this file is, if it is one.
    pub fn procdesc(&self) -> Option<&Arc<crate::proc::procdesc::ProcDesc>> {
        match &self.kind {
            FileKind::ProcDesc(pd) => Some(pd),
            _ => None,
        }
    }

    /// The process a `/proc/PID` directory named when it was opened
    /// (`proc_dir`); `None` for any other file.
    pub fn proc_dir(&self) -> Option<&Arc<crate::proc::procdesc::ProcDesc>> {
        self.proc_dir.as_ref()
    }

    /// `getdents64`: as many `linux_dirent64` records as fit in `limit`
    /// bytes, from the offset on (empty at the end). `ENOTDIR` for a
    /// non-directory, `EINVAL` if the next record does not fit.
    pub fn getdents(&self, limit: usize) -> Result<Vec<u8>, Errno> {
        let FileKind::Dir(vnode) = &self.kind else {
            return Err(Errno::ENOTDIR);
        };
        let parent_ino = self.parent_ino();
        let entries = vnode.entries(parent_ino)?;
        let mut offset = self.offset.lock();
        let mut out = Vec::new();
        let mut index = usize::try_from(*offset).unwrap_or(usize::MAX);
        while let Some((name, ino, dtype)) = entries.get(index) {
            if !push_dirent(
                &mut out,
                limit,
                *ino,
                index as i64 + 1,
                *dtype,
                name.as_bytes(),
            ) {
                if out.is_empty() {
                    return Err(Errno::EINVAL);
                }
                break;
            }
            index += 1;
        }
        *offset = index as u64;
        Ok(out)
    }

    /// The inode number of the directory holding this one (`..`).
    fn parent_ino(&self) -> u64 {
        let parent = super::path::normalize(&self.path, b"..");
        parent
            .ok()
            .and_then(|p| vfs::resolve(&p, true).ok())
            .map_or(1, |v| v.stat().ino)
    }

    /// The `poll` events that hold now (`super::poll`): what Linux's
    /// `f_op->poll` of the kind reports.
    pub fn poll_mask(&self) -> u32 {
        use super::poll::*;
        match &self.kind {
            FileKind::Console => {
                let mut mask = POLLOUT | POLLWRNORM;
                if tty::console().read_ready() {
                    mask |= POLLIN | POLLRDNORM;
                }
                mask
            }
            FileKind::Pipe(end) => end.poll_mask(),
            FileKind::ProcDesc(pd) => pd.poll_mask(),
            FileKind::EventFd(e) => e.poll_mask(),
            FileKind::Epoll(ep) => ep.poll_mask(),
            FileKind::Ram { .. }
            | FileKind::Proc { .. }
            | FileKind::Dir(_)
            | FileKind::Tmp(_)
            | FileKind::Mem(_) => DEFAULT_POLLMASK,
        }
    }

    /// The events notified when [`OpenFile::poll_mask`] may change (none
    /// for a file that is always ready).
    pub fn poll_sources(&self) -> Option<&crate::task::Event> {
        match &self.kind {
            FileKind::Console => Some(tty::console().readable_event()),
            FileKind::Pipe(end) => Some(end.poll_event()),
            FileKind::ProcDesc(pd) => Some(crate::proc::procdesc::exit_event(pd.pid())),
            FileKind::EventFd(e) => Some(e.poll_event()),
            FileKind::Epoll(ep) => Some(ep.changed()),
            FileKind::Ram { .. }
            | FileKind::Proc { .. }
            | FileKind::Dir(_)
            | FileKind::Tmp(_)
            | FileKind::Mem(_) => None,
        }
    }

    /// Whether a read would not wait (`poll` readiness).
    pub fn read_ready(&self) -> bool {
        match &self.kind {
            FileKind::Console => tty::console().read_ready(),
            FileKind::Pipe(end) => end.reads() && end.read_ready(),
            _ => true,
        }
    }

    /// Whether a write would not wait (`poll` readiness).
    pub fn write_ready(&self) -> bool {
        match &self.kind {
            FileKind::Pipe(end) => end.writes() && end.write_ready(),
            _ => true,
        }
    }

    /// Bytes a read could return now without waiting (`FIONREAD`), for
    /// pipes and the tty.
    pub fn available(&self) -> Option<usize> {
        match &self.kind {
            FileKind::Console => Some(tty::console().available()),
            FileKind::Pipe(end) => Some(end.available()),
            _ => None,
        }
    }
}

/// A read of a memory device: end of file for `/dev/null`, zeros for
/// `/dev/zero` and `/dev/full`, random bytes for the random devices.
fn mem_read(device: Device, out: &mut [u8]) -> usize {
    match device {
        Device::Null => 0,
        Device::Random | Device::Urandom => {
            arch::cpu::random::fill(out);
            out.len()
        }
        Device::Zero | Device::Full | Device::Console => {
            out.fill(0);
            out.len()
        }
    }
}

/// A write to a memory device: swallowed, except by `/dev/full`
/// (`ENOSPC`, as Linux).
fn mem_write(device: Device, data: &[u8]) -> Result<usize, Errno> {
    match device {
        Device::Full => Err(Errno::ENOSPC),
        _ => Ok(data.len()),
    }
}

/// Copies from `data` at `offset` into `out`; returns the count (0 at or
/// past the end).
fn copy_at(data: &[u8], offset: u64, out: &mut [u8]) -> usize {
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(data.len());
    let n = out.len().min(data.len() - start);
    out[..n].copy_from_slice(&data[start..start + n]);
    n
}
