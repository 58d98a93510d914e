//! [`Pool`]: a small dedicated thread pool, each thread holding one
//! connection, and the async methods that run a blocking query on it.
//!
//! # Design
//!
//! The pool is an [`asyncio::executor::ThreadPoolExecutor`] of `size`
//! threads that never retire while the pool lives. Each query is one job
//! ([`run_in_executor`]): the job finds its thread's connection in a
//! thread-local slot (opened when the pool starts, and again after it broke), runs the blocking call, and
//! puts the connection back. So `size` queries run at once, at most `size`
//! connections are open, and the loop only ever waits on a job's completion,
//! never on the network.
//!
//! A connection leaves its slot while a job uses it, and goes back only when
//! the job ends cleanly or with an error that leaves it usable (a server
//! error, a conversion error, parameters that do not fit). After an I/O or
//! protocol error, or a panic in the caller's closure, it is dropped, and
//! the thread's next job connects anew: a broken or half-used connection is
//! never reused. Queries are not retried (one that failed mid-way may have
//! run).
//!
//! The slot is keyed by the pool's id, so a thread can never use another
//! pool's connection. When the last clone of the pool is dropped, the
//! executor shuts down, its threads exit once their queue is empty, and each
//! thread's connection is closed by the thread-local's destructor.

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use asyncio::executor::{run_in_executor, ThreadPoolExecutor};
use asyncio::sync::oneshot;
use mysql::prelude::{FromRow, Queryable};
use mysql::{Conn, Opts, OptsBuilder, Params, PoolConstraints, Row};

use crate::Error;

/// How long a connection may sit idle before a job pings it first (when
/// the options' `check_health` is on, the default).
pub const HEALTH_CHECK_AFTER: Duration = Duration::from_secs(1);

/// A pool of `size` threads, each with its own connection, running blocking
/// queries for the loop. Clones share the pool.
///
/// # Between jobs
///
/// As the `mysql` crate's own pool does by default (its `PoolOpts`, also
/// set by the URL's `reset_connection` and `check_health`):
/// - *reset*: after each job, before the connection goes back,
///   `COM_RESET_CONNECTION` (the `mysql` crate's [`Conn::reset`]) rolls back
///   an open transaction, releases table locks and `GET_LOCK` locks, drops
///   temporary tables, user variables and `PREPARE`d statements, restores
///   the session's variables, then runs the options' `init` statements
///   again: the next job, on whichever thread, starts from a fresh
///   session. Except for its current database: the server keeps the one a
///   `USE` chose (as after the `mysql` crate's own pool's reset; restoring
///   it would cost every job another round trip), so a job that switches
///   database should switch back, or name tables with their database.
///   The reset costs one round trip per job, after the job's answer has
///   gone to the caller (a query's latency does not include it; the thread
///   is busy for it before its next job), and it empties the statement
///   cache (each [`exec`](Pool::exec) then prepares
///   again). `reset_connection=false` (or
///   [`PoolOpts::with_reset_connection`](mysql::PoolOpts::with_reset_connection))
///   turns it off for a program that changes no session state (then
///   a repeated statement is one round trip). A reset that fails drops the
///   connection.
/// - *health check*: a connection idle for more than
///   [`HEALTH_CHECK_AFTER`] is pinged before the job uses it; one that does
///   not answer (the server closed it after `wait_timeout`, or restarted) is
///   dropped and the job connects anew, so the job is not lost to a
///   connection that died while idle. `check_health=false` turns it off.
///
/// # Timeouts
///
/// Unless the options say otherwise, connections are made with a 10 s
/// timeout for the TCP connect (not for the handshake after it), TCP
/// keepalive (a probe after 60 s of silence, then every 10 s, dead after 6
/// unanswered) and, on Linux, a 120 s `TCP_USER_TIMEOUT` (data written and
/// not acknowledged for that long: dead): a server that vanished without
/// closing (a host that went down, a dropped route) fails the thread
/// waiting on it within about two minutes, whether it was idle or had just
/// sent a query, instead of parking it for ever (without the user timeout,
/// the kernel's retransmissions take about 15 minutes to give up). A query
/// that legitimately runs longer is not affected (the server's kernel
/// acknowledges the request and answers the probes).
///
/// # Example
///
/// ```no_run
/// # asyncio::run(async {
/// let pool = asyncio_mysql::Pool::connect("mysql://user:pw@127.0.0.1:3306/test", 4).await?;
/// let n: Option<i64> = pool.exec_first("SELECT ? + 1", (41,)).await?;
/// assert_eq!(n, Some(42));
/// # Ok::<(), asyncio_mysql::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Pool {
    executor: ThreadPoolExecutor,
    target: Arc<Target>,
}

