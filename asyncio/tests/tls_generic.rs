//! `TlsStream<IO>`: the handshakes over any futures-io stream
//! (`ClientContext::connect`, `ServerContext::accept`) on TCP and on a Unix
//! socket pair, what `info()` reports on each side, `close_notify` on
//! close (a clean end for the peer), truncation reported in both
//! directions (and on the streams' server side), a peer that closes during
//! the handshake, and IPv6 literals as server names.
#![cfg(feature = "tls")]

mod tls_support;

use std::cell::RefCell;
use std::rc::Rc;

use asyncio::net::{StreamReader, StreamWriter, TcpListener, TcpStream, UnixStream};
use asyncio::tls::{ServerContext, TlsError, TlsStream};
use futures_lite::future::zip;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use tls_support::{leaf, run, settle, Pki};

/// A connected TCP pair on the loopback.
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, accepted) = zip(TcpStream::connect(addr), listener.accept()).await;
    (client.unwrap(), accepted.unwrap().0)
}

fn truncated(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::UnexpectedEof && matches!(TlsError::from_io(e), Some(TlsError::Truncated))
}

#[test]
fn echo_over_tcp_with_info_on_both_sides() {
    let pki = Pki::new("generic CA");
    let id = pki.localhost();
    let server_ctx = ServerContext::builder()
        .cert_pem(id.chain.as_bytes(), id.key.as_bytes())
        .unwrap()
        .alpn(["x/1"])
        .build()
        .unwrap();
    let client_ctx = asyncio::tls::ClientContext::builder()
        .no_system_roots()
        .add_ca_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .alpn(["x/1"])
        .build()
        .unwrap();
    run(async move {
        let (c, s) = tcp_pair().await;
        let (client_addr, server_addr) = (c.local_addr().unwrap(), s.local_addr().unwrap());
        let (client, server) = zip(client_ctx.connect("localhost", c), server_ctx.accept(s)).await;
        let (mut client, mut server): (TlsStream<TcpStream>, TlsStream<TcpStream>) = (client.unwrap(), server.unwrap());
        assert_eq!(client.get_ref().peer_addr().unwrap(), server_addr);
        assert_eq!(server.get_ref().peer_addr().unwrap(), client_addr);

        let (ci, si) = (client.info(), server.info());
        assert_eq!(ci.protocol_version(), "TLSv1.3");
        assert_eq!(si.protocol_version(), "TLSv1.3");
        assert_eq!(ci.cipher_suite(), si.cipher_suite());
        assert!(ci.cipher_suite().starts_with("TLS13_"), "{}", ci.cipher_suite());
        assert_eq!(ci.alpn_protocol(), Some(&b"x/1"[..]));
        assert_eq!(si.alpn_protocol(), Some(&b"x/1"[..]));
        assert_eq!(ci.server_name(), Some("localhost"));
        assert_eq!(si.server_name(), Some("localhost"));
        assert_eq!(ci.peer_certificates().len(), 2);
        assert_eq!(ci.peer_certificates()[0], leaf(&id));
        assert!(si.peer_certificates().is_empty());
        assert!(format!("{client:?}").contains("TLSv1.3"));

        // Both ways at once, more than a record and more than the sockets
        // hold.
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
        let expected = data.clone();
        let server_side = async move {
            let mut got = Vec::new();
            server.read_to_end(&mut got).await.unwrap();
            server.write_all(&got).await.unwrap();
            server.close().await.unwrap();
        };
        let client_side = async move {
            client.write_all(&data).await.unwrap();
            // close: close_notify, then the write side's FIN; the server's
            // read_to_end ends cleanly on it, and this side still reads.
            client.close().await.unwrap();
            let mut back = Vec::new();
            client.read_to_end(&mut back).await.unwrap();
            back
        };
        let ((), back) = zip(server_side, client_side).await;
        assert!(back == expected, "{} bytes back", back.len());
    });
}

#[test]
fn over_a_unix_socket_pair() {
    let pki = Pki::new("unix pair CA");
    let server_ctx = Pki::server_ctx(&pki.server(&["peer.local"]));
    let client_ctx = pki.client_ctx();
    run(async move {
        let (a, b) = UnixStream::pair().unwrap();
        let (client, server) = zip(client_ctx.connect("peer.local", a), server_ctx.accept(b)).await;
        let (mut client, mut server) = (client.unwrap(), server.unwrap());
        assert_eq!(server.info().server_name(), Some("peer.local"));
        client.write_all(b"over unix").await.unwrap();
        client.close().await.unwrap();
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"over unix");
        server.close().await.unwrap();
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    });
}

