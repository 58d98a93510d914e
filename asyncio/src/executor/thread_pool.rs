//! [`ThreadPoolExecutor`]: blocking calls on a bounded pool of threads.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::handle::{claim, fail_queued, finish, queued, JobCell, MapResults};
use super::{Executor, JobError, JobHandle, Panicked};
use crate::runtime::pool::{NotRun, PoolHandle, ThreadJob, ThreadPool};

/// How long an idle pool thread waits for work before it exits.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// asyncio's default pool size: `min(32, cpus + 4)`.
pub fn default_max_workers() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cpus + 4).min(32)
}

/// A thread-pool job is its cell, which holds the function until it runs.
impl<T: Send> ThreadJob for JobCell<T> {
    fn run(&self) {
        let Some(Some(f)) = claim(self) else {
            return; // cancelled while queued
        };
        let result = catch_unwind(AssertUnwindSafe(f)).map_err(|p| JobError::Panicked(Panicked::from_payload(p)));
        finish(self, result);
    }

    fn fail(&self, why: NotRun) {
        fail_queued(self, why.into());
    }
}

/// A pool of threads for blocking calls (`concurrent.futures.ThreadPoolExecutor`).
///
/// Threads start on demand, up to `max_workers`, and exit after
/// [`DEFAULT_IDLE_TIMEOUT`] without work. Jobs run in submission order.
/// A panicking job fails only its own handle ([`JobError::Panicked`]); the
/// thread goes on to the next job.
///
/// Usable from plain threads ([`submit`](Self::submit), then
/// [`JobHandle::result`]) and from a loop (await the handle, or use
/// [`run_in_executor`](super::run_in_executor)). Clones share the pool.
///
/// Dropping the last clone shuts the pool down without waiting: jobs already
/// submitted still run and their handles still get their results; the
/// threads exit once the queue is empty. Call [`shutdown`](Self::shutdown)
/// with `wait` to block until they have (Python's `with` block).
///
/// ```
/// use asyncio::executor::{JobHandle, ThreadPoolExecutor};
/// use std::time::Duration;
///
/// let pool = ThreadPoolExecutor::new(5);
/// let jobs: Vec<_> = [5u64, 4, 3, 2, 1]
///     .into_iter()
///     .map(|ms| pool.submit(move || { std::thread::sleep(Duration::from_millis(ms)); ms }))
///     .collect();
/// let finished: Vec<u64> = JobHandle::as_completed(jobs).map(|(_, r)| r.unwrap()).collect();
/// assert_eq!(finished.len(), 5);
/// let in_order: Vec<u64> = pool.map(|ms| ms * 10, [1, 2, 3]).map(Result::unwrap).collect();
/// assert_eq!(in_order, [10, 20, 30]);
/// pool.shutdown(true, false);
/// ```
#[derive(Clone)]
pub struct ThreadPoolExecutor {
    pool: PoolHandle<ThreadPool>,
}

/// Options for a [`ThreadPoolExecutor`].
#[derive(Debug, Clone)]
pub struct ThreadPoolBuilder {
    max_workers: usize,
    name_prefix: Option<String>,
    idle_timeout: Option<Duration>,
}

impl ThreadPoolBuilder {
    super::max_workers_setter!("threads", "[`default_max_workers`]");

    /// Threads are named `<prefix>-<n>` (default `ThreadPoolExecutor-<pool>`).
    pub fn thread_name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.name_prefix = Some(prefix.into());
        self
    }

    /// How long an idle thread waits for work before exiting (`None`: it
    /// never exits; default [`DEFAULT_IDLE_TIMEOUT`]).
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// The pool; no thread starts until the first job.
    pub fn build(self) -> ThreadPoolExecutor {
        static POOLS: AtomicUsize = AtomicUsize::new(0);
        let name_prefix = self
            .name_prefix
            .unwrap_or_else(|| format!("ThreadPoolExecutor-{}", POOLS.fetch_add(1, Ordering::Relaxed)));
        ThreadPoolExecutor {
            pool: PoolHandle::new(
                ThreadPool {
                    idle_timeout: self.idle_timeout,
                },
                self.max_workers,
                name_prefix,
            ),
        }
    }
}

impl ThreadPoolExecutor {
    /// A pool of at most `max_workers` threads.
    ///
    /// # Panics
    /// If `max_workers` is 0.
    pub fn new(max_workers: usize) -> Self {
        Self::builder().max_workers(max_workers).build()
    }

    /// A builder, for the thread names and idle timeout.
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder {
            max_workers: default_max_workers(),
            name_prefix: None,
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
        }
    }

    /// The loop's default executor is kept in the engine as the pool itself.
    pub(crate) fn from_engine(pool: PoolHandle<ThreadPool>) -> Self {
        ThreadPoolExecutor { pool }
    }

    pub(crate) fn engine(&self) -> &PoolHandle<ThreadPool> {
        &self.pool
    }

    /// Runs `f` on a pool thread; the handle gives its result. Dropping the
    /// handle does not cancel the job (see [`JobHandle::cancel_on_drop`]).
    ///
    /// After [`shutdown`](Self::shutdown), the handle fails with
    /// [`JobError::ShutDown`].
    pub fn submit<F, T>(&self, f: F) -> JobHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // After shutdown the queue refuses the job and it fails with
        // `ShutDown` (one lock per submit, not two).
        let cell = queued::<T>(Some(Box::new(f)));
        self.pool.submit(cell.clone());
        JobHandle::new(cell)
    }

    /// Runs `f` on every item, in parallel; the results come back in input
    /// order (`Executor.map`). Iterating blocks the thread.
    pub fn map<F, A, T>(&self, f: F, items: impl IntoIterator<Item = A>) -> MapResults<T>
    where
        F: Fn(A) -> T + Send + Sync + 'static,
        A: Send + 'static,
        T: Send + 'static,
    {
        let f = Arc::new(f);
        let handles = items
            .into_iter()
            .map(|a| {
                let f = f.clone();
                self.submit(move || f(a))
            })
            .collect();
        MapResults::new(handles)
    }

    /// Threads alive now (busy or idle).
    pub fn threads(&self) -> usize {
        self.pool.counts().0
    }
}

super::shutdown_methods!(ThreadPoolExecutor, "thread", "threads");

impl fmt::Debug for ThreadPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (threads, idle) = self.pool.counts();
        f.debug_struct("ThreadPoolExecutor")
            .field("name", &self.pool.thread_prefix())
            .field("max_workers", &self.max_workers())
            .field("threads", &threads)
            .field("idle", &idle)
            .field("shutdown", &self.is_shutdown())
            .finish()
    }
}

/// A thread pool runs closures: `run_in_executor(&pool, || work())`.
impl<F, T> Executor<F> for ThreadPoolExecutor
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    type Output = T;

    fn submit_job(&self, job: F) -> JobHandle<T> {
        self.submit(job)
    }
}
