//! WebSockets on the HTTP port: [`Request::websocket`] answers the upgrade
//! and runs a handler with a [`WebSocket`].
//!
//! The protocol is tungstenite's (through `async-tungstenite` on the
//! socket's `futures-io` traits): masking, fragmentation, UTF-8 checks,
//! pings answered with pongs, the close handshake, and the server's size
//! limits ([`Server::websocket_max_message`](crate::Server::websocket_max_message);
//! a larger message closes with 1009). The WebSocket runs in its
//! connection's task, a child of the worker's task group, so graceful
//! shutdown waits for it (and tells it through
//! [`WebSocket::shutdown_signal`]).
//!
//! ```
//! use asyncio_http::{Request, Response};
//! use asyncio_http::ws::{Message, WebSocket};
//!
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
//! ```
//!
//! Over HTTP/2 the same handler serves WebSockets opened by an extended
//! CONNECT (RFC 8441; the server announces `SETTINGS_ENABLE_CONNECT_PROTOCOL`,
//! and Chromium and Firefox use it when a page's connection is HTTP/2): the
//! request is routed as the GET of an HTTP/1.1 handshake, answered `200`,
//! and the WebSocket runs on its stream, beside the connection's other
//! streams, in a task of its own that graceful shutdown waits for (the
//! connection stays open while it is).
//!
//! The client side ([`client::ws`](crate::client::ws)) hands out the same
//! [`WebSocket`], so code that talks over one reads the same at both ends.
//!
//! Per-message deflate (RFC 7692) is accepted when the client offers it,
//! as browsers do ([`WsDeflate`] has the settings, on by default:
//! [`Server::websocket_deflate`](crate::Server::websocket_deflate)).

use std::fmt;
use std::future::Future;

