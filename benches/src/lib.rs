//! Shared harness for the comparison benchmarks in `benches/`: run them with
//! `cargo bench -p asyncio-benches` (add `--bench compare`, `--bench memory`,
//! ...). One concept per module, everything re-exported here:
//! - [`config`]: rounds, smoke mode and name filters ([`Config`]);
//! - [`stats`]: [`Summary`] of the samples, [`XorShift64`];
//! - [`sampling`]: the runtimes taking turns round-robin ([`round_robin`],
//!   [`measure`]);
//! - [`report`]: number formatting, [`Table`], the medians table and the one
//!   ratio table the benches share;
//! - [`futures`]: tiny hand-written futures every runtime runs unchanged;
//! - [`join`]: [`join_all`], the peers' stand-in for `asyncio::gather`;
//! - [`runtime`]: one adapter per runtime ([`Asyncio`], [`TokioCt`],
//!   [`SmolLocal`], [`TokioMt`], [`SmolMt`]) behind [`Runtime`], and the
//!   fairness rules they follow;
//! - [`channels`]: the queue and channel ends' traits ([`QueueTx`],
//!   [`QueueRx`], [`ThreadTx`], [`ThreadRx`]);
//! - [`cpu`]: the process's CPU time and context switches ([`CpuUsage`]);
//! - [`placement`]: a server and its client process pinned to CPUs of their
//!   own, or not ([`Placement`]);
//! - [`tls`]: the TLS bench's throwaway PKI, protocol and client process;
//! - [`postgres`]: the PostgreSQL bench's workloads and its Rust clients
//!   (asyncio-postgres, tokio-postgres), each run as a process of its own;
//! - [`http_client`]: the HTTP client bench's workload and its Rust clients
//!   (asyncio-http's client, reqwest on tokio), each run as a process of its
//!   own;
//! - [`workloads`]: workload code shared between bench targets
//!   ([`shared_workloads!`], [`runtime_modules!`], [`per_runtime!`],
//!   [`echo_streams`]).

#![forbid(unsafe_code)]

pub mod channels;
pub mod config;
pub mod cpu;
pub mod futures;
pub mod http_client;
pub mod join;
pub mod placement;
pub mod postgres;
pub mod report;
pub mod runtime;
pub mod sampling;
pub mod stats;
pub mod tls;
pub mod workloads;

pub use channels::{assert_count_and_sum, count_and_sum, count_and_sum_blocking, QueueRx, QueueTx, ThreadRx, ThreadTx};
pub use config::Config;
pub use cpu::{CpuUsage, CLOCK_TICKS_PER_SEC};
pub use futures::{Signal, SignalWait, StaggerChain, Staggered, Unwrap, YieldOnce, YieldThen};
pub use join::{assert_in_order, join_all, JoinAll};
pub use placement::Placement;
pub use report::{fmt_bytes, fmt_num, fmt_ratio, Table};
pub use runtime::{
    time_after, time_on, Asyncio, AsyncioDebug, AsyncioEager, AsyncioGroup, AsyncioLoop, AsyncioUring, FlagEvent,
    Runtime, SmolGroup, SmolLocal, SmolMt, TokioCt, TokioGroup, TokioMt, RUNTIME_NAMES,
};
pub use sampling::{measure, round_robin, Run};
pub use stats::{Summary, XorShift64};
pub use workloads::{echo_streams, ECHO_BUF};
