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
