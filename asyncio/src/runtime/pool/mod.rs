//! The machinery under both executors: the job queue with its on-demand
//! workers ([`queue`]), the thread pool the loop keeps as its default
//! executor ([`threads`]), and the user handle both pools share
//! ([`PoolHandle`]).
//!
//! The engine keeps each pool's queue and starts its worker threads; a kind
//! of pool ([`Pool`]) says only what one worker thread does with the jobs.
//! The public `ThreadPoolExecutor` wraps a [`PoolHandle`] of the
//! [`ThreadPool`] kind; the public `ProcessPoolExecutor` one of its own kind
//! (manager threads driving worker processes, in the facade, because they
//! are made of serde and the process registry). A job is
//! anything the queue can run or end unrun ([`QueuedJob`]): the facade's job
//! cells, which the engine does not know the result types of.
//!
//! # Ownership and shutdown, written once
//!
//! Clones of a [`PoolHandle`] share one owner; when the last one goes, the
//! pool shuts down without waiting: jobs already queued still run and the
//! workers exit once the queue is empty (workers hold the pool itself, not
//! the owner, so they do not keep it open). An explicit shutdown may cancel
//! the queued jobs and may wait, for ever or up to a deadline, for the
//! workers to exit; waiting is refused on a loop's thread (it would block
//! the loop) and on the pool's own workers (it would wait for itself).

pub(crate) mod queue;
pub(crate) mod threads;

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) use queue::{JobQueue, QueuedJob};
pub(crate) use threads::{ThreadJob, ThreadPool};

use super::context;

/// Why a job ended without running, as the queue knows it (the facade maps
/// it to its public error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NotRun {
    /// The pool was shut down before the job was queued.
    ShutDown,
    /// Cancelled while queued (a shutdown with `cancel_futures`).
    Cancelled,
    /// No worker could be started to run it (the message says why).
    WorkerStart(String),
}

/// A kind of pool behind a [`PoolHandle`]: what its workers do with the
/// jobs. The engine keeps the queue and starts the worker threads, on
/// demand, each counted in before and out after [`serve`](Pool::serve).
pub(crate) trait Pool: Send + Sync + 'static {
    /// What the queue holds.
    type Job: QueuedJob + Send;
    /// The public type's name, for panic messages.
    const NAME: &'static str;
    /// One worker thread's work: takes jobs from `queue` until it gives
    /// none.
    fn serve(&self, queue: &JobQueue<Self::Job>);
}

/// Starts a pool's threads, named `<prefix>-<n>` with `n` counting up from 0.
struct ThreadNames {
    prefix: String,
    started: AtomicUsize,
}

impl ThreadNames {
    /// Starts the next thread, running `body`.
    fn spawn(&self, body: impl FnOnce() + Send + 'static) -> io::Result<()> {
        let n = self.started.fetch_add(1, Ordering::Relaxed);
        std::thread::Builder::new()
            .name(format!("{}-{n}", self.prefix))
            .spawn(body)
            .map(drop)
    }
}

/// A pool: its queue, the threads serving it, and the kind's own state.
/// Workers hold this, not the [`Owner`].
struct Shared<P: Pool> {
    queue: JobQueue<P::Job>,
    threads: ThreadNames,
    pool: P,
}

impl<P: Pool> Shared<P> {
    /// Starts one more worker thread.
    fn start_worker(self: &Arc<Self>) -> io::Result<()> {
        let shared = self.clone();
        self.threads.spawn(move || {
            shared.queue.enter_worker();
            shared.pool.serve(&shared.queue);
            shared.queue.worker_exited();
        })
    }
}

/// Shuts the pool down when the last user handle goes.
struct Owner<P: Pool> {
    shared: Arc<Shared<P>>,
}

impl<P: Pool> Drop for Owner<P> {
    fn drop(&mut self) {
        self.shared.queue.shutdown(false);
    }
}

