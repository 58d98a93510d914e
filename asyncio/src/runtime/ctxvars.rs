//! Context variables' storage: which context is current, and the maps.
//!
//! # Design
//!
//! A context is an immutable map from variable ids to values, shared behind
//! an `Arc` ([`Map`]): copying a context (a task inheriting its creator's,
//! a callback capturing its scheduler's, `to_thread` carrying it to a pool
//! thread) is a reference-count bump, and `set` copies the map on write
//! unless nobody else holds it, in which case it writes in place. Contexts
//! hold a handful of variables in practice, so the map is a sorted `Vec`
//! (CPython uses a HAMT, which pays off only with many variables). An empty
//! context is `None`: no allocation, and nothing to copy.
//!
//! Values are `Send + Sync` because contexts cross threads (`to_thread`),
//! and a task's context is freed with the task, from whichever thread drops
//! its last reference (see `task`'s module notes).
//!
//! ## Which context is current
//!
//! A running task's context lives in its header's `extra` slot (see
//! `task/extra.rs`: a bare `Arc<Map>` for a task that only inherited one,
//! no allocation of its own); the loop does nothing per poll: a lookup
//! asks the loop which task is being polled and reads that task's slot.
//! Everything else that runs code in a context ([`run_in`]: `Context::run`,
//! a callback scheduled with a context, a `to_thread` job) pushes a *frame*
//! on a thread-local stack. A frame records the task that was current when
//! it was pushed (its *owner*, `None` outside any task). The current
//! context is:
//!
//! 1. the top frame's, if its owner is the task being polled now (or both
//!    are `None`);
//! 2. otherwise the task being polled's;
//! 3. otherwise (no task, no frame) the thread's own context, a frame with
//!    no owner pushed at the bottom of the stack by the first `set`.
//!
//! Rule 1's owner check is what keeps frames and tasks apart when they
//! nest: a task created eagerly inside `Context::run` is polled while the
//! frame is on the stack, and sees its own context, not the frame's; a loop
//! started inside `Context::run` polls its tasks in their own contexts.
//! Frames are pushed and popped in stack order (guards, also on unwind).
//!
//! A loop callback runs with no current task. One scheduled from an empty
//! context runs in a fresh empty one: a `set` there pushes a frame that the
//! loop pops when the callback returns, and if frames are on the stack
//! already (the loop runs inside `Context::run`) the loop pushes an empty
//! one for the callback ([`begin_callback`], [`end_callback`]).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::context;
use super::task::RawTask;

/// A variable's value, type-erased.
pub(crate) type Value = Arc<dyn Any + Send + Sync>;

/// The immutable contents of a non-empty context: `(variable id, value)`
/// sorted by id.
#[derive(Clone, Default)]
pub(crate) struct Map {
    entries: Vec<(u64, Value)>,
}

