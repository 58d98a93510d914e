//! [`Server`]: listeners, worker loops, limits and graceful shutdown.
//!
//! # Shape
//!
//! One event loop per worker, each on its own thread with its own
//! `SO_REUSEPORT` listener on the same port: the kernel spreads new
//! connections over the loops, and nothing is shared between them on the
//! request path (no locks, no cross-thread wakes). Worker 0 runs on the loop
//! that called [`Server::start`]; workers 1.. get a thread and a loop each.
//! Every worker builds its own [`Router`] by calling the application
//! function on its own thread, so handler state need not be `Send`.
//!
//! Each worker owns one [`TaskGroup`]: every connection, WebSocket and
//! background job is a child of it, so nothing the server started can
//! outlive it.
//!
//! # Shutdown
//!
//! [`ServerHandle::shutdown`] (or `SIGINT`/`SIGTERM` under
//! [`RunningServer::wait`]) closes one channel that every worker waits on.
//! A worker then stops accepting and closes its listener, asks every
//! connection to finish (hyper's graceful shutdown: an idle keep-alive
//! connection closes at once, a busy one after its response), wakes
//! long-lived handlers through [`Request::shutdown_signal`], and waits
//! for its task group up to [`Server::graceful_timeout`]; what is left is
//! cancelled (its destructors run). Then the `on_shutdown` hooks run.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use asyncio::net::{TcpListener, UnixStream};
use asyncio::sync::Event;
use asyncio::TaskGroup;

use crate::conn;
use crate::report;
use crate::router::Router;
use crate::transport::Transport;
use crate::util::{first_of, CatchUnwind};
use crate::worker::{Config, Worker};

/// The longest any timeout may be (longer ones are treated as this).
const MAX_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

/// An HTTP/1.1 and WebSocket server (the `uvicorn` role), configured by
/// its methods and started with [`serve`](Server::serve) or
/// [`start`](Server::start).
///
/// ```no_run
/// use asyncio_http::{Request, Router, Server};
///
/// async fn hello(_req: Request) -> &'static str {
///     "Hello, world!"
/// }
///
/// #[asyncio::main]
/// async fn main() -> std::io::Result<()> {
///     Server::bind("127.0.0.1:8080")
///         .workers(2)
///         .serve(|| Router::new().get("/", hello))
///         .await
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Server {
    addr: String,
    workers: usize,
    handle_signals: bool,
    config: Config,
}

impl Server {
    /// A server that will listen on `addr` (`"host:port"`; port 0 picks a
    /// free one). One worker loop by default.
    pub fn bind(addr: impl Into<String>) -> Server {
        Server {
            addr: addr.into(),
            workers: 1,
            handle_signals: true,
            config: Config::default(),
        }
    }

    /// Worker loops, one thread each (at least 1). To use every core:
    /// `std::thread::available_parallelism()`. The first worker is the loop
    /// that starts the server; the others run on the same I/O driver
    /// ([`asyncio::io::Driver`]).
    pub fn workers(mut self, n: usize) -> Server {
        self.workers = n.max(1);
        self
    }

    /// Whether [`RunningServer::wait`] (and so [`serve`](Server::serve))
    /// shuts down gracefully on `SIGINT` and `SIGTERM` (default: yes).
    pub fn handle_signals(mut self, on: bool) -> Server {
        self.handle_signals = on;
        self
    }

    /// Most bytes of request line and headers (default 16 KiB); more is
    /// answered `431` and the connection closed.
    pub fn max_header_bytes(mut self, n: usize) -> Server {
        self.config.max_header_bytes = n;
        self
    }

    /// Whether HTTP/2 is served (default: yes): over TLS to clients whose
    /// ALPN chose `h2`, and in cleartext to clients that open with its
    /// preface (prior knowledge, "h2c": gRPC-style clients and proxies),
    /// told from HTTP/1.x on the same port by the connection's first bytes.
    /// Routing, handlers, streaming bodies, limits, timeouts and graceful
    /// shutdown (`GOAWAY`, then the open streams finish) are the same on
    /// both protocols, and so are WebSockets (over HTTP/2 by RFC 8441's
    /// extended CONNECT).
    pub fn http2(mut self, on: bool) -> Server {
        self.config.http2 = on;
        self
    }

