//! Interrupts: the IDT and trap entry stubs, exception reports, the local
//! APIC and I/O APIC, IPIs and the per-CPU timer.
//!
//! Every vector enters through a `global_asm!` stub ([`stubs`]) that saves
//! a full [`TrapFrame`] and calls one Rust dispatcher, `trap_dispatch`:
//! exceptions in kernel mode go to the report in [`exception`] (fatal);
//! traps from ring 3 return to `user::run` (see [`crate::user`]); the timer vector calls [`timer`]'s hook; other vectors call the
//! handler registered with [`set_handler`]. The dispatcher sends the EOI
//! for every APIC-delivered vector after the handler returns. Handlers run
//! with interrupts disabled (all gates are interrupt gates).
//!
//! # Vectors
//!
//! | vector | use |
//! |---|---|
//! | `0x00..=0x1f` | CPU exceptions ([`vector::name`]); 2 = NMI, 8 = double fault |
//! | `0x20` [`vector::TIMER`] | LAPIC timer (per CPU) |
//! | `0x21` [`vector::WAKEUP`] | wake-up / reschedule IPI |
//! | `0x22` [`vector::TLB_SHOOTDOWN`] | TLB shootdown IPI (`mm::user`) |
//! | `0x23..=0x2f` | reserved for more IPIs |
//! | `0x30..=0xdf` [`vector::DEVICE_BASE`] | device IRQs routed through the IOAPIC: vector `0x30 + gsi` by convention ([`vector::for_gsi`]), so COM1's ISA IRQ 4 = GSI 4 = `0x34` |
//! | `0xe0..=0xef` [`vector::PIC_BASE`] | the masked 8259 PICs, remapped here so a stray PIC interrupt is never mistaken for an exception |
//! | `0xfe` [`vector::APIC_ERROR`] | LAPIC error |
//! | `0xff` [`vector::SPURIOUS`] | LAPIC spurious (no EOI) |
//!
//! # Start-up order
//!
//! On the boot CPU, after `mm` is up: [`init_bsp`] (GDT/TSS, IDT, PIC
//! masking, LAPIC, TSC calibration, LAPIC timer), then [`ioapic::init`]
//! with the MADT's I/O APIC and [`ioapic::route`] per device; interrupts
//! are enabled by the kernel (`cpu::irq::enable`) when it is ready. Each AP
//! calls [`init_ap`] first thing.

pub mod frame;
pub mod idt;
pub mod vector;

#[cfg(target_os = "none")]
mod exception;
#[cfg(target_os = "none")]
pub mod ioapic;
#[cfg(target_os = "none")]
pub mod lapic;
#[cfg(target_os = "none")]
mod stubs;
#[cfg(target_os = "none")]
pub mod timer;

pub use frame::TrapFrame;

use core::sync::atomic::{AtomicUsize, Ordering};

/// An interrupt handler: called with interrupts disabled and the frame of
/// the interrupted context; the dispatcher sends the EOI afterwards.
pub type Handler = fn(&TrapFrame);

/// Registered handlers, as `fn` addresses (0 = none).
static HANDLERS: [AtomicUsize; 256] = [const { AtomicUsize::new(0) }; 256];
/// Interrupts that arrived on a vector with no handler.
static UNHANDLED: AtomicUsize = AtomicUsize::new(0);

/// Registers `handler` for `vector` (an IPI or device vector), replacing
/// any previous one.
///
/// # Panics
/// For exception vectors, the timer vector (use [`timer::set_hook`]), the
/// spurious vector and the PIC range: those are arch's own.
pub fn set_handler(vector: u8, handler: Handler) {
    assert!(
        vector::is_registrable(vector),
        "vector {vector:#x} is not available for handlers"
    );
    // Release: a CPU that sees the new pointer also sees what the caller
    // prepared for the handler; pairs with the Acquire in `dispatch`.
    HANDLERS[vector as usize].store(handler as usize, Ordering::Release);
}

/// Removes the handler of `vector` (its interrupts are then counted and
/// dropped).
pub fn clear_handler(vector: u8) {
    assert!(
        vector::is_registrable(vector),
        "vector {vector:#x} is not available for handlers"
    );
    HANDLERS[vector as usize].store(0, Ordering::Release);
}

/// How many interrupts arrived on vectors with no handler.
pub fn unhandled_count() -> usize {
    UNHANDLED.load(Ordering::Relaxed)
}

#[cfg(target_os = "none")]
fn handler(vector: u8) -> Option<Handler> {
    // Acquire: pairs with the Release in `set_handler`.
    let raw = HANDLERS[vector as usize].load(Ordering::Acquire);
    // SAFETY: non-zero values are only ever stored by `set_handler`, from a
    // `Handler`, so `raw` is a valid function pointer of that type.
    (raw != 0).then(|| unsafe { core::mem::transmute::<usize, Handler>(raw) })
}

