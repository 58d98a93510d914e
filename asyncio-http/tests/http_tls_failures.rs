//! Clients that fail the TLS handshake, each followed by a good client
//! that must be served: a plaintext HTTP client on the TLS port, garbage,
//! a client that closes mid-handshake, one that does not trust the
//! server's CA, one that finds the certificate expired or made out for
//! another name, one that stalls (closed at the handshake timeout), and a
//! TLS client on a plaintext port. Each failure is logged at debug level
//! with its cause; afterwards the process has as many file descriptors as
//! before, and shutdown finds no connection left to wait for.
//!
//! One test in its own process: the descriptor count would move with
//! other tests running beside it.
#![cfg(feature = "tls")]

mod support;
mod tls_support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asyncio::net::TcpStream;
use asyncio::tls::{ClientContext, ServerContext, TlsError};
use asyncio_http::{Request, Router, RunningServer};
use support::{get, start, Tls};
use tls_support::Pki;

async fn hello(_req: Request) -> &'static str {
    "Hello over TLS!"
}

fn app() -> Router {
    Router::new().get("/", hello)
}

/// The server's debug log, kept for the test to read.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    /// The lines logged since the last call.
    fn take(&self) -> String {
        String::from_utf8(std::mem::take(&mut *self.0.lock().unwrap())).unwrap()
    }
}

/// Whether a client's error is the one a case expects.
type Expected = fn(&TlsError) -> bool;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Waits (up to a generous deadline) for the descriptor count to come
/// back down to `baseline`; the count it settled at.
async fn fds_settle_to(baseline: usize) -> usize {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = open_fds();
        if now <= baseline || std::time::Instant::now() > deadline {
            return now;
        }
        asyncio::sleep(Duration::from_millis(10)).await;
    }
}

