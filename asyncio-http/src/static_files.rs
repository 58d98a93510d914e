//! Static files (Starlette's `StaticFiles`): [`ServeDir`] serves a
//! directory's files under a route, streamed from disk through
//! [`asyncio::fs`], with the caching and range headers browsers and CDNs
//! use.
//!
//! ```
//! use asyncio_http::static_files::ServeDir;
//! use asyncio_http::Router;
//!
//! let app = Router::new().get("/static/{*path}", ServeDir::new("public").handler());
//! # drop(app);
//! ```
//!
//! What a request gets:
//! - `200` with the file, `Content-Type` from its extension (`mime_guess`;
//!   text types with `charset=utf-8`), `Content-Length`, `ETag` (from size
//!   and modification time), `Last-Modified` and `Accept-Ranges: bytes`;
//!   a directory serves its `index.html`;
//! - `304` for a matching `If-None-Match` (or, without it, an
//!   `If-Modified-Since` not older than the file); `412` for a failing
//!   `If-Match` or `If-Unmodified-Since`;
//! - `206` with `Content-Range` for one satisfiable `Range: bytes=…`
//!   (honoured only if an `If-Range` matches, when there is one); `416`
//!   with `Content-Range: bytes */len` for an unsatisfiable one; several
//!   ranges get the whole file (`200`: multipart/byteranges is not sent);
//! - `404` for anything that is not a regular file under the root: `..`
//!   segments (also percent-encoded), backslashes, NUL, hidden `.` files,
//!   and symbolic links that lead out of the root (the path is resolved
//!   and must stay under the resolved root).
//!
//! The file is read in 64 KiB chunks as the client takes them; a file
//! larger than memory streams as well as a small one.

use std::io::{self, SeekFrom};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{
    HeaderValue, ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, IF_MATCH, IF_MODIFIED_SINCE,
    IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE, LAST_MODIFIED, RANGE,
};
use http::{HeaderMap, Method, StatusCode};

use crate::body::Body;
use crate::request::Request;
use crate::response::{IntoResponse, Response};

const CHUNK: usize = 64 * 1024;

/// Serves the files under a directory. See the [module](self).
#[derive(Clone, Debug)]
pub struct ServeDir {
    root: PathBuf,
    index: bool,
}

impl ServeDir {
    /// Serves `root`'s files.
    pub fn new(root: impl Into<PathBuf>) -> ServeDir {
        ServeDir {
            root: root.into(),
            index: true,
        }
    }

    /// Whether a directory serves its `index.html` (on by default).
    pub fn index_html(mut self, yes: bool) -> ServeDir {
        self.index = yes;
        self
    }

    /// A handler for a route whose last parameter is the file's path
    /// (`/static/{*path}`): the route's last parameter names the file.
    pub fn handler(self) -> impl Fn(Request) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response>>> {
        let this = Rc::new(self);
        move |req: Request| {
            let this = this.clone();
            Box::pin(async move { this.serve(&req).await })
        }
    }

