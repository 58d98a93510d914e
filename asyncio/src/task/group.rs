//! [`TaskGroup`]: structured concurrency, as `asyncio.TaskGroup`.

use std::cell::{Cell, RefCell};
use std::error::Error;
use std::fmt;
use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use pin_project_lite::pin_project;

use super::{Task, TaskError, TaskId};
use crate::runtime::context;
use crate::runtime::report::panic_message;
use crate::runtime::slab::{Key, Slab};
use crate::runtime::task::OwnedTask;

type BoxError = Box<dyn Error + Send + Sync>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Open,
    Aborting,
    Cancelled,
    Joined,
}

struct Inner {
    state: Cell<State>,
    /// Process-unique, for debug mode's task tree.
    id: u64,
    /// Live children; the slot is filled right after the child is spawned.
    children: RefCell<Slab<Option<OwnedTask>>>,
    failures: RefCell<Vec<ChildFailure>>,
    /// Everyone waiting in `join` (children may join their own group's
    /// siblings through a shared reference, so there can be several).
    joiners: RefCell<Vec<Waker>>,
}

impl Inner {
    /// Requests cancellation of every live child.
    fn cancel_children(&self) {
        let live: Vec<OwnedTask> = self.children.borrow().iter().flatten().cloned().collect();
        for t in live {
            t.cancel();
        }
    }

    /// Records a child's failure; the first one starts the abort.
    ///
    /// The siblings are cancelled by a loop callback queued behind what is
    /// already ready: children woken in the same instant as the failing one
    /// (the same timer tick, the same I/O event) still run, so their
    /// failures are reported too; every other child is cancelled before it
    /// runs again. New children are refused from the first failure on.
    fn record_failure(self: &Rc<Self>, error: ChildError) {
        let (task_id, task_name) = match crate::current_task() {
            Some(t) => (Some(t.id()), t.get_name()),
            None => (None, "<unknown task>".to_owned()),
        };
        self.failures.borrow_mut().push(ChildFailure {
            task_id,
            task_name,
            error,
        });
        if self.state.get() == State::Open {
            self.state.set(State::Aborting);
            let group = self.clone();
            match crate::try_get_running_loop() {
                Some(lp) => drop(lp.call_soon(move || group.cancel_children())),
                None => group.cancel_children(),
            }
        }
    }

    fn child_finished(&self, key: Key) {
        let child = self.children.borrow_mut().remove(key);
        drop(child);
        if self.children.borrow().len() == 0 {
            for w in std::mem::take(&mut *self.joiners.borrow_mut()) {
                w.wake();
            }
        }
    }
}

/// A group of child tasks that live and die together, as `asyncio.TaskGroup`.
///
/// ```
/// use std::time::Duration;
///
/// async fn fetch(id: u32, secs: u64) -> Result<String, std::io::Error> {
///     asyncio::sleep(Duration::from_secs(secs)).await;
///     Ok(format!("data {id}"))
/// }
///
/// asyncio::Runner::new().virtual_time(true).run(async {
///     let tg = asyncio::TaskGroup::new();
///     let a = tg.try_create_task(fetch(1, 2)).unwrap();
///     let b = tg.try_create_task(fetch(2, 1)).unwrap();
///     tg.join().await.unwrap();
///     assert_eq!(a.result().unwrap(), "data 1");
///     assert_eq!(b.result().unwrap(), "data 2");
/// });
/// ```
///
/// # Semantics
///
/// - A child *fails* when it panics, or returns `Err` if it was made with
///   [`try_create_task`](TaskGroup::try_create_task). The first failure
///   cancels every other child; [`join`](TaskGroup::join) then reports every
///   failure, each with its task's name, in a [`TaskGroupError`]. Children
///   that were woken in the same instant as the first failure still run
///   their step (so simultaneous failures are all reported); the rest are
///   cancelled before they run again.
/// - A cancelled child is not a failure (as in asyncio).
/// - Dropping the group — including leaving a scope early with `?`, or the
///   task that owns the group being cancelled — cancels every child that is
///   still running *before the drop returns*: their futures are dropped on
///   the spot, so no child outlives its group. (Dropped with no loop running
///   on the thread, e.g. after being returned out of `run`, the children are
///   cancelled at their loop's next turn instead.) The owner's own cancellation
///   is never swallowed: it is a drop, which the group cannot intercept.
/// - [`cancel`](TaskGroup::cancel) stops every child cleanly; it is not a
///   failure, and `join` then returns `Ok` unless a child had failed.
/// - Adding a child once the group is aborting, cancelled or joined is an
///   error ([`TaskGroupClosed`]).
///
/// # Why `join` and not a scope
///
/// asyncio's `async with TaskGroup()` also interrupts the body when a child
/// fails, by cancelling the task that runs it and later un-cancelling it —
/// the bookkeeping behind CPython bugs gh-116720 and gh-155433. Here the
/// owner is never cancelled by its group: a failure cancels the siblings
/// and is reported by `join`, which the owner calls when it is ready to
/// wait. If the body must stop as soon as a child fails, race it against
/// `join` (for example with `asyncio::timeout` or a select), or put the body
/// itself in the group.
///
/// Loop-bound (`!Send`).
pub struct TaskGroup {
    inner: Rc<Inner>,
}

