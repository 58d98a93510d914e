//! The byte stream a connection is served over: a TCP connection the
//! listener accepted, or one end of a Unix socket pair handed over by
//! [`RunningServer::connect_local`](crate::RunningServer::connect_local)
//! (an in-process client: no network, no peer address); with
//! [`Server::tls`](crate::Server::tls), either one under TLS.
//!
//! After an upgrade (a WebSocket's `101`), hyper hands back the socket and
//! the bytes it had read past the request head; [`Transport::unread`] puts
//! those in front of the socket, so the WebSocket reads them first. (hyper's
//! own upgrade machinery wants `Send` sockets; ours belong to their loop.)
//! Under TLS those bytes are plaintext hyper read through the session, so
//! they go in front of the session's output, as for a plain socket.
//!
//! One concrete type, not a trait object: hyper's I/O adapter and the
//! WebSocket run on it directly, and the choice costs one `match` per read
//! or write. The TLS session is boxed, so the plain variants (and the
//! `match` on them) are as they were without TLS.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use asyncio::net::{TcpStream, UnixStream};
use bytes::Bytes;
use futures_io::{AsyncRead, AsyncWrite};

/// An accepted connection's socket.
pub(crate) struct Transport {
    socket: Socket,
    /// Bytes already read from the socket, to be read again first.
    unread: Bytes,
}

enum Socket {
    Tcp(TcpStream),
    Local(UnixStream),
    /// A TLS session over a `Tcp` or `Local` socket (never over another
    /// `Tls`), after its handshake.
    #[cfg(feature = "tls")]
    Tls(Box<TlsSession>),
    /// An HTTP/2 stream taken over by an extended CONNECT (RFC 8441): a
    /// WebSocket over HTTP/2. (hyper's upgraded stream is `Send`: the h2
    /// crate's stream handles, not our socket.)
    Stream(Box<H2Stream>),
}

/// hyper's upgraded HTTP/2 stream as a `futures-io` stream.
pub(crate) struct H2Stream(hyper::upgrade::Upgraded);

impl AsyncRead for H2Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut rb = hyper::rt::ReadBuf::new(buf);
        match hyper::rt::Read::poll_read(Pin::new(&mut self.get_mut().0), cx, rb.unfilled()) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().len())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for H2Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        hyper::rt::Write::poll_write(Pin::new(&mut self.get_mut().0), cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_flush(Pin::new(&mut self.get_mut().0), cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_shutdown(Pin::new(&mut self.get_mut().0), cx)
    }
}

/// A TLS session that says goodbye when dropped: if nothing closed it
/// before (a WebSocket handler that returned, a connection dropped at a
/// timeout), dropping it queues `close_notify` and makes one non-blocking
/// attempt to send it, so the peer reads a clean end of stream rather
/// than a truncation (asyncio's SSL transport does the same on `close()`).
/// A peer that is not reading just sees the socket close.
#[cfg(feature = "tls")]
struct TlsSession {
    stream: asyncio::tls::TlsStream<Socket>,
}

#[cfg(feature = "tls")]
impl Drop for TlsSession {
    fn drop(&mut self) {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let _ = Pin::new(&mut self.stream).poll_close(&mut cx);
    }
}

/// Runs `$body` with `$s` bound to the socket, whichever kind it is (every
/// kind is a `futures-io` stream).
macro_rules! on_socket {
    ($socket:expr, $s:ident => $body:expr) => {
        match $socket {
            Socket::Tcp($s) => $body,
            Socket::Local($s) => $body,
            #[cfg(feature = "tls")]
            Socket::Tls(session) => {
                let $s = &mut session.stream;
                $body
            }
            Socket::Stream(stream) => {
                let $s = &mut **stream;
                $body
            }
        }
    };
}

impl Transport {
    /// A TCP connection, with Nagle's algorithm off.
    pub(crate) fn tcp(stream: TcpStream) -> Transport {
        let _ = stream.set_nodelay(true);
        Transport::new(Socket::Tcp(stream))
    }

    /// One end of an in-process socket pair.
    pub(crate) fn local(stream: UnixStream) -> Transport {
        Transport::new(Socket::Local(stream))
    }

    /// An HTTP/2 stream hyper handed over after an extended CONNECT.
    pub(crate) fn upgraded(stream: hyper::upgrade::Upgraded) -> Transport {
        Transport::new(Socket::Stream(Box::new(H2Stream(stream))))
    }

    fn new(socket: Socket) -> Transport {
        Transport {
            socket,
            unread: Bytes::new(),
        }
    }

