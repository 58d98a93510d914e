//! [`ProcessPoolExecutor`]: CPU-bound work in worker processes.
//!
//! # Design
//!
//! Each worker process has a manager thread in the pool's process. A
//! manager takes jobs from the shared [`JobQueue`] one at a time, writes each
//! to its worker's socket and blocks reading the reply, then completes the
//! job's handle. Workers (and their managers) start on demand, up to
//! `max_workers`, and live until the pool shuts down or, with
//! `max_tasks_per_child`, until they have run that many jobs.
//!
//! A worker's end of the socket is held by the worker alone (every fd is
//! close-on-exec, and the pool drops its copy after the spawn), so however a
//! worker ends (a panic that aborts, `exit`, SIGKILL, the OOM killer), its
//! manager's read sees the end of stream at once. The manager then kills and
//! reaps the process (no zombie), fails the job it held with
//! [`JobError::WorkerDied`] and starts a new worker for the next job. The
//! other jobs are untouched: unlike Python's `BrokenProcessPool`, one dead
//! worker does not break the pool.
//!
//! A panic inside a job function is caught in the worker and comes back as
//! [`JobError::Panicked`] with its message; the worker carries on.
//!
//! If the pool's process dies, workers read end of stream and exit.

mod wire;
mod worker;

#[cfg(fuzzing)]
pub(crate) use wire::fuzz_stream as fuzz_wire;

use std::fmt;
use std::io::{self, BufReader};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::handle::{claim, fail_queued, finish, queued, JobCell, MapResults};
use super::{Executor, JobError, JobHandle, Panicked};
use crate::runtime::pool::{JobQueue, NotRun, Pool, PoolHandle, QueuedJob};
use wire::{Reply, Request};

pub use worker::worker_entry;
#[doc(hidden)]
pub use worker::{call_fn, fn_name, ProcessFnEntry, ProcessFnReply};

/// The program workers are started from: this very executable, even if the
/// file on disk was replaced or removed since (Linux's `/proc/self/exe`).
fn program() -> io::Result<PathBuf> {
    let proc_exe = PathBuf::from("/proc/self/exe");
    if cfg!(target_os = "linux") && proc_exe.exists() {
        return Ok(proc_exe);
    }
    std::env::current_exe()
}

/// How long a new worker has to say hello before it is killed.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a [`ProcessPoolExecutor`] could not be created.
#[derive(Debug)]
#[non_exhaustive]
pub enum PoolError {
    /// `main` never called [`worker_entry`] (and is not `#[asyncio::main]`):
    /// workers would run `main` again instead of serving jobs.
    MissingWorkerHook,
    /// This process is itself a pool worker: a job cannot start pools.
    InsideWorker,
    /// The program's own path could not be found to start workers from.
    Program(io::Error),
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::MissingWorkerHook => f.write_str(
                "ProcessPoolExecutor needs the worker hook: call asyncio::executor::worker_entry() \
                 first thing in main, or use #[asyncio::main] (workers are this program started again)",
            ),
            PoolError::InsideWorker => f.write_str("a process pool worker cannot start process pools"),
            PoolError::Program(e) => write!(f, "cannot find this program's path to start workers: {e}"),
        }
    }
}

impl std::error::Error for PoolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PoolError::Program(e) => Some(e),
            _ => None,
        }
    }
}

/// A job queued on a process pool, its argument already encoded.
trait ProcessJob: Send {
    fn name(&self) -> &'static str;
    fn arg(&self) -> &[u8];
    /// Queued to running; false if it was cancelled meanwhile.
    fn claim(&self) -> bool;
    /// Completes the handle from the worker's reply (decoding the result).
    fn finish(self: Box<Self>, reply: Result<Vec<u8>, JobError>);
    /// Ends the job unstarted with `err`.
    fn fail(self: Box<Self>, err: JobError);
}

struct Job<T> {
    name: &'static str,
    arg: Vec<u8>,
    cell: Arc<JobCell<T>>,
}

impl QueuedJob for Box<dyn ProcessJob> {
    fn fail(self, why: NotRun) {
        ProcessJob::fail(self, why.into());
    }
}

