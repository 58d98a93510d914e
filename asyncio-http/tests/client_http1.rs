//! The HTTP client against asyncio-http's own server (and, for what a
//! well-behaved server never does, a raw socket): requests and bodies,
//! the pool's reuse and limits, redirects, timeouts by phase, the errors,
//! and cancellation leaving the pool sound.

use std::cell::Cell;
use std::time::Duration;

use asyncio::sync::Event;
use asyncio_http::client::{Body, Client, Error, TimeoutKind, Timeouts};
use asyncio_http::{Request, Router, RunningServer, Server, StatusCode};
use bytes::Bytes;

mod client_support;
use client_support::{raw_server, read_head};
#[cfg(feature = "tls")]
mod tls_support;

async fn start(app: fn() -> Router) -> RunningServer {
    Server::bind("127.0.0.1:0")
        .handle_signals(false)
        .start(app)
        .await
        .expect("server starts")
}

fn base(server: &RunningServer) -> String {
    format!("http://{}", server.local_addr())
}

async fn echo(mut req: Request) -> String {
    let body = req.text().await.unwrap_or_default();
    let headers: Vec<String> = ["content-type", "authorization", "x-test", "user-agent", "host"]
        .iter()
        .filter_map(|h| req.header(h).map(|v| format!("{h}={v}")))
        .collect();
    format!(
        "{} {}?{} [{}] {}",
        req.method(),
        req.path(),
        req.query().unwrap_or(""),
        headers.join(";"),
        body
    )
}

/// The client's port as the server saw it: the same port, the same
/// connection.
async fn peer(req: Request) -> String {
    req.peer_addr().map(|a| a.port().to_string()).unwrap_or_default()
}

fn redirect(to: &'static str, status: u16) -> asyncio_http::Response {
    http::Response::builder()
        .status(status)
        .header("location", to)
        .body(asyncio_http::Body::from("moved"))
        .unwrap()
}

async fn big(_: Request) -> Vec<u8> {
    vec![b'x'; 4 << 20]
}

/// The body of a `GET` of `url`, as text.
async fn text_of(client: &Client, url: &str) -> String {
    client.get(url).send().await.unwrap().text().await.unwrap()
}

