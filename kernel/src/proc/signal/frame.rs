//! The signal frame: Linux x86-64's `struct rt_sigframe`, built on the
//! user stack before a handler runs and read back by `rt_sigreturn`.
//!
//! ```text
//! higher addresses    the interrupted stack (rsp)
//!                     128-byte red zone, skipped (or the top of the
//!                     alternate stack)
//!   fpstate           512-byte FXSAVE image, 64-aligned
//!   rt_sigframe       440 bytes, placed so that frame + 8 is 16-aligned:
//!     +0   pretcode   sa_restorer: the handler's return address
//!     +8   uc         ucontext: uc_flags, uc_link, uc_stack (24),
//!                     uc_mcontext (struct sigcontext, 256) at +48,
//!                     uc_sigmask (8) at +304
//!     +312 info       siginfo_t (128)
//! lower addresses     rsp at handler entry = frame, so (rsp + 8) % 16 == 0
//! ```
//!
//! `struct sigcontext` (offsets from `uc_mcontext`): r8..r15 at 0..64,
//! rdi 64, rsi 72, rbp 80, rbx 88, rdx 96, rax 104, rcx 112, rsp 120,
//! rip 128, eflags 136, cs/gs/fs/ss (u16 each) at 144, err 152, trapno
//! 160, oldmask 168, cr2 176, fpstate pointer 184, 8 reserved words.
//!
//! What comes back from user memory is untrusted ([`restore`]): the
//! segment selectors are ignored (Tine's context has none: ring 3 always
//! runs with `USER_CS`/`USER_SS`), `eflags` keeps the user-modifiable
//! flags only (Linux's `FIX_EFLAGS`; NT and ID stay as they are at the
//! call; no IOPL, no IF/VM games: `arch::user::sanitize_rflags`),
//! the mask loses `SIGKILL`/`SIGSTOP`; an `rip` or `rsp` outside user space
//! is refused by `arch::user::run` (the process gets `SIGSEGV`), and the
//! MXCSR of the FPU image is masked to the CPU's valid bits there too.

use arch::user::UserContext;

use super::{SigInfo, SigSet};

/// `sizeof(struct rt_sigframe)`.
pub const FRAME_SIZE: usize = 440;
/// Offset of `uc` (the `ucontext`).
pub const UC: usize = 8;
/// Offset of `uc.uc_flags`.
pub const UC_FLAGS: usize = UC;
/// Offset of `uc.uc_link`.
pub const UC_LINK: usize = UC + 8;
/// Offset of `uc.uc_stack` (`stack_t`).
pub const UC_STACK: usize = UC + 16;
/// Offset of `uc.uc_mcontext` (`struct sigcontext`).
pub const MCONTEXT: usize = UC + 40;
/// Offset of `uc.uc_sigmask`.
pub const UC_SIGMASK: usize = UC + 296;
/// Offset of `info`.
pub const INFO: usize = UC + 304;
/// The size of the FXSAVE image that follows.
pub const FPSTATE_SIZE: usize = 512;
/// The red zone below `rsp` the frame must not touch.
pub const RED_ZONE: u64 = 128;

/// `struct sigcontext` offsets, relative to [`MCONTEXT`].
pub mod sc {
    pub const R8: usize = 0;
    pub const R9: usize = 8;
    pub const R10: usize = 16;
    pub const R11: usize = 24;
    pub const R12: usize = 32;
    pub const R13: usize = 40;
    pub const R14: usize = 48;
    pub const R15: usize = 56;
    pub const RDI: usize = 64;
    pub const RSI: usize = 72;
    pub const RBP: usize = 80;
    pub const RBX: usize = 88;
    pub const RDX: usize = 96;
    pub const RAX: usize = 104;
    pub const RCX: usize = 112;
    pub const RSP: usize = 120;
    pub const RIP: usize = 128;
    pub const EFLAGS: usize = 136;
    pub const CS: usize = 144;
    pub const GS: usize = 146;
    pub const FS: usize = 148;
    pub const SS: usize = 150;
    pub const ERR: usize = 152;
    pub const TRAPNO: usize = 160;
    pub const OLDMASK: usize = 168;
    pub const CR2: usize = 176;
    pub const FPSTATE: usize = 184;
    /// `sizeof(struct sigcontext)`.
    pub const SIZE: usize = 256;
}

