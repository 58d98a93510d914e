//! An HTTP client on the asyncio loop, in httpx's words: a [`Client`]
//! holding a pool of keep-alive connections, requests built with
//! [`Client::get`], [`Client::post`], … and sent with
//! [`RequestBuilder::send`], responses read with
//! [`Response::text`], [`Response::json`], [`Response::bytes`] or
//! [`Response::chunk`].
//!
//! hyper's client connection API (`client::conn::http1`) does HTTP/1.1 on
//! each connection, over asyncio's sockets and TLS (no tokio runtime); this
//! module adds the pool, timeouts, redirects and the rest around it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), asyncio_http::client::Error> {
//! use asyncio_http::client::Client;
//!
//! let client = Client::new();
//! let resp = client.get("https://example.com/").send().await?.error_for_status()?;
//! println!("{} {}", resp.status(), resp.text().await?);
//!
//! // Many at once, on one loop: the pool reuses connections.
//! let urls = ["http://127.0.0.1:8080/a", "http://127.0.0.1:8080/b"];
//! let bodies = asyncio::try_gather(urls.iter().map(|u| {
//!     let client = client.clone();
//!     async move { client.get(u).send().await?.text().await }
//! }).collect::<Vec<_>>()).await?;
//! # let _ = bodies; Ok(()) }
//! ```
//!
//! | httpx | here |
//! |---|---|
//! | `httpx.AsyncClient(base_url=…, headers=…, timeout=…, limits=…, follow_redirects=…)` | [`Client::builder`]`().base_url(…).default_header(…).timeout(…).max_connections(…).follow_redirects(…).build()?` |
//! | `await client.get(url, params=…, headers=…)` | `client.get(url).query(&[(k, v)]).header(k, v).send().await?` |
//! | `client.post(url, json=…)`, `data=…` (form), `content=…` | [`RequestBuilder::json`], [`RequestBuilder::form`], [`RequestBuilder::body`] |
//! | `auth=(user, password)`, a bearer token header | [`RequestBuilder::basic_auth`], [`RequestBuilder::bearer_auth`] |
//! | `resp.status_code`, `resp.headers`, `resp.text`, `resp.json()`, `resp.content` | [`Response::status`], [`Response::headers`], [`Response::text`], [`Response::json`], [`Response::bytes`] |
//! | `resp.raise_for_status()` | [`Response::error_for_status`] |
//! | `async for chunk in resp.aiter_bytes()` | `while let Some(chunk) = resp.chunk().await? { … }` |
//! | `httpx.Timeout(connect=…, read=…, write=…, pool=…)` | [`Timeouts`] (and `total`); the errors say which: [`Error::Timeout`]`(`[`TimeoutKind`]`)` |
//! | `httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5)` | [`ClientBuilder::max_connections`], [`ClientBuilder::max_keepalive_connections`], [`ClientBuilder::keepalive_expiry`], and [`ClientBuilder::max_connections_per_host`] |
//! | `httpx.ConnectError`, `ConnectTimeout`, `ReadTimeout`, `TooManyRedirects`, `RemoteProtocolError`, `HTTPStatusError` | [`Error::Connect`] / [`Error::Dns`], [`Error::Timeout`], [`Error::TooManyRedirects`], [`Error::Closed`] / [`Error::Protocol`], [`Error::Status`] |
//! | `await session.ws_connect(url, protocols=…, headers=…)` (aiohttp) | [`ws::connect`]`(url).await?`, [`Client::websocket`]`(url).protocols(…).header(…).connect().await?`: the server's [`WebSocket`](crate::ws::WebSocket) |
//!
//! HTTP/2: over TLS when the server picks it by ALPN (offered by default),
//! and over plain TCP with prior knowledge
//! ([`ClientBuilder::http2_prior_knowledge`]); one connection per origin,
//! every request a stream on it, as many at once as the server allows
//! (its `SETTINGS_MAX_CONCURRENT_STREAMS`). Past that, a request opens
//! another connection to the origin if the pool's limits leave room, else
//! waits in the pool's queue (under the pool timeout) for a stream to end.
//!
//! Responses compressed with gzip, deflate or br are decompressed as they
//! stream ([`ClientBuilder::decompress`]).
//!
//! A cookie jar on request ([`ClientBuilder::cookie_store`]); proxies from
//! the environment (`http_proxy`, `https_proxy`, `no_proxy`, …) or
//! [`ClientBuilder::proxy`]: `http://` through the proxy, `https://`
//! through a `CONNECT` tunnel.
//!
//! # Cancellation
//! Dropping a request's future or its [`Response`] at any point leaves the
//! pool sound: a connection is reused only after a complete exchange, so
//! one dropped mid-request or mid-body is closed. A request sent on a
//! pooled connection that the server had closed meanwhile is sent again,
//! once, on a new connection when nothing of it can have been processed
//! (hyper did not send it) or when its method is idempotent (`GET`,
//! `HEAD`, `PUT`, `DELETE`, `OPTIONS`, `TRACE`) and its body can be sent
//! again. On HTTP/2 the same holds for a request that a server's graceful
//! `GOAWAY` turned away; one it refused with `REFUSED_STREAM` is sent again
//! whatever its method. A TLS connection cut without `close_notify` or a
//! reset socket is not taken for a closed keep-alive connection: those
//! fail with [`Error::Closed`].

mod body;
pub(crate) mod decode;
mod error;
mod pool;
mod proxy;
mod response;
pub mod ws;

use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::Method;

pub use body::Body;
pub use error::{Error, TimeoutKind};
pub use response::Response;

use crate::rt::HyperIo;
use crate::transport::Transport;
use pool::{Grant, Held, Origin, Pool, PoolLimits, Sender, Slot};
use response::BodyLimits;

/// The timeouts of a request, by phase (httpx's `Timeout`). `None`: no
/// limit for that phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Resolving the name, connecting, the TLS handshake.
    pub connect: Option<Duration>,
    /// Waiting for the response's head (all of it, counted from the
    /// request's last write: a head trickling in byte by byte is cut), then
    /// for each part of its body (a body trickling in is cut by `total`).
    /// On HTTP/2 "the last write" is the connection's last write of 1 KiB
    /// or more (a body's DATA frames, this request's or another's upload on
    /// the same connection): the control frames h2 answers with (a PING's
    /// ack) do not hold it off. While a streamed body
    /// ([`Body::from_stream`]) waits for its producer, the timer does not
    /// run either (a producer pausing between chunks is not a server that
    /// does not answer); it counts from the last chunk the stream gave, or
    /// its end, when the server is what the request waits for.
    pub read: Option<Duration>,
    /// Each write of the request that the server does not take (this
    /// request's limit, on a pooled connection too). On HTTP/2 the writes
    /// are the connection's: the last request sent on it sets the limit,
    /// and a write that times out fails every request in flight on it with
    /// `Timeout(Write)`.
    pub write: Option<Duration>,
    /// Waiting for a pooled connection (or room to open one).
    pub pool: Option<Duration>,
    /// The request as a whole, redirects included, up to the end of the
    /// body if it is read.
    pub total: Option<Duration>,
}

