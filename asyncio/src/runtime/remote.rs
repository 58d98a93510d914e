//! What other threads can do to a loop: wake one of its tasks, or hand it a
//! callback. Both go through one [`RemoteQueue`], which also decides when the
//! loop must be woken out of `epoll_wait`.
//!
//! # The park protocol
//!
//! Waking an idle loop costs an `eventfd` write and, on another core, some
//! 33 µs of thread wake-up (`PERF_FLOORS.md`); waking a busy loop should cost
//! nothing but the queue push. One atomic byte carries two bits, `PENDING`
//! (items were pushed since the loop last drained) and `PARKED` (the loop is
//! in, or about to enter, `epoll_wait`), and every decision is a
//! read-modify-write on it:
//!
//! ```text
//! loop thread                            other thread
//! prev = fetch_or(PARKED)                push item (mutex)
//! block only if prev has no PENDING      prev = fetch_or(PENDING)
//! epoll_wait(timeout)                    if prev == PARKED (no PENDING):
//! fetch_and(!PARKED)                         eventfd write
//! (drain: fetch_and(!PENDING), then take the items)
//! ```
//!
//! The two `fetch_or`s are ordered in the byte's modification order. If the
//! pusher's comes first, the loop sees `PENDING` and does not block; if the
//! loop's comes first, the pusher sees `PARKED` and writes the eventfd. A
//! pusher that finds `PENDING` already set does nothing: an earlier pusher
//! either woke the loop or left `PENDING` for the loop's `fetch_or` to see.
//! So no item ever waits for a timer, and there is at most one eventfd
//! write per park. Because the argument rests only on read-modify-writes of
//! one location, the loom model in `loom_remote.rs` checks it exactly.

use std::sync::Arc;

use super::sync::{AtomicU8, Mutex, Ordering};
use super::task::RawTask;

const PENDING: u8 = 1;
const PARKED: u8 = 2;

struct Inner<T> {
    items: Vec<T>,
    closed: bool,
}

/// A multi-producer queue drained by one loop, with the park handshake.
pub(crate) struct RemoteQueue<T> {
    inner: Mutex<Inner<T>>,
    state: AtomicU8,
}

impl<T> RemoteQueue<T> {
    pub(crate) fn new() -> Self {
        RemoteQueue {
            inner: Mutex::new(Inner {
                items: Vec::new(),
                closed: false,
            }),
            state: AtomicU8::new(0),
        }
    }

    /// Pushes `item`; calls `wake` if the loop is (about to be) blocked.
    /// Gives the item back if the queue is closed.
    pub(crate) fn push(&self, item: T, wake: impl FnOnce()) -> Result<(), T> {
        {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            if inner.closed {
                return Err(item);
            }
            inner.items.push(item);
        }
        if self.state.fetch_or(PENDING, Ordering::AcqRel) == PARKED {
            wake();
        }
        Ok(())
    }

    /// Loop side: true if items may have been pushed since the last drain.
    /// A relaxed load: a push that happens-before this call is seen (the
    /// load reads its `PENDING`, or the later drain that cleared it), which
    /// is all `call_soon`'s ordering needs; a push racing with it may or may
    /// not be, as either order is then right.
    #[inline]
    pub(crate) fn has_pending(&self) -> bool {
        self.state.load(Ordering::Relaxed) & PENDING != 0
    }

    /// Loop side: moves every pushed item into `out`. Cheap when empty.
    pub(crate) fn drain_into(&self, out: &mut Vec<T>) {
        // A stale read here only delays the items to the next turn: `park`
        // decides with a read-modify-write and will not sleep on them.
        if self.state.load(Ordering::Relaxed) & PENDING == 0 {
            return;
        }
        if self.state.fetch_and(!PENDING, Ordering::AcqRel) & PENDING != 0 {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            out.append(&mut inner.items);
        }
    }

    /// Loop side: runs `wait(may_block)` with the loop published as parked.
    /// `may_block` is false when items arrived and the wait must not sleep.
    pub(crate) fn park<R>(&self, wait: impl FnOnce(bool) -> R) -> R {
        let may_block = self.state.fetch_or(PARKED, Ordering::AcqRel) & PENDING == 0;
        let r = wait(may_block);
        self.state.fetch_and(!PARKED, Ordering::AcqRel);
        r
    }

    /// Refuses further pushes and returns what was queued.
    pub(crate) fn close(&self) -> Vec<T> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.closed = true;
        self.state.fetch_and(!PENDING, Ordering::AcqRel);
        std::mem::take(&mut inner.items)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).closed
    }
}

/// A task reference travelling through the remote queue.
pub(crate) struct SendTask(pub(crate) RawTask);

// SAFETY: a SendTask owns one reference; off the loop thread only the
// reference count and `remote_queued` (both atomic) are touched, and the loop
// thread does everything else after popping it (see runtime::task notes).
unsafe impl Send for SendTask {}

/// An item for the loop from elsewhere.
pub(crate) enum Remote {
    /// Wake this task (the entry owns a reference).
    Wake(SendTask),
    /// Run this callback soon, as `call_soon_threadsafe`.
    Call(Box<dyn FnOnce() + Send>),
}

/// The part of a loop that other threads may hold: `Send + Sync`.
pub(crate) struct Shared {
    pub(crate) queue: RemoteQueue<Remote>,
    waker: super::reactor::LoopWaker,
}

impl Shared {
    pub(crate) fn new(waker: super::reactor::LoopWaker) -> Arc<Self> {
        Arc::new(Shared {
            queue: RemoteQueue::new(),
            waker,
        })
    }

    /// Queues `item` for the loop, waking it if it sleeps.
    pub(crate) fn push(&self, item: Remote) -> Result<(), Remote> {
        self.queue.push(item, || {
            if let Err(e) = self.waker.wake() {
                super::report::internal(&format!("waking the event loop failed: {e}"));
            }
        })
    }
}
