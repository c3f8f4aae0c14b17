//! In-kernel tests of fork with shared last-level page tables
//! (`UserPageTable::fork`): fork costs frames per table, not per page;
//! write faults on either side copy one table and then one page, and
//! never show one side's writes to the other; either side may exit
//! first; fork of a fork, vfork after fork, exec in the child, and
//! `munmap`/`mprotect`/`madvise` under a shared table change only the
//! side that asked; a program writing on another CPU while its space is
//! forked loses write access at once (TLB shootdown).

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;

use super::space::AddressSpace;
use super::vma::{VmPerms, VmaKind, pf};
use crate::{kassert, kassert_eq, ktest};
use abi::Errno;

const PAGE: u64 = 4096;
const BASE: u64 = 0x4000_0000;
/// Three last-level tables' worth, the last one partly.
const PAGES: u64 = 1100;

fn err(e: Errno) -> String {
    format!("{e}")
}

fn free_frames() -> usize {
    arch::mm::frame::stats().0
}

/// The word page `i` holds in `space` (its first 8 bytes).
fn word(space: &AddressSpace, i: u64) -> Result<u64, String> {
    let mut b = [0u8; 8];
    space.copy_from_user(BASE + i * PAGE, &mut b).map_err(err)?;
    Ok(u64::from_le_bytes(b))
}

fn set(space: &AddressSpace, i: u64, v: u64) -> Result<(), String> {
    space
        .copy_to_user(BASE + i * PAGE, &v.to_le_bytes())
        .map_err(err)
}

/// A space with `PAGES` written pages, page `i` holding `i + tag`.
fn written(tag: u64) -> Result<AddressSpace, String> {
    let space = AddressSpace::new().map_err(err)?;
    space
        .map_anonymous(BASE, BASE + PAGES * PAGE, VmPerms::RW, VmaKind::Anonymous)
        .map_err(err)?;
    for i in 0..PAGES {
        set(&space, i, i + tag)?;
    }
    Ok(space)
}

/// Every page of `space` holds `i + tag`, except those `except` maps to
/// another value.
fn check_all(space: &AddressSpace, tag: u64, except: &[(u64, u64)]) -> Result<(), String> {
    for i in 0..PAGES {
        let want = except
            .iter()
            .find(|&&(p, _)| p == i)
            .map_or(i + tag, |&(_, v)| v);
        let got = word(space, i)?;
        if got != want {
            return Err(format!("page {i}: {got:#x}, expected {want:#x}"));
        }
    }
    Ok(())
}

ktest!(
    async fn share_fork_costs_frames_per_table_not_per_page() {
        let parent = written(0)?;
        let before = free_frames();
        let child = parent.fork().map_err(err)?;
        let used = before.saturating_sub(free_frames());
        // A PML4, a PDPT and a PD for the child; no frame per page.
        kassert!(used <= 8, "fork of {PAGES} pages took {used} frames");
        check_all(&child, 0, &[])?;
        check_all(&parent, 0, &[])?;
        // The pages are read-only to user code on both sides.
        kassert_eq!(parent.table.translate(BASE).map(|t| t.1.write), Some(false));
        kassert_eq!(child.table.translate(BASE).map(|t| t.1.write), Some(false));
        Ok(())
    }
);

ktest!(
    async fn share_write_faults_on_both_sides_stay_private() {
        let parent = written(0)?;
        let child = parent.fork().map_err(err)?;
        // A user write fault in the child copies its first table, then the
        // page; the parent keeps its value.
        kassert_eq!(
            child.fault(BASE + 5 * PAGE, pf::USER | pf::WRITE | pf::PRESENT),
            Ok(())
        );
        set(&child, 5, 0xc5)?;
        // The parent, whose table is no longer shared, writes the same page
        // and a neighbour: both copied (the child's copy maps them too).
        set(&parent, 5, 0xa5)?;
        set(&parent, 6, 0xa6)?;
        // A page in the third table, written by both.
        set(&parent, 1050, 0xa1)?;
        set(&child, 1050, 0xc1)?;
        check_all(&parent, 0, &[(5, 0xa5), (6, 0xa6), (1050, 0xa1)])?;
        check_all(&child, 0, &[(5, 0xc5), (1050, 0xc1)])?;
        // The child copied page 5; page 1050 it found its own (the
        // parent's copy of that table let go of its frame).
        kassert!(child.fault_stats().cow_copies >= 1);
        // Pages nobody else maps any more are made writable in place.
        drop(child);
        let reuses = parent.fault_stats().cow_reuses;
        set(&parent, 700, 0xa7)?;
        kassert!(parent.fault_stats().cow_reuses > reuses || parent.fault_stats().cow_copies > 0);
        check_all(
            &parent,
            0,
            &[(5, 0xa5), (6, 0xa6), (700, 0xa7), (1050, 0xa1)],
        )?;
        Ok(())
    }
);