impl Timeouts {
    /// The same limit for every phase but `total` (none).
    pub fn all(limit: Duration) -> Timeouts {
        Timeouts {
            connect: Some(limit),
            read: Some(limit),
            write: Some(limit),
            pool: Some(limit),
            total: None,
        }
    }

    /// No limits.
    pub fn none() -> Timeouts {
        Timeouts {
            connect: None,
            read: None,
            write: None,
            pool: None,
            total: None,
        }
    }
}

impl Default for Timeouts {
    /// httpx's: five seconds for each phase, no total.
    fn default() -> Self {
        Timeouts::all(Duration::from_secs(5))
    }
}

/// Builds a [`Client`] ([`Client::builder`]).
#[derive(Debug)]
pub struct ClientBuilder {
    base_url: Option<String>,
    headers: HeaderMap,
    timeouts: Timeouts,
    limits: PoolLimits,
    follow_redirects: bool,
    max_redirects: usize,
    max_response_size: Option<u64>,
    http2: bool,
    h2_prior_knowledge: bool,
    decompress: bool,
    cookies: bool,
    proxies: Option<proxy::Proxies>,
    trust_env: bool,
    #[cfg(feature = "tls")]
    tls: Option<asyncio::tls::ClientContext>,
    error: Option<Error>,
}

impl ClientBuilder {
    /// Prefix for relative request URLs (httpx's `base_url`):
    /// `base_url("http://api/v1")` then `get("users")` or `get("/users")`
    /// asks for `http://api/v1/users`.
    pub fn base_url(mut self, url: &str) -> Self {
        self.base_url = Some(url.to_owned());
        self
    }

    /// A header sent with every request (a request's own header of the
    /// same name replaces it). An invalid name or value fails
    /// [`build`](ClientBuilder::build).
    pub fn default_header(mut self, name: &str, value: &str) -> Self {
        match header_pair(name, value) {
            Ok((name, value)) => {
                self.headers.insert(name, value);
            }
            Err(e) => self.error = self.error.or(Some(e)),
        }
        self
    }

    /// The same timeout for every phase (httpx's `timeout=5.0`).
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeouts = Timeouts {
            total: self.timeouts.total,
            ..Timeouts::all(limit)
        };
        self
    }

    /// The timeouts, phase by phase.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// The most connections open at once, in use or idle (httpx: 100).
    /// When the limit is reached, an idle connection of another origin is
    /// closed to make room: an HTTP/1.1 one back in the pool, or an HTTP/2
    /// one with no stream in flight. Requests that can share a live HTTP/2
    /// connection never wait.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.limits.max_connections = n;
        self
    }

    /// The most connections open at once to one origin (scheme, host,
    /// port); by default the total.
    pub fn max_connections_per_host(mut self, n: usize) -> Self {
        self.limits.max_per_host = n;
        self
    }

    /// The most idle connections kept for reuse (httpx: 20).
    pub fn max_keepalive_connections(mut self, n: usize) -> Self {
        self.limits.max_idle = n;
        self
    }

    /// How long an idle connection is kept (httpx: 5 s); `None`: as long
    /// as the server keeps it. An HTTP/2 connection is idle while no
    /// stream is in flight on it (every response read to the end or
    /// dropped).
    pub fn keepalive_expiry(mut self, limit: Option<Duration>) -> Self {
        self.limits.keepalive_expiry = limit;
        self
    }

    /// Whether redirects (301, 302, 303, 307, 308 with a `Location`) are
    /// followed; on by default (as in aiohttp and requests; httpx's
    /// default is off).
    pub fn follow_redirects(mut self, follow: bool) -> Self {
        self.follow_redirects = follow;
        self
    }

    /// The most redirects followed for one request (10); one more is
    /// [`Error::TooManyRedirects`].
    pub fn max_redirects(mut self, n: usize) -> Self {
        self.max_redirects = n;
        self
    }

    /// The largest response body read; a larger one fails with
    /// [`Error::BodyTooLarge`] (at once if its `Content-Length` says so).
    /// A compressed body counts what it decodes to, and decoding stops at
    /// the limit: a small body that would inflate to gigabytes (a
    /// decompression bomb) costs at most the limit in memory (and, read
    /// with [`Response::chunk`], at most 64 KiB at a time with or without
    /// a limit). There is no
    /// limit unless this sets one: a client that talks to servers it does
    /// not trust should. A response with no body (to `HEAD`, a `304`) is
    /// not refused for the `Content-Length` it declares.
    pub fn max_response_size(mut self, bytes: u64) -> Self {
        self.max_response_size = Some(bytes);
        self
    }

    /// Whether HTTP/2 is offered over TLS (ALPN `h2`, then `http/1.1`;
    /// on by default): a server that picks it gets one connection per
    /// origin, with every request as a stream on it. Off: HTTP/1.1 only.
    /// (A context given with [`tls`](ClientBuilder::tls) offers what its
    /// own ALPN list says.)
    pub fn http2(mut self, enabled: bool) -> Self {
        self.http2 = enabled;
        self
    }

    /// HTTP/2 without TLS, with prior knowledge (h2c): `http://` origins
    /// are spoken to in HTTP/2 from the first byte. For servers known to
    /// take it; others fail the request with [`Error::Protocol`] or
    /// [`Error::Closed`].
    pub fn http2_prior_knowledge(mut self) -> Self {
        self.h2_prior_knowledge = true;
        self
    }

    /// A cookie jar (off by default, as in httpx without `cookies=`):
    /// `Set-Cookie` answers are kept (by domain, path, expiry and
    /// `Secure`, RFC 6265, through the cookie_store crate) and sent back
    /// with the requests they match, redirects included. A cookie for a
    /// whole public suffix (`Domain=github.io`, `Domain=co.uk`, by the
    /// public suffix list) is refused, as browsers refuse it, unless the
    /// suffix is the answering host itself (then it is that host's alone).
    pub fn cookie_store(mut self, enabled: bool) -> Self {
        self.cookies = enabled;
        self
    }

    /// Every request through this proxy (`http://[user:password@]host:port`):
    /// `http://` URLs in absolute form, `https://` through a `CONNECT`
    /// tunnel. Replaces what the environment says.
    pub fn proxy(mut self, url: &str) -> Self {
        match proxy::ProxyServer::parse(url) {
            Ok(server) => {
                self.proxies = Some(proxy::Proxies {
                    http: Some(Ok(server.clone())),
                    https: Some(Ok(server)),
                    no_proxy: proxy::NoProxy::default(),
                });
            }
            Err(e) => self.error = self.error.or(Some(e)),
        }
        self
    }

    /// Whether the environment's proxy settings are used (on by default,
    /// httpx's `trust_env`): `http_proxy`, `https_proxy`, `all_proxy`,
    /// `no_proxy` (or their uppercase names; not `HTTP_PROXY` under CGI;
    /// `no_proxy` as curl reads it: hosts and their subdomains, `.domain`
    /// and `*.domain`, IP addresses, CIDR blocks, `host:port`, `*`). A
    /// value this client cannot use (`socks5://…`, `https://…`) fails, with
    /// [`Error::Proxy`], the requests it applies to (rather than sending them
    /// around the proxy); the client builds, and other requests go on.
    pub fn trust_env(mut self, trust: bool) -> Self {
        self.trust_env = trust;
        self
    }

    /// Whether responses are decompressed (on by default): the client
    /// sends `Accept-Encoding: gzip, deflate, br` and decodes a body whose
    /// `Content-Encoding` is one of them, as it streams (the size limit,
    /// [`max_response_size`](ClientBuilder::max_response_size), counts
    /// decoded bytes, so with one set a decompression bomb stops there).
    pub fn decompress(mut self, enabled: bool) -> Self {
        self.decompress = enabled;
        self
    }

    /// The TLS context for `https://` (by default the system's roots):
    /// to trust a private CA, present a client certificate, …
    #[cfg(feature = "tls")]
    pub fn tls(mut self, ctx: asyncio::tls::ClientContext) -> Self {
        self.tls = Some(ctx);
        self
    }

    /// The client.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] for a bad base URL, [`Error::InvalidRequest`]
    /// for a bad default header.
    pub fn build(self) -> Result<Client, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let base_url = match self.base_url {
            None => None,
            Some(base) => {
                let mut url = parse_url(&base)?;
                if !url.path().ends_with('/') {
                    let path = format!("{}/", url.path());
                    url.set_path(&path);
                }
                Some(url)
            }
        };
        let proxies = match self.proxies {
            Some(proxies) => proxies,
            None if self.trust_env => proxy::Proxies::from_env(|name| std::env::var(name).ok()),
            None => proxy::Proxies::default(),
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            header::USER_AGENT,
            HeaderValue::from_static(concat!("asyncio-http/", env!("CARGO_PKG_VERSION"))),
        );
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        if self.decompress {
            headers.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_static(decode::ACCEPT_ENCODING),
            );
        }
        headers.extend(self.headers);
        Ok(Client {
            inner: Rc::new(Inner {
                base_url,
                headers,
                timeouts: self.timeouts,
                pool: Pool::new(self.limits),
                follow_redirects: self.follow_redirects,
                max_redirects: self.max_redirects,
                max_response_size: self.max_response_size,
                http2: self.http2,
                h2_prior_knowledge: self.h2_prior_knowledge,
                decompress: self.decompress,
                cookies: self
                    .cookies
                    .then(|| std::cell::RefCell::new(cookie_store::CookieStore::default())),
                proxies,
                #[cfg(feature = "tls")]
                tls: std::cell::RefCell::new(self.tls),
            }),
        })
    }
}

