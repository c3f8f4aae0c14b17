//! Exception reports: any CPU exception (for now every one is unexpected)
//! prints a report on the emergency console and ends the QEMU session with
//! [`ExitCode::Exception`] (host status 39). Never a silent hang.
//!
//! Robustness: the first CPU to fail owns the report; any other CPU that
//! faults (or takes an NMI) meanwhile halts quietly. A fault *during* the
//! report on the reporting CPU prints one short line and exits at once, so
//! a broken report cannot loop.

use core::fmt::Write;
use core::sync::atomic::{AtomicUsize, Ordering};

use super::frame::TrapFrame;
use super::vector;
use crate::ExitCode;
use crate::cpu::{self, console::emergency};

/// `cpu index + 1` of the CPU that is reporting; 0 while nobody is.
static REPORTER: AtomicUsize = AtomicUsize::new(0);

/// Claims the report for this CPU, or stops: halts if another CPU owns it,
/// exits at once if this CPU faulted inside its own report.
fn claim_report(frame: &TrapFrame) {
    let me = cpu::id() + 1;
    // AcqRel: exactly one CPU wins; the losers see it.
    match REPORTER.compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => {}
        Err(owner) if owner == me => {
            emergency(format_args!(
                "\nKERNEL EXCEPTION during the exception report: vector {} at RIP={:#018x}\n",
                frame.vector, frame.rip
            ));
            cpu::exit_qemu(ExitCode::Exception);
        }
        Err(_) => cpu::halt_forever(),
    }
}

/// Reports the exception in `frame` and ends the session.
pub(super) fn report(frame: &TrapFrame) -> ! {
    claim_report(frame);
    let v = frame.vector as u8;
    let (name, mnemonic) = vector::name(v);
    let cr2 = x86_64::registers::control::Cr2::read_raw();
    let mode = if frame.from_user() { "user" } else { "kernel" };
    let mut text = ReportBuf::new();
    let _ = write!(
        text,
        "\nKERNEL EXCEPTION on cpu{}: {name} ({mnemonic}, {v}) in {mode} mode\n\
         error code={:#x}{}\n\
         RIP={:#018x} CS={:#06x} RFLAGS={:#018x}\n\
         RSP={:#018x} SS={:#06x} CR2={:#018x}\n",
        cpu::id(),
        frame.error_code,
        error_detail(v, frame.error_code),
        frame.rip,
        frame.cs,
        frame.rflags,
        frame.rsp,
        frame.ss,
        cr2,
    );
    for (i, (reg, value)) in frame.gprs().iter().enumerate() {
        let sep = if i % 4 == 3 || i == 14 { "\n" } else { " " };
        let _ = write!(text, "{reg:>3}={value:#018x}{sep}");
    }
    emergency(format_args!("{}", text.as_str()));
    cpu::backtrace::print_from(frame.rbp);
    cpu::exit_qemu(ExitCode::Exception)
}

/// The NMI handler: no NMIs are sent on purpose yet, so one is reported
/// like an exception, unless another CPU is already reporting (it may
/// have stopped the others with an NMI), in which case this CPU halts.
pub(super) fn nmi(frame: &TrapFrame) {
    if REPORTER.load(Ordering::Acquire) != 0 {
        cpu::halt_forever();
    }
    report(frame)
}

/// Decodes the error code of a page fault or a selector error.
fn error_detail(v: u8, code: u64) -> DetailText {
    let mut d = DetailText::new();
    if v == vector::PAGE_FAULT {
        let _ = write!(
            d,
            " ({} {} in {} mode{}{})",
            if code & 1 != 0 {
                "protection violation on"
            } else {
                "not-present page on"
            },
            if code & 0x10 != 0 {
                "instruction fetch"
            } else if code & 2 != 0 {
                "write"
            } else {
                "read"
            },
            if code & 4 != 0 { "user" } else { "supervisor" },
            if code & 8 != 0 {
                ", reserved bit set"
            } else {
                ""
            },
            if code & 0x20 != 0 {
                ", protection key"
            } else {
                ""
            },
        );
    } else if vector::has_error_code(v) && v != vector::DOUBLE_FAULT && code != 0 {
        let table = match (code >> 1) & 3 {
            0 => "GDT",
            2 => "LDT",
            _ => "IDT",
        };
        let _ = write!(
            d,
            " (selector index {:#x} in the {table}{})",
            code >> 3,
            if code & 1 != 0 { ", external" } else { "" }
        );
    }
    d
}

/// A fixed buffer text is formatted into, so the report goes out in one
/// piece without allocating (the heap may be what failed). Text past the
/// end is dropped.
struct FixedBuf<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

type ReportBuf = FixedBuf<1024>;
type DetailText = FixedBuf<96>;

impl<const N: usize> FixedBuf<N> {
    fn new() -> Self {
        Self {
            bytes: [0; N],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        // Only ASCII is written, so any cut is on a character boundary.
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("(not UTF-8)")
    }
}

impl<const N: usize> Write for FixedBuf<N> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(N - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

impl<const N: usize> core::fmt::Display for FixedBuf<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}