    /// Most streams one HTTP/2 client may have open at once (default 128,
    /// nginx's): announced in the connection's `SETTINGS`; a client that
    /// opens more has them refused. Also bounds how many handlers one
    /// connection can run at a time.
    pub fn http2_max_concurrent_streams(mut self, n: u32) -> Server {
        self.config.h2_max_concurrent_streams = n;
        self
    }

    /// The HTTP/2 "rapid reset" defence (CVE-2023-44487): most streams a
    /// client may open and cancel (`RST_STREAM`) before the server has
    /// taken them up (default 20, hyper's). Past it the connection gets
    /// `GOAWAY` with `ENHANCE_YOUR_CALM` and is closed.
    pub fn http2_max_pending_accept_reset_streams(mut self, n: usize) -> Server {
        self.config.h2_max_pending_accept_reset_streams = n;
        self
    }

    /// Most HTTP/2 streams the server may reset for a client's protocol
    /// errors on one connection (default 1024, hyper's): streams past the
    /// concurrency limit, malformed headers, and the like. Past it the
    /// connection gets `GOAWAY` with `ENHANCE_YOUR_CALM` and is closed.
    pub fn http2_max_local_error_reset_streams(mut self, n: usize) -> Server {
        self.config.h2_max_local_error_reset_streams = n;
        self
    }

    /// The reverse proxies (addresses or networks: `127.0.0.1`,
    /// `10.0.0.0/8`, `fd00::/8`) whose `X-Forwarded-For` and
    /// `X-Forwarded-Proto` headers are believed (default: none, the
    /// headers are ignored). A request from one of them has
    /// [`Request::client_ip`](crate::Request::client_ip) and
    /// [`Request::scheme`](crate::Request::scheme) from those headers: the
    /// client is the first address that is not a trusted proxy, counting
    /// from the right of `X-Forwarded-For` (the entries further left come
    /// from the client and may be made up); a request from anyone else
    /// keeps its own peer address and scheme whatever it sends. uvicorn's
    /// `--forwarded-allow-ips` (which trusts `127.0.0.1` by default).
    /// [`start`](Server::start) refuses an entry that is not an address or
    /// network (`InvalidInput`).
    pub fn trusted_proxies<S: AsRef<str>>(mut self, proxies: impl IntoIterator<Item = S>) -> Server {
        match crate::forwarded::TrustedProxies::parse(proxies) {
            Ok(t) => {
                self.config.trusted_proxies = t;
                self.config.bad_proxy = None;
            }
            Err(e) => self.config.bad_proxy = Some(e),
        }
        self
    }

    /// Longest request-target (path and query) in bytes (default 8 KiB,
    /// nginx's request-line buffer); longer is answered `414 URI Too Long`
    /// and the connection closed. A target past
    /// [`max_header_bytes`](Server::max_header_bytes) is refused by the
    /// head's limit first (`431`).
    pub fn max_uri_bytes(mut self, n: usize) -> Server {
        self.config.max_uri_bytes = n;
        self
    }

    /// Most header lines (default 100); more is answered `431`.
    pub fn max_headers(mut self, n: usize) -> Server {
        self.config.max_headers = n;
        self
    }

    /// Time a client has to send a complete request head (default 10 s):
    /// the slowloris defence. The connection is closed when it runs out.
    /// Zero turns it off. Each timeout here is capped at a year.
    pub fn header_read_timeout(mut self, d: Duration) -> Server {
        self.config.header_read_timeout = d.min(MAX_TIMEOUT);
        self
    }

    /// How long an idle keep-alive connection is kept open (default 5 s,
    /// as uvicorn). Zero turns keep-alive off: one request per connection.
    pub fn keep_alive_timeout(mut self, d: Duration) -> Server {
        self.config.keep_alive_timeout = d.min(MAX_TIMEOUT);
        self
    }

