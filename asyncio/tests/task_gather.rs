//! gather!, try_gather!, gather(iter), try_gather(iter): order, timing,
//! errors returned as values, fail-fast dropping, borrowed futures, tasks.

mod support;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use asyncio::time::Instant;
use support::{vrun, Counts};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

async fn fetch(id: u32, delay: u64) -> u32 {
    asyncio::sleep(secs(delay)).await;
    id
}

#[test]
fn gather_macro_runs_concurrently_and_keeps_argument_order() {
    vrun(async {
        let start = Instant::now();
        let (a, b, c) = asyncio::gather!(fetch(1, 3), fetch(2, 1), fetch(3, 2)).await;
        assert_eq!((a, b, c), (1, 2, 3));
        assert_eq!(start.elapsed(), secs(3), "concurrent: the longest, not the sum");
    });
}

#[test]
fn gather_macro_accepts_tasks_and_plain_futures_and_borrows() {
    vrun(async {
        let local = String::from("borrowed");
        let task = asyncio::create_task(fetch(7, 1));
        let (t, s, n) = asyncio::gather!(task, async { local.len() }, fetch(9, 2)).await;
        assert_eq!((t.unwrap(), s, n), (7, 8, 9));
    });
}

#[test]
fn gather_returns_errors_as_values() {
    vrun(async {
        let (ok, err) = asyncio::gather!(async { Ok::<u32, String>(1) }, async {
            asyncio::sleep(secs(1)).await;
            Err::<u32, String>("failed".into())
        })
        .await;
        assert_eq!(ok, Ok(1));
        assert_eq!(err, Err("failed".into()));
        // Panicking tasks come back as TaskError values too.
        let results = asyncio::gather(vec![
            asyncio::create_task(async { 1 }),
            asyncio::create_task(async { panic!("task 2 failed") }),
            asyncio::create_task(async { 3 }),
        ])
        .await;
        assert_eq!(results[0].as_ref().unwrap(), &1);
        assert!(results[1].as_ref().unwrap_err().is_panic());
        assert_eq!(results[2].as_ref().unwrap(), &3);
    });
}

#[test]
fn try_gather_macro_fails_fast_and_drops_the_rest() {
    let counts = Counts::new();
    vrun(async {
        let start = Instant::now();
        let r: Result<(u32, u32, u32), String> = asyncio::try_gather!(
            counts.wrap(async {
                asyncio::sleep(secs(10)).await;
                Ok(1)
            }),
            async {
                asyncio::sleep(secs(1)).await;
                Err("second failed".to_string())
            },
            counts.wrap(async {
                asyncio::sleep(secs(20)).await;
                Ok(3)
            }),
        )
        .await;
        assert_eq!(r, Err("second failed".to_string()));
        assert_eq!(start.elapsed(), secs(1), "returned at the first error");
        assert_eq!(counts.drops(), 2, "the others were dropped when it returned");
    });
}

#[test]
fn gather_iter_keeps_input_order_and_soon_wakes_only_the_woken() {
    vrun(async {
        let polls = Counts::new();
        let start = Instant::now();
        let futs: Vec<_> = (0..1000u64)
            .map(|i| polls.wrap(async move { fetch(i as u32, 1000 - i).await }))
            .collect();
        let out = asyncio::gather(futs).await;
        assert_eq!(out, (0..1000).collect::<Vec<u32>>());
        assert_eq!(start.elapsed(), secs(1000));
        // Two passes over all (the gather starts as a join-all), the second
        // finishing one child: from then on each child has a waker of its
        // own (a third pass hands them out) and is polled once more, when
        // its own timer fires. Re-polling all on every wake would take
        // about n²/2 = 500,000 polls.
        assert!(
            polls.polls() <= 4000,
            "{} polls: children polled for others' wakes",
            polls.polls()
        );
        assert_eq!(polls.drops(), 1000);
    });
}

#[test]
fn gather_of_pre_created_tasks_and_of_coroutines() {
    vrun(async {
        let start = Instant::now();
        let coros = (1..3).map(|i| fetch(i, i as u64));
        let from_coros = asyncio::gather(coros).await;
        assert_eq!(from_coros, [1, 2]);
        let tasks: Vec<_> = (1..3).map(|i| asyncio::create_task(fetch(i, i as u64))).collect();
        let from_tasks: Vec<u32> = asyncio::gather(tasks).await.into_iter().map(Result::unwrap).collect();
        assert_eq!(from_tasks, [1, 2]);
        assert_eq!(start.elapsed(), secs(4));
    });
}

#[test]
fn try_gather_iter_first_error_cancels_rest() {
    let counts = Counts::new();
    let c = counts.clone();
    vrun(async move {
        let r: Result<Vec<u32>, String> = asyncio::try_gather((0..10u64).map(|i| {
            c.wrap(async move {
                asyncio::sleep(secs(i + 1)).await;
                if i == 3 {
                    Err(format!("job {i}"))
                } else {
                    Ok(i as u32)
                }
            })
        }))
        .await;
        assert_eq!(r, Err("job 3".into()));
    });
    assert_eq!(counts.drops(), 10, "all ten dropped exactly once");
    assert_eq!(counts.polls(), 10 + 4, "six never got past their sleep");
}

#[test]
fn dropping_a_gather_drops_its_futures() {
    let counts = Counts::new();
    vrun(async {
        let g = asyncio::gather((0..5).map(|_| counts.wrap(asyncio::sleep(secs(100)))));
        assert!(asyncio::timeout(secs(1), g).await.is_err());
        assert_eq!(counts.drops(), 5);
    });
}

#[test]
fn empty_gathers_are_ready() {
    vrun(async {
        let v: Vec<u32> = asyncio::gather(Vec::<std::future::Ready<u32>>::new()).await;
        assert!(v.is_empty());
        let r: Result<Vec<u32>, ()> = asyncio::try_gather(Vec::<std::future::Ready<Result<u32, ()>>>::new()).await;
        assert_eq!(r, Ok(vec![]));
    });
}

#[test]
fn a_self_waking_child_does_not_starve_the_loop() {
    let spins = Rc::new(Cell::new(0u32));
    let s = spins.clone();
    vrun(async move {
        let spinner = async move {
            loop {
                s.set(s.get() + 1);
                asyncio::yield_now().await;
                if s.get() > 10_000 {
                    break 0u32;
                }
            }
        };
        let (a, b) = asyncio::gather!(spinner, fetch(5, 1)).await;
        assert_eq!((a, b), (0, 5));
    });
}
