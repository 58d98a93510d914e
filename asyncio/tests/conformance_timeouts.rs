//! Conformance: CPython 3.13's `Lib/test/test_asyncio/test_timeouts.py`,
//! translated to [`asyncio::timeout`] / [`asyncio::timeout_at`]. Each test
//! names the one it translates. `async with asyncio.timeout(d): body` is
//! `asyncio::timeout(d, body)`; `cm.expired()` is the result being
//! `Err(TimeoutError)`; "the body saw `CancelledError`" is the body's future
//! being dropped (seen by a drop guard).
//!
//! Not translated, and why:
//! - `test_timeout_disabled`, `test_timeout_at_disabled`, `test_reschedule`,
//!   `test_repr_*`, `test_timeout_already_entered`,
//!   `test_timeout_double_enter`, `test_timeout_finished`,
//!   `test_timeout_expired`, `test_timeout_expiring`,
//!   `test_timeout_not_entered`, `test_timeout_without_task`: they test the
//!   `Timeout` context-manager object (`when()`, `reschedule()`, entering
//!   twice, `None` deadlines); here a timeout is a future that is awaited
//!   once (its deadline moves with `Timeout::reset`; no timeout is just the
//!   future itself).
//! - `test_nested_timeouts`: nested timeouts with one deadline report it at
//!   the innermost here (each is a plain future, and the inner one is
//!   polled first), at the outermost in asyncio; see the README's "differs
//!   on purpose".
//! - `test_nested_timeouts_concurrent`, `test_nested_timeouts_loop_busy`:
//!   they block the loop in real time (`time.sleep`).
//! - `test_nested_timeout_in_finally`, `test_timeout_after_cancellation`,
//!   `test_cancel_in_timeout_after_cancellation`, `test_timeout_taskgroup`:
//!   exception chaining and code that runs on after catching
//!   `CancelledError`; cancellation is drop here.

mod conformance;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use asyncio::{create_task, sleep, timeout, timeout_at, yield_now};
use conformance::{assert_ends_cancelled, vrun};

/// Sets its flag when dropped: the body was cancelled.
struct DropFlag(Rc<Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

// CPython: test_timeouts.py TimeoutTests.test_timeout_basic
#[test]
fn timeout_basic() {
    vrun(async {
        assert!(timeout(Duration::from_millis(10), sleep(Duration::from_secs(10)))
            .await
            .is_err());
    });
}

// CPython: test_timeouts.py TimeoutTests.test_timeout_at_basic
#[test]
fn timeout_at_basic() {
    vrun(async {
        let lp = asyncio::get_running_loop();
        let deadline = lp.time().checked_add(Duration::from_millis(10)).unwrap();
        assert!(timeout_at(deadline, sleep(Duration::from_secs(10))).await.is_err());
        assert!(lp.time() >= deadline);
    });
}

// CPython: test_timeouts.py TimeoutTests.test_waiter_cancelled
#[test]
fn waiter_cancelled() {
    vrun(async {
        let cancelled = Rc::new(Cell::new(false));
        let flag = DropFlag(cancelled.clone());
        let body = async move {
            let _flag = flag;
            sleep(Duration::from_secs(10)).await;
        };
        assert!(timeout(Duration::from_millis(10), body).await.is_err());
        assert!(cancelled.get());
    });
}

// CPython: test_timeouts.py TimeoutTests.test_timeout_not_called
#[test]
fn timeout_not_called() {
    vrun(async {
        let out = timeout(Duration::from_secs(10), sleep(Duration::from_millis(10))).await;
        assert!(out.is_ok());
    });
}

// CPython: test_timeouts.py TimeoutTests.test_timeout_zero
#[test]
fn timeout_zero() {
    vrun(async {
        let lp = asyncio::get_running_loop();
        let t0 = lp.time();
        assert!(timeout(Duration::ZERO, sleep(Duration::from_secs(10))).await.is_err());
        assert!(lp.time().duration_since(t0) < Duration::from_secs(10));
    });
}

// CPython: test_timeouts.py TimeoutTests.test_timeout_zero_sleep_zero
#[test]
fn timeout_zero_sleep_zero() {
    vrun(async {
        assert!(timeout(Duration::ZERO, yield_now()).await.is_err());
    });
}

// CPython: test_timeouts.py TimeoutTests.test_timeout_in_the_past_sleep_zero
#[test]
fn timeout_in_the_past_sleep_zero() {
    vrun(async {
        sleep(Duration::from_secs(20)).await;
        let now = asyncio::time::Instant::now().into_std();
        let past = asyncio::time::Instant::from_std(now - Duration::from_secs(11));
        assert!(timeout_at(past, yield_now()).await.is_err());
    });
}

// CPython: test_timeouts.py TimeoutTests.test_foreign_exception_passed
#[test]
fn foreign_exception_passed() {
    vrun(async {
        let out = timeout(Duration::from_millis(10), async { Err::<(), &str>("KeyError") }).await;
        assert_eq!(out, Ok(Err("KeyError")), "the body's error, not a timeout");
    });
}

// CPython: test_timeouts.py TimeoutTests.test_foreign_cancel_doesnt_timeout_if_not_expired
#[test]
fn foreign_cancel_doesnt_timeout_if_not_expired() {
    vrun(async {
        let expired = Rc::new(Cell::new(None));
        let e = expired.clone();
        let task = create_task(async move {
            let out = timeout(Duration::from_secs(10), async {
                asyncio::current_task().unwrap().cancel();
                sleep(Duration::from_secs(10)).await;
            })
            .await;
            e.set(Some(out.is_err()));
        });
        assert_ends_cancelled(task).await;
        assert_eq!(expired.get(), None, "cancelled, not timed out");
    });
}

// CPython: test_timeouts.py TimeoutTests.test_outer_task_is_not_cancelled
#[test]
fn outer_task_is_not_cancelled() {
    vrun(async {
        let task = create_task(async {
            assert!(timeout(Duration::from_millis(1), sleep(Duration::from_secs(10)))
                .await
                .is_err());
        });
        let t = task.task_ref();
        task.await.unwrap();
        assert!(!t.cancelled());
        assert!(t.done());
    });
}