impl<T: DeserializeOwned + Send> ProcessJob for Job<T> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn arg(&self) -> &[u8] {
        &self.arg
    }

    fn claim(&self) -> bool {
        claim(&self.cell).is_some()
    }

    fn finish(self: Box<Self>, reply: Result<Vec<u8>, JobError>) {
        let result = reply.and_then(|bytes| {
            postcard::from_bytes(&bytes).map_err(|e| {
                JobError::Wire(format!(
                    "the result could not be decoded as {}: {e}",
                    std::any::type_name::<T>()
                ))
            })
        });
        finish(&self.cell, result);
    }

    fn fail(self: Box<Self>, err: JobError) {
        fail_queued(&self.cell, err);
    }
}

/// A live worker process and the pool's end of its socket.
struct Worker {
    child: Child,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    jobs_run: usize,
}

impl Worker {
    fn spawn(program: &PathBuf, buf: &mut Vec<u8>) -> Result<Worker, String> {
        let (ours, theirs) = UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
        let mut cmd = Command::new(program);
        cmd.env(worker::WORKER_ENV, std::process::id().to_string())
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)));
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        // The worker's end lives in the worker alone from here on.
        drop(cmd);
        let reader = BufReader::new(ours.try_clone().map_err(|e| format!("socket: {e}"))?);
        let mut w = Worker {
            child,
            reader,
            writer: ours,
            jobs_run: 0,
        };
        match w.hello(buf) {
            Ok(()) => Ok(w),
            Err(why) => {
                let status = w.reap();
                Err(format!(
                    "worker process {} did not start serving ({why}; it ended with {status}); \
                     does main call asyncio::executor::worker_entry() before anything else?",
                    w.child.id()
                ))
            }
        }
    }

    fn hello(&mut self, buf: &mut Vec<u8>) -> Result<(), String> {
        let timeout = Some(HELLO_TIMEOUT);
        self.writer.set_read_timeout(timeout).map_err(|e| e.to_string())?;
        self.reader
            .get_ref()
            .set_read_timeout(timeout)
            .map_err(|e| e.to_string())?;
        wire::recv_frame(&mut self.reader, buf).map_err(|e| e.to_string())?;
        match wire::decode::<Reply>(buf).map_err(|e| e.to_string())? {
            Reply::Hello { version, .. } if version == wire::VERSION => {}
            Reply::Hello { version, .. } => return Err(format!("protocol {version}, expected {}", wire::VERSION)),
            other => return Err(format!("unexpected first message {other:?}")),
        }
        self.reader.get_ref().set_read_timeout(None).map_err(|e| e.to_string())
    }

    /// Runs one job: `Ok` with the job's outcome, `Err` if the worker broke
    /// (it is then reaped by the caller).
    fn run(&mut self, name: &str, arg: &[u8], buf: &mut Vec<u8>) -> io::Result<Result<Vec<u8>, JobError>> {
        wire::send(&mut self.writer, &Request::Run { name, arg }, buf)?;
        wire::recv_frame(&mut self.reader, buf)?;
        self.jobs_run += 1;
        Ok(match wire::decode::<Reply>(buf)? {
            Reply::Done(bytes) => Ok(bytes),
            Reply::Panicked(msg) => Err(JobError::Panicked(Panicked::from_message(msg))),
            Reply::Wire(why) => Err(JobError::Wire(why)),
            Reply::Unknown(name) => Err(JobError::UnknownFunction(name)),
            Reply::Hello { .. } => return Err(io::Error::new(io::ErrorKind::InvalidData, "hello mid-stream")),
        })
    }

    /// Kills (if still alive) and reaps the worker; how it ended.
    fn reap(&mut self) -> String {
        let _ = self.child.kill();
        match self.child.wait() {
            Ok(status) => status.to_string(),
            Err(e) => format!("unknown status: {e}"),
        }
    }

    /// Asks the worker to exit and reaps it.
    fn exit(mut self, buf: &mut Vec<u8>) {
        let _ = wire::send(&mut self.writer, &Request::Exit, buf);
        let _ = self.writer.shutdown(std::net::Shutdown::Both);
        // It exits on `Exit` or on the closed socket; wait for that.
        let _ = self.child.wait();
    }
}

/// The process pool's kind: each worker thread is a manager that drives
/// one worker process.
struct ProcessPool {
    program: PathBuf,
    max_tasks_per_child: Option<usize>,
    /// Live workers' process ids, for introspection (and the fault tests).
    pids: Mutex<Vec<u32>>,
}

impl Pool for ProcessPool {
    type Job = Box<dyn ProcessJob>;
    const NAME: &'static str = "ProcessPoolExecutor";