use async_tungstenite::WebSocketStream;
use futures_core::Stream;
use http::header::{
    HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_EXTENSIONS, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{Method, StatusCode};
use tungstenite::protocol::{Role, WebSocketConfig};

use crate::request::Request;
use crate::response::{HttpError, IntoResponse, Response};
use crate::transport::Transport;
use crate::upgrade::Tunnel;
use crate::worker::ShutdownSignal;

pub use tungstenite::protocol::frame::coding::CloseCode;
pub use tungstenite::protocol::CloseFrame;
pub use tungstenite::{Error as WsError, Message};

pub use deflate::WsDeflate;

pub(crate) mod deflate;
mod io;

pub(crate) use deflate::{client_accept, client_offer, Agreed};
#[cfg(fuzzing)]
pub(crate) use deflate::{parse_extensions, server_accept};
#[cfg(fuzzing)]
pub(crate) use io::fuzz_inflate;
pub(crate) use io::WsIo;

type Io = WsIo;

/// One side of an open WebSocket: receive and send messages. A server's
/// handler is given one ([`Request::websocket`]); a client opens one with
/// [`client::ws::connect`](crate::client::ws::connect). Both ends have the
/// same messages, close codes and methods.
pub struct WebSocket {
    inner: WebSocketStream<Io>,
    shutdown: ShutdownSignal,
    protocol: Option<String>,
}

impl WebSocket {
    /// The next text, binary or close message; `None` once the WebSocket
    /// is closed. Pings are answered and pongs absorbed on the way.
    ///
    /// # Errors
    /// A protocol violation by the peer, a message over the size limit, or
    /// text that is not UTF-8: the WebSocket is then closed with the
    /// matching code (1002, 1009, 1007) before the error is returned. Or
    /// the connection failed.
    ///
    /// # Cancel safety
    /// Cancel safe: a message is only taken when it is returned.
    pub async fn recv(&mut self) -> Option<Result<Message, WsError>> {
        let next = next_message(&mut self.inner).await;
        if let Some(Ok(Message::Close(_))) = &next {
            // The peer closed: tungstenite has queued the answering close
            // frame and sends it at its next read, which then ends (a
            // server) or waits for the peer to close the connection (a
            // client). Do that read now: over HTTP/2 the write goes through
            // the stream's channel, and a handler that returns at once
            // would drop the answer unsent.
            let _ = asyncio::timeout(CLOSE_GRACE, next_message(&mut self.inner)).await;
        }
        if let Some(Err(e)) = &next {
            // Fail the WebSocket with the code the error calls for (RFC 6455
            // section 7.4.1), briefly: the peer may be gone.
            if let Some(code) = close_code_for(e) {
                let frame = close_frame(code, "");
                let _ = asyncio::timeout(CLOSE_GRACE, self.inner.close(Some(frame))).await;
            }
        }
        next
    }

    /// Sends one message.
    ///
    /// # Errors
    /// The WebSocket is closed or the connection failed.
    ///
    /// # Cancel safety
    /// Not cancel safe: a message may be partly written.
    pub async fn send(&mut self, msg: impl Into<Message>) -> Result<(), WsError> {
        self.inner.send(msg.into()).await
    }

    /// Starts the close handshake with `code` and `reason`, then waits for
    /// the peer's close (reading and dropping what it still sends), at most
    /// 3 s.
    ///
    /// # Errors
    /// The connection failed.
    ///
    /// # Cancel safety
    /// Not cancel safe: the close frame may be partly written.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), WsError> {
        already_closed_is_ok(self.inner.close(Some(close_frame(code, reason))).await)?;
        let peer_close = async {
            while let Some(r) = self.recv().await {
                match r {
                    Ok(_) => {}
                    Err(WsError::ConnectionClosed) => break,
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        };
        // A peer that never answers the close is not waited for forever.
        asyncio::timeout(PEER_CLOSE_WAIT, peer_close).await.unwrap_or(Ok(()))
    }

    /// The server's shutdown signal: when it fires, close the WebSocket
    /// (code 1001, "going away"). On a client's WebSocket it never fires.
    pub fn shutdown_signal(&self) -> ShutdownSignal {
        self.shutdown.clone()
    }

    /// Whether per-message deflate (RFC 7692) was agreed: messages are
    /// then compressed on the wire, both ways.
    pub fn is_compressed(&self) -> bool {
        self.inner.get_ref().is_compressed()
    }

    /// The subprotocol the handshake settled on (`Sec-WebSocket-Protocol`):
    /// the one the server chose from those the client offered; `None` if
    /// there was none.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// A client's WebSocket, after its handshake.
    pub(crate) fn client(inner: WebSocketStream<Io>, protocol: Option<String>) -> WebSocket {
        WebSocket {
            inner,
            shutdown: ShutdownSignal { worker: None },
            protocol,
        }
    }
}

impl WebSocket {
    /// Splits the WebSocket into a sending and a receiving half, to read in
    /// one task (or branch) while another writes. Pings are still
    /// answered by whichever half next touches the connection.
    pub fn split(self) -> (WsSender, WsReceiver) {
        let (tx, rx) = self.inner.split();
        (
            WsSender { inner: tx },
            WsReceiver {
                inner: rx,
                shutdown: self.shutdown,
            },
        )
    }
}

/// The sending half of a split [`WebSocket`].
pub struct WsSender {
    inner: async_tungstenite::WebSocketSender<Io>,
}

impl WsSender {
    /// Sends one message.
    ///
    /// # Errors
    /// The WebSocket is closed or the connection failed.
    ///
    /// # Cancel safety
    /// Not cancel safe: a message may be partly written.
    pub async fn send(&mut self, msg: impl Into<Message>) -> Result<(), WsError> {
        self.inner.send(msg.into()).await
    }

    /// Sends a close frame with `code` and `reason` (the receiving half
    /// then sees the peer's close and ends).
    ///
    /// # Errors
    /// The connection failed.
    ///
    /// # Cancel safety
    /// Not cancel safe.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), WsError> {
        already_closed_is_ok(self.inner.close(Some(close_frame(code, reason))).await)
    }
}

/// The receiving half of a split [`WebSocket`].
pub struct WsReceiver {
    inner: async_tungstenite::WebSocketReceiver<Io>,
    shutdown: ShutdownSignal,
}

impl WsReceiver {
    /// As [`WebSocket::recv`], except that a failing WebSocket is not
    /// closed with a code here (the sending half owns the writes): send
    /// the close through the [`WsSender`].
    ///
    /// # Errors
    /// As [`WebSocket::recv`].
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn recv(&mut self) -> Option<Result<Message, WsError>> {
        next_message(&mut self.inner).await
    }

    /// As [`WebSocket::shutdown_signal`].
    pub fn shutdown_signal(&self) -> ShutdownSignal {
        self.shutdown.clone()
    }
}

impl fmt::Debug for WsSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsSender").finish_non_exhaustive()
    }
}

