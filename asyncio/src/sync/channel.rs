//! [`channel`]: a bounded multi-producer, multi-consumer channel that works
//! across threads and loops.
//!
//! The loop-bound primitives of this module cost no atomics because they
//! never leave their loop. This channel is the way across: `Send + Sync`,
//! usable from async code on any loop and from plain threads
//! ([`Sender::send_blocking`], [`Receiver::recv_blocking`]). A send from
//! another thread wakes the receiving loop through its cross-thread queue.
//!
//! One mutex guards the state; wakers are woken after it is released.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

struct Waiters {
    next_id: u64,
    list: VecDeque<(u64, Waker)>,
}

impl Waiters {
    fn new() -> Self {
        Waiters {
            next_id: 0,
            list: VecDeque::new(),
        }
    }

    /// Adds or refreshes waiter `id`; returns its id.
    fn register(&mut self, id: Option<u64>, waker: &Waker) -> u64 {
        if let Some(id) = id {
            if let Some(entry) = self.list.iter_mut().find(|(i, _)| *i == id) {
                if !entry.1.will_wake(waker) {
                    entry.1 = waker.clone();
                }
                return id;
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        self.list.push_back((id, waker.clone()));
        id
    }

    fn remove(&mut self, id: u64) {
        self.list.retain(|(i, _)| *i != id);
    }

    fn take_one(&mut self, out: &mut Vec<Waker>) {
        out.extend(self.list.pop_front().map(|(_, w)| w));
    }

    fn take_all(&mut self, out: &mut Vec<Waker>) {
        out.extend(self.list.drain(..).map(|(_, w)| w));
    }
}

struct State<T> {
    items: VecDeque<T>,
    cap: usize,
    senders: usize,
    receivers: usize,
    closed: bool,
    recv_waiters: Waiters,
    send_waiters: Waiters,
}

struct Chan<T> {
    state: Mutex<State<T>>,
    /// For the blocking calls of plain threads.
    cv: Condvar,
}

impl<T> Chan<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake(&self, wakers: Vec<Waker>) {
        self.cv.notify_all();
        for w in wakers {
            w.wake();
        }
    }
}

/// A bounded channel for `cap` items (`cap` ≥ 1): [`Sender`]s wait while it
/// is full, [`Receiver`]s while it is empty. Both ends are `Clone + Send +
/// Sync`. The channel closes when every sender or every receiver is gone, or
/// on [`Sender::close`]; receivers still get the items already sent.
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
        state: Mutex::new(State {
            items: VecDeque::with_capacity(cap.min(1024)),
            cap,
            senders: 1,
            receivers: 1,
            closed: false,
            recv_waiters: Waiters::new(),
            send_waiters: Waiters::new(),
        }),
        cv: Condvar::new(),
    });
    (Sender { chan: chan.clone() }, Receiver { chan })
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
            id: None,
        }
    }

    /// Sends `item` if there is room now.
    ///
    /// # Errors
    /// [`TrySendError::Full`] or [`TrySendError::Closed`], with the item.
    pub fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        let mut wakers = Vec::new();
        let r = {
            let mut s = self.chan.lock();
            if s.closed || s.receivers == 0 {
                Err(TrySendError::Closed(item))
            } else if s.items.len() >= s.cap {
                Err(TrySendError::Full(item))
            } else {
                s.items.push_back(item);
                s.recv_waiters.take_one(&mut wakers);
                Ok(())
            }
        };
        self.chan.wake(wakers);
        r
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
        let mut s = self.chan.lock();
        loop {
            if s.closed || s.receivers == 0 {
                return Err(SendError(item));
            }
            if s.items.len() < s.cap {
                s.items.push_back(item);
                let mut wakers = Vec::new();
                s.recv_waiters.take_one(&mut wakers);
                drop(s);
                self.chan.wake(wakers);
                return Ok(());
            }
            s = self.chan.cv.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Closes the channel for everyone: sends fail, receivers drain what is
    /// left and then get [`RecvError`].
    pub fn close(&self) {
        close(&self.chan);
    }

    /// True once closed (or no receiver is left).
    pub fn is_closed(&self) -> bool {
        let s = self.chan.lock();
        s.closed || s.receivers == 0
    }
}

fn close<T>(chan: &Chan<T>) {
    let mut wakers = Vec::new();
    {
        let mut s = chan.lock();
        s.closed = true;
        s.recv_waiters.take_all(&mut wakers);
        s.send_waiters.take_all(&mut wakers);
    }
    chan.wake(wakers);
}

