//! [`Pool`]: a pool of connections, in asyncpg's words
//! ([`create_pool`]`(dsn).min_size(2).max_size(10).await?`, then
//! [`pool.acquire()`](Pool::acquire)).
//!
//! # Design
//! At most `max_size` connections exist; each is either idle (in the
//! pool's list) or acquired (a [`PooledConnection`]). An acquire first takes
//! one of `max_size` permits of an asyncio [`Semaphore`], whose wait queue
//! is FIFO, so waiters are served in arrival order; then takes an idle
//! connection, or opens one. Releasing (dropping the
//! [`PooledConnection`]) gives the connection back and then the permit.
//!
//! A released connection is never handed out dirty: its transaction guards
//! have already queued their `ROLLBACK`s and a query dropped in flight its
//! cancel (see [`connection`](crate::connection)); the release queues, after
//! them, a reset of the session's state (`ROLLBACK` of a transaction begun
//! with plain SQL, `RESET ALL`, `SET SESSION AUTHORIZATION DEFAULT` and
//! `RESET ROLE`, `CLOSE ALL`, `UNLISTEN *`, advisory locks released,
//! temporary tables dropped; prepared statements are kept, so the cache
//! stays valid), and the next user's first statement waits for all of it.
//! A connection that is closed, or released while its holder panics, is
//! discarded instead, and the next acquire opens a new one.
//!
//! **Ageing.** An idle connection is checked when it would be handed out:
//! idle longer than `max_inactive_connection_lifetime` or older than
//! `max_lifetime`, it is closed; idle longer than `health_check_after`, it
//! must first answer a `SELECT 1` within 10 s (a server restart, an
//! administrator's `pg_terminate_backend` or a half-open connection is
//! found there, not by the caller's query).

use std::cell::{Cell, RefCell};
use std::future::{Future, IntoFuture};
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

use asyncio::sync::Semaphore;

use crate::connection::Cleanup;
use crate::{Connection, Error};

/// What a released connection runs before its next user: what `DISCARD
/// ALL` does but drop prepared statements (the statement cache's), after
/// a `ROLLBACK` of any transaction left open with plain SQL (asyncpg's
/// reset does the same). One simple query: its statements after the
/// `ROLLBACK` run in one implicit transaction.
const RESET: &str = "ROLLBACK; SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL; \
                     SET SESSION AUTHORIZATION DEFAULT; RESET ROLE; DISCARD TEMP;";

/// Sent before [`RESET`], as a query of its own: outside a transaction the
/// reset's `ROLLBACK` draws a `WARNING` (25P01, "there is no transaction in
/// progress") that would reach the next user's log listener. Inside one it
/// is undone by that `ROLLBACK`; inside an aborted one it fails alone
/// (which is why it is not part of [`RESET`]); `RESET ALL` restores the
/// session's own level.
const QUIET: &str = "SET client_min_messages TO error";

/// How long the health check's `SELECT 1` may take before the connection
/// is taken for dead.
const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts building a pool for `dsn` (the DSNs of [`connect`](crate::connect)).
/// Await the builder (or call [`build`](PoolBuilder::build)) to open
/// `min_size` connections and get the [`Pool`].
pub fn create_pool(dsn: &str) -> PoolBuilder {
    PoolBuilder {
        dsn: dsn.to_owned(),
        min_size: 10,
        max_size: 10,
        acquire_timeout: None,
        max_inactive_connection_lifetime: Some(Duration::from_secs(300)),
        max_lifetime: None,
        health_check_after: Some(Duration::from_secs(1)),
    }
}

/// Options of a [`Pool`], from [`create_pool`].
#[derive(Debug, Clone)]
#[must_use = "a pool builder does nothing until awaited"]
pub struct PoolBuilder {
    dsn: String,
    min_size: usize,
    max_size: usize,
    acquire_timeout: Option<Duration>,
    max_inactive_connection_lifetime: Option<Duration>,
    max_lifetime: Option<Duration>,
    health_check_after: Option<Duration>,
}

