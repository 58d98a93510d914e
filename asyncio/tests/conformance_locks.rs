//! Conformance: CPython 3.13's `Lib/test/test_asyncio/test_locks.py`,
//! translated to this crate's public API. Each test names the one it
//! translates. `asyncio.sleep(0)` is [`asyncio::yield_now`]; `release()` is
//! dropping the guard or permit that `acquire()` gave. Where a CPython task
//! returns while still holding a lock, the lock is leaked to `'static` so
//! that the task can hand its guard back to the test, which drops it where
//! CPython calls `release()`.
//!
//! Not translated, and why:
//! - `test_repr` (all classes), `test_lock`, `test_semaphore`,
//!   `test_barrier`, `test_lock_doesnt_accept_loop_parameter`,
//!   `test_lock_by_with_statement`: Python's `repr` text and `TypeError`s
//!   for misuse the Rust compiler rejects (`await lock`, `loop=`).
//! - `LockTests.test_release_not_acquired`,
//!   `ConditionTests.test_wait_unacquired`, `test_wait_for_unacquired`,
//!   `test_notify_unacquired`, `test_notify_all_unacquired`: releasing,
//!   waiting or notifying without holding the lock cannot be written (it
//!   takes the guard).
//! - `SemaphoreTests.test_semaphore_value`: a negative count is not a
//!   `usize`.
//! - `ConditionTests.test_wait_cancel`, `test_wait_cancel_contested`,
//!   `test_cancelled_error_wakeup`, `test_cancelled_error_re_aquire`:
//!   cancellation is drop. A cancelled `Condition` wait does not take the
//!   lock back (its guard went with the dropped future), and there is no
//!   `CancelledError` object to compare.
//! - `ConditionTests.test_explicit_lock`: a `Condition` owns its lock;
//!   sharing an existing `Lock` is not offered.
//! - `ConditionTests.test_ambiguous_loops`: it sets the private `_loop`;
//!   the loop check here is a panic, tested in `sync_lock.rs`.
//! - `BarrierTests.test_reset_barrier_when_tasks_half_draining`: it reads
//!   the private `_count`.
//! - Asserts on the private `_waiters` are translated where a public count
//!   exists (`Semaphore::waiters`) and otherwise left out.

mod conformance;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use asyncio::sync::{Barrier, BoundedSemaphore, BrokenBarrierError, Condition, Event, Lock, Semaphore};
use asyncio::{create_task, yield_now, Task};
use conformance::{assert_ends_cancelled, cancel_soon, done_result, keep, started, vrun};

type Log<T> = Rc<RefCell<Vec<T>>>;

fn log<T>() -> Log<T> {
    Rc::new(RefCell::new(Vec::new()))
}

/// CPython's `async def cN(): await <wait>; result.append(N); return ...`:
/// a task that awaits `wait`, logs `n` at once, and returns what `wait`
/// gave.
fn log_after<T: 'static>(result: &Log<u32>, n: u32, wait: impl std::future::Future<Output = T> + 'static) -> Task<T> {
    let result = result.clone();
    create_task(async move {
        let out = wait.await;
        result.borrow_mut().push(n);
        out
    })
}

/// One turn of the loop (CPython's `await asyncio.sleep(0)`), then
/// `assertEqual(result, expected)`.
async fn turn_then_expect(result: &Log<u32>, expected: &[u32]) {
    yield_now().await;
    assert_eq!(*result.borrow(), expected, "the log after one more turn");
}

/// Checks that `locked()` is true exactly while the guard or permit that
/// `acquire` gives is alive: CPython's `acquire()`, `locked()`, `release()`.
async fn locked_while_held<G>(locked: impl Fn() -> bool, acquire: impl std::future::Future<Output = G>) {
    assert!(!locked(), "free before acquire()");
    let g = acquire.await;
    assert!(locked(), "locked while held");
    drop(g);
    assert!(!locked(), "free after release()");
}

// ----- Lock ---------------------------------------------------------------

// CPython: test_locks.py LockTests.test_acquire
#[test]
fn lock_acquire() {
    vrun(async {
        let lock = keep(Lock::new());
        let result = log();
        let g0 = lock.acquire().await;
        let c = |n| log_after(&result, n, lock.acquire());
        let t1 = c(1);
        let t2 = c(2);
        turn_then_expect(&result, &[]).await;
        drop(g0);
        turn_then_expect(&result, &[1]).await;
        turn_then_expect(&result, &[1]).await;
        let t3 = c(3);
        drop(done_result(t1).await); // lock.release()
        turn_then_expect(&result, &[1, 2]).await;
        drop(done_result(t2).await);
        turn_then_expect(&result, &[1, 2, 3]).await;
        drop(done_result(t3).await);
    });
}

// CPython: test_locks.py LockTests.test_acquire_cancel
#[test]
fn lock_acquire_cancel() {
    vrun(async {
        let lock = keep(Lock::new());
        let g = lock.acquire().await;
        let task = create_task(lock.acquire());
        cancel_soon(&task);
        assert_ends_cancelled(task).await;
        // `lock._waiters` is empty: released, the lock is free at once.
        drop(g);
        assert!(!lock.locked());
        assert!(lock.try_acquire().is_some());
    });
}

