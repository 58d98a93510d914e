//! Semaphore and BoundedSemaphore: the seeds' Semaphore(2), the gh-90155
//! scenario, cancellation after being handed a permit, FIFO order with
//! 1,000 waiters, over-release.

mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use asyncio::sync::{BoundedSemaphore, Semaphore};
use asyncio::time::Instant;
use support::{vrun, Counts};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn seeds_semaphore_of_two_lets_two_in_at_a_time() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    vrun(async move {
        let sem = Rc::new(Semaphore::new(2));
        let start = Instant::now();
        asyncio::gather((0..5).map(|i| {
            let (sem, l) = (sem.clone(), l.clone());
            async move {
                let _p = sem.acquire().await;
                l.borrow_mut().push(format!("Accessing resource {i}"));
                asyncio::sleep(secs(1)).await;
                l.borrow_mut().push(format!("Releasing resource {i}"));
            }
        }))
        .await;
        assert_eq!(start.elapsed(), secs(3));
    });
    let expected = [
        "Accessing resource 0",
        "Accessing resource 1",
        "Releasing resource 0",
        "Releasing resource 1",
        "Accessing resource 2",
        "Accessing resource 3",
        "Releasing resource 2",
        "Releasing resource 3",
        "Accessing resource 4",
        "Releasing resource 4",
    ];
    assert_eq!(*log.borrow(), expected, "the seed's printed order");
}

/// CPython gh-90155: a task woken by release() could lose its permit to a
/// newcomer that acquired before the woken task ran; and a woken task that
/// was then cancelled could make the permit vanish.
#[test]
fn gh_90155_woken_waiters_keep_their_turn_and_cancelled_ones_pass_it_on() {
    vrun(async {
        let sem = Rc::new(Semaphore::new(1));
        let order = Rc::new(RefCell::new(Vec::new()));
        let holder = sem.try_acquire().unwrap();
        let mk = |name: &'static str| {
            let (sem, order) = (sem.clone(), order.clone());
            asyncio::create_task(async move {
                let _p = sem.acquire().await;
                order.borrow_mut().push(name);
                asyncio::yield_now().await;
            })
        };
        let b = mk("b");
        let c = mk("c");
        asyncio::yield_now().await;
        drop(holder); // b is handed the permit...
        b.cancel(); // ...and cancelled before it runs: c must get it
        let d = mk("d"); // a newcomer must queue behind c
        assert!(sem.try_acquire().is_none());
        c.await.unwrap();
        d.await.unwrap();
        assert!(b.await.unwrap_err().is_cancelled());
        assert_eq!(*order.borrow(), ["c", "d"]);
        assert_eq!(sem.available_permits(), 1, "no permit lost or duplicated");
    });
}

#[test]
fn fairness_with_a_thousand_contending_waiters() {
    vrun(async {
        let sem = Rc::new(Semaphore::new(3));
        let order = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..1000)
            .map(|i| {
                let (sem, order) = (sem.clone(), order.clone());
                asyncio::create_task(async move {
                    let _p = sem.acquire().await;
                    order.borrow_mut().push(i);
                    asyncio::sleep(Duration::from_millis(10)).await;
                })
            })
            .collect();
        asyncio::gather(tasks).await;
        assert_eq!(*order.borrow(), (0..1000).collect::<Vec<_>>());
        assert_eq!(sem.available_permits(), 3);
    });
}

#[test]
fn cancelled_waiters_are_dropped_once_and_lose_nothing() {
    let counts = Counts::new();
    let c = counts.clone();
    vrun(async move {
        let sem = Rc::new(Semaphore::new(0));
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let sem = sem.clone();
                asyncio::create_task(c.wrap(async move {
                    sem.acquire().await.forget();
                }))
            })
            .collect();
        asyncio::yield_now().await;
        for t in tasks.iter().step_by(2) {
            t.cancel();
        }
        for _ in 0..5 {
            sem.release();
        }
        asyncio::gather(tasks).await;
        assert_eq!(sem.available_permits(), 0, "five permits went to the five survivors");
        assert_eq!(sem.waiters(), 0);
    });
    assert_eq!(counts.drops(), 10);
}

#[test]
fn bounded_semaphore_refuses_over_release() {
    vrun(async {
        let sem = BoundedSemaphore::new(2);
        assert!(sem.release().is_err());
        sem.acquire().await.forget();
        sem.acquire().await.forget();
        assert!(sem.locked());
        assert!(sem.release().is_ok());
        assert!(sem.release().is_ok());
        let e = sem.release().unwrap_err();
        assert_eq!(e.to_string(), "BoundedSemaphore released too many times");
        assert_eq!(sem.available_permits(), 2);
    });
}
