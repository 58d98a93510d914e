//! Handshakes that fail (issue 16, point 4): each failure is its own
//! `TlsError` on the side that found it, the server's view is checked
//! through `ServerContext::accept`, and after every one a `start_tls_server`
//! still serves a good client with no connection, file descriptor or task
//! left behind.
//!
//! The certificate errors (unknown CA, hostname mismatch, expired, not yet
//! valid), peers that do not speak TLS (a plaintext client, a plaintext
//! server, garbage), and peers that stall mid-handshake (cut at the
//! handshake timeout, on the virtual clock).
#![cfg(feature = "tls")]

mod tls_support;

use std::net::SocketAddr;
use std::time::Duration;

use asyncio::net::{StreamReader, StreamWriter, TcpStream};
use asyncio::tls::rustls::AlertDescription;
use asyncio::tls::{ClientContext, ServerContext, TlsError};
use tls_support::{
    echo, good_client, one_server_handshake, run, run_virtual, serial, survives, Baseline, Pki, Validity,
};

/// Reads `tcp` until the peer ends the connection (end of stream or a
/// reset); what was read.
async fn read_until_closed(tcp: &TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tcp.read(&mut buf).await {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("reading the closed connection: {e}"),
        }
    }
}

// ---- certificates the client refuses ----

#[test]
fn unknown_ca() {
    let _serial = serial();
    let pki = Pki::new("the server's CA");
    let stranger = Pki::new("another CA");
    let server_ctx = Pki::server_ctx(&pki.localhost());
    let (good, bad) = (pki.client_ctx(), stranger.client_ctx());
    let ctx = server_ctx.clone();
    let bad2 = bad.clone();
    run(async move {
        survives(&ctx, &good, 0, |port| async move {
            let err = asyncio::open_tls_connection(("localhost", port), &bad2)
                .await
                .unwrap_err();
            assert!(matches!(err, TlsError::UnknownIssuer), "{err:?}");
        })
        .await;
    });
    // The server's view: the client's alert.
    run(async move {
        let (server, client) = one_server_handshake(&server_ctx, move |addr| async move {
            asyncio::open_tls_connection_to(addr, "localhost", &bad).await.map(drop)
        })
        .await;
        let err = server.unwrap_err();
        assert!(
            matches!(err, TlsError::PeerAlert(AlertDescription::UnknownCA)),
            "{err:?}"
        );
        assert!(matches!(client.await.unwrap(), Err(TlsError::UnknownIssuer)));
    });
}

#[test]
fn hostname_mismatch() {
    let _serial = serial();
    let pki = Pki::new("mismatch CA");
    let server_ctx = Pki::server_ctx(&pki.server(&["localhost", "other.example"]));
    let client = pki.client_ctx();
    run(async move {
        survives(&server_ctx, &client.clone(), 0, |port| async move {
            // The certificate is good, but not for this name (nor for the
            // IP address, which it does not list).
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            for name in ["wrong.example", "127.0.0.1"] {
                let err = asyncio::open_tls_connection_to(addr, name, &client).await.unwrap_err();
                assert!(matches!(err, TlsError::NotValidForName), "{name}: {err:?}");
            }
            // The same certificate is fine for a name it lists.
            let (_r, w) = asyncio::open_tls_connection_to(addr, "other.example", &client)
                .await
                .unwrap();
            assert_eq!(w.tls_info().unwrap().server_name(), Some("other.example"));
        })
        .await;
    });
}

