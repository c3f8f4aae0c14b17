//! In-kernel tests of the fork family beyond fork(2): every mode of
//! `/bin/forkfam` (vfork, the 4.4BSD vfork, clone with a private stack,
//! clone's TID stores, `RFNOWAIT`, the rfork/clone `EINVAL` matrices, the
//! `sysctl` call), and the limits: the `maxproc` message at most once a
//! second, `kern.forkfsleep` sleeping only the failing fork, the fork
//! counters and the fork hooks.

use alloc::format;
use alloc::string::String;
use core::sync::atomic::{AtomicU32, Ordering};

use super::fork::{self, FailAt};
use super::fork_ktests::fake_parent;
use super::pid::Pid;
use super::process;
use super::{events, fork_flags};
use crate::{kassert, kassert_eq, ktest};
use abi::Errno;

/// Runs `/bin/forkfam MODE` and returns its wait status.
async fn forkfam(mode: &str) -> Result<i32, String> {
    let argv: [&[u8]; 2] = [b"/bin/forkfam", mode.as_bytes()];
    let pid = process::spawn_process("/bin/forkfam", &argv, &[])
        .map_err(|e| format!("spawn /bin/forkfam: {e}"))?;
    process::wait(pid)
        .await
        .map_err(|e| format!("wait {pid}: {e}"))
}

macro_rules! forkfam_test {
    ($name:ident, $mode:literal) => {
        ktest!(
            async fn $name() {
                let nprocs = process::nprocs();
                kassert_eq!(forkfam($mode).await?, 0, "/bin/forkfam {}", $mode);
                // Children reaped by the kernel (RFNOWAIT) may still be on
                // their way out.
                for _ in 0..200 {
                    if process::nprocs() == nprocs {
                        break;
                    }
                    crate::task::sleep(core::time::Duration::from_millis(5)).await;
                }
                kassert_eq!(process::nprocs(), nprocs, "processes left behind");
                Ok(())
            }
        );
    };
}

forkfam_test!(
    forkfam_vfork_child_runs_first_in_the_parents_memory,
    "vfork"
);
forkfam_test!(forkfam_vfork_44bsd_copies_and_waits, "vfork44");
forkfam_test!(forkfam_clone_vm_vfork_on_a_private_stack, "clone-vfork");
forkfam_test!(forkfam_clone_settid_stores_in_each_side, "settid");
forkfam_test!(forkfam_rfnowait_child_belongs_to_the_reaper, "nowait");
forkfam_test!(forkfam_rfork_and_clone_einval_matrices, "einval");
forkfam_test!(forkfam_sysctl_reads_writes_and_refuses, "sysctl");
forkfam_test!(forkfam_reaper_adopts_orphans_of_its_subtree, "reaper");
forkfam_test!(forkfam_rfthread_peers_die_with_their_leader, "peers");
forkfam_test!(forkfam_clone_sighand_shares_signal_actions, "sighand");
forkfam_test!(forkfam_rfspawn_resets_caught_signals, "spawn");
forkfam_test!(forkfam_blocking_forkevents_ends_with_eintr, "eintr");
forkfam_test!(forkfam_clone_child_cleartid_zeroes_at_exit, "cleartid");
forkfam_test!(
    forkfam_descriptor_tables_and_cwd_copy_share_or_start_fresh,
    "files"
);
forkfam_test!(forkfam_rfork_without_rfproc_divorces_in_place, "unshare");
forkfam_test!(forkfam_process_descriptors, "pdfork");
forkfam_test!(forkfam_exit_signals_follow_the_flags, "exitsig");
forkfam_test!(
    forkfam_a_killed_vfork_child_releases_the_parent,
    "vforkkill"
);
forkfam_test!(
    forkfam_sched_child_runs_first_orders_a_pinned_fork,
    "childfirst"
);

