//! Crates that only run on tokio's runtime (reqwest, sqlx, tonic, the AWS
//! SDK, redis's tokio mode, ...), called from a task: cargo feature
//! `tokio-compat`.
//!
//! # "there is no reactor running"
//!
//! A tokio-only call on this crate's loop panics with
//!
//! ```text
//! there is no reactor running, must be called from the context of a Tokio 1.x runtime
//! ```
//!
//! Tokio's sockets, timers and `tokio::spawn` find the runtime they belong
//! to through a thread-local that tokio sets while *its* scheduler polls
//! *its* tasks (or inside `Runtime::block_on` and `Handle::enter`). This
//! crate's loop is a runtime of its own, with its own reactor (epoll) and
//! timer wheel: it never sets tokio's thread-local. So the first
//! `tokio::net::TcpStream::connect`, `tokio::time::sleep` or `tokio::spawn`
//! that a task reaches (directly, or inside `reqwest::get`, a sqlx pool, a
//! tonic channel) finds no tokio runtime and panics; the task's awaiter gets
//! a [`TaskError`](crate::TaskError) carrying that message.
//!
//! Two kinds of "tokio crates" meet this loop differently:
//!
//! | the crate uses | examples | on this loop |
//! |---|---|---|
//! | only an I/O stream you give it (tokio's `AsyncRead`/`AsyncWrite`, or hyper's own I/O traits) | tokio-postgres's `connect_raw`, tokio-tungstenite's `client_async`, hyper's `client::conn`/`server::conn` | runs natively, on the loop: give it one of this crate's sockets (feature `tokio-io` for tokio's traits) |
//! | tokio's *runtime*: its reactor, timers or `tokio::spawn` | reqwest, sqlx, tonic, hyper-util's legacy client, the AWS SDK | panics as above; the way out is this module |
//!
//! # The way out: a background tokio runtime
//!
//! With the `tokio-compat` feature, the process gets a tokio runtime of its
//! own, started on first use on a thread of its own (one worker thread by
//! default; [`set_worker_threads`] or [`WORKER_THREADS_ENV`] to change it),
//! next to the loop, never inside it:
//!
//! - [`run_on_tokio`]`(fut)` runs a `Send` future as a tokio task there
//!   and returns a future of its output to await from any task: the way to
//!   call reqwest, sqlx or tonic. Dropping it aborts the tokio task.
//! - [`with_tokio_context`]`(fut)` polls a future that is *not* `Send` on
//!   the loop's thread, with the runtime's handle entered during each poll,
//!   so that the tokio types it creates register with the background
//!   reactor and timers (smol's `async-compat` does the same).
//! - [`handle`] gives the runtime's `tokio::runtime::Handle`, for detached
//!   tasks or `block_on` from a plain thread; [`shutdown`] stops it.
//!
//! ```toml
//! asyncio = { version = "0.1", features = ["tokio-compat"] }
//! ```
//!
//! A tokio client (tokio's own `TcpStream`) talking to a server on this
//! loop, from a task:
//!
//! ```
//! use asyncio::compat::run_on_tokio;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! asyncio::run(async {
//!     // A server on asyncio's loop: echo one line.
//!     let server = asyncio::start_server(
//!         |mut r, w| async move {
//!             let line = r.readline().await?;
//!             w.write(&line);
//!             w.drain().await
//!         },
//!         "127.0.0.1:0",
//!     )
//!     .await
//!     .unwrap();
//!     let addr = server.local_addrs()[0];
//!
//!     // A tokio-only client: on the loop's thread, TcpStream::connect would
//!     // panic with "there is no reactor running"; on tokio's, it connects.
//!     let reply = run_on_tokio(async move {
//!         let mut s = tokio::net::TcpStream::connect(addr).await?;
//!         s.write_all(b"hello\n").await?;
//!         let mut reply = String::new();
//!         s.read_to_string(&mut reply).await?;
//!         Ok::<_, std::io::Error>(reply)
//!     })
//!     .await
//!     .expect("the tokio task panicked")
//!     .expect("I/O error");
//!     assert_eq!(reply, "hello\n");
//! });
//! ```
//!
//! With reqwest, the same shape (a client made once and cloned into each
//! call; its connection pool lives on the background runtime):
//!
//! ```ignore
//! let client = reqwest::Client::new();
//! let body = run_on_tokio({
//!     let client = client.clone();
//!     async move { client.get("https://example.com/").send().await?.text().await }
//! })
//! .await??;
//! ```
//!
//! # What runs where
//!
//! The loop's thread never runs tokio's scheduler and never waits in
//! tokio's reactor: the runtime's worker thread does both. A
//! [`run_on_tokio`] future runs entirely on that thread; the loop only
//! polls tokio's `JoinHandle`, which needs no tokio context, and the worker
//! that completes the task wakes the awaiting task through the loop's
//! cross-thread wake (the path `to_thread` results and
//! `call_soon_threadsafe` take). Outside a [`with_tokio_context`] poll,
//! `tokio::runtime::Handle::try_current()` on the loop's thread is an error,
//! as it is without this feature.
//!
//! So a tokio task's CPU work does not hold the loop up, and the loop's does
//! not hold tokio's tasks up; what crosses between them is one wake-up per
//! [`run_on_tokio`] call, and one per readiness event inside a
//! [`with_tokio_context`] future.
//!
//! # Cost
//!
//! A [`run_on_tokio`] round trip is a tokio spawn, a wake of the tokio
//! worker and a wake of the loop: two cross-thread hand-offs, the same
//! shape as a [`to_thread`](crate::to_thread) job. Measured on a 2-core
//! machine (`cargo bench -p asyncio-benches --bench compat`; the table is
//! in `BENCHMARKS.md`, "Calling tokio from the loop"): 9–11 µs of latency
//! and as much CPU per call one at a time, 0.7–1.2 µs per call when 100
//! overlap, the same as tokio's own spawn from one runtime onto another,
//! against 0.5 µs for a spawn and join on tokio's own thread. The first
//! call of the process also starts the runtime (0.25–1 ms). So put a whole
//! exchange (a request with its body, a transaction) in one call rather
//! than crossing per small step.
//!
//! # Shutdown
//!
//! The runtime lives until the process exits; its tasks still running then
//! are not dropped. [`shutdown`] drops them (closing pooled connections
//! properly) and waits for its threads: call it once at the end of `main`,
//! after the loops are done.

mod background;
mod enter;
mod on_tokio;

pub use background::{
    handle, is_running, set_worker_threads, shutdown, AlreadyStarted, DEFAULT_WORKER_THREADS, THREAD_NAME,
    WORKER_THREADS_ENV,
};
pub use enter::{with_tokio_context, WithTokioContext};
pub use on_tokio::{run_on_tokio, OnTokio};