/// `uc_flags`: the saved `ss` is meaningful and is restored strictly
/// (`UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS`, as Linux sets them).
pub const UC_FLAGS_VALUE: u64 = 0x2 | 0x4;

/// The general registers in `sigcontext` order, with their offsets.
fn gregs(ctx: &mut UserContext) -> [(usize, &mut u64); 17] {
    [
        (sc::R8, &mut ctx.r8),
        (sc::R9, &mut ctx.r9),
        (sc::R10, &mut ctx.r10),
        (sc::R11, &mut ctx.r11),
        (sc::R12, &mut ctx.r12),
        (sc::R13, &mut ctx.r13),
        (sc::R14, &mut ctx.r14),
        (sc::R15, &mut ctx.r15),
        (sc::RDI, &mut ctx.rdi),
        (sc::RSI, &mut ctx.rsi),
        (sc::RBP, &mut ctx.rbp),
        (sc::RBX, &mut ctx.rbx),
        (sc::RDX, &mut ctx.rdx),
        (sc::RAX, &mut ctx.rax),
        (sc::RCX, &mut ctx.rcx),
        (sc::RSP, &mut ctx.rsp),
        (sc::RIP, &mut ctx.rip),
    ]
}

fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn get64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Where a frame goes for a thread whose stack pointer is `sp` (already
/// the alternate stack's top when the handler runs there; the red zone is
/// skipped otherwise): `(frame, fpstate)` addresses. `None` when the
/// arithmetic would leave user space below 0.
pub fn layout(sp: u64, on_altstack_top: bool) -> Option<(u64, u64)> {
    let sp = if on_altstack_top {
        sp
    } else {
        sp.checked_sub(RED_ZONE)?
    };
    let fpstate = sp.checked_sub(FPSTATE_SIZE as u64)? & !63;
    let frame = (fpstate.checked_sub(FRAME_SIZE as u64)? & !15).checked_sub(8)?;
    Some((frame, fpstate))
}

/// What the CPU said about the trap that raised the signal (zeros for
/// signals that did not come from a trap). The vector and the error code
/// (32 bits wide on x86-64, zero-extended on the stack) are kept narrow:
/// 16 bytes, not 24, in every thread's and process's signal queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrapRegs {
    pub trapno: u8,
    pub err: u32,
    pub cr2: u64,
}

/// Everything that goes into a frame besides the registers.
#[derive(Clone, Copy, Debug)]
pub struct FrameArgs<'a> {
    /// `sa_restorer`.
    pub restorer: u64,
    /// The signal's siginfo.
    pub info: &'a SigInfo,
    /// The mask to restore at `rt_sigreturn` (`uc_sigmask`).
    pub old_mask: SigSet,
    /// `uc_stack` (the alternate stack as `sigaltstack` would report it).
    pub uc_stack: [u8; 24],
    /// Where the FPU image goes (the `fpstate` pointer).
    pub fpstate: u64,
    /// `err`, `trapno`, `cr2`.
    pub trap: TrapRegs,
}