/// An HTTP client with a pool of connections (httpx's `AsyncClient`).
/// Cheap to clone: clones share the pool. Loop-bound (`!Send`).
#[derive(Clone)]
pub struct Client {
    inner: Rc<Inner>,
}

struct Inner {
    base_url: Option<url::Url>,
    headers: HeaderMap,
    timeouts: Timeouts,
    pool: Rc<Pool>,
    follow_redirects: bool,
    max_redirects: usize,
    max_response_size: Option<u64>,
    http2: bool,
    h2_prior_knowledge: bool,
    decompress: bool,
    cookies: Option<std::cell::RefCell<cookie_store::CookieStore>>,
    proxies: proxy::Proxies,
    #[cfg(feature = "tls")]
    tls: std::cell::RefCell<Option<asyncio::tls::ClientContext>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stats = self.pool_stats();
        f.debug_struct("Client")
            .field("base_url", &self.inner.base_url.as_ref().map(url::Url::as_str))
            .field("pool", &stats)
            .finish_non_exhaustive()
    }
}

/// What a client's pool holds ([`Client::pool_stats`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open (in use, idle, or being opened).
    pub open: usize,
    /// Of them, idle.
    pub idle: usize,
    /// Requests waiting for a connection.
    pub waiting: usize,
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

/// `at + d`, or a century on for a `d` too long to add (`Duration::MAX`
/// means "no limit", not a panic).
pub(crate) fn after(at: asyncio::time::Instant, d: Duration) -> asyncio::time::Instant {
    at.checked_add(d)
        .unwrap_or_else(|| at + Duration::from_secs(100 * 365 * 86_400))
}

impl Client {
    /// A client with the defaults: httpx's timeouts (5 s a phase) and
    /// limits (100 connections, 20 kept idle for 5 s), redirects followed
    /// (up to 10), the system's TLS roots.
    pub fn new() -> Client {
        Client::builder().build().expect("the defaults are valid")
    }