/// What a pool thread connects to, the pool it belongs to, and what
/// happens between jobs.
struct Target {
    id: u64,
    opts: Opts,
    reset: bool,
    check_health: bool,
}

/// A pool thread's connection, its pool's id, and when its last job ended.
struct Slot {
    pool: u64,
    conn: Conn,
    idle_since: Instant,
}

impl Slot {
    /// `conn`, back in its thread's slot after a job (or just opened).
    fn idle(target: &Target, conn: Conn) -> Slot {
        Slot {
            pool: target.id,
            conn,
            idle_since: Instant::now(),
        }
    }
}

/// What a statement that returns no rows did: [`Pool::exec_drop`],
/// [`Pool::query_drop`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Done {
    /// Rows inserted, updated or deleted.
    pub affected_rows: u64,
    /// The `AUTO_INCREMENT` id the statement generated, if it did.
    pub last_insert_id: Option<u64>,
}

thread_local! {
    /// This pool thread's connection.
    static CONN: RefCell<Option<Slot>> = const { RefCell::new(None) };
}

/// Runs `f` on this thread's connection to `target`: connecting first if
/// there is none, pinging it first if it has been idle (see the module
/// docs). Sends `f`'s result on `reply` as soon as it has one; then the
/// connection goes back to the slot, reset, unless `f` broke it or the
/// reset failed. (If `f` panics, the unwinding drops `reply` and the
/// connection.)
fn on_conn<R>(
    target: &Target,
    f: impl FnOnce(&mut Conn) -> Result<R, mysql::Error>,
    reply: oneshot::Sender<Result<R, Error>>,
    job: &JobState,
) {
    CONN.with(|slot| {
        let mut slot = slot.borrow_mut();
        let kept = slot.take().filter(|s| s.pool == target.id).and_then(|mut s| {
            let stale = target.check_health && s.idle_since.elapsed() > HEALTH_CHECK_AFTER;
            (!stale || s.conn.ping().is_ok()).then_some(s.conn)
        });
        let mut conn = match kept {
            Some(conn) => conn,
            None => match Conn::new(target.opts.clone()) {
                Ok(conn) => conn,
                Err(e) => {
                    let _ = reply.send(Err(Error::from_connect(e)));
                    return;
                }
            },
        };
        let result = {
            let Some(_running) = job.start(conn.connection_id()) else {
                // Its caller went away before it started: nothing to run.
                *slot = Some(Slot::idle(target, conn));
                return;
            };
            f(&mut conn)
            // (`_running` ends the job here, waiting for a kill request
            // under way for it, also when `f` panics.)
        };
        let usable = !matches!(&result, Err(e) if Error::breaks_connection(e));
        // The caller has its answer before the reset's round trip: its
        // next job goes to another thread if one is free.
        let _ = reply.send(result.map_err(Error::from));
        if usable && (!target.reset || conn.reset().is_ok()) {
            *slot = Some(Slot::idle(target, conn));
        }
    })
}

/// Opens this thread's connection if it has none, then waits at `gate`
/// until every thread of the pool has tried (so that the `size` jobs of
/// [`Pool::connect`] land on `size` different threads).
fn open(target: &Target, gate: &Gate) -> Result<(), Error> {
    let opened = CONN.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.as_ref().is_some_and(|s| s.pool == target.id) {
            return Ok(());
        }
        let conn = Conn::new(target.opts.clone()).map_err(Error::from_connect)?;
        *slot = Some(Slot::idle(target, conn));
        Ok(())
    });
    gate.arrive_and_wait();
    opened
}

/// A barrier with a time limit: a thread waits for the others at most
/// [`DEFAULT_CONNECT_TIMEOUT`] (a pool whose opening was abandoned must not
/// hold its threads for ever).
struct Gate {
    arrived: Mutex<usize>,
    all: std::sync::Condvar,
    of: usize,
}