impl PoolBuilder {
    /// Closes a connection idle in the pool for longer than this, instead
    /// of handing it out (asyncpg's name and default: 300 s; `None`:
    /// never).
    pub fn max_inactive_connection_lifetime(mut self, limit: Option<Duration>) -> Self {
        self.max_inactive_connection_lifetime = limit;
        self
    }

    /// Closes a connection older than this when it is released or would be
    /// handed out (default: `None`, no limit).
    pub fn max_lifetime(mut self, limit: Option<Duration>) -> Self {
        self.max_lifetime = limit;
        self
    }

    /// Checks a connection idle for longer than this with a `SELECT 1`
    /// before handing it out, and replaces it if the check fails (default:
    /// 1 s; `Some(Duration::ZERO)`: always; `None`: never).
    pub fn health_check_after(mut self, idle: Option<Duration>) -> Self {
        self.health_check_after = idle;
        self
    }

    /// How many connections are opened at creation (asyncpg's default: 10).
    pub fn min_size(mut self, n: usize) -> Self {
        self.min_size = n;
        self
    }

    /// The most connections open at once (asyncpg's default: 10).
    pub fn max_size(mut self, n: usize) -> Self {
        self.max_size = n;
        self
    }

    /// How long [`Pool::acquire`] waits at most (default: no limit).
    pub fn acquire_timeout(mut self, limit: Duration) -> Self {
        self.acquire_timeout = Some(limit);
        self
    }

    /// Opens `min_size` connections and returns the pool.
    ///
    /// # Errors
    /// [`Error::InvalidDsn`] if `min_size > max_size` or `max_size` is 0;
    /// any error of [`connect`](crate::connect) for the first connections.
    ///
    /// # Cancel safety
    /// Dropping the future closes the connections opened so far.
    pub async fn build(self) -> Result<Pool, Error> {
        if self.max_size == 0 || self.min_size > self.max_size {
            return Err(Error::InvalidDsn(format!(
                "pool sizes: min_size {} must be at most max_size {}, which must be at least 1",
                self.min_size, self.max_size
            )));
        }
        let inner = Rc::new(PoolInner {
            semaphore: Semaphore::new(self.max_size),
            idle: RefCell::new(Vec::new()),
            size: Cell::new(0),
            closed: Cell::new(false),
            closing: asyncio::sync::Lock::new(),
            drained: Cell::new(0),
            builder: self,
        });
        for _ in 0..inner.builder.min_size {
            let conn = crate::connect(&inner.builder.dsn).await?;
            inner.size.set(inner.size.get() + 1);
            let now = Instant::now();
            inner.idle.borrow_mut().push(Idle {
                conn,
                created: now,
                since: now,
            });
        }
        Ok(Pool { inner })
    }
}

/// Awaiting the builder is [`build`](PoolBuilder::build) (same errors;
/// cancel safety: dropping the future closes the connections opened so
/// far).
impl IntoFuture for PoolBuilder {
    type Output = Result<Pool, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<Pool, Error>>>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.build())
    }
}

/// A pool of connections (cheap to clone: clones share the pool).
#[derive(Clone)]
pub struct Pool {
    inner: Rc<PoolInner>,
}

struct PoolInner {
    semaphore: Semaphore,
    idle: RefCell<Vec<Idle>>,
    /// Connections open: idle plus acquired.
    size: Cell<usize>,
    closed: Cell<bool>,
    /// Held by the `close` call at work (a second call waits for it, or
    /// takes over if it is dropped).
    closing: asyncio::sync::Lock,
    /// Permits `close` has taken so far (all of them: none acquired).
    drained: Cell<usize>,
    builder: PoolBuilder,
}

/// A connection waiting in the pool.
struct Idle {
    conn: Connection,
    created: Instant,
    since: Instant,
}