fn app() -> Router {
    Router::new()
        .get("/hello", |_: Request| async { "Hello, world!" })
        .get("/echo", echo)
        .post("/echo", echo)
        .route(http::Method::PUT, "/echo", echo)
        .route(http::Method::DELETE, "/echo", echo)
        .get("/peer", peer)
        .get("/json", |_: Request| async {
            http::Response::builder()
                .header("content-type", "application/json")
                .body(asyncio_http::Body::from(r#"{"name":"ada","langs":["en","fr"]}"#))
                .unwrap()
        })
        .get("/latin1", |_: Request| async {
            http::Response::builder()
                .header("content-type", "text/plain; charset=ISO-8859-1")
                .body(asyncio_http::Body::from(vec![0x63, 0x61, 0x66, 0xe9]))
                .unwrap()
        })
        .get("/status/{code}", |req: Request| async move {
            let code: u16 = req.param("code").unwrap().parse().unwrap();
            (StatusCode::from_u16(code).unwrap(), "status")
        })
        .get("/big", big)
        .get("/r/once", |_: Request| async { redirect("/hello", 302) })
        .post("/r/see-other", |_: Request| async { redirect("/echo", 303) })
        .post("/r/temporary", |_: Request| async { redirect("/echo", 307) })
        .get("/r/loop", |_: Request| async { redirect("/r/loop", 302) })
        .get("/r/relative", |_: Request| async { redirect("hello", 301) })
        .get("/stall", |_: Request| async {
            // Never answers (until the server shuts down).
            std::future::pending::<()>().await;
            "never"
        })
        .post("/stall", |mut req: Request| async move {
            // Reads the body, then never answers.
            let _ = req.text().await;
            std::future::pending::<()>().await;
            "never"
        })
}

#[asyncio::test]
async fn get_text_json_and_headers() {
    let server = start(app).await;
    let client = Client::new();
    let resp = client.get(&format!("{}/hello", base(&server))).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.version(), http::Version::HTTP_11);
    assert_eq!(resp.content_length(), Some(13));
    assert_eq!(resp.text().await.unwrap(), "Hello, world!");

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Person {
        name: String,
        langs: Vec<String>,
    }
    let person: Person = client
        .get(&format!("{}/json", base(&server)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(person.name, "ada");
    assert_eq!(person.langs, ["en", "fr"]);

    // The charset of the Content-Type decides the text's decoding.
    let text = client
        .get(&format!("{}/latin1", base(&server)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, "café");

    // Not JSON of that shape: a Json error.
    let err = client
        .get(&format!("{}/hello", base(&server)))
        .send()
        .await
        .unwrap()
        .json::<Person>()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Json(_)), "{err:?}");
}

#[asyncio::test]
async fn bodies_query_auth_and_default_headers() {
    let server = start(app).await;
    let client = Client::builder()
        .base_url(&format!("{}/", base(&server)))
        .default_header("x-test", "default")
        .build()
        .unwrap();
    let echoed = |resp: asyncio_http::client::Response| async move { resp.text().await.unwrap() };

    let text = echoed(
        client
            .post("echo")
            .json(&serde_json::json!({"a": 1}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        text.starts_with("POST /echo? [content-type=application/json;"),
        "{text}"
    );
    assert!(text.ends_with(r#"{"a":1}"#), "{text}");
    assert!(text.contains("x-test=default"), "{text}");
    assert!(text.contains("user-agent=asyncio-http/"), "{text}");
    assert!(text.contains(&format!("host={}", server.local_addr())), "{text}");

    let text = echoed(
        client
            .get("/echo")
            .query(&[("q", "a b&c"), ("n", "1")])
            .header("x-test", "mine")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(text.starts_with("GET /echo?q=a+b%26c&n=1 [x-test=mine;"), "{text}");

    let text = echoed(client.put("echo").form(&[("k", "v w")]).send().await.unwrap()).await;
    assert!(
        text.contains("content-type=application/x-www-form-urlencoded"),
        "{text}"
    );
    assert!(text.ends_with("k=v+w"), "{text}");

    let text = echoed(
        client
            .delete("echo")
            .basic_auth("ada", Some("pw"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(text.contains("authorization=Basic YWRhOnB3"), "{text}");
    let text = echoed(client.get("echo").bearer_auth("tok").send().await.unwrap()).await;
    assert!(text.contains("authorization=Bearer tok"), "{text}");

    // A streamed body (chunked).
    let chunks = futures_lite::stream::iter(["one ", "two ", "three"].map(|s| Ok(Bytes::from(s))));
    let text = echoed(
        client
            .post("echo")
            .body(Body::from_stream(chunks))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(text.ends_with("one two three"), "{text}");

    // Credentials in the URL become Basic authentication.
    let url = format!("http://ada:pw@{}/echo", server.local_addr());
    let text = echoed(Client::new().get(&url).send().await.unwrap()).await;
    assert!(text.contains("authorization=Basic YWRhOnB3"), "{text}");
}

#[asyncio::test]
async fn one_connection_is_reused_for_sequential_requests() {
    let server = start(app).await;
    let client = Client::new();
    let url = format!("{}/peer", base(&server));
    let mut ports = Vec::new();
    for _ in 0..10 {
        ports.push(client.get(&url).send().await.unwrap().text().await.unwrap());
    }
    assert!(ports.iter().all(|p| *p == ports[0]), "{ports:?}");
    let stats = client.pool_stats();
    assert_eq!((stats.open, stats.idle, stats.waiting), (1, 1, 0));
}

#[asyncio::test]
async fn concurrent_requests_respect_the_limits() {
    let server = start(app).await;
    let client = Client::builder().max_connections(4).build().unwrap();
    let url = format!("{}/peer", base(&server));
    let peak = std::rc::Rc::new(Cell::new(0));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let client = client.clone();
            let url = url.clone();
            let peak = peak.clone();
            asyncio::create_task(async move {
                let resp = client.get(&url).send().await.unwrap();
                peak.set(peak.get().max(client.pool_stats().open));
                resp.text().await.unwrap()
            })
        })
        .collect();
    let mut ports = std::collections::HashSet::new();
    for task in tasks {
        ports.insert(task.await.unwrap());
    }
    assert!(peak.get() <= 4, "peak {}", peak.get());
    assert!(ports.len() <= 4, "{ports:?}");
    assert_eq!(client.pool_stats().waiting, 0);
}

#[asyncio::test]
async fn redirects() {
    let server = start(app).await;
    let client = Client::new();
    let b = base(&server);

    let resp = client.get(&format!("{b}/r/once")).send().await.unwrap();
    assert_eq!(resp.url().path(), "/hello");
    assert_eq!(resp.text().await.unwrap(), "Hello, world!");

    let resp = client.get(&format!("{b}/r/relative")).send().await.unwrap();
    assert_eq!(resp.url().path(), "/r/hello", "relative to the redirecting URL");

    // 303 after a POST: a GET without the body.
    let text = client
        .post(&format!("{b}/r/see-other"))
        .body("payload")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.starts_with("GET /echo"), "{text}");
    assert!(!text.contains("payload"), "{text}");

    // 307 repeats the method and the body.
    let text = client
        .post(&format!("{b}/r/temporary"))
        .body("payload")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.starts_with("POST /echo") && text.ends_with("payload"), "{text}");

    let err = client.get(&format!("{b}/r/loop")).send().await.unwrap_err();
    assert!(matches!(err, Error::TooManyRedirects { followed: 10, .. }), "{err:?}");

    // Not followed when turned off.
    let client = Client::builder().follow_redirects(false).build().unwrap();
    let resp = client.get(&format!("{b}/r/once")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(resp.headers()["location"], "/hello");
}

#[asyncio::test]
async fn authorization_is_dropped_on_a_redirect_to_another_origin() {
    let first = start(app).await;
    let second = start(app).await;
    thread_local!(static TARGET: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) });
    TARGET.with(|t| *t.borrow_mut() = format!("{}/echo", base(&second)));
    // A redirect to the second server, built at run time.
    let hop = start(|| {
        Router::new().get("/away", |_: Request| async {
            let to = TARGET.with(|t| t.borrow().clone());
            http::Response::builder()
                .status(302)
                .header("location", to)
                .body(asyncio_http::Body::empty())
                .unwrap()
        })
    })
    .await;
    let text = Client::new()
        .get(&format!("{}/away", base(&hop)))
        .bearer_auth("secret")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.starts_with("GET /echo"), "{text}");
    assert!(!text.contains("secret"), "{text}");
    drop(first);
}

/// The client's default credentials stay with the first origin too, not
/// only the request's own (a token given to `default_header` went to the
/// redirect's target before).
#[asyncio::test]
async fn default_credentials_are_dropped_on_a_redirect_to_another_origin() {
    let second = start(app).await;
    thread_local!(static TARGET: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) });
    TARGET.with(|t| *t.borrow_mut() = format!("{}/echo", base(&second)));
    let hop = start(|| {
        Router::new()
            .get("/away", |_: Request| async {
                let to = TARGET.with(|t| t.borrow().clone());
                http::Response::builder()
                    .status(302)
                    .header("location", to)
                    .body(asyncio_http::Body::empty())
                    .unwrap()
            })
            .get("/echo", echo)
    })
    .await;
    let client = Client::builder()
        .default_header("authorization", "Bearer s3cret")
        .default_header("x-test", "kept")
        .build()
        .unwrap();
    // Same origin: the default goes out.
    let text = client
        .get(&format!("{}/echo", base(&hop)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("authorization=Bearer s3cret"), "{text}");
    // Another origin after a redirect: not the credentials, the rest yes,
    // and `Host` names the new origin.
    let text = client
        .get(&format!("{}/away", base(&hop)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.starts_with("GET /echo"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
    assert!(text.contains("x-test=kept"), "{text}");
    assert!(text.contains(&format!("host={}", second.local_addr())), "{text}");
}

/// A `Host` the caller sets replaces the URL's (one `Host` goes out: our
/// server refuses two with a 400); after a redirect to another origin the
/// new URL's is sent.
#[asyncio::test]
async fn a_host_header_set_by_the_caller_is_the_only_one() {
    let server = start(app).await;
    let url = format!("{}/echo", base(&server));
    let text = Client::new()
        .get(&url)
        .header("host", "api.internal")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.starts_with("GET /echo") && text.contains("host=api.internal"),
        "{text}"
    );
    let client = Client::builder()
        .default_header("host", "default.internal")
        .build()
        .unwrap();
    let text = client.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(
        text.starts_with("GET /echo") && text.contains("host=default.internal"),
        "{text}"
    );
}

/// A HEAD response declares the resource's length and carries no body:
/// the size limit does not refuse it, and its `Content-Length` stays.
#[asyncio::test]
async fn the_size_limit_leaves_bodiless_responses_alone() {
    let server = start(app).await;
    let client = Client::builder().max_response_size(1 << 20).build().unwrap();
    let resp = client.head(&format!("{}/big", base(&server))).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.content_length(), Some(4 << 20));
    assert!(resp.bytes().await.unwrap().is_empty());
    // The GET of the same resource is still refused.
    let err = client.get(&format!("{}/big", base(&server))).send().await.unwrap_err();
    assert!(matches!(err, Error::BodyTooLarge { .. }), "{err:?}");
}

#[asyncio::test]
async fn error_for_status() {
    let server = start(app).await;
    let client = Client::new();
    let ok = client
        .get(&format!("{}/status/204", base(&server)))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.error_for_status().unwrap().status(), StatusCode::NO_CONTENT);
    let err = client
        .get(&format!("{}/status/503", base(&server)))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    // The error names the URL, not its password.
    let with_password = base(&server).replace("http://", "http://me:s3cret@");
    let err = client
        .get(&format!("{with_password}/status/503"))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap_err();
    assert!(!format!("{err} {err:?}").contains("s3cret"), "{err:?}");
}

#[asyncio::test]
async fn failures_to_connect_are_their_own_errors() {
    let client = Client::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = client
        .get(&format!("http://127.0.0.1:{port}/"))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Connect { target, source } if target == &format!("127.0.0.1:{port}") && source.kind() == std::io::ErrorKind::ConnectionRefused),
        "{err:?}"
    );
    assert!(err.is_connect());

    let err = client.get("http://no-such-host.invalid/").send().await.unwrap_err();
    assert!(
        matches!(&err, Error::Dns { host, .. } if host == "no-such-host.invalid"),
        "{err:?}"
    );

    for url in ["not a url", "ftp://example.com/", "http://", "/relative-without-base"] {
        let err = client.get(url).send().await.unwrap_err();
        assert!(matches!(err, Error::InvalidUrl(_)), "{url}: {err:?}");
    }
    let err = client
        .get("http://127.0.0.1:1/")
        .header("bad header", "x")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");
    assert_eq!(client.pool_stats().open, 0);
}

#[asyncio::test]
async fn a_response_dropped_mid_body_closes_its_connection() {
    let server = start(app).await;
    let client = Client::new();
    let b = base(&server);
    let first_port = client
        .get(&format!("{b}/peer"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut resp = client.get(&format!("{b}/big")).send().await.unwrap();
    let chunk = resp.chunk().await.unwrap().unwrap();
    assert!(!chunk.is_empty());
    drop(resp);
    assert_eq!(client.pool_stats().open, 0, "the half-read connection is closed");
    let next_port = client
        .get(&format!("{b}/peer"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_ne!(first_port, next_port, "a new connection");

    // Read to the end, a body lets its connection be reused.
    let bytes = client
        .get(&format!("{b}/big"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.len(), 4 << 20);
    let again = client
        .get(&format!("{b}/peer"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(again, next_port);
}

#[asyncio::test]
async fn a_request_dropped_while_waiting_closes_its_connection() {
    let server = start(app).await;
    let client = Client::new();
    let result = asyncio::timeout(
        Duration::from_millis(50),
        client.get(&format!("{}/stall", base(&server))).send(),
    )
    .await;
    assert!(result.is_err());
    assert_eq!(client.pool_stats().open, 0);
    // The pool goes on.
    assert_eq!(
        text_of(&client, &format!("{}/hello", base(&server))).await,
        "Hello, world!"
    );
}

#[asyncio::test]
async fn the_maximum_response_size() {
    let server = start(app).await;
    let client = Client::builder().max_response_size(1 << 20).build().unwrap();
    // Declared too large: refused before reading.
    let err = client.get(&format!("{}/big", base(&server))).send().await.unwrap_err();
    assert!(matches!(err, Error::BodyTooLarge { limit: 1048576 }), "{err:?}");
    let text = client
        .get(&format!("{}/hello", base(&server)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, "Hello, world!");
}

#[asyncio::test]
async fn read_and_total_timeouts() {
    let server = start(app).await;
    let client = Client::builder().timeout(Duration::from_millis(200)).build().unwrap();
    let err = client
        .get(&format!("{}/stall", base(&server)))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(TimeoutKind::Read)), "{err:?}");
    assert!(err.is_timeout());
    let err = Client::new()
        .get(&format!("{}/stall", base(&server)))
        .timeout(Duration::from_millis(100))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(TimeoutKind::Total)), "{err:?}");
}

#[asyncio::test]
async fn pool_timeout_when_every_connection_is_busy() {
    let server = start(app).await;
    let client = Client::builder()
        .max_connections(1)
        .timeouts(Timeouts {
            pool: Some(Duration::from_millis(100)),
            ..Timeouts::default()
        })
        .build()
        .unwrap();
    // Holds the only connection: its body is not read.
    let held = client.get(&format!("{}/big", base(&server))).send().await.unwrap();
    let err = client
        .get(&format!("{}/hello", base(&server)))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(TimeoutKind::Pool)), "{err:?}");
    assert_eq!(client.pool_stats().waiting, 0, "the waiter left the queue");
    drop(held);
    let text = client
        .get(&format!("{}/hello", base(&server)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, "Hello, world!");
}

#[asyncio::test]
async fn a_server_closing_mid_body_or_talking_nonsense() {
    let (addr, _) = raw_server(|stream, _| async move {
        let head = read_head(&stream).await;
        let reply: &[u8] = if head.starts_with(b"GET /short") {
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this"
        } else {
            b"this is not HTTP\r\n\r\n"
        };
        stream.write_all(reply).await.unwrap();
    })
    .await;
    let client = Client::new();
    let resp = client.get(&format!("http://{addr}/short")).send().await.unwrap();
    let err = resp.bytes().await.unwrap_err();
    assert!(matches!(err, Error::Closed(_)), "{err:?}");
    let err = client.get(&format!("http://{addr}/nonsense")).send().await.unwrap_err();
    assert!(matches!(err, Error::Protocol(_)), "{err:?}");
    assert_eq!(client.pool_stats().open, 0);
}

/// A server that answers an upload before its end: the response is read
/// with the upload still going, and the upload's stream stalls. The
/// connection is not kept for the next request (which would wait for the
/// producer, without bound when there is no pool timeout): it gets a new
/// one.
#[asyncio::test]
async fn a_connection_still_sending_a_stalled_upload_is_not_waited_for() {
    let (addr, connections) = raw_server(|stream, _| async move {
        loop {
            let head = read_head(&stream).await;
            if head.is_empty() {
                return;
            }
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .await
                .unwrap();
        }
    })
    .await;
    let client = Client::builder().timeouts(Timeouts::none()).build().unwrap();
    let url = format!("http://{addr}/");
    // One chunk, then nothing more, ever.
    use futures_lite::StreamExt as _;
    let upload = futures_lite::stream::once(Ok::<_, std::io::Error>(Bytes::from_static(b"part")))
        .chain(futures_lite::stream::pending());
    let resp = client.post(&url).body(Body::from_stream(upload)).send().await.unwrap();
    assert_eq!(resp.text().await.unwrap(), "ok");
    let text = asyncio::timeout(Duration::from_secs(10), text_of(&client, &url))
        .await
        .expect("not held by the stalled upload");
    assert_eq!(text, "ok");
    assert_eq!(connections.get(), 2);
}

/// A streamed upload whose producer pauses longer than the read timeout
/// between chunks: the server is waiting for the body, not failing to
/// answer, so the read timeout does not fire (it counts from the body's
/// end); once the body is sent, it does apply.
#[asyncio::test]
async fn a_pausing_upload_producer_is_not_a_read_timeout() {
    let server = start(app).await;
    let client = Client::builder()
        .timeouts(Timeouts {
            read: Some(Duration::from_millis(100)),
            ..Timeouts::none()
        })
        .build()
        .unwrap();
    let url = format!("{}/echo", base(&server));
    for h2 in [false, true] {
        let client = if h2 {
            Client::builder()
                .http2_prior_knowledge()
                .timeouts(Timeouts {
                    read: Some(Duration::from_millis(100)),
                    ..Timeouts::none()
                })
                .build()
                .unwrap()
        } else {
            client.clone()
        };
        use futures_lite::StreamExt as _;
        let upload = futures_lite::stream::iter(["one ", "two"]).then(|part| async move {
            // Three times the read timeout between the chunks.
            if part == "two" {
                asyncio::sleep(Duration::from_millis(300)).await;
            }
            Ok::<_, std::io::Error>(Bytes::from_static(part.as_bytes()))
        });
        let resp = client.post(&url).body(Body::from_stream(upload)).send().await;
        let text = resp.unwrap_or_else(|e| panic!("h2 {h2}: {e:?}")).text().await.unwrap();
        assert!(text.ends_with("one two"), "h2 {h2}: {text}");
    }
    // The server that never answers after the body is still caught.
    let stall = format!("{}/stall", base(&server));
    let upload = futures_lite::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"x"))]);
    let err = client
        .post(&stall)
        .body(Body::from_stream(upload))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(TimeoutKind::Read)), "{err:?}");
}

