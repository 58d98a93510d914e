//! The byte stream a connection is served over: a TCP connection the
//! listener accepted, or one end of a Unix socket pair handed over by
//! [`RunningServer::connect_local`](crate::RunningServer::connect_local)
//! (an in-process client: no network, no peer address).
//!
//! One concrete type, not a trait object: hyper's I/O adapter and the
//! WebSocket run on it directly, and the choice costs one `match` per
//! read or write.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use asyncio::net::{TcpStream, UnixStream};
use futures_io::{AsyncRead, AsyncWrite};

/// An accepted connection's socket.
pub(crate) enum Transport {
    Tcp(TcpStream),
    Local(UnixStream),
}

/// Runs `$body` with `$s` bound to the socket, whichever kind it is.
macro_rules! on_socket {
    ($transport:expr, $s:ident => $body:expr) => {
        match $transport {
            Transport::Tcp($s) => $body,
            Transport::Local($s) => $body,
        }
    };
}

impl Transport {
    /// Turns Nagle's algorithm off (TCP only: a local socket has none).
    pub(crate) fn set_nodelay(&self) {
        if let Transport::Tcp(s) = self {
            let _ = s.set_nodelay(true);
        }
    }

    /// Reads into `buf`; `Ok(0)` at the end of the stream.
    pub(crate) async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        on_socket!(self, s => s.read(buf).await)
    }

    /// Writes all of `buf`.
    pub(crate) async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        on_socket!(self, s => s.write_all(buf).await)
    }

    /// Shuts down one or both directions.
    pub(crate) fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        on_socket!(self, s => s.shutdown(how))
    }
}

impl AsyncRead for Transport {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        on_socket!(self.get_mut(), s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Transport {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        on_socket!(self.get_mut(), s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        on_socket!(self.get_mut(), s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        on_socket!(self.get_mut(), s => Pin::new(s).poll_flush(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        on_socket!(self.get_mut(), s => Pin::new(s).poll_close(cx))
    }
}
