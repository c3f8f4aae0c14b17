//! Linux error numbers by name, for messages like `rfork: EINVAL`.

use core::fmt;

const NAMES: &[(i32, &str)] = &[
    (1, "EPERM"),
    (2, "ENOENT"),
    (3, "ESRCH"),
    (4, "EINTR"),
    (5, "EIO"),
    (6, "ENXIO"),
    (7, "E2BIG"),
    (8, "ENOEXEC"),
    (9, "EBADF"),
    (10, "ECHILD"),
    (11, "EAGAIN"),
    (12, "ENOMEM"),
    (13, "EACCES"),
    (14, "EFAULT"),
    (16, "EBUSY"),
    (17, "EEXIST"),
    (18, "EXDEV"),
    (19, "ENODEV"),
    (20, "ENOTDIR"),
    (21, "EISDIR"),
    (22, "EINVAL"),
    (23, "ENFILE"),
    (24, "EMFILE"),
    (25, "ENOTTY"),
    (26, "ETXTBSY"),
    (27, "EFBIG"),
    (28, "ENOSPC"),
    (29, "ESPIPE"),
    (30, "EROFS"),
    (31, "EMLINK"),
    (32, "EPIPE"),
    (33, "EDOM"),
    (34, "ERANGE"),
    (35, "EDEADLK"),
    (36, "ENAMETOOLONG"),
    (38, "ENOSYS"),
    (39, "ENOTEMPTY"),
    (40, "ELOOP"),
    (95, "EOPNOTSUPP"),
    (110, "ETIMEDOUT"),
];

/// The name of error `n` (`EINVAL` for 22), if it is a known one.
pub fn name(n: i32) -> Option<&'static str> {
    NAMES.iter().find(|&&(v, _)| v == n).map(|&(_, s)| s)
}

/// The number of error `name`.
pub fn number(name: &str) -> Option<i32> {
    NAMES.iter().find(|&&(_, s)| s == name).map(|&(v, _)| v)
}

/// Shows an error number by name (`ENOSYS`), or `errno N` when unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Name(pub i32);

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match name(self.0) {
            Some(s) => f.write_str(s),
            None => write!(f, "errno {}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_both_ways() {
        assert_eq!(name(22), Some("EINVAL"));
        assert_eq!(name(38), Some("ENOSYS"));
        assert_eq!(name(11), Some("EAGAIN"));
        assert_eq!(name(0), None);
        assert_eq!(name(4000), None);
        for &(n, s) in NAMES {
            assert_eq!(number(s), Some(n));
            assert_eq!(name(n), Some(s));
        }
        assert_eq!(alloc::format!("{}", Name(2)), "ENOENT");
        assert_eq!(alloc::format!("{}", Name(200)), "errno 200");
    }

    #[test]
    fn numbers_are_unique_and_sorted() {
        assert!(NAMES.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
