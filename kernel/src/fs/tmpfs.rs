//! A small writable in-memory file system, mounted at `/tmp`
//! (host-tested).
//!
//! A [`TmpNode`] is a directory (a sorted map from name to node) or a
//! regular file, reference-counted: an open file keeps its node alive
//! after `unlink`, as POSIX requires. Each node has its own spin lock,
//! held for one map or page operation (never across an await).
//!
//! ## File data
//!
//! A file's data is a size and a sparse map from page index to a 4 KiB
//! page ([`Page`]: a physical frame from the frame allocator in the
//! kernel, a boxed array on the host). Only pages that were written hold
//! memory: a hole (past a `truncate` that grew the file, or a write far
//! beyond the end) reads as zeros and costs nothing, as on Linux's tmpfs
//! (`mm/shmem.c`). Frames go straight back to the frame allocator when a
//! page is dropped (truncate, or the last reference to an unlinked file),
//! so `free` shows them back; the heap only holds the map's nodes.
//!
//! Files may be as large as [`MAX_FILE`] (`i64::MAX`, Linux's
//! `MAX_LFS_FILESIZE`; `EFBIG` beyond). A zero-length write at any offset
//! returns 0 and changes nothing.
//!
//! ## Size limit
//!
//! Every file system instance has a [`Quota`]: the most pages its files
//! may hold (the root made by [`TmpNode::new_root`] sets it; `/tmp` gets
//! half of RAM, Linux's default for tmpfs). A write that needs a page
//! beyond the limit stops there: short if some bytes were written, else
//! `ENOSPC`. A frame allocator that is out of frames gives `ENOMEM`
//! instead. [`Quota::usage`] gives `df`-style figures (the `mem` command).
//! The same number bounds the inodes: every node but the root and every
//! extra hard link takes one (`ENOSPC` past it; Linux's `nr_inodes`,
//! whose default is also half of RAM in pages), so names cannot exhaust
//! the kernel heap either.
//!
//! ## Name space
//!
//! Besides directories and files, a node may be a symbolic link (its
//! target; `super::vfs` follows it). `mkdir`, `rmdir` (`ENOTEMPTY`),
//! `unlink`, hard links (files and symbolic links; a link count per node),
//! symbolic links, and `rename` with POSIX's replacement rules
//! ([`rename`]). Nodes carry permissions (`chmod`) and access,
//! modification and change times (ns since 1970; writes, truncation and
//! name changes update them, `utimensat` sets them).

use alloc::collections::BTreeMap;
use alloc::collections::btree_map::Entry;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::stat::{S_IFDIR, S_IFIFO, S_IFLNK, S_IFREG, Stat, dtype};
use abi::Errno;

/// The wall-clock time for file times, in ns since 1970.
#[cfg(target_os = "none")]
fn now_ns() -> u64 {
    crate::syscall::time::realtime_ns()
}

/// The host tests' clock: a counter, so every change gets a later time.
#[cfg(not(target_os = "none"))]
fn now_ns() -> u64 {
    static CLOCK: AtomicU64 = AtomicU64::new(1_000_000_000);
    CLOCK.fetch_add(1, Ordering::Relaxed)
}

/// A node's times (ns since 1970).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Times {
    pub atime: u64,
    pub mtime: u64,
    pub ctime: u64,
}

/// Largest file, in bytes (Linux's `MAX_LFS_FILESIZE`).
pub const MAX_FILE: u64 = i64::MAX as u64;
/// Bytes in a page of file data.
pub const PAGE: usize = 4096;
/// `st_dev` of `/tmp`.
pub const TMP_DEV: u64 = 2;

/// One page of file data: a physical frame, unique to its file.
#[cfg(target_os = "none")]
struct Page(arch::mm::Frame);

#[cfg(target_os = "none")]
impl Page {
    fn zeroed() -> Option<Self> {
        arch::mm::Frame::alloc_zeroed().map(Page)
    }

    fn bytes(&self) -> &[u8; PAGE] {
        self.0.bytes()
    }

    /// `None` never happens: a tmpfs frame is never cloned.
    fn bytes_mut(&mut self) -> Option<&mut [u8; PAGE]> {
        self.0.bytes_mut()
    }
}

/// One page of file data (host tests: a boxed array).
#[cfg(not(target_os = "none"))]
struct Page(alloc::boxed::Box<[u8; PAGE]>);

#[cfg(not(target_os = "none"))]
impl Page {
    fn zeroed() -> Option<Self> {
        Some(Page(alloc::boxed::Box::new([0; PAGE])))
    }

    fn bytes(&self) -> &[u8; PAGE] {
        &self.0
    }

    fn bytes_mut(&mut self) -> Option<&mut [u8; PAGE]> {
        Some(&mut self.0)
    }
}

/// The page budget of one tmpfs instance (module docs).
pub struct Quota {
    /// Most pages the files may hold.
    limit: AtomicU64,
    /// Pages they hold now.
    used: AtomicU64,
    /// Nodes and extra hard links now (Linux's tmpfs counts both against
    /// `nr_inodes`); at most `limit` new ones, as Linux's default
    /// `nr_inodes` is its default size in pages. Every name costs kernel
    /// heap, so this bounds what `/tmp` holds besides file data.
    inodes: AtomicU64,
}

/// `df`'s view of a tmpfs: sizes in bytes, and inodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    pub size: u64,
    pub used: u64,
    pub avail: u64,
    /// Most inodes (and extra hard links).
    pub inodes: u64,
    /// Those in use.
    pub inodes_used: u64,
}

impl Quota {
    fn new(limit_pages: u64) -> Arc<Self> {
        Arc::new(Self {
            limit: AtomicU64::new(limit_pages),
            used: AtomicU64::new(0),
            inodes: AtomicU64::new(0),
        })
    }