    /// How long responses may wait for the client to take any of their
    /// bytes (default 60 s, as nginx's `send_timeout`): the connection is
    /// closed once its responses have made no progress for that long.
    /// Progress is the socket taking bytes or hyper asking a response body
    /// for more; a stall is a client that stops reading (a slow-read
    /// attack, a flood of HTTP/2 `PING`s or `SETTINGS` whose answers it
    /// never reads) or keeps an HTTP/2 flow-control window closed. A
    /// handler still working, or a stream waiting for its next event, is
    /// not a stall. Checked by the connection's timer: the cut comes up to
    /// the shortest of the timeouts later. Zero turns it off.
    pub fn send_timeout(mut self, d: Duration) -> Server {
        self.config.send_timeout = d.min(MAX_TIMEOUT);
        self
    }

    /// Largest request body (default 1 MiB). A larger `Content-Length` is
    /// answered `413` before the handler runs; a chunked body that grows
    /// past it fails the handler's read with
    /// [`BodyError::TooLarge`](crate::BodyError::TooLarge) (`413`).
    pub fn max_body_bytes(mut self, n: u64) -> Server {
        self.config.max_body_bytes = n;
        self
    }

    /// Most open connections per worker (default 10,000); past it new
    /// connections are answered `503` and closed.
    pub fn max_connections(mut self, n: usize) -> Server {
        self.config.max_connections = n.max(1);
        self
    }

    /// How long shutdown waits for in-flight requests, WebSockets and
    /// background jobs before cancelling them (default 30 s).
    pub fn graceful_timeout(mut self, d: Duration) -> Server {
        self.config.graceful_timeout = d.min(MAX_TIMEOUT);
        self
    }

    /// Largest WebSocket message and frame (default 16 MiB each); a larger
    /// one closes the WebSocket with code 1009.
    pub fn websocket_max_message(mut self, n: usize) -> Server {
        self.config.ws_max_message = n;
        self.config.ws_max_frame = n;
        self
    }

    /// Per-message deflate (RFC 7692) for WebSockets: accepted when a
    /// client offers it (browsers do), with these settings. On by default
    /// ([`WsDeflate::default`](crate::ws::WsDeflate)); pass
    /// [`WsDeflate::disabled`](crate::ws::WsDeflate::disabled) to decline
    /// every offer.
    pub fn websocket_deflate(mut self, deflate: crate::ws::WsDeflate) -> Server {
        self.config.ws_deflate = deflate;
        self
    }

    /// Serves HTTPS (and WebSockets as `wss://`) with the certificate and
    /// settings of `ctx` (Python's `uvicorn --ssl-certfile --ssl-keyfile`):
    /// every worker loop shares the one context, so
    /// [`reload_pem_files`](asyncio::tls::ServerContext::reload_pem_files)
    /// on it rotates the certificate for new connections. In-process
    /// connections ([`RunningServer::connect_local`]) speak TLS too.
    ///
    /// Each connection's handshake runs in its own task, within the
    /// context's handshake timeout, and counts against
    /// [`max_connections`](Server::max_connections); the limits and
    /// timeouts here apply from the end of the handshake, as on a plain
    /// connection. A failed handshake (a client that speaks plaintext or
    /// garbage, stalls, or does not trust the certificate) closes only its
    /// own connection and is logged through `tracing` at debug level.
    ///
    /// HTTP/2 is served to clients whose ALPN chose `h2`: build the context
    /// with `.alpn(["h2", "http/1.1"])` to offer it (browsers speak HTTP/2
    /// only over TLS, and only when it is offered so). The list may offer
    /// only `h2` (unless [`http2`](Server::http2) is off), `http/1.1` and
    /// `http/1.0`; [`start`](Server::start) refuses anything else. With no
    /// ALPN list, clients use HTTP/1.1 without being told.
    ///
    /// ```no_run
    /// use asyncio::tls::ServerContext;
    /// use asyncio_http::{Request, Router, Server};
    ///
    /// async fn hello(_req: Request) -> &'static str {
    ///     "Hello over TLS!"
    /// }
    ///
    /// #[asyncio::main]
    /// async fn main() -> std::io::Result<()> {
    ///     let tls = ServerContext::builder()
    ///         .cert_pem_files("cert.pem", "key.pem")?
    ///         .alpn(["h2", "http/1.1"])
    ///         .build()?;
    ///     Server::bind("127.0.0.1:8443")
    ///         .tls(tls)
    ///         .serve(|| Router::new().get("/", hello))
    ///         .await
    /// }
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(mut self, ctx: asyncio::tls::ServerContext) -> Server {
        self.config.tls = Some(ctx);
        self
    }

