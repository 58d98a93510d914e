//! Middleware: order, short-circuits, per-route layers, nesting, and each
//! built-in layer, through the in-process test client.

use std::cell::RefCell;
use std::io::Read;
use std::rc::Rc;
use std::time::Duration;

use asyncio_http::middleware::{request_id, AccessLog, BodyLimit, Compression, Cors, Next, Timeout};
use asyncio_http::testing::TestClient;
use asyncio_http::{Body, IntoResponse, Method, Request, Response, Router, StatusCode};

type Log = Rc<RefCell<Vec<String>>>;

fn tracer(
    log: &Log,
    name: &'static str,
) -> impl Fn(Request, Next) -> std::pin::Pin<Box<dyn std::future::Future<Output = Response>>> {
    let log = log.clone();
    move |req: Request, next: Next| {
        let log = log.clone();
        Box::pin(async move {
            log.borrow_mut().push(format!("{name} before"));
            let r = next.run(req).await;
            log.borrow_mut().push(format!("{name} after"));
            r
        })
    }
}

async fn hello() -> &'static str {
    "hello"
}

#[test]
fn layers_run_outermost_last_added_and_see_404s() {
    asyncio::run(async {
        let log: Log = Rc::default();
        let app = Router::new()
            .get("/", hello)
            .layer(tracer(&log, "inner"))
            .layer(tracer(&log, "outer"));
        let c = TestClient::new(app);
        assert_eq!(c.get("/").send().await.text(), "hello");
        assert_eq!(
            *log.borrow(),
            ["outer before", "inner before", "inner after", "outer after"]
        );
        log.borrow_mut().clear();
        assert_eq!(c.get("/nowhere").send().await.status(), 404);
        assert_eq!(log.borrow().len(), 4, "router layers wrap the 404 too");
        log.borrow_mut().clear();
        assert_eq!(c.post("/").send().await.status(), 405);
        assert_eq!(log.borrow().len(), 4);
    });
}

#[test]
fn short_circuit_and_route_layers_guard_only_their_routes() {
    async fn guard(req: Request, next: Next) -> Response {
        if req.header("x-key") != Some("k") {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        next.run(req).await
    }
    asyncio::run(async {
        let api = Router::new()
            .get("/secret", hello)
            .route_layer(guard)
            .get("/open", hello);
        let app = Router::new().get("/", hello).nest("/api", api);
        let c = TestClient::new(app);
        assert_eq!(c.get("/api/secret").send().await.status(), 401);
        assert_eq!(c.get("/api/secret").header("x-key", "k").send().await.status(), 200);
        assert_eq!(
            c.get("/api/open").send().await.status(),
            200,
            "added after the route layer"
        );
        assert_eq!(c.get("/").send().await.status(), 200);
        assert_eq!(c.get("/api").send().await.status(), 404);
    });
}

#[test]
fn a_nested_router_keeps_its_layers_and_state() {
    async fn who(asyncio_http::extract::State(name): asyncio_http::extract::State<&'static str>) -> &'static str {
        name
    }
    asyncio::run(async {
        let log: Log = Rc::default();
        let inner = Router::new()
            .get("/", who)
            .get("/x", hello)
            .layer(tracer(&log, "inner"))
            .with_state("inner state");
        let app = Router::new().nest("/v1", inner).get("/top", hello);
        let c = TestClient::new(app);
        assert_eq!(c.get("/v1").send().await.text(), "inner state");
        assert_eq!(c.get("/v1/x").send().await.status(), 200);
        assert_eq!(log.borrow().len(), 4);
        c.get("/top").send().await;
        assert_eq!(
            log.borrow().len(),
            4,
            "the nested router's layer is not on the parent's routes"
        );
    });
}

#[test]
fn cors_preflight_and_marks() {
    asyncio::run(async {
        let cors = Cors::new()
            .allow_origins(["https://app.example"])
            .allow_methods([Method::GET, Method::PUT])
            .allow_headers(["content-type", "authorization"])
            .allow_credentials(true)
            .expose_headers(["x-total"])
            .max_age(Duration::from_secs(600));
        let c = TestClient::new(Router::new().get("/api", hello).layer(cors));

        let r = c
            .options("/api")
            .header("origin", "https://app.example")
            .header("access-control-request-method", "PUT")
            .header("access-control-request-headers", "Content-Type, Authorization")
            .send()
            .await;
        assert_eq!(r.status(), 204);
        assert_eq!(r.header("access-control-allow-origin"), Some("https://app.example"));
        assert_eq!(r.header("access-control-allow-methods"), Some("GET, PUT"));
        assert_eq!(
            r.header("access-control-allow-headers"),
            Some("content-type, authorization")
        );
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
        assert_eq!(r.header("access-control-max-age"), Some("600"));
        assert_eq!(r.header("vary"), Some("Origin"));

        for (origin, method, headers) in [
            ("https://evil.example", "GET", ""),
            ("https://app.example", "DELETE", ""),
            ("https://app.example", "GET", "x-other"),
        ] {
            let r = c
                .options("/api")
                .header("origin", origin)
                .header("access-control-request-method", method)
                .header("access-control-request-headers", headers)
                .send()
                .await;
            assert_eq!(r.status(), 400, "{origin} {method} {headers}");
            assert_eq!(r.header("access-control-allow-origin"), None);
        }

        let r = c.get("/api").header("origin", "https://app.example").send().await;
        assert_eq!(r.text(), "hello");
        assert_eq!(r.header("access-control-allow-origin"), Some("https://app.example"));
        assert_eq!(r.header("access-control-expose-headers"), Some("x-total"));
        let r = c.get("/api").header("origin", "https://evil.example").send().await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.header("access-control-allow-origin"), None);
        let r = c.get("/api").send().await;
        assert_eq!(r.header("vary"), None, "no Origin, untouched");

        let c = TestClient::new(Router::new().get("/api", hello).layer(Cors::permissive()));
        let r = c.get("/api").header("origin", "https://any.example").send().await;
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    });
}

fn gunzip(b: &[u8]) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(b).read_to_string(&mut s).unwrap();
    s
}

