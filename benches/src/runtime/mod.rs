//! The runtime adapters: one module per runtime, each a type that implements
//! [`Runtime`] (build, run a root future) and has the same inherent
//! associated functions, so that a workload written once in a macro expands
//! to the same code for every runtime:
//! - tasks: `spawn`, `detach`, `yield_now`, `sleep`, `timeout`, `join_all`,
//!   `group` (a task group with `spawn` and `join`: [`AsyncioGroup`],
//!   [`TokioGroup`], [`SmolGroup`]);
//! - locks, semaphores and queues: `new_lock`, `lock`, `new_semaphore`,
//!   `acquire`, `spsc_queue`, `mpmc_queue`, `thread_channel` (the ends share
//!   the traits of [`crate::channels`]), over asyncio's `sync` primitives (in
//!   `Rc`s), tokio's `tokio::sync` ones and smol's `async-lock` and
//!   `async-channel` (in `Arc`s: an `Arc` is only cloned once per task, at
//!   spawn, never in the measured loops);
//! - notifications: `new_event`, `notify_event`, `wait_event`, a one-waiter,
//!   auto-reset hand-off over asyncio's `sync::Event` (cleared after each
//!   wait), tokio's `sync::Notify` and, for smol, an `event_listener::Event`
//!   with a flag ([`FlagEvent`]);
//! - `spawn_blocking` on [`Asyncio`], [`TokioCt`] and [`SmolLocal`]: a closure
//!   run on the runtime's thread pool for blocking calls (`asyncio::to_thread`,
//!   `tokio::task::spawn_blocking`, `blocking::unblock`), its result awaited.
//!
//! The functions are inherent rather than trait methods because their bounds
//! differ (the multi-thread peers need `Send` futures, asyncio does not). The
//! two tokio adapters share their functions through one macro
//! (`tokio_common`), the two smol adapters theirs through another
//! (`smol_common`).
//!
//! # Fairness rules the adapters follow
//! - A runtime is built before a measured run and dropped after it: building
//!   and tearing down are never timed, and every runtime is built afresh for
//!   every sample (none reuses warm state from the previous one).
//! - Every runtime's own primitives are used (`asyncio::yield_now`,
//!   `tokio::task::yield_now`, `futures_lite::future::yield_now`, and so on),
//!   with no wrapper except the one that turns a join result into the task's
//!   output, which asyncio and tokio both get and smol does not need, and,
//!   likewise, the ones that unwrap a `put`/`send` result, turn a `get`/`recv`
//!   result into an `Option` and unwrap tokio's `Semaphore::acquire` (the
//!   blocking channel ends get the same two). asyncio's `Event` stays set
//!   until cleared, so its `wait_event` clears it as soon as its wait
//!   returns; `event_listener::Event` stores no notification, so the smol
//!   columns pair it with a flag ([`FlagEvent`]), the pattern its own docs
//!   show; tokio's `Notify` stores a permit and needs neither.
//! - smol is driven by `async_io::block_on`, which is what `smol::block_on` is:
//!   that thread then runs async-io's reactor and timers itself while idle.
//!   With `futures_lite::future::block_on` smol's timers would be fired by
//!   async-io's fallback thread and every timer wake would cross threads.
//! - The multi-thread peers run the root future on the calling thread (as
//!   `#[tokio::main]` does) and spawned tasks on a pool of two workers; for
//!   smol, two threads run `Executor::run` and the calling thread only drives
//!   the root future.

mod asyncio_loop;
mod smol_common;
mod smol_local;
mod smol_mt;
mod tokio_common;
mod tokio_ct;
mod tokio_mt;

use std::future::Future;
use std::time::{Duration, Instant};

pub use asyncio_loop::{Asyncio, AsyncioDebug, AsyncioEager, AsyncioGroup, AsyncioLoop, AsyncioUring};
pub use smol_common::{FlagEvent, SmolGroup};
pub use smol_local::SmolLocal;
pub use smol_mt::SmolMt;
pub use tokio_common::TokioGroup;
pub use tokio_ct::TokioCt;
pub use tokio_mt::TokioMt;

/// The `join_all` of an adapter whose runtime has none: the runtime-neutral
/// [`join_all`](crate::join_all).
macro_rules! neutral_join_all {
    ($runtime:literal) => {
        #[doc = concat!("The runtime-neutral [`join_all`](crate::join_all) (", $runtime, " has none).")]
        #[inline]
        pub fn join_all<I>(futures: I) -> $crate::JoinAll<I::Item>
        where
            I: IntoIterator,
            I::Item: std::future::Future + Unpin,
        {
            $crate::join_all(futures)
        }
    };
}

