//! Condition: notify/notify_all/wait_for, the lock released while waiting,
//! and cancellation (waiting, or notified and re-acquiring) neither keeps
//! the lock nor loses a notification.

mod support;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use asyncio::sync::Condition;
use support::vrun;

fn waiter(cond: &Rc<Condition>, log: &Rc<RefCell<Vec<&'static str>>>, name: &'static str) -> asyncio::Task<()> {
    let (cond, log) = (cond.clone(), log.clone());
    asyncio::create_task(async move {
        let g = cond.acquire().await;
        let _g = g.wait().await;
        log.borrow_mut().push(name);
    })
}

#[test]
fn notify_wakes_n_in_order_and_notify_all_the_rest() {
    vrun(async {
        let cond = Rc::new(Condition::new());
        let log = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = ["a", "b", "c", "d"]
            .into_iter()
            .map(|n| waiter(&cond, &log, n))
            .collect();
        asyncio::yield_now().await;
        assert_eq!(cond.waiters(), 4);
        assert!(!cond.locked(), "waiters released the lock while waiting");
        cond.acquire().await.notify(2);
        asyncio::sleep(Duration::from_secs(1)).await;
        assert_eq!(*log.borrow(), ["a", "b"]);
        cond.acquire().await.notify_all();
        asyncio::gather(tasks).await;
        assert_eq!(*log.borrow(), ["a", "b", "c", "d"]);
    });
}

#[test]
fn wait_for_rechecks_the_predicate_with_the_lock_held() {
    vrun(async {
        let cond = Rc::new(Condition::new());
        let value = Rc::new(Cell::new(0));
        let (c, v) = (cond.clone(), value.clone());
        let t = asyncio::create_task(async move {
            let g = c.acquire().await;
            let _g = g.wait_for(|| v.get() >= 3).await;
            v.get()
        });
        for i in 1..=3 {
            asyncio::sleep(Duration::from_secs(1)).await;
            let g = cond.acquire().await;
            value.set(i);
            g.notify_all();
        }
        assert_eq!(t.await.unwrap(), 3);
    });
}

#[test]
fn cancelled_while_waiting_leaves_the_lock_free() {
    vrun(async {
        let cond = Rc::new(Condition::new());
        let log = Rc::new(RefCell::new(Vec::new()));
        let a = waiter(&cond, &log, "a");
        asyncio::yield_now().await;
        a.cancel();
        assert!(a.await.unwrap_err().is_cancelled());
        assert!(!cond.locked());
        assert_eq!(cond.waiters(), 0);
        let _g = cond.acquire().await; // nobody kept the lock
    });
}

#[test]
fn a_notification_to_a_cancelled_waiter_is_passed_on() {
    vrun(async {
        let cond = Rc::new(Condition::new());
        let log = Rc::new(RefCell::new(Vec::new()));
        let a = waiter(&cond, &log, "a");
        let b = waiter(&cond, &log, "b");
        asyncio::yield_now().await;
        {
            let g = cond.acquire().await;
            g.notify(1); // goes to a
            a.cancel(); // a is cancelled before acting on it
        }
        asyncio::sleep(Duration::from_secs(1)).await;
        assert_eq!(*log.borrow(), ["b"], "b got the notification a could not use");
        assert!(b.done());
        assert!(a.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn cancelled_while_reacquiring_passes_the_notification_and_keeps_no_lock() {
    vrun(async {
        let cond = Rc::new(Condition::new());
        let log = Rc::new(RefCell::new(Vec::new()));
        let a = waiter(&cond, &log, "a");
        let b = waiter(&cond, &log, "b");
        asyncio::yield_now().await;
        let g = cond.acquire().await;
        g.notify(1); // a is notified and will queue for the lock we hold
        asyncio::yield_now().await;
        a.cancel(); // cancelled while re-acquiring
        asyncio::yield_now().await;
        drop(g);
        asyncio::sleep(Duration::from_secs(1)).await;
        assert_eq!(*log.borrow(), ["b"]);
        assert!(!cond.locked());
        assert!(a.await.unwrap_err().is_cancelled());
        b.await.unwrap();
    });
}
