//! The per-loop worker context every connection, WebSocket and background
//! job shares: the limits, the shutdown event and the task group that owns
//! everything the worker started.
//!
//! It sits below the request side ([`Request`](crate::Request) and
//! [`WebSocket`](crate::ws::WebSocket) hold it for their shutdown signal and
//! background jobs) and below the connection and the server, which fill it
//! in: it knows nothing of routers or connections itself.

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use asyncio::sync::Event;
use asyncio::TaskGroup;

use crate::report;
use crate::util::CatchUnwind;

/// The limits and timeouts every connection is held to.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) max_header_bytes: usize,
    pub(crate) max_headers: usize,
    pub(crate) max_uri_bytes: usize,
    pub(crate) header_read_timeout: Duration,
    pub(crate) keep_alive_timeout: Duration,
    pub(crate) send_timeout: Duration,
    pub(crate) max_body_bytes: u64,
    pub(crate) max_connections: usize,
    pub(crate) graceful_timeout: Duration,
    pub(crate) ws_max_message: usize,
    pub(crate) ws_max_frame: usize,
    pub(crate) ws_deflate: crate::ws::deflate::WsDeflate,
    /// Serve HTTP/2: cleartext connections that open with its preface
    /// (prior knowledge, h2c) and TLS connections whose ALPN chose `h2`.
    pub(crate) http2: bool,
    pub(crate) h2_max_concurrent_streams: u32,
    pub(crate) h2_max_pending_accept_reset_streams: usize,
    pub(crate) h2_max_local_error_reset_streams: usize,
    /// Proxies whose `X-Forwarded-*` headers are believed.
    pub(crate) trusted_proxies: crate::forwarded::TrustedProxies,
    /// A `trusted_proxies` entry that did not parse (`start` refuses it).
    pub(crate) bad_proxy: Option<String>,
    /// Serve every connection (accepted or in-process) over TLS.
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<asyncio::tls::ServerContext>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_header_bytes: 16 * 1024,
            max_headers: 100,
            max_uri_bytes: 8 * 1024,
            header_read_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(5),
            send_timeout: Duration::from_secs(60),
            max_body_bytes: 1024 * 1024,
            max_connections: 10_000,
            graceful_timeout: Duration::from_secs(30),
            ws_max_message: 16 * 1024 * 1024,
            ws_max_frame: 16 * 1024 * 1024,
            ws_deflate: crate::ws::deflate::WsDeflate::default(),
            http2: true,
            h2_max_concurrent_streams: 128,
            h2_max_pending_accept_reset_streams: 20,
            h2_max_local_error_reset_streams: 1024,
            trusted_proxies: Default::default(),
            bad_proxy: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

/// Fires when the server begins a graceful shutdown (from
/// [`Request::shutdown_signal`](crate::Request::shutdown_signal) or
/// [`WebSocket::shutdown_signal`](crate::ws::WebSocket::shutdown_signal)).
#[derive(Clone)]
pub struct ShutdownSignal {
    pub(crate) worker: Option<Rc<Worker>>,
}

impl ShutdownSignal {
    /// Completes once shutdown has begun. Never completes for a request
    /// made with [`Request::new`](crate::Request::new).
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn wait(&self) {
        match &self.worker {
            Some(w) => w.shutdown.wait().await,
            None => std::future::pending().await,
        }
    }

    /// True once shutdown has begun.
    pub fn is_set(&self) -> bool {
        self.worker.as_ref().is_some_and(|w| w.shutdown.is_set())
    }
}

impl fmt::Debug for ShutdownSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShutdownSignal").field("set", &self.is_set()).finish()
    }
}

/// One worker loop's shared state.
pub(crate) struct Worker {
    pub(crate) config: Arc<Config>,
    /// Set when the graceful shutdown starts.
    pub(crate) shutdown: Event,
    /// Connections, WebSockets and background jobs.
    pub(crate) tasks: TaskGroup,
    /// Open connections (counted against `max_connections`).
    pub(crate) connections: Cell<usize>,
}

impl Worker {
    /// Runs `job` as a child of the worker's task group. A panic in it is
    /// reported and goes no further. Refused (and reported) once the group
    /// has been cancelled at the end of shutdown.
    pub(crate) fn spawn(&self, what: &'static str, job: impl std::future::Future<Output = ()> + 'static) {
        let caught = CatchUnwind::new(job);
        let r = self.tasks.create_task(async move {
            if let Err(msg) = caught.await {
                report::error(format_args!("asyncio-http: {what} panicked: {msg}"));
            }
        });
        if r.is_err() {
            report::error(format_args!(
                "asyncio-http: a {what} was dropped: the server finished shutting down"
            ));
        }
    }
}
