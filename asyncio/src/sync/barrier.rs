//! [`Barrier`]: wait until a number of tasks have arrived, as
//! `asyncio.Barrier`.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::LoopBound;
use crate::runtime::wait_queue::{WaitKey, WaitQueue};

const RELEASED: usize = 0;
const BROKEN: usize = 1;

/// Makes `parties` tasks wait for each other (`asyncio.Barrier`): each
/// [`wait`](Self::wait) returns once `parties` tasks are waiting, with the
/// task's arrival index (`0..parties`). The barrier then starts over.
///
/// [`reset`](Self::reset) and [`abort`](Self::abort) break the current
/// waiters out with [`BrokenBarrierError`]; after `abort` every wait fails.
/// A waiter that is cancelled just leaves: it does not break the barrier.
/// Loop-bound (see the [module docs](super)).
///
/// ```
/// use std::rc::Rc;
/// asyncio::run(async {
///     let barrier = Rc::new(asyncio::sync::Barrier::new(3));
///     let arrivals = (0..3).map(|_| {
///         let b = barrier.clone();
///         async move { b.wait().await.unwrap() }
///     });
///     let mut indices = asyncio::gather(arrivals).await;
///     indices.sort();
///     assert_eq!(indices, [0, 1, 2]);
/// });
/// ```
pub struct Barrier {
    parties: usize,
    count: Cell<usize>,
    aborted: Cell<bool>,
    waiters: RefCell<WaitQueue>,
    bound: LoopBound,
}

impl Barrier {
    /// A barrier for `parties` tasks.
    ///
    /// # Panics
    /// If `parties` is 0 (asyncio's `ValueError`).
    pub fn new(parties: usize) -> Self {
        assert!(parties > 0, "a Barrier needs at least one party");
        Barrier {
            parties,
            count: Cell::new(0),
            aborted: Cell::new(false),
            waiters: RefCell::default(),
            bound: LoopBound::default(),
        }
    }

    /// Waits for the other parties; gives this task's arrival index.
    ///
    /// # Errors
    /// [`BrokenBarrierError`] if the barrier is reset or aborted while
    /// waiting, or was aborted before.
    ///
    /// # Cancel safety
    /// Cancel safe: a cancelled waiter leaves without breaking the barrier.
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait {
            barrier: self,
            key: None,
            index: 0,
        }
    }

    /// Breaks the current waiters out with an error and starts over.
    pub fn reset(&self) {
        self.count.set(0);
        self.waiters.borrow_mut().grant_all_with(BROKEN);
    }

    /// Breaks the barrier for good: current and future waits fail.
    pub fn abort(&self) {
        self.aborted.set(true);
        self.reset();
    }

    /// The number of parties.
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// How many tasks are waiting now.
    pub fn n_waiting(&self) -> usize {
        self.count.get()
    }

    /// True once aborted.
    pub fn broken(&self) -> bool {
        self.aborted.get()
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("waiting", &self.count.get())
            .field("broken", &self.aborted.get())
            .finish()
    }
}

/// The future of [`Barrier::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    key: Option<WaitKey>,
    index: usize,
}

impl Future for BarrierWait<'_> {
    type Output = Result<usize, BrokenBarrierError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let b = self.barrier;
        if let Some(key) = self.key {
            return match b.waiters.borrow_mut().poll_value(key, cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(outcome) => {
                    self.key = None;
                    Poll::Ready(if outcome == RELEASED {
                        Ok(self.index)
                    } else {
                        Err(BrokenBarrierError)
                    })
                }
            };
        }
        b.bound.check("Barrier");
        if b.aborted.get() {
            return Poll::Ready(Err(BrokenBarrierError));
        }
        let index = b.count.get();
        if index + 1 == b.parties {
            b.count.set(0);
            b.waiters.borrow_mut().grant_all_with(RELEASED);
            return Poll::Ready(Ok(index));
        }
        b.count.set(index + 1);
        self.index = index;
        self.key = Some(b.waiters.borrow_mut().push(0, cx.waker()));
        Poll::Pending
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            if !self.barrier.waiters.borrow_mut().cancel(key) {
                // Left while still waiting: one fewer party has arrived.
                let b = self.barrier;
                b.count.set(b.count.get().saturating_sub(1));
            }
        }
    }
}

/// The barrier was reset or aborted (asyncio's `BrokenBarrierError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrokenBarrierError;

impl fmt::Display for BrokenBarrierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the barrier was reset or aborted")
    }
}

impl std::error::Error for BrokenBarrierError {}
