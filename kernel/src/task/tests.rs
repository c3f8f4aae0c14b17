//! Host tests of the executors, on simulated machines ([`HostMachine`]).
//! No timing assertions beyond ordering: the 60 s bounds are watchdogs that
//! turn a hang (a lost wakeup) into a failure.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};
use std::vec::Vec;

use futures_util::task::noop_waker;

use super::host::{HostMachine, HostPlatform};
use super::{Builder, Event, Scheduler};

const WATCHDOG: Duration = Duration::from_secs(60);

/// Spins (blocking the calling thread, or the CPU if called in a task)
/// until `cond` holds.
fn spin_until(what: &str, cond: impl Fn() -> bool) {
    let limit = Instant::now() + WATCHDOG;
    while !cond() {
        assert!(Instant::now() < limit, "timed out waiting for {what}");
        thread::sleep(Duration::from_micros(50));
    }
}

fn total(sched: &Scheduler, f: impl Fn(super::CpuStats) -> u64) -> u64 {
    (0..sched.ncpus()).map(|cpu| f(sched.stats(cpu))).sum()
}

/// Polls `fut` once, by hand, with a waker that does nothing.
fn poll_once<F: core::future::Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    let waker = noop_waker();
    core::pin::Pin::new(fut).poll(&mut Context::from_waker(&waker))
}

#[test]
fn ten_thousand_tasks_on_four_cpus_all_complete() {
    const N: u64 = 10_000;
    let m = HostMachine::start(4);
    let sched = m.scheduler;
    let handles: Vec<_> = (0..N)
        .map(|i| {
            sched.spawn(async move {
                super::yield_now().await;
                i
            })
        })
        .collect();
    let sum: u64 = handles.into_iter().map(|h| m.block_on(h)).sum();
    assert_eq!(sum, N * (N - 1) / 2);
    assert_eq!(total(sched, |s| s.spawned), N);
    // The counters are bumped just after the output is delivered.
    spin_until("completion counters", || {
        total(sched, |s| s.completed) == N && total(sched, |s| s.live as u64) == 0
    });
    for cpu in 0..4 {
        let s = sched.stats(cpu);
        assert!(s.spawned > 0, "cpu {cpu} got no task: {s:?}");
    }
    m.shutdown();
}

#[test]
fn join_handle_returns_the_value() {
    let m = HostMachine::start(2);
    let sched = m.scheduler;
    let answer = sched.spawn(async { 6 * 7 });
    let id = answer.id();
    assert_eq!(m.block_on(answer), 42);
    // Awaited from another task, with a non-Copy output.
    let outer = sched.spawn(async {
        let inner = super::spawn(async {
            super::yield_now().await;
            std::string::String::from("tine")
        });
        let s = inner.await;
        s.len()
    });
    assert_ne!(outer.id(), id);
    assert_eq!(m.block_on(outer), 4);
    // is_finished turns true by itself, without awaiting.
    let quick = sched.spawn(async { 1 });
    spin_until("is_finished", || quick.is_finished());
    assert_eq!(m.block_on(quick), 1);
}

#[test]
fn cross_cpu_wake_ends_the_halt_of_the_home_cpu() {
    // CPU 0: a task waits on an event and CPU 0 halts. CPU 1: a task
    // notifies, then keeps CPU 1 busy until the waiter has run, so CPU 1
    // cannot steal it: only an IPI to the halted CPU lets the test end.
    let m = HostMachine::start(2);
    let sched = m.scheduler;
    let ev = Arc::new(Event::new());
    let flag = Arc::new(AtomicBool::new(false));
    let resumed = Arc::new(AtomicBool::new(false));
    let waiter = {
        let (ev, flag, resumed) = (ev.clone(), flag.clone(), resumed.clone());
        sched.spawn_on(0, async move {
            ev.wait_until(|| flag.load(Ordering::Acquire)).await;
            resumed.store(true, Ordering::Release);
            super::scheduler().current_cpu().unwrap()
        })
    };
    spin_until("the waiter to queue", || ev.waiters() == 1);
    let notifier = {
        let (ev, flag, resumed) = (ev.clone(), flag.clone(), resumed.clone());
        sched.spawn_on(1, async move {
            let me = super::scheduler().current_cpu().unwrap();
            let other = 1 - me;
            spin_until("the other CPU to halt", || sched.stats(other).idle);
            flag.store(true, Ordering::Release);
            assert!(ev.notify_one());
            spin_until("the waiter to run", || resumed.load(Ordering::Acquire));
            me
        })
    };
    let woke_on = m.block_on(waiter);
    let notified_from = m.block_on(notifier);
    assert_ne!(woke_on, notified_from, "the waiter ran on the busy CPU");
    assert!(sched.stats(woke_on).ipis >= 1);
}

