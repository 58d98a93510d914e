//! Addresses: what `connect` and `bind` accept, and name resolution off the
//! loop ([`lookup_host`], asyncio's `loop.getaddrinfo`).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Something that names one or more socket addresses: a [`SocketAddr`], an
/// `(ip, port)` pair, a `(host, port)` pair, or a `"host:port"` string.
///
/// Numeric addresses are used as they are; host names are resolved on the
/// loop's thread pool ([`lookup_host`]), so resolution never blocks the loop.
pub trait ToSocketAddrs {
    /// The addresses, or the `(host, port)` to look up.
    #[doc(hidden)]
    fn to_addrs(&self) -> io::Result<Addrs>;
}

/// What [`ToSocketAddrs`] gives: addresses, or a name to resolve.
#[doc(hidden)]
#[derive(Debug)]
pub enum Addrs {
    Ready(Vec<SocketAddr>),
    Lookup(String, u16),
}

impl Addrs {
    fn host_port(host: &str, port: u16) -> Addrs {
        match host.parse::<IpAddr>() {
            Ok(ip) => Addrs::Ready(vec![SocketAddr::new(ip, port)]),
            Err(_) => Addrs::Lookup(host.trim_start_matches('[').trim_end_matches(']').to_owned(), port),
        }
    }
}

/// The addresses `addr` names, looking host names up off the loop.
pub(crate) async fn resolve(addr: &(impl ToSocketAddrs + ?Sized)) -> io::Result<Vec<SocketAddr>> {
    let addrs = match addr.to_addrs()? {
        Addrs::Ready(addrs) => addrs,
        Addrs::Lookup(host, port) => lookup_host(&host, port).await?,
    };
    if addrs.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "no addresses to use"));
    }
    Ok(addrs)
}

/// Resolves `host` to socket addresses with the system resolver
/// (`getaddrinfo`), on the loop's default thread pool
/// (`loop.getaddrinfo(host, port)`).
///
/// # Errors
/// The resolver's error (an unknown name is `io::ErrorKind::Other` or
/// `NotFound` depending on the platform's resolver).
///
/// # Cancel safety
/// Cancel safe: a lookup that already started finishes on its thread and
/// its result is discarded.
///
/// ```
/// asyncio::run(async {
///     let addrs = asyncio::net::lookup_host("localhost", 80).await.unwrap();
///     assert!(addrs.iter().all(|a| a.ip().is_loopback()));
/// });
/// ```
pub async fn lookup_host(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let host = host.to_owned();
    crate::to_thread(move || std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port)).map(Iterator::collect))
        .await
        .map_err(|e| io::Error::other(format!("name resolution failed: {e}")))?
}

impl ToSocketAddrs for SocketAddr {
    fn to_addrs(&self) -> io::Result<Addrs> {
        Ok(Addrs::Ready(vec![*self]))
    }
}

impl ToSocketAddrs for SocketAddrV4 {
    fn to_addrs(&self) -> io::Result<Addrs> {
        Ok(Addrs::Ready(vec![SocketAddr::V4(*self)]))
    }
}

impl ToSocketAddrs for SocketAddrV6 {
    fn to_addrs(&self) -> io::Result<Addrs> {
        Ok(Addrs::Ready(vec![SocketAddr::V6(*self)]))
    }
}

impl ToSocketAddrs for (IpAddr, u16) {
    fn to_addrs(&self) -> io::Result<Addrs> {
        Ok(Addrs::Ready(vec![SocketAddr::new(self.0, self.1)]))
    }
}

impl ToSocketAddrs for (Ipv4Addr, u16) {
    fn to_addrs(&self) -> io::Result<Addrs> {
        Ok(Addrs::Ready(vec![SocketAddr::new(self.0.into(), self.1)]))
    }
}

impl ToSocketAddrs for (Ipv6Addr, u16) {
    fn to_addrs(&self) -> io::Result<Addrs> {
        Ok(Addrs::Ready(vec![SocketAddr::new(self.0.into(), self.1)]))
    }
}

impl ToSocketAddrs for (&str, u16) {
    fn to_addrs(&self) -> io::Result<Addrs> {
        Ok(Addrs::host_port(self.0, self.1))
    }
}

impl ToSocketAddrs for (String, u16) {
    fn to_addrs(&self) -> io::Result<Addrs> {
        Ok(Addrs::host_port(&self.0, self.1))
    }
}

impl ToSocketAddrs for str {
    fn to_addrs(&self) -> io::Result<Addrs> {
        if let Ok(addr) = self.parse::<SocketAddr>() {
            return Ok(Addrs::Ready(vec![addr]));
        }
        let (host, port) = self
            .rsplit_once(':')
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("`{self}` is not host:port")))?;
        let port = port
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("bad port in `{self}`")))?;
        Ok(Addrs::host_port(host, port))
    }
}

impl ToSocketAddrs for String {
    fn to_addrs(&self) -> io::Result<Addrs> {
        self.as_str().to_addrs()
    }
}

impl ToSocketAddrs for [SocketAddr] {
    fn to_addrs(&self) -> io::Result<Addrs> {
        Ok(Addrs::Ready(self.to_vec()))
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {
    fn to_addrs(&self) -> io::Result<Addrs> {
        (**self).to_addrs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_forms_need_no_lookup() {
        for a in [
            "127.0.0.1:80".to_addrs().unwrap(),
            ("127.0.0.1", 80).to_addrs().unwrap(),
            "[::1]:80".to_addrs().unwrap(),
            ("::1", 80).to_addrs().unwrap(),
        ] {
            assert!(matches!(a, Addrs::Ready(v) if v.len() == 1 && v[0].port() == 80));
        }
        assert!(matches!("localhost:8080".to_addrs().unwrap(), Addrs::Lookup(h, 8080) if h == "localhost"));
        assert!("nonsense".to_addrs().is_err());
        assert!("host:notaport".to_addrs().is_err());
    }
}
