//! [`Router`]: method + path to handler, with path parameters.
//!
//! Paths are matched by `matchit` (a radix tree): `/users/{id}` binds one
//! segment, `/files/{*path}` the rest of the path; the values are
//! percent-decoded (`/users/a%20b` gives `a b`; not UTF-8 is a `400`). A path that matches with
//! the wrong method answers `405` with an `Allow` header; no match answers
//! `404` (or the [`fallback`](Router::fallback)). `HEAD` is served by the
//! `GET` handler when there is no `HEAD` route (hyper leaves the body out).
//!
//! A router is built on each worker loop's own thread (the server takes a
//! function that makes one), so handlers and the state they capture need
//! not be `Send`: an `Rc<RefCell<..>>` is fine.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use http::header::{HeaderValue, ALLOW};
use http::{Method, StatusCode};

use crate::request::Request;
use crate::response::{HttpError, IntoResponse, Response};
use crate::util::LocalFuture;

type BoxHandler = Rc<dyn Handler>;
type Hook = Box<dyn FnOnce() -> LocalFuture>;

fn boxed_hook<Fut: Future<Output = ()> + 'static>(hook: impl FnOnce() -> Fut + 'static) -> Hook {
    Box::new(move || Box::pin(hook()))
}

/// A request handler: an async function (or closure) from [`Request`] to
/// anything that is [`IntoResponse`].
pub trait Handler: 'static {
    /// Handles one request.
    fn call(&self, req: Request) -> Pin<Box<dyn Future<Output = Response>>>;
}

impl<F, Fut, R> Handler for F
where
    F: Fn(Request) -> Fut + 'static,
    Fut: Future<Output = R> + 'static,
    R: IntoResponse,
{
    fn call(&self, req: Request) -> Pin<Box<dyn Future<Output = Response>>> {
        let fut = self(req);
        Box::pin(async move { fut.await.into_response() })
    }
}

struct PathRoutes {
    /// The pattern as written, to tell "this same pattern again" from "a
    /// concrete path that an earlier pattern happens to match".
    pattern: String,
    methods: Vec<(Method, BoxHandler)>,
}

/// Routes requests to handlers by method and path.
///
/// ```
/// use asyncio_http::{Request, Router};
///
/// async fn hello(_req: Request) -> &'static str {
///     "Hello, world!"
/// }
///
/// async fn user(req: Request) -> String {
///     format!("user {}", req.param("id").unwrap_or("?"))
/// }
///
/// let app = Router::new()
///     .get("/", hello)
///     .get("/users/{id}", user);
/// # drop(app);
/// ```
pub struct Router {
    tree: matchit::Router<usize>,
    paths: Vec<PathRoutes>,
    fallback: Option<BoxHandler>,
    pub(crate) startup: Vec<Hook>,
    pub(crate) shutdown: Vec<Hook>,
}

impl Default for Router {
    fn default() -> Self {
        Router::new()
    }
}

impl Router {
    /// No routes: every request is a `404`.
    pub fn new() -> Router {
        Router {
            tree: matchit::Router::new(),
            paths: Vec::new(),
            fallback: None,
            startup: Vec::new(),
            shutdown: Vec::new(),
        }
    }

    /// Routes `method` on `path` to `handler`.
    ///
    /// # Panics
    /// If the path is malformed, or the same method and path (or a
    /// conflicting pattern) was routed before: a routing table with a
    /// mistake should not start serving.
    pub fn route(mut self, method: Method, path: &str, handler: impl Handler) -> Router {
        let handler: BoxHandler = Rc::new(handler);
        let index = match self.tree.at(path) {
            Ok(m) if self.paths[*m.value].pattern == path => *m.value,
            _ => {
                let index = self.paths.len();
                if let Err(e) = self.tree.insert(path, index) {
                    panic!("route {method} {path}: {e}");
                }
                self.paths.push(PathRoutes {
                    pattern: path.to_owned(),
                    methods: Vec::new(),
                });
                index
            }
        };
        let routes = &mut self.paths[index].methods;
        assert!(
            routes.iter().all(|(m, _)| *m != method),
            "route {method} {path} is defined twice"
        );
        routes.push((method, handler));
        self
    }

