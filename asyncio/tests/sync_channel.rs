//! The cross-thread channel and oneshot: threads to loop and back,
//! many producers and consumers, closing by drop and by close(), a receiver
//! cancelled after being woken passes the wake on, blocking calls refused
//! on a loop thread; waiters woken in order, one per item, cancelled
//! waiters passing their turn on, closing waking everyone, items dropped
//! once, and every kind of producer and consumer at once.

use std::collections::HashSet;
use std::time::Duration;

use asyncio::sync::{channel, oneshot, RecvError, TryRecvError, TrySendError};

#[test]
fn threads_to_loop_many_producers_many_consumers() {
    let (tx, rx) = channel::<u32>(8);
    let producers: Vec<_> = (0..4)
        .map(|p| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..1000 {
                    tx.send_blocking(p * 1000 + i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let got = asyncio::run(async move {
        let consumers: Vec<_> = (0..3)
            .map(|_| {
                let rx = rx.clone();
                asyncio::create_task(async move {
                    let mut got = Vec::new();
                    while let Ok(v) = rx.recv().await {
                        got.push(v);
                    }
                    got
                })
            })
            .collect();
        drop(rx);
        let mut all = Vec::new();
        for c in consumers {
            all.extend(c.await.unwrap());
        }
        all
    });
    for p in producers {
        p.join().unwrap();
    }
    assert_eq!(got.len(), 4000);
    assert_eq!(
        got.into_iter().collect::<HashSet<_>>().len(),
        4000,
        "each item exactly once"
    );
}

#[test]
fn loop_to_thread_with_backpressure() {
    let (tx, rx) = channel::<u64>(2);
    let consumer = std::thread::spawn(move || {
        let mut sum = 0;
        while let Ok(v) = rx.recv_blocking() {
            std::thread::sleep(Duration::from_micros(50));
            sum += v;
        }
        sum
    });
    asyncio::run(async move {
        for i in 0..500 {
            tx.send(i).await.unwrap();
        }
    });
    assert_eq!(consumer.join().unwrap(), (0..500).sum::<u64>());
}

#[test]
fn closing_by_drop_and_by_close() {
    asyncio::run(async {
        let (tx, rx) = channel::<u8>(4);
        tx.try_send(1).unwrap();
        drop(tx);
        assert_eq!(rx.recv().await, Ok(1), "items sent before closing are delivered");
        assert_eq!(rx.recv().await, Err(RecvError));

        let (tx, rx) = channel::<u8>(1);
        drop(rx);
        assert_eq!(tx.send(5).await.unwrap_err().0, 5);

        let (tx, rx) = channel::<u8>(1);
        tx.try_send(1).unwrap();
        assert!(matches!(tx.try_send(2), Err(TrySendError::Full(2))));
        rx.close();
        assert!(matches!(tx.try_send(3), Err(TrySendError::Closed(3))));
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    });
}

#[test]
fn a_receiver_cancelled_after_its_wake_passes_it_on() {
    asyncio::run(async {
        let (tx, rx) = channel::<u8>(4);
        let (r1, r2) = (rx.clone(), rx.clone());
        let a = asyncio::create_task(async move { r1.recv().await });
        let b = asyncio::create_task(async move { r2.recv().await });
        asyncio::yield_now().await;
        tx.try_send(7).unwrap(); // wakes a
        a.cancel(); // a never runs: b must be woken instead
        let got = asyncio::timeout(Duration::from_secs(5), b).await.expect("b was woken");
        assert_eq!(got.unwrap(), Ok(7));
    });
}

#[test]
#[should_panic(expected = "would block the event loop")]
fn blocking_receive_on_a_loop_thread_is_refused() {
    asyncio::run(async {
        let (_tx, rx) = channel::<u8>(1);
        let _ = rx.recv_blocking();
    });
}

#[test]
fn oneshot_across_threads_and_its_failures() {
    asyncio::run(async {
        let (tx, rx) = oneshot::channel();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            tx.send("from a thread").unwrap();
        });
        assert_eq!(rx.await, Ok("from a thread"));

        let (tx, rx) = oneshot::channel::<u8>();
        drop(tx);
        assert_eq!(rx.await, Err(RecvError));

        let (tx, rx) = oneshot::channel::<u8>();
        drop(rx);
        assert!(tx.is_closed());
        assert_eq!(tx.send(3), Err(3));
    });
    let (tx, rx) = oneshot::channel::<u8>();
    let t = std::thread::spawn(move || rx.recv_blocking());
    tx.send(9).unwrap();
    assert_eq!(t.join().unwrap(), Ok(9));
}

// --- waiting: order, hand-over on cancel, closing, lifecycle, stress -------

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// Runs `f` on a thread and fails the test if it takes more than a minute
/// (a lost wake-up would otherwise hang the suite).
fn within_a_minute<R: std::marker::Send + 'static>(f: impl FnOnce() -> R + std::marker::Send + 'static) -> R {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        let r = f();
        let _ = done_tx.send(());
        r
    });
    done_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("a waiter was never woken (the test hung)");
    t.join().unwrap()
}