    /// Starts building a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder {
            base_url: None,
            headers: HeaderMap::new(),
            timeouts: Timeouts::default(),
            limits: PoolLimits {
                max_connections: 100,
                max_per_host: usize::MAX,
                max_idle: 20,
                keepalive_expiry: Some(Duration::from_secs(5)),
            },
            follow_redirects: true,
            max_redirects: 10,
            max_response_size: None,
            http2: true,
            h2_prior_knowledge: false,
            decompress: true,
            cookies: false,
            proxies: None,
            trust_env: true,
            #[cfg(feature = "tls")]
            tls: None,
            error: None,
        }
    }

    /// A `GET` request.
    pub fn get(&self, url: &str) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    /// A `POST` request.
    pub fn post(&self, url: &str) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    /// A `PUT` request.
    pub fn put(&self, url: &str) -> RequestBuilder {
        self.request(Method::PUT, url)
    }

    /// A `PATCH` request.
    pub fn patch(&self, url: &str) -> RequestBuilder {
        self.request(Method::PATCH, url)
    }

    /// A `DELETE` request.
    pub fn delete(&self, url: &str) -> RequestBuilder {
        self.request(Method::DELETE, url)
    }

    /// A `HEAD` request.
    pub fn head(&self, url: &str) -> RequestBuilder {
        self.request(Method::HEAD, url)
    }

    /// A request with any method.
    pub fn request(&self, method: Method, url: &str) -> RequestBuilder {
        let url = self.resolve(url);
        RequestBuilder {
            client: self.clone(),
            method,
            url,
            headers: HeaderMap::new(),
            body: Body::empty(),
            timeouts: self.inner.timeouts,
            error: None,
        }
    }

    /// How many connections are open, idle, and how many requests wait.
    pub fn pool_stats(&self) -> PoolStats {
        let (open, idle, waiting) = self.inner.pool.stats();
        PoolStats { open, idle, waiting }
    }

    /// Closes the idle connections, HTTP/2 ones with no stream in flight
    /// among them (those in use close when their responses are done with,
    /// as the client's last clone goes).
    pub fn close_idle(&self) {
        self.inner.pool.close_idle();
    }

    fn resolve(&self, url: &str) -> Result<url::Url, Error> {
        match (&self.inner.base_url, url::Url::parse(url)) {
            (_, Ok(url)) => check_url(url),
            (Some(base), Err(url::ParseError::RelativeUrlWithoutBase)) => {
                let joined = base
                    .join(url.trim_start_matches('/'))
                    .map_err(|e| Error::InvalidUrl(format!("{url:?}: {e}")))?;
                check_url(joined)
            }
            (_, Err(e)) => Err(Error::InvalidUrl(format!("{url:?}: {e}"))),
        }
    }

    /// Sends a request, following redirects.
    async fn execute(&self, mut req: Prepared, timeouts: Timeouts) -> Result<Response, Error> {
        let deadline = timeouts.total.map(|t| after(asyncio::time::Instant::now(), t));
        let mut followed = 0;
        loop {
            let body = std::mem::take(&mut req.body);
            let resend = body.try_clone();
            req.jar_cookie = self.jar_cookie(&req.url);
            let resp = self.send_once(&req, body, timeouts, deadline).await?;
            self.store_cookies(&resp);
            let status = resp.status();
            let location = resp
                .headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .map(str::to_owned);
            let redirect = matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308);
            let (true, true, Some(location)) = (self.inner.follow_redirects, redirect, location) else {
                return Ok(resp);
            };
            let Ok(next) = req.url.join(&location) else {
                return Ok(resp);
            };
            if !matches!(next.scheme(), "http" | "https") {
                return Ok(resp);
            }
            if followed == self.inner.max_redirects {
                return Err(Error::TooManyRedirects {
                    followed,
                    location: next.to_string(),
                });
            }
            // 303, and 301/302 after a POST (what browsers and httpx do):
            // a GET without the body. 307 and 308 repeat the request.
            let to_get = status == 303 && req.method != Method::HEAD
                || matches!(status.as_u16(), 301 | 302) && req.method == Method::POST;
            let body = if to_get {
                req.method = Method::GET;
                for name in [header::CONTENT_TYPE, header::CONTENT_LENGTH, header::TRANSFER_ENCODING] {
                    req.headers.remove(name);
                }
                Body::empty()
            } else {
                match resend {
                    Some(body) => body,
                    // A streamed body cannot be sent again.
                    None => return Ok(resp),
                }
            };
            if Origin::of(&next) != Origin::of(&req.url) {
                for name in ORIGIN_BOUND {
                    req.headers.remove(name);
                }
                req.left_origin = true;
            }
            // The redirect's own body, usually small: read so the
            // connection is reused.
            resp.discard(64 * 1024).await;
            req.url = next;
            req.body = body;
            followed += 1;
        }
    }

    /// Sends one request on a pooled or new connection; once more on a new
    /// connection if a pooled one turns out closed.
    async fn send_once(
        &self,
        req: &Prepared,
        mut body: Body,
        timeouts: Timeouts,
        deadline: Option<asyncio::time::Instant>,
    ) -> Result<Response, Error> {
        let mut origin = Origin::of(&req.url).ok_or_else(|| Error::InvalidUrl(req.url.to_string()))?;
        origin.proxy = self.inner.proxies.for_url(&req.url)?.cloned();
        // Through a proxy, an http:// request goes to the proxy in
        // absolute form.
        let via = origin.proxy.as_ref().filter(|_| !origin.https);
        let mut fresh = false;
        // Streams an HTTP/2 server refused (not processed: RFC 9113,
        // section 8.7), sent again on the same connection.
        let mut refusals = 0;
        loop {
            let (lease, reused) = self.connection(&origin, fresh, timeouts).await?;
            let h2 = matches!(lease, Lease::H2(..));
            // Kept in case the request has to be sent again.
            let again = if reused || h2 { body.try_clone() } else { None };
            let upload = body.watch_upload();
            let (sent, last_write, conn) = match lease {
                Lease::H1(mut conn) => {
                    let request = req.to_http(&self.inner.headers, body, false, via)?;
                    let Sender::H1(sender) = &mut conn.sender else {
                        unreachable!("an HTTP/1.1 lease");
                    };
                    let sent = sender.try_send_request(request);
                    let last_write = conn.last_write.clone();
                    conn.upload = upload.clone();
                    (Either::H1 { future: sent }, last_write, Held::H1(conn))
                }
                Lease::H2(mut lease) => {
                    let request = req.to_http(&self.inner.headers, body, true, None)?;
                    (
                        Either::H2 {
                            future: lease.sender.try_send_request(request),
                        },
                        lease.last_write,
                        Held::H2(lease.stream, upload.clone()),
                    )
                }
            };
            // This request's write timeout, on a pooled connection too (on
            // HTTP/2 the connection's writes are shared: the last request
            // sent sets it for all).
            last_write.limit.set(timeouts.write);
            let head = match timeouts.read {
                Some(limit) => {
                    // The read timeout counts from the last write: a long
                    // upload that keeps going is not waiting to read; nor
                    // is a streamed body whose producer pauses (see
                    // `UploadState::quiet_since`).
                    let mut sent = std::pin::pin!(sent);
                    let mut until = after(asyncio::time::Instant::now(), limit);
                    loop {
                        match asyncio::timeout_at(until, sent.as_mut()).await {
                            Ok(head) => break head,
                            Err(_) => {
                                let now = asyncio::time::Instant::now();
                                let last = match &upload {
                                    Some(upload) => upload.quiet_since(now).max(last_write.last.get()),
                                    None => last_write.last.get(),
                                };
                                let quiet_until = after(last, limit);
                                if quiet_until <= now {
                                    return Err(Error::Timeout(TimeoutKind::Read));
                                }
                                until = quiet_until;
                            }
                        }
                    }
                }
                None => sent.await,
            };
            match head {
                Ok(head) => {
                    let limits = BodyLimits {
                        read_timeout: timeouts.read,
                        deadline,
                        max_size: self.inner.max_response_size,
                        decompress: self.inner.decompress,
                    };
                    return Response::new(head, req.url.clone(), conn, self.inner.pool.clone(), limits);
                }
                Err(mut e) => {
                    drop(conn);
                    let unsent = e.take_message();
                    let error = e.into_error();
                    // The connection's writes timed out (on HTTP/2 the
                    // stream's error says only that the connection is gone);
                    // a request hyper hands back unsent on a pooled
                    // connection goes once more on a new one, below.
                    if last_write.timed_out.get() && (unsent.is_none() || !reused || fresh) {
                        return Err(Error::Timeout(TimeoutKind::Write));
                    }
                    let (unsent, again) = if h2 && refusals < MAX_REFUSALS && refused(&error) {
                        match unsent.map(|r| r.into_body()).or(again) {
                            // A server that opened with a lower stream limit
                            // than the client assumed before its SETTINGS
                            // arrived: they have arrived now.
                            Some(replay) => {
                                refusals += 1;
                                body = replay;
                                continue;
                            }
                            // A body that cannot be sent again.
                            None => return Err(Error::from_hyper_io(error)),
                        }
                    } else {
                        (unsent, again)
                    };
                    if !reused || fresh {
                        return Err(Error::from_hyper_io(error));
                    }
                    // A pooled connection that failed: hyper did not send
                    // the request (it has it back), or the server closed
                    // the connection as it came. Once more, on a new one.
                    body = match (unsent, again) {
                        (Some(request), _) => request.into_body(),
                        (None, Some(again)) if req.idempotent() && closed_early(&error) => again,
                        _ => return Err(Error::from_hyper_io(error)),
                    };
                    fresh = true;
                }
            }
        }
    }

    /// A connection to `origin` (from the pool, or opened), and whether it
    /// served requests before.
    async fn connection(&self, origin: &Origin, fresh: bool, timeouts: Timeouts) -> Result<(Lease, bool), Error> {
        loop {
            let checkout = self.inner.pool.checkout(origin, fresh, self.may_share(origin));
            let grant = match timeouts.pool {
                Some(limit) => asyncio::timeout(limit, checkout)
                    .await
                    .map_err(|_| Error::Timeout(TimeoutKind::Pool))?,
                None => checkout.await,
            };
            match grant {
                Grant::Idle(mut conn) => {
                    // Ready once the previous exchange is fully done; an
                    // error means the server closed it: try the next one.
                    // (The previous request's body may still be going out,
                    // its response read: a stream that stalls does not hold
                    // this request past the pool timeout; the connection is
                    // closed and another one used.)
                    let ready = match &mut conn.sender {
                        Sender::H1(sender) => match timeouts.pool {
                            Some(limit) => matches!(asyncio::timeout(limit, sender.ready()).await, Ok(Ok(()))),
                            None => sender.ready().await.is_ok(),
                        },
                        Sender::H2(_) => true,
                    };
                    if ready {
                        return Ok((Lease::H1(conn), true));
                    }
                }
                Grant::Shared(lease) => return Ok((Lease::H2(lease), true)),
                Grant::Room(slot) => {
                    let open = self.open(origin, slot, timeouts.write);
                    let conn = match timeouts.connect {
                        Some(limit) => asyncio::timeout(limit, open)
                            .await
                            .map_err(|_| Error::Timeout(TimeoutKind::Connect))??,
                        None => open.await?,
                    };
                    return Ok(match conn.sender {
                        Sender::H1(_) => {
                            self.inner.pool.not_shared(&conn);
                            (Lease::H1(conn), false)
                        }
                        Sender::H2(_) => (Lease::H2(self.inner.pool.share(conn)), false),
                    });
                }
            }
        }
    }

    fn jar_cookie(&self, url: &url::Url) -> Option<HeaderValue> {
        let jar = self.inner.cookies.as_ref()?.borrow();
        let pairs: Vec<String> = jar.get_request_values(url).map(|(n, v)| format!("{n}={v}")).collect();
        if pairs.is_empty() {
            return None;
        }
        let mut value = HeaderValue::from_str(&pairs.join("; ")).ok()?;
        value.set_sensitive(true);
        Some(value)
    }

    fn store_cookies(&self, resp: &Response) {
        self.store_cookie_headers(resp.headers(), resp.url());
    }

    /// Keeps the cookies `headers` (an answer from `url`) set, if the
    /// client has a jar.
    fn store_cookie_headers(&self, headers: &HeaderMap, url: &url::Url) {
        let Some(jar) = &self.inner.cookies else {
            return;
        };
        let mut jar = jar.borrow_mut();
        for value in headers.get_all(header::SET_COOKIE) {
            let Some(mut cookie) = value.to_str().ok().and_then(|t| cookie::Cookie::parse(t).ok()) else {
                continue; // malformed: dropped, as browsers do
            };
            // (Compared without a leading dot, as cookies match, nor one
            // trailing dot: `github.io.` is the suffix `github.io`.)
            let domain = cookie.domain().map(|d| d.trim_start_matches('.').to_ascii_lowercase());
            if let Some(domain) = domain.as_deref().map(|d| d.strip_suffix('.').unwrap_or(d)) {
                if is_public_suffix(domain) {
                    // RFC 6265, section 5.3, step 5: a cookie for a whole
                    // public suffix (`Domain=github.io`, `Domain=co.uk`) is
                    // refused, unless the suffix is the host itself: then
                    // it is that host's alone.
                    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
                    if domain != host.strip_suffix('.').unwrap_or(&host) {
                        continue;
                    }
                    cookie.unset_domain();
                }
            }
            // A cookie the jar refuses (another domain) is dropped, as
            // browsers do.
            let _ = jar.insert_raw(&cookie, url);
        }
    }

    /// The cookies the jar would send to `url` (name, value), if the
    /// client has a jar ([`ClientBuilder::cookie_store`]).
    pub fn cookies_for(&self, url: &str) -> Vec<(String, String)> {
        let (Some(jar), Ok(mut url)) = (&self.inner.cookies, url::Url::parse(url)) else {
            return Vec::new();
        };
        // A WebSocket URL as its handshake is matched: `ws` as `http`,
        // `wss` as `https`.
        match url.scheme() {
            "ws" => drop(url.set_scheme("http")),
            "wss" => drop(url.set_scheme("https")),
            _ => {}
        }
        jar.borrow()
            .get_request_values(&url)
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect()
    }

    /// Whether a new connection to `origin` may be HTTP/2 (and so shared):
    /// prior knowledge for `http://`, ALPN offering `h2` for `https://`.
    fn may_share(&self, origin: &Origin) -> bool {
        if !origin.https {
            return self.inner.h2_prior_knowledge;
        }
        #[cfg(feature = "tls")]
        if let Some(ctx) = &*self.inner.tls.borrow() {
            return ctx.rustls_config().alpn_protocols.iter().any(|p| p == b"h2");
        }
        self.inner.http2
    }

    /// Opens a connection: resolve, connect (happy eyeballs), TLS, hyper's
    /// handshake (HTTP/2 when ALPN chose it, or with prior knowledge); the
    /// connection's task starts.
    async fn open(&self, origin: &Origin, slot: Slot, write_timeout: Option<Duration>) -> Result<pool::Conn, Error> {
        let target = origin.to_string();
        // Through a proxy, HTTPS goes through a tunnel; plain HTTP is sent
        // to the proxy in absolute form.
        let transport = dial(&origin.host, origin.port, &target, origin.proxy.as_ref(), origin.https).await?;
        let (transport, h2) = if origin.https {
            let transport = self.tls_handshake(transport, origin, &target).await?;
            let h2 = transport.alpn_is_h2();
            (transport, h2)
        } else {
            (transport, self.inner.h2_prior_knowledge)
        };
        let last_write = Rc::new(pool::Writes::new());
        // The opening request's write timeout, for hyper's handshake (the
        // HTTP/2 preface) too.
        last_write.limit.set(write_timeout);
        // On HTTP/2 the stamp is the connection's, shared by its streams:
        // only writes that can carry a request body count, not the control
        // frames h2 sends on its own (a PING's ack, 17 bytes; a
        // WINDOW_UPDATE, 13), or a server that pings would hold every
        // stream's read timeout off for ever.
        let progress = if h2 { H2_PROGRESS_BYTES } else { 1 };
        let io = HyperIo::new(WriteTimeout::new(transport, last_write.clone(), progress), None, false);
        if h2 {
            let (sender, connection) = hyper::client::conn::http2::Builder::new(crate::rt::LocalExec)
                .timer(crate::rt::LoopTimer)
                .initial_max_send_streams(self.inner.pool.known_stream_limit(origin))
                .handshake(io)
                .await
                .map_err(Error::from_hyper_io)?;
            // The pool reads the server's stream limit (its SETTINGS may
            // change it at any time) from the connection between polls.
            let connection = Rc::new(std::cell::RefCell::new(Box::pin(connection)));
            let read_limit: pool::ReadLimit = Box::new({
                let connection = Rc::downgrade(&connection);
                move || {
                    let connection = connection.upgrade()?;
                    let connection = connection.try_borrow().ok()?;
                    Some(connection.current_max_send_streams())
                }
            });
            let streams = pool::Streams::new(&slot, &last_write, Some(read_limit));
            let driver = asyncio::create_task({
                let (streams, writes) = (streams.clone(), last_write.clone());
                std::future::poll_fn(move |cx| {
                    writes.driven_by(cx.waker());
                    let done = std::future::Future::poll(connection.borrow_mut().as_mut(), cx);
                    streams.poll_limit();
                    done.map(drop)
                })
            });
            return Ok(pool::Conn::new(Sender::H2(sender), driver, slot, last_write, streams));
        }
        let (sender, connection) = hyper::client::conn::http1::Builder::new()
            .handshake(io)
            .await
            .map_err(Error::from_hyper_io)?;
        let driver = asyncio::create_task(async move {
            let _ = connection.await;
        });
        let streams = pool::Streams::new(&slot, &last_write, None);
        Ok(pool::Conn::new(Sender::H1(sender), driver, slot, last_write, streams))
    }

    #[cfg(feature = "tls")]
    async fn tls_handshake(&self, transport: Transport, origin: &Origin, target: &str) -> Result<Transport, Error> {
        let ctx = {
            let mut tls = self.inner.tls.borrow_mut();
            match &*tls {
                Some(ctx) => ctx.clone(),
                None => {
                    let alpn: &[&str] = if self.inner.http2 {
                        &["h2", "http/1.1"]
                    } else {
                        &["http/1.1"]
                    };
                    let ctx = asyncio::tls::ClientContext::builder()
                        .alpn(alpn.iter().copied())
                        .build()
                        .map_err(|source| Error::Tls {
                            target: target.to_owned(),
                            source,
                        })?;
                    *tls = Some(ctx.clone());
                    ctx
                }
            }
        };
        transport
            .connect_tls(&ctx, &origin.host)
            .await
            .map_err(|source| Error::Tls {
                target: target.to_owned(),
                source,
            })
    }

    #[cfg(not(feature = "tls"))]
    async fn tls_handshake(&self, _: Transport, _: &Origin, _: &str) -> Result<Transport, Error> {
        Err(Error::TlsUnavailable)
    }
}

