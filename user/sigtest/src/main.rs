//! `/bin/sigtest MODE`: checks one signal behaviour from user space and
//! exits 0 when it held (the in-kernel tests in
//! `kernel/src/proc/signal_ktests.rs` run every mode), or 1 with a message
//! on stderr. The same binary runs on Linux for comparison.
//!
//! Modes that exit 0 when the behaviour held:
//! - `handler`: a `SIGUSR1` handler runs (signal, `siginfo`, `ucontext`,
//!   mask inside, 16-byte alignment) and `rt_sigreturn` gives back every
//!   register the handler clobbered, `xmm0` included;
//! - `block`: a blocked signal stays pending (`rt_sigpending`) until
//!   unblocked, then the handler runs once;
//! - `segv`: a `SIGSEGV` handler sees `si_addr`, `SEGV_MAPERR`, `trapno`,
//!   `err`, `cr2`, and resumes the program at another `rip`;
//! - `segv-exit`: a `SIGSEGV` handler exits the process (status 0);
//! - `ud2`: a `SIGILL` handler sees `ILL_ILLOPN` at the `ud2` and skips it;
//! - `sanitize`: a handler that puts IOPL 3 and ring-0 selectors in its
//!   `ucontext` returns to a program still at IOPL 0;
//! - `stop`: `SIGSTOP`/`SIGCONT` on a child with `WUNTRACED`/`WCONTINUED`,
//!   then `SIGTERM`, and the `SIGCHLD`s the parent got (`CLD_STOPPED`,
//!   `CLD_CONTINUED`, `CLD_KILLED` with `si_pid` and `si_status`);
//! - `pgrp`: process groups and sessions: `setpgid`, `getpgid`, `setsid`,
//!   `getsid` and their errors, `kill(-pgid)` and `wait4(-pgid)`;
//! - `eintr`: `wait4` and `pause` return `EINTR` when a handler runs;
//! - `restart`: with `SA_RESTART`, a handler that interrupts `wait4`
//!   does not make it fail: it runs again;
//! - `restart-stop`: forks a spinning child and waits for it; the test
//!   stops and continues this process meanwhile, then kills the child:
//!   `wait4` must return the child's `SIGKILL` status, not `EINTR`;
//! - `sigsuspend`: `rt_sigsuspend` waits with a temporary mask, returns
//!   `EINTR` after the handler, and the old mask comes back;
//! - `autoreap`: with `SIGCHLD` ignored, an exited child is reaped at once
//!   (`wait4` is `ECHILD`);
//! - `altstack`: an `SA_ONSTACK` handler runs on the `sigaltstack` stack,
//!   which reports `SS_ONSTACK` and refuses changes (`EPERM`) meanwhile;
//! - `errors`: the `EINVAL`/`EFAULT`/`ESRCH` matrix of the signal calls.
//!
//! Modes that die of a signal (the test checks the wait status):
//! - `kill-self`: `kill(getpid(), SIGTERM)` (status 15);
//! - `segv-blocked`: `SIGSEGV` blocked and ignored, then a fault: forced,
//!   the process dies of it (11);
//! - `badstack`: a handled signal with `rsp` pointing at nothing: the frame
//!   cannot be written, `SIGSEGV` (11);
//! - `badsigreturn`: `rt_sigreturn` with no frame: `SIGSEGV` (11).
#![no_std]
#![no_main]

use core::arch::asm;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use tine_rt::syscall::signal::{self as sig, SigAction, Stack, bit};
use tine_rt::syscall::{self, Errno};
use tine_rt::{Args, eprintln, println};

tine_rt::entry!(main);

const EFAULT: Errno = Errno(14);
const ESRCH: Errno = Errno(3);
const EPERM: Errno = Errno(1);
const ENOMEM: Errno = Errno(12);
const WNOHANG: i32 = 1;
const WUNTRACED: i32 = 2;
const WCONTINUED: i32 = 8;

fn main(args: Args) -> i32 {
    let mode = args.get(1).unwrap_or(b"");
    let result = match mode {
        b"handler" => handler(),
        b"block" => block(),
        b"segv" => segv(),
        b"segv-exit" => segv_exit(),
        b"ud2" => ud2(),
        b"sanitize" => sanitize(),
        b"stop" => stop(),
        b"pgrp" => pgrp(),
        b"eintr" => eintr(),
        b"restart" => restart(),
        b"restart-stop" => restart_stop(),
        b"sigsuspend" => sigsuspend(),
        b"autoreap" => autoreap(),
        b"altstack" => altstack(),
        b"errors" => errors(),
        b"kill-self" => kill_self(),
        b"segv-blocked" => segv_blocked(),
        b"badstack" => badstack(),
        b"badsigreturn" => badsigreturn(),
        _ => Err("usage: sigtest MODE (see the source)"),
    };
    match result {
        Ok(()) => {
            println!("sigtest {}: ok", core::str::from_utf8(mode).unwrap_or("?"));
            0
        }
        Err(why) => {
            eprintln!(
                "sigtest {}: FAILED: {why}",
                core::str::from_utf8(mode).unwrap_or("?")
            );
            1
        }
    }
}

type Check = Result<(), &'static str>;

fn ensure(cond: bool, why: &'static str) -> Check {
    if cond { Ok(()) } else { Err(why) }
}

/// Reads a `T` at `p + off` (a kernel-written `siginfo_t`/`ucontext_t`).
fn read<T: Copy>(p: *mut u8, off: usize) -> T {
    // SAFETY: the handlers only read inside the siginfo (128 bytes) and
    // ucontext (304 bytes) the kernel wrote on the stack for them.
    unsafe { p.add(off).cast::<T>().read_unaligned() }
}

/// Writes a `T` at `p + off` (the handler edits its `ucontext_t`).
fn write<T: Copy>(p: *mut u8, off: usize, v: T) {
    // SAFETY: as `read`; the ucontext is the handler's to change.
    unsafe { p.add(off).cast::<T>().write_unaligned(v) }
}