fn unbrotli(b: &[u8]) -> String {
    let mut s = String::new();
    brotli::Decompressor::new(b, 4096).read_to_string(&mut s).unwrap();
    s
}

#[test]
fn compression_negotiates_and_round_trips() {
    async fn big() -> String {
        "lorem ipsum dolor ".repeat(500)
    }
    async fn small() -> &'static str {
        "tiny"
    }
    async fn png() -> Response {
        let mut r = vec![0u8; 5000].into_response();
        r.headers_mut().insert("content-type", "image/png".parse().unwrap());
        r
    }
    async fn streamed() -> Body {
        Body::writer(|w| async move {
            for i in 0..50 {
                w.send(format!("chunk {i} ").repeat(20)).await;
            }
            Ok::<(), std::io::Error>(())
        })
    }
    asyncio::run(async {
        let app = Router::new()
            .get("/big", big)
            .get("/small", small)
            .get("/png", png)
            .get("/stream", streamed)
            .layer(Compression::new());
        let c = TestClient::new(app);
        let expected = "lorem ipsum dolor ".repeat(500);

        let r = c.get("/big").header("accept-encoding", "gzip, deflate").send().await;
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        assert_eq!(r.header("vary"), Some("Accept-Encoding"));
        assert!(r.bytes().len() < 500);
        assert_eq!(gunzip(r.bytes()), expected);

        let r = c.get("/big").header("accept-encoding", "gzip;q=0.5, br").send().await;
        assert_eq!(r.header("content-encoding"), Some("br"));
        assert_eq!(unbrotli(r.bytes()), expected);

        let r = c
            .get("/big")
            .header("accept-encoding", "br;q=0, gzip;q=0.1")
            .send()
            .await;
        assert_eq!(r.header("content-encoding"), Some("gzip"));

        let r = c.get("/big").send().await;
        assert_eq!(r.header("content-encoding"), None);
        assert_eq!(r.text(), expected);
        let r = c.get("/big").header("accept-encoding", "identity").send().await;
        assert_eq!(r.header("content-encoding"), None);

        let r = c.get("/small").header("accept-encoding", "gzip").send().await;
        assert_eq!((r.header("content-encoding"), r.text()), (None, "tiny"));
        let r = c.get("/png").header("accept-encoding", "gzip").send().await;
        assert_eq!(r.header("content-encoding"), None);
        assert_eq!(r.bytes().len(), 5000);

        let r = c.get("/stream").header("accept-encoding", "gzip").send().await;
        assert_eq!(r.header("content-encoding"), Some("gzip"));
        let want: String = (0..50).map(|i| format!("chunk {i} ").repeat(20)).collect();
        assert_eq!(gunzip(r.bytes()), want);
        let r = c.get("/stream").header("accept-encoding", "br").send().await;
        assert_eq!(unbrotli(r.bytes()), want);
    });
}

