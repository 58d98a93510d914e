//! Middleware: code that runs around handlers — before (and instead of,
//! when it answers itself), and after, with the response in hand.
//!
//! A middleware is an async function of the request and [`Next`], the rest
//! of the chain; Starlette's `@app.middleware("http")` and axum's
//! `from_fn`:
//!
//! ```
//! use asyncio_http::middleware::Next;
//! use asyncio_http::{IntoResponse, Request, Response, Router, StatusCode};
//!
//! async fn require_key(req: Request, next: Next) -> Response {
//!     if req.header("x-api-key") != Some("secret") {
//!         return StatusCode::UNAUTHORIZED.into_response(); // short-circuit
//!     }
//!     let mut resp = next.run(req).await;
//!     resp.headers_mut().insert("x-checked", "yes".parse().unwrap());
//!     resp
//! }
//!
//! async fn hello() -> &'static str { "hello" }
//!
//! let app = Router::new().get("/", hello).layer(require_key);
//! # drop(app);
//! ```
//!
//! [`Router::layer`](crate::Router::layer) wraps the whole router (its
//! `404` and `405` answers too: a CORS preflight must reach the CORS layer
//! whatever the routes are); [`Router::route_layer`](crate::Router::route_layer)
//! wraps only the routes added so far, so one layer can guard some routes
//! and not others; a router [`nest`](crate::Router::nest)ed or
//! [`merge`](crate::Router::merge)d into another keeps its own layers on its
//! own routes. The first layer added is the innermost.
//!
//! Built in: [`Cors`], [`AccessLog`] (request ids and one `tracing` event
//! per request), [`Compression`] (gzip and br), [`Timeout`] and
//! [`BodyLimit`].
//!
//! # Why not tower
//!
//! tower's `Service::call` takes `&mut self` after `poll_ready`, so a
//! service shared by every connection of a loop must be cloned per request
//! (or locked), and its layers are written for that; the middleware here
//! are called through a shared `Rc` with `&self`, as handlers are. tower's
//! layers also rewrap the body type at each layer (`CompressionBody<B>`,
//! …) where here every layer sees the one [`Body`](crate::Body). What
//! tower-http's layers do is small enough to do here, on the loop's own
//! clock and with its own context variables.

mod access_log;
mod body_limit;
mod compression;
mod cors;
mod timeout;

use std::fmt;
use std::future::Future;
use std::rc::Rc;

use crate::handler::{Endpoint, HandlerFuture};
use crate::request::Request;
use crate::response::IntoResponse;

pub use access_log::{request_id, AccessLog, RequestId};
pub use body_limit::BodyLimit;
pub use compression::Compression;
pub use cors::Cors;
pub use timeout::Timeout;

/// Code around a handler. Implemented for every
/// `Fn(Request, Next) -> impl Future<Output = impl IntoResponse>`, and by
/// the built-in layers. A type of one's own returns its future as a
/// [`HandlerFuture`]:
///
/// ```
/// use asyncio_http::middleware::{Middleware, Next};
/// use asyncio_http::{HandlerFuture, Request};
///
/// struct Tag;
///
/// impl Middleware for Tag {
///     fn call(&self, req: Request, next: Next) -> HandlerFuture {
///         HandlerFuture::new(async move {
///             let mut response = next.run(req).await;
///             response.headers_mut().insert("x-tag", "1".parse().unwrap());
///             response
///         })
///     }
/// }
/// ```
pub trait Middleware: 'static {
    /// Handles `req`, calling [`Next::run`] to pass it on (or not).
    fn call(&self, req: Request, next: Next) -> HandlerFuture;
}

impl<F, Fut, R> Middleware for F
where
    F: Fn(Request, Next) -> Fut + 'static,
    Fut: Future<Output = R> + 'static,
    R: IntoResponse,
{
    fn call(&self, req: Request, next: Next) -> HandlerFuture {
        let fut = self(req, next);
        HandlerFuture::new(async move { fut.await.into_response() })
    }
}

/// The rest of the middleware chain, ending with the handler.
pub struct Next {
    pub(crate) inner: Rc<dyn Endpoint>,
}

impl Next {
    /// Passes the request on and gives back the response.
    ///
    /// # Cancel safety
    /// Dropping the future drops the inner layers' and the handler's: the
    /// request is abandoned.
    pub fn run(self, req: Request) -> HandlerFuture {
        self.inner.serve(req)
    }
}

impl fmt::Debug for Next {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Next").finish_non_exhaustive()
    }
}

/// A middleware in front of an endpoint: itself an endpoint.
pub(crate) struct Layered {
    pub(crate) middleware: Rc<dyn Middleware>,
    pub(crate) next: Rc<dyn Endpoint>,
}

impl Endpoint for Layered {
    fn serve(&self, req: Request) -> HandlerFuture {
        self.middleware.call(
            req,
            Next {
                inner: self.next.clone(),
            },
        )
    }
}

/// `endpoint` wrapped in `layers`, the first innermost.
pub(crate) fn wrap(mut endpoint: Rc<dyn Endpoint>, layers: &[Rc<dyn Middleware>]) -> Rc<dyn Endpoint> {
    for m in layers {
        endpoint = Rc::new(Layered {
            middleware: m.clone(),
            next: endpoint,
        });
    }
    endpoint
}