// siginfo_t and ucontext_t offsets (Linux x86-64).
const SI_SIGNO: usize = 0;
const SI_CODE: usize = 8;
const SI_PID: usize = 16;
const SI_ADDR: usize = 16;
const SI_STATUS: usize = 24;
const UC_MCONTEXT: usize = 40;
const UC_SIGMASK: usize = 296;
const MC_R8: usize = UC_MCONTEXT;
const MC_RIP: usize = UC_MCONTEXT + 128;
const MC_EFLAGS: usize = UC_MCONTEXT + 136;
const MC_CS: usize = UC_MCONTEXT + 144;
const MC_SS: usize = UC_MCONTEXT + 150;
const MC_ERR: usize = UC_MCONTEXT + 152;
const MC_TRAPNO: usize = UC_MCONTEXT + 160;
const MC_CR2: usize = UC_MCONTEXT + 176;

/// What the handlers saw.
static HITS: AtomicU32 = AtomicU32::new(0);
static SEEN_SIG: AtomicI32 = AtomicI32::new(0);
static SEEN_CODE: AtomicI32 = AtomicI32::new(0);
static SEEN_PID: AtomicI32 = AtomicI32::new(0);
static SEEN_ADDR: AtomicU64 = AtomicU64::new(0);
static SEEN_MASK: AtomicU64 = AtomicU64::new(0);
static SEEN_UC_MASK: AtomicU64 = AtomicU64::new(0);
static SEEN_R8: AtomicU64 = AtomicU64::new(0);
static SEEN_TRAP: AtomicU64 = AtomicU64::new(0);
static SEEN_ERR: AtomicU64 = AtomicU64::new(0);
static SEEN_CR2: AtomicU64 = AtomicU64::new(0);
static ALIGNED: AtomicBool = AtomicBool::new(false);
/// Where the fault handlers send the program on.
static RECOVER: AtomicUsize = AtomicUsize::new(0);

fn install(signo: impl Into<i32>, handler: sig::Handler, flags: u64, mask: u64) -> Check {
    sig::sigaction(signo, Some(&SigAction::handler(handler, flags, mask)), None)
        .map_err(|_| "sigaction failed")
}

fn mask_now() -> u64 {
    sig::sigprocmask(sig::SIG_BLOCK, None).unwrap_or(u64::MAX)
}

/// Records what every handler can see, then clobbers the registers a
/// handler may clobber (`rt_sigreturn` must give them back).
extern "C" fn recording_handler(signo: i32, info: *mut u8, uc: *mut u8) {
    HITS.fetch_add(1, Ordering::SeqCst);
    SEEN_SIG.store(signo, Ordering::SeqCst);
    SEEN_CODE.store(read::<i32>(info, SI_CODE), Ordering::SeqCst);
    SEEN_PID.store(read::<i32>(info, SI_PID), Ordering::SeqCst);
    SEEN_MASK.store(mask_now(), Ordering::SeqCst);
    SEEN_UC_MASK.store(read::<u64>(uc, UC_SIGMASK), Ordering::SeqCst);
    SEEN_R8.store(read::<u64>(uc, MC_R8), Ordering::SeqCst);
    // uc = frame + 8 and the frame is placed so that frame + 8 is
    // 16-aligned: rsp at entry = frame, (rsp + 8) % 16 == 0.
    ALIGNED.store((uc as usize).is_multiple_of(16), Ordering::SeqCst);
    if read::<i32>(info, SI_SIGNO) != signo {
        SEEN_SIG.store(-1, Ordering::SeqCst);
    }
    // SAFETY: writes only registers declared as clobbered.
    unsafe {
        asm!(
            "mov r8, -1",
            "mov r9, -1",
            "mov r10, -1",
            "mov rdx, -1",
            "mov rsi, -1",
            "mov rdi, -1",
            "pcmpeqd xmm0, xmm0",
            out("r8") _,
            out("r9") _,
            out("r10") _,
            out("rdx") _,
            out("rsi") _,
            out("rdi") _,
            out("xmm0") _,
        );
    }
}

fn reset_seen() {
    HITS.store(0, Ordering::SeqCst);
    SEEN_SIG.store(0, Ordering::SeqCst);
}

