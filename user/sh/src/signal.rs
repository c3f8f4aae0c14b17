//! Linux signal numbers by name, for `kill -INT` and `[signal 2]`.

/// `(number, name without SIG)`, Linux x86-64.
const NAMES: &[(i32, &str)] = &[
    (1, "HUP"),
    (2, "INT"),
    (3, "QUIT"),
    (4, "ILL"),
    (5, "TRAP"),
    (6, "ABRT"),
    (7, "BUS"),
    (8, "FPE"),
    (9, "KILL"),
    (10, "USR1"),
    (11, "SEGV"),
    (12, "USR2"),
    (13, "PIPE"),
    (14, "ALRM"),
    (15, "TERM"),
    (16, "STKFLT"),
    (17, "CHLD"),
    (18, "CONT"),
    (19, "STOP"),
    (20, "TSTP"),
    (21, "TTIN"),
    (22, "TTOU"),
    (23, "URG"),
    (24, "XCPU"),
    (25, "XFSZ"),
    (26, "VTALRM"),
    (27, "PROF"),
    (28, "WINCH"),
    (29, "IO"),
    (30, "PWR"),
    (31, "SYS"),
];

pub const SIGINT: i32 = 2;
pub const SIGQUIT: i32 = 3;
pub const SIGKILL: i32 = 9;
pub const SIGTERM: i32 = 15;
pub const SIGCONT: i32 = 18;
pub const SIGTSTP: i32 = 20;
pub const SIGTTIN: i32 = 21;
pub const SIGTTOU: i32 = 22;
/// The largest signal number (real-time signals included).
pub const SIGRTMAX: i32 = 64;

/// The name of signal `n` without `SIG` (`INT` for 2).
pub fn name(n: i32) -> Option<&'static str> {
    NAMES.iter().find(|&&(v, _)| v == n).map(|&(_, s)| s)
}

/// A signal given as `INT`, `SIGINT`, `int` or `2` (1..=64).
pub fn parse(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=SIGRTMAX).contains(&n).then_some(n);
    }
    let upper = s.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    NAMES.iter().find(|&&(_, n)| n == bare).map(|&(v, _)| v)
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
            assert_eq!(parse(s), Some(SIGINT), "{s}");
        }
        assert_eq!(parse("CONT"), Some(SIGCONT));
        assert_eq!(parse("64"), Some(64));
        assert_eq!(parse("0"), None);
        assert_eq!(parse("65"), None);
        assert_eq!(parse("-1"), None);
        assert_eq!(parse("FOO"), None);
        assert_eq!(parse("SIG"), None);
    }
}
