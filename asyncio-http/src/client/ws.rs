//! A WebSocket client (`ws://`, `wss://`): aiohttp's
//! `session.ws_connect(url)`, the `websockets` library's `connect(uri)`.
//!
//! [`connect`] (or [`WebSocketBuilder`], or [`Client::websocket`] to share
//! a client's TLS context, default headers, timeouts, cookie jar and
//! proxy) resolves the host through the loop, connects (happy eyeballs;
//! through a client's proxy, a `CONNECT` tunnel), runs TLS for `wss://`
//! (offering `http/1.1` by ALPN), then tungstenite's client
//! handshake, and returns the same [`WebSocket`] a server's handler is
//! given: [`WebSocket::send`], [`WebSocket::recv`], [`WebSocket::close`]
//! with a [`CloseCode`], [`WebSocket::split`], and tungstenite underneath
//! for masking, fragmentation, UTF-8 checks, pongs and the close
//! handshake, as on the server.
//!
//! ```
//! use asyncio_http::client::ws::{self, CloseCode, Message, WebSocket};
//! use asyncio_http::{Request, Response, Router, Server};
//!
//! // The server's side…
//! async fn echo(req: Request) -> Response {
//!     req.websocket(|mut ws: WebSocket| async move {
//!         while let Some(Ok(msg)) = ws.recv().await {
//!             if msg.is_text() || msg.is_binary() {
//!                 if ws.send(msg).await.is_err() {
//!                     break;
//!                 }
//!             }
//!         }
//!     })
//! }
//!
//! # asyncio::run(async {
//! let server = Server::bind("127.0.0.1:0")
//!     .handle_signals(false)
//!     .start(|| Router::new().get("/ws", echo))
//!     .await?;
//! // …and the client's: the same type, the same calls.
//! let mut ws: WebSocket = ws::connect(&format!("ws://{}/ws", server.local_addr())).await?;
//! ws.send(Message::text("hello")).await?;
//! assert_eq!(ws.recv().await.transpose()?, Some(Message::text("hello")));
//! ws.close(CloseCode::Normal, "done").await?;
//! server.shutdown().await?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! `http://` and `https://` URLs are taken too (as aiohttp does), as
//! `ws://` and `wss://`. Failures are the HTTP client's [`Error`]s: an
//! invalid URL, [`Error::Dns`], [`Error::Connect`], [`Error::Proxy`] (a
//! client's proxy refused the tunnel), [`Error::Tls`],
//! [`Error::Timeout`] (`Connect` while connecting, `Read` during the
//! handshake), [`Error::Closed`] if the server hangs up during the
//! handshake, and [`Error::WebSocketHandshake`] if it answers but does
//! not switch protocols (its status in [`Error::status`]).
//!
//! Offering subprotocols ([`WebSocketBuilder::protocols`]) requires the
//! server to choose one of them: tungstenite fails a handshake whose
//! `101` names none (stricter than RFC 6455, which lets the server
//! decline). Per-message deflate (RFC 7692) is offered and used when the
//! server accepts it ([`WebSocketBuilder::deflate`] sets or turns it off).

use std::future::Future;
use std::time::Duration;

