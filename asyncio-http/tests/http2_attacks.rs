//! HTTP/2's known attacks, each sent by a raw client (`h2raw`: frames
//! written byte by byte) at a server with its defaults or a lowered limit:
//! the offending connection gets `GOAWAY` or is closed, no handler runs
//! for what was refused, and another client is served all along.
//!
//! | attack | defence | setting (default) |
//! |---|---|---|
//! | too many concurrent streams | refused (`REFUSED_STREAM`), then `GOAWAY` | `http2_max_concurrent_streams` (128), `http2_max_local_error_reset_streams` (1024) |
//! | rapid reset (CVE-2023-44487) | `GOAWAY` `ENHANCE_YOUR_CALM` | `http2_max_pending_accept_reset_streams` (20) |
//! | CONTINUATION flood (CVE-2024-27316 class) | `GOAWAY` `ENHANCE_YOUR_CALM` | `max_header_bytes` (16 KiB) |
//! | oversized header list, HPACK bomb | `431` on that stream, connection goes on | `max_header_bytes` |
//! | SETTINGS / PING flood, answers never read | reads stop (one pending answer), then closed | `send_timeout` (60 s) |
//! | flow-control window never opened | closed | `send_timeout` |
//! | idle connection | `GOAWAY` `NO_ERROR`, closed | `keep_alive_timeout` (5 s) |
//!
//! And a WebSocket over HTTP/2 (RFC 8441's extended CONNECT), sent frame by
//! frame the same way.
//!
//! The tests that wait for a timeout run on the virtual clock, with the
//! client in-process (a socket pair: bytes written are at once readable,
//! so the clock cannot jump past them).

mod h2raw;
mod support;

use std::cell::Cell;
use std::time::Duration;

use asyncio::time::Instant;
use asyncio_http::client::Client;
use asyncio_http::{Body, Request, Router, RunningServer};
use h2raw::*;
use support::start;

thread_local! {
    /// Handlers run (any route).
    static RAN: Cell<usize> = const { Cell::new(0) };
}

fn ran() -> usize {
    RAN.with(Cell::get)
}

async fn hello(_req: Request) -> &'static str {
    RAN.with(|r| r.set(r.get() + 1));
    "Hello, world!"
}

/// Never answers (until the stream is dropped).
async fn hold(_req: Request) -> &'static str {
    RAN.with(|r| r.set(r.get() + 1));
    std::future::pending().await
}

/// 1 MiB, streamed in 4 KiB chunks.
async fn big(_req: Request) -> Body {
    RAN.with(|r| r.set(r.get() + 1));
    Body::writer(|w| async move {
        for _ in 0..256 {
            w.send(vec![b'x'; 4096]).await;
        }
        Ok::<(), std::io::Error>(())
    })
}

fn app() -> Router {
    Router::new()
        .get("/", hello)
        .get("/hold", hold)
        .get("/big", big)
        .get("/ws", support::ws_echo)
}

/// A well-behaved client's request (its own connection, HTTP/2): served.
async fn served(server: &RunningServer) {
    let client = Client::builder().http2_prior_knowledge().build().unwrap();
    let url = format!("http://{}/", server.local_addr());
    let r = client.get(&url).send().await.expect("the other client is served");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.unwrap(), "Hello, world!");
}

