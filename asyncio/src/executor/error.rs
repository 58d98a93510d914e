//! [`JobError`]: why a job submitted to an executor gave no result.

use std::any::Any;
use std::fmt;

use crate::runtime::pool::NotRun;
use crate::runtime::report::panic_message;
use crate::runtime::task::PanicPayload;

/// Why a job run by a [`ThreadPoolExecutor`](super::ThreadPoolExecutor),
/// a `ProcessPoolExecutor` or [`to_thread`](super::to_thread) gave no
/// result; also why a future run on the background tokio runtime
/// (`compat::run_on_tokio`, feature `tokio-compat`) gave none.
///
/// Every job ends with its result or one of these; the executor and the
/// loop keep running either way.
///
/// ```
/// use asyncio::executor::{to_thread, JobError};
/// asyncio::run(async {
///     let err = to_thread(|| -> u32 { panic!("disk on fire") }).await.unwrap_err();
///     assert!(matches!(err, JobError::Panicked(_)));
///     assert_eq!(err.panic_message(), Some("disk on fire"));
/// });
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum JobError {
    /// The function panicked. On a thread pool the payload is the panic's
    /// own (resume it with [`JobError::into_panic`]); from a worker process
    /// only the message crosses the pipe.
    Panicked(Panicked),
    /// The job was cancelled before it started ([`JobHandle::cancel`],
    /// a dropped [`CancelOnDrop`], or `shutdown` with `cancel_futures`).
    /// For `compat::run_on_tokio`: the background runtime dropped the
    /// future (`compat::shutdown` while it ran).
    ///
    /// [`JobHandle::cancel`]: super::JobHandle::cancel
    /// [`CancelOnDrop`]: super::CancelOnDrop
    Cancelled,
    /// The executor was shut down before the job was submitted (spelled as
    /// the queue's [`QueueShutDown`](crate::sync::QueueShutDown)).
    ShutDown,
    /// The worker process running the job died (it exited, was killed, or
    /// aborted on a panic). Only this job fails; the pool starts a new
    /// worker for the next one. Python's `BrokenProcessPool`, without
    /// breaking the pool.
    WorkerDied {
        /// The worker's process id.
        pid: u32,
        /// How it ended, as the OS reported it (`signal: 9 (SIGKILL)`,
        /// `exit status: 3`).
        status: String,
    },
    /// A worker thread or process could not be started (the message says
    /// why: out of threads or processes, the program missing its worker
    /// hook, ...).
    WorkerStart(String),
    /// The argument or the result could not cross the pipe: it failed to
    /// serialize or deserialize (the message says which and why).
    Wire(String),
    /// The worker process has no function registered under this name (see
    /// `process_fn!`).
    UnknownFunction(String),
}

/// The panic of a job: its message, and on thread pools its payload.
pub struct Panicked {
    message: String,
    payload: Option<PanicPayload>,
}

impl Panicked {
    pub(crate) fn from_payload(payload: Box<dyn Any + Send>) -> Self {
        Panicked {
            message: panic_message(&*payload),
            payload: Some(PanicPayload::new(payload)),
        }
    }

    #[cfg(feature = "process-pool")]
    pub(crate) fn from_message(message: String) -> Self {
        Panicked { message, payload: None }
    }

    /// The panic message (`"Box<dyn Any>"` when the payload was not a string).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Debug for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Panicked").field(&self.message).finish()
    }
}

impl JobError {
    /// The panic message, if the job panicked.
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            JobError::Panicked(p) => Some(p.message()),
            _ => None,
        }
    }

    /// True if the job was cancelled before it started.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, JobError::Cancelled)
    }

    /// The panic payload, to resume the panic with
    /// `std::panic::resume_unwind`. A worker process's panic gives its
    /// message as a `String` payload.
    ///
    /// # Panics
    /// If the job did not panic.
    pub fn into_panic(self) -> Box<dyn Any + Send> {
        match self {
            JobError::Panicked(Panicked {
                payload: Some(payload), ..
            }) => payload.into_inner(),
            JobError::Panicked(Panicked { message, payload: None }) => Box::new(message),
            other => panic!("{other} (into_panic on a job that did not panic)"),
        }
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobError::Panicked(p) => write!(f, "job panicked: {}", p.message),
            JobError::Cancelled => f.write_str("job was cancelled before it started"),
            JobError::ShutDown => f.write_str("executor was shut down before the job was submitted"),
            JobError::WorkerDied { pid, status } => {
                write!(f, "worker process {pid} died while running the job ({status})")
            }
            JobError::WorkerStart(why) => write!(f, "could not start a worker: {why}"),
            JobError::Wire(why) => write!(f, "job data could not cross to or from the worker: {why}"),
            JobError::UnknownFunction(name) => {
                write!(
                    f,
                    "no function `{name}` is registered in the worker process (see asyncio::process_fn!)"
                )
            }
        }
    }
}

impl std::error::Error for JobError {}

impl From<NotRun> for JobError {
    fn from(why: NotRun) -> Self {
        match why {
            NotRun::ShutDown => JobError::ShutDown,
            NotRun::Cancelled => JobError::Cancelled,
            NotRun::WorkerStart(why) => JobError::WorkerStart(why),
        }
    }
}
