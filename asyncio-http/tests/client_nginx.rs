//! The HTTP client against a server we did not write: nginx from the
//! distribution's packages (examples-support's `nginx`, installed when
//! missing), over HTTP/1.1 and HTTPS with a throwaway CA.

use asyncio_examples_support::nginx::{self, TempNginx};
use asyncio_http::client::{Body, Client, Error};
use asyncio_http::StatusCode;

fn server() -> &'static TempNginx {
    TempNginx::shared()
}

#[cfg(feature = "tls")]
fn tls_client() -> Client {
    let ctx = asyncio::tls::ClientContext::builder()
        .no_system_roots()
        .add_ca_pem(server().ca_pem().as_bytes())
        .unwrap()
        .alpn(["http/1.1"])
        .build()
        .unwrap();
    Client::builder().tls(ctx).build().unwrap()
}

/// The access log's lines for requests whose target is `path`, once there
/// are at least `want` of them: nginx writes a request's line after its
/// response has gone out, so the client can read the log before the last
/// line is there. Waits for the lines (up to 10 s), not for a set time.
async fn log_lines(path: &str, want: usize) -> Vec<(u64, u64, String)> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let lines = log_lines_now(path);
        if lines.len() >= want || std::time::Instant::now() > deadline {
            return lines;
        }
        asyncio::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// The access log's lines for `path` as they are now: (the connection's
/// number, the request's number on it, the protocol).
fn log_lines_now(path: &str) -> Vec<(u64, u64, String)> {
    server()
        .access_log()
        .lines()
        .filter(|line| line.contains(&format!(" {path} ")))
        .map(|line| {
            let mut fields = line.split(' ');
            let conn = fields.next().unwrap().parse().unwrap();
            let nth = fields.next().unwrap().parse().unwrap();
            let _port = fields.next();
            let protocol = fields.next().unwrap().to_owned();
            (conn, nth, protocol)
        })
        .collect()
}

#[asyncio::test]
async fn plain_http_and_keep_alive() {
    let client = Client::new();
    let url = server().http_url("/hello?keepalive-test");
    for _ in 0..5 {
        let resp = client.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers()["server"].to_str().unwrap().split('/').next(),
            Some("nginx")
        );
        assert_eq!(resp.text().await.unwrap(), nginx::HELLO);
    }
    let lines = log_lines("/hello?keepalive-test", 5).await;
    assert_eq!(lines.len(), 5);
    assert!(
        lines.iter().all(|(conn, _, _)| *conn == lines[0].0),
        "one connection: {lines:?}"
    );
    let nths: Vec<u64> = lines.iter().map(|l| l.1).collect();
    assert_eq!(nths, [1, 2, 3, 4, 5]);
}

