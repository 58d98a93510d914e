//! Every limit, slow clients on the virtual clock, and the request
//! smuggling shapes: each gets a clear status and, where the framing can no
//! longer be trusted, a closed connection; the server goes on serving.
//!
//! The tests that measure time run on the virtual clock over in-process
//! connections (`RunningServer::connect_local`): what a client writes is
//! ready for the server at once, so the clock cannot jump past bytes still
//! on their way, and the windows asserted hold whatever the machine's
//! load. The others go over real TCP and only wait for an outcome, each to
//! a generous deadline.

mod support;

use std::cell::Cell;
use std::time::Duration;

use asyncio::time::Instant;
use asyncio_http::{BodyError, Request, Router, RunningServer};
use support::{get, request, start, Conn};

thread_local! {
    static HANDLED: Cell<usize> = const { Cell::new(0) };
}

async fn hello(_req: Request) -> &'static str {
    HANDLED.with(|h| h.set(h.get() + 1));
    "Hello, world!"
}

async fn read_body(mut req: Request) -> Result<String, BodyError> {
    HANDLED.with(|h| h.set(h.get() + 1));
    Ok(format!("{} bytes", req.bytes().await?.len()))
}

async fn hold(_req: Request) -> &'static str {
    asyncio::sleep(Duration::from_secs(3600)).await;
    "late"
}

/// 8 MiB in one piece.
async fn big_full(_req: Request) -> Vec<u8> {
    vec![b'x'; 8 << 20]
}

/// 8 MiB, streamed in 64 KiB chunks.
async fn big_stream(_req: Request) -> asyncio_http::Body {
    asyncio_http::Body::writer(|w| async move {
        for _ in 0..128 {
            w.send(vec![b'x'; 64 * 1024]).await;
        }
        Ok::<(), std::io::Error>(())
    })
}

fn app() -> Router {
    Router::new()
        .get("/", hello)
        .get("/big-full", big_full)
        .get("/big-stream", big_stream)
        .post("/", hello)
        .post("/read", read_body)
        .get("/hold", hold)
}

/// The connection is closed after `resp`, and the server still serves.
async fn closed_and_alive(c: &mut Conn, addr: std::net::SocketAddr) {
    assert!(c.closed_within(Duration::from_secs(5)).await, "connection left open");
    assert_eq!(get(addr, "/").await.status, 200);
}

/// A server with these keep-alive and header timeouts (in seconds), and
/// an in-process connection to it.
async fn timed_server(keep_alive: u64, header_read: u64) -> (RunningServer, Conn) {
    let server = start(
        |s| {
            s.keep_alive_timeout(Duration::from_secs(keep_alive))
                .header_read_timeout(Duration::from_secs(header_read))
        },
        app,
    )
    .await;
    let c = Conn::open(&server).await;
    (server, c)
}

#[asyncio::test]
async fn header_bytes_and_count_limits_answer_431() {
    let server = start(|s| s.max_header_bytes(1024).max_headers(10), app).await;
    let addr = server.local_addr();
    let big = format!("GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n", "a".repeat(2000));
    let mut c = Conn::open(addr).await;
    c.send(big.as_bytes()).await.unwrap();
    assert_eq!(c.response().await.unwrap().unwrap().status, 431);
    closed_and_alive(&mut c, addr).await;

    let many: String = (0..20).map(|i| format!("X-H{i}: v\r\n")).collect();
    let mut c = Conn::open(addr).await;
    c.send(format!("GET / HTTP/1.1\r\nHost: t\r\n{many}\r\n").as_bytes())
        .await
        .unwrap();
    assert_eq!(c.response().await.unwrap().unwrap().status, 431);
    closed_and_alive(&mut c, addr).await;
    server.shutdown().await.unwrap();
}

