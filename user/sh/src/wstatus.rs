//! Linux wait statuses (`wait4`'s `*wstatus`) decoded.

use core::fmt;

/// How a child changed state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitStatus {
    /// `exit(code)`.
    Exited(i32),
    /// Killed by a signal (`core`: a core dump was asked for).
    Signaled { signal: i32, core: bool },
    /// Stopped by a signal (`WUNTRACED`).
    Stopped(i32),
    /// Continued (`WCONTINUED`).
    Continued,
}

impl WaitStatus {
    /// Decodes a raw status: low 7 bits 0 = exited (code in bits 8..16),
    /// 0x7f = stopped (signal in bits 8..16), `0xffff` = continued, else
    /// the killing signal (bit 7: core dumped).
    pub fn decode(raw: i32) -> Self {
        let low = raw & 0x7f;
        if raw == 0xffff {
            WaitStatus::Continued
        } else if low == 0 {
            WaitStatus::Exited((raw >> 8) & 0xff)
        } else if low == 0x7f {
            WaitStatus::Stopped((raw >> 8) & 0xff)
        } else {
            WaitStatus::Signaled {
                signal: low,
                core: raw & 0x80 != 0,
            }
        }
    }

    /// `$?`-style number: the exit code, or 128 + the signal.
    pub fn code(self) -> i32 {
        match self {
            WaitStatus::Exited(c) => c,
            WaitStatus::Signaled { signal, .. } | WaitStatus::Stopped(signal) => 128 + signal,
            WaitStatus::Continued => 0,
        }
    }
}

impl fmt::Display for WaitStatus {
    /// `exit 3`, `signal 11 (SEGV)`, `stopped (TSTP)`, `continued`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WaitStatus::Exited(c) => write!(f, "exit {c}"),
            WaitStatus::Signaled { signal, core } => {
                write!(f, "signal {signal}")?;
                if let Some(n) = crate::signal::name(signal) {
                    write!(f, " (SIG{n})")?;
                }
                if core {
                    f.write_str(", core dumped")?;
                }
                Ok(())
            }
            WaitStatus::Stopped(signal) => write!(f, "stopped (signal {signal})"),
            WaitStatus::Continued => f.write_str("continued"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_linux_statuses() {
        assert_eq!(WaitStatus::decode(0), WaitStatus::Exited(0));
        assert_eq!(WaitStatus::decode(3 << 8), WaitStatus::Exited(3));
        assert_eq!(
            WaitStatus::decode(11),
            WaitStatus::Signaled {
                signal: 11,
                core: false
            }
        );
        assert_eq!(
            WaitStatus::decode(0x80 | 6),
            WaitStatus::Signaled {
                signal: 6,
                core: true
            }
        );
        assert_eq!(
            WaitStatus::decode((20 << 8) | 0x7f),
            WaitStatus::Stopped(20)
        );
        assert_eq!(WaitStatus::decode(0xffff), WaitStatus::Continued);
        assert_eq!(WaitStatus::decode(2).code(), 130);
        assert_eq!(WaitStatus::decode(5 << 8).code(), 5);
        assert_eq!(
            alloc::format!("{}", WaitStatus::decode(2)),
            "signal 2 (SIGINT)"
        );
        assert_eq!(alloc::format!("{}", WaitStatus::decode(1 << 8)), "exit 1");
    }
}
