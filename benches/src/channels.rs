//! The channel adapters: the traits a workload's queue and channel ends share,
//! whatever the runtime. [`QueueTx`] and [`QueueRx`] are the async ends
//! (asyncio's `sync::Queue` in an `Rc` and `sync::channel`, tokio's
//! `sync::mpsc`, `async-channel`), [`ThreadTx`] and [`ThreadRx`] the blocking
//! ends used from a plain std thread. Method names differ from every
//! implementer's own so that the calls in a workload can only mean these;
//! each wrapper only unwraps a `put`/`send` result or turns a `get`/`recv`
//! result into an `Option`.
//!
//! The runtimes' constructors for them (`spsc_queue`, `mpmc_queue`,
//! `thread_channel`) are in [`crate::runtime`]. [`count_and_sum`] and
//! [`count_and_sum_blocking`] drain a receiving end the way the queue and
//! channel workloads check what arrived.

use std::future::Future;
use std::rc::Rc;

/// The sending side of a benchmark queue: [`Asyncio::spsc_queue`] and the
/// like return one. Method names differ from every implementer's own so
/// that the calls in a workload can only mean these.
///
/// [`Asyncio::spsc_queue`]: crate::Asyncio::spsc_queue
pub trait QueueTx<T> {
    /// Puts `item`, waiting while the queue is full.
    ///
    /// # Panics
    /// If the queue was closed (none of the workloads closes a queue that
    /// is still being put to).
    fn enqueue(&self, item: T) -> impl Future<Output = ()>;

    /// Done putting: asyncio shuts the queue down gracefully
    /// (`Queue::shutdown(false)`: getters drain what is left, then fail);
    /// a channel sender is dropped (the channel closes when its last
    /// sender goes).
    fn close_queue(self);
}

/// The receiving side of a benchmark queue.
pub trait QueueRx<T> {
    /// The next item, waiting while the queue is empty; `None` once the
    /// queue is closed and drained.
    fn dequeue(&mut self) -> impl Future<Output = Option<T>>;
}

/// The sending side of a cross-thread channel, used from a plain std thread
/// (never from a thread running a runtime): [`Asyncio::thread_channel`] and
/// the like return one. Method names differ from every implementer's own.
///
/// [`Asyncio::thread_channel`]: crate::Asyncio::thread_channel
pub trait ThreadTx<T> {
    /// Puts `item`, blocking the thread while the channel is full.
    ///
    /// # Panics
    /// If the channel was closed (none of the workloads closes a channel that
    /// is still being sent to), or, for asyncio and tokio, if called on a
    /// thread that runs their event loop.
    fn enqueue_blocking(&self, item: T);
}

/// The receiving side of a cross-thread channel, used from a plain std
/// thread.
pub trait ThreadRx<T> {
    /// The next item, blocking the thread while the channel is empty; `None`
    /// once every sender is gone and the channel is drained.
    fn dequeue_blocking(&mut self) -> Option<T>;
}

impl<T> QueueTx<T> for Rc<asyncio::sync::Queue<T>> {
    #[inline]
    async fn enqueue(&self, item: T) {
        if self.put(item).await.is_err() {
            panic!("asyncio queue shut down while putting");
        }
    }

    fn close_queue(self) {
        self.shutdown(false);
    }
}

impl<T> QueueRx<T> for Rc<asyncio::sync::Queue<T>> {
    #[inline]
    async fn dequeue(&mut self) -> Option<T> {
        self.get().await.ok()
    }
}

/// [`QueueTx`] and [`ThreadTx`] for a channel's sender `$tx`: `send` and the
/// blocking send `$send_blocking`, a failure panicking with `$closed`; closed
/// by dropping it.
macro_rules! sender {
    ($tx:ty, $send_blocking:ident, $closed:literal) => {
        impl<T> QueueTx<T> for $tx {
            #[inline]
            async fn enqueue(&self, item: T) {
                if self.send(item).await.is_err() {
                    panic!($closed);
                }
            }

            fn close_queue(self) {
                drop(self);
            }
        }

        impl<T> ThreadTx<T> for $tx {
            #[inline]
            fn enqueue_blocking(&self, item: T) {
                if self.$send_blocking(item).is_err() {
                    panic!($closed);
                }
            }
        }
    };
}

sender!(
    asyncio::sync::Sender<T>,
    send_blocking,
    "asyncio channel closed while sending"
);
sender!(
    tokio::sync::mpsc::Sender<T>,
    blocking_send,
    "tokio mpsc receiver dropped while sending"
);
sender!(
    async_channel::Sender<T>,
    send_blocking,
    "async-channel closed while sending"
);

/// [`QueueRx`] and [`ThreadRx`] for a channel's receiver `$rx` whose `recv`
/// and `recv_blocking` return a `Result` (an error once closed and drained).
macro_rules! receiver {
    ($rx:ty) => {
        impl<T> QueueRx<T> for $rx {
            #[inline]
            async fn dequeue(&mut self) -> Option<T> {
                self.recv().await.ok()
            }
        }

        impl<T> ThreadRx<T> for $rx {
            #[inline]
            fn dequeue_blocking(&mut self) -> Option<T> {
                self.recv_blocking().ok()
            }
        }
    };
}

receiver!(asyncio::sync::Receiver<T>);
receiver!(async_channel::Receiver<T>);

// tokio's receiver returns an `Option` already.
impl<T> QueueRx<T> for tokio::sync::mpsc::Receiver<T> {
    #[inline]
    fn dequeue(&mut self) -> impl Future<Output = Option<T>> {
        self.recv()
    }
}

impl<T> ThreadRx<T> for tokio::sync::mpsc::Receiver<T> {
    #[inline]
    fn dequeue_blocking(&mut self) -> Option<T> {
        self.blocking_recv()
    }
}

/// Receives from `rx` until it is closed and drained: how many items came
/// and their sum.
pub async fn count_and_sum(rx: &mut impl QueueRx<u64>) -> (u64, u64) {
    let (mut got, mut sum) = (0u64, 0u64);
    while let Some(v) = rx.dequeue().await {
        got += 1;
        sum += v;
    }
    (got, sum)
}

/// [`count_and_sum`] with the blocking receive, on a plain std thread.
pub fn count_and_sum_blocking(rx: &mut impl ThreadRx<u64>) -> (u64, u64) {
    let (mut got, mut sum) = (0u64, 0u64);
    while let Some(v) = rx.dequeue_blocking() {
        got += 1;
        sum += v;
    }
    (got, sum)
}

/// Checks that `got` items summing to `sum` are `0..n`, each once (as far as
/// a count and a sum tell).
///
/// # Panics
/// If they are not.
pub fn assert_count_and_sum(got: u64, sum: u64, n: u64) {
    assert_eq!(got, n, "items lost or duplicated");
    assert_eq!(sum, n * (n - 1) / 2, "wrong items");
}