    /// HTTPS with a certificate chain and its private key from PEM files
    /// (uvicorn's `--ssl-certfile` and `--ssl-keyfile`): [`tls`](Server::tls)
    /// with a context that offers HTTP/2 and HTTP/1.1 through ALPN (only
    /// HTTP/1.1 if [`http2`](Server::http2) was turned off before).
    ///
    /// # Errors
    /// A file could not be read, or holds no certificate or no usable key.
    #[cfg(feature = "tls")]
    pub fn tls_pem_files(
        self,
        cert: impl AsRef<std::path::Path>,
        key: impl AsRef<std::path::Path>,
    ) -> io::Result<Server> {
        let alpn: &[&str] = if self.config.http2 {
            &["h2", "http/1.1"]
        } else {
            &["http/1.1"]
        };
        let ctx = asyncio::tls::ServerContext::builder()
            .cert_pem_files(cert, key)?
            .alpn(alpn.iter().copied())
            .build()?;
        Ok(self.tls(ctx))
    }

    /// Starts the server and serves until it is shut down (by a signal, or
    /// a [`ServerHandle`] taken from a [`RunningServer`]).
    ///
    /// # Errors
    /// Binding failed, or a worker failed to start.
    ///
    /// # Cancel safety
    /// Dropping the future shuts the server down gracefully in the
    /// background.
    pub async fn serve<F>(self, app: F) -> io::Result<()>
    where
        F: Fn() -> Router + Send + Sync + 'static,
    {
        self.start(app).await?.wait().await
    }

