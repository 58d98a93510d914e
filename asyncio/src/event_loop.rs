//! The loop object: [`get_running_loop`], callbacks, and the thread-safe
//! [`LoopHandle`].

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::completion::Completion;
use crate::executor::{CancelOnDrop, ExecutorArg, ThreadPoolExecutor};
use crate::runtime::core::{CallbackCell, Ready};
use crate::runtime::remote::{Remote, Shared};
use crate::runtime::timer::TimerAction;
use crate::runtime::{context, Core};
use crate::task::{Task, TaskError};
use crate::time::Instant;

/// The running event loop, as `asyncio.get_running_loop()`.
///
/// # Panics
/// If no loop is running on this thread (asyncio's `RuntimeError: no running
/// event loop`).
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// asyncio::run(async {
///     let lp = asyncio::get_running_loop();
///     let hit = Rc::new(Cell::new(false));
///     let h = hit.clone();
///     lp.call_soon(move || h.set(true));
///     asyncio::yield_now().await;
///     assert!(hit.get());
/// });
/// ```
pub fn get_running_loop() -> EventLoop {
    context::expect_core("asyncio::get_running_loop", |core| EventLoop::from_core(core.rc()))
}

/// The running loop, or `None`.
pub fn try_get_running_loop() -> Option<EventLoop> {
    context::with_core(|core| core.map(|c| EventLoop::from_core(c.rc())))
}

/// A reference to an event loop; loop-bound (`!Send`). For other threads,
/// take a [`LoopHandle`] with [`EventLoop::handle`].
#[derive(Clone)]
pub struct EventLoop {
    core: Rc<Core>,
}

impl EventLoop {
    pub(crate) fn from_core(core: Rc<Core>) -> Self {
        EventLoop { core }
    }

    /// Runs `f` at the loop's next turn, after what is already ready (FIFO).
    /// A panic in `f` is reported to stderr and the loop goes on, as asyncio
    /// logs an exception in a callback.
    ///
    /// `f` runs in a copy of the current [context](crate::context), as
    /// do the callbacks of [`call_later`](EventLoop::call_later) and
    /// [`call_at`](EventLoop::call_at).
    #[track_caller]
    pub fn call_soon(&self, f: impl FnOnce() + 'static) -> Handle {
        let cell = CallbackCell::new(crate::context::bind(f), Location::caller());
        self.core.push_soon(Ready::Callback(cell.clone()));
        Handle {
            cell,
            core: Rc::downgrade(&self.core),
        }
    }

    /// [`call_soon`](Self::call_soon) for a callback that already carries
    /// the context it must run in (a promise's done callback carries the
    /// one it was added in); no handle.
    pub(crate) fn call_soon_bound(&self, f: Box<dyn FnOnce()>, location: &'static Location<'static>) {
        self.core.push_soon(Ready::Callback(CallbackCell::new(f, location)));
    }

    /// Runs `f` once `delay` has passed (not sooner; a delay of a couple of
    /// seconds or more may be a few milliseconds late: see
    /// [`crate::time`]'s "Precision").
    #[track_caller]
    pub fn call_later(&self, delay: Duration, f: impl FnOnce() + 'static) -> TimerHandle {
        let clock = &self.core.clock;
        let (when, tick) = match clock.coarse_deadline(delay) {
            Some((when, tick)) => (when, tick),
            None => {
                let when = clock.now() + delay;
                (when, clock.deadline_tick(when))
            }
        };
        self.call_at_tick(Instant(when), tick, crate::context::bind(f), Location::caller())
    }

    /// Runs `f` at `when` on the loop's clock.
    #[track_caller]
    pub fn call_at(&self, when: Instant, f: impl FnOnce() + 'static) -> TimerHandle {
        let tick = self.core.clock.deadline_tick(when.0);
        self.call_at_tick(when, tick, crate::context::bind(f), Location::caller())
    }

