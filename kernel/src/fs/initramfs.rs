//! The initramfs: a read-only directory tree over a newc cpio archive.
//!
//! [`Initramfs::new`] reads the archive once ([`super::cpio`]) and builds an
//! arena of inodes: directories hold a sorted map from name to inode, files
//! hold their contents as a slice *of the archive* (nothing is copied; at
//! boot the archive is the `-initrd` module, reserved forever), symlinks
//! hold their target. Parent directories a member's path implies but the
//! archive does not list are created (mode 0755, owner 0). Member names may
//! be relative (`bin/init`), start with `./` or `/`, and repeat slashes; a
//! `..` component is refused. A later member of the same name replaces an
//! earlier one (a directory only updates the metadata of an existing
//! directory). Regular files with `nlink > 1` and the same `(dev, ino)` are
//! hard links: one inode, whose data is that of the member that carries it
//! (GNU cpio stores it with the last link). Device nodes, FIFOs and sockets
//! are skipped (with the parent directories only they imply): nothing can
//! use them yet.
//!
//! [`Initramfs::lookup`] resolves a path the way `stat(2)` does: from the
//! root (a relative path is taken from the root too; [`Initramfs::lookup_at`]
//! takes a starting directory), `.` and `..` (`..` of the root is the root),
//! repeated and trailing slashes (a trailing slash requires a directory),
//! and symbolic links in every component, at most [`MAX_SYMLINKS`] per
//! lookup. Errors are [`FsError`]s: `NotFound`, `NotDir`, `Loop`,
//! `NameTooLong`.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::FsError;
use super::cpio::{Archive, Entry, S_IFDIR, S_IFLNK, S_IFREG};

/// Symbolic links one lookup may follow (Linux's `MAXSYMLINKS`).
pub const MAX_SYMLINKS: u32 = 40;
/// Longest path a lookup accepts, in bytes (Linux's `PATH_MAX` less the NUL).
pub const PATH_MAX: usize = 4095;
/// Longest path component (`NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// Names an inode of one [`Initramfs`]: its index in the arena. The root is
/// [`NodeId::ROOT`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(u32);

impl NodeId {
    pub const ROOT: Self = Self(0);

    /// A stable number for `st_ino` (the root is 1, as inode 0 means
    /// "none" to user space).
    pub fn ino(self) -> u64 {
        u64::from(self.0) + 1
    }

    fn index(self) -> usize {
        self.0 as usize
    }
}

/// What an inode is, with its contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind<'a> {
    /// A regular file: its bytes, inside the archive.
    File(&'a [u8]),
    Dir,
    /// A symbolic link: its target, as stored.
    Symlink(&'a [u8]),
}

/// An inode as seen from outside: a copy of its metadata and a borrow of
/// its contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Node<'a> {
    pub id: NodeId,
    pub kind: NodeKind<'a>,
    /// Permission bits (no file-type bits: see `kind`).
    pub perm: u32,
    pub uid: u32,
    pub gid: u32,
}

impl<'a> Node<'a> {
    pub fn is_dir(&self) -> bool {
        self.kind == NodeKind::Dir
    }

    /// A regular file's contents, `None` for anything else.
    pub fn data(&self) -> Option<&'a [u8]> {
        match self.kind {
            NodeKind::File(data) => Some(data),
            _ => None,
        }
    }

    /// `st_mode`: file-type bits and permissions.
    pub fn mode(&self) -> u32 {
        let file_type = match self.kind {
            NodeKind::File(_) => S_IFREG,
            NodeKind::Dir => S_IFDIR,
            NodeKind::Symlink(_) => S_IFLNK,
        };
        file_type | self.perm
    }

    /// `st_size`: the length of a file or link target, 0 for a directory.
    pub fn size(&self) -> usize {
        match self.kind {
            NodeKind::File(data) | NodeKind::Symlink(data) => data.len(),
            NodeKind::Dir => 0,
        }
    }
}

/// One name in a directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirEntry<'a> {
    pub name: &'a [u8],
    pub id: NodeId,
}

