//! The framework over a real connection: extractors, rejections and
//! layers as a client on a socket sees them (framing, keep-alive, the
//! connection closed where the body's framing is in doubt).

mod support;

use std::io::Read;

use asyncio_http::extract::{Json, Path};
use asyncio_http::middleware::{AccessLog, BodyLimit, Compression};
use asyncio_http::{Body, Router};
use serde_json::{json, Value};
use support::{start, Conn};

async fn item(Path(id): Path<u32>, Json(body): Json<Value>) -> Json<Value> {
    Json(json!({"id": id, "body": body}))
}

async fn stream() -> Body {
    Body::writer(|w| async move {
        for i in 0..100 {
            w.send(format!("line {i} of a long streamed text\n")).await;
        }
        Ok::<(), std::io::Error>(())
    })
}

async fn boom() -> &'static str {
    panic!("handler bug")
}

fn app() -> Router {
    Router::new()
        .post("/items/{id}", item)
        .route_layer(BodyLimit::new(64))
        .get("/stream", stream)
        .get("/boom", boom)
        .layer(Compression::new())
        .layer(AccessLog::new())
}

#[asyncio::test]
async fn json_in_and_out_with_keep_alive() {
    let server = start(|s| s, app).await;
    let mut c = Conn::open(server.local_addr()).await;
    let body = r#"{"a":[1,2]}"#;
    let req = format!(
        "POST /items/7 HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    c.send(req.as_bytes()).await.unwrap();
    let r = c.response().await.unwrap().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("x-request-id").is_some());
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v, json!({"id": 7, "body": {"a": [1, 2]}}));

    // A rejected body is answered, and the connection goes on.
    let bad = "{\"a\":";
    let req = format!(
        "POST /items/x HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{bad}",
        bad.len()
    );
    c.send(req.as_bytes()).await.unwrap();
    let r = c.response().await.unwrap().unwrap();
    assert_eq!(r.status, 422, "the path is checked first: {}", r.text());
    assert!(!r.closes());
    c.send(b"GET /boom HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    let r = c.response().await.unwrap().unwrap();
    assert_eq!(r.status, 500);
    assert!(!r.text().contains("handler bug"));
    c.send(b"POST /items/1 HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        .await
        .unwrap();
    assert_eq!(c.response().await.unwrap().unwrap().status, 200, "still serving");
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn a_chunked_body_past_the_route_limit_is_413_and_closes() {
    let server = start(|s| s, app).await;
    let mut c = Conn::open(server.local_addr()).await;
    let chunk = "x".repeat(50);
    let req = format!(
        "POST /items/1 HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n32\r\n{chunk}\r\n32\r\n{chunk}\r\n0\r\n\r\n"
    );
    c.send(req.as_bytes()).await.unwrap();
    let r = c.response().await.unwrap().unwrap();
    assert_eq!(r.status, 413);
    assert!(r.closes());
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn a_streamed_body_is_compressed_on_the_wire() {
    let server = start(|s| s, app).await;
    let mut c = Conn::open(server.local_addr()).await;
    c.send(b"GET /stream HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n")
        .await
        .unwrap();
    let r = c.response().await.unwrap().unwrap();
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(&r.body[..])
        .read_to_string(&mut text)
        .unwrap();
    let want: String = (0..100)
        .map(|i| format!("line {i} of a long streamed text\n"))
        .collect();
    assert_eq!(text, want);
    server.shutdown().await.unwrap();
}
