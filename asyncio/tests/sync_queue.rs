//! Queue, LifoQueue, PriorityQueue: order, back-pressure, nowait errors,
//! task_done/join, shutdown (graceful and immediate), cancellation of a
//! getter or putter after it was granted, fairness with 1,000 getters.

mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use asyncio::sync::{GetError, LifoQueue, PriorityQueue, PutError, Queue};
use asyncio::time::Instant;
use support::{vrun, Counts};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn orders() {
    let q = Queue::new(0);
    let l = LifoQueue::new(0);
    let p = PriorityQueue::new(0);
    for i in [3, 1, 2] {
        q.put_nowait(i).unwrap();
        l.put_nowait(i).unwrap();
        p.put_nowait(i).unwrap();
    }
    let drain = |f: &dyn Fn() -> Result<i32, GetError>| (0..3).map(|_| f().unwrap()).collect::<Vec<_>>();
    assert_eq!(drain(&|| q.get_nowait()), [3, 1, 2]);
    assert_eq!(drain(&|| l.get_nowait()), [2, 1, 3]);
    assert_eq!(drain(&|| p.get_nowait()), [1, 2, 3]);
    assert_eq!(q.get_nowait(), Err(GetError::Empty));
}

#[test]
fn bounded_put_waits_for_space_and_nowait_reports_full() {
    vrun(async {
        let q = Rc::new(Queue::new(2));
        q.put_nowait(1).unwrap();
        q.put_nowait(2).unwrap();
        assert!(q.full());
        assert!(matches!(q.put_nowait(3), Err(PutError::Full(3))));
        let q2 = q.clone();
        let start = Instant::now();
        let consumer = asyncio::create_task(async move {
            asyncio::sleep(secs(1)).await;
            q2.get().await.unwrap()
        });
        q.put(3).await.unwrap(); // waits until the consumer frees a slot
        assert_eq!(start.elapsed(), secs(1));
        assert_eq!(consumer.await.unwrap(), 1);
        assert_eq!((q.get_nowait(), q.get_nowait()), (Ok(2), Ok(3)));
    });
}

#[test]
fn producer_consumer_with_task_done_and_join() {
    vrun(async {
        let q = Rc::new(Queue::new(3));
        let processed = Rc::new(RefCell::new(Vec::new()));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let (q, processed) = (q.clone(), processed.clone());
                asyncio::create_task(async move {
                    while let Ok(item) = q.get().await {
                        asyncio::sleep(secs(1)).await;
                        processed.borrow_mut().push(item);
                        q.task_done().unwrap();
                    }
                })
            })
            .collect();
        let start = Instant::now();
        for i in 0..10 {
            q.put(i).await.unwrap();
        }
        q.join().await;
        assert_eq!(start.elapsed(), secs(5), "two workers, ten one-second items");
        let mut got = processed.borrow().clone();
        got.sort();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
        q.shutdown(false);
        asyncio::gather(workers).await;
        assert!(q.task_done().is_err(), "more task_done than items");
    });
}

#[test]
fn graceful_shutdown_fails_puts_and_drains_gets() {
    vrun(async {
        let q = Rc::new(Queue::new(1));
        q.put_nowait("a").unwrap();
        let q2 = q.clone();
        let blocked_put = asyncio::create_task(async move { q2.put("b").await });
        asyncio::yield_now().await;
        q.shutdown(false);
        let r = blocked_put.await.unwrap();
        assert_eq!(r.unwrap_err().0, "b", "a waiting putter gets its item back");
        assert!(matches!(q.put_nowait("c"), Err(PutError::ShutDown("c"))));
        assert_eq!(q.get().await, Ok("a"), "gets drain what is left");
        assert!(q.get().await.is_err(), "then fail");
        assert_eq!(q.get_nowait(), Err(GetError::ShutDown));
    });
}

#[test]
fn shutdown_wakes_getters_waiting_on_an_empty_queue() {
    vrun(async {
        let q = Rc::new(Queue::<u8>::new(0));
        let getters: Vec<_> = (0..3)
            .map(|_| {
                let q = q.clone();
                asyncio::create_task(async move { q.get().await })
            })
            .collect();
        asyncio::sleep(secs(1)).await;
        q.shutdown(false);
        for g in getters {
            assert!(g.await.unwrap().is_err());
        }
    });
}

#[test]
fn immediate_shutdown_discards_items_and_releases_join() {
    vrun(async {
        let q = Rc::new(Queue::new(0));
        for i in 0..5 {
            q.put_nowait(i).unwrap();
        }
        let q2 = q.clone();
        let joiner = asyncio::create_task(async move { q2.join().await });
        asyncio::yield_now().await;
        assert!(!joiner.done());
        q.shutdown(true);
        joiner.await.unwrap();
        assert_eq!(q.qsize(), 0);
        assert!(q.get().await.is_err());
    });
}

