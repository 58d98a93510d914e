//! [`Compression`]: response bodies compressed with gzip or brotli, as the
//! client's `Accept-Encoding` allows (Starlette's `GZipMiddleware`, plus
//! br).

use std::cell::RefCell;
use std::io::{self, Write};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::Stream;
use http::header::{
    HeaderValue, ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG,
    VARY,
};
use http::{Method, StatusCode};
use http_body::Body as _;

use super::{Middleware, Next};
use crate::body::Body;
use crate::handler::HandlerFuture;
use crate::request::Request;
use crate::response::Response;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Compresses responses with brotli (`br`) or gzip, whichever the request's
/// `Accept-Encoding` ranks higher (brotli on a tie), through the `brotli`
/// and `flate2` crates (both pure Rust).
///
/// Left as they are: responses to `HEAD`, without a body (`204`, `304`),
/// partial ones (`Content-Range`), ones already encoded, ones marked
/// `Cache-Control: no-transform`, types that are compressed already
/// (images but SVG, audio, video, archives, fonts in woff), and whole
/// bodies under [`min_size`](Compression::min_size) (1 KiB by default). A
/// streamed body (SSE, [`Body::writer`]) is compressed chunk by chunk, each
/// chunk flushed so the client gets it at once. The response gets
/// `Content-Encoding`, `Vary: Accept-Encoding`, loses its `Content-Length`,
/// and a strong `ETag` becomes weak (the bytes differ from the identity
/// encoding's).
///
/// Compression runs on the loop: for large bodies, the levels trade size
/// for the loop's time (gzip 6 and brotli 4 by default, the points where
/// both compress well at a few hundred MB/s).
///
/// ```
/// use asyncio_http::middleware::Compression;
/// use asyncio_http::Router;
///
/// async fn page() -> String { "lorem ipsum ".repeat(1000) }
/// let app = Router::new().get("/", page).layer(Compression::new());
/// # drop(app);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Compression {
    min_size: usize,
    gzip_level: u32,
    br_quality: u32,
}

impl Default for Compression {
    fn default() -> Self {
        Compression::new()
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Coding {
    Br,
    Gzip,
}

impl Compression {
    /// gzip level 6, brotli quality 4, bodies of 1 KiB and up.
    pub fn new() -> Compression {
        Compression {
            min_size: 1024,
            gzip_level: 6,
            br_quality: 4,
        }
    }

    /// Whole bodies shorter than this are sent as they are.
    pub fn min_size(mut self, bytes: usize) -> Compression {
        self.min_size = bytes;
        self
    }

    /// The gzip level, 0 to 9.
    pub fn gzip_level(mut self, level: u32) -> Compression {
        self.gzip_level = level.min(9);
        self
    }

    /// The brotli quality, 0 to 11.
    pub fn br_quality(mut self, quality: u32) -> Compression {
        self.br_quality = quality.min(11);
        self
    }

    fn encoder(&self, coding: Coding) -> Encoder {
        let out = Rc::new(RefCell::new(Vec::new()));
        let sink = Sink(out.clone());
        let writer = match coding {
            Coding::Gzip => Writer::Gzip(Box::new(flate2::write::GzEncoder::new(
                sink,
                flate2::Compression::new(self.gzip_level),
            ))),
            Coding::Br => Writer::Br(Box::new(brotli::CompressorWriter::new(sink, 4096, self.br_quality, 22))),
        };
        Encoder {
            writer: Some(writer),
            out,
        }
    }
}

/// The coding to use for a request's `Accept-Encoding`, if any.
fn negotiate(req: &Request) -> Option<Coding> {
    let (mut br, mut gzip, mut any) = (None::<f32>, None::<f32>, None::<f32>);
    for value in req.headers().get_all(ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            let mut q = 1.0f32;
            for p in parts {
                if let Some(v) = p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")) {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
            if name.eq_ignore_ascii_case("br") {
                br = Some(q);
            } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
                gzip = Some(q);
            } else if name == "*" {
                any = Some(q);
            }
        }
    }
    let br = br.or(any).unwrap_or(0.0);
    let gzip = gzip.or(any).unwrap_or(0.0);
    match (br > 0.0, gzip > 0.0) {
        (false, false) => None,
        _ if br >= gzip => Some(Coding::Br),
        _ => Some(Coding::Gzip),
    }
}

/// True for content types worth compressing.
fn compressible(response: &Response) -> bool {
    let Some(ct) = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if mime == "image/svg+xml" {
        return true;
    }
    !(mime.starts_with("image/")
        || mime.starts_with("audio/")
        || mime.starts_with("video/")
        || mime.starts_with("font/woff")
        || matches!(
            mime.as_str(),
            "application/zip"
                | "application/gzip"
                | "application/x-gzip"
                | "application/zstd"
                | "application/x-7z-compressed"
        ))
}

fn skip(response: &Response) -> bool {
    let status = response.status();
    let h = response.headers();
    status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || status.is_informational()
        || h.contains_key(CONTENT_ENCODING)
        || h.contains_key(CONTENT_RANGE)
        || h.get_all(CACHE_CONTROL).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.to_ascii_lowercase().contains("no-transform"))
        })
        || !compressible(response)
}

