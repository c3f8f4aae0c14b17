//! The terminal line discipline as a pure state machine (host-tested),
//! and Linux's kernel `struct termios`.
//!
//! [`LineDiscipline::feed`] takes one received byte and says what to do:
//! bytes to echo, a signal for the foreground process group, whether a
//! reader can now make progress ([`Effects`]). [`LineDiscipline::read`]
//! hands out input the way `read(2)` on a terminal does.
//!
//! - Input processing: `ICRNL` (CR becomes NL, the Enter key), `IGNCR`,
//!   `INLCR`, `ISTRIP`.
//! - `ISIG`: `VINTR` (Ctrl-C) raises `SIGINT`, `VQUIT` (Ctrl-\\)
//!   `SIGQUIT`, `VSUSP` (Ctrl-Z) `SIGTSTP`; the pending input is discarded
//!   (unless `NOFLSH`) and the character echoed as `^C` (`ECHOCTL`).
//! - Canonical mode (`ICANON`): input is edited a line at a time. `VERASE`
//!   (DEL) and backspace erase a character, `VKILL` (Ctrl-U) the line,
//!   `VWERASE` (Ctrl-W, with `IEXTEN`) a word; NL, `VEOL` and `VEOL2` end
//!   the line (the NL is part of it); `VEOF` (Ctrl-D) ends it without
//!   adding itself, so at the start of a line it makes `read` return 0.
//!   A read returns at most one line.
//! - Non-canonical mode (`ICANON` clear): every byte is input at once;
//!   a read returns what is there (Linux's `VMIN = 1, VTIME = 0`, the only
//!   setting Tine implements: other `VMIN`/`VTIME` values act the same).
//! - Echo (`ECHO`): typed characters are written back, control characters
//!   as `^X` with `ECHOCTL`; erasing echoes `\b \b` (`ECHOE`); `ECHONL`
//!   echoes NL even without `ECHO`.
//!
//! Output processing (`OPOST`/`ONLCR`) is the console's: the serial driver
//! always sends NL as CR NL.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// Control-character slots (`c_cc`) in Linux's kernel `struct termios`.
pub const NCCS: usize = 19;
/// `sizeof(struct termios)` as `TCGETS`/`TCSETS` take it (the kernel
/// layout, not glibc's 60-byte one): four `u32` flags, `c_line`,
/// `c_cc[19]`.
pub const TERMIOS_SIZE: usize = 36;

pub const VINTR: usize = 0;
pub const VQUIT: usize = 1;
pub const VERASE: usize = 2;
pub const VKILL: usize = 3;
pub const VEOF: usize = 4;
pub const VTIME: usize = 5;
pub const VMIN: usize = 6;
pub const VSTART: usize = 8;
pub const VSTOP: usize = 9;
pub const VSUSP: usize = 10;
pub const VEOL: usize = 11;
pub const VREPRINT: usize = 12;
pub const VDISCARD: usize = 13;
pub const VWERASE: usize = 14;
pub const VLNEXT: usize = 15;
pub const VEOL2: usize = 16;

// c_iflag
pub const ISTRIP: u32 = 0o40;
pub const INLCR: u32 = 0o100;
pub const IGNCR: u32 = 0o200;
pub const ICRNL: u32 = 0o400;
pub const IXON: u32 = 0o2000;
// c_oflag
pub const OPOST: u32 = 0o1;
pub const ONLCR: u32 = 0o4;
// c_cflag
pub const B38400: u32 = 0o17;
pub const CS8: u32 = 0o60;
pub const CREAD: u32 = 0o200;
pub const HUPCL: u32 = 0o2000;
// c_lflag
pub const ISIG: u32 = 0o1;
pub const ICANON: u32 = 0o2;
pub const ECHO: u32 = 0o10;
pub const ECHOE: u32 = 0o20;
pub const ECHOK: u32 = 0o40;
pub const ECHONL: u32 = 0o100;
pub const NOFLSH: u32 = 0o200;
pub const ECHOCTL: u32 = 0o1000;
pub const ECHOKE: u32 = 0o4000;
pub const IEXTEN: u32 = 0o100000;

/// Signals the line discipline raises (Linux numbers).
pub const SIGINT: i32 = 2;
pub const SIGQUIT: i32 = 3;
pub const SIGTSTP: i32 = 20;

/// Longest line canonical mode edits (Linux's 4095; more is ignored).
pub const MAX_LINE: usize = 4095;
/// Most input bytes queued for readers (Linux's `N_TTY_BUF_SIZE`).
pub const MAX_INPUT: usize = 4096;

