//! `rfork` without `RFPROC`: no new process, the caller divorces what it
//! shares with others (FreeBSD's `fork_norfproc`, `sys/kern/kern_fork.c`
//! at the revision `docs/fork.md` cites, git `09dfe066`).

use alloc::sync::Arc;

use crate::fs::Files;
use crate::proc::fork_flags::{DivorceRequest, FilesInPlace};
use crate::proc::process::{self, Process};
use crate::vm::space::AddressSpace;
use abi::Errno;

/// FreeBSD's `fork_norfproc`: no new process; the caller divorces what
/// it shares. Without `RFMEM`, an address space shared with another
/// process (vfork, `RFMEM`, `CLONE_VM`) becomes the caller's own
/// copy-on-write copy (`vmspace_unshare`; `ENOMEM` leaves it shared);
/// `RFFDG` gives it its own copy of a shared descriptor table
/// (`fdunshare`, every descriptor kept), `RFCFDG` a new empty one (all its
/// descriptors closed). Returns the new address space the calling thread
/// must switch to, if there is one.
pub fn fork_norfproc(
    process: &Process,
    d: DivorceRequest,
) -> Result<Option<Arc<AddressSpace>>, Errno> {
    let mut switch = None;
    if d.unshare_address_space
        && let Some(space) = process.space()
        && process::space_sharers(&space) > 1
    {
        let own = Arc::new(space.fork()?);
        process.replace_space(own.clone());
        switch = Some(own);
    }
    match d.files {
        FilesInPlace::Keep => {}
        FilesInPlace::Unshare => {
            let files = process.files();
            // Ours plus the process's reference: anything more is another
            // process's.
            if Arc::strong_count(&files) > 2 {
                process.set_files(Arc::new(files.unshared_copy()));
            }
        }
        FilesInPlace::Fresh => process.set_files(Arc::new(Files::empty())),
    }
    Ok(switch)
}
