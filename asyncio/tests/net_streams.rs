//! asyncio's streams API: echo at 1,000 connections, resets in every phase,
//! half-close, reader limits, back-pressure, and the server's life.

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use asyncio::net::{open_connection, start_server, ReadError, StreamReader, StreamWriter, TcpStream};

const LIMIT: Duration = Duration::from_secs(10);

async fn echo_lines(mut reader: StreamReader, writer: StreamWriter) -> io::Result<()> {
    loop {
        let line = reader.readline().await?;
        if line.is_empty() {
            break;
        }
        writer.write(&line);
        writer.drain().await?;
    }
    writer.close();
    writer.wait_closed().await
}

fn run<F: std::future::Future>(f: F) -> F::Output {
    asyncio::run(async move { asyncio::timeout(LIMIT, f).await.expect("test took over 10 s") })
}

#[test]
fn echo_with_a_thousand_concurrent_connections() {
    run(async {
        let server = start_server(echo_lines, "127.0.0.1:0").await.unwrap();
        let addr = server.local_addrs()[0];
        let clients: Vec<_> = (0..1000)
            .map(|i| {
                asyncio::create_task(async move {
                    let (mut r, w) = open_connection(addr).await?;
                    for j in 0..3 {
                        let msg = format!("client {i} line {j}\n");
                        w.write(msg.as_bytes());
                        let back = r.readline().await.map_err(io::Error::from)?;
                        assert_eq!(back, msg.as_bytes());
                    }
                    w.close();
                    assert!(r.read_to_end().await?.is_empty());
                    io::Result::Ok(())
                })
            })
            .collect();
        let mut ok = 0;
        for c in clients {
            c.await.unwrap().unwrap();
            ok += 1;
        }
        assert_eq!(ok, 1000);
        server.close();
        server.wait_closed().await;
        assert_eq!(server.clients(), 0);
    });
}