fn handler() -> Check {
    reset_seen();
    install(sig::SIGUSR1, recording_handler, 0, bit(sig::SIGUSR2))?;
    let pid = syscall::getpid();
    const M8: u64 = 0x0808_0808_0808_0808;
    const M9: u64 = 0x0909_0909_0909_0909;
    const M10: u64 = 0x1010_1010_1010_1010;
    const M12: u64 = 0x1212_1212_1212_1212;
    const M15: u64 = 0x1515_1515_1515_1515;
    const MDX: u64 = 0xdddd_dddd_dddd_dddd;
    const MX: u64 = 0x1234_5678_9abc_def0;
    let (rax, rdi, rsi, rdx, r8, r9, r10, r12, r15, xmm): (
        u64,
        u64,
        u64,
        u64,
        u64,
        u64,
        u64,
        u64,
        u64,
        u64,
    );
    // SAFETY: kill(getpid(), SIGUSR1) with extra registers set; the
    // handler runs on the way back and must leave them all as they were.
    unsafe {
        asm!(
            "movq xmm0, {x}",
            "syscall",
            "movq {xo}, xmm0",
            x = in(reg) MX,
            xo = lateout(reg) xmm,
            inlateout("rax") tine_rt::syscall::nr::KILL => rax,
            inlateout("rdi") pid as u64 => rdi,
            inlateout("rsi") u64::from(sig::SIGUSR1) => rsi,
            inlateout("rdx") MDX => rdx,
            inlateout("r8") M8 => r8,
            inlateout("r9") M9 => r9,
            inlateout("r10") M10 => r10,
            inlateout("r12") M12 => r12,
            inlateout("r15") M15 => r15,
            lateout("rcx") _,
            lateout("r11") _,
            out("xmm0") _,
        );
    }
    ensure(
        HITS.load(Ordering::SeqCst) == 1,
        "the handler did not run once",
    )?;
    ensure(
        SEEN_SIG.load(Ordering::SeqCst) == sig::SIGUSR1,
        "signal argument or si_signo",
    )?;
    ensure(
        SEEN_CODE.load(Ordering::SeqCst) == 0,
        "si_code is not SI_USER",
    )?;
    ensure(
        SEEN_PID.load(Ordering::SeqCst) == pid,
        "si_pid is not the sender",
    )?;
    ensure(ALIGNED.load(Ordering::SeqCst), "the frame is misaligned")?;
    let inside = SEEN_MASK.load(Ordering::SeqCst);
    ensure(
        inside == bit(sig::SIGUSR1) | bit(sig::SIGUSR2),
        "the mask in the handler is not sa_mask | SIGUSR1",
    )?;
    ensure(
        SEEN_UC_MASK.load(Ordering::SeqCst) == 0,
        "uc_sigmask is not the old mask",
    )?;
    ensure(SEEN_R8.load(Ordering::SeqCst) == M8, "uc_mcontext.r8")?;
    ensure(rax == 0, "kill's result was lost")?;
    ensure(
        rdi == pid as u64 && rsi == u64::from(sig::SIGUSR1),
        "rdi/rsi",
    )?;
    ensure(
        rdx == MDX && r8 == M8 && r9 == M9 && r10 == M10,
        "rdx/r8/r9/r10",
    )?;
    ensure(r12 == M12 && r15 == M15, "r12/r15")?;
    ensure(xmm == MX, "xmm0 was not restored")?;
    ensure(mask_now() == 0, "the mask after the handler")?;
    // SA_RESETHAND: the second delivery uses the default action, which for
    // SIGURG (default ignore) is harmless.
    reset_seen();
    install(23, recording_handler, sig::SA_RESETHAND, 0)?;
    syscall::kill(pid, 23).map_err(|_| "kill SIGURG")?;
    syscall::kill(pid, 23).map_err(|_| "kill SIGURG")?;
    ensure(
        HITS.load(Ordering::SeqCst) == 1,
        "SA_RESETHAND: handler ran twice",
    )?;
    let mut old = SigAction::default();
    sig::sigaction(23, None, Some(&mut old)).map_err(|_| "sigaction query")?;
    ensure(old.handler == sig::SIG_DFL, "SA_RESETHAND did not reset")?;
    // tgkill and tkill reach the same handler with SI_TKILL.
    reset_seen();
    sig::tgkill(pid, pid, sig::SIGUSR1).map_err(|_| "tgkill")?;
    ensure(HITS.load(Ordering::SeqCst) == 1, "tgkill: no handler")?;
    ensure(
        SEEN_CODE.load(Ordering::SeqCst) == -6,
        "tgkill: si_code is not SI_TKILL",
    )?;
    sig::tkill(pid, sig::SIGUSR1).map_err(|_| "tkill")?;
    ensure(HITS.load(Ordering::SeqCst) == 2, "tkill: no handler")?;
    Ok(())
}

fn block() -> Check {
    reset_seen();
    install(sig::SIGUSR1, recording_handler, 0, 0)?;
    let pid = syscall::getpid();
    let old = sig::sigprocmask(sig::SIG_BLOCK, Some(bit(sig::SIGUSR1))).map_err(|_| "block")?;
    ensure(old == 0, "the initial mask is not empty")?;
    syscall::kill(pid, sig::SIGUSR1).map_err(|_| "kill")?;
    syscall::kill(pid, sig::SIGUSR1).map_err(|_| "kill")?;
    ensure(
        HITS.load(Ordering::SeqCst) == 0,
        "a blocked signal was delivered",
    )?;
    ensure(sig::sigpending() == Ok(bit(sig::SIGUSR1)), "rt_sigpending")?;
    // SIGKILL and SIGSTOP cannot be blocked: asking is silently ignored.
    sig::sigprocmask(sig::SIG_BLOCK, Some(bit(sig::SIGKILL) | bit(sig::SIGSTOP)))
        .map_err(|_| "block SIGKILL")?;
    ensure(
        mask_now() == bit(sig::SIGUSR1),
        "SIGKILL/SIGSTOP entered the mask",
    )?;
    sig::sigprocmask(sig::SIG_UNBLOCK, Some(bit(sig::SIGUSR1))).map_err(|_| "unblock")?;
    ensure(
        HITS.load(Ordering::SeqCst) == 1,
        "not delivered exactly once when unblocked",
    )?;
    ensure(sig::sigpending() == Ok(0), "still pending")?;
    // SIG_IGN discards a pending instance.
    sig::sigprocmask(sig::SIG_SETMASK, Some(bit(sig::SIGUSR2))).map_err(|_| "setmask")?;
    syscall::kill(pid, sig::SIGUSR2).map_err(|_| "kill")?;
    ensure(
        sig::sigpending() == Ok(bit(sig::SIGUSR2)),
        "SIGUSR2 pending",
    )?;
    sig::sigaction(
        sig::SIGUSR2,
        Some(&SigAction::disposition(sig::SIG_IGN, 0)),
        None,
    )
    .map_err(|_| "ignore")?;
    ensure(sig::sigpending() == Ok(0), "SIG_IGN did not discard")?;
    Ok(())
}

