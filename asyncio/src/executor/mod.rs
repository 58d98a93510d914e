//! Blocking and CPU-bound work off the loop: [`to_thread`],
//! [`run_in_executor`], [`ThreadPoolExecutor`] and `ProcessPoolExecutor`.
//!
//! The loop runs one thing at a time; a call that blocks (file I/O, a
//! blocking client library, `std::thread::sleep`) or computes for long holds
//! every other task up. Threads are the answer for blocking calls, worker
//! processes for CPU-heavy work that should use every core, as in asyncio:
//!
//! ```
//! use std::time::Duration;
//!
//! fn fetch_data(secs: u64) -> String {
//!     std::thread::sleep(Duration::from_millis(10 * secs)); // blocking is fine here
//!     format!("Result of {secs}")
//! }
//!
//! asyncio::run(async {
//!     // Both run at once on pool threads: about 20 ms in all, not 30.
//!     let t1 = asyncio::to_thread(|| fetch_data(1));
//!     let t2 = asyncio::to_thread(|| fetch_data(2));
//!     assert_eq!(t1.await.unwrap(), "Result of 1");
//!     assert_eq!(t2.await.unwrap(), "Result of 2");
//! });
//! ```
//!
//! # What runs where
//!
//! - [`to_thread`] runs a closure on the running loop's *default executor*:
//!   a [`ThreadPoolExecutor`] of `min(32, cpus + 4)` threads, started on
//!   demand and retired after 10 s idle. [`EventLoop::set_default_executor`]
//!   replaces it. When the runner closes, it waits for the threads still
//!   running jobs (up to [`Runner::executor_shutdown_timeout`], 300 s by
//!   default, as `asyncio.run`).
//! - [`run_in_executor`] runs a job on a pool of your own, of either kind:
//!   a closure on a [`ThreadPoolExecutor`], a registered function and its
//!   argument on a `ProcessPoolExecutor` (the [`Executor`] trait says
//!   what each pool takes).
//! - `ProcessPoolExecutor` runs registered functions in worker processes
//!   (with the `process-pool` cargo feature, which brings serde, postcard
//!   and inventory).
//!
//! A pool's `submit` returns a [`JobHandle`]: await it on a loop, or block on
//! [`JobHandle::result`] from a plain thread. The job starts when it is
//! submitted, not when first awaited. Both pools are built the same way
//! (`new(max_workers)` or a builder) and shut down the same way
//! (`shutdown(wait, cancel_futures)`, `shutdown_timeout(timeout,
//! cancel_futures)`; dropping the last clone shuts down without waiting).
//!
//! # Cancellation
//!
//! A thread cannot be stopped from outside, and neither can a job in a
//! worker process. Dropping a [`JobHandle`] leaves its job running; dropping
//! the [`CancelOnDrop`] future that [`to_thread`] and [`run_in_executor`]
//! return (a `timeout` expiring, a cancelled task) cancels the job if it has
//! not started yet, as asyncio's does; a started job runs to the end and its
//! result is discarded, as in Python. [`JobHandle::cancel_on_drop`] makes
//! the one from the other.
//!
//! [`EventLoop::set_default_executor`]: crate::EventLoop::set_default_executor
//! [`Runner::executor_shutdown_timeout`]: crate::Runner::executor_shutdown_timeout

/// The shutdown and size methods both pools share, written once: `$pool`
/// has a `pool: PoolHandle<_>` field; `$worker` and `$workers` name what it
/// runs jobs on.
macro_rules! shutdown_methods {
    ($pool:ident, $worker:literal, $workers:literal) => {
        impl $pool {
            /// Stops taking jobs (later submits fail with
            /// [`JobError::ShutDown`](crate::executor::JobError::ShutDown)).
            /// With `cancel_futures`, jobs not started yet end with
            /// [`JobError::Cancelled`](crate::executor::JobError::Cancelled);
            /// otherwise they still run.
            #[doc = concat!("With `wait`, blocks until every ", $worker, " has exited (`Executor.shutdown`).")]
            ///
            /// # Panics
            /// With `wait`, on a thread running an event loop (it would
            /// block the loop) or in one of this pool's jobs (it would wait
            /// for itself).
            pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
                self.pool.shutdown(wait, cancel_futures);
            }

            /// As `shutdown(true, cancel_futures)`, giving up after
            #[doc = concat!("`timeout`; true if every ", $worker, " had exited by then.")]
            ///
            /// # Panics
            /// As [`shutdown`](Self::shutdown) with `wait`.
            pub fn shutdown_timeout(&self, timeout: std::time::Duration, cancel_futures: bool) -> bool {
                self.pool.shutdown_timeout(timeout, cancel_futures)
            }

            /// True once [`shutdown`](Self::shutdown) was called (or the
            /// last clone dropped).
            pub fn is_shutdown(&self) -> bool {
                self.pool.is_shutdown()
            }

            #[doc = concat!("The most ", $workers, " this pool runs at once.")]
            pub fn max_workers(&self) -> usize {
                self.pool.max_workers()
            }
        }
    };
}
use shutdown_methods;

/// The `max_workers` setter both builders share, written once: the builder
/// has a `max_workers: usize` field; `$workers` names what the pool runs
/// jobs on and `$default` says how many by default.
macro_rules! max_workers_setter {
    ($workers:literal, $default:literal) => {
        #[doc = concat!("At most this many ", $workers, " (default: ", $default, ").")]
        ///
        /// # Panics
        /// If `n` is 0.
        pub fn max_workers(mut self, n: usize) -> Self {
            assert!(n > 0, "max_workers must be at least 1");
            self.max_workers = n;
            self
        }
    };
}
use max_workers_setter;

