//! The server's everyday behaviour: routing, keep-alive and pipelining,
//! streamed bodies both ways, Server-Sent Events, background jobs, panics,
//! and one loop per worker.

mod support;

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use asyncio_http::{sse, Body, BodyError, IntoResponse, Request, Response, Router, StatusCode};
use support::{get, request, start, Conn};

async fn hello(_req: Request) -> &'static str {
    "Hello, world!"
}

async fn user(req: Request) -> String {
    match req.query_param("greet") {
        Some(g) => format!("{g}, user {}", req.param("id").unwrap_or("?")),
        None => format!("user {}", req.param("id").unwrap_or("?")),
    }
}

async fn file(req: Request) -> String {
    format!("file {}", req.param("path").unwrap_or("?"))
}

async fn echo(mut req: Request) -> Result<Vec<u8>, BodyError> {
    Ok(req.bytes().await?.to_vec())
}

async fn chunks(mut req: Request) -> Result<String, BodyError> {
    let mut sizes = Vec::new();
    while let Some(c) = req.body_mut().chunk().await? {
        sizes.push(c.len());
    }
    Ok(format!("{} bytes", sizes.iter().sum::<usize>()))
}

async fn boom(_req: Request) -> &'static str {
    panic!("handler exploded");
}

fn app() -> Router {
    Router::new()
        .get("/", hello)
        .get("/users/{id}", user)
        .get("/files/{*path}", file)
        .post("/echo", echo)
        .post("/chunks", chunks)
        .get("/boom", boom)
}

