//! A thread-per-request HTTP/1.1 server: the shape of a synchronous WSGI
//! server (gunicorn's `sync` workers, `wsgiref`, waitress with N threads),
//! for the contrast with the event-loop server.
//!
//! One acceptor thread takes connections off a [`std::net::TcpListener`] and
//! puts them on a shared queue; a fixed pool of worker threads (15 by
//! default) each takes one connection at a time and serves it to the end:
//! request after request while the client keeps it alive, until the client
//! closes it or leaves it idle for [`KEEP_ALIVE_TIMEOUT`]. A request that
//! waits on I/O holds its worker for the whole wait, so with `W` workers and
//! `N` concurrent requests to `/io` (100 ms each) the last answer comes after
//! about `ceil(N / W) × 100 ms`: the queueing an event loop does not have.
//!
//! Routes:
//!
//! | request | response |
//! |---|---|
//! | `GET /` | `200` `Hello, world!` |
//! | `GET /io` | sleeps [`IO_DELAY`] (100 ms, standing for a database or upstream call), then `200` `done` |
//! | anything else | `404` `Not Found` |
//!
//! `HEAD` is answered as `GET` without the body, query strings are ignored
//! for routing. Request bodies with a `Content-Length` are read and
//! discarded; a request that does not parse (or whose head exceeds 64 KiB)
//! gets `400` and the connection is closed; a request with a
//! `Transfer-Encoding` (a chunked body) gets `501`.
//!
//! ```no_run
//! use asyncio_examples_support::threaded::{ThreadedServer, DEFAULT_WORKERS};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = ThreadedServer::start("127.0.0.1:0".parse()?, DEFAULT_WORKERS)?;
//! println!("listening on http://{}", server.local_addr());
//! // ...
//! server.shutdown(); // stops accepting, finishes in-flight requests, joins every thread
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Worker threads when none are asked for: the contrast's 15.
pub const DEFAULT_WORKERS: usize = 15;

/// The listen backlog. std's `TcpListener::bind` uses 128: a burst of 1,000
/// simultaneous connects would overflow it and see dropped SYNs (a 1 s
/// retransmit each) or resets. Linux caps it at `net.core.somaxconn`
/// (4096 by default since 5.4).
pub const LISTEN_BACKLOG: i32 = 1024;

/// How long a worker waits for a request head (on a new connection, or
/// between requests on a kept-alive one) before closing the connection.
/// Also the bound on how long one client can take to send a head.
pub const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The simulated I/O of `GET /io`.
pub const IO_DELAY: Duration = Duration::from_millis(100);

/// How long a write to a client that does not read may block a worker.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest request head accepted (request line and headers).
const MAX_HEAD: usize = 64 * 1024;

/// The most headers a request may have.
const MAX_HEADERS: usize = 64;

/// After an error response, how long (and how much) the client's unread
/// bytes are drained before closing, so that the close does not reset the
/// connection before the client has read the response.
const LINGER_TIME: Duration = Duration::from_millis(500);
const LINGER_BYTES: u64 = 64 * 1024;

/// A running thread-per-request server.
///
/// Dropping it shuts it down as [`shutdown`](Self::shutdown) does.
pub struct ThreadedServer {
    local_addr: SocketAddr,
    workers: usize,
    shared: Arc<Shared>,
    /// A handle on the listening socket, to wake the acceptor if connecting
    /// to it fails.
    listener: TcpListener,
    acceptor: Option<JoinHandle<()>>,
    pool: Vec<JoinHandle<()>>,
}

