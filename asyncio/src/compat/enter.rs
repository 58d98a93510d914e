//! [`with_tokio_context`]: a future polled on the loop's thread with the
//! background runtime's handle entered for the length of each poll
//! ([`WithTokioContext`]).
//!
//! Entering a handle is not running the runtime: it only sets tokio's
//! thread-local "current runtime" for the duration of the call, so that
//! tokio types created or polled inside register with the background
//! runtime's reactor and timer wheel, which the runtime's own thread keeps
//! driving. When the socket is ready or the timer fires, that thread wakes
//! the waker it was given, which is the asyncio task's: the loop's
//! cross-thread wake. The loop's thread never runs tokio's scheduler, never
//! waits in tokio's reactor, and is outside tokio's context between two
//! polls (the guard is dropped before `poll` returns, so the context cannot
//! leak into the next task the loop polls).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::background::handle_ref;
use crate::executor::JobError;

/// Wraps `fut` so that each of its polls runs inside the background tokio
/// runtime's context, on the loop's thread: for a future that is not `Send`
/// (so [`run_on_tokio`](super::run_on_tokio) cannot take it) but needs
/// tokio's reactor or timers, such as one that keeps a tokio socket beside
/// `Rc` state.
///
/// `fut` itself runs on the loop, as any task's code: it may hold `!Send`
/// values and borrow from the task, and CPU work in it holds the loop up.
/// The tokio types it creates register with the background runtime, whose
/// thread delivers their readiness to this task. The runtime starts on the
/// first poll if it is not running.
///
/// What still does not fit inside: `tokio::task::spawn_local` and
/// `LocalSet` panic (there is no tokio local scheduler here; use
/// [`create_task`](crate::create_task)); `block_in_place` and
/// `Handle::block_on` block the loop's thread, as any blocking call does.
///
/// Prefer [`run_on_tokio`](super::run_on_tokio) when the future is `Send`:
/// each wake-up of a `WithTokioContext` crosses from tokio's thread to the
/// loop's, while a future on the background runtime crosses once, with its
/// result.
///
/// # Panics
/// On a poll, if the background runtime could not be started or was shut
/// down (see [`handle`](super::handle) for the fallible way to ask).
///
/// # Cancel safety
/// Dropping the wrapper drops `fut` on the loop's thread, at once, as
/// dropping any future does. Tokio's types need no context to be dropped
/// (they hold their runtime's handle), so this is safe outside a poll.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use std::time::Duration;
/// use asyncio::compat::with_tokio_context;
///
/// asyncio::run(async {
///     let local = Rc::new(5); // not Send: run_on_tokio would refuse this future
///     let n = with_tokio_context(async move {
///         tokio::time::sleep(Duration::from_millis(1)).await;
///         *local + 1
///     })
///     .await;
///     assert_eq!(n, 6);
/// });
/// ```
pub fn with_tokio_context<F: Future>(fut: F) -> WithTokioContext<F> {
    WithTokioContext { fut }
}

pin_project! {
    /// A future polled inside the background tokio runtime's context: what
    /// [`with_tokio_context`] returns.
    #[must_use = "futures do nothing unless awaited"]
    pub struct WithTokioContext<F> {
        #[pin]
        fut: F,
    }
}

impl<F> WithTokioContext<F> {
    /// The wrapped future.
    pub fn into_inner(self) -> F {
        self.fut
    }
}

impl<F: Future> Future for WithTokioContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let handle = match handle_ref() {
            Ok(h) => h,
            Err(JobError::ShutDown) => panic!("with_tokio_context: the background tokio runtime was shut down"),
            Err(e) => panic!("with_tokio_context: {e}"),
        };
        let _entered = handle.enter();
        self.project().fut.poll(cx)
    }
}

impl<F> std::fmt::Debug for WithTokioContext<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithTokioContext").finish_non_exhaustive()
    }
}
