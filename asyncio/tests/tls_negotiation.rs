//! What a handshake negotiates: the certificate chosen by SNI (two names,
//! two certificates, the default for any other name and for a client that
//! sends none), ALPN (chosen, absent, refused), and the version and cipher
//! suite both sides report.
#![cfg(feature = "tls")]

mod tls_support;

use std::net::SocketAddr;

use asyncio::net::{StreamReader, StreamWriter};
use asyncio::tls::rustls::AlertDescription;
use asyncio::tls::{ClientContext, ServerContext, TlsError};
use tls_support::{echo, good_client, leaf, one_server_handshake, run, serial, Baseline, Pki, TempDir};

/// Tells the client the name it asked for through SNI ("-" for none) and
/// the ALPN protocol chosen ("-" for none).
async fn names(_reader: StreamReader, writer: StreamWriter) -> std::io::Result<()> {
    let info = writer.tls_info().unwrap();
    let alpn = info
        .alpn_protocol()
        .map_or("-".to_owned(), |p| String::from_utf8_lossy(p).into_owned());
    writer.write(format!("{} {alpn}\n", info.server_name().unwrap_or("-")).as_bytes());
    writer.close();
    writer.wait_closed().await
}

#[test]
fn sni_selects_the_certificate() {
    let _serial = serial();
    let pki = Pki::new("sni CA");
    let default = pki.server(&["localhost", "127.0.0.1", "other.example"]);
    let a = pki.server(&["a.example"]);
    let b = pki.server(&["b.example"]);
    let dir = TempDir::new();
    let (b_cert, b_key) = b.write(dir.path(), "b");
    let server_ctx = ServerContext::builder()
        .cert_pem(default.chain.as_bytes(), default.key.as_bytes())
        .unwrap()
        .sni_cert_pem("a.example", a.chain.as_bytes(), a.key.as_bytes())
        .unwrap()
        .sni_cert_pem_files("B.Example", &b_cert, &b_key)
        .unwrap()
        .build()
        .unwrap();
    let client = pki.client_ctx();
    run(async move {
        let server = asyncio::start_tls_server(names, "127.0.0.1:0", &server_ctx)
            .await
            .unwrap();
        let addr = server.local_addrs()[0];
        let served = |name: &'static str| {
            let client = client.clone();
            async move {
                let (mut r, w) = asyncio::open_tls_connection_to(addr, name, &client)
                    .await
                    .unwrap_or_else(|e| panic!("{name}: {e:?}"));
                let leaf = w.tls_info().unwrap().peer_certificates()[0].clone();
                let line = String::from_utf8(r.readline().await.unwrap()).unwrap();
                (leaf, line)
            }
        };
        assert_eq!(served("a.example").await, (leaf(&a), "a.example -\n".into()));
        assert_eq!(served("b.example").await, (leaf(&b), "b.example -\n".into()));
        // Names compare without case, as DNS names do.
        assert_eq!(served("A.EXAMPLE").await.0, leaf(&a));
        // Another name gets the default certificate.
        assert_eq!(
            served("other.example").await,
            (leaf(&default), "other.example -\n".into())
        );
        // A client connecting to an IP address sends no SNI: the default.
        assert_eq!(served("127.0.0.1").await, (leaf(&default), "- -\n".into()));
        // A name the server has no certificate for: the default, which the
        // client refuses for that name.
        let err = asyncio::open_tls_connection_to(addr, "c.example", &client)
            .await
            .unwrap_err();
        assert!(matches!(err, TlsError::NotValidForName), "{err:?}");
        // A name's certificate replaced on the running server.
        let a2 = pki.server(&["a.example"]);
        let (cert, key) = a2.write(dir.path(), "a2");
        server_ctx.reload_sni_pem_files("a.example", &cert, &key).unwrap();
        // A fresh client: `client` holds TLS 1.3 session tickets from the
        // connections above, and a resumed session sends no certificate
        // (its info shows the one the session was made with).
        let fresh = pki.client_ctx();
        let (_r, w) = asyncio::open_tls_connection_to(addr, "a.example", &fresh)
            .await
            .unwrap();
        assert_eq!(w.tls_info().unwrap().peer_certificates()[0], leaf(&a2));
        let (_r, w) = asyncio::open_tls_connection_to(addr, "b.example", &fresh)
            .await
            .unwrap();
        assert_eq!(w.tls_info().unwrap().peer_certificates()[0], leaf(&b));
        server.close();
        server.wait_closed().await;
    });
}

