//! The benchmark cases. Each measures one operation with the harness; the
//! figures are per operation (per wake for the wake→poll cases).

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::future::Future;
use core::hint::black_box;
use core::sync::atomic::{AtomicU64, Ordering};
use core::task::Poll;

use futures_util::task::AtomicWaker;

use kernel::task::{self, Builder, Event};

use crate::harness::{measure, measure_async};

// ---- memory ----

crate::bench_case!(FRAME_ALLOC_FREE, "frame_alloc_free", async {
    Ok(measure(|| {
        let f = arch::mm::Frame::alloc().expect("frame");
        black_box(f.paddr());
    }))
});

crate::bench_case!(HEAP_ALLOC_FREE_64, "heap_alloc_free_64", async {
    Ok(measure(|| {
        black_box(Box::new([0u8; 64]));
    }))
});

crate::bench_case!(HEAP_ALLOC_FREE_4K, "heap_alloc_free_4k", async {
    Ok(measure(|| {
        black_box(Vec::<u8>::with_capacity(4096));
    }))
});

// ---- executor ----

crate::bench_case!(TASK_SPAWN_COMPLETE, "task_spawn_complete", async {
    let cpu = arch::cpu::id();
    Ok(measure_async(|| async move {
        Builder::new().cpu(cpu).pinned().spawn(async {}).await;
    })
    .await)
});

crate::bench_case!(TASK_YIELD, "task_yield", async {
    Ok(measure_async(task::yield_now).await)
});

/// Half a ping-pong round trip between this task and a partner pinned to
/// `partner_cpu` through two [`Event`]s: one `notify_one` to the woken
/// task's poll, wait-queue included.
async fn event_wake_to_poll(partner_cpu: usize) -> crate::BenchReport {
    const STOP: u64 = u64::MAX; // odd: the partner sees it as a ping
    let ball = Arc::new(AtomicU64::new(0));
    let (ping, pong) = (Arc::new(Event::new()), Arc::new(Event::new()));
    let partner = {
        let (ball, ping, pong) = (ball.clone(), ping.clone(), pong.clone());
        Builder::new().cpu(partner_cpu).pinned().spawn(async move {
            loop {
                // Acquire: pairs with the Release of the pinger's fetch_add.
                ping.wait_until(|| ball.load(Ordering::Acquire) % 2 == 1)
                    .await;
                let v = ball.load(Ordering::Acquire);
                if v == STOP {
                    break;
                }
                ball.store(v + 1, Ordering::Release);
                pong.notify_one();
            }
        })
    };
    let (b, pi, po) = (&*ball, &*ping, &*pong);
    let mut r = measure_async(move || async move {
        let v = b.fetch_add(1, Ordering::AcqRel) + 1;
        pi.notify_one();
        po.wait_until(|| b.load(Ordering::Acquire) == v + 1).await;
    })
    .await;
    ball.store(STOP, Ordering::Release);
    ping.notify_one();
    partner.await;
    r.median_ns /= 2.0;
    r.p99_ns /= 2.0;
    r.iters *= 2;
    r
}

crate::bench_case!(EVENT_WAKE_SAME_CPU, "event_wake_poll_same_cpu", async {
    Ok(event_wake_to_poll(arch::cpu::id()).await)
});

crate::bench_case!(EVENT_WAKE_CROSS_CPU, "event_wake_poll_cross_cpu", async {
    if task::ncpus() < 2 {
        return Err("needs two CPUs".into());
    }
    Ok(event_wake_to_poll((arch::cpu::id() + 1) % task::ncpus()).await)
});

/// Waits until `ball` holds `want`, registering with `waker` first so a
/// wake between the check and the registration is not lost.
fn wait_for<'a>(
    ball: &'a AtomicU64,
    waker: &'a AtomicWaker,
    want: impl Fn(u64) -> bool + 'a,
) -> impl Future<Output = u64> + 'a {
    core::future::poll_fn(move |cx| {
        waker.register(cx.waker());
        // Acquire: pairs with the Release store of the other side.
        let v = ball.load(Ordering::Acquire);
        if want(v) {
            Poll::Ready(v)
        } else {
            Poll::Pending
        }
    })
}

/// Half a ping-pong round trip where each side wakes the other's stored
/// waker directly: the executor's own wake → poll path (push onto the run
/// queue, IPI or not, pop, poll), without a wait queue around it.
async fn waker_wake_to_poll(partner_cpu: usize) -> crate::BenchReport {
    const STOP: u64 = u64::MAX;
    let ball = Arc::new(AtomicU64::new(0));
    let (to_partner, to_bench) = (Arc::new(AtomicWaker::new()), Arc::new(AtomicWaker::new()));
    let partner = {
        let (ball, to_partner, to_bench) = (ball.clone(), to_partner.clone(), to_bench.clone());
        Builder::new().cpu(partner_cpu).pinned().spawn(async move {
            loop {
                let v = wait_for(&ball, &to_partner, |v| v % 2 == 1).await;
                if v == STOP {
                    break;
                }
                ball.store(v + 1, Ordering::Release);
                to_bench.wake();
            }
        })
    };
    let (b, tp, tb) = (&*ball, &*to_partner, &*to_bench);
    let mut r = measure_async(move || async move {
        let v = b.load(Ordering::Relaxed) + 1;
        b.store(v, Ordering::Release);
        tp.wake();
        wait_for(b, tb, |now| now == v + 1).await;
    })
    .await;
    ball.store(STOP, Ordering::Release);
    to_partner.wake();
    partner.await;
    r.median_ns /= 2.0;
    r.p99_ns /= 2.0;
    r.iters *= 2;
    r
}

crate::bench_case!(WAKE_POLL_SAME_CPU, "wake_poll_same_cpu", async {
    Ok(waker_wake_to_poll(arch::cpu::id()).await)
});

crate::bench_case!(WAKE_POLL_CROSS_CPU, "wake_poll_cross_cpu", async {
    if task::ncpus() < 2 {
        return Err("needs two CPUs".into());
    }
    Ok(waker_wake_to_poll((arch::cpu::id() + 1) % task::ncpus()).await)
});