/// A server whose certificate is out of its validity period: the client
/// refuses it with `expected`; both that server and a good one go on
/// serving, with nothing left behind.
fn out_of_validity(name: &str, validity: Validity, expected: fn(&TlsError) -> bool) {
    let _serial = serial();
    let pki = Pki::new(name);
    let good_ctx = Pki::server_ctx(&pki.localhost());
    let bad_ctx = Pki::server_ctx(&pki.server_with(&["localhost"], validity));
    let client = pki.client_ctx();
    run(async move {
        let bad_server = asyncio::start_tls_server(echo, "127.0.0.1:0", &bad_ctx).await.unwrap();
        let bad_port = bad_server.local_addrs()[0].port();
        let c = client.clone();
        survives(&good_ctx, &client, 1, |_| async move {
            let err = asyncio::open_tls_connection(("localhost", bad_port), &c)
                .await
                .unwrap_err();
            assert!(expected(&err), "{err:?}");
        })
        .await;
        // The server with the bad certificate goes on too.
        let err = asyncio::open_tls_connection(("localhost", bad_port), &client)
            .await
            .unwrap_err();
        assert!(expected(&err), "{err:?}");
        bad_server.close();
        bad_server.wait_closed().await;
    });
}

#[test]
fn expired_certificate() {
    out_of_validity("expired CA", Validity::Expired, |e| matches!(e, TlsError::Expired));
}

#[test]
fn not_yet_valid_certificate() {
    out_of_validity("not yet CA", Validity::NotYet, |e| matches!(e, TlsError::NotYetValid));
    let _serial = serial();
    let pki = Pki::new("future CA");
    let server_ctx = Pki::server_ctx(&pki.server_with(&["localhost"], Validity::NotYet));
    let client = pki.client_ctx();
    run(async move {
        let (server, client) = one_server_handshake(&server_ctx, move |addr| async move {
            asyncio::open_tls_connection_to(addr, "localhost", &client)
                .await
                .map(drop)
        })
        .await;
        let err = client.await.unwrap().unwrap_err();
        assert!(matches!(err, TlsError::NotYetValid), "{err:?}");
        // TLS has no alert for "not valid yet": rustls's client sends
        // certificate_expired.
        let err = server.unwrap_err();
        assert!(
            matches!(err, TlsError::PeerAlert(AlertDescription::CertificateExpired)),
            "{err:?}"
        );
    });
}

// ---- peers that do not speak TLS ----

#[test]
fn plaintext_client_on_a_tls_port() {
    let _serial = serial();
    let pki = Pki::new("plaintext CA");
    let server_ctx = Pki::server_ctx(&pki.localhost());
    let client = pki.client_ctx();
    let ctx = server_ctx.clone();
    run(async move {
        survives(&ctx, &client, 0, |port| async move {
            let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            tcp.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .await
                .unwrap();
            // The server closes the connection; no HTTP comes back.
            let got = read_until_closed(&tcp).await;
            assert!(!got.starts_with(b"HTTP"), "{got:?}");
        })
        .await;
    });
    run(async move {
        let (server, client) = one_server_handshake(&server_ctx, |addr| async move {
            let tcp = TcpStream::connect(addr).await.unwrap();
            tcp.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
            read_until_closed(&tcp).await
        })
        .await;
        let err = server.unwrap_err();
        assert!(matches!(err, TlsError::NotTls), "{err:?}");
        client.await.unwrap();
    });
}

/// A plaintext server that answers anything with HTTP's 400, as web
/// servers answer a TLS client on their plaintext port.
async fn http_400(mut reader: StreamReader, writer: StreamWriter) {
    let _ = reader.read(64 * 1024).await;
    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    writer.close();
    let _ = writer.wait_closed().await;
}