#[test]
fn sleeps_complete_in_deadline_order_and_never_early() {
    // One CPU: the order comes from the timer heap, not from thread
    // scheduling on the host.
    let m = HostMachine::start(1);
    let sched = m.scheduler;
    let order = Arc::new(Mutex::new(Vec::new()));
    let handles: Vec<_> = [30u64, 10, 20]
        .into_iter()
        .map(|ms| {
            let order = order.clone();
            sched.spawn_on(0, async move {
                let start = super::now_ns();
                super::sleep(Duration::from_millis(ms)).await;
                let slept = super::now_ns() - start;
                order.lock().unwrap().push(ms);
                assert!(slept >= ms * 1_000_000, "woke early: {slept} ns < {ms} ms");
            })
        })
        .collect();
    for h in handles {
        m.block_on(h);
    }
    assert_eq!(*order.lock().unwrap(), [10, 20, 30]);
    m.shutdown();
    // And across CPUs, through sleep_until with one shared clock.
    let m = HostMachine::start(4);
    let sched = m.scheduler;
    let base = sched.now_ns() + 5_000_000;
    let tasks: Vec<_> = (0..8u64)
        .map(|i| {
            sched.spawn(async move {
                let deadline = base + i * 1_000_000;
                super::sleep_until(deadline).await;
                assert!(super::now_ns() >= deadline);
            })
        })
        .collect();
    for t in tasks {
        m.block_on(t);
    }
}

#[test]
fn event_notify_one_wakes_the_oldest_waiter_only() {
    let ev = Event::new();
    let mut a = ev.wait();
    let mut b = ev.wait();
    let mut c = ev.wait();
    for w in [&mut a, &mut b, &mut c] {
        assert!(poll_once(w).is_pending());
    }
    assert_eq!(ev.waiters(), 3);
    assert!(ev.notify_one());
    assert!(poll_once(&mut b).is_pending());
    assert!(poll_once(&mut c).is_pending());
    assert!(poll_once(&mut a).is_ready());
    assert_eq!(ev.waiters(), 2);
    assert!(ev.notify_one());
    assert!(poll_once(&mut b).is_ready());
    assert!(poll_once(&mut c).is_pending());
}

#[test]
fn event_notify_all_wakes_every_queued_waiter_but_not_later_ones() {
    let ev = Event::new();
    let mut early: Vec<_> = (0..5).map(|_| ev.wait()).collect();
    for w in &mut early {
        assert!(poll_once(w).is_pending());
    }
    assert_eq!(ev.notify_all(), 5);
    let mut late = ev.wait();
    assert!(poll_once(&mut late).is_pending());
    for w in &mut early {
        assert!(poll_once(w).is_ready());
    }
    assert!(poll_once(&mut late).is_pending());
    assert_eq!(ev.waiters(), 1);
}

#[test]
fn event_notify_without_waiters_is_not_remembered() {
    let ev = Event::new();
    assert!(!ev.notify_one());
    assert_eq!(ev.notify_all(), 0);
    let mut w = ev.wait();
    assert!(poll_once(&mut w).is_pending());
    assert!(poll_once(&mut w).is_pending());
}