    /// `GET` on `path`.
    pub fn get(self, path: &str, handler: impl Handler) -> Router {
        self.route(Method::GET, path, handler)
    }

    /// `POST` on `path`.
    pub fn post(self, path: &str, handler: impl Handler) -> Router {
        self.route(Method::POST, path, handler)
    }

    /// `PUT` on `path`.
    pub fn put(self, path: &str, handler: impl Handler) -> Router {
        self.route(Method::PUT, path, handler)
    }

    /// `DELETE` on `path`.
    pub fn delete(self, path: &str, handler: impl Handler) -> Router {
        self.route(Method::DELETE, path, handler)
    }

    /// `PATCH` on `path`.
    pub fn patch(self, path: &str, handler: impl Handler) -> Router {
        self.route(Method::PATCH, path, handler)
    }

    /// The handler for requests no route matches (default: `404`).
    pub fn fallback(mut self, handler: impl Handler) -> Router {
        self.fallback = Some(Rc::new(handler));
        self
    }

    /// Runs `hook` on each worker loop before it accepts connections
    /// (the lifespan's startup half).
    pub fn on_startup<Fut>(mut self, hook: impl FnOnce() -> Fut + 'static) -> Router
    where
        Fut: Future<Output = ()> + 'static,
    {
        self.startup.push(boxed_hook(hook));
        self
    }

    /// Runs `hook` on each worker loop after its connections and
    /// background tasks are finished or cancelled (the lifespan's shutdown
    /// half).
    pub fn on_shutdown<Fut>(mut self, hook: impl FnOnce() -> Fut + 'static) -> Router
    where
        Fut: Future<Output = ()> + 'static,
    {
        self.shutdown.push(boxed_hook(hook));
        self
    }

    /// Routes one request and runs its handler.
    pub async fn handle(&self, req: Request) -> Response {
        self.dispatch(req).await
    }

    /// Routes one request: the handler's future, or the `404`/`405`/`400`
    /// answer, ready at once. Synchronous, so the caller holds one boxed
    /// future and not a routing state machine around it.
    pub(crate) fn dispatch(&self, mut req: Request) -> Pin<Box<dyn Future<Output = Response>>> {
        let answer = |r: Response| -> Pin<Box<dyn Future<Output = Response>>> { Box::pin(std::future::ready(r)) };
        let (index, params) = match self.tree.at(req.uri().path()) {
            Ok(m) if m.params.is_empty() => (*m.value, Vec::new()),
            Ok(m) => {
                let mut params = Vec::with_capacity(m.params.len());
                for (k, v) in m.params.iter() {
                    match percent_encoding::percent_decode_str(v).decode_utf8() {
                        Ok(v) => params.push((k.to_owned(), v.into_owned())),
                        Err(_) => {
                            return answer(
                                HttpError::new(StatusCode::BAD_REQUEST, "path parameter is not UTF-8").into_response(),
                            )
                        }
                    }
                }
                (*m.value, params)
            }
            Err(_) => {
                return match &self.fallback {
                    Some(h) => h.call(req),
                    None => answer((StatusCode::NOT_FOUND, "Not Found\n").into_response()),
                }
            }
        };
        req.params = params;
        let routes = &self.paths[index].methods;
        let method = req.method();
        let found = routes.iter().find(|(rm, _)| rm == method).or_else(|| {
            (method == Method::HEAD)
                .then(|| routes.iter().find(|(rm, _)| *rm == Method::GET))
                .flatten()
        });
        match found {
            Some((_, h)) => h.call(req),
            None => {
                let mut allow: Vec<&str> = routes.iter().map(|(m, _)| m.as_str()).collect();
                if allow.contains(&"GET") && !allow.contains(&"HEAD") {
                    allow.push("HEAD");
                }
                let mut r = StatusCode::METHOD_NOT_ALLOWED.into_response();
                if let Ok(v) = HeaderValue::from_str(&allow.join(", ")) {
                    r.headers_mut().insert(ALLOW, v);
                }
                answer(r)
            }
        }
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("paths", &self.paths.len())
            .finish_non_exhaustive()
    }
}
