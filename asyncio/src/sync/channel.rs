//! [`channel`]: a bounded multi-producer, multi-consumer channel that works
//! across threads and loops.
//!
//! The loop-bound primitives of this module cost no atomics because they
//! never leave their loop. This channel is the way across: `Send + Sync`,
//! usable from async code on any loop and from plain threads
//! ([`Sender::send_blocking`], [`Receiver::recv_blocking`]). A send from
//! another thread wakes the receiving loop through its cross-thread queue.
//!
//! The items travel in `concurrent-queue`'s lock-free bounded queue
//! (smol-rs, the one under `async-channel`). Waiting is our own
//! (`runtime::wait_set`): while items flow, neither side takes a lock or
//! touches a line the other writes beyond the queue's own; a single waiter
//! on either side registers and is woken with a compare-and-swap each, and
//! only several waiters on one side share a mutex-guarded FIFO. The first
//! version, `async-channel` whole, spent 60% of a stream's time from a task
//! to a plain thread in its waiter list (`perf`), and ran 1.4–1.8× tokio's
//! `mpsc` time per item (BENCHMARKS.md, `channel_cross_thread_to_thread`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use concurrent_queue::{ConcurrentQueue, PopError, PushError};

use crate::runtime::wait_set::{Attempt, Place, WaitSet};

/// A bounded channel for `cap` items (`cap` ≥ 1): [`Sender`]s wait while it
/// is full, [`Receiver`]s while it is empty. Both ends are `Clone + Send +
/// Sync`. The channel closes when every sender or every receiver is gone, or
/// on [`Sender::close`]; receivers still get the items already sent.
///
/// Waiting senders and receivers are woken oldest first, one per item sent
/// or taken; one that gives up after being woken (a dropped future) passes
/// its turn on. A woken waiter that finds its item already taken by a
/// newcomer waits again, at the back.
///
/// # Panics
/// If `cap` is 0.
///
/// ```
/// asyncio::run(async {
///     let (tx, rx) = asyncio::sync::channel(16);
///     let producer = std::thread::spawn(move || {
///         for i in 0..100 {
///             tx.send_blocking(i).unwrap();
///         }
///     });
///     let mut sum = 0;
///     while let Ok(i) = rx.recv().await {
///         sum += i;
///     }
///     producer.join().unwrap();
///     assert_eq!(sum, 4950);
/// });
/// ```
pub fn channel<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    assert!(cap > 0, "a channel needs a capacity of at least 1");
    let chan = Arc::new(Chan {
        queue: ConcurrentQueue::bounded(cap),
        senders: AtomicUsize::new(1),
        receivers: AtomicUsize::new(1),
        receivers_wait: WaitSet::default(),
        senders_wait: WaitSet::default(),
    });
    (Sender { chan: chan.clone() }, Receiver { chan })
}

struct Chan<T> {
    queue: ConcurrentQueue<T>,
    senders: AtomicUsize,
    receivers: AtomicUsize,
    /// Receivers waiting for an item.
    receivers_wait: WaitSet,
    /// Senders waiting for room.
    senders_wait: WaitSet,
}

impl<T> Chan<T> {
    /// One attempt to send: `Err(Ok(item))` if full, `Err(Err(item))` if
    /// closed.
    #[inline]
    fn try_push(&self, item: T) -> Result<(), Result<T, T>> {
        match self.queue.push(item) {
            Ok(()) => {
                self.receivers_wait.notify_one_after_rmw();
                Ok(())
            }
            Err(PushError::Full(t)) => Err(Ok(t)),
            Err(PushError::Closed(t)) => Err(Err(t)),
        }
    }

    /// One attempt to receive.
    #[inline]
    fn try_pop(&self) -> Result<T, TryRecvError> {
        match self.queue.pop() {
            Ok(t) => {
                self.senders_wait.notify_one_after_rmw();
                Ok(t)
            }
            Err(PopError::Empty) => Err(TryRecvError::Empty),
            Err(PopError::Closed) => Err(TryRecvError::Closed),
        }
    }

