//! Graceful shutdown on the virtual clock: in-flight requests, idle
//! connections, background jobs and WebSockets, the timeout that cancels
//! what is left, and the lifespan hooks.
//!
//! Clients connect in-process (`RunningServer::connect_local`): what one
//! writes is ready for the server at once, so the clock cannot jump past
//! bytes still on their way and the windows asserted hold on any machine.

mod support;

use std::cell::RefCell;
use std::time::Duration;

use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::Message;
use asyncio::time::Instant;
use asyncio_http::ws::WebSocket;
use asyncio_http::{Request, Response, Router};
use futures_lite::StreamExt;
use support::{start, Conn};

thread_local! {
    static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn log(s: impl Into<String>) {
    LOG.with(|l| l.borrow_mut().push(s.into()));
}

fn take_log() -> Vec<String> {
    LOG.with(|l| std::mem::take(&mut *l.borrow_mut()))
}

struct DropLog(&'static str);
impl Drop for DropLog {
    fn drop(&mut self) {
        log(format!("dropped {}", self.0));
    }
}

async fn slow(_req: Request) -> &'static str {
    let _g = DropLog("slow handler");
    asyncio::sleep(Duration::from_secs(2)).await;
    log("slow handler finished");
    std::mem::forget(_g);
    "finished"
}

async fn forever(_req: Request) -> &'static str {
    let _g = DropLog("forever handler");
    asyncio::sleep(Duration::from_secs(3600)).await;
    "never"
}

async fn with_jobs(req: Request) -> &'static str {
    req.background().add(async {
        asyncio::sleep(Duration::from_secs(3)).await;
        log("short job done");
    });
    req.background().add(async {
        let _g = DropLog("long job");
        asyncio::sleep(Duration::from_secs(3600)).await;
    });
    "queued"
}

async fn ws(req: Request) -> Response {
    req.websocket(|mut ws: WebSocket| async move {
        let shutdown = ws.shutdown_signal();
        shutdown.wait().await;
        log("websocket told of shutdown");
        let _ = ws
            .close(asyncio_http::ws::CloseCode::Away, "server shutting down")
            .await;
    })
}

fn app() -> Router {
    Router::new()
        .get("/slow", slow)
        .get("/forever", forever)
        .get("/jobs", with_jobs)
        .get("/ws", ws)
        .on_startup(|| async { log("startup") })
        .on_shutdown(|| async { log("shutdown hook") })
}

#[asyncio::test(virtual_time)]
async fn in_flight_requests_finish_and_new_connections_are_refused() {
    take_log();
    let server = start(|s| s.graceful_timeout(Duration::from_secs(30)), app).await;
    let addr = server.local_addr();
    let mut busy = Conn::open(&server).await;
    busy.send(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    let mut idle = Conn::open(&server).await;
    idle.send(b"GET /jobs HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    assert_eq!(idle.response().await.unwrap().unwrap().text(), "queued");
    asyncio::sleep(Duration::from_millis(500)).await;

    let start = Instant::now();
    server.handle().shutdown();
    let waiting = asyncio::create_task(server.wait());
    asyncio::sleep(Duration::from_millis(10)).await;
    // Stopped accepting (a blocking connect: refused before the loop, and
    // so the clock, can move on); the idle keep-alive connection is closed
    // at once.
    assert!(std::net::TcpStream::connect(addr).is_err());
    assert!(idle.closed_within(Duration::from_millis(100)).await);
    // The busy one gets its answer, with `Connection: close`.
    let r = busy.response().await.unwrap().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "finished"));
    assert!(r.closes());
    // The short background job finishes; the long one is cancelled at the
    // graceful timeout; then the hook runs.
    waiting.await.unwrap().unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(30));
    assert_eq!(
        take_log(),
        [
            "startup",
            "slow handler finished",
            "short job done",
            "dropped long job",
            "shutdown hook"
        ]
    );
}

#[asyncio::test(virtual_time)]
async fn the_graceful_timeout_cancels_what_is_left() {
    take_log();
    let server = start(|s| s.graceful_timeout(Duration::from_secs(5)), app).await;
    let mut c = Conn::open(&server).await;
    c.send(b"GET /forever HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    asyncio::sleep(Duration::from_millis(100)).await;
    let start = Instant::now();
    server.shutdown().await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert!(c.closed_within(Duration::from_secs(1)).await);
    assert_eq!(take_log(), ["startup", "dropped forever handler", "shutdown hook"]);
}

#[asyncio::test(virtual_time)]
async fn websockets_hear_of_the_shutdown_and_close_with_1001() {
    take_log();
    let server = start(|s| s, app).await;
    let stream = server.connect_local().unwrap();
    let (mut client, _) = async_tungstenite::client_async("ws://local/ws", stream).await.unwrap();
    let stopping = asyncio::create_task(server.shutdown());
    let frame = loop {
        match client.next().await {
            Some(Ok(Message::Close(f))) => break f,
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(frame.map(|f| f.code), Some(CloseCode::Away));
    // Answering the close lets the server finish at once.
    assert!(client.next().await.is_none_or(|r| r.is_err()));
    let start = Instant::now();
    stopping.await.unwrap().unwrap();
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_eq!(take_log(), ["startup", "websocket told of shutdown", "shutdown hook"]);
}

async fn big(_req: Request) -> asyncio_http::Body {
    asyncio_http::Body::writer(|w| async move {
        for _ in 0..64 {
            w.send(vec![b'b'; 256 * 1024]).await;
        }
        Ok::<(), std::io::Error>(())
    })
}

/// Reads a `Connection: close` response slowly to its end; returns the
/// bytes of the whole exchange.
async fn slow_reader(c: &mut Conn) -> usize {
    let mut total = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        asyncio::sleep(Duration::from_millis(20)).await;
        match c.stream.read(&mut buf).await {
            Ok(0) | Err(_) => return total,
            Ok(n) => total += n,
        }
    }
}

#[asyncio::test(virtual_time)]
async fn shutdown_and_the_idle_timer_never_cut_a_response_short() {
    let server = start(
        |s| s.keep_alive_timeout(Duration::from_secs(1)),
        || Router::new().get("/big", big),
    )
    .await;
    // An HTTP/1.0 download that outlasts the keep-alive timeout, and a
    // `Connection: close` one that outlasts the start of shutdown.
    let mut old = Conn::open(&server).await;
    old.send(b"GET /big HTTP/1.0\r\n\r\n").await.unwrap();
    let mut closing = Conn::open(&server).await;
    closing
        .send(b"GET /big HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let stop = asyncio::create_task(async move {
        asyncio::sleep(Duration::from_millis(50)).await;
        server.shutdown().await
    });
    let (a, b) = asyncio::gather!(slow_reader(&mut old), slow_reader(&mut closing)).await;
    let body = 64 * 256 * 1024;
    assert!(a > body && b > body, "read {a} and {b} bytes; the body alone is {body}");
    stop.await.unwrap().unwrap();
}