use base64::Engine as _;
use http::header::{
    self, HeaderMap, HeaderValue, CONNECTION, HOST, SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use tungstenite::error::ProtocolError;
use tungstenite::protocol::WebSocketConfig;

use super::{header_pair, Client, Error, TimeoutKind};
use crate::transport::Transport;
use crate::ws::WsIo;

pub use crate::ws::{CloseCode, CloseFrame, Message, WebSocket, WsDeflate, WsError, WsReceiver, WsSender};

/// The connect and handshake timeouts of [`connect`] (httpx's 5 s).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest message and frame by default: the server's defaults.
const DEFAULT_MAX_SIZE: usize = 16 * 1024 * 1024;

/// Opens a WebSocket to `url` (`ws://` or `wss://`) with the defaults: 5 s
/// to connect and 5 s for the handshake, messages and frames up to 16 MiB,
/// the system's TLS roots. [`WebSocketBuilder`] sets the rest.
///
/// # Errors
/// As [`WebSocketBuilder::connect`].
///
/// # Cancel safety
/// Dropping the future abandons the connection (its socket is closed);
/// nothing is left behind.
pub async fn connect(url: &str) -> Result<WebSocket, Error> {
    WebSocketBuilder::new(url).connect().await
}

/// A WebSocket being opened: its URL, extra headers, subprotocols, TLS
/// context, timeouts and size limits. From [`WebSocketBuilder::new`] or
/// [`Client::websocket`].
#[must_use = "a WebSocket is opened by `connect`"]
pub struct WebSocketBuilder {
    url: Result<url::Url, Error>,
    /// A client's default headers: the builder's own replace them.
    defaults: HeaderMap,
    headers: HeaderMap,
    protocols: Vec<String>,
    connect_timeout: Option<Duration>,
    handshake_timeout: Option<Duration>,
    max_message_size: usize,
    max_frame_size: usize,
    deflate: WsDeflate,
    #[cfg(feature = "tls")]
    tls: Option<asyncio::tls::ClientContext>,
    /// The client it came from ([`Client::websocket`]): its cookie jar
    /// and proxies apply.
    client: Option<Client>,
    error: Option<Error>,
}

impl std::fmt::Debug for WebSocketBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketBuilder")
            .field("url", &self.url.as_ref().map(url::Url::as_str))
            .field("headers", &self.headers)
            .field("protocols", &self.protocols)
            .field("connect_timeout", &self.connect_timeout)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl WebSocketBuilder {
    /// A WebSocket to `url` (`ws://`, `wss://`; `http://` and `https://`
    /// mean the same), with [`connect`]'s defaults. An invalid URL fails
    /// [`connect`](WebSocketBuilder::connect) with [`Error::InvalidUrl`].
    pub fn new(url: &str) -> WebSocketBuilder {
        WebSocketBuilder::with_url(ws_url(url, None))
    }

    fn with_url(url: Result<url::Url, Error>) -> WebSocketBuilder {
        let mut defaults = HeaderMap::new();
        defaults.insert(
            header::USER_AGENT,
            HeaderValue::from_static(concat!("asyncio-http/", env!("CARGO_PKG_VERSION"))),
        );
        WebSocketBuilder {
            url,
            defaults,
            headers: HeaderMap::new(),
            protocols: Vec::new(),
            connect_timeout: Some(DEFAULT_TIMEOUT),
            handshake_timeout: Some(DEFAULT_TIMEOUT),
            max_message_size: DEFAULT_MAX_SIZE,
            max_frame_size: DEFAULT_MAX_SIZE,
            deflate: WsDeflate::default(),
            #[cfg(feature = "tls")]
            tls: None,
            client: None,
            error: None,
        }
    }

    /// Adds a header to the handshake's request (several of the same name
    /// are all sent): `Authorization`, `Origin`, a cookie, … It replaces a
    /// client's default header of that name, and may replace `Host`. An
    /// invalid name or value fails [`connect`](WebSocketBuilder::connect)
    /// with [`Error::InvalidRequest`].
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match header_pair(name, value) {
            Ok((name, value)) => {
                self.headers.append(name, value);
            }
            Err(e) => self.error = self.error.or(Some(e)),
        }
        self
    }

    /// The subprotocols to offer (`Sec-WebSocket-Protocol`, aiohttp's
    /// `protocols=`), in order of preference; the server must choose one
    /// of them. [`WebSocket::protocol`] tells which.
    pub fn protocols<I, P>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// The TLS context for `wss://` (by default the system's roots): to
    /// trust a private CA, present a client certificate, … Whatever ALPN
    /// protocols it offers, only `http/1.1` is offered on a WebSocket's
    /// connection (the upgrade is HTTP/1.1's).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, ctx: asyncio::tls::ClientContext) -> Self {
        self.tls = Some(ctx);
        self
    }

    /// How long resolving, connecting (with a proxy's `CONNECT` exchange)
    /// and the TLS handshake may take together (5 s; `None`: no limit);
    /// past it, [`Error::Timeout`] with [`TimeoutKind::Connect`].
    pub fn connect_timeout(mut self, limit: Option<Duration>) -> Self {
        self.connect_timeout = limit;
        self
    }

    /// How long the WebSocket handshake may take once connected (5 s;
    /// `None`: no limit); past it, [`Error::Timeout`] with
    /// [`TimeoutKind::Read`].
    pub fn handshake_timeout(mut self, limit: Option<Duration>) -> Self {
        self.handshake_timeout = limit;
        self
    }

    /// The largest message received (16 MiB, as the server's default); a
    /// larger one fails [`WebSocket::recv`] and closes the WebSocket with
    /// code 1009.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// The largest frame received (16 MiB); as
    /// [`max_message_size`](WebSocketBuilder::max_message_size).
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Per-message deflate (RFC 7692): offered with these settings, used
    /// if the server accepts (the default offer asks for 2^12-byte windows
    /// each way); [`WsDeflate::disabled`] offers nothing. An answer the
    /// offer did not allow fails the handshake.
    pub fn deflate(mut self, deflate: WsDeflate) -> Self {
        self.deflate = deflate;
        self
    }

    /// Opens the WebSocket: resolves, connects, runs TLS for `wss://`, then
    /// the handshake.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`], [`Error::InvalidRequest`] (a bad header or
    /// subprotocol), [`Error::Dns`], [`Error::Connect`], [`Error::Proxy`], [`Error::Tls`],
    /// [`Error::Timeout`], [`Error::Closed`] (the server hung up during the
    /// handshake), [`Error::WebSocketHandshake`] (it answered without
    /// switching protocols, or with a broken `101`).
    ///
    /// # Cancel safety
    /// Dropping the future abandons the connection (its socket is closed);
    /// nothing is left behind.
    pub async fn connect(self) -> Result<WebSocket, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let url = self.url?;
        let mut request = handshake_request(&url, &self.defaults, &self.headers, &self.protocols)?;
        // A user's own Sec-WebSocket-Extensions header is theirs to honour:
        // no offer of ours then.
        let deflate = if request.headers().contains_key(SEC_WEBSOCKET_EXTENSIONS) {
            WsDeflate::disabled()
        } else {
            self.deflate.clone()
        };
        if let Some(offer) = crate::ws::client_offer(&deflate) {
            let offer = HeaderValue::from_str(&offer).expect("an offer is a valid header value");
            request.headers_mut().insert(SEC_WEBSOCKET_EXTENSIONS, offer);
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(Error::InvalidUrl(format!("{url}: no host"))),
        };
        let port = url
            .port_or_known_default()
            .ok_or_else(|| Error::InvalidUrl(format!("{url}: no port")))?;
        let secure = url.scheme() == "wss";
        // The URL as the client's jar and proxies see it (`ws` is `http`,
        // `wss` is `https`).
        let mut http_url = url.clone();
        let _ = http_url.set_scheme(if secure { "https" } else { "http" });
        let mut proxy = None;
        if let Some(client) = &self.client {
            proxy = client.inner.proxies.for_url(&http_url)?.cloned();
            // The jar's cookies replace a default `Cookie` header, not the
            // builder's own (as for the client's requests).
            if !self.headers.contains_key(header::COOKIE) {
                if let Some(cookie) = client.jar_cookie(&http_url) {
                    request.headers_mut().insert(header::COOKIE, cookie);
                }
            }
        }
        #[cfg(feature = "tls")]
        let tls = self.tls;
        #[cfg(not(feature = "tls"))]
        let tls = None;
        let transport = within(
            self.connect_timeout,
            TimeoutKind::Connect,
            open(&host, port, secure, tls, proxy.as_ref()),
        )
        .await?;
        let config = WebSocketConfig::default()
            .read_buffer_size(crate::ws::READ_BUFFER)
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_frame_size));
        let handshake = async {
            async_tungstenite::client_async_with_config(request, WsIo::client(transport), Some(config))
                .await
                .map_err(|e| handshake_error(&url, e))
        };
        let (mut inner, response) = within(self.handshake_timeout, TimeoutKind::Read, handshake).await?;
        if let Some(client) = &self.client {
            client.store_cookie_headers(response.headers(), &http_url);
        }
        let answer = response.headers().get_all(SEC_WEBSOCKET_EXTENSIONS);
        let agreed = if deflate.is_enabled() {
            crate::ws::client_accept(&deflate, answer.iter().map(HeaderValue::as_bytes)).map_err(|reason| {
                Error::WebSocketHandshake {
                    url: url.to_string(),
                    status: Some(http::StatusCode::SWITCHING_PROTOCOLS),
                    reason,
                }
            })?
        } else {
            None
        };
        inner
            .get_mut()
            .handshake_done(agreed, self.max_message_size, self.max_frame_size);
        let protocol = response
            .headers()
            .get(SEC_WEBSOCKET_PROTOCOL)
            .and_then(|p| p.to_str().ok())
            .map(|p| p.trim().to_owned());
        Ok(WebSocket::client(inner, protocol))
    }
}

