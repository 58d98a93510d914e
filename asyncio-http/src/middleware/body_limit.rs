//! [`BodyLimit`]: a smaller request body limit for some routes.

use std::future::ready;

use http::header::CONTENT_LENGTH;

use super::{Middleware, Next};
use crate::body::BodyError;
use crate::handler::HandlerFuture;
use crate::request::Request;
use crate::response::{HttpError, IntoResponse};

/// Limits request bodies to `limit` bytes: a declared `Content-Length`
/// over it is answered `413` before the handler runs, and reading past it
/// fails with [`BodyError::TooLarge`] (a `413` through `?` or an
/// extractor). The server's own limit
/// ([`Server::max_body_bytes`](crate::Server::max_body_bytes), 1 MiB by
/// default) applies first: raise it for the routes that take uploads and
/// wrap the others in this.
///
/// ```
/// use asyncio_http::middleware::BodyLimit;
/// use asyncio_http::Router;
///
/// async fn comment(body: String) -> String { body }
/// let app = Router::new().post("/comments", comment).route_layer(BodyLimit::new(4096));
/// # drop(app);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit {
    limit: u64,
}

impl BodyLimit {
    /// At most `limit` bytes per request body.
    pub fn new(limit: u64) -> BodyLimit {
        BodyLimit { limit }
    }
}

impl Middleware for BodyLimit {
    fn call(&self, mut req: Request, next: Next) -> HandlerFuture {
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.limit) {
            let refused = HttpError::from(BodyError::TooLarge { limit: self.limit });
            return HandlerFuture::new(ready(refused.into_response()));
        }
        let limit = req.body_mut().limit().min(self.limit);
        req.body_mut().set_limit(limit);
        next.run(req)
    }
}
