//! TaskGroup semantics: fail-fast with every failure reported, no orphans
//! on drop or early return, refused children after abort/join, owner
//! cancellation not swallowed, cancel() not a failure, results after join.

mod support;

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use asyncio::task::{ChildError, TaskGroup};
use asyncio::time::Instant;
use support::{vrun, Counts};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

async fn ok_after(v: u32, s: u64) -> Result<u32, io::Error> {
    asyncio::sleep(secs(s)).await;
    Ok(v)
}

async fn err_after(msg: &'static str, s: u64) -> Result<u32, io::Error> {
    asyncio::sleep(secs(s)).await;
    Err(io::Error::other(msg))
}

#[test]
fn results_are_readable_after_join() {
    vrun(async {
        let start = Instant::now();
        let tg = TaskGroup::new();
        let handles: Vec<_> = [2u64, 1, 3]
            .iter()
            .enumerate()
            .map(|(i, &s)| tg.try_create_task(ok_after(i as u32, s)).unwrap())
            .collect();
        tg.join().await.unwrap();
        assert_eq!(start.elapsed(), secs(3));
        let values: Vec<u32> = handles.into_iter().map(|h| h.result().unwrap()).collect();
        assert_eq!(values, [0, 1, 2]);
        assert!(tg.is_empty());
    });
}

#[test]
fn first_failure_cancels_the_others_and_join_reports_it() {
    let counts = Counts::new();
    let c = counts.clone();
    vrun(async move {
        let start = Instant::now();
        let tg = TaskGroup::new();
        let slow = tg.try_create_task(c.wrap(ok_after(1, 100))).unwrap();
        let _fail = tg.try_create_task(err_after("disk on fire", 1)).unwrap();
        let slower = tg.try_create_task(c.wrap(ok_after(2, 200))).unwrap();
        let err = tg.join().await.unwrap_err();
        assert_eq!(start.elapsed(), secs(1), "siblings were cancelled, not awaited");
        assert_eq!(err.failures().len(), 1);
        assert!(err.to_string().contains("disk on fire"), "{err}");
        assert!(slow.cancelled() && slower.cancelled());
        assert_eq!(slow.result(), None);
    });
    assert_eq!(counts.drops(), 2, "each cancelled child dropped exactly once");
}

#[test]
fn every_failure_is_reported_with_task_names() {
    vrun(async {
        let tg = TaskGroup::new();
        // Both fail in the same instant: both are reported.
        let a = tg.try_create_task(err_after("first", 1)).unwrap();
        let b = tg.try_create_task(err_after("second", 1)).unwrap();
        let c = tg.create_task(async {
            asyncio::sleep(secs(1)).await;
            panic!("third panicked")
        });
        let c = c.unwrap();
        let names = [a.get_name(), b.get_name(), c.get_name()];
        let err = tg.join().await.unwrap_err();
        let failures = err.failures();
        assert_eq!(failures.len(), 3, "{err}");
        let got: Vec<_> = failures.iter().map(|f| f.task_name.clone()).collect();
        assert_eq!(got, names);
        assert!(matches!(&failures[2].error, ChildError::Panic(m) if m == "third panicked"));
        assert!(err.to_string().starts_with("3 tasks of the group failed"));
    });
}

#[test]
fn create_task_is_refused_after_abort_cancel_and_join() {
    vrun(async {
        let tg = TaskGroup::new();
        tg.try_create_task(err_after("boom", 0)).unwrap();
        asyncio::sleep(secs(1)).await;
        let e = tg.try_create_task(ok_after(1, 1)).unwrap_err();
        assert!(e.to_string().contains("aborting"), "{e}");
        let _ = tg.join().await;
        assert!(tg
            .try_create_task(ok_after(1, 1))
            .unwrap_err()
            .to_string()
            .contains("joined"));

        let tg2 = TaskGroup::new();
        tg2.cancel();
        assert!(tg2.create_task(async {}).unwrap_err().to_string().contains("cancelled"));
    });
}

