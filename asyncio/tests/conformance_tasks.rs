//! Conformance: the behavioural subset of CPython 3.13's
//! `Lib/test/test_asyncio/test_tasks.py` (cancel, wait, as_completed,
//! sleep, shield, gather), translated to this crate's public API. Each test
//! names the one it translates. A task that "raises" panics (a panic is a
//! task's exception here); asyncio's `Future`s are [`asyncio::Promise`]s;
//! `run_briefly` is one [`asyncio::yield_now`]; times run on the virtual
//! clock, as CPython's test loop does.
//!
//! Not translated, and why:
//! - The Task internals: `test_task_class`, `_fut_waiter` and
//!   `_must_cancel` white-box checks, `test_cancelling`, `test_uncancel_*`,
//!   `test_task_repr*`, cancel messages, exception chaining and tracebacks,
//!   `ensure_future`, coroutine/generator protocols, `test_task_awaits_on_itself`,
//!   `set_name` on subclasses, the C/Python implementation matrix,
//!   introspection (`_register_task` & co.), loop-policy tests.
//! - `test_cancel_inner_future`, `test_cancel_both_task_and_inner_future`:
//!   a cancelled `Promise` gives `Err(FutureError::Cancelled)` to its
//!   awaiter as a value; it does not cancel the awaiting task (`Promise` is
//!   not a `Task`; see the README's "differs on purpose").
//! - `test_cancel_task_catching`, `test_cancel_task_ignoring`,
//!   `test_cancel_awaited_task`, `test_task_cancel_waiter_future`,
//!   `test_baseexception_during_cancel`, `test_yield_future_passes_cancel`,
//!   `test_yield_wait_does_not_shield_cancel`, `test_cancel_gather_2`:
//!   they catch `CancelledError` and run on; cancellation is drop here.
//! - `test_cancellation_broadcast`: cancelling the task that awaits
//!   `gather(child1, child2)` drops the `Task` handles, and a dropped `Task`
//!   runs on (call `cancel()` to stop one).
//! - `test_cancel_gather_1`: `gather` is a plain future here, cancellable as
//!   any task that awaits it; there is no gathering future that refuses
//!   `cancel()` once its children are done.
//! - `test_wait_errors`, `test_wait_invalid_args`,
//!   `test_as_completed_invalid_args`, `test_sleep_when_delay_is_nan`,
//!   `test_wait_duplicate_coroutines`, `test_duplicate_coroutines`: Python
//!   argument errors, or the same coroutine object passed twice; a `Task`
//!   is owned once, and `wait` on no tasks returns two empty lists (see the
//!   README).
//! - `test_as_completed_same_tasks_in_as_out`,
//!   `test_as_completed_reverse_wait`, `test_as_completed_concurrent`:
//!   `as_completed` yields the outputs in completion order, not awaitables
//!   to await in any order.
//! - `test_wait_really_done`: asyncio's `wait` is woken through two loop
//!   callbacks after the first completion, by which time a task that needed
//!   one more step has finished too; here the waiter is woken directly, one
//!   turn earlier, and reports that task as pending (it is: `done` holds
//!   exactly the tasks done when `wait` returns, which is what the CPython
//!   test protects).
//! - `test_sleep_cancel`: it reads the private `_cancelled` of the timer
//!   handle; a cancelled sleep removes its timer (tested in `time_timers.rs`).
//! - The `gather` constructor tests about loops (`*_without_loop`,
//!   `*_use_global_loop`, `*_heterogenous_futures`): one loop per thread.

mod conformance;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use asyncio::{create_future, create_task, shield, sleep, wait, yield_now, FutureError, ReturnWhen, Task};
use conformance::{assert_ends_cancelled, cancel_soon, done_result, started, vrun};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn elapsed_since(t0: asyncio::time::Instant) -> Duration {
    asyncio::get_running_loop().time().duration_since(t0)
}

/// The ids of `tasks`, to compare `wait`'s done and pending sets.
fn ids<T>(tasks: &[Task<T>]) -> Vec<asyncio::TaskId> {
    tasks.iter().map(|t| t.id()).collect()
}