ktest!(
    async fn fork_rlimit_nproc_refuses_the_sixth_process_and_leaks_nothing() {
        let nprocs = process::nprocs();
        let (free, _) = arch::mm::frame::stats();
        kassert_eq!(forkfam("nproc").await?, 0, "/bin/forkfam nproc");
        kassert_eq!(super::uidinfo::count(1000), 0, "uid 1000 still counted");
        kassert_eq!(process::nprocs(), nprocs, "processes left behind");
        // Frames: the program's pages are back (per-CPU caches may hold a
        // few; the allocator's count includes them as free).
        let (free_after, _) = arch::mm::frame::stats();
        kassert!(
            free_after + 64 >= free,
            "frames: {free} before, {free_after} after"
        );
        Ok(())
    }
);

ktest!(
    async fn fork_maxproc_message_at_most_once_a_second() {
        let parent = fake_parent()?;
        let ctx = arch::user::UserContext::default();
        let old = fork::set_maxproc(process::nprocs());
        let result = async {
            let before = fork::maxproc_messages();
            // A fork bomb's worth of failures in well under a second.
            for _ in 0..200 {
                kassert_eq!(
                    fork::fork1(&parent, &ctx, &fork_flags::fork()).await,
                    Err(Errno::EAGAIN)
                );
            }
            let burst = fork::maxproc_messages() - before;
            kassert!(burst <= 1, "{burst} messages for one burst");
            // A second later the next failure speaks again, once.
            crate::task::sleep(core::time::Duration::from_millis(1100)).await;
            let before = fork::maxproc_messages();
            for _ in 0..50 {
                let _ = fork::fork1(&parent, &ctx, &fork_flags::fork()).await;
            }
            kassert_eq!(
                fork::maxproc_messages() - before,
                1,
                "messages after a quiet second"
            );
            Ok::<(), String>(())
        }
        .await;
        fork::set_maxproc(old);
        super::pids().free(parent.pid());
        result
    }
);

ktest!(
    async fn fork_forkfsleep_sleeps_only_the_failing_fork() {
        let parent = fake_parent()?;
        let ctx = arch::user::UserContext::default();
        let old_max = fork::set_maxproc(process::nprocs());
        let old_sleep = fork::set_forkfsleep_ms(100);
        // Another task on this CPU keeps running while the fork sleeps.
        static TICKS: AtomicU32 = AtomicU32::new(0);
        TICKS.store(0, Ordering::Relaxed);
        let ticker = crate::task::Builder::new()
            .cpu(arch::cpu::id())
            .spawn(async {
                for _ in 0..5 {
                    crate::task::sleep(core::time::Duration::from_millis(5)).await;
                    TICKS.fetch_add(1, Ordering::Relaxed);
                }
            });
        let start = crate::task::now_ns();
        let got = fork::fork1(&parent, &ctx, &fork_flags::fork()).await;
        let slept_ns = crate::task::now_ns() - start;
        let ticks = TICKS.load(Ordering::Relaxed);
        fork::set_forkfsleep_ms(old_sleep);
        fork::set_maxproc(old_max);
        super::pids().free(parent.pid());
        let _ = ticker.await;
        kassert_eq!(got, Err(Errno::EAGAIN));
        // A lower bound only: the sleep is at least what was asked.
        kassert!(slept_ns >= 100_000_000, "slept {slept_ns} ns, asked 100 ms");
        kassert!(ticks >= 1, "the CPU stood still while the fork slept");
        // Failures that are not limits do not sleep: no assertion on time
        // (noisy machines), but they still fail the same way.
        Ok(())
    }
);

ktest!(
    async fn fork_failures_do_not_count_and_successes_do() {
        let parent = fake_parent()?;
        let ctx = arch::user::UserContext::default();
        let forks = || super::counters::read(super::counters::Counter::Forks);
        let before = forks();
        fork::inject_failure(FailAt::Space);
        let got = fork::fork1(&parent, &ctx, &fork_flags::fork()).await;
        fork::inject_failure(FailAt::Nothing);
        kassert_eq!(got, Err(Errno::ENOMEM));
        kassert_eq!(forks(), before, "a failed fork was counted");
        super::pids().free(parent.pid());
        // `forkfam settid` forks once with clone, which is an rfork shape;
        // `/bin/forks 2` forks twice with fork(2).
        let pid = process::spawn_process("/bin/forks", &[b"/bin/forks", b"2"], &[])
            .map_err(|e| format!("spawn: {e}"))?;
        kassert_eq!(process::wait(pid).await, Ok(0));
        kassert!(forks() >= before + 2, "forks {} -> {}", before, forks());
        Ok(())
    }
);

