//! Bodies: [`Body`] for responses (whole, streamed, or written by a
//! producer future) and [`RequestBody`] for requests (streamed, with the
//! server's size limit).
//!
//! A streamed response pulls: hyper asks for the next chunk only when the
//! connection can take it, so a producer that writes faster than the
//! client reads waits in [`BodyWriter::send`] (back-pressure). The
//! producer future lives *inside* the body: when the client goes away the
//! connection drops the body, and with it the producer, at its current
//! `await` (its destructors run, as cancellation always does here).

use std::cell::RefCell;
use std::error::Error;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures_core::Stream;
use http_body::{Frame, SizeHint};

type BoxError = Box<dyn Error + Send + Sync>;

/// A response body.
///
/// ```
/// use asyncio_http::Body;
/// let whole = Body::from("Hello, world!");
/// let empty = Body::empty();
/// let written = Body::writer(|w| async move {
///     w.send("chunk 1\n").await;
///     w.send("chunk 2\n").await;
///     Ok::<(), std::io::Error>(())
/// });
/// # drop((whole, empty, written));
/// ```
pub struct Body {
    kind: Kind,
}

enum Kind {
    Full(Option<Bytes>),
    Stream(Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>>>>),
    Writer(Pin<Box<WriterBody>>),
}

impl Body {
    /// No bytes.
    pub fn empty() -> Body {
        Body { kind: Kind::Full(None) }
    }

    /// A body sent as it is produced by a [`Stream`] of chunks (chunked
    /// transfer encoding). An `Err` item aborts the response (the client
    /// sees a truncated body, never a complete-looking one).
    pub fn from_stream<S, B, E>(stream: S) -> Body
    where
        S: Stream<Item = Result<B, E>> + 'static,
        B: Into<Bytes>,
        E: Into<BoxError>,
    {
        Body {
            kind: Kind::Stream(Box::pin(MapStream { inner: stream })),
        }
    }

    /// A body written by a producer future, chunk by chunk, through the
    /// [`BodyWriter`] it is given (asyncio's `StreamingResponse` over an
    /// async generator). The producer runs only while the client reads: it
    /// is polled by the connection, waits in [`BodyWriter::send`] while the
    /// previous chunk is unsent, and is dropped if the client disconnects.
    /// An `Err` from it aborts the response.
    pub fn writer<F, Fut, E>(produce: F) -> Body
    where
        F: FnOnce(BodyWriter) -> Fut,
        Fut: Future<Output = Result<(), E>> + 'static,
        E: Into<BoxError>,
    {
        let slot = Rc::new(RefCell::new(Slot::default()));
        let fut = produce(BodyWriter { slot: slot.clone() });
        Body {
            kind: Kind::Writer(Box::pin(WriterBody {
                producer: Some(Box::pin(async move { fut.await.map_err(Into::into) })),
                slot,
            })),
        }
    }
}

impl Body {
    /// The bytes of a body given whole (empty for [`Body::empty`]); `None`
    /// for a streamed or written one.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match &self.kind {
            Kind::Full(b) => Some(b.as_deref().unwrap_or(&[])),
            Kind::Stream(_) | Kind::Writer(_) => None,
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Full(b) => format!("Full({} bytes)", b.as_ref().map_or(0, Bytes::len)),
            Kind::Stream(_) => "Stream".to_owned(),
            Kind::Writer(_) => "Writer".to_owned(),
        };
        f.debug_struct("Body").field("kind", &kind).finish()
    }
}

macro_rules! body_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Body {
            fn from(b: $t) -> Body {
                let b = Bytes::from(b);
                Body { kind: Kind::Full(if b.is_empty() { None } else { Some(b) }) }
            }
        }
    )*};
}
body_from!(Bytes, Vec<u8>, String, &'static str, &'static [u8]);

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().kind {
            Kind::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::Stream(s) => s.as_mut().poll_next(cx).map(|o| o.map(|r| r.map(Frame::data))),
            Kind::Writer(w) => w.as_mut().poll_chunk(cx).map(|o| o.map(|r| r.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.kind, Kind::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            _ => SizeHint::default(),
        }
    }
}

pin_project_lite::pin_project! {
    struct MapStream<S> {
        #[pin]
        inner: S,
    }
}