#[test]
fn truncation_is_reported_both_ways() {
    let pki = Pki::new("generic truncation CA");
    let server_ctx = Pki::server_ctx(&pki.localhost());
    let client_ctx = pki.client_ctx();
    for server_cuts in [true, false] {
        let (server_ctx, client_ctx) = (server_ctx.clone(), client_ctx.clone());
        run(async move {
            let (c, s) = tcp_pair().await;
            let (client, server) = zip(client_ctx.connect("localhost", c), server_ctx.accept(s)).await;
            let (mut client, mut server) = (client.unwrap(), server.unwrap());
            // The client reads what the server sent after the handshake (its
            // session tickets come first): a socket closed with unread data
            // resets the connection, and the peer would see that instead.
            server.write_all(b"hello").await.unwrap();
            let mut hello = [0u8; 5];
            client.read_exact(&mut hello).await.unwrap();
            let (mut cutter, mut reader) = if server_cuts {
                (server, client)
            } else {
                (client, server)
            };
            cutter.write_all(b"partial").await.unwrap();
            cutter.flush().await.unwrap();
            // Dropped without close: the socket closes, no close_notify.
            drop(cutter);
            let mut got = [0u8; 7];
            reader.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"partial");
            let mut rest = Vec::new();
            let err = reader.read_to_end(&mut rest).await.unwrap_err();
            assert!(truncated(&err), "server cuts: {server_cuts}: {err:?}");
        });
    }
}

#[test]
fn the_streams_server_sees_a_client_that_aborts_as_truncation() {
    let pki = Pki::new("streams truncation CA");
    let server_ctx = Pki::server_ctx(&pki.localhost());
    let client_ctx = pki.client_ctx();
    run(async move {
        let seen: Rc<RefCell<Option<std::io::Result<Vec<u8>>>>> = Rc::new(RefCell::new(None));
        let s = seen.clone();
        let handler = move |mut reader: StreamReader, _writer: StreamWriter| {
            let s = s.clone();
            async move {
                *s.borrow_mut() = Some(reader.read_to_end().await);
            }
        };
        let server = asyncio::start_tls_server(handler, "127.0.0.1:0", &server_ctx)
            .await
            .unwrap();
        let port = server.local_addrs()[0].port();
        let (reader, writer) = asyncio::open_tls_connection(("localhost", port), &client_ctx)
            .await
            .unwrap();
        writer.write(b"half a message");
        writer.flush().await.unwrap();
        writer.abort();
        drop(reader);
        let s = seen.clone();
        settle(
            "the handler's read",
            move || s.borrow().is_some(),
            || "still reading".into(),
        )
        .await;
        let err = seen.borrow_mut().take().unwrap().unwrap_err();
        assert!(truncated(&err), "{err:?}");
        // A client that closes properly is a clean end.
        let (_reader, writer) = asyncio::open_tls_connection(("localhost", port), &client_ctx)
            .await
            .unwrap();
        writer.write(b"whole");
        writer.close();
        writer.wait_closed().await.unwrap();
        let s = seen.clone();
        settle(
            "the handler's read",
            move || s.borrow().is_some(),
            || "still reading".into(),
        )
        .await;
        assert_eq!(seen.borrow_mut().take().unwrap().unwrap(), b"whole");
        server.close();
        server.wait_closed().await;
    });
}

#[test]
fn a_peer_that_closes_during_the_handshake() {
    let pki = Pki::new("handshake eof CA");
    let server_ctx = Pki::server_ctx(&pki.localhost());
    let client_ctx = pki.client_ctx();
    run(async move {
        // The client sends half a hello and closes.
        let (c, s) = tcp_pair().await;
        c.write_all(b"\x16\x03\x01\x02\x00\x01\x00").await.unwrap();
        drop(c);
        let err = server_ctx.accept(s).await.unwrap_err();
        assert!(matches!(err, TlsError::HandshakeEof), "{err:?}");
        assert_eq!(std::io::Error::from(err).kind(), std::io::ErrorKind::UnexpectedEof);
        // The server reads the hello and closes.
        let (c, s) = tcp_pair().await;
        let server = async move {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
        };
        let (client, ()) = zip(client_ctx.connect("localhost", c), server).await;
        let err = client.unwrap_err();
        assert!(matches!(err, TlsError::HandshakeEof), "{err:?}");
    });
}

#[test]
fn ipv6_literals_as_server_names() {
    let pki = Pki::new("ipv6 CA");
    let server_ctx = Pki::server_ctx(&pki.server(&["::1"]));
    let client_ctx = pki.client_ctx();
    run(async move {
        let listener = match TcpListener::bind("[::1]:0").await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("ipv6_literals_as_server_names: skipped: no IPv6 loopback ({e})");
                return;
            }
        };
        let port = listener.local_addr().unwrap().port();
        let serve = {
            let server_ctx = server_ctx.clone();
            async move {
                for _ in 0..3 {
                    let (tcp, _) = listener.accept().await.unwrap();
                    let mut tls = server_ctx.accept(tcp).await.unwrap();
                    tls.write_all(b"v6").await.unwrap();
                    tls.close().await.unwrap();
                }
            }
        };
        let clients = async move {
            // As a bracketed literal, bare, and from the address itself.
            for name in ["[::1]", "::1"] {
                let tcp = TcpStream::connect(("::1", port)).await.unwrap();
                let mut tls = client_ctx.connect(name, tcp).await.unwrap();
                let mut got = Vec::new();
                tls.read_to_end(&mut got).await.unwrap();
                assert_eq!(got, b"v6");
            }
            let (mut r, _w) = asyncio::open_tls_connection(("::1", port), &client_ctx).await.unwrap();
            assert_eq!(r.read_to_end().await.unwrap(), b"v6");
        };
        zip(serve, clients).await;
    });
}
