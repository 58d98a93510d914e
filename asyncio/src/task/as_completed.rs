//! [`as_completed`]: outputs in the order the futures finish.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::runtime::future_set::FutureSet;
use crate::time::{sleep, Sleep, TimeoutError};

/// Runs `futures` concurrently and yields each output as soon as its future
/// finishes, as `for coro in asyncio.as_completed(aws)`. An async iterator:
/// call [`next`](AsCompleted::next), or use it as a `futures_core::Stream`.
///
/// # Cancel safety
/// [`next`](AsCompleted::next) is cancel safe: an output not yet returned
/// stays in the set. Dropping the set drops the futures still in it.
///
/// ```
/// use std::time::Duration;
/// asyncio::Runner::new().virtual_time(true).run(async {
///     let mut done = asyncio::as_completed([3u64, 1, 2].map(|s| async move {
///         asyncio::sleep(Duration::from_secs(s)).await;
///         s
///     }));
///     let mut order = Vec::new();
///     while let Some(s) = done.next().await {
///         order.push(s);
///     }
///     assert_eq!(order, [1, 2, 3]);
/// });
/// ```
pub fn as_completed<I>(futures: I) -> AsCompleted<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    AsCompleted {
        set: FutureSet::new(futures),
    }
}

/// The async iterator of [`as_completed`]; also a `futures_core::Stream`.
///
/// ```
/// asyncio::run(async {
///     let mut it: asyncio::task::AsCompleted<_> = asyncio::as_completed([std::future::ready('a')]);
///     assert_eq!(it.next().await, Some('a'));
///     assert_eq!(it.next().await, None);
/// });
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct AsCompleted<F: Future> {
    set: FutureSet<F>,
}

impl<F: Future> AsCompleted<F> {
    /// The next output to finish; `None` when all are out.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn next(&mut self) -> Option<F::Output> {
        poll_fn(|cx| self.poll_next_output(cx)).await
    }

    fn poll_next_output(&mut self, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        self.set.poll_next(cx).map(|r| r.map(|(_, out)| out))
    }

    /// How many outputs are still to come.
    ///
    /// ```
    /// asyncio::run(async {
    ///     let mut it = asyncio::as_completed([std::future::ready(1), std::future::ready(2)]);
    ///     assert_eq!(it.remaining(), 2);
    ///     it.next().await;
    ///     assert_eq!(it.remaining(), 1);
    /// });
    /// ```
    pub fn remaining(&self) -> usize {
        self.set.live()
    }

    /// Bounds the whole iteration by `timeout` (asyncio's
    /// `as_completed(aws, timeout=...)`): once it passes, the iterator
    /// yields one `Err(TimeoutError)`, drops the unfinished futures and ends.
    ///
    /// ```
    /// use std::time::Duration;
    /// asyncio::Runner::new().virtual_time(true).run(async {
    ///     let mut it = asyncio::as_completed([1u64, 60].map(|s| asyncio::sleep(Duration::from_secs(s))))
    ///         .with_timeout(Duration::from_secs(5));
    ///     assert!(it.next().await.unwrap().is_ok());
    ///     assert!(it.next().await.unwrap().is_err());
    ///     assert!(it.next().await.is_none());
    /// });
    /// ```
    pub fn with_timeout(self, timeout: Duration) -> AsCompletedTimeout<F> {
        AsCompletedTimeout {
            set: Some(self.set),
            sleep: sleep(timeout),
        }
    }
}

impl<F: Future> futures_core::Stream for AsCompleted<F> {
    type Item = F::Output;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        self.get_mut().poll_next_output(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.set.live(), Some(self.set.live()))
    }
}

/// [`AsCompleted`] with a deadline; see [`AsCompleted::with_timeout`].
///
/// ```
/// use std::time::Duration;
/// asyncio::Runner::new().virtual_time(true).run(async {
///     let mut it = asyncio::as_completed([std::future::ready(1)]).with_timeout(Duration::from_secs(1));
///     assert_eq!(it.next().await, Some(Ok(1)));
///     assert!(it.next().await.is_none());
/// });
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct AsCompletedTimeout<F: Future> {
    set: Option<FutureSet<F>>,
    sleep: Sleep,
}

impl<F: Future> AsCompletedTimeout<F> {
    /// The next output, `Err(TimeoutError)` once the deadline passed, then
    /// `None`.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn next(&mut self) -> Option<Result<F::Output, TimeoutError>> {
        poll_fn(|cx| self.poll_next_item(cx)).await
    }

    fn poll_next_item(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<F::Output, TimeoutError>>> {
        let Some(set) = self.set.as_mut() else {
            return Poll::Ready(None);
        };
        if let Poll::Ready(r) = set.poll_next(cx) {
            if r.is_none() {
                self.set = None;
            }
            return Poll::Ready(r.map(|(_, out)| Ok(out)));
        }
        match self.sleep.poll_sleep(cx) {
            Poll::Ready(()) => {
                self.set = None;
                Poll::Ready(Some(Err(crate::time::timeout_error())))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<F: Future> futures_core::Stream for AsCompletedTimeout<F> {
    type Item = Result<F::Output, TimeoutError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_item(cx)
    }
}
