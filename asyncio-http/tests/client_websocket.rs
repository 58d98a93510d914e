//! The WebSocket client (`client::ws`) against asyncio-http's own
//! WebSocket server: echo, pings, the close handshake both ways, size
//! limits, refused upgrades, subprotocols, `wss://` with a throwaway CA,
//! many clients on one loop, a connect dropped mid-handshake. A raw
//! tungstenite peer where a pong has to be seen, raw sockets for servers
//! that misbehave, and nginx for a server with no WebSocket at all.

mod client_support;
#[cfg(feature = "tls")]
mod tls_support;

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Mutex;
use std::time::Duration;

use asyncio::net::{TcpListener, TcpStream};
use asyncio::sync::Event;
use asyncio_examples_support::nginx::TempNginx;
use asyncio_http::client::ws::{self, CloseCode, Message, WebSocket, WebSocketBuilder, WsError};
use asyncio_http::client::{Client, Error, TimeoutKind};
use asyncio_http::{Request, Response, Router, RunningServer, Server, StatusCode};
use futures_lite::future::or;
use futures_lite::StreamExt;
#[cfg(feature = "tls")]
use tls_support::Pki;

/// The close frames the `/ws` handler was sent: (code, reason).
static CLOSES_SEEN: Mutex<Vec<(u16, String)>> = Mutex::new(Vec::new());

/// The close codes the `/flood` handler was sent.
static FLOOD_CLOSES: Mutex<Vec<u16>> = Mutex::new(Vec::new());

/// Echoes text and binary messages, records the close it is sent, and
/// reads on after it (which sends the answer to the close).
async fn echo(req: Request) -> Response {
    req.websocket(|mut ws: WebSocket| async move {
        while let Some(Ok(msg)) = ws.recv().await {
            if let Message::Close(frame) = &msg {
                let seen = frame
                    .as_ref()
                    .map_or((1005, String::new()), |f| (f.code.into(), f.reason.to_string()));
                CLOSES_SEEN.lock().unwrap().push(seen);
            } else if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                break;
            }
        }
    })
}

/// Says goodbye and closes with a code and a reason.
async fn goodbye(req: Request) -> Response {
    req.websocket(|mut ws: WebSocket| async move {
        let _ = ws.send(Message::text("bye")).await;
        let _ = ws.close(CloseCode::Policy, "that's all").await;
    })
}

/// Sends a 5,000-byte message, then records the close it gets.
async fn flood(req: Request) -> Response {
    req.websocket(|mut ws: WebSocket| async move {
        let _ = ws.send(Message::text("z".repeat(5000))).await;
        while let Some(Ok(msg)) = ws.recv().await {
            if let Message::Close(frame) = msg {
                FLOOD_CLOSES.lock().unwrap().push(frame.map_or(1005, |f| f.code.into()));
            }
        }
    })
}

/// Chooses `chat.v2` if offered, and says which protocol its side sees.
async fn chat_v2(req: Request) -> Response {
    let wanted = req.websocket_protocols().contains(&"chat.v2").then_some("chat.v2");
    req.websocket_with_protocol(wanted, |mut ws: WebSocket| async move {
        let seen = ws.protocol().unwrap_or("none").to_owned();
        let _ = ws.send(Message::text(seen)).await;
        let _ = ws.close(CloseCode::Normal, "").await;
    })
}

/// Sends the `Cookie` header it got as its first message; its `101` sets
/// a cookie of its own.
async fn cookies(req: Request) -> Response {
    let seen = req.header("cookie").unwrap_or("none").to_owned();
    let mut resp = req.websocket(|mut ws: WebSocket| async move {
        let _ = ws.send(Message::text(seen)).await;
        let _ = ws.close(CloseCode::Normal, "").await;
    });
    resp.headers_mut()
        .insert("set-cookie", http::HeaderValue::from_static("from_ws=1; Path=/"));
    resp
}

async fn login(_req: Request) -> Response {
    http::Response::builder()
        .header("set-cookie", "session=abc; Path=/")
        .body(asyncio_http::Body::from("in"))
        .unwrap()
}

async fn plain(_req: Request) -> &'static str {
    "not a WebSocket"
}

