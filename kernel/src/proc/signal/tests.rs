//! Host tests of the pure signal logic: sets, the default-action table,
//! actions, the queue's posting rules, siginfo and the frame layout
//! against Linux's documented offsets, and the sanitising of a restored
//! frame.

use arch::user::UserContext;

use super::frame::{self, FrameArgs, TrapRegs};
use super::*;
use abi::Errno;

#[test]
fn signal_numbers_and_sets() {
    assert_eq!(Signal::new(0), None);
    assert_eq!(Signal::new(65), None);
    assert_eq!(Signal::new(64), Some(SIGRTMAX));
    assert_eq!(SIGINT.bit(), 1 << 1);
    assert_eq!(SIGRTMAX.bit(), 1 << 63);
    assert_eq!(SIGKILL.number(), 9);
    assert_eq!(SIGCHLD.number(), 17);
    assert_eq!(SIGSTOP.number(), 19);
    assert_eq!(alloc::format!("{SIGSEGV}"), "SIGSEGV");
    assert_eq!(alloc::format!("{}", Signal::new(34).unwrap()), "SIGRTMIN+2");

    let mut set = SigSet::EMPTY;
    assert_eq!(set.lowest(), None);
    set.add(SIGUSR2);
    set.add(SIGINT);
    set.add(SIGRTMAX);
    assert!(set.contains(SIGINT) && set.contains(SIGUSR2) && !set.contains(SIGUSR1));
    assert_eq!(set.lowest(), Some(SIGINT));
    set.remove(SIGINT);
    assert_eq!(set.lowest(), Some(SIGUSR2));
    assert!(!SigSet(u64::MAX).blockable().contains(SIGKILL));
    assert!(!SigSet(u64::MAX).blockable().contains(SIGSTOP));
    assert_eq!(SigSet(u64::MAX).blockable().0.count_ones(), 62);
    assert_eq!(SigSet::of(SIGTERM).union(SigSet::of(SIGHUP)).0, 0x4001);
    assert_eq!(SigSet(0b111).minus(SigSet(0b010)), SigSet(0b101));
    assert_eq!(SigSet(0b110).intersect(SigSet(0b011)), SigSet(0b010));
}

#[test]
fn default_actions_are_linuxs() {
    use DefaultAction::*;
    let table: [(Signal, DefaultAction); 31] = [
        (SIGHUP, Terminate),
        (SIGINT, Terminate),
        (SIGQUIT, CoreDump),
        (SIGILL, CoreDump),
        (SIGTRAP, CoreDump),
        (SIGABRT, CoreDump),
        (SIGBUS, CoreDump),
        (SIGFPE, CoreDump),
        (SIGKILL, Terminate),
        (SIGUSR1, Terminate),
        (SIGSEGV, CoreDump),
        (SIGUSR2, Terminate),
        (SIGPIPE, Terminate),
        (SIGALRM, Terminate),
        (SIGTERM, Terminate),
        (SIGSTKFLT, Terminate),
        (SIGCHLD, Ignore),
        (SIGCONT, Continue),
        (SIGSTOP, Stop),
        (SIGTSTP, Stop),
        (SIGTTIN, Stop),
        (SIGTTOU, Stop),
        (SIGURG, Ignore),
        (SIGXCPU, CoreDump),
        (SIGXFSZ, CoreDump),
        (SIGVTALRM, Terminate),
        (SIGPROF, Terminate),
        (SIGWINCH, Ignore),
        (SIGIO, Terminate),
        (SIGPWR, Terminate),
        (SIGSYS, CoreDump),
    ];
    for (i, (sig, action)) in table.iter().enumerate() {
        assert_eq!(sig.number() as usize, i + 1);
        assert_eq!(default_action(*sig), *action, "{sig}");
    }
    for n in 32..=64 {
        assert_eq!(default_action(Signal::new(n).unwrap()), Terminate);
    }
    assert!(SIGTSTP.is_stop() && !SIGCONT.is_stop());
}