/// Records a fault and sends the program to `RECOVER`.
extern "C" fn fault_handler(signo: i32, info: *mut u8, uc: *mut u8) {
    HITS.fetch_add(1, Ordering::SeqCst);
    SEEN_SIG.store(signo, Ordering::SeqCst);
    SEEN_CODE.store(read::<i32>(info, SI_CODE), Ordering::SeqCst);
    SEEN_ADDR.store(read::<u64>(info, SI_ADDR), Ordering::SeqCst);
    SEEN_TRAP.store(read::<u64>(uc, MC_TRAPNO), Ordering::SeqCst);
    SEEN_ERR.store(read::<u64>(uc, MC_ERR), Ordering::SeqCst);
    SEEN_CR2.store(read::<u64>(uc, MC_CR2), Ordering::SeqCst);
    write::<u64>(uc, MC_RIP, RECOVER.load(Ordering::SeqCst) as u64);
}

fn segv() -> Check {
    reset_seen();
    install(sig::SIGSEGV, fault_handler, 0, 0)?;
    let flag: u64;
    // SAFETY: the store to 0x10 faults; the handler resumes at `2:`, with
    // rax as it was before the fault (0), skipping the `mov eax, 1`.
    unsafe {
        asm!(
            "lea rax, [rip + 2f]",
            "mov [{rec}], rax",
            "xor eax, eax",
            "mov byte ptr [{bad}], 1",
            "mov eax, 1",
            "2:",
            rec = in(reg) RECOVER.as_ptr(),
            bad = in(reg) 0x10usize,
            out("rax") flag,
        );
    }
    ensure(
        HITS.load(Ordering::SeqCst) == 1,
        "the SIGSEGV handler did not run once",
    )?;
    ensure(
        flag == 0,
        "the program did not resume where the handler said",
    )?;
    ensure(SEEN_SIG.load(Ordering::SeqCst) == sig::SIGSEGV, "signal")?;
    ensure(
        SEEN_CODE.load(Ordering::SeqCst) == 1,
        "si_code is not SEGV_MAPERR",
    )?;
    ensure(SEEN_ADDR.load(Ordering::SeqCst) == 0x10, "si_addr")?;
    ensure(SEEN_TRAP.load(Ordering::SeqCst) == 14, "trapno")?;
    ensure(SEEN_ERR.load(Ordering::SeqCst) & 2 != 0, "err: not a write")?;
    ensure(SEEN_CR2.load(Ordering::SeqCst) == 0x10, "cr2")?;
    ensure(mask_now() == 0, "the mask after the handler")?;
    Ok(())
}

extern "C" fn exiting_handler(_: i32, info: *mut u8, _: *mut u8) {
    let ok = read::<u64>(info, SI_ADDR) == 0x20 && read::<i32>(info, SI_CODE) == 1;
    syscall::exit_group(if ok { 0 } else { 3 })
}

fn segv_exit() -> Check {
    install(sig::SIGSEGV, exiting_handler, 0, 0)?;
    // SAFETY: faults on purpose; the handler exits the process.
    unsafe { asm!("mov byte ptr [{}], 1", in(reg) 0x20usize) };
    Err("the program went on after the fault")
}

fn ud2() -> Check {
    reset_seen();
    install(sig::SIGILL, fault_handler, 0, 0)?;
    let at: usize;
    // SAFETY: `ud2` raises SIGILL; the handler resumes at `2:`.
    unsafe {
        asm!(
            "lea rax, [rip + 2f]",
            "mov [{rec}], rax",
            "lea {at}, [rip + 3f]",
            "3:",
            "ud2",
            "2:",
            rec = in(reg) RECOVER.as_ptr(),
            at = out(reg) at,
            out("rax") _,
        );
    }
    ensure(
        HITS.load(Ordering::SeqCst) == 1,
        "the SIGILL handler did not run once",
    )?;
    ensure(SEEN_SIG.load(Ordering::SeqCst) == sig::SIGILL, "signal")?;
    ensure(
        SEEN_CODE.load(Ordering::SeqCst) == 2,
        "si_code is not ILL_ILLOPN",
    )?;
    ensure(
        SEEN_ADDR.load(Ordering::SeqCst) == at as u64,
        "si_addr is not the ud2",
    )?;
    ensure(SEEN_TRAP.load(Ordering::SeqCst) == 6, "trapno")?;
    Ok(())
}

/// Asks for IOPL 3, NT and ring-0 selectors on the way back.
extern "C" fn hostile_handler(_: i32, _: *mut u8, uc: *mut u8) {
    HITS.fetch_add(1, Ordering::SeqCst);
    let flags = read::<u64>(uc, MC_EFLAGS);
    write::<u64>(uc, MC_EFLAGS, flags | 0x3000 | 0x4000);
    write::<u16>(uc, MC_CS, 0x08);
    write::<u16>(uc, MC_SS, 0x10);
}

fn sanitize() -> Check {
    reset_seen();
    install(sig::SIGUSR1, hostile_handler, 0, 0)?;
    syscall::kill(syscall::getpid(), sig::SIGUSR1).map_err(|_| "kill")?;
    ensure(HITS.load(Ordering::SeqCst) == 1, "no handler")?;
    let flags: u64;
    let cs: u64;
    // SAFETY: reads RFLAGS and CS.
    unsafe {
        asm!("pushfq", "pop {f}", "mov {c:e}, cs", f = out(reg) flags, c = out(reg) cs);
    }
    ensure(flags & 0x3000 == 0, "IOPL came back from the frame")?;
    ensure(flags & 0x4000 == 0, "NT came back from the frame")?;
    ensure(flags & 0x200 != 0, "IF is off")?;
    ensure(cs & 3 == 3, "not in ring 3")?;
    Ok(())
}

static CHLD_CODES: AtomicU32 = AtomicU32::new(0);
static CHLD_PID: AtomicI32 = AtomicI32::new(0);
static CHLD_STATUS: AtomicI32 = AtomicI32::new(0);

extern "C" fn chld_handler(signo: i32, info: *mut u8, _: *mut u8) {
    if signo == sig::SIGCHLD {
        let code = read::<i32>(info, SI_CODE);
        CHLD_CODES.fetch_or(1 << code, Ordering::SeqCst);
        CHLD_PID.store(read::<i32>(info, SI_PID), Ordering::SeqCst);
        CHLD_STATUS.store(read::<i32>(info, SI_STATUS), Ordering::SeqCst);
    }
}