    /// Answers `req` with the file its route's last parameter names (or
    /// its whole path, without a parameter).
    ///
    /// # Cancel safety
    /// Dropping the future abandons the answer; nothing is left open.
    pub async fn serve(&self, req: &Request) -> Response {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut r = StatusCode::METHOD_NOT_ALLOWED.into_response();
            r.headers_mut()
                .insert(http::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return r;
        }
        let wanted = req.params().last().map_or(req.path(), |(_, v)| v).to_owned();
        let Some(relative) = clean(&wanted) else {
            return not_found();
        };
        let (root, index) = (self.root.clone(), self.index);
        let found = asyncio::to_thread(move || resolve(&root, &relative, index)).await;
        match found {
            Ok(Ok(Some((path, meta)))) => send(req, path, meta).await,
            Ok(Ok(None)) => not_found(),
            Ok(Err(e)) if e.kind() == io::ErrorKind::NotFound => not_found(),
            Ok(Err(e)) => {
                tracing::debug!("asyncio-http: static file {wanted:?}: {e}");
                not_found()
            }
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }
}

/// A file served alone (Starlette's `FileResponse`), with the same headers
/// as [`ServeDir`]'s.
///
/// # Cancel safety
/// Dropping the future abandons the answer; nothing is left open.
pub async fn serve_file(req: &Request, path: impl Into<PathBuf>) -> Response {
    let path = path.into();
    let meta = {
        let path = path.clone();
        asyncio::to_thread(move || std::fs::metadata(path)).await
    };
    match meta {
        Ok(Ok(meta)) if meta.is_file() => send(req, path, meta).await,
        _ => not_found(),
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found\n").into_response()
}

/// The request path's segments, if every one is a plain name.
pub(crate) fn clean(wanted: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for seg in wanted.split('/') {
        if seg.is_empty() {
            continue;
        }
        if seg == "."
            || seg == ".."
            || seg.starts_with('.')
            || seg.contains('\\')
            || seg.contains('\0')
            || seg.contains(':')
        {
            return None;
        }
        out.push(seg);
    }
    Some(out)
}

/// The file under `root` (resolved: no symbolic link leads out of it).
fn resolve(root: &Path, relative: &Path, index: bool) -> io::Result<Option<(PathBuf, std::fs::Metadata)>> {
    let root = root.canonicalize()?;
    let mut path = root.join(relative).canonicalize()?;
    if !path.starts_with(&root) {
        return Ok(None);
    }
    let mut meta = std::fs::metadata(&path)?;
    if meta.is_dir() && index {
        path.push("index.html");
        meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(_) => return Ok(None),
        };
    }
    Ok(meta.is_file().then_some((path, meta)))
}

fn content_type(path: &Path) -> HeaderValue {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let text = mime.type_() == mime_guess::mime::TEXT
        || matches!(mime.subtype().as_str(), "javascript" | "json" | "xml" | "svg");
    let value = if text && mime.get_param("charset").is_none() {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

/// `"size-mtime"` in hex: changes when the file does.
fn etag(len: u64, modified: Option<SystemTime>) -> String {
    let nanos = modified
        .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("\"{len:x}-{nanos:x}\"")
}

/// Whether an `If-Match`/`If-None-Match` list names `tag` (weakly, as
/// both need for `If-None-Match`, and `*` matches anything).
pub(crate) fn matches(list: &str, tag: &str, weak_ok: bool) -> bool {
    list.split(',')
        .map(str::trim)
        .any(|t| t == "*" || t == tag || (weak_ok && t.strip_prefix("W/") == Some(tag)))
}

fn header(h: &HeaderMap, name: http::header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The one range `spec` asks of a `len`-byte file: `Ok(Some)` satisfiable,
/// `Ok(None)` to serve it whole (malformed or several ranges), `Err` for
/// unsatisfiable.
pub(crate) fn range(spec: &str, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = spec.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (start, end) = match (a.trim(), b.trim()) {
        ("", "") => return Ok(None),
        ("", suffix) => {
            let Ok(n) = suffix.parse::<u64>() else { return Ok(None) };
            if n == 0 || len == 0 {
                return Err(());
            }
            (len.saturating_sub(n), len - 1)
        }
        (start, end) => {
            let Ok(start) = start.parse::<u64>() else {
                return Ok(None);
            };
            let end = if end.is_empty() {
                len.saturating_sub(1)
            } else {
                match end.parse::<u64>() {
                    Ok(e) if e >= start => e.min(len.saturating_sub(1)),
                    _ => return Ok(None),
                }
            };
            if start >= len {
                return Err(());
            }
            (start, end)
        }
    };
    Ok(Some((start, end)))
}

async fn send(req: &Request, path: PathBuf, meta: std::fs::Metadata) -> Response {
    let len = meta.len();
    let modified = meta.modified().ok();
    let tag = etag(len, modified);
    let last_modified = modified.map(httpdate::fmt_http_date);
    let h = req.headers();
    let modified_secs = modified
        .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs());
    let since = |name| {
        header(h, name)
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
    };

    let mut head = http::Response::builder();
    let headers = head.headers_mut().expect("a fresh builder");
    headers.insert(ETAG, HeaderValue::from_str(&tag).expect("hex is a header value"));
    if let Some(lm) = &last_modified {
        headers.insert(
            LAST_MODIFIED,
            HeaderValue::from_str(lm).expect("an HTTP date is a header value"),
        );
    }
    headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));

    // RFC 9110 section 13.2.2's order.
    if let Some(list) = header(h, IF_MATCH) {
        if !matches(list, &tag, false) {
            return finish(head, StatusCode::PRECONDITION_FAILED, Body::empty());
        }
    } else if let (Some(since), Some(m)) = (since(IF_UNMODIFIED_SINCE), modified_secs) {
        if m > since {
            return finish(head, StatusCode::PRECONDITION_FAILED, Body::empty());
        }
    }
    if let Some(list) = header(h, IF_NONE_MATCH) {
        if matches(list, &tag, true) {
            return finish(head, StatusCode::NOT_MODIFIED, Body::empty());
        }
    } else if let (Some(since), Some(m)) = (since(IF_MODIFIED_SINCE), modified_secs) {
        if m <= since {
            return finish(head, StatusCode::NOT_MODIFIED, Body::empty());
        }
    }

    let headers = head.headers_mut().expect("a fresh builder");
    headers.insert(CONTENT_TYPE, content_type(&path));
    let if_range_ok = match header(h, IF_RANGE) {
        None => true,
        Some(v) if v.starts_with('"') => v == tag,
        Some(v) => last_modified.as_deref() == Some(v),
    };
    let wanted = match header(h, RANGE) {
        Some(spec) if if_range_ok => range(spec, len),
        _ => Ok(None),
    };
    let (status, start, count) = match wanted {
        Err(()) => {
            headers.insert(
                CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{len}")).expect("digits are a header value"),
            );
            return finish(head, StatusCode::RANGE_NOT_SATISFIABLE, Body::empty());
        }
        Ok(Some((s, e))) => {
            headers.insert(
                CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes {s}-{e}/{len}")).expect("digits are a header value"),
            );
            (StatusCode::PARTIAL_CONTENT, s, e - s + 1)
        }
        Ok(None) => (StatusCode::OK, 0, len),
    };
    headers.insert(CONTENT_LENGTH, HeaderValue::from(count));
    if req.method() == Method::HEAD || count == 0 {
        return finish(head, status, Body::empty());
    }
    let body = Body::writer(move |w| async move {
        let mut file = asyncio::fs::File::open(&path).await?;
        if start > 0 {
            file.seek(SeekFrom::Start(start)).await?;
        }
        let mut left = count;
        while left > 0 {
            let chunk = file.read(CHUNK.min(left as usize)).await?;
            if chunk.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file shrank while it was sent",
                ));
            }
            left -= chunk.len() as u64;
            w.send(chunk).await;
        }
        Ok::<(), io::Error>(())
    });
    finish(head, status, body)
}

fn finish(head: http::response::Builder, status: StatusCode, body: Body) -> Response {
    head.status(status)
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(range("bytes=0-9", 100), Ok(Some((0, 9))));
        assert_eq!(range("bytes=90-", 100), Ok(Some((90, 99))));
        assert_eq!(range("bytes=-10", 100), Ok(Some((90, 99))));
        assert_eq!(range("bytes=50-500", 100), Ok(Some((50, 99))));
        assert_eq!(range("bytes=100-", 100), Err(()));
        assert_eq!(range("bytes=-0", 100), Err(()));
        assert_eq!(range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(range("items=0-1", 100), Ok(None));
        assert_eq!(range("bytes=5-2", 100), Ok(None));
    }

    #[test]
    fn paths() {
        assert_eq!(clean("a/b.txt"), Some(PathBuf::from("a/b.txt")));
        for bad in ["../x", "a/../../x", "a\\b", ".env", "a/.git/config", "c:x"] {
            assert_eq!(clean(bad), None, "{bad}");
        }
    }
}
