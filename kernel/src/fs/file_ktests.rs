//! In-kernel tests of open files, pipes, descriptor tables, the tmpfs, the
//! console tty and the file system calls.
//!
//! The system calls are driven through `syscall::fs::call` with a fresh
//! [`AddressSpace`] (no user code runs): a read-write area at [`DATA`], a
//! read-only page at [`RO`], nothing at [`BAD`]. So every pointer a call
//! takes can be pointed at unmapped or read-only memory, table-driven.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use super::fdtable::NOFILE_MAX;
use super::file::oflags::*;
use super::{FdFlags, Files, FsContext, OpenFile};
use crate::syscall::fs::{AT_FDCWD, FileCtx, call, fcntl, ioctl};
use crate::vm::space::AddressSpace;
use crate::vm::vma::{VmPerms, VmaKind};
use crate::{kassert, kassert_eq, ktest};
use abi::{Errno, nr};

/// A read-write area of four pages.
const DATA: u64 = 0x1000_0000;
/// A read-only page.
const RO: u64 = 0x2000_0000;
/// Unmapped.
const BAD: u64 = 0x3000_0000;
/// Where test paths are put, within `DATA`.
const PATH: u64 = DATA + 0x3000;
const PATH2: u64 = DATA + 0x3800;

fn setup() -> Result<(AddressSpace, FileCtx), String> {
    let space = AddressSpace::new().map_err(|e| format!("{e}"))?;
    space
        .map_anonymous(DATA, DATA + 0x4000, VmPerms::RW, VmaKind::Anonymous)
        .map_err(|e| format!("{e}"))?;
    space
        .map_anonymous(RO, RO + 0x1000, VmPerms::R, VmaKind::Anonymous)
        .map_err(|e| format!("{e}"))?;
    let cx = FileCtx {
        files: Arc::new(Files::with_stdio(OpenFile::console())),
        fs: Arc::new(FsContext::root()),
        process: None,
        tid: 0,
    };
    Ok((space, cx))
}

/// Runs a file system call; the result as Linux's signed `rax`.
async fn sys(cx: &FileCtx, space: &AddressSpace, number: u64, args: &[u64]) -> Result<u64, Errno> {
    let mut a = [0u64; 6];
    a[..args.len()].copy_from_slice(args);
    call(cx, space, number, a).await
}

/// Puts a NUL-terminated string at `at`; returns `at`.
fn put(space: &AddressSpace, at: u64, s: &str) -> Result<u64, String> {
    let mut bytes = Vec::from(s.as_bytes());
    bytes.push(0);
    space.copy_to_user(at, &bytes).map_err(|e| format!("{e}"))?;
    Ok(at)
}

fn get(space: &AddressSpace, at: u64, len: usize) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; len];
    space
        .copy_from_user(at, &mut buf)
        .map_err(|e| format!("{e}"))?;
    Ok(buf)
}

/// Opens `path` with `flags`; the descriptor.
async fn open(cx: &FileCtx, space: &AddressSpace, path: &str, flags: u32) -> Result<u64, String> {
    let p = put(space, PATH2, path)?;
    sys(cx, space, nr::OPEN, &[p, u64::from(flags), 0o644])
        .await
        .map_err(|e| format!("open {path}: {e}"))
}

ktest!(
    async fn pipe_streams_bytes_across_cpus_and_ends_with_eof() {
        const TOTAL: usize = 200_000;
        let (r, w) = OpenFile::pipe(0);
        let cpus = crate::task::ncpus();
        let writer = crate::task::spawn_on(1 % cpus, async move {
            let mut sent = 0usize;
            let mut size = 1usize;
            while sent < TOTAL {
                let n = size.min(TOTAL - sent);
                let chunk: Vec<u8> = (sent..sent + n).map(|i| (i % 251) as u8).collect();
                let k = w.write(&chunk).await.map_err(|e| format!("write: {e}"))?;
                if k != n {
                    return Err(format!("blocking write of {n} wrote {k}"));
                }
                sent += n;
                size = size * 7 % 9001 + 1;
            }
            Ok::<usize, String>(sent)
            // `w` drops here: the last writer, so the reader sees EOF.
        });
        let reader = crate::task::spawn_on(0, async move {
            let mut got = 0usize;
            let mut buf = vec![0u8; 3000];
            loop {
                let n = r.read(&mut buf).await.map_err(|e| format!("read: {e}"))?;
                if n == 0 {
                    return Ok::<usize, String>(got);
                }
                for (i, &b) in buf[..n].iter().enumerate() {
                    if b != ((got + i) % 251) as u8 {
                        return Err(format!("byte {} is {b}", got + i));
                    }
                }
                got += n;
            }
        });
        let sent = writer.await?;
        let got = reader.await?;
        kassert_eq!(sent, TOTAL);
        kassert_eq!(got, TOTAL, "every byte arrived before EOF");
        Ok(())
    }
);

ktest!(
    async fn pipe_writes_up_to_pipe_buf_never_interleave() {
        const BLOCK: usize = super::pipe::PIPE_BUF;
        const PER_WRITER: usize = 24;
        let (r, w) = OpenFile::pipe(0);
        let cpus = crate::task::ncpus();
        let mut writers = Vec::new();
        for id in 0..3u8 {
            let w = w.clone();
            writers.push(crate::task::spawn_on(
                (id as usize + 1) % cpus,
                async move {
                    for _ in 0..PER_WRITER {
                        let block = [b'a' + id; BLOCK];
                        w.write(&block).await.map_err(|e| format!("{e}"))?;
                    }
                    Ok::<(), String>(())
                },
            ));
        }
        drop(w);
        let reader = crate::task::spawn_on(0, async move {
            let mut stream = Vec::new();
            let mut buf = vec![0u8; 1000];
            loop {
                let n = r.read(&mut buf).await.map_err(|e| format!("{e}"))?;
                if n == 0 {
                    return Ok::<Vec<u8>, String>(stream);
                }
                stream.extend_from_slice(&buf[..n]);
            }
        });
        for writer in writers {
            writer.await?;
        }
        let stream = reader.await?;
        kassert_eq!(stream.len(), 3 * PER_WRITER * BLOCK);
        for (i, block) in stream.chunks(BLOCK).enumerate() {
            kassert!(
                block.iter().all(|&b| b == block[0]),
                "block {i} mixes writers"
            );
        }
        Ok(())
    }
);

