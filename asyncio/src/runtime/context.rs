//! The running loop of the current thread, kept in a thread local so that
//! `create_task`, `sleep` and wakers can find it without being handed it.

use std::cell::Cell;
use std::ptr;

use super::core::Core;

thread_local! {
    static CURRENT: Cell<*const Core> = const { Cell::new(ptr::null()) };
}

/// The running loop's core, or null. The pointer is valid while non-null:
/// it is set only for the duration of a run, by [`enter`], whose caller keeps
/// the core alive.
pub(crate) fn current_core() -> *const Core {
    CURRENT.with(|c| c.get())
}

/// Calls `f` with the running loop, or `None`.
pub(crate) fn with_core<R>(f: impl FnOnce(Option<&Core>) -> R) -> R {
    let p = current_core();
    // SAFETY: a non-null CURRENT points at a core kept alive by the `enter`
    // guard's owner for as long as it is set.
    f(unsafe { p.as_ref() })
}

/// Calls `f` with the running loop; panics with asyncio's message if none.
#[track_caller]
pub(crate) fn expect_core<R>(what: &str, f: impl FnOnce(&Core) -> R) -> R {
    let p = current_core();
    if p.is_null() {
        panic!("{what} needs a running event loop (no running event loop on this thread; start one with asyncio::run)");
    }
    // SAFETY: as in with_core.
    f(unsafe { &*p })
}

/// Restores the previous current loop when dropped.
pub(crate) struct EnterGuard {
    prev: *const Core,
}

/// Makes `core` the current loop until the guard drops. The caller keeps
/// `core` alive at least that long.
pub(crate) fn enter(core: &Core) -> EnterGuard {
    let prev = CURRENT.with(|c| c.replace(core as *const Core));
    EnterGuard { prev }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.prev));
    }
}

/// The thread each live loop was created on, for error messages that name
/// both sides of a wrong-thread or wrong-loop use.
static LOOP_THREADS: std::sync::Mutex<Vec<(usize, String)>> = std::sync::Mutex::new(Vec::new());

/// This thread, as error messages name it: `'name' (ThreadId(n))`.
pub(crate) fn thread_desc() -> String {
    let t = std::thread::current();
    format!("'{}' ({:?})", t.name().unwrap_or("unnamed"), t.id())
}

pub(crate) fn register_loop(loop_id: usize) {
    let mut all = LOOP_THREADS.lock().unwrap_or_else(|e| e.into_inner());
    all.push((loop_id, thread_desc()));
}

pub(crate) fn unregister_loop(loop_id: usize) {
    let mut all = LOOP_THREADS.lock().unwrap_or_else(|e| e.into_inner());
    all.retain(|(id, _)| *id != loop_id);
}

/// The thread loop `loop_id` was created on, if it is still alive.
pub(crate) fn loop_thread(loop_id: usize) -> Option<String> {
    let all = LOOP_THREADS.lock().unwrap_or_else(|e| e.into_inner());
    all.iter().find(|(id, _)| *id == loop_id).map(|(_, t)| t.clone())
}
