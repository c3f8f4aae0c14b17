//! The epoll calls: `epoll_create`, `epoll_create1`, `epoll_ctl`,
//! `epoll_wait`, `epoll_pwait`, `epoll_pwait2` (`fs/epoll.rs` has the
//! instance).
//!
//! Errors as Linux gives them: `epoll_create` with a size <= 0 and
//! `epoll_create1` with flags other than `EPOLL_CLOEXEC` `EINVAL`;
//! `epoll_ctl` on a closed `epfd` or `fd` `EBADF`, an `epfd` that is not
//! an epoll instance or equal to `fd` `EINVAL` (then the instance's own
//! errors); `epoll_wait` with `maxevents <= 0` (or more than fit in
//! `INT_MAX` bytes) or a non-epoll `epfd` `EINVAL`; a bad `events` or
//! `event` pointer `EFAULT`. A wait is interrupted by a signal (`EINTR`,
//! never restarted, as on Linux); `epoll_pwait`/`epoll_pwait2` install
//! their signal mask for the wait as `ppoll` does.

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::poll::{TemporaryMask, await_ready_exclusive, read_timespec};
use crate::fs::epoll::{EPOLL_CTL_DEL, EPOLL_EVENT_SIZE, Epoll};
use crate::fs::file::FileKind;
use crate::fs::file::oflags::{O_CLOEXEC, O_RDWR};
use crate::fs::{FileRef, OpenFile};
use crate::proc::process::Process;
use crate::vm::space::AddressSpace;
use abi::nr;
use abi::{Errno, SysResult};

/// Whether system call `n` is one of this module's.
pub fn handles(n: u64) -> bool {
    matches!(
        n,
        nr::EPOLL_CREATE
            | nr::EPOLL_CREATE1
            | nr::EPOLL_CTL
            | nr::EPOLL_WAIT
            | nr::EPOLL_PWAIT
            | nr::EPOLL_PWAIT2
    )
}

/// Runs epoll call `n` (module docs).
pub async fn call(
    process: &Arc<Process>,
    space: &AddressSpace,
    n: u64,
    [a0, a1, a2, a3, a4, a5]: [u64; 6],
) -> SysResult {
    match n {
        nr::EPOLL_CREATE => {
            if a0 as i32 <= 0 {
                return Err(Errno::EINVAL);
            }
            epoll_create1(process, 0)
        }
        nr::EPOLL_CREATE1 => epoll_create1(process, a0),
        nr::EPOLL_CTL => epoll_ctl(process, space, a0, a1, a2, a3),
        nr::EPOLL_WAIT => epoll_wait(process, space, a0, a1, a2, ms_deadline(a3)).await,
        nr::EPOLL_PWAIT | nr::EPOLL_PWAIT2 => {
            let deadline = if n == nr::EPOLL_PWAIT {
                ms_deadline(a3)
            } else if a3 == 0 {
                None
            } else {
                Some(read_timespec(space, a3)?)
            };
            let mask = TemporaryMask::install(process, space, a4, a5)?;
            let result = epoll_wait(process, space, a0, a1, a2, deadline).await;
            mask.restore(process, &result);
            result
        }
        _ => Err(Errno::ENOSYS),
    }
}

/// A timeout in milliseconds (negative: for ever) as a deadline.
fn ms_deadline(ms: u64) -> Option<u64> {
    match ms as i32 {
        t if t < 0 => None,
        t => Some(crate::task::now_ns().saturating_add(t as u64 * 1_000_000)),
    }
}

/// `epoll_create1(flags)`: `EPOLL_CLOEXEC` (`O_CLOEXEC`) or 0.
fn epoll_create1(process: &Process, flags: u64) -> SysResult {
    if flags & !u64::from(O_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let file = OpenFile::new(
        FileKind::Epoll(Epoll::new()),
        alloc::string::String::from("anon_inode:[eventpoll]"),
        O_RDWR,
    );
    let fd_flags = if flags != 0 {
        crate::fs::FdFlags::CLOEXEC
    } else {
        crate::fs::FdFlags::NONE
    };
    process
        .files()
        .insert(file, fd_flags, process.nofile())
        .map(u64::from)
}

/// The epoll instance open at `epfd`: `EBADF` closed, `EINVAL` not one.
fn epoll_at(process: &Process, epfd: u64) -> Result<FileRef, Errno> {
    let file = process.files().get(epfd)?;
    if file.epoll().is_none() {
        return Err(Errno::EINVAL);
    }
    Ok(file)
}

/// `epoll_ctl(epfd, op, fd, event)` (module docs).
fn epoll_ctl(
    process: &Process,
    space: &AddressSpace,
    epfd: u64,
    op: u64,
    fd: u64,
    event: u64,
) -> SysResult {
    let (events, data) = if op as u32 == EPOLL_CTL_DEL {
        (0, 0)
    } else {
        let mut b = [0u8; EPOLL_EVENT_SIZE];
        space.copy_from_user(event, &mut b)?;
        (
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            u64::from_le_bytes(b[4..12].try_into().unwrap_or_default()),
        )
    };
    let files = process.files();
    let ep_file = files.get(epfd)?;
    let file = files.get(fd)?;
    drop(files);
    let Some(ep) = ep_file.epoll() else {
        return Err(Errno::EINVAL);
    };
    if Arc::ptr_eq(&ep_file, &file) {
        return Err(Errno::EINVAL);
    }
    let op = u32::try_from(op).map_err(|_| Errno::EINVAL)?;
    ep.ctl(&ep_file, op, fd as i32, &file, events, data)
        .map(|()| 0)
}

/// `epoll_wait(epfd, events, maxevents, timeout)` with a deadline.
async fn epoll_wait(
    process: &Process,
    space: &AddressSpace,
    epfd: u64,
    events: u64,
    maxevents: u64,
    deadline: Option<u64>,
) -> SysResult {
    let max = maxevents as i32;
    if max <= 0 || max as usize > i32::MAX as usize / EPOLL_EVENT_SIZE {
        return Err(Errno::EINVAL);
    }
    let ep_file = epoll_at(process, epfd)?;
    let Some(ep) = ep_file.epoll() else {
        return Err(Errno::EINVAL);
    };
    loop {
        let ready = ep.collect(max as usize, true);
        if !ready.is_empty() {
            let bytes: Vec<u8> = ready
                .iter()
                .flat_map(|(ev, data)| {
                    let mut b = [0u8; EPOLL_EVENT_SIZE];
                    b[..4].copy_from_slice(&ev.to_le_bytes());
                    b[4..].copy_from_slice(&data.to_le_bytes());
                    b
                })
                .collect();
            space.copy_to_user(events, &bytes)?;
            return Ok(ready.len() as u64);
        }
        if deadline.is_some_and(|d| crate::task::now_ns() >= d) {
            return Ok(0);
        }
        // A nested epoll's files are waited on plainly; a file of this
        // instance exclusively when its interest is `EPOLLEXCLUSIVE`.
        let direct = ep.files_exclusive();
        let nested: Vec<FileRef> = direct
            .iter()
            .filter(|(f, _)| f.epoll().is_some())
            .map(|(f, _)| f.clone())
            .collect();
        let mut files = direct;
        for f in super::poll::expand(&nested) {
            if !files.iter().any(|(g, _)| Arc::ptr_eq(g, &f)) {
                files.push((f, false));
            }
        }
        await_ready_exclusive(Some(process), &files, &[ep.changed()], deadline, || {
            !ep.collect(max as usize, false).is_empty()
        })
        .await?;
    }
}