    /// A send's try, for [`WaitSet::poll_with`]: the item goes back into
    /// `slot` if the channel is full.
    fn push_attempt(&self, item: T, slot: &mut Option<T>) -> Attempt<Result<(), SendError<T>>> {
        match self.try_push(item) {
            Ok(()) => Attempt::Done(Ok(())),
            Err(Ok(t)) => {
                *slot = Some(t);
                Attempt::Again
            }
            Err(Err(t)) => Attempt::Over(Err(SendError(t))),
        }
    }

    /// A receive's try, for [`WaitSet::poll_with`].
    fn pop_attempt(&self) -> Attempt<Result<T, RecvError>> {
        match self.try_pop() {
            Ok(t) => Attempt::Done(Ok(t)),
            Err(TryRecvError::Empty) => Attempt::Again,
            Err(TryRecvError::Closed) => Attempt::Over(Err(RecvError)),
        }
    }

    fn close(&self) {
        if self.queue.close() {
            self.receivers_wait.notify_all();
            self.senders_wait.notify_all();
        }
    }
}

/// The sending half of a [`channel`].
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving half of a [`channel`].
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

/// The channel is closed: no receiver is left, or it was closed; the item
/// comes back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SendError<T>(pub T);

/// Why [`Sender::try_send`] did not send; the item comes back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The channel is full.
    Full(T),
    /// The channel is closed.
    Closed(T),
}

/// The channel is closed and drained: every sender is gone, or it was
/// closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvError;

/// Why [`Receiver::try_recv`] gave nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing to receive now.
    Empty,
    /// Closed and drained.
    Closed,
}

fn assert_not_on_loop(what: &str) {
    let on_loop = crate::runtime::context::with_core(|c| c.is_some());
    assert!(
        !on_loop,
        "{what} would block the event loop running on this thread; use the async method"
    );
}

/// A plain thread's waker: wakes set the flag and unpark the thread.
struct ThreadSignal {
    woken: AtomicBool,
    thread: std::thread::Thread,
}

impl Wake for ThreadSignal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

thread_local! {
    /// This thread's waker for blocking sends and receives, made once.
    static THREAD_WAKER: (Arc<ThreadSignal>, Waker) = {
        let signal = Arc::new(ThreadSignal {
            woken: AtomicBool::new(false),
            thread: std::thread::current(),
        });
        let waker = Waker::from(signal.clone());
        (signal, waker)
    };
}

/// Runs `attempt` on this thread until it is done or over, sleeping on
/// `wait` between tries; `more` as in [`WaitSet::done`].
fn block_on<R>(wait: &WaitSet, more: impl Fn() -> bool, mut attempt: impl FnMut() -> Attempt<R>) -> R {
    THREAD_WAKER.with(|(signal, waker)| {
        let mut place = Place::None;
        loop {
            if let Poll::Ready(r) = wait.poll_with(&mut place, waker, &more, &mut attempt) {
                return r;
            }
            // A wake meant for an earlier wait may have set the flag: that
            // costs one more look, never a missed wake.
            while !signal.woken.swap(false, Ordering::Acquire) {
                std::thread::park();
            }
        }
    })
}

impl<T> Sender<T> {
    /// Sends `item`, waiting while the channel is full.
    ///
    /// # Errors
    /// [`SendError`] with the item if the channel is closed.
    ///
    /// # Cancel safety
    /// Cancel safe: the item is sent only if the future completes (it is
    /// dropped with the future otherwise).
    pub fn send(&self, item: T) -> Send<'_, T> {
        Send {
            chan: &self.chan,
            item: Some(item),
            place: Place::None,
        }
    }

    /// Sends `item` if there is room now.
    ///
    /// # Errors
    /// [`TrySendError::Full`] or [`TrySendError::Closed`], with the item.
    pub fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        self.chan.try_push(item).map_err(|e| match e {
            Ok(t) => TrySendError::Full(t),
            Err(t) => TrySendError::Closed(t),
        })
    }

    /// Sends from a plain thread, blocking it while the channel is full.
    ///
    /// # Errors
    /// [`SendError`] with the item if the channel is closed.
    ///
    /// # Panics
    /// If called on a thread running an event loop (it would block the loop).
    pub fn send_blocking(&self, item: T) -> Result<(), SendError<T>> {
        assert_not_on_loop("Sender::send_blocking");
        let mut item = Some(item);
        block_on(
            &self.chan.senders_wait,
            || !self.chan.queue.is_full(),
            || {
                let t = item.take().expect("item present while sending");
                self.chan.push_attempt(t, &mut item)
            },
        )
    }

    /// Closes the channel for everyone: sends fail, receivers drain what is
    /// left and then get [`RecvError`].
    pub fn close(&self) {
        self.chan.close();
    }

    /// True once closed (or no receiver is left).
    pub fn is_closed(&self) -> bool {
        self.chan.queue.is_closed()
    }
}

