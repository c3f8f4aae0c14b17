//! The file system calls: descriptors, reads and writes, paths, pipes,
//! terminal `ioctl`s (Linux x86-64 numbers and layouts).
//!
//! [`handles`] says which numbers live here; [`call`] runs one against a
//! [`FileCtx`] (the caller's descriptor table and fs context) and its
//! address space. The kernel side of each call is in `crate::fs`; this
//! module checks arguments, copies user memory (every pointer through
//! `copy_from_user`/`copy_to_user`, so a bad one is `EFAULT`) and maps the
//! results. Reads and writes move at most [`IO_MAX`] bytes per call (a
//! short count, which callers retry); a read from a pipe or the terminal
//! probes its buffer before it waits, so a bad buffer is `EFAULT` without
//! consuming input. A buffer whose range reaches past user space
//! ([`crate::vm::USER_TOP`]) is `EFAULT` before anything happens, whatever
//! the count (0 too), as Linux's `access_ok`; inside it, a read of 0 bytes
//! at the end of a file returns 0 whatever the buffer, as on Linux.

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::fs::fdtable::fd_arg;
use crate::fs::file::FileKind;
use crate::fs::file::oflags::{O_CLOEXEC, O_CLOFORK, O_NONBLOCK};
use crate::fs::ldisc::{TERMIOS_SIZE, Termios};
use crate::fs::path::{Normal, normalize};
use crate::fs::tmpfs::{RenameMode, TmpNode};
use crate::fs::vfs::{self, Vnode};
use crate::fs::{FdFlags, Files, FsContext, OpenFile};
use crate::proc::process::Process;
use crate::proc::signal;
use crate::vm::space::AddressSpace;
use abi::nr;
use abi::{Errno, SysResult};

/// Most bytes one read or write moves.
pub const IO_MAX: usize = 64 << 10;
/// Most `iovec`s per `readv`/`writev` (`IOV_MAX`).
const IOV_MAX: u64 = 1024;
/// `AT_FDCWD`: paths relative to the cwd.
pub const AT_FDCWD: i32 = -100;
const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
const AT_EACCESS: u64 = 0x200;
const AT_NO_AUTOMOUNT: u64 = 0x800;
const AT_EMPTY_PATH: u64 = 0x1000;

/// `fcntl` commands.
pub mod fcntl {
    pub const F_DUPFD: u64 = 0;
    pub const F_GETFD: u64 = 1;
    pub const F_SETFD: u64 = 2;
    pub const F_GETFL: u64 = 3;
    pub const F_SETFL: u64 = 4;
    pub const F_DUPFD_CLOEXEC: u64 = 1030;
}

/// Terminal `ioctl` requests.
pub mod ioctl {
    pub const TCGETS: u64 = 0x5401;
    pub const TCSETS: u64 = 0x5402;
    pub const TCSETSW: u64 = 0x5403;
    pub const TCSETSF: u64 = 0x5404;
    pub const TIOCSCTTY: u64 = 0x540e;
    pub const TIOCGPGRP: u64 = 0x540f;
    pub const TIOCSPGRP: u64 = 0x5410;
    pub const TIOCGWINSZ: u64 = 0x5413;
    pub const TIOCSWINSZ: u64 = 0x5414;
    pub const FIONREAD: u64 = 0x541b;
}

/// What a file system call acts on: the caller's tables.
pub struct FileCtx {
    pub files: Arc<Files>,
    pub fs: Arc<FsContext>,
    /// The caller: `SIGPIPE` goes to it, and its signals interrupt a
    /// blocked read or write (`EINTR`). `None` in kernel tests.
    pub process: Option<Arc<Process>>,
    /// The calling thread's id (`/proc/thread-self`); 0 in kernel tests.
    pub tid: u32,
}

impl FileCtx {
    /// The caller's credentials (root in kernel tests).
    fn creds(&self) -> crate::proc::cred::Creds {
        self.process
            .as_ref()
            .map_or(crate::proc::cred::Creds::ROOT, |p| p.creds())
    }

    /// The ids a file the caller makes belongs to: its effective uid and
    /// gid (Linux's fsuid and fsgid).
    fn ids(&self) -> (u32, u32) {
        let creds = self.creds();
        (creds.euid, creds.egid)
    }

    /// The caller's descriptor limit (`Process::nofile`; the table's
    /// size in kernel tests).
    fn nofile(&self) -> usize {
        self.process
            .as_ref()
            .map_or(crate::fs::fdtable::NOFILE_MAX, |p| p.nofile())
    }

    /// Awaits `io` (a read or write on `file`); for a pipe or the terminal
    /// (which may wait) a signal the caller lets through ends it with
    /// `EINTR` (`proc::signal::interruptible`; pipe and terminal reads are
    /// cancel-safe, a long pipe write interrupted after some bytes loses
    /// its partial count).
    async fn blocking<F>(&self, file: &OpenFile, io: F) -> Result<usize, Errno>
    where
        F: core::future::Future<Output = Result<usize, Errno>>,
    {
        match &self.process {
            Some(process) if file.consumes_input() => signal::interruptible(process, io).await?,
            _ => io.await,
        }
    }
}

/// Whether system call `number` is one of this module's.
pub fn handles(number: u64) -> bool {
    matches!(
        number,
        nr::READ
            | nr::WRITE
            | nr::OPEN
            | nr::CLOSE
            | nr::STAT
            | nr::FSTAT
            | nr::LSTAT
            | nr::LSEEK
            | nr::IOCTL
            | nr::PREAD64
            | nr::PWRITE64
            | nr::READV
            | nr::WRITEV
            | nr::ACCESS
            | nr::PIPE
            | nr::DUP
            | nr::DUP2
            | nr::FCNTL
            | nr::GETCWD
            | nr::CHDIR
            | nr::FCHDIR
            | nr::MKDIR
            | nr::UNLINK
            | nr::GETDENTS64
            | nr::OPENAT
            | nr::NEWFSTATAT
            | nr::DUP3
            | nr::PIPE2
            | nr::FACCESSAT2
            | nr::TRUNCATE
            | nr::FTRUNCATE
            | nr::UMASK
            | nr::RENAME
            | nr::RENAMEAT
            | nr::RENAMEAT2
            | nr::RMDIR
            | nr::LINK
            | nr::LINKAT
            | nr::SYMLINK
            | nr::SYMLINKAT
            | nr::READLINK
            | nr::READLINKAT
            | nr::CHMOD
            | nr::FCHMOD
            | nr::FCHMODAT
            | nr::MKNOD
            | nr::MKNODAT
            | nr::UMOUNT2
            | nr::FALLOCATE
            | nr::CHOWN
            | nr::LCHOWN
            | nr::FCHOWN
            | nr::FCHOWNAT
            | nr::UTIMENSAT
            | nr::MKDIRAT
            | nr::UNLINKAT
            | nr::CLOSE_RANGE
            | nr::STATFS
            | nr::FSTATFS
    )
}

