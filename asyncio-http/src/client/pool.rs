//! The client's connections, pooled per origin (scheme, host, port).
//!
//! # Limits and waiting
//! A connection counts against the total limit (`max_connections`) and
//! its origin's (`max_connections_per_host`) from the moment it is being
//! opened until it is closed, idle or not. A request takes, in order: an
//! idle connection of its origin (the most recently used: the likeliest
//! to be still open), or room to open one, or — when the total is reached
//! but other origins have idle connections — the room of the oldest idle
//! connection, which is closed. Otherwise it waits in one FIFO queue; every
//! change (a connection released, one closed) serves the queue in order: a
//! released connection goes straight to the first request waiting for its
//! origin, freed room to the first request that can use it. A waiter that
//! gives up (its future dropped, the pool timeout) passes on whatever it
//! was handed.
//!
//! # Reuse
//! An HTTP/1.1 connection goes back to the pool only once its response
//! was read to the end (see [`Response`](super::Response)) and its
//! request's body sent (a streamed upload a server answered early closes
//! it); dropped earlier, it is closed, never reused with bytes of the old
//! response waiting. Idle connections older than `keepalive_expiry` are closed when
//! met, and at most `max_keepalive_connections` stay idle. A connection the
//! server closed meanwhile is noticed by hyper's `is_closed`/`ready` and
//! dropped.
//!
//! An HTTP/2 connection is shared by every request to its origin. It
//! counts its streams in flight (a request's lasts until its response has
//! been read to the end or dropped), up to the server's
//! `SETTINGS_MAX_CONCURRENT_STREAMS` (read from the connection at each
//! grant; before the server's `SETTINGS` arrive, h2 assumes 100); a
//! request finding every connection of its origin at that limit is
//! treated as finding none. With no stream in flight, it is idle as an HTTP/1.1
//! connection is: expired after `keepalive_expiry`, closed to make room
//! for another origin's, closed by `close_idle`. It is not counted among
//! the idle connections of `max_keepalive_connections` (one per origin at
//! most is kept).

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use asyncio::time::Instant;
use asyncio::Task;
use hyper::client::conn::{http1, http2};

use super::Body;

/// Where a connection goes: what a pooled connection can be reused for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Origin {
    pub(crate) https: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The proxy the connection goes through, if any.
    pub(crate) proxy: Option<super::proxy::ProxyServer>,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// The pool's limits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PoolLimits {
    pub(crate) max_connections: usize,
    pub(crate) max_per_host: usize,
    pub(crate) max_idle: usize,
    pub(crate) keepalive_expiry: Option<Duration>,
}

/// Open connections, idle and in use, per origin.
pub(crate) struct Pool {
    limits: PoolLimits,
    state: RefCell<State>,
    me: Weak<Pool>,
}

#[derive(Default)]
struct State {
    open: usize,
    open_per_origin: HashMap<Origin, usize>,
    idle: HashMap<Origin, Vec<Conn>>,
    /// HTTP/2 connections, shared by every request to their origin (the
    /// last opened is used; older ones serve what they have in flight).
    shared: HashMap<Origin, Vec<Conn>>,
    /// Origins with a connection being opened that may turn out HTTP/2
    /// (ALPN offers `h2`): other requests wait to learn, rather than each
    /// opening a connection of its own.
    probing: std::collections::HashSet<Origin>,
    /// Origins whose last probe came back HTTP/1.1: their requests open
    /// connections side by side, none waits to learn the protocol again
    /// (forgotten when an HTTP/2 connection to them is made, or all at once
    /// past [`H1_ORIGINS_KEPT`]).
    h1_only: std::collections::HashSet<Origin>,
    /// The stream limit last read from an HTTP/2 connection of each
    /// origin: what a new connection to it assumes until the server's
    /// `SETTINGS` come (rather than h2's 100, which a burst of requests on
    /// a new connection to a server allowing fewer would see refused), at
    /// most [`H1_ORIGINS_KEPT`] origins.
    h2_limits: HashMap<Origin, usize>,
    idle_count: usize,
    waiters: VecDeque<Rc<Waiter>>,
    /// How many connections [`State::free`] has uncounted: a change means
    /// room was made, which a waiter passed over before may now use (a
    /// freed connection's slot does not serve the waiters when dropped).
    freed: u64,
}

