//! TLS on the streams (feature `tls`): [`open_tls_connection`],
//! [`start_tls_server`], [`StreamWriter::start_tls`]. The TLS layer is one
//! more [`Transport`] over the socket's, so the reader and the writer (and
//! their tasks) use it as they use a plain socket.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures_io::{AsyncRead, AsyncWrite};

use super::addr::{Addrs, ToSocketAddrs};
use super::server::{HandlerOutput, Server};
use super::streams::{pair, StreamReader, StreamWriter, Transport, DEFAULT_LIMIT};
use super::tcp::TcpStream;
use super::unix::UnixStream;
use crate::time::Sleep;
use crate::tls::{map_io_error, ClientContext, ServerContext, TlsError, TlsInfo};

/// A plain transport as a `futures_io` stream for futures-rustls, with the
/// bytes a reader had buffered before `start_tls` read first.
pub(crate) struct TransportIo {
    conn: Rc<dyn Transport>,
    unread: Vec<u8>,
    pos: usize,
}

impl TransportIo {
    pub(crate) fn new(conn: Rc<dyn Transport>, unread: Vec<u8>) -> TransportIo {
        TransportIo { conn, unread, pos: 0 }
    }
}

impl AsyncRead for TransportIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pos < this.unread.len() {
            let n = (this.unread.len() - this.pos).min(buf.len());
            buf[..n].copy_from_slice(&this.unread[this.pos..this.pos + n]);
            this.pos += n;
            if this.pos == this.unread.len() {
                this.unread = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(n));
        }
        this.conn.poll_read(cx, buf)
    }
}

impl AsyncWrite for TransportIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.conn.poll_write(cx, buf)
    }

    /// rustls hands its queued records over as one vectored write: a
    /// socket takes them in one `writev`. (futures-rustls makes exactly one
    /// such write of a failed handshake's alert, the "last gasp": with
    /// `AsyncWrite`'s default, which writes only the first slice, a TLS 1.3
    /// client sent the `change_cipher_spec` record in front of its alert and
    /// lost the alert, so a server saw `HandshakeEof` instead of, say,
    /// `UnknownCA`; found by tests/tls_failures.rs `unknown_ca`.)
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.conn.poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.conn.poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.conn.poll_shutdown(cx, Shutdown::Write)
    }
}

/// A TLS session over a plain transport, shared by a reader and a writer.
struct TlsTransport {
    stream: RefCell<futures_rustls::TlsStream<TransportIo>>,
    /// The socket's transport (addresses, abort).
    plain: Rc<dyn Transport>,
    shutdown_timeout: Duration,
    /// Armed by `close` (or a half-close's `poll_shutdown`): past it the
    /// connection is cut.
    shutdown_deadline: RefCell<Option<Pin<Box<Sleep>>>>,
    close_notify_sent: Cell<bool>,
    /// The connection was cut (abort, a write error, the shutdown timeout):
    /// no `close_notify` when dropped.
    cut: Cell<bool>,
    /// This side closed its reading half (a close, an abort): what reads
    /// then meet is the end of the stream, not the peer's truncation.
    read_closed: Cell<bool>,
    info: TlsInfo,
}

impl TlsTransport {
    /// `server_name`: on a client, the name it connected to.
    fn new(
        stream: futures_rustls::TlsStream<TransportIo>,
        server_name: Option<&str>,
        shutdown_timeout: Duration,
    ) -> TlsTransport {
        let (plain, info) = match &stream {
            // The client's info lacked the server name it promises (found by
            // tests/tls_generic.rs).
            futures_rustls::TlsStream::Client(s) => {
                (s.get_ref().0.conn.clone(), TlsInfo::of(s.get_ref().1, server_name))
            }
            futures_rustls::TlsStream::Server(s) => {
                let (io, conn) = s.get_ref();
                (io.conn.clone(), TlsInfo::of(conn, conn.server_name()))
            }
        };
        TlsTransport {
            stream: RefCell::new(stream),
            plain,
            shutdown_timeout,
            shutdown_deadline: RefCell::new(None),
            close_notify_sent: Cell::new(false),
            cut: Cell::new(false),
            read_closed: Cell::new(false),
            info,
        }
    }

    fn with_stream<R>(&self, f: impl FnOnce(Pin<&mut futures_rustls::TlsStream<TransportIo>>) -> R) -> R {
        f(Pin::new(&mut *self.stream.borrow_mut()))
    }

    fn session_wants_write(&self) -> bool {
        match &*self.stream.borrow() {
            futures_rustls::TlsStream::Client(s) => s.get_ref().1.wants_write(),
            futures_rustls::TlsStream::Server(s) => s.get_ref().1.wants_write(),
        }
    }

