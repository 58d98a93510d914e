//! [`Connection`]: one session with the server, and its queries in
//! asyncpg's words.
//!
//! # Design
//! tokio-postgres splits a session into a `Client` (sends requests) and a
//! `Connection` future (drives the socket); the latter runs as an asyncio
//! task for the session's life and ends when the `Client` is dropped.
//!
//! **Statement cache.** Every query goes through a per-connection cache of
//! prepared statements keyed by the SQL text (up to
//! [`STATEMENT_CACHE_SIZE`], least recently used evicted; evicting closes
//! the statement on the server). The first run of a text costs a prepare
//! round trip; every later run is one round trip (bind, execute, sync), as
//! asyncpg's cache does. A cached statement gone stale (the table's columns
//! changed: "cached plan must not change result type"; or deallocated by a
//! `DEALLOCATE ALL`) empties the cache, and outside a transaction the query
//! runs again, prepared anew.
//!
//! **Clean-ups.** Some work must happen after a future is dropped, when no
//! one can await it: a cancel request for a query whose future was dropped
//! while it ran, a `ROLLBACK` for a transaction guard dropped without
//! commit. `Drop` queues it, in order, and one clean-up task per connection
//! runs the queue. Every operation first waits until the queue is empty, so
//! a cancel request never reaches the statement that comes after the one it
//! was meant for, and no statement runs inside a transaction already
//! abandoned.
//!
//! **Cancellation.** A query's future is "in flight" from its first poll
//! to its answer. Dropped in flight (a [`timeout`](asyncio::timeout), a
//! cancelled task), it queues a cancel: the clean-up task opens a new socket
//! to the session's server (its address, not a new look-up of its name),
//! sends the cancel request with the session's key (tokio-postgres's
//! `CancelToken::cancel_query_raw`), waits for the server to close that
//! socket (it has signalled the session by then), then runs `SELECT 1`
//! until it succeeds, so that the interrupt is spent before anything else
//! runs (if the query had already finished, the interrupt lands on that
//! `SELECT 1`, not on the next statement). All of it within 10 s; a cancel
//! that cannot be delivered or does not take effect by then marks the
//! connection unfit for a pool, which discards it. A cancel request names a session,
//! not a statement: when other queries of the same connection are in flight
//! (pipelined from other tasks), no cancel is sent and the dropped query
//! runs to its end on the server, its answer discarded. A prepare is not
//! cancelled but finished in the background, so that the statement it
//! allocates on the server is closed.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;
use std::task::Poll;

use asyncio::sync::{oneshot, Event};
use asyncio::Task;
use futures_util::TryStreamExt;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSqlOwned, ToSql};
use tokio_postgres::{AsyncMessage, CancelToken, Client, NoTls, Row, Statement};

use crate::dsn::Target;
use crate::listener::Listeners;
use crate::Error;

/// How many prepared statements a connection keeps (asyncpg's default).
pub const STATEMENT_CACHE_SIZE: usize = 100;

/// A query parameter: any value tokio-postgres can send
/// (`&1i32`, `&"text"`, `&Some(2.5f64)`, …).
pub type Param<'a> = &'a (dyn ToSql + Sync);

/// One session with a PostgreSQL server, from [`connect`](crate::connect).
///
/// Loop-bound (`!Send`). Queries take `&self`: several tasks may share a
/// connection (`Rc`), their queries then pipelined on its socket; a
/// [transaction](Connection::transaction) takes `&mut self`.
pub struct Connection {
    pub(crate) client: Rc<Client>,
    pub(crate) shared: Rc<Shared>,
    driver: Option<Task<()>>,
}

