//! [`Timeout`]: a deadline on each request's handler.

use std::time::Duration;

use http::StatusCode;

use super::{Middleware, Next};
use crate::handler::HandlerFuture;
use crate::request::Request;
use crate::response::{HttpError, IntoResponse};

/// Cancels a handler that has not answered within a time, and answers
/// `503 Service Unavailable` in its place (or the status set with
/// [`status`](Timeout::status)). The handler is cancelled as every
/// cancellation here: its future is dropped at its current `await`, its
/// destructors run, its background jobs never start.
///
/// The deadline covers the handler and the layers inside this one, up to
/// the response's head; a streamed body is not timed (the server's own
/// timeouts watch a client that stops reading).
///
/// ```
/// use std::time::Duration;
/// use asyncio_http::middleware::Timeout;
/// use asyncio_http::Router;
///
/// async fn slow() -> &'static str { "done" }
/// let app = Router::new().get("/", slow).layer(Timeout::new(Duration::from_secs(10)));
/// # drop(app);
/// ```
#[derive(Clone, Debug)]
pub struct Timeout {
    after: Duration,
    status: StatusCode,
}

impl Timeout {
    /// A deadline `after` each request's start.
    pub fn new(after: Duration) -> Timeout {
        Timeout {
            after,
            status: StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The status answered when the deadline passes (`503` by default;
    /// `504` suits a handler that waits on another service).
    pub fn status(mut self, status: StatusCode) -> Timeout {
        self.status = status;
        self
    }
}

impl Middleware for Timeout {
    fn call(&self, req: Request, next: Next) -> HandlerFuture {
        let (after, status) = (self.after, self.status);
        let fut = next.run(req);
        HandlerFuture::new(async move {
            match asyncio::timeout(after, fut).await {
                Ok(response) => response,
                Err(_) => HttpError::new(status, "the request timed out").into_response(),
            }
        })
    }
}
