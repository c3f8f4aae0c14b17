//! In-kernel tests of threads: the futex table with real tasks waking each
//! other across CPUs, and the group exit, fault and exec paths of a
//! threaded process (`/bin/threads` modes), each checking that every
//! thread's TID, process slot and uid count came back.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use super::futex::{FutexTable, Key, MATCH_ANY};
use super::process;
use crate::{kassert, kassert_eq, ktest};

/// Polls `cond` every millisecond for up to two seconds.
async fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..2000 {
        if cond() {
            return true;
        }
        crate::task::sleep(core::time::Duration::from_millis(1)).await;
    }
    cond()
}

ktest!(
    async fn futex_table_wakes_and_requeues_tasks_on_every_cpu() {
        let table = Arc::new(FutexTable::new(64));
        let woke = Arc::new(AtomicUsize::new(0));
        let k1 = Key::private(0x1000, 64);
        let k2 = Key::private(0x1000, 128);
        let mut handles = Vec::new();
        for i in 0..8 {
            let (t, w) = (table.clone(), woke.clone());
            handles.push(crate::task::spawn_on(
                i % crate::task::ncpus(),
                async move {
                    let waiting = t.wait(k1, MATCH_ANY, || Ok::<_, ()>(())).unwrap();
                    waiting.await;
                    w.fetch_add(1, Ordering::SeqCst);
                },
            ));
        }
        kassert!(eventually(|| table.waiters_on(k1) == 8).await, "8 waiters");
        kassert_eq!(table.wake(k1, 3, MATCH_ANY), 3);
        kassert!(eventually(|| woke.load(Ordering::SeqCst) == 3).await);
        kassert_eq!(table.requeue(k1, k2, 0, 5, || Ok::<_, ()>(())), Ok(5));
        kassert_eq!(table.waiters_on(k2), 5);
        kassert_eq!(woke.load(Ordering::SeqCst), 3, "a requeue wakes nobody");
        kassert_eq!(table.wake(k2, usize::MAX, MATCH_ANY), 5);
        for h in handles {
            h.await;
        }
        kassert_eq!(woke.load(Ordering::SeqCst), 8);
        kassert_eq!(table.waiters(), 0);
        Ok(())
    }
);

/// Runs `/bin/threads ARGS...` and returns its wait status, checking that
/// the process count is back where it was (every thread's slot returned).
async fn threads(args: &[&str]) -> Result<i32, String> {
    let nprocs = process::nprocs();
    let mut argv: Vec<&[u8]> = alloc::vec![b"/bin/threads".as_slice()];
    argv.extend(args.iter().map(|a| a.as_bytes()));
    let pid = process::spawn_process("/bin/threads", &argv, &[])
        .map_err(|e| format!("spawn /bin/threads: {e}"))?;
    let status = process::wait(pid)
        .await
        .map_err(|e| format!("wait {pid}: {e}"))?;
    if !eventually(|| process::nprocs() == nprocs).await {
        return Err(format!(
            "{} process slots left behind by /bin/threads {args:?}",
            process::nprocs() - nprocs
        ));
    }
    Ok(status)
}

ktest!(
    async fn threaded_process_creates_and_joins_16_threads() {
        kassert_eq!(threads(&["16"]).await?, 0);
        Ok(())
    }
);

ktest!(
    async fn exit_in_one_thread_ends_every_blocked_thread() {
        // Eight threads block in pthread_cond_wait; another calls exit(3).
        kassert_eq!(threads(&["-e", "8"]).await?, process::exit_status(3));
        Ok(())
    }
);

ktest!(
    async fn a_fault_in_one_thread_kills_the_group_with_sigsegv() {
        kassert_eq!(
            threads(&["-k", "8"]).await?,
            process::signal_status(crate::proc::signal::SIGSEGV)
        );
        Ok(())
    }
);

ktest!(
    async fn exec_from_a_non_leader_ends_the_others_and_keeps_the_pid() {
        // The exec'd image exits 0 iff getpid() == gettid() == the PID the
        // old image passed it.
        kassert_eq!(threads(&["-x", "8"]).await?, 0);
        Ok(())
    }
);

/// The size of the future `f` returns (never polled, never made).
fn future_size<A, B, C, R>(_: impl FnOnce(A, B, C) -> R) -> usize {
    core::mem::size_of::<R>()
}

ktest!(
    async fn a_parked_threads_future_stays_small() {
        // What a thread parked in a futex wait holds besides its records
        // (docs/memory.md, "Per thread"): its own future, with `dispatch`
        // and the futex wait inline. The big system calls are boxed in
        // `dispatch`; a new inline one that is big shows here.
        let run = future_size(super::thread::run);
        let futex = future_size(super::futex::futex);
        log::info!("thread future {run} B, futex future {futex} B");
        kassert!(run <= 512, "proc::thread::run's future is {run} B");
        kassert!(futex <= 192, "futex's future is {futex} B");
        Ok(())
    }
);