/// How many HTTP/1.1-only origins the pool remembers (see `State::h1_only`),
/// and how many origins' HTTP/2 stream limits (`State::h2_limits`).
const H1_ORIGINS_KEPT: usize = 1024;

/// A request waiting for a connection or for room to open one.
struct Waiter {
    origin: Origin,
    /// The connection may be HTTP/2.
    may_share: bool,
    /// Only room for a new connection will do (a retry after a pooled
    /// connection failed).
    fresh: bool,
    grant: RefCell<Option<Grant>>,
    waker: RefCell<Option<Waker>>,
}

/// What a request gets from the pool.
pub(crate) enum Grant {
    /// An idle connection of the origin.
    Idle(Conn),
    /// Room to open a new connection (counted already; dropping the slot
    /// gives the room back).
    Room(Slot),
    /// A stream on the origin's HTTP/2 connection.
    Shared(H2Lease),
}

/// What a response holds of its connection until its body is read to the
/// end: an HTTP/1.1 connection (then back to the pool), or its stream's
/// place among an HTTP/2 connection's in flight.
pub(crate) enum Held {
    H1(Conn),
    /// The stream, and the request's streamed body if it has one: a
    /// response read to its end while that body still goes out (a server
    /// that answered early) leaves the stream open, and counted, until the
    /// body ends.
    H2(Stream, Option<super::body::Upload>),
}

/// A request's stream on a shared HTTP/2 connection.
pub(crate) struct H2Lease {
    pub(crate) sender: http2::SendRequest<Body>,
    /// The connection's last write (see [`Conn::last_write`]).
    pub(crate) last_write: Rc<Writes>,
    /// Counts the stream in flight until dropped.
    pub(crate) stream: Stream,
}

/// A connection's writes, as its transport saw them.
pub(crate) struct Writes {
    /// When a write last went through (the read timeout counts from it).
    pub(crate) last: Cell<Instant>,
    /// A write waited past the write timeout: the connection failed on it
    /// (on HTTP/2 its streams learn only that the connection is gone).
    pub(crate) timed_out: Cell<bool>,
    /// The write timeout: the request being sent sets it (on HTTP/2, the
    /// last request sent on the connection).
    pub(crate) limit: Cell<Option<Duration>>,
    /// HTTP/2: requests wait for this connection's stream limit to rise,
    /// so every read wakes the connection's task (h2 applies the server's
    /// `SETTINGS` in a task of its own, which does not wake it), which
    /// then looks at the limit (see [`Streams::poll_limit`]).
    watched: Cell<bool>,
    /// The connection's task, to be woken.
    driver: RefCell<Option<Waker>>,
}

impl Writes {
    pub(crate) fn new() -> Writes {
        Writes {
            last: Cell::new(Instant::now()),
            timed_out: Cell::new(false),
            limit: Cell::new(None),
            watched: Cell::new(false),
            driver: RefCell::new(None),
        }
    }

    /// Called by the transport after a read that brought bytes.
    pub(crate) fn read_some(&self) {
        if self.watched.get() {
            if let Some(driver) = self.driver.borrow().as_ref() {
                driver.wake_by_ref();
            }
        }
    }

    /// Called by the connection's task when polled: the waker to wake it
    /// with (a task's waker stays valid while it lives).
    pub(crate) fn driven_by(&self, waker: &Waker) {
        let mut driver = self.driver.borrow_mut();
        if driver.is_none() {
            *driver = Some(waker.clone());
        }
    }
}

