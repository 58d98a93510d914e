//! `cargo run --release -p asyncio-http --example thread_per_request -- [--host 127.0.0.1] [--port 8080] [--workers 15]`:
//! a thread-per-request (WSGI-style) HTTP/1.1 server, the "before" of the
//! event-loop contrast. A fixed pool of worker threads each serves one
//! connection at a time; `GET /io` blocks its worker for 100 ms of
//! simulated I/O, so N concurrent clients need about
//! `ceil(N / workers) × 100 ms` where the event-loop server needs 100 ms.
//!
//! Routes: `GET /` (`Hello, world!`), `GET /io` (100 ms, then `done`),
//! anything else 404. Serves until Ctrl-C.

use asyncio_examples_support::args::{ServerArgs, Workers};
use asyncio_examples_support::threaded::{ThreadedServer, DEFAULT_WORKERS};

fn main() {
    let args = ServerArgs::from_env("thread_per_request", Workers::Default(DEFAULT_WORKERS));
    let addr = args.addr();
    let server = match ThreadedServer::start(addr, args.workers) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    let addr = server.local_addr();
    println!(
        "thread-per-request server on http://{addr} with {} worker threads (Ctrl-C to stop)",
        server.workers()
    );
    println!("  curl http://{addr}/      -> Hello, world!");
    println!("  curl http://{addr}/io    -> done, after 100 ms of blocking I/O");
    // Ctrl-C's default action ends the process; the workers need no
    // cleanup, so the main thread just waits.
    loop {
        std::thread::park();
    }
}