/// A user's handle on a pool; clones share it (see the module's notes).
pub(crate) struct PoolHandle<P: Pool> {
    owner: Arc<Owner<P>>,
}

impl<P: Pool> Clone for PoolHandle<P> {
    fn clone(&self) -> Self {
        PoolHandle {
            owner: self.owner.clone(),
        }
    }
}

impl<P: Pool> PoolHandle<P> {
    /// A pool of at most `max_workers` workers, on threads named
    /// `<thread_prefix>-<n>`; none starts before the first job.
    ///
    /// # Panics
    /// If `max_workers` is 0.
    pub(crate) fn new(pool: P, max_workers: usize, thread_prefix: String) -> Self {
        let shared = Shared {
            queue: JobQueue::new(max_workers),
            threads: ThreadNames {
                prefix: thread_prefix,
                started: AtomicUsize::new(0),
            },
            pool,
        };
        PoolHandle {
            owner: Arc::new(Owner {
                shared: Arc::new(shared),
            }),
        }
    }

    /// The kind's own state (the process pool's live worker ids).
    #[cfg(feature = "process-pool")]
    pub(crate) fn pool(&self) -> &P {
        &self.owner.shared.pool
    }

    /// The worker threads' name prefix.
    pub(crate) fn thread_prefix(&self) -> &str {
        &self.owner.shared.threads.prefix
    }

    fn queue(&self) -> &JobQueue<P::Job> {
        &self.owner.shared.queue
    }

    /// Queues `job`, starting a worker if the queue asks for one; after
    /// shutdown the job fails with [`NotRun::ShutDown`].
    pub(crate) fn submit(&self, job: P::Job) {
        let shared = &self.owner.shared;
        shared.queue.submit_job(job, || shared.start_worker());
    }

    /// An executor's `shutdown(wait, cancel_futures)`.
    ///
    /// # Panics
    /// With `wait`, on a loop's thread or on one of the pool's workers.
    pub(crate) fn shutdown(&self, wait: bool, cancel_futures: bool) {
        let what = format!("{}::shutdown(wait = true)", P::NAME);
        self.queue()
            .shutdown_executor(&what, wait.then_some(None), cancel_futures);
    }

    /// An executor's `shutdown_timeout(timeout, cancel_futures)`: as
    /// `shutdown(true, cancel_futures)`, giving up after `timeout`; true if
    /// every worker had exited by then.
    ///
    /// # Panics
    /// On a loop's thread or on one of the pool's workers.
    pub(crate) fn shutdown_timeout(&self, timeout: Duration, cancel_futures: bool) -> bool {
        let what = format!("{}::shutdown_timeout", P::NAME);
        let deadline = Some(Instant::now() + timeout);
        self.queue().shutdown_executor(&what, Some(deadline), cancel_futures)
    }

    /// The runner's close: shuts down (queued jobs still run) and waits up
    /// to `timeout` for the workers; allowed on the closing loop's own
    /// thread, whose tasks are gone by then. True if they all exited.
    pub(crate) fn close(&self, timeout: Duration) -> bool {
        let queue = self.queue();
        queue.shutdown(false);
        queue.wait_exited(Some(Instant::now() + timeout))
    }

    /// True once shut down (explicitly or by the last handle's drop).
    pub(crate) fn is_shutdown(&self) -> bool {
        self.queue().is_shutdown()
    }

    /// The most workers the pool runs at once.
    pub(crate) fn max_workers(&self) -> usize {
        self.queue().max_workers()
    }

    /// Workers alive now (busy or idle), and how many of them are idle.
    pub(crate) fn counts(&self) -> (usize, usize) {
        self.queue().counts()
    }
}

/// Panics on a thread running an event loop, where a blocking wait (`what`)
/// would hold up every task.
pub(crate) fn assert_off_loop(what: &str) {
    let on_loop = context::with_core(|c| c.is_some());
    assert!(
        !on_loop,
        "{what} would block the event loop's thread: await the job instead"
    );
}
