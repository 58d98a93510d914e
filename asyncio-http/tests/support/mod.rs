//! A raw HTTP/1.1 client for the server tests: bytes in, parsed responses
//! out, so malformed requests can be sent exactly as written.
//!
//! A client connects over TCP (to a [`SocketAddr`]) or in-process (to a
//! [`RunningServer`], through `connect_local`): the tests that measure
//! time on the virtual clock use the second, where bytes written are ready
//! for the other side at once and the clock cannot jump past them.

#![allow(dead_code)]

#[cfg(feature = "tls")]
use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use asyncio::net::{TcpStream, UnixStream};
use asyncio_http::{Router, RunningServer, Server};

/// Starts `app` on a free port with the server shaped by `config`.
pub async fn start(config: impl FnOnce(Server) -> Server, app: fn() -> Router) -> RunningServer {
    config(Server::bind("127.0.0.1:0").handle_signals(false))
        .start(app)
        .await
        .expect("server starts")
}

/// One parsed response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// Where a client connects: a server's TCP address, or the server itself
/// (an in-process connection).
pub trait Target {
    async fn connect(&self) -> Stream;
}

impl Target for SocketAddr {
    async fn connect(&self) -> Stream {
        let stream = TcpStream::connect(*self).await.expect("connect");
        // Without it, Nagle holds a small write back until the previous one
        // is acknowledged, which the peer delays by 40 ms of real time.
        stream.set_nodelay(true).expect("nodelay");
        Stream::Tcp(stream)
    }
}

impl Target for &RunningServer {
    async fn connect(&self) -> Stream {
        Stream::Local(self.connect_local().expect("in-process connection"))
    }
}

/// A client that speaks TLS (trusting `ctx`'s CAs, asking for
/// `localhost`) to a target.
#[cfg(feature = "tls")]
pub struct Tls<T>(pub T, pub asyncio::tls::ClientContext);

#[cfg(feature = "tls")]
impl<T: Target> Target for Tls<T> {
    async fn connect(&self) -> Stream {
        let handshake = "TLS handshake";
        match self.0.connect().await {
            Stream::Tcp(s) => Stream::TlsTcp(RefCell::new(self.1.connect("localhost", s).await.expect(handshake))),
            Stream::Local(s) => Stream::TlsLocal(RefCell::new(self.1.connect("localhost", s).await.expect(handshake))),
            _ => unreachable!("a plain target gives a plain socket"),
        }
    }
}

/// A client's socket.
pub enum Stream {
    Tcp(TcpStream),
    Local(UnixStream),
    /// (In a `RefCell` so that reads and writes take `&self` as on the
    /// plain sockets; each borrow lasts one poll.)
    #[cfg(feature = "tls")]
    TlsTcp(RefCell<asyncio::tls::TlsStream<TcpStream>>),
    #[cfg(feature = "tls")]
    TlsLocal(RefCell<asyncio::tls::TlsStream<UnixStream>>),
}

impl Stream {
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf).await,
            Stream::Local(s) => s.read(buf).await,
            #[cfg(feature = "tls")]
            Stream::TlsTcp(s) => tls_read(s, buf).await,
            #[cfg(feature = "tls")]
            Stream::TlsLocal(s) => tls_read(s, buf).await,
        }
    }

    pub async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(buf).await,
            Stream::Local(s) => s.write_all(buf).await,
            #[cfg(feature = "tls")]
            Stream::TlsTcp(s) => tls_write_all(s, buf).await,
            #[cfg(feature = "tls")]
            Stream::TlsLocal(s) => tls_write_all(s, buf).await,
        }
    }
}

#[cfg(feature = "tls")]
async fn tls_read<S: futures_lite::AsyncRead + Unpin>(s: &RefCell<S>, buf: &mut [u8]) -> io::Result<usize> {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *s.borrow_mut()).poll_read(cx, buf)).await
}

