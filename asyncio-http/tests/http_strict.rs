//! HTTP/1.1 requirements hyper leaves to the application, one test each:
//! `Host` as RFC 9112 section 3.2 wants it (missing in HTTP/1.1, repeated,
//! or invalid: `400`), an absolute-form target's authority standing in
//! for `Host` (section 3.2.2), and each target form only with its methods
//! (3.2.3, 3.2.4). Raw bytes through the real server.

mod support;

use std::net::SocketAddr;

use asyncio_http::{Request, Router};
use support::{request, start};

/// What the handler sees as the request's host.
async fn host(req: Request) -> String {
    match req.headers().get("host") {
        Some(h) => h.to_str().unwrap_or("(not text)").to_owned(),
        None => "(none)".to_owned(),
    }
}

/// Each request is answered `400` and its connection closed.
async fn refused(addr: SocketAddr, cases: &[(&str, &str)]) {
    for (raw, why) in cases {
        let r = request(addr, raw).await;
        assert_eq!(r.status, 400, "{why}: {r:?}");
        assert!(r.closes(), "{why}: the connection is closed after the 400");
    }
}

fn app() -> Router {
    Router::new().get("/", host)
}

#[asyncio::test]
async fn host_missing_repeated_or_invalid_is_400() {
    let server = start(|s| s.workers(1), app).await;
    let addr = server.local_addr();
    refused(
        addr,
        &[
            ("GET / HTTP/1.1\r\n\r\n", "an HTTP/1.1 request without Host"),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", "two equal Host headers"),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "two Host headers"),
            (
                "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
                "two Host headers in HTTP/1.0",
            ),
            ("GET / HTTP/1.1\r\nHost: user@example.com\r\n\r\n", "user information"),
            (
                "GET / HTTP/1.1\r\nHost: example.com:http\r\n\r\n",
                "a port that is no number",
            ),
            (
                "GET / HTTP/1.1\r\nHost: example.com:123456\r\n\r\n",
                "a port past 5 digits",
            ),
            ("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", "a path in Host"),
        ],
    )
    .await;
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn valid_hosts_and_http_1_0_without_one_are_served() {
    let server = start(|s| s.workers(1), app).await;
    let addr = server.local_addr();
    for (raw, seen) in [
        ("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", "example.com"),
        ("GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n", "example.com:8080"),
        ("GET / HTTP/1.1\r\nHost: [::1]:443\r\n\r\n", "[::1]:443"),
        ("GET / HTTP/1.1\r\nHost: \r\n\r\n", ""),
        ("GET / HTTP/1.0\r\n\r\n", "(none)"),
    ] {
        let r = request(addr, raw).await;
        assert_eq!((r.status, r.text().as_str()), (200, seen), "{raw:?}");
    }
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn an_absolute_form_target_names_the_host() {
    let server = start(|s| s.workers(1), app).await;
    let addr = server.local_addr();
    // The target's authority wins over the Host header (which must still
    // be present in HTTP/1.1), user information dropped.
    let r = request(addr, "GET http://example.com:8080/ HTTP/1.1\r\nHost: other\r\n\r\n").await;
    assert_eq!((r.status, r.text().as_str()), (200, "example.com:8080"));
    let r = request(addr, "GET http://user@example.com/ HTTP/1.1\r\nHost: other\r\n\r\n").await;
    assert_eq!((r.status, r.text().as_str()), (200, "example.com"));
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn target_forms_only_with_their_methods() {
    let server = start(|s| s.workers(1), app).await;
    let addr = server.local_addr();
    refused(
        addr,
        &[
            (
                "GET example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
                "authority-form with GET",
            ),
            (
                "CONNECT / HTTP/1.1\r\nHost: example.com\r\n\r\n",
                "CONNECT with origin-form",
            ),
            (
                "CONNECT http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
                "CONNECT with absolute-form",
            ),
            ("GET * HTTP/1.1\r\nHost: example.com\r\n\r\n", "asterisk-form with GET"),
        ],
    )
    .await;
    // The fitting pairs pass the check (and reach routing: no route here).
    for raw in [
        "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        "OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n",
    ] {
        let r = request(addr, raw).await;
        assert_ne!(r.status, 400, "{raw:?}: {r:?}");
    }
    server.shutdown().await.unwrap();
}
