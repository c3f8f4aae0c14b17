//! The image page cache: the pages of a program's image that hold file
//! bytes, built once per program and shared by every process that runs it.
//!
//! `execve` used to copy each page of file bytes from the initramfs into a
//! fresh frame on every exec. Now the first exec of a program builds those
//! pages (file bytes, zeros around them, exactly as before) and keeps one
//! reference to each here; every exec maps the same frames. A frame with
//! more than one reference is never writable (the write invariant of
//! `arch::mm::user`), so `AddressSpace::map_frame` maps them read-only and
//! a write to a data page is an ordinary copy-on-write fault: the
//! process's private copy, the cached page untouched. Read-only pages
//! (text, constants) are never copied at all: Linux's private file
//! mappings of the page cache, for an initramfs that never changes.
//!
//! Under QEMU's TCG this matters more than the copy saved: translated
//! code is keyed by physical address, so a program whose text sits in the
//! same frames at every exec reuses its translations, where fresh frames
//! meant translating it again and invalidating the code of the frames
//! reused.
//!
//! Keys are (the file's bytes in the archive, the page's address): the
//! initramfs is read-only and lives as long as the kernel, and a page's
//! contents depend only on the file and the load bias, which is fixed
//! (`elf::DEFAULT_PIE_BIAS`). The cache only grows, and is bounded by the
//! archive: at most one frame per page of each executable file, plus the
//! boundary pages segments share.
//!
//! With the pages, the first exec of a program keeps what every later one
//! needs from the file ([`Prepared`]: its validated ELF plan, its page
//! ranges, the pages to map in order), so a later exec neither parses the
//! file again nor looks each page up. Also bounded by the archive: one per
//! executable file.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use arch::mm::Frame;

use super::elf::LoadPlan;
use super::load::ImageRange;

/// (address of the file's bytes, page address) -> the page.
type Pages = BTreeMap<(usize, u64), Frame>;

static CACHE: spin::Mutex<Pages> = spin::Mutex::new(BTreeMap::new());

/// The cached page `page` of the file `image`, if built: a new reference.
pub fn get(image: &'static [u8], page: u64) -> Option<Frame> {
    CACHE.lock().get(&(image.as_ptr() as usize, page)).cloned()
}

/// Keeps a reference to `frame` as page `page` of `image` (its contents
/// final: nobody writes it again). An existing entry (another exec built
/// the same page meanwhile) is kept.
pub fn insert(image: &'static [u8], page: u64, frame: &Frame) {
    CACHE
        .lock()
        .entry((image.as_ptr() as usize, page))
        .or_insert_with(|| frame.clone());
}

/// How many frames the cache holds (leak checks count them as free).
pub fn frames() -> usize {
    CACHE.lock().len()
}

/// What every exec of one program needs from its file, worked out at its
/// first exec and kept with its pages: the ELF plan (validated once), the
/// page ranges of its VMAs (`load::image_vmas`) and the cached pages to
/// map, in address order (those of a no-access range left out). A later
/// exec of the program maps these without parsing the file or looking
/// each page up.
#[derive(Debug)]
pub struct Prepared {
    pub plan: LoadPlan,
    pub ranges: Vec<ImageRange>,
    pub pages: Vec<(u64, Frame)>,
}

/// Address of the file's bytes -> its [`Prepared`] load.
static PREPARED: spin::Mutex<BTreeMap<usize, Arc<Prepared>>> = spin::Mutex::new(BTreeMap::new());

/// The prepared load of `image`, if an exec made it.
pub fn prepared(image: &'static [u8]) -> Option<Arc<Prepared>> {
    PREPARED.lock().get(&(image.as_ptr() as usize)).cloned()
}

/// Keeps `prepared` for `image` and returns the one kept (another exec's,
/// if it got there first: the same contents).
pub fn keep_prepared(image: &'static [u8], prepared: Prepared) -> Arc<Prepared> {
    PREPARED
        .lock()
        .entry(image.as_ptr() as usize)
        .or_insert_with(|| Arc::new(prepared))
        .clone()
}