/// `wait4` again while a handler interrupts it.
fn wait_retry(pid: i32, options: i32) -> Result<(i32, i32), Errno> {
    loop {
        match syscall::wait4(pid, options) {
            Err(Errno::EINTR) => continue,
            r => return r,
        }
    }
}

/// A child that yields until it is killed.
fn spinning_child() -> Result<i32, &'static str> {
    match syscall::fork() {
        Ok(0) => loop {
            syscall::sched_yield();
        },
        Ok(pid) => Ok(pid),
        Err(_) => Err("fork failed"),
    }
}

fn stop() -> Check {
    install(sig::SIGCHLD, chld_handler, 0, 0)?;
    let child = spinning_child()?;
    syscall::kill(child, sig::SIGSTOP).map_err(|_| "kill SIGSTOP")?;
    let r = wait_retry(child, WUNTRACED);
    ensure(
        r == Ok((child, (i32::from(sig::SIGSTOP) << 8) | 0x7f)),
        "WUNTRACED status",
    )?;
    ensure(
        syscall::wait4(child, WUNTRACED | WNOHANG) == Ok((0, 0)),
        "a stop was reported twice",
    )?;
    syscall::kill(child, sig::SIGCONT).map_err(|_| "kill SIGCONT")?;
    let r = wait_retry(child, WCONTINUED);
    ensure(r == Ok((child, 0xffff)), "WCONTINUED status")?;
    // Stopped by SIGTSTP, it still dies of SIGTERM once continued... or
    // SIGKILL while stopped.
    syscall::kill(child, sig::SIGTSTP).map_err(|_| "kill SIGTSTP")?;
    let r = wait_retry(child, WUNTRACED);
    ensure(
        r == Ok((child, (i32::from(sig::SIGTSTP) << 8) | 0x7f)),
        "SIGTSTP status",
    )?;
    syscall::kill(child, sig::SIGTERM).map_err(|_| "kill SIGTERM")?;
    syscall::kill(child, sig::SIGCONT).map_err(|_| "kill SIGCONT")?;
    let r = wait_retry(child, 0);
    ensure(r == Ok((child, i32::from(sig::SIGTERM))), "killed status")?;
    let codes = CHLD_CODES.load(Ordering::SeqCst);
    ensure(codes & (1 << 5) != 0, "no SIGCHLD with CLD_STOPPED")?;
    ensure(codes & (1 << 6) != 0, "no SIGCHLD with CLD_CONTINUED")?;
    // The continue and the death just above post two SIGCHLDs in a row; a
    // standard signal does not queue, so the second may merge into the
    // first (on Linux too) when the child dies on another CPU before this
    // process took the first. CLD_KILLED is checked alone: one child, one
    // SIGCHLD.
    CHLD_CODES.store(0, Ordering::SeqCst);
    let child = spinning_child()?;
    syscall::kill(child, sig::SIGTERM).map_err(|_| "kill SIGTERM")?;
    let r = wait_retry(child, 0);
    ensure(r == Ok((child, i32::from(sig::SIGTERM))), "killed status")?;
    let codes = CHLD_CODES.load(Ordering::SeqCst);
    ensure(codes & (1 << 2) != 0, "no SIGCHLD with CLD_KILLED")?;
    ensure(CHLD_PID.load(Ordering::SeqCst) == child, "SIGCHLD si_pid")?;
    ensure(
        CHLD_STATUS.load(Ordering::SeqCst) == sig::SIGTERM,
        "SIGCHLD si_status",
    )?;
    // SA_NOCLDSTOP: no SIGCHLD for stops.
    install(sig::SIGCHLD, chld_handler, sig::SA_NOCLDSTOP, 0)?;
    CHLD_CODES.store(0, Ordering::SeqCst);
    let child = spinning_child()?;
    syscall::kill(child, sig::SIGSTOP).map_err(|_| "kill SIGSTOP")?;
    wait_retry(child, WUNTRACED).map_err(|_| "wait for the stop")?;
    ensure(
        CHLD_CODES.load(Ordering::SeqCst) == 0,
        "SIGCHLD despite SA_NOCLDSTOP",
    )?;
    syscall::kill(child, sig::SIGKILL).map_err(|_| "kill SIGKILL")?;
    let r = wait_retry(child, 0);
    ensure(
        r == Ok((child, i32::from(sig::SIGKILL))),
        "SIGKILL of a stopped child",
    )?;
    // An exit is CLD_EXITED with the code.
    let child = match syscall::fork() {
        Ok(0) => syscall::exit(7),
        Ok(pid) => pid,
        Err(_) => return Err("fork"),
    };
    ensure(wait_retry(child, 0) == Ok((child, 7 << 8)), "exit status")?;
    ensure(
        CHLD_CODES.load(Ordering::SeqCst) & (1 << 1) != 0,
        "no CLD_EXITED",
    )?;
    ensure(
        CHLD_STATUS.load(Ordering::SeqCst) == 7,
        "CLD_EXITED si_status",
    )?;
    Ok(())
}

/// A child that waits for signals until killed.
fn pausing_child() -> Result<i32, &'static str> {
    match syscall::fork() {
        Ok(0) => loop {
            sig::pause();
        },
        Ok(pid) => Ok(pid),
        Err(_) => Err("fork failed"),
    }
}

