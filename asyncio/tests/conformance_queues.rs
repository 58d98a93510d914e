//! Conformance: CPython 3.13's `Lib/test/test_asyncio/test_queues.py`,
//! translated to this crate's public API. Each test names the one it
//! translates; the join and shutdown mixins run for all three queue kinds,
//! as in CPython. `asyncio.sleep(0)` is [`asyncio::yield_now`];
//! `QueueEmpty`/`QueueFull` are `GetError::Empty`/`PutError::Full`;
//! `QueueShutDown` is `QueueShutDown`/`GetError::ShutDown`/`PutError::ShutDown`;
//! `task_done`'s `ValueError` is `TaskDoneError`.
//!
//! Not translated, and why:
//! - `test_repr`, `test_str`, `test_format` (both), `test_generic_alias`:
//!   Python's `repr`, `_format` and typing.
//! - `test_get_with_putters`: it appends a future to the private
//!   `_putters`.
//! - `test_float_maxsize`: `maxsize` is a `usize`.
//! - `test_cancelled_put_silence_value_error_exception`: a Python
//!   `ValueError` from list removal inside `put`; the cancellation it
//!   checks is covered by `put_cancel_drop` below.
//! - Asserts on the private `_getters`/`_putters` lengths are left out;
//!   what they protect (a cancelled waiter holds no place) is checked by
//!   the next put or get going through.

mod conformance;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use asyncio::sync::{GetError, LifoQueue, PriorityQueue, PutError, Queue, QueueShutDown, TaskDoneError};
use asyncio::{create_task, yield_now};
use conformance::{assert_ends_cancelled, done_result, keep, started, vrun};

/// The body of CPython's `test_order` tests: puts 1, 3, 2 into the empty
/// queue `$q` (any kind), then gets three items, and gives them in the order
/// they came out.
macro_rules! order_of_1_3_2 {
    ($q:expr) => {{
        let q = $q;
        for i in [1, 3, 2] {
            q.put(i).await.unwrap();
        }
        let mut items = Vec::new();
        for _ in 0..3 {
            items.push(q.get().await.unwrap());
        }
        items
    }};
}

/// CPython's `test_blocking_get_wait` and `test_blocking_put_wait`: runs
/// `body` in a task that sets `started` first; once it has, checks that
/// the task has not finished (it blocks), has the loop call `unblock` 10 ms
/// later, and awaits the task, which then has finished. Gives its output.
///
/// CPython's put test schedules `unblock` before starting the task, its get
/// test after; on the virtual clock both come due at the same time.
async fn blocks_until_later<T: 'static>(
    body: impl std::future::Future<Output = T> + 'static,
    unblock: impl FnOnce() + 'static,
) -> T {
    let started = Rc::new(asyncio::sync::Event::new());
    let finished = Rc::new(Cell::new(false));
    let (s, f) = (started.clone(), finished.clone());
    let task = create_task(async move {
        s.set();
        let out = body.await;
        f.set(true);
        out
    });
    started.wait().await;
    assert!(!finished.get(), "the task blocks");
    asyncio::get_running_loop().call_later(Duration::from_millis(10), unblock);
    let out = task.await.unwrap();
    assert!(finished.get());
    out
}

// CPython: test_queues.py QueueBasicTests.test_empty
#[test]
fn empty() {
    vrun(async {
        let q = Queue::new(0);
        assert!(q.empty());
        q.put(1).await.unwrap();
        assert!(!q.empty());
        assert_eq!(q.get().await.unwrap(), 1);
        assert!(q.empty());
    });
}

// CPython: test_queues.py QueueBasicTests.test_full
#[test]
fn full() {
    vrun(async {
        let q = Queue::<u32>::new(0);
        assert!(!q.full());
        let q = Queue::new(1);
        q.put(1).await.unwrap();
        assert!(q.full());
    });
}