/// Linux's kernel `struct termios` (module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Termios {
    pub iflag: u32,
    pub oflag: u32,
    pub cflag: u32,
    pub lflag: u32,
    pub line: u8,
    pub cc: [u8; NCCS],
}

impl Default for Termios {
    fn default() -> Self {
        Self::sane()
    }
}

impl Termios {
    /// What Linux gives a new console (`stty sane`): canonical, echoing,
    /// signals on, CR to NL, 38400 8N1.
    pub const fn sane() -> Self {
        let mut cc = [0u8; NCCS];
        cc[VINTR] = 0x03;
        cc[VQUIT] = 0x1c;
        cc[VERASE] = 0x7f;
        cc[VKILL] = 0x15;
        cc[VEOF] = 0x04;
        cc[VTIME] = 0;
        cc[VMIN] = 1;
        cc[VSTART] = 0x11;
        cc[VSTOP] = 0x13;
        cc[VSUSP] = 0x1a;
        cc[VREPRINT] = 0x12;
        cc[VDISCARD] = 0x0f;
        cc[VWERASE] = 0x17;
        cc[VLNEXT] = 0x16;
        Self {
            iflag: ICRNL | IXON,
            oflag: OPOST | ONLCR,
            cflag: B38400 | CS8 | CREAD | HUPCL,
            lflag: ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN,
            line: 0,
            cc,
        }
    }

    /// The 36 bytes of the kernel `struct termios`.
    pub fn to_bytes(&self) -> [u8; TERMIOS_SIZE] {
        let mut b = [0u8; TERMIOS_SIZE];
        b[0..4].copy_from_slice(&self.iflag.to_le_bytes());
        b[4..8].copy_from_slice(&self.oflag.to_le_bytes());
        b[8..12].copy_from_slice(&self.cflag.to_le_bytes());
        b[12..16].copy_from_slice(&self.lflag.to_le_bytes());
        b[16] = self.line;
        b[17..].copy_from_slice(&self.cc);
        b
    }

    /// Reads the kernel `struct termios`.
    pub fn from_bytes(b: &[u8; TERMIOS_SIZE]) -> Self {
        let word = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let mut cc = [0u8; NCCS];
        cc.copy_from_slice(&b[17..]);
        Self {
            iflag: word(0),
            oflag: word(4),
            cflag: word(8),
            lflag: word(12),
            line: b[16],
            cc,
        }
    }

    fn lflag(&self, bit: u32) -> bool {
        self.lflag & bit != 0
    }

    /// Whether `c` is the enabled control character in slot `slot` (a 0
    /// in `c_cc` disables the function, `_POSIX_VDISABLE`).
    fn is(&self, slot: usize, c: u8) -> bool {
        self.cc[slot] != 0 && self.cc[slot] == c
    }
}

/// What one input byte caused.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// Bytes to write back to the terminal.
    pub echo: Vec<u8>,
    /// A signal for the foreground process group.
    pub signal: Option<i32>,
    /// A reader may now make progress (wake the readers).
    pub readable: bool,
}

/// The line discipline's state (module docs).
#[derive(Debug, Default)]
pub struct LineDiscipline {
    termios: Termios,
    /// The line being edited (canonical mode).
    line: Vec<u8>,
    /// Input for readers: canonical lines (an empty one is an end of
    /// file), or runs of non-canonical bytes.
    ready: VecDeque<Vec<u8>>,
    /// Bytes of `ready`'s first record already read.
    taken: usize,
    /// Bytes queued in `ready` (not counting `taken` ones).
    queued: usize,
    /// The last record of `ready` is a non-canonical run still growing.
    raw_open: bool,
}

/// `^X` for a control character.
fn caret(c: u8) -> [u8; 2] {
    [b'^', if c == 0x7f { b'?' } else { c ^ 0x40 }]
}

/// Whether `c` is echoed as `^X` under `ECHOCTL`.
fn is_ctl(c: u8) -> bool {
    (c < 0x20 && c != b'\t' && c != b'\n') || c == 0x7f
}

impl LineDiscipline {
    /// A discipline with `termios`.
    pub fn new(termios: Termios) -> Self {
        Self {
            termios,
            ..Self::default()
        }
    }

    pub fn termios(&self) -> Termios {
        self.termios
    }