/// Whether `domain` (lowercase, no leading dot) is a public suffix: one
/// under which unrelated parties register names (`com`, `co.uk`,
/// `github.io`), by the public suffix list compiled into psl. A name the
/// list does not know (`localhost`, `internal`) counts as one, by the
/// list's implicit `*` rule, as browsers read it; an IP address does not.
fn is_public_suffix(domain: &str) -> bool {
    if domain.parse::<std::net::IpAddr>().is_ok() {
        return false;
    }
    psl::suffix_str(domain) == Some(domain)
}

/// Resolves and connects (happy eyeballs) to `host:port`, or to `proxy`,
/// through which a `CONNECT` tunnel to `target` (`host:port`) is opened
/// when `tunnel`.
pub(crate) async fn dial(
    host: &str,
    port: u16,
    target: &str,
    proxy: Option<&proxy::ProxyServer>,
    tunnel: bool,
) -> Result<Transport, Error> {
    // The first hop: the server, or the proxy.
    let (host, port, first_hop) = match proxy {
        Some(proxy) => (proxy.host.as_str(), proxy.port, proxy.target()),
        None => (host, port, target.to_owned()),
    };
    let addrs = asyncio::net::lookup_host(host, port)
        .await
        .map_err(|source| Error::Dns {
            host: host.to_owned(),
            source,
        })?;
    let stream = asyncio::net::TcpStream::connect_happy_eyeballs(&addrs[..], Duration::from_millis(250))
        .await
        .map_err(|source| Error::Connect {
            target: first_hop,
            source,
        })?;
    let mut transport = Transport::tcp(stream);
    if let (Some(proxy), true) = (proxy, tunnel) {
        proxy::connect_tunnel(&mut transport, proxy, target).await?;
    }
    Ok(transport)
}

