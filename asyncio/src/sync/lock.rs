//! [`Lock`]: mutual exclusion, as `asyncio.Lock` (a one-permit semaphore).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::semaphore::{Acquire, Semaphore, SemaphorePermit};

/// Mutual exclusion between tasks (`asyncio.Lock`): [`acquire`](Self::acquire)
/// returns a [`LockGuard`]; dropping the guard releases the lock.
///
/// FIFO-fair with hand-off: the lock goes straight to the longest waiter.
/// Loop-bound (see the [module docs](super)).
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::Duration;
///
/// asyncio::Runner::new().virtual_time(true).run(async {
///     let lock = Rc::new(asyncio::sync::Lock::new());
///     let shared = Rc::new(Cell::new(0));
///     let workers = (0..5).map(|_| {
///         let (lock, shared) = (lock.clone(), shared.clone());
///         async move {
///             let _guard = lock.acquire().await; // `async with lock:`
///             let before = shared.get();
///             asyncio::sleep(Duration::from_secs(1)).await;
///             shared.set(before + 1); // no lost update
///         }
///     });
///     asyncio::gather(workers).await;
///     assert_eq!(shared.get(), 5);
/// });
/// ```
pub struct Lock {
    sem: Semaphore,
}

impl Default for Lock {
    fn default() -> Self {
        Lock::new()
    }
}

impl Lock {
    /// An unlocked lock.
    pub fn new() -> Self {
        Lock {
            sem: Semaphore::named(1, "Lock"),
        }
    }

    /// Waits for the lock (`async with lock:` / `await lock.acquire()`).
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped acquire leaves the queue, and if the lock had
    /// already been handed to it, the lock goes to the next waiter.
    ///
    /// # Panics
    /// When polled on a different event loop than the one the lock is bound
    /// to.
    #[inline]
    pub fn acquire(&self) -> LockAcquire<'_> {
        LockAcquire {
            inner: self.sem.acquire(),
        }
    }

    /// The lock if it is free and nobody waits; never waits.
    ///
    /// ```
    /// let lock = asyncio::sync::Lock::new();
    /// let g = lock.try_acquire().unwrap();
    /// assert!(lock.locked() && lock.try_acquire().is_none());
    /// drop(g);
    /// assert!(!lock.locked());
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Option<LockGuard<'_>> {
        self.sem.try_acquire().map(|permit| LockGuard { _permit: permit })
    }

    /// True if a task holds the lock (`lock.locked()`). As in asyncio, a
    /// lock handed to a waiter that has not run yet is not held yet; it is
    /// not free either: [`try_acquire`](Self::try_acquire) fails and an
    /// [`acquire`](Self::acquire) queues behind that waiter.
    pub fn locked(&self) -> bool {
        self.sem.available_permits() == 0 && self.sem.handed_over() == 0
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.locked())
            .field("waiters", &self.sem.waiters())
            .finish()
    }
}

/// The future of [`Lock::acquire`].
#[must_use = "futures do nothing unless awaited"]
pub struct LockAcquire<'a> {
    inner: Acquire<'a>,
}

impl<'a> Future for LockAcquire<'a> {
    type Output = LockGuard<'a>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LockGuard<'a>> {
        Pin::new(&mut self.inner)
            .poll(cx)
            .map(|permit| LockGuard { _permit: permit })
    }
}

/// Holds a [`Lock`]; dropping it releases the lock.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    _permit: SemaphorePermit<'a>,
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LockGuard")
    }
}