impl PoolInner {
    fn expired(&self, created: Instant, now: Instant) -> bool {
        self.builder
            .max_lifetime
            .is_some_and(|limit| now.duration_since(created) > limit)
    }

    fn discard(&self, conn: Connection) {
        self.size.set(self.size.get() - 1);
        drop(conn);
    }
}

/// A pool's counts, from [`Pool::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open (idle plus acquired).
    pub size: usize,
    /// Connections waiting in the pool.
    pub idle: usize,
    /// Tasks waiting in [`Pool::acquire`].
    pub waiting: usize,
}

impl Pool {
    /// Takes a connection: an idle one, or a new one if fewer than
    /// `max_size` are open; otherwise waits, in arrival order, for one to be
    /// released, up to the builder's `acquire_timeout`.
    ///
    /// # Errors
    /// [`Error::AcquireTimeout`], [`Error::PoolClosed`], or an error of
    /// [`connect`](crate::connect) when a new connection had to be opened.
    ///
    /// # Cancel safety
    /// Dropping the future gives back whatever it took (its place in the
    /// queue, its permit, a connection it was opening is closed).
    pub async fn acquire(&self) -> Result<PooledConnection, Error> {
        match self.inner.builder.acquire_timeout {
            Some(limit) => asyncio::timeout(limit, self.acquire_now())
                .await
                .unwrap_or(Err(Error::AcquireTimeout)),
            None => self.acquire_now().await,
        }
    }

    async fn acquire_now(&self) -> Result<PooledConnection, Error> {
        let inner = &self.inner;
        if inner.closed.get() {
            return Err(Error::PoolClosed);
        }
        inner.semaphore.acquire().await.forget();
        // From here the permit is ours: `Permit` gives it back on every
        // path that does not hand out a connection.
        let permit = Permit(inner);
        if inner.closed.get() {
            return Err(Error::PoolClosed);
        }
        loop {
            // The newest idle connection, passing over those still
            // cancelling a query their last user dropped (which may take
            // seconds) while another is ready.
            let next = {
                let mut idle = inner.idle.borrow_mut();
                let at = idle.iter().rposition(|i| !i.conn.shared.is_cancelling());
                match at {
                    Some(at) => Some(idle.remove(at)),
                    None => idle.pop(),
                }
            };
            let Some(Idle { conn, created, since }) = next else {
                break;
            };
            // A clean-up still running (the reset, or the cancel of a query
            // the last user dropped) decides whether the connection can be
            // reused. Dropped while waiting, the acquire puts it back.
            let conn = if conn.shared.is_idle() {
                conn
            } else {
                let mut settling = Settling(inner, Some(Idle { conn, created, since }));
                let waiting = settling.1.as_ref().expect("present");
                waiting.conn.shared_idle().await;
                settling.1.take().expect("present").conn
            };
            let now = Instant::now();
            let idle_for = now.duration_since(since);
            let stale = inner
                .builder
                .max_inactive_connection_lifetime
                .is_some_and(|limit| idle_for > limit);
            if !conn.reusable() || stale || inner.expired(created, now) {
                inner.discard(conn);
                continue;
            }
            if inner.builder.health_check_after.is_some_and(|after| idle_for >= after) {
                // A dropped check is a dropped query: the connection gets a
                // cancel and is discarded with this future.
                let checking = Checking(inner, Some(conn));
                let conn = checking.1.as_ref().expect("present");
                // Bounded: a half-open connection (the server gone without
                // a word) would not answer until TCP gives up, minutes on.
                let check =
                    asyncio::timeout(HEALTH_CHECK_TIMEOUT, conn.run(conn.client.simple_query("SELECT 1"))).await;
                let conn = checking.passed();
                if !matches!(check, Ok(Ok(_))) {
                    inner.discard(conn);
                    continue;
                }
                return Ok(permit.hand_out(conn, created));
            }
            return Ok(permit.hand_out(conn, created));
        }
        let conn = crate::connect(&inner.builder.dsn).await?;
        inner.size.set(inner.size.get() + 1);
        Ok(permit.hand_out(conn, Instant::now()))
    }