    /// Arms the callback's timer at `tick`, the wheel's tick of `when`.
    fn call_at_tick(
        &self,
        when: Instant,
        tick: u64,
        f: Box<dyn FnOnce()>,
        location: &'static Location<'static>,
    ) -> TimerHandle {
        let cell = CallbackCell::new(f, location);
        let key = self.core.timer_insert_tick(tick, TimerAction::Call(cell.clone()));
        cell.timer.set(Some(key));
        TimerHandle {
            handle: Handle {
                cell,
                core: Rc::downgrade(&self.core),
            },
            when,
        }
    }

    /// The loop's current time (`loop.time()`).
    pub fn time(&self) -> Instant {
        Instant(self.core.clock.now())
    }

    /// The loop's default thread pool, the one [`to_thread`](crate::to_thread)
    /// uses; created at first use with
    /// [`default_max_workers`](crate::executor::default_max_workers) threads
    /// named `asyncio-worker-<n>`.
    pub fn default_executor(&self) -> ThreadPoolExecutor {
        let mut slot = self.core.default_executor.borrow_mut();
        let pool = slot.get_or_insert_with(|| {
            ThreadPoolExecutor::builder()
                .thread_name_prefix("asyncio-worker")
                .build()
                .engine()
                .clone()
        });
        ThreadPoolExecutor::from_engine(pool.clone())
    }

    /// Makes `executor` the loop's default thread pool
    /// (`loop.set_default_executor`). The previous one is left as it is, as
    /// in Python: a pool of the loop's own making shuts down (without
    /// waiting) once its last handle is gone; one of yours stays yours.
    pub fn set_default_executor(&self, executor: ThreadPoolExecutor) {
        let old = self
            .core
            .default_executor
            .borrow_mut()
            .replace(executor.engine().clone());
        drop(old);
    }

    /// Runs `job` on `executor`, or on this loop's default thread pool for
    /// `None` (`loop.run_in_executor(executor, f, *args)`): `&pool` of
    /// either kind takes the job that pool runs (see
    /// [`Executor`](crate::executor::Executor)); `None` takes a closure.
    ///
    /// # Cancel safety
    /// Dropping the returned future cancels the job if it has not started; a
    /// started job runs on and its result is discarded.
    ///
    /// ```
    /// asyncio::run(async {
    ///     let lp = asyncio::get_running_loop();
    ///     assert_eq!(lp.run_in_executor(None, || 6 * 7).await.unwrap(), 42);
    /// });
    /// ```
    pub fn run_in_executor<X, J>(&self, executor: X, job: J) -> CancelOnDrop<X::Output>
    where
        X: ExecutorArg<J>,
    {
        executor.submit_on(self, job).cancel_on_drop()
    }

    /// Schedules `future` on this loop (`loop.create_task`). Works before the
    /// loop runs: the task starts when it does.
    ///
    /// # Panics
    /// If the loop is closed.
    #[track_caller]
    pub fn create_task<F: Future + 'static>(&self, future: F) -> Task<F::Output> {
        Task::from_handle(self.core.spawn_task(future, Location::caller(), None))
    }

    /// A new unset [`Promise`](crate::Promise) (`loop.create_future()`).
    pub fn create_future<T>(&self) -> crate::Promise<T> {
        crate::Promise::new()
    }

    /// A `Send + Sync` handle for other threads.
    pub fn handle(&self) -> LoopHandle {
        LoopHandle {
            shared: self.core.shared.clone(),
        }
    }

    /// True while the loop runs a `run` call.
    pub fn is_running(&self) -> bool {
        self.core.is_running()
    }

    /// True once the loop was closed.
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }

    /// Whether tasks start eagerly by default (see
    /// [`Runner::eager_tasks`](crate::Runner::eager_tasks)).
    pub fn get_eager_tasks(&self) -> bool {
        self.core.eager_tasks()
    }

    /// Makes tasks created from now on start eagerly by default, or not
    /// (`loop.set_task_factory(asyncio.eager_task_factory)`; see
    /// [`Runner::eager_tasks`](crate::Runner::eager_tasks)).
    pub fn set_eager_tasks(&self, on: bool) {
        self.core.set_eager_tasks(on);
    }

    /// The I/O driver the loop runs on (see
    /// [`Runner::driver`](crate::Runner::driver)).
    pub fn driver(&self) -> crate::io::Driver {
        self.core.reactor.driver()
    }

    /// Whether debug mode is on.
    pub fn get_debug(&self) -> bool {
        self.core.debug.get()
    }

    /// Turns debug mode on or off.
    pub fn set_debug(&self, on: bool) {
        self.core.set_debug(on);
    }

    /// The debug-mode slow-poll threshold.
    pub fn slow_callback_duration(&self) -> Duration {
        self.core.slow_callback.get()
    }

    /// Sets the debug-mode slow-poll threshold.
    pub fn set_slow_callback_duration(&self, threshold: Duration) {
        self.core.set_slow_callback(threshold);
    }
}

