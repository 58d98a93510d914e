//! Per-message deflate (RFC 7692) between asyncio-http's WebSocket server
//! and client, and against raw peers: negotiation (and declining it),
//! messages large and many with the compressor's history kept, a
//! compressed message inflating past the limit (1009), invalid compressed
//! data (1007), and a server whose first frame arrives with its `101`.
//! The Autobahn run in CI (12.* and 13.*) covers the offers and windows of
//! other peers.

mod support;

use std::io::{Read, Write};

use asyncio_http::client::ws::{self, CloseCode, Message, WebSocket, WebSocketBuilder, WsDeflate};
use asyncio_http::{Request, Response, Router, Server};
use support::start;

/// Echoes text and binary messages; answers "compressed" or "plain" to a
/// message "mode?".
async fn echo(req: Request) -> Response {
    req.websocket(|mut ws: WebSocket| async move {
        while let Some(Ok(msg)) = ws.recv().await {
            let reply = if msg == Message::text("mode?") {
                Message::text(if ws.is_compressed() { "compressed" } else { "plain" })
            } else if msg.is_text() || msg.is_binary() {
                msg
            } else {
                break;
            };
            if ws.send(reply).await.is_err() {
                break;
            }
        }
    })
}

fn app() -> Router {
    Router::new().get("/ws", echo)
}

async fn mode(ws: &mut WebSocket) -> String {
    ws.send(Message::text("mode?")).await.unwrap();
    ws.recv().await.unwrap().unwrap().into_text().unwrap().to_string()
}

/// Text that compresses the way real messages do: repetitive, not uniform.
fn json_like(i: usize) -> String {
    format!(
        "{{\"event\":\"tick\",\"seq\":{i},\"user\":\"user-{}\",\"payload\":\"{}\"}}",
        i % 7,
        "ab".repeat(i % 50)
    )
}

#[asyncio::test]
async fn both_ends_agree_on_deflate_and_echo_through_it() {
    let server = start(|s| s, app).await;
    let url = format!("ws://{}/ws", server.local_addr());
    let mut ws = ws::connect(&url).await.unwrap();
    assert!(ws.is_compressed());
    assert_eq!(mode(&mut ws).await, "compressed");
    // Many messages: each may refer back to the earlier ones.
    for i in 0..300 {
        let m = Message::text(json_like(i));
        ws.send(m.clone()).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), m, "message {i}");
    }
    // Large ones, text and binary, compressible and not.
    let text = (0..40_000).map(json_like).collect::<String>();
    assert!(text.len() > 2 << 20);
    let noise: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for m in [
        Message::text(text),
        Message::binary(noise),
        Message::text(""),
        Message::binary(vec![]),
    ] {
        ws.send(m.clone()).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), m);
    }
    ws.close(CloseCode::Normal, "done").await.unwrap();
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn no_context_takeover_and_small_windows_either_way() {
    let server = start(
        |s| s.websocket_deflate(WsDeflate::default().no_context_takeover(true).window_bits(9)),
        app,
    )
    .await;
    let url = format!("ws://{}/ws", server.local_addr());
    for cfg in [
        WsDeflate::default(),
        WsDeflate::default()
            .peer_no_context_takeover(true)
            .no_context_takeover(true),
        WsDeflate::default().window_bits(9).peer_window_bits(15).level(9),
        WsDeflate::default().level(0),
    ] {
        let mut ws = WebSocketBuilder::new(&url)
            .deflate(cfg.clone())
            .connect()
            .await
            .unwrap();
        assert!(ws.is_compressed(), "{cfg:?}");
        for i in (0..2000).step_by(97) {
            let m = Message::text(json_like(i).repeat(1 + i / 10));
            ws.send(m.clone()).await.unwrap();
            assert_eq!(ws.recv().await.unwrap().unwrap(), m, "{cfg:?} message {i}");
        }
        ws.close(CloseCode::Normal, "").await.unwrap();
    }
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn either_end_can_decline() {
    let server = start(|s| s.websocket_deflate(WsDeflate::disabled()), app).await;
    let mut ws = ws::connect(&format!("ws://{}/ws", server.local_addr())).await.unwrap();
    assert!(!ws.is_compressed());
    assert_eq!(mode(&mut ws).await, "plain");
    ws.close(CloseCode::Normal, "").await.unwrap();
    server.shutdown().await.unwrap();

    let server = start(|s| s, app).await;
    let url = format!("ws://{}/ws", server.local_addr());
    let mut ws = WebSocketBuilder::new(&url)
        .deflate(WsDeflate::disabled())
        .connect()
        .await
        .unwrap();
    assert!(!ws.is_compressed());
    assert_eq!(mode(&mut ws).await, "plain");
    ws.close(CloseCode::Normal, "").await.unwrap();
    server.shutdown().await.unwrap();
}

/// The close code the `/limited` handler's `recv` failed with.
async fn limited(req: Request) -> Response {
    req.websocket(|mut ws: WebSocket| async move {
        while let Some(Ok(msg)) = ws.recv().await {
            if ws.send(msg).await.is_err() {
                break;
            }
        }
    })
}

#[asyncio::test]
async fn a_message_inflating_past_the_limit_closes_with_1009() {
    let server = start(
        |s: Server| s.websocket_max_message(64 * 1024),
        || Router::new().get("/ws", limited),
    )
    .await;
    let mut ws = ws::connect(&format!("ws://{}/ws", server.local_addr())).await.unwrap();
    assert!(ws.is_compressed());
    // Just under the limit is fine.
    let ok = Message::binary(vec![7u8; 64 * 1024]);
    ws.send(ok.clone()).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), ok);
    // 16 MiB of zeros deflate to a few KiB: the server must stop inflating
    // at its limit and close with 1009.
    ws.send(Message::binary(vec![0u8; 16 << 20])).await.unwrap();
    match ws.recv().await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Size),
        other => panic!("expected a close with 1009, got {other:?}"),
    }
    server.shutdown().await.unwrap();
}

