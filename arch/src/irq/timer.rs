//! The per-CPU LAPIC timer, one-shot: TSC-deadline mode when CPUID has it
//! (the deadline is a TSC value, so it needs no calibration of its own),
//! else the LAPIC count (divide by 16) calibrated against the TSC once on
//! the boot CPU.
//!
//! A timer interrupt counts in the CPU's [`PerCpu`](crate::smp::percpu)
//! block and calls the hook set with [`set_hook`] (the executor's timer
//! wheel), with interrupts disabled. A one-shot count longer than the
//! 32-bit counter allows fires early, at its maximum: the hook must
//! re-check the time and re-arm, as it must anyway.
//!
//! Re-arming an unchanged deadline is free: each CPU remembers the
//! absolute deadline its timer was last armed for ([`ARMED`]: the TSC
//! value in TSC-deadline mode, the `now_ns` deadline in one-shot mode) and
//! [`arm_deadline_ns`] skips the register write when the deadline is the
//! same. Under QEMU TCG (which has no TSC-deadline mode, so the one-shot
//! count is used) an LAPIC timer write is far from a plain store: it takes
//! QEMU's big lock and reprograms a host timer, kicking QEMU's main loop,
//! and the user thread loop re-arms the same slice end before every entry
//! to ring 3. The memo is only sound if it never claims an armed timer
//! that is not: the timer disarms itself when it fires, so the timer
//! interrupt forgets the memo ([`on_interrupt`]); until that interrupt is
//! taken it is pending, so a skipped write cannot lose it. Every arming
//! goes through [`arm`], which updates the memo with interrupts masked;
//! relative armings ([`arm_oneshot_ns`] in one-shot mode) and [`cancel`]
//! leave 0, which no deadline matches. [`arm_deadline_within_ns`] goes
//! further for the user time slice: any armed deadline not too late is
//! kept.

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use super::lapic::{self, LVT_MASKED, reg};
use super::vector;
use crate::cpu::{Features, tsc};
use crate::smp::MAX_CPUS;

/// LVT timer mode bits (17:18).
const LVT_ONESHOT: u32 = 0;
const LVT_TSC_DEADLINE: u32 = 2 << 17;
/// Divide configuration value for "divide by 16".
const DIVIDE_BY_16: u32 = 0x3;

/// Whether every CPU uses TSC-deadline mode.
static DEADLINE_MODE: AtomicBool = AtomicBool::new(false);
/// LAPIC timer counts per millisecond at divide-by-16 (one-shot mode).
static COUNTS_PER_MS: AtomicU64 = AtomicU64::new(0);
/// The hook, as a `fn()` address (0 = none).
static HOOK: AtomicUsize = AtomicUsize::new(0);
/// Per CPU: the absolute deadline its timer is armed for, as last
/// written and not yet fired (module docs); 0 = unknown or disarmed.
/// Touched only by its own CPU.
static ARMED: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Records `key` as the executing CPU's armed deadline and performs the
/// register write `write`, with interrupts masked: a timer interrupt
/// between the write and the memo would otherwise leave the memo claiming
/// a deadline that has fired.
fn arm(key: u64, write: impl FnOnce()) {
    crate::cpu::irq::without(|| {
        ARMED[crate::cpu::id()].store(key, Ordering::Relaxed);
        write();
    });
}

/// Writes the executing CPU's TSC deadline (0 disarms) and remembers it.
fn write_deadline(tsc: u64) {
    arm(tsc, || lapic::write_tsc_deadline(tsc));
}

/// Whether the executing CPU's timer is armed for deadline `key` already.
fn is_armed_for(key: u64) -> bool {
    // Relaxed: only this CPU writes its slot. A timer interrupt after
    // this check finds the timer fired, which is what was asked for.
    ARMED[crate::cpu::id()].load(Ordering::Relaxed) == key
}

/// Whether the timer runs in TSC-deadline mode.
pub fn uses_tsc_deadline() -> bool {
    DEADLINE_MODE.load(Ordering::Relaxed)
}

/// LAPIC counts per millisecond (0 in TSC-deadline mode).
pub fn lapic_counts_per_ms() -> u64 {
    COUNTS_PER_MS.load(Ordering::Relaxed)
}

/// Sets the function every timer interrupt calls (on the CPU it fired on,
/// with interrupts disabled).
pub fn set_hook(hook: fn()) {
    // Release: pairs with the Acquire in `on_interrupt`.
    HOOK.store(hook as usize, Ordering::Release);
}

/// Timer interrupts taken so far on CPU `cpu`.
pub fn interrupts_on(cpu: usize) -> u64 {
    crate::smp::percpu::of(cpu)
        .timer_interrupts
        .load(Ordering::Relaxed)
}

