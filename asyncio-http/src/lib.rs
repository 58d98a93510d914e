//! An HTTP/1.1 and WebSocket server on the asyncio event loop: the ASGI
//! server of the seeds (uvicorn + Starlette's routing, streaming and
//! background tasks), with FastAPI's framework on top (typed extractors,
//! JSON, middleware, OpenAPI, an in-process test client), in Rust.
//!
//! hyper does the HTTP/1.1 protocol; this crate runs it on `asyncio`'s loop
//! (hyper's I/O and timer traits implemented on the loop's sockets and
//! clock; no tokio runtime anywhere), and adds what a deployed server needs
//! around it: a router, streamed responses and Server-Sent Events,
//! WebSockets (tungstenite), background jobs that shutdown waits for,
//! limits against slow or malformed clients, and one loop per core.
//!
//! ```no_run
//! use std::time::Duration;
//! use asyncio_http::{Request, Router, Server};
//!
//! async fn hello(_req: Request) -> &'static str {
//!     "Hello, world!"
//! }
//!
//! async fn slow(_req: Request) -> &'static str {
//!     asyncio::sleep(Duration::from_millis(100)).await; // a database call, say
//!     "done"
//! }
//!
//! #[asyncio::main]
//! async fn main() -> std::io::Result<()> {
//!     Server::bind("127.0.0.1:8080")
//!         .serve(|| Router::new().get("/", hello).get("/slow", slow))
//!         .await
//! }
//! ```
//!
//! # Python names
//!
//! | Python (uvicorn, Starlette, FastAPI) | here |
//! |---|---|
//! | `uvicorn.run(app, host, port, workers=N)` | [`Server::bind`]`(addr).workers(N).serve(app)` |
//! | `@app.get("/users/{id}")`, `request.path_params["id"]` | [`Router::get`]`("/users/{id}", h)`, [`Request::param`]`("id")` |
//! | `await request.body()`, `request.stream()` | [`Request::bytes`], [`RequestBody::chunk`] |
//! | `PlainTextResponse`, `HTMLResponse`, `Response(status_code=...)` | `String`, [`Html`], `(StatusCode, body)` via [`IntoResponse`] |
//! | `StreamingResponse(generator)` | [`Body::writer`], [`Body::from_stream`] |
//! | `EventSourceResponse` (sse-starlette) | [`sse::response`] |
//! | `BackgroundTasks.add_task(f)` | [`Request::background`]`().add(fut)` |
//! | `@app.websocket("/ws")`, `websocket.accept()` | [`Request::websocket`] |
//! | `lifespan` startup/shutdown | [`Router::on_startup`], [`Router::on_shutdown`] |
//! | `--timeout-keep-alive`, `--limit-concurrency`, `--timeout-graceful-shutdown` | [`Server::keep_alive_timeout`], [`Server::max_connections`], [`Server::graceful_timeout`] |
//! | Starlette's `TestClient(app)` | [`testing::TestClient`] (in-process, no socket); [`RunningServer::connect_local`] (a real connection with no network in between) |
//! | FastAPI's typed parameters: path, query, body (pydantic), `Form`, `Header`, `Depends` | [`extract`]: [`Path`](extract::Path), [`Query`](extract::Query), [`Json`], [`Form`](extract::Form), `HeaderMap`, your own [`FromRequestParts`](extract::FromRequestParts) |
//! | `app.state`, `request.state` | [`Router::with_state`] + [`State`](extract::State), [`Request::insert_local`] + [`Extension`](extract::Extension) |
//! | `RequestValidationError` (`422 {"detail": [...]}`), `HTTPException` | [`extract::Rejection`] (the same shape), any `E: IntoResponse` in `Result<T, E>` |
//! | `@app.middleware("http")`, `CORSMiddleware`, `GZipMiddleware` | [`middleware`]: [`Router::layer`], [`middleware::Cors`], [`middleware::Compression`], [`middleware::AccessLog`], [`middleware::Timeout`], [`middleware::BodyLimit`] |
//! | `app.include_router(r, prefix=...)` | [`Router::nest`], [`Router::merge`] |
//! | `/openapi.json`, `/docs` | `Router::openapi` (feature `openapi`, utoipa) |
//! | `StaticFiles(directory=...)`, `FileResponse` | [`static_files::ServeDir`], [`static_files::serve_file`] (ETag, ranges, conditional requests) |
//! | `UploadFile`, `Form` fields of `multipart/form-data` | [`multipart::Multipart`] (streamed to disk, size limits) |
//! | `request.cookies`, `response.set_cookie`, `delete_cookie` | [`cookies::Cookies`], [`cookies::set`], [`cookies::remove`] |
//! | `--ssl-certfile`, `--ssl-keyfile` | [`Server::tls`]`(ServerContext::from_pem_files(cert, key)?)` (feature `tls`) |
//! | `request.url.scheme == "https"`, ASGI's TLS extension (client certificate) | [`Request::tls_info`] |
//!
//! # HTTPS and WSS
//!
//! With the `tls` feature (on by default: asyncio's TLS, rustls with the
//! ring provider, no OpenSSL), [`Server::tls`] serves the same router over
//! TLS, WebSockets included (`wss://`), from every worker loop with one
//! shared [`asyncio::tls::ServerContext`]. Each connection's handshake runs
//! in the connection's own task within the context's handshake timeout
//! (60 s by default, asyncio's), and counts against the connection limit;
//! a client that fails it (plaintext, garbage, a stall, a certificate it
//! does not trust) loses only its connection, logged at debug level
//! through `tracing`. The limits and timeouts below start once the
//! handshake is done; the end of a connection sends TLS's `close_notify`.
//! A handler reads what was negotiated (and, under mutual TLS, the
//! client's certificate) with [`Request::tls_info`].
//!
//! ```no_run
//! use asyncio::tls::ServerContext;
//! use asyncio_http::{Request, Router, Server};
//!
//! async fn hello(_req: Request) -> &'static str {
//!     "Hello over TLS!"
//! }
//!
//! #[asyncio::main]
//! async fn main() -> std::io::Result<()> {
//!     let tls = ServerContext::builder()
//!         .cert_pem_files("cert.pem", "key.pem")?
//!         .alpn(["h2", "http/1.1"]) // offer HTTP/2 (browsers need it offered)
//!         .build()?;
//!     Server::bind("127.0.0.1:8443")
//!         .tls(tls)
//!         .serve(|| Router::new().get("/", hello))
//!         .await
//! }
//! ```
//!
//! # Limits and malformed requests
//!
//! | what | default | past it |
//! |---|---|---|
//! | request line + headers | 16 KiB, 100 lines | `431`, connection closed |
//! | time to send a request head (slowloris) | 10 s | connection closed |
//! | idle keep-alive connection | 5 s | closed |
//! | request body | 1 MiB | `413` (before the handler if declared), closed |
//! | open connections per worker | 10,000 | `503` with `Retry-After: 1`, closed |
//! | WebSocket message or frame | 16 MiB | close code 1009 |
//!
//! Ambiguous framing is refused with `400` and a closed connection: two
//! `Content-Length`s (equal or not), a list or a malformed number, a transfer
//! coding other than a final `chunked`, `Transfer-Encoding` in HTTP/1.0,
//! whitespace before a header's colon, folded headers, and bad chunk sizes
//! (also when the handler never reads the body: the server reads the rest
//! before answering), and both `Content-Length` and `Transfer-Encoding`, or
//! the same length twice (hyper would frame the first by its coding and
//! merge the second; the server re-reads the raw head for these). A
//! handler that panics is answered `500`; the connection, the loop and
//! every other request go on.
//!
//! `Host` is checked as RFC 9112 (section 3.2) requires and hyper does not:
//! an HTTP/1.1 request without one, any request with more than one, or
//! one whose value is not `host[:port]` (user information, a port that is
//! not digits) is answered `400` and the connection closed. For an
//! absolute-form target (`GET http://example.com/ HTTP/1.1`, as proxies
//! send), handlers see the target's host as `Host` (section 3.2.2). A
//! target form that does not fit the method is `400` too: `host:port`
//! other than with `CONNECT`, `CONNECT` with anything else, `*` other than
//! with `OPTIONS` (sections 3.2.3 and 3.2.4).
//!
//! # HTTP/2
//!
//! Served on hyper's HTTP/2 with the loop as its executor and timer (each
//! stream a task on the connection's loop, no `Send` bound): over TLS to
//! clients whose ALPN chose `h2`, and in cleartext to clients that open
//! with its preface (prior knowledge, h2c), told from HTTP/1.x on the same
//! port by the connection's first bytes ([`Server::http2`] turns it off).
//! Routing, extractors, streaming bodies, Server-Sent Events, background
//! jobs, the body limit, panics answered `500`, the idle timeout and
//! graceful shutdown (`GOAWAY`, then the open streams finish) work the same
//! on both protocols. At most 128 streams per connection at once
//! ([`Server::http2_max_concurrent_streams`]); headers past the header
//! limit are refused as the h2 crate does. WebSockets work over HTTP/2 too
//! (RFC 8441's extended `CONNECT`, which browsers use when the page came
//! over HTTP/2): the same `get` route and handler serve both. The h2 crate
//! uses tokio's I/O traits and tokio-util's codec only: no tokio runtime.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The modules form layers: each uses only modules named before it here
// (.ci/check_layers.py fails CI on an import cycle).
//
//   report, util, framing, body, rt, transport, typemap   leaves and helpers
//   worker         the per-loop context: limits, shutdown event, task group
//   upgrade        the slot a WebSocket handshake fills (request side)
//   request, response, sse
//   extract        typed extractors (FromRequest, Json, Path, State, ...)
//   handler        Handler<Args> over extractors, the erased Endpoint
//   middleware     Middleware, Next, the built-in layers
//   router, ws, static_files, cookies, multipart
//   openapi        Router::openapi (feature openapi)
//   testing        the in-process TestClient
//   conn           one connection: hyper, the service, the timers
//   server         the public builder, listeners and worker loops
#[cfg(fuzzing)]
#[doc(hidden)]
#[path = "fuzz_entry.rs"]
pub mod __fuzz;
mod body;
pub mod client;
mod conn;
pub mod cookies;
pub mod extract;
mod forwarded;
mod framing;
mod handler;
pub mod middleware;
pub mod multipart;
#[cfg(feature = "openapi")]
pub mod openapi;
mod report;
mod request;
mod response;
mod router;
mod rt;
mod server;
pub mod sse;
pub mod static_files;
pub mod testing;
mod transport;
mod typemap;
mod upgrade;
mod util;
mod worker;
pub mod ws;

pub use body::{Body, BodyError, BodyWriter, RequestBody};
pub use extract::Json;
pub use handler::{Handler, HandlerFuture};
pub use request::{Background, Request};
pub use response::{Html, HttpError, IntoResponse, Response};
pub use router::Router;
pub use server::{RunningServer, Server, ServerHandle};
pub use worker::ShutdownSignal;

pub use http::{self, Method, StatusCode};
