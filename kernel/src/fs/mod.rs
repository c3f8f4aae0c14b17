//! Files: the file systems, open files, descriptor tables, pipes and the
//! console terminal (`docs/files.md`).
//!
//! - [`cpio`]: the newc archive format, parsed without copying (pure,
//!   host-tested).
//! - [`initramfs`]: a directory tree over such an archive, with path
//!   lookup (`.`, `..`, symlinks) and `readdir`; file contents are slices of
//!   the archive.
//! - [`tmpfs`]: the writable in-memory file system at `/tmp`.
//! - [`procfs`]: the read-only `/proc` (processes and machine figures in
//!   Linux's formats).
//! - `vfs`: the name space user processes see (initramfs at `/`, `/dev`,
//!   `/tmp`, `/proc`), over normalised paths ([`path`]).
//! - `file`: open files (`OpenFile`, shared through `FileRef`), the
//!   kinds a descriptor can refer to, with async read and write.
//! - [`fdtable`]: the per-process descriptor table (pure, host-tested);
//!   [`context`]: the per-process cwd and umask.
//! - [`pipe`]: the bounded ring and the blocking pipe ends; [`eventfd`]:
//!   the eventfd counter; [`poll`]: readiness bits and event sources;
//!   `epoll`: epoll instances.
//! - [`ldisc`]: the terminal line discipline (pure, host-tested) and
//!   `struct termios`; `tty`: the console terminal over the serial port.
//! - [`stat`]: `struct stat` and `linux_dirent64` layouts.
//!
//! At boot, [`mount_boot_initrd`] mounts the `-initrd` module (which
//! `cargo xtask` always builds and passes, see `docs/initramfs.md`) as the
//! global root; [`root`] hands it out, e.g. to `exec`, which finds programs
//! there and loads them through [`crate::exec`].
//!
//! Errors are [`FsError`]; the syscall layer maps them to errno values.

use conquer_once::spin::OnceCell;

pub mod context;
pub mod cpio;
#[cfg(target_os = "none")]
pub mod epoll;
pub mod eventfd;
pub mod fdtable;
#[cfg(target_os = "none")]
pub mod file;
#[cfg(target_os = "none")]
mod file_ktests;
pub mod initramfs;
pub mod ldisc;
pub mod path;
pub mod pipe;
pub mod poll;
#[cfg(target_os = "none")]
mod poll_ktests;
pub mod procfs;
pub mod stat;
pub mod tmpfs;
#[cfg(target_os = "none")]
pub mod tty;
#[cfg(target_os = "none")]
pub mod vfs;

pub use context::FsContext;
pub use fdtable::{FdFlags, FdTable};
#[cfg(target_os = "none")]
pub use file::{FileRef, OpenFile};

/// A process's descriptor table, as the process holds it.
#[cfg(target_os = "none")]
pub type Files = FdTable<FileRef>;

pub use initramfs::{DirEntry, Initramfs, Node, NodeId, NodeKind};

/// Why a file operation or the mount failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsError {
    /// No such file or directory (`ENOENT`).
    NotFound,
    /// A path component, or the target of `readdir`, is not a directory
    /// (`ENOTDIR`); also an archive member below a non-directory.
    NotDir,
    /// A directory where something else was needed (`EISDIR`); also an
    /// archive member that would replace a directory with a file.
    IsDir,
    /// Too many symbolic links in one lookup (`ELOOP`).
    Loop,
    /// A path or a component is too long (`ENAMETOOLONG`).
    NameTooLong,
    /// An archive member's name escapes the root (`..`), names the root as
    /// a non-directory, or has an over-long component.
    BadName,
    /// The archive itself is malformed.
    Archive(cpio::CpioError),
    /// No initramfs is mounted.
    NotMounted,
    /// An initramfs is already mounted.
    AlreadyMounted,
}

impl From<cpio::CpioError> for FsError {
    fn from(error: cpio::CpioError) -> Self {
        Self::Archive(error)
    }
}

impl core::fmt::Display for FsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NotFound => f.write_str("no such file or directory"),
            Self::NotDir => f.write_str("not a directory"),
            Self::IsDir => f.write_str("is a directory"),
            Self::Loop => f.write_str("too many levels of symbolic links"),
            Self::NameTooLong => f.write_str("file name too long"),
            Self::BadName => f.write_str("bad member name in the archive"),
            Self::Archive(error) => write!(f, "malformed cpio archive: {error}"),
            Self::NotMounted => f.write_str("no initramfs is mounted"),
            Self::AlreadyMounted => f.write_str("an initramfs is already mounted"),
        }
    }
}

/// The global root, set once by [`mount_initramfs`].
static ROOT: OnceCell<Initramfs<'static>> = OnceCell::uninit();

/// Builds the tree over `archive` and makes it the global root. Fails if
/// the archive is malformed or a root is already mounted.
pub fn mount_initramfs(archive: &'static [u8]) -> Result<(), FsError> {
    let fs = Initramfs::new(archive)?;
    ROOT.try_init_once(|| fs)
        .map_err(|_| FsError::AlreadyMounted)
}

/// The global root (`NotMounted` until [`mount_initramfs`] succeeded).
pub fn root() -> Result<&'static Initramfs<'static>, FsError> {
    ROOT.try_get().map_err(|_| FsError::NotMounted)
}

/// Mounts the boot module as the root and logs the outcome; a missing or
/// malformed initrd is logged, not fatal (the kernel still boots to its
/// shell and tests). The one call `kernel::init::start` makes.
pub fn mount_boot_initrd(initrd: Option<&'static [u8]>) {
    let Some(archive) = initrd else {
        log::warn!("initramfs: no initrd module; boot with `cargo xtask` to get one");
        return;
    };
    match mount_initramfs(archive) {
        Ok(()) => log::info!("initramfs: {} KiB mounted at /", archive.len() >> 10),
        Err(error) => log::error!("initramfs: not mounted: {error}"),
    }
}

#[cfg(target_os = "none")]
mod initramfs_ktests;