    /// `TCSETS`: new settings. Leaving canonical mode makes the line being
    /// edited readable as it is; `flush` (`TCSETSF`) discards all pending
    /// input first.
    pub fn set_termios(&mut self, termios: Termios, flush: bool) {
        if flush {
            self.flush();
        }
        let was_canon = self.termios.lflag(ICANON);
        self.termios = termios;
        if was_canon && !termios.lflag(ICANON) && !self.line.is_empty() {
            let line = core::mem::take(&mut self.line);
            self.push_record(line);
        }
        if termios.lflag(ICANON) {
            self.raw_open = false;
        }
    }

    /// Discards the line being edited and everything not yet read.
    pub fn flush(&mut self) {
        self.line.clear();
        self.ready.clear();
        self.taken = 0;
        self.queued = 0;
        self.raw_open = false;
    }

    fn push_record(&mut self, record: Vec<u8>) {
        self.queued += record.len();
        self.ready.push_back(record);
        self.raw_open = false;
    }

    /// Whether a read would return now (data, or an end of file).
    pub fn readable(&self) -> bool {
        if self.termios.lflag(ICANON) {
            !self.ready.is_empty()
        } else {
            self.queued > 0
        }
    }

    /// Bytes a read could return (`FIONREAD`).
    pub fn available(&self) -> usize {
        self.queued
    }

    /// The bytes of the line being edited (for tests and `VREPRINT`).
    pub fn pending_line(&self) -> &[u8] {
        &self.line
    }

    /// Takes input for a `read` of `out.len()` bytes: `None` if it would
    /// wait, `Some(0)` at an end of file (canonical `VEOF` at the start of
    /// a line), else the count. Canonical reads stop at the end of a line.
    pub fn read(&mut self, out: &mut [u8]) -> Option<usize> {
        if out.is_empty() {
            return Some(0);
        }
        if self.termios.lflag(ICANON) {
            let record = self.ready.front()?;
            let rest = &record[self.taken..];
            let n = rest.len().min(out.len());
            out[..n].copy_from_slice(&rest[..n]);
            self.consume(n);
            return Some(n);
        }
        let mut n = 0;
        while n < out.len() {
            let Some(record) = self.ready.front() else {
                break;
            };
            let rest = &record[self.taken..];
            let k = rest.len().min(out.len() - n);
            out[n..n + k].copy_from_slice(&rest[..k]);
            n += k;
            self.consume(k);
        }
        (n > 0).then_some(n)
    }

    /// Marks `n` bytes of the first record read, dropping it when done.
    fn consume(&mut self, n: usize) {
        self.taken += n;
        self.queued -= n;
        if self.ready.front().is_some_and(|r| self.taken >= r.len()) {
            self.ready.pop_front();
            self.taken = 0;
            if self.ready.is_empty() {
                self.raw_open = false;
            }
        }
    }

    /// Processes one received byte (module docs).
    pub fn feed(&mut self, byte: u8) -> Effects {
        let t = self.termios;
        let mut fx = Effects::default();
        let mut c = byte;
        if t.iflag & ISTRIP != 0 {
            c &= 0x7f;
        }
        if c == b'\r' {
            if t.iflag & IGNCR != 0 {
                return fx;
            }
            if t.iflag & ICRNL != 0 {
                c = b'\n';
            }
        } else if c == b'\n' && t.iflag & INLCR != 0 {
            c = b'\r';
        }
        if t.lflag(ISIG) {
            let signal = if t.is(VINTR, c) {
                Some(SIGINT)
            } else if t.is(VQUIT, c) {
                Some(SIGQUIT)
            } else if t.is(VSUSP, c) {
                Some(SIGTSTP)
            } else {
                None
            };
            if let Some(sig) = signal {
                if !t.lflag(NOFLSH) {
                    self.flush();
                }
                if t.lflag(ECHO) {
                    self.echo_char(&mut fx, c);
                }
                fx.signal = Some(sig);
                return fx;
            }
        }
        if t.lflag(ICANON) {
            self.canonical(&mut fx, c);
        } else {
            if self.queued < MAX_INPUT {
                match self.ready.back_mut() {
                    Some(run) if self.raw_open => run.push(c),
                    _ => {
                        self.ready.push_back(alloc::vec![c]);
                        self.raw_open = true;
                    }
                }
                self.queued += 1;
                fx.readable = true;
            }
            if t.lflag(ECHO) {
                self.echo_char(&mut fx, c);
            }
        }
        fx
    }