fn sleeper(d: Duration) -> Task<()> {
    create_task(sleep(d))
}

// ----- cancel -------------------------------------------------------------

// CPython: test_tasks.py BaseTaskTests.test_cancel
#[test]
fn cancel() {
    vrun(async {
        let t = create_task(async {
            sleep(Duration::from_secs(10)).await;
            12
        });
        cancel_soon(&t);
        assert_ends_cancelled(t).await;
    });
}

// CPython: test_tasks.py BaseTaskTests.test_cancel_yield
#[test]
fn cancel_yield() {
    vrun(async {
        let t = create_task(async {
            yield_now().await;
            yield_now().await;
            12
        });
        yield_now().await; // start the task
        t.cancel();
        assert_ends_cancelled(t).await;
    });
}

// CPython: test_tasks.py BaseTaskTests.test_cancel_current_task
#[test]
fn cancel_current_task() {
    vrun(async {
        let t = create_task(async {
            asyncio::current_task().unwrap().cancel();
            sleep(Duration::from_secs(100)).await; // cancelled at once
            12
        });
        assert!(!t.cancelled());
        let t0 = asyncio::get_running_loop().time();
        assert_ends_cancelled(t).await;
        assert!(elapsed_since(t0) < Duration::from_secs(100));
    });
}

// CPython: test_tasks.py BaseTaskTests.test_cancel_at_end
#[test]
fn cancel_at_end() {
    vrun(async {
        let t = create_task(async {
            asyncio::current_task().unwrap().cancel();
            12
        });
        assert_ends_cancelled(t).await; // although it returned
    });
}

// CPython: test_tasks.py BaseTaskTests.test_task_cancel_sleeping_task
#[test]
fn task_cancel_sleeping_task() {
    vrun(async {
        let t0 = asyncio::get_running_loop().time();
        let sleeper = sleeper(Duration::from_secs(5000));
        let r = sleeper.task_ref();
        asyncio::get_running_loop().call_later(ms(100), move || {
            r.cancel();
        });
        let out = match sleeper.await {
            Err(e) if e.is_cancelled() => "cancelled",
            _ => "slept in",
        };
        assert_eq!(out, "cancelled");
        assert_eq!(elapsed_since(t0), ms(100));
    });
}

// ----- wait ---------------------------------------------------------------

// CPython: test_tasks.py BaseTaskTests.test_wait
// CPython: test_tasks.py BaseTaskTests.test_wait_with_iterator_of_tasks
#[test]
fn wait_all() {
    vrun(async {
        let t0 = asyncio::get_running_loop().time();
        let a = sleeper(ms(100));
        let b = sleeper(ms(150));
        let (done, pending) = wait([b, a], ReturnWhen::AllCompleted).await;
        assert_eq!((done.len(), pending.len()), (2, 0));
        assert_eq!(elapsed_since(t0), ms(150));
        // Again: no time passes.
        let (done, pending) = wait(done, ReturnWhen::AllCompleted).await;
        assert_eq!((done.len(), pending.len()), (2, 0));
        assert_eq!(elapsed_since(t0), ms(150));
    });
}

// CPython: test_tasks.py BaseTaskTests.test_wait_first_completed
#[test]
fn wait_first_completed() {
    vrun(async {
        let t0 = asyncio::get_running_loop().time();
        let a = sleeper(Duration::from_secs(10));
        let b = sleeper(ms(100));
        let (ra, rb) = (a.task_ref(), b.task_ref());
        let (done, pending) = wait([b, a], ReturnWhen::FirstCompleted).await;
        assert_eq!(ids(&done), [rb.id()]);
        assert_eq!(ids(&pending), [ra.id()]);
        assert!(!ra.done());
        assert!(rb.done());
        assert_eq!(elapsed_since(t0), ms(100));
        for t in done.into_iter().chain(pending) {
            t.await.unwrap();
        }
    });
}

#[allow(unconditional_panic)]
fn zero_division() {
    let zero = std::hint::black_box(0);
    let _ = 1 / zero;
}

