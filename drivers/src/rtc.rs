//! The CMOS real-time clock (MC146818 and compatibles, QEMU's `mc146818rtc`):
//! the wall-clock time at boot for `CLOCK_REALTIME`.
//!
//! [`read_unix_seconds`] claims the index/data ports 0x70-0x71 (through
//! `arch::io::PortRange`, so no other driver can use them meanwhile),
//! waits for the end of an update cycle (register A bit 7), reads seconds,
//! minutes, hours, day, month, year and century (register 0x32, which
//! QEMU and most PCs have), twice until two reads agree, and converts
//! them: BCD unless register B says binary, 12-hour unless it says 24.
//! The date is taken as UTC (QEMU's default `-rtc base=utc`).
//!
//! [`DateTime`] and its conversion to Unix seconds are pure and
//! host-tested.

/// A date and time as the RTC gives it, already in binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime {
    pub year: u32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl DateTime {
    /// Seconds since 1970-01-01 00:00:00 UTC (proleptic Gregorian
    /// calendar); `None` for a date before 1970 or fields out of range.
    pub fn unix_seconds(&self) -> Option<u64> {
        if self.year < 1970
            || !(1..=12).contains(&self.month)
            || !(1..=31).contains(&self.day)
            || self.hour > 23
            || self.minute > 59
            || self.second > 60
        {
            return None;
        }
        let days = days_from_civil(self.year, self.month, self.day);
        Some(
            days * 86_400
                + u64::from(self.hour) * 3600
                + u64::from(self.minute) * 60
                + u64::from(self.second),
        )
    }
}

/// Days from 1970-01-01 to the date (Howard Hinnant's `days_from_civil`
/// algorithm: years counted from March, 400-year eras).
fn days_from_civil(year: u32, month: u32, day: u32) -> u64 {
    let y = u64::from(if month <= 2 { year - 1 } else { year });
    let era = y / 400;
    let yoe = y - era * 400;
    let m = u64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + u64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A BCD byte in binary.
pub const fn from_bcd(v: u8) -> u8 {
    (v >> 4) * 10 + (v & 0x0f)
}

/// The raw registers of one read: seconds, minutes, hours, day, month,
/// year, century.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Raw(pub [u8; 7]);

impl Raw {
    /// Decodes with register B's format bits (bit 2 binary, bit 1 24-hour).
    pub fn decode(self, register_b: u8) -> DateTime {
        let binary = register_b & 0x04 != 0;
        let h24 = register_b & 0x02 != 0;
        let conv = |v: u8| if binary { v } else { from_bcd(v) };
        let [s, min, h, d, mon, y, c] = self.0;
        let pm = h & 0x80 != 0;
        let mut hour = conv(h & 0x7f);
        if !h24 {
            hour %= 12;
            if pm {
                hour += 12;
            }
        }
        let century = match conv(c) {
            19..=99 => u32::from(conv(c)),
            _ => 20,
        };
        DateTime {
            year: century * 100 + u32::from(conv(y)),
            month: u32::from(conv(mon)),
            day: u32::from(conv(d)),
            hour: u32::from(hour),
            minute: u32::from(conv(min)),
            second: u32::from(conv(s)),
        }
    }
}

/// Reads the RTC (module docs): Unix seconds now, or `None` when the
/// ports are taken or the clock gives nonsense.
#[cfg(target_os = "none")]
pub fn read_unix_seconds() -> Option<u64> {
    let ports = arch::io::PortRange::claim(0x70, 2).ok()?;
    let reg = |r: u8| {
        ports.write8(0, r);
        ports.read8(1)
    };
    let read = || {
        // Wait (boundedly) for the end of an update cycle.
        for _ in 0..100_000 {
            if reg(0x0a) & 0x80 == 0 {
                break;
            }
            core::hint::spin_loop();
        }
        Raw([0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32].map(reg))
    };
    let mut last = read();
    for _ in 0..5 {
        let next = read();
        if next == last {
            break;
        }
        last = next;
    }
    last.decode(reg(0x0b)).unix_seconds()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(year: u32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> DateTime {
        DateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
        }
    }

    #[test]
    fn unix_seconds_of_known_dates() {
        assert_eq!(dt(1970, 1, 1, 0, 0, 0).unix_seconds(), Some(0));
        assert_eq!(dt(2000, 3, 1, 0, 0, 0).unix_seconds(), Some(951_868_800));
        assert_eq!(dt(2026, 1, 1, 0, 0, 0).unix_seconds(), Some(1_767_225_600));
        assert_eq!(
            dt(2024, 2, 29, 12, 34, 56).unix_seconds(),
            Some(1_709_210_096)
        );
        assert_eq!(dt(1969, 12, 31, 0, 0, 0).unix_seconds(), None);
        assert_eq!(dt(2026, 13, 1, 0, 0, 0).unix_seconds(), None);
    }

    #[test]
    fn bcd_and_12_hour_decode() {
        // 2026-11-23 13:05:09 in BCD, 24-hour (register B = 0x02).
        let raw = Raw([0x09, 0x05, 0x13, 0x23, 0x11, 0x26, 0x20]);
        assert_eq!(raw.decode(0x02), dt(2026, 11, 23, 13, 5, 9));
        // The same in binary, 12-hour: 1 PM.
        let raw = Raw([9, 5, 0x80 | 1, 23, 11, 26, 20]);
        assert_eq!(raw.decode(0x04), dt(2026, 11, 23, 13, 5, 9));
        // 12 AM is hour 0; no century register: the 2000s.
        let raw = Raw([0, 0, 0x12, 1, 1, 0x26, 0]);
        assert_eq!(raw.decode(0), dt(2026, 1, 1, 0, 0, 0));
        assert_eq!(from_bcd(0x59), 59);
    }
}