/// What the connection, its clean-up task and its guards share.
pub(crate) struct Shared {
    cache: RefCell<StatementCache>,
    cleanups: RefCell<std::collections::VecDeque<Cleanup>>,
    /// Set while no clean-up is queued or running.
    idle: Event,
    cleaning: Cell<bool>,
    in_flight: Cell<usize>,
    pub(crate) tx_depth: Cell<u32>,
    /// Set when a query saw the session end (a FATAL error, a broken
    /// socket), possibly before the driver task has noticed.
    ended: Cell<bool>,
    /// Set when a cancel could not be delivered, or the session stayed
    /// busy after it: not to be handed out by a pool again.
    cancel_failed: Cell<bool>,
    /// Cancels queued or running (each may wait up to its settle bound).
    cancels: Cell<u32>,
    cancel: CancelToken,
    /// The session's TLS (and the server name), for the cancel request:
    /// a session in TLS sends it in TLS too.
    #[cfg(feature = "tls")]
    cancel_tls: Option<(crate::tls::Tls, String)>,
    pub(crate) listeners: Rc<Listeners>,
    target: Target,
    /// Why the driver task ended, if it ended with an error.
    closed_reason: Rc<RefCell<Option<String>>>,
    client: std::rc::Weak<Client>,
}

/// Work queued by a `Drop`, run by the clean-up task.
pub(crate) enum Cleanup {
    /// Cancel the statement running now, then spend the interrupt.
    Cancel,
    /// Run this SQL (`ROLLBACK`, `ROLLBACK TO SAVEPOINT …`), and tell the
    /// server's answer to whoever waits for it.
    Sql(String, Option<Answer>),
    /// Finish a prepare whose caller went away after it was sent, so that
    /// the statement it makes is dropped, which closes it on the server
    /// (tokio-postgres names the statement only in its answer: dropped
    /// half-way, it would stay allocated for the session's life).
    Finish(std::pin::Pin<Box<dyn Future<Output = ()>>>),
}

/// The server's answer to a queued clean-up, for a caller that waits for
/// it ([`Transaction::rollback`](crate::Transaction::rollback)); dropped
/// unanswered if the clean-up never runs (the loop or the session is
/// gone).
pub(crate) type Answer = oneshot::Sender<Result<(), tokio_postgres::Error>>;

/// Keyed by the SQL text, hashed with FxHash (rustc-hash): the key is our
/// users' own SQL, not an attacker's, and SipHash's flood resistance cost
/// about 120 instructions per query on a 48-byte statement.
#[derive(Default)]
struct StatementCache {
    statements: HashMap<String, (Statement, u64), rustc_hash::FxBuildHasher>,
    clock: u64,
}

/// Awaits one request of the protocol code as an in-flight query (a cancel
/// request if dropped before its answer) and maps its error: what
/// [`Connection::run`] does, written in place on the hot paths so the
/// request's future is built where it is awaited instead of being moved
/// through another future (two copies of a future of some hundred bytes
/// per query).
macro_rules! in_flight {
    ($conn:expr, $request:expr) => {{
        let guard = InFlight::new(&$conn.shared);
        let result = $request.await;
        guard.finish();
        result.map_err(|e| $conn.map_error(e))
    }};
}

