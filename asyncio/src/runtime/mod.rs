//! The engine: everything users don't touch directly.
//!
//! | module | what |
//! |---|---|
//! | [`core`] | the loop: ready queue, turn, completion, close |
//! | [`task`] | task cells, the waker, the live-task list |
//! | [`timer`] | the hierarchical timer wheel |
//! | [`clock`] | real or virtual time |
//! | [`reactor`] | I/O registrations and readiness: mio (epoll/kqueue) or io_uring |
//! | `uring` | the reactor's io_uring backend (Linux) |
//! | [`remote`] | cross-thread queue and the park handshake |
//! | [`context`] | the thread's running loop |
//! | [`ctxvars`] | context variables' maps, and which context is current |
//! | [`debug`] | debug mode's task records and the stall watchdog |
//! | `stall_trace` | the stuck loop thread's backtrace, by signal (Linux; feature `stall-backtrace`, else `stall_trace_off.rs`) |
//! | [`pool`] | the executors' job queue, worker threads and shutdown |
//! | [`future_set`] | futures polled in place with a waker each (gather, wait) |
//! | [`wait_queue`] | the FIFO hand-off queue under every sync primitive |
//!
//! The public trees (`task`, `time`, `io`, the loop handle) are thin wrappers
//! over these. All `unsafe` in the crate lives here.

pub(crate) mod affinity;
pub(crate) mod clock;
pub(crate) mod context;
pub(crate) mod core;
pub(crate) mod ctxvars;
pub(crate) mod debug;
pub(crate) mod future_set;
pub(crate) mod pool;
pub(crate) mod reactor;
pub(crate) mod remote;
pub(crate) mod report;
pub(crate) mod slab;
pub(crate) mod spin;
#[cfg(all(target_os = "linux", feature = "stall-backtrace"))]
pub(crate) mod stall_trace;
#[cfg(all(target_os = "linux", not(feature = "stall-backtrace")))]
#[path = "stall_trace_off.rs"]
pub(crate) mod stall_trace;
pub(crate) mod sync;
pub(crate) mod task;
pub(crate) mod timer;
#[cfg(target_os = "linux")]
pub(crate) mod uring;
pub(crate) mod wait_queue;
pub(crate) mod wait_set;

#[cfg(all(test, asyncio_loom))]
mod loom_future_set;
#[cfg(all(test, asyncio_loom))]
mod loom_remote;
#[cfg(all(test, asyncio_loom))]
mod loom_wait_set;

pub(crate) use self::core::Core;
