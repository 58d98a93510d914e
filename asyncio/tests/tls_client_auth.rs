//! Client certificates (mutual TLS): a server that requires one refuses a
//! client without (`CertificateRequired`) and one from a CA it does not
//! trust (`UnknownIssuer`), each a distinct error on both sides, and goes
//! on serving good clients with nothing left behind; a server for which
//! the certificate is optional serves both kinds and sees which is which.
#![cfg(feature = "tls")]

mod tls_support;

use asyncio::net::{StreamReader, StreamWriter};
use asyncio::tls::rustls::AlertDescription;
use asyncio::tls::{ClientContext, ServerContext, TlsError};
use tls_support::{echo, leaf, one_server_handshake, run, serial, survives, Identity, Pki};

/// A client context trusting `pki`'s CA and presenting `id`.
fn client_with(pki: &Pki, id: &Identity) -> ClientContext {
    ClientContext::builder()
        .no_system_roots()
        .add_ca_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .client_cert_pem(id.chain.as_bytes(), id.key.as_bytes())
        .unwrap()
        .build()
        .unwrap()
}

/// A server context serving `pki`'s localhost certificate and requiring
/// (or, if `optional`, accepting) client certificates from `clients`' CA.
fn server_for(pki: &Pki, clients: &Pki, optional: bool) -> ServerContext {
    let id = pki.localhost();
    let b = ServerContext::builder()
        .cert_pem(id.chain.as_bytes(), id.key.as_bytes())
        .unwrap();
    let b = if optional {
        b.client_auth_optional_pem(clients.ca_pem.as_bytes()).unwrap()
    } else {
        b.client_auth_required_pem(clients.ca_pem.as_bytes()).unwrap()
    };
    b.build().unwrap()
}

/// How a refused client learns it: in TLS 1.3 the client's handshake is
/// over once it has sent its Finished (and certificate), before the server
/// has judged the certificate, so `open_tls_connection` succeeds and the
/// server's alert is the error of the first read. (Python's `ssl` behaves
/// the same with TLS 1.3.)
async fn refused(port: u16, ctx: &ClientContext) -> TlsError {
    let (mut reader, writer) = asyncio::open_tls_connection(("localhost", port), ctx)
        .await
        .expect("the client's side of the handshake completes under TLS 1.3");
    assert_eq!(writer.tls_info().unwrap().protocol_version(), "TLSv1.3");
    let err = reader.read(100).await.unwrap_err();
    match TlsError::from(err) {
        TlsError::Io(e) => panic!("not a TLS error: {e:?}"),
        e => e,
    }
}

#[test]
fn required_client_certificate_missing() {
    let _serial = serial();
    let pki = Pki::new("mtls server CA");
    let clients = Pki::new("mtls client CA");
    let server_ctx = server_for(&pki, &clients, false);
    let good = client_with(&pki, &clients.client("alice"));
    let anonymous = pki.client_ctx();
    let (ctx, anon) = (server_ctx.clone(), anonymous.clone());
    run(async move {
        survives(&ctx, &good, 0, |port| async move {
            let err = refused(port, &anon).await;
            assert!(
                matches!(err, TlsError::PeerAlert(AlertDescription::CertificateRequired)),
                "{err:?}"
            );
        })
        .await;
    });
    run(async move {
        let (server, client) = one_server_handshake(&server_ctx, move |addr| async move {
            let (mut r, _w) = asyncio::open_tls_connection_to(addr, "localhost", &anonymous)
                .await
                .unwrap();
            r.read(100).await.unwrap_err()
        })
        .await;
        let err = server.unwrap_err();
        assert!(matches!(err, TlsError::CertificateRequired), "{err:?}");
        client.await.unwrap();
    });
}

#[test]
fn client_certificate_from_an_untrusted_ca() {
    let _serial = serial();
    let pki = Pki::new("mtls2 server CA");
    let clients = Pki::new("mtls2 client CA");
    let stranger = Pki::new("mtls2 stranger CA");
    let server_ctx = server_for(&pki, &clients, false);
    let good = client_with(&pki, &clients.client("alice"));
    let mallory = client_with(&pki, &stranger.client("mallory"));
    let (ctx, m) = (server_ctx.clone(), mallory.clone());
    run(async move {
        survives(&ctx, &good, 0, |port| async move {
            let err = refused(port, &m).await;
            assert!(
                matches!(err, TlsError::PeerAlert(AlertDescription::UnknownCA)),
                "{err:?}"
            );
        })
        .await;
    });
    run(async move {
        let (server, client) = one_server_handshake(&server_ctx, move |addr| async move {
            let (mut r, _w) = asyncio::open_tls_connection_to(addr, "localhost", &mallory)
                .await
                .unwrap();
            r.read(100).await.unwrap_err()
        })
        .await;
        let err = server.unwrap_err();
        assert!(matches!(err, TlsError::UnknownIssuer), "{err:?}");
        client.await.unwrap();
    });
}