/// Runs file system call `number` with `args` (module docs).
pub async fn call(cx: &FileCtx, space: &AddressSpace, number: u64, args: [u64; 6]) -> SysResult {
    let [a0, a1, a2, a3, a4, _] = args;
    let at = a0 as i32;
    match number {
        nr::READ => read(cx, space, a0, a1, a2).await,
        nr::WRITE => write(cx, space, a0, a1, a2).await,
        nr::READV => readv(cx, space, a0, a1, a2).await,
        nr::WRITEV => writev(cx, space, a0, a1, a2).await,
        nr::PREAD64 => pread(cx, space, a0, a1, a2, a3),
        nr::PWRITE64 => pwrite(cx, space, a0, a1, a2, a3),
        nr::OPEN => openat(cx, space, AT_FDCWD, a0, a1, a2).await,
        nr::OPENAT => openat(cx, space, at, a1, a2, a3).await,
        nr::CLOSE => cx.files.remove(a0).map(|file| {
            drop(file);
            0
        }),
        nr::LSEEK => cx.files.get(a0)?.lseek(a1 as i64, a2 as u32),
        nr::FSTAT => {
            let stat = cx.files.get(a0)?.stat();
            space.copy_to_user(a1, &stat.to_bytes())?;
            Ok(0)
        }
        nr::STATFS => {
            let path = user_path(cx, space, AT_FDCWD, a0)?;
            let dev = vfs::resolve(&path, true)?.stat().dev;
            space.copy_to_user(a1, &vfs::statfs(dev).to_bytes())?;
            Ok(0)
        }
        nr::FSTATFS => {
            let dev = cx.files.get(a0)?.stat().dev;
            space.copy_to_user(a1, &vfs::statfs(dev).to_bytes())?;
            Ok(0)
        }
        nr::STAT => fstatat(cx, space, AT_FDCWD, a0, a1, 0),
        nr::LSTAT => fstatat(cx, space, AT_FDCWD, a0, a1, AT_SYMLINK_NOFOLLOW),
        nr::NEWFSTATAT => fstatat(cx, space, at, a1, a2, a3),
        nr::ACCESS => faccessat(cx, space, AT_FDCWD, a0, a1, 0),
        nr::FACCESSAT2 => faccessat(cx, space, at, a1, a2, a3),
        nr::GETDENTS64 => getdents64(cx, space, a0, a1, a2),
        nr::IOCTL => ioctl(cx, space, a0, a1, a2),
        nr::PIPE => pipe2(cx, space, a0, 0),
        nr::PIPE2 => pipe2(cx, space, a0, a1),
        nr::DUP => cx
            .files
            .dup_from(a0, 0, FdFlags::NONE, cx.nofile())
            .map(u64::from),
        nr::DUP2 => dup2(cx, a0, a1),
        nr::DUP3 => dup3(cx, a0, a1, a2),
        nr::CLOSE_RANGE => close_range(cx, a0, a1, a2),
        nr::FCNTL => fcntl(cx, a0, a1, a2),
        nr::GETCWD => getcwd(cx, space, a0, a1),
        nr::CHDIR => chdir(cx, space, a0),
        nr::FCHDIR => fchdir(cx, a0),
        nr::MKDIR => mkdir(cx, space, AT_FDCWD, a0, a1),
        nr::MKDIRAT => mkdir(cx, space, at, a1, a2),
        nr::MKNOD => mknod(cx, space, AT_FDCWD, a0, a1),
        nr::UMOUNT2 => umount2(cx, space, a0, a1),
        nr::FALLOCATE => cx
            .files
            .get(a0)?
            .fallocate(a1 as u32, a2 as i64, a3 as i64)
            .map(|()| 0),
        nr::MKNODAT => mknod(cx, space, at, a1, a2),
        nr::UNLINK => unlinkat(cx, space, AT_FDCWD, a0, 0),
        nr::UNLINKAT => unlinkat(cx, space, at, a1, a2),
        nr::RMDIR => unlinkat(cx, space, AT_FDCWD, a0, AT_REMOVEDIR),
        nr::RENAME => renameat2(cx, space, [AT_FDCWD as u64, a0, AT_FDCWD as u64, a1, 0]),
        nr::RENAMEAT => renameat2(cx, space, [a0, a1, a2, a3, 0]),
        nr::RENAMEAT2 => renameat2(cx, space, [a0, a1, a2, a3, a4]),
        nr::LINK => linkat(cx, space, [AT_FDCWD as u64, a0, AT_FDCWD as u64, a1, 0]),
        nr::LINKAT => linkat(cx, space, [a0, a1, a2, a3, a4]),
        nr::SYMLINK => symlinkat(cx, space, a0, AT_FDCWD, a1),
        nr::SYMLINKAT => symlinkat(cx, space, a0, a1 as i32, a2),
        nr::READLINK => readlinkat(cx, space, AT_FDCWD, a0, a1, a2),
        nr::READLINKAT => readlinkat(cx, space, at, a1, a2, a3),
        nr::CHMOD => fchmodat(cx, space, AT_FDCWD, a0, a1),
        nr::FCHMODAT => fchmodat(cx, space, at, a1, a2),
        nr::FCHMOD => fchmod(cx, a0, a1),
        nr::CHOWN => fchownat(cx, space, AT_FDCWD, a0, [a1, a2, 0]),
        nr::LCHOWN => fchownat(cx, space, AT_FDCWD, a0, [a1, a2, AT_SYMLINK_NOFOLLOW]),
        nr::FCHOWNAT => fchownat(cx, space, at, a1, [a2, a3, a4]),
        nr::FCHOWN => chown_vnode(cx, &file_vnode(&*cx.files.get(a0)?)?, a1, a2),
        nr::UTIMENSAT => utimensat(cx, space, at, a1, a2, a3),
        // Linux keeps only the permission bits and cannot fail.
        nr::UMASK => Ok(u64::from(cx.fs.set_umask(a0 as u32 & 0o777))),
        nr::TRUNCATE => truncate(cx, space, a0, a1),
        nr::FTRUNCATE => cx.files.get(a0)?.truncate(a1 as i64).map(|()| 0),
        _ => Err(Errno::ENOSYS),
    }
}

// ---------------------------------------------------------------------------
// User memory helpers
// ---------------------------------------------------------------------------

/// Copies a NUL-terminated path from user memory, a page at a time (so a
/// string that ends before an unmapped page is fine). `EFAULT` for a bad
/// pointer, `ENAMETOOLONG` past `PATH_MAX`.
pub fn read_path(space: &AddressSpace, ptr: u64) -> Result<Vec<u8>, Errno> {
    const LIMIT: usize = crate::fs::initramfs::PATH_MAX + 1;
    let mut path = Vec::new();
    let mut at = ptr;
    loop {
        let in_page = (4096 - (at & 4095)) as usize;
        let n = in_page.min(LIMIT + 1 - path.len());
        let mut chunk = crate::fallible::zeroed(n)?;
        space.copy_from_user(at, &mut chunk)?;
        if let Some(end) = chunk.iter().position(|&b| b == 0) {
            path.extend_from_slice(&chunk[..end]);
            return if path.len() >= LIMIT {
                Err(Errno::ENAMETOOLONG)
            } else {
                Ok(path)
            };
        }
        path.extend_from_slice(&chunk);
        if path.len() > LIMIT - 1 {
            return Err(Errno::ENAMETOOLONG);
        }
        at = at.checked_add(n as u64).ok_or(Errno::EFAULT)?;
    }
}

