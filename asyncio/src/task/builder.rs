//! [`Builder`]: a task with options (a name, eager start).

use std::future::Future;
use std::panic::Location;

use super::Task;
use crate::runtime::context;

/// Creates a task with options, as `asyncio.create_task(coro, name=...)`.
///
/// ```
/// asyncio::run(async {
///     let t = asyncio::task::Builder::new().name("fetcher").spawn(async { 1 });
///     assert_eq!(t.get_name(), "fetcher");
///     assert_eq!(t.await.unwrap(), 1);
/// });
/// ```
#[derive(Default, Debug, Clone)]
pub struct Builder {
    name: Option<String>,
    eager: Option<bool>,
}

impl Builder {
    /// A builder with default options.
    pub fn new() -> Self {
        Builder::default()
    }

    /// Names the task (default: `Task-<id>`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Starts the task eagerly (`true`) or lazily (`false`) whatever the
    /// loop's default ([`Runner::eager_tasks`](crate::Runner::eager_tasks),
    /// where eager start is explained), as asyncio 3.14's
    /// `create_task(..., eager_start=...)`.
    ///
    /// ```
    /// asyncio::run(async {
    ///     let t = asyncio::task::Builder::new().eager(true).spawn(async { 1 });
    ///     assert!(t.done(), "finished inside spawn, without a loop turn");
    ///     assert_eq!(t.await.unwrap(), 1);
    /// });
    /// ```
    pub fn eager(mut self, eager: bool) -> Self {
        self.eager = Some(eager);
        self
    }

    /// Schedules `future` on the running loop (or, eager, runs its first
    /// poll now).
    ///
    /// # Panics
    /// If no event loop is running on this thread.
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
    {
        let location = Location::caller();
        let name = self.name.map(String::into_boxed_str);
        context::expect_core("asyncio::task::Builder::spawn", |core| {
            Task::from_handle(core.spawn_task_with(future, location, name, self.eager))
        })
    }
}
