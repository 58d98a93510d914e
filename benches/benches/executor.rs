//! Executors: blocking calls on a thread pool and jobs in worker processes.
//! Run with `cargo bench -p asyncio-benches --bench executor` (`BENCH_SMOKE=1`
//! or `-- --smoke` for a seconds-long CI run, `BENCH_ROUNDS=N` for the number
//! of rounds, `-- NAME` to run only workloads whose name contains NAME).
//!
//! Two tables:
//! - **to_thread against its peers**: a trivial closure (`move || i`) sent to
//!   the runtime's pool for blocking calls and its result awaited, one at a
//!   time (the round-trip latency) and many at once (the cost per job), under
//!   `asyncio::to_thread`, tokio's `spawn_blocking` on a current-thread
//!   runtime and smol's `blocking::unblock` on a `LocalExecutor`. The three
//!   runtimes take turns round-robin as in the `compare` bench, and the ratio
//!   table divides a peer's median by asyncio's (> 1: asyncio is faster).
//! - **asyncio's pools alone**: a `ThreadPoolExecutor` and a
//!   `ProcessPoolExecutor` of 2 workers (a tiny registered function,
//!   `add_one(u64) -> u64`), each awaited on asyncio's loop and waited for
//!   with `JobHandle::result` from a plain thread, the two taking turns.
//!   Neither tokio nor smol has a process pool, so these are absolute figures.
//!
//! Worker processes are this binary started again: `main` calls
//! `asyncio::executor::worker_entry()` first, which in a worker serves jobs
//! and exits.
//!
//! The one-at-a-time rows are bimodal on a 2-core machine: when the pool
//! thread runs on the loop's core a hand-off is a same-core switch and a
//! round trip takes ~10 µs; on the other core each direction pays the
//! kernel's cross-core wake (~33 µs, `shared/PERF_FLOORS.md`) and it takes
//! ~70–110 µs. Where the scheduler puts the threads is drawn anew with every
//! fresh pool, so read the [min–max] spread; `taskset -c 0` gives the
//! same-core figures.

#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use asyncio::executor::{run_in_executor, ProcessPoolExecutor, ThreadPoolExecutor};
use asyncio_benches::report::{cores, heading, print_ratio_table, summary_cells, summary_header, summary_table, Row};
use asyncio_benches::{
    fmt_num, fmt_ratio, measure, per_runtime, runtime_modules, time_after, Asyncio, Config, Run, Runtime, SmolLocal,
    Summary, Table, TokioCt,
};

/// The process pool's job: as small as a job gets, so that the figures are
/// the pool's own cost.
fn add_one(x: u64) -> u64 {
    x + 1
}

