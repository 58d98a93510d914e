//! The process's background tokio runtime: built on first use, on threads of
//! its own, and shut down on request.
//!
//! One per process, not one per loop: the crates it serves keep
//! process-wide state bound to the runtime that created it (a sqlx pool's
//! connections, a reqwest client's idle connections, a tonic channel), so
//! every loop thread must reach the same one. Its [`Handle`] is published in
//! a `OnceLock` once the runtime is up, so the hot path ([`handle_ref`]) is
//! one atomic load; the mutex is taken only to start it, to configure it
//! before that, and to shut it down.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;
use std::{env, fmt};

use tokio::runtime::{Builder, Handle, Runtime};

use crate::executor::JobError;

/// The environment variable that sets the background runtime's worker
/// threads when [`set_worker_threads`] was not called (read once, when the
/// runtime starts): a positive integer.
pub const WORKER_THREADS_ENV: &str = "ASYNCIO_TOKIO_WORKER_THREADS";

/// The name of the runtime's threads (its workers and its blocking pool),
/// as `ps -T`, `top -H` and debuggers show it.
pub const THREAD_NAME: &str = "asyncio-tokio";

/// Worker threads when neither [`set_worker_threads`] nor
/// [`WORKER_THREADS_ENV`] says otherwise: one is enough to drive the
/// reactor and timers of the I/O-bound clients this serves; the loop's own
/// work stays on the loop's thread.
pub const DEFAULT_WORKER_THREADS: usize = 1;

enum State {
    /// Not started yet; the worker threads asked for, if any.
    NotStarted { worker_threads: Option<usize> },
    /// Running; its handle is in [`HANDLE`].
    Running(Runtime),
    /// [`shutdown`] was called: no new runtime is started.
    ShutDown,
}

static STATE: Mutex<State> = Mutex::new(State::NotStarted { worker_threads: None });
/// Set once, when the runtime starts; read without the lock.
static HANDLE: OnceLock<Handle> = OnceLock::new();
/// Set by [`shutdown`]; read without the lock before every spawn.
static SHUT_DOWN: AtomicBool = AtomicBool::new(false);

fn state() -> MutexGuard<'static, State> {
    // Nothing panics under this lock while leaving the state inconsistent.
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// The background runtime had already started (or was shut down), so its
/// size can no longer be chosen: what [`set_worker_threads`] returns then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlreadyStarted;

impl fmt::Display for AlreadyStarted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the background tokio runtime has already started")
    }
}

impl std::error::Error for AlreadyStarted {}

/// Sets how many worker threads the background runtime will have
/// (default [`DEFAULT_WORKER_THREADS`], or [`WORKER_THREADS_ENV`]). Call it
/// before the first [`run_on_tokio`](super::run_on_tokio),
/// [`with_tokio_context`](super::with_tokio_context) or [`handle`].
///
/// # Errors
/// [`AlreadyStarted`] if the runtime is running already (or was shut down):
/// the setting is ignored.
///
/// # Panics
/// If `n` is 0.
///
/// ```
/// // At the top of main, before any task calls into tokio.
/// let _ = asyncio::compat::set_worker_threads(2);
/// ```
pub fn set_worker_threads(n: usize) -> Result<(), AlreadyStarted> {
    assert!(n > 0, "the background tokio runtime needs at least one worker thread");
    match &mut *state() {
        State::NotStarted { worker_threads } => {
            *worker_threads = Some(n);
            Ok(())
        }
        State::Running(_) | State::ShutDown => Err(AlreadyStarted),
    }
}

/// The worker threads to start with: the setting, else the environment,
/// else the default.
fn worker_threads(setting: Option<usize>) -> Result<usize, JobError> {
    if let Some(n) = setting {
        return Ok(n);
    }
    match env::var(WORKER_THREADS_ENV) {
        Err(_) => Ok(DEFAULT_WORKER_THREADS),
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(JobError::WorkerStart(format!(
                "{WORKER_THREADS_ENV}={v:?}: expected a positive number of threads"
            ))),
        },
    }
}

