//! OpenAPI (feature `openapi`): FastAPI's `/openapi.json` and `/docs`.
//!
//! The document comes from declarations, never hand-written JSON: the
//! handlers carry utoipa's `#[utoipa::path(...)]` (method, path,
//! parameters, request body, responses) and the types `#[derive(ToSchema)]`
//! (their schemas follow their serde attributes); `#[derive(OpenApi)]`
//! gathers them. [`Router::openapi`] then serves it, and adds every route
//! the router has that the document does not mention, with its path
//! parameters, so the published API is never smaller than the served one.
//!
//! ```
//! use asyncio_http::extract::{Json, Path};
//! use asyncio_http::Router;
//! use serde::{Deserialize, Serialize};
//! use utoipa::{OpenApi, ToSchema};
//!
//! #[derive(Serialize, Deserialize, ToSchema)]
//! struct Item { name: String, price: f64 }
//!
//! /// Reads one item.
//! #[utoipa::path(get, path = "/items/{id}",
//!     params(("id" = u32, Path, description = "the item's id")),
//!     responses((status = 200, body = Item), (status = 404, description = "no such item")))]
//! async fn read_item(Path(id): Path<u32>) -> Json<Item> {
//!     Json(Item { name: format!("item {id}"), price: 1.0 })
//! }
//!
//! #[derive(OpenApi)]
//! #[openapi(paths(read_item), components(schemas(Item)))]
//! struct ApiDoc;
//!
//! async fn health() -> &'static str { "ok" }
//!
//! let app = Router::new()
//!     .get("/items/{id}", read_item)
//!     .get("/health", health) // undocumented: listed bare
//!     .openapi(ApiDoc::openapi());
//! # drop(app);
//! ```
//!
//! The `/docs` page is Swagger UI, loaded from the jsDelivr CDN as
//! FastAPI's is: the browser that opens it needs to reach the CDN; the
//! document itself needs nothing.

use std::rc::Rc;

use http::header::{HeaderValue, CONTENT_TYPE};
use http::Method;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::{OpenApi, Required, ResponseBuilder};

use crate::response::{Html, IntoResponse};
use crate::router::Router;

fn http_method(m: &Method) -> Option<HttpMethod> {
    Some(match *m {
        Method::GET => HttpMethod::Get,
        Method::POST => HttpMethod::Post,
        Method::PUT => HttpMethod::Put,
        Method::DELETE => HttpMethod::Delete,
        Method::PATCH => HttpMethod::Patch,
        Method::OPTIONS => HttpMethod::Options,
        Method::HEAD => HttpMethod::Head,
        Method::TRACE => HttpMethod::Trace,
        _ => return None,
    })
}

/// A route pattern in OpenAPI's spelling (`{*rest}` is `{rest}`), and its
/// parameters' names.
fn openapi_path(pattern: &str) -> (String, Vec<String>) {
    let mut path = String::with_capacity(pattern.len());
    let mut names = Vec::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        path.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else { break };
        let name = rest[open + 1..open + close].trim_start_matches('*');
        path.push('{');
        path.push_str(name);
        path.push('}');
        names.push(name.to_owned());
        rest = &rest[open + close + 1..];
    }
    path.push_str(rest);
    (path, names)
}

/// `doc` with an operation for every route it lacks.
fn complete(mut doc: OpenApi, routes: &[(Method, String)]) -> OpenApi {
    for (method, pattern) in routes {
        let Some(m) = http_method(method) else { continue };
        let (path, params) = openapi_path(pattern);
        if doc.paths.get_path_operation(&path, m.clone()).is_some() {
            continue;
        }
        let mut op = OperationBuilder::new().response("200", ResponseBuilder::new().description("OK").build());
        for name in params {
            op = op.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .build(),
            );
        }
        doc.paths.add_path_operation(&path, vec![m], op.build());
    }
    doc
}

const DOCS_PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>API docs</title>
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui"});</script>
</body>
</html>
"##;

impl Router {
    /// Serves `doc` at `GET /openapi.json` and a Swagger UI page for it at
    /// `GET /docs` (FastAPI's two), after adding to it every route of this
    /// router that it does not document (method, path and path
    /// parameters; routes added after this call are not seen, so call it
    /// last). See the [`openapi`](crate::openapi) module.
    ///
    /// # Panics
    /// If the router already has `/openapi.json` or `/docs`, or the
    /// document does not serialize.
    pub fn openapi(self, doc: OpenApi) -> Router {
        let doc = complete(doc, &self.routes());
        let json: Rc<str> = doc.to_json().expect("the OpenAPI document serializes").into();
        self.get("/openapi.json", move || {
            let json = json.clone();
            async move {
                let mut r = json.to_string().into_response();
                r.headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                r
            }
        })
        .get("/docs", || async { Html(DOCS_PAGE) })
    }
}

#[cfg(test)]
mod tests {
    use super::openapi_path;

    #[test]
    fn patterns_in_openapi_spelling() {
        assert_eq!(
            openapi_path("/a/{id}/b/{*rest}"),
            ("/a/{id}/b/{rest}".into(), vec!["id".into(), "rest".into()])
        );
        assert_eq!(openapi_path("/plain"), ("/plain".into(), vec![]));
    }
}
