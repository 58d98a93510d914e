//! [`Promise`]: asyncio's low-level `Future`, set from outside.
//!
//! Rust already calls every awaitable a `Future`, so asyncio's settable
//! one-shot object is named `Promise` here (JavaScript's word for the same
//! thing). `loop.create_future()` is [`create_future`].
//!
//! Done callbacks ([`Promise::add_done_callback`]) run as asyncio's do: each
//! is scheduled with `call_soon` when the promise completes (at once if it
//! already has), in the order they were added. Rust closures cannot be
//! compared, so a callback is removed by the [`DoneCallbackId`] its
//! `add_done_callback` returned, not by the function itself.

use std::cell::RefCell;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// Creates an unset [`Promise`] (`loop.create_future()`).
pub fn create_future<T>() -> Promise<T> {
    Promise::new()
}

/// Why a [`Promise`] holds no value.
#[derive(Clone)]
pub enum FutureError {
    /// It was cancelled ([`Promise::cancel`]).
    Cancelled,
    /// An error was set ([`Promise::set_exception`]).
    Exception(Rc<dyn Error>),
}

impl fmt::Debug for FutureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FutureError::Cancelled => f.write_str("Cancelled"),
            FutureError::Exception(e) => f.debug_tuple("Exception").field(&e.to_string()).finish(),
        }
    }
}

impl fmt::Display for FutureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FutureError::Cancelled => f.write_str("the future was cancelled"),
            FutureError::Exception(e) => e.fmt(f),
        }
    }
}

impl Error for FutureError {}

/// The promise was already resolved (asyncio's `InvalidStateError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidStateError;

error_message!(InvalidStateError => "invalid state: the future is already done");

/// A done callback, as stored: given the promise, it makes the closure that
/// `call_soon` runs (made where `T: 'static` is known).
type DoneCallback<T> = Box<dyn FnOnce(&Promise<T>) -> Box<dyn FnOnce()>>;

struct State<T> {
    outcome: Option<Result<T, FutureError>>,
    waiters: Vec<Option<Waker>>,
    free: Vec<usize>,
    callbacks: Vec<(DoneCallbackId, DoneCallback<T>)>,
    next_callback: u64,
}

/// Names a callback added with [`Promise::add_done_callback`], to remove it
/// with [`Promise::remove_done_callback`] (asyncio passes the function
/// itself; Rust closures cannot be compared). Unique per promise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DoneCallbackId(u64);

/// A one-shot value set from outside and awaited by any number of waiters;
/// asyncio's `Future`. Loop-bound (`!Send`).
///
/// Each clone is a separate waiter on the same value: awaiting a clone
/// gives a clone of the value (or the error), so `T: Clone` to await.
///
/// ```
/// asyncio::run(async {
///     let fut = asyncio::create_future::<String>();
///     let waiter = asyncio::create_task({
///         let fut = fut.clone();
///         async move { fut.await.unwrap() }
///     });
///     fut.set_result("ready".to_string()).unwrap();
///     assert_eq!(waiter.await.unwrap(), "ready");
///     assert!(fut.done());
/// });
/// ```
pub struct Promise<T> {
    state: Rc<RefCell<State<T>>>,
    slot: Option<usize>,
}

impl<T> Promise<T> {
    /// An unset promise.
    pub fn new() -> Self {
        Promise {
            state: Rc::new(RefCell::new(State {
                outcome: None,
                waiters: Vec::new(),
                free: Vec::new(),
                callbacks: Vec::new(),
                next_callback: 0,
            })),
            slot: None,
        }
    }

    fn resolve(&self, outcome: Result<T, FutureError>) -> Result<(), InvalidStateError> {
        let (wakers, callbacks): (Vec<Waker>, _) = {
            let mut s = self.state.borrow_mut();
            if s.outcome.is_some() {
                return Err(InvalidStateError);
            }
            s.outcome = Some(outcome);
            let wakers = s.waiters.iter_mut().filter_map(Option::take).collect();
            (wakers, std::mem::take(&mut s.callbacks))
        };
        wakers.into_iter().for_each(Waker::wake);
        for (_, f) in callbacks {
            self.schedule(f);
        }
        Ok(())
    }

