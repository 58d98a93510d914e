//! Server-Sent Events clock: `cargo run --release -p asyncio-http --example sse_clock -- [--port 8080] [--workers 1] [--tls CERT.pem KEY.pem]`, then open
//! http://127.0.0.1:8080/ in a browser (https://localhost:8080/ with `--tls`,
//! over HTTP/2), or `curl -N http://127.0.0.1:8080/events`:
//! one event per second for every client, all on one thread; each
//! producer stops when its client leaves.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use asyncio_examples_support::args::{Options, ServerArgs, Workers};
use asyncio_http::{sse, Html, Request, Response, Router, Server};
use futures_lite::future::or;

const PAGE: &str = r#"<!doctype html>
<title>SSE clock</title>
<h1 id="t">waiting…</h1>
<script>
  new EventSource("/events").addEventListener("tick", e => {
    document.getElementById("t").textContent = e.data;
  });
</script>
"#;

async fn page(_req: Request) -> Html<&'static str> {
    Html(PAGE)
}

async fn events(req: Request) -> Response {
    let shutdown = req.shutdown_signal();
    sse::response(move |events| async move {
        events
            .send(sse::Event::comment("connected").retry(Duration::from_secs(2)))
            .await;
        let mut ticks = asyncio::interval(Duration::from_secs(1));
        for n in 0u64.. {
            // Each second, unless the server begins shutting down first.
            let ticked = or(
                async {
                    ticks.tick().await;
                    true
                },
                async {
                    shutdown.wait().await;
                    false
                },
            )
            .await;
            if !ticked {
                events.send(sse::Event::data("server shutting down").event("bye")).await;
                break;
            }
            let secs = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            let (h, m, s) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
            let event = sse::Event::data(format!("{h:02}:{m:02}:{s:02} UTC"))
                .event("tick")
                .id(n.to_string());
            events.send(event).await;
        }
        Ok::<(), std::io::Error>(())
    })
}

/// The clock's routes.
pub fn app() -> Router {
    Router::new().get("/", page).get("/events", events)
}

#[asyncio::main]
async fn main() -> std::io::Result<()> {
    let options = Options::new(Workers::Default(1));
    #[cfg(feature = "tls")]
    let options = options.tls();
    let args = ServerArgs::from_env("sse_clock", options);
    let server = Server::bind(args.addr().to_string())
        .workers(args.workers)
        .graceful_timeout(Duration::from_secs(2));
    #[cfg(feature = "tls")]
    let server = match &args.tls {
        Some(files) => server.tls_pem_files(&files.cert, &files.key)?,
        None => server,
    };
    let server = server.start(app).await?;
    println!("listening on {}/", args.url("http", server.local_addr()));
    server.wait().await
}