async fn bad(_req: Request) -> (StatusCode, &'static str) {
    (StatusCode::BAD_REQUEST, "no")
}

fn app() -> Router {
    Router::new()
        .get("/ws", echo)
        .get("/bye", goodbye)
        .get("/flood", flood)
        .get("/proto", chat_v2)
        .get("/plain", plain)
        .get("/bad", bad)
        .get("/cookies", cookies)
        .get("/login", login)
}

async fn start(config: impl FnOnce(Server) -> Server) -> RunningServer {
    config(Server::bind("127.0.0.1:0").handle_signals(false))
        .start(app)
        .await
        .expect("server starts")
}

fn ws_url(server: &RunningServer, path: &str) -> String {
    format!("ws://{}{path}", server.local_addr())
}

/// Reads on until the WebSocket ends (after the close handshake).
async fn until_closed(ws: &mut WebSocket) {
    while let Some(r) = ws.recv().await {
        if r.is_err() {
            break;
        }
    }
}

#[asyncio::test]
async fn echo_of_text_binary_and_large_messages() {
    let server = start(|s| s).await;
    let mut ws = ws::connect(&ws_url(&server, "/ws")).await.unwrap();
    assert_eq!(ws.protocol(), None);
    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("hello"));
    ws.send(Message::binary(vec![0u8, 1, 2, 255])).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(vec![0u8, 1, 2, 255]));
    // Large ones, both ways (the server's limit and the client's are 16 MiB).
    let text = "é".repeat(1 << 20);
    ws.send(Message::text(text.clone())).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text(text));
    let binary: Vec<u8> = (0..12 << 20).map(|i: u32| (i % 251) as u8).collect();
    ws.send(Message::binary(binary.clone())).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(binary));
    ws.close(CloseCode::Normal, "").await.unwrap();
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn pings_are_answered_both_ways() {
    // Our server answers the client's ping; the pong is absorbed by the
    // client's `recv`, which returns the next message.
    let server = start(|s| s).await;
    let mut ws = ws::connect(&ws_url(&server, "/ws")).await.unwrap();
    ws.send(Message::Ping(b"are you there".to_vec().into())).await.unwrap();
    ws.send(Message::text("after the ping")).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("after the ping"));
    ws.close(CloseCode::Normal, "").await.unwrap();
    server.shutdown().await.unwrap();

    // A raw tungstenite peer, to see both pongs: the one the client owes
    // for the peer's ping, the peer's for the client's.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = asyncio::create_task(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = async_tungstenite::accept_async(stream).await.unwrap();
        ws.send(Message::Ping(b"from the server".to_vec().into()))
            .await
            .unwrap();
        let (mut pong, mut ping) = (false, false);
        while !(pong && ping) {
            match ws.next().await.unwrap().unwrap() {
                Message::Pong(p) if &p[..] == b"from the server" => pong = true,
                Message::Ping(p) if &p[..] == b"from the client" => ping = true,
                other => panic!("unexpected {other:?}"),
            }
        }
        ws.send(Message::text("both seen")).await.unwrap();
        // Answers the client's close.
        while let Some(Ok(_)) = ws.next().await {}
    });
    let mut ws = ws::connect(&format!("ws://{addr}/")).await.unwrap();
    ws.send(Message::Ping(b"from the client".to_vec().into()))
        .await
        .unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("both seen"));
    ws.close(CloseCode::Normal, "").await.unwrap();
    peer.await.unwrap();
}

