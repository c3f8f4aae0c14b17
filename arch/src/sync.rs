//! Locks whose names say what they disable.
//!
//! - `spin::Mutex<T>`: a plain spin lock. Never take it in an interrupt
//!   handler.
//! - [`IrqMutex<T>`]: a spin lock that also masks interrupts on this CPU
//!   while held, for data shared with interrupt handlers (and for the heap,
//!   which an interrupt handler's waker may reach). Release in LIFO order.

use core::sync::atomic::{AtomicBool, Ordering};

use crate::cpu::irq;

/// The raw lock behind [`IrqMutex`].
#[derive(Debug)]
pub struct IrqRawMutex {
    locked: AtomicBool,
    /// Whether interrupts were enabled before the holder took the lock;
    /// written only by the holder.
    irq_was_enabled: AtomicBool,
}

// SAFETY: `lock` returns only after winning the `locked` flag with Acquire,
// and `unlock` releases it with Release, so holders are mutually exclusive
// and see each other's writes.
unsafe impl lock_api::RawMutex for IrqRawMutex {
    #[allow(
        clippy::declare_interior_mutable_const,
        reason = "lock_api's INIT is a const by design: each use makes a new, unlocked mutex"
    )]
    const INIT: Self = Self {
        locked: AtomicBool::new(false),
        irq_was_enabled: AtomicBool::new(false),
    };
    type GuardMarker = lock_api::GuardNoSend;

    fn lock(&self) {
        let was = irq::enabled();
        irq::disable();
        // Acquire: pairs with the Release in `unlock`.
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        self.irq_was_enabled.store(was, Ordering::Relaxed);
    }

    fn try_lock(&self) -> bool {
        let was = irq::enabled();
        irq::disable();
        // Acquire: pairs with the Release in `unlock`.
        if self
            .locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            self.irq_was_enabled.store(was, Ordering::Relaxed);
            true
        } else {
            if was {
                irq::enable();
            }
            false
        }
    }

    unsafe fn unlock(&self) {
        let was = self.irq_was_enabled.load(Ordering::Relaxed);
        // Release: publishes the critical section to the next holder.
        self.locked.store(false, Ordering::Release);
        if was {
            irq::enable();
        }
    }
}

/// A spin lock that masks interrupts on this CPU while held.
pub type IrqMutex<T> = lock_api::Mutex<IrqRawMutex, T>;
/// Its guard.
pub type IrqMutexGuard<'a, T> = lock_api::MutexGuard<'a, IrqRawMutex, T>;