ktest!(
    async fn pipe_epipe_eagain_and_eof() {
        let (r, w) = OpenFile::pipe(O_NONBLOCK);
        let mut buf = [0u8; 8];
        kassert_eq!(r.read(&mut buf).await, Err(Errno::EAGAIN));
        let big = vec![1u8; super::pipe::PIPE_CAPACITY + 10];
        kassert_eq!(
            w.write(&big).await,
            Ok(super::pipe::PIPE_CAPACITY),
            "non-blocking: what fits"
        );
        kassert_eq!(w.write(b"x").await, Err(Errno::EAGAIN));
        kassert_eq!(w.write(b"").await, Ok(0));
        kassert_eq!(w.lseek(0, 0), Err(Errno::ESPIPE));
        kassert_eq!(r.write(b"x").await, Err(Errno::EBADF), "read end");
        kassert_eq!(w.read(&mut buf).await, Err(Errno::EBADF), "write end");
        drop(r);
        kassert_eq!(w.write(b"x").await, Err(Errno::EPIPE));
        let (r, w) = OpenFile::pipe(0);
        kassert_eq!(w.write(b"abc").await, Ok(3));
        drop(w);
        kassert_eq!(r.read(&mut buf).await, Ok(3), "data before EOF");
        kassert_eq!(r.read(&mut buf).await, Ok(0), "then EOF");
        Ok(())
    }
);

ktest!(
    async fn fd_table_fork_copy_cloexec_and_clofork_with_pipes() {
        let table = Files::empty();
        let (r, w) = OpenFile::pipe(0);
        let rfd = u64::from(
            table
                .insert(r, FdFlags::NONE, NOFILE_MAX)
                .map_err(|e| format!("{e}"))?,
        );
        let wfd = u64::from(
            table
                .insert(w, FdFlags::CLOFORK, NOFILE_MAX)
                .map_err(|e| format!("{e}"))?,
        );
        kassert!(table.has_clofork());
        let child = table.fork_copy();
        kassert_eq!(child.fds(), [rfd as u32]);
        // The child shares the read end (one open file): the parent's
        // write shows up in the child's read.
        let w = table.get(wfd).map_err(|e| format!("{e}"))?;
        kassert_eq!(w.write(b"hi").await, Ok(2));
        drop(w);
        let child_r = child.get(rfd).map_err(|e| format!("{e}"))?;
        let mut buf = [0u8; 4];
        kassert_eq!(child_r.read(&mut buf).await, Ok(2));
        // Closing the parent's write end (the only one: the child never
        // got it) gives EOF.
        drop(table.remove(wfd));
        kassert_eq!(child_r.read(&mut buf).await, Ok(0));
        // Close on exec.
        let cl = child
            .insert(OpenFile::console(), FdFlags::CLOEXEC, NOFILE_MAX)
            .map_err(|e| format!("{e}"))?;
        kassert_eq!(child.close_on_exec().len(), 1);
        kassert_eq!(child.get(u64::from(cl)).err(), Some(Errno::EBADF));
        kassert_eq!(child.fds(), [rfd as u32]);
        Ok(())
    }
);

ktest!(
    async fn tmpfs_through_the_system_calls() {
        let (space, cx) = setup()?;
        let d = put(&space, PATH, "/tmp/ktest-d")?;
        kassert_eq!(sys(&cx, &space, nr::MKDIR, &[d, 0o755]).await, Ok(0));
        kassert_eq!(
            sys(&cx, &space, nr::MKDIR, &[d, 0o755]).await,
            Err(Errno::EEXIST)
        );
        let fd = open(&cx, &space, "/tmp/ktest-d/f", O_CREAT | O_RDWR).await?;
        kassert_eq!(fd, 3, "lowest free descriptor");
        put(&space, DATA, "hello, tmpfs")?;
        kassert_eq!(sys(&cx, &space, nr::WRITE, &[fd, DATA, 12]).await, Ok(12));
        kassert_eq!(sys(&cx, &space, nr::LSEEK, &[fd, 7, 0]).await, Ok(7));
        kassert_eq!(
            sys(&cx, &space, nr::READ, &[fd, DATA + 0x100, 100]).await,
            Ok(5)
        );
        kassert_eq!(get(&space, DATA + 0x100, 5)?, b"tmpfs");
        kassert_eq!(
            sys(&cx, &space, nr::FSTAT, &[fd, DATA + 0x200]).await,
            Ok(0)
        );
        let st = get(&space, DATA + 0x200, 144)?;
        kassert_eq!(
            u64::from_le_bytes(st[48..56].try_into().unwrap_or([0; 8])),
            12
        );
        kassert_eq!(
            u32::from_le_bytes(st[24..28].try_into().unwrap_or([0; 4])),
            0o100_644,
            "mode 0644 less umask 022"
        );
        // O_APPEND, then O_TRUNC.
        let fd2 = open(&cx, &space, "/tmp/ktest-d/f", O_WRONLY | O_APPEND).await?;
        kassert_eq!(sys(&cx, &space, nr::WRITE, &[fd2, DATA, 1]).await, Ok(1));
        kassert_eq!(sys(&cx, &space, nr::LSEEK, &[fd, 0, 2]).await, Ok(13));
        let fd3 = open(&cx, &space, "/tmp/ktest-d/f", O_WRONLY | O_TRUNC).await?;
        kassert_eq!(sys(&cx, &space, nr::LSEEK, &[fd3, 0, 2]).await, Ok(0));
        // O_EXCL, unlink, directories.
        let f = put(&space, PATH, "/tmp/ktest-d/f")?;
        kassert_eq!(
            sys(&cx, &space, nr::OPEN, &[f, u64::from(O_CREAT | O_EXCL), 0]).await,
            Err(Errno::EEXIST)
        );
        kassert_eq!(sys(&cx, &space, nr::UNLINK, &[f]).await, Ok(0));
        kassert_eq!(sys(&cx, &space, nr::UNLINK, &[f]).await, Err(Errno::ENOENT));
        kassert_eq!(
            sys(&cx, &space, nr::STAT, &[f, DATA + 0x200]).await,
            Err(Errno::ENOENT)
        );
        kassert_eq!(
            sys(&cx, &space, nr::WRITE, &[fd, DATA, 3]).await,
            Ok(3),
            "an unlinked open file still works"
        );
        let d = put(&space, PATH, "/tmp/ktest-d")?;
        kassert_eq!(sys(&cx, &space, nr::UNLINK, &[d]).await, Err(Errno::EISDIR));
        for fd in [fd, fd2, fd3] {
            kassert_eq!(sys(&cx, &space, nr::CLOSE, &[fd]).await, Ok(0));
        }
        Ok(())
    }
);

