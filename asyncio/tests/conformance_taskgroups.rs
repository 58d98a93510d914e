//! Conformance: CPython 3.13's `Lib/test/test_asyncio/test_taskgroups.py`,
//! translated to [`asyncio::TaskGroup`]. Each test names the one it
//! translates. `async with TaskGroup() as g: body` is `let g =
//! TaskGroup::new(); body; g.join().await`; children are added with
//! `spawn`, and a child that fails does so the way Rust code does, by
//! panicking (`1 / 0` is a panic here too). "The child saw
//! `CancelledError`" is the child's future being dropped, seen by a drop
//! guard; an exception in the body is the body returning early, which drops
//! the group.
//!
//! Not translated, and why:
//! - `test_cancel_children_on_child_error`, `test_taskgroup_13`,
//!   `test_taskgroup_15`, `test_taskgroup_16`, `test_taskgroup_18`,
//!   `test_taskgroup_19`, `test_taskgroup_20`, `test_taskgroup_20a`,
//!   `test_taskgroup_21a`, `test_nested_groups_both_cancelled`,
//!   `test_error_and_cancel`, `test_taskgroup_context_manager_exit_raises`:
//!   a TaskGroup never cancels its owner. A failing child cancels its
//!   siblings, and `join()` reports it; the body is not interrupted (these
//!   tests expect the body's `await` to raise `CancelledError`, or count
//!   the owner's `cancelling()` levels). See the README's "differs on
//!   purpose".
//! - `test_taskgroup_08`, `test_taskgroup_11`, `test_taskgroup_12`: a
//!   child raises from its `finally` while being cancelled; cancellation is
//!   drop, and a drop cannot raise.
//! - `test_taskgroup_task_context`: a child starts in a copy of its
//!   creator's context, as in asyncio, but creating one in a given
//!   `Context` (`create_task(coro, context=ctx)`) is not offered.
//! - `test_taskgroup_already_entered`, `test_taskgroup_double_enter`,
//!   `test_taskgroup_not_entered`, `test_taskgroup_without_parent_task`,
//!   `test_coro_closed_when_tg_closed`: the context-manager protocol; a
//!   group here is open from `new()` until `join()`.

mod conformance;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use asyncio::{create_task, sleep, TaskGroup};
use conformance::{assert_ends_cancelled, keep, vrun};

/// Adds one to its counter when dropped: the future it lives in was
/// cancelled (or finished).
struct OnDrop(Rc<Cell<u32>>, u32);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.set(self.0.get() + self.1);
    }
}

async fn after(secs: f64, value: u32) -> u32 {
    sleep(Duration::from_secs_f64(secs)).await;
    value
}

#[allow(clippy::erasing_op, unconditional_panic)]
async fn crash_after(secs: f64) {
    sleep(Duration::from_secs_f64(secs)).await;
    let zero = std::hint::black_box(0);
    let _ = 1 / zero;
}

/// CPython's `await asyncio.sleep(d); self.assertFalse(r.done());
/// r.cancel()` and then `with self.assertRaises(CancelledError): await r`.
async fn cancel_after<T: 'static>(d: Duration, r: asyncio::Task<T>) {
    sleep(d).await;
    assert!(!r.done(), "still running after {d:?}");
    r.cancel();
    assert_ends_cancelled(r).await;
}

fn is_zero_division(e: &asyncio::TaskGroupError) -> bool {
    !e.failures().is_empty() && e.to_string().contains("divide by zero")
}

/// CPython's `test_taskgroup_01` and `_02`: a group runs two children
/// (42 after 0.1 s, 11 after 0.2 s), the second added after `pause` in the
/// body if given; `join()` waits for both and they keep their results.
async fn two_children(pause: Option<Duration>) {
    let g = TaskGroup::new();
    let t1 = g.create_task(after(0.1, 42)).unwrap();
    if let Some(d) = pause {
        sleep(d).await;
    }
    let t2 = g.create_task(after(0.2, 11)).unwrap();
    g.join().await.unwrap();
    assert_eq!(t1.result(), Some(42));
    assert_eq!(t2.result(), Some(11));
}

// CPython: test_taskgroups.py TestTaskGroup.test_taskgroup_01
#[test]
fn taskgroup_01() {
    vrun(two_children(None));
}

// CPython: test_taskgroups.py TestTaskGroup.test_taskgroup_task_name
#[test]
fn taskgroup_task_name() {
    vrun(async {
        let g = TaskGroup::new();
        // `g.create_task(coro(), name="yolo")`.
        let t = asyncio::task::Builder::new()
            .name("yolo")
            .spawn_in(&g, asyncio::yield_now())
            .unwrap();
        assert_eq!(t.get_name(), "yolo");
        g.join().await.unwrap();
        assert_eq!(t.get_name(), "yolo");
    });
}