#[test]
fn tls_client_on_a_plaintext_port() {
    let _serial = serial();
    let pki = Pki::new("plain port CA");
    let client = pki.client_ctx();
    run(async move {
        let server = asyncio::start_server(http_400, "127.0.0.1:0").await.unwrap();
        let port = server.local_addrs()[0].port();
        let err = asyncio::open_tls_connection(("localhost", port), &client)
            .await
            .unwrap_err();
        assert!(matches!(err, TlsError::NotTls), "{err:?}");
        // The plaintext server serves a plaintext client after it.
        let (mut r, w) = asyncio::open_connection(("127.0.0.1", port)).await.unwrap();
        w.write(b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(r.readline().await.unwrap(), b"HTTP/1.1 400 Bad Request\r\n");
        server.close();
        server.wait_closed().await;
    });
}

/// Bytes that are not TLS: random-looking bytes, and a record header
/// announcing a handshake followed by junk.
const GARBAGE: [&[u8]; 3] = [
    b"\xff\x00\x13\x37garbage garbage garbage garbage\n",
    b"\x16\x03\x01\x00\x20\xaa\xbb\xcc\xdd\xee\xff\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99",
    b"\x16\x03\x01\xff\xff",
];

#[test]
fn garbage_from_a_client() {
    let _serial = serial();
    let pki = Pki::new("garbage CA");
    let server_ctx = Pki::server_ctx(&pki.localhost());
    let client = pki.client_ctx();
    let ctx = server_ctx.clone();
    run(async move {
        survives(&ctx, &client, 0, |port| async move {
            for garbage in GARBAGE {
                let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
                tcp.write_all(garbage).await.unwrap();
                read_until_closed(&tcp).await;
            }
        })
        .await;
    });
    for garbage in GARBAGE {
        let ctx = server_ctx.clone();
        run(async move {
            let (server, client) = one_server_handshake(&ctx, move |addr| async move {
                let tcp = TcpStream::connect(addr).await.unwrap();
                tcp.write_all(garbage).await.unwrap();
                read_until_closed(&tcp).await
            })
            .await;
            let err = server.unwrap_err();
            assert!(matches!(err, TlsError::NotTls), "{garbage:?}: {err:?}");
            client.await.unwrap();
        });
    }
}

#[test]
fn garbage_from_a_server() {
    let _serial = serial();
    let pki = Pki::new("garbage server CA");
    let client = pki.client_ctx();
    for garbage in GARBAGE {
        let client = client.clone();
        run(async move {
            let handler = move |_reader: StreamReader, writer: StreamWriter| async move {
                writer.write(garbage);
                writer.close();
                let _ = writer.wait_closed().await;
            };
            let server = asyncio::start_server(handler, "127.0.0.1:0").await.unwrap();
            let port = server.local_addrs()[0].port();
            let err = asyncio::open_tls_connection(("localhost", port), &client)
                .await
                .unwrap_err();
            // A header that promises more than the server sent is cut by its
            // close: the handshake ended early.
            let cut = garbage == b"\x16\x03\x01\xff\xff";
            assert!(
                matches!(
                    (&err, cut),
                    (TlsError::NotTls, false) | (TlsError::NotTls | TlsError::HandshakeEof, true)
                ),
                "{garbage:?}: {err:?}"
            );
            server.close();
            server.wait_closed().await;
        });
    }
}

// ---- peers that stall ----

/// The start of a ClientHello: a handshake record header announcing 512
/// bytes, and one of them.
const PARTIAL_HELLO: &[u8] = b"\x16\x03\x01\x02\x00\x01";

#[test]
fn stalled_client_is_cut_at_the_handshake_timeout() {
    let _serial = serial();
    let pki = Pki::new("stall CA");
    let server_ctx = Pki::server_ctx(&pki.localhost());
    assert_eq!(server_ctx.handshake_timeout(), Duration::from_secs(60));
    let client = pki.client_ctx();
    // asyncio's default 60 s, on the virtual clock: the loop jumps to the
    // deadline when nothing else is ready.
    let ctx = server_ctx.clone();
    run_virtual(async move {
        survives(&ctx, &client, 0, |port| async move {
            for first in [&b""[..], PARTIAL_HELLO] {
                let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
                tcp.write_all(first).await.unwrap();
                let start = asyncio::time::Instant::now();
                read_until_closed(&tcp).await;
                let waited = start.elapsed();
                assert!(
                    waited >= Duration::from_secs(60) && waited < Duration::from_secs(61),
                    "{waited:?}"
                );
            }
        })
        .await;
    });
    // The server's view, with a short timeout set on the context (real
    // time: the handshake ends when the timer fires, not after a guess).
    let id = pki.localhost();
    let short = ServerContext::builder()
        .cert_pem(id.chain.as_bytes(), id.key.as_bytes())
        .unwrap()
        .handshake_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    run(async move {
        let (server, client) = one_server_handshake(&short, |addr| async move {
            let tcp = TcpStream::connect(addr).await.unwrap();
            tcp.write_all(PARTIAL_HELLO).await.unwrap();
            read_until_closed(&tcp).await
        })
        .await;
        let err = server.unwrap_err();
        assert!(matches!(err, TlsError::HandshakeTimeout), "{err:?}");
        assert_eq!(std::io::Error::from(err).kind(), std::io::ErrorKind::TimedOut);
        client.await.unwrap();
    });
}

#[test]
fn stalled_server_is_cut_at_the_client_handshake_timeout() {
    let _serial = serial();
    let pki = Pki::new("stalled server CA");
    let client = pki.client_ctx();
    run_virtual(async move {
        // Accepts and never answers.
        let listener = asyncio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = asyncio::create_task(async move { listener.accept().await.unwrap() });
        let start = asyncio::time::Instant::now();
        let err = asyncio::open_tls_connection_to(addr, "localhost", &client)
            .await
            .unwrap_err();
        assert!(matches!(err, TlsError::HandshakeTimeout), "{err:?}");
        assert!(start.elapsed() >= Duration::from_secs(60), "{:?}", start.elapsed());
        // The client dropped its side: the silent server reads the end.
        let (tcp, _) = accepted.await.unwrap();
        let mut hello = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match tcp.read(&mut buf).await.unwrap() {
                0 => break,
                n => hello.extend_from_slice(&buf[..n]),
            }
        }
        assert_eq!(hello[0], 0x16, "the client's hello was sent");
    });
}

