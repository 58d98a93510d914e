//! `multipart/form-data` uploads (FastAPI's `UploadFile` and `Form`
//! fields), parsed as the body streams in by the `multer` crate and
//! written to disk through [`asyncio::fs`]: an upload never has to fit in
//! memory.
//!
//! ```
//! use asyncio_http::multipart::{Multipart, MultipartError};
//!
//! async fn upload(mut form: Multipart) -> Result<String, MultipartError> {
//!     let mut saved = Vec::new();
//!     while let Some(field) = form.next_field().await? {
//!         let name = field.file_name().unwrap_or("upload.bin").replace('/', "_");
//!         let n = field.save_to(std::env::temp_dir().join(&name)).await?;
//!         saved.push(format!("{name}: {n} bytes"));
//!     }
//!     Ok(saved.join("\n"))
//! }
//! # drop(asyncio_http::Router::new().post("/upload", upload));
//! ```
//!
//! Limits: each field at most [`Multipart::DEFAULT_FIELD_LIMIT`] (8 MiB)
//! and the whole body at most the server's body limit (1 MiB by default:
//! raise [`Server::max_body_bytes`](crate::Server::max_body_bytes) for
//! uploads), or what [`Multipart::limits`] sets; past either, reading
//! fails with an error that answers `413` (and [`Field::save_to`] removes
//! its partial file).

use std::fmt;
use std::io;
use std::path::Path;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::StatusCode;

use crate::extract::FromRequest;
use crate::request::Request;
use crate::response::{HttpError, IntoResponse, Response};

/// Why reading an upload failed.
#[derive(Debug)]
pub enum MultipartError {
    /// The request is not `multipart/form-data` with a boundary (`415`).
    NotMultipart,
    /// A field or the whole body is over its limit (`413`).
    TooLarge(String),
    /// The body is malformed or was cut short (`400`).
    Malformed(String),
    /// Writing the upload to disk failed (`500`).
    Io(io::Error),
}

impl fmt::Display for MultipartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MultipartError::NotMultipart => f.write_str("expected a multipart/form-data request with a boundary"),
            MultipartError::TooLarge(m) | MultipartError::Malformed(m) => f.write_str(m),
            MultipartError::Io(e) => write!(f, "saving the upload failed: {e}"),
        }
    }
}

impl std::error::Error for MultipartError {}

impl From<multer::Error> for MultipartError {
    fn from(e: multer::Error) -> MultipartError {
        match &e {
            multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. } => {
                MultipartError::TooLarge(e.to_string())
            }
            multer::Error::StreamReadFailed(inner) => match inner.downcast_ref::<crate::BodyError>() {
                Some(crate::BodyError::TooLarge { .. }) => MultipartError::TooLarge(inner.to_string()),
                _ => MultipartError::Malformed(e.to_string()),
            },
            _ => MultipartError::Malformed(e.to_string()),
        }
    }
}

impl IntoResponse for MultipartError {
    fn into_response(self) -> Response {
        let status = match &self {
            MultipartError::NotMultipart => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            MultipartError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            MultipartError::Malformed(_) => StatusCode::BAD_REQUEST,
            MultipartError::Io(e) => {
                crate::report::error(format_args!("asyncio-http: saving an upload failed: {e}"));
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
        };
        let err = HttpError::new(status, self.to_string());
        // The rest of an oversized or broken body is not worth reading.
        if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
            err.into_response()
        } else {
            err.closing().into_response()
        }
    }
}

/// A `multipart/form-data` body, read field by field. An extractor: a
/// request of another type is refused with `415`.
pub struct Multipart {
    inner: multer::Multipart<'static>,
    /// Feeds the body to `inner`; cancelled with the `Multipart`.
    pump: asyncio::Task<()>,
}

impl Drop for Multipart {
    fn drop(&mut self) {
        self.pump.cancel();
    }
}

impl Multipart {
    /// The most one field may carry unless [`limits`](Multipart::limits)
    /// says otherwise.
    pub const DEFAULT_FIELD_LIMIT: u64 = 8 * 1024 * 1024;