ktest!(
    async fn initramfs_is_read_only_and_errors_are_linuxs() {
        let (space, cx) = setup()?;
        if super::root().is_err() {
            log::warn!("no initramfs: skipping the read-only checks");
            return Ok(());
        }
        let cases: &[(&str, u32, Errno)] = &[
            ("/bin/init", O_WRONLY, Errno::EROFS),
            ("/bin/init", O_RDWR, Errno::EROFS),
            ("/bin/new", O_CREAT | O_WRONLY, Errno::EROFS),
            ("/nonexistent", O_RDONLY, Errno::ENOENT),
            ("/nonexistent/x", O_CREAT | O_RDWR, Errno::ENOENT),
            ("/bin/init/x", O_RDONLY, Errno::ENOTDIR),
            ("/bin/init/", O_RDONLY, Errno::ENOTDIR),
            ("/bin", O_WRONLY, Errno::EISDIR),
            ("/bin", O_CREAT | O_RDONLY, Errno::EISDIR),
            ("/bin/init", O_DIRECTORY, Errno::ENOTDIR),
            ("/bin/init", O_CREAT | O_EXCL, Errno::EEXIST),
            ("/bin/init", O_ACCMODE, Errno::EINVAL),
            ("/tmp/nope/x", O_CREAT | O_RDWR, Errno::ENOENT),
        ];
        for &(path, flags, want) in cases {
            let p = put(&space, PATH, path)?;
            kassert_eq!(
                sys(&cx, &space, nr::OPEN, &[p, u64::from(flags), 0]).await,
                Err(want),
                "open({path}, {flags:#o})"
            );
        }
        let p = put(&space, PATH, "/bin/init")?;
        kassert_eq!(sys(&cx, &space, nr::UNLINK, &[p]).await, Err(Errno::EROFS));
        let p = put(&space, PATH, "/bin/newdir")?;
        kassert_eq!(
            sys(&cx, &space, nr::MKDIR, &[p, 0o755]).await,
            Err(Errno::EROFS)
        );
        let p = put(&space, PATH, "/bin")?;
        kassert_eq!(
            sys(&cx, &space, nr::MKDIR, &[p, 0o755]).await,
            Err(Errno::EEXIST)
        );
        // Reading /bin/init gives the archive's bytes; stat agrees.
        let fd = open(&cx, &space, "/bin/init", O_RDONLY).await?;
        let len = super::root()
            .and_then(|r| r.lookup("/bin/init"))
            .ok()
            .and_then(|n| n.data())
            .map_or(0, <[u8]>::len);
        kassert_eq!(sys(&cx, &space, nr::READ, &[fd, DATA, 4]).await, Ok(4));
        kassert_eq!(get(&space, DATA, 4)?, b"\x7fELF");
        kassert_eq!(
            sys(&cx, &space, nr::PREAD64, &[fd, DATA, 4, 1]).await,
            Ok(4)
        );
        kassert_eq!(get(&space, DATA, 3)?, b"ELF");
        kassert_eq!(
            sys(&cx, &space, nr::LSEEK, &[fd, 0, 1]).await,
            Ok(4),
            "pread leaves the offset"
        );
        kassert_eq!(
            sys(&cx, &space, nr::LSEEK, &[fd, 0, 2]).await,
            Ok(len as u64)
        );
        kassert_eq!(
            sys(&cx, &space, nr::LSEEK, &[fd, (-1i64) as u64, 0]).await,
            Err(Errno::EINVAL)
        );
        kassert_eq!(
            sys(&cx, &space, nr::LSEEK, &[fd, 0, 9]).await,
            Err(Errno::EINVAL)
        );
        kassert_eq!(
            sys(&cx, &space, nr::WRITE, &[fd, DATA, 1]).await,
            Err(Errno::EBADF)
        );
        kassert_eq!(
            sys(&cx, &space, nr::STAT, &[p, DATA + 0x200]).await,
            Ok(0),
            "stat /bin"
        );
        let st = get(&space, DATA + 0x200, 144)?;
        kassert_eq!(
            u32::from_le_bytes(st[24..28].try_into().unwrap_or([0; 4])) & 0o170_000,
            0o040_000
        );
        let p = put(&space, PATH, "/bin/init")?;
        kassert_eq!(sys(&cx, &space, nr::ACCESS, &[p, 1]).await, Ok(0), "X_OK");
        kassert_eq!(
            sys(&cx, &space, nr::ACCESS, &[p, 2]).await,
            Err(Errno::EROFS)
        );
        kassert_eq!(
            sys(&cx, &space, nr::ACCESS, &[p, 8]).await,
            Err(Errno::EINVAL)
        );
        Ok(())
    }
);

