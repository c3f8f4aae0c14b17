//! Linux error numbers by name (`abi::Errno`'s), for messages like
//! `rfork: EINVAL`.

use core::fmt;

use abi::Errno;

/// The name of error `n` (`EINVAL` for 22), if it is a known one
/// (`abi::Errno`'s names).
pub fn name(n: i32) -> Option<&'static str> {
    Errno(n).name()
}

/// The number of error `name`.
pub fn number(name: &str) -> Option<i32> {
    Errno::from_name(name).map(Errno::number)
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
        for &e in Errno::ALL {
            let s = e.name().expect("named");
            assert_eq!(number(s), Some(e.0));
            assert_eq!(name(e.0), Some(s));
        }
        assert_eq!(alloc::format!("{}", Name(2)), "ENOENT");
        assert_eq!(alloc::format!("{}", Name(200)), "errno 200");
    }
}