enum Contents<'a> {
    File(&'a [u8]),
    Dir(BTreeMap<&'a [u8], NodeId>),
    Symlink(&'a [u8]),
}

struct Inode<'a> {
    contents: Contents<'a>,
    perm: u32,
    uid: u32,
    gid: u32,
    /// The directory this one is in (itself for the root); for other
    /// inodes, the directory of the name that created it.
    parent: NodeId,
}

/// A read-only tree over a cpio archive; see the module docs.
pub struct Initramfs<'a> {
    inodes: Vec<Inode<'a>>,
}

impl<'a> Initramfs<'a> {
    /// Reads `archive` and builds the tree.
    pub fn new(archive: &'a [u8]) -> Result<Self, FsError> {
        let mut fs = Self { inodes: Vec::new() };
        fs.inodes.push(Inode {
            contents: Contents::Dir(BTreeMap::new()),
            perm: 0o755,
            uid: 0,
            gid: 0,
            parent: NodeId::ROOT,
        });
        // (devmajor, devminor, ino) of the regular files with nlink > 1.
        let mut links: BTreeMap<(u32, u32, u32), NodeId> = BTreeMap::new();
        for entry in Archive::new(archive).entries() {
            fs.add(&entry?, &mut links)?;
        }
        Ok(fs)
    }

