//! TCP: [`TcpListener`] and [`TcpStream`] on the loop's reactor.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use super::addr::{resolve, ToSocketAddrs};
use super::socket::{listener_methods, stream_methods, StreamSocket};
use crate::io::AsyncFd;
use crate::time::Sleep;

/// How a listening socket is set up; [`TcpListener::bind_with`].
#[derive(Clone, Debug)]
pub struct ListenOptions {
    /// The accept queue's length (default 1024).
    pub backlog: i32,
    /// `SO_REUSEADDR` (default on, as asyncio on Unix): rebinding a port with
    /// connections in TIME_WAIT works.
    pub reuse_address: bool,
    /// `SO_REUSEPORT` (default off): several sockets, in this process or
    /// others, listen on one port and the kernel spreads connections over
    /// them (one loop per core).
    pub reuse_port: bool,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            backlog: 1024,
            reuse_address: true,
            reuse_port: false,
        }
    }
}

/// A TCP socket listening for connections. Loop-bound.
///
/// ```
/// asyncio::run(async {
///     let listener = asyncio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let addr = listener.local_addr().unwrap();
///     let client = asyncio::create_task(async move {
///         let s = asyncio::net::TcpStream::connect(addr).await.unwrap();
///         s.write_all(b"hi").await.unwrap();
///     });
///     let (conn, _peer) = listener.accept().await.unwrap();
///     let mut buf = [0; 2];
///     let n = conn.read(&mut buf).await.unwrap();
///     assert_eq!(&buf[..n], b"hi");
///     client.await.unwrap();
/// });
/// ```
pub struct TcpListener {
    fd: AsyncFd<std::net::TcpListener>,
}

impl TcpListener {
    /// Listens on the first of `addr`'s addresses that binds.
    ///
    /// # Errors
    /// The last address's bind error, or the resolver's.
    ///
    /// # Panics
    /// With no running event loop.
    ///
    /// # Cancel safety
    /// Cancel safe: the socket is bound in the step that returns it, so a
    /// dropped future has bound nothing (a name lookup already running on
    /// a pool thread finishes there and is discarded).
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        Self::bind_with(addr, &ListenOptions::default()).await
    }

    /// As [`bind`](Self::bind), with options.
    ///
    /// # Errors
    /// As [`bind`](Self::bind).
    ///
    /// # Cancel safety
    /// As [`bind`](Self::bind).
    pub async fn bind_with(addr: impl ToSocketAddrs, options: &ListenOptions) -> io::Result<TcpListener> {
        let mut last = None;
        for addr in resolve(&addr).await? {
            match Self::bind_addr(addr, options) {
                Ok(l) => return Ok(l),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address")))
    }

    /// Binds one address at once (no name resolution).
    ///
    /// # Errors
    /// The socket's error.
    pub fn bind_addr(addr: SocketAddr, options: &ListenOptions) -> io::Result<TcpListener> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        if addr.is_ipv6() {
            // One family per socket, as asyncio's create_server.
            socket.set_only_v6(true)?;
        }
        socket.set_reuse_address(options.reuse_address)?;
        if options.reuse_port {
            socket.set_reuse_port(true)?;
        }
        socket.bind(&addr.into())?;
        socket.listen(options.backlog)?;
        Self::from_std(socket.into())
    }
}

listener_methods!(TcpListener, std::net::TcpListener, TcpStream, SocketAddr);

impl std::os::fd::AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

/// A TCP connection. Loop-bound.
///
/// Reads and writes take `&self`, so one task can read while another
/// writes (share it with `Rc`), and `&TcpStream` implements
/// `futures_io::AsyncRead`/`AsyncWrite` too.
pub struct TcpStream {
    inner: StreamSocket<std::net::TcpStream>,
}

stream_methods!(TcpStream, std::net::TcpStream);

