//! Loom models of the cross-thread wait set (`wait_set.rs`) under the
//! channel: a waiter that registers while an item arrives is never left
//! asleep with the item there (the slot and the queue behind it), a waiter
//! notified and then gone passes its notification on, and closing wakes
//! every waiter. The "queue" is an item count changed with `SeqCst`
//! read-modify-writes, as the channel's queue claims its slots; waiters are
//! futures driven by a `block_on` over loom's condition variable, so loom
//! reports a waiter that is never woken. (`two_notifiers_two_waiters`, four
//! threads, takes about a minute.)

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

use super::wait_set::{Attempt, Place, WaitSet};

struct Chan {
    items: AtomicUsize,
    closed: AtomicBool,
    waiters: WaitSet,
}

impl Chan {
    fn new() -> Arc<Chan> {
        Arc::new(Chan {
            items: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            waiters: WaitSet::default(),
        })
    }

    fn push(&self) {
        self.items.fetch_add(1, Ordering::SeqCst);
        self.waiters.notify_one_after_rmw();
    }

    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.waiters.notify_all();
    }

    /// Some(true): took an item; Some(false): closed; None: nothing yet.
    fn try_pop(&self) -> Option<bool> {
        let took = self
            .items
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if took {
            Some(true)
        } else if self.closed.load(Ordering::SeqCst) {
            Some(false)
        } else {
            None
        }
    }
}

/// The channel's `Recv` (through the same `WaitSet::poll_with`), over the
/// model's count.
struct Recv {
    chan: Arc<Chan>,
    place: Place,
}

impl Future for Recv {
    type Output = bool;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let this = &mut *self;
        let chan = &this.chan;
        chan.waiters.poll_with(
            &mut this.place,
            cx.waker(),
            || chan.items.load(Ordering::SeqCst) != 0,
            || match chan.try_pop() {
                Some(true) => Attempt::Done(true),
                Some(false) => Attempt::Over(false),
                None => Attempt::Again,
            },
        )
    }
}

impl Drop for Recv {
    fn drop(&mut self) {
        self.chan.waiters.leave(&mut self.place);
    }
}

/// A thread's waker: a flag under a loom mutex and a condition variable
/// (loom's `unpark` would also release a thread blocked on a mutex).
struct Signal {
    woken: loom::sync::Mutex<bool>,
    cv: loom::sync::Condvar,
}

impl std::task::Wake for Signal {
    fn wake(self: std::sync::Arc<Self>) {
        *self.woken.lock().unwrap() = true;
        self.cv.notify_one();
    }
}

/// Polls `fut` to completion on this loom thread, sleeping between polls:
/// loom reports a deadlock if it is never woken.
fn block_on<F: Future>(fut: F) -> F::Output {
    let signal = std::sync::Arc::new(Signal {
        woken: loom::sync::Mutex::new(false),
        cv: loom::sync::Condvar::new(),
    });
    let waker = std::task::Waker::from(signal.clone());
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut Context::from_waker(&waker)) {
            return out;
        }
        let mut woken = signal.woken.lock().unwrap();
        while !*woken {
            woken = signal.cv.wait(woken).unwrap();
        }
        *woken = false;
    }
}

fn recv(chan: &Arc<Chan>) -> bool {
    block_on(Recv {
        chan: chan.clone(),
        place: Place::None,
    })
}

/// Explores with at most `LOOM_MAX_PREEMPTIONS` (default 3) preemptions per
/// execution: the models of two waiters are beyond exhaustive search.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

#[test]
fn one_waiter_one_item() {
    model(|| {
        let chan = Chan::new();
        let c = chan.clone();
        let producer = thread::spawn(move || c.push());
        assert!(recv(&chan));
        producer.join().unwrap();
    });
}

#[test]
fn two_waiters_two_items_slot_and_queue() {
    model(|| {
        let chan = Chan::new();
        let c = chan.clone();
        let other = thread::spawn(move || assert!(recv(&c)));
        let c = chan.clone();
        let producer = thread::spawn(move || {
            c.push();
            c.push();
        });
        assert!(recv(&chan));
        other.join().unwrap();
        producer.join().unwrap();
    });
}

#[test]
fn a_waiter_that_leaves_passes_its_notification_on() {
    model(|| {
        let chan = Chan::new();
        let c = chan.clone();
        // Polled once, then dropped (as by a select that took another
        // branch): it may take an item on that poll, or be notified and
        // go without taking one.
        let quitter = thread::spawn(move || {
            let mut fut = std::pin::pin!(Recv {
                chan: c,
                place: Place::None,
            });
            let waker = std::task::Waker::noop();
            matches!(fut.as_mut().poll(&mut Context::from_waker(waker)), Poll::Ready(true))
        });
        let c = chan.clone();
        let producer = thread::spawn(move || {
            c.push();
            c.push();
        });
        // Whatever the quitter did, one item is left for this waiter.
        assert!(recv(&chan));
        let quitter_took = quitter.join().unwrap();
        producer.join().unwrap();
        let left = chan.items.load(Ordering::SeqCst);
        assert_eq!(left + 1 + usize::from(quitter_took), 2);
    });
}

#[test]
fn closing_wakes_every_waiter() {
    model(|| {
        let chan = Chan::new();
        let c = chan.clone();
        let other = thread::spawn(move || assert!(!recv(&c)));
        let c = chan.clone();
        let closer = thread::spawn(move || c.close());
        assert!(!recv(&chan));
        other.join().unwrap();
        closer.join().unwrap();
    });
}

#[test]
fn two_notifiers_two_waiters() {
    model(|| {
        let chan = Chan::new();
        let producers: Vec<_> = (0..2)
            .map(|_| {
                let c = chan.clone();
                thread::spawn(move || c.push())
            })
            .collect();
        let c = chan.clone();
        let other = thread::spawn(move || assert!(recv(&c)));
        assert!(recv(&chan));
        other.join().unwrap();
        for p in producers {
            p.join().unwrap();
        }
    });
}