impl Gate {
    fn arrive_and_wait(&self) {
        let mut arrived = self.arrived.lock().unwrap_or_else(|e| e.into_inner());
        *arrived += 1;
        self.all.notify_all();
        let _ = self
            .all
            .wait_timeout_while(arrived, DEFAULT_CONNECT_TIMEOUT, |n| *n < self.of);
    }
}

/// Where one job is, shared by its pool thread and its caller's future, so
/// that a caller who goes away while its statement runs can have the server
/// stop it (`KILL QUERY`) without the kill landing on a later statement.
#[derive(Default)]
struct JobState(Mutex<Phase>);

#[derive(Default, Clone, Copy)]
enum Phase {
    #[default]
    Waiting,
    /// On this connection (its id on the server).
    Running(u32),
    Finished,
    /// Its caller went away before it started.
    Abandoned,
}

/// Ends a running job when dropped (also by unwinding).
struct Running<'a>(&'a JobState);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        // Waits for a `KILL QUERY` being sent for this job: once it is
        // answered, the server has marked the statement, so the mark cannot
        // reach the connection's next command (the server clears a pending
        // query kill when a command starts).
        *lock(&self.0 .0) = Phase::Finished;
    }
}

impl JobState {
    /// Marks the job running on connection `id`; `None` if its caller has
    /// gone.
    fn start(&self, id: u32) -> Option<Running<'_>> {
        let mut phase = lock(&self.0);
        if matches!(*phase, Phase::Abandoned) {
            return None;
        }
        *phase = Phase::Running(id);
        Some(Running(self))
    }
}

fn lock(m: &Mutex<Phase>) -> std::sync::MutexGuard<'_, Phase> {
    // A panic never happens while the lock is held; ignore poisoning.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Held by [`Pool::run`]'s future until it has its answer: dropped before
/// (a cancelled task, an expired timeout), it stops the job. A job not yet
/// started is abandoned; a running one gets `KILL QUERY` for its connection,
/// sent from a thread of its own on a new connection (the statement then
/// ends with `ER_QUERY_INTERRUPTED`, and the connection is kept).
struct KillOnDrop {
    job: Arc<JobState>,
    target: Arc<Target>,
    armed: bool,
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut phase = lock(&self.job.0);
        match *phase {
            Phase::Waiting => *phase = Phase::Abandoned,
            Phase::Running(_) => {
                drop(phase);
                // Bounded: a server that takes the connection and then
                // stalls must not hold the kill's thread (nor, below, the
                // job's, which waits for the lock) for ever.
                let opts: Opts = OptsBuilder::from_opts(self.target.opts.clone())
                    .read_timeout(Some(DEFAULT_CONNECT_TIMEOUT))
                    .write_timeout(Some(DEFAULT_CONNECT_TIMEOUT))
                    .into();
                let job = self.job.clone();
                let spawned = std::thread::Builder::new()
                    .name("asyncio-mysql-kill".into())
                    .spawn(move || {
                        // Connected before the lock is taken: the job may
                        // end meanwhile without waiting for a handshake.
                        let mut conn = match Conn::new(opts) {
                            Ok(conn) => conn,
                            Err(e) => {
                                tracing::warn!(error = %e, "asyncio-mysql: could not connect to kill a cancelled job's statement; it runs to its end");
                                return;
                            }
                        };
                        // Held while the kill is sent: the job cannot end
                        // (and its thread go on to another command) until
                        // the server has taken the kill.
                        let phase = lock(&job.0);
                        if let Phase::Running(id) = *phase {
                            if let Err(e) = conn.query_drop(format!("KILL QUERY {id}")) {
                                tracing::warn!(error = %e, "asyncio-mysql: KILL QUERY {id} for a cancelled job failed");
                            }
                        }
                        drop(phase);
                    });
                // No thread to be had: the statement runs to its end, as
                // before this existed.
                drop(spawned);
            }
            Phase::Finished | Phase::Abandoned => {}
        }
    }
}

/// Rows to `T`, a conversion failure as the client's own error.
fn convert<T: FromRow>(rows: Vec<Row>) -> Result<Vec<T>, mysql::Error> {
    rows.into_iter().map(convert_one).collect()
}