fn pgrp() -> Check {
    let me = syscall::getpid();
    // The kernel starts each program as a session and group leader.
    ensure(sig::getpgrp() == me, "getpgrp")?;
    ensure(sig::getpgid(0) == Ok(me), "getpgid(0)")?;
    ensure(sig::getsid(0) == Ok(me), "getsid(0)")?;
    ensure(sig::setsid() == Err(EPERM), "setsid of a group leader")?;
    ensure(
        sig::setpgid(0, 0) == Err(EPERM),
        "setpgid of a session leader",
    )?;
    ensure(sig::getpgid(99_998) == Err(ESRCH), "getpgid of nobody")?;
    ensure(sig::getsid(99_998) == Err(ESRCH), "getsid of nobody")?;
    ensure(
        sig::setpgid(99_998, 0) == Err(ESRCH),
        "setpgid of a non-child",
    )?;
    ensure(
        sig::setpgid(0, -1) == Err(Errno::EINVAL),
        "setpgid with pgid < 0",
    )?;

    let a = pausing_child()?;
    let b = pausing_child()?;
    let c = pausing_child()?;
    ensure(sig::getpgid(a) == Ok(me), "a child inherits the group")?;
    ensure(sig::getsid(a) == Ok(me), "a child inherits the session")?;
    sig::setpgid(a, 0).map_err(|_| "setpgid(a, 0)")?;
    sig::setpgid(b, a).map_err(|_| "setpgid(b, a)")?;
    ensure(
        sig::getpgid(a) == Ok(a) && sig::getpgid(b) == Ok(a),
        "the new group",
    )?;
    ensure(
        sig::setpgid(c, 99_997) == Err(EPERM),
        "a group that does not exist",
    )?;
    ensure(
        syscall::wait4(-a, WNOHANG) == Ok((0, 0)),
        "wait4(-pgid, WNOHANG) with members running",
    )?;
    // kill(-pgid) reaches a and b, not c.
    syscall::kill(-a, sig::SIGTERM).map_err(|_| "kill(-pgid)")?;
    let mut dead = 0;
    for _ in 0..2 {
        let (pid, status) = wait_retry(-a, 0).map_err(|_| "wait4(-pgid)")?;
        ensure(pid == a || pid == b, "wait4(-pgid) reaped a stranger")?;
        ensure(status == sig::SIGTERM, "group member status")?;
        dead += 1;
    }
    ensure(dead == 2, "two members")?;
    ensure(
        syscall::wait4(-a, WNOHANG) == Err(Errno::ECHILD),
        "group empty",
    )?;
    ensure(syscall::kill(-a, 0) == Err(ESRCH), "kill of an empty group")?;
    ensure(syscall::wait4(c, WNOHANG) == Ok((0, 0)), "c survived")?;
    // wait4(0): the caller's group, which c is still in.
    syscall::kill(c, sig::SIGKILL).map_err(|_| "kill c")?;
    ensure(
        wait_retry(0, 0) == Ok((c, i32::from(sig::SIGKILL))),
        "wait4(0)",
    )?;

    // A child may start its own session; then it cannot be moved.
    let d = match syscall::fork() {
        Ok(0) => {
            let me = syscall::getpid();
            let ok = sig::setsid() == Ok(me)
                && sig::getsid(0) == Ok(me)
                && sig::getpgrp() == me
                && sig::setsid() == Err(EPERM);
            if !ok {
                syscall::exit(1);
            }
            loop {
                sig::pause();
            }
        }
        Ok(pid) => pid,
        Err(_) => return Err("fork"),
    };
    // Wait for the child's setsid to happen.
    while sig::getsid(d) != Ok(d) {
        if syscall::wait4(d, WNOHANG) != Ok((0, 0)) {
            return Err("the setsid child failed");
        }
        syscall::sched_yield();
    }
    ensure(
        sig::setpgid(d, me) == Err(EPERM),
        "setpgid into another session",
    )?;
    syscall::kill(d, sig::SIGKILL).map_err(|_| "kill d")?;
    ensure(
        wait_retry(d, 0) == Ok((d, i32::from(sig::SIGKILL))),
        "d's status",
    )?;
    Ok(())
}

fn eintr() -> Check {
    reset_seen();
    install(sig::SIGUSR1, recording_handler, 0, 0)?;
    let child = match syscall::fork() {
        Ok(0) => loop {
            let _ = syscall::kill(syscall::getppid(), sig::SIGUSR1);
            syscall::sched_yield();
        },
        Ok(pid) => pid,
        Err(_) => return Err("fork"),
    };
    ensure(
        syscall::wait4(child, 0) == Err(Errno::EINTR),
        "wait4 not interrupted",
    )?;
    ensure(HITS.load(Ordering::SeqCst) >= 1, "no handler ran")?;
    ensure(sig::pause() == Errno::EINTR, "pause")?;
    syscall::kill(child, sig::SIGKILL).map_err(|_| "kill")?;
    ensure(
        wait_retry(child, 0) == Ok((child, i32::from(sig::SIGKILL))),
        "status",
    )?;
    Ok(())
}

fn restart() -> Check {
    reset_seen();
    install(sig::SIGUSR1, recording_handler, sig::SA_RESTART, 0)?;
    let child = match syscall::fork() {
        Ok(0) => {
            for _ in 0..200 {
                let _ = syscall::kill(syscall::getppid(), sig::SIGUSR1);
                syscall::sched_yield();
            }
            syscall::exit(5)
        }
        Ok(pid) => pid,
        Err(_) => return Err("fork"),
    };
    let r = syscall::wait4(child, 0);
    ensure(
        r != Err(Errno::EINTR),
        "wait4 failed with EINTR despite SA_RESTART",
    )?;
    ensure(r == Ok((child, 5 << 8)), "child status")?;
    ensure(HITS.load(Ordering::SeqCst) >= 1, "no handler ran")?;
    Ok(())
}

fn restart_stop() -> Check {
    let child = spinning_child()?;
    println!("sigtest restart-stop: waiting for {child}");
    match syscall::wait4(child, 0) {
        Ok((pid, status)) if pid == child && status == sig::SIGKILL => Ok(()),
        Err(Errno::EINTR) => Err("wait4 failed with EINTR after a stop and continue"),
        _ => Err("wait4: unexpected result"),
    }
}

