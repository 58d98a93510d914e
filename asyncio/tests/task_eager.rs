//! Eager tasks (asyncio 3.12's `eager_task_factory`): the first poll runs
//! inside `create_task`. Ordering against lazy tasks and callbacks,
//! re-entrancy (eager creation inside another task's poll, nested), panics
//! and cancellation during the eager poll, debug mode. Several follow
//! CPython's `test_asyncio/test_eager_task_factory.py`, cited where they do.

mod support;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use asyncio::task::Builder;
use asyncio::{ContextVar, Runner};
use support::{forever, Counts};

fn eager_run<F: Future>(f: F) -> F::Output {
    let mut r = Runner::new().virtual_time(true).eager_tasks(true);
    let out = r.run(f);
    r.close();
    out
}

type Log = Rc<RefCell<Vec<&'static str>>>;

fn log() -> Log {
    Rc::new(RefCell::new(Vec::new()))
}

fn push(log: &Log, what: &'static str) {
    log.borrow_mut().push(what);
}

#[test]
fn a_task_that_finishes_eagerly_is_done_when_create_task_returns() {
    // test_eager_task_factory.py: test_eager_task_factory_set (the
    // coroutine runs to completion inside create_task).
    eager_run(async {
        let counts = Counts::new();
        let t = asyncio::create_task(counts.wrap(async { 5 }));
        assert!(t.done(), "complete before create_task returned");
        assert_eq!((counts.polls(), counts.drops()), (1, 1), "one poll, future dropped");
        assert_eq!(t.await.unwrap(), 5);
        assert_eq!(counts.polls(), 1);
    });
}

#[test]
fn eager_tasks_run_before_the_creator_goes_on_and_lazy_ones_after() {
    // test_eager_task_factory.py: test_eager_task_factory_ordering-like.
    Runner::new().virtual_time(true).run(async {
        let log = log();
        let l = log.clone();
        let lazy = asyncio::create_task(async move { push(&l, "lazy") });
        let l = log.clone();
        let eager = Builder::new().eager(true).spawn(async move {
            push(&l, "eager step 1");
            asyncio::yield_now().await;
            push(&l, "eager step 2");
        });
        push(&log, "creator");
        assert!(!lazy.done() && !eager.done());
        lazy.await.unwrap();
        eager.await.unwrap();
        // The eager task suspended after its first step and was scheduled
        // behind the lazy task, which was already queued.
        assert_eq!(*log.borrow(), ["eager step 1", "creator", "lazy", "eager step 2"]);
    });
}

#[test]
fn builder_overrides_the_loops_default() {
    eager_run(async {
        let lazy = Builder::new().eager(false).spawn(async { 1 });
        assert!(!lazy.done(), "eager(false) on an eager loop is lazy");
        let default = asyncio::create_task(async { 2 });
        assert!(default.done(), "the loop's default is eager");
        assert_eq!(lazy.await.unwrap() + default.await.unwrap(), 3);
        assert!(asyncio::get_running_loop().get_eager_tasks());
    });
    Runner::new().run(async {
        assert!(!asyncio::get_running_loop().get_eager_tasks());
        assert!(!asyncio::create_task(async {}).done());
        assert!(Builder::new().eager(true).spawn(async {}).done());
        // Switched on while running.
        asyncio::get_running_loop().set_eager_tasks(true);
        assert!(asyncio::create_task(async {}).done());
    });
}

#[test]
fn finishing_eagerly_never_enters_the_ready_queue() {
    // A callback scheduled before the task was created runs after the
    // task finished: the task's one poll happened inside create_task, and
    // there is no second one from a queue entry.
    eager_run(async {
        let log = log();
        let l = log.clone();
        asyncio::get_running_loop().call_soon(move || push(&l, "callback"));
        let counts = Counts::new();
        let l = log.clone();
        let t = asyncio::create_task(counts.wrap(async move { push(&l, "task") }));
        push(&log, "creator");
        for _ in 0..3 {
            asyncio::yield_now().await;
        }
        assert_eq!(*log.borrow(), ["task", "creator", "callback"]);
        assert_eq!(counts.polls(), 1, "polled once, by create_task");
        t.await.unwrap();
    });
}

