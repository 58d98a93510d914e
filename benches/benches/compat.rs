//! Calling tokio from the loop: what `asyncio::compat::run_on_tokio` costs
//! per call (feature `tokio-compat`). Run with `cargo bench -p
//! asyncio-benches --bench compat` (`BENCH_SMOKE=1` or `-- --smoke` for a
//! seconds-long CI run, `BENCH_ROUNDS=N` for the number of rounds, `-- NAME`
//! to run only workloads whose name contains NAME).
//!
//! A call is `run_on_tokio(async move { i })` awaited on asyncio's loop: a
//! spawn onto the background runtime (one worker thread, the default), the
//! worker's wake, the loop's wake with the result. Beside it, for scale:
//! - `asyncio::to_thread(move || i)`: the same two hand-offs to a pool
//!   thread and back, asyncio's other way off the loop;
//! - the same hop done by tokio alone: a tokio current-thread runtime that
//!   spawns onto a separate multi-thread runtime of one worker and awaits
//!   the `JoinHandle` (what a tokio program pays to use a second runtime);
//! - no hop: `tokio::spawn(async move { i })` awaited from a task on that
//!   one worker (both on the same thread): tokio's floor for a spawn and a
//!   join, what the call costs when you are already on tokio.
//!
//! Each cell gives the wall time per call and the CPU time per call (every
//! thread of the process: the loop's and tokio's, from the scheduler's
//! per-thread counters, `/proc/self/task/*/schedstat`). The columns take
//! turns round-robin. The loop, the to_thread pool and the tokio
//! current-thread runtime are built afresh per sample; the two background
//! runtimes (asyncio's compat runtime and the tokio peer's) are
//! process-wide, as they are in use, and started before the first sample.
//! The compat runtime's start is timed once, apart, as the first call of
//! the process.
//!
//! The one-at-a-time rows are bimodal on a 2-core machine, as the executor
//! bench's are: a hand-off to a thread on the same core is a switch, to one
//! on the other core the kernel's cross-core wake (~33 µs,
//! `shared/PERF_FLOORS.md`). Read the [min–max] spread.

#![forbid(unsafe_code)]

use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use asyncio::compat::run_on_tokio;
use asyncio_benches::report::{cores, heading};
use asyncio_benches::{Asyncio, Config, CpuUsage, Runtime, Summary, Table, TokioCt};

/// The tokio peer's second runtime: a multi-thread runtime of one worker,
/// started once, as asyncio's compat runtime is.
fn peer_runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("the tokio peer's runtime")
    })
}

/// One sample: wall time and CPU time (every thread's, in ns) of `body`.
#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu_ns: u64,
}

/// Runs `body` after `warm` and measures `body` alone (the CPU counters are
/// read at its two ends, on the thread that awaits it).
async fn measured(warm: impl Future<Output = ()>, body: impl Future<Output = ()>) -> Sample {
    warm.await;
    let cpu = CpuUsage::now();
    let start = Instant::now();
    body.await;
    let wall = start.elapsed();
    Sample {
        wall,
        cpu_ns: CpuUsage::now().since(&cpu).on_cpu_ns,
    }
}

/// `n` calls in batches of `size` through `call`: a batch is started at
/// once, then its results awaited in order (size 1: one at a time).
async fn batches<F, Fut>(n: u64, size: u64, call: F)
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = u64>,
{
    let mut start = 0;
    while start < n {
        let len = size.min(n - start);
        let pending: Vec<Fut> = (start..start + len).map(&call).collect();
        for (i, f) in (start..).zip(pending) {
            assert_eq!(f.await, i, "wrong result");
        }
        start += len;
    }
}

// Each call starts its work when called (not when first awaited), so that a
// batch is in flight at once; the returned future only collects the result.

fn compat_call(i: u64) -> impl Future<Output = u64> {
    let call = run_on_tokio(async move { i });
    async move { call.await.expect("run_on_tokio") }
}

fn to_thread_call(i: u64) -> impl Future<Output = u64> {
    let job = asyncio::to_thread(move || i);
    async move { job.await.expect("to_thread") }
}

fn peer_call(i: u64) -> impl Future<Output = u64> {
    let task = peer_runtime().spawn(async move { i });
    async move { task.await.expect("spawn") }
}

fn local_spawn_call(i: u64) -> impl Future<Output = u64> {
    let task = tokio::spawn(async move { i });
    async move { task.await.expect("spawn") }
}

/// The columns, in order.
const COLUMNS: [&str; 4] = [
    "asyncio run_on_tokio",
    "asyncio to_thread",
    "tokio-ct -> tokio-mt(1) spawn",
    "tokio-mt(1) spawn, same thread",
];