fn server_alpn(pki: &Pki, protocols: &[&str]) -> ServerContext {
    let id = pki.localhost();
    ServerContext::builder()
        .cert_pem(id.chain.as_bytes(), id.key.as_bytes())
        .unwrap()
        .alpn(protocols)
        .build()
        .unwrap()
}

fn client_alpn(pki: &Pki, protocols: &[&str]) -> ClientContext {
    ClientContext::builder()
        .no_system_roots()
        .add_ca_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .alpn(protocols)
        .build()
        .unwrap()
}

#[test]
fn alpn_negotiated() {
    let _serial = serial();
    let pki = Pki::new("alpn CA");
    let cases: [(&[&str], &[&str], &str); 5] = [
        // The server's preference wins among what the client offers.
        (&["h2", "http/1.1"], &["http/1.1", "h2"], "h2"),
        (&["h2", "http/1.1"], &["http/1.1"], "http/1.1"),
        // Either side without ALPN: none, and the connection goes on.
        (&["h2"], &[], "-"),
        (&[], &["h2"], "-"),
        (&[], &[], "-"),
    ];
    for (server_side, client_side, expected) in cases {
        let server_ctx = server_alpn(&pki, server_side);
        let client = client_alpn(&pki, client_side);
        run(async move {
            let server = asyncio::start_tls_server(names, "127.0.0.1:0", &server_ctx)
                .await
                .unwrap();
            let port = server.local_addrs()[0].port();
            let (mut r, w) = asyncio::open_tls_connection(("localhost", port), &client)
                .await
                .unwrap();
            let line = String::from_utf8(r.readline().await.unwrap()).unwrap();
            assert_eq!(
                line,
                format!("localhost {expected}\n"),
                "{server_side:?} / {client_side:?}"
            );
            let ours = w.tls_info().unwrap();
            assert_eq!(ours.alpn_protocol().unwrap_or(b"-"), expected.as_bytes());
            server.close();
            server.wait_closed().await;
        });
    }
}

/// RFC 7301: a server with ALPN refuses a client that offers only other
/// protocols. The server's error is rustls's `NoApplicationProtocol`
/// (`TlsError::Protocol`); the client gets the server's alert.
#[test]
fn alpn_mismatch_is_refused() {
    let _serial = serial();
    let pki = Pki::new("alpn mismatch CA");
    let server_ctx = server_alpn(&pki, &["h2"]);
    let good = client_alpn(&pki, &["h2"]);
    let other = client_alpn(&pki, &["spdy/3", "http/1.1"]);
    let (ctx, o) = (server_ctx.clone(), other.clone());
    run(async move {
        let server = asyncio::start_tls_server(echo, "127.0.0.1:0", &ctx).await.unwrap();
        let port = server.local_addrs()[0].port();
        good_client(port, &good).await;
        let baseline = Baseline::take(&server, 0).await;
        let err = asyncio::open_tls_connection(("localhost", port), &o).await.unwrap_err();
        assert!(
            matches!(err, TlsError::PeerAlert(AlertDescription::NoApplicationProtocol)),
            "{err:?}"
        );
        baseline.check(&server).await;
        good_client(port, &good).await;
        baseline.check(&server).await;
        server.close();
        server.wait_closed().await;
    });
    run(async move {
        let (server, client) = one_server_handshake(&server_ctx, move |addr: SocketAddr| async move {
            asyncio::open_tls_connection_to(addr, "localhost", &other)
                .await
                .map(drop)
        })
        .await;
        let err = server.unwrap_err();
        assert!(
            matches!(
                err,
                TlsError::Protocol(asyncio::tls::rustls::Error::NoApplicationProtocol)
            ),
            "{err:?}"
        );
        assert!(client.await.unwrap().is_err());
    });
}

#[test]
fn version_and_cipher_suite_agree_on_both_sides() {
    let _serial = serial();
    let pki = Pki::new("info CA");
    let server_ctx = Pki::server_ctx(&pki.localhost());
    let client = pki.client_ctx();
    run(async move {
        let (server, client) = one_server_handshake(&server_ctx, move |addr| async move {
            let (_r, w) = asyncio::open_tls_connection_to(addr, "localhost", &client)
                .await
                .unwrap();
            let info = w.tls_info().unwrap();
            (
                info.protocol_version(),
                info.cipher_suite(),
                info.peer_certificates().len(),
            )
        })
        .await;
        let tls = server.unwrap();
        let info = tls.info();
        let (version, suite, certs) = client.await.unwrap();
        assert_eq!((info.protocol_version(), info.cipher_suite()), (version, suite));
        assert_eq!(version, "TLSv1.3");
        assert!(suite.starts_with("TLS13_"), "{suite}");
        // The server sent its leaf and the CA; the client sent nothing.
        assert_eq!(certs, 2);
        assert!(info.peer_certificates().is_empty());
        assert_eq!(info.server_name(), Some("localhost"));
        assert_eq!(info.alpn_protocol(), None);
    });
}