impl fmt::Debug for WsReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsReceiver").finish_non_exhaustive()
    }
}

/// The next text, binary or close message from either kind of receiving
/// end (pings are answered by tungstenite; pongs and raw frames skipped).
async fn next_message<S>(stream: &mut S) -> Option<Result<Message, WsError>>
where
    S: Stream<Item = Result<Message, WsError>> + Unpin,
{
    loop {
        match std::future::poll_fn(|cx| std::pin::Pin::new(&mut *stream).poll_next(cx)).await {
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            other => return other,
        }
    }
}

fn close_frame(code: CloseCode, reason: &str) -> CloseFrame {
    CloseFrame {
        code,
        reason: reason.to_owned().into(),
    }
}

/// Closing a WebSocket the peer already closed is not an error.
fn already_closed_is_ok(r: Result<(), WsError>) -> Result<(), WsError> {
    match r {
        Err(WsError::ConnectionClosed) => Ok(()),
        r => r,
    }
}

/// How much tungstenite reads at a time: its default, 128 KiB, stays
/// allocated (and touched) for as long as the WebSocket is open.
pub(crate) const READ_BUFFER: usize = 16 * 1024;

/// How long [`WebSocket::close`] waits for the peer's close frame.
const PEER_CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// How long a failing WebSocket tries to send its close frame.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

fn close_code_for(e: &WsError) -> Option<CloseCode> {
    match e {
        WsError::Capacity(_) => Some(CloseCode::Size),
        WsError::Protocol(_) => Some(CloseCode::Protocol),
        WsError::Utf8(_) => Some(CloseCode::Invalid),
        WsError::Io(e) if io::is_deflate_error(e) => Some(CloseCode::Invalid),
        _ => None,
    }
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket").finish_non_exhaustive()
    }
}

