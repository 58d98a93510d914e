//! The job queue both pools share: a FIFO of jobs and the bookkeeping that
//! decides when a submit wakes an idle worker and when it starts a new one.
//!
//! Workers are started on demand, up to `max_workers`: a submit that finds
//! no idle worker asks its caller to start one. An idle worker waits on the
//! condition variable; a submit that finds one idle *claims* it (`idle -= 1`,
//! `notified += 1`) before notifying, so two submits never count on the same
//! sleeper. A worker that wakes takes a claim if there is one; one that wakes
//! with no claim and its idle timeout passed retires. Spurious wake-ups just
//! wait again. This is the shape of tokio's blocking pool.
//!
//! Shutdown stops new submits, wakes everyone, and lets workers drain what is
//! queued (or hands the queued jobs back to be cancelled) before they exit.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{assert_off_loop, NotRun};

thread_local! {
    /// The queue this thread works for (its address), if it is a worker.
    static WORKER_OF: Cell<usize> = const { Cell::new(0) };
}

struct State<J> {
    jobs: VecDeque<J>,
    /// Workers that will take jobs: started, and not yet told to exit. What
    /// a submit counts against `max_workers`.
    workers: usize,
    /// Workers started and not yet done cleaning up; `wait_exited` waits for
    /// this to reach zero.
    alive: usize,
    /// Workers waiting for a job and not claimed.
    idle: usize,
    /// Claims on idle workers not yet taken up.
    notified: usize,
    shutdown: bool,
}

pub(crate) struct JobQueue<J> {
    state: Mutex<State<J>>,
    /// Idle workers wait here for jobs.
    work: Condvar,
    /// `shutdown(wait)` waits here for the last worker to exit.
    exited: Condvar,
    max_workers: usize,
}

/// A queued job as the queue's helpers see it: something that can be ended
/// unrun, saying why.
pub(crate) trait QueuedJob {
    fn fail(self, why: NotRun);
}

/// What a submit asks of its caller.
pub(crate) enum Submit<J> {
    /// Queued; a worker will take it.
    Queued,
    /// Queued; start a new worker (it is already counted).
    StartWorker,
    /// Refused: the queue is shut down.
    Refused(J),
}

impl<J> JobQueue<J> {
    pub(crate) fn new(max_workers: usize) -> Self {
        assert!(max_workers > 0, "an executor needs at least one worker");
        JobQueue {
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                workers: 0,
                alive: 0,
                idle: 0,
                notified: 0,
                shutdown: false,
            }),
            work: Condvar::new(),
            exited: Condvar::new(),
            max_workers,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<J>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn max_workers(&self) -> usize {
        self.max_workers
    }

    /// Queues `job`, waking or asking for a worker.
    pub(crate) fn submit(&self, job: J) -> Submit<J> {
        let mut s = self.lock();
        if s.shutdown {
            return Submit::Refused(job);
        }
        s.jobs.push_back(job);
        if s.idle > 0 {
            s.idle -= 1;
            s.notified += 1;
            drop(s);
            self.work.notify_one();
            Submit::Queued
        } else if s.workers < self.max_workers {
            s.workers += 1;
            s.alive += 1;
            Submit::StartWorker
        } else {
            Submit::Queued
        }
    }

    /// Queues `job` for a pool: starts a worker with `start_worker` when the
    /// queue asks for one; a job refused (after shutdown) or left without
    /// any worker (the start failed) fails with the reason.
    pub(crate) fn submit_job(&self, job: J, start_worker: impl FnOnce() -> std::io::Result<()>)
    where
        J: QueuedJob,
    {
        match self.submit(job) {
            Submit::Queued => {}
            Submit::StartWorker => {
                if let Err(e) = start_worker() {
                    for job in self.start_failed() {
                        job.fail(NotRun::WorkerStart(format!("thread spawn failed: {e}")));
                    }
                }
            }
            Submit::Refused(job) => job.fail(NotRun::ShutDown),
        }
    }

