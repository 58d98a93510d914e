//! Tiny hand-written futures that every runtime runs unchanged, so that the
//! code around them is identical: [`Signal`] (a one-waiter event any thread
//! can set), [`YieldOnce`] and [`YieldThen`] (pending once, then ready),
//! [`StaggerChain`]'s [`Staggered`] children (finishing one at a time), and
//! [`Unwrap`], which turns a join handle's `Result` into the task's output.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

/// A one-waiter, auto-reset event that any thread can set: a flag plus the
/// waiting task's waker. The same code runs under every runtime, so a
/// workload that uses it measures only the runtime's wake path.
#[derive(Debug, Default)]
pub struct Signal {
    set: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Signal {
    /// An unset signal.
    pub fn new() -> Self {
        Signal::default()
    }

    /// Sets the signal and wakes the waiter, if one is registered.
    pub fn notify(&self) {
        self.set.store(true, Ordering::SeqCst);
        let waker = self.waker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Waits until the signal is set, and clears it. One waiter at a time.
    pub fn wait(&self) -> SignalWait<'_> {
        SignalWait { signal: self }
    }
}

/// The future of [`Signal::wait`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct SignalWait<'a> {
    signal: &'a Signal,
}

impl Future for SignalWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let s = self.signal;
        if s.set.swap(false, Ordering::SeqCst) {
            return Poll::Ready(());
        }
        {
            let mut slot = s.waker.lock().unwrap_or_else(|e| e.into_inner());
            match &*slot {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *slot = Some(cx.waker().clone()),
            }
        }
        // A notify between the first check and the registration found no
        // waker: look again.
        if s.set.swap(false, Ordering::SeqCst) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

/// A future that is pending once (waking itself, like a yield) and ready at
/// its second poll: the inner future of a timeout that must get as far as
/// arming its timer before it completes.
#[derive(Debug, Default)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldOnce {
    yielded: bool,
}

impl YieldOnce {
    /// A fresh, not yet yielded future.
    pub fn new() -> Self {
        YieldOnce { yielded: false }
    }
}

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // The first poll marks the future yielded and wakes it; the second
        // finds the mark.
        if !self.yielded {
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(())
    }
}

/// A future that is pending once (waking itself, like a yield) and then
/// ready with its value: [`YieldOnce`] with an output, so that a join of many
/// of them has results to check.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldThen<T> {
    value: Option<T>,
    yielded: bool,
}

impl<T> YieldThen<T> {
    /// A fresh, not yet yielded future that will return `value`.
    pub fn new(value: T) -> Self {
        YieldThen {
            value: Some(value),
            yielded: false,
        }
    }
}

// The value is never pinned.
impl<T> Unpin for YieldThen<T> {}

impl<T> Future for YieldThen<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if self.yielded {
            return Poll::Ready(self.value.take().expect("YieldThen polled after completion"));
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The shared state of a chain of [`Staggered`] futures that finish one at a
/// time, in input order: child `i` completes only after child `i - 1` did,
/// and only at a poll that follows a wake given after that.
///
/// The "next to finish" counter and the per-child waker slots live behind an
/// `Rc`: the children run inside one join on one thread (the root future, for
/// every runtime, the multi-thread ones included), so nothing needs `Send`.
#[derive(Debug)]
pub struct StaggerChain {
    /// The index of the child whose turn it is; `n` once all have finished.
    next: Cell<usize>,
    /// Child `i`'s waker, registered while it waits for its turn; taken and
    /// woken by child `i - 1` when that one finishes.
    wakers: Box<[RefCell<Option<Waker>>]>,
    /// Polls of all children together (one non-atomic add per poll), so a
    /// test can tell a poll-everything join from a per-child-waker one.
    polls: Cell<u64>,
}

impl StaggerChain {
    /// The state of a chain of `n` children, none finished.
    pub fn new(n: usize) -> Rc<StaggerChain> {
        Rc::new(StaggerChain {
            next: Cell::new(0),
            wakers: (0..n).map(|_| RefCell::new(None)).collect(),
            polls: Cell::new(0),
        })
    }

    /// The `n` children, in order; child `i` returns `i`.
    pub fn children(self: &Rc<Self>) -> impl Iterator<Item = Staggered> + '_ {
        (0..self.wakers.len()).map(move |index| Staggered {
            chain: self.clone(),
            index,
            turn: false,
        })
    }

    /// How many children have finished.
    pub fn finished(&self) -> usize {
        self.next.get()
    }

    /// How many times the children were polled in all.
    pub fn polls(&self) -> u64 {
        self.polls.get()
    }
}

/// One child of a [`StaggerChain`]. Polled before its turn, it registers its
/// waker and is pending. Polled once it is its turn (child `i - 1` finished),
/// it wakes itself and is pending once more, as a child whose own event
/// arrives a loop turn after its predecessor's would; at the next poll it
/// finishes: it passes the turn on, wakes child `i + 1`'s registered waker,
/// and returns its index.
///
/// That extra wake is what makes the children finish one at a time whatever
/// the join: without it a join that polls its children in input order (both
/// `join_all` and `asyncio::gather` do, on their first poll) would see child
/// `i` ready right after child `i - 1` in the same pass and finish the whole
/// chain in one pass. With it, a join that re-polls every child on every
/// wake finishes one child per pass (n passes, about n²/2 child polls), and
/// one that polls only the woken child polls each child three times at most.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Staggered {
    chain: Rc<StaggerChain>,
    index: usize,
    /// Whether this child has already seen its turn (and woken itself).
    turn: bool,
}

impl Future for Staggered {
    type Output = u64;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        let chain = &*self.chain;
        chain.polls.set(chain.polls.get() + 1);
        let i = self.index;
        if self.turn {
            debug_assert_eq!(chain.next.get(), i, "Staggered polled after completion");
            chain.next.set(i + 1);
            let waker = chain.wakers.get(i + 1).and_then(|slot| slot.borrow_mut().take());
            if let Some(w) = waker {
                w.wake();
            }
            return Poll::Ready(i as u64);
        }
        if chain.next.get() == i {
            self.turn = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let mut slot = chain.wakers[i].borrow_mut();
        match &*slot {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// Turns a join handle whose output is `Result<T, E>` into a future of `T`,
/// panicking on a failed task (none of the workloads' tasks fail).
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Unwrap<H>(pub(crate) H);

impl<H, T, E> Future for Unwrap<H>
where
    H: Future<Output = Result<T, E>> + Unpin,
    E: std::fmt::Debug,
{
    type Output = T;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match Pin::new(&mut self.0).poll(cx) {
            Poll::Ready(r) => Poll::Ready(r.expect("benchmark task failed")),
            Poll::Pending => Poll::Pending,
        }
    }
}