#[test]
fn a_task_that_suspends_is_resumed_by_its_waker() {
    eager_run(async {
        let counts = Counts::new();
        let (fut, waker) = forever();
        let t = asyncio::create_task(counts.wrap(async move {
            asyncio::timeout(Duration::from_secs(1), fut).await.unwrap_err();
            "timed out"
        }));
        assert!(!t.done());
        assert_eq!(counts.polls(), 1);
        assert!(waker.take().is_some(), "the first poll reached the inner future");
        assert_eq!(t.await.unwrap(), "timed out");
        assert_eq!((counts.polls(), counts.drops()), (2, 1));
    });
}

#[test]
fn current_task_names_the_eager_task_and_is_restored_after() {
    eager_run(async {
        let me = asyncio::current_task().unwrap();
        let seen = Rc::new(Cell::new(None));
        let s = seen.clone();
        let t = asyncio::create_task(async move { s.set(asyncio::current_task().map(|t| t.id())) });
        assert_eq!(seen.get(), Some(t.id()));
        assert_ne!(t.id(), me.id());
        assert_eq!(asyncio::current_task().unwrap(), me, "the creator is current again");
        t.await.unwrap();
    });
}

#[test]
fn created_eagerly_from_inside_another_tasks_poll_and_nested() {
    eager_run(async {
        let log = log();
        let l = log.clone();
        let outer = asyncio::create_task(async move {
            push(&l, "outer starts");
            let l2 = l.clone();
            let inner = asyncio::create_task(async move {
                push(&l2, "inner starts");
                let l3 = l2.clone();
                let innermost = asyncio::create_task(async move {
                    push(&l3, "innermost runs");
                    asyncio::current_task().unwrap().get_name()
                });
                assert!(innermost.done());
                push(&l2, "inner goes on");
                asyncio::yield_now().await;
                push(&l2, "inner resumed");
                innermost.await.unwrap()
            });
            push(&l, "outer goes on");
            inner.await.unwrap()
        });
        push(&log, "main goes on");
        let name = outer.await.unwrap();
        assert!(name.starts_with("Task-"));
        assert_eq!(
            *log.borrow(),
            [
                "outer starts",
                "inner starts",
                "innermost runs",
                "inner goes on",
                "outer goes on",
                "main goes on",
                "inner resumed"
            ]
        );
    });
}

#[test]
fn a_panic_in_the_eager_poll_becomes_the_tasks_error() {
    // test_eager_task_factory.py: test_eager_task_factory_raise (the
    // exception is the task's, create_task itself does not raise).
    eager_run(async {
        let counts = Counts::new();
        let t = asyncio::create_task(counts.wrap(async {
            if true {
                panic!("boom in the first poll");
            }
        }));
        // The creator goes on.
        assert!(t.done());
        assert_eq!(counts.drops(), 1, "the future was dropped");
        let err = t.await.unwrap_err();
        assert!(err.is_panic());
        assert!(err.to_string().contains("boom in the first poll"), "{err}");
        // The loop is fine: more tasks run.
        assert_eq!(asyncio::create_task(async { 1 }).await.unwrap(), 1);
    });
}

#[test]
fn a_task_that_cancels_itself_in_the_eager_poll_ends_cancelled() {
    eager_run(async {
        // Returns at once after cancelling itself: cancelled all the same,
        // as for any poll in which cancel() was called.
        let t = asyncio::create_task(async {
            asyncio::current_task().unwrap().cancel();
            1
        });
        assert!(t.done() && t.cancelled());
        assert!(t.await.unwrap_err().is_cancelled());

        // Suspends after cancelling itself: the loop drops it at its turn.
        let counts = Counts::new();
        let t = asyncio::create_task(counts.wrap(async {
            asyncio::current_task().unwrap().cancel();
            asyncio::sleep(Duration::from_secs(3600)).await;
        }));
        assert!(!t.done());
        assert!(t.task_ref().cancelling());
        assert!(t.await.unwrap_err().is_cancelled());
        assert_eq!((counts.polls(), counts.drops()), (1, 1));
    });
}

