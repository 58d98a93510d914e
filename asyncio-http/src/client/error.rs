//! The client's one error type: a variant per failure a caller can act on
//! (httpx's exception classes, as values).

use std::fmt;
use std::io;

use http::StatusCode;

/// Which phase of a request ran out of time (httpx's `ConnectTimeout`,
/// `ReadTimeout`, `WriteTimeout`, `PoolTimeout`, and the whole request's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// Opening the connection: resolving, connecting, the TLS handshake.
    Connect,
    /// Waiting for the response's head, or for the next part of its body.
    Read,
    /// Sending the request while the server does not take it.
    Write,
    /// Waiting for a free connection of the pool.
    Pool,
    /// The request as a whole (`Timeouts::total`).
    Total,
}

/// Why a request failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The URL cannot be used: not a URL, a scheme other than `http` and
    /// `https`, no host.
    InvalidUrl(String),
    /// The request cannot be built: a header name or value that HTTP does
    /// not allow, a body that does not serialize.
    InvalidRequest(String),
    /// The host name did not resolve.
    Dns {
        /// The name looked up.
        host: String,
        /// The resolver's error.
        source: io::Error,
    },
    /// No connection could be opened to any of the host's addresses
    /// (refused, unreachable).
    Connect {
        /// `host:port`.
        target: String,
        /// The last attempt's error.
        source: io::Error,
    },
    /// The TLS handshake failed: an untrusted or mismatched certificate, a
    /// server that does not speak TLS, … (feature `tls`).
    #[cfg(feature = "tls")]
    Tls {
        /// `host:port`.
        target: String,
        /// asyncio's TLS error.
        source: asyncio::tls::TlsError,
    },
    /// The proxy refused the tunnel (its status is in the message) or did
    /// not answer in HTTP.
    Proxy(String),
    /// `https://` without the `tls` feature.
    #[cfg(not(feature = "tls"))]
    TlsUnavailable,
    /// A phase ran out of time.
    Timeout(TimeoutKind),
    /// More redirects than the policy allows.
    TooManyRedirects {
        /// How many were followed.
        followed: usize,
        /// Where the last one pointed.
        location: String,
    },
    /// The response's body is larger than the client's maximum.
    BodyTooLarge {
        /// The maximum, in bytes.
        limit: u64,
    },
    /// The server closed the connection before the response was complete
    /// (mid-head or mid-body).
    Closed(String),
    /// The response is not valid HTTP (hyper's parse error).
    Protocol(hyper::Error),
    /// The request's body stream failed while it was being sent.
    Body(io::Error),
    /// `error_for_status` on a 4xx or 5xx response.
    Status {
        /// The status.
        status: StatusCode,
        /// The request's URL.
        url: String,
    },
    /// The response body is not the JSON the caller asked for.
    Json(serde_json::Error),
    /// The response body is not text in its declared charset.
    Decode(String),
    /// The server did not complete a WebSocket handshake
    /// ([`client::ws`](crate::client::ws)): it answered with a status
    /// other than `101 Switching Protocols` (a page, `404`, `400`, …), or
    /// with a `101` that breaks the protocol (no `Upgrade: websocket`, a
    /// wrong `Sec-WebSocket-Accept`, a subprotocol that was not offered or
    /// none of those that were), or with no HTTP response at all.
    WebSocketHandshake {
        /// The WebSocket's URL.
        url: String,
        /// The response's status, if one was read.
        status: Option<StatusCode>,
        /// What was wrong.
        reason: String,
    },
}

