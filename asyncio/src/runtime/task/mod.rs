//! Task cells: one heap allocation per task, holding a [`Header`] and the
//! future (later its output).
//!
//! # Design
//!
//! A task is loop-bound: its future is `!Send` in general, is polled only on
//! the loop's thread, and is dropped only there. Its *waker*, however, is a
//! `std::task::Waker`, which the standard library makes `Send + Sync`: any
//! thread may clone, wake or drop it. The header is split accordingly:
//!
//! | field | touched from | kind |
//! |---|---|---|
//! | `refs` | any thread (waker clone/drop) | `AtomicUsize` |
//! | `remote_queued` | any thread (remote wake) | `AtomicBool` |
//! | `state`, `join_waker`, list links | the loop thread only | `Cell` |
//! | name and context (`extra`) | the loop thread only (and `Drop`) | a tagged word (`extra.rs`) |
//!
//! So the hot path of a same-thread wake touches no atomic at all: `wake_by_ref`
//! flips a `Cell` bit and pushes the task on the loop's ready queue. A wake from
//! another thread never touches the `Cell`s: it takes a reference, sets
//! `remote_queued` (so a thousand remote wakes before the loop looks queue one
//! entry) and hands the task to the loop's remote queue, where the loop turns it
//! into a local wake.
//!
//! ## References
//!
//! `refs` counts: one for the loop while the task is live (not yet complete),
//! one for the `Task` handle while it exists, one per `Waker`
//! clone, and one per entry in the remote queue. The ready queue holds *no*
//! reference: a task is only ever in the ready queue while it is live, and the
//! loop's reference keeps it alive. (The one exception, a task cancelled by
//! `close` while queued, is handled by [`Core::close`](super::core::Core): the
//! loop's reference is then released by the queue drain.)
//!
//! In debug mode the loop's reference outlives completion a little: it is
//! handed to the debugger, which releases it once the task is out of the
//! table other threads dump from (at the end of the loop turn, or after a
//! batch of completions), so a dump never reads a freed record.
//!
//! ## Who may free the allocation
//!
//! The future and the output may be `!Send`, so they are dropped on the loop
//! thread: the future when the task completes or is cancelled (always by the
//! loop), the output by the `Task` handle (which is `!Send`) or at completion if
//! the handle is gone. Once both are gone, what remains (header, an `Arc`, a
//! name, a context whose values are `Send + Sync`, an empty stage) is
//! `Send`, so whichever thread drops the last reference may free the
//! memory. A pending task is always referenced by its
//! loop, so a foreign thread can never drop the last reference to a task whose
//! future is still alive. A task spawned in debug mode also carries its debug
//! record in the same allocation (before the header, see `cell.rs`): a name,
//! counters and immutable facts, all `Send`.
//!
//! ## State bits (loop thread only)
//!
//! | bit | meaning |
//! |---|---|
//! | `SCHEDULED` | in the ready queue |
//! | `RUNNING` | being polled right now |
//! | `NOTIFIED` | woken while running: requeue after the poll |
//! | `COMPLETE` | finished; the stage holds the output or is consumed |
//! | `CANCEL_REQUESTED` | `cancel()` was called; the next poll drops the future |
//! | `CANCELLED` | completed by cancellation |
//! | `DETACHED` | the `Task` handle was dropped |
//! | `FINISHING` | the future returned, panicked or is being cancelled, and is being dropped: it is too late to cancel, and a cancel from inside that drop (a destructor dropping the task's own `TaskGroup`) must not drop it a second time |

mod blocks;
pub(crate) use blocks::{loop_closed, loop_opened};
mod cell;
mod error;
mod extra;
mod handle;
mod id;
mod list;
mod local_box;
mod waker;

pub(crate) use cell::spawn_raw;
pub use error::TaskError;
pub(crate) use extra::ExtraSlot;
pub(crate) use handle::{JoinHandle, OwnedTask};
pub use id::TaskId;
pub(crate) use list::OwnedList;
pub use local_box::LocalBoxFuture;
pub(crate) use waker::{schedule_local, waker_ref};

use std::cell::Cell;
use std::panic::Location;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Waker};

use super::ctxvars::{self, Ctx, Map, Value};
use super::remote::Shared;
use crate::runtime::debug::TaskRecord;

pub(crate) const SCHEDULED: u16 = 1 << 0;
pub(crate) const RUNNING: u16 = 1 << 1;
pub(crate) const NOTIFIED: u16 = 1 << 2;
pub(crate) const COMPLETE: u16 = 1 << 3;
pub(crate) const CANCEL_REQUESTED: u16 = 1 << 4;
pub(crate) const CANCELLED: u16 = 1 << 5;
pub(crate) const DETACHED: u16 = 1 << 6;
pub(crate) const FINISHING: u16 = 1 << 7;

