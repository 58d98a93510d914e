//! One connection: hyper's HTTP/1.1 or HTTP/2 state machine, our service
//! around the router, the keep-alive idle timer, and where the
//! request-framing checks (`framing`) and the upgrade slot (`upgrade`) are
//! applied.
//!
//! # Which protocol
//!
//! Over TLS, what ALPN chose (`h2`, or HTTP/1.1 otherwise). In cleartext,
//! the connection's first bytes: HTTP/2's 24-byte preface (prior knowledge)
//! or anything else (HTTP/1.x). They are read into a buffer large enough
//! for a whole ordinary request head and put back for hyper, so telling
//! the two apart costs no extra read. The wait for them counts against the
//! keep-alive idle timeout and, once a byte has come, the header timeout.
//!
//! # Per request
//!
//! 1. Framing hyper leaves to the application is checked first: a body
//!    declared longer than the limit is refused (`413`) before the handler
//!    runs, and the connection is closed after it.
//! 2. The handler runs under `catch_unwind`: a panic is reported with the
//!    method and path and answered `500`; the connection and the loop go on.
//! 3. If the handler left part of the body unread (and dropped it), the
//!    connection reads the rest before answering, within the body limit and
//!    the header timeout: a malformed body (a bad chunk size) is answered
//!    `400` whatever the handler said, and one that is too long or too slow
//!    gets `Connection: close` instead of being read.
//! 4. The response body is wrapped: when it is finished (or the client goes
//!    away) the request stops counting as in flight, the keep-alive idle
//!    clock restarts, and the request's background jobs start.
//!
//! # Timeouts
//!
//! One lazy timer per connection keeps both the keep-alive idle timeout
//! and the header timeout, with no timer work per request. The I/O adapter
//! stamps the time the head now arriving began (its first read after the
//! stamp was cleared: once the head is complete, and when a response
//! finishes). When the timer fires, it works out the one deadline that
//! applies: none while a request runs; the header deadline while a head is
//! arriving (past it the connection is dropped without an answer:
//! slowloris); otherwise the idle deadline, counted from the last response
//! (past it, hyper's graceful shutdown closes the connection). If that
//! deadline is still ahead, it sleeps until then.
//!
//! The send timeout covers the other direction: responses the client does
//! not take. The I/O adapter notes when a write waits for the socket and
//! counts every write that goes through; the response body wrapper counts
//! the bodies hyper has not come back to (it holds back while the client
//! takes nothing: a full socket buffer, a closed HTTP/2 window) and each
//! poll. While either says the connection waits for the client, the timer
//! closes it once that count has not moved for the send timeout. Neither
//! path reads the clock.

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::{Context, Poll};

use asyncio::time::Instant;
use bytes::Bytes;
use http::header::{HeaderValue, CONNECTION};
use http::StatusCode;
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;

use crate::body::{Body, BodyError, BodyState, RequestBody};
use crate::framing::{ambiguous_framing, bad_host, bad_target_form, declared_length, unknown_coding, HostMemo};
use crate::report;
use crate::request::{Background, Request};
use crate::response::{HttpError, IntoResponse, Response};
use crate::router::Router;
use crate::rt::{HyperIo, LoopTimer, ReadClock};
use crate::transport::Transport;
use crate::upgrade::UpgradeSlot;
use crate::worker::Worker;

