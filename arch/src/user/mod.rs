//! Entering and leaving ring 3.
//!
//! There is no kernel stack per thread: a user thread is a kernel future
//! that calls [`run`] in a loop. `run(ctx, table)` saves the kernel's
//! callee-saved registers on the stack it was called on (the CPU's executor
//! stack), enters ring 3 with the registers in `ctx`, and *returns* when the
//! CPU next leaves ring 3 (a `syscall`, an exception, or an interrupt), with
//! the user registers saved back into `ctx` and the reason as a [`Trap`].
//!
//! - [`UserContext`]: general registers, `rip`/`rsp`/`rflags`, FS and GS
//!   bases, and the FXSAVE area ([`FpuState`]), saved lazily: the user's
//!   x87/SSE registers stay in the CPU across a trap and are saved only
//!   when the thread's poll ends or something reads them ([`FpuSlot`]).
//! - [`Trap`]: `Syscall` (number in `ctx.rax`, arguments in `rdi, rsi, rdx,
//!   r10, r8, r9`), `PageFault`, `Exception`, `Interrupt` (its handler has
//!   run and the EOI was sent).
//!
//! How a trap gets back to `run`'s caller (`docs/user-mode.md` has more):
//! each CPU has an *entry stack* with a `RunRecord` on top; TSS.RSP0 and
//! `gs:16` point at that record. `tine_user_enter` pushes the callee-saved
//! registers and stores the stack pointer in the record, then `sysretq`s or
//! `iretq`s. Every way out of ring 3 lands on the entry stack: the IDT
//! stubs build a `TrapFrame` as for any trap and `save_user_state` copies
//! it (and CR2) into the context the record names; the `syscall` entry
//! stores the registers straight into that context. Then
//! `tine_user_return` reloads the saved stack pointer, pops the callee-saved
//! registers and `ret`s: to the Rust caller, `tine_user_enter` was an
//! ordinary function call. Nothing in between leaves a Rust frame half
//! done: the dispatcher returns normally before the stub jumps.
//!
//! Interrupts are masked from the start of `run` until `sysretq`/`iretq`
//! (whose RFLAGS image has IF set), and again from the trap until `run`
//! restores the caller's state, so the record is used by one `run` at a
//! time on its CPU: no interrupt can arrive in kernel mode while it is
//! live, and an interrupt handler never calls `run`.
//!
//! [`run`] leaves the LAPIC timer alone; [`run_until`] (and
//! [`run_until_with`], which the kernel's thread loop uses with its fast
//! paths, [`Inline`]) arms it
//! for the caller's time-slice deadline
//! (`irq::timer::arm_deadline_within_ns`) with interrupts already masked,
//! right before the entry. `init_this_cpu` is called by
//! `irq::init_bsp`/`irq::init_ap`.

pub mod vdso;

/// The pseudo-vector the `syscall` entry writes into its frame.
pub const SYSCALL_VECTOR: u64 = 0x100;

/// Why [`run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trap {
    /// The program executed `syscall`: number in `rax`, arguments in `rdi,
    /// rsi, rdx, r10, r8, r9`, the result goes in `rax`. `rcx` and `r11`
    /// hold the return `rip` and `rflags`, as the instruction left them.
    Syscall,
    /// A page fault at `addr` (CR2); `error_code` bits: 0 present, 1 write,
    /// 2 user (always set here), 4 instruction fetch.
    PageFault { addr: u64, error_code: u64 },
    /// Any other exception (`vector` < 32: #DE 0, #DB 1, #BP 3, #UD 6, #GP
    /// 13, ...); `error_code` is 0 where the CPU pushes none. An invalid
    /// context (non-canonical or kernel-half `rip`, FS or GS base,
    /// non-canonical `rsp`) is refused without entering ring 3 as
    /// `Exception { vector: 13, error_code: 0 }`.
    Exception { vector: u8, error_code: u64 },
    /// An interrupt arrived in user mode; its handler has run and the EOI
    /// was sent (e.g. `irq::vector::TIMER`: the time slice is over).
    Interrupt { vector: u8 },
    /// The program executed `syscall` and [`Inline::syscall`] ran it (its
    /// result is in `rax`), but said the caller has work before the next
    /// entry ([`Handled::Return`]: a signal may be deliverable).
    SyscallDone,
}

/// What the kernel does inside [`run_until_with`] between two trips to
/// ring 3, without returning: the answers of its fast paths. Every method
/// runs with interrupts masked and must be short; the defaults handle
/// nothing (the trap returns as a [`Trap`]).
pub trait Inline {
    /// A `syscall` with number `nr`, answered while the CPU is still
    /// marked as running the table's user code: `Some(rax)` goes straight
    /// back to ring 3 with `rax`. Only for what takes no lock and touches
    /// no user memory (a shootdown another CPU makes waits for this CPU
    /// to leave user mode, which it cannot while its interrupts are
    /// masked): the caller's own identifiers (`getpid`).
    fn answer(&mut self, nr: u64) -> Option<u64> {
        let _ = nr;
        None
    }

    /// A `syscall` [`Inline::answer`] did not take, after the CPU stopped
    /// being marked as running the table: it may take locks and reach
    /// user memory through the table, may wait for other CPUs (a
    /// shootdown), never for this one. It may change any of `ctx`'s
    /// registers (its result goes in `rax`): the entry after
    /// [`Handled::Resume`] goes through every entry check.
    fn syscall(&mut self, ctx: &mut UserContext) -> Handled {
        let _ = ctx;
        Handled::Pass
    }

    /// A page fault at `addr` (CR2) with `error_code`, after the CPU
    /// stopped being marked as running the table, as in
    /// [`Inline::syscall`]: `true` when it was resolved (the same
    /// instruction again, through the table's entry checks only: it
    /// cannot reach the context, whose flags, FPU state and bases stay as
    /// the last entry left them), `false` returns [`Trap::PageFault`].
    fn fault(&mut self, addr: u64, error_code: u64) -> bool {
        let _ = (addr, error_code);
        false
    }
}

/// Nothing handled inline: [`run`] and [`run_until`].
impl Inline for () {}

/// What [`Inline::syscall`] did with a system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handled {
    /// Nothing: the caller gets [`Trap::Syscall`].
    Pass,
    /// Ran it (result in `rax`): back to ring 3 at once.
    Resume,
    /// Ran it (result in `rax`), but the caller must look before the next
    /// entry: [`Trap::SyscallDone`].
    Return,
}

/// [`Inline`] from two closures: `answer` for [`Inline::answer`],
/// `resolve` for [`Inline::fault`] ([`run_until_answering`]).
#[cfg_attr(not(target_os = "none"), allow(dead_code))]
struct Closures<A, R>(A, R);

impl<A: FnMut(u64) -> Option<u64>, R: FnMut(u64, u64) -> bool> Inline for Closures<A, R> {
    fn answer(&mut self, nr: u64) -> Option<u64> {
        (self.0)(nr)
    }

    fn fault(&mut self, addr: u64, error_code: u64) -> bool {
        (self.1)(addr, error_code)
    }
}

