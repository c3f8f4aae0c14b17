//! File system calls (descriptors, pipes, paths, terminal `ioctl`s):
//! thin wrappers over the Linux x86-64 calls (`docs/files.md`).

use core::ffi::CStr;

use super::{Errno, check, syscall1, syscall2, syscall3};

/// System-call numbers (Linux x86-64).
pub use abi::nr;

pub const O_RDONLY: u32 = 0;
pub const O_WRONLY: u32 = 1;
pub const O_RDWR: u32 = 2;
pub const O_CREAT: u32 = 0o100;
pub const O_EXCL: u32 = 0o200;
pub const O_TRUNC: u32 = 0o1000;
pub const O_APPEND: u32 = 0o2000;
pub const O_NONBLOCK: u32 = 0o4000;
pub const O_DIRECTORY: u32 = 0o200000;
pub const O_CLOEXEC: u32 = 0o2000000;
/// Tine's close-on-fork flag (Linux has none).
pub const O_CLOFORK: u32 = 0o40000000;
pub const F_DUPFD: u32 = 0;
pub const F_GETFD: u32 = 1;
pub const F_SETFD: u32 = 2;
pub const F_GETFL: u32 = 3;
pub const F_SETFL: u32 = 4;
pub const FD_CLOEXEC: u32 = 1;
/// Tine's close-on-fork descriptor flag.
pub const FD_CLOFORK: u32 = 2;
pub const TCGETS: u32 = 0x5401;
pub const TCSETS: u32 = 0x5402;
pub const TIOCGPGRP: u32 = 0x540f;
pub const TIOCSPGRP: u32 = 0x5410;
pub const TIOCGWINSZ: u32 = 0x5413;

/// `open(path, flags, mode)`: the new descriptor.
pub fn open(path: &CStr, flags: u32, mode: u32) -> Result<i32, Errno> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    check(unsafe {
        syscall3(
            nr::OPEN,
            path.as_ptr() as usize,
            flags as usize,
            mode as usize,
        )
    })
    .map(|fd| fd as i32)
}

/// `pipe2(fds, flags)`: `[read end, write end]`.
pub fn pipe2(flags: u32) -> Result<[i32; 2], Errno> {
    let mut fds = [0i32; 2];
    // SAFETY: the kernel writes two ints into `fds`.
    check(unsafe { syscall2(nr::PIPE2, fds.as_mut_ptr() as usize, flags as usize) })?;
    Ok(fds)
}

/// `dup(fd)`.
pub fn dup(fd: i32) -> Result<i32, Errno> {
    // SAFETY: no memory is passed.
    check(unsafe { syscall1(nr::DUP, fd as usize) }).map(|fd| fd as i32)
}

/// `dup2(old, new)`.
pub fn dup2(old: i32, new: i32) -> Result<i32, Errno> {
    // SAFETY: no memory is passed.
    check(unsafe { syscall2(nr::DUP2, old as usize, new as usize) }).map(|fd| fd as i32)
}

/// `dup3(old, new, flags)`.
pub fn dup3(old: i32, new: i32, flags: u32) -> Result<i32, Errno> {
    // SAFETY: no memory is passed.
    check(unsafe { syscall3(nr::DUP3, old as usize, new as usize, flags as usize) })
        .map(|fd| fd as i32)
}

/// `fcntl(fd, cmd, arg)` for the integer commands.
pub fn fcntl(fd: i32, cmd: u32, arg: usize) -> Result<usize, Errno> {
    // SAFETY: the integer commands pass no memory.
    check(unsafe { syscall3(nr::FCNTL, fd as usize, cmd as usize, arg) })
}

/// `lseek(fd, offset, whence)`: the new offset.
pub fn lseek(fd: i32, offset: i64, whence: u32) -> Result<u64, Errno> {
    // SAFETY: no memory is passed.
    check(unsafe { syscall3(nr::LSEEK, fd as usize, offset as usize, whence as usize) })
        .map(|o| o as u64)
}

/// `fstat(fd)`: the 144 bytes of `struct stat`.
pub fn fstat(fd: i32) -> Result<[u8; 144], Errno> {
    let mut st = [0u8; 144];
    // SAFETY: the kernel writes 144 bytes into `st`.
    check(unsafe { syscall2(nr::FSTAT, fd as usize, st.as_mut_ptr() as usize) })?;
    Ok(st)
}

