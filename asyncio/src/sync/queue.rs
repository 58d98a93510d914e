//! [`Queue`], [`LifoQueue`], [`PriorityQueue`]: asyncio's queues, with
//! `task_done`/`join` and 3.13's `shutdown`.
//!
//! # Design
//!
//! Getters and putters wait on the crate's hand-off wait queue. A `put`
//! that finds getters waiting *reserves* its item for the longest one and
//! grants it; a `get` that frees a slot reserves the slot for the longest
//! putter. A newcomer only takes what is not reserved, so nobody barges past
//! a woken waiter, and a waiter cancelled after it was granted gives its
//! reservation to the next one.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::LoopBound;
use crate::runtime::wait_queue::{WaitKey, WaitQueue};

/// How a queue orders its items.
trait Store<T> {
    fn push(&mut self, item: T);
    fn pop(&mut self) -> Option<T>;
    fn len(&self) -> usize;
    /// Removes every item, handing them back to be dropped by the caller
    /// (outside any borrow: an item's destructor may use the queue).
    fn take_all(&mut self) -> Vec<T>;
}

impl<T> Store<T> for VecDeque<T> {
    fn push(&mut self, item: T) {
        self.push_back(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.pop_front()
    }
    fn len(&self) -> usize {
        VecDeque::len(self)
    }
    fn take_all(&mut self) -> Vec<T> {
        self.drain(..).collect()
    }
}

/// Last in, first out.
struct Lifo<T>(Vec<T>);

impl<T> Store<T> for Lifo<T> {
    fn push(&mut self, item: T) {
        self.0.push(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn take_all(&mut self) -> Vec<T> {
        std::mem::take(&mut self.0)
    }
}

/// Smallest first, as asyncio's `PriorityQueue` (a min-heap).
struct Smallest<T: Ord>(BinaryHeap<Reverse<T>>);

impl<T: Ord> Store<T> for Smallest<T> {
    fn push(&mut self, item: T) {
        self.0.push(Reverse(item));
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|Reverse(t)| t)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn take_all(&mut self) -> Vec<T> {
        std::mem::take(&mut self.0).into_iter().map(|Reverse(t)| t).collect()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Shutdown {
    No,
    Graceful,
    Immediate,
}

/// A waiter was granted a reserved item (getters) or slot (putters).
const RESERVED: usize = 0;
/// A waiter was woken by `shutdown`, with nothing reserved for it.
const SHUT_DOWN: usize = 1;

/// Grants the longest of `waiters`, counting the item or slot reserved for
/// it in `reserved`.
fn grant_reserved(waiters: &RefCell<WaitQueue>, reserved: &Cell<usize>) {
    if waiters.borrow_mut().grant_front_with(RESERVED) {
        reserved.set(reserved.get() + 1);
    }
}

/// A reservation was used, or given up.
fn unreserve(reserved: &Cell<usize>) {
    reserved.set(reserved.get().saturating_sub(1));
}

/// A waiting `put` or `get` was dropped: it leaves `waiters`, and if it had
/// been granted the slot or item reserved for it in `reserved`, that goes
/// to the next waiter when `still_there()` (asked after the reservation is
/// given up) says the slot or item can still be used.
fn cancel_waiter(
    waiters: &RefCell<WaitQueue>,
    key: WaitKey,
    reserved: &Cell<usize>,
    still_there: impl FnOnce() -> bool,
) {
    let granted = waiters.borrow_mut().cancel_value(key);
    if granted == Some(RESERVED) {
        unreserve(reserved);
        if still_there() {
            grant_reserved(waiters, reserved);
        }
    }
}

/// The queue machinery, shared by the three orders.
struct Core<T, S: Store<T>> {
    items: RefCell<S>,
    maxsize: usize,
    getters: RefCell<WaitQueue>,
    putters: RefCell<WaitQueue>,
    joiners: RefCell<WaitQueue>,
    /// Items promised to granted getters that have not run yet.
    reserved_items: Cell<usize>,
    /// Slots promised to granted putters that have not run yet.
    reserved_slots: Cell<usize>,
    unfinished: Cell<usize>,
    shutdown: Cell<Shutdown>,
    bound: LoopBound,
    name: &'static str,
    _t: std::marker::PhantomData<fn(T) -> T>,
}

impl<T, S: Store<T>> Core<T, S> {
    fn new(store: S, maxsize: usize, name: &'static str) -> Self {
        Core {
            items: RefCell::new(store),
            maxsize,
            getters: RefCell::default(),
            putters: RefCell::default(),
            joiners: RefCell::default(),
            reserved_items: Cell::new(0),
            reserved_slots: Cell::new(0),
            unfinished: Cell::new(0),
            shutdown: Cell::new(Shutdown::No),
            bound: LoopBound::default(),
            name,
            _t: std::marker::PhantomData,
        }
    }

    fn len(&self) -> usize {
        self.items.borrow().len()
    }

    fn full(&self) -> bool {
        self.maxsize > 0 && self.len() + self.reserved_slots.get() >= self.maxsize
    }

    /// Stores an item and hands it to the longest waiting getter, if any.
    fn push(&self, item: T) {
        self.items.borrow_mut().push(item);
        self.unfinished.set(self.unfinished.get() + 1);
        grant_reserved(&self.getters, &self.reserved_items);
    }

    /// Takes an item and hands the freed slot to the longest putter.
    fn pop(&self) -> Option<T> {
        let item = self.items.borrow_mut().pop()?;
        if self.maxsize > 0 {
            grant_reserved(&self.putters, &self.reserved_slots);
        }
        Some(item)
    }

    fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
        if self.shutdown.get() != Shutdown::No {
            return Err(PutError::ShutDown(item));
        }
        if self.full() || !self.putters.borrow().is_empty() {
            return Err(PutError::Full(item));
        }
        self.push(item);
        Ok(())
    }

    fn get_nowait(&self) -> Result<T, GetError> {
        if self.len() > self.reserved_items.get() {
            return Ok(self.pop().expect("unreserved item"));
        }
        if self.shutdown.get() != Shutdown::No {
            return Err(GetError::ShutDown);
        }
        Err(GetError::Empty)
    }

    fn task_done(&self) -> Result<(), TaskDoneError> {
        let n = self.unfinished.get();
        if n == 0 {
            return Err(TaskDoneError);
        }
        self.unfinished.set(n - 1);
        if n == 1 {
            self.joiners.borrow_mut().grant_all();
        }
        Ok(())
    }

    fn shutdown(&self, immediate: bool) {
        let mut discarded = Vec::new();
        if immediate {
            self.shutdown.set(Shutdown::Immediate);
            discarded = self.items.borrow_mut().take_all();
            let dropped = discarded.len();
            self.reserved_items.set(0);
            let left = self.unfinished.get().saturating_sub(dropped);
            self.unfinished.set(left);
            if left == 0 {
                self.joiners.borrow_mut().grant_all();
            }
        } else if self.shutdown.get() == Shutdown::No {
            self.shutdown.set(Shutdown::Graceful);
        }
        // Every waiter re-checks: putters fail; getters take an unreserved
        // item if one is left (graceful drain), else fail.
        self.putters.borrow_mut().grant_all_with(SHUT_DOWN);
        self.getters.borrow_mut().grant_all_with(SHUT_DOWN);
        drop(discarded);
    }
}

/// Why [`put_nowait`](Queue::put_nowait) refused an item (it is given back).
#[derive(PartialEq, Eq)]
pub enum PutError<T> {
    /// The queue is at `maxsize` (asyncio's `QueueFull`).
    Full(T),
    /// The queue was shut down (asyncio's `QueueShutDown`).
    ShutDown(T),
}

impl<T> PutError<T> {
    /// The refused item.
    pub fn into_inner(self) -> T {
        match self {
            PutError::Full(t) | PutError::ShutDown(t) => t,
        }
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PutError::Full(_) => "Full(..)",
            PutError::ShutDown(_) => "ShutDown(..)",
        })
    }
}

error_message!(PutError<T> {
    PutError::Full(_) => "the queue is full",
    PutError::ShutDown(_) => "the queue was shut down",
});

/// Why [`get_nowait`](Queue::get_nowait) gave nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GetError {
    /// Nothing to take now (asyncio's `QueueEmpty`).
    Empty,
    /// Shut down and drained (asyncio's `QueueShutDown`).
    ShutDown,
}

error_message!(GetError {
    GetError::Empty => "the queue is empty",
    GetError::ShutDown => "the queue was shut down",
});

/// The queue was shut down (asyncio's `QueueShutDown`); for `put`, the item
/// comes back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct QueueShutDown<T = ()>(pub T);

impl<T> fmt::Debug for QueueShutDown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("QueueShutDown")
    }
}

