//! In-kernel tests of [`AddressSpace`]: the fault handler against a real
//! page table (zero-fill on first touch, both copy-on-write paths, refused
//! accesses), `brk`/`munmap` giving pages back, and user copies that fill
//! pages on the way. The policy itself is host-tested in `vm::vma`.

use alloc::format;
use arch::mm::user::UserFlags;

use super::space::AddressSpace;
use super::vma::{VmPerms, VmaKind, pf};
use crate::{kassert, kassert_eq, ktest};
use abi::Errno;

const BASE: u64 = 0x1000_0000;
const PAGE: u64 = 4096;

fn space_with_rw(pages: u64) -> Result<AddressSpace, alloc::string::String> {
    let space = AddressSpace::new().map_err(|e| format!("{e}"))?;
    space
        .map_anonymous(BASE, BASE + pages * PAGE, VmPerms::RW, VmaKind::Anonymous)
        .map_err(|e| format!("{e}"))?;
    Ok(space)
}

ktest!(
    async fn space_pages_are_zero_filled_on_first_touch() {
        let space = space_with_rw(4)?;
        kassert_eq!(space.stats().resident_pages, 0);
        let mut buf = [0xffu8; 64];
        kassert_eq!(space.copy_from_user(BASE + 2 * PAGE - 32, &mut buf), Ok(()));
        kassert!(buf.iter().all(|&b| b == 0));
        kassert_eq!(space.stats().resident_pages, 2, "the two pages touched");
        // A user fault does the same.
        kassert_eq!(
            space.fault(BASE + 3 * PAGE + 5, pf::USER | pf::WRITE),
            Ok(())
        );
        kassert_eq!(
            space.table.translate(BASE + 3 * PAGE).map(|t| t.1),
            Some(UserFlags::WRITE)
        );
        // A second, spurious fault on a present page changes nothing.
        kassert_eq!(space.fault(BASE + 3 * PAGE, pf::USER | pf::PRESENT), Ok(()));
        kassert_eq!(space.stats().resident_pages, 3);
        Ok(())
    }
);

ktest!(
    async fn space_refuses_what_the_vmas_forbid() {
        let space = space_with_rw(1)?;
        space
            .map_anonymous(
                BASE + 2 * PAGE,
                BASE + 3 * PAGE,
                VmPerms::R,
                VmaKind::Anonymous,
            )
            .map_err(|e| format!("{e}"))?;
        let efault = Err(Errno::EFAULT);
        kassert_eq!(space.fault(BASE + PAGE, pf::USER), efault, "the gap");
        kassert_eq!(space.fault(0, pf::USER | pf::WRITE), efault, "NULL");
        kassert_eq!(
            space.fault(BASE + 2 * PAGE, pf::USER | pf::WRITE),
            efault,
            "write to read-only"
        );
        kassert_eq!(
            space.fault(BASE, pf::USER | pf::FETCH),
            efault,
            "fetch from non-exec"
        );
        kassert_eq!(
            space.copy_to_user(BASE + 2 * PAGE, b"x"),
            efault,
            "kernel copy into read-only"
        );
        kassert_eq!(
            space.copy_to_user(BASE + PAGE - 2, b"abcd"),
            efault,
            "across into the gap"
        );
        kassert_eq!(space.copy_from_user(u64::MAX - 1, &mut [0u8; 4]), efault);
        kassert_eq!(
            space.copy_from_user(0xffff_8000_0000_0000, &mut [0u8; 4]),
            efault
        );
        kassert_eq!(
            space.map_anonymous(BASE, BASE + PAGE, VmPerms::R, VmaKind::Anonymous),
            Err(Errno::EEXIST)
        );
        Ok(())
    }
);

