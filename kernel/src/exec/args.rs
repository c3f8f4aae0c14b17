//! `execve`'s arguments copied in from user memory, with Linux's limits.
//!
//! [`ExecArgs::copy_in`] reads the path, the `argv` and the `envp`
//! arrays through a `read(va, buf)` function (the caller's
//! `AddressSpace::copy_from_user`; host tests give a fake memory):
//!
//! - the path: at most [`PATH_MAX`] bytes with its NUL
//!   (`ENAMETOOLONG`), empty is `ENOENT`;
//! - each array: NULL-terminated pointers (a NULL array is empty), each
//!   pointing at a NUL-terminated string; an empty `argv` becomes `[""]`,
//!   as on Linux since 5.18 (`do_execveat_common`), so `argc` is never 0;
//! - all strings with their NULs plus 8 bytes per pointer count against
//!   [`ARG_MAX`] (`E2BIG` past it, as Linux's `MAX_ARG_STRLEN`-style
//!   budget; a quarter of the 1 MiB Linux allows with the default stack);
//! - a pointer anywhere (the path, an array slot, a string) that cannot be
//!   read is `EFAULT`.
//!
//! Strings are read a page-bounded chunk at a time: a chunk never crosses
//! a page boundary, so a string that ends just before an unmapped page is
//! read without touching that page. Nothing is changed in the process
//! here, so every failure leaves the caller untouched.

use alloc::vec::Vec;

use abi::Errno;

/// Most bytes of a path, its NUL included (Linux's `PATH_MAX`).
pub const PATH_MAX: usize = 4096;
/// The budget for argv and envp: string bytes with NULs plus 8 bytes per
/// pointer.
pub const ARG_MAX: usize = 256 << 10;
/// The page size (chunks never cross a page boundary).
const PAGE: u64 = 4096;

/// What `execve` was asked to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecArgs {
    /// The path, without its NUL.
    pub path: Vec<u8>,
    /// The arguments, without their NULs.
    pub argv: Vec<Vec<u8>>,
    /// The environment strings, without their NULs.
    pub envp: Vec<Vec<u8>>,
}

/// Why a string could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StrError {
    /// A byte could not be read.
    Fault,
    /// No NUL within the allowed length.
    TooLong,
}

impl ExecArgs {
    /// Copies in `execve(path, argv, envp)`'s arguments (module docs).
    pub fn copy_in(
        read: impl Fn(u64, &mut [u8]) -> Result<(), Errno>,
        path: u64,
        argv: u64,
        envp: u64,
    ) -> Result<Self, Errno> {
        let path = read_cstr(&read, path, PATH_MAX).map_err(|e| match e {
            StrError::Fault => Errno::EFAULT,
            StrError::TooLong => Errno::ENAMETOOLONG,
        })?;
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        let mut budget = ARG_MAX;
        let mut argv = read_vector(&read, argv, &mut budget)?;
        let envp = read_vector(&read, envp, &mut budget)?;
        if argv.is_empty() {
            // Linux (5.18 on) gives an empty argv one empty string, so a
            // program that starts at argv[1] does not walk into envp.
            if budget < 9 {
                return Err(Errno::E2BIG);
            }
            argv.push(Vec::new());
        }
        Ok(Self { path, argv, envp })
    }
}

/// Reads the NUL-terminated string at `addr`: at most `max` bytes with
/// the NUL.
fn read_cstr(
    read: &impl Fn(u64, &mut [u8]) -> Result<(), Errno>,
    addr: u64,
    max: usize,
) -> Result<Vec<u8>, StrError> {
    let mut out = Vec::new();
    let mut at = addr;
    let mut chunk = [0u8; PAGE as usize];
    loop {
        let left = max - out.len();
        if left == 0 {
            return Err(StrError::TooLong);
        }
        let to_page_end = (PAGE - at % PAGE) as usize;
        let n = to_page_end.min(left);
        read(at, &mut chunk[..n]).map_err(|_| StrError::Fault)?;
        if let Some(nul) = chunk[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&chunk[..nul]);
            return Ok(out);
        }
        out.extend_from_slice(&chunk[..n]);
        at = at.checked_add(n as u64).ok_or(StrError::Fault)?;
    }
}

