//! Context variables: where a context goes (tasks, callbacks, `to_thread`,
//! `Context::run`) and `reset`'s rules. Several follow CPython's
//! `Lib/test/test_context.py` and `test_asyncio/test_context.py`, cited
//! where they do.

mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use asyncio::context::{Context, ResetError};
use asyncio::{copy_context, ContextVar};
use support::vrun;

static REQUEST: ContextVar<u32> = ContextVar::new("request");
static USER: ContextVar<String> = ContextVar::with_default("user", String::new());

#[test]
fn get_is_none_or_the_default_until_set() {
    static LOCAL: ContextVar<u8> = ContextVar::new("local");
    static WITH_DEFAULT: ContextVar<u8> = ContextVar::with_default("with_default", 9);
    vrun(async {
        assert_eq!(LOCAL.get(), None);
        assert_eq!(WITH_DEFAULT.get(), Some(9));
        let _ = WITH_DEFAULT.set(1);
        assert_eq!(WITH_DEFAULT.get(), Some(1));
        assert_eq!(WITH_DEFAULT.name(), "with_default");
    });
}

#[test]
fn tasks_inherit_a_copy_of_their_creators_context() {
    // test_asyncio/test_context.py: test_task_context_1 (a child sees the
    // parent's value, its own set stays its own).
    vrun(async {
        let _ = REQUEST.set(7);
        let child = asyncio::create_task(async {
            assert_eq!(REQUEST.get(), Some(7), "inherited at creation");
            asyncio::sleep(Duration::from_secs(1)).await;
            let _ = REQUEST.set(8);
            REQUEST.get()
        });
        // Set after the child was created: the child keeps its copy.
        let _ = REQUEST.set(70);
        assert_eq!(child.await.unwrap(), Some(8));
        assert_eq!(REQUEST.get(), Some(70), "the child's set is not seen by the parent");
    });
}

#[test]
fn sibling_tasks_are_isolated() {
    // test_asyncio/test_context.py: test_task_context_2 (values survive
    // interleaving with other tasks).
    vrun(async {
        let tasks: Vec<_> = (0..10u32)
            .map(|i| {
                asyncio::create_task(async move {
                    assert_eq!(REQUEST.get(), None);
                    let _ = REQUEST.set(i);
                    for _ in 0..3 {
                        asyncio::sleep(Duration::from_millis(u64::from(10 - i))).await;
                        assert_eq!(REQUEST.get(), Some(i), "another task's set leaked in");
                    }
                    i
                })
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap(), i as u32);
        }
        assert_eq!(REQUEST.get(), None);
    });
}

#[test]
fn grandchildren_inherit_what_the_child_set() {
    vrun(async {
        let _ = USER.set("parent".into());
        let child = asyncio::create_task(async {
            let _ = USER.set("child".into());
            asyncio::create_task(async { USER.get() }).await.unwrap()
        });
        assert_eq!(child.await.unwrap().as_deref(), Some("child"));
        assert_eq!(USER.get().as_deref(), Some("parent"));
    });
}

#[test]
fn task_group_children_inherit() {
    vrun(async {
        let _ = REQUEST.set(11);
        let tg = asyncio::TaskGroup::new();
        let seen = Rc::new(RefCell::new(Vec::new()));
        for _ in 0..3 {
            let seen = seen.clone();
            tg.create_task(async move {
                asyncio::yield_now().await;
                seen.borrow_mut().push(REQUEST.get());
                let _ = REQUEST.set(99);
            })
            .unwrap();
        }
        tg.join().await.unwrap();
        assert_eq!(*seen.borrow(), [Some(11); 3]);
        assert_eq!(REQUEST.get(), Some(11));
    });
}

#[test]
fn builder_tasks_inherit() {
    vrun(async {
        let _ = REQUEST.set(3);
        let t = asyncio::task::Builder::new()
            .name("named")
            .spawn(async { REQUEST.get() });
        assert_eq!(t.get_name(), "named");
        assert_eq!(t.await.unwrap(), Some(3));
    });
}

#[test]
fn callbacks_run_in_the_context_they_were_scheduled_from() {
    // test_asyncio/test_context.py: test_context_1-style, for call_soon,
    // call_later and call_at.
    vrun(async {
        let lp = asyncio::get_running_loop();
        let seen = Rc::new(RefCell::new(Vec::new()));
        let _ = REQUEST.set(1);
        let s = seen.clone();
        lp.call_soon(move || s.borrow_mut().push(("soon", REQUEST.get())));
        let s = seen.clone();
        lp.call_later(Duration::from_secs(1), move || {
            s.borrow_mut().push(("later", REQUEST.get()));
            // A callback's set stays in its own copy.
            let _ = REQUEST.set(100);
        });
        let s = seen.clone();
        let at = lp.time() + Duration::from_secs(2);
        lp.call_at(at, move || s.borrow_mut().push(("at", REQUEST.get())));
        // Changed after scheduling: the callbacks keep what they captured.
        let _ = REQUEST.set(2);
        asyncio::sleep(Duration::from_secs(3)).await;
        assert_eq!(*seen.borrow(), [("soon", Some(1)), ("later", Some(1)), ("at", Some(1))]);
        assert_eq!(REQUEST.get(), Some(2));
    });
}

