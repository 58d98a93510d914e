//! Hello world: `cargo run --release -p asyncio-http --example hello -- [--port 8080] [--workers N]`
//! (N defaults to the number of cores: one event loop per core), then
//! `curl http://127.0.0.1:8080/`. Ctrl-C shuts it down gracefully.

use asyncio_http::{Request, Router, Server};

async fn hello(_req: Request) -> &'static str {
    "Hello, world!"
}

fn arg(name: &str) -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1)?.parse().ok()
}

#[asyncio::main]
async fn main() -> std::io::Result<()> {
    let port = arg("--port").unwrap_or(8080);
    let workers = arg("--workers").unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let server = Server::bind(format!("127.0.0.1:{port}"))
        .workers(workers)
        .start(|| Router::new().get("/", hello))
        .await?;
    println!(
        "listening on http://{} with {workers} worker loop(s)",
        server.local_addr()
    );
    server.wait().await
}
