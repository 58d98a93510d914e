//! [`TestClient`]: calls an application in-process, without a socket
//! (Starlette's `TestClient`).
//!
//! The request goes through the router, its layers and the handler exactly
//! as one from a connection would, minus HTTP/1.1's framing: what a test
//! checks is the application's behaviour. It runs on the loop the test
//! runs on (inside [`asyncio::run`]), so handlers that sleep, query a
//! database or create tasks work as they do in the server.
//!
//! ```
//! use asyncio_http::extract::Json;
//! use asyncio_http::testing::TestClient;
//! use asyncio_http::Router;
//! use serde_json::{json, Value};
//!
//! async fn echo(Json(v): Json<Value>) -> Json<Value> { Json(v) }
//!
//! asyncio::run(async {
//!     let client = TestClient::new(Router::new().post("/echo", echo));
//!     let resp = client.post("/echo").json(&json!({"a": 1})).send().await;
//!     assert_eq!(resp.status(), 200);
//!     assert_eq!(resp.json::<Value>(), json!({"a": 1}));
//!
//!     let resp = client.post("/echo").body("not json").header("content-type", "application/json").send().await;
//!     assert_eq!(resp.status(), 422);
//! });
//! ```

use std::fmt;
use std::rc::Rc;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Method, StatusCode, Version};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::body::RequestBody;
use crate::report;
use crate::request::Request;
use crate::response::{IntoResponse, Response};
use crate::router::Router;
use crate::util::CatchUnwind;

/// An application called in-process. See the [module](self).
pub struct TestClient {
    router: Rc<Router>,
    max_body_bytes: u64,
    headers: HeaderMap,
}

impl TestClient {
    /// A client of `router`. Its startup hooks do not run (see
    /// [`start`](TestClient::start)).
    pub fn new(router: Router) -> TestClient {
        TestClient {
            router: Rc::new(router),
            max_body_bytes: 1024 * 1024,
            headers: HeaderMap::new(),
        }
    }

    /// A client of `router` after running its startup hooks (Starlette's
    /// `with TestClient(app)` lifespan); [`shutdown`](TestClient::shutdown)
    /// runs its shutdown hooks.
    ///
    /// # Cancel safety
    /// Dropping it abandons the hooks where they are.
    pub async fn start(mut router: Router) -> TestClient {
        for hook in std::mem::take(&mut router.startup) {
            hook().await;
        }
        TestClient::new(router)
    }

    /// Runs the router's shutdown hooks.
    ///
    /// # Cancel safety
    /// Dropping it abandons the hooks where they are.
    pub async fn shutdown(self) {
        if let Ok(mut router) = Rc::try_unwrap(self.router) {
            for hook in std::mem::take(&mut router.shutdown) {
                hook().await;
            }
        }
    }

    /// The request body limit (the server's default, 1 MiB, unless set).
    pub fn max_body_bytes(mut self, limit: u64) -> TestClient {
        self.max_body_bytes = limit;
        self
    }

    /// A header sent with every request (a token, say).
    ///
    /// # Panics
    /// If the name or value is not valid in HTTP.
    pub fn default_header(mut self, name: &str, value: &str) -> TestClient {
        self.headers.insert(header_name(name), header_value(value));
        self
    }

    /// A request with this method to `uri` (a path and query:
    /// `/items?limit=2`).
    pub fn request(&self, method: Method, uri: &str) -> TestRequest<'_> {
        TestRequest {
            client: self,
            method,
            uri: uri.to_owned(),
            headers: self.headers.clone(),
            body: Bytes::new(),
        }
    }

    /// `GET uri`.
    pub fn get(&self, uri: &str) -> TestRequest<'_> {
        self.request(Method::GET, uri)
    }

    /// `POST uri`.
    pub fn post(&self, uri: &str) -> TestRequest<'_> {
        self.request(Method::POST, uri)
    }

    /// `PUT uri`.
    pub fn put(&self, uri: &str) -> TestRequest<'_> {
        self.request(Method::PUT, uri)
    }

    /// `PATCH uri`.
    pub fn patch(&self, uri: &str) -> TestRequest<'_> {
        self.request(Method::PATCH, uri)
    }

    /// `DELETE uri`.
    pub fn delete(&self, uri: &str) -> TestRequest<'_> {
        self.request(Method::DELETE, uri)
    }

    /// `HEAD uri`.
    pub fn head(&self, uri: &str) -> TestRequest<'_> {
        self.request(Method::HEAD, uri)
    }

    /// `OPTIONS uri`.
    pub fn options(&self, uri: &str) -> TestRequest<'_> {
        self.request(Method::OPTIONS, uri)
    }
}

