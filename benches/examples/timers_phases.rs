//! Where `compare`'s `timers_100k` spends its wall time: the same 100,000
//! tasks sleeping 1–20 ms (the bench's seed and durations), under asyncio
//! and under tokio's current-thread runtime (a `LocalSet`), with three time
//! stamps per round: every task spawned, every timer armed (the last task's
//! first poll), everything joined.
//!
//!     cargo run --release -p asyncio-benches --example timers_phases
//!
//! The wall time cannot be less than the arming plus the longest sleep
//! (20 ms): see BENCHMARKS.md, "Where we are behind".

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use asyncio_benches::XorShift64;

/// Spawned, armed, done: each since the round's start.
type Phases = (Duration, Duration, Duration);

fn on_asyncio(durations: &[Duration]) -> Phases {
    let durations = durations.to_vec();
    let t0 = Instant::now();
    let (spawned, armed) = asyncio::run(async move {
        let last_armed = Rc::new(Cell::new(t0));
        let mut tasks = Vec::with_capacity(durations.len());
        for d in durations {
            let last_armed = last_armed.clone();
            tasks.push(asyncio::create_task(async move {
                last_armed.set(Instant::now());
                asyncio::sleep(d).await;
            }));
        }
        let spawned = t0.elapsed();
        for t in tasks {
            t.await.expect("the task finishes");
        }
        (spawned, last_armed.get() - t0)
    });
    (spawned, armed, t0.elapsed())
}

fn on_tokio(durations: &[Duration]) -> Phases {
    let durations = durations.to_vec();
    let t0 = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime");
    let (spawned, armed) = rt.block_on(tokio::task::LocalSet::new().run_until(async move {
        let last_armed = Rc::new(Cell::new(t0));
        let mut tasks = Vec::with_capacity(durations.len());
        for d in durations {
            let last_armed = last_armed.clone();
            tasks.push(tokio::task::spawn_local(async move {
                last_armed.set(Instant::now());
                tokio::time::sleep(d).await;
            }));
        }
        let spawned = t0.elapsed();
        for t in tasks {
            t.await.expect("the task finishes");
        }
        (spawned, last_armed.get() - t0)
    }));
    (spawned, armed, t0.elapsed())
}

fn main() {
    // The durations of `compare`'s timers_100k (benches/benches/compare.rs).
    let mut rng = XorShift64::new(0x5EED_1234_ABCD_0001);
    let durations: Vec<Duration> = (0..100_000).map(|_| Duration::from_millis(rng.range(1, 20))).collect();
    println!("round  runtime   spawned   armed     done (ms since start)");
    for round in 0..5 {
        for (name, run) in [
            ("asyncio", on_asyncio as fn(&[Duration]) -> Phases),
            ("tokio-ct", on_tokio),
        ] {
            let (s, a, d) = run(&durations);
            println!(
                "{round:>5}  {name:<8}  {:>7.1}  {:>7.1}  {:>7.1}",
                s.as_secs_f64() * 1e3,
                a.as_secs_f64() * 1e3,
                d.as_secs_f64() * 1e3
            );
        }
    }
}