impl Default for TaskGroup {
    fn default() -> Self {
        TaskGroup::new()
    }
}

impl TaskGroup {
    /// An empty group.
    ///
    /// ```
    /// let tg = asyncio::TaskGroup::new();
    /// assert!(tg.is_empty());
    /// ```
    pub fn new() -> Self {
        TaskGroup {
            inner: Rc::new(Inner {
                state: Cell::new(State::Open),
                id: {
                    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
                    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                },
                children: RefCell::new(Slab::default()),
                failures: RefCell::new(Vec::new()),
                joiners: RefCell::new(Vec::new()),
            }),
        }
    }

    /// Adds a child running `future`, as [`asyncio::create_task`](crate::create_task)
    /// takes it: any future; only a panic fails the group (its output,
    /// whatever it is, is the child's result). For a child whose `Err`
    /// should fail the group, as an exception does in asyncio, use
    /// [`try_create_task`](TaskGroup::try_create_task). To name the child,
    /// use [`Builder::spawn_in`](super::Builder::spawn_in).
    ///
    /// # Errors
    /// [`TaskGroupClosed`] if the group is aborting after a failure, was
    /// cancelled, or was joined.
    ///
    /// # Panics
    /// With no running event loop on the thread.
    ///
    /// ```
    /// asyncio::run(async {
    ///     let tg = asyncio::TaskGroup::new();
    ///     let t = tg.create_task(async { "plain value" }).unwrap();
    ///     tg.join().await.unwrap();
    ///     assert_eq!(t.result(), Some("plain value"));
    /// });
    /// ```
    #[track_caller]
    pub fn create_task<F>(&self, future: F) -> Result<GroupTask<F::Output>, TaskGroupClosed>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.add(future, Ok, Location::caller(), (None, None))
    }

    /// Adds a child whose `Err` output fails the group (asyncio's child
    /// raising an exception): the siblings are cancelled and
    /// [`join`](TaskGroup::join) reports the error. Its `Ok` value is the
    /// child's result.
    ///
    /// # Errors
    /// As [`create_task`](TaskGroup::create_task).
    ///
    /// # Panics
    /// With no running event loop on the thread.
    ///
    /// ```
    /// asyncio::run(async {
    ///     let tg = asyncio::TaskGroup::new();
    ///     let ok = tg.try_create_task(async { Ok::<_, std::io::Error>(1) }).unwrap();
    ///     tg.try_create_task(async { Err::<u8, _>(std::io::Error::other("bad input")) }).unwrap();
    ///     let err = tg.join().await.unwrap_err();
    ///     assert_eq!(err.failures().len(), 1);
    ///     assert_eq!(ok.result(), Some(1));
    /// });
    /// ```
    #[track_caller]
    pub fn try_create_task<F, T, E>(&self, future: F) -> Result<GroupTask<T>, TaskGroupClosed>
    where
        F: Future<Output = Result<T, E>> + 'static,
        T: 'static,
        E: Into<BoxError> + 'static,
    {
        self.add(
            future,
            |r: Result<T, E>| r.map_err(Into::into),
            Location::caller(),
            (None, None),
        )
    }

    fn add<F, T>(
        &self,
        future: F,
        convert: fn(F::Output) -> Result<T, BoxError>,
        location: &'static Location<'static>,
        (name, eager): (Option<Box<str>>, Option<bool>),
    ) -> Result<GroupTask<T>, TaskGroupClosed>
    where
        F: Future + 'static,
        T: 'static,
    {
        match self.inner.state.get() {
            State::Open => {}
            State::Aborting => {
                return Err(TaskGroupClosed {
                    reason: "it is aborting after a failure",
                })
            }
            State::Cancelled => {
                return Err(TaskGroupClosed {
                    reason: "it was cancelled",
                })
            }
            State::Joined => {
                return Err(TaskGroupClosed {
                    reason: "it was already joined",
                })
            }
        }
        let key = self.inner.children.borrow_mut().insert(None);
        let child = Child {
            future,
            convert,
            guard: ChildGuard {
                group: self.inner.clone(),
                key,
            },
        };
        let group = self.inner.id;
        let handle = context::expect_core("TaskGroup::create_task", |core| {
            crate::runtime::debug::in_group(group, || core.spawn_task_with(child, location, name, eager))
        });
        let task = Task::from_handle(handle);
        if let Some(slot) = self.inner.children.borrow_mut().get_mut(key) {
            *slot = Some(task.task_ref_owned());
        }
        Ok(GroupTask { task })
    }

    /// Waits for every child to finish. `Ok` if none failed; otherwise every
    /// failure, in the order they happened.
    ///
    /// It takes `&self`, as `async with` lets any holder of the group add
    /// children while its owner waits: a group shared through an `Rc` can
    /// be joined while its children still add siblings. It closes once it
    /// is empty; later additions are refused. With several joiners, the
    /// first one to return gets the failures.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the wait leaves the group as it was (dropping
    /// the *group* cancels the children).
    ///
    /// ```
    /// asyncio::run(async {
    ///     let tg = asyncio::TaskGroup::new();
    ///     tg.create_task(async { panic!("child panicked") }).unwrap();
    ///     let err = tg.join().await.unwrap_err();
    ///     assert!(err.to_string().contains("child panicked"));
    /// });
    /// ```
    pub async fn join(&self) -> Result<(), TaskGroupError> {
        poll_fn(|cx| {
            if self.inner.children.borrow().len() > 0 {
                let mut joiners = self.inner.joiners.borrow_mut();
                if !joiners.iter().any(|w| w.will_wake(cx.waker())) {
                    joiners.push(cx.waker().clone());
                }
                return Poll::Pending;
            }
            Poll::Ready(())
        })
        .await;
        self.inner.state.set(State::Joined);
        let failures = std::mem::take(&mut *self.inner.failures.borrow_mut());
        if failures.is_empty() {
            Ok(())
        } else {
            Err(TaskGroupError { failures })
        }
    }

    /// Cancels every child; not a failure. New children are refused from
    /// now on.
    ///
    /// ```
    /// use std::time::Duration;
    /// asyncio::run(async {
    ///     let tg = asyncio::TaskGroup::new();
    ///     let t = tg.create_task(asyncio::sleep(Duration::from_secs(3600))).unwrap();
    ///     tg.cancel();
    ///     assert!(tg.join().await.is_ok());
    ///     assert!(t.cancelled());
    /// });
    /// ```
    pub fn cancel(&self) {
        if self.inner.state.get() == State::Open {
            self.inner.state.set(State::Cancelled);
        }
        self.inner.cancel_children();
    }

    /// How many children are still running.
    ///
    /// ```
    /// asyncio::run(async {
    ///     let tg = asyncio::TaskGroup::new();
    ///     tg.create_task(async {}).unwrap();
    ///     assert_eq!(tg.len(), 1);
    ///     tg.join().await.unwrap();
    ///     assert_eq!(tg.len(), 0);
    /// });
    /// ```
    pub fn len(&self) -> usize {
        self.inner.children.borrow().len()
    }

    /// True if no child is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for TaskGroup {
    fn drop(&mut self) {
        if self.inner.state.get() == State::Open {
            self.inner.state.set(State::Cancelled);
        }
        let live: Vec<OwnedTask> = self.inner.children.borrow().iter().flatten().cloned().collect();
        for t in live {
            t.cancel_now();
        }
    }
}