    /// Takes one page from the budget; `ENOSPC` if none is left.
    fn charge(&self) -> Result<(), Errno> {
        let limit = self.limit.load(Ordering::Relaxed);
        // Relaxed: a counter; the pages it counts are published under the
        // file's lock.
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                (used < limit).then_some(used + 1)
            })
            .map(|_| ())
            .map_err(|_| Errno::ENOSPC)
    }

    /// Takes one inode (a node or an extra name) from the budget;
    /// `ENOSPC` past the limit.
    fn charge_inode(&self) -> Result<(), Errno> {
        let limit = self.limit.load(Ordering::Relaxed);
        // Relaxed: a counter, as `used`.
        self.inodes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < limit).then_some(n + 1)
            })
            .map(|_| ())
            .map_err(|_| Errno::ENOSPC)
    }

    /// Gives one inode back.
    fn uncharge_inode(&self) {
        self.inodes.fetch_sub(1, Ordering::Relaxed);
    }

    /// Gives `pages` back to the budget.
    fn uncharge(&self, pages: u64) {
        self.used.fetch_sub(pages, Ordering::Relaxed);
    }

    /// Sets the limit in pages (pages already held above it stay; new
    /// ones get `ENOSPC`).
    pub fn set_limit(&self, pages: u64) {
        self.limit.store(pages, Ordering::Relaxed);
    }

    /// Size, used and available bytes.
    pub fn usage(&self) -> Usage {
        let limit = self.limit.load(Ordering::Relaxed);
        let used = self.used.load(Ordering::Relaxed);
        let page = PAGE as u64;
        Usage {
            size: limit.saturating_mul(page),
            used: used.saturating_mul(page),
            avail: limit.saturating_sub(used).saturating_mul(page),
            inodes: limit,
            inodes_used: self.inodes.load(Ordering::Relaxed),
        }
    }
}

/// A regular file's data (module docs).
#[derive(Default)]
struct FileData {
    /// Size in bytes.
    size: u64,
    /// The pages that hold data, by index; missing ones are holes.
    pages: BTreeMap<u64, Page>,
}

/// What a node holds.
enum Contents {
    Dir(spin::Mutex<BTreeMap<String, Arc<TmpNode>>>),
    File(spin::Mutex<FileData>),
    Symlink(String),
    /// A named pipe: the pipe its opens share (`super::pipe::fifo`).
    Fifo(Arc<super::pipe::Pipe>),
}

/// A file or directory of the tmpfs (module docs).
pub struct TmpNode {
    ino: u64,
    perm: AtomicU32,
    quota: Arc<Quota>,
    /// Holds an inode of `quota` (every node but a tmpfs's root).
    charged: bool,
    /// Names that refer to a file or symbolic link (a directory's count
    /// is computed from its subdirectories).
    links: AtomicU32,
    /// Owner: uid in the low 32 bits, gid in the high (`chown`; a new
    /// node is root's until its creator sets it, [`TmpNode::set_owner`]).
    owner: AtomicU64,
    times: spin::Mutex<Times>,
    contents: Contents,
}

/// Inode numbers; the root is 1.
static NEXT_INO: AtomicU64 = AtomicU64::new(2);

fn next_ino() -> u64 {
    // Relaxed: a unique number, nothing is published through it.
    NEXT_INO.fetch_add(1, Ordering::Relaxed)
}

impl Drop for TmpNode {
    fn drop(&mut self) {
        if let Contents::File(data) = &self.contents {
            self.quota.uncharge(data.lock().pages.len() as u64);
        }
        if self.charged {
            self.quota.uncharge_inode();
        }
    }
}

impl TmpNode {
    /// The root directory of a new tmpfs whose files may hold at most
    /// `limit_pages` pages.
    pub fn new_root(perm: u32, limit_pages: u64) -> Arc<Self> {
        Self::new_node(perm, Quota::new(limit_pages), true)
    }

    /// The root of a new tmpfs without a size limit (tests).
    pub fn new_dir(perm: u32) -> Arc<Self> {
        Self::new_root(perm, u64::MAX)
    }

    fn new_node(perm: u32, quota: Arc<Quota>, dir: bool) -> Arc<Self> {
        let contents = if dir {
            Contents::Dir(spin::Mutex::new(BTreeMap::new()))
        } else {
            Contents::File(spin::Mutex::new(FileData::default()))
        };
        Self::with_contents(perm, quota, contents, false)
    }

    /// A node inside a tmpfs: one inode charged to `quota` (`ENOSPC` past
    /// its limit), given back when the node is dropped.
    fn new_charged(perm: u32, quota: Arc<Quota>, contents: Contents) -> Result<Arc<Self>, Errno> {
        quota.charge_inode()?;
        Ok(Self::with_contents(perm, quota, contents, true))
    }

    fn with_contents(perm: u32, quota: Arc<Quota>, contents: Contents, charged: bool) -> Arc<Self> {
        let now = now_ns();
        Arc::new(Self {
            ino: next_ino(),
            perm: AtomicU32::new(perm & 0o7777),
            charged,
            quota,
            links: AtomicU32::new(1),
            owner: AtomicU64::new(0),
            times: spin::Mutex::new(Times {
                atime: now,
                mtime: now,
                ctime: now,
            }),
            contents,
        })
    }

    pub fn ino(&self) -> u64 {
        self.ino
    }

    pub fn is_dir(&self) -> bool {
        matches!(self.contents, Contents::Dir(_))
    }

    /// Whether it is a symbolic link.
    pub fn is_symlink(&self) -> bool {
        matches!(self.contents, Contents::Symlink(_))
    }

    /// A symbolic link's target (`readlink`); `None` for anything else.
    pub fn link_target(&self) -> Option<&str> {
        match &self.contents {
            Contents::Symlink(target) => Some(target),
            _ => None,
        }
    }

    /// Its times.
    pub fn times(&self) -> Times {
        *self.times.lock()
    }

