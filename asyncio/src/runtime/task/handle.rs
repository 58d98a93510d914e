//! Safe owned references to tasks, the engine's side of the public `Task<T>`
//! and `TaskRef`. Both are `!Send`: they touch the loop-thread-only state.

use std::marker::PhantomData;
use std::task::{Context, Poll};

use super::{cell, waker, RawTask, CANCELLED, CANCEL_REQUESTED, COMPLETE, DETACHED, FINISHING, RUNNING};
use super::{TaskError, TaskId};

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
        self.raw.set_name(name.into_boxed_str());
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

    /// Cancels now: drops the future before returning, when called on the
    /// task's running loop for a task that is not being polled; otherwise
    /// falls back to [`cancel`](Self::cancel). False if already complete.
    pub(crate) fn cancel_now(&self) -> bool {
        let raw = self.raw;
        if raw.state() & (COMPLETE | FINISHING) != 0 {
            return false;
        }
        let done = crate::runtime::context::with_core(|core| match core {
            Some(core) if std::sync::Arc::ptr_eq(&core.shared, &raw.header().shared) && raw.state() & RUNNING == 0 => {
                // SAFETY: on the task's loop thread, live, not complete and
                // not being polled.
                unsafe { raw.cancel_now() };
                core.complete(raw, true);
                true
            }
            _ => false,
        });
        done || request_cancel(raw)
    }

    /// Ready once the task is complete, without reading its output. Uses
    /// the task's one join-waker slot, like awaiting it.
    pub(crate) fn poll_done(&self, cx: &mut Context<'_>) -> Poll<()> {
        let raw = self.raw;
        if raw.state() & COMPLETE != 0 {
            return Poll::Ready(());
        }
        let h = raw.header();
        let w = match h.join_waker.take() {
            Some(w) if w.will_wake(cx.waker()) => w,
            _ => cx.waker().clone(),
        };
        h.join_waker.set(Some(w));
        Poll::Pending
    }

    /// True if the task ended by panicking (not by cancellation). Only
    /// meaningful once done and before its output was read.
    pub(crate) fn panicked(&self) -> bool {
        let s = self.raw.state();
        s & COMPLETE != 0 && s & CANCELLED == 0 && self.raw.output_failed()
    }
}

/// Requests cancellation of `raw` (alive, on its loop's thread).
pub(crate) fn request_cancel(raw: RawTask) -> bool {
    let s = raw.state();
    if s & (COMPLETE | FINISHING) != 0 {
        // Done, or its future is being dropped: too late to cancel.
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
        match self.poll_done(cx) {
            Poll::Ready(()) => unreachable!("checked complete above"),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Ready once the task is complete, without reading its output.
    pub(crate) fn poll_done(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.task.poll_done(cx)
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
