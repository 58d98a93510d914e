//! Authentication: Argon2id password hashes computed off the loop, HS256
//! JSON Web Tokens, and the [`AuthUser`] / [`MaybeUser`] extractors
//! (FastAPI's `Depends(get_current_user)`).
//!
//! A token is `base64url(header).base64url(claims).base64url(HMAC-SHA256)`
//! with claims `{"sub": user id, "exp": unix seconds}`; it is sent as
//! `Authorization: Token <jwt>` (the RealWorld spec; `Bearer` is accepted
//! too). Why not a JWT crate: HS256 is one HMAC, ring already does it for
//! the TLS stack, and a JWT crate brings a second crypto backend.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use asyncio_http::extract::FromRequestParts;
use asyncio_http::Request;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::App;

/// How long a token is valid.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: i32,
    exp: u64,
}

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A signed token for user `id`, valid for [`TOKEN_LIFETIME`].
pub fn issue_token(key: &hmac::Key, id: i32) -> String {
    let claims = serde_json::to_vec(&Claims {
        sub: id,
        exp: now() + TOKEN_LIFETIME.as_secs(),
    })
    .expect("claims serialize");
    let signed = format!("{}.{}", B64.encode(HEADER), B64.encode(claims));
    let tag = hmac::sign(key, signed.as_bytes());
    format!("{signed}.{}", B64.encode(tag.as_ref()))
}

/// The user id in `token`, if its signature is `key`'s, its header HS256
/// and it has not expired.
///
/// # Errors
/// [`ApiError::Unauthorized`] saying which check failed.
pub fn verify_token(key: &hmac::Key, token: &str) -> Result<i32, ApiError> {
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(ApiError::Unauthorized("malformed token"));
    };
    let sig = B64.decode(s).map_err(|_| ApiError::Unauthorized("malformed token"))?;
    hmac::verify(key, &token.as_bytes()[..h.len() + 1 + c.len()], &sig)
        .map_err(|_| ApiError::Unauthorized("invalid token signature"))?;
    let header: serde_json::Value = B64
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(ApiError::Unauthorized("malformed token"))?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return Err(ApiError::Unauthorized("unsupported token algorithm"));
    }
    let claims: Claims = B64
        .decode(c)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(ApiError::Unauthorized("malformed token"))?;
    if claims.exp <= now() {
        return Err(ApiError::Unauthorized("token expired"));
    }
    Ok(claims.sub)
}

/// Hashes `password` with Argon2id on asyncio's thread pool: about 20 ms
/// of CPU that must not stall the loop (the seeds' CPU-bound lesson).
///
/// # Errors
/// [`ApiError::Internal`] if the pool or the hash fails.
///
/// # Cancel safety
/// Dropping the future cancels the job if it has not started; a running
/// hash finishes on its thread and is discarded.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    let mut salt = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
        .map_err(|_| ApiError::Internal("no randomness for a salt".into()))?;
    asyncio::to_thread(move || {
        let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(ApiError::Internal)
}

/// Checks `password` against a stored hash, on the thread pool.
///
/// # Errors
/// [`ApiError::Internal`] if the pool fails or the stored hash is corrupt.
///
/// # Cancel safety
/// As [`hash_password`].
pub async fn verify_password(password: String, hash: String) -> Result<bool, ApiError> {
    asyncio::to_thread(move || {
        let parsed = PasswordHash::new(&hash).map_err(|e| e.to_string())?;
        Ok::<bool, String>(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(ApiError::Internal)
}

/// The token in a request's `Authorization` header, if there is one.
fn token(req: &Request) -> Option<Result<&str, ApiError>> {
    let value = req.headers().get("authorization")?;
    let Ok(value) = value.to_str() else {
        return Some(Err(ApiError::Unauthorized("malformed authorization header")));
    };
    Some(
        value
            .strip_prefix("Token ")
            .or_else(|| value.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(ApiError::Unauthorized("authorization must be `Token <jwt>`")),
    )
}

/// The authenticated caller; a request without a valid token is answered
/// `401` before the handler runs.
#[derive(Clone, Copy, Debug)]
pub struct AuthUser {
    /// The user's id.
    pub id: i32,
}

impl FromRequestParts for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(req: &mut Request) -> Result<AuthUser, ApiError> {
        let app = req
            .state::<App>()
            .ok_or_else(|| ApiError::Internal("the app's state is missing".into()))?;
        let token = token(req).ok_or(ApiError::Unauthorized("missing authorization token"))??;
        let id = verify_token(&app.key, token)?;
        Ok(AuthUser { id })
    }
}

/// The caller if a token is given (it must then be valid), else nobody:
/// for the routes that anyone may read but whose answer depends on who
/// asks (`following`, `favorited`).
#[derive(Clone, Copy, Debug)]
pub struct MaybeUser(pub Option<i32>);

impl FromRequestParts for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(req: &mut Request) -> Result<MaybeUser, ApiError> {
        if req.headers().get("authorization").is_none() {
            return Ok(MaybeUser(None));
        }
        AuthUser::from_request_parts(req).await.map(|u| MaybeUser(Some(u.id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_tampering() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"secret");
        let t = issue_token(&key, 42);
        assert_eq!(verify_token(&key, &t).unwrap(), 42);
        let other = hmac::Key::new(hmac::HMAC_SHA256, b"other");
        assert!(verify_token(&other, &t).is_err());
        let mut forged = t.clone();
        forged.insert(forged.find('.').unwrap() + 2, 'x');
        assert!(verify_token(&key, &forged).is_err());
        assert!(verify_token(&key, "a.b").is_err());
        assert!(verify_token(&key, "").is_err());
        let expired = {
            let claims = serde_json::to_vec(&Claims { sub: 1, exp: 1 }).unwrap();
            let signed = format!("{}.{}", B64.encode(HEADER), B64.encode(claims));
            let tag = hmac::sign(&key, signed.as_bytes());
            format!("{signed}.{}", B64.encode(tag.as_ref()))
        };
        assert!(matches!(
            verify_token(&key, &expired),
            Err(ApiError::Unauthorized("token expired"))
        ));
    }
}