ktest!(
    async fn getdents_lists_root_with_dev_and_tmp() {
        let (space, cx) = setup()?;
        let fd = open(&cx, &space, "/", O_RDONLY | O_DIRECTORY).await?;
        let mut names = Vec::new();
        loop {
            // A small buffer: several calls, each record whole.
            let n = sys(&cx, &space, nr::GETDENTS64, &[fd, DATA, 64]).await;
            let n = n.map_err(|e| format!("getdents64: {e}"))? as usize;
            if n == 0 {
                break;
            }
            let buf = get(&space, DATA, n)?;
            let mut at = 0;
            while at < n {
                let reclen = u16::from_le_bytes([buf[at + 16], buf[at + 17]]) as usize;
                kassert!(reclen.is_multiple_of(8) && reclen >= 24, "reclen {reclen}");
                let name = &buf[at + 19..at + reclen];
                let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
                names.push(String::from_utf8_lossy(&name[..end]).into_owned());
                at += reclen;
            }
        }
        for want in [".", "..", "dev", "tmp"] {
            kassert!(names.iter().any(|n| n == want), "/ lists {names:?}");
        }
        if super::root().is_ok() {
            kassert!(names.iter().any(|n| n == "bin"), "/ lists {names:?}");
        }
        kassert_eq!(
            sys(&cx, &space, nr::GETDENTS64, &[fd, DATA, 10]).await,
            Ok(0),
            "at the end"
        );
        kassert_eq!(sys(&cx, &space, nr::LSEEK, &[fd, 0, 0]).await, Ok(0));
        kassert_eq!(
            sys(&cx, &space, nr::GETDENTS64, &[fd, DATA, 10]).await,
            Err(Errno::EINVAL),
            "a buffer too small for one record"
        );
        kassert_eq!(
            sys(&cx, &space, nr::GETDENTS64, &[1, DATA, 4096]).await,
            Err(Errno::ENOTDIR)
        );
        let dev = open(&cx, &space, "/dev", O_RDONLY).await?;
        let n = sys(&cx, &space, nr::GETDENTS64, &[dev, DATA, 4096]).await;
        kassert!(matches!(n, Ok(n) if n > 0));
        Ok(())
    }
);

ktest!(
    async fn cwd_chdir_fchdir_and_openat() {
        let (space, cx) = setup()?;
        let p = put(&space, PATH, "/tmp")?;
        kassert_eq!(sys(&cx, &space, nr::CHDIR, &[p]).await, Ok(0));
        kassert_eq!(sys(&cx, &space, nr::GETCWD, &[DATA, 100]).await, Ok(5));
        kassert_eq!(get(&space, DATA, 5)?, b"/tmp\0");
        kassert_eq!(
            sys(&cx, &space, nr::GETCWD, &[DATA, 4]).await,
            Err(Errno::ERANGE)
        );
        let fd = open(&cx, &space, "ktest-rel", O_CREAT | O_RDWR).await?;
        let abs = put(&space, PATH, "/tmp/ktest-rel")?;
        kassert_eq!(sys(&cx, &space, nr::STAT, &[abs, DATA]).await, Ok(0));
        kassert_eq!(sys(&cx, &space, nr::UNLINK, &[abs]).await, Ok(0));
        let dev = open(&cx, &space, "/dev", O_RDONLY).await?;
        kassert_eq!(sys(&cx, &space, nr::FCHDIR, &[dev]).await, Ok(0));
        kassert_eq!(cx.fs.cwd(), "/dev");
        kassert_eq!(
            sys(&cx, &space, nr::FCHDIR, &[fd]).await,
            Err(Errno::ENOTDIR)
        );
        let null = put(&space, PATH, "null")?;
        let nfd = sys(&cx, &space, nr::OPENAT, &[dev, null, u64::from(O_RDWR)]).await;
        let nfd = nfd.map_err(|e| format!("openat(/dev, null): {e}"))?;
        kassert_eq!(
            sys(&cx, &space, nr::WRITE, &[nfd, DATA, 100]).await,
            Ok(100)
        );
        kassert_eq!(sys(&cx, &space, nr::READ, &[nfd, DATA, 100]).await, Ok(0));
        kassert_eq!(
            sys(&cx, &space, nr::OPENAT, &[fd, null, 0]).await,
            Err(Errno::ENOTDIR),
            "dirfd not a directory"
        );
        kassert_eq!(
            sys(
                &cx,
                &space,
                nr::OPENAT,
                &[AT_FDCWD as u32 as u64 | 0xffff_ffff_0000_0000, null, 0]
            )
            .await
            .map(|_| ()),
            Ok(()),
            "AT_FDCWD as a sign-extended int"
        );
        let tmp = put(&space, PATH, "/tmp")?;
        kassert_eq!(
            sys(
                &cx,
                &space,
                nr::NEWFSTATAT,
                &[nfd, put(&space, PATH2, "")?, DATA, 0x1000]
            )
            .await,
            Ok(0),
            "AT_EMPTY_PATH"
        );
        let st = get(&space, DATA, 144)?;
        kassert_eq!(
            u32::from_le_bytes(st[24..28].try_into().unwrap_or([0; 4])) & 0o170_000,
            0o020_000,
            "/dev/null is a character device"
        );
        kassert_eq!(
            sys(&cx, &space, nr::NEWFSTATAT, &[nfd, PATH2, DATA, 0]).await,
            Err(Errno::ENOENT),
            "an empty path without AT_EMPTY_PATH"
        );
        kassert_eq!(
            sys(
                &cx,
                &space,
                nr::NEWFSTATAT,
                &[AT_FDCWD as u64, tmp, DATA, 0x4]
            )
            .await,
            Err(Errno::EINVAL)
        );
        let f = put(&space, PATH, "/dev/null/")?;
        kassert_eq!(sys(&cx, &space, nr::CHDIR, &[f]).await, Err(Errno::ENOTDIR));
        Ok(())
    }
);