    /// Arms the shutdown timeout (once).
    fn arm_shutdown_deadline(&self) {
        let mut deadline = self.shutdown_deadline.borrow_mut();
        if deadline.is_none() {
            *deadline = Some(Box::pin(crate::sleep(self.shutdown_timeout)));
        }
    }

    /// Once the shutdown timeout is armed: `Some(error)` when it has passed,
    /// after cutting the connection; else `None`, with `cx` woken at the
    /// deadline (so a flusher waiting on a socket the peer never drains
    /// wakes up to give up).
    fn shutdown_expired(&self, cx: &mut Context<'_>) -> Option<io::Error> {
        let mut deadline = self.shutdown_deadline.borrow_mut();
        let sleep = deadline.as_mut()?;
        if sleep.as_mut().poll(cx).is_pending() {
            return None;
        }
        self.cut.set(true);
        self.plain.set_abortive();
        let _ = self.plain.shutdown(Shutdown::Both);
        Some(io::Error::new(
            io::ErrorKind::TimedOut,
            "TLS shutdown timed out: the peer did not read the rest of the data and close_notify",
        ))
    }

    fn send_close_notify(&self) {
        if !self.close_notify_sent.replace(true) {
            match &mut *self.stream.borrow_mut() {
                futures_rustls::TlsStream::Client(s) => s.get_mut().1.send_close_notify(),
                futures_rustls::TlsStream::Server(s) => s.get_mut().1.send_close_notify(),
            }
        }
    }
}

/// Dropping the last reader and writer of a connection closes it
/// gracefully, as on a plain socket (a FIN, which the peer reads as a clean
/// end): over TLS that takes `close_notify`. Without it, a handler that
/// returned without `close` left its peer a truncation error (found by
/// tests/tls_shutdown.rs). Best effort, as a drop cannot wait: one
/// write that does not block; the writer's flusher has already written the
/// data out (it holds the transport until then), so only the alert is left.
impl Drop for TlsTransport {
    fn drop(&mut self) {
        if self.cut.get() || self.close_notify_sent.get() {
            return;
        }
        self.send_close_notify();
        let mut cx = Context::from_waker(Waker::noop());
        let _ = self.with_stream(|s| s.poll_flush(&mut cx));
    }
}

impl Transport for TlsTransport {
    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self.with_stream(|s| s.poll_read(cx, buf)) {
            // After this side's own close, a reader meets the end of the
            // stream, as on a plain socket (asyncio's reader gets EOF at
            // connection_lost), not the truncation or the reset that a
            // socket shut under rustls looks like (found by
            // tests/tls_shutdown.rs `a_local_close_ends_a_pending_read_cleanly`).
            Poll::Ready(Err(_)) if self.read_closed.get() => Poll::Ready(Ok(0)),
            other => other.map_err(map_io_error),
        }
    }

    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if let Some(e) = self.shutdown_expired(cx) {
            return Poll::Ready(Err(e));
        }
        self.with_stream(|s| s.poll_write(cx, buf)).map_err(map_io_error)
    }

    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        let mut cx = Context::from_waker(Waker::noop());
        match self.poll_write(&mut cx, buf) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.shutdown_expired(cx) {
            return Poll::Ready(Err(e));
        }
        self.with_stream(|s| s.poll_flush(cx)).map_err(map_io_error)
    }

    fn wants_flush(&self) -> bool {
        self.session_wants_write()
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        // Abrupt: no close_notify (abort, a server closing its clients).
        self.cut.set(true);
        if how != Shutdown::Write {
            self.read_closed.set(true);
        }
        self.plain.shutdown(how)
    }

    fn poll_shutdown(&self, cx: &mut Context<'_>, how: Shutdown) -> Poll<io::Result<()>> {
        if how != Shutdown::Write {
            self.read_closed.set(true);
        }
        self.send_close_notify();
        let flushed = self.with_stream(|s| s.poll_flush(cx));
        if let Poll::Ready(r) = flushed {
            let _ = self.plain.shutdown(how);
            return Poll::Ready(r.map_err(map_io_error));
        }
        // The peer does not read: cut the connection at the shutdown
        // timeout (asyncio's `ssl_shutdown_timeout`), armed by `close` or
        // here, by a half-close.
        self.arm_shutdown_deadline();
        match self.shutdown_expired(cx) {
            Some(e) => Poll::Ready(Err(e)),
            None => Poll::Pending,
        }
    }

    /// asyncio's `ssl_shutdown_timeout` runs from the close: it covers the
    /// data the writer still holds, not only `close_notify` behind it.
    /// Armed only in `poll_shutdown`, it never started while a peer that
    /// does not read left the writer's buffer full, and `wait_closed`
    /// waited forever (found by tests/tls_shutdown.rs).
    fn start_close(&self) {
        self.arm_shutdown_deadline();
    }

    /// A server's `close_clients`: `close_notify` (one write that does not
    /// wait), then the socket shut; the handler's read meets the end of
    /// the stream.
    fn close_now(&self) {
        self.read_closed.set(true);
        if !self.cut.get() {
            self.send_close_notify();
            let mut cx = Context::from_waker(Waker::noop());
            let _ = self.with_stream(|s| s.poll_flush(&mut cx));
        }
        self.cut.set(true);
        let _ = self.plain.shutdown(Shutdown::Both);
    }

    fn set_abortive(&self) {
        self.cut.set(true);
        self.plain.set_abortive();
    }

    fn peer_addr(&self) -> Option<SocketAddr> {
        self.plain.peer_addr()
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        self.plain.local_addr()
    }

    fn tls_info(&self) -> Option<TlsInfo> {
        Some(self.info.clone())
    }
}

