//! The synchronisation primitives the engine's cross-thread paths use,
//! swapped for loom's under `--cfg asyncio_loom` so the models check the real
//! code. The cfg name is our own: a plain `--cfg loom` would also switch the
//! loom code paths of dependencies (event-listener's) that we do not model.

#[cfg(asyncio_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, Ordering};
#[cfg(asyncio_loom)]
pub(crate) use loom::sync::{Arc, Mutex};

#[cfg(not(asyncio_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, Ordering};
#[cfg(not(asyncio_loom))]
pub(crate) use std::sync::{Arc, Mutex};

/// One waker slot written by its owner and woken from any thread:
/// `atomic_waker::AtomicWaker`, or under loom (which cannot see inside that
/// crate) a mutex around the waker, which keeps the same contract: a wake
/// after a registration reaches the registered waker.
#[cfg(not(asyncio_loom))]
pub(crate) use atomic_waker::AtomicWaker;

/// See the non-loom `AtomicWaker`.
#[cfg(asyncio_loom)]
pub(crate) struct AtomicWaker(Mutex<Option<std::task::Waker>>);

#[cfg(asyncio_loom)]
impl AtomicWaker {
    pub(crate) fn new() -> Self {
        AtomicWaker(Mutex::new(None))
    }

    pub(crate) fn register(&self, waker: &std::task::Waker) {
        let mut slot = self.0.lock().unwrap();
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }

    pub(crate) fn wake(&self) {
        let taken = self.0.lock().unwrap().take();
        if let Some(w) = taken {
            w.wake();
        }
    }
}
