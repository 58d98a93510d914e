//! [`Rejection`]: why an extractor could not make its value, as a response
//! in FastAPI's error shape.

use std::fmt;

use http::header::CONTENT_TYPE;
use http::{HeaderValue, StatusCode};
use serde::Serialize;
use serde_json::Value;

use crate::body::BodyError;
use crate::response::{HttpError, IntoResponse, Response};

/// One thing wrong with a request, FastAPI's (pydantic's) error item:
/// `{"type": "missing", "loc": ["body", "user", "email"], "msg": "…"}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RejectionItem {
    /// A short machine-readable kind: `missing`, `value_error`,
    /// `json_invalid`, `path_param`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Where: the part of the request (`body`, `query`, `path`) then the
    /// field names and list indexes down to the bad value.
    pub loc: Vec<Value>,
    /// What is wrong, for a person.
    pub msg: String,
}

#[derive(Clone, Debug, PartialEq)]
enum Detail {
    Message(String),
    Items(Vec<RejectionItem>),
}

/// An extractor's refusal: a status and a JSON body,
/// `{"detail": [items…]}` for a request that failed validation (`422`),
/// `{"detail": "message"}` otherwise, so clients of a FastAPI service read
/// it unchanged.
///
/// ```
/// use asyncio_http::extract::{Json, Rejection};
///
/// #[derive(serde::Deserialize, Debug)]
/// struct Item { price: f64 }
///
/// let err = Json::<Item>::from_slice(br#"{"price": "ten"}"#).unwrap_err();
/// assert_eq!(err.status(), 422);
/// assert_eq!(err.items()[0].loc, ["body", "price"]);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Rejection {
    status: StatusCode,
    detail: Detail,
    close: bool,
}

impl Rejection {
    /// A rejection with this status and message (`{"detail": message}`).
    pub fn new(status: StatusCode, message: impl Into<String>) -> Rejection {
        Rejection {
            status,
            detail: Detail::Message(message.into()),
            close: false,
        }
    }

    /// A `422 Unprocessable Entity` listing what failed validation.
    pub fn invalid(items: Vec<RejectionItem>) -> Rejection {
        Rejection {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail: Detail::Items(items),
            close: false,
        }
    }

    /// A `422` with one item.
    pub fn invalid_one(kind: &str, loc: Vec<Value>, msg: impl Into<String>) -> Rejection {
        Rejection::invalid(vec![RejectionItem {
            kind: kind.to_owned(),
            loc,
            msg: msg.into(),
        }])
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The validation items (empty for a rejection with a message).
    pub fn items(&self) -> &[RejectionItem] {
        match &self.detail {
            Detail::Items(items) => items,
            Detail::Message(_) => &[],
        }
    }

    /// The message, or the first item's.
    pub fn message(&self) -> &str {
        match &self.detail {
            Detail::Message(m) => m,
            Detail::Items(items) => items.first().map_or("", |i| i.msg.as_str()),
        }
    }

    pub(crate) fn unsupported_media_type(expected: &str) -> Rejection {
        Rejection::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("expected a request with Content-Type: {expected}"),
        )
    }

    /// A handler asked for something the application never set up: the
    /// client gets a bare `500`, the log the reason.
    pub(crate) fn misconfigured(why: fmt::Arguments<'_>) -> Rejection {
        crate::report::error(format_args!("asyncio-http: {why}"));
        Rejection::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
    }

    pub(crate) fn from_body(e: BodyError) -> Rejection {
        // A body over the limit or broken leaves the connection's framing
        // in doubt; bytes that are not UTF-8 do not.
        let close = !matches!(e, BodyError::NotUtf8);
        let err = HttpError::from(e);
        let mut r = Rejection::new(err.status(), err.message());
        r.close = close;
        r
    }

    /// A query or form that failed to deserialize.
    pub(crate) fn from_serde_path(
        place: &'static str,
        e: serde_path_to_error::Error<serde_urlencoded::de::Error>,
    ) -> Rejection {
        let msg = e.inner().to_string();
        Rejection::invalid(vec![item(place, e.path(), msg)])
    }

    /// A body that is not JSON (FastAPI's `json_invalid`; `loc` has the
    /// byte column where parsing stopped, on the line serde reports).
    pub(crate) fn json_syntax(inner: &serde_json::Error) -> Rejection {
        Rejection::invalid_one(
            "json_invalid",
            vec!["body".into(), (inner.column() as u64).into()],
            format!("JSON decode error: {inner}"),
        )
    }

    /// A JSON body that failed to parse or deserialize.
    pub(crate) fn from_json(e: serde_path_to_error::Error<serde_json::Error>) -> Rejection {
        let inner = e.inner();
        if inner.is_syntax() || inner.is_eof() {
            return Rejection::json_syntax(inner);
        }
        let msg = inner.to_string();
        Rejection::invalid(vec![item("body", e.path(), msg)])
    }
}

/// One item for a deserialization error at `path`: a missing field is
/// named at the end of `loc`, as FastAPI does; serde's " at line … column
/// …" suffix is left out of `msg` (the `loc` says where).
fn item(place: &'static str, path: &serde_path_to_error::Path, msg: String) -> RejectionItem {
    let mut loc: Vec<Value> = vec![place.into()];
    for seg in path.iter() {
        match seg {
            serde_path_to_error::Segment::Seq { index } => loc.push((*index as u64).into()),
            serde_path_to_error::Segment::Map { key } => loc.push(key.as_str().into()),
            serde_path_to_error::Segment::Enum { variant } => loc.push(variant.as_str().into()),
            serde_path_to_error::Segment::Unknown => loc.push("?".into()),
        }
    }
    let msg = match msg.find(" at line ") {
        Some(at) => msg[..at].to_owned(),
        None => msg,
    };
    let kind = if let Some(field) = msg.strip_prefix("missing field `").and_then(|r| r.strip_suffix('`')) {
        loc.push(field.into());
        "missing"
    } else if msg.starts_with("invalid type") {
        "type_error"
    } else {
        "value_error"
    };
    RejectionItem {
        kind: kind.to_owned(),
        loc,
        msg,
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.message())
    }
}

impl std::error::Error for Rejection {}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body<'a, T: Serialize> {
            detail: &'a T,
        }
        // Struct fields keep their order (`type`, `loc`, `msg`, as
        // FastAPI's); a `serde_json::Value` map would sort them.
        let body = match &self.detail {
            Detail::Message(m) => serde_json::to_string(&Body { detail: m }),
            Detail::Items(items) => serde_json::to_string(&Body { detail: items }),
        }
        .unwrap_or_default();
        let mut r = (self.status, body).into_response();
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if self.close {
            r.headers_mut()
                .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        }
        r
    }
}
