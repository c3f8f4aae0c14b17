//! In-kernel tests of the clocks: the CMOS RTC gives a plausible date
//! (QEMU starts it at the host's time, which is past 2024).

use crate::{kassert, ktest};

ktest!(
    async fn time_rtc_reads_a_date_after_2024() {
        // 2024-01-01 00:00:00 UTC.
        const Y2024: u64 = 1_704_067_200;
        let now = drivers::rtc::read_unix_seconds();
        log::info!("RTC: {now:?} s since 1970");
        kassert!(now.is_some_and(|s| s > Y2024), "RTC reads {now:?}");
        // Two reads a moment apart do not go backwards.
        let later = drivers::rtc::read_unix_seconds();
        kassert!(later >= now, "RTC went from {now:?} to {later:?}");
        Ok(())
    }
);
