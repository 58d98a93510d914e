//! Safe owned references to tasks, the engine's side of the public `Task<T>`
//! and `TaskRef`. Both are `!Send`: they touch the loop-thread-only state.

use std::marker::PhantomData;
use std::task::{Context, Poll};

use super::{cell, waker, RawTask, CANCELLED, CANCEL_REQUESTED, COMPLETE, DETACHED};
use crate::task::{TaskError, TaskId};

/// One counted, untyped reference to a task.
pub(crate) struct OwnedTask {
    raw: RawTask,
    _not_send: PhantomData<*const ()>,
}

impl OwnedTask {
    /// Adopts a reference the caller already holds (e.g. the handle's
    /// reference from `spawn`).
    pub(crate) fn adopt(raw: RawTask) -> Self {
        OwnedTask {
            raw,
            _not_send: PhantomData,
        }
    }

    /// Takes a new reference to `raw`, which must be alive.
    pub(crate) fn new_ref(raw: RawTask) -> Self {
        raw.inc_ref();
        OwnedTask {
            raw,
            _not_send: PhantomData,
        }
    }

    pub(crate) fn raw(&self) -> RawTask {
        self.raw
    }

    pub(crate) fn id(&self) -> TaskId {
        self.raw.header().id
    }

    pub(crate) fn name(&self) -> String {
        self.raw.name()
    }

    pub(crate) fn set_name(&self, name: String) {
        self.raw.with_meta(|m| m.name = Some(name.into_boxed_str()));
    }

    pub(crate) fn location(&self) -> &'static std::panic::Location<'static> {
        self.raw.header().location
    }

    pub(crate) fn done(&self) -> bool {
        self.raw.state() & COMPLETE != 0
    }

    pub(crate) fn cancelled(&self) -> bool {
        self.raw.state() & CANCELLED != 0
    }

    pub(crate) fn cancelling(&self) -> bool {
        self.raw.state() & (CANCEL_REQUESTED | COMPLETE) == CANCEL_REQUESTED
    }

    /// Requests cancellation: the loop drops the future at its next turn.
    /// False if the task already completed.
    pub(crate) fn cancel(&self) -> bool {
        request_cancel(self.raw)
    }
}

/// Requests cancellation of `raw` (alive, on its loop's thread).
pub(crate) fn request_cancel(raw: RawTask) -> bool {
    let s = raw.state();
    if s & COMPLETE != 0 {
        return false;
    }
    if s & CANCEL_REQUESTED == 0 {
        raw.set(CANCEL_REQUESTED);
        waker::schedule(raw);
    }
    true
}

impl Clone for OwnedTask {
    fn clone(&self) -> Self {
        OwnedTask::new_ref(self.raw)
    }
}

impl Drop for OwnedTask {
    fn drop(&mut self) {
        // SAFETY: we own one reference.
        unsafe { self.raw.dec_ref() };
    }
}

/// The typed, output-reading reference behind `Task<T>`.
pub(crate) struct JoinHandle<T> {
    task: OwnedTask,
    _output: PhantomData<fn() -> T>,
}

impl<T> JoinHandle<T> {
    /// Adopts the handle reference of a task whose output type is `T`.
    ///
    /// # Safety
    /// `raw` was spawned from a future with output `T`, and the caller gives
    /// this handle the reference `spawn` reserved for it.
    pub(crate) unsafe fn adopt(raw: RawTask) -> Self {
        JoinHandle {
            task: OwnedTask::adopt(raw),
            _output: PhantomData,
        }
    }

    pub(crate) fn task(&self) -> &OwnedTask {
        &self.task
    }

    pub(crate) fn poll_join(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, TaskError>> {
        let raw = self.task.raw;
        if raw.state() & COMPLETE != 0 {
            // SAFETY: complete; this is the loop thread (JoinHandle is !Send);
            // the output type is T by `adopt`'s contract.
            return Poll::Ready(unsafe { cell::take_output::<T>(raw) });
        }
        let h = raw.header();
        let w = match h.join_waker.take() {
            Some(w) if w.will_wake(cx.waker()) => w,
            _ => cx.waker().clone(),
        };
        h.join_waker.set(Some(w));
        Poll::Pending
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        let raw = self.task.raw;
        if raw.state() & COMPLETE != 0 {
            // SAFETY: complete, on the loop thread (!Send handle).
            unsafe { raw.drop_output() };
        } else {
            raw.set(DETACHED);
            drop(raw.header().join_waker.take());
        }
        // `self.task` releases the reference.
    }
}