/// The FXSAVE image of the x87/SSE state: 512 bytes, 16-aligned.
///
/// AVX and later state (XSAVE) are not enabled, so programs see SSE only.
#[repr(C, align(16))]
#[derive(Clone)]
pub struct FpuState(pub [u8; 512]);

/// Offsets in the FXSAVE image.
const FCW: usize = 0;
const MXCSR: usize = 24;
/// Where FXSAVE reports which MXCSR bits exist.
#[cfg(target_os = "none")]
const MXCSR_MASK: usize = 28;

impl FpuState {
    /// The x87 control word.
    pub fn fcw(&self) -> u16 {
        u16::from_le_bytes([self.0[FCW], self.0[FCW + 1]])
    }

    /// The SSE control and status register.
    pub fn mxcsr(&self) -> u32 {
        u32::from_le_bytes(self.0[MXCSR..MXCSR + 4].try_into().expect("4 bytes"))
    }

    /// Sets the MXCSR.
    pub fn set_mxcsr(&mut self, value: u32) {
        self.0[MXCSR..MXCSR + 4].copy_from_slice(&value.to_le_bytes());
    }
}

impl Default for FpuState {
    /// The state after `finit` and a reset MXCSR: FCW 0x37f (all x87
    /// exceptions masked, extended precision), MXCSR 0x1f80 (all SSE
    /// exceptions masked), registers empty and zero.
    fn default() -> Self {
        let mut s = Self([0; 512]);
        s.0[FCW..FCW + 2].copy_from_slice(&0x37fu16.to_le_bytes());
        s.set_mxcsr(0x1f80);
        s
    }
}

impl core::fmt::Debug for FpuState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FpuState")
            .field("fcw", &format_args!("{:#x}", self.fcw()))
            .field("mxcsr", &format_args!("{:#x}", self.mxcsr()))
            .finish_non_exhaustive()
    }
}

/// A thread's x87/SSE save area, on the heap so that a CPU can keep a
/// reference to it (see [`FpuSlot`]).
struct FpuArea {
    state: core::cell::UnsafeCell<FpuState>,
    /// The CPU (its id + 1) whose registers hold this area's state, 0 for
    /// none; written with that CPU's record.
    #[cfg_attr(not(target_os = "none"), allow(dead_code))]
    live_on: core::sync::atomic::AtomicU32,
}

// SAFETY: the state is read and written only by the code that owns the
// `UserContext` (through `&`/`&mut` of its `FpuSlot`) and by the CPU whose
// record names the area, when it saves the registers (`live_on` then goes
// to 0 with Release). The owner touches the area only when its own CPU's
// record names it or `live_on` is 0 (read with Acquire; it waits for that
// otherwise, `wait_fpu_handover`), so never from two CPUs at once; no
// reference to the inside is ever handed out.
unsafe impl Sync for FpuArea {}
// SAFETY: as above; the area is plain data.
unsafe impl Send for FpuArea {}

/// A context's FPU/SSE state, saved lazily.
///
/// `run` leaves the user's x87/SSE registers in the CPU when the thread
/// traps (the kernel is built without SSE and never touches them) and the
/// CPU's record keeps a reference to the area they belong to. Returning to
/// the same context on the same CPU restores nothing; the registers are
/// saved (FXSAVE) into the area only when something else needs them: the
/// executor's end of the task's poll ([`release_fpu`], a task switch),
/// entering another context on that CPU, [`UserContext::fpu`] (a signal
/// frame, fork's copy). [`UserContext::set_fpu`] drops what the registers
/// hold so that the next entry loads the new state (FXRSTOR).
pub struct FpuSlot(alloc::sync::Arc<FpuArea>);

impl FpuSlot {
    fn new(state: FpuState) -> Self {
        Self(alloc::sync::Arc::new(FpuArea {
            state: core::cell::UnsafeCell::new(state),
            live_on: core::sync::atomic::AtomicU32::new(0),
        }))
    }

    /// The current state (from the registers if this CPU holds it).
    fn get(&self) -> FpuState {
        #[cfg(target_os = "none")]
        imp::sync_fpu(&self.0);
        // SAFETY: see `FpuArea`'s Sync: only this thread reads or writes
        // the area now, and no reference to it is kept.
        unsafe { (*self.0.state.get()).clone() }
    }

    /// Replaces the state; reserved MXCSR bits are cleared (FXRSTOR would
    /// fault on them).
    fn set(&mut self, mut state: FpuState) {
        let bits = MXCSR_BITS.load(core::sync::atomic::Ordering::Relaxed);
        state.set_mxcsr(state.mxcsr() & bits);
        #[cfg(target_os = "none")]
        imp::forget_fpu(&self.0);
        // SAFETY: as in `get`, and this CPU no longer holds the area.
        unsafe { *self.0.state.get() = state };
    }
}

impl Default for FpuSlot {
    fn default() -> Self {
        Self::new(FpuState::default())
    }
}

impl Clone for FpuSlot {
    /// A new area with the current state (fork's copy): the 512 bytes go
    /// from this area (saved from the registers first if this CPU holds
    /// them) into the new allocation in one copy, not through a value on
    /// the stack (`get`, then `new`'s move into the `Arc`: two more
    /// copies, each a 512-byte `memcpy` under TCG, per fork).
    fn clone(&self) -> Self {
        #[cfg(target_os = "none")]
        imp::sync_fpu(&self.0);
        let mut area = alloc::sync::Arc::<FpuArea>::new_uninit();
        let to = alloc::sync::Arc::get_mut(&mut area)
            .expect("a new Arc is unique")
            .as_mut_ptr();
        // SAFETY: `to` is the new allocation, reached by nobody else; both
        // of its fields are written before `assume_init` (`UnsafeCell`
        // has its content's layout). This area is read as `get` reads it:
        // only this thread touches it now (see `FpuArea`'s Sync), and no
        // reference into either area is formed.
        unsafe {
            core::ptr::copy_nonoverlapping(
                self.0.state.get().cast_const(),
                core::ptr::addr_of_mut!((*to).state).cast::<FpuState>(),
                1,
            );
            core::ptr::addr_of_mut!((*to).live_on).write(core::sync::atomic::AtomicU32::new(0));
            Self(area.assume_init())
        }
    }
}

impl core::fmt::Debug for FpuSlot {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("FpuSlot")
    }
}

/// The MXCSR bits the CPU implements (FXSAVE's MXCSR_MASK, 0xffbf when it
/// reports 0); others must be clear or FXRSTOR faults.
static MXCSR_BITS: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0xffbf);

/// The user-visible CPU state of a thread. Fork copies it (`clone`).
#[repr(C, align(16))]
#[derive(Clone, Debug, Default)]
pub struct UserContext {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rip: u64,
    pub rsp: u64,
    /// Sanitised on entry: only the arithmetic flags, TF, DF, AC and ID are
    /// the program's; IF is always set, IOPL 0.
    pub rflags: u64,
    pub fs_base: u64,
    pub gs_base: u64,
    /// The x87/SSE state, saved lazily ([`FpuSlot`]): read it with
    /// [`Self::fpu`], replace it with [`Self::set_fpu`].
    fpu: FpuSlot,
}