/// CPython's `test_wait_first_exception` (`b` raises at once) and
/// `test_wait_first_exception_in_wait` (after `delay`): `wait` with
/// FIRST_EXCEPTION returns as `b` raises, with `a` (10 s) still pending.
async fn first_exception_after(delay: Option<Duration>) {
    let t0 = asyncio::get_running_loop().time();
    let a = sleeper(Duration::from_secs(10));
    let b = create_task(async move {
        if let Some(d) = delay {
            sleep(d).await;
        }
        zero_division();
    });
    let rb = b.task_ref();
    let (done, pending) = wait([b, a], ReturnWhen::FirstException).await;
    assert_eq!(ids(&done), [rb.id()]);
    assert_eq!(pending.len(), 1);
    assert_eq!(elapsed_since(t0), delay.unwrap_or(Duration::ZERO));
}

// CPython: test_tasks.py BaseTaskTests.test_wait_first_exception
#[test]
fn wait_first_exception() {
    vrun(first_exception_after(None));
}

// CPython: test_tasks.py BaseTaskTests.test_wait_first_exception_in_wait
#[test]
fn wait_first_exception_in_wait() {
    vrun(first_exception_after(Some(ms(10))));
}

// CPython: test_tasks.py BaseTaskTests.test_wait_with_exception
#[test]
fn wait_with_exception() {
    vrun(async {
        let t0 = asyncio::get_running_loop().time();
        let a = sleeper(ms(100));
        let b = create_task(async {
            sleep(ms(150)).await;
            zero_division();
        });
        let (done, pending) = wait([b, a], ReturnWhen::AllCompleted).await;
        assert_eq!((done.len(), pending.len()), (2, 0));
        let mut errors = 0;
        for t in done {
            if t.await.is_err() {
                errors += 1;
            }
        }
        assert_eq!(errors, 1);
        assert_eq!(elapsed_since(t0), ms(150));
    });
}

// CPython: test_tasks.py BaseTaskTests.test_wait_with_timeout
// CPython: test_tasks.py BaseTaskTests.test_wait_concurrent_complete
#[test]
fn wait_with_timeout() {
    for (limit, waited) in [(110, 110), (100, 100)] {
        vrun(async move {
            let t0 = asyncio::get_running_loop().time();
            let a = sleeper(ms(100));
            let b = sleeper(ms(150));
            let (ra, rb) = (a.task_ref(), b.task_ref());
            // The tasks start before the wait does, as they do in CPython's
            // test (the `wait` coroutine is scheduled after them), so at
            // 100 ms `a`'s timer fires before the wait's.
            yield_now().await;
            let (done, pending) = wait([b, a], ReturnWhen::AllCompleted).timeout(ms(limit)).await;
            assert_eq!(ids(&done), [ra.id()]);
            assert_eq!(ids(&pending), [rb.id()]);
            assert_eq!(elapsed_since(t0), ms(waited));
        });
    }
}

// CPython: test_tasks.py BaseTaskTests.test_wait_generator
#[test]
fn wait_generator() {
    vrun(async {
        let tasks = (0..10).map(|i| create_task(async move { i }));
        let (done, pending) = wait(tasks, ReturnWhen::AllCompleted).await;
        assert_eq!((done.len(), pending.len()), (10, 0));
    });
}

// ----- as_completed -------------------------------------------------------

// CPython: test_tasks.py BaseTaskTests.test_as_completed
#[test]
fn as_completed() {
    vrun(async {
        let t0 = asyncio::get_running_loop().time();
        let sleeper = |d: u64, x: &'static str| async move {
            sleep(ms(d)).await;
            x
        };
        let mut it = asyncio::as_completed([sleeper(10, "b"), sleeper(150, "c"), sleeper(10, "a")]);
        let mut res = Vec::new();
        while let Some(v) = it.next().await {
            res.push(v);
        }
        assert_eq!(elapsed_since(t0), ms(150));
        assert!(res[..2].contains(&"a") && res[..2].contains(&"b"));
        assert_eq!(res[2], "c");
    });
}