/// The handshake's request, as tungstenite wants it: a `ws`/`wss` URI and
/// the five headers of the upgrade (`Host`, `Connection`, `Upgrade`,
/// `Sec-WebSocket-Version`, `Sec-WebSocket-Key`) once each; then a
/// client's `defaults` under the builder's own `headers`.
fn handshake_request(
    url: &url::Url,
    defaults: &HeaderMap,
    headers: &HeaderMap,
    protocols: &[String],
) -> Result<http::Request<()>, Error> {
    let mut bare = url.clone();
    let _ = bare.set_username("");
    let _ = bare.set_password(None);
    let mut request = http::Request::builder()
        .uri(bare.as_str())
        .body(())
        .map_err(|e| Error::InvalidUrl(format!("{url}: {e}")))?;
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        (None, _) => return Err(Error::InvalidUrl(format!("{url}: no host"))),
    };
    let invalid_url = |_| Error::InvalidUrl(url.to_string());
    let h = request.headers_mut();
    h.insert(HOST, HeaderValue::from_str(&host).map_err(invalid_url)?);
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
    let key = tungstenite::handshake::client::generate_key();
    h.insert(
        SEC_WEBSOCKET_KEY,
        HeaderValue::from_str(&key).expect("base64 is a valid header value"),
    );
    if !protocols.is_empty() {
        let offered = HeaderValue::from_str(&protocols.join(", "))
            .map_err(|_| Error::InvalidRequest(format!("invalid subprotocols {:?}", protocols)))?;
        h.insert(SEC_WEBSOCKET_PROTOCOL, offered);
    }
    if !url.username().is_empty() {
        let decode = |s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
        let credentials = format!(
            "{}:{}",
            decode(url.username()),
            url.password().map(decode).unwrap_or_default()
        );
        let basic = base64::engine::general_purpose::STANDARD.encode(credentials);
        let mut value = HeaderValue::from_str(&format!("Basic {basic}")).map_err(invalid_url)?;
        value.set_sensitive(true);
        h.insert(header::AUTHORIZATION, value);
    }
    for (name, value) in defaults {
        if !headers.contains_key(name) && !h.contains_key(name) {
            h.append(name, value.clone());
        }
    }
    for name in headers.keys() {
        // The builder's own replace what is above, one name at a time
        // (tungstenite refuses an upgrade header given twice).
        h.remove(name);
    }
    for (name, value) in headers {
        h.append(name, value.clone());
    }
    Ok(request)
}