/// Copies up to `count` bytes from user memory, page by page, stopping at
/// the first fault: `EFAULT` only if not even one byte could be read.
fn copy_in(space: &AddressSpace, ptr: u64, count: usize) -> Result<Vec<u8>, Errno> {
    let mut data = crate::fallible::zeroed(count)?;
    let mut done = 0;
    while done < count {
        let at = ptr.wrapping_add(done as u64);
        let n = ((4096 - (at & 4095)) as usize).min(count - done);
        if let Err(e) = space.copy_from_user(at, &mut data[done..done + n]) {
            if done == 0 {
                return Err(e);
            }
            break;
        }
        done += n;
    }
    data.truncate(done);
    Ok(data)
}

/// Checks that the first byte at `ptr` is writable user memory (a read's
/// buffer, before the read consumes input), by the VMAs alone: the page is
/// not touched, so a forked child blocked in a read copies nothing of its
/// parent (`AddressSpace::check_writable`).
fn probe_writable(space: &AddressSpace, ptr: u64) -> Result<(), Errno> {
    space.check_writable(ptr)
}

/// The absolute path `ptr` names relative to `dirfd` (`AT_FDCWD` or a
/// directory descriptor: `EBADF`, `ENOTDIR`).
fn user_path(cx: &FileCtx, space: &AddressSpace, dirfd: i32, ptr: u64) -> Result<Normal, Errno> {
    let path = read_path(space, ptr)?;
    resolve_at(cx, dirfd, &path)
}

/// Normalises `path` against `dirfd`'s directory; `/proc/self` becomes
/// the caller's `/proc/PID` and `/proc/thread-self` its
/// `/proc/PID/task/TID` ([`crate::fs::procfs`]).
pub fn resolve_at(cx: &FileCtx, dirfd: i32, path: &[u8]) -> Result<Normal, Errno> {
    let normal = resolve_at_literally(cx, dirfd, path)?;
    Ok(match &cx.process {
        Some(process) => proc_self(normal, process.pid().as_u32(), cx.tid),
        None => normal,
    })
}

/// [`resolve_at`] without the `/proc/self` rewrite (`readlink`).
fn resolve_at_literally(cx: &FileCtx, dirfd: i32, path: &[u8]) -> Result<Normal, Errno> {
    if path.first() == Some(&b'/') || path.is_empty() {
        return normalize("/", path);
    }
    if dirfd == AT_FDCWD {
        return normalize(&cx.fs.cwd(), path);
    }
    let dir = cx.files.get(dirfd as u32 as u64)?;
    if !dir.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    normalize(dir.path(), path)
}

/// `/proc/self` and the paths below it, for process `pid`: `/proc/PID`;
/// `/proc/thread-self` for thread `tid`: `/proc/PID/task/TID`.
pub(super) fn proc_self(mut path: Normal, pid: u32, tid: u32) -> Normal {
    let (rest, task) = if let Some(rest) = path.path.strip_prefix("/proc/self") {
        (rest, false)
    } else if let Some(rest) = path.path.strip_prefix("/proc/thread-self") {
        (rest, true)
    } else {
        return path;
    };
    if !rest.is_empty() && !rest.starts_with('/') {
        return path;
    }
    path.path = if task {
        alloc::format!("/proc/{pid}/task/{tid}{rest}")
    } else {
        alloc::format!("/proc/{pid}{rest}")
    };
    path
}

// ---------------------------------------------------------------------------
// Reads and writes
// ---------------------------------------------------------------------------

/// `EFAULT` when `count` bytes at `buf` would reach past user space
/// (Linux's `access_ok`, which `read`, `write`, `pread64` and `pwrite64`
/// check first: a huge count from a small buffer is `EFAULT`, not a
/// short transfer).
fn access_ok(buf: u64, count: u64) -> Result<(), Errno> {
    match buf.checked_add(count) {
        Some(end) if end <= crate::vm::USER_TOP => Ok(()),
        _ => Err(Errno::EFAULT),
    }
}

/// `read(fd, buf, count)`.
async fn read(cx: &FileCtx, space: &AddressSpace, fd: u64, buf: u64, count: u64) -> SysResult {
    let file = cx.files.get(fd)?;
    access_ok(buf, count)?;
    let n = usize::try_from(count).unwrap_or(usize::MAX).min(IO_MAX);
    if n > 0 && file.consumes_input() {
        probe_writable(space, buf)?;
    }
    let mut data = crate::fallible::zeroed(n)?;
    let k = cx.blocking(&file, file.read(&mut data)).await?;
    if let Err(e) = space.copy_to_user(buf, &data[..k]) {
        file.unread(k);
        return Err(e);
    }
    Ok(k as u64)
}

/// `write(fd, buf, count)`: a fault after some bytes gives a short count.
async fn write(cx: &FileCtx, space: &AddressSpace, fd: u64, buf: u64, count: u64) -> SysResult {
    let file = cx.files.get(fd)?;
    access_ok(buf, count)?;
    let n = usize::try_from(count).unwrap_or(usize::MAX).min(IO_MAX);
    let data = if n == 0 {
        Vec::new()
    } else {
        copy_in(space, buf, n)?
    };
    write_file(cx, &file, &data).await
}

/// Writes `data` to `file`; `EPIPE` (a pipe without readers) also sends
/// the calling thread `SIGPIPE`, as Linux does: its default action kills
/// the process, and a thread that blocks, ignores or catches it sees
/// `EPIPE`.
async fn write_file(cx: &FileCtx, file: &OpenFile, data: &[u8]) -> SysResult {
    match cx.blocking(file, file.write(data)).await {
        Ok(n) => Ok(n as u64),
        Err(Errno::EPIPE) => {
            let info = signal::SigInfo::kernel(signal::SIGPIPE);
            match crate::proc::thread::current() {
                Some(thread) => signal::send_thread(&thread, signal::SIGPIPE, info),
                None => {
                    if let Some(process) = &cx.process {
                        signal::send(process, signal::SIGPIPE, info);
                    }
                }
            }
            Err(Errno::EPIPE)
        }
        Err(e) => Err(e),
    }
}

/// Reads a `struct iovec` array: `(base, len)` pairs. `EINVAL` for more
/// than `IOV_MAX` or a total beyond `isize::MAX`, `EFAULT` for a bad array.
fn read_iovecs(space: &AddressSpace, iov: u64, iovcnt: u64) -> Result<Vec<(u64, u64)>, Errno> {
    if iovcnt > IOV_MAX {
        return Err(Errno::EINVAL);
    }
    let mut raw = crate::fallible::zeroed(iovcnt as usize * 16)?;
    space.copy_from_user(iov, &mut raw)?;
    let mut total: u64 = 0;
    let vecs: Vec<(u64, u64)> = raw
        .chunks_exact(16)
        .map(|c| {
            let word = |o: usize| u64::from_le_bytes(c[o..o + 8].try_into().unwrap_or([0; 8]));
            (word(0), word(8))
        })
        .collect();
    for &(_, len) in &vecs {
        total = total.checked_add(len).ok_or(Errno::EINVAL)?;
        if total > isize::MAX as u64 {
            return Err(Errno::EINVAL);
        }
    }
    Ok(vecs)
}