impl fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLoop")
            .field("running", &self.core.is_running())
            .field("closed", &self.core.is_closed())
            .field("debug", &self.core.debug.get())
            .field("tasks", &self.core.task_count())
            .field("timers", &self.core.timer_count())
            .field("driver", &self.core.reactor.driver())
            .field("io_sources", &self.core.reactor.len())
            .finish()
    }
}

/// A scheduled callback (`asyncio.Handle`); cancel it before it runs.
pub struct Handle {
    cell: Rc<CallbackCell>,
    core: Weak<Core>,
}

impl Handle {
    /// Stops the callback from running (and drops it). Idempotent.
    pub fn cancel(&self) {
        self.cell.cancelled.set(true);
        drop(self.cell.f.take());
        if let (Some(key), Some(core)) = (self.cell.timer.take(), self.core.upgrade()) {
            core.timer_remove(key);
        }
    }

    /// True if [`cancel`](Handle::cancel) was called.
    pub fn cancelled(&self) -> bool {
        self.cell.cancelled.get()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<Handle scheduled at {}{}>",
            self.cell.location,
            if self.cancelled() { " cancelled" } else { "" }
        )
    }
}

/// A callback scheduled for a time (`asyncio.TimerHandle`).
pub struct TimerHandle {
    handle: Handle,
    when: Instant,
}

impl TimerHandle {
    /// Stops the callback and removes its timer. Idempotent.
    pub fn cancel(&self) {
        self.handle.cancel();
    }

    /// True if [`cancel`](TimerHandle::cancel) was called.
    pub fn cancelled(&self) -> bool {
        self.handle.cancelled()
    }

    /// When the callback is due.
    pub fn when(&self) -> Instant {
        self.when
    }
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<TimerHandle when={:?} {:?}>", self.when, self.handle)
    }
}

/// The loop was closed; nothing more can be submitted to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoopClosed;

error_message!(LoopClosed => "the event loop is closed");

/// A `Send + Sync` handle to a loop for other threads.
///
/// ```
/// let (tx, rx) = std::sync::mpsc::channel();
/// let out = asyncio::run(async move {
///     let handle = asyncio::get_running_loop().handle();
///     let worker = std::thread::spawn(move || {
///         let fut = handle.run_coroutine_threadsafe(async { 40 + 2 }).unwrap();
///         tx.send(fut.result().unwrap()).unwrap();
///     });
///     // Keep the loop running while the other thread submits.
///     while rx.try_recv().map(|v| assert_eq!(v, 42)).is_err() {
///         asyncio::sleep(std::time::Duration::from_millis(1)).await;
///     }
///     worker.join().unwrap();
///     "done"
/// });
/// assert_eq!(out, "done");
/// ```
#[derive(Clone)]
pub struct LoopHandle {
    shared: Arc<Shared>,
}

impl LoopHandle {
    /// Runs `f` on the loop at its next turn (`loop.call_soon_threadsafe`),
    /// waking it if it sleeps. `f` runs in a copy of the calling thread's
    /// [context](crate::context).
    ///
    /// # Errors
    /// [`LoopClosed`] if the loop is closed.
    pub fn call_soon_threadsafe(&self, f: impl FnOnce() + Send + 'static) -> Result<(), LoopClosed> {
        self.shared
            .push(Remote::Call(crate::context::bind_send(f)))
            .map_err(|_| LoopClosed)
    }