/// Forks seen by the test hook.
static HOOKED: AtomicU32 = AtomicU32::new(0);

fn count_hook(_parent: Pid, child: Pid, req: &fork_flags::ForkRequest) {
    if req.address_space == fork_flags::AddressSpace::Copy && child.as_u32() != 0 {
        HOOKED.fetch_add(1, Ordering::Relaxed);
    }
}

ktest!(
    async fn fork_hooks_see_every_fork_and_events_record_them() {
        HOOKED.store(0, Ordering::Relaxed);
        events::register_fork_hook("ktest", count_hook);
        let cursor = events::head();
        let pid = process::spawn_process("/bin/forks", &[b"/bin/forks", b"3"], &[])
            .map_err(|e| format!("spawn: {e}"))?;
        let status = process::wait(pid).await;
        events::unregister_fork_hook("ktest");
        kassert_eq!(status, Ok(0));
        kassert!(
            HOOKED.load(Ordering::Relaxed) >= 3,
            "hooked {}",
            HOOKED.load(Ordering::Relaxed)
        );
        let (list, _, _) = events::read_now(cursor, 256);
        let forks = list
            .iter()
            .filter(|e| e.kind == events::EventKind::Fork && e.pid == pid.as_u32())
            .count();
        let exits = list
            .iter()
            .filter(|e| e.kind == events::EventKind::Exit)
            .count();
        kassert_eq!(forks, 3, "fork events of {pid}: {list:?}");
        kassert!(exits >= 4, "exit events: {list:?}");
        Ok(())
    }
);

ktest!(
    async fn kproc_has_a_pid_is_marked_system_and_is_reaped() {
        use super::counters::{self, Counter};
        static GO: crate::task::Event = crate::task::Event::new();
        static RELEASED: core::sync::atomic::AtomicBool =
            core::sync::atomic::AtomicBool::new(false);
        RELEASED.store(false, Ordering::Relaxed);
        let kthreads = counters::read(Counter::Kthreads);
        let nprocs = process::nprocs();
        let pid = fork::kproc_create("kworker", true, async {
            GO.wait_until(|| RELEASED.load(Ordering::Relaxed)).await;
        })
        .map_err(|e| format!("kproc_create: {e}"))?;
        let result = async {
            let p = process::lookup(pid).ok_or("the kernel process is not in the table")?;
            kassert!(p.is_system());
            kassert_eq!(p.ppid(), Pid::KERNEL);
            kassert_eq!(p.name(), "kworker");
            // RFHIGHPID: FreeBSD's floor of 10.
            kassert!(pid.as_u32() >= 10, "RFHIGHPID gave {pid}");
            kassert!(process::list().iter().any(|i| i.pid == pid && i.system));
            kassert_eq!(counters::read(Counter::Kthreads), kthreads + 1);
            Ok::<(), String>(())
        }
        .await;
        RELEASED.store(true, Ordering::Relaxed);
        GO.notify_all();
        for _ in 0..400 {
            if process::lookup(pid).is_none() {
                break;
            }
            crate::task::sleep(core::time::Duration::from_millis(5)).await;
        }
        result?;
        kassert!(
            process::lookup(pid).is_none(),
            "the kernel process was not reaped"
        );
        kassert_eq!(process::nprocs(), nprocs);
        kassert!(!super::pids().is_allocated(pid), "its PID is still taken");
        Ok(())
    }
);

