//! The typed extractors through the in-process test client: each one's
//! value, and each one's rejection in FastAPI's error shape.

use std::cell::Cell;
use std::rc::Rc;

use asyncio_http::extract::{Extension, Form, FromRequestParts, Json, Path, Query, Rejection, State};
use asyncio_http::middleware::Next;
use asyncio_http::testing::TestClient;
use asyncio_http::{IntoResponse, Method, Request, Response, Router, StatusCode};
use bytes::Bytes;
use http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Deserialize, Serialize, Debug, PartialEq)]
struct NewItem {
    name: String,
    price: f64,
    tags: Vec<String>,
}

#[derive(Deserialize)]
struct Page {
    limit: Option<u32>,
    offset: u32,
}

#[derive(Clone)]
struct Counter(Rc<Cell<u32>>);

/// A user-defined extractor: the caller from a bearer token, checked
/// against a key in the state.
struct User(String);

impl FromRequestParts for User {
    type Rejection = Rejection;
    async fn from_request_parts(req: &mut Request) -> Result<User, Rejection> {
        let key = req.state::<&'static str>().copied().unwrap_or("");
        match req.header("authorization").and_then(|h| h.strip_prefix("Bearer ")) {
            Some(token) if token == key => Ok(User("ann".into())),
            _ => Err(Rejection::new(StatusCode::UNAUTHORIZED, "not authenticated")),
        }
    }
}

async fn one(Path(id): Path<u32>) -> String {
    format!("item {id}")
}

async fn two(Path((user, n)): Path<(String, i64)>) -> String {
    format!("{user}:{n}")
}

async fn page(Query(p): Query<Page>) -> String {
    format!("{:?} {}", p.limit, p.offset)
}

async fn create(State(counter): State<Counter>, user: User, Json(item): Json<NewItem>) -> (StatusCode, Json<Value>) {
    counter.0.set(counter.0.get() + 1);
    (
        StatusCode::CREATED,
        Json(json!({"by": user.0, "item": item, "n": counter.0.get()})),
    )
}

async fn maybe_user(user: Option<User>) -> String {
    user.map_or("anonymous".into(), |u| u.0)
}

async fn form(Form(p): Form<Page>) -> String {
    format!("{:?} {}", p.limit, p.offset)
}

async fn head_parts(method: Method, headers: HeaderMap, body: Bytes) -> String {
    format!("{method} {} {}", headers.len(), body.len())
}

async fn text(body: String) -> String {
    body.to_uppercase()
}

async fn ext(Extension(tag): Extension<&'static str>) -> &'static str {
    tag
}

async fn tag(mut req: Request, next: Next) -> Response {
    req.insert_local("tagged");
    next.run(req).await
}

async fn missing_state(State(_n): State<u64>) -> &'static str {
    "unreachable"
}

fn app() -> Router {
    Router::new()
        .get("/items/{id}", one)
        .get("/users/{user}/{n}", two)
        .get("/page", page)
        .post("/items", create)
        .get("/me", maybe_user)
        .post("/form", form)
        .post("/parts", head_parts)
        .post("/text", text)
        .get("/missing", missing_state)
        .merge(Router::new().get("/ext", ext).route_layer(tag))
        .with_state(Counter(Rc::new(Cell::new(0))))
        .with_state("s3cret")
}

fn detail(v: &Value) -> &Value {
    &v["detail"][0]
}

#[test]
fn path_values_parse_and_reject_with_their_name() {
    asyncio::run(async {
        let c = TestClient::new(app());
        let r = c.get("/items/42").send().await;
        assert_eq!((r.status(), r.text()), (StatusCode::OK, "item 42"));
        let r = c.get("/users/ann%20b/-7").send().await;
        assert_eq!(r.text(), "ann b:-7");
        let r = c.get("/items/abc").send().await;
        assert_eq!(r.status(), 422);
        assert_eq!(r.header("content-type"), Some("application/json"));
        let v: Value = r.json();
        assert_eq!(detail(&v)["loc"], json!(["path", "id"]));
        assert_eq!(detail(&v)["type"], "path_param");
    });
}

#[test]
fn query_into_a_struct() {
    asyncio::run(async {
        let c = TestClient::new(app());
        assert_eq!(c.get("/page?offset=3&limit=10").send().await.text(), "Some(10) 3");
        assert_eq!(c.get("/page?offset=3").send().await.text(), "None 3");
        let r = c.get("/page?limit=2").send().await;
        assert_eq!(r.status(), 422);
        let v: Value = r.json();
        assert_eq!(detail(&v)["loc"], json!(["query", "offset"]));
        assert_eq!(detail(&v)["type"], "missing");
        let r = c.get("/page?offset=x").send().await;
        assert_eq!(r.status(), 422);
        assert_eq!(detail(&r.json::<Value>())["loc"], json!(["query", "offset"]));
    });
}

#[test]
fn json_body_state_and_a_custom_extractor() {
    asyncio::run(async {
        let c = TestClient::new(app());
        let item = json!({"name": "pen", "price": 1.5, "tags": ["a"]});
        let r = c
            .post("/items")
            .json(&item)
            .header("authorization", "Bearer s3cret")
            .send()
            .await;
        assert_eq!(r.status(), 201, "{r:?}");
        assert_eq!(r.json::<Value>(), json!({"by": "ann", "item": item, "n": 1}));
        let r = c
            .post("/items")
            .json(&item)
            .header("authorization", "Bearer s3cret")
            .send()
            .await;
        assert_eq!(r.json::<Value>()["n"], 2, "the state is shared by requests");

        // The extractors run in order: the token is checked before the body.
        let r = c.post("/items").json(&item).send().await;
        assert_eq!(r.status(), 401);
        assert_eq!(r.json::<Value>(), json!({"detail": "not authenticated"}));
        assert_eq!(c.get("/me").send().await.text(), "anonymous");
        assert_eq!(
            c.get("/me")
                .header("authorization", "Bearer s3cret")
                .send()
                .await
                .text(),
            "ann"
        );
    });
}

