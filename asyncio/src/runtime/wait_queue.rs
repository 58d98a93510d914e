//! The one wait queue under every synchronization primitive (`Lock`,
//! `Semaphore`, `Event`, and those built on them).
//!
//! # Design
//!
//! A FIFO of waiters, each wanting some amount (a permit count, or nothing
//! for an `Event`). Loop-bound: plain data behind the primitive's
//! `RefCell`, no atomics.
//!
//! Fairness is solved here once, by *handing off*: a primitive never makes a
//! resource "free" while waiters are queued; it [`grant`](WaitQueue::grant_front)s
//! it to the head waiter, which leaves the queue at once as *granted* and
//! owns the resource before it even runs. A newcomer checks
//! [`is_quiet`](WaitQueue::is_quiet) before taking the fast path: nobody
//! waiting, and nobody granted who has not run yet. So it cannot barge past
//! a queued waiter (CPython gh-90155 is that bug), nor take a permit freed
//! while a granted waiter has not run yet: asyncio's woken waiters stay in
//! the queue until they run, and a task that releases and re-acquires at
//! once queues behind them (`test_acquire_fifo_order_2`). What such a
//! newcomer queues for is the resource owner's to hand over when the
//! granted waiter runs (the semaphore's `Acquire::poll` does); this queue
//! only counts the granted ([`granted`](WaitQueue::granted)).
//!
//! Cancellation is solved here once too: a waiter future that is dropped
//! calls [`cancel`](WaitQueue::cancel). If it was still waiting it just
//! leaves the queue; if it had already been granted the resource, `cancel`
//! says so and the primitive passes the resource on to the next waiter, so
//! a turn is never lost.

use std::task::{Context, Poll, Waker};

use super::slab::{Key, Slab};

const NIL: u32 = u32::MAX;

/// A waiter's place in a [`WaitQueue`].
pub(crate) type WaitKey = Key;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Waiting,
    /// Granted, with a value the primitive chose (e.g. released or broken).
    Granted(usize),
}

struct Node {
    prev: u32,
    next: u32,
    want: usize,
    state: State,
    waker: Option<Waker>,
}

/// The FIFO; see the module notes.
pub(crate) struct WaitQueue {
    nodes: Slab<Node>,
    head: u32,
    tail: u32,
    waiting: usize,
    /// Granted, but not yet polled (nor cancelled).
    granted: usize,
}

impl Default for WaitQueue {
    fn default() -> Self {
        WaitQueue {
            nodes: Slab::default(),
            head: NIL,
            tail: NIL,
            waiting: 0,
            granted: 0,
        }
    }
}

impl WaitQueue {
    /// True if nobody is waiting (granted waiters that have not run yet do
    /// not count: what they were granted is already theirs).
    pub(crate) fn is_empty(&self) -> bool {
        self.waiting == 0
    }

    /// True if nobody is waiting and nobody granted has run yet: the
    /// condition for a newcomer to take a free resource without queueing.
    #[inline]
    pub(crate) fn is_quiet(&self) -> bool {
        self.waiting == 0 && self.granted == 0
    }

    /// How many were granted and have not run yet.
    pub(crate) fn granted(&self) -> usize {
        self.granted
    }

    /// How many are waiting.
    pub(crate) fn len(&self) -> usize {
        self.waiting
    }

    /// Queues a waiter wanting `want` at the back.
    pub(crate) fn push(&mut self, want: usize, waker: &Waker) -> WaitKey {
        let key = self.nodes.insert(Node {
            prev: self.tail,
            next: NIL,
            want,
            state: State::Waiting,
            waker: Some(waker.clone()),
        });
        if self.tail == NIL {
            self.head = key.index;
        } else {
            self.nodes.at_mut(self.tail).next = key.index;
        }
        self.tail = key.index;
        self.waiting += 1;
        key
    }

    /// Ready once granted (the waiter then leaves the queue for good);
    /// otherwise remembers the newest waker.
    pub(crate) fn poll(&mut self, key: WaitKey, cx: &mut Context<'_>) -> Poll<()> {
        self.poll_value(key, cx).map(|_| ())
    }

