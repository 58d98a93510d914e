//! What the two smol adapters ([`SmolLocal`](crate::SmolLocal),
//! [`SmolMt`](crate::SmolMt)) share, written once: the `smol_adapter!` macro,
//! which gives an adapter its functions over smol's own pieces (the
//! executor's `spawn` and `Task::detach`, futures-lite's `yield_now`,
//! async-io's `Timer`, a `Vec` of tasks as the task group ([`SmolGroup`]),
//! `async-lock`'s `Mutex<()>` and `Semaphore`, `async-channel`, and
//! [`FlagEvent`], an `event_listener::Event` with a flag), and the
//! runtime-neutral [`join_all`](crate::join_all) where smol has none. Only
//! `spawn`'s bounds differ: the multi-threaded executor needs `Send`.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};

/// `event_listener::Event` (the smol ecosystem's notification primitive, on
/// which async-lock and async-channel are built) plus the flag it needs to
/// be a notification: the event itself stores nothing, a `notify` with no
/// listener registered is lost. The flag is set before notifying and
/// consumed by the waiter, which checks it before and again after
/// registering its listener (the pattern of event-listener's own docs).
#[derive(Debug, Default)]
pub struct FlagEvent {
    set: AtomicBool,
    event: event_listener::Event,
}

impl FlagEvent {
    /// An unset event.
    pub fn new() -> Self {
        FlagEvent::default()
    }

    /// Sets the flag, then `Event::notify(1)`.
    #[inline]
    pub fn notify(&self) {
        self.set.store(true, Ordering::SeqCst);
        self.event.notify(1);
    }

    /// Waits until the flag is set and consumes it: check, `Event::listen`,
    /// check again, await the listener, repeat. One waiter at a time.
    pub async fn wait(&self) {
        loop {
            if self.set.swap(false, Ordering::SeqCst) {
                return;
            }
            let listener = self.event.listen();
            // A notify between the first check and the listen found no
            // listener: look again.
            if self.set.swap(false, Ordering::SeqCst) {
                return;
            }
            listener.await;
        }
    }
}

/// smol's stand-in for a task group, which it does not have: the spawned
/// tasks' handles in a `Vec`, awaited in spawn order. `R` picks the executor
/// ([`SmolLocal`](crate::SmolLocal) or [`SmolMt`](crate::SmolMt)).
pub struct SmolGroup<T, R> {
    pub(super) tasks: Vec<async_executor::Task<T>>,
    runtime: PhantomData<R>,
}

impl<T, R> SmolGroup<T, R> {
    /// An empty group with room for `capacity` handles.
    pub(super) fn with_capacity(capacity: usize) -> Self {
        SmolGroup {
            tasks: Vec::with_capacity(capacity),
            runtime: PhantomData,
        }
    }

    /// Awaits every handle in spawn order; each output is passed to `each`.
    pub async fn join(self, mut each: impl FnMut(T)) {
        for t in self.tasks {
            each(t.await);
        }
    }
}

