//! `/bin/filetest MODE`: checks one file behaviour from user space and
//! exits 0 when it held (the in-kernel tests in
//! `kernel/src/fs/file_ktests.rs` run every mode), or 1 with a message on
//! stderr. The same binary runs on Linux for comparison (except the
//! `O_CLOFORK` mode, which needs Tine).
//!
//! Modes that exit 0 when the behaviour held:
//! - `pipe`: a forked child writes 100000 bytes into a pipe; the parent
//!   reads them all in order, then end of file once the child is gone;
//! - `redirect`: a child `dup2`s the pipe onto its stdout and prints; the
//!   parent reads the line;
//! - `clofork`: descriptors opened with `O_CLOFORK` (and marked
//!   `FD_CLOFORK` by `fcntl`) are not in the forked child; the parent's
//!   pipe reader sees end of file although the child lives on;
//! - `sigpipe-ignored`: with `SIGPIPE` ignored, a write to a pipe without
//!   readers fails with `EPIPE`;
//! - `tmp`: `/tmp` files and directories: create, write, seek, read,
//!   `fstat`, `getdents64`, `chdir`/`getcwd`, `unlink`, `EROFS` outside;
//! - `tty`: fds 0 to 2 are the console: `TCGETS`, `TIOCGWINSZ`, the
//!   foreground group round trip, `ENOTTY` on a pipe;
//! - `cloexec`: execs itself (`cloexec-check`) with an `O_CLOEXEC`
//!   descriptor, a plain one and a `dup3(O_CLOEXEC)` one: after exec only
//!   the plain one is open.
//!
//! Modes that die of a signal (the test checks the wait status):
//! - `sigpipe`: a write to a pipe without readers (13);
//! - `ctrlc`: makes its group the console's foreground group and reads
//!   the console; the test types Ctrl-C (2).
#![no_std]
#![no_main]

use tine_rt::syscall::files::*;
use tine_rt::syscall::{self, Errno, signal};
use tine_rt::{eprintln, println};

tine_rt::entry!(main);

fn main(args: tine_rt::Args) -> i32 {
    let mode = args.get(1).unwrap_or(b"");
    let result = match mode {
        b"pipe" => pipe(),
        b"redirect" => redirect(),
        b"clofork" => clofork(),
        b"sigpipe" => sigpipe(false),
        b"sigpipe-ignored" => sigpipe(true),
        b"tmp" => tmp(),
        b"tty" => tty(),
        b"ctrlc" => ctrlc(),
        b"cloexec" => cloexec(),
        b"cloexec-check" => cloexec_check(),
        _ => Err(
            "usage: filetest pipe|redirect|clofork|sigpipe|sigpipe-ignored|tmp|tty|ctrlc|cloexec",
        ),
    };
    match result {
        Ok(()) => 0,
        Err(why) => {
            eprintln!("filetest: {why}");
            1
        }
    }
}

type Check = Result<(), &'static str>;

fn ensure(cond: bool, why: &'static str) -> Check {
    if cond { Ok(()) } else { Err(why) }
}

/// Forks; the child runs `child` and exits with its status.
fn spawn(child: impl FnOnce() -> i32) -> Result<i32, &'static str> {
    match syscall::fork() {
        Ok(0) => syscall::exit_group(child()),
        Ok(pid) => Ok(pid),
        Err(_) => Err("fork failed"),
    }
}

/// Waits for `pid`; its wait status.
fn wait(pid: i32) -> Result<i32, &'static str> {
    syscall::wait4(pid, 0)
        .map(|(_, status)| status)
        .map_err(|_| "wait4 failed")
}

fn pipe() -> Check {
    const TOTAL: usize = 100_000;
    let [r, w] = pipe2(0).map_err(|_| "pipe2")?;
    let child = spawn(|| {
        let _ = syscall::close(r);
        let mut sent = 0;
        let mut chunk = [0u8; 1500];
        while sent < TOTAL {
            let n = chunk.len().min(TOTAL - sent);
            for (i, b) in chunk[..n].iter_mut().enumerate() {
                *b = ((sent + i) % 251) as u8;
            }
            if syscall::write_all(w, &chunk[..n]).is_err() {
                return 1;
            }
            sent += n;
        }
        0
    })?;
    syscall::close(w).map_err(|_| "close")?;
    let mut got = 0;
    let mut buf = [0u8; 4096];
    loop {
        let n = syscall::read(r, &mut buf).map_err(|_| "read")?;
        if n == 0 {
            break;
        }
        for (i, &b) in buf[..n].iter().enumerate() {
            ensure(b == ((got + i) % 251) as u8, "bytes out of order")?;
        }
        got += n;
    }
    ensure(got == TOTAL, "not every byte arrived")?;
    ensure(wait(child)? == 0, "the writer failed")
}

