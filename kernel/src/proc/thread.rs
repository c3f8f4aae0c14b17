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

use super::process::{Process, signal_for_exception, signal_status};
use super::signal::frame::TrapRegs;
use super::signal::{self, Interrupted, SigInfo, code};
use crate::syscall::{Action, dispatch};
use crate::vm::space::AddressSpace;
use abi::Errno;

/// A user time slice.
pub const SLICE_NS: u64 = 10_000_000;

/// Runs the (only) thread of `process` from `ctx` until the process exits;
/// `space` is the process's address space.
pub async fn run(process: Arc<Process>, mut space: Arc<AddressSpace>, mut ctx: UserContext) {
    let mut slice_end = 0;
    // The system call a signal interrupted, if it may run again.
    let mut interrupted = None;
    let status = loop {
        // Signals are taken before every return to user mode.
        if let Some(status) = signal::deliver(&process, &space, &mut ctx, interrupted.take()).await
        {
            break status;
        }
        let now = arch::cpu::tsc::now_ns();
        if now >= slice_end {
            if slice_end != 0 {
                crate::task::yield_now().await;
            }
            slice_end = arch::cpu::tsc::now_ns() + SLICE_NS;
        }
        if process.take_affinity_change() {
            crate::proc::affinity::apply(&process).await;
        }
        arch::irq::timer::arm_deadline_ns(slice_end);
        process.set_last_cpu(arch::cpu::id());
        let entered = arch::cpu::tsc::now_ns();
        let trap = arch::user::run(&mut ctx, &space.table);
        process.account_user_ns(arch::cpu::tsc::now_ns().saturating_sub(entered));
        match trap {
            Trap::Syscall => {
                let nr = ctx.rax;
                match dispatch(&process, &space, &mut ctx).await {
                    Action::Return(rax) => {
                        ctx.rax = rax;
                        interrupted = Interrupted::after(nr, rax);
                    }
                    Action::Exit(status) => break status,
                    // execve: the new program, from its first instruction.
                    Action::Exec(image) => {
                        space = image.space;
                        ctx = UserContext::new(image.entry, image.rsp);
                    }
                    // rfork's fork_norfproc: the process's own copy now.
                    Action::Switch(new, rax) => {
                        space = new;
                        ctx.rax = rax;
                    }
                }
            }
            Trap::PageFault { addr, error_code } => {
                if let Err(e) = space.fault(addr, error_code) {
                    if e == Errno::ENOMEM {
                        log::info!(
                            "{}[{}]: out of memory at {addr:#x}: SIGKILL",
                            process.name(),
                            process.pid()
                        );
                        break signal_status(signal::SIGKILL);
                    }
                    page_fault_signal(&process, &space, &ctx, addr, error_code);
                }
            }
            Trap::Exception { vector, error_code } => {
                exception_signal(&process, &ctx, vector, error_code);
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

/// Raises `SIGSEGV` for a page fault the address space refused:
/// `SEGV_MAPERR` where no mapping covers `addr`, `SEGV_ACCERR` where one
/// forbids the access; `si_addr` = `addr` (CR2).
fn page_fault_signal(
    process: &Process,
    space: &AddressSpace,
    ctx: &UserContext,
    addr: u64,
    error_code: u64,
) {
    let mapped = space.vmas().iter().any(|v| v.contains(addr));
    let si_code = if mapped {
        code::SEGV_ACCERR
    } else {
        code::SEGV_MAPERR
    };
    log::info!(
        "{}[{}]: page fault at {addr:#x} (error {error_code:#x}) rip {:#x}: SIGSEGV",
        process.name(),
        process.pid(),
        ctx.rip
    );
    signal::force(
        process,
        signal::SIGSEGV,
        SigInfo::fault(signal::SIGSEGV, si_code, addr),
        TrapRegs {
            trapno: u64::from(vector::PAGE_FAULT),
            err: error_code,
            cr2: addr,
        },
    );
}

/// Raises the signal Linux raises for CPU exception `vector` in user mode
/// (`signal_for_exception`), `si_addr` = the faulting instruction.
fn exception_signal(process: &Process, ctx: &UserContext, vector: u8, error_code: u64) {
    let sig = signal_for_exception(vector);
    let si_code = match vector {
        0 => code::FPE_INTDIV,
        16 | 19 => code::FPE_FLTINV,
        1 => code::TRAP_TRACE,
        3 => code::TRAP_BRKPT,
        6 => code::ILL_ILLOPN,
        17 => code::BUS_ADRALN,
        // #GP and friends: Linux sends SI_KERNEL with no address.
        _ => code::SI_KERNEL,
    };
    log::info!(
        "{}[{}]: exception {vector} (error {error_code:#x}) rip {:#x}: {sig}",
        process.name(),
        process.pid(),
        ctx.rip
    );
    let addr = if si_code == code::SI_KERNEL {
        0
    } else {
        ctx.rip
    };
    signal::force(
        process,
        sig,
        SigInfo::fault(sig, si_code, addr),
        TrapRegs {
            trapno: u64::from(vector),
            err: error_code,
            cr2: 0,
        },
    );
}
