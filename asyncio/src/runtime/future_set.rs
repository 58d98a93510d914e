//! A set of futures polled in place, each with its own waker: the engine
//! under `gather(iter)`, `try_gather(iter)`, `as_completed` and `wait`.
//!
//! # Design
//!
//! Polling every child whenever the parent wakes costs O(n) per wake and
//! O(n²) for a gather of n sleeping children. Instead each child gets a
//! waker of its own (an `Arc<ChildWaker>`, made the first time the child is
//! polled) that appends the child's index to a shared ready list and wakes
//! the parent; the parent polls only the children on that list. A child's
//! `queued` flag keeps it on the list at most once. The list is behind a
//! mutex because child wakers, like all wakers, may be called from any
//! thread.
//!
//! The futures live in one pinned boxed slice and are never moved: a
//! finished child is dropped in place and its slot marked empty, so the set
//! accepts `!Unpin` futures without boxing each one.
//!
//! Fairness: one `poll_next` polls at most the children that were ready when
//! it started; children woken meanwhile wait for the next poll (the parent
//! wakes itself), so a child that keeps waking itself cannot hold the loop.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

enum Slot<F> {
    Live(F),
    Empty,
}

#[derive(Default)]
struct ReadyInner {
    indices: Vec<u32>,
    parent: Option<Waker>,
}

#[derive(Default)]
struct ReadyList {
    inner: Mutex<ReadyInner>,
}

impl ReadyList {
    fn lock(&self) -> std::sync::MutexGuard<'_, ReadyInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct ChildWaker {
    index: u32,
    queued: AtomicBool,
    list: Arc<ReadyList>,
}

impl Wake for ChildWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let parent = {
            let mut g = self.list.lock();
            g.indices.push(self.index);
            g.parent.take()
        };
        if let Some(p) = parent {
            p.wake();
        }
    }
}

/// Futures polled together; completions come out one at a time with the
/// index the future had in the input.
pub(crate) struct FutureSet<F> {
    slots: Pin<Box<[Slot<F>]>>,
    wakers: Vec<Option<(Arc<ChildWaker>, Waker)>>,
    list: Arc<ReadyList>,
    /// Indices taken from the ready list, still to poll.
    batch: VecDeque<u32>,
    live: usize,
}

impl<F: Future> FutureSet<F> {
    pub(crate) fn new(futures: impl IntoIterator<Item = F>) -> Self {
        let slots: Box<[Slot<F>]> = futures.into_iter().map(Slot::Live).collect();
        let n = slots.len();
        assert!(n < u32::MAX as usize, "too many futures for one set");
        FutureSet {
            slots: Box::into_pin(slots),
            wakers: (0..n).map(|_| None).collect(),
            list: Arc::default(),
            batch: (0..n as u32).collect(),
            live: n,
        }
    }

    /// How many futures have not completed.
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// How many futures the set started with.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The next completion: `(index, output)`; `None` once all completed.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<(usize, F::Output)>> {
        if self.live == 0 {
            return Poll::Ready(None);
        }
        if self.batch.is_empty() {
            let mut g = self.list.lock();
            self.batch.extend(g.indices.drain(..));
            if self.batch.is_empty() {
                match &g.parent {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => g.parent = Some(cx.waker().clone()),
                }
                return Poll::Pending;
            }
        }
        while let Some(i) = self.batch.pop_front() {
            if let Some(out) = self.poll_child(i as usize) {
                return Poll::Ready(Some((i as usize, out)));
            }
        }
        // Every child in the batch is pending again. Children woken while
        // we polled are on the list: come back for them at the next turn.
        let mut g = self.list.lock();
        if g.indices.is_empty() {
            match &g.parent {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => g.parent = Some(cx.waker().clone()),
            }
        } else {
            drop(g);
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }

    fn poll_child(&mut self, i: usize) -> Option<F::Output> {
        let list = &self.list;
        let (child, waker) = self.wakers[i].get_or_insert_with(|| {
            let child = Arc::new(ChildWaker {
                index: i as u32,
                queued: AtomicBool::new(true),
                list: list.clone(),
            });
            let waker = Waker::from(child.clone());
            (child, waker)
        });
        child.queued.store(false, Ordering::Release);
        // SAFETY: the slice is pinned and never moved; we only reach one
        // element to poll it in place (structural pinning of the element).
        let slot = unsafe { self.slots.as_mut().get_unchecked_mut().get_unchecked_mut(i) };
        let fut = match slot {
            // SAFETY: the element lives in the pinned slice and is not moved
            // until it is dropped in place below.
            Slot::Live(f) => unsafe { Pin::new_unchecked(f) },
            Slot::Empty => return None, // a stale wake of a finished child
        };
        let out = match fut.poll(&mut Context::from_waker(waker)) {
            Poll::Ready(out) => out,
            Poll::Pending => return None,
        };
        self.live -= 1;
        self.wakers[i] = None;
        /// Marks the slot empty even if the future's destructor unwinds.
        struct MarkEmpty<F>(*mut Slot<F>);
        impl<F> Drop for MarkEmpty<F> {
            fn drop(&mut self) {
                // SAFETY: the slot was dropped in place just before; writing
                // does not drop it again.
                unsafe { std::ptr::write(self.0, Slot::Empty) };
            }
        }
        let p: *mut Slot<F> = slot;
        let _mark = MarkEmpty(p);
        // SAFETY: the slot holds a live future that is done; dropping it in
        // place honours the pin (it is never moved), and `_mark` leaves a
        // valid Empty behind on every path.
        unsafe { std::ptr::drop_in_place(p) };
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    struct Ticks {
        left: u32,
        polls: Rc<Cell<u32>>,
    }

    impl Future for Ticks {
        type Output = u32;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
            self.polls.set(self.polls.get() + 1);
            if self.left == 0 {
                return Poll::Ready(self.polls.get());
            }
            self.left -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    #[test]
    fn polls_only_woken_children_and_yields_between_batches() {
        let polls = Rc::new(Cell::new(0));
        let mut set = FutureSet::new((0..3).map(|i| Ticks {
            left: i,
            polls: polls.clone(),
        }));
        let mut cx = Context::from_waker(Waker::noop());
        let mut order = Vec::new();
        for _ in 0..10 {
            if let Poll::Ready(Some((i, _))) = set.poll_next(&mut cx) {
                order.push(i);
            }
        }
        assert_eq!(order, [0, 1, 2]);
        assert_eq!(polls.get(), 1 + 2 + 3, "each child polled once per wake, no more");
        assert!(matches!(set.poll_next(&mut cx), Poll::Ready(None)));
    }
}