// CPython: test_taskgroups.py TestTaskGroup.test_taskgroup_02
#[test]
fn taskgroup_02() {
    vrun(two_children(Some(Duration::from_millis(150))));
}

// CPython: test_taskgroups.py TestTaskGroup.test_taskgroup_03
#[test]
fn taskgroup_03() {
    vrun(async {
        let g = TaskGroup::new();
        let t1 = g.create_task(after(1.0, 42)).unwrap();
        sleep(Duration::from_millis(150)).await;
        t1.cancel(); // everything else goes on as usual
        let t2 = g.create_task(after(0.2, 11)).unwrap();
        g.join().await.unwrap();
        assert!(t1.cancelled());
        assert_eq!(t2.result(), Some(11));
    });
}

// CPython: test_taskgroups.py TestTaskGroup.test_taskgroup_04
#[test]
fn taskgroup_04() {
    vrun(async {
        let num = Rc::new(Cell::new(0));
        let t2_cancel = Rc::new(Cell::new(0));
        let (n, c) = (num.clone(), t2_cancel.clone());
        let runner = create_task(async move {
            let g = TaskGroup::new();
            g.create_task(crash_after(0.1)).unwrap();
            let (n2, c2) = (n.clone(), c.clone());
            let t2 = g
                .create_task(async move {
                    let guard = OnDrop(c2, 1);
                    sleep(Duration::from_secs(1)).await;
                    std::mem::forget(guard);
                    n2.set(n2.get() + 1);
                })
                .unwrap();
            g.join().await?;
            n.set(n.get() + 10);
            drop(t2);
            Ok::<_, asyncio::TaskGroupError>(())
        });
        let err = runner.await.unwrap().unwrap_err();
        assert!(is_zero_division(&err), "{err}");
        assert_eq!(err.failures().len(), 1);
        assert_eq!(num.get(), 0);
        assert_eq!(t2_cancel.get(), 1, "t2 was cancelled");
    });
}

/// CPython's `test_cancellation` and `test_taskgroup_17`/`_22`: an owner
/// task opens a group, adds children with `spawn_children` (given the
/// count, for their drop guards), then sleeps 10 s in the body, whose drop
/// guard adds 10 to the count. The test cancels the owner after `d`, and
/// gets the count.
async fn cancel_owner_in_body(d: Duration, spawn_children: impl FnOnce(&TaskGroup, &Rc<Cell<u32>>) + 'static) -> u32 {
    let num = Rc::new(Cell::new(0));
    let n = num.clone();
    let r = create_task(async move {
        let g = TaskGroup::new();
        spawn_children(&g, &n);
        let _body_cancelled = OnDrop(n, 10);
        sleep(Duration::from_secs(10)).await;
        g.join().await.unwrap();
    });
    cancel_after(d, r).await;
    num.get()
}

// CPython: test_taskgroups.py TestTaskGroup.test_cancellation
// CPython: test_taskgroups.py TestTaskGroup.test_taskgroup_07
#[test]
fn cancellation_reaches_children_and_body() {
    let five_children = |g: &TaskGroup, n: &Rc<Cell<u32>>| {
        for _ in 0..5 {
            let n = n.clone();
            g.create_task(async move {
                let _cancelled = OnDrop(n, 1);
                sleep(Duration::from_secs(5)).await;
            })
            .unwrap();
        }
    };
    vrun(async {
        let num = cancel_owner_in_body(Duration::from_millis(100), five_children).await;
        assert_eq!(num, 15, "the five children and the body were cancelled");
    });
}

fn body_fails_after(delay: Option<f64>) {
    vrun(async move {
        let tasks = Rc::new(std::cell::RefCell::new(Vec::new()));
        let t = tasks.clone();
        let runner = async move {
            let g = TaskGroup::new();
            t.borrow_mut().push(g.create_task(after(1.0, 42)).unwrap());
            t.borrow_mut().push(g.create_task(after(2.0, 11)).unwrap());
            if let Some(d) = delay {
                sleep(Duration::from_secs_f64(d)).await;
            }
            // `1 / 0` in the body: the body leaves early, dropping the group.
            Err::<(), &str>("ZeroDivisionError")?;
            g.join().await.unwrap();
            Ok(())
        };
        assert_eq!(runner.await, Err("ZeroDivisionError"));
        for t in tasks.borrow().iter() {
            assert!(t.cancelled());
        }
    });
}

// CPython: test_taskgroups.py TestTaskGroup.test_taskgroup_09
#[test]
fn taskgroup_09() {
    body_fails_after(Some(0.1));
}

// CPython: test_taskgroups.py TestTaskGroup.test_taskgroup_10
#[test]
fn taskgroup_10() {
    body_fails_after(None);
}

