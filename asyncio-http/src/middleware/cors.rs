//! [`Cors`]: cross-origin resource sharing (the Fetch standard's CORS
//! protocol), Starlette's `CORSMiddleware`.

use std::future::ready;
use std::time::Duration;

use http::header::{
    HeaderName, HeaderValue, ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS,
    ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::{HeaderMap, Method, StatusCode};

use super::{Middleware, Next};
use crate::handler::HandlerFuture;
use crate::request::Request;
use crate::response::{HttpError, IntoResponse, Response};

#[derive(Clone, Debug)]
enum List<T> {
    Any,
    These(Vec<T>),
}

impl<T: PartialEq> List<T> {
    fn allows(&self, item: &T) -> bool {
        match self {
            List::Any => true,
            List::These(v) => v.contains(item),
        }
    }
}

/// Answers CORS preflight requests and marks the responses to
/// cross-origin requests, for the origins, methods and headers it is told
/// to allow. Nothing is allowed until configured (as Starlette's).
///
/// - A request without `Origin` passes through untouched.
/// - A preflight (`OPTIONS` with `Access-Control-Request-Method`) is
///   answered here, never reaching a route: `204` with the allowed
///   methods, headers and max age when the origin, method and every
///   requested header are allowed, else `400` naming what was refused.
/// - Any other request from an allowed origin runs, and its response gets
///   `Access-Control-Allow-Origin` (and `…-Credentials`,
///   `…-Expose-Headers` when configured). From an origin not allowed it
///   runs with no CORS headers, so the browser withholds the answer.
///
/// Every response that depends on `Origin` says so with `Vary: Origin`.
/// With credentials allowed, the origin is echoed back, never `*` (the
/// standard forbids `*` with credentials).
///
/// Install it with [`Router::layer`](crate::Router::layer), so preflights
/// to any path reach it.
///
/// ```
/// use std::time::Duration;
/// use asyncio_http::middleware::Cors;
/// use asyncio_http::{Method, Router};
///
/// async fn api() -> &'static str { "{}" }
/// let cors = Cors::new()
///     .allow_origins(["https://app.example.com"])
///     .allow_methods([Method::GET, Method::POST])
///     .allow_headers(["content-type", "authorization"])
///     .allow_credentials(true)
///     .max_age(Duration::from_secs(600));
/// let app = Router::new().get("/api", api).layer(cors);
/// # drop(app);
/// ```
#[derive(Clone, Debug)]
pub struct Cors {
    origins: List<HeaderValue>,
    methods: List<Method>,
    headers: List<HeaderName>,
    expose: Vec<HeaderName>,
    credentials: bool,
    max_age: Option<Duration>,
}

impl Default for Cors {
    fn default() -> Self {
        Cors::new()
    }
}

impl Cors {
    /// Allows nothing yet (`GET`, `HEAD` and `POST` once an origin is
    /// allowed; CORS-safelisted headers need no allowing).
    pub fn new() -> Cors {
        Cors {
            origins: List::These(Vec::new()),
            methods: List::These(vec![Method::GET, Method::HEAD, Method::POST]),
            headers: List::These(Vec::new()),
            expose: Vec::new(),
            credentials: false,
            max_age: None,
        }
    }

    /// Any origin, method and header, without credentials: for a public
    /// API.
    pub fn permissive() -> Cors {
        Cors::new().allow_any_origin().allow_any_method().allow_any_header()
    }

    /// Allows these origins (`https://app.example.com`: scheme, host and
    /// port, no path).
    ///
    /// # Panics
    /// If one is not a valid header value.
    pub fn allow_origins<'a>(mut self, origins: impl IntoIterator<Item = &'a str>) -> Cors {
        let list = origins
            .into_iter()
            .map(|o| HeaderValue::from_str(o).unwrap_or_else(|_| panic!("CORS origin {o:?} is not a header value")))
            .collect();
        self.origins = List::These(list);
        self
    }

    /// Allows every origin.
    pub fn allow_any_origin(mut self) -> Cors {
        self.origins = List::Any;
        self
    }

    /// Allows these methods.
    pub fn allow_methods(mut self, methods: impl IntoIterator<Item = Method>) -> Cors {
        self.methods = List::These(methods.into_iter().collect());
        self
    }

    /// Allows every method.
    pub fn allow_any_method(mut self) -> Cors {
        self.methods = List::Any;
        self
    }

    /// Allows these request headers (beyond the CORS-safelisted ones).
    ///
    /// # Panics
    /// If one is not a valid header name.
    pub fn allow_headers<'a>(mut self, headers: impl IntoIterator<Item = &'a str>) -> Cors {
        self.headers = List::These(headers.into_iter().map(header_name).collect());
        self
    }

    /// Allows every request header.
    pub fn allow_any_header(mut self) -> Cors {
        self.headers = List::Any;
        self
    }

    /// Lets the browser's script read these response headers.
    ///
    /// # Panics
    /// If one is not a valid header name.
    pub fn expose_headers<'a>(mut self, headers: impl IntoIterator<Item = &'a str>) -> Cors {
        self.expose = headers.into_iter().map(header_name).collect();
        self
    }

    /// Allows cookies and `Authorization` on cross-origin requests.
    pub fn allow_credentials(mut self, yes: bool) -> Cors {
        self.credentials = yes;
        self
    }

    /// How long the browser may cache a preflight's answer.
    pub fn max_age(mut self, age: Duration) -> Cors {
        self.max_age = Some(age);
        self
    }

    /// The `Access-Control-Allow-Origin` value for an allowed `origin`.
    fn allow_origin_value(&self, origin: &HeaderValue) -> HeaderValue {
        match (&self.origins, self.credentials) {
            (List::Any, false) => HeaderValue::from_static("*"),
            _ => origin.clone(),
        }
    }

    fn preflight(&self, req: &Request, origin: &HeaderValue) -> Response {
        if !self.origins.allows(origin) {
            return refuse("origin");
        }
        let method = req
            .headers()
            .get(ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|m| Method::from_bytes(m.as_bytes()).ok());
        let Some(method) = method.filter(|m| self.methods.allows(m)) else {
            return refuse("method");
        };
        let requested = requested_headers(req.headers());
        let Some(requested) = requested.filter(|hs| hs.iter().all(|h| self.headers.allows(h))) else {
            return refuse("headers");
        };
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, self.allow_origin_value(origin));
        let methods = match &self.methods {
            List::Any => method.as_str().to_owned(),
            List::These(ms) => ms.iter().map(Method::as_str).collect::<Vec<_>>().join(", "),
        };
        if let Ok(v) = HeaderValue::from_str(&methods) {
            h.insert(ACCESS_CONTROL_ALLOW_METHODS, v);
        }
        let headers = match &self.headers {
            List::Any => requested.iter().map(HeaderName::as_str).collect::<Vec<_>>().join(", "),
            List::These(hs) => hs.iter().map(HeaderName::as_str).collect::<Vec<_>>().join(", "),
        };
        if !headers.is_empty() {
            if let Ok(v) = HeaderValue::from_str(&headers) {
                h.insert(ACCESS_CONTROL_ALLOW_HEADERS, v);
            }
        }
        if self.credentials {
            h.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
        }
        if let Some(age) = self.max_age {
            h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from(age.as_secs()));
        }
        h.append(VARY, HeaderValue::from_static("Origin"));
        r
    }

    /// The headers an actual (not preflight) response to `origin` gets.
    fn marks(&self, origin: &HeaderValue) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = vec![(VARY, HeaderValue::from_static("Origin"))];
        if !self.origins.allows(origin) {
            return out;
        }
        out.push((ACCESS_CONTROL_ALLOW_ORIGIN, self.allow_origin_value(origin)));
        if self.credentials {
            out.push((ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true")));
        }
        if !self.expose.is_empty() {
            let list = self
                .expose
                .iter()
                .map(HeaderName::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            if let Ok(v) = HeaderValue::from_str(&list) {
                out.push((ACCESS_CONTROL_EXPOSE_HEADERS, v));
            }
        }
        out
    }
}

fn header_name(name: &str) -> HeaderName {
    HeaderName::from_bytes(name.as_bytes()).unwrap_or_else(|_| panic!("{name:?} is not a header name"))
}

/// The headers a preflight asks for (`None` if the list is malformed).
fn requested_headers(headers: &HeaderMap) -> Option<Vec<HeaderName>> {
    let mut out = Vec::new();
    for value in headers.get_all(ACCESS_CONTROL_REQUEST_HEADERS) {
        for name in value.to_str().ok()?.split(',') {
            let name = name.trim();
            if !name.is_empty() {
                out.push(HeaderName::from_bytes(name.as_bytes()).ok()?);
            }
        }
    }
    Some(out)
}

fn refuse(what: &str) -> Response {
    let mut r = HttpError::new(StatusCode::BAD_REQUEST, format!("CORS preflight: {what} not allowed")).into_response();
    r.headers_mut().append(VARY, HeaderValue::from_static("Origin"));
    r
}

impl Middleware for Cors {
    fn call(&self, req: Request, next: Next) -> HandlerFuture {
        let Some(origin) = req.headers().get(ORIGIN).cloned() else {
            return next.run(req);
        };
        if req.method() == Method::OPTIONS && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD) {
            return HandlerFuture::new(ready(self.preflight(&req, &origin)));
        }
        let marks = self.marks(&origin);
        let fut = next.run(req);
        HandlerFuture::new(async move {
            let mut r = fut.await;
            let h = r.headers_mut();
            for (name, value) in marks {
                if name == VARY {
                    h.append(name, value);
                } else {
                    h.insert(name, value);
                }
            }
            r
        })
    }
}