impl ThreadedServer {
    /// Binds `addr` (port 0 picks a free port) with a backlog of
    /// [`LISTEN_BACKLOG`], and starts the acceptor thread and `workers`
    /// worker threads (at least one).
    ///
    /// It also raises this process's soft limit on open files to the hard
    /// limit (as Go's runtime does at start): each connection, queued or
    /// served, holds a descriptor, and 1,000 clients in the same process
    /// need more than 2,048.
    ///
    /// # Errors
    /// Binding or listening fails (address in use, permission), or a thread
    /// cannot be spawned.
    pub fn start(addr: SocketAddr, workers: usize) -> io::Result<ThreadedServer> {
        crate::raise_open_files_limit();
        let workers = workers.max(1);
        let listener = bind(addr)?;
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            stopping: AtomicBool::new(false),
            active: Mutex::new(Active::default()),
        });
        let mut server = ThreadedServer {
            local_addr,
            workers,
            shared: Arc::clone(&shared),
            listener: listener.try_clone()?,
            acceptor: None,
            pool: Vec::with_capacity(workers),
        };
        // Declared after `server`, so dropped before it: on an error below,
        // the queue closes (the sender goes with the failed spawn's closure
        // or at the return), then dropping `server` joins the workers started
        // so far, which see the queue closed.
        let (queue_tx, queue_rx) = mpsc::channel();
        let queue_rx = Arc::new(Mutex::new(queue_rx));
        for i in 0..workers {
            let queue_rx = Arc::clone(&queue_rx);
            let shared = Arc::clone(&shared);
            let handle = thread::Builder::new()
                .name(format!("threaded-worker-{i}"))
                .spawn(move || worker_loop(&queue_rx, &shared))?;
            server.pool.push(handle);
        }
        let acceptor = thread::Builder::new()
            .name("threaded-acceptor".into())
            .spawn(move || accept_loop(&listener, &queue_tx, &shared))?;
        server.acceptor = Some(acceptor);
        Ok(server)
    }

    /// The address the server listens on (with the port picked if 0 was
    /// asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The number of worker threads: how many connections are served at a
    /// time.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Stops the server and joins all its threads.
    ///
    /// New connections are no longer accepted (those still in the listen
    /// backlog or the queue are closed unanswered); requests being handled
    /// finish and get their response (with `Connection: close`); idle
    /// keep-alive connections are closed at once. Returns after about the
    /// longest in-flight request ([`IO_DELAY`] here).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(acceptor) = self.acceptor.take() else {
            // Never fully started: the workers only wait for the queue,
            // closed when `start` returned its error.
            self.shared.stop_connections();
            join_all(self.pool.drain(..));
            return;
        };
        self.shared.stop_connections();
        wake_acceptor(self.local_addr, &self.listener);
        join_all(std::iter::once(acceptor).chain(self.pool.drain(..)));
    }
}

impl Drop for ThreadedServer {
    fn drop(&mut self) {
        if self.acceptor.is_some() || !self.pool.is_empty() {
            self.stop();
        }
    }
}

impl std::fmt::Debug for ThreadedServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadedServer")
            .field("local_addr", &self.local_addr)
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

/// What the acceptor, the workers and `shutdown` share.
struct Shared {
    /// Set (under the `active` lock) when the server stops.
    stopping: AtomicBool,
    /// The connections being served, so that shutdown can wake the workers
    /// blocked reading them.
    active: Mutex<Active>,
}

#[derive(Default)]
struct Active {
    next_id: u64,
    conns: HashMap<u64, TcpStream>,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    fn active(&self) -> MutexGuard<'_, Active> {
        self.active.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records `stream` as being served; `None` if the server is stopping
    /// (the caller then just closes it). The flag is read under the lock
    /// that [`stop_connections`](Self::stop_connections) sets it under, so
    /// no connection is registered after the sweep and missed by it.
    fn register(&self, stream: &TcpStream) -> Option<Registration<'_>> {
        let mut active = self.active();
        if self.stopping() {
            return None;
        }
        let id = active.next_id;
        active.next_id += 1;
        // Without a second handle shutdown cannot wake this connection's
        // worker; it still ends, at the next read timeout.
        if let Ok(handle) = stream.try_clone() {
            active.conns.insert(id, handle);
        }
        Some(Registration { shared: self, id })
    }

    /// Sets the stopping flag and shuts the read half of every connection
    /// being served: a worker blocked waiting for a request reads end of
    /// stream at once, one handling a request still writes its response.
    fn stop_connections(&self) {
        let active = self.active();
        self.stopping.store(true, Ordering::Release);
        for conn in active.conns.values() {
            let _ = conn.shutdown(Shutdown::Read);
        }
    }
}

/// A connection's entry in [`Active`], removed when dropped.
struct Registration<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.shared.active().conns.remove(&self.id);
    }
}

/// A listening socket on `addr` with [`LISTEN_BACKLOG`] (and `SO_REUSEADDR`,
/// as std sets on Unix, so a restarted server can rebind at once).
fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// Accepts connections and queues them for the workers until the server
/// stops. Its end drops the queue's sender, which tells idle workers to
/// exit.
fn accept_loop(listener: &TcpListener, queue: &Sender<TcpStream>, shared: &Shared) {
    loop {
        match listener.accept() {
            Ok((stream, _peer)) => {
                if shared.stopping() {
                    // Most likely the wake-up connection from `shutdown`.
                    return;
                }
                if queue.send(stream).is_err() {
                    return; // every worker is gone
                }
            }
            Err(_) if shared.stopping() => return,
            Err(e) => match e.kind() {
                // The peer gave up before we took it: nothing to do.
                io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::Interrupted => {}
                // Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS):
                // the connection stays in the backlog; back off rather than
                // spin, and retry when workers have closed some.
                _ => {
                    eprintln!("threaded server: accept failed: {e}");
                    thread::sleep(Duration::from_millis(50));
                }
            },
        }
    }
}