#[asyncio::test]
async fn routes_params_404_405_and_head() {
    let server = start(|s| s, app).await;
    let addr = server.local_addr();
    let r = get(addr, "/").await;
    assert_eq!((r.status, r.text().as_str()), (200, "Hello, world!"));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(get(addr, "/users/42").await.text(), "user 42");
    assert_eq!(get(addr, "/users/ada%20l").await.text(), "user ada l");
    assert_eq!(
        get(addr, "/users/7?greet=hi+there&x=1").await.text(),
        "hi there, user 7"
    );
    assert_eq!(get(addr, "/users/%FF").await.status, 400);
    assert_eq!(get(addr, "/files/a/b/c.txt").await.text(), "file a/b/c.txt");
    assert_eq!(get(addr, "/nope").await.status, 404);
    let r = request(addr, "DELETE /users/1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    let mut c = Conn::open(addr).await;
    c.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let head = c.head_response().await.unwrap().unwrap();
    assert_eq!((head.status, head.header("content-length")), (200, Some("13")));
    // The HEAD response carried no body: the next response follows at once.
    assert_eq!(c.response().await.unwrap().unwrap().text(), "Hello, world!");
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn keep_alive_and_pipelining_answer_in_order() {
    let server = start(|s| s, app).await;
    let mut c = Conn::open(server.local_addr()).await;
    c.send(b"GET /users/1 HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    assert_eq!(c.response().await.unwrap().unwrap().text(), "user 1");
    // Three requests in one write.
    c.send(b"GET /users/2 HTTP/1.1\r\nHost: t\r\n\r\nPOST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhelloGET /users/3 HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    for want in ["user 2", "hello", "user 3"] {
        assert_eq!(c.response().await.unwrap().unwrap().text(), want);
    }
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn request_bodies_stream_chunked_or_sized() {
    let server = start(|s| s, app).await;
    let addr = server.local_addr();
    let r = request(
        addr,
        "POST /chunks HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!((r.status, r.text().as_str()), (200, "11 bytes"));
    // A large body in many reads.
    let body = vec![b'x'; 300_000];
    let mut c = Conn::open(addr).await;
    let head = format!(
        "POST /chunks HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    c.send(head.as_bytes()).await.unwrap();
    c.send(&body).await.unwrap();
    assert_eq!(c.response().await.unwrap().unwrap().text(), "300000 bytes");
    server.shutdown().await.unwrap();
}

thread_local! {
    static PRODUCED: Cell<usize> = const { Cell::new(0) };
    static PRODUCER_DROPPED: Cell<bool> = const { Cell::new(false) };
}

struct OnDrop;
impl Drop for OnDrop {
    fn drop(&mut self) {
        PRODUCER_DROPPED.with(|d| d.set(true));
    }
}

async fn counting(_req: Request) -> Body {
    Body::writer(|w| async move {
        let _guard = OnDrop;
        for i in 0..5 {
            w.send(format!("{i}\n")).await;
            PRODUCED.with(|p| p.set(p.get() + 1));
        }
        Ok::<(), std::io::Error>(())
    })
}

async fn endless(_req: Request) -> Body {
    Body::writer(|w| async move {
        let _guard = OnDrop;
        loop {
            w.send(vec![b'y'; 64 * 1024]).await;
            PRODUCED.with(|p| p.set(p.get() + 1));
        }
        #[allow(unreachable_code)]
        Ok::<(), std::io::Error>(())
    })
}

async fn failing(_req: Request) -> Body {
    Body::writer(|w| async move {
        w.send("partial").await;
        Err(std::io::Error::other("the database went away"))
    })
}

async fn events(_req: Request) -> Response {
    sse::response(|tx| async move {
        tx.send(sse::Event::data("one\ntwo").event("greeting").id("1")).await;
        tx.send(sse::Event::comment("ping")).await;
        Ok::<(), std::io::Error>(())
    })
}

/// The writer leaves the producer: another task writes (a broadcast hub).
async fn handed_off(_req: Request) -> Body {
    Body::writer(|w| async move {
        // Detached on purpose: the body ends when this task drops `w`.
        drop(asyncio::create_task(async move {
            for i in 0..3 {
                asyncio::sleep(Duration::from_millis(5)).await;
                w.send(format!("from another task {i}\n")).await;
            }
        }));
        Ok::<(), std::io::Error>(())
    })
}

fn streaming_app() -> Router {
    Router::new()
        .get("/handed-off", handed_off)
        .get("/count", counting)
        .get("/endless", endless)
        .get("/failing", failing)
        .get("/events", events)
}

// On the virtual clock over in-process connections (see `support`): a
// sleep returns only once the loop has nothing left to run, so a producer
// still going after one would show; no real time is waited for.
#[asyncio::test(virtual_time)]
async fn streamed_responses_back_pressure_and_disconnect() {
    let server = start(|s| s, streaming_app).await;
    let r = get(&server, "/count").await;
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.text(), "0\n1\n2\n3\n4\n");
    assert!(PRODUCER_DROPPED.with(Cell::get));

    let r = get(&server, "/handed-off").await;
    assert_eq!(
        r.text(),
        "from another task 0\nfrom another task 1\nfrom another task 2\n"
    );

    // A client that never reads: the producer stops when the socket
    // buffers are full (back-pressure), and is dropped when the client goes.
    PRODUCED.with(|p| p.set(0));
    PRODUCER_DROPPED.with(|d| d.set(false));
    let c = Conn::open(&server).await;
    c.send(b"GET /endless HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    asyncio::sleep(Duration::from_millis(300)).await;
    let produced = PRODUCED.with(Cell::get);
    asyncio::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        PRODUCED.with(Cell::get),
        produced,
        "the producer kept going with nobody reading"
    );
    assert!(produced < 200, "{produced} chunks of 64 KiB buffered");
    drop(c);
    for _ in 0..100 {
        if PRODUCER_DROPPED.with(Cell::get) {
            break;
        }
        asyncio::sleep(Duration::from_millis(10)).await;
    }
    assert!(PRODUCER_DROPPED.with(Cell::get), "the producer outlived its client");

    // A producer error truncates the body: never a complete-looking response.
    let mut c = Conn::open(&server).await;
    c.send(b"GET /failing HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    // (hyper drops what it had buffered, so the client may see no bytes at
    // all, or a body cut short: either way no response that looks whole.)
    let r = c.response().await;
    assert!(!matches!(r, Ok(Some(_))), "{r:?}");
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn server_sent_events_wire_format() {
    let server = start(|s| s, streaming_app).await;
    let r = get(server.local_addr(), "/events").await;
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_eq!(r.text(), "event: greeting\nid: 1\ndata: one\ndata: two\n\n: ping\n\n");
    server.shutdown().await.unwrap();
}

#[test]
fn sse_event_fields_cannot_be_forged() {
    let e = sse::Event::data("x").event("a\nevent: b").id("1\r\n");
    assert_eq!(e.encode(), "event: aevent: b\nid: 1\ndata: x\n\n");
    let e = sse::Event::data("hello\revent: admin\r\nid: 9");
    assert_eq!(e.encode(), "data: hello\ndata: event: admin\ndata: id: 9\n\n");
    let e = sse::Event::comment("note\rdata: forged");
    assert_eq!(e.encode(), ": note\n: data: forged\n\n");
    // Empty data: one empty field, which a client reads as "" (two made
    // it "\n"; found by the fuzz target's reference parser).
    assert_eq!(sse::Event::data("").encode(), "data: \n\n");
}

static JOB_LOG: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

async fn with_job(req: Request) -> &'static str {
    req.background().add(async {
        JOB_LOG.lock().unwrap().push("job started");
        asyncio::sleep(Duration::from_millis(50)).await;
        JOB_LOG.lock().unwrap().push("job done");
    });
    req.background().add(async { panic!("background job exploded") });
    JOB_LOG.lock().unwrap().push("handler returned");
    "queued"
}

fn jobs_app() -> Router {
    Router::new().get("/job", with_job).get("/", hello).get("/boom", boom)
}

// On the virtual clock over in-process connections: the job's 50 ms cannot
// pass while the client is still reading its response.
#[asyncio::test(virtual_time)]
async fn background_jobs_run_after_the_response_and_panics_stay_contained() {
    let server = start(|s| s, jobs_app).await;
    let r = get(&server, "/job").await;
    assert_eq!(r.text(), "queued");
    assert_eq!(*JOB_LOG.lock().unwrap(), vec!["handler returned", "job started"]);
    // A panicking handler answers 500; the next request is served.
    let r = get(&server, "/boom").await;
    assert_eq!(r.status, 500);
    assert_eq!(get(&server, "/").await.text(), "Hello, world!");
    // Shutdown waits for the job.
    server.shutdown().await.unwrap();
    assert_eq!(
        *JOB_LOG.lock().unwrap(),
        vec!["handler returned", "job started", "job done"]
    );
}

static SEEN_THREADS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static SERVED: AtomicUsize = AtomicUsize::new(0);

async fn which_thread(_req: Request) -> Response {
    SERVED.fetch_add(1, Ordering::Relaxed);
    let name = std::thread::current().name().unwrap_or("?").to_owned();
    SEEN_THREADS.lock().unwrap().push(name.clone());
    (StatusCode::OK, name).into_response()
}

#[asyncio::test]
async fn workers_each_run_a_loop_on_their_own_thread() {
    let server = start(|s| s.workers(2), || Router::new().get("/", which_thread)).await;
    let addr = server.local_addr();
    for _ in 0..32 {
        assert_eq!(get(addr, "/").await.status, 200);
    }
    let seen = SEEN_THREADS.lock().unwrap().clone();
    assert_eq!(SERVED.load(Ordering::Relaxed), 32);
    let mut distinct = seen.clone();
    distinct.sort();
    distinct.dedup();
    // SO_REUSEPORT spreads connections by their addresses: 32 connections
    // all landing on one of two listeners has odds of 2^-31.
    assert_eq!(distinct.len(), 2, "{seen:?}");
    server.shutdown().await.unwrap();
}

#[test]
#[should_panic(expected = "defined twice")]
fn a_route_defined_twice_is_refused() {
    let _ = Router::new().get("/a", hello).get("/a", hello);
}

#[asyncio::test]
async fn a_worker_that_fails_to_start_fails_start_and_a_taken_port_is_refused() {
    let r = asyncio_http::Server::bind("127.0.0.1:0")
        .handle_signals(false)
        .workers(2)
        .start(|| {
            if std::thread::current().name() != Some("asyncio-http-worker-1") {
                panic!("no router on this worker");
            }
            Router::new()
        })
        .await;
    let err = r.expect_err("a worker's application function panicked");
    assert!(err.to_string().contains("panicked"), "{err}");

    let first = start(|s| s.workers(2), app).await;
    let taken = asyncio_http::Server::bind(first.local_addr().to_string())
        .handle_signals(false)
        .workers(2)
        .start(app)
        .await;
    assert_eq!(
        taken.expect_err("the port is taken").kind(),
        std::io::ErrorKind::AddrInUse
    );
    first.shutdown().await.unwrap();
}

static NESTED: AtomicUsize = AtomicUsize::new(0);

async fn nested_jobs(req: Request) -> &'static str {
    let bg = req.background().clone();
    req.background().add(async move {
        // A job that queues another, after the response is out.
        bg.add(async {
            NESTED.fetch_add(1, Ordering::Relaxed);
        });
    });
    "ok"
}

#[asyncio::test]
async fn jobs_added_after_the_response_start_at_once() {
    let server = start(|s| s, || Router::new().get("/", nested_jobs)).await;
    assert_eq!(get(server.local_addr(), "/").await.text(), "ok");
    server.shutdown().await.unwrap();
    assert_eq!(NESTED.load(Ordering::Relaxed), 1);
}

async fn peer(req: Request) -> String {
    format!("{:?}", req.peer_addr())
}

#[asyncio::test]
async fn in_process_connections_are_served_without_a_peer_address() {
    let server = start(|s| s, || Router::new().get("/peer", peer)).await;
    assert_eq!(get(&server, "/peer").await.text(), "None");
    let over_tcp = get(server.local_addr(), "/peer").await.text();
    assert!(over_tcp.starts_with("Some(127.0.0.1:"), "{over_tcp}");
    server.handle().shutdown();
    let refused = server.connect_local().unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    server.wait().await.unwrap();
}

#[test]
fn every_worker_runs_on_the_starting_loops_driver() {
    use asyncio::io::Driver;
    let mut drivers = vec![Driver::Readiness];
    if Driver::io_uring_available().is_ok() {
        drivers.push(Driver::IoUring);
    }
    for d in drivers {
        asyncio::Runner::new().driver(d).run(async move {
            let app = || {
                asyncio_http::Router::new().get("/", |_req: asyncio_http::Request| async {
                    let thread = std::thread::current().name().unwrap_or("").to_owned();
                    format!("{thread} {:?}", asyncio::get_running_loop().driver())
                })
            };
            let server = asyncio_http::Server::bind("127.0.0.1:0")
                .workers(2)
                .handle_signals(false)
                .start(app)
                .await
                .unwrap();
            let addr = server.local_addr();
            // Fresh connections until both workers have answered.
            let mut seen = std::collections::HashSet::new();
            for _ in 0..200 {
                let s = asyncio::net::TcpStream::connect(addr).await.unwrap();
                s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                    .await
                    .unwrap();
                let mut reply = Vec::new();
                let mut buf = [0u8; 1024];
                loop {
                    let n = s.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    reply.extend_from_slice(&buf[..n]);
                }
                let text = String::from_utf8_lossy(&reply).into_owned();
                assert!(text.ends_with(&format!("{d:?}")), "{text}");
                let body = text.rsplit("\r\n\r\n").next().unwrap_or("").to_owned();
                seen.insert(body);
                if seen.len() == 2 {
                    break;
                }
            }
            assert_eq!(seen.len(), 2, "both workers answer: {seen:?}");
            server.shutdown().await.unwrap();
        });
    }
}
