//! Typed extractors: what a handler's arguments are made from.
//!
//! A handler is an async function whose arguments each say what they want
//! from the request; the router makes them, in order, before the handler
//! runs, and answers for it when one cannot be made (a path parameter that
//! is not a number, JSON without a required field). This is FastAPI's
//! signature-driven parameters, checked by the compiler instead of at
//! start-up:
//!
//! ```
//! use asyncio_http::extract::{Json, Path, Query, State};
//! use asyncio_http::Router;
//! use serde::{Deserialize, Serialize};
//! use std::rc::Rc;
//!
//! #[derive(Deserialize)]
//! struct Page { limit: Option<u32> }
//!
//! #[derive(Deserialize, Serialize)]
//! struct Item { name: String, price: f64 }
//!
//! struct Db { /* a pool, say */ }
//!
//! async fn read_item(Path(id): Path<u32>, Query(page): Query<Page>) -> String {
//!     format!("item {id}, limit {:?}", page.limit)
//! }
//!
//! async fn create_item(State(_db): State<Rc<Db>>, Json(item): Json<Item>) -> Json<Item> {
//!     Json(item)
//! }
//!
//! let app = Router::new()
//!     .get("/items/{id}", read_item)
//!     .post("/items", create_item)
//!     .with_state(Rc::new(Db {}));
//! # drop(app);
//! ```
//!
//! Every argument but the last implements [`FromRequestParts`]: it reads
//! the request's head (and may keep notes in it) but leaves the body. The
//! last may implement [`FromRequest`] and take the whole request: the body
//! extractors ([`Json`], [`Form`], `String`, `Bytes`,
//! [`RequestBody`]), or the [`Request`] itself. Every
//! `FromRequestParts` is also a `FromRequest`.
//!
//! | extractor | from | rejected with |
//! |---|---|---|
//! | [`Path<T>`] | the route's `{parameters}`: a struct by name, a tuple in order, or one value | `422` |
//! | [`Query<T>`] | the query string, into a struct | `422` |
//! | [`Json<T>`] | a JSON body (`Content-Type: application/json`) | `415`, `422`, `413` |
//! | [`Form<T>`] | an `application/x-www-form-urlencoded` body | `415`, `422`, `413` |
//! | [`State<T>`] | a value given to [`Router::with_state`](crate::Router::with_state) | `500` (not registered: a programming error, logged) |
//! | [`Extension<T>`] | a value a middleware attached with [`Request::insert_local`] | `500` (logged) |
//! | `HeaderMap`, `Method`, `Uri`, `Version` | the head (copies) | never |
//! | `String`, `Bytes`, `RequestBody` | the body (`String` must be UTF-8) | `400`, `413` |
//! | `Option<T>` (`T: FromRequestParts`) | `None` where `T` is rejected | never |
//! | `Result<T, T::Rejection>` | the rejection, to handle yourself | never |
//!
//! Rejections answer in FastAPI's shape, so clients written for it read
//! them unchanged: `{"detail": [{"type": "missing", "loc": ["body",
//! "item", "price"], "msg": "missing field `price`"}]}`.
//!
//! Write your own by implementing [`FromRequestParts`] (the usual example:
//! the authenticated user, from a token header and a key in the state).
//! The traits' methods are `async fn`s with no `Send` bound: everything a
//! handler touches lives on its worker loop.

mod path;
mod rejection;

use std::any::type_name;
use std::ops::{Deref, DerefMut};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, Method, StatusCode, Uri, Version};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::body::{BodyError, RequestBody};
use crate::request::Request;
use crate::response::{IntoResponse, Response};

pub use rejection::{Rejection, RejectionItem};

/// Made from a request's head, before the handler runs; any argument of a
/// handler may be one.
///
/// ```
/// use asyncio_http::extract::{FromRequestParts, Rejection};
/// use asyncio_http::Request;
/// use http::StatusCode;
///
/// /// The caller's user name, from a header a proxy sets.
/// struct User(String);
///
/// impl FromRequestParts for User {
///     type Rejection = Rejection;
///     async fn from_request_parts(req: &mut Request) -> Result<User, Rejection> {
///         match req.header("x-user") {
///             Some(name) => Ok(User(name.to_owned())),
///             None => Err(Rejection::new(StatusCode::UNAUTHORIZED, "no x-user header")),
///         }
///     }
/// }
///
/// async fn whoami(User(name): User) -> String {
///     name
/// }
/// # drop(asyncio_http::Router::new().get("/me", whoami));
/// ```
#[allow(async_fn_in_trait)] // on purpose: no `Send` bound, handlers stay on their loop
pub trait FromRequestParts: Sized {
    /// The answer when the value cannot be made.
    type Rejection: IntoResponse;