/// Chooses the mode; in one-shot mode, measures the LAPIC count rate
/// against the calibrated TSC over 10 ms. Then sets up the boot CPU.
pub(super) fn init_bsp(allow_deadline: bool) {
    let deadline = allow_deadline && Features::get().tsc_deadline;
    DEADLINE_MODE.store(deadline, Ordering::Relaxed);
    if !deadline {
        lapic::write(
            reg::LVT_TIMER,
            LVT_MASKED | LVT_ONESHOT | vector::TIMER as u32,
        );
        lapic::write(reg::TIMER_DIVIDE, DIVIDE_BY_16);
        lapic::write(reg::TIMER_INITIAL, u32::MAX);
        // Each sample reads the count between two TSC reads; the tightest
        // of eight is kept, so neither a slow register read (the vCPU
        // waiting for QEMU's lock) nor a descheduled vCPU between the
        // samples skews the result.
        let sample = || {
            (0..8)
                .map(|_| {
                    let before = tsc::read();
                    let count = lapic::read(reg::TIMER_CURRENT);
                    (tsc::read() - before, before, count)
                })
                .min_by_key(|&(spread, _, _)| spread)
                .map(|(spread, before, count)| (before + spread / 2, count))
                .expect("eight samples")
        };
        let (t0, c0) = sample();
        while tsc::ticks_to_ns(tsc::read() - t0) < 10_000_000 {
            core::hint::spin_loop();
        }
        let (t1, c1) = sample();
        lapic::write(reg::TIMER_INITIAL, 0);
        let elapsed_ns = tsc::ticks_to_ns(t1 - t0);
        let counted = c0.saturating_sub(c1) as u64;
        COUNTS_PER_MS.store(
            (counted * 1_000_000 / elapsed_ns.max(1)).max(1),
            Ordering::Relaxed,
        );
    }
    init_this_cpu();
}

/// Puts the executing CPU's timer in the chosen mode, disarmed.
pub(super) fn init_this_cpu() {
    if uses_tsc_deadline() {
        lapic::write(reg::LVT_TIMER, LVT_TSC_DEADLINE | vector::TIMER as u32);
        // The SDM asks for a fence between the LVT write and the first
        // deadline write when switching into TSC-deadline mode.
        // SAFETY: a fence has no memory-safety preconditions.
        unsafe { core::arch::asm!("mfence", options(nostack, preserves_flags)) };
        write_deadline(0);
    } else {
        lapic::write(reg::TIMER_DIVIDE, DIVIDE_BY_16);
        arm(0, || lapic::write(reg::TIMER_INITIAL, 0));
        lapic::write(reg::LVT_TIMER, LVT_ONESHOT | vector::TIMER as u32);
    }
}

/// Arms the executing CPU's timer to fire once, `delta_ns` from now
/// (replacing any earlier arming).
pub fn arm_oneshot_ns(delta_ns: u64) {
    if uses_tsc_deadline() {
        write_deadline(
            tsc::read()
                .saturating_add(tsc::ns_to_ticks(delta_ns))
                .max(1),
        );
    } else {
        arm(0, || write_count(delta_ns));
    }
}

/// One-shot mode: starts the count for `delta_ns`.
fn write_count(delta_ns: u64) {
    let counts = (delta_ns as u128 * COUNTS_PER_MS.load(Ordering::Relaxed) as u128 / 1_000_000)
        .clamp(1, u32::MAX as u128) as u32;
    lapic::write(reg::TIMER_INITIAL, counts);
}

/// Arms the executing CPU's timer to fire once when [`tsc::now_ns`]
/// reaches `deadline_ns` (at once if it has passed). Re-arming the
/// deadline the timer is armed for already costs no register write.
pub fn arm_deadline_ns(deadline_ns: u64) {
    if uses_tsc_deadline() {
        let tsc_deadline = tsc::boot_reference()
            .saturating_add(tsc::ns_to_ticks(deadline_ns))
            .max(1);
        if !is_armed_for(tsc_deadline) {
            write_deadline(tsc_deadline);
        }
    } else {
        let key = deadline_ns.max(1);
        if !is_armed_for(key) {
            arm(key, || {
                write_count(deadline_ns.saturating_sub(tsc::now_ns()));
            });
        }
    }
}

/// Arms the executing CPU's timer to fire no later than `deadline_ns +
/// slack_ns`, keeping an armed deadline that already does (one earlier
/// than `deadline_ns` included: the caller must cope with an early
/// interrupt, as the user time slice does); otherwise as
/// [`arm_deadline_ns`]. Threads taking turns on a CPU (a parent and the
/// child it waits for) then share the earliest of their slice ends
/// instead of each rewriting the timer at every entry.
pub fn arm_deadline_within_ns(deadline_ns: u64, slack_ns: u64) {
    let latest = deadline_ns.saturating_add(slack_ns);
    let key = |ns: u64| {
        if uses_tsc_deadline() {
            tsc::boot_reference()
                .saturating_add(tsc::ns_to_ticks(ns))
                .max(1)
        } else {
            ns.max(1)
        }
    };
    // Relaxed: only this CPU writes its slot (`is_armed_for`).
    let armed = ARMED[crate::cpu::id()].load(Ordering::Relaxed);
    if armed != 0 && armed <= key(latest) {
        return;
    }
    arm_deadline_ns(deadline_ns);
}

/// Disarms the executing CPU's timer.
pub fn cancel() {
    if uses_tsc_deadline() {
        write_deadline(0);
    } else {
        arm(0, || lapic::write(reg::TIMER_INITIAL, 0));
    }
}

/// The timer vector's work: count, then call the hook.
pub(super) fn on_interrupt() {
    crate::smp::percpu::current()
        .timer_interrupts
        .fetch_add(1, Ordering::Relaxed);
    // The deadline fired, so the timer is disarmed: the next arming must
    // write the MSR even for the same deadline.
    ARMED[crate::cpu::id()].store(0, Ordering::Relaxed);
    // Acquire: pairs with the Release in `set_hook`.
    let raw = HOOK.load(Ordering::Acquire);
    if raw != 0 {
        // SAFETY: only `set_hook` stores non-zero values, from a `fn()`.
        let hook = unsafe { core::mem::transmute::<usize, fn()>(raw) };
        hook();
    }
}
