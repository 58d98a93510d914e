//! to_thread, run_in_executor and ThreadPoolExecutor: results, panics,
//! cancellation, bounds, shutdown, idle retirement, and the default
//! executor's life with its loop.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::time::{Duration, Instant};

use asyncio::executor::{run_in_executor, JobError, JobHandle, ThreadPoolExecutor};

const LIMIT: Duration = Duration::from_secs(10);

/// Counts how often the closure it travels in was dropped.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Blocks this (pool) thread until `pool` is shut down: the runner closing
/// its loop shuts the default executor down first, then waits for its jobs.
fn until_shut_down(pool: &ThreadPoolExecutor) {
    let deadline = Instant::now() + LIMIT;
    while !pool.is_shutdown() {
        assert!(Instant::now() < deadline, "the pool was not shut down within {LIMIT:?}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn wait<T>(h: JobHandle<T>) -> Result<T, JobError> {
    h.result_timeout(Some(LIMIT))
        .unwrap_or_else(|_| panic!("job not done within {LIMIT:?}"))
}

#[test]
fn to_thread_runs_blocking_calls_side_by_side() {
    // Both calls must be inside at once for either to pass the barrier:
    // proof of concurrency without timing anything.
    let barrier = Arc::new(Barrier::new(2));
    let (a, b) = asyncio::run(async {
        let b1 = barrier.clone();
        let b2 = barrier.clone();
        let t1 = asyncio::create_task(asyncio::to_thread(move || {
            b1.wait();
            "Result of 1"
        }));
        let t2 = asyncio::create_task(asyncio::to_thread(move || {
            b2.wait();
            "Result of 2"
        }));
        (t1.await.unwrap().unwrap(), t2.await.unwrap().unwrap())
    });
    assert_eq!((a, b), ("Result of 1", "Result of 2"));
}

#[test]
fn the_loop_keeps_running_while_a_thread_blocks() {
    let ticks = asyncio::run(async {
        let (tx, rx) = mpsc::channel::<()>();
        let job = asyncio::to_thread(move || rx.recv_timeout(LIMIT).is_ok());
        let mut ticks = 0;
        while ticks < 10 {
            asyncio::sleep(Duration::from_millis(1)).await;
            ticks += 1;
        }
        tx.send(()).unwrap();
        assert!(job.await.unwrap());
        ticks
    });
    assert_eq!(ticks, 10);
}

#[test]
fn a_panic_becomes_an_error_and_the_thread_lives_on() {
    let pool = ThreadPoolExecutor::new(1);
    let first = wait(pool.submit(|| std::thread::current().id())).unwrap();
    let err = wait(pool.submit(|| -> u32 { panic!("boom") })).unwrap_err();
    assert!(matches!(err, JobError::Panicked(_)));
    assert_eq!(err.panic_message(), Some("boom"));
    let payload = wait(pool.submit(|| -> u32 { std::panic::panic_any(7u8) }))
        .unwrap_err()
        .into_panic();
    assert_eq!(payload.downcast_ref::<u8>(), Some(&7));
    assert_eq!(wait(pool.submit(|| std::thread::current().id())).unwrap(), first);
    // Awaited on a loop, the panic is an error too; the loop goes on.
    let msg = asyncio::run(async {
        let err = asyncio::to_thread(|| -> () { panic!("in a thread") })
            .await
            .unwrap_err();
        err.panic_message().map(str::to_owned)
    });
    assert_eq!(msg.as_deref(), Some("in a thread"));
}

#[test]
fn dropping_the_awaiting_future_cancels_a_queued_job() {
    let pool = ThreadPoolExecutor::new(1);
    let ran = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicUsize::new(0));
    let (release, gate) = mpsc::channel::<()>();
    let blocker = pool.submit(move || gate.recv_timeout(LIMIT).is_ok());
    asyncio::run(async {
        let (r, d) = (ran.clone(), DropCount(dropped.clone()));
        let queued = run_in_executor(&pool, move || {
            let _keep = d;
            r.fetch_add(1, Ordering::SeqCst);
        });
        let timed_out = asyncio::timeout(Duration::from_millis(5), queued).await;
        assert!(timed_out.is_err());
    });
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the cancelled closure is dropped at once"
    );
    release.send(()).unwrap();
    assert!(wait(blocker).unwrap());
    assert!(wait(pool.submit(|| ())).is_ok());
    assert_eq!(ran.load(Ordering::SeqCst), 0, "a cancelled job never runs");
}

