//! Wakes from other threads: a task parked on a waker is woken by another
//! thread while the loop sleeps in epoll, many times, from many threads.
//!
//! A lost wake would leave the loop asleep forever; each test runs under a
//! watchdog that fails it, with a message, instead of hanging CI.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

#[derive(Default)]
struct Mailbox {
    value: AtomicU64,
    waker: Mutex<Option<Waker>>,
}

impl Mailbox {
    fn post(&self, v: u64) {
        self.value.store(v, Ordering::SeqCst);
        if let Some(w) = self.waker.lock().unwrap().take() {
            w.wake();
        }
    }

    async fn wait_for(&self, v: u64) {
        std::future::poll_fn(|cx| {
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            if self.value.load(Ordering::SeqCst) >= v {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

/// Runs `body` on its own thread and fails the test if it has not finished
/// within `limit` (a generous bound: these tests take milliseconds).
fn with_watchdog(what: &'static str, limit: Duration, body: impl FnOnce() + Send + 'static) {
    let (finished, watch) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        body();
        let _ = finished.send(());
    });
    match watch.recv_timeout(limit) {
        Ok(()) => worker.join().unwrap(),
        // The body panicked: report its panic.
        Err(RecvTimeoutError::Disconnected) => {
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(RecvTimeoutError::Timeout) => panic!(
            "{what}: not finished after {limit:?}; a wake from another thread was lost and the loop sleeps \
             forever"
        ),
    }
}

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn ping_pong_with_another_thread() {
    with_watchdog("ping_pong_with_another_thread", LIMIT, ping_pong);
}

fn ping_pong() {
    const ROUNDS: u64 = 2000;
    let to_loop = Arc::new(Mailbox::default());
    let to_thread = Arc::new(Mailbox::default());
    let (a, b) = (to_loop.clone(), to_thread.clone());
    let th = std::thread::spawn(move || {
        for i in 1..=ROUNDS {
            a.post(i);
            while b.value.load(Ordering::SeqCst) < i {
                std::hint::spin_loop();
            }
        }
    });
    asyncio::run(async move {
        for i in 1..=ROUNDS {
            to_loop.wait_for(i).await;
            to_thread.post(i);
        }
    });
    th.join().unwrap();
}

#[test]
fn many_threads_wake_many_tasks() {
    with_watchdog("many_threads_wake_many_tasks", LIMIT, many_threads);
}

fn many_threads() {
    const TASKS: usize = 64;
    let boxes: Vec<Arc<Mailbox>> = (0..TASKS).map(|_| Arc::default()).collect();
    let bx = boxes.clone();
    let wakers: Vec<_> = (0..4)
        .map(|t| {
            let boxes = boxes.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                for (i, b) in boxes.iter().enumerate() {
                    if i % 4 == t {
                        b.post(1);
                    }
                }
            })
        })
        .collect();
    asyncio::run(async move {
        let tasks: Vec<_> = bx
            .into_iter()
            .map(|b| asyncio::create_task(async move { b.wait_for(1).await }))
            .collect();
        for t in tasks {
            asyncio::timeout(Duration::from_secs(10), t)
                .await
                .expect("woken")
                .unwrap();
        }
    });
    for w in wakers {
        w.join().unwrap();
    }
}

#[test]
fn a_waker_dropped_on_another_thread_releases_the_task() {
    with_watchdog(
        "a_waker_dropped_on_another_thread_releases_the_task",
        LIMIT,
        waker_dropped_elsewhere,
    );
}

fn waker_dropped_elsewhere() {
    // The last reference to a finished task may be dropped off the loop
    // thread; that must free it without touching the (gone) future.
    let slot: Arc<Mutex<Option<Waker>>> = Arc::default();
    let s = slot.clone();
    asyncio::run(async move {
        let s2 = s.clone();
        let t = asyncio::create_task(async move {
            std::future::poll_fn(|cx| {
                *s2.lock().unwrap() = Some(cx.waker().clone());
                Poll::Ready(())
            })
            .await;
            String::from("not Send-sensitive, but dropped on the loop")
        });
        assert!(!t.await.unwrap().is_empty());
    });
    std::thread::spawn(move || drop(slot.lock().unwrap().take()))
        .join()
        .unwrap();
}