#[asyncio::test]
async fn the_client_closes_with_a_code_and_reason() {
    let server = start(|s| s).await;
    let ws = ws::connect(&ws_url(&server, "/ws")).await.unwrap();
    let (mut tx, mut rx) = ws.split();
    tx.close(CloseCode::Library(4000), "client done").await.unwrap();
    // The server's answer repeats the code and reason; then the end.
    match rx.recv().await.unwrap().unwrap() {
        Message::Close(Some(frame)) => {
            assert_eq!(frame.code, CloseCode::Library(4000));
            assert_eq!(frame.reason.as_str(), "client done");
        }
        other => panic!("expected the close's answer, got {other:?}"),
    }
    assert!(rx.recv().await.is_none_or(|r| r.is_err()));
    // The server saw it before it answered.
    assert!(CLOSES_SEEN.lock().unwrap().contains(&(4000, "client done".to_owned())));

    // `close` on the whole WebSocket waits for the answer itself.
    let mut ws = ws::connect(&ws_url(&server, "/ws")).await.unwrap();
    ws.close(CloseCode::Away, "leaving").await.unwrap();
    assert!(ws.recv().await.is_none_or(|r| r.is_err()));
    assert!(CLOSES_SEEN.lock().unwrap().contains(&(1001, "leaving".to_owned())));
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn the_server_closes_with_a_code_and_reason() {
    let server = start(|s| s).await;
    let mut ws = ws::connect(&ws_url(&server, "/bye")).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("bye"));
    match ws.recv().await.unwrap().unwrap() {
        Message::Close(Some(frame)) => {
            assert_eq!(frame.code, CloseCode::Policy);
            assert_eq!(frame.reason.as_str(), "that's all");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    // Reading on sends the answer; then the WebSocket ends.
    assert!(ws.recv().await.is_none_or(|r| r.is_err()));
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn a_message_over_the_clients_limit_closes_with_1009() {
    let server = start(|s| s).await;
    let mut ws = WebSocketBuilder::new(&ws_url(&server, "/flood"))
        .max_message_size(1000)
        .connect()
        .await
        .unwrap();
    match ws.recv().await {
        Some(Err(WsError::Capacity(_))) => {}
        other => panic!("expected a capacity error, got {other:?}"),
    }
    // The WebSocket is failed: nothing more is read from it.
    assert!(ws.recv().await.is_none());
    // The server's handler ends once it has read the 1009 (and answered):
    // the graceful shutdown waits for it. (The client's socket stays open
    // until then: closing it with unread bytes would reset the connection.)
    server.shutdown().await.unwrap();
    assert_eq!(*FLOOD_CLOSES.lock().unwrap(), [1009]);
    drop(ws);
}

#[asyncio::test]
async fn refused_upgrades_are_handshake_errors() {
    let server = start(|s| s).await;
    for (path, status) in [
        ("/plain", StatusCode::OK),
        ("/no-such-route", StatusCode::NOT_FOUND),
        ("/bad", StatusCode::BAD_REQUEST),
    ] {
        let err = ws::connect(&ws_url(&server, path)).await.unwrap_err();
        assert!(
            matches!(&err, Error::WebSocketHandshake { status: Some(s), url, .. } if *s == status && url.ends_with(path)),
            "{path}: {err:?}"
        );
        assert_eq!(err.status(), Some(status));
        assert!(err.to_string().contains("WebSocket handshake"), "{err}");
    }
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn subprotocols() {
    let server = start(|s| s).await;
    let mut ws = WebSocketBuilder::new(&ws_url(&server, "/proto"))
        .protocols(["chat.v1", "chat.v2"])
        .connect()
        .await
        .unwrap();
    assert_eq!(ws.protocol(), Some("chat.v2"));
    // The server's WebSocket says the same.
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("chat.v2"));
    until_closed(&mut ws).await;

    // Offered, none chosen: tungstenite fails the handshake.
    let err = WebSocketBuilder::new(&ws_url(&server, "/proto"))
        .protocols(["chat.v3"])
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::WebSocketHandshake {
                status: Some(StatusCode::SWITCHING_PROTOCOLS),
                ..
            }
        ),
        "{err:?}"
    );
    server.shutdown().await.unwrap();
}

/// A raw server: runs `serve` on each connection it accepts.
async fn raw_server<F, Fut>(serve: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Detached: they end with the test's loop.
    let _accepting = asyncio::create_task(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _serving = asyncio::create_task(serve(stream));
        }
    });
    addr
}

/// Reads a request head (up to the blank line).
async fn read_head(stream: &TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    head
}

