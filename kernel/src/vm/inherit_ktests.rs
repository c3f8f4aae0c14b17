//! In-kernel tests of what a child inherits of its parent's memory
//! (FreeBSD's `vmspace_fork` rules): `MAP_SHARED | MAP_ANONYMOUS` memory
//! stays shared across fork, fork of a fork, vfork (one space for both)
//! and exec (the new image drops the mapping, the others keep it), and
//! outlives the space that created it; `madvise` `MADV_DONTFORK` /
//! `MADV_DOFORK` / `MADV_WIPEONFORK` / `MADV_KEEPONFORK` decide what the
//! child gets of private memory.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;

use super::space::AddressSpace;
use super::vma::{Inherit, VmPerms, pf};
use crate::{kassert, kassert_eq, ktest};
use abi::Errno;

const PAGE: u64 = 4096;
const PRIVATE: u64 = 0x2000_0000;
const MADV_DONTFORK: u64 = 10;
const MADV_DOFORK: u64 = 11;
const MADV_WIPEONFORK: u64 = 18;
const MADV_KEEPONFORK: u64 = 19;

fn err(e: Errno) -> String {
    format!("{e}")
}

fn put(space: &AddressSpace, va: u64, byte: u8) -> Result<(), String> {
    space.copy_to_user(va, &[byte]).map_err(err)
}

fn get(space: &AddressSpace, va: u64) -> Result<u8, String> {
    let mut b = [0u8];
    space.copy_from_user(va, &mut b).map_err(err)?;
    Ok(b[0])
}

/// A space with `pages` pages of shared anonymous memory (returned
/// address) and 4 pages of private memory at `PRIVATE`.
fn space_with_shared(pages: u64) -> Result<(AddressSpace, u64), String> {
    let space = AddressSpace::new().map_err(err)?;
    let shm = space
        .mmap_anonymous(None, pages * PAGE, VmPerms::RW, true, true)
        .map_err(err)?;
    space
        .mmap_anonymous(Some(PRIVATE), 4 * PAGE, VmPerms::RW, false, false)
        .map_err(err)?;
    Ok((space, shm))
}

ktest!(
    async fn inherit_shared_anon_stays_shared_across_fork() {
        let (parent, shm) = space_with_shared(3)?;
        put(&parent, shm, b'a')?;
        put(&parent, PRIVATE, b'p')?;
        let child = parent.fork().map_err(err)?;
        // Both ways, through user faults as well as kernel copies.
        kassert_eq!(get(&child, shm)?, b'a');
        kassert_eq!(child.fault(shm, pf::USER | pf::WRITE | pf::PRESENT), Ok(()));
        put(&child, shm, b'b')?;
        kassert_eq!(get(&parent, shm)?, b'b');
        // A page neither touched before the fork: one page for both.
        put(&child, shm + PAGE, b'c')?;
        kassert_eq!(get(&parent, shm + PAGE)?, b'c');
        put(&parent, shm + 2 * PAGE + 9, b'd')?;
        kassert_eq!(get(&child, shm + 2 * PAGE + 9)?, b'd');
        // Private memory stays copy-on-write.
        put(&child, PRIVATE, b'q')?;
        kassert_eq!(get(&parent, PRIVATE)?, b'p');
        kassert_eq!(get(&child, PRIVATE)?, b'q');
        // No copy-on-write ever happened to the shared pages.
        kassert_eq!(child.fault_stats().cow_copies, 1, "only the private page");
        Ok(())
    }
);

ktest!(
    async fn inherit_shared_anon_outlives_the_parent() {
        let (parent, shm) = space_with_shared(2)?;
        put(&parent, shm, 7)?;
        let child = parent.fork().map_err(err)?;
        let grandchild = child.fork().map_err(err)?;
        drop(parent);
        put(&child, shm + PAGE, 8)?;
        kassert_eq!(get(&grandchild, shm)?, 7);
        kassert_eq!(get(&grandchild, shm + PAGE)?, 8);
        drop(child);
        put(&grandchild, shm, 9)?;
        kassert_eq!(get(&grandchild, shm)?, 9);
        Ok(())
    }
);

