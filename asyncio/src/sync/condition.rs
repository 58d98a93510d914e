//! [`Condition`]: wait for a notification while holding a lock, as
//! `asyncio.Condition`.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::lock::{Lock, LockAcquire, LockGuard};
use super::LoopBound;
use crate::runtime::wait_queue::{WaitKey, WaitQueue};

/// A lock plus a set of waiters to notify (`asyncio.Condition`).
///
/// [`acquire`](Self::acquire) gives a [`ConditionGuard`]; waiting and
/// notifying are methods of the guard, so *notifying without holding the
/// lock cannot be written* (asyncio raises `RuntimeError` at run time).
/// [`ConditionGuard::wait`] takes the guard, releases the lock while it
/// waits, and gives the guard back once it holds the lock again. If the wait
/// is cancelled, the lock is not held and the guard is gone: no code can go
/// on believing it holds the lock. A waiter cancelled after it was notified
/// passes the notification on, so none is lost.
///
/// Loop-bound (see the [module docs](super)).
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// asyncio::run(async {
///     let cond = Rc::new(asyncio::sync::Condition::new());
///     let ready = Rc::new(Cell::new(false));
///     let (c, r) = (cond.clone(), ready.clone());
///     let consumer = asyncio::create_task(async move {
///         let guard = c.acquire().await;
///         let _guard = guard.wait_for(|| r.get()).await;
///         "saw it"
///     });
///     asyncio::yield_now().await;
///     let guard = cond.acquire().await;
///     ready.set(true);
///     guard.notify_all();
///     drop(guard);
///     assert_eq!(consumer.await.unwrap(), "saw it");
/// });
/// ```
#[derive(Default)]
pub struct Condition {
    lock: Lock,
    waiters: RefCell<WaitQueue>,
    bound: LoopBound,
}

impl Condition {
    /// A condition with its own lock.
    pub fn new() -> Self {
        Condition::default()
    }

    /// Acquires the underlying lock (`async with cond:`).
    ///
    /// # Cancel safety
    /// Cancel safe, as [`Lock::acquire`].
    pub async fn acquire(&self) -> ConditionGuard<'_> {
        ConditionGuard {
            cond: self,
            guard: self.lock.acquire().await,
        }
    }

    /// True if the underlying lock is held.
    pub fn locked(&self) -> bool {
        self.lock.locked()
    }

    /// How many tasks wait for a notification.
    pub fn waiters(&self) -> usize {
        self.waiters.borrow().len()
    }

    fn notify(&self, n: usize) {
        self.bound.check("Condition");
        let mut waiters = self.waiters.borrow_mut();
        for _ in 0..n {
            if !waiters.grant_front() {
                break;
            }
        }
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("locked", &self.locked())
            .field("waiters", &self.waiters())
            .finish()
    }
}

/// Holds a [`Condition`]'s lock; waits and notifies.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ConditionGuard<'a> {
    cond: &'a Condition,
    guard: LockGuard<'a>,
}

impl<'a> ConditionGuard<'a> {
    /// Releases the lock, waits for a notification, re-acquires the lock
    /// and gives the guard back (`await cond.wait()`).
    ///
    /// # Cancel safety
    /// If cancelled, the lock is not held (the guard was consumed); a
    /// notification it had received goes to the next waiter.
    pub fn wait(self) -> ConditionWait<'a> {
        ConditionWait {
            cond: self.cond,
            state: WaitState::Start(Some(self.guard)),
        }
    }

    /// Waits until `predicate` holds, checking it with the lock held before
    /// each wait (`await cond.wait_for(predicate)`).
    ///
    /// # Cancel safety
    /// As [`wait`](Self::wait).
    pub async fn wait_for(self, mut predicate: impl FnMut() -> bool) -> ConditionGuard<'a> {
        let mut guard = self;
        while !predicate() {
            guard = guard.wait().await;
        }
        guard
    }

    /// Wakes up to `n` waiters (`cond.notify(n)`). They run once this
    /// guard releases the lock.
    pub fn notify(&self, n: usize) {
        self.cond.notify(n);
    }

    /// Wakes every waiter (`cond.notify_all()`).
    pub fn notify_all(&self) {
        self.cond.notify(usize::MAX);
    }
}

impl fmt::Debug for ConditionGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConditionGuard")
    }
}

enum WaitState<'a> {
    Start(Option<LockGuard<'a>>),
    Waiting(WaitKey),
    Reacquiring(LockAcquire<'a>),
    Done,
}

/// The future of [`ConditionGuard::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct ConditionWait<'a> {
    cond: &'a Condition,
    state: WaitState<'a>,
}

impl<'a> Future for ConditionWait<'a> {
    type Output = ConditionGuard<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ConditionGuard<'a>> {
        let cond = self.cond;
        loop {
            match &mut self.state {
                WaitState::Start(guard) => {
                    cond.bound.check("Condition");
                    let key = cond.waiters.borrow_mut().push(0, cx.waker());
                    drop(guard.take()); // release the lock while waiting
                    self.state = WaitState::Waiting(key);
                    return Poll::Pending;
                }
                WaitState::Waiting(key) => {
                    let key = *key;
                    if cond.waiters.borrow_mut().poll(key, cx).is_pending() {
                        return Poll::Pending;
                    }
                    self.state = WaitState::Reacquiring(cond.lock.acquire());
                }
                WaitState::Reacquiring(acquire) => {
                    let guard = match Pin::new(acquire).poll(cx) {
                        Poll::Ready(g) => g,
                        Poll::Pending => return Poll::Pending,
                    };
                    self.state = WaitState::Done;
                    return Poll::Ready(ConditionGuard { cond, guard });
                }
                WaitState::Done => panic!("ConditionWait polled after completion"),
            }
        }
    }
}

impl Drop for ConditionWait<'_> {
    fn drop(&mut self) {
        match &self.state {
            WaitState::Waiting(key) => {
                if self.cond.waiters.borrow_mut().cancel(*key) {
                    // Notified but never acted on it: pass the notification on.
                    self.cond.notify(1);
                }
            }
            // Notified, and cancelled while re-acquiring the lock: the
            // notification goes to the next waiter (the acquire future,
            // dropped with this one, gives up its place for the lock).
            WaitState::Reacquiring(_) => self.cond.notify(1),
            WaitState::Start(_) | WaitState::Done => {}
        }
    }
}
