//! Task lifecycle: every combination of how a task ends (completes, panics,
//! is cancelled) with how its handle is used (awaited, detached before or
//! after the first poll), each future dropped exactly once, and wakers that
//! outlive the task.

mod support;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use support::{forever, Counts};

#[derive(Clone, Copy, Debug)]
enum End {
    Complete,
    Panic,
    Cancel,
}

#[derive(Clone, Copy, Debug)]
enum Handle {
    Awaited,
    DetachedBeforePoll,
    DetachedAfterPoll,
}

/// Runs one combination and checks polls, drops and the awaited result.
fn combination(end: End, handle: Handle) {
    let counts = Counts::new();
    let c = counts.clone();
    asyncio::run(async move {
        let fut = c.wrap(async move {
            asyncio::yield_now().await;
            match end {
                End::Panic => panic!("task failed on purpose"),
                End::Complete => 7,
                End::Cancel => {
                    asyncio::sleep(Duration::from_secs(3600)).await;
                    unreachable!()
                }
            }
        });
        let task = asyncio::create_task(fut);
        let task_ref = task.task_ref();
        match handle {
            Handle::Awaited => {
                if let End::Cancel = end {
                    asyncio::yield_now().await;
                    asyncio::yield_now().await;
                    assert!(task.cancel());
                }
                let r = task.await;
                match end {
                    End::Complete => assert_eq!(r.unwrap(), 7),
                    End::Panic => {
                        let e = r.unwrap_err();
                        assert!(e.is_panic());
                        assert_eq!(e.panic_message(), Some("task failed on purpose"));
                    }
                    End::Cancel => assert!(r.unwrap_err().is_cancelled()),
                }
            }
            Handle::DetachedBeforePoll => {
                drop(task);
                if let End::Cancel = end {
                    assert!(task_ref.cancel());
                }
            }
            Handle::DetachedAfterPoll => {
                asyncio::yield_now().await;
                assert_eq!(c.polls(), 1, "first poll happened");
                drop(task);
                if let End::Cancel = end {
                    assert!(task_ref.cancel());
                }
            }
        }
        // Let detached tasks finish (or be cancelled) before run returns.
        for _ in 0..4 {
            asyncio::yield_now().await;
        }
        assert!(task_ref.done(), "{end:?}/{handle:?}: task still pending");
        assert_eq!(task_ref.cancelled(), matches!(end, End::Cancel));
        assert!(!task_ref.cancel(), "cancel of a finished task returns false");
    });
    assert_eq!(counts.drops(), 1, "{end:?}/{handle:?}: future dropped exactly once");
    let expected_polls = match (end, handle) {
        (End::Cancel, Handle::DetachedBeforePoll) => 0,
        // Cancelled after the first poll (it had yielded): no second poll.
        (End::Cancel, Handle::DetachedAfterPoll) => 1,
        // Cancelled while sleeping, after its second poll.
        (End::Cancel, Handle::Awaited) => 2,
        _ => 2,
    };
    assert_eq!(counts.polls(), expected_polls, "{end:?}/{handle:?}: polls");
}

#[test]
fn every_end_with_every_handle_use() {
    for end in [End::Complete, End::Panic, End::Cancel] {
        for handle in [Handle::Awaited, Handle::DetachedBeforePoll, Handle::DetachedAfterPoll] {
            combination(end, handle);
        }
    }
}

#[test]
fn waker_kept_after_completion_is_harmless() {
    let (fut, waker) = forever();
    let kept: Rc<Cell<Option<std::task::Waker>>> = Rc::new(Cell::new(None));
    let k = kept.clone();
    asyncio::run(async move {
        let t = asyncio::create_task(fut);
        asyncio::yield_now().await;
        k.set(waker.take());
        assert!(t.cancel());
        assert!(t.await.unwrap_err().is_cancelled());
        // Waking a finished task does nothing, on and off the loop thread.
        let w = k.take().unwrap();
        w.wake_by_ref();
        let w2 = w.clone();
        std::thread::spawn(move || w2.wake()).join().unwrap();
        k.set(Some(w));
        asyncio::yield_now().await;
    });
    // After the loop is gone, too.
    let w = kept.take().unwrap();
    w.wake_by_ref();
    drop(w);
}

