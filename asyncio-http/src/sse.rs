//! Server-Sent Events: a `text/event-stream` response written by a
//! producer future, one [`Event`] at a time.
//!
//! ```
//! use std::time::Duration;
//! use asyncio_http::{sse, Request, Response};
//!
//! async fn clock(_req: Request) -> Response {
//!     sse::response(|events| async move {
//!         for tick in 0.. {
//!             events.send(sse::Event::data(format!("tick {tick}")).id(tick.to_string())).await;
//!             asyncio::sleep(Duration::from_secs(1)).await;
//!         }
//!         Ok::<(), std::io::Error>(())
//!     })
//! }
//! ```
//!
//! The producer runs only while the client is connected (it lives in the
//! response body, see [`Body::writer`]); it ends when the client leaves.

use std::error::Error;
use std::fmt::{self, Write as _};
use std::future::Future;
use std::time::Duration;

use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};

use crate::body::{Body, BodyWriter};
use crate::response::Response;

/// One event: `data` lines, and optionally a type, an id and a reconnect
/// delay.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    data: Option<String>,
    event: Option<String>,
    id: Option<String>,
    retry: Option<Duration>,
    comment: Option<String>,
}

impl Event {
    /// An event carrying `data` (several lines become several `data:`
    /// fields; the client joins them with newlines).
    pub fn data(data: impl Into<String>) -> Event {
        Event {
            data: Some(data.into()),
            ..Event::default()
        }
    }

    /// A comment line only: clients ignore it, proxies see traffic (a
    /// keep-alive).
    pub fn comment(text: impl Into<String>) -> Event {
        Event {
            comment: Some(text.into()),
            ..Event::default()
        }
    }

    /// The event type (`event:`; the client's listener name).
    pub fn event(mut self, name: impl Into<String>) -> Event {
        self.event = Some(name.into());
        self
    }

    /// The event id (`id:`; sent back as `Last-Event-ID` on reconnect).
    pub fn id(mut self, id: impl Into<String>) -> Event {
        self.id = Some(id.into());
        self
    }

    /// How long the client waits before reconnecting (`retry:`).
    pub fn retry(mut self, delay: Duration) -> Event {
        self.retry = Some(delay);
        self
    }

    /// The event in the wire format, ending with its blank line. Line
    /// breaks inside the type or id (which would forge fields) are removed.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let one_line = |s: &str| s.replace(['\r', '\n'], "");
        // A bare CR ends a line for the client too: normalise every line
        // break, so text cannot start a forged field.
        let lines = |s: &str| s.replace("\r\n", "\n").replace('\r', "\n");
        if let Some(c) = &self.comment {
            for line in lines(c).split('\n') {
                let _ = writeln!(out, ": {line}");
            }
        }
        if let Some(e) = &self.event {
            let _ = writeln!(out, "event: {}", one_line(e));
        }
        if let Some(id) = &self.id {
            let _ = writeln!(out, "id: {}", one_line(id));
        }
        if let Some(r) = self.retry {
            let _ = writeln!(out, "retry: {}", r.as_millis());
        }
        if let Some(d) = &self.data {
            // Empty data is one empty `data:` line (the client's buffer is
            // then empty, and the event is still dispatched).
            for line in lines(d).split('\n') {
                let _ = writeln!(out, "data: {line}");
            }
        }
        out.push('\n');
        out
    }
}

/// Where an event-stream producer sends its events.
pub struct EventSender {
    writer: BodyWriter,
}

impl EventSender {
    /// Sends one event; returns once the connection has taken it.
    ///
    /// # Cancel safety
    /// As [`BodyWriter::send`].
    pub async fn send(&self, event: Event) {
        self.writer.send(event.encode()).await;
    }

    /// True once the response is gone (its client left).
    pub fn is_closed(&self) -> bool {
        self.writer.is_closed()
    }
}

impl fmt::Debug for EventSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSender").finish_non_exhaustive()
    }
}

/// An event-stream response whose events `produce` sends.
pub fn response<F, Fut, E>(produce: F) -> Response
where
    F: FnOnce(EventSender) -> Fut,
    Fut: Future<Output = Result<(), E>> + 'static,
    E: Into<Box<dyn Error + Send + Sync>>,
{
    let body = Body::writer(|writer| produce(EventSender { writer }));
    let mut r = http::Response::new(body);
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}
