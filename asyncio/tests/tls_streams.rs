//! TLS on the streams: an echo over TCP and Unix sockets, what the
//! handshake negotiated, STARTTLS with `StreamWriter::start_tls`, close
//! with `close_notify`, truncation, certificate reload.
#![cfg(feature = "tls")]

mod tls_support;

use asyncio::net::{StreamReader, StreamWriter};
use asyncio::tls::{ServerContext, TlsError};
use tls_support::{echo, Pki, TempDir};

#[test]
fn echo_over_tcp_with_info() {
    let pki = Pki::new("echo CA");
    let id = pki.localhost();
    let server_ctx = ServerContext::builder()
        .cert_pem(id.chain.as_bytes(), id.key.as_bytes())
        .unwrap()
        .alpn(["echo/1"])
        .build()
        .unwrap();
    let client_ctx = asyncio::tls::ClientContext::builder()
        .no_system_roots()
        .add_ca_pem(pki.ca_pem.as_bytes())
        .unwrap()
        .alpn(["echo/1"])
        .build()
        .unwrap();
    asyncio::run(async move {
        let server = asyncio::start_tls_server(echo, "127.0.0.1:0", &server_ctx)
            .await
            .unwrap();
        let port = server.local_addrs()[0].port();
        let (mut reader, writer) = asyncio::open_tls_connection(("localhost", port), &client_ctx)
            .await
            .unwrap();
        let info = writer.tls_info().expect("a TLS connection");
        assert_eq!(info.protocol_version(), "TLSv1.3");
        assert_eq!(info.alpn_protocol(), Some(&b"echo/1"[..]));
        assert!(!info.cipher_suite().is_empty());
        assert_eq!(info.peer_certificates().len(), 2);
        // Large enough to need several records and the flusher.
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        writer.write(&data);
        writer.write_eof();
        let back = reader.read_to_end().await.unwrap();
        assert_eq!(back.len(), data.len());
        assert!(back == data);
        server.close();
        server.wait_closed().await;
    });
}

#[test]
fn echo_over_unix_socket() {
    let pki = Pki::new("unix CA");
    let id = pki.server(&["unix.local"]);
    let server_ctx = Pki::server_ctx(&id);
    let client_ctx = pki.client_ctx();
    let dir = TempDir::new();
    let path = dir.path().join("tls.sock");
    asyncio::run(async move {
        let server = asyncio::start_unix_tls_server(echo, &path, &server_ctx).await.unwrap();
        let (mut reader, writer) = asyncio::open_unix_tls_connection(&path, "unix.local", &client_ctx)
            .await
            .unwrap();
        writer.write(b"hello over unix\n");
        assert_eq!(reader.readline().await.unwrap(), b"hello over unix\n");
        writer.close();
        writer.wait_closed().await.unwrap();
        server.close();
        server.wait_closed().await;
    });
}

#[test]
fn starttls_upgrades_in_place() {
    let pki = Pki::new("starttls CA");
    let server_ctx = Pki::server_ctx(&pki.localhost());
    let client_ctx = pki.client_ctx();
    asyncio::run(async move {
        let handler = move |mut reader: StreamReader, writer: StreamWriter| {
            let server_ctx = server_ctx.clone();
            async move {
                let line = reader.readline().await.unwrap();
                assert_eq!(line, b"STARTTLS\r\n");
                writer.write(b"220 go ahead\r\n");
                writer.start_tls_server(&mut reader, &server_ctx).await.unwrap();
                assert!(writer.tls_info().is_some());
                let line = reader.readline().await.unwrap();
                writer.write(&line);
                writer.close();
                writer.wait_closed().await.unwrap();
            }
        };
        let server = asyncio::start_server(handler, "127.0.0.1:0").await.unwrap();
        let addr = server.local_addrs()[0];
        let (mut reader, writer) = asyncio::open_connection(addr).await.unwrap();
        assert!(writer.tls_info().is_none());
        writer.write(b"STARTTLS\r\n");
        assert_eq!(reader.readline().await.unwrap(), b"220 go ahead\r\n");
        writer.start_tls(&mut reader, &client_ctx, "localhost").await.unwrap();
        let clone = writer.clone();
        clone.write(b"secret\n");
        assert_eq!(reader.readline().await.unwrap(), b"secret\n");
        assert_eq!(clone.tls_info().unwrap().protocol_version(), "TLSv1.3");
        // The server closed with close_notify: a clean end of stream.
        assert_eq!(reader.read(100).await.unwrap(), b"");
        server.close();
    });
}

#[test]
fn close_without_close_notify_is_truncation() {
    let pki = Pki::new("truncation CA");
    let server_ctx = Pki::server_ctx(&pki.localhost());
    let client_ctx = pki.client_ctx();
    asyncio::run(async move {
        // The server aborts: the socket closes with no close_notify.
        let handler = |_reader: StreamReader, writer: StreamWriter| async move {
            writer.write(b"partial");
            writer.flush().await.unwrap();
            writer.abort();
        };
        let server = asyncio::start_tls_server(handler, "127.0.0.1:0", &server_ctx)
            .await
            .unwrap();
        let port = server.local_addrs()[0].port();
        let (mut reader, _writer) = asyncio::open_tls_connection(("127.0.0.1", port), &client_ctx)
            .await
            .unwrap();
        assert_eq!(reader.readexactly(7).await.unwrap(), b"partial");
        let err = reader.read(100).await.unwrap_err();
        assert!(matches!(TlsError::from_io(&err), Some(TlsError::Truncated)), "{err:?}");
        server.close();
    });
}

#[test]
fn reload_serves_the_new_certificate_to_new_connections() {
    let pki = Pki::new("reload CA");
    let first = pki.localhost();
    let second = pki.localhost();
    let dir = TempDir::new();
    let (cert, key) = second.write(dir.path(), "second");
    let server_ctx = Pki::server_ctx(&first);
    let client_ctx = pki.client_ctx();
    asyncio::run(async move {
        let server = asyncio::start_tls_server(echo, "127.0.0.1:0", &server_ctx)
            .await
            .unwrap();
        let port = server.local_addrs()[0].port();
        let leaf = |id: &tls_support::Identity| {
            use asyncio::tls::rustls::pki_types::pem::PemObject;
            asyncio::tls::rustls::pki_types::CertificateDer::pem_slice_iter(id.chain.as_bytes())
                .next()
                .unwrap()
                .unwrap()
        };
        let (_r1, w1) = asyncio::open_tls_connection(("localhost", port), &client_ctx)
            .await
            .unwrap();
        assert_eq!(w1.tls_info().unwrap().peer_certificates()[0], leaf(&first));
        server_ctx.reload_pem_files(&cert, &key).unwrap();
        let (_r2, w2) = asyncio::open_tls_connection(("localhost", port), &client_ctx)
            .await
            .unwrap();
        assert_eq!(w2.tls_info().unwrap().peer_certificates()[0], leaf(&second));
        // A bad reload keeps the current certificate.
        std::fs::write(&key, pki.localhost().key).unwrap();
        assert!(matches!(
            server_ctx.reload_pem_files(&cert, &key),
            Err(TlsError::Config(_))
        ));
        let (_r3, w3) = asyncio::open_tls_connection(("localhost", port), &client_ctx)
            .await
            .unwrap();
        assert_eq!(w3.tls_info().unwrap().peer_certificates()[0], leaf(&second));
        server.close();
    });
}
