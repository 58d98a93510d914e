//! The soak run's server (`benches/soak.sh` starts it): `cargo run --release
//! -p asyncio-benches --example soak_server -- --port 0 --workers 2`.
//! `/` answers "Hello, world!", `/ws` echoes WebSocket messages, `/stream`
//! is an event stream with one event a second until the client leaves.
//! Keep-alive connections may idle 75 s (nginx's default), so a client
//! asking every 10 s keeps its connection.

use std::time::Duration;

use asyncio_examples_support::args::{Options, ServerArgs, Workers};
use asyncio_http::ws::WebSocket;
use asyncio_http::{sse, Request, Response, Router, Server};

async fn hello(_req: Request) -> &'static str {
    "Hello, world!"
}

async fn echo(req: Request) -> Response {
    req.websocket(|mut ws: WebSocket| async move {
        while let Some(Ok(msg)) = ws.recv().await {
            if msg.is_close() || ws.send(msg).await.is_err() {
                break;
            }
        }
    })
}

async fn stream(_req: Request) -> Response {
    sse::response(|events| async move {
        for n in 0u64.. {
            asyncio::sleep(Duration::from_secs(1)).await;
            events.send(sse::Event::data(n.to_string())).await;
        }
        Ok::<(), std::io::Error>(())
    })
}

#[asyncio::main]
async fn main() -> std::io::Result<()> {
    asyncio_examples_support::raise_open_files_limit();
    let args = ServerArgs::from_env("soak_server", Options::new(Workers::Default(2)));
    let server = Server::bind(args.addr().to_string())
        .workers(args.workers)
        .max_connections(20_000)
        .keep_alive_timeout(Duration::from_secs(75))
        .http2_max_concurrent_streams(1000)
        .start(|| Router::new().get("/", hello).get("/ws", echo).get("/stream", stream))
        .await?;
    println!("listening on http://{}", server.local_addr());
    server.wait().await
}