/// `getdents64(fd, buf)`: bytes of `linux_dirent64` records (0 at the
/// end).
pub fn getdents64(fd: i32, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    check(unsafe {
        syscall3(
            nr::GETDENTS64,
            fd as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
        )
    })
}

/// `getcwd(buf)`: the length written, NUL included.
pub fn getcwd(buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    check(unsafe { syscall2(nr::GETCWD, buf.as_mut_ptr() as usize, buf.len()) })
}

/// `chdir(path)`.
pub fn chdir(path: &CStr) -> Result<(), Errno> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    check(unsafe { syscall1(nr::CHDIR, path.as_ptr() as usize) }).map(|_| ())
}

/// `mkdir(path, mode)`.
pub fn mkdir(path: &CStr, mode: u32) -> Result<(), Errno> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    check(unsafe { syscall2(nr::MKDIR, path.as_ptr() as usize, mode as usize) }).map(|_| ())
}

/// `unlink(path)`.
pub fn unlink(path: &CStr) -> Result<(), Errno> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    check(unsafe { syscall1(nr::UNLINK, path.as_ptr() as usize) }).map(|_| ())
}

/// `ioctl(fd, TIOCSPGRP, &pgid)`: makes `pgid` the terminal's
/// foreground process group.
pub fn tcsetpgrp(fd: i32, pgid: i32) -> Result<(), Errno> {
    // SAFETY: the kernel reads one int from `pgid`.
    check(unsafe {
        syscall3(
            nr::IOCTL,
            fd as usize,
            TIOCSPGRP as usize,
            &pgid as *const i32 as usize,
        )
    })
    .map(|_| ())
}

/// `ioctl(fd, TIOCGPGRP)`: the terminal's foreground process group.
pub fn tcgetpgrp(fd: i32) -> Result<i32, Errno> {
    let mut pgid = 0i32;
    // SAFETY: the kernel writes one int into `pgid`.
    check(unsafe {
        syscall3(
            nr::IOCTL,
            fd as usize,
            TIOCGPGRP as usize,
            &mut pgid as *mut i32 as usize,
        )
    })?;
    Ok(pgid)
}

/// `ioctl(fd, TCGETS)`: the kernel's 36-byte `struct termios`.
pub fn tcgets(fd: i32) -> Result<[u8; 36], Errno> {
    let mut t = [0u8; 36];
    // SAFETY: the kernel writes 36 bytes into `t`.
    check(unsafe {
        syscall3(
            nr::IOCTL,
            fd as usize,
            TCGETS as usize,
            t.as_mut_ptr() as usize,
        )
    })?;
    Ok(t)
}

/// `ioctl(fd, TCSETS)`.
pub fn tcsets(fd: i32, termios: &[u8; 36]) -> Result<(), Errno> {
    // SAFETY: the kernel reads 36 bytes from `termios`.
    check(unsafe {
        syscall3(
            nr::IOCTL,
            fd as usize,
            TCSETS as usize,
            termios.as_ptr() as usize,
        )
    })
    .map(|_| ())
}

/// `ioctl(fd, TIOCGWINSZ)`: `(rows, cols)`; `ENOTTY` for a
/// non-terminal (`isatty`).
pub fn winsize(fd: i32) -> Result<(u16, u16), Errno> {
    let mut ws = [0u16; 4];
    // SAFETY: the kernel writes 8 bytes into `ws`.
    check(unsafe {
        syscall3(
            nr::IOCTL,
            fd as usize,
            TIOCGWINSZ as usize,
            ws.as_mut_ptr() as usize,
        )
    })?;
    Ok((ws[0], ws[1]))
}

/// `ioctl(fd, request, arg)` with an integer or pointer argument the
/// caller vouches for.
///
/// # Safety
/// `arg` must be what `request` expects (a pointer to memory of the
/// right size, or an integer).
pub unsafe fn ioctl(fd: i32, request: u32, arg: usize) -> Result<usize, Errno> {
    // SAFETY: the caller guarantees `arg` suits `request`.
    check(unsafe { syscall3(nr::IOCTL, fd as usize, request as usize, arg) })
}

/// The top-level wrappers (`tine_rt::syscall::{read, write, open, ...}`),
/// kept where programs have always found them.
pub mod top {
    use core::ffi::CStr;

    use super::super::{Errno, check, nr, syscall1, syscall2, syscall3};

