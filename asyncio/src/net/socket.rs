//! What TCP and Unix stream sockets share: reading and writing on the
//! reactor, half-close, and the `futures-io` traits; and what UDP and Unix
//! datagram sockets share: sending and receiving on the connected peer; and
//! what the two listeners share: accepting.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::task::{Context, Poll};

use crate::io::AsyncFd;

/// A connected, non-blocking stream socket on the loop's reactor.
pub(crate) struct StreamSocket<S: AsRawFd> {
    pub(crate) fd: AsyncFd<S>,
}

/// The std socket types this works over.
pub(crate) trait StdStream: AsRawFd + std::os::fd::AsFd {
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;
}

impl StdStream for std::net::TcpStream {
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        std::net::TcpStream::shutdown(self, how)
    }
}

impl StdStream for std::os::unix::net::UnixStream {
    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        std::os::unix::net::UnixStream::shutdown(self, how)
    }
}

impl<S> StreamSocket<S>
where
    S: StdStream,
    for<'a> &'a S: Read + Write,
{
    pub(crate) fn new(sock: S) -> io::Result<Self> {
        Ok(StreamSocket {
            fd: AsyncFd::new(sock)?,
        })
    }

    pub(crate) fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let want = buf.len();
        let r = self.fd.poll_read_with(cx, |mut s| s.read(buf));
        // A short read emptied the socket's receive buffer: forget the
        // readiness now instead of learning it from one more read that
        // fails with `EAGAIN`. Data arriving later raises a new edge, seen
        // at the loop's next look at I/O (never between here and there:
        // events are only read then).
        if let Poll::Ready(Ok(n)) = r {
            if n > 0 && n < want {
                self.fd.clear_read_ready();
            }
        }
        r
    }

    /// [`poll_read`](Self::poll_read) into the unfilled part of a tokio
    /// `ReadBuf`, received straight into its uninitialized memory: never
    /// zeroed first (tokio-util's codecs hand every poll a fresh,
    /// uninitialized `ReadBuf` over their whole spare capacity, 8 KiB and
    /// more; zeroing it cost about 4,800 instructions per read).
    #[cfg(feature = "tokio-io")]
    pub(crate) fn poll_read_buf(&self, cx: &mut Context<'_>, buf: &mut tokio::io::ReadBuf<'_>) -> Poll<io::Result<()>> {
        let want = buf.remaining();
        let r = self.fd.poll_read_with(cx, |s| {
            crate::runtime::reactor::recv_into(std::os::fd::AsFd::as_fd(s), buf)
        });
        let n = std::task::ready!(r)?;
        // As in `poll_read`: a short read emptied the receive buffer.
        if n > 0 && n < want {
            self.fd.clear_read_ready();
        }
        Poll::Ready(Ok(()))
    }

    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.fd.poll_write_with(cx, |mut s| s.write(buf))
    }

    pub(crate) fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.fd.poll_write_with(cx, |mut s| s.write_vectored(bufs))
    }

    /// One write attempt without waiting: `WouldBlock` when the socket's
    /// buffer is full.
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        loop {
            match (&mut self.fd.get_ref()).write(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.fd.clear_write_ready();
                    return Err(e);
                }
                r => return r,
            }
        }
    }

    pub(crate) async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_read(cx, buf)).await
    }

    pub(crate) async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_write(cx, buf)).await
    }

    pub(crate) async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write(buf).await? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => buf = &buf[n..],
            }
        }
        Ok(())
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self.fd.get_ref().shutdown(how) {
            // Already disconnected: nothing left to shut.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            r => r,
        }
    }
}

/// The reading and writing methods, the addresses and the `futures-io`
/// traits of a stream socket type wrapping a [`StreamSocket`] of `$std` in a
/// field `inner`.
macro_rules! stream_methods {
    ($ty:ident, $std:ty) => {
        impl $ty {
            /// Wraps a connected std stream (made non-blocking here).
            ///
            /// # Errors
            /// Registration errors.
            pub fn from_std(stream: $std) -> io::Result<$ty> {
                stream.set_nonblocking(true)?;
                Ok($ty {
                    inner: $crate::net::socket::StreamSocket::new(stream)?,
                })
            }

            /// The peer's address.
            ///
            /// # Errors
            /// The OS error (for TCP, `NotConnected` once the peer is gone).
            pub fn peer_addr(&self) -> io::Result<SocketAddr> {
                self.inner.fd.get_ref().peer_addr()
            }

            /// This end's address.
            ///
            /// # Errors
            /// The OS error.
            pub fn local_addr(&self) -> io::Result<SocketAddr> {
                self.inner.fd.get_ref().local_addr()
            }

            /// Reads some bytes into `buf`; `Ok(0)` at end of stream.
            ///
            /// # Cancel safety
            /// Cancel safe: no data is lost if the future is dropped.
            pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
                self.inner.read(buf).await
            }

            /// Writes some of `buf`; how many bytes went.
            ///
            /// # Cancel safety
            /// Cancel safe: nothing was written if the future is dropped.
            pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
                self.inner.write(buf).await
            }

            /// Writes all of `buf`.
            ///
            /// # Cancel safety
            /// Not cancel safe: dropped midway, part of `buf` may have been
            /// written.
            pub async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
                self.inner.write_all(buf).await
            }

            /// Polls a read into `buf`.
            pub fn poll_read(
                &self,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<io::Result<usize>> {
                self.inner.poll_read(cx, buf)
            }

            /// Polls a read into a tokio `ReadBuf`, zeroing its unfilled
            /// part only when the socket is ready (the `tokio-io` traits).
            #[cfg(feature = "tokio-io")]
            pub(crate) fn poll_read_buf(
                &self,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<io::Result<()>> {
                self.inner.poll_read_buf(cx, buf)
            }

            /// Polls a write of `buf`.
            pub fn poll_write(
                &self,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<io::Result<usize>> {
                self.inner.poll_write(cx, buf)
            }

            /// Shuts down the read half, the write half (half-close: the peer
            /// reads end of stream, and can still send) or both.
            ///
            /// # Errors
            /// The OS error; shutting a disconnected socket is not one.
            pub fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
                self.inner.shutdown(how)
            }
        }

        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.inner.fd.as_raw_fd()
            }
        }

        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.inner.fd.get_ref().as_fd()
            }
        }

        $crate::net::socket::futures_io_impls!($ty);
        $crate::net::socket::futures_io_impls!(&$ty);
    };
}

