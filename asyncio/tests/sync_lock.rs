//! Lock: mutual exclusion, FIFO order with 1,000 waiters, cancellation at
//! every await point (waiting, handed the lock, holding), wrong-loop use.

mod support;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use asyncio::sync::Lock;
use support::{vrun, Counts};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn seeds_lock_example_serialises_the_critical_section() {
    vrun(async {
        let lock = Rc::new(Lock::new());
        let shared = Rc::new(Cell::new(0));
        let log = Rc::new(RefCell::new(Vec::new()));
        let start = asyncio::time::Instant::now();
        asyncio::gather((0..5).map(|_| {
            let (lock, shared, log) = (lock.clone(), shared.clone(), log.clone());
            async move {
                let _g = lock.acquire().await;
                log.borrow_mut().push(("before", shared.get()));
                shared.set(shared.get() + 1);
                asyncio::sleep(secs(1)).await;
                log.borrow_mut().push(("after", shared.get()));
            }
        }))
        .await;
        assert_eq!(start.elapsed(), secs(5), "one at a time");
        let expected: Vec<_> = (0..5).flat_map(|i| [("before", i), ("after", i + 1)]).collect();
        assert_eq!(*log.borrow(), expected);
    });
}

#[test]
fn a_thousand_waiters_get_the_lock_in_arrival_order() {
    vrun(async {
        let lock = Rc::new(Lock::new());
        let order = Rc::new(RefCell::new(Vec::new()));
        let holder = lock.try_acquire().unwrap();
        let tasks: Vec<_> = (0..1000)
            .map(|i| {
                let (lock, order) = (lock.clone(), order.clone());
                asyncio::create_task(async move {
                    let _g = lock.acquire().await;
                    order.borrow_mut().push(i);
                    asyncio::yield_now().await;
                })
            })
            .collect();
        asyncio::yield_now().await;
        drop(holder);
        asyncio::gather(tasks).await;
        assert_eq!(*order.borrow(), (0..1000).collect::<Vec<_>>());
    });
}

#[test]
fn newcomers_cannot_barge_past_a_woken_waiter() {
    vrun(async {
        let lock = Rc::new(Lock::new());
        let order = Rc::new(RefCell::new(Vec::new()));
        let g = lock.try_acquire().unwrap();
        let (l, o) = (lock.clone(), order.clone());
        let waiter = asyncio::create_task(async move {
            let _g = l.acquire().await;
            o.borrow_mut().push("waiter");
        });
        asyncio::yield_now().await;
        drop(g); // handed to the waiter, which has not run yet
        assert!(!lock.locked(), "not held until the waiter runs, as asyncio's locked()");
        assert!(lock.try_acquire().is_none(), "a newcomer cannot take it");
        let (l, o) = (lock.clone(), order.clone());
        let newcomer = asyncio::create_task(async move {
            let _g = l.acquire().await;
            o.borrow_mut().push("newcomer");
        });
        waiter.await.unwrap();
        newcomer.await.unwrap();
        assert_eq!(*order.borrow(), ["waiter", "newcomer"]);
    });
}

#[test]
fn cancellation_at_every_await_point() {
    let counts = Counts::new();
    let c = counts.clone();
    vrun(async move {
        let lock = Rc::new(Lock::new());
        let got = Rc::new(RefCell::new(Vec::new()));
        let holder = lock.try_acquire().unwrap();
        let mk = |name: &'static str| {
            let (lock, got, c) = (lock.clone(), got.clone(), c.clone());
            asyncio::create_task(c.wrap(async move {
                let _g = lock.acquire().await;
                got.borrow_mut().push(name);
                asyncio::sleep(secs(1)).await; // holding
            }))
        };
        let a = mk("a");
        let b = mk("b");
        let c2 = mk("c");
        let d = mk("d");
        asyncio::yield_now().await;
        // 1. Cancelled while waiting: leaves the queue.
        a.cancel();
        asyncio::yield_now().await;
        // 2. Cancelled after being handed the lock, before running: passes it on.
        drop(holder);
        b.cancel();
        asyncio::yield_now().await;
        asyncio::yield_now().await;
        assert_eq!(*got.borrow(), ["c"], "b's turn went to c");
        // 3. Cancelled while holding: the guard is dropped, d gets it.
        c2.cancel();
        d.await.unwrap();
        assert_eq!(*got.borrow(), ["c", "d"]);
        assert!(a.await.unwrap_err().is_cancelled());
        assert!(b.await.unwrap_err().is_cancelled());
        assert!(c2.await.unwrap_err().is_cancelled());
        assert!(!lock.locked());
    });
    assert_eq!(counts.drops(), 4, "each future dropped exactly once");
}

#[test]
fn timeout_on_acquire_leaves_no_ghost_waiter() {
    vrun(async {
        let lock = Lock::new();
        let g = lock.try_acquire().unwrap();
        assert!(asyncio::timeout(secs(1), lock.acquire()).await.is_err());
        drop(g);
        assert!(!lock.locked(), "the timed-out waiter did not keep the lock");
        let _g2 = lock.acquire().await;
    });
}

#[test]
#[should_panic(expected = "asyncio::sync::Lock belongs to the event loop on thread")]
fn using_a_lock_from_another_loop_panics_clearly() {
    // As asyncio's loop-bound primitives, a lock binds to the loop on which
    // a task first waits for it.
    async fn contend(lock: Rc<Lock>) {
        let g = lock.acquire().await;
        let l = lock.clone();
        let waiter = asyncio::create_task(async move { drop(l.acquire().await) });
        asyncio::yield_now().await;
        drop(g);
        waiter.await.unwrap();
    }
    let lock = Rc::new(Lock::new());
    asyncio::run(contend(lock.clone()));
    asyncio::run(contend(lock));
}