// CPython: test_queues.py QueueBasicTests.test_order
#[test]
fn order() {
    vrun(async {
        assert_eq!(order_of_1_3_2!(Queue::new(0)), [1, 3, 2]);
    });
}

// CPython: test_queues.py QueueBasicTests.test_maxsize
#[test]
fn maxsize() {
    vrun(async {
        let q = keep(Queue::new(2));
        assert_eq!(q.maxsize(), 2);
        let have_been_put = Rc::new(std::cell::RefCell::new(Vec::new()));
        let h = have_been_put.clone();
        let t = create_task(async move {
            for i in 0..3 {
                q.put(i).await.unwrap();
                h.borrow_mut().push(i);
            }
            true
        });
        for _ in 0..2 {
            yield_now().await;
        }
        assert_eq!(*have_been_put.borrow(), [0, 1], "the putter is blocked after two");
        assert_eq!(q.get().await.unwrap(), 0);
        yield_now().await;
        assert_eq!(*have_been_put.borrow(), [0, 1, 2]);
        assert_eq!(q.get().await.unwrap(), 1);
        assert_eq!(q.get().await.unwrap(), 2);
        assert!(done_result(t).await);
    });
}

// CPython: test_queues.py QueueGetTests.test_blocking_get
// CPython: test_queues.py QueuePutTests.test_nonblocking_put
#[test]
fn blocking_get() {
    vrun(async {
        let q = Queue::new(0);
        q.put_nowait(1).unwrap();
        assert_eq!(q.get().await.unwrap(), 1);
    });
}

// CPython: test_queues.py QueueGetTests.test_blocking_get_wait
#[test]
fn blocking_get_wait() {
    vrun(async {
        let q = keep(Queue::new(0));
        let got = blocks_until_later(async { q.get().await.unwrap() }, move || q.put_nowait(1).unwrap()).await;
        assert_eq!(got, 1);
    });
}

// CPython: test_queues.py QueueGetTests.test_nonblocking_get
// CPython: test_queues.py QueueGetTests.test_nonblocking_get_exception
#[test]
fn nonblocking_get() {
    let q = Queue::new(0);
    assert_eq!(q.get_nowait(), Err(GetError::Empty));
    q.put_nowait(1).unwrap();
    assert_eq!(q.get_nowait(), Ok(1));
}

// CPython: test_queues.py QueueGetTests.test_get_cancelled_race
#[test]
fn get_cancelled_race() {
    vrun(async {
        let q = keep(Queue::new(0));
        let t1 = create_task(q.get());
        let t2 = started(q.get()).await;
        t1.cancel();
        yield_now().await;
        assert!(t1.done());
        q.put("a").await.unwrap();
        yield_now().await;
        assert_eq!(t2.await.unwrap().unwrap(), "a");
    });
}

// CPython: test_queues.py QueueGetTests.test_get_with_waiting_putters
#[test]
fn get_with_waiting_putters() {
    vrun(async {
        let q = keep(Queue::new(1));
        drop(create_task(q.put("a")));
        drop(create_task(q.put("b")));
        assert_eq!(q.get().await.unwrap(), "a");
        assert_eq!(q.get().await.unwrap(), "b");
    });
}

// CPython: test_queues.py QueueGetTests.test_why_are_getters_waiting
#[test]
fn why_are_getters_waiting() {
    vrun(async {
        let q = keep(Queue::new(1));
        let n = 5;
        let tg = asyncio::TaskGroup::new();
        drop(tg.create_task(async move {
            for i in 0..n {
                q.put(i).await.unwrap();
            }
        }));
        drop(tg.create_task(async move {
            for _ in 0..n {
                q.get().await.unwrap();
            }
        }));
        tg.join().await.unwrap();
    });
}

// CPython: test_queues.py QueueGetTests.test_cancelled_getters_not_being_held_in_self_getters
#[test]
fn cancelled_getters_not_held() {
    vrun(async {
        let q = Queue::new(5);
        assert!(asyncio::timeout(Duration::from_millis(100), q.get()).await.is_err());
        // The timed-out getter holds no place: the next item goes to the
        // next getter.
        q.put_nowait(1).unwrap();
        assert_eq!(q.get().await.unwrap(), 1);
    });
}

