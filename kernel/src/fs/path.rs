//! Path names: joining a path to a starting directory and normalising it
//! lexically (pure, host-tested).
//!
//! Tine resolves a path by first making it absolute and normal: `base`
//! (the cwd or a directory descriptor's path) joined with a relative path,
//! repeated slashes collapsed, `.` dropped, `..` removing the previous
//! component (`..` of `/` is `/`). The result decides which file system
//! holds the file (`/dev`, `/tmp`, else the initramfs; see
//! `docs/files.md`). Lexical `..` differs from the physical walk of
//! Linux only when a symbolic link to a directory precedes the `..`; the
//! initramfs has none today.

use alloc::string::String;
use alloc::vec::Vec;

use super::initramfs::{NAME_MAX, PATH_MAX};
use abi::Errno;

/// A normalised absolute path and whether the original ended in a slash
/// (then the file must be a directory).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Normal {
    /// `/` or `/a/b` (no trailing slash, no `.`/`..`).
    pub path: String,
    /// The original path ended in `/` (or `/.`, `/..`).
    pub must_be_dir: bool,
}

impl Normal {
    /// The components, in order (none for `/`).
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.path.split('/').filter(|c| !c.is_empty())
    }

    /// The parent directory and the last name; `None` for `/`.
    pub fn split_last(&self) -> Option<(&str, &str)> {
        let at = self.path.rfind('/')?;
        let name = &self.path[at + 1..];
        if name.is_empty() {
            return None;
        }
        let parent = if at == 0 { "/" } else { &self.path[..at] };
        Some((parent, name))
    }
}

/// Joins `path` to the absolute directory `base` and normalises it.
/// `ENOENT` for an empty path, `ENAMETOOLONG` for a path longer than
/// `PATH_MAX` or a component longer than `NAME_MAX`, `ENOENT` for bytes
/// that are not UTF-8: Tine's names are UTF-8, so such a path names
/// nothing, what Linux answers for a name that is not there (it was
/// `EINVAL`: the kselftest `fd-001-lookup` looks up `/proc/self/fd/\xff0`
/// and wants `ENOENT`). Making such a name is refused the same way.
pub fn normalize(base: &str, path: &[u8]) -> Result<Normal, Errno> {
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    if path.len() > PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    let path = core::str::from_utf8(path).map_err(|_| Errno::ENOENT)?;
    if is_normal(path) {
        // Already absolute and normal (`/bin/nop`, what exec and most
        // opens get): one copy, no component list.
        return Ok(Normal {
            path: String::from(path),
            must_be_dir: false,
        });
    }
    let mut parts: Vec<&str> = Vec::new();
    let start = if path.starts_with('/') { "" } else { base };
    for component in start.split('/').chain(path.split('/')) {
        match component {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            name if name.len() > NAME_MAX => return Err(Errno::ENAMETOOLONG),
            name => parts.push(name),
        }
    }
    let last = path.rsplit('/').next().unwrap_or("");
    let must_be_dir = path.ends_with('/') || last == "." || last == "..";
    let mut out = String::with_capacity(path.len() + base.len() + 1);
    for part in &parts {
        out.push('/');
        out.push_str(part);
    }
    if out.is_empty() {
        out.push('/');
    }
    if out.len() > PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(Normal {
        path: out,
        must_be_dir,
    })
}

/// Whether `path` is already what [`normalize`] makes of it: `/` and
/// names no longer than `NAME_MAX` that are not `.` or `..`, no empty
/// one (no repeated or trailing slash), at most `PATH_MAX` bytes.
fn is_normal(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    path.len() <= PATH_MAX
        && !rest.is_empty()
        && rest
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && c.len() <= NAME_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_paths_are_recognised() {
        for p in ["/bin/nop", "/a", "/a/b/c", "/.x/..y"] {
            assert!(is_normal(p), "{p}");
            assert_eq!(norm("/tmp", p), p);
        }
        for p in [
            "/", "bin", "/a/", "/a//b", "/a/./b", "/a/..", "/.", "//a", "",
        ] {
            assert!(!is_normal(p), "{p}");
        }
        let long = alloc::format!("/{}", "x".repeat(NAME_MAX + 1));
        assert!(!is_normal(&long));
        assert_eq!(normalize("/", long.as_bytes()), Err(Errno::ENAMETOOLONG));
    }

    fn norm(base: &str, path: &str) -> String {
        normalize(base, path.as_bytes()).unwrap().path
    }

    #[test]
    fn absolute_and_relative_paths() {
        assert_eq!(norm("/", "/bin/init"), "/bin/init");
        assert_eq!(norm("/bin", "init"), "/bin/init");
        assert_eq!(norm("/tmp/a", "../b/./c"), "/tmp/b/c");
        assert_eq!(norm("/tmp", "/"), "/");
        assert_eq!(norm("/", ".."), "/");
        assert_eq!(norm("/a/b", "../../../.."), "/");
        assert_eq!(norm("/", "//bin///init"), "/bin/init");
        assert_eq!(norm("/x", "."), "/x");
    }

    #[test]
    fn trailing_slash_and_dots_need_a_directory() {
        assert!(normalize("/", b"/bin/").unwrap().must_be_dir);
        assert!(normalize("/", b"bin/.").unwrap().must_be_dir);
        assert!(normalize("/", b"bin/..").unwrap().must_be_dir);
        assert!(!normalize("/", b"bin/init").unwrap().must_be_dir);
    }

    #[test]
    fn errors() {
        assert_eq!(normalize("/", b""), Err(Errno::ENOENT));
        let long = "a".repeat(NAME_MAX + 1);
        assert_eq!(normalize("/", long.as_bytes()), Err(Errno::ENAMETOOLONG));
        let huge = "/ab".repeat(PATH_MAX / 3 + 1);
        assert_eq!(normalize("/", huge.as_bytes()), Err(Errno::ENAMETOOLONG));
        assert_eq!(normalize("/", &[0xff, 0xfe]), Err(Errno::ENOENT));
        // `..` components may make a long path short again.
        let name = "a".repeat(NAME_MAX);
        assert!(normalize("/", alloc::format!("{name}/..").as_bytes()).is_ok());
    }

    #[test]
    fn split_last_names_parent_and_leaf() {
        let n = normalize("/", b"/tmp/x").unwrap();
        assert_eq!(n.split_last(), Some(("/tmp", "x")));
        let n = normalize("/", b"/tmp").unwrap();
        assert_eq!(n.split_last(), Some(("/", "tmp")));
        assert_eq!(normalize("/", b"/").unwrap().split_last(), None);
        let n = normalize("/", b"/a/b/c").unwrap();
        assert_eq!(n.components().collect::<Vec<_>>(), ["a", "b", "c"]);
    }
}