    /// Runs a done callback soon: with `call_soon` on the running loop, or
    /// here and now if no loop runs on this thread. It runs in the context
    /// it was added in, not the one that completed the promise.
    fn schedule(&self, f: DoneCallback<T>) {
        let run = f(self);
        match crate::try_get_running_loop() {
            Some(lp) => lp.call_soon_bound(run, std::panic::Location::caller()),
            None => run(),
        }
    }

    /// Adds a callback to run once the promise is done, given the promise
    /// (`fut.add_done_callback(fn)`). It is scheduled with
    /// [`call_soon`](crate::EventLoop::call_soon) when the promise
    /// completes, or at once if it already has; callbacks run in the order
    /// they were added, each in a copy of the context that was current when
    /// it was added (as asyncio's). With no loop running on this thread when
    /// it is due, it runs right away instead. Returns the id that removes
    /// it.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// asyncio::run(async {
    ///     let fut = asyncio::create_future::<u32>();
    ///     let seen = Rc::new(Cell::new(0));
    ///     let s = seen.clone();
    ///     fut.add_done_callback(move |f| s.set(f.result().unwrap().unwrap()));
    ///     fut.set_result(7).unwrap();
    ///     assert_eq!(seen.get(), 0, "scheduled, not run inline");
    ///     asyncio::yield_now().await;
    ///     assert_eq!(seen.get(), 7);
    ///     // Added once done: scheduled at once, still not run inline.
    ///     let s = seen.clone();
    ///     fut.add_done_callback(move |_| s.set(8));
    ///     assert_eq!(seen.get(), 7);
    ///     asyncio::yield_now().await;
    ///     assert_eq!(seen.get(), 8);
    /// });
    /// ```
    pub fn add_done_callback(&self, f: impl FnOnce(&Promise<T>) + 'static) -> DoneCallbackId
    where
        T: 'static,
    {
        // asyncio's `add_done_callback` copies the current context now.
        let ctx = crate::context::non_empty_copy();
        let f: DoneCallback<T> = Box::new(move |p: &Promise<T>| {
            let p = p.clone();
            match ctx {
                None => Box::new(move || f(&p)),
                Some(mut ctx) => Box::new(move || ctx.run(|| f(&p))),
            }
        });
        let mut s = self.state.borrow_mut();
        let id = DoneCallbackId(s.next_callback);
        s.next_callback += 1;
        if s.outcome.is_some() {
            drop(s);
            self.schedule(f);
        } else {
            s.callbacks.push((id, f));
        }
        id
    }

    /// Removes a callback that has not been scheduled yet
    /// (`fut.remove_done_callback(fn)`); returns how many were removed: 1,
    /// or 0 if it was removed before or the promise is done (its callbacks
    /// are then already scheduled).
    pub fn remove_done_callback(&self, id: DoneCallbackId) -> usize {
        let mut s = self.state.borrow_mut();
        let before = s.callbacks.len();
        s.callbacks.retain(|(cb, _)| *cb != id);
        before - s.callbacks.len()
    }

    /// Sets the value and wakes every waiter.
    ///
    /// # Errors
    /// [`InvalidStateError`] if already done.
    pub fn set_result(&self, value: T) -> Result<(), InvalidStateError> {
        self.resolve(Ok(value))
    }

    /// Sets an error and wakes every waiter.
    ///
    /// # Errors
    /// [`InvalidStateError`] if already done.
    pub fn set_exception(&self, error: impl Into<Box<dyn Error>>) -> Result<(), InvalidStateError> {
        self.resolve(Err(FutureError::Exception(Rc::from(error.into()))))
    }

    /// Cancels the promise; false if it was already done.
    pub fn cancel(&self) -> bool {
        self.resolve(Err(FutureError::Cancelled)).is_ok()
    }

    /// True once a value, an error or a cancellation was set.
    pub fn done(&self) -> bool {
        self.state.borrow().outcome.is_some()
    }

    /// True if cancelled.
    pub fn cancelled(&self) -> bool {
        matches!(self.state.borrow().outcome, Some(Err(FutureError::Cancelled)))
    }

    /// The outcome without waiting: `None` while unset.
    pub fn result(&self) -> Option<Result<T, FutureError>>
    where
        T: Clone,
    {
        self.state.borrow().outcome.clone()
    }
}

impl<T> Default for Promise<T> {
    fn default() -> Self {
        Promise::new()
    }
}

impl<T> Clone for Promise<T> {
    fn clone(&self) -> Self {
        Promise {
            state: self.state.clone(),
            slot: None,
        }
    }
}

impl<T: Clone> Future for Promise<T> {
    type Output = Result<T, FutureError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut s = this.state.borrow_mut();
        if let Some(out) = &s.outcome {
            return Poll::Ready(out.clone());
        }
        match this.slot {
            Some(i) => match &mut s.waiters[i] {
                Some(w) if w.will_wake(cx.waker()) => {}
                w => *w = Some(cx.waker().clone()),
            },
            None => {
                let w = Some(cx.waker().clone());
                let i = match s.free.pop() {
                    Some(i) => {
                        s.waiters[i] = w;
                        i
                    }
                    None => {
                        s.waiters.push(w);
                        s.waiters.len() - 1
                    }
                };
                this.slot = Some(i);
            }
        }
        Poll::Pending
    }
}