/// How many streams of an HTTP/2 connection are in flight, how many the
/// server lets be, and since when none is.
pub(crate) struct Streams {
    active: Cell<usize>,
    /// The server's `SETTINGS_MAX_CONCURRENT_STREAMS` as last read (h2's
    /// assumption until the server's `SETTINGS` come: 100, or the limit
    /// last seen on the origin; no limit on HTTP/1.1). A request past it
    /// would wait inside hyper, under its read timeout, for a stream to
    /// end: the pool gives it another connection, or queues it, instead.
    limit: Cell<usize>,
    /// The limit as the connection's task last saw it (a change that
    /// leaves room serves the queue).
    driver_seen: Cell<usize>,
    /// Reads the limit from the connection (HTTP/2; `None` while the
    /// connection is being polled or is gone).
    read_limit: Option<ReadLimit>,
    idle_since: Cell<Instant>,
    origin: Origin,
    writes: Rc<Writes>,
    pool: Weak<Pool>,
}

/// Reads an HTTP/2 connection's current stream limit.
pub(crate) type ReadLimit = Box<dyn Fn() -> Option<usize>>;

impl Streams {
    /// The stream count of a connection opened in `slot`, whose transport
    /// reports to `writes`; `read_limit` for HTTP/2.
    pub(crate) fn new(slot: &Slot, writes: &Rc<Writes>, read_limit: Option<ReadLimit>) -> Rc<Streams> {
        let streams = Rc::new(Streams {
            active: Cell::new(0),
            limit: Cell::new(usize::MAX),
            driver_seen: Cell::new(usize::MAX),
            read_limit,
            idle_since: Cell::new(Instant::now()),
            origin: slot.origin.clone(),
            writes: writes.clone(),
            pool: slot.pool.clone(),
        });
        streams.driver_seen.set(streams.limit());
        streams
    }

    /// The server's limit now (the connection's `SETTINGS` may change it
    /// at any time).
    fn limit(&self) -> usize {
        if let Some(limit) = self.read_limit.as_ref().and_then(|read| read()) {
            self.limit.set(limit);
        }
        self.limit.get()
    }

    /// Called by the connection's task after each poll: a limit the server
    /// changed, leaving room, serves the requests queued for a stream of
    /// this origin.
    pub(crate) fn poll_limit(&self) {
        let limit = self.limit();
        if limit != self.driver_seen.replace(limit) && self.active.get() < limit {
            self.serve_origin();
        }
        if self.writes.watched.get() {
            let waiting = self
                .pool
                .upgrade()
                .is_some_and(|pool| pool.state.try_borrow().map_or(true, |state| !state.waiters.is_empty()));
            if !waiting {
                self.writes.watched.set(false);
            }
        }
    }

    /// Whether the server takes no more streams on this connection now.
    fn full(&self) -> bool {
        self.active.get() >= self.limit()
    }

    /// The pool, if it is there and has requests queued.
    fn pool_with_waiters(&self) -> Option<Rc<Pool>> {
        let pool = self.pool.upgrade()?;
        let waiting = pool.state.try_borrow().is_ok_and(|state| !state.waiters.is_empty());
        waiting.then_some(pool)
    }

    fn serve_waiters(&self) {
        if let Some(pool) = self.pool_with_waiters() {
            pool.serve_waiters();
        }
    }

    /// Hands streams of this origin's connections to the requests queued
    /// for one, if any.
    fn serve_origin(&self) {
        if let Some(pool) = self.pool_with_waiters() {
            pool.serve_shared(&self.origin);
        }
    }
}

/// One stream in flight on a shared HTTP/2 connection: from the grant
/// until the response has been read to the end or dropped.
pub(crate) struct Stream(Rc<Streams>);

