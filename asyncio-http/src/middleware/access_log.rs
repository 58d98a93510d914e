//! [`AccessLog`]: a request id for every request, and one `tracing` event
//! when its response is ready.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Instant;

use asyncio::ContextVar;
use http::header::{HeaderName, HeaderValue};

use super::{Middleware, Next};
use crate::handler::HandlerFuture;
use crate::request::Request;

static REQUEST_ID: ContextVar<Arc<str>> = ContextVar::new("asyncio_http.request_id");

/// The id of the request being handled, set by [`AccessLog`] in a context
/// variable: code anywhere under the handler (a database layer, a log
/// line, a task the handler creates) reads it without its being passed
/// along. `None` outside a request or without the layer.
///
/// Background jobs start after the response, outside the request's
/// context: give them the id yourself if they need it.
pub fn request_id() -> Option<Arc<str>> {
    REQUEST_ID.get()
}

/// Gives each request an id and logs it once answered.
///
/// The id is the request's `X-Request-Id` when [`trust_incoming`] is on
/// and the header holds 1 to 128 visible ASCII characters (a proxy in
/// front set it), else a new one (64 random bits per loop thread and a
/// counter). It is put in the [`request_id`] context variable while the
/// request's layers and handler run, attached to the request (as
/// `Extension<RequestId>`), and sent back in the response's `X-Request-Id`.
///
/// Each response gives one `tracing` event at `INFO` on the target
/// `asyncio_http::access` with fields `request_id`, `method`, `path`,
/// `status` and `micros` (from the request's arrival at this layer to its
/// response head). A handler that panics is logged with `status = 500`
/// (the answer the server gives), a request abandoned before it is
/// answered (its client left) at `DEBUG` with `status = 0`.
///
/// [`trust_incoming`]: AccessLog::trust_incoming
///
/// ```
/// use asyncio_http::middleware::{request_id, AccessLog};
/// use asyncio_http::Router;
///
/// async fn hello() -> String {
///     format!("you are request {}", request_id().unwrap())
/// }
/// let app = Router::new().get("/", hello).layer(AccessLog::new());
/// # drop(app);
/// ```
#[derive(Clone, Debug)]
pub struct AccessLog {
    header: HeaderName,
    trust_incoming: bool,
}

/// A request's id, attached by [`AccessLog`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub Arc<str>);

impl Default for AccessLog {
    fn default() -> Self {
        AccessLog::new()
    }
}

impl AccessLog {
    /// Ids in `X-Request-Id`, incoming ones not trusted.
    pub fn new() -> AccessLog {
        AccessLog {
            header: HeaderName::from_static("x-request-id"),
            trust_incoming: false,
        }
    }

    /// Uses the request's id header when it has a sane one (behind a
    /// proxy that sets it).
    pub fn trust_incoming(mut self, yes: bool) -> AccessLog {
        self.trust_incoming = yes;
        self
    }

    /// The header the id is read from and sent in.
    pub fn header(mut self, name: HeaderName) -> AccessLog {
        self.header = name;
        self
    }

    fn id_for(&self, req: &Request) -> Arc<str> {
        if self.trust_incoming {
            if let Some(v) = req.headers().get(&self.header).and_then(|v| v.to_str().ok()) {
                if (1..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()) {
                    return Arc::from(v);
                }
            }
        }
        new_id()
    }
}

thread_local! {
    static SEED: u64 = RandomState::new().hash_one(0u64);
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

fn new_id() -> Arc<str> {
    let n = COUNT.with(|c| {
        c.set(c.get() + 1);
        c.get()
    });
    Arc::from(format!("{:016x}-{n:x}", SEED.with(|s| *s)))
}

/// Resets the context variable and logs an abandoned request if the
/// future is dropped before the response.
struct Scope {
    token: Option<asyncio::context::Token<Arc<str>>>,
    answered: bool,
    id: Arc<str>,
    method: http::Method,
    path: String,
    start: Instant,
}

impl Drop for Scope {
    fn drop(&mut self) {
        if let Some(token) = self.token.take() {
            let _ = REQUEST_ID.reset(token);
        }
        if !self.answered && std::thread::panicking() {
            // The handler panicked: the server answers 500 once the panic
            // reaches it.
            tracing::info!(target: "asyncio_http::access", request_id = %self.id, method = %self.method,
                path = %self.path, status = 500u16, micros = self.start.elapsed().as_micros() as u64,
                "request (handler panicked)");
        } else if !self.answered {
            tracing::debug!(target: "asyncio_http::access", request_id = %self.id, method = %self.method,
                path = %self.path, status = 0u16, "request abandoned");
        }
    }
}

impl Middleware for AccessLog {
    fn call(&self, mut req: Request, next: Next) -> HandlerFuture {
        let id = self.id_for(&req);
        let header = self.header.clone();
        req.insert_local(RequestId(id.clone()));
        let method = req.method().clone();
        let path = req.path().to_owned();
        HandlerFuture::new(async move {
            let mut scope = Scope {
                token: Some(REQUEST_ID.set(id.clone())),
                answered: false,
                id,
                method,
                path,
                start: Instant::now(),
            };
            let mut response = next.run(req).await;
            scope.answered = true;
            if let Some(token) = scope.token.take() {
                let _ = REQUEST_ID.reset(token);
            }
            if let Ok(v) = HeaderValue::from_str(&scope.id) {
                response.headers_mut().insert(header, v);
            }
            tracing::info!(target: "asyncio_http::access", request_id = %scope.id, method = %scope.method,
                path = %scope.path, status = response.status().as_u16(),
                micros = scope.start.elapsed().as_micros() as u64, "request");
            response
        })
    }
}
