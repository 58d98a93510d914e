//! A request's body: nothing, bytes (sent with a `Content-Length`, and
//! sent again if a redirect or a retry needs it), or a stream (chunked,
//! sent once).

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use http_body::{Frame, SizeHint};

/// What a request sends.
pub struct Body {
    pub(crate) kind: Kind,
}

pub(crate) enum Kind {
    Empty,
    Bytes(Bytes),
    Stream(Pin<Box<dyn Stream<Item = io::Result<Bytes>>>>),
}

impl Body {
    /// No body.
    pub fn empty() -> Body {
        Body { kind: Kind::Empty }
    }

    /// A body read from `stream` as it is sent (chunked transfer
    /// encoding): a file, a generator. It is sent once: a redirect that
    /// would send it again (307, 308) is returned to the caller instead,
    /// and a request with one is not retried.
    pub fn from_stream<S>(stream: S) -> Body
    where
        S: Stream<Item = io::Result<Bytes>> + 'static,
    {
        Body {
            kind: Kind::Stream(Box::pin(stream)),
        }
    }

    /// A copy for sending again, if the body can be sent again.
    pub(crate) fn try_clone(&self) -> Option<Body> {
        match &self.kind {
            Kind::Empty => Some(Body::empty()),
            Kind::Bytes(b) => Some(Body {
                kind: Kind::Bytes(b.clone()),
            }),
            Kind::Stream(_) => None,
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
        match &self.kind {
            Kind::Empty => f.write_str("Body::empty()"),
            Kind::Bytes(b) => write!(f, "Body({} bytes)", b.len()),
            Kind::Stream(_) => f.write_str("Body(stream)"),
        }
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Body {
        Body {
            kind: Kind::Bytes(bytes),
        }
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
                Poll::Ready(Some(Ok(b))) => Poll::Ready(Some(Ok(Frame::data(b)))),
                Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => {
                    this.kind = Kind::Empty;
                    Poll::Ready(None)
                }
                Poll::Pending => Poll::Pending,
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
