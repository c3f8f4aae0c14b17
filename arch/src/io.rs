//! Port I/O handed out as owned, checked ranges.
//!
//! Port I/O can break the machine (PCI configuration space, the PIC, the
//! reset port), so raw `in`/`out` is unsafe. This module hands out
//! [`PortRange`]s instead: each port can be claimed once, ports the kernel
//! core owns are refused, and reads and writes inside a claimed range are
//! then safe.

use core::sync::atomic::{AtomicU64, Ordering};

/// Ports that no driver may claim: they belong to `arch` itself.
const RESERVED: &[(u16, u16)] = &[
    (0x20, 2),  // master PIC (masked by arch)
    (0xa0, 2),  // slave PIC
    (0x40, 4),  // PIT (used by arch for TSC calibration)
    (0x61, 1),  // PIT gate / speaker
    (0xcf8, 8), // PCI configuration mechanism #1
    (0xf4, 4),  // isa-debug-exit: use `arch::cpu::exit_qemu`
];

/// One bit per port for the legacy range 0..0x1000 that drivers use.
static CLAIMED: [AtomicU64; 64] = [const { AtomicU64::new(0) }; 64];

/// An exclusively owned range of I/O ports.
#[derive(Debug)]
pub struct PortRange {
    base: u16,
    len: u16,
}

/// Why a claim was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimError {
    /// The range overlaps ports `arch` reserves for itself.
    Reserved,
    /// Some port in the range is already claimed.
    Busy,
    /// The range is empty or leaves 0..0x1000.
    OutOfRange,
}

impl PortRange {
    /// Claims `len` ports from `base`, exclusively, for the life of the
    /// returned value.
    pub fn claim(base: u16, len: u16) -> Result<Self, ClaimError> {
        let end = base as u32 + len as u32;
        if len == 0 || end > 0x1000 {
            return Err(ClaimError::OutOfRange);
        }
        if RESERVED
            .iter()
            .any(|&(b, l)| (base as u32) < b as u32 + l as u32 && (b as u32) < end)
        {
            return Err(ClaimError::Reserved);
        }
        for (i, port) in (base..base + len).enumerate() {
            let (word, bit) = (port as usize / 64, 1u64 << (port % 64));
            // AcqRel: the claim publishes ownership; pairs with the Release in Drop.
            if CLAIMED[word].fetch_or(bit, Ordering::AcqRel) & bit != 0 {
                // Roll back the ports claimed so far.
                for p in base..base + i as u16 {
                    CLAIMED[p as usize / 64].fetch_and(!(1u64 << (p % 64)), Ordering::Release);
                }
                return Err(ClaimError::Busy);
            }
        }
        Ok(Self { base, len })
    }

    /// First port of the range.
    pub fn base(&self) -> u16 {
        self.base
    }

    fn port(&self, offset: u16) -> u16 {
        assert!(
            offset < self.len,
            "port offset {offset} outside a range of {}",
            self.len
        );
        self.base + offset
    }

    /// Reads the byte port at `base + offset`.
    pub fn read8(&self, offset: u16) -> u8 {
        let port = self.port(offset);
        #[cfg(target_os = "none")]
        {
            // SAFETY: this range owns `port` exclusively (claimed above and
            // not reserved by arch), so the read cannot disturb another owner.
            unsafe { x86_64::instructions::port::PortReadOnly::<u8>::new(port).read() }
        }
        #[cfg(not(target_os = "none"))]
        {
            let _ = port;
            0
        }
    }

    /// Writes the byte port at `base + offset`.
    pub fn write8(&self, offset: u16, value: u8) {
        let port = self.port(offset);
        #[cfg(target_os = "none")]
        {
            // SAFETY: as in `read8`, the port belongs to this range alone.
            unsafe { x86_64::instructions::port::PortWriteOnly::<u8>::new(port).write(value) }
        }
        #[cfg(not(target_os = "none"))]
        {
            let _ = (port, value);
        }
    }
}

impl Drop for PortRange {
    fn drop(&mut self) {
        for p in self.base..self.base + self.len {
            // Release: pairs with the AcqRel of the next claim.
            CLAIMED[p as usize / 64].fetch_and(!(1u64 << (p % 64)), Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_is_exclusive_and_released_on_drop() {
        let a = PortRange::claim(0x2f8, 8).unwrap();
        assert_eq!(PortRange::claim(0x2fa, 1).unwrap_err(), ClaimError::Busy);
        drop(a);
        assert!(PortRange::claim(0x2fa, 1).is_ok());
    }

    #[test]
    fn reserved_and_out_of_range_are_refused() {
        assert_eq!(
            PortRange::claim(0xcfc, 4).unwrap_err(),
            ClaimError::Reserved
        );
        assert_eq!(PortRange::claim(0x1f, 2).unwrap_err(), ClaimError::Reserved);
        assert_eq!(
            PortRange::claim(0xfff, 2).unwrap_err(),
            ClaimError::OutOfRange
        );
        assert_eq!(
            PortRange::claim(0x100, 0).unwrap_err(),
            ClaimError::OutOfRange
        );
    }

    #[test]
    fn failed_claim_rolls_back() {
        let _b = PortRange::claim(0x3e8 + 4, 1).unwrap();
        assert_eq!(PortRange::claim(0x3e8, 8).unwrap_err(), ClaimError::Busy);
        assert!(PortRange::claim(0x3e8, 4).is_ok());
    }
}
