//! Tasks: futures scheduled on the event loop.
//!
//! [`create_task`] is `asyncio.create_task`: it schedules a future to run
//! concurrently and returns a [`Task`], itself a future of the output.
//!
//! ```
//! use std::time::Duration;
//!
//! async fn fetch_data(id: u32, delay: Duration) -> u32 {
//!     asyncio::sleep(delay).await;
//!     id
//! }
//!
//! asyncio::Runner::new().virtual_time(true).run(async {
//!     let t1 = asyncio::create_task(fetch_data(1, Duration::from_secs(1)));
//!     let t2 = asyncio::create_task(fetch_data(2, Duration::from_secs(2)));
//!     assert_eq!((t1.await.unwrap(), t2.await.unwrap()), (1, 2));
//! });
//! ```
//!
//! Awaiting many at once: [`gather!`](crate::gather!) /
//! [`gather()`], [`try_gather!`](crate::try_gather!) / [`try_gather()`],
//! [`as_completed`], [`wait`], [`shield`], and structured concurrency with
//! [`TaskGroup`].
//!
//! Differences from asyncio, each deliberate:
//! - Dropping a [`Task`] *detaches* it: the loop keeps running it to the
//!   end (asyncio only holds tasks weakly, so an unreferenced task can vanish
//!   mid-flight). Call [`Task::cancel`] to stop it.
//! - Cancellation drops the task's future at the loop's next turn, so its
//!   destructors run; awaiting it then gives a cancelled [`TaskError`]. A
//!   future cannot catch its own cancellation (no `except CancelledError`);
//!   cleanup belongs in `Drop`.
//! - A panic is caught at the task boundary and delivered to the awaiter as a
//!   [`TaskError`]; it never unwinds through the loop or other tasks.

mod as_completed;
mod builder;
mod gather;
mod group;
mod shield;
mod wait;
mod yield_now;

pub use crate::runtime::task::{LocalBoxFuture, TaskError, TaskId};
pub use as_completed::{as_completed, AsCompleted, AsCompletedTimeout};
pub use builder::Builder;
pub use gather::{gather, try_gather, Gather, TryFuture, TryGather};
#[doc(hidden)]
pub use gather::{GatherTuple, MaybeDone, TryGatherTuple};
pub use group::{ChildError, ChildFailure, GroupTask, TaskGroup, TaskGroupClosed, TaskGroupError};
pub use shield::{shield, Shield};
pub use wait::{wait, ReturnWhen, Wait};
pub use yield_now::{yield_now, YieldNow};

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::runtime::context;
use crate::runtime::task::{JoinHandle, OwnedTask};

/// Schedules `future` on the running loop and returns its [`Task`].
///
/// The task starts with a copy of the current [context](crate::context),
/// at the loop's next turn, after the tasks already ready (FIFO), not inside
/// this call; on a loop with [eager tasks](crate::Runner::eager_tasks) its
/// first poll runs inside this call.
///
/// # Panics
/// If no event loop is running on this thread.
///
/// # Examples
///
/// ```
/// asyncio::run(async {
///     let task = asyncio::create_task(async { 6 * 7 });
///     assert_eq!(task.await.unwrap(), 42);
/// });
/// ```
#[track_caller]
pub fn create_task<F>(future: F) -> Task<F::Output>
where
    F: Future + 'static,
{
    let location = Location::caller();
    context::expect_core("asyncio::create_task", |core| {
        Task::from_handle(core.spawn_task(future, location, None))
    })
}

/// A scheduled future: awaiting it gives the output, or a [`TaskError`] if the
/// task panicked or was cancelled.
///
/// `Task` is loop-bound (`!Send`): it is used on the loop's thread. Dropping
/// it detaches the task, which runs on. See the [module docs](self).
#[must_use = "a Task runs on when dropped; await it, or call .cancel() to stop it"]
pub struct Task<T> {
    handle: JoinHandle<T>,
}

impl<T> Task<T> {
    pub(crate) fn from_handle(handle: JoinHandle<T>) -> Self {
        Task { handle }
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.handle.task().id()
    }

    /// The task's name: the one given through [`Builder::name`] or
    /// [`Task::set_name`], otherwise `Task-<id>`.
    pub fn get_name(&self) -> String {
        self.handle.task().name()
    }

    /// Renames the task.
    pub fn set_name(&self, name: impl Into<String>) {
        self.handle.task().set_name(name.into());
    }

