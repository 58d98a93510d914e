//! What debug mode costs on the engine's hot paths: spawn+await and yield
//! with asyncio's debug mode off and on, alternating in one process, medians
//! and the on/off ratio. `cargo bench -p asyncio-benches --bench debug_cost`.
//!
//! (Debug mode *off* against a build without debug mode at all is a
//! before/after across commits; see BENCHMARKS.md.)

use std::time::{Duration, Instant};

use asyncio_benches::{Config, Summary};

fn runner(debug: bool) -> asyncio::Runner {
    // A threshold no poll reaches: measure the bookkeeping, not reports.
    asyncio::Runner::new()
        .debug(debug)
        .slow_callback_duration(Duration::from_secs(3600))
}

/// ns per task: spawn `n` tasks, then await them all.
fn spawn_await(debug: bool, n: usize) -> f64 {
    let mut r = runner(debug);
    let took = r.run(async move {
        let start = Instant::now();
        let mut tasks = Vec::with_capacity(n);
        for i in 0..n {
            tasks.push(asyncio::create_task(async move { i }));
        }
        for t in tasks {
            std::hint::black_box(t.await.unwrap());
        }
        start.elapsed()
    });
    r.close();
    took.as_nanos() as f64 / n as f64
}

/// ns per yield: two tasks yielding to each other `n` times each.
fn yield_pingpong(debug: bool, n: usize) -> f64 {
    let mut r = runner(debug);
    let took = r.run(async move {
        let start = Instant::now();
        let a = asyncio::create_task(async move {
            for _ in 0..n {
                asyncio::yield_now().await;
            }
        });
        let b = asyncio::create_task(async move {
            for _ in 0..n {
                asyncio::yield_now().await;
            }
        });
        a.await.unwrap();
        b.await.unwrap();
        start.elapsed()
    });
    r.close();
    took.as_nanos() as f64 / (2 * n) as f64
}

fn main() {
    asyncio::executor::worker_entry();
    let cfg = Config::from_env();
    println!(
        "debug mode's cost: {} rounds, off and on alternating; ns per operation, medians",
        cfg.rounds
    );
    println!("{:<16} {:>10} {:>10} {:>8}", "workload", "off", "on", "on/off");
    type Workload = fn(bool, usize) -> f64;
    let workloads: [(&str, Workload, usize); 2] = [
        ("spawn_await", spawn_await, 200_000),
        ("yield_pingpong", yield_pingpong, 500_000),
    ];
    for (name, f, full) in workloads {
        if !cfg.selected(name) {
            continue;
        }
        let n = cfg.size(full);
        f(false, n); // warm-up
        f(true, n);
        let (mut off, mut on) = (Vec::new(), Vec::new());
        for _ in 0..cfg.rounds {
            off.push(f(false, n));
            on.push(f(true, n));
        }
        let (off, on) = (Summary::of(&off), Summary::of(&on));
        println!(
            "{name:<16} {:>10.1} {:>10.1} {:>7.2}x",
            off.median,
            on.median,
            on.median / off.median
        );
    }
}