// CPython: test_queues.py QueuePutTests.test_blocking_put
#[test]
fn blocking_put() {
    vrun(async {
        let q = Queue::new(0);
        q.put(1).await.unwrap();
        assert_eq!(q.get().await.unwrap(), 1);
    });
}

// CPython: test_queues.py QueuePutTests.test_blocking_put_wait
#[test]
fn blocking_put_wait() {
    vrun(async {
        let q = keep(Queue::new(1));
        let body = async {
            q.put(1).await.unwrap();
            q.put(2).await.unwrap();
        };
        blocks_until_later(body, move || {
            q.get_nowait().unwrap();
        })
        .await;
    });
}

// CPython: test_queues.py QueuePutTests.test_get_cancel_drop_one_pending_reader
#[test]
fn get_cancel_drop_one_pending_reader() {
    vrun(async {
        let q = keep(Queue::new(0));
        let reader = started(q.get()).await;
        q.put_nowait(1).unwrap();
        q.put_nowait(2).unwrap();
        reader.cancel();
        let result = match reader.await {
            Ok(v) => v.unwrap(),
            Err(e) => {
                assert!(e.is_cancelled());
                create_task(q.get()).await.unwrap().unwrap()
            }
        };
        assert_eq!(result, 1, "getting 2 would mean 1 was dropped");
    });
}

// CPython: test_queues.py QueuePutTests.test_get_cancel_drop_many_pending_readers
#[test]
fn get_cancel_drop_many_pending_readers() {
    vrun(async {
        let q = keep(Queue::new(0));
        let reader1 = create_task(q.get());
        let reader2 = create_task(q.get());
        let reader3 = started(q.get()).await;
        q.put_nowait(1).unwrap();
        q.put_nowait(2).unwrap();
        reader1.cancel();
        assert_ends_cancelled(reader1).await;
        let r3 = reader3.await.unwrap().unwrap();
        let r2 = reader2.await.unwrap().unwrap();
        let mut got = [r2, r3];
        got.sort();
        assert_eq!(got, [1, 2]);
    });
}

// CPython: test_queues.py QueuePutTests.test_put_cancel_drop
#[test]
fn put_cancel_drop() {
    vrun(async {
        let q = keep(Queue::new(1));
        q.put_nowait(1).unwrap();
        let writer = started(q.put(2)).await;
        assert_eq!(q.get_nowait(), Ok(1));
        writer.cancel();
        if let Err(e) = writer.await {
            assert!(e.is_cancelled());
            create_task(q.put(2)).await.unwrap().unwrap();
        }
        assert_eq!(q.get_nowait(), Ok(2));
        assert_eq!(q.qsize(), 0);
    });
}

// CPython: test_queues.py QueuePutTests.test_nonblocking_put_exception
#[test]
fn nonblocking_put_exception() {
    let q = Queue::new(1);
    q.put_nowait(1).unwrap();
    assert_eq!(q.put_nowait(2), Err(PutError::Full(2)));
}

// CPython: test_queues.py QueuePutTests.test_put_cancelled
#[test]
fn put_cancelled() {
    vrun(async {
        let q = keep(Queue::new(0));
        let t = create_task(async move {
            q.put(1).await.unwrap();
            true
        });
        assert_eq!(q.get().await.unwrap(), 1);
        assert!(done_result(t).await);
    });
}

// CPython: test_queues.py QueuePutTests.test_put_cancelled_race
#[test]
fn put_cancelled_race() {
    vrun(async {
        let q = keep(Queue::new(1));
        let put_a = create_task(q.put("a"));
        let put_b = create_task(q.put("b"));
        let put_c = started(q.put("X")).await;
        assert!(put_a.done());
        assert!(!put_b.done());
        put_c.cancel();
        yield_now().await;
        assert!(put_c.done());
        assert_eq!(q.get_nowait(), Ok("a"));
        yield_now().await;
        assert_eq!(q.get_nowait(), Ok("b"));
        put_b.await.unwrap().unwrap();
    });
}