fn assert_not_on_loop(what: &str) {
    let on_loop = crate::runtime::context::with_core(|c| c.is_some());
    assert!(
        !on_loop,
        "{what} would block the event loop running on this thread; use the async method"
    );
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
            id: None,
        }
    }

    /// Receives an item if one is there now.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`], or [`TryRecvError::Closed`] once closed and
    /// drained.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut wakers = Vec::new();
        let r = {
            let mut s = self.chan.lock();
            match s.items.pop_front() {
                Some(item) => {
                    s.send_waiters.take_one(&mut wakers);
                    Ok(item)
                }
                None if s.closed || s.senders == 0 => Err(TryRecvError::Closed),
                None => Err(TryRecvError::Empty),
            }
        };
        self.chan.wake(wakers);
        r
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
        let mut s = self.chan.lock();
        loop {
            if let Some(item) = s.items.pop_front() {
                let mut wakers = Vec::new();
                s.send_waiters.take_one(&mut wakers);
                drop(s);
                self.chan.wake(wakers);
                return Ok(item);
            }
            if s.closed || s.senders == 0 {
                return Err(RecvError);
            }
            s = self.chan.cv.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Closes the channel for everyone (see [`Sender::close`]).
    pub fn close(&self) {
        close(&self.chan);
    }

    /// Items waiting in the channel.
    pub fn len(&self) -> usize {
        self.chan.lock().items.len()
    }

    /// True if no item waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.lock().senders += 1;
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.chan.lock().receivers += 1;
        Receiver {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut wakers = Vec::new();
        {
            let mut s = self.chan.lock();
            s.senders -= 1;
            if s.senders == 0 {
                s.recv_waiters.take_all(&mut wakers);
            }
        }
        self.chan.wake(wakers);
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut wakers = Vec::new();
        {
            let mut s = self.chan.lock();
            s.receivers -= 1;
            if s.receivers == 0 {
                s.send_waiters.take_all(&mut wakers);
            }
        }
        self.chan.wake(wakers);
    }
}

/// The future of [`Sender::send`].
#[must_use = "futures do nothing unless awaited"]
pub struct Send<'a, T> {
    chan: &'a Chan<T>,
    item: Option<T>,
    id: Option<u64>,
}

impl<T> Unpin for Send<'_, T> {}

impl<T> Future for Send<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let chan = self.chan;
        let mut wakers = Vec::new();
        let r = {
            let mut s = chan.lock();
            let item = self.item.take().expect("Send polled after completion");
            if s.closed || s.receivers == 0 {
                Poll::Ready(Err(SendError(item)))
            } else if s.items.len() < s.cap {
                s.items.push_back(item);
                s.recv_waiters.take_one(&mut wakers);
                if let Some(id) = self.id.take() {
                    s.send_waiters.remove(id);
                }
                Poll::Ready(Ok(()))
            } else {
                self.item = Some(item);
                self.id = Some(s.send_waiters.register(self.id, cx.waker()));
                Poll::Pending
            }
        };
        chan.wake(wakers);
        r
    }
}

impl<T> Drop for Send<'_, T> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let mut wakers = Vec::new();
            {
                let mut s = self.chan.lock();
                s.send_waiters.remove(id);
                // We may have been woken for a free slot: pass it on.
                if s.items.len() < s.cap {
                    s.send_waiters.take_one(&mut wakers);
                }
            }
            self.chan.wake(wakers);
        }
    }
}

/// The future of [`Receiver::recv`].
#[must_use = "futures do nothing unless awaited"]
pub struct Recv<'a, T> {
    chan: &'a Chan<T>,
    id: Option<u64>,
}

impl<T> Future for Recv<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let chan = self.chan;
        let mut wakers = Vec::new();
        let r = {
            let mut s = chan.lock();
            match s.items.pop_front() {
                Some(item) => {
                    s.send_waiters.take_one(&mut wakers);
                    if let Some(id) = self.id.take() {
                        s.recv_waiters.remove(id);
                    }
                    Poll::Ready(Ok(item))
                }
                None if s.closed || s.senders == 0 => Poll::Ready(Err(RecvError)),
                None => {
                    self.id = Some(s.recv_waiters.register(self.id, cx.waker()));
                    Poll::Pending
                }
            }
        };
        chan.wake(wakers);
        r
    }
}

impl<T> Drop for Recv<'_, T> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let mut wakers = Vec::new();
            {
                let mut s = self.chan.lock();
                s.recv_waiters.remove(id);
                // We may have been woken for an item: pass it on.
                if !s.items.is_empty() {
                    s.recv_waiters.take_one(&mut wakers);
                }
            }
            self.chan.wake(wakers);
        }
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

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the channel is closed")
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrySendError::Full(_) => "the channel is full",
            TrySendError::Closed(_) => "the channel is closed",
        })
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the channel is closed and empty")
    }
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryRecvError::Empty => "the channel is empty",
            TryRecvError::Closed => "the channel is closed and empty",
        })
    }
}

impl<T> std::error::Error for SendError<T> {}
impl<T> std::error::Error for TrySendError<T> {}
impl std::error::Error for RecvError {}
impl std::error::Error for TryRecvError {}