#[asyncio::test]
async fn failures_are_their_own_errors() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = ws::connect(&format!("ws://127.0.0.1:{port}/")).await.unwrap_err();
    assert!(
        matches!(&err, Error::Connect { source, .. } if source.kind() == std::io::ErrorKind::ConnectionRefused),
        "{err:?}"
    );
    let err = ws::connect("ws://no-such-host.invalid/").await.unwrap_err();
    assert!(
        matches!(&err, Error::Dns { host, .. } if host == "no-such-host.invalid"),
        "{err:?}"
    );
    for url in ["not a url", "ftp://example.com/", "ws://", "/relative"] {
        let err = ws::connect(url).await.unwrap_err();
        assert!(matches!(err, Error::InvalidUrl(_)), "{url}: {err:?}");
    }
    let err = WebSocketBuilder::new("ws://127.0.0.1:1/")
        .header("bad header", "x")
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err:?}");

    // A server that says nothing, one that hangs up, one that talks
    // nonsense.
    let addr = raw_server(|stream| async move {
        let head = read_head(&stream).await;
        if head.starts_with(b"GET /silent") {
            std::future::pending::<()>().await;
        } else if head.starts_with(b"GET /nonsense") {
            let _ = stream.write_all(b"this is not HTTP\r\n\r\n").await;
        }
    })
    .await;
    let err = WebSocketBuilder::new(&format!("ws://{addr}/silent"))
        .handshake_timeout(Some(Duration::from_millis(150)))
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout(TimeoutKind::Read)), "{err:?}");
    let err = ws::connect(&format!("ws://{addr}/hang-up")).await.unwrap_err();
    assert!(matches!(err, Error::Closed(_)), "{err:?}");
    let err = ws::connect(&format!("ws://{addr}/nonsense")).await.unwrap_err();
    assert!(matches!(err, Error::WebSocketHandshake { status: None, .. }), "{err:?}");
}

#[asyncio::test]
async fn a_connect_dropped_mid_handshake_closes_its_socket() {
    let got_head = Rc::new(Event::new());
    let saw_end = Rc::new(Event::new());
    let (head_seen, end_seen) = (got_head.clone(), saw_end.clone());
    let addr = raw_server(move |stream| {
        let (got_head, saw_end) = (head_seen.clone(), end_seen.clone());
        async move {
            read_head(&stream).await;
            got_head.set();
            // Never answers; waits for the client to go away.
            let mut buf = [0u8; 64];
            while let Ok(1..) = stream.read(&mut buf).await {}
            saw_end.set();
        }
    })
    .await;
    let url = format!("ws://{addr}/");
    // The handshake's request is out; the connect is dropped waiting for
    // the answer.
    let finished = or(async { Some(ws::connect(&url).await) }, async {
        got_head.wait().await;
        None
    })
    .await;
    assert!(finished.is_none(), "{finished:?}");
    asyncio::timeout(Duration::from_secs(10), saw_end.wait())
        .await
        .expect("the dropped connect's socket was closed");
}

#[asyncio::test]
async fn headers_and_the_clients_settings() {
    // The handshake's request as a server sees it.
    let (tx, rx) = async_channel::bounded::<String>(1);
    let addr = raw_server(move |stream| {
        let tx = tx.clone();
        async move {
            let head = read_head(&stream).await;
            let _ = tx.send(String::from_utf8_lossy(&head).into_owned()).await;
        }
    })
    .await;
    let client = Client::builder()
        .base_url(&format!("http://{addr}/api"))
        .default_header("x-default", "from the client")
        .build()
        .unwrap();
    let err = client
        .websocket("chat?room=1#fragment")
        .header("origin", "http://example.com")
        .protocols(["a", "b"])
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Closed(_)), "{err:?}");
    let head = rx.recv().await.unwrap().to_ascii_lowercase();
    assert!(head.starts_with("get /api/chat?room=1 http/1.1\r\n"), "{head}");
    for line in [
        format!("host: {addr}\r\n"),
        "connection: upgrade\r\n".to_owned(),
        "upgrade: websocket\r\n".to_owned(),
        "sec-websocket-version: 13\r\n".to_owned(),
        "sec-websocket-protocol: a, b\r\n".to_owned(),
        "origin: http://example.com\r\n".to_owned(),
        "x-default: from the client\r\n".to_owned(),
        "user-agent: asyncio-http/".to_owned(),
    ] {
        assert!(head.contains(&line), "{line:?} in {head}");
    }
    assert!(head.contains("sec-websocket-key: "), "{head}");
}

