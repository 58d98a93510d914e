//! Unix domain sockets: [`UnixListener`], [`UnixStream`], [`UnixDatagram`].

use std::fmt;
use std::io;
use std::os::unix::net::{self as std_unix, SocketAddr};
use std::path::Path;
use std::task::{Context, Poll};

use super::socket::{datagram_methods, listener_methods, stream_methods, StreamSocket};
use crate::io::AsyncFd;

/// A Unix stream socket listening on a path. Loop-bound.
///
/// ```
/// asyncio::run(async {
///     let dir = std::env::temp_dir().join(format!("asyncio-doc-{}", std::process::id()));
///     std::fs::create_dir_all(&dir).unwrap();
///     let path = dir.join("sock");
///     let listener = asyncio::net::UnixListener::bind(&path).unwrap();
///     let client = asyncio::net::UnixStream::connect(&path).await.unwrap();
///     let (server_side, _) = listener.accept().await.unwrap();
///     client.write_all(b"hi").await.unwrap();
///     let mut buf = [0; 2];
///     server_side.read(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"hi");
///     std::fs::remove_dir_all(&dir).unwrap();
/// });
/// ```
pub struct UnixListener {
    fd: AsyncFd<std_unix::UnixListener>,
}

impl UnixListener {
    /// Listens on `path` (which must not exist).
    ///
    /// # Errors
    /// The bind error (`AddrInUse` if the path exists).
    ///
    /// # Panics
    /// With no running event loop.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        Self::from_std(std_unix::UnixListener::bind(path)?)
    }
}

listener_methods!(UnixListener, std_unix::UnixListener, UnixStream, SocketAddr);

/// A Unix stream connection. Loop-bound; `&self` reads and writes, as
/// [`TcpStream`](super::TcpStream).
pub struct UnixStream {
    inner: StreamSocket<std_unix::UnixStream>,
}

stream_methods!(UnixStream, std_unix::UnixStream);

impl UnixStream {
    /// Connects to the socket at `path`.
    ///
    /// # Errors
    /// The connection error (`NotFound`, `ConnectionRefused`, ...).
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let addr = socket2::SockAddr::unix(path)?;
        let mut backoff = std::time::Duration::from_millis(1);
        loop {
            let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
            socket.set_nonblocking(true)?;
            match socket.connect(&addr) {
                Ok(()) => return Self::from_std(std_unix::UnixStream::from(std::os::fd::OwnedFd::from(socket))),
                // The listener's backlog is full: Linux refuses a
                // non-blocking local connect instead of queueing it, and
                // nothing signals when to retry. Back off and try again.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    crate::sleep(backoff).await;
                    backoff = (backoff * 2).min(std::time::Duration::from_millis(50));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// A connected pair (`socket.socketpair()`).
    ///
    /// # Errors
    /// The OS error.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std_unix::UnixStream::pair()?;
        Ok((Self::from_std(a)?, Self::from_std(b)?))
    }

    /// The connection as an asyncio stream pair.
    pub fn into_streams(self) -> (super::StreamReader, super::StreamWriter) {
        super::streams::pair(std::rc::Rc::new(self), super::DEFAULT_LIMIT)
    }

    pub(crate) fn socket(&self) -> &StreamSocket<std_unix::UnixStream> {
        &self.inner
    }
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}

/// A Unix datagram socket. Loop-bound.
pub struct UnixDatagram {
    fd: AsyncFd<std_unix::UnixDatagram>,
}

impl UnixDatagram {
    /// A socket bound to `path`.
    ///
    /// # Errors
    /// The bind error.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        Self::from_std(std_unix::UnixDatagram::bind(path)?)
    }

    /// A socket bound to no path (it can send, and receive replies once
    /// connected).
    ///
    /// # Errors
    /// The OS error.
    pub fn unbound() -> io::Result<UnixDatagram> {
        Self::from_std(std_unix::UnixDatagram::unbound()?)
    }

    /// A connected pair.
    ///
    /// # Errors
    /// The OS error.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = std_unix::UnixDatagram::pair()?;
        Ok((Self::from_std(a)?, Self::from_std(b)?))
    }

    /// Wraps a std socket (made non-blocking here).
    ///
    /// # Errors
    /// Registration errors.
    pub fn from_std(socket: std_unix::UnixDatagram) -> io::Result<UnixDatagram> {
        socket.set_nonblocking(true)?;
        Ok(UnixDatagram {
            fd: AsyncFd::new(socket)?,
        })
    }

    /// Sets the default destination for [`send`](Self::send).
    ///
    /// # Errors
    /// The OS error.
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.fd.get_ref().connect(path)
    }

    /// Sends one datagram to `path`.
    ///
    /// # Errors
    /// The OS error.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let path = path.as_ref();
        self.fd.write_with(|s| s.send_to(buf, path)).await
    }
}

datagram_methods!(UnixDatagram, SocketAddr, "once the peer's socket is closed");