impl UserContext {
    /// A context that starts at `rip` with stack `rsp`, every other
    /// register zero, default FPU state.
    pub fn new(rip: u64, rsp: u64) -> Self {
        Self {
            rip,
            rsp,
            rflags: RFLAGS_IF,
            ..Self::default()
        }
    }

    /// The x87/SSE state (saved from the registers first if this CPU holds
    /// it).
    pub fn fpu(&self) -> FpuState {
        self.fpu.get()
    }

    /// Replaces the x87/SSE state (a signal handler's clean state,
    /// `rt_sigreturn`'s saved one); reserved MXCSR bits are dropped.
    pub fn set_fpu(&mut self, state: FpuState) {
        self.fpu.set(state);
    }

    /// The system call arguments: `rdi, rsi, rdx, r10, r8, r9`.
    pub fn syscall_args(&self) -> [u64; 6] {
        [self.rdi, self.rsi, self.rdx, self.r10, self.r8, self.r9]
    }
}

/// RFLAGS.IF.
const RFLAGS_IF: u64 = 1 << 9;
/// RFLAGS bit 1, always set.
const RFLAGS_FIXED: u64 = 1 << 1;
/// RFLAGS.TF, the single-step trap.
pub const RFLAGS_TF: u64 = 1 << 8;
/// RFLAGS.NT, nested task.
pub const RFLAGS_NT: u64 = 1 << 14;
/// What a program may keep in RFLAGS: CF PF AF ZF SF TF DF OF NT AC ID.
/// NT is harmless in ring 3 and never reaches ring 0 (the interrupt gates
/// and FMASK clear it), so the kernel's `iretq` never sees it set; Linux
/// keeps it across a syscall too.
const RFLAGS_USER: u64 = 0x24_4dd5;
/// What `syscall` clears (IA32_FMASK): every flag but bit 1, so the entry
/// runs with IF, TF, DF, AC, NT clear and IOPL 0.
pub const SYSCALL_FMASK: u64 = 0x3f_7fd5;

/// The flags a program runs with, from what its context asks for.
pub const fn sanitize_rflags(rflags: u64) -> u64 {
    (rflags & RFLAGS_USER) | RFLAGS_IF | RFLAGS_FIXED
}

/// The end of user space (`mm::user::USER_END`, which is built for the
/// kernel target only).
const USER_END: u64 = 0x0000_8000_0000_0000;

/// Whether `va` is canonical for 4-level paging.
pub const fn is_canonical(va: u64) -> bool {
    let top = va >> 47;
    top == 0 || top == 0x1_ffff
}

/// Whether [`run`] can enter ring 3 with this context; what it refuses
/// would fault in ring 0 (a non-canonical `rcx` after `sysretq`, a bad
/// `wrmsr`) or confuse the NMI entry (a kernel-half GS base).
pub fn is_enterable(ctx: &UserContext) -> bool {
    let is_user = |va: u64| va < USER_END;
    is_user(ctx.rip) && is_canonical(ctx.rsp) && is_user(ctx.fs_base) && is_user(ctx.gs_base)
}

/// Decodes what the exit path recorded.
pub const fn decode_trap(vector: u64, error_code: u64, cr2: u64) -> Trap {
    match vector {
        SYSCALL_VECTOR => Trap::Syscall,
        14 => Trap::PageFault {
            addr: cr2,
            error_code,
        },
        0..=31 => Trap::Exception {
            vector: vector as u8,
            error_code,
        },
        v => Trap::Interrupt { vector: v as u8 },
    }
}

#[cfg(target_os = "none")]
pub(crate) use imp::{init_this_cpu, save_user_state};
#[cfg(target_os = "none")]
pub use imp::{release_fpu, run, run_until, run_until_answering, run_until_with};

#[cfg(target_os = "none")]
mod imp {
    use alloc::sync::Arc;
    use alloc::vec::Vec;
    use core::mem::offset_of;
    use core::sync::atomic::Ordering;
    use x86_64::VirtAddr;
    use x86_64::registers::model_specific::{Efer, EferFlags, FsBase, KernelGsBase, LStar, Msr};

    use super::*;
    use crate::cpu::gdt::{STAR_VALUE, USER_CS, USER_SS};
    use crate::irq::TrapFrame;
    use crate::mm::user::UserPageTable;
    use crate::mm::{Frame, PAGE_SIZE};

    /// Pages of each CPU's entry stack (interrupt handlers for traps from
    /// user mode run on it).
    const ENTRY_STACK_PAGES: usize = 4;
    /// `IA32_STAR`.
    const MSR_STAR: u32 = 0xc000_0081;
    /// `IA32_FMASK`.
    const MSR_FMASK: u32 = 0xc000_0084;

    /// A CPU's state for the `run` in progress, on top of its entry stack;
    /// `gs:16` (`PerCpu::kernel_rsp`) and TSS.RSP0 point at it, and the
    /// stack grows down from it. Touched only by its own CPU, with
    /// interrupts masked.
    #[repr(C, align(64))]
    struct RunRecord {
        /// +0: the kernel stack pointer `tine_user_enter` saved; 0 when no
        /// `run` is in progress.
        kernel_rsp: u64,
        /// The context the running user code belongs to.
        ctx: *mut UserContext,
        /// What the exit path saw: vector, error code, CR2 (page faults).
        vector: u64,
        error_code: u64,
        cr2: u64,
        /// The FS base and the user GS base (`IA32_KERNEL_GS_BASE` while
        /// in ring 0) this CPU's MSRs hold: `enter` writes an MSR only when
        /// the context asks for another value.
        fs_base: u64,
        gs_base: u64,
        /// The area whose state this CPU's x87/SSE registers hold (a
        /// strong reference from `Arc::into_raw`), or null when they hold
        /// nothing anyone needs.
        fpu_owner: *const FpuArea,
        /// The owner's area already holds what the registers hold (saved by
        /// `sync_fpu` and no user code ran since): releasing it needs no
        /// FXSAVE.
        fpu_clean: bool,
    }

    const _: () = assert!(offset_of!(RunRecord, kernel_rsp) == 0);
    const _: () = assert!(USER_END == crate::mm::user::USER_END);
    const _: () = assert!(size_of::<RunRecord>() == 128);

    /// The executing CPU's record.
    fn record() -> *mut RunRecord {
        let rec = record_or_null();
        assert!(!rec.is_null(), "user::run before user::init_this_cpu");
        rec
    }

