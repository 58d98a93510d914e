//! The client behind a reverse proxy: `X-Forwarded-For` and
//! `X-Forwarded-Proto`, believed only from the proxies the server was told
//! to trust ([`Server::trusted_proxies`](crate::Server::trusted_proxies)).
//!
//! Each proxy appends the address it received the request from to
//! `X-Forwarded-For`, so the list's right end is written by the proxy
//! nearest to us and its left end by whoever sent the request first,
//! possibly a client making it up. The client is therefore found from the
//! right: the direct peer must be trusted for the header to count at all,
//! then each entry that is itself a trusted proxy is passed over, and the
//! first that is not is the client (the same walk as Werkzeug's `ProxyFix`
//! and uvicorn's `--forwarded-allow-ips`). An entry that is not an
//! address (`unknown`, garbage) ends the walk and the header is ignored:
//! the client is then the direct peer. `X-Forwarded-Proto`'s last value
//! (the nearest proxy's) gives the scheme when it is `http` or `https`.

use std::net::IpAddr;

use http::HeaderMap;
use ipnet::IpNet;

/// Addresses and networks whose forwarding headers are believed.
#[derive(Clone, Debug, Default)]
pub(crate) struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    /// Parses `127.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`: an address is a
    /// network of one.
    pub(crate) fn parse<S: AsRef<str>>(entries: impl IntoIterator<Item = S>) -> Result<TrustedProxies, String> {
        let mut nets = Vec::new();
        for entry in entries {
            let entry = entry.as_ref().trim();
            let net = match entry.parse::<IpNet>() {
                Ok(net) => net.trunc(),
                Err(_) => match entry.parse::<IpAddr>() {
                    Ok(ip) => IpNet::from(ip),
                    Err(_) => return Err(format!("not an IP address or network: {entry:?}")),
                },
            };
            nets.push(net);
        }
        Ok(TrustedProxies { nets })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// The client's address for a request from `peer` with `headers`.
    pub(crate) fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let mut client = peer;
        // Every X-Forwarded-For line, as one list, walked from the right.
        let lines: Vec<&[u8]> = headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        for entry in lines.iter().rev().flat_map(|line| line.rsplit(|b| *b == b',')) {
            let Some(ip) = std::str::from_utf8(entry).ok().and_then(|e| parse_hop(e.trim())) else {
                return peer;
            };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        client
    }

    /// The scheme the client used, for a request from `peer` that came
    /// over TLS (`tls`) or not.
    pub(crate) fn scheme(&self, peer: IpAddr, tls: bool, headers: &HeaderMap) -> &'static str {
        let direct = if tls { "https" } else { "http" };
        if !self.contains(peer) {
            return direct;
        }
        let last = headers
            .get_all("x-forwarded-proto")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(str::trim);
        match last {
            Some(p) if p.eq_ignore_ascii_case("https") => "https",
            Some(p) if p.eq_ignore_ascii_case("http") => "http",
            _ => direct,
        }
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port
/// (`1.2.3.4:5678`, `[::1]:5678`), or a bracketed IPv6 address.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(sa) = entry.parse::<std::net::SocketAddr>() {
        return Some(canonical(sa.ip()));
    }
    let inner = entry.strip_prefix('[')?.strip_suffix(']')?;
    inner.parse::<IpAddr>().ok().map(canonical)
}

/// IPv4-mapped IPv6 addresses (a dual-stack socket's view of an IPv4
/// peer) as the IPv4 address they are.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_client_is_the_first_untrusted_hop_from_the_right() {
        let t = TrustedProxies::parse(["10.0.0.0/8", "127.0.0.2"]).unwrap();
        let xff = |v: &str| headers(&[("x-forwarded-for", v)]);
        // Not from a trusted proxy: the header is ignored.
        assert_eq!(t.client_ip(ip("8.8.8.8"), &xff("1.2.3.4")), ip("8.8.8.8"));
        // One proxy.
        assert_eq!(t.client_ip(ip("127.0.0.2"), &xff("1.2.3.4")), ip("1.2.3.4"));
        // A client's made-up entry, then what the proxy saw.
        assert_eq!(t.client_ip(ip("127.0.0.2"), &xff("6.6.6.6, 1.2.3.4")), ip("1.2.3.4"));
        // Two trusted proxies in a row, over two header lines.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 1.2.3.4"), ("x-forwarded-for", "10.1.2.3")]);
        assert_eq!(t.client_ip(ip("127.0.0.2"), &h), ip("1.2.3.4"));
        // Every hop trusted: the leftmost.
        assert_eq!(t.client_ip(ip("127.0.0.2"), &xff("10.9.9.9")), ip("10.9.9.9"));
        // Ports, brackets, IPv4-mapped.
        assert_eq!(t.client_ip(ip("127.0.0.2"), &xff("1.2.3.4:999")), ip("1.2.3.4"));
        assert_eq!(
            t.client_ip(ip("127.0.0.2"), &xff("[2001:db8::1]:80")),
            ip("2001:db8::1")
        );
        assert_eq!(
            t.client_ip(ip("::ffff:127.0.0.2"), &xff("[2001:db8::1]")),
            ip("2001:db8::1")
        );
        // Garbage where the client should be: the peer, nothing made up.
        assert_eq!(t.client_ip(ip("127.0.0.2"), &xff("unknown")), ip("127.0.0.2"));
        assert_eq!(t.client_ip(ip("127.0.0.2"), &xff("1.2.3.4,")), ip("127.0.0.2"));
        // No header.
        assert_eq!(t.client_ip(ip("127.0.0.2"), &headers(&[])), ip("127.0.0.2"));
    }

    #[test]
    fn the_scheme_comes_from_the_nearest_trusted_proxy() {
        let t = TrustedProxies::parse(["127.0.0.2"]).unwrap();
        let proto = |v: &str| headers(&[("x-forwarded-proto", v)]);
        assert_eq!(t.scheme(ip("127.0.0.2"), false, &proto("https")), "https");
        assert_eq!(t.scheme(ip("127.0.0.2"), true, &proto("http")), "http");
        assert_eq!(t.scheme(ip("127.0.0.2"), false, &proto("https, http")), "http");
        assert_eq!(t.scheme(ip("127.0.0.2"), false, &proto("gopher")), "http");
        assert_eq!(t.scheme(ip("127.0.0.1"), false, &proto("https")), "http");
        assert_eq!(t.scheme(ip("127.0.0.1"), true, &headers(&[])), "https");
    }

    #[test]
    fn entries_must_be_addresses_or_networks() {
        assert!(TrustedProxies::parse(["10.0.0.1/8"])
            .unwrap()
            .contains(ip("10.200.0.1")));
        assert!(TrustedProxies::parse(["::1"]).unwrap().contains(ip("::1")));
        assert!(TrustedProxies::parse(["localhost"]).is_err());
        assert!(TrustedProxies::parse(["10.0.0.0/33"]).is_err());
        assert!(TrustedProxies::parse(Vec::<String>::new()).unwrap().is_empty());
    }
}
