//! A million concurrent sleeping tasks, on the real clock: all complete, and
//! none before its deadline.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

#[test]
fn one_million_sleeping_tasks_complete() {
    const N: u32 = 1_000_000;
    let done = Rc::new(Cell::new(0u32));
    let early = Rc::new(Cell::new(0u32));
    let (d, e) = (done.clone(), early.clone());
    let start = Instant::now();
    asyncio::run(async move {
        for i in 0..N {
            let (d, e) = (d.clone(), e.clone());
            let delay = Duration::from_millis(50 + (i % 200) as u64);
            drop(asyncio::create_task(async move {
                let t = Instant::now();
                asyncio::sleep(delay).await;
                if t.elapsed() < delay {
                    e.set(e.get() + 1);
                }
                d.set(d.get() + 1);
            }));
        }
        while d.get() < N {
            asyncio::sleep(Duration::from_millis(20)).await;
        }
    });
    assert_eq!(done.get(), N);
    assert_eq!(early.get(), 0, "no sleep ended early");
    eprintln!("1M sleeping tasks: {:?}", start.elapsed());
}
