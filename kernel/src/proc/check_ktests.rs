//! In-kernel tests of `sysctl debug.check` (`super::check`): it holds on
//! the running system and finds a PID that no process owns.

use core::time::Duration;

use super::check;
use super::pid::PidFlags;
use crate::{kassert, kassert_eq, ktest};

/// [`check::run`] until it finds nothing, at most about a second: tests
/// before this one may still be reaping in the background.
async fn settled() -> usize {
    let mut problems = check::run();
    for _ in 0..50 {
        if problems == 0 {
            break;
        }
        crate::task::sleep(Duration::from_millis(20)).await;
        problems = check::run();
    }
    problems
}

ktest!(
    async fn debug_check_holds_and_finds_a_pid_no_process_owns() {
        kassert_eq!(settled().await, 0);
        kassert_eq!(super::sysctl::get("debug.check"), Ok(0));
        let stray = super::pids()
            .alloc(PidFlags::NONE)
            .map_err(|e| alloc::format!("{e}"))?;
        let found = check::run();
        super::pids().free(stray);
        kassert!(found >= 1, "a stray PID went unnoticed");
        kassert_eq!(settled().await, 0);
        kassert!(
            super::sysctl::list().all(|(name, _)| name != "debug.check"),
            "debug.check is listed"
        );
        Ok(())
    }
);