/// Reads a NULL-terminated array of string pointers at `addr` (0: an
/// empty array), charging each pointer and string to `budget`.
fn read_vector(
    read: &impl Fn(u64, &mut [u8]) -> Result<(), Errno>,
    addr: u64,
    budget: &mut usize,
) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out = Vec::new();
    if addr == 0 {
        return Ok(out);
    }
    for i in 0u64.. {
        let slot = addr.checked_add(8 * i).ok_or(Errno::EFAULT)?;
        let mut raw = [0u8; 8];
        read(slot, &mut raw).map_err(|_| Errno::EFAULT)?;
        let ptr = u64::from_le_bytes(raw);
        if ptr == 0 {
            break;
        }
        *budget = budget.checked_sub(8).ok_or(Errno::E2BIG)?;
        let s = read_cstr(read, ptr, *budget).map_err(|e| match e {
            StrError::Fault => Errno::EFAULT,
            StrError::TooLong => Errno::E2BIG,
        })?;
        *budget -= s.len() + 1;
        out.push(s);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeMap;
    use alloc::vec;

    /// A sparse user memory: mapped pages and their bytes.
    #[derive(Default)]
    struct Mem(BTreeMap<u64, Vec<u8>>);

    impl Mem {
        fn map(&mut self, page: u64) {
            self.0.entry(page).or_insert_with(|| vec![0; PAGE as usize]);
        }
        fn put(&mut self, addr: u64, bytes: &[u8]) {
            for (i, &b) in bytes.iter().enumerate() {
                let a = addr + i as u64;
                self.map(a & !(PAGE - 1));
                self.0.get_mut(&(a & !(PAGE - 1))).unwrap()[(a % PAGE) as usize] = b;
            }
        }
        fn put_ptrs(&mut self, addr: u64, ptrs: &[u64]) {
            for (i, p) in ptrs.iter().enumerate() {
                self.put(addr + 8 * i as u64, &p.to_le_bytes());
            }
        }
        fn reader(&self) -> impl Fn(u64, &mut [u8]) -> Result<(), Errno> + '_ {
            move |va, buf| {
                for (i, b) in buf.iter_mut().enumerate() {
                    let a = va + i as u64;
                    let page = self.0.get(&(a & !(PAGE - 1))).ok_or(Errno::EFAULT)?;
                    *b = page[(a % PAGE) as usize];
                }
                Ok(())
            }
        }
    }

    fn setup() -> Mem {
        let mut m = Mem::default();
        m.put(0x1000, b"/bin/hello\0");
        m.put(0x1100, b"one\0");
        m.put(0x1200, b"TERM=tine\0");
        m.put_ptrs(0x2000, &[0x1000, 0x1100, 0]);
        m.put_ptrs(0x2100, &[0x1200, 0]);
        m
    }

    #[test]
    fn reads_path_argv_envp() {
        let m = setup();
        let args = ExecArgs::copy_in(m.reader(), 0x1000, 0x2000, 0x2100).unwrap();
        assert_eq!(args.path, b"/bin/hello");
        assert_eq!(args.argv, [&b"/bin/hello"[..], b"one"]);
        assert_eq!(args.envp, [&b"TERM=tine"[..]]);
        // NULL arrays are empty, but argv gets one empty string.
        let args = ExecArgs::copy_in(m.reader(), 0x1000, 0, 0).unwrap();
        assert_eq!(args.argv, [&b""[..]]);
        assert!(args.envp.is_empty());
    }

    #[test]
    fn a_string_ending_before_an_unmapped_page_is_fine() {
        let mut m = setup();
        // "ab\0" in the last three bytes of page 0x5000; 0x6000 unmapped.
        m.put(0x5ffd, b"ab\0");
        m.put_ptrs(0x2200, &[0x5ffd, 0]);
        let args = ExecArgs::copy_in(m.reader(), 0x5ffd, 0x2200, 0).unwrap();
        assert_eq!(args.path, b"ab");
        assert_eq!(args.argv, [&b"ab"[..]]);
        // Without its NUL the string runs into the hole: EFAULT.
        m.put(0x5fff, b"c");
        assert_eq!(
            ExecArgs::copy_in(m.reader(), 0x5ffd, 0, 0),
            Err(Errno::EFAULT)
        );
    }

    #[test]
    fn every_bad_pointer_is_efault() {
        let mut m = setup();
        let r = || m.reader();
        assert_eq!(ExecArgs::copy_in(r(), 0, 0x2000, 0), Err(Errno::EFAULT));
        assert_eq!(
            ExecArgs::copy_in(r(), 0x1000, 0x9000, 0),
            Err(Errno::EFAULT)
        );
        assert_eq!(
            ExecArgs::copy_in(r(), 0x1000, 0, 0x9000),
            Err(Errno::EFAULT)
        );
        assert_eq!(
            ExecArgs::copy_in(r(), 0x1000, 0, u64::MAX - 3),
            Err(Errno::EFAULT)
        );
        // A bad string pointer inside an array; a missing NULL terminator.
        m.put_ptrs(0x3000, &[0x1100, 0xdead_0000, 0]);
        m.put_ptrs(0x3ff8, &[0x1100]);
        let r = || m.reader();
        assert_eq!(
            ExecArgs::copy_in(r(), 0x1000, 0x3000, 0),
            Err(Errno::EFAULT)
        );
        assert_eq!(
            ExecArgs::copy_in(r(), 0x1000, 0, 0x3ff8),
            Err(Errno::EFAULT)
        );
    }

    #[test]
    fn limits_are_enametoolong_enoent_and_e2big() {
        let mut m = setup();
        m.put(0x10_000, &vec![b'a'; PATH_MAX - 1]);
        m.put(0x10_000 + PATH_MAX as u64 - 1, b"\0");
        m.put(0x20_000, &vec![b'a'; PATH_MAX]);
        m.put(0x20_000 + PATH_MAX as u64, b"\0");
        m.put(0x30_000, b"\0");
        let r = || m.reader();
        assert_eq!(
            ExecArgs::copy_in(r(), 0x10_000, 0, 0).unwrap().path.len(),
            PATH_MAX - 1
        );
        assert_eq!(
            ExecArgs::copy_in(r(), 0x20_000, 0, 0),
            Err(Errno::ENAMETOOLONG)
        );
        assert_eq!(ExecArgs::copy_in(r(), 0x30_000, 0, 0), Err(Errno::ENOENT));

        // One string of 200 KiB is fine; two of them exceed 256 KiB.
        let mut m = setup();
        let big = 200 << 10;
        m.put(0x100_000, &vec![b'x'; big]);
        m.put(0x100_000 + big as u64, b"\0");
        m.put_ptrs(0x4000, &[0x100_000, 0]);
        m.put_ptrs(0x4100, &[0x100_000, 0x100_000, 0]);
        let r = || m.reader();
        let ok = ExecArgs::copy_in(r(), 0x1000, 0x4000, 0x4000).err();
        assert_eq!(ok, Some(Errno::E2BIG), "argv + envp share the budget");
        assert_eq!(
            ExecArgs::copy_in(r(), 0x1000, 0x4000, 0).unwrap().argv[0].len(),
            big
        );
        assert_eq!(ExecArgs::copy_in(r(), 0x1000, 0x4100, 0), Err(Errno::E2BIG));
        // Many empty strings: the pointers alone exhaust the budget.
        let mut m = setup();
        let n = ARG_MAX / 9 + 1;
        let ptrs: Vec<u64> = (0..n).map(|_| 0x30_000).chain([0]).collect();
        m.put(0x30_000, b"\0");
        m.put_ptrs(0x40_0000, &ptrs);
        assert_eq!(
            ExecArgs::copy_in(m.reader(), 0x1000, 0x40_0000, 0),
            Err(Errno::E2BIG)
        );
    }
}