#[test]
fn cancel_before_first_poll_never_polls() {
    let counts = Counts::new();
    let c = counts.clone();
    asyncio::run(async move {
        let t = asyncio::create_task(c.wrap(async { 1 }));
        assert!(t.cancel());
        assert!(t.cancel(), "a second cancel before it finishes still returns true");
        let e = t.await.unwrap_err();
        assert!(e.is_cancelled());
    });
    assert_eq!(counts.polls(), 0);
    assert_eq!(counts.drops(), 1);
}

#[test]
fn self_cancel_ends_cancelled_even_if_it_returns() {
    asyncio::run(async {
        let t = asyncio::create_task(async {
            asyncio::current_task().unwrap().cancel();
            5
        });
        let r = t.await;
        assert!(
            r.unwrap_err().is_cancelled(),
            "as asyncio: cancel() while running wins over the return value"
        );
    });
}

#[test]
fn cancelled_task_runs_destructors() {
    struct Guard(Rc<Cell<bool>>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let cleaned = Rc::new(Cell::new(false));
    let c = cleaned.clone();
    asyncio::run(async move {
        let t = asyncio::create_task(async move {
            let _g = Guard(c);
            asyncio::sleep(Duration::from_secs(3600)).await;
        });
        asyncio::yield_now().await;
        t.cancel();
        let _ = t.await;
    });
    assert!(cleaned.get());
}

#[test]
fn panic_in_one_task_leaves_others_running() {
    let out = asyncio::run(async {
        let bad = asyncio::create_task(async { panic!("one bad task") });
        let good = asyncio::create_task(async {
            asyncio::yield_now().await;
            asyncio::yield_now().await;
            "fine"
        });
        assert!(bad.await.is_err());
        good.await.unwrap()
    });
    assert_eq!(out, "fine");
}

#[test]
fn panic_in_destructor_of_cancelled_future_is_contained() {
    struct Bomb;
    impl Drop for Bomb {
        fn drop(&mut self) {
            panic!("destructor panicked");
        }
    }
    asyncio::run(async {
        let t = asyncio::create_task(async {
            let _b = Bomb;
            asyncio::sleep(Duration::from_secs(3600)).await;
        });
        asyncio::yield_now().await;
        t.cancel();
        assert!(t.await.unwrap_err().is_cancelled());
        let after = asyncio::create_task(async { 1 });
        assert_eq!(after.await.unwrap(), 1, "the loop keeps running");
    });
}

#[test]
fn awaiting_tasks_in_another_order_than_completion() {
    support::vrun(async {
        let t1 = asyncio::create_task(async {
            asyncio::sleep(Duration::from_secs(1)).await;
            1
        });
        let t2 = asyncio::create_task(async {
            asyncio::sleep(Duration::from_secs(2)).await;
            2
        });
        let start = asyncio::time::Instant::now();
        assert_eq!(t2.await.unwrap(), 2);
        assert!(t1.done(), "t1 finished while we waited for t2");
        assert_eq!(t1.await.unwrap(), 1);
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    });
}

#[test]
fn many_waiters_on_one_task_via_join_chain() {
    asyncio::run(async {
        let base = asyncio::create_task(async {
            asyncio::yield_now().await;
            10
        });
        let relay = asyncio::create_task(async move { base.await.unwrap() + 1 });
        assert_eq!(relay.await.unwrap(), 11);
    });
}

#[test]
fn self_cancel_with_a_panicking_output_destructor_is_contained() {
    #[derive(Debug)]
    struct Loud;
    impl Drop for Loud {
        fn drop(&mut self) {
            panic!("output destructor panicked");
        }
    }
    asyncio::run(async {
        let t = asyncio::create_task(async {
            asyncio::current_task().unwrap().cancel();
            Loud
        });
        assert!(t.await.unwrap_err().is_cancelled());
        assert_eq!(
            asyncio::create_task(async { 3 }).await.unwrap(),
            3,
            "the loop keeps running"
        );
    });
}
