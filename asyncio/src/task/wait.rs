//! [`wait`]: wait for some or all of a set of tasks, keeping the handles.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::Task;
use crate::runtime::future_set::FutureSet;
use crate::runtime::task::OwnedTask;
use crate::time::{sleep, Sleep};

/// When [`wait`] returns.
///
/// ```
/// use std::time::Duration;
/// use asyncio::ReturnWhen;
/// asyncio::Runner::new().virtual_time(true).run(async {
///     let ok = asyncio::create_task(async { asyncio::sleep(Duration::from_secs(5)).await });
///     let bad = asyncio::create_task(async { asyncio::sleep(Duration::from_secs(1)).await; panic!("oops") });
///     let (done, pending) = asyncio::wait([ok, bad], ReturnWhen::FirstException).await;
///     assert_eq!((done.len(), pending.len()), (1, 1));
/// });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReturnWhen {
    /// As soon as any task finishes.
    FirstCompleted,
    /// As soon as any task panics; otherwise when all have finished.
    /// (A cancelled task is not an exception, as in asyncio; a task that
    /// returned `Err` returned a value.)
    FirstException,
    /// When every task has finished.
    AllCompleted,
}

/// Waits for the tasks until `return_when` holds and returns `(done,
/// pending)`, both in input order (`asyncio.wait`). Nothing is cancelled:
/// the pending tasks keep running and can be awaited or waited on again.
/// Add a time limit with [`Wait::timeout`].
///
/// # Cancel safety
/// Dropping the wait detaches the tasks (it owns their handles).
///
/// ```
/// use std::time::Duration;
/// use asyncio::task::ReturnWhen;
/// asyncio::Runner::new().virtual_time(true).run(async {
///     let tasks: Vec<_> = [1u64, 5].iter()
///         .map(|&s| asyncio::create_task(async move { asyncio::sleep(Duration::from_secs(s)).await; s }))
///         .collect();
///     let (done, pending) = asyncio::wait(tasks, ReturnWhen::FirstCompleted).await;
///     assert_eq!((done.len(), pending.len()), (1, 1));
///     assert_eq!(done.into_iter().next().unwrap().await.unwrap(), 1);
/// });
/// ```
pub fn wait<T>(tasks: impl IntoIterator<Item = Task<T>>, return_when: ReturnWhen) -> Wait<T> {
    let tasks: Vec<Task<T>> = tasks.into_iter().collect();
    let set = FutureSet::new(tasks.iter().map(|t| Done(t.task_ref_owned())));
    Wait {
        tasks,
        set,
        return_when,
        sleep: None,
    }
}

/// Completes when its task is done; the output stays in the task.
struct Done(OwnedTask);

impl Future for Done {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.poll_done(cx)
    }
}

/// The future of [`wait`].
///
/// ```
/// asyncio::run(async {
///     let w: asyncio::task::Wait<u8> = asyncio::wait([asyncio::create_task(async { 1 })], asyncio::ReturnWhen::AllCompleted);
///     let (done, pending) = w.await;
///     assert_eq!((done.len(), pending.len()), (1, 0));
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Wait<T> {
    tasks: Vec<Task<T>>,
    set: FutureSet<Done>,
    return_when: ReturnWhen,
    sleep: Option<Sleep>,
}

impl<T> Wait<T> {
    /// Returns after `timeout` at the latest, whatever `return_when` says.
    ///
    /// ```
    /// use std::time::Duration;
    /// asyncio::Runner::new().virtual_time(true).run(async {
    ///     let slow = asyncio::create_task(asyncio::sleep(Duration::from_secs(60)));
    ///     let (done, pending) = asyncio::wait([slow], asyncio::ReturnWhen::AllCompleted)
    ///         .timeout(Duration::from_secs(1))
    ///         .await;
    ///     assert!(done.is_empty() && pending.len() == 1);
    /// });
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.sleep = Some(sleep(timeout));
        self
    }

    fn split(&mut self) -> (Vec<Task<T>>, Vec<Task<T>>) {
        std::mem::take(&mut self.tasks).into_iter().partition(|t| t.done())
    }
}

impl<T> Future for Wait<T> {
    type Output = (Vec<Task<T>>, Vec<Task<T>>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.tasks.is_empty() {
            return Poll::Ready((Vec::new(), Vec::new()));
        }
        loop {
            match this.set.poll_next(cx) {
                Poll::Ready(Some((i, ()))) => {
                    let hit = match this.return_when {
                        ReturnWhen::FirstCompleted => true,
                        ReturnWhen::FirstException => this.tasks[i].panicked(),
                        ReturnWhen::AllCompleted => false,
                    };
                    if hit {
                        return Poll::Ready(this.split());
                    }
                }
                Poll::Ready(None) => return Poll::Ready(this.split()),
                Poll::Pending => break,
            }
        }
        if let Some(s) = this.sleep.as_mut() {
            if s.poll_sleep(cx).is_ready() {
                return Poll::Ready(this.split());
            }
        }
        Poll::Pending
    }
}