/// The functions of a smol adapter `$ty` whose executor this thread reaches
/// through the thread-local `$executor` (`$missing`: the panic message when it
/// is not set); `$($send)*` is `+ Send` for the multi-threaded executor and
/// empty for the local one (see the module's notes).
macro_rules! smol_adapter {
    ($ty:ident, $executor:ident, $missing:literal, [$($send:tt)*]) => {
        impl $ty {
            /// The executor's `spawn`, on this thread's executor.
            #[inline]
            pub fn spawn<F>(f: F) -> async_executor::Task<F::Output>
            where
                F: std::future::Future $($send)* + 'static,
                F::Output: 'static $($send)*,
            {
                $executor.with(|c| c.borrow().as_ref().expect($missing).spawn(f))
            }

            /// `Task::detach` (dropping a smol `Task` would cancel it).
            #[inline]
            pub fn detach<T>(handle: async_executor::Task<T>) {
                handle.detach();
            }

            /// `futures_lite::future::yield_now`.
            #[inline]
            pub fn yield_now() -> futures_lite::future::YieldNow {
                futures_lite::future::yield_now()
            }

            /// `async_io::Timer::after`.
            #[inline]
            pub fn sleep(d: std::time::Duration) -> async_io::Timer {
                async_io::Timer::after(d)
            }

            $crate::runtime::neutral_join_all!("smol");

            /// A `Vec` of `Task` handles (smol has no group type).
            #[inline]
            pub fn group<T: 'static>(capacity: usize) -> $crate::SmolGroup<T, $ty> {
                $crate::SmolGroup::with_capacity(capacity)
            }

            /// `f` raced against `async_io::Timer::after(d)` with
            /// `futures_lite::future::or` (smol has no timeout combinator of its own);
            /// `f` is polled first, as in asyncio and tokio, and the timer is only
            /// created, and armed, if `f` is still pending.
            #[inline]
            pub fn timeout<F: std::future::Future>(
                d: std::time::Duration,
                f: F,
            ) -> impl std::future::Future<Output = Result<F::Output, ()>> {
                futures_lite::future::or(async move { Ok(f.await) }, async move {
                    async_io::Timer::after(d).await;
                    Err(())
                })
            }

            /// An unlocked `async_lock::Mutex<()>` (`smol::lock::Mutex`).
            pub fn new_lock() -> std::sync::Arc<async_lock::Mutex<()>> {
                std::sync::Arc::new(async_lock::Mutex::new(()))
            }

            /// `Mutex::lock` (dropping the guard releases).
            #[inline]
            pub fn lock(lock: &async_lock::Mutex<()>) -> async_lock::futures::Lock<'_, ()> {
                lock.lock()
            }

            /// An `async_lock::Semaphore` with `permits` permits.
            pub fn new_semaphore(permits: usize) -> std::sync::Arc<async_lock::Semaphore> {
                std::sync::Arc::new(async_lock::Semaphore::new(permits))
            }

            /// `Semaphore::acquire` (dropping the guard releases it).
            #[inline]
            pub fn acquire(sem: &async_lock::Semaphore) -> async_lock::futures::Acquire<'_> {
                sem.acquire()
            }

            /// `async_channel::bounded(capacity)` (`smol::channel::bounded`).
            pub fn spsc_queue<T>(capacity: usize) -> (async_channel::Sender<T>, async_channel::Receiver<T>) {
                async_channel::bounded(capacity)
            }

            /// `async_channel::bounded(capacity)`, as [`Self::spsc_queue`].
            pub fn mpmc_queue<T>(capacity: usize) -> (async_channel::Sender<T>, async_channel::Receiver<T>) {
                async_channel::bounded(capacity)
            }

            /// `async_channel::bounded(capacity)`, as [`Self::spsc_queue`]
            /// (its blocking ends: `send_blocking`, `recv_blocking`).
            pub fn thread_channel<T: Send>(capacity: usize) -> (async_channel::Sender<T>, async_channel::Receiver<T>) {
                async_channel::bounded(capacity)
            }

            /// An unset [`FlagEvent`](crate::FlagEvent) (`event_listener::Event` plus a flag).
            pub fn new_event() -> std::sync::Arc<$crate::FlagEvent> {
                std::sync::Arc::new($crate::FlagEvent::new())
            }

            /// [`FlagEvent::notify`](crate::FlagEvent::notify).
            #[inline]
            pub fn notify_event(event: &$crate::FlagEvent) {
                event.notify();
            }

            /// [`FlagEvent::wait`](crate::FlagEvent::wait).
            #[inline]
            pub fn wait_event(event: &$crate::FlagEvent) -> impl std::future::Future<Output = ()> + Send + '_ {
                event.wait()
            }
        }

        impl<T: 'static $($send)*> $crate::SmolGroup<T, $ty> {
            /// The adapter's `spawn`; the handle is kept.
            #[inline]
            pub fn spawn<F: std::future::Future<Output = T> $($send)* + 'static>(&mut self, f: F) {
                self.tasks.push(<$ty>::spawn(f));
            }
        }
    };
}

pub(super) use smol_adapter;