ktest!(
    async fn share_either_side_may_exit_first() {
        let start = free_frames();
        for parent_first in [true, false] {
            let parent = written(0x100)?;
            let child = parent.fork().map_err(err)?;
            set(&child, 1, 0xc)?;
            let (gone, stays, stays_except) = if parent_first {
                (parent, child, [(1, 0xc)])
            } else {
                (child, parent, [(1, 0x101)])
            };
            drop(gone);
            check_all(&stays, 0x100, &stays_except)?;
            // The survivor writes everywhere: the tables come back to it.
            for i in (0..PAGES).step_by(97) {
                set(&stays, i, 0xeee)?;
            }
            drop(stays);
        }
        // Every page and table went back (some slack for the heap).
        let end = free_frames();
        kassert!(
            end + 16 >= start,
            "frames lost: {start} free before, {end} after"
        );
        Ok(())
    }
);

ktest!(
    async fn share_fork_of_a_fork_and_vfork_after_fork() {
        let start = free_frames();
        {
            let p = written(0)?;
            let c = Arc::new(p.fork().map_err(err)?);
            let g = c.fork().map_err(err)?;
            // vfork of the child: one space, the same Arc.
            let v = c.clone();
            set(&g, 10, 0x6)?;
            set(&v, 10, 0xc)?;
            set(&p, 10, 0xa)?;
            set(&c, 11, 0xc1)?;
            check_all(&p, 0, &[(10, 0xa)])?;
            check_all(&c, 0, &[(10, 0xc), (11, 0xc1)])?;
            check_all(&g, 0, &[(10, 0x6)])?;
            check_all(&v, 0, &[(10, 0xc), (11, 0xc1)])?;
            drop(c);
            // The vfork child's "exit": the space lives on in `v` only.
            check_all(&v, 0, &[(10, 0xc), (11, 0xc1)])?;
            drop(p);
            check_all(&g, 0, &[(10, 0x6)])?;
            drop(v);
            check_all(&g, 0, &[(10, 0x6)])?;
        }
        let end = free_frames();
        kassert!(end + 16 >= start, "frames lost: {start} -> {end}");
        Ok(())
    }
);

ktest!(
    async fn share_exec_in_the_child_leaves_the_parent_alone() {
        let parent = written(0)?;
        let child = parent.fork().map_err(err)?;
        // exec: the child's space is replaced by a new one and dropped.
        let image = AddressSpace::new().map_err(err)?;
        drop(child);
        check_all(&parent, 0, &[])?;
        kassert_eq!(word(&image, 0), Err(err(Errno::EFAULT)));
        set(&parent, 0, 0x77)?;
        check_all(&parent, 0, &[(0, 0x77)])?;
        Ok(())
    }
);

ktest!(
    async fn share_munmap_mprotect_madvise_change_one_side() {
        let parent = written(0)?;
        let child = parent.fork().map_err(err)?;
        // The child unmaps a page and a whole table's worth.
        child.munmap(BASE + 3 * PAGE, PAGE).map_err(err)?;
        child.munmap(BASE + 512 * PAGE, 512 * PAGE).map_err(err)?;
        kassert_eq!(word(&child, 3), Err(err(Errno::EFAULT)));
        kassert_eq!(word(&child, 600), Err(err(Errno::EFAULT)));
        check_all(&parent, 0, &[])?;
        // The child makes a range read-only, the parent still writes it.
        child
            .mprotect(BASE + 1024 * PAGE, 8 * PAGE, 1)
            .map_err(err)?;
        set(&parent, 1025, 0xa)?;
        kassert_eq!(set(&child, 1025, 0xc), Err(err(Errno::EFAULT)));
        kassert_eq!(word(&child, 1025)?, 1025);
        // The parent hides a range and drops another; the child's stay.
        parent
            .mprotect(BASE + 20 * PAGE, 4 * PAGE, 0)
            .map_err(err)?;
        parent.madvise(BASE + 30 * PAGE, 4 * PAGE, 4).map_err(err)?;
        kassert_eq!(word(&child, 21)?, 21);
        kassert_eq!(word(&child, 31)?, 31);
        kassert_eq!(word(&parent, 31)?, 0);
        parent
            .mprotect(BASE + 20 * PAGE, 4 * PAGE, 3)
            .map_err(err)?;
        kassert_eq!(word(&parent, 21)?, 21);
        set(&parent, 21, 0xa21)?;
        kassert_eq!(word(&child, 21)?, 21);
        check_all(
            &parent,
            0,
            &[(1025, 0xa), (21, 0xa21), (30, 0), (31, 0), (32, 0), (33, 0)],
        )?;
        Ok(())
    }
);