ktest!(
    async fn space_copy_on_write_copies_a_shared_page() {
        let space = space_with_rw(1)?;
        kassert_eq!(space.copy_to_user(BASE, b"original"), Ok(()));
        let (pa_before, _) = space.table.translate(BASE).ok_or("not mapped")?;
        // Another holder (as fork would make): the page turns read-only.
        let (other, _) = space.table.share_frame(BASE).ok_or("share")?;
        kassert_eq!(other.refcount(), 2);
        kassert_eq!(space.table.translate(BASE).map(|t| t.1.write), Some(false));
        // The write fault copies: a new frame, the old one untouched.
        kassert_eq!(
            space.fault(BASE, pf::USER | pf::WRITE | pf::PRESENT),
            Ok(())
        );
        let (pa_after, flags) = space.table.translate(BASE).ok_or("not mapped")?;
        kassert!(pa_after != pa_before, "a copy was made");
        kassert!(flags.write);
        kassert_eq!(other.refcount(), 1, "the space dropped its reference");
        kassert_eq!(space.copy_to_user(BASE, b"changed!"), Ok(()));
        kassert_eq!(&other.bytes()[..8], b"original");
        let mut now = [0u8; 8];
        kassert_eq!(space.copy_from_user(BASE, &mut now), Ok(()));
        kassert_eq!(&now, b"changed!");
        Ok(())
    }
);

ktest!(
    async fn space_copy_on_write_reuses_an_unshared_page() {
        let space = space_with_rw(1)?;
        kassert_eq!(space.copy_to_user(BASE, b"mine"), Ok(()));
        let (pa_before, _) = space.table.translate(BASE).ok_or("not mapped")?;
        let (other, _) = space.table.share_frame(BASE).ok_or("share")?;
        drop(other);
        // Read-only but the only reference: write is simply re-enabled,
        // here through the kernel's own copy (which resolves the fault).
        kassert_eq!(space.copy_to_user(BASE + 4, b"!"), Ok(()));
        let (pa_after, flags) = space.table.translate(BASE).ok_or("not mapped")?;
        kassert_eq!(pa_after, pa_before, "no copy for refcount 1");
        kassert!(flags.write);
        let mut now = [0u8; 5];
        kassert_eq!(space.copy_from_user(BASE, &mut now), Ok(()));
        kassert_eq!(&now, b"mine!");
        Ok(())
    }
);

ktest!(
    async fn space_brk_and_munmap_give_pages_back() {
        let space = AddressSpace::new().map_err(|e| format!("{e}"))?;
        space.set_layout(BASE, BASE + (1 << 30), BASE + (2 << 30));
        kassert_eq!(space.brk(0), BASE);
        kassert_eq!(space.brk(BASE - 1), BASE, "below the start: refused");
        kassert_eq!(space.brk(BASE + 3 * PAGE + 1), BASE + 3 * PAGE + 1);
        kassert_eq!(space.copy_to_user(BASE, &[7u8; 4 * PAGE as usize]), Ok(()));
        kassert_eq!(space.stats().resident_pages, 4);
        kassert_eq!(space.brk(BASE + PAGE), BASE + PAGE);
        kassert_eq!(space.stats().resident_pages, 1, "shrinking unmaps");
        kassert_eq!(
            space.copy_to_user(BASE + PAGE, b"x"),
            Err(Errno::EFAULT),
            "past the break"
        );
        kassert_eq!(space.brk(BASE + (2 << 30)), BASE + PAGE, "over BRK_MAX");

        let map = space
            .mmap_anonymous(None, 3 * PAGE, VmPerms::RW, true, false)
            .map_err(|e| format!("{e}"))?;
        kassert!(map >= BASE + (1 << 30) && map + 3 * PAGE <= BASE + (2 << 30));
        kassert_eq!(space.copy_to_user(map, &[1u8; 3 * PAGE as usize]), Ok(()));
        kassert_eq!(space.munmap(map + PAGE, PAGE), Ok(()));
        kassert_eq!(space.stats().resident_pages, 3);
        kassert_eq!(space.copy_to_user(map + PAGE, b"x"), Err(Errno::EFAULT));
        kassert_eq!(space.copy_to_user(map + 2 * PAGE, b"x"), Ok(()));
        kassert_eq!(space.munmap(map + 1, PAGE), Err(Errno::EINVAL));
        kassert_eq!(
            space.mmap_anonymous(Some(map), PAGE, VmPerms::R, false, false),
            Err(Errno::EEXIST)
        );
        kassert_eq!(
            space.mmap_anonymous(Some(map), 3 * PAGE, VmPerms::R, true, false),
            Ok(map),
            "MAP_FIXED replaces"
        );
        kassert_eq!(space.stats().resident_pages, 1, "the replaced pages went");
        Ok(())
    }
);