impl Error {
    /// Whether this is a timeout (of any phase).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout(_))
    }

    /// Whether the request may never have reached a server (resolving,
    /// connecting, TLS, the pool's wait): safe to retry for any method.
    pub fn is_connect(&self) -> bool {
        match self {
            Error::Dns { .. } | Error::Connect { .. } | Error::Timeout(TimeoutKind::Connect | TimeoutKind::Pool) => {
                true
            }
            #[cfg(feature = "tls")]
            Error::Tls { .. } => true,
            _ => false,
        }
    }

    /// The status of an [`Error::Status`], or of the response that refused
    /// an [`Error::WebSocketHandshake`].
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Status { status, .. } => Some(*status),
            Error::WebSocketHandshake { status, .. } => *status,
            _ => None,
        }
    }

    /// Maps hyper's error on an established connection.
    pub(crate) fn from_hyper(e: hyper::Error) -> Error {
        if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() {
            return Error::Protocol(e);
        }
        if e.is_timeout() {
            return Error::Timeout(TimeoutKind::Read);
        }
        if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
            return Error::Closed(e.to_string());
        }
        if e.is_body_write_aborted() || e.is_user() {
            if let Some(io) = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<io::Error>()) {
                return Error::Body(io::Error::new(io.kind(), io.to_string()));
            }
        }
        // HTTP/2: the server is closing the connection (GOAWAY) or reset the
        // stream it had not started (REFUSED_STREAM).
        let refused = h2_cause(&e).is_some_and(|h2| h2.is_remote() && h2.reason() == Some(h2::Reason::REFUSED_STREAM));
        if going_away(&e) || refused {
            return Error::Closed(e.to_string());
        }
        // A socket error mid-exchange: the connection is gone.
        if std::error::Error::source(&e).is_some_and(|s| s.is::<io::Error>()) {
            return Error::Closed(e.to_string());
        }
        Error::Protocol(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidUrl(why) => write!(f, "invalid URL: {why}"),
            Error::InvalidRequest(why) => write!(f, "invalid request: {why}"),
            Error::Dns { host, source } => write!(f, "could not resolve {host}: {source}"),
            Error::Connect { target, source } => write!(f, "could not connect to {target}: {source}"),
            Error::Proxy(why) => write!(f, "proxy: {why}"),
            #[cfg(feature = "tls")]
            Error::Tls { target, source } => write!(f, "TLS with {target} failed: {source}"),
            #[cfg(not(feature = "tls"))]
            Error::TlsUnavailable => f.write_str("https:// needs asyncio-http's `tls` feature"),
            Error::Timeout(kind) => {
                let phase = match kind {
                    TimeoutKind::Connect => "connecting",
                    TimeoutKind::Read => "reading the response",
                    TimeoutKind::Write => "sending the request",
                    TimeoutKind::Pool => "waiting for a pooled connection",
                    TimeoutKind::Total => "the request as a whole",
                };
                write!(f, "timed out {phase}")
            }
            Error::TooManyRedirects { followed, location } => {
                write!(f, "too many redirects ({followed} followed; the next to {location})")
            }
            Error::BodyTooLarge { limit } => write!(f, "the response body is larger than {limit} bytes"),
            Error::Closed(why) => write!(
                f,
                "the server closed the connection before the response was complete: {why}"
            ),
            Error::Protocol(e) => write!(f, "malformed response: {e}"),
            Error::Body(e) => write!(f, "the request body failed: {e}"),
            Error::Status { status, url } => write!(f, "{status} from {url}"),
            Error::Json(e) => write!(f, "the response is not the expected JSON: {e}"),
            Error::Decode(why) => write!(f, "the response text does not decode: {why}"),
            Error::WebSocketHandshake { url, status, reason } => match status {
                Some(status) => write!(f, "WebSocket handshake with {url} failed: {status}: {reason}"),
                None => write!(f, "WebSocket handshake with {url} failed: {reason}"),
            },
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Dns { source, .. } | Error::Connect { source, .. } | Error::Body(source) => Some(source),
            #[cfg(feature = "tls")]
            Error::Tls { source, .. } => Some(source),
            Error::Protocol(e) => Some(e),
            Error::Json(e) => Some(e),
            _ => None,
        }
    }
}

/// hyper's error's HTTP/2 cause, if it has one.
pub(crate) fn h2_cause(e: &hyper::Error) -> Option<&h2::Error> {
    std::error::Error::source(e)?.downcast_ref::<h2::Error>()
}

/// Whether hyper's error is a stream the server turned away with a
/// graceful `GOAWAY` (RFC 9113, section 6.8: not processed).
pub(crate) fn going_away(e: &hyper::Error) -> bool {
    h2_cause(e).is_some_and(|h2| h2.is_go_away() && h2.is_remote() && h2.reason() == Some(h2::Reason::NO_ERROR))
}