#[test]
fn a_getter_cancelled_after_being_granted_passes_the_item_on() {
    vrun(async {
        let q = Rc::new(Queue::new(0));
        let got = Rc::new(RefCell::new(Vec::new()));
        let mk = |name: &'static str| {
            let (q, got) = (q.clone(), got.clone());
            asyncio::create_task(async move {
                let item = q.get().await.unwrap();
                got.borrow_mut().push((name, item));
            })
        };
        let a = mk("a");
        let b = mk("b");
        asyncio::yield_now().await;
        q.put_nowait(1).unwrap(); // reserved for a
        assert!(q.get_nowait().is_err(), "a newcomer cannot take a's item");
        a.cancel(); // a never runs: b gets the item
        b.await.unwrap();
        assert_eq!(*got.borrow(), [("b", 1)]);
        assert!(a.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn a_putter_cancelled_after_being_granted_passes_the_slot_on() {
    vrun(async {
        let q = Rc::new(Queue::new(1));
        q.put_nowait(0).unwrap();
        let (q1, q2) = (q.clone(), q.clone());
        let a = asyncio::create_task(async move { q1.put(1).await });
        let b = asyncio::create_task(async move { q2.put(2).await });
        asyncio::yield_now().await;
        assert_eq!(q.get_nowait(), Ok(0)); // frees the slot: reserved for a
        assert!(matches!(q.put_nowait(9), Err(PutError::Full(9))), "no barging past a");
        a.cancel();
        b.await.unwrap().unwrap();
        assert_eq!(q.get_nowait(), Ok(2));
    });
}

#[test]
fn a_thousand_getters_are_served_in_arrival_order() {
    let counts = Counts::new();
    vrun(async {
        let q = Rc::new(Queue::new(0));
        let order = Rc::new(RefCell::new(Vec::new()));
        let getters: Vec<_> = (0..1000)
            .map(|i| {
                let (q, order) = (q.clone(), order.clone());
                asyncio::create_task(counts.wrap(async move {
                    let item = q.get().await.unwrap();
                    order.borrow_mut().push((i, item));
                }))
            })
            .collect();
        asyncio::yield_now().await;
        for item in 0..1000 {
            q.put(item).await.unwrap();
        }
        asyncio::gather(getters).await;
        assert!(order.borrow().iter().all(|(i, item)| i == item), "getter i got item i");
    });
    assert_eq!(counts.drops(), 1000);
}

/// A shutdown while an item is reserved for a woken getter that has not
/// run, with more getters waiting: every getter must still finish (the
/// first with the item, the others with the shutdown error).
#[test]
fn shutdown_with_a_reserved_item_and_more_getters_waiting() {
    vrun(async {
        let q = Rc::new(Queue::new(0));
        let getters: Vec<_> = (0..3)
            .map(|_| {
                let q = q.clone();
                asyncio::create_task(async move { q.get().await })
            })
            .collect();
        asyncio::yield_now().await;
        q.put_nowait(1).unwrap(); // reserved for the first getter
        q.shutdown(false); // the producer's last item, then shutdown
        let results = asyncio::timeout(secs(5), asyncio::gather(getters))
            .await
            .expect("no getter hangs");
        let results: Vec<_> = results.into_iter().map(Result::unwrap).collect();
        assert_eq!(results[0], Ok(1));
        assert!(results[1].is_err() && results[2].is_err());
    });
}

/// The seed-style pattern with several consumers: the producer puts its
/// items, then shuts the queue down; every consumer ends.
#[test]
fn producer_shutdown_with_several_consumers_ends_all_of_them() {
    vrun(async {
        let q = Rc::new(Queue::new(2));
        let consumers: Vec<_> = (0..4)
            .map(|_| {
                let q = q.clone();
                asyncio::create_task(async move {
                    let mut n = 0;
                    while q.get().await.is_ok() {
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        for i in 0..10 {
            q.put(i).await.unwrap();
        }
        q.shutdown(false);
        let counts = asyncio::timeout(secs(5), asyncio::gather(consumers))
            .await
            .expect("no consumer hangs");
        assert_eq!(counts.into_iter().map(Result::unwrap).sum::<i32>(), 10);
    });
}

/// A putter granted a slot and then shut down gives the slot back.
#[test]
fn a_putter_woken_after_shutdown_leaves_no_phantom_reservation() {
    vrun(async {
        let q = Rc::new(Queue::new(1));
        q.put_nowait(0).unwrap();
        let q2 = q.clone();
        let p = asyncio::create_task(async move { q2.put(1).await });
        asyncio::yield_now().await;
        assert_eq!(q.get_nowait(), Ok(0)); // slot reserved for p
        assert!(q.full(), "the slot is promised to p");
        q.shutdown(false);
        assert!(p.await.unwrap().is_err());
        assert!(!q.full(), "p gave its slot back");
    });
}

/// An item whose destructor uses the queue, discarded by an immediate
/// shutdown: dropped outside the queue's internal borrow.
#[test]
fn items_discarded_by_immediate_shutdown_may_use_the_queue_when_dropped() {
    use std::rc::Weak;
    struct Pooled(Weak<Queue<Pooled>>, Rc<std::cell::Cell<usize>>);
    impl Drop for Pooled {
        fn drop(&mut self) {
            if let Some(q) = self.0.upgrade() {
                self.1.set(q.qsize() + 100);
            }
        }
    }
    let seen = Rc::new(std::cell::Cell::new(0));
    let q = Rc::new(Queue::new(0));
    q.put_nowait(Pooled(Rc::downgrade(&q), seen.clone())).unwrap();
    q.shutdown(true);
    assert_eq!(seen.get(), 100, "the item saw an empty queue");
}
