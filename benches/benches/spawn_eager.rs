//! Eager against lazy task start: `create_task` + await of a future that is
//! ready at once, on asyncio with eager tasks, asyncio's ordinary (lazy)
//! path, tokio's current-thread runtime and smol's `LocalExecutor` (both
//! lazy: neither has an eager start). Wall time and CPU time per task (the
//! process's, every thread, from the scheduler's counters), from one
//! interleaved run (each round runs every column once, in turn); on a
//! loaded machine the CPU column is the steadier one.
//!
//! ```text
//! cargo bench -p asyncio-benches --bench spawn_eager            # the table
//! cargo bench -p asyncio-benches --bench spawn_eager -- --smoke # quick check
//! BIN cg WORKLOAD N                                             # one run, for callgrind
//!   WORKLOAD  spawn | spawn-ctx | wake | wake-ctx | spawn-eager | get-ctx | set-ctx
//! ```
//!
//! The `cg` mode runs one workload at one size under asyncio and nothing
//! else, for instruction counts (as `benches/callgrind.sh` does with the
//! `instructions` target): `spawn` and `wake` are the `instructions`
//! target's workloads (N empty tasks spawned then awaited; one task yielding
//! N times), `spawn-ctx` and `wake-ctx` the same with one context variable
//! set in the spawning or yielding task, `spawn-eager` the `spawn` workload
//! on a loop with eager tasks, `get-ctx` and `set-ctx` N reads or sets of
//! that variable in one task.

#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use asyncio_benches::{
    fmt_num, fmt_ratio, Asyncio, AsyncioEager, Config, CpuUsage, Runtime, SmolLocal, Summary, Table, TokioCt,
};

/// A context variable, set in the `-ctx` workloads.
static REQUEST: asyncio::ContextVar<u64> = asyncio::ContextVar::new("request");

/// One measured run: wall time and CPU time (the process's, all threads)
/// of the root future's body.
struct Sample {
    wall: Duration,
    cpu_ns: u64,
}

fn measure<R: Runtime, F: std::future::Future<Output = u64>>(mut rt: R, n: usize, body: F) -> Sample {
    let (wall, cpu_ns, sum) = rt.block_on(async move {
        let cpu0 = CpuUsage::now().on_cpu_ns;
        let start = Instant::now();
        let sum = body.await;
        let wall = start.elapsed();
        let cpu1 = CpuUsage::now().on_cpu_ns;
        (wall, cpu1.saturating_sub(cpu0), sum)
    });
    drop(rt);
    assert_eq!(sum, (n as u64) * (n as u64 - 1) / 2, "every task ran once");
    Sample { wall, cpu_ns }
}

/// `n` tasks, each created and awaited before the next: `batch` at a time.
async fn asyncio_spawn_await(n: usize, batch: usize) -> u64 {
    let mut sum = 0;
    let mut handles = Vec::with_capacity(batch);
    for start in (0..n).step_by(batch) {
        for i in start..(start + batch).min(n) {
            handles.push(asyncio::create_task(async move { i as u64 }));
        }
        for h in handles.drain(..) {
            sum += h.await.unwrap();
        }
    }
    sum
}

async fn tokio_spawn_await(n: usize, batch: usize) -> u64 {
    let mut sum = 0;
    let mut handles = Vec::with_capacity(batch);
    for start in (0..n).step_by(batch) {
        for i in start..(start + batch).min(n) {
            handles.push(tokio::task::spawn(async move { i as u64 }));
        }
        for h in handles.drain(..) {
            sum += h.await.unwrap();
        }
    }
    sum
}

async fn smol_spawn_await(n: usize, batch: usize) -> u64 {
    let mut sum = 0;
    let mut handles = Vec::with_capacity(batch);
    for start in (0..n).step_by(batch) {
        for i in start..(start + batch).min(n) {
            handles.push(SmolLocal::spawn(async move { i as u64 }));
        }
        for h in handles.drain(..) {
            sum += h.await;
        }
    }
    sum
}

/// The lazy column is asyncio's ordinary loop, named for this table.
const COLUMNS: [&str; 4] = [AsyncioEager::NAME, "asyncio lazy", TokioCt::NAME, SmolLocal::NAME];

