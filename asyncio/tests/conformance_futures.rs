//! Conformance: CPython 3.13's `Lib/test/test_asyncio/test_futures.py`,
//! translated to [`asyncio::Promise`] (asyncio's `Future`: Rust already
//! calls every awaitable a future). Each test names the one it translates.
//! `f.result()` is [`Promise::result`], which gives `None` where asyncio
//! raises `InvalidStateError` (not done yet) and the error where it raises
//! it; `f.exception()` is the `Err` of that result. `run_briefly` is one
//! [`asyncio::yield_now`].
//!
//! Not translated, and why:
//! - `test_isfuture`, `test_generic_alias`, `test_constructor_*`,
//!   `test_uninitialized`, `test_copy_state`, `test_iter`,
//!   `test_yield_from_twice`, `test_future_iter_throw`, `test_future_repr`,
//!   `test_future_source_traceback`, `test_future_del_*`, the
//!   `*_segfault` tests, `BaseFutureInheritanceTests`, `DuckTests`: Python's
//!   type protocols, `repr`, generators, garbage collection and subclassing.
//! - `test_stop_iteration_*`, `test_exception_class`,
//!   `test_future_stop_iteration_args`: Python exception classes.
//! - `test_tb_logger_*`, `test_future_exception_never_retrieved*`,
//!   `test_log_traceback`: an unretrieved error in a `Promise` is a value
//!   that is dropped, not logged.
//! - `test_wrap_future*`, `test_future_cancel_message_*`: no
//!   `concurrent.futures` wrapping (threads use `ConcurrentFuture` and
//!   `JobHandle`), and cancellation carries no message.
//! - `test_remove_done_callbacks_list_mutation`, `..._list_clear`,
//!   `test_schedule_callbacks_list_mutation_2`: they mutate the callback
//!   list from a Python `__eq__`; a callback is removed by its
//!   [`asyncio::DoneCallbackId`], which compares no user code.

mod conformance;

use std::cell::RefCell;
use std::error::Error;
use std::fmt;
use std::rc::Rc;

use asyncio::{FutureError, InvalidStateError, Promise};
use conformance::vrun;

type Bag = Rc<RefCell<Vec<i32>>>;

fn make_callback(bag: &Bag, thing: i32) -> impl FnOnce(&Promise<&'static str>) + 'static {
    let bag = bag.clone();
    move |_| bag.borrow_mut().push(thing)
}

#[derive(Debug)]
struct RuntimeError;

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RuntimeError")
    }
}

impl Error for RuntimeError {}

/// A done future takes no other outcome: `set_result`, `set_exception`
/// raise `InvalidStateError` and `cancel()` returns false.
#[track_caller]
fn assert_settled(f: &Promise<u32>) {
    assert_eq!(f.set_result(1), Err(InvalidStateError));
    assert_eq!(f.set_exception(RuntimeError), Err(InvalidStateError));
    assert!(!f.cancel());
}

// CPython: test_futures.py BaseFutureTests.test_initial_state
#[test]
fn initial_state() {
    let f = Promise::<()>::new();
    assert!(!f.cancelled());
    assert!(!f.done());
    f.cancel();
    assert!(f.cancelled());
}

// CPython: test_futures.py BaseFutureTests.test_cancel
#[test]
fn cancel() {
    let f = Promise::<u32>::new();
    assert!(f.cancel());
    assert!(f.cancelled());
    assert!(f.done());
    assert!(matches!(f.result(), Some(Err(FutureError::Cancelled))));
    assert_settled(&f);
}

// CPython: test_futures.py BaseFutureTests.test_result
#[test]
fn result() {
    let f = Promise::<u32>::new();
    assert!(f.result().is_none(), "not done: asyncio's InvalidStateError");
    f.set_result(42).unwrap();
    assert!(!f.cancelled());
    assert!(f.done());
    assert_eq!(f.result().unwrap().unwrap(), 42);
    assert_settled(&f);
}

// CPython: test_futures.py BaseFutureTests.test_exception
#[test]
fn exception() {
    let f = Promise::<u32>::new();
    assert!(f.result().is_none());
    f.set_exception(RuntimeError).unwrap();
    assert!(!f.cancelled());
    assert!(f.done());
    match f.result() {
        Some(Err(FutureError::Exception(e))) => assert!(e.is::<RuntimeError>()),
        other => panic!("expected the error, got {other:?}"),
    }
    assert_settled(&f);
}

// CPython: test_futures.py BaseFutureTests.test_set_result_unless_cancelled
#[test]
fn set_result_unless_cancelled() {
    let fut = Promise::<u32>::new();
    fut.cancel();
    if !fut.cancelled() {
        fut.set_result(2).unwrap();
    }
    assert!(fut.cancelled());
    assert_eq!(
        fut.set_result(2),
        Err(InvalidStateError),
        "a cancelled promise takes no result"
    );
}

/// The end of CPython's done-callback tests: no callback has run yet;
/// `set_result("foo")` schedules them (none runs inline); after one turn
/// the bag holds `expected`, and the result is "foo".
async fn set_foo_then_expect(f: &Promise<&'static str>, bag: &Bag, expected: &[i32]) {
    assert_eq!(*bag.borrow(), [], "no callback ran before the result");
    f.set_result("foo").unwrap();
    assert_eq!(*bag.borrow(), [], "scheduled with call_soon, not run inline");
    asyncio::yield_now().await;
    assert_eq!(*bag.borrow(), expected);
    assert_eq!(f.result().unwrap().unwrap(), "foo");
}

