//! A writer of cpio "newc" archives, the format of Tine's initramfs.
//!
//! [`Archive`] collects files, directories and symlinks by path and
//! [`Archive::to_bytes`] writes them deterministically: sorted by path
//! (so every directory comes before what it contains), every parent
//! directory listed explicitly, inode numbers counted in that order, owner
//! 0:0, mtime 0, no checksum (magic `070701`), and the `TRAILER!!!` member
//! last. The same inputs always give the same bytes.
//!
//! The kernel's reader is `kernel::fs::cpio`; the tests here read every
//! archive back through it. The kernel keeps its own few-line writer for
//! its unit tests rather than share this one: the kernel must not depend on
//! the host tool, and a crate of its own for forty lines would add a layer
//! to the tree.

use std::collections::BTreeMap;

use anyhow::{Result, bail};

/// `S_IFREG`, `S_IFDIR`, `S_IFLNK`: the file-type bits of a newc mode.
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFLNK: u32 = 0o120_000;

/// One member to write.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Member {
    Dir,
    File { data: Vec<u8>, perm: u32 },
    Symlink { target: String },
}

/// An archive being assembled; see the module docs.
#[derive(Clone, Debug, Default)]
pub struct Archive {
    /// By path without the leading `/` (`bin/init`).
    members: BTreeMap<String, Member>,
}

impl Archive {
    /// Adds a regular file with permission bits `perm` (e.g. 0o755).
    pub fn add_file(&mut self, path: &str, data: Vec<u8>, perm: u32) -> Result<()> {
        self.add(path, Member::File { data, perm })
    }

    /// Adds a symbolic link to `target`.
    pub fn add_symlink(&mut self, path: &str, target: &str) -> Result<()> {
        self.add(
            path,
            Member::Symlink {
                target: target.to_owned(),
            },
        )
    }

    /// The paths in the archive, sorted, with a leading `/`.
    pub fn paths(&self) -> impl Iterator<Item = String> + '_ {
        self.members.keys().map(|path| format!("/{path}"))
    }

    fn add(&mut self, path: &str, member: Member) -> Result<()> {
        let components: Vec<&str> = path
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        if components.is_empty() || components.contains(&"..") {
            bail!("{path:?}: not a path an archive member can have");
        }
        for depth in 1..components.len() {
            let parent = components[..depth].join("/");
            match self.members.get(&parent) {
                None => {
                    self.members.insert(parent, Member::Dir);
                }
                Some(Member::Dir) => {}
                Some(_) => bail!("{path:?}: /{parent} is not a directory"),
            }
        }
        let path = components.join("/");
        match self.members.get(&path) {
            None => {}
            Some(Member::Dir) if member == Member::Dir => return Ok(()),
            Some(_) => bail!("/{path} is in the archive twice"),
        }
        self.members.insert(path, member);
        Ok(())
    }

    /// The archive's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (ino, (path, member)) in (1..).zip(&self.members) {
            let (mode, nlink, data): (u32, u32, &[u8]) = match member {
                Member::Dir => (S_IFDIR | 0o755, 2, b""),
                Member::File { data, perm } => (S_IFREG | (perm & 0o7777), 1, data),
                Member::Symlink { target } => (S_IFLNK | 0o777, 1, target.as_bytes()),
            };
            write_member(&mut out, path.as_bytes(), ino, mode, nlink, data);
        }
        write_member(&mut out, b"TRAILER!!!", 0, 0, 1, b"");
        out
    }
}

