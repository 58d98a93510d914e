//! Python's asyncio, natively in Rust.
//!
//! A single-threaded event loop that runs Rust futures the way asyncio runs
//! coroutines: [`run`], [`create_task`], [`sleep`], [`timeout`], loop
//! callbacks, a settable [`Promise`] (asyncio's `Future`), and a reactor
//! for I/O. Tasks need not be `Send`: they live on their loop's thread.
//!
//! ```
//! use std::time::Duration;
//!
//! async fn fetch_data(id: u32, delay: Duration) -> u32 {
//!     asyncio::sleep(delay).await;
//!     id
//! }
//!
//! # asyncio::Runner::new().virtual_time(true).run(async {
//! // In a program: #[asyncio::main] async fn main() { ... }
//! let t1 = asyncio::create_task(fetch_data(1, Duration::from_secs(1)));
//! let t2 = asyncio::create_task(fetch_data(2, Duration::from_secs(2)));
//! let (r1, r2) = (t1.await.unwrap(), t2.await.unwrap()); // 2 s in all, not 3
//! assert_eq!((r1, r2), (1, 2));
//! # });
//! ```
//!
//! # asyncio names in Rust
//!
//! | asyncio | asyncio (this crate) |
//! |---|---|
//! | `asyncio.run(main())` | [`run`]`(main())`, or `#[asyncio::main]` |
//! | `asyncio.Runner(debug=True)` | [`Runner::new`]`().debug(true)` |
//! | `asyncio.create_task(coro, name=...)` | [`create_task`]`(fut)`, [`task::Builder`] |
//! | `asyncio.Task`, `task.cancel()`, `task.done()` | [`Task`], [`Task::cancel`], [`Task::done`] |
//! | `asyncio.CancelledError`, exception in a task | [`TaskError`] |
//! | `asyncio.current_task()`, `asyncio.all_tasks()` | [`current_task`], [`all_tasks`] |
//! | `eager_task_factory`, `create_eager_task_factory` | [`Runner::eager_tasks`], [`EventLoop::set_eager_tasks`], [`task::Builder::eager`] |
//! | `contextvars.ContextVar`, `copy_context()`, `Context.run` | [`ContextVar`], [`copy_context`], [`context::Context::run`] |
//! | `await asyncio.gather(a, b)`, `gather(*aws)` | [`gather!`]`(a, b).await`, [`gather()`]`(aws).await` |
//! | `gather(..., return_exceptions=False)` | [`try_gather!`], [`try_gather()`] |
//! | `asyncio.wait(aws, return_when=...)` | [`wait`]`(tasks, ReturnWhen::..)` |
//! | `asyncio.as_completed(aws)` | [`as_completed`] |
//! | `asyncio.shield(task)` | [`shield`] |
//! | `async with asyncio.TaskGroup() as tg`, `tg.create_task(c, name=...)` | [`TaskGroup`]: `create_task` / `try_create_task`, then `join().await`; named with [`task::Builder::spawn_in`] |
//! | `asyncio.Lock`, `Semaphore`, `BoundedSemaphore`, `Event` | [`sync::Lock`], [`sync::Semaphore`], [`sync::BoundedSemaphore`], [`sync::Event`] |
//! | `asyncio.Condition`, `Barrier` | [`sync::Condition`], [`sync::Barrier`] |
//! | `asyncio.Queue`, `LifoQueue`, `PriorityQueue` | [`sync::Queue`], [`sync::LifoQueue`], [`sync::PriorityQueue`] |
//! | `await asyncio.sleep(s)`, `asyncio.sleep(0)` | [`sleep`]`(d)`, [`yield_now`] |
//! | `asyncio.wait_for(aw, s)`, `asyncio.timeout(s)` | [`timeout`]`(d, fut)`, [`timeout_at`] |
//! | `asyncio.TimeoutError` | [`TimeoutError`] |
//! | `asyncio.get_running_loop()` | [`get_running_loop`] |
//! | `loop.call_soon`, `call_later`, `call_at`, `time()` | [`EventLoop::call_soon`], … |
//! | `loop.call_soon_threadsafe` | [`LoopHandle::call_soon_threadsafe`] |
//! | `asyncio.run_coroutine_threadsafe` | [`LoopHandle::run_coroutine_threadsafe`] → [`ConcurrentFuture`] |
//! | `loop.create_future()`, `asyncio.Future` | [`create_future`], [`Promise`] |
//! | `loop.add_reader` / `add_writer` | [`io::AsyncFd`] |
//! | `asyncio.to_thread(f)`, `loop.run_in_executor(ex, f, *args)` | [`to_thread`]`(f)`, [`run_in_executor`]`(&ex, job)` (either pool: [`executor::Executor`]) |
//! | `concurrent.futures.ThreadPoolExecutor`, `Future` | [`executor::ThreadPoolExecutor`], [`executor::JobHandle`] |
#![cfg_attr(
    feature = "tls",
    doc = "| `open_connection(host, port, ssl=ctx)`, `start_server(cb, host, port, ssl=ctx)` | [`open_tls_connection`], [`start_tls_server`] with [`tls::ClientContext`] / [`tls::ServerContext`] (feature `tls`) |"
)]
#![cfg_attr(
    feature = "tls",
    doc = "| `writer.start_tls(ctx)`, `get_extra_info('ssl_object')`, `ssl.SSLError` | [`net::StreamWriter::start_tls`], [`net::StreamWriter::tls_info`], [`tls::TlsError`] |"
)]
#![cfg_attr(
    feature = "process-pool",
    doc = "| `concurrent.futures.ProcessPoolExecutor` | [`executor::ProcessPoolExecutor`] with [`process_fn!`] (feature `process-pool`) |"
)]
#![cfg_attr(
    feature = "tokio-compat",
    doc = "| (no asyncio peer) a tokio-only crate (reqwest, sqlx, tonic) from a task | [`compat::run_on_tokio`]`(fut)` on a background tokio runtime (feature `tokio-compat`) |"
)]
//! | `asyncio.open_connection`, `start_server` | [`open_connection`], [`start_server`] → [`net::StreamReader`], [`net::StreamWriter`], [`net::Server`] |
//! | sockets, `loop.getaddrinfo` | [`net::TcpStream`], [`net::TcpListener`], [`net::UdpSocket`], [`net::UnixStream`], [`net::lookup_host`] |
//! | `asyncio.create_subprocess_exec`, `_shell` | [`subprocess::create_subprocess_exec`], [`subprocess::create_subprocess_shell`] |
//! | `loop.add_signal_handler` | [`signal::add_signal_handler`], [`signal::ctrl_c`], [`signal::recv`] |
//! | `aiofiles.open` (files off the loop) | [`fs::File`], [`fs::read`], [`fs::write`] |
//!
//! # Crates that need tokio's runtime
//!
//! A call into reqwest, sqlx, tonic or anything else that uses tokio's
//! reactor, timers or `tokio::spawn` panics on this loop with "there is no
//! reactor running, must be called from the context of a Tokio 1.x
//! runtime": this loop is not tokio's. The `tokio-compat` feature's
//! `asyncio::compat` module explains why and gives the way out, a tokio
//! runtime on a background thread (`compat::run_on_tokio(fut).await`).
//! Crates that only use tokio's I/O *traits* (hyper's connection API,
//! tokio-postgres) run on the loop itself, over its sockets (feature
//! `tokio-io`).
//!
//! # Cancellation
//!
//! Cancelling a task drops its future at the loop's next turn: destructors
//! run, and the awaiter gets a cancelled [`TaskError`]. Dropping any future
//! (a `timeout` that expired, a branch that lost a race) cancels it the same
//! way. A dropped [`Task`] handle does *not* cancel: the task runs on.
//!
//! # Scheduling and fairness
//!
//! The loop runs ready tasks and `call_soon` callbacks in FIFO order. Between
//! two looks at I/O, timers and other threads' wakes it runs at most 61
//! ready entries, so a task that never waits on anything (it only yields)
//! delays I/O and timers by at most 61 polls; it cannot starve them. An idle
//! loop sleeps in `epoll_wait` until the nearest timer: no CPU while nothing
//! is ready.
//!
//! # Debug mode
//!
//! `Runner::new().debug(true)`, `#[asyncio::main(debug)]` or the environment
//! variable `ASYNCIO_DEBUG=1` (asyncio's `PYTHONASYNCIODEBUG`) turn it on. The
//! loop then reports every poll or callback that held it longer than
//! [`Runner::slow_callback_duration`] (100 ms by default), with the task's
//! name and the line that created it, and a watchdog thread reports the
//! same *while* the loop is still stuck; a task that panicked with nobody
//! reading its handle; the tasks still pending at shutdown. The task tree is
//! one call away ([`debug::dump`]), also from another thread or a signal
//! when the loop hangs ([`debug::dump_all`], [`debug::dump_on_signal`]).
//! Reports go through `tracing` when a subscriber is installed, to stderr
//! otherwise. Off, debug mode costs one branch per poll.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