ktest!(
    async fn inherit_shared_anon_with_vfork_and_exec() {
        let (parent, shm) = space_with_shared(1)?;
        let parent = Arc::new(parent);
        // vfork: one space for both; the child's stores are the parent's.
        let vchild = parent.clone();
        put(&vchild, shm, 1)?;
        kassert_eq!(get(&parent, shm)?, 1);
        // The vfork child execs: it drops its reference and gets a fresh
        // space without the mapping; the parent's memory is untouched.
        drop(vchild);
        let exec_image = AddressSpace::new().map_err(err)?;
        kassert_eq!(get(&exec_image, shm), Err(format!("{}", Errno::EFAULT)));
        kassert_eq!(get(&parent, shm)?, 1);
        // fork, then exec in the child: the parent keeps the page.
        let child = parent.fork().map_err(err)?;
        put(&child, shm, 2)?;
        drop(child);
        kassert_eq!(get(&parent, shm)?, 2);
        // fork, then vfork in the child: all three see one page.
        let child = Arc::new(parent.fork().map_err(err)?);
        let vgrandchild = child.clone();
        put(&vgrandchild, shm, 3)?;
        kassert_eq!(get(&parent, shm)?, 3);
        kassert_eq!(get(&child, shm)?, 3);
        // munmap in the parent leaves the child's mapping.
        parent.munmap(shm, PAGE).map_err(err)?;
        kassert_eq!(get(&parent, shm), Err(format!("{}", Errno::EFAULT)));
        put(&child, shm, 4)?;
        kassert_eq!(get(&vgrandchild, shm)?, 4);
        Ok(())
    }
);

ktest!(
    async fn inherit_shared_anon_keeps_contents_through_prot_none() {
        let (parent, shm) = space_with_shared(2)?;
        let child = parent.fork().map_err(err)?;
        put(&parent, shm, 5)?;
        parent.mprotect(shm, 2 * PAGE, 0).map_err(err)?;
        kassert_eq!(get(&parent, shm), Err(format!("{}", Errno::EFAULT)));
        put(&child, shm + 1, 6)?;
        parent.mprotect(shm, 2 * PAGE, 1).map_err(err)?;
        kassert_eq!(get(&parent, shm)?, 5);
        kassert_eq!(get(&parent, shm + 1)?, 6);
        kassert_eq!(put(&parent, shm, 0), Err(format!("{}", Errno::EFAULT)));
        parent.mprotect(shm, PAGE, 3).map_err(err)?;
        put(&parent, shm, 10)?;
        kassert_eq!(get(&child, shm)?, 10);
        // A read-only PTE of a writable shared VMA: the write fault makes
        // it writable, it does not copy.
        kassert_eq!(child.fault(shm, pf::USER | pf::WRITE | pf::PRESENT), Ok(()));
        kassert_eq!(child.fault_stats().cow_copies, 0);
        // DONTNEED drops this space's PTEs only: the data stays.
        child.madvise(shm, PAGE, 4).map_err(err)?;
        kassert_eq!(get(&child, shm)?, 10);
        Ok(())
    }
);

ktest!(
    async fn inherit_dontfork_leaves_the_range_out_of_the_child() {
        let (parent, shm) = space_with_shared(1)?;
        for i in 0..4 {
            put(&parent, PRIVATE + i * PAGE, b'0' + i as u8)?;
        }
        // The middle two pages of four, and the shared page.
        parent
            .madvise(PRIVATE + PAGE, 2 * PAGE, MADV_DONTFORK)
            .map_err(err)?;
        parent.madvise(shm, PAGE, MADV_DONTFORK).map_err(err)?;
        let child = parent.fork().map_err(err)?;
        let efault = Err(format!("{}", Errno::EFAULT));
        kassert_eq!(get(&child, PRIVATE)?, b'0');
        kassert_eq!(get(&child, PRIVATE + PAGE), efault.clone());
        kassert_eq!(get(&child, PRIVATE + 2 * PAGE), efault.clone());
        kassert_eq!(get(&child, PRIVATE + 3 * PAGE)?, b'3');
        kassert_eq!(get(&child, shm), efault.clone());
        kassert_eq!(
            child.fault(PRIVATE + PAGE, pf::USER | pf::WRITE),
            Err(Errno::EFAULT)
        );
        // The parent keeps everything, and its pages go on working.
        kassert_eq!(get(&parent, PRIVATE + 2 * PAGE)?, b'2');
        put(&parent, PRIVATE + PAGE, b'x')?;
        kassert_eq!(get(&parent, PRIVATE + PAGE)?, b'x');
        // The child can map something new there.
        child
            .mmap_anonymous(Some(PRIVATE + PAGE), PAGE, VmPerms::RW, false, false)
            .map_err(err)?;
        kassert_eq!(get(&child, PRIVATE + PAGE)?, 0);
        // DOFORK undoes it; the VMAs merge back into one.
        parent
            .madvise(PRIVATE, 4 * PAGE, MADV_DOFORK)
            .map_err(err)?;
        kassert!(
            parent
                .vmas()
                .iter()
                .all(|v| v.inherit == Inherit::Copy || v.start == shm)
        );
        let child2 = parent.fork().map_err(err)?;
        kassert_eq!(get(&child2, PRIVATE + PAGE)?, b'x');
        Ok(())
    }
);

