//! Routing in-process (the test client): path matching, percent-decoding
//! of path parameters, and the query, form and JSON extractors. Whatever
//! the request, the answer is a 2xx or a 4xx, never a 500, and a matched
//! parameter is exactly the decoded segment.
#![no_main]

use asyncio_http::extract::{Form, Json, Path, Query};
use asyncio_http::testing::TestClient;
use asyncio_http::Router;

#[derive(arbitrary::Arbitrary, Debug)]
struct Input {
    method: u8,
    target: String,
    content_type: u8,
    body: Vec<u8>,
}

#[derive(serde::Deserialize, serde::Serialize)]
struct Params {
    a: Option<u32>,
    b: Option<String>,
    flag: Option<bool>,
}

fn app() -> Router {
    Router::new()
        .get("/", || async { "root" })
        .get("/users/{id}", |Path(id): Path<String>| async move { id })
        .get("/files/{*path}", |Path(path): Path<String>| async move { path })
        .get("/a/{x}/b/{y}", |Path((x, y)): Path<(u32, String)>| async move {
            format!("{x}|{y}")
        })
        .get("/q", |Query(p): Query<Params>| async move { format!("{:?}", p.a) })
        .post("/form", |Form(p): Form<Params>| async move { format!("{:?}", p.b) })
        .post("/json", |Json(p): Json<Params>| async move { Json(p) })
}

libfuzzer_sys::fuzz_target!(|i: Input| {
    // The test client takes a path and query; anything else is refused
    // before it (by hyper, on a real connection).
    if !i.target.starts_with('/') || i.target.parse::<asyncio_http::http::Uri>().is_err() {
        return;
    }
    let method = ["GET", "POST", "HEAD", "PUT"][usize::from(i.method % 4)];
    let content_type =
        ["application/json", "application/x-www-form-urlencoded", "text/plain"][usize::from(i.content_type % 3)];
    asyncio::run(async {
        let client = TestClient::new(app());
        let r = client
            .request(method.parse().unwrap(), &i.target)
            .header("content-type", content_type)
            .body(i.body.clone())
            .send()
            .await;
        let status = r.status().as_u16();
        assert!(
            [200, 400, 404, 405, 413, 415, 422].contains(&status),
            "{method} {:?}: {status} {:?}",
            i.target,
            r.text()
        );
        // (A fragment is not part of the request's target.)
        let path = i.target.split(['?', '#']).next().unwrap();
        if let (200, Some(seg)) = (status, path.strip_prefix("/users/")) {
            if method == "GET" {
                let decoded = percent_encoding::percent_decode_str(seg).decode_utf8().unwrap();
                assert_eq!(r.text(), decoded, "{:?}", i.target);
            }
        }
    });
});
