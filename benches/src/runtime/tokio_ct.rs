//! The tokio current-thread adapter: [`TokioCt`], tokio's current-thread
//! runtime with all drivers enabled, with the functions every tokio adapter
//! has (`tokio_common`) and `spawn_blocking`.

use super::tokio_common::tokio_adapter;
use super::unwrapped_spawn_blocking;

tokio_adapter!(
    /// tokio's current-thread runtime, all drivers enabled.
    TokioCt,
    "tokio-ct",
    tokio::runtime::Builder::new_current_thread()
);

impl TokioCt {
    unwrapped_spawn_blocking!(
        /// `tokio::task::spawn_blocking`: `f` on the runtime's blocking pool.
        tokio::task::JoinHandle<T>,
        tokio::task::spawn_blocking
    );
}
