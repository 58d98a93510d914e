//! The background tokio runtime's size from the environment (feature
//! `tokio-compat`): a bad `ASYNCIO_TOKIO_WORKER_THREADS` fails the call
//! that would start the runtime, as a value; a later call starts it once
//! the setting is fixed. Its own binary: the runtime is process-wide.

use asyncio::compat::{self, run_on_tokio, WORKER_THREADS_ENV};
use asyncio::executor::JobError;

#[test]
fn worker_threads_from_the_environment() {
    // Edition 2021: set_var is safe; this binary's only test, no other thread reads the environment.
    std::env::set_var(WORKER_THREADS_ENV, "zero");
    asyncio::run(async {
        let err = run_on_tokio(async { 1 }).await.unwrap_err();
        match &err {
            JobError::WorkerStart(why) => assert!(why.contains(WORKER_THREADS_ENV), "{why}"),
            other => panic!("expected WorkerStart, got {other:?}"),
        }
        assert!(!compat::is_running());

        std::env::set_var(WORKER_THREADS_ENV, "3");
        let workers = run_on_tokio(async { tokio::runtime::Handle::current().metrics().num_workers() })
            .await
            .unwrap();
        assert_eq!(workers, 3);
        assert!(compat::is_running());
    });
}