impl Stream {
    fn new(streams: &Rc<Streams>) -> Stream {
        streams.active.set(streams.active.get() + 1);
        Stream(streams.clone())
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let streams = &self.0;
        let left = streams.active.get() - 1;
        streams.active.set(left);
        if left == 0 {
            streams.idle_since.set(Instant::now());
            // The connection may now be closed to make room for a waiter,
            // or take another stream.
            streams.serve_waiters();
        } else if left < streams.limit() {
            // Room for another stream: a request queued for one takes it.
            streams.serve_origin();
        }
    }
}

/// One counted connection's place in the limits; dropping it frees it.
pub(crate) struct Slot {
    pool: Weak<Pool>,
    origin: Origin,
    freed: Cell<bool>,
    /// Others wait for this connection's protocol (see `State::probing`).
    probing: Cell<bool>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.freed.get() && !self.probing.get() {
            return;
        }
        if let Some(pool) = self.pool.upgrade() {
            {
                let mut state = pool.state.borrow_mut();
                if self.probing.replace(false) {
                    state.probing.remove(&self.origin);
                }
                if !self.freed.replace(true) {
                    state.uncount(&self.origin);
                }
            }
            pool.serve_waiters();
        }
    }
}

/// hyper's handle to send requests on a connection.
pub(crate) enum Sender {
    H1(http1::SendRequest<Body>),
    H2(http2::SendRequest<Body>),
}

impl Sender {
    fn is_closed(&self) -> bool {
        match self {
            Sender::H1(s) => s.is_closed(),
            Sender::H2(s) => s.is_closed(),
        }
    }
}

/// An open connection: hyper's sender and the task that drives the
/// connection. Dropping it closes the connection (the task is cancelled,
/// which drops the socket).
pub(crate) struct Conn {
    pub(crate) sender: Sender,
    driver: Task<()>,
    slot: Slot,
    idle_since: Instant,
    /// Whether it served a request before (a failure on it may be the
    /// server having closed it meanwhile).
    pub(crate) reused: bool,
    /// When a write last went through (the read timeout counts from it).
    pub(crate) last_write: Rc<Writes>,
    /// HTTP/2: its streams in flight.
    streams: Rc<Streams>,
    /// HTTP/1.1: the streamed body of the request on it, if any (its end
    /// unknown until the stream ends).
    pub(crate) upload: Option<super::body::Upload>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.cancel();
    }
}

impl Conn {
    /// `streams`: made by [`Streams::new`] for this connection (its task
    /// keeps the HTTP/2 limit up to date).
    pub(crate) fn new(
        sender: Sender,
        driver: Task<()>,
        slot: Slot,
        last_write: Rc<Writes>,
        streams: Rc<Streams>,
    ) -> Conn {
        Conn {
            sender,
            driver,
            slot,
            idle_since: Instant::now(),
            reused: false,
            last_write,
            streams,
            upload: None,
        }
    }

    pub(crate) fn origin(&self) -> &Origin {
        &self.slot.origin
    }

    fn expired(&self, now: Instant, expiry: Option<Duration>) -> bool {
        self.sender.is_closed() || expiry.is_some_and(|e| now.duration_since(self.idle_since) >= e)
    }

    /// An HTTP/2 connection with no stream in flight.
    fn unused(&self) -> bool {
        self.streams.active.get() == 0
    }

    /// An HTTP/2 connection closed by the server, or unused for `expiry`.
    fn h2_expired(&self, now: Instant, expiry: Option<Duration>) -> bool {
        self.sender.is_closed()
            || (self.unused() && expiry.is_some_and(|e| now.duration_since(self.streams.idle_since.get()) >= e))
    }

    /// A stream's lease on this HTTP/2 connection.
    fn lease(&self) -> H2Lease {
        let Sender::H2(sender) = &self.sender else {
            unreachable!("only HTTP/2 connections are shared");
        };
        H2Lease {
            sender: sender.clone(),
            last_write: self.last_write.clone(),
            stream: Stream::new(&self.streams),
        }
    }
}

impl State {
    fn uncount(&mut self, origin: &Origin) {
        self.open -= 1;
        if let Some(n) = self.open_per_origin.get_mut(origin) {
            *n -= 1;
            if *n == 0 {
                self.open_per_origin.remove(origin);
            }
        }
    }