#[test]
fn half_close_lets_the_peer_answer_after_end_of_stream() {
    run(async {
        let server = start_server(
            |mut r: StreamReader, w: StreamWriter| async move {
                let all = r.read_to_end().await.unwrap();
                w.write(format!("got {} bytes", all.len()).as_bytes());
                w.close();
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let (mut r, w) = open_connection(server.local_addrs()[0]).await.unwrap();
        w.write(&[7u8; 100_000]);
        w.write_eof();
        assert_eq!(r.read_to_end().await.unwrap(), b"got 100000 bytes");
        server.close();
    });
}

#[test]
fn reader_limits_and_incomplete_reads() {
    run(async {
        let server = start_server(
            |_r: StreamReader, w: StreamWriter| async move {
                w.write(b"short\n");
                w.write(&[b'x'; 70_000]);
                w.write(b"\nAB|CD|tail");
                w.close();
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let (mut r, _w) = open_connection(server.local_addrs()[0]).await.unwrap();
        assert_eq!(r.readline().await.unwrap(), b"short\n");
        // 70,000 bytes before the newline: over the 64 KiB limit.
        match r.readuntil(b"\n").await {
            Err(ReadError::LimitOverrun { consumed }) => assert!(consumed > 64 * 1024),
            other => panic!("expected LimitOverrun, got {other:?}"),
        }
        // readuntil left the data buffered; readline discards the long line.
        assert!(matches!(r.readline().await, Err(ReadError::LimitOverrun { .. })));
        assert_eq!(r.readuntil(b"|").await.unwrap(), b"AB|");
        assert_eq!(r.readexactly(3).await.unwrap(), b"CD|");
        match r.readexactly(10).await {
            Err(ReadError::Incomplete { partial, expected }) => {
                assert_eq!(partial, b"tail");
                assert_eq!(expected, Some(10));
            }
            other => panic!("expected Incomplete, got {other:?}"),
        }
        assert!(r.at_eof());
        assert_eq!(r.readline().await.unwrap(), b"");
        server.close();
    });
}

#[test]
fn readuntil_at_end_of_stream_returns_the_partial_data() {
    run(async {
        let (a, b) = asyncio::net::UnixStream::pair().unwrap();
        let (mut r, _w) = a.into_streams();
        b.write_all(b"no separator here").await.unwrap();
        b.shutdown(std::net::Shutdown::Write).unwrap();
        match r.readuntil(b"\r\n").await {
            Err(ReadError::Incomplete {
                partial,
                expected: None,
            }) => assert_eq!(partial, b"no separator here"),
            other => panic!("{other:?}"),
        }
    });
}

/// A client that connects, optionally sends, then resets the connection.
async fn reset_client(addr: SocketAddr, send: &[u8], wait_for_reply: bool) {
    let s = TcpStream::connect(addr).await.unwrap();
    if !send.is_empty() {
        s.write_all(send).await.unwrap();
    }
    if wait_for_reply {
        let mut buf = [0; 1];
        let _ = s.read(&mut buf).await;
    }
    s.set_linger(Some(Duration::ZERO)).unwrap();
    drop(s);
}

#[test]
fn peer_resets_in_every_phase_end_only_their_connection() {
    run(async {
        let outcomes: Rc<std::cell::RefCell<Vec<String>>> = Rc::default();
        let o = outcomes.clone();
        let server = start_server(
            move |mut r: StreamReader, w: StreamWriter| {
                let o = o.clone();
                async move {
                    let outcome = async {
                        let line = r.readline().await?;
                        if line == b"big\n" {
                            // Keep writing into a reset connection.
                            for _ in 0..200 {
                                w.write(&[0u8; 64 * 1024]);
                                w.drain().await?;
                            }
                        }
                        w.write(&line);
                        w.drain().await?;
                        Ok::<_, io::Error>(line.len())
                    }
                    .await;
                    o.borrow_mut().push(match outcome {
                        Ok(n) => format!("ok {n}"),
                        Err(e) => format!("err {:?}", e.kind()),
                    });
                }
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let addr = server.local_addrs()[0];
        // Reset before sending anything, mid-line, after a whole request
        // while the server answers, and during a large response.
        reset_client(addr, b"", false).await;
        reset_client(addr, b"half a li", false).await;
        reset_client(addr, b"whole\n", true).await;
        reset_client(addr, b"big\n", true).await;
        // Let the handlers see the resets.
        while outcomes.borrow().len() < 4 {
            asyncio::sleep(Duration::from_millis(5)).await;
        }
        // The server still serves.
        let (mut r, w) = open_connection(addr).await.unwrap();
        w.write(b"still here\n");
        assert_eq!(r.readline().await.unwrap(), b"still here\n");
        let got = outcomes.borrow().clone();
        assert!(got.iter().any(|o| o.starts_with("err")), "{got:?}");
        server.close();
        server.close_clients();
        server.wait_closed().await;
    });
}

#[test]
fn drain_applies_back_pressure_until_the_peer_reads() {
    run(async {
        let (a, b) = asyncio::net::UnixStream::pair().unwrap();
        let (_, w) = a.into_streams();
        let (mut r, _) = b.into_streams();
        // The socket buffer takes some; past 64 KiB queued, drain waits.
        for _ in 0..64 {
            w.write(&[1u8; 16 * 1024]);
        }
        assert!(w.buffered() > 64 * 1024);
        let drained = Rc::new(Cell::new(false));
        let d = drained.clone();
        let w2 = w.clone();
        let drainer = asyncio::create_task(async move {
            w2.drain().await.unwrap();
            d.set(true);
        });
        asyncio::sleep(Duration::from_millis(20)).await;
        assert!(!drained.get(), "drain must wait while the peer reads nothing");
        let mut total = 0;
        while total < 64 * 16 * 1024 {
            total += r.read(1 << 20).await.unwrap().len();
        }
        drainer.await.unwrap();
        assert!(drained.get());
        w.flush().await.unwrap();
        assert_eq!(w.buffered(), 0);
    });
}

#[test]
fn writes_to_a_reset_peer_fail_at_drain_and_the_loop_goes_on() {
    run(async {
        let listener = asyncio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = asyncio::create_task(reset_client(addr, b"", false));
        let (conn, _) = listener.accept().await.unwrap();
        client.await.unwrap();
        let (_r, w) = conn.into_streams();
        let mut failed = None;
        for _ in 0..100 {
            w.write(&[0u8; 64 * 1024]);
            if let Err(e) = w.drain().await {
                failed = Some(e.kind());
                break;
            }
        }
        let kind = failed.expect("writing into a reset connection fails");
        assert!(
            matches!(kind, io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe),
            "{kind:?}"
        );
        assert!(w.wait_closed().await.is_err());
    });
}

#[test]
fn handler_panics_and_errors_do_not_stop_the_server() {
    run(async {
        let server = start_server(
            |mut r: StreamReader, w: StreamWriter| async move {
                let line = r.readline().await.unwrap();
                match &line[..] {
                    b"panic\n" => panic!("handler panicked on purpose"),
                    b"error\n" => Err(io::Error::other("handler failed on purpose")),
                    _ => {
                        w.write(&line);
                        w.close();
                        Ok(())
                    }
                }
            },
            "127.0.0.1:0",
        )
        .await
        .unwrap();
        let addr = server.local_addrs()[0];
        for bad in [&b"panic\n"[..], b"error\n"] {
            let (mut r, w) = open_connection(addr).await.unwrap();
            w.write(bad);
            assert!(r.read_to_end().await.unwrap_or_default().is_empty());
        }
        let (mut r, w) = open_connection(addr).await.unwrap();
        w.write(b"fine\n");
        assert_eq!(r.readline().await.unwrap(), b"fine\n");
        server.close();
        server.wait_closed().await;
    });
}

#[test]
fn close_stops_accepting_and_wait_closed_waits_for_clients() {
    run(async {
        let server = start_server(echo_lines, "127.0.0.1:0").await.unwrap();
        let addr = server.local_addrs()[0];
        let (mut r, w) = open_connection(addr).await.unwrap();
        w.write(b"1\n");
        assert_eq!(r.readline().await.unwrap(), b"1\n");
        server.close();
        assert!(!server.is_serving());
        assert!(TcpStream::connect(addr).await.is_err(), "no longer listening");
        let waiting = asyncio::create_task({
            let s = server.clone();
            async move { s.wait_closed().await }
        });
        asyncio::sleep(Duration::from_millis(10)).await;
        assert!(!waiting.done(), "a client is still connected");
        assert_eq!(server.clients(), 1);
        // The old connection still works until the client leaves.
        w.write(b"2\n");
        assert_eq!(r.readline().await.unwrap(), b"2\n");
        w.close();
        waiting.await.unwrap();
    });
}

#[test]
fn serve_forever_ends_when_its_task_is_cancelled() {
    run(async {
        let server = start_server(echo_lines, "127.0.0.1:0").await.unwrap();
        let s = server.clone();
        let serving = asyncio::create_task(async move { s.serve_forever().await });
        asyncio::sleep(Duration::from_millis(5)).await;
        assert!(server.is_serving());
        serving.cancel();
        let _ = serving.await;
        assert!(!server.is_serving());
        server.wait_closed().await;
    });
}

#[test]
fn unix_server_and_connection() {
    let dir = std::env::temp_dir().join(format!("asyncio-unix-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("echo.sock");
    let p = path.clone();
    run(async move {
        let server = asyncio::start_unix_server(echo_lines, &p).await.unwrap();
        let (mut r, w) = asyncio::open_unix_connection(&p).await.unwrap();
        w.writelines([&b"a\n"[..], b"b\n"]);
        assert_eq!(r.readline().await.unwrap(), b"a\n");
        assert_eq!(r.readline().await.unwrap(), b"b\n");
        w.close();
        server.close();
        server.wait_closed().await;
        assert!(!p.exists(), "the socket file is removed at close");
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn streams_work_with_futures_io_code() {
    use futures_lite::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    run(async {
        let (a, b) = asyncio::net::UnixStream::pair().unwrap();
        let (_, mut w) = a.into_streams();
        let (mut r, _) = b.into_streams();
        w.write_all(b"line one\nrest").await.unwrap();
        AsyncWriteExt::close(&mut w).await.unwrap();
        let mut line = String::new();
        r.read_line(&mut line).await.unwrap();
        assert_eq!(line, "line one\n");
        let mut rest = Vec::new();
        AsyncReadExt::read_to_end(&mut r, &mut rest).await.unwrap();
        assert_eq!(rest, b"rest");
    });
}

#[test]
fn a_closed_server_frees_its_port_at_once() {
    run(async {
        let server = start_server(echo_lines, "127.0.0.1:0").await.unwrap();
        let addr = server.local_addrs()[0];
        server.close();
        server.wait_closed().await;
        // As asyncio: the listening socket is closed when close() returns.
        let again = asyncio::net::TcpListener::bind_addr(
            addr,
            &asyncio::net::ListenOptions {
                reuse_address: false,
                ..Default::default()
            },
        );
        assert!(again.is_ok(), "{again:?}");
    });
}

#[test]
fn a_line_whose_separator_starts_at_the_limit_is_accepted() {
    run(async {
        let (a, b) = asyncio::net::UnixStream::pair().unwrap();
        let (_, w) = a.into_streams();
        let (mut r, _) = b.into_streams();
        let mut line = vec![b'x'; asyncio::net::DEFAULT_LIMIT];
        line.push(b'\n');
        w.write(&line);
        w.write(&[b'y'; asyncio::net::DEFAULT_LIMIT + 1]);
        w.write(b"\n");
        // The separator at index == limit: accepted, as asyncio's readline.
        assert_eq!(r.readline().await.unwrap().len(), asyncio::net::DEFAULT_LIMIT + 1);
        // One byte further: over the limit.
        assert!(matches!(r.readline().await, Err(ReadError::LimitOverrun { .. })));
    });
}