/// Appends one newc member: header, name, padding, data, padding.
fn write_member(out: &mut Vec<u8>, name: &[u8], ino: u32, mode: u32, nlink: u32, data: &[u8]) {
    let size = u32::try_from(data.len()).expect("a newc member holds less than 4 GiB");
    let namesize = u32::try_from(name.len() + 1).expect("a short name");
    // ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor
    // rdevminor namesize check
    let fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, namesize, 0];
    out.extend_from_slice(b"070701");
    for field in fields {
        out.extend_from_slice(format!("{field:08X}").as_bytes());
    }
    out.extend_from_slice(name);
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(4), 0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel::fs::cpio::{self as newc, Archive as Reader};
    use kernel::fs::{FsError, Initramfs, NodeKind};

    fn sample() -> Archive {
        let mut archive = Archive::default();
        archive
            .add_file("/bin/init", b"\x7fELF init".to_vec(), 0o755)
            .unwrap();
        archive
            .add_file("bin/hello", b"hello".to_vec(), 0o755)
            .unwrap();
        archive
            .add_file("/etc/motd", b"welcome\n".to_vec(), 0o644)
            .unwrap();
        archive.add_symlink("/bin/sh", "hello").unwrap();
        archive.add_file("/tmp/x", vec![], 0o600).unwrap();
        archive
    }

    #[test]
    fn round_trips_through_the_kernel_reader() {
        let bytes = sample().to_bytes();
        let entries: Vec<newc::Entry<'_>> = Reader::new(&bytes)
            .entries()
            .collect::<Result<_, _>>()
            .unwrap();
        let names: Vec<&[u8]> = entries.iter().map(|e| e.name).collect();
        assert_eq!(
            names,
            [
                &b"bin"[..],
                b"bin/hello",
                b"bin/init",
                b"bin/sh",
                b"etc",
                b"etc/motd",
                b"tmp",
                b"tmp/x"
            ]
        );
        assert!(entries.iter().all(|e| e.mtime == 0 && e.uid == 0));
        let inos: Vec<u32> = entries.iter().map(|e| e.ino).collect();
        assert_eq!(inos, [1, 2, 3, 4, 5, 6, 7, 8]);

        let fs = Initramfs::new(&bytes).unwrap();
        let init = fs.lookup("/bin/init").unwrap();
        assert_eq!(init.data(), Some(&b"\x7fELF init"[..]));
        assert_eq!(init.mode(), 0o100_755);
        assert_eq!(fs.lookup("/etc/motd").unwrap().perm, 0o644);
        assert_eq!(
            fs.lookup_nofollow("/bin/sh").unwrap().kind,
            NodeKind::Symlink(b"hello")
        );
        assert_eq!(fs.lookup("/bin/sh").unwrap().data(), Some(&b"hello"[..]));
        assert!(fs.lookup("/tmp").unwrap().is_dir());
        assert_eq!(fs.lookup("/nope"), Err(FsError::NotFound));
    }

    #[test]
    fn output_is_deterministic_and_aligned() {
        let a = sample().to_bytes();
        // The same members added in another order give the same bytes.
        let mut b = Archive::default();
        b.add_file("tmp/x", vec![], 0o600).unwrap();
        b.add_symlink("bin/sh", "hello").unwrap();
        b.add_file("etc/motd", b"welcome\n".to_vec(), 0o644)
            .unwrap();
        b.add_file("bin/hello", b"hello".to_vec(), 0o755).unwrap();
        b.add_file("bin/init", b"\x7fELF init".to_vec(), 0o755)
            .unwrap();
        assert_eq!(a, b.to_bytes());
        assert_eq!(a.len() % 4, 0);
        assert!(a.starts_with(b"070701"));
    }

    #[test]
    fn every_padding_is_read_back() {
        let mut archive = Archive::default();
        for len in 0..9 {
            let name = format!("d/{}", "n".repeat(len + 1));
            archive
                .add_file(&name, vec![len as u8; len], 0o600)
                .unwrap();
        }
        let bytes = archive.to_bytes();
        let fs = Initramfs::new(&bytes).unwrap();
        for len in 0..9 {
            let name = format!("/d/{}", "n".repeat(len + 1));
            let data = fs.lookup(&name).unwrap().data().unwrap();
            assert_eq!(data, vec![len as u8; len], "{name}");
        }
    }

    #[test]
    fn bad_and_duplicate_paths_are_refused() {
        let mut archive = sample();
        assert!(archive.add_file("/bin/init", vec![], 0o755).is_err());
        assert!(archive.add_file("/", vec![], 0o755).is_err());
        assert!(archive.add_file("/../x", vec![], 0o755).is_err());
        assert!(archive.add_file("/etc/motd/x", vec![], 0o755).is_err());
        assert!(archive.add_symlink("/bin", "x").is_err());
        assert!(archive.add_file("/bin/init/x", vec![], 0o755).is_err());
        let empty = Archive::default().to_bytes();
        assert_eq!(Reader::new(&empty).validate(), Ok(0));
    }
}
