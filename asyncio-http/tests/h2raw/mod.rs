//! A raw HTTP/2 client for the attack tests: frames written byte by byte,
//! so a test can send what no well-behaved HTTP/2 library would (floods,
//! resets in bulk, endless CONTINUATION frames, an HPACK bomb) and watch
//! what the server answers frame by frame.
//!
//! Header blocks are encoded with HPACK's literal representations (RFC
//! 7541, section 6.2) and no Huffman coding; the server's blocks are not
//! decoded, except for the one-byte form of `:status: 200`.

#![allow(dead_code)]

use std::io;
use std::time::Duration;

use crate::support::{Stream, Target};

/// Frame types (RFC 9113, section 6).
pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

/// Flags.
pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

/// Error codes (RFC 9113, section 7).
pub const NO_ERROR: u32 = 0x0;
pub const REFUSED_STREAM: u32 = 0x7;
pub const CANCEL: u32 = 0x8;
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

/// `SETTINGS_INITIAL_WINDOW_SIZE`.
pub const INITIAL_WINDOW_SIZE: u16 = 0x4;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// One frame's bytes.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    assert!(len < 1 << 24, "frame too long");
    let mut out = Vec::with_capacity(9 + len);
    out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A `SETTINGS` frame with these parameters.
pub fn settings(params: &[(u16, u32)]) -> Vec<u8> {
    let mut payload = Vec::new();
    for (id, value) in params {
        payload.extend_from_slice(&id.to_be_bytes());
        payload.extend_from_slice(&value.to_be_bytes());
    }
    frame(SETTINGS, 0, 0, &payload)
}

/// An `RST_STREAM` frame.
pub fn rst_stream(stream: u32, code: u32) -> Vec<u8> {
    frame(RST_STREAM, 0, stream, &code.to_be_bytes())
}

/// A `PING` frame (not an acknowledgement).
pub fn ping(data: u64) -> Vec<u8> {
    frame(PING, 0, 0, &data.to_be_bytes())
}

/// HPACK's integer representation with an `prefix`-bit prefix (section 5.1).
fn int(out: &mut Vec<u8>, first: u8, prefix: u32, mut value: usize) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}

/// A string literal, not Huffman-coded (section 5.2).
fn string(out: &mut Vec<u8>, s: &[u8]) {
    int(out, 0, 7, s.len());
    out.extend_from_slice(s);
}

/// A header field as a literal without indexing, with a new name
/// (section 6.2.2).
pub fn literal(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.push(0);
    string(out, name.as_bytes());
    string(out, value);
}

/// A header field as a literal with incremental indexing (section 6.2.1):
/// it enters the dynamic table, first at index 62.
pub fn insert(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.push(0x40);
    string(out, name.as_bytes());
    string(out, value);
}

/// A header field by its table index (section 6.1).
pub fn indexed(out: &mut Vec<u8>, index: usize) {
    int(out, 0x80, 7, index);
}

/// A `GET` request's pseudo-headers.
pub fn get_block(path: &str) -> Vec<u8> {
    let mut block = Vec::new();
    literal(&mut block, ":method", b"GET");
    literal(&mut block, ":scheme", b"http");
    literal(&mut block, ":path", path.as_bytes());
    literal(&mut block, ":authority", b"t");
    block
}

/// A complete `GET` on `stream`: one `HEADERS` frame ending the stream.
pub fn get(stream: u32, path: &str) -> Vec<u8> {
    frame(HEADERS, END_HEADERS | END_STREAM, stream, &get_block(path))
}

/// Whether a response header block says `:status: 200` (HPACK's static
/// index 8, the one-byte form every encoder uses for it), after any
/// dynamic table size updates.
pub fn is_200(block: &[u8]) -> bool {
    block.iter().find(|b| *b & 0xe0 != 0x20) == Some(&0x88)
}

/// A frame as read.
#[derive(Debug)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    /// An `RST_STREAM`'s or a `GOAWAY`'s error code.
    pub fn code(&self) -> u32 {
        let at = if self.kind == GOAWAY { 4 } else { 0 };
        u32::from_be_bytes(self.payload[at..at + 4].try_into().unwrap())
    }
}

/// How a connection ended, as the client saw it.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The server sent `GOAWAY` with this code.
    GoAway(u32),
    /// The server closed the connection (or reset it) without one.
    Closed,
}

/// `SETTINGS_ENABLE_CONNECT_PROTOCOL` (RFC 8441).
pub const ENABLE_CONNECT_PROTOCOL: u16 = 0x8;

/// A raw HTTP/2 connection.
pub struct Raw {
    pub stream: Stream,
    buf: Vec<u8>,
    /// The parameters of the server's first `SETTINGS`.
    pub server_settings: Vec<(u16, u32)>,
}

impl Raw {
    /// Connects, sends the preface and a `SETTINGS` frame with `params`,
    /// reads the server's `SETTINGS` and acknowledges them.
    pub async fn open(to: impl Target, params: &[(u16, u32)]) -> Raw {
        let mut raw = Raw {
            stream: to.connect().await,
            buf: Vec::new(),
            server_settings: Vec::new(),
        };
        let mut hello = PREFACE.to_vec();
        hello.extend(settings(params));
        raw.send(&hello).await.expect("preface");
        loop {
            let f = raw.frame().await.expect("read").expect("the server's SETTINGS");
            if f.kind == SETTINGS && f.flags & ACK == 0 {
                raw.server_settings = f
                    .payload
                    .chunks_exact(6)
                    .map(|p| {
                        (
                            u16::from_be_bytes([p[0], p[1]]),
                            u32::from_be_bytes([p[2], p[3], p[4], p[5]]),
                        )
                    })
                    .collect();
                break;
            }
        }
        raw.send(&frame(SETTINGS, ACK, 0, &[])).await.expect("SETTINGS ACK");
        raw
    }

    pub async fn send(&self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// The next frame; `None` once the server has closed the connection
    /// (or reset it).
    pub async fn frame(&mut self) -> io::Result<Option<Frame>> {
        loop {
            if self.buf.len() >= 9 {
                let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
                if self.buf.len() >= 9 + len {
                    let f = Frame {
                        kind: self.buf[3],
                        flags: self.buf[4],
                        stream: u32::from_be_bytes(self.buf[5..9].try_into().unwrap()) & 0x7fff_ffff,
                        payload: self.buf[9..9 + len].to_vec(),
                    };
                    self.buf.drain(..9 + len);
                    return Ok(Some(f));
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk).await {
                Ok(0) => return Ok(None),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads frames (passing each to `seen`, answering `PING`s) until the
    /// server sends `GOAWAY` or closes the connection; `None` if neither
    /// happens within `within` (on the loop's clock).
    pub async fn end(&mut self, within: Duration, mut seen: impl FnMut(&Frame)) -> Option<End> {
        asyncio::timeout(within, async {
            loop {
                match self.frame().await {
                    Ok(Some(f)) if f.kind == GOAWAY => return End::GoAway(f.code()),
                    Ok(Some(f)) if f.kind == PING && f.flags & ACK == 0 => {
                        // The server may be gone already.
                        let _ = self.send(&frame(PING, ACK, 0, &f.payload)).await;
                    }
                    Ok(Some(f)) => seen(&f),
                    Ok(None) | Err(_) => return End::Closed,
                }
            }
        })
        .await
        .ok()
    }
}