    /// `utimensat`: sets the access and modification times given (`None`
    /// leaves one as it is); the change time becomes now.
    pub fn set_times(&self, atime: Option<u64>, mtime: Option<u64>) {
        let now = now_ns();
        let mut times = self.times.lock();
        if let Some(atime) = atime {
            times.atime = atime;
        }
        if let Some(mtime) = mtime {
            times.mtime = mtime;
        }
        times.ctime = now;
    }

    /// The contents changed: modification and change times are now.
    fn touch_modified(&self) {
        let now = now_ns();
        let mut times = self.times.lock();
        times.mtime = now;
        times.ctime = now;
    }

    /// The node itself changed (permissions, links): the change time is
    /// now.
    fn touch_changed(&self) {
        self.times.lock().ctime = now_ns();
    }

    /// `chmod`: the permission bits become `perm & 0o7777`.
    pub fn chmod(&self, perm: u32) {
        // Relaxed: permissions are a plain value.
        self.perm.store(perm & 0o7777, Ordering::Relaxed);
        self.touch_changed();
    }

    /// Its owner: `(uid, gid)`.
    pub fn owner(&self) -> (u32, u32) {
        // Relaxed: the ids are a plain value, changed as one word.
        let word = self.owner.load(Ordering::Relaxed);
        (word as u32, (word >> 32) as u32)
    }

    /// The owner of a node a process with effective ids `(uid, gid)`
    /// makes in this directory: its ids, but the directory's group if the
    /// directory is set-group-ID (Linux's `inode_init_owner`).
    pub fn owner_for_new(&self, (uid, gid): (u32, u32)) -> (u32, u32) {
        if self.perm.load(Ordering::Relaxed) & 0o2000 != 0 {
            (uid, self.owner().1)
        } else {
            (uid, gid)
        }
    }

    /// Sets the owner of a node just made (no change time).
    pub fn set_owner(&self, uid: u32, gid: u32) {
        self.owner
            .store(u64::from(uid) | u64::from(gid) << 32, Ordering::Relaxed);
    }

    /// `chown`: the ids given change (`None` keeps one). As Linux's
    /// `chown_common`, a change of anything but a directory clears
    /// set-user-ID, and set-group-ID if group execution is allowed (without
    /// it the bit means mandatory locking); the change time is now.
    pub fn chown(&self, uid: Option<u32>, gid: Option<u32>) {
        let (old_uid, old_gid) = self.owner();
        self.set_owner(uid.unwrap_or(old_uid), gid.unwrap_or(old_gid));
        if !self.is_dir() {
            let perm = self.perm.load(Ordering::Relaxed);
            let mut kill = 0o4000;
            if perm & 0o010 != 0 {
                kill |= 0o2000;
            }
            self.perm.store(perm & !kill, Ordering::Relaxed);
        }
        self.touch_changed();
    }

    /// The budget this node's file system shares.
    pub fn quota(&self) -> &Arc<Quota> {
        &self.quota
    }

    fn children(&self) -> Result<&spin::Mutex<BTreeMap<String, Arc<TmpNode>>>, Errno> {
        match &self.contents {
            Contents::Dir(children) => Ok(children),
            Contents::File(_) | Contents::Symlink(_) | Contents::Fifo(_) => Err(Errno::ENOTDIR),
        }
    }

    fn data(&self) -> Result<&spin::Mutex<FileData>, Errno> {
        match &self.contents {
            Contents::File(data) => Ok(data),
            Contents::Dir(_) => Err(Errno::EISDIR),
            Contents::Symlink(_) | Contents::Fifo(_) => Err(Errno::EINVAL),
        }
    }

    /// The node `name` in this directory.
    pub fn lookup(&self, name: &str) -> Result<Arc<TmpNode>, Errno> {
        self.children()?
            .lock()
            .get(name)
            .cloned()
            .ok_or(Errno::ENOENT)
    }

