//! System calls by number, for tests that pass odd arguments on purpose
//! (through `tine_rt::syscall::call`, the runtime being the one crate
//! that issues system calls). Results are Linux's: `Ok(value)` or
//! `Err(errno)`.

use tine_rt::syscall::Errno;

/// The numbers (the `abi` crate's, through the runtime).
pub use tine_rt::syscall::nr;

/// Error numbers the tests expect (the `abi` crate's [`Errno`]).
pub mod errno {
    use tine_rt::syscall::Errno;
    pub const EPERM: Errno = Errno::EPERM;
    pub const ENOENT: Errno = Errno::ENOENT;
    pub const ESRCH: Errno = Errno::ESRCH;
    pub const E2BIG: Errno = Errno::E2BIG;
    pub const ENOEXEC: Errno = Errno::ENOEXEC;
    pub const ENOMEM: Errno = Errno::ENOMEM;
    pub const EACCES: Errno = Errno::EACCES;
    pub const EFAULT: Errno = Errno::EFAULT;
    pub const ENOTDIR: Errno = Errno::ENOTDIR;
    pub const EINVAL: Errno = Errno::EINVAL;
    pub const ENAMETOOLONG: Errno = Errno::ENAMETOOLONG;
    pub const ELOOP: Errno = Errno::ELOOP;
    pub const ENOSYS: Errno = Errno::ENOSYS;
}

/// System call `n` with up to six arguments (the runtime's by-number
/// entry, for tests that pass odd arguments on purpose).
pub use tine_rt::syscall::call;

/// `mmap(NULL, len, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS)`.
pub fn mmap_anon(len: usize) -> Result<*mut u8, Errno> {
    // SAFETY: a fresh anonymous mapping changes no memory in use.
    unsafe { call(nr::MMAP, &[0, len, 3, 0x22, usize::MAX, 0]) }.map(|a| a as *mut u8)
}

/// `munmap(addr, len)` of a mapping made by [`mmap_anon`].
///
/// # Safety
/// Nothing may use the memory afterwards.
pub unsafe fn munmap(addr: *mut u8, len: usize) -> Result<(), Errno> {
    // SAFETY: the caller's contract.
    unsafe { call(nr::MUNMAP, &[addr as usize, len]) }.map(drop)
}