impl<S, B, E> Stream for MapStream<S>
where
    S: Stream<Item = Result<B, E>>,
    B: Into<Bytes>,
    E: Into<BoxError>,
{
    type Item = Result<Bytes, BoxError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match self.as_mut().project().inner.poll_next(cx) {
                Poll::Ready(Some(Ok(b))) => {
                    let b: Bytes = b.into();
                    // An empty chunk would end a chunked body early.
                    if !b.is_empty() {
                        return Poll::Ready(Some(Ok(b)));
                    }
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

type Producer = Pin<Box<dyn Future<Output = Result<(), BoxError>>>>;

/// The hand-off between a [`BodyWriter`] and its body: one chunk at a time.
#[derive(Default)]
struct Slot {
    chunk: Option<Bytes>,
    /// The connection waiting for a chunk (when the writer is in another
    /// task than the body's own producer).
    body: Option<Waker>,
    /// The writer waiting for its chunk to be taken.
    writer: Option<Waker>,
    /// The body is gone (the response ended or the client left).
    closed: bool,
}

struct WriterBody {
    producer: Option<Producer>,
    slot: Rc<RefCell<Slot>>,
}

impl WriterBody {
    fn poll_chunk(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BoxError>>> {
        let this = self.get_mut();
        this.slot.borrow_mut().body = None;
        if let Some(b) = this.take_chunk() {
            return Poll::Ready(Some(Ok(b)));
        }
        if let Some(producer) = this.producer.as_mut() {
            if let Poll::Ready(r) = producer.as_mut().poll(cx) {
                this.producer = None;
                if let Err(e) = r {
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
        if let Some(b) = this.take_chunk() {
            return Poll::Ready(Some(Ok(b)));
        }
        let mut slot = this.slot.borrow_mut();
        // Done when the producer has finished and no writer it gave away
        // is left (the writer's handle counts as one holder of the slot).
        if this.producer.is_none() && Rc::strong_count(&this.slot) == 1 {
            return Poll::Ready(None);
        }
        slot.body = Some(cx.waker().clone());
        Poll::Pending
    }

    fn take_chunk(&mut self) -> Option<Bytes> {
        let mut slot = self.slot.borrow_mut();
        let chunk = slot.chunk.take()?;
        if let Some(w) = slot.writer.take() {
            w.wake();
        }
        Some(chunk)
    }
}

impl Drop for WriterBody {
    fn drop(&mut self) {
        let mut slot = self.slot.borrow_mut();
        slot.closed = true;
        slot.chunk = None;
        if let Some(w) = slot.writer.take() {
            w.wake();
        }
    }
}

/// The producer's end of a [`Body::writer`] body. It may be moved to other
/// tasks (a broadcast hub keeping one per client, say); the body ends when
/// the producer has returned and every `BodyWriter` is dropped.
pub struct BodyWriter {
    slot: Rc<RefCell<Slot>>,
}

impl BodyWriter {
    /// Sends one chunk; returns once the connection has taken it (so at
    /// most one chunk waits in memory), or at once if the response is gone
    /// ([`is_closed`](BodyWriter::is_closed)). Empty chunks are skipped.
    ///
    /// # Cancel safety
    /// Dropping the wait after the first poll leaves the chunk queued: it
    /// is sent.
    pub async fn send(&self, chunk: impl Into<Bytes>) {
        let chunk: Bytes = chunk.into();
        if chunk.is_empty() {
            return;
        }
        let mut chunk = Some(chunk);
        poll_fn(|cx| {
            let mut slot = self.slot.borrow_mut();
            if slot.closed {
                return Poll::Ready(());
            }
            if slot.chunk.is_some() {
                slot.writer = Some(cx.waker().clone());
                return Poll::Pending;
            }
            match chunk.take() {
                Some(c) => {
                    slot.chunk = Some(c);
                    slot.writer = Some(cx.waker().clone());
                    if let Some(b) = slot.body.take() {
                        b.wake();
                    }
                    Poll::Pending
                }
                None => Poll::Ready(()),
            }
        })
        .await
    }

    /// True once the response is gone: finished, or its client left.
    pub fn is_closed(&self) -> bool {
        self.slot.borrow().closed
    }
}

impl Drop for BodyWriter {
    fn drop(&mut self) {
        // The body may be waiting for this writer's last word.
        if let Some(b) = self.slot.borrow_mut().body.take() {
            b.wake();
        }
    }
}

impl fmt::Debug for BodyWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyWriter").finish_non_exhaustive()
    }
}

/// Why reading a request body failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum BodyError {
    /// The body is longer than the server's limit
    /// ([`Server::max_body_bytes`](crate::Server::max_body_bytes)); the
    /// response to it is `413 Payload Too Large`.
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The body is malformed (a bad chunk size, say) or ended early (the
    /// client went away); the response to it is `400 Bad Request`.
    Malformed(hyper::Error),
    /// [`Request::text`](crate::Request::text) found bytes that are not
    /// UTF-8; the response to it is `400 Bad Request`.
    NotUtf8,
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::TooLarge { limit } => write!(f, "request body larger than the limit of {limit} bytes"),
            BodyError::Malformed(e) => write!(f, "malformed request body: {e}"),
            BodyError::NotUtf8 => f.write_str("request body is not UTF-8"),
        }
    }
}

impl Error for BodyError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            BodyError::Malformed(e) => Some(e),
            BodyError::TooLarge { .. } | BodyError::NotUtf8 => None,
        }
    }
}

/// State shared by a request's body and the connection that serves it:
/// the connection drains what the handler left unread, so a malformed
/// body is answered with `400` even if the handler never looked at it.
pub(crate) struct BodyState {
    /// Bytes given up front (a request made in-process), read before
    /// `incoming`.
    pub(crate) memory: Option<Bytes>,
    pub(crate) incoming: Option<hyper::body::Incoming>,
    pub(crate) received: u64,
    pub(crate) limit: u64,
    pub(crate) failed: bool,
    /// The handler asked for the body at least once.
    pub(crate) touched: bool,
}

