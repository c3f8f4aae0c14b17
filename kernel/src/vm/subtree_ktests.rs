//! In-kernel tests of fork with shared page-table subtrees
//! (`UserPageTable::fork`, arch/src/mm/user.rs "Shared page-table
//! subtrees"): fork takes at most one page-table page whatever is
//! mapped (the parent's new PML4); the first write under a shared subtree
//! copies only the path to it, one table per level, on either side; the page-table
//! page counter (`mem`'s) and the free frames come back to their start
//! when the spaces go, in any order; `munmap`/`mprotect`/`mmap` under a
//! shared subtree change only the side that asked.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;

use super::space::AddressSpace;
use super::vma::{VmPerms, VmaKind};
use crate::{kassert, kassert_eq, ktest};
use abi::Errno;

const PAGE: u64 = 4096;
/// PML4 entry 0, PDPT entry 1, PD entry 0.
const A: u64 = 0x4000_0000;
/// Another last-level table under A's PD.
const B: u64 = A + (2 << 20);
/// Another PD under A's PDPT.
const C: u64 = A + (1 << 30);
/// Another PDPT (PML4 entry 2).
const D: u64 = 2 << 39;
/// Each region is two pages.
const REGIONS: [u64; 4] = [A, B, C, D];

fn err(e: Errno) -> String {
    format!("{e}")
}

fn tables() -> usize {
    arch::mm::user::table_pages()
}

fn free_frames() -> usize {
    arch::mm::frame::stats().0
}

fn word(space: &AddressSpace, va: u64) -> Result<u64, String> {
    let mut b = [0u8; 8];
    space.copy_from_user(va, &mut b).map_err(err)?;
    Ok(u64::from_le_bytes(b))
}

fn set(space: &AddressSpace, va: u64, v: u64) -> Result<(), String> {
    space.copy_to_user(va, &v.to_le_bytes()).map_err(err)
}

/// A space with two written pages in each region, the word at `va`
/// holding `va + tag`.
fn regions(tag: u64) -> Result<AddressSpace, String> {
    let space = AddressSpace::new().map_err(err)?;
    for r in REGIONS {
        space
            .map_anonymous(r, r + 2 * PAGE, VmPerms::RW, VmaKind::Anonymous)
            .map_err(err)?;
        for va in [r, r + PAGE] {
            set(&space, va, va + tag)?;
        }
    }
    Ok(space)
}

/// Every region page of `space` holds `va + tag`, except those `except`
/// gives another value.
fn check(space: &AddressSpace, tag: u64, except: &[(u64, u64)]) -> Result<(), String> {
    for r in REGIONS {
        for va in [r, r + PAGE] {
            let want = except
                .iter()
                .find(|&&(p, _)| p == va)
                .map_or(va + tag, |&(_, v)| v);
            let got = word(space, va)?;
            if got != want {
                return Err(format!("{va:#x}: {got:#x}, expected {want:#x}"));
            }
        }
    }
    Ok(())
}

ktest!(
    async fn subtree_fork_takes_one_table_page_and_writes_copy_the_path() {
        let start = tables();
        let parent = regions(0)?;
        // Whatever the parent has (PML4, 2 PDPTs, 3 PDs, 4 tables), fork
        // adds one page: the parent, which wrote since it was made, moves
        // to a copy of its PML4 and the child keeps the old one.
        let t0 = tables();
        let child = parent.fork().map_err(err)?;
        kassert_eq!(tables(), t0 + 1, "fork took more than a PML4");
        check(&child, 0, &[])?;
        // The child's first write copies the PDPT, the PD and the table.
        set(&child, A, 0xc0)?;
        kassert_eq!(tables(), t0 + 4);
        // Another table under the same PD: only that table.
        set(&child, B, 0xc1)?;
        kassert_eq!(tables(), t0 + 5);
        // The same table again: nothing.
        set(&child, B + PAGE, 0xc2)?;
        kassert_eq!(tables(), t0 + 5);
        // Another PD under the same PDPT: the PD and its table.
        set(&child, C, 0xc3)?;
        kassert_eq!(tables(), t0 + 7);
        // Another PML4 entry: the whole path again.
        set(&child, D + PAGE, 0xc4)?;
        kassert_eq!(tables(), t0 + 10);
        let child_view = [
            (A, 0xc0),
            (B, 0xc1),
            (B + PAGE, 0xc2),
            (C, 0xc3),
            (D + PAGE, 0xc4),
        ];
        check(&child, 0, &child_view)?;
        check(&parent, 0, &[])?;
        // The parent's tables are its own again (the child copied them):
        // its writes reuse them and copy nothing.
        for r in REGIONS {
            set(&parent, r, 0xa0 + r)?;
        }
        kassert_eq!(tables(), t0 + 10);
        let parent_view = REGIONS.map(|r| (r, 0xa0 + r));
        check(&parent, 0, &parent_view)?;
        check(&child, 0, &child_view)?;
        drop(child);
        kassert_eq!(tables(), t0);
        check(&parent, 0, &parent_view)?;
        drop(parent);
        kassert_eq!(tables(), start);
        Ok(())
    }
);