#[asyncio::test(virtual_time)]
async fn slowloris_is_cut_off_at_the_header_timeout() {
    let (server, mut c) = timed_server(60, 10).await;
    let start = Instant::now();
    // One header byte every 2 s: never a complete head.
    let trickle = async {
        for b in b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa" {
            if c.send(&[*b]).await.is_err() {
                break;
            }
            asyncio::sleep(Duration::from_secs(2)).await;
        }
    };
    let _ = asyncio::timeout(Duration::from_secs(30), trickle).await;
    assert!(c.closed_within(Duration::from_secs(30)).await);
    // Cut at 10 s; the client sees it by its next write at the latest.
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(10) && took <= Duration::from_secs(12),
        "{took:?}"
    );
    assert_eq!(HANDLED.with(Cell::get), 0);
    assert_eq!(get(&server, "/").await.status, 200);
    server.shutdown().await.unwrap();
}

#[asyncio::test(virtual_time)]
async fn idle_keep_alive_connections_close_after_the_timeout() {
    let (server, mut c) = timed_server(5, 10).await;
    // Active for 12 s (a request every 3 s): kept open.
    for _ in 0..4 {
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
        assert_eq!(c.response().await.unwrap().unwrap().status, 200);
        asyncio::sleep(Duration::from_secs(3)).await;
    }
    // Then idle: closed 5 s after the last response.
    let idle_from = Instant::now() - Duration::from_secs(3);
    assert!(c.closed_within(Duration::from_secs(10)).await);
    // Virtual sleeps end exactly at their deadlines.
    assert_eq!(idle_from.elapsed(), Duration::from_secs(5));
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn body_limits_answer_413() {
    let server = start(|s| s.max_body_bytes(1000), app).await;
    let addr = server.local_addr();
    HANDLED.with(|h| h.set(0));
    // Declared too long: refused before the handler, connection closed.
    let mut c = Conn::open(addr).await;
    c.send(b"POST /read HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n")
        .await
        .unwrap();
    let r = c.response().await.unwrap().unwrap();
    assert_eq!(r.status, 413);
    assert!(r.closes());
    assert_eq!(HANDLED.with(Cell::get), 0);
    closed_and_alive(&mut c, addr).await;
    // Chunked, growing past the limit while the handler reads.
    let chunk = format!("200\r\n{}\r\n", "z".repeat(0x200));
    let mut c = Conn::open(addr).await;
    c.send(
        format!("POST /read HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}{chunk}{chunk}").as_bytes(),
    )
    .await
    .unwrap();
    let r = c.response().await.unwrap().unwrap();
    assert_eq!(r.status, 413);
    assert!(r.closes());
    closed_and_alive(&mut c, addr).await;
    // Under the limit: fine.
    let r = request(
        addr,
        "POST /read HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
    )
    .await;
    assert_eq!(r.text(), "3 bytes");
    server.shutdown().await.unwrap();
}

#[asyncio::test(virtual_time)]
async fn connections_over_the_limit_get_503() {
    let server = start(|s| s.max_connections(2), app).await;
    let a = Conn::open(&server).await;
    let b = Conn::open(&server).await;
    a.send(b"GET /hold HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    b.send(b"GET /hold HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    // On the virtual clock this returns once the loop has nothing left to
    // do: both connections accepted and their handlers waiting.
    asyncio::sleep(Duration::from_millis(50)).await;
    let r = get(&server, "/").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("1"));
    drop((a, b));
    // The same: the server has seen both clients leave.
    asyncio::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        get(&server, "/").await.status,
        200,
        "slots were not freed when the clients left"
    );
    server.handle().shutdown();
    server.wait().await.unwrap();
}

/// Sends each of `raws` on a connection of its own and expects `400` and
/// a closed connection, with no handler run for it; the server then serves
/// a normal request.
async fn refused_with_400(addr: std::net::SocketAddr, raws: &[&str]) {
    for raw in raws {
        HANDLED.with(|h| h.set(0));
        let mut c = Conn::open(addr).await;
        c.send(raw.as_bytes()).await.unwrap();
        let r = c
            .response()
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no response to {raw:?}"));
        assert_eq!(r.status, 400, "{raw:?}");
        assert!(c.closed_within(Duration::from_secs(5)).await, "left open after {raw:?}");
        assert_eq!(HANDLED.with(Cell::get), 0, "a handler ran for {raw:?}");
        assert_eq!(get(addr, "/").await.status, 200);
    }
}

