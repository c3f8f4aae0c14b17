//! The console terminal: the one tty, over the serial port.
//!
//! Received bytes flow: UART interrupt → `drivers::serial`'s receive
//! queue → the tty's input task ([`run_input`], the queue's one reader) →
//! [`Tty::input`], which feeds the pure line discipline
//! ([`super::ldisc::LineDiscipline`]) under the tty's lock, writes the
//! echo, raises signals for the foreground process group and wakes
//! readers. Readers ([`Tty::read`]) wait on an [`Event`] with
//! `wait_until(readable)`, so no wake-up is lost. Output
//! ([`Tty::write`]) goes straight to the serial port.
//!
//! `/dev/console` and `/dev/tty` open this tty; the kernel shell (command
//! line word `kshell`) reads it too, in raw mode. The foreground process
//! group is set by `TIOCSPGRP`; Ctrl-C (with `ISIG`) sends it `SIGINT`
//! through [`signal_foreground`] (`proc::signal::kill_pgrp`).

use alloc::vec::Vec;
use core::sync::atomic::{AtomicI32, Ordering};

use super::ldisc::{LineDiscipline, Termios};
use crate::task::Event;
use abi::Errno;

/// Rows and columns `TIOCGWINSZ` reports (a serial line has no size).
pub const WINSIZE: (u16, u16) = (24, 80);

/// A terminal (module docs).
pub struct Tty {
    ldisc: spin::Mutex<LineDiscipline>,
    /// Notified when input becomes readable.
    readable: Event,
    /// The foreground process group (0: none yet).
    foreground: AtomicI32,
}

static CONSOLE: spin::Lazy<Tty> = spin::Lazy::new(|| Tty {
    ldisc: spin::Mutex::new(LineDiscipline::new(Termios::sane())),
    readable: Event::new(),
    foreground: AtomicI32::new(0),
});

/// The console tty.
pub fn console() -> &'static Tty {
    &CONSOLE
}

/// Most bytes written to the serial port per lock hold.
const OUTPUT_CHUNK: usize = 256;

impl Tty {
    /// Processes one received byte (module docs).
    pub fn input(&self, byte: u8) {
        let effects = self.ldisc.lock().feed(byte);
        if !effects.echo.is_empty() {
            self.write(&effects.echo);
        }
        if let Some(sig) = effects.signal {
            signal_foreground(self.foreground(), sig);
        }
        if effects.readable {
            self.readable.notify_all();
        }
    }

    /// Reads input as the line discipline hands it out: waits until some
    /// is there (unless `nonblock`: `EAGAIN`); 0 at an end of file.
    pub async fn read(&self, out: &mut [u8], nonblock: bool) -> Result<usize, Errno> {
        loop {
            if let Some(n) = self.ldisc.lock().read(out) {
                return Ok(n);
            }
            if nonblock {
                return Err(Errno::EAGAIN);
            }
            self.readable
                .wait_until(|| self.ldisc.lock().readable())
                .await;
        }
    }

    /// Writes `bytes` to the terminal (NL goes out as CR NL).
    pub fn write(&self, bytes: &[u8]) {
        for chunk in bytes.chunks(OUTPUT_CHUNK) {
            drivers::serial::write_line(chunk);
        }
    }

    /// Whether a read would not wait.
    pub fn read_ready(&self) -> bool {
        self.ldisc.lock().readable()
    }

    /// Notified when input becomes readable: what `poll` waits on.
    pub fn readable_event(&self) -> &Event {
        &self.readable
    }

    /// Input bytes waiting (`FIONREAD`).
    pub fn available(&self) -> usize {
        self.ldisc.lock().available()
    }

    /// `TCGETS`.
    pub fn termios(&self) -> Termios {
        self.ldisc.lock().termios()
    }

    /// `TCSETS` (`flush`: `TCSETSF`). Output is never queued, so `TCSETSW`
    /// is `TCSETS`.
    pub fn set_termios(&self, termios: Termios, flush: bool) {
        self.ldisc.lock().set_termios(termios, flush);
        // Leaving canonical mode can make the edited line readable.
        self.readable.notify_all();
    }

    /// The foreground process group (`TIOCGPGRP`).
    pub fn foreground(&self) -> i32 {
        // Relaxed: a plain value.
        self.foreground.load(Ordering::Relaxed)
    }

    /// Sets the foreground process group (`TIOCSPGRP`).
    pub fn set_foreground(&self, pgid: i32) {
        self.foreground.store(pgid, Ordering::Relaxed);
    }

    /// Puts the tty in raw mode (no `ICANON`, `ECHO`, `ISIG`): what the
    /// kernel shell, which edits its own lines, wants.
    pub fn set_raw(&self) {
        let mut t = self.termios();
        t.lflag &= !(super::ldisc::ICANON | super::ldisc::ECHO | super::ldisc::ISIG);
        self.set_termios(t, false);
    }

    /// Discards pending input (tests).
    pub fn flush_input(&self) {
        self.ldisc.lock().flush();
    }
}

/// The tty's input task: moves every byte the serial port receives into
/// the console tty. Spawned once at boot; ends at once (with an error
/// logged) if something else already reads the serial input.
pub async fn run_input() {
    let Some(mut input) = drivers::serial::input() else {
        log::error!("tty: the serial input is already taken");
        return;
    };
    loop {
        let byte = input.read_byte().await;
        console().input(byte);
        // Drain what else arrived without another wake-up.
        let mut burst: Vec<u8> = Vec::new();
        while let Some(b) = input.try_read_byte() {
            burst.push(b);
        }
        for b in burst {
            console().input(b);
        }
    }
}

/// Sends `sig` to the process group `pgid` (the line discipline's
/// `SIGINT`, `SIGQUIT`, `SIGTSTP`) through `proc::signal::kill_pgrp`.
/// With no foreground group (0), or an empty one, the signal goes nowhere.
pub fn signal_foreground(pgid: i32, sig: i32) {
    use crate::proc::{pid::Pid, signal};
    let (Some(group), Some(sig)) = (
        u32::try_from(pgid).ok().and_then(Pid::new),
        u32::try_from(sig).ok().and_then(signal::Signal::new),
    ) else {
        log::debug!("tty: signal {sig}: no foreground process group");
        return;
    };
    if signal::kill_pgrp(group, sig).is_err() {
        log::debug!("tty: signal {sig:?}: process group {pgid} is empty");
    }
}
