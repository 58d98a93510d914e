//! wait (each ReturnWhen, timeouts), as_completed (order, timeout), shield,
//! and nested timeouts that never report each other's expiry.

mod support;

use std::time::Duration;

use asyncio::task::ReturnWhen;
use asyncio::time::Instant;
use support::{vrun, Counts};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn sleeper(s: u64) -> asyncio::Task<u64> {
    asyncio::create_task(async move {
        asyncio::sleep(secs(s)).await;
        s
    })
}

#[test]
fn wait_first_completed_all_completed_and_timeout() {
    vrun(async {
        let start = Instant::now();
        let (done, pending) = asyncio::wait(vec![sleeper(3), sleeper(1), sleeper(2)], ReturnWhen::FirstCompleted).await;
        assert_eq!(start.elapsed(), secs(1));
        assert_eq!((done.len(), pending.len()), (1, 2));
        assert_eq!(done.into_iter().next().unwrap().await.unwrap(), 1);

        let (done, pending) = asyncio::wait(pending, ReturnWhen::AllCompleted).await;
        assert_eq!(start.elapsed(), secs(3));
        assert_eq!((done.len(), pending.len()), (2, 0));

        let (done, pending) = asyncio::wait(vec![sleeper(10), sleeper(1)], ReturnWhen::AllCompleted)
            .timeout(secs(5))
            .await;
        assert_eq!((done.len(), pending.len()), (1, 1));
        assert!(!pending[0].done(), "wait never cancels");
        assert_eq!(start.elapsed(), secs(8));
    });
}

#[test]
fn wait_first_exception_stops_at_a_panic_not_at_a_cancel() {
    vrun(async {
        let start = Instant::now();
        let cancelled = sleeper(100);
        cancelled.cancel();
        let bad = asyncio::create_task(async {
            asyncio::sleep(secs(2)).await;
            panic!("failed");
        });
        let bad: asyncio::Task<u64> = bad;
        let (done, pending) = asyncio::wait(
            vec![cancelled, sleeper(1), bad, sleeper(50)],
            ReturnWhen::FirstException,
        )
        .await;
        assert_eq!(start.elapsed(), secs(2));
        assert_eq!((done.len(), pending.len()), (3, 1));
    });
}

#[test]
fn as_completed_yields_in_completion_order() {
    vrun(async {
        let start = Instant::now();
        let mut it = asyncio::as_completed([4u64, 2, 3, 1].map(|s| async move {
            asyncio::sleep(secs(s)).await;
            (s, Instant::now())
        }));
        let mut got = Vec::new();
        while let Some((s, at)) = it.next().await {
            assert_eq!(at - start, secs(s));
            got.push(s);
        }
        assert_eq!(got, [1, 2, 3, 4]);
        assert_eq!(it.remaining(), 0);
    });
}

#[test]
fn as_completed_with_timeout_ends_with_an_error_and_drops_the_rest() {
    let counts = Counts::new();
    vrun(async {
        let mut it =
            asyncio::as_completed([1u64, 5, 10].map(|s| counts.wrap(asyncio::sleep(secs(s))))).with_timeout(secs(3));
        assert!(matches!(it.next().await, Some(Ok(()))));
        assert!(matches!(it.next().await, Some(Err(_))));
        assert!(it.next().await.is_none());
        assert_eq!(counts.drops(), 3);
    });
}

#[test]
fn shield_keeps_the_task_running_when_the_wait_is_dropped() {
    vrun(async {
        let job = sleeper(2);
        let probe = job.task_ref();
        assert!(asyncio::timeout(secs(1), asyncio::shield(job)).await.is_err());
        assert!(!probe.done() && !probe.cancelled());
        asyncio::sleep(secs(2)).await;
        assert!(probe.done() && !probe.cancelled());
    });
}

#[test]
fn nested_timeouts_report_only_their_own_expiry() {
    vrun(async {
        // Inner expires: the inner reports it; the outer sees a value.
        let r = asyncio::timeout(secs(5), asyncio::timeout(secs(1), asyncio::sleep(secs(10)))).await;
        assert!(matches!(r, Ok(Err(_))));
        // Outer expires: the outer reports it, the inner never returns.
        let r = asyncio::timeout(secs(1), asyncio::timeout(secs(5), asyncio::sleep(secs(10)))).await;
        assert!(r.is_err());
        // Same deadline: a timeout polls its future before its own timer,
        // so the inner timeout sees its expiry first and reports it; the
        // outer then has a value (the inner's error), not an expiry.
        let r = asyncio::timeout(secs(2), asyncio::timeout(secs(2), asyncio::sleep(secs(10)))).await;
        assert!(matches!(r, Ok(Err(_))));
    });
}

#[test]
fn a_timeout_never_hides_a_cancellation_from_elsewhere() {
    vrun(async {
        let t = asyncio::create_task(async {
            // Would time out at 10 s; cancelled at 1 s from outside.
            asyncio::timeout(secs(10), asyncio::sleep(secs(100))).await
        });
        asyncio::sleep(secs(1)).await;
        t.cancel();
        let r = t.await;
        assert!(
            r.unwrap_err().is_cancelled(),
            "cancelled, not timed out and not a value"
        );
    });
}