mod shootdown {
    //! A program writing in a loop while its table is forked: after
    //! `UserPageTable::fork` returns, the program's next write must fault
    //! (its CPU's TLB lost the writable entry), so the child's copy of the
    //! page never changes. With two or more CPUs the program runs on
    //! another CPU during the fork (the shootdown IPI); with one, it runs
    //! before and after it on this CPU (the epoch reload).

    use alloc::sync::Arc;
    use arch::mm::Frame;
    use arch::mm::user::{UserFlags, UserPageTable};
    use arch::user::{Trap, UserContext, run_until};
    use core::sync::atomic::{AtomicBool, Ordering};

    use crate::{kassert, kassert_eq, ktest, task};

    const CODE: u64 = 0x40_0000;
    const DATA: u64 = 0x60_0000;
    const STACK_TOP: u64 = 0x7fff_ffff_f000;
    /// `loop: inc qword ptr [0x600000]; jmp loop`
    const INC_LOOP: &[u8] = &[0x48, 0xff, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00, 0xeb, 0xf6];

    fn table() -> Result<UserPageTable, &'static str> {
        let table = UserPageTable::new().ok_or("no table")?;
        let mut text = Frame::alloc_zeroed().ok_or("no frame")?;
        text.bytes_mut().ok_or("shared")?[..INC_LOOP.len()].copy_from_slice(INC_LOOP);
        table.map(CODE, text, UserFlags::EXEC).map_err(|_| "map")?;
        let data = Frame::alloc_zeroed().ok_or("no frame")?;
        table.map(DATA, data, UserFlags::WRITE).map_err(|_| "map")?;
        let stack = Frame::alloc_zeroed().ok_or("no frame")?;
        table
            .map(STACK_TOP - 4096, stack, UserFlags::WRITE)
            .map_err(|_| "map")?;
        Ok(table)
    }

    fn counter(table: &UserPageTable) -> u64 {
        let mut b = [0u8; 8];
        table.copy_from_user(DATA, &mut b).expect("mapped");
        u64::from_le_bytes(b)
    }

    /// Runs the program until it traps with something other than an
    /// interrupt, or `stop` is set, or 10 s pass (`None`).
    fn run_until_fault(
        ctx: &mut UserContext,
        table: &UserPageTable,
        stop: &AtomicBool,
    ) -> Option<Trap> {
        let deadline = arch::cpu::tsc::now_ns() + 10_000_000_000;
        loop {
            match run_until(ctx, table, arch::cpu::tsc::now_ns() + 2_000_000, 0) {
                Trap::Interrupt { .. } => {
                    if stop.load(Ordering::Relaxed) || arch::cpu::tsc::now_ns() > deadline {
                        return None;
                    }
                }
                other => return Some(other),
            }
        }
    }

    const WRITE_FAULT: Trap = Trap::PageFault {
        addr: DATA,
        error_code: 7,
    };

    ktest!(
        async fn share_fork_write_protects_a_running_program() {
            let table = Arc::new(table()?);
            if task::ncpus() == 1 {
                let mut ctx = UserContext::new(CODE, STACK_TOP);
                // Runs until the timer, writing through a cached entry.
                let never = AtomicBool::new(true);
                kassert_eq!(run_until_fault(&mut ctx, &table, &never), None);
                let child = table.fork().ok_or("fork")?;
                let at_fork = counter(&child);
                // Until the fault: the slice's deadline may have passed
                // during the fork (a loaded host), so an interrupt first.
                let until_fault = AtomicBool::new(false);
                kassert_eq!(
                    run_until_fault(&mut ctx, &table, &until_fault),
                    Some(WRITE_FAULT)
                );
                kassert_eq!(counter(&table), at_fork);
                kassert_eq!(counter(&child), at_fork);
                return resume_after_fork(&table, &child, at_fork);
            }
            let stop = Arc::new(AtomicBool::new(false));
            let runner = {
                let (table, stop) = (table.clone(), stop.clone());
                task::Builder::new()
                    .cpu(task::ncpus() - 1)
                    .pinned()
                    .spawn(async move {
                        let mut ctx = UserContext::new(CODE, STACK_TOP);
                        run_until_fault(&mut ctx, &table, &stop)
                    })
            };
            // Wait until the program is writing.
            let mut spins = 0u64;
            while counter(&table) < 1000 {
                task::yield_now().await;
                spins += 1;
                if spins > 50_000_000 {
                    stop.store(true, Ordering::Relaxed);
                    return Err("the program never ran".into());
                }
            }
            let child = table.fork().ok_or("fork")?;
            let at_fork = counter(&child);
            let trap = runner.await;
            kassert_eq!(trap, Some(WRITE_FAULT));
            kassert_eq!(
                counter(&table),
                at_fork,
                "a write after fork reached the frame"
            );
            kassert_eq!(counter(&child), at_fork);
            resume_after_fork(&table, &child, at_fork)
        }
    );

    /// After the fault: the program had written since its last fork, so
    /// the fork moved it to a copy of the PML4 (the child kept the old
    /// one, `UserPageTable::fork`), which the write fault keeps, giving
    /// it its own page; the program, run again, writes on (its CPU
    /// reloaded CR3 for the new PML4) and never into the child's page.
    fn resume_after_fork(
        table: &UserPageTable,
        child: &UserPageTable,
        at_fork: u64,
    ) -> Result<(), alloc::string::String> {
        let root = table.root_pa();
        kassert!(child.root_pa() != root, "the child shares the PML4");
        resume(table, child, at_fork)?;
        kassert_eq!(table.root_pa(), root, "the write fault copied the PML4");
        Ok(())
    }

    /// The write fault on DATA, then the program run again: it writes on,
    /// and never into the child's page.
    fn resume(
        table: &UserPageTable,
        child: &UserPageTable,
        at_fork: u64,
    ) -> Result<(), alloc::string::String> {
        table
            .write_fault(DATA, UserFlags::WRITE)
            .map_err(|e| alloc::format!("{e:?}"))?;
        let mut ctx = UserContext::new(CODE, STACK_TOP);
        kassert_eq!(
            run_while(&mut ctx, table, || counter(table) <= at_fork),
            None
        );
        kassert!(counter(table) > at_fork, "the program wrote nothing");
        kassert_eq!(counter(child), at_fork);
        Ok(())
    }

    /// Runs the program while `go` says so, for up to 10 s, or until it
    /// traps with something other than an interrupt (returned).
    fn run_while(
        ctx: &mut UserContext,
        table: &UserPageTable,
        go: impl Fn() -> bool,
    ) -> Option<Trap> {
        let deadline = arch::cpu::tsc::now_ns() + 10_000_000_000;
        while go() && arch::cpu::tsc::now_ns() < deadline {
            match run_until(ctx, table, arch::cpu::tsc::now_ns() + 2_000_000, 0) {
                Trap::Interrupt { .. } => {}
                other => return Some(other),
            }
        }
        None
    }

    ktest!(
        async fn share_forks_without_a_write_between_share_one_pml4() {
            let table = table()?;
            let tables = arch::mm::user::table_pages();
            let children: alloc::vec::Vec<UserPageTable> = (0..100)
                .map(|_| table.fork().ok_or("fork"))
                .collect::<Result<_, _>>()?;
            // The first fork write-protected the table's PML4 entries and
            // moved the table to a copy (the first child has the old
            // one); the 99 forks after it, with nothing written between,
            // share that copy.
            kassert_eq!(arch::mm::user::table_pages(), tables + 1);
            kassert!(children[0].root_pa() != table.root_pa());
            for c in &children[1..] {
                kassert_eq!(c.root_pa(), table.root_pa());
            }
            let mut ctx = UserContext::new(CODE, STACK_TOP);
            kassert_eq!(run_while(&mut ctx, &table, || true), Some(WRITE_FAULT));
            let at_fork = counter(&table);
            let shared_root = table.root_pa();
            resume(&table, &children[1], at_fork)?;
            kassert!(table.root_pa() != shared_root, "the PML4 stayed shared");
            kassert_eq!(children[1].root_pa(), shared_root);
            // Its own PML4 and the path to DATA (PDPT, PD, last-level table).
            kassert_eq!(arch::mm::user::table_pages(), tables + 5);
            // The children's PML4s go with the last of them, and what only
            // they pointed at (the old PDPT, PD and table on DATA's path).
            drop(children);
            kassert_eq!(arch::mm::user::table_pages(), tables);
            Ok(())
        }
    );
}