    /// Submits `future` to the loop from any thread and returns a
    /// [`ConcurrentFuture`] for its result (`asyncio.run_coroutine_threadsafe`).
    ///
    /// # Errors
    /// [`LoopClosed`] if the loop is closed.
    ///
    /// # Cancel safety
    /// Dropping the returned [`ConcurrentFuture`] does not cancel the task
    /// (see there); [`ConcurrentFuture::cancel`] does.
    pub fn run_coroutine_threadsafe<F>(&self, future: F) -> Result<ConcurrentFuture<F::Output>, LoopClosed>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_with(move || future)
    }

    /// Makes a future on the loop with `make` and runs it there as a task,
    /// from any thread: [`run_coroutine_threadsafe`](LoopHandle::run_coroutine_threadsafe)
    /// for futures that are not `Send` (only `make` and the output cross
    /// threads; the future may hold `Rc`s and the loop's own objects). The
    /// way to hand work to another loop of a [`Loops`](crate::loops::Loops).
    ///
    /// ```
    /// use std::rc::Rc;
    /// asyncio::run(async {
    ///     let handle = asyncio::get_running_loop().handle();
    ///     let n = std::thread::spawn(move || {
    ///         handle
    ///             .spawn_with(|| {
    ///                 let local = Rc::new(20); // not Send: made on the loop
    ///                 async move { *local + 1 }
    ///             })
    ///             .unwrap()
    ///     });
    ///     let fut = asyncio::to_thread(move || n.join().unwrap()).await.unwrap();
    ///     assert_eq!(fut.await.unwrap(), 21);
    /// });
    /// ```
    ///
    /// # Errors
    /// [`LoopClosed`] if the loop is closed.
    ///
    /// # Cancel safety
    /// As [`run_coroutine_threadsafe`](LoopHandle::run_coroutine_threadsafe).
    pub fn spawn_with<M, F>(&self, make: M) -> Result<ConcurrentFuture<F::Output>, LoopClosed>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        let (result, watch) = self.watched();
        // If the loop is closed the closure is dropped unrun, and `watch`
        // with it completes the slot as cancelled before start.
        self.call_soon_threadsafe(move || {
            let task = crate::create_task(make());
            drop(crate::create_task(watch.watch(task)));
        })?;
        Ok(result)
    }

    /// A result slot for a task started on the loop (by `spawn_with`, or by
    /// the loop's own thread for each main of [`Loops`](crate::loops::Loops)):
    /// the side for other threads, and the side that watches the task on the
    /// loop.
    pub(crate) fn watched<T>(&self) -> (ConcurrentFuture<T>, WatchSlot<T>) {
        let slot: Arc<Slot<T>> = Arc::new(Completion::new(CancelRequest::default()));
        (
            ConcurrentFuture {
                slot: slot.clone(),
                owner: self.shared.clone(),
            },
            WatchSlot(StartGuard(Some(slot))),
        )
    }

    /// True once the loop was closed.
    pub fn is_closed(&self) -> bool {
        self.shared.queue.is_closed()
    }
}

impl fmt::Debug for LoopHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopHandle").field("closed", &self.is_closed()).finish()
    }
}

/// A cancellation request from the submitting side, and the loop-side
/// watcher to wake with it.
#[derive(Default)]
struct CancelRequest {
    cancel: bool,
    watcher: Option<Waker>,
}

type Slot<T> = Completion<Result<T, TaskError>, CancelRequest>;

/// Completes the slot as cancelled if the submitted callback never ran
/// (the loop closed first); disarmed by taking the slot out.
struct StartGuard<T>(Option<Arc<Slot<T>>>);

impl<T> Drop for StartGuard<T> {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take() {
            slot.complete(Err(TaskError::cancelled_before_start()));
        }
    }
}