    /// Binds, starts the worker loops, and returns once they listen.
    ///
    /// # Errors
    /// The address did not resolve or could not be bound (also when another
    /// server holds the port), or a worker failed to start (its thread,
    /// the application function, or a startup hook failed or panicked).
    /// With [`tls`](Server::tls), a context whose ALPN list offers a
    /// protocol other than `h2` and HTTP/1.x, or `h2` with
    /// [`http2`](Server::http2) off (`InvalidInput`).
    ///
    /// # Panics
    /// With no running event loop on the thread.
    ///
    /// # Cancel safety
    /// Dropping the future before it returns shuts down the workers it had
    /// started (gracefully, in the background, as dropping a
    /// [`RunningServer`] does); before the bind, nothing was started.
    pub async fn start<F>(self, app: F) -> io::Result<RunningServer>
    where
        F: Fn() -> Router + Send + Sync + 'static,
    {
        #[cfg(feature = "tls")]
        if let Some(ctx) = &self.config.tls {
            check_alpn(ctx, self.config.http2)?;
        }
        if let Some(e) = &self.config.bad_proxy {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("trusted_proxies: {e}"),
            ));
        }
        let addr = resolve(&self.addr).await?;
        let listeners = bind_listeners(addr, self.workers)?;
        let local_addr = listeners[0].local_addr()?;
        let workers = listeners.len();
        let (stop_tx, stop_rx) = async_channel::bounded::<()>(1);
        let (ready_tx, ready_rx) = async_channel::unbounded::<io::Result<()>>();
        let (done_tx, done_rx) = async_channel::unbounded::<io::Result<()>>();
        let (local_tx, local_rx) = async_channel::unbounded::<std::os::unix::net::UnixStream>();
        let app: Arc<dyn Fn() -> Router + Send + Sync> = Arc::new(app);
        let config = Arc::new(self.config);
        let mut running = RunningServer {
            local_addr,
            handle: ServerHandle { stop: stop_tx },
            local: local_tx,
            loops: None,
            workers: 0,
            done: done_rx,
            handle_signals: self.handle_signals,
        };
        // Workers 1.. on loops of their own (thread-per-core), worker 0 on
        // the calling loop; every worker reports its end through `done`.
        let mut listeners = listeners.into_iter();
        let first = listeners.next().expect("at least one listener");
        let others: Vec<_> = listeners
            .map(|listener| {
                let sources = Sources {
                    stop: stop_rx.clone(),
                    local: local_rx.clone(),
                };
                Some((listener, sources, ReadyGuard(Some(ready_tx.clone()))))
            })
            .collect();
        if !others.is_empty() {
            let n = others.len();
            let parts = std::sync::Mutex::new(others);
            let (app, config, done_tx) = (app.clone(), config.clone(), done_tx.clone());
            // The other workers' loops run on the I/O driver this one runs on.
            let driver = asyncio::get_running_loop().driver();
            let started = asyncio::loops::Loops::builder()
                .threads(n)
                .runner(move |_| asyncio::Runner::new().driver(driver))
                .thread_name_fn(|i| format!("asyncio-http-worker-{}", i + 1))
                .start(move |cx| {
                    let part = parts.lock().unwrap_or_else(|e| e.into_inner())[cx.index()].take();
                    let (app, config, done_tx) = (app.clone(), config.clone(), done_tx.clone());
                    async move {
                        let Some((listener, sources, ready)) = part else {
                            return; // started twice: cannot happen
                        };
                        let worker = async move {
                            let listener = TcpListener::from_std(listener)?;
                            run_worker(listener, &*app, config, sources, ready).await
                        };
                        let r = match CatchUnwind::new(worker).await {
                            Ok(r) => r,
                            Err(msg) => Err(io::Error::other(format!("worker {} panicked: {msg}", cx.index() + 1))),
                        };
                        let _ = done_tx.try_send(r);
                    }
                });
            match started {
                Ok(loops) => {
                    running.loops = Some(loops);
                    running.workers += n;
                }
                Err(e) => return Err(e),
            }
        }
        {
            let (app, config, done_tx) = (app.clone(), config.clone(), done_tx.clone());
            let sources = Sources {
                stop: stop_rx.clone(),
                local: local_rx.clone(),
            };
            let ready = ReadyGuard(Some(ready_tx.clone()));
            let worker = async move {
                let listener = TcpListener::from_std(first)?;
                run_worker(listener, &*app, config, sources, ready).await
            };
            let task = asyncio::task::Builder::new()
                .name("asyncio-http worker 0")
                .spawn(async move {
                    let r = match CatchUnwind::new(worker).await {
                        Ok(r) => r,
                        Err(msg) => Err(io::Error::other(format!("worker 0 panicked: {msg}"))),
                    };
                    let _ = done_tx.try_send(r);
                });
            drop(task);
            running.workers += 1;
        }
        drop(ready_tx);
        // Every worker reports once it listens (after its startup hooks);
        // one that fails stops the rest.
        for _ in 0..workers {
            let r = ready_rx
                .recv()
                .await
                .unwrap_or_else(|_| Err(io::Error::other("a worker ended before it was ready")));
            if let Err(e) = r {
                running.handle.shutdown();
                // The worker's own error (its panic message, say) says more
                // than "not ready".
                let joined = running.join_workers().await;
                return Err(joined.err().unwrap_or(e));
            }
        }
        Ok(running)
    }
}

/// Tells `start` a worker is ready, or, dropped unsent (the worker failed
/// or panicked first), that it is not.
struct ReadyGuard(Option<async_channel::Sender<io::Result<()>>>);

impl ReadyGuard {
    fn ready(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.try_send(Ok(()));
        }
    }
}

impl Drop for ReadyGuard {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.try_send(Err(io::Error::other("a worker failed while starting")));
        }
    }
}