#[test]
fn a_task_cancelled_during_its_eager_poll_by_another_ends_cancelled() {
    eager_run(async {
        let counts = Counts::new();
        // The eager task starts a nested eager task that cancels it while
        // the first is still in its eager poll.
        let t = asyncio::create_task(counts.wrap(async {
            let me = asyncio::current_task().unwrap();
            let killer = asyncio::create_task(async move { me.cancel() });
            assert!(killer.done());
            asyncio::sleep(Duration::from_secs(3600)).await;
        }));
        assert!(!t.done());
        assert!(t.await.unwrap_err().is_cancelled());
        assert_eq!(counts.drops(), 1);
    });
}

#[test]
fn a_suspended_eager_task_is_cancelled_by_a_callback() {
    eager_run(async {
        let counts = Counts::new();
        let (fut, _waker) = forever();
        let t = asyncio::create_task(counts.wrap(fut));
        let r = t.task_ref();
        asyncio::get_running_loop().call_soon(move || {
            r.cancel();
        });
        assert!(t.await.unwrap_err().is_cancelled());
        assert_eq!((counts.polls(), counts.drops()), (1, 1));
    });
}

#[test]
fn task_group_children_start_eagerly_on_an_eager_loop() {
    eager_run(async {
        let tg = asyncio::TaskGroup::new();
        let quick = tg.spawn(async { 1 }).unwrap();
        assert!(quick.done());
        let slow = tg
            .spawn(async {
                asyncio::sleep(Duration::from_secs(1)).await;
                2
            })
            .unwrap();
        assert!(!slow.done());
        tg.join().await.unwrap();
        assert_eq!(quick.result(), Some(1));
        assert_eq!(slow.result(), Some(2));

        let tg = asyncio::TaskGroup::new();
        tg.spawn(async { panic!("eager child") }).unwrap();
        assert!(tg.join().await.unwrap_err().to_string().contains("eager child"));
    });
}

#[test]
fn create_task_before_the_loop_runs_is_lazy() {
    let mut runner = Runner::new().eager_tasks(true);
    let lp = runner.get_loop();
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let t = lp.create_task(async move { r.set(true) });
    assert!(!ran.get(), "not started outside a run");
    runner.run(t).unwrap();
    assert!(ran.get());
}

#[test]
fn an_eager_task_inherits_the_context_and_keeps_its_own() {
    static VAR: ContextVar<u32> = ContextVar::new("var");
    eager_run(async {
        let _ = VAR.set(1);
        let t = asyncio::create_task(async {
            let seen = VAR.get();
            let _ = VAR.set(2);
            (seen, VAR.get())
        });
        assert_eq!(VAR.get(), Some(1), "the eager task's set is its own");
        assert_eq!(t.await.unwrap(), (Some(1), Some(2)));
    });
}

/// Wakes itself during its poll, then finishes on the next.
struct SelfWake(bool);