/// A streamed upload that the server stops taking (HTTP/2: it never
/// opens the flow-control window past its first 64 KiB, and never
/// answers): the producer is not what the request waits for, so the read
/// timeout does fire.
#[asyncio::test]
async fn a_stalled_upload_the_server_does_not_take_is_a_read_timeout() {
    let (addr, _) = raw_server(|stream, _| serve_h2_frames(stream, |_| H2Reply::Send(Vec::new()))).await;
    let client = Client::builder()
        .http2_prior_knowledge()
        .timeouts(Timeouts {
            read: Some(Duration::from_millis(200)),
            ..Timeouts::none()
        })
        .build()
        .unwrap();
    let chunks = (0..64).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![0u8; 16 << 10])));
    let upload = client
        .post(&format!("http://{addr}/"))
        .body(Body::from_stream(futures_lite::stream::iter(chunks)))
        .send();
    let err = asyncio::timeout(Duration::from_secs(10), upload)
        .await
        .expect("the read timeout fired")
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(TimeoutKind::Read)), "{err:?}");
}

/// An HTTP/2 server (one stream at a time) that answers a streamed upload
/// in full before the upload ends: the stream stays open, and counted,
/// until the upload ends, so the next request opens another connection
/// instead of waiting inside hyper behind it.
#[asyncio::test]
async fn an_h2_stream_answered_before_its_upload_ends_is_still_counted() {
    // SETTINGS: MAX_CONCURRENT_STREAMS 1; the client's acknowledged.
    const ONE_STREAM: [u8; 24] = [
        0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1, //
        0, 0, 0, 4, 1, 0, 0, 0, 0,
    ];
    let (addr, connections) =
        raw_server(|stream, _| serve_h2_frames_after(&ONE_STREAM, stream, |id| H2Reply::Send(h2_ok(id, true)))).await;
    let client = Client::builder()
        .http2_prior_knowledge()
        .timeouts(Timeouts {
            read: Some(Duration::from_secs(2)),
            ..Timeouts::none()
        })
        .build()
        .unwrap();
    let url = format!("http://{addr}/");
    // One chunk, then nothing more, ever.
    use futures_lite::StreamExt as _;
    let upload = futures_lite::stream::once(Ok::<_, std::io::Error>(Bytes::from_static(b"part")))
        .chain(futures_lite::stream::pending());
    let resp = client.post(&url).body(Body::from_stream(upload)).send().await.unwrap();
    assert!(resp.bytes().await.unwrap().is_empty());
    let next = asyncio::timeout(Duration::from_secs(10), client.get(&url).send())
        .await
        .expect("bounded")
        .unwrap();
    assert_eq!(next.status(), StatusCode::OK);
    assert_eq!(connections.get(), 2, "the first connection's one stream is still open");
}

