//! The cpio "newc" archive format, read without copying.
//!
//! An initramfs is a cpio archive in the "new ASCII" format (`cpio -H newc`,
//! the format the Linux kernel unpacks). Each member is a 110-byte header of
//! ASCII hex fields, the NUL-terminated name, padding to a multiple of four
//! bytes (counted from the start of the header), the data, and padding to a
//! multiple of four again. A member named `TRAILER!!!` ends the archive;
//! whatever follows it (usually zero padding) is ignored.
//!
//! ```text
//! offset  size  field
//!      0     6  magic "070701" ("070702": with a checksum of the data)
//!      6     8  ino          54  8  filesize
//!     14     8  mode         62  8  devmajor
//!     22     8  uid          70  8  devminor
//!     30     8  gid          78  8  rdevmajor
//!     38     8  nlink        86  8  rdevminor
//!     46     8  mtime        94  8  namesize (with the NUL)
//!                           102  8  check (070702: sum of the data bytes)
//! ```
//!
//! [`Archive::entries`] walks the members, handing out [`Entry`]s whose name
//! and data borrow the archive. Malformed input (truncated header, wrong
//! magic, a non-hex digit, a name or data running past the end, a bad
//! checksum, no trailer) yields a typed [`CpioError`] and ends the walk; the
//! parser never panics and never reads out of bounds, whatever the bytes.
//! This module is pure and host-tested.

use core::fmt;

/// Magic of a newc member without a checksum.
pub const MAGIC_NEWC: &[u8; 6] = b"070701";
/// Magic of a newc member whose `check` field is the sum of its data bytes.
pub const MAGIC_NEWC_CRC: &[u8; 6] = b"070702";
/// The name of the member that ends an archive.
pub const TRAILER: &[u8] = b"TRAILER!!!";
/// Length of a newc header.
pub const HEADER_LEN: usize = 110;

/// File-type bits of [`Entry::mode`] (`S_IFMT`), a regular file, a
/// directory, a symbolic link (its data is the target): `abi::record`'s.
pub use abi::record::{S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};

/// Why an archive could not be read. `offset` is where the offending
/// member's header starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpioError {
    /// Fewer than [`HEADER_LEN`] bytes remain where a header should start.
    TruncatedHeader { offset: usize },
    /// The header does not start with `070701` or `070702`.
    BadMagic { offset: usize },
    /// A header field holds something other than eight hex digits.
    BadHexField { offset: usize, field: &'static str },
    /// `namesize` is zero, or the name's last byte is not NUL.
    BadName { offset: usize },
    /// The name (with its padding) runs past the end of the archive.
    NamePastEnd { offset: usize },
    /// The data runs past the end of the archive.
    DataPastEnd { offset: usize },
    /// A `070702` member whose data does not sum to its `check` field.
    BadChecksum { offset: usize },
    /// The archive ended without a `TRAILER!!!` member.
    MissingTrailer,
}

impl fmt::Display for CpioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TruncatedHeader { offset } => write!(f, "truncated header at {offset}"),
            Self::BadMagic { offset } => write!(f, "bad magic at {offset}"),
            Self::BadHexField { offset, field } => {
                write!(f, "field {field} of the header at {offset} is not hex")
            }
            Self::BadName { offset } => write!(f, "bad name in the member at {offset}"),
            Self::NamePastEnd { offset } => {
                write!(f, "the name of the member at {offset} runs past the end")
            }
            Self::DataPastEnd { offset } => {
                write!(f, "the data of the member at {offset} runs past the end")
            }
            Self::BadChecksum { offset } => write!(f, "bad checksum in the member at {offset}"),
            Self::MissingTrailer => write!(f, "no TRAILER!!! member"),
        }
    }
}

