//! [`yield_now`]: the `await asyncio.sleep(0)` idiom.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Gives the other ready tasks a turn: the calling task goes to the back of
/// the ready queue, as `await asyncio.sleep(0)` does.
///
/// # Cancel safety
/// Cancel safe: it holds nothing.
///
/// ```
/// asyncio::run(async {
///     asyncio::yield_now().await;
/// });
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future of [`yield_now`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