impl Connection {
    pub(crate) fn new<S, T>(
        client: Client,
        connection: tokio_postgres::Connection<S, T>,
        target: Target,
        #[cfg(feature = "tls")] cancel_tls: Option<(crate::tls::Tls, String)>,
    ) -> Connection
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + 'static,
    {
        let closed_reason = Rc::new(RefCell::new(None));
        let reason = closed_reason.clone();
        let listeners = Rc::new(Listeners::default());
        let dispatch = listeners.clone();
        let driver = asyncio::create_task(async move {
            let mut connection = connection;
            loop {
                match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(notification))) => dispatch.dispatch(notification),
                    // Notices (warnings the server sends beside answers).
                    Some(Ok(AsyncMessage::Notice(notice))) => dispatch.notice(notice),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        *reason.borrow_mut() = Some(e.to_string());
                        break;
                    }
                    None => break,
                }
            }
            dispatch.shut_down();
        });
        let idle = Event::new();
        idle.set();
        let client = Rc::new(client);
        let shared = Rc::new(Shared {
            cache: RefCell::default(),
            cleanups: RefCell::default(),
            idle,
            cleaning: Cell::new(false),
            in_flight: Cell::new(0),
            tx_depth: Cell::new(0),
            ended: Cell::new(false),
            cancel_failed: Cell::new(false),
            cancels: Cell::new(0),
            cancel: client.cancel_token(),
            #[cfg(feature = "tls")]
            cancel_tls,
            listeners,
            target,
            closed_reason,
            client: Rc::downgrade(&client),
        });
        Connection {
            client,
            shared,
            driver: Some(driver),
        }
    }

    /// Runs `sql` with `params` and returns all its rows.
    ///
    /// # Errors
    /// [`Error::Server`] if the server refuses the statement,
    /// [`Error::Client`] if a parameter does not convert, [`Error::Closed`]
    /// if the connection is gone.
    ///
    /// # Cancel safety
    /// Dropping the future while the query runs sends the server a cancel
    /// request for it (see the [module docs](self)); the connection stays
    /// usable. Nothing is lost but the dropped query's rows.
    pub async fn fetch(&self, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, Error> {
        let statement = self.statement(sql).await?;
        match in_flight!(self, self.client.query(&statement, params)) {
            Err(e) if self.may_retry(&e) => {
                let statement = self.statement(sql).await?;
                in_flight!(self, self.client.query(&statement, params))
            }
            result => result,
        }
    }

    /// Runs `sql` and returns its first row, or `None` if it returns none
    /// (the other rows, if any, are discarded).
    ///
    /// # Errors
    /// As [`fetch`](Connection::fetch).
    ///
    /// # Cancel safety
    /// As [`fetch`](Connection::fetch).
    pub async fn fetchrow(&self, sql: &str, params: &[Param<'_>]) -> Result<Option<Row>, Error> {
        let statement = self.statement(sql).await?;
        match in_flight!(self, first_row(&self.client, &statement, params)) {
            Err(e) if self.may_retry(&e) => {
                let statement = self.statement(sql).await?;
                in_flight!(self, first_row(&self.client, &statement, params))
            }
            result => result,
        }
    }

    /// Runs `sql` and returns the first column of its first row as `T`, or
    /// `None` if it returns no row. A `NULL` needs `T = Option<_>`.
    ///
    /// # Errors
    /// As [`fetch`](Connection::fetch); [`Error::Client`] if the value does
    /// not convert to `T` or the statement returns no columns.
    ///
    /// # Cancel safety
    /// As [`fetch`](Connection::fetch).
    pub async fn fetchval<T: FromSqlOwned>(&self, sql: &str, params: &[Param<'_>]) -> Result<Option<T>, Error> {
        match self.fetchrow(sql, params).await? {
            None => Ok(None),
            Some(row) => row.try_get::<_, T>(0).map(Some).map_err(Error::Client),
        }
    }

    /// Runs `sql` and returns how many rows it affected (0 for statements
    /// that affect none).
    ///
    /// # Errors
    /// As [`fetch`](Connection::fetch).
    ///
    /// # Cancel safety
    /// As [`fetch`](Connection::fetch).
    pub async fn execute(&self, sql: &str, params: &[Param<'_>]) -> Result<u64, Error> {
        let statement = self.statement(sql).await?;
        match in_flight!(self, self.client.execute(&statement, params)) {
            Err(e) if self.may_retry(&e) => {
                let statement = self.statement(sql).await?;
                in_flight!(self, self.client.execute(&statement, params))
            }
            result => result,
        }
    }

    /// Whether `error` says a cached statement went stale (its result type
    /// changed with the schema, or the server deallocated it) and the
    /// statement may run again, prepared anew, as asyncpg does: only outside
    /// a transaction, which the error would have aborted.
    fn may_retry(&self, error: &Error) -> bool {
        let Some(e) = error.as_server_error() else { return false };
        stale_statement(e.db_error()) && self.shared.tx_depth.get() == 0
    }

    /// Runs `sql` once per parameter list, all pipelined (one prepare, then
    /// every bind and execute sent without waiting for the answers), and
    /// returns the total of rows affected.
    ///
    /// Atomic as asyncpg's: outside a transaction it runs inside one of its
    /// own, so either every execution is applied or none. Its `BEGIN`, the
    /// executions and the `COMMIT` are sent together, in one turn of the
    /// loop, so the statements of other tasks sharing the connection go
    /// before or after them, never inside its transaction. A parameter
    /// list refused before it is sent (a wrong count, a value that does not
    /// convert) sends `ROLLBACK` in place of the `COMMIT`: nothing applied.
    ///
    /// # Errors
    /// As [`fetch`](Connection::fetch), for the first execution that fails.
    ///
    /// # Cancel safety
    /// Dropped while its statement is prepared, nothing has run. Dropped
    /// after that, the outcome is unknown to the caller, as for a dropped
    /// [`commit`](crate::Transaction::commit): everything up to the `COMMIT`
    /// was sent at once, and the cancel request sent on drop aborts the
    /// whole transaction if it reaches the server before the `COMMIT` runs.
    /// Never a part of the executions is applied. Inside a transaction, as
    /// [`fetch`](Connection::fetch).
    pub async fn executemany(&self, sql: &str, args: &[&[Param<'_>]]) -> Result<u64, Error> {
        let statement = self.statement(sql).await?;
        if self.shared.tx_depth.get() > 0 {
            let executions = args.iter().map(|params| self.client.execute(&statement, params));
            let counts = self.run(futures_util::future::try_join_all(executions)).await?;
            return Ok(counts.iter().sum());
        }
        let client = &self.client;
        let mut begin = std::pin::pin!(futures_util::future::maybe_done(client.batch_execute("BEGIN")));
        let mut executions: Vec<_> = args
            .iter()
            .map(|params| Box::pin(futures_util::future::maybe_done(client.execute(&statement, params))))
            .collect();
        // `SELECT 1` before `COMMIT` reports an aborted transaction (whose
        // `COMMIT` the server answers with a plain "ROLLBACK", no error).
        let commit = async {
            let (check, commit) =
                futures_util::future::join(client.simple_query("SELECT 1"), client.batch_execute("COMMIT")).await;
            check?;
            commit
        };
        let mut end = std::pin::pin!(futures_util::future::maybe_done(futures_util::future::Either::Left(
            commit
        )));
        let mut first = true;
        let all = std::future::poll_fn(|cx| {
            // Each request goes out at its future's first poll, all in this
            // one call: nothing of another task's can come between them.
            let mut ready = begin.as_mut().poll(cx).is_ready();
            for execution in &mut executions {
                ready &= execution.as_mut().poll(cx).is_ready();
            }
            if std::mem::take(&mut first) {
                // An execution done at once was refused before it was sent
                // (answers take a round trip): the ones before it were
                // sent, so the transaction must not commit.
                if executions.iter_mut().any(|e| e.as_mut().output_mut().is_some()) {
                    end.set(futures_util::future::maybe_done(futures_util::future::Either::Right(
                        client.batch_execute("ROLLBACK"),
                    )));
                }
            }
            ready &= end.as_mut().poll(cx).is_ready();
            if !ready {
                return Poll::Pending;
            }
            let mut total = 0;
            let result = (|| {
                begin.as_mut().take_output().expect("done")?;
                for execution in &mut executions {
                    total += execution.as_mut().take_output().expect("done")?;
                }
                end.as_mut().take_output().expect("done")
            })();
            Poll::Ready(result.map(|()| total))
        });
        self.run(all).await
    }

    /// Closes the connection: waits for queued clean-ups, then ends the
    /// session (tokio-postgres sends `Terminate`) and waits for its socket
    /// to close.
    ///
    /// # Cancel safety
    /// Dropping the future drops the connection, which closes the same way
    /// in the background.
    pub async fn close(mut self) {
        self.shared.idle.wait().await;
        let driver = self.driver.take();
        drop(self);
        if let Some(driver) = driver {
            let _ = driver.await;
        }
    }

    /// Whether the session has ended (the server closed it or the socket
    /// broke).
    pub fn is_closed(&self) -> bool {
        self.shared.ended.get() || self.client.is_closed()
    }

    /// Whether a pool may hand the connection out again: open, and no
    /// cancel of a dropped query failed (the session may still be running
    /// it).
    pub(crate) fn reusable(&self) -> bool {
        !self.is_closed() && !self.shared.cancel_failed.get()
    }

    /// How many prepared statements the cache holds.
    pub fn statement_cache_len(&self) -> usize {
        self.shared.cache.borrow().statements.len()
    }

    /// The cached statement for `sql`, prepared (one round trip) on a miss.
    /// Waits for queued clean-ups first.
    pub(crate) async fn statement(&self, sql: &str) -> Result<Statement, Error> {
        self.shared.idle.wait().await;
        if self.is_closed() {
            return Err(self.closed());
        }
        {
            let mut cache = self.shared.cache.borrow_mut();
            cache.clock += 1;
            let now = cache.clock;
            if let Some((statement, used)) = cache.statements.get_mut(sql) {
                *used = now;
                return Ok(statement.clone());
            }
        }
        let statement = self.prepare(sql.to_owned()).await?;
        let mut cache = self.shared.cache.borrow_mut();
        if cache.statements.len() >= STATEMENT_CACHE_SIZE {
            let oldest = cache
                .statements
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                cache.statements.remove(&oldest);
            }
        }
        let now = cache.clock;
        cache.statements.insert(sql.to_owned(), (statement.clone(), now));
        Ok(statement)
    }

    /// Prepares `sql` (one round trip, more if it names types the protocol
    /// code does not know yet). Counts as a query in flight until
    /// answered; dropped after it was sent, it is finished by the clean-up
    /// task, which then drops the statement: the server closes it.
    pub(crate) async fn prepare(&self, sql: String) -> Result<Statement, Error> {
        let client = self.client.clone();
        let mut pending = PendingPrepare {
            request: Some(Box::pin(async move { client.prepare(&sql).await })),
            sent: false,
            shared: &self.shared,
        };
        std::future::poll_fn(|cx| pending.poll(cx))
            .await
            .map_err(|e| self.map_error(e))
    }

    /// Awaits one request of the protocol code as an in-flight query (a
    /// cancel request if dropped before its answer) and maps its error.
    pub(crate) async fn run<T>(
        &self,
        request: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, Error> {
        in_flight!(self, request)
    }

    /// Maps an error of the protocol code met while running a query.
    pub(crate) fn map_error(&self, e: tokio_postgres::Error) -> Error {
        // The server no longer knows a cached statement, or its result
        // type changed: drop the cache so the next run prepares again.
        if e.as_db_error().is_some_and(stale_statement) {
            self.shared.cache.borrow_mut().statements.clear();
        }
        let error = Error::from_query(e, self.shared.closed_reason.borrow().clone());
        if matches!(error, Error::Closed(_)) {
            self.shared.ended.set(true);
        }
        error
    }

    pub(crate) fn closed(&self) -> Error {
        let reason = self.shared.closed_reason.borrow().clone();
        Error::Closed(reason.unwrap_or_else(|| "the session ended".into()))
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("target", &self.shared.target.to_string())
            .field("closed", &self.client.is_closed())
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Queues `cleanup` and starts the clean-up task if none runs. Without
    /// a running loop (the loop is being torn down) there is nothing to
    /// clean: the connection goes with it.
    pub(crate) fn queue(self: &Rc<Self>, cleanup: Cleanup) {
        let Some(event_loop) = asyncio::try_get_running_loop() else {
            return;
        };
        let Some(client) = self.client.upgrade() else {
            return;
        };
        if matches!(cleanup, Cleanup::Cancel) {
            self.cancels.set(self.cancels.get() + 1);
        }
        self.cleanups.borrow_mut().push_back(cleanup);
        if self.cleaning.replace(true) {
            return;
        }
        self.idle.clear();
        let shared = self.clone();
        let task = event_loop.create_task(async move {
            // SQL clean-ups are sent, not waited for: the statements that
            // follow go out after them on the same connection, so they
            // run after them on the server (a pooled connection's reset
            // costs no round trip of its own). Each counts as a query in
            // flight until answered, so a query dropped behind one sends
            // no cancel that could land on it.
            let mut answers: Vec<std::pin::Pin<Box<dyn Future<Output = ()>>>> = Vec::new();
            loop {
                let next = shared.cleanups.borrow_mut().pop_front();
                let Some(cleanup) = next else { break };
                match cleanup {
                    Cleanup::Cancel => {
                        // The cancel must reach the statement running now:
                        // nothing of ours may be ahead of it.
                        for answer in answers.drain(..) {
                            answer.await;
                        }
                        cancel_and_settle(&client, &shared).await;
                        shared.cancels.set(shared.cancels.get() - 1);
                    }
                    Cleanup::Sql(sql, reply) => {
                        shared.in_flight.set(shared.in_flight.get() + 1);
                        let (client, counted) = (client.clone(), shared.clone());
                        // A failed ROLLBACK or reset leaves nothing to do:
                        // the connection is closed or not in a transaction.
                        let mut answer = Box::pin(async move {
                            let result = client.batch_execute(&sql).await;
                            counted.in_flight.set(counted.in_flight.get() - 1);
                            if let Some(reply) = reply {
                                let _ = reply.send(result);
                            }
                        });
                        // The first poll sends it.
                        let done = std::future::poll_fn(|cx| Poll::Ready(answer.as_mut().poll(cx).is_ready())).await;
                        if !done {
                            answers.push(answer);
                        }
                    }
                    Cleanup::Finish(mut request) => {
                        // Already sent: only its answer is awaited, beside
                        // the others (it stays counted in flight until then).
                        let done = std::future::poll_fn(|cx| Poll::Ready(request.as_mut().poll(cx).is_ready())).await;
                        if !done {
                            answers.push(request);
                        }
                    }
                }
            }
            shared.cleaning.set(false);
            shared.idle.set();
            for answer in answers {
                answer.await;
            }
        });
        drop(task);
    }
}

/// Whether the server refused a prepared statement as stale: unknown to it
/// (deallocated), or its plan's result type changed with the schema ("cached
/// plan must not change result type", told by the server's function that
/// raises it, not by the message, which is in the server's language).
fn stale_statement(e: &tokio_postgres::error::DbError) -> bool {
    e.code() == &SqlState::INVALID_SQL_STATEMENT_NAME
        || (e.code() == &SqlState::FEATURE_NOT_SUPPORTED
            && (e.routine() == Some("RevalidateCachedQuery") || e.message().contains("cached plan")))
}

/// The first row `statement` returns, the others read and dropped as they
/// come (no `Vec` of rows is built).
async fn first_row(
    client: &Client,
    statement: &Statement,
    params: &[Param<'_>],
) -> Result<Option<Row>, tokio_postgres::Error> {
    let rows = client.query_raw(statement, params.iter().copied()).await?;
    let mut rows = std::pin::pin!(rows);
    let first = rows.try_next().await?;
    // (An ended stream must not be polled again: tokio-postgres then
    // reports the connection closed.)
    if first.is_some() {
        while rows.try_next().await?.is_some() {}
    }
    Ok(first)
}

/// How long a cancel may take: sending the request and seeing the server
/// close its socket, then the `SELECT 1` that spends the interrupt.
const CANCEL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Sends the cancel request on a new socket and waits for the server to
/// close that socket (it has signalled the session's backend by then, as
/// libpq waits for), then runs `SELECT 1` until it is not itself cancelled,
/// so the interrupt is spent before anything else runs. A cancel that
/// cannot be delivered, or a session still busy past [`CANCEL_TIMEOUT`],
/// marks the connection unfit for reuse: a pool discards it rather than
/// hand out a session still running the abandoned query.
async fn cancel_and_settle(client: &Client, shared: &Shared) {
    let settled = asyncio::timeout(CANCEL_TIMEOUT, async {
        if !send_cancel(shared).await {
            return false;
        }
        for _ in 0..3 {
            match client.simple_query("SELECT 1").await {
                Err(e) if e.code() == Some(&SqlState::QUERY_CANCELED) => continue,
                _ => break,
            }
        }
        true
    })
    .await;
    if settled != Ok(true) {
        shared.cancel_failed.set(true);
    }
}

/// The cancel request, delivered: sent, and its socket closed by the
/// server.
async fn send_cancel(shared: &Shared) -> bool {
    match &shared.target {
        Target::Tcp { host, port, addr } => {
            let Ok(stream) = connect_tcp(host, *port, *addr).await else {
                return false;
            };
            let socket = Rc::new(stream);
            #[cfg(feature = "tls")]
            let sent = match &shared.cancel_tls {
                Some((tls, name)) => {
                    let connector = tls.connector(name, Rc::default());
                    shared
                        .cancel
                        .cancel_query_raw(CancelSocket(socket.clone()), connector)
                        .await
                }
                None => {
                    shared
                        .cancel
                        .cancel_query_raw(CancelSocket(socket.clone()), NoTls)
                        .await
                }
            };
            #[cfg(not(feature = "tls"))]
            let sent = shared
                .cancel
                .cancel_query_raw(CancelSocket(socket.clone()), NoTls)
                .await;
            sent.is_ok() && closed_by_peer(&*socket).await
        }
        Target::Unix { path } => {
            let Ok(stream) = asyncio::net::UnixStream::connect(path).await else {
                return false;
            };
            let socket = Rc::new(stream);
            let sent = shared
                .cancel
                .cancel_query_raw(CancelSocket(socket.clone()), NoTls)
                .await;
            sent.is_ok() && closed_by_peer(&*socket).await
        }
    }
}

/// Reads (and drops) until the peer closes: end of stream, or a reset.
async fn closed_by_peer(socket: &impl Socket) -> bool {
    let mut buf = [0u8; 256];
    std::future::poll_fn(|cx| loop {
        match socket.poll_read(cx, &mut buf) {
            Poll::Ready(Ok(0) | Err(_)) => return Poll::Ready(true),
            Poll::Ready(Ok(_)) => continue,
            Poll::Pending => return Poll::Pending,
        }
    })
    .await
}

/// A socket tokio-postgres's cancel code writes to (and shuts the write
/// side of) while [`send_cancel`] keeps it, to read it to its end after.
struct CancelSocket<S>(Rc<S>);

/// The `&self` socket calls [`CancelSocket`] forwards to.
trait Socket {
    fn poll_read(&self, cx: &mut std::task::Context<'_>, buf: &mut [u8]) -> Poll<std::io::Result<usize>>;
    fn poll_write(&self, cx: &mut std::task::Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>>;
    fn shutdown(&self, how: std::net::Shutdown) -> std::io::Result<()>;
}

macro_rules! socket {
    ($ty:ty) => {
        impl Socket for $ty {
            fn poll_read(&self, cx: &mut std::task::Context<'_>, buf: &mut [u8]) -> Poll<std::io::Result<usize>> {
                <$ty>::poll_read(self, cx, buf)
            }
            fn poll_write(&self, cx: &mut std::task::Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
                <$ty>::poll_write(self, cx, buf)
            }
            fn shutdown(&self, how: std::net::Shutdown) -> std::io::Result<()> {
                <$ty>::shutdown(self, how)
            }
        }
    };
}
socket!(asyncio::net::TcpStream);
socket!(asyncio::net::UnixStream);

impl<S: Socket> tokio::io::AsyncRead for CancelSocket<S> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = std::task::ready!(self.0.poll_read(cx, buf.initialize_unfilled()))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<S: Socket> tokio::io::AsyncWrite for CancelSocket<S> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.0.poll_write(cx, buf)
    }

    fn poll_flush(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(self.0.shutdown(std::net::Shutdown::Write))
    }
}

#[cfg(feature = "tls")]
impl<S: Socket> futures_io::AsyncRead for CancelSocket<S> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        self.0.poll_read(cx, buf)
    }
}

#[cfg(feature = "tls")]
impl<S: Socket> futures_io::AsyncWrite for CancelSocket<S> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.0.poll_write(cx, buf)
    }

    fn poll_flush(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(self.0.shutdown(std::net::Shutdown::Write))
    }
}

/// A new socket to the session's server: its address when known.
async fn connect_tcp(
    host: &str,
    port: u16,
    addr: Option<std::net::IpAddr>,
) -> std::io::Result<asyncio::net::TcpStream> {
    match addr {
        Some(addr) => asyncio::net::TcpStream::connect((addr, port)).await,
        None => asyncio::net::TcpStream::connect((host, port)).await,
    }
}

/// Marks one query in flight; dropped before [`finish`](InFlight::finish),
/// it queues a cancel request when it was the only one.
pub(crate) struct InFlight<'a> {
    shared: &'a Rc<Shared>,
    done: bool,
}

impl<'a> InFlight<'a> {
    pub(crate) fn new(shared: &'a Rc<Shared>) -> Self {
        shared.in_flight.set(shared.in_flight.get() + 1);
        InFlight { shared, done: false }
    }

    pub(crate) fn finish(mut self) {
        self.done = true;
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let left = self.shared.in_flight.get() - 1;
        self.shared.in_flight.set(left);
        if !self.done && left == 0 {
            self.shared.queue(Cleanup::Cancel);
        }
    }
}

type PrepareRequest = std::pin::Pin<Box<dyn Future<Output = Result<Statement, tokio_postgres::Error>>>>;

/// A prepare in flight: counted in [`Shared::in_flight`] from its first
/// poll to its answer, and handed to the clean-up task if dropped in
/// between (see [`Cleanup::Finish`]).
struct PendingPrepare<'a> {
    request: Option<PrepareRequest>,
    sent: bool,
    shared: &'a Rc<Shared>,
}

impl PendingPrepare<'_> {
    fn poll(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Result<Statement, tokio_postgres::Error>> {
        let Some(request) = self.request.as_mut() else {
            return Poll::Pending;
        };
        if !self.sent {
            self.sent = true;
            self.shared.in_flight.set(self.shared.in_flight.get() + 1);
        }
        let result = std::task::ready!(request.as_mut().poll(cx));
        self.request = None;
        self.shared.in_flight.set(self.shared.in_flight.get() - 1);
        Poll::Ready(result)
    }
}

impl Drop for PendingPrepare<'_> {
    fn drop(&mut self) {
        let Some(mut request) = self.request.take() else {
            return;
        };
        if !self.sent {
            return;
        }
        let counted = self.shared.clone();
        self.shared.queue(Cleanup::Finish(Box::pin(async move {
            // The statement, if any, is dropped here: tokio-postgres then
            // sends `Close` for it.
            let _ = request.as_mut().await;
            counted.in_flight.set(counted.in_flight.get() - 1);
        })));
    }
}