#[test]
fn event_cancelled_waiter_passes_notify_one_on() {
    // Regression guard: a waiter picked by notify_one and then dropped
    // before it saw the notification must not swallow it.
    let ev = Event::new();
    let mut a = ev.wait();
    let mut b = ev.wait();
    assert!(poll_once(&mut a).is_pending());
    assert!(poll_once(&mut b).is_pending());
    assert!(ev.notify_one()); // picks a
    drop(a);
    assert!(
        poll_once(&mut b).is_ready(),
        "b did not inherit a's wake-up"
    );
    // A cancelled waiter that was not picked just leaves.
    let mut c = ev.wait();
    let mut d = ev.wait();
    assert!(poll_once(&mut c).is_pending());
    assert!(poll_once(&mut d).is_pending());
    drop(c);
    assert_eq!(ev.waiters(), 1);
    assert!(ev.notify_one());
    assert!(poll_once(&mut d).is_ready());
    // Swept by notify_all, then dropped: nothing to pass on.
    let mut e = ev.wait();
    let mut f = ev.wait();
    assert!(poll_once(&mut e).is_pending());
    assert_eq!(ev.notify_all(), 1);
    assert!(poll_once(&mut f).is_pending());
    drop(e);
    assert!(poll_once(&mut f).is_pending());
}

#[test]
fn event_wait_until_checks_after_queueing() {
    let ev = Event::new();
    let flag = AtomicBool::new(false);
    let mut w = ev.wait_until(|| flag.load(Ordering::Acquire));
    assert!(poll_once(&mut w).is_pending());
    assert_eq!(ev.waiters(), 1);
    // Condition true but no notify: a re-poll sees it and leaves the queue.
    flag.store(true, Ordering::Release);
    assert!(poll_once(&mut w).is_ready());
    assert_eq!(ev.waiters(), 0);
    // Fast path: already true, never queued.
    let mut w2 = ev.wait_until(|| true);
    assert!(poll_once(&mut w2).is_ready());
    assert_eq!(ev.waiters(), 0);
}

#[test]
fn event_ping_pong_has_no_lost_wakeups() {
    // Two tasks on different CPUs hand a token back and forth through two
    // events, racing notify against wait every round; a lost wakeup hangs
    // the pair and trips the watchdog.
    const ROUNDS: usize = 20_000;
    let m = HostMachine::start(4);
    let sched = m.scheduler;
    let turn = Arc::new(AtomicUsize::new(0));
    let events = Arc::new([Event::new(), Event::new()]);
    let players: Vec<_> = (0..2)
        .map(|me| {
            let (turn, events) = (turn.clone(), events.clone());
            sched.spawn_on(me, async move {
                for round in 0..ROUNDS {
                    let mine = 2 * round + me;
                    events[me]
                        .wait_until(|| turn.load(Ordering::Acquire) == mine)
                        .await;
                    turn.store(mine + 1, Ordering::Release);
                    events[1 - me].notify_one();
                }
            })
        })
        .collect();
    for p in players {
        m.block_on(p);
    }
    assert_eq!(turn.load(Ordering::Relaxed), 2 * ROUNDS);
}

#[test]
fn event_notify_all_stress_releases_every_waiter_every_round() {
    // Rounds of: W waiters (spread over 4 CPUs) wait for `round`, one
    // coordinator bumps it and notifies all, then waits for all W to check in.
    const ROUNDS: usize = 500;
    const WAITERS: usize = 16;
    let m = HostMachine::start(4);
    let sched = m.scheduler;
    let round = Arc::new(AtomicUsize::new(0));
    let arrived = Arc::new(AtomicUsize::new(0));
    let go = Arc::new(Event::new());
    let back = Arc::new(Event::new());
    let waiters: Vec<_> = (0..WAITERS)
        .map(|_| {
            let (round, arrived, go, back) =
                (round.clone(), arrived.clone(), go.clone(), back.clone());
            sched.spawn(async move {
                for r in 1..=ROUNDS {
                    go.wait_until(|| round.load(Ordering::Acquire) >= r).await;
                    arrived.fetch_add(1, Ordering::AcqRel);
                    back.notify_one();
                }
            })
        })
        .collect();
    let coordinator = {
        let (round, arrived, go, back) = (round.clone(), arrived.clone(), go.clone(), back.clone());
        sched.spawn(async move {
            for r in 1..=ROUNDS {
                round.store(r, Ordering::Release);
                go.notify_all();
                back.wait_until(|| arrived.load(Ordering::Acquire) == r * WAITERS)
                    .await;
            }
        })
    };
    m.block_on(coordinator);
    for w in waiters {
        m.block_on(w);
    }
    assert_eq!(arrived.load(Ordering::Relaxed), ROUNDS * WAITERS);
}