// CPython: test_queues.py QueuePutTests.test_put_with_waiting_getters
#[test]
fn put_with_waiting_getters() {
    vrun(async {
        let q = keep(Queue::new(0));
        let t = started(q.get()).await;
        q.put("a").await.unwrap();
        assert_eq!(t.await.unwrap().unwrap(), "a");
    });
}

// CPython: test_queues.py QueuePutTests.test_why_are_putters_waiting
#[test]
fn why_are_putters_waiting() {
    vrun(async {
        let q = keep(Queue::new(2));
        let tg = asyncio::TaskGroup::new();
        drop(tg.create_task(async move {
            yield_now().await;
            for _ in 0..q.qsize() {
                q.get_nowait().unwrap();
            }
        }));
        for item in 0..4 {
            drop(tg.create_task(async move { q.put(item).await.unwrap() }));
        }
        tg.join().await.unwrap();
    });
}

// CPython: test_queues.py QueuePutTests.test_cancelled_puts_not_being_held_in_self_putters
#[test]
fn cancelled_puts_not_held() {
    vrun(async {
        let q = keep(Queue::new(1));
        q.put_nowait(1).unwrap();
        let put_task = started(q.put(1)).await;
        put_task.cancel();
        assert_ends_cancelled(put_task).await;
        // No place held by the cancelled putter: a get frees room for a
        // new put at once.
        assert_eq!(q.get_nowait(), Ok(1));
        assert_eq!(q.put_nowait(3), Ok(()));
    });
}

// CPython: test_queues.py LifoQueueTests.test_order
#[test]
fn lifo_order() {
    vrun(async {
        assert_eq!(order_of_1_3_2!(LifoQueue::new(0)), [2, 3, 1]);
    });
}

// CPython: test_queues.py PriorityQueueTests.test_order
#[test]
fn priority_order() {
    vrun(async {
        assert_eq!(order_of_1_3_2!(PriorityQueue::new(0)), [1, 2, 3]);
    });
}

