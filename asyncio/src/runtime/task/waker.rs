//! The one `RawWakerVTable` shared by every task, and the wake routing.
//!
//! A wake on the task's own loop thread, while that loop is running, is a
//! local schedule: two `Cell` operations and a push on the ready queue, no
//! atomics. Any other wake (another thread, or the loop's thread while the
//! loop is not running) goes through the loop's remote queue.

use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{RawWaker, RawWakerVTable, Waker};

use super::{Header, RawTask, COMPLETE, NOTIFIED, RUNNING, SCHEDULED};
use crate::runtime::context;
use crate::runtime::core::{Core, Ready};
use crate::runtime::remote::Remote;

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

fn task(ptr: *const ()) -> RawTask {
    // SAFETY (of the cast): every RawWaker built with VTABLE carries a
    // non-null header pointer.
    RawTask(NonNull::new(ptr as *mut Header).expect("null task waker"))
}

/// # Safety
/// `ptr` is a task header from a waker made with `VTABLE`; the caller's waker
/// keeps the task alive. The clone owns a new reference.
unsafe fn clone(ptr: *const ()) -> RawWaker {
    task(ptr).inc_ref();
    RawWaker::new(ptr, &VTABLE)
}

/// # Safety
/// As `clone`; consumes the reference the waker owned.
unsafe fn wake(ptr: *const ()) {
    let t = task(ptr);
    schedule(t);
    // SAFETY: a by-value wake consumes the waker's reference.
    unsafe { t.dec_ref() };
}

/// # Safety
/// As `clone`; the reference stays with the caller.
unsafe fn wake_by_ref(ptr: *const ()) {
    schedule(task(ptr));
}

/// # Safety
/// As `clone`; releases the reference the waker owned.
unsafe fn drop_waker(ptr: *const ()) {
    // SAFETY: dropping a waker releases the reference it held.
    unsafe { task(ptr).dec_ref() };
}

/// A waker for `task` that borrows the caller's reference (it must not
/// outlive it). Clones take references of their own.
pub(crate) fn waker_ref(task: RawTask) -> ManuallyDrop<Waker> {
    // SAFETY: VTABLE's functions uphold the RawWaker contract: clone takes a
    // reference, wake/drop release one, and every function is thread-safe
    // (off the loop thread only atomics are touched). ManuallyDrop keeps this
    // borrowed waker from releasing a reference it does not own.
    ManuallyDrop::new(unsafe { Waker::from_raw(RawWaker::new(task.0.as_ptr() as *const (), &VTABLE)) })
}

/// Wakes `task` from wherever we are.
pub(crate) fn schedule(task: RawTask) {
    let header = task.header();
    let core = context::current_core();
    if !core.is_null() {
        // SAFETY: a non-null current core is the running loop on this thread,
        // alive for the duration of its run.
        let core = unsafe { &*core };
        if Arc::ptr_eq(&core.shared, &header.shared) {
            schedule_local(core, task);
            return;
        }
    }
    if header.remote_queued.swap(true, Ordering::AcqRel) {
        return; // already on its way to the loop
    }
    task.inc_ref();
    if let Err(Remote::Wake(t)) = header.shared.push(Remote::Wake(super::super::remote::SendTask(task))) {
        // The loop is closed: nothing will run this task again.
        header.remote_queued.store(false, Ordering::Release);
        // SAFETY: we took this reference just above.
        unsafe { t.0.dec_ref() };
    }
}

/// Schedules `task` on `core`, its own running loop.
pub(crate) fn schedule_local(core: &Core, task: RawTask) {
    let s = task.state();
    if s & (SCHEDULED | COMPLETE | NOTIFIED) != 0 {
        return;
    }
    if s & RUNNING != 0 {
        task.set(NOTIFIED);
        return;
    }
    task.set(SCHEDULED);
    core.push_ready(Ready::Task(task));
}