#[asyncio::test]
async fn streams_past_the_limit_are_refused_then_the_connection_is_sent_goaway() {
    let server = start(
        |s| {
            s.http2_max_concurrent_streams(4)
                .http2_max_local_error_reset_streams(10)
        },
        app,
    )
    .await;
    let mut raw = Raw::open(server.local_addr(), &[]).await;
    let mut burst = Vec::new();
    for i in 0..4u32 {
        burst.extend(get(1 + 2 * i, "/hold"));
    }
    raw.send(&burst).await.unwrap();
    while ran() < 4 {
        asyncio::sleep(Duration::ZERO).await;
    }
    // Then 26 more, past the limit the server announced.
    let mut burst = Vec::new();
    for i in 4..30u32 {
        burst.extend(get(1 + 2 * i, "/hold"));
    }
    raw.send(&burst).await.unwrap();
    let mut refused = Vec::new();
    let end = raw
        .end(Duration::from_secs(10), |f| {
            if f.kind == RST_STREAM {
                assert_eq!(f.code(), REFUSED_STREAM, "{f:?}");
                refused.push(f.stream);
            }
        })
        .await;
    assert_eq!(end, Some(End::GoAway(ENHANCE_YOUR_CALM)));
    // The first four ran; the next ten were refused, then the connection.
    assert_eq!(refused, (4..14).map(|i| 1 + 2 * i).collect::<Vec<u32>>());
    assert_eq!(ran(), 4);
    served(&server).await;
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn rapid_reset_gets_goaway() {
    let server = start(|s| s, app).await;
    let raw = Raw::open(server.local_addr(), &[]).await;
    // Requests opened and cancelled at once, as many as fit in one write.
    let mut burst = Vec::new();
    for i in 0..1000u32 {
        burst.extend(get(1 + 2 * i, "/hold"));
        burst.extend(rst_stream(1 + 2 * i, CANCEL));
    }
    let sending = asyncio::create_task(async move {
        let _ = raw.send(&burst).await;
        raw
    });
    let mut raw = sending.await.unwrap();
    let end = raw.end(Duration::from_secs(10), |_| {}).await;
    assert_eq!(end, Some(End::GoAway(ENHANCE_YOUR_CALM)));
    assert!(ran() < 1000, "{} handlers ran for cancelled streams", ran());
    served(&server).await;
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn continuation_flood_gets_goaway() {
    let server = start(|s| s, app).await;
    let raw = Raw::open(server.local_addr(), &[]).await;
    // A header block that never ends: HEADERS without END_HEADERS, then
    // CONTINUATION frames of fresh headers, 10 MB of them.
    let mut flood = frame(HEADERS, END_STREAM, 1, &get_block("/"));
    for i in 0..10_000 {
        let mut block = Vec::new();
        literal(&mut block, &format!("x-flood-{i}"), &[b'a'; 1000]);
        flood.extend(frame(CONTINUATION, 0, 1, &block));
    }
    let sending = asyncio::create_task(async move {
        // The server stops reading: the write may fail.
        let _ = raw.send(&flood).await;
        raw
    });
    let mut raw = sending.await.unwrap();
    let end = raw.end(Duration::from_secs(10), |_| {}).await;
    assert!(
        matches!(end, Some(End::GoAway(ENHANCE_YOUR_CALM)) | Some(End::Closed)),
        "{end:?}"
    );
    assert_eq!(ran(), 0);
    served(&server).await;
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn oversized_headers_get_431_and_the_connection_goes_on() {
    let server = start(|s| s, app).await;
    let mut raw = Raw::open(server.local_addr(), &[]).await;
    // 20 KB of headers against the 16 KiB limit, in a HEADERS frame and a
    // CONTINUATION (a frame is at most 16 KiB).
    let mut block = get_block("/");
    for i in 0..20 {
        literal(&mut block, &format!("x-big-{i}"), &[b'b'; 1000]);
    }
    let (first, rest) = block.split_at(10_000);
    raw.send(&frame(HEADERS, END_STREAM, 1, first)).await.unwrap();
    raw.send(&frame(CONTINUATION, END_HEADERS, 1, rest)).await.unwrap();
    // Then a plain request on the same connection.
    raw.send(&get(3, "/")).await.unwrap();
    let mut answered = Vec::new();
    loop {
        let f = raw.frame().await.unwrap().expect("the connection stays open");
        if f.kind == HEADERS {
            answered.push((f.stream, is_200(&f.payload)));
            if f.stream == 3 {
                break;
            }
        }
    }
    // Stream 1 answered (431), not 200, its handler not run; stream 3 served.
    assert_eq!(answered, [(1, false), (3, true)]);
    assert_eq!(ran(), 1);
    drop(raw);
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn hpack_bomb_gets_goaway() {
    let server = start(|s| s, app).await;
    let mut raw = Raw::open(server.local_addr(), &[]).await;
    // One 4,000-byte header into the dynamic table, then referred to 3,000
    // times by its one-byte index: a 7 KB block that decodes to 12 MB.
    let mut block = get_block("/");
    insert(&mut block, "x-bomb", &[b'a'; 4000]);
    for _ in 0..3000 {
        indexed(&mut block, 62);
    }
    raw.send(&frame(HEADERS, END_HEADERS | END_STREAM, 1, &block))
        .await
        .unwrap();
    let end = raw.end(Duration::from_secs(10), |_| {}).await;
    assert_eq!(end, Some(End::GoAway(ENHANCE_YOUR_CALM)));
    assert_eq!(ran(), 0);
    served(&server).await;
    server.shutdown().await.unwrap();
}

/// Writes `frames` over and over, never reading, until the write fails
/// (the server closed the connection); returns when, on the loop's clock.
async fn flood_unread(raw: Raw, frames: Vec<u8>) -> Instant {
    let mut burst = Vec::new();
    for _ in 0..1000 {
        burst.extend_from_slice(&frames);
    }
    while raw.send(&burst).await.is_ok() {}
    Instant::now()
}

#[asyncio::test(virtual_time)]
async fn settings_and_ping_floods_whose_answers_are_never_read_are_cut_at_the_send_timeout() {
    let server = start(|s| s.send_timeout(Duration::from_secs(20)), app).await;
    for frames in [settings(&[]), ping(7)] {
        let raw = Raw::open(&server, &[]).await;
        let start = Instant::now();
        let cut = asyncio::timeout(Duration::from_secs(60), flood_unread(raw, frames))
            .await
            .expect("the flooding connection is closed");
        // Its answers filled the socket: the server stopped reading (one
        // answer pending), and 20 s later (its timer looks every 5 s)
        // closed it.
        let took = cut - start;
        assert!(
            took >= Duration::from_secs(20) && took <= Duration::from_secs(26),
            "{took:?}"
        );
        served(&server).await;
    }
    server.shutdown().await.unwrap();
}

#[asyncio::test(virtual_time)]
async fn a_flow_control_window_never_opened_is_cut_at_the_send_timeout() {
    let server = start(|s| s.send_timeout(Duration::from_secs(20)), app).await;
    for path in ["/big", "/"] {
        // Stream windows of zero: no DATA may be sent.
        let mut raw = Raw::open(&server, &[(INITIAL_WINDOW_SIZE, 0)]).await;
        raw.send(&get(1, path)).await.unwrap();
        let start = Instant::now();
        let mut data = 0;
        let end = raw
            .end(Duration::from_secs(60), |f| {
                if f.kind == DATA {
                    data += f.payload.len();
                }
            })
            .await;
        assert_eq!(end, Some(End::Closed), "{path}");
        assert_eq!(data, 0, "{path}");
        let took = start.elapsed();
        assert!(
            took >= Duration::from_secs(20) && took <= Duration::from_secs(26),
            "{path}: {took:?}"
        );
        served(&server).await;
    }
    server.shutdown().await.unwrap();
}

#[asyncio::test(virtual_time)]
async fn a_slow_reader_that_keeps_reading_is_not_cut() {
    let server = start(|s| s.send_timeout(Duration::from_secs(10)), app).await;
    // A window of 16 KiB reopened every 8 s: the 1 MiB body takes minutes,
    // each step inside the send timeout.
    let mut raw = Raw::open(&server, &[(INITIAL_WINDOW_SIZE, 16 * 1024)]).await;
    raw.send(&frame(WINDOW_UPDATE, 0, 0, &(16u32 << 20).to_be_bytes()))
        .await
        .unwrap();
    raw.send(&get(1, "/big")).await.unwrap();
    let mut data = 0;
    while data < 1 << 20 {
        let f = raw.frame().await.unwrap().expect("the connection stays open");
        if f.kind == DATA {
            data += f.payload.len();
            if data % (16 * 1024) == 0 && data < 1 << 20 {
                asyncio::sleep(Duration::from_secs(8)).await;
                raw.send(&frame(WINDOW_UPDATE, 0, 1, &(16u32 * 1024).to_be_bytes()))
                    .await
                    .unwrap();
            }
        }
    }
    assert_eq!(data, 1 << 20);
    server.shutdown().await.unwrap();
}

#[asyncio::test(virtual_time)]
async fn an_idle_connection_gets_goaway_at_the_keep_alive_timeout() {
    let server = start(|s| s.keep_alive_timeout(Duration::from_secs(5)), app).await;
    let mut raw = Raw::open(&server, &[]).await;
    raw.send(&get(1, "/")).await.unwrap();
    let mut answered = false;
    let start = Instant::now();
    let end = raw
        .end(Duration::from_secs(60), |f| answered |= f.kind == HEADERS)
        .await;
    assert!(answered);
    assert_eq!(end, Some(End::GoAway(NO_ERROR)));
    assert!(start.elapsed() <= Duration::from_secs(6), "{:?}", start.elapsed());
    // hyper's graceful close: GOAWAY naming the last stream once the client
    // has answered its PING (`end` answers them), then the connection
    // closes.
    assert_eq!(
        raw.end(Duration::from_secs(5), |_| {}).await,
        Some(End::GoAway(NO_ERROR))
    );
    assert_eq!(raw.end(Duration::from_secs(5), |_| {}).await, Some(End::Closed));
    server.shutdown().await.unwrap();
}

/// A client-to-server WebSocket frame: FIN, `opcode`, masked.
fn ws_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [0x11, 0x22, 0x33, 0x44];
    let mut out = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// The WebSocket bytes the server sends on `stream` until `want` of them.
async fn ws_bytes(raw: &mut Raw, stream: u32, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < want {
        let f = raw.frame().await.unwrap().expect("the connection stays open");
        if f.kind == DATA && f.stream == stream {
            got.extend_from_slice(&f.payload);
        }
    }
    got
}

#[asyncio::test(virtual_time)]
async fn websocket_over_http2_by_extended_connect() {
    let server = start(|s| s.keep_alive_timeout(Duration::from_secs(5)), app).await;
    let mut raw = Raw::open(&server, &[]).await;
    assert!(
        raw.server_settings.contains(&(ENABLE_CONNECT_PROTOCOL, 1)),
        "{:?}",
        raw.server_settings
    );
    // RFC 8441, section 5: CONNECT with :protocol, no END_STREAM.
    let mut block = Vec::new();
    literal(&mut block, ":method", b"CONNECT");
    literal(&mut block, ":protocol", b"websocket");
    literal(&mut block, ":scheme", b"http");
    literal(&mut block, ":path", b"/ws");
    literal(&mut block, ":authority", b"t");
    literal(&mut block, "sec-websocket-version", b"13");
    raw.send(&frame(HEADERS, END_HEADERS, 1, &block)).await.unwrap();
    let answer = loop {
        let f = raw.frame().await.unwrap().expect("an answer");
        if f.kind == HEADERS && f.stream == 1 {
            break f;
        }
    };
    assert!(is_200(&answer.payload), "{answer:?}");
    assert_eq!(answer.flags & END_STREAM, 0, "the stream stays open");
    // Echoed, as over HTTP/1.1 (server frames are not masked).
    raw.send(&frame(DATA, 0, 1, &ws_frame(0x1, b"hello"))).await.unwrap();
    assert_eq!(ws_bytes(&mut raw, 1, 7).await, b"\x81\x05hello");
    // Idle far past the keep-alive timeout: an open WebSocket keeps its
    // connection.
    asyncio::sleep(Duration::from_secs(30)).await;
    raw.send(&frame(DATA, 0, 1, &ws_frame(0x1, b"again"))).await.unwrap();
    assert_eq!(ws_bytes(&mut raw, 1, 7).await, b"\x81\x05again");
    // Plain streams go on beside it.
    raw.send(&get(3, "/")).await.unwrap();
    loop {
        let f = raw.frame().await.unwrap().expect("the connection stays open");
        if f.kind == HEADERS && f.stream == 3 {
            assert!(is_200(&f.payload));
            break;
        }
    }
    // The close handshake.
    raw.send(&frame(DATA, 0, 1, &ws_frame(0x8, &1000u16.to_be_bytes())))
        .await
        .unwrap();
    assert_eq!(ws_bytes(&mut raw, 1, 4).await, b"\x88\x02\x03\xe8");
    drop(raw);
    server.shutdown().await.unwrap();
}
