//! A one-value channel across threads and loops: the way a thread hands a
//! single result to a task (`concurrent.futures.Future`'s role).
//!
//! ```
//! asyncio::run(async {
//!     let (tx, rx) = asyncio::sync::oneshot::channel();
//!     std::thread::spawn(move || tx.send(6 * 7).unwrap());
//!     assert_eq!(rx.await, Ok(42));
//! });
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

pub use super::channel::RecvError;

struct State<T> {
    value: Option<T>,
    sender_gone: bool,
    receiver_gone: bool,
    waker: Option<Waker>,
}

struct Inner<T> {
    state: Mutex<State<T>>,
    cv: Condvar,
}

impl<T> Inner<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A new one-value channel.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Arc::new(Inner {
        state: Mutex::new(State {
            value: None,
            sender_gone: false,
            receiver_gone: false,
            waker: None,
        }),
        cv: Condvar::new(),
    });
    (
        Sender {
            inner: Some(inner.clone()),
        },
        Receiver { inner },
    )
}

/// Sends the one value.
pub struct Sender<T> {
    inner: Option<Arc<Inner<T>>>,
}

impl<T> Sender<T> {
    /// Sends `value` and wakes the receiver, wherever it waits.
    ///
    /// # Errors
    /// The value back if the receiver is gone.
    pub fn send(mut self, value: T) -> Result<(), T> {
        let inner = self.inner.take().expect("sender used once");
        let waker = {
            let mut s = inner.lock();
            if s.receiver_gone {
                return Err(value);
            }
            s.value = Some(value);
            s.sender_gone = true;
            s.waker.take()
        };
        inner.cv.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// True if the receiver is gone (sending would fail).
    pub fn is_closed(&self) -> bool {
        self.inner.as_ref().is_none_or(|i| i.lock().receiver_gone)
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            let waker = {
                let mut s = inner.lock();
                s.sender_gone = true;
                s.waker.take()
            };
            inner.cv.notify_all();
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}

/// Receives the one value: await it, or [`recv_blocking`](Self::recv_blocking).
pub struct Receiver<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Receiver<T> {
    /// The value if it was sent already.
    ///
    /// # Errors
    /// `Ok(None)` while not sent; [`RecvError`] if the sender is gone without
    /// sending.
    pub fn try_recv(&mut self) -> Result<Option<T>, RecvError> {
        let mut s = self.inner.lock();
        match s.value.take() {
            Some(v) => Ok(Some(v)),
            None if s.sender_gone => Err(RecvError),
            None => Ok(None),
        }
    }

    /// Waits on a plain thread for the value.
    ///
    /// # Errors
    /// [`RecvError`] if the sender is gone without sending.
    ///
    /// # Panics
    /// If called on a thread running an event loop (it would block the loop).
    pub fn recv_blocking(self) -> Result<T, RecvError> {
        let on_loop = crate::runtime::context::with_core(|c| c.is_some());
        assert!(
            !on_loop,
            "oneshot::Receiver::recv_blocking would block the event loop; await the receiver"
        );
        let mut s = self.inner.lock();
        loop {
            if let Some(v) = s.value.take() {
                return Ok(v);
            }
            if s.sender_gone {
                return Err(RecvError);
            }
            s = self.inner.cv.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    /// # Cancel safety
    /// Cancel safe: a value not yet taken stays for the next poll.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.inner.lock();
        if let Some(v) = s.value.take() {
            return Poll::Ready(Ok(v));
        }
        if s.sender_gone {
            return Poll::Ready(Err(RecvError));
        }
        match &s.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => s.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut s = self.inner.lock();
        s.receiver_gone = true;
        s.waker = None;
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("oneshot::Sender")
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("oneshot::Receiver")
    }
}
