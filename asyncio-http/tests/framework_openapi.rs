//! `Router::openapi`: the document built from utoipa's declarations, the
//! routes it did not declare added, served at /openapi.json and /docs.

use asyncio_http::extract::{Json, Path, Query};
use asyncio_http::testing::TestClient;
use asyncio_http::Router;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, OpenApi, ToSchema};

#[derive(Serialize, Deserialize, ToSchema)]
struct Item {
    name: String,
    price: f64,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Deserialize, IntoParams)]
struct Page {
    /// At most this many.
    limit: Option<u32>,
}

/// Lists items.
#[utoipa::path(get, path = "/items", params(Page), responses((status = 200, body = [Item])))]
async fn list(Query(p): Query<Page>) -> Json<Vec<Item>> {
    let n = p.limit.unwrap_or(1) as usize;
    Json(
        (0..n)
            .map(|i| Item {
                name: format!("item {i}"),
                price: 1.0,
                tags: Vec::new(),
            })
            .collect(),
    )
}

/// Creates an item.
#[utoipa::path(post, path = "/items", request_body = Item,
    responses((status = 201, body = Item), (status = 422, description = "validation error")))]
async fn create(Json(item): Json<Item>) -> Json<Item> {
    Json(item)
}

async fn one(Path(id): Path<u32>) -> String {
    id.to_string()
}

#[derive(OpenApi)]
#[openapi(
    paths(list, create),
    components(schemas(Item)),
    info(title = "items", version = "1.0.0")
)]
struct ApiDoc;

#[test]
fn the_document_lists_declared_and_undeclared_routes() {
    asyncio::run(async {
        let app = Router::new()
            .get("/items", list)
            .post("/items", create)
            .get("/items/{id}", one)
            .openapi(ApiDoc::openapi());
        let c = TestClient::new(app);
        let r = c.get("/openapi.json").send().await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        let doc: Value = r.json();
        assert!(
            doc["openapi"].as_str().unwrap().starts_with("3.1"),
            "{}",
            doc["openapi"]
        );
        assert_eq!(doc["info"]["title"], "items");
        let item = &doc["components"]["schemas"]["Item"];
        assert_eq!(item["properties"]["price"]["type"], "number");
        assert_eq!(item["required"], serde_json::json!(["name", "price"]));
        assert_eq!(doc["paths"]["/items"]["get"]["parameters"][0]["name"], "limit");
        assert!(doc["paths"]["/items"]["post"]["responses"]["201"].is_object());
        let bare = &doc["paths"]["/items/{id}"]["get"];
        assert_eq!(bare["parameters"][0]["name"], "id");
        assert_eq!(bare["parameters"][0]["in"], "path");

        assert_eq!(c.get("/items?limit=2").send().await.json::<Vec<Value>>().len(), 2);

        let r = c.get("/docs").send().await;
        assert_eq!(r.status(), 200);
        assert!(r.text().contains("/openapi.json"));
        assert!(r.header("content-type").unwrap().starts_with("text/html"));
    });
}