    /// Requests cancellation: the loop drops the task's future at its next
    /// turn. Returns false if the task already finished (as asyncio's
    /// `Task.cancel`). A task cancelled while it runs ends cancelled even if
    /// it returns before its next await.
    pub fn cancel(&self) -> bool {
        self.handle.task().cancel()
    }

    /// Cancels at once when possible: on the task's loop, for a task not
    /// being polled, its future is dropped before this returns.
    pub(crate) fn cancel_now(&self) -> bool {
        self.handle.task().cancel_now()
    }

    /// True once the task finished: returned, panicked or was cancelled.
    pub fn done(&self) -> bool {
        self.handle.task().done()
    }

    /// True if the task finished by cancellation.
    pub fn cancelled(&self) -> bool {
        self.handle.task().cancelled()
    }

    /// An untyped reference to this task.
    pub fn task_ref(&self) -> TaskRef {
        TaskRef {
            task: self.handle.task().clone(),
        }
    }

    /// A counted untyped reference, for the engine's watchers.
    pub(crate) fn task_ref_owned(&self) -> OwnedTask {
        self.handle.task().clone()
    }

    /// True if the task finished by panicking.
    pub(crate) fn panicked(&self) -> bool {
        self.handle.task().panicked()
    }
}

impl<T> Future for Task<T> {
    type Output = Result<T, TaskError>;

    /// # Panics
    /// If polled again after it returned `Ready`.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().handle.poll_join(cx)
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_task(self.handle.task(), f)
    }
}

fn fmt_task(t: &OwnedTask, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let state = if t.cancelled() {
        "cancelled"
    } else if t.done() {
        "finished"
    } else if t.cancelling() {
        "cancelling"
    } else {
        "pending"
    };
    write!(
        f,
        "<Task {} name={:?} {} created at {}>",
        state,
        t.name(),
        t.id(),
        t.location()
    )
}

/// An untyped reference to a task, as returned by [`current_task`] and
/// [`all_tasks`]: it can name, inspect and cancel the task, not read its
/// output. Loop-bound, cheap to clone.
#[derive(Clone)]
pub struct TaskRef {
    task: OwnedTask,
}

impl TaskRef {
    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.task.id()
    }

    /// The task's name.
    pub fn get_name(&self) -> String {
        self.task.name()
    }

    /// Renames the task.
    pub fn set_name(&self, name: impl Into<String>) {
        self.task.set_name(name.into());
    }

    /// Requests cancellation; see [`Task::cancel`].
    pub fn cancel(&self) -> bool {
        self.task.cancel()
    }

    /// True once the task finished.
    pub fn done(&self) -> bool {
        self.task.done()
    }

    /// True if the task finished by cancellation.
    pub fn cancelled(&self) -> bool {
        self.task.cancelled()
    }

    /// True if cancellation was requested and the task has not finished yet.
    pub fn cancelling(&self) -> bool {
        self.task.cancelling()
    }

    /// Where the task was created (`create_task`'s caller).
    pub fn location(&self) -> &'static Location<'static> {
        self.task.location()
    }
}

impl PartialEq for TaskRef {
    fn eq(&self, other: &Self) -> bool {
        self.task.raw() == other.task.raw()
    }
}

impl Eq for TaskRef {}

impl fmt::Debug for TaskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_task(&self.task, f)
    }
}

/// The task being run, as `asyncio.current_task()`; `None` outside a task
/// (in a `call_soon` callback, or with no running loop).
///
/// ```
/// asyncio::run(async {
///     let me = asyncio::current_task().unwrap();
///     assert_eq!(me.get_name(), format!("Task-{}", me.id()));
/// });
/// ```
pub fn current_task() -> Option<TaskRef> {
    context::with_core(|core| {
        core?.current_task().map(|raw| TaskRef {
            task: OwnedTask::new_ref(raw),
        })
    })
}

/// Every task of the running loop that has not finished, oldest first, as
/// `asyncio.all_tasks()`. Empty with no running loop.
pub fn all_tasks() -> Vec<TaskRef> {
    context::with_core(|core| match core {
        Some(core) => core
            .all_tasks()
            .into_iter()
            .map(|raw| TaskRef {
                task: OwnedTask::new_ref(raw),
            })
            .collect(),
        None => Vec::new(),
    })
}
