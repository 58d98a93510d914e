//! [`run`] and [`Runner`]: starting an event loop.

use std::future::Future;
use std::panic::Location;
use std::rc::Rc;
use std::time::Duration;

use crate::event_loop::EventLoop;
use crate::io::Driver;
use crate::runtime::pool::{PoolHandle, ThreadPool};
use crate::runtime::{context, Core};

/// [`Runner::executor_shutdown_timeout`]'s default: asyncio's 300 s.
const DEFAULT_EXECUTOR_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs `future` as the main task of a new event loop and returns its
/// output, as `asyncio.run(main())`. When it returns, the tasks still
/// pending are cancelled (their futures dropped, oldest first) and the loop
/// is closed.
///
/// `future` need not be `'static` or `Send`. Debug mode is on when the
/// environment has `ASYNCIO_DEBUG=1`.
///
/// # Panics
/// - If called from inside a running event loop (as asyncio's
///   `RuntimeError: asyncio.run() cannot be called from a running event loop`);
/// - with the main task's own panic, re-raised here, or if the main task was
///   cancelled.
///
/// ```
/// let answer = asyncio::run(async { 6 * 7 });
/// assert_eq!(answer, 42);
/// ```
#[track_caller]
pub fn run<F: Future>(future: F) -> F::Output {
    let mut runner = Runner::new();
    let out = runner.run_at(future, Location::caller());
    runner.close();
    out
}

/// An event loop that can run several futures one after another, as
/// `asyncio.Runner`; also the builder for loop options.
///
/// Tasks left pending by one [`run`](Runner::run) keep their place and go on
/// running during the next. [`close`](Runner::close) (or dropping the runner)
/// cancels whatever is still pending.
///
/// ```
/// use std::time::Duration;
/// let mut runner = asyncio::Runner::new().virtual_time(true);
/// let background = runner.run(async {
///     asyncio::create_task(async { asyncio::sleep(Duration::from_secs(5)).await; 1 })
/// });
/// assert_eq!(runner.run(background).unwrap(), 1);
/// runner.close();
/// ```
pub struct Runner {
    debug: Option<bool>,
    slow_callback: Option<Duration>,
    virtual_time: bool,
    executor_shutdown_timeout: Duration,
    stall_backtraces: bool,
    eager_tasks: bool,
    driver: Option<Driver>,
    core: Option<Rc<Core>>,
}

impl Default for Runner {
    fn default() -> Self {
        Runner::new()
    }
}

impl Runner {
    /// A runner with default options; its loop is created at first use.
    pub fn new() -> Self {
        Runner {
            debug: None,
            slow_callback: None,
            virtual_time: false,
            executor_shutdown_timeout: DEFAULT_EXECUTOR_SHUTDOWN_TIMEOUT,
            stall_backtraces: false,
            eager_tasks: false,
            driver: None,
            core: None,
        }
    }

    /// Debug mode (default: the `ASYNCIO_DEBUG` environment variable). In
    /// debug mode the loop reports polls and callbacks slower than
    /// [`slow_callback_duration`](Runner::slow_callback_duration), naming the
    /// task and where it was created.
    pub fn debug(mut self, on: bool) -> Self {
        self.debug = Some(on);
        if let Some(core) = &self.core {
            core.set_debug(on);
        }
        self
    }

    /// The debug-mode threshold for a slow poll (default 100 ms, as asyncio).
    pub fn slow_callback_duration(mut self, threshold: Duration) -> Self {
        self.slow_callback = Some(threshold);
        if let Some(core) = &self.core {
            core.set_slow_callback(threshold);
        }
        self
    }

    /// Runs on a virtual clock: paused, and jumping to the next timer
    /// whenever every task is waiting (see [`time`](crate::time)). For tests.
    ///
    /// # Panics
    /// If the loop was already created by an earlier `run`.
    pub fn virtual_time(mut self, on: bool) -> Self {
        assert!(
            self.core.is_none(),
            "Runner::virtual_time must be set before the first run"
        );
        self.virtual_time = on;
        self
    }