ktest!(
    async fn shared_table_changes_shoot_down_the_cpus_running_it() {
        use arch::mm::user::{UserFlags, shootdowns};
        // A program spinning in user mode; its table is what CLONE_VM and
        // vfork share.
        let me = arch::cpu::id();
        let ncpus = crate::task::ncpus();
        let pid = process::spawn_process_on(
            Some((me + 1) % ncpus),
            "/bin/hello",
            &[b"/bin/hello", b"--spin", b"300"],
            &[],
        )
        .map_err(|e| format!("spawn: {e}"))?;
        let space = process::lookup(pid)
            .and_then(|p| p.space())
            .ok_or("no space")?;
        let result = async {
            // A page far from anything the program uses.
            const VA: u64 = 0x7000_0000_0000;
            let before = shootdowns();
            if ncpus == 1 {
                // Nothing else runs user code while this test runs here.
                let frame = arch::mm::Frame::alloc_zeroed().ok_or("no frame")?;
                space
                    .table
                    .map(VA, frame, UserFlags::READ)
                    .map_err(|e| format!("{e:?}"))?;
                drop(space.table.unmap(VA));
                kassert_eq!(shootdowns(), before, "a shootdown with one CPU");
                return Ok(());
            }
            // Unmapping a present page weakens a mapping: a CPU running the
            // table must be kicked out of ring 3 before the frame is handed
            // back (and freed here). The program may be between two time
            // slices at that moment (then no kick is needed): try again.
            let mut kicked = false;
            for _ in 0..200 {
                if space.table.running_cpus() == 0 {
                    crate::task::sleep(core::time::Duration::from_millis(1)).await;
                    continue;
                }
                let frame = arch::mm::Frame::alloc_zeroed().ok_or("no frame")?;
                space
                    .table
                    .map(VA, frame, UserFlags::READ)
                    .map_err(|e| format!("{e:?}"))?;
                let kicks = shootdowns();
                drop(space.table.unmap(VA));
                if shootdowns() > kicks {
                    kicked = true;
                    break;
                }
            }
            kassert!(kicked, "no shootdown while the table ran on another CPU");
            let _ = before;
            Ok::<(), String>(())
        }
        .await;
        drop(space);
        let status = process::wait(pid).await;
        result?;
        kassert_eq!(status, Ok(0), "hello --spin");
        Ok(())
    }
);

ktest!(
    async fn fork_rfstopped_child_waits_for_sigcont() {
        use super::fork_flags::{ForkArgs, Lowered, RFFDG, RFPROC, RFSTOPPED};
        use super::signal;
        let parent = fake_parent()?;
        let req = match ForkArgs::new(RFPROC | RFFDG | RFSTOPPED).lower() {
            Ok(Lowered::Fork(req)) => req,
            other => return Err(format!("lower: {other:?}")),
        };
        // The child's context is all zeros: if it ever ran, it would fault
        // at address 0 at once.
        let ctx = arch::user::UserContext::default();
        let child = fork::fork1(&parent, &ctx, &req)
            .await
            .map_err(|e| format!("fork1: {e}"))?;
        let result = async {
            let p = process::lookup(child).ok_or("no child")?;
            for _ in 0..500 {
                if p.signals().is_stopped() {
                    break;
                }
                crate::task::sleep(core::time::Duration::from_millis(2)).await;
            }
            kassert!(
                p.signals().is_stopped(),
                "the RFSTOPPED child is not stopped"
            );
            kassert_eq!(
                p.state(),
                process::State::Running,
                "it stays alive while stopped"
            );
            // SIGCONT lets it run: it faults at 0 and dies of SIGSEGV.
            signal::send(
                &p,
                signal::SIGCONT,
                signal::SigInfo::kernel(signal::SIGCONT),
            );
            for _ in 0..500 {
                if p.state() != process::State::Running {
                    break;
                }
                crate::task::sleep(core::time::Duration::from_millis(2)).await;
            }
            kassert_eq!(p.state(), process::State::Zombie(11), "after SIGCONT");
            Ok::<(), String>(())
        }
        .await;
        // The fake parent never waits: its exit hands the child to the
        // kernel, which reaps it.
        parent.exit(0);
        super::pids().free(parent.pid());
        for _ in 0..500 {
            if process::lookup(child).is_none() {
                break;
            }
            crate::task::sleep(core::time::Duration::from_millis(2)).await;
        }
        result?;
        kassert!(process::lookup(child).is_none(), "the child was not reaped");
        Ok(())
    }
);
