//! [`TaskError`]: why awaiting a task gave no value. Defined beside the
//! task cells that produce it; the public path is `asyncio::TaskError`.

use std::any::Any;
use std::fmt;

use super::{PanicPayload, TaskId};
use crate::runtime::report::panic_message;

/// Why a task produced no output: it was cancelled, or it panicked.
///
/// The Rust side of asyncio's `CancelledError` and of an exception raised
/// out of `await task`. A panic inside a task never unwinds through the
/// loop: it is caught and delivered here, to whoever awaits the task.
///
/// # Examples
///
/// ```
/// asyncio::run(async {
///     let t = asyncio::create_task(async { panic!("boom") });
///     let err: asyncio::TaskError = t.await.unwrap_err();
///     assert!(err.is_panic());
///     assert_eq!(err.panic_message(), Some("boom"));
/// });
/// ```
pub struct TaskError {
    id: Option<TaskId>,
    repr: Repr,
}

/// Why a task failed, without its id: one pointer, what a task's cell keeps
/// (the id is in its header) until the error is read.
pub(crate) enum Repr {
    Cancelled,
    Panic(Box<Panic>),
}

impl Repr {
    /// A panic with its payload.
    pub(crate) fn panicked(payload: Box<dyn Any + Send>) -> Self {
        let message = panic_message(&*payload);
        Repr::Panic(Box::new(Panic {
            message,
            payload: PanicPayload::new(payload),
        }))
    }
}

/// The payload of a panic and its message.
pub(crate) struct Panic {
    message: String,
    payload: PanicPayload,
}

impl TaskError {
    /// The error of task `id`.
    pub(crate) fn new(id: TaskId, repr: Repr) -> Self {
        TaskError { id: Some(id), repr }
    }

    pub(crate) fn cancelled(id: TaskId) -> Self {
        TaskError::new(id, Repr::Cancelled)
    }

    pub(crate) fn cancelled_before_start() -> Self {
        TaskError {
            id: None,
            repr: Repr::Cancelled,
        }
    }

    /// The failed task's id; `None` if the task was never created (its loop
    /// closed before it could start).
    pub fn id(&self) -> Option<TaskId> {
        self.id
    }

    /// True if the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// True if the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// The panic message, when the task panicked with a string.
    pub fn panic_message(&self) -> Option<&str> {
        match &self.repr {
            Repr::Panic(p) => Some(&p.message),
            Repr::Cancelled => None,
        }
    }

    /// The panic payload, to resume the panic with
    /// `std::panic::resume_unwind`.
    ///
    /// # Panics
    /// If the task was cancelled rather than panicking.
    pub fn into_panic(self) -> Box<dyn Any + Send> {
        self.try_into_panic()
            .unwrap_or_else(|e| panic!("{e} (into_panic on a cancelled task)"))
    }

    /// The panic payload, or the error back if the task was cancelled.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send>, TaskError> {
        match self.repr {
            Repr::Panic(p) => Ok(p.payload.into_inner()),
            Repr::Cancelled => Err(self),
        }
    }
}

/// What tokio's types panic with when no tokio runtime is current (their
/// `TryCurrentError`): the mark of a tokio-only call made on this loop.
const NO_TOKIO_RUNTIME: &str = "must be called from the context of a Tokio 1.x runtime";

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.repr, self.id) {
            (Repr::Cancelled, Some(id)) => write!(f, "task {id} was cancelled"),
            (Repr::Cancelled, None) => write!(f, "task was cancelled before it started"),
            (Repr::Panic(p), Some(id)) => write!(f, "task {id} panicked: {}", p.message),
            (Repr::Panic(p), None) => write!(f, "task panicked: {}", p.message),
        }?;
        match &self.repr {
            Repr::Panic(p) if p.message.contains(NO_TOKIO_RUNTIME) => f.write_str(
                " (a call that needs tokio's runtime, made on asyncio's loop: run it with \
                 asyncio::compat::run_on_tokio, cargo feature `tokio-compat`)",
            ),
            _ => Ok(()),
        }
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f
                .debug_struct("TaskError")
                .field("id", &self.id)
                .field("cancelled", &true)
                .finish(),
            Repr::Panic(p) => f
                .debug_struct("TaskError")
                .field("id", &self.id)
                .field("panic", &p.message)
                .finish(),
        }
    }
}

impl std::error::Error for TaskError {}
