//! The background tokio runtime's life (feature `tokio-compat`): its size
//! chosen before it starts, refused after; `shutdown` drops the tasks still
//! running and refuses later calls. One test, as the runtime is
//! process-wide and shutdown is for good.

use std::time::Duration;

use asyncio::compat::{self, run_on_tokio, AlreadyStarted};
use asyncio::executor::JobError;
use tokio::sync::oneshot;

/// Sends on its channel when dropped.
struct DropSignal(Option<oneshot::Sender<()>>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        let _ = self.0.take().unwrap().send(());
    }
}

#[test]
fn configure_then_start_then_shut_down() {
    assert!(!compat::is_running());
    assert_eq!(compat::set_worker_threads(2), Ok(()));

    let (dropped_tx, dropped_rx) = oneshot::channel();
    asyncio::run(async {
        let workers = run_on_tokio(async { tokio::runtime::Handle::current().metrics().num_workers() })
            .await
            .unwrap();
        assert_eq!(workers, 2);
        assert!(compat::is_running());
        assert_eq!(compat::set_worker_threads(1), Err(AlreadyStarted));

        // A detached task, left running at shutdown.
        let (started_tx, started_rx) = oneshot::channel();
        compat::handle().unwrap().spawn(async move {
            let _guard = DropSignal(Some(dropped_tx));
            started_tx.send(()).unwrap();
            std::future::pending::<()>().await;
        });
        started_rx.await.unwrap();
    });

    compat::shutdown(Duration::from_secs(10));
    assert!(!compat::is_running());
    // shutdown dropped the task still running (its destructor ran).
    dropped_rx.blocking_recv().expect("shutdown dropped the running task");

    asyncio::run(async {
        let err = run_on_tokio(async { 1 }).await.unwrap_err();
        assert!(matches!(err, JobError::ShutDown), "{err:?}");
    });
    assert!(matches!(compat::handle(), Err(JobError::ShutDown)));
    assert_eq!(compat::set_worker_threads(1), Err(AlreadyStarted));
    compat::shutdown(Duration::from_secs(1)); // again: a no-op
}
