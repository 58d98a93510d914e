//! Responses: [`Response`], and [`IntoResponse`] for what handlers return.

use std::fmt;

use bytes::Bytes;
use http::header::{HeaderValue, CONNECTION, CONTENT_TYPE};
use http::StatusCode;

use crate::body::{Body, BodyError};

/// An HTTP response with this crate's [`Body`].
pub type Response = http::Response<Body>;

/// What a handler may return: anything that becomes a [`Response`].
///
/// Strings become `200 text/plain; charset=utf-8`, [`Html`] becomes
/// `text/html`, a [`StatusCode`] becomes an empty response with that
/// status, `(StatusCode, body)` sets both, and `Result<T, E>` answers with
/// whichever side it holds, so handlers can use `?` on [`BodyError`] and
/// [`HttpError`].
///
/// ```
/// use asyncio_http::{HttpError, IntoResponse, Request};
/// use http::StatusCode;
///
/// async fn lookup(req: Request) -> Result<String, HttpError> {
///     let id: u32 = req.param("id").and_then(|s| s.parse().ok())
///         .ok_or(HttpError::new(StatusCode::BAD_REQUEST, "id must be a number"))?;
///     Ok(format!("user {id}"))
/// }
/// assert_eq!((StatusCode::CREATED, "made").into_response().status(), 201);
/// ```
pub trait IntoResponse {
    /// The response.
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl IntoResponse for Body {
    fn into_response(self) -> Response {
        http::Response::new(self)
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        let mut r = http::Response::new(Body::empty());
        *r.status_mut() = self;
        r
    }
}

impl IntoResponse for () {
    fn into_response(self) -> Response {
        StatusCode::OK.into_response()
    }
}

fn with_type(body: Body, content_type: HeaderValue) -> Response {
    let mut r = http::Response::new(body);
    r.headers_mut().insert(CONTENT_TYPE, content_type);
    r
}

// Checked once, at compile time (`from_static` is a `const fn`).
const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");
const OCTETS: HeaderValue = HeaderValue::from_static("application/octet-stream");

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        with_type(Body::from(self), TEXT)
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        with_type(Body::from(self), TEXT)
    }
}

impl IntoResponse for Bytes {
    fn into_response(self) -> Response {
        with_type(Body::from(self), OCTETS)
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        Bytes::from(self).into_response()
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        let mut r = self.1.into_response();
        *r.status_mut() = self.0;
        r
    }
}

impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(t) => t.into_response(),
            Err(e) => e.into_response(),
        }
    }
}

/// An HTML body: `text/html; charset=utf-8`.
#[derive(Clone, Debug)]
pub struct Html<T>(pub T);

impl<T: Into<Body>> IntoResponse for Html<T> {
    fn into_response(self) -> Response {
        with_type(self.0.into(), HTML)
    }
}

/// An error answered with a status and a plain-text message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpError {
    status: StatusCode,
    message: String,
    close: bool,
}

impl HttpError {
    /// An error with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> HttpError {
        HttpError {
            status,
            message: message.into(),
            close: false,
        }
    }

    /// Also closes the connection after the response (for requests whose
    /// framing can no longer be trusted).
    pub fn closing(mut self) -> HttpError {
        self.close = true;
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

impl std::error::Error for HttpError {}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let mut body = self.message;
        body.push('\n');
        let mut r = (self.status, body).into_response();
        if self.close {
            r.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
        }
        r
    }
}

impl From<BodyError> for HttpError {
    fn from(e: BodyError) -> HttpError {
        let status = match e {
            BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Malformed(_) | BodyError::NotUtf8 => StatusCode::BAD_REQUEST,
        };
        let close = !matches!(e, BodyError::NotUtf8);
        let err = HttpError::new(status, e.to_string());
        if close {
            err.closing()
        } else {
            err
        }
    }
}

impl IntoResponse for BodyError {
    fn into_response(self) -> Response {
        HttpError::from(self).into_response()
    }
}