error_message!(QueueShutDown<T> => "the queue was shut down");

/// `task_done` was called more times than items were put (asyncio's
/// `ValueError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskDoneError;

error_message!(TaskDoneError => "task_done() called too many times");

/// The future of `put`.
#[must_use = "futures do nothing unless awaited"]
struct Put<'a, T, S: Store<T>> {
    core: &'a Core<T, S>,
    item: Option<T>,
    key: Option<WaitKey>,
}

impl<T, S: Store<T>> Unpin for Put<'_, T, S> {}

impl<T, S: Store<T>> Future for Put<'_, T, S> {
    type Output = Result<(), QueueShutDown<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let core = self.core;
        if let Some(key) = self.key {
            let why = match core.putters.borrow_mut().poll_value(key, cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(why) => why,
            };
            self.key = None;
            let item = self.item.take().expect("put polled after completion");
            if why == RESERVED {
                unreserve(&core.reserved_slots);
            }
            if core.shutdown.get() != Shutdown::No {
                return Poll::Ready(Err(QueueShutDown(item)));
            }
            core.push(item);
            return Poll::Ready(Ok(()));
        }
        let item = self.item.take().expect("put polled after completion");
        if core.shutdown.get() != Shutdown::No {
            return Poll::Ready(Err(QueueShutDown(item)));
        }
        if !core.full() && core.putters.borrow().is_empty() {
            core.push(item);
            return Poll::Ready(Ok(()));
        }
        core.bound.check(core.name);
        self.item = Some(item);
        self.key = Some(core.putters.borrow_mut().push(1, cx.waker()));
        Poll::Pending
    }
}