/// The client handshake over `conn`, then the stream pair on top.
async fn client_pair(
    conn: Rc<dyn Transport>,
    unread: Vec<u8>,
    server_name: &str,
    ctx: &ClientContext,
) -> Result<Rc<dyn Transport>, TlsError> {
    let stream = ctx.handshake(server_name, TransportIo::new(conn, unread)).await?;
    Ok(Rc::new(TlsTransport::new(
        stream,
        Some(server_name),
        ctx.shutdown_timeout,
    )))
}

async fn server_pair(
    conn: Rc<dyn Transport>,
    unread: Vec<u8>,
    ctx: &ServerContext,
) -> Result<Rc<dyn Transport>, TlsError> {
    let stream = ctx.handshake(TransportIo::new(conn, unread)).await?;
    Ok(Rc::new(TlsTransport::new(stream, None, ctx.shutdown_timeout)))
}

/// Connects to `addr` over TCP and runs the TLS handshake, verifying the
/// server's certificate against the host part of `addr` (a name, or an IP
/// address): `asyncio.open_connection(host, port, ssl=ctx)`.
///
/// # Errors
/// [`TlsError::Io`] for the connection or resolver error, else the
/// handshake's [`TlsError`].
///
/// # Cancel safety
/// Cancel safe: nothing is returned until the handshake is done.
pub async fn open_tls_connection(
    addr: impl ToSocketAddrs,
    ctx: &ClientContext,
) -> Result<(StreamReader, StreamWriter), TlsError> {
    let name = match addr.to_addrs()? {
        Addrs::Lookup(host, _) => host,
        Addrs::Ready(addrs) => match addrs.first() {
            Some(a) => a.ip().to_string(),
            None => return Err(io::Error::new(io::ErrorKind::InvalidInput, "no addresses to use").into()),
        },
    };
    open_tls_connection_to(addr, &name, ctx).await
}

/// As [`open_tls_connection`], verifying the certificate against
/// `server_hostname` instead (asyncio's `server_hostname=`), which is also
/// sent through SNI.
///
/// # Errors
/// As `open_tls_connection`.
///
/// # Cancel safety
/// Cancel safe.
pub async fn open_tls_connection_to(
    addr: impl ToSocketAddrs,
    server_hostname: &str,
    ctx: &ClientContext,
) -> Result<(StreamReader, StreamWriter), TlsError> {
    crate::tls::server_name(server_hostname)?;
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let conn = client_pair(Rc::new(stream), Vec::new(), server_hostname, ctx).await?;
    Ok(pair(conn, DEFAULT_LIMIT))
}

/// As [`open_tls_connection_to`], over a Unix socket
/// (`open_unix_connection(path, ssl=ctx, server_hostname=...)`).
///
/// # Errors
/// As `open_tls_connection`.
///
/// # Cancel safety
/// Cancel safe.
pub async fn open_unix_tls_connection(
    path: impl AsRef<Path>,
    server_hostname: &str,
    ctx: &ClientContext,
) -> Result<(StreamReader, StreamWriter), TlsError> {
    crate::tls::server_name(server_hostname)?;
    let stream = UnixStream::connect(path).await?;
    let conn = client_pair(Rc::new(stream), Vec::new(), server_hostname, ctx).await?;
    Ok(pair(conn, DEFAULT_LIMIT))
}

