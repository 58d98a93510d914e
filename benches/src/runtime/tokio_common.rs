//! What the two tokio adapters ([`TokioCt`](crate::TokioCt), [`TokioMt`](crate::TokioMt))
//! share, written once: the `tokio_adapter!` macro, which gives an adapter
//! its functions over tokio's own primitives (`tokio::spawn`,
//! `task::yield_now`, `time::sleep`, `time::timeout`, a `JoinSet` as the task
//! group ([`TokioGroup`]), `tokio::sync`'s `Mutex<()>`, `Semaphore`, `mpsc`
//! channel and `Notify`, the last three in `Arc`s), and the runtime-neutral
//! [`join_all`](crate::join_all) and `async-channel` where tokio has none.

use std::future::Future;

/// A `tokio::task::JoinSet`.
pub struct TokioGroup<T> {
    pub(super) set: tokio::task::JoinSet<T>,
}

impl<T: Send + 'static> TokioGroup<T> {
    /// `JoinSet::spawn` (its `AbortHandle` is dropped).
    #[inline]
    pub fn spawn<F: Future<Output = T> + Send + 'static>(&mut self, f: F) {
        self.set.spawn(f);
    }

    /// `JoinSet::join_next` until it is empty; each output, in completion
    /// order, is passed to `each`.
    pub async fn join(mut self, mut each: impl FnMut(T)) {
        while let Some(r) = self.set.join_next().await {
            each(r.expect("benchmark task failed"));
        }
    }
}

/// A tokio adapter: the type `$ty` (documented by the attributes before it)
/// holding the runtime that `$builder` configures (all drivers enabled),
/// its column title `$name`, and its functions (see the module's notes).
macro_rules! tokio_adapter {
    ($(#[$attr:meta])* $ty:ident, $name:literal, $builder:expr) => {
        $(#[$attr])*
        pub struct $ty {
            rt: tokio::runtime::Runtime,
        }

        impl $crate::Runtime for $ty {
            const NAME: &'static str = $name;

            fn new() -> Self {
                let rt = $builder.enable_all().build().expect("tokio runtime");
                $ty { rt }
            }

            fn block_on<F: std::future::Future>(&mut self, future: F) -> F::Output {
                self.rt.block_on(future)
            }
        }

        impl $ty {
            /// `tokio::spawn`.
            #[inline]
            pub fn spawn<F>(f: F) -> $crate::Unwrap<tokio::task::JoinHandle<F::Output>>
            where
                F: std::future::Future + Send + 'static,
                F::Output: Send + 'static,
            {
                $crate::Unwrap(tokio::spawn(f))
            }

            /// Lets a task run on without its handle (dropping a
            /// `JoinHandle` detaches it).
            #[inline]
            pub fn detach<T>(handle: $crate::Unwrap<tokio::task::JoinHandle<T>>) {
                drop(handle);
            }

            /// `tokio::task::yield_now`.
            #[inline]
            pub fn yield_now() -> impl std::future::Future<Output = ()> + Send {
                tokio::task::yield_now()
            }

            /// `tokio::time::sleep`.
            #[inline]
            pub fn sleep(d: std::time::Duration) -> tokio::time::Sleep {
                tokio::time::sleep(d)
            }

            /// `tokio::time::timeout`.
            #[inline]
            pub fn timeout<F: std::future::Future>(d: std::time::Duration, f: F) -> tokio::time::Timeout<F> {
                tokio::time::timeout(d, f)
            }

            $crate::runtime::neutral_join_all!("tokio");

            /// An empty `tokio::task::JoinSet` (it needs no capacity).
            #[inline]
            pub fn group<T: 'static>(_capacity: usize) -> $crate::TokioGroup<T> {
                $crate::TokioGroup {
                    set: tokio::task::JoinSet::new(),
                }
            }

            /// An unlocked `tokio::sync::Mutex<()>`.
            pub fn new_lock() -> std::sync::Arc<tokio::sync::Mutex<()>> {
                std::sync::Arc::new(tokio::sync::Mutex::new(()))
            }

            /// `Mutex::lock` (dropping the guard releases).
            #[inline]
            pub fn lock(lock: &tokio::sync::Mutex<()>) -> impl std::future::Future<Output = tokio::sync::MutexGuard<'_, ()>> + Send {
                lock.lock()
            }

            /// A `tokio::sync::Semaphore` with `permits` permits.
            pub fn new_semaphore(permits: usize) -> std::sync::Arc<tokio::sync::Semaphore> {
                std::sync::Arc::new(tokio::sync::Semaphore::new(permits))
            }

            /// `Semaphore::acquire`, unwrapped (the semaphore is never
            /// closed; dropping the permit releases it).
            #[inline]
            pub fn acquire(
                sem: &tokio::sync::Semaphore,
            ) -> impl std::future::Future<Output = tokio::sync::SemaphorePermit<'_>> + Send {
                async move { sem.acquire().await.expect("semaphore closed") }
            }

            /// `tokio::sync::mpsc::channel(capacity)`.
            pub fn spsc_queue<T: Send>(
                capacity: usize,
            ) -> (tokio::sync::mpsc::Sender<T>, tokio::sync::mpsc::Receiver<T>) {
                tokio::sync::mpsc::channel(capacity)
            }

            /// `async_channel::bounded(capacity)`: tokio has no bounded
            /// multi-consumer queue (`mpsc` has one receiver, `broadcast`
            /// gives every item to every receiver).
            pub fn mpmc_queue<T: Send>(capacity: usize) -> (async_channel::Sender<T>, async_channel::Receiver<T>) {
                async_channel::bounded(capacity)
            }

            /// `tokio::sync::mpsc::channel(capacity)`, as [`Self::spsc_queue`]
            /// (its blocking ends: `blocking_send`, `blocking_recv`).
            pub fn thread_channel<T: Send>(
                capacity: usize,
            ) -> (tokio::sync::mpsc::Sender<T>, tokio::sync::mpsc::Receiver<T>) {
                tokio::sync::mpsc::channel(capacity)
            }

            /// A `tokio::sync::Notify` with no permit.
            pub fn new_event() -> std::sync::Arc<tokio::sync::Notify> {
                std::sync::Arc::new(tokio::sync::Notify::new())
            }

            /// `Notify::notify_one` (stores a permit if nobody waits yet).
            #[inline]
            pub fn notify_event(event: &tokio::sync::Notify) {
                event.notify_one();
            }

            /// `Notify::notified` (consumes the permit).
            #[inline]
            pub fn wait_event(event: &tokio::sync::Notify) -> tokio::sync::futures::Notified<'_> {
                event.notified()
            }
        }
    };
}

pub(super) use tokio_adapter;
