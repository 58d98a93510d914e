//! Graceful shutdown: `cargo run --release -p asyncio-http --example graceful_shutdown`.
//!
//! Three clients are in the middle of 2-second requests when the server is
//! told to stop (here by a handle after 500 ms; `Ctrl-C` or `SIGTERM` do
//! the same for `serve`). The server stops accepting at once (a fourth
//! client is refused), lets the three finish with `200`, then runs its
//! `on_shutdown` hook and returns. A request still running after the
//! graceful timeout would be cancelled, its destructors run.

use std::time::{Duration, Instant};

use asyncio::net::TcpStream;
use asyncio_http::{Request, Router, Server};

async fn slow(_req: Request) -> &'static str {
    asyncio::sleep(Duration::from_secs(2)).await;
    "finished\n"
}

async fn get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<String> {
    let stream = TcpStream::connect(addr).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await?;
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf).await? {
            0 => break,
            n => out.extend_from_slice(&buf[..n]),
        }
    }
    Ok(String::from_utf8_lossy(&out)
        .lines()
        .next()
        .unwrap_or("(empty)")
        .to_owned())
}

#[asyncio::main]
async fn main() -> std::io::Result<()> {
    let server = Server::bind("127.0.0.1:0")
        .graceful_timeout(Duration::from_secs(10))
        .start(|| {
            Router::new()
                .get("/slow", slow)
                .on_startup(|| async { println!("[server] startup hook: ready") })
                .on_shutdown(|| async { println!("[server] shutdown hook: connections drained") })
        })
        .await?;
    let addr = server.local_addr();
    let start = Instant::now();
    let clients: Vec<_> = (1..=3)
        .map(|i| {
            asyncio::create_task(async move {
                let r = get(addr, "/slow").await;
                println!("[client {i}] {r:?} after {:.1} s", start.elapsed().as_secs_f64());
            })
        })
        .collect();

    asyncio::sleep(Duration::from_millis(500)).await;
    println!("[main] shutdown requested at {:.1} s", start.elapsed().as_secs_f64());
    let handle = server.handle();
    handle.shutdown();
    asyncio::sleep(Duration::from_millis(100)).await;
    println!(
        "[client 4] connecting after shutdown: {:?}",
        get(addr, "/slow").await.map_err(|e| e.kind())
    );

    server.wait().await?;
    println!("[main] server stopped at {:.1} s", start.elapsed().as_secs_f64());
    for c in clients {
        let _ = c.await;
    }
    Ok(())
}