impl fmt::Debug for TaskGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("state", &self.inner.state.get())
            .field("children", &self.len())
            .field("failures", &self.inner.failures.borrow().len())
            .finish()
    }
}

/// Tells the group when its child ends, however it ends (completes, fails,
/// is cancelled or panics): it is dropped with the child's future.
struct ChildGuard {
    group: Rc<Inner>,
    key: Key,
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.group.child_finished(self.key);
    }
}

pin_project! {
    /// A child's future, reporting failures to its group.
    struct Child<F: Future, T> {
        #[pin]
        future: F,
        convert: fn(F::Output) -> Result<T, BoxError>,
        guard: ChildGuard,
    }
}

impl<F: Future, T> Future for Child<F, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.project();
        match catch_unwind(AssertUnwindSafe(|| this.future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => match (this.convert)(out) {
                Ok(v) => Poll::Ready(Some(v)),
                Err(e) => {
                    this.guard.group.record_failure(ChildError::Error(e));
                    Poll::Ready(None)
                }
            },
            Err(payload) => {
                this.guard
                    .group
                    .record_failure(ChildError::Panic(panic_message(&*payload)));
                resume_unwind(payload)
            }
        }
    }
}

/// A child of a [`TaskGroup`]: awaiting it gives `Some(value)` if it
/// succeeded, `None` if it failed or was cancelled (the group's
/// [`join`](TaskGroup::join) says why). Dropping it is fine: the group owns
/// the child either way.
///
/// ```
/// asyncio::run(async {
///     let tg = asyncio::TaskGroup::new();
///     let child = tg.create_task(async { 7 }).unwrap();
///     assert!(child.get_name().starts_with("Task-"));
///     tg.join().await.unwrap();
///     assert!(child.done() && !child.cancelled());
///     assert_eq!(child.result(), Some(7));
/// });
/// ```
pub struct GroupTask<T> {
    task: Task<Option<T>>,
}

