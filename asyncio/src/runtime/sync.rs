//! The synchronisation primitives the engine's cross-thread paths use,
//! swapped for loom's under `--cfg asyncio_loom` so the models check the real
//! code. The cfg name is our own: a plain `--cfg loom` would also switch the
//! loom code paths of dependencies (event-listener's) that we do not model.

#[cfg(asyncio_loom)]
pub(crate) use loom::sync::atomic::{AtomicU8, Ordering};
#[cfg(asyncio_loom)]
pub(crate) use loom::sync::Mutex;

#[cfg(not(asyncio_loom))]
pub(crate) use std::sync::atomic::{AtomicU8, Ordering};
#[cfg(not(asyncio_loom))]
pub(crate) use std::sync::Mutex;
