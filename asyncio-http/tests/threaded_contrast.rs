//! The thread-per-request example server (`asyncio_examples_support::threaded`)
//! and the load generator (`asyncio_examples_support::load`): the queueing of a
//! fixed worker pool is real, and the server speaks HTTP/1.1 correctly.
//!
//! Timing checks use wide margins: lower bounds come from the sleeps
//! themselves (which never end early), upper bounds are several times the
//! expected time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use asyncio_examples_support::load;
use asyncio_examples_support::threaded::{self, ThreadedServer};

fn start(workers: usize) -> ThreadedServer {
    ThreadedServer::start("127.0.0.1:0".parse().unwrap(), workers).expect("server starts")
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

/// A response read off a connection: status, headers (names lowercased),
/// body.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Reads one response (framed by Content-Length) from `stream`, leaving
/// what follows it in `buf`.
fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Response {
    let mut chunk = [0u8; 1024];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut parsed = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(head_len) = parsed.parse(buf).expect("a valid response") {
            let headers: Vec<(String, String)> = parsed
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_ascii_lowercase(),
                        String::from_utf8(h.value.to_vec()).unwrap(),
                    )
                })
                .collect();
            let status = parsed.code.unwrap();
            let length: usize = headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .expect("a Content-Length")
                .1
                .parse()
                .unwrap();
            while buf.len() < head_len + length {
                let n = stream.read(&mut chunk).unwrap();
                assert!(n > 0, "connection closed in the middle of the body");
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = buf[head_len..head_len + length].to_vec();
            buf.drain(..head_len + length);
            return Response { status, headers, body };
        }
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed before a response");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Whether the server closes `stream` (end of stream or reset) within a
/// few seconds.
fn closed_by_server(stream: &mut TcpStream) -> bool {
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => rest.is_empty(),
        Err(e) => matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
        ),
    }
}

#[test]
fn fifteen_clients_on_fifteen_workers_take_one_round() {
    let server = start(15);
    let result = asyncio::run(load::hit_all(server.local_addr(), "/io", 15));
    server.shutdown();
    assert_eq!((result.ok, result.errors), (15, 0), "{result}");
    // Each request sleeps 100 ms, so none is faster.
    assert!(result.min().unwrap() >= Duration::from_millis(100), "{result}");
    // One round of 100 ms: far below 1 s.
    assert!(result.wall < Duration::from_secs(1), "{result}");
}

#[test]
fn forty_five_clients_on_fifteen_workers_queue_for_three_rounds() {
    let server = start(15);
    let result = asyncio::run(load::hit_all(server.local_addr(), "/io", 45));
    server.shutdown();
    assert_eq!((result.ok, result.errors), (45, 0), "{result}");
    // 45 sleeps of 100 ms on 15 threads: some thread sleeps 3 times in a row,
    // so 300 ms at least; 250 ms leaves slack.
    assert!(result.wall >= Duration::from_millis(250), "{result}");
    assert!(result.wall < Duration::from_secs(5), "{result}");
    // And the queueing shows per request: the last waited about three times
    // as long as the first.
    assert!(result.max().unwrap() >= result.min().unwrap() * 2, "{result}");
}

#[test]
fn hello_world_twice_on_one_keep_alive_connection() {
    let server = start(2);
    let mut stream = connect(server.local_addr());
    let mut buf = Vec::new();
    for _ in 0..2 {
        stream.write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
        let response = read_response(&mut stream, &mut buf);
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"Hello, world!");
        assert_eq!(response.header("connection"), Some("keep-alive"));
    }
    // Pipelined: two requests in one write, two responses in order.
    stream
        .write_all(b"GET /io HTTP/1.1\r\nHost: test\r\n\r\nGET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let first = read_response(&mut stream, &mut buf);
    let second = read_response(&mut stream, &mut buf);
    assert_eq!((first.status, first.body.as_slice()), (200, &b"done"[..]));
    assert_eq!((second.status, second.body.as_slice()), (200, &b"Hello, world!"[..]));
    assert_eq!(second.header("connection"), Some("close"));
    assert!(buf.is_empty() && closed_by_server(&mut stream));
    server.shutdown();
}

