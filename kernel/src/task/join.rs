//! [`JoinHandle`]: the result of a spawned task, as a future.

use alloc::sync::Arc;
use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, Ordering};
use core::task::{Context, Poll};
use futures_util::task::AtomicWaker;

use super::TaskId;
use super::executor::TaskRef;

/// The result slot shared by a task and its [`JoinHandle`].
pub(crate) struct JoinState<T> {
    /// Set once the result is in `result`.
    finished: AtomicBool,
    /// Plain spin lock, never taken in interrupt context (a task finishes
    /// in its executor; the handle is polled by a task). Uncontended: the
    /// writer is done with it before `finished` is set.
    result: spin::Mutex<Option<T>>,
    /// The task awaiting the handle.
    joiner: AtomicWaker,
}

impl<T> JoinState<T> {
    pub(crate) fn new() -> Self {
        Self {
            finished: AtomicBool::new(false),
            result: spin::Mutex::new(None),
            joiner: AtomicWaker::new(),
        }
    }

    /// Called once, by the task's future, with its output.
    pub(crate) fn finish(&self, value: T) {
        *self.result.lock() = Some(value);
        // Release: pairs with the Acquire loads in `JoinHandle`, so the
        // handle that sees `true` finds the value in the slot.
        self.finished.store(true, Ordering::Release);
        self.joiner.wake();
    }
}

/// Owned permission to await a task's output. `JoinHandle<T>` is a
/// `Future<Output = T>`; dropping it detaches the task, which keeps running.
/// Polling it again after it returned `Ready` panics.
#[must_use = "dropping a JoinHandle detaches the task"]
pub struct JoinHandle<T> {
    id: TaskId,
    state: Arc<JoinState<T>>,
    task: TaskRef,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(id: TaskId, state: Arc<JoinState<T>>, task: TaskRef) -> Self {
        Self { id, state, task }
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// A weak reference to the task, which outlives the handle (see
    /// [`TaskRef::is_parked`]).
    pub fn task_ref(&self) -> TaskRef {
        self.task.clone()
    }

    /// Whether the task has produced its output (awaiting the handle will
    /// not block).
    pub fn is_finished(&self) -> bool {
        // Acquire: pairs with the Release in `JoinState::finish`.
        self.state.finished.load(Ordering::Acquire)
    }

    fn take(&self) -> T {
        self.state
            .result
            .lock()
            .take()
            .expect("JoinHandle polled after it returned Ready")
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if self.is_finished() {
            return Poll::Ready(self.take());
        }
        // Register, then check again: `finish` stores the flag before it
        // wakes, and AtomicWaker guarantees that a `wake` after our
        // `register` wakes us, so either we see the flag or we are woken.
        self.state.joiner.register(cx.waker());
        if self.is_finished() {
            Poll::Ready(self.take())
        } else {
            Poll::Pending
        }
    }
}

impl<T> core::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id)
            .field("finished", &self.is_finished())
            .finish()
    }
}