#[macro_use]
#[forbid(unsafe_code)]
mod macros;

mod runtime;

#[cfg(feature = "tokio-compat")]
#[forbid(unsafe_code)]
pub mod compat;
#[forbid(unsafe_code)]
mod completion;
#[forbid(unsafe_code)]
pub mod context;

#[forbid(unsafe_code)]
pub mod debug;
#[forbid(unsafe_code)]
mod event_loop;
#[forbid(unsafe_code)]
pub mod executor;
#[forbid(unsafe_code)]
pub mod fs;
#[forbid(unsafe_code)]
pub mod io;
#[forbid(unsafe_code)]
pub mod loops;
#[forbid(unsafe_code)]
pub mod net;
#[forbid(unsafe_code)]
mod promise;

/// Entry points for the fuzz targets in the repository's `fuzz/`
/// directory (built only with `--cfg fuzzing`, as `cargo fuzz` builds).
#[cfg(all(fuzzing, feature = "process-pool"))]
#[doc(hidden)]
pub mod __fuzz {
    /// The process pool's pipe protocol, read from arbitrary bytes.
    pub fn process_pool_wire(data: &[u8]) {
        crate::executor::fuzz_process_pool_wire(data);
    }
}
#[forbid(unsafe_code)]
mod runner;
#[forbid(unsafe_code)]
pub mod signal;
#[forbid(unsafe_code)]
pub mod subprocess;
#[forbid(unsafe_code)]
pub mod sync;
#[forbid(unsafe_code)]
pub mod task;
#[forbid(unsafe_code)]
pub mod time;
#[cfg(feature = "tls")]
#[forbid(unsafe_code)]
pub mod tls;

pub use asyncio_macros::{main, test};
pub use context::{copy_context, ContextVar};
pub use event_loop::{
    get_running_loop, try_get_running_loop, ConcurrentFuture, EventLoop, Handle, LoopClosed, LoopHandle, TimerHandle,
};
pub use executor::{run_in_executor, to_thread};
pub use net::{open_connection, open_unix_connection, start_server, start_unix_server};
#[cfg(feature = "tls")]
pub use net::{
    open_tls_connection, open_tls_connection_to, open_unix_tls_connection, start_tls_server, start_unix_tls_server,
};
pub use promise::{create_future, DoneCallbackId, FutureError, InvalidStateError, Promise};
pub use runner::{run, Runner};
pub use task::{
    all_tasks, as_completed, create_task, current_task, gather, shield, try_gather, wait, yield_now, ReturnWhen, Task,
    TaskError, TaskGroup, TaskGroupError, TaskId, TaskRef,
};
pub use time::{interval, sleep, sleep_until, timeout, timeout_at, TimeoutError};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