ktest!(
    async fn dup_fcntl_and_shared_offsets() {
        let (space, cx) = setup()?;
        let fd = open(&cx, &space, "/tmp/ktest-dup", O_CREAT | O_RDWR).await?;
        kassert_eq!(sys(&cx, &space, nr::DUP, &[fd]).await, Ok(fd + 1));
        kassert_eq!(sys(&cx, &space, nr::WRITE, &[fd, DATA, 10]).await, Ok(10));
        kassert_eq!(
            sys(&cx, &space, nr::LSEEK, &[fd + 1, 0, 1]).await,
            Ok(10),
            "dup shares the offset"
        );
        kassert_eq!(sys(&cx, &space, nr::DUP2, &[fd, 40]).await, Ok(40));
        kassert_eq!(sys(&cx, &space, nr::DUP2, &[fd, fd]).await, Ok(fd));
        kassert_eq!(
            sys(&cx, &space, nr::DUP3, &[fd, fd, 0]).await,
            Err(Errno::EINVAL)
        );
        kassert_eq!(
            sys(&cx, &space, nr::DUP3, &[fd, 41, 1]).await,
            Err(Errno::EINVAL)
        );
        kassert_eq!(
            sys(&cx, &space, nr::DUP3, &[fd, 41, u64::from(O_CLOEXEC)]).await,
            Ok(41)
        );
        kassert_eq!(
            sys(&cx, &space, nr::FCNTL, &[41, fcntl::F_GETFD]).await,
            Ok(1)
        );
        kassert_eq!(
            sys(&cx, &space, nr::FCNTL, &[40, fcntl::F_GETFD]).await,
            Ok(0)
        );
        kassert_eq!(
            sys(&cx, &space, nr::FCNTL, &[40, fcntl::F_SETFD, 3]).await,
            Ok(0)
        );
        kassert_eq!(
            sys(&cx, &space, nr::FCNTL, &[40, fcntl::F_GETFD]).await,
            Ok(3),
            "FD_CLOEXEC | FD_CLOFORK"
        );
        kassert_eq!(
            sys(&cx, &space, nr::FCNTL, &[fd, fcntl::F_DUPFD, 20]).await,
            Ok(20)
        );
        kassert_eq!(
            sys(&cx, &space, nr::FCNTL, &[fd, fcntl::F_DUPFD_CLOEXEC, 20]).await,
            Ok(21)
        );
        kassert_eq!(
            sys(&cx, &space, nr::FCNTL, &[21, fcntl::F_GETFD]).await,
            Ok(1)
        );
        kassert_eq!(
            sys(
                &cx,
                &space,
                nr::FCNTL,
                &[fd, fcntl::F_DUPFD, NOFILE_MAX as u64]
            )
            .await,
            Err(Errno::EINVAL)
        );
        kassert_eq!(
            sys(&cx, &space, nr::FCNTL, &[fd, fcntl::F_GETFL]).await,
            Ok(u64::from(O_RDWR))
        );
        kassert_eq!(
            sys(
                &cx,
                &space,
                nr::FCNTL,
                &[
                    fd,
                    fcntl::F_SETFL,
                    u64::from(O_APPEND | O_NONBLOCK | O_WRONLY)
                ]
            )
            .await,
            Ok(0)
        );
        kassert_eq!(
            sys(&cx, &space, nr::FCNTL, &[fd + 1, fcntl::F_GETFL]).await,
            Ok(u64::from(O_RDWR | O_APPEND | O_NONBLOCK)),
            "status flags are the open file's; the access mode stays"
        );
        kassert_eq!(
            sys(&cx, &space, nr::FCNTL, &[fd, 9999]).await,
            Err(Errno::EINVAL)
        );
        // O_CLOEXEC / O_CLOFORK at open.
        let p = put(&space, PATH, "/dev/null")?;
        let cl = sys(
            &cx,
            &space,
            nr::OPEN,
            &[p, u64::from(O_CLOEXEC | O_CLOFORK)],
        )
        .await;
        let cl = cl.map_err(|e| format!("{e}"))?;
        kassert_eq!(
            sys(&cx, &space, nr::FCNTL, &[cl, fcntl::F_GETFD]).await,
            Ok(3)
        );
        // EMFILE at the limit, with nothing leaked.
        let before = cx.files.len();
        let mut last = Ok(0);
        for _ in 0..super::fdtable::NOFILE_MAX {
            last = sys(&cx, &space, nr::DUP, &[0]).await;
            if last.is_err() {
                break;
            }
        }
        kassert_eq!(last, Err(Errno::EMFILE));
        kassert_eq!(cx.files.len(), super::fdtable::NOFILE_MAX);
        kassert_eq!(
            sys(&cx, &space, nr::PIPE, &[DATA]).await,
            Err(Errno::EMFILE)
        );
        kassert_eq!(cx.files.len(), super::fdtable::NOFILE_MAX);
        kassert!(before < super::fdtable::NOFILE_MAX);
        let p = put(&space, PATH, "/tmp/ktest-dup")?;
        kassert_eq!(sys(&cx, &space, nr::UNLINK, &[p]).await, Ok(0));
        Ok(())
    }
);