/// One archive member. `name` and `data` borrow the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The path as stored, without the terminating NUL (often relative,
    /// like `bin/init`, or starting with `./`).
    pub name: &'a [u8],
    pub ino: u32,
    /// File type ([`S_IFMT`] bits) and permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub mtime: u32,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    /// The member's contents (a symlink's target, for a symlink).
    pub data: &'a [u8],
}

impl Entry<'_> {
    /// The file-type bits of `mode`.
    pub fn file_type(&self) -> u32 {
        self.mode & S_IFMT
    }

    /// The permission bits of `mode` (including set-id and sticky bits).
    pub fn permissions(&self) -> u32 {
        self.mode & !S_IFMT
    }
}

/// A newc archive in memory.
#[derive(Clone, Copy, Debug)]
pub struct Archive<'a> {
    bytes: &'a [u8],
}

impl<'a> Archive<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// The members in archive order, up to (not including) the trailer. An
    /// error is the last item.
    pub fn entries(&self) -> Entries<'a> {
        Entries {
            bytes: self.bytes,
            offset: 0,
            done: false,
        }
    }

    /// Checks the whole archive, returning the number of members.
    pub fn validate(&self) -> Result<usize, CpioError> {
        self.entries().try_fold(0, |n, entry| entry.map(|_| n + 1))
    }
}

/// Iterator over the members of an [`Archive`]; fused after the trailer or
/// the first error.
#[derive(Clone, Debug)]
pub struct Entries<'a> {
    bytes: &'a [u8],
    offset: usize,
    done: bool,
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>, CpioError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match parse_member(self.bytes, self.offset) {
            Ok((entry, next)) => {
                if entry.name == TRAILER {
                    self.done = true;
                    None
                } else {
                    self.offset = next;
                    Some(Ok(entry))
                }
            }
            Err(error) => {
                self.done = true;
                Some(Err(error))
            }
        }
    }
}

impl core::iter::FusedIterator for Entries<'_> {}

/// Rounds `n` up to a multiple of four; `None` on overflow.
fn align4(n: usize) -> Option<usize> {
    n.checked_add(3).map(|n| n & !3)
}

/// Parses the member whose header starts at `offset`; returns it and the
/// offset of the next header.
fn parse_member(bytes: &[u8], offset: usize) -> Result<(Entry<'_>, usize), CpioError> {
    if offset == bytes.len() {
        return Err(CpioError::MissingTrailer);
    }
    let header = offset
        .checked_add(HEADER_LEN)
        .and_then(|end| bytes.get(offset..end))
        .ok_or(CpioError::TruncatedHeader { offset })?;
    let magic = &header[..6];
    let with_checksum = if magic == MAGIC_NEWC {
        false
    } else if magic == MAGIC_NEWC_CRC {
        true
    } else {
        return Err(CpioError::BadMagic { offset });
    };
    let field = |index: usize, name: &'static str| {
        let start = 6 + 8 * index;
        parse_hex(&header[start..start + 8]).ok_or(CpioError::BadHexField {
            offset,
            field: name,
        })
    };
    let ino = field(0, "ino")?;
    let mode = field(1, "mode")?;
    let uid = field(2, "uid")?;
    let gid = field(3, "gid")?;
    let nlink = field(4, "nlink")?;
    let mtime = field(5, "mtime")?;
    let filesize = field(6, "filesize")? as usize;
    let dev_major = field(7, "devmajor")?;
    let dev_minor = field(8, "devminor")?;
    let rdev_major = field(9, "rdevmajor")?;
    let rdev_minor = field(10, "rdevminor")?;
    let namesize = field(11, "namesize")? as usize;
    let check = field(12, "check")?;

    let name_start = offset + HEADER_LEN;
    let name_end = name_start
        .checked_add(namesize)
        .ok_or(CpioError::NamePastEnd { offset })?;
    let name_with_nul = bytes
        .get(name_start..name_end)
        .ok_or(CpioError::NamePastEnd { offset })?;
    let name = match name_with_nul.split_last() {
        Some((0, name)) if !name.contains(&0) => name,
        _ => return Err(CpioError::BadName { offset }),
    };
    let data_start = align4(name_end).ok_or(CpioError::NamePastEnd { offset })?;
    let data_end = data_start
        .checked_add(filesize)
        .ok_or(CpioError::DataPastEnd { offset })?;
    if data_start > bytes.len() {
        return Err(CpioError::NamePastEnd { offset });
    }
    let data = bytes
        .get(data_start..data_end)
        .ok_or(CpioError::DataPastEnd { offset })?;
    if with_checksum {
        let sum = data
            .iter()
            .fold(0u32, |sum, &byte| sum.wrapping_add(u32::from(byte)));
        if sum != check {
            return Err(CpioError::BadChecksum { offset });
        }
    }
    // The padding after the data may be missing at the very end of the
    // archive (after the trailer): clamp, the next read reports it.
    let next = align4(data_end)
        .ok_or(CpioError::DataPastEnd { offset })?
        .min(bytes.len());
    let entry = Entry {
        name,
        ino,
        mode,
        uid,
        gid,
        nlink,
        mtime,
        dev_major,
        dev_minor,
        rdev_major,
        rdev_minor,
        data,
    };
    Ok((entry, next))
}

