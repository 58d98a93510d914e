//! [`UdpSocket`] on the loop's reactor.

use std::io;
use std::net::SocketAddr;

use super::addr::{resolve, ToSocketAddrs};
use super::socket::datagram_methods;
use crate::io::AsyncFd;

/// A UDP socket. Loop-bound.
///
/// ```
/// asyncio::run(async {
///     let a = asyncio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
///     let b = asyncio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
///     a.send_to(b"ping", b.local_addr().unwrap()).await.unwrap();
///     let mut buf = [0; 16];
///     let (n, from) = b.recv_from(&mut buf).await.unwrap();
///     assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr().unwrap()));
/// });
/// ```
pub struct UdpSocket {
    fd: AsyncFd<std::net::UdpSocket>,
}

impl UdpSocket {
    /// A socket bound to the first of `addr`'s addresses that binds.
    ///
    /// # Errors
    /// The bind or resolver error.
    ///
    /// # Panics
    /// With no running event loop.
    ///
    /// # Cancel safety
    /// Cancel safe: the socket is bound in the step that returns it, so a
    /// dropped future has bound nothing (a name lookup already running on
    /// a pool thread finishes there and is discarded).
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        let mut last = None;
        for addr in resolve(&addr).await? {
            match std::net::UdpSocket::bind(addr) {
                Ok(s) => return Self::from_std(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address")))
    }

    /// Wraps a std socket (made non-blocking here).
    ///
    /// # Errors
    /// Registration errors.
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        Ok(UdpSocket {
            fd: AsyncFd::new(socket)?,
        })
    }

    /// Sets the default peer for [`send`](Self::send) and filters what
    /// [`recv`](Self::recv) accepts to it.
    ///
    /// # Errors
    /// The resolver's or the OS's error.
    ///
    /// # Cancel safety
    /// Cancel safe: the peer is set in the step that returns, so a dropped
    /// future leaves the socket's peer as it was.
    pub async fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let addrs = resolve(&addr).await?;
        self.fd.get_ref().connect(&addrs[..])
    }

    /// Sends one datagram to `target`.
    ///
    /// # Errors
    /// The OS error.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        self.fd.write_with(|s| s.send_to(buf, target)).await
    }

    /// The connected peer's address.
    ///
    /// # Errors
    /// `NotConnected` if not connected.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.fd.get_ref().peer_addr()
    }

    /// `SO_BROADCAST`.
    ///
    /// # Errors
    /// The OS error.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.fd.get_ref().set_broadcast(on)
    }
}

datagram_methods!(UdpSocket, SocketAddr, "after an ICMP port unreachable");