    /// The pool's counts now.
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            size: self.inner.size.get(),
            idle: self.inner.idle.borrow().len(),
            waiting: self.inner.semaphore.waiters(),
        }
    }

    /// Closes the pool: new acquires fail with [`Error::PoolClosed`]; waits
    /// until every acquired connection is released, then closes them all.
    /// Bound the wait with [`asyncio::timeout`].
    ///
    /// # Cancel safety
    /// Dropping the future leaves the pool closed; connections still
    /// acquired are closed when released.
    pub async fn close(&self) {
        let inner = &self.inner;
        inner.closed.set(true);
        // One call at a time: a second waits for the first (and finds the
        // work done), or goes on from where a dropped one stopped.
        let _closing = inner.closing.acquire().await;
        while inner.drained.get() < inner.builder.max_size {
            inner.semaphore.acquire().await.forget();
            inner.drained.set(inner.drained.get() + 1);
        }
        let idle = std::mem::take(&mut *self.inner.idle.borrow_mut());
        self.inner.size.set(self.inner.size.get() - idle.len());
        for Idle { conn, .. } in idle {
            conn.close().await;
        }
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("stats", &self.stats())
            .field("closed", &self.inner.closed.get())
            .finish()
    }
}

/// A connection being health-checked: discarded (and uncounted) if the
/// acquire is dropped meanwhile.
struct Checking<'a>(&'a PoolInner, Option<Connection>);

impl Checking<'_> {
    fn passed(mut self) -> Connection {
        self.1.take().expect("present until passed or dropped")
    }
}

impl Drop for Checking<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.1.take() {
            self.0.discard(conn);
        }
    }
}

/// An idle connection whose clean-ups an acquire waits for: back to the
/// idle list if the acquire is dropped meanwhile (nothing is wrong with it).
struct Settling<'a>(&'a PoolInner, Option<Idle>);

impl Drop for Settling<'_> {
    fn drop(&mut self) {
        if let Some(idle) = self.1.take() {
            self.0.idle.borrow_mut().push(idle);
        }
    }
}

/// One of the semaphore's permits, given back on drop unless handed out
/// with a connection.
struct Permit<'a>(&'a Rc<PoolInner>);

impl Permit<'_> {
    fn hand_out(self, conn: Connection, created: Instant) -> PooledConnection {
        let pool = self.0.clone();
        std::mem::forget(self);
        PooledConnection {
            conn: Some(conn),
            created,
            pool,
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.0.semaphore.release();
    }
}

/// A connection acquired from a [`Pool`]; dropping it releases it. Use it
/// as a [`Connection`] (it dereferences to one).
pub struct PooledConnection {
    conn: Option<Connection>,
    created: Instant,
    pool: Rc<PoolInner>,
}

impl Deref for PooledConnection {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("present until drop")
    }
}

impl DerefMut for PooledConnection {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("present until drop")
    }
}

impl std::fmt::Debug for PooledConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PooledConnection").field(&self.conn).finish()
    }
}

impl Drop for PooledConnection {
    fn drop(&mut self) {
        let pool = &self.pool;
        if let Some(conn) = self.conn.take() {
            let now = Instant::now();
            if !conn.reusable() || pool.closed.get() || std::thread::panicking() || pool.expired(self.created, now) {
                pool.discard(conn);
            } else {
                conn.shared.queue(Cleanup::Sql(QUIET.to_owned(), None));
                conn.shared.queue(Cleanup::Sql(RESET.to_owned(), None));
                pool.idle.borrow_mut().push(Idle {
                    conn,
                    created: self.created,
                    since: now,
                });
            }
        }
        pool.semaphore.release();
    }
}