    /// Makes the value from the request's head. It may read the body's
    /// settings but should not read the body: a later argument may want it.
    ///
    /// # Errors
    /// The rejection, which becomes the response.
    ///
    /// # Cancel safety
    /// Dropping the future abandons the request, as dropping its handler.
    async fn from_request_parts(req: &mut Request) -> Result<Self, Self::Rejection>;

    /// The value at once, for an extractor that never waits (`Some`), or
    /// `None` to have [`from_request_parts`](Self::from_request_parts)
    /// awaited. Handlers whose extractors all answer at once skip an
    /// `async` step per request. The default is `None`; an override must
    /// give what `from_request_parts` would.
    #[doc(hidden)]
    fn from_request_parts_now(req: &mut Request) -> Option<Result<Self, Self::Rejection>> {
        let _ = req;
        None
    }
}

/// Made from the whole request (its body included); only a handler's last
/// argument may be one that is not also [`FromRequestParts`].
#[allow(async_fn_in_trait)] // on purpose: no `Send` bound, handlers stay on their loop
pub trait FromRequest: Sized {
    /// The answer when the value cannot be made.
    type Rejection: IntoResponse;

    /// Makes the value from the request.
    ///
    /// # Errors
    /// The rejection, which becomes the response.
    ///
    /// # Cancel safety
    /// Dropping the future abandons the request (and what was read of its
    /// body), as dropping its handler.
    async fn from_request(req: Request) -> Result<Self, Self::Rejection>;

    /// The value at once (`Ok`), or the request back (`Err`) to have
    /// [`from_request`](Self::from_request) awaited; as
    /// [`FromRequestParts::from_request_parts_now`].
    #[doc(hidden)]
    #[allow(clippy::result_large_err)] // the request moves back as it came: no copy to the heap
    fn from_request_now(req: Request) -> Result<Result<Self, Self::Rejection>, Request> {
        Err(req)
    }
}

impl<T: FromRequestParts> FromRequest for T {
    type Rejection = T::Rejection;
    async fn from_request(mut req: Request) -> Result<T, T::Rejection> {
        T::from_request_parts(&mut req).await
    }

    #[allow(clippy::result_large_err)] // the request moves back as it came: no copy to the heap
    fn from_request_now(mut req: Request) -> Result<Result<T, T::Rejection>, Request> {
        T::from_request_parts_now(&mut req).ok_or(req)
    }
}

impl FromRequest for Request {
    type Rejection = std::convert::Infallible;
    async fn from_request(req: Request) -> Result<Request, Self::Rejection> {
        Ok(req)
    }

    #[allow(clippy::result_large_err)] // the request moves back as it came: no copy to the heap
    #[inline]
    fn from_request_now(req: Request) -> Result<Result<Request, Self::Rejection>, Request> {
        Ok(Ok(req))
    }
}

impl<T: FromRequestParts> FromRequestParts for Option<T> {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(req: &mut Request) -> Result<Option<T>, Self::Rejection> {
        Ok(T::from_request_parts(req).await.ok())
    }

    fn from_request_parts_now(req: &mut Request) -> Option<Result<Option<T>, Self::Rejection>> {
        T::from_request_parts_now(req).map(|r| Ok(r.ok()))
    }
}

impl<T: FromRequestParts> FromRequestParts for Result<T, T::Rejection> {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(req: &mut Request) -> Result<Self, Self::Rejection> {
        Ok(T::from_request_parts(req).await)
    }

    fn from_request_parts_now(req: &mut Request) -> Option<Result<Self, Self::Rejection>> {
        T::from_request_parts_now(req).map(Ok)
    }
}

impl IntoResponse for std::convert::Infallible {
    fn into_response(self) -> Response {
        match self {}
    }
}