#[asyncio::test]
async fn smuggling_shapes_get_400_and_a_closed_connection() {
    let server = start(|s| s, app).await;
    let addr = server.local_addr();
    refused_with_400(
        addr,
        &[
            // Two different lengths.
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            // A list of lengths, a negative one, a non-number.
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 6\r\n\r\nhello!",
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1e3\r\n\r\n",
            // A transfer coding that is not chunked, or chunked hidden in another.
            "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            // Whitespace before the colon (a classic proxy desync).
            "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
            // Transfer-Encoding in HTTP/1.0.
            "POST / HTTP/1.0\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            // A bare LF in the request line, an obs-fold header.
            "GET / HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n",
        ],
    )
    .await;
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn bad_chunk_sizes_get_400_whether_or_not_the_handler_reads() {
    let server = start(|s| s, app).await;
    let addr = server.local_addr();
    for path in ["/read", "/"] {
        for body in [
            "zz\r\nhello\r\n0\r\n\r\n",
            "5\r\nhelloXX0\r\n\r\n",
            "-5\r\nhello\r\n0\r\n\r\n",
            "ffffffffffffffffff\r\n",
        ] {
            let raw = format!("POST {path} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{body}");
            let mut c = Conn::open(addr).await;
            c.send(raw.as_bytes()).await.unwrap();
            let r = c.response().await.unwrap().unwrap();
            assert_eq!(r.status, 400, "{raw:?}");
            assert!(c.closed_within(Duration::from_secs(5)).await, "left open after {raw:?}");
        }
    }
    assert_eq!(get(addr, "/").await.status, 200);
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn content_length_with_transfer_encoding_and_duplicate_lengths_get_400() {
    // hyper alone would frame the first by Transfer-Encoding (dropping the
    // Content-Length before the application sees it) and merge the equal
    // lengths of the second: the server re-reads the raw head instead.
    let server = start(|s| s, app).await;
    let addr = server.local_addr();
    refused_with_400(
        addr,
        &[
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /hold HTTP/1.1\r\nHost: t\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 5\r\n\r\nhello",
        ],
    )
    .await;
    // The same shapes pipelined behind a good request on one connection.
    let mut c = Conn::open(addr).await;
    c.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabcPOST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(c.response().await.unwrap().unwrap().status, 200);
    assert_eq!(c.response().await.unwrap().unwrap().status, 400);
    assert!(c.closed_within(Duration::from_secs(5)).await);
    // A body that merely mentions both headers is not a head.
    let body = "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n";
    let r = request(
        addr,
        &format!(
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert_eq!(r.status, 200);
    server.shutdown().await.unwrap();
}

#[asyncio::test(virtual_time)]
async fn a_request_arriving_slowly_after_idling_is_not_cut_by_the_keep_alive_timer() {
    let (server, mut c) = timed_server(5, 60).await;
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    assert_eq!(c.response().await.unwrap().unwrap().status, 200);
    asyncio::sleep(Duration::from_secs(4)).await;
    // The next head takes 4 s to arrive: past the idle deadline, inside the
    // header timeout (10 s).
    for part in [&b"GET / HTTP/1.1\r\n"[..], b"Host: t\r\n", b"\r\n"] {
        c.send(part).await.unwrap();
        asyncio::sleep(Duration::from_secs(2)).await;
    }
    assert_eq!(c.response().await.unwrap().unwrap().status, 200);
    server.shutdown().await.unwrap();
}

#[asyncio::test(virtual_time)]
async fn keep_alive_zero_serves_one_request_and_huge_timeouts_are_capped() {
    let server = start(|s| s.keep_alive_timeout(Duration::ZERO), app).await;
    let r = get(&server, "/").await;
    assert_eq!(r.status, 200);
    let mut c = Conn::open(&server).await;
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    let r = c.response().await.unwrap().unwrap();
    assert!(r.closes());
    assert!(c.closed_within(Duration::from_secs(1)).await);
    server.shutdown().await.unwrap();

    let server = start(
        |s| {
            s.keep_alive_timeout(Duration::MAX)
                .header_read_timeout(Duration::MAX)
                .graceful_timeout(Duration::MAX)
        },
        app,
    )
    .await;
    let mut c = Conn::open(&server).await;
    c.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").await.unwrap();
    assert_eq!(c.response().await.unwrap().unwrap().status, 200);
    drop(c);
    server.shutdown().await.unwrap();
}

async fn not_here(_req: Request) -> (asyncio_http::StatusCode, &'static str) {
    (asyncio_http::StatusCode::NOT_FOUND, "no")
}

#[asyncio::test(virtual_time)]
async fn expect_continue_to_a_handler_that_ignores_the_body_is_answered_at_once() {
    let server = start(|s| s, || Router::new().post("/", not_here)).await;
    let mut c = Conn::open(&server).await;
    c.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n")
        .await
        .unwrap();
    let r = asyncio::timeout(Duration::from_secs(2), c.response())
        .await
        .expect("answered at once");
    let r = r.unwrap().unwrap();
    assert_eq!(r.status, 404, "{r:?}");
    assert!(r.closes());
    server.shutdown().await.unwrap();
}

#[asyncio::test(virtual_time)]
async fn a_client_that_stops_reading_is_cut_at_the_send_timeout() {
    let server = start(|s| s.send_timeout(Duration::from_secs(20)), app).await;
    for path in ["/big-full", "/big-stream"] {
        let c = Conn::open(&server).await;
        c.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .await
            .unwrap();
        // Never read: the socket's buffers fill and the response stalls.
        // A write fails once the server has closed its end.
        let start = Instant::now();
        let mut waited = 0;
        while c.send(b"x").await.is_ok() {
            asyncio::sleep(Duration::from_secs(1)).await;
            waited += 1;
            assert!(waited < 60, "{path}: still open after a minute");
        }
        // Cut 20 s after the stall (the timer looks every 5 s), not at the
        // 5 s keep-alive timeout.
        let took = start.elapsed();
        assert!(
            took >= Duration::from_secs(20) && took <= Duration::from_secs(27),
            "{path}: {took:?}"
        );
    }
    assert_eq!(get(&server, "/").await.status, 200);
    server.shutdown().await.unwrap();
}

#[asyncio::test(virtual_time)]
async fn a_slow_reader_gets_the_whole_response() {
    // What has arrived, every 3 s: slower than the keep-alive timeout lets
    // a connection idle, often enough for the server to write within the
    // send timeout.
    let server = start(
        |s| {
            s.send_timeout(Duration::from_secs(10))
                .keep_alive_timeout(Duration::from_secs(1))
        },
        app,
    )
    .await;
    for path in ["/big-full", "/big-stream"] {
        let c = Conn::open(&server).await;
        c.send(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut got = Vec::new();
        let mut chunk = vec![0u8; 1 << 20];
        let body_at = loop {
            let n = c.stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "{path}: closed before the head");
            got.extend_from_slice(&chunk[..n]);
            if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        // `/big-full` has a length; `/big-stream` is chunked.
        let done = |got: &[u8]| match path {
            "/big-full" => got.len() - body_at >= 8 << 20,
            _ => got.ends_with(b"\r\n0\r\n\r\n"),
        };
        while !done(&got) {
            asyncio::sleep(Duration::from_secs(3)).await;
            let n = c.stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "{path}: cut after {} bytes", got.len() - body_at);
            got.extend_from_slice(&chunk[..n]);
        }
        let xs = got[body_at..].iter().filter(|b| **b == b'x').count();
        assert_eq!(xs, 8 << 20, "{path}");
    }
    server.shutdown().await.unwrap();
}