// CPython: test_tasks.py BaseTaskTests.test_as_completed_with_timeout
#[test]
fn as_completed_with_timeout() {
    vrun(async {
        let t0 = asyncio::get_running_loop().time();
        let a = create_task(async {
            sleep(ms(100)).await;
            "a"
        });
        let b = create_task(async {
            sleep(ms(150)).await;
            "b"
        });
        let mut it = asyncio::as_completed([a, b]).with_timeout(ms(120));
        let mut values = Vec::new();
        while let Some(v) = it.next().await {
            values.push(v.map(|r| r.unwrap()));
        }
        assert_eq!(values.len(), 2, "{values:?}");
        assert_eq!(values[0], Ok("a"));
        assert!(values[1].is_err(), "then the timeout");
        assert_eq!(elapsed_since(t0), ms(120));
    });
}

// CPython: test_tasks.py BaseTaskTests.test_as_completed_with_unused_timeout
#[test]
fn as_completed_with_unused_timeout() {
    vrun(async {
        let a = async {
            sleep(ms(10)).await;
            "a"
        };
        let mut it = asyncio::as_completed([a]).with_timeout(Duration::from_secs(1));
        while let Some(v) = it.next().await {
            assert_eq!(v, Ok("a"));
        }
    });
}

// CPython: test_tasks.py BaseTaskTests.test_as_completed_resume_iterator
#[test]
fn as_completed_resume_iterator() {
    vrun(async {
        let coro = |i: u32| async move { i };
        let mut it = asyncio::as_completed([coro(0), coro(1), coro(2), coro(3)]);
        let mut collected = Vec::new();
        while let Some(v) = it.next().await {
            collected.push(v);
            if collected.len() == 2 {
                break;
            }
        }
        assert_eq!(collected.len(), 2);
        while let Some(v) = it.next().await {
            collected.push(v);
        }
        collected.sort();
        assert_eq!(collected, [0, 1, 2, 3]);
    });
}

// ----- sleep --------------------------------------------------------------

// CPython: test_tasks.py BaseTaskTests.test_sleep
#[test]
fn sleep_in_two_halves() {
    vrun(async {
        let t0 = asyncio::get_running_loop().time();
        let t = create_task(async {
            sleep(ms(50)).await;
            sleep(ms(50)).await;
            "yeah"
        });
        assert_eq!(t.await.unwrap(), "yeah");
        assert_eq!(elapsed_since(t0), ms(100));
    });
}

// CPython: test_tasks.py SleepTests.test_sleep_zero
#[test]
fn sleep_zero() {
    vrun(async {
        let result = Rc::new(Cell::new(0));
        let r = result.clone();
        asyncio::get_running_loop().call_soon(move || r.set(r.get() + 1));
        assert_eq!(result.get(), 0);
        yield_now().await;
        assert_eq!(result.get(), 1, "the callback ran during sleep(0)");
        result.set(result.get() + 10);
        assert_eq!(result.get(), 11);
    });
}

// ----- shield -------------------------------------------------------------

/// CPython's `outer = asyncio.create_task(shield(inner))` followed by
/// `test_utils.run_briefly`: the started outer task, and a probe on `inner`.
async fn shielded<T: 'static>(inner: Task<T>) -> (Task<Result<T, asyncio::TaskError>>, asyncio::TaskRef) {
    let probe = inner.task_ref();
    (started(shield(inner)).await, probe)
}

// CPython: test_tasks.py BaseTaskTests.test_shield_result
// CPython: test_tasks.py BaseTaskTests.test_shield_shortcut
#[test]
fn shield_result() {
    vrun(async {
        let inner = create_future::<u32>();
        let outer = shield(create_task(inner.clone()));
        inner.set_result(42).unwrap();
        assert_eq!(outer.await.unwrap().unwrap(), 42);
    });
}

// CPython: test_tasks.py BaseTaskTests.test_shield_exception
#[test]
fn shield_exception() {
    vrun(async {
        let inner = create_future::<u32>();
        let (outer, _) = shielded(create_task(inner.clone())).await;
        inner.set_exception("expected").unwrap();
        yield_now().await;
        let out = outer.await.unwrap().unwrap();
        assert_eq!(out.unwrap_err().to_string(), "expected");
    });
}