    /// A manager thread: one worker process, one job at a time. Returns
    /// only once its process is reaped, so that `shutdown(wait)`, which
    /// waits for the threads to be counted out, returns after the reap.
    fn serve(&self, queue: &JobQueue<Self::Job>) {
        let mut buf = Vec::new();
        let mut worker: Option<Worker> = None;
        while let Some(job) = queue.next(None) {
            // The worker process first, so a job reads as running (and can
            // no longer be cancelled) only once a process runs it.
            let w = match &mut worker {
                Some(w) => w,
                None => match Worker::spawn(&self.program, &mut buf) {
                    Ok(w) => {
                        self.set_pid(None, Some(w.child.id()));
                        worker.insert(w)
                    }
                    Err(why) => {
                        job.fail(JobError::WorkerStart(why));
                        continue;
                    }
                },
            };
            if !job.claim() {
                continue; // cancelled while queued
            }
            match w.run(job.name(), job.arg(), &mut buf) {
                Ok(outcome) => job.finish(outcome),
                Err(_) => {
                    let pid = w.child.id();
                    let status = w.reap();
                    self.set_pid(Some(pid), None);
                    worker = None;
                    job.finish(Err(JobError::WorkerDied { pid, status }));
                    continue;
                }
            }
            if self.max_tasks_per_child.is_some_and(|max| w.jobs_run >= max) {
                let w = worker.take().expect("worker present");
                self.set_pid(Some(w.child.id()), None);
                w.exit(&mut buf);
            }
        }
        if let Some(w) = worker {
            self.set_pid(Some(w.child.id()), None);
            w.exit(&mut buf);
        }
    }
}

impl ProcessPool {
    fn set_pid(&self, old: Option<u32>, new: Option<u32>) {
        let mut pids = self.pids.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = old {
            pids.retain(|&p| p != old);
        }
        pids.extend(new);
    }
}

/// A pool of worker processes for CPU-bound work
/// (`concurrent.futures.ProcessPoolExecutor`).
///
/// Workers are this program started again: `main` must call
/// [`worker_entry`] first (`#[asyncio::main]` does), and the functions jobs
/// run are registered by name with [`process_fn!`](crate::process_fn).
/// Arguments and results travel as serde types in postcard over a socket.
///
/// Every job ends with its result or a [`JobError`]: a panic in the
/// function ([`JobError::Panicked`], the worker lives on), a worker that died
/// ([`JobError::WorkerDied`], for that job only: a new worker replaces it),
/// data that cannot be (de)serialized ([`JobError::Wire`]).
///
/// On a loop, [`run_in_executor`](super::run_in_executor)`(&pool, (f, arg))`
/// submits and awaits. Cancelling a job (or dropping that future) before it
/// starts removes it from the queue; a running job is not interrupted, and
/// its result is discarded.
///
/// Dropping the last clone shuts the pool down without waiting: submitted
/// jobs still run and their handles still get results, then the workers are
/// told to exit and reaped. [`shutdown`](Self::shutdown) with `wait` blocks
/// until they are gone.
///
/// ```no_run
/// use asyncio::executor::ProcessPoolExecutor;
///
/// fn cpu_heavy(n: u64) -> u64 {
///     (0..n).fold(0u64, |acc, i| acc.wrapping_mul(31).wrapping_add(i))
/// }
/// asyncio::process_fn!(cpu_heavy);
///
/// #[asyncio::main]
/// async fn main() {
///     let pool = ProcessPoolExecutor::new(2).expect("main is #[asyncio::main]");
///     let (a, b) = asyncio::gather!(
///         asyncio::run_in_executor(&pool, (cpu_heavy, 50_000_000)),
///         asyncio::run_in_executor(&pool, (cpu_heavy, 60_000_000)),
///     )
///     .await;
///     println!("{} {}", a.unwrap(), b.unwrap());
/// }
/// ```
#[derive(Clone)]
pub struct ProcessPoolExecutor {
    pool: PoolHandle<ProcessPool>,
}

/// Options for a [`ProcessPoolExecutor`], as [`ThreadPoolBuilder`](super::ThreadPoolBuilder)
/// for threads.
#[derive(Debug, Clone)]
pub struct ProcessPoolBuilder {
    max_workers: usize,
    max_tasks_per_child: Option<usize>,
}

impl ProcessPoolBuilder {
    super::max_workers_setter!("worker processes", "the machine's CPUs, Python's default");

    /// Replace each worker by a fresh process after this many jobs (`None`,
    /// the default: never).
    ///
    /// # Panics
    /// If `n` is `Some(0)`.
    pub fn max_tasks_per_child(mut self, n: Option<usize>) -> Self {
        assert!(n != Some(0), "max_tasks_per_child must be at least 1");
        self.max_tasks_per_child = n;
        self
    }

