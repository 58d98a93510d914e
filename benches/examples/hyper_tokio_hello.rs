//! Hello-world HTTP/1.1 server on hyper and tokio: the peer of
//! `asyncio-http`'s `hello` example in `benches/http/run.sh` (wrk, keep-alive,
//! 100 connections).
//!
//! ```sh
//! cargo run --release -p asyncio-benches --example hyper_tokio_hello -- --port 8080 --workers 2
//! cargo run --release -p asyncio-benches --example hyper_tokio_hello -- --port 8080 --workers 2 --flavor mt
//! cargo run --release -p asyncio-benches --example hyper_tokio_hello -- --port 8443 --tls cert.pem key.pem
//! ```
//!
//! Every request gets `200 OK`, `content-type: text/plain; charset=utf-8`
//! (what asyncio-http sends for a `&str` body, so both servers put the same
//! bytes on the wire) and the body `Hello, world!`; hyper adds `date` and
//! `content-length` and nothing else.
//! Each connection is served by `hyper::server::conn::http1::Builder`
//! (keep-alive on, the default), `TCP_NODELAY` set (asyncio's transports set
//! it too), no header-read timeout (it would need a hyper timer). With
//! `--h2c`, by `hyper::server::conn::http2::Builder` instead (HTTP/2 with
//! prior knowledge, hyper-util's `TokioExecutor` for the streams; with
//! `--tls` too, HTTP/2 over TLS with `h2` offered through ALPN).
//!
//! Flavors:
//! - `--flavor percore` (the default): "one loop per core", the shape of
//!   `asyncio-http`'s server: N OS threads, each with its own tokio
//!   current-thread runtime and its own `SO_REUSEPORT` listener on the same
//!   port (the kernel spreads incoming connections over the N listeners);
//!   a connection stays on the thread that accepted it.
//! - `--flavor mt`: one tokio multi-thread runtime with N worker threads and
//!   a single listener, whose accept loop spawns a task per connection (the
//!   usual hyper-on-tokio server; tokio's work stealing moves tasks).
//!
//! With `--tls CERT KEY` (PEM files: the chain and its key) it serves HTTPS:
//! each accepted connection goes through tokio-rustls's `TlsAcceptor`
//! (rustls 0.23, ring provider, rustls's defaults: TLS 1.2 and 1.3, no
//! ALPN) before hyper sees it, the peer of asyncio-http's `hello --tls`.
//!
//! Listeners are bound with `SO_REUSEADDR` and a backlog of 1024 (asyncio's
//! default). Prints `listening on 127.0.0.1:P (...)` on stdout once every
//! listener is bound; runs until killed.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::mpsc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

const BODY: &[u8] = b"Hello, world!";

fn usage() -> ! {
    eprintln!(
        "usage: hyper_tokio_hello --port P [--workers N] [--flavor percore|mt] [--host ADDR] [--tls CERT KEY] [--h2c]"
    );
    std::process::exit(2);
}

#[derive(Clone, Copy, PartialEq)]
enum Flavor {
    PerCore,
    Mt,
}

fn main() {
    let mut port: Option<u16> = None;
    let mut workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut flavor = Flavor::PerCore;
    let mut host = String::from("127.0.0.1");
    let mut tls: Option<(String, String)> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--port" => port = Some(value().parse().unwrap_or_else(|_| usage())),
            "--workers" => workers = value().parse().unwrap_or_else(|_| usage()),
            "--host" => host = value(),
            "--tls" => {
                let cert = value();
                tls = Some((cert, value()));
            }
            "--h2c" => H2C.store(true, std::sync::atomic::Ordering::Relaxed),
            "--flavor" => {
                flavor = match value().as_str() {
                    "percore" | "per-core" | "ct" => Flavor::PerCore,
                    "mt" => Flavor::Mt,
                    _ => usage(),
                }
            }
            "-h" | "--help" => usage(),
            _ => usage(),
        }
    }
    let port = port.unwrap_or_else(|| usage());
    if workers == 0 {
        usage();
    }
    let addr: SocketAddr = format!("{host}:{port}").parse().unwrap_or_else(|_| usage());

    let tls = tls.map(|(cert, key)| {
        let read = |path: &str| std::fs::read(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
        let config = asyncio_benches::tls::server_config(&read(&cert), &read(&key))
            .unwrap_or_else(|e| panic!("--tls {cert} {key}: {e}"));
        if H2C.load(std::sync::atomic::Ordering::Relaxed) {
            // `--tls --h2c`: HTTP/2 over TLS, offered through ALPN.
            let mut config = std::sync::Arc::unwrap_or_clone(config);
            config.alpn_protocols = vec![b"h2".to_vec()];
            return TlsAcceptor::from(std::sync::Arc::new(config));
        }
        TlsAcceptor::from(config)
    });
    match flavor {
        Flavor::PerCore => per_core(addr, workers, tls),
        Flavor::Mt => multi_thread(addr, workers, tls),
    }
}