#[test]
fn a_callback_with_an_empty_context_does_not_leak_sets_to_the_next() {
    vrun(async {
        let lp = asyncio::get_running_loop();
        let seen = Rc::new(RefCell::new(Vec::new()));
        let s = seen.clone();
        lp.call_soon(move || {
            s.borrow_mut().push(REQUEST.get());
            let _ = REQUEST.set(5);
        });
        let s = seen.clone();
        lp.call_soon(move || s.borrow_mut().push(REQUEST.get()));
        asyncio::yield_now().await;
        asyncio::yield_now().await;
        assert_eq!(*seen.borrow(), [None, None]);
        assert_eq!(REQUEST.get(), None);
    });
}

#[test]
fn a_task_created_in_a_callback_inherits_the_callbacks_context() {
    vrun(async {
        let lp = asyncio::get_running_loop();
        let _ = REQUEST.set(21);
        let out = Rc::new(RefCell::new(None));
        let o = out.clone();
        lp.call_soon(move || {
            let t = asyncio::create_task(async { REQUEST.get() });
            *o.borrow_mut() = Some(t);
        });
        asyncio::yield_now().await;
        let t = out.borrow_mut().take().unwrap();
        assert_eq!(t.await.unwrap(), Some(21));
    });
}

#[test]
fn call_soon_threadsafe_runs_in_the_calling_threads_context() {
    vrun(async {
        let handle = asyncio::get_running_loop().handle();
        let (tx, rx) = asyncio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut ctx = Context::new();
            ctx.run(|| {
                let _ = REQUEST.set(31);
                handle
                    .call_soon_threadsafe(move || {
                        let _ = tx.send(REQUEST.get());
                    })
                    .unwrap();
            });
        });
        assert_eq!(rx.await.unwrap(), Some(31));
        assert_eq!(REQUEST.get(), None);
    });
}

#[test]
fn to_thread_carries_the_context_into_the_thread() {
    // asyncio.to_thread copies the context (test_asyncio/test_threads.py:
    // test_to_thread_contextvars).
    vrun(async {
        let _ = USER.set("carol".into());
        let on_thread = asyncio::to_thread(|| {
            let seen = USER.get();
            // The thread works on a copy.
            let _ = USER.set("changed in thread".into());
            (seen, std::thread::current().id())
        })
        .await
        .unwrap();
        assert_eq!(on_thread.0.as_deref(), Some("carol"));
        assert_ne!(on_thread.1, std::thread::current().id());
        assert_eq!(USER.get().as_deref(), Some("carol"));
        // A pool thread keeps nothing from one job to the next.
        let next = asyncio::to_thread(|| USER.get()).await.unwrap();
        assert_eq!(next.as_deref(), Some("carol"));
    });
}

#[test]
fn context_run_enters_the_context_and_keeps_its_changes() {
    // test_context.py: test_context_run_2 / test_context_run_4.
    let mut ctx = Context::new();
    let _ = REQUEST.set(1);
    let inside = ctx.run(|| {
        assert_eq!(REQUEST.get(), None, "a new context is empty");
        let _ = REQUEST.set(2);
        REQUEST.get()
    });
    assert_eq!(inside, Some(2));
    assert_eq!(REQUEST.get(), Some(1), "the caller's context is back");
    assert_eq!(ctx.get(&REQUEST), Some(2));
    assert!(ctx.contains(&REQUEST));
    assert_eq!(ctx.len(), 1);
    assert_eq!(ctx.run(|| REQUEST.get()), Some(2), "changes persist between runs");

    // copy_context is a copy: later changes on either side stay there.
    let mut copy = copy_context();
    let _ = REQUEST.set(10);
    assert_eq!(copy.get(&REQUEST), Some(1));
    copy.run(|| {
        let _ = REQUEST.set(20);
    });
    assert_eq!(REQUEST.get(), Some(10));
    // A clone is a copy too.
    let mut clone = copy.clone();
    clone.run(|| {
        let _ = REQUEST.set(30);
    });
    assert_eq!(copy.get(&REQUEST), Some(20));
    assert_eq!(clone.get(&REQUEST), Some(30));
}

#[test]
fn context_run_restores_the_callers_context_after_a_panic() {
    let _ = REQUEST.set(4);
    let mut ctx = Context::new();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ctx.run(|| {
            let _ = REQUEST.set(5);
            panic!("inside run");
        })
    }));
    assert!(r.is_err());
    assert_eq!(REQUEST.get(), Some(4));
    assert_eq!(ctx.get(&REQUEST), Some(5));
}

