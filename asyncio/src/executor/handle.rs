//! [`JobHandle`]: a submitted job's result (`concurrent.futures.Future`),
//! and the blocking helpers over many of them ([`JobHandle::as_completed`],
//! [`MapResults`]).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::JobError;
use crate::completion::Completion;
use crate::runtime::context;

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Queued,
    Running,
    Finished,
    Cancelled,
}

/// A thread-pool job's function, kept in its cell until a worker takes it,
/// so that cancelling the job drops it (and what it captured) at once.
pub(crate) type JobFn<T> = Box<dyn FnOnce() -> T + Send>;

/// A job's state beside its result: its phase and, for thread-pool jobs,
/// its function until it runs.
pub(crate) struct JobState<T> {
    pub(crate) phase: Phase,
    pub(crate) f: Option<JobFn<T>>,
}

/// The cell a job's worker completes and its handle reads.
pub(crate) type JobCell<T> = Completion<Result<T, JobError>, JobState<T>>;

/// A queued job's cell, holding `f` (thread pools) or nothing (process
/// pools, whose argument travels in the queue).
pub(crate) fn queued<T>(f: Option<JobFn<T>>) -> Arc<JobCell<T>> {
    Arc::new(Completion::new(JobState {
        phase: Phase::Queued,
        f,
    }))
}

/// Moves a queued job to running and hands out its function; `None` if it
/// was cancelled meanwhile (the worker then skips it).
pub(crate) fn claim<T>(cell: &JobCell<T>) -> Option<Option<JobFn<T>>> {
    let mut s = cell.lock();
    if s.extra.phase != Phase::Queued || s.is_done() {
        return None;
    }
    s.extra.phase = Phase::Running;
    Some(s.extra.f.take())
}

/// Publishes a job's outcome.
pub(crate) fn finish<T>(cell: &JobCell<T>, result: Result<T, JobError>) {
    let mut s = cell.lock();
    s.extra.phase = Phase::Finished;
    cell.complete_locked(s, result);
}

/// Ends a job that has not started with `err`, dropping its function after
/// the lock is released; false if it had started or ended already.
pub(crate) fn fail_queued<T>(cell: &JobCell<T>, err: JobError) -> bool {
    let mut s = cell.lock();
    if s.extra.phase != Phase::Queued || s.is_done() {
        return false;
    }
    s.extra.phase = if err.is_cancelled() {
        Phase::Cancelled
    } else {
        Phase::Finished
    };
    let f = s.extra.f.take();
    let failed = cell.complete_locked(s, Err(err));
    drop(f);
    failed
}

/// The result of a job submitted to an executor: the
/// `concurrent.futures.Future` role.
///
/// Await it on a loop, or wait for it from a plain thread with
/// [`result`](JobHandle::result). Its output is the function's return
/// value, or a [`JobError`].
///
/// A handle from `submit` does not cancel its job when dropped: the job runs
/// and its result is discarded, as in Python. The futures that
/// [`to_thread`](super::to_thread) and [`run_in_executor`](super::run_in_executor)
/// return do: dropping them (a `timeout` that expired, a cancelled task)
/// cancels the job if it has not started. A started job is never
/// interrupted: a thread cannot be stopped from outside, and a worker
/// process is left to finish (its result is discarded).
///
/// ```
/// use asyncio::executor::ThreadPoolExecutor;
/// let pool = ThreadPoolExecutor::new(2);
/// let job = pool.submit(|| 6 * 7);
/// assert_eq!(job.result().unwrap(), 42); // from a plain thread
/// ```
pub struct JobHandle<T> {
    cell: Arc<JobCell<T>>,
    cancel_on_drop: bool,
}

impl<T> JobHandle<T> {
    pub(crate) fn new(cell: Arc<JobCell<T>>, cancel_on_drop: bool) -> Self {
        JobHandle { cell, cancel_on_drop }
    }

    /// A handle already failed with `err`.
    pub(crate) fn failed(err: JobError, cancel_on_drop: bool) -> Self {
        let cell = queued(None);
        finish(&cell, Err(err));
        JobHandle::new(cell, cancel_on_drop)
    }

    /// Cancels the job if it has not started; true if it is cancelled (now
    /// or before: it then ends with [`JobError::Cancelled`]). A running or
    /// finished job is not affected.
    pub fn cancel(&self) -> bool {
        fail_queued(&self.cell, JobError::Cancelled) || self.cancelled()
    }

    /// True if the job was cancelled before it started.
    pub fn cancelled(&self) -> bool {
        self.cell.lock().extra.phase == Phase::Cancelled
    }

    /// True while a worker runs the job.
    pub fn running(&self) -> bool {
        self.cell.lock().extra.phase == Phase::Running
    }