/// What a raw HTTP/2 server sends first: an empty `SETTINGS`, then the
/// acknowledgement of the client's (sent before reading it: the client
/// does not check the order).
const H2_SERVER_HELLO: [u8; 18] = [0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0];

/// An HTTP/2 server that never answers the request but pings every 20 ms:
/// the client's PING acks are writes on the connection, and must not hold
/// the request's read timeout off.
#[asyncio::test]
async fn an_h2_server_that_pings_does_not_defeat_the_read_timeout() {
    let (addr, _) = raw_server(|stream, _| async move {
        let stream = std::rc::Rc::new(stream);
        // Whatever the client sends (preface, SETTINGS, HEADERS, acks): read
        // and dropped.
        let reader = stream.clone();
        let _reading = asyncio::create_task(async move {
            let mut buf = [0u8; 4096];
            while matches!(reader.read(&mut buf).await, Ok(n) if n > 0) {}
        });
        if stream.write_all(&H2_SERVER_HELLO).await.is_err() {
            return;
        }
        let mut ping = vec![0, 0, 8, 6, 0, 0, 0, 0, 0];
        ping.extend_from_slice(&[7; 8]);
        while stream.write_all(&ping).await.is_ok() {
            asyncio::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let client = Client::builder()
        .http2_prior_knowledge()
        .timeouts(Timeouts {
            read: Some(Duration::from_millis(300)),
            ..Timeouts::none()
        })
        .build()
        .unwrap();
    // Bounded, so that the bug fails the test instead of hanging it.
    let outcome = asyncio::timeout(Duration::from_secs(10), client.get(&format!("http://{addr}/")).send()).await;
    let err = outcome.expect("the read timeout fired").unwrap_err();
    assert!(matches!(err, Error::Timeout(TimeoutKind::Read)), "{err:?}");
}

/// What a raw HTTP/2 server sends for a request: bytes, then whether the
/// connection goes on.
enum H2Reply {
    Send(Vec<u8>),
    SendThenClose(Vec<u8>),
}

/// Serves one raw HTTP/2 connection: sends its SETTINGS, then reads the
/// client's frames and answers each request (a HEADERS frame) with what
/// `reply(stream id)` gives.
async fn serve_h2_frames(stream: asyncio::net::TcpStream, reply: impl FnMut(u32) -> H2Reply) {
    serve_h2_frames_after(&H2_SERVER_HELLO, stream, reply).await
}

/// [`serve_h2_frames`], opening with `hello` (its SETTINGS, and the ack of
/// the client's).
async fn serve_h2_frames_after(hello: &[u8], stream: asyncio::net::TcpStream, mut reply: impl FnMut(u32) -> H2Reply) {
    let mut frames = H2Frames::default();
    let mut chunk = [0u8; 4096];
    if stream.write_all(hello).await.is_err() {
        return;
    }
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(got) => frames.push(&chunk[..got]),
        }
        while let Some(id) = frames.next_request() {
            let (bytes, goes_on) = match reply(id) {
                H2Reply::Send(bytes) => (bytes, true),
                H2Reply::SendThenClose(bytes) => (bytes, false),
            };
            if stream.write_all(&bytes).await.is_err() || !goes_on {
                return;
            }
        }
    }
}

/// What a raw HTTP/2 server reads from a client: the preface, then
/// frames, of which it wants the requests (HEADERS frames' stream ids).
#[derive(Default)]
struct H2Frames {
    buf: Vec<u8>,
    past_preface: bool,
}

impl H2Frames {
    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The stream id of the next complete HEADERS frame, others skipped.
    fn next_request(&mut self) -> Option<u32> {
        if !self.past_preface {
            if self.buf.len() < 24 {
                return None;
            }
            self.buf.drain(..24);
            self.past_preface = true;
        }
        let buf = &mut self.buf;
        while buf.len() >= 9 {
            let len = u32::from_be_bytes([0, buf[0], buf[1], buf[2]]) as usize;
            if buf.len() < 9 + len {
                return None;
            }
            let (kind, id) = (
                buf[3],
                u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & 0x7fff_ffff,
            );
            buf.drain(..9 + len);
            if kind == 1 {
                return Some(id);
            }
        }
        None
    }
}

/// A HEADERS frame with `:status: 200` for stream `id`; `end`: the
/// response ends there (END_STREAM), else its body stays open.
fn h2_ok(id: u32, end: bool) -> Vec<u8> {
    let mut h = vec![0, 0, 1, 1, if end { 5 } else { 4 }];
    h.extend_from_slice(&id.to_be_bytes());
    h.push(0x88);
    h
}

/// GOAWAY, last stream `last`, NO_ERROR.
fn h2_goaway(last: u32) -> Vec<u8> {
    let mut g = vec![0, 0, 8, 7, 0, 0, 0, 0, 0];
    g.extend_from_slice(&last.to_be_bytes());
    g.extend_from_slice(&[0; 4]);
    g
}

/// An HTTP/2 server that answers stream 1, then goes away gracefully
/// (`GOAWAY`, last stream 1, `NO_ERROR`) when stream 3 comes: stream 3 was
/// not processed (RFC 9113, section 6.8), and the GET goes again on a new
/// connection instead of failing.
#[asyncio::test]
async fn an_h2_request_the_server_did_not_take_before_goaway_is_sent_again() {
    let (addr, connections) = raw_server(|stream, n| {
        serve_h2_frames(stream, move |id| {
            if n == 1 && id > 1 {
                H2Reply::SendThenClose(h2_goaway(1))
            } else {
                H2Reply::Send(h2_ok(id, true))
            }
        })
    })
    .await;
    let client = Client::builder().http2_prior_knowledge().build().unwrap();
    let url = format!("http://{addr}/");
    for _ in 0..2 {
        let resp = client.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.version(), http::Version::HTTP_2);
    }
    assert_eq!(connections.get(), 2);
}

