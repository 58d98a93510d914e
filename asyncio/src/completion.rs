//! A result that one thread sets once and another takes once, by awaiting it
//! or by blocking on it: the cell under `concurrent.futures.Future`'s roles
//! ([`ConcurrentFuture`](crate::ConcurrentFuture) and
//! [`JobHandle`](crate::executor::JobHandle)).
//!
//! One mutex guards the result, the awaiting task's waker, done callbacks and
//! whatever extra state the owner keeps (`X`: a job's phase, a cancellation
//! request). Completing wakes the waker, notifies blocked threads and runs the
//! callbacks, all after the lock is released, so none of them can re-enter
//! the cell under its own lock.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

type Callback = Box<dyn FnOnce() + Send>;

pub(crate) struct State<R, X> {
    result: Option<R>,
    taken: bool,
    waker: Option<Waker>,
    callbacks: Vec<Callback>,
    /// Threads blocked in `wait_take`: completing notifies the condition
    /// variable only if there are any (a notify is a syscall).
    blocked: usize,
    /// The owner's own state, under the same lock.
    pub(crate) extra: X,
}

impl<R, X> State<R, X> {
    /// True once a result was set (taken or not).
    pub(crate) fn is_done(&self) -> bool {
        self.result.is_some() || self.taken
    }
}

/// Runs done callbacks; a panicking one is reported and the rest still run
/// (they run on whatever thread completes the cell: a pool's worker must
/// not unwind).
fn run_callbacks(callbacks: Vec<Callback>) {
    for f in callbacks {
        if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            crate::runtime::report::callback_panicked("a done callback", &*payload);
        }
    }
}

pub(crate) struct Completion<R, X = ()> {
    state: Mutex<State<R, X>>,
    cv: Condvar,
}

impl<R, X> Completion<R, X> {
    pub(crate) fn new(extra: X) -> Self {
        Completion {
            state: Mutex::new(State {
                result: None,
                taken: false,
                waker: None,
                callbacks: Vec::new(),
                blocked: 0,
                extra,
            }),
            cv: Condvar::new(),
        }
    }

    /// The state, recovered from poisoning (no code panics under this lock
    /// while leaving it inconsistent).
    pub(crate) fn lock(&self) -> MutexGuard<'_, State<R, X>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the result unless one was set already; false if it was.
    pub(crate) fn complete(&self, result: R) -> bool {
        self.complete_locked(self.lock(), result)
    }

    /// As [`complete`](Self::complete), with the lock already held (so the
    /// caller can check and change `extra` in the same critical section).
    pub(crate) fn complete_locked(&self, mut s: MutexGuard<'_, State<R, X>>, result: R) -> bool {
        if s.is_done() {
            return false;
        }
        s.result = Some(result);
        let waker = s.waker.take();
        let callbacks = std::mem::take(&mut s.callbacks);
        let blocked = s.blocked > 0;
        drop(s);
        if blocked {
            self.cv.notify_all();
        }
        if let Some(w) = waker {
            w.wake();
        }
        run_callbacks(callbacks);
        true
    }

    /// True once the result was set.
    pub(crate) fn is_done(&self) -> bool {
        self.lock().is_done()
    }

    /// Runs `f` once the result is set: now, on this thread, if it is set
    /// already; otherwise on the completing thread.
    pub(crate) fn on_done(&self, f: impl FnOnce() + Send + 'static) {
        let mut s = self.lock();
        if s.is_done() {
            drop(s);
            run_callbacks(vec![Box::new(f)]);
        } else {
            s.callbacks.push(Box::new(f));
        }
    }

    /// Takes the result, or registers the task's waker.
    ///
    /// # Panics
    /// If the result was taken already (`what` names the handle).
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>, what: &str) -> Poll<R> {
        let mut s = self.lock();
        if let Some(r) = s.result.take() {
            s.taken = true;
            return Poll::Ready(r);
        }
        assert!(!s.taken, "{what} polled after its result was taken");
        match &s.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => s.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Blocks the calling thread until the result is set, then takes it;
    /// `None` if `deadline` passed first.
    ///
    /// # Panics
    /// If the result was taken already (`what` names the handle).
    pub(crate) fn wait_take(&self, deadline: Option<Instant>, what: &str) -> Option<R> {
        let mut s = self.lock();
        loop {
            if let Some(r) = s.result.take() {
                s.taken = true;
                return Some(r);
            }
            assert!(!s.taken, "{what}: result already taken");
            let left = match deadline {
                None => None,
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return None,
                },
            };
            s.blocked += 1;
            s = match left {
                None => self.cv.wait(s).unwrap_or_else(|e| e.into_inner()),
                Some(left) => self.cv.wait_timeout(s, left).unwrap_or_else(|e| e.into_inner()).0,
            };
            s.blocked -= 1;
        }
    }
}