mod error;
mod handle;
#[cfg(feature = "process-pool")]
mod process_pool;
mod thread_pool;

use crate::EventLoop;
pub use error::{JobError, Panicked};
pub use handle::{AsCompleted, CancelOnDrop, JobHandle, MapResults};
#[cfg(all(fuzzing, feature = "process-pool"))]
pub(crate) use process_pool::fuzz_wire as fuzz_process_pool_wire;
#[cfg(feature = "process-pool")]
pub use process_pool::{worker_entry, PoolError, ProcessPoolBuilder, ProcessPoolExecutor};
pub use thread_pool::{default_max_workers, ThreadPoolBuilder, ThreadPoolExecutor, DEFAULT_IDLE_TIMEOUT};

/// Makes this process a pool worker if it was started as one. Without the
/// `process-pool` feature there are no worker processes, and this returns at
/// once; `#[asyncio::main]` calls it either way.
#[cfg(not(feature = "process-pool"))]
pub fn worker_entry() {}

/// What `process_fn!` expands to; not public API.
#[cfg(feature = "process-pool")]
#[doc(hidden)]
pub mod __private {
    pub use super::process_pool::{call_fn, fn_name, ProcessFnEntry, ProcessFnReply};
    pub use inventory;
}

/// An executor that runs jobs of type `J`: what [`run_in_executor`] takes
/// (`concurrent.futures.Executor`).
///
/// Both pools implement it, each for what it can run:
///
/// | executor | `J` | `Output` |
/// |---|---|---|
/// | [`ThreadPoolExecutor`] | a closure `F: FnOnce() -> T + Send + 'static` | `T` |
/// | `ProcessPoolExecutor` (feature `process-pool`) | `(f, arg)`: a `process_fn!` function and its argument | `f`'s result |
///
/// The job type is a parameter rather than fixed per executor because a
/// thread pool takes any closure (each its own type) and a process pool any
/// registered function with its serde argument: one trait, one
/// `run_in_executor`, and the compiler checks that the job suits the pool.
pub trait Executor<J> {
    /// The job's result.
    type Output;

    /// Submits `job`; as the pool's own `submit`, the handle's drop leaves
    /// the job running.
    fn submit_job(&self, job: J) -> JobHandle<Self::Output>;
}

/// Runs the blocking closure `f` on the running loop's default thread pool
/// and returns a future of its result (`asyncio.to_thread`).
///
/// The job is submitted now. A panic in `f` becomes
/// [`JobError::Panicked`] for the awaiter; the loop and the pool go on.
///
/// # Cancel safety
/// Dropping the returned future cancels the job if it has not started; a
/// started job runs on and its result is discarded (see [`CancelOnDrop`]).
///
/// # Panics
/// If no event loop is running on this thread.
///
/// ```
/// asyncio::run(async {
///     let n = asyncio::to_thread(|| std::fs::read_dir(".").map(|d| d.count()).unwrap_or(0)).await.unwrap();
///     println!("{n} entries");
/// });
/// ```
pub fn to_thread<F, T>(f: F) -> CancelOnDrop<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // asyncio.to_thread: `f` runs in a copy of the caller's context.
    let mut ctx = crate::context::copy_context();
    crate::get_running_loop()
        .default_executor()
        .submit(move || ctx.run(f))
        .cancel_on_drop()
}

/// Runs `job` on `executor` and returns a future of its result
/// (`loop.run_in_executor(executor, f, *args)`): a closure on a
/// [`ThreadPoolExecutor`], `(f, arg)` on a `ProcessPoolExecutor` (see
/// [`Executor`]). For the loop's default pool, see [`to_thread`].
///
/// # Cancel safety
/// As [`to_thread`]: dropping the future cancels the job if it has not
/// started.
///
/// ```
/// use asyncio::executor::{run_in_executor, ThreadPoolExecutor};
/// let pool = ThreadPoolExecutor::new(4);
/// asyncio::run(async {
///     assert_eq!(run_in_executor(&pool, || 6 * 7).await.unwrap(), 42);
/// });
/// ```
pub fn run_in_executor<E, J>(executor: &E, job: J) -> CancelOnDrop<E::Output>
where
    E: Executor<J> + ?Sized,
{
    executor.submit_job(job).cancel_on_drop()
}

/// What [`EventLoop::run_in_executor`](crate::EventLoop::run_in_executor) takes as its executor: `&pool` of
/// either kind (any [`Executor`]), or `Option<&ThreadPoolExecutor>`, where
/// `None` is the loop's default thread pool, as asyncio's `None`.
pub trait ExecutorArg<J> {
    /// The job's result.
    type Output;

    /// Submits `job` to the executor this names, on `lp`.
    fn submit_on(self, lp: &EventLoop, job: J) -> JobHandle<Self::Output>;
}

impl<E, J> ExecutorArg<J> for &E
where
    E: Executor<J> + ?Sized,
{
    type Output = E::Output;

    fn submit_on(self, _: &EventLoop, job: J) -> JobHandle<E::Output> {
        self.submit_job(job)
    }
}

impl<J> ExecutorArg<J> for Option<&ThreadPoolExecutor>
where
    ThreadPoolExecutor: Executor<J>,
{
    type Output = <ThreadPoolExecutor as Executor<J>>::Output;

    fn submit_on(self, lp: &EventLoop, job: J) -> JobHandle<Self::Output> {
        match self {
            Some(pool) => pool.submit_job(job),
            None => lp.default_executor().submit_job(job),
        }
    }
}