/// A listening socket: `SO_REUSEADDR`, `SO_REUSEPORT` if asked, nonblocking,
/// backlog 1024.
fn bind(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

fn per_core(addr: SocketAddr, workers: usize, tls: Option<TlsAcceptor>) {
    // Bind every listener before serving on any (and before announcing), so
    // the kernel's SO_REUSEPORT group is complete when the first connection
    // arrives: otherwise early connections all hash to the first listener.
    let listeners: Vec<std::net::TcpListener> = (0..workers)
        .map(|_| bind(addr, true).unwrap_or_else(|e| panic!("bind {addr}: {e}")))
        .collect();
    let (ready_tx, ready_rx) = mpsc::channel();
    let threads: Vec<_> = listeners
        .into_iter()
        .enumerate()
        .map(|(i, std_listener)| {
            let (ready_tx, tls) = (ready_tx.clone(), tls.clone());
            std::thread::Builder::new()
                .name(format!("hello-worker-{i}"))
                .spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("tokio current-thread runtime");
                    rt.block_on(async move {
                        let listener = TcpListener::from_std(std_listener).expect("register listener");
                        ready_tx.send(()).unwrap();
                        drop(ready_tx);
                        accept_loop(listener, tls).await
                    });
                })
                .expect("spawn worker thread")
        })
        .collect();
    drop(ready_tx);
    for _ in 0..workers {
        ready_rx.recv().expect("a worker died before listening");
    }
    println!(
        "listening on {addr} (hyper on tokio, {workers} current-thread runtimes, SO_REUSEPORT{})",
        if tls.is_some() { ", TLS" } else { "" }
    );
    for t in threads {
        let _ = t.join();
    }
}

fn multi_thread(addr: SocketAddr, workers: usize, tls: Option<TlsAcceptor>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("tokio multi-thread runtime");
    rt.block_on(async move {
        let std_listener = bind(addr, false).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        let listener = TcpListener::from_std(std_listener).expect("register listener");
        println!(
            "listening on {addr} (hyper on tokio, multi-thread runtime, {workers} workers{})",
            if tls.is_some() { ", TLS" } else { "" }
        );
        accept_loop(listener, tls).await
    });
}

/// Accepts forever, one task per connection on the current runtime (with
/// `tls`, its handshake first).
async fn accept_loop(listener: TcpListener, tls: Option<TlsAcceptor>) -> ! {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => drop(tokio::spawn(serve(stream, tls.clone()))),
            Err(e) => accept_error(e).await,
        }
    }
}

/// Out of file descriptors and the like: say so and back off a little
/// instead of spinning.
async fn accept_error(e: io::Error) {
    eprintln!("accept: {e}");
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
}

async fn serve(stream: TcpStream, tls: Option<TlsAcceptor>) {
    let _ = stream.set_nodelay(true);
    match tls {
        None => serve_http(stream).await,
        Some(acceptor) => {
            // A failed handshake ends that connection only.
            if let Ok(stream) = acceptor.accept(stream).await {
                serve_http(stream).await;
            }
        }
    }
}

/// `--h2c`: every connection is HTTP/2 with prior knowledge (the peer of
/// asyncio-http's `hello` under `h2load`).
static H2C: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

async fn serve_http<S>(stream: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    if H2C.load(std::sync::atomic::Ordering::Relaxed) {
        let conn = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .serve_connection(TokioIo::new(stream), service_fn(hello));
        let _ = conn.await;
        return;
    }
    let conn = http1::Builder::new()
        .keep_alive(true)
        .header_read_timeout(None)
        .serve_connection(TokioIo::new(stream), service_fn(hello));
    // Clients going away mid-request (wrk stopping) are not errors here.
    let _ = conn.await;
}

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(BODY)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    Ok(response)
}
