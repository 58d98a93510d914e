//! [`JobHandle`]: a submitted job's result (`concurrent.futures.Future`),
//! [`CancelOnDrop`]: the same as a future that cancels its queued job when
//! dropped, and the blocking helpers over many handles
//! ([`JobHandle::as_completed`], [`MapResults`]).

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::JobError;
use crate::completion::Completion;
pub(crate) use crate::runtime::pool::assert_off_loop;

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
/// Dropping a `JobHandle` never cancels its job, whichever call made it:
/// the job runs and its result is discarded, as in Python. For a future
/// whose drop cancels the job (a `timeout` that expired, a cancelled task),
/// turn it into a [`CancelOnDrop`] with
/// [`cancel_on_drop`](JobHandle::cancel_on_drop); that is what
/// [`to_thread`](super::to_thread) and
/// [`run_in_executor`](super::run_in_executor) return. A started job is
/// never interrupted either way: a thread cannot be stopped from outside,
/// and a worker process is left to finish (its result is discarded).
///
/// ```
/// use asyncio::executor::ThreadPoolExecutor;
/// let pool = ThreadPoolExecutor::new(2);
/// let job = pool.submit(|| 6 * 7);
/// assert_eq!(job.result().unwrap(), 42); // from a plain thread
/// ```
pub struct JobHandle<T> {
    cell: Arc<JobCell<T>>,
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

impl<T> JobHandle<T> {
    pub(crate) fn new(cell: Arc<JobCell<T>>) -> Self {
        JobHandle { cell }
    }

    /// A handle already failed with `err`.
    #[cfg(feature = "process-pool")]
    pub(crate) fn failed(err: JobError) -> Self {
        let cell = queued(None);
        finish(&cell, Err(err));
        JobHandle::new(cell)
    }

    /// This handle as a future that cancels the job if it is dropped before
    /// the job started (asyncio's `run_in_executor` future, whose
    /// cancellation cancels the `concurrent.futures.Future` it wraps).
    ///
    /// ```
    /// use asyncio::executor::ThreadPoolExecutor;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::{mpsc, Arc};
    ///
    /// let pool = ThreadPoolExecutor::new(1);
    /// let (release, gate) = mpsc::channel::<()>();
    /// let blocker = pool.submit(move || gate.recv().unwrap());
    /// let ran = Arc::new(AtomicBool::new(false));
    /// let r = ran.clone();
    /// let queued = pool.submit(move || r.store(true, Ordering::SeqCst)).cancel_on_drop();
    /// drop(queued); // still queued behind the blocker: cancelled
    /// release.send(()).unwrap();
    /// blocker.result().unwrap();
    /// pool.shutdown(true, false);
    /// assert!(!ran.load(Ordering::SeqCst));
    /// ```
    pub fn cancel_on_drop(self) -> CancelOnDrop<T> {
        CancelOnDrop { handle: Some(self) }
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

/// A job's future that cancels the job when dropped before it started: what
/// [`to_thread`](super::to_thread) and
/// [`run_in_executor`](super::run_in_executor) return, and what
/// [`JobHandle::cancel_on_drop`] makes of any handle.
///
/// It derefs to its [`JobHandle`] ([`cancel`](JobHandle::cancel),
/// [`done`](JobHandle::done), ...). A job already running when this is
/// dropped runs on, and its result is discarded. To keep the job whatever
/// happens, take the plain handle back with
/// [`into_handle`](CancelOnDrop::into_handle).
///
/// # Cancel safety
/// Dropping it cancels the job if it has not started; that is its purpose.
pub struct CancelOnDrop<T> {
    /// `Some` until `into_handle` takes it.
    handle: Option<JobHandle<T>>,
}

impl<T> CancelOnDrop<T> {
    /// The plain handle, whose drop leaves the job running.
    pub fn into_handle(mut self) -> JobHandle<T> {
        self.handle.take().expect("present until into_handle")
    }
}

impl<T> Deref for CancelOnDrop<T> {
    type Target = JobHandle<T>;

    fn deref(&self) -> &JobHandle<T> {
        self.handle.as_ref().expect("present until into_handle")
    }
}

impl<T> Future for CancelOnDrop<T> {
    type Output = Result<T, JobError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let handle = self.handle.as_mut().expect("present until into_handle");
        Pin::new(handle).poll(cx)
    }
}

impl<T> Drop for CancelOnDrop<T> {
    fn drop(&mut self) {
        if let Some(handle) = &self.handle {
            handle.cancel();
        }
    }
}

impl<T> fmt::Debug for CancelOnDrop<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CancelOnDrop").field(&self.handle).finish()
    }
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
