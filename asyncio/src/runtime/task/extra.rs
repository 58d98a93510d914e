//! The header's one-word slot for what few tasks carry: a name (given to a
//! task without a debug record) and a context (context variables).
//!
//! The word (a pointer, so that it keeps its provenance) is one of:
//!
//! | word | holds |
//! |---|---|
//! | null | nothing: an unnamed task in an empty context (most tasks) |
//! | a pointer, low bit clear | an `Arc<Map>` (from `Arc::into_raw`): an unnamed task that inherited a non-empty context and has not set anything in it |
//! | a pointer, low bit set | a `Box<Extra>` (from `Box::into_raw`, plus one): a name, or a context with its own identity |
//!
//! The middle case is the one every task of a request takes once a request
//! id is set: inheriting costs a reference count, not an allocation. The
//! first `set` in such a task (which needs the context's identity, for
//! tokens) or a name moves it to the boxed form.
//!
//! Both pointees are at least 8-aligned (`Map` and `Extra` hold a `Vec` or
//! a `Box`), so bit 0 of a pointer to them is free for the tag.
//!
//! The slot is touched only on the loop thread, except by `Drop`, which
//! runs when the task's last reference is dropped, on any thread, with
//! exclusive access; what it frees is `Send` (`Map`'s values are
//! `Send + Sync`, a name is a `Box<str>`).

use std::cell::Cell;
use std::sync::Arc;

use crate::runtime::ctxvars::{Ctx, Map, Value};

/// A name and a context with its identity: the boxed form.
#[derive(Default)]
pub(crate) struct Extra {
    pub(crate) name: Option<Box<str>>,
    pub(crate) ctx: Ctx,
}

const BOXED: usize = 1;

/// See the module notes.
pub(crate) struct ExtraSlot(Cell<*const ()>);

impl ExtraSlot {
    /// A slot for a task named `name` starting in the context `ctx`.
    #[inline]
    pub(crate) fn new(name: Option<Box<str>>, ctx: Option<Arc<Map>>) -> ExtraSlot {
        let word = match name {
            None => ctx.map_or(std::ptr::null(), |map| Arc::into_raw(map).cast()),
            Some(name) => boxed(Extra {
                name: Some(name),
                ctx: Ctx::new(ctx),
            }),
        };
        ExtraSlot(Cell::new(word))
    }

    /// The context's contents (loop thread).
    #[inline]
    pub(crate) fn map(&self) -> Option<Arc<Map>> {
        let word = self.0.get();
        if word.is_null() {
            None
        } else if word.addr() & BOXED == 0 {
            let p = word.cast::<Map>();
            // SAFETY: an untagged non-null word is an `Arc<Map>` made by
            // `Arc::into_raw` and owned by this slot, so the count is at
            // least one while we add one; `from_raw` then takes ownership
            // of exactly the count we added.
            unsafe {
                Arc::increment_strong_count(p);
                Some(Arc::from_raw(p))
            }
        } else {
            self.boxed_ref().ctx.map().cloned()
        }
    }

    /// The value of variable `var` in the context (loop thread).
    pub(crate) fn lookup(&self, var: u64) -> Option<Value> {
        let word = self.0.get();
        if word.is_null() {
            None
        } else if word.addr() & BOXED == 0 {
            // SAFETY: as in `map`, the slot owns this `Arc<Map>`; the shared
            // borrow ends before anything can change the slot.
            let map = unsafe { &*(word.cast::<Map>()) };
            map.get(var).cloned()
        } else {
            self.boxed_ref().ctx.lookup(var)
        }
    }

    /// The name, if one was given (loop thread).
    pub(crate) fn name(&self) -> Option<Box<str>> {
        let word = self.0.get();
        if word.addr() & BOXED == 0 {
            None
        } else {
            self.boxed_ref().name.clone()
        }
    }

    /// Calls `f` with the boxed form, made now if needed (loop thread). `f`
    /// must not reach this slot again (it runs no user code).
    pub(crate) fn with_extra<R>(&self, f: impl FnOnce(&mut Extra) -> R) -> R {
        let word = self.0.get();
        let word = if word.addr() & BOXED != 0 {
            word
        } else {
            let ctx = if word.is_null() {
                None
            } else {
                // SAFETY: an untagged non-null word is an `Arc<Map>` owned
                // by the slot; ownership moves into the box stored below.
                Some(unsafe { Arc::from_raw(word.cast::<Map>()) })
            };
            let word = boxed(Extra {
                name: None,
                ctx: Ctx::new(ctx),
            });
            self.0.set(word);
            word
        };
        // SAFETY: a tagged word is a `Box<Extra>` owned by the slot; this is
        // the loop thread, the only one touching the slot while the task
        // lives, and `f` does not reach the slot, so this `&mut` is the
        // only reference to the box while it lives.
        f(unsafe { &mut *(untag(word).cast_mut().cast::<Extra>()) })
    }

    fn boxed_ref(&self) -> &Extra {
        // SAFETY: called with a tagged word, a `Box<Extra>` owned by the
        // slot; only `with_extra` makes a `&mut` to it, and not while this
        // shared borrow (tied to `&self`, used within the caller) is used.
        unsafe { &*(untag(self.0.get()).cast::<Extra>()) }
    }
}

#[cold]
#[inline(never)]
fn boxed(extra: Extra) -> *const () {
    let p = Box::into_raw(Box::new(extra)).cast_const().cast::<()>();
    debug_assert_eq!(p.addr() & BOXED, 0, "Extra is at least 2-aligned");
    p.map_addr(|a| a | BOXED)
}

/// The box pointer in a tagged word (provenance kept).
fn untag(word: *const ()) -> *const () {
    word.map_addr(|a| a & !BOXED)
}

impl Drop for ExtraSlot {
    #[inline]
    fn drop(&mut self) {
        let word = self.0.get();
        if !word.is_null() {
            free(word);
        }
    }
}

/// Frees a non-null word (the slot's `Drop`).
#[cold]
#[inline(never)]
fn free(word: *const ()) {
    if word.addr() & BOXED == 0 {
        // SAFETY: the slot owned this `Arc<Map>` and is being dropped: this
        // releases its count, once.
        drop(unsafe { Arc::from_raw(word.cast::<Map>()) });
    } else {
        // SAFETY: the slot owned this `Box<Extra>` and is being dropped:
        // freed once, here.
        drop(unsafe { Box::from_raw(untag(word).cast_mut().cast::<Extra>()) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_form_reads_and_converts() {
        let mut ctx = Ctx::default();
        ctx.write(3, Some(Arc::new(30u32)));
        let map = ctx.map().cloned();
        let slot = ExtraSlot::new(None, map.clone());
        assert_eq!(slot.0.get().addr() & BOXED, 0, "a context alone is not boxed");
        assert_eq!(Arc::strong_count(map.as_ref().unwrap()), 3);
        assert!(slot.lookup(3).is_some());
        assert!(slot.name().is_none());
        slot.with_extra(|e| e.name = Some("named".into()));
        assert_eq!(slot.0.get().addr() & BOXED, BOXED);
        assert_eq!(slot.name().as_deref(), Some("named"));
        assert!(slot.lookup(3).is_some(), "the context moved into the box");
        assert!(Arc::ptr_eq(&slot.map().unwrap(), map.as_ref().unwrap()));
        drop(slot);
        assert_eq!(
            Arc::strong_count(map.as_ref().unwrap()),
            2,
            "the slot released its count"
        );
        assert!(ExtraSlot::new(None, None).map().is_none());
    }
}
