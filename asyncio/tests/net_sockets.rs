//! Sockets on the reactor: TCP, UDP, Unix stream and datagram; options,
//! half-close, cancel safety of accept, futures-io.

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use asyncio::net::{TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixStream};

fn run<F: std::future::Future>(f: F) -> F::Output {
    asyncio::run(async move {
        asyncio::timeout(Duration::from_secs(10), f)
            .await
            .expect("test took over 10 s")
    })
}

async fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    run(async {
        let addr = closed_port().await;
        let err = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    });
}

#[test]
fn connect_tries_every_address_in_both_modes() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let good = listener.local_addr().unwrap();
        let bad = closed_port().await;
        let addrs = [bad, good];
        let s = TcpStream::connect(&addrs[..]).await.unwrap();
        assert_eq!(s.peer_addr().unwrap(), good);
        let s = TcpStream::connect_happy_eyeballs(&addrs[..], Duration::from_millis(50))
            .await
            .unwrap();
        assert_eq!(s.peer_addr().unwrap(), good);
        let err = TcpStream::connect_happy_eyeballs(&[bad, bad][..], Duration::from_millis(50))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
    });
}

#[test]
fn names_resolve_off_the_loop() {
    run(async {
        let listener = TcpListener::bind(("localhost", 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let addrs = asyncio::net::lookup_host("localhost", port).await.unwrap();
        assert!(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()));
        let s = TcpStream::connect(format!("localhost:{port}")).await;
        // localhost may resolve to ::1 first while we listen on one family:
        // connect tries them all.
        assert!(s.is_ok(), "{s:?}");
        assert!(asyncio::net::lookup_host("no-such-host.invalid", 80).await.is_err());
    });
}

#[test]
fn accept_is_cancel_safe() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(asyncio::timeout(Duration::from_millis(10), listener.accept())
            .await
            .is_err());
        let client = TcpStream::connect(addr).await.unwrap();
        let (server_side, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert_eq!(server_side.peer_addr().unwrap(), client.local_addr().unwrap());
    });
}

#[test]
fn options_can_be_set_and_read() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let s = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        s.set_nodelay(true).unwrap();
        assert!(s.nodelay().unwrap());
        s.set_keepalive(Some(Duration::from_secs(30))).unwrap();
        s.set_keepalive(None).unwrap();
        s.set_linger(Some(Duration::ZERO)).unwrap();
        let opts = asyncio::net::ListenOptions {
            reuse_port: true,
            ..Default::default()
        };
        let a = TcpListener::bind_with("127.0.0.1:0", &opts).await.unwrap();
        let b = TcpListener::bind_with(a.local_addr().unwrap(), &opts).await.unwrap();
        assert_eq!(
            a.local_addr().unwrap(),
            b.local_addr().unwrap(),
            "SO_REUSEPORT shares the port"
        );
    });
}

#[test]
fn half_close_at_the_socket_level() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        client.write_all(b"request").await.unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        loop {
            let n = server.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"request");
        server.write_all(b"response").await.unwrap();
        drop(server);
        let n = client.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"response");
    });
}

#[test]
fn one_task_reads_while_another_writes() {
    run(async {
        let (a, b) = UnixStream::pair().unwrap();
        let a = Rc::new(a);
        let a2 = a.clone();
        let writer = asyncio::create_task(async move {
            for i in 0..100u8 {
                a2.write_all(&[i; 1000]).await.unwrap();
            }
        });
        let echo = asyncio::create_task(async move {
            let mut buf = vec![0u8; 4096];
            let mut total = 0;
            while total < 100_000 {
                let n = b.read(&mut buf).await.unwrap();
                b.write_all(&buf[..n]).await.unwrap();
                total += n;
            }
        });
        let mut back = 0;
        let mut buf = vec![0u8; 4096];
        while back < 100_000 {
            back += a.read(&mut buf).await.unwrap();
        }
        writer.await.unwrap();
        echo.await.unwrap();
    });
}

#[test]
fn futures_io_traits_on_tcp_streams() {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        AsyncWriteExt::write_all(&mut client, b"via futures-io").await.unwrap();
        AsyncWriteExt::close(&mut client).await.unwrap();
        let mut got = String::new();
        AsyncReadExt::read_to_string(&mut server, &mut got).await.unwrap();
        assert_eq!(got, "via futures-io");
    });
}

#[test]
fn udp_round_trip_and_connect() {
    run(async {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b_addr = b.local_addr().unwrap();
        a.send_to(b"ping", b_addr).await.unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr().unwrap()));
        b.connect(from).await.unwrap();
        b.send(b"pong").await.unwrap();
        let n = a.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"pong");
        assert_eq!(b.peer_addr().unwrap(), a.local_addr().unwrap());
        // Waiting for a datagram does not block the loop, and is cancel safe.
        assert!(asyncio::timeout(Duration::from_millis(10), a.recv(&mut buf))
            .await
            .is_err());
    });
}

#[test]
fn unix_datagrams() {
    let dir = std::env::temp_dir().join(format!("asyncio-dgram-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("d.sock");
    let p = path.clone();
    run(async move {
        let (x, y) = UnixDatagram::pair().unwrap();
        x.send(b"one").await.unwrap();
        let mut buf = [0u8; 8];
        let n = y.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"one");
        let bound = UnixDatagram::bind(&p).unwrap();
        let sender = UnixDatagram::unbound().unwrap();
        sender.send_to(b"two", &p).await.unwrap();
        let (n, _) = bound.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"two");
    });
    std::fs::remove_dir_all(&dir).unwrap();
}
