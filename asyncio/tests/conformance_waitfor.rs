//! Conformance: CPython 3.13's `Lib/test/test_asyncio/test_waitfor.py`,
//! translated to [`asyncio::timeout`] (asyncio's `wait_for`). Each test
//! names the one it translates.
//!
//! Not translated, and why:
//! - `test_asyncio_wait_for_cancelled`, `test_asyncio_wait_for_timeout`,
//!   `test_wait_for_cancellation_race_condition`,
//!   `test_wait_for_waits_for_task_cancellation`,
//!   `test_wait_for_waits_for_task_cancellation_w_timeout_0`,
//!   `test_wait_for_reraises_exception_during_cancellation`,
//!   `test_wait_for_cancel_suppressed`: their tasks catch `CancelledError`
//!   and run on; cancellation is drop here, and a dropped future runs no
//!   more code.
//! - `test_wait_for`, `test_wait_for_timeout_less_then_0_or_0`,
//!   `test_cancel_blocking_wait_for`, `test_cancel_wait_for`,
//!   `test_wait_for_issue86296`: they expect `wait_for(task)` to cancel the
//!   task on timeout (or when the wait is cancelled). A timeout drops the
//!   `Task` handle it holds, and a dropped `Task` runs on: every task
//!   handle behaves as asyncio's `shield(task)` (call `cancel()` to stop
//!   one). See the README's "differs on purpose".
//! - `test_wait_for_timeout_less_then_0_or_0_coroutine_do_not_started`:
//!   `timeout` polls its future once before looking at the clock, so with a
//!   zero timeout a future that is ready at once still wins (asyncio's
//!   `wait_for` never starts the coroutine). See the README.

mod conformance;

use std::time::Duration;

use asyncio::{create_task, shield, sleep, timeout};
use conformance::vrun;

// CPython: test_waitfor.py AsyncioWaitForTest.test_wait_for_timeout_less_then_0_or_0_future_done
#[test]
fn wait_for_zero_timeout_future_done() {
    vrun(async {
        let fut = asyncio::create_future::<&str>();
        fut.set_result("done").unwrap();
        let ret = timeout(Duration::ZERO, fut.clone()).await;
        assert_eq!(ret.unwrap().unwrap(), "done");
        assert!(fut.done());
    });
}

// CPython: test_waitfor.py AsyncioWaitForTest.test_wait_for_blocking
#[test]
fn wait_for_blocking() {
    vrun(async {
        // `timeout=None` is awaiting the future itself.
        assert_eq!(async { "done" }.await, "done");
        assert_eq!(timeout(Duration::MAX, async { "done" }).await, Ok("done"));
    });
}

// CPython: test_waitfor.py AsyncioWaitForTest.test_wait_for_race_condition
#[test]
fn wait_for_race_condition() {
    vrun(async {
        let fut = asyncio::create_future::<&str>();
        let task = timeout(Duration::from_millis(200), fut.clone());
        let f = fut.clone();
        asyncio::get_running_loop().call_soon(move || f.set_result("ok").unwrap());
        assert_eq!(task.await.unwrap().unwrap(), "ok");
    });
}

async fn coro() -> &'static str {
    sleep(Duration::from_millis(100)).await;
    "done"
}

/// A task running [`coro`], and a probe to watch it once a shield holds it.
fn coro_task() -> (asyncio::Task<&'static str>, asyncio::TaskRef) {
    let task = create_task(coro());
    let probe = task.task_ref();
    (task, probe)
}

/// The shield's timeout did not reach the task: it is neither done nor
/// cancelled.
#[track_caller]
fn assert_still_running(probe: &asyncio::TaskRef) {
    assert!(!probe.done(), "the shielded task runs on");
    assert!(!probe.cancelled(), "the shielded task was not cancelled");
}

// CPython: test_waitfor.py WaitForShieldTests.test_zero_timeout
#[test]
fn shield_zero_timeout() {
    vrun(async {
        let task = create_task(async {
            sleep(Duration::from_millis(10)).await;
            "done"
        });
        let probe = task.task_ref();
        assert!(timeout(Duration::ZERO, shield(task)).await.is_err());
        assert_still_running(&probe);
        sleep(Duration::from_millis(100)).await;
        assert!(probe.done());
    });
}

// CPython: test_waitfor.py WaitForShieldTests.test_none_timeout
#[test]
fn shield_none_timeout() {
    vrun(async {
        let (task, probe) = coro_task();
        assert_eq!(shield(task).await.unwrap(), "done");
        assert!(probe.done());
    });
}

// CPython: test_waitfor.py WaitForShieldTests.test_shielded_timeout
#[test]
fn shielded_timeout() {
    vrun(async {
        let (task, probe) = coro_task();
        let mut shielded = shield(task);
        assert!(timeout(Duration::from_millis(10), &mut shielded).await.is_err());
        assert_still_running(&probe);
        assert_eq!(shielded.into_inner().await.unwrap(), "done");
    });
}