/// Type-erased operations on a task cell; one static instance per future type.
///
/// Every function takes the header of a cell of this vtable's future type
/// and must be called on the loop thread; each implementation's `# Safety`
/// (in `cell.rs`) gives the state the task must be in.
pub(crate) struct Vtable {
    /// Polls the future. Returns true when the task completed (the output, or
    /// the panic, is stored and the future dropped).
    pub(crate) poll: unsafe fn(NonNull<Header>, &mut Context<'_>) -> bool,
    /// Drops the future and stores a cancelled error as the output.
    pub(crate) cancel: unsafe fn(NonNull<Header>),
    /// Moves the output into `*dst`, a `Poll<Result<T, TaskError>>`.
    pub(crate) read_output: unsafe fn(NonNull<Header>, *mut ()),
    /// Drops the output, if still stored.
    pub(crate) drop_output: unsafe fn(NonNull<Header>),
    /// Frees the allocation. The stage must hold neither future nor output.
    pub(crate) dealloc: unsafe fn(NonNull<Header>),
    /// Whether the allocation carries a debug-mode [`TaskRecord`] just before
    /// the header (tasks spawned while debug mode is on; see `cell.rs`).
    pub(crate) traced: bool,
}

/// A task's name, boxed twice so that it costs one word where it is kept.
pub(crate) type Name = Box<Box<str>>;

/// The fixed part of every task allocation (80 bytes on 64-bit targets; the
/// count, state and remote flag share one word).
#[repr(C)]
pub(crate) struct Header {
    pub(crate) vtable: &'static Vtable,
    refs: AtomicU32,
    pub(crate) state: Cell<u16>,
    pub(crate) remote_queued: AtomicBool,
    /// Which of the cell's stage fields is live (`cell.rs`; in what was
    /// padding).
    pub(crate) stage: Cell<u8>,
    pub(crate) id: TaskId,
    /// The loop this task belongs to; also routes wakes from other threads.
    pub(crate) shared: Arc<Shared>,
    pub(crate) join_waker: Cell<Option<Waker>>,
    pub(crate) prev: Cell<Option<NonNull<Header>>>,
    pub(crate) next: Cell<Option<NonNull<Header>>>,
    /// The name given to a task without a debug record (a traced task's
    /// name lives in its record, where dumps can read it) and its context:
    /// a null word for an unnamed task with an empty context.
    pub(crate) extra: ExtraSlot,
    pub(crate) location: &'static Location<'static>,
}

/// `Task-7 'name'`, or `Task-7` for a task without a name: how debug
/// reports name a task.
pub(crate) fn label(id: TaskId, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("Task-{id} '{n}'"),
        None => format!("Task-{id}"),
    }
}

/// A non-owning pointer to a task header. Copy; the holder must know the task
/// is alive (see the module notes for who holds references).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct RawTask(pub(crate) NonNull<Header>);

impl RawTask {
    pub(crate) fn header(&self) -> &Header {
        // SAFETY: a RawTask is only made from a live allocation and used while
        // some reference keeps it alive (module notes, "References").
        unsafe { self.0.as_ref() }
    }

    pub(crate) fn state(&self) -> u16 {
        self.header().state.get()
    }

    pub(crate) fn set(&self, bits: u16) {
        let h = self.header();
        h.state.set(h.state.get() | bits);
    }

    pub(crate) fn clear(&self, bits: u16) {
        let h = self.header();
        h.state.set(h.state.get() & !bits);
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.state() & COMPLETE != 0
    }

    /// Adds a reference.
    pub(crate) fn inc_ref(&self) {
        let prev = self.header().refs.fetch_add(1, Ordering::Relaxed);
        if prev > i32::MAX as u32 {
            // Billions of wakers for one task: a leak; wrapping would free
            // a live task.
            std::process::abort();
        }
    }

    /// Drops a reference, freeing the cell if it was the last.
    ///
    /// # Safety
    /// The caller owns one reference, which this call consumes.
    pub(crate) unsafe fn dec_ref(self) {
        if self.header().refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        // Acquire pairs with every other holder's `Release` decrement: their
        // uses of the task happen before the free below.
        #[cfg(not(asyncio_tsan))]
        std::sync::atomic::fence(Ordering::Acquire);
        // ThreadSanitizer does not model fences, so under it (the CI's
        // `--cfg asyncio_tsan` build) the fence would be invisible and every
        // task freed after a drop on another thread reported as a race. An
        // acquire load of the count gives the same guarantee in a form it
        // sees: it reads the value our decrement wrote, the tail of the
        // release sequence of every earlier decrement. (std's `Arc` does the
        // same under ThreadSanitizer.) Every other build keeps the fence,
        // the cheaper of the two.
        #[cfg(asyncio_tsan)]
        self.header().refs.load(Ordering::Acquire);
        let dealloc = self.header().vtable.dealloc;
        // SAFETY: that was the last reference; by the module notes the stage
        // is empty (no future, no output), so any thread may free it.
        unsafe { dealloc(self.0) }
    }