    /// Sets up user mode on the executing CPU: its entry stack and record
    /// (TSS.RSP0, `gs:16`), and the `syscall` MSRs (EFER.SCE, STAR, LSTAR,
    /// FMASK). Called by `irq::init_bsp_with` and `irq::init_ap`, after the
    /// CPU's TSS exists.
    pub(crate) fn init_this_cpu() {
        let frames: Vec<u64> = (0..ENTRY_STACK_PAGES)
            .map(|_| {
                // Leaked: the entry stack is used for the life of the system.
                Frame::alloc_zeroed()
                    .expect("no memory for an entry stack")
                    .leak()
            })
            .collect();
        let base = crate::mm::paging::vmap_frames(&frames, true, false)
            .expect("no VMAP space for an entry stack");
        let rec = base + (ENTRY_STACK_PAGES as u64) * PAGE_SIZE - size_of::<RunRecord>() as u64;
        crate::smp::percpu::current()
            .kernel_rsp
            .store(rec, Ordering::Relaxed);
        crate::cpu::gdt::set_kernel_stack(rec);
        // The MSRs start at the values the (zeroed) record claims.
        FsBase::write(VirtAddr::zero());
        KernelGsBase::write(VirtAddr::zero());

        let mut probe = FpuState([0; 512]);
        // SAFETY: FXSAVE writes 512 bytes to a 16-aligned buffer we own;
        // CR4.OSFXSR is set by `cpu::init_this_cpu`.
        unsafe { core::arch::asm!("fxsave64 [{}]", in(reg) &raw mut probe, options(nostack)) };
        let mask = u32::from_le_bytes(
            probe.0[MXCSR_MASK..MXCSR_MASK + 4]
                .try_into()
                .expect("4 bytes"),
        );
        if mask != 0 {
            MXCSR_BITS.store(mask, Ordering::Relaxed);
        }

        LStar::write(VirtAddr::new(tine_syscall_entry as *const () as u64));
        // SAFETY: (1) STAR's selectors match this CPU's GDT (asserted by
        // `gdt`'s tests); (2) FMASK only clears flags on entry; (3) SCE
        // enables `syscall`, whose target LSTAR was just set to the entry
        // below, which switches to this CPU's entry stack before any push.
        unsafe {
            Msr::new(MSR_STAR).write(STAR_VALUE);
            Msr::new(MSR_FMASK).write(SYSCALL_FMASK);
            Efer::update(|f| f.insert(EferFlags::SYSTEM_CALL_EXTENSIONS));
        }
    }

    unsafe extern "C" {
        /// Saves the callee-saved registers and RSP in the record, loads
        /// `ctx` and enters ring 3 (`sysretq` when `sysret` != 0); "returns"
        /// through `tine_user_return` when ring 3 is left.
        /// (`ctx` is a `*mut UserContext`; the assembly reads the
        /// `repr(C)` register fields at their offsets.)
        fn tine_user_enter(ctx: *mut u8, sysret: u64);
        /// The `syscall` target (IA32_LSTAR).
        fn tine_syscall_entry();
    }

    /// Runs the user code of `ctx` in the address space `table` until it
    /// traps, on the executing CPU, and says why it stopped. `ctx` holds
    /// the registers at that point (`rip` after a `syscall`, at the
    /// faulting instruction after a fault). Interrupts are in the caller's
    /// state again on return.
    pub fn run(ctx: &mut UserContext, table: &UserPageTable) -> Trap {
        run_masked(ctx, table, || {}, &mut ())
    }

    /// [`run`] with the executing CPU's timer armed to fire by
    /// `deadline_ns` + `slack_ns` at the latest
    /// ([`crate::irq::timer::arm_deadline_within_ns`]: an earlier armed
    /// deadline is kept, so the caller must cope with an early timer
    /// interrupt) after interrupts are masked, so the deadline cannot fire
    /// in the kernel between the arming and the entry to ring 3 (which
    /// would leave the user code running with no timer: a spinning program
    /// never preempted). A deadline that passes before the entry stays
    /// pending and interrupts the user code at once.
    pub fn run_until(
        ctx: &mut UserContext,
        table: &UserPageTable,
        deadline_ns: u64,
        slack_ns: u64,
    ) -> Trap {
        run_until_with(ctx, table, deadline_ns, slack_ns, &mut ())
    }

    /// [`run_until`] with the system calls and page faults that `inline`
    /// handles handled in between, without returning (the kernel's fast
    /// paths):
    ///
    /// - a `syscall` that [`Inline::answer`] answers (the calls that only
    ///   read the caller's identifiers: `getpid`) goes straight back to
    ///   ring 3 with `sysretq`, skipping everything `run_until` does
    ///   around the entry (the caller's bookkeeping, the interrupt flag,
    ///   the timer, the FPU/base/table checks, the running mark), since
    ///   nothing of it can have changed: interrupts stayed masked (a timer
    ///   or IPI that came meanwhile is taken right after the return to
    ///   ring 3), the context's FPU state and bases are untouched (only
    ///   `rax` changes). The table's epoch is still checked, as a change
    ///   of the table may have happened on another CPU meanwhile;
    /// - otherwise the CPU stops being marked as running the table (so a
    ///   shootdown another CPU makes meanwhile does not wait for this
    ///   one, whose interrupts are masked), and a `syscall` that
    ///   [`Inline::syscall`] runs (the calls that never wait) enters ring
    ///   3 again through all of `run`'s entry checks (the table's CR3
    ///   check included); a page fault that [`Inline::fault`] resolves
    ///   through the table's checks only (the running mark, the epoch,
    ///   CR3: its flags, FPU state and bases are as the last entry left
    ///   them); [`Handled::Return`] returns [`Trap::SyscallDone`].
    ///
    /// `inline` must not wait for anything that needs this CPU's
    /// interrupts: it may wait for other CPUs to leave user mode (a
    /// shootdown), never for this one.
    pub fn run_until_with(
        ctx: &mut UserContext,
        table: &UserPageTable,
        deadline_ns: u64,
        slack_ns: u64,
        inline: &mut impl Inline,
    ) -> Trap {
        run_masked(
            ctx,
            table,
            || crate::irq::timer::arm_deadline_within_ns(deadline_ns, slack_ns),
            inline,
        )
    }

    /// [`run_until_with`] with `answer` as [`Inline::answer`] and
    /// `resolve` as [`Inline::fault`] (no other system call handled).
    pub fn run_until_answering(
        ctx: &mut UserContext,
        table: &UserPageTable,
        deadline_ns: u64,
        slack_ns: u64,
        answer: impl FnMut(u64) -> Option<u64>,
        resolve: impl FnMut(u64, u64) -> bool,
    ) -> Trap {
        run_until_with(
            ctx,
            table,
            deadline_ns,
            slack_ns,
            &mut Closures(answer, resolve),
        )
    }

