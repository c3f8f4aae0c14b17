//! In-kernel tests of signals (`test=signal_`): kernel-side sends to real
//! processes (default actions, group kills, stop and continue),
//! [`interruptible`](super::signal::interruptible) on a process that never
//! runs, and `/bin/sigtest`'s modes (see `user/sigtest`), each of which
//! checks one behaviour from user space and exits 0 when it held.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::time::Duration;

use super::pid::Pid;
use super::process::{self, Process, State, signal_status};
use super::signal::{self, SigInfo};
use crate::vm::space::AddressSpace;
use crate::{kassert, kassert_eq, ktest};
use abi::Errno;

/// Spawns `path` with `args` (`argv[0]` is `path`).
fn spawn(path: &str, args: &[&str]) -> Result<Pid, String> {
    let mut argv: Vec<&[u8]> = alloc::vec![path.as_bytes()];
    argv.extend(args.iter().map(|a| a.as_bytes()));
    process::spawn_process(path, &argv, &[]).map_err(|e| format!("spawn {path}: {e}"))
}

/// A process that never runs: a PID, an empty address space, not in the
/// table.
fn idle_process() -> Result<Arc<Process>, String> {
    let pid = super::pids()
        .alloc(super::pid::PidFlags::NONE)
        .map_err(|_| String::from("no PID"))?;
    let space = AddressSpace::new().map_err(|e| format!("space: {e}"))?;
    Ok(Process::new_child(
        pid,
        Pid::KERNEL,
        "idle",
        Arc::new(space),
        None,
    ))
}

/// A long-running `/bin/hello --spin`: a process to signal.
fn spinner() -> Result<Pid, String> {
    spawn("/bin/hello", &["--spin", "100000"])
}

ktest!(
    async fn signal_interruptible_returns_eintr_when_a_signal_arrives() {
        let p = idle_process()?;
        let result = async {
            // Nothing pending: a ready future completes.
            kassert_eq!(signal::interruptible(&p, async { 7 }).await, Ok(7));
            // A signal posted while the future waits interrupts it.
            let waiter = {
                let p = p.clone();
                crate::task::spawn(async move {
                    signal::interruptible(&p, core::future::pending::<()>()).await
                })
            };
            crate::task::sleep(Duration::from_millis(5)).await;
            signal::send(&p, signal::SIGUSR1, SigInfo::user(signal::SIGUSR1, 0));
            kassert_eq!(waiter.await, Err(Errno::EINTR));
            // Still pending: the next wait is interrupted at once (no lost
            // wake-up), while a blocked signal does not interrupt.
            kassert_eq!(
                signal::interruptible(&p, core::future::pending::<()>()).await,
                Err(Errno::EINTR)
            );
            p.signals().with_queue(|q| {
                q.take(signal::SIGUSR1);
            });
            p.signals().set_blocked(signal::SigSet::of(signal::SIGUSR2));
            signal::send(&p, signal::SIGUSR2, SigInfo::user(signal::SIGUSR2, 0));
            kassert!(
                !p.signals().has_deliverable(),
                "a blocked signal is deliverable"
            );
            let ready = signal::interruptible(&p, async { 1 }).await;
            kassert_eq!(ready, Ok(1));
            // Ignored by default: discarded, no interruption.
            signal::send(&p, signal::SIGCHLD, SigInfo::kernel(signal::SIGCHLD));
            kassert!(!p.signals().pending().contains(signal::SIGCHLD));
            Ok(())
        }
        .await;
        super::pids().free(p.pid());
        result
    }
);