/// `readv(fd, iov, iovcnt)`: one read of the total (at most [`IO_MAX`]),
/// scattered over the buffers.
async fn readv(cx: &FileCtx, space: &AddressSpace, fd: u64, iov: u64, iovcnt: u64) -> SysResult {
    let file = cx.files.get(fd)?;
    let vecs = read_iovecs(space, iov, iovcnt)?;
    let total = vecs.iter().map(|v| v.1).sum::<u64>().min(IO_MAX as u64) as usize;
    if let Some(&(base, _)) = vecs.iter().find(|v| v.1 > 0)
        && file.consumes_input()
    {
        probe_writable(space, base)?;
    }
    let mut data = crate::fallible::zeroed(total)?;
    let k = cx.blocking(&file, file.read(&mut data)).await?;
    let mut done = 0;
    for (base, len) in vecs {
        if done == k {
            break;
        }
        let n = (len as usize).min(k - done);
        if let Err(e) = space.copy_to_user(base, &data[done..done + n]) {
            file.unread(k - done);
            return if done == 0 { Err(e) } else { Ok(done as u64) };
        }
        done += n;
    }
    Ok(k as u64)
}

/// `writev(fd, iov, iovcnt)`: the buffers gathered into one write (so a
/// small `writev` to a pipe is atomic).
async fn writev(cx: &FileCtx, space: &AddressSpace, fd: u64, iov: u64, iovcnt: u64) -> SysResult {
    let file = cx.files.get(fd)?;
    let vecs = read_iovecs(space, iov, iovcnt)?;
    let mut data = Vec::new();
    for (base, len) in vecs {
        let room = IO_MAX - data.len();
        if room == 0 {
            break;
        }
        let want = usize::try_from(len).unwrap_or(usize::MAX).min(room);
        if want == 0 {
            continue;
        }
        match copy_in(space, base, want) {
            Ok(bytes) => {
                let short = bytes.len() < want;
                data.extend_from_slice(&bytes);
                if short {
                    break;
                }
            }
            Err(e) if data.is_empty() => return Err(e),
            Err(_) => break,
        }
    }
    write_file(cx, &file, &data).await
}

