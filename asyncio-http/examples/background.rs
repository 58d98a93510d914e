//! Background work after the response: `cargo run --release -p asyncio-http --example background`.
//!
//! `POST /signup` answers at once and then "sends the welcome e-mail" (one
//! second of simulated I/O) as a background job, Starlette's
//! `BackgroundTasks`. The job belongs to the server's task group: the
//! example shuts the server down right after the response, and the
//! shutdown waits for the e-mail instead of losing it.

use std::time::{Duration, Instant};

use asyncio::net::TcpStream;
use asyncio_http::{Request, Router, Server, StatusCode};

async fn signup(req: Request) -> (StatusCode, &'static str) {
    let who = req
        .query()
        .unwrap_or("user=guest")
        .trim_start_matches("user=")
        .to_owned();
    req.background().add(async move {
        asyncio::sleep(Duration::from_secs(1)).await; // the mail server is slow
        println!("[background] welcome e-mail sent to {who}");
    });
    (StatusCode::CREATED, "signed up; a welcome e-mail is on its way\n")
}

#[asyncio::main]
async fn main() -> std::io::Result<()> {
    let server = Server::bind("127.0.0.1:0")
        .start(|| Router::new().post("/signup", signup))
        .await?;
    let addr = server.local_addr();
    println!("listening on http://{addr}");

    let start = Instant::now();
    let stream = TcpStream::connect(addr).await?;
    stream
        .write_all(b"POST /signup?user=ada HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .await?;
    let mut response = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        response.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&response);
    println!(
        "[client] {} after {:?}",
        text.lines().next().unwrap_or("no response"),
        start.elapsed()
    );

    println!("[main] shutting down: the server waits for its background job");
    server.shutdown().await?;
    println!("[main] shut down after {:?}", start.elapsed());
    Ok(())
}