/// Tells the client how many certificates it presented, and whose the
/// first is (its DER length, enough to tell two apart), then echoes.
async fn whoami(reader: StreamReader, writer: StreamWriter) -> std::io::Result<()> {
    let info = writer.tls_info().unwrap();
    let certs = info.peer_certificates();
    let first = certs.first().map_or(0, |c| c.len());
    writer.write(format!("{} {first}\n", certs.len()).as_bytes());
    echo(reader, writer).await
}

#[test]
fn optional_client_certificate_accepts_both() {
    let _serial = serial();
    let pki = Pki::new("optional server CA");
    let clients = Pki::new("optional client CA");
    let alice = clients.client("alice");
    let server_ctx = server_for(&pki, &clients, true);
    let with_cert = client_with(&pki, &alice);
    let without = pki.client_ctx();
    let stranger = Pki::new("optional stranger CA");
    let mallory = client_with(&pki, &stranger.client("mallory"));
    run(async move {
        let server = asyncio::start_tls_server(whoami, "127.0.0.1:0", &server_ctx)
            .await
            .unwrap();
        let port = server.local_addrs()[0].port();
        for (ctx, expected) in [
            (&with_cert, format!("2 {}\n", leaf(&alice).len())),
            (&without, "0 0\n".to_owned()),
        ] {
            let (mut r, w) = asyncio::open_tls_connection(("localhost", port), ctx).await.unwrap();
            assert_eq!(String::from_utf8(r.readline().await.unwrap()).unwrap(), expected);
            w.write(b"more\n");
            assert_eq!(r.readline().await.unwrap(), b"more\n");
            w.close();
            w.wait_closed().await.unwrap();
        }
        // Optional is not "anything goes": a certificate that is sent is
        // verified.
        let err = refused(port, &mallory).await;
        assert!(
            matches!(err, TlsError::PeerAlert(AlertDescription::UnknownCA)),
            "{err:?}"
        );
        server.close();
        server.wait_closed().await;
    });
}

#[test]
fn the_server_sees_the_client_certificate() {
    let _serial = serial();
    let pki = Pki::new("seen server CA");
    let clients = Pki::new("seen client CA");
    let alice = clients.client("alice");
    let server_ctx = server_for(&pki, &clients, false);
    let ctx = client_with(&pki, &alice);
    run(async move {
        let (server, client) = one_server_handshake(&server_ctx, move |addr| async move {
            let (mut r, w) = asyncio::open_tls_connection_to(addr, "localhost", &ctx).await.unwrap();
            // The client keeps the name it connected to.
            let info = w.tls_info().unwrap();
            assert_eq!(info.server_name(), Some("localhost"));
            w.write(b"hi");
            // A half-close: close_notify, and the reading side stays open.
            w.write_eof();
            r.read_to_end().await.unwrap()
        })
        .await;
        let mut tls = server.unwrap();
        let info = tls.info();
        assert_eq!(info.peer_certificates().len(), 2);
        assert_eq!(info.peer_certificates()[0], leaf(&alice));
        assert_eq!(info.server_name(), Some("localhost"));
        use futures_lite::{AsyncReadExt, AsyncWriteExt};
        let mut got = Vec::new();
        tls.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"hi");
        tls.write_all(b"bye").await.unwrap();
        tls.close().await.unwrap();
        assert_eq!(client.await.unwrap(), b"bye");
    });
}

/// Under TLS 1.2 the server judges the client's certificate before the
/// client's handshake ends: the refusal is the error of the connection
/// itself, not of the first read as under TLS 1.3.
#[test]
fn tls12_client_without_a_required_certificate() {
    use asyncio::tls::rustls;
    use std::sync::Arc;
    let _serial = serial();
    let pki = Pki::new("tls12 mtls server CA");
    let clients = Pki::new("tls12 mtls client CA");
    let server_ctx = server_for(&pki, &clients, false);
    let mut roots = rustls::RootCertStore::empty();
    {
        use rustls::pki_types::pem::PemObject;
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tls12 = ClientContext::from_rustls(Arc::new(config));
    run(async move {
        let (server, client) = one_server_handshake(&server_ctx, move |addr| async move {
            asyncio::open_tls_connection_to(addr, "localhost", &tls12)
                .await
                .map(drop)
        })
        .await;
        let err = server.unwrap_err();
        assert!(matches!(err, TlsError::CertificateRequired), "{err:?}");
        let err = client.await.unwrap().unwrap_err();
        assert!(
            matches!(err, TlsError::PeerAlert(AlertDescription::CertificateRequired)),
            "{err:?}"
        );
    });
}