    fn count(&mut self, origin: &Origin) {
        self.open += 1;
        *self.open_per_origin.entry(origin.clone()).or_default() += 1;
    }

    /// Takes the most recently idled live connection of `origin`; expired
    /// ones met on the way go to `closing`.
    fn take_idle(&mut self, origin: &Origin, limits: &PoolLimits, closing: &mut Vec<Conn>) -> Option<Conn> {
        let list = self.idle.get_mut(origin)?;
        let now = Instant::now();
        let mut found = None;
        while let Some(conn) = list.pop() {
            self.idle_count -= 1;
            if conn.expired(now, limits.keepalive_expiry) {
                closing.push(conn);
            } else {
                found = Some(conn);
                break;
            }
        }
        if list.is_empty() {
            self.idle.remove(origin);
        }
        found
    }

    /// A stream on the newest live HTTP/2 connection of `origin` that the
    /// server lets open one more; closed and expired ones met on the way go
    /// to `closing`.
    fn take_shared(&mut self, origin: &Origin, limits: &PoolLimits, closing: &mut Vec<Conn>) -> Option<Grant> {
        let list = self.shared.get_mut(origin)?;
        let now = Instant::now();
        let (live, dead): (Vec<Conn>, Vec<Conn>) = std::mem::take(list)
            .into_iter()
            .partition(|conn| !conn.h2_expired(now, limits.keepalive_expiry));
        *list = live;
        let grant = list
            .iter()
            .rev()
            .find(|conn| !conn.streams.full())
            .map(|conn| Grant::Shared(conn.lease()));
        // (At least 1: a server closing down may say 0 for a while.)
        let limit = list.last().map(|conn| conn.streams.limit.get().max(1));
        if list.is_empty() {
            self.shared.remove(origin);
        }
        if let Some(limit) = limit {
            match self.h2_limits.get_mut(origin) {
                Some(known) => *known = limit,
                None => {
                    if self.h2_limits.len() >= H1_ORIGINS_KEPT {
                        self.h2_limits.clear();
                    }
                    self.h2_limits.insert(origin.clone(), limit);
                }
            }
        }
        for conn in dead {
            self.free(conn, closing);
        }
        grant
    }

    /// Takes the HTTP/2 connection unused the longest among those of the
    /// origins `which` accepts.
    fn take_unused_shared(&mut self, which: impl Fn(&Origin) -> bool) -> Option<Conn> {
        let (key, at) = self
            .shared
            .iter()
            .filter(|(o, _)| which(o))
            .flat_map(|(o, list)| list.iter().enumerate().map(move |(i, conn)| (o, i, conn)))
            .filter(|(_, _, conn)| conn.unused())
            .min_by_key(|(_, _, conn)| conn.streams.idle_since.get())
            .map(|(o, i, _)| (o.clone(), i))?;
        let list = self.shared.get_mut(&key)?;
        let conn = list.remove(at);
        if list.is_empty() {
            self.shared.remove(&key);
        }
        Some(conn)
    }

    /// Takes the connection idle the longest: of `origin` if
    /// `same_origin`, else of any other origin.
    fn take_oldest_idle(&mut self, origin: &Origin, same_origin: bool) -> Option<Conn> {
        let key = self
            .idle
            .iter()
            .filter(|(o, list)| (*o == origin) == same_origin && !list.is_empty())
            .min_by_key(|(_, list)| list[0].idle_since)
            .map(|(o, _)| o.clone())?;
        let list = self.idle.get_mut(&key)?;
        let conn = list.remove(0);
        if list.is_empty() {
            self.idle.remove(&key);
        }
        self.idle_count -= 1;
        Some(conn)
    }

