//! [`YieldNow`]: let the other tasks of this CPU run.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

/// Returned by [`super::yield_now()`]: pending once, after waking its own
/// task, so the executor puts the task at the back of its run queue (and an
/// idle CPU may steal it meanwhile); ready on the next poll.
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl YieldNow {
    pub(crate) fn new() -> Self {
        Self { yielded: false }
    }
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        // The task is RUNNING, so this wake only marks it; the executor
        // re-queues it when this poll returns.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
