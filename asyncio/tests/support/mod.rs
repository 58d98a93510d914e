//! Test helpers: futures that count their polls and drops.
#![allow(dead_code)]

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// Shared counters for one or more [`Counted`] futures.
#[derive(Clone, Default)]
pub struct Counts {
    pub polls: Rc<Cell<usize>>,
    pub drops: Rc<Cell<usize>>,
}

impl Counts {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn polls(&self) -> usize {
        self.polls.get()
    }
    pub fn drops(&self) -> usize {
        self.drops.get()
    }
    /// Wraps `fut` so that its polls and its drop are counted here.
    pub fn wrap<F: Future>(&self, fut: F) -> Counted<F> {
        Counted {
            inner: Box::pin(fut),
            counts: self.clone(),
        }
    }
}

pub struct Counted<F: Future> {
    inner: Pin<Box<F>>,
    counts: Counts,
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.counts.polls.set(self.counts.polls.get() + 1);
        self.inner.as_mut().poll(cx)
    }
}

impl<F: Future> Drop for Counted<F> {
    fn drop(&mut self) {
        self.counts.drops.set(self.counts.drops.get() + 1);
    }
}

/// A future that stays pending forever and stores its latest waker.
pub struct Forever {
    pub waker: Rc<Cell<Option<Waker>>>,
}

impl Future for Forever {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.waker.set(Some(cx.waker().clone()));
        Poll::Pending
    }
}

/// A pending-forever future plus a way to grab its waker.
pub fn forever() -> (Forever, Rc<Cell<Option<Waker>>>) {
    let w = Rc::new(Cell::new(None));
    (Forever { waker: w.clone() }, w)
}

/// A runner on a virtual clock.
pub fn vrun<F: Future>(f: F) -> F::Output {
    let mut r = asyncio::Runner::new().virtual_time(true);
    let out = r.run(f);
    r.close();
    out
}
