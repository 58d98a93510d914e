//! Closing a TLS connection: `close_notify` goes out after the data, and a
//! peer that never reads does not keep the close waiting past the
//! context's shutdown timeout (asyncio's `ssl_shutdown_timeout`, 30 s by
//! default), on the streams and on `TlsStream<IO>`; the server goes on
//! serving with nothing left behind.
#![cfg(feature = "tls")]

mod tls_support;

use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use asyncio::net::{StreamReader, StreamWriter, TcpListener, TcpStream};
use asyncio::sync::Event;
use asyncio::tls::{ClientContext, ServerContext, TlsError};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use tls_support::{good_client, run, run_virtual, serial, settle, Baseline, Identity, Pki};

fn server_ctx(id: &Identity, shutdown: Option<Duration>) -> ServerContext {
    let b = ServerContext::builder()
        .cert_pem(id.chain.as_bytes(), id.key.as_bytes())
        .unwrap();
    match shutdown {
        Some(t) => b.shutdown_timeout(t),
        None => b,
    }
    .build()
    .unwrap()
}

const BIG: usize = 16 << 20;

/// Answers "big" with 16 MiB and closes, recording how the close ended and
/// how long it took (loop time); anything else it echoes once and closes.
/// How the server's close ended, and how long it took.
type Outcome = Rc<std::cell::RefCell<Option<(std::io::Result<()>, Duration)>>>;

fn big_writer(outcome: Outcome) -> impl Fn(StreamReader, StreamWriter) -> std::pin::Pin<Box<dyn Future<Output = ()>>> {
    move |mut reader, writer| {
        let outcome = outcome.clone();
        Box::pin(async move {
            let line = reader.readline().await.unwrap_or_default();
            if line != b"big\n" {
                writer.write(&line);
                writer.close();
                let _ = writer.wait_closed().await;
                return;
            }
            writer.write(&vec![7u8; BIG]);
            let start = asyncio::time::Instant::now();
            writer.close();
            let r = writer.wait_closed().await;
            *outcome.borrow_mut() = Some((r, start.elapsed()));
        })
    }
}

/// A client that asks for the 16 MiB and reads none of them until
/// `server_done` is set (the server has given up); then returns what
/// reading to the end gives.
async fn stalling_client(port: u16, ctx: &ClientContext, server_done: Rc<Event>) -> std::io::Result<Vec<u8>> {
    // By address: no resolver thread on the virtual clock.
    let (mut reader, writer) = asyncio::open_tls_connection_to(("127.0.0.1", port), "localhost", ctx)
        .await
        .unwrap();
    writer.write(b"big\n");
    writer.flush().await.unwrap();
    server_done.wait().await;
    (reader.read_to_end().await, writer).0
}

#[test]
fn a_peer_that_never_reads_is_cut_at_the_shutdown_timeout() {
    let _serial = serial();
    let pki = Pki::new("shutdown CA");
    let ctx = server_ctx(&pki.localhost(), None);
    assert_eq!(ctx.shutdown_timeout(), Duration::from_secs(30));
    // asyncio's 30 s, on the virtual clock.
    run_virtual(async move {
        let outcome = Rc::new(std::cell::RefCell::new(None));
        let server = asyncio::start_tls_server(big_writer(outcome.clone()), "127.0.0.1:0", &ctx)
            .await
            .unwrap();
        let port = server.local_addrs()[0].port();
        let good = pki.client_ctx();
        good_client(port, &good).await;
        let baseline = Baseline::take(&server, 0).await;
        let done = Rc::new(Event::new());
        let d = done.clone();
        let client = asyncio::create_task(async move { stalling_client(port, &pki.client_ctx(), d).await });
        let o = outcome.clone();
        settle(
            "the server's close",
            move || o.borrow().is_some(),
            || "still closing".into(),
        )
        .await;
        done.set();
        let (result, took) = outcome.borrow_mut().take().unwrap();
        let err = result.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err:?}");
        assert!(
            took >= Duration::from_secs(30) && took < Duration::from_secs(31),
            "{took:?}"
        );
        // The client, which read nothing, finds the connection cut: not a
        // clean end (no close_notify came).
        let read = client.await.unwrap();
        match read {
            Err(e) => assert!(
                matches!(TlsError::from_io(&e), Some(TlsError::Truncated))
                    || e.kind() == std::io::ErrorKind::ConnectionReset,
                "{e:?}"
            ),
            Ok(data) => panic!("a clean end after {} bytes", data.len()),
        }
        baseline.check(&server).await;
        good_client(port, &good).await;
        baseline.check(&server).await;
        server.close();
        server.wait_closed().await;
    });
}

