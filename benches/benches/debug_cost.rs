//! What debug mode costs on the engine's hot paths: spawn+await and yield
//! with asyncio's debug mode off and on, alternating in one process, medians
//! and the on/off ratio. `cargo bench -p asyncio-benches --bench debug_cost`.
//!
//! (Debug mode *off* against a build without debug mode at all is a
//! before/after across commits; see BENCHMARKS.md.)

use asyncio_benches::{time_on, Asyncio, AsyncioDebug, Config, Runtime, Summary};

/// ns per task: spawn `n` tasks, then await them all, on the loop `R`
/// ([`Asyncio`] or [`AsyncioDebug`]: debug mode off or on, with a
/// slow-callback threshold no poll reaches, so that the bookkeeping is
/// measured, not reports).
fn spawn_await<R: Runtime>(n: usize) -> f64 {
    let took = time_on::<R, _>(async move {
        let mut tasks = Vec::with_capacity(n);
        for i in 0..n {
            tasks.push(asyncio::create_task(async move { i }));
        }
        for t in tasks {
            std::hint::black_box(t.await.unwrap());
        }
    });
    took.as_nanos() as f64 / n as f64
}

/// ns per yield: two tasks yielding to each other `n` times each, on the
/// loop `R`.
fn yield_pingpong<R: Runtime>(n: usize) -> f64 {
    let took = time_on::<R, _>(async move {
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
    });
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
    type Workload = fn(usize) -> f64;
    // Name, debug mode off, debug mode on, full size.
    let workloads: [(&str, Workload, Workload, usize); 2] = [
        (
            "spawn_await",
            spawn_await::<Asyncio>,
            spawn_await::<AsyncioDebug>,
            200_000,
        ),
        (
            "yield_pingpong",
            yield_pingpong::<Asyncio>,
            yield_pingpong::<AsyncioDebug>,
            500_000,
        ),
    ];
    for (name, f_off, f_on, full) in workloads {
        if !cfg.selected(name) {
            continue;
        }
        let n = cfg.size(full);
        f_off(n); // warm-up
        f_on(n);
        let (mut off, mut on) = (Vec::new(), Vec::new());
        for _ in 0..cfg.rounds {
            off.push(f_off(n));
            on.push(f_on(n));
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