    /// Reads `req`'s body with these limits: `per_field` bytes for each
    /// field and `total` for the whole body (the server's body limit still
    /// applies).
    ///
    /// # Errors
    /// [`MultipartError::NotMultipart`].
    pub fn limits(mut req: Request, per_field: u64, total: u64) -> Result<Multipart, MultipartError> {
        let boundary = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"))
            .and_then(|v| multer::parse_boundary(v).ok())
            .ok_or(MultipartError::NotMultipart)?;
        let constraints =
            multer::Constraints::new().size_limit(multer::SizeLimit::new().per_field(per_field).whole_stream(total));
        // multer wants a `Send` stream, and a request body lives on its
        // loop: a task of this loop pumps the body into a channel (two
        // chunks deep: back-pressure reaches the client) that multer reads.
        let mut body = req.take_body();
        let (tx, rx) = async_channel::bounded::<Result<Bytes, crate::BodyError>>(2);
        let pump = asyncio::create_task(async move {
            loop {
                let item = match body.chunk().await {
                    Ok(Some(chunk)) => Ok(chunk),
                    Ok(None) => break,
                    Err(e) => Err(e),
                };
                let last = item.is_err();
                if tx.send(item).await.is_err() || last {
                    break;
                }
            }
        });
        Ok(Multipart {
            inner: multer::Multipart::with_constraints(rx, boundary, constraints),
            pump,
        })
    }

    /// The next field, `None` after the last.
    ///
    /// # Errors
    /// [`MultipartError::Malformed`] or [`MultipartError::TooLarge`].
    ///
    /// # Cancel safety
    /// Not cancel safe: a field being read when the future is dropped is
    /// lost.
    pub async fn next_field(&mut self) -> Result<Option<Field>, MultipartError> {
        Ok(self.inner.next_field().await?.map(|inner| Field { inner }))
    }
}

impl FromRequest for Multipart {
    type Rejection = MultipartError;

    async fn from_request(req: Request) -> Result<Multipart, MultipartError> {
        Multipart::limits(req, Multipart::DEFAULT_FIELD_LIMIT, u64::MAX)
    }
}

impl fmt::Debug for Multipart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Multipart").finish_non_exhaustive()
    }
}

/// One field of a [`Multipart`] body: a form value or a file.
pub struct Field {
    inner: multer::Field<'static>,
}

impl Field {
    /// The field's name (`name=` in its `Content-Disposition`).
    pub fn name(&self) -> Option<&str> {
        self.inner.name()
    }

    /// The uploaded file's name as the client gave it (`filename=`), for a
    /// file field. Untrusted: never use it as a path as it is.
    pub fn file_name(&self) -> Option<&str> {
        self.inner.file_name()
    }

    /// The field's `Content-Type`, if it has one.
    pub fn content_type(&self) -> Option<&str> {
        self.inner.content_type().map(|m| m.essence_str())
    }

    /// The next chunk of the field's bytes, `None` at its end.
    ///
    /// # Errors
    /// As [`Multipart::next_field`].
    ///
    /// # Cancel safety
    /// Cancel safe: a chunk is only taken when it is returned.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, MultipartError> {
        Ok(self.inner.chunk().await?)
    }

    /// The whole field in memory (within its limit).
    ///
    /// # Errors
    /// As [`Multipart::next_field`].
    ///
    /// # Cancel safety
    /// Not cancel safe: what was read is lost.
    pub async fn bytes(self) -> Result<Bytes, MultipartError> {
        Ok(self.inner.bytes().await?)
    }

    /// The whole field as text.
    ///
    /// # Errors
    /// As [`Multipart::next_field`].
    ///
    /// # Cancel safety
    /// Not cancel safe: what was read is lost.
    pub async fn text(self) -> Result<String, MultipartError> {
        Ok(self.inner.text().await?)
    }

    /// Streams the field into a new file at `path` (replacing one there),
    /// chunk by chunk through [`asyncio::fs`]; returns its length. On any
    /// error the partial file is removed.
    ///
    /// # Errors
    /// As [`Multipart::next_field`], and [`MultipartError::Io`].
    ///
    /// # Cancel safety
    /// Not cancel safe: a dropped save leaves a partial file behind.
    pub async fn save_to(mut self, path: impl AsRef<Path>) -> Result<u64, MultipartError> {
        let path = path.as_ref();
        let result = async {
            let mut file = asyncio::fs::File::create(path).await.map_err(MultipartError::Io)?;
            let mut n = 0u64;
            while let Some(chunk) = self.chunk().await? {
                file.write(&chunk).await.map_err(MultipartError::Io)?;
                n += chunk.len() as u64;
            }
            file.flush().await.map_err(MultipartError::Io)?;
            Ok(n)
        }
        .await;
        if result.is_err() {
            let _ = asyncio::fs::remove_file(path).await;
        }
        result
    }
}

impl fmt::Debug for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Field")
            .field("name", &self.name())
            .field("file_name", &self.file_name())
            .finish_non_exhaustive()
    }
}
