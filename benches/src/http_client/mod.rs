//! What the HTTP client bench (`benches/benches/http_client.rs`) shares with
//! its client processes: the protocols ([`Protocol`]), the workload's size
//! ([`Size`]), the two Rust clients ([`asyncio_peer`], [`reqwest_peer`]).
//! The line a client prints and its clocks are the PostgreSQL bench's
//! ([`Sample`], [`Stopwatch`]). The Python clients (aiohttp and httpx on
//! asyncio and on uvloop) are `benches/http_client/py_peer.py`, which does
//! the same workload and prints the same line.
//!
//! The workload: one pooled client (at most [`Size::in_flight`]
//! connections, every one kept alive), [`Size::in_flight`] tasks each doing
//! `count / in_flight` GETs one after another, each response's status
//! checked (200), its HTTP version checked on the HTTP/2 rows, its body read
//! whole; first a warm-up of a tenth of the count (at least one GET per
//! task: the pool's connections are open before the clock starts), then the
//! measured run (wall time, and the client process's own CPU time).

pub mod asyncio_peer;
pub mod reqwest_peer;

pub use crate::postgres::{Sample, Stopwatch, NO_CPU_CLOCK_ENV};

/// The environment variable naming the PEM file of the CA that the clients
/// trust for `https://` URLs (the bench's throwaway CA).
pub const CA_ENV: &str = "HTTP_BENCH_CA";

/// How a row's client speaks to its server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1, over TLS for an `https://` URL (ALPN offering
    /// `http/1.1` only).
    H1,
    /// HTTPS with ALPN offering `h2` (and `http/1.1`); the server picks
    /// HTTP/2.
    H2,
    /// Cleartext HTTP/2 with prior knowledge.
    H2c,
}

impl Protocol {
    /// Every protocol.
    pub const ALL: [Protocol; 3] = [Protocol::H1, Protocol::H2, Protocol::H2c];

    /// The name on a client's command line.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::H1 => "h1",
            Protocol::H2 => "h2",
            Protocol::H2c => "h2c",
        }
    }

    /// The protocol called `name`.
    pub fn from_name(name: &str) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Whether responses must come in HTTP/2.
    pub fn is_h2(self) -> bool {
        self != Protocol::H1
    }
}

/// How big a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size {
    /// GETs in the measured run.
    pub count: usize,
    /// GETs in flight at once: the tasks, and the pool's connections.
    pub in_flight: usize,
}

impl Size {
    /// The issue's: 10,000 GETs, 100 in flight; or a small one for smoke
    /// runs.
    pub fn of(smoke: bool) -> Size {
        if smoke {
            Size {
                count: 200,
                in_flight: 10,
            }
        } else {
            Size {
                count: 10_000,
                in_flight: 100,
            }
        }
    }

    /// The warm-up's size: a tenth of the count (at least one GET per
    /// task), the same tasks.
    pub fn warmup(self) -> Size {
        Size {
            count: (self.count / 10).max(self.in_flight),
            in_flight: self.in_flight,
        }
    }

    /// The GETs each task does (`count / in_flight`).
    pub fn per_task(self) -> usize {
        self.count / self.in_flight.max(1)
    }

    /// The GETs a run does (`per_task × in_flight`).
    pub fn requests(self) -> usize {
        self.per_task() * self.in_flight.max(1)
    }
}

/// The CA to trust, read from the file named in [`CA_ENV`], if set.
///
/// # Panics
/// If the file cannot be read.
pub fn ca_pem() -> Option<String> {
    let path = std::env::var_os(CA_ENV)?;
    Some(std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read the CA {}: {e}", path.to_string_lossy())))
}
