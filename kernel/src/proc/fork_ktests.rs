//! In-kernel tests of fork and wait4: `/bin/forks` (see `user/forks`)
//! forks, its children report and exit, the parent reaps them and checks
//! copy-on-write isolation; `fork1`'s failures (the `maxproc` limit, an
//! exhausted PID map, no memory for the address space) roll everything
//! back; `wait4`'s `ECHILD` and `EFAULT`. Run at `-smp 1` and `-smp 4`.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;

use super::fork::{self, FailAt};
use super::fork_flags;
use super::pid::Pid;
use super::process::{self, Process};
use crate::vm::space::AddressSpace;
use crate::{kassert, kassert_eq, ktest};
use abi::Errno;

/// How many PIDs are allocated now.
fn pids_in_use() -> usize {
    let map = super::pids();
    (1..map.pid_max())
        .filter_map(Pid::new)
        .filter(|&p| map.is_allocated(p))
        .count()
}

/// Runs `/bin/forks` with `args` and returns its wait status.
async fn forks(args: &[&str]) -> Result<i32, String> {
    let mut argv: alloc::vec::Vec<&[u8]> = alloc::vec![b"/bin/forks"];
    argv.extend(args.iter().map(|a| a.as_bytes()));
    let pid = process::spawn_process("/bin/forks", &argv, &[])
        .map_err(|e| format!("spawn /bin/forks: {e}"))?;
    process::wait(pid)
        .await
        .map_err(|e| format!("wait {pid}: {e}"))
}

ktest!(
    async fn fork_three_children_exit_and_are_reaped() {
        let pids_before = pids_in_use();
        let nprocs_before = process::nprocs();
        kassert_eq!(forks(&["3"]).await?, 0, "forks 3: wait status");
        kassert_eq!(pids_in_use(), pids_before, "PIDs in use");
        kassert_eq!(process::nprocs(), nprocs_before, "nprocs");
        Ok(())
    }
);

ktest!(
    async fn fork_children_writes_do_not_reach_the_parent() {
        // `forks` exits 1 if its static changed under it.
        kassert_eq!(forks(&["8"]).await?, 0, "forks 8: wait status");
        Ok(())
    }
);

ktest!(
    async fn fork_wait4_without_children_is_echild() {
        kassert_eq!(forks(&["--echild"]).await?, 0);
        Ok(())
    }
);

ktest!(
    async fn fork_wait4_bad_status_pointer_is_efault_and_reaps() {
        kassert_eq!(forks(&["--efault"]).await?, 0);
        Ok(())
    }
);

ktest!(
    async fn fork_orphans_are_reparented_and_reaped() {
        let nprocs = process::nprocs();
        let pids = pids_in_use();
        kassert_eq!(forks(&["--orphan"]).await?, 0);
        // The child outlives its parent; the kernel (or init) adopts it.
        for _ in 0..200 {
            if process::nprocs() == nprocs {
                break;
            }
            crate::task::sleep(core::time::Duration::from_millis(5)).await;
        }
        kassert_eq!(process::nprocs(), nprocs, "nprocs after the orphan exited");
        kassert_eq!(pids_in_use(), pids, "PIDs in use after the orphan exited");
        Ok(())
    }
);

ktest!(
    async fn fork_many_orphans_exiting_at_once_are_all_reaped() {
        let nprocs = process::nprocs();
        let pids = pids_in_use();
        kassert_eq!(forks(&["--orphans", "200"]).await?, 0);
        // The parent's exit closes the pipe: the 200 exit together and the
        // kernel's one reaping task for them takes every zombie.
        for _ in 0..400 {
            if process::nprocs() == nprocs {
                break;
            }
            crate::task::sleep(core::time::Duration::from_millis(5)).await;
        }
        kassert_eq!(process::nprocs(), nprocs, "nprocs after the orphans exited");
        kassert_eq!(pids_in_use(), pids, "PIDs in use after the orphans exited");
        Ok(())
    }
);

/// A parent that never runs: a PID, an empty address space with one
/// touched page, not in the table.
pub(super) fn fake_parent() -> Result<Arc<Process>, String> {
    let pid = super::pids()
        .alloc(super::pid::PidFlags::NONE)
        .map_err(|_| String::from("no PID for the fake parent"))?;
    let space = AddressSpace::new().map_err(|e| format!("space: {e}"))?;
    Ok(Process::new_child(
        pid,
        Pid::KERNEL,
        "fake",
        Arc::new(space),
        None,
    ))
}

/// Forks `parent` expecting `want`; checks that nprocs, the uid's count,
/// the PIDs and the free frames are as before.
async fn fork_fails_cleanly(parent: &Arc<Process>, want: Errno) -> Result<(), String> {
    fork_fails_cleanly_with(parent, &fork_flags::fork(), want).await
}