#[test]
fn waiting_receivers_get_items_in_the_order_they_started_waiting() {
    asyncio::run(async {
        let (tx, rx) = channel::<u32>(8);
        let order = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..5)
            .map(|i| {
                let (rx, order) = (rx.clone(), order.clone());
                asyncio::create_task(async move {
                    let v = rx.recv().await.unwrap();
                    order.borrow_mut().push((i, v));
                })
            })
            .collect();
        asyncio::yield_now().await; // all five wait: one in the slot, four queued
        for v in 0..5 {
            tx.try_send(v).unwrap();
            asyncio::yield_now().await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.borrow(), (0..5).map(|i| (i, i)).collect::<Vec<_>>());
    });
}

#[test]
fn waiting_senders_get_room_in_the_order_they_started_waiting() {
    asyncio::run(async {
        let (tx, rx) = channel::<u32>(1);
        tx.try_send(100).unwrap();
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let tx = tx.clone();
                asyncio::create_task(async move { tx.send(i).await.unwrap() })
            })
            .collect();
        asyncio::yield_now().await;
        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(rx.recv().await.unwrap());
            asyncio::yield_now().await;
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(got, vec![100, 0, 1, 2, 3]);
    });
}

#[test]
fn a_queued_receiver_cancelled_after_its_wake_passes_it_on() {
    asyncio::run(async {
        let (tx, rx) = channel::<u8>(4);
        let spawn = |rx: asyncio::sync::Receiver<u8>| asyncio::create_task(async move { rx.recv().await });
        let (a, b, c) = (spawn(rx.clone()), spawn(rx.clone()), spawn(rx.clone()));
        asyncio::yield_now().await; // a in the slot, b and c queued
        tx.try_send(1).unwrap(); // wakes a
        tx.try_send(2).unwrap(); // wakes b
        b.cancel(); // b never runs: c must be woken instead
        let got_a = a.await.unwrap().unwrap();
        let got_c = asyncio::timeout(Duration::from_secs(5), c)
            .await
            .expect("c was woken")
            .unwrap()
            .unwrap();
        let mut got = [got_a, got_c];
        got.sort();
        assert_eq!(got, [1, 2]);
    });
}

#[test]
fn a_sender_cancelled_after_its_wake_passes_it_on() {
    asyncio::run(async {
        let (tx, rx) = channel::<u8>(1);
        tx.try_send(0).unwrap();
        let spawn = |tx: asyncio::sync::Sender<u8>, v| asyncio::create_task(async move { tx.send(v).await });
        let (a, b) = (spawn(tx.clone(), 1), spawn(tx.clone(), 2));
        asyncio::yield_now().await; // both wait for room
        assert_eq!(rx.try_recv(), Ok(0)); // room: wakes a
        a.cancel(); // a never runs: b must be woken instead
        asyncio::timeout(Duration::from_secs(5), b)
            .await
            .expect("b was woken")
            .unwrap()
            .unwrap();
        assert_eq!(rx.try_recv(), Ok(2));
    });
}

