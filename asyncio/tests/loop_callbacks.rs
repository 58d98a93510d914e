//! Loop callbacks: call_soon FIFO, call_later/call_at by deadline, handles
//! that cancel, panicking callbacks, and the thread-safe entry points.

mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use support::vrun;

#[test]
fn call_soon_is_fifo_and_interleaves_with_tasks() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    asyncio::run(async move {
        let lp = asyncio::get_running_loop();
        for i in 0..5 {
            let l = l.clone();
            lp.call_soon(move || l.borrow_mut().push(format!("cb{i}")));
        }
        let l2 = l.clone();
        let t = asyncio::create_task(async move { l2.borrow_mut().push("task".into()) });
        let l3 = l.clone();
        lp.call_soon(move || l3.borrow_mut().push("cb5".into()));
        t.await.unwrap();
        asyncio::yield_now().await;
    });
    assert_eq!(*log.borrow(), ["cb0", "cb1", "cb2", "cb3", "cb4", "task", "cb5"]);
}

#[test]
fn call_later_fires_by_deadline_not_by_insertion() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    vrun(async move {
        let lp = asyncio::get_running_loop();
        for ms in [300u64, 100, 200, 100, 50] {
            let l = l.clone();
            lp.call_later(Duration::from_millis(ms), move || l.borrow_mut().push(ms));
        }
        let at = lp.time() + Duration::from_millis(250);
        let l2 = l.clone();
        let h = lp.call_at(at, move || l2.borrow_mut().push(250));
        assert_eq!(h.when(), at);
        asyncio::sleep(Duration::from_secs(1)).await;
    });
    assert_eq!(*log.borrow(), [50, 100, 100, 200, 250, 300]);
}

#[test]
fn cancelled_handles_do_not_run() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    vrun(async move {
        let lp = asyncio::get_running_loop();
        let (a, b) = (l.clone(), l.clone());
        let soon = lp.call_soon(move || a.borrow_mut().push("soon"));
        let later = lp.call_later(Duration::from_millis(10), move || b.borrow_mut().push("later"));
        soon.cancel();
        later.cancel();
        later.cancel();
        assert!(soon.cancelled() && later.cancelled());
        asyncio::sleep(Duration::from_millis(50)).await;
    });
    assert!(log.borrow().is_empty());
}

#[test]
fn a_panicking_callback_does_not_stop_the_loop() {
    let out = asyncio::run(async {
        let lp = asyncio::get_running_loop();
        lp.call_soon(|| panic!("callback failed"));
        asyncio::yield_now().await;
        asyncio::yield_now().await;
        "still running"
    });
    assert_eq!(out, "still running");
}

#[test]
fn call_soon_threadsafe_wakes_a_sleeping_loop() {
    use std::sync::{Arc, Mutex};
    use std::task::{Poll, Waker};
    // Shared between the loop and the other thread: a value and the waker
    // of the task waiting for it.
    type Slot = Arc<Mutex<(Option<std::thread::ThreadId>, Option<Waker>)>>;
    let slot: Slot = Arc::default();
    let s = slot.clone();
    let (ran_on, loop_thread) = asyncio::run(async move {
        let handle = asyncio::get_running_loop().handle();
        let remote = s.clone();
        let th = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            handle
                .call_soon_threadsafe(move || {
                    let mut g = remote.lock().unwrap();
                    g.0 = Some(std::thread::current().id());
                    if let Some(w) = g.1.take() {
                        w.wake();
                    }
                })
                .unwrap();
        });
        // No timers and no ready tasks: the loop blocks in epoll_wait with
        // no timeout until the remote callback arrives.
        let ran_on = std::future::poll_fn(|cx| {
            let mut g = s.lock().unwrap();
            match g.0 {
                Some(id) => Poll::Ready(id),
                None => {
                    g.1 = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await;
        th.join().unwrap();
        (ran_on, std::thread::current().id())
    });
    assert_eq!(ran_on, loop_thread, "the callback ran on the loop's thread");
}

#[test]
fn run_coroutine_threadsafe_from_many_threads() {
    let total = asyncio::run(async {
        let handle = asyncio::get_running_loop().handle();
        let threads: Vec<_> = (0..4u64)
            .map(|i| {
                let h = handle.clone();
                std::thread::spawn(move || {
                    (0..50u64)
                        .map(|j| {
                            let fut = h
                                .run_coroutine_threadsafe(async move {
                                    asyncio::sleep(Duration::from_millis(1)).await;
                                    i * 1000 + j
                                })
                                .unwrap();
                            fut.result().unwrap()
                        })
                        .sum::<u64>()
                })
            })
            .collect();
        while !threads.iter().all(|t| t.is_finished()) {
            asyncio::sleep(Duration::from_millis(2)).await;
        }
        threads.into_iter().map(|t| t.join().unwrap()).sum::<u64>()
    });
    let expected: u64 = (0..4u64).map(|i| (0..50u64).map(|j| i * 1000 + j).sum::<u64>()).sum();
    assert_eq!(total, expected);
}

#[test]
fn run_coroutine_threadsafe_reports_panics_cancels_and_closed_loops() {
    let mut runner = asyncio::Runner::new();
    let handle = runner.get_loop().handle();
    let (panicked, cancelled, slow) = runner.run(async {
        let h = asyncio::get_running_loop().handle();
        let p = h
            .run_coroutine_threadsafe(async { panic!("remote task failed") })
            .unwrap();
        let c = h
            .run_coroutine_threadsafe(asyncio::sleep(Duration::from_secs(3600)))
            .unwrap();
        let slow = h
            .run_coroutine_threadsafe(asyncio::sleep(Duration::from_secs(3600)))
            .unwrap();
        asyncio::yield_now().await;
        assert!(c.cancel());
        (p.await, c.await, slow)
    });
    assert_eq!(panicked.unwrap_err().panic_message(), Some("remote task failed"));
    assert!(cancelled.unwrap_err().is_cancelled());
    runner.close();
    // Pending at close: cancelled, and the waiting thread is released.
    assert!(slow.result().unwrap_err().is_cancelled());
    assert!(handle.is_closed());
    assert_eq!(handle.call_soon_threadsafe(|| {}), Err(asyncio::LoopClosed));
    assert!(handle.run_coroutine_threadsafe(async {}).is_err());
}

#[test]
#[should_panic(expected = "would deadlock")]
fn blocking_on_a_concurrent_future_from_its_own_loop_panics() {
    asyncio::run(async {
        let h = asyncio::get_running_loop().handle();
        let f = h.run_coroutine_threadsafe(async { 1 }).unwrap();
        let _ = f.result();
    });
}

#[test]
fn promise_set_result_exception_and_cancel() {
    asyncio::run(async {
        let p = asyncio::create_future::<u32>();
        let waiters: Vec<_> = (0..3).map(|_| asyncio::create_task(p.clone())).collect();
        asyncio::yield_now().await;
        p.set_result(9).unwrap();
        assert_eq!(p.set_result(10), Err(asyncio::InvalidStateError));
        for w in waiters {
            assert_eq!(w.await.unwrap().unwrap(), 9);
        }
        let e = asyncio::create_future::<u32>();
        e.set_exception("bad thing").unwrap();
        assert_eq!(e.clone().await.unwrap_err().to_string(), "bad thing");
        let c = asyncio::create_future::<u32>();
        assert!(c.cancel());
        assert!(!c.cancel());
        assert!(c.cancelled());
        assert!(matches!(c.await, Err(asyncio::FutureError::Cancelled)));
    });
}
