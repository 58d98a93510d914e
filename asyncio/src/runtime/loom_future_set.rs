//! Loom models of the future set's wake path (`future_set.rs`): children
//! woken from other threads while the parent is polling, registering or
//! deciding to wait must never leave the parent waiting with a woken child
//! unpolled, through `poll_all` (gather) or `poll_next` (as_completed, wait). Only a wake that finds the stack empty wakes the parent, so
//! this is the case to check: a wake onto a non-empty stack relies on an
//! earlier one, and on the parent looking at the stack after registering.
//!
//! The parent's waker sets a flag under a mutex and signals a condition
//! variable (the loop's "epoll_wait"); loom explores every interleaving and
//! fails on the one where the parent blocks forever.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

use super::future_set::FutureSet;

/// Where the parent sleeps until woken.
struct Driver {
    woken: Mutex<bool>,
    cv: Condvar,
}

impl Driver {
    fn wait(&self) {
        let mut woken = self.woken.lock().unwrap();
        while !*woken {
            woken = self.cv.wait(woken).unwrap();
        }
        *woken = false;
    }
}

/// The parent's waker (std's `Wake` wants std's `Arc`; the driver inside is
/// loom's).
struct ParentWaker(Arc<Driver>);

impl Wake for ParentWaker {
    fn wake(self: StdArc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &StdArc<Self>) {
        *self.0.woken.lock().unwrap() = true;
        self.0.cv.notify_one();
    }
}

/// Pending at its first poll, handing its waker to a waking thread through
/// `slot`; ready with `index` at any later poll.
struct Child {
    index: usize,
    slot: Arc<Mutex<Option<Waker>>>,
    polled: bool,
}

impl Future for Child {
    type Output = usize;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        if self.polled {
            return Poll::Ready(self.index);
        }
        self.polled = true;
        *self.slot.lock().unwrap() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// `children` children, each woken once from a thread of its own (or, with
/// `twice`, twice: a second wake while the first may still be queued).
fn model(children: usize, twice: bool) {
    let mut builder = loom::model::Builder::new();
    // Three threads make the unbounded search take hours; a bound of three
    // preemptions per execution covers the orders that matter here (a wake
    // between the parent's registration, its look at the stack and its
    // wait) in about two seconds.
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(move || {
        let driver = Arc::new(Driver {
            woken: Mutex::new(false),
            cv: Condvar::new(),
        });
        let parent = Waker::from(StdArc::new(ParentWaker(driver.clone())));
        let slots: Vec<_> = (0..children).map(|_| Arc::new(Mutex::new(None))).collect();
        let mut set = FutureSet::new(slots.iter().enumerate().map(|(index, slot)| Child {
            index,
            slot: slot.clone(),
            polled: false,
        }));
        // The wake stack is what this models: own wakers from the start
        // (re-polling hands out the parent's waker, nothing to model).
        set.use_own_wakers();
        let mut cx = Context::from_waker(&parent);
        // The first pass: every child pending, its waker handed out.
        assert!(set.poll_all(&mut cx).is_pending());
        let wakers: Vec<Waker> = slots.iter().map(|s| s.lock().unwrap().take().unwrap()).collect();
        let threads: Vec<_> = wakers
            .into_iter()
            .map(|w| {
                thread::spawn(move || {
                    if twice {
                        w.wake_by_ref();
                    }
                    w.wake();
                })
            })
            .collect();
        while set.poll_all(&mut cx).is_pending() {
            driver.wait();
        }
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(set.take_outputs(), (0..children).collect::<Vec<_>>());
    });
}

#[test]
fn loom_future_set_one_remote_wake_never_lost() {
    model(1, false);
}

#[test]
fn loom_future_set_two_remote_wakes_never_lost() {
    model(2, false);
}

#[test]
fn loom_future_set_repeated_wakes_never_lost() {
    model(1, true);
}

/// Ready once its flag is set (by the waking thread, before it wakes).
struct Flagged {
    index: usize,
    ready: Arc<AtomicBool>,
    slot: Arc<Mutex<Option<Waker>>>,
}

impl Future for Flagged {
    type Output = usize;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        if self.ready.load(Ordering::Acquire) {
            return Poll::Ready(self.index);
        }
        *self.slot.lock().unwrap() = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// `poll_next`, as `as_completed` and `wait` use it: it may return in the
/// middle of a batch, and the consumer then awaits something else, whose
/// turn uses up any wake that arrives meanwhile; the set must still find
/// the children woken then. One remote thread wakes child 1 (ready), child
/// 0 (spuriously: still pending), child 2 (ready), then child 0 (ready).
#[test]
fn loom_future_set_poll_next_mid_batch() {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(|| {
        let driver = Arc::new(Driver {
            woken: Mutex::new(false),
            cv: Condvar::new(),
        });
        let parent = Waker::from(StdArc::new(ParentWaker(driver.clone())));
        let flags: Vec<_> = (0..3).map(|_| Arc::new(AtomicBool::new(false))).collect();
        let slots: Vec<_> = (0..3).map(|_| Arc::new(Mutex::new(None))).collect();
        let mut set = FutureSet::new((0..3).map(|index| Flagged {
            index,
            ready: flags[index].clone(),
            slot: slots[index].clone(),
        }));
        let mut cx = Context::from_waker(&parent);
        assert!(set.poll_next(&mut cx).is_pending());
        let w: Vec<Waker> = slots.iter().map(|s| s.lock().unwrap().clone().unwrap()).collect();
        let f = flags.clone();
        let t = thread::spawn(move || {
            f[1].store(true, Ordering::Release);
            w[1].wake_by_ref();
            w[0].wake_by_ref();
            f[2].store(true, Ordering::Release);
            w[2].wake_by_ref();
            f[0].store(true, Ordering::Release);
            w[0].wake_by_ref();
        });
        let mut got = Vec::new();
        while got.len() < 3 {
            match set.poll_next(&mut cx) {
                Poll::Ready(Some((i, _))) => {
                    got.push(i);
                    // The consumer's other awaits take the task's next turn,
                    // and with it any wake that came meanwhile.
                    thread::yield_now();
                    *driver.woken.lock().unwrap() = false;
                }
                Poll::Ready(None) => break,
                Poll::Pending => driver.wait(),
            }
        }
        t.join().unwrap();
        got.sort();
        assert_eq!(got, [0, 1, 2]);
    });
}