#[test]
fn a_short_shutdown_timeout_on_the_context() {
    let _serial = serial();
    let pki = Pki::new("short shutdown CA");
    let ctx = server_ctx(&pki.localhost(), Some(Duration::from_millis(100)));
    run(async move {
        let outcome = Rc::new(std::cell::RefCell::new(None));
        let server = asyncio::start_tls_server(big_writer(outcome.clone()), "127.0.0.1:0", &ctx)
            .await
            .unwrap();
        let port = server.local_addrs()[0].port();
        let done = Rc::new(Event::new());
        let d = done.clone();
        let client = asyncio::create_task(async move { stalling_client(port, &pki.client_ctx(), d).await });
        let o = outcome.clone();
        settle(
            "the server's close",
            move || o.borrow().is_some(),
            || "still closing".into(),
        )
        .await;
        done.set();
        let (result, took) = outcome.borrow_mut().take().unwrap();
        assert_eq!(result.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
        assert!(took >= Duration::from_millis(100), "{took:?}");
        assert!(client.await.unwrap().is_err());
        server.close();
        server.wait_closed().await;
    });
}

#[test]
fn a_peer_that_reads_gets_everything_and_a_clean_end() {
    let _serial = serial();
    let pki = Pki::new("healthy shutdown CA");
    // A shutdown timeout far longer than the transfer: the close is not
    // cut while the peer reads.
    let ctx = server_ctx(&pki.localhost(), Some(Duration::from_secs(20)));
    let client = pki.client_ctx();
    run(async move {
        let outcome = Rc::new(std::cell::RefCell::new(None));
        let server = asyncio::start_tls_server(big_writer(outcome.clone()), "127.0.0.1:0", &ctx)
            .await
            .unwrap();
        let port = server.local_addrs()[0].port();
        let (mut reader, writer) = asyncio::open_tls_connection(("localhost", port), &client)
            .await
            .unwrap();
        writer.write(b"big\n");
        let data = reader.read_to_end().await.unwrap();
        assert_eq!(data.len(), BIG);
        assert!(data.iter().all(|&b| b == 7));
        let o = outcome.clone();
        settle(
            "the server's close",
            move || o.borrow().is_some(),
            || "still closing".into(),
        )
        .await;
        outcome.borrow_mut().take().unwrap().0.unwrap();
        server.close();
        server.wait_closed().await;
    });
}

/// `TlsStream<IO>::close` when the peer does not read: fails with
/// `TimedOut` at the shutdown timeout (virtual clock) instead of waiting
/// forever.
#[test]
fn tls_stream_close_is_bounded_by_the_shutdown_timeout() {
    let _serial = serial();
    let pki = Pki::new("generic shutdown CA");
    let ctx = server_ctx(&pki.localhost(), None);
    let client = pki.client_ctx();
    run_virtual(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let done = Rc::new(Event::new());
        let d = done.clone();
        let peer = asyncio::create_task(async move {
            let tcp = TcpStream::connect(addr).await.unwrap();
            let mut tls = client.connect("localhost", tcp).await.unwrap();
            // Holds the connection, reading nothing, until the server is
            // done with it; then finds it cut.
            d.wait().await;
            let mut rest = Vec::new();
            tls.read_to_end(&mut rest).await.unwrap_err()
        });
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = ctx.accept(tcp).await.unwrap();
        // Fill everything between us and the peer: writes until one has to
        // wait.
        let chunk = vec![1u8; 64 * 1024];
        let mut sent = 0;
        while let Some(n) = futures_lite::future::poll_once(tls.write(&chunk)).await {
            sent += n.unwrap();
        }
        assert!(sent > 0);
        let start = asyncio::time::Instant::now();
        let err = tls.close().await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err:?}");
        let took = start.elapsed();
        assert!(
            took >= Duration::from_secs(30) && took < Duration::from_secs(31),
            "{took:?}"
        );
        drop(tls);
        done.set();
        let err = peer.await.unwrap();
        assert!(
            matches!(TlsError::from_io(&err), Some(TlsError::Truncated))
                || err.kind() == std::io::ErrorKind::ConnectionReset,
            "{err:?}"
        );
    });
}