ktest!(
    async fn signal_process_signal_skips_a_thread_that_ended() {
        // A process with two threads that never run: the leader has ended
        // alone (`thread_exit_signals` drained its queue) but is still in
        // the list, as between the drain and `remove_thread` in the
        // thread's exit. A process signal must go to the other thread:
        // in the ended one's queue it would be lost with it, and a
        // `sigwait` or `pause` of the other thread would never end. Once
        // the other thread blocks the signal too, it stays pending for
        // the process.
        use super::thread::Thread;
        let p = idle_process()?;
        let leader = Thread::new(p.pid(), p.clone());
        let uid = p.charged_uid();
        if !process::reserve_slot(usize::MAX) {
            super::pids().free(p.pid());
            return Err("no process slot".into());
        }
        super::uidinfo::charge(uid, None);
        let tid = match super::pids().alloc(super::pid::PidFlags::NONE) {
            Ok(tid) => tid,
            Err(_) => {
                super::uidinfo::uncharge(uid);
                process::release_slot();
                super::pids().free(p.pid());
                return Err("no TID".into());
            }
        };
        let other = Thread::new(tid, p.clone());
        p.add_thread(leader.clone());
        p.add_thread(other.clone());
        let result = (|| {
            signal::thread_exit_signals(&leader);
            signal::send(&p, signal::SIGUSR1, SigInfo::user(signal::SIGUSR1, 0));
            kassert!(
                !leader.signals().pending().contains(signal::SIGUSR1),
                "a process signal went to a thread that had ended"
            );
            kassert!(
                other.signals().pending().contains(signal::SIGUSR1),
                "the live thread did not get the process signal"
            );
            signal::set_thread_mask(&other, signal::SigSet::of(signal::SIGUSR2));
            signal::send(&p, signal::SIGUSR2, SigInfo::user(signal::SIGUSR2, 0));
            kassert!(!leader.signals().pending().contains(signal::SIGUSR2));
            kassert!(!other.signals().pending().contains(signal::SIGUSR2));
            kassert!(
                p.signals().pending().contains(signal::SIGUSR2),
                "a signal every live thread blocks is not pending for the process"
            );
            Ok::<(), String>(())
        })();
        p.remove_thread(&other);
        p.remove_thread(&leader);
        super::thread::release_tid(&p, tid);
        super::pids().free(p.pid());
        result
    }
);

ktest!(
    async fn signal_kernel_send_terminates_with_the_signal_status() {
        let pid = spinner()?;
        let p = process::lookup(pid).ok_or("spinner gone")?;
        signal::send(&p, signal::SIGTERM, SigInfo::kernel(signal::SIGTERM));
        let status = process::wait(pid).await.map_err(|e| format!("{e}"))?;
        kassert_eq!(status, signal_status(abi::signal::SIGTERM));
        Ok(())
    }
);

ktest!(
    async fn signal_kill_pgrp_reaches_the_group_only() {
        let a = spinner()?;
        let b = spinner()?;
        // Both lead their own group (kernel-started processes are session
        // and group leaders); put b in a's group.
        let pa = process::lookup(a).ok_or("a gone")?;
        let pb = process::lookup(b).ok_or("b gone")?;
        kassert_eq!(pa.pgid(), a);
        kassert_eq!(pa.sid(), a);
        kassert_eq!(
            signal::kill_pgrp(Pid::new(99_990).ok_or("pid")?, signal::SIGINT),
            Err(Errno::ESRCH)
        );
        signal::kill_pgrp(a, signal::SIGINT).map_err(|e| format!("kill_pgrp: {e}"))?;
        kassert_eq!(
            process::wait(a).await,
            Ok(signal_status(abi::signal::SIGINT))
        );
        kassert_eq!(pb.state(), State::Running, "b is not in a's group");
        signal::kill_pgrp(b, signal::SIGKILL).map_err(|e| format!("kill_pgrp: {e}"))?;
        kassert_eq!(
            process::wait(b).await,
            Ok(signal_status(abi::signal::SIGKILL))
        );
        Ok(())
    }
);

ktest!(
    async fn signal_stop_and_continue_a_running_process() {
        let pid = spinner()?;
        let p = process::lookup(pid).ok_or("spinner gone")?;
        signal::send(&p, signal::SIGSTOP, SigInfo::kernel(signal::SIGSTOP));
        let mut stopped = false;
        for _ in 0..400 {
            // The report comes right after the stop (after the SIGCHLD).
            if p.signals().is_stopped() && p.signals().has_report(true, false) {
                stopped = true;
                break;
            }
            crate::task::sleep(Duration::from_millis(5)).await;
        }
        kassert!(stopped, "SIGSTOP did not stop the process");
        kassert_eq!(
            p.signals().take_report(true, true),
            Some(signal::JobReport::Stopped(signal::SIGSTOP))
        );
        signal::send(&p, signal::SIGCONT, SigInfo::kernel(signal::SIGCONT));
        kassert!(!p.signals().is_stopped(), "SIGCONT did not continue");
        kassert_eq!(
            p.signals().take_report(true, true),
            Some(signal::JobReport::Continued)
        );
        // Stopped again, SIGKILL still ends it.
        signal::send(&p, signal::SIGTSTP, SigInfo::kernel(signal::SIGTSTP));
        for _ in 0..400 {
            if p.signals().is_stopped() {
                break;
            }
            crate::task::sleep(Duration::from_millis(5)).await;
        }
        signal::send(&p, signal::SIGKILL, SigInfo::kernel(signal::SIGKILL));
        kassert_eq!(
            process::wait(pid).await,
            Ok(signal_status(abi::signal::SIGKILL))
        );
        Ok(())
    }
);

