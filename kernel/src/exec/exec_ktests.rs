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

ktest!(
    async fn exec_shares_image_pages_and_copies_on_write() {
        let load = || crate::exec::load::load("/bin/hello", &[b"/bin/hello"], &[]);
        let a = load().map_err(|e| format!("load: {e}"))?;
        let cached = crate::exec::cache::frames();
        let b = load().map_err(|e| format!("load: {e}"))?;
        kassert_eq!(
            crate::exec::cache::frames(),
            cached,
            "the second exec builds nothing"
        );
        let image: alloc::vec::Vec<_> = a
            .space
            .vmas()
            .into_iter()
            .filter(|v| v.kind == VmaKind::Image)
            .collect();
        let mut shared = 0;
        let mut data = None;
        for vma in &image {
            for page in (vma.start..vma.end).step_by(4096) {
                let (Some((pa, fa)), Some((pb, fb))) =
                    (a.space.table.translate(page), b.space.table.translate(page))
                else {
                    continue;
                };
                kassert_eq!(pa, pb, "page {page:#x}: one frame for both processes");
                kassert!(
                    !fa.write && !fb.write,
                    "page {page:#x}: a shared frame is read-only"
                );
                shared += 1;
                if vma.perms.write {
                    data.get_or_insert(page);
                }
            }
        }
        kassert!(shared >= 2, "{shared} image pages shared");
        // A write to a data page: a private copy, the other process and the
        // cached page keep the file's bytes.
        let page = data.ok_or("/bin/hello has no data page with file bytes")?;
        let mut before = [0u8; 8];
        b.space
            .copy_from_user(page, &mut before)
            .map_err(|e| format!("{e}"))?;
        let scribble = [0xa5u8; 8];
        a.space
            .copy_to_user(page, &scribble)
            .map_err(|e| format!("{e}"))?;
        let (pa, fa) = a.space.table.translate(page).ok_or("unmapped")?;
        let (pb, _) = b.space.table.translate(page).ok_or("unmapped")?;
        kassert!(pa != pb && fa.write, "the writer has its own writable copy");
        let mut after = [0u8; 8];
        b.space
            .copy_from_user(page, &mut after)
            .map_err(|e| format!("{e}"))?;
        kassert_eq!(
            after,
            before,
            "the other process still sees the file's bytes"
        );
        let c = load().map_err(|e| format!("load: {e}"))?;
        c.space
            .copy_from_user(page, &mut after)
            .map_err(|e| format!("{e}"))?;
        kassert_eq!(after, before, "a new exec still sees the file's bytes");
        Ok(())
    }
);
