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

use std::cell::OnceCell;
use std::fmt;
use std::future::Future;
use std::rc::Rc;

use http::header::{HeaderValue, ALLOW};
use http::{Method, StatusCode};

use crate::handler::{endpoint, Endpoint, Handler, HandlerFuture};
use crate::middleware::{self, Layered, Middleware};
use crate::request::Request;
use crate::response::{HttpError, IntoResponse, Response};
use crate::typemap::TypeMap;
use crate::util::LocalFuture;

type Hook = Box<dyn FnOnce() -> LocalFuture>;

fn boxed_hook<Fut: Future<Output = ()> + 'static>(hook: impl FnOnce() -> Fut + 'static) -> Hook {
    Box::new(move || Box::pin(hook()))
}

struct PathRoutes {
    /// The pattern as written, to tell "this same pattern again" from "a
    /// concrete path that an earlier pattern happens to match".
    pattern: String,
    methods: Vec<(Method, Rc<dyn Endpoint>)>,
}

/// The routing table: what the router's layers wrap.
struct Core {
    tree: matchit::Router<usize>,
    paths: Vec<PathRoutes>,
    fallback: Option<Rc<dyn Endpoint>>,
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
    /// Shared with the chain of layers once the first request is routed;
    /// until then the router is being built and owns it alone.
    core: Rc<Core>,
    state: Rc<TypeMap>,
    layers: Vec<Rc<dyn Middleware>>,
    /// The layers around the core, made on the first request.
    entry: OnceCell<Rc<dyn Endpoint>>,
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
            core: Rc::new(Core {
                tree: matchit::Router::new(),
                paths: Vec::new(),
                fallback: None,
            }),
            state: Rc::new(TypeMap::default()),
            layers: Vec::new(),
            entry: OnceCell::new(),
            startup: Vec::new(),
            shutdown: Vec::new(),
        }
    }

    fn core_mut(&mut self) -> &mut Core {
        Rc::get_mut(&mut self.core).expect("a router is not changed once it serves")
    }

    /// Routes `method` on `path` to `handler`.
    ///
    /// # Panics
    /// If the path is malformed, or the same method and path (or a
    /// conflicting pattern) was routed before: a routing table with a
    /// mistake should not start serving.
    pub fn route<A: 'static>(mut self, method: Method, path: &str, handler: impl Handler<A>) -> Router {
        self.core_mut().insert(method, path, endpoint(handler));
        self
    }

    /// `GET` on `path`.
    pub fn get<A: 'static>(self, path: &str, handler: impl Handler<A>) -> Router {
        self.route(Method::GET, path, handler)
    }

    /// `POST` on `path`.
    pub fn post<A: 'static>(self, path: &str, handler: impl Handler<A>) -> Router {
        self.route(Method::POST, path, handler)
    }

    /// `PUT` on `path`.
    pub fn put<A: 'static>(self, path: &str, handler: impl Handler<A>) -> Router {
        self.route(Method::PUT, path, handler)
    }

    /// `DELETE` on `path`.
    pub fn delete<A: 'static>(self, path: &str, handler: impl Handler<A>) -> Router {
        self.route(Method::DELETE, path, handler)
    }

    /// `PATCH` on `path`.
    pub fn patch<A: 'static>(self, path: &str, handler: impl Handler<A>) -> Router {
        self.route(Method::PATCH, path, handler)
    }

    /// The handler for requests no route matches (default: `404`).
    pub fn fallback<A: 'static>(mut self, handler: impl Handler<A>) -> Router {
        self.core_mut().fallback = Some(endpoint(handler));
        self
    }

    /// Gives handlers a value of type `T`, for the [`State<T>`]
    /// extractor (and [`Request::state`]). One value per type: a second of
    /// the same type replaces the first. The function the server is given
    /// builds a router on each worker loop, so each loop has its own state:
    /// an `Rc<RefCell<..>>` or a per-loop connection pool is fine.
    ///
    /// [`State<T>`]: crate::extract::State
    pub fn with_state<T: 'static>(mut self, value: T) -> Router {
        Rc::get_mut(&mut self.state)
            .expect("a router is not changed once it serves")
            .insert(value);
        self
    }

    /// Wraps the whole router in `middleware`: every request passes
    /// through it, those answered `404` or `405` included. Layers added
    /// later wrap those added before. See [`middleware`](crate::middleware).
    pub fn layer(mut self, middleware: impl Middleware) -> Router {
        self.layers.push(Rc::new(middleware));
        self
    }

    /// Wraps each route added so far (not the `404`/`405` answers, not
    /// routes added later) in `middleware`: an authentication check for
    /// some routes, say.
    pub fn route_layer(mut self, middleware: impl Middleware) -> Router {
        let middleware: Rc<dyn Middleware> = Rc::new(middleware);
        for routes in &mut self.core_mut().paths {
            for (_, endpoint) in &mut routes.methods {
                *endpoint = Rc::new(Layered {
                    middleware: middleware.clone(),
                    next: endpoint.clone(),
                });
            }
        }
        self
    }

    /// Serves `other`'s routes under `prefix` (`/api` + `/users` is
    /// `/api/users`; `other`'s `/` is `prefix` itself), each in `other`'s
    /// layers. `other`'s state is added to this router's (a type this
    /// router has keeps this router's value), and its startup and shutdown
    /// hooks run with this router's. `other`'s fallback is not used: a
    /// path under `prefix` that none of its routes match goes to this
    /// router's fallback.
    ///
    /// # Panics
    /// If `prefix` does not start with `/` or ends with one, or a route
    /// conflicts with one of this router's.
    pub fn nest(self, prefix: &str, other: Router) -> Router {
        assert!(
            prefix.starts_with('/') && !prefix.ends_with('/'),
            "nest: the prefix {prefix:?} must start with '/' and not end with one"
        );
        self.absorb(prefix, other, false)
    }

    /// Adds `other`'s routes to this router's, each in `other`'s layers,
    /// with its state and hooks as [`nest`](Router::nest) does; `other`'s
    /// fallback is used if this router has none.
    ///
    /// # Panics
    /// If a route conflicts with one of this router's.
    pub fn merge(self, other: Router) -> Router {
        self.absorb("", other, true)
    }

    fn absorb(mut self, prefix: &str, other: Router, take_fallback: bool) -> Router {
        let Router {
            core,
            state,
            layers,
            startup,
            shutdown,
            ..
        } = other;
        let core = Rc::try_unwrap(core).unwrap_or_else(|_| panic!("a router is not changed once it serves"));
        let state = Rc::try_unwrap(state).unwrap_or_else(|_| panic!("a router is not changed once it serves"));
        let mine = self.core_mut();
        for routes in core.paths {
            let path = match (prefix, routes.pattern.as_str()) {
                ("", p) => p.to_owned(),
                (pre, "/") => pre.to_owned(),
                (pre, p) => format!("{pre}{p}"),
            };
            for (method, endpoint) in routes.methods {
                mine.insert(method, &path, middleware::wrap(endpoint, &layers));
            }
        }
        if take_fallback && mine.fallback.is_none() {
            mine.fallback = core.fallback.map(|f| middleware::wrap(f, &layers));
        }
        Rc::get_mut(&mut self.state)
            .expect("a router is not changed once it serves")
            .absorb(state);
        self.startup.extend(startup);
        self.shutdown.extend(shutdown);
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

    /// Every route so far: method and pattern, in the order added.
    #[cfg_attr(not(feature = "openapi"), allow(dead_code))]
    pub(crate) fn routes(&self) -> Vec<(Method, String)> {
        let mut out = Vec::new();
        for routes in &self.core.paths {
            for (m, _) in &routes.methods {
                out.push((m.clone(), routes.pattern.clone()));
            }
        }
        out
    }

    /// Routes one request and runs its layers and handler.
    ///
    /// # Cancel safety
    /// As the handler: dropping the future drops the handler's, abandoning
    /// the request (no response is produced).
    pub async fn handle(&self, req: Request) -> Response {
        self.dispatch(req).await
    }

    /// Routes one request: the future of its layers and handler, or the
    /// `404`/`405`/`400` answer, ready at once. Synchronous, so the caller
    /// holds one boxed future and not a routing state machine around it.
    #[inline]
    pub(crate) fn dispatch(&self, mut req: Request) -> HandlerFuture {
        if !self.state.is_empty() {
            req.state = Some(self.state.clone());
        }
        if self.layers.is_empty() {
            return self.core.dispatch(req);
        }
        let entry = self
            .entry
            .get_or_init(|| middleware::wrap(self.core.clone(), &self.layers));
        entry.serve(req)
    }
}

impl Core {
    fn insert(&mut self, method: Method, path: &str, endpoint: Rc<dyn Endpoint>) {
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
        routes.push((method, endpoint));
    }

    #[inline]
    fn dispatch(&self, mut req: Request) -> HandlerFuture {
        let answer = |r: Response| -> HandlerFuture { HandlerFuture::new(std::future::ready(r)) };
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
                    Some(h) => h.serve(req),
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
            Some((_, h)) => h.serve(req),
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

impl Endpoint for Core {
    fn serve(&self, req: Request) -> HandlerFuture {
        self.dispatch(req)
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("paths", &self.core.paths.len())
            .field("layers", &self.layers.len())
            .finish_non_exhaustive()
    }
}
