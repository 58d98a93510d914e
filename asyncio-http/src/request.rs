//! [`Request`]: what a handler receives.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;
use http::{HeaderMap, Method, Uri, Version};

use crate::body::{BodyError, RequestBody};
use crate::typemap::TypeMap;
use crate::upgrade::UpgradeSlot;
use crate::util::LocalFuture;
use crate::worker::{ShutdownSignal, Worker};

/// An HTTP request: its head, its streaming body, the path parameters the
/// router matched, and a way to schedule work after the response.
pub struct Request {
    /// Boxed: the head (method, URI, headers, extensions) is most of a
    /// request's size, and a request is moved several times on its way to
    /// the handler (router, middleware, extractors); one allocation costs
    /// less than those copies (callgrind figures in BENCHMARKS.md, "HTTP").
    pub(crate) head: Box<http::request::Parts>,
    pub(crate) body: RequestBody,
    pub(crate) params: Vec<(String, String)>,
    pub(crate) peer: Option<SocketAddr>,
    /// The connection's TLS parameters (none over plain TCP).
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<Rc<asyncio::tls::TlsInfo>>,
    pub(crate) background: Background,
    pub(crate) worker: Option<Rc<Worker>>,
    /// The connection's upgrade slot (none for a request made here).
    pub(crate) upgrade: Option<Rc<UpgradeSlot>>,
    /// The router's state ([`Router::with_state`](crate::Router::with_state)).
    pub(crate) state: Option<Rc<TypeMap>>,
    /// Values attached to this request by middleware and extractors
    /// (boxed when there are any: most requests have none, and the
    /// request is moved several times on its way to the handler).
    pub(crate) locals: Option<Box<TypeMap>>,
}

impl Request {
    /// A request not received from a connection (for testing handlers
    /// directly). Background work added to it is dropped.
    pub fn new(head: http::request::Parts, body: RequestBody) -> Request {
        Request {
            head: Box::new(head),
            body,
            params: Vec::new(),
            peer: None,
            #[cfg(feature = "tls")]
            tls: None,
            background: Background::default(),
            worker: None,
            upgrade: None,
            state: None,
            locals: None,
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

    /// The query's `name=value` pairs, decoded (`+` and `%20` are spaces),
    /// in order; a name may repeat.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query()
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first value of query parameter `name`, decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query()?.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
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

    /// The client's address (`None` for a request made with
    /// [`Request::new`] or over [`RunningServer::connect_local`](crate::RunningServer::connect_local)).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The client's address: the peer's, or, for a request from one of the
    /// server's [`trusted_proxies`](crate::Server::trusted_proxies), the
    /// client named by its `X-Forwarded-For` (Starlette's
    /// `request.client.host` behind uvicorn's proxy headers). `None` where
    /// [`peer_addr`](Request::peer_addr) is.
    pub fn client_ip(&self) -> Option<std::net::IpAddr> {
        let peer = self.peer?.ip();
        Some(match &self.worker {
            Some(w) if !w.config.trusted_proxies.is_empty() => {
                w.config.trusted_proxies.client_ip(peer, &self.head.headers)
            }
            _ => peer,
        })
    }

    /// `"https"` or `"http"`: how the client reached us. A request that
    /// came over TLS is `https`; one from a
    /// [`trusted_proxies`](crate::Server::trusted_proxies) entry is what
    /// its `X-Forwarded-Proto` says (Starlette's `request.url.scheme`).
    pub fn scheme(&self) -> &'static str {
        #[cfg(feature = "tls")]
        let tls = self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        let tls = false;
        match (&self.worker, self.peer) {
            (Some(w), Some(peer)) if !w.config.trusted_proxies.is_empty() => {
                w.config.trusted_proxies.scheme(peer.ip(), tls, &self.head.headers)
            }
            _ if tls => "https",
            _ => "http",
        }
    }

    /// What the connection's TLS handshake negotiated, for a request that
    /// came over TLS ([`Server::tls`](crate::Server::tls)): the protocol
    /// version, cipher suite and ALPN protocol, the name the client asked
    /// for (SNI), and the client's certificate chain when the context
    /// verifies client certificates (mutual TLS). The ASGI TLS extension's
    /// role; its being `Some` is Starlette's `request.url.scheme ==
    /// "https"`. `None` over plain HTTP and for a request made with
    /// [`Request::new`].
    #[cfg(feature = "tls")]
    pub fn tls_info(&self) -> Option<&asyncio::tls::TlsInfo> {
        self.tls.as_deref()
    }

    /// Request extensions (typed values attached by the server or tests).
    pub fn extensions(&self) -> &http::Extensions {
        &self.head.extensions
    }

    /// The router's state of type `T`, given to
    /// [`Router::with_state`](crate::Router::with_state) (what the
    /// [`State`](crate::extract::State) extractor clones).
    pub fn state<T: 'static>(&self) -> Option<&T> {
        self.state.as_ref()?.get()
    }