    /// The pool; no worker starts until the first job.
    ///
    /// # Errors
    /// [`PoolError::MissingWorkerHook`] if `main` never called
    /// [`worker_entry`]; [`PoolError::InsideWorker`] in a worker;
    /// [`PoolError::Program`] if this program's path cannot be found.
    pub fn build(self) -> Result<ProcessPoolExecutor, PoolError> {
        if !worker::hook_called() {
            return Err(PoolError::MissingWorkerHook);
        }
        if worker::in_worker() {
            return Err(PoolError::InsideWorker);
        }
        let program = program().map_err(PoolError::Program)?;
        Ok(ProcessPoolExecutor {
            pool: PoolHandle::new(
                ProcessPool {
                    program,
                    max_tasks_per_child: self.max_tasks_per_child,
                    pids: Mutex::new(Vec::new()),
                },
                self.max_workers,
                "ProcessPoolExecutor-manager".to_owned(),
            ),
        })
    }
}

impl ProcessPoolExecutor {
    /// A pool of at most `max_workers` worker processes, started as jobs
    /// arrive.
    ///
    /// # Errors
    /// As [`ProcessPoolBuilder::build`].
    ///
    /// # Panics
    /// If `max_workers` is 0.
    pub fn new(max_workers: usize) -> Result<Self, PoolError> {
        Self::builder().max_workers(max_workers).build()
    }

    /// A builder, for the number of workers and their replacement.
    pub fn builder() -> ProcessPoolBuilder {
        ProcessPoolBuilder {
            max_workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_tasks_per_child: None,
        }
    }

    /// Runs `f(arg)` in a worker process; the handle gives the result.
    /// Dropping the handle does not cancel the job (see
    /// [`JobHandle::cancel_on_drop`]).
    ///
    /// `f` must be registered with [`process_fn!`](crate::process_fn); if it
    /// is not, the handle fails at once with [`JobError::UnknownFunction`].
    /// An argument that cannot be serialized fails it with
    /// [`JobError::Wire`]; after [`shutdown`](Self::shutdown), with
    /// [`JobError::ShutDown`].
    pub fn submit<F, A, R>(&self, f: F, arg: A) -> JobHandle<R>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        let name = worker::fn_name(&f);
        if !worker::is_fn_item::<F>() || !worker::is_registered(name) {
            return JobHandle::failed(JobError::UnknownFunction(name.to_owned()));
        }
        if self.is_shutdown() {
            return JobHandle::failed(JobError::ShutDown);
        }
        let arg = match postcard::to_stdvec(&arg) {
            Ok(bytes) => bytes,
            Err(e) => {
                let why = format!(
                    "the argument ({}) could not be serialized: {e}",
                    std::any::type_name::<A>()
                );
                return JobHandle::failed(JobError::Wire(why));
            }
        };
        let cell = queued(None);
        self.pool.submit(Box::new(Job {
            name,
            arg,
            cell: cell.clone(),
        }));
        JobHandle::new(cell)
    }

    /// Runs `f` on every item in the workers; results in input order
    /// (`Executor.map`). Iterating blocks the thread.
    pub fn map<F, A, R>(&self, f: F, items: impl IntoIterator<Item = A>) -> MapResults<R>
    where
        F: Fn(A) -> R + Copy + 'static,
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        MapResults::new(items.into_iter().map(|a| self.submit(f, a)).collect())
    }

    /// The process ids of the live workers.
    pub fn worker_pids(&self) -> Vec<u32> {
        self.pool.pool().pids.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

super::shutdown_methods!(ProcessPoolExecutor, "worker process", "worker processes");

impl fmt::Debug for ProcessPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessPoolExecutor")
            .field("max_workers", &self.max_workers())
            .field("workers", &self.worker_pids())
            .field("shutdown", &self.is_shutdown())
            .finish()
    }
}

/// A process pool runs a [`process_fn!`](crate::process_fn) function on an
/// argument: `run_in_executor(&pool, (f, arg))`.
impl<F, A, R> Executor<(F, A)> for ProcessPoolExecutor
where
    F: Fn(A) -> R + Copy + 'static,
    A: Serialize,
    R: DeserializeOwned + Send + 'static,
{
    type Output = R;

    fn submit_job(&self, (f, arg): (F, A)) -> JobHandle<R> {
        self.submit(f, arg)
    }
}