// CPython: test_locks.py LockTests.test_cancel_race
#[test]
fn lock_cancel_race() {
    vrun(async {
        let lock = keep(Lock::new());
        let lockit = |blocker: Option<asyncio::Promise<()>>| async move {
            let _guard = lock.acquire().await;
            if let Some(b) = blocker {
                b.await.unwrap();
            }
        };
        let fa = asyncio::create_future::<()>();
        let ta = started(lockit(Some(fa.clone()))).await;
        assert!(lock.locked());
        let tb = started(lockit(None)).await;
        let tc = started(lockit(None)).await;
        fa.set_result(()).unwrap();
        tb.cancel();
        yield_now().await;
        assert!(!lock.locked());
        assert!(ta.done());
        assert!(tb.cancelled());
        tc.await.unwrap();
    });
}

// CPython: test_locks.py LockTests.test_cancel_release_race
#[test]
fn lock_cancel_release_race() {
    vrun(async {
        let lock = keep(Lock::new());
        let lock_count = Rc::new(Cell::new(0));
        let call_count = Rc::new(Cell::new(0));
        let lockit = || {
            let (lock_count, call_count) = (lock_count.clone(), call_count.clone());
            async move {
                call_count.set(call_count.get() + 1);
                let guard = lock.acquire().await;
                lock_count.set(lock_count.get() + 1);
                guard
            }
        };
        let g0 = Rc::new(RefCell::new(Some(lock.acquire().await)));
        let t1 = create_task(lockit());
        let t2 = create_task(lockit());
        let t3 = started(lockit()).await;
        let (r1, g) = (t1.task_ref(), g0.clone());
        asyncio::get_running_loop().call_soon(move || {
            r1.cancel();
            drop(g.borrow_mut().take()); // lock.release()
        });
        assert_ends_cancelled(t1).await;
        assert_eq!(lock_count.get(), 1, "only one lock was taken");
        assert_eq!(call_count.get(), 3);
        assert!(t2.done());
        t3.cancel();
        yield_now().await;
        assert!(t3.cancelled());
    });
}

// CPython: test_locks.py LockTests.test_finished_waiter_cancelled
//
// One step later than CPython: `tb.cancel()` takes effect at tb's turn (its
// future is dropped then), which hands the lock on to tc, which takes it at
// its own next turn; CPython cancels tb's waiter future at once.
#[test]
fn lock_finished_waiter_cancelled() {
    vrun(async {
        let lock = keep(Lock::new());
        let g = lock.acquire().await;
        assert!(lock.locked());
        let tb = started(lock.acquire()).await;
        let tc = create_task(lock.acquire());
        tb.cancel();
        drop(g);
        yield_now().await;
        yield_now().await;
        assert!(lock.locked());
        assert!(tb.cancelled());
        drop(tc.await.unwrap());
    });
}

// CPython: test_locks.py LockTests.test_release_no_waiters
// CPython: test_locks.py LockTests.test_context_manager
#[test]
fn lock_release_no_waiters() {
    let lock = Lock::new();
    vrun(locked_while_held(|| lock.locked(), lock.acquire()));
}

// ----- Event --------------------------------------------------------------

// CPython: test_locks.py EventTests.test_wait
#[test]
fn event_wait() {
    vrun(async {
        let ev = keep(Event::new());
        assert!(!ev.is_set());
        let result = log();
        let c = |n| log_after(&result, n, ev.wait());
        let t1 = c(1);
        let t2 = c(2);
        turn_then_expect(&result, &[]).await;
        let t3 = c(3);
        ev.set();
        turn_then_expect(&result, &[3, 1, 2]).await;
        assert!(t1.done() && t2.done() && t3.done());
    });
}

// CPython: test_locks.py EventTests.test_wait_on_set
#[test]
fn event_wait_on_set() {
    vrun(async {
        let ev = Event::new();
        ev.set();
        ev.wait().await;
        assert!(ev.is_set());
    });
}

// CPython: test_locks.py EventTests.test_wait_cancel
#[test]
fn event_wait_cancel() {
    vrun(async {
        let ev = keep(Event::new());
        let wait = create_task(ev.wait());
        cancel_soon(&wait);
        assert_ends_cancelled(wait).await;
        // The cancelled waiter left the queue: setting wakes nobody, and a
        // new waiter passes at once.
        ev.set();
        ev.wait().await;
    });
}

// CPython: test_locks.py EventTests.test_clear
#[test]
fn event_clear() {
    let ev = Event::new();
    assert!(!ev.is_set());
    ev.set();
    assert!(ev.is_set());
    ev.clear();
    assert!(!ev.is_set());
}

// CPython: test_locks.py EventTests.test_clear_with_waiters
#[test]
fn event_clear_with_waiters() {
    vrun(async {
        let ev = keep(Event::new());
        let result = log();
        let t = log_after(&result, 1, async {
            ev.wait().await;
            true
        });
        turn_then_expect(&result, &[]).await;
        ev.set();
        ev.clear();
        assert!(!ev.is_set());
        ev.set();
        ev.set();
        turn_then_expect(&result, &[1]).await;
        assert!(done_result(t).await);
    });
}