#[test]
fn dropping_the_group_cancels_every_child_before_drop_returns() {
    let counts = Counts::new();
    let c = counts.clone();
    vrun(async move {
        let tg = TaskGroup::new();
        for i in 0..5 {
            tg.try_create_task(c.wrap(ok_after(i, 100))).unwrap();
        }
        asyncio::yield_now().await;
        assert_eq!(asyncio::all_tasks().len(), 6);
        drop(tg);
        assert_eq!(c.drops(), 5, "futures dropped synchronously");
        assert_eq!(asyncio::all_tasks().len(), 1, "no orphans: only main is left");
    });
    assert_eq!(counts.drops(), 5);
}

#[test]
fn leaving_the_scope_early_with_question_mark_cancels_children() {
    let counts = Counts::new();
    let c = counts.clone();
    vrun(async move {
        async fn body(c: Counts) -> Result<(), io::Error> {
            let tg = TaskGroup::new();
            tg.try_create_task(c.wrap(ok_after(1, 100))).unwrap();
            tg.try_create_task(c.wrap(ok_after(2, 100))).unwrap();
            asyncio::sleep(secs(1)).await;
            err_after("early exit", 0).await?; // returns here; tg dropped
            tg.join().await.unwrap();
            Ok(())
        }
        assert!(body(c.clone()).await.is_err());
        assert_eq!(c.drops(), 2);
        assert_eq!(asyncio::all_tasks().len(), 1);
    });
}

#[test]
fn cancelling_the_owner_cancels_children_and_is_not_swallowed() {
    let counts = Counts::new();
    let c = counts.clone();
    vrun(async move {
        let owner = asyncio::create_task({
            let c = c.clone();
            async move {
                let tg = TaskGroup::new();
                tg.try_create_task(c.wrap(ok_after(1, 100))).unwrap();
                // A child fails in the same instant the owner is cancelled
                // (the gh-116720 shape): the owner must still end cancelled.
                tg.try_create_task(err_after("child failed", 1)).unwrap();
                tg.join().await.map_err(|e| e.to_string())
            }
        });
        asyncio::sleep(secs(1)).await;
        assert!(owner.cancel());
        let r = owner.await;
        assert!(r.unwrap_err().is_cancelled(), "the owner's cancellation wins");
        assert_eq!(c.drops(), 1);
        assert_eq!(asyncio::all_tasks().len(), 1);
    });
}

#[test]
fn owner_cancelled_while_children_run_leaves_no_orphans() {
    let counts = Counts::new();
    let c = counts.clone();
    vrun(async move {
        let owner = asyncio::create_task({
            let c = c.clone();
            async move {
                let tg = TaskGroup::new();
                for i in 0..10 {
                    tg.try_create_task(c.wrap(ok_after(i, 50))).unwrap();
                }
                tg.join().await.map_err(|e| e.to_string())
            }
        });
        asyncio::sleep(secs(1)).await;
        owner.cancel();
        assert!(owner.await.unwrap_err().is_cancelled());
        assert_eq!(c.drops(), 10);
        assert_eq!(asyncio::all_tasks().len(), 1);
    });
}

#[test]
fn cancel_stops_children_without_failing() {
    vrun(async {
        let start = Instant::now();
        let tg = TaskGroup::new();
        let a = tg.try_create_task(ok_after(1, 100)).unwrap();
        let b = tg.create_task(async { 2 }).unwrap();
        asyncio::sleep(secs(1)).await;
        tg.cancel();
        assert!(tg.join().await.is_ok(), "cancel() is not a failure");
        assert_eq!(start.elapsed(), secs(1));
        assert!(a.cancelled());
        assert_eq!(b.result(), Some(2), "finished children keep their results");
    });
}

#[test]
fn a_cancelled_child_is_not_a_failure() {
    vrun(async {
        let tg = TaskGroup::new();
        let a = tg.try_create_task(ok_after(1, 100)).unwrap();
        let b = tg.try_create_task(ok_after(2, 1)).unwrap();
        asyncio::yield_now().await;
        a.cancel();
        tg.join().await.unwrap();
        assert!(a.cancelled());
        assert_eq!(b.await, Some(2));
    });
}

