//! Error numbers, with the Linux x86-64 values (Tine speaks the Linux
//! system-call ABI). The kernel returns `-errno` in `rax`
//! ([`Errno::to_user`], through [`encode`] of a [`SysResult`]); user
//! programs read it back with [`Errno::from_ret`].

use core::fmt;

/// A system-call error, by its Linux number (`EINVAL` is `Errno(22)`).
///
/// A number rather than an enum: user space must be able to hold any value
/// the kernel (or Linux, for the C tests) returns. The kernel only uses the
/// named constants.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Errno(pub i32);

macro_rules! errnos {
    ($($name:ident = $n:literal,)*) => {
        impl Errno {
            $(
                #[doc = concat!("`", stringify!($name), "` (", stringify!($n), ").")]
                pub const $name: Errno = Errno($n);
            )*

            /// Every named error, by number.
            pub const ALL: &'static [Errno] = &[$(Errno::$name),*];

            /// Its name (`"EINVAL"`), if it is one Tine knows.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($n => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

errnos! {
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
    ETXTBSY = 26,
    EFBIG = 27,
    ENOSPC = 28,
    ESPIPE = 29,
    EROFS = 30,
    EMLINK = 31,
    EPIPE = 32,
    EDOM = 33,
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
        (-(self.0 as i64)) as u64
    }

    /// The positive error number.
    pub const fn number(self) -> i32 {
        self.0
    }

    /// The error named `name` (`"EINVAL"`).
    pub fn from_name(name: &str) -> Option<Errno> {
        Self::ALL.iter().copied().find(|e| e.name() == Some(name))
    }

    /// Decodes a raw system-call return value: `-4095..=-1` is an error,
    /// anything else a value (Linux's rule).
    pub const fn from_ret(ret: isize) -> Result<usize, Errno> {
        if ret < 0 && ret >= -4095 {
            Err(Errno(-ret as i32))
        } else {
            Ok(ret as usize)
        }
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "Errno({})", self.0),
        }
    }
}

/// `ENOENT (2)`, or `errno 200` for a number Tine has no name for.
impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "errno {}", self.0),
        }
    }
}

/// A system call's outcome: a value for `rax`, or an error.
pub type SysResult = Result<u64, Errno>;

/// Encodes a result for `rax` (`-errno` on failure): the one place the
/// kernel converts an error to the user ABI.
pub const fn encode(result: SysResult) -> u64 {
    match result {
        Ok(v) => v,
        Err(e) => e.to_user(),
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn errors_are_linux_numbers() {
        assert_eq!(Errno::EINVAL.to_user() as i64, -22);
        assert_eq!(Errno::EAGAIN.to_user() as i64, -11);
        assert_eq!(Errno::ENOSYS.number(), 38);
        assert_eq!(std::format!("{}", Errno::ENOENT), "ENOENT (2)");
        assert_eq!(std::format!("{}", Errno(200)), "errno 200");
        assert_eq!(std::format!("{:?}", Errno::EFAULT), "EFAULT");
        assert_eq!(Errno::from_name("ELOOP"), Some(Errno(40)));
        assert_eq!(Errno(22).name(), Some("EINVAL"));
        assert!(Errno::ALL.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn results_become_rax_values() {
        assert_eq!(encode(Err(Errno::EINVAL)) as i64, -22);
        assert_eq!(encode(Err(Errno::EFAULT)) as i64, -14);
        assert_eq!(encode(Ok(1234)), 1234);
    }

    #[test]
    fn raw_returns_decode_like_libc() {
        assert_eq!(Errno::from_ret(-22), Err(Errno::EINVAL));
        assert_eq!(Errno::from_ret(-4095), Err(Errno(4095)));
        assert_eq!(Errno::from_ret(-4096), Ok(-4096isize as usize));
        assert_eq!(Errno::from_ret(7), Ok(7));
    }
}
