//! In-kernel tests of user processes: programs from the initramfs
//! (`/bin/init`, `/bin/hello` and its test options, see `user/hello`) run
//! as processes, and their wait statuses say what the kernel did: exits,
//! signals for faults, `EFAULT`/`ENOSYS`/`EINVAL` for bad system calls,
//! memory and PIDs given back. Run at `-smp 1` and `-smp 4`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::pid::Pid;
use super::process::{self, State, exit_status, signal_status};
use crate::{kassert, kassert_eq, ktest, task};
use abi::Errno;
use abi::signal;

/// Spawns `path` with `args` (`argv[0]` is `path`) and waits for it:
/// its PID and wait status.
async fn run_on(cpu: Option<usize>, path: &str, args: &[&str]) -> Result<(Pid, i32), String> {
    let mut argv: Vec<&[u8]> = alloc::vec![path.as_bytes()];
    argv.extend(args.iter().map(|a| a.as_bytes()));
    let pid = process::spawn_process_on(cpu, path, &argv, &[b"TERM=tine"])
        .map_err(|e| format!("spawn {path}: {e}"))?;
    kassert!(
        super::pids().is_allocated(pid),
        "{pid} is not allocated while running"
    );
    let status = process::wait(pid)
        .await
        .map_err(|e| format!("wait {pid}: {e}"))?;
    Ok((pid, status))
}

async fn run(path: &str, args: &[&str]) -> Result<i32, String> {
    run_on(None, path, args).await.map(|(_, status)| status)
}

/// Runs `/bin/hello` with `args` and checks its wait status.
async fn hello_ends_with(args: &[&str], want: i32) -> Result<(), String> {
    let status = run("/bin/hello", args).await?;
    kassert_eq!(status, want, "hello {args:?}: wait status");
    Ok(())
}

ktest!(
    async fn process_init_runs_and_exits_0() {
        // `--greet`: greet and exit, without starting the user shell.
        let (pid, status) = run_on(None, "/bin/init", &["--greet"]).await?;
        kassert_eq!(status, 0);
        kassert!(
            !super::pids().is_allocated(pid),
            "{pid} still allocated after wait"
        );
        kassert!(process::lookup(pid).is_none(), "{pid} still in the table");
        kassert_eq!(process::wait(pid).await, Err(Errno::ECHILD));
        Ok(())
    }
);

ktest!(
    async fn process_hello_with_args_exits_0() {
        hello_ends_with(&["one", "two", "three"], 0).await
    }
);

ktest!(
    async fn process_hello_panic_exits_127() {
        hello_ends_with(&["--panic"], exit_status(127)).await
    }
);

ktest!(
    async fn process_null_store_is_sigsegv_and_the_kernel_goes_on() {
        hello_ends_with(&["--segv"], signal_status(signal::SIGSEGV)).await?;
        hello_ends_with(&["--ud2"], signal_status(signal::SIGILL)).await?;
        // The kernel is unharmed: the next program runs normally.
        hello_ends_with(&["still", "alive"], 0).await
    }
);

ktest!(
    async fn process_write_with_bad_pointer_is_efault() {
        hello_ends_with(&["--efault"], exit_status(Errno::EFAULT.number())).await
    }
);

ktest!(
    async fn process_unknown_syscall_is_enosys() {
        hello_ends_with(&["--enosys"], exit_status(Errno::ENOSYS.number())).await
    }
);

ktest!(
    async fn process_brk_and_anonymous_mmap_work() {
        hello_ends_with(&["--mem"], 0).await
    }
);

ktest!(
    async fn process_arch_prctl_sets_the_fs_base() {
        hello_ends_with(&["--tls"], 0).await
    }
);

ktest!(
    async fn process_spawn_errors_take_no_pid() {
        let before = super::pids().lastpid();
        for (path, want) in [
            ("/nonexistent", Errno::ENOENT),
            ("/bin", Errno::EACCES),
            ("/bin/init/x", Errno::ENOTDIR),
        ] {
            kassert_eq!(
                process::spawn_process(path, &[path.as_bytes()], &[]).err(),
                Some(want),
                "{path}"
            );
        }
        kassert_eq!(
            process::spawn_process("/bin/hello", &[b"bad\0arg"], &[]).err(),
            Some(Errno::EINVAL)
        );
        kassert_eq!(super::pids().lastpid(), before);
        kassert_eq!(
            process::wait(Pid::new(super::pids().pid_max() - 1).ok_or("pid")?).await,
            Err(Errno::ECHILD)
        );
        Ok(())
    }
);

ktest!(
    async fn process_twenty_at_once_on_all_cpus() {
        const N: usize = 20;
        let mut pids = Vec::new();
        for i in 0..N {
            let arg = format!("{i}");
            let argv: [&[u8]; 2] = [b"/bin/hello", arg.as_bytes()];
            let pid = process::spawn_process_on(Some(i), "/bin/hello", &argv, &[])
                .map_err(|e| format!("spawn {i}: {e}"))?;
            pids.push(pid);
        }
        let mut sorted = pids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        kassert_eq!(sorted.len(), N, "PIDs are unique");
        let running = process::list()
            .iter()
            .filter(|p| pids.contains(&p.pid))
            .count();
        kassert_eq!(running, N, "all in the table before they are reaped");
        for pid in pids.iter().rev() {
            kassert_eq!(process::wait(*pid).await, Ok(0), "{pid}");
        }
        for pid in pids {
            kassert!(!super::pids().is_allocated(pid), "{pid} not freed");
        }
        Ok(())
    }
);

ktest!(
    async fn process_spinning_programs_are_preempted() {
        // More spinners than CPUs, all starting on CPU 0: they finish only
        // if time slices end and the CPU is shared (or they are stolen).
        let n = task::ncpus() + 2;
        let mut pids = Vec::new();
        for _ in 0..n {
            let argv: [&[u8]; 3] = [b"/bin/hello", b"--spin", b"20"];
            pids.push(
                process::spawn_process_on(Some(0), "/bin/hello", &argv, &[])
                    .map_err(|e| format!("spawn: {e}"))?,
            );
        }
        // This task keeps running meanwhile (kernel code is scheduled
        // between the slices).
        task::sleep(core::time::Duration::from_millis(5)).await;
        let alive = pids
            .iter()
            .filter(|&&p| process::lookup(p).is_some_and(|p| p.state() == State::Running))
            .count();
        log::debug!("{alive} of {n} spinners still running after 5 ms");
        for pid in pids {
            kassert_eq!(process::wait(pid).await, Ok(0), "{pid}");
        }
        Ok(())
    }
);

ktest!(
    async fn process_memory_is_given_back() {
        // The first run warms up what stays allocated (page-table pages of
        // the kernel's own, per-CPU CR3 references).
        for _ in 0..2 {
            kassert_eq!(run("/bin/hello", &["--mem"]).await?, 0);
        }
        let (free_before, _) = arch::mm::frame::stats();
        let t0 = arch::cpu::tsc::now_ns();
        for _ in 0..10 {
            kassert_eq!(run("/bin/hello", &["--mem"]).await?, 0);
        }
        let per_run_us = (arch::cpu::tsc::now_ns() - t0) / 10 / 1000;
        let (free_after, _) = arch::mm::frame::stats();
        log::info!("spawn + run + wait of `hello --mem`: {per_run_us} us per process");
        // Each run maps dozens of frames; a leak would lose hundreds. A CPU
        // keeps a reference to the last page-table root it loaded.
        let slack = 2 * task::ncpus() + 8;
        kassert!(
            free_after + slack >= free_before,
            "frames free: {free_before} before, {free_after} after 10 runs"
        );
        Ok(())
    }
);