    /// In debug mode, stall reports (the loop is blocked *right now*) also
    /// show where the loop thread is, as a backtrace (Linux, with the
    /// `stall-backtrace` cargo feature; default off).
    ///
    /// To get it the watchdog interrupts the loop thread with a signal
    /// (`SIGURG`): a blocking call with a timeout that it interrupts returns
    /// `ErrorKind::Interrupted` instead of going on, so the code being
    /// diagnosed may behave differently. `std::thread::sleep` retries and is
    /// not affected.
    pub fn stall_backtraces(mut self, on: bool) -> Self {
        self.stall_backtraces = on;
        if let Some(core) = &self.core {
            core.set_stall_backtraces(on);
        }
        self
    }

    /// Tasks start eagerly (default off), as with asyncio 3.12's
    /// `loop.set_task_factory(asyncio.eager_task_factory)`: `create_task`
    /// (and [`task::Builder`](crate::task::Builder), [`TaskGroup`](crate::TaskGroup)
    /// children, [`EventLoop::create_task`](crate::EventLoop::create_task))
    /// runs the new task's first poll before it returns, while the loop
    /// runs. A task that finishes in that poll never goes through the
    /// ready queue: its [`Task`](crate::Task) is done when `create_task`
    /// returns, which saves a loop turn per short task (CPython measured up
    /// to 50% on async-tree benchmarks). A task that returns `Pending` is
    /// then scheduled as any other: by its waker (if it woke itself during
    /// the poll, it is queued behind everything already ready). The main
    /// task, and tasks created while the loop is not running, start lazily.
    /// [`task::Builder::eager`](crate::task::Builder::eager) overrides this
    /// per task; [`EventLoop::set_eager_tasks`](crate::EventLoop::set_eager_tasks)
    /// switches it on a running loop.
    ///
    /// Ordering, as asyncio documents it: the eager task's first step runs
    /// before the creator's next statement and before every task and
    /// callback already ready, so an eager task can finish before tasks
    /// created lazily before it even start.
    ///
    /// Re-entrancy:
    /// - the first poll runs inside the creator's poll (or callback), on
    ///   the same stack; a task created eagerly from inside it starts at
    ///   once too, nested one level deeper, and the levels unwind in order
    ///   (a chain of tasks each creating the next in its first poll nests
    ///   as deep on the thread's stack, as in asyncio);
    /// - [`current_task`](crate::current_task) names the new task during
    ///   its first poll, and the creator (or `None`, in a callback) again
    ///   after;
    /// - the task runs in its own copy of the creator's
    ///   [context](crate::context): what it sets is not seen by the creator;
    /// - a panic in the first poll becomes the task's
    ///   [`TaskError`](crate::TaskError) (the future is dropped there and
    ///   then); `create_task` returns normally and the creator goes on;
    /// - a cancel requested during the first poll (by the task itself, or
    ///   by code it runs) ends the task cancelled: at once if the poll
    ///   returned, else at the loop's next turn, as for any poll;
    /// - in debug mode the first poll is timed and watched as any poll; the
    ///   creator's poll, which it interrupts, is watched again after.
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    ///
    /// asyncio::Runner::new().eager_tasks(true).run(async {
    ///     let ran = Rc::new(Cell::new(false));
    ///     let r = ran.clone();
    ///     let t = asyncio::create_task(async move { r.set(true); 7 });
    ///     assert!(ran.get() && t.done(), "it ran inside create_task");
    ///     assert_eq!(t.await.unwrap(), 7);
    /// });
    /// ```
    pub fn eager_tasks(mut self, on: bool) -> Self {
        self.eager_tasks = on;
        if let Some(core) = &self.core {
            core.set_eager_tasks(on);
        }
        self
    }