ktest!(
    async fn subtree_the_parent_writes_first_and_either_side_exits_first() {
        let (start, frames) = (tables(), free_frames());
        for parent_first in [true, false] {
            let parent = regions(0x100)?;
            let t0 = tables();
            let child = parent.fork().map_err(err)?;
            // The parent writes first: it copies the PML4 and the path,
            // the child keeps the old tables.
            set(&parent, C + PAGE, 0xa)?;
            kassert_eq!(tables(), t0 + 4, "the parent's PML4 and path");
            // The child's write under the same path finds its tables its
            // own (refcount 1) and copies no table, only the page.
            set(&child, C, 0xc)?;
            kassert_eq!(tables(), t0 + 4, "the child copied a table");
            check(&parent, 0x100, &[(C + PAGE, 0xa)])?;
            check(&child, 0x100, &[(C, 0xc)])?;
            let (gone, stays, view) = if parent_first {
                (parent, child, (C, 0xc))
            } else {
                (child, parent, (C + PAGE, 0xa))
            };
            drop(gone);
            check(&stays, 0x100, &[view])?;
            for r in REGIONS {
                set(&stays, r + PAGE, 0xeee)?;
            }
            drop(stays);
            kassert_eq!(tables(), start);
        }
        let end = free_frames();
        kassert!(end + 16 >= frames, "frames lost: {frames} -> {end}");
        Ok(())
    }
);

ktest!(
    async fn subtree_fork_of_a_fork_vfork_and_exec() {
        let (start, frames) = (tables(), free_frames());
        {
            let p = regions(0)?;
            let c = Arc::new(p.fork().map_err(err)?);
            // The grandchild shares the child's PDPTs, which are the
            // parent's: three tables point at each.
            let g = c.fork().map_err(err)?;
            let v = c.clone(); // vfork: the same space
            set(&g, D, 0x6)?;
            set(&v, D, 0xc)?;
            set(&p, D, 0xa)?;
            set(&c, A, 0xc1)?;
            check(&p, 0, &[(D, 0xa)])?;
            check(&c, 0, &[(D, 0xc), (A, 0xc1)])?;
            check(&g, 0, &[(D, 0x6)])?;
            // exec in the grandchild: its space goes, a new one comes.
            let t = tables();
            drop(g);
            kassert!(tables() < t, "the grandchild's tables stayed");
            let image = AddressSpace::new().map_err(err)?;
            kassert_eq!(word(&image, A), Err(err(Errno::EFAULT)));
            // The middle one goes first (its vfork child, too).
            drop(c);
            check(&v, 0, &[(D, 0xc), (A, 0xc1)])?;
            drop(v);
            check(&p, 0, &[(D, 0xa)])?;
            drop(p);
            drop(image);
        }
        kassert_eq!(tables(), start);
        let end = free_frames();
        kassert!(end + 16 >= frames, "frames lost: {frames} -> {end}");
        Ok(())
    }
);

ktest!(
    async fn subtree_munmap_mprotect_mmap_change_one_side() {
        let start = tables();
        {
            let parent = regions(0)?;
            let child = parent.fork().map_err(err)?;
            // The child unmaps under a shared subtree.
            child.munmap(B, 2 * PAGE).map_err(err)?;
            kassert_eq!(word(&child, B), Err(err(Errno::EFAULT)));
            kassert_eq!(word(&parent, B)?, B);
            // The child makes C read-only; the parent still writes it.
            child.mprotect(C, 2 * PAGE, 1).map_err(err)?;
            kassert_eq!(set(&child, C, 1), Err(err(Errno::EFAULT)));
            set(&parent, C, 0xa)?;
            kassert_eq!(word(&child, C)?, C);
            // The parent hides D; the child still reads and writes it.
            parent.mprotect(D, 2 * PAGE, 0).map_err(err)?;
            kassert_eq!(word(&parent, D), Err(err(Errno::EFAULT)));
            set(&child, D, 0xc)?;
            parent.mprotect(D, 2 * PAGE, 3).map_err(err)?;
            kassert_eq!(word(&parent, D)?, D);
            // A new mapping in the child, next to A under the shared PD.
            let e = A + 16 * PAGE;
            child
                .map_anonymous(e, e + PAGE, VmPerms::RW, VmaKind::Anonymous)
                .map_err(err)?;
            set(&child, e, 0xe)?;
            kassert_eq!(word(&parent, e), Err(err(Errno::EFAULT)));
            check(&parent, 0, &[(C, 0xa)])?;
            kassert_eq!(word(&child, D)?, 0xc);
            kassert_eq!(word(&child, A)?, A);
        }
        kassert_eq!(tables(), start);
        Ok(())
    }
);