// ---- many at once, cancellation, Unix sockets ----

#[test]
fn stalled_clients_do_not_hold_up_good_ones() {
    let _serial = serial();
    let pki = Pki::new("many stalls CA");
    let server_ctx = Pki::server_ctx(&pki.localhost());
    let client = pki.client_ctx();
    run(async move {
        let server = asyncio::start_tls_server(echo, "127.0.0.1:0", &server_ctx)
            .await
            .unwrap();
        let port = server.local_addrs()[0].port();
        good_client(port, &client).await;
        let baseline = Baseline::take(&server, 0).await;
        // Twenty clients stuck in their handshakes (the default 60 s
        // timeout is far away)...
        let mut stalled = Vec::new();
        for i in 0..20 {
            let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            if i % 2 == 0 {
                tcp.write_all(PARTIAL_HELLO).await.unwrap();
            }
            stalled.push(tcp);
        }
        tls_support::settle(
            "the stalled handshakes",
            || server.clients() == 20,
            || format!("{server:?}"),
        )
        .await;
        // ...while good clients come and go.
        for _ in 0..5 {
            good_client(port, &client).await;
        }
        assert_eq!(server.clients(), 20);
        // They give up: each handshake ends (HandshakeEof), nothing stays.
        drop(stalled);
        baseline.check(&server).await;
        server.close();
        server.wait_closed().await;
    });
}

#[test]
fn cancelled_client_handshakes_leave_nothing_behind() {
    let _serial = serial();
    let pki = Pki::new("cancel CA");
    let client = pki.client_ctx();
    run_virtual(async move {
        // A server that accepts and never answers; it keeps what it accepts.
        let listener = asyncio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let keep = accepted.clone();
        let acceptor = asyncio::create_task(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                keep.borrow_mut().push(tcp);
            }
        });
        let fds = tls_support::fd_count();
        for _ in 0..10 {
            let attempt = asyncio::open_tls_connection_to(addr, "localhost", &client);
            assert!(asyncio::timeout(Duration::from_secs(1), attempt).await.is_err());
        }
        let a = accepted.clone();
        tls_support::settle("the accepts", move || a.borrow().len() == 10, || "accepting".into()).await;
        accepted.borrow_mut().clear();
        tls_support::settle(
            "the file descriptors",
            || tls_support::fd_count() == fds,
            || format!("{} open, {fds} before", tls_support::fd_count()),
        )
        .await;
        acceptor.cancel();
    });
}