#[test]
fn idle_cpu_steals_a_task_its_busy_home_cpu_cannot_run() {
    // One CPU is stuck in a long poll; a task queued on that CPU can only
    // run if the other CPU steals it. The thief becomes its home: the
    // task's own wake-up (yield_now) goes to the thief's queue, so the thief
    // steals exactly once.
    let m = HostMachine::start(2);
    let sched = m.scheduler;
    let blocked_cpu = Arc::new(AtomicUsize::new(usize::MAX));
    let finished = Arc::new(AtomicBool::new(false));
    let blocker = {
        let (blocked_cpu, finished) = (blocked_cpu.clone(), finished.clone());
        sched.spawn_on(0, async move {
            let me = super::scheduler().current_cpu().unwrap();
            blocked_cpu.store(me, Ordering::Release);
            spin_until("the stolen task", || finished.load(Ordering::Acquire));
        })
    };
    spin_until("the blocker", || blocked_cpu.load(Ordering::Acquire) < 2);
    // (Usually CPU 0; CPU 1 if it was awake first and stole the blocker.)
    let busy = blocked_cpu.load(Ordering::Acquire);
    let thief = 1 - busy;
    let stolen_before = sched.stats(thief).stolen;
    let victim = {
        let finished = finished.clone();
        sched.spawn_on(busy, async move {
            let first = super::scheduler().current_cpu().unwrap();
            super::yield_now().await;
            let second = super::scheduler().current_cpu().unwrap();
            finished.store(true, Ordering::Release);
            (first, second)
        })
    };
    let (first, second) = m.block_on(victim);
    m.block_on(blocker);
    assert_eq!((first, second), (thief, thief));
    assert_eq!(
        sched.stats(thief).stolen - stolen_before,
        1,
        "the wake-up went to the old home"
    );
    assert_eq!(sched.stats(0).spawned + sched.stats(1).spawned, 2);
}

#[test]
fn flooded_cpu_gets_its_work_stolen() {
    // Everything is spawned on one CPU, whose first task hogs it until half
    // the flood is done: the other CPUs must steal at least that half.
    const N: usize = 2_000;
    let m = HostMachine::start(4);
    let sched = m.scheduler;
    let done = Arc::new(AtomicUsize::new(0));
    let hog_cpu = Arc::new(AtomicUsize::new(usize::MAX));
    let hog = {
        let (done, hog_cpu) = (done.clone(), hog_cpu.clone());
        sched.spawn_on(0, async move {
            let me = super::scheduler().current_cpu().unwrap();
            hog_cpu.store(me, Ordering::Release);
            spin_until("half the flood", || done.load(Ordering::Acquire) >= N / 2);
        })
    };
    spin_until("the hog", || hog_cpu.load(Ordering::Acquire) < 4);
    // (Usually CPU 0, unless another CPU was awake first and stole the hog.)
    let busy = hog_cpu.load(Ordering::Acquire);
    let stolen_before = total(sched, |s| s.stolen);
    let flood: Vec<_> = (0..N)
        .map(|_| {
            let done = done.clone();
            sched.spawn_on(busy, async move {
                super::yield_now().await;
                done.fetch_add(1, Ordering::AcqRel);
            })
        })
        .collect();
    for t in flood {
        m.block_on(t);
    }
    m.block_on(hog);
    let stolen = total(sched, |s| s.stolen) - stolen_before;
    assert!(stolen >= (N / 2) as u64, "only {stolen} steals");
    let elsewhere: u64 = (0..4)
        .filter(|&cpu| cpu != busy)
        .map(|cpu| sched.stats(cpu).completed)
        .sum();
    assert!(elsewhere >= (N / 2) as u64, "{elsewhere} done elsewhere");
}

