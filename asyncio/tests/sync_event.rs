//! Event: the seeds' waiter/setter, set wakes every waiter, clear, a woken
//! waiter returns even if cleared again, cancellation.

mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use asyncio::sync::Event;
use support::{vrun, Counts};

#[test]
fn seeds_waiter_and_setter() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    vrun(async move {
        let event = Event::new();
        let start = asyncio::time::Instant::now();
        asyncio::gather!(
            async {
                l.borrow_mut().push("waiting for the event to be set");
                event.wait().await;
                l.borrow_mut().push("event has been set, continuing execution");
            },
            async {
                asyncio::sleep(Duration::from_secs(2)).await;
                event.set();
                l.borrow_mut().push("event has been set!");
            },
        )
        .await;
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    });
    assert_eq!(
        *log.borrow(),
        [
            "waiting for the event to be set",
            "event has been set!",
            "event has been set, continuing execution"
        ]
    );
}

#[test]
fn set_wakes_all_and_clear_resets() {
    vrun(async {
        let event = Rc::new(Event::new());
        let waiters: Vec<_> = (0..100)
            .map(|_| {
                let e = event.clone();
                asyncio::create_task(async move { e.wait().await })
            })
            .collect();
        asyncio::yield_now().await;
        event.set();
        event.clear(); // cleared before the waiters run: they still return
        assert!(!event.is_set());
        for w in waiters {
            w.await.unwrap();
        }
        assert!(
            asyncio::timeout(Duration::from_secs(1), event.wait()).await.is_err(),
            "cleared: waits again"
        );
        event.set();
        event.wait().await;
    });
}

#[test]
fn cancelled_waiters_leave_cleanly() {
    let counts = Counts::new();
    let c = counts.clone();
    vrun(async move {
        let event = Rc::new(Event::new());
        let t: Vec<_> = (0..4)
            .map(|_| {
                let e = event.clone();
                asyncio::create_task(c.wrap(async move { e.wait().await }))
            })
            .collect();
        asyncio::yield_now().await;
        t[0].cancel();
        t[1].cancel();
        asyncio::yield_now().await;
        assert_eq!(format!("{event:?}"), "Event { set: false, waiters: 2 }");
        event.set();
        asyncio::gather(t).await;
    });
    assert_eq!(counts.drops(), 4);
}
