//! The TLS bench's load generator: the bench binary started again with
//! [`CLIENT_ENV`] set (its `main` calls [`main`] first), so the client's CPU
//! is never counted as the server's. One client for every server measured: a
//! tokio current-thread runtime and tokio-rustls with the ring provider,
//! TLS 1.3 only, trusting the CA in [`CA_ENV`] and nothing else, with no
//! session resumption (every connection makes a full handshake).
//!
//! It speaks the small protocol of [`super::proto`] and reports on stdout:
//! `info VERSION SUITE GROUP` (what its first connection negotiated),
//! `start` and `stop` at the edges of the measured window (the server process
//! reads its own CPU time when it sees them), then
//! `result OPS WINDOW_NS CPU_NS` (operations counted in the window, its
//! length, and the client's own CPU time over it).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::proto::{self, Mode};
use crate::CpuUsage;

/// Set in the client process's environment: `MODE ADDR ...` (see [`Mode`]).
pub const CLIENT_ENV: &str = "ASYNCIO_BENCH_TLS_CLIENT";

/// Set in the client process's environment: the CA certificate (PEM) the
/// client trusts.
pub const CA_ENV: &str = "ASYNCIO_BENCH_TLS_CA";

/// How long a bulk client waits after announcing `start` before its timed
/// transfer: the server is idle meanwhile, so this costs it no CPU.
const START_GRACE: Duration = Duration::from_millis(20);

/// The whole client may take this long before it gives up (a server that
/// stopped answering).
const DEADLINE: Duration = Duration::from_secs(120);

/// Runs the client that `spec` describes (the value of [`CLIENT_ENV`]) and
/// prints its report lines.
///
/// # Panics
/// On a malformed `spec`, a missing [`CA_ENV`], or any failure of the
/// connection or of the server's answers (the bench then fails loudly).
pub fn main(spec: &str) {
    let mode = Mode::parse(spec);
    let ca = std::env::var(CA_ENV).unwrap_or_else(|_| panic!("{CA_ENV} is not set"));
    let connector = TlsConnector::from(super::client_config(&ca, false));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let run = async {
            match mode {
                Mode::Handshake {
                    addr,
                    inflight,
                    warmup,
                    window,
                } => handshakes(connector, addr, inflight, warmup, window).await,
                Mode::Echo {
                    addr,
                    conns,
                    size,
                    warmup,
                    window,
                } => echo(connector, addr, conns, size, warmup, window).await,
                Mode::Bulk {
                    addr,
                    upload,
                    total,
                    warmup_bytes,
                } => bulk(connector, addr, upload, total, warmup_bytes).await,
            }
        };
        tokio::time::timeout(DEADLINE, run)
            .await
            .expect("the TLS client timed out: the server stopped answering");
    });
}

/// A TCP connection (`TCP_NODELAY`, as asyncio's transports set it) and a
/// full TLS handshake over it.
async fn connect(connector: &TlsConnector, addr: SocketAddr) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.set_nodelay(true).expect("TCP_NODELAY");
    connector
        .connect(super::server_name(), tcp)
        .await
        .expect("TLS handshake")
}

/// Prints `info VERSION SUITE GROUP` for `tls`: what was negotiated (once
/// per client, for the report's caption).
fn describe(tls: &TlsStream<TcpStream>) {
    let (_, conn) = tls.get_ref();
    let version = conn.protocol_version().map_or("?".to_owned(), |v| format!("{v:?}"));
    let suite = conn
        .negotiated_cipher_suite()
        .map_or("?".to_owned(), |s| format!("{:?}", s.suite()));
    let group = conn
        .negotiated_key_exchange_group()
        .map_or("?".to_owned(), |g| format!("{:?}", g.name()));
    println!("info {version} {suite} {group}");
}

/// Counts `count`'s progress over a `window` after `warmup`, printing the
/// report lines; then sets `stop`.
async fn window_of(count: &AtomicU64, stop: &AtomicBool, warmup: Duration, window: Duration) {
    tokio::time::sleep(warmup).await;
    let (c0, t0, u0) = (count.load(Ordering::Relaxed), Instant::now(), CpuUsage::now());
    println!("start");
    tokio::time::sleep(window).await;
    let (c1, t1, u1) = (count.load(Ordering::Relaxed), Instant::now(), CpuUsage::now());
    println!("stop");
    stop.store(true, Ordering::Relaxed);
    report(c1 - c0, t1 - t0, u1.since(&u0));
}

fn report(ops: u64, window: Duration, cpu: CpuUsage) {
    println!("result {ops} {} {}", window.as_nanos(), cpu.on_cpu_ns);
}