/// A full pool with a request queued for another origin: when a request
/// to an origin with two HTTP/2 connections finds one of them closed (the
/// server went away while a response of it is still held), the room that
/// frees goes to the queued request at once, not when something else
/// happens in the pool later.
#[asyncio::test]
async fn room_freed_by_a_closed_h2_connection_goes_to_the_queue() {
    // Connection 1 keeps stream 1 open, then answers stream 3 with GOAWAY
    // and closes: stream 3 goes again on connection 2, which keeps its
    // first stream open and answers the others in full.
    let (addr, _) = raw_server(|stream, n| {
        serve_h2_frames(stream, move |id| match (n, id) {
            (1, 1) => H2Reply::Send(h2_ok(id, false)),
            (1, _) => H2Reply::SendThenClose(h2_goaway(1)),
            (_, 1) => H2Reply::Send(h2_ok(id, false)),
            _ => H2Reply::Send(h2_ok(id, true)),
        })
    })
    .await;
    let other = start(app).await;
    let client = h2_client_of(2);
    let url = format!("http://{addr}/");
    // Both connections hold a response whose body is still open.
    let held_1 = client.get(&url).send().await.unwrap();
    let held_2 = client.get(&url).send().await.unwrap();
    assert_eq!(client.pool_stats().open, 2);
    // The pool is full and neither connection is unused: another origin
    // waits.
    let waiting = asyncio::create_task({
        let (client, url) = (client.clone(), format!("{}/hello", base(&other)));
        async move { text_of(&client, &url).await }
    });
    until_queued(&client).await;
    // Requests to the first origin go out on connection 2; one of them
    // finds connection 1 closed and frees its room.
    let served = async {
        while !waiting.done() {
            let resp = client.get(&url).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            drop(resp);
            asyncio::sleep(Duration::ZERO).await;
        }
    };
    asyncio::timeout(Duration::from_secs(10), served)
        .await
        .expect("the queued request got the freed room");
    assert_eq!(waiting.await.unwrap(), "Hello, world!");
    drop((held_1, held_2));
}

/// A server that takes `n` HTTP/2 streams at a time per connection (its
/// `SETTINGS_MAX_CONCURRENT_STREAMS`).
async fn start_with_stream_limit(n: u32) -> RunningServer {
    Server::bind("127.0.0.1:0")
        .handle_signals(false)
        .http2_max_concurrent_streams(n)
        .start(app)
        .await
        .expect("server starts")
}

/// An HTTP/2 server's stream limit reached on the one connection: the next
/// request opens another connection (room allowing) instead of waiting
/// inside hyper for a stream to end.
#[asyncio::test]
async fn a_request_past_the_h2_stream_limit_opens_another_connection() {
    let server = start_with_stream_limit(1).await;
    let client = h2_client_of(4);
    let url = |path: &str| format!("{}{path}", base(&server));
    // A response whose body is not read: its stream stays open.
    let held = client.get(&url("/big")).send().await.unwrap();
    assert_eq!(held.version(), http::Version::HTTP_2);
    let text = asyncio::timeout(Duration::from_secs(10), text_of(&client, &url("/hello")))
        .await
        .expect("not held behind the open stream");
    assert_eq!(text, "Hello, world!");
    assert_eq!(client.pool_stats().open, 2);
    drop(held);
}

/// The same with no room for another connection: the request waits in
/// the pool's queue (under the pool timeout, not the read timeout) and
/// goes out once one of the open streams ends.
#[asyncio::test]
async fn a_request_past_the_h2_stream_limit_waits_for_a_stream_in_the_pool() {
    let server = start_with_stream_limit(2).await;
    let client = h2_client_of_one_connection();
    let url = |path: &str| format!("{}{path}", base(&server));
    let held = client.get(&url("/big")).send().await.unwrap();
    let held_too = client.get(&url("/big")).send().await.unwrap();
    let waiting = asyncio::create_task({
        let (client, url) = (client.clone(), url("/hello"));
        async move { text_of(&client, &url).await }
    });
    until_queued(&client).await;
    drop(held);
    let text = asyncio::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("served once the stream ended")
        .unwrap();
    assert_eq!(text, "Hello, world!");
    assert_eq!(client.pool_stats().open, 1);
    drop(held_too);
}

