//! [`Builder`]: a task with options (a name).

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

    /// Schedules `future` on the running loop.
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
            Task::from_handle(core.spawn_task(future, location, name))
        })
    }

    /// The name, for the group's [`spawn_in`](Builder::spawn_in).
    pub(crate) fn into_name(self) -> Option<Box<str>> {
        self.name.map(String::into_boxed_str)
    }
}