#[test]
fn context_run_inside_a_task_and_tasks_created_there() {
    vrun(async {
        let _ = REQUEST.set(1);
        let mut ctx = copy_context();
        let child = ctx.run(|| {
            let _ = REQUEST.set(2);
            asyncio::create_task(async { REQUEST.get() })
        });
        assert_eq!(REQUEST.get(), Some(1));
        assert_eq!(
            child.await.unwrap(),
            Some(2),
            "a task inherits the context it was created in"
        );
    });
}

#[test]
fn a_loop_run_inside_context_run_starts_its_main_task_in_that_context() {
    let mut ctx = Context::new();
    ctx.run(|| {
        let _ = REQUEST.set(50);
        vrun(async {
            assert_eq!(REQUEST.get(), Some(50));
            let _ = REQUEST.set(51);
            let lp = asyncio::get_running_loop();
            let seen = Rc::new(RefCell::new(None));
            let s = seen.clone();
            // Scheduled from the main task: its context.
            lp.call_soon(move || *s.borrow_mut() = Some(REQUEST.get()));
            asyncio::yield_now().await;
            assert_eq!(*seen.borrow(), Some(Some(51)));
        });
        assert_eq!(REQUEST.get(), Some(50), "the main task worked on a copy");
    });
}

#[test]
fn reset_restores_the_previous_value() {
    // test_context.py: test_context_var_reset_1 / _2.
    vrun(async {
        assert_eq!(REQUEST.get(), None);
        let t1 = REQUEST.set(1);
        assert_eq!(t1.old_value(), None);
        let t2 = REQUEST.set(2);
        assert_eq!(t2.old_value(), Some(1));
        REQUEST.reset(t2).unwrap();
        assert_eq!(REQUEST.get(), Some(1));
        REQUEST.reset(t1).unwrap();
        assert_eq!(REQUEST.get(), None, "reset to unset");
        // With a default, reset to unset shows the default again.
        let t = USER.set("x".into());
        USER.reset(t).unwrap();
        assert_eq!(USER.get().as_deref(), Some(""));
    });
}

#[test]
fn reset_with_a_token_of_another_var_is_an_error() {
    // test_context.py: test_context_var_reset_3 (ValueError).
    static OTHER: ContextVar<u32> = ContextVar::new("other");
    vrun(async {
        let _ = REQUEST.set(1);
        let token = OTHER.set(5);
        let err = REQUEST.reset(token).unwrap_err();
        assert_eq!(
            err,
            ResetError::OtherVar {
                token_var: "other",
                var: "request"
            }
        );
        assert_eq!(REQUEST.get(), Some(1), "unchanged");
        assert_eq!(OTHER.get(), Some(5));
        assert!(err.to_string().contains("another ContextVar"));
    });
}

#[test]
fn reset_with_a_token_from_another_context_is_an_error() {
    // test_context.py: test_context_var_reset_4 (a token made in another
    // Context: ValueError).
    let mut ctx = Context::new();
    let token = ctx.run(|| REQUEST.set(1));
    let _ = REQUEST.set(2);
    let err = REQUEST.reset(token).unwrap_err();
    assert_eq!(err, ResetError::OtherContext { var: "request" });
    assert!(err.to_string().contains("different Context"));
    assert_eq!(REQUEST.get(), Some(2));
    assert_eq!(ctx.get(&REQUEST), Some(1));

    // The same across tasks: a child's token does not reset the parent.
    vrun(async {
        let child_token = asyncio::create_task(async { REQUEST.set(3) }).await.unwrap();
        assert!(matches!(
            REQUEST.reset(child_token),
            Err(ResetError::OtherContext { .. })
        ));
        // And in the context that made it, it works.
        let mut ctx = copy_context();
        let token = ctx.run(|| REQUEST.set(4));
        assert_eq!(ctx.get(&REQUEST), Some(4));
        ctx.run(|| REQUEST.reset(token)).unwrap();
        assert_eq!(
            ctx.get(&REQUEST),
            Some(2),
            "back to the value inherited from the thread"
        );
    });
}

#[test]
fn values_cross_threads_and_plain_threads_have_their_own_context() {
    let _ = REQUEST.set(8);
    let mut ctx = copy_context();
    let joined = std::thread::spawn(move || {
        assert_eq!(REQUEST.get(), None, "a new thread starts empty");
        ctx.run(|| REQUEST.get())
    })
    .join()
    .unwrap();
    assert_eq!(joined, Some(8));
}