#[test]
fn closing_wakes_every_waiter_on_both_sides_and_gives_items_back() {
    asyncio::run(async {
        let (tx, rx) = channel::<u32>(1);
        let receivers: Vec<_> = (0..3)
            .map(|_| {
                let rx = rx.clone();
                asyncio::create_task(async move { rx.recv().await })
            })
            .collect();
        asyncio::yield_now().await;
        tx.close();
        for r in receivers {
            assert_eq!(r.await.unwrap(), Err(RecvError));
        }

        let (tx, rx) = channel::<u32>(1);
        tx.try_send(0).unwrap();
        let senders: Vec<_> = (1..4)
            .map(|i| {
                let tx = tx.clone();
                asyncio::create_task(async move { tx.send(i).await.map_err(|e| e.0) })
            })
            .collect();
        asyncio::yield_now().await;
        drop(rx); // the last receiver: closes
        let mut back = Vec::new();
        for s in senders {
            back.push(s.await.unwrap().unwrap_err());
        }
        assert_eq!(back, vec![1, 2, 3], "each sender gets its item back");
    });
}

/// Counts its drops.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn items_are_dropped_exactly_once_wherever_they_are() {
    let drops = Arc::new(AtomicUsize::new(0));
    asyncio::run({
        let drops = drops.clone();
        async move {
            let (tx, rx) = channel::<Counted>(2);
            tx.try_send(Counted(drops.clone())).unwrap();
            tx.try_send(Counted(drops.clone())).unwrap();
            // A send waiting on the full channel, then cancelled: its item
            // is dropped with the future.
            let waiting = asyncio::create_task({
                let (tx, drops) = (tx.clone(), drops.clone());
                async move {
                    let _ = tx.send(Counted(drops)).await;
                }
            });
            asyncio::yield_now().await;
            waiting.cancel();
            let _ = waiting.await;
            assert_eq!(drops.load(Ordering::SeqCst), 1);
            drop(rx.recv().await.unwrap()); // received, then dropped by us
            assert_eq!(drops.load(Ordering::SeqCst), 2);
            // One left in the channel: dropped with the channel.
            drop(tx);
            drop(rx);
            assert_eq!(drops.load(Ordering::SeqCst), 3);
        }
    });
    assert_eq!(drops.load(Ordering::SeqCst), 3);
}

/// Counts how often the wrapped future is polled.
struct PollCount<F> {
    inner: Pin<Box<F>>,
    polls: Rc<RefCell<u32>>,
}

impl<F: Future> Future for PollCount<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        *self.polls.borrow_mut() += 1;
        self.inner.as_mut().poll(cx)
    }
}

#[test]
fn a_waiting_receiver_is_polled_once_per_wake_not_more() {
    asyncio::run(async {
        let (tx, rx) = channel::<u8>(4);
        let polls = Rc::new(RefCell::new(0));
        let task = asyncio::create_task(PollCount {
            inner: Box::pin(async move { rx.recv().await }),
            polls: polls.clone(),
        });
        for _ in 0..10 {
            asyncio::yield_now().await; // the loop turns; nothing wakes the receiver
        }
        assert_eq!(*polls.borrow(), 1);
        // From another thread, as the channel is for.
        std::thread::spawn(move || tx.send_blocking(3).unwrap()).join().unwrap();
        assert_eq!(task.await.unwrap(), Ok(3));
        assert_eq!(*polls.borrow(), 2);
    });
}