/// An SNI certificate must cover its name, and the name must be a DNS
/// name: found when the context is built, not at every client's handshake.
#[test]
fn sni_names_are_checked_at_configuration() {
    let _serial = serial();
    let pki = Pki::new("sni check CA");
    let default = pki.localhost();
    let a = pki.server(&["a.example"]);
    let wild = pki.server(&["*.wild.example"]);
    let builder = || {
        ServerContext::builder()
            .cert_pem(default.chain.as_bytes(), default.key.as_bytes())
            .unwrap()
    };
    for name in ["b.example", "127.0.0.1", "not a name", ""] {
        let err = builder()
            .sni_cert_pem(name, a.chain.as_bytes(), a.key.as_bytes())
            .unwrap_err();
        assert!(matches!(err, TlsError::Config(_)), "{name:?}: {err:?}");
    }
    // A wildcard certificate covers the names under it, and is served.
    let wild_ctx = builder()
        .sni_cert_pem("www.wild.example", wild.chain.as_bytes(), wild.key.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    let client = pki.client_ctx();
    let expected = leaf(&wild);
    run(async move {
        let server = asyncio::start_tls_server(names, "127.0.0.1:0", &wild_ctx)
            .await
            .unwrap();
        let (mut r, w) = asyncio::open_tls_connection_to(server.local_addrs()[0], "www.wild.example", &client)
            .await
            .unwrap();
        assert_eq!(w.tls_info().unwrap().peer_certificates()[0], expected);
        assert_eq!(r.readline().await.unwrap(), b"www.wild.example -\n");
        server.close();
        server.wait_closed().await;
    });
    // A reload under a name the certificate does not cover is refused, and
    // the name keeps its certificate.
    let dir = TempDir::new();
    let (cert, key) = a.write(dir.path(), "a");
    let ctx = builder()
        .sni_cert_pem("a.example", a.chain.as_bytes(), a.key.as_bytes())
        .unwrap()
        .build()
        .unwrap();
    let err = ctx.reload_sni_pem_files("b.example", &cert, &key).unwrap_err();
    assert!(matches!(err, TlsError::Config(_)), "{err:?}");
    ctx.reload_sni_pem_files("A.Example", &cert, &key).unwrap();
}

/// `ServerContext::with_alpn` derives a context with other ALPN protocols
/// that shares the certificates (a reload reaches both) and the timeouts.
#[test]
fn with_alpn_derives_a_context_sharing_the_certificates() {
    let _serial = serial();
    let pki = Pki::new("with_alpn CA");
    let first = pki.localhost();
    let second = pki.localhost();
    let base = ServerContext::builder()
        .cert_pem(first.chain.as_bytes(), first.key.as_bytes())
        .unwrap()
        .alpn(["h2", "http/1.1"])
        .handshake_timeout(std::time::Duration::from_secs(7))
        .build()
        .unwrap();
    let derived = base.with_alpn(["http/1.1"]);
    assert_eq!(derived.alpn_protocols(), &[b"http/1.1".to_vec()]);
    assert_eq!(base.alpn_protocols().len(), 2);
    assert_eq!(derived.handshake_timeout(), std::time::Duration::from_secs(7));
    base.reload_pem(second.chain.as_bytes(), second.key.as_bytes()).unwrap();
    let client = asyncio::tls::ClientContext::builder()
        .no_system_roots()
        .add_ca_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .alpn(["h2", "http/1.1"])
        .build()
        .unwrap();
    asyncio::run(async move {
        let server = asyncio::start_tls_server(
            |_r: asyncio::net::StreamReader, w: asyncio::net::StreamWriter| async move {
                w.close();
                let _ = w.wait_closed().await;
            },
            "127.0.0.1:0",
            &derived,
        )
        .await
        .unwrap();
        let port = server.local_addrs()[0].port();
        let (_r, w) = asyncio::open_tls_connection(("localhost", port), &client)
            .await
            .unwrap();
        let info = w.tls_info().unwrap();
        assert_eq!(info.alpn_protocol(), Some(&b"http/1.1"[..]));
        assert_eq!(info.peer_certificates()[0], tls_support::leaf(&second));
        server.close();
    });
}