macro_rules! from_head {
    ($($t:ty => |$r:ident| $e:expr),* $(,)?) => {$(
        impl FromRequestParts for $t {
            type Rejection = std::convert::Infallible;
            async fn from_request_parts($r: &mut Request) -> Result<$t, Self::Rejection> {
                Ok($e)
            }

            fn from_request_parts_now($r: &mut Request) -> Option<Result<$t, Self::Rejection>> {
                Some(Ok($e))
            }
        }
    )*};
}

from_head! {
    HeaderMap => |req| req.headers().clone(),
    Method => |req| req.method().clone(),
    Uri => |req| req.uri().clone(),
    Version => |req| req.version(),
}

impl FromRequest for RequestBody {
    type Rejection = std::convert::Infallible;
    async fn from_request(mut req: Request) -> Result<RequestBody, Self::Rejection> {
        Ok(req.take_body())
    }
}

impl FromRequest for Bytes {
    type Rejection = BodyError;
    async fn from_request(mut req: Request) -> Result<Bytes, BodyError> {
        req.bytes().await
    }
}

impl FromRequest for String {
    type Rejection = BodyError;
    async fn from_request(mut req: Request) -> Result<String, BodyError> {
        req.text().await
    }
}

macro_rules! wrapper {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
        pub struct $name<T>(pub T);

        impl<T> Deref for $name<T> {
            type Target = T;
            fn deref(&self) -> &T {
                &self.0
            }
        }

        impl<T> DerefMut for $name<T> {
            fn deref_mut(&mut self) -> &mut T {
                &mut self.0
            }
        }
    };
}

wrapper! {
    /// The route's path parameters, deserialized: a struct (fields by
    /// parameter name), a tuple (in the route's order), or one value when
    /// the route has one parameter. Values are percent-decoded and parsed
    /// as the type asks (`Path<u32>` from `/items/{id}`); one that does not
    /// parse is a `422` naming it.
    Path
}

wrapper! {
    /// The query string, deserialized into `T` (usually a struct; an
    /// `Option` field is an optional parameter). A bad or missing value is
    /// a `422` naming the parameter.
    Query
}

wrapper! {
    /// A JSON body (request) or JSON response.
    ///
    /// As an extractor: the `Content-Type` must be `application/json` (or
    /// `…+json`), else `415`; a body that is not JSON, or not the shape of
    /// `T`, is a `422` whose `loc` is the path to the bad field
    /// (`["body", "article", "tagList", 2]`); past the body limit, `413`.
    ///
    /// As a response: `200` (or the status paired with it) with
    /// `Content-Type: application/json`. A value that fails to serialize
    /// (a map with non-string keys, say) is a `500`, logged.
    Json
}

wrapper! {
    /// An `application/x-www-form-urlencoded` body, deserialized as
    /// [`Query`] is; the `Content-Type` must say so, else `415`.
    Form
}

wrapper! {
    /// A value given to [`Router::with_state`](crate::Router::with_state),
    /// found by its type and cloned (so an `Rc` is the usual `T`: each
    /// worker loop builds its own router and its own state).
    State
}

wrapper! {
    /// A per-request value a middleware (or an earlier extractor) attached
    /// with [`Request::insert_local`], found by its type and cloned.
    Extension
}

impl<T: DeserializeOwned> FromRequestParts for Path<T> {
    type Rejection = Rejection;
    async fn from_request_parts(req: &mut Request) -> Result<Path<T>, Rejection> {
        path::deserialize(&req.params).map(Path)
    }

    fn from_request_parts_now(req: &mut Request) -> Option<Result<Path<T>, Rejection>> {
        Some(path::deserialize(&req.params).map(Path))
    }
}

fn urlencoded<T: DeserializeOwned>(bytes: &[u8], place: &'static str) -> Result<T, Rejection> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(bytes));
    serde_path_to_error::deserialize(de).map_err(|e| Rejection::from_serde_path(place, e))
}

impl<T: DeserializeOwned> FromRequestParts for Query<T> {
    type Rejection = Rejection;
    async fn from_request_parts(req: &mut Request) -> Result<Query<T>, Rejection> {
        urlencoded(req.query().unwrap_or("").as_bytes(), "query").map(Query)
    }

    fn from_request_parts_now(req: &mut Request) -> Option<Result<Query<T>, Rejection>> {
        Some(urlencoded(req.query().unwrap_or("").as_bytes(), "query").map(Query))
    }
}

