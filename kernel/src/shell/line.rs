//! Line editing for the serial shell: printable input, backspace, Ctrl-U,
//! Ctrl-C, cursor left/right and history up/down (ANSI escape sequences).
//! Pure logic: every key yields what to echo, tested on the host.

use alloc::string::String;
use alloc::vec::Vec;

/// What a key did.
#[derive(Debug, PartialEq, Eq)]
pub enum Edit {
    /// Nothing to do yet (inside an escape sequence).
    None,
    /// Echo these bytes to the terminal.
    Echo(Vec<u8>),
    /// The line is complete.
    Line(String),
    /// Ctrl-C: the line is abandoned.
    Interrupt,
    /// Ctrl-D on an empty line.
    Eof,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Esc {
    No,
    Escape,
    Bracket,
}

/// The line being typed, with the cursor and the history.
#[derive(Debug)]
pub struct LineEditor {
    buf: Vec<u8>,
    cursor: usize,
    esc: Esc,
    history: Vec<String>,
    /// Index into history while browsing (history.len() = the new line).
    browsing: usize,
}

const MAX_LINE: usize = 256;
const MAX_HISTORY: usize = 32;

impl Default for LineEditor {
    fn default() -> Self {
        Self::new()
    }
}

impl LineEditor {
    /// An empty editor with no history.
    pub fn new() -> Self {
        Self {
            buf: Vec::new(),
            cursor: 0,
            esc: Esc::No,
            history: Vec::new(),
            browsing: 0,
        }
    }

    /// Feeds one byte from the terminal.
    pub fn feed(&mut self, b: u8) -> Edit {
        match (self.esc, b) {
            (Esc::Escape, b'[') => {
                self.esc = Esc::Bracket;
                Edit::None
            }
            (Esc::Escape, _) => {
                self.esc = Esc::No;
                Edit::None
            }
            (Esc::Bracket, b'A') => self.recall(-1),
            (Esc::Bracket, b'B') => self.recall(1),
            (Esc::Bracket, b'C') => {
                self.esc = Esc::No;
                if self.cursor < self.buf.len() {
                    self.cursor += 1;
                    return Edit::Echo(b"\x1b[C".to_vec());
                }
                Edit::None
            }
            (Esc::Bracket, b'D') => {
                self.esc = Esc::No;
                if self.cursor > 0 {
                    self.cursor -= 1;
                    return Edit::Echo(b"\x1b[D".to_vec());
                }
                Edit::None
            }
            (Esc::Bracket, _) => {
                self.esc = Esc::No;
                Edit::None
            }
            (Esc::No, 0x1b) => {
                self.esc = Esc::Escape;
                Edit::None
            }
            (Esc::No, b'\r' | b'\n') => {
                let line = String::from_utf8_lossy(&self.buf).into_owned();
                self.buf.clear();
                self.cursor = 0;
                if !line.trim().is_empty() && self.history.last() != Some(&line) {
                    if self.history.len() == MAX_HISTORY {
                        self.history.remove(0);
                    }
                    self.history.push(line.clone());
                }
                self.browsing = self.history.len();
                Edit::Line(line)
            }
            (Esc::No, 0x7f | 0x08) => {
                if self.cursor == 0 {
                    return Edit::None;
                }
                self.cursor -= 1;
                self.buf.remove(self.cursor);
                let mut echo = b"\x08".to_vec();
                echo.extend_from_slice(&self.buf[self.cursor..]);
                echo.push(b' ');
                echo.extend(core::iter::repeat_n(0x08, self.buf.len() - self.cursor + 1));
                Edit::Echo(echo)
            }
            (Esc::No, 0x03) => {
                self.buf.clear();
                self.cursor = 0;
                Edit::Interrupt
            }
            (Esc::No, 0x04) if self.buf.is_empty() => Edit::Eof,
            (Esc::No, 0x15) => Edit::Echo(self.replace_line(Vec::new())),
            (Esc::No, 0x20..=0x7e) if self.buf.len() < MAX_LINE => {
                self.buf.insert(self.cursor, b);
                self.cursor += 1;
                let mut echo = self.buf[self.cursor - 1..].to_vec();
                echo.extend(core::iter::repeat_n(0x08, self.buf.len() - self.cursor));
                Edit::Echo(echo)
            }
            _ => Edit::None,
        }
    }