    /// As [`poll`](Self::poll), giving the value the waiter was granted with.
    pub(crate) fn poll_value(&mut self, key: WaitKey, cx: &mut Context<'_>) -> Poll<usize> {
        let node = self.nodes.get_mut(key).expect("polled a waiter that is gone");
        match node.state {
            State::Granted(value) => {
                self.nodes.remove(key);
                self.granted -= 1;
                Poll::Ready(value)
            }
            State::Waiting => {
                match &node.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => node.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }

    /// A waiter gives up. True if it had already been granted, in which
    /// case the caller must pass what it was granted on.
    pub(crate) fn cancel(&mut self, key: WaitKey) -> bool {
        self.cancel_value(key).is_some()
    }

    /// As [`cancel`](Self::cancel), giving the value it had been granted
    /// with, if it had been granted.
    pub(crate) fn cancel_value(&mut self, key: WaitKey) -> Option<usize> {
        let node = self.nodes.get(key)?;
        if node.state == State::Waiting {
            self.unlink(key.index);
        }
        match self.nodes.remove(key)?.state {
            State::Granted(value) => {
                self.granted -= 1;
                Some(value)
            }
            State::Waiting => None,
        }
    }

    /// What the head waiter wants.
    pub(crate) fn front_want(&self) -> Option<usize> {
        (self.head != NIL).then(|| self.nodes.at(self.head).want)
    }

    /// Grants the head waiter (it leaves the queue) and wakes it. False if
    /// nobody waits.
    pub(crate) fn grant_front(&mut self) -> bool {
        self.grant_front_with(0)
    }

    /// As [`grant_front`](Self::grant_front), with a value for the waiter.
    pub(crate) fn grant_front_with(&mut self, value: usize) -> bool {
        match self.grant_front_deferred_with(value) {
            Some(waker) => {
                if let Some(w) = waker {
                    w.wake();
                }
                true
            }
            None => false,
        }
    }

    /// As [`grant_front`](Self::grant_front), but hands the waiter's waker
    /// back instead of waking it (`Some(None)` if it had none): for a queue
    /// behind a mutex, whose wakes must come after the unlock (a waker may
    /// drop its future, which leaves this queue).
    pub(crate) fn grant_front_deferred(&mut self) -> Option<Option<Waker>> {
        self.grant_front_deferred_with(0)
    }

    fn grant_front_deferred_with(&mut self, value: usize) -> Option<Option<Waker>> {
        if self.head == NIL {
            return None;
        }
        let i = self.head;
        self.unlink(i);
        let node = self.nodes.at_mut(i);
        node.state = State::Granted(value);
        self.granted += 1;
        Some(node.waker.take())
    }

    /// Grants every waiter, oldest first.
    pub(crate) fn grant_all(&mut self) {
        self.grant_all_with(0);
    }

    /// Grants every waiter with `value`, oldest first.
    pub(crate) fn grant_all_with(&mut self, value: usize) {
        while self.grant_front_with(value) {}
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next) = {
            let n = self.nodes.at(i);
            (n.prev, n.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.nodes.at_mut(prev).next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.nodes.at_mut(next).prev = prev;
        }
        self.waiting -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx() -> Context<'static> {
        Context::from_waker(Waker::noop())
    }

    #[test]
    fn fifo_grants_and_cancel_passes_turns() {
        let mut q = WaitQueue::default();
        let keys: Vec<_> = (0..5).map(|i| q.push(i, Waker::noop())).collect();
        assert_eq!(q.len(), 5);
        assert_eq!(q.front_want(), Some(0));
        assert!(!q.cancel(keys[1]), "a waiting waiter leaves quietly");
        assert!(q.grant_front());
        assert_eq!(q.front_want(), Some(2), "granted waiters leave the queue");
        assert_eq!(q.granted(), 1);
        assert!(!q.is_quiet());
        assert!(q.cancel(keys[0]), "a granted waiter reports it must pass on");
        assert!(q.poll(keys[2], &mut cx()).is_pending());
        assert!(q.grant_front());
        assert!(q.poll(keys[2], &mut cx()).is_ready());
        q.grant_all();
        assert!(q.is_empty());
        assert!(q.poll(keys[3], &mut cx()).is_ready());
        assert!(!q.is_quiet(), "granted waiters that have not run count");
        assert!(q.poll(keys[4], &mut cx()).is_ready());
        assert!(q.is_quiet());
        assert!(!q.grant_front());
    }
}
