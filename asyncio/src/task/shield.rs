//! [`shield`]: await a task without letting the awaiter's cancellation
//! reach it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{Task, TaskError};

/// Awaits `task` such that cancelling (dropping) the wait leaves the task
/// running, as `asyncio.shield(task)`.
///
/// In this crate every [`Task`] handle already behaves this way — dropping
/// a handle detaches the task, it never cancels it — so `shield` documents
/// the intent and removes the `cancel` method from the handle you hold. To
/// shield a plain future, make it a task first: `shield(create_task(fut))`.
///
/// # Cancel safety
/// Cancel safe: dropping the shield leaves the task running.
///
/// ```
/// use std::time::Duration;
/// asyncio::Runner::new().virtual_time(true).run(async {
///     let job = asyncio::create_task(async { asyncio::sleep(Duration::from_secs(2)).await; "saved" });
///     let probe = job.task_ref();
///     // The outer wait gives up after 1 s; the job is not cancelled.
///     let r = asyncio::timeout(Duration::from_secs(1), asyncio::shield(job)).await;
///     assert!(r.is_err());
///     assert!(!probe.cancelled());
///     asyncio::sleep(Duration::from_secs(2)).await;
///     assert!(probe.done() && !probe.cancelled());
/// });
/// ```
pub fn shield<T>(task: Task<T>) -> Shield<T> {
    Shield { task }
}

/// The future of [`shield`].
///
/// ```
/// asyncio::run(async {
///     let s: asyncio::task::Shield<u8> = asyncio::shield(asyncio::create_task(async { 5 }));
///     assert_eq!(s.await.unwrap(), 5);
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Shield<T> {
    task: Task<T>,
}

impl<T> Shield<T> {
    /// The shielded task's handle back.
    ///
    /// ```
    /// asyncio::run(async {
    ///     let shielded = asyncio::shield(asyncio::create_task(async { 1 }));
    ///     let task = shielded.into_inner();
    ///     assert_eq!(task.await.unwrap(), 1);
    /// });
    /// ```
    pub fn into_inner(self) -> Task<T> {
        self.task
    }
}

impl<T> Future for Shield<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.get_mut().task).poll(cx)
    }
}