/// A TLS context may offer through ALPN only what the server speaks: a
/// client that picked anything else would get bytes it cannot read.
#[cfg(feature = "tls")]
fn check_alpn(ctx: &asyncio::tls::ServerContext, http2: bool) -> io::Result<()> {
    let config = ctx.rustls_config();
    let spoken = |p: &[u8]| matches!(p, b"http/1.1" | b"http/1.0") || (http2 && p == b"h2");
    match config.alpn_protocols.iter().find(|p| !spoken(p)) {
        Some(other) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the TLS context offers {:?} through ALPN; this server speaks {} (offer those)",
                String::from_utf8_lossy(other),
                if http2 {
                    "\"h2\" and \"http/1.1\""
                } else {
                    "\"http/1.1\" only (HTTP/2 is off)"
                }
            ),
        )),
        None => Ok(()),
    }
}

async fn resolve(addr: &str) -> io::Result<SocketAddr> {
    if let Ok(a) = addr.parse() {
        return Ok(a);
    }
    let owned = addr.to_owned();
    let mut addrs = asyncio::to_thread(move || owned.to_socket_addrs())
        .await
        .map_err(io::Error::other)??;
    addrs
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{addr} resolved to no address")))
}

/// One listener per worker; with more than one, all share the port through
/// `SO_REUSEPORT` (the first one picks it when the port is 0).
fn bind_listeners(addr: SocketAddr, workers: usize) -> io::Result<Vec<std::net::TcpListener>> {
    let mut out = Vec::with_capacity(workers);
    let mut addr = addr;
    if workers > 1 && addr.port() != 0 {
        // SO_REUSEPORT would quietly join another server's group on this
        // port: a plain bind first fails with "address in use" instead.
        let probe = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, None)?;
        probe.set_reuse_address(true)?;
        probe.bind(&addr.into())?;
    }
    for _ in 0..workers {
        let sock = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, None)?;
        sock.set_reuse_address(true)?;
        if workers > 1 {
            sock.set_reuse_port(true)?;
        }
        sock.set_nonblocking(true)?;
        sock.bind(&addr.into())?;
        sock.listen(1024)?;
        let l: std::net::TcpListener = sock.into();
        addr = l.local_addr()?;
        out.push(l);
    }
    Ok(out)
}

/// A started server: its address, a handle to stop it, and a way to wait
/// for it. Dropping it starts a graceful shutdown (which goes on in the
/// background).
pub struct RunningServer {
    local_addr: SocketAddr,
    handle: ServerHandle,
    /// In-process connections, to whichever worker takes them first.
    local: async_channel::Sender<std::os::unix::net::UnixStream>,
    /// The loops of workers 1.. (worker 0 runs on the calling loop).
    loops: Option<asyncio::loops::Loops<()>>,
    /// Workers started (worker 0 on the calling loop, the rest on threads).
    workers: usize,
    /// Each worker's result when it ends.
    done: async_channel::Receiver<io::Result<()>>,
    handle_signals: bool,
}