fn sigsuspend() -> Check {
    reset_seen();
    install(sig::SIGUSR1, recording_handler, 0, 0)?;
    sig::sigprocmask(sig::SIG_SETMASK, Some(bit(sig::SIGUSR1))).map_err(|_| "block")?;
    let child = match syscall::fork() {
        Ok(0) => {
            let _ = syscall::kill(syscall::getppid(), sig::SIGUSR1);
            syscall::exit(0)
        }
        Ok(pid) => pid,
        Err(_) => return Err("fork"),
    };
    ensure(sig::sigsuspend(0) == Errno::EINTR, "rt_sigsuspend")?;
    ensure(
        HITS.load(Ordering::SeqCst) == 1,
        "the handler did not run once",
    )?;
    ensure(
        SEEN_UC_MASK.load(Ordering::SeqCst) == bit(sig::SIGUSR1),
        "uc_sigmask is not the mask before rt_sigsuspend",
    )?;
    ensure(
        mask_now() == bit(sig::SIGUSR1),
        "the old mask did not come back",
    )?;
    ensure(wait_retry(child, 0) == Ok((child, 0)), "child status")?;
    Ok(())
}

fn autoreap() -> Check {
    sig::sigaction(
        sig::SIGCHLD,
        Some(&SigAction::disposition(sig::SIG_IGN, 0)),
        None,
    )
    .map_err(|_| "ignore SIGCHLD")?;
    let child = match syscall::fork() {
        Ok(0) => syscall::exit(3),
        Ok(pid) => pid,
        Err(_) => return Err("fork"),
    };
    // Waits until the child is gone, then ECHILD: it was never a zombie
    // for us to reap.
    ensure(
        syscall::wait4(-1, 0) == Err(Errno::ECHILD),
        "wait4 with SIGCHLD ignored",
    )?;
    ensure(
        syscall::kill(child, 0) == Err(ESRCH),
        "the child still exists",
    )?;
    Ok(())
}

const ALT_SIZE: usize = 16 * 1024;
static mut ALT_STACK: [u8; ALT_SIZE] = [0; ALT_SIZE];
static ALT_OK: AtomicU32 = AtomicU32::new(0);

extern "C" fn altstack_handler(_: i32, _: *mut u8, _: *mut u8) {
    let local = 0u8;
    let here = core::hint::black_box(&local) as *const u8 as usize;
    let base = (&raw const ALT_STACK) as usize;
    let mut ok = 0;
    if here > base && here < base + ALT_SIZE {
        ok |= 1;
    }
    let mut old = Stack::default();
    if sig::sigaltstack(None, Some(&mut old)).is_ok()
        && old.flags == sig::SS_ONSTACK
        && old.sp == base
    {
        ok |= 2;
    }
    let new = Stack {
        sp: base,
        flags: 0,
        size: ALT_SIZE,
    };
    if sig::sigaltstack(Some(&new), None) == Err(EPERM) {
        ok |= 4;
    }
    ALT_OK.store(ok, Ordering::SeqCst);
}

fn altstack() -> Check {
    let base = (&raw const ALT_STACK) as usize;
    let small = Stack {
        sp: base,
        flags: 0,
        size: 100,
    };
    ensure(
        sig::sigaltstack(Some(&small), None) == Err(ENOMEM),
        "a tiny stack",
    )?;
    let stack = Stack {
        sp: base,
        flags: 0,
        size: ALT_SIZE,
    };
    sig::sigaltstack(Some(&stack), None).map_err(|_| "sigaltstack")?;
    install(sig::SIGUSR1, altstack_handler, sig::SA_ONSTACK, 0)?;
    syscall::kill(syscall::getpid(), sig::SIGUSR1).map_err(|_| "kill")?;
    let ok = ALT_OK.load(Ordering::SeqCst);
    ensure(
        ok & 1 != 0,
        "the handler did not run on the alternate stack",
    )?;
    ensure(ok & 2 != 0, "sigaltstack did not report SS_ONSTACK")?;
    ensure(ok & 4 != 0, "changing the stack while on it was not EPERM")?;
    let mut old = Stack::default();
    sig::sigaltstack(None, Some(&mut old)).map_err(|_| "query")?;
    ensure(
        old.flags == 0 && old.sp == base && old.size == ALT_SIZE,
        "after",
    )?;
    let off = Stack {
        flags: sig::SS_DISABLE,
        ..Stack::default()
    };
    sig::sigaltstack(Some(&off), None).map_err(|_| "disable")?;
    sig::sigaltstack(None, Some(&mut old)).map_err(|_| "query")?;
    ensure(old.flags == sig::SS_DISABLE, "disabled")?;
    Ok(())
}

/// A raw system call with up to four arguments. Only for calls whose
/// pointer arguments are ours and live across the call, or deliberately
/// bad (the kernel must refuse them with `EFAULT`).
fn call4(n: u64, a: usize, b: usize, c: usize, d: usize) -> Result<usize, Errno> {
    // SAFETY: the callers pass pointers to their own live buffers or
    // invalid addresses the kernel checks (module docs of `errors`).
    unsafe { syscall::call(n, &[a, b, c, d]) }
}

fn call3(n: u64, a: usize, b: usize, c: usize) -> Result<usize, Errno> {
    call4(n, a, b, c, 0)
}

fn call2(n: u64, a: usize, b: usize) -> Result<usize, Errno> {
    // SAFETY: as `call4`.
    unsafe { syscall::call(n, &[a, b]) }
}

