//! The typed task allocation and its vtable functions.
//!
//! `TaskCell<F>` is `#[repr(C)]` with the [`Header`] first, so a pointer to the
//! header is a pointer to the cell. The stage moves one way: running (the
//! future) → finished (its output) or failed (cancelled or panicked) →
//! consumed. The future is pinned inside the cell and is dropped in place,
//! never moved.
//!
//! The stage is a union whose tag is the header's `stage` byte (otherwise
//! padding): as an enum, its discriminant found no niche in many futures'
//! layouts and cost a word per task (104 bytes for a small idle task, 96
//! with the tag in the header).
//!
//! A task spawned in debug mode also carries its [`TaskRecord`] in the same
//! allocation, placed immediately *before* the header:
//!
//! ```text
//! [ padding | TaskRecord | Header, stage ]
//!                        ^ every pointer to the task points here
//! ```
//!
//! so that the record is found from the header alone, at a fixed negative
//! offset whatever the future's type (`record_of`), and the task costs one
//! allocation in debug mode as it does without. Such cells have their own
//! vtable (`traced: true`), whose `dealloc` knows the larger layout.

use std::alloc::Layout;
use std::cell::{Cell, UnsafeCell};
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::sync::Arc;
use std::task::{Context, Poll};

use super::error::Repr;
use super::{ExtraSlot, Header, RawTask, Vtable};
use super::{TaskError, TaskId};
use crate::runtime::debug::TaskRecord;
use crate::runtime::remote::Shared;

/// What a task's cell holds: its future, then its output or why it failed
/// (without the task's id, which the header has: one pointer). Which field is
/// live is the header's `stage` byte: [`RUNNING`], [`FINISHED`], [`FAILED`]
/// or [`CONSUMED`] (nothing).
union Stage<F: Future> {
    running: ManuallyDrop<F>,
    finished: ManuallyDrop<F::Output>,
    failed: ManuallyDrop<Repr>,
}

/// The header's `stage` byte: the future is live.
const RUNNING: u8 = 0;
/// The output is live.
const FINISHED: u8 = 1;
/// The failure is live.
const FAILED: u8 = 2;
/// Nothing is live.
const CONSUMED: u8 = 3;

#[repr(C)]
struct TaskCell<F: Future> {
    header: Header,
    stage: UnsafeCell<Stage<F>>,
}

struct VtableFor<F>(std::marker::PhantomData<F>);

impl<F: Future> VtableFor<F> {
    const VTABLE: Vtable = Vtable {
        poll: poll::<F>,
        cancel: cancel::<F>,
        read_output: read_output::<F>,
        drop_output: drop_output::<F>,
        dealloc: dealloc::<F>,
        traced: false,
    };

    /// The vtable of a cell with a record before it.
    const TRACED_VTABLE: Vtable = Vtable {
        dealloc: dealloc_traced::<F>,
        traced: true,
        ..Self::VTABLE
    };

    /// Where the cell starts in a traced allocation (the record ends there),
    /// and that allocation's layout.
    const TRACED: (usize, Layout) = traced_layout(Layout::new::<TaskCell<F>>());
}

/// The layout of a record followed by a cell of layout `cell`: the record
/// ends exactly where the cell starts, and the padding comes first.
const fn traced_layout(cell: Layout) -> (usize, Layout) {
    let record = Layout::new::<TaskRecord>();
    // The record sits at `offset - record.size()`: aligned if the cell's
    // alignment (a multiple of `offset`) is at least the record's. On 64-bit
    // targets the header's pointers give the cell 8, as much as the
    // record's atomics need; a target where they differ fails to build here.
    assert!(record.align() <= cell.align());
    let offset = record.size().next_multiple_of(cell.align());
    let Ok(layout) = Layout::from_size_align(offset + cell.size(), cell.align()) else {
        panic!("task too large");
    };
    (offset, layout)
}

/// The record of a traced task, from its header.
///
/// Only the address is computed here; it is a record only for a cell made
/// with a record (`vtable.traced`).
pub(crate) fn record_of(ptr: NonNull<Header>) -> *const TaskRecord {
    ptr.as_ptr().cast::<u8>().wrapping_sub(size_of::<TaskRecord>()).cast()
}

