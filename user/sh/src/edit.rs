//! The line editor: a state machine fed the terminal's bytes one at a time
//! (the tty is in raw mode while the user types, so every key arrives at
//! once and nothing is echoed by the kernel).
//!
//! [`LineEditor::feed`] takes a byte and appends to `out` what the
//! terminal must show (the typed byte, a redraw of the line's tail, cursor
//! moves as VT100 sequences), and says whether the line is done
//! ([`Event`]). Keys: printable bytes insert at the cursor; Backspace
//! (DEL or ^H) deletes before it; Left/Right (`ESC [ D`/`C`, or `ESC O`)
//! and ^B/^F move; Home/End and ^A/^E jump; Up/Down (and ^P/^N) walk the
//! history, keeping the line being typed; ^U clears to the start; Enter
//! (CR or LF; an LF right after a CR is ignored) ends the line; ^C abandons
//! it; ^D on an empty line is end of input (elsewhere it deletes under the
//! cursor).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

/// What one byte did to the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Still editing.
    Pending,
    /// Enter: the finished line (already in the history if not blank).
    Line(String),
    /// ^C: the line is abandoned.
    Interrupt,
    /// ^D on an empty line.
    Eof,
}

/// Where we are in an escape sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Escape {
    None,
    /// After ESC.
    Start,
    /// After `ESC [` (CSI) or `ESC O` (SS3), with the parameter so far.
    Params(u16),
}

/// Most lines the history keeps.
pub const HISTORY_MAX: usize = 100;

/// The line being edited, the cursor, and the history (module docs).
#[derive(Debug)]
pub struct LineEditor {
    line: Vec<u8>,
    cursor: usize,
    history: Vec<Vec<u8>>,
    /// Which history entry is shown (`history.len()` = the new line).
    shown: usize,
    /// The line being typed, kept while the history is browsed.
    draft: Vec<u8>,
    escape: Escape,
    after_cr: bool,
}

impl Default for LineEditor {
    fn default() -> Self {
        Self::new()
    }
}

impl LineEditor {
    /// An empty line and history.
    pub const fn new() -> Self {
        Self {
            line: Vec::new(),
            cursor: 0,
            history: Vec::new(),
            shown: 0,
            draft: Vec::new(),
            escape: Escape::None,
            after_cr: false,
        }
    }

    /// The line as typed so far.
    pub fn line(&self) -> &[u8] {
        &self.line
    }

    /// The cursor's offset in the line.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// The history, oldest first.
    pub fn history(&self) -> impl Iterator<Item = &[u8]> {
        self.history.iter().map(Vec::as_slice)
    }

    /// Feeds one byte; what to show goes to `out` (module docs).
    pub fn feed(&mut self, byte: u8, out: &mut Vec<u8>) -> Event {
        let after_cr = core::mem::replace(&mut self.after_cr, false);
        match self.escape {
            Escape::Start => {
                self.escape = match byte {
                    b'[' | b'O' => Escape::Params(0),
                    _ => Escape::None,
                };
                return Event::Pending;
            }
            Escape::Params(n) => {
                match byte {
                    b'0'..=b'9' => {
                        self.escape = Escape::Params(
                            n.saturating_mul(10).saturating_add(u16::from(byte - b'0')),
                        );
                    }
                    b';' => self.escape = Escape::Params(0),
                    0x40..=0x7e => {
                        self.escape = Escape::None;
                        self.key(byte, n, out);
                    }
                    _ => self.escape = Escape::None,
                }
                return Event::Pending;
            }
            Escape::None => {}
        }
        match byte {
            b'\n' if after_cr => Event::Pending,
            b'\r' | b'\n' => {
                self.after_cr = byte == b'\r';
                out.extend_from_slice(b"\r\n");
                Event::Line(self.finish())
            }
            0x03 => {
                out.extend_from_slice(b"^C\r\n");
                self.reset();
                Event::Interrupt
            }
            0x04 if self.line.is_empty() => Event::Eof,
            0x04 => {
                self.delete_at_cursor(out);
                Event::Pending
            }
            0x7f | 0x08 => {
                if self.cursor > 0 {
                    self.cursor -= 1;
                    out.push(0x08);
                    self.delete_at_cursor(out);
                }
                Event::Pending
            }
            0x1b => {
                self.escape = Escape::Start;
                Event::Pending
            }
            0x01 => {
                self.move_to(0, out);
                Event::Pending
            }
            0x05 => {
                self.move_to(self.line.len(), out);
                Event::Pending
            }
            0x02 => {
                self.move_to(self.cursor.saturating_sub(1), out);
                Event::Pending
            }
            0x06 => {
                self.move_to((self.cursor + 1).min(self.line.len()), out);
                Event::Pending
            }
            0x10 => {
                self.browse(-1, out);
                Event::Pending
            }
            0x0e => {
                self.browse(1, out);
                Event::Pending
            }
            0x15 => {
                let removed = self.cursor;
                back(out, removed);
                self.line.drain(..removed);
                self.cursor = 0;
                self.redraw_tail(out, removed);
                Event::Pending
            }
            0x20..=0x7e | 0x80..=0xff => {
                self.line.insert(self.cursor, byte);
                self.cursor += 1;
                out.push(byte);
                self.redraw_tail(out, 0);
                Event::Pending
            }
            _ => Event::Pending,
        }
    }

