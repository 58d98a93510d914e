//! [`ApiError`]: every failure a handler can answer with, in the RealWorld
//! spec's error format, `{"errors": {"body": ["..."]}}` (FastAPI's
//! `HTTPException` plus an exception handler, as one type).

use asyncio_http::extract::Json;
use asyncio_http::{BodyError, IntoResponse, Response, StatusCode};
use serde_json::json;

/// Why a request failed.
#[derive(Debug)]
pub enum ApiError {
    /// No token, or one that is malformed, forged or expired (`401`).
    Unauthorized(&'static str),
    /// Authenticated, but not the owner (`403`).
    Forbidden(&'static str),
    /// No such article, profile or comment (`404`).
    NotFound(&'static str),
    /// The request's content is not acceptable (`422`), one message per
    /// problem.
    Invalid(Vec<String>),
    /// The body is over the server's limit (`413`).
    TooLarge,
    /// The database failed (`500`; the cause is logged, not sent).
    Database(asyncio_postgres::Error),
    /// Something else failed inside (`500`; logged, not sent).
    Internal(String),
}

impl ApiError {
    /// A `422` with one message.
    pub fn invalid(msg: impl Into<String>) -> ApiError {
        ApiError::Invalid(vec![msg.into()])
    }
}

impl From<asyncio_postgres::Error> for ApiError {
    fn from(e: asyncio_postgres::Error) -> ApiError {
        ApiError::Database(e)
    }
}

impl From<BodyError> for ApiError {
    fn from(e: BodyError) -> ApiError {
        match e {
            BodyError::TooLarge { .. } => ApiError::TooLarge,
            other => ApiError::invalid(format!("unreadable body: {other}")),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, messages) = match self {
            ApiError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, vec![m.to_owned()]),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, vec![m.to_owned()]),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, vec![m.to_owned()]),
            ApiError::Invalid(ms) => (StatusCode::UNPROCESSABLE_ENTITY, ms),
            ApiError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, vec!["request body too large".to_owned()]),
            ApiError::Database(e) => {
                tracing::error!("conduit: database error: {e}");
                (StatusCode::INTERNAL_SERVER_ERROR, vec!["internal error".to_owned()])
            }
            ApiError::Internal(e) => {
                tracing::error!("conduit: internal error: {e}");
                (StatusCode::INTERNAL_SERVER_ERROR, vec!["internal error".to_owned()])
            }
        };
        (status, Json(json!({ "errors": { "body": messages } }))).into_response()
    }
}

/// What handlers return.
pub type ApiResult<T> = Result<T, ApiError>;