ktest!(
    async fn pipe_system_calls() {
        let (space, cx) = setup()?;
        kassert_eq!(
            sys(
                &cx,
                &space,
                nr::PIPE2,
                &[DATA, u64::from(O_CLOEXEC | O_NONBLOCK)]
            )
            .await,
            Ok(0)
        );
        let fds = get(&space, DATA, 8)?;
        let r = u64::from(u32::from_le_bytes(fds[..4].try_into().unwrap_or([0; 4])));
        let w = u64::from(u32::from_le_bytes(fds[4..].try_into().unwrap_or([0; 4])));
        kassert_eq!((r, w), (3, 4));
        kassert_eq!(
            sys(&cx, &space, nr::FCNTL, &[r, fcntl::F_GETFD]).await,
            Ok(1)
        );
        kassert_eq!(
            sys(&cx, &space, nr::READ, &[r, DATA, 10]).await,
            Err(Errno::EAGAIN)
        );
        // writev gathers, readv scatters.
        put(&space, DATA + 0x100, "abcdef")?;
        let iov: [u64; 4] = [DATA + 0x100, 2, DATA + 0x104, 2];
        let raw: Vec<u8> = iov.iter().flat_map(|v| v.to_le_bytes()).collect();
        space
            .copy_to_user(DATA + 0x200, &raw)
            .map_err(|e| format!("{e}"))?;
        kassert_eq!(
            sys(&cx, &space, nr::WRITEV, &[w, DATA + 0x200, 2]).await,
            Ok(4)
        );
        let iov: [u64; 4] = [DATA + 0x300, 1, DATA + 0x310, 10];
        let raw: Vec<u8> = iov.iter().flat_map(|v| v.to_le_bytes()).collect();
        space
            .copy_to_user(DATA + 0x200, &raw)
            .map_err(|e| format!("{e}"))?;
        kassert_eq!(
            sys(&cx, &space, nr::READV, &[r, DATA + 0x200, 2]).await,
            Ok(4)
        );
        kassert_eq!(get(&space, DATA + 0x300, 1)?, b"a");
        kassert_eq!(get(&space, DATA + 0x310, 3)?, b"bef");
        kassert_eq!(
            sys(&cx, &space, nr::LSEEK, &[r, 0, 0]).await,
            Err(Errno::ESPIPE)
        );
        kassert_eq!(
            sys(&cx, &space, nr::PREAD64, &[r, DATA, 1, 0]).await,
            Err(Errno::ESPIPE)
        );
        kassert_eq!(
            sys(&cx, &space, nr::WRITEV, &[w, DATA + 0x200, 1025]).await,
            Err(Errno::EINVAL)
        );
        kassert_eq!(
            sys(&cx, &space, nr::PIPE2, &[DATA, u64::from(O_APPEND)]).await,
            Err(Errno::EINVAL)
        );
        kassert_eq!(sys(&cx, &space, nr::WRITE, &[w, DATA, 1]).await, Ok(1));
        kassert_eq!(
            sys(&cx, &space, nr::IOCTL, &[r, ioctl::FIONREAD, DATA + 0x400]).await,
            Ok(0)
        );
        kassert_eq!(get(&space, DATA + 0x400, 4)?, 1i32.to_le_bytes());
        kassert_eq!(sys(&cx, &space, nr::CLOSE, &[r]).await, Ok(0));
        kassert_eq!(
            sys(&cx, &space, nr::WRITE, &[w, DATA, 1]).await,
            Err(Errno::EPIPE)
        );
        kassert_eq!(sys(&cx, &space, nr::CLOSE, &[w]).await, Ok(0));
        kassert_eq!(sys(&cx, &space, nr::CLOSE, &[w]).await, Err(Errno::EBADF));
        Ok(())
    }
);

ktest!(
    async fn every_pointer_argument_is_efault() {
        let (space, cx) = setup()?;
        let path = put(&space, PATH, "/dev/null")?;
        let dir = open(&cx, &space, "/", O_RDONLY).await?;
        let null = open(&cx, &space, "/dev/null", O_RDWR).await?;
        let tfile = open(&cx, &space, "/tmp/ktest-efault", O_CREAT | O_RDWR).await?;
        // Bytes to read, so the reads below have something to copy out.
        kassert_eq!(sys(&cx, &space, nr::WRITE, &[tfile, PATH, 8]).await, Ok(8));
        kassert_eq!(sys(&cx, &space, nr::LSEEK, &[tfile, 0, 0]).await, Ok(0));
        let bad_iov: [u64; 2] = [BAD, 8];
        let raw: Vec<u8> = bad_iov.iter().flat_map(|v| v.to_le_bytes()).collect();
        space.copy_to_user(DATA, &raw).map_err(|e| format!("{e}"))?;
        let iov = DATA;
        let at = AT_FDCWD as u64;
        let cases: &[(&str, u64, &[u64])] = &[
            ("read console", nr::READ, &[0, BAD, 8]),
            ("read into read-only", nr::READ, &[tfile, RO, 8]),
            ("read tmp", nr::READ, &[tfile, BAD, 8]),
            ("write", nr::WRITE, &[1, BAD, 8]),
            ("readv array", nr::READV, &[0, BAD, 1]),
            ("readv buffer", nr::READV, &[0, iov, 1]),
            ("writev array", nr::WRITEV, &[1, BAD, 1]),
            ("writev buffer", nr::WRITEV, &[1, iov, 1]),
            ("pread64", nr::PREAD64, &[tfile, BAD, 8, 0]),
            ("pwrite64", nr::PWRITE64, &[tfile, BAD, 8, 0]),
            ("open", nr::OPEN, &[BAD, 0, 0]),
            ("openat", nr::OPENAT, &[at, BAD, 0, 0]),
            ("stat path", nr::STAT, &[BAD, DATA]),
            ("stat buf", nr::STAT, &[path, BAD]),
            ("stat read-only buf", nr::STAT, &[path, RO]),
            ("lstat path", nr::LSTAT, &[BAD, DATA]),
            ("lstat buf", nr::LSTAT, &[path, BAD]),
            ("fstat", nr::FSTAT, &[0, BAD]),
            ("newfstatat path", nr::NEWFSTATAT, &[at, BAD, DATA, 0]),
            ("newfstatat buf", nr::NEWFSTATAT, &[at, path, BAD, 0]),
            ("access", nr::ACCESS, &[BAD, 0]),
            ("faccessat2", nr::FACCESSAT2, &[at, BAD, 0, 0]),
            ("getdents64", nr::GETDENTS64, &[dir, BAD, 4096]),
            ("TCGETS", nr::IOCTL, &[0, ioctl::TCGETS, BAD]),
            ("TCSETS", nr::IOCTL, &[0, ioctl::TCSETS, BAD]),
            ("TIOCGWINSZ", nr::IOCTL, &[0, ioctl::TIOCGWINSZ, BAD]),
            ("TIOCGPGRP", nr::IOCTL, &[0, ioctl::TIOCGPGRP, BAD]),
            ("TIOCSPGRP", nr::IOCTL, &[0, ioctl::TIOCSPGRP, BAD]),
            ("FIONREAD", nr::IOCTL, &[0, ioctl::FIONREAD, BAD]),
            ("pipe", nr::PIPE, &[BAD]),
            ("pipe read-only", nr::PIPE, &[RO]),
            ("pipe2", nr::PIPE2, &[BAD, 0]),
            ("getcwd", nr::GETCWD, &[BAD, 100]),
            ("chdir", nr::CHDIR, &[BAD]),
            ("mkdir", nr::MKDIR, &[BAD, 0o755]),
            ("unlink", nr::UNLINK, &[BAD]),
        ];
        let fds_before = cx.files.fds();
        for &(what, number, args) in cases {
            kassert_eq!(
                sys(&cx, &space, number, args).await,
                Err(Errno::EFAULT),
                "{what}"
            );
        }
        kassert_eq!(
            cx.files.fds(),
            fds_before,
            "a failed call leaves no descriptor"
        );
        kassert_eq!(
            sys(&cx, &space, nr::LSEEK, &[tfile, 0, 1]).await,
            Ok(0),
            "failed reads leave the offset"
        );
        kassert_eq!(
            sys(&cx, &space, nr::READ, &[null, RO, 8]).await,
            Ok(0),
            "EOF copies nothing"
        );
        kassert_eq!(cx.fs.cwd(), "/");
        // A path running into unmapped memory without a NUL.
        space
            .copy_to_user(DATA + 0x3ffc, b"/tmp")
            .map_err(|e| format!("{e}"))?;
        kassert_eq!(
            sys(&cx, &space, nr::CHDIR, &[DATA + 0x3ffc]).await,
            Err(Errno::EFAULT)
        );
        let tmp = put(&space, PATH2, "/tmp")?;
        kassert_eq!(sys(&cx, &space, nr::CHDIR, &[tmp]).await, Ok(0));
        let p = put(&space, PATH, "/tmp/ktest-efault")?;
        kassert_eq!(sys(&cx, &space, nr::UNLINK, &[p]).await, Ok(0));
        Ok(())
    }
);

