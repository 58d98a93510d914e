//! [`TaskId`]: a task's process-wide id. Defined beside the task cells that
//! carry it; the public path is `asyncio::TaskId`.

use std::fmt;
use std::num::NonZeroU64;

/// A task's id: unique in the process, never reused.
///
/// Ids start at 1, so an `Option<TaskId>` is one word (a task's error,
/// kept in its cell, stays small).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub(crate) NonZeroU64);

impl TaskId {
    /// The id as a number.
    pub fn as_u64(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
