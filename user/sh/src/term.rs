//! The terminal: how lines are read and who owns the foreground.
//!
//! Three modes, chosen once at start from `TCGETS` on fd 0:
//! - **raw**: `TCGETS` works: the shell clears `ICANON`, `ECHO` and
//!   `ISIG` while the user edits a line (its own [`LineEditor`] echoes,
//!   and ^C is a byte, not a signal) and restores the saved (cooked)
//!   settings before it runs a job;
//! - **cooked**: `TCGETS` is `ENOSYS` (a kernel without termios): the
//!   kernel's line discipline edits; the shell prints its prompt and
//!   reads lines;
//! - **script**: fd 0 is not a terminal (`ENOTTY`, `EINVAL`, ...): lines
//!   are read without prompt or echo.
//!
//! Job control: the shell puts itself in its own process group and makes
//! it the terminal's foreground group ([`Terminal::take_foreground`]);
//! [`Terminal::give_to`] hands the terminal to a job's group and the shell
//! takes it back after the job.

use alloc::string::String;
use alloc::vec::Vec;
use sh::edit::{Event, LineEditor};
use tine_rt::syscall::{self, Errno};
use tine_rt::tty::{self, ECHO, ICANON, ISIG, Termios, VMIN, VTIME};

/// How lines are read (module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Raw(Termios),
    Cooked,
    Script,
}

/// The shell's terminal (fd 0 in, fd 1 out).
pub struct Terminal {
    mode: Mode,
    editor: LineEditor,
    /// Bytes read but not consumed yet (cooked and script modes).
    pending: Vec<u8>,
    /// The shell's process group.
    pgid: i32,
    /// Reading the input failed (not end of input: an error such as
    /// `ENOSYS` or `EBADF`).
    pub input_failed: bool,
}

impl Terminal {
    /// Looks at fd 0 and picks the mode.
    pub fn open() -> Self {
        let mode = match tty::tcgetattr(0) {
            Ok(t) => Mode::Raw(t),
            Err(Errno::ENOSYS) => Mode::Cooked,
            Err(_) => Mode::Script,
        };
        Self {
            mode,
            editor: LineEditor::new(),
            pending: Vec::new(),
            pgid: syscall::getpid(),
            input_failed: false,
        }
    }

    /// Whether a person types here (prompts are printed).
    pub fn is_interactive(&self) -> bool {
        self.mode != Mode::Script
    }

    /// Whether this is a terminal with job control.
    pub fn has_job_control(&self) -> bool {
        matches!(self.mode, Mode::Raw(_))
    }

    /// Puts the shell in a process group of its own and makes it the
    /// terminal's foreground group. Failures (no setpgid, a session leader
    /// on Linux) are fine: the shell then uses the group it has.
    pub fn take_foreground(&mut self) {
        if !self.has_job_control() {
            return;
        }
        let _ = syscall::setpgid(0, 0);
        self.pgid = syscall::getpgid(0).unwrap_or(self.pgid);
        let _ = tty::tcsetpgrp(0, self.pgid);
    }

    /// Makes `pgid` the foreground group (a job starting), with the
    /// cooked settings back.
    pub fn give_to(&self, pgid: i32) {
        if self.has_job_control() {
            let _ = tty::tcsetpgrp(0, pgid);
        }
    }

    /// Takes the terminal back after a job, and restores the cooked
    /// settings the job may have changed.
    pub fn take_back(&self) {
        if let Mode::Raw(cooked) = self.mode {
            let _ = tty::tcsetpgrp(0, self.pgid);
            let _ = tty::tcsetattr(0, &cooked);
        }
    }

    /// Prints `prompt` and reads one line; `None` at end of input.
    pub fn read_line(&mut self, prompt: &str) -> Option<String> {
        match self.mode {
            Mode::Raw(cooked) => {
                let _ = syscall::write_all(1, prompt.as_bytes());
                let mut raw = cooked;
                raw.lflag &= !(ICANON | ECHO | ISIG);
                raw.cc[VMIN] = 1;
                raw.cc[VTIME] = 0;
                let _ = tty::tcsetattr(0, &raw);
                let line = self.edit_line(prompt);
                let _ = tty::tcsetattr(0, &cooked);
                line
            }
            Mode::Cooked => {
                let _ = syscall::write_all(1, prompt.as_bytes());
                self.next_line()
            }
            Mode::Script => self.next_line(),
        }
    }

    /// Feeds keys to the editor until it has a line (^C gives a fresh
    /// prompt, ^D on an empty line or a closed input ends).
    fn edit_line(&mut self, prompt: &str) -> Option<String> {
        let mut buf = [0u8; 64];
        let mut out = Vec::new();
        loop {
            let n = match syscall::read(0, &mut buf) {
                Ok(0) => return None,
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    crate::report("sh: read", e);
                    self.input_failed = true;
                    return None;
                }
            };
            for &b in &buf[..n] {
                out.clear();
                let event = self.editor.feed(b, &mut out);
                let _ = syscall::write_all(1, &out);
                match event {
                    Event::Pending => {}
                    Event::Line(line) => return Some(line),
                    Event::Interrupt => {
                        let _ = syscall::write_all(1, prompt.as_bytes());
                    }
                    Event::Eof => {
                        let _ = syscall::write_all(1, b"\r\n");
                        return None;
                    }
                }
            }
        }
    }

    /// The next `\n`-terminated line of input (the last one may lack it).
    fn next_line(&mut self) -> Option<String> {
        loop {
            if let Some(at) = self.pending.iter().position(|&b| b == b'\n') {
                let rest = self.pending.split_off(at + 1);
                let mut line = core::mem::replace(&mut self.pending, rest);
                line.pop();
                return Some(String::from_utf8_lossy(&line).into_owned());
            }
            let mut buf = [0u8; 256];
            match syscall::read(0, &mut buf) {
                Ok(0) => {
                    if self.pending.is_empty() {
                        return None;
                    }
                    let line = core::mem::take(&mut self.pending);
                    return Some(String::from_utf8_lossy(&line).into_owned());
                }
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(Errno::EINTR) => {}
                Err(e) => {
                    crate::report("sh: read", e);
                    self.input_failed = true;
                    return None;
                }
            }
        }
    }
}