impl Client {
    /// A WebSocket to `url` (aiohttp's `session.ws_connect(url)`) that
    /// shares this client's TLS context, default headers, connect timeout
    /// and (for the handshake) read timeout; a relative `url` is joined to
    /// the base URL, whose `http`/`https` become `ws`/`wss`. The client's
    /// cookie jar, if it has one, gives the handshake its cookies and keeps
    /// those its answer sets; its proxy (an HTTP proxy, given or from the
    /// environment when [`trust_env`](super::ClientBuilder::trust_env) is
    /// on, `no_proxy` applying) carries the connection through a `CONNECT`
    /// tunnel, for `ws://` as for `wss://` (a proxy that allows `CONNECT`
    /// to port 443 only refuses `ws://` on port 80: [`Error::Proxy`]).
    /// Opened with [`WebSocketBuilder::connect`];
    /// it is not one of the pool's connections and does not count against
    /// its limits.
    pub fn websocket(&self, url: &str) -> WebSocketBuilder {
        let mut builder = WebSocketBuilder::with_url(ws_url(url, self.inner.base_url.as_ref()));
        builder.defaults = self.inner.headers.clone();
        builder.defaults.remove(header::ACCEPT);
        builder.connect_timeout = self.inner.timeouts.connect;
        builder.handshake_timeout = self.inner.timeouts.read;
        #[cfg(feature = "tls")]
        {
            builder.tls = self.inner.tls.borrow().clone();
        }
        builder.client = Some(self.clone());
        builder
    }
}

/// `text` (absolute, or joined to `base`) as a `ws` or `wss` URL, without
/// its fragment.
fn ws_url(text: &str, base: Option<&url::Url>) -> Result<url::Url, Error> {
    let mut url = match (base, url::Url::parse(text)) {
        (_, Ok(url)) => url,
        (Some(base), Err(url::ParseError::RelativeUrlWithoutBase)) => base
            .join(text.trim_start_matches('/'))
            .map_err(|e| Error::InvalidUrl(format!("{text:?}: {e}")))?,
        (_, Err(e)) => return Err(Error::InvalidUrl(format!("{text:?}: {e}"))),
    };
    let scheme = match url.scheme() {
        "ws" | "http" => "ws",
        "wss" | "https" => "wss",
        other => {
            return Err(Error::InvalidUrl(format!(
                "{url}: the scheme must be ws or wss (or http, https), not {other:?}"
            )))
        }
    };
    if url.scheme() != scheme && url.set_scheme(scheme).is_err() {
        return Err(Error::InvalidUrl(format!("{url}: not usable as a {scheme} URL")));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::InvalidUrl(format!("{url}: no host")));
    }
    url.set_fragment(None);
    Ok(url)
}

