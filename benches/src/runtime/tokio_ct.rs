//! The tokio current-thread adapter: [`TokioCt`], tokio's current-thread
//! runtime with all drivers enabled, with the functions every tokio adapter
//! has (`tokio_common`) and `spawn_blocking`.

use super::tokio_common::tokio_adapter;
use crate::futures::Unwrap;

tokio_adapter!(
    /// tokio's current-thread runtime, all drivers enabled.
    TokioCt,
    "tokio-ct",
    tokio::runtime::Builder::new_current_thread()
);

impl TokioCt {
    /// `tokio::task::spawn_blocking`: `f` on the runtime's blocking pool.
    #[inline]
    pub fn spawn_blocking<F, T>(f: F) -> Unwrap<tokio::task::JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        Unwrap(tokio::task::spawn_blocking(f))
    }
}