/// A request's connection: an HTTP/1.1 connection of its own, or a stream
/// of a shared HTTP/2 connection.
enum Lease {
    H1(pool::Conn),
    H2(pool::H2Lease),
}

pin_project_lite::pin_project! {
    /// The response future of either protocol.
    #[project = EitherProj]
    enum Either<A, B> {
        H1 { #[pin] future: A },
        H2 { #[pin] future: B },
    }
}

impl<A, B, T> std::future::Future for Either<A, B>
where
    A: std::future::Future<Output = T>,
    B: std::future::Future<Output = T>,
{
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.project() {
            EitherProj::H1 { future } => future.poll(cx),
            EitherProj::H2 { future } => future.poll(cx),
        }
    }
}

/// How many times one request is sent again after HTTP/2 refused streams.
const MAX_REFUSALS: u32 = 3;

/// Whether hyper's error is an HTTP/2 stream the server reset with
/// `REFUSED_STREAM`: it did not process the request, any method may be
/// sent again.
fn refused(e: &hyper::Error) -> bool {
    error::h2_cause(e).and_then(h2::Error::reason) == Some(h2::Reason::REFUSED_STREAM)
}

/// Whether hyper's error says the server closed the connection before
/// answering (what a keep-alive connection closed meanwhile looks like), or,
/// on HTTP/2, is closing it: a graceful `GOAWAY` fails the streams it did
/// not take (RFC 9113, section 6.8: unprocessed, safe to send again).
fn closed_early(e: &hyper::Error) -> bool {
    e.is_incomplete_message() || e.is_canceled() || e.is_closed() || error::going_away(e)
}

impl Error {
    /// hyper's error, with a write timeout (from [`WriteTimeout`]) told
    /// apart.
    fn from_hyper_io(e: hyper::Error) -> Error {
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            if let Some(io) = s.downcast_ref::<io::Error>() {
                if io.get_ref().is_some_and(|inner| inner.is::<WriteTimedOut>()) {
                    return Error::Timeout(TimeoutKind::Write);
                }
            }
            source = s.source();
        }
        Error::from_hyper(e)
    }
}

impl Origin {
    fn of(url: &url::Url) -> Option<Origin> {
        let https = match url.scheme() {
            "http" => false,
            "https" => true,
            _ => return None,
        };
        let host = match url.host()? {
            url::Host::Domain(d) => d.to_owned(),
            url::Host::Ipv4(ip) => ip.to_string(),
            url::Host::Ipv6(ip) => ip.to_string(),
        };
        Some(Origin {
            https,
            host,
            port: url.port_or_known_default()?,
            proxy: None,
        })
    }
}