#[test]
fn sigaction_round_trips_and_dispositions() {
    let act = SigAction {
        handler: 0x40_1000,
        flags: sa::SIGINFO | sa::RESTORER,
        restorer: 0x40_2000,
        mask: SigSet::of(SIGUSR1),
    };
    let bytes = act.to_bytes();
    assert_eq!(&bytes[0..8], &0x40_1000u64.to_le_bytes());
    assert_eq!(&bytes[8..16], &(sa::SIGINFO | sa::RESTORER).to_le_bytes());
    assert_eq!(&bytes[16..24], &0x40_2000u64.to_le_bytes());
    assert_eq!(SigAction::from_bytes(&bytes), act);
    // A mask cannot hold SIGKILL or SIGSTOP.
    let mut raw = bytes;
    raw[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(
        SigAction::from_bytes(&raw).mask,
        SigSet(u64::MAX).blockable()
    );

    assert_eq!(act.disposition(SIGUSR1), Disposition::Catch(act));
    assert_eq!(
        act.disposition(SIGKILL),
        Disposition::Default(DefaultAction::Terminate),
        "SIGKILL cannot be caught"
    );
    let ign = SigAction {
        handler: SIG_IGN,
        ..SigAction::default()
    };
    assert_eq!(ign.disposition(SIGINT), Disposition::Ignore);
    assert!(ign.ignores(SIGINT));
    assert!(!ign.ignores(SIGSTOP), "SIGSTOP cannot be ignored");
    assert!(SigAction::default().ignores(SIGCHLD));
    assert!(SigAction::default().ignores(SIGCONT));
    assert!(!SigAction::default().ignores(SIGTERM));
}

#[test]
fn exec_resets_caught_signals_and_keeps_ignored_ones() {
    let mut actions = SigActions::new();
    let caught = SigAction {
        handler: 0x40_1000,
        flags: sa::RESTORER | sa::RESTART,
        restorer: 0x40_2000,
        mask: SigSet::of(SIGINT),
    };
    let ignored = SigAction {
        handler: SIG_IGN,
        flags: sa::RESTART,
        ..SigAction::default()
    };
    actions.set(SIGUSR1, caught);
    actions.set(SIGINT, ignored);
    let child = actions.fork_copy();
    assert_eq!(child, actions, "fork copies every action");
    actions.reset_caught();
    assert_eq!(actions.get(SIGUSR1), SigAction::default());
    assert_eq!(actions.get(SIGINT).handler, SIG_IGN);
    assert!(actions.ignored().contains(SIGINT));
    assert!(actions.ignored().contains(SIGCHLD), "default-ignored");
    assert!(!actions.ignored().contains(SIGUSR1));
    assert_eq!(child.get(SIGUSR1), caught, "the copy is independent");
}

#[test]
fn posting_follows_linuxs_rules() {
    let dfl = SigAction::default();
    let mut q = SigQueue::default();
    // An ignored signal that is not blocked is discarded.
    assert_eq!(
        q.post(SIGCHLD, SigInfo::kernel(SIGCHLD), &dfl),
        Posted::Discarded
    );
    assert!(q.pending.is_empty());
    // Blocked, it stays pending; unblocking discards it if ignored.
    q.blocked.add(SIGCHLD);
    assert_eq!(
        q.post(SIGCHLD, SigInfo::kernel(SIGCHLD), &dfl),
        Posted::Pending
    );
    assert_eq!(q.deliverable(), SigSet::EMPTY);
    q.set_blocked(SigSet::EMPTY, SigSet::of(SIGCHLD));
    assert!(q.pending.is_empty());

    // A standard signal keeps the siginfo of its first instance.
    assert_eq!(
        q.post(SIGUSR1, SigInfo::user(SIGUSR1, 5), &dfl),
        Posted::Pending
    );
    assert_eq!(
        q.post(SIGUSR1, SigInfo::user(SIGUSR1, 6), &dfl),
        Posted::Discarded
    );
    assert_eq!(q.take(SIGUSR1).pid, 5);
    assert!(q.pending.is_empty());

    // Delivery order: SIGKILL, then faults, then the lowest number.
    q.post(SIGTERM, SigInfo::kernel(SIGTERM), &dfl);
    q.post(SIGSEGV, SigInfo::kernel(SIGSEGV), &dfl);
    q.post(SIGHUP, SigInfo::kernel(SIGHUP), &dfl);
    assert_eq!(q.next(), Some(SIGSEGV));
    q.post(SIGKILL, SigInfo::kernel(SIGKILL), &dfl);
    assert_eq!(q.next(), Some(SIGKILL));
    q.take(SIGKILL);
    q.take(SIGSEGV);
    assert_eq!(q.next(), Some(SIGHUP));
    // A blocked signal waits; SIGKILL cannot be blocked.
    q.set_blocked(SigSet(u64::MAX), SigSet::EMPTY);
    assert_eq!(q.next(), None);
    assert!(!q.blocked.contains(SIGKILL));
    q.post(SIGKILL, SigInfo::kernel(SIGKILL), &dfl);
    assert_eq!(q.next(), Some(SIGKILL));
}

#[test]
fn a_mask_change_alone_only_when_nothing_pending_gets_through() {
    let dfl = SigAction::default();
    let mut q = SigQueue::default();
    // Nothing pending: any mask, alone (SIGKILL and SIGSTOP kept out).
    assert!(q.set_blocked_alone(SigSet(u64::MAX), SigSet::EMPTY));
    assert!(!q.blocked.contains(SIGKILL) && q.blocked.contains(SIGUSR1));
    assert!(q.set_blocked_alone(SigSet::EMPTY, SigSet::EMPTY));
    assert!(q.blocked.is_empty());

    // A pending signal of the thread's that the new mask lets through:
    // not alone, nothing changed.
    q.blocked = SigSet::of(SIGUSR1);
    q.post(SIGUSR1, SigInfo::kernel(SIGUSR1), &dfl);
    assert!(!q.set_blocked_alone(SigSet::EMPTY, SigSet::EMPTY));
    assert_eq!(q.blocked, SigSet::of(SIGUSR1));
    // Still blocked by the new mask: alone.
    assert!(q.set_blocked_alone(
        SigSet::of(SIGUSR1).union(SigSet::of(SIGUSR2)),
        SigSet::EMPTY
    ));
    q.take(SIGUSR1);

    // The process's pending set counts the same way.
    q.blocked = SigSet::of(SIGTERM);
    assert!(!q.set_blocked_alone(SigSet::EMPTY, SigSet::of(SIGTERM)));
    assert_eq!(q.blocked, SigSet::of(SIGTERM));
    assert!(q.set_blocked_alone(SigSet::of(SIGTERM), SigSet::of(SIGTERM)));

    // A process signal routed to the thread that the new mask blocks
    // goes back: not alone.
    q.blocked = SigSet::EMPTY;
    q.post(SIGHUP, SigInfo::kernel(SIGHUP), &dfl);
    q.routed.add(SIGHUP);
    assert!(!q.set_blocked_alone(SigSet::of(SIGHUP), SigSet::EMPTY));
    assert!(q.blocked.is_empty());
}

#[test]
fn sigcont_and_stop_signals_cancel_each_other() {
    let dfl = SigAction::default();
    let mut q = SigQueue::default();
    q.post(SIGTSTP, SigInfo::kernel(SIGTSTP), &dfl);
    assert!(q.pending.contains(SIGTSTP));
    // SIGCONT (default: not queued) removes pending stop signals.
    assert_eq!(
        q.post(SIGCONT, SigInfo::kernel(SIGCONT), &dfl),
        Posted::Discarded
    );
    assert!(q.pending.is_empty());
    // Caught SIGCONT is queued; a stop signal removes it.
    let caught = SigAction {
        handler: 0x1000,
        flags: sa::RESTORER,
        ..SigAction::default()
    };
    assert_eq!(
        q.post(SIGCONT, SigInfo::kernel(SIGCONT), &caught),
        Posted::Pending
    );
    q.post(SIGSTOP, SigInfo::kernel(SIGSTOP), &dfl);
    assert!(!q.pending.contains(SIGCONT) && q.pending.contains(SIGSTOP));
    // A stopped process is continued by SIGCONT, and wait4 can tell.
    q.take(SIGSTOP);
    q.stop_dequeued = true;
    q.stopped = true;
    q.report = Some(JobReport::Stopped(SIGSTOP));
    assert!(q.has_report(true, false));
    assert!(!q.has_report(false, true));
    assert_eq!(
        q.post(SIGCONT, SigInfo::kernel(SIGCONT), &dfl),
        Posted::Continued { pending: false }
    );
    assert!(!q.stopped && !q.stop_dequeued);
    assert_eq!(
        q.take_report(true, false),
        None,
        "the stop was not reported"
    );
    assert_eq!(q.take_report(false, true), Some(JobReport::Continued));
    assert_eq!(q.take_report(false, true), None, "reported once");
    assert_eq!(JobReport::Stopped(SIGTSTP).wait_status(), (20 << 8) | 0x7f);
    assert_eq!(JobReport::Continued.wait_status(), 0xffff);
}

#[test]
fn fork_copy_keeps_the_mask_not_the_pending_set() {
    let mut q = SigQueue {
        blocked: SigSet::of(SIGINT),
        ..SigQueue::default()
    };
    q.post(SIGINT, SigInfo::kernel(SIGINT), &SigAction::default());
    q.altstack = AltStack {
        sp: 0x1000,
        size: 0x4000,
        autodisarm: false,
        enabled: true,
    };
    let child = q.fork_copy();
    assert_eq!(child.blocked, q.blocked);
    assert!(child.pending.is_empty());
    assert_eq!(child.altstack, q.altstack);
}

#[test]
fn siginfo_layout_is_linuxs() {
    let b = SigInfo::fault(SIGSEGV, code::SEGV_MAPERR, 0xdead_b000).to_bytes();
    assert_eq!(b.len(), 128);
    assert_eq!(i32::from_le_bytes(b[0..4].try_into().unwrap()), 11);
    assert_eq!(i32::from_le_bytes(b[4..8].try_into().unwrap()), 0);
    assert_eq!(i32::from_le_bytes(b[8..12].try_into().unwrap()), 1);
    assert_eq!(
        u64::from_le_bytes(b[16..24].try_into().unwrap()),
        0xdead_b000
    );
    let b = SigInfo::child(SIGCHLD, code::CLD_EXITED, 42, 3).to_bytes();
    assert_eq!(i32::from_le_bytes(b[0..4].try_into().unwrap()), 17);
    assert_eq!(i32::from_le_bytes(b[8..12].try_into().unwrap()), 1);
    assert_eq!(u32::from_le_bytes(b[16..20].try_into().unwrap()), 42);
    assert_eq!(
        u32::from_le_bytes(b[20..24].try_into().unwrap()),
        0,
        "si_uid"
    );
    assert_eq!(i32::from_le_bytes(b[24..28].try_into().unwrap()), 3);
    let b = SigInfo::tkill(SIGUSR1, 7).to_bytes();
    assert_eq!(i32::from_le_bytes(b[8..12].try_into().unwrap()), -6);
    assert_eq!(u32::from_le_bytes(b[16..20].try_into().unwrap()), 7);
}

#[test]
fn altstack_parsing_and_reporting() {
    let mut raw = [0u8; AltStack::SIZE];
    raw[0..8].copy_from_slice(&0x10_0000u64.to_le_bytes());
    raw[16..24].copy_from_slice(&0x1000u64.to_le_bytes());
    let alt = AltStack::from_bytes(&raw).unwrap();
    assert!(alt.enabled && alt.contains(0x10_0800) && !alt.contains(0x10_0000));
    assert!(alt.contains(0x10_1000) && !alt.contains(0x10_1001));
    assert_eq!(&alt.to_bytes(0x10_0800)[8..12], &ss::ONSTACK.to_le_bytes());
    assert_eq!(&alt.to_bytes(0x20_0000)[8..12], &0i32.to_le_bytes());
    raw[16..24].copy_from_slice(&100u64.to_le_bytes());
    assert_eq!(AltStack::from_bytes(&raw), Err(Errno::ENOMEM));
    raw[8..12].copy_from_slice(&ss::DISABLE.to_le_bytes());
    assert_eq!(AltStack::from_bytes(&raw), Ok(AltStack::default()));
    assert_eq!(
        &AltStack::default().to_bytes(0)[8..12],
        &ss::DISABLE.to_le_bytes()
    );
    raw[8..12].copy_from_slice(&0x40i32.to_le_bytes());
    assert_eq!(AltStack::from_bytes(&raw), Err(Errno::EINVAL));
}

/// Linux's `struct rt_sigframe` for x86-64 (arch/x86/include/asm/sigframe.h,
/// uapi asm/sigcontext.h and asm/ucontext.h), offsets from the frame.
#[test]
fn frame_offsets_are_linuxs() {
    assert_eq!(frame::FRAME_SIZE, 440);
    assert_eq!(frame::UC, 8);
    assert_eq!(frame::UC_STACK, 24);
    assert_eq!(frame::MCONTEXT, 48);
    assert_eq!(frame::UC_SIGMASK, 304);
    assert_eq!(frame::INFO, 312);
    assert_eq!(frame::INFO + SigInfo::SIZE, frame::FRAME_SIZE);
    assert_eq!(frame::sc::SIZE, 256);
    assert_eq!(frame::MCONTEXT + frame::sc::SIZE, frame::UC_SIGMASK);
    // gregs order of glibc/musl's mcontext_t: REG_R8 = 0 .. REG_CR2 = 22.
    let order = [
        frame::sc::R8,
        frame::sc::R9,
        frame::sc::R10,
        frame::sc::R11,
        frame::sc::R12,
        frame::sc::R13,
        frame::sc::R14,
        frame::sc::R15,
        frame::sc::RDI,
        frame::sc::RSI,
        frame::sc::RBP,
        frame::sc::RBX,
        frame::sc::RDX,
        frame::sc::RAX,
        frame::sc::RCX,
        frame::sc::RSP,
        frame::sc::RIP,
        frame::sc::EFLAGS,
        frame::sc::CS,
        frame::sc::ERR,
        frame::sc::TRAPNO,
        frame::sc::OLDMASK,
        frame::sc::CR2,
    ];
    for (i, off) in order.iter().enumerate() {
        assert_eq!(*off, i * 8, "greg {i}");
    }
    assert_eq!(frame::sc::FPSTATE, 23 * 8);
}

#[test]
fn frame_placement_skips_the_red_zone_and_aligns() {
    for rsp in [0x7fff_ffff_e000u64, 0x7fff_ffff_dff8, 0x7fff_ffff_dfc3] {
        let (f, fp) = frame::layout(rsp, false).unwrap();
        assert_eq!((f + 8) % 16, 0, "handler entry alignment for {rsp:#x}");
        assert_eq!(fp % 64, 0);
        assert!(fp + frame::FPSTATE_SIZE as u64 <= rsp - frame::RED_ZONE);
        assert!(f + frame::FRAME_SIZE as u64 <= fp);
    }
    let (f, fp) = frame::layout(0x10_1000, true).unwrap();
    assert!(
        fp + 512 <= 0x10_1000,
        "no red zone on a fresh alternate stack"
    );
    assert_eq!((f + 8) % 16, 0);
    assert_eq!(frame::layout(100, false), None);
}

fn sample_ctx() -> UserContext {
    let mut ctx = UserContext::new(0x40_1234, 0x7fff_ffff_e000);
    let regs = [
        &mut ctx.rax,
        &mut ctx.rbx,
        &mut ctx.rcx,
        &mut ctx.rdx,
        &mut ctx.rsi,
        &mut ctx.rdi,
        &mut ctx.rbp,
        &mut ctx.r8,
        &mut ctx.r9,
        &mut ctx.r10,
        &mut ctx.r11,
        &mut ctx.r12,
        &mut ctx.r13,
        &mut ctx.r14,
        &mut ctx.r15,
    ];
    for (i, r) in regs.into_iter().enumerate() {
        *r = 0x1111_0000 + i as u64;
    }
    ctx.rflags = 0x202 | 0x1 | 0x400;
    ctx.fs_base = 0x7000;
    ctx
}

#[test]
fn frame_build_then_restore_gives_the_registers_back() {
    let ctx = sample_ctx();
    let info = SigInfo::user(SIGUSR1, 3);
    let args = FrameArgs {
        restorer: 0x40_9000,
        info: &info,
        old_mask: SigSet::of(SIGHUP),
        uc_stack: AltStack::default().to_bytes(ctx.rsp),
        fpstate: 0x7fff_ffff_dc00,
        trap: TrapRegs {
            trapno: 14,
            err: 6,
            cr2: 0x1234,
        },
    };
    let b = frame::build(&ctx, &args);
    let word = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    assert_eq!(word(0), 0x40_9000, "pretcode");
    assert_eq!(word(frame::MCONTEXT + frame::sc::RIP), 0x40_1234);
    assert_eq!(word(frame::MCONTEXT + frame::sc::RSP), 0x7fff_ffff_e000);
    assert_eq!(word(frame::MCONTEXT + frame::sc::RAX), ctx.rax);
    assert_eq!(word(frame::MCONTEXT + frame::sc::R15), ctx.r15);
    assert_eq!(word(frame::MCONTEXT + frame::sc::CR2), 0x1234);
    assert_eq!(word(frame::MCONTEXT + frame::sc::TRAPNO), 14);
    assert_eq!(word(frame::MCONTEXT + frame::sc::ERR), 6);
    assert_eq!(word(frame::MCONTEXT + frame::sc::FPSTATE), 0x7fff_ffff_dc00);
    assert_eq!(word(frame::UC_SIGMASK), SigSet::of(SIGHUP).0);
    assert_eq!(b[frame::INFO], 10, "si_signo");

    // The handler's registers.
    let mut h = ctx.clone();
    frame::enter_handler(&mut h, 0x40_5000, 10, 0x7fff_ffff_d000 - 8);
    assert_eq!(h.rip, 0x40_5000);
    assert_eq!(h.rdi, 10);
    assert_eq!(h.rsi, 0x7fff_ffff_d000 - 8 + frame::INFO as u64);
    assert_eq!(h.rdx, 0x7fff_ffff_d000);
    assert_eq!(h.rflags & 0x400, 0, "DF cleared");

    // The handler clobbers everything; rt_sigreturn brings it back.
    let r = frame::restore(&mut h, &b);
    assert_eq!(r.mask, SigSet::of(SIGHUP));
    assert_eq!(r.fpstate, 0x7fff_ffff_dc00);
    for (got, want) in [
        (h.rax, ctx.rax),
        (h.rbx, ctx.rbx),
        (h.rcx, ctx.rcx),
        (h.rdx, ctx.rdx),
        (h.rsi, ctx.rsi),
        (h.rdi, ctx.rdi),
        (h.rbp, ctx.rbp),
        (h.r8, ctx.r8),
        (h.r11, ctx.r11),
        (h.r15, ctx.r15),
        (h.rip, ctx.rip),
        (h.rsp, ctx.rsp),
        (h.rflags, ctx.rflags),
        (h.fs_base, ctx.fs_base),
    ] {
        assert_eq!(got, want);
    }
}

#[test]
fn restored_frames_are_sanitised() {
    let ctx = sample_ctx();
    let info = SigInfo::kernel(SIGINT);
    let args = FrameArgs {
        restorer: 1,
        info: &info,
        old_mask: SigSet::EMPTY,
        uc_stack: [0; 24],
        fpstate: 0,
        trap: TrapRegs::default(),
    };
    let mut b = frame::build(&ctx, &args);
    let put = |b: &mut [u8; frame::FRAME_SIZE], at: usize, v: u64| {
        b[at..at + 8].copy_from_slice(&v.to_le_bytes())
    };
    // IOPL 3, NT, VM, IF cleared: none of it may reach the CPU.
    put(
        &mut b,
        frame::MCONTEXT + frame::sc::EFLAGS,
        0x3000 | 0x4000 | 0x2_0000 | 0x1,
    );
    // Ring-0 selectors in cs/ss: ignored (Tine's context has none).
    b[frame::MCONTEXT + frame::sc::CS] = 0x08;
    b[frame::MCONTEXT + frame::sc::SS] = 0x10;
    // SIGKILL and SIGSTOP in the mask.
    put(&mut b, frame::UC_SIGMASK, u64::MAX);
    let mut out = ctx.clone();
    let r = frame::restore(&mut out, &b);
    assert_eq!(out.rflags, 0x202 | 0x1, "IOPL/NT/VM dropped, IF forced on");
    assert_eq!(r.mask, SigSet(u64::MAX).blockable());
    // A kernel-half rip comes back as is: `arch::user::run` refuses to
    // enter it (the process gets SIGSEGV), which arch's tests cover.
    put(
        &mut b,
        frame::MCONTEXT + frame::sc::RIP,
        0xffff_8000_0000_0000,
    );
    frame::restore(&mut out, &b);
    assert!(!arch::user::is_enterable(&out));
}

#[test]
fn interrupted_calls_restart_as_on_linux() {
    use abi::nr;
    let eintr = Errno::EINTR.to_user();
    assert_eq!(Interrupted::after(nr::WAIT4, 0), None, "not interrupted");
    let nanosleep = Interrupted::after(nr::NANOSLEEP, eintr).unwrap();
    assert!(
        !nanosleep.restarts_with(None),
        "never restarts (but after a single-threading park)"
    );
    let wait4 = Interrupted::after(nr::WAIT4, eintr).unwrap();
    let pause = Interrupted::after(nr::PAUSE, eintr).unwrap();
    let restartable = SigAction {
        handler: 0x1000,
        flags: sa::RESTORER | sa::RESTART,
        ..SigAction::default()
    };
    let plain = SigAction {
        flags: sa::RESTORER,
        ..restartable
    };
    // No handler ran (a stop and continue): both run again.
    assert!(wait4.restarts_with(None));
    assert!(pause.restarts_with(None));
    // A handler: only SA_RESTART, and never pause/sigsuspend.
    assert!(wait4.restarts_with(Some(&restartable)));
    assert!(!wait4.restarts_with(Some(&plain)));
    assert!(!pause.restarts_with(Some(&restartable)));
    assert_eq!(restart_policy(nr::RT_SIGSUSPEND), Restart::NoHandler);
    assert_eq!(restart_policy(nr::READ), Restart::Sys);
    assert_eq!(restart_policy(nr::VFORK), Restart::Never);

    let mut ctx = UserContext::new(0x40_1002, 0x7000);
    ctx.rax = eintr;
    wait4.rewind(&mut ctx);
    assert_eq!((ctx.rip, ctx.rax), (0x40_1000, nr::WAIT4));
}

#[test]
fn sigtimedwait_takes_from_its_set_and_keeps_ignored_signals_it_waits_for() {
    let dfl = SigAction::default();
    let mut q = SigQueue::default();
    // Blocked or not, the set's signals are taken: faults first, then
    // the lowest; never SIGKILL or SIGSTOP; the rest stays pending.
    q.blocked.add(SIGUSR1);
    q.post(SIGUSR1, SigInfo::user(SIGUSR1, 5), &dfl);
    q.post(SIGTERM, SigInfo::kernel(SIGTERM), &dfl);
    q.post(SIGSEGV, SigInfo::kernel(SIGSEGV), &dfl);
    q.post(SIGKILL, SigInfo::kernel(SIGKILL), &dfl);
    let all = SigSet(u64::MAX);
    assert_eq!(q.take_from(all).map(|(s, _)| s), Some(SIGSEGV));
    let (sig, info) = q.take_from(all).unwrap();
    assert_eq!((sig, info.pid), (SIGUSR1, 5));
    assert_eq!(q.take_from(SigSet::of(SIGHUP)), None);
    assert_eq!(q.take_from(all).map(|(s, _)| s), Some(SIGTERM));
    assert_eq!(q.take_from(all), None);
    assert!(q.pending.contains(SIGKILL));

    // A SIGCHLD (ignored by default) posted while the waiter has it
    // unblocked, blocked before the wait (`real_blocked`), stays.
    let mut q = SigQueue {
        real_blocked: SigSet::of(SIGCHLD),
        ..SigQueue::default()
    };
    assert_eq!(
        q.post(SIGCHLD, SigInfo::kernel(SIGCHLD), &dfl),
        Posted::Pending
    );
    // With no mask holding it, it is discarded, unless the caller says
    // every thread blocks it (a process's queue).
    let mut q = SigQueue::default();
    assert_eq!(
        q.post(SIGCHLD, SigInfo::kernel(SIGCHLD), &dfl),
        Posted::Discarded
    );
    assert_eq!(
        q.post_held(SIGCHLD, SigInfo::kernel(SIGCHLD), &dfl, true),
        Posted::Pending
    );
}

#[test]
fn routed_signals_go_back_when_blocked() {
    let dfl = SigAction::default();
    let mut q = SigQueue::default();
    q.post(SIGUSR1, SigInfo::user(SIGUSR1, 7), &dfl);
    q.routed.add(SIGUSR1);
    q.post(SIGUSR2, SigInfo::tkill(SIGUSR2, 7), &dfl);
    // Not blocked: it stays.
    assert!(q.take_blocked_routed().is_empty());
    // Blocked: the process's signal goes back, the thread's own stays.
    q.set_blocked(
        SigSet::of(SIGUSR1).union(SigSet::of(SIGUSR2)),
        SigSet::EMPTY,
    );
    let back = q.take_blocked_routed();
    assert_eq!(back.len(), 1);
    assert_eq!((back[0].0, back[0].1.pid), (SIGUSR1, 7));
    assert_eq!(q.pending, SigSet::of(SIGUSR2));
    assert!(q.routed.is_empty());
    // Taking a signal forgets where it came from.
    q.post(SIGUSR1, SigInfo::user(SIGUSR1, 7), &dfl);
    q.routed.add(SIGUSR1);
    q.take(SIGUSR1);
    assert!(q.routed.is_empty());
}

#[test]
fn siginfos_are_kept_only_for_pending_signals() {
    let dfl = SigAction::default();
    let mut q = SigQueue::default();
    assert_eq!(q.infos.capacity(), 0, "an idle queue holds no heap");
    q.post(SIGUSR1, SigInfo::user(SIGUSR1, 7), &dfl);
    q.post(SIGTSTP, SigInfo::user(SIGTSTP, 8), &dfl);
    // SIGCONT discards the pending stop signal; its siginfo goes with it
    // at the next post.
    q.post(SIGCONT, SigInfo::user(SIGCONT, 9), &dfl);
    q.post(SIGUSR2, SigInfo::user(SIGUSR2, 10), &dfl);
    assert_eq!(q.infos.len(), 2, "SIGUSR1 and SIGUSR2: {:?}", q.infos);
    assert_eq!(q.take(SIGUSR2).pid, 10);
    assert_eq!(q.take(SIGUSR1).pid, 7);
    assert!(q.infos.is_empty());
    // Every signal pending at once: each keeps its own.
    for n in 1..=64 {
        let sig = Signal::new(n).unwrap();
        q.post(
            sig,
            SigInfo::user(sig, n),
            &SigAction {
                handler: 0x1000,
                ..dfl
            },
        );
    }
    for n in (1..=64).rev() {
        let sig = Signal::new(n).unwrap();
        if q.pending.contains(sig) {
            assert_eq!(q.take(sig).pid, n, "{sig}");
        }
    }
}

#[test]
fn a_forked_action_table_is_shared_until_written() {
    let mut parent = SigActions::new();
    let handler = SigAction {
        handler: 0x40_1000,
        ..SigAction::default()
    };
    parent.set(SIGUSR1, handler);
    let mut child = parent.fork_copy();
    assert!(Arc::ptr_eq(&parent.0, &child.0), "one table after fork");
    child.set(SIGUSR1, handler);
    assert!(
        Arc::ptr_eq(&parent.0, &child.0),
        "an unchanged set copies nothing"
    );
    child.set(SIGUSR2, handler);
    assert!(!Arc::ptr_eq(&parent.0, &child.0));
    assert_eq!(
        parent.get(SIGUSR2),
        SigAction::default(),
        "the parent's is its own"
    );
    assert_eq!(child.get(SIGUSR1), handler);
    let mut exec = parent.fork_copy();
    exec.reset_caught();
    assert_eq!(exec.get(SIGUSR1), SigAction::default());
    assert_eq!(parent.get(SIGUSR1), handler);
}