/// Holds a worker busy for `ms` milliseconds: the warm-up's way of making
/// every manager thread take a job, and so start its worker process.
fn hold(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

asyncio::process_fn!(add_one, hold);

/// The columns of the first table, in order.
const PEER_NAMES: [&str; 3] = [Asyncio::NAME, TokioCt::NAME, SmolLocal::NAME];

/// The columns of the second table, in order.
const WAITER_NAMES: [&str; 2] = ["on asyncio's loop (await)", "plain thread (.result())"];

/// The thread-pool workloads, written once over the runtime alias `R` and
/// its `spawn_blocking` (asyncio: `to_thread`; tokio: `spawn_blocking`; smol:
/// `blocking::unblock`). Each sample builds a fresh runtime and first runs
/// `warm` jobs at once, untimed, so that every pool has its threads started
/// (smol's pool is global to the process and may still be warm from the last
/// sample; tokio's and asyncio's belong to the runtime).
macro_rules! offload_workloads {
    ($rt:ty) => {
        use std::time::Duration;

        use asyncio_benches::time_after;

        type R = $rt;

        /// Submits jobs `start..start + len` at once, then awaits each in
        /// order and checks its result.
        async fn batch(start: u64, len: u64) {
            let handles: Vec<_> = (start..start + len)
                .map(|i| R::spawn_blocking(move || i))
                .collect();
            for (i, h) in (start..).zip(handles) {
                assert_eq!(h.await, i, "wrong result");
            }
        }

        /// `n` jobs in batches of `size`: a batch is submitted at once and
        /// awaited in order before the next is submitted.
        async fn batches_of(n: u64, size: u64) {
            let mut start = 0;
            while start < n {
                let len = size.min(n - start);
                batch(start, len).await;
                start += len;
            }
        }

        /// `n` jobs one after the other: each submitted once the previous
        /// one's result is back. The warm-up is `warm` jobs of the same shape.
        pub fn sequential(n: usize, warm: usize) -> Duration {
            time_after::<R, _, _>(batches_of(warm as u64, 1), async move {
                for i in 0..n as u64 {
                    assert_eq!(R::spawn_blocking(move || i).await, i, "wrong result");
                }
            })
        }

        /// `n` jobs in batches of `size` (see `batches_of`). The warm-up is
        /// `warm` jobs in batches of `size.min(warm)`.
        pub fn batches(n: usize, size: usize, warm: usize) -> Duration {
            let (n, size, warm) = (n as u64, size as u64, warm as u64);
            time_after::<R, _, _>(batches_of(warm, size.min(warm)), batches_of(n, size))
        }
    };
}

runtime_modules!(offload_workloads: rt_asyncio = Asyncio, rt_tokio_ct = TokioCt, rt_smol_local = SmolLocal);

/// One [`Run`] per runtime of the first table (in [`PEER_NAMES`] order)
/// calling the same workload function with the same arguments.
macro_rules! peers {
    ($f:ident $args:tt) => {
        Vec::from(per_runtime!($f $args in rt_asyncio, rt_tokio_ct, rt_smol_local))
    };
}

/// How a row of the second table shows its samples.
#[derive(Clone, Copy)]
enum Unit {
    /// Nanoseconds per job (the first table), with its label.
    Ns(&'static str),
    /// Microseconds per job.
    UsPerRoundTrip,
    /// Jobs per second.
    JobsPerSec,
    /// Milliseconds per sample (one operation).
    Ms,
}

impl Unit {
    fn label(self) -> &'static str {
        match self {
            Unit::Ns(label) => label,
            Unit::UsPerRoundTrip => "µs/round trip",
            Unit::JobsPerSec => "jobs/s",
            Unit::Ms => "ms",
        }
    }

    fn summarise(self, samples: &[Duration], ops: u64) -> Summary {
        match self {
            Unit::Ns(_) => Summary::per_op_ns(samples, ops),
            Unit::UsPerRoundTrip => Summary::per_op_ns(samples, ops).scaled(1e-3),
            Unit::JobsPerSec => Summary::per_sec(samples, ops),
            Unit::Ms => Summary::per_op_ns(samples, ops).scaled(1e-6),
        }
    }
}

struct Workload<'a> {
    name: &'static str,
    unit: Unit,
    /// Operations per run.
    ops: u64,
    /// How the workload is built, printed under the tables.
    note: String,
    /// One per column.
    runs: Vec<Run<'a>>,
}

/// Measures every selected row of `rows` (its columns titled `columns`): the
/// row and its figures, for the tables.
fn measure_rows<'w>(rows: &'w [Workload<'_>], columns: &[&str], cfg: &Config) -> Vec<(&'w Workload<'w>, Row)> {
    rows.iter()
        .filter(|w| cfg.selected(w.name))
        .map(|w| {
            let sums = measure(w.name, columns, &w.runs, cfg.rounds, w.unit.label(), |s| {
                w.unit.summarise(s, w.ops)
            });
            let row = Row {
                name: w.name.to_owned(),
                unit: w.unit.label().to_owned(),
                sums,
            };
            (w, row)
        })
        .collect()
}

/// Builds a thread pool of `threads`, sends `warm` jobs through it one by
/// one from this thread, then runs `body` on it and shuts it down, waiting
/// for its threads (only `body` is timed, by itself). A fresh pool per
/// sample, as the runtimes above get: which core its threads land on is
/// drawn anew each time.
fn with_thread_pool(threads: usize, warm: usize, body: impl FnOnce(&ThreadPoolExecutor) -> Duration) -> Duration {
    let pool = ThreadPoolExecutor::new(threads);
    for i in 0..warm as u64 {
        assert_eq!(pool.submit(move || i).result().expect("warm-up job"), i);
    }
    let took = body(&pool);
    pool.shutdown(true, false);
    took
}