impl Request {
    /// Accepts a WebSocket upgrade: answers `101 Switching Protocols` and,
    /// once it is sent, runs `handler` with the [`WebSocket`]. A request
    /// that is not a valid upgrade is answered `400` (or `426` for a
    /// protocol version other than 13) and the handler never runs.
    pub fn websocket<F, Fut>(self, handler: F) -> Response
    where
        F: FnOnce(WebSocket) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        self.websocket_with_protocol(None, handler)
    }

    /// The subprotocols the client offers (`Sec-WebSocket-Protocol`), in its
    /// order of preference.
    pub fn websocket_protocols(&self) -> Vec<&str> {
        self.headers()
            .get_all(SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect()
    }

    /// As [`websocket`](Request::websocket), selecting `protocol` (one the
    /// client offered: see [`websocket_protocols`](Request::websocket_protocols))
    /// in the `101`. A protocol the client did not offer is not sent.
    pub fn websocket_with_protocol<F, Fut>(self, protocol: Option<&str>, handler: F) -> Response
    where
        F: FnOnce(WebSocket) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let chosen = protocol
            .filter(|p| self.websocket_protocols().contains(p))
            .and_then(|p| HeaderValue::from_str(p).ok().map(|v| (p.to_owned(), v)));
        if self.version() == http::Version::HTTP_2 {
            return self.websocket_h2(chosen, handler);
        }
        let protocol = chosen.as_ref().map(|(p, _)| p.clone());
        match self.accept_websocket() {
            Ok(accept) => {
                let Some(slot) = self.upgrade.clone() else {
                    return HttpError::new(StatusCode::BAD_REQUEST, "not on a connection").into_response();
                };
                let (config, shutdown) = self.websocket_setup();
                let deflate = self.websocket_deflate();
                let agreed = deflate.as_ref().map(|(a, _)| *a);
                slot.set(Box::new(move |io: Transport| {
                    Box::pin(serve_websocket(io, config, agreed, shutdown, protocol, handler))
                }));
                let mut r = StatusCode::SWITCHING_PROTOCOLS.into_response();
                let h = r.headers_mut();
                h.insert(UPGRADE, HeaderValue::from_static("websocket"));
                h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
                h.insert(SEC_WEBSOCKET_ACCEPT, accept);
                if let Some((_, p)) = chosen {
                    h.insert(SEC_WEBSOCKET_PROTOCOL, p);
                }
                if let Some((_, ext)) = deflate {
                    h.insert(SEC_WEBSOCKET_EXTENSIONS, ext);
                }
                r
            }
            Err(e) => *e,
        }
    }

    /// True if this request asks for a WebSocket: an HTTP/1.1 upgrade, or
    /// an HTTP/2 extended CONNECT (RFC 8441).
    pub fn is_websocket(&self) -> bool {
        if self.version() == http::Version::HTTP_2 {
            return is_h2_websocket(self.extensions());
        }
        header_has_token(self, UPGRADE, "websocket")
    }

    /// The server's answer to the client's per-message deflate offers, if
    /// it accepts one: what was agreed, and the header saying so.
    fn websocket_deflate(&self) -> Option<(Agreed, HeaderValue)> {
        let worker = self.worker.as_ref()?;
        let offers = self.headers().get_all(SEC_WEBSOCKET_EXTENSIONS);
        let (agreed, answer) =
            deflate::server_accept(&worker.config.ws_deflate, offers.iter().map(HeaderValue::as_bytes))?;
        Some((agreed, HeaderValue::from_str(&answer).ok()?))
    }

    /// The server's WebSocket limits, and its shutdown signal.
    fn websocket_setup(&self) -> (WebSocketConfig, ShutdownSignal) {
        let worker = self.worker.clone();
        let config = worker.as_ref().map_or_else(WebSocketConfig::default, |w| {
            WebSocketConfig::default()
                .read_buffer_size(READ_BUFFER)
                .max_message_size(Some(w.config.ws_max_message))
                .max_frame_size(Some(w.config.ws_max_frame))
        });
        (config, ShutdownSignal { worker })
    }

    /// The HTTP/2 side of [`websocket_with_protocol`](Request::websocket_with_protocol)
    /// (RFC 8441): an extended CONNECT with `:protocol` `websocket`
    /// (routed as a GET) and version 13 is answered `200`; once hyper has
    /// sent it, the stream carries the WebSocket, counted as open on its
    /// connection (the idle timeout leaves it alone) until the handler
    /// returns.
    fn websocket_h2<F, Fut>(mut self, chosen: Option<(String, HeaderValue)>, handler: F) -> Response
    where
        F: FnOnce(WebSocket) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let bad = |msg: &str| HttpError::new(StatusCode::BAD_REQUEST, msg).into_response();
        if !self.is_websocket() {
            return bad("a WebSocket over HTTP/2 is an extended CONNECT with :protocol websocket");
        }
        if self.headers().get(SEC_WEBSOCKET_VERSION).map(HeaderValue::as_bytes) != Some(b"13") {
            let mut r = HttpError::new(StatusCode::UPGRADE_REQUIRED, "WebSocket version 13 only").into_response();
            r.headers_mut()
                .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
            return r;
        }
        let (Some(on_upgrade), Some(slot)) = (
            self.head.extensions.remove::<hyper::upgrade::OnUpgrade>(),
            self.upgrade.clone(),
        ) else {
            return bad("not on a connection");
        };
        let (config, shutdown) = self.websocket_setup();
        let deflate = self.websocket_deflate();
        let agreed = deflate.as_ref().map(|(a, _)| *a);
        let protocol = chosen.as_ref().map(|(p, _)| p.clone());
        let tunnel = Tunnel::open(slot);
        // Detached: it ends with the handler, or at once if the `200` was
        // not sent (a middleware answered otherwise, the client left).
        let _task = asyncio::create_task(async move {
            let _tunnel = tunnel;
            match on_upgrade.await {
                Ok(stream) => {
                    serve_websocket(Transport::upgraded(stream), config, agreed, shutdown, protocol, handler).await;
                }
                Err(e) => tracing::debug!("asyncio-http: HTTP/2 WebSocket not opened: {e}"),
            }
        });
        let mut r = StatusCode::OK.into_response();
        if let Some((_, p)) = chosen {
            r.headers_mut().insert(SEC_WEBSOCKET_PROTOCOL, p);
        }
        if let Some((_, ext)) = deflate {
            r.headers_mut().insert(SEC_WEBSOCKET_EXTENSIONS, ext);
        }
        r
    }

    pub(crate) fn accept_websocket(&self) -> Result<HeaderValue, Box<Response>> {
        let bad = |msg: &str| Box::new(HttpError::new(StatusCode::BAD_REQUEST, msg).into_response());
        if self.method() != Method::GET || self.version() != http::Version::HTTP_11 {
            return Err(bad("a WebSocket upgrade must be an HTTP/1.1 GET"));
        }
        if !self.is_websocket() || !header_has_token(self, CONNECTION, "upgrade") {
            return Err(bad("expected Upgrade: websocket and Connection: Upgrade"));
        }
        if self.headers().get(SEC_WEBSOCKET_VERSION).map(HeaderValue::as_bytes) != Some(b"13") {
            let mut r = HttpError::new(StatusCode::UPGRADE_REQUIRED, "WebSocket version 13 only").into_response();
            r.headers_mut()
                .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
            return Err(Box::new(r));
        }
        let Some(key) = self.headers().get(SEC_WEBSOCKET_KEY) else {
            return Err(bad("missing Sec-WebSocket-Key"));
        };
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        HeaderValue::from_str(&accept).map_err(|_| bad("bad Sec-WebSocket-Key"))
    }
}

