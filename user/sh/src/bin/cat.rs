//! `/bin/cat [FILE...]`: copies each file (or stdin without arguments, or
//! for `-`) to stdout. Errors print `cat: FILE: ENAME` and the status is 1.
#![no_std]
#![no_main]

use core::ffi::CStr;
use tine_rt::syscall::{self, Errno, o};
use tine_rt::{Args, eprintln};

tine_rt::entry!(main);

fn main(args: Args) -> i32 {
    if args.len() < 2 {
        return report("-", copy(0));
    }
    let mut status = 0;
    for name in args.iter().skip(1) {
        let shown = core::str::from_utf8(name).unwrap_or("?");
        let result = if name == b"-" {
            copy(0)
        } else {
            open(name).and_then(|fd| {
                let r = copy(fd);
                let _ = syscall::close(fd);
                r
            })
        };
        status |= report(shown, result);
    }
    status
}

fn open(name: &[u8]) -> Result<i32, Errno> {
    let mut path = [0u8; 256];
    if name.len() >= path.len() {
        return Err(Errno::ENAMETOOLONG);
    }
    path[..name.len()].copy_from_slice(name);
    let c = CStr::from_bytes_until_nul(&path).map_err(|_| Errno::EINVAL)?;
    syscall::open(c, o::RDONLY, 0)
}

fn copy(fd: i32) -> Result<(), Errno> {
    let mut buf = [0u8; 4096];
    loop {
        match syscall::read(fd, &mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => syscall::write_all(1, &buf[..n])?,
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
}

fn report(name: &str, r: Result<(), Errno>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("cat: {name}: {}", sh::errno::Name(e.0));
            1
        }
    }
}
