//! What the PostgreSQL bench (`benches/benches/postgres.rs`) shares with its
//! client processes: the workloads and their sizes ([`Workload`], [`Size`]),
//! the line a client prints ([`Sample`]), the client's own CPU clock
//! ([`cpu_now`]), and the two Rust clients ([`asyncio_peer`],
//! [`tokio_peer`]). The Python clients (asyncpg on asyncio and on uvloop)
//! are `benches/postgres/asyncpg_peer.py`, which does the same workloads
//! and prints the same line.
//!
//! Every client is a process of its own: it connects, prepares what it
//! may, runs the workload once at a tenth of its size as a warm-up, then
//! measures the workload (wall time, and its own CPU time: user + system of
//! the whole process, `CLOCK_PROCESS_CPUTIME_ID`) and prints one
//! [`Sample`] line.

pub mod asyncio_peer;
pub mod tokio_peer;

use std::time::{Duration, Instant};

/// The environment variable that hands a client the server's DSN.
pub const DSN_ENV: &str = "PG_BENCH_DSN";

/// The connections of the pool workload's pool (every peer's).
pub const POOL_SIZE: usize = 10;

/// The rows of the fetch workload: `(int4, text)`, made by the server.
pub const FETCH_SQL: &str = "SELECT i, 'row ' || i FROM generate_series(1, $1::int4) AS s(i)";

/// The COPY workload's table, a temporary table of each client's session.
pub const COPY_TABLE_SQL: &str = "CREATE TEMP TABLE bench_copy (i int4, t text)";

/// What a pool runs on a connection given back (asyncpg's reset, which
/// asyncio-postgres's pool also runs; the tokio-postgres peer's small pool
/// runs it too, so that every pool does the same round trips).
pub const POOL_RESET_SQL: &str = "SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;";

/// One workload of issue 17's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// `SELECT 1`, one after another on one connection.
    Sequential,
    /// `SELECT 1` from many tasks sharing one connection (pipelined).
    Pipelined,
    /// Tasks each acquiring a connection of a pool of [`POOL_SIZE`] for
    /// every `SELECT 1`.
    Pool,
    /// One query returning many `(int4, text)` rows, every value read.
    Fetch,
    /// `COPY … FROM STDIN (FORMAT binary)` of many `(int4, text)` rows.
    Copy,
}

impl Workload {
    /// Every workload, in table order.
    pub const ALL: [Workload; 5] = [
        Workload::Sequential,
        Workload::Pipelined,
        Workload::Pool,
        Workload::Fetch,
        Workload::Copy,
    ];

    /// The name on the command line and in the tables.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Sequential => "select1_sequential",
            Workload::Pipelined => "select1_pipelined",
            Workload::Pool => "select1_pool",
            Workload::Fetch => "fetch_rows",
            Workload::Copy => "copy_in",
        }
    }

    /// The workload called `name`.
    pub fn from_name(name: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == name)
    }

    /// What one operation is: a query or a row.
    pub fn unit(self) -> &'static str {
        match self {
            Workload::Fetch | Workload::Copy => "row",
            _ => "query",
        }
    }

    /// The workload's size: the issue's, or a small one for smoke runs.
    pub fn size(self, smoke: bool) -> Size {
        let (count, tasks) = match (self, smoke) {
            (Workload::Sequential, false) => (20_000, 1),
            (Workload::Sequential, true) => (200, 1),
            (Workload::Pipelined, false) => (20_000, 100),
            (Workload::Pipelined, true) => (200, 10),
            (Workload::Pool, false) => (20_000, 100),
            (Workload::Pool, true) => (200, 20),
            (Workload::Fetch, false) => (100_000, 1),
            (Workload::Fetch, true) => (1_000, 1),
            (Workload::Copy, false) => (1_000_000, 1),
            (Workload::Copy, true) => (10_000, 1),
        };
        Size { count, tasks }
    }

    /// A line describing the workload at `size`, for the report.
    pub fn describe(self, size: Size) -> String {
        let Size { count, tasks } = size;
        match self {
            Workload::Sequential => format!("{count} × `SELECT 1`, one at a time, one connection"),
            Workload::Pipelined => format!(
                "{count} × `SELECT 1` from {tasks} tasks sharing one connection ({} each; {tasks} in flight)",
                count / tasks
            ),
            Workload::Pool => format!(
                "{count} × `SELECT 1` from {tasks} tasks, {} each, each query on a connection acquired from a pool of {POOL_SIZE} (released after it)",
                count / tasks
            ),
            Workload::Fetch => format!("one query returning {count} rows `(int4, text)`, every value read"),
            Workload::Copy => format!("COPY of {count} rows `(int4, text)` into a temporary table, binary format"),
        }
    }
}