fn convert_one<T: FromRow>(row: Row) -> Result<T, mysql::Error> {
    T::from_row_opt(row).map_err(|e| mysql::Error::FromRowError(e.0))
}

fn done(conn: &Conn) -> Done {
    Done {
        affected_rows: conn.affected_rows(),
        last_insert_id: Some(conn.last_insert_id()).filter(|&id| id != 0),
    }
}

impl Pool {
    /// Parses `url` (`mysql://user:password@host:port/database`, the
    /// `mysql` crate's URL with its options) and starts a pool of `size`
    /// threads, each opening its connection now (in parallel), so that a
    /// wrong address, user or database, or a server that cannot take `size`
    /// more connections, fails here. A thread whose connection breaks later
    /// opens a new one for its next job.
    ///
    /// # Errors
    /// [`Error::Url`], [`Error::Unsupported`] (TLS, the `mysql` crate's
    /// `pool_min`/`pool_max`), [`Error::Connect`] (refused, unreachable),
    /// [`Error::Server`] (wrong password: [`codes::ACCESS_DENIED`]; unknown
    /// database: [`codes::BAD_DB`]), or [`Error::Driver`] (an unsupported
    /// authentication plugin, …).
    ///
    /// # Panics
    /// If `size` is 0.
    ///
    /// # Cancel safety
    /// Dropping the future drops the pool: connects not yet started are
    /// cancelled; one under way finishes on its thread (which waits for the
    /// others at most 10 s), and the thread then exits and closes it.
    ///
    /// [`codes::ACCESS_DENIED`]: crate::codes::ACCESS_DENIED
    /// [`codes::BAD_DB`]: crate::codes::BAD_DB
    pub async fn connect(url: &str, size: usize) -> Result<Pool, Error> {
        let opts = Opts::from_url(url).map_err(|e| Error::Url(e.to_string()))?;
        Self::connect_with(opts, size).await
    }