    /// The final byte of an escape sequence with parameter `n`.
    fn key(&mut self, key: u8, n: u16, out: &mut Vec<u8>) {
        match (key, n) {
            (b'A', _) => self.browse(-1, out),
            (b'B', _) => self.browse(1, out),
            (b'C', _) => self.move_to((self.cursor + 1).min(self.line.len()), out),
            (b'D', _) => self.move_to(self.cursor.saturating_sub(1), out),
            (b'H', _) | (b'~', 1 | 7) => self.move_to(0, out),
            (b'F', _) | (b'~', 4 | 8) => self.move_to(self.line.len(), out),
            (b'~', 3) => self.delete_at_cursor(out),
            _ => {}
        }
    }

    /// Removes the byte under the cursor and redraws the rest.
    fn delete_at_cursor(&mut self, out: &mut Vec<u8>) {
        if self.cursor < self.line.len() {
            self.line.remove(self.cursor);
            self.redraw_tail(out, 1);
        }
    }

    /// Writes the line from the cursor to its end, `blank` spaces over
    /// what the line no longer covers, and moves back to the cursor.
    fn redraw_tail(&mut self, out: &mut Vec<u8>, blank: usize) {
        let tail = &self.line[self.cursor..];
        out.extend_from_slice(tail);
        out.extend(core::iter::repeat_n(b' ', blank));
        back(out, tail.len() + blank);
    }

    fn move_to(&mut self, at: usize, out: &mut Vec<u8>) {
        if at < self.cursor {
            back(out, self.cursor - at);
        } else if at > self.cursor {
            out.extend_from_slice(&self.line[self.cursor..at]);
        }
        self.cursor = at;
    }

    /// Shows another history entry (`step` -1 older, +1 newer).
    fn browse(&mut self, step: isize, out: &mut Vec<u8>) {
        let target = self.shown as isize + step;
        if target < 0 || target as usize > self.history.len() {
            return;
        }
        let target = target as usize;
        if self.shown == self.history.len() {
            self.draft = self.line.clone();
        }
        let new = if target == self.history.len() {
            core::mem::take(&mut self.draft)
        } else {
            self.history[target].clone()
        };
        self.replace(new, out);
        self.shown = target;
    }

    /// Replaces the whole line on screen, cursor at its end.
    fn replace(&mut self, new: Vec<u8>, out: &mut Vec<u8>) {
        let old_len = self.line.len();
        self.move_to(0, out);
        out.extend_from_slice(&new);
        let blank = old_len.saturating_sub(new.len());
        out.extend(core::iter::repeat_n(b' ', blank));
        back(out, blank);
        self.cursor = new.len();
        self.line = new;
    }

    /// Ends the line: into the history unless blank or the same as the
    /// last entry; the editor is ready for the next line.
    fn finish(&mut self) -> String {
        let line = core::mem::take(&mut self.line);
        if !line.iter().all(u8::is_ascii_whitespace) && self.history.last() != Some(&line) {
            if self.history.len() == HISTORY_MAX {
                self.history.remove(0);
            }
            self.history.push(line.clone());
        }
        self.reset();
        String::from_utf8_lossy(&line).into_owned()
    }

    fn reset(&mut self) {
        self.line.clear();
        self.cursor = 0;
        self.shown = self.history.len();
        self.draft.clear();
        self.escape = Escape::None;
    }
}