fn parse_url(text: &str) -> Result<url::Url, Error> {
    let url = url::Url::parse(text).map_err(|e| Error::InvalidUrl(format!("{text:?}: {e}")))?;
    check_url(url)
}

fn check_url(url: url::Url) -> Result<url::Url, Error> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::InvalidUrl(format!(
            "{url}: the scheme must be http or https, not {:?}",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::InvalidUrl(format!("{url}: no host")));
    }
    Ok(url)
}

fn header_pair(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), Error> {
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| Error::InvalidRequest(format!("invalid header name {name:?}")))?;
    let mut value =
        HeaderValue::from_str(value).map_err(|_| Error::InvalidRequest(format!("invalid value for header {name}")))?;
    // Credentials: `Debug` shows them as `Sensitive`, and HTTP/2's HPACK
    // never indexes them.
    if [header::AUTHORIZATION, header::PROXY_AUTHORIZATION, header::COOKIE].contains(&name) {
        value.set_sensitive(true);
    }
    Ok((name, value))
}

/// A request being built (httpx's `client.build_request` and `send` in
/// one).
#[must_use = "a request does nothing until it is sent"]
pub struct RequestBuilder {
    client: Client,
    method: Method,
    url: Result<url::Url, Error>,
    headers: HeaderMap,
    body: Body,
    timeouts: Timeouts,
    error: Option<Error>,
}

impl std::fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestBuilder")
            .field("method", &self.method)
            .field("url", &self.url.as_ref().map(url::Url::as_str))
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl RequestBuilder {
    fn fail(mut self, e: Error) -> Self {
        self.error = self.error.or(Some(e));
        self
    }

    /// Adds a header (several of the same name are all sent); it replaces
    /// the client's default of that name.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match header_pair(name, value) {
            Ok((name, value)) => {
                self.headers.append(name, value);
                self
            }
            Err(e) => self.fail(e),
        }
    }

    /// Adds query parameters, percent-encoded (httpx's `params=`).
    pub fn query<K: AsRef<str>, V: AsRef<str>>(mut self, pairs: &[(K, V)]) -> Self {
        if let Ok(url) = &mut self.url {
            let mut query = url.query_pairs_mut();
            for (k, v) in pairs {
                query.append_pair(k.as_ref(), v.as_ref());
            }
        }
        self
    }

    /// The body, as it is (with a `Content-Length` for bytes, chunked for
    /// a stream).
    pub fn body(mut self, body: impl Into<Body>) -> Self {
        self.body = body.into();
        self
    }

    /// `value` as JSON (serde_json), with `Content-Type:
    /// application/json`.
    pub fn json<T: serde::Serialize + ?Sized>(mut self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(bytes) => {
                self.body = Body::from(bytes);
                self.headers
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                self
            }
            Err(e) => self.fail(Error::InvalidRequest(format!("the JSON body does not serialize: {e}"))),
        }
    }

    /// `pairs` as a form (`application/x-www-form-urlencoded`, httpx's
    /// `data=`).
    pub fn form<K: AsRef<str>, V: AsRef<str>>(mut self, pairs: &[(K, V)]) -> Self {
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            form.append_pair(k.as_ref(), v.as_ref());
        }
        self.body = Body::from(form.finish());
        self.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        self
    }

    /// HTTP Basic authentication (httpx's `auth=(user, password)`).
    pub fn basic_auth(self, user: &str, password: Option<&str>) -> Self {
        let credentials = format!("{user}:{}", password.unwrap_or(""));
        let value = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        );
        self.sensitive_header(header::AUTHORIZATION, &value)
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer_auth(self, token: &str) -> Self {
        self.sensitive_header(header::AUTHORIZATION, &format!("Bearer {token}"))
    }

    fn sensitive_header(mut self, name: HeaderName, value: &str) -> Self {
        match HeaderValue::from_str(value) {
            Ok(mut value) => {
                value.set_sensitive(true);
                self.headers.insert(name, value);
                self
            }
            Err(_) => self.fail(Error::InvalidRequest(format!("invalid value for header {name}"))),
        }
    }

    /// This request's timeouts (instead of the client's).
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// A limit on the whole request (redirects and the body's reading
    /// included), on top of the per-phase timeouts.
    pub fn timeout(mut self, total: Duration) -> Self {
        self.timeouts.total = Some(total);
        self
    }

    /// Sends the request and returns the response once its head has
    /// arrived (the body is read from the [`Response`]).
    ///
    /// # Errors
    /// An [`Error`] for each way it can fail: an invalid URL or header,
    /// DNS, connecting, TLS, a timeout (which phase), too many redirects,
    /// the server closing the connection, a malformed response.
    ///
    /// # Cancel safety
    /// Dropping the future abandons the request: the connection it was
    /// using, if any, is closed (never returned to the pool mid-exchange);
    /// a wait for a pooled connection leaves the queue.
    pub async fn send(self) -> Result<Response, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let url = self.url?;
        let req = Prepared {
            method: self.method,
            url,
            headers: self.headers,
            body: self.body,
            jar_cookie: None,
            left_origin: false,
        };
        let timeouts = self.timeouts;
        let exchange = self.client.execute(req, timeouts);
        match timeouts.total {
            Some(total) => asyncio::timeout(total, exchange)
                .await
                .map_err(|_| Error::Timeout(TimeoutKind::Total))?,
            None => exchange.await,
        }
    }
}

/// A request ready to go out (and to be sent again after a redirect); its
/// body moves out for each sending.
struct Prepared {
    method: Method,
    url: url::Url,
    headers: HeaderMap,
    body: Body,
    /// The cookie jar's `Cookie` for this URL (a request's own `Cookie`
    /// header wins).
    jar_cookie: Option<HeaderValue>,
    /// Set once a redirect has left the first request's origin: the
    /// client's default credentials (`Authorization`, `Cookie`,
    /// `Proxy-Authorization`) and `Host` are not sent from then on, as the
    /// request's own are not.
    left_origin: bool,
}

/// Headers a redirect to another origin does not carry over, the
/// request's own or the client's defaults.
const ORIGIN_BOUND: [header::HeaderName; 4] = [
    header::AUTHORIZATION,
    header::COOKIE,
    header::PROXY_AUTHORIZATION,
    header::HOST,
];

impl Prepared {
    fn idempotent(&self) -> bool {
        matches!(
            self.method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
        )
    }

