//! The machinery under both executors: the job queue with its on-demand
//! workers ([`queue`]), the thread pool the loop keeps as its default
//! executor ([`threads`]), and the user handle both pools share
//! ([`PoolHandle`]).
//!
//! The public `ThreadPoolExecutor` wraps a [`PoolHandle`] of a
//! [`ThreadPool`]; the public `ProcessPoolExecutor` a [`PoolHandle`] of its
//! own pool (worker processes and their manager threads, in the facade,
//! because they are made of serde and the process registry). A job is
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

/// A pool behind a [`PoolHandle`]: something with a job queue.
pub(crate) trait Pool: Send + Sync + 'static {
    /// What the queue holds.
    type Job: QueuedJob;
    /// The public type's name, for panic messages.
    const NAME: &'static str;
    /// The pool's queue.
    fn queue(&self) -> &JobQueue<Self::Job>;
}

/// Starts a pool's threads, named `<prefix>-<n>` with `n` counting up from 0.
pub(crate) struct ThreadNames {
    prefix: String,
    started: AtomicUsize,
}

impl ThreadNames {
    pub(crate) fn new(prefix: String) -> Self {
        ThreadNames {
            prefix,
            started: AtomicUsize::new(0),
        }
    }

    /// The threads' name prefix.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Starts the next thread, running `body`.
    pub(crate) fn spawn(&self, body: impl FnOnce() + Send + 'static) -> io::Result<()> {
        let n = self.started.fetch_add(1, Ordering::Relaxed);
        std::thread::Builder::new()
            .name(format!("{}-{n}", self.prefix))
            .spawn(body)
            .map(drop)
    }
}

/// Shuts the pool down when the last user handle goes.
struct Owner<P: Pool> {
    pool: Arc<P>,
}

impl<P: Pool> Drop for Owner<P> {
    fn drop(&mut self) {
        self.pool.queue().shutdown(false);
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
    pub(crate) fn new(pool: P) -> Self {
        PoolHandle {
            owner: Arc::new(Owner { pool: Arc::new(pool) }),
        }
    }

    /// The pool itself, for submitting (workers keep clones of this `Arc`).
    pub(crate) fn pool(&self) -> &Arc<P> {
        &self.owner.pool
    }

    /// An executor's `shutdown(wait, cancel_futures)`.
    ///
    /// # Panics
    /// With `wait`, on a loop's thread or on one of the pool's workers.
    pub(crate) fn shutdown(&self, wait: bool, cancel_futures: bool) {
        let what = format!("{}::shutdown(wait = true)", P::NAME);
        self.pool()
            .queue()
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
        self.pool()
            .queue()
            .shutdown_executor(&what, Some(deadline), cancel_futures)
    }

    /// The runner's close: shuts down (queued jobs still run) and waits up
    /// to `timeout` for the workers; allowed on the closing loop's own
    /// thread, whose tasks are gone by then. True if they all exited.
    pub(crate) fn close(&self, timeout: Duration) -> bool {
        let queue = self.pool().queue();
        queue.shutdown(false);
        queue.wait_exited(Some(Instant::now() + timeout))
    }

    /// True once shut down (explicitly or by the last handle's drop).
    pub(crate) fn is_shutdown(&self) -> bool {
        self.pool().queue().is_shutdown()
    }

    /// The most workers the pool runs at once.
    pub(crate) fn max_workers(&self) -> usize {
        self.pool().queue().max_workers()
    }

    /// Workers alive now (busy or idle), and how many of them are idle.
    pub(crate) fn counts(&self) -> (usize, usize) {
        self.pool().queue().counts()
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
