//! In-kernel tests of the initramfs mounted at boot: `/bin/init` is there
//! with a valid load plan, directories list and resolve.

use alloc::string::String;

use super::Initramfs;
use crate::{kassert, ktest};

/// The path `cargo xtask` packs `user/init` at (`docs/initramfs.md`).
const INIT: &str = "/bin/init";

/// The root the boot mounted (`kernel::init` always mounts the initrd);
/// a failure names what is missing.
fn mounted() -> Result<&'static Initramfs<'static>, String> {
    super::root().map_err(|e| {
        alloc::format!(
            "{e}: these tests need the initramfs that `cargo xtask run/test/bench` \
             passes with -initrd (see the `initramfs:` line of the boot log)"
        )
    })
}

ktest!(
    async fn initramfs_has_init_with_a_valid_load_plan() {
        let root = mounted()?;
        let node = root
            .lookup(INIT)
            .map_err(|e| alloc::format!("{INIT}: {e}"))?;
        let image = node
            .data()
            .ok_or_else(|| alloc::format!("{INIT} is not a regular file"))?;
        let plan = crate::exec::elf::LoadPlan::new(image, crate::exec::elf::DEFAULT_PIE_BIAS)
            .map_err(|e| alloc::format!("{INIT}: {e}"))?;
        kassert!(!plan.segments.is_empty());
        kassert!(
            plan.segments
                .iter()
                .any(|s| s.perms.execute && s.contains(plan.entry)),
            "entry {:#x} is in no executable segment",
            plan.entry
        );
        kassert!(
            plan.phdr_addr.is_some(),
            "{INIT}: program headers not loaded"
        );
        Ok(())
    }
);

ktest!(
    async fn initramfs_lists_bin_and_resolves_dots() {
        let root = mounted()?;
        let bin = root
            .lookup("/bin")
            .map_err(|e| alloc::format!("/bin: {e}"))?;
        let names: alloc::vec::Vec<&[u8]> = root
            .readdir(bin.id)
            .map_err(|e| alloc::format!("{e}"))?
            .map(|e| e.name)
            .collect();
        kassert!(names.contains(&&b"init"[..]), "/bin holds {names:?}");
        kassert!(names.contains(&&b"hello"[..]), "/bin holds {names:?}");
        let again = root
            .lookup("//bin/../bin/./init")
            .map_err(|e| alloc::format!("{e}"))?;
        kassert!(again == root.lookup(INIT).map_err(|e| alloc::format!("{e}"))?);
        kassert!(root.lookup("/bin/nonexistent") == Err(super::FsError::NotFound));
        Ok(())
    }
);