impl<T> Drop for Promise<T> {
    fn drop(&mut self) {
        if let Some(i) = self.slot.take() {
            if let Ok(mut s) = self.state.try_borrow_mut() {
                s.waiters[i] = None;
                s.free.push(i);
            }
        }
    }
}

impl<T> fmt::Debug for Promise<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.borrow();
        let state = match &s.outcome {
            None => "pending",
            Some(Ok(_)) => "finished",
            Some(Err(FutureError::Cancelled)) => "cancelled",
            Some(Err(FutureError::Exception(_))) => "failed",
        };
        write!(f, "<Promise {state}>")
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::Promise;

    #[test]
    fn done_callbacks_without_a_loop_run_at_once_in_order() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let p = Promise::<u8>::new();
        let (a, b) = (seen.clone(), seen.clone());
        let first = p.add_done_callback(move |p| a.borrow_mut().push(p.result().unwrap().unwrap()));
        let second = p.add_done_callback(move |_| b.borrow_mut().push(0));
        assert_ne!(first, second);
        assert_eq!(p.remove_done_callback(second), 1);
        assert_eq!(p.remove_done_callback(second), 0);
        p.set_result(9).unwrap();
        assert_eq!(*seen.borrow(), [9], "no loop runs here: called at once");
        assert_eq!(p.remove_done_callback(first), 0, "already run");
        let c = seen.clone();
        p.add_done_callback(move |_| c.borrow_mut().push(1));
        assert_eq!(*seen.borrow(), [9, 1], "added when done: called at once");
    }

    #[test]
    fn a_callback_may_use_the_promise_it_is_given() {
        let p = Promise::<u8>::new();
        let seen = Rc::new(RefCell::new(Vec::new()));
        let s = seen.clone();
        p.add_done_callback(move |p| {
            assert!(p.done() && p.cancelled());
            // The promise's state is not borrowed while its callbacks run.
            assert_eq!(p.remove_done_callback(super::DoneCallbackId(99)), 0);
            s.borrow_mut().push(p.cancelled());
        });
        assert!(p.cancel());
        assert_eq!(*seen.borrow(), [true]);
    }
}
