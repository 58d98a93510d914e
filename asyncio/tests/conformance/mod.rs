//! The conformance suite's runner (`conformance_*.rs`): the virtual clock,
//! and a deadlock turned into a failure instead of a hung CI job; and the
//! few checks several of the files make.

// Each `conformance_*.rs` includes this module and uses part of it.
#![allow(dead_code)]

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

/// One virtual hour: far beyond any test's own timers.
const GUARD: Duration = Duration::from_secs(3600);

/// Runs `f` on a fresh loop with the virtual clock, then closes the loop.
///
/// # Panics
/// If `f` has not finished after one virtual hour. With the virtual clock
/// that costs no real time: when every task waits for something that never
/// comes (a lost hand-off, a barrier that never fills), the clock jumps to
/// this guard's deadline at once.
pub fn vrun<F: Future>(f: F) -> F::Output {
    let mut runner = asyncio::Runner::new().virtual_time(true);
    let out = runner.run(async move {
        asyncio::timeout(GUARD, f)
            .await
            .expect("deadlock: every task waited for something that never came (one virtual hour passed)")
    });
    runner.close();
    out
}

/// The addresses of what [`keep`] gave out, so that it stays reachable.
static KEPT: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// `t` for the rest of the process, as a `&'static T`.
///
/// CPython's tests make a lock or a queue a local that every coroutine of
/// the test closes over; our tasks are `'static`, so the primitive gets a
/// `'static` life: one small allocation per test, kept like a `static`
/// until the process exits. Its address is recorded here so that it stays
/// reachable, which it is by design: the AddressSanitizer step's leak check
/// then reports only memory that nothing points to any more.
pub fn keep<T: 'static>(t: T) -> &'static T {
    let kept: &'static T = Box::leak(Box::new(t));
    KEPT.lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(kept as *const T as usize);
    kept
}

/// CPython's `self.assertTrue(t.done())` followed by `t.result()`: checks
/// that `task` has finished, then gives its output.
///
/// # Panics
/// If `task` has not finished, or failed or was cancelled.
pub async fn done_result<T: 'static>(task: asyncio::Task<T>) -> T {
    assert!(task.done(), "the task has finished");
    match task.await {
        Ok(out) => out,
        Err(e) => panic!("the task did not succeed: {e:?}"),
    }
}

/// CPython's `t = asyncio.create_task(coro)` then `await asyncio.sleep(0)`:
/// a task that has had its first turn, and so waits on what it awaits.
pub async fn started<F: Future + 'static>(f: F) -> asyncio::Task<F::Output> {
    let task = asyncio::create_task(f);
    asyncio::yield_now().await;
    task
}

/// CPython's `loop.call_soon(task.cancel)`.
pub fn cancel_soon<T>(task: &asyncio::Task<T>) {
    let r = task.task_ref();
    asyncio::get_running_loop().call_soon(move || {
        r.cancel();
    });
}

/// Awaits `task` and checks what CPython checks of a cancelled one: the
/// await raises `CancelledError`, the task is done and cancelled, and
/// `cancel()` on it now returns false.
pub async fn assert_ends_cancelled<T: 'static>(task: asyncio::Task<T>) {
    let probe = task.task_ref();
    assert!(task.await.err().expect("cancelled, not finished").is_cancelled());
    assert!(probe.done() && probe.cancelled(), "the task is done and cancelled");
    assert!(!probe.cancel(), "cancel() on a finished task returns false");
}
