//! Streaming both ways: `cargo run --release -p asyncio-http --example streaming -- [--port 8080] [--workers 1]`, then
//! `curl -N http://127.0.0.1:8080/count` (ten lines, one every 200 ms, sent
//! as they are produced) and
//! `head -c 50000000 /dev/zero | curl -sT - http://127.0.0.1:8080/upload`
//! (the body is read chunk by chunk as it arrives, never held whole; the
//! server's 1 MiB body limit is raised to 64 MiB for this route's sake).

use std::time::Duration;

use asyncio_examples_support::args::{ServerArgs, Workers};
use asyncio_http::{Body, BodyError, Request, Router, Server};

/// A response written as it is produced (Starlette's StreamingResponse).
async fn count(_req: Request) -> Body {
    Body::writer(|out| async move {
        for i in 1..=10 {
            out.send(format!("line {i}\n")).await;
            asyncio::sleep(Duration::from_millis(200)).await;
        }
        Ok::<(), std::io::Error>(())
    })
}

/// A request body consumed as it arrives.
async fn upload(mut req: Request) -> Result<String, BodyError> {
    let (mut bytes, mut chunks) = (0usize, 0usize);
    while let Some(chunk) = req.body_mut().chunk().await? {
        bytes += chunk.len();
        chunks += 1;
    }
    Ok(format!("received {bytes} bytes in {chunks} chunks\n"))
}

#[asyncio::main]
async fn main() -> std::io::Result<()> {
    let args = ServerArgs::from_env("streaming", Workers::Default(1));
    let server = Server::bind(args.addr().to_string())
        .workers(args.workers)
        .max_body_bytes(64 * 1024 * 1024)
        .start(|| {
            Router::new()
                .get("/count", count)
                .put("/upload", upload)
                .post("/upload", upload)
        })
        .await?;
    println!("listening on http://{}", server.local_addr());
    server.wait().await
}