    /// Adds one archive member.
    fn add(
        &mut self,
        entry: &Entry<'a>,
        links: &mut BTreeMap<(u32, u32, u32), NodeId>,
    ) -> Result<(), FsError> {
        let contents = match entry.file_type() {
            S_IFREG => Contents::File(entry.data),
            S_IFDIR => Contents::Dir(BTreeMap::new()),
            S_IFLNK => Contents::Symlink(entry.data),
            _ => return Ok(()),
        };
        let mut components = entry
            .name
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty() && *c != b".");
        let Some(mut name) = components.next() else {
            // The root itself ("." or "/"): only a directory can be it.
            return match contents {
                Contents::Dir(_) => {
                    self.set_metadata(NodeId::ROOT, entry);
                    Ok(())
                }
                _ => Err(FsError::BadName),
            };
        };
        let mut dir = NodeId::ROOT;
        for next in components {
            dir = self.implicit_dir(dir, name)?;
            name = next;
        }
        if name == b".." || name.len() > NAME_MAX {
            return Err(FsError::BadName);
        }
        let existing = self.children(dir)?.get(name).copied();
        if let Contents::Dir(_) = contents {
            let id = match existing {
                Some(id) if matches!(self.inodes[id.index()].contents, Contents::Dir(_)) => id,
                Some(_) => return Err(FsError::NotDir),
                None => self.insert(dir, name, contents),
            };
            self.set_metadata(id, entry);
            return Ok(());
        }
        if let Some(id) = existing
            && matches!(self.inodes[id.index()].contents, Contents::Dir(_))
        {
            return Err(FsError::IsDir);
        }
        let key = (entry.dev_major, entry.dev_minor, entry.ino);
        let linked = match contents {
            Contents::File(_) if entry.nlink > 1 => links.get(&key).copied(),
            _ => None,
        };
        let id = match linked {
            Some(id) => {
                if !entry.data.is_empty() {
                    self.inodes[id.index()].contents = contents;
                }
                self.children_mut(dir)?.insert(name, id);
                id
            }
            None => {
                let id = self.insert(dir, name, contents);
                if entry.file_type() == S_IFREG && entry.nlink > 1 {
                    links.insert(key, id);
                }
                id
            }
        };
        self.set_metadata(id, entry);
        Ok(())
    }

    /// The directory `name` in `dir`, created (0755, root-owned) if missing.
    fn implicit_dir(&mut self, dir: NodeId, name: &'a [u8]) -> Result<NodeId, FsError> {
        if name == b".." || name.len() > NAME_MAX {
            return Err(FsError::BadName);
        }
        match self.children(dir)?.get(name).copied() {
            Some(id) if matches!(self.inodes[id.index()].contents, Contents::Dir(_)) => Ok(id),
            Some(_) => Err(FsError::NotDir),
            None => Ok(self.insert(dir, name, Contents::Dir(BTreeMap::new()))),
        }
    }

    /// Creates an inode and names it `name` in `dir` (replacing a previous
    /// name, whose inode stays in the arena unreachable).
    fn insert(&mut self, dir: NodeId, name: &'a [u8], contents: Contents<'a>) -> NodeId {
        // The arena cannot outgrow u32: an archive member is at least 112
        // bytes, so an archive of 2^32 members would not fit in memory.
        let id = NodeId(self.inodes.len() as u32);
        self.inodes.push(Inode {
            contents,
            perm: 0o755,
            uid: 0,
            gid: 0,
            parent: dir,
        });
        if let Contents::Dir(children) = &mut self.inodes[dir.index()].contents {
            children.insert(name, id);
        }
        id
    }

    fn set_metadata(&mut self, id: NodeId, entry: &Entry<'_>) {
        let inode = &mut self.inodes[id.index()];
        inode.perm = entry.permissions();
        inode.uid = entry.uid;
        inode.gid = entry.gid;
    }

    fn children(&self, dir: NodeId) -> Result<&BTreeMap<&'a [u8], NodeId>, FsError> {
        match &self
            .inodes
            .get(dir.index())
            .ok_or(FsError::NotFound)?
            .contents
        {
            Contents::Dir(children) => Ok(children),
            _ => Err(FsError::NotDir),
        }
    }

    fn children_mut(&mut self, dir: NodeId) -> Result<&mut BTreeMap<&'a [u8], NodeId>, FsError> {
        match &mut self
            .inodes
            .get_mut(dir.index())
            .ok_or(FsError::NotFound)?
            .contents
        {
            Contents::Dir(children) => Ok(children),
            _ => Err(FsError::NotDir),
        }
    }

    /// The root directory.
    pub fn root(&self) -> Node<'a> {
        self.node(NodeId::ROOT).unwrap_or(Node {
            id: NodeId::ROOT,
            kind: NodeKind::Dir,
            perm: 0o755,
            uid: 0,
            gid: 0,
        })
    }

    /// The inode `id` names (`None` if it is not one of this tree's).
    /// How many inodes the tree has and the bytes its files and links
    /// hold (`statfs`).
    pub fn totals(&self) -> (usize, usize) {
        let bytes = self
            .inodes
            .iter()
            .map(|inode| match inode.contents {
                Contents::File(data) | Contents::Symlink(data) => data.len(),
                Contents::Dir(_) => 0,
            })
            .sum();
        (self.inodes.len(), bytes)
    }

    pub fn node(&self, id: NodeId) -> Option<Node<'a>> {
        let inode = self.inodes.get(id.index())?;
        let kind = match inode.contents {
            Contents::File(data) => NodeKind::File(data),
            Contents::Dir(_) => NodeKind::Dir,
            Contents::Symlink(target) => NodeKind::Symlink(target),
        };
        Some(Node {
            id,
            kind,
            perm: inode.perm,
            uid: inode.uid,
            gid: inode.gid,
        })
    }

    /// Resolves `path` from the root, following symbolic links (`stat`).
    pub fn lookup(&self, path: impl AsRef<[u8]>) -> Result<Node<'a>, FsError> {
        self.lookup_at(NodeId::ROOT, path.as_ref(), true)
    }

    /// Resolves `path` from the root without following a symbolic link in
    /// the last component (`lstat`).
    pub fn lookup_nofollow(&self, path: impl AsRef<[u8]>) -> Result<Node<'a>, FsError> {
        self.lookup_at(NodeId::ROOT, path.as_ref(), false)
    }

    /// Resolves `path` from directory `start` (an absolute path ignores
    /// it). `follow` says whether a symbolic link in the last component is
    /// followed; a trailing slash always follows it.
    pub fn lookup_at(&self, start: NodeId, path: &[u8], follow: bool) -> Result<Node<'a>, FsError> {
        if path.len() > PATH_MAX {
            return Err(FsError::NameTooLong);
        }
        let mut budget = MAX_SYMLINKS;
        let id = self.walk(start, path, follow, &mut budget)?;
        self.node(id).ok_or(FsError::NotFound)
    }

    /// The names in directory `dir`, sorted bytewise, without `.` and `..`.
    pub fn readdir(&self, dir: NodeId) -> Result<impl Iterator<Item = DirEntry<'a>> + '_, FsError> {
        Ok(self
            .children(dir)?
            .iter()
            .map(|(&name, &id)| DirEntry { name, id }))
    }

    /// The directory that contains `dir` (the root for the root).
    pub fn parent(&self, dir: NodeId) -> Result<NodeId, FsError> {
        self.children(dir)?;
        Ok(self.inodes[dir.index()].parent)
    }

    fn walk(
        &self,
        start: NodeId,
        path: &[u8],
        follow_last: bool,
        budget: &mut u32,
    ) -> Result<NodeId, FsError> {
        if path.is_empty() {
            return Err(FsError::NotFound);
        }
        let must_be_dir = path.ends_with(b"/");
        let mut current = if path.starts_with(b"/") {
            NodeId::ROOT
        } else {
            start
        };
        let mut components = path
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty())
            .peekable();
        while let Some(component) = components.next() {
            let children = self.children(current)?;
            if component == b"." {
                continue;
            }
            if component == b".." {
                current = self.inodes[current.index()].parent;
                continue;
            }
            if component.len() > NAME_MAX {
                return Err(FsError::NameTooLong);
            }
            let child = *children.get(component).ok_or(FsError::NotFound)?;
            let last = components.peek().is_none();
            match self.inodes[child.index()].contents {
                Contents::Symlink(target) if !last || follow_last || must_be_dir => {
                    *budget = budget.checked_sub(1).ok_or(FsError::Loop)?;
                    current = self.walk(current, target, true, budget)?;
                }
                _ => current = child,
            }
        }
        if must_be_dir {
            self.children(current)?;
        }
        Ok(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::cpio::tests::Rng;
    use crate::fs::cpio::writer::Writer;
    use crate::fs::cpio::{MAGIC_NEWC, TRAILER};

    fn sample() -> Vec<u8> {
        Writer::default()
            .dir(".")
            .file("./init", b"#!init")
            .dir("bin")
            .file("bin/hello", b"hello bytes")
            .file("usr//lib/deep/file.txt", b"deep") // implicit usr, lib, deep
            .symlink("bin/sh", "hello")
            .symlink("lib", "/usr/lib")
            .symlink("loop1", "loop2")
            .symlink("loop2", "loop1")
            .symlink("dangling", "nowhere")
            .symlink("up", "../..")
            .file("/etc/motd", b"hi")
            .finish()
    }

    fn names(fs: &Initramfs<'_>, dir: &str) -> Vec<alloc::string::String> {
        let id = fs.lookup(dir).unwrap().id;
        fs.readdir(id)
            .unwrap()
            .map(|e| alloc::string::String::from_utf8(e.name.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn builds_the_tree_with_implicit_directories() {
        let bytes = sample();
        let fs = Initramfs::new(&bytes).unwrap();
        assert_eq!(
            names(&fs, "/"),
            [
                "bin", "dangling", "etc", "init", "lib", "loop1", "loop2", "up", "usr"
            ]
        );
        assert_eq!(names(&fs, "/bin"), ["hello", "sh"]);
        assert_eq!(names(&fs, "/usr/lib"), ["deep"]);
        let usr = fs.lookup("/usr").unwrap();
        assert!(usr.is_dir());
        assert_eq!(usr.mode(), S_IFDIR | 0o755);
        assert_eq!(fs.lookup("/etc/motd").unwrap().data(), Some(&b"hi"[..]));
        assert_eq!(fs.lookup("init").unwrap().data(), Some(&b"#!init"[..]));
    }

    #[test]
    fn file_contents_are_slices_of_the_archive() {
        let bytes = sample();
        let fs = Initramfs::new(&bytes).unwrap();
        let data = fs.lookup("/bin/hello").unwrap().data().unwrap();
        assert_eq!(data, b"hello bytes");
        assert!(bytes.as_ptr_range().contains(&data.as_ptr()));
    }

    #[test]
    fn dots_and_repeated_slashes() {
        let bytes = sample();
        let fs = Initramfs::new(&bytes).unwrap();
        let hello = fs.lookup("/bin/hello").unwrap();
        for path in [
            "//bin///hello",
            "/./bin/./hello",
            "/bin/../bin/hello",
            "/../../bin/hello",
            "bin/hello",
            "/usr/lib/deep/../../../bin/hello",
        ] {
            assert_eq!(fs.lookup(path), Ok(hello), "{path}");
        }
        assert_eq!(fs.lookup("/").unwrap().id, NodeId::ROOT);
        assert_eq!(fs.lookup("/..").unwrap().id, NodeId::ROOT);
        assert_eq!(
            fs.lookup("/bin/.").unwrap().id,
            fs.lookup("/bin").unwrap().id
        );
        assert_eq!(
            fs.lookup("/bin/").unwrap().id,
            fs.lookup("/bin").unwrap().id
        );
    }

    #[test]
    fn missing_names_and_non_directories() {
        let bytes = sample();
        let fs = Initramfs::new(&bytes).unwrap();
        assert_eq!(fs.lookup("/nope"), Err(FsError::NotFound));
        assert_eq!(fs.lookup("/bin/nope"), Err(FsError::NotFound));
        assert_eq!(fs.lookup("/nope/hello"), Err(FsError::NotFound));
        assert_eq!(fs.lookup(""), Err(FsError::NotFound));
        assert_eq!(fs.lookup("/init/x"), Err(FsError::NotDir));
        assert_eq!(fs.lookup("/init/"), Err(FsError::NotDir));
        assert_eq!(fs.lookup("/init/."), Err(FsError::NotDir));
        assert_eq!(fs.lookup("/init/.."), Err(FsError::NotDir));
        let init = fs.lookup("/init").unwrap().id;
        assert!(matches!(fs.readdir(init), Err(FsError::NotDir)));
        let long = "a".repeat(NAME_MAX + 1);
        assert_eq!(fs.lookup(&long), Err(FsError::NameTooLong));
        let huge = "/a".repeat(PATH_MAX);
        assert_eq!(fs.lookup(&huge), Err(FsError::NameTooLong));
    }

    #[test]
    fn symlinks_are_followed_with_a_limit() {
        let bytes = sample();
        let fs = Initramfs::new(&bytes).unwrap();
        let hello = fs.lookup("/bin/hello").unwrap();
        assert_eq!(fs.lookup("/bin/sh"), Ok(hello));
        let link = fs.lookup_nofollow("/bin/sh").unwrap();
        assert_eq!(link.kind, NodeKind::Symlink(b"hello"));
        assert_eq!(link.mode(), S_IFLNK | 0o777);
        assert_eq!(
            fs.lookup("/lib/deep/file.txt").unwrap().data(),
            Some(&b"deep"[..])
        );
        assert!(fs.lookup_nofollow("/lib/").unwrap().is_dir());
        assert_eq!(fs.lookup("/loop1"), Err(FsError::Loop));
        assert_eq!(fs.lookup("/loop1/x"), Err(FsError::Loop));
        assert!(fs.lookup_nofollow("/loop1").is_ok());
        assert_eq!(fs.lookup("/dangling"), Err(FsError::NotFound));
        // `..` after a link is taken in the link's target (physical walk).
        assert_eq!(
            fs.lookup("/lib/..").unwrap().id,
            fs.lookup("/usr").unwrap().id
        );
        assert_eq!(fs.lookup("/up").unwrap().id, NodeId::ROOT);
    }

    #[test]
    fn lookup_at_starts_in_the_given_directory() {
        let bytes = sample();
        let fs = Initramfs::new(&bytes).unwrap();
        let bin = fs.lookup("/bin").unwrap().id;
        let hello = fs.lookup("/bin/hello").unwrap();
        assert_eq!(fs.lookup_at(bin, b"hello", true), Ok(hello));
        assert_eq!(fs.lookup_at(bin, b"../bin/sh", true), Ok(hello));
        assert_eq!(fs.lookup_at(bin, b"/init", true), fs.lookup("/init"));
        assert_eq!(fs.parent(bin), Ok(NodeId::ROOT));
        assert_eq!(fs.parent(NodeId::ROOT), Ok(NodeId::ROOT));
    }

    #[test]
    fn later_members_replace_earlier_ones() {
        let bytes = Writer::default()
            .file("a", b"old")
            .file("a", b"new")
            .dir("d")
            .file("d/x", b"x")
            .dir("d") // metadata only: d keeps x
            .finish();
        let fs = Initramfs::new(&bytes).unwrap();
        assert_eq!(fs.lookup("/a").unwrap().data(), Some(&b"new"[..]));
        assert_eq!(fs.lookup("/d/x").unwrap().data(), Some(&b"x"[..]));
    }

    #[test]
    fn conflicting_and_escaping_members_are_refused() {
        let file_then_child = Writer::default().file("a", b"").file("a/b", b"").finish();
        assert_eq!(
            Initramfs::new(&file_then_child).err(),
            Some(FsError::NotDir)
        );
        let dir_then_file = Writer::default().dir("a").file("a", b"").finish();
        assert_eq!(Initramfs::new(&dir_then_file).err(), Some(FsError::IsDir));
        let file_then_dir = Writer::default().file("a", b"").dir("a").finish();
        assert_eq!(Initramfs::new(&file_then_dir).err(), Some(FsError::NotDir));
        for name in ["../etc/x", "a/../../x", "a/.."] {
            let escaping = Writer::default().file(name, b"").finish();
            assert_eq!(
                Initramfs::new(&escaping).err(),
                Some(FsError::BadName),
                "{name}"
            );
        }
        let root_file = Writer::default().file(".", b"").finish();
        assert_eq!(Initramfs::new(&root_file).err(), Some(FsError::BadName));
        let whole = sample();
        assert!(matches!(
            Initramfs::new(&whole[..200]).err(),
            Some(FsError::Archive(_))
        ));
    }

    #[test]
    fn hard_links_share_one_inode_and_the_data() {
        let mut w = Writer::default();
        // GNU cpio: every link has the same ino; only the last carries data.
        let fields = |w: &mut Writer, name: &[u8], data: &[u8]| {
            let at = w.bytes.len();
            w.member(MAGIC_NEWC, name, S_IFREG | 0o644, 2, data);
            // The writer numbers members; give both links ino 1.
            w.bytes[at + 6..at + 14].copy_from_slice(b"00000001");
        };
        fields(&mut w, b"x", b"");
        fields(&mut w, b"y", b"shared");
        w.member(MAGIC_NEWC, TRAILER, 0, 1, b"");
        let bytes = core::mem::take(&mut w.bytes);
        let fs = Initramfs::new(&bytes).unwrap();
        let (x, y) = (fs.lookup("/x").unwrap(), fs.lookup("/y").unwrap());
        assert_eq!(x.id, y.id);
        assert_eq!(x.data(), Some(&b"shared"[..]));
        assert_eq!(x.perm, 0o644);
    }

    #[test]
    fn special_files_are_skipped() {
        let mut w = Writer::default();
        w.member(MAGIC_NEWC, b"dev/console", 0o020_600, 1, b"");
        let bytes = w.finish();
        let fs = Initramfs::new(&bytes).unwrap();
        assert_eq!(fs.lookup("/dev/console"), Err(FsError::NotFound));
    }

    #[test]
    fn corrupted_archives_never_panic() {
        let good = sample();
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for _ in 0..5_000 {
            let mut bytes = good.clone();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(bytes.len());
                bytes[at] = if rng.below(2) == 0 {
                    b"0123456789abcdef/."[rng.below(18)]
                } else {
                    rng.next() as u8
                };
            }
            let cut = bytes.len() - rng.below(64).min(bytes.len());
            if let Ok(fs) = Initramfs::new(&bytes[..cut]) {
                for path in ["/bin/sh", "/lib/deep/file.txt", "/loop1", "/up/.."] {
                    let _ = fs.lookup(path);
                }
            }
        }
    }
}