    /// Runs the server side of a TLS handshake on a freshly accepted
    /// connection, within `ctx`'s handshake timeout.
    ///
    /// Not cancel safe: a handshake cut short leaves nothing usable (the
    /// socket is closed with the future).
    #[cfg(feature = "tls")]
    pub(crate) async fn accept_tls(
        self,
        ctx: &asyncio::tls::ServerContext,
    ) -> Result<Transport, asyncio::tls::TlsError> {
        debug_assert!(self.unread.is_empty(), "nothing is read before the handshake");
        let stream = ctx.accept(self.socket).await?;
        Ok(Transport::new(Socket::Tls(Box::new(TlsSession { stream }))))
    }

    /// Runs the client side of a TLS handshake on a freshly connected
    /// socket, verifying the server's certificate against `server_name`,
    /// within `ctx`'s handshake timeout.
    ///
    /// Not cancel safe: a handshake cut short leaves nothing usable.
    #[cfg(feature = "tls")]
    pub(crate) async fn connect_tls(
        self,
        ctx: &asyncio::tls::ClientContext,
        server_name: &str,
    ) -> Result<Transport, asyncio::tls::TlsError> {
        debug_assert!(self.unread.is_empty(), "nothing is read before the handshake");
        let stream = ctx.connect(server_name, self.socket).await?;
        Ok(Transport::new(Socket::Tls(Box::new(TlsSession { stream }))))
    }

    /// Whether the connection runs TLS.
    pub(crate) fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Socket::Tls(_) = &self.socket {
            return true;
        }
        false
    }

    /// Whether TLS's ALPN chose HTTP/2.
    pub(crate) fn alpn_is_h2(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Socket::Tls(session) = &self.socket {
            return session.stream.info().alpn_protocol() == Some(b"h2");
        }
        false
    }

    /// What the TLS handshake negotiated; `None` on a plain socket.
    #[cfg(feature = "tls")]
    pub(crate) fn tls_info(&self) -> Option<asyncio::tls::TlsInfo> {
        match &self.socket {
            Socket::Tls(session) => Some(session.stream.info()),
            _ => None,
        }
    }

    /// Puts `bytes` (read from the socket but not consumed) in front of
    /// what the socket has still to give.
    pub(crate) fn unread(&mut self, bytes: Bytes) {
        debug_assert!(self.unread.is_empty());
        self.unread = bytes;
    }

    /// Reads into `buf`; `Ok(0)` at the end of the stream.
    pub(crate) async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| Pin::new(&mut *self).poll_read(cx, buf)).await
    }

    /// Writes all of `buf` and flushes it (through the TLS session, if any).
    pub(crate) async fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = poll_fn(|cx| Pin::new(&mut self.socket).poll_write(cx, buf)).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            buf = &buf[n..];
        }
        poll_fn(|cx| Pin::new(&mut self.socket).poll_flush(cx)).await
    }

    /// Ends the writing side: a TLS session first sends its `close_notify`
    /// (and what is still buffered), which can wait for the peer to read;
    /// a plain socket's is shut at once.
    pub(crate) async fn close_write(&mut self) -> io::Result<()> {
        match &mut self.socket {
            Socket::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
            Socket::Local(s) => s.shutdown(std::net::Shutdown::Write),
            #[cfg(feature = "tls")]
            Socket::Tls(session) => poll_fn(|cx| Pin::new(&mut session.stream).poll_close(cx)).await,
            Socket::Stream(stream) => poll_fn(|cx| Pin::new(&mut **stream).poll_close(cx)).await,
        }
    }
}

impl AsyncRead for Transport {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !this.unread.is_empty() {
            let n = this.unread.len().min(buf.len());
            buf[..n].copy_from_slice(&this.unread.split_to(n));
            return Poll::Ready(Ok(n));
        }
        Pin::new(&mut this.socket).poll_read(cx, buf)
    }
}

impl AsyncWrite for Transport {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().socket).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().socket).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().socket).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().socket).poll_close(cx)
    }
}

impl AsyncRead for Socket {
    #[inline]
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        on_socket!(self.get_mut(), s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Socket {
    #[inline]
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        on_socket!(self.get_mut(), s => Pin::new(s).poll_write(cx, buf))
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        on_socket!(self.get_mut(), s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    #[inline]
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        on_socket!(self.get_mut(), s => Pin::new(s).poll_flush(cx))
    }

    #[inline]
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        on_socket!(self.get_mut(), s => Pin::new(s).poll_close(cx))
    }
}