use neutral_join_all;

/// A `spawn_blocking` whose runtime's handle yields a `Result`: `$spawn(f)`
/// (documented by the attributes before it), its handle `$handle<T>` wrapped
/// in [`Unwrap`](crate::Unwrap).
macro_rules! unwrapped_spawn_blocking {
    ($(#[$attr:meta])* $handle:path, $spawn:path) => {
        $(#[$attr])*
        #[inline]
        pub fn spawn_blocking<F, T>(f: F) -> $crate::Unwrap<$handle>
        where
            F: FnOnce() -> T + Send + 'static,
            T: Send + 'static,
        {
            $crate::Unwrap($spawn(f))
        }
    };
}

use unwrapped_spawn_blocking;

/// A runtime built for one measured run. Besides this trait, each adapter has
/// inherent associated functions with the same names and shapes (`spawn`,
/// `detach`, `yield_now`, `sleep`, `timeout`, `join_all`, `group`), used by
/// the workload macros;
/// they are inherent rather than trait methods because their bounds differ
/// (the multi-thread peers need `Send` futures, asyncio does not).
pub trait Runtime {
    /// The column title.
    const NAME: &'static str;
    /// Builds the runtime (not timed).
    fn new() -> Self;
    /// Runs `future` to completion as the root future on this thread.
    fn block_on<F: Future>(&mut self, future: F) -> F::Output;
}

/// The column titles of the five runtimes, in table order.
pub const RUNTIME_NAMES: [&str; 5] = [
    Asyncio::NAME,
    TokioCt::NAME,
    SmolLocal::NAME,
    TokioMt::NAME,
    SmolMt::NAME,
];

/// Builds a runtime of type `R`, runs `body` as its root future and returns
/// the time `body` took, measured inside the root future (building and
/// dropping the runtime are not timed).
pub fn time_on<R: Runtime, F: Future<Output = ()>>(body: F) -> Duration {
    let mut rt = R::new();
    let took = rt.block_on(async move {
        let start = Instant::now();
        body.await;
        start.elapsed()
    });
    drop(rt);
    took
}

/// Builds a runtime of type `R`, runs `warmup` and then `body` in its root
/// future, and returns the time `body` alone took (building and dropping the
/// runtime and the warm-up are not timed).
pub fn time_after<R: Runtime, W: Future, B: Future<Output = ()>>(warmup: W, body: B) -> Duration {
    let mut rt = R::new();
    let took = rt.block_on(async move {
        warmup.await;
        elapsed(body).await
    });
    drop(rt);
    took
}

/// The time `body` takes to complete.
async fn elapsed(body: impl Future<Output = ()>) -> Duration {
    let start = Instant::now();
    body.await;
    start.elapsed()
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    use super::*;
    use crate::channels::{QueueRx, QueueTx, ThreadRx, ThreadTx};
    use crate::futures::{StaggerChain, YieldThen};
    use crate::join::assert_in_order;

    /// Runs `$body` once per runtime adapter (all five, or those listed),
    /// with the type alias `$r` naming the adapter.
    macro_rules! on_runtimes {
        (|$r:ident| $body:block) => {
            on_runtimes!(Asyncio, TokioCt, SmolLocal, TokioMt, SmolMt; |$r| $body)
        };
        ($($rt:ident),+; |$r:ident| $body:block) => {
            $({
                type $r = $rt;
                $body
            })+
        };
    }

    #[test]
    fn every_runtime_runs_a_task() {
        fn check<R: Runtime>(spawn_and_join: impl Future<Output = u32>) {
            assert_eq!(R::new().block_on(spawn_and_join), 7);
        }
        check::<Asyncio>(async { Asyncio::spawn(async { 7 }).await });
        check::<TokioCt>(async { TokioCt::spawn(async { 7 }).await });
        check::<SmolLocal>(async { SmolLocal::spawn(async { 7 }).await });
        check::<TokioMt>(async { TokioMt::spawn(async { 7 }).await });
        check::<SmolMt>(async { SmolMt::spawn(async { 7 }).await });
    }

    #[test]
    fn every_runtime_joins_and_groups() {
        on_runtimes!(|R| {
            let out = R::new().block_on(async {
                let joined = R::join_all((0..50u64).map(YieldThen::new)).await;
                assert_in_order(&joined, 50);
                let chain = StaggerChain::new(50);
                let joined = R::join_all(chain.children()).await;
                assert_in_order(&joined, 50);
                assert_eq!(chain.finished(), 50);
                let mut group = R::group(50);
                for i in 0..50u64 {
                    group.spawn(async move { i });
                }
                let mut seen = Vec::new();
                group.join(|v| seen.push(v)).await;
                seen.sort_unstable();
                seen
            });
            assert_in_order(&out, 50);
        });
    }

    #[test]
    fn every_runtime_locks_and_queues() {
        on_runtimes!(|R| {
            R::new().block_on(async {
                let lock = R::new_lock();
                let guard = R::lock(&lock).await;
                drop(guard);
                let sem = R::new_semaphore(2);
                let (a, b) = (R::acquire(&sem).await, R::acquire(&sem).await);
                drop((a, b));
                let (tx, mut rx) = R::spsc_queue::<u64>(4);
                for i in 0..3 {
                    tx.enqueue(i).await;
                }
                tx.close_queue();
                let mut got = Vec::new();
                while let Some(v) = rx.dequeue().await {
                    got.push(v);
                }
                assert_in_order(&got, 3);
                let (tx, rx) = R::mpmc_queue::<u64>(4);
                let mut rx2 = rx.clone();
                tx.clone().enqueue(7).await;
                tx.close_queue();
                assert_eq!(rx2.dequeue().await, Some(7));
                assert_eq!(rx2.dequeue().await, None);
            });
        });
    }

    #[test]
    fn every_runtime_hands_events_back_and_forth() {
        on_runtimes!(|R| {
            R::new().block_on(async {
                // A notification sent before anyone waits is kept.
                let early = R::new_event();
                R::notify_event(&early);
                R::wait_event(&early).await;
                // Strict alternation: each side sees exactly the turns
                // the other has taken, never a stale notification.
                let (ping, pong) = (R::new_event(), R::new_event());
                let turns = Arc::new(std::sync::atomic::AtomicU64::new(0));
                let a = {
                    let (ping, pong, turns) = (ping.clone(), pong.clone(), turns.clone());
                    R::spawn(async move {
                        for i in 0..100u64 {
                            turns.fetch_add(1, Ordering::Relaxed);
                            R::notify_event(&ping);
                            R::wait_event(&pong).await;
                            assert_eq!(turns.load(Ordering::Relaxed), 2 * i + 2);
                        }
                    })
                };
                let b = R::spawn(async move {
                    for i in 0..100u64 {
                        R::wait_event(&ping).await;
                        assert_eq!(turns.load(Ordering::Relaxed), 2 * i + 1);
                        turns.fetch_add(1, Ordering::Relaxed);
                        R::notify_event(&pong);
                    }
                });
                a.await;
                b.await;
            });
        });
    }

    #[test]
    fn every_runtime_runs_blocking_calls_on_a_pool() {
        on_runtimes!(Asyncio, TokioCt, SmolLocal; |R| {
            R::new().block_on(async {
                let caller = std::thread::current().id();
                let elsewhere = R::spawn_blocking(move || std::thread::current().id()).await;
                assert_ne!(elsewhere, caller);
                // Many at once, each result awaited in submission order.
                let handles: Vec<_> = (0..50u64).map(|i| R::spawn_blocking(move || i)).collect();
                for (i, h) in (0..50u64).zip(handles) {
                    assert_eq!(h.await, i);
                }
            });
        });
    }

    #[test]
    fn every_runtime_crosses_threads_on_channels() {
        on_runtimes!(|R| {
            R::new().block_on(async {
                // A std thread sends, a task receives.
                let (tx, mut rx) = R::thread_channel::<u64>(4);
                let sender = std::thread::spawn(move || {
                    for i in 0..100 {
                        tx.enqueue_blocking(i);
                    }
                });
                let receiver = R::spawn(async move {
                    let mut got = Vec::new();
                    while let Some(v) = rx.dequeue().await {
                        got.push(v);
                    }
                    got
                });
                assert_in_order(&receiver.await, 100);
                sender.join().expect("sender thread");
                // A task sends, a std thread receives.
                let (tx, mut rx) = R::thread_channel::<u64>(4);
                let receiver = std::thread::spawn(move || {
                    let mut got = Vec::new();
                    while let Some(v) = rx.dequeue_blocking() {
                        got.push(v);
                    }
                    got
                });
                let sender = R::spawn(async move {
                    for i in 0..100 {
                        tx.enqueue(i).await;
                    }
                    tx.close_queue();
                });
                sender.await;
                assert_in_order(&receiver.join().expect("receiver thread"), 100);
            });
        });
    }
}
