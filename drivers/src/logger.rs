//! # logger — the `log` crate's backend, printing to the serial console
//!
//! Every record becomes one line on COM1:
//!
//! ```text
//! [    0.012345 cpu0  INFO] message
//! ```
//!
//! seconds since boot with six decimals (`arch::cpu::tsc::now_ns`), the CPU
//! index (`arch::cpu::id`), and the level right-aligned to five columns.
//!
//! Lines never interleave across CPUs: [`Logger::log`] first formats the
//! whole line into a [`LineBuf`] on its own stack, holding no lock, and then
//! hands it to [`serial::write_line`], which writes it under the console's
//! transmit lock with interrupts masked on this CPU (see `serial`'s
//! `TX_LOCK`). A line longer than [`LINE_CAPACITY`] is cut and ends in `…`.
//! Timestamps are taken before the lock, so lines from different CPUs can
//! appear slightly out of timestamp order.
//!
//! The kernel calls [`init`] once at boot (after `serial::init`) and may
//! change the level later with [`set_level`], e.g. from `log=debug` on the
//! command line ([`level_from_cmdline`]). Must not be used from an NMI
//! handler (it could spin on a lock its own CPU holds).

use core::fmt::{self, Write};

use log::{Level, LevelFilter, Log, Metadata, Record, SetLoggerError};

use crate::serial;

/// Bytes one log line may take, including its prefix and newline.
pub const LINE_CAPACITY: usize = 512;

/// What a cut line ends with.
const TRUNCATION_MARK: &str = "…";

/// A line being formatted on the stack: fixed capacity `N`, no allocation.
///
/// Writes past the capacity are dropped; [`LineBuf::finish_line`] then ends
/// the line with `…` and a newline, cutting at a character boundary so the
/// result stays valid UTF-8.
pub struct LineBuf<const N: usize> {
    bytes: [u8; N],
    len: usize,
    truncated: bool,
}

impl<const N: usize> Default for LineBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> LineBuf<N> {
    /// Room kept free for the truncation mark and the newline.
    const RESERVE: usize = TRUNCATION_MARK.len() + 1;

    /// An empty line.
    pub const fn new() -> Self {
        assert!(N > Self::RESERVE, "line buffer too small");
        Self {
            bytes: [0; N],
            len: 0,
            truncated: false,
        }
    }

    /// The text so far.
    pub fn as_str(&self) -> &str {
        // Only whole `str`s, or prefixes of them cut at a char boundary, are
        // ever copied in, so this cannot fail.
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }

    /// Whether text was cut.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// Ends the line: `…` if text was cut, then `\n` unless the text already
    /// ends with one.
    pub fn finish_line(&mut self) {
        if self.truncated {
            self.append(TRUNCATION_MARK);
        }
        if !self.as_str().ends_with('\n') {
            self.append("\n");
        }
    }

    /// Copies `s` in; room for the reserve is always there (see `write_str`).
    fn append(&mut self, s: &str) {
        let end = self.len + s.len();
        self.bytes[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
    }
}

impl<const N: usize> fmt::Write for LineBuf<N> {
    /// Never fails: text beyond the capacity is dropped and remembered, so
    /// that formatting continues and the line still gets printed.
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.truncated {
            return Ok(());
        }
        let room = N - Self::RESERVE - self.len;
        if s.len() <= room {
            self.append(s);
        } else {
            let mut cut = room;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            self.append(&s[..cut]);
            self.truncated = true;
        }
        Ok(())
    }
}

/// Formats one log line into `line`: the `[seconds cpuN LEVEL] ` prefix,
/// the message, and a final newline (plus `…` if it was cut). Pure: the
/// caller supplies the time and CPU.
pub fn format_line<const N: usize>(
    line: &mut LineBuf<N>,
    now_ns: u64,
    cpu: usize,
    level: Level,
    message: fmt::Arguments<'_>,
) {
    let seconds = now_ns / 1_000_000_000;
    let micros = now_ns % 1_000_000_000 / 1_000;
    // `LineBuf::write_str` never fails, so neither can these.
    let _ = write!(line, "[{seconds:>5}.{micros:06} cpu{cpu} {level:>5}] ");
    let _ = line.write_fmt(message);
    line.finish_line();
}