ktest!(
    async fn inherit_wipeonfork_gives_the_child_zeros() {
        let (parent, shm) = space_with_shared(1)?;
        put(&parent, PRIVATE, 0x11)?;
        put(&parent, PRIVATE + PAGE, 0x22)?;
        parent
            .madvise(PRIVATE, PAGE, MADV_WIPEONFORK)
            .map_err(err)?;
        // Shared memory cannot be wiped: EINVAL, nothing changes.
        kassert_eq!(
            parent.madvise(shm, PAGE, MADV_WIPEONFORK),
            Err(Errno::EINVAL)
        );
        let child = parent.fork().map_err(err)?;
        kassert_eq!(get(&child, PRIVATE)?, 0, "wiped");
        kassert_eq!(get(&child, PRIVATE + PAGE)?, 0x22, "not wiped");
        kassert_eq!(get(&parent, PRIVATE)?, 0x11);
        // The setting is inherited: the child's children are wiped too.
        put(&child, PRIVATE, 0x33)?;
        let grandchild = child.fork().map_err(err)?;
        kassert_eq!(get(&grandchild, PRIVATE)?, 0);
        kassert_eq!(get(&child, PRIVATE)?, 0x33);
        // KEEPONFORK undoes it.
        parent
            .madvise(PRIVATE, PAGE, MADV_KEEPONFORK)
            .map_err(err)?;
        let child2 = parent.fork().map_err(err)?;
        kassert_eq!(get(&child2, PRIVATE)?, 0x11);
        // Errors as Linux: unaligned EINVAL, unmapped ENOMEM.
        kassert_eq!(
            parent.madvise(PRIVATE + 1, PAGE, MADV_WIPEONFORK),
            Err(Errno::EINVAL)
        );
        kassert_eq!(
            parent.madvise(PRIVATE, 8 * PAGE, MADV_DONTFORK),
            Err(Errno::ENOMEM)
        );
        Ok(())
    }
);

const MREMAP_MAYMOVE: u64 = 1;
const MREMAP_FIXED: u64 = 2;
const REMAP: u64 = 0x3000_0000;

