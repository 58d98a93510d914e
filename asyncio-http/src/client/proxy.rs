//! Proxies: which requests go through one (`HTTP_PROXY`, `HTTPS_PROXY`,
//! `ALL_PROXY`, `NO_PROXY`, as httpx reads them, or the builder's
//! settings), and the `CONNECT` tunnel for `https://` through a proxy.
//!
//! Under CGI (`REQUEST_METHOD` set) the uppercase `HTTP_PROXY` is not read:
//! a CGI server turns a request's `Proxy:` header into that variable, so
//! any client could name the proxy ("httpoxy", CVE-2016-5385; Go's
//! net/http has the same rule, and curl never reads `HTTP_PROXY`).
//!
//! An `http://` request through a proxy is sent to the proxy in
//! absolute form (`GET http://host/path HTTP/1.1`) with the proxy's
//! credentials in `Proxy-Authorization`; an `https://` request opens a
//! tunnel (`CONNECT host:443`) and runs TLS with the server through it,
//! so the proxy sees neither the request nor the response.

use base64::Engine as _;

use super::Error;
use crate::transport::Transport;

/// A proxy server: `http://[user:password@]host:port`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct ProxyServer {
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `Proxy-Authorization`'s value, from the URL's credentials.
    pub(crate) authorization: Option<String>,
}

/// Without the credentials.
impl std::fmt::Debug for ProxyServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyServer")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("authorization", &self.authorization.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl ProxyServer {
    pub(crate) fn parse(text: &str) -> Result<ProxyServer, Error> {
        // `host:port` alone means http://host:port (curl's reading).
        let with_scheme = if text.contains("://") {
            text.to_owned()
        } else {
            format!("http://{text}")
        };
        // Error messages show the URL without its password.
        let shown = redacted(text);
        let url = url::Url::parse(&with_scheme).map_err(|e| Error::InvalidUrl(format!("proxy {shown:?}: {e}")))?;
        if url.scheme() != "http" {
            return Err(Error::InvalidUrl(format!(
                "proxy {shown:?}: only http:// proxies are supported (CONNECT for https:// targets)"
            )));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| Error::InvalidUrl(format!("proxy {shown:?}: no host")))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let authorization = (!url.username().is_empty()).then(|| {
            let user = percent_encoding::percent_decode_str(url.username()).decode_utf8_lossy();
            let password = url
                .password()
                .map(|p| percent_encoding::percent_decode_str(p).decode_utf8_lossy().into_owned())
                .unwrap_or_default();
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            )
        });
        Ok(ProxyServer {
            host,
            port: url.port_or_known_default().unwrap_or(80),
            authorization,
        })
    }

    pub(crate) fn target(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// `text` (a proxy URL) with the password of its user information, if
/// any, replaced by `***`.
fn redacted(text: &str) -> String {
    let start = text.find("://").map_or(0, |i| i + 3);
    let end = text[start..].find(['/', '?', '#']).map_or(text.len(), |i| start + i);
    match text[start..end].rfind('@') {
        Some(at) => {
            let userinfo = &text[start..start + at];
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{}{user}:***{}", &text[..start], &text[start + at..])
        }
        None => text.to_owned(),
    }
}

/// Which proxy each request uses. A proxy the environment names but this
/// client cannot use (`socks5://…`, `https://…`) is kept as the reason,
/// and fails only the requests that would go through it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Proxies {
    pub(crate) http: Option<Result<ProxyServer, String>>,
    pub(crate) https: Option<Result<ProxyServer, String>>,
    pub(crate) no_proxy: NoProxy,
}