impl<T, S: Store<T>> Drop for Put<'_, T, S> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            // A slot granted to us goes to the next putter, unless shut down.
            let core = self.core;
            cancel_waiter(&core.putters, key, &core.reserved_slots, || {
                core.shutdown.get() == Shutdown::No
            });
        }
    }
}

/// The future of `get`.
#[must_use = "futures do nothing unless awaited"]
struct Get<'a, T, S: Store<T>> {
    core: &'a Core<T, S>,
    key: Option<WaitKey>,
}

impl<T, S: Store<T>> Future for Get<'_, T, S> {
    type Output = Result<T, QueueShutDown>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let core = self.core;
        if let Some(key) = self.key {
            let why = match core.getters.borrow_mut().poll_value(key, cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(why) => why,
            };
            self.key = None;
            if why == RESERVED {
                // An item was kept for us (unless an immediate shutdown
                // discarded it).
                unreserve(&core.reserved_items);
                return Poll::Ready(core.pop().ok_or(QueueShutDown(())));
            }
            // Woken by shutdown: drain an unreserved item if one is left.
            return Poll::Ready(core.get_nowait().map_err(|_| QueueShutDown(())));
        }
        match core.get_nowait() {
            Ok(item) => Poll::Ready(Ok(item)),
            Err(GetError::ShutDown) => Poll::Ready(Err(QueueShutDown(()))),
            Err(GetError::Empty) => {
                core.bound.check(core.name);
                self.key = Some(core.getters.borrow_mut().push(1, cx.waker()));
                Poll::Pending
            }
        }
    }
}

impl<T, S: Store<T>> Drop for Get<'_, T, S> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            // An item reserved for us goes to the next getter, if still
            // there beyond the other reservations.
            let core = self.core;
            cancel_waiter(&core.getters, key, &core.reserved_items, || {
                core.len() > core.reserved_items.get()
            });
        }
    }
}

/// The future of `join`.
#[must_use = "futures do nothing unless awaited"]
struct Join<'a, T, S: Store<T>> {
    core: &'a Core<T, S>,
    key: Option<WaitKey>,
}

impl<T, S: Store<T>> Future for Join<'_, T, S> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let core = self.core;
        if let Some(key) = self.key {
            let r = core.joiners.borrow_mut().poll(key, cx);
            if r.is_ready() {
                self.key = None;
            }
            return r;
        }
        if core.unfinished.get() == 0 {
            return Poll::Ready(());
        }
        self.key = Some(core.joiners.borrow_mut().push(0, cx.waker()));
        Poll::Pending
    }
}

impl<T, S: Store<T>> Drop for Join<'_, T, S> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.core.joiners.borrow_mut().cancel(key);
        }
    }
}