/// The running runtime's handle, starting the runtime if this is its first
/// use.
///
/// # Errors
/// [`JobError::ShutDown`] after [`shutdown`]; [`JobError::WorkerStart`] if
/// the runtime could not be built (no threads, no epoll instance, a bad
/// [`WORKER_THREADS_ENV`]). A failed start is tried again on the next call.
pub(crate) fn handle_ref() -> Result<&'static Handle, JobError> {
    if SHUT_DOWN.load(Ordering::Acquire) {
        return Err(JobError::ShutDown);
    }
    if let Some(h) = HANDLE.get() {
        return Ok(h);
    }
    start()
}

#[cold]
fn start() -> Result<&'static Handle, JobError> {
    let mut s = state();
    match &*s {
        State::ShutDown => Err(JobError::ShutDown),
        // Another thread started it between our look and the lock.
        State::Running(_) => Ok(HANDLE.get().expect("a running runtime has published its handle")),
        State::NotStarted {
            worker_threads: setting,
        } => {
            let threads = worker_threads(*setting)?;
            let rt = Builder::new_multi_thread()
                .worker_threads(threads)
                .thread_name(THREAD_NAME)
                .enable_io()
                .enable_time()
                .build()
                .map_err(|e| JobError::WorkerStart(format!("the background tokio runtime: {e}")))?;
            let h = HANDLE.get_or_init(|| rt.handle().clone());
            *s = State::Running(rt);
            Ok(h)
        }
    }
}

/// A handle to the background runtime, started now if it is not running:
/// for what [`run_on_tokio`](super::run_on_tokio) does not cover, such as
/// spawning a task that outlives its caller (`handle.spawn(fut)`, whose
/// `JoinHandle` you may drop) or blocking on a tokio future from a plain
/// thread (`handle.block_on(fut)`; never on the loop's thread).
///
/// # Errors
/// [`JobError::ShutDown`] after [`shutdown`]; [`JobError::WorkerStart`] if
/// the runtime could not be started.
///
/// ```
/// let h = asyncio::compat::handle().unwrap();
/// let from_a_plain_thread = std::thread::spawn(move || h.block_on(async { 6 * 7 }));
/// assert_eq!(from_a_plain_thread.join().unwrap(), 42);
/// ```
pub fn handle() -> Result<Handle, JobError> {
    handle_ref().cloned()
}

/// True while the background runtime is running: started by a first use,
/// not shut down.
pub fn is_running() -> bool {
    !SHUT_DOWN.load(Ordering::Acquire) && HANDLE.get().is_some()
}

/// Shuts the background runtime down: its tasks are dropped at their next
/// `.await` (so their destructors run: a connection pool's sockets are
/// closed, not abandoned), then this waits up to `timeout` for its threads,
/// those running `spawn_blocking` jobs included, to exit. Later calls of
/// [`run_on_tokio`](super::run_on_tokio) and [`handle`] fail with
/// [`JobError::ShutDown`]; the runtime is not started again.
///
/// Without it the runtime's threads end with the process, and tokio tasks
/// still running then are never dropped. Call it once every loop is done
/// with tokio: at the end of `main`, after `asyncio::run` returns.
///
/// It blocks the calling thread (on a loop's thread, the whole loop) for
/// up to `timeout`. A no-op if the runtime never started or was shut down
/// already.
///
/// # Panics
/// If called from a task running on the background runtime itself.
///
/// ```
/// use std::time::Duration;
/// use asyncio::compat::run_on_tokio;
///
/// asyncio::run(async {
///     assert_eq!(run_on_tokio(async { 1 + 1 }).await.unwrap(), 2);
/// });
/// asyncio::compat::shutdown(Duration::from_secs(5));
/// ```
pub fn shutdown(timeout: Duration) {
    let mut s = state();
    SHUT_DOWN.store(true, Ordering::Release);
    let prev = std::mem::replace(&mut *s, State::ShutDown);
    drop(s);
    if let State::Running(rt) = prev {
        rt.shutdown_timeout(timeout);
    }
}
