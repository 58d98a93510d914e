//! The server's HTTP/2: in cleartext with prior knowledge (h2c) on the same
//! port as HTTP/1.1, over TLS when ALPN chose `h2`; routing, request and
//! response bodies (past the initial flow-control windows), streamed
//! responses and Server-Sent Events, a panicking handler, many streams at
//! once on one connection, and graceful shutdown (`GOAWAY`, the open stream
//! finishes), each through asyncio-http's own HTTP/2 client. curl's view
//! (`curl --http2-prior-knowledge`, `curl --http2 --cacert`) is checked by
//! `.ci/run` against the `hello` example.

mod support;
#[cfg(feature = "tls")]
mod tls_support;

use std::sync::OnceLock;
use std::time::Duration;

use asyncio_http::client::Client;
use asyncio_http::http::Version;
use asyncio_http::{sse, Request, Response, Router};
use support::{counting, echo_body, start};

async fn hello(_req: Request) -> &'static str {
    "Hello, world!"
}

async fn events(_req: Request) -> Response {
    sse::response(|tx| async move {
        for i in 0..3 {
            tx.send(sse::Event::data(format!("event {i}"))).await;
        }
        Ok::<(), std::io::Error>(())
    })
}

async fn boom(_req: Request) -> &'static str {
    panic!("the handler fails on purpose")
}

async fn version(req: Request) -> String {
    format!("{:?}", req.version())
}

/// The authority the request named and its `Host` headers, as received.
async fn authority(req: Request) -> String {
    let hosts: Vec<&str> = req
        .headers()
        .get_all("host")
        .iter()
        .filter_map(|h| h.to_str().ok())
        .collect();
    format!("{:?} {hosts:?}", req.uri().authority().map(|a| a.as_str()))
}

/// Tells the test it started, then answers once the test says so.
async fn held(_req: Request) -> &'static str {
    hold().0.send(()).await.unwrap();
    released().1.recv().await.unwrap();
    "released"
}

/// The channels between `held` (on a worker's loop) and the test.
fn hold() -> &'static (async_channel::Sender<()>, async_channel::Receiver<()>) {
    static HOLD: OnceLock<(async_channel::Sender<()>, async_channel::Receiver<()>)> = OnceLock::new();
    HOLD.get_or_init(async_channel::unbounded)
}

fn released() -> &'static (async_channel::Sender<()>, async_channel::Receiver<()>) {
    static RELEASED: OnceLock<(async_channel::Sender<()>, async_channel::Receiver<()>)> = OnceLock::new();
    RELEASED.get_or_init(async_channel::unbounded)
}

fn app() -> Router {
    Router::new()
        .get("/", hello)
        .post("/echo", echo_body)
        .get("/count", counting)
        .get("/events", events)
        .get("/boom", boom)
        .get("/version", version)
        .get("/authority", authority)
}

fn h2c() -> Client {
    Client::builder().http2_prior_knowledge().build().unwrap()
}