impl RunningServer {
    /// The address it listens on (the chosen port, when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle that shuts the server down from anywhere (any thread).
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// A connection to the server that does not go through the network
    /// (Starlette's `TestClient` role): one end of a Unix socket pair, the
    /// other end served by a worker as if its listener had accepted it
    /// (same limits and timeouts, same shutdown; its requests have no
    /// [`peer_addr`](crate::Request::peer_addr)). Bytes written to it are
    /// ready for the server at once, with no network stack in between,
    /// which keeps tests on the virtual clock deterministic. On a server
    /// with [`Server::tls`] the connection speaks TLS like the others: run
    /// the client's handshake over it
    /// ([`ClientContext::connect`](asyncio::tls::ClientContext::connect)).
    ///
    /// ```no_run
    /// # async fn demo(server: asyncio_http::RunningServer) -> std::io::Result<()> {
    /// let conn = server.connect_local()?;
    /// conn.write_all(b"GET / HTTP/1.1\r\nHost: local\r\nConnection: close\r\n\r\n").await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// The server is shutting down, or the OS refused a socket pair.
    ///
    /// # Panics
    /// With no running event loop on the thread.
    pub fn connect_local(&self) -> io::Result<UnixStream> {
        if self.handle.is_shutting_down() {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "the server is shutting down",
            ));
        }
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
        let ours = UnixStream::from_std(ours)?;
        self.local
            .try_send(theirs)
            .map_err(|_| io::Error::new(io::ErrorKind::ConnectionRefused, "the server has stopped"))?;
        Ok(ours)
    }

    /// Waits until the server has shut down: after [`ServerHandle::shutdown`],
    /// or, if signals are handled, `SIGINT` or `SIGTERM`. A worker that
    /// fails shuts the others down too.
    ///
    /// # Errors
    /// The first error a worker loop ended with.
    ///
    /// # Cancel safety
    /// Dropping the wait drops the server: it shuts down gracefully in the
    /// background, and the signal handlers are removed.
    pub async fn wait(mut self) -> io::Result<()> {
        if !self.handle_signals {
            return self.join_workers().await;
        }
        let stop = self.handle.clone();
        let signals = asyncio::create_task(async move {
            let int = std::pin::pin!(asyncio::signal::recv(asyncio::signal::SIGINT));
            let term = std::pin::pin!(asyncio::signal::recv(asyncio::signal::SIGTERM));
            let (Ok(first) | Err(first)) = first_of(int, term).await;
            if let Err(e) = first {
                report::error(format_args!("asyncio-http: cannot wait for signals: {e}"));
                return;
            }
            stop.shutdown();
        });
        // Cancelled however this wait ends (a dropped task would run on).
        let _signals = CancelOnDrop(signals);
        self.join_workers().await
    }

    /// Starts a graceful shutdown and waits for it to finish.
    ///
    /// # Errors
    /// As [`wait`](RunningServer::wait).
    ///
    /// # Cancel safety
    /// As [`wait`](RunningServer::wait).
    pub async fn shutdown(mut self) -> io::Result<()> {
        self.handle.shutdown();
        self.join_workers().await
    }

    async fn join_workers(&mut self) -> io::Result<()> {
        let mut result = Ok(());
        while self.workers > 0 {
            let r = self
                .done
                .recv()
                .await
                .unwrap_or_else(|_| Err(io::Error::other("a worker ended without a result")));
            self.workers -= 1;
            if let Err(e) = r {
                // One worker down: take the others down with it.
                self.handle.shutdown();
                if result.is_ok() {
                    result = Err(e);
                }
            }
        }
        if let Some(loops) = self.loops.take() {
            // Each has sent its result: the join is immediate.
            loops.join();
        }
        result
    }
}

struct CancelOnDrop(asyncio::Task<()>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if self.workers > 0 {
            self.handle.shutdown();
        }
        if let Some(loops) = self.loops.take() {
            // The graceful shutdown goes on in the background: not cancelled.
            loops.detach();
        }
    }
}

impl fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningServer")
            .field("local_addr", &self.local_addr)
            .field("workers", &self.workers)
            .finish()
    }
}

/// Shuts a server down gracefully; `Send` and `Clone`, usable from any
/// thread or loop.
#[derive(Clone, Debug)]
pub struct ServerHandle {
    stop: async_channel::Sender<()>,
}

impl ServerHandle {
    /// Starts the graceful shutdown of every worker (idempotent).
    pub fn shutdown(&self) {
        self.stop.close();
    }

    /// True once shutdown has been asked for.
    pub fn is_shutting_down(&self) -> bool {
        self.stop.is_closed()
    }
}

/// What a worker's accept loop waits on besides its listener.
struct Sources {
    /// Closed when the server shuts down.
    stop: async_channel::Receiver<()>,
    /// In-process connections ([`RunningServer::connect_local`]).
    local: async_channel::Receiver<std::os::unix::net::UnixStream>,
}

/// What woke a worker's accept loop.
enum Next {
    Accepted(io::Result<(asyncio::net::TcpStream, SocketAddr)>),
    Local(std::os::unix::net::UnixStream),
    Stop,
}

