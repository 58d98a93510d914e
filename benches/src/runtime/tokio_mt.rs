//! The tokio multi-thread adapter: [`TokioMt`], tokio's multi-thread runtime
//! with two workers and all drivers enabled (the root future runs on the
//! calling thread, as under `#[tokio::main]`), with the functions every tokio
//! adapter has (`tokio_common`).

use super::tokio_common::tokio_adapter;

tokio_adapter!(
    /// tokio's multi-thread runtime with two workers, all drivers enabled.
    TokioMt,
    "tokio-mt(2)",
    tokio::runtime::Builder::new_multi_thread().worker_threads(2)
);