    /// Polls the task's future; true if it completed.
    ///
    /// # Safety
    /// On the loop thread, the task live and not complete.
    pub(crate) unsafe fn poll(&self, cx: &mut Context<'_>) -> bool {
        // SAFETY: forwarded from the caller.
        unsafe { (self.header().vtable.poll)(self.0, cx) }
    }

    /// Drops the future and stores a cancelled error.
    ///
    /// The future's destructors run in (a copy of) the task's context, as
    /// its code did: a guard that logs the request id still finds it when
    /// the task is cancelled from outside, between polls.
    ///
    /// # Safety
    /// On the loop thread, the task live and not complete.
    pub(crate) unsafe fn cancel_now(&self) {
        let cancel = || {
            // SAFETY: forwarded from the caller (this runs at once, on this
            // thread).
            unsafe { (self.header().vtable.cancel)(self.0) }
        };
        match self.context_map() {
            // Empty, and no other context around to hide: nothing to enter.
            None if !ctxvars::any_frame() => cancel(),
            map => ctxvars::run_in(&mut Ctx::new(map), cancel),
        }
    }

    /// Drops the stored output.
    ///
    /// # Safety
    /// On the loop thread; the task complete.
    pub(crate) unsafe fn drop_output(&self) {
        // SAFETY: forwarded from the caller.
        unsafe { (self.header().vtable.drop_output)(self.0) }
    }

    /// Whether the stored output is a failure (a panic or a cancellation),
    /// read from the header's stage byte (loop thread; meaningful while the
    /// task is complete and its output not yet taken).
    pub(crate) fn output_failed(&self) -> bool {
        cell::stage_failed(self.header())
    }

    /// The name the task was given, if any (loop thread).
    fn given_name(&self) -> Option<Box<str>> {
        if let Some(r) = self.record() {
            return r.name();
        }
        self.header().extra.name()
    }

    /// The task's context's contents (loop thread).
    #[inline]
    pub(crate) fn context_map(&self) -> Option<Arc<Map>> {
        self.header().extra.map()
    }

    /// The value of variable `var` in the task's context (loop thread).
    pub(crate) fn context_lookup(&self, var: u64) -> Option<Value> {
        self.header().extra.lookup(var)
    }

    /// Calls `f` with the task's context (loop thread; `f` runs no user
    /// code).
    pub(crate) fn with_context<R>(&self, f: impl FnOnce(&mut Ctx) -> R) -> R {
        self.header().extra.with_extra(|e| f(&mut e.ctx))
    }

    /// The task's name: the one it was given, or `Task-<id>`.
    pub(crate) fn name(&self) -> String {
        match self.given_name() {
            Some(n) => n.into(),
            None => format!("Task-{}", self.header().id),
        }
    }

    /// `Task-7 'name'`, or `Task-7` for a task without a name: how debug
    /// reports name a task.
    pub(crate) fn debug_name(&self) -> String {
        label(self.header().id, self.given_name().as_deref())
    }

    /// Names the task (loop thread).
    pub(crate) fn set_name(&self, name: Box<str>) {
        match self.record() {
            Some(r) => r.set_name(name),
            None => self.header().extra.with_extra(|e| e.name = Some(name)),
        }
    }

    /// The task's debug-mode record, if it was spawned in debug mode.
    pub(crate) fn record(&self) -> Option<&TaskRecord> {
        if !self.header().vtable.traced {
            return None;
        }
        // SAFETY: a traced cell is allocated with its record immediately
        // before the header (`cell::spawn_raw`), initialized there and
        // dropped only by `dealloc`; the task is alive while this RawTask is
        // used (module notes), and the record is only read through `&`
        // (its mutable parts are atomics and a mutex).
        Some(unsafe { &*cell::record_of(self.0) })
    }
}

/// A panic payload that can sit inside a `Sync` error type.
///
/// `Box<dyn Any + Send>` is not `Sync`; this wrapper only hands the box out
/// by value, so no `&` to the payload is ever shared between threads.
pub(crate) struct PanicPayload(Box<dyn std::any::Any + Send>);

// SAFETY: the payload is reachable only through `into_inner`, which takes
// the wrapper by value; a `&PanicPayload` gives no access to it, so sharing
// one between threads cannot race on the payload.
unsafe impl Sync for PanicPayload {}

impl PanicPayload {
    pub(crate) fn new(payload: Box<dyn std::any::Any + Send>) -> Self {
        PanicPayload(payload)
    }

    pub(crate) fn into_inner(self) -> Box<dyn std::any::Any + Send> {
        self.0
    }
}

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    #[test]
    fn header_stays_small() {
        assert_eq!(std::mem::size_of::<super::Header>(), 80);
        assert_eq!(std::mem::size_of::<super::TaskError>(), 16);
        // Debug mode's per-task record, stored with the task.
        assert_eq!(std::mem::size_of::<crate::runtime::debug::TaskRecord>(), 80);
    }
}