    /// What `origin` can get now without waiting.
    fn try_grant(
        &mut self,
        pool: &Pool,
        origin: &Origin,
        fresh: bool,
        may_share: bool,
        closing: &mut Vec<Conn>,
    ) -> Option<Grant> {
        let limits = &pool.limits;
        if !fresh {
            if let Some(grant) = self.take_shared(origin, limits, closing) {
                return Some(grant);
            }
            if let Some(conn) = self.take_idle(origin, limits, closing) {
                return Some(Grant::Idle(conn));
            }
            if self.probing.contains(origin) {
                return None;
            }
        }
        // Room for a new one, closing an idle connection to make it if
        // that is what stands in the way.
        loop {
            let per_origin = self.open_per_origin.get(origin).copied().unwrap_or(0);
            if per_origin >= limits.max_per_host {
                // Only an idle connection of this origin (a fresh request
                // refuses it) can make room here.
                let conn = self
                    .take_oldest_idle(origin, true)
                    .or_else(|| self.take_unused_shared(|o| o == origin))?;
                self.free(conn, closing);
                continue;
            }
            if self.open >= limits.max_connections {
                let conn = self
                    .take_oldest_idle(origin, false)
                    .or_else(|| self.take_oldest_idle(origin, true))
                    .or_else(|| self.take_unused_shared(|_| true))?;
                self.free(conn, closing);
                continue;
            }
            self.count(origin);
            let probing = may_share && !fresh && !self.h1_only.contains(origin);
            if probing {
                self.probing.insert(origin.clone());
            }
            return Some(Grant::Room(Slot {
                pool: pool.me.clone(),
                origin: origin.clone(),
                freed: Cell::new(false),
                probing: Cell::new(probing),
            }));
        }
    }

    /// While requests for `origin` wait, its HTTP/2 connections' tasks
    /// look at the stream limit after every read (see `Writes::watched`).
    fn watch_if_waiting(&self, origin: &Origin) {
        let Some(list) = self.shared.get(origin) else {
            return;
        };
        if self.waiters.iter().any(|w| w.origin == *origin) {
            for conn in list {
                conn.streams.writes.watched.set(true);
            }
        }
    }

    /// Uncounts a connection now and queues it to be closed after the
    /// state is released.
    fn free(&mut self, conn: Conn, closing: &mut Vec<Conn>) {
        self.freed += 1;
        conn.slot.freed.set(true);
        self.uncount(&conn.slot.origin);
        closing.push(conn);
    }
}

impl Pool {
    pub(crate) fn new(limits: PoolLimits) -> Rc<Pool> {
        Rc::new_cyclic(|me| Pool {
            limits: PoolLimits {
                max_connections: limits.max_connections.max(1),
                max_per_host: limits.max_per_host.max(1),
                ..limits
            },
            state: RefCell::default(),
            me: me.clone(),
        })
    }

    /// A connection of `origin` or room to open one, waiting in the queue
    /// if need be. `fresh`: room only.
    ///
    /// Cancel safe: a waiter dropped passes on what it was handed.
    pub(crate) fn checkout(&self, origin: &Origin, fresh: bool, may_share: bool) -> Checkout {
        let mut closing = Vec::new();
        let (granted, made_room) = {
            let mut state = self.state.borrow_mut();
            let freed = state.freed;
            let granted = if state.waiters.is_empty() {
                state.try_grant(self, origin, fresh, may_share, &mut closing)
            } else if !fresh {
                // A stream on a live HTTP/2 connection takes no room from
                // anyone queued: not queued behind them.
                state.take_shared(origin, &self.limits, &mut closing)
            } else {
                None
            };
            (granted, state.freed != freed)
        };
        drop(closing);
        if made_room && granted.is_some() {
            // Closing dead HTTP/2 connections on the way made room that
            // someone queued may be waiting for.
            self.serve_waiters();
        }
        let waiter = Rc::new(Waiter {
            origin: origin.clone(),
            may_share,
            fresh,
            grant: RefCell::new(granted),
            waker: RefCell::new(None),
        });
        if waiter.grant.borrow().is_none() {
            let mut state = self.state.borrow_mut();
            // Its origin's HTTP/2 connections, if any, are at the server's
            // stream limit: their tasks now look at it after every read.
            state.waiters.push_back(waiter.clone());
            state.watch_if_waiting(origin);
            drop(state);
            // The queue may have been served while no one was waiting.
            self.serve_waiters();
        }
        Checkout {
            pool: self.me.clone(),
            waiter,
        }
    }

