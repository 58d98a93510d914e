//! `cargo run --release -p asyncio-http --example thread_per_request -- [--host 127.0.0.1] [--port 8080] [--workers 15]`:
//! a thread-per-request (WSGI-style) HTTP/1.1 server, the "before" of the
//! event-loop contrast. A fixed pool of worker threads each serves one
//! connection at a time; `GET /io` blocks its worker for 100 ms of
//! simulated I/O, so N concurrent clients need about
//! `ceil(N / workers) × 100 ms` where the event-loop server needs 100 ms.
//!
//! Routes: `GET /` (`Hello, world!`), `GET /io` (100 ms, then `done`),
//! anything else 404. Serves until Ctrl-C.

#[path = "common/threaded.rs"]
mod threaded;

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use threaded::{ThreadedServer, DEFAULT_WORKERS};

const USAGE: &str = "usage: thread_per_request [--host 127.0.0.1] [--port 8080] [--workers 15]";

fn main() -> ExitCode {
    let (addr, workers) = match parse_args(std::env::args().skip(1)) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let server = match ThreadedServer::start(addr, workers) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
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

/// `Ok(None)` for `--help`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<(SocketAddr, usize)>, String> {
    let mut host: IpAddr = [127, 0, 0, 1].into();
    let mut port: u16 = 8080;
    let mut workers = DEFAULT_WORKERS;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--host" => host = value("--host")?.parse().map_err(|e| format!("--host: {e}"))?,
            "--port" => port = value("--port")?.parse().map_err(|e| format!("--port: {e}"))?,
            "--workers" => {
                workers = value("--workers")?.parse().map_err(|e| format!("--workers: {e}"))?;
                if workers == 0 {
                    return Err("--workers must be at least 1".into());
                }
            }
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some((SocketAddr::new(host, port), workers)))
}