impl Proxies {
    /// From the environment: `http_proxy`/`HTTP_PROXY`, `https_proxy`/
    /// `HTTPS_PROXY`, `all_proxy`/`ALL_PROXY`, `no_proxy`/`NO_PROXY` (the
    /// lowercase name first; `HTTP_PROXY` not under CGI, see the module's
    /// docs). An unusable value is not ignored (the requests it applies to
    /// would go direct, around the proxy the user set): those requests
    /// fail with [`Error::Proxy`] saying why; the others go on.
    pub(crate) fn from_env(env: impl Fn(&str) -> Option<String>) -> Proxies {
        let cgi = env("REQUEST_METHOD").is_some();
        let var = |name: &str| {
            env(name)
                .or_else(|| {
                    let upper = name.to_ascii_uppercase();
                    if cgi && upper == "HTTP_PROXY" {
                        return None;
                    }
                    env(&upper)
                })
                .filter(|v| !v.trim().is_empty())
        };
        let parse = |name: &str| {
            var(name).map(|p| ProxyServer::parse(&p).map_err(|e| format!("{name} from the environment: {e}")))
        };
        let all = parse("all_proxy");
        Proxies {
            http: parse("http_proxy").or_else(|| all.clone()),
            https: parse("https_proxy").or(all),
            no_proxy: NoProxy::parse(&var("no_proxy").unwrap_or_default()),
        }
    }

    /// The proxy for `url`, if any.
    ///
    /// # Errors
    /// [`Error::Proxy`] when the proxy that applies is one the environment
    /// named and this client cannot use.
    pub(crate) fn for_url(&self, url: &url::Url) -> Result<Option<&ProxyServer>, Error> {
        let proxy = match url.scheme() {
            "https" => self.https.as_ref(),
            _ => self.http.as_ref(),
        };
        let Some(proxy) = proxy else { return Ok(None) };
        let Some(host) = url.host_str() else { return Ok(None) };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if self.no_proxy.matches(host, url.port_or_known_default()) {
            return Ok(None);
        }
        proxy.as_ref().map(Some).map_err(|why| Error::Proxy(why.clone()))
    }
}

/// `NO_PROXY`: hosts (and their subdomains), `.domain` and `*.domain`
/// suffixes, IP addresses, CIDR blocks (`10.0.0.0/8`, `fd00::/8`: an
/// address host inside them), `host:port`, or `*` for everything (curl's
/// reading of the variable).
#[derive(Clone, Debug, Default)]
pub(crate) struct NoProxy {
    all: bool,
    entries: Vec<(String, Option<u16>)>,
    blocks: Vec<(std::net::IpAddr, u8)>,
}

impl NoProxy {
    pub(crate) fn parse(list: &str) -> NoProxy {
        let mut no = NoProxy::default();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry == "*" {
                no.all = true;
                continue;
            }
            if let Some(block) = cidr(entry) {
                no.blocks.push(block);
                continue;
            }
            let (host, port) = match entry.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') || h.ends_with(']') => match p.parse() {
                    Ok(port) => (h, Some(port)),
                    Err(_) => (entry, None),
                },
                _ => (entry, None),
            };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let host = host.strip_prefix("*.").unwrap_or(host);
            no.entries
                .push((host.trim_start_matches('.').to_ascii_lowercase(), port));
        }
        no
    }

    fn matches(&self, host: &str, port: Option<u16>) -> bool {
        if self.all {
            return true;
        }
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            if self.blocks.iter().any(|&(net, bits)| in_block(ip, net, bits)) {
                return true;
            }
        }
        let host = host.to_ascii_lowercase();
        self.entries.iter().any(|(entry, entry_port)| {
            let port_ok = entry_port.is_none() || *entry_port == port;
            let host_ok = host == *entry || host.ends_with(&format!(".{entry}"));
            port_ok && host_ok
        })
    }
}