#[asyncio::test]
async fn h2c_and_http1_share_a_port() {
    let server = start(|s| s.workers(1), app).await;
    let base = format!("http://{}", server.local_addr());
    let client = h2c();
    let r = client.get(&format!("{base}/")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.version()), (200, Version::HTTP_2));
    assert_eq!(r.text().await.unwrap(), "Hello, world!");
    // The handler sees the request's version.
    let r = client.get(&format!("{base}/version")).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "HTTP/2.0");
    // HTTP/1.1 on the same port.
    let h1 = Client::builder().build().unwrap();
    let r = h1.get(&format!("{base}/version")).send().await.unwrap();
    assert_eq!(r.version(), Version::HTTP_11);
    assert_eq!(r.text().await.unwrap(), "HTTP/1.1");
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn bodies_streams_events_and_a_panic_over_h2c() {
    let server = start(|s| s.workers(1), app).await;
    let base = format!("http://{}", server.local_addr());
    let client = h2c();
    // 200 KB each way: past HTTP/2's initial 64 KiB windows.
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let r = client
        .post(&format!("{base}/echo"))
        .body(payload.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), Version::HTTP_2);
    assert_eq!(r.bytes().await.unwrap(), payload);
    let r = client.get(&format!("{base}/count")).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "0\n1\n2\n3\n4\n");
    let r = client.get(&format!("{base}/events")).send().await.unwrap();
    assert_eq!(r.headers().get("content-type").unwrap(), "text/event-stream");
    assert_eq!(
        r.text().await.unwrap(),
        "data: event 0\n\ndata: event 1\n\ndata: event 2\n\n"
    );
    // A panic is this stream's 500; the connection and the others go on.
    let r = client.get(&format!("{base}/boom")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 500);
    let r = client.get(&format!("{base}/")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // A larger body than the server's limit: 413.
    let big = vec![b'x'; 2 * 1024 * 1024];
    let r = client.post(&format!("{base}/echo")).body(big).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 413);
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn many_streams_at_once_on_one_connection() {
    // A limit of 8 streams at once: the client holds the rest back until
    // streams finish (the limit is announced in the server's SETTINGS).
    let server = start(|s| s.workers(1).http2_max_concurrent_streams(8), app).await;
    let base = format!("http://{}", server.local_addr());
    let client = h2c();
    let results = asyncio::gather((0..100).map(|i| {
        let (client, url) = (client.clone(), format!("{base}/echo"));
        async move {
            let r = client.post(&url).body(format!("stream {i}")).send().await.unwrap();
            assert_eq!(r.version(), Version::HTTP_2);
            r.text().await.unwrap()
        }
    }))
    .await;
    for (i, text) in results.iter().enumerate() {
        assert_eq!(text, &format!("stream {i}"));
    }
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn graceful_shutdown_lets_the_open_stream_finish() {
    let server = start(|s| s.workers(1), || app().get("/held", held)).await;
    let base = format!("http://{}", server.local_addr());
    let client = h2c();
    let request = asyncio::create_task({
        let client = client.clone();
        let url = format!("{base}/held");
        async move {
            let r = client.get(&url).send().await.unwrap();
            (r.status().as_u16(), r.version(), r.text().await.unwrap())
        }
    });
    // The handler is running: ask the server to stop, then let it answer.
    hold().1.recv().await.unwrap();
    let stop = asyncio::create_task(async move { server.shutdown().await });
    // Shutdown waits for the stream (it has not finished yet).
    asyncio::sleep(Duration::from_millis(20)).await;
    assert!(!stop.done(), "shutdown finished with a stream still open");
    released().0.send(()).await.unwrap();
    assert_eq!(request.await.unwrap(), (200, Version::HTTP_2, "released".to_owned()));
    stop.await.unwrap().unwrap();
}

#[cfg(feature = "tls")]
#[asyncio::test]
async fn h2_over_tls_when_alpn_chooses_it() {
    use tls_support::Pki;

    let pki = Pki::new("h2 CA");
    let ctx = Pki::server_ctx_offering(&pki.localhost(), &["h2", "http/1.1"]);
    let server = start(|s| s.workers(1).tls(ctx), app).await;
    let url = format!("https://localhost:{}/version", server.local_addr().port());
    let offering = |alpn: &[&str]| Client::builder().tls(pki.client_ctx_offering(alpn)).build().unwrap();
    let r = offering(&["h2", "http/1.1"]).get(&url).send().await.unwrap();
    assert_eq!(r.version(), Version::HTTP_2);
    assert_eq!(r.text().await.unwrap(), "HTTP/2.0");
    let r = offering(&["http/1.1"]).get(&url).send().await.unwrap();
    assert_eq!(r.version(), Version::HTTP_11);
    assert_eq!(r.text().await.unwrap(), "HTTP/1.1");
    server.shutdown().await.unwrap();
}

/// A `Host` of the request's own goes out over HTTP/2 as the `:authority`
/// (RFC 9113 allows no `Host` that differs from it), not beside it.
#[asyncio::test]
async fn a_custom_host_is_the_h2_authority() {
    let server = start(|s| s.workers(1), app).await;
    let base = format!("http://{}", server.local_addr());
    let client = h2c();
    let r = client.get(&format!("{base}/authority")).send().await.unwrap();
    assert_eq!(r.version(), Version::HTTP_2);
    let plain = r.text().await.unwrap();
    assert_eq!(plain, format!("Some({:?}) []", server.local_addr().to_string()));
    let r = client
        .get(&format!("{base}/authority"))
        .header("host", "virtual.example:8080")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), r#"Some("virtual.example:8080") []"#);
    for bad in ["not a host", "user@virtual.example"] {
        let err = client
            .get(&format!("{base}/authority"))
            .header("host", bad)
            .send()
            .await
            .unwrap_err();
        assert!(
            matches!(err, asyncio_http::client::Error::InvalidRequest(_)),
            "{bad}: {err:?}"
        );
    }
    server.shutdown().await.unwrap();
}