fn redirect() -> Check {
    let [r, w] = pipe2(O_CLOEXEC).map_err(|_| "pipe2")?;
    let child = spawn(|| {
        if dup2(w, 1) != Ok(1) {
            return 1;
        }
        if fcntl(1, F_GETFD, 0) != Ok(0) {
            return 2; // dup2 clears FD_CLOEXEC
        }
        let _ = syscall::close(w);
        let _ = syscall::close(r);
        println!("through the pipe");
        0
    })?;
    syscall::close(w).map_err(|_| "close")?;
    let mut buf = [0u8; 64];
    let mut len = 0;
    loop {
        let n = syscall::read(r, &mut buf[len..]).map_err(|_| "read")?;
        if n == 0 {
            break;
        }
        len += n;
    }
    ensure(
        &buf[..len] == b"through the pipe\n",
        "wrong text from the child",
    )?;
    ensure(wait(child)? == 0, "the child failed")
}

fn clofork() -> Check {
    let null = open(c"/dev/null", O_RDWR | O_CLOFORK, 0).map_err(|_| "open")?;
    ensure(
        fcntl(null, F_GETFD, 0) == Ok(FD_CLOFORK as usize),
        "O_CLOFORK did not set FD_CLOFORK",
    )?;
    let kept = open(c"/dev/null", O_RDWR, 0).map_err(|_| "open")?;
    let marked = dup(kept).map_err(|_| "dup")?;
    fcntl(marked, F_SETFD, FD_CLOFORK as usize).map_err(|_| "F_SETFD")?;
    let [r, w] = pipe2(O_CLOFORK).map_err(|_| "pipe2")?;
    // The child waits on this pipe (inherited) until the parent is done.
    let [hold_r, hold_w] = pipe2(0).map_err(|_| "pipe2")?;
    let child = spawn(|| {
        let _ = syscall::close(hold_w);
        let gone = |fd| fcntl(fd, F_GETFD, 0) == Err(Errno(9));
        let status = if !gone(null) || !gone(marked) || !gone(r) || !gone(w) {
            1
        } else if fcntl(kept, F_GETFD, 0) != Ok(0) {
            2
        } else {
            0
        };
        let mut byte = [0u8];
        let _ = syscall::read(hold_r, &mut byte);
        status
    })?;
    syscall::close(hold_r).map_err(|_| "close")?;
    syscall::close(w).map_err(|_| "close")?;
    let mut buf = [0u8; 8];
    let eof = syscall::read(r, &mut buf) == Ok(0);
    // Let the child go (it was alive during the read above).
    syscall::close(hold_w).map_err(|_| "close")?;
    ensure(eof, "no end of file: the child holds the write end")?;
    ensure(wait(child)? == 0, "the child saw FD_CLOFORK descriptors")
}

fn sigpipe(ignored: bool) -> Check {
    if ignored {
        let act = signal::SigAction::disposition(signal::SIG_IGN, 0);
        signal::sigaction(13, Some(&act), None).map_err(|_| "sigaction")?;
    }
    let [r, w] = pipe2(0).map_err(|_| "pipe2")?;
    syscall::close(r).map_err(|_| "close")?;
    let result = syscall::write(w, b"x");
    // Only reached when SIGPIPE is ignored.
    ensure(
        result == Err(Errno(32)),
        "write without readers is not EPIPE",
    )
}