/// Runs `/bin/sigtest MODE` and returns its wait status.
async fn sigtest(mode: &str) -> Result<i32, String> {
    let pid = spawn("/bin/sigtest", &[mode])?;
    process::wait(pid)
        .await
        .map_err(|e| format!("wait {pid}: {e}"))
}

/// Declares a test that runs `/bin/sigtest MODE` and expects `status`.
macro_rules! sigtest_mode {
    ($name:ident, $mode:literal, $status:expr) => {
        ktest!(
            async fn $name() {
                kassert_eq!(
                    sigtest($mode).await?,
                    $status,
                    "sigtest {}: wait status",
                    $mode
                );
                Ok(())
            }
        );
    };
}

sigtest_mode!(
    signal_handler_runs_and_sigreturn_restores_registers,
    "handler",
    0
);
sigtest_mode!(
    signal_blocked_signal_stays_pending_until_unblocked,
    "block",
    0
);
sigtest_mode!(signal_segv_handler_sees_the_fault_and_resumes, "segv", 0);
sigtest_mode!(signal_segv_handler_may_exit, "segv-exit", 0);
sigtest_mode!(signal_sigill_handler_skips_ud2, "ud2", 0);
sigtest_mode!(
    signal_sigreturn_sanitises_flags_and_selectors,
    "sanitize",
    0
);
sigtest_mode!(signal_stop_continue_wuntraced_wcontinued_sigchld, "stop", 0);
sigtest_mode!(signal_process_groups_and_sessions, "pgrp", 0);
sigtest_mode!(signal_wait4_and_pause_return_eintr, "eintr", 0);
sigtest_mode!(signal_sigsuspend_swaps_the_mask, "sigsuspend", 0);
sigtest_mode!(signal_ignored_sigchld_reaps_children, "autoreap", 0);
sigtest_mode!(signal_sigaltstack_runs_handlers_there, "altstack", 0);
sigtest_mode!(signal_einval_efault_esrch_matrix, "errors", 0);
sigtest_mode!(
    signal_kill_self_terminates,
    "kill-self",
    signal_status(abi::signal::SIGTERM)
);
sigtest_mode!(
    signal_blocked_fault_is_forced,
    "segv-blocked",
    signal_status(abi::signal::SIGSEGV)
);
sigtest_mode!(
    signal_unwritable_frame_is_sigsegv,
    "badstack",
    signal_status(abi::signal::SIGSEGV)
);
sigtest_mode!(
    signal_sigreturn_without_frame_is_sigsegv,
    "badsigreturn",
    signal_status(abi::signal::SIGSEGV)
);
sigtest_mode!(signal_sa_restart_restarts_wait4, "restart", 0);

/// Polls until `cond` holds (at most about 2 s).
async fn poll_until(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..400 {
        if cond() {
            return true;
        }
        crate::task::sleep(Duration::from_millis(5)).await;
    }
    cond()
}

ktest!(
    async fn signal_stop_and_continue_restart_a_waiting_wait4() {
        let parent = spawn("/bin/sigtest", &["restart-stop"])?;
        let p = process::lookup(parent).ok_or("sigtest gone")?;
        let child = || {
            process::all()
                .into_iter()
                .find(|c| c.ppid() == parent && c.state() == State::Running)
        };
        kassert!(poll_until(|| child().is_some()).await, "no child forked");
        // Let the parent reach wait4 (if it has not, the stop hits it in
        // user mode, which must work too).
        crate::task::sleep(Duration::from_millis(20)).await;
        signal::send(&p, signal::SIGSTOP, SigInfo::kernel(signal::SIGSTOP));
        kassert!(
            poll_until(|| p.signals().is_stopped()).await,
            "the parent did not stop"
        );
        signal::send(&p, signal::SIGCONT, SigInfo::kernel(signal::SIGCONT));
        crate::task::sleep(Duration::from_millis(5)).await;
        let c = child().ok_or("the child is gone")?;
        signal::send(&c, signal::SIGKILL, SigInfo::kernel(signal::SIGKILL));
        kassert_eq!(process::wait(parent).await, Ok(0), "sigtest restart-stop");
        Ok(())
    }
);
