//! `run` and `Runner`: outputs, borrowed main futures, nested runs,
//! several runs on one loop, and the orderly cancellation at close.

// Some tests hand a task out of one run to await it in the next.
#![allow(clippy::async_yields_async)]

mod support;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use support::Counts;

#[test]
fn run_returns_the_output_and_accepts_borrowing_futures() {
    let mut local = vec![1, 2, 3];
    let sum = asyncio::run(async {
        local.push(4);
        local.iter().sum::<i32>()
    });
    assert_eq!(sum, 10);
    assert_eq!(local.len(), 4);
}

#[test]
fn main_is_a_task() {
    asyncio::run(async {
        let me = asyncio::current_task().expect("main runs as a task");
        assert!(!me.done());
        assert_eq!(asyncio::all_tasks(), vec![me]);
    });
}

#[test]
#[should_panic(expected = "cannot be called from a running event loop")]
fn nested_run_is_a_clear_panic() {
    asyncio::run(async {
        asyncio::run(async {});
    });
}

#[test]
fn main_panic_is_re_raised_by_run() {
    let r = std::panic::catch_unwind(|| asyncio::run(async { panic!("main failed") }));
    let payload = r.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"main failed"));
    // The thread can run a loop again afterwards.
    assert_eq!(asyncio::run(async { 1 }), 1);
}

#[test]
#[should_panic(expected = "no running event loop")]
fn create_task_outside_a_loop_is_a_clear_panic() {
    drop(asyncio::create_task(async {}));
}

#[test]
fn pending_tasks_are_cancelled_when_run_returns() {
    let counts = Counts::new();
    let c = counts.clone();
    asyncio::run(async move {
        for _ in 0..10 {
            drop(asyncio::create_task(c.wrap(asyncio::sleep(Duration::from_secs(3600)))));
        }
        asyncio::yield_now().await;
    });
    assert_eq!(counts.polls(), 10);
    assert_eq!(counts.drops(), 10, "every pending future dropped exactly once at close");
}

#[test]
fn cancellation_at_close_is_oldest_first_and_may_spawn() {
    let order = Rc::new(std::cell::RefCell::new(Vec::new()));
    struct Note(Rc<std::cell::RefCell<Vec<u32>>>, u32);
    impl Drop for Note {
        fn drop(&mut self) {
            self.0.borrow_mut().push(self.1);
            if self.1 == 1 {
                // A destructor that creates a task during close: it is
                // cancelled too, not leaked.
                let n = Note(self.0.clone(), 99);
                drop(asyncio::create_task(async move {
                    let _n = n;
                    asyncio::sleep(Duration::from_secs(1)).await;
                }));
            }
        }
    }
    let o = order.clone();
    asyncio::run(async move {
        for i in 1..=3 {
            let n = Note(o.clone(), i);
            drop(asyncio::create_task(async move {
                let _n = n;
                asyncio::sleep(Duration::from_secs(3600)).await;
            }));
        }
        asyncio::yield_now().await;
    });
    assert_eq!(*order.borrow(), vec![1, 2, 3, 99]);
}

#[test]
fn runner_runs_several_futures_and_keeps_pending_tasks() {
    let mut runner = asyncio::Runner::new().virtual_time(true);
    let ticks = Rc::new(Cell::new(0));
    let t = ticks.clone();
    let bg = runner.run(async move {
        asyncio::create_task(async move {
            for _ in 0..3 {
                asyncio::sleep(Duration::from_secs(1)).await;
                t.set(t.get() + 1);
            }
            "bg done"
        })
    });
    assert_eq!(ticks.get(), 0);
    runner.run(asyncio::sleep(Duration::from_millis(1500)));
    assert_eq!(ticks.get(), 1);
    assert_eq!(runner.run(bg).unwrap(), "bg done");
    assert_eq!(ticks.get(), 3);
    let lp = runner.get_loop();
    runner.close();
    assert!(lp.is_closed());
}

#[test]
fn task_handle_outlives_its_loop() {
    let mut runner = asyncio::Runner::new();
    let t = runner.run(async { asyncio::create_task(asyncio::sleep(Duration::from_secs(3600))) });
    runner.close();
    assert!(t.done() && t.cancelled());
    // Awaiting it outside any loop just reads the stored outcome.
    let r = futures_lite::future::block_on(t);
    assert!(r.unwrap_err().is_cancelled());
}

#[test]
fn main_macro_style_result() {
    fn main_like() -> Result<u32, asyncio::TaskError> {
        asyncio::run(async {
            let t = asyncio::create_task(async { 3 });
            Ok(t.await? * 2)
        })
    }
    assert_eq!(main_like().unwrap(), 6);
}

#[asyncio::test]
async fn the_test_attribute_runs_an_async_test() {
    let t = asyncio::create_task(async { 2 });
    assert_eq!(t.await.unwrap(), 2);
}

#[asyncio::test(virtual_time)]
async fn the_test_attribute_takes_virtual_time() {
    let real = std::time::Instant::now();
    asyncio::sleep(Duration::from_secs(600)).await;
    assert!(real.elapsed() < Duration::from_secs(5));
}

#[asyncio::test(debug)]
async fn the_test_attribute_takes_debug() {
    assert!(asyncio::get_running_loop().get_debug());
}