#[asyncio::test]
async fn json_big_bodies_statuses_and_redirects() {
    let client = Client::new();
    let value: serde_json::Value = client
        .get(&server().http_url("/json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(value, serde_json::json!({"hello": "world"}));

    let big = client
        .get(&server().http_url("/big"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(big.len(), nginx::BIG_LEN);
    assert!(big[..] == nginx::big_body()[..]);

    for &code in nginx::STATUSES {
        let resp = client
            .get(&server().http_url(&format!("/status/{code}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), code);
        let _ = resp.bytes().await.unwrap();
    }

    let resp = client.get(&server().http_url("/redirect")).send().await.unwrap();
    assert_eq!(resp.url().path(), "/hello");
    assert_eq!(resp.text().await.unwrap(), nginx::HELLO);
    let err = client
        .get(&server().http_url("/redirect-loop"))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooManyRedirects { .. }), "{err:?}");
}

#[asyncio::test]
async fn uploads_with_a_length_and_chunked() {
    let client = Client::new();
    let body = vec![7u8; 3_000_000];
    let count = client
        .post(&server().http_url("/upload"))
        .body(body.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(count.trim(), "3000000");
    let chunks = futures_lite::stream::iter(
        body.chunks(100_000)
            .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    let count = client
        .post(&server().http_url("/upload"))
        .body(Body::from_stream(chunks))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(count.trim(), "3000000");
}

#[asyncio::test]
async fn echo_sees_the_request_as_sent() {
    let client = Client::new();
    let text = client
        .get(&server().http_url("/echo"))
        .query(&[("a", "1")])
        .header("x-test", "42")
        .basic_auth("u", Some("p"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("GET /echo?a=1 HTTP/1.1"), "{text}");
    assert!(text.contains("x-test: 42"), "{text}");
    assert!(text.contains("authorization: Basic dTpw"), "{text}");
    assert!(
        text.contains(&format!("host: 127.0.0.1:{}", server().http_port())),
        "{text}"
    );
}

#[cfg(feature = "tls")]
#[asyncio::test]
async fn https_with_the_throwaway_ca() {
    let client = tls_client();
    for url in [
        server().https_url("/hello?tls-test"),
        server().https_h1_url("/hello?tls-test"),
    ] {
        for _ in 0..3 {
            let resp = client.get(&url).send().await.unwrap();
            assert_eq!(resp.version(), http::Version::HTTP_11);
            assert_eq!(resp.text().await.unwrap(), nginx::HELLO);
        }
    }
    let lines = log_lines("/hello?tls-test", 6).await;
    assert_eq!(lines.len(), 6);
    assert!(lines.iter().all(|(_, _, protocol)| protocol == "HTTP/1.1"), "{lines:?}");
    // One connection per port.
    let conns: std::collections::HashSet<u64> = lines.iter().map(|l| l.0).collect();
    assert_eq!(conns.len(), 2, "{lines:?}");

    let big = client
        .get(&server().https_url("/big"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(big.len(), nginx::BIG_LEN);
}

#[cfg(feature = "tls")]
#[asyncio::test]
async fn https_refuses_a_server_it_does_not_trust() {
    // The system's roots do not hold the throwaway CA.
    let err = Client::new()
        .get(&server().https_url("/hello"))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Tls {
                source: asyncio::tls::TlsError::UnknownIssuer,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_connect());
}

#[cfg(feature = "tls")]
#[asyncio::test]
async fn http2_by_alpn_multiplexes_on_one_connection() {
    let ctx = asyncio::tls::ClientContext::builder()
        .no_system_roots()
        .add_ca_pem(server().ca_pem().as_bytes())
        .unwrap()
        .alpn(["h2", "http/1.1"])
        .build()
        .unwrap();
    let client = Client::builder().tls(ctx).build().unwrap();
    let url = server().https_url("/hello?h2-test");
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let client = client.clone();
            let url = url.clone();
            asyncio::create_task(async move {
                let resp = client.get(&url).send().await.unwrap();
                assert_eq!(resp.version(), http::Version::HTTP_2);
                resp.text().await.unwrap()
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), nginx::HELLO);
    }
    let lines = log_lines("/hello?h2-test", 20).await;
    assert_eq!(lines.len(), 20);
    assert!(
        lines.iter().all(|(c, _, p)| *c == lines[0].0 && p == "HTTP/2.0"),
        "{lines:?}"
    );
    assert_eq!(client.pool_stats().open, 1);

    // A response dropped mid-body resets its stream only: the connection
    // serves the next request.
    let mut big = client.get(&server().https_url("/big")).send().await.unwrap();
    assert!(big.chunk().await.unwrap().is_some());
    drop(big);
    let resp = client
        .get(&server().https_url("/hello?h2-after-reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.text().await.unwrap(), nginx::HELLO);
    let after = log_lines("/hello?h2-after-reset", 1).await;
    assert_eq!(after[0].0, lines[0].0, "the same connection");

    // Uploads and JSON over HTTP/2.
    let count = client
        .post(&server().https_url("/upload"))
        .body(vec![1u8; 1_000_000])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(count.trim(), "1000000");
    let value: serde_json::Value = client
        .get(&server().https_url("/json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(value["hello"], "world");
}

#[asyncio::test]
async fn h2c_with_prior_knowledge() {
    let client = Client::builder().http2_prior_knowledge().build().unwrap();
    for _ in 0..3 {
        let resp = client.get(&server().h2c_url("/hello?h2c-test")).send().await.unwrap();
        assert_eq!(resp.version(), http::Version::HTTP_2);
        assert_eq!(resp.text().await.unwrap(), nginx::HELLO);
    }
    let lines = log_lines("/hello?h2c-test", 3).await;
    assert!(
        lines.iter().all(|(c, _, p)| *c == lines[0].0 && p == "HTTP/2.0"),
        "{lines:?}"
    );
    let text = client
        .get(&server().h2c_url("/echo"))
        .header("x-test", "h2c")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("x-test: h2c"), "{text}");
    assert!(
        text.contains(&format!("host: 127.0.0.1:{}", server().h2c_port())),
        "{text}"
    );
}

#[asyncio::test]
async fn gzip_responses_are_decompressed() {
    let client = Client::new();
    let resp = client.get(&server().http_url("/text")).send().await.unwrap();
    assert!(
        resp.headers().get("content-encoding").is_none(),
        "decoded: {:?}",
        resp.headers()
    );
    let text = resp.text().await.unwrap();
    assert_eq!(text.len(), nginx::TEXT_LEN);
    assert_eq!(text, nginx::text_body());
    let log = server().access_log();
    let sent: usize = log
        .lines()
        .rfind(|l| l.contains(" /text "))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(sent < nginx::TEXT_LEN / 4, "nginx sent {sent} bytes: compressed");

    // Turned off: the encoded bytes as they came (and no Accept-Encoding).
    let raw = Client::builder().decompress(false).build().unwrap();
    let resp = raw.get(&server().http_url("/text")).send().await.unwrap();
    assert!(resp.headers().get("content-encoding").is_none());
    assert_eq!(resp.bytes().await.unwrap().len(), nginx::TEXT_LEN);
}
