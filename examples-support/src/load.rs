//! A load generator on the asyncio loop: N clients at once, one request
//! each, for the thread-per-request vs event-loop contrast.
//!
//! [`hit_all`] opens every connection at the same time from one thread (the
//! loop's), so the client side never queues: what the timings show is the
//! server's concurrency.
//!
//! ```no_run
//! # let addr = "127.0.0.1:8080".parse().unwrap();
//! use asyncio_examples_support::load;
//!
//! let result = asyncio::run(load::hit_all(addr, "/io", 1000));
//! println!("{result}"); // 1000 clients: 1000 ok (200), 0 other, 0 errors in 6.71 s; latency min 101 ms, ...
//! ```

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use asyncio::net::TcpStream;

/// How long one client waits for its whole exchange (connect, request,
/// response) before counting it as an error.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// What a run of [`hit_all`] measured.
#[derive(Debug)]
pub struct LoadResult {
    /// How many clients ran.
    pub clients: usize,
    /// From the start of the first connect to the end of the last client
    /// (its response read, or its error).
    pub wall: Duration,
    /// Responses with status 200.
    pub ok: usize,
    /// Responses with any other status.
    pub other_status: usize,
    /// Clients that got no (valid) response: connection refused or reset,
    /// closed early, unparsable response, [`REQUEST_TIMEOUT`].
    pub errors: usize,
    /// The first error seen, to say what went wrong.
    pub first_error: Option<String>,
    /// Each response's latency (from the client's connect to its
    /// response's last byte), sorted, shortest first. Errors have none.
    pub latencies: Vec<Duration>,
}

impl LoadResult {
    /// The shortest latency; `None` if no response came.
    pub fn min(&self) -> Option<Duration> {
        self.latencies.first().copied()
    }

    /// The median latency (the upper of the middle two for an even count);
    /// `None` if no response came.
    pub fn median(&self) -> Option<Duration> {
        self.latencies.get(self.latencies.len() / 2).copied()
    }

    /// The longest latency; `None` if no response came.
    pub fn max(&self) -> Option<Duration> {
        self.latencies.last().copied()
    }
}

impl fmt::Display for LoadResult {
    /// One line: `1000 clients: 1000 ok (200), 0 other, 0 errors in 6.71 s;
    /// latency min 101 ms, median 3.41 s, max 6.71 s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} clients: {} ok (200), {} other, {} errors in {}",
            self.clients,
            self.ok,
            self.other_status,
            self.errors,
            Millis(self.wall)
        )?;
        if let (Some(min), Some(median), Some(max)) = (self.min(), self.median(), self.max()) {
            write!(
                f,
                "; latency min {}, median {}, max {}",
                Millis(min),
                Millis(median),
                Millis(max)
            )?;
        }
        if let Some(error) = &self.first_error {
            write!(f, "; first error: {error}")?;
        }
        Ok(())
    }
}

/// A duration as `123 ms` below 10 s, `12.3 s` above.
struct Millis(Duration);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < Duration::from_secs(10) {
            write!(f, "{} ms", self.0.as_millis())
        } else {
            write!(f, "{:.1} s", self.0.as_secs_f64())
        }
    }
}

/// Runs `clients` clients at once against `addr`: each opens its own TCP
/// connection, sends `GET {path} HTTP/1.1` with `Connection: close`, and
/// reads the whole response. Must run on an asyncio loop
/// (`asyncio::run(hit_all(..))`).
///
/// Failures are counted in the result, never raised. The soft limit on open
/// files is raised to the hard limit first: each client holds a descriptor,
/// and a server in the same process one more per connection.
pub async fn hit_all(addr: SocketAddr, path: &str, clients: usize) -> LoadResult {
    crate::raise_open_files_limit();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let start = Instant::now();
    let outcomes = asyncio::gather((0..clients).map(|_| client(addr, request.as_bytes()))).await;
    let wall = start.elapsed();

    let mut result = LoadResult {
        clients,
        wall,
        ok: 0,
        other_status: 0,
        errors: 0,
        first_error: None,
        latencies: Vec::with_capacity(clients),
    };
    for outcome in outcomes {
        match outcome {
            Ok((status, latency)) => {
                if status == 200 {
                    result.ok += 1;
                } else {
                    result.other_status += 1;
                }
                result.latencies.push(latency);
            }
            Err(e) => {
                result.errors += 1;
                result.first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    result.latencies.sort_unstable();
    result
}

/// One client: the response's status and the latency, or why there is none.
async fn client(addr: SocketAddr, request: &[u8]) -> io::Result<(u16, Duration)> {
    let start = Instant::now();
    match asyncio::timeout(REQUEST_TIMEOUT, exchange(addr, request)).await {
        Ok(Ok(status)) => Ok((status, start.elapsed())),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no response within {REQUEST_TIMEOUT:?}"),
        )),
    }
}

/// Connects, sends `request`, reads the response to its end (by its
/// `Content-Length`, else to end of stream), and returns its status.
async fn exchange(addr: SocketAddr, request: &[u8]) -> io::Result<u16> {
    let stream = TcpStream::connect_addr(addr).await?;
    stream.set_nodelay(true)?;
    stream.write_all(request).await?;

    let mut buf = Vec::with_capacity(1024);
    // Once the head is parsed: the status, and the response's total length
    // if it has a Content-Length.
    let mut head: Option<(u16, Option<usize>)> = None;
    loop {
        if head.is_none() {
            head = parse_response_head(&buf)?;
        }
        if let Some((status, Some(total))) = head {
            if buf.len() >= total {
                return Ok(status);
            }
        }
        let filled = buf.len();
        buf.resize(filled + 1024, 0);
        let n = stream.read(&mut buf[filled..]).await?;
        buf.truncate(filled + n);
        if n == 0 {
            return match head {
                // No Content-Length: the body ends with the connection.
                Some((status, None)) => Ok(status),
                Some((_, Some(_))) => Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed in the middle of the body",
                )),
                None => Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed before a response",
                )),
            };
        }
    }
}

/// The status and total length (head + Content-Length) of the response at
/// the start of `buf`; `None` while the head is incomplete.
fn parse_response_head(buf: &[u8]) -> io::Result<Option<(u16, Option<usize>)>> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("invalid response: {what}"));
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(invalid(&e.to_string())),
    };
    let status = response.code.ok_or_else(|| invalid("no status"))?;
    let content_length = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .map(|h| {
            std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| invalid("bad Content-Length"))
        })
        .transpose()?;
    Ok(Some((status, content_length.map(|n| head_len + n))))
}
