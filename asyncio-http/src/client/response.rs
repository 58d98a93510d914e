//! A response: status and headers at once, the body read on demand.

use std::rc::Rc;
use std::time::Duration;

use asyncio::time::Instant;
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::decode::{Decoder, Pulled};
use super::pool::{Held, Pool};
use super::{Error, TimeoutKind};

/// An HTTP response (httpx's `Response`). The status and headers are here
/// when [`send`](super::RequestBuilder::send) returns; the body is read
/// with [`bytes`](Response::bytes), [`text`](Response::text),
/// [`json`](Response::json), or piece by piece with
/// [`chunk`](Response::chunk).
///
/// Over HTTP/1.1, the connection goes back to the client's pool when the
/// body has been read to its end; dropping a response before that closes
/// the connection (it is never reused with part of this body still
/// unread). Over HTTP/2, dropping it resets its stream; the connection
/// goes on serving the others.
pub struct Response {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    url: url::Url,
    body: Option<Incoming>,
    conn: Option<Held>,
    pool: Rc<Pool>,
    read_timeout: Option<Duration>,
    deadline: Option<Instant>,
    limit: Option<u64>,
    received: u64,
    decoder: Option<Decoder>,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("version", &self.version)
            .field("url", &self.url.as_str())
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

/// How a response's body is read.
pub(crate) struct BodyLimits {
    pub(crate) read_timeout: Option<Duration>,
    pub(crate) deadline: Option<Instant>,
    pub(crate) max_size: Option<u64>,
    pub(crate) decompress: bool,
}

impl Response {
    pub(crate) fn new(
        head: http::Response<Incoming>,
        url: url::Url,
        conn: Held,
        pool: Rc<Pool>,
        limits: BodyLimits,
    ) -> Result<Response, Error> {
        let (parts, body) = head.into_parts();
        let mut headers = parts.headers;
        // No body follows (a response to HEAD, a 204 or 304, a zero
        // length): its `Content-Length` and `Content-Encoding` describe the
        // resource, not this response: kept as sent, and no limit applies.
        let bodiless = http_body::Body::is_end_stream(&body);
        let decoder = if limits.decompress && !bodiless {
            headers
                .get(http::header::CONTENT_ENCODING)
                .and_then(|e| e.to_str().ok())
                .and_then(Decoder::for_encoding)
        } else {
            None
        };
        if decoder.is_some() {
            // What the caller reads is the decoded body: these described
            // the encoded one.
            headers.remove(http::header::CONTENT_ENCODING);
            if let Some(length) = headers.remove(http::header::CONTENT_LENGTH) {
                let length = length.to_str().ok().and_then(|l| l.parse::<u64>().ok());
                if let (Some(limit), Some(length)) = (limits.max_size, length) {
                    if length > limit {
                        return Err(Error::BodyTooLarge { limit });
                    }
                }
            }
        }
        let mut response = Response {
            status: parts.status,
            version: parts.version,
            headers,
            url,
            body: Some(body),
            conn: Some(conn),
            pool,
            read_timeout: limits.read_timeout,
            deadline: limits.deadline,
            limit: limits.max_size,
            received: 0,
            decoder,
        };
        if let (Some(limit), Some(length), false) = (response.limit, response.content_length(), bodiless) {
            if length > limit {
                // Not read: the connection closes with the response.
                return Err(Error::BodyTooLarge { limit });
            }
        }
        if bodiless {
            response.finish();
        }
        Ok(response)
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The HTTP version the server answered in.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The URL this response came from (after redirects, the last one).
    pub fn url(&self) -> &url::Url {
        &self.url
    }

    /// The `Content-Length` the server declared, if any (none when the
    /// body is being decompressed: the declared length was the compressed
    /// one).
    pub fn content_length(&self) -> Option<u64> {
        self.headers
            .get(http::header::CONTENT_LENGTH)?
            .to_str()
            .ok()?
            .parse()
            .ok()
    }

    /// `Err(Error::Status)` for a 4xx or 5xx status, the response
    /// otherwise (httpx's `raise_for_status`). The body is not read; an
    /// error closes the connection.
    ///
    /// # Errors
    /// [`Error::Status`].
    pub fn error_for_status(self) -> Result<Response, Error> {
        if self.status.is_client_error() || self.status.is_server_error() {
            // Without the URL's password: errors get logged.
            let mut url = self.url.clone();
            if url.password().is_some() {
                let _ = url.set_password(Some("***"));
            }
            return Err(Error::Status {
                status: self.status,
                url: url.to_string(),
            });
        }
        Ok(self)
    }

    /// The next piece of the body, `None` at its end (httpx's
    /// `aiter_bytes`). A decompressed body comes in pieces of at most
    /// 64 KiB, however much one network read decodes to.
    ///
    /// # Errors
    /// [`Error::Timeout`] (`Read` when the server sends nothing for the
    /// read timeout, `Total` past the request's deadline),
    /// [`Error::BodyTooLarge`], [`Error::Closed`] when the server ends the
    /// connection mid-body, [`Error::Decode`] for a compressed body that
    /// does not decompress or is cut short. After an error the body is
    /// over (`None`) and the connection closed.
    ///
    /// # Cancel safety
    /// Cancel safe: nothing is lost if the future is dropped before it
    /// returns (hyper keeps what arrived for the next call; the decoder
    /// keeps compressed bytes it has not decoded yet).
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        loop {
            // What the decoder can give from what came so far, a chunk at a
            // time (a small compressed chunk may stand for gigabytes).
            let room = self.room();
            if let Some(decoder) = &mut self.decoder {
                match decoder.pull(room) {
                    Ok(Pulled::Data(data)) => {
                        self.received += data.len() as u64;
                        if let Some(limit) = self.limit {
                            if self.received > limit {
                                return Err(self.fail(Error::BodyTooLarge { limit }));
                            }
                        }
                        return Ok(Some(data));
                    }
                    Ok(Pulled::Done) if self.body.is_none() => {
                        self.decoder = None;
                        return Ok(None);
                    }
                    // Done before the body: only its end may follow (bytes
                    // fail the next pull).
                    Ok(Pulled::Done | Pulled::NeedInput) => {}
                    Err(e) => {
                        let error = Error::Decode(format!("the compressed body does not decompress: {e}"));
                        return Err(self.fail(error));
                    }
                }
            }
            let Some(body) = self.body.as_mut() else {
                return Ok(None);
            };
            let frame = body.frame();
            let frame = match (self.read_timeout, self.deadline) {
                (None, None) => frame.await,
                (read, deadline) => {
                    let now = Instant::now();
                    let by_read = read.map(|r| super::after(now, r));
                    let (until, kind) = match (by_read, deadline) {
                        (Some(r), Some(d)) if d < r => (d, TimeoutKind::Total),
                        (Some(r), _) => (r, TimeoutKind::Read),
                        (None, Some(d)) => (d, TimeoutKind::Total),
                        (None, None) => unreachable!("matched above"),
                    };
                    match asyncio::timeout_at(until, frame).await {
                        Ok(frame) => frame,
                        Err(_) => return Err(self.fail(Error::Timeout(kind))),
                    }
                }
            };
            match frame {
                None => {
                    self.finish();
                    match &mut self.decoder {
                        Some(decoder) => decoder.end(),
                        None => return Ok(None),
                    }
                }
                Some(Err(e)) => return Err(self.fail(Error::from_hyper(e))),
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        // Trailers: nothing of the body.
                        continue;
                    };
                    if let Some(decoder) = &mut self.decoder {
                        decoder.push(data);
                        continue;
                    }
                    self.received += data.len() as u64;
                    if let Some(limit) = self.limit {
                        if self.received > limit {
                            return Err(self.fail(Error::BodyTooLarge { limit }));
                        }
                    }
                    if data.is_empty() {
                        continue;
                    }
                    return Ok(Some(data));
                }
            }
        }
    }

    /// The whole body.
    ///
    /// # Errors
    /// As [`chunk`](Response::chunk).
    ///
    /// # Cancel safety
    /// Not cancel safe: what was read is lost with the future (and the
    /// response with it).
    pub async fn bytes(mut self) -> Result<Bytes, Error> {
        let first = match self.chunk().await? {
            None => return Ok(Bytes::new()),
            Some(b) => b,
        };
        let Some(second) = self.chunk().await? else {
            return Ok(first);
        };
        let capacity = self.content_length().unwrap_or(0).min(64 << 20) as usize;
        let mut all = BytesMut::with_capacity(capacity.max(first.len() + second.len()));
        all.extend_from_slice(&first);
        all.extend_from_slice(&second);
        while let Some(more) = self.chunk().await? {
            all.extend_from_slice(&more);
        }
        Ok(all.freeze())
    }

    /// The body as text, decoded with the charset of its `Content-Type`
    /// (UTF-8 when it names none; a byte order mark wins, as browsers do).
    ///
    /// # Errors
    /// As [`chunk`](Response::chunk); [`Error::Decode`] for a charset this
    /// does not know.
    ///
    /// # Cancel safety
    /// Not cancel safe, as [`bytes`](Response::bytes).
    pub async fn text(self) -> Result<String, Error> {
        let charset = self.charset();
        let bytes = self.bytes().await?;
        let encoding = match charset {
            Some(label) => encoding_rs::Encoding::for_label(label.as_bytes())
                .ok_or_else(|| Error::Decode(format!("unknown charset {label:?}")))?,
            None => encoding_rs::UTF_8,
        };
        let (text, _, _) = encoding.decode(&bytes);
        Ok(text.into_owned())
    }

    /// The body as JSON, into `T` (serde).
    ///
    /// # Errors
    /// As [`chunk`](Response::chunk); [`Error::Json`] if it is not JSON of
    /// that shape.
    ///
    /// # Cancel safety
    /// Not cancel safe, as [`bytes`](Response::bytes).
    pub async fn json<T: serde::de::DeserializeOwned>(self) -> Result<T, Error> {
        let bytes = self.bytes().await?;
        serde_json::from_slice(&bytes).map_err(Error::Json)
    }

    /// The `charset` parameter of the `Content-Type`.
    fn charset(&self) -> Option<String> {
        let value = self.headers.get(http::header::CONTENT_TYPE)?.to_str().ok()?;
        value.split(';').skip(1).find_map(|param| {
            let (name, value) = param.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("charset")
                .then(|| value.trim().trim_matches('"').to_owned())
        })
    }

    /// The body is read to its end: the connection goes back to the pool.
    fn finish(&mut self) {
        self.body = None;
        match self.conn.take() {
            Some(Held::H1(conn)) => self.pool.release(conn),
            // The stream is done: no longer in flight.
            Some(Held::H2(stream, upload)) => match upload {
                // Its body still goes out: the stream is open until it ends.
                Some(upload) if upload.in_progress() => upload.hold_until_end(Box::new(stream)),
                _ => drop(stream),
            },
            None => {}
        }
    }

    /// The body failed: no more of it, and the connection is closed.
    fn fail(&mut self, error: Error) -> Error {
        self.body = None;
        self.conn = None;
        self.decoder = None;
        error
    }

    /// Reads and discards a small body so the connection can be reused
    /// (a redirect's); a large or slow one closes the connection instead.
    /// The bytes are not decompressed: nobody reads them, and a small
    /// compressed body can stand for gigabytes.
    pub(crate) async fn discard(mut self, max: u64) {
        self.decoder = None;
        while self.received <= max {
            match self.chunk().await {
                Ok(Some(_)) => {}
                _ => return,
            }
        }
    }
}

impl Response {
    /// How many more decoded bytes the size limit allows: a decoder stops
    /// there (plus one, so that reaching past the limit is seen).
    fn room(&self) -> u64 {
        self.limit
            .map_or(u64::MAX, |limit| (limit + 1).saturating_sub(self.received))
    }
}