/// Eight ASCII hex digits (either case) as a number.
fn parse_hex(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |value, &digit| {
        let nibble = (digit as char).to_digit(16)?;
        Some((value << 4) | nibble)
    })
}

/// A minimal newc writer for the tests of this module and of
/// [`super::initramfs`] (the archives the system boots with are written by
/// `xtask`, which has its own writer: the kernel must not depend on the host
/// tool, and a shared crate for forty lines would add a layer to the tree).
#[cfg(test)]
pub(crate) mod writer {
    use alloc::vec::Vec;

    /// Appends newc members to a byte buffer.
    #[derive(Default)]
    pub struct Writer {
        pub bytes: Vec<u8>,
        next_ino: u32,
    }

    impl Writer {
        /// Appends a member with explicit fields.
        pub fn member(&mut self, magic: &[u8; 6], name: &[u8], mode: u32, nlink: u32, data: &[u8]) {
            self.next_ino += 1;
            let check = if magic == super::MAGIC_NEWC_CRC {
                data.iter().fold(0u32, |s, &b| s.wrapping_add(u32::from(b)))
            } else {
                0
            };
            let fields = [
                self.next_ino,
                mode,
                0,
                0,
                nlink,
                0,
                data.len() as u32,
                0,
                0,
                0,
                0,
                name.len() as u32 + 1,
                check,
            ];
            self.bytes.extend_from_slice(magic);
            for field in fields {
                self.bytes
                    .extend_from_slice(alloc::format!("{field:08X}").as_bytes());
            }
            self.bytes.extend_from_slice(name);
            self.bytes.push(0);
            self.pad();
            self.bytes.extend_from_slice(data);
            self.pad();
        }

        fn pad(&mut self) {
            while !self.bytes.len().is_multiple_of(4) {
                self.bytes.push(0);
            }
        }

        pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
            self.member(
                super::MAGIC_NEWC,
                name.as_bytes(),
                super::S_IFREG | 0o755,
                1,
                data,
            );
            self
        }

        pub fn dir(&mut self, name: &str) -> &mut Self {
            self.member(
                super::MAGIC_NEWC,
                name.as_bytes(),
                super::S_IFDIR | 0o755,
                2,
                b"",
            );
            self
        }

        pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
            self.member(
                super::MAGIC_NEWC,
                name.as_bytes(),
                super::S_IFLNK | 0o777,
                1,
                target.as_bytes(),
            );
            self
        }

        /// Appends the trailer and returns the archive.
        pub fn finish(&mut self) -> Vec<u8> {
            self.member(super::MAGIC_NEWC, super::TRAILER, 0, 1, b"");
            core::mem::take(&mut self.bytes)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::writer::Writer;
    use super::*;
    use alloc::vec::Vec;

    fn sample() -> Vec<u8> {
        Writer::default()
            .dir("bin")
            .file("bin/init", b"\x7fELF...")
            .file("empty", b"")
            .file("three", b"abc")
            .symlink("sh", "bin/init")
            .finish()
    }

    #[test]
    fn reads_members_in_order_with_their_fields() {
        let bytes = sample();
        let entries: Vec<Entry<'_>> = Archive::new(&bytes)
            .entries()
            .collect::<Result<_, _>>()
            .unwrap();
        let names: Vec<&[u8]> = entries.iter().map(|e| e.name).collect();
        assert_eq!(names, [&b"bin"[..], b"bin/init", b"empty", b"three", b"sh"]);
        assert_eq!(entries[0].file_type(), S_IFDIR);
        assert_eq!(entries[0].nlink, 2);
        assert_eq!(entries[1].data, b"\x7fELF...");
        assert_eq!(entries[1].file_type(), S_IFREG);
        assert_eq!(entries[1].permissions(), 0o755);
        assert_eq!(entries[1].ino, 2);
        assert_eq!(entries[2].data, b"");
        assert_eq!(entries[3].data, b"abc");
        assert_eq!(entries[4].file_type(), S_IFLNK);
        assert_eq!(entries[4].data, b"bin/init");
        assert_eq!(Archive::new(&bytes).validate(), Ok(5));
    }

    #[test]
    fn data_borrows_the_archive() {
        let bytes = sample();
        let entry = Archive::new(&bytes).entries().nth(1).unwrap().unwrap();
        let range = bytes.as_ptr_range();
        assert!(range.contains(&entry.data.as_ptr()));
    }

    #[test]
    fn every_name_and_data_length_is_aligned() {
        // Names of 1..=8 bytes and data of 0..=8 bytes cover every padding.
        for name_len in 1..=8 {
            for data_len in 0..=8 {
                let name = "n".repeat(name_len);
                let data: Vec<u8> = (0..data_len as u8).collect();
                let bytes = Writer::default()
                    .file(&name, &data)
                    .file("after", b"x")
                    .finish();
                assert_eq!(bytes.len() % 4, 0);
                let entries: Vec<_> = Archive::new(&bytes)
                    .entries()
                    .collect::<Result<_, _>>()
                    .unwrap();
                assert_eq!(entries[0].name, name.as_bytes());
                assert_eq!(entries[0].data, &data[..]);
                assert_eq!(entries[1].data, b"x");
            }
        }
    }

    #[test]
    fn lowercase_hex_and_the_checksum_magic_are_accepted() {
        let mut w = Writer::default();
        w.member(
            MAGIC_NEWC_CRC,
            b"summed",
            S_IFREG | 0o644,
            1,
            b"\xff\xff\x01",
        );
        let mut bytes = w.finish();
        let lower = bytes[..HEADER_LEN].to_ascii_lowercase();
        bytes[..HEADER_LEN].copy_from_slice(&lower);
        let entry = Archive::new(&bytes).entries().next().unwrap().unwrap();
        assert_eq!(entry.data, b"\xff\xff\x01");
        assert_eq!(entry.mode, S_IFREG | 0o644);
    }

    #[test]
    fn a_wrong_checksum_is_rejected() {
        let mut w = Writer::default();
        w.member(MAGIC_NEWC_CRC, b"summed", S_IFREG | 0o644, 1, b"abc");
        let mut bytes = w.finish();
        let data_at = HEADER_LEN + 10; // after "summed\0", padded to 120
        bytes[data_at] ^= 1;
        assert_eq!(
            Archive::new(&bytes).validate(),
            Err(CpioError::BadChecksum { offset: 0 })
        );
    }

    #[test]
    fn stops_at_the_trailer_and_ignores_what_follows() {
        let mut bytes = Writer::default().file("a", b"1").finish();
        bytes.extend_from_slice(&[0; 512]);
        bytes.extend_from_slice(b"garbage");
        assert_eq!(Archive::new(&bytes).validate(), Ok(1));
        let empty = Writer::default().finish();
        assert_eq!(Archive::new(&empty).validate(), Ok(0));
    }

    #[test]
    fn malformed_archives_give_typed_errors() {
        let good = Writer::default().file("abc", b"data").finish();
        let second = 120; // header and "abc\0" padded to 116, then "data"
        assert_eq!(Archive::new(&[]).validate(), Err(CpioError::MissingTrailer));
        assert_eq!(
            Archive::new(&good[..second]).validate(),
            Err(CpioError::MissingTrailer)
        );
        assert_eq!(
            Archive::new(&good[..50]).validate(),
            Err(CpioError::TruncatedHeader { offset: 0 })
        );
        assert_eq!(
            Archive::new(&good[..second + 20]).validate(),
            Err(CpioError::TruncatedHeader { offset: second })
        );
        let mut bad = good.clone();
        bad[5] = b'7';
        assert_eq!(
            Archive::new(&bad).validate(),
            Err(CpioError::BadMagic { offset: 0 })
        );
        let mut bad = good.clone();
        bad[6 + 8 * 6 + 3] = b'g'; // filesize
        assert_eq!(
            Archive::new(&bad).validate(),
            Err(CpioError::BadHexField {
                offset: 0,
                field: "filesize"
            })
        );
        let mut bad = good.clone();
        bad[6 + 8 * 6..6 + 8 * 7].copy_from_slice(b"00001000"); // filesize
        assert_eq!(
            Archive::new(&bad).validate(),
            Err(CpioError::DataPastEnd { offset: 0 })
        );
        let mut bad = good.clone();
        bad[6 + 8 * 11..6 + 8 * 12].copy_from_slice(b"FFFFFFFF"); // namesize
        assert_eq!(
            Archive::new(&bad).validate(),
            Err(CpioError::NamePastEnd { offset: 0 })
        );
        let mut bad = good.clone();
        bad[6 + 8 * 11..6 + 8 * 12].copy_from_slice(b"00000000"); // namesize
        assert_eq!(
            Archive::new(&bad).validate(),
            Err(CpioError::BadName { offset: 0 })
        );
        let mut bad = good.clone();
        bad[HEADER_LEN + 3] = b'x'; // the name's NUL
        assert_eq!(
            Archive::new(&bad).validate(),
            Err(CpioError::BadName { offset: 0 })
        );
    }

    #[test]
    fn errors_end_the_iteration() {
        let bytes = b"070701zzzz";
        let mut entries = Archive::new(bytes).entries();
        assert!(matches!(entries.next(), Some(Err(_))));
        assert_eq!(entries.next(), None);
    }

    /// A small deterministic generator (xorshift), so failures reproduce.
    pub(crate) struct Rng(pub u64);

    impl Rng {
        pub fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        pub fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn truncations_and_corruptions_never_panic() {
        let good = sample();
        // Every truncation: an error, never a panic or a success.
        for len in 0..good.len() {
            let result = Archive::new(&good[..len]).validate();
            assert!(result.is_err(), "{len}: {result:?}");
        }
        // Random byte flips, insertions of hex-looking and wild bytes.
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let mut bytes = good.clone();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(bytes.len());
                bytes[at] = match rng.below(3) {
                    0 => b"0123456789abcdefF"[rng.below(17)],
                    1 => rng.next() as u8,
                    _ => 0,
                };
            }
            let cut = bytes.len() - rng.below(bytes.len() / 2 + 1);
            for entry in Archive::new(&bytes[..cut]).entries().flatten() {
                // Whatever parses, borrows from inside the input.
                assert!(entry.data.len() <= cut && entry.name.len() <= cut);
            }
        }
    }
}