    /// True once the job has a result (or an error).
    pub fn done(&self) -> bool {
        self.cell.is_done()
    }

    /// Blocks this thread until the job has its result.
    ///
    /// # Errors
    /// The job's [`JobError`].
    ///
    /// # Panics
    /// On a thread running an event loop (that would block the loop: await
    /// the handle instead), or if the result was taken already.
    pub fn result(self) -> Result<T, JobError> {
        self.result_timeout(None).unwrap_or_else(|_| unreachable!("no timeout"))
    }

    /// As [`result`](JobHandle::result), giving up after `timeout` (`None`:
    /// no limit); gives the handle back on timeout.
    ///
    /// # Errors
    /// `Ok(Err(_))` as `result`; `Err(self)` on timeout.
    ///
    /// # Panics
    /// As [`result`](JobHandle::result).
    pub fn result_timeout(self, timeout: Option<Duration>) -> Result<Result<T, JobError>, Self> {
        assert_off_loop("JobHandle::result");
        let deadline = timeout.map(|t| Instant::now() + t);
        match self.cell.wait_take(deadline, "JobHandle") {
            Some(r) => Ok(r),
            None => Err(self),
        }
    }

    /// Runs `f` on the thread that completes the job once it has its result
    /// (`add_done_callback`), or right away if it has one already.
    pub fn add_done_callback(&self, f: impl FnOnce() + Send + 'static) {
        self.cell.on_done(f);
    }

    /// The handles' results as their jobs finish, first finished first, each
    /// with its handle's index in `handles`, on a plain thread
    /// (`concurrent.futures.as_completed`). On a loop, use
    /// [`asyncio::as_completed`](crate::as_completed) over the handles.
    ///
    /// # Panics
    /// When iterated on a thread running an event loop.
    pub fn as_completed(handles: impl IntoIterator<Item = JobHandle<T>>) -> AsCompleted<T>
    where
        T: Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        let mut slots = Vec::new();
        for (i, h) in handles.into_iter().enumerate() {
            let tx = tx.clone();
            h.cell.on_done(move || {
                let _ = tx.send(i);
            });
            slots.push(Some(h));
        }
        AsCompleted { slots, done: rx }
    }
}

impl<T> Future for JobHandle<T> {
    type Output = Result<T, JobError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.cell.poll_take(cx, "JobHandle")
    }
}

impl<T> Drop for JobHandle<T> {
    fn drop(&mut self) {
        if self.cancel_on_drop {
            self.cancel();
        }
    }
}

impl<T> fmt::Debug for JobHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.cell.lock();
        f.debug_struct("JobHandle")
            .field("phase", &s.extra.phase)
            .field("done", &s.is_done())
            .finish()
    }
}

pub(crate) fn assert_off_loop(what: &str) {
    let on_loop = context::with_core(|c| c.is_some());
    assert!(
        !on_loop,
        "{what} would block the event loop's thread: await the job instead"
    );
}

/// Results in completion order: see [`JobHandle::as_completed`].
pub struct AsCompleted<T> {
    slots: Vec<Option<JobHandle<T>>>,
    done: mpsc::Receiver<usize>,
}

impl<T> Iterator for AsCompleted<T> {
    type Item = (usize, Result<T, JobError>);

    fn next(&mut self) -> Option<Self::Item> {
        assert_off_loop("JobHandle::as_completed");
        let i = self.done.recv().ok()?;
        let handle = self.slots[i].take().expect("each job completes once");
        Some((i, handle.result()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.slots.iter().filter(|s| s.is_some()).count();
        (left, Some(left))
    }
}

/// Results in input order, each waited for in turn: what the executors'
/// `map` returns (`Executor.map`). Every job was submitted up front, so they
/// run in parallel; only the reading is ordered. Dropping it cancels the
/// jobs not started yet, as Python's does.
///
/// # Panics
/// When iterated on a thread running an event loop (await the handles from
/// [`into_handles`](MapResults::into_handles) with
/// [`gather`](crate::gather()) instead).
pub struct MapResults<T> {
    handles: std::vec::IntoIter<JobHandle<T>>,
}

impl<T> MapResults<T> {
    pub(crate) fn new(handles: Vec<JobHandle<T>>) -> Self {
        MapResults {
            handles: handles.into_iter(),
        }
    }

    /// The jobs' handles, in input order, to await on a loop.
    pub fn into_handles(mut self) -> Vec<JobHandle<T>> {
        self.handles.by_ref().collect()
    }
}

impl<T> Drop for MapResults<T> {
    fn drop(&mut self) {
        for h in self.handles.by_ref() {
            h.cancel();
        }
    }
}

impl<T> Iterator for MapResults<T> {
    type Item = Result<T, JobError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.handles.next().map(JobHandle::result)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.handles.size_hint()
    }
}
