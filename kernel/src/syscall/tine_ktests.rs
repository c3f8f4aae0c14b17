//! In-kernel tests of Tine's information calls (`syscall::tine`): the
//! records they write into a real address space, the counts they return,
//! the fault counters behind `vmstat`, and `EFAULT`/`EINVAL` for bad
//! buffers.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::tine::{self, CPU_RECORD, MEM_RECORD, MEM_RECORD_MIN, PROC_RECORD, VM_RECORD};
use crate::proc::process;
use crate::vm::space::AddressSpace;
use crate::vm::vma::{VmPerms, VmaKind, pf};
use crate::{kassert, kassert_eq, ktest};
use abi::Errno;

const BASE: u64 = 0x1000_0000;
const PAGE: u64 = 4096;
/// An address no VMA covers.
const UNMAPPED: u64 = 0x7000_0000;
/// A kernel address.
const KERNEL: u64 = 0xffff_8000_0000_0000;

fn space_with_rw(pages: u64) -> Result<AddressSpace, String> {
    let space = AddressSpace::new().map_err(|e| format!("{e}"))?;
    space
        .map_anonymous(BASE, BASE + pages * PAGE, VmPerms::RW, VmaKind::Anonymous)
        .map_err(|e| format!("{e}"))?;
    Ok(space)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Runs `vmstat` into `space` and reads the record back.
fn vmstat(space: &AddressSpace, at: u64) -> Result<[u64; 4], String> {
    kassert_eq!(
        tine::vmstat(space, at, VM_RECORD as u64),
        Ok(VM_RECORD as u64)
    );
    let mut rec = [0u8; VM_RECORD];
    kassert_eq!(space.copy_from_user(at, &mut rec), Ok(()));
    Ok([0, 8, 16, 24].map(|o| u64_at(&rec, o)))
}

ktest!(
    async fn tine_vmstat_counts_zero_fills_cow_copies_and_reuses() {
        let space = space_with_rw(3)?;
        let out = BASE + 2 * PAGE;
        // The record's page, zero-filled by the kernel's copy.
        kassert_eq!(space.copy_to_user(out, &[0]), Ok(()));
        let start = vmstat(&space, out)?;
        kassert_eq!(start, [0, 0, 1, 1], "one zero fill so far");
        // Page 0: zero-filled, then shared (as fork does) and written: a copy.
        kassert_eq!(space.copy_to_user(BASE, b"a"), Ok(()));
        let (other, _) = space.table.share_frame(BASE).ok_or("share")?;
        kassert_eq!(
            space.fault(BASE, pf::USER | pf::WRITE | pf::PRESENT),
            Ok(())
        );
        drop(other);
        // Page 1: zero-filled, shared and the sharer gone: a reuse.
        kassert_eq!(space.copy_to_user(BASE + PAGE, b"b"), Ok(()));
        let (other, _) = space.table.share_frame(BASE + PAGE).ok_or("share")?;
        drop(other);
        kassert_eq!(
            space.fault(BASE + PAGE, pf::USER | pf::WRITE | pf::PRESENT),
            Ok(())
        );
        let end = vmstat(&space, out)?;
        kassert_eq!(end[0] - start[0], 1, "COW copies");
        kassert_eq!(end[1] - start[1], 1, "COW reuses");
        kassert_eq!(end[2] - start[2], 2, "zero fills");
        kassert!(end[3] >= end[0] + end[1] + end[2], "faults {end:?}");
        Ok(())
    }
);

ktest!(
    async fn tine_info_calls_refuse_bad_buffers() {
        // One process at least, so that proclist has a record to write.
        let pid = process::spawn_process("/bin/hello", &[b"hello", b"--spin", b"20"], &[])
            .map_err(|e| format!("spawn: {e}"))?;
        let space = space_with_rw(1)?;
        let big = 64 * PROC_RECORD as u64;
        for bad in [UNMAPPED, KERNEL, u64::MAX - 8] {
            kassert_eq!(
                tine::proclist(&space, bad, big),
                Err(Errno::EFAULT),
                "proclist {bad:#x}"
            );
            kassert_eq!(
                tine::cpuinfo(&space, bad, 64 * CPU_RECORD as u64),
                Err(Errno::EFAULT),
                "cpuinfo {bad:#x}"
            );
            kassert_eq!(
                tine::meminfo(&space, bad, MEM_RECORD as u64),
                Err(Errno::EFAULT),
                "meminfo {bad:#x}"
            );
            kassert_eq!(
                tine::vmstat(&space, bad, VM_RECORD as u64),
                Err(Errno::EFAULT),
                "vmstat {bad:#x}"
            );
            kassert_eq!(
                tine::kbench(&space, bad, 8).await,
                Err(Errno::EFAULT),
                "kbench {bad:#x}"
            );
        }
        // A single record that does not fit is EINVAL (meminfo: less than
        // its first six fields).
        kassert_eq!(
            tine::meminfo(&space, BASE, MEM_RECORD_MIN as u64 - 1),
            Err(Errno::EINVAL)
        );
        kassert_eq!(tine::vmstat(&space, BASE, 0), Err(Errno::EINVAL));
        kassert_eq!(
            tine::kbench(&space, BASE, 1 << 20).await,
            Err(Errno::EINVAL)
        );
        // kbench: names that are not UTF-8.
        kassert_eq!(space.copy_to_user(BASE, &[0xff, 0xfe]), Ok(()));
        kassert_eq!(tine::kbench(&space, BASE, 2).await, Err(Errno::EINVAL));
        // Lists with no room: the count, nothing written (a bad pointer
        // with length 0 is fine).
        let n = tine::cpuinfo(&space, UNMAPPED, 0).map_err(|e| format!("{e}"))?;
        kassert_eq!(n, arch::cpu::count() as u64);
        let procs = tine::proclist(&space, 0, 0).map_err(|e| format!("{e}"))?;
        let status = process::wait(pid).await.map_err(|e| format!("wait: {e}"))?;
        kassert_eq!(status, 0, "hello --spin");
        kassert!(procs >= 1, "{procs} processes");
        Ok(())
    }
);

ktest!(
    async fn tine_cpuinfo_and_meminfo_records() {
        let space = space_with_rw(2)?;
        let ncpus = arch::cpu::count();
        let n = tine::cpuinfo(&space, BASE, 2 * PAGE).map_err(|e| format!("{e}"))? as usize;
        kassert_eq!(n, ncpus);
        let mut recs = alloc::vec![0u8; n * CPU_RECORD];
        kassert_eq!(space.copy_from_user(BASE, &mut recs), Ok(()));
        for (i, r) in recs.chunks_exact(CPU_RECORD).enumerate() {
            kassert_eq!(u32_at(r, 0) as usize, i, "cpu id");
            kassert_eq!(u32_at(r, 4), arch::smp::cpu_apic_id(i), "apic id");
            kassert!(u32_at(r, 56) <= 1, "idle is a boolean");
        }
        // Room for one record: one written, all counted.
        kassert_eq!(
            tine::cpuinfo(&space, BASE, CPU_RECORD as u64 + 3),
            Ok(ncpus as u64)
        );

        kassert_eq!(tine::meminfo(&space, BASE, PAGE), Ok(MEM_RECORD as u64));
        let mut m = [0u8; MEM_RECORD];
        kassert_eq!(space.copy_from_user(BASE, &mut m), Ok(()));
        let [total, free, used] = [0, 8, 16].map(|o| u64_at(&m, o));
        kassert!(total > 0 && free <= total, "total {total} free {free}");
        kassert_eq!(used, total - free);
        kassert!(u64_at(&m, 24) > 0, "the kernel heap is in use");
        // The breakdown: a process exists (this test's caller's children
        // may be gone, but init or the shell may not: at least no
        // nonsense), tasks exist (this one), parts within the heap.
        let [procs, proc_bytes, tasks, task_bytes, _pt, _fds, fd_bytes] =
            [48, 56, 64, 72, 80, 88, 96].map(|o| u64_at(&m, o));
        kassert!(tasks >= 1 && task_bytes > 0, "tasks {tasks} {task_bytes}");
        kassert!(
            proc_bytes >= procs * 64,
            "process records {procs} {proc_bytes}"
        );
        kassert!(
            proc_bytes + task_bytes + fd_bytes <= u64_at(&m, 24),
            "the parts fit in the heap"
        );
        // A short buffer gets the first fields.
        kassert_eq!(
            tine::meminfo(&space, BASE, MEM_RECORD_MIN as u64),
            Ok(MEM_RECORD_MIN as u64)
        );
        Ok(())
    }
);

ktest!(
    async fn tine_proclist_shows_a_running_process() {
        let pid = process::spawn_process("/bin/hello", &[b"hello", b"--spin", b"20"], &[])
            .map_err(|e| format!("spawn: {e}"))?;
        let space = space_with_rw(4)?;
        let n = tine::proclist(&space, BASE, 4 * PAGE).map_err(|e| format!("{e}"))? as usize;
        kassert!(
            n >= 1 && n * PROC_RECORD <= (4 * PAGE) as usize,
            "{n} processes"
        );
        let mut recs = alloc::vec![0u8; n * PROC_RECORD];
        kassert_eq!(space.copy_from_user(BASE, &mut recs), Ok(()));
        let mine: Vec<&[u8]> = recs
            .chunks_exact(PROC_RECORD)
            .filter(|r| u32_at(r, 0) == pid.as_u32())
            .collect();
        let status = process::wait(pid).await.map_err(|e| format!("wait: {e}"))?;
        kassert_eq!(status, 0, "hello --spin");
        kassert_eq!(mine.len(), 1, "pid {pid} listed once");
        let r = mine[0];
        kassert_eq!(u32_at(r, 4), 0, "ppid: the kernel");
        kassert!(matches!(r[16], b'R' | b'S' | b'Z'), "state {}", r[16]);
        let cpu = u32_at(r, 20) as i32;
        kassert!(
            cpu == -1 || (cpu as usize) < arch::cpu::count(),
            "cpu {cpu}"
        );
        kassert_eq!(&r[24..29], b"hello");
        kassert_eq!(r[29], 0, "name NUL-padded");
        Ok(())
    }
);

/// Runs `/bin/sh -c LINE` as a child of the kernel; its wait status.
async fn sh_c(line: &str) -> Result<i32, String> {
    let pid = process::spawn_process("/bin/sh", &[b"sh", b"-c", line.as_bytes()], &[b"PATH=/bin"])
        .map_err(|e| format!("spawn sh -c {line:?}: {e}"))?;
    process::wait(pid)
        .await
        .map_err(|e| format!("wait sh -c {line:?}: {e}"))
}

ktest!(
    async fn tine_user_shell_builtins_over_the_tine_calls() {
        // `fork 3` checks each child's status itself; `cow` checks that
        // the child's writes did not reach the parent; `ps` needs
        // proclist; a missing program is 127, a bad rfork flag 2 (usage),
        // a refused rfork 1 (EINVAL from the kernel: RFSTOPPED is
        // kernel-only). Not `cpus`: its 100 ms sample leaves a timer entry
        // that fires after the test, which the heap-balance test that may
        // run next would count.
        for (line, want) in [
            ("fork 3", 0),
            ("cow 8", 0),
            ("ps", 0),
            ("mem", 0),
            ("/bin/hello a b", 0),
            ("no-such-program", 127 << 8),
            ("rfork RFBOGUS", 2 << 8),
            ("rfork RFSTOPPED", 1 << 8),
            ("exit 7", 7 << 8),
        ] {
            let status = sh_c(line).await?;
            kassert_eq!(status, want, "sh -c {line:?}");
        }
        Ok(())
    }
);