/// Runs column `col` once. The workload runs in a spawned task on every
/// runtime (tokio's and smol's root future is polled by `block_on`, not as
/// a task, and is woken another way).
fn run_column(col: usize, n: usize, batch: usize) -> Sample {
    match col {
        0 => measure(AsyncioEager::new(), n, async move {
            asyncio::create_task(asyncio_spawn_await(n, batch)).await.unwrap()
        }),
        1 => measure(Asyncio::new(), n, async move {
            asyncio::create_task(asyncio_spawn_await(n, batch)).await.unwrap()
        }),
        2 => measure(TokioCt::new(), n, async move {
            tokio::task::spawn(tokio_spawn_await(n, batch)).await.unwrap()
        }),
        _ => measure(SmolLocal::new(), n, async move {
            SmolLocal::spawn(smol_spawn_await(n, batch)).await
        }),
    }
}

/// The callgrind mode: one workload, one size, asyncio only.
fn cg(workload: &str, n: usize) {
    let eager = workload == "spawn-eager";
    let mut runner = asyncio::Runner::new().debug(false).eager_tasks(eager);
    let with_ctx = workload.ends_with("-ctx");
    runner.run(async move {
        if with_ctx {
            REQUEST.set(42);
        }
        match workload {
            "spawn" | "spawn-ctx" | "spawn-eager" => {
                let handles: Vec<_> = (0..n).map(|_| asyncio::create_task(async {})).collect();
                for h in handles {
                    h.await.unwrap();
                }
            }
            "wake" | "wake-ctx" => {
                let worker = asyncio::create_task(async move {
                    for _ in 0..n {
                        asyncio::yield_now().await;
                    }
                });
                worker.await.unwrap();
            }
            "get-ctx" | "set-ctx" => {
                // One variable read (or set) N times in a task.
                let set = workload == "set-ctx";
                let worker = asyncio::create_task(async move {
                    let mut sum = 0u64;
                    for i in 0..n as u64 {
                        if set {
                            REQUEST.set(i);
                        } else {
                            sum += REQUEST.get().unwrap_or(0);
                        }
                    }
                    std::hint::black_box(sum);
                });
                worker.await.unwrap();
            }
            other => panic!(
                "unknown workload {other:?} (spawn | spawn-ctx | wake | wake-ctx | spawn-eager | get-ctx | set-ctx)"
            ),
        }
    });
    runner.close();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("cg") {
        let workload = args.get(1).expect("cg WORKLOAD N");
        let n = args.get(2).and_then(|s| s.parse().ok()).expect("cg WORKLOAD N");
        cg(workload, n);
        return;
    }
    let cfg = Config::from_env();
    let n = cfg.size(200_000);
    let warm = cfg.size(5_000).max(10);
    let workloads = [
        (
            "spawn_await_one",
            1,
            "create_task(ready future), then await it, one task at a time",
        ),
        (
            "spawn_await_batch100",
            100,
            "100 create_task(ready future), then the 100 handles awaited in order",
        ),
    ];
    println!(
        "# Eager against lazy task start ({n} tasks per run, {} rounds, interleaved)\n",
        cfg.rounds
    );
    for (name, batch, what) in workloads {
        if !cfg.selected(name) {
            continue;
        }
        // Warm every column once (page faults, allocator), unmeasured.
        for col in 0..COLUMNS.len() {
            run_column(col, warm, batch);
        }
        let mut wall: Vec<Vec<Duration>> = vec![Vec::new(); COLUMNS.len()];
        let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); COLUMNS.len()];
        // Round-robin, the first column rotating from round to round (the
        // harness's fairness rule: no runtime always runs first).
        for round in 0..cfg.rounds {
            for k in 0..COLUMNS.len() {
                let col = (round + k) % COLUMNS.len();
                let s = run_column(col, n, batch);
                wall[col].push(s.wall);
                cpu[col].push(s.cpu_ns as f64 / n as f64);
            }
        }
        println!("## {name}: {what}\n");
        let mut table = Table::new(&[
            "runtime",
            "wall ns/task (median)",
            "range",
            "CPU ns/task (median)",
            "wall / asyncio eager",
            "CPU / asyncio eager",
        ]);
        let eager = Summary::per_op_ns(&wall[0], n as u64).median;
        let eager_cpu = Summary::of(&cpu[0]).median;
        for col in 0..COLUMNS.len() {
            let w = Summary::per_op_ns(&wall[col], n as u64);
            let c = Summary::of(&cpu[col]);
            table.row(vec![
                COLUMNS[col].to_string(),
                fmt_num(w.median),
                format!("{}–{}", fmt_num(w.min), fmt_num(w.max)),
                fmt_num(c.median),
                fmt_ratio(w.median / eager),
                fmt_ratio(c.median / eager_cpu),
            ]);
        }
        println!("{}", table.render());
    }
}