impl Middleware for Compression {
    fn call(&self, req: Request, next: Next) -> HandlerFuture {
        let coding = if req.method() == Method::HEAD {
            None
        } else {
            negotiate(&req)
        };
        let fut = next.run(req);
        let Some(coding) = coding else {
            return HandlerFuture::new(async move {
                let mut r = fut.await;
                r.headers_mut()
                    .append(VARY, HeaderValue::from_static("Accept-Encoding"));
                r
            });
        };
        let this = *self;
        HandlerFuture::new(async move {
            let mut response = fut.await;
            response
                .headers_mut()
                .append(VARY, HeaderValue::from_static("Accept-Encoding"));
            if skip(&response) {
                return response;
            }
            let (mut parts, body) = response.into_parts();
            let body = match body.as_bytes() {
                Some(b) if b.len() < this.min_size => return Response::from_parts(parts, body),
                Some(b) => match this.encoder(coding).whole(b) {
                    Ok(out) => Body::from(out),
                    Err(_) => return Response::from_parts(parts, body),
                },
                None => Body::from_stream(Encoding {
                    inner: body,
                    encoder: this.encoder(coding),
                }),
            };
            let h = &mut parts.headers;
            h.remove(CONTENT_LENGTH);
            h.insert(
                CONTENT_ENCODING,
                HeaderValue::from_static(match coding {
                    Coding::Br => "br",
                    Coding::Gzip => "gzip",
                }),
            );
            if let Some(etag) = h.get(ETAG).and_then(|v| v.to_str().ok()) {
                if etag.starts_with('"') {
                    if let Ok(weak) = HeaderValue::from_str(&format!("W/{etag}")) {
                        h.insert(ETAG, weak);
                    }
                }
            }
            Response::from_parts(parts, body)
        })
    }
}

/// A `Write` into a shared buffer, so compressed bytes can be taken out
/// while the encoder goes on.
struct Sink(Rc<RefCell<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum Writer {
    Gzip(Box<flate2::write::GzEncoder<Sink>>),
    Br(Box<brotli::CompressorWriter<Sink>>),
}

impl Writer {
    fn get(&mut self) -> &mut dyn Write {
        match self {
            Writer::Gzip(w) => &mut **w,
            Writer::Br(w) => &mut **w,
        }
    }
}

struct Encoder {
    /// `None` once finished.
    writer: Option<Writer>,
    out: Rc<RefCell<Vec<u8>>>,
}

impl Encoder {
    fn whole(mut self, data: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::from(self.chunk(data)?);
        out.extend_from_slice(&self.finish()?);
        Ok(out)
    }

    /// Compresses and flushes `data`.
    fn chunk(&mut self, data: &[u8]) -> io::Result<Bytes> {
        if let Some(w) = self.writer.as_mut() {
            let w = w.get();
            w.write_all(data)?;
            w.flush()?;
        }
        Ok(Bytes::from(std::mem::take(&mut *self.out.borrow_mut())))
    }

    /// Ends the stream: what is left, trailer included.
    fn finish(&mut self) -> io::Result<Bytes> {
        match self.writer.take() {
            Some(Writer::Gzip(w)) => drop(w.finish()?),
            // Taking the writer back out ends brotli's stream.
            Some(Writer::Br(w)) => drop(w.into_inner()),
            None => {}
        }
        Ok(Bytes::from(std::mem::take(&mut *self.out.borrow_mut())))
    }
}

/// A streamed body, compressed as it goes.
struct Encoding {
    inner: Body,
    encoder: Encoder,
}

impl Stream for Encoding {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.encoder.writer.is_none() {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else { continue };
                    match this.encoder.chunk(&data) {
                        Ok(out) if out.is_empty() => continue,
                        Ok(out) => return Poll::Ready(Some(Ok(out))),
                        Err(e) => return Poll::Ready(Some(Err(e.into()))),
                    }
                }
                Poll::Ready(None) => {
                    return match this.encoder.finish() {
                        Ok(out) if out.is_empty() => Poll::Ready(None),
                        Ok(out) => Poll::Ready(Some(Ok(out))),
                        Err(e) => Poll::Ready(Some(Err(e.into()))),
                    };
                }
            }
        }
    }
}