/// Builds a process pool of `workers`, starts every worker, then runs `body`
/// on it and shuts it down, waiting for the workers to be reaped (only
/// `body` is timed). Jobs submitted at once find no idle manager thread, so
/// each of the first `workers` submits starts one; a manager starts its
/// worker process at its first job, and each job holds its worker for a
/// while so that no manager takes them all.
fn with_process_pool(workers: usize, body: impl FnOnce(&ProcessPoolExecutor) -> Duration) -> Duration {
    let pool = ProcessPoolExecutor::new(workers).expect("main calls the worker hook");
    for _ in 0..10 {
        let warm: Vec<_> = (0..workers).map(|_| pool.submit(hold, 20)).collect();
        for h in warm {
            assert_eq!(h.result().expect("warm-up job"), 20);
        }
        if pool.worker_pids().len() == workers {
            break;
        }
    }
    assert_eq!(pool.worker_pids().len(), workers, "a worker did not start");
    for i in 0..10 {
        assert_eq!(pool.submit(add_one, i).result().expect("warm-up job"), i + 1);
    }
    let took = body(&pool);
    pool.shutdown(true, false);
    took
}

/// `n` jobs on `pool`, one after the other, awaited on a fresh asyncio loop
/// (`run_in_executor`).
fn thread_pool_seq_loop(pool: &ThreadPoolExecutor, n: usize) -> Duration {
    let pool = pool.clone();
    time_after::<Asyncio, _, _>(async {}, async move {
        for i in 0..n as u64 {
            assert_eq!(run_in_executor(&pool, move || i).await.expect("job"), i);
        }
    })
}

/// `n` jobs on `pool`, one after the other, waited for from this thread.
fn thread_pool_seq_thread(pool: &ThreadPoolExecutor, n: usize) -> Duration {
    let start = Instant::now();
    for i in 0..n as u64 {
        assert_eq!(pool.submit(move || i).result().expect("job"), i);
    }
    start.elapsed()
}

/// `n` jobs in the worker processes, one after the other, awaited on a fresh
/// asyncio loop.
fn process_seq_loop(pool: &ProcessPoolExecutor, n: usize) -> Duration {
    let pool = pool.clone();
    time_after::<Asyncio, _, _>(async {}, async move {
        for i in 0..n as u64 {
            assert_eq!(pool.run(add_one, i).await.expect("job"), i + 1);
        }
    })
}

/// `n` jobs in the worker processes, one after the other, waited for from
/// this thread.
fn process_seq_thread(pool: &ProcessPoolExecutor, n: usize) -> Duration {
    let start = Instant::now();
    for i in 0..n as u64 {
        assert_eq!(pool.submit(add_one, i).result().expect("job"), i + 1);
    }
    start.elapsed()
}

/// `n` jobs submitted at once from a fresh asyncio loop, then awaited in
/// order.
fn process_inflight_loop(pool: &ProcessPoolExecutor, n: usize) -> Duration {
    let pool = pool.clone();
    time_after::<Asyncio, _, _>(async {}, async move {
        let handles: Vec<_> = (0..n as u64).map(|i| pool.run(add_one, i)).collect();
        for (i, h) in (0..).zip(handles) {
            assert_eq!(h.await.expect("job"), i + 1);
        }
    })
}

/// `n` jobs submitted at once from this thread, then waited for in order.
fn process_inflight_thread(pool: &ProcessPoolExecutor, n: usize) -> Duration {
    let start = Instant::now();
    let handles: Vec<_> = (0..n as u64).map(|i| pool.submit(add_one, i)).collect();
    for (i, h) in (0..).zip(handles) {
        assert_eq!(h.result().expect("job"), i + 1);
    }
    start.elapsed()
}

/// A new pool of 2 workers and its first job, awaited on a fresh asyncio
/// loop; the pool is then shut down and its workers reaped (not timed).
fn process_cold_loop() -> Duration {
    let mut rt = Asyncio::new();
    let (took, pool) = rt.block_on(async {
        let start = Instant::now();
        let pool = ProcessPoolExecutor::new(2).expect("main calls the worker hook");
        assert_eq!(pool.run(add_one, 1).await.expect("job"), 2);
        (start.elapsed(), pool)
    });
    drop(rt);
    pool.shutdown(true, false);
    took
}

/// As [`process_cold_loop`], waited for from this thread.
fn process_cold_thread() -> Duration {
    let start = Instant::now();
    let pool = ProcessPoolExecutor::new(2).expect("main calls the worker hook");
    assert_eq!(pool.submit(add_one, 1).result().expect("job"), 2);
    let took = start.elapsed();
    pool.shutdown(true, false);
    took
}