    /// Walks `components` down from this directory, symbolic links not
    /// followed (`super::vfs` follows them).
    pub fn walk<'a>(
        self: &Arc<Self>,
        components: impl IntoIterator<Item = &'a str>,
    ) -> Result<Arc<TmpNode>, Errno> {
        let mut node = self.clone();
        for name in components {
            node = node.lookup(name)?;
        }
        Ok(node)
    }

    /// `open(O_CREAT)` in this directory: the file `name`, created empty
    /// with `perm` if missing. `EEXIST` if it exists and `exclusive`;
    /// returns whether it was created.
    pub fn create(
        &self,
        name: &str,
        perm: u32,
        exclusive: bool,
    ) -> Result<(Arc<TmpNode>, bool), Errno> {
        self.create_as(name, perm, exclusive, (0, 0))
    }

    /// [`TmpNode::create`] of a file owned by `owner` (`(uid, gid)`) if
    /// it is made.
    pub fn create_as(
        &self,
        name: &str,
        perm: u32,
        exclusive: bool,
        (uid, gid): (u32, u32),
    ) -> Result<(Arc<TmpNode>, bool), Errno> {
        let mut children = self.children()?.lock();
        if let Some(node) = children.get(name) {
            return if exclusive {
                Err(Errno::EEXIST)
            } else {
                Ok((node.clone(), false))
            };
        }
        let file = Contents::File(spin::Mutex::new(FileData::default()));
        let node = TmpNode::new_charged(perm, self.quota.clone(), file)?;
        node.set_owner(uid, gid);
        children.insert(String::from(name), node.clone());
        drop(children);
        self.touch_modified();
        Ok((node, true))
    }

    /// Adds `node` as `name`, a new name (`EEXIST` if taken).
    fn add(&self, name: &str, node: Arc<TmpNode>) -> Result<(), Errno> {
        let mut children = self.children()?.lock();
        if children.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        children.insert(String::from(name), node);
        drop(children);
        self.touch_modified();
        Ok(())
    }

    /// `mkdir` in this directory. `EEXIST` if `name` exists.
    pub fn mkdir(&self, name: &str, perm: u32) -> Result<(), Errno> {
        self.mkdir_as(name, perm, (0, 0))
    }

    /// [`TmpNode::mkdir`] of a directory owned by `owner` (`(uid, gid)`).
    pub fn mkdir_as(&self, name: &str, perm: u32, (uid, gid): (u32, u32)) -> Result<(), Errno> {
        let dir = Contents::Dir(spin::Mutex::new(BTreeMap::new()));
        let node = TmpNode::new_charged(perm, self.quota.clone(), dir)?;
        node.set_owner(uid, gid);
        self.add(name, node)
    }

    /// `symlink`: a symbolic link `name` to `target` (`EEXIST` if `name`
    /// exists).
    pub fn symlink(&self, name: &str, target: &str) -> Result<(), Errno> {
        self.symlink_as(name, target, (0, 0))
    }

    /// `mknod(S_IFIFO)`: a named pipe `name` with `perm`, owned by `owner`
    /// (`EEXIST` if `name` exists).
    pub fn mkfifo_as(&self, name: &str, perm: u32, (uid, gid): (u32, u32)) -> Result<(), Errno> {
        let fifo = Contents::Fifo(super::pipe::fifo());
        let node = Self::new_charged(perm, self.quota.clone(), fifo)?;
        node.set_owner(uid, gid);
        self.add(name, node)
    }

    /// A named pipe's pipe; `None` for anything else.
    pub fn fifo(&self) -> Option<&Arc<super::pipe::Pipe>> {
        match &self.contents {
            Contents::Fifo(pipe) => Some(pipe),
            _ => None,
        }
    }

    /// [`TmpNode::symlink`] of a link owned by `owner` (`(uid, gid)`).
    pub fn symlink_as(
        &self,
        name: &str,
        target: &str,
        (uid, gid): (u32, u32),
    ) -> Result<(), Errno> {
        let link = Self::new_charged(
            0o777,
            self.quota.clone(),
            Contents::Symlink(String::from(target)),
        )?;
        link.set_owner(uid, gid);
        self.add(name, link)
    }

    /// `link`: `node` gets the further name `name` here. `EPERM` for a
    /// directory (as Linux), `EEXIST` if `name` exists.
    pub fn link(&self, name: &str, node: &Arc<TmpNode>) -> Result<(), Errno> {
        if node.is_dir() {
            return Err(Errno::EPERM);
        }
        // An extra name is an inode too (Linux's `shmem_link`).
        self.quota.charge_inode()?;
        if let Err(e) = self.add(name, node.clone()) {
            self.quota.uncharge_inode();
            return Err(e);
        }
        node.links.fetch_add(1, Ordering::Relaxed);
        node.touch_changed();
        Ok(())
    }

    /// `unlink` in this directory: `ENOENT` if missing, `EISDIR` for a
    /// directory (Linux's answer for `unlink` on one).
    pub fn unlink(&self, name: &str) -> Result<(), Errno> {
        let mut children = self.children()?.lock();
        match children.get(name) {
            None => Err(Errno::ENOENT),
            Some(node) if node.is_dir() => Err(Errno::EISDIR),
            Some(_) => {
                let removed = children.remove(name);
                drop(children);
                if let Some(node) = &removed {
                    node.unlinked();
                }
                drop(removed);
                self.touch_modified();
                Ok(())
            }
        }
    }

    /// `rmdir` in this directory: `ENOENT` if missing, `ENOTDIR` for a
    /// non-directory, `ENOTEMPTY` unless it is empty.
    pub fn rmdir(&self, name: &str) -> Result<(), Errno> {
        let mut children = self.children()?.lock();
        let node = children.get(name).ok_or(Errno::ENOENT)?;
        if !node.is_empty_dir()? {
            return Err(Errno::ENOTEMPTY);
        }
        let removed = children.remove(name);
        drop(children);
        drop(removed);
        self.touch_modified();
        Ok(())
    }

    /// Whether this is an empty directory (`ENOTDIR` if no directory).
    fn is_empty_dir(&self) -> Result<bool, Errno> {
        Ok(self.children()?.lock().is_empty())
    }

    /// One name fewer refers to this node.
    fn unlinked(&self) {
        // A name the node outlives was an extra link's inode; the last
        // name's goes with the node (`Drop`).
        if self.links.fetch_sub(1, Ordering::Relaxed) > 1 {
            self.quota.uncharge_inode();
        }
        self.touch_changed();
    }

    /// The names in this directory with their inode numbers and `d_type`s.
    pub fn entries(&self) -> Result<Vec<(String, u64, u8)>, Errno> {
        Ok(self
            .children()?
            .lock()
            .iter()
            .map(|(name, node)| (name.clone(), node.ino, dtype(node.mode())))
            .collect())
    }

    /// Copies bytes from `offset` into `out`; returns how many (0 at or
    /// past the end). Holes read as zeros.
    pub fn read_at(&self, offset: u64, out: &mut [u8]) -> Result<usize, Errno> {
        let data = self.data()?.lock();
        if offset >= data.size {
            return Ok(0);
        }
        let n = (out.len() as u64).min(data.size - offset) as usize;
        let mut done = 0;
        while done < n {
            let at = offset + done as u64;
            let in_page = (at % PAGE as u64) as usize;
            let len = (PAGE - in_page).min(n - done);
            let dst = &mut out[done..done + len];
            match data.pages.get(&(at / PAGE as u64)) {
                Some(page) => dst.copy_from_slice(&page.bytes()[in_page..in_page + len]),
                None => dst.fill(0),
            }
            done += len;
        }
        Ok(n)
    }

    /// Writes `bytes` at `offset` (the end of the file if `None`, for
    /// `O_APPEND`); a gap before it becomes a hole. Returns the offset
    /// written at and the count. Nothing changes for an empty `bytes`.
    /// `EFBIG` at or past [`MAX_FILE`] (a write that fits in part is
    /// short); `ENOSPC` past the quota and `ENOMEM` without frames, both
    /// only if not a byte could be written (else the count is short).
    pub fn write_at(&self, offset: Option<u64>, bytes: &[u8]) -> Result<(u64, usize), Errno> {
        let mut data = self.data()?.lock();
        let start = offset.unwrap_or(data.size);
        if bytes.is_empty() {
            return Ok((start, 0));
        }
        if start >= MAX_FILE {
            return Err(Errno::EFBIG);
        }
        let n = (bytes.len() as u64).min(MAX_FILE - start) as usize;
        let mut done = 0;
        while done < n {
            let at = start + done as u64;
            let in_page = (at % PAGE as u64) as usize;
            let len = (PAGE - in_page).min(n - done);
            match self.page_mut(&mut data, at / PAGE as u64) {
                Ok(page) => page[in_page..in_page + len].copy_from_slice(&bytes[done..done + len]),
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            }
            done += len;
        }
        data.size = data.size.max(start + done as u64);
        drop(data);
        self.touch_modified();
        Ok((start, done))
    }

    /// The page `index` of `data`, allocated (zeroed, charged to the
    /// quota) if it was a hole.
    fn page_mut<'a>(
        &self,
        data: &'a mut FileData,
        index: u64,
    ) -> Result<&'a mut [u8; PAGE], Errno> {
        let page = match data.pages.entry(index) {
            Entry::Occupied(page) => page.into_mut(),
            Entry::Vacant(hole) => {
                self.quota.charge()?;
                let Some(page) = Page::zeroed() else {
                    self.quota.uncharge(1);
                    return Err(Errno::ENOMEM);
                };
                hole.insert(page)
            }
        };
        page.bytes_mut().ok_or(Errno::EIO)
    }

    /// Sets the length to `len` (`O_TRUNC`, `ftruncate`): growing makes a
    /// hole, shrinking frees the pages past the end. `EFBIG` past
    /// [`MAX_FILE`].
    pub fn truncate(&self, len: u64) -> Result<(), Errno> {
        if len > MAX_FILE {
            return Err(Errno::EFBIG);
        }
        let mut data = self.data()?.lock();
        if len < data.size {
            let keep = len.div_ceil(PAGE as u64);
            let dropped = data.pages.split_off(&keep);
            self.quota.uncharge(dropped.len() as u64);
            // The rest of the last page must read as zeros if the file
            // grows again.
            let tail = (len % PAGE as u64) as usize;
            if tail != 0
                && let Some(page) = data.pages.get_mut(&(len / PAGE as u64))
                && let Some(bytes) = page.bytes_mut()
            {
                bytes[tail..].fill(0);
            }
            drop(dropped);
        }
        data.size = len;
        drop(data);
        self.touch_modified();
        Ok(())
    }

    /// File size in bytes (0 for a directory, the target's length for a
    /// symbolic link).
    pub fn size(&self) -> u64 {
        match &self.contents {
            Contents::File(data) => data.lock().size,
            Contents::Dir(_) | Contents::Fifo(_) => 0,
            Contents::Symlink(target) => target.len() as u64,
        }
    }

    /// Pages of data the file holds (0 for a directory or a link).
    pub fn pages(&self) -> u64 {
        match &self.contents {
            Contents::File(data) => data.lock().pages.len() as u64,
            Contents::Dir(_) | Contents::Symlink(_) | Contents::Fifo(_) => 0,
        }
    }

    /// `st_nlink`: a directory's is 2 and one per subdirectory (their
    /// `..`), anything else's its number of names.
    pub fn nlink(&self) -> u64 {
        match &self.contents {
            Contents::Dir(children) => {
                2 + children.lock().values().filter(|c| c.is_dir()).count() as u64
            }
            _ => u64::from(self.links.load(Ordering::Relaxed)),
        }
    }

    /// `st_mode`.
    pub fn mode(&self) -> u32 {
        let kind = match self.contents {
            Contents::Dir(_) => S_IFDIR,
            Contents::File(_) => S_IFREG,
            Contents::Symlink(_) => S_IFLNK,
            Contents::Fifo(_) => S_IFIFO,
        };
        // Relaxed: permissions are a plain value.
        kind | self.perm.load(Ordering::Relaxed)
    }

    /// `fstat`'s view: `st_blocks` counts the pages held, not the size.
    pub fn stat(&self) -> Stat {
        let times = self.times();
        let mut stat = Stat {
            dev: TMP_DEV,
            ino: self.ino,
            nlink: self.nlink(),
            mode: self.mode(),
            uid: self.owner().0,
            gid: self.owner().1,
            atime_ns: times.atime,
            mtime_ns: times.mtime,
            ctime_ns: times.ctime,
            ..Stat::default()
        }
        .sized(0);
        stat.size = self.size() as i64;
        stat.blocks = (self.pages() * (PAGE as u64 / 512)) as i64;
        stat
    }
}

