//! User threads: a thread is a future that runs its user code in a loop.
//!
//! [`run`] is the whole life of a thread: it enters ring 3 with
//! `arch::user::run` (a synchronous call on the executor's per-CPU stack)
//! and handles whatever brought the CPU back:
//!
//! | trap | what happens |
//! |---|---|
//! | `Syscall` | `syscall::dispatch(..).await`; the result goes to `rax` |
//! | `PageFault` | `AddressSpace::fault`; a refused fault kills the process with `SIGSEGV` (`SIGKILL` when out of memory) |
//! | `Exception` | the process dies with the signal Linux would send (`SIGILL` for #UD, `SIGFPE` for #DE, `SIGSEGV` for #GP, ...) |
//! | `Interrupt` (timer) | the time slice is over: `yield_now().await` |
//! | `Interrupt` (other) | its handler ran; enter ring 3 again |
//!
//! Time slices: [`SLICE_NS`] of user time, measured from the slice's start;
//! the LAPIC timer is armed for the slice's end before every entry (the
//! executor may have re-armed it for its own deadline while the thread
//! awaited), and when the slice is over the thread yields to the other
//! tasks of its CPU. Kernel code is never preempted.
//!
//! Between two `run` calls a thread is its `UserContext` plus this
//! future's state: no kernel stack. When the loop ends, the thread drops
//! its reference to the address space and calls `Process::exit`.

use alloc::sync::Arc;
use arch::irq::vector;
use arch::user::{Trap, UserContext};

use super::process::{Process, signal, signal_for_exception, signal_status};
use crate::syscall::{Action, Errno, dispatch};
use crate::vm::space::AddressSpace;

/// A user time slice.
pub const SLICE_NS: u64 = 10_000_000;

/// Runs the (only) thread of `process` from `ctx` until the process exits;
/// `space` is the process's address space.
pub async fn run(process: Arc<Process>, space: Arc<AddressSpace>, mut ctx: UserContext) {
    let mut slice_end = 0;
    let status = loop {
        let now = arch::cpu::tsc::now_ns();
        if now >= slice_end {
            if slice_end != 0 {
                crate::task::yield_now().await;
            }
            slice_end = arch::cpu::tsc::now_ns() + SLICE_NS;
        }
        arch::irq::timer::arm_deadline_ns(slice_end);
        match arch::user::run(&mut ctx, &space.table) {
            Trap::Syscall => match dispatch(&process, &space, &mut ctx).await {
                Action::Return(rax) => ctx.rax = rax,
                Action::Exit(status) => break status,
            },
            Trap::PageFault { addr, error_code } => {
                if let Err(e) = space.fault(addr, error_code) {
                    let sig = if e == Errno::ENOMEM {
                        signal::SIGKILL
                    } else {
                        signal::SIGSEGV
                    };
                    log::info!(
                        "{}[{}]: page fault at {addr:#x} (error {error_code:#x}) rip {:#x}: signal {sig}",
                        process.name(),
                        process.pid(),
                        ctx.rip
                    );
                    break signal_status(sig);
                }
            }
            Trap::Exception { vector, error_code } => {
                let sig = signal_for_exception(vector);
                log::info!(
                    "{}[{}]: exception {vector} (error {error_code:#x}) rip {:#x}: signal {sig}",
                    process.name(),
                    process.pid(),
                    ctx.rip
                );
                break signal_status(sig);
            }
            Trap::Interrupt {
                vector: vector::TIMER,
            } => {
                // The slice end (checked at the top) decides: a timer armed
                // by someone else may fire early.
            }
            Trap::Interrupt { .. } => {}
        }
    };
    drop(space);
    process.exit(status);
}
