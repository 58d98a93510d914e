//! `StreamWriter::start_tls` / `start_tls_server` (STARTTLS, PostgreSQL's
//! `SSLRequest`): a client that sends its hello right behind the command
//! (the server's reader already holds part of it), data queued before the
//! upgrade going out first, a failed upgrade's error on both sides, and
//! misuse refused.
#![cfg(feature = "tls")]

mod tls_support;

use std::future::Future;
use std::time::Duration;

use asyncio::net::{StreamReader, StreamWriter};
use asyncio::tls::rustls::AlertDescription;
use asyncio::tls::{ServerContext, TlsError};
use futures_lite::AsyncBufReadExt;
use tls_support::{run, Pki};

/// Reads "STARTTLS\r\n", waits until the client's hello is in the reader's
/// buffer too (peeking, not consuming), upgrades, and echoes one line.
fn upgrading_server(
    ctx: ServerContext,
) -> impl Fn(StreamReader, StreamWriter) -> std::pin::Pin<Box<dyn Future<Output = ()>>> {
    move |mut reader, writer| {
        let ctx = ctx.clone();
        Box::pin(async move {
            if reader.readline().await.ok().as_deref() != Some(&b"STARTTLS\r\n"[..]) {
                return; // a connection the test leaves unused
            }
            let buffered = reader.fill_buf().await.unwrap();
            assert_eq!(buffered[0], 0x16, "a TLS handshake record follows the command");
            writer.start_tls_server(&mut reader, &ctx).await.unwrap();
            let line = reader.readline().await.unwrap();
            writer.write(&line);
            writer.close();
            writer.wait_closed().await.unwrap();
        })
    }
}

#[test]
fn the_hello_already_in_the_readers_buffer_is_used() {
    let pki = Pki::new("pipelined CA");
    let server_ctx = Pki::server_ctx(&pki.localhost());
    let client_ctx = pki.client_ctx();
    run(async move {
        let server = asyncio::start_server(upgrading_server(server_ctx), "127.0.0.1:0")
            .await
            .unwrap();
        let (mut reader, writer) = asyncio::open_connection(server.local_addrs()[0]).await.unwrap();
        // Queued, not yet written: start_tls writes it out before its hello.
        writer.write(b"STARTTLS\r\n");
        writer.start_tls(&mut reader, &client_ctx, "localhost").await.unwrap();
        assert_eq!(writer.tls_info().unwrap().server_name(), Some("localhost"));
        writer.write(b"over TLS now\n");
        assert_eq!(reader.readline().await.unwrap(), b"over TLS now\n");
        // The server closed with close_notify.
        assert_eq!(reader.read(10).await.unwrap(), b"");
        server.close();
        server.wait_closed().await;
    });
}

#[test]
fn a_failed_upgrade_is_an_error_on_both_sides() {
    let pki = Pki::new("upgrade CA");
    let stranger = Pki::new("upgrade stranger CA");
    let server_ctx = Pki::server_ctx(&pki.localhost());
    let client_ctx = stranger.client_ctx();
    run(async move {
        let server_side = std::rc::Rc::new(std::cell::RefCell::new(None));
        let seen = server_side.clone();
        let handler = move |mut reader: StreamReader, writer: StreamWriter| {
            let (ctx, seen) = (server_ctx.clone(), seen.clone());
            async move {
                let _ = reader.readline().await;
                *seen.borrow_mut() = Some(writer.start_tls_server(&mut reader, &ctx).await);
            }
        };
        let server = asyncio::start_server(handler, "127.0.0.1:0").await.unwrap();
        let (mut reader, writer) = asyncio::open_connection(server.local_addrs()[0]).await.unwrap();
        writer.write(b"STARTTLS\r\n");
        let err = writer
            .start_tls(&mut reader, &client_ctx, "localhost")
            .await
            .unwrap_err();
        assert!(matches!(err, TlsError::UnknownIssuer), "{err:?}");
        let s = server_side.clone();
        tls_support::settle(
            "the server's upgrade",
            move || s.borrow().is_some(),
            || "upgrading".into(),
        )
        .await;
        let err = server_side.borrow_mut().take().unwrap().unwrap_err();
        assert!(
            matches!(err, TlsError::PeerAlert(AlertDescription::UnknownCA)),
            "{err:?}"
        );
        server.close();
        server.wait_closed().await;
    });
}

#[test]
fn misuse_is_refused() {
    let pki = Pki::new("misuse CA");
    let server_ctx = Pki::server_ctx(&pki.localhost());
    let client_ctx = pki.client_ctx();
    run(async move {
        let server = asyncio::start_server(upgrading_server(server_ctx), "127.0.0.1:0")
            .await
            .unwrap();
        let addr = server.local_addrs()[0];
        let (mut reader, writer) = asyncio::open_connection(addr).await.unwrap();
        let (mut other_reader, _other_writer) = asyncio::open_connection(addr).await.unwrap();
        // A reader of another connection.
        let err = writer
            .start_tls(&mut other_reader, &client_ctx, "localhost")
            .await
            .unwrap_err();
        assert!(matches!(err, TlsError::Config(_)), "{err:?}");
        // A name that is not one.
        let err = writer
            .start_tls(&mut reader, &client_ctx, "not a name")
            .await
            .unwrap_err();
        assert!(matches!(err, TlsError::InvalidServerName(_)), "{err:?}");
        // The connection is still plain and usable: upgrade it properly...
        writer.write(b"STARTTLS\r\n");
        writer.start_tls(&mut reader, &client_ctx, "localhost").await.unwrap();
        // ...and not twice.
        let err = writer
            .start_tls(&mut reader, &client_ctx, "localhost")
            .await
            .unwrap_err();
        assert!(
            matches!(&err, TlsError::Config(why) if why.contains("already")),
            "{err:?}"
        );
        writer.write(b"still fine\n");
        assert_eq!(reader.readline().await.unwrap(), b"still fine\n");
        server.close();
        server.abort_clients();
        server.wait_closed().await;
    });
}

/// An upgrade the server never answers ends at the client context's
/// handshake timeout (asyncio's 60 s, on the virtual clock).
#[test]
fn an_unanswered_upgrade_times_out() {
    let pki = Pki::new("stalled upgrade CA");
    let client_ctx = pki.client_ctx();
    asyncio::Runner::new().virtual_time(true).run(async move {
        // Says yes, then never speaks TLS; holds the connection until the
        // client is gone.
        let handler = |mut reader: StreamReader, writer: StreamWriter| async move {
            let _ = reader.readline().await;
            writer.write(b"220 go ahead\r\n");
            let _ = reader.read_to_end().await;
        };
        let server = asyncio::start_server(handler, "127.0.0.1:0").await.unwrap();
        let (mut reader, writer) = asyncio::open_connection(server.local_addrs()[0]).await.unwrap();
        writer.write(b"STARTTLS\r\n");
        assert_eq!(reader.readline().await.unwrap(), b"220 go ahead\r\n");
        let start = asyncio::time::Instant::now();
        let err = writer
            .start_tls(&mut reader, &client_ctx, "localhost")
            .await
            .unwrap_err();
        assert!(matches!(err, TlsError::HandshakeTimeout), "{err:?}");
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(60) && waited < Duration::from_secs(61),
            "{waited:?}"
        );
        drop((reader, writer));
        server.close();
        server.wait_closed().await;
    });
}
