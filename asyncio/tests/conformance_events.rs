//! Conformance: the loop-callback tests of CPython 3.13's
//! `Lib/test/test_asyncio/test_events.py` (and the few of
//! `test_base_events.py` that define callback order), translated to this
//! crate's public API. Each test names the one it translates.
//! `loop.stop()` from a callback becomes setting an [`Event`] the test's
//! main future waits for.
//!
//! Not translated, and why: the rest of `test_events.py` is sockets, SSL,
//! pipes, subprocesses and signals (covered by the `net_*`, `process_*` and
//! `signal_*` tests), `repr` text, source tracebacks, or loop policies and
//! `run_until_complete` nesting, which have no counterpart here (one
//! `Runner::run` at a time, no policy objects). `test_call_soon_non_callable`
//! and the `TypeError`s for a `None` delay cannot be written in Rust.
//! `test_callback_with_exception` mocks the exception handler; a panicking
//! callback is covered in `loop_callbacks.rs`.

mod conformance;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use asyncio::sync::Event;
use conformance::vrun;

type Log = Rc<RefCell<Vec<&'static str>>>;

/// A callback that appends `arg` and sets `stop` once `n` entries are in.
fn appender(results: &Log, stop: &Rc<Event>, n: usize, arg: &'static str) -> impl FnOnce() + 'static {
    let (results, stop) = (results.clone(), stop.clone());
    move || {
        results.borrow_mut().push(arg);
        if results.borrow().len() >= n {
            stop.set();
        }
    }
}

// CPython: test_events.py EventLoopTestsMixin.test_run_until_complete
#[test]
fn run_until_complete_sleeps_the_delay() {
    vrun(async {
        let lp = asyncio::get_running_loop();
        let t0 = lp.time();
        asyncio::sleep(Duration::from_millis(100)).await;
        assert!(lp.time().duration_since(t0) >= Duration::from_millis(100));
    });
}

// CPython: test_events.py EventLoopTestsMixin.test_call_later
#[test]
fn call_later() {
    vrun(async {
        let (results, stop) = (Log::default(), Rc::new(Event::new()));
        let lp = asyncio::get_running_loop();
        let t0 = lp.time();
        lp.call_later(Duration::from_millis(100), appender(&results, &stop, 1, "hello world"));
        stop.wait().await;
        assert_eq!(*results.borrow(), ["hello world"]);
        assert!(lp.time().duration_since(t0) >= Duration::from_millis(100));
    });
}

// CPython: test_events.py EventLoopTestsMixin.test_call_soon
#[test]
fn call_soon() {
    vrun(async {
        let (results, stop) = (Log::default(), Rc::new(Event::new()));
        asyncio::get_running_loop().call_soon(appender(&results, &stop, 1, "hello world"));
        stop.wait().await;
        assert_eq!(*results.borrow(), ["hello world"]);
    });
}

type SendLog = Arc<Mutex<Vec<&'static str>>>;

fn send_appender(results: &SendLog, arg: &'static str) -> impl FnOnce() + Send + 'static {
    let results = results.clone();
    move || results.lock().unwrap().push(arg)
}

/// Until both callbacks ran (the translated test stops the loop then).
async fn until_two(results: &SendLog) {
    while results.lock().unwrap().len() < 2 {
        asyncio::yield_now().await;
    }
}

// CPython: test_events.py EventLoopTestsMixin.test_call_soon_threadsafe
#[test]
fn call_soon_threadsafe_runs_before_a_later_call_soon() {
    vrun(async {
        let results = SendLog::default();
        let lp = asyncio::get_running_loop();
        let handle = lp.handle();
        let cb = send_appender(&results, "hello");
        let (released, lock) = mpsc::channel();
        let t = std::thread::spawn(move || {
            handle.call_soon_threadsafe(cb).unwrap();
            released.send(()).unwrap(); // lock.release()
        });
        lock.recv().unwrap(); // `with lock:`, on the loop thread
        lp.call_soon(send_appender(&results, "world"));
        until_two(&results).await;
        t.join().unwrap();
        assert_eq!(*results.lock().unwrap(), ["hello", "world"]);
    });
}

// CPython: test_events.py EventLoopTestsMixin.test_call_soon_threadsafe_same_thread
#[test]
fn call_soon_threadsafe_same_thread() {
    vrun(async {
        let results = SendLog::default();
        let lp = asyncio::get_running_loop();
        lp.handle()
            .call_soon_threadsafe(send_appender(&results, "hello"))
            .unwrap();
        lp.call_soon(send_appender(&results, "world"));
        until_two(&results).await;
        assert_eq!(*results.lock().unwrap(), ["hello", "world"]);
    });
}

// CPython: test_events.py HandleTests.test_handle
#[test]
fn handle_cancel() {
    vrun(async {
        let results = Log::default();
        let r = results.clone();
        let h = asyncio::get_running_loop().call_soon(move || r.borrow_mut().push("ran"));
        assert!(!h.cancelled());
        h.cancel();
        assert!(h.cancelled());
        asyncio::yield_now().await;
        assert!(results.borrow().is_empty(), "a cancelled handle does not run");
    });
}

// CPython: test_events.py TimerTests.test_timer
#[test]
fn timer_handle_cancel() {
    vrun(async {
        let results = Log::default();
        let r = results.clone();
        let lp = asyncio::get_running_loop();
        let when = lp.time().checked_add(Duration::from_millis(10)).unwrap();
        let h = lp.call_at(when, move || r.borrow_mut().push("ran"));
        assert_eq!(h.when(), when);
        assert!(!h.cancelled());
        h.cancel();
        assert!(h.cancelled());
        asyncio::sleep(Duration::from_millis(20)).await;
        assert!(results.borrow().is_empty(), "a cancelled timer does not run");
    });
}

// CPython: test_base_events.py BaseEventLoopTests.test_call_later_negative_delays
//
// A `Duration` is never negative: the translation schedules with `call_at`
// at instants already past (after a sleep, so that they are past instants
// of this loop's clock).
#[test]
fn call_at_in_the_past_runs_in_deadline_order() {
    vrun(async {
        asyncio::sleep(Duration::from_secs(10)).await;
        let (results, stop) = (Log::default(), Rc::new(Event::new()));
        let lp = asyncio::get_running_loop();
        let now = lp.time().into_std();
        let at = |ago: u64| asyncio::time::Instant::from_std(now - Duration::from_secs(ago));
        lp.call_at(at(1), appender(&results, &stop, 2, "a"));
        lp.call_at(at(2), appender(&results, &stop, 2, "b"));
        stop.wait().await;
        assert_eq!(*results.borrow(), ["b", "a"]);
    });
}

// CPython: test_base_events.py BaseEventLoopTests.test_time_and_call_at
#[test]
fn time_and_call_at() {
    vrun(async {
        let stop = Rc::new(Event::new());
        let lp = asyncio::get_running_loop();
        let delay = Duration::from_millis(100);
        let when = lp.time().checked_add(delay).unwrap();
        let s = stop.clone();
        lp.call_at(when, move || s.set());
        let t0 = lp.time();
        stop.wait().await;
        assert!(lp.time().duration_since(t0) >= delay);
    });
}

// CPython: test_base_events.py BaseEventLoopTests.test__run_once
//
// The public part of it: timers fire in deadline order whatever the order
// they were scheduled in, and a cancelled one never runs.
#[test]
fn timers_fire_in_deadline_order() {
    vrun(async {
        let (results, stop) = (Log::default(), Rc::new(Event::new()));
        let lp = asyncio::get_running_loop();
        lp.call_later(Duration::from_secs(10), appender(&results, &stop, 3, "10s"));
        let h = lp.call_later(Duration::from_secs(5), appender(&results, &stop, 3, "cancelled"));
        lp.call_later(Duration::from_millis(1), appender(&results, &stop, 3, "1ms"));
        lp.call_later(Duration::from_secs(3), appender(&results, &stop, 3, "3s"));
        h.cancel();
        stop.wait().await;
        assert_eq!(*results.borrow(), ["1ms", "3s", "10s"]);
    });
}