impl Map {
    pub(crate) fn get(&self, var: u64) -> Option<&Value> {
        self.entries
            .binary_search_by_key(&var, |(id, _)| *id)
            .ok()
            .map(|i| &self.entries[i].1)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// One context: its contents, and its identity (which tokens remember).
#[derive(Default)]
pub(crate) struct Ctx {
    /// 0 until first needed (a `set` in it); then unique in the process.
    id: u64,
    map: Option<Arc<Map>>,
}

/// Context identities; 0 means "not assigned yet".
static NEXT_CTX_ID: AtomicU64 = AtomicU64::new(1);

/// Variable ids; 0 means "not assigned yet".
static NEXT_VAR_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh variable id.
pub(crate) fn new_var_id() -> u64 {
    NEXT_VAR_ID.fetch_add(1, Ordering::Relaxed)
}

impl Ctx {
    /// A new context holding `map` (a copy: a new identity).
    pub(crate) fn new(map: Option<Arc<Map>>) -> Ctx {
        Ctx { id: 0, map }
    }

    pub(crate) fn map(&self) -> Option<&Arc<Map>> {
        self.map.as_ref()
    }

    /// This context's identity, assigned now if it had none.
    fn identity(&mut self) -> u64 {
        if self.id == 0 {
            self.id = NEXT_CTX_ID.fetch_add(1, Ordering::Relaxed);
        }
        self.id
    }

    pub(crate) fn lookup(&self, var: u64) -> Option<Value> {
        self.map.as_deref().and_then(|m| m.get(var)).cloned()
    }

    /// Sets (`Some`) or removes (`None`) `var`; returns the old value and
    /// this context's identity. The old value is handed back, not dropped
    /// here (the caller drops it outside any borrow: a value's destructor
    /// may read context variables).
    pub(crate) fn write(&mut self, var: u64, value: Option<Value>) -> (Option<Value>, u64) {
        let id = self.identity();
        let map = Arc::make_mut(self.map.get_or_insert_with(Default::default));
        let at = map.entries.binary_search_by_key(&var, |(id, _)| *id);
        let old = match (at, value) {
            (Ok(i), Some(v)) => Some(std::mem::replace(&mut map.entries[i].1, v)),
            (Ok(i), None) => Some(map.entries.remove(i).1),
            (Err(i), Some(v)) => {
                map.entries.insert(i, (var, v));
                None
            }
            (Err(_), None) => None,
        };
        if map.entries.is_empty() {
            self.map = None;
        }
        (old, id)
    }
}

struct Frame {
    ctx: Ctx,
    owner: Option<RawTask>,
}

thread_local! {
    static FRAMES: RefCell<Vec<Frame>> = const { RefCell::new(Vec::new()) };
    /// `FRAMES.len()`, readable without touching the `Vec` (no destructor,
    /// so the fast paths pay one thread-local load).
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// The task being polled on this thread's running loop, if any.
fn current_task() -> Option<RawTask> {
    context::with_core(|core| core.and_then(|c| c.current_task()))
}

/// Where the current context lives.
enum Place {
    /// `FRAMES[i]`.
    Frame(usize),
    Task(RawTask),
    /// No frame applies and no task runs: the thread's own context, not
    /// created yet.
    Thread,
}

fn place() -> Place {
    let task = current_task();
    let depth = DEPTH.get();
    // `try_with`: a value's destructor may read a variable while the
    // thread's locals are being torn down; it then sees no frame.
    let top_applies = || {
        FRAMES
            .try_with(|f| f.borrow().last().is_some_and(|top| top.owner == task))
            .unwrap_or(false)
    };
    if depth > 0 && top_applies() {
        return Place::Frame(depth - 1);
    }
    match task {
        Some(t) => Place::Task(t),
        None => Place::Thread,
    }
}

/// The context a task created now inherits: the current one's map.
///
/// The fast path (no frame on the stack: no `Context::run` or
/// context-carrying callback around the caller) is one thread-local load and
/// a look at the creating task's header.
#[inline]
pub(crate) fn inherit(creator: Option<RawTask>) -> Option<Arc<Map>> {
    if DEPTH.get() == 0 {
        return creator.and_then(|t| t.context_map());
    }
    snapshot()
}

/// The current context's contents (`copy_context`).
#[inline(never)]
pub(crate) fn snapshot() -> Option<Arc<Map>> {
    match place() {
        Place::Frame(i) => FRAMES.with(|f| f.borrow()[i].ctx.map.clone()),
        Place::Task(t) => t.context_map(),
        Place::Thread => None,
    }
}

/// The value of `var` in the current context.
pub(crate) fn lookup(var: u64) -> Option<Value> {
    match place() {
        Place::Frame(i) => FRAMES.with(|f| f.borrow()[i].ctx.lookup(var)),
        Place::Task(t) => t.context_lookup(var),
        Place::Thread => None,
    }
}

/// Sets (`Some`) or removes (`None`) `var` in the current context; returns
/// the old value and the context's identity.
pub(crate) fn write(var: u64, value: Option<Value>) -> (Option<Value>, u64) {
    match place() {
        Place::Frame(i) => FRAMES.with(|f| f.borrow_mut()[i].ctx.write(var, value)),
        Place::Task(t) => t.with_context(|c| c.write(var, value)),
        Place::Thread => {
            // The thread's own context: a frame with no owner at the bottom
            // (no frame applies, so any frame above has an owner and this
            // one is never the top while they are there).
            let mut ctx = Ctx::default();
            let out = ctx.write(var, value);
            FRAMES.with(|f| f.borrow_mut().insert(0, Frame { ctx, owner: None }));
            DEPTH.set(DEPTH.get() + 1);
            out
        }
    }
}

/// The current context's identity (assigned now if it had none): a token
/// made elsewhere never matches.
pub(crate) fn identity() -> u64 {
    match place() {
        Place::Frame(i) => FRAMES.with(|f| f.borrow_mut()[i].ctx.identity()),
        Place::Task(t) => t.with_context(Ctx::identity),
        // No context yet: no token can have been made in it.
        Place::Thread => 0,
    }
}

/// Whether any frame is on this thread's stack.
#[inline]
pub(crate) fn any_frame() -> bool {
    DEPTH.get() > 0
}

/// Runs `f` in `ctx` (`Context::run`), writing what `f` set back into it.
///
/// While the thread's locals are being torn down (a loop closed from a
/// thread-local destructor) there is no stack to push on: `f` then runs
/// without entering `ctx`.
pub(crate) fn run_in<R>(ctx: &mut Ctx, f: impl FnOnce() -> R) -> R {
    struct Pop<'a> {
        ctx: &'a mut Ctx,
        depth: usize,
    }
    impl Drop for Pop<'_> {
        fn drop(&mut self) {
            let frame = FRAMES.with(|f| {
                let mut f = f.borrow_mut();
                debug_assert_eq!(f.len(), self.depth + 1, "context frames popped out of order");
                f.pop()
            });
            DEPTH.set(DEPTH.get() - 1);
            if let Some(frame) = frame {
                *self.ctx = frame.ctx;
            }
        }
    }
    if FRAMES.try_with(|_| ()).is_err() {
        return f();
    }
    let owner = current_task();
    let depth = DEPTH.get();
    let frame = Frame {
        ctx: std::mem::take(ctx),
        owner,
    };
    FRAMES.with(|f| f.borrow_mut().push(frame));
    DEPTH.set(depth + 1);
    let _pop = Pop { ctx, depth };
    f()
}

/// A loop callback is about to run: returns the frame depth to go back
/// to after it ([`end_callback`]).
///
/// With no frame on the stack (the usual case) there is nothing to do: a
/// `set` in the callback makes the thread's context, which `end_callback`
/// drops. With frames (the loop runs inside `Context::run`, or the thread
/// has a context of its own) an empty frame is pushed, so the callback
/// neither sees nor changes theirs.
#[inline]
pub(crate) fn begin_callback() -> usize {
    let depth = DEPTH.get();
    if depth > 0 {
        push_empty();
    }
    depth
}

#[cold]
fn push_empty() {
    FRAMES.with(|f| {
        f.borrow_mut().push(Frame {
            ctx: Ctx::default(),
            owner: None,
        })
    });
    DEPTH.set(DEPTH.get() + 1);
}

/// A callback returned: drops the frames it left above `depth` (the one
/// [`begin_callback`] pushed, or the context a `set` in it made), so the
/// next callback does not see them.
#[inline]
pub(crate) fn end_callback(depth: usize) {
    if DEPTH.get() > depth {
        pop_to(depth);
    }
}

/// Pops frames, top first, until `depth` are left. Each is dropped outside
/// the stack's borrow and after `DEPTH` counts it gone (its values'
/// destructors may read variables); no allocation, as this runs after every
/// callback on a thread that has a context of its own.
#[cold]
fn pop_to(depth: usize) {
    while DEPTH.get() > depth {
        let frame = FRAMES.with(|f| f.borrow_mut().pop());
        DEPTH.set(DEPTH.get() - 1);
        drop(frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn val(n: u32) -> Option<Value> {
        Some(Arc::new(n))
    }

    fn read(ctx: &Ctx, var: u64) -> Option<u32> {
        ctx.lookup(var).map(|v| *v.downcast_ref::<u32>().unwrap())
    }

    #[test]
    fn write_copies_a_shared_map_and_keeps_ids_sorted() {
        let mut a = Ctx::default();
        a.write(5, val(50));
        a.write(2, val(20));
        a.write(9, val(90));
        let b = Ctx::new(a.map().cloned());
        a.write(2, val(21));
        assert_eq!(read(&a, 2), Some(21));
        assert_eq!(read(&b, 2), Some(20), "the copy is unaffected");
        let ids: Vec<u64> = a.map().unwrap().entries.iter().map(|e| e.0).collect();
        assert_eq!(ids, [2, 5, 9]);
    }

    #[test]
    fn removing_the_last_value_empties_the_context() {
        let mut a = Ctx::default();
        let (old, id) = a.write(1, val(1));
        assert!(old.is_none());
        assert_ne!(id, 0);
        let (old, id2) = a.write(1, None);
        assert_eq!(old.map(|v| *v.downcast_ref::<u32>().unwrap()), Some(1));
        assert_eq!(id, id2, "a context keeps its identity");
        assert!(a.map().is_none());
    }

    #[test]
    fn frames_nest_and_the_thread_context_sits_below_them() {
        write(7, val(1));
        assert_eq!(lookup(7).map(|v| *v.downcast_ref::<u32>().unwrap()), Some(1));
        let mut inner = Ctx::default();
        run_in(&mut inner, || {
            assert!(lookup(7).is_none(), "a fresh context is empty");
            write(7, val(2));
        });
        assert_eq!(read(&inner, 7), Some(2), "run writes back");
        assert_eq!(lookup(7).map(|v| *v.downcast_ref::<u32>().unwrap()), Some(1));
    }
}
