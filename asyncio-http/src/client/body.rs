//! A request's body: nothing, bytes (sent with a `Content-Length`, and
//! sent again if a redirect or a retry needs it), or a stream (chunked,
//! sent once).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use asyncio::time::Instant;

use bytes::Bytes;
use futures_core::Stream;
use http_body::{Frame, SizeHint};

/// What a request sends.
pub struct Body {
    pub(crate) kind: Kind,
    /// A streamed body's end, for the request's read timer (see
    /// [`Body::watch_upload`]).
    upload: Option<Upload>,
}

/// A streamed body's progress, for the request's read timer: a producer
/// that pauses between chunks is not a server that does not answer, but a
/// body hyper has stopped taking (the server grants no more flow-control
/// window, or does not read) is.
pub(crate) type Upload = Rc<UploadState>;

/// See [`Upload`].
pub(crate) struct UploadState {
    /// When the stream ended (gave its last item, failed, or the body was
    /// dropped).
    ended: Cell<Option<Instant>>,
    /// The stream itself is pending: the request waits for its producer.
    producing: Cell<bool>,
    /// When the stream last gave a chunk (or the body was made).
    last_chunk: Cell<Instant>,
    /// Dropped when the stream ends (an HTTP/2 stream's place among its
    /// connection's streams in flight, see `Held::H2`).
    held: RefCell<Option<Box<dyn Any>>>,
}

impl Default for UploadState {
    fn default() -> Self {
        UploadState {
            ended: Cell::new(None),
            producing: Cell::new(false),
            last_chunk: Cell::new(Instant::now()),
            held: RefCell::new(None),
        }
    }
}

impl UploadState {
    /// Since when the request has been waiting for the server rather than
    /// for its own body (`now` while the producer is pending): with the
    /// connection's last write, where the read timeout counts from.
    pub(crate) fn quiet_since(&self, now: Instant) -> Instant {
        match self.ended.get() {
            Some(ended) => ended,
            None if self.producing.get() => now,
            None => self.last_chunk.get(),
        }
    }

    /// Whether the stream has not ended yet.
    pub(crate) fn in_progress(&self) -> bool {
        self.ended.get().is_none()
    }

    /// Keeps `guard` until the stream ends (dropped at once if it has).
    pub(crate) fn hold_until_end(&self, guard: Box<dyn Any>) {
        if self.in_progress() {
            *self.held.borrow_mut() = Some(guard);
        }
    }
}

pub(crate) enum Kind {
    Empty,
    Bytes(Bytes),
    Stream(Pin<Box<dyn Stream<Item = io::Result<Bytes>>>>),
}

impl Body {
    /// No body.
    pub fn empty() -> Body {
        Body::of(Kind::Empty)
    }

    fn of(kind: Kind) -> Body {
        Body { kind, upload: None }
    }

    /// For a streamed body, the cell its end is written to.
    pub(crate) fn watch_upload(&mut self) -> Option<Upload> {
        if !matches!(self.kind, Kind::Stream(_)) {
            return None;
        }
        let upload = self.upload.get_or_insert_with(Upload::default);
        Some(upload.clone())
    }

    fn ended(&mut self) {
        if let Some(upload) = &self.upload {
            upload.producing.set(false);
            if upload.ended.get().is_none() {
                upload.ended.set(Some(Instant::now()));
            }
            // (Taken out of the cell before it drops: its drop may run
            // the pool.)
            let held = upload.held.borrow_mut().take();
            drop(held);
        }
    }

    /// Notes what the stream's poll gave (a chunk, or nothing yet).
    fn polled(&self, pending: bool) {
        if let Some(upload) = &self.upload {
            upload.producing.set(pending);
            if !pending {
                upload.last_chunk.set(Instant::now());
            }
        }
    }

    /// A body read from `stream` as it is sent (chunked transfer
    /// encoding): a file, a generator. It is sent once: a redirect that
    /// would send it again (307, 308) is returned to the caller instead,
    /// and a request with one is not retried.
    pub fn from_stream<S>(stream: S) -> Body
    where
        S: Stream<Item = io::Result<Bytes>> + 'static,
    {
        Body::of(Kind::Stream(Box::pin(stream)))
    }

    /// A copy for sending again, if the body can be sent again.
    pub(crate) fn try_clone(&self) -> Option<Body> {
        match &self.kind {
            Kind::Empty => Some(Body::empty()),
            Kind::Bytes(b) => Some(Body::of(Kind::Bytes(b.clone()))),
            Kind::Stream(_) => None,
        }
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        self.ended();
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Empty => f.write_str("Body::empty()"),
            Kind::Bytes(b) => write!(f, "Body({} bytes)", b.len()),
            Kind::Stream(_) => f.write_str("Body(stream)"),
        }
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Body {
        Body::of(Kind::Bytes(bytes))
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Body {
        Body::from(Bytes::from(bytes))
    }
}

impl From<String> for Body {
    fn from(text: String) -> Body {
        Body::from(Bytes::from(text))
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Body {
        Body::from(Bytes::from_static(text.as_bytes()))
    }
}

impl From<&'static [u8]> for Body {
    fn from(bytes: &'static [u8]) -> Body {
        Body::from(Bytes::from_static(bytes))
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        match &mut this.kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Bytes(_) => match std::mem::replace(&mut this.kind, Kind::Empty) {
                Kind::Bytes(b) if !b.is_empty() => Poll::Ready(Some(Ok(Frame::data(b)))),
                _ => Poll::Ready(None),
            },
            Kind::Stream(s) => match s.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(b))) => {
                    this.polled(false);
                    Poll::Ready(Some(Ok(Frame::data(b))))
                }
                Poll::Ready(Some(Err(e))) => {
                    this.ended();
                    Poll::Ready(Some(Err(e)))
                }
                Poll::Ready(None) => {
                    this.kind = Kind::Empty;
                    this.ended();
                    Poll::Ready(None)
                }
                Poll::Pending => {
                    this.polled(true);
                    Poll::Pending
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Bytes(b) => b.is_empty(),
            Kind::Stream(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Bytes(b) => SizeHint::with_exact(b.len() as u64),
            Kind::Stream(_) => SizeHint::default(),
        }
    }
}