/// [`fork_fails_cleanly`] for request `req`.
async fn fork_fails_cleanly_with(
    parent: &Arc<Process>,
    req: &fork_flags::ForkRequest,
    want: Errno,
) -> Result<(), String> {
    let ctx = arch::user::UserContext::default();
    let nprocs = process::nprocs();
    let pids = pids_in_use();
    let lastpid = super::pids().lastpid();
    let (free, _) = arch::mm::frame::stats();
    let uid = parent.charged_uid();
    let charged = super::uidinfo::count(uid);
    let got = fork::fork1(parent, &ctx, req).await;
    kassert_eq!(got, Err(want));
    kassert_eq!(
        super::uidinfo::count(uid),
        charged,
        "uid {uid}'s processes after {want}"
    );
    kassert_eq!(process::nprocs(), nprocs, "nprocs after {want}");
    kassert_eq!(pids_in_use(), pids, "PIDs in use after {want}");
    let (free_after, _) = arch::mm::frame::stats();
    kassert_eq!(free_after, free, "free frames after {want}");
    let last = super::pids().lastpid();
    if last != lastpid {
        kassert!(
            !super::pids().is_allocated(last),
            "PID {last} taken by the failed fork is still allocated"
        );
    }
    Ok(())
}

ktest!(
    async fn fork_failures_roll_everything_back() {
        let parent = fake_parent()?;
        let result = async {
            // The process limit.
            let old = fork::set_maxproc(process::nprocs());
            let r = fork_fails_cleanly(&parent, Errno::EAGAIN).await;
            fork::set_maxproc(old);
            r?;
            // An exhausted PID map, then no memory for the address space.
            for (at, want) in [(FailAt::Pid, Errno::EAGAIN), (FailAt::Space, Errno::ENOMEM)] {
                fork::inject_failure(at);
                let r = fork_fails_cleanly(&parent, want).await;
                fork::inject_failure(FailAt::Nothing);
                r?;
            }
            // The process descriptor (pdfork's last allocation): the
            // caller's table is left as it was.
            let req = fork_flags::pdfork(0, fork_flags::FdOut::Kernel)
                .map_err(|e| format!("pdfork request: {e}"))?;
            let fds = parent.files().len();
            fork::inject_failure(FailAt::ProcDesc);
            let r = fork_fails_cleanly_with(&parent, &req, Errno::EMFILE).await;
            fork::inject_failure(FailAt::Nothing);
            r?;
            kassert_eq!(parent.files().len(), fds, "descriptors after EMFILE");
            // A user request for a kernel process is refused before anything.
            let ctx = arch::user::UserContext::default();
            kassert_eq!(
                fork::fork1(&parent, &ctx, &fork_flags::kthread(false)).await,
                Err(Errno::ENOSYS)
            );
            Ok::<(), String>(())
        }
        .await;
        super::pids().free(parent.pid());
        result
    }
);

ktest!(
    async fn fork_kernel_wait_child_with_default_options_reaps() {
        // A kernel caller's `wait_child` with `WaitOptions::default()` (as
        // the fork1_exit_reap benchmark does): it waits for the exit and
        // reaps. A derived default once asked for no report at all and
        // the wait never ended. A wait that asks for nothing is EINVAL.
        use super::process::{WaitFor, WaitOptions, signal_status, wait_child};
        use super::signal;
        let parent = fake_parent()?;
        if !process::reserve_slot(usize::MAX) {
            super::pids().free(parent.pid());
            return Err("no process slot".into());
        }
        process::insert(parent.clone());
        let result = async {
            let nothing = WaitOptions {
                exited: false,
                ..WaitOptions::default()
            };
            kassert!(nothing.asks_nothing());
            kassert_eq!(
                wait_child(parent.pid(), WaitFor::Any, nothing).await,
                Err(Errno::EINVAL)
            );
            // The child's context is all zeros: it faults at 0 and dies
            // of SIGSEGV.
            let ctx = arch::user::UserContext::default();
            let child = fork::fork1(&parent, &ctx, &fork_flags::fork())
                .await
                .map_err(|e| format!("fork1: {e}"))?;
            let got = wait_child(parent.pid(), WaitFor::Pid(child), WaitOptions::default()).await;
            kassert_eq!(got, Ok(Some((child, signal_status(signal::SIGSEGV)))));
            kassert!(process::lookup(child).is_none(), "{child} not reaped");
            Ok::<(), String>(())
        }
        .await;
        parent.exit(0);
        let reaped = process::wait(parent.pid()).await;
        result?;
        kassert_eq!(reaped, Ok(0), "the fake parent's reaping");
        Ok(())
    }
);