fn main() {
    // First: in a worker process this serves jobs and never returns.
    asyncio::executor::worker_entry();

    let cfg = Config::from_env();

    let warm = if cfg.smoke { 10 } else { 100 };
    let seq_n = cfg.size(3_000);
    let batch_n = cfg.size(50_000);
    let batch_size = 100.min(batch_n);
    let burst_n = cfg.size(10_000);
    // One thread: the hand-off itself, without the pool's choice of which
    // idle thread to wake.
    let pool_threads = 1;
    let pool_seq_n = cfg.size(3_000);
    let workers = 2;
    let proc_seq_n = cfg.size(2_000);
    let proc_inflight_n = cfg.size(20_000);

    // ---------------------------------------------------------------------
    // to_thread against spawn_blocking and unblock
    // ---------------------------------------------------------------------

    let peer_rows = [
        Workload {
            name: "to_thread_seq",
            unit: Unit::Ns("ns/round trip"),
            ops: seq_n as u64,
            note: format!(
                "{seq_n} jobs (move || i) one after the other, each awaited before the next is submitted: \
                 the round-trip latency (loop -> pool thread -> loop); bimodal, see the note on core placement below"
            ),
            runs: peers!(sequential(seq_n, warm)),
        },
        Workload {
            name: "to_thread_batch100",
            unit: Unit::Ns("ns/job"),
            ops: batch_n as u64,
            note: format!(
                "{batch_n} jobs in batches of {batch_size}: a batch is submitted at once, its handles awaited in \
                 order, then the next batch (the shape of PERF_FLOORS.md's 'to_thread, batches of 100')"
            ),
            runs: peers!(batches(batch_n, batch_size, warm)),
        },
        Workload {
            name: "to_thread_burst10k",
            unit: Unit::Ns("ns/job"),
            ops: burst_n as u64,
            note: format!(
                "{burst_n} jobs submitted at once, then their handles awaited in order: how each pool grows \
                 under a burst (asyncio's default pool has min(32, cpus + 4) threads, tokio's blocking pool \
                 up to 512, blocking's up to 500, started while the queue outgrows the idle threads)"
            ),
            runs: peers!(batches(burst_n, burst_n, warm)),
        },
    ];

    let peer_results = measure_rows(&peer_rows, &PEER_NAMES, &cfg);

    // ---------------------------------------------------------------------
    // asyncio's pools alone: awaited on the loop, or waited for by a thread
    // ---------------------------------------------------------------------

    let mut pool_rows: Vec<Workload> = vec![
        Workload {
            name: "thread_pool_seq",
            unit: Unit::UsPerRoundTrip,
            ops: pool_seq_n as u64,
            note: format!(
                "{pool_seq_n} jobs (move || i) one after the other on a fresh ThreadPoolExecutor of {pool_threads} \
                 thread per sample (warmed with {warm} jobs): run_in_executor awaited on a fresh loop, or \
                 submit(..).result() from the main thread; the hand-off itself, through one thread (to_thread's \
                 default pool may grow to several under sequential jobs: a finishing worker wakes the loop before \
                 it counts itself idle, so a quick enough next submit starts another thread)"
            ),
            runs: vec![
                Box::new(move || with_thread_pool(pool_threads, warm, |p| thread_pool_seq_loop(p, pool_seq_n)))
                    as Run<'_>,
                Box::new(move || with_thread_pool(pool_threads, warm, |p| thread_pool_seq_thread(p, pool_seq_n))),
            ],
        },
        Workload {
            name: "process_seq",
            unit: Unit::UsPerRoundTrip,
            ops: proc_seq_n as u64,
            note: format!(
                "{proc_seq_n} jobs add_one(i) one after the other on a fresh ProcessPoolExecutor of {workers} \
                 workers per sample (both started before timing): pool.run(..).await on a fresh loop, or \
                 pool.submit(..).result() from the main thread. A round trip is four hand-offs: caller -> \
                 manager thread (condition variable), manager -> worker process and back (socket), manager -> \
                 caller"
            ),
            runs: vec![
                Box::new(move || with_process_pool(workers, |p| process_seq_loop(p, proc_seq_n))) as Run<'_>,
                Box::new(move || with_process_pool(workers, |p| process_seq_thread(p, proc_seq_n))),
            ],
        },
        Workload {
            name: "process_inflight",
            unit: Unit::JobsPerSec,
            ops: proc_inflight_n as u64,
            note: format!(
                "{proc_inflight_n} jobs add_one(i) submitted at once to a fresh pool of {workers} workers (started \
                 before timing), then awaited (or .result()) in order: throughput with every worker busy; each \
                 worker has one job in flight at a time (its manager thread writes a job, blocks on the reply)"
            ),
            runs: vec![
                Box::new(move || with_process_pool(workers, |p| process_inflight_loop(p, proc_inflight_n))) as Run<'_>,
                Box::new(move || with_process_pool(workers, |p| process_inflight_thread(p, proc_inflight_n))),
            ],
        },
    ];
    pool_rows.push(Workload {
        name: "process_cold_start",
        unit: Unit::Ms,
        ops: 1,
        note: format!(
            "ProcessPoolExecutor::new({workers}) and its first job add_one(1): starting one worker process (this \
             binary again, through worker_entry) and its hello; the shutdown that reaps it is not timed"
        ),
        runs: vec![Box::new(process_cold_loop) as Run<'_>, Box::new(process_cold_thread)],
    });

    let pool_results = measure_rows(&pool_rows, &WAITER_NAMES, &cfg);

    if peer_results.is_empty() && pool_results.is_empty() {
        eprintln!("no workload matches {:?}", cfg.filters);
        return;
    }

    // ---------------------------------------------------------------------
    // Report
    // ---------------------------------------------------------------------

    let (mode, cores) = (cfg.sizes_label(), cores());

    if !peer_results.is_empty() {
        let rows: Vec<Row> = peer_results.iter().map(|(_, row)| row.clone()).collect();
        heading(&format!(
            "to_thread vs tokio spawn_blocking vs smol unblock: ns per job, median [min–max] of {} rounds",
            cfg.rounds
        ));
        println!("{mode}; {cores} cores; lower is better; every loop single-threaded.");
        println!();
        print!("{}", summary_table(&PEER_NAMES, &rows).render());
        print_ratio_table(&PEER_NAMES, &rows);
    }

    if !pool_results.is_empty() {
        heading(&format!(
            "asyncio's thread and process pools (no tokio or smol peer): median [min–max] of {} rounds",
            cfg.rounds
        ));
        println!(
            "{mode}; {cores} cores; jobs/s: higher is better, the rest lower. \
             Cross-thread wake floor here ~33 µs one way (shared/PERF_FLOORS.md)."
        );
        println!();
        let mut header = summary_header(&WAITER_NAMES);
        header.push("thread / loop".to_owned());
        let mut table = Table::new(&header);
        for (w, row) in &pool_results {
            let mut cells = summary_cells(row);
            let sums = &row.sums;
            // Above 1: the loop is faster, whatever the unit.
            let speedup = match w.unit {
                Unit::JobsPerSec => sums[0].median / sums[1].median,
                _ => sums[1].median / sums[0].median,
            };
            cells.push(fmt_ratio(speedup));
            table.row(cells);
        }
        print!("{}", table.render());
        if let Some((_, row)) = pool_results.iter().find(|(w, _)| w.name == "process_inflight") {
            println!();
            println!(
                "process_inflight: {} µs per job on the loop, {} µs from a thread ({workers} workers).",
                fmt_num(1e6 / row.sums[0].median),
                fmt_num(1e6 / row.sums[1].median)
            );
        }
    }

    println!();
    println!("Workloads:");
    for (w, _) in peer_results.iter().chain(&pool_results) {
        println!("- {}: {}.", w.name, w.note);
    }
    println!(
        "Each loop is built before and dropped after each timed run (neither is timed); time is taken inside \
         the root future. Every to_thread sample first runs {warm} jobs at once, untimed, so that each pool has \
         threads started (tokio's and asyncio's pools belong to the runtime and start empty; smol's is global \
         to the process). The 'thread / loop' column is the plain thread's median time over the loop's (for \
         jobs/s, the loop's rate over the thread's): above 1, awaiting on the loop is faster. Core placement: \
         a one-at-a-time round trip is ~10 µs when the pool thread shares the waiter's core (a same-core \
         switch) and ~70-110 µs when it does not (two cross-core wakes of ~33 µs); each fresh pool draws its \
         placement anew, so these rows swing between the two (taskset -c 0 gives the same-core figures)."
    );
}