/// Runs `handler` on the server side of a WebSocket over `io`, with
/// per-message deflate if it was `agreed`.
async fn serve_websocket<F, Fut>(
    io: Transport,
    config: WebSocketConfig,
    agreed: Option<Agreed>,
    shutdown: ShutdownSignal,
    protocol: Option<String>,
    handler: F,
) where
    F: FnOnce(WebSocket) -> Fut,
    Fut: Future<Output = ()>,
{
    let io = match agreed {
        Some(agreed) => WsIo::server_deflate(
            io,
            agreed,
            config.max_message_size.unwrap_or(usize::MAX),
            config.max_frame_size.unwrap_or(usize::MAX),
        ),
        None => WsIo::plain(io),
    };
    let inner = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
    handler(WebSocket {
        inner,
        shutdown,
        protocol,
    })
    .await;
}

/// Whether an HTTP/2 request is an extended CONNECT for a WebSocket
/// (its `:protocol` pseudo-header, which hyper keeps in the extensions).
pub(crate) fn is_h2_websocket(extensions: &http::Extensions) -> bool {
    extensions
        .get::<hyper::ext::Protocol>()
        .is_some_and(|p| p.as_str().eq_ignore_ascii_case("websocket"))
}

fn header_has_token(req: &Request, name: http::HeaderName, token: &str) -> bool {
    req.headers()
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}