/// True if the request's `Content-Type` is `essence` (or, for JSON, any
/// `…+json` type), whatever its parameters.
fn has_content_type(req: &Request, essence: &str, json: bool) -> bool {
    let Some(value) = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = value.split(';').next().unwrap_or("").trim();
    mime.eq_ignore_ascii_case(essence)
        || (json
            && mime.len() > 5
            && mime[mime.len() - 5..].eq_ignore_ascii_case("+json")
            && mime.to_ascii_lowercase().starts_with("application/"))
}

async fn body_of(mut req: Request) -> Result<Bytes, Rejection> {
    req.bytes().await.map_err(Rejection::from_body)
}

impl<T: DeserializeOwned> FromRequest for Json<T> {
    type Rejection = Rejection;
    async fn from_request(req: Request) -> Result<Json<T>, Rejection> {
        if !has_content_type(&req, "application/json", true) {
            return Err(Rejection::unsupported_media_type("application/json"));
        }
        let bytes = body_of(req).await?;
        Json::from_slice(&bytes)
    }
}

impl<T: DeserializeOwned> Json<T> {
    /// Parses `bytes` as [`Json`]'s extractor does (without the
    /// `Content-Type` check): the same `422` on failure.
    ///
    /// # Errors
    /// A `422` [`Rejection`] whose `loc` names the bad field.
    pub fn from_slice(bytes: &[u8]) -> Result<Json<T>, Rejection> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let value: T = match serde_path_to_error::deserialize(&mut de) {
            Ok(v) => v,
            Err(e) => {
                // Not the shape asked for; but if it is not JSON at all
                // (further on than where the shape failed), say that.
                if let Err(syntax) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                    return Err(Rejection::json_syntax(&syntax));
                }
                return Err(Rejection::from_json(e));
            }
        };
        de.end().map_err(|e| Rejection::json_syntax(&e))?;
        Ok(Json(value))
    }
}

const JSON_TYPE: http::HeaderValue = http::HeaderValue::from_static("application/json");

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(bytes) => {
                let mut r = http::Response::new(crate::Body::from(bytes));
                r.headers_mut().insert(CONTENT_TYPE, JSON_TYPE);
                r
            }
            Err(e) => {
                crate::report::error(format_args!(
                    "asyncio-http: a Json<{}> response failed to serialize: {e}",
                    type_name::<T>()
                ));
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

impl<T: DeserializeOwned> FromRequest for Form<T> {
    type Rejection = Rejection;
    async fn from_request(req: Request) -> Result<Form<T>, Rejection> {
        if !has_content_type(&req, "application/x-www-form-urlencoded", false) {
            return Err(Rejection::unsupported_media_type("application/x-www-form-urlencoded"));
        }
        let bytes = body_of(req).await?;
        urlencoded(&bytes, "body").map(Form)
    }
}

impl<T: Clone + 'static> FromRequestParts for State<T> {
    type Rejection = Rejection;
    async fn from_request_parts(req: &mut Request) -> Result<State<T>, Rejection> {
        state(req)
    }

    fn from_request_parts_now(req: &mut Request) -> Option<Result<State<T>, Rejection>> {
        Some(state(req))
    }
}

fn state<T: Clone + 'static>(req: &Request) -> Result<State<T>, Rejection> {
    match req.state::<T>() {
        Some(v) => Ok(State(v.clone())),
        None => Err(Rejection::misconfigured(format_args!(
            "State<{}> was asked for, but no value of that type was given to Router::with_state",
            type_name::<T>()
        ))),
    }
}

impl<T: Clone + 'static> FromRequestParts for Extension<T> {
    type Rejection = Rejection;
    async fn from_request_parts(req: &mut Request) -> Result<Extension<T>, Rejection> {
        extension(req)
    }

    fn from_request_parts_now(req: &mut Request) -> Option<Result<Extension<T>, Rejection>> {
        Some(extension(req))
    }
}

fn extension<T: Clone + 'static>(req: &Request) -> Result<Extension<T>, Rejection> {
    match req.local::<T>() {
        Some(v) => Ok(Extension(v.clone())),
        None => Err(Rejection::misconfigured(format_args!(
            "Extension<{}> was asked for, but nothing attached one to the request",
            type_name::<T>()
        ))),
    }
}