#[test]
fn a_started_job_runs_to_the_end_and_its_result_is_discarded() {
    let pool = ThreadPoolExecutor::new(1);
    let finished = Arc::new(AtomicUsize::new(0));
    let (started_tx, started) = mpsc::channel::<()>();
    let (release, gate) = mpsc::channel::<()>();
    let f = finished.clone();
    asyncio::run(async {
        let job = run_in_executor(&pool, move || {
            started_tx.send(()).unwrap();
            gate.recv_timeout(LIMIT).unwrap();
            f.fetch_add(1, Ordering::SeqCst);
            42
        });
        started.recv_timeout(LIMIT).unwrap();
        assert!(job.running());
        assert!(!job.cancel(), "a running job cannot be cancelled");
        drop(job);
    });
    release.send(()).unwrap();
    pool.shutdown(true, false);
    assert_eq!(finished.load(Ordering::SeqCst), 1);
}

#[test]
fn submit_handles_do_not_cancel_on_drop() {
    let pool = ThreadPoolExecutor::new(2);
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..10 {
        let r = ran.clone();
        drop(pool.submit(move || r.fetch_add(1, Ordering::SeqCst)));
    }
    pool.shutdown(true, false);
    assert_eq!(ran.load(Ordering::SeqCst), 10);
}

#[test]
fn a_handles_drop_depends_on_its_type_not_on_the_call_that_made_it() {
    // One thread, held by a blocker, so every job below is still queued
    // when its handle is dropped.
    let pool = ThreadPoolExecutor::new(1);
    let (release, gate) = mpsc::channel::<()>();
    let blocker = pool.submit(move || gate.recv_timeout(LIMIT).is_ok());
    let ran = Arc::new(AtomicUsize::new(0));
    let job = |bit: usize| {
        let r = ran.clone();
        move || {
            r.fetch_or(bit, Ordering::SeqCst);
        }
    };
    // A JobHandle never cancels, from `submit` or taken back out of a
    // CancelOnDrop; a CancelOnDrop always does, from `run_in_executor` or
    // made of a `submit` handle.
    drop(pool.submit(job(1)));
    drop(run_in_executor(&pool, job(2)).into_handle());
    drop(run_in_executor(&pool, job(4)));
    drop(pool.submit(job(8)).cancel_on_drop());
    release.send(()).unwrap();
    assert!(wait(blocker).unwrap());
    pool.shutdown(true, false);
    assert_eq!(ran.load(Ordering::SeqCst), 1 | 2);
}

