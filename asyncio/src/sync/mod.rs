//! Synchronization primitives and queues, as asyncio's: [`Lock`],
//! [`Semaphore`], [`BoundedSemaphore`], [`Event`], [`Condition`], [`Barrier`],
//! [`Queue`], [`LifoQueue`], [`PriorityQueue`].
//!
//! ```
//! use std::rc::Rc;
//! use std::time::Duration;
//!
//! asyncio::Runner::new().virtual_time(true).run(async {
//!     let sem = Rc::new(asyncio::sync::Semaphore::new(2));
//!     let start = asyncio::time::Instant::now();
//!     let jobs = (0..5).map(|_| {
//!         let sem = sem.clone();
//!         async move {
//!             let _permit = sem.acquire().await; // `async with semaphore:`
//!             asyncio::sleep(Duration::from_secs(1)).await;
//!         }
//!     });
//!     asyncio::gather(jobs).await;
//!     assert_eq!(start.elapsed(), Duration::from_secs(3)); // 2 + 2 + 1
//! });
//! ```
//!
//! # Loop-bound
//!
//! Like asyncio's, these belong to one event loop: they use no atomics and
//! are `!Sync`. A primitive is bound to the loop that first waits on it;
//! using it from another loop afterwards is a panic naming the primitive
//! (never undefined behaviour). To talk across threads or loops, use
//! [`channel`] or [`oneshot`]: `Send + Sync`, and a send from any thread
//! wakes the receiving loop.
//!
//! # Fairness and cancellation
//!
//! All of them sit on one FIFO wait queue that *hands off*: a released
//! permit goes straight to the longest waiter, so a newcomer can never barge
//! ahead of a waiter that was woken but has not run yet (CPython gh-90155).
//! A waiter cancelled after it was handed the permit passes it on to the next
//! waiter; no turn is lost.

mod barrier;
mod channel;
mod condition;
mod event;
mod lock;
pub mod oneshot;
mod queue;
mod semaphore;

pub use barrier::{Barrier, BarrierWait, BrokenBarrierError};
pub use channel::{channel, Receiver, Recv, RecvError, Send, SendError, Sender, TryRecvError, TrySendError};
pub use condition::{Condition, ConditionGuard, ConditionWait};
pub use event::{Event, EventWait};
pub use lock::{Lock, LockAcquire, LockGuard};
pub use queue::{GetError, LifoQueue, PriorityQueue, PutError, Queue, QueueShutDown, TaskDoneError};
pub use semaphore::{Acquire, BoundedSemaphore, Semaphore, SemaphoreOverflow, SemaphorePermit};

use std::cell::Cell;

use crate::runtime::context;

/// Remembers the loop a primitive belongs to and refuses any other.
#[derive(Default)]
pub(crate) struct LoopBound {
    loop_id: Cell<usize>,
}

impl LoopBound {
    /// Binds to the running loop on first use; panics on a different loop,
    /// naming the primitive and both threads.
    #[track_caller]
    pub(crate) fn check(&self, what: &'static str) {
        let current = context::with_core(|core| core.map(|c| c.id()));
        match (self.loop_id.get(), current) {
            (0, Some(current)) => self.loop_id.set(current),
            (bound, Some(current)) if bound == current => {}
            (0, None) => {}
            (bound, current) => {
                let owner = context::loop_thread(bound).unwrap_or_else(|| "a loop that has since closed".to_owned());
                let here = match current {
                    Some(_) => format!("the loop running on thread {}", context::thread_desc()),
                    None => format!("thread {}, which runs no loop", context::thread_desc()),
                };
                panic!(
                    "asyncio::sync::{what} belongs to the event loop on thread {owner} but was used from {here}; \
                     primitives are loop-bound, as in asyncio: use one per loop, or a channel across threads"
                );
            }
        }
    }
}