ktest!(
    async fn inherit_mremap_grows_shrinks_and_moves_private_memory() {
        let space = AddressSpace::new().map_err(err)?;
        space
            .mmap_anonymous(Some(REMAP), 2 * PAGE, VmPerms::RW, false, false)
            .map_err(err)?;
        put(&space, REMAP, 1)?;
        put(&space, REMAP + PAGE, 2)?;
        // Grow in place: the data stays, the new pages read as zeros.
        kassert_eq!(space.mremap(REMAP, 2 * PAGE, 4 * PAGE, 0, 0), Ok(REMAP));
        kassert_eq!(get(&space, REMAP + PAGE)?, 2);
        kassert_eq!(get(&space, REMAP + 3 * PAGE)?, 0);
        kassert_eq!(
            space
                .vmas()
                .iter()
                .filter(|v| v.start >= REMAP && v.start < REMAP + 4 * PAGE)
                .count(),
            1
        );
        // Shrink: the tail is gone.
        kassert_eq!(space.mremap(REMAP, 4 * PAGE, PAGE, 0, 0), Ok(REMAP));
        kassert_eq!(get(&space, REMAP + PAGE), Err(err(Errno::EFAULT)));
        // Blocked: ENOMEM without MAYMOVE, a move with it.
        space
            .mmap_anonymous(Some(REMAP + PAGE), PAGE, VmPerms::R, false, false)
            .map_err(err)?;
        kassert_eq!(
            space.mremap(REMAP, PAGE, 2 * PAGE, 0, 0),
            Err(Errno::ENOMEM)
        );
        // Fork first: the moved page stays copy-on-write with the child.
        let child = space.fork().map_err(err)?;
        let to = space
            .mremap(REMAP, PAGE, 3 * PAGE, MREMAP_MAYMOVE, 0)
            .map_err(err)?;
        kassert!(to != REMAP);
        kassert_eq!(get(&space, to)?, 1);
        kassert_eq!(get(&space, REMAP), Err(err(Errno::EFAULT)));
        put(&space, to, 9)?;
        kassert_eq!(get(&child, REMAP)?, 1);
        kassert_eq!(get(&space, to + 2 * PAGE)?, 0);
        // PROT_NONE pages move too, and keep their contents.
        space.mprotect(to, PAGE, 0).map_err(err)?;
        let fixed = REMAP + 0x10_0000;
        // The range must lie in one VMA: the PROT_NONE page is one now.
        kassert_eq!(
            space.mremap(to, 3 * PAGE, 3 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, fixed),
            Err(Errno::EFAULT)
        );
        kassert_eq!(
            space.mremap(to, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, fixed),
            Ok(fixed)
        );
        kassert_eq!(get(&space, fixed), Err(err(Errno::EFAULT)));
        space.mprotect(fixed, PAGE, 3).map_err(err)?;
        kassert_eq!(get(&space, fixed)?, 9);
        // Errors as Linux.
        kassert_eq!(
            space.mremap(fixed + 1, PAGE, PAGE, 0, 0),
            Err(Errno::EINVAL)
        );
        kassert_eq!(space.mremap(fixed, PAGE, 0, 0, 0), Err(Errno::EINVAL));
        kassert_eq!(space.mremap(fixed, PAGE, PAGE, 8, 0), Err(Errno::EINVAL));
        kassert_eq!(
            space.mremap(fixed, PAGE, PAGE, 4, 0),
            Err(Errno::EINVAL),
            "DONTUNMAP"
        );
        kassert_eq!(
            space.mremap(fixed, PAGE, PAGE, MREMAP_FIXED, REMAP),
            Err(Errno::EINVAL)
        );
        kassert_eq!(
            space.mremap(fixed, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, fixed),
            Err(Errno::EINVAL),
            "overlap"
        );
        kassert_eq!(
            space.mremap(fixed, 2 * PAGE, 2 * PAGE, 0, 0),
            Err(Errno::EFAULT)
        );
        kassert_eq!(
            space.mremap(0x5000_0000, PAGE, PAGE, 0, 0),
            Err(Errno::EFAULT)
        );
        Ok(())
    }
);

ktest!(
    async fn inherit_mremap_keeps_shared_memory_shared() {
        let (parent, shm) = space_with_shared(2)?;
        put(&parent, shm, 1)?;
        let child = parent.fork().map_err(err)?;
        let to = parent
            .mremap(
                shm,
                2 * PAGE,
                4 * PAGE,
                MREMAP_MAYMOVE | MREMAP_FIXED,
                0x3800_0000,
            )
            .map_err(err)?;
        kassert_eq!(get(&parent, to)?, 1);
        put(&parent, to + PAGE, 2)?;
        kassert_eq!(get(&child, shm + PAGE)?, 2);
        put(&child, shm, 3)?;
        kassert_eq!(get(&parent, to)?, 3);
        // The grown part is the object's next pages, zero-filled.
        kassert_eq!(get(&parent, to + 3 * PAGE)?, 0);
        // Grown in place in the child: its new page is the object's page
        // there, the one the parent sees.
        child.munmap(shm + PAGE, PAGE).map_err(err)?;
        kassert_eq!(get(&child, shm + PAGE), Err(err(Errno::EFAULT)));
        kassert_eq!(child.mremap(shm, PAGE, 2 * PAGE, 0, 0), Ok(shm));
        kassert_eq!(get(&child, shm + PAGE)?, 2);
        put(&child, shm + PAGE, 4)?;
        kassert_eq!(get(&parent, to + PAGE)?, 4);
        Ok(())
    }
);
