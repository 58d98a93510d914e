//! [`Request`]: what a handler receives.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;

use bytes::Bytes;
use http::{HeaderMap, Method, Uri, Version};

use crate::body::{BodyError, RequestBody};
use crate::conn::ConnState;
use crate::server::{ShutdownSignal, Worker};

pub(crate) type LocalFuture = Pin<Box<dyn Future<Output = ()>>>;

/// An HTTP request: its head, its streaming body, the path parameters the
/// router matched, and a way to schedule work after the response.
pub struct Request {
    pub(crate) head: http::request::Parts,
    pub(crate) body: RequestBody,
    pub(crate) params: Vec<(String, String)>,
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) background: Background,
    pub(crate) worker: Option<Rc<Worker>>,
    pub(crate) conn: Option<Rc<ConnState>>,
}

impl Request {
    /// A request not received from a connection (for testing handlers
    /// directly). Background work added to it is dropped.
    pub fn new(head: http::request::Parts, body: RequestBody) -> Request {
        Request {
            head,
            body,
            params: Vec::new(),
            peer: None,
            background: Background::default(),
            worker: None,
            conn: None,
        }
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.head.method
    }

    /// The target URI (for HTTP/1.1 usually path and query only).
    pub fn uri(&self) -> &Uri {
        &self.head.uri
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.head.uri.path()
    }

    /// The raw query string (after `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.head.uri.query()
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.head.version
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.head.headers
    }

    /// One header's value as text, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A path parameter matched by the router (`{id}` in `/users/{id}`).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every path parameter, in route order.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The client's address.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Request extensions (typed values attached by the server or tests).
    pub fn extensions(&self) -> &http::Extensions {
        &self.head.extensions
    }

    /// The body, to read chunk by chunk.
    pub fn body_mut(&mut self) -> &mut RequestBody {
        &mut self.body
    }

    /// Takes the body out (to move it into a streamed response, say).
    pub fn take_body(&mut self) -> RequestBody {
        std::mem::replace(&mut self.body, RequestBody::empty())
    }

    /// The whole body.
    ///
    /// # Errors
    /// [`BodyError::TooLarge`] past the server's limit, or
    /// [`BodyError::Malformed`].
    ///
    /// # Cancel safety
    /// Not cancel safe: what was read is lost.
    pub async fn bytes(&mut self) -> Result<Bytes, BodyError> {
        self.take_body().bytes().await
    }

    /// The whole body as UTF-8 text.
    ///
    /// # Errors
    /// As [`bytes`](Request::bytes), and [`BodyError::NotUtf8`].
    ///
    /// # Cancel safety
    /// Not cancel safe: what was read is lost.
    pub async fn text(&mut self) -> Result<String, BodyError> {
        let b = self.bytes().await?;
        String::from_utf8(b.to_vec()).map_err(|_| BodyError::NotUtf8)
    }

    /// Work to run after the response has been sent (Starlette's
    /// `BackgroundTasks`). It belongs to the server's task group: graceful
    /// shutdown waits for it.
    pub fn background(&self) -> &Background {
        &self.background
    }

    /// The server's shutdown signal: long-lived handlers (streams, event
    /// sources) wait on it to wrap up when a graceful shutdown begins.
    pub fn shutdown_signal(&self) -> ShutdownSignal {
        ShutdownSignal {
            worker: self.worker.clone(),
        }
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.head.method)
            .field("uri", &self.head.uri)
            .field("version", &self.head.version)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

/// Work scheduled by a handler to run once its response is sent.
///
/// ```
/// use asyncio_http::{Request, Response, IntoResponse};
///
/// async fn signup(req: Request) -> Response {
///     req.background().add(async {
///         // send the welcome e-mail after the client has its answer
///     });
///     "welcome".into_response()
/// }
/// ```
#[derive(Clone, Default)]
pub struct Background {
    pub(crate) jobs: Rc<RefCell<Vec<LocalFuture>>>,
}

impl Background {
    /// Queues `job`; it starts after the response's last byte is handed to
    /// the connection (or the client went away), as a task of the
    /// server's task group. A panic in it is reported, and nothing else
    /// is affected.
    pub fn add(&self, job: impl Future<Output = ()> + 'static) {
        self.jobs.borrow_mut().push(Box::pin(job));
    }

    /// How many jobs are queued.
    pub fn len(&self) -> usize {
        self.jobs.borrow().len()
    }

    /// True when none are queued.
    pub fn is_empty(&self) -> bool {
        self.jobs.borrow().is_empty()
    }

    pub(crate) fn take(&self) -> Vec<LocalFuture> {
        std::mem::take(&mut *self.jobs.borrow_mut())
    }
}

impl fmt::Debug for Background {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Background").field("jobs", &self.len()).finish()
    }
}