/// Unblocks the acceptor's `accept` by connecting to the listener. If that
/// fails (a firewall, an address we cannot reach), shutting the listening
/// socket down makes a blocked `accept` fail on Linux.
fn wake_acceptor(local_addr: SocketAddr, listener: &TcpListener) {
    let target = match local_addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), local_addr.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), local_addr.port()),
        _ => local_addr,
    };
    if TcpStream::connect_timeout(&target, Duration::from_secs(1)).is_err() {
        let _ = socket2::SockRef::from(listener).shutdown(Shutdown::Both);
    }
}

fn join_all(handles: impl IntoIterator<Item = JoinHandle<()>>) {
    for handle in handles {
        // A worker's panics are caught per connection; a panic here would be
        // a bug in the loop itself, already reported by the panic hook.
        let _ = handle.join();
    }
}

/// A worker: takes connections off the queue one at a time and serves each
/// to its end, until the queue closes.
fn worker_loop(queue: &Mutex<Receiver<TcpStream>>, shared: &Shared) {
    loop {
        // The lock is held only while waiting, so exactly one idle worker
        // waits on the channel and the others on the lock: each connection
        // goes to one worker.
        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(stream) = next else {
            return; // the acceptor is gone: the server is stopping
        };
        let Some(_registration) = shared.register(&stream) else {
            continue; // stopping: close it unanswered
        };
        // A panic while serving one connection must not cost the pool a
        // worker; the panic hook has already printed it.
        let _ = panic::catch_unwind(AssertUnwindSafe(|| serve_connection(stream, shared)));
    }
}

/// What the request head said that serving it needs.
struct RequestHead {
    method: Method,
    /// The path, without the query string.
    path: String,
    keep_alive: bool,
    body: BodyKind,
    expect_continue: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Head,
    Other,
}

enum BodyKind {
    Length(u64),
    Chunked,
}

/// The outcome of waiting for a request head.
enum NextRequest {
    Request(RequestHead),
    /// The client closed the connection or went idle between requests.
    Done,
    /// Bytes that are not a valid request head (or too many of them).
    Invalid,
    /// The client sent part of a head and then nothing in time.
    TimedOut,
}

/// A canned response.
struct Response {
    status: u16,
    reason: &'static str,
    body: &'static [u8],
}

const BAD_REQUEST: Response = Response {
    status: 400,
    reason: "Bad Request",
    body: b"Bad Request",
};
const REQUEST_TIMEOUT: Response = Response {
    status: 408,
    reason: "Request Timeout",
    body: b"Request Timeout",
};
const NOT_IMPLEMENTED: Response = Response {
    status: 501,
    reason: "Not Implemented",
    body: b"chunked request bodies are not supported",
};

/// Serves requests on `stream` until the client closes it, goes idle, sends
/// something invalid, asks to close, or the server stops.
fn serve_connection(mut stream: TcpStream, shared: &Shared) {
    if stream.set_nodelay(true).is_err() || stream.set_write_timeout(Some(WRITE_TIMEOUT)).is_err() {
        return;
    }
    // Bytes read and not yet used: a pipelined next request can be there.
    let mut buf = Vec::with_capacity(4096);
    loop {
        let head = match read_head(&mut stream, &mut buf) {
            Ok(NextRequest::Request(head)) => head,
            Ok(NextRequest::Done) | Err(_) => return,
            Ok(NextRequest::Invalid) => return reject(stream, &BAD_REQUEST),
            Ok(NextRequest::TimedOut) => return reject(stream, &REQUEST_TIMEOUT),
        };
        let length = match head.body {
            BodyKind::Length(n) => n,
            BodyKind::Chunked => return reject(stream, &NOT_IMPLEMENTED),
        };
        if head.expect_continue && length > 0 && stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err() {
            return;
        }
        match discard_body(&mut stream, &mut buf, length) {
            Ok(true) => {}
            Ok(false) | Err(_) => return,
        }

        let response = route(head.method, &head.path);
        let keep_alive = head.keep_alive && !shared.stopping();
        if write_response(&mut stream, &response, head.method == Method::Head, keep_alive).is_err() || !keep_alive {
            return;
        }
    }
}

/// The application: what a WSGI callable would be.
fn route(method: Method, path: &str) -> Response {
    match (method, path) {
        (Method::Get | Method::Head, "/") => Response {
            status: 200,
            reason: "OK",
            body: b"Hello, world!",
        },
        (Method::Get | Method::Head, "/io") => {
            // Blocking I/O: the worker (and its connection) waits.
            thread::sleep(IO_DELAY);
            Response {
                status: 200,
                reason: "OK",
                body: b"done",
            }
        }
        _ => Response {
            status: 404,
            reason: "Not Found",
            body: b"Not Found",
        },
    }
}

