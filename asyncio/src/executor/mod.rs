//! Blocking and CPU-bound work off the loop: [`to_thread`],
//! [`run_in_executor`], [`ThreadPoolExecutor`] and [`ProcessPoolExecutor`].
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
//! - [`run_in_executor`] runs a closure on a pool of your own.
//! - [`ProcessPoolExecutor`] runs registered functions in worker processes.
//!
//! Each returns a [`JobHandle`]: await it on a loop, or block on
//! [`JobHandle::result`] from a plain thread. The job starts when it is
//! submitted, not when first awaited.
//!
//! # Cancellation
//!
//! A thread cannot be stopped from outside, and neither can a job in a
//! worker process. Dropping the future of [`to_thread`], [`run_in_executor`]
//! or [`ProcessPoolExecutor::run`] (a `timeout` expiring, a cancelled task)
//! cancels the job if it has not started yet; a started job runs to the end
//! and its result is discarded, as in Python.
//!
//! [`EventLoop::set_default_executor`]: crate::EventLoop::set_default_executor
//! [`Runner::executor_shutdown_timeout`]: crate::Runner::executor_shutdown_timeout

mod error;
mod handle;
mod process_pool;
mod queue;
mod thread_pool;

pub use error::{JobError, Panicked};
pub use handle::{AsCompleted, JobHandle, MapResults};
pub use process_pool::{worker_entry, PoolError, ProcessPoolExecutor};
pub use thread_pool::{default_max_workers, ThreadPoolBuilder, ThreadPoolExecutor, DEFAULT_IDLE_TIMEOUT};

/// What [`process_fn!`](crate::process_fn) expands to; not public API.
#[doc(hidden)]
pub mod __private {
    pub use super::process_pool::{call_fn, fn_name, ProcessFnEntry, ProcessFnReply};
    pub use inventory;
}

/// Runs the blocking closure `f` on the running loop's default thread pool
/// and returns a future of its result (`asyncio.to_thread`).
///
/// The job is submitted now. A panic in `f` becomes
/// [`JobError::Panicked`] for the awaiter; the loop and the pool go on.
///
/// # Cancel safety
/// Dropping the returned future cancels the job if it has not started; a
/// started job runs on and its result is discarded.
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
pub fn to_thread<F, T>(f: F) -> JobHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    // asyncio.to_thread: `f` runs in a copy of the caller's context.
    let mut ctx = crate::context::copy_context();
    crate::get_running_loop()
        .default_executor()
        .submit_with(move || ctx.run(f), true)
}

/// Runs `f` on `executor` and returns a future of its result
/// (`loop.run_in_executor(executor, f)`); for the loop's default pool, see
/// [`to_thread`].
///
/// # Cancel safety
/// As [`to_thread`].
///
/// ```
/// use asyncio::executor::{run_in_executor, ThreadPoolExecutor};
/// let pool = ThreadPoolExecutor::new(4);
/// asyncio::run(async {
///     assert_eq!(run_in_executor(&pool, || 6 * 7).await.unwrap(), 42);
/// });
/// ```
pub fn run_in_executor<F, T>(executor: &ThreadPoolExecutor, f: F) -> JobHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    executor.submit_with(f, true)
}