/// The bytes of an `rt_sigframe` for the thread state `ctx`.
pub fn build(ctx: &UserContext, args: &FrameArgs<'_>) -> [u8; FRAME_SIZE] {
    let mut b = [0u8; FRAME_SIZE];
    put64(&mut b, 0, args.restorer);
    put64(&mut b, UC_FLAGS, UC_FLAGS_VALUE);
    put64(&mut b, UC_LINK, 0);
    b[UC_STACK..UC_STACK + 24].copy_from_slice(&args.uc_stack);
    let mut regs = ctx.clone();
    for (off, v) in gregs(&mut regs) {
        put64(&mut b, MCONTEXT + off, *v);
    }
    put64(&mut b, MCONTEXT + sc::EFLAGS, ctx.rflags);
    put16(&mut b, MCONTEXT + sc::CS, arch::cpu::gdt::USER_CS);
    put16(&mut b, MCONTEXT + sc::SS, arch::cpu::gdt::USER_SS);
    put64(&mut b, MCONTEXT + sc::ERR, u64::from(args.trap.err));
    put64(&mut b, MCONTEXT + sc::TRAPNO, u64::from(args.trap.trapno));
    put64(&mut b, MCONTEXT + sc::OLDMASK, args.old_mask.0);
    put64(&mut b, MCONTEXT + sc::CR2, args.trap.cr2);
    put64(&mut b, MCONTEXT + sc::FPSTATE, args.fpstate);
    put64(&mut b, UC_SIGMASK, args.old_mask.0);
    b[INFO..INFO + SigInfo::SIZE].copy_from_slice(&args.info.to_bytes());
    b
}

/// The FXSAVE image as it goes to user memory: the "available" bytes
/// 464..512 cleared (Linux keeps its software-reserved `fpx_sw_bytes`
/// there; without XSAVE nothing is announced).
pub fn fpstate_bytes(ctx: &UserContext) -> [u8; FPSTATE_SIZE] {
    let mut b = ctx.fpu().0;
    b[464..].fill(0);
    b
}

/// Points the thread at handler `handler` for signal `signo` with the
/// frame at `frame` (Linux's `setup_rt_frame` register set-up): `rdi` =
/// signal, `rsi` = &info, `rdx` = &uc, `rax` = 0, `rsp` = frame (the
/// return address on top), DF and TF cleared.
pub fn enter_handler(ctx: &mut UserContext, handler: u64, signo: u8, frame: u64) {
    ctx.rdi = u64::from(signo);
    ctx.rsi = frame + INFO as u64;
    ctx.rdx = frame + UC as u64;
    ctx.rax = 0;
    ctx.rsp = frame;
    ctx.rip = handler;
    // DF (0x400) and TF (0x100): the handler starts with a clean ABI state.
    ctx.rflags &= !(0x400 | 0x100);
}

/// The flags `rt_sigreturn` takes from the frame: CF PF AF ZF SF TF DF OF
/// AC RF (Linux's x86-64 `FIX_EFLAGS`; RF is then dropped, see
/// `arch::user::sanitize_rflags`).
const FIX_EFLAGS: u64 = 0x5_0dd5;

/// What `rt_sigreturn` found in a frame besides the registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Restored {
    /// The mask to restore (without `SIGKILL`/`SIGSTOP`).
    pub mask: SigSet,
    /// The `fpstate` pointer (0: reset the FPU state).
    pub fpstate: u64,
    /// `uc_stack`.
    pub uc_stack: [u8; 24],
}

/// Restores the registers of `ctx` from the frame bytes `b` (read from
/// the user stack at `rsp - 8`), sanitised (module docs); FS and GS bases
/// and the FPU state are left for the caller.
pub fn restore(ctx: &mut UserContext, b: &[u8; FRAME_SIZE]) -> Restored {
    let current = ctx.rflags;
    for (off, v) in gregs(ctx) {
        *v = get64(b, MCONTEXT + off);
    }
    // The arithmetic flags, TF, DF and AC come from the frame; the others
    // (NT, ID) stay as they were at the `rt_sigreturn` call, which keeps
    // those of the interrupted code, since delivery changed only TF and
    // DF (Linux's `restore_sigcontext` with `FIX_EFLAGS`).
    let from_frame = get64(b, MCONTEXT + sc::EFLAGS) & FIX_EFLAGS;
    ctx.rflags = arch::user::sanitize_rflags((current & !FIX_EFLAGS) | from_frame);
    let mut uc_stack = [0u8; 24];
    uc_stack.copy_from_slice(&b[UC_STACK..UC_STACK + 24]);
    Restored {
        mask: SigSet(get64(b, UC_SIGMASK)).blockable(),
        fpstate: get64(b, MCONTEXT + sc::FPSTATE),
        uc_stack,
    }
}