/// The join and shutdown mixins, once per queue kind.
macro_rules! join_and_shutdown_tests {
    ($kind:ident, $Q:ident) => {
        mod $kind {
            use super::*;

            /// After `shutdown()`: `put`, `put_nowait`, and `get` and
            /// `get_nowait` on the (now empty) queue all raise
            /// `QueueShutDown`.
            /// A new queue of `maxsize` holding `n` items "data", and a
            /// task joining it.
            fn holding_data(maxsize: usize, n: usize) -> (&'static $Q<&'static str>, asyncio::Task<()>) {
                let q = keep($Q::new(maxsize));
                for _ in 0..n {
                    q.put_nowait("data").unwrap();
                }
                (q, create_task(q.join()))
            }

            /// `shutdown(immediate=True)`: the items are dropped at once;
            /// then one turn for the waiters to see it.
            async fn shutdown_immediately(q: &$Q<&'static str>) {
                q.shutdown(true);
                assert_eq!(q.qsize(), 0, "an immediate shutdown empties the queue");
                yield_now().await;
            }

            async fn refuses_all_after_shutdown(q: &$Q<&'static str>) {
                assert_eq!(q.put("data").await, Err(QueueShutDown("data")));
                assert_eq!(q.put_nowait("data"), Err(PutError::ShutDown("data")));
                assert_eq!(q.get().await, Err(QueueShutDown(())));
                assert_eq!(q.get_nowait(), Err(GetError::ShutDown));
            }

            // CPython: test_queues.py _QueueJoinTestMixin.test_task_done_underflow
            #[test]
            fn task_done_underflow() {
                let q = $Q::<u32>::new(0);
                assert_eq!(q.task_done(), Err(TaskDoneError));
            }

            // CPython: test_queues.py _QueueJoinTestMixin.test_task_done
            #[test]
            fn task_done() {
                vrun(async {
                    let q = keep($Q::new(0));
                    for i in 0..100 {
                        q.put_nowait(i).unwrap();
                    }
                    let accumulator = keep(Cell::new(0));
                    let running = keep(Cell::new(true));
                    let tg = asyncio::TaskGroup::new();
                    for _ in 0..2 {
                        drop(tg.create_task(async move {
                            while running.get() {
                                let item = q.get().await.unwrap();
                                accumulator.set(accumulator.get() + item);
                                q.task_done().unwrap();
                            }
                        }));
                    }
                    q.join().await;
                    assert_eq!(accumulator.get(), (0..100).sum::<i32>());
                    running.set(false);
                    for _ in 0..2 {
                        q.put_nowait(0).unwrap();
                    }
                    tg.join().await.unwrap();
                });
            }

            // CPython: test_queues.py _QueueJoinTestMixin.test_join_empty_queue
            #[test]
            fn join_empty_queue() {
                vrun(async {
                    let q = $Q::<u32>::new(0);
                    q.join().await;
                    q.join().await;
                });
            }

            // CPython: test_queues.py _QueueShutdownTestMixin.test_shutdown_empty
            #[test]
            fn shutdown_empty() {
                vrun(async {
                    let q = keep($Q::<&'static str>::new(0));
                    let get_task = started(q.get()).await;
                    q.shutdown(false);
                    assert_eq!(q.qsize(), 0);
                    q.join().await;
                    yield_now().await;
                    assert_eq!(done_result(get_task).await, Err(QueueShutDown(())));
                    refuses_all_after_shutdown(q).await;
                });
            }

            // CPython: test_queues.py _QueueShutdownTestMixin.test_shutdown_nonempty
            #[test]
            fn shutdown_nonempty() {
                vrun(async {
                    let (q, join_task) = holding_data(1, 1);
                    let put_task = started(q.put("data2")).await;
                    assert!(!put_task.done());
                    q.shutdown(false);
                    assert_eq!(q.qsize(), 1);
                    yield_now().await;
                    assert_eq!(done_result(put_task).await, Err(QueueShutDown("data2")));
                    assert_eq!(q.get().await, Ok("data"));
                    yield_now().await;
                    assert!(!join_task.done());
                    refuses_all_after_shutdown(q).await;
                    q.task_done().unwrap();
                    yield_now().await;
                    done_result(join_task).await;
                    assert_eq!(q.task_done(), Err(TaskDoneError));
                });
            }

            // CPython: test_queues.py _QueueShutdownTestMixin.test_shutdown_immediate
            #[test]
            fn shutdown_immediate() {
                vrun(async {
                    let (q, join_task) = holding_data(0, 1);
                    shutdown_immediately(q).await;
                    done_result(join_task).await;
                    refuses_all_after_shutdown(q).await;
                    assert_eq!(q.task_done(), Err(TaskDoneError));
                });
            }

            // CPython: test_queues.py _QueueShutdownTestMixin.test_shutdown_immediate_with_unfinished
            #[test]
            fn shutdown_immediate_with_unfinished() {
                vrun(async {
                    let (q, join_task) = holding_data(0, 2);
                    assert_eq!(q.get().await, Ok("data"));
                    shutdown_immediately(q).await;
                    assert!(!join_task.done());
                    refuses_all_after_shutdown(q).await;
                    q.task_done().unwrap();
                    assert_eq!(q.task_done(), Err(TaskDoneError));
                    yield_now().await;
                    done_result(join_task).await;
                });
            }
        }
    };
}

join_and_shutdown_tests!(queue, Queue);
join_and_shutdown_tests!(lifo_queue, LifoQueue);
join_and_shutdown_tests!(priority_queue, PriorityQueue);