    /// Moves through the history by `step` and shows that entry.
    fn recall(&mut self, step: isize) -> Edit {
        self.esc = Esc::No;
        let target = self.browsing as isize + step;
        if target < 0 || target > self.history.len() as isize {
            return Edit::None;
        }
        self.browsing = target as usize;
        let line = self
            .history
            .get(self.browsing)
            .map(|s| s.as_bytes().to_vec())
            .unwrap_or_default();
        Edit::Echo(self.replace_line(line))
    }

    /// Erases the shown line and shows `line` instead, cursor at its end.
    fn replace_line(&mut self, line: Vec<u8>) -> Vec<u8> {
        let mut echo = Vec::new();
        echo.extend(core::iter::repeat_n(0x08, self.cursor));
        echo.extend(core::iter::repeat_n(b' ', self.buf.len()));
        echo.extend(core::iter::repeat_n(0x08, self.buf.len()));
        echo.extend_from_slice(&line);
        self.cursor = line.len();
        self.buf = line;
        echo
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn type_str(ed: &mut LineEditor, s: &[u8]) -> Vec<Edit> {
        s.iter().map(|&b| ed.feed(b)).collect()
    }

    fn line(ed: &mut LineEditor, s: &[u8]) -> String {
        match type_str(ed, s).pop() {
            Some(Edit::Line(l)) => l,
            other => panic!("no line: {other:?}"),
        }
    }

    #[test]
    fn typing_echoes_and_enter_completes() {
        let mut ed = LineEditor::new();
        assert_eq!(ed.feed(b'l'), Edit::Echo(b"l".to_vec()));
        assert_eq!(line(&mut ed, b"s\r"), "ls");
    }

    #[test]
    fn backspace_edits_in_the_middle() {
        let mut ed = LineEditor::new();
        type_str(&mut ed, b"abcd");
        type_str(&mut ed, b"\x1b[D\x1b[D"); // cursor before 'c'
        assert_eq!(ed.feed(0x7f), Edit::Echo(b"\x08cd \x08\x08\x08".to_vec()));
        assert_eq!(line(&mut ed, b"X\r"), "aXcd");
    }

    #[test]
    fn history_up_and_down() {
        let mut ed = LineEditor::new();
        line(&mut ed, b"first\r");
        line(&mut ed, b"second\r");
        type_str(&mut ed, b"\x1b[A\x1b[A\x1b[B");
        assert_eq!(line(&mut ed, b"\n"), "second");
        type_str(&mut ed, b"\x1b[A\x1b[A");
        assert_eq!(line(&mut ed, b"\r"), "first");
        // Re-entering a command appends it, as shells do.
        type_str(&mut ed, b"\x1b[A");
        assert_eq!(line(&mut ed, b"\r"), "first");
        // Down past the newest entry does nothing.
        assert_eq!(type_str(&mut ed, b"\x1b[B").pop(), Some(Edit::None));
    }

    #[test]
    fn ctrl_c_abandons_ctrl_d_ends_only_on_empty_line() {
        let mut ed = LineEditor::new();
        type_str(&mut ed, b"junk");
        assert_eq!(ed.feed(0x04), Edit::None);
        assert_eq!(ed.feed(0x03), Edit::Interrupt);
        assert_eq!(ed.feed(0x04), Edit::Eof);
        assert_eq!(line(&mut ed, b"ok\r"), "ok");
    }

    #[test]
    fn overlong_lines_are_capped() {
        let mut ed = LineEditor::new();
        for _ in 0..MAX_LINE + 10 {
            ed.feed(b'x');
        }
        assert_eq!(line(&mut ed, b"\r").len(), MAX_LINE);
    }
}