    /// This request's value of type `T`, attached with
    /// [`insert_local`](Request::insert_local) (what the
    /// [`Extension`](crate::extract::Extension) extractor clones).
    pub fn local<T: 'static>(&self) -> Option<&T> {
        self.locals.as_ref()?.get()
    }

    /// Attaches `value` to this request, for the handler and the layers
    /// after this one (an authenticated user, a request id); returns the
    /// value of that type it replaces. Unlike
    /// [`extensions`](Request::extensions), the value need not be `Send`.
    pub fn insert_local<T: 'static>(&mut self, value: T) -> Option<T> {
        self.locals.get_or_insert_with(Default::default).insert(value)
    }

    /// Takes this request's value of type `T` off it.
    pub fn remove_local<T: 'static>(&mut self) -> Option<T> {
        self.locals.as_mut()?.remove()
    }

    /// Request extensions, to change.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.head.extensions
    }

    /// The headers, to change (a middleware normalising them, say).
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.head.headers
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
    state: Rc<RefCell<BackgroundState>>,
}

/// At most this many finished requests' states are kept per thread for
/// reuse (about as many as requests in flight on a busy worker).
const POOL_MAX: usize = 256;

thread_local! {
    /// Background states given back by finished requests (see
    /// [`Background::fresh`]): one allocation less per request.
    static POOL: RefCell<Vec<Rc<RefCell<BackgroundState>>>> = const { RefCell::new(Vec::new()) };
}

#[derive(Default)]
struct BackgroundState {
    jobs: Vec<LocalFuture>,
    /// Set once the response is out: later jobs start at once.
    started: Option<Rc<Worker>>,
    /// The handler was abandoned (its client left first): jobs are dropped.
    abandoned: bool,
}

impl Background {
    /// Queues `job`: it starts once the response's last byte is handed to
    /// the connection (at once, if that has happened), as a task of the
    /// server's task group, so graceful shutdown waits for it. A panic in
    /// it is reported, and nothing else is affected.
    ///
    /// A client that disconnects before the handler returns cancels the
    /// handler (dropping its future, as any cancellation here), and the
    /// jobs it queued are dropped with it, unstarted.
    pub fn add(&self, job: impl Future<Output = ()> + 'static) {
        let mut state = self.state.borrow_mut();
        if state.abandoned {
            return;
        }
        match &state.started {
            Some(worker) => {
                let worker = worker.clone();
                drop(state);
                worker.spawn("background job", job);
            }
            None => state.jobs.push(Box::pin(job)),
        }
    }

    /// How many jobs wait for the response to be sent.
    pub fn len(&self) -> usize {
        self.state.borrow().jobs.len()
    }

    /// True when none wait.
    pub fn is_empty(&self) -> bool {
        self.state.borrow().jobs.is_empty()
    }

    /// The response is out: starts the queued jobs, and later ones at once.
    pub(crate) fn start(&self, worker: &Rc<Worker>) {
        if Rc::strong_count(&self.state) == 1 && self.state.borrow().jobs.is_empty() {
            // Nothing queued, and no handle left to queue more with.
            return;
        }
        let jobs = {
            let mut state = self.state.borrow_mut();
            state.started = Some(worker.clone());
            std::mem::take(&mut state.jobs)
        };
        for job in jobs {
            worker.spawn("background job", job);
        }
    }

    /// The jobs queued so far, taken out to run elsewhere (the test
    /// client runs them before it returns); later ones are dropped.
    pub(crate) fn take(&self) -> Vec<LocalFuture> {
        let mut state = self.state.borrow_mut();
        state.abandoned = true;
        std::mem::take(&mut state.jobs)
    }

    /// A handle for a new request: a state given back by an earlier
    /// request of this thread when there is one (a request is served
    /// without allocating one), else a new one.
    pub(crate) fn fresh() -> Background {
        POOL.with_borrow_mut(|pool| pool.pop())
            .map_or_else(Background::default, |state| Background { state })
    }

    /// The request is finished (its jobs started or dropped): gives the
    /// state back for a later request, unless something else still holds
    /// it (a handler can keep a clone to add jobs later, which then start
    /// at once). Call with the last handle, just before dropping it.
    pub(crate) fn recycle(&self) {
        if Rc::strong_count(&self.state) != 1 || Rc::weak_count(&self.state) != 0 {
            return;
        }
        {
            let mut state = self.state.borrow_mut();
            debug_assert!(state.jobs.is_empty(), "recycled with jobs queued");
            state.started = None;
            state.abandoned = false;
        }
        POOL.with_borrow_mut(|pool| {
            if pool.len() < POOL_MAX {
                pool.push(self.state.clone());
            }
        });
    }

    /// The handler failed or was abandoned: its jobs never run.
    pub(crate) fn abandon(&self) {
        let jobs = {
            let mut state = self.state.borrow_mut();
            state.abandoned = true;
            std::mem::take(&mut state.jobs)
        };
        drop(jobs);
    }
}

impl fmt::Debug for Background {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Background").field("jobs", &self.len()).finish()
    }
}