/// `inflight` tasks, each making connections one after another: connect,
/// handshake, read the server's one-byte greeting (so the server's side of
/// the handshake has finished too), drop the connection.
async fn handshakes(connector: TlsConnector, addr: SocketAddr, inflight: usize, warmup: Duration, window: Duration) {
    let mut first = connect(&connector, addr).await;
    describe(&first);
    let mut greeting = [0u8; 1];
    first.read_exact(&mut greeting).await.expect("the server's greeting");
    drop(first);
    let count = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..inflight)
        .map(|_| {
            let (connector, count, stop) = (connector.clone(), count.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let mut tls = connect(&connector, addr).await;
                    let mut greeting = [0u8; 1];
                    tls.read_exact(&mut greeting).await.expect("the server's greeting");
                    assert_eq!(greeting[0], proto::GREETING, "not the server's greeting");
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    window_of(&count, &stop, warmup, window).await;
    for t in tasks {
        t.await.expect("a handshake task failed");
    }
}

/// One request/response on `tls`: `msg` tagged with `tag` in its first and
/// last bytes, sent whole and flushed; the echo read whole into `back` and
/// its tags checked.
async fn round_trip<S: AsyncRead + AsyncWrite + Unpin>(tls: &mut S, msg: &mut [u8], back: &mut [u8], tag: u8) {
    let last = msg.len() - 1;
    msg[0] = tag;
    msg[last] = tag;
    tls.write_all(msg).await.expect("send");
    tls.flush().await.expect("flush");
    tls.read_exact(back).await.expect("receive the echo");
    assert!(back[0] == tag && back[last] == tag, "the echo is not what was sent");
}

/// `conns` connections (opened one after another, each served once before
/// the load starts), each doing request/response ping-pong with `size`-byte
/// messages.
async fn echo(
    connector: TlsConnector,
    addr: SocketAddr,
    conns: usize,
    size: usize,
    warmup: Duration,
    window: Duration,
) {
    assert!(size >= 1, "messages of at least one byte");
    let mut streams = Vec::with_capacity(conns);
    let (mut msg, mut back) = (vec![0x5a; size], vec![0; size]);
    for _ in 0..conns {
        let mut tls = connect(&connector, addr).await;
        if streams.is_empty() {
            describe(&tls);
        }
        round_trip(&mut tls, &mut msg, &mut back, 0).await;
        streams.push(tls);
    }
    let count = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|mut tls| {
            let (count, stop) = (count.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut msg, mut back) = (vec![0x5a; size], vec![0; size]);
                let mut tag = 1u8;
                while !stop.load(Ordering::Relaxed) {
                    round_trip(&mut tls, &mut msg, &mut back, tag).await;
                    count.fetch_add(1, Ordering::Relaxed);
                    tag = tag.wrapping_add(1);
                }
            })
        })
        .collect();
    window_of(&count, &stop, warmup, window).await;
    for t in tasks {
        t.await.expect("a connection failed");
    }
}

/// One connection: an untimed transfer of `warmup_bytes`, then the measured
/// one of `total` bytes, both in the direction `upload` says. Reports
/// `total` as the operation count (bytes).
async fn bulk(connector: TlsConnector, addr: SocketAddr, upload: bool, total: u64, warmup_bytes: u64) {
    let mut tls = connect(&connector, addr).await;
    describe(&tls);
    let mut buf = vec![0u8; proto::CHUNK];
    transfer(&mut tls, &mut buf, upload, warmup_bytes).await;
    // The server process reads its CPU time when it sees `start`; its
    // reading thread shares a CPU with the server's (pinned), so give it
    // that reading while the server is idle, before the transfer begins.
    println!("start");
    tokio::time::sleep(START_GRACE).await;
    let (t0, u0) = (Instant::now(), CpuUsage::now());
    transfer(&mut tls, &mut buf, upload, total).await;
    let (t1, u1) = (Instant::now(), CpuUsage::now());
    println!("stop");
    tls.shutdown().await.expect("close_notify");
    report(total, t1 - t0, u1.since(&u0));
}

/// One transfer of `n` bytes: the request header, then (upload) `n` bytes in
/// writes of [`proto::CHUNK`] and the server's one-byte acknowledgement, or
/// (download) `n` bytes read into a [`proto::CHUNK`] buffer.
async fn transfer<S: AsyncRead + AsyncWrite + Unpin>(tls: &mut S, buf: &mut [u8], upload: bool, n: u64) {
    tls.write_all(&proto::request(upload, n))
        .await
        .expect("send the request");
    if upload {
        buf.fill(0xa5);
        let mut left = n;
        while left > 0 {
            let k = left.min(buf.len() as u64) as usize;
            tls.write_all(&buf[..k]).await.expect("upload");
            left -= k as u64;
        }
        tls.flush().await.expect("flush");
        let mut ack = [0u8; 1];
        tls.read_exact(&mut ack).await.expect("the server's acknowledgement");
        assert_eq!(ack[0], proto::GREETING, "not the server's acknowledgement");
    } else {
        tls.flush().await.expect("flush");
        let mut left = n;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let k = tls.read(&mut buf[..want]).await.expect("download");
            assert!(k > 0, "the server closed {left} bytes early");
            left -= k as u64;
        }
    }
}