/// Reads until the server closes (end of stream or reset), at most 30 s;
/// what it sent.
async fn read_until_closed(stream: &TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let r = asyncio::timeout(Duration::from_secs(30), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(r.is_ok(), "the server did not close the connection");
    got
}

/// What a server that refuses a non-TLS client may send: nothing, or TLS
/// alert records (content type 21), never an HTTP response.
fn no_http_answer(sent: &[u8]) {
    assert!(
        sent.is_empty() || sent[0] == 0x15,
        "unexpected answer {:?}",
        String::from_utf8_lossy(sent)
    );
    assert!(!sent.windows(5).any(|w| w == b"HTTP/"));
}

async fn good_client_is_served(server: &RunningServer, ctx: &ClientContext) {
    let r = get(Tls(server.local_addr(), ctx.clone()), "/").await;
    assert_eq!((r.status, r.text().as_str()), (200, "Hello over TLS!"));
}

/// The first `ClientHello` of a client using `ctx`.
fn client_hello(ctx: &ClientContext) -> Vec<u8> {
    use asyncio::tls::rustls;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(ctx.rustls_config(), name).unwrap();
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    out
}

#[test]
fn failed_handshakes_close_only_their_connection_and_leak_nothing() {
    let log = Log::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // Thread-local: the one worker loop runs on this thread.
    let _log = tracing::subscriber::set_default(subscriber);
    asyncio::run(async move {
        let pki = Pki::new("failures CA");
        let id = pki.localhost();
        let client_ctx = pki.client_ctx();
        let hour = Duration::from_secs(3600);
        // Clients asking for `expired.test` (SNI) get an expired
        // certificate; the others, the one for localhost.
        let expired = pki.expired_server(&["expired.test"]);
        let tls_ctx = ServerContext::builder()
            .cert_pem(id.chain.as_bytes(), id.key.as_bytes())
            .unwrap()
            .sni_cert_pem("expired.test", expired.chain.as_bytes(), expired.key.as_bytes())
            .unwrap()
            .build()
            .unwrap();
        let tls = start(|s| s.tls(tls_ctx).graceful_timeout(hour), app).await;
        // A short handshake timeout, for the client that stalls (long
        // enough for the good clients' handshakes on a loaded machine).
        let short = start(
            |s| {
                s.tls(Pki::server_ctx(&id, Duration::from_secs(2)))
                    .graceful_timeout(hour)
            },
            app,
        )
        .await;
        let plain = start(|s| s.graceful_timeout(hour), app).await;
        // What the first connections open once (the to_thread pool, ...)
        // is in the baseline.
        good_client_is_served(&tls, &client_ctx).await;
        good_client_is_served(&short, &client_ctx).await;
        assert_eq!(get(plain.local_addr(), "/").await.status, 200);
        let baseline = open_fds();
        log.take();

        // A plaintext HTTP client on the TLS port.
        let s = TcpStream::connect(tls.local_addr()).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
        no_http_answer(&read_until_closed(&s).await);
        drop(s);
        good_client_is_served(&tls, &client_ctx).await;
        let logged = log.take();
        assert!(logged.contains("TLS handshake with 127.0.0.1:"), "{logged}");
        assert!(logged.contains(&TlsError::NotTls.to_string()), "{logged}");

        // Garbage.
        let s = TcpStream::connect(tls.local_addr()).await.unwrap();
        let garbage: Vec<u8> = (0..2000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let _ = s.write_all(&garbage).await; // the server may close first
        no_http_answer(&read_until_closed(&s).await);
        drop(s);
        good_client_is_served(&tls, &client_ctx).await;
        assert!(log.take().contains(&TlsError::NotTls.to_string()));

        // Half a ClientHello, then the client goes away.
        let s = TcpStream::connect(tls.local_addr()).await.unwrap();
        let hello = client_hello(&client_ctx);
        s.write_all(&hello[..hello.len() / 2]).await.unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        no_http_answer(&read_until_closed(&s).await);
        drop(s);
        good_client_is_served(&tls, &client_ctx).await;
        assert!(log.take().contains(&TlsError::HandshakeEof.to_string()));

        // A client that does not trust the server's CA.
        let stranger = Pki::new("another CA").client_ctx();
        let s = TcpStream::connect(tls.local_addr()).await.unwrap();
        let err = stranger.connect("localhost", s).await.unwrap_err();
        assert!(matches!(err, TlsError::UnknownIssuer), "{err:?}");
        good_client_is_served(&tls, &client_ctx).await;
        let logged = log.take();
        assert!(logged.contains("the peer refused the TLS connection"), "{logged}");

        // A client that finds the certificate expired, and one that asked
        // for a name the certificate is not for.
        let cases: [(&str, Expected); 2] = [
            ("expired.test", |e| matches!(e, TlsError::Expired)),
            ("wrong.test", |e| matches!(e, TlsError::NotValidForName)),
        ];
        for (name, expected) in cases {
            let s = TcpStream::connect(tls.local_addr()).await.unwrap();
            let err = client_ctx.connect(name, s).await.unwrap_err();
            assert!(expected(&err), "{name}: {err:?}");
            good_client_is_served(&tls, &client_ctx).await;
            let logged = log.take();
            assert!(logged.contains("the peer refused the TLS connection"), "{logged}");
        }

        // A client that stalls mid-handshake: closed at the timeout (2 s).
        let s = TcpStream::connect(short.local_addr()).await.unwrap();
        s.write_all(&client_hello(&client_ctx)).await.unwrap();
        let started = std::time::Instant::now();
        let answer = read_until_closed(&s).await;
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(1_900), "closed after {waited:?}");
        // The server's first flight (a handshake record), no more.
        assert_eq!(answer.first(), Some(&0x16));
        drop(s);
        good_client_is_served(&short, &client_ctx).await;
        assert!(log.take().contains(&TlsError::HandshakeTimeout.to_string()));

        // A TLS client on a plaintext port: it sees a peer that does not
        // speak TLS (the server answers 400), and the server goes on.
        let s = TcpStream::connect(plain.local_addr()).await.unwrap();
        let err = client_ctx.connect("localhost", s).await.unwrap_err();
        assert!(matches!(err, TlsError::NotTls), "{err:?}");
        assert_eq!(get(plain.local_addr(), "/").await.status, 200);

        let settled = fds_settle_to(baseline).await;
        assert_eq!(settled, baseline, "file descriptors leaked");
        // No connection is left for shutdown to wait for (its timeout is
        // an hour).
        for server in [tls, short, plain] {
            let done = asyncio::timeout(Duration::from_secs(30), server.shutdown()).await;
            assert!(matches!(done, Ok(Ok(()))), "shutdown waited for a leftover connection");
        }
    });
}