/// The one Rust entry of every trap stub.
///
/// A trap from ring 3 (other than NMI, double fault and machine check,
/// which take the paranoid path and stay fatal) is not reported: after its
/// handler (if an interrupt) the user state is saved into the running
/// `user::run`'s context and the stub returns from that `run` instead of
/// `iretq` (see [`crate::user`]).
#[cfg(target_os = "none")]
#[unsafe(no_mangle)]
extern "C" fn trap_dispatch(frame: &mut TrapFrame) {
    let v = frame.vector as u8;
    let to_run = frame.from_user()
        && !matches!(
            v,
            vector::NMI | vector::DOUBLE_FAULT | vector::MACHINE_CHECK
        );
    match v {
        vector::NMI => exception::nmi(frame),
        0..=0x1f if to_run => {}
        0..=0x1f => exception::report(frame),
        vector::SPURIOUS => {} // no EOI for spurious interrupts
        vector::PIC_BASE..=vector::PIC_LAST => {} // masked PIC: stray, no EOI
        vector::TIMER => {
            timer::on_interrupt();
            lapic::eoi();
        }
        // A shootdown's only job is to take the CPU out of ring 3
        // (`mm::user`, TLBs); the next entry reloads CR3.
        vector::TLB_SHOOTDOWN => lapic::eoi(),
        vector::APIC_ERROR => {
            let esr = lapic::clear_errors();
            log::warn!("LAPIC error on cpu{}: ESR={esr:#x}", crate::cpu::id());
            lapic::eoi();
        }
        _ => {
            match handler(v) {
                Some(h) => h(frame),
                None => {
                    UNHANDLED.fetch_add(1, Ordering::Relaxed);
                }
            }
            lapic::eoi();
        }
    }
    if to_run {
        crate::user::save_user_state(frame);
    }
}

/// Options for [`init_bsp_with`], to force the fallback paths in tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Use xAPIC (MMIO) even if the CPU has x2APIC.
    pub xapic_only: bool,
    /// Calibrate the TSC against the PIT even if CPUID gives the frequency.
    pub pit_calibration: bool,
    /// Use the one-shot LAPIC count even if TSC-deadline mode exists.
    pub no_tsc_deadline: bool,
}

/// Sets up interrupts on the boot CPU with default [`Options`].
#[cfg(target_os = "none")]
pub fn init_bsp() {
    init_bsp_with(Options::default());
}

/// Sets up interrupts on the boot CPU: its GDT and TSS (IST stacks), the
/// shared IDT, the 8259 PICs remapped and masked, the local APIC (x2APIC
/// when present), the TSC frequency, and the LAPIC timer (disarmed).
/// Leaves interrupts disabled. Call once, after `mm` is up and before any
/// AP starts.
#[cfg(target_os = "none")]
pub fn init_bsp_with(options: Options) {
    crate::cpu::irq::disable();
    crate::cpu::gdt::init_this_cpu();
    crate::user::init_this_cpu();
    idt::load();
    mask_legacy_pics();
    lapic::init_bsp(!options.xapic_only);
    crate::cpu::tsc::calibrate(options.pit_calibration);
    timer::init_bsp(!options.no_tsc_deadline);
}

/// Sets up interrupts on an AP, first thing once it runs Rust on the
/// kernel page tables with its per-CPU block installed: its own GDT, TSS
/// and IST stacks, the shared IDT, its local APIC (same mode as the boot
/// CPU) and its timer. Leaves interrupts disabled.
#[cfg(target_os = "none")]
pub fn init_ap() {
    crate::cpu::irq::disable();
    crate::cpu::gdt::init_this_cpu();
    crate::user::init_this_cpu();
    idt::load();
    lapic::init_this_cpu(false);
    timer::init_this_cpu();
}

/// Remaps the two 8259 PICs to [`vector::PIC_BASE`] and masks every line:
/// Tine takes device interrupts through the IOAPIC.
#[cfg(target_os = "none")]
fn mask_legacy_pics() {
    use x86_64::instructions::port::Port;
    let (mut cmd1, mut data1) = (Port::<u8>::new(0x20), Port::<u8>::new(0x21));
    let (mut cmd2, mut data2) = (Port::<u8>::new(0xa0), Port::<u8>::new(0xa1));
    // SAFETY: ports 0x20/0x21/0xa0/0xa1 are the PICs, reserved for arch in
    // `io::RESERVED`; this is the standard ICW1..ICW4 sequence followed by
    // masking every line, done once before interrupts are enabled.
    unsafe {
        cmd1.write(0x11); // ICW1: init, expect ICW4
        cmd2.write(0x11);
        data1.write(vector::PIC_BASE); // ICW2: vector offsets
        data2.write(vector::PIC_BASE + 8);
        data1.write(4); // ICW3: slave on IRQ 2
        data2.write(2);
        data1.write(0x01); // ICW4: 8086 mode
        data2.write(0x01);
        data1.write(0xff); // mask all
        data2.write(0xff);
    }
}