/// Serves one accepted connection until it closes.
/// `peer` is `None` for an in-process connection.
pub(crate) async fn serve(worker: Rc<Worker>, router: Rc<Router>, stream: Transport, peer: Option<SocketAddr>) {
    #[cfg(feature = "tls")]
    let stream = match &worker.config.tls {
        Some(ctx) => match handshake(&worker, ctx, stream, peer).await {
            Some(stream) => stream,
            None => return,
        },
        None => stream,
    };
    let mut stream = stream;
    let now = Instant::now();
    let state = Rc::new(ConnState {
        in_flight: Cell::new(0),
        held: Cell::new(0),
        last_done: Cell::new(now),
        host: HostMemo::new(),
        reads: Rc::default(),
        upgrade: Rc::default(),
    });
    let h2 = if stream.is_tls() {
        stream.alpn_is_h2()
    } else if worker.config.http2 {
        match sniff(&worker, &mut stream, &state.reads).await {
            Some(h2) => h2,
            None => return, // closed, idle too long, or the server is stopping
        }
    } else {
        false
    };
    let service = Service {
        worker: worker.clone(),
        router,
        conn: state.clone(),
        peer,
        #[cfg(feature = "tls")]
        tls: stream.tls_info().map(Rc::new),
    };
    let cfg = &worker.config;
    let keep_alive = cfg.keep_alive_timeout;
    if h2 {
        let mut builder = hyper::server::conn::http2::Builder::new(crate::rt::LocalExec);
        builder
            .timer(LoopTimer)
            .max_concurrent_streams(cfg.h2_max_concurrent_streams)
            .max_pending_accept_reset_streams(cfg.h2_max_pending_accept_reset_streams)
            .max_local_error_reset_streams(cfg.h2_max_local_error_reset_streams)
            .max_header_list_size(u32::try_from(cfg.max_header_bytes).unwrap_or(u32::MAX))
            // WebSockets over HTTP/2 (RFC 8441): SETTINGS_ENABLE_CONNECT_PROTOCOL.
            .enable_connect_protocol();
        // No head is read through the clock (HTTP/2 frames are not heads):
        // the idle timeout applies between streams, the send timeout while
        // responses wait for the client.
        let conn = builder.serve_connection(HyperIo::new(stream, Some(state.reads.clone()), false), service);
        let result = drive(conn, &worker, &state).await;
        if let Some(Err(e)) = &result {
            log_end(peer, e);
        }
        return;
    }
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The header timeout is kept here, by the connection's one lazy timer,
    // not by hyper's (which re-arms a timer for every request).
    builder
        .timer(LoopTimer)
        .header_read_timeout(None)
        .max_header_size(cfg.max_header_bytes)
        .keep_alive(!keep_alive.is_zero());
    if cfg.max_headers != HYPER_DEFAULT_MAX_HEADERS {
        // Setting it moves hyper's header array from the stack to one heap
        // allocation per request: only when it differs from hyper's own.
        builder.max_headers(cfg.max_headers);
    }
    let io = HyperIo::new(stream, Some(state.reads.clone()), true);
    let mut conn = builder.serve_connection(io, service);
    let result = drive(&mut conn, &worker, &state).await;
    let Some(result) = result else {
        return; // timed out: dropping the connection closes the socket
    };
    if let Err(e) = &result {
        log_end(peer, e);
    }
    let upgrade = state.upgrade.take();
    let parts = conn.into_parts();
    match upgrade {
        Some(run) if result.is_ok() => {
            let mut io = parts.io.into_inner();
            io.unread(parts.read_buf);
            run(io).await
        }
        _ => linger(parts.io.into_inner(), &worker).await,
    }
}

/// Logs why a connection ended with an error. Clients that vanish, send
/// garbage or time out are normal on a public port: hyper has answered
/// what could be answered.
fn log_end(peer: Option<SocketAddr>, e: &hyper::Error) {
    match peer {
        Some(peer) => tracing::debug!("asyncio-http: connection from {peer}: {e}"),
        None => tracing::debug!("asyncio-http: in-process connection: {e}"),
    }
}

/// hyper's connection futures, either protocol: both can be asked to
/// finish gracefully (HTTP/1.1: after the response in progress; HTTP/2:
/// `GOAWAY`, then the open streams finish).
trait Graceful: Future<Output = hyper::Result<()>> {
    fn graceful(self: Pin<&mut Self>);
}

