//! In-kernel tests of `execve`: `/test/exec` (user/tests) checks argv,
//! envp, the auxiliary vector and every error from user space; here the
//! kernel side: the commit swaps the space and the name, the old space
//! survives while someone else holds it, and exec gives memory back.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;

use crate::proc::pid::Pid;
use crate::proc::process::{self, Process};
use crate::vm::space::AddressSpace;
use crate::vm::vma::{VmPerms, VmaKind};
use crate::{kassert, kassert_eq, ktest, task};

/// Runs `path` (`argv[0]` = path) as a child of the kernel; its status.
async fn run(path: &str) -> Result<i32, String> {
    let pid = process::spawn_process(path, &[path.as_bytes()], &[b"TERM=tine"])
        .map_err(|e| format!("spawn {path}: {e}"))?;
    process::wait(pid)
        .await
        .map_err(|e| format!("wait {pid}: {e}"))
}

ktest!(
    async fn exec_user_test_passes() {
        kassert_eq!(run("/test/exec").await?, 0, "/test/exec's status");
        Ok(())
    }
);

ktest!(
    async fn exec_commit_swaps_space_and_name_and_spares_other_holders() {
        let old = Arc::new(AddressSpace::new().map_err(|e| format!("{e}"))?);
        old.map_anonymous(0x40_0000, 0x40_2000, VmPerms::RW, VmaKind::Anonymous)
            .map_err(|e| format!("{e}"))?;
        old.copy_to_user(0x40_0000, b"kept")
            .map_err(|e| format!("{e}"))?;
        // A PID outside the table's range of use: the process is never
        // inserted, only its methods are exercised.
        let pid = Pid::new(99_998).ok_or("pid")?;
        let p = Process::new_child(pid, Pid::KERNEL, "before", old.clone(), None);
        let new = Arc::new(AddressSpace::new().map_err(|e| format!("{e}"))?);
        let gone = p.exec_commit("after", new.clone()).ok_or("no old space")?;
        kassert!(Arc::ptr_eq(&gone, &old), "the old space comes back");
        drop(gone);
        kassert_eq!(p.name(), "after");
        let now = p.space().ok_or("no space")?;
        kassert!(Arc::ptr_eq(&now, &new), "the new space is the process's");
        // The other holder (a vfork parent) still has its memory.
        let mut buf = [0u8; 4];
        old.copy_from_user(0x40_0000, &mut buf)
            .map_err(|e| format!("{e}"))?;
        kassert_eq!(&buf, b"kept");
        // Exit writes nothing into the new space.
        drop(now);
        p.exit(0);
        kassert_eq!(new.stats().resident_pages, 0);
        Ok(())
    }
);

ktest!(
    async fn exec_memory_is_given_back() {
        // Warm-up (see process_memory_is_given_back).
        for _ in 0..2 {
            kassert_eq!(run("/test/exec").await?, 0);
        }
        let (free_before, _) = arch::mm::frame::stats();
        for _ in 0..3 {
            kassert_eq!(run("/test/exec").await?, 0);
        }
        let (free_after, _) = arch::mm::frame::stats();
        let slack = 2 * task::ncpus() + 8;
        kassert!(
            free_after + slack >= free_before,
            "frames free: {free_before} before, {free_after} after 3 runs"
        );
        Ok(())
    }
);