// ----- Condition ----------------------------------------------------------

// CPython: test_locks.py ConditionTests.test_wait
#[test]
fn condition_wait() {
    vrun(async {
        let cond = keep(Condition::new());
        let result = log();
        // Each returns holding the lock, as CPython's c1..c3 do.
        let c = |n| log_after(&result, n, async { cond.acquire().await.wait().await });
        let t1 = c(1);
        let t2 = c(2);
        let t3 = c(3);
        turn_then_expect(&result, &[]).await;
        assert!(!cond.locked());

        let g = cond.acquire().await;
        g.notify(1);
        turn_then_expect(&result, &[]).await;
        assert!(cond.locked());

        drop(g);
        turn_then_expect(&result, &[1]).await;
        assert!(cond.locked());

        let g1 = t1.await.unwrap(); // the lock t1 holds
        g1.notify(2);
        turn_then_expect(&result, &[1]).await;
        assert!(cond.locked());

        drop(g1);
        turn_then_expect(&result, &[1, 2]).await;
        assert!(cond.locked());

        drop(t2.await.unwrap());
        turn_then_expect(&result, &[1, 2, 3]).await;
        assert!(cond.locked());
        drop(t3.await.unwrap());
    });
}

// CPython: test_locks.py ConditionTests.test_wait_cancel_after_notify
#[test]
fn condition_wait_cancel_after_notify() {
    vrun(async {
        let cond = keep(Condition::new());
        let waited = Rc::new(Cell::new(false));
        let w = waited.clone();
        let waiter = create_task(async move {
            let g = cond.acquire().await;
            w.set(true);
            let _g = g.wait().await;
        });
        yield_now().await;
        let g = cond.acquire().await;
        g.notify(1);
        yield_now().await; // the waiter gets to re-acquiring
        waiter.cancel();
        yield_now().await; // the cancellation happens
        drop(g);
        yield_now().await;
        assert!(waiter.cancelled());
        assert!(waited.get());
        assert!(!cond.locked(), "the cancelled waiter did not keep the lock");
    });
}

// CPython: test_locks.py ConditionTests.test_wait_for
#[test]
fn condition_wait_for() {
    vrun(async {
        let cond = keep(Condition::new());
        let presult = Rc::new(Cell::new(false));
        let result = log();
        let p = presult.clone();
        let t = log_after(&result, 1, async move {
            drop(cond.acquire().await.wait_for(move || p.get()).await);
            true
        });
        turn_then_expect(&result, &[]).await;

        notify_one(cond).await;
        turn_then_expect(&result, &[]).await;

        presult.set(true);
        notify_one(cond).await;
        turn_then_expect(&result, &[1]).await;
        assert!(done_result(t).await);
    });
}

/// CPython's `async with cond: cond.notify(1)`.
async fn notify_one(cond: &Condition) {
    cond.acquire().await.notify(1);
}

/// The setup of CPython's `test_notify` and `test_notify_all`: `n` tasks
/// wait on a new condition, each to log its number once notified; after a
/// turn, none has.
async fn notified_appenders(n: u32) -> (&'static Condition, Log<u32>, Vec<Task<bool>>) {
    let cond = keep(Condition::new());
    let result = log();
    let tasks = (1..=n)
        .map(|i| {
            log_after(&result, i, async {
                drop(cond.acquire().await.wait().await);
                true
            })
        })
        .collect();
    turn_then_expect(&result, &[]).await;
    (cond, result, tasks)
}

// CPython: test_locks.py ConditionTests.test_notify
#[test]
fn condition_notify() {
    vrun(async {
        let (cond, result, tasks) = notified_appenders(3).await;

        notify_one(cond).await;
        turn_then_expect(&result, &[1]).await;

        let g = cond.acquire().await;
        g.notify(1);
        g.notify(2048);
        drop(g);
        turn_then_expect(&result, &[1, 2, 3]).await;
        for t in tasks {
            assert!(done_result(t).await);
        }
    });
}

// CPython: test_locks.py ConditionTests.test_notify_all
#[test]
fn condition_notify_all() {
    vrun(async {
        let (cond, result, tasks) = notified_appenders(2).await;
        let g = cond.acquire().await;
        g.notify_all();
        drop(g);
        turn_then_expect(&result, &[1, 2]).await;
        for t in tasks {
            assert!(t.await.unwrap());
        }
    });
}

// CPython: test_locks.py ConditionTests.test_context_manager
#[test]
fn condition_context_manager() {
    let cond = Condition::new();
    vrun(locked_while_held(|| cond.locked(), cond.acquire()));
}

// CPython: test_locks.py ConditionTests.test_timeout_in_block
#[test]
fn condition_timeout_in_block() {
    vrun(async {
        let cond = Condition::new();
        let g = cond.acquire().await;
        let out = asyncio::timeout(Duration::from_millis(500), g.wait()).await;
        assert!(out.is_err(), "timed out");
    });
}