impl<T> GroupTask<T> {
    /// The value if the child finished successfully, without waiting
    /// (`task.result()` after the `async with` block).
    pub fn result(mut self) -> Option<T> {
        match Pin::new(&mut self.task).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(v)) => v,
            _ => None,
        }
    }

    /// The child's id.
    pub fn id(&self) -> TaskId {
        self.task.id()
    }

    /// The child's name.
    pub fn get_name(&self) -> String {
        self.task.get_name()
    }

    /// True once it finished.
    pub fn done(&self) -> bool {
        self.task.done()
    }

    /// True if it finished by cancellation.
    pub fn cancelled(&self) -> bool {
        self.task.cancelled()
    }

    /// Cancels this child alone; not a failure of the group.
    ///
    /// ```
    /// use std::time::Duration;
    /// asyncio::run(async {
    ///     let tg = asyncio::TaskGroup::new();
    ///     let child = tg.create_task(asyncio::sleep(Duration::from_secs(3600))).unwrap();
    ///     assert!(child.cancel());
    ///     assert!(tg.join().await.is_ok());
    /// });
    /// ```
    pub fn cancel(&self) -> bool {
        self.task.cancel()
    }
}

impl<T> Future for GroupTask<T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        Pin::new(&mut self.get_mut().task)
            .poll(cx)
            .map(|r: Result<Option<T>, TaskError>| r.ok().flatten())
    }
}

impl<T> fmt::Debug for GroupTask<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.task.fmt(f)
    }
}

/// Why a child failed; see [`TaskGroupError`] for an example.
#[derive(Debug)]
pub enum ChildError {
    /// It returned this error.
    Error(BoxError),
    /// It panicked with this message.
    Panic(String),
}

impl fmt::Display for ChildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChildError::Error(e) => e.fmt(f),
            ChildError::Panic(m) => write!(f, "panicked: {m}"),
        }
    }
}