    /// Keeps a new HTTP/2 connection for every request to its origin and
    /// returns a stream's lease for the request that opened it.
    pub(crate) fn share(&self, conn: Conn) -> H2Lease {
        let lease = conn.lease();
        let origin = conn.origin().clone();
        {
            let mut state = self.state.borrow_mut();
            if conn.slot.probing.replace(false) {
                state.probing.remove(&origin);
            }
            state.h1_only.remove(&origin);
            state.shared.entry(origin.clone()).or_default().push(conn);
        }
        self.serve_waiters();
        // Requests it could not serve yet wait for its limit to rise.
        self.state.borrow().watch_if_waiting(&origin);
        lease
    }

    /// The stream limit an HTTP/2 connection of `origin` had when last
    /// seen (see `State::h2_limits`).
    pub(crate) fn known_stream_limit(&self, origin: &Origin) -> Option<usize> {
        self.state.borrow().h2_limits.get(origin).copied()
    }

    /// A new connection turned out HTTP/1.1: the requests that waited to
    /// learn its protocol go on (each to its own connection).
    pub(crate) fn not_shared(&self, conn: &Conn) {
        let probed = conn.slot.probing.replace(false);
        {
            let mut state = self.state.borrow_mut();
            if probed {
                state.probing.remove(conn.origin());
            }
            if state.h1_only.len() >= H1_ORIGINS_KEPT {
                state.h1_only.clear();
            }
            if conn.origin().https {
                state.h1_only.insert(conn.origin().clone());
            }
        }
        if probed {
            self.serve_waiters();
        }
    }

    /// Takes back a connection whose exchange finished: to the first
    /// request waiting for its origin, to the idle list, or closed.
    pub(crate) fn release(&self, mut conn: Conn) {
        conn.reused = true;
        conn.idle_since = Instant::now();
        // A streamed upload still going after its response (a server that
        // answered early): the connection is closed, not kept for a next
        // request that would wait for a producer that may never finish.
        let uploading = conn.upload.take().is_some_and(|u| u.in_progress());
        let mut closing = Vec::new();
        {
            let mut state = self.state.borrow_mut();
            if conn.sender.is_closed() || uploading {
                state.free(conn, &mut closing);
            } else if let Some(at) = state
                .waiters
                .iter()
                .position(|w| w.origin == *conn.origin() && !w.fresh)
            {
                let waiter = state.waiters.remove(at).expect("found");
                *waiter.grant.borrow_mut() = Some(Grant::Idle(conn));
                let waker = waiter.waker.borrow_mut().take();
                if let Some(w) = waker {
                    w.wake();
                }
            } else {
                let origin = conn.origin().clone();
                state.idle.entry(origin).or_default().push(conn);
                state.idle_count += 1;
                while state.idle_count > self.limits.max_idle {
                    let Some(oldest) = state.take_oldest_idle(&Origin::none(), false) else {
                        break;
                    };
                    state.free(oldest, &mut closing);
                }
            }
        }
        drop(closing);
        self.serve_waiters();
    }