fn consumer(cond: &'static Condition, state: &Rc<Cell<i32>>) -> Task<()> {
    let state = state.clone();
    create_task(async move {
        let mut g = cond.acquire().await;
        loop {
            g = g.wait_for(|| state.get() != 0).await;
            if state.get() < 0 {
                return;
            }
            state.set(state.get() - 1);
        }
    })
}

/// CPython's `test_cancelled_wakeup` and `test_cancelled_wakeup_relock`:
/// two consumers wait, one is notified and then cancelled, either while it
/// waits to run (`relock == false`) or after it woke and waits for the lock
/// again (`relock == true`). The notification must not be lost with it.
async fn cancelled_wakeup(relock: bool) {
    let cond = keep(Condition::new());
    let state = Rc::new(Cell::new(0));
    let c0 = consumer(cond, &state);
    let c1 = consumer(cond, &state);
    yield_now().await;
    let g = cond.acquire().await;
    state.set(state.get() + 1);
    g.notify(1);
    if relock {
        yield_now().await; // c0 wakes and waits for the lock again
    }
    c0.cancel();
    let s = state.clone();
    let g = match asyncio::timeout(Duration::from_millis(10), g.wait_for(|| s.get() == 0)).await {
        Ok(g) => g,
        Err(_) => cond.acquire().await,
    };
    assert_eq!(
        state.get(),
        0,
        "the notification was not lost with the cancelled consumer (relock: {relock})"
    );
    state.set(-1);
    g.notify_all();
    drop(g);
    c1.await.unwrap();
}

// CPython: test_locks.py ConditionTests.test_cancelled_wakeup
#[test]
fn condition_cancelled_wakeup() {
    vrun(cancelled_wakeup(false)); // c0 is cancelled while it waits to run
}

// CPython: test_locks.py ConditionTests.test_cancelled_wakeup_relock
#[test]
fn condition_cancelled_wakeup_relock() {
    vrun(cancelled_wakeup(true));
}

// ----- Semaphore ----------------------------------------------------------

// CPython: test_locks.py SemaphoreTests.test_initial_value_zero
#[test]
fn semaphore_initial_value_zero() {
    assert!(Semaphore::new(0).locked());
}

// CPython: test_locks.py SemaphoreTests.test_acquire
#[test]
fn semaphore_acquire() {
    vrun(async {
        let sem = keep(Semaphore::new(3));
        let result = log();
        sem.acquire().await.forget();
        sem.acquire().await.forget();
        assert!(!sem.locked());
        let c = |n| {
            log_after(&result, n, async {
                sem.acquire().await.forget();
                true
            })
        };
        let t1 = c(1);
        let t2 = c(2);
        let t3 = c(3);
        turn_then_expect(&result, &[1]).await;
        assert!(sem.locked());
        assert_eq!(sem.waiters(), 2);
        assert_eq!(sem.available_permits(), 0);

        let t4 = c(4);
        sem.release();
        sem.release();
        assert_eq!(sem.available_permits(), 0);
        yield_now().await;
        assert_eq!(sem.available_permits(), 0);
        assert_eq!(result.borrow().len(), 3);
        assert!(sem.locked());
        assert_eq!(sem.waiters(), 1);
        assert!(t1.done());
        let race = [t2, t3, t4];
        assert_eq!(race.iter().filter(|t| t.done()).count(), 2);
        sem.release();
        for t in asyncio::gather(race).await {
            assert!(t.unwrap());
        }
    });
}

// CPython: test_locks.py SemaphoreTests.test_acquire_cancel
#[test]
fn semaphore_acquire_cancel() {
    vrun(async {
        let sem = keep(Semaphore::new(1));
        sem.acquire().await.forget();
        let acquire = create_task(sem.acquire());
        cancel_soon(&acquire);
        assert_ends_cancelled(acquire).await;
        assert_eq!(sem.waiters(), 0);
    });
}

// CPython: test_locks.py SemaphoreTests.test_acquire_cancel_before_awoken
#[test]
fn semaphore_acquire_cancel_before_awoken() {
    vrun(async {
        let sem = keep(Semaphore::new(0));
        let t: Vec<_> = (0..4).map(|_| create_task(sem.acquire())).collect();
        yield_now().await;
        t[0].cancel();
        t[1].cancel();
        sem.release();
        yield_now().await;
        yield_now().await;
        assert_eq!(t[2..].iter().filter(|t| t.done()).count(), 1);
        assert!(t[2].done());
        assert!(!t[3].done());
        t[2].cancel();
        t[3].cancel();
        yield_now().await;
    });
}

// CPython: test_locks.py SemaphoreTests.test_acquire_hang
#[test]
fn semaphore_acquire_hang() {
    vrun(async {
        let sem = keep(Semaphore::new(0));
        let t1 = create_task(sem.acquire());
        let t2 = started(sem.acquire()).await;
        t1.cancel();
        sem.release();
        yield_now().await;
        yield_now().await;
        assert!(sem.locked());
        assert!(t2.done());
    });
}

