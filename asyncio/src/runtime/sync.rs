//! The synchronisation primitives the engine's cross-thread paths use,
//! swapped for loom's under `--cfg asyncio_loom` so the models check the real
//! code. The cfg name is our own: a plain `--cfg loom` would also switch the
//! loom code paths of dependencies (concurrent-queue's) that we do not model.

#[cfg(asyncio_loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU8, AtomicUsize, Ordering};
#[cfg(asyncio_loom)]
pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};

#[cfg(not(asyncio_loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU8, AtomicUsize, Ordering};
#[cfg(not(asyncio_loom))]
pub(crate) use std::sync::{Arc, Mutex, MutexGuard};

/// One waker slot written by its owner and woken from any thread:
/// `atomic_waker::AtomicWaker`, or under loom (which cannot see inside that
/// crate) the same state machine written over loom's atomics, so that the
/// models see what the real one does, including its one surprise: a `wake`
/// (or `take`) that finds another in progress does nothing, trusting that
/// one to wake whatever is registered.
#[cfg(not(asyncio_loom))]
pub(crate) use atomic_waker::AtomicWaker;

/// See the non-loom `AtomicWaker`. States: `0` idle, `REGISTERING` (the
/// owner is writing the cell), `WAKING` (a waker is taking it out); both
/// bits are locks on the cell.
#[cfg(asyncio_loom)]
pub(crate) struct AtomicWaker {
    state: loom::sync::atomic::AtomicUsize,
    cell: loom::cell::UnsafeCell<Option<std::task::Waker>>,
}

#[cfg(asyncio_loom)]
const REGISTERING: usize = 1;
#[cfg(asyncio_loom)]
const WAKING: usize = 2;

// SAFETY: the cell is only touched by whoever holds the REGISTERING or the
// WAKING bit, each taken by an atomic read-modify-write from idle, so never
// by two threads at once; `Waker` is `Send + Sync`.
#[cfg(asyncio_loom)]
unsafe impl Sync for AtomicWaker {}

#[cfg(asyncio_loom)]
impl AtomicWaker {
    pub(crate) fn new() -> Self {
        AtomicWaker {
            state: loom::sync::atomic::AtomicUsize::new(0),
            cell: loom::cell::UnsafeCell::new(None),
        }
    }

    pub(crate) fn register(&self, waker: &std::task::Waker) {
        match self
            .state
            .compare_exchange(0, REGISTERING, Ordering::Acquire, Ordering::Acquire)
            .unwrap_or_else(|s| s)
        {
            0 => {
                // SAFETY: REGISTERING is held (see the `Sync` impl).
                self.cell.with_mut(|c| unsafe {
                    if !(*c).as_ref().is_some_and(|w| w.will_wake(waker)) {
                        *c = Some(waker.clone());
                    }
                });
                if self
                    .state
                    .compare_exchange(REGISTERING, 0, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    // A wake came meanwhile and left it to us.
                    // SAFETY: REGISTERING is still held.
                    let w = self.cell.with_mut(|c| unsafe { (*c).take() });
                    self.state.swap(0, Ordering::AcqRel);
                    if let Some(w) = w {
                        w.wake();
                    }
                }
            }
            // A wake is in progress with the old waker: wake the new one,
            // as the real one does. The yield is the model's own: without
            // it loom would spin a registrant that re-polls on that wake
            // while the waking thread never runs. (It also keeps loom from
            // exploring the registrant running on before the waker moves.)
            WAKING => {
                waker.wake_by_ref();
                loom::thread::yield_now();
            }
            // The real one drops a registration racing another one; we
            // promise one registrant at a time, so the model fails on it.
            s => panic!("two registrations of one AtomicWaker at once (state {s})"),
        }
    }

    pub(crate) fn wake(&self) {
        if let Some(w) = self.take() {
            w.wake();
        }
    }

    pub(crate) fn take(&self) -> Option<std::task::Waker> {
        if self.state.fetch_or(WAKING, Ordering::AcqRel) == 0 {
            // SAFETY: WAKING was taken from idle (see the `Sync` impl).
            let w = self.cell.with_mut(|c| unsafe { (*c).take() });
            self.state.fetch_and(!WAKING, Ordering::Release);
            w
        } else {
            None
        }
    }
}