impl Future for SelfWake {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[test]
fn woken_during_the_eager_poll_it_is_queued_behind_whats_ready() {
    eager_run(async {
        let log = log();
        let l = log.clone();
        let lazy = Builder::new().eager(false).spawn(async move { push(&l, "lazy") });
        let l = log.clone();
        let t = asyncio::create_task(async move {
            SelfWake(false).await;
            push(&l, "eager resumed");
        });
        assert!(!t.done());
        t.await.unwrap();
        lazy.await.unwrap();
        assert_eq!(*log.borrow(), ["lazy", "eager resumed"]);
    });
}

#[test]
fn debug_mode_with_eager_tasks() {
    let mut r = Runner::new().virtual_time(true).eager_tasks(true).debug(true);
    r.run(async {
        let outer = Builder::new().name("outer").spawn(async {
            let inner = Builder::new().name("inner").spawn(async {
                asyncio::sleep(Duration::from_secs(1)).await;
                asyncio::current_task().unwrap().get_name()
            });
            let dump = asyncio::debug::dump();
            assert!(dump.contains("'inner'"), "{dump}");
            assert!(dump.contains("'outer'"), "{dump}");
            inner.await.unwrap()
        });
        assert_eq!(outer.get_name(), "outer");
        assert_eq!(outer.await.unwrap(), "inner");
        let quick = asyncio::create_task(async { panic!("eager panic in debug mode") });
        assert!(quick.await.unwrap_err().is_panic());
    });
    r.close();
}

#[test]
fn created_eagerly_from_a_callback() {
    eager_run(async {
        let log: Rc<RefCell<Vec<String>>> = Rc::new(RefCell::new(Vec::new()));
        let l = log.clone();
        let handle = Rc::new(RefCell::new(None));
        let h = handle.clone();
        asyncio::get_running_loop().call_soon(move || {
            let l2 = l.clone();
            let t = asyncio::create_task(async move {
                let me = asyncio::current_task().expect("the eager task is current");
                l2.borrow_mut().push(format!("task {}", me.id()));
                asyncio::yield_now().await;
                l2.borrow_mut().push("task resumed".into());
            });
            l.borrow_mut().push(format!(
                "callback goes on, current_task is {:?}",
                asyncio::current_task().map(|t| t.id())
            ));
            *h.borrow_mut() = Some(t);
        });
        asyncio::yield_now().await;
        let t = handle.borrow_mut().take().unwrap();
        let id = t.id();
        t.await.unwrap();
        assert_eq!(
            *log.borrow(),
            [
                format!("task {id}"),
                "callback goes on, current_task is None".to_string(),
                "task resumed".to_string()
            ]
        );
    });
}

#[test]
fn an_eager_task_group_child_failing_cancels_its_siblings() {
    eager_run(async {
        let tg = asyncio::TaskGroup::new();
        let counts = Counts::new();
        let sibling = tg
            .spawn(counts.wrap(asyncio::sleep(Duration::from_secs(3600))))
            .unwrap();
        assert!(!sibling.done());
        // Fails inside create_task: the group aborts there and then.
        tg.spawn(async { panic!("eager child failed") }).unwrap();
        let err = tg.join().await.unwrap_err();
        assert!(err.to_string().contains("eager child failed"), "{err}");
        assert_eq!(counts.drops(), 1, "the sibling was cancelled");
    });
}

#[test]
fn debug_mode_attributes_only_the_groups_children_to_it() {
    let mut r = Runner::new().virtual_time(true).eager_tasks(true).debug(true);
    r.run(async {
        let tg = asyncio::TaskGroup::new();
        let (fut, _w) = forever();
        let grandchild = Rc::new(RefCell::new(None));
        let g = grandchild.clone();
        tg.spawn(async move {
            // Created during the child's eager first poll, inside
            // TaskGroup::spawn: not a member of the group.
            *g.borrow_mut() = Some(Builder::new().name("grandchild").spawn(fut));
            asyncio::sleep(Duration::from_secs(1)).await;
        })
        .unwrap();
        let dump = asyncio::debug::dump();
        let line = dump
            .lines()
            .find(|l| l.contains("'grandchild'"))
            .unwrap_or_else(|| panic!("no grandchild in {dump}"));
        assert!(!line.contains("in TaskGroup"), "{line}");
        assert!(
            dump.lines().any(|l| l.contains("in TaskGroup")),
            "the child is the group's: {dump}"
        );
        tg.join().await.unwrap();
        grandchild.borrow().as_ref().unwrap().cancel();
    });
    r.close();
}