/// Allocates a task cell holding `future`, with two references: the loop's
/// and the handle's.
///
/// # Safety
/// `future` (and its output) must stay valid until the loop drops them: for
/// `'static` futures that is always true; `run` also spawns its borrowed main
/// future and guarantees that future is dropped before `run` returns.
#[inline]
pub(crate) unsafe fn spawn_raw<F: Future>(
    future: F,
    shared: Arc<Shared>,
    id: TaskId,
    location: &'static Location<'static>,
    extra: ExtraSlot,
    record: Option<TaskRecord>,
) -> RawTask {
    let cell = |vtable: &'static Vtable, extra: ExtraSlot, shared: Arc<Shared>| TaskCell {
        header: Header {
            vtable,
            refs: AtomicU32::new(2),
            state: Cell::new(0),
            remote_queued: AtomicBool::new(false),
            id,
            shared,
            join_waker: Cell::new(None),
            prev: Cell::new(None),
            next: Cell::new(None),
            extra,
            location,
            stage: Cell::new(RUNNING),
        },
        stage: UnsafeCell::new(Stage {
            running: ManuallyDrop::new(future),
        }),
    };
    let Some(record) = record else {
        // The common case: one block (from the thread's cache of freed
        // cells when it has one), the cell written into it.
        let block = super::blocks::alloc(Layout::new::<TaskCell<F>>()).cast::<TaskCell<F>>();
        // SAFETY: a fresh block with the cell's size and alignment.
        unsafe { block.as_ptr().write(cell(&VtableFor::<F>::VTABLE, extra, shared)) };
        return RawTask(block.cast());
    };
    traced(cell(&VtableFor::<F>::TRACED_VTABLE, extra, shared), record)
}

/// `spawn_raw`'s debug-mode allocation: the record, then `cell`.
#[cold]
#[inline(never)]
fn traced<F: Future>(cell: TaskCell<F>, record: TaskRecord) -> RawTask {
    let (offset, layout) = VtableFor::<F>::TRACED;
    // SAFETY: the layout has a non-zero size (it holds a header).
    let base = unsafe { std::alloc::alloc(layout) };
    if base.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    // SAFETY: `base` is a fresh allocation of `layout`: the cell fits at
    // `offset` (aligned: `offset` is a multiple of the cell's alignment,
    // which the layout has), and the record right before it (aligned:
    // `traced_layout`); `record_of` finds it there again.
    unsafe {
        let header = base.add(offset);
        header.cast::<TaskCell<F>>().write(cell);
        let header = NonNull::new_unchecked(header).cast::<Header>();
        record_of(header).cast_mut().write(record);
        RawTask(header)
    }
}

/// # Safety
/// `ptr` points to a live `TaskCell<F>`.
unsafe fn stage<'a, F: Future>(ptr: NonNull<Header>) -> &'a mut Stage<F> {
    // SAFETY: the header is the first field of a repr(C) TaskCell<F>; the
    // stage is only touched on the loop thread and never re-entrantly (poll,
    // cancel and the output functions do not call each other).
    unsafe { &mut *ptr.cast::<TaskCell<F>>().as_ref().stage.get() }
}

/// Drops the future in place, catching a panic from its destructor. Leaves
/// the stage consumed; returns the panic payload if the drop panicked.
///
/// Takes the caller's reference to the stage (one `&mut` to it at a time:
/// deriving another from `ptr` here would invalidate the caller's).
///
/// # Safety
/// `stage` is the stage of the live `TaskCell<F>` whose header is `ptr`, and
/// it is running; on the loop thread.
unsafe fn drop_future<F: Future>(stage: &mut Stage<F>, ptr: NonNull<Header>) -> Option<Box<dyn std::any::Any + Send>> {
    // SAFETY: the stage is running, so `running` is the live field; it is
    // dropped in place (it is pinned), once: if that drop unwinds, the
    // remaining fields are still dropped by the unwinding drop glue, and the
    // tag says consumed either way.
    let result = catch_unwind(AssertUnwindSafe(|| unsafe { ManuallyDrop::drop(&mut stage.running) }));
    set_stage(ptr, CONSUMED);
    result.err()
}

/// Sets the header's `stage` byte (loop thread).
fn set_stage(ptr: NonNull<Header>, tag: u8) {
    // SAFETY: the cell is live while one of its vtable functions runs.
    unsafe { ptr.as_ref() }.stage.set(tag);
}

/// The header's `stage` byte.
fn stage_of(ptr: NonNull<Header>) -> u8 {
    // SAFETY: as in `set_stage`.
    unsafe { ptr.as_ref() }.stage.get()
}

