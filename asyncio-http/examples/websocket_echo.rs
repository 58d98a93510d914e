//! WebSocket echo: `cargo run --release -p asyncio-http --example websocket_echo -- [--port 8080] [--workers 1] [--tls CERT.pem KEY.pem]`, then open
//! http://127.0.0.1:8080/ in a browser (or point any WebSocket client at
//! ws://127.0.0.1:8080/ws): every text or binary message comes back. With
//! `--tls` the same is served as https://localhost:8080/ and
//! wss://localhost:8080/ws.
//! This is also the server the Autobahn conformance run tests
//! (asyncio-http/tests/autobahn/run.sh).

use asyncio_examples_support::args::{Options, ServerArgs, Workers};
use asyncio_http::ws::{CloseCode, Message, WebSocket};
use asyncio_http::{Html, Request, Response, Router, Server};
use futures_lite::future::or;

const PAGE: &str = r#"<!doctype html>
<title>WebSocket echo</title>
<input id="m" value="hello"><button onclick="ws.send(m.value)">send</button>
<pre id="log"></pre>
<script>
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  ws.onmessage = e => { log.textContent += "echo: " + e.data + "\n"; };
</script>
"#;

async fn page(_req: Request) -> Html<&'static str> {
    Html(PAGE)
}

async fn echo(req: Request) -> Response {
    req.websocket(|mut ws: WebSocket| async move {
        let shutdown = ws.shutdown_signal();
        loop {
            let next = or(async { Some(ws.recv().await) }, async {
                shutdown.wait().await;
                None
            });
            match next.await {
                None => {
                    let _ = ws.close(CloseCode::Away, "server shutting down").await;
                    break;
                }
                Some(Some(Ok(msg @ (Message::Text(_) | Message::Binary(_))))) => {
                    if ws.send(msg).await.is_err() {
                        break;
                    }
                }
                Some(Some(Ok(_))) => {}
                Some(None) => break,
                Some(Some(Err(e))) => {
                    eprintln!("websocket_echo: {e}");
                    break;
                }
            }
        }
    })
}

#[asyncio::main]
async fn main() -> std::io::Result<()> {
    let options = Options::new(Workers::Default(1));
    #[cfg(feature = "tls")]
    let options = options.tls();
    let args = ServerArgs::from_env("websocket_echo", options);
    let server = Server::bind(args.addr().to_string())
        .workers(args.workers)
        .websocket_max_message(64 * 1024 * 1024);
    // HTTPS with the files given (the page over HTTP/2 or HTTP/1.1, the
    // WebSocket over HTTP/1.1).
    #[cfg(feature = "tls")]
    let server = match &args.tls {
        Some(files) => server.tls_pem_files(&files.cert, &files.key)?,
        None => server,
    };
    let server = server.start(|| Router::new().get("/", page).get("/ws", echo)).await?;
    let addr = server.local_addr();
    println!(
        "listening on {} (WebSocket: {}/ws)",
        args.url("http", addr),
        args.url("ws", addr)
    );
    server.wait().await
}