/// One failed child of a group; see [`TaskGroupError`] for an example.
#[derive(Debug)]
pub struct ChildFailure {
    /// The child's id.
    pub task_id: Option<TaskId>,
    /// The child's name when it failed.
    pub task_name: String,
    /// What went wrong.
    pub error: ChildError,
}

/// Every failure of a [`TaskGroup`]'s children (asyncio's `ExceptionGroup`).
///
/// ```
/// use asyncio::task::ChildError;
/// asyncio::run(async {
///     let tg = asyncio::TaskGroup::new();
///     tg.try_create_task(async { Err::<(), _>("no disk") }).unwrap();
///     tg.create_task(async { panic!("no memory") }).unwrap();
///     let err = tg.join().await.unwrap_err();
///     for failure in err.failures() {
///         match &failure.error {
///             ChildError::Error(e) => assert_eq!(e.to_string(), "no disk"),
///             ChildError::Panic(msg) => assert_eq!(msg, "no memory"),
///         }
///         assert!(failure.task_name.starts_with("Task-"));
///     }
/// });
/// ```
#[derive(Debug)]
pub struct TaskGroupError {
    failures: Vec<ChildFailure>,
}

impl TaskGroupError {
    /// The failures, in the order they happened.
    pub fn failures(&self) -> &[ChildFailure] {
        &self.failures
    }

    /// The failures, by value.
    pub fn into_failures(self) -> Vec<ChildFailure> {
        self.failures
    }
}

impl fmt::Display for TaskGroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.failures.len();
        write!(f, "{n} task{} of the group failed", if n == 1 { "" } else { "s" })?;
        for (i, c) in self.failures.iter().enumerate() {
            write!(f, "{} {}: {}", if i == 0 { ":" } else { ";" }, c.task_name, c.error)?;
        }
        Ok(())
    }
}

impl Error for TaskGroupError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self.failures.first().map(|c| &c.error) {
            Some(ChildError::Error(e)) => Some(&**e),
            _ => None,
        }
    }
}

/// The group no longer accepts children.
///
/// ```
/// asyncio::run(async {
///     let tg = asyncio::TaskGroup::new();
///     tg.join().await.unwrap();
///     let refused = tg.create_task(async {}).unwrap_err();
///     assert!(refused.to_string().contains("already joined"));
/// });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskGroupClosed {
    reason: &'static str,
}

impl fmt::Display for TaskGroupClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot add a task to this TaskGroup: {}", self.reason)
    }
}

impl Error for TaskGroupClosed {}

/// Named children: asyncio's `tg.create_task(coro, name=...)`.
impl super::Builder {
    /// Adds `future` to `group` as [`TaskGroup::create_task`] does, with this
    /// builder's options (its name, eager start).
    ///
    /// # Errors
    /// As [`TaskGroup::create_task`].
    ///
    /// # Panics
    /// With no running event loop on the thread.
    ///
    /// ```
    /// asyncio::run(async {
    ///     let tg = asyncio::TaskGroup::new();
    ///     let t = asyncio::task::Builder::new().name("fetcher").spawn_in(&tg, async { 1 }).unwrap();
    ///     assert_eq!(t.get_name(), "fetcher");
    ///     tg.join().await.unwrap();
    /// });
    /// ```
    #[track_caller]
    pub fn spawn_in<F>(self, group: &TaskGroup, future: F) -> Result<GroupTask<F::Output>, TaskGroupClosed>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        group.add(future, Ok, Location::caller(), self.into_parts())
    }

    /// Adds `future` to `group` as [`TaskGroup::try_create_task`] does
    /// (its `Err` fails the group), with this builder's options; the name
    /// is the one its failure is reported under.
    ///
    /// # Errors
    /// As [`TaskGroup::create_task`].
    ///
    /// # Panics
    /// With no running event loop on the thread.
    #[track_caller]
    pub fn try_spawn_in<F, T, E>(self, group: &TaskGroup, future: F) -> Result<GroupTask<T>, TaskGroupClosed>
    where
        F: Future<Output = Result<T, E>> + 'static,
        T: 'static,
        E: Into<BoxError> + 'static,
    {
        let convert = |r: Result<T, E>| r.map_err(Into::into);
        group.add(future, convert, Location::caller(), self.into_parts())
    }
}