    /// Canonical-mode editing of one character.
    fn canonical(&mut self, fx: &mut Effects, c: u8) {
        let t = self.termios;
        if t.is(VERASE, c) || c == 0x08 {
            self.erase(fx, 1);
        } else if t.is(VKILL, c) {
            self.erase(fx, self.line.len());
        } else if t.lflag(IEXTEN) && t.is(VWERASE, c) {
            let trailing = self.line.iter().rev().take_while(|&&b| b == b' ').count();
            let word = self.line[..self.line.len() - trailing]
                .iter()
                .rev()
                .take_while(|&&b| b != b' ')
                .count();
            self.erase(fx, trailing + word);
        } else if t.is(VEOF, c) {
            if self.queued + self.line.len() <= MAX_INPUT {
                let line = core::mem::take(&mut self.line);
                self.push_record(line);
                fx.readable = true;
            }
        } else if c == b'\n' || t.is(VEOL, c) || t.is(VEOL2, c) {
            if self.queued + self.line.len() < MAX_INPUT {
                let mut line = core::mem::take(&mut self.line);
                line.push(c);
                self.push_record(line);
                fx.readable = true;
            }
            if t.lflag(ECHO) || (c == b'\n' && t.lflag(ECHONL)) {
                self.echo_char(fx, c);
            }
        } else if self.line.len() < MAX_LINE {
            self.line.push(c);
            if t.lflag(ECHO) {
                self.echo_char(fx, c);
            }
        }
    }

    /// Erases up to `n` characters of the line, echoing the erasure.
    fn erase(&mut self, fx: &mut Effects, n: usize) {
        let t = self.termios;
        for _ in 0..n {
            let Some(c) = self.line.pop() else { break };
            if t.lflag(ECHO) && t.lflag(ECHOE) {
                let width = if t.lflag(ECHOCTL) && is_ctl(c) { 2 } else { 1 };
                for _ in 0..width {
                    fx.echo.extend_from_slice(b"\x08 \x08");
                }
            }
        }
    }

