//! HTTPS and WSS: `Server::tls` serving requests, keep-alive, request
//! bodies, streamed responses and Server-Sent Events, WebSockets (also
//! when the first frame arrives with the upgrade request, and ending with
//! `close_notify`), ALPN, what a handler sees of the TLS session (and of a
//! client certificate), a certificate reload seen by every worker; the
//! handshake, header and keep-alive timeouts, the connection limit and
//! graceful shutdown over TLS (on the virtual clock, through in-process
//! connections); and interop with curl and `openssl s_client`.
//!
//! Certificates are made at run time (`tls_support`); no private key is
//! committed. The failures at the handshake and the file-descriptor check
//! are in `http_tls_failures.rs` (a process of their own).
#![cfg(feature = "tls")]

mod support;
mod tls_support;

use std::cell::RefCell;
use std::time::Duration;

use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::Message;
use asyncio::net::TcpStream;
use asyncio::tls::{ClientContext, ServerContext};
use asyncio_http::ws::WebSocket;
use asyncio_http::{sse, Request, Response, Router, Server};
use futures_lite::StreamExt;
use support::{counting, echo_body, get, start, ws_echo, Conn, Stream, Tls};
use tls_support::{Pki, TempDir};

async fn hello(_req: Request) -> &'static str {
    "Hello over TLS!"
}

/// Three events, then nothing until the client leaves: what arrives shows
/// that each event is flushed through the TLS session as it is sent.
async fn events(_req: Request) -> Response {
    sse::response(|tx| async move {
        for i in 0..3 {
            tx.send(sse::Event::data(format!("event {i}"))).await;
        }
        std::future::pending::<()>().await;
        Ok::<(), std::io::Error>(())
    })
}

async fn goodbye(req: Request) -> Response {
    req.websocket(|mut ws: WebSocket| async move {
        let _ = ws.send(Message::text("bye")).await;
        let _ = ws.close(CloseCode::Normal, "done").await;
    })
}

/// What the handler learns of the connection's TLS.
async fn whoami(req: Request) -> String {
    match req.tls_info() {
        None => "plain".to_owned(),
        Some(tls) => format!(
            "{} {} sni={} client-certs={}",
            tls.protocol_version(),
            String::from_utf8_lossy(tls.alpn_protocol().unwrap_or(b"-")),
            tls.server_name().unwrap_or("-"),
            tls.peer_certificates().len()
        ),
    }
}

fn app() -> Router {
    Router::new()
        .get("/", hello)
        .get("/whoami", whoami)
        .get("/bye", goodbye)
        .post("/echo", echo_body)
        .get("/count", counting)
        .get("/events", events)
        .get("/ws", ws_echo)
}

