//! [`Promise`]: asyncio's low-level `Future`, set from outside.
//!
//! Rust already calls every awaitable a `Future`, so asyncio's settable
//! one-shot object is named `Promise` here (JavaScript's word for the same
//! thing). `loop.create_future()` is [`create_future`].

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

impl fmt::Display for InvalidStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid state: the future is already done")
    }
}

impl Error for InvalidStateError {}

struct State<T> {
    outcome: Option<Result<T, FutureError>>,
    waiters: Vec<Option<Waker>>,
    free: Vec<usize>,
}

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
            })),
            slot: None,
        }
    }

    fn resolve(&self, outcome: Result<T, FutureError>) -> Result<(), InvalidStateError> {
        let wakers: Vec<Waker> = {
            let mut s = self.state.borrow_mut();
            if s.outcome.is_some() {
                return Err(InvalidStateError);
            }
            s.outcome = Some(outcome);
            s.waiters.iter_mut().filter_map(Option::take).collect()
        };
        wakers.into_iter().for_each(Waker::wake);
        Ok(())
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