ktest!(
    async fn bad_descriptors_are_ebadf_and_non_terminals_enotty() {
        let (space, cx) = setup()?;
        let name = put(&space, PATH, "x")?;
        let cases: &[(&str, u64, &[u64])] = &[
            ("read", nr::READ, &[99, DATA, 1]),
            ("read -1", nr::READ, &[u64::MAX, DATA, 1]),
            ("write", nr::WRITE, &[99, DATA, 1]),
            ("readv", nr::READV, &[99, DATA, 0]),
            ("writev", nr::WRITEV, &[99, DATA, 0]),
            ("pread64", nr::PREAD64, &[99, DATA, 1, 0]),
            ("pwrite64", nr::PWRITE64, &[99, DATA, 1, 0]),
            ("close", nr::CLOSE, &[99]),
            ("close beyond the limit", nr::CLOSE, &[100_000]),
            ("fstat", nr::FSTAT, &[99, DATA]),
            ("lseek", nr::LSEEK, &[99, 0, 0]),
            ("getdents64", nr::GETDENTS64, &[99, DATA, 100]),
            ("ioctl", nr::IOCTL, &[99, ioctl::TCGETS, DATA]),
            ("dup", nr::DUP, &[99]),
            ("dup2", nr::DUP2, &[99, 5]),
            ("dup2 to beyond the limit", nr::DUP2, &[0, 100_000]),
            ("dup3", nr::DUP3, &[99, 5, 0]),
            ("fcntl", nr::FCNTL, &[99, fcntl::F_GETFD]),
            ("fchdir", nr::FCHDIR, &[99]),
            ("openat dirfd", nr::OPENAT, &[99, name, 0]),
            ("newfstatat dirfd", nr::NEWFSTATAT, &[99, name, DATA, 0]),
        ];
        for &(what, number, args) in cases {
            kassert_eq!(
                sys(&cx, &space, number, args).await,
                Err(Errno::EBADF),
                "{what}"
            );
        }
        let null = open(&cx, &space, "/dev/null", O_RDONLY).await?;
        kassert_eq!(
            sys(&cx, &space, nr::WRITE, &[null, DATA, 1]).await,
            Err(Errno::EBADF),
            "write to a read-only descriptor"
        );
        let file = if super::root().is_ok() {
            open(&cx, &space, "/bin/init", O_RDONLY).await?
        } else {
            null
        };
        kassert_eq!(sys(&cx, &space, nr::PIPE, &[DATA]).await, Ok(0));
        let pipe_r = u64::from(u32::from_le_bytes(
            get(&space, DATA, 4)?.try_into().unwrap_or([0; 4]),
        ));
        for fd in [file, null, pipe_r] {
            for request in [ioctl::TCGETS, ioctl::TIOCGWINSZ, ioctl::TIOCSPGRP] {
                kassert_eq!(
                    sys(&cx, &space, nr::IOCTL, &[fd, request, DATA]).await,
                    Err(Errno::ENOTTY),
                    "ioctl({fd}, {request:#x})"
                );
            }
        }
        kassert_eq!(
            sys(&cx, &space, nr::IOCTL, &[0, 0x1234, DATA]).await,
            Err(Errno::ENOTTY),
            "an unknown request on the terminal"
        );
        Ok(())
    }
);

