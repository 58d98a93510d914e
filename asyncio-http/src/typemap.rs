//! [`TypeMap`]: values looked up by their type, for the router's state and
//! a request's locals.

use std::any::{Any, TypeId};
use std::fmt;

/// Values looked up by their type: the router's state and a request's
/// locals. A short list, searched in order (a handful of entries at most).
#[derive(Default)]
pub(crate) struct TypeMap {
    entries: Vec<(TypeId, Box<dyn Any>)>,
}

impl TypeMap {
    pub(crate) fn get<T: 'static>(&self) -> Option<&T> {
        let id = TypeId::of::<T>();
        self.entries
            .iter()
            .find(|(k, _)| *k == id)
            .and_then(|(_, v)| v.downcast_ref())
    }

    /// Sets the value of `T`, returning the one it replaces.
    pub(crate) fn insert<T: 'static>(&mut self, value: T) -> Option<T> {
        let id = TypeId::of::<T>();
        match self.entries.iter_mut().find(|(k, _)| *k == id) {
            Some((_, v)) => std::mem::replace(v, Box::new(value)).downcast().ok().map(|b| *b),
            None => {
                self.entries.push((id, Box::new(value)));
                None
            }
        }
    }

    pub(crate) fn remove<T: 'static>(&mut self) -> Option<T> {
        let id = TypeId::of::<T>();
        let at = self.entries.iter().position(|(k, _)| *k == id)?;
        self.entries.swap_remove(at).1.downcast().ok().map(|b| *b)
    }

    /// Moves in `other`'s entries whose types are not here yet.
    pub(crate) fn absorb(&mut self, other: TypeMap) {
        for (id, v) in other.entries {
            if self.entries.iter().all(|(k, _)| *k != id) {
                self.entries.push((id, v));
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl fmt::Debug for TypeMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypeMap").field("entries", &self.entries.len()).finish()
    }
}