/// # Safety
/// `ptr` is the header of a live `TaskCell<F>` whose stage is `Running`, on
/// the loop thread, not re-entered.
unsafe fn poll<F: Future>(ptr: NonNull<Header>, cx: &mut Context<'_>) -> bool {
    // SAFETY: the vtable is only reached through a header of a TaskCell<F>.
    let stage = unsafe { stage::<F>(ptr) };
    assert!(stage_of(ptr) == RUNNING, "polled a task whose future is gone");
    // SAFETY: the stage is running, so `running` is live; the future lives
    // inside the heap cell and is never moved until it is dropped in place.
    let fut = unsafe { Pin::new_unchecked(&mut *stage.running) };
    let output = match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
        Ok(Poll::Pending) => return false,
        Ok(Poll::Ready(v)) => Ok(v),
        Err(payload) => Err(Repr::panicked(payload)),
    };
    // From here on the task is finishing: a cancel from the future's own
    // destructor must neither drop it again nor turn its result into a
    // cancellation.
    mark_finishing(ptr);
    // SAFETY: the stage is still running: only the poll above ran.
    let drop_panic = unsafe { drop_future(stage, ptr) };
    // Consumed now: writing a field drops nothing.
    match (output, drop_panic) {
        (Ok(v), None) => {
            stage.finished = ManuallyDrop::new(v);
            set_stage(ptr, FINISHED);
        }
        (Ok(v), Some(p)) => {
            drop(v);
            stage.failed = ManuallyDrop::new(Repr::panicked(p));
            set_stage(ptr, FAILED);
        }
        (Err(e), _) => {
            stage.failed = ManuallyDrop::new(e);
            set_stage(ptr, FAILED);
        }
    }
    true
}

/// # Safety
/// `ptr` is the header of a live `TaskCell<F>` that is not complete, on the
/// loop thread, not re-entered.
unsafe fn cancel<F: Future>(ptr: NonNull<Header>) {
    // SAFETY: the vtable is only reached through a header of a TaskCell<F>.
    let stage = unsafe { stage::<F>(ptr) };
    mark_finishing(ptr);
    if stage_of(ptr) == RUNNING {
        // SAFETY: checked running just above.
        if let Some(p) = unsafe { drop_future(stage, ptr) } {
            crate::runtime::report::callback_panicked("dropping a cancelled task's future", &*p);
        }
    } else {
        // Cancelled after it returned (cancel() while it ran): the output
        // is discarded, and its destructor must not unwind into the loop.
        // SAFETY: the stage and header of this live cell.
        unsafe { drop_output_in(stage, ptr) };
    }
    // The stage is consumed now: this assignment drops nothing.
    stage.failed = ManuallyDrop::new(Repr::Cancelled);
    set_stage(ptr, FAILED);
}

/// Sets `FINISHING` on the task (loop thread).
fn mark_finishing(ptr: NonNull<Header>) {
    // SAFETY: the cell is live while one of its vtable functions runs.
    let h = unsafe { ptr.as_ref() };
    h.state.set(h.state.get() | super::FINISHING);
}

/// # Safety
/// `ptr` is the header of a complete `TaskCell<F>` on the loop thread, and
/// `dst` points to a valid `Poll<Result<F::Output, TaskError>>`.
unsafe fn read_output<F: Future>(ptr: NonNull<Header>, dst: *mut ()) {
    // SAFETY: the vtable is only reached through a header of a TaskCell<F>.
    let stage = unsafe { stage::<F>(ptr) };
    let out = match stage_of(ptr) {
        // SAFETY: the tag says `finished` is live; it is moved out once, the
        // tag set consumed right after.
        FINISHED => Ok(unsafe { ManuallyDrop::take(&mut stage.finished) }),
        FAILED => {
            // SAFETY: likewise for `failed`.
            let repr = unsafe { ManuallyDrop::take(&mut stage.failed) };
            // SAFETY: the cell is live.
            Err(TaskError::new(unsafe { ptr.as_ref() }.id, repr))
        }
        _ => panic!("a Task's output was read twice (the Task was polled after it completed)"),
    };
    set_stage(ptr, CONSUMED);
    let dst = dst.cast::<Poll<Result<F::Output, TaskError>>>();
    // SAFETY: the caller passes a valid Poll<Result<F::Output, _>>;
    // assigning drops its previous value (Pending, nothing to drop).
    unsafe { *dst = Poll::Ready(out) };
}

/// # Safety
/// `ptr` is the header of a live `TaskCell<F>`, on the loop thread.
unsafe fn drop_output<F: Future>(ptr: NonNull<Header>) {
    // SAFETY: the vtable is only reached through a header of a TaskCell<F>;
    // this is the only reference to the stage while it lives.
    unsafe { drop_output_in(stage::<F>(ptr), ptr) }
}