/// A CA, a server context for localhost (this handshake timeout) and a
/// client context that trusts the CA.
fn contexts(handshake_timeout: Duration) -> (Pki, ServerContext, ClientContext) {
    let pki = Pki::new("asyncio-http test CA");
    let server = Pki::server_ctx(&pki.localhost(), handshake_timeout);
    let client = pki.client_ctx();
    (pki, server, client)
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

#[asyncio::test]
async fn https_keep_alive_bodies_streams_and_alpn() {
    let (_pki, server_ctx, client_ctx) = contexts(Duration::from_secs(60));
    let server = start(|s| s.tls(server_ctx), app).await;
    let tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    let tls = client_ctx.connect("localhost", tcp).await.unwrap();
    let info = tls.info();
    // The client offers h2 first; the server speaks HTTP/1.1 only.
    assert_eq!(info.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(info.protocol_version(), "TLSv1.3");
    assert_eq!(info.peer_certificates().len(), 2);
    let mut c = Conn::over(Stream::TlsTcp(RefCell::new(tls)));

    // Keep-alive: several requests, one connection (and one handshake).
    for _ in 0..3 {
        c.send(GET).await.unwrap();
        let r = c.response().await.unwrap().unwrap();
        assert_eq!((r.status, r.text().as_str()), (200, "Hello over TLS!"));
        assert!(!r.closes());
    }
    // A body over many TLS records, both ways.
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let head = format!(
        "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    c.send(head.as_bytes()).await.unwrap();
    c.send(&body).await.unwrap();
    let r = c.response().await.unwrap().unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body == body, "the echoed body differs");
    // A streamed (chunked) response.
    c.send(b"GET /count HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let r = c.response().await.unwrap().unwrap();
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.text(), "0\n1\n2\n3\n4\n");
    // The last request closes: the server's end comes with `close_notify`,
    // so the client reads a clean end of stream, not a truncation.
    c.send(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let r = c.response().await.unwrap().unwrap();
    assert!(r.closes());
    let mut buf = [0u8; 16];
    assert_eq!(c.stream.read(&mut buf).await.unwrap(), 0);
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn server_sent_events_arrive_one_by_one_over_tls() {
    let (_pki, server_ctx, client_ctx) = contexts(Duration::from_secs(60));
    let server = start(|s| s.tls(server_ctx), app).await;
    let c = Conn::open(Tls(server.local_addr(), client_ctx)).await;
    c.send(b"GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    // The response never ends: what the client reads is what was flushed.
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let complete = asyncio::timeout(Duration::from_secs(30), async {
        while !String::from_utf8_lossy(&seen).contains("data: event 2\n\n") {
            let n = c.stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    let text = String::from_utf8_lossy(&seen);
    assert!(complete.is_ok(), "only got {text:?}");
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("content-type: text/event-stream\r\n"), "{text}");
    assert!(text.contains("data: event 0\n\n") && text.contains("data: event 1\n\n"));
    drop(c);
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn wss_echo() {
    let (_pki, server_ctx, client_ctx) = contexts(Duration::from_secs(60));
    let server = start(|s| s.tls(server_ctx), app).await;
    let tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    let tls = client_ctx.connect("localhost", tcp).await.unwrap();
    let (mut ws, resp) = async_tungstenite::client_async("wss://localhost/ws", tls)
        .await
        .unwrap();
    assert_eq!(resp.status(), 101);
    ws.send(Message::text("hello over wss")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hello over wss"));
    ws.send(Message::Ping(b"ping".to_vec().into())).await.unwrap();
    assert_eq!(
        ws.next().await.unwrap().unwrap(),
        Message::Pong(b"ping".to_vec().into())
    );
    // 1 MiB: many TLS records in one message.
    let big: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 253) as u8).collect();
    ws.send(Message::binary(big.clone())).await.unwrap();
    assert!(ws.next().await.unwrap().unwrap() == Message::binary(big));
    ws.close(None).await.unwrap();
    while let Some(m) = ws.next().await {
        if m.is_err() {
            break;
        }
    }
    server.shutdown().await.unwrap();
}

/// A masked client frame (RFC 6455 section 5.2): `opcode` (with FIN)
/// carrying `payload`.
fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

const UPGRADE: &str = "Host: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

#[asyncio::test]
async fn a_frame_sent_with_the_upgrade_request_is_read_through_tls() {
    // hyper reads the frame along with the request head (one TLS record);
    // the WebSocket must get it from what hyper read, not the socket.
    let (_pki, server_ctx, client_ctx) = contexts(Duration::from_secs(60));
    let server = start(|s| s.tls(server_ctx), app).await;
    let mut c = Conn::open(Tls(server.local_addr(), client_ctx)).await;
    let mut bytes = format!("GET /ws HTTP/1.1\r\n{UPGRADE}").into_bytes();
    bytes.extend(masked_frame(0x1, b"early"));
    c.send(&bytes).await.unwrap();
    let r = c.response().await.unwrap().unwrap();
    assert_eq!(r.status, 101);
    assert_eq!(r.header("sec-websocket-accept"), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    // The echo: an unmasked text frame.
    assert_eq!(c.read_bytes(7).await.unwrap(), b"\x81\x05early");
    drop(c);
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn a_websocket_that_ends_ends_its_tls_session_cleanly() {
    let (_pki, server_ctx, client_ctx) = contexts(Duration::from_secs(60));
    let server = start(|s| s.tls(server_ctx), app).await;
    let mut c = Conn::open(Tls(server.local_addr(), client_ctx)).await;
    c.send(format!("GET /bye HTTP/1.1\r\n{UPGRADE}").as_bytes())
        .await
        .unwrap();
    assert_eq!(c.response().await.unwrap().unwrap().status, 101);
    assert_eq!(c.read_bytes(5).await.unwrap(), b"\x81\x03bye");
    // The server's close (1000, "done"), answered.
    assert_eq!(c.read_bytes(8).await.unwrap(), b"\x88\x06\x03\xe8done");
    c.send(&masked_frame(0x8, b"\x03\xe8")).await.unwrap();
    // The handler has returned: the session ends with close_notify (a
    // clean end of stream), not a bare TCP close (a truncation).
    let mut buf = [0u8; 16];
    let end = asyncio::timeout(Duration::from_secs(30), c.stream.read(&mut buf)).await;
    assert_eq!(
        end.expect("the server closes").expect("a clean end, not a truncation"),
        0
    );
    drop(c);
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn handlers_see_the_tls_parameters_and_client_certificates() {
    let pki = Pki::new("mtls CA");
    let id = pki.localhost();
    // Client certificates verified when sent (CERT_OPTIONAL).
    let server_ctx = ServerContext::builder()
        .cert_pem(id.chain.as_bytes(), id.key.as_bytes())
        .unwrap()
        .alpn(["http/1.1"])
        .client_auth_optional_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    let server = start(|s| s.tls(server_ctx), app).await;
    let anonymous = get(Tls(server.local_addr(), pki.client_ctx()), "/whoami").await;
    assert_eq!(anonymous.text(), "TLSv1.3 http/1.1 sni=localhost client-certs=0");
    let alice = pki.client("alice");
    let with_cert = ClientContext::builder()
        .no_system_roots()
        .add_ca_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .client_cert_pem(alice.chain.as_bytes(), alice.key.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    let r = get(Tls(server.local_addr(), with_cert), "/whoami").await;
    // Alice's leaf and the CA she sent along; no ALPN offered.
    assert_eq!(r.text(), "TLSv1.3 - sni=localhost client-certs=2");
    server.shutdown().await.unwrap();
    // Over plain HTTP there is nothing to see.
    let plain = start(|s| s, app).await;
    assert_eq!(get(plain.local_addr(), "/whoami").await.text(), "plain");
    plain.shutdown().await.unwrap();
}

#[asyncio::test]
async fn every_worker_serves_the_reloaded_certificate() {
    let (pki, server_ctx, client_ctx) = contexts(Duration::from_secs(60));
    let server = start(|s| s.tls(server_ctx.clone()).workers(2), app).await;
    let leaf = || async {
        let tcp = TcpStream::connect(server.local_addr()).await.unwrap();
        let tls = client_ctx.connect("localhost", tcp).await.unwrap();
        tls.info().peer_certificates()[0].clone()
    };
    let old = leaf().await;
    let new = pki.localhost();
    server_ctx.reload_pem(new.chain.as_bytes(), new.key.as_bytes()).unwrap();
    // The kernel spreads connections over both workers' listeners: each
    // one hands out the new certificate.
    for _ in 0..8 {
        assert!(leaf().await != old, "a worker served the old certificate");
    }
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn a_context_offering_what_the_server_does_not_speak_is_refused_at_start() {
    let pki = Pki::new("alpn CA");
    let id = pki.localhost();
    let offering = |alpn: &[&str]| Pki::server_ctx_offering(&id, alpn);
    // `h2` with HTTP/2 turned off.
    let err = Server::bind("127.0.0.1:0")
        .handle_signals(false)
        .http2(false)
        .tls(offering(&["h2", "http/1.1"]))
        .start(app)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("\"h2\""), "{err}");
    // A protocol no server here speaks.
    let err = Server::bind("127.0.0.1:0")
        .handle_signals(false)
        .tls(offering(&["spdy/3", "http/1.1"]))
        .start(app)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("\"spdy/3\""), "{err}");
    // No ALPN at all is served (clients fall back to HTTP/1.1 unasked).
    let plain_alpn = offering(&[]);
    let server = start(|s| s.tls(plain_alpn), app).await;
    let tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    let tls = pki.client_ctx().connect("localhost", tcp).await.unwrap();
    assert_eq!(tls.info().alpn_protocol(), None);
    let mut c = Conn::over(Stream::TlsTcp(RefCell::new(tls)));
    c.send(GET).await.unwrap();
    assert_eq!(c.response().await.unwrap().unwrap().status, 200);
    server.shutdown().await.unwrap();
}

/// The first `ClientHello` of a client using `ctx` (a real one, so the
/// server answers it and then waits for the client's next flight).
fn client_hello(ctx: &ClientContext) -> Vec<u8> {
    use asyncio::tls::rustls;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(ctx.rustls_config(), name).unwrap();
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    out
}

// On the virtual clock, through in-process connections (TLS like the
// others): the timeouts are checked to the second, with no real waiting.

#[asyncio::test(virtual_time)]
async fn a_client_stalling_mid_handshake_is_closed_at_the_handshake_timeout() {
    let (_pki, server_ctx, client_ctx) = contexts(Duration::from_secs(10));
    let server = start(|s| s.tls(server_ctx), app).await;
    let mut stalled = Conn::open(&server).await;
    stalled.send(&client_hello(&client_ctx)).await.unwrap();
    assert!(!stalled.closed_within(Duration::from_millis(9_900)).await);
    assert!(stalled.closed_within(Duration::from_millis(200)).await);
    // And a client that says nothing at all.
    let mut silent = Conn::open(&server).await;
    assert!(!silent.closed_within(Duration::from_millis(9_900)).await);
    assert!(silent.closed_within(Duration::from_millis(200)).await);
    let r = get(Tls(&server, client_ctx), "/").await;
    assert_eq!(r.status, 200);
    server.shutdown().await.unwrap();
}

#[asyncio::test(virtual_time)]
async fn header_and_keep_alive_timeouts_count_from_the_handshake() {
    let (_pki, server_ctx, client_ctx) = contexts(Duration::from_secs(60));
    let server = start(
        |s| {
            s.tls(server_ctx)
                .keep_alive_timeout(Duration::from_secs(5))
                .header_read_timeout(Duration::from_secs(10))
        },
        app,
    )
    .await;
    // Idle after a response: closed (with close_notify) at 5 s.
    let mut idle = Conn::open(Tls(&server, client_ctx.clone())).await;
    idle.send(GET).await.unwrap();
    assert_eq!(idle.response().await.unwrap().unwrap().status, 200);
    assert!(!idle.closed_within(Duration::from_millis(4_900)).await);
    assert!(idle.closed_within(Duration::from_millis(200)).await);
    // Half a head after the handshake: closed at the header timeout.
    let mut slow = Conn::open(Tls(&server, client_ctx.clone())).await;
    slow.send(b"GET / HTTP/1.1\r\nHost: loc").await.unwrap();
    assert!(!slow.closed_within(Duration::from_millis(9_900)).await);
    assert!(slow.closed_within(Duration::from_millis(200)).await);
    assert_eq!(get(Tls(&server, client_ctx), "/").await.status, 200);
    server.shutdown().await.unwrap();
}

#[asyncio::test(virtual_time)]
async fn over_the_connection_limit_a_tls_client_is_answered_503() {
    let (_pki, server_ctx, client_ctx) = contexts(Duration::from_secs(60));
    let server = start(|s| s.tls(server_ctx).max_connections(1), app).await;
    let mut first = Conn::open(Tls(&server, client_ctx.clone())).await;
    first.send(GET).await.unwrap();
    assert_eq!(first.response().await.unwrap().unwrap().status, 200);
    // The first is still open (keep-alive): the second is over the limit,
    // and is told so over TLS.
    let mut second = Conn::open(Tls(&server, client_ctx.clone())).await;
    let r = second.response().await.unwrap().unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("1"));
    drop(first);
    drop(second);
    // Once the first has gone, a client is served again.
    let deadline = asyncio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let r = get(Tls(&server, client_ctx.clone()), "/").await;
        if r.status == 200 {
            break;
        }
        assert!(asyncio::time::Instant::now() < deadline, "never served again");
        asyncio::sleep(Duration::from_millis(10)).await;
    }
    server.shutdown().await.unwrap();
}

#[asyncio::test(virtual_time)]
async fn graceful_shutdown_closes_idle_and_handshaking_tls_connections() {
    let (_pki, server_ctx, client_ctx) = contexts(Duration::from_secs(60));
    let server = start(|s| s.tls(server_ctx).graceful_timeout(Duration::from_secs(3600)), app).await;
    let mut idle = Conn::open(Tls(&server, client_ctx.clone())).await;
    idle.send(GET).await.unwrap();
    assert_eq!(idle.response().await.unwrap().unwrap().status, 200);
    let mut handshaking = Conn::open(&server).await;
    handshaking.send(&client_hello(&client_ctx)).await.unwrap();
    let started = asyncio::time::Instant::now();
    let handle = server.handle();
    let stop = asyncio::create_task(server.shutdown());
    // Neither holds the shutdown up (its timeout is an hour).
    assert!(idle.closed_within(Duration::from_secs(1)).await);
    assert!(handshaking.closed_within(Duration::from_secs(1)).await);
    stop.await.unwrap().unwrap();
    assert!(handle.is_shutting_down());
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

/// Runs `program` with `args` on a thread; `None` (and a printed reason)
/// when it is not installed.
async fn run_tool(program: &'static str, args: Vec<String>, stdin: &'static [u8]) -> Option<std::process::Output> {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false);
    if !found {
        println!("skipped: {program} is not installed");
        return None;
    }
    let out = asyncio::to_thread(move || {
        use std::io::Write;
        let mut child = std::process::Command::new(program)
            .args(&args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().expect("wait")
    })
    .await
    .unwrap();
    Some(out)
}

#[asyncio::test]
async fn curl_and_openssl_s_client_interoperate() {
    let (pki, server_ctx, _) = contexts(Duration::from_secs(60));
    let dir = TempDir::new();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let ca = ca.to_str().unwrap().to_owned();
    let server = start(|s| s.tls(server_ctx), app).await;
    let port = server.local_addr().port();

    let curl = run_tool(
        "curl",
        vec![
            "--silent".into(),
            "--show-error".into(),
            "--cacert".into(),
            ca.clone(),
            "--write-out".into(),
            " %{http_code} HTTP/%{http_version}".into(),
            format!("https://localhost:{port}/"),
        ],
        b"",
    )
    .await;
    if let Some(out) = curl {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout, "Hello over TLS! 200 HTTP/1.1");
    }

    let s_client = run_tool(
        "openssl",
        vec![
            "s_client".into(),
            "-connect".into(),
            format!("127.0.0.1:{port}"),
            "-servername".into(),
            "localhost".into(),
            "-verify_hostname".into(),
            "localhost".into(),
            "-CAfile".into(),
            ca,
            "-alpn".into(),
            "http/1.1".into(),
            "-ign_eof".into(),
        ],
        b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    if let Some(out) = s_client {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("Verify return code: 0 (ok)"), "{stdout}");
        assert!(stdout.contains("ALPN protocol: http/1.1"), "{stdout}");
        assert!(stdout.contains("HTTP/1.1 200 OK"), "{stdout}");
        assert!(stdout.contains("Hello over TLS!"), "{stdout}");
    }
    server.shutdown().await.unwrap();
}
