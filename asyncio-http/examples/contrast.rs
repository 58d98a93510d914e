//! The seeds' contrast, measured: `cargo run --release -p asyncio-http --example contrast`.
//!
//! N concurrent clients (15, 100, 1,000), each requesting an endpoint that
//! waits 100 ms of simulated I/O, against two servers of the same shape:
//! the event-loop server (this crate, ONE worker loop on one thread, where
//! the wait is `asyncio::sleep`) and a thread-per-request server with 15
//! worker threads (where the wait is `std::thread::sleep`, as a WSGI worker
//! blocks in its database call). The event loop answers every client in
//! about 100 ms; the thread pool needs about ceil(N / 15) × 100 ms.
//! The load comes from a third thread with its own loop.
//!
//! At 1,000 clients the event loop's time is more than the 100 ms of I/O:
//! 2,000 sockets are opened, served and closed on this machine's two cores
//! (the load generator on one, the server on the other), which costs about
//! 100-150 µs of CPU per connection in all; the thread pool's time is the
//! queueing the table shows.

use std::net::SocketAddr;
use std::time::Duration;

use asyncio_examples_support::load::{hit_all, LoadResult};
use asyncio_examples_support::threaded::ThreadedServer;
use asyncio_http::{Request, Router, Server};

const IO: Duration = Duration::from_millis(100);
const THREADS: usize = 15;

async fn io_bound(_req: Request) -> &'static str {
    asyncio::sleep(IO).await; // the database call, awaited: the loop serves others meanwhile
    "done"
}

/// Runs the load on its own thread and loop, so the server's loop only
/// serves.
async fn load(addr: SocketAddr, clients: usize) -> LoadResult {
    asyncio::to_thread(move || asyncio::run(hit_all(addr, "/io", clients)))
        .await
        .expect("the load thread panicked")
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

#[asyncio::main]
async fn main() -> std::io::Result<()> {
    let server = Server::bind("127.0.0.1:0")
        .workers(1)
        .start(|| Router::new().get("/io", io_bound))
        .await?;
    let threaded = ThreadedServer::start("127.0.0.1:0".parse().expect("address"), THREADS)?;
    println!(
        "event loop: 1 thread at {}; thread-per-request: {THREADS} threads at {}",
        server.local_addr(),
        threaded.local_addr()
    );
    println!("every request waits {} of simulated I/O\n", ms(IO));
    println!("| clients | event loop (1 thread) | thread-per-request ({THREADS} threads) | expected for threads: ceil(N/{THREADS}) x 100 ms | ratio |");
    println!("|---:|---:|---:|---:|---:|");
    for clients in [15, 100, 1000] {
        // Warm up once at this size: the first run in a process pays for
        // growing its descriptor table and the kernel's socket caches (both
        // servers share the process, so this warms both).
        load(server.local_addr(), clients).await;
        let ev = load(server.local_addr(), clients).await;
        let th = load(threaded.local_addr(), clients).await;
        let expected = IO * clients.div_ceil(THREADS) as u32;
        for (name, r) in [("event loop", &ev), ("threads", &th)] {
            if r.ok != clients {
                println!(
                    "  ({name}: only {} of {clients} answered 200; first error: {:?})",
                    r.ok, r.first_error
                );
            }
        }
        println!(
            "| {clients} | {} | {} | {} | {:.1}x |",
            ms(ev.wall),
            ms(th.wall),
            ms(expected),
            th.wall.as_secs_f64() / ev.wall.as_secs_f64()
        );
    }
    threaded.shutdown();
    server.handle().shutdown();
    server.wait().await
}