/// A raw HTTP/2 server that opens with `SETTINGS_MAX_CONCURRENT_STREAMS`
/// 1, keeps stream 1's response open, answers the others in full, and
/// raises the limit to 10 when `raise` is set.
async fn serve_h2_raising_its_limit(stream: asyncio::net::TcpStream, raise: std::rc::Rc<Event>) {
    let settings = |max: u8| -> Vec<u8> { vec![0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, max] };
    let mut hello = settings(1);
    hello.extend_from_slice(&[0, 0, 0, 4, 1, 0, 0, 0, 0]);
    if stream.write_all(&hello).await.is_err() {
        return;
    }
    enum Next {
        Read(std::io::Result<usize>),
        Raise,
    }
    let (mut frames, mut chunk, mut raised) = (H2Frames::default(), [0u8; 4096], false);
    loop {
        let read = async { Next::Read(stream.read(&mut chunk).await) };
        let next = if raised {
            read.await
        } else {
            futures_lite::future::or(read, async {
                raise.wait().await;
                Next::Raise
            })
            .await
        };
        match next {
            Next::Raise => {
                raised = true;
                if stream.write_all(&settings(10)).await.is_err() {
                    return;
                }
                continue;
            }
            Next::Read(Ok(0) | Err(_)) => return,
            Next::Read(Ok(got)) => frames.push(&chunk[..got]),
        }
        while let Some(id) = frames.next_request() {
            if stream.write_all(&h2_ok(id, id != 1)).await.is_err() {
                return;
            }
        }
    }
}

/// A request queued because the one connection it may use is at the
/// server's stream limit (1, with stream 1 held open) goes out as soon as
/// the server raises the limit (its new SETTINGS come while nothing else
/// happens on the connection), not when the held stream ends.
#[asyncio::test]
async fn a_raised_h2_stream_limit_serves_the_queue() {
    let raise = std::rc::Rc::new(Event::new());
    let (addr, _) = raw_server({
        let raise = raise.clone();
        move |stream, _| serve_h2_raising_its_limit(stream, raise.clone())
    })
    .await;
    let client = h2_client_of_one_connection();
    let url = format!("http://{addr}/");
    let held = client.get(&url).send().await.unwrap();
    let waiting = asyncio::create_task({
        let (client, url) = (client.clone(), url.clone());
        async move { client.get(&url).send().await.map(|r| r.status()) }
    });
    until_queued(&client).await;
    raise.set();
    let status = asyncio::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("served once the limit rose")
        .unwrap();
    assert_eq!(status.unwrap(), StatusCode::OK);
    // And one more beside it, at once: the limit is 10 now.
    let again = asyncio::timeout(Duration::from_secs(10), client.get(&url).send())
        .await
        .expect("not queued")
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(client.pool_stats().open, 1);
    drop(held);
}

/// Waits (at most 10 s, then fails) until a request waits in the pool's
/// queue.
async fn until_queued(client: &Client) {
    let queued = async {
        while client.pool_stats().waiting == 0 {
            asyncio::sleep(Duration::ZERO).await;
        }
    };
    asyncio::timeout(Duration::from_secs(10), queued)
        .await
        .expect("a request waits for room");
}

/// An HTTP/2 (prior knowledge) client whose pool holds one connection,
/// and whose requests wait up to 30 s for it.
fn h2_client_of_one_connection() -> Client {
    h2_client_of(1)
}

/// An HTTP/2 (prior knowledge) client whose pool holds `n` connections,
/// and whose requests wait up to 30 s for room.
fn h2_client_of(n: usize) -> Client {
    Client::builder()
        .http2_prior_knowledge()
        .max_connections(n)
        .timeouts(Timeouts {
            pool: Some(Duration::from_secs(30)),
            ..Timeouts::none()
        })
        .build()
        .unwrap()
}

/// A full pool with a request queued for another origin: a request that
/// can share a live HTTP/2 connection is not queued behind it.
#[asyncio::test]
async fn a_request_for_a_shared_h2_connection_is_not_queued_behind_another_origin() {
    let (x, y) = (start(app).await, start(app).await);
    let client = h2_client_of_one_connection();
    let hello = |s: &RunningServer| format!("{}/hello", base(s));
    // A response of x not read yet: its connection is in use.
    let first = client.get(&format!("{}/big", base(&x))).send().await.unwrap();
    // Origin y needs room the pool does not have: it waits.
    let waiting = asyncio::create_task({
        let (client, url) = (client.clone(), hello(&y));
        async move { client.get(&url).send().await.map(|_| ()) }
    });
    until_queued(&client).await;
    // Origin x: its connection is shared, nothing to wait for.
    let again = asyncio::timeout(Duration::from_secs(10), client.get(&hello(&x)).send())
        .await
        .expect("not queued behind origin y")
        .unwrap();
    assert_eq!(again.text().await.unwrap(), "Hello, world!");
    waiting.cancel();
    drop(first);
}

/// A full pool: an HTTP/2 connection with a stream in flight holds its
/// room; once its responses are read, it is closed to make room for
/// another origin.
#[asyncio::test]
async fn an_unused_h2_connection_makes_room_for_another_origin() {
    let (x, y) = (start(app).await, start(app).await);
    let client = h2_client_of_one_connection();
    let url = |s: &RunningServer, path: &str| format!("{}{path}", base(s));
    // A response of x not read yet: its stream is in flight.
    let held = client.get(&url(&x, "/big")).send().await.unwrap();
    assert_eq!(held.version(), http::Version::HTTP_2);
    let err = client
        .get(&url(&y, "/hello"))
        .timeout(Duration::from_millis(100))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    // Read to the end: the connection has nothing in flight. A waiter for
    // y gets its room as soon as that happens.
    let waiting = asyncio::create_task({
        let (client, url) = (client.clone(), url(&y, "/hello"));
        async move { text_of(&client, &url).await }
    });
    until_queued(&client).await;
    assert_eq!(held.bytes().await.unwrap().len(), 4 << 20);
    let text = asyncio::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("room made by closing x's unused connection")
        .unwrap();
    assert_eq!(text, "Hello, world!");
    assert_eq!(client.pool_stats().open, 1);
    // And a dropped response ends its stream as well.
    let dropped = client.get(&url(&y, "/big")).send().await.unwrap();
    drop(dropped);
    let text = asyncio::timeout(Duration::from_secs(10), text_of(&client, &url(&x, "/hello")))
        .await
        .expect("room made by closing y's unused connection");
    assert_eq!(text, "Hello, world!");
}

