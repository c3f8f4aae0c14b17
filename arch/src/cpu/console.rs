//! The emergency console: polled writes to COM1, used by the panic
//! handler and exception reports, which must print even when the UART
//! driver's lock is held by the CPU that failed.

use core::fmt::{self, Write};
use x86_64::instructions::port::Port;

const COM1: u16 = 0x3f8;

struct Com1;

impl Write for Com1 {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                put(b'\r');
            }
            put(b);
        }
        Ok(())
    }
}

fn put(b: u8) {
    // SAFETY: COM1's line-status and data registers; on the failure path
    // the emergency console takes the UART over from its driver by design,
    // and a stray byte is the worst outcome.
    unsafe {
        let mut lsr = Port::<u8>::new(COM1 + 5);
        for _ in 0..100_000 {
            if lsr.read() & 0x20 != 0 {
                break;
            }
        }
        Port::<u8>::new(COM1).write(b);
    }
}

/// Writes formatted text straight to COM1.
pub fn emergency(args: fmt::Arguments<'_>) {
    let _ = Com1.write_fmt(args);
}