    /// Masks interrupts, runs `before`, enters ring 3 (handling what
    /// `inline` handles, see [`run_until_with`]); interrupts are in the
    /// caller's state again on return.
    ///
    /// A context whose x87/SSE state another CPU's registers still hold is
    /// waited for first, with interrupts in the caller's state: it was
    /// moved out of the task that ran it before that task's poll ended
    /// (see [`wait_fpu_handover`]).
    fn run_masked(
        ctx: &mut UserContext,
        table: &UserPageTable,
        before: impl FnOnce(),
        inline: &mut impl Inline,
    ) -> Trap {
        let irqs_were_on = crate::cpu::irq::enabled();
        crate::cpu::irq::disable();
        // Checked with interrupts masked so that the record cannot change
        // under the check; nothing in it changes while the loop waits
        // either (no other CPU can enter `ctx`: it is borrowed here).
        while fpu_held_elsewhere(&ctx.fpu.0) {
            if irqs_were_on {
                crate::cpu::irq::enable();
            }
            wait_fpu_handover(&ctx.fpu.0);
            crate::cpu::irq::disable();
        }
        before();
        let trap = enter(ctx, table, inline);
        // The copy-on-write flushes put off while resolving faults
        // (`arch::mm::user`, "Deferred invalidation") end with the run.
        table.drain_deferred();
        if irqs_were_on {
            crate::cpu::irq::enable();
        }
        trap
    }

