//! [`Semaphore`] and [`BoundedSemaphore`], on the hand-off wait queue.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::LoopBound;
use crate::runtime::wait_queue::{WaitKey, WaitQueue};

/// A counter of permits, as `asyncio.Semaphore`: [`acquire`](Self::acquire)
/// waits until a permit is free; dropping the [`SemaphorePermit`] releases it.
///
/// Loop-bound, FIFO-fair, hand-off (see the [module docs](super)).
///
/// ```
/// asyncio::run(async {
///     let sem = asyncio::sync::Semaphore::new(1);
///     let p = sem.acquire().await;
///     assert!(sem.try_acquire().is_none());
///     drop(p);
///     assert_eq!(sem.available_permits(), 1);
/// });
/// ```
pub struct Semaphore {
    permits: Cell<usize>,
    waiters: RefCell<WaitQueue>,
    bound: LoopBound,
    name: &'static str,
}

impl Semaphore {
    /// A semaphore with `permits` free permits.
    pub fn new(permits: usize) -> Self {
        Self::named(permits, "Semaphore")
    }

    pub(crate) fn named(permits: usize, name: &'static str) -> Self {
        Semaphore {
            permits: Cell::new(permits),
            waiters: RefCell::default(),
            bound: LoopBound::default(),
            name,
        }
    }

    /// Waits for a permit (`async with sem:` / `await sem.acquire()`).
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped acquire leaves the queue, and if it had already
    /// been handed a permit, that permit goes to the next waiter.
    ///
    /// # Panics
    /// When polled on a different event loop than the one the semaphore is
    /// bound to.
    #[inline]
    pub fn acquire(&self) -> Acquire<'_> {
        Acquire { sem: self, key: None }
    }

    /// A permit if one is free and nobody is waiting (nor was handed a
    /// permit and has not run yet); never waits.
    ///
    /// ```
    /// let sem = asyncio::sync::Semaphore::new(1);
    /// let p = sem.try_acquire().unwrap();
    /// assert!(sem.try_acquire().is_none());
    /// drop(p);
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        let free = self.permits.get();
        if free > 0 && self.waiters.borrow().is_quiet() {
            self.permits.set(free - 1);
            Some(SemaphorePermit { sem: self })
        } else {
            None
        }
    }

    /// Adds a permit (`sem.release()`), handing it to the longest waiter if
    /// any. Normally a [`SemaphorePermit`] does this when dropped.
    ///
    /// ```
    /// let sem = asyncio::sync::Semaphore::new(0);
    /// sem.release();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn release(&self) {
        self.add_permits(1);
    }

    #[inline]
    fn add_permits(&self, n: usize) {
        let free = self
            .permits
            .get()
            .checked_add(n)
            .expect("Semaphore permit count overflowed usize");
        if self.waiters.borrow().is_empty() {
            self.permits.set(free);
            return;
        }
        self.hand_off(free);
    }

    /// Gives `free` permits to the waiters, longest first.
    fn hand_off(&self, mut free: usize) {
        let mut waiters = self.waiters.borrow_mut();
        while let Some(want) = waiters.front_want() {
            if free < want {
                break;
            }
            free -= want;
            waiters.grant_front();
        }
        self.permits.set(free);
    }

    /// Free permits now.
    pub fn available_permits(&self) -> usize {
        self.permits.get()
    }

    /// True if [`acquire`](Self::acquire) would wait (`sem.locked()`): no
    /// permit is free, or some task is queued, or was handed a permit and
    /// has not run yet (asyncio counts those woken waiters too).
    pub fn locked(&self) -> bool {
        self.permits.get() == 0 || !self.waiters.borrow().is_quiet()
    }

    /// Permits handed to waiters that have not run yet.
    pub(crate) fn handed_over(&self) -> usize {
        self.waiters.borrow().granted()
    }

    /// How many tasks wait for a permit, counting those handed one that
    /// have not run yet (asyncio's `len(sem._waiters)`).
    pub fn waiters(&self) -> usize {
        let w = self.waiters.borrow();
        w.len() + w.granted()
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(self.name)
            .field("permits", &self.permits.get())
            .field("waiters", &self.waiters())
            .finish()
    }
}

