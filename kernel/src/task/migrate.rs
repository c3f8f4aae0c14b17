//! [`Migrate`]: move the current task to another CPU, pinned there or not.
//!
//! Returned by [`super::migrate()`]. The first poll leaves a request in the
//! calling CPU's executor (`Scheduler::request_migration`), wakes its own
//! task and returns pending; when the poll returns, the executor sees the
//! request, sets the task's home CPU and its pinned flag (it holds the
//! task popped, the only time those may change) and re-queues it, on the
//! new home's queue. The second poll, on the new home, completes. A
//! pinned task stays there: thieves never look at pinned queues and its
//! wakers push to its home. This is what `sched_setaffinity` needs.
//!
//! Awaited outside a task of the scheduler (a host test's `block_on`
//! thread), it completes at once without moving anything.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

/// See the module docs.
#[must_use = "futures do nothing unless awaited"]
pub struct Migrate {
    cpu: usize,
    pinned: bool,
    asked: bool,
}

impl Migrate {
    pub(crate) fn new(cpu: usize, pinned: bool) -> Self {
        Self {
            cpu,
            pinned,
            asked: false,
        }
    }
}

impl Future for Migrate {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.asked {
            return Poll::Ready(());
        }
        self.asked = true;
        if !super::scheduler().request_migration(self.cpu, self.pinned) {
            return Poll::Ready(());
        }
        // The task is RUNNING: this only marks it, and the executor
        // re-queues it (at its new home) when the poll returns.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
