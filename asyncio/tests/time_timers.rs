//! Timers on the virtual clock: order, cancellation, timeouts that fire and
//! that don't, intervals, sleep(0) yielding, and manual advance. None of
//! these takes real time.

mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use asyncio::time::Instant;
use support::{vrun, Counts};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn virtual_time_takes_no_real_time() {
    let real = std::time::Instant::now();
    let virt = vrun(async {
        let start = Instant::now();
        asyncio::sleep(Duration::from_secs(24 * 3600)).await;
        start.elapsed()
    });
    assert_eq!(virt, Duration::from_secs(24 * 3600));
    assert!(
        real.elapsed() < Duration::from_secs(2),
        "took {:?} real",
        real.elapsed()
    );
}

#[test]
fn sleeps_wake_in_deadline_order() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    vrun(async move {
        let tasks: Vec<_> = [50u64, 10, 40, 20, 30, 10, 1000, 1]
            .into_iter()
            .enumerate()
            .map(|(i, d)| {
                let l = l.clone();
                asyncio::create_task(async move {
                    asyncio::sleep(ms(d)).await;
                    l.borrow_mut().push((d, i));
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    assert_eq!(
        *log.borrow(),
        [(1, 7), (10, 1), (10, 5), (20, 3), (30, 4), (40, 2), (50, 0), (1000, 6)]
    );
}

#[test]
fn sleep_never_ends_early_and_waits_the_whole_duration() {
    vrun(async {
        for d in [1u64, 2, 63, 64, 65, 4095, 4097, 300_000] {
            let start = Instant::now();
            asyncio::sleep(ms(d)).await;
            assert_eq!(start.elapsed(), ms(d), "sleep({d} ms)");
        }
        let start = Instant::now();
        asyncio::sleep(Duration::from_micros(1500)).await;
        assert!(start.elapsed() >= Duration::from_micros(1500));
    });
}

#[test]
fn dropping_a_sleep_cancels_its_timer() {
    vrun(async {
        let lp = asyncio::get_running_loop();
        let counts = Counts::new();
        let t = asyncio::create_task(counts.wrap(asyncio::sleep(Duration::from_secs(60))));
        asyncio::yield_now().await;
        assert!(format!("{lp:?}").contains("timers: 1"), "{lp:?}");
        t.cancel();
        let _ = t.await;
        assert!(
            format!("{lp:?}").contains("timers: 0"),
            "cancelled timer removed: {lp:?}"
        );
        assert_eq!(counts.polls(), 1);
    });
}

#[test]
fn timeout_that_fires_drops_the_inner_future() {
    vrun(async {
        let counts = Counts::new();
        let start = Instant::now();
        let r = asyncio::timeout(ms(100), counts.wrap(asyncio::sleep(ms(500)))).await;
        assert_eq!(r, Err(asyncio::TimeoutError::clone(&r.unwrap_err())));
        assert_eq!(start.elapsed(), ms(100));
        assert_eq!(counts.drops(), 1);
    });
}

#[test]
fn timeout_that_does_not_fire_returns_the_value_and_leaves_no_timer() {
    vrun(async {
        let lp = asyncio::get_running_loop();
        let r = asyncio::timeout(ms(500), async {
            asyncio::sleep(ms(100)).await;
            "value"
        })
        .await;
        assert_eq!(r, Ok("value"));
        assert!(format!("{lp:?}").contains("timers: 0"), "{lp:?}");
        let start = Instant::now();
        assert_eq!(
            asyncio::timeout(Duration::ZERO, async { 1 }).await,
            Ok(1),
            "a ready future wins at zero"
        );
        assert!(asyncio::timeout(Duration::ZERO, asyncio::sleep(ms(1))).await.is_err());
        assert_eq!(start.elapsed(), Duration::ZERO);
    });
}

#[test]
fn nested_timeouts_each_report_their_own_expiry() {
    vrun(async {
        // Inner expires first: the inner reports, the outer gets its value.
        let r = asyncio::timeout(ms(200), asyncio::timeout(ms(100), asyncio::sleep(ms(1000)))).await;
        assert!(matches!(r, Ok(Err(asyncio::TimeoutError { .. }))));
        // Outer expires first: the outer reports.
        let r = asyncio::timeout(ms(100), asyncio::timeout(ms(200), asyncio::sleep(ms(1000)))).await;
        assert!(r.is_err());
    });
}

#[test]
fn timeout_at_uses_the_loop_clock() {
    vrun(async {
        let deadline = Instant::now() + ms(250);
        assert!(asyncio::timeout_at(deadline, asyncio::sleep(ms(300))).await.is_err());
        assert_eq!(Instant::now(), deadline);
    });
}

#[test]
fn sleep_zero_yields_once() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    asyncio::run(async move {
        let l2 = l.clone();
        let other = asyncio::create_task(async move { l2.borrow_mut().push("other") });
        asyncio::sleep(Duration::ZERO).await;
        l.borrow_mut().push("main");
        other.await.unwrap();
    });
    assert_eq!(*log.borrow(), ["other", "main"]);
}

#[test]
fn interval_ticks_on_schedule_and_bursts_after_a_stall() {
    vrun(async {
        let mut iv = asyncio::interval(ms(100));
        let t0 = iv.tick().await;
        assert_eq!(iv.tick().await - t0, ms(100));
        assert_eq!(iv.tick().await - t0, ms(200));
        asyncio::sleep(ms(350)).await; // now at t0+550: ticks 300, 400, 500 missed
        assert_eq!(iv.tick().await - t0, ms(300));
        assert_eq!(iv.tick().await - t0, ms(400));
        assert_eq!(iv.tick().await - t0, ms(500));
        assert_eq!(iv.tick().await - t0, ms(600));
        let mut skip = asyncio::interval(ms(100));
        skip.set_missed_tick_behavior(asyncio::time::MissedTickBehavior::Skip);
        let s0 = skip.tick().await;
        asyncio::sleep(ms(250)).await;
        assert_eq!(skip.tick().await - s0, ms(100));
        assert_eq!(skip.tick().await - s0, ms(300));
    });
}

#[test]
fn manual_advance_fires_due_timers_first() {
    asyncio::run(async {
        asyncio::time::pause();
        assert!(asyncio::time::is_paused());
        let t = asyncio::create_task(async {
            asyncio::sleep(ms(500)).await;
            Instant::now()
        });
        asyncio::yield_now().await;
        let start = Instant::now();
        asyncio::time::advance(ms(499)).await;
        assert!(!t.done());
        asyncio::time::advance(ms(1)).await;
        asyncio::yield_now().await;
        assert!(t.done());
        assert_eq!(t.await.unwrap() - start, ms(500));
        asyncio::time::resume();
        assert!(!asyncio::time::is_paused());
    });
}

#[test]
fn many_timers_in_virtual_time_complete_in_order_of_deadline() {
    let fired = Rc::new(RefCell::new(Vec::new()));
    let f = fired.clone();
    vrun(async move {
        let mut x = 88172645463325252u64;
        let tasks: Vec<_> = (0..20_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let d = x % 10_000_000;
                let f = f.clone();
                asyncio::create_task(async move {
                    asyncio::sleep(ms(d)).await;
                    f.borrow_mut().push((Instant::now(), d));
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    let fired = fired.borrow();
    assert_eq!(fired.len(), 20_000);
    assert!(fired.windows(2).all(|w| w[0].1 <= w[1].1), "fired in deadline order");
    let t0 = fired[0].0 - ms(fired[0].1);
    assert!(
        fired.iter().all(|(at, d)| *at - t0 == ms(*d)),
        "each at its deadline exactly"
    );
}

/// Real time, a duration long enough for `call_later`'s coarse clock at
/// 250 Hz and up (see `asyncio::time`'s "Precision"; elsewhere the exact
/// path; the sleep and the timeout are staged): a
/// sleep, a timeout and a `call_later` of 2.1 s each end no sooner than
/// 2.1 s after they were armed, and the sleep's deadline is no earlier than
/// that. (Nothing is raced: the checks are lower bounds, which hold however
/// slow the machine is.)
#[test]
fn long_real_timers_are_never_early() {
    let d = ms(2100);
    asyncio::run(async move {
        let start = Instant::now();
        let mut sleep = std::pin::pin!(asyncio::sleep(d));
        let armed = futures_lite::future::poll_once(sleep.as_mut()).await;
        assert!(armed.is_none(), "a 2.1 s sleep is pending at first");
        // The sleep is staged: its deadline is taken when this batch ends
        // (waiting on a timer ends it).
        asyncio::sleep(Duration::from_micros(100)).await;
        let deadline = sleep.deadline().expect("an armed sleep has a deadline");
        assert!(deadline >= start + d, "deadline before start + 2.1 s");
        let fired = Rc::new(RefCell::new(None::<Instant>));
        let f = fired.clone();
        let loop_ = asyncio::get_running_loop();
        let handle = loop_.call_later(d, move || *f.borrow_mut() = Some(Instant::now()));
        assert!(handle.when() >= start + d);
        let timed_out = asyncio::timeout(d, std::future::pending::<()>()).await;
        assert!(timed_out.is_err());
        assert!(Instant::now() >= start + d, "the timeout ended early");
        sleep.await;
        assert!(Instant::now() >= deadline, "the sleep ended before its deadline");
        while fired.borrow().is_none() {
            asyncio::sleep(ms(1)).await;
        }
        assert!(fired.borrow().unwrap() >= start + d, "call_later ran early");
    });
}

/// `Instant::recent` is the loop's last clock reading: never ahead of
/// `now`, refreshed by every turn (a timer's wake-up is a new turn), and
/// exact under virtual time.
#[test]
fn recent_is_the_last_reading_never_ahead_and_refreshed_each_turn() {
    asyncio::run(async {
        for _ in 0..20 {
            let before = Instant::now();
            asyncio::sleep(ms(1)).await;
            let recent = Instant::recent();
            assert!(recent >= before, "a turn passed: the reading is newer");
            assert!(recent <= Instant::now());
        }
    });
    vrun(async {
        let start = Instant::now();
        asyncio::sleep(ms(250)).await;
        assert_eq!(Instant::recent(), Instant::now());
        assert_eq!(Instant::recent() - start, ms(250));
    });
    // No loop: real time.
    let t = std::time::Instant::now();
    assert!(Instant::recent().into_std() >= t);
}

/// Real time, short durations: a sleep armed during a turn takes its
/// deadline from the loop's clock reading at that turn's end (see
/// `asyncio::time`'s "Precision"). Until then `deadline()` is unknown;
/// after, it is no earlier than the arming plus the duration, and the sleep
/// never ends before it. Two hundred tasks arming in the same turns: none
/// wakes early. (Lower bounds only: nothing is raced.)
#[test]
fn short_real_sleeps_take_their_deadline_at_the_turn_end_and_are_never_early() {
    asyncio::run(async {
        for d in [1u64, 2, 5, 17] {
            let start = Instant::now();
            let mut sleep = std::pin::pin!(asyncio::sleep(ms(d)));
            assert!(futures_lite::future::poll_once(sleep.as_mut()).await.is_none());
            assert_eq!(sleep.deadline(), None, "staged until the turn ends");
            // Waiting on a timer ends this turn.
            asyncio::sleep(Duration::from_micros(100)).await;
            let deadline = sleep.deadline().expect("given at the turn's end");
            assert!(deadline >= start + ms(d), "deadline before start + {d} ms");
            sleep.await;
            assert!(Instant::now() >= deadline);
            assert!(start.elapsed() >= ms(d), "sleep({d} ms) ended early");
        }
        let early = Rc::new(RefCell::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..200u64 {
            let early = early.clone();
            tasks.push(asyncio::create_task(async move {
                let d = Duration::from_micros(300 + 97 * (i % 40));
                let start = Instant::now();
                asyncio::sleep(d).await;
                if start.elapsed() < d {
                    early.borrow_mut().push((i, start.elapsed(), d));
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert!(early.borrow().is_empty(), "woke early: {:?}", early.borrow());
    });
}

/// A sleep staged in a turn (real time) that then pauses the clock and
/// advances it: the sleep keeps the deadline of the real time it was armed
/// at, and fires once virtual time passes it.
#[test]
fn a_sleep_armed_before_pause_keeps_its_real_time_deadline() {
    asyncio::run(async {
        let mut sleep = std::pin::pin!(asyncio::sleep(ms(5)));
        assert!(futures_lite::future::poll_once(sleep.as_mut()).await.is_none());
        asyncio::time::pause();
        asyncio::time::advance(ms(10)).await;
        assert!(
            futures_lite::future::poll_once(sleep.as_mut()).await.is_some(),
            "the sleep fired once the clock had passed its deadline"
        );
    });
}