#[test]
fn nested_groups_cancel_all_the_way_down() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    vrun(async move {
        struct Note(Rc<RefCell<Vec<&'static str>>>, &'static str);
        impl Drop for Note {
            fn drop(&mut self) {
                self.0.borrow_mut().push(self.1);
            }
        }
        let outer = TaskGroup::new();
        let l2 = l.clone();
        outer
            .try_create_task(async move {
                let inner = TaskGroup::new();
                let n = Note(l2.clone(), "grandchild dropped");
                inner
                    .create_task(async move {
                        let _n = n;
                        asyncio::sleep(secs(100)).await;
                    })
                    .unwrap();
                inner.join().await.map_err(|e| io::Error::other(e.to_string()))
            })
            .unwrap();
        outer.try_create_task(err_after("sibling failed", 1)).unwrap();
        let err = outer.join().await.unwrap_err();
        assert_eq!(err.failures().len(), 1);
    });
    assert_eq!(*log.borrow(), ["grandchild dropped"]);
}

#[test]
fn join_of_an_empty_group_is_immediate() {
    vrun(async {
        let tg = TaskGroup::new();
        tg.join().await.unwrap();
    });
}

/// A child's destructor can drop its own group (children sharing the group
/// to add siblings, the loop closing with them pending): each future must be
/// dropped exactly once. Found by review: the group's drop used to cancel
/// the child whose future was being dropped, a second time.
#[test]
fn children_holding_the_group_are_dropped_once_at_close() {
    let counts = Counts::new();
    let c = counts.clone();
    asyncio::run(async move {
        let tg = Rc::new(TaskGroup::new());
        for _ in 0..2 {
            let tg2 = tg.clone();
            tg.create_task(c.wrap(async move {
                let _keep = tg2;
                std::future::pending::<()>().await;
            }))
            .unwrap();
        }
        asyncio::yield_now().await;
    });
    assert_eq!(counts.drops(), 2);
}

/// The same, through a cancelled child that is the group's only owner.
#[test]
fn a_group_owned_by_its_cancelled_child_drops_it_once() {
    let counts = Counts::new();
    let c = counts.clone();
    asyncio::run(async move {
        let slot: Rc<RefCell<Option<TaskGroup>>> = Rc::new(RefCell::new(None));
        let tg = TaskGroup::new();
        let s2 = slot.clone();
        let child = tg
            .create_task(c.wrap(async move {
                let _keep = s2;
                std::future::pending::<()>().await;
            }))
            .unwrap();
        *slot.borrow_mut() = Some(tg);
        drop(slot);
        asyncio::yield_now().await;
        child.cancel();
        asyncio::yield_now().await;
        asyncio::yield_now().await;
    });
    assert_eq!(counts.drops(), 1);
}

/// A child that returned keeps its value even if dropping its future (after
/// it returned) drops the group, which cancels what is still running: by
/// then the child is finishing, not running. (A child that drops its group
/// *during* its last poll cancels itself, like any task that calls
/// `cancel()` on itself, and ends cancelled, as in asyncio.)
#[test]
fn a_returned_child_is_not_turned_into_a_cancellation_by_its_own_drop() {
    /// Ready on its second poll; holds the group until it is dropped (the
    /// field is never read: holding it is the point).
    struct HoldsGroup(#[allow(dead_code)] Option<Rc<TaskGroup>>, bool);
    impl std::future::Future for HoldsGroup {
        type Output = u32;
        fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<u32> {
            if self.1 {
                return std::task::Poll::Ready(7);
            }
            self.1 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
    asyncio::run(async {
        let tg = Rc::new(TaskGroup::new());
        let child = tg.create_task(HoldsGroup(Some(tg.clone()), false)).unwrap();
        drop(tg); // the child now owns the group's last reference
        assert_eq!(child.await, Some(7));
    });
}
