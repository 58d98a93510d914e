//! WebSockets on the HTTP port: the upgrade, echo, pings, the close
//! handshake, size limits, and refusals of bad upgrades.

mod support;

use std::time::Duration;

use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::Message;
use asyncio::net::TcpStream;
use asyncio_http::ws::WebSocket;
use asyncio_http::{Request, Response, Router};
use futures_lite::StreamExt;
use support::{request, start, ws_echo};

async fn goodbye(req: Request) -> Response {
    req.websocket(|mut ws: WebSocket| async move {
        let _ = ws.send(Message::text("bye")).await;
        let _ = ws.close(CloseCode::Policy, "that's all").await;
    })
}

async fn chat_v2(req: Request) -> Response {
    let wanted = req.websocket_protocols().contains(&"chat.v2").then_some("chat.v2");
    req.websocket_with_protocol(wanted, |_ws: WebSocket| async {})
}

fn app() -> Router {
    Router::new()
        .get("/ws", ws_echo)
        .get("/bye", goodbye)
        .get("/proto", chat_v2)
}

async fn connect(addr: std::net::SocketAddr, path: &str) -> async_tungstenite::WebSocketStream<TcpStream> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (ws, resp) = async_tungstenite::client_async(format!("ws://{addr}{path}"), stream)
        .await
        .unwrap();
    assert_eq!(resp.status(), 101);
    ws
}

#[asyncio::test]
async fn echo_text_binary_and_pings() {
    let server = start(|s| s, app).await;
    let mut ws = connect(server.local_addr(), "/ws").await;
    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hello"));
    ws.send(Message::binary(vec![0u8, 1, 2, 255])).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::binary(vec![0u8, 1, 2, 255]));
    ws.send(Message::Ping(b"are you there".to_vec().into())).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::Pong(b"are you there".to_vec().into())
    );
    // 1 MiB in one message.
    let big = "x".repeat(1 << 20);
    ws.send(Message::text(big.clone())).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text(big));
    ws.close(None).await.unwrap();
    // The server answers the close; the stream then ends.
    while let Some(m) = ws.next().await {
        if m.is_err() {
            break;
        }
    }
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn the_server_closes_with_a_code_and_reason() {
    let server = start(|s| s, app).await;
    let mut ws = connect(server.local_addr(), "/bye").await;
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("bye"));
    match ws.next().await.unwrap().unwrap() {
        Message::Close(Some(frame)) => {
            assert_eq!(frame.code, CloseCode::Policy);
            assert_eq!(frame.reason.as_str(), "that's all");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    // Reading on sends our answer to the close; then the stream ends.
    assert!(ws.next().await.is_none_or(|r| r.is_err()));
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn a_message_over_the_limit_closes_with_1009() {
    let server = start(|s| s.websocket_max_message(1000), app).await;
    let mut ws = connect(server.local_addr(), "/ws").await;
    ws.send(Message::text("small")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("small"));
    ws.send(Message::text("y".repeat(5000))).await.unwrap();
    let end = asyncio::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await
    .expect("the server kept the WebSocket open");
    assert_eq!(end, Some(CloseCode::Size));
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn bad_upgrades_are_refused() {
    let server = start(|s| s, app).await;
    let addr = server.local_addr();
    let upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\n";
    let key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    // Not an upgrade; an old protocol version; no key.
    for (headers, status) in [
        ("Connection: close\r\n".to_owned(), 400),
        (format!("{upgrade}{key}Sec-WebSocket-Version: 8\r\n"), 426),
        (format!("{upgrade}Sec-WebSocket-Version: 13\r\n"), 400),
    ] {
        let r = request(addr, &format!("GET /ws HTTP/1.1\r\nHost: t\r\n{headers}\r\n")).await;
        assert_eq!(r.status, status, "{headers:?}");
        if status == 426 {
            assert_eq!(r.header("sec-websocket-version"), Some("13"));
        }
    }
    // RFC 6455's own example key and answer.
    let ok = request(
        addr,
        "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await;
    assert_eq!(ok.status, 101);
    assert_eq!(ok.header("sec-websocket-accept"), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    assert_eq!(ok.header("sec-websocket-protocol"), None);
    let chosen = request(
        addr,
        "GET /proto HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat.v1, chat.v2\r\n\r\n",
    )
    .await;
    assert_eq!(chosen.header("sec-websocket-protocol"), Some("chat.v2"));
    server.shutdown().await.unwrap();
}

thread_local! {
    static WS_RAN: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

async fn counted(req: Request) -> Response {
    req.websocket(|_ws: WebSocket| async move { WS_RAN.with(|r| r.set(r.get() + 1)) })
}

// On the virtual clock over in-process connections (see `support`): the
// shutdown is timed.
#[asyncio::test(virtual_time)]
async fn a_refused_handshake_never_runs_the_websocket_handler() {
    let server = start(
        |s| s.graceful_timeout(Duration::from_secs(5)),
        || Router::new().get("/ws", counted),
    )
    .await;
    // An upgrade request with a malformed body: 400, and no WebSocket.
    let mut c = support::Conn::open(&server).await;
    c.send(b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        .await
        .unwrap();
    assert_eq!(c.response().await.unwrap().unwrap().status, 400);
    assert!(c.closed_within(Duration::from_secs(2)).await);
    // HTTP/1.0 cannot upgrade.
    let r = request(&server, "GET /ws HTTP/1.0\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").await;
    assert_eq!(r.status, 400);
    assert_eq!(WS_RAN.with(std::cell::Cell::get), 0);
    // Nothing left but a closed connection's linger (1 s at most): the
    // shutdown does not wait for its 5 s graceful timeout.
    let started = asyncio::time::Instant::now();
    server.shutdown().await.unwrap();
    assert!(started.elapsed() <= Duration::from_secs(1), "{:?}", started.elapsed());
}