#[test]
fn bodies_are_discarded_and_unknown_routes_are_404() {
    let server = start(2);
    let mut stream = connect(server.local_addr());
    let mut buf = Vec::new();
    stream
        .write_all(b"POST /submit HTTP/1.1\r\nHost: test\r\nContent-Length: 11\r\n\r\nhello=world")
        .unwrap();
    let response = read_response(&mut stream, &mut buf);
    assert_eq!(response.status, 404);
    // The body was consumed: the next request on the connection is parsed
    // from the right place.
    stream
        .write_all(b"HEAD / HTTP/1.1\r\nHost: test\r\n\r\nGET /nothing?x=1 HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    // HEAD: the headers of GET, no body (so read the head only).
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1);
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Content-Length: 13\r\n"), "{head}");
    let response = read_response(&mut stream, &mut buf);
    assert_eq!(response.status, 404);
    server.shutdown();
}

#[test]
fn http_1_0_closes_unless_asked_to_keep_alive() {
    let server = start(2);
    let mut stream = connect(server.local_addr());
    let mut buf = Vec::new();
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let response = read_response(&mut stream, &mut buf);
    assert_eq!((response.status, response.header("connection")), (200, Some("close")));
    assert!(closed_by_server(&mut stream));

    let mut stream = connect(server.local_addr());
    stream
        .write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let response = read_response(&mut stream, &mut buf);
    assert_eq!(response.header("connection"), Some("keep-alive"));
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut stream, &mut buf).status, 200);
    server.shutdown();
}

#[test]
fn malformed_requests_get_400_and_a_close() {
    let server = start(2);
    for bad in [
        &b"NOT A VALID REQUEST\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy",
        b"GET / HTTP/1.1\r\nBad Header Line\r\n\r\n",
    ] {
        let mut stream = connect(server.local_addr());
        stream.write_all(bad).unwrap();
        let response = read_response(&mut stream, &mut Vec::new());
        assert_eq!(response.status, 400, "{:?}", String::from_utf8_lossy(bad));
        assert_eq!(response.header("connection"), Some("close"));
        assert!(closed_by_server(&mut stream));
    }
    server.shutdown();
}

#[test]
fn shutdown_is_prompt_with_an_idle_keep_alive_connection() {
    let server = start(3);
    let addr = server.local_addr();
    // A connection a worker is serving, idle between requests.
    let mut idle = connect(addr);
    let mut buf = Vec::new();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut idle, &mut buf).status, 200);
    // And one that connected but never sent anything.
    let _silent = connect(addr);

    let started = Instant::now();
    server.shutdown();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    assert!(closed_by_server(&mut idle));
    // No longer listening.
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn shutdown_lets_an_in_flight_request_finish() {
    let server = start(1);
    let mut stream = connect(server.local_addr());
    let mut buf = Vec::new();
    // A first request, so that the worker has the connection.
    stream.write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut stream, &mut buf).status, 200);
    stream.write_all(b"GET /io HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    // Let the worker start sleeping, then stop the server under it.
    std::thread::sleep(Duration::from_millis(30));
    server.shutdown();
    let response = read_response(&mut stream, &mut buf);
    assert_eq!((response.status, response.body.as_slice()), (200, &b"done"[..]));
    assert_eq!(response.header("connection"), Some("close"));
}

#[test]
fn load_generator_counts_refused_connections_as_errors() {
    // A port nobody listens on: bind, note it, close.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let result = asyncio::run(load::hit_all(addr, "/", 5));
    assert_eq!((result.ok, result.errors), (0, 5), "{result}");
    assert!(result.latencies.is_empty() && result.median().is_none());
    assert!(result.first_error.is_some());
}

#[test]
fn dropping_the_server_stops_it_too() {
    let server = start(2);
    let addr = server.local_addr();
    let _idle = connect(addr);
    let started = Instant::now();
    drop(server);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(TcpStream::connect(addr).is_err());
}

/// The contrast's numbers for the thread-per-request side: 15, 100 and
/// 1,000 concurrent clients on `/io` against 15 workers (about 100 ms,
/// 700 ms and 6.7 s). Timing only, so not run by default:
/// `cargo test --release -p asyncio-http --test threaded_contrast -- --ignored --nocapture`.
#[test]
#[ignore = "prints timings; takes about 8 s"]
fn timings_15_100_1000_clients() {
    let server = start(threaded::DEFAULT_WORKERS);
    for clients in [15, 100, 1000] {
        let result = asyncio::run(load::hit_all(server.local_addr(), "/io", clients));
        let rounds = clients.div_ceil(server.workers());
        println!(
            "threaded, {} workers, expect ~{} ms: {result}",
            server.workers(),
            rounds * 100
        );
        assert_eq!(result.ok, clients, "{result}");
    }
    server.shutdown();
}
