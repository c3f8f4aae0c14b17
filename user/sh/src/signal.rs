//! Linux signal numbers by name (`abi::signal`'s), for `kill -INT` and
//! `[signal 2]`.

use abi::signal::Signal;

pub use abi::signal::{SIGCONT, SIGINT, SIGKILL, SIGQUIT, SIGTERM, SIGTSTP, SIGTTIN, SIGTTOU};
/// The largest signal number (real-time signals included).
pub const SIGRTMAX: i32 = abi::signal::SIGRTMAX.number() as i32;

/// The name of signal `n` without `SIG` (`INT` for 2), for the standard
/// signals (`abi::signal::name`).
pub fn name(n: i32) -> Option<&'static str> {
    let sig = Signal::new(u32::try_from(n).ok()?)?;
    abi::signal::name(sig).map(|s| &s[3..])
}

/// A signal given as `INT`, `SIGINT`, `int` or `2` (1..=64).
pub fn parse(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=SIGRTMAX).contains(&n).then_some(n);
    }
    let upper = s.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    (1..=SIGRTMAX).find(|&n| name(n) == Some(bare))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_parsing() {
        assert_eq!(name(2), Some("INT"));
        assert_eq!(name(9), Some("KILL"));
        assert_eq!(name(0), None);
        for s in ["INT", "SIGINT", "int", "sigint", "2"] {
            assert_eq!(parse(s), Some(SIGINT.into()), "{s}");
        }
        assert_eq!(parse("CONT"), Some(SIGCONT.into()));
        assert_eq!(parse("64"), Some(64));
        assert_eq!(parse("0"), None);
        assert_eq!(parse("65"), None);
        assert_eq!(parse("-1"), None);
        assert_eq!(parse("FOO"), None);
        assert_eq!(parse("SIG"), None);
    }
}
