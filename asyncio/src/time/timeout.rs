//! [`timeout`] and [`timeout_at`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use super::{sleep, sleep_until, Instant, Sleep};

/// The deadline of a [`timeout`] passed before its future finished
/// (asyncio's `TimeoutError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeoutError(());

error_message!(TimeoutError => "deadline has elapsed");

/// A `TimeoutError`, for the crate's other deadline-bound operations.
pub(crate) fn timeout_error() -> TimeoutError {
    TimeoutError(())
}

/// Runs `future` for at most `duration`, as `asyncio.wait_for` /
/// `async with asyncio.timeout(...)`.
///
/// On expiry the inner future is dropped (its destructors run) and the
/// result is `Err(TimeoutError)`. The future is polled before the timer, so a
/// future that is ready exactly at the deadline wins.
///
/// # Cancel safety
/// As cancel safe as `future`: dropping the timeout drops it.
///
/// ```
/// use std::time::Duration;
/// asyncio::Runner::new().virtual_time(true).run(async {
///     let slow = asyncio::sleep(Duration::from_secs(10));
///     assert!(asyncio::timeout(Duration::from_secs(1), slow).await.is_err());
///     let fast = async { 5 };
///     assert_eq!(asyncio::timeout(Duration::from_secs(1), fast).await, Ok(5));
/// });
/// ```
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: sleep(duration).no_zero_yield(),
    }
}

/// Runs `future` until `deadline` at most; see [`timeout`].
///
/// # Cancel safety
/// As cancel safe as `future`.
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout {
        future,
        sleep: sleep_until(deadline),
    }
}

pin_project! {
    /// The future of [`timeout`] and [`timeout_at`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless awaited"]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        sleep: Sleep,
    }
}

impl<F> Timeout<F> {
    /// The inner future.
    pub fn get_ref(&self) -> &F {
        &self.future
    }

    /// Moves the deadline.
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        self.project().sleep.reset(deadline);
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, TimeoutError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(v) = this.future.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match this.sleep.poll_sleep(cx) {
            Poll::Ready(()) => Poll::Ready(Err(TimeoutError(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}
