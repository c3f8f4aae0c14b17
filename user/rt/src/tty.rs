//! The terminal: Linux's `struct termios` through `TCGETS`/`TCSETS`, and
//! the foreground process group through `TIOCGPGRP`/`TIOCSPGRP`.

use crate::syscall::{self, Errno};

/// `TCGETS`.
pub const TCGETS: usize = 0x5401;
/// `TCSETS`.
pub const TCSETS: usize = 0x5402;
/// `TIOCGPGRP`.
pub const TIOCGPGRP: usize = 0x540f;
/// `TIOCSPGRP`.
pub const TIOCSPGRP: usize = 0x5410;

/// `c_lflag`: signals from INTR/QUIT/SUSP characters.
pub const ISIG: u32 = 0o1;
/// `c_lflag`: canonical (line-at-a-time) input.
pub const ICANON: u32 = 0o2;
/// `c_lflag`: echo input.
pub const ECHO: u32 = 0o10;
/// `c_cc` index of VTIME.
pub const VTIME: usize = 5;
/// `c_cc` index of VMIN.
pub const VMIN: usize = 6;

/// The kernel's `struct termios` (36 bytes on x86-64).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Termios {
    pub iflag: u32,
    pub oflag: u32,
    pub cflag: u32,
    pub lflag: u32,
    pub line: u8,
    pub cc: [u8; 19],
}

/// `ioctl(fd, TCGETS)`.
pub fn tcgetattr(fd: i32) -> Result<Termios, Errno> {
    let mut t = Termios::default();
    // SAFETY: TCGETS writes one `struct termios` to the pointer.
    unsafe { syscall::ioctl(fd, TCGETS, &mut t as *mut Termios as usize) }?;
    Ok(t)
}

/// `ioctl(fd, TCSETS, t)`.
pub fn tcsetattr(fd: i32, t: &Termios) -> Result<(), Errno> {
    // SAFETY: TCSETS reads one `struct termios` from the pointer.
    unsafe { syscall::ioctl(fd, TCSETS, t as *const Termios as usize) }.map(|_| ())
}

/// `ioctl(fd, TIOCGPGRP)`: the terminal's foreground process group.
pub fn tcgetpgrp(fd: i32) -> Result<i32, Errno> {
    let mut pgrp: i32 = 0;
    // SAFETY: TIOCGPGRP writes one i32 to the pointer.
    unsafe { syscall::ioctl(fd, TIOCGPGRP, &mut pgrp as *mut i32 as usize) }?;
    Ok(pgrp)
}

/// `ioctl(fd, TIOCSPGRP, &pgrp)`: makes `pgrp` the foreground group.
pub fn tcsetpgrp(fd: i32, pgrp: i32) -> Result<(), Errno> {
    // SAFETY: TIOCSPGRP reads one i32 from the pointer.
    unsafe { syscall::ioctl(fd, TIOCSPGRP, &pgrp as *const i32 as usize) }.map(|_| ())
}