    /// An executor's shutdown: stops taking jobs (with `cancel_futures`,
    /// the queued ones end [`NotRun::Cancelled`]), then, with `wait`, waits
    /// for every worker to exit until the deadline it holds (`None`: for
    /// ever); true if they all did (and always without `wait`).
    ///
    /// # Panics
    /// With `wait`, on a thread running an event loop or on one of this
    /// queue's own workers (`what` names the call in the message).
    pub(crate) fn shutdown_executor(&self, what: &str, wait: Option<Option<Instant>>, cancel_futures: bool) -> bool
    where
        J: QueuedJob,
    {
        if wait.is_some() {
            assert_off_loop(what);
            self.assert_not_own_worker();
        }
        for job in self.shutdown(cancel_futures) {
            job.fail(NotRun::Cancelled);
        }
        wait.is_none_or(|deadline| self.wait_exited(deadline))
    }

    /// A worker that [`Submit::StartWorker`] asked for could not be started:
    /// uncounts it. If no worker is left to run them, the queued jobs are
    /// handed back to be failed.
    pub(crate) fn start_failed(&self) -> Vec<J> {
        let mut s = self.lock();
        s.workers -= 1;
        s.alive -= 1;
        let orphans = if s.workers == 0 {
            s.jobs.drain(..).collect()
        } else {
            Vec::new()
        };
        if s.alive == 0 {
            self.exited.notify_all();
        }
        orphans
    }

    /// The next job for a worker, waiting up to `idle_timeout` (`None`: for
    /// ever) for one. `None` tells the worker to exit: it no longer counts
    /// for submits (so a submit racing its exit starts a new worker), and it
    /// calls [`worker_exited`](Self::worker_exited) once it has cleaned up.
    pub(crate) fn next(&self, idle_timeout: Option<Duration>) -> Option<J> {
        let mut s = self.lock();
        loop {
            if let Some(job) = s.jobs.pop_front() {
                return Some(job);
            }
            if s.shutdown {
                break;
            }
            s.idle += 1;
            let deadline = idle_timeout.map(|t| Instant::now() + t);
            let retire = loop {
                s = match deadline {
                    None => self.work.wait(s).unwrap_or_else(|e| e.into_inner()),
                    Some(d) => {
                        let now = Instant::now();
                        let left = d.saturating_duration_since(now);
                        self.work.wait_timeout(s, left).unwrap_or_else(|e| e.into_inner()).0
                    }
                };
                if s.notified > 0 {
                    // Claimed by a submit, which already uncounted us as idle.
                    s.notified -= 1;
                    break false;
                }
                if s.shutdown || deadline.is_some_and(|d| Instant::now() >= d) {
                    s.idle -= 1;
                    break true;
                }
            };
            if retire && s.jobs.is_empty() {
                break;
            }
        }
        // Uncounted under the lock that decided it: a submit from now on
        // sees one worker fewer and starts another if it must.
        s.workers -= 1;
        None
    }

    /// A worker that [`next`](Self::next) told to exit has cleaned up.
    pub(crate) fn worker_exited(&self) {
        let mut s = self.lock();
        s.alive -= 1;
        if s.alive == 0 {
            self.exited.notify_all();
        }
    }

    /// Stops new submits and wakes every worker. With `cancel_queued`, the
    /// jobs not started yet are handed back (to be cancelled); otherwise the
    /// workers run them before exiting.
    pub(crate) fn shutdown(&self, cancel_queued: bool) -> Vec<J> {
        let mut s = self.lock();
        s.shutdown = true;
        let dropped = if cancel_queued {
            s.jobs.drain(..).collect()
        } else {
            Vec::new()
        };
        drop(s);
        self.work.notify_all();
        dropped
    }

    /// True once [`shutdown`](Self::shutdown) was called.
    pub(crate) fn is_shutdown(&self) -> bool {
        self.lock().shutdown
    }

    /// Marks the calling thread as one of this queue's workers.
    pub(crate) fn enter_worker(&self) {
        WORKER_OF.with(|w| w.set(self.id()));
    }

