//! The asyncio adapter: [`AsyncioLoop`] (asyncio's single-threaded loop,
//! `asyncio::Runner`, with debug mode off or on: [`Asyncio`], [`AsyncioDebug`];
//! with eager task start: [`AsyncioEager`])
//! and its functions over asyncio's own primitives: `create_task`,
//! `yield_now`, `sleep`, `timeout`, `gather`, `TaskGroup` ([`AsyncioGroup`]),
//! the `sync` lock, semaphore, queue, channel and event (in `Rc`s: they are
//! loop-bound and `!Sync`), and `to_thread`.

use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use super::{unwrapped_spawn_blocking, Runtime};
use crate::futures::Unwrap;

/// asyncio's single-threaded loop (`asyncio::Runner`), with debug mode
/// `DEBUG` (whatever `ASYNCIO_DEBUG` says), eager task start `EAGER`
/// (`Runner::eager_tasks`) and, with `URING`, the io_uring driver
/// (`Runner::driver`; otherwise whatever `ASYNCIO_DRIVER` says):
/// [`Asyncio`], [`AsyncioDebug`], [`AsyncioEager`], [`AsyncioUring`].
pub struct AsyncioLoop<const DEBUG: bool, const EAGER: bool = false, const URING: bool = false> {
    runner: asyncio::Runner,
}

/// asyncio's loop as users run it: debug mode off.
pub type Asyncio = AsyncioLoop<false>;

/// asyncio's loop in debug mode, with a slow-callback threshold no poll
/// reaches (the bookkeeping is measured, not reports).
pub type AsyncioDebug = AsyncioLoop<true>;

/// asyncio's loop with eager tasks (a task's first poll runs inside
/// `create_task`), debug mode off.
pub type AsyncioEager = AsyncioLoop<false, true>;

/// asyncio's loop on the io_uring driver (readiness where the kernel
/// refuses io_uring), debug mode off.
pub type AsyncioUring = AsyncioLoop<false, false, true>;

impl<const DEBUG: bool, const EAGER: bool, const URING: bool> Runtime for AsyncioLoop<DEBUG, EAGER, URING> {
    const NAME: &'static str = match (DEBUG, EAGER, URING) {
        (false, false, false) => "asyncio",
        (true, false, false) => "asyncio-debug",
        (false, true, false) => "asyncio eager",
        (true, true, false) => "asyncio-debug eager",
        (false, false, true) => "asyncio-uring",
        (true, false, true) => "asyncio-debug-uring",
        (false, true, true) => "asyncio-uring eager",
        (true, true, true) => "asyncio-debug-uring eager",
    };

    fn new() -> Self {
        // Create the loop now so that its construction is not timed.
        let mut runner = asyncio::Runner::new();
        if URING {
            runner = runner.driver(asyncio::io::Driver::IoUring);
        }
        let mut runner = runner
            .debug(DEBUG)
            .eager_tasks(EAGER)
            .slow_callback_duration(Duration::from_secs(3600));
        let _ = runner.get_loop();
        AsyncioLoop { runner }
    }

    fn block_on<F: Future>(&mut self, future: F) -> F::Output {
        self.runner.run(future)
    }
}

impl<const DEBUG: bool, const EAGER: bool, const URING: bool> Drop for AsyncioLoop<DEBUG, EAGER, URING> {
    fn drop(&mut self) {
        self.runner.close();
    }
}

impl<const DEBUG: bool, const EAGER: bool, const URING: bool> AsyncioLoop<DEBUG, EAGER, URING> {
    /// `asyncio::create_task`.
    #[inline]
    pub fn spawn<F: Future + 'static>(f: F) -> Unwrap<asyncio::Task<F::Output>> {
        Unwrap(asyncio::create_task(f))
    }

    /// Lets a task run on without its handle (dropping a `Task` detaches it).
    #[inline]
    pub fn detach<T>(handle: Unwrap<asyncio::Task<T>>) {
        drop(handle);
    }

    /// `asyncio::yield_now`.
    #[inline]
    pub fn yield_now() -> asyncio::task::YieldNow {
        asyncio::yield_now()
    }

    /// `asyncio::sleep`.
    #[inline]
    pub fn sleep(d: Duration) -> asyncio::time::Sleep {
        asyncio::sleep(d)
    }

    /// `asyncio::timeout`.
    #[inline]
    pub fn timeout<F: Future>(d: Duration, f: F) -> asyncio::time::Timeout<F> {
        asyncio::timeout(d, f)
    }

    /// `asyncio::gather(iter)` (the `Unpin` bound is only there to match the
    /// peers' [`join_all`](crate::join_all)).
    #[inline]
    pub fn join_all<I>(futures: I) -> asyncio::task::Gather<I::Item>
    where
        I: IntoIterator,
        I::Item: Future + Unpin,
    {
        asyncio::gather(futures)
    }

    /// An empty `asyncio::TaskGroup`, with room for `capacity` handles.
    #[inline]
    pub fn group<T: 'static>(capacity: usize) -> AsyncioGroup<T> {
        AsyncioGroup {
            group: asyncio::TaskGroup::new(),
            children: Vec::with_capacity(capacity),
        }
    }
}