    /// Hands streams on `origin`'s HTTP/2 connections to the requests
    /// queued for that origin, in order, while the server takes more.
    fn serve_shared(&self, origin: &Origin) {
        let mut closing = Vec::new();
        let made_room = {
            let Ok(mut state) = self.state.try_borrow_mut() else {
                return;
            };
            let freed = state.freed;
            let mut i = 0;
            while i < state.waiters.len() {
                let waiter = state.waiters[i].clone();
                if waiter.origin != *origin || waiter.fresh {
                    i += 1;
                    continue;
                }
                let Some(grant) = state.take_shared(origin, &self.limits, &mut closing) else {
                    break;
                };
                state.waiters.remove(i);
                *waiter.grant.borrow_mut() = Some(grant);
                let waker = waiter.waker.borrow_mut().take();
                if let Some(w) = waker {
                    w.wake();
                }
            }
            state.watch_if_waiting(origin);
            state.freed != freed
        };
        drop(closing);
        if made_room {
            self.serve_waiters();
        }
    }

    /// Hands what can be handed to the waiters, in order.
    fn serve_waiters(&self) {
        let mut closing = Vec::new();
        {
            let mut state = self.state.borrow_mut();
            let mut i = 0;
            let mut freed = state.freed;
            while i < state.waiters.len() {
                let waiter = state.waiters[i].clone();
                match state.try_grant(self, &waiter.origin, waiter.fresh, waiter.may_share, &mut closing) {
                    Some(grant) => {
                        state.waiters.remove(i);
                        *waiter.grant.borrow_mut() = Some(grant);
                        let waker = waiter.waker.borrow_mut().take();
                        if let Some(w) = waker {
                            w.wake();
                        }
                    }
                    None => i += 1,
                }
                // Serving this waiter made room (closed dead or idle
                // connections): those passed over before may now fit.
                if state.freed != freed {
                    freed = state.freed;
                    i = 0;
                    continue;
                }
                // Full, nothing idle to close, and no HTTP/2 connection a
                // later waiter could share: nobody further can be served.
                if state.open >= self.limits.max_connections && state.idle_count == 0 && state.shared.is_empty() {
                    break;
                }
            }
        }
        drop(closing);
    }

    /// (open connections, idle connections, waiting requests); HTTP/2
    /// connections count as open, not idle.
    pub(crate) fn stats(&self) -> (usize, usize, usize) {
        let state = self.state.borrow();
        (state.open, state.idle_count, state.waiters.len())
    }

    /// Closes every idle connection.
    pub(crate) fn close_idle(&self) {
        let mut closing = Vec::new();
        {
            let mut state = self.state.borrow_mut();
            let mut idle: Vec<Conn> = state.idle.drain().flat_map(|(_, list)| list).collect();
            state.idle_count = 0;
            // HTTP/2 connections with no stream in flight too.
            while let Some(conn) = state.take_unused_shared(|_| true) {
                idle.push(conn);
            }
            for conn in idle {
                state.free(conn, &mut closing);
            }
        }
        drop(closing);
        self.serve_waiters();
    }
}

impl Origin {
    /// An origin no connection has (for "any origin" searches).
    fn none() -> Origin {
        Origin {
            https: false,
            host: String::new(),
            port: 0,
            proxy: None,
        }
    }
}

/// A request's wait for a connection ([`Pool::checkout`]).
pub(crate) struct Checkout {
    pool: Weak<Pool>,
    waiter: Rc<Waiter>,
}

impl Future for Checkout {
    type Output = Grant;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Grant> {
        if let Some(grant) = self.waiter.grant.borrow_mut().take() {
            return Poll::Ready(grant);
        }
        *self.waiter.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Checkout {
    fn drop(&mut self) {
        let Some(pool) = self.pool.upgrade() else {
            return;
        };
        let grant = self.waiter.grant.borrow_mut().take();
        match grant {
            // Handed over but not taken: pass it on.
            Some(Grant::Idle(conn)) => pool.release(conn),
            Some(Grant::Room(slot)) => drop(slot),
            Some(Grant::Shared(..)) => {}
            None => {
                let mut state = pool.state.borrow_mut();
                if let Some(at) = state.waiters.iter().position(|w| Rc::ptr_eq(w, &self.waiter)) {
                    state.waiters.remove(at);
                }
            }
        }
    }
}
