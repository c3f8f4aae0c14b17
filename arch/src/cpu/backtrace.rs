//! Frame-pointer backtraces for the panic and exception reports.
//!
//! The kernel is built with frame pointers (`.cargo/config.toml`), so
//! every kernel function's frame starts with the caller's `rbp` and the
//! return address: `[rbp] = caller's rbp`, `[rbp + 8] = return address`.
//! [`print_from`] follows that chain and prints the return addresses on
//! one line, `backtrace: 0x... 0x...`, which `cargo xtask` turns into
//! function names and offsets from the kernel ELF's symbol table
//! (`xtask/src/symbolize.rs`): the kernel itself carries no symbols.
//!
//! Functions of the precompiled `core` and `alloc` may not keep frame
//! pointers; the chain then skips them or stops early, never loops: each
//! frame must be above the previous one on the same stack.

use super::console::emergency;

/// The most return addresses printed.
pub const MAX_FRAMES: usize = 24;

/// The most one frame may be above the previous one: more means the
/// chain left the stack (a kernel stack is far smaller).
const MAX_FRAME_STEP: u64 = 1 << 20;

/// Whether `rbp` may be followed: an aligned kernel-half address.
fn plausible(rbp: u64) -> bool {
    rbp >= crate::mm::PHYS_OFFSET && rbp.is_multiple_of(8) && rbp <= u64::MAX - 16
}

/// Prints the return addresses of the frame chain that starts at `rbp`
/// (see the module docs) on one `backtrace:` line.
pub fn print_from(mut rbp: u64) {
    emergency(format_args!("backtrace:"));
    for _ in 0..MAX_FRAMES {
        if !plausible(rbp) {
            break;
        }
        // SAFETY: rbp is an aligned kernel-half address from the frame
        // chain, checked to rise within one stack; reading it only
        // observes memory. If the chain is corrupted the read may fault,
        // which the exception report handles by ending the session: the
        // report is the last thing the kernel does either way.
        let (next, ret) = unsafe { (*(rbp as *const u64), *((rbp + 8) as *const u64)) };
        if ret == 0 {
            break;
        }
        emergency(format_args!(" {ret:#x}"));
        if next <= rbp || next - rbp > MAX_FRAME_STEP {
            break;
        }
        rbp = next;
    }
    emergency(format_args!("\n"));
}

/// Prints the backtrace of the caller (its own frame first).
#[inline(always)]
pub fn print_here() {
    #[cfg(target_os = "none")]
    {
        let rbp: u64;
        // SAFETY: copies rbp into a register; no memory is touched.
        unsafe {
            core::arch::asm!("mov {}, rbp", out(reg) rbp, options(nomem, nostack, preserves_flags))
        };
        print_from(rbp);
    }
}