#[test]
fn yield_now_lets_the_other_tasks_of_the_cpu_run() {
    // One CPU, so no stealing: without yield_now the spinner would never
    // let the setter run.
    let m = HostMachine::start(1);
    let sched = m.scheduler;
    let flag = Arc::new(AtomicBool::new(false));
    let spinner = {
        let flag = flag.clone();
        sched.spawn_on(0, async move {
            let mut yields = 0u64;
            while !flag.load(Ordering::Acquire) {
                super::yield_now().await;
                yields += 1;
            }
            yields
        })
    };
    let setter = {
        let flag = flag.clone();
        sched.spawn_on(0, async move { flag.store(true, Ordering::Release) })
    };
    m.block_on(setter);
    assert!(m.block_on(spinner) >= 1);
    // Round robin: two yielding tasks interleave strictly. They are spawned
    // from one task, so neither runs before both are queued.
    let log = Arc::new(Mutex::new(Vec::new()));
    let parent = {
        let log = log.clone();
        sched.spawn_on(0, async move {
            ['a', 'b'].map(|name| {
                let log = log.clone();
                Builder::new().name("interleave").cpu(0).spawn(async move {
                    for _ in 0..3 {
                        log.lock().unwrap().push(name);
                        super::yield_now().await;
                    }
                })
            })
        })
    };
    for t in m.block_on(parent) {
        m.block_on(t);
    }
    assert_eq!(*log.lock().unwrap(), ['a', 'b', 'a', 'b', 'a', 'b']);
}

#[test]
fn shutdown_stops_every_executor() {
    let m = HostMachine::start(3);
    let sched = m.scheduler;
    // A sleeper that will never be woken in time: shutdown must not wait
    // for it.
    let _sleeper = sched.spawn(async {
        super::sleep(Duration::from_secs(3600)).await;
    });
    m.shutdown();
    assert!(sched.is_shut_down());
}

#[test]
fn global_init_and_free_functions() {
    // The only test that touches the kernel's global scheduler.
    let platform: &'static HostPlatform =
        std::boxed::Box::leak(std::boxed::Box::new(HostPlatform::new(2)));
    super::init(platform, 2);
    super::init(platform, 5); // ignored
    assert_eq!(super::ncpus(), 2);
    for cpu in 0..2 {
        thread::spawn(move || {
            platform.become_cpu(cpu);
            super::run_cpu();
        });
    }
    let h = super::spawn(async {
        super::sleep(Duration::from_millis(1)).await;
        let child = super::spawn_on(1, async { 20 });
        let other = Builder::new().name("named").spawn(async { 22 });
        child.await + other.await
    });
    let out = super::host::block_on_timeout(h, WATCHDOG).expect("global scheduler hung");
    assert_eq!(out, 42);
    assert_eq!(super::stats(1).spawned + super::stats(0).spawned, 3);
    super::scheduler().shutdown();
}

#[test]
fn pinned_tasks_are_never_stolen() {
    // CPU 0 is hogged; the unpinned tasks queued behind the hog are stolen
    // and finish elsewhere, the pinned ones wait for CPU 0 and run there.
    const N: usize = 200;
    let m = HostMachine::start(4);
    let sched = m.scheduler;
    let release = Arc::new(AtomicUsize::new(0));
    let on_cpu0 = Arc::new(AtomicUsize::new(usize::MAX));
    let hog = {
        let (release, on_cpu0) = (release.clone(), on_cpu0.clone());
        super::Builder::new()
            .cpu(0)
            .pinned()
            .spawn_in(sched, async move {
                on_cpu0.store(super::scheduler().current_cpu().unwrap(), Ordering::Release);
                spin_until("release", || release.load(Ordering::Acquire) == 1);
            })
    };
    spin_until("the hog", || on_cpu0.load(Ordering::Acquire) != usize::MAX);
    assert_eq!(
        on_cpu0.load(Ordering::Acquire),
        0,
        "a pinned task ran off its CPU"
    );
    let pinned: Vec<_> = (0..N)
        .map(|_| {
            super::Builder::new()
                .cpu(0)
                .pinned()
                .spawn_in(sched, async { super::scheduler().current_cpu().unwrap() })
        })
        .collect();
    let free: Vec<_> = (0..N).map(|_| sched.spawn_on(0, async {})).collect();
    for t in free {
        m.block_on(t);
    }
    assert!(
        pinned.iter().all(|t| !t.is_finished()),
        "a pinned task ran while its CPU was hogged"
    );
    release.store(1, Ordering::Release);
    m.block_on(hog);
    for t in pinned {
        assert_eq!(m.block_on(t), 0);
    }
}

