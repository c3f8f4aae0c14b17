//! A process's file-system context: its working directory and umask
//! (Linux's `fs_struct`).
//!
//! A process holds it in an `Arc` so a future `clone(CLONE_FS)` can share
//! it, while fork gives the child a copy ([`FsContext::clone_copy`]). The
//! cwd is kept as a normalised absolute path (`super::path`), which is
//! what path resolution starts from.

use alloc::string::String;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU32, Ordering};

/// The default umask (Linux's for init).
pub const DEFAULT_UMASK: u32 = 0o022;

/// A working directory and a umask (module docs).
#[derive(Debug)]
pub struct FsContext {
    /// Shared, never changed in place: a fork's copy takes the same
    /// string (no allocation), `chdir` puts a new one.
    cwd: spin::Mutex<Arc<str>>,
    umask: AtomicU32,
}

impl Default for FsContext {
    fn default() -> Self {
        Self::root()
    }
}

impl FsContext {
    /// cwd `/`, umask 022: what the kernel gives the processes it starts.
    pub fn root() -> Self {
        Self {
            cwd: spin::Mutex::new(Arc::from("/")),
            umask: AtomicU32::new(DEFAULT_UMASK),
        }
    }

    /// A copy (fork without `CLONE_FS`).
    pub fn clone_copy(&self) -> Self {
        Self {
            cwd: spin::Mutex::new(self.cwd_shared()),
            umask: AtomicU32::new(self.umask()),
        }
    }

    /// The working directory, a normalised absolute path.
    pub fn cwd(&self) -> String {
        String::from(&**self.cwd.lock())
    }

    /// The working directory, shared (no copy).
    pub fn cwd_shared(&self) -> Arc<str> {
        self.cwd.lock().clone()
    }

    /// Sets the working directory (`chdir` has checked it).
    pub fn set_cwd(&self, path: String) {
        *self.cwd.lock() = Arc::from(path);
    }

    pub fn umask(&self) -> u32 {
        // Relaxed: a plain value, read and written whole.
        self.umask.load(Ordering::Relaxed)
    }

    /// Sets the umask; returns the old one.
    pub fn set_umask(&self, mask: u32) -> u32 {
        // Relaxed: as in `umask`.
        self.umask.swap(mask & 0o777, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_is_independent() {
        let a = FsContext::root();
        a.set_cwd(String::from("/tmp"));
        let b = a.clone_copy();
        assert_eq!(b.cwd(), "/tmp");
        b.set_cwd(String::from("/bin"));
        assert_eq!(b.set_umask(0o7777), 0o022);
        assert_eq!(b.umask(), 0o777);
        assert_eq!(a.cwd(), "/tmp");
        assert_eq!(a.umask(), 0o022);
    }
}