/// A new future with one done callback per thing in `things`, in order,
/// each appending its thing to the bag; and their ids.
fn with_callbacks<const K: usize>(things: [i32; K]) -> (Promise<&'static str>, Bag, [asyncio::DoneCallbackId; K]) {
    let bag = Bag::default();
    let f = Promise::new();
    let ids = things.map(|thing| f.add_done_callback(make_callback(&bag, thing)));
    (f, bag, ids)
}

/// CPython's `test_callbacks_remove_*`: adds cb1 (42), cb2 (17) and
/// cb3 (100) to a new future, lets `remove` take some out by their ids,
/// then sets the result and expects `expected` from those left.
async fn remove_of_three(remove: impl FnOnce(&Promise<&'static str>, [asyncio::DoneCallbackId; 3]), expected: &[i32]) {
    let (f, bag, ids) = with_callbacks([42, 17, 100]);
    remove(&f, ids);
    set_foo_then_expect(&f, &bag, expected).await;
}

// CPython: test_futures.py BaseFutureDoneCallbackTests.test_callbacks_remove_first_callback
#[test]
fn callbacks_remove_first_callback() {
    let remove = |f: &Promise<_>, [cb1, _, _]: [_; 3]| {
        assert_eq!(f.remove_done_callback(cb1), 1);
        assert_eq!(f.remove_done_callback(cb1), 0);
    };
    vrun(remove_of_three(remove, &[17, 100]));
}

// CPython: test_futures.py BaseFutureDoneCallbackTests.test_callbacks_remove_first_and_second_callback
#[test]
fn callbacks_remove_first_and_second_callback() {
    let remove = |f: &Promise<_>, [cb1, cb2, _]: [_; 3]| {
        f.remove_done_callback(cb1);
        f.remove_done_callback(cb2);
        f.remove_done_callback(cb1);
    };
    vrun(remove_of_three(remove, &[100]));
}

// CPython: test_futures.py BaseFutureDoneCallbackTests.test_callbacks_remove_third_callback
#[test]
fn callbacks_remove_third_callback() {
    let remove = |f: &Promise<_>, [_, _, cb3]: [_; 3]| {
        f.remove_done_callback(cb3);
        f.remove_done_callback(cb3);
    };
    vrun(remove_of_three(remove, &[42, 17]));
}

// CPython: test_futures.py BaseFutureDoneCallbackTests.test_callbacks_invoked_on_set_result
#[test]
fn callbacks_invoked_on_set_result() {
    vrun(async {
        let (f, bag, _) = with_callbacks([42, 17]);
        set_foo_then_expect(&f, &bag, &[42, 17]).await;
    });
}

// CPython: test_futures.py BaseFutureDoneCallbackTests.test_callbacks_invoked_on_set_exception
#[test]
fn callbacks_invoked_on_set_exception() {
    vrun(async {
        let (f, bag, _) = with_callbacks([100]);
        assert_eq!(*bag.borrow(), []);
        f.set_exception(RuntimeError).unwrap();
        asyncio::yield_now().await;
        assert_eq!(*bag.borrow(), [100]);
        assert!(matches!(f.result(), Some(Err(FutureError::Exception(_)))));
    });
}

// CPython: test_futures.py BaseFutureDoneCallbackTests.test_remove_done_callback
//
// asyncio removes every registration of one function at once; here each
// registration has its own id, so removing "all six cb1" is six removals.
#[test]
fn remove_done_callback() {
    vrun(async {
        let bag = Bag::default();
        let f = Promise::new();
        let mut cb1 = vec![f.add_done_callback(make_callback(&bag, 1))];
        let cb2 = f.add_done_callback(make_callback(&bag, 2));
        assert_eq!(f.remove_done_callback(cb2), 1);
        // Never had any cb3 in there: an id from another promise.
        let other = Promise::<&'static str>::new();
        other.add_done_callback(|_| {});
        let cb3 = other.add_done_callback(make_callback(&bag, 3));
        assert_eq!(f.remove_done_callback(cb3), 0);
        f.add_done_callback(make_callback(&bag, 2));
        for _ in 0..5 {
            cb1.push(f.add_done_callback(make_callback(&bag, 1)));
        }
        let removed: usize = cb1.into_iter().map(|id| f.remove_done_callback(id)).sum();
        assert_eq!(removed, 6);
        set_foo_then_expect(&f, &bag, &[2]).await;
    });
}

// CPython: test_futures.py BaseFutureDoneCallbackTests.test_schedule_callbacks_list_mutation_1
#[test]
fn schedule_callbacks_list_mutation_1() {
    vrun(async {
        let bag = Bag::default();
        let fut = Promise::new();
        let later: Rc<RefCell<Vec<asyncio::DoneCallbackId>>> = Rc::default();
        let l = later.clone();
        fut.add_done_callback(move |f: &Promise<&'static str>| {
            // The others were scheduled already: nothing left to remove.
            for id in l.borrow().iter() {
                assert_eq!(f.remove_done_callback(*id), 0);
            }
        });
        later.borrow_mut().push(fut.add_done_callback(make_callback(&bag, 1)));
        later.borrow_mut().push(fut.add_done_callback(make_callback(&bag, 2)));
        fut.set_result("x").unwrap();
        asyncio::yield_now().await;
        assert_eq!(*bag.borrow(), [1, 2]);
    });
}