#[test]
fn migrate_moves_the_task_and_pinning_keeps_it_there() {
    let m = HostMachine::start(4);
    let sched = m.scheduler;
    let handle = sched.spawn(async move {
        let mut seen = Vec::new();
        for target in [2usize, 0, 3, 1] {
            super::migrate(target, true).await;
            let mut here = Vec::new();
            for _ in 0..50 {
                here.push(super::scheduler().current_cpu());
                super::yield_now().await;
            }
            seen.push((target, here));
        }
        // Unpinned again: it completes wherever it is.
        super::migrate(0, false).await;
        seen
    });
    // Busy tasks on every CPU, so that idle CPUs would steal if they may.
    let busy: Vec<_> = (0..64)
        .map(|_| {
            sched.spawn(async {
                for _ in 0..200 {
                    super::yield_now().await;
                }
            })
        })
        .collect();
    let seen = m.block_on(handle);
    for h in busy {
        m.block_on(h);
    }
    for (target, here) in seen {
        assert!(
            here.iter().all(|&cpu| cpu == Some(target)),
            "pinned to {target}, ran on {here:?}"
        );
    }
    m.shutdown();
}

#[test]
fn a_task_waiting_for_an_event_is_parked_and_a_finished_one_is_not() {
    let m = HostMachine::start(1);
    let sched = m.scheduler;
    let ev = Arc::new(Event::new());
    let flag = Arc::new(AtomicBool::new(false));
    let waiter = {
        let (ev, flag) = (ev.clone(), flag.clone());
        sched.spawn_on(0, async move {
            ev.wait_until(|| flag.load(Ordering::Acquire)).await;
            7
        })
    };
    let task = waiter.task_ref();
    spin_until("the waiter to queue", || ev.waiters() == 1);
    spin_until("the waiter's poll to end", || task.is_parked());
    flag.store(true, Ordering::Release);
    assert!(ev.notify_one());
    assert_eq!(m.block_on(waiter), 7);
    // Done (and freed once its last reference went): never parked.
    assert!(!task.is_parked());
    assert!(!super::TaskRef::default().is_parked());
}

#[test]
fn wait_any_is_woken_by_any_of_its_events_and_leaves_every_queue() {
    let (a, b) = (Event::new(), Event::new());
    let flag = AtomicBool::new(false);
    let mut w = super::wait_any(&[&a, &b], || flag.load(Ordering::Acquire));
    assert_eq!(poll_once(&mut w), Poll::Pending);
    assert_eq!((a.waiters(), b.waiters()), (1, 1), "queued on both");
    // A notification of one with the condition still false: queued again.
    assert_eq!(b.notify_all(), 1);
    assert_eq!(poll_once(&mut w), Poll::Pending);
    assert_eq!((a.waiters(), b.waiters()), (1, 1));
    flag.store(true, Ordering::Release);
    assert_eq!(b.notify_all(), 1);
    assert_eq!(poll_once(&mut w), Poll::Ready(()));
    assert_eq!((a.waiters(), b.waiters()), (0, 0), "left both queues");
    drop(w);
    // Dropped while pending: leaves the queues too.
    let never = super::wait_any(&[&a, &b], || false);
    let mut never = never;
    assert_eq!(poll_once(&mut never), Poll::Pending);
    drop(never);
    assert_eq!((a.waiters(), b.waiters()), (0, 0));
}