fn tmp() -> Check {
    let _ = mkdir(c"/tmp/filetest", 0o755);
    ensure(
        mkdir(c"/tmp/filetest", 0o755) == Err(Errno(17)),
        "mkdir twice is not EEXIST",
    )?;
    let fd = open(c"/tmp/filetest/a", O_CREAT | O_RDWR | O_TRUNC, 0o600).map_err(|_| "create")?;
    syscall::write_all(fd, b"0123456789").map_err(|_| "write")?;
    ensure(lseek(fd, 4, 0) == Ok(4), "lseek")?;
    let mut buf = [0u8; 16];
    ensure(syscall::read(fd, &mut buf) == Ok(6), "read after seek")?;
    ensure(&buf[..6] == b"456789", "read the wrong bytes")?;
    let st = fstat(fd).map_err(|_| "fstat")?;
    ensure(
        u64::from_le_bytes(st[48..56].try_into().unwrap_or([0; 8])) == 10,
        "st_size",
    )?;
    ensure(
        u32::from_le_bytes(st[24..28].try_into().unwrap_or([0; 4])) == 0o100_600,
        "st_mode",
    )?;
    chdir(c"/tmp/filetest").map_err(|_| "chdir")?;
    let mut cwd = [0u8; 64];
    let n = getcwd(&mut cwd).map_err(|_| "getcwd")?;
    ensure(&cwd[..n] == b"/tmp/filetest\0", "getcwd")?;
    let dir = open(c".", O_RDONLY | O_DIRECTORY, 0).map_err(|_| "open .")?;
    let mut ents = [0u8; 512];
    let n = getdents64(dir, &mut ents).map_err(|_| "getdents64")?;
    let mut found = false;
    let mut at = 0;
    while at < n {
        let reclen = u16::from_le_bytes([ents[at + 16], ents[at + 17]]) as usize;
        found |= ents[at + 19..at + reclen].starts_with(b"a\0");
        at += reclen;
    }
    ensure(found, "getdents64 does not list the file")?;
    unlink(c"a").map_err(|_| "unlink")?;
    ensure(
        open(c"a", O_RDONLY, 0) == Err(Errno(2)),
        "unlinked file still opens",
    )?;
    ensure(
        syscall::write(fd, b"!") == Ok(1),
        "an unlinked open file stops working",
    )?;
    ensure(
        open(c"/bin/x", O_CREAT | O_WRONLY, 0o644) == Err(Errno(30)),
        "not EROFS",
    )?;
    ensure(
        unlink(c"/tmp/filetest") == Err(Errno(21)),
        "unlink of a directory",
    )?;
    Ok(())
}

fn tty() -> Check {
    for fd in 0..3 {
        let (rows, cols) = winsize(fd).map_err(|_| "TIOCGWINSZ")?;
        ensure((rows, cols) == (24, 80), "window size")?;
    }
    let t = tcgets(0).map_err(|_| "TCGETS")?;
    let lflag = u32::from_le_bytes(t[12..16].try_into().unwrap_or([0; 4]));
    ensure(lflag & 0o2 != 0, "the console is not canonical")?;
    tcsets(0, &t).map_err(|_| "TCSETS")?;
    let me = signal::getpgrp();
    let old = tcgetpgrp(0).map_err(|_| "TIOCGPGRP")?;
    tcsetpgrp(0, me).map_err(|_| "TIOCSPGRP")?;
    ensure(tcgetpgrp(1) == Ok(me), "foreground group")?;
    tcsetpgrp(0, old).map_err(|_| "TIOCSPGRP back")?;
    let [r, _w] = pipe2(0).map_err(|_| "pipe2")?;
    ensure(winsize(r) == Err(Errno(25)), "a pipe is a terminal")?;
    Ok(())
}

fn ctrlc() -> Check {
    tcsetpgrp(0, signal::getpgrp()).map_err(|_| "TIOCSPGRP")?;
    let mut buf = [0u8; 16];
    let _ = syscall::read(0, &mut buf);
    // Only reached if the read returned instead of the process dying.
    Err("the read returned: Ctrl-C did not kill")
}

/// The descriptors `cloexec` hands to `cloexec-check`: closed on exec,
/// kept, closed on exec (made by `dup3`).
const CLOEXEC_FDS: [i32; 3] = [10, 11, 12];

fn cloexec() -> Check {
    let [gone, kept, duped] = CLOEXEC_FDS;
    let fd = open(c"/dev/null", O_RDWR | O_CLOEXEC, 0).map_err(|_| "open")?;
    ensure(dup3(fd, gone, O_CLOEXEC) == Ok(gone), "dup3 O_CLOEXEC")?;
    ensure(dup2(fd, kept) == Ok(kept), "dup2")?;
    ensure(fcntl(kept, F_GETFD, 0) == Ok(0), "dup2 keeps FD_CLOEXEC")?;
    ensure(dup3(kept, duped, O_CLOEXEC) == Ok(duped), "dup3")?;
    let err = syscall::execve(c"/bin/filetest", &[c"filetest", c"cloexec-check"], &[]);
    let _ = err;
    Err("execve failed")
}

fn cloexec_check() -> Check {
    let [gone, kept, duped] = CLOEXEC_FDS;
    ensure(
        fcntl(gone, F_GETFD, 0) == Err(Errno(9)),
        "an O_CLOEXEC descriptor survived exec",
    )?;
    ensure(
        fcntl(duped, F_GETFD, 0) == Err(Errno(9)),
        "a dup3 O_CLOEXEC descriptor survived exec",
    )?;
    ensure(
        fcntl(kept, F_GETFD, 0) == Ok(0),
        "a plain descriptor was closed by exec",
    )?;
    ensure(
        syscall::write(kept, b"x") == Ok(1),
        "the kept descriptor does not work",
    )
}