    /// hyper's request: for HTTP/1.1 an origin-form target and `Host`,
    /// for HTTP/2 the absolute URL (its `:scheme` and `:authority`); the
    /// client's default headers under the request's own.
    fn to_http(
        &self,
        defaults: &HeaderMap,
        body: Body,
        h2: bool,
        proxy: Option<&proxy::ProxyServer>,
    ) -> Result<http::Request<Body>, Error> {
        let target = match (h2 || proxy.is_some(), self.url.query()) {
            (true, _) => {
                let mut url = self.url.clone();
                let _ = url.set_username("");
                let _ = url.set_password(None);
                url.set_fragment(None);
                url.to_string()
            }
            (false, Some(q)) => format!("{}?{q}", self.url.path()),
            (false, None) => self.url.path().to_owned(),
        };
        let mut request = http::Request::builder()
            .method(self.method.clone())
            .uri(target)
            .body(body)
            .map_err(|e| Error::InvalidUrl(format!("{}: {e}", self.url)))?;
        let headers = request.headers_mut();
        let host = match (self.url.host_str(), self.url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => return Err(Error::InvalidUrl(format!("{}: no host", self.url))),
        };
        // One `Host`: the request's own or a default one (a virtual host on
        // a server reached by address), else the URL's.
        let own_host =
            self.headers.contains_key(header::HOST) || !self.left_origin && defaults.contains_key(header::HOST);
        if !h2 && !own_host {
            headers.insert(
                header::HOST,
                HeaderValue::from_str(&host).map_err(|_| Error::InvalidUrl(self.url.to_string()))?,
            );
        }
        for (name, value) in defaults {
            let dropped = self.left_origin && ORIGIN_BOUND.contains(name);
            if !dropped && !self.headers.contains_key(name) {
                headers.append(name, value.clone());
            }
        }
        for (name, value) in &self.headers {
            headers.append(name, value.clone());
        }
        if let (Some(cookie), false) = (&self.jar_cookie, self.headers.contains_key(header::COOKIE)) {
            headers.insert(header::COOKIE, cookie.clone());
        }
        if let Some(auth) = proxy.and_then(|p| p.authorization.as_deref()) {
            let mut value =
                HeaderValue::from_str(auth).map_err(|_| Error::InvalidRequest("proxy credentials".into()))?;
            value.set_sensitive(true);
            headers.insert(header::PROXY_AUTHORIZATION, value);
        }
        if !self.url.username().is_empty() && !self.headers.contains_key(header::AUTHORIZATION) {
            let user = percent_encoding::percent_decode_str(self.url.username()).decode_utf8_lossy();
            let password = self
                .url
                .password()
                .map(|p| percent_encoding::percent_decode_str(p).decode_utf8_lossy().into_owned());
            let credentials = format!("{user}:{}", password.unwrap_or_default());
            let mut value = HeaderValue::from_str(&format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(credentials)
            ))
            .map_err(|_| Error::InvalidUrl(self.url.to_string()))?;
            value.set_sensitive(true);
            headers.insert(header::AUTHORIZATION, value);
        }
        // HTTP/2 names the host in `:authority` only (RFC 9113, section
        // 8.3.1: no `Host` that differs from it): a `Host` of the request's
        // own becomes the authority.
        if let Some(own) = h2.then(|| request.headers_mut().remove(header::HOST)).flatten() {
            let authority = own
                .to_str()
                .ok()
                .and_then(|h| http::uri::Authority::try_from(h).ok())
                // (No user info: RFC 9113 forbids it in `:authority`.)
                .filter(|a| !a.as_str().contains('@'))
                .ok_or_else(|| Error::InvalidRequest(format!("Host {own:?} is not a host[:port]")))?;
            let mut parts = request.uri().clone().into_parts();
            parts.authority = Some(authority);
            *request.uri_mut() =
                http::Uri::from_parts(parts).map_err(|e| Error::InvalidRequest(format!("Host {own:?}: {e}")))?;
        }
        Ok(request)
    }
}

/// Marks a write that timed out (inside the `io::Error` hyper reports).
#[derive(Debug)]
struct WriteTimedOut;

impl std::fmt::Display for WriteTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the write timeout passed")
    }
}

impl std::error::Error for WriteTimedOut {}

/// The connection's socket with the write timeout: a write the socket
/// does not take for that long fails. Costs nothing while writes go
/// through (the timer is armed only when one has to wait), but a clock
/// read per write: the time of the last one, from which the read timeout
/// counts.
struct WriteTimeout {
    inner: Transport,
    waiting: Option<Waiting>,
    last_write: Rc<pool::Writes>,
    /// The smallest write that stamps `last_write`.
    progress: usize,
}

/// A write waiting for the socket, under the write timeout.
struct Waiting {
    since: asyncio::time::Instant,
    limit: Duration,
    sleep: asyncio::time::Sleep,
}

/// On an HTTP/2 connection, the smallest write that counts as a request
/// making progress (see [`WriteTimeout`]): more than any run of control
/// frames, less than a DATA frame of a body still going out (h2 sends an
/// upload in frames of up to 16 KiB). Another stream's upload on the same
/// connection also counts: the read timeout is the connection's there.
const H2_PROGRESS_BYTES: usize = 1024;

impl WriteTimeout {
    fn new(inner: Transport, last_write: Rc<pool::Writes>, progress: usize) -> Self {
        WriteTimeout {
            inner,
            waiting: None,
            last_write,
            progress,
        }
    }

    fn check<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match poll {
            Poll::Ready(r) => {
                self.waiting = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let Some(limit) = self.last_write.limit.get() else {
                    self.waiting = None;
                    return Poll::Pending;
                };
                // A limit changed by a later request while this write waits
                // (HTTP/2) moves the deadline: counted from when it began.
                let waiting = self.waiting.get_or_insert_with(|| Waiting {
                    since: asyncio::time::Instant::now(),
                    limit,
                    sleep: asyncio::sleep(limit),
                });
                if waiting.limit != limit {
                    waiting.limit = limit;
                    waiting.sleep.reset(after(waiting.since, limit));
                }
                if waiting.sleep.poll_sleep(cx).is_ready() {
                    self.waiting = None;
                    self.last_write.timed_out.set(true);
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, WriteTimedOut)));
                }
                Poll::Pending
            }
        }
    }
}

impl WriteTimeout {
    /// Stamps a write that moved bytes (flushes do not count: hyper
    /// flushes on every turn, reads included).
    fn wrote(&self, poll: &Poll<io::Result<usize>>) {
        if matches!(poll, Poll::Ready(Ok(n)) if *n >= self.progress) {
            self.last_write.last.set(asyncio::time::Instant::now());
        }
    }
}

impl futures_io::AsyncRead for WriteTimeout {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            this.last_write.read_some();
        }
        poll
    }
}

impl futures_io::AsyncWrite for WriteTimeout {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.wrote(&poll);
        this.check(cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.wrote(&poll);
        this.check(cx, poll)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_flush(cx);
        this.check(cx, poll)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_given_as_headers_are_sensitive() {
        let builder = Client::builder()
            .default_header("Authorization", "Bearer s3cret")
            .default_header("X-Other", "shown");
        let shown = format!("{builder:?}");
        assert!(!shown.contains("s3cret") && shown.contains("shown"), "{shown}");
        for name in ["authorization", "Cookie", "proxy-authorization"] {
            assert!(header_pair(name, "x").unwrap().1.is_sensitive(), "{name}");
        }
        assert!(!header_pair("accept", "x").unwrap().1.is_sensitive());
    }
}