#[test]
fn a_thread_blocked_sending_or_receiving_is_released_by_closing() {
    within_a_minute(|| {
        let (tx, rx) = channel::<u8>(1);
        tx.try_send(1).unwrap();
        let (entered_tx, entered_rx) = std::sync::mpsc::channel();
        let sender = std::thread::spawn({
            let tx = tx.clone();
            move || {
                entered_tx.send(()).unwrap();
                tx.send_blocking(2)
            }
        });
        entered_rx.recv().unwrap();
        rx.close();
        assert_eq!(sender.join().unwrap().unwrap_err().0, 2);

        let (tx, rx) = channel::<u8>(1);
        let receiver = std::thread::spawn(move || rx.recv_blocking());
        drop(tx);
        assert_eq!(receiver.join().unwrap(), Err(RecvError));
    });
}

/// Many producers and consumers at once, of every kind (plain threads
/// blocking, and tasks on loops running on other threads), over a channel
/// small enough that both sides wait all the time: every item arrives
/// exactly once.
#[test]
fn threads_and_loops_on_both_ends_under_contention() {
    for cap in [1, 3, 64] {
        within_a_minute(move || {
            const PER: u32 = 20_000;
            let (tx, rx) = channel::<u32>(cap);
            let mut producers = Vec::new();
            for p in 0..4u32 {
                let tx = tx.clone();
                producers.push(std::thread::spawn(move || {
                    if p % 2 == 0 {
                        for i in 0..PER {
                            tx.send_blocking(p * PER + i).unwrap();
                        }
                    } else {
                        asyncio::run(async move {
                            for i in 0..PER {
                                tx.send(p * PER + i).await.unwrap();
                            }
                        });
                    }
                }));
            }
            drop(tx);
            let mut consumers = Vec::new();
            for c in 0..4u32 {
                let rx = rx.clone();
                consumers.push(std::thread::spawn(move || {
                    let mut got = Vec::new();
                    if c % 2 == 0 {
                        while let Ok(v) = rx.recv_blocking() {
                            got.push(v);
                        }
                    } else {
                        asyncio::run(async {
                            // Two tasks on this loop share the receiver.
                            let rx2 = rx.clone();
                            let other = asyncio::create_task(async move {
                                let mut got = Vec::new();
                                while let Ok(v) = rx2.recv().await {
                                    got.push(v);
                                }
                                got
                            });
                            while let Ok(v) = rx.recv().await {
                                got.push(v);
                            }
                            got.extend(other.await.unwrap());
                        });
                    }
                    got
                }));
            }
            drop(rx);
            for p in producers {
                p.join().unwrap();
            }
            let mut all: Vec<u32> = consumers.into_iter().flat_map(|c| c.join().unwrap()).collect();
            all.sort_unstable();
            assert_eq!(all, (0..4 * PER).collect::<Vec<_>>(), "capacity {cap}");
        });
    }
}

/// A xorshift step: the tests' own reproducible jitter.
fn next(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

/// Wakes a plain thread that polls a future by hand.
struct Unpark(std::thread::Thread, std::sync::atomic::AtomicBool);

impl std::task::Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.1.store(true, Ordering::Release);
        self.0.unpark();
    }
}

/// Polls `f` by hand a few times (the count and the pauses drawn from
/// `seed`), then drops it if it is not done: a waiter that gives up at any
/// point, registered or already notified.
fn fickle<F: Future + Unpin>(mut f: F, seed: &mut u64) -> Option<F::Output> {
    let unpark = Arc::new(Unpark(
        std::thread::current(),
        std::sync::atomic::AtomicBool::new(false),
    ));
    let waker = std::task::Waker::from(unpark.clone());
    for _ in 0..=next(seed) % 4 {
        if let Poll::Ready(v) = Pin::new(&mut f).poll(&mut Context::from_waker(&waker)) {
            return Some(v);
        }
        if next(seed) % 3 != 0 {
            std::thread::park_timeout(Duration::from_micros(next(seed) % 30));
            unpark.1.store(false, Ordering::Relaxed);
        }
    }
    None
}