/// A raw client's handshake offering permessage-deflate; returns the
/// response head.
fn raw_handshake(stream: &mut std::net::TcpStream, offer: &str) -> String {
    write!(
        stream,
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Extensions: {offer}\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

fn masked_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let key = [9u8, 8, 7, 6];
    let mut f = vec![first, 0x80 | payload.len() as u8];
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

#[asyncio::test]
async fn a_raw_peer_gets_the_rfc_example_and_invalid_data_gets_1007() {
    let server = start(|s| s, app).await;
    let addr = server.local_addr();
    let check = asyncio::to_thread(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let head = raw_handshake(&mut s, "permessage-deflate; server_no_context_takeover");
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("sec-websocket-extensions: permessage-deflate; server_no_context_takeover\r\n"),
            "{head}"
        );
        // RFC 7692 section 7.2.3.1's "Hello", compressed.
        s.write_all(&masked_frame(0xc1, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]))
            .unwrap();
        let mut reply = [0u8; 2];
        s.read_exact(&mut reply).unwrap();
        assert_eq!(reply[0], 0xc1, "compressed text, final");
        let mut body = vec![0u8; usize::from(reply[1])];
        s.read_exact(&mut body).unwrap();
        // With no context takeover, the same five bytes deflate the same.
        assert_eq!(body, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        // Not DEFLATE at all (a reserved block type).
        s.write_all(&masked_frame(0xc1, &[0xff, 0xff, 0xff])).unwrap();
        let mut close = [0u8; 4];
        s.read_exact(&mut close).unwrap();
        assert_eq!(close[0], 0x88);
        assert_eq!(u16::from_be_bytes([close[2], close[3]]), 1007);
    });
    check.await.unwrap();
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn a_server_that_declines_a_bad_offer_runs_uncompressed() {
    let server = start(|s| s, app).await;
    let addr = server.local_addr();
    asyncio::to_thread(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let head = raw_handshake(&mut s, "permessage-deflate; server_max_window_bits=7, x-unknown");
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        assert!(
            !head.to_ascii_lowercase().contains("sec-websocket-extensions"),
            "{head}"
        );
        // A frame with RSV1 is then a protocol error: 1002.
        s.write_all(&masked_frame(0xc1, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]))
            .unwrap();
        let mut close = [0u8; 4];
        s.read_exact(&mut close).unwrap();
        assert_eq!(close[0], 0x88);
        assert_eq!(u16::from_be_bytes([close[2], close[3]]), 1002);
    })
    .await
    .unwrap();
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn a_first_frame_in_the_same_packet_as_the_101_is_inflated() {
    // A raw server that accepts deflate and sends a compressed "Hello" in
    // the same write as its 101.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = asyncio::to_thread(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            s.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        let key = head
            .lines()
            .find_map(|l| {
                l.strip_prefix("Sec-WebSocket-Key: ")
                    .or_else(|| l.strip_prefix("sec-websocket-key: "))
            })
            .unwrap()
            .trim()
            .to_owned();
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        let mut out = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
        )
        .into_bytes();
        out.extend_from_slice(&[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        s.write_all(&out).unwrap();
        // Wait for the client's close, then answer it.
        let mut buf = [0u8; 64];
        let _ = s.read(&mut buf);
        let _ = s.write_all(&[0x88, 0x02, 0x03, 0xe8]);
    });
    let mut ws = ws::connect(&format!("ws://{addr}/")).await.unwrap();
    assert!(ws.is_compressed());
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("Hello"));
    ws.close(CloseCode::Normal, "").await.unwrap();
    peer.await.unwrap();
}
