//! The soak run (`bash benches/soak.sh`, not in CI): starts `soak_server
//! --workers 2`, then holds 5,000 keep-alive HTTP/1.1 connections (each
//! asks `/` every 10 s), 1,000 WebSockets (each sends a message every 10 s
//! and waits for its echo) and 1,000 concurrent HTTP/2 streams (10
//! connections of 100 `/stream` event streams, an event a second each)
//! for `--minutes` (default 10). Every minute it prints the minute's
//! request and echo latencies (p50, p99), the events received, and the
//! server's resident memory and open descriptors; at the end, the
//! descriptors once every client has gone, against the count before the
//! first one came. Any error counts and is printed.
//!
//! `soak [--minutes M] [--http N] [--ws N] [--h2 CONNECTIONS STREAMS]`.

use std::cell::{Cell, RefCell};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use asyncio::net::TcpStream;
use asyncio_http::client::{Client, Timeouts};
use asyncio_http::ws::Message;

#[derive(Default)]
struct Stats {
    http: RefCell<Vec<Duration>>,
    ws: RefCell<Vec<Duration>>,
    events: Cell<u64>,
    errors: Cell<u64>,
    last_error: RefCell<String>,
}

impl Stats {
    fn error(&self, what: impl std::fmt::Display) {
        self.errors.set(self.errors.get() + 1);
        *self.last_error.borrow_mut() = what.to_string();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

/// `(p50, p99)` in milliseconds, and how many, emptying the list.
fn drain(list: &RefCell<Vec<Duration>>) -> (f64, f64, usize) {
    let mut v = std::mem::take(&mut *list.borrow_mut());
    v.sort_unstable();
    (percentile(&v, 0.5), percentile(&v, 0.99), v.len())
}

fn proc_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn proc_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// A spread start, so the clients do not all ask at once.
fn jitter(i: usize, period: Duration) -> Duration {
    period.mul_f64((i as f64 * 0.618_034) % 1.0)
}

/// One keep-alive HTTP/1.1 connection asking `/` every 10 s.
async fn http_client(i: usize, addr: SocketAddr, stats: Rc<Stats>) {
    let stream = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => return stats.error(format!("http connect: {e}")),
    };
    asyncio::sleep(jitter(i, Duration::from_secs(10))).await;
    let mut buf = vec![0u8; 4096];
    loop {
        let start = Instant::now();
        if let Err(e) = stream.write_all(b"GET / HTTP/1.1\r\nHost: soak\r\n\r\n").await {
            return stats.error(format!("http write: {e}"));
        }
        let mut got = 0;
        loop {
            match stream.read(&mut buf[got..]).await {
                Ok(0) => return stats.error("http: the server closed a keep-alive connection"),
                Ok(n) => got += n,
                Err(e) => return stats.error(format!("http read: {e}")),
            }
            if buf[..got].ends_with(b"Hello, world!") {
                break;
            }
        }
        stats.http.borrow_mut().push(start.elapsed());
        asyncio::sleep(Duration::from_secs(10)).await;
    }
}

/// One WebSocket sending a message every 10 s and waiting for its echo.
async fn ws_client(i: usize, addr: SocketAddr, stats: Rc<Stats>) {
    let mut ws = match asyncio_http::client::ws::connect(&format!("ws://{addr}/ws")).await {
        Ok(ws) => ws,
        Err(e) => return stats.error(format!("ws connect: {e}")),
    };
    asyncio::sleep(jitter(i, Duration::from_secs(10))).await;
    loop {
        let start = Instant::now();
        if let Err(e) = ws.send(Message::text(format!("soak {i}"))).await {
            return stats.error(format!("ws send: {e}"));
        }
        match ws.recv().await {
            Some(Ok(m)) if m.is_text() => stats.ws.borrow_mut().push(start.elapsed()),
            other => return stats.error(format!("ws recv: {other:?}")),
        }
        asyncio::sleep(Duration::from_secs(10)).await;
    }
}

/// One HTTP/2 stream reading `/stream`'s events.
async fn h2_stream(client: Client, addr: SocketAddr, stats: Rc<Stats>) {
    let mut r = match client.get(&format!("http://{addr}/stream")).send().await {
        Ok(r) => r,
        Err(e) => return stats.error(format!("h2 request: {e}")),
    };
    loop {
        match r.chunk().await {
            Ok(Some(c)) => stats
                .events
                .set(stats.events.get() + c.split(|b| *b == b'\n').filter(|l| l.starts_with(b"data:")).count() as u64),
            Ok(None) => return stats.error("h2: the stream ended"),
            Err(e) => return stats.error(format!("h2 read: {e}")),
        }
    }
}

fn arg(args: &[String], name: &str) -> Option<usize> {
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1)?.parse().ok()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let minutes = arg(&args, "--minutes").unwrap_or(10);
    let n_http = arg(&args, "--http").unwrap_or(5000);
    let n_ws = arg(&args, "--ws").unwrap_or(1000);
    let h2_conns = arg(&args, "--h2").unwrap_or(10);
    let h2_per = args
        .iter()
        .position(|a| a == "--h2")
        .and_then(|i| args.get(i + 2)?.parse().ok())
        .unwrap_or(100);
    asyncio_examples_support::raise_open_files_limit();
    let server_bin = std::env::current_exe().unwrap().with_file_name("soak_server");
    let mut server = Command::new(&server_bin)
        .args(["--port", "0", "--workers", "2"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", server_bin.display()));
    let pid = server.id();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: SocketAddr = line.trim().rsplit("http://").next().unwrap().parse().unwrap();
    let baseline_fds = proc_fds(pid);
    println!(
        "soak: {n_http} HTTP/1.1 keep-alive connections, {n_ws} WebSockets, {} HTTP/2 streams ({h2_conns} x {h2_per}) against soak_server --workers 2 at {addr} (pid {pid}) for {minutes} min; server descriptors before: {baseline_fds}",
        h2_conns * h2_per
    );
    let stats = Rc::new(Stats::default());
    asyncio::run(async {
        let clients = asyncio::TaskGroup::new();
        let opening = Instant::now();
        for i in 0..n_http {
            let _ = clients.create_task(http_client(i, addr, stats.clone()));
            if i % 100 == 99 {
                asyncio::sleep(Duration::from_millis(5)).await;
            }
        }
        for i in 0..n_ws {
            let _ = clients.create_task(ws_client(i, addr, stats.clone()));
            if i % 100 == 99 {
                asyncio::sleep(Duration::from_millis(5)).await;
            }
        }
        for _ in 0..h2_conns {
            let client = Client::builder()
                .http2_prior_knowledge()
                .timeouts(Timeouts::none())
                .build()
                .unwrap();
            for _ in 0..h2_per {
                let _ = clients.create_task(h2_stream(client.clone(), addr, stats.clone()));
            }
        }
        asyncio::sleep(Duration::from_secs(2)).await;
        println!(
            "opened in {:.1} s; server descriptors now {}",
            opening.elapsed().as_secs_f64(),
            proc_fds(pid)
        );
        println!(
            "minute | HTTP req  p50 ms  p99 ms | WS echo  p50 ms  p99 ms | h2 events | server RSS MiB | fds | errors"
        );
        let mut rss = Vec::new();
        for minute in 1..=minutes {
            let events_before = stats.events.get();
            asyncio::sleep(Duration::from_secs(60)).await;
            let (h50, h99, hn) = drain(&stats.http);
            let (w50, w99, wn) = drain(&stats.ws);
            let kib = proc_rss_kib(pid);
            rss.push(kib);
            println!(
                "{minute:>6} | {hn:>8} {h50:>7.2} {h99:>7.2} | {wn:>7} {w50:>7.2} {w99:>7.2} | {:>9} | {:>14.1} | {:>4} | {}",
                stats.events.get() - events_before,
                kib as f64 / 1024.0,
                proc_fds(pid),
                stats.errors.get(),
            );
        }
        clients.cancel();
        let _ = clients.join().await;
        // The clients are gone: the server's descriptors come back down.
        let closing = Instant::now();
        while proc_fds(pid) > baseline_fds && closing.elapsed() < Duration::from_secs(30) {
            asyncio::sleep(Duration::from_millis(100)).await;
        }
        let after = &rss[1.min(rss.len() - 1)..];
        let (lo, hi) = (
            after.iter().min().copied().unwrap_or(0),
            after.iter().max().copied().unwrap_or(0),
        );
        println!(
            "after the clients left ({:.1} s): server descriptors {} (before: {baseline_fds}); RSS after minute 1: {:.1}-{:.1} MiB ({:+.1}%); errors: {}{}",
            closing.elapsed().as_secs_f64(),
            proc_fds(pid),
            lo as f64 / 1024.0,
            hi as f64 / 1024.0,
            (hi as f64 / lo.max(1) as f64 - 1.0) * 100.0,
            stats.errors.get(),
            if stats.errors.get() > 0 { format!(" (last: {})", stats.last_error.borrow()) } else { String::new() }
        );
    });
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    let _ = server.wait();
}
