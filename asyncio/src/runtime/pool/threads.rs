//! [`ThreadPool`]: jobs on a bounded set of threads started on demand, the
//! engine of `ThreadPoolExecutor` and of the loop's default executor.
//!
//! A thread takes jobs from the pool's [`JobQueue`] in order and exits after
//! its idle timeout without work, or once the pool is shut down and the
//! queue is empty. Jobs catch their own panics (the facade's cells do), so a
//! thread never unwinds.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::{JobQueue, NotRun, Pool, QueuedJob, ThreadNames};

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

pub(crate) struct ThreadPool {
    queue: JobQueue<Arc<dyn ThreadJob>>,
    threads: ThreadNames,
    idle_timeout: Option<Duration>,
}

impl Pool for ThreadPool {
    type Job = Arc<dyn ThreadJob>;
    const NAME: &'static str = "ThreadPoolExecutor";

    fn queue(&self) -> &JobQueue<Self::Job> {
        &self.queue
    }
}

impl ThreadPool {
    /// A pool of at most `max_workers` threads named `<name_prefix>-<n>`,
    /// each exiting after `idle_timeout` without work (`None`: never).
    ///
    /// # Panics
    /// If `max_workers` is 0.
    pub(crate) fn new(max_workers: usize, name_prefix: String, idle_timeout: Option<Duration>) -> Self {
        ThreadPool {
            queue: JobQueue::new(max_workers),
            threads: ThreadNames::new(name_prefix),
            idle_timeout,
        }
    }

    /// The threads' name prefix.
    pub(crate) fn name(&self) -> &str {
        self.threads.prefix()
    }

    /// Queues `job`, starting a thread if the queue asks for one; after
    /// shutdown the job fails with [`NotRun::ShutDown`].
    pub(crate) fn submit(self: &Arc<Self>, job: Arc<dyn ThreadJob>) {
        self.queue.submit_job(job, || self.start_worker());
    }

    fn start_worker(self: &Arc<Self>) -> io::Result<()> {
        let pool = self.clone();
        self.threads.spawn(move || {
            pool.queue.enter_worker();
            while let Some(job) = pool.queue.next(pool.idle_timeout) {
                job.run();
            }
            pool.queue.worker_exited();
        })
    }
}
