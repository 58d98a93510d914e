//! `cargo run --release -p asyncio-http --example json_api` — a small JSON
//! API in FastAPI's style: typed extractors, state, an error type, a
//! user-defined extractor for the caller, and the built-in middleware.
//!
//! ```sh
//! curl -s localhost:8080/items -H 'content-type: application/json' -H 'x-user: ann' \
//!      -d '{"name": "pen", "price": 1.5}'
//! curl -s localhost:8080/items/1
//! curl -s localhost:8080/items/x          # 422: {"detail":[{"type":"path_param","loc":["path","id"],...}]}
//! curl -s localhost:8080/items -H 'content-type: application/json' -H 'x-user: ann' -d '{"name": 1}'
//! ```

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use asyncio_examples_support::args::{ServerArgs, Workers};
use asyncio_http::extract::{FromRequestParts, Json, Path, Query, Rejection, State};
use asyncio_http::middleware::{AccessLog, Compression, Cors, Timeout};
use asyncio_http::{IntoResponse, Request, Response, Router, Server, StatusCode};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct NewItem {
    name: String,
    price: f64,
}

#[derive(Serialize, Clone)]
struct Item {
    id: u32,
    name: String,
    price: f64,
    owner: String,
}

#[derive(Deserialize)]
struct Page {
    limit: Option<usize>,
    offset: Option<usize>,
}

/// The worker loop's store (each loop has its own: a real service keeps
/// its data in a database pool, per loop too).
#[derive(Clone, Default)]
struct Store(Rc<RefCell<BTreeMap<u32, Item>>>);

/// The caller, from a header a gateway in front would set.
struct User(String);

impl FromRequestParts for User {
    type Rejection = Rejection;
    async fn from_request_parts(req: &mut Request) -> Result<User, Rejection> {
        req.header("x-user")
            .map(|u| User(u.to_owned()))
            .ok_or_else(|| Rejection::new(StatusCode::UNAUTHORIZED, "missing x-user header"))
    }
}

/// The API's errors, each an answer.
enum ApiError {
    NotFound(u32),
    Invalid(&'static str),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, detail) = match self {
            ApiError::NotFound(id) => (StatusCode::NOT_FOUND, format!("no item {id}")),
            ApiError::Invalid(why) => (StatusCode::UNPROCESSABLE_ENTITY, why.to_owned()),
        };
        (status, Json(serde_json::json!({ "detail": detail }))).into_response()
    }
}

async fn create(
    State(store): State<Store>,
    User(owner): User,
    Json(new): Json<NewItem>,
) -> Result<(StatusCode, Json<Item>), ApiError> {
    if new.price.is_nan() || new.price < 0.0 {
        return Err(ApiError::Invalid("price must be 0 or more"));
    }
    let mut items = store.0.borrow_mut();
    let id = items.keys().next_back().map_or(1, |k| k + 1);
    let item = Item {
        id,
        name: new.name,
        price: new.price,
        owner,
    };
    items.insert(id, item.clone());
    Ok((StatusCode::CREATED, Json(item)))
}

async fn read(State(store): State<Store>, Path(id): Path<u32>) -> Result<Json<Item>, ApiError> {
    store
        .0
        .borrow()
        .get(&id)
        .cloned()
        .map(Json)
        .ok_or(ApiError::NotFound(id))
}

async fn list(State(store): State<Store>, Query(page): Query<Page>) -> Json<Vec<Item>> {
    let items = store.0.borrow();
    let (offset, limit) = (page.offset.unwrap_or(0), page.limit.unwrap_or(20).min(100));
    Json(items.values().skip(offset).take(limit).cloned().collect())
}

fn app() -> Router {
    Router::new()
        .get("/items", list)
        .post("/items", create)
        .get("/items/{id}", read)
        .with_state(Store::default())
        .layer(Timeout::new(Duration::from_secs(10)))
        .layer(Compression::new())
        .layer(Cors::permissive())
        .layer(AccessLog::new())
}

#[asyncio::main]
async fn main() -> std::io::Result<()> {
    // One loop: the in-memory store lives on it.
    let args = ServerArgs::from_env("json_api", Workers::One);
    println!("JSON API on {}/items", args.url("http", args.addr()));
    Server::bind(args.addr().to_string()).serve(app).await
}