#[test]
fn json_rejections_name_the_field() {
    asyncio::run(async {
        let c = TestClient::new(app()).default_header("authorization", "Bearer s3cret");
        let cases = [
            (json!({"name": "pen", "tags": []}), json!(["body", "price"]), "missing"),
            (
                json!({"name": "pen", "price": "ten", "tags": []}),
                json!(["body", "price"]),
                "type_error",
            ),
            (
                json!({"name": "pen", "price": 1, "tags": ["a", 2]}),
                json!(["body", "tags", 1]),
                "type_error",
            ),
            (json!("pen"), json!(["body"]), "type_error"),
        ];
        for (body, loc, kind) in cases {
            let r = c.post("/items").json(&body).send().await;
            assert_eq!(r.status(), 422, "{body}");
            let v: Value = r.json();
            assert_eq!(detail(&v)["loc"], loc, "{v}");
            assert_eq!(detail(&v)["type"], kind, "{v}");
        }
        for bad in ["{", "{\"name\": }", "", "{} trailing"] {
            let r = c
                .post("/items")
                .body(bad)
                .header("content-type", "application/json")
                .send()
                .await;
            assert_eq!(r.status(), 422, "{bad:?}");
            assert_eq!(detail(&r.json::<Value>())["type"], "json_invalid", "{bad:?}");
        }
        let r = c
            .post("/items")
            .body("{}")
            .header("content-type", "text/plain")
            .send()
            .await;
        assert_eq!(r.status(), 415);
        let r = c.post("/items").body("{}").send().await;
        assert_eq!(r.status(), 415, "no content type");
        let r = c
            .post("/items")
            .body(r#"{"name":"pen","price":1,"tags":[]}"#)
            .header("content-type", "application/vnd.api+json; charset=utf-8")
            .send()
            .await;
        assert_eq!(r.status(), 201, "a +json type is JSON");
    });
}

#[test]
fn bodies_past_the_limit_are_413() {
    asyncio::run(async {
        let c = TestClient::new(app())
            .max_body_bytes(100)
            .default_header("authorization", "Bearer s3cret");
        let big = json!({"name": "x".repeat(200), "price": 1, "tags": []});
        let r = c.post("/items").json(&big).send().await;
        assert_eq!(r.status(), 413);
        assert_eq!(r.header("connection"), Some("close"));
        let r = c.post("/text").body(vec![b'a'; 101]).send().await;
        assert_eq!(r.status(), 413);
    });
}

#[test]
fn form_head_parts_text_and_extensions() {
    asyncio::run(async {
        let c = TestClient::new(app());
        let r = c.post("/form").form(&[("offset", "5"), ("limit", "1")]).send().await;
        assert_eq!(r.text(), "Some(1) 5");
        let r = c.post("/form").body("offset=5").send().await;
        assert_eq!(r.status(), 415);
        let r = c.post("/parts").header("x-a", "1").body("abc").send().await;
        assert_eq!(r.text(), "POST 1 3");
        assert_eq!(c.post("/text").body("hi").send().await.text(), "HI");
        let r = c.post("/text").body(vec![0xff, 0xfe]).send().await;
        assert_eq!(r.status(), 400);
        assert_eq!(c.get("/ext").send().await.text(), "tagged");
    });
}

#[test]
fn a_state_never_given_is_a_bare_500() {
    asyncio::run(async {
        let r = TestClient::new(app()).get("/missing").send().await;
        assert_eq!(r.status(), 500);
        assert!(!r.text().contains("u64"), "no detail leaks: {}", r.text());
    });
}

#[test]
fn errors_map_to_responses_through_into_response() {
    #[derive(Debug)]
    enum ApiError {
        NotFound(String),
        Conflict,
    }
    impl IntoResponse for ApiError {
        fn into_response(self) -> Response {
            match self {
                ApiError::NotFound(what) => (
                    StatusCode::NOT_FOUND,
                    Json(json!({"errors": {"body": [format!("{what} not found")]}})),
                )
                    .into_response(),
                ApiError::Conflict => {
                    (StatusCode::CONFLICT, Json(json!({"errors": {"body": ["taken"]}}))).into_response()
                }
            }
        }
    }
    async fn find(Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
        match name.as_str() {
            "ann" => Ok(Json(json!({"name": "ann"}))),
            "bob" => Err(ApiError::Conflict),
            other => Err(ApiError::NotFound(other.to_owned())),
        }
    }
    asyncio::run(async {
        let c = TestClient::new(Router::new().get("/u/{name}", find));
        assert_eq!(c.get("/u/ann").send().await.json::<Value>(), json!({"name": "ann"}));
        let r = c.get("/u/zed").send().await;
        assert_eq!(r.status(), 404);
        assert_eq!(r.json::<Value>(), json!({"errors": {"body": ["zed not found"]}}));
        assert_eq!(c.get("/u/bob").send().await.status(), 409);
    });
}