/// A CIDR block, `address/bits` (no crate for one containment test: the
/// arithmetic is a mask).
fn cidr(entry: &str) -> Option<(std::net::IpAddr, u8)> {
    let (addr, bits) = entry.split_once('/')?;
    let addr: std::net::IpAddr = addr.trim_start_matches('[').trim_end_matches(']').parse().ok()?;
    let bits: u8 = bits.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if bits > max {
        return None;
    }
    // An IPv4-mapped block (`::ffff:10.0.0.0/104`) is its IPv4 block, as
    // a mapped host address is its IPv4 address.
    match addr {
        std::net::IpAddr::V6(v6) if bits >= 96 => match v6.to_ipv4_mapped() {
            Some(v4) => Some((std::net::IpAddr::V4(v4), bits - 96)),
            None => Some((addr, bits)),
        },
        _ => Some((addr, bits)),
    }
}

/// Whether `ip` is in the block `net/bits` (an IPv4-mapped IPv6 address
/// counts as its IPv4 address).
fn in_block(ip: std::net::IpAddr, net: std::net::IpAddr, bits: u8) -> bool {
    use std::net::IpAddr;
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// Opens a tunnel to `target` (`host:port`) through the proxy on
/// `transport` with `CONNECT`.
///
/// # Errors
/// [`Error::Proxy`] when the proxy refuses (its status) or answers
/// something else than HTTP; [`Error::Closed`] when it hangs up.
pub(crate) async fn connect_tunnel(transport: &mut Transport, proxy: &ProxyServer, target: &str) -> Result<(), Error> {
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(auth) = &proxy.authorization {
        request.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    request.push_str("\r\n");
    transport
        .write_all(request.as_bytes())
        .await
        .map_err(|e| Error::Closed(format!("writing CONNECT to the proxy: {e}")))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let end = loop {
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if head.len() > 16 * 1024 {
            return Err(Error::Proxy(format!(
                "{}: CONNECT answer head too long",
                proxy.target()
            )));
        }
        let n = transport
            .read(&mut buf)
            .await
            .map_err(|e| Error::Closed(format!("reading the proxy's CONNECT answer: {e}")))?;
        if n == 0 {
            return Err(Error::Closed("the proxy closed the connection during CONNECT".into()));
        }
        head.extend_from_slice(&buf[..n]);
    };
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(&head[..end]) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => {
            return Err(Error::Proxy(format!(
                "{}: the answer to CONNECT is not HTTP",
                proxy.target()
            )))
        }
    }
    match response.code {
        // The tunnel carries TLS, whose client speaks first: bytes after
        // the answer are the proxy's, not the server's.
        Some(200..=299) if end < head.len() => Err(Error::Proxy(format!(
            "{}: {} bytes after its answer to CONNECT {target}, before the tunnel's first byte",
            proxy.target(),
            head.len() - end
        ))),
        Some(200..=299) => Ok(()),
        code => Err(Error::Proxy(format!(
            "{} refused CONNECT {target}: {} {}",
            proxy.target(),
            code.unwrap_or(0),
            response.reason.unwrap_or("")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    fn url(u: &str) -> url::Url {
        url::Url::parse(u).unwrap()
    }

    #[test]
    fn environment_and_no_proxy() {
        let proxies = Proxies::from_env(env(&[
            ("HTTP_PROXY", "http://user:p%40ss@proxy:3128"),
            ("https_proxy", "secure-proxy:8080"),
            ("NO_PROXY", "localhost, .internal.example,10.0.0.1, svc:8443"),
        ]));
        let http = proxies.for_url(&url("http://example.com/")).unwrap().unwrap();
        assert_eq!((http.host.as_str(), http.port), ("proxy", 3128));
        assert_eq!(http.authorization.as_deref(), Some("Basic dXNlcjpwQHNz"));
        let https = proxies.for_url(&url("https://example.com/")).unwrap().unwrap();
        assert_eq!((https.host.as_str(), https.port), ("secure-proxy", 8080));
        for direct in [
            "http://localhost:8080/",
            "http://a.internal.example/",
            "http://internal.example/",
            "http://10.0.0.1/",
            "https://svc:8443/",
        ] {
            assert!(proxies.for_url(&url(direct)).unwrap().is_none(), "{direct}");
        }
        assert!(proxies.for_url(&url("https://svc:9443/")).unwrap().is_some());
        assert!(proxies.for_url(&url("http://notinternal.example/")).unwrap().is_some());

        // CIDR blocks and `*.domain` (curl's forms).
        let blocks = Proxies::from_env(env(&[
            ("HTTP_PROXY", "http://proxy:3128"),
            (
                "NO_PROXY",
                "10.0.0.0/8, 192.168.1.0/24,fd00::/8, *.corp.example, 0.0.0.0/0x, ::ffff:172.16.0.0/108",
            ),
        ]));
        for direct in [
            "http://10.1.2.3/",
            "http://192.168.1.77:8080/",
            "http://[fd12::1]/",
            "http://[::ffff:10.9.9.9]/",
            "http://a.corp.example/",
            "http://corp.example/",
            "http://172.20.1.1/",
            "http://[::ffff:172.31.0.9]/",
        ] {
            assert!(blocks.for_url(&url(direct)).unwrap().is_none(), "{direct}");
        }
        for proxied in [
            "http://11.0.0.1/",
            "http://192.168.2.1/",
            "http://[fe80::1]/",
            "http://10.example/",
            "http://notcorp.example/",
            "http://172.32.0.1/",
        ] {
            assert!(blocks.for_url(&url(proxied)).unwrap().is_some(), "{proxied}");
        }
        let everything = Proxies::from_env(env(&[("HTTP_PROXY", "http://proxy:3128"), ("NO_PROXY", "0.0.0.0/0")]));
        assert!(everything.for_url(&url("http://1.2.3.4/")).unwrap().is_none());
        assert!(everything.for_url(&url("http://name/")).unwrap().is_some());

        let all = Proxies::from_env(env(&[("ALL_PROXY", "http://p:1"), ("no_proxy", "*")]));
        assert!(all.for_url(&url("http://example.com/")).unwrap().is_none());
        // A proxy this client cannot use fails the requests it applies to
        // (not the client, nor the others), and never shows its password.
        let socks = Proxies::from_env(env(&[
            ("all_proxy", "socks5://me:s3cret@p:1"),
            ("https_proxy", "http://p:2"),
            ("no_proxy", "localhost"),
        ]));
        let err = socks.for_url(&url("http://example.com/")).unwrap_err();
        assert!(matches!(err, Error::Proxy(_)), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("all_proxy") && text.contains("socks5://me:***@p:1"),
            "{text}"
        );
        assert!(!text.contains("s3cret"), "{text}");
        assert_eq!(socks.for_url(&url("https://example.com/")).unwrap().unwrap().port, 2);
        assert!(socks.for_url(&url("http://localhost/")).unwrap().is_none());
        let with_password = ProxyServer::parse("http://me:s3cret@p:1").unwrap();
        assert!(!format!("{with_password:?}").contains("s3cret"));
        assert!(!format!("{with_password:?}").contains(with_password.authorization.as_deref().unwrap()));
        // Under CGI, `HTTP_PROXY` may come from a request's `Proxy:` header:
        // not read (the lowercase name and the others still are).
        let cgi = Proxies::from_env(env(&[
            ("REQUEST_METHOD", "GET"),
            ("HTTP_PROXY", "http://attacker:1"),
            ("HTTPS_PROXY", "http://p:2"),
        ]));
        assert!(cgi.for_url(&url("http://example.com/")).unwrap().is_none());
        assert_eq!(cgi.for_url(&url("https://example.com/")).unwrap().unwrap().port, 2);
        let cgi = Proxies::from_env(env(&[("REQUEST_METHOD", "GET"), ("http_proxy", "http://p:3")]));
        assert_eq!(cgi.for_url(&url("http://example.com/")).unwrap().unwrap().port, 3);
        assert!(Proxies::from_env(env(&[]))
            .for_url(&url("http://x/"))
            .unwrap()
            .is_none());
    }
}