#[cfg(feature = "tls")]
#[asyncio::test]
async fn wss_with_a_throwaway_ca() {
    let pki = Pki::new("wsclient");
    let server_ctx = Pki::server_ctx(&pki.localhost(), Duration::from_secs(10));
    let server = start(|s| s.tls(server_ctx)).await;
    let port = server.local_addr().port();
    let url = format!("wss://localhost:{port}/ws");
    // The context offers h2 and http/1.1 (as a browser's does); the
    // WebSocket's connection offers http/1.1 only.
    let mut ws = WebSocketBuilder::new(&url)
        .tls(pki.client_ctx())
        .connect()
        .await
        .unwrap();
    ws.send(Message::text("over TLS")).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("over TLS"));
    let big = vec![7u8; 3 << 20];
    ws.send(Message::binary(big.clone())).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(big));
    ws.close(CloseCode::Normal, "tls done").await.unwrap();

    // Through a client: its TLS context, a relative URL on its https
    // base.
    let client = Client::builder()
        .base_url(&format!("https://localhost:{port}/"))
        .tls(pki.client_ctx())
        .build()
        .unwrap();
    let mut ws = client.websocket("/ws").connect().await.unwrap();
    ws.send(Message::text("via the client")).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("via the client"));
    ws.close(CloseCode::Normal, "").await.unwrap();

    // A CA it does not trust.
    let other = Pki::new("other");
    let err = WebSocketBuilder::new(&url)
        .tls(other.client_ctx())
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Tls { .. }), "{err:?}");
    // Plain ws:// to the TLS port: the server drops what is not TLS.
    let err = ws::connect(&format!("ws://localhost:{port}/ws")).await.unwrap_err();
    assert!(
        matches!(err, Error::Closed(_) | Error::WebSocketHandshake { .. }),
        "{err:?}"
    );
    server.shutdown().await.unwrap();
}

#[asyncio::test]
async fn many_clients_on_one_loop() {
    const CLIENTS: usize = 200;
    const MESSAGES: usize = 20;
    let server = start(|s| s).await;
    let url = ws_url(&server, "/ws");
    let results = asyncio::gather((0..CLIENTS).map(|i| {
        let url = url.clone();
        async move {
            let mut ws = ws::connect(&url).await?;
            for j in 0..MESSAGES {
                let text = format!("client {i} message {j}");
                ws.send(Message::text(text.clone())).await.map_err(ws_error)?;
                let echo = ws.recv().await.expect("an echo").map_err(ws_error)?;
                assert_eq!(echo, Message::text(text));
            }
            ws.close(CloseCode::Normal, "").await.map_err(ws_error)?;
            Ok::<usize, Error>(MESSAGES)
        }
    }))
    .await;
    let echoed: usize = results.into_iter().map(Result::unwrap).sum();
    assert_eq!(echoed, CLIENTS * MESSAGES);
    server.shutdown().await.unwrap();
}

fn ws_error(e: WsError) -> Error {
    Error::Closed(e.to_string())
}

#[asyncio::test]
async fn nginx_has_no_websocket_and_says_so() {
    let nginx = TempNginx::shared();
    // nginx serves the page: a clean handshake error with its status.
    let url = nginx.http_url("/hello").replacen("http://", "ws://", 1);
    let err = ws::connect(&url).await.unwrap_err();
    assert!(
        matches!(
            &err,
            Error::WebSocketHandshake {
                status: Some(StatusCode::OK),
                ..
            }
        ),
        "{err:?}"
    );
    // Over TLS on the port that prefers h2: the context offers h2, the
    // WebSocket's connection only http/1.1, so nginx answers HTTP/1.1.
    #[cfg(feature = "tls")]
    wss_to_nginx(nginx).await;
}

#[cfg(feature = "tls")]
async fn wss_to_nginx(nginx: &TempNginx) {
    let ctx = asyncio::tls::ClientContext::builder()
        .no_system_roots()
        .add_ca_pem(nginx.ca_pem().as_bytes())
        .unwrap()
        .alpn(["h2", "http/1.1"])
        .build()
        .unwrap();
    let err = WebSocketBuilder::new(&nginx.https_url("/hello"))
        .tls(ctx)
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::WebSocketHandshake {
                status: Some(StatusCode::OK),
                ..
            }
        ),
        "{err:?}"
    );
}

