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
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ProxyServer {
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `Proxy-Authorization`'s value, from the URL's credentials.
    pub(crate) authorization: Option<String>,
}

impl ProxyServer {
    pub(crate) fn parse(text: &str) -> Result<ProxyServer, Error> {
        // `host:port` alone means http://host:port (curl's reading).
        let with_scheme = if text.contains("://") {
            text.to_owned()
        } else {
            format!("http://{text}")
        };
        let url = url::Url::parse(&with_scheme).map_err(|e| Error::InvalidUrl(format!("proxy {text:?}: {e}")))?;
        if url.scheme() != "http" {
            return Err(Error::InvalidUrl(format!(
                "proxy {text:?}: only http:// proxies are supported (CONNECT for https:// targets)"
            )));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| Error::InvalidUrl(format!("proxy {text:?}: no host")))?
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

/// Which proxy each request uses.
#[derive(Clone, Debug, Default)]
pub(crate) struct Proxies {
    pub(crate) http: Option<ProxyServer>,
    pub(crate) https: Option<ProxyServer>,
    pub(crate) no_proxy: NoProxy,
}

impl Proxies {
    /// From the environment: `http_proxy`/`HTTP_PROXY`, `https_proxy`/
    /// `HTTPS_PROXY`, `all_proxy`/`ALL_PROXY`, `no_proxy`/`NO_PROXY` (the
    /// lowercase name first; `HTTP_PROXY` not under CGI, see the module's
    /// docs). An unusable value is an error, not silently ignored.
    pub(crate) fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Proxies, Error> {
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
        let all = var("all_proxy").map(|p| ProxyServer::parse(&p)).transpose()?;
        Ok(Proxies {
            http: var("http_proxy")
                .map(|p| ProxyServer::parse(&p))
                .transpose()?
                .or_else(|| all.clone()),
            https: var("https_proxy").map(|p| ProxyServer::parse(&p)).transpose()?.or(all),
            no_proxy: NoProxy::parse(&var("no_proxy").unwrap_or_default()),
        })
    }

    /// The proxy for `url`, if any.
    pub(crate) fn for_url(&self, url: &url::Url) -> Option<&ProxyServer> {
        let proxy = match url.scheme() {
            "https" => self.https.as_ref(),
            _ => self.http.as_ref(),
        }?;
        let host = url.host_str()?.trim_start_matches('[').trim_end_matches(']');
        (!self.no_proxy.matches(host, url.port_or_known_default())).then_some(proxy)
    }
}

/// `NO_PROXY`: hosts (and their subdomains), `.domain` suffixes, IP
/// addresses, `host:port`, or `*` for everything.
#[derive(Clone, Debug, Default)]
pub(crate) struct NoProxy {
    all: bool,
    entries: Vec<(String, Option<u16>)>,
}

impl NoProxy {
    pub(crate) fn parse(list: &str) -> NoProxy {
        let mut no = NoProxy::default();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry == "*" {
                no.all = true;
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
            no.entries
                .push((host.trim_start_matches('.').to_ascii_lowercase(), port));
        }
        no
    }

    fn matches(&self, host: &str, port: Option<u16>) -> bool {
        if self.all {
            return true;
        }
        let host = host.to_ascii_lowercase();
        self.entries.iter().any(|(entry, entry_port)| {
            let port_ok = entry_port.is_none() || *entry_port == port;
            let host_ok = host == *entry || host.ends_with(&format!(".{entry}"));
            port_ok && host_ok
        })
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
        Some(200..=299) => {
            if end < head.len() {
                transport.unread(bytes::Bytes::copy_from_slice(&head[end..]));
            }
            Ok(())
        }
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
        ]))
        .unwrap();
        let http = proxies.for_url(&url("http://example.com/")).unwrap();
        assert_eq!((http.host.as_str(), http.port), ("proxy", 3128));
        assert_eq!(http.authorization.as_deref(), Some("Basic dXNlcjpwQHNz"));
        let https = proxies.for_url(&url("https://example.com/")).unwrap();
        assert_eq!((https.host.as_str(), https.port), ("secure-proxy", 8080));
        for direct in [
            "http://localhost:8080/",
            "http://a.internal.example/",
            "http://internal.example/",
            "http://10.0.0.1/",
            "https://svc:8443/",
        ] {
            assert!(proxies.for_url(&url(direct)).is_none(), "{direct}");
        }
        assert!(proxies.for_url(&url("https://svc:9443/")).is_some());
        assert!(proxies.for_url(&url("http://notinternal.example/")).is_some());

        let all = Proxies::from_env(env(&[("ALL_PROXY", "http://p:1"), ("no_proxy", "*")])).unwrap();
        assert!(all.for_url(&url("http://example.com/")).is_none());
        assert!(Proxies::from_env(env(&[("HTTP_PROXY", "socks5://p:1")])).is_err());
        // Under CGI, `HTTP_PROXY` may come from a request's `Proxy:` header:
        // not read (the lowercase name and the others still are).
        let cgi = Proxies::from_env(env(&[
            ("REQUEST_METHOD", "GET"),
            ("HTTP_PROXY", "http://attacker:1"),
            ("HTTPS_PROXY", "http://p:2"),
        ]))
        .unwrap();
        assert!(cgi.for_url(&url("http://example.com/")).is_none());
        assert_eq!(cgi.for_url(&url("https://example.com/")).unwrap().port, 2);
        let cgi = Proxies::from_env(env(&[("REQUEST_METHOD", "GET"), ("http_proxy", "http://p:3")])).unwrap();
        assert_eq!(cgi.for_url(&url("http://example.com/")).unwrap().port, 3);
        assert!(Proxies::from_env(env(&[]))
            .unwrap()
            .for_url(&url("http://x/"))
            .is_none());
    }
}