impl<T> Receiver<T> {
    /// Receives an item, waiting while the channel is empty.
    ///
    /// # Errors
    /// [`RecvError`] once the channel is closed and drained.
    ///
    /// # Cancel safety
    /// Cancel safe: an item is only taken when the future completes.
    pub fn recv(&self) -> Recv<'_, T> {
        Recv {
            chan: &self.chan,
            place: Place::None,
        }
    }

    /// Receives an item if one is there now.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`], or [`TryRecvError::Closed`] once closed and
    /// drained.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan.try_pop()
    }

    /// Receives on a plain thread, blocking it while the channel is empty.
    ///
    /// # Errors
    /// [`RecvError`] once closed and drained.
    ///
    /// # Panics
    /// If called on a thread running an event loop (it would block the loop).
    pub fn recv_blocking(&self) -> Result<T, RecvError> {
        assert_not_on_loop("Receiver::recv_blocking");
        block_on(
            &self.chan.receivers_wait,
            || !self.chan.queue.is_empty(),
            || self.chan.pop_attempt(),
        )
    }

    /// Closes the channel for everyone (see [`Sender::close`]).
    pub fn close(&self) {
        self.chan.close();
    }

    /// Items waiting in the channel.
    pub fn len(&self) -> usize {
        self.chan.queue.len()
    }

    /// True if no item waits.
    pub fn is_empty(&self) -> bool {
        self.chan.queue.is_empty()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.senders.fetch_add(1, Ordering::Relaxed);
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.chan.receivers.fetch_add(1, Ordering::Relaxed);
        Receiver {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.chan.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.chan.close();
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if self.chan.receivers.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.chan.close();
        }
    }
}

/// The future of [`Sender::send`].
#[must_use = "futures do nothing unless awaited"]
pub struct Send<'a, T> {
    chan: &'a Chan<T>,
    /// The item until it is sent (or given back).
    item: Option<T>,
    place: Place,
}

// The item is moved in and out, never pinned.
impl<T> Unpin for Send<'_, T> {}

impl<T> Future for Send<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let (chan, item) = (this.chan, &mut this.item);
        chan.senders_wait.poll_with(
            &mut this.place,
            cx.waker(),
            || !chan.queue.is_full(),
            || {
                let t = item.take().expect("Send polled after completion");
                chan.push_attempt(t, item)
            },
        )
    }
}

impl<T> Drop for Send<'_, T> {
    fn drop(&mut self) {
        self.chan.senders_wait.leave(&mut self.place);
    }
}

/// The future of [`Receiver::recv`].
#[must_use = "futures do nothing unless awaited"]
pub struct Recv<'a, T> {
    chan: &'a Chan<T>,
    place: Place,
}

impl<T> Future for Recv<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let chan = this.chan;
        chan.receivers_wait.poll_with(
            &mut this.place,
            cx.waker(),
            || !chan.queue.is_empty(),
            || chan.pop_attempt(),
        )
    }
}

impl<T> Drop for Recv<'_, T> {
    fn drop(&mut self) {
        self.chan.receivers_wait.leave(&mut self.place);
    }
}

macro_rules! debug_impls {
    ($($t:ident),*) => {$(
        impl<T> fmt::Debug for $t<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(stringify!($t))
            }
        }
    )*};
}
debug_impls!(Sender, Receiver, SendError);

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrySendError::Full(_) => "Full(..)",
            TrySendError::Closed(_) => "Closed(..)",
        })
    }
}

error_message!(SendError<T> => "the channel is closed");

error_message!(TrySendError<T> {
    TrySendError::Full(_) => "the channel is full",
    TrySendError::Closed(_) => "the channel is closed",
});

error_message!(RecvError => "the channel is closed and empty");

error_message!(TryRecvError {
    TryRecvError::Empty => "the channel is empty",
    TryRecvError::Closed => "the channel is closed and empty",
});