/// Queues `sql` (a rollback) when dropped before [`disarm`].
///
/// [`disarm`]: RollbackOnDrop::disarm
pub(crate) struct RollbackOnDrop {
    shared: Rc<Shared>,
    sql: Option<String>,
}

impl RollbackOnDrop {
    pub(crate) fn new(shared: &Rc<Shared>, sql: String) -> Self {
        shared.tx_depth.set(shared.tx_depth.get() + 1);
        RollbackOnDrop {
            shared: shared.clone(),
            sql: Some(sql),
        }
    }

    pub(crate) fn disarm(mut self) {
        self.sql = None;
    }

    /// Queues the rollback now; the receiver gets the server's answer
    /// (an error if the clean-up could not run: the session is gone).
    pub(crate) fn roll_back(mut self) -> oneshot::Receiver<Result<(), tokio_postgres::Error>> {
        let (reply, answer) = oneshot::channel();
        if let Some(sql) = self.sql.take() {
            self.shared.queue(Cleanup::Sql(sql, Some(reply)));
        }
        answer
    }
}

impl Drop for RollbackOnDrop {
    fn drop(&mut self) {
        self.shared.tx_depth.set(self.shared.tx_depth.get() - 1);
        if let Some(sql) = self.sql.take() {
            self.shared.queue(Cleanup::Sql(sql, None));
        }
    }
}

impl Shared {
    /// Whether no clean-up is queued or running.
    pub(crate) fn is_idle(&self) -> bool {
        self.idle.is_set()
    }

    /// Whether a cancel is queued or running: the connection may stay busy
    /// for a while (up to the cancel's settle bound).
    pub(crate) fn is_cancelling(&self) -> bool {
        self.cancels.get() > 0
    }
}

impl Connection {
    /// Waits until no clean-up is queued or running.
    pub(crate) async fn shared_idle(&self) {
        self.shared.idle.wait().await;
    }
}