impl Graceful for hyper::server::conn::http1::Connection<HyperIo<Transport>, Service> {
    fn graceful(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl Graceful for hyper::server::conn::http2::Connection<HyperIo<Transport>, Service, crate::rt::LocalExec> {
    fn graceful(self: Pin<&mut Self>) {
        self.graceful_shutdown();
    }
}

impl<C: Graceful + Unpin> Graceful for &mut C {
    fn graceful(self: Pin<&mut Self>) {
        Pin::new(&mut **self.get_mut()).graceful();
    }
}

/// Drives a connection to its end, with the server's graceful shutdown and
/// the connection's one lazy timer (idle and header timeouts). `None`: the
/// connection was dropped for a timeout.
async fn drive<C: Graceful>(conn: C, worker: &Worker, state: &ConnState) -> Option<hyper::Result<()>> {
    let mut conn = pin!(conn);
    let cfg = &worker.config;
    let (keep_alive, header_timeout) = (cfg.keep_alive_timeout, cfg.header_read_timeout);
    let send_timeout = cfg.send_timeout;
    let mut shutdown = pin!(worker.shutdown.wait());
    let mut shutdown_waker: Option<std::task::Waker> = None;
    // How often a busy connection looks again (the shortest timeout).
    let period = [keep_alive, header_timeout, send_timeout]
        .into_iter()
        .filter(|d| !d.is_zero())
        .min()
        .unwrap_or(LONG_WAIT);
    let mut timer = asyncio::sleep(period);
    let mut closing = false;
    // While responses wait for the client: the progress count last seen,
    // and since when it has not moved.
    let mut stalled: Option<(u32, Instant)> = None;
    // hyper's own `Connection` future flushes what it wrote before it shuts
    // the socket, and stops short of that after a `101`: the socket is then
    // taken back for the WebSocket (hyper's own upgrade path needs `Send`
    // sockets; ours belong to their loop).
    poll_fn(|cx| loop {
        if let Poll::Ready(r) = conn.as_mut().poll(cx) {
            return Poll::Ready(Some(r));
        }
        // The shutdown wait is polled again only when it could answer
        // differently: the event is set, or the task's waker is not the one
        // it holds (callgrind: about 50 instructions a request otherwise).
        if !closing && (worker.shutdown.is_set() || !shutdown_waker.as_ref().is_some_and(|w| w.will_wake(cx.waker()))) {
            if shutdown.as_mut().poll(cx).is_ready() {
                conn.as_mut().graceful();
                closing = true;
                continue;
            }
            shutdown_waker = Some(cx.waker().clone());
        }
        if timer.poll_sleep(cx).is_pending() {
            return Poll::Pending;
        }
        let now = Instant::now();
        let deadline = state.deadline(keep_alive, header_timeout);
        if !matches!(deadline, Deadline::Sending) {
            stalled = None;
        }
        match deadline {
            Deadline::Sending if send_timeout.is_zero() => {
                timer.reset(now.checked_add(period).unwrap_or(now + LONG_WAIT))
            }
            Deadline::Sending => {
                let progress = state.reads.progress.get();
                let since = match stalled {
                    Some((seen, since)) if seen == progress => since,
                    _ => {
                        stalled = Some((progress, now));
                        now
                    }
                };
                let cut = since.checked_add(send_timeout).unwrap_or(since + LONG_WAIT);
                if now >= cut {
                    // The client has taken nothing for the send timeout: a
                    // slow-read attack, a closed flow-control window, or a
                    // peer gone without a word. Close the connection.
                    return Poll::Ready(None);
                }
                timer.reset(cut.min(now.checked_add(period).unwrap_or(now + LONG_WAIT)));
            }
            Deadline::Busy => timer.reset(now.checked_add(period).unwrap_or(now + LONG_WAIT)),
            Deadline::Head(d) if now >= d => {
                // Slowloris, or a head that stopped halfway: close without
                // an answer (there is no request to answer).
                return Poll::Ready(None);
            }
            Deadline::Idle(d) if now >= d => {
                if closing {
                    // Asked to close while idle and still open: a client
                    // holding a half-sent pipelined head. Drop it.
                    return Poll::Ready(None);
                }
                conn.as_mut().graceful();
                closing = true;
                timer.reset(now.checked_add(period).unwrap_or(now + LONG_WAIT));
            }
            Deadline::Head(d) | Deadline::Idle(d) => timer.reset(d),
            Deadline::Never => timer.reset(now + LONG_WAIT),
        }
    })
    .await
}

/// HTTP/2's connection preface (RFC 9113, section 3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How much of a cleartext connection's start is read to tell the
/// protocols apart: an ordinary HTTP/1.1 request head fits, so hyper then
/// finds it whole.
const SNIFF: usize = 4096;

/// Reads a cleartext connection's first bytes and puts them back: whether
/// they open with HTTP/2's preface (`Some(true)`), or are anything else
/// (`Some(false)`: HTTP/1.x, or garbage hyper will answer). `None` when the
/// client closed before sending anything, stayed idle past the keep-alive
/// timeout, stalled past the header timeout after its first byte, or the
/// server began to shut down meanwhile: the connection is then dropped.
async fn sniff(worker: &Worker, stream: &mut Transport, clock: &crate::rt::ReadClock) -> Option<bool> {
    let cfg = &worker.config;
    let limit = |d: std::time::Duration| if d.is_zero() { LONG_WAIT } else { d };
    let mut buf = vec![0u8; SNIFF];
    let mut n = 0;
    let mut first: Option<Instant> = None;
    loop {
        let deadline = match first {
            None => Instant::now() + limit(cfg.keep_alive_timeout),
            Some(t) => t + limit(cfg.header_read_timeout),
        };
        let read = asyncio::timeout_at(deadline, stream.read(&mut buf[n..]));
        let got = match crate::util::first_of(read, worker.shutdown.wait()).await {
            Ok(Ok(Ok(got))) => got,
            _ => return None,
        };
        if got == 0 && n == 0 {
            return None;
        }
        let start = *first.get_or_insert_with(Instant::now);
        n += got;
        let seen = n.min(PREFACE.len());
        let h2 = buf[..seen] == PREFACE[..seen];
        if got == 0 || !h2 || n >= PREFACE.len() {
            buf.truncate(n);
            stream.unread(Bytes::from(buf));
            if !h2 || got == 0 {
                // HTTP/1.x: its head began with these bytes.
                clock.carried.set(Some(start));
                return Some(false);
            }
            return Some(true);
        }
    }
}

/// The server side of the TLS handshake, in the connection's own task (the
/// accept loop goes on accepting meanwhile), within the context's handshake
/// timeout. A failed handshake (a plaintext client, garbage, a client that
/// stalls or refuses our certificate) is normal on a public port: it is
/// logged at debug level and the socket closed. A graceful shutdown closes
/// a connection still in its handshake, as it closes an idle one.
#[cfg(feature = "tls")]
async fn handshake(
    worker: &Worker,
    ctx: &asyncio::tls::ServerContext,
    stream: Transport,
    peer: Option<SocketAddr>,
) -> Option<Transport> {
    let from = Peer(peer);
    match crate::util::first_of(stream.accept_tls(ctx), worker.shutdown.wait()).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(e)) => {
            tracing::debug!("asyncio-http: TLS handshake with {from} failed: {e}");
            None
        }
        Err(()) => {
            tracing::debug!("asyncio-http: TLS handshake with {from} cut short: the server is shutting down");
            None
        }
    }
}

