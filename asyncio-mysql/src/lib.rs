//! MySQL and MariaDB from the asyncio event loop: the blocking [`mysql`]
//! crate on a small dedicated thread pool, one connection per pool thread.
//!
//! This is the seeds' own pattern for a blocking library
//! (`asyncio.to_thread` / `loop.run_in_executor` with a small pool), made
//! into a [`Pool`] with asyncio-shaped methods: [`Pool::connect`],
//! [`query`](Pool::query), [`exec`](Pool::exec),
//! [`exec_first`](Pool::exec_first), [`exec_drop`](Pool::exec_drop),
//! [`exec_batch`](Pool::exec_batch), and [`run`](Pool::run) for several
//! statements or a transaction in one hop. Errors are one matchable
//! [`Error`]; the server's own are [`Error::Server`] with their code
//! ([`codes`]).
//!
//! ```
//! use asyncio_mysql::{codes, Error, Pool};
//! # // A throwaway server for this example (the tests' own).
//! # let server = asyncio_examples_support::mariadb::MariaDb::start().unwrap();
//! # let url = server.url();
//!
//! asyncio::run(async {
//!     // url: "mysql://user:password@127.0.0.1:3306/test"
//!     let pool = Pool::connect(&url, 4).await?;
//!     pool.query_drop("CREATE TABLE users (id INT PRIMARY KEY, name TEXT)").await?;
//!     pool.exec_drop("INSERT INTO users VALUES (?, ?)", (1, "ada")).await?;
//!     match pool.exec_drop("INSERT INTO users VALUES (?, ?)", (1, "bob")).await {
//!         Err(Error::Server(e)) if e.code == codes::DUP_ENTRY => println!("taken: {}", e.message),
//!         other => panic!("{other:?}"),
//!     }
//!     let rows: Vec<(i32, String)> = pool.query("SELECT id, name FROM users").await?;
//!     assert_eq!(rows, [(1, "ada".to_owned())]);
//!     Ok::<(), Error>(())
//! })
//! .unwrap();
//! ```
//!
//! # Why a blocking client on threads, not a protocol crate on our sockets
//!
//! The candidates, checked in December 2026:
//!
//! - **`mysql_async`** speaks the protocol asynchronously, but on tokio: it
//!   spawns tasks and uses tokio's timers and sockets, so it needs tokio's
//!   runtime running, which this project does not run inside its own.
//! - **`sqlx`'s MySQL driver** runs on sqlx's runtime abstraction, which is
//!   tokio or async-std (another runtime again), and brings sqlx's pool and
//!   macros with it.
//! - **`mysql_common`** has the packets, types and authentication but no
//!   connection logic (handshake, statement cache, result-set state): a
//!   client on top of it over our sockets would be a new driver to write and
//!   keep, for a database the issue asks one tested path for.
//! - **`mysql`** (this crate's choice) is the blocking client maintained
//!   beside `mysql_async` over the same `mysql_common`: the handshake and
//!   authentication (`mysql_native_password`, `caching_sha2_password`), a
//!   per-connection prepared statement cache, transactions. With default
//!   features off it needs no TLS library at all (no OpenSSL, no
//!   native-tls: CI refuses them), and flate2's pure-Rust backend: its
//!   connections are plain text, and TLS options are refused
//!   ([`Error::Unsupported`]): the crate's own TLS feature (`rustls`) pulls
//!   in the old `webpki` 0.22 crate, superseded by `rustls-webpki` and no
//!   longer maintained, and `rustls-pemfile`, archived. Its cost is a thread hop per call, measured
//!   below.
//!
//! # What it costs
//!
//! Every call is one hop: the loop submits a job to the pool, a pool thread
//! wakes, makes the blocking call, and wakes the loop with the result. The
//! hop adds CPU per query and bounds concurrency to the pool's size (extra
//! queries wait in the pool's FIFO queue, not in the server). Use
//! [`Pool::run`] to put several statements in one hop.
//!
//! Client CPU per `SELECT 1` (text protocol, first row): the scheduler's
//! CPU time of every thread of the client process, divided by the queries;
//! 10,000 queries per round, 5 rounds interleaved, against a local MariaDB
//! 10.11 over TCP, on a 2-core VM shared with other work (2026-12-05; this
//! day's machine ran the direct path 2.3× slower than the 6.0 µs measured
//! on 2026-11-29, so compare rows, not days). The server's CPU is not
//! counted. `cargo run --release -p asyncio-mysql --example mysql_cost
//! 10000 5` prints this table.
//!
//! | path | client CPU per query, median (range) | wall per query, median (range) |
//! |---|---|---|
//! | `mysql` crate called directly, one thread | 13.8 µs (11.4–15.0) | 33.8 µs (27.1–34.5) |
//! | [`Pool::query_first`], one at a time, pool of 4 (reset after each job: the default) | 65.6 µs (45.2–71.9) | 65.2 µs (60.7–77.5) |
//! | the same, `reset_connection=false` | 52.8 µs (40.3–61.9) | 47.6 µs (44.0–57.5) |
//! | [`Pool::query_first`], 100 tasks at once, pool of 4 (reset) | 52.1 µs (46.6–54.5) | 45.7 µs (44.0–49.6) |
//!
//! Before the reset between jobs was added, the same day's run gave 50.3 µs
//! CPU and 48.5 µs wall one at a time, 22.9 µs and 22.4 µs under 100 tasks:
//! the reset's round trip is off the caller's path (the answer goes first)
//! but keeps the thread busy, so a saturated pool serves half as many
//! queries, and each costs about 30 µs more client CPU. A program that
//! changes no session state turns it off with `reset_connection=false`.
//!
//! So the hop costs about 15–20 µs of latency per query over a direct call
//! (two thread wake-ups: the pool thread's and the loop's) and several
//! times the client's own CPU share of a local round trip; a query that
//! does real work on the server makes it small in proportion. What the hop
//! buys is that the loop never waits on the network and `size` queries run
//! at once.
//!
//! # Cancellation
//!
//! A thread cannot be interrupted, but the server can stop a statement.
//! Dropping a query's future (a cancelled task, an expired `timeout`)
//! before its job starts removes the job; once started, the statement is
//! killed on the server (`KILL QUERY` for the job's connection, sent from
//! a thread of its own on a new connection; the pool's own connection is
//! kept), the job's result is discarded, and the connection is reset and
//! reused. The kill cannot reach a later statement: the job's thread waits
//! for it to be answered before it moves on; by the same rule, a kill that
//! lands between two statements of a `run` closure is spent when the next
//! one starts, which then runs (see [`Pool::run`]). A statement that had
//! finished before the kill came stays done, so a write whose `timeout`
//! expired may still have committed: retry only what is safe to run twice, or make the
//! write idempotent. To bound a query's time on the server without a
//! client-side timeout, use MariaDB's `SET STATEMENT max_statement_time=N
//! FOR ...` (or MySQL's `MAX_EXECUTION_TIME` hint).

#![forbid(unsafe_code)]

mod error;
mod pool;

pub use error::{codes, Error, ServerError};
pub use pool::{Done, Pool, HEALTH_CHECK_AFTER};

/// The blocking client underneath, for [`Pool::run`]'s closures and for
/// options ([`mysql::OptsBuilder`]).
pub use mysql;
/// Named parameters: `params! { "id" => 1, "name" => "ada" }`.
pub use mysql::params;
pub use mysql::prelude::FromRow;
pub use mysql::{Params, Row, Value};