/// Moves the terminal's cursor `n` cells left.
fn back(out: &mut Vec<u8>, n: usize) {
    match n {
        0 => {}
        1..=3 => out.extend(core::iter::repeat_n(0x08, n)),
        _ => {
            let mut s = String::new();
            let _ = write!(s, "\x1b[{n}D");
            out.extend_from_slice(s.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny VT100 model: interprets what the editor writes, so tests
    /// check what the user would see, not the exact escape bytes.
    #[derive(Default)]
    struct Screen {
        cells: Vec<u8>,
        col: usize,
        lines: Vec<Vec<u8>>,
    }

    impl Screen {
        fn show(&mut self, bytes: &[u8]) {
            let mut i = 0;
            while i < bytes.len() {
                match bytes[i] {
                    0x08 => self.col = self.col.saturating_sub(1),
                    b'\r' => self.col = 0,
                    b'\n' => {
                        self.lines.push(core::mem::take(&mut self.cells));
                        self.col = 0;
                    }
                    0x1b => {
                        assert_eq!(bytes[i + 1], b'[');
                        let mut j = i + 2;
                        let mut n = 0usize;
                        while bytes[j].is_ascii_digit() {
                            n = n * 10 + usize::from(bytes[j] - b'0');
                            j += 1;
                        }
                        match bytes[j] {
                            b'D' => self.col = self.col.saturating_sub(n.max(1)),
                            b'C' => self.col += n.max(1),
                            other => panic!("unexpected CSI {}", other as char),
                        }
                        i = j;
                    }
                    b => {
                        if self.col >= self.cells.len() {
                            self.cells.resize(self.col + 1, b' ');
                        }
                        self.cells[self.col] = b;
                        self.col += 1;
                    }
                }
                i += 1;
            }
        }

        fn text(&self) -> String {
            String::from_utf8_lossy(&self.cells).trim_end().into()
        }
    }

    /// Types `keys`; returns the events that were not `Pending`.
    fn type_keys(ed: &mut LineEditor, screen: &mut Screen, keys: &[u8]) -> Vec<Event> {
        let mut events = Vec::new();
        for &k in keys {
            let mut out = Vec::new();
            let e = ed.feed(k, &mut out);
            screen.show(&out);
            if e != Event::Pending {
                events.push(e);
            }
        }
        events
    }

    const LEFT: &[u8] = b"\x1b[D";
    const RIGHT: &[u8] = b"\x1b[C";
    const UP: &[u8] = b"\x1b[A";
    const DOWN: &[u8] = b"\x1b[B";

    fn keys(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn typing_and_enter() {
        let (mut ed, mut s) = (LineEditor::new(), Screen::default());
        let ev = type_keys(&mut ed, &mut s, b"echo hi\r");
        assert_eq!(ev, [Event::Line("echo hi".into())]);
        assert_eq!(s.lines[0], b"echo hi");
    }

    #[test]
    fn lf_after_cr_is_one_enter_but_lf_alone_counts() {
        let (mut ed, mut s) = (LineEditor::new(), Screen::default());
        let ev = type_keys(&mut ed, &mut s, b"a\r\nb\n\n");
        assert_eq!(
            ev,
            [
                Event::Line("a".into()),
                Event::Line("b".into()),
                Event::Line("".into())
            ]
        );
    }

    #[test]
    fn backspace_at_end_and_in_the_middle() {
        let (mut ed, mut s) = (LineEditor::new(), Screen::default());
        type_keys(&mut ed, &mut s, b"abcd\x7f");
        assert_eq!(s.text(), "abc");
        type_keys(&mut ed, &mut s, &keys(&[LEFT, b"\x7f"]));
        assert_eq!(s.text(), "ac");
        assert_eq!(ed.line(), b"ac");
        assert_eq!(ed.cursor(), 1);
        // Backspace at the start does nothing.
        type_keys(&mut ed, &mut s, &keys(&[LEFT, b"\x7f\x08"]));
        assert_eq!(ed.line(), b"ac");
        let ev = type_keys(&mut ed, &mut s, b"\r");
        assert_eq!(ev, [Event::Line("ac".into())]);
    }

    #[test]
    fn insert_in_the_middle_with_left_and_right() {
        let (mut ed, mut s) = (LineEditor::new(), Screen::default());
        type_keys(
            &mut ed,
            &mut s,
            &keys(&[b"ac", LEFT, b"b", RIGHT, RIGHT, b"d"]),
        );
        assert_eq!(s.text(), "abcd");
        assert_eq!(ed.line(), b"abcd");
        assert_eq!(s.col, 4);
    }

    #[test]
    fn home_end_and_control_keys() {
        let (mut ed, mut s) = (LineEditor::new(), Screen::default());
        type_keys(&mut ed, &mut s, b"bc\x01a\x05d");
        assert_eq!(s.text(), "abcd");
        type_keys(&mut ed, &mut s, b"\x1b[H>\x1b[F<");
        assert_eq!(s.text(), ">abcd<");
        type_keys(&mut ed, &mut s, b"\x02\x02\x04");
        assert_eq!(s.text(), ">abc<");
        // The cursor is on `<`: Delete removes it.
        type_keys(&mut ed, &mut s, b"\x1b[3~");
        assert_eq!(ed.line(), b">abc");
        type_keys(&mut ed, &mut s, b"\x02\x15");
        assert_eq!(ed.line(), b"c");
        assert_eq!(s.text(), "c");
        assert_eq!(s.col, 0);
    }

    #[test]
    fn history_up_down_keeps_the_draft() {
        let (mut ed, mut s) = (LineEditor::new(), Screen::default());
        type_keys(&mut ed, &mut s, b"first\rsecond command\r");
        type_keys(&mut ed, &mut s, b"dra");
        type_keys(&mut ed, &mut s, UP);
        assert_eq!(s.text(), "second command");
        type_keys(&mut ed, &mut s, UP);
        assert_eq!(s.text(), "first");
        assert_eq!(ed.line(), b"first");
        // Older than the oldest: nothing changes.
        type_keys(&mut ed, &mut s, UP);
        assert_eq!(ed.line(), b"first");
        type_keys(&mut ed, &mut s, DOWN);
        type_keys(&mut ed, &mut s, DOWN);
        assert_eq!(s.text(), "dra");
        type_keys(&mut ed, &mut s, DOWN);
        assert_eq!(ed.line(), b"dra");
        let ev = type_keys(&mut ed, &mut s, &keys(&[UP, UP, b"!\r"]));
        assert_eq!(ev, [Event::Line("first!".into())]);
        let h: Vec<&[u8]> = ed.history().collect();
        assert_eq!(h, [&b"first"[..], b"second command", b"first!"]);
    }

    #[test]
    fn history_skips_blank_lines_and_repeats() {
        let (mut ed, mut s) = (LineEditor::new(), Screen::default());
        type_keys(&mut ed, &mut s, b"a\r\r  \ra\rb\r");
        let h: Vec<&[u8]> = ed.history().collect();
        assert_eq!(h, [&b"a"[..], b"b"]);
        for i in 0..HISTORY_MAX + 5 {
            type_keys(&mut ed, &mut s, alloc::format!("c{i}\r").as_bytes());
        }
        assert_eq!(ed.history().count(), HISTORY_MAX);
        assert_eq!(ed.history().last(), Some(&b"c104"[..]));
    }

    #[test]
    fn ctrl_c_abandons_and_ctrl_d_ends_only_an_empty_line() {
        let (mut ed, mut s) = (LineEditor::new(), Screen::default());
        let ev = type_keys(&mut ed, &mut s, b"abc\x03");
        assert_eq!(ev, [Event::Interrupt]);
        assert!(ed.line().is_empty());
        assert_eq!(ed.history().count(), 0);
        let ev = type_keys(&mut ed, &mut s, b"x\x04");
        assert!(ev.is_empty(), "^D with text is not EOF");
        let ev = type_keys(&mut ed, &mut s, b"\x01\x04\x04");
        assert_eq!(ev, [Event::Eof]);
    }

    #[test]
    fn unknown_escapes_and_controls_are_ignored() {
        let (mut ed, mut s) = (LineEditor::new(), Screen::default());
        type_keys(&mut ed, &mut s, b"a\x1b[1;5Cb\x1bOD\x1bxc\x07\x1b[15~");
        // ESC [ 1;5 C is Right (at the end: no move), ESC O D is Left,
        // ESC x is dropped whole, BEL and ESC [ 15 ~ are ignored.
        assert_eq!(ed.line(), b"acb");
    }

    #[test]
    fn long_moves_use_csi() {
        let (mut ed, mut s) = (LineEditor::new(), Screen::default());
        type_keys(&mut ed, &mut s, b"0123456789\x01X");
        assert_eq!(s.text(), "X0123456789");
        assert_eq!(s.col, 1);
    }
}