// CPython: test_tasks.py BaseTaskTests.test_shield_cancel_inner
#[test]
fn shield_cancel_inner() {
    vrun(async {
        let (outer, r) = shielded(create_task(sleep(Duration::from_secs(10)))).await;
        r.cancel();
        yield_now().await;
        assert!(outer.await.unwrap().unwrap_err().is_cancelled());
    });
}

// CPython: test_tasks.py BaseTaskTests.test_shield_cancel_outer
#[test]
fn shield_cancel_outer() {
    vrun(async {
        let (outer, r) = shielded(create_task(sleep(ms(10)))).await;
        outer.cancel();
        yield_now().await;
        assert!(outer.cancelled());
        assert!(!r.cancelled());
        sleep(ms(20)).await;
        assert!(r.done() && !r.cancelled());
    });
}

// CPython: test_tasks.py BaseTaskTests.test_shield_effect
#[test]
fn shield_effect() {
    vrun(async {
        let proof = Rc::new(Cell::new(0));
        let waiter = create_future::<()>();
        let (p, w) = (proof.clone(), waiter.clone());
        let f = create_task(async move {
            let p2 = p.clone();
            shield(create_task(async move {
                w.await.unwrap();
                p2.set(p2.get() + 1);
            }))
            .await
            .unwrap();
            p.set(p.get() + 100);
        });
        yield_now().await;
        f.cancel();
        assert_ends_cancelled(f).await;
        waiter.set_result(()).unwrap();
        yield_now().await;
        assert_eq!(proof.get(), 1);
    });
}

// CPython: test_tasks.py BaseTaskTests.test_shield_gather
#[test]
fn shield_gather() {
    vrun(async {
        let (child1, child2) = (create_future::<u32>(), create_future::<u32>());
        let (outer, rp) = shielded(create_task(asyncio::gather([child1.clone(), child2.clone()]))).await;
        outer.cancel();
        yield_now().await;
        assert!(outer.cancelled());
        child1.set_result(1).unwrap();
        child2.set_result(2).unwrap();
        yield_now().await;
        yield_now().await;
        assert!(rp.done() && !rp.cancelled());
    });
}

// CPython: test_tasks.py BaseTaskTests.test_gather_shield
#[test]
fn gather_shield() {
    vrun(async {
        let (child1, child2) = (create_future::<u32>(), create_future::<u32>());
        let t1 = create_task(child1.clone());
        let t2 = create_task(child2.clone());
        let (r1, r2) = (t1.task_ref(), t2.task_ref());
        let parent = started(asyncio::gather([shield(t1), shield(t2)])).await;
        parent.cancel();
        yield_now().await;
        assert_ends_cancelled(parent).await;
        assert!(!r1.cancelled() && !r2.cancelled(), "the children were shielded");
        child1.set_result(1).unwrap();
        child2.set_result(2).unwrap();
        yield_now().await;
        assert!(r1.done() && r2.done());
    });
}

// ----- gather -------------------------------------------------------------

fn promises<const N: usize>() -> [asyncio::Promise<u32>; N] {
    std::array::from_fn(|_| create_future())
}

/// `K` new promises, and a task that gathers them with `gather_fn`
/// (`asyncio::gather` or `asyncio::try_gather`).
fn gathering<const K: usize, G: std::future::Future + 'static>(
    gather_fn: impl FnOnce([asyncio::Promise<u32>; K]) -> G,
) -> (Task<G::Output>, [asyncio::Promise<u32>; K]) {
    let ps = promises();
    (create_task(gather_fn(ps.clone())), ps)
}

/// The end of CPython's `test_one_exception` and `test_one_cancellation`:
/// the gather has failed already, and the other promises settle (a result,
/// a cancel, an exception) without effect on it.
fn settle_late([c, d, e]: [asyncio::Promise<u32>; 3]) {
    c.set_result(3).unwrap();
    d.cancel();
    e.set_exception("RuntimeError").unwrap();
}

/// Gathered outcomes as CPython's tests print them: the value, the
/// exception's text, or "None" for a cancelled one.
fn shown(res: Vec<Result<u32, FutureError>>) -> Vec<String> {
    res.into_iter()
        .map(|r| match r {
            Ok(v) => v.to_string(),
            Err(FutureError::Cancelled) => "None".to_string(),
            Err(e) => e.to_string(),
        })
        .collect()
}