/// `drop_output` with the caller's reference to the stage.
///
/// # Safety
/// `stage` is the stage of the live `TaskCell<F>` whose header is `ptr`; on
/// the loop thread.
unsafe fn drop_output_in<F: Future>(stage: &mut Stage<F>, ptr: NonNull<Header>) {
    let result = match stage_of(ptr) {
        FINISHED => {
            // SAFETY: the tag says `finished` is live: moved out once, the
            // tag set consumed before it is dropped.
            let v = unsafe { ManuallyDrop::take(&mut stage.finished) };
            set_stage(ptr, CONSUMED);
            catch_unwind(AssertUnwindSafe(move || drop(v)))
        }
        FAILED => {
            // SAFETY: as above, for `failed`.
            let e = unsafe { ManuallyDrop::take(&mut stage.failed) };
            set_stage(ptr, CONSUMED);
            catch_unwind(AssertUnwindSafe(move || drop(e)))
        }
        _ => Ok(()),
    };
    if let Err(p) = result {
        crate::runtime::report::callback_panicked("dropping a task's output", &*p);
    }
}

/// Whether a task's stage holds a failure (`RawTask::output_failed`).
pub(crate) fn stage_failed(header: &Header) -> bool {
    header.stage.get() == FAILED
}

/// # Safety
/// `ptr` is the header of a `TaskCell<F>` whose last reference was just
/// released; its stage holds neither future nor output.
unsafe fn dealloc<F: Future>(ptr: NonNull<Header>) {
    let cell = ptr.cast::<TaskCell<F>>();
    // SAFETY: called once, with the last reference: the cell `spawn_raw`
    // wrote into a block of `blocks::alloc` for its layout is ours to drop
    // in place (its stage is empty, so whichever thread this is may) and
    // its block to give back.
    unsafe {
        debug_assert_eq!(cell.as_ref().header.stage.get(), CONSUMED);
        std::ptr::drop_in_place(cell.as_ptr());
        super::blocks::dealloc(cell.cast(), Layout::new::<TaskCell<F>>());
    }
}

/// `dealloc` for a cell with a record before it.
///
/// # Safety
/// As `dealloc`, for a cell made by `spawn_raw` with a record.
unsafe fn dealloc_traced<F: Future>(ptr: NonNull<Header>) {
    let (offset, layout) = VtableFor::<F>::TRACED;
    // SAFETY: called once, with the last reference, on the allocation
    // `spawn_raw` made with this layout: the cell at `offset` and the record
    // before it are initialized and dropped exactly once here (the stage is
    // empty, so whichever thread this is may drop them).
    unsafe {
        debug_assert_eq!(ptr.as_ref().stage.get(), CONSUMED);
        std::ptr::drop_in_place(ptr.cast::<TaskCell<F>>().as_ptr());
        std::ptr::drop_in_place(record_of(ptr).cast_mut());
        std::alloc::dealloc(ptr.as_ptr().cast::<u8>().sub(offset), layout);
    }
}

/// Lets `RawTask` reach `read_output` with a typed destination.
///
/// # Safety
/// `task` is complete, on the loop thread, and its output type is `T`.
pub(crate) unsafe fn take_output<T>(task: RawTask) -> Result<T, TaskError> {
    let mut out: Poll<Result<T, TaskError>> = Poll::Pending;
    // SAFETY: forwarded from the caller; `out` has the matching type.
    unsafe { (task.header().vtable.read_output)(task.0, (&mut out as *mut Poll<_>).cast()) };
    match out {
        Poll::Ready(v) => v,
        Poll::Pending => unreachable!(),
    }
}

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    use std::future::Future;
    use std::mem::size_of;

    fn cell_size<F: Future>(_: &F) -> usize {
        size_of::<super::TaskCell<F>>()
    }

    /// The stage costs what its largest field costs: no word for a tag, even
    /// for a future whose layout leaves no niche for one.
    #[test]
    fn a_cell_is_the_header_and_the_largest_stage_field() {
        let idle: fn() -> std::future::Pending<()> = std::future::pending;
        let fut = async move { idle().await };
        assert_eq!(size_of_val(&fut), 16);
        assert_eq!(cell_size(&fut), 80 + 16);
        let big_output = async { [0u64; 8] };
        assert_eq!(cell_size(&big_output), 80 + 64.max(size_of_val(&big_output)));
    }
}
