//! [`ThreadPool`]: jobs on a bounded set of threads started on demand, the
//! engine of `ThreadPoolExecutor` and of the loop's default executor.
//!
//! A thread takes jobs from the pool's [`JobQueue`] in order and exits after
//! its idle timeout without work, or once the pool is shut down and the
//! queue is empty. Jobs catch their own panics (the facade's cells do), so a
//! thread never unwinds.

use std::sync::Arc;
use std::time::Duration;

use super::{JobQueue, NotRun, Pool, QueuedJob};

/// A job queued on a thread pool.
pub(crate) trait ThreadJob: Send + Sync {
    /// Runs it on a pool thread (a cancelled job does nothing). Must not
    /// unwind.
    fn run(&self);
    /// Ends it unrun.
    fn fail(&self, why: NotRun);
}

impl QueuedJob for Arc<dyn ThreadJob> {
    fn fail(self, why: NotRun) {
        ThreadJob::fail(&*self, why);
    }
}

/// The thread pool's kind: each worker thread runs jobs itself, and exits
/// after `idle_timeout` without work (`None`: never).
pub(crate) struct ThreadPool {
    pub(crate) idle_timeout: Option<Duration>,
}

impl Pool for ThreadPool {
    type Job = Arc<dyn ThreadJob>;
    const NAME: &'static str = "ThreadPoolExecutor";

    fn serve(&self, queue: &JobQueue<Self::Job>) {
        while let Some(job) = queue.next(self.idle_timeout) {
            job.run();
        }
    }
}