#[test]
fn timeout_cancels_the_handler_and_runs_its_destructors() {
    struct Dropped(Rc<RefCell<bool>>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            *self.0.borrow_mut() = true;
        }
    }
    asyncio::run(async {
        let dropped = Rc::new(RefCell::new(false));
        let flag = dropped.clone();
        let slow = move || {
            let guard = Dropped(flag.clone());
            async move {
                let _guard = guard;
                asyncio::sleep(Duration::from_secs(3600)).await;
                "never"
            }
        };
        let app = Router::new()
            .get("/slow", slow)
            .get("/fast", hello)
            .layer(Timeout::new(Duration::from_millis(20)));
        let c = TestClient::new(app);
        let r = c.get("/slow").send().await;
        assert_eq!(r.status(), 503);
        assert!(*dropped.borrow(), "the handler's future was dropped");
        assert_eq!(c.get("/fast").send().await.status(), 200);
    });
}

#[test]
fn body_limit_per_route() {
    async fn echo(body: String) -> String {
        body
    }
    asyncio::run(async {
        let app = Router::new()
            .post("/small", echo)
            .route_layer(BodyLimit::new(10))
            .post("/large", echo);
        let c = TestClient::new(app);
        assert_eq!(c.post("/small").body("0123456789").send().await.status(), 200);
        let r = c.post("/small").body("0123456789a").send().await;
        assert_eq!(r.status(), 413);
        let r = c.post("/small").body("x").header("content-length", "5000").send().await;
        assert_eq!(
            r.status(),
            413,
            "a declared length over the limit is refused before the handler"
        );
        assert_eq!(c.post("/large").body("0123456789a").send().await.status(), 200);
    });
}

#[test]
fn access_log_sets_the_request_id_in_the_context() {
    async fn show() -> String {
        // Also seen from a task the handler creates (it copies the context).
        let from_task = asyncio::create_task(async { request_id() }).await.unwrap();
        assert_eq!(from_task, request_id());
        request_id().map(|id| id.to_string()).unwrap_or_default()
    }
    asyncio::run(async {
        let c = TestClient::new(Router::new().get("/", show).layer(AccessLog::new()));
        let a = c.get("/").send().await;
        let b = c.get("/").send().await;
        assert!(!a.text().is_empty());
        assert_eq!(a.header("x-request-id"), Some(a.text()));
        assert_ne!(a.text(), b.text(), "each request its own id");
        assert_eq!(request_id(), None, "reset after the request");
        let r = c.get("/").header("x-request-id", "from-proxy").send().await;
        assert_ne!(r.text(), "from-proxy", "not trusted by default");

        let c = TestClient::new(
            Router::new()
                .get("/", show)
                .layer(AccessLog::new().trust_incoming(true)),
        );
        assert_eq!(
            c.get("/").header("x-request-id", "from-proxy").send().await.text(),
            "from-proxy"
        );
        let r = c.get("/").header("x-request-id", &"x".repeat(200)).send().await;
        assert_ne!(r.text().len(), 200, "an unreasonable id is replaced");
    });
}

#[test]
fn a_panicking_handler_is_a_500_without_details() {
    async fn boom() -> &'static str {
        panic!("secret database password in a panic message")
    }
    asyncio::run(async {
        let c = TestClient::new(Router::new().get("/boom", boom).get("/", hello));
        let r = c.get("/boom").send().await;
        assert_eq!(r.status(), 500);
        assert!(!r.text().contains("secret"));
        assert_eq!(c.get("/").send().await.text(), "hello", "the app goes on");
    });
}

#[test]
fn background_jobs_run_before_send_returns_and_startup_hooks_with_start() {
    asyncio::run(async {
        let log: Log = Rc::default();
        let (l1, l2) = (log.clone(), log.clone());
        let app = Router::new()
            .get("/", move |req: Request| {
                let log = l1.clone();
                async move {
                    req.background().add(async move { log.borrow_mut().push("job".into()) });
                    "ok"
                }
            })
            .on_startup(move || async move { l2.borrow_mut().push("startup".into()) });
        let c = TestClient::start(app).await;
        c.get("/").send().await;
        assert_eq!(*log.borrow(), ["startup", "job"]);
        c.shutdown().await;
    });
}