/// How big a workload is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size {
    /// Queries, or rows for fetch and COPY.
    pub count: usize,
    /// Tasks (pipelined and pool workloads; 1 otherwise).
    pub tasks: usize,
}

impl Size {
    /// The warm-up's size: a tenth of the count (at least one query per
    /// task), the same tasks.
    pub fn warmup(self) -> Size {
        Size {
            count: (self.count / 10).max(self.tasks),
            tasks: self.tasks,
        }
    }

    /// The queries each task runs (`count / tasks`).
    pub fn per_task(self) -> usize {
        self.count / self.tasks.max(1)
    }

    /// The operations a run does (`per_task × tasks`).
    pub fn ops(self) -> usize {
        self.per_task() * self.tasks.max(1)
    }
}

/// What one client measured: printed as `SAMPLE <ops> <wall ns> <cpu ns>`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Operations done (queries, or rows).
    pub ops: u64,
    /// Wall time of the workload.
    pub wall: Duration,
    /// The client process's CPU time (user + system) over the workload.
    pub cpu: Duration,
}

impl Sample {
    /// The line a client prints.
    pub fn line(&self) -> String {
        format!("SAMPLE {} {} {}", self.ops, self.wall.as_nanos(), self.cpu.as_nanos())
    }

    /// Reads a [`Sample::line`] (leading and trailing space ignored).
    pub fn parse(line: &str) -> Option<Sample> {
        let mut parts = line.trim().strip_prefix("SAMPLE ")?.split_whitespace();
        let mut next = || parts.next()?.parse::<u64>().ok();
        Some(Sample {
            ops: next()?,
            wall: Duration::from_nanos(next()?),
            cpu: Duration::from_nanos(next()?),
        })
    }

    /// Wall time per operation, µs.
    pub fn wall_us(&self) -> f64 {
        self.wall.as_secs_f64() * 1e6 / self.ops.max(1) as f64
    }

    /// Client CPU time per operation, µs.
    pub fn cpu_us(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.ops.max(1) as f64
    }
}

/// Set (by the bench's `--callgrind` mode) in a client run under valgrind:
/// the CPU clock is not read, as rustix reads it through the vDSO, which
/// valgrind does not provide.
pub const NO_CPU_CLOCK_ENV: &str = "PG_BENCH_NO_CPU_CLOCK";

/// This process's CPU time so far, user + system, every thread
/// (`clock_gettime(CLOCK_PROCESS_CPUTIME_ID)`: what getrusage's
/// `RUSAGE_SELF` counts, to the nanosecond); zero when
/// [`NO_CPU_CLOCK_ENV`] is set.
pub fn cpu_now() -> Duration {
    if std::env::var_os(NO_CPU_CLOCK_ENV).is_some() {
        return Duration::ZERO;
    }
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Starts a measurement: wall clock and CPU clock now.
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch {
    wall: Instant,
    cpu: Duration,
}

impl Stopwatch {
    /// Both clocks now.
    pub fn start() -> Stopwatch {
        Stopwatch {
            wall: Instant::now(),
            cpu: cpu_now(),
        }
    }

    /// The [`Sample`] of `ops` operations since [`start`](Stopwatch::start).
    pub fn stop(self, ops: usize) -> Sample {
        let cpu = cpu_now().saturating_sub(self.cpu);
        Sample {
            ops: ops as u64,
            wall: self.wall.elapsed(),
            cpu,
        }
    }
}

/// The COPY workload's rows, built before the measurement (every peer
/// builds its own the same way: `(i, "row i")`).
pub fn copy_rows(count: usize) -> Vec<(i32, String)> {
    (0..count).map(|i| (i as i32, format!("row {i}"))).collect()
}

/// What a fetch run checks: the sum of the ints plus the texts' lengths.
pub fn fetch_checksum(count: usize) -> u64 {
    (1..=count as u64).map(|i| i + 4 + i.to_string().len() as u64).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_line_round_trips() {
        let s = Sample {
            ops: 20_000,
            wall: Duration::from_nanos(1_234_567_890),
            cpu: Duration::from_nanos(987_654_321),
        };
        assert_eq!(Sample::parse(&s.line()), Some(s));
        assert_eq!(Sample::parse("garbage"), None);
    }

    #[test]
    fn names_round_trip() {
        for w in Workload::ALL {
            assert_eq!(Workload::from_name(w.name()), Some(w));
        }
    }

    #[test]
    fn fetch_checksum_counts_ints_and_text() {
        // rows (1, "row 1"), (2, "row 2"): 1 + 5 + 2 + 5
        assert_eq!(fetch_checksum(2), 13);
    }
}
