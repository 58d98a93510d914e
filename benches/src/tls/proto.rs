//! The TLS bench's wire protocol, after the handshake, and the client's
//! command line ([`Mode`]).
//!
//! - **handshake**: the server writes one byte, [`GREETING`], and closes
//!   (`close_notify`); the client reads it and drops the connection.
//! - **echo**: the server echoes what each read returns (16 KiB buffer).
//! - **bulk**: the client sends a [`request`] (`b'u'` or `b'd'` and a
//!   little-endian `u64` byte count); for `u` (upload) it then sends that
//!   many bytes and the server answers [`GREETING`] once it has read them
//!   all; for `d` (download) the server sends that many bytes in writes of
//!   [`CHUNK`]. Requests repeat on one connection until the client closes.

use std::net::SocketAddr;
use std::time::Duration;

/// The byte a handshake server greets with and a bulk server acknowledges
/// an upload with.
pub const GREETING: u8 = b'k';

/// The bulk transfers' write size (and the readers' buffer size): 64 KiB.
pub const CHUNK: usize = 64 * 1024;

/// A bulk request's length on the wire.
pub const REQUEST_LEN: usize = 9;

/// A bulk request: upload (`b'u'`) or download (`b'd'`) of `n` bytes.
pub fn request(upload: bool, n: u64) -> [u8; REQUEST_LEN] {
    let mut r = [0u8; REQUEST_LEN];
    r[0] = if upload { b'u' } else { b'd' };
    r[1..].copy_from_slice(&n.to_le_bytes());
    r
}

/// Reads a bulk request: `(upload, n)`, or `None` if it is malformed.
pub fn parse_request(r: &[u8; REQUEST_LEN]) -> Option<(bool, u64)> {
    let n = u64::from_le_bytes(r[1..].try_into().ok()?);
    match r[0] {
        b'u' => Some((true, n)),
        b'd' => Some((false, n)),
        _ => None,
    }
}

/// What the client process is asked to do (its [`CLIENT_ENV`](super::client::CLIENT_ENV)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `handshake ADDR INFLIGHT WARMUP_MS WINDOW_MS`: `inflight` tasks making
    /// full handshakes one after another; count them over the window.
    Handshake {
        /// The server.
        addr: SocketAddr,
        /// Connections being made at any time.
        inflight: usize,
        /// Untimed load before the window.
        warmup: Duration,
        /// The measured window.
        window: Duration,
    },
    /// `echo ADDR CONNS SIZE WARMUP_MS WINDOW_MS`: `conns` connections doing
    /// request/response ping-pong with `size`-byte messages.
    Echo {
        /// The server.
        addr: SocketAddr,
        /// Connections.
        conns: usize,
        /// Bytes per message.
        size: usize,
        /// Untimed load before the window.
        warmup: Duration,
        /// The measured window.
        window: Duration,
    },
    /// `up|down ADDR TOTAL WARMUP_BYTES`: one connection, an untimed
    /// transfer of `warmup_bytes`, then a timed one of `total`.
    Bulk {
        /// The server.
        addr: SocketAddr,
        /// Client to server (`up`) or server to client (`down`).
        upload: bool,
        /// Bytes in the timed transfer.
        total: u64,
        /// Bytes in the untimed one before it.
        warmup_bytes: u64,
    },
}

impl Mode {
    /// The command line of this mode (what [`Mode::parse`] reads).
    pub fn to_spec(&self) -> String {
        let ms = |d: &Duration| d.as_millis();
        match self {
            Mode::Handshake {
                addr,
                inflight,
                warmup,
                window,
            } => format!("handshake {addr} {inflight} {} {}", ms(warmup), ms(window)),
            Mode::Echo {
                addr,
                conns,
                size,
                warmup,
                window,
            } => format!("echo {addr} {conns} {size} {} {}", ms(warmup), ms(window)),
            Mode::Bulk {
                addr,
                upload,
                total,
                warmup_bytes,
            } => format!("{} {addr} {total} {warmup_bytes}", if *upload { "up" } else { "down" }),
        }
    }

    /// Reads a command line made by [`Mode::to_spec`].
    ///
    /// # Panics
    /// If `spec` is not one.
    pub fn parse(spec: &str) -> Mode {
        let f: Vec<&str> = spec.split_whitespace().collect();
        let bad = || -> ! { panic!("not a TLS client command line: {spec:?}") };
        let num = |i: usize| -> u64 { f.get(i).and_then(|s| s.parse().ok()).unwrap_or_else(|| bad()) };
        let ms = |i: usize| Duration::from_millis(num(i));
        let addr: SocketAddr = f.get(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| bad());
        match (f.first().copied(), f.len()) {
            (Some("handshake"), 5) => Mode::Handshake {
                addr,
                inflight: num(2) as usize,
                warmup: ms(3),
                window: ms(4),
            },
            (Some("echo"), 6) => Mode::Echo {
                addr,
                conns: num(2) as usize,
                size: num(3) as usize,
                warmup: ms(4),
                window: ms(5),
            },
            (Some(dir @ ("up" | "down")), 4) => Mode::Bulk {
                addr,
                upload: dir == "up",
                total: num(2),
                warmup_bytes: num(3),
            },
            _ => bad(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_round_trip_through_their_command_line() {
        let addr: SocketAddr = "127.0.0.1:4433".parse().unwrap();
        let modes = [
            Mode::Handshake {
                addr,
                inflight: 8,
                warmup: Duration::from_millis(100),
                window: Duration::from_millis(1000),
            },
            Mode::Echo {
                addr,
                conns: 100,
                size: 64,
                warmup: Duration::from_millis(5),
                window: Duration::from_millis(20),
            },
            Mode::Bulk {
                addr,
                upload: false,
                total: 1 << 30,
                warmup_bytes: 1 << 26,
            },
        ];
        for m in modes {
            assert_eq!(Mode::parse(&m.to_spec()), m);
        }
    }

    #[test]
    fn requests_round_trip() {
        assert_eq!(parse_request(&request(true, 1 << 30)), Some((true, 1 << 30)));
        assert_eq!(parse_request(&request(false, 7)), Some((false, 7)));
        let mut bad = request(true, 1);
        bad[0] = b'x';
        assert_eq!(parse_request(&bad), None);
    }
}