// CPython: test_locks.py SemaphoreTests.test_acquire_no_hang
#[test]
fn semaphore_acquire_no_hang() {
    vrun(async {
        let sem = keep(Semaphore::new(1));
        let t2_ref: Rc<RefCell<Option<asyncio::TaskRef>>> = Rc::default();
        let r = t2_ref.clone();
        let t1 = create_task(async move {
            {
                let _p = sem.acquire().await;
                yield_now().await;
            }
            r.borrow().as_ref().unwrap().cancel();
        });
        let t2 = create_task(async move {
            let _p = sem.acquire().await;
            panic!("t2 must not get the permit");
        });
        *t2_ref.borrow_mut() = Some(t2.task_ref());
        let (r1, r2) = asyncio::gather!(t1, t2).await;
        assert!(r1.is_ok());
        assert!(r2.err().unwrap().is_cancelled());
        let p = asyncio::timeout(Duration::from_secs(1), sem.acquire()).await;
        assert!(p.is_ok(), "the permit of the cancelled waiter was passed on");
    });
}

// CPython: test_locks.py SemaphoreTests.test_release_not_acquired
#[test]
fn bounded_semaphore_release_not_acquired() {
    let sem = BoundedSemaphore::new(1);
    assert!(sem.release().is_err());
}

// CPython: test_locks.py SemaphoreTests.test_release_no_waiters
#[test]
fn semaphore_release_no_waiters() {
    let sem = Semaphore::new(1);
    vrun(locked_while_held(|| sem.locked(), sem.acquire()));
}

// CPython: test_locks.py SemaphoreTests.test_acquire_fifo_order
#[test]
fn semaphore_acquire_fifo_order() {
    vrun(async {
        let sem = keep(Semaphore::new(1));
        let result = log();
        let coro = |tag: &'static str| {
            let result = result.clone();
            async move {
                let p = sem.acquire().await;
                result.borrow_mut().push(format!("{tag}_1"));
                asyncio::sleep(Duration::from_millis(10)).await;
                drop(p);
                let p = sem.acquire().await;
                result.borrow_mut().push(format!("{tag}_2"));
                asyncio::sleep(Duration::from_millis(10)).await;
                drop(p);
            }
        };
        let tg = asyncio::TaskGroup::new();
        for tag in ["c1", "c2", "c3"] {
            drop(tg.create_task(coro(tag)).unwrap());
        }
        tg.join().await.unwrap();
        assert_eq!(*result.borrow(), ["c1_1", "c2_1", "c3_1", "c1_2", "c2_2", "c3_2"]);
    });
}

// CPython: test_locks.py SemaphoreTests.test_acquire_fifo_order_2
#[test]
fn semaphore_acquire_fifo_order_2() {
    vrun(async {
        let sem = keep(Semaphore::new(1));
        let result = log();
        let (r1, r2, r3) = (result.clone(), result.clone(), result.clone());
        let t1 = create_task(async move {
            sem.acquire().await.forget();
            r1.borrow_mut().push(1);
        });
        let t2 = create_task(async move {
            sem.acquire().await.forget();
            r2.borrow_mut().push(2);
            sem.release();
            sem.acquire().await.forget();
            r2.borrow_mut().push(4);
        });
        let t3 = create_task(async move {
            sem.acquire().await.forget();
            r3.borrow_mut().push(3);
        });
        yield_now().await;
        sem.release();
        sem.release();
        for r in asyncio::gather([t1, t2, t3]).await {
            r.unwrap();
        }
        assert_eq!(*result.borrow(), [1, 2, 3, 4]);
    });
}

// CPython: test_locks.py SemaphoreTests.test_acquire_fifo_order_3
#[test]
fn semaphore_acquire_fifo_order_3() {
    vrun(async {
        let sem = keep(Semaphore::new(0));
        let result = log();
        let c = |n| log_after(&result, n, async { sem.acquire().await.forget() });
        let tasks = [c(1), c(2), c(3)];
        yield_now().await;
        tasks[0].cancel();
        yield_now().await;
        sem.release();
        sem.release();
        asyncio::gather(tasks).await;
        assert_eq!(*result.borrow(), [2, 3]);
    });
}

// CPython: test_locks.py SemaphoreTests.test_acquire_fifo_order_4
#[test]
fn semaphore_acquire_fifo_order_4() {
    vrun(async {
        let sem = keep(Semaphore::new(0));
        let result = log();
        let t4: Rc<RefCell<Option<Task<()>>>> = Rc::default();
        let (r, t4_slot) = (result.clone(), t4.clone());
        let t1 = create_task(async move {
            assert_eq!(sem.available_permits(), 0);
            sem.acquire().await.forget();
            assert_eq!(sem.available_permits(), 0, "the other waiters were woken");
            let r4 = r.clone();
            *t4_slot.borrow_mut() = Some(create_task(async move { r4.borrow_mut().push(4) }));
            r.borrow_mut().push(1);
        });
        let r = result.clone();
        let t2 = create_task(async move {
            sem.release();
            sem.release();
            sem.release();
            assert_eq!(sem.available_permits(), 2);
            assert!(sem.locked(), "t1 was woken and has not run");
            sem.acquire().await.forget();
            r.borrow_mut().push(2);
        });
        let r = result.clone();
        let t3 = create_task(async move {
            sem.acquire().await.forget();
            assert!(sem.locked());
            r.borrow_mut().push(3);
        });
        yield_now().await;
        assert_eq!(sem.available_permits(), 2);
        assert_eq!(sem.waiters(), 3);
        yield_now().await;
        let t4 = t4.borrow_mut().take().expect("t1 created t4");
        for r in asyncio::gather([t1, t2, t3, t4]).await {
            r.unwrap();
        }
        assert_eq!(*result.borrow(), [1, 2, 3, 4]);
    });
}