/// One row of the error matrix: name, got, want.
type Case = (&'static str, Result<usize, Errno>, Result<usize, Errno>);

fn errors() -> Check {
    use sig::nr::*;
    use tine_rt::syscall::nr::KILL;
    let einval = Err(Errno::EINVAL);
    let efault = Err(EFAULT);
    let act = SigAction::handler(recording_handler, 0, 0);
    let a = &act as *const SigAction as usize;
    let mut buf = [0u64; 4];
    let b = buf.as_mut_ptr() as usize;
    let pid = syscall::getpid();
    let cases: [Case; 27] = [
        ("sigaction SIGKILL", call4(RT_SIGACTION, 9, a, 0, 8), einval),
        (
            "sigaction SIGSTOP",
            call4(RT_SIGACTION, 19, a, 0, 8),
            einval,
        ),
        ("sigaction 0", call4(RT_SIGACTION, 0, a, 0, 8), einval),
        ("sigaction 65", call4(RT_SIGACTION, 65, a, 0, 8), einval),
        ("sigaction size 4", call4(RT_SIGACTION, 10, a, 0, 4), einval),
        (
            "sigaction query SIGKILL",
            call4(RT_SIGACTION, 9, 0, b, 8),
            Ok(0),
        ),
        (
            "sigaction bad act",
            call4(RT_SIGACTION, 10, 1, 0, 8),
            efault,
        ),
        (
            "sigaction bad oact",
            call4(RT_SIGACTION, 10, 0, 1, 8),
            efault,
        ),
        (
            "sigprocmask how 7",
            call4(RT_SIGPROCMASK, 7, b, 0, 8),
            einval,
        ),
        (
            "sigprocmask size 16",
            call4(RT_SIGPROCMASK, 0, b, 0, 16),
            einval,
        ),
        (
            "sigprocmask bad set",
            call4(RT_SIGPROCMASK, 0, 1, 0, 8),
            efault,
        ),
        (
            "sigprocmask bad oset",
            call4(RT_SIGPROCMASK, 0, 0, 1, 8),
            efault,
        ),
        ("sigpending size 9", call2(RT_SIGPENDING, b, 9), einval),
        ("sigpending bad set", call2(RT_SIGPENDING, 1, 8), efault),
        ("sigsuspend size 4", call2(RT_SIGSUSPEND, b, 4), einval),
        ("sigsuspend bad mask", call2(RT_SIGSUSPEND, 1, 8), efault),
        ("sigaltstack bad ss", call2(SIGALTSTACK, 1, 0), efault),
        ("sigaltstack bad old", call2(SIGALTSTACK, 0, 1), efault),
        ("kill 65", call2(KILL, pid as usize, 65), einval),
        ("kill -3 sig", call2(KILL, pid as usize, usize::MAX), einval),
        ("kill nobody", call2(KILL, 99_998, 0), Err(ESRCH)),
        ("kill self 0", call2(KILL, pid as usize, 0), Ok(0)),
        (
            "kill group nobody",
            call2(KILL, -99_998i32 as usize, 0),
            Err(ESRCH),
        ),
        ("tkill 0", call2(TKILL, 0, 0), einval),
        ("tgkill tgid 0", call3(TGKILL, 0, pid as usize, 0), einval),
        (
            "tgkill other tgid",
            call3(TGKILL, pid as usize + 1, pid as usize, 0),
            Err(ESRCH),
        ),
        (
            "tgkill self 0",
            call3(TGKILL, pid as usize, pid as usize, 0),
            Ok(0),
        ),
    ];
    let mut ok = true;
    for (name, got, want) in cases {
        if got != want {
            eprintln!("sigtest errors: {name}: {got:?}, want {want:?}");
            ok = false;
        }
    }
    // sigaltstack's flag and size checks (pointers good).
    let bad_flags = Stack {
        sp: b,
        flags: 0x40,
        size: 4096,
    };
    if sig::sigaltstack(Some(&bad_flags), None) != Err(Errno::EINVAL) {
        eprintln!("sigtest errors: sigaltstack bad flags not EINVAL");
        ok = false;
    }
    // Nothing above changed the SIGUSR1 action (bad act) or the mask.
    let mut old = SigAction::default();
    if sig::sigaction(sig::SIGUSR1, None, Some(&mut old)).is_err() || old.handler != sig::SIG_DFL {
        eprintln!("sigtest errors: a refused sigaction changed the action");
        ok = false;
    }
    if mask_now() != 0 {
        eprintln!("sigtest errors: a refused sigprocmask changed the mask");
        ok = false;
    }
    let _ = buf;
    ensure(ok, "see above")
}

fn kill_self() -> Check {
    let _ = syscall::kill(syscall::getpid(), sig::SIGTERM);
    Err("survived SIGTERM")
}

fn segv_blocked() -> Check {
    sig::sigprocmask(sig::SIG_BLOCK, Some(bit(sig::SIGSEGV))).map_err(|_| "block")?;
    install(sig::SIGSEGV, fault_handler, 0, 0)?;
    // Blocked: the fault is forced to the default action anyway.
    // SAFETY: faults on purpose.
    unsafe { asm!("mov byte ptr [{}], 1", in(reg) 0x30usize) };
    Err("survived a blocked SIGSEGV")
}

fn badstack() -> Check {
    install(sig::SIGUSR1, recording_handler, 0, 0)?;
    let pid = syscall::getpid();
    // SAFETY: kill(getpid(), SIGUSR1) with rsp pointing at unmapped
    // memory: the kernel cannot write the frame and must kill us with
    // SIGSEGV; nothing after the syscall runs.
    unsafe {
        asm!(
            "mov rsp, 0x1000",
            "syscall",
            "ud2",
            in("rax") tine_rt::syscall::nr::KILL,
            in("rdi") pid,
            in("rsi") usize::from(sig::SIGUSR1),
            options(noreturn),
        );
    }
}

fn badsigreturn() -> Check {
    // SAFETY: rt_sigreturn with rsp at unmapped memory: no frame to read,
    // the kernel kills us with SIGSEGV.
    unsafe {
        asm!(
            "mov rsp, 0x1000",
            "syscall",
            "ud2",
            in("rax") sig::nr::RT_SIGRETURN,
            options(noreturn),
        );
    }
}