// CPython: test_taskgroups.py TestTaskGroup.test_taskgroup_14
#[test]
fn taskgroup_14() {
    vrun(async {
        let g1_child_dropped = Rc::new(Cell::new(0));
        let d = g1_child_dropped.clone();
        let runner = create_task(async move {
            let g1 = TaskGroup::new();
            g1.create_task(async move {
                let _guard = OnDrop(d, 1);
                crash_after(10.0).await;
            })
            .unwrap();
            let g2 = TaskGroup::new();
            g2.create_task(crash_after(0.1)).unwrap();
            g2.join().await?;
            g1.join().await
        });
        let err = runner.await.unwrap().unwrap_err();
        assert!(is_zero_division(&err));
        assert_eq!(g1_child_dropped.get(), 1, "g1's child was cancelled with g1");
    });
}

// CPython: test_taskgroups.py TestTaskGroup.test_taskgroup_17
// CPython: test_taskgroups.py TestTaskGroup.test_taskgroup_22
#[test]
fn cancelling_the_owner_cancels_group_and_body() {
    let two_children = |g: &TaskGroup, _: &Rc<Cell<u32>>| {
        g.create_task(after(1.0, 42)).unwrap();
        g.create_task(after(2.0, 11)).unwrap();
    };
    vrun(async {
        let num = cancel_owner_in_body(Duration::from_millis(50), two_children).await;
        assert_eq!(num, 10, "the body was cancelled");
    });
}

// CPython: test_taskgroups.py TestTaskGroup.test_taskgroup_23
#[test]
fn taskgroup_23() {
    vrun(async {
        let g = TaskGroup::new();
        for count in 0..10 {
            sleep(Duration::from_millis(100)).await;
            drop(g.create_task(sleep(Duration::from_millis(300))).unwrap());
            if count == 5 {
                assert!(g.len() < 5, "finished children leave the group");
            }
        }
        sleep(Duration::from_millis(1350)).await;
        assert_eq!(g.len(), 0);
        g.join().await.unwrap();
    });
}

// CPython: test_taskgroups.py TestTaskGroup.test_taskgroup_24
#[test]
fn taskgroup_24() {
    vrun(async {
        let g = keep(TaskGroup::new());
        g.create_task(async move {
            sleep(Duration::from_millis(100)).await;
            g.create_task(sleep(Duration::from_millis(100))).unwrap();
            g.create_task(sleep(Duration::from_millis(200))).unwrap();
        })
        .unwrap();
        g.join().await.unwrap();
    });
}

// CPython: test_taskgroups.py TestTaskGroup.test_taskgroup_25
#[test]
fn taskgroup_25() {
    vrun(async {
        let nhydras = keep(Cell::new(0));
        let g = keep(TaskGroup::new());
        fn hydra(
            g: &'static TaskGroup,
            n: &'static Cell<u32>,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> {
            Box::pin(async move {
                n.set(n.get() + 1);
                sleep(Duration::from_millis(10)).await;
                // Refused once the group aborts, as asyncio's RuntimeError.
                let _ = g.create_task(hydra(g, n));
                let _ = g.create_task(hydra(g, n));
            })
        }
        g.create_task(hydra(g, nhydras)).unwrap();
        g.create_task(async move {
            while nhydras.get() < 10 {
                sleep(Duration::from_millis(15)).await;
            }
            crash_after(0.0).await;
        })
        .unwrap();
        let err = g.join().await.unwrap_err();
        assert!(is_zero_division(&err));
        assert_eq!(err.failures().len(), 1);
        assert!(nhydras.get() >= 10);
    });
}

// CPython: test_taskgroups.py TestTaskGroup.test_taskgroup_no_create_task_after_failure
#[test]
fn no_create_task_after_failure() {
    vrun(async {
        let g = keep(TaskGroup::new());
        let refused = keep(Cell::new(false));
        g.create_task(crash_after(0.001)).unwrap();
        g.create_task(async move {
            struct TryOnCancel(&'static TaskGroup, &'static Cell<bool>);
            impl Drop for TryOnCancel {
                fn drop(&mut self) {
                    self.1.set(self.0.create_task(async {}).is_err());
                }
            }
            let _on_cancel = TryOnCancel(g, refused);
            sleep(Duration::from_secs(1)).await;
        })
        .unwrap();
        let err = g.join().await.unwrap_err();
        assert!(is_zero_division(&err));
        assert!(refused.get(), "a new child was refused once the group failed");
    });
}

// CPython: test_taskgroups.py TestTaskGroup.test_taskgroup_finished
#[test]
fn taskgroup_finished() {
    vrun(async {
        let g = TaskGroup::new();
        g.join().await.unwrap();
        assert!(g.create_task(sleep(Duration::ZERO)).is_err());
    });
}

// CPython: test_taskgroups.py TestTaskGroup.test_cancelling_level_preserved
#[test]
fn cancelling_level_preserved() {
    vrun(async {
        let g = TaskGroup::new();
        g.create_task(crash_after(0.0)).unwrap();
        assert!(g.join().await.is_err());
        assert!(!asyncio::current_task().unwrap().cancelling());
    });
}