#[test]
fn bad_clients_on_a_unix_socket() {
    let _serial = serial();
    let pki = Pki::new("unix failures CA");
    let server_ctx = Pki::server_ctx(&pki.server(&["unix.local"]));
    let client = pki.client_ctx();
    let stranger = Pki::new("unix stranger CA").client_ctx();
    let dir = tls_support::TempDir::new();
    let path = dir.path().join("tls.sock");
    run(async move {
        let server = asyncio::start_unix_tls_server(echo, &path, &server_ctx).await.unwrap();
        let good = |client: ClientContext, path: std::path::PathBuf| async move {
            let (mut r, w) = asyncio::open_unix_tls_connection(&path, "unix.local", &client)
                .await
                .unwrap();
            w.write(b"ping\n");
            assert_eq!(r.readline().await.unwrap(), b"ping\n");
            w.close();
            w.wait_closed().await.unwrap();
        };
        good(client.clone(), path.clone()).await;
        let baseline = Baseline::take(&server, 0).await;
        for garbage in GARBAGE {
            let unix = asyncio::net::UnixStream::connect(&path).await.unwrap();
            unix.write_all(garbage).await.unwrap();
            let mut buf = [0u8; 1024];
            while unix.read(&mut buf).await.unwrap() > 0 {}
        }
        let err = asyncio::open_unix_tls_connection(&path, "unix.local", &stranger)
            .await
            .unwrap_err();
        assert!(matches!(err, TlsError::UnknownIssuer), "{err:?}");
        let err = asyncio::open_unix_tls_connection(&path, "other.local", &client)
            .await
            .unwrap_err();
        assert!(matches!(err, TlsError::NotValidForName), "{err:?}");
        baseline.check(&server).await;
        good(client.clone(), path.clone()).await;
        baseline.check(&server).await;
        server.close();
        server.wait_closed().await;
    });
}

/// A crowd at once: 40 good clients among 120 bad ones of every kind above
/// (untrusted, wrong name, plaintext, garbage, closing mid-handshake), all
/// concurrent; every good client is served, every bad one refused with its
/// own error, and nothing is left behind.
#[test]
fn a_crowd_of_good_and_bad_clients() {
    let _serial = serial();
    let pki = Pki::new("crowd CA");
    let server_ctx = Pki::server_ctx(&pki.localhost());
    let good = pki.client_ctx();
    let stranger = Pki::new("crowd stranger CA").client_ctx();
    run(async move {
        let server = asyncio::start_tls_server(echo, "127.0.0.1:0", &server_ctx)
            .await
            .unwrap();
        let port = server.local_addrs()[0].port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        good_client(port, &good).await;
        let baseline = Baseline::take(&server, 0).await;
        let mut tasks = Vec::new();
        for i in 0..160usize {
            let (good, stranger) = (good.clone(), stranger.clone());
            tasks.push(asyncio::create_task(async move {
                match i % 4 {
                    0 => good_client(port, &good).await,
                    1 => {
                        let (ctx, name) = if i % 8 == 1 {
                            (&stranger, "localhost")
                        } else {
                            (&good, "wrong.example")
                        };
                        let err = asyncio::open_tls_connection_to(addr, name, ctx).await.unwrap_err();
                        assert!(
                            matches!(err, TlsError::UnknownIssuer | TlsError::NotValidForName),
                            "{err:?}"
                        );
                    }
                    2 => {
                        let tcp = TcpStream::connect(addr).await.unwrap();
                        tcp.write_all(GARBAGE[i % GARBAGE.len()]).await.unwrap();
                        read_until_closed(&tcp).await;
                    }
                    _ => {
                        let tcp = TcpStream::connect(addr).await.unwrap();
                        tcp.write_all(PARTIAL_HELLO).await.unwrap();
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        baseline.check(&server).await;
        good_client(port, &good).await;
        baseline.check(&server).await;
        server.close();
        server.wait_closed().await;
    });
}