/// Through a client with a cookie jar: the handshake carries the jar's
/// cookies for its URL, and the cookies its `101` sets are kept; a
/// `Cookie` header of the builder's own wins.
#[asyncio::test]
async fn the_clients_cookie_jar_goes_with_the_handshake() {
    let server = start(|s| s).await;
    let base = format!("http://{}", server.local_addr());
    let client = Client::builder().cookie_store(true).build().unwrap();
    let first = |mut ws: WebSocket| async move {
        let text = ws.recv().await.unwrap().unwrap();
        until_closed(&mut ws).await;
        text
    };
    let ws = client.websocket(&format!("{base}/cookies")).connect().await.unwrap();
    assert_eq!(first(ws).await, Message::text("none"));
    assert_eq!(
        client.cookies_for(&format!("{base}/")),
        [("from_ws".to_owned(), "1".to_owned())]
    );
    client.get(&format!("{base}/login")).send().await.unwrap();
    let ws = client.websocket(&format!("{base}/cookies")).connect().await.unwrap();
    let Message::Text(seen) = first(ws).await else {
        panic!("not text");
    };
    let mut seen: Vec<&str> = seen.split("; ").collect();
    seen.sort();
    assert_eq!(seen, ["from_ws=1", "session=abc"]);
    let ws = client
        .websocket(&format!("{base}/cookies"))
        .header("cookie", "mine=2")
        .connect()
        .await
        .unwrap();
    assert_eq!(first(ws).await, Message::text("mine=2"));
    // The standalone builder has no jar.
    let ws = WebSocketBuilder::new(&format!("{base}/cookies"))
        .connect()
        .await
        .unwrap();
    assert_eq!(first(ws).await, Message::text("none"));
    // The jar's cookies for a ws:// URL are those of its http:// twin.
    let ws_base = format!("ws://{}", server.local_addr());
    assert_eq!(
        client.cookies_for(&format!("{ws_base}/x")),
        client.cookies_for(&format!("{base}/x"))
    );
    // The jar's cookies replace a client's default `Cookie` header (as on
    // its requests); the builder's own wins over both (above).
    let with_default = Client::builder()
        .cookie_store(true)
        .default_header("cookie", "default=1")
        .build()
        .unwrap();
    with_default.get(&format!("{base}/login")).send().await.unwrap();
    let ws = with_default
        .websocket(&format!("{ws_base}/cookies"))
        .connect()
        .await
        .unwrap();
    assert_eq!(first(ws).await, Message::text("session=abc"));
    server.shutdown().await.unwrap();
}

/// Through a client with a proxy: the WebSocket goes through a `CONNECT`
/// tunnel (`ws://` too), with the proxy's credentials.
#[asyncio::test]
async fn the_clients_proxy_carries_the_websocket() {
    let server = start(|s| s).await;
    let (proxy, log) = client_support::forward_proxy(false).await;
    let client = Client::builder()
        .proxy(&format!("http://ada:secret@{proxy}"))
        .build()
        .unwrap();
    let mut ws = client.websocket(&ws_url(&server, "/ws")).connect().await.unwrap();
    ws.send(Message::text("tunnelled")).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("tunnelled"));
    ws.close(CloseCode::Normal, "").await.unwrap();
    assert_eq!(
        log.borrow().as_slice(),
        [format!(
            "CONNECT {} HTTP/1.1 [Basic YWRhOnNlY3JldA==]",
            server.local_addr()
        )]
    );
    // A proxy that refuses the tunnel.
    let (refusing, _) = client_support::forward_proxy(true).await;
    let client = Client::builder().proxy(&format!("http://{refusing}")).build().unwrap();
    let err = client.websocket(&ws_url(&server, "/ws")).connect().await.unwrap_err();
    assert!(matches!(err, Error::Proxy(_)), "{err:?}");
    server.shutdown().await.unwrap();
}
