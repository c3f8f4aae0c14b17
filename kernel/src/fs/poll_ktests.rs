//! In-kernel tests of readiness: the files' `poll` masks and event
//! sources, and `syscall::poll::await_ready` (the await behind `poll`,
//! `select` and `epoll_wait`) woken across CPUs, timing out, and leaving
//! no waiter behind.

use alloc::format;
use alloc::vec::Vec;

use super::file::FileKind;
use super::file::oflags::{O_NONBLOCK, O_RDWR};
use super::poll::*;
use super::{FileRef, OpenFile};
use crate::syscall::poll::await_ready;
use crate::{kassert, kassert_eq, ktest};
use abi::Errno;

/// A watchdog deadline: far enough that only a lost wake-up reaches it.
fn watchdog() -> Option<u64> {
    Some(crate::task::now_ns() + 20_000_000_000)
}

fn eventfd(initval: u32, status: u32) -> FileRef {
    OpenFile::new(
        FileKind::EventFd(super::eventfd::EventFd::new(initval, false)),
        alloc::string::String::new(),
        O_RDWR | status,
    )
}

ktest!(
    async fn poll_masks_follow_pipe_ends_and_eventfd_counters() {
        let (r, w) = OpenFile::pipe(0);
        kassert_eq!(r.poll_mask(), 0, "empty read end");
        kassert_eq!(w.poll_mask(), POLLOUT | POLLWRNORM);
        w.write(b"abc").await.map_err(|e| format!("{e}"))?;
        kassert_eq!(r.poll_mask(), POLLIN | POLLRDNORM);
        drop(w);
        kassert_eq!(
            r.poll_mask(),
            POLLIN | POLLRDNORM | POLLHUP,
            "bytes and no writer"
        );
        let (r2, w2) = OpenFile::pipe(0);
        drop(r2);
        kassert_eq!(w2.poll_mask(), POLLOUT | POLLWRNORM | POLLERR, "no reader");
        let e = eventfd(0, O_NONBLOCK);
        kassert_eq!(e.poll_mask(), POLLOUT | POLLWRNORM);
        e.write(&5u64.to_ne_bytes())
            .await
            .map_err(|err| format!("{err}"))?;
        kassert_eq!(e.poll_mask(), POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM);
        let mut b = [0u8; 8];
        kassert_eq!(e.read(&mut b).await, Ok(8));
        kassert_eq!(u64::from_ne_bytes(b), 5);
        kassert_eq!(e.read(&mut b).await, Err(Errno::EAGAIN));
        kassert!(OpenFile::console().poll_mask() & POLLOUT != 0);
        Ok(())
    }
);

ktest!(
    async fn await_ready_wakes_when_another_cpu_writes_and_leaves_no_waiter() {
        let cpus = crate::task::ncpus();
        for round in 0..20 {
            let (r, w) = OpenFile::pipe(0);
            let (r_other, _w_other) = OpenFile::pipe(0);
            let e = eventfd(0, 0);
            let files: Vec<FileRef> = alloc::vec![r_other.clone(), r.clone(), e.clone()];
            let writer = crate::task::spawn_on((round + 1) % cpus, async move {
                crate::task::yield_now().await;
                w.write(b"x").await
            });
            await_ready(None, &files, &[], watchdog(), || {
                files.iter().any(|f| f.poll_mask() & POLLIN != 0)
            })
            .await
            .map_err(|err| format!("await_ready: {err}"))?;
            kassert_eq!(writer.await, Ok(1));
            kassert!(
                r.poll_mask() & POLLIN != 0,
                "round {round}: woken before the byte arrived"
            );
            for f in &files {
                let waiters = f.poll_sources().map_or(0, |s| s.waiters());
                kassert_eq!(waiters, 0, "round {round}: a waiter was left queued");
            }
        }
        Ok(())
    }
);

ktest!(
    async fn await_ready_times_out_when_nothing_becomes_ready() {
        let (r, _w) = OpenFile::pipe(0);
        let files = alloc::vec![r.clone()];
        let deadline = crate::task::now_ns() + 20_000_000;
        await_ready(None, &files, &[], Some(deadline), || r.poll_mask() != 0)
            .await
            .map_err(|e| format!("{e}"))?;
        kassert!(
            crate::task::now_ns() >= deadline,
            "returned before the deadline"
        );
        kassert_eq!(r.poll_mask(), 0);
        kassert_eq!(r.poll_sources().map(|s| s.waiters()), Some(0));
        Ok(())
    }
);

ktest!(
    async fn a_blocking_eventfd_read_is_woken_by_a_write_on_another_cpu() {
        let cpus = crate::task::ncpus();
        let e = eventfd(0, 0);
        let writer_end = e.clone();
        let reader = crate::task::spawn_on(0, async move {
            let mut b = [0u8; 8];
            e.read(&mut b).await.map(|_| u64::from_ne_bytes(b))
        });
        let writer = crate::task::spawn_on(1 % cpus, async move {
            crate::task::yield_now().await;
            writer_end.write(&7u64.to_ne_bytes()).await
        });
        kassert_eq!(writer.await, Ok(8));
        kassert_eq!(reader.await, Ok(7));
        Ok(())
    }
);

fn epoll_file() -> FileRef {
    OpenFile::new(
        FileKind::Epoll(super::epoll::Epoll::new()),
        alloc::string::String::new(),
        O_RDWR,
    )
}