    /// How long [`close`](Runner::close) waits for the default executor's
    /// threads to finish the jobs they are running (default 300 s, as
    /// `asyncio.run`). Jobs not started yet were cancelled with their
    /// awaiting tasks; after the timeout the threads are left to finish on
    /// their own and the loop reports how many.
    pub fn executor_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.executor_shutdown_timeout = timeout;
        self
    }

    /// The I/O driver of the loop: [`Driver::Readiness`] (mio: epoll or
    /// kqueue) or [`Driver::IoUring`] (Linux 5.13+; where the kernel refuses
    /// it the loop runs on readiness, and [`EventLoop::driver`] says which
    /// it got). Unset, the `ASYNCIO_DRIVER` environment variable decides
    /// (see [`Driver::from_env`]), and without it readiness.
    ///
    /// ```
    /// use asyncio::io::Driver;
    /// let mut runner = asyncio::Runner::new().driver(Driver::IoUring);
    /// let driver = runner.run(async { asyncio::get_running_loop().driver() });
    /// assert!(driver == Driver::IoUring || Driver::io_uring_available().is_err());
    /// ```
    ///
    /// # Panics
    /// If the loop already exists.
    pub fn driver(mut self, driver: Driver) -> Self {
        assert!(self.core.is_none(), "Runner::driver must be set before the first run");
        self.driver = Some(driver);
        self
    }

    fn core(&mut self) -> &Rc<Core> {
        let (debug, slow, virtual_time, traces, eager) = (
            self.debug,
            self.slow_callback,
            self.virtual_time,
            self.stall_backtraces,
            self.eager_tasks,
        );
        let driver = self.driver;
        self.core.get_or_insert_with(|| {
            let debug =
                debug.unwrap_or_else(|| std::env::var("ASYNCIO_DEBUG").is_ok_and(|v| !v.is_empty() && v != "0"));
            let driver = driver.or_else(Driver::from_env).unwrap_or(Driver::Readiness);
            let core =
                Core::new(debug, virtual_time, driver).unwrap_or_else(|e| panic!("cannot create the event loop: {e}"));
            if let Some(slow) = slow {
                core.set_slow_callback(slow);
            }
            core.set_stall_backtraces(traces);
            core.set_eager_tasks(eager);
            core
        })
    }

    /// The runner's loop (created if needed).
    pub fn get_loop(&mut self) -> EventLoop {
        EventLoop::from_core(self.core().clone())
    }

    /// Runs `future` as a main task until it completes and returns its
    /// output; other tasks run meanwhile. See [`run`] for panics.
    ///
    /// # Panics
    /// As [`run`]; also if the runner was closed.
    #[track_caller]
    pub fn run<F: Future>(&mut self, future: F) -> F::Output {
        self.run_at(future, Location::caller())
    }

    fn run_at<F: Future>(&mut self, future: F, location: &'static Location<'static>) -> F::Output {
        assert!(
            context::current_core().is_null(),
            "asyncio::run() cannot be called from a running event loop; await the future instead"
        );
        let core = self.core().clone();
        assert!(!core.is_closed(), "Runner::run on a closed runner");
        match core.block_on(future, location) {
            Ok(v) => v,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => panic!("the main task was cancelled ({e})"),
        }
    }

    /// Cancels every pending task and closes the loop. Idempotent.
    pub fn close(&mut self) {
        let Some(core) = self.core.clone() else { return };
        if core.is_closed() {
            return;
        }
        // asyncio.run's order: cancel the tasks, then wait for the default
        // executor's running jobs with the loop still serving other threads
        // (a job may call back into it), then close.
        core.cancel_all();
        let executor = core.default_executor.borrow_mut().take();
        if let Some(executor) = executor {
            self.wait_for_executor(&core, executor);
        }
        core.close();
    }

    /// Shuts `executor` down and waits (up to the timeout) for its threads,
    /// running the loop meanwhile when it can.
    fn wait_for_executor(&self, core: &Rc<Core>, executor: PoolHandle<ThreadPool>) {
        let timeout = self.executor_shutdown_timeout;
        let done = if context::current_core().is_null() {
            let (tx, rx) = crate::sync::oneshot::channel();
            let waiter = std::thread::Builder::new()
                .name("asyncio-executor-shutdown".into())
                .spawn(move || {
                    let done = executor.close(timeout);
                    let _ = tx.send((done, executor.counts().0));
                });
            match waiter {
                Ok(_) => core
                    .block_on(rx, Location::caller())
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or((false, 0)),
                Err(_) => (false, 0),
            }
        } else {
            // Closed from inside another running loop: no nested run.
            (executor.close(timeout), executor.counts().0)
        };
        if !done.0 {
            crate::runtime::report::warning(&format!(
                "the default executor still has {} thread(s) running jobs after {timeout:?}; not waiting for them",
                done.1
            ));
        }
        core.cancel_all();
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.close();
    }
}