/// `fut`, failing with [`Error::Timeout`] of `kind` after `limit`.
async fn within<T>(
    limit: Option<Duration>,
    kind: TimeoutKind,
    fut: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match limit {
        Some(limit) => asyncio::timeout(limit, fut).await.map_err(|_| Error::Timeout(kind))?,
        None => fut.await,
    }
}

/// Resolves `host` (or the proxy), connects (happy eyeballs, as the HTTP
/// client), opens a `CONNECT` tunnel through the proxy if there is one,
/// and runs TLS when `secure`.
async fn open(
    host: &str,
    port: u16,
    secure: bool,
    #[cfg_attr(not(feature = "tls"), allow(unused_variables))] tls: Option<TlsContext>,
    proxy: Option<&super::proxy::ProxyServer>,
) -> Result<Transport, Error> {
    let target = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let transport = super::dial(host, port, &target, proxy, true).await?;
    if !secure {
        return Ok(transport);
    }
    #[cfg(feature = "tls")]
    {
        let tls_error = |source| Error::Tls {
            target: target.clone(),
            source,
        };
        let ctx = match tls {
            Some(ctx) => http1_only(ctx),
            None => default_tls().map_err(tls_error)?,
        };
        transport.connect_tls(&ctx, host).await.map_err(tls_error)
    }
    #[cfg(not(feature = "tls"))]
    Err(Error::TlsUnavailable)
}

#[cfg(feature = "tls")]
type TlsContext = asyncio::tls::ClientContext;
/// Without TLS, nothing (`open` is given `None`).
#[cfg(not(feature = "tls"))]
type TlsContext = std::convert::Infallible;

/// The context for `wss://` when none is given: the system's roots,
/// `http/1.1` by ALPN; built once per process.
#[cfg(feature = "tls")]
fn default_tls() -> Result<asyncio::tls::ClientContext, asyncio::tls::TlsError> {
    static DEFAULT: std::sync::OnceLock<asyncio::tls::ClientContext> = std::sync::OnceLock::new();
    if let Some(ctx) = DEFAULT.get() {
        return Ok(ctx.clone());
    }
    let ctx = asyncio::tls::ClientContext::builder().alpn(["http/1.1"]).build()?;
    Ok(DEFAULT.get_or_init(|| ctx).clone())
}

/// `ctx`, offering only `http/1.1` by ALPN if it offers anything else
/// (`h2` would take the connection away from the upgrade). The copy has
/// asyncio's default TLS handshake timeout; the connect timeout bounds
/// the handshake in any case.
#[cfg(feature = "tls")]
fn http1_only(ctx: asyncio::tls::ClientContext) -> asyncio::tls::ClientContext {
    const HTTP1: &[u8] = b"http/1.1";
    let config = ctx.rustls_config();
    if config.alpn_protocols.iter().all(|p| p == HTTP1) {
        return ctx;
    }
    let mut config = (*config).clone();
    config.alpn_protocols = vec![HTTP1.to_vec()];
    asyncio::tls::ClientContext::from_rustls(std::sync::Arc::new(config))
}

/// What a failed handshake means for the caller.
fn handshake_error(url: &url::Url, e: WsError) -> Error {
    let failed = |status, reason: String| Error::WebSocketHandshake {
        url: url.to_string(),
        status,
        reason,
    };
    match e {
        WsError::Http(response) => failed(
            Some(response.status()),
            "the server did not switch to the WebSocket protocol".to_owned(),
        ),
        WsError::Io(e) => Error::Closed(format!("during the WebSocket handshake: {e}")),
        WsError::Protocol(ProtocolError::HandshakeIncomplete) => {
            Error::Closed("the server closed the connection during the WebSocket handshake".to_owned())
        }
        WsError::Protocol(
            p @ (ProtocolError::MissingUpgradeWebSocketHeader
            | ProtocolError::MissingConnectionUpgradeHeader
            | ProtocolError::SecWebSocketAcceptKeyMismatch
            | ProtocolError::SecWebSocketSubProtocolError(_)),
        ) => failed(Some(http::StatusCode::SWITCHING_PROTOCOLS), p.to_string()),
        WsError::Url(e) => Error::InvalidUrl(format!("{url}: {e}")),
        // An answer that is not HTTP, a head too large, …
        e => failed(None, e.to_string()),
    }
}
