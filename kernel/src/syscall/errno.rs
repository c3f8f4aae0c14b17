//! Error numbers: one typed enum for every error a user can cause, with the
//! Linux x86-64 values (Tine speaks the Linux syscall ABI), converted to the
//! user ABI in exactly one place ([`Errno::to_user`]).

/// A system-call error, by its Linux number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Errno {
    EPERM = 1,
    ENOENT = 2,
    ESRCH = 3,
    EINTR = 4,
    EIO = 5,
    ENXIO = 6,
    E2BIG = 7,
    ENOEXEC = 8,
    EBADF = 9,
    ECHILD = 10,
    EAGAIN = 11,
    ENOMEM = 12,
    EACCES = 13,
    EFAULT = 14,
    EBUSY = 16,
    EEXIST = 17,
    EXDEV = 18,
    ENODEV = 19,
    ENOTDIR = 20,
    EISDIR = 21,
    EINVAL = 22,
    ENFILE = 23,
    EMFILE = 24,
    ENOTTY = 25,
    EFBIG = 27,
    ENOSPC = 28,
    ESPIPE = 29,
    EROFS = 30,
    EMLINK = 31,
    EPIPE = 32,
    ERANGE = 34,
    EDEADLK = 35,
    ENAMETOOLONG = 36,
    ENOSYS = 38,
    ENOTEMPTY = 39,
    ELOOP = 40,
    EOPNOTSUPP = 95,
    ETIMEDOUT = 110,
}

impl Errno {
    /// The value a system call returns in `rax` for this error: `-errno`.
    pub const fn to_user(self) -> u64 {
        (-(self as i64)) as u64
    }

    /// The positive error number.
    pub const fn number(self) -> i32 {
        self as i32
    }
}

impl core::fmt::Display for Errno {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{self:?} ({})", self.number())
    }
}

/// A system call's outcome: a value for `rax`, or an error.
pub type SysResult = Result<u64, Errno>;

/// Encodes a result for `rax` (negative errno on failure).
pub const fn encode(result: SysResult) -> u64 {
    match result {
        Ok(v) => v,
        Err(e) => e.to_user(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_become_negative_numbers_in_rax() {
        assert_eq!(encode(Err(Errno::EINVAL)) as i64, -22);
        assert_eq!(encode(Err(Errno::EAGAIN)) as i64, -11);
        assert_eq!(encode(Err(Errno::EFAULT)) as i64, -14);
        assert_eq!(encode(Ok(1234)), 1234);
        assert_eq!(Errno::ENOSYS.number(), 38);
        assert_eq!(std::format!("{}", Errno::ENOENT), "ENOENT (2)");
    }
}
