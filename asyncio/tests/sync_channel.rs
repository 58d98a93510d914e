//! The cross-thread channel and oneshot: threads to loop and back,
//! many producers and consumers, closing by drop and by close(), a receiver
//! cancelled after being woken passes the wake on, blocking calls refused
//! on a loop thread.

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