// ----- Barrier ------------------------------------------------------------

const N: usize = 5;

fn make_tasks<T: 'static, F: std::future::Future<Output = T> + 'static>(
    n: usize,
    mut coro: impl FnMut() -> F,
) -> Vec<Task<T>> {
    (0..n).map(|_| create_task(coro())).collect()
}

async fn gather_tasks<T: 'static, F: std::future::Future<Output = T> + 'static>(
    n: usize,
    coro: impl FnMut() -> F,
) -> Vec<T> {
    asyncio::gather(make_tasks(n, coro))
        .await
        .into_iter()
        .map(|r| r.expect("a party failed"))
        .collect()
}

fn state_of(b: &Barrier) -> String {
    format!("{b:?}")
}

/// CPython's closing `assertEqual(barrier.n_waiting, 0)` and
/// `assertFalse(barrier.broken)`.
#[track_caller]
fn assert_idle(b: &Barrier) {
    assert_eq!(b.n_waiting(), 0, "no task is left waiting");
    assert!(!b.broken(), "the barrier is not broken");
}

/// CPython's `results1`, `results2`, `results3` lists in the barrier tests,
/// of which only the lengths are checked: three counters the tasks share.
#[derive(Clone, Default)]
struct Results(Rc<[Cell<usize>; 3]>);

impl Results {
    /// `resultsK.append(True)`.
    fn push(&self, k: usize) {
        let c = &self.0[k - 1];
        c.set(c.get() + 1);
    }

    /// `len(resultsK)`.
    fn count(&self, k: usize) -> usize {
        self.0[k - 1].get()
    }
}

/// The first phase of CPython's `test_abort_barrier_when_exception*`: each
/// task waits twice on `barrier` and counts in `results1`, but the one the
/// first wait numbers `N / 2` "raises" and aborts the barrier; the others
/// count in `results2` when their wait finds it broken.
async fn wait_twice_or_abort(barrier: &Barrier, results: &Results) {
    let outcome: Result<(), &str> = async {
        let i = barrier.wait().await.map_err(|_| "broken")?;
        if i == N / 2 {
            return Err("error");
        }
        barrier.wait().await.map_err(|_| "broken")?;
        results.push(1);
        Ok(())
    }
    .await;
    match outcome {
        Err("broken") => results.push(2),
        Err(_) => barrier.abort(),
        Ok(()) => {}
    }
}

// CPython: test_locks.py BarrierTests.test_barrier_parties
#[test]
fn barrier_parties() {
    assert!(std::panic::catch_unwind(|| Barrier::new(0)).is_err());
    assert_eq!(Barrier::new(N).parties(), N);
}

// CPython: test_locks.py BarrierTests.test_context_manager
#[test]
fn barrier_context_manager() {
    vrun(async {
        let barrier = keep(Barrier::new(3));
        let mut results = gather_tasks(3, || async { barrier.wait().await.unwrap() }).await;
        results.sort();
        assert_eq!(results, [0, 1, 2]);
        assert_idle(barrier);
    });
}

// CPython: test_locks.py BarrierTests.test_filling_one_task
#[test]
fn barrier_filling_one_task() {
    vrun(async {
        let barrier = Barrier::new(1);
        assert_eq!(barrier.wait().await, Ok(0));
        assert_idle(&barrier);
    });
}

// CPython: test_locks.py BarrierTests.test_filling_one_task_twice
#[test]
fn barrier_filling_one_task_twice() {
    vrun(async {
        let barrier = keep(Barrier::new(1));
        let t1 = started(barrier.wait()).await;
        assert_eq!(barrier.n_waiting(), 0);
        let t2 = started(barrier.wait()).await;
        assert_eq!(t1.done(), t2.done());
        assert_eq!(t1.await.unwrap(), t2.await.unwrap());
        assert_idle(barrier);
    });
}

// CPython: test_locks.py BarrierTests.test_filling_task_by_task
#[test]
fn barrier_filling_task_by_task() {
    vrun(async {
        let barrier = keep(Barrier::new(3));
        let t1 = started(barrier.wait()).await;
        assert_eq!(barrier.n_waiting(), 1);
        assert!(state_of(barrier).contains("filling"));
        let t2 = started(barrier.wait()).await;
        assert_eq!(barrier.n_waiting(), 2);
        assert!(state_of(barrier).contains("filling"));
        let t3 = started(barrier.wait()).await;
        asyncio::wait([t1, t2, t3], asyncio::ReturnWhen::AllCompleted).await;
        assert_idle(barrier);
    });
}