ktest!(
    async fn console_tty_cooks_lines_and_answers_ioctls() {
        let (space, cx) = setup()?;
        let tty = super::tty::console();
        let saved = tty.termios();
        // Canonical, without echo (so the test output stays clean).
        let mut quiet = super::ldisc::Termios::sane();
        quiet.lflag &= !super::ldisc::ECHO;
        tty.set_termios(quiet, true);
        // Canonical: an edited line arrives with Enter.
        for &b in b"lx\x7fs\r" {
            tty.input(b);
        }
        kassert_eq!(sys(&cx, &space, nr::READ, &[0, DATA, 100]).await, Ok(3));
        kassert_eq!(get(&space, DATA, 3)?, b"ls\n");
        tty.input(0x04);
        kassert_eq!(
            sys(&cx, &space, nr::READ, &[0, DATA, 100]).await,
            Ok(0),
            "Ctrl-D"
        );
        // A blocked reader is woken by input typed on another CPU.
        let cpus = crate::task::ncpus();
        let typist = crate::task::spawn_on(1 % cpus, async move {
            crate::task::yield_now().await;
            for &b in b"late\r" {
                super::tty::console().input(b);
            }
        });
        kassert_eq!(sys(&cx, &space, nr::READ, &[0, DATA, 100]).await, Ok(5));
        typist.await;
        kassert_eq!(get(&space, DATA, 5)?, b"late\n");
        // TCGETS, then raw mode through TCSETS.
        kassert_eq!(
            sys(&cx, &space, nr::IOCTL, &[1, ioctl::TCGETS, DATA]).await,
            Ok(0)
        );
        let mut raw = get(&space, DATA, 36)?;
        let lflag = u32::from_le_bytes(raw[12..16].try_into().unwrap_or([0; 4]));
        kassert!(lflag & super::ldisc::ICANON != 0);
        let lflag = lflag & !(super::ldisc::ICANON | super::ldisc::ECHO | super::ldisc::ISIG);
        raw[12..16].copy_from_slice(&lflag.to_le_bytes());
        space.copy_to_user(DATA, &raw).map_err(|e| format!("{e}"))?;
        kassert_eq!(
            sys(&cx, &space, nr::IOCTL, &[0, ioctl::TCSETSF, DATA]).await,
            Ok(0)
        );
        tty.input(0x03);
        tty.input(b'q');
        kassert_eq!(
            sys(&cx, &space, nr::READ, &[0, DATA, 100]).await,
            Ok(2),
            "raw: Ctrl-C is a byte"
        );
        kassert_eq!(get(&space, DATA, 2)?, b"\x03q");
        kassert_eq!(
            sys(&cx, &space, nr::IOCTL, &[0, ioctl::TIOCGWINSZ, DATA]).await,
            Ok(0)
        );
        kassert_eq!(get(&space, DATA, 4)?, [24, 0, 80, 0]);
        space
            .copy_to_user(DATA, &7i32.to_le_bytes())
            .map_err(|e| format!("{e}"))?;
        let old = tty.foreground();
        kassert_eq!(
            sys(&cx, &space, nr::IOCTL, &[0, ioctl::TIOCSPGRP, DATA]).await,
            Ok(0)
        );
        kassert_eq!(
            sys(&cx, &space, nr::IOCTL, &[0, ioctl::TIOCGPGRP, DATA + 8]).await,
            Ok(0)
        );
        kassert_eq!(get(&space, DATA + 8, 4)?, 7i32.to_le_bytes());
        space
            .copy_to_user(DATA, &(-3i32).to_le_bytes())
            .map_err(|e| format!("{e}"))?;
        kassert_eq!(
            sys(&cx, &space, nr::IOCTL, &[0, ioctl::TIOCSPGRP, DATA]).await,
            Err(Errno::EINVAL)
        );
        tty.set_foreground(old);
        tty.set_termios(saved, true);
        Ok(())
    }
);

/// Runs `/bin/filetest MODE` (see `user/filetest`) and returns its wait
/// status.
async fn filetest(mode: &str) -> Result<i32, String> {
    let argv: [&[u8]; 2] = [b"/bin/filetest", mode.as_bytes()];
    let pid = crate::proc::process::spawn_process("/bin/filetest", &argv, &[])
        .map_err(|e| format!("spawn /bin/filetest {mode}: {e}"))?;
    crate::proc::process::wait(pid)
        .await
        .map_err(|e| format!("wait {pid}: {e}"))
}

/// Declares a test that runs `/bin/filetest MODE` and expects `status`.
macro_rules! filetest_mode {
    ($name:ident, $mode:literal, $status:expr) => {
        ktest!(
            async fn $name() {
                kassert_eq!(
                    filetest($mode).await?,
                    $status,
                    "filetest {}: wait status",
                    $mode
                );
                Ok(())
            }
        );
    };
}

filetest_mode!(user_pipe_between_forked_processes, "pipe", 0);
filetest_mode!(user_dup2_redirects_stdout_into_a_pipe, "redirect", 0);
filetest_mode!(user_clofork_descriptors_stay_behind, "clofork", 0);
filetest_mode!(user_sigpipe_ignored_gives_epipe, "sigpipe-ignored", 0);
filetest_mode!(user_tmpfs_files_and_directories, "tmp", 0);
filetest_mode!(user_console_is_a_terminal, "tty", 0);
filetest_mode!(user_exec_closes_cloexec_descriptors, "cloexec", 0);
filetest_mode!(
    user_write_to_a_pipe_without_readers_raises_sigpipe,
    "sigpipe",
    crate::proc::process::signal_status(abi::signal::SIGPIPE)
);

ktest!(
    async fn user_ctrl_c_kills_the_foreground_reader() {
        let tty = super::tty::console();
        let saved = (tty.termios(), tty.foreground());
        // Canonical with ISIG and without echo.
        let mut cooked = super::ldisc::Termios::sane();
        cooked.lflag &= !super::ldisc::ECHO;
        tty.set_termios(cooked, true);
        let argv: [&[u8]; 2] = [b"/bin/filetest", b"ctrlc"];
        let pid = crate::proc::process::spawn_process("/bin/filetest", &argv, &[])
            .map_err(|e| format!("spawn: {e}"))?;
        // Wait (bounded) until it made its group the foreground group; the
        // signal interrupts its read, or is pending when the read starts.
        let mut waited = 0;
        while tty.foreground() != pid.as_u32() as i32 && waited < 20_000 {
            crate::task::sleep(core::time::Duration::from_millis(1)).await;
            waited += 1;
        }
        kassert_eq!(
            tty.foreground(),
            pid.as_u32() as i32,
            "TIOCSPGRP never came"
        );
        tty.input(0x03);
        let status = crate::proc::process::wait(pid).await;
        tty.set_termios(saved.0, true);
        tty.set_foreground(saved.1);
        kassert_eq!(
            status,
            Ok(crate::proc::process::signal_status(abi::signal::SIGINT)),
            "died of SIGINT"
        );
        Ok(())
    }
);