/// Finds `log=LEVEL` among the whitespace-separated words of a kernel
/// command line (`off`, `error`, `warn`, `info`, `debug`, `trace`, any
/// case). The last one wins; `None` if absent or not a level.
pub fn level_from_cmdline(cmdline: &str) -> Option<LevelFilter> {
    cmdline
        .split_ascii_whitespace()
        .filter_map(|word| word.strip_prefix("log="))
        .next_back()
        .and_then(|value| value.parse().ok())
}

/// The console logger. Stateless: the level lives in `log`'s max level.
pub struct Logger;

/// The one instance [`init`] installs.
static LOGGER: Logger = Logger;

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        // Formatted here, before any lock: the lock is held only while the
        // finished bytes go out.
        let mut line = LineBuf::<LINE_CAPACITY>::new();
        format_line(
            &mut line,
            arch::cpu::tsc::now_ns(),
            arch::cpu::id(),
            record.level(),
            *record.args(),
        );
        serial::write_line(line.as_str().as_bytes());
    }

    fn flush(&self) {}
}

/// Installs the console logger at `level`. Call once, after
/// `serial::init` (lines logged before that are lost). Fails if some logger
/// is already installed.
pub fn init(level: LevelFilter) -> Result<(), SetLoggerError> {
    log::set_logger(&LOGGER)?;
    set_level(level);
    Ok(())
}

/// Changes which records are printed from now on.
pub fn set_level(level: LevelFilter) {
    log::set_max_level(level);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<const N: usize>(
        now_ns: u64,
        cpu: usize,
        level: Level,
        args: fmt::Arguments<'_>,
    ) -> LineBuf<N> {
        let mut line = LineBuf::<N>::new();
        format_line(&mut line, now_ns, cpu, level, args);
        line
    }

    #[test]
    fn prefix_has_seconds_cpu_and_padded_level() {
        let l = line::<128>(12_345_678, 0, Level::Info, format_args!("hello {}", 42));
        assert_eq!(l.as_str(), "[    0.012345 cpu0  INFO] hello 42\n");
        let l = line::<128>(98_765_432_100_999, 13, Level::Error, format_args!("x"));
        assert_eq!(l.as_str(), "[98765.432100 cpu13 ERROR] x\n");
        let l = line::<128>(1_000_000_000, 2, Level::Trace, format_args!(""));
        assert_eq!(l.as_str(), "[    1.000000 cpu2 TRACE] \n");
        assert!(!l.is_truncated());
    }

    #[test]
    fn message_ending_in_newline_gets_no_second_one() {
        let l = line::<128>(0, 1, Level::Warn, format_args!("done\n"));
        assert_eq!(l.as_str(), "[    0.000000 cpu1  WARN] done\n");
    }

    #[test]
    fn long_line_is_cut_with_a_mark_and_fits() {
        let long = "y".repeat(1000);
        let l = line::<64>(0, 0, Level::Debug, format_args!("{long}"));
        assert!(l.is_truncated());
        assert_eq!(l.as_str().len(), 64);
        assert!(l.as_str().starts_with("[    0.000000 cpu0 DEBUG] yyy"));
        assert!(l.as_str().ends_with("y…\n"));
    }

    #[test]
    fn cut_respects_char_boundaries() {
        // 26-byte prefix, then 3-byte characters: the cut must not split one.
        let l = line::<40>(0, 0, Level::Info, format_args!("{}", "€".repeat(20)));
        assert!(l.is_truncated());
        let text = l.as_str();
        assert!(text.ends_with("€…\n"));
        assert!(text.len() <= 40);
    }

    #[test]
    fn exact_fit_is_not_truncated() {
        // Capacity 40 keeps 4 bytes for "…\n": 36 bytes of text fit.
        let mut l = LineBuf::<40>::new();
        let _ = l.write_str(&"z".repeat(36));
        l.finish_line();
        assert!(!l.is_truncated());
        assert_eq!(l.as_str().len(), 37);
    }

    #[test]
    fn cmdline_level() {
        assert_eq!(
            level_from_cmdline("quiet log=debug x=1"),
            Some(LevelFilter::Debug)
        );
        assert_eq!(
            level_from_cmdline("log=info log=TRACE"),
            Some(LevelFilter::Trace)
        );
        assert_eq!(level_from_cmdline("log=off"), Some(LevelFilter::Off));
        assert_eq!(level_from_cmdline("log=loud"), None);
        assert_eq!(level_from_cmdline("nolog=debug"), None);
        assert_eq!(level_from_cmdline(""), None);
    }
}