// CPython: test_locks.py BarrierTests.test_filling_tasks_wait_twice
// CPython: test_locks.py BarrierTests.test_filling_tasks_check_return_value
#[test]
fn barrier_filling_tasks_wait_twice() {
    vrun(async {
        let barrier = keep(Barrier::new(N));
        let results = Results::default();
        let mut res = gather_tasks(N, || {
            let results = results.clone();
            async move {
                barrier.wait().await.unwrap();
                results.push(1);
                let i = barrier.wait().await.unwrap();
                results.push(2);
                i
            }
        })
        .await;
        assert_eq!(results.count(1), N);
        assert_eq!(results.count(2), N);
        res.sort();
        assert_eq!(res, (0..N).collect::<Vec<_>>());
        assert_idle(barrier);
    });
}

// CPython: test_locks.py BarrierTests.test_draining_state
#[test]
fn barrier_draining_state() {
    vrun(async {
        let barrier = keep(Barrier::new(N));
        let results = log();
        gather_tasks(N, || {
            let r = results.clone();
            async move {
                barrier.wait().await.unwrap();
                r.borrow_mut().push(state_of(barrier).contains("draining"));
            }
        })
        .await;
        let results = results.borrow();
        assert_eq!(results.len(), N);
        assert!(!results[N - 1], "the last task out finds the barrier filling again");
        assert!(results[..N - 1].iter().all(|d| *d));
        assert_idle(barrier);
    });
}

// CPython: test_locks.py BarrierTests.test_blocking_tasks_while_draining
#[test]
fn barrier_blocking_tasks_while_draining() {
    vrun(async {
        let rewait = 2;
        let barrier = keep(Barrier::new(N));
        let barrier_nowaiting = keep(Barrier::new(N - rewait));
        let rewait_n = Rc::new(Cell::new(rewait));
        gather_tasks(N, || {
            let rewait_n = rewait_n.clone();
            async move {
                barrier.wait().await.unwrap();
                if rewait_n.get() > 0 {
                    rewait_n.set(rewait_n.get() - 1);
                    barrier.wait().await.unwrap();
                } else {
                    barrier_nowaiting.wait().await.unwrap();
                    barrier.wait().await.unwrap();
                }
            }
        })
        .await;
    });
}

// CPython: test_locks.py BarrierTests.test_filling_tasks_cancel_one
#[test]
fn barrier_filling_tasks_cancel_one() {
    vrun(async {
        let barrier = keep(Barrier::new(3));
        let results = log();
        let coro = || {
            let r = results.clone();
            create_task(async move {
                barrier.wait().await.unwrap();
                r.borrow_mut().push(true);
            })
        };
        let t1 = coro();
        yield_now().await;
        assert_eq!(barrier.n_waiting(), 1);
        let t2 = coro();
        yield_now().await;
        assert_eq!(barrier.n_waiting(), 2);
        t1.cancel();
        yield_now().await;
        assert_eq!(barrier.n_waiting(), 1);
        assert_ends_cancelled(t1).await;
        let t3 = coro();
        yield_now().await;
        assert_eq!(barrier.n_waiting(), 2);
        let t4 = coro();
        for r in asyncio::gather([t2, t3, t4]).await {
            r.unwrap();
        }
        assert_eq!(results.borrow().len(), 3);
        assert_idle(barrier);
    });
}

// CPython: test_locks.py BarrierTests.test_reset_barrier
#[test]
fn barrier_reset_barrier() {
    vrun(async {
        let barrier = Barrier::new(1);
        barrier.reset();
        yield_now().await;
        assert_idle(&barrier);
    });
}

// CPython: test_locks.py BarrierTests.test_reset_barrier_while_tasks_waiting
#[test]
fn barrier_reset_while_tasks_waiting() {
    vrun(async {
        let barrier = keep(Barrier::new(N));
        let results = log();
        let tasks = make_tasks(N - 1, || {
            let r = results.clone();
            async move {
                if barrier.wait().await == Err(BrokenBarrierError) {
                    r.borrow_mut().push(true);
                }
            }
        });
        yield_now().await;
        drop(create_task(async move { barrier.reset() }));
        asyncio::gather(tasks).await;
        assert_eq!(results.borrow().len(), N - 1);
        assert!(!state_of(barrier).contains("resetting"));
        assert_idle(barrier);
    });
}

/// How many tasks wait on the barrier a second time in CPython's
/// `test_*_barrier_when_tasks_half_draining_half_blocking`.
const BLOCKING_TASKS: usize = N / 2;

/// The scenario of CPython's
/// `test_reset_barrier_when_tasks_half_draining_half_blocking` (`reset`)
/// and `test_abort_barrier_when_tasks_half_draining_half_blocking`: N tasks
/// fill the barrier; as they drain, the first `BLOCKING_TASKS` wait on it
/// again and the next one resets it (and waits again) or aborts it. Tasks
/// still draining find their first wait broken (`results1`), those waiting
/// again their second (`results2`).
async fn half_draining_half_blocking(barrier: &'static Barrier, reset: bool) -> Results {
    let results = Results::default();
    let count = Rc::new(Cell::new(0));
    gather_tasks(N, || {
        let (results, count) = (results.clone(), count.clone());
        async move {
            if barrier.wait().await.is_err() {
                // released, but reset or aborted before it ran
                results.push(1);
                if reset {
                    barrier.wait().await.unwrap();
                }
            } else {
                count.set(count.get() + 1);
                if count.get() > BLOCKING_TASKS {
                    if reset {
                        barrier.reset();
                        barrier.wait().await.unwrap();
                    } else {
                        barrier.abort();
                    }
                } else if barrier.wait().await.is_err() {
                    results.push(2);
                }
            }
        }
    })
    .await;
    results
}