#[cfg(feature = "tls")]
async fn tls_write_all<S: futures_lite::AsyncWrite + Unpin>(s: &RefCell<S>, mut buf: &[u8]) -> io::Result<()> {
    use std::pin::Pin;
    while !buf.is_empty() {
        let n = std::future::poll_fn(|cx| Pin::new(&mut *s.borrow_mut()).poll_write(cx, buf)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        buf = &buf[n..];
    }
    std::future::poll_fn(|cx| Pin::new(&mut *s.borrow_mut()).poll_flush(cx)).await
}

/// A client connection with a read buffer.
pub struct Conn {
    pub stream: Stream,
    buf: Vec<u8>,
}

impl Conn {
    pub async fn open(to: impl Target) -> Conn {
        Conn {
            stream: to.connect().await,
            buf: Vec::new(),
        }
    }

    /// A client over a stream opened by other means (a TLS handshake the
    /// test checks itself, say).
    pub fn over(stream: Stream) -> Conn {
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    /// Exactly `n` bytes (what a response left in the buffer first).
    pub async fn read_bytes(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.buf.len() < n {
            if self.fill().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(self.buf.drain(..n).collect())
    }

    pub async fn send(&self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    async fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads one response (`Content-Length`, chunked, or to the end of the
    /// stream). `None` if the connection closed before a response began.
    pub async fn response(&mut self) -> io::Result<Option<Resp>> {
        self.response_to(false).await
    }

    /// As `response`, for a `HEAD` request (no body whatever the length says).
    pub async fn head_response(&mut self) -> io::Result<Option<Resp>> {
        self.response_to(true).await
    }

    async fn response_to(&mut self, head_only: bool) -> io::Result<Option<Resp>> {
        let (status, headers, used) = loop {
            let mut hs = [httparse::EMPTY_HEADER; 64];
            let mut r = httparse::Response::new(&mut hs);
            match r
                .parse(&self.buf)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
            {
                httparse::Status::Complete(n) => {
                    let headers: Vec<(String, String)> = r
                        .headers
                        .iter()
                        .map(|h| (h.name.to_owned(), String::from_utf8_lossy(h.value).into_owned()))
                        .collect();
                    break (r.code.unwrap_or(0), headers, n);
                }
                httparse::Status::Partial => {
                    if self.fill().await? == 0 {
                        if self.buf.is_empty() {
                            return Ok(None);
                        }
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
            }
        };
        self.buf.drain(..used);
        let mut resp = Resp {
            status,
            headers,
            body: Vec::new(),
        };
        if head_only || status == 101 || status == 204 || status == 304 {
            return Ok(Some(resp));
        }
        if let Some(len) = resp.header("content-length").and_then(|v| v.parse::<usize>().ok()) {
            while self.buf.len() < len {
                if self.fill().await? == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
            }
            resp.body = self.buf.drain(..len).collect();
        } else if resp.header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            loop {
                let line_end = loop {
                    if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                        break i;
                    }
                    if self.fill().await? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                };
                let size_text = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
                let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                while self.buf.len() < line_end + 2 + size + 2 {
                    if self.fill().await? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                resp.body
                    .extend_from_slice(&self.buf[line_end + 2..line_end + 2 + size]);
                self.buf.drain(..line_end + 2 + size + 2);
                if size == 0 {
                    break;
                }
            }
        } else {
            while self.fill().await? > 0 {}
            resp.body = std::mem::take(&mut self.buf);
        }
        Ok(Some(resp))
    }

    /// True if the server closes the connection (EOF or reset) within
    /// `within` (of the loop's clock).
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        match asyncio::timeout(within, async {
            loop {
                match self.fill().await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await
        {
            Ok(()) => true,
            Err(_) => false,
        }
    }
}

/// Sends `raw` on a new connection and reads one response.
pub async fn request(to: impl Target, raw: &str) -> Resp {
    let mut c = Conn::open(to).await;
    c.send(raw.as_bytes()).await.expect("send");
    c.response().await.expect("response").expect("a response")
}

/// `GET path` with `Connection: close`.
pub async fn get(to: impl Target, path: &str) -> Resp {
    request(
        to,
        &format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
    )
    .await
}

/// A WebSocket handler that echoes text and binary messages until the
/// client closes.
pub async fn ws_echo(req: asyncio_http::Request) -> asyncio_http::Response {
    req.websocket(|mut ws: asyncio_http::ws::WebSocket| async move {
        while let Some(Ok(msg)) = ws.recv().await {
            let is_data = msg.is_text() || msg.is_binary();
            if msg.is_close() || (is_data && ws.send(msg).await.is_err()) {
                break;
            }
        }
    })
}

/// Answers with the request's body.
pub async fn echo_body(mut req: asyncio_http::Request) -> Result<Vec<u8>, asyncio_http::BodyError> {
    Ok(req.bytes().await?.to_vec())
}

/// A streamed body of five lines, `0\n` to `4\n`, each sent on its own.
pub async fn counting(_req: asyncio_http::Request) -> asyncio_http::Body {
    asyncio_http::Body::writer(|w| async move {
        for i in 0..5 {
            w.send(format!("{i}\n")).await;
        }
        Ok::<(), std::io::Error>(())
    })
}