// CPython: test_tasks.py GatherTestsBase.test_success
// CPython: test_tasks.py GatherTestsBase.test_result_exception_success
#[test]
fn gather_success() {
    vrun(async {
        let (fut, [a, b, c]) = gathering(asyncio::gather);
        b.set_result(1).unwrap();
        a.set_result(2).unwrap();
        yield_now().await;
        yield_now().await;
        assert!(!fut.done());
        c.set_result(3).unwrap();
        let res: Vec<u32> = fut.await.unwrap().into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(res, [2, 1, 3]);
    });
}

// CPython: test_tasks.py GatherTestsBase.test_one_exception
#[test]
fn gather_one_exception() {
    vrun(async {
        let (fut, [a, b, c, d, e]) = gathering(asyncio::try_gather);
        a.set_result(1).unwrap();
        b.set_exception("ZeroDivisionError").unwrap();
        yield_now().await;
        match done_result(fut).await {
            Err(FutureError::Exception(err)) => assert_eq!(err.to_string(), "ZeroDivisionError"),
            other => panic!("expected b's error, got {other:?}"),
        }
        settle_late([c, d, e]);
    });
}

// CPython: test_tasks.py GatherTestsBase.test_return_exceptions
#[test]
fn gather_return_exceptions() {
    vrun(async {
        let (fut, [a, b, c, d]) = gathering(asyncio::gather);
        b.set_result(1).unwrap();
        c.set_exception("ZeroDivisionError").unwrap();
        a.set_result(3).unwrap();
        yield_now().await;
        yield_now().await;
        assert!(!fut.done());
        d.set_exception("RuntimeError").unwrap();
        assert_eq!(
            shown(fut.await.unwrap()),
            ["3", "1", "ZeroDivisionError", "RuntimeError"]
        );
    });
}

// CPython: test_tasks.py FutureGatherTests.test_one_cancellation
#[test]
fn gather_one_cancellation() {
    vrun(async {
        let (fut, [a, b, c, d, e]) = gathering(asyncio::try_gather);
        a.set_result(1).unwrap();
        b.cancel();
        yield_now().await;
        assert!(!fut.cancelled());
        assert!(matches!(done_result(fut).await, Err(FutureError::Cancelled)));
        settle_late([c, d, e]);
    });
}

// CPython: test_tasks.py FutureGatherTests.test_result_exception_one_cancellation
#[test]
fn gather_result_exception_one_cancellation() {
    vrun(async {
        let (fut, [a, b, c, d, e, f]) = gathering(asyncio::gather);
        a.set_result(1).unwrap();
        b.set_exception("ZeroDivisionError").unwrap();
        c.cancel();
        yield_now().await;
        assert!(!fut.done());
        d.set_result(3).unwrap();
        e.cancel();
        f.set_exception("RuntimeError").unwrap();
        let res = fut.await.unwrap();
        assert!(matches!(res[2], Err(FutureError::Cancelled)));
        assert!(matches!(res[4], Err(FutureError::Cancelled)));
        assert_eq!(
            shown(res),
            ["1", "ZeroDivisionError", "None", "3", "None", "RuntimeError"]
        );
    });
}

// CPython: test_tasks.py CoroutineGatherTests.test_success
#[test]
#[allow(clippy::redundant_async_block)] // a coroutine around each future, as CPython's `wrap_futures`
fn gather_coroutines_success() {
    vrun(async {
        let [a, b, c] = promises();
        let wrap = |p: &asyncio::Promise<u32>| {
            let p = p.clone();
            async move { p.await }
        };
        let order = Rc::new(RefCell::new(Vec::new()));
        let fut = create_task(asyncio::gather([wrap(&a), wrap(&b), wrap(&c)]));
        b.set_result(1).unwrap();
        a.set_result(2).unwrap();
        yield_now().await;
        assert!(!fut.done());
        c.set_result(3).unwrap();
        for r in fut.await.unwrap() {
            order.borrow_mut().push(r.unwrap());
        }
        assert_eq!(*order.borrow(), [2, 1, 3]);
    });
}
