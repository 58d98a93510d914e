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
//!   native-tls: CI refuses them), and flate2's pure-Rust backend. Its cost
//!   is a thread hop per call, measured below.
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
//! 20,000 queries per round, 7 rounds interleaved, against a local MariaDB
//! 10.11 over TCP, on a 2-core VM shared with other builds (load average
//! about 5, so single rounds swing: read the medians). The server's CPU is
//! not counted. `cargo run --release -p asyncio-mysql --example mysql_cost
//! 20000 7` prints this table.
//!
//! | path | client CPU per query, median (range) | wall per query, median (range) |
//! |---|---|---|
//! | `mysql` crate called directly, one thread | 6.0 µs (4.9–7.4) | 15.8 µs (12.4–19.3) |
//! | [`Pool::query_first`], one at a time, pool of 4 | 17.2 µs (14.1–59.5) | 33.3 µs (28.9–139) |
//! | [`Pool::query_first`], 100 tasks at once, pool of 4 | 29.5 µs (12.3–38.6) | 28.9 µs (14.0–40.4) |
//!
//! Two earlier runs of 5 rounds gave the same picture (direct: best rounds
//! 4.7–4.8 µs CPU and 12–16 µs wall; the pool one at a time: best rounds
//! 10–12 µs CPU and 26–33 µs wall).
//!
//! So the hop costs about 10 µs of client CPU and 15–20 µs of latency per
//! query (two thread wake-ups: the pool thread's and the loop's), two to
//! three times the client's own share of a local round trip; a query that
//! does real work on the server makes it small in proportion. Under 100
//! tasks the four threads overlap their round trips, so wall time per query
//! stays near one direct round trip's while the loop stays free, but the
//! CPU per query grows with the threads contending for two cores. What the
//! hop buys is that the loop never waits on the network and `size` queries
//! run at once.
//!
//! # Cancellation
//!
//! A thread cannot be interrupted. Dropping a query's future (a cancelled
//! task, an expired `timeout`) before its job starts removes the job;
//! once started, the query runs to completion on its thread, its result is
//! discarded, and the connection is reused afterwards. To bound a query's
//! time on the server, use MariaDB's `SET STATEMENT max_statement_time=N
//! FOR ...` (or MySQL's `MAX_EXECUTION_TIME` hint).

#![forbid(unsafe_code)]

mod error;
mod pool;

pub use error::{codes, Error, ServerError};
pub use pool::{Done, Pool};

/// The blocking client underneath, for [`Pool::run`]'s closures and for
/// options ([`mysql::OptsBuilder`]).
pub use mysql;
/// Named parameters: `params! { "id" => 1, "name" => "ada" }`.
pub use mysql::params;
pub use mysql::prelude::FromRow;
pub use mysql::{Params, Row, Value};