/// `pread64(fd, buf, count, offset)`.
fn pread(
    cx: &FileCtx,
    space: &AddressSpace,
    fd: u64,
    buf: u64,
    count: u64,
    offset: u64,
) -> SysResult {
    let file = cx.files.get(fd)?;
    if (offset as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    access_ok(buf, count)?;
    let n = usize::try_from(count).unwrap_or(usize::MAX).min(IO_MAX);
    let mut data = crate::fallible::zeroed(n)?;
    let k = file.pread(&mut data, offset)?;
    space.copy_to_user(buf, &data[..k])?;
    Ok(k as u64)
}

/// `pwrite64(fd, buf, count, offset)`.
fn pwrite(
    cx: &FileCtx,
    space: &AddressSpace,
    fd: u64,
    buf: u64,
    count: u64,
    offset: u64,
) -> SysResult {
    let file = cx.files.get(fd)?;
    if (offset as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    access_ok(buf, count)?;
    let n = usize::try_from(count).unwrap_or(usize::MAX).min(IO_MAX);
    let data = if n == 0 {
        Vec::new()
    } else {
        copy_in(space, buf, n)?
    };
    file.pwrite(&data, offset).map(|k| k as u64)
}

// ---------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------

/// `openat(dirfd, path, flags, mode)` (and `open`).
async fn openat(
    cx: &FileCtx,
    space: &AddressSpace,
    dirfd: i32,
    path: u64,
    flags: u64,
    mode: u64,
) -> SysResult {
    let path = user_path(cx, space, dirfd, path)?;
    let flags = flags as u32;
    cx.files.check_room(cx.nofile())?;
    let file = OpenFile::open(&path, flags, mode as u32 & 0o7777, cx.fs.umask(), cx.ids())?;
    // A named pipe's blocking open waits for the other side (a signal
    // ends the wait with EINTR, dropping the end it had opened).
    if let FileKind::Pipe(end) = file.kind()
        && flags & O_NONBLOCK == 0
    {
        match &cx.process {
            Some(process) => signal::interruptible(process, end.wait_partner()).await?,
            None => end.wait_partner().await,
        }
    }
    cx.files
        .insert(file, fd_flags(flags), cx.nofile())
        .map(u64::from)
}

/// The descriptor flags `O_CLOEXEC`/`O_CLOFORK` ask for.
fn fd_flags(flags: u32) -> FdFlags {
    let mut out = FdFlags::NONE;
    if flags & O_CLOEXEC != 0 {
        out = out.union(FdFlags::CLOEXEC);
    }
    if flags & O_CLOFORK != 0 {
        out = out.union(FdFlags::CLOFORK);
    }
    out
}

/// `newfstatat(dirfd, path, buf, flags)` (and `stat`, `lstat`).
fn fstatat(
    cx: &FileCtx,
    space: &AddressSpace,
    dirfd: i32,
    path: u64,
    buf: u64,
    flags: u64,
) -> SysResult {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT) != 0 {
        return Err(Errno::EINVAL);
    }
    let raw = read_path(space, path)?;
    let stat = if raw.is_empty() && flags & AT_EMPTY_PATH != 0 {
        if dirfd == AT_FDCWD {
            vfs::resolve(&normalize("/", cx.fs.cwd().as_bytes())?, true)?.stat()
        } else {
            cx.files.get(dirfd as u32 as u64)?.stat()
        }
    } else {
        let path = resolve_at(cx, dirfd, &raw)?;
        vfs::resolve(&path, flags & AT_SYMLINK_NOFOLLOW == 0)?.stat()
    };
    space.copy_to_user(buf, &stat.to_bytes())?;
    Ok(0)
}

/// `faccessat2(dirfd, path, mode, flags)` (and `access`). There are no
/// credentials yet (everyone is root): `W_OK` outside `/tmp` and `/dev`
/// is `EROFS`, `X_OK` needs an execute bit or a directory.
fn faccessat(
    cx: &FileCtx,
    space: &AddressSpace,
    dirfd: i32,
    path: u64,
    mode: u64,
    flags: u64,
) -> SysResult {
    const W_OK: u64 = 2;
    const X_OK: u64 = 1;
    if mode & !7 != 0 || flags & !(AT_SYMLINK_NOFOLLOW | AT_EACCESS | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let raw = read_path(space, path)?;
    let vnode = if raw.is_empty() && flags & AT_EMPTY_PATH != 0 && dirfd != AT_FDCWD {
        let file = cx.files.get(dirfd as u32 as u64)?;
        let path = normalize("/", file.path().as_bytes())?;
        vfs::resolve(&path, true)?
    } else {
        let path = resolve_at(cx, dirfd, &raw)?;
        vfs::resolve(&path, flags & AT_SYMLINK_NOFOLLOW == 0)?
    };
    if mode & W_OK != 0 && matches!(vnode, Vnode::Ram(_)) {
        return Err(Errno::EROFS);
    }
    if mode & X_OK != 0 && !vnode.is_dir() && vnode.stat().mode & 0o111 == 0 {
        return Err(Errno::EACCES);
    }
    Ok(0)
}

/// `getdents64(fd, dirp, count)`.
fn getdents64(cx: &FileCtx, space: &AddressSpace, fd: u64, dirp: u64, count: u64) -> SysResult {
    let file = cx.files.get(fd)?;
    let limit = usize::try_from(count).unwrap_or(usize::MAX).min(IO_MAX);
    // A directory's position (anything else is `ENOTDIR` below).
    let before = file
        .is_dir()
        .then(|| file.lseek(0, crate::fs::file::SEEK_CUR))
        .transpose()?;
    let records = file.getdents(limit)?;
    if let Err(e) = space.copy_to_user(dirp, &records) {
        // Nothing was delivered: the entries stay unread, as on Linux
        // (regression: /test/efault reads the directory after a fault).
        if let Some(before) = before {
            file.lseek(before as i64, crate::fs::file::SEEK_SET)?;
        }
        return Err(e);
    }
    Ok(records.len() as u64)
}

/// `getcwd(buf, size)`: the length including the NUL; `ERANGE` if it
/// does not fit.
fn getcwd(cx: &FileCtx, space: &AddressSpace, buf: u64, size: u64) -> SysResult {
    let mut cwd = cx.fs.cwd().into_bytes();
    cwd.push(0);
    if (size as usize) < cwd.len() {
        return Err(Errno::ERANGE);
    }
    space.copy_to_user(buf, &cwd)?;
    Ok(cwd.len() as u64)
}

/// `chdir(path)`: the working directory becomes the directory `path`
/// leads to, its links followed (so `getcwd` and a later `..` see the
/// directory's own path, as on Linux, not the link's).
fn chdir(cx: &FileCtx, space: &AddressSpace, path: u64) -> SysResult {
    let path = user_path(cx, space, AT_FDCWD, path)?;
    let (node, resolved) = vfs::resolve_to(&path, true)?;
    if !node.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    cx.fs.set_cwd(resolved);
    Ok(0)
}

/// `fchdir(fd)`.
fn fchdir(cx: &FileCtx, fd: u64) -> SysResult {
    let file = cx.files.get(fd)?;
    if !file.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    cx.fs.set_cwd(alloc::string::String::from(file.path()));
    Ok(0)
}

/// `mkdirat(dirfd, path, mode)` (and `mkdir`): only in `/tmp` (`EROFS`
/// elsewhere, `EEXIST` first).
fn mkdir(cx: &FileCtx, space: &AddressSpace, dirfd: i32, path: u64, mode: u64) -> SysResult {
    let path = user_path(cx, space, dirfd, path)?;
    let dir = new_name_dir(&path)?;
    let name = path.split_last().map_or("", |(_, name)| name);
    let mut perm = mode as u32 & 0o7777 & !cx.fs.umask();
    // A directory made in a set-group-ID directory is one too (Linux's
    // `inode_init_owner`).
    if dir.mode() & 0o2000 != 0 {
        perm |= 0o2000;
    }
    dir.mkdir_as(name, perm, dir.owner_for_new(cx.ids()))?;
    Ok(0)
}

/// `mknodat(dirfd, path, mode, dev)` (and `mknod`): a named pipe
/// (`S_IFIFO`) or, with type 0, an empty regular file, in `/tmp`.
/// Devices are `EPERM` (Tine makes none on request; Linux too without
/// `CAP_MKNOD`), a directory `EPERM` and an unknown type `EINVAL` (Linux's
/// `may_mknod`); `EEXIST` and `EROFS` as `mkdir`.
fn mknod(cx: &FileCtx, space: &AddressSpace, dirfd: i32, path: u64, mode: u64) -> SysResult {
    use crate::fs::stat::{S_IFCHR, S_IFDIR, S_IFIFO, S_IFMT, S_IFREG};
    const S_IFBLK: u32 = 0o060000;
    const S_IFSOCK: u32 = 0o140000;
    let mode = mode as u32;
    let kind = mode & S_IFMT;
    match kind {
        0 | S_IFREG | S_IFIFO => {}
        S_IFCHR | S_IFBLK | S_IFDIR => return Err(Errno::EPERM),
        // A socket node needs sockets, which Tine has not.
        S_IFSOCK => return Err(Errno::EOPNOTSUPP),
        _ => return Err(Errno::EINVAL),
    }
    let path = user_path(cx, space, dirfd, path)?;
    let dir = new_name_dir(&path)?;
    let name = path.split_last().map_or("", |(_, name)| name);
    let perm = mode & 0o7777 & !cx.fs.umask();
    let owner = dir.owner_for_new(cx.ids());
    if kind == S_IFIFO {
        dir.mkfifo_as(name, perm, owner)?;
    } else {
        dir.create_as(name, perm, true, owner)?;
    }
    Ok(0)
}

/// `umount2(target, flags)`: Tine's file systems (`/`, `/dev`, `/proc`,
/// `/tmp`) are fixed, so unmounting one is `EBUSY` (Linux's answer for a
/// mount in use); another path is not a mount point, `EINVAL`. Checked as
/// Linux's `ksys_umount` checks: unknown flags or `MNT_EXPIRE` with
/// `MNT_FORCE`/`MNT_DETACH` `EINVAL`, not root `EPERM`, then the path
/// (`UMOUNT_NOFOLLOW`: a final link not followed).
fn umount2(cx: &FileCtx, space: &AddressSpace, target: u64, flags: u64) -> SysResult {
    const MNT_FORCE: u64 = 1;
    const MNT_DETACH: u64 = 2;
    const MNT_EXPIRE: u64 = 4;
    const UMOUNT_NOFOLLOW: u64 = 8;
    let flags = u64::from(flags as u32);
    if flags & !(MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW) != 0
        || (flags & MNT_EXPIRE != 0 && flags & (MNT_FORCE | MNT_DETACH) != 0)
    {
        return Err(Errno::EINVAL);
    }
    if !cx.creds().is_root() {
        return Err(Errno::EPERM);
    }
    let path = user_path(cx, space, AT_FDCWD, target)?;
    let (_, resolved) = vfs::resolve_to(&path, flags & UMOUNT_NOFOLLOW == 0)?;
    if crate::fs::procfs::MOUNT_POINTS.contains(&resolved.as_str()) {
        Err(Errno::EBUSY)
    } else {
        Err(Errno::EINVAL)
    }
}

/// The tmpfs directory that is to hold `path`, a new name: `EEXIST` if
/// the path names something already (a dangling symbolic link too),
/// `EROFS` outside `/tmp`.
fn new_name_dir(path: &Normal) -> Result<Arc<TmpNode>, Errno> {
    if vfs::resolve(path, false).is_ok() {
        return Err(Errno::EEXIST);
    }
    match vfs::resolve_parent(path)? {
        (Vnode::Tmp(dir), _) => Ok(dir),
        _ => Err(Errno::EROFS),
    }
}

/// The tmpfs directory holding `path`, an existing name, and the name:
/// `EROFS` outside `/tmp` (`ENOENT` first).
fn old_name_dir(path: &Normal) -> Result<(Arc<TmpNode>, alloc::string::String), Errno> {
    vfs::resolve(path, false)?;
    match vfs::resolve_parent(path)? {
        (Vnode::Tmp(dir), name) => Ok((dir, name)),
        _ => Err(Errno::EROFS),
    }
}

/// `unlinkat`'s flag: remove a directory (`rmdir`).
const AT_REMOVEDIR: u64 = 0x200;

/// `unlinkat(dirfd, path, flags)` (and `unlink`, `rmdir`): only in `/tmp`
/// (`EROFS` elsewhere). Without `AT_REMOVEDIR` a directory is `EISDIR`;
/// with it, a non-directory is `ENOTDIR` and a full directory
/// `ENOTEMPTY`. Other flags `EINVAL`.
fn unlinkat(cx: &FileCtx, space: &AddressSpace, dirfd: i32, path: u64, flags: u64) -> SysResult {
    if flags & !AT_REMOVEDIR != 0 {
        return Err(Errno::EINVAL);
    }
    let path = user_path(cx, space, dirfd, path)?;
    let node = vfs::resolve(&path, false)?;
    if flags & AT_REMOVEDIR != 0 {
        if !node.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        // Linux: `rmdir("/")` is `EBUSY`.
        if path.split_last().is_none() {
            return Err(Errno::EBUSY);
        }
        let (dir, name) = old_name_dir(&path)?;
        return dir.rmdir(&name).map(|()| 0);
    }
    if node.is_dir() {
        return Err(Errno::EISDIR);
    }
    let (dir, name) = old_name_dir(&path)?;
    dir.unlink(&name).map(|()| 0)
}

/// `renameat2(olddirfd, old, newdirfd, new, flags)` (and `rename`,
/// `renameat`): in `/tmp` only (`EROFS` elsewhere, `EXDEV` between
/// `/tmp` and another file system). `RENAME_NOREPLACE` and
/// `RENAME_EXCHANGE` (not both: `EINVAL`); other flags `EINVAL`. A
/// directory moved below itself is `EINVAL`; the rest is
/// `tmpfs::rename`'s.
fn renameat2(
    cx: &FileCtx,
    space: &AddressSpace,
    [olddirfd, old, newdirfd, new, flags]: [u64; 5],
) -> SysResult {
    // `RENAME_WHITEOUT` (overlay file systems) is `EINVAL` too.
    let mode = match flags {
        0 => RenameMode::Replace,
        abi::rename::NOREPLACE => RenameMode::NoReplace,
        abi::rename::EXCHANGE => RenameMode::Exchange,
        _ => return Err(Errno::EINVAL),
    };
    let old = user_path(cx, space, olddirfd as i32, old)?;
    let new = user_path(cx, space, newdirfd as i32, new)?;
    vfs::resolve(&old, false)?;
    let (from_dir, from) = vfs::resolve_parent(&old)?;
    let (to_dir, to) = vfs::resolve_parent(&new)?;
    let (Vnode::Tmp(from_dir), Vnode::Tmp(to_dir)) = (from_dir, to_dir) else {
        let in_tmp = |p: &Normal| p.path.starts_with("/tmp/");
        return Err(if in_tmp(&old) != in_tmp(&new) {
            Errno::EXDEV
        } else {
            Errno::EROFS
        });
    };
    let below = |a: &Normal, b: &Normal| {
        b.path.len() > a.path.len()
            && b.path.starts_with(a.path.as_str())
            && b.path.as_bytes()[a.path.len()] == b'/'
    };
    if below(&old, &new) || (mode == RenameMode::Exchange && below(&new, &old)) {
        return Err(Errno::EINVAL);
    }
    crate::fs::tmpfs::rename(&from_dir, &from, &to_dir, &to, mode).map(|()| 0)
}

/// `linkat`'s flag: follow a final symbolic link of the old path.
const AT_SYMLINK_FOLLOW: u64 = 0x400;

/// `linkat(olddirfd, old, newdirfd, new, flags)` (and `link`): a further
/// name for a tmpfs file or symbolic link (a final link is not followed
/// unless `AT_SYMLINK_FOLLOW`). `EEXIST` if `new` exists, `EPERM` for a
/// directory, `EXDEV` from another file system, `EROFS` outside `/tmp`;
/// other flags `EINVAL`.
fn linkat(
    cx: &FileCtx,
    space: &AddressSpace,
    [olddirfd, old, newdirfd, new, flags]: [u64; 5],
) -> SysResult {
    if flags & !AT_SYMLINK_FOLLOW != 0 {
        return Err(Errno::EINVAL);
    }
    let old = user_path(cx, space, olddirfd as i32, old)?;
    let new = user_path(cx, space, newdirfd as i32, new)?;
    let node = vfs::resolve(&old, flags & AT_SYMLINK_FOLLOW != 0)?;
    let dir = new_name_dir(&new)?;
    let Vnode::Tmp(node) = node else {
        return Err(if node.is_dir() {
            Errno::EPERM
        } else {
            Errno::EXDEV
        });
    };
    let name = new.split_last().map_or("", |(_, name)| name);
    dir.link(name, &node).map(|()| 0)
}

/// `symlinkat(target, newdirfd, linkpath)` (and `symlink`): a symbolic
/// link in `/tmp` holding `target` as given (`ENOENT` if empty).
/// `EEXIST` if `linkpath` exists, `EROFS` outside `/tmp`.
fn symlinkat(
    cx: &FileCtx,
    space: &AddressSpace,
    target: u64,
    dirfd: i32,
    linkpath: u64,
) -> SysResult {
    let target = read_path(space, target)?;
    let path = user_path(cx, space, dirfd, linkpath)?;
    if target.is_empty() {
        return Err(Errno::ENOENT);
    }
    let target = core::str::from_utf8(&target).map_err(|_| Errno::EINVAL)?;
    let dir = new_name_dir(&path)?;
    let name = path.split_last().map_or("", |(_, name)| name);
    dir.symlink_as(name, target, dir.owner_for_new(cx.ids()))
        .map(|()| 0)
}

/// `readlinkat(dirfd, path, buf, size)` (and `readlink`): the target,
/// cut to `size` bytes, no NUL; returns its length. `EINVAL` for a size
/// of 0 or below, or a path that is no symbolic link. `/proc/self` reads
/// as the caller's PID.
fn readlinkat(
    cx: &FileCtx,
    space: &AddressSpace,
    dirfd: i32,
    path: u64,
    buf: u64,
    size: u64,
) -> SysResult {
    if size as i32 <= 0 {
        return Err(Errno::EINVAL);
    }
    let raw = read_path(space, path)?;
    let literal = resolve_at_literally(cx, dirfd, &raw)?;
    let target = match &cx.process {
        Some(process) if literal.path == "/proc/self" => {
            alloc::format!("{}", process.pid().as_u32())
        }
        Some(process) if literal.path == "/proc/thread-self" => {
            alloc::format!("{}/task/{}", process.pid().as_u32(), cx.tid)
        }
        // Below `/proc/self` (its `exe`), the caller's `/proc/PID`.
        _ => vfs::resolve(&resolve_at(cx, dirfd, &raw)?, false)?.link_target()?,
    };
    let n = target.len().min(size as i32 as usize);
    space.copy_to_user(buf, &target.as_bytes()[..n])?;
    Ok(n as u64)
}

/// `fchmodat(dirfd, path, mode)` (and `chmod`): the permission bits of a
/// tmpfs node (a final link followed); `EROFS` elsewhere.
fn fchmodat(cx: &FileCtx, space: &AddressSpace, dirfd: i32, path: u64, mode: u64) -> SysResult {
    let path = user_path(cx, space, dirfd, path)?;
    chmod_vnode(cx, &vfs::resolve(&path, true)?, mode)
}

/// `fchmod(fd, mode)`: as `chmod`, on an open file.
fn fchmod(cx: &FileCtx, fd: u64, mode: u64) -> SysResult {
    chmod_vnode(cx, &file_vnode(&*cx.files.get(fd)?)?, mode)
}

/// The node an open file reads: a tmpfs file or a directory; `EROFS` for
/// anything else (a pipe, a device), which the callers cannot change.
fn file_vnode(file: &OpenFile) -> Result<Vnode, Errno> {
    match file.kind() {
        FileKind::Tmp(node) => Ok(Vnode::Tmp(node.clone())),
        FileKind::Dir(vnode) => Ok(vnode.clone()),
        _ => Err(Errno::EROFS),
    }
}

/// `chmod` of a node: the permission bits of a tmpfs node (`EPERM`
/// unless the caller owns it or is root); `EROFS` elsewhere.
fn chmod_vnode(cx: &FileCtx, vnode: &Vnode, mode: u64) -> SysResult {
    match vnode {
        Vnode::Tmp(node) => {
            if !cx.creds().may_chmod(node.owner().0) {
                return Err(Errno::EPERM);
            }
            node.chmod(mode as u32);
            Ok(0)
        }
        _ => Err(Errno::EROFS),
    }
}

/// `fchownat(dirfd, path, uid, gid, flags)` (and `chown`, `lchown`):
/// `AT_SYMLINK_NOFOLLOW` changes a link itself, `AT_EMPTY_PATH` with an
/// empty path the file `dirfd` is (other flags `EINVAL`).
fn fchownat(
    cx: &FileCtx,
    space: &AddressSpace,
    dirfd: i32,
    path: u64,
    [uid, gid, flags]: [u64; 3],
) -> SysResult {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let raw = read_path(space, path)?;
    let vnode = if raw.is_empty() && flags & AT_EMPTY_PATH != 0 {
        if dirfd == AT_FDCWD {
            vfs::resolve(&normalize("/", cx.fs.cwd().as_bytes())?, true)?
        } else {
            file_vnode(&*cx.files.get(dirfd as u32 as u64)?)?
        }
    } else {
        let path = resolve_at(cx, dirfd, &raw)?;
        vfs::resolve(&path, flags & AT_SYMLINK_NOFOLLOW == 0)?
    };
    chown_vnode(cx, &vnode, uid, gid)
}

/// `chown` of a node: the owner of a tmpfs node (an id of -1 is left as
/// it is; `EPERM` unless `Creds::may_chown`); `EROFS` elsewhere.
fn chown_vnode(cx: &FileCtx, vnode: &Vnode, uid: u64, gid: u64) -> SysResult {
    let id = |raw: u64| Some(raw as u32).filter(|&id| id != u32::MAX);
    let (uid, gid) = (id(uid), id(gid));
    match vnode {
        Vnode::Tmp(node) => {
            if !cx.creds().may_chown(node.owner(), uid, gid) {
                return Err(Errno::EPERM);
            }
            node.chown(uid, gid);
            Ok(0)
        }
        _ => Err(Errno::EROFS),
    }
}

/// `truncate(path, length)`: a tmpfs file (`EROFS` for the initramfs,
/// `EISDIR` for a directory, `EINVAL` for a negative length or another
/// kind of file).
fn truncate(cx: &FileCtx, space: &AddressSpace, path: u64, length: u64) -> SysResult {
    let path = user_path(cx, space, AT_FDCWD, path)?;
    if (length as i64) < 0 {
        return Err(Errno::EINVAL);
    }
    match vfs::resolve(&path, true)? {
        Vnode::Tmp(node) if node.is_dir() => Err(Errno::EISDIR),
        Vnode::Tmp(node) => node.truncate(length).map(|()| 0),
        node if node.is_dir() => Err(Errno::EISDIR),
        Vnode::Ram(_) => Err(Errno::EROFS),
        _ => Err(Errno::EINVAL),
    }
}

/// `utimensat(dirfd, path, times, flags)`: sets a tmpfs node's access and
/// modification times from `times[2]` (`struct timespec`; NULL: both
/// now; `tv_nsec` `UTIME_NOW` or `UTIME_OMIT`); a NULL `path` is `dirfd`
/// itself (`futimens`). `EINVAL` for a bad `tv_nsec` or flags other than
/// `AT_SYMLINK_NOFOLLOW`; `EROFS` on the initramfs and `/proc`; the
/// devices of `/dev` accept and ignore it.
fn utimensat(
    cx: &FileCtx,
    space: &AddressSpace,
    dirfd: i32,
    path: u64,
    times: u64,
    flags: u64,
) -> SysResult {
    const UTIME_NOW: u64 = (1 << 30) - 1;
    const UTIME_OMIT: u64 = (1 << 30) - 2;
    if flags & !AT_SYMLINK_NOFOLLOW != 0 {
        return Err(Errno::EINVAL);
    }
    let now = super::time::realtime_ns();
    let (atime, mtime) = if times == 0 {
        (Some(now), Some(now))
    } else {
        let mut raw = [0u8; 32];
        space.copy_from_user(times, &mut raw)?;
        let word = |at: usize| u64::from_le_bytes(raw[at..at + 8].try_into().unwrap_or([0; 8]));
        let pick = |sec: u64, nsec: u64| match nsec {
            UTIME_NOW => Ok(Some(now)),
            UTIME_OMIT => Ok(None),
            n if n < 1_000_000_000 && (sec as i64) >= 0 => {
                Ok(Some(sec.saturating_mul(1_000_000_000).saturating_add(n)))
            }
            _ => Err(Errno::EINVAL),
        };
        (pick(word(0), word(8))?, pick(word(16), word(24))?)
    };
    let vnode = if path == 0 {
        if dirfd == AT_FDCWD {
            return Err(Errno::EFAULT);
        }
        let file = cx.files.get(dirfd as u32 as u64)?;
        match file.kind() {
            FileKind::Tmp(node) => Vnode::Tmp(node.clone()),
            FileKind::Dir(vnode) => vnode.clone(),
            FileKind::Mem(device) => Vnode::Dev(*device),
            _ => return Err(Errno::EROFS),
        }
    } else {
        let path = user_path(cx, space, dirfd, path)?;
        vfs::resolve(&path, flags & AT_SYMLINK_NOFOLLOW == 0)?
    };
    match vnode {
        Vnode::Tmp(node) => {
            node.set_times(atime, mtime);
            Ok(0)
        }
        Vnode::Dev(_) | Vnode::DevDir => Ok(0),
        _ => Err(Errno::EROFS),
    }
}

// ---------------------------------------------------------------------------
// Descriptors
// ---------------------------------------------------------------------------

/// `pipe2(fds, flags)` (and `pipe`): `O_CLOEXEC`, `O_CLOFORK`,
/// `O_NONBLOCK`; anything else (`O_DIRECT` included) `EINVAL`. A bad
/// `fds` closes both ends again: `EFAULT`.
fn pipe2(cx: &FileCtx, space: &AddressSpace, fds: u64, flags: u64) -> SysResult {
    let flags = u32::try_from(flags).map_err(|_| Errno::EINVAL)?;
    if flags & !(O_CLOEXEC | O_CLOFORK | O_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let (r, w) = OpenFile::pipe(flags & O_NONBLOCK);
    let [rfd, wfd] = cx.files.insert_pair(r, w, fd_flags(flags), cx.nofile())?;
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&rfd.to_le_bytes());
    out[4..].copy_from_slice(&wfd.to_le_bytes());
    if let Err(e) = space.copy_to_user(fds, &out) {
        let _ = cx.files.remove(u64::from(rfd));
        let _ = cx.files.remove(u64::from(wfd));
        return Err(e);
    }
    Ok(0)
}

/// `dup2(old, new)`: `new` if `old == new` and open (compared as the
/// descriptors they are, their low 32 bits: [`fd_arg`]).
fn dup2(cx: &FileCtx, old: u64, new: u64) -> SysResult {
    let (old, new) = (u64::from(fd_arg(old)), u64::from(fd_arg(new)));
    if old == new {
        cx.files.get(old)?;
        return Ok(new);
    }
    let (fd, replaced) = cx.files.dup_to(old, new, FdFlags::NONE, cx.nofile())?;
    drop(replaced);
    Ok(u64::from(fd))
}

/// `dup3(old, new, flags)`: `EINVAL` for `old == new` or flags other than
/// `O_CLOEXEC`/`O_CLOFORK` (the flags are an `int`: their upper 32 bits
/// are ignored, as the descriptors' are).
fn dup3(cx: &FileCtx, old: u64, new: u64, flags: u64) -> SysResult {
    let (old, new) = (u64::from(fd_arg(old)), u64::from(fd_arg(new)));
    let flags = flags as u32;
    if flags & !(O_CLOEXEC | O_CLOFORK) != 0 || old == new {
        return Err(Errno::EINVAL);
    }
    let (fd, replaced) = cx.files.dup_to(old, new, fd_flags(flags), cx.nofile())?;
    drop(replaced);
    Ok(u64::from(fd))
}

/// `close_range` flags.
const CLOSE_RANGE_UNSHARE: u64 = 1 << 1;
const CLOSE_RANGE_CLOEXEC: u64 = 1 << 2;

/// `close_range(first, last, flags)`: closes the open descriptors in
/// `first..=last` (`last` may be `~0`), or with `CLOSE_RANGE_CLOEXEC`
/// marks them close-on-exec; `CLOSE_RANGE_UNSHARE` first gives the caller
/// its own copy of a table it shares (`CLONE_FILES`, Linux's
/// `unshare_fd`). `first > last` or unknown flags `EINVAL`. All three
/// are `unsigned int`s: the upper 32 bits are ignored ([`fd_arg`]).
fn close_range(cx: &FileCtx, first: u64, last: u64, flags: u64) -> SysResult {
    let (first, last) = (u64::from(fd_arg(first)), u64::from(fd_arg(last)));
    let flags = u64::from(flags as u32);
    if flags & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) != 0 || first > last {
        return Err(Errno::EINVAL);
    }
    let mut files = cx.files.clone();
    if flags & CLOSE_RANGE_UNSHARE != 0
        && let Some(process) = &cx.process
    {
        let own = process.files();
        // The process's, the context's, `files` and `own`: anything more
        // is another process's.
        if Arc::ptr_eq(&own, &files) && Arc::strong_count(&files) > 4 {
            files = Arc::new(files.unshared_copy());
            process.set_files(files.clone());
        }
    }
    let closed = files.close_range(first, last, flags & CLOSE_RANGE_CLOEXEC != 0);
    drop(closed);
    Ok(0)
}

/// `fcntl(fd, cmd, arg)`: `F_DUPFD`, `F_DUPFD_CLOEXEC`, `F_GETFD`,
/// `F_SETFD` (`FD_CLOEXEC`, `FD_CLOFORK`), `F_GETFL`, `F_SETFL`
/// (`O_APPEND`, `O_NONBLOCK`); other commands `EINVAL`. The command is
/// an `unsigned int` (upper 32 bits ignored); `F_DUPFD`'s minimum is an
/// `unsigned long`, taken whole as Linux's `f_dupfd` takes it.
fn fcntl(cx: &FileCtx, fd: u64, cmd: u64, arg: u64) -> SysResult {
    use fcntl::*;
    match u64::from(cmd as u32) {
        F_DUPFD => cx
            .files
            .dup_from(fd, arg, FdFlags::NONE, cx.nofile())
            .map(u64::from),
        F_DUPFD_CLOEXEC => cx
            .files
            .dup_from(fd, arg, FdFlags::CLOEXEC, cx.nofile())
            .map(u64::from),
        F_GETFD => cx.files.flags(fd).map(|f| u64::from(f.bits())),
        F_SETFD => cx
            .files
            .set_flags(fd, FdFlags::from_bits_truncate(arg))
            .map(|()| 0),
        F_GETFL => cx.files.get(fd).map(|f| u64::from(f.status())),
        F_SETFL => {
            cx.files.get(fd)?.set_status(arg as u32);
            Ok(0)
        }
        _ => {
            cx.files.get(fd)?;
            Err(Errno::EINVAL)
        }
    }
}

/// `ioctl(fd, request, arg)`: the terminal requests on the console,
/// `FIONREAD` on pipes too; `ENOTTY` otherwise. The request is an
/// `unsigned int` (upper 32 bits ignored).
fn ioctl(cx: &FileCtx, space: &AddressSpace, fd: u64, request: u64, arg: u64) -> SysResult {
    use ioctl::*;
    let request = u64::from(request as u32);
    let file = cx.files.get(fd)?;
    if request == FIONREAD
        && let Some(n) = file.available()
    {
        space.copy_to_user(arg, &(n as i32).to_le_bytes())?;
        return Ok(0);
    }
    if !file.is_tty() {
        return Err(Errno::ENOTTY);
    }
    let tty = crate::fs::tty::console();
    match request {
        TCGETS => space.copy_to_user(arg, &tty.termios().to_bytes())?,
        TCSETS | TCSETSW | TCSETSF => {
            let mut raw = [0u8; TERMIOS_SIZE];
            space.copy_from_user(arg, &mut raw)?;
            tty.set_termios(Termios::from_bytes(&raw), request == TCSETSF);
        }
        TIOCGWINSZ => {
            let (rows, cols) = crate::fs::tty::WINSIZE;
            let mut ws = [0u8; 8];
            ws[..2].copy_from_slice(&rows.to_le_bytes());
            ws[2..4].copy_from_slice(&cols.to_le_bytes());
            space.copy_to_user(arg, &ws)?;
        }
        TIOCSWINSZ => {
            let mut ws = [0u8; 8];
            space.copy_from_user(arg, &mut ws)?;
        }
        TIOCGPGRP => space.copy_to_user(arg, &tty.foreground().to_le_bytes())?,
        TIOCSPGRP => {
            let mut raw = [0u8; 4];
            space.copy_from_user(arg, &mut raw)?;
            let pgid = i32::from_le_bytes(raw);
            if pgid < 0 {
                return Err(Errno::EINVAL);
            }
            tty.set_foreground(pgid);
        }
        TIOCSCTTY => {}
        _ => return Err(Errno::ENOTTY),
    }
    Ok(0)
}