impl fmt::Debug for TestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestClient")
            .field("router", &self.router)
            .finish_non_exhaustive()
    }
}

fn header_name(name: &str) -> HeaderName {
    HeaderName::from_bytes(name.as_bytes()).unwrap_or_else(|_| panic!("{name:?} is not a header name"))
}

fn header_value(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap_or_else(|_| panic!("{value:?} is not a header value"))
}

/// A request being built by a [`TestClient`].
#[must_use = "a request does nothing until sent"]
pub struct TestRequest<'a> {
    client: &'a TestClient,
    method: Method,
    uri: String,
    headers: HeaderMap,
    body: Bytes,
}

impl TestRequest<'_> {
    /// Sets a header (replacing one of that name).
    ///
    /// # Panics
    /// If the name or value is not valid in HTTP.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.insert(header_name(name), header_value(value));
        self
    }

    /// The body, as it is.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// A JSON body, with `Content-Type: application/json`.
    ///
    /// # Panics
    /// If `value` does not serialize.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        self.body = serde_json::to_vec(value).expect("the JSON body serializes").into();
        self.headers
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        self
    }

    /// A form body (`application/x-www-form-urlencoded`).
    ///
    /// # Panics
    /// If `value` does not serialize as a form.
    pub fn form<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        self.body = serde_urlencoded::to_string(value).expect("the form serializes").into();
        self.headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        self
    }

    /// Sends the request and returns the response with its body read
    /// whole; background jobs the handler queued have run when it returns.
    /// A handler that panics gives a `500` (and a report), as from the
    /// server.
    ///
    /// # Panics
    /// If the URI is malformed, or the body fails while it is read.
    ///
    /// # Cancel safety
    /// Dropping it abandons the request, as a client that disconnects.
    pub async fn send(self) -> TestResponse {
        let head = self.method == Method::HEAD;
        let (response, jobs) = self.run().await;
        let (parts, body) = response.into_parts();
        let body = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => panic!("the response body failed: {e}"),
        };
        for job in jobs {
            job.await;
        }
        TestResponse {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            body: if head { Bytes::new() } else { body },
        }
    }

    /// Sends the request and returns the response as the handler made it,
    /// its body unread (for streams and event sources: read them with
    /// `http_body_util::BodyExt::frame`). Background jobs are dropped.
    ///
    /// # Panics
    /// If the URI is malformed.
    ///
    /// # Cancel safety
    /// Dropping it abandons the request.
    pub async fn send_streaming(self) -> Response {
        self.run().await.0
    }

    async fn run(self) -> (Response, Vec<crate::util::LocalFuture>) {
        let mut builder = http::Request::builder().method(self.method).uri(self.uri.as_str());
        if let Some(h) = builder.headers_mut() {
            *h = self.headers;
        }
        let (parts, ()) = builder
            .body(())
            .unwrap_or_else(|e| panic!("bad request for the test client ({}): {e}", self.uri))
            .into_parts();
        let (method, path) = (parts.method.clone(), parts.uri.path().to_owned());
        let req = Request::new(parts, RequestBody::from_bytes(self.body, self.client.max_body_bytes));
        let background = req.background().clone();
        let response = match CatchUnwind::new(self.client.router.dispatch(req)).await {
            Ok(r) => r,
            Err(msg) => {
                report::handler_panicked(&method, &path, &msg);
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        };
        (response, background.take())
    }
}

/// A response read whole by [`TestRequest::send`].
#[derive(Clone)]
pub struct TestResponse {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
}

impl TestResponse {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// One header as text (`None` if absent or not visible ASCII).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body.
    pub fn bytes(&self) -> &Bytes {
        &self.body
    }

    /// The body as text.
    ///
    /// # Panics
    /// If it is not UTF-8.
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("the response body is UTF-8")
    }

    /// The body as JSON.
    ///
    /// # Panics
    /// If it is not JSON of that shape (the message shows the body).
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "the response body is not the JSON asked for ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

impl fmt::Debug for TestResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}