// CPython: test_locks.py BarrierTests.test_reset_barrier_when_tasks_half_draining_half_blocking
#[test]
fn barrier_reset_when_half_draining_half_blocking() {
    vrun(async {
        let barrier = keep(Barrier::new(N));
        let results = half_draining_half_blocking(barrier, true).await;
        assert_eq!(results.count(1), BLOCKING_TASKS);
        assert_eq!(results.count(2), 0);
        assert!(!state_of(barrier).contains("resetting"));
        assert_idle(barrier);
    });
}

// CPython: test_locks.py BarrierTests.test_reset_barrier_while_tasks_waiting_and_waiting_again
#[test]
fn barrier_reset_while_waiting_and_waiting_again() {
    vrun(async {
        let barrier = keep(Barrier::new(N));
        let results = Results::default();
        let tasks = make_tasks(N - 1, || {
            let results = results.clone();
            async move {
                if barrier.wait().await.is_err() {
                    results.push(1);
                }
                barrier.wait().await.unwrap();
                results.push(2);
            }
        });
        drop(create_task(async move { barrier.reset() }));
        yield_now().await;
        let r = results.clone();
        drop(create_task(async move {
            barrier.wait().await.unwrap();
            r.push(2);
        }));
        for r in asyncio::gather(tasks).await {
            r.unwrap();
        }
        yield_now().await;
        assert_eq!(results.count(1), N - 1);
        assert_eq!(results.count(2), N);
        assert_idle(barrier);
    });
}

// CPython: test_locks.py BarrierTests.test_reset_barrier_while_tasks_draining
#[test]
fn barrier_reset_while_tasks_draining() {
    vrun(async {
        let barrier = keep(Barrier::new(N));
        let results = Results::default();
        let count = Rc::new(Cell::new(0));
        gather_tasks(N, || {
            let (results, count) = (results.clone(), count.clone());
            async move {
                barrier.wait().await.unwrap();
                count.set(count.get() + 1);
                if count.get() == N {
                    barrier.reset();
                    barrier.wait().await.unwrap();
                } else if barrier.wait().await.is_ok() {
                    results.push(1);
                } else {
                    results.push(2);
                }
                barrier.wait().await.unwrap();
                results.push(3);
            }
        })
        .await;
        assert_eq!(results.count(1), N - 1);
        assert_eq!(results.count(2), 0);
        assert_eq!(results.count(3), N);
        assert_idle(barrier);
    });
}

// CPython: test_locks.py BarrierTests.test_abort_barrier
#[test]
fn barrier_abort_barrier() {
    vrun(async {
        let barrier = Barrier::new(1);
        barrier.abort();
        yield_now().await;
        assert_eq!(barrier.n_waiting(), 0);
        assert!(barrier.broken());
    });
}

// CPython: test_locks.py BarrierTests.test_abort_barrier_when_tasks_half_draining_half_blocking
#[test]
fn barrier_abort_when_half_draining_half_blocking() {
    vrun(async {
        let barrier = keep(Barrier::new(N));
        let results = half_draining_half_blocking(barrier, false).await;
        assert!(barrier.broken());
        assert_eq!(results.count(1), BLOCKING_TASKS);
        assert_eq!(results.count(2), N - BLOCKING_TASKS - 1);
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!state_of(barrier).contains("resetting"));
    });
}

// CPython: test_locks.py BarrierTests.test_abort_barrier_when_exception
#[test]
fn barrier_abort_when_exception() {
    vrun(async {
        let barrier = keep(Barrier::new(N));
        let results = Results::default();
        gather_tasks(N, || {
            let results = results.clone();
            async move {
                wait_twice_or_abort(barrier, &results).await;
            }
        })
        .await;
        assert!(barrier.broken());
        assert_eq!(results.count(1), 0);
        assert_eq!(results.count(2), N - 1);
        assert_eq!(barrier.n_waiting(), 0);
    });
}

// CPython: test_locks.py BarrierTests.test_abort_barrier_when_exception_then_resetting
#[test]
fn barrier_abort_when_exception_then_resetting() {
    vrun(async {
        let barrier1 = keep(Barrier::new(N));
        let barrier2 = keep(Barrier::new(N));
        let results = Results::default();
        gather_tasks(N, || {
            let results = results.clone();
            async move {
                wait_twice_or_abort(barrier1, &results).await;
                let i = barrier2.wait().await.unwrap();
                if i == N / 2 {
                    barrier1.reset();
                }
                barrier2.wait().await.unwrap();
                barrier1.wait().await.unwrap();
                results.push(3);
            }
        })
        .await;
        assert_eq!(results.count(1), 0);
        assert_eq!(results.count(2), N - 1);
        assert_eq!(results.count(3), N);
        assert_idle(barrier1);
    });
}
