//! Error numbers: [`Errno`] is the `abi` crate's (Linux x86-64 values),
//! re-exported here under its old path; a system call's outcome is a
//! [`SysResult`], converted to the user ABI in exactly one place
//! ([`encode`], with [`Errno::to_user`]).

pub use abi::Errno;

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
