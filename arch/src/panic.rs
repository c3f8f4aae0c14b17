//! The panic handler: report on the emergency console, then end the QEMU
//! session with [`ExitCode::Panic`] (host status 37). Never a silent hang.
//! The report ends with a frame-pointer backtrace ([`cpu::backtrace`]),
//! which `cargo xtask` symbolises.

use crate::{ExitCode, cpu};
use core::sync::atomic::{AtomicBool, Ordering};

static PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    cpu::irq::disable();
    // A second panic (on another CPU, or while printing) just stops; the
    // first one finishes its report and exits.
    if PANICKING.swap(true, Ordering::AcqRel) {
        cpu::halt_forever();
    }
    cpu::console::emergency(format_args!(
        "\nKERNEL PANIC on cpu{}: {}\n",
        cpu::id(),
        info
    ));
    cpu::backtrace::print_here();
    cpu::exit_qemu(ExitCode::Panic)
}
