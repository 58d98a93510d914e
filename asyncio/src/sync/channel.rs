//! [`channel`]: a bounded multi-producer, multi-consumer channel that works
//! across threads and loops.
//!
//! The loop-bound primitives of this module cost no atomics because they
//! never leave their loop. This channel is the way across: `Send + Sync`,
//! usable from async code on any loop and from plain threads
//! ([`Sender::send_blocking`], [`Receiver::recv_blocking`]). A send from
//! another thread wakes the receiving loop through its cross-thread queue.
//!
//! The queue itself is `async-channel`'s lock-free one (smol-rs), wrapped in
//! this crate's vocabulary and error types; a first version of our own, one
//! mutex for both ends, measured 2–4× slower across threads.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

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
    let (tx, rx) = async_channel::bounded(cap);
    (Sender { inner: tx }, Receiver { inner: rx })
}

/// The sending half of a [`channel`].
pub struct Sender<T> {
    inner: async_channel::Sender<T>,
}

/// The receiving half of a [`channel`].
pub struct Receiver<T> {
    inner: async_channel::Receiver<T>,
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
            inner: self.inner.send(item),
        }
    }

    /// Sends `item` if there is room now.
    ///
    /// # Errors
    /// [`TrySendError::Full`] or [`TrySendError::Closed`], with the item.
    pub fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        self.inner.try_send(item).map_err(|e| match e {
            async_channel::TrySendError::Full(t) => TrySendError::Full(t),
            async_channel::TrySendError::Closed(t) => TrySendError::Closed(t),
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
        self.inner.send_blocking(item).map_err(|e| SendError(e.0))
    }

    /// Closes the channel for everyone: sends fail, receivers drain what is
    /// left and then get [`RecvError`].
    pub fn close(&self) {
        self.inner.close();
    }

    /// True once closed (or no receiver is left).
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
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
            inner: self.inner.recv(),
        }
    }

    /// Receives an item if one is there now.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`], or [`TryRecvError::Closed`] once closed and
    /// drained.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.inner.try_recv().map_err(|e| match e {
            async_channel::TryRecvError::Empty => TryRecvError::Empty,
            async_channel::TryRecvError::Closed => TryRecvError::Closed,
        })
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
        self.inner.recv_blocking().map_err(|_| RecvError)
    }

    /// Closes the channel for everyone (see [`Sender::close`]).
    pub fn close(&self) {
        self.inner.close();
    }

    /// Items waiting in the channel.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// True if no item waits.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        Receiver {
            inner: self.inner.clone(),
        }
    }
}

pin_project! {
    /// The future of [`Sender::send`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct Send<'a, T> {
        #[pin]
        inner: async_channel::Send<'a, T>,
    }
}

impl<T> Future for Send<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx).map(|r| r.map_err(|e| SendError(e.0)))
    }
}

pin_project! {
    /// The future of [`Receiver::recv`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct Recv<'a, T> {
        #[pin]
        inner: async_channel::Recv<'a, T>,
    }
}

impl<T> Future for Recv<'_, T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx).map(|r| r.map_err(|_| RecvError))
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