/// `futures_io::AsyncRead`/`AsyncWrite` for a stream type and its reference
/// (so one task can read while another writes).
macro_rules! futures_io_impls {
    ($ty:ty) => {
        impl futures_io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<io::Result<usize>> {
                self.inner.poll_read(cx, buf)
            }
        }

        impl futures_io::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<io::Result<usize>> {
                self.inner.poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[io::IoSlice<'_>],
            ) -> std::task::Poll<io::Result<usize>> {
                self.inner.poll_write_vectored(cx, bufs)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<io::Result<()>> {
                // Writes go straight to the socket: nothing is buffered here.
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<io::Result<()>> {
                std::task::Poll::Ready(self.inner.shutdown(std::net::Shutdown::Write))
            }
        }
    };
}

pub(crate) use futures_io_impls;
pub(crate) use stream_methods;

/// The methods a datagram socket type shares with the other one: sending to
/// and receiving from the connected peer, receiving with the sender's
/// address, its own address and `Debug`. The type wraps an [`AsyncFd`] in a field
/// `fd`; `$addr` is its address type, `$refused` says when `send` fails with
/// `ConnectionRefused`.
macro_rules! datagram_methods {
    ($ty:ident, $addr:ty, $refused:literal) => {
        impl $ty {
            /// Sends one datagram to the connected peer.
            ///
            /// # Errors
            #[doc = concat!("The OS error (`ConnectionRefused` ", $refused, ").")]
            ///
            /// # Cancel safety
            /// Cancel safe.
            pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
                self.fd.write_with(|s| s.send(buf)).await
            }

            /// Receives one datagram and its sender (a datagram longer than
            /// `buf` is cut).
            ///
            /// # Errors
            /// The OS error.
            ///
            /// # Cancel safety
            /// Cancel safe.
            pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, $addr)> {
                self.fd.read_with(|s| s.recv_from(buf)).await
            }

            /// Receives one datagram from the connected peer (a datagram
            /// longer than `buf` is cut).
            ///
            /// # Errors
            /// The OS error.
            ///
            /// # Cancel safety
            /// Cancel safe.
            pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
                self.fd.read_with(|s| s.recv(buf)).await
            }
        }

        $crate::net::socket::local_addr_and_debug!($ty, $addr, "This end's address.");
    };
}

pub(crate) use datagram_methods;

/// `local_addr` (documented by `$doc`) and a `Debug` showing it, for a
/// socket type wrapping an [`AsyncFd`] in a field `fd`.
macro_rules! local_addr_and_debug {
    ($ty:ident, $addr:ty, $doc:literal) => {
        impl $ty {
            #[doc = $doc]
            ///
            /// # Errors
            /// The OS error.
            pub fn local_addr(&self) -> io::Result<$addr> {
                self.fd.get_ref().local_addr()
            }
        }

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("local", &self.local_addr().ok())
                    .finish()
            }
        }
    };
}

pub(crate) use local_addr_and_debug;

/// The methods both listener types share: wrapping a std listener,
/// accepting, and its address. The type wraps an [`AsyncFd`] of `$std` in a
/// field `fd`; `$stream` is what it accepts and `$addr` its address type.
macro_rules! listener_methods {
    ($ty:ident, $std:ty, $stream:ty, $addr:ty) => {
        impl $ty {
            /// Wraps a listening std socket (made non-blocking here).
            ///
            /// # Errors
            /// Registration errors.
            pub fn from_std(listener: $std) -> io::Result<$ty> {
                listener.set_nonblocking(true)?;
                Ok($ty {
                    fd: AsyncFd::with_interest(listener, true, false)?,
                })
            }

            /// Waits for a connection.
            ///
            /// # Errors
            /// The accept error: `EMFILE`/`ENFILE` when out of file
            /// descriptors (the caller should back off, as the servers of
            /// [`start_server`](super::start_server) and
            /// [`start_unix_server`](super::start_unix_server) do), a
            /// connection aborted before it was accepted, ...
            ///
            /// # Cancel safety
            /// Cancel safe: a connection is taken only by a completing call.
            pub async fn accept(&self) -> io::Result<($stream, $addr)> {
                std::future::poll_fn(|cx| self.poll_accept(cx)).await
            }

            /// Polls for a connection.
            pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<($stream, $addr)>> {
                let (stream, peer) = std::task::ready!(self.fd.poll_read_with(cx, |l| l.accept()))?;
                Poll::Ready(<$stream>::from_std(stream).map(|s| (s, peer)))
            }
        }

        $crate::net::socket::local_addr_and_debug!($ty, $addr, "The address it listens on.");
    };
}

pub(crate) use listener_methods;