#[test]
fn never_more_threads_than_max_workers() {
    let pool = ThreadPoolExecutor::new(3);
    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..30)
        .map(|_| {
            let (now, peak) = (now.clone(), peak.clone());
            pool.submit(move || {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(n, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
                now.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect();
    for h in handles {
        wait(h).unwrap();
    }
    assert!(peak.load(Ordering::SeqCst) <= 3);
    assert!(pool.threads() <= 3);
}

#[test]
fn map_keeps_input_order_and_as_completed_gives_finish_order() {
    let pool = ThreadPoolExecutor::new(4);
    let squares: Vec<u64> = pool.map(|x: u64| x * x, 0..10).map(Result::unwrap).collect();
    assert_eq!(squares, (0..10).map(|x| x * x).collect::<Vec<_>>());

    // Job 3 finishes at once; each other job is released only after the
    // one before it came out of as_completed: finish order is reversed.
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..3).map(|_| mpsc::channel::<()>()).unzip();
    let mut handles: Vec<_> = rxs
        .into_iter()
        .enumerate()
        .map(|(i, rx)| {
            pool.submit(move || {
                rx.recv_timeout(LIMIT).unwrap();
                i
            })
        })
        .collect();
    handles.push(pool.submit(|| 3));
    let mut order = Vec::new();
    for (index, r) in JobHandle::as_completed(handles) {
        let i = r.unwrap();
        assert_eq!(index, i);
        order.push(i);
        if i > 0 {
            txs[i - 1].send(()).unwrap();
        }
    }
    assert_eq!(order, [3, 2, 1, 0]);
}

#[test]
fn shutdown_refuses_new_jobs_and_can_cancel_queued_ones() {
    let pool = ThreadPoolExecutor::new(1);
    let (release, gate) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel::<()>();
    let running = pool.submit(move || {
        started_tx.send(()).unwrap();
        gate.recv_timeout(LIMIT).is_ok()
    });
    let dropped = Arc::new(AtomicUsize::new(0));
    let queued: Vec<_> = (0..3)
        .map(|_| {
            let d = DropCount(dropped.clone());
            pool.submit(move || drop(d))
        })
        .collect();
    started.recv_timeout(LIMIT).unwrap();
    pool.shutdown(false, true);
    assert_eq!(dropped.load(Ordering::SeqCst), 3, "cancelled closures dropped unrun");
    for h in queued {
        let h_err = wait(h).unwrap_err();
        assert!(h_err.is_cancelled());
    }
    assert!(matches!(wait(pool.submit(|| 1)), Err(JobError::ShutDown)));
    release.send(()).unwrap();
    assert!(wait(running).unwrap());
    pool.shutdown(true, false);
    assert_eq!(pool.threads(), 0);
}

#[test]
fn dropping_the_pool_lets_submitted_jobs_finish() {
    let pool = ThreadPoolExecutor::new(2);
    let handles: Vec<_> = (0..50u32)
        .map(|i| {
            pool.submit(move || {
                std::thread::sleep(Duration::from_micros(200));
                i
            })
        })
        .collect();
    drop(pool);
    let got: Vec<u32> = handles.into_iter().map(|h| wait(h).unwrap()).collect();
    assert_eq!(got, (0..50).collect::<Vec<_>>());
}

#[test]
fn idle_threads_retire() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(4)
        .idle_timeout(Some(Duration::from_millis(20)))
        .thread_name_prefix("retiring")
        .build();
    let name = wait(pool.submit(|| std::thread::current().name().map(str::to_owned))).unwrap();
    assert_eq!(name.as_deref(), Some("retiring-0"));
    let deadline = Instant::now() + LIMIT;
    while pool.threads() > 0 {
        assert!(Instant::now() < deadline, "idle thread never retired");
        std::thread::sleep(Duration::from_millis(5));
    }
    // A new job starts a new thread.
    assert_eq!(wait(pool.submit(|| 5)).unwrap(), 5);
}

#[test]
fn default_executor_threads_are_named_and_bounded() {
    asyncio::run(async {
        let lp = asyncio::get_running_loop();
        let ex = lp.default_executor();
        assert_eq!(ex.max_workers(), asyncio::executor::default_max_workers());
        let name = asyncio::to_thread(|| std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("asyncio-worker-"));
        lp.set_default_executor(ThreadPoolExecutor::builder().thread_name_prefix("mine").build());
        let name = lp
            .run_in_executor(None, || std::thread::current().name().map(str::to_owned))
            .await
            .unwrap();
        assert!(name.unwrap().starts_with("mine-"));
    });
}

#[test]
fn closing_the_runner_waits_for_running_jobs() {
    let finished = Arc::new(AtomicUsize::new(0));
    let f = finished.clone();
    let (started_tx, started) = mpsc::channel::<()>();
    asyncio::run(async move {
        let pool = asyncio::get_running_loop().default_executor();
        drop(asyncio::create_task(asyncio::to_thread(move || {
            started_tx.send(()).unwrap();
            // Still running once the runner is closing: its wait is what
            // lets the count reach 1 before run() returns.
            until_shut_down(&pool);
            f.fetch_add(1, Ordering::SeqCst);
        })));
        // Left running when main returns.
        let _ = asyncio::to_thread(move || started.recv_timeout(LIMIT)).await;
    });
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "run() returned after the job finished"
    );
}

#[test]
fn closing_gives_up_on_stuck_jobs_after_the_timeout() {
    let (started_tx, started) = mpsc::channel::<()>();
    let (_never, gate) = mpsc::channel::<()>();
    let mut runner = asyncio::Runner::new().executor_shutdown_timeout(Duration::from_millis(50));
    runner.run(async move {
        // A submit handle: dropping it leaves the job running.
        drop(asyncio::get_running_loop().default_executor().submit(move || {
            started_tx.send(()).unwrap();
            let _ = gate.recv_timeout(LIMIT);
        }));
        asyncio::to_thread(move || started.recv_timeout(LIMIT).unwrap())
            .await
            .unwrap();
    });
    let start = Instant::now();
    runner.close();
    assert!(start.elapsed() < LIMIT);
}

#[test]
fn blocking_waits_refuse_to_run_on_the_loop() {
    let pool = ThreadPoolExecutor::new(1);
    let h = pool.submit(|| 1);
    let caught = asyncio::run(async move { std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h.result())) });
    let msg = caught.unwrap_err();
    let msg = msg.downcast_ref::<String>().unwrap();
    assert!(msg.contains("would block the event loop"), "{msg}");
}