impl TcpStream {
    /// Connects to `addr`, trying its addresses one after another (host
    /// names are resolved off the loop).
    ///
    /// # Errors
    /// The last attempt's error (`ConnectionRefused`, ...), or the resolver's.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping it closes the socket being connected.
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        connect_addrs(resolve(&addr).await?, None).await
    }

    /// As [`connect`](Self::connect), racing the addresses "happy eyeballs"
    /// style (RFC 8305, asyncio's `happy_eyeballs_delay`): attempts start
    /// `delay` apart, alternating address families, and the first to connect
    /// wins; the others are closed.
    ///
    /// # Errors
    /// The last attempt's error if none connects.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn connect_happy_eyeballs(addr: impl ToSocketAddrs, delay: Duration) -> io::Result<TcpStream> {
        connect_addrs(resolve(&addr).await?, Some(delay)).await
    }

    /// Connects to one address.
    ///
    /// # Errors
    /// The connection error.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        match socket.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        let stream = TcpStream {
            inner: StreamSocket::new(std::net::TcpStream::from(socket))?,
        };
        stream.inner.fd.writable().await?;
        if let Some(e) = stream.inner.fd.get_ref().take_error()? {
            return Err(e);
        }
        // Writable without an error can still mean "not connected" on some
        // kernels; asking for the peer settles it.
        stream.peer_addr()?;
        Ok(stream)
    }

    /// `TCP_NODELAY`: send small writes at once instead of coalescing them
    /// (asyncio sets it on every TCP transport; so does
    /// [`open_connection`](super::open_connection)).
    ///
    /// # Errors
    /// The OS error.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.inner.fd.get_ref().set_nodelay(on)
    }

    /// Whether `TCP_NODELAY` is set.
    ///
    /// # Errors
    /// The OS error.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.fd.get_ref().nodelay()
    }

    /// `SO_KEEPALIVE` with the given idle time before the first probe
    /// (`None`: keepalive off).
    ///
    /// # Errors
    /// The OS error.
    pub fn set_keepalive(&self, idle: Option<Duration>) -> io::Result<()> {
        let sock = SockRef::from(self.inner.fd.get_ref());
        match idle {
            None => sock.set_keepalive(false),
            Some(t) => sock.set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(t)),
        }
    }

    /// `SO_LINGER`: `Some(Duration::ZERO)` makes close send a reset (RST)
    /// instead of a graceful FIN.
    ///
    /// # Errors
    /// The OS error.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        SockRef::from(self.inner.fd.get_ref()).set_linger(linger)
    }

    /// The connection as an asyncio stream pair (`open_connection(sock=...)`).
    pub fn into_streams(self) -> (super::StreamReader, super::StreamWriter) {
        super::streams::pair(std::rc::Rc::new(self), super::DEFAULT_LIMIT)
    }

    pub(crate) fn socket(&self) -> &StreamSocket<std::net::TcpStream> {
        &self.inner
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local", &self.local_addr().ok())
            .field("peer", &self.peer_addr().ok())
            .finish()
    }
}

/// A non-blocking connect under way.
#[cfg(any(target_os = "linux", target_os = "android"))]
const EINPROGRESS: i32 = 115;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const EINPROGRESS: i32 = 36;

/// Addresses in the order RFC 8305 tries them: families alternating,
/// starting with the first address's.
fn interleave(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let first_v6 = addrs.first().is_some_and(SocketAddr::is_ipv6);
    let (mut a, mut b): (Vec<_>, Vec<_>) = addrs.into_iter().partition(|x| x.is_ipv6() == first_v6);
    let mut out = Vec::with_capacity(a.len() + b.len());
    a.reverse();
    b.reverse();
    while !a.is_empty() || !b.is_empty() {
        out.extend(a.pop());
        out.extend(b.pop());
    }
    out
}

type Attempt = Pin<Box<dyn Future<Output = io::Result<TcpStream>>>>;

/// Tries `addrs` one by one (`delay` None) or staggered.
async fn connect_addrs(addrs: Vec<SocketAddr>, delay: Option<Duration>) -> io::Result<TcpStream> {
    let Some(delay) = delay else {
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect_addr(addr).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        return Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address")));
    };
    let mut queue = interleave(addrs).into_iter();
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut last = None;
    let mut timer: Option<Pin<Box<Sleep>>> = None;
    std::future::poll_fn(|cx| loop {
        // Start the next attempt when the stagger timer fires or nothing runs.
        let timer_fired = timer.as_mut().is_some_and(|t| t.as_mut().poll(cx).is_ready());
        if timer_fired || attempts.is_empty() {
            match queue.next() {
                Some(addr) => {
                    attempts.push(Box::pin(TcpStream::connect_addr(addr)));
                    timer = Some(Box::pin(crate::sleep(delay)));
                    continue;
                }
                None if attempts.is_empty() => {
                    let e = last
                        .take()
                        .unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address"));
                    return Poll::Ready(Err(e));
                }
                None => timer = None,
            }
        }
        let mut i = 0;
        let mut failed = false;
        while i < attempts.len() {
            match attempts[i].as_mut().poll(cx) {
                Poll::Ready(Ok(s)) => return Poll::Ready(Ok(s)),
                Poll::Ready(Err(e)) => {
                    last = Some(e);
                    drop(attempts.swap_remove(i));
                    failed = true;
                }
                Poll::Pending => i += 1,
            }
        }
        if failed {
            // A failure starts the next attempt at once (RFC 8305 §5).
            timer = None;
            if queue.len() > 0 {
                attempts.push(Box::pin(TcpStream::connect_addr(queue.next().expect("len > 0"))));
                timer = Some(Box::pin(crate::sleep(delay)));
                continue;
            }
            if attempts.is_empty() {
                continue;
            }
        }
        return Poll::Pending;
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_alternate() {
        let v4 = |p| SocketAddr::from(([127, 0, 0, 1], p));
        let v6 = |p| SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], p));
        let got = interleave(vec![v6(1), v6(2), v4(3), v4(4), v6(5)]);
        assert_eq!(got, vec![v6(1), v4(3), v6(2), v4(4), v6(5)]);
    }
}