#[test]
fn callbacks_from_an_empty_context_see_neither_the_threads_nor_each_others() {
    // The thread has a context of its own (set outside any loop); the
    // loop's main task inherits it, but a callback scheduled from an empty
    // context must run in an empty one, and a set there must not reach the
    // next callback.
    let _ = REQUEST.set(1);
    vrun(async {
        assert_eq!(REQUEST.get(), Some(1));
        let seen = Rc::new(RefCell::new(Vec::new()));
        let s = seen.clone();
        let mut empty = Context::new();
        let scheduler = empty.run(|| {
            asyncio::create_task(async move {
                let lp = asyncio::get_running_loop();
                let s1 = s.clone();
                lp.call_soon(move || {
                    s1.borrow_mut().push(REQUEST.get());
                    let _ = REQUEST.set(9);
                });
                lp.call_soon(move || s.borrow_mut().push(REQUEST.get()));
            })
        });
        scheduler.await.unwrap();
        asyncio::yield_now().await;
        asyncio::yield_now().await;
        assert_eq!(*seen.borrow(), [None, None]);
        assert_eq!(REQUEST.get(), Some(1));
    });
    assert_eq!(REQUEST.get(), Some(1), "the thread's context is untouched");
}

#[test]
fn an_eager_task_created_inside_context_run_sees_that_context_and_keeps_its_own() {
    let mut runner = asyncio::Runner::new().virtual_time(true).eager_tasks(true);
    runner.run(async {
        let _ = REQUEST.set(1);
        let mut ctx = copy_context();
        let (t, after) = ctx.run(|| {
            let _ = REQUEST.set(2);
            let t = asyncio::create_task(async {
                let seen = REQUEST.get();
                let _ = REQUEST.set(3);
                (seen, REQUEST.get())
            });
            assert!(t.done(), "ran eagerly inside run");
            (t, REQUEST.get())
        });
        assert_eq!(after, Some(2), "the eager task's set stayed in its own context");
        assert_eq!(t.await.unwrap(), (Some(2), Some(3)));
        assert_eq!(REQUEST.get(), Some(1));
        assert_eq!(ctx.get(&REQUEST), Some(2));
    });
    runner.close();
}

#[test]
fn contexts_and_tokens_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Context>();
    send_sync::<asyncio::context::Token<String>>();
    send_sync::<ContextVar<String>>();
    send_sync::<ResetError>();
}

/// Records the value `REQUEST` has when it is dropped.
struct DropProbe(Rc<RefCell<Vec<Option<u32>>>>);

impl Drop for DropProbe {
    fn drop(&mut self) {
        self.0.borrow_mut().push(REQUEST.get());
    }
}

#[test]
fn a_cancelled_tasks_destructors_run_in_its_context() {
    vrun(async {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let mut tasks = Vec::new();
        for id in [1, 2] {
            let probe = DropProbe(seen.clone());
            tasks.push(asyncio::create_task(async move {
                let _probe = probe;
                let _ = REQUEST.set(id);
                asyncio::sleep(Duration::from_secs(3600)).await;
            }));
        }
        asyncio::yield_now().await;
        let _ = REQUEST.set(99);
        // Cancelled between polls (dropped at the loop's next turn) and by a
        // TaskGroup's abort (dropped at once, inside this task's poll).
        tasks[0].cancel();
        let tg = asyncio::TaskGroup::new();
        let probe = DropProbe(seen.clone());
        tg.create_task(async move {
            let _probe = probe;
            let _ = REQUEST.set(3);
            asyncio::sleep(Duration::from_secs(3600)).await;
        })
        .unwrap();
        asyncio::yield_now().await;
        drop(tg);
        for t in tasks.drain(..1) {
            assert!(t.await.unwrap_err().is_cancelled());
        }
        assert_eq!(*seen.borrow(), [Some(1), Some(3)]);
        assert_eq!(REQUEST.get(), Some(99), "the destructors' context did not leak");
    });
}

#[test]
fn a_done_callback_runs_in_the_context_it_was_added_in() {
    // asyncio's `fut.add_done_callback(cb)` copies the context at the call,
    // whoever completes the future.
    vrun(async {
        let fut = asyncio::create_future::<()>();
        let seen = Rc::new(RefCell::new(Vec::new()));
        REQUEST.set(1);
        let s = seen.clone();
        fut.add_done_callback(move |_| s.borrow_mut().push(REQUEST.get()));
        let resolver = {
            let fut = fut.clone();
            asyncio::create_task(async move {
                REQUEST.set(2);
                fut.set_result(()).unwrap();
            })
        };
        resolver.await.unwrap();
        // Added once done, from an empty context: sees none, not the adder's
        // earlier value nor the resolver's.
        let s = seen.clone();
        let mut empty = Context::default();
        empty.run(|| fut.add_done_callback(move |_| s.borrow_mut().push(REQUEST.get())));
        asyncio::yield_now().await;
        asyncio::yield_now().await;
        assert_eq!(*seen.borrow(), [Some(1), None]);
    });
}