    /// `read(fd, buf)`: the number of bytes read.
    pub fn read(fd: i32, buf: &mut [u8]) -> Result<usize, Errno> {
        // SAFETY: the kernel writes at most buf.len() bytes into buf, which we
        // borrow mutably for the call.
        check(unsafe { syscall3(nr::READ, fd as usize, buf.as_mut_ptr() as usize, buf.len()) })
    }

    /// `write(fd, buf)`: the number of bytes written.
    pub fn write(fd: i32, buf: &[u8]) -> Result<usize, Errno> {
        // SAFETY: the kernel reads at most buf.len() bytes from buf.
        check(unsafe { syscall3(nr::WRITE, fd as usize, buf.as_ptr() as usize, buf.len()) })
    }

    /// Writes all of `buf`, retrying short writes and `EINTR`.
    pub fn write_all(fd: i32, mut buf: &[u8]) -> Result<(), Errno> {
        while !buf.is_empty() {
            match write(fd, buf) {
                Ok(0) => return Err(Errno(5)), // EIO: no progress
                Ok(n) => buf = &buf[n.min(buf.len())..],
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// `close(fd)`.
    pub fn close(fd: i32) -> Result<(), Errno> {
        // SAFETY: no memory is passed.
        check(unsafe { syscall1(nr::CLOSE, fd as usize) }).map(|_| ())
    }

    /// `open(path, flags, mode)`: a new file descriptor.
    pub fn open(path: &CStr, flags: i32, mode: u32) -> Result<i32, Errno> {
        // SAFETY: `path` is NUL-terminated and lives across the call.
        check(unsafe {
            syscall3(
                nr::OPEN,
                path.as_ptr() as usize,
                flags as usize,
                mode as usize,
            )
        })
        .map(|fd| fd as i32)
    }

    /// `open` flags.
    pub mod o {
        pub const RDONLY: i32 = 0;
        pub const WRONLY: i32 = 1;
        pub const RDWR: i32 = 2;
        pub const CREAT: i32 = 0o100;
        pub const TRUNC: i32 = 0o1000;
        pub const APPEND: i32 = 0o2000;
        pub const CLOEXEC: i32 = 0o2000000;
    }

    /// `dup2(old, new)`.
    pub fn dup2(old: i32, new: i32) -> Result<i32, Errno> {
        // SAFETY: no memory is passed.
        check(unsafe { syscall2(nr::DUP2, old as usize, new as usize) }).map(|fd| fd as i32)
    }

    /// `pipe2(fds, flags)`, falling back to `pipe(fds)` where `pipe2` is
    /// `ENOSYS` and no flags are asked for: `[read end, write end]`.
    pub fn pipe2(flags: i32) -> Result<[i32; 2], Errno> {
        let mut fds = [0i32; 2];
        // SAFETY: the kernel writes two i32s to `fds`, which lives across the
        // call.
        let r = check(unsafe { syscall2(nr::PIPE2, fds.as_mut_ptr() as usize, flags as usize) });
        match r {
            Err(Errno::ENOSYS) if flags == 0 => {
                // SAFETY: as above.
                check(unsafe { syscall1(nr::PIPE, fds.as_mut_ptr() as usize) })?;
            }
            r => {
                r?;
            }
        }
        Ok(fds)
    }

    /// `chdir(path)`.
    pub fn chdir(path: &CStr) -> Result<(), Errno> {
        // SAFETY: `path` is NUL-terminated and lives across the call.
        check(unsafe { syscall1(nr::CHDIR, path.as_ptr() as usize) }).map(|_| ())
    }

    /// `getcwd(buf)`: the path's length without its NUL.
    pub fn getcwd(buf: &mut [u8]) -> Result<usize, Errno> {
        // SAFETY: the kernel writes at most buf.len() bytes into buf.
        check(unsafe { syscall2(nr::GETCWD, buf.as_mut_ptr() as usize, buf.len()) })?;
        Ok(buf.iter().position(|&b| b == 0).unwrap_or(buf.len()))
    }

    /// `ioctl(fd, request, arg)` with an integer or pointer argument the
    /// caller vouches for.
    ///
    /// # Safety
    /// `arg` must be what `request` expects: when it is a pointer, it points
    /// at memory of the size and mutability the request reads or writes.
    pub unsafe fn ioctl(fd: i32, request: usize, arg: usize) -> Result<usize, Errno> {
        // SAFETY: the caller's contract.
        check(unsafe { syscall3(nr::IOCTL, fd as usize, request, arg) })
    }
}