/// An `asyncio::TaskGroup` and the handles of its children, kept to read
/// their results after the join (the group itself does not return them).
pub struct AsyncioGroup<T> {
    group: asyncio::TaskGroup,
    children: Vec<asyncio::task::GroupTask<T>>,
}

impl<T: 'static> AsyncioGroup<T> {
    /// `TaskGroup::create_task`; the handle is kept.
    #[inline]
    pub fn spawn<F: Future<Output = T> + 'static>(&mut self, f: F) {
        self.children
            .push(self.group.create_task(f).expect("TaskGroup is open"));
    }

    /// `TaskGroup::join`, then `GroupTask::result` of every child, in spawn
    /// order, passed to `each`.
    pub async fn join(self, mut each: impl FnMut(T)) {
        self.group.join().await.expect("no child failed");
        for child in self.children {
            each(child.result().expect("child finished"));
        }
    }
}

impl Asyncio {
    /// An unlocked `asyncio::sync::Lock`.
    pub fn new_lock() -> Rc<asyncio::sync::Lock> {
        Rc::new(asyncio::sync::Lock::new())
    }

    /// `Lock::acquire` (dropping the guard releases).
    #[inline]
    pub fn lock(lock: &asyncio::sync::Lock) -> asyncio::sync::LockAcquire<'_> {
        lock.acquire()
    }

    /// An `asyncio::sync::Semaphore` with `permits` permits.
    pub fn new_semaphore(permits: usize) -> Rc<asyncio::sync::Semaphore> {
        Rc::new(asyncio::sync::Semaphore::new(permits))
    }

    /// `Semaphore::acquire` (dropping the permit releases it).
    #[inline]
    pub fn acquire(sem: &asyncio::sync::Semaphore) -> asyncio::sync::Acquire<'_> {
        sem.acquire()
    }

    /// An `asyncio::sync::Queue` of `capacity` items, as both ends.
    pub fn spsc_queue<T>(capacity: usize) -> (Rc<asyncio::sync::Queue<T>>, Rc<asyncio::sync::Queue<T>>) {
        let q = Rc::new(asyncio::sync::Queue::new(capacity));
        (q.clone(), q)
    }

    /// The same as [`Asyncio::spsc_queue`]: asyncio's one queue serves any
    /// number of producers and consumers.
    pub fn mpmc_queue<T>(capacity: usize) -> (Rc<asyncio::sync::Queue<T>>, Rc<asyncio::sync::Queue<T>>) {
        Self::spsc_queue(capacity)
    }

    /// `asyncio::sync::channel(capacity)`: the cross-thread channel (the
    /// loop-bound `Queue` cannot leave its loop).
    pub fn thread_channel<T: Send>(capacity: usize) -> (asyncio::sync::Sender<T>, asyncio::sync::Receiver<T>) {
        asyncio::sync::channel(capacity)
    }
}

impl Asyncio {
    /// An unset `asyncio::sync::Event`.
    pub fn new_event() -> Rc<asyncio::sync::Event> {
        Rc::new(asyncio::sync::Event::new())
    }

    /// `Event::set`.
    #[inline]
    pub fn notify_event(event: &asyncio::sync::Event) {
        event.set();
    }

    /// `Event::wait`, then `Event::clear` as soon as it returns (an
    /// `Event` stays set until cleared). The notifier only sets it again
    /// after the waiter has answered, so this clear never eats the next
    /// round's notification.
    #[inline]
    pub async fn wait_event(event: &asyncio::sync::Event) {
        event.wait().await;
        event.clear();
    }
}

impl Asyncio {
    unwrapped_spawn_blocking!(
        /// `asyncio::to_thread`: `f` on the running loop's default thread pool.
        asyncio::executor::CancelOnDrop<T>,
        asyncio::to_thread
    );
}