/// A connection's peer in a log line.
#[cfg(feature = "tls")]
struct Peer(Option<SocketAddr>);

#[cfg(feature = "tls")]
impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(peer) => write!(f, "{peer}"),
            None => f.write_str("an in-process client"),
        }
    }
}

/// hyper's header-count limit when none is set (kept on the stack).
const HYPER_DEFAULT_MAX_HEADERS: usize = 100;

/// The longest the connection's timer sleeps at once (a week).
const LONG_WAIT: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// Closes a connection whose writing side is done: reads and drops what the
/// client still sends (a request body nobody read, say) for a moment, so the
/// kernel does not answer it with a reset that could destroy the response
/// before the client reads it.
///
/// Under TLS the end of writing is the session's `close_notify`, sent
/// within the same budget.
async fn linger(mut stream: Transport, worker: &Worker) {
    let budget = if worker.shutdown.is_set() {
        std::time::Duration::from_millis(100)
    } else {
        std::time::Duration::from_secs(1)
    };
    let _ = asyncio::timeout(budget, async {
        let _ = stream.close_write().await;
        let mut buf = [0u8; 4096];
        let mut left = 256 * 1024usize;
        while left > 0 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

pub(crate) struct ConnState {
    in_flight: Cell<usize>,
    /// Response bodies waiting to be asked for more: handed to hyper and
    /// not polled yet, or their last poll gave a frame and hyper has not
    /// come back. hyper holds back while the client takes nothing (a full
    /// socket buffer, a closed HTTP/2 flow-control window).
    held: Cell<u32>,
    last_done: Cell<Instant>,
    /// The last `Host` value that passed the check.
    host: HostMemo,
    /// When the head now arriving began (kept by the I/O adapter).
    reads: Rc<ReadClock>,
    /// Set by an accepted WebSocket handshake.
    upgrade: Rc<UpgradeSlot>,
}

/// What the connection's timer is waiting for.
enum Deadline {
    /// A request is running: neither timeout applies.
    Busy,
    /// Responses wait for the client to take bytes: the send timeout
    /// applies.
    Sending,
    /// A request head is arriving: it must be complete by then.
    Head(Instant),
    /// Nothing is happening: the connection closes then.
    Idle(Instant),
    /// Both timeouts are off.
    Never,
}

impl ConnState {
    fn deadline(&self, keep_alive: std::time::Duration, header_timeout: std::time::Duration) -> Deadline {
        if self.held.get() > 0 || self.reads.write_blocked.get() {
            return Deadline::Sending;
        }
        if self.in_flight.get() > 0 || self.upgrade.tunnels() > 0 {
            return Deadline::Busy;
        }
        match self.reads.head_started.get() {
            Some(start) if !header_timeout.is_zero() => {
                Deadline::Head(start.checked_add(header_timeout).unwrap_or(start + LONG_WAIT))
            }
            Some(_) => Deadline::Never,
            None if !keep_alive.is_zero() => {
                let last = self.last_done.get();
                Deadline::Idle(last.checked_add(keep_alive).unwrap_or(last + LONG_WAIT))
            }
            None => Deadline::Never,
        }
    }
}

#[derive(Clone)]
struct Service {
    worker: Rc<Worker>,
    router: Rc<Router>,
    conn: Rc<ConnState>,
    peer: Option<SocketAddr>,
    /// What the connection's TLS handshake negotiated (none over plain TCP).
    #[cfg(feature = "tls")]
    tls: Option<Rc<asyncio::tls::TlsInfo>>,
}

impl hyper::service::Service<http::Request<Incoming>> for Service {
    type Response = http::Response<TrackedBody>;
    type Error = Infallible;
    type Future = ServiceFuture;

    fn call(&self, req: http::Request<Incoming>) -> ServiceFuture {
        self.conn.in_flight.set(self.conn.in_flight.get() + 1);
        // The head is complete.
        self.conn.reads.head_started.set(None);
        self.conn.reads.capturing.set(false);
        // Made now, so the count is given back even if hyper drops the
        // future before polling it.
        let guard = InFlight {
            conn: self.conn.clone(),
            worker: self.worker.clone(),
            background: Background::fresh(),
            armed: false,
            held: false,
        };
        // Routing and the request's checks run here, synchronously: the
        // future then holds the handler's boxed future and little else.
        let stage = match prepare(self, req, &guard.background) {
            Ok(p) => Stage::Handler(p),
            Err(answer) => Stage::Answer(answer),
        };
        ServiceFuture {
            stage,
            guard: Some(guard),
        }
    }
}

/// One request's response, as hyper polls it: a named future (not a boxed
/// one), since it runs once per request.
pub(crate) struct ServiceFuture {
    stage: Stage,
    guard: Option<InFlight>,
}

enum Stage {
    /// Answered before any handler ran (a refused body, say).
    Answer(Box<Response>),
    /// The route's handler is running.
    Handler(Prepared),
    /// The handler has answered; the rest of its request body is being read.
    AfterBody(Pin<Box<dyn Future<Output = Response>>>),
    Done,
}

impl Future for ServiceFuture {
    type Output = Result<http::Response<TrackedBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match &mut this.stage {
            Stage::Handler(p) => {
                let outcome = match catch_unwind(AssertUnwindSafe(|| Pin::new(&mut p.handler).poll(cx))) {
                    Ok(Poll::Pending) => return Poll::Pending,
                    // The usual end (no request body to see to), written so
                    // the response moves once, into the output.
                    Ok(Poll::Ready(response)) if p.body.is_none() => {
                        this.stage = Stage::Done;
                        return Poll::Ready(Ok(this.finish(response)));
                    }
                    Ok(Poll::Ready(r)) => Ok(r),
                    Err(payload) => Err(report::panic_message(&*payload)),
                };
                let Stage::Handler(p) = std::mem::replace(&mut this.stage, Stage::Done) else {
                    unreachable!()
                };
                let guard = this.guard.as_ref().expect("present until completion");
                let response = match outcome {
                    Ok(r) => r,
                    Err(msg) => {
                        report::handler_panicked(&p.method, p.path.as_ref().map_or("/", |p| p.path()), &msg);
                        guard.background.abandon();
                        HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
                    }
                };
                match p.body {
                    // Rare enough (requests with a body) to be boxed.
                    Some(state) => {
                        let worker = guard.worker.clone();
                        this.stage = Stage::AfterBody(Box::pin(async move {
                            after_body(&worker, state, response, p.expects_continue).await
                        }));
                        Pin::new(this).poll(cx)
                    }
                    None => Poll::Ready(Ok(this.finish(response))),
                }
            }
            Stage::Answer(_) => match std::mem::replace(&mut this.stage, Stage::Done) {
                Stage::Answer(r) => Poll::Ready(Ok(this.finish(*r))),
                _ => unreachable!(),
            },
            Stage::AfterBody(f) => {
                let r = std::task::ready!(f.as_mut().poll(cx));
                this.stage = Stage::Done;
                Poll::Ready(Ok(this.finish(r)))
            }
            Stage::Done => panic!("polled after completion"),
        }
    }
}

impl ServiceFuture {
    /// The response handed to hyper, with the request's in-flight count.
    #[inline(always)]
    fn finish(&mut self, mut response: Response) -> http::Response<TrackedBody> {
        let mut guard = self.guard.take().expect("polled after completion");
        check_upgrade(&guard.conn, &mut response);
        guard.armed = true;
        // Handed to hyper: waits for hyper to ask for its first frame.
        guard.hold(true);
        response.map(|inner| TrackedBody { inner, guard })
    }
}

/// A `101` stands only if the request's own body was sound; any other
/// answer runs no WebSocket (the handler accepted a handshake but answered
/// something else, or panicked).
fn check_upgrade(conn: &ConnState, response: &mut Response) {
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let closing = response.headers().get(CONNECTION).is_some_and(|v| v == "close");
        if closing {
            // The upgrade request's own body was bad: no WebSocket.
            *response = HttpError::new(StatusCode::BAD_REQUEST, "malformed upgrade request")
                .closing()
                .into_response();
        }
    }
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        drop(conn.upgrade.take());
    }
}

