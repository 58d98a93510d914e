//! The loop's list of live tasks: intrusive, doubly linked through the
//! headers, so adding and removing a task allocates nothing and is O(1).
//! Loop thread only.

use std::ptr::NonNull;

use super::{Header, RawTask};

/// Live tasks in creation order.
#[derive(Default)]
pub(crate) struct OwnedList {
    head: Option<NonNull<Header>>,
    tail: Option<NonNull<Header>>,
    len: usize,
}

impl OwnedList {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn push_back(&mut self, task: RawTask) {
        let h = task.header();
        h.prev.set(self.tail);
        h.next.set(None);
        match self.tail {
            // SAFETY: list members are live (the loop holds a reference to
            // every task in this list).
            Some(t) => unsafe { t.as_ref() }.next.set(Some(task.0)),
            None => self.head = Some(task.0),
        }
        self.tail = Some(task.0);
        self.len += 1;
    }

    /// Unlinks `task`, which must be in this list.
    pub(crate) fn remove(&mut self, task: RawTask) {
        let h = task.header();
        let (prev, next) = (h.prev.take(), h.next.take());
        match prev {
            // SAFETY: neighbours in the list are live.
            Some(p) => unsafe { p.as_ref() }.next.set(next),
            None => self.head = next,
        }
        match next {
            // SAFETY: neighbours in the list are live.
            Some(n) => unsafe { n.as_ref() }.prev.set(prev),
            None => self.tail = prev,
        }
        self.len -= 1;
    }

    pub(crate) fn front(&self) -> Option<RawTask> {
        self.head.map(RawTask)
    }

    /// Every member, oldest first.
    pub(crate) fn snapshot(&self) -> Vec<RawTask> {
        let mut out = Vec::with_capacity(self.len);
        let mut cur = self.head;
        while let Some(p) = cur {
            out.push(RawTask(p));
            // SAFETY: members are live.
            cur = unsafe { p.as_ref() }.next.get();
        }
        out
    }
}