/// As [`start_server`](crate::start_server), serving TLS
/// (`start_server(cb, host, port, ssl=ctx)`): each connection's handshake
/// runs in its own task, within the context's handshake timeout, and the
/// handler gets the stream pair once it succeeded. A failed handshake (a
/// client that does not speak TLS, refuses our certificate, stalls, ...)
/// closes that connection and is logged through `tracing` at debug level,
/// as asyncio logs it in debug mode; the server goes on serving.
///
/// # Errors
/// A bind or resolver error.
///
/// # Cancel safety
/// Cancel safe: nothing is served until it returns.
pub async fn start_tls_server<H, Fut>(handler: H, addr: impl ToSocketAddrs, ctx: &ServerContext) -> io::Result<Server>
where
    H: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future + 'static,
    Fut::Output: HandlerOutput,
{
    super::server::bind_tcp(addr, tls_handler(handler, ctx)).await
}

/// As [`start_tls_server`], on a Unix socket at `path`.
///
/// # Errors
/// The bind error.
///
/// # Cancel safety
/// Cancel safe.
pub async fn start_unix_tls_server<H, Fut>(
    handler: H,
    path: impl AsRef<Path>,
    ctx: &ServerContext,
) -> io::Result<Server>
where
    H: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future + 'static,
    Fut::Output: HandlerOutput,
{
    super::server::bind_unix(path, tls_handler(handler, ctx))
}

/// The handler a TLS server runs on each plain connection: the handshake,
/// then the user's handler on the TLS pair.
fn tls_handler<H, Fut>(
    handler: H,
    ctx: &ServerContext,
) -> impl Fn(StreamReader, StreamWriter) -> Pin<Box<dyn Future<Output = ()>>> + 'static
where
    H: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future + 'static,
    Fut::Output: HandlerOutput,
{
    let handler = Rc::new(handler);
    let ctx = ctx.clone();
    move |reader, writer| {
        let handler = handler.clone();
        let ctx = ctx.clone();
        Box::pin(async move {
            let peer = writer.peer_addr();
            let mut reader = reader;
            // In place: the server's client list holds this writer, so its
            // `close_clients` reaches the TLS layer.
            match writer.start_tls_server(&mut reader, &ctx).await {
                Ok(()) => handler(reader, writer).await.report(),
                Err(e) => {
                    tracing::debug!(peer = ?peer, error = %e, "TLS handshake failed");
                    let conn = writer.transport();
                    conn.set_abortive();
                    let _ = conn.shutdown(Shutdown::Both);
                }
            }
        })
    }
}

impl StreamWriter {
    /// Upgrades this plain connection to TLS in place, as the client
    /// (asyncio's `writer.start_tls(ctx, server_hostname=...)`: STARTTLS,
    /// PostgreSQL's `SSLRequest`). What was queued is written out first;
    /// bytes `reader` had buffered are the start of the server's TLS data.
    /// Afterwards `reader`, this writer and its clones speak TLS.
    ///
    /// # Errors
    /// The handshake's [`TlsError`], or [`TlsError::Config`] when `reader`
    /// is not this writer's connection's or the connection is TLS already.
    /// After an error the connection is unusable.
    ///
    /// # Cancel safety
    /// Not cancel safe: a handshake cut short leaves the connection
    /// unusable.
    pub async fn start_tls(
        &self,
        reader: &mut StreamReader,
        ctx: &ClientContext,
        server_hostname: &str,
    ) -> Result<(), TlsError> {
        crate::tls::server_name(server_hostname)?;
        let conn = self.plain_for_upgrade(reader).await?;
        let unread = reader.replace_transport(conn.clone());
        let tls = client_pair(conn, unread, server_hostname, ctx).await?;
        reader.replace_transport(tls.clone());
        self.replace_transport(tls);
        Ok(())
    }

    /// As [`start_tls`](Self::start_tls), as the server
    /// (`loop.start_tls(..., server_side=True)`).
    ///
    /// # Errors
    /// As `start_tls`.
    ///
    /// # Cancel safety
    /// Not cancel safe.
    pub async fn start_tls_server(&self, reader: &mut StreamReader, ctx: &ServerContext) -> Result<(), TlsError> {
        let conn = self.plain_for_upgrade(reader).await?;
        let unread = reader.replace_transport(conn.clone());
        let tls = server_pair(conn, unread, ctx).await?;
        reader.replace_transport(tls.clone());
        self.replace_transport(tls);
        Ok(())
    }

    /// Checks that `reader` reads this writer's plain connection, and writes
    /// out what is queued.
    async fn plain_for_upgrade(&self, reader: &StreamReader) -> Result<Rc<dyn Transport>, TlsError> {
        let conn = self.transport();
        if !Rc::ptr_eq(&conn, reader.transport()) {
            return Err(TlsError::Config(
                "start_tls: the reader and the writer are not of one connection".into(),
            ));
        }
        if conn.tls_info().is_some() {
            return Err(TlsError::Config("start_tls: the connection is TLS already".into()));
        }
        self.flush().await?;
        Ok(conn)
    }
}