/// The loop side of [`LoopHandle::watched`]; dropped unused, it completes
/// the slot as cancelled before start.
pub(crate) struct WatchSlot<T>(StartGuard<T>);

impl<T> WatchSlot<T> {
    /// Waits for `task` on the loop, forwarding cancellation requests to it
    /// and publishing its result.
    pub(crate) fn watch(mut self, task: Task<T>) -> impl Future<Output = ()> {
        let slot = self.0 .0.take().expect("watch slot armed");
        Watcher { task, slot }
    }
}

/// Runs on the loop: waits for the submitted task, forwards cancellation
/// requests to it, and publishes its result.
struct Watcher<T> {
    task: Task<T>,
    slot: Arc<Slot<T>>,
}

impl<T> Future for Watcher<T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        {
            let mut s = this.slot.lock();
            if s.extra.cancel {
                s.extra.cancel = false;
                this.task.cancel();
            }
            s.extra.watcher = Some(cx.waker().clone());
        }
        match Pin::new(&mut this.task).poll(cx) {
            Poll::Ready(r) => {
                this.slot.complete(r);
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> Drop for Watcher<T> {
    fn drop(&mut self) {
        // Cancelled with the loop: the task is cancelled too.
        let id = self.task.id();
        self.slot.complete(Err(TaskError::cancelled(id)));
    }
}

/// The result of a future submitted with
/// [`LoopHandle::run_coroutine_threadsafe`]: `concurrent.futures.Future`.
///
/// Wait for it from a plain thread with [`result`](ConcurrentFuture::result),
/// or await it from any async context (it is `Send`).
///
/// Dropping it does *not* cancel the remote work: the task on the loop runs
/// to the end and its result is discarded, as a dropped [`Task`] handle's
/// is (and as Python's `concurrent.futures.Future` left unread). To stop the
/// task, call [`cancel`](ConcurrentFuture::cancel) first.
///
/// # Cancel safety
/// Dropping the awaiting future loses only the result; the task goes on.
pub struct ConcurrentFuture<T> {
    slot: Arc<Slot<T>>,
    owner: Arc<Shared>,
}

impl<T> ConcurrentFuture<T> {
    /// Blocks the calling thread until the result is there.
    ///
    /// # Errors
    /// The task's [`TaskError`] if it panicked or was cancelled.
    ///
    /// # Panics
    /// If called on the thread of the loop that runs the future while it is
    /// running (that would deadlock), or if the result was already taken.
    pub fn result(self) -> Result<T, TaskError> {
        self.result_timeout(None).unwrap_or_else(|_| unreachable!())
    }

    /// As [`result`](ConcurrentFuture::result), giving up after `timeout`
    /// (`None`: no limit); gives `self` back on timeout.
    ///
    /// # Errors
    /// `Ok(Err(_))` as `result`; `Err(self)` on timeout.
    pub fn result_timeout(self, timeout: Option<Duration>) -> Result<Result<T, TaskError>, Self> {
        let on_owner = context::with_core(|core| core.is_some_and(|c| Arc::ptr_eq(&c.shared, &self.owner)));
        assert!(
            !on_owner,
            "ConcurrentFuture::result called on the thread running its own event loop: that would deadlock; await it instead"
        );
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        match self.slot.wait_take(deadline, "ConcurrentFuture") {
            Some(r) => Ok(r),
            None => Err(self),
        }
    }

    /// True once the result is there.
    pub fn done(&self) -> bool {
        self.slot.is_done()
    }

    /// Requests cancellation of the submitted task. Returns false if it
    /// already finished.
    pub fn cancel(&self) -> bool {
        let watcher = {
            let mut s = self.slot.lock();
            if s.is_done() {
                return false;
            }
            s.extra.cancel = true;
            s.extra.watcher.take()
        };
        if let Some(w) = watcher {
            w.wake();
        }
        true
    }
}

impl<T> Future for ConcurrentFuture<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.slot.poll_take(cx, "ConcurrentFuture")
    }
}

impl<T> fmt::Debug for ConcurrentFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrentFuture").field("done", &self.done()).finish()
    }
}