#[test]
fn wait_any_checks_after_queueing_on_every_event() {
    let (a, b) = (Event::new(), Event::new());
    // A condition that turns true between the queueing and the check
    // (as a notifier on another CPU would make it) completes at once.
    let calls = AtomicUsize::new(0);
    let mut w = super::wait_any(&[&a, &b], || calls.fetch_add(1, Ordering::AcqRel) >= 1);
    assert_eq!(poll_once(&mut w), Poll::Ready(()));
    assert_eq!((a.waiters(), b.waiters()), (0, 0));
}

#[test]
fn notify_all_wakes_one_exclusive_waiter_and_every_other() {
    let e = Event::new();
    let plain = Event::new();
    let mut x1 = super::wait_any_exclusive(&[(&e, true)], || false);
    let mut x2 = super::wait_any_exclusive(&[(&e, true)], || false);
    let mut shared = super::wait_any(&[&e, &plain], || false);
    assert_eq!(poll_once(&mut x1), Poll::Pending);
    assert_eq!(poll_once(&mut x2), Poll::Pending);
    assert_eq!(poll_once(&mut shared), Poll::Pending);
    assert_eq!(e.waiters(), 3);
    // The non-exclusive waiter and the oldest exclusive one.
    assert_eq!(e.notify_all(), 2);
    assert_eq!(e.waiters(), 1, "the second exclusive waiter stays queued");
    // The next notification goes to the one left (x1 has not polled
    // again, so it is not queued).
    assert_eq!(e.notify_all(), 1);
    assert_eq!(e.waiters(), 0);
    drop((x1, x2, shared));
    assert_eq!((e.waiters(), plain.waiters()), (0, 0));
}

#[test]
fn a_cancelled_exclusive_waiter_passes_its_wake_up_on() {
    let e = Event::new();
    let mut x1 = super::wait_any_exclusive(&[(&e, true)], || false);
    let mut x2 = super::wait_any_exclusive(&[(&e, true)], || false);
    assert_eq!(poll_once(&mut x1), Poll::Pending);
    assert_eq!(poll_once(&mut x2), Poll::Pending);
    assert_eq!(e.notify_all(), 1, "x1 alone");
    // x1 goes away without looking: x2 gets the wake-up.
    drop(x1);
    assert_eq!(e.waiters(), 0, "x2 was woken in its place");
    // x2, woken, looks again and queues again.
    assert_eq!(poll_once(&mut x2), Poll::Pending);
    assert_eq!(e.waiters(), 1);
    drop(x2);
    assert_eq!(e.waiters(), 0);
}

/// Runs `n` short sleeps one after another on CPU 0 of `m`: each leaves
/// the CPU with nothing to do for about a millisecond.
fn idle_periods(m: &HostMachine, n: usize) {
    let sched = m.scheduler;
    m.block_on(sched.spawn_on(0, async move {
        for _ in 0..n {
            sched.sleep(Duration::from_millis(1)).await;
        }
    }));
}

#[test]
fn a_fixed_window_of_zero_never_polls() {
    let m = HostMachine::start(2);
    let sched = m.scheduler;
    sched.set_idle_poll(super::IdlePoll::Fixed(0));
    assert_eq!(sched.idle_poll(), super::IdlePoll::Fixed(0));
    // A poll that began before the change may still be counted.
    idle_periods(&m, 2);
    let polls = |s: super::CpuStats| s.polls_caught + s.polls_expired + s.halts_unpolled;
    let before = total(sched, polls);
    idle_periods(&m, 20);
    assert_eq!(total(sched, polls), before, "no poll, and nothing chosen");
}

#[test]
fn an_adaptive_cpu_with_long_idle_periods_stops_polling() {
    let m = HostMachine::start(1);
    let sched = m.scheduler;
    assert_eq!(sched.idle_poll(), super::IdlePoll::DEFAULT);
    // It polls first; its idle periods of about a millisecond last as
    // long either way, and a tie halts.
    idle_periods(&m, 64);
    let s = sched.stats(0);
    assert!(s.polls_expired >= 1, "{s:?}");
    assert!(s.halts_unpolled >= 32, "{s:?}");
}