/// Dropping the reader and writer without `close` ends the connection as
/// on a plain socket: the data goes out, then `close_notify`, and the peer
/// reads a clean end, not a truncation; `abort` still cuts it.
#[test]
fn dropping_the_streams_closes_with_close_notify() {
    let _serial = serial();
    let pki = Pki::new("drop CA");
    let ctx = server_ctx(&pki.localhost(), None);
    let client = pki.client_ctx();
    run(async move {
        let seen: Rc<std::cell::RefCell<Vec<std::io::Result<Vec<u8>>>>> = Rc::default();
        let s = seen.clone();
        let handler = move |mut reader: StreamReader, writer: StreamWriter| {
            let s = s.clone();
            async move {
                match reader.readline().await.unwrap_or_default().as_slice() {
                    // Writes and returns: the flusher sends the 4 MiB, then
                    // the last handle goes.
                    b"drop\n" => writer.write(&vec![5u8; 4 << 20]),
                    b"abort\n" => {
                        writer.write(b"cut");
                        writer.flush().await.unwrap();
                        writer.abort();
                    }
                    // Reads what the client sends until it drops its side.
                    _ => {
                        writer.write(b"ready\n");
                        let rest = reader.read_to_end().await;
                        s.borrow_mut().push(rest);
                    }
                }
            }
        };
        let server = asyncio::start_tls_server(handler, "127.0.0.1:0", &ctx).await.unwrap();
        let port = server.local_addrs()[0].port();

        let (mut r, w) = asyncio::open_tls_connection(("localhost", port), &client)
            .await
            .unwrap();
        w.write(b"drop\n");
        let data = r.read_to_end().await.unwrap();
        assert_eq!(data.len(), 4 << 20);

        let (mut r, w) = asyncio::open_tls_connection(("localhost", port), &client)
            .await
            .unwrap();
        w.write(b"abort\n");
        assert_eq!(r.readexactly(3).await.unwrap(), b"cut");
        let err = r.read(10).await.unwrap_err();
        assert!(matches!(TlsError::from_io(&err), Some(TlsError::Truncated)), "{err:?}");

        let (mut r, w) = asyncio::open_tls_connection(("localhost", port), &client)
            .await
            .unwrap();
        w.write(b"read\n");
        // Read, and the server's session tickets before it: a socket closed
        // with unread data resets the connection.
        assert_eq!(r.readline().await.unwrap(), b"ready\n");
        w.write(b"some data");
        w.flush().await.unwrap();
        drop((r, w));
        let s = seen.clone();
        settle("the server's read", move || !s.borrow().is_empty(), || "reading".into()).await;
        assert_eq!(seen.borrow_mut().pop().unwrap().unwrap(), b"some data");
        server.close();
        server.wait_closed().await;
    });
}

/// A read waiting when this side closes (or aborts) ends with the end of
/// the stream, as on a plain socket, not with the truncation error meant
/// for a peer that vanished.
#[test]
fn a_local_close_ends_a_pending_read_cleanly() {
    let _serial = serial();
    let pki = Pki::new("local close CA");
    let ctx = server_ctx(&pki.localhost(), None);
    let client = pki.client_ctx();
    run(async move {
        let server = asyncio::start_tls_server(tls_support::echo, "127.0.0.1:0", &ctx)
            .await
            .unwrap();
        let port = server.local_addrs()[0].port();
        for abort in [false, true] {
            let (mut r, w) = asyncio::open_tls_connection_to(("127.0.0.1", port), "localhost", &client)
                .await
                .unwrap();
            let reader = asyncio::create_task(async move { r.read(100).await });
            // The reader is waiting on the socket.
            asyncio::yield_now().await;
            assert!(!reader.done());
            if abort {
                w.abort();
            } else {
                w.close();
                w.wait_closed().await.unwrap();
            }
            let got = reader.await.unwrap();
            assert!(matches!(&got, Ok(b) if b.is_empty()), "abort: {abort}: {got:?}");
        }
        server.close();
        server.wait_closed().await;
    });
}

/// `Server::close_clients` on a TLS server ends each connection through its
/// TLS layer: the handler's pending read meets a clean end of stream, and
/// the client gets `close_notify` (a clean end too, not a truncation), as
/// asyncio's `close_clients` closes each transport gracefully.
#[test]
fn close_clients_closes_tls_connections_with_close_notify() {
    let _serial = serial();
    let pki = Pki::new("close_clients CA");
    let ctx = server_ctx(&pki.localhost(), None);
    let client = pki.client_ctx();
    run(async move {
        let handler_saw = Rc::new(std::cell::RefCell::new(Vec::new()));
        let waiting = Rc::new(std::cell::Cell::new(0));
        let (saw, started) = (handler_saw.clone(), waiting.clone());
        let handler = move |mut reader: StreamReader, _writer: StreamWriter| {
            let saw = saw.clone();
            started.set(started.get() + 1);
            async move {
                let got = reader.read(100).await;
                saw.borrow_mut().push(got.map_err(|e| e.to_string()));
            }
        };
        let server = asyncio::start_tls_server(handler, "127.0.0.1:0", &ctx).await.unwrap();
        let port = server.local_addrs()[0].port();
        let mut readers = Vec::new();
        for _ in 0..3 {
            let (r, w) = asyncio::open_tls_connection_to(("127.0.0.1", port), "localhost", &client)
                .await
                .unwrap();
            readers.push((r, w));
        }
        // Past their handshakes (a handler runs once its handshake is done).
        settle(
            "three handlers waiting on their reads",
            || waiting.get() == 3,
            || format!("{} handlers", waiting.get()),
        )
        .await;
        server.close();
        server.close_clients();
        server.wait_closed().await;
        assert_eq!(*handler_saw.borrow(), vec![Ok(Vec::new()); 3]);
        for (mut r, _w) in readers {
            assert_eq!(r.read(100).await.unwrap(), b"");
        }
    });
}
