//! The byte stream a connection is served over: a TCP connection the
//! listener accepted, or one end of a Unix socket pair handed over by
//! [`RunningServer::connect_local`](crate::RunningServer::connect_local)
//! (an in-process client: no network, no peer address).
//!
//! After an upgrade (a WebSocket's `101`), hyper hands back the socket and
//! the bytes it had read past the request head; [`Transport::unread`] puts
//! those in front of the socket, so the WebSocket reads them first. (hyper's
//! own upgrade machinery wants `Send` sockets; ours belong to their loop.)
//!
//! One concrete type, not a trait object: hyper's I/O adapter and the
//! WebSocket run on it directly, and the choice costs one `match` per read
//! or write.

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
}

/// Runs `$body` with `$s` bound to the socket, whichever kind it is.
macro_rules! on_socket {
    ($socket:expr, $s:ident => $body:expr) => {
        match $socket {
            Socket::Tcp($s) => $body,
            Socket::Local($s) => $body,
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

    fn new(socket: Socket) -> Transport {
        Transport {
            socket,
            unread: Bytes::new(),
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

    /// Writes all of `buf`.
    pub(crate) async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        on_socket!(&self.socket, s => s.write_all(buf).await)
    }

    /// Shuts down one or both directions.
    pub(crate) fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        on_socket!(&self.socket, s => s.shutdown(how))
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
        on_socket!(&mut this.socket, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Transport {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        on_socket!(&mut self.get_mut().socket, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        on_socket!(&mut self.get_mut().socket, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        on_socket!(&mut self.get_mut().socket, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        on_socket!(&mut self.get_mut().socket, s => Pin::new(s).poll_close(cx))
    }
}