    fn echo_char(&self, fx: &mut Effects, c: u8) {
        if self.termios.lflag(ECHOCTL) && is_ctl(c) {
            fx.echo.extend_from_slice(&caret(c));
        } else {
            fx.echo.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(ld: &mut LineDiscipline, bytes: &[u8]) -> Effects {
        let mut all = Effects::default();
        for &b in bytes {
            let fx = ld.feed(b);
            all.echo.extend_from_slice(&fx.echo);
            all.signal = all.signal.or(fx.signal);
            all.readable |= fx.readable;
        }
        all
    }

    fn read(ld: &mut LineDiscipline, n: usize) -> Option<Vec<u8>> {
        let mut buf = alloc::vec![0u8; n];
        ld.read(&mut buf).map(|k| buf[..k].to_vec())
    }

    #[test]
    fn enter_ends_a_line_and_echoes() {
        let mut ld = LineDiscipline::default();
        let fx = feed_all(&mut ld, b"ls -l");
        assert_eq!(fx.echo, b"ls -l");
        assert!(!fx.readable);
        assert_eq!(read(&mut ld, 100), None, "nothing until Enter");
        let fx = ld.feed(b'\r');
        assert!(fx.readable);
        assert_eq!(fx.echo, b"\n", "CR becomes NL (ICRNL)");
        assert_eq!(read(&mut ld, 100).unwrap(), b"ls -l\n");
        assert_eq!(read(&mut ld, 100), None);
    }

    #[test]
    fn a_read_returns_at_most_one_line_and_short_reads_continue_it() {
        let mut ld = LineDiscipline::default();
        feed_all(&mut ld, b"one\ntwo\n");
        assert_eq!(read(&mut ld, 2).unwrap(), b"on");
        assert_eq!(read(&mut ld, 100).unwrap(), b"e\n");
        assert_eq!(ld.available(), 4);
        assert_eq!(read(&mut ld, 100).unwrap(), b"two\n");
    }

    #[test]
    fn erase_kill_and_word_erase_edit_the_line() {
        let mut ld = LineDiscipline::default();
        let fx = feed_all(&mut ld, b"abc\x7f");
        assert_eq!(fx.echo, b"abc\x08 \x08");
        assert_eq!(ld.pending_line(), b"ab");
        feed_all(&mut ld, b"\x08");
        assert_eq!(ld.pending_line(), b"a", "backspace erases too");
        feed_all(&mut ld, b"\x7f\x7f\x7f");
        assert_eq!(ld.pending_line(), b"", "erasing an empty line does nothing");
        feed_all(&mut ld, b"hello world");
        let fx = feed_all(&mut ld, b"\x17");
        assert_eq!(ld.pending_line(), b"hello ");
        assert_eq!(fx.echo.len(), 5 * 3);
        let fx = feed_all(&mut ld, b"\x15");
        assert_eq!(ld.pending_line(), b"");
        assert_eq!(fx.echo.len(), 6 * 3);
        feed_all(&mut ld, b"ok\r");
        assert_eq!(read(&mut ld, 10).unwrap(), b"ok\n");
    }

    #[test]
    fn ctrl_d_is_eof_at_line_start_and_a_push_otherwise() {
        let mut ld = LineDiscipline::default();
        feed_all(&mut ld, b"abc\x04");
        assert_eq!(
            read(&mut ld, 10).unwrap(),
            b"abc",
            "^D sends the line without NL"
        );
        feed_all(&mut ld, b"\x04");
        assert_eq!(read(&mut ld, 10).unwrap(), b"", "^D at the start is EOF");
        assert_eq!(read(&mut ld, 10), None, "the EOF is consumed");
    }

    #[test]
    fn ctrl_c_signals_and_discards_the_line() {
        let mut ld = LineDiscipline::default();
        feed_all(&mut ld, b"done\rhalf");
        let fx = ld.feed(0x03);
        assert_eq!(fx.signal, Some(SIGINT));
        assert_eq!(fx.echo, b"^C");
        assert_eq!(ld.pending_line(), b"");
        assert_eq!(read(&mut ld, 10), None, "pending input is flushed too");
        assert_eq!(ld.feed(0x1a).signal, Some(SIGTSTP));
        assert_eq!(ld.feed(0x1c).signal, Some(SIGQUIT));
    }

    #[test]
    fn raw_mode_passes_every_byte_at_once() {
        let mut ld = LineDiscipline::default();
        feed_all(&mut ld, b"ab");
        let mut raw = ld.termios();
        raw.lflag &= !(ICANON | ECHO | ISIG);
        ld.set_termios(raw, false);
        assert_eq!(
            read(&mut ld, 10).unwrap(),
            b"ab",
            "the edited line becomes input"
        );
        let fx = feed_all(&mut ld, b"\x03x\x7f\r");
        assert_eq!(fx.signal, None, "ISIG is off");
        assert!(fx.echo.is_empty(), "ECHO is off");
        assert!(fx.readable);
        assert_eq!(read(&mut ld, 2).unwrap(), b"\x03x");
        assert_eq!(read(&mut ld, 10).unwrap(), b"\x7f\n", "ICRNL still applies");
        assert_eq!(read(&mut ld, 10), None);
        ld.set_termios(Termios::sane(), false);
        feed_all(&mut ld, b"z\r");
        assert_eq!(read(&mut ld, 10).unwrap(), b"z\n");
    }

    #[test]
    fn input_is_bounded() {
        let mut ld = LineDiscipline::default();
        for _ in 0..MAX_LINE + 10 {
            ld.feed(b'a');
        }
        assert_eq!(ld.pending_line().len(), MAX_LINE);
        ld.feed(b'\n');
        assert_eq!(ld.available(), MAX_LINE + 1);
        let mut raw = Termios::sane();
        raw.lflag &= !ICANON;
        let mut ld = LineDiscipline::new(raw);
        for _ in 0..MAX_INPUT + 10 {
            ld.feed(b'a');
        }
        assert_eq!(ld.available(), MAX_INPUT);
    }

    #[test]
    fn termios_is_the_36_byte_kernel_layout() {
        let t = Termios::sane();
        let b = t.to_bytes();
        assert_eq!(b.len(), 36);
        assert_eq!(u32::from_le_bytes(b[0..4].try_into().unwrap()), 0o2400);
        assert_eq!(u32::from_le_bytes(b[4..8].try_into().unwrap()), 0o5);
        assert_eq!(u32::from_le_bytes(b[8..12].try_into().unwrap()), 0o2277);
        assert_eq!(u32::from_le_bytes(b[12..16].try_into().unwrap()), 0o105073);
        assert_eq!(b[17 + VINTR], 3);
        assert_eq!(b[17 + VMIN], 1);
        assert_eq!(Termios::from_bytes(&b), t);
    }

    #[test]
    fn flush_on_set_discards_input() {
        let mut ld = LineDiscipline::default();
        feed_all(&mut ld, b"x\ny");
        ld.set_termios(Termios::sane(), true);
        assert!(!ld.readable());
        assert_eq!(ld.pending_line(), b"");
    }
}