macro_rules! queue_type {
    ($(#[$doc:meta])* $name:ident, $store:ty, [$($bound:tt)*], $make:expr, $label:literal) => {
        // `put`, `get` and `join` return `impl Future`: their types name
        // the private storage type.
        $(#[$doc])*
        pub struct $name<T: $($bound)*> {
            core: Core<T, $store>,
        }

        impl<T: $($bound)*> $name<T> {
            /// A queue holding at most `maxsize` items; 0 means unbounded.
            pub fn new(maxsize: usize) -> Self {
                $name { core: Core::new($make, maxsize, $label) }
            }

            /// Puts `item`, waiting while the queue is full.
            ///
            /// # Errors
            /// [`QueueShutDown`] with the item, if the queue is shut down (before
            /// or while waiting).
            ///
            /// # Cancel safety
            /// Cancel safe: if dropped before completing, the item was not put
            /// (it is dropped with the future).
            pub fn put(&self, item: T) -> impl Future<Output = Result<(), QueueShutDown<T>>> + '_ {
                Put { core: &self.core, item: Some(item), key: None }
            }

            /// Puts `item` without waiting.
            ///
            /// # Errors
            /// [`PutError::Full`] or [`PutError::ShutDown`], with the item.
            pub fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
                self.core.put_nowait(item)
            }

            /// Takes an item, waiting while the queue is empty.
            ///
            /// # Errors
            /// [`QueueShutDown`] once the queue is shut down and drained (at once
            /// after an immediate shutdown).
            ///
            /// # Cancel safety
            /// Cancel safe: an item is only removed when the future completes; an
            /// item reserved for a cancelled getter goes to the next getter.
            pub fn get(&self) -> impl Future<Output = Result<T, QueueShutDown>> + '_ {
                Get { core: &self.core, key: None }
            }

            /// Takes an item without waiting.
            ///
            /// # Errors
            /// [`GetError::Empty`], or [`GetError::ShutDown`] once shut down and
            /// drained.
            pub fn get_nowait(&self) -> Result<T, GetError> {
                self.core.get_nowait()
            }

            /// Marks one gotten item as processed (for [`join`](Self::join)).
            ///
            /// # Errors
            /// [`TaskDoneError`] if called more times than items were put.
            pub fn task_done(&self) -> Result<(), TaskDoneError> {
                self.core.task_done()
            }

            /// Waits until every item put has been marked done.
            ///
            /// # Cancel safety
            /// Cancel safe.
            pub fn join(&self) -> impl Future<Output = ()> + '_ {
                Join { core: &self.core, key: None }
            }

            /// Shuts the queue down (asyncio 3.13): puts fail from now on;
            /// gets drain what is left, then fail. With `immediate`, the items
            /// are discarded (and count as done for [`join`](Self::join)) and
            /// waiting getters fail at once.
            pub fn shutdown(&self, immediate: bool) {
                self.core.shutdown(immediate)
            }

            /// Items in the queue.
            pub fn qsize(&self) -> usize {
                self.core.len()
            }

            /// True if no item is in the queue.
            pub fn empty(&self) -> bool {
                self.core.len() == 0
            }

            /// True if at `maxsize` (never for an unbounded queue).
            pub fn full(&self) -> bool {
                self.core.full()
            }

            /// The bound given to `new` (0: unbounded).
            pub fn maxsize(&self) -> usize {
                self.core.maxsize
            }
        }

        impl<T: $($bound)*> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct($label)
                    .field("qsize", &self.qsize())
                    .field("maxsize", &self.core.maxsize)
                    .field("getters", &self.core.getters.borrow().len())
                    .field("putters", &self.core.putters.borrow().len())
                    .field("unfinished", &self.core.unfinished.get())
                    .field("shutdown", &self.core.shutdown.get())
                    .finish()
            }
        }
    };
}

queue_type!(
    /// A first-in, first-out queue (`asyncio.Queue`). Loop-bound; see the
    /// [module docs](super).
    ///
    /// ```
    /// use std::rc::Rc;
    /// asyncio::run(async {
    ///     let q = Rc::new(asyncio::sync::Queue::new(2));
    ///     let producer = asyncio::create_task({
    ///         let q = q.clone();
    ///         async move {
    ///             for i in 0..5 {
    ///                 q.put(i).await.unwrap(); // waits while full
    ///             }
    ///             q.shutdown(false);
    ///         }
    ///     });
    ///     let mut got = Vec::new();
    ///     while let Ok(item) = q.get().await {
    ///         got.push(item);
    ///         q.task_done().unwrap();
    ///     }
    ///     producer.await.unwrap();
    ///     assert_eq!(got, [0, 1, 2, 3, 4]);
    /// });
    /// ```
    Queue, VecDeque<T>, [], VecDeque::new(), "Queue"
);

queue_type!(
    /// A last-in, first-out queue (`asyncio.LifoQueue`). Loop-bound; see the
    /// [module docs](super).
    ///
    /// ```
    /// let q = asyncio::sync::LifoQueue::new(0);
    /// q.put_nowait(1).unwrap();
    /// q.put_nowait(2).unwrap();
    /// assert_eq!(q.get_nowait(), Ok(2));
    /// ```
    LifoQueue, Lifo<T>, [], Lifo(Vec::new()), "LifoQueue"
);

queue_type!(
    /// A queue that gives the smallest item first (`asyncio.PriorityQueue`).
    /// Loop-bound; see the [module docs](super).
    ///
    /// ```
    /// let q = asyncio::sync::PriorityQueue::new(0);
    /// for p in [3, 1, 2] {
    ///     q.put_nowait((p, format!("job {p}"))).unwrap();
    /// }
    /// assert_eq!(q.get_nowait().unwrap().0, 1);
    /// ```
    PriorityQueue, Smallest<T>, [Ord], Smallest(BinaryHeap::new()), "PriorityQueue"
);
