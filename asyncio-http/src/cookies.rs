//! Cookies: [`Cookies`] reads a request's (`request.cookies`), [`set`] and
//! [`remove`] write `Set-Cookie` on a response (`response.set_cookie`,
//! `delete_cookie`), through the `cookie` crate.
//!
//! ```
//! use asyncio_http::cookies::{self, Cookie, Cookies, SameSite};
//! use asyncio_http::{IntoResponse, Response};
//!
//! async fn visit(jar: Cookies) -> Response {
//!     let n: u32 = jar.get("visits").and_then(|v| v.parse().ok()).unwrap_or(0);
//!     let mut r = format!("visit {}", n + 1).into_response();
//!     cookies::set(&mut r, Cookie::build(("visits", (n + 1).to_string()))
//!         .path("/").http_only(true).same_site(SameSite::Lax).build());
//!     r
//! }
//! # drop(asyncio_http::Router::new().get("/", visit));
//! ```
//!
//! Values are not signed or encrypted here: a cookie that must not be
//! forged (a session) holds an opaque id the server looks up, or a
//! signed token.

pub use cookie::{Cookie, SameSite};
use http::header::{HeaderValue, COOKIE, SET_COOKIE};

use crate::extract::FromRequestParts;
use crate::request::Request;
use crate::response::Response;

/// A request's cookies, from its `Cookie` header(s); pairs that do not
/// parse are skipped.
#[derive(Clone, Debug, Default)]
pub struct Cookies {
    jar: Vec<Cookie<'static>>,
}

impl Cookies {
    /// The cookies in these headers.
    pub fn from_headers(headers: &http::HeaderMap) -> Cookies {
        let mut jar = Vec::new();
        for value in headers.get_all(COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            for c in Cookie::split_parse(value).flatten() {
                jar.push(c.into_owned());
            }
        }
        Cookies { jar }
    }

    /// The value of the first cookie named `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.jar.iter().find(|c| c.name() == name).map(Cookie::value)
    }

    /// Every cookie, in the order sent.
    pub fn iter(&self) -> impl Iterator<Item = &Cookie<'static>> {
        self.jar.iter()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.jar.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.jar.is_empty()
    }
}

impl FromRequestParts for Cookies {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(req: &mut Request) -> Result<Cookies, Self::Rejection> {
        Ok(Cookies::from_headers(req.headers()))
    }

    fn from_request_parts_now(req: &mut Request) -> Option<Result<Cookies, Self::Rejection>> {
        Some(Ok(Cookies::from_headers(req.headers())))
    }
}

/// Adds a `Set-Cookie` for `cookie` to `response` (a response may set
/// several).
pub fn set(response: &mut Response, cookie: Cookie<'_>) {
    if let Ok(v) = HeaderValue::from_str(&cookie.encoded().to_string()) {
        response.headers_mut().append(SET_COOKIE, v);
    }
}

/// Tells the client to drop its cookie `name` (set on `path`): an empty
/// value that expired at the epoch, `Max-Age=0`.
pub fn remove(response: &mut Response, name: &str, path: &str) {
    let mut c = Cookie::build((name.to_owned(), "")).path(path.to_owned()).build();
    c.make_removal();
    set(response, c);
}