/// Reads until `buf` starts with a complete request head, which is parsed
/// and removed from `buf`.
///
/// # Errors
/// A read error other than a timeout (connection reset, ...).
fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<NextRequest> {
    let deadline = Instant::now() + KEEP_ALIVE_TIMEOUT;
    let mut chunk = [0u8; 4096];
    loop {
        if !buf.is_empty() {
            match parse_head(buf) {
                Ok(Some((len, head))) => {
                    buf.drain(..len);
                    return Ok(NextRequest::Request(head));
                }
                Ok(None) if buf.len() < MAX_HEAD => {}
                Ok(None) | Err(()) => return Ok(NextRequest::Invalid),
            }
        }
        let timed_out = if buf.is_empty() {
            NextRequest::Done
        } else {
            NextRequest::TimedOut
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(timed_out);
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut chunk) {
            // End of stream; in the middle of a head the client gave up.
            Ok(0) => return Ok(NextRequest::Done),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                return Ok(timed_out);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Parses a request head at the start of `buf`: its length and what it
/// says, `None` if incomplete, `Err` if invalid.
fn parse_head(buf: &[u8]) -> Result<Option<(usize, RequestHead)>, ()> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(()),
    };
    let method = match req.method {
        Some("GET") => Method::Get,
        Some("HEAD") => Method::Head,
        _ => Method::Other,
    };
    let target = req.path.ok_or(())?;
    let path = target.split_once('?').map_or(target, |(path, _query)| path).to_owned();
    let http11 = req.version == Some(1);

    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut close = false;
    let mut keep_alive = false;
    let mut expect_continue = false;
    for header in req.headers.iter() {
        let value = std::str::from_utf8(header.value).map_err(|_| ())?.trim();
        if header.name.eq_ignore_ascii_case("content-length") {
            // Digits only (no sign, no spaces); repeats must agree.
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(());
            }
            let n: u64 = value.parse().map_err(|_| ())?;
            if content_length.is_some_and(|m| m != n) {
                return Err(());
            }
            content_length = Some(n);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = true;
        } else if header.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                close |= token.eq_ignore_ascii_case("close");
                keep_alive |= token.eq_ignore_ascii_case("keep-alive");
            }
        } else if header.name.eq_ignore_ascii_case("expect") {
            expect_continue = value.eq_ignore_ascii_case("100-continue");
        }
    }
    let body = match (chunked, content_length) {
        // Both framings at once is how requests get smuggled: refuse.
        (true, Some(_)) => return Err(()),
        (true, None) => BodyKind::Chunked,
        (false, n) => BodyKind::Length(n.unwrap_or(0)),
    };
    Ok(Some((
        len,
        RequestHead {
            method,
            path,
            // HTTP/1.1 keeps the connection unless told not to; 1.0 closes
            // it unless asked to keep it.
            keep_alive: if http11 { !close } else { keep_alive && !close },
            body,
            expect_continue,
        },
    )))
}

/// Reads and drops a body of `length` bytes, taking what is already in
/// `buf` first. `false` if the client closed the connection before the end.
fn discard_body(stream: &mut TcpStream, buf: &mut Vec<u8>, length: u64) -> io::Result<bool> {
    let buffered = usize::try_from(length).map_or(buf.len(), |n| n.min(buf.len()));
    buf.drain(..buffered);
    let rest = length - buffered as u64;
    if rest == 0 {
        return Ok(true);
    }
    stream.set_read_timeout(Some(KEEP_ALIVE_TIMEOUT))?;
    let copied = io::copy(&mut Read::by_ref(stream).take(rest), &mut io::sink())?;
    Ok(copied == rest)
}

fn write_response(stream: &mut TcpStream, response: &Response, head_only: bool, keep_alive: bool) -> io::Result<()> {
    let mut out = Vec::with_capacity(160 + response.body.len());
    write!(
        out,
        "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
        response.status,
        response.reason,
        response.body.len(),
        if keep_alive { "keep-alive" } else { "close" },
    )?;
    if !head_only {
        out.extend_from_slice(response.body);
    }
    stream.write_all(&out)?;
    stream.flush()
}

/// Sends an error response and closes the connection without losing the
/// response: the client may have sent bytes we will not read, and closing
/// a socket with unread input resets the connection, which can discard the
/// response before the client reads it. So: send, half-close, and drain
/// what comes for a short while.
fn reject(mut stream: TcpStream, response: &Response) {
    if write_response(&mut stream, response, false, false).is_err() {
        return;
    }
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + LINGER_TIME;
    let mut drained = 0u64;
    let mut chunk = [0u8; 4096];
    while drained < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => drained += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}