/// What a request turns into before its handler runs.
struct Prepared {
    handler: crate::handler::HandlerFuture,
    body: Option<Rc<RefCell<BodyState>>>,
    expects_continue: bool,
    /// For the report if the handler panics (shares the request's bytes;
    /// the path alone: cloning the whole URI costs twice as much).
    method: http::Method,
    path: Option<http::uri::PathAndQuery>,
}

/// The synchronous part of a request: framing checks, the [`Request`], and
/// the route's handler future (or the answer, when there is one already).
#[inline(always)]
fn prepare(service: &Service, mut req: http::Request<Incoming>, bg: &Background) -> Result<Prepared, Box<Response>> {
    let (worker, conn) = (&service.worker, &service.conn);
    if req.version() < http::Version::HTTP_2 {
        if let Some(why) = bad_host(&req, &conn.host).or_else(|| bad_target_form(&req)) {
            return Err(Box::new(
                HttpError::new(StatusCode::BAD_REQUEST, why).closing().into_response(),
            ));
        }
        // An absolute-form target names the host: the `Host` header is
        // ignored for it (RFC 9112, section 3.2.2), so handlers see one.
        if let Some(authority) = req.uri().authority() {
            let host = match authority.port_u16() {
                Some(port) => format!("{}:{port}", authority.host()),
                None => authority.host().to_owned(),
            };
            if let Ok(host) = HeaderValue::from_str(&host) {
                req.headers_mut().insert(http::header::HOST, host);
            }
        }
    }
    // A WebSocket over HTTP/2 is an extended CONNECT (RFC 8441) with
    // `:protocol` `websocket`: routed as the GET its HTTP/1.1 handshake is,
    // so a `get` route serves both.
    if req.method() == http::Method::CONNECT && crate::ws::is_h2_websocket(req.extensions()) {
        *req.method_mut() = http::Method::GET;
    }
    // RFC 9110, section 15.5.15: a target longer than the server will
    // parse MUST get 414.
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target > worker.config.max_uri_bytes {
        return Err(Box::new(
            HttpError::new(StatusCode::URI_TOO_LONG, "request-target too long")
                .closing()
                .into_response(),
        ));
    }
    // A request without a body (hyper saw no length, or a zero one) has no
    // framing to smuggle anything through.
    let has_body = !req.body().is_end_stream();
    // (A coding means a body: hyper frames it by `chunked`, which must be
    // last; HTTP/2 has no transfer codings.)
    if has_body && req.version() < http::Version::HTTP_2 && unknown_coding(&req) {
        return Err(Box::new(
            HttpError::new(
                StatusCode::NOT_IMPLEMENTED,
                "only the chunked transfer coding is supported",
            )
            .closing()
            .into_response(),
        ));
    }
    if has_body && ambiguous_framing(&req, &conn.reads.head.borrow()) {
        return Err(Box::new(
            HttpError::new(StatusCode::BAD_REQUEST, "ambiguous request framing")
                .closing()
                .into_response(),
        ));
    }
    let limit = worker.config.max_body_bytes;
    if has_body {
        if let Some(len) = declared_length(req.headers()) {
            if len > limit {
                return Err(Box::new(HttpError::from(BodyError::TooLarge { limit }).into_response()));
            }
        }
    }
    let expects_continue = has_body
        && req
            .headers()
            .get(http::header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let (head, incoming) = req.into_parts();
    let (method, path) = (head.method.clone(), head.uri.path_and_query().cloned());
    let body = has_body.then(|| BodyState::new(incoming, limit));
    let request = Request {
        head: Box::new(head),
        body: RequestBody { state: body.clone() },
        params: Vec::new(),
        peer: service.peer,
        #[cfg(feature = "tls")]
        tls: service.tls.clone(),
        background: bg.clone(),
        worker: Some(worker.clone()),
        upgrade: Some(conn.upgrade.clone()),
        state: None,
        locals: None,
    };
    Ok(Prepared {
        handler: service.router.dispatch(request),
        body,
        expects_continue,
        method,
        path,
    })
}

/// After a handler that had a request body: reads what it left unread,
/// and closes the connection when the body's framing cannot be trusted.
async fn after_body(
    worker: &Worker,
    state: Rc<RefCell<BodyState>>,
    mut response: Response,
    expects_continue: bool,
) -> Response {
    if Rc::strong_count(&state) == 1 {
        if expects_continue && !state.borrow().touched {
            // The client waits for `100 Continue` before sending the body,
            // and the handler answered without wanting it: do not invite the
            // upload only to drop it.
            close_after(&mut response);
        } else {
            // The handler is done with the body: read what it left.
            let timeout = worker.config.header_read_timeout;
            let timeout = if timeout.is_zero() { LONG_WAIT } else { timeout };
            match asyncio::timeout(timeout, drain(&state)).await {
                Ok(Ok(())) => {}
                Ok(Err(e @ BodyError::Malformed(_))) => response = HttpError::from(e).into_response(),
                Ok(Err(_)) | Err(_) => close_after(&mut response),
            }
        }
    }
    if state.borrow().failed {
        close_after(&mut response);
    }
    response
}

async fn drain(state: &Rc<std::cell::RefCell<BodyState>>) -> Result<(), BodyError> {
    poll_fn(|cx| loop {
        match state.borrow_mut().poll_chunk(cx) {
            Poll::Ready(None) => return Poll::Ready(Ok(())),
            Poll::Ready(Some(Ok(_))) => {}
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
    })
    .await
}

fn close_after(response: &mut Response) {
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
}

/// Counts the request as in flight until its response body is finished,
/// then starts its background jobs.
struct InFlight {
    conn: Rc<ConnState>,
    worker: Rc<Worker>,
    background: Background,
    /// Set once the handler has answered: a request abandoned before that
    /// (the client went away) does not start its background jobs.
    armed: bool,
    /// Counted in the connection's `held` (see there).
    held: bool,
}

impl InFlight {
    fn hold(&mut self, on: bool) {
        if self.held != on {
            self.held = on;
            let held = &self.conn.held;
            held.set(if on { held.get() + 1 } else { held.get() - 1 });
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.hold(false);
        let in_flight = self.conn.in_flight.get() - 1;
        self.conn.in_flight.set(in_flight);
        if in_flight == 0 {
            // The idle timeout counts from the last request's end (read
            // only then: HTTP/2 streams often finish in batches), as the
            // loop last read its clock: a turn's staleness is nothing
            // against a timeout of seconds, and it saves a clock read per
            // request.
            self.conn.last_done.set(Instant::recent());
        }
        // Bytes read while the request ran were its body's, not a new head.
        self.conn.reads.head_started.set(None);
        if self.armed {
            self.background.start(&self.worker);
        } else {
            self.background.abandon();
        }
        self.background.recycle();
    }
}

pin_project_lite::pin_project! {
    /// A response body that tells the connection when it is finished.
    pub(crate) struct TrackedBody {
        #[pin]
        inner: Body,
        guard: InFlight,
    }
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        this.guard.conn.reads.progressed();
        let r = this.inner.poll_frame(cx);
        // A frame given: held until hyper comes back for the next (it does
        // once the client has taken room for it). Waiting on the
        // application (`Pending`) or finished: not held.
        this.guard.hold(matches!(r, Poll::Ready(Some(Ok(_)))));
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Answers a connection over the limit with `503` and closes it. Under TLS
/// the handshake comes first (the client could not read the answer
/// otherwise), as for a served connection but within at most
/// [`REJECT_HANDSHAKE`].
pub(crate) async fn reject_busy(worker: Rc<Worker>, stream: Transport, peer: Option<SocketAddr>) {
    const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 20\r\nretry-after: 1\r\nconnection: close\r\n\r\nServer at capacity.\n";
    #[cfg(feature = "tls")]
    let stream = match &worker.config.tls {
        Some(ctx) => match asyncio::timeout(REJECT_HANDSHAKE, handshake(&worker, ctx, stream, peer)).await {
            Ok(Some(stream)) => stream,
            Ok(None) | Err(_) => return,
        },
        None => stream,
    };
    #[cfg(not(feature = "tls"))]
    let _ = (&worker, peer);
    let mut stream = stream;
    let _ = asyncio::timeout(std::time::Duration::from_secs(1), async {
        stream.write_all(BUSY).await?;
        stream.close_write().await
    })
    .await;
}

/// The longest a connection refused for being over the limit may take to
/// finish its TLS handshake before it is closed without its `503`.
#[cfg(feature = "tls")]
const REJECT_HANDSHAKE: std::time::Duration = std::time::Duration::from_secs(5);
