//! [`Barrier`]: wait until a number of tasks have arrived, as
//! `asyncio.Barrier`.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::LoopBound;
use crate::runtime::wait_queue::{WaitKey, WaitQueue};

/// asyncio's barrier states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Tasks arrive and wait for the last party.
    Filling,
    /// The last party arrived: the waiters were released and are leaving;
    /// newcomers wait until every released task has run.
    Draining,
    /// [`Barrier::reset`] broke the waiters out; newcomers wait until they
    /// have all left.
    Resetting,
    /// [`Barrier::abort`]ed: every wait fails until a reset.
    Broken,
}

/// Makes `parties` tasks wait for each other (`asyncio.Barrier`): each
/// [`wait`](Self::wait) returns once `parties` tasks are waiting, with the
/// task's arrival index (`0..parties`). The barrier then starts over.
///
/// The states are asyncio's. While *filling*, tasks arrive and wait. When
/// the last party arrives, the barrier *drains*: the waiters are released,
/// and a task that arrives before every released task has run waits for
/// the next round to begin. [`reset`](Self::reset) breaks the waiters out
/// with [`BrokenBarrierError`] (released tasks that have not run yet too)
/// and starts over once they have all left; it also mends an aborted
/// barrier. [`abort`](Self::abort) breaks the barrier: every wait, current
/// (released tasks that have not run yet included) and future, fails until
/// a reset. A waiter that is cancelled just leaves: it does not break the
/// barrier. Loop-bound (see the [module docs](super)).
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
    state: Cell<State>,
    /// Tasks inside the barrier: arrived and not yet left (a released task
    /// leaves when it runs).
    count: Cell<usize>,
    /// Arrived tasks, waiting for the last party (or a reset or abort).
    arrived: RefCell<WaitQueue>,
    /// Tasks that came while the barrier drained or reset, waiting to try
    /// again once it fills again (or is aborted).
    blocked: RefCell<WaitQueue>,
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
            state: Cell::new(State::Filling),
            count: Cell::new(0),
            arrived: RefCell::default(),
            blocked: RefCell::default(),
            bound: LoopBound::default(),
        }
    }

    /// Waits for the other parties; gives this task's arrival index.
    ///
    /// # Errors
    /// [`BrokenBarrierError`] if the barrier is reset or aborted while
    /// waiting (or after releasing this task, before it ran), or is
    /// aborted.
    ///
    /// # Cancel safety
    /// Cancel safe: a cancelled waiter leaves without breaking the barrier.
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait {
            barrier: self,
            stage: Stage::Start,
        }
    }

    /// Breaks the current waiters out with an error (`barrier.reset()`),
    /// released tasks that have not run yet included, and starts over once
    /// they have left. Mends an aborted barrier.
    pub fn reset(&self) {
        if self.count.get() > 0 {
            self.state.set(State::Resetting);
        } else {
            self.state.set(State::Filling);
        }
        self.notify_all();
    }

    /// Breaks the barrier (`barrier.abort()`): current waits fail, released
    /// tasks that have not run yet included, and so does every later wait
    /// until a [`reset`](Self::reset).
    pub fn abort(&self) {
        self.state.set(State::Broken);
        self.notify_all();
    }

    /// Wakes every waiter to look at the state again.
    fn notify_all(&self) {
        self.arrived.borrow_mut().grant_all();
        self.blocked.borrow_mut().grant_all();
    }

    /// A task inside the barrier leaves; the last one out ends a drain or
    /// a reset.
    fn exit(&self) {
        let count = self.count.get() - 1;
        self.count.set(count);
        if count == 0 {
            if matches!(self.state.get(), State::Draining | State::Resetting) {
                self.state.set(State::Filling);
            }
            self.blocked.borrow_mut().grant_all();
        }
    }

    /// The number of parties.
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// How many tasks are waiting for the last party now (0 unless
    /// filling).
    pub fn n_waiting(&self) -> usize {
        if self.state.get() == State::Filling {
            self.count.get()
        } else {
            0
        }
    }

    /// True while aborted.
    pub fn broken(&self) -> bool {
        self.state.get() == State::Broken
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state.get() {
            State::Filling => "filling",
            State::Draining => "draining",
            State::Resetting => "resetting",
            State::Broken => "broken",
        };
        f.debug_struct("Barrier")
            .field("state", &state)
            .field("parties", &self.parties)
            .field("waiting", &self.n_waiting())
            .finish()
    }
}

enum Stage {
    Start,
    /// Came while draining or resetting; waits to try again.
    Blocked(WaitKey),
    /// Inside the barrier with this arrival index.
    Arrived(WaitKey, usize),
    Done,
}

/// The future of [`Barrier::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    stage: Stage,
}

impl Future for BarrierWait<'_> {
    type Output = Result<usize, BrokenBarrierError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let b = self.barrier;
        match self.stage {
            Stage::Start => {}
            Stage::Blocked(key) => {
                if b.blocked.borrow_mut().poll(key, cx).is_pending() {
                    return Poll::Pending;
                }
            }
            Stage::Arrived(key, index) => {
                if b.arrived.borrow_mut().poll(key, cx).is_pending() {
                    return Poll::Pending;
                }
                self.stage = Stage::Done;
                // Decided now, as asyncio decides when the task runs: a
                // reset or an abort after the release still breaks it.
                let out = match b.state.get() {
                    State::Resetting | State::Broken => Err(BrokenBarrierError),
                    State::Filling | State::Draining => Ok(index),
                };
                b.exit();
                return Poll::Ready(out);
            }
            Stage::Done => panic!("BarrierWait polled after completion"),
        }
        // Start, or woken from the blocked queue: try to arrive.
        b.bound.check("Barrier");
        match b.state.get() {
            State::Broken => {
                self.stage = Stage::Done;
                return Poll::Ready(Err(BrokenBarrierError));
            }
            State::Draining | State::Resetting => {
                self.stage = Stage::Blocked(b.blocked.borrow_mut().push(0, cx.waker()));
                return Poll::Pending;
            }
            State::Filling => {}
        }
        let index = b.count.get();
        b.count.set(index + 1);
        if index + 1 == b.parties {
            b.state.set(State::Draining);
            b.arrived.borrow_mut().grant_all();
            self.stage = Stage::Done;
            b.exit();
            return Poll::Ready(Ok(index));
        }
        self.stage = Stage::Arrived(b.arrived.borrow_mut().push(0, cx.waker()), index);
        Poll::Pending
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Blocked(key) => {
                self.barrier.blocked.borrow_mut().cancel(key);
            }
            Stage::Arrived(key, _) => {
                // Waiting or released, it leaves the barrier either way.
                self.barrier.arrived.borrow_mut().cancel(key);
                self.barrier.exit();
            }
            Stage::Start | Stage::Done => {}
        }
    }
}

/// The barrier was reset or aborted (asyncio's `BrokenBarrierError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrokenBarrierError;

error_message!(BrokenBarrierError => "the barrier was reset or aborted");
