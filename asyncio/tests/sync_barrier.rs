//! Barrier: arrival indices, reuse across rounds, reset and abort break
//! waiters, a cancelled waiter does not break it.

mod support;

use std::rc::Rc;
use std::time::Duration;

use asyncio::sync::{Barrier, BrokenBarrierError};
use support::vrun;

fn party(b: &Rc<Barrier>) -> asyncio::Task<Result<usize, BrokenBarrierError>> {
    let b = b.clone();
    asyncio::create_task(async move { b.wait().await })
}

#[test]
fn releases_when_all_parties_arrive_and_is_reusable() {
    vrun(async {
        let b = Rc::new(Barrier::new(3));
        for _round in 0..3 {
            let first = party(&b);
            let second = party(&b);
            asyncio::sleep(Duration::from_secs(1)).await;
            assert!(!first.done() && !second.done());
            assert_eq!(b.n_waiting(), 2);
            let last = b.wait().await.unwrap();
            assert_eq!(last, 2);
            assert_eq!((first.await.unwrap(), second.await.unwrap()), (Ok(0), Ok(1)));
            assert_eq!(b.n_waiting(), 0);
        }
    });
}

#[test]
fn reset_breaks_current_waiters_then_works_again() {
    vrun(async {
        let b = Rc::new(Barrier::new(2));
        let w = party(&b);
        asyncio::yield_now().await;
        b.reset();
        assert_eq!(w.await.unwrap(), Err(BrokenBarrierError));
        let w = party(&b);
        asyncio::yield_now().await;
        assert_eq!(b.wait().await, Ok(1));
        assert_eq!(w.await.unwrap(), Ok(0));
    });
}

#[test]
fn abort_breaks_now_and_later() {
    vrun(async {
        let b = Rc::new(Barrier::new(3));
        let w = party(&b);
        asyncio::yield_now().await;
        b.abort();
        assert!(b.broken());
        assert_eq!(w.await.unwrap(), Err(BrokenBarrierError));
        assert_eq!(b.wait().await, Err(BrokenBarrierError));
    });
}

#[test]
fn a_cancelled_waiter_does_not_break_the_barrier() {
    vrun(async {
        let b = Rc::new(Barrier::new(2));
        let a = party(&b);
        asyncio::yield_now().await;
        a.cancel();
        assert!(a.await.unwrap_err().is_cancelled());
        assert_eq!(b.n_waiting(), 0, "it left");
        assert!(!b.broken());
        let c = party(&b);
        asyncio::yield_now().await;
        assert_eq!(b.wait().await, Ok(1));
        assert_eq!(c.await.unwrap(), Ok(0));
    });
}