    /// As [`connect`](Self::connect), from options built with
    /// [`mysql::OptsBuilder`] (a Unix socket, timeouts, the statement cache
    /// size, ...).
    ///
    /// # Errors
    /// As [`connect`](Self::connect), without [`Error::Url`].
    ///
    /// # Panics
    /// If `size` is 0.
    ///
    /// # Cancel safety
    /// As [`connect`](Self::connect).
    pub async fn connect_with(opts: impl Into<Opts>, size: usize) -> Result<Pool, Error> {
        assert!(size > 0, "a pool needs at least one thread");
        let opts = checked_opts(opts.into())?;
        let pool_opts = opts.get_pool_opts();
        let (reset, check_health) = (pool_opts.reset_connection(), pool_opts.check_health());
        static POOLS: AtomicU64 = AtomicU64::new(0);
        let executor = ThreadPoolExecutor::builder()
            .max_workers(size)
            .thread_name_prefix("asyncio-mysql")
            .idle_timeout(None)
            .build();
        let pool = Pool {
            executor,
            target: Arc::new(Target {
                id: POOLS.fetch_add(1, Ordering::Relaxed),
                opts,
                reset,
                check_health,
            }),
        };
        // Every thread opens its connection now, each in its own job.
        let gate = Arc::new(Gate {
            arrived: Mutex::new(0),
            all: std::sync::Condvar::new(),
            of: size,
        });
        let jobs: Vec<_> = (0..size)
            .map(|_| {
                let (target, gate) = (pool.target.clone(), gate.clone());
                run_in_executor(&pool.executor, move || open(&target, &gate))
            })
            .collect();
        let mut failed = None;
        for job in jobs {
            let result = job.await.map_err(Error::from_job).and_then(|r| r);
            if let Err(e) = result {
                failed.get_or_insert(e);
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(pool),
        }
    }

    /// The most queries this pool runs at once (its threads and
    /// connections).
    pub fn size(&self) -> usize {
        self.executor.max_workers()
    }

    /// Runs `f` with one connection on a pool thread: several statements in
    /// one thread hop, a transaction, or any call of the `mysql` crate's
    /// [`Queryable`]. Whatever `f` leaves in the session (an open
    /// transaction, locks, variables, temporary tables) is reset before the
    /// connection is used again (see [`Pool`]; not with
    /// `reset_connection=false`, though a `mysql::Transaction` guard that `f`
    /// drops uncommitted still rolls back).
    ///
    /// ```no_run
    /// # async fn demo(pool: &asyncio_mysql::Pool) -> Result<(), asyncio_mysql::Error> {
    /// use asyncio_mysql::mysql::{prelude::Queryable, TxOpts};
    /// pool.run(|conn| {
    ///     let mut tx = conn.start_transaction(TxOpts::default())?;
    ///     tx.exec_drop("UPDATE accounts SET balance = balance - ? WHERE id = ?", (10, 1))?;
    ///     tx.exec_drop("UPDATE accounts SET balance = balance + ? WHERE id = ?", (10, 2))?;
    ///     tx.commit()
    /// })
    /// .await
    /// # }
    /// ```
    ///
    /// # Errors
    /// What `f` returns, [`Error::Connect`] if the thread had to connect and
    /// could not, [`Error::Panicked`] if `f` panicked, [`Error::Closed`].
    ///
    /// # Cancel safety
    /// Dropping the future before `f` starts cancels it. Once started, the
    /// statement `f` is running when the kill lands is stopped by the server
    /// (`KILL QUERY` for its connection, sent from a thread of its own on a
    /// new connection: the statement fails with `ER_QUERY_INTERRUPTED`,
    /// 1317); `f` itself runs on to its end on its thread (a thread cannot
    /// be interrupted), and its result is discarded. The connection is then
    /// reset (which rolls back a transaction left open) and reused. A kill
    /// that lands *between* two of `f`'s statements is spent by the server
    /// when the next one starts, which then runs: a closure of several
    /// short statements may run to its end, commit included. A statement
    /// that had already finished when the kill came stays done: a write may
    /// still have committed. Behind a load balancer that spreads one host
    /// name over several servers, the kill's connection may reach another
    /// server, where the id is someone else's session (whose statement, if
    /// it is the same user's, would be stopped instead): use a pool per
    /// server there.
    pub async fn run<F, R>(&self, f: F) -> Result<R, Error>
    where
        F: FnOnce(&mut Conn) -> Result<R, mysql::Error> + Send + 'static,
        R: Send + 'static,
    {
        let (target, state) = (self.target.clone(), Arc::new(JobState::default()));
        let mut kill = KillOnDrop {
            job: state.clone(),
            target: target.clone(),
            armed: true,
        };
        let (reply, answer) = oneshot::channel();
        // Dropped with this future, the job is cancelled if it has not
        // started, and its statement killed if it has (`kill`).
        let job = run_in_executor(&self.executor, move || on_conn(&target, f, reply, &state));
        let answer = answer.await;
        kill.armed = false;
        match answer {
            Ok(result) => result,
            // No answer: the job panicked, or never ran (the pool is shut
            // down); its handle says which.
            Err(_) => match job.await {
                Err(e) => Err(Error::from_job(e)),
                Ok(()) => Err(Error::Closed),
            },
        }
    }

    /// Runs a text query (no parameters) and returns its rows
    /// (`SELECT`, `SHOW`).
    ///
    /// # Errors
    /// [`Error::Server`] for what the server rejects, [`Error::Conversion`]
    /// when a row is not a `T`, [`Error::Io`] when the connection fails.
    ///
    /// # Cancel safety
    /// As [`run`](Self::run): a dropped future has a started query killed
    /// on the server.
    pub async fn query<T>(&self, sql: impl Into<String>) -> Result<Vec<T>, Error>
    where
        T: FromRow + Send + 'static,
    {
        let sql = sql.into();
        self.run(move |c| convert(c.query(sql)?)).await
    }

    /// Runs a text query and returns its first row, if any.
    ///
    /// # Errors
    /// As [`query`](Self::query).
    ///
    /// # Cancel safety
    /// As [`run`](Self::run).
    pub async fn query_first<T>(&self, sql: impl Into<String>) -> Result<Option<T>, Error>
    where
        T: FromRow + Send + 'static,
    {
        let sql = sql.into();
        self.run(move |c| c.query_first::<Row, _>(sql)?.map(convert_one).transpose())
            .await
    }

    /// Runs text statements that return no rows (`CREATE`, `INSERT`,
    /// several separated by `;`).
    ///
    /// # Errors
    /// As [`query`](Self::query), without conversion.
    ///
    /// # Cancel safety
    /// As [`run`](Self::run).
    pub async fn query_drop(&self, sql: impl Into<String>) -> Result<Done, Error> {
        let sql = sql.into();
        self.run(move |c| {
            c.query_drop(sql)?;
            Ok(done(c))
        })
        .await
    }

    /// Runs a statement with parameters (`?` placeholders, a tuple or
    /// [`params!`](macro@crate::params)) and returns its rows. The statement is
    /// prepared, then executed: two round trips, since the reset after each
    /// job deallocates the connection's prepared statements (and the
    /// `mysql` crate empties its statement cache with it). With
    /// `reset_connection=false` the cache (32 statements by default) keeps
    /// them, and a repeated statement is one round trip.
    ///
    /// # Errors
    /// As [`query`](Self::query), and [`Error::Params`] when the parameters
    /// do not match the placeholders.
    ///
    /// # Cancel safety
    /// As [`run`](Self::run).
    pub async fn exec<T, P>(&self, sql: impl Into<String>, params: P) -> Result<Vec<T>, Error>
    where
        T: FromRow + Send + 'static,
        P: Into<Params> + Send + 'static,
    {
        let sql = sql.into();
        self.run(move |c| convert(c.exec(sql, params)?)).await
    }

    /// As [`exec`](Self::exec), returning the first row, if any.
    ///
    /// # Errors
    /// As [`exec`](Self::exec).
    ///
    /// # Cancel safety
    /// As [`run`](Self::run).
    pub async fn exec_first<T, P>(&self, sql: impl Into<String>, params: P) -> Result<Option<T>, Error>
    where
        T: FromRow + Send + 'static,
        P: Into<Params> + Send + 'static,
    {
        let sql = sql.into();
        self.run(move |c| c.exec_first::<Row, _, _>(sql, params)?.map(convert_one).transpose())
            .await
    }

    /// Runs a statement with parameters that returns no rows (`INSERT`,
    /// `UPDATE`, `DELETE`), returning the affected rows and the generated
    /// id.
    ///
    /// # Errors
    /// As [`exec`](Self::exec); a duplicate key is [`Error::Server`] with
    /// [`codes::DUP_ENTRY`](crate::codes::DUP_ENTRY).
    ///
    /// # Cancel safety
    /// As [`run`](Self::run).
    pub async fn exec_drop<P>(&self, sql: impl Into<String>, params: P) -> Result<Done, Error>
    where
        P: Into<Params> + Send + 'static,
    {
        let sql = sql.into();
        self.run(move |c| {
            c.exec_drop(sql, params)?;
            Ok(done(c))
        })
        .await
    }

    /// Runs one statement once per parameter set, on one connection in one
    /// thread hop (`executemany`). Not atomic: wrap it in a transaction with
    /// [`run`](Self::run) for all-or-nothing.
    ///
    /// # Errors
    /// As [`exec`](Self::exec); it stops at the first failing set.
    ///
    /// # Cancel safety
    /// As [`run`](Self::run).
    pub async fn exec_batch<P, I>(&self, sql: impl Into<String>, params: I) -> Result<(), Error>
    where
        P: Into<Params> + Send + 'static,
        I: IntoIterator<Item = P>,
    {
        let sql = sql.into();
        let params: Vec<P> = params.into_iter().collect();
        self.run(move |c| c.exec_batch(sql, params)).await
    }

    /// Stops taking queries and waits for the pool's threads to finish the
    /// queries already submitted and close their connections. Other clones
    /// then fail with [`Error::Closed`]. Dropping the last clone closes the
    /// pool too, without waiting.
    ///
    /// # Cancel safety
    /// The pool is shut down at the first poll; dropping the future then
    /// only stops the waiting.
    pub async fn close(&self) {
        // Stop taking jobs now, whatever happens to this future; then wait
        // (blocking) on a thread of its own.
        self.executor.shutdown(false, false);
        let executor = self.executor.clone();
        let _ = asyncio::to_thread(move || executor.shutdown(true, false)).await;
    }
}

/// The options as this pool uses them: refused where they ask for what it
/// does not do (TLS, the `mysql` crate's own pool sizes), completed with
/// its defaults (a connect timeout, TCP keepalive) where they say nothing.
fn checked_opts(opts: Opts) -> Result<Opts, Error> {
    if opts.get_ssl_opts().is_some() {
        return Err(Error::Unsupported(
            "TLS (ssl_opts; root_cert_path or danger_accept_invalid_certs in the URL): asyncio-mysql is built \
             without the mysql crate's TLS; its connections are plain text"
                .into(),
        ));
    }
    if opts.get_pool_opts().constraints() != PoolConstraints::default() {
        return Err(Error::Unsupported(
            "pool_min / pool_max size the mysql crate's own pool: this pool's size is Pool::connect's `size`".into(),
        ));
    }
    let mut builder = OptsBuilder::from_opts(opts.clone());
    if opts.get_tcp_connect_timeout().is_none() {
        builder = builder.tcp_connect_timeout(Some(DEFAULT_CONNECT_TIMEOUT));
    }
    // Keepalive probes only an idle socket: with a request written and not
    // acknowledged (a ping or a query sent to a host that went down), the
    // kernel's retransmissions would take about 15 minutes to give up.
    #[cfg(target_os = "linux")]
    if opts.get_tcp_user_timeout_ms().is_none() {
        builder = builder.tcp_user_timeout_ms(Some(DEFAULT_USER_TIMEOUT_MS));
    }
    if opts.get_tcp_keepalive_time_ms().is_none() {
        builder = builder.tcp_keepalive_time_ms(Some(DEFAULT_KEEPALIVE_MS));
        // (The `mysql` crate sets the probes' interval and count on these
        // systems only.)
        #[cfg(any(target_os = "linux", target_os = "macos"))]
        if opts.get_tcp_keepalive_probe_interval_secs().is_none() && opts.get_tcp_keepalive_probe_count().is_none() {
            builder = builder
                .tcp_keepalive_probe_interval_secs(Some(DEFAULT_KEEPALIVE_INTERVAL_SECS))
                .tcp_keepalive_probe_count(Some(DEFAULT_KEEPALIVE_PROBES));
        }
    }
    Ok(builder.into())
}

/// The connect timeout when the options set none.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// TCP keepalive when the options set none: the first probe after 60 s
/// of silence, then every 10 s, 6 unanswered probes and the connection is
/// dead (2 minutes in all; the kernel's defaults would take over 2 hours).
const DEFAULT_KEEPALIVE_MS: u32 = 60_000;

/// How long written data may stay unacknowledged before the connection is
/// taken for dead (`TCP_USER_TIMEOUT`, Linux), when the options set none.
#[cfg(target_os = "linux")]
const DEFAULT_USER_TIMEOUT_MS: u32 = 120_000;
#[cfg(any(target_os = "linux", target_os = "macos"))]
const DEFAULT_KEEPALIVE_INTERVAL_SECS: u32 = 10;
#[cfg(any(target_os = "linux", target_os = "macos"))]
const DEFAULT_KEEPALIVE_PROBES: u32 = 6;

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("id", &self.target.id)
            .field("size", &self.size())
            .field("threads", &self.executor.threads())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(any(target_os = "linux", target_os = "macos"))]
    fn defaults_fill_only_what_the_options_leave_out() {
        let opts = checked_opts(Opts::from_url("mysql://u@h/db").unwrap()).unwrap();
        assert_eq!(opts.get_tcp_connect_timeout(), Some(DEFAULT_CONNECT_TIMEOUT));
        assert_eq!(opts.get_tcp_keepalive_time_ms(), Some(60_000));
        assert_eq!(opts.get_tcp_keepalive_probe_interval_secs(), Some(10));
        assert_eq!(opts.get_tcp_keepalive_probe_count(), Some(6));
        let opts = Opts::from_url("mysql://u@h/db?tcp_connect_timeout_ms=500&tcp_keepalive_time_ms=1000").unwrap();
        let opts = checked_opts(opts).unwrap();
        assert_eq!(opts.get_tcp_connect_timeout(), Some(Duration::from_millis(500)));
        assert_eq!(opts.get_tcp_keepalive_time_ms(), Some(1000));
        assert_eq!(
            opts.get_tcp_keepalive_probe_interval_secs(),
            None,
            "the user's keepalive, as given"
        );
    }
}