#[test]
fn done_callbacks_run_once_when_the_job_ends() {
    let pool = ThreadPoolExecutor::new(1);
    let hits = Arc::new(AtomicUsize::new(0));
    let (release, gate) = mpsc::channel::<()>();
    let h = pool.submit(move || gate.recv_timeout(LIMIT).is_ok());
    let c = hits.clone();
    let (called_tx, called) = mpsc::channel::<()>();
    h.add_done_callback(move || {
        c.fetch_add(1, Ordering::SeqCst);
        called_tx.send(()).unwrap();
    });
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    release.send(()).unwrap();
    assert!(wait(h).unwrap());
    // Waiters may wake before the callbacks ran (as in Python): wait for it.
    called.recv_timeout(LIMIT).unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // On a finished job, the callback runs at once.
    let h = pool.submit(|| ());
    while !h.done() {
        std::thread::yield_now();
    }
    let c = hits.clone();
    h.add_done_callback(move || {
        c.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(hits.load(Ordering::SeqCst), 2);
}

#[test]
fn every_closure_is_dropped_exactly_once() {
    let pool = ThreadPoolExecutor::new(2);
    let drops = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for i in 0..20 {
        let d = DropCount(drops.clone());
        handles.push(pool.submit(move || {
            let _d = d;
            assert!(i % 5 != 0, "panicking job {i}");
        }));
    }
    let cancelled = handles.iter().rev().take(5).filter(|h| h.cancel()).count();
    let mut outcomes = (0, 0, 0);
    for h in handles {
        match wait(h) {
            Ok(()) => outcomes.0 += 1,
            Err(JobError::Panicked(_)) => outcomes.1 += 1,
            Err(JobError::Cancelled) => outcomes.2 += 1,
            Err(e) => panic!("{e}"),
        }
    }
    pool.shutdown(true, false);
    assert_eq!(drops.load(Ordering::SeqCst), 20);
    assert_eq!(outcomes.2, cancelled);
    assert_eq!(outcomes.0 + outcomes.1 + outcomes.2, 20);
}

#[test]
fn a_panicking_done_callback_does_not_take_the_thread_down() {
    let pool = ThreadPoolExecutor::new(1);
    let h = pool.submit(|| 1);
    h.add_done_callback(|| panic!("callback panicked on purpose"));
    assert_eq!(wait(h).unwrap(), 1);
    // The one worker thread survived and runs the next job.
    assert_eq!(wait(pool.submit(|| 2)).unwrap(), 2);
    pool.shutdown(true, false);
    assert_eq!(pool.threads(), 0);
}

#[test]
fn waiting_shutdown_from_inside_the_pool_is_refused_not_deadlocked() {
    let pool = ThreadPoolExecutor::new(1);
    let inner = pool.clone();
    let err = wait(pool.submit(move || inner.shutdown(true, false))).unwrap_err();
    assert!(err.panic_message().unwrap().contains("would wait for itself"), "{err}");
    // A non-waiting shutdown from inside is fine.
    let inner = pool.clone();
    wait(pool.submit(move || inner.shutdown(false, false))).unwrap();
    assert!(pool.is_shutdown());
}

#[test]
fn setting_the_same_default_executor_twice_keeps_it_working() {
    let pool = ThreadPoolExecutor::new(2);
    let p = pool.clone();
    asyncio::run(async move {
        let lp = asyncio::get_running_loop();
        lp.set_default_executor(p.clone());
        lp.set_default_executor(p);
        assert_eq!(asyncio::to_thread(|| 3).await.unwrap(), 3);
    });
    // Closing the runner shut the default executor down, as asyncio.run does.
    assert!(pool.is_shutdown());
}

#[test]
fn dropping_map_results_cancels_the_jobs_not_started() {
    let pool = ThreadPoolExecutor::new(1);
    let ran = Arc::new(AtomicUsize::new(0));
    let (release, gate) = mpsc::channel::<()>();
    let blocker = pool.submit(move || gate.recv_timeout(LIMIT).is_ok());
    let r = ran.clone();
    let results = pool.map(
        move |_: u32| {
            r.fetch_add(1, Ordering::SeqCst);
        },
        0..10,
    );
    drop(results);
    release.send(()).unwrap();
    assert!(wait(blocker).unwrap());
    pool.shutdown(true, false);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn jobs_can_call_back_into_the_loop_while_the_runner_closes() {
    // As asyncio.run: the loop still serves other threads while it waits for
    // the default executor's jobs.
    let served = Arc::new(AtomicUsize::new(0));
    let s = served.clone();
    asyncio::run(async move {
        let handle = asyncio::get_running_loop().handle();
        let pool = asyncio::get_running_loop().default_executor();
        drop(pool.clone().submit(move || {
            until_shut_down(&pool); // main has returned and the runner is closing
            let s2 = s.clone();
            handle
                .call_soon_threadsafe(move || {
                    s2.fetch_add(1, Ordering::SeqCst);
                })
                .expect("the loop still takes calls while closing");
        }));
    });
    assert_eq!(served.load(Ordering::SeqCst), 1);
}
