//! Hello world: `cargo run --release -p asyncio-http --example hello -- [--port 8080] [--workers N]`
//! (N defaults to the number of cores: one event loop per core), then
//! `curl http://127.0.0.1:8080/`. Ctrl-C shuts it down gracefully.

use asyncio_examples_support::args::{ServerArgs, Workers};
use asyncio_http::{Request, Router, Server};

async fn hello(_req: Request) -> &'static str {
    "Hello, world!"
}

#[asyncio::main]
async fn main() -> std::io::Result<()> {
    let args = ServerArgs::from_env("hello", Workers::Cores);
    let workers = args.workers;
    let server = Server::bind(args.addr().to_string())
        .workers(workers)
        .start(|| Router::new().get("/", hello))
        .await?;
    println!(
        "listening on http://{} with {workers} worker loop(s)",
        server.local_addr()
    );
    server.wait().await
}