    /// `run` with interrupts masked.
    fn enter(ctx: &mut UserContext, table: &UserPageTable, inline: &mut impl Inline) -> Trap {
        // Set by a resolved page fault: the context is as its last entry
        // left it (see there). Taken (reset) at each entry, so any other
        // way back to the entry goes through every check.
        let mut unchanged = false;
        'entry: loop {
            let checked = core::mem::take(&mut unchanged);
            if !checked {
                ctx.rflags = sanitize_rflags(ctx.rflags);
                if !is_enterable(ctx) {
                    return Trap::Exception {
                        vector: crate::irq::vector::GENERAL_PROTECTION,
                        error_code: 0,
                    };
                }
                load_fpu(&ctx.fpu.0);
            }
            let rec = record();
            // SAFETY: the record is this CPU's and interrupts are masked. The
            // user code may change its registers from now on.
            unsafe { (*rec).fpu_clean = false };
            table.enter_user();
            table.activate_irqs_off();
            if !checked {
                load_bases(ctx);
            }
            loop {
                // `sysretq` sets rcx = rip and r11 = rflags, so it restores the
                // context exactly only when those already agree (always true
                // right after a `syscall`); otherwise `iretq`. `rip` is a user
                // address, so `rcx` is canonical: no #GP in ring 0 after
                // `sysretq`. Not with TF set: after `sysretq` the single-step
                // trap comes at once, before the instruction at rip runs, so
                // a program stepping through code whose rcx and r11 happen
                // to match would trap there forever (Linux returns through
                // `iret` when TF is set, for the same reason).
                let sysret =
                    ctx.rcx == ctx.rip && ctx.r11 == ctx.rflags && ctx.rflags & RFLAGS_TF == 0;
                let ctx_ptr: *mut UserContext = ctx;
                // SAFETY: (1) the record is this CPU's and interrupts are
                // masked, so nothing else touches it; `kernel_rsp == 0` proves
                // no `run` is in progress on this CPU (none can be: handlers
                // never call `run`). (2) `tine_user_enter` returns like a
                // normal `extern "C"` call: callee-saved registers, RSP and DF
                // are restored by `tine_user_return`; rflags is left with IF
                // clear. (3) It reads `*ctx_ptr`, and the exit paths write it
                // through the record (`tine_syscall_entry`,
                // `save_user_state`), while `ctx` is mutably borrowed by this
                // call; `ctx_ptr` is not used after it. (4) The user code runs
                // with `table` loaded, which maps only frames the table owns,
                // and the borrow of `table` lasts until it has left ring 3.
                let (vector, error_code, cr2) = unsafe {
                    assert_eq!((*rec).kernel_rsp, 0, "nested user::run");
                    (*rec).ctx = ctx_ptr;
                    tine_user_enter(ctx_ptr.cast(), sysret as u64);
                    (*rec).ctx = core::ptr::null_mut();
                    ((*rec).vector, (*rec).error_code, (*rec).cr2)
                };
                if vector == SYSCALL_VECTOR
                    && let Some(rax) = inline.answer(ctx.rax)
                {
                    // Back at once (`run_until_with`): only `rax` and the
                    // flags the program may set changed since the entry.
                    ctx.rax = rax;
                    ctx.rflags = sanitize_rflags(ctx.rflags);
                    table.activate_irqs_off();
                    continue;
                }
                table.leave_user();
                if vector == SYSCALL_VECTOR {
                    match inline.syscall(ctx) {
                        Handled::Pass => {}
                        // Ran (`run_until_with`): on from the next
                        // instruction, through every entry check.
                        Handled::Resume => continue 'entry,
                        Handled::Return => return Trap::SyscallDone,
                    }
                } else if vector == crate::irq::vector::PAGE_FAULT as u64 && {
                    table.resolving(true);
                    let resolved = inline.fault(cr2, error_code);
                    table.resolving(false);
                    resolved
                } {
                    // Resolved (`run_until_with`): the same instruction
                    // again. Of the entry checks only the table's are
                    // needed (the running mark, the epoch: the fault may
                    // have changed the table, another CPU too): interrupts
                    // stayed masked and `Inline::fault` cannot reach `ctx`, so
                    // its flags, FPU state and bases are as they were at
                    // the entry.
                    unchanged = true;
                    continue 'entry;
                }
                return decode_trap(vector, error_code, cr2);
            }
        }
    }

    /// The executing CPU's record, or null before `init_this_cpu`: one
    /// load from `gs:16` (`PerCpu::kernel_rsp`), as the entry paths read
    /// it, instead of indexing the per-CPU array by `gs:8`.
    fn record_or_null() -> *mut RunRecord {
        let rec: u64;
        // SAFETY: `smp::percpu::install` pointed GS at this CPU's block
        // before any code that can get here ran; `gs:16` is its
        // `kernel_rsp` (fixed offset, ABI for assembly), written only by
        // `init_this_cpu` on this CPU. A read, no side effect.
        unsafe {
            core::arch::asm!("mov {}, qword ptr gs:[16]", out(reg) rec, options(nostack, readonly, preserves_flags));
        }
        rec as *mut RunRecord
    }

    /// FXSAVE of the registers into `area`.
    ///
    /// # Safety
    /// Nothing else reads or writes `area`'s state now.
    unsafe fn fxsave(area: &FpuArea) {
        // SAFETY: the caller's; FXSAVE writes 512 bytes to the 16-aligned
        // `FpuState`, and CR4.OSFXSR is set by `cpu::init_this_cpu`.
        unsafe {
            core::arch::asm!("fxsave64 [{}]", in(reg) area.state.get(), options(nostack));
        }
    }

    /// Saves the registers into the area the record names, if any, and
    /// forgets it. Interrupt handlers never touch `fpu_owner` or the x87/
    /// SSE registers, so the caller needs no masking.
    fn save_and_release(rec: *mut RunRecord) {
        // SAFETY: the record is this CPU's and only code of the thread on
        // this CPU touches `fpu_owner` (interrupt handlers do not);
        // `fpu_owner` came from `Arc::into_raw`, so the area is alive, and
        // its thread is not running user code or reading it (the one
        // polled here is this thread, which is in this call).
        unsafe {
            let owner = (*rec).fpu_owner;
            if owner.is_null() {
                return;
            }
            (*rec).fpu_owner = core::ptr::null();
            let area = Arc::from_raw(owner);
            // No FXSAVE when the area is up to date, or when this was its
            // last reference: its context is gone (an exited thread, the
            // image exec replaced), so nobody will ever read it. No one
            // can make a new reference to it meanwhile: contexts clone
            // into new areas.
            if !(*rec).fpu_clean && Arc::strong_count(&area) > 1 {
                fxsave(&area);
            }
            (*rec).fpu_clean = false;
            // Release: the image is written before another CPU that sees 0
            // may load it (`wait_fpu_handover`).
            area.live_on.store(0, Ordering::Release);
        }
    }

    /// Whether another CPU's registers hold `area`'s state: this CPU's
    /// record does not name it, yet it is live somewhere. One load on the
    /// common path (the record names it: the same thread again).
    fn fpu_held_elsewhere(area: &Arc<FpuArea>) -> bool {
        let rec = record();
        // SAFETY: the record is this CPU's (see `save_and_release`).
        let mine = unsafe { (*rec).fpu_owner } == Arc::as_ptr(area);
        // Acquire: pairs with the Release in `save_and_release`, so a 0
        // seen here comes with the FXSAVE image that CPU wrote.
        !mine && area.live_on.load(Ordering::Acquire) != 0
    }

    /// Waits until no other CPU holds `area`'s state in its registers.
    ///
    /// The executor releases a CPU's registers at the end of every task
    /// poll (`release_fpu`), so within one poll a context's state is only
    /// ever live on the CPU polling the task that ran it, and a task never
    /// runs on two CPUs. But a `UserContext` is a plain value: a task can
    /// hand it to another task (send it, return it as its output through a
    /// `JoinHandle`, put it in a shared slot) and keep running until its
    /// poll ends, and that other task can be polled on another CPU in the
    /// meantime. Its state is then still in the first CPU's registers (the
    /// "FPU state held by cpu 1 entered on 2" panic: a ktest passed a
    /// context from task to task through `JoinHandle`s; the output is
    /// delivered, and the joiner woken, inside the poll). The holder saves
    /// it at its poll's end at the latest, and a poll never waits for
    /// another CPU's poll, so this wait ends; the caller must hold no spin
    /// lock another CPU's poll might need.
    fn wait_fpu_handover(area: &FpuArea) {
        // Acquire: as in `fpu_held_elsewhere`.
        while area.live_on.load(Ordering::Acquire) != 0 {
            core::hint::spin_loop();
        }
    }

    /// Makes the registers hold `area`'s state for an entry to ring 3:
    /// nothing to do when they already do; otherwise the previous owner's
    /// state is saved and `area`'s loaded (FXRSTOR).
    fn load_fpu(area: &Arc<FpuArea>) {
        let rec = record();
        // SAFETY: the record is this CPU's (see `save_and_release`).
        if unsafe { (*rec).fpu_owner } == Arc::as_ptr(area) {
            return;
        }
        save_and_release(rec);
        let me = crate::cpu::id() as u32 + 1;
        // `run_masked` waited for any other CPU holding it
        // (`wait_fpu_handover`), and no CPU can take it since: entering
        // needs the context, which the caller borrows.
        let held = area.live_on.load(Ordering::Relaxed);
        assert!(
            held == 0,
            "FPU state held by cpu {} entered on {}",
            held - 1,
            me - 1
        );
        // SAFETY: FXRSTOR reads the 512-byte image this thread owns (MXCSR
        // sanitised by `FpuSlot::set`); the record then holds a strong
        // reference for `save_and_release`.
        unsafe {
            core::arch::asm!("fxrstor64 [{}]", in(reg) area.state.get(), options(nostack, readonly));
            area.live_on.store(me, Ordering::Relaxed);
            (*rec).fpu_owner = Arc::into_raw(Arc::clone(area));
        }
    }

    /// Whether this CPU's record names `area` (its registers hold the
    /// state); if not, waits until no other CPU's do
    /// ([`wait_fpu_handover`]: a context handed over mid-poll).
    fn holds_or_wait(area: &Arc<FpuArea>) -> bool {
        let rec = record_or_null();
        // SAFETY: the record is this CPU's (see `save_and_release`).
        if !rec.is_null() && unsafe { (*rec).fpu_owner } == Arc::as_ptr(area) {
            return true;
        }
        wait_fpu_handover(area);
        false
    }

    /// Saves the registers into `area` if this CPU holds its state (they
    /// keep it too); waits for another CPU that holds it to save it.
    pub(super) fn sync_fpu(area: &Arc<FpuArea>) {
        if holds_or_wait(area) {
            let rec = record();
            // SAFETY: this CPU's registers hold the area's state and the
            // area's thread (the caller) is not in user mode; the record
            // is this CPU's (see `save_and_release`).
            unsafe {
                if !(*rec).fpu_clean {
                    fxsave(area);
                    (*rec).fpu_clean = true;
                }
            }
        }
    }

    /// Forgets that this CPU's registers hold `area`'s state (it is about
    /// to be replaced); waits for another CPU that holds it to save it (or
    /// its save would overwrite the new state).
    pub(super) fn forget_fpu(area: &Arc<FpuArea>) {
        if holds_or_wait(area) {
            let rec = record();
            // SAFETY: as in `sync_fpu`; the strong reference the record
            // held goes back to `Arc::from_raw` exactly once.
            unsafe {
                (*rec).fpu_owner = core::ptr::null();
                (*rec).fpu_clean = false;
                area.live_on.store(0, Ordering::Relaxed);
                drop(Arc::from_raw(Arc::as_ptr(area)));
            }
        }
    }

    /// Saves the user x87/SSE registers of the executing CPU into the
    /// context they belong to, if any: the executor calls this at the end
    /// of every task poll, so that a thread that waits, yields or moves to
    /// another CPU has its state in its context. Cheap when no user code
    /// ran in the poll.
    pub fn release_fpu() {
        let rec = record_or_null();
        if !rec.is_null() {
            save_and_release(rec);
        }
    }

    /// Loads the FS and GS bases of `ctx` into this CPU's MSRs, skipping
    /// each write that would not change the MSR (an MSR write ends the
    /// translation block under QEMU TCG and is slow on hardware too).
    /// Interrupts must be masked.
    fn load_bases(ctx: &UserContext) {
        // SAFETY: the record is this CPU's and interrupts are masked (the
        // caller's contract), so nothing else accesses it.
        let rec = unsafe { &mut *record() };
        if rec.fs_base != ctx.fs_base {
            FsBase::write(VirtAddr::new(ctx.fs_base));
            rec.fs_base = ctx.fs_base;
        }
        if rec.gs_base != ctx.gs_base {
            // The `swapgs` before entering ring 3 makes this the GS base.
            KernelGsBase::write(VirtAddr::new(ctx.gs_base));
            rec.gs_base = ctx.gs_base;
        }
    }

    /// Saves the user state of a trap from ring 3 (`frame` on the entry
    /// stack) into the running context, with the FPU state, FS/GS bases
    /// and the reason. Called with interrupts masked by `trap_dispatch`
    /// (the `syscall` entry stores its registers itself);
    /// `tine_user_return` follows.
    pub(crate) extern "C" fn save_user_state(frame: &TrapFrame) {
        let rec = record();
        // SAFETY: a trap from ring 3 happens only inside `run` on this CPU
        // (ring 3 is entered nowhere else), which stored its context in the
        // record and keeps it mutably borrowed; interrupts are masked, so
        // this is the only access.
        let (rec, ctx) = unsafe {
            let ctx = (*rec).ctx;
            assert!(!ctx.is_null(), "trap from ring 3 outside user::run");
            (&mut *rec, &mut *ctx)
        };
        rec.vector = frame.vector;
        rec.error_code = frame.error_code;
        rec.cr2 = if frame.vector == crate::irq::vector::PAGE_FAULT as u64 {
            x86_64::registers::control::Cr2::read_raw()
        } else {
            0
        };
        ctx.rax = frame.rax;
        ctx.rbx = frame.rbx;
        ctx.rcx = frame.rcx;
        ctx.rdx = frame.rdx;
        ctx.rsi = frame.rsi;
        ctx.rdi = frame.rdi;
        ctx.rbp = frame.rbp;
        ctx.r8 = frame.r8;
        ctx.r9 = frame.r9;
        ctx.r10 = frame.r10;
        ctx.r11 = frame.r11;
        ctx.r12 = frame.r12;
        ctx.r13 = frame.r13;
        ctx.r14 = frame.r14;
        ctx.r15 = frame.r15;
        ctx.rip = frame.rip;
        ctx.rsp = frame.rsp;
        ctx.rflags = frame.rflags;
        // `ctx.fs_base` and `ctx.gs_base` need no reading back: they hold
        // what `enter` loaded, and ring 3 cannot change the bases (CR4.
        // FSGSBASE is clear, so WRFSBASE/WRGSBASE are #UD, and WRMSR is
        // privileged). Enabling FSGSBASE would require reading them here.
        // The x87/SSE registers stay in the CPU (`FpuSlot`).
    }

    // The entry, exit and `syscall` paths. `tine_user_return` needs no
    // `popfq` to give the caller RFLAGS = 2 (IF, DF, AC clear): both ways
    // in leave that, `syscall` through FMASK (`SYSCALL_FMASK` clears
    // every flag) and the IDT stub for traps from ring 3 (the gate clears
    // IF, the stub's `cld` DF and its `popfq` AC when the user set it),
    // and `save_user_state` changes no flag that matters. A `popfq` ends
    // the translation block under QEMU TCG.
    //
    // The entry, exit and `syscall` paths. `gs:16` is the CPU's RunRecord
    // (top of its entry stack), `gs:24` a scratch slot for the user RSP.
    core::arch::global_asm!(
        r#"
    .section .text.tine_user, "ax"

    /* The general-purpose registers but rax into the context at rax
       (the `syscall` entry, `tine_user_exception`). */
    .macro TINE_STORE_GPRS
    mov qword ptr [rax + {rbx}], rbx
    mov qword ptr [rax + {rcx}], rcx
    mov qword ptr [rax + {rdx}], rdx
    mov qword ptr [rax + {rsi}], rsi
    mov qword ptr [rax + {rdi}], rdi
    mov qword ptr [rax + {rbp}], rbp
    mov qword ptr [rax + {r8}], r8
    mov qword ptr [rax + {r9}], r9
    mov qword ptr [rax + {r10}], r10
    mov qword ptr [rax + {r11}], r11
    mov qword ptr [rax + {r12}], r12
    mov qword ptr [rax + {r13}], r13
    mov qword ptr [rax + {r14}], r14
    mov qword ptr [rax + {r15}], r15
    .endm

    .p2align 4
    .global tine_user_enter
tine_user_enter:
    push rbx
    push rbp
    push r12
    push r13
    push r14
    push r15
    mov rax, qword ptr gs:[16]
    mov qword ptr [rax], rsp
    test rsi, rsi
    jz tine_user_enter_iret
    mov rcx, qword ptr [rdi + {rip}]
    mov r11, qword ptr [rdi + {rflags}]
    mov rsp, qword ptr [rdi + {rsp}]
    mov rax, qword ptr [rdi + {rax}]
    mov rbx, qword ptr [rdi + {rbx}]
    mov rdx, qword ptr [rdi + {rdx}]
    mov rsi, qword ptr [rdi + {rsi}]
    mov rbp, qword ptr [rdi + {rbp}]
    mov r8, qword ptr [rdi + {r8}]
    mov r9, qword ptr [rdi + {r9}]
    mov r10, qword ptr [rdi + {r10}]
    mov r12, qword ptr [rdi + {r12}]
    mov r13, qword ptr [rdi + {r13}]
    mov r14, qword ptr [rdi + {r14}]
    mov r15, qword ptr [rdi + {r15}]
    mov rdi, qword ptr [rdi + {rdi}]
    swapgs
    sysretq
tine_user_enter_iret:
    push {user_ss}
    push qword ptr [rdi + {rsp}]
    push qword ptr [rdi + {rflags}]
    push {user_cs}
    push qword ptr [rdi + {rip}]
    mov rax, qword ptr [rdi + {rax}]
    mov rbx, qword ptr [rdi + {rbx}]
    mov rcx, qword ptr [rdi + {rcx}]
    mov rdx, qword ptr [rdi + {rdx}]
    mov rsi, qword ptr [rdi + {rsi}]
    mov rbp, qword ptr [rdi + {rbp}]
    mov r8, qword ptr [rdi + {r8}]
    mov r9, qword ptr [rdi + {r9}]
    mov r10, qword ptr [rdi + {r10}]
    mov r11, qword ptr [rdi + {r11}]
    mov r12, qword ptr [rdi + {r12}]
    mov r13, qword ptr [rdi + {r13}]
    mov r14, qword ptr [rdi + {r14}]
    mov r15, qword ptr [rdi + {r15}]
    mov rdi, qword ptr [rdi + {rdi}]
    swapgs
    iretq

    .p2align 4
    .global tine_user_return
tine_user_return:
    mov rax, qword ptr gs:[16]
    mov rsp, qword ptr [rax]
    mov qword ptr [rax], 0
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    ret

    .p2align 4
    .global tine_syscall_entry
tine_syscall_entry:
    swapgs
    mov qword ptr gs:[24], rsp
    mov rsp, qword ptr gs:[16]
    push rax
    mov rax, qword ptr [rsp + 8 + {rec_ctx}]
    TINE_STORE_GPRS
    mov qword ptr [rax + {rip}], rcx
    mov qword ptr [rax + {rflags}], r11
    mov rcx, qword ptr gs:[24]
    mov qword ptr [rax + {rsp}], rcx
    pop qword ptr [rax + {rax}]
    mov qword ptr [rsp + {rec_vector}], {syscall_vector}
    mov qword ptr [rsp + {rec_error}], 0
    mov qword ptr [rsp + {rec_cr2}], 0
    jmp tine_user_return

    /* An exception from ring 3 (not NMI, #DF, #MC), from the IDT stubs'
       common path after its swapgs: [rsp] = vector, [rsp + 8] = error
       code, then the CPU's frame (rip, cs, rflags, rsp, ss). It stores
       what `save_user_state` would straight into the context, records
       the reason and returns from `user::run`: no frame of 15 registers
       on the stack to copy, no call to `trap_dispatch` (which does
       nothing else for an exception from user mode). Without a context
       (a trap outside `run`) it goes the common way, whose
       `save_user_state` reports it. */
    .p2align 4
    .global tine_user_exception
tine_user_exception:
    push rax
    mov rax, qword ptr gs:[16]
    mov rax, qword ptr [rax + {rec_ctx}]
    test rax, rax
    jz tine_user_exception_no_ctx
    TINE_STORE_GPRS
    pop qword ptr [rax + {rax}]
    mov rcx, qword ptr [rsp + 16]
    mov qword ptr [rax + {rip}], rcx
    mov rcx, qword ptr [rsp + 32]
    mov qword ptr [rax + {rflags}], rcx
    mov rcx, qword ptr [rsp + 40]
    mov qword ptr [rax + {rsp}], rcx
    mov rax, qword ptr gs:[16]
    mov rcx, qword ptr [rsp]
    mov qword ptr [rax + {rec_vector}], rcx
    mov rdx, qword ptr [rsp + 8]
    mov qword ptr [rax + {rec_error}], rdx
    xor edx, edx
    cmp rcx, 14
    jne tine_user_exception_no_cr2
    mov rdx, cr2
tine_user_exception_no_cr2:
    mov qword ptr [rax + {rec_cr2}], rdx
    cld
    jmp tine_user_return
tine_user_exception_no_ctx:
    pop rax
    jmp tine_trap_common_saved_gs

    .text
"#,
        rip = const offset_of!(UserContext, rip),
        rsp = const offset_of!(UserContext, rsp),
        rflags = const offset_of!(UserContext, rflags),
        rax = const offset_of!(UserContext, rax),
        rbx = const offset_of!(UserContext, rbx),
        rcx = const offset_of!(UserContext, rcx),
        rdx = const offset_of!(UserContext, rdx),
        rsi = const offset_of!(UserContext, rsi),
        rdi = const offset_of!(UserContext, rdi),
        rbp = const offset_of!(UserContext, rbp),
        r8 = const offset_of!(UserContext, r8),
        r9 = const offset_of!(UserContext, r9),
        r10 = const offset_of!(UserContext, r10),
        r11 = const offset_of!(UserContext, r11),
        r12 = const offset_of!(UserContext, r12),
        r13 = const offset_of!(UserContext, r13),
        r14 = const offset_of!(UserContext, r14),
        r15 = const offset_of!(UserContext, r15),
        user_ss = const USER_SS as u64,
        user_cs = const USER_CS as u64,
        syscall_vector = const SYSCALL_VECTOR,
        rec_ctx = const offset_of!(RunRecord, ctx),
        rec_vector = const offset_of!(RunRecord, vector),
        rec_error = const offset_of!(RunRecord, error_code),
        rec_cr2 = const offset_of!(RunRecord, cr2),
    );

    const _: () = assert!(size_of::<RunRecord>().is_multiple_of(16));
    // `gs:16` is the record (`record_or_null`, the entry paths).
    const _: () = assert!(offset_of!(crate::smp::percpu::PerCpu, kernel_rsp) == 16);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rflags_sanitising_keeps_user_flags_only() {
        // IOPL 3, VM, RF are dropped; IF and bit 1 forced on; NT kept.
        let hostile = 0x3000 | 0x2_0000 | 0x1_0000;
        assert_eq!(sanitize_rflags(hostile), 0x202);
        assert_eq!(sanitize_rflags(hostile | RFLAGS_NT), 0x4202);
        assert_eq!(sanitize_rflags(RFLAGS_TF), RFLAGS_TF | 0x202);
        let arith = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x800 | 0x400 | 0x100;
        assert_eq!(sanitize_rflags(arith), arith | 0x202);
        assert_eq!(sanitize_rflags(0x4_0000 | 0x20_0000), 0x24_0202);
        // FMASK clears every flag the user may set, and IF.
        assert_eq!(
            SYSCALL_FMASK & (RFLAGS_USER | RFLAGS_IF),
            RFLAGS_USER | RFLAGS_IF
        );
        assert_eq!(SYSCALL_FMASK & RFLAGS_FIXED, 0);
    }

    #[test]
    fn canonical_and_enterable() {
        assert!(is_canonical(0));
        assert!(is_canonical(0x7fff_ffff_ffff));
        assert!(!is_canonical(0x8000_0000_0000));
        assert!(is_canonical(0xffff_8000_0000_0000));
        let mut ctx = UserContext::new(0x40_0000, 0x7fff_ffff_f000);
        assert!(is_enterable(&ctx));
        ctx.rip = 0xffff_ffff_8000_0000;
        assert!(!is_enterable(&ctx), "kernel-half rip");
        ctx.rip = 0x40_0000;
        ctx.gs_base = 0xffff_8000_0000_0000;
        assert!(!is_enterable(&ctx), "kernel-half GS base");
        ctx.gs_base = 0;
        ctx.rsp = 0x8000_0000_0000;
        assert!(!is_enterable(&ctx), "non-canonical rsp");
    }

    #[test]
    fn traps_decode() {
        assert_eq!(decode_trap(SYSCALL_VECTOR, 0, 0), Trap::Syscall);
        assert_eq!(
            decode_trap(14, 6, 0x5000),
            Trap::PageFault {
                addr: 0x5000,
                error_code: 6
            }
        );
        assert_eq!(
            decode_trap(6, 0, 0),
            Trap::Exception {
                vector: 6,
                error_code: 0
            }
        );
        assert_eq!(decode_trap(0x20, 0, 0), Trap::Interrupt { vector: 0x20 });
    }

    #[test]
    fn default_fpu_state() {
        let f = FpuState::default();
        assert_eq!(f.fcw(), 0x37f);
        assert_eq!(f.mxcsr(), 0x1f80);
        assert_eq!(core::mem::align_of::<FpuState>(), 16);
    }

    #[test]
    fn fpu_state_is_copied_by_clone_and_sanitised_by_set() {
        let mut a = UserContext::new(0x1000, 0x2000);
        let mut state = FpuState::default();
        state.set_mxcsr(0xffff_ffff);
        a.set_fpu(state);
        assert_eq!(a.fpu().mxcsr(), 0xffbf);
        let b = a.clone();
        a.set_fpu(FpuState::default());
        assert_eq!(b.fpu().mxcsr(), 0xffbf, "a clone has its own area");
        assert_eq!(a.fpu().mxcsr(), 0x1f80);
    }
}