/// Waiters that give up at any moment, and `try_*` calls barging past the
/// waiters, on both sides at once, on small channels: every item sent is
/// received (the one blocking receiver never gives up), and nothing hangs.
#[test]
fn waiters_giving_up_and_barging_calls_lose_nothing() {
    for round in 0..12u64 {
        for cap in [1usize, 2, 3] {
            within_a_minute(move || {
                let (tx, rx) = channel::<u64>(cap);
                let sent = Arc::new(AtomicUsize::new(0));
                let received = Arc::new(AtomicUsize::new(0));
                let mut threads = Vec::new();
                for p in 0..3u64 {
                    let (tx, sent) = (tx.clone(), sent.clone());
                    threads.push(std::thread::spawn(move || {
                        let mut seed = round * 1000 + p * 7 + cap as u64 + 1;
                        for i in 0..1500u64 {
                            let ok = match p {
                                0 => tx.send_blocking(i).is_ok(),
                                1 => matches!(fickle(tx.send(i), &mut seed), Some(Ok(()))),
                                _ if i % 2 == 0 => tx.try_send(i).is_ok(),
                                _ => tx.send_blocking(i).is_ok(),
                            };
                            if ok {
                                sent.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }));
                }
                drop(tx);
                for c in 0..3u64 {
                    let (rx, received) = (rx.clone(), received.clone());
                    threads.push(std::thread::spawn(move || {
                        let mut seed = round * 1000 + c * 13 + cap as u64 + 99;
                        let quit_after = 200 + next(&mut seed) % 2000;
                        for n in 0.. {
                            let got = match c {
                                0 => Some(rx.recv_blocking()),
                                1 => fickle(rx.recv(), &mut seed),
                                _ => match rx.try_recv() {
                                    Ok(v) => Some(Ok(v)),
                                    Err(TryRecvError::Closed) => Some(Err(RecvError)),
                                    Err(TryRecvError::Empty) => None,
                                },
                            };
                            match got {
                                Some(Ok(_)) => {
                                    received.fetch_add(1, Ordering::Relaxed);
                                }
                                Some(Err(RecvError)) => return,
                                None => {}
                            }
                            if c != 0 && n > quit_after {
                                return;
                            }
                        }
                    }));
                }
                drop(rx);
                for t in threads {
                    t.join().unwrap();
                }
                assert_eq!(
                    sent.load(Ordering::SeqCst),
                    received.load(Ordering::SeqCst),
                    "round {round}, capacity {cap}"
                );
            });
        }
    }
}

/// A waker that calls back into the channel when woken (as a waker that
/// drops its future does, or one that sends): the wake must come after the
/// channel's lock is released, since the call takes it again.
#[test]
fn a_waker_that_calls_back_into_the_channel_does_not_deadlock() {
    within_a_minute(|| {
        let (tx, rx) = channel::<u8>(4);
        struct SendOnWake(asyncio::sync::Sender<u8>);
        impl std::task::Wake for SendOnWake {
            fn wake(self: Arc<Self>) {
                // A waiter is queued, so this notification takes the lock.
                self.0.try_send(9).unwrap();
            }
        }
        let noop = std::task::Waker::noop();
        let calls_back = std::task::Waker::from(Arc::new(SendOnWake(tx.clone())));
        // The first waits in the slot, the second and third queue behind it.
        let (mut first, mut second, mut third) = (rx.recv(), rx.recv(), rx.recv());
        assert!(Pin::new(&mut first).poll(&mut Context::from_waker(noop)).is_pending());
        assert!(Pin::new(&mut second)
            .poll(&mut Context::from_waker(&calls_back))
            .is_pending());
        assert!(Pin::new(&mut third).poll(&mut Context::from_waker(noop)).is_pending());
        tx.try_send(1).unwrap(); // notifies the first
        tx.try_send(2).unwrap(); // grants the second, whose wake sends 9 and grants the third
        let mut got: Vec<u8> = [first, second, third]
            .into_iter()
            .map(|mut f| match Pin::new(&mut f).poll(&mut Context::from_waker(noop)) {
                Poll::Ready(Ok(v)) => v,
                other => panic!("every waiter was notified and has an item: {other:?}"),
            })
            .collect();
        got.sort();
        assert_eq!(got, [1, 2, 9]);
    });
}