impl BodyState {
    pub(crate) fn new(incoming: hyper::body::Incoming, limit: u64) -> Rc<RefCell<BodyState>> {
        Rc::new(RefCell::new(BodyState {
            memory: None,
            incoming: Some(incoming),
            received: 0,
            limit,
            failed: false,
            touched: false,
        }))
    }

    /// The next data chunk, `None` at the end.
    pub(crate) fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BodyError>>> {
        self.touched = true;
        if let Some(data) = self.memory.take() {
            self.received += data.len() as u64;
            if self.received > self.limit {
                self.incoming = None;
                self.failed = true;
                return Poll::Ready(Some(Err(BodyError::TooLarge { limit: self.limit })));
            }
            return Poll::Ready(Some(Ok(data)));
        }
        loop {
            let Some(incoming) = self.incoming.as_mut() else {
                return Poll::Ready(None);
            };
            match Pin::new(incoming).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    self.incoming = None;
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Err(e))) => {
                    self.incoming = None;
                    self.failed = true;
                    return Poll::Ready(Some(Err(BodyError::Malformed(e))));
                }
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue; // trailers
                    };
                    self.received += data.len() as u64;
                    if self.received > self.limit {
                        self.incoming = None;
                        self.failed = true;
                        return Poll::Ready(Some(Err(BodyError::TooLarge { limit: self.limit })));
                    }
                    if !data.is_empty() {
                        return Poll::Ready(Some(Ok(data)));
                    }
                }
            }
        }
    }

    /// True when nothing is left to read.
    pub(crate) fn finished(&self) -> bool {
        self.memory.is_none() && self.incoming.as_ref().is_none_or(http_body::Body::is_end_stream)
    }
}

use http_body::Body as _;

/// A request's body, read as it arrives.
///
/// Reading past [`Server::max_body_bytes`](crate::Server::max_body_bytes)
/// fails with [`BodyError::TooLarge`]; a handler returning that error (with
/// `?`) answers `413`.
pub struct RequestBody {
    pub(crate) state: Option<Rc<RefCell<BodyState>>>,
}

impl RequestBody {
    /// A body with no bytes.
    pub fn empty() -> RequestBody {
        RequestBody { state: None }
    }

    /// A body of these bytes (for a request made in-process: tests, the
    /// [`TestClient`](crate::testing::TestClient)). The limit is `limit`
    /// bytes, as a server's would be.
    pub fn from_bytes(bytes: impl Into<Bytes>, limit: u64) -> RequestBody {
        let bytes: Bytes = bytes.into();
        if bytes.is_empty() {
            return RequestBody::empty();
        }
        RequestBody {
            state: Some(Rc::new(RefCell::new(BodyState {
                memory: Some(bytes),
                incoming: None,
                received: 0,
                limit,
                failed: false,
                touched: false,
            }))),
        }
    }

    /// Lowers (or raises) the most this body may carry, counting what was
    /// read already: reading past it fails with [`BodyError::TooLarge`].
    pub fn set_limit(&mut self, limit: u64) {
        if let Some(state) = &self.state {
            state.borrow_mut().limit = limit;
        }
    }

    /// The most this body may carry (`u64::MAX` for an empty body).
    pub fn limit(&self) -> u64 {
        self.state.as_ref().map_or(u64::MAX, |s| s.borrow().limit)
    }

    /// The next chunk as it arrives; `Ok(None)` at the end.
    ///
    /// # Errors
    /// [`BodyError`] if the body is malformed, cut short, or over the limit.
    ///
    /// # Cancel safety
    /// Cancel safe: a chunk is only taken when it is returned.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, BodyError> {
        let Some(state) = &self.state else {
            return Ok(None);
        };
        poll_fn(|cx| state.borrow_mut().poll_chunk(cx)).await.transpose()
    }

    /// The whole body.
    ///
    /// # Errors
    /// As [`chunk`](RequestBody::chunk).
    ///
    /// # Cancel safety
    /// Not cancel safe: what was read so far is lost.
    pub async fn bytes(mut self) -> Result<Bytes, BodyError> {
        let Some(first) = self.chunk().await? else {
            return Ok(Bytes::new());
        };
        let Some(second) = self.chunk().await? else {
            return Ok(first);
        };
        let mut all = Vec::with_capacity(first.len() + second.len());
        all.extend_from_slice(&first);
        all.extend_from_slice(&second);
        while let Some(c) = self.chunk().await? {
            all.extend_from_slice(&c);
        }
        Ok(all.into())
    }

    /// True when no more bytes will come.
    pub fn is_end(&self) -> bool {
        self.state.as_ref().is_none_or(|s| s.borrow().finished())
    }
}

impl Stream for RequestBody {
    type Item = Result<Bytes, BodyError>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match &self.state {
            None => Poll::Ready(None),
            Some(state) => state.borrow_mut().poll_chunk(cx),
        }
    }
}

impl fmt::Debug for RequestBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBody").field("end", &self.is_end()).finish()
    }
}