/// An HTTP/2 connection with no stream in flight for `keepalive_expiry`
/// is closed when next met, and the request goes out on a new one; one
/// in use is not expired however old.
#[asyncio::test]
async fn an_h2_connection_unused_past_keepalive_expiry_is_replaced() {
    // The server (on this loop's clock) keeps idle connections far longer.
    let server = Server::bind("127.0.0.1:0")
        .handle_signals(false)
        .keep_alive_timeout(Duration::from_secs(3600))
        .start(app)
        .await
        .expect("server starts");
    let client = Client::builder()
        .http2_prior_knowledge()
        .keepalive_expiry(Some(Duration::from_secs(5)))
        .timeouts(Timeouts::none())
        .build()
        .unwrap();
    let peer = format!("{}/peer", base(&server));
    let first = text_of(&client, &peer).await;
    let held = client.get(&format!("{}/big", base(&server))).send().await.unwrap();
    // The virtual clock moves past the expiry (the sockets keep real time).
    asyncio::time::pause();
    asyncio::time::advance(Duration::from_secs(6)).await;
    asyncio::time::resume();
    // A stream is in flight: the connection is in use, not expired.
    let again = text_of(&client, &peer).await;
    assert_eq!(again, first, "the connection in use is shared");
    assert_eq!(held.bytes().await.unwrap().len(), 4 << 20);
    asyncio::time::pause();
    asyncio::time::advance(Duration::from_secs(6)).await;
    asyncio::time::resume();
    let fresh = text_of(&client, &peer).await;
    assert_ne!(fresh, first, "a new connection after the expiry");
    assert_eq!(client.pool_stats().open, 1, "the expired one is closed");
    // `close_idle` closes an unused HTTP/2 connection too.
    client.close_idle();
    assert_eq!(client.pool_stats().open, 0);
}

#[asyncio::test]
async fn a_pooled_connection_the_server_closed_is_replaced_and_the_request_sent_again() {
    let closed = std::rc::Rc::new(Event::new());
    let signal = closed.clone();
    let (addr, connections) = raw_server(move |stream, n| {
        let signal = signal.clone();
        async move {
            loop {
                let head = read_head(&stream).await;
                if head.is_empty() {
                    return;
                }
                let body = format!("connection {n}");
                let reply = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                stream.write_all(reply.as_bytes()).await.unwrap();
                if n == 1 {
                    // Keep-alive promised, then closed: what a server's
                    // idle timeout does.
                    drop(stream);
                    signal.set();
                    return;
                }
            }
        }
    })
    .await;
    let client = Client::new();
    let url = format!("http://{addr}/");
    assert_eq!(
        client.get(&url).send().await.unwrap().text().await.unwrap(),
        "connection 1"
    );
    closed.wait().await;
    // The idle connection is dead; the request goes out on a new one.
    for method in [http::Method::GET, http::Method::PUT] {
        let text = client
            .request(method, &url)
            .body("x")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(text, "connection 2");
    }
    assert_eq!(connections.get(), 2);
}

/// Posts 64 MiB to `url` with a 300 ms write timeout of the request's
/// own, and checks that it fails with that timeout (within 10 s).
async fn upload_hits_the_write_timeout(client: &Client, url: &str) {
    let upload = client
        .post(url)
        .timeouts(Timeouts {
            write: Some(Duration::from_millis(300)),
            ..Timeouts::none()
        })
        .body(vec![0u8; 64 << 20])
        .send();
    let err = asyncio::timeout(Duration::from_secs(10), upload)
        .await
        .expect("the write timeout fired")
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(TimeoutKind::Write)), "{err:?}");
}

#[asyncio::test]
async fn write_timeout_when_the_server_does_not_read() {
    let (addr, _) = raw_server(|stream, _| async move {
        // Accepts, never reads.
        std::future::pending::<()>().await;
        drop(stream);
    })
    .await;
    upload_hits_the_write_timeout(&Client::new(), &format!("http://{addr}/upload")).await;
}

/// A request's own write timeout holds on a pooled connection that a
/// request without one opened.
#[asyncio::test]
async fn a_requests_write_timeout_holds_on_a_pooled_connection() {
    let (addr, connections) = raw_server(|stream, _| async move {
        // Answers the first request, then reads nothing more.
        if !read_head(&stream).await.is_empty() {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                .await;
        }
        std::future::pending::<()>().await;
    })
    .await;
    let client = Client::builder().timeouts(Timeouts::none()).build().unwrap();
    let url = format!("http://{addr}/");
    assert_eq!(text_of(&client, &url).await, "ok");
    upload_hits_the_write_timeout(&client, &url).await;
    assert_eq!(connections.get(), 1, "the pooled connection was used");
}

/// The same over HTTP/2: a server that grants every flow-control window
/// and then never reads. The stream learns only that the connection
/// failed; the error is still the write timeout, not `Closed`.
#[asyncio::test]
async fn h2_write_timeout_when_the_server_does_not_read() {
    let (addr, _) = raw_server(|stream, _| async move {
        // SETTINGS: INITIAL_WINDOW_SIZE 2^31 - 1; the client's SETTINGS
        // acknowledged; the connection's window opened as far.
        let mut hello = vec![0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 4, 0x7f, 0xff, 0xff, 0xff];
        hello.extend_from_slice(&[0, 0, 0, 4, 1, 0, 0, 0, 0]);
        hello.extend_from_slice(&[0, 0, 4, 8, 0, 0, 0, 0, 0]);
        hello.extend_from_slice(&(0x7fff_ffffu32 - 65_535).to_be_bytes());
        let _ = stream.write_all(&hello).await;
        // Then never reads.
        std::future::pending::<()>().await;
    })
    .await;
    let client = Client::builder().http2_prior_knowledge().build().unwrap();
    upload_hits_the_write_timeout(&client, &format!("http://{addr}/upload")).await;
}