/// How `rename` treats an existing target (`renameat2`'s flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenameMode {
    /// Replace it (plain `rename`).
    Replace,
    /// `RENAME_NOREPLACE`: `EEXIST` if it exists.
    NoReplace,
    /// `RENAME_EXCHANGE`: swap the two (`ENOENT` unless both exist).
    Exchange,
}

/// `rename`: moves `from_dir`'s `from` to `to_dir`'s `to`, with POSIX's
/// rules: `ENOENT` if `from` is missing; if `to` exists, a directory
/// replaces only an empty directory (`ENOTDIR` for a file, `ENOTEMPTY`
/// for a full one) and a non-directory replaces only a non-directory
/// (`EISDIR`); two names for the same node leave both in place. The caller
/// has refused moving a directory into itself (`EINVAL`), which needs the
/// paths. The two directories are locked in inode order.
pub fn rename(
    from_dir: &Arc<TmpNode>,
    from: &str,
    to_dir: &Arc<TmpNode>,
    to: &str,
    mode: RenameMode,
) -> Result<(), Errno> {
    let same_dir = Arc::ptr_eq(from_dir, to_dir);
    let (first, second) = if from_dir.ino <= to_dir.ino {
        (from_dir, to_dir)
    } else {
        (to_dir, from_dir)
    };
    let mut first_map = first.children()?.lock();
    let mut second_map = if same_dir {
        None
    } else {
        Some(second.children()?.lock())
    };
    // (source map, target map) as `&mut` views of the locked maps.
    let (src, dst): (
        &mut BTreeMap<String, Arc<TmpNode>>,
        Option<&mut BTreeMap<_, _>>,
    ) = match second_map.as_deref_mut() {
        None => (&mut *first_map, None),
        Some(second_map) if Arc::ptr_eq(first, from_dir) => (&mut *first_map, Some(second_map)),
        Some(second_map) => (second_map, Some(&mut *first_map)),
    };
    let node = src.get(from).cloned().ok_or(Errno::ENOENT)?;
    let target = match &dst {
        None => src.get(to).cloned(),
        Some(dst) => dst.get(to).cloned(),
    };
    let mut replaced = None;
    match (&target, mode) {
        (None, RenameMode::Exchange) => return Err(Errno::ENOENT),
        (Some(_), RenameMode::NoReplace) => return Err(Errno::EEXIST),
        (Some(old), _) if Arc::ptr_eq(old, &node) => return Ok(()),
        (Some(old), RenameMode::Exchange) => {
            src.insert(String::from(from), old.clone());
            match dst {
                None => src.insert(String::from(to), node.clone()),
                Some(dst) => dst.insert(String::from(to), node.clone()),
            };
        }
        (old, _) => {
            if let Some(old) = old {
                match (node.is_dir(), old.is_dir()) {
                    (true, false) => return Err(Errno::ENOTDIR),
                    (false, true) => return Err(Errno::EISDIR),
                    (true, true) if !old.is_empty_dir()? => return Err(Errno::ENOTEMPTY),
                    _ => {}
                }
            }
            src.remove(from);
            replaced = match dst {
                None => src.insert(String::from(to), node.clone()),
                Some(dst) => dst.insert(String::from(to), node.clone()),
            };
        }
    }
    drop(second_map);
    drop(first_map);
    if let Some(old) = &replaced
        && !old.is_dir()
    {
        old.unlinked();
    }
    drop(replaced);
    node.touch_changed();
    from_dir.touch_modified();
    if !same_dir {
        to_dir.touch_modified();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_write_read_truncate() {
        let root = TmpNode::new_dir(0o1777);
        let (f, created) = root.create("a", 0o644, false).unwrap();
        assert!(created);
        assert_eq!(root.create("a", 0o600, true).err(), Some(Errno::EEXIST));
        let (again, created) = root.create("a", 0o600, false).unwrap();
        assert!(!created);
        assert_eq!(again.ino(), f.ino());
        assert_eq!(f.write_at(Some(0), b"hello"), Ok((0, 5)));
        assert_eq!(f.write_at(None, b"!"), Ok((5, 1)));
        assert_eq!(f.write_at(Some(8), b"x"), Ok((8, 1)));
        let mut buf = [0xffu8; 16];
        assert_eq!(f.read_at(0, &mut buf), Ok(9));
        assert_eq!(&buf[..9], b"hello!\0\0x");
        assert_eq!(f.read_at(9, &mut buf), Ok(0));
        assert_eq!(f.read_at(u64::MAX, &mut buf), Ok(0));
        assert_eq!(f.stat().size, 9);
        assert_eq!(f.stat().blocks, 8);
        assert_eq!(f.stat().mode, S_IFREG | 0o644);
        f.truncate(0).unwrap();
        assert_eq!(f.size(), 0);
        assert_eq!(f.pages(), 0);
    }

    #[test]
    fn zero_length_writes_change_nothing() {
        let root = TmpNode::new_root(0o1777, 4);
        let (f, _) = root.create("z", 0o644, false).unwrap();
        // The reported panic: pwrite(fd, buf, 0, 1 << 38).
        assert_eq!(f.write_at(Some(1 << 38), b""), Ok((1 << 38, 0)));
        assert_eq!(f.write_at(Some(u64::MAX), b""), Ok((u64::MAX, 0)));
        assert_eq!(f.write_at(None, b""), Ok((0, 0)));
        assert_eq!((f.size(), f.pages()), (0, 0));
        assert_eq!(root.quota().usage().used, 0);
        let mut empty = [0u8; 0];
        assert_eq!(f.read_at(1 << 38, &mut empty), Ok(0));
    }

    #[test]
    fn sparse_files_hold_only_written_pages() {
        let root = TmpNode::new_root(0o1777, 4);
        let (f, _) = root.create("s", 0o644, false).unwrap();
        assert_eq!(f.write_at(Some(1 << 38), b"far"), Ok((1 << 38, 3)));
        assert_eq!(f.size(), (1 << 38) + 3);
        assert_eq!(f.pages(), 1);
        assert_eq!(root.quota().usage().used, PAGE as u64);
        let mut buf = [0xffu8; 8];
        assert_eq!(f.read_at(1 << 30, &mut buf), Ok(8));
        assert_eq!(buf, [0; 8], "a hole reads as zeros");
        assert_eq!(f.read_at((1 << 38) - 2, &mut buf), Ok(5));
        assert_eq!(&buf[..5], b"\0\0far");
        // A write that straddles a page boundary takes two pages.
        assert_eq!(f.write_at(Some(PAGE as u64 - 1), b"ab"), Ok((4095, 2)));
        assert_eq!(f.pages(), 3);
        // Growing with truncate makes a hole; shrinking frees pages and
        // zeroes the tail of the last one.
        f.truncate(1 << 40).unwrap();
        assert_eq!((f.size(), f.pages()), (1 << 40, 3));
        f.truncate(PAGE as u64).unwrap();
        assert_eq!((f.size(), f.pages()), (PAGE as u64, 1));
        f.truncate(PAGE as u64 - 1).unwrap();
        f.truncate(PAGE as u64).unwrap();
        assert_eq!(f.read_at(PAGE as u64 - 1, &mut buf), Ok(1));
        assert_eq!(buf[0], 0, "truncated bytes do not come back");
        assert_eq!(root.quota().usage().used, PAGE as u64);
        drop(f);
        root.unlink("s").unwrap();
        assert_eq!(root.quota().usage().used, 0, "pages go back at unlink");
    }

    #[test]
    fn files_are_bounded() {
        let root = TmpNode::new_dir(0o755);
        let (f, _) = root.create("big", 0o644, false).unwrap();
        assert_eq!(f.write_at(Some(MAX_FILE), b"x"), Err(Errno::EFBIG));
        assert_eq!(f.write_at(Some(u64::MAX), b"x"), Err(Errno::EFBIG));
        assert_eq!(
            f.write_at(Some(MAX_FILE - 2), b"xyz"),
            Ok((MAX_FILE - 2, 2))
        );
        assert_eq!(f.size(), MAX_FILE);
        assert_eq!(f.write_at(None, b"x"), Err(Errno::EFBIG));
        assert_eq!(f.truncate(MAX_FILE + 1), Err(Errno::EFBIG));
    }

    #[test]
    fn the_quota_gives_enospc_and_short_writes() {
        let root = TmpNode::new_root(0o1777, 2);
        let usage = root.quota().usage();
        assert_eq!((usage.size, usage.used, usage.avail), (8192, 0, 8192));
        let (a, _) = root.create("a", 0o644, false).unwrap();
        let (b, _) = root.create("b", 0o644, false).unwrap();
        assert_eq!(a.write_at(Some(0), &[1; PAGE]), Ok((0, PAGE)));
        // One page left: a two-page write is short.
        assert_eq!(b.write_at(Some(0), &[2; 2 * PAGE]), Ok((0, PAGE)));
        assert_eq!(b.size(), PAGE as u64);
        assert_eq!(b.write_at(None, b"x"), Err(Errno::ENOSPC));
        assert_eq!(b.size(), PAGE as u64, "a failed write changes nothing");
        // Rewriting a page that exists needs no new one.
        assert_eq!(a.write_at(Some(10), b"again"), Ok((10, 5)));
        assert_eq!(root.quota().usage().avail, 0);
        b.truncate(0).unwrap();
        assert_eq!(root.quota().usage().avail, PAGE as u64);
        root.quota().set_limit(1);
        assert_eq!(b.write_at(Some(0), b"x"), Err(Errno::ENOSPC));
    }

    #[test]
    fn names_are_bounded_like_linux_nr_inodes() {
        // A limit of 3 inodes: nodes and extra hard links count.
        let root = TmpNode::new_root(0o1777, 3);
        let (a, _) = root.create("a", 0o644, false).unwrap();
        root.mkdir("d", 0o755).unwrap();
        root.link("a2", &a).unwrap();
        assert_eq!(root.create("b", 0o644, false).err(), Some(Errno::ENOSPC));
        assert_eq!(root.mkdir("e", 0o755), Err(Errno::ENOSPC));
        assert_eq!(root.symlink("s", "a"), Err(Errno::ENOSPC));
        assert_eq!(root.link("a3", &a), Err(Errno::ENOSPC));
        // Removing the extra name gives its inode back; the node's own
        // comes back when the node goes.
        root.unlink("a2").unwrap();
        root.symlink("s", "a").unwrap();
        root.unlink("s").unwrap();
        root.unlink("a").unwrap();
        root.create("b", 0o644, false).unwrap();
        // a, d and b: full while a is still held open.
        assert_eq!(root.create("c", 0o644, false).err(), Some(Errno::ENOSPC));
        drop(a);
        root.create("c", 0o644, false).unwrap();
        root.rmdir("d").unwrap();
        root.mkdir("d", 0o755).unwrap();
        assert_eq!(root.mkdir("e", 0o755), Err(Errno::ENOSPC));
    }

    #[test]
    fn directories_mkdir_unlink_and_walk() {
        let root = TmpNode::new_dir(0o755);
        root.mkdir("d", 0o755).unwrap();
        assert_eq!(root.mkdir("d", 0o755), Err(Errno::EEXIST));
        let d = root.walk(["d"]).unwrap();
        assert!(d.is_dir());
        let (f, _) = d.create("f", 0o600, false).unwrap();
        assert_eq!(root.walk(["d", "f"]).unwrap().ino(), f.ino());
        assert_eq!(root.walk(["d", "f", "g"]).err(), Some(Errno::ENOTDIR));
        assert_eq!(root.walk(["nope"]).err(), Some(Errno::ENOENT));
        assert_eq!(root.unlink("d"), Err(Errno::EISDIR));
        assert_eq!(
            d.entries().unwrap(),
            [(String::from("f"), f.ino(), super::super::stat::DT_REG)]
        );
        f.write_at(Some(0), b"kept").unwrap();
        d.unlink("f").unwrap();
        assert_eq!(d.unlink("f"), Err(Errno::ENOENT));
        let mut buf = [0u8; 4];
        assert_eq!(
            f.read_at(0, &mut buf),
            Ok(4),
            "an unlinked open file lives on"
        );
        assert_eq!(f.read_at(0, &mut buf).map(|_| buf), Ok(*b"kept"));
        assert_eq!(f.create("x", 0, false).err(), Some(Errno::ENOTDIR));
        assert_eq!(d.read_at(0, &mut buf), Err(Errno::EISDIR));
    }

    #[test]
    fn hard_links_count_names_and_outlive_unlink() {
        let root = TmpNode::new_dir(0o755);
        let (f, _) = root.create("a", 0o644, false).unwrap();
        root.link("b", &f).unwrap();
        assert_eq!(f.nlink(), 2);
        assert_eq!(root.link("b", &f), Err(Errno::EEXIST));
        root.mkdir("d", 0o755).unwrap();
        let d = root.lookup("d").unwrap();
        assert_eq!(
            root.link("e", &d),
            Err(Errno::EPERM),
            "no links to directories"
        );
        root.unlink("a").unwrap();
        assert_eq!(f.nlink(), 1);
        assert_eq!(root.lookup("b").unwrap().ino(), f.ino());
        assert_eq!(root.nlink(), 3, "2 + one subdirectory");
    }

    #[test]
    fn symlinks_hold_their_target() {
        let root = TmpNode::new_dir(0o755);
        root.symlink("l", "../x/y").unwrap();
        let l = root.lookup("l").unwrap();
        assert!(l.is_symlink());
        assert_eq!(l.link_target(), Some("../x/y"));
        assert_eq!(l.stat().mode, S_IFLNK | 0o777);
        assert_eq!(l.stat().size, 6);
        assert_eq!(root.symlink("l", "z"), Err(Errno::EEXIST));
        let mut buf = [0u8; 4];
        assert_eq!(l.read_at(0, &mut buf), Err(Errno::EINVAL));
        assert_eq!(l.walk(["x"]).err(), Some(Errno::ENOTDIR));
        root.unlink("l").unwrap();
    }

    #[test]
    fn rmdir_wants_an_empty_directory() {
        let root = TmpNode::new_dir(0o755);
        root.mkdir("d", 0o755).unwrap();
        let d = root.lookup("d").unwrap();
        d.create("f", 0o644, false).unwrap();
        assert_eq!(root.rmdir("d"), Err(Errno::ENOTEMPTY));
        assert_eq!(d.rmdir("f"), Err(Errno::ENOTDIR));
        assert_eq!(root.rmdir("nope"), Err(Errno::ENOENT));
        d.unlink("f").unwrap();
        root.rmdir("d").unwrap();
        assert_eq!(root.lookup("d").err(), Some(Errno::ENOENT));
    }

    #[test]
    fn rename_follows_posix_replacement_rules() {
        let root = TmpNode::new_dir(0o755);
        let (a, _) = root.create("a", 0o644, false).unwrap();
        let (b, _) = root.create("b", 0o644, false).unwrap();
        root.mkdir("d", 0o755).unwrap();
        root.mkdir("e", 0o755).unwrap();
        let d = root.lookup("d").unwrap();
        let e = root.lookup("e").unwrap();
        use RenameMode::*;
        // A file over a file: the old one loses its name.
        rename(&root, "a", &root, "b", Replace).unwrap();
        assert_eq!(root.lookup("b").unwrap().ino(), a.ino());
        assert_eq!(root.lookup("a").err(), Some(Errno::ENOENT));
        assert_eq!(b.nlink(), 0);
        // Across directories, both ways round the lock order.
        rename(&root, "b", &d, "x", Replace).unwrap();
        rename(&d, "x", &root, "back", Replace).unwrap();
        assert_eq!(root.lookup("back").unwrap().ino(), a.ino());
        // Kinds must agree; a full directory is not replaced.
        assert_eq!(
            rename(&root, "back", &root, "d", Replace),
            Err(Errno::EISDIR)
        );
        assert_eq!(
            rename(&root, "d", &root, "back", Replace),
            Err(Errno::ENOTDIR)
        );
        d.create("f", 0o644, false).unwrap();
        assert_eq!(
            rename(&root, "e", &root, "d", Replace),
            Err(Errno::ENOTEMPTY)
        );
        rename(&root, "d", &root, "e", Replace).unwrap();
        assert_eq!(root.lookup("e").unwrap().ino(), d.ino());
        assert!(e.entries().unwrap().is_empty());
        assert_eq!(
            rename(&root, "gone", &root, "x", Replace),
            Err(Errno::ENOENT)
        );
        // Two names of one file: nothing happens.
        root.link("twin", &a).unwrap();
        rename(&root, "back", &root, "twin", Replace).unwrap();
        assert!(root.lookup("back").is_ok() && root.lookup("twin").is_ok());
        // renameat2's flags.
        assert_eq!(
            rename(&root, "back", &root, "e", NoReplace),
            Err(Errno::EEXIST)
        );
        assert_eq!(
            rename(&root, "back", &root, "new", Exchange),
            Err(Errno::ENOENT)
        );
        rename(&root, "back", &root, "e", Exchange).unwrap();
        assert_eq!(root.lookup("e").unwrap().ino(), a.ino());
        assert_eq!(root.lookup("back").unwrap().ino(), d.ino());
    }

    #[test]
    fn times_follow_writes_and_utimensat() {
        let root = TmpNode::new_dir(0o755);
        let (f, _) = root.create("f", 0o644, false).unwrap();
        let born = f.times();
        f.write_at(Some(0), b"x").unwrap();
        let written = f.times();
        assert!(written.mtime > born.mtime && written.ctime > born.ctime);
        assert_eq!(written.atime, born.atime);
        f.set_times(Some(5), None);
        assert_eq!(f.times().atime, 5);
        assert_eq!(f.times().mtime, written.mtime);
        f.chmod(0o4600);
        assert_eq!(f.stat().mode, S_IFREG | 0o4600);
        assert!(f.times().ctime > written.ctime);
        assert_eq!(
            f.stat().to_bytes()[72..80],
            0u64.to_le_bytes(),
            "atime 5 ns"
        );
    }
}