/// The future of [`Semaphore::acquire`].
#[must_use = "futures do nothing unless awaited"]
pub struct Acquire<'a> {
    sem: &'a Semaphore,
    key: Option<WaitKey>,
}

impl<'a> Future for Acquire<'a> {
    type Output = SemaphorePermit<'a>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<SemaphorePermit<'a>> {
        let sem = self.sem;
        match self.key {
            Some(key) => {
                match sem.waiters.borrow_mut().poll(key, cx) {
                    Poll::Ready(()) => {}
                    Poll::Pending => return Poll::Pending,
                }
                if sem.permits.get() > 0 {
                    // Permits freed while this waiter had been granted but
                    // had not run went unclaimed by newcomers, who queued
                    // behind it: hand them on now (asyncio wakes the next
                    // waiters when a woken one runs).
                    sem.add_permits(0);
                }
            }
            None => {
                let free = sem.permits.get();
                let mut waiters = sem.waiters.borrow_mut();
                if free > 0 && waiters.is_quiet() {
                    sem.permits.set(free - 1);
                } else {
                    sem.bound.check(sem.name);
                    self.key = Some(waiters.push(1, cx.waker()));
                    return Poll::Pending;
                }
            }
        }
        self.key = None;
        Poll::Ready(SemaphorePermit { sem })
    }
}

impl Drop for Acquire<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let granted = self.sem.waiters.borrow_mut().cancel(key);
            // Handed a permit but never took it: pass it on. Either way,
            // free permits left for the queue go to it now.
            self.sem.add_permits(usize::from(granted));
        }
    }
}

/// One acquired permit; dropping it releases the permit.
#[must_use = "the permit is released as soon as it is dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken without a guard; give it back later with
    /// [`Semaphore::release`].
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    #[inline]
    fn drop(&mut self) {
        self.sem.add_permits(1);
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SemaphorePermit")
    }
}

/// A [`Semaphore`] that refuses to be released above its initial value
/// (`asyncio.BoundedSemaphore`).
///
/// Loop-bound, FIFO-fair, hand-off (see the [module docs](super)).
///
/// ```
/// let sem = asyncio::sync::BoundedSemaphore::new(1);
/// assert!(sem.release().is_err(), "nothing was acquired");
/// let p = sem.try_acquire().unwrap();
/// p.forget();
/// assert!(sem.release().is_ok());
/// ```
pub struct BoundedSemaphore {
    sem: Semaphore,
    initial: usize,
}

impl BoundedSemaphore {
    /// A bounded semaphore with `permits` permits.
    pub fn new(permits: usize) -> Self {
        BoundedSemaphore {
            sem: Semaphore::named(permits, "BoundedSemaphore"),
            initial: permits,
        }
    }

    /// Waits for a permit; see [`Semaphore::acquire`].
    ///
    /// # Cancel safety
    /// Cancel safe, as [`Semaphore::acquire`].
    #[inline]
    pub fn acquire(&self) -> Acquire<'_> {
        self.sem.acquire()
    }

    /// A permit if one is free; see [`Semaphore::try_acquire`].
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.sem.try_acquire()
    }

    /// Gives back a permit taken with [`SemaphorePermit::forget`].
    ///
    /// # Errors
    /// [`SemaphoreOverflow`] if that would exceed the initial value
    /// (asyncio's `ValueError`).
    pub fn release(&self) -> Result<(), SemaphoreOverflow> {
        if self.sem.available_permits() >= self.initial {
            return Err(SemaphoreOverflow);
        }
        self.sem.release();
        Ok(())
    }

    /// Free permits now.
    pub fn available_permits(&self) -> usize {
        self.sem.available_permits()
    }

    /// True if acquiring would wait.
    pub fn locked(&self) -> bool {
        self.sem.locked()
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.sem.fmt(f)
    }
}

/// A [`BoundedSemaphore`] was released more times than acquired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SemaphoreOverflow;

error_message!(SemaphoreOverflow => "BoundedSemaphore released too many times");