    fn id(&self) -> usize {
        self as *const Self as *const () as usize
    }

    /// Panics on one of this queue's workers (in a job or a done callback),
    /// where waiting for the workers to exit would wait for itself.
    pub(crate) fn assert_not_own_worker(&self) {
        assert!(
            WORKER_OF.with(Cell::get) != self.id(),
            "an executor's shutdown(wait = true) was called from one of its own threads (in a job or a \
             done callback): it would wait for itself; use shutdown(false, ..) there"
        );
    }

    /// Waits until every worker has exited, up to `deadline`; true if they
    /// all did.
    ///
    /// # Panics
    /// On one of the workers itself (see `assert_not_own_worker`).
    pub(crate) fn wait_exited(&self, deadline: Option<Instant>) -> bool {
        self.assert_not_own_worker();
        let mut s = self.lock();
        while s.alive > 0 {
            s = match deadline {
                None => self.exited.wait(s).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return false;
                    }
                    self.exited
                        .wait_timeout(s, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
        }
        true
    }

    /// Workers alive now, and how many of them wait idle.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let s = self.lock();
        (s.alive, s.idle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submits_ask_for_workers_up_to_the_limit() {
        let q = JobQueue::new(2);
        assert!(matches!(q.submit(1), Submit::StartWorker));
        assert!(matches!(q.submit(2), Submit::StartWorker));
        assert!(matches!(q.submit(3), Submit::Queued));
        assert_eq!(q.counts(), (2, 0));
        assert_eq!(q.next(None), Some(1));
        assert_eq!(q.shutdown(true), vec![2, 3]);
        assert!(matches!(q.submit(4), Submit::Refused(4)));
        assert_eq!(q.next(None), None);
        assert!(!q.wait_exited(Some(Instant::now())));
        q.worker_exited();
        assert_eq!(q.next(None), None);
        q.worker_exited();
        assert!(q.wait_exited(None));
    }

    #[test]
    fn idle_worker_retires_after_its_timeout() {
        let q = JobQueue::<u32>::new(1);
        assert!(matches!(q.submit(7), Submit::StartWorker));
        assert_eq!(q.next(Some(Duration::from_millis(1))), Some(7));
        assert_eq!(q.next(Some(Duration::from_millis(1))), None);
        q.worker_exited();
        assert_eq!(q.counts(), (0, 0));
    }

    #[test]
    fn a_submit_racing_the_last_workers_exit_starts_a_new_one() {
        let q = JobQueue::new(1);
        assert!(matches!(q.submit(1), Submit::StartWorker));
        assert_eq!(q.next(Some(Duration::ZERO)), Some(1));
        assert_eq!(q.next(Some(Duration::ZERO)), None); // retiring...
        assert!(
            matches!(q.submit(2), Submit::StartWorker),
            "not stranded behind a leaving worker"
        );
        q.worker_exited(); // ...gone
        assert_eq!(q.counts(), (1, 0));
        assert_eq!(q.next(None), Some(2));
    }

    #[test]
    fn failed_start_of_the_last_worker_hands_jobs_back() {
        let q = JobQueue::new(1);
        assert!(matches!(q.submit(1), Submit::StartWorker));
        assert!(matches!(q.submit(2), Submit::Queued));
        assert_eq!(q.start_failed(), vec![1, 2]);
        assert!(matches!(q.submit(3), Submit::StartWorker));
    }

    #[test]
    fn an_idle_worker_is_claimed_once() {
        let q = std::sync::Arc::new(JobQueue::new(1));
        assert!(matches!(q.submit(0), Submit::StartWorker));
        let q2 = q.clone();
        let worker = std::thread::spawn(move || {
            let mut got = Vec::new();
            while let Some(j) = q2.next(None) {
                got.push(j);
            }
            q2.worker_exited();
            got
        });
        for i in 1..1000 {
            assert!(!matches!(q.submit(i), Submit::StartWorker));
        }
        q.shutdown(false);
        assert_eq!(worker.join().unwrap(), (0..1000).collect::<Vec<_>>());
    }
}
