//! [`Event`]: a flag tasks can wait for, as `asyncio.Event`.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::LoopBound;
use crate::runtime::wait_queue::{WaitKey, WaitQueue};

/// A flag that tasks wait for (`asyncio.Event`): [`set`](Self::set) wakes
/// every waiter; [`clear`](Self::clear) resets it.
///
/// A waiter woken by `set` returns even if the flag was cleared again
/// before it ran, as in asyncio. Loop-bound (see the [module docs](super)).
///
/// ```
/// use std::rc::Rc;
/// use std::time::Duration;
/// asyncio::Runner::new().virtual_time(true).run(async {
///     let event = Rc::new(asyncio::sync::Event::new());
///     let e = event.clone();
///     let waiter = asyncio::create_task(async move { e.wait().await; "continued" });
///     asyncio::sleep(Duration::from_secs(2)).await;
///     event.set();
///     assert_eq!(waiter.await.unwrap(), "continued");
/// });
/// ```
#[derive(Default)]
pub struct Event {
    set: Cell<bool>,
    waiters: RefCell<WaitQueue>,
    bound: LoopBound,
}

impl Event {
    /// An event that is not set.
    pub fn new() -> Self {
        Event::default()
    }

    /// Sets the flag and wakes every waiter.
    pub fn set(&self) {
        self.set.set(true);
        self.waiters.borrow_mut().grant_all();
    }

    /// Resets the flag; later waiters wait again.
    pub fn clear(&self) {
        self.set.set(false);
    }

    /// True if set.
    pub fn is_set(&self) -> bool {
        self.set.get()
    }

    /// Waits until the flag is set (at once if it is).
    ///
    /// # Cancel safety
    /// Cancel safe.
    ///
    /// # Panics
    /// When polled on a different event loop than the one the event is bound
    /// to.
    pub fn wait(&self) -> EventWait<'_> {
        EventWait { event: self, key: None }
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .field("waiters", &self.waiters.borrow().len())
            .finish()
    }
}

/// The future of [`Event::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct EventWait<'a> {
    event: &'a Event,
    key: Option<WaitKey>,
}

impl Future for EventWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let event = self.event;
        match self.key {
            Some(key) => {
                let r = event.waiters.borrow_mut().poll(key, cx);
                if r.is_ready() {
                    self.key = None;
                }
                r
            }
            None => {
                if event.set.get() {
                    return Poll::Ready(());
                }
                event.bound.check("Event");
                self.key = Some(event.waiters.borrow_mut().push(0, cx.waker()));
                Poll::Pending
            }
        }
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.event.waiters.borrow_mut().cancel(key);
        }
    }
}