ktest!(
    async fn epoll_reports_level_edge_and_oneshot_interests_as_linux_does() {
        use super::epoll::*;
        let ep_file = epoll_file();
        let ep = ep_file.epoll().ok_or("not an epoll")?;
        let (r, w) = OpenFile::pipe(0);
        let (r2, w2) = OpenFile::pipe(0);
        let (r3, w3) = OpenFile::pipe(0);
        kassert_eq!(ep.ctl(&ep_file, EPOLL_CTL_ADD, 3, &r, POLLIN, 1), Ok(()));
        kassert_eq!(
            ep.ctl(&ep_file, EPOLL_CTL_ADD, 3, &r, POLLIN, 1),
            Err(Errno::EEXIST)
        );
        kassert_eq!(
            ep.ctl(&ep_file, EPOLL_CTL_MOD, 4, &r2, POLLIN, 2),
            Err(Errno::ENOENT)
        );
        kassert_eq!(ep.ctl(&ep_file, 9, 3, &r, POLLIN, 1), Err(Errno::EINVAL));
        kassert_eq!(
            ep.ctl(&ep_file, EPOLL_CTL_ADD, 4, &r2, POLLIN | EPOLLET, 2),
            Ok(())
        );
        kassert_eq!(
            ep.ctl(&ep_file, EPOLL_CTL_ADD, 5, &r3, POLLIN | EPOLLONESHOT, 3),
            Ok(())
        );
        // An always-ready file cannot be watched; an epoll cannot watch
        // itself.
        let tmp = OpenFile::new(
            FileKind::Mem(super::vfs::Device::Null),
            alloc::string::String::new(),
            O_RDWR,
        );
        kassert_eq!(
            ep.ctl(&ep_file, EPOLL_CTL_ADD, 6, &tmp, POLLIN, 0),
            Err(Errno::EPERM)
        );
        kassert_eq!(
            ep.ctl(&ep_file, EPOLL_CTL_ADD, 7, &ep_file, POLLIN, 0),
            Err(Errno::ELOOP)
        );
        kassert!(ep.collect(8, true).is_empty(), "nothing ready");
        kassert_eq!(ep_file.poll_mask(), 0);
        for end in [&w, &w2, &w3] {
            end.write(b"a").await.map_err(|e| format!("{e}"))?;
        }
        kassert_eq!(ep_file.poll_mask(), POLLIN | POLLRDNORM);
        let first = ep.collect(8, true);
        kassert_eq!(first.len(), 3, "all three: {first:?}");
        // Level: again; edge: not without new activity; one-shot: disarmed.
        let again = ep.collect(8, true);
        kassert_eq!(again, alloc::vec![(POLLIN, 1)]);
        w2.write(b"b").await.map_err(|e| format!("{e}"))?;
        let more = ep.collect(8, true);
        kassert!(
            more.contains(&(POLLIN, 2)),
            "the edge after new bytes: {more:?}"
        );
        kassert!(
            !more.iter().any(|&(_, d)| d == 3),
            "one-shot stays disarmed"
        );
        kassert_eq!(
            ep.ctl(&ep_file, EPOLL_CTL_MOD, 5, &r3, POLLIN | EPOLLONESHOT, 3),
            Ok(())
        );
        kassert!(
            ep.collect(8, true).contains(&(POLLIN, 3)),
            "re-armed by MOD"
        );
        // The last writer gone: POLLHUP is reported unasked.
        drop(w);
        kassert!(ep.collect(8, true).contains(&(POLLIN | POLLHUP, 1)));
        // maxevents bounds the report; DEL removes.
        kassert_eq!(ep.collect(1, false).len(), 1);
        kassert_eq!(ep.ctl(&ep_file, EPOLL_CTL_DEL, 3, &r, 0, 0), Ok(()));
        kassert!(!ep.collect(8, true).iter().any(|&(_, d)| d == 1));
        // A file closed everywhere leaves the interest list.
        drop(r2);
        drop(w2);
        kassert_eq!(ep.files().len(), 1, "only r3 is left");
        Ok(())
    }
);

ktest!(
    async fn a_wait_on_an_epoll_instance_wakes_when_a_watched_pipe_is_written() {
        use super::epoll::*;
        let cpus = crate::task::ncpus();
        for round in 0..10 {
            let ep_file = epoll_file();
            let ep = ep_file.epoll().ok_or("not an epoll")?;
            let (r, w) = OpenFile::pipe(0);
            kassert_eq!(ep.ctl(&ep_file, EPOLL_CTL_ADD, 3, &r, POLLIN, 9), Ok(()));
            // Nested: a second instance watching the first.
            let outer_file = epoll_file();
            let outer = outer_file.epoll().ok_or("not an epoll")?;
            kassert_eq!(
                outer.ctl(&outer_file, EPOLL_CTL_ADD, 4, &ep_file, POLLIN, 8),
                Ok(())
            );
            kassert_eq!(
                ep.ctl(&ep_file, EPOLL_CTL_ADD, 5, &outer_file, POLLIN, 0),
                Err(Errno::ELOOP)
            );
            let writer = crate::task::spawn_on((round + 1) % cpus, async move {
                crate::task::yield_now().await;
                w.write(b"x").await
            });
            let files = crate::syscall::poll::expand(core::slice::from_ref(&outer_file));
            kassert_eq!(files.len(), 3, "outer, inner and the pipe");
            await_ready(None, &files, &[], watchdog(), || {
                !outer.collect(1, false).is_empty()
            })
            .await
            .map_err(|e| format!("{e}"))?;
            kassert_eq!(writer.await, Ok(1));
            kassert_eq!(outer.collect(4, true), alloc::vec![(POLLIN, 8)]);
            // The writer task dropped the write end: POLLHUP too.
            kassert_eq!(ep.collect(4, true), alloc::vec![(POLLIN | POLLHUP, 9)]);
            for f in &files {
                kassert_eq!(f.poll_sources().map_or(0, |s| s.waiters()), 0);
            }
        }
        Ok(())
    }
);
