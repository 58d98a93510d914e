//! [`run_on_tokio`]: a `Send` future run as a task of the background tokio
//! runtime, its result awaited on the loop ([`OnTokio`]).
//!
//! The result comes back through tokio's own `JoinHandle`, polled on the
//! loop's thread: the tokio worker that completes the task wakes the
//! awaiting asyncio task's waker, which is the loop's cross-thread wake (the
//! same path as a `to_thread` job's completion or `call_soon_threadsafe`).
//! Polling a `JoinHandle` needs no tokio context, so the loop's thread never
//! enters tokio's runtime here. The future runs in a copy of the caller's
//! context variables, as a `to_thread` job does.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::task::{JoinError, JoinHandle};

use super::background::handle_ref;
use crate::context::copy_context;
use crate::executor::{JobError, Panicked};

/// Runs `fut` on the background tokio runtime (started on first use) and
/// returns a future of its output, to await from a task.
///
/// `fut` is spawned now, as a tokio task, and runs inside tokio's context:
/// tokio's sockets and timers, `tokio::spawn`, and the crates built on them
/// (reqwest, sqlx, tonic, ...) work there, and nowhere else on this crate's
/// loop. It runs in a copy of the caller's context variables
/// ([`copy_context`](crate::copy_context)), as a [`to_thread`](crate::to_thread) job does.
///
/// Everything `fut` owns lives and dies on tokio's threads: create the
/// client, pool or channel inside (or keep it where tokio's runtime can
/// reach it, e.g. a clone moved into each call), and bring back plain
/// data. An object that needs tokio's context to be dropped (some pools'
/// connections return themselves with `tokio::spawn` on drop) should not be
/// carried out of the future.
///
/// # Errors
/// The output is `Err` only if `fut` gave none:
/// - [`JobError::Panicked`]: `fut` panicked (the payload is kept:
///   [`JobError::into_panic`] and `std::panic::resume_unwind` re-raise it);
/// - [`JobError::Cancelled`]: the runtime dropped the task first
///   ([`shutdown`](super::shutdown) while it ran);
/// - [`JobError::ShutDown`]: [`shutdown`](super::shutdown) was called
///   before;
/// - [`JobError::WorkerStart`]: the runtime could not be started.
///
/// # Cancel safety
/// Dropping the returned future (a cancelled task, an expired `timeout`, a
/// lost race) aborts the tokio task: it is dropped at its next `.await`, on
/// tokio's thread, so whatever it holds (a request in flight, a pooled
/// connection) is released there. Unlike a [`to_thread`](crate::to_thread)
/// job, a started future *is* cancelled: it is a future, not a thread.
/// Code between two of its `.await`s still runs to the next one.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use asyncio::compat::run_on_tokio;
///
/// asyncio::run(async {
///     // tokio::time::sleep on the loop's thread would panic ("there is no
///     // reactor running"); on the background runtime it just sleeps.
///     let n = run_on_tokio(async {
///         tokio::time::sleep(Duration::from_millis(1)).await;
///         42
///     })
///     .await
///     .unwrap();
///     assert_eq!(n, 42);
/// });
/// ```
pub fn run_on_tokio<F>(fut: F) -> OnTokio<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let state = match handle_ref() {
        Ok(h) => {
            // An empty context (no variable set) needs no entering.
            let ctx = Some(copy_context()).filter(|c| !c.is_empty());
            State::Running(h.spawn(InContext { ctx, fut }))
        }
        Err(e) => State::Failed(Some(e)),
    };
    OnTokio { state }
}

pin_project! {
    /// `fut`, polled inside the context variables its caller had (if any).
    struct InContext<F> {
        ctx: Option<crate::context::Context>,
        #[pin]
        fut: F,
    }
}

impl<F: Future> Future for InContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let fut = this.fut;
        match this.ctx {
            Some(ctx) => ctx.run(|| fut.poll(cx)),
            None => fut.poll(cx),
        }
    }
}

enum State<T> {
    Running(JoinHandle<T>),
    /// Gave its output (or never started): nothing to abort.
    Done,
    /// The runtime refused the task; the error until it is read.
    Failed(Option<JobError>),
}

/// The output of a future running on the background tokio runtime, awaited
/// on the loop: what [`run_on_tokio`] returns. Dropping it before the output
/// arrives aborts the tokio task.
#[must_use = "the tokio task is aborted when this is dropped; await it"]
pub struct OnTokio<T> {
    state: State<T>,
}

impl<T> OnTokio<T> {
    /// True once the tokio task has finished (with an output or a panic),
    /// or could not start; awaiting then returns at once.
    pub fn is_finished(&self) -> bool {
        match &self.state {
            State::Running(h) => h.is_finished(),
            State::Done | State::Failed(_) => true,
        }
    }
}

/// A tokio task's failure in this crate's words.
fn job_error(e: JoinError) -> JobError {
    match e.try_into_panic() {
        Ok(payload) => JobError::Panicked(Panicked::from_payload(payload)),
        Err(_) => JobError::Cancelled,
    }
}

impl<T> Future for OnTokio<T> {
    type Output = Result<T, JobError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let out = match &mut self.state {
            State::Running(h) => match Pin::new(h).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(r) => r.map_err(job_error),
            },
            State::Failed(e) => Err(e.take().expect("OnTokio polled after it completed")),
            State::Done => panic!("OnTokio polled after it completed"),
        };
        self.state = State::Done;
        Poll::Ready(out)
    }
}

impl<T> Drop for OnTokio<T> {
    fn drop(&mut self) {
        if let State::Running(h) = &self.state {
            h.abort();
        }
    }
}

impl<T> std::fmt::Debug for OnTokio<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnTokio")
            .field("finished", &self.is_finished())
            .finish()
    }
}