async fn run_worker(
    listener: TcpListener,
    app: &(dyn Fn() -> Router + Send + Sync),
    config: Arc<Config>,
    sources: Sources,
    mut ready: ReadyGuard,
) -> io::Result<()> {
    let mut router = app();
    let startup = std::mem::take(&mut router.startup);
    let shutdown_hooks = std::mem::take(&mut router.shutdown);
    for hook in startup {
        hook().await;
    }
    ready.ready();
    let worker = Rc::new(Worker {
        config,
        shutdown: Event::new(),
        tasks: TaskGroup::new(),
        connections: Cell::new(0),
    });
    let router = Rc::new(router);
    {
        // The stop and in-process receives live across accepts (a receive
        // registers a waiter on its channel when it first waits: made once,
        // not once per connection); a new one after each delivery.
        let mut stopped = std::pin::pin!(sources.stop.recv());
        let mut local = std::pin::pin!(sources.local.recv());
        // Every in-process sender gone (the server is being dropped, so the
        // stop is coming): nothing more will come that way.
        let mut local_open = true;
        loop {
            let mut accepted = std::pin::pin!(listener.accept());
            let next = std::future::poll_fn(|cx| {
                if let Poll::Ready(r) = accepted.as_mut().poll(cx) {
                    return Poll::Ready(Some(Next::Accepted(r)));
                }
                if local_open {
                    if let Poll::Ready(r) = local.as_mut().poll(cx) {
                        return Poll::Ready(r.ok().map(Next::Local));
                    }
                }
                match stopped.as_mut().poll(cx) {
                    Poll::Ready(_) => Poll::Ready(Some(Next::Stop)),
                    Poll::Pending => Poll::Pending,
                }
            })
            .await;
            let Some(next) = next else {
                local_open = false;
                continue;
            };
            if matches!(next, Next::Local(_)) {
                local.set(sources.local.recv());
            }
            match next {
                Next::Accepted(Ok((stream, peer))) => accept_one(&worker, &router, Transport::tcp(stream), Some(peer)),
                Next::Accepted(Err(e)) => {
                    // EMFILE and friends: the connection waits in the
                    // backlog; try again shortly instead of spinning.
                    report::error(format_args!("asyncio-http: accept failed: {e}"));
                    asyncio::sleep(Duration::from_millis(100)).await;
                }
                Next::Local(stream) => match UnixStream::from_std(stream) {
                    Ok(stream) => accept_one(&worker, &router, Transport::local(stream), None),
                    Err(e) => report::error(format_args!("asyncio-http: in-process connection failed: {e}")),
                },
                Next::Stop => break, // the stop channel closed
            }
        }
    }
    drop(listener);
    drop(sources.local);
    worker.shutdown.set();
    let w = worker.clone();
    let drained = asyncio::timeout(w.config.graceful_timeout, w.tasks.join()).await;
    if drained.is_err() {
        let left = worker.tasks.len();
        report::error(format_args!(
            "asyncio-http: graceful shutdown timed out after {:?}; cancelling {left} connection(s) and job(s)",
            worker.config.graceful_timeout
        ));
        worker.tasks.cancel();
        let _ = worker.tasks.join().await;
    }
    for hook in shutdown_hooks {
        hook().await;
    }
    Ok(())
}

fn accept_one(worker: &Rc<Worker>, router: &Rc<Router>, stream: Transport, peer: Option<SocketAddr>) {
    if worker.connections.get() >= worker.config.max_connections {
        worker.spawn("connection", conn::reject_busy(worker.clone(), stream, peer));
        return;
    }
    worker.connections.set(worker.connections.get() + 1);
    let guard = ConnCount(worker.clone());
    let (w, r) = (worker.clone(), router.clone());
    worker.spawn("connection", async move {
        let _guard = guard;
        conn::serve(w, r, stream, peer).await;
    });
}

struct ConnCount(Rc<Worker>);

impl Drop for ConnCount {
    fn drop(&mut self) {
        self.0.connections.set(self.0.connections.get() - 1);
    }
}