/// One sample of column `col`: `n` calls in batches of `size`, after `warm`
/// calls in batches of `size.min(warm)`.
fn sample(col: usize, n: u64, size: u64, warm: u64) -> Sample {
    let warm_size = size.min(warm).max(1);
    match col {
        0 => Asyncio::new().block_on(measured(
            batches(warm, warm_size, compat_call),
            batches(n, size, compat_call),
        )),
        1 => Asyncio::new().block_on(measured(
            batches(warm, warm_size, to_thread_call),
            batches(n, size, to_thread_call),
        )),
        2 => TokioCt::new().block_on(measured(
            batches(warm, warm_size, peer_call),
            batches(n, size, peer_call),
        )),
        3 => {
            // The whole body runs as a task on the worker, so that its
            // spawns and joins stay on that thread.
            let rt = peer_runtime();
            rt.block_on(rt.spawn(measured(
                batches(warm, warm_size, local_spawn_call),
                batches(n, size, local_spawn_call),
            )))
            .expect("the measuring task")
        }
        _ => unreachable!(),
    }
}

struct Workload {
    name: &'static str,
    n: u64,
    size: u64,
    note: String,
}

fn main() {
    let cfg = Config::from_env();

    // First of all: the process's first call, which starts the runtime.
    let cold = Asyncio::new().block_on(async {
        let start = Instant::now();
        assert_eq!(compat_call(1).await, 1);
        start.elapsed()
    });
    peer_runtime();

    let warm = if cfg.smoke { 10 } else { 200 };
    let seq_n = cfg.size(20_000) as u64;
    let batch_n = cfg.size(100_000) as u64;
    let batch_size = 100.min(batch_n);
    let workloads = [
        Workload {
            name: "call_seq",
            n: seq_n,
            size: 1,
            note: format!(
                "{seq_n} calls one after the other, each awaited before the next starts: the round-trip \
                 latency (loop -> tokio worker -> loop)"
            ),
        },
        Workload {
            name: "call_batch100",
            n: batch_n,
            size: batch_size,
            note: format!(
                "{batch_n} calls in batches of {batch_size}: a batch started at once, its results awaited in \
                 order: the cost per call when calls overlap (the wakes are shared)"
            ),
        },
    ];

    let selected: Vec<&Workload> = workloads.iter().filter(|w| cfg.selected(w.name)).collect();
    if selected.is_empty() {
        eprintln!("no workload matches {:?}", cfg.filters);
        return;
    }

    let mut results = Vec::new();
    for w in &selected {
        let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); COLUMNS.len()];
        for round in 0..cfg.rounds {
            // Round-robin, starting at a different column each round.
            for k in 0..COLUMNS.len() {
                let col = (round + k) % COLUMNS.len();
                samples[col].push(sample(col, w.n, w.size, warm));
            }
        }
        let per_call = |col: usize| {
            let wall: Vec<Duration> = samples[col].iter().map(|s| s.wall).collect();
            let cpu: Vec<f64> = samples[col].iter().map(|s| s.cpu_ns as f64 / w.n as f64).collect();
            (Summary::per_op_ns(&wall, w.n), Summary::of(&cpu))
        };
        let sums: Vec<(Summary, Summary)> = (0..COLUMNS.len()).map(per_call).collect();
        eprintln!("{}: done", w.name);
        results.push((w, sums));
    }

    heading(&format!(
        "Calling tokio from the loop: ns per call, wall | CPU (all threads), median [min–max] of {} rounds",
        cfg.rounds
    ));
    println!("{}; {} cores; lower is better.", cfg.sizes_label(), cores());
    println!();
    let mut header = vec!["workload".to_owned()];
    header.extend(COLUMNS.iter().map(|c| (*c).to_owned()));
    let mut table = Table::new(&header);
    for (w, sums) in &results {
        let mut cells = vec![format!("{} (wall)", w.name)];
        cells.extend(sums.iter().map(|(wall, _)| wall.display()));
        table.row(cells);
        let mut cells = vec![format!("{} (CPU)", w.name)];
        cells.extend(sums.iter().map(|(_, cpu)| cpu.display()));
        table.row(cells);
    }
    print!("{}", table.render());
    println!();
    println!(
        "First call of the process (starts the background runtime: its worker thread, epoll, timers): {:.0} µs \
         (one sample).",
        cold.as_secs_f64() * 1e6
    );
    println!();
    for (w, _) in &results {
        println!("- {}: {}", w.name, w.note);
    }
}