#[asyncio::test]
async fn brotli_and_deflate_bodies_and_a_corrupt_one() {
    use std::io::Write;
    let text = "asyncio ".repeat(5000);
    let mut br = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut br, 4096, 5, 22);
        w.write_all(text.as_bytes()).unwrap();
    }
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    zlib.write_all(text.as_bytes()).unwrap();
    let zlib = zlib.finish().unwrap();
    let bodies: std::rc::Rc<Vec<(&'static str, Vec<u8>)>> = std::rc::Rc::new(vec![
        ("br", br),
        ("deflate", zlib),
        ("gzip", b"definitely not gzip".to_vec()),
    ]);
    let (addr, _) = raw_server(move |stream, _| {
        let bodies = bodies.clone();
        async move {
            loop {
                let head = read_head(&stream).await;
                if head.is_empty() {
                    return;
                }
                let head = String::from_utf8_lossy(&head).to_string();
                assert!(
                    head.to_ascii_lowercase().contains("accept-encoding: gzip, deflate, br"),
                    "{head}"
                );
                let (encoding, body) = bodies
                    .iter()
                    .find(|(e, _)| head.contains(&format!("GET /{e} ")))
                    .unwrap();
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Encoding: {encoding}\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                stream.write_all(reply.as_bytes()).await.unwrap();
                stream.write_all(body).await.unwrap();
            }
        }
    })
    .await;
    let client = Client::new();
    for encoding in ["br", "deflate"] {
        let got = client
            .get(&format!("http://{addr}/{encoding}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(got, text, "{encoding}");
    }
    let err = client
        .get(&format!("http://{addr}/gzip"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Decode(_)), "{err:?}");

    // The size limit counts decoded bytes: a small compressed body that
    // inflates past it is stopped.
    let small = Client::builder().max_response_size(10_000).build().unwrap();
    let err = small
        .get(&format!("http://{addr}/br"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BodyTooLarge { limit: 10_000 }), "{err:?}");
}

#[asyncio::test]
async fn a_trickling_server_is_cut() {
    // The head a byte at a time: the read timeout bounds the whole head.
    let (addr, _) = raw_server(|stream, _| async move {
        let _ = read_head(&stream).await;
        for b in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".iter() {
            if stream.write_all(std::slice::from_ref(b)).await.is_err() {
                return;
            }
            asyncio::sleep(Duration::from_millis(40)).await;
        }
    })
    .await;
    let client = Client::builder()
        .timeouts(Timeouts {
            read: Some(Duration::from_millis(300)),
            ..Timeouts::default()
        })
        .build()
        .unwrap();
    let err = client.get(&format!("http://{addr}/")).send().await.unwrap_err();
    assert!(matches!(err, Error::Timeout(TimeoutKind::Read)), "{err:?}");

    // The body a byte at a time from our own server: each byte comes
    // within the read timeout, so `total` is what cuts it.
    let server = Server::bind("127.0.0.1:0")
        .handle_signals(false)
        .start(|| {
            Router::new().get("/trickle", |_: Request| async {
                asyncio_http::Body::writer(|w| async move {
                    for _ in 0..1000 {
                        w.send(&b"x"[..]).await;
                        asyncio::sleep(Duration::from_millis(40)).await;
                    }
                    Ok::<(), std::io::Error>(())
                })
            })
        })
        .await
        .unwrap();
    let mut resp = client
        .get(&format!("{}/trickle", base(&server)))
        .timeout(Duration::from_millis(600))
        .send()
        .await
        .unwrap();
    let mut got = 0;
    let err = loop {
        match resp.chunk().await {
            Ok(Some(c)) => got += c.len(),
            Ok(None) => panic!("the trickle ended"),
            Err(e) => break e,
        }
    };
    assert!(matches!(err, Error::Timeout(TimeoutKind::Total)), "{err:?}");
    assert!(got > 0 && got < 1000, "{got}");
}

/// An HTTPS origin that answers HTTP/1.1 through ALPN: once the pool has
/// learnt that, concurrent requests open their connections side by side
/// (none waits for another's handshake to learn the protocol again).
#[cfg(feature = "tls")]
#[asyncio::test]
async fn an_http1_only_https_origin_opens_connections_side_by_side() {
    let pki = tls_support::Pki::new("h1 origin CA");
    let id = pki.server(&["localhost"]);
    let server = Server::bind("127.0.0.1:0")
        .handle_signals(false)
        .http2(false)
        .tls(tls_support::Pki::server_ctx_offering(&id, &["http/1.1"]))
        .start(|| {
            Router::new().get("/slow", |_req: Request| async {
                asyncio::sleep(Duration::from_millis(200)).await;
                "slow"
            })
        })
        .await
        .expect("server starts");
    let client = Client::builder().tls(pki.client_ctx()).build().unwrap();
    let url = format!("https://localhost:{}/slow", server.local_addr().port());
    // The first request learns the protocol.
    assert_eq!(text_of(&client, &url).await, "slow");
    let requests: Vec<_> = (0..5)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            asyncio::create_task(async move { text_of(&client, &url).await })
        })
        .collect();
    // While the four new connections shake hands (loop turns of socket
    // I/O), no request waits for another's.
    for _ in 0..20 {
        asyncio::sleep(Duration::ZERO).await;
        assert_eq!(client.pool_stats().waiting, 0, "a request waits to learn the protocol");
    }
    for request in requests {
        assert_eq!(request.await.unwrap(), "slow");
    }
    assert!(client.pool_stats().open >= 5);
}

/// `Duration::MAX` in every phase means no limit, not an overflow.
#[asyncio::test]
async fn the_longest_timeouts_are_no_limits() {
    let server = start(app).await;
    let client = Client::builder()
        .timeouts(Timeouts {
            connect: Some(Duration::MAX),
            read: Some(Duration::MAX),
            write: Some(Duration::MAX),
            pool: Some(Duration::MAX),
            total: Some(Duration::MAX),
        })
        .build()
        .unwrap();
    let url = format!("{}/hello", base(&server));
    assert_eq!(text_of(&client, &url).await, "Hello, world!");
    let resp = client.get(&format!("{}/big", base(&server))).send().await.unwrap();
    assert_eq!(resp.bytes().await.unwrap().len(), 4 << 20);
}

/// A compressed body that expands enormously, read with `chunk()` and no
/// size limit: it comes out a bounded chunk at a time (64 KiB), never as
/// one decompressed network read (here 2 KiB of gzip for 4 MiB, sent in
/// one write).
#[asyncio::test]
async fn a_compressed_body_is_streamed_in_bounded_chunks() {
    let zeros = {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![0u8; 4 << 20]).unwrap();
        gz.finish().unwrap()
    };
    let answer = std::rc::Rc::new(
        [
            format!(
                "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                zeros.len()
            )
            .into_bytes(),
            zeros,
        ]
        .concat(),
    );
    let (addr, _) = raw_server(move |stream, _| {
        let answer = answer.clone();
        async move {
            if !read_head(&stream).await.is_empty() {
                let _ = stream.write_all(&answer).await;
            }
        }
    })
    .await;
    let client = Client::new();
    let mut resp = client.get(&format!("http://{addr}/")).send().await.unwrap();
    let (mut total, mut largest) = (0, 0);
    while let Some(chunk) = resp.chunk().await.unwrap() {
        assert!(chunk.iter().all(|&b| b == 0));
        total += chunk.len();
        largest = largest.max(chunk.len());
    }
    assert_eq!(total, 4 << 20);
    assert!(largest <= 64 << 10, "a chunk of {largest} bytes");
}

/// A redirect's body is discarded without being decompressed (a small
/// compressed body may stand for gigabytes): here 2 KiB of gzip that
/// decompress to 4 MiB, well past what is read to keep a connection; as
/// sent, it is small enough, and the connection is reused.
#[asyncio::test]
async fn a_redirect_body_is_discarded_undecoded() {
    let zeros = {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![0u8; 4 << 20]).unwrap();
        gz.finish().unwrap()
    };
    assert!(zeros.len() < 16 << 10, "{}", zeros.len());
    let redirect = std::rc::Rc::new(
        [
            format!(
                "HTTP/1.1 302 Found\r\nLocation: /next\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                zeros.len()
            )
            .into_bytes(),
            zeros,
        ]
        .concat(),
    );
    let (addr, connections) = raw_server(move |stream, _| {
        let redirect = redirect.clone();
        async move {
            loop {
                let head = read_head(&stream).await;
                if head.is_empty() {
                    return;
                }
                let answer: &[u8] = if head.starts_with(b"GET /first") {
                    &redirect
                } else {
                    b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext"
                };
                if stream.write_all(answer).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    let client = Client::new();
    assert_eq!(text_of(&client, &format!("http://{addr}/first")).await, "next");
    assert_eq!(connections.get(), 1, "the redirect's connection was reused");
}
