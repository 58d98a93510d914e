//! The seeds' programs, scaled up, on this crate: the Rust side of
//! `benches/python/run.sh`, which runs the same workloads
//! (`benches/python/seeds.py`) on CPython's asyncio and on uvloop and prints
//! the ratios. Alone: `cargo bench -p asyncio-benches --bench seeds`
//! (`BENCH_SMOKE=1` or `-- --smoke` for tiny sizes, `BENCH_ROUNDS=N` rounds,
//! default 5; `-- NAME` to run only workloads whose name contains NAME;
//! `-- --once` to run each workload once and print `NAME SECONDS OPERATIONS`
//! lines, which is what `run.sh` reads).
//!
//! The workloads, written the way the seeds write them in Python (tasks made
//! with `create_task` and awaited with `gather`; the streams API for the
//! echo), and the same in `seeds.py` line for line:
//! - `sleep_gather`: 100,000 tasks, task i sleeping 1 + i % 10 ms and
//!   returning i; all gathered, the sum checked. Wall time is at least 10 ms.
//! - `lock`: 100 tasks × 100 acquisitions of one `Lock` (10,000 in all);
//!   inside, each reads a shared counter, yields (`asyncio.sleep(0)` /
//!   `yield_now`), and writes it back plus one; the count is checked.
//! - `semaphore`: the same 10,000 acquisitions of a `Semaphore(10)`, each
//!   yielding once while it holds its permit; the peak number of holders is
//!   checked to be 10 at most.
//! - `queue`: a `Queue(maxsize=100)`, 4 producer tasks putting 50,000 items
//!   each (200,000 in all), 4 consumer tasks getting until they get the
//!   sentinel (`None`) that the main task puts, one per consumer, once every
//!   producer is done; count and sum checked.
//! - `echo`: `start_server` with a handler that reads up to 16 KiB, writes it
//!   back and drains, until end of stream; 100 clients (`open_connection`)
//!   each making 1,000 round trips of 64 B (`write`, `drain`,
//!   `readexactly(64)`), all at once, then closing. Client and server run on
//!   the same loop in the same process (in each language), to keep it simple:
//!   the figure is the loop serving both ends.
//!
//! Each run builds a fresh loop; time is taken inside the root future.

#![forbid(unsafe_code)]

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use asyncio::sync::{Lock, Queue, Semaphore};
use asyncio_benches::{echo_streams, time_on, Asyncio, Config, Runtime, Summary, Table};

/// The workloads' sizes.
#[derive(Clone, Copy, Debug)]
struct Sizes {
    sleepers: u64,
    lock_tasks: u64,
    lock_iters: u64,
    producers: u64,
    per_producer: u64,
    consumers: u64,
    clients: u64,
    round_trips: u64,
}

impl Sizes {
    fn new(smoke: bool) -> Sizes {
        if smoke {
            Sizes {
                sleepers: 100,
                lock_tasks: 10,
                lock_iters: 10,
                producers: 4,
                per_producer: 500,
                consumers: 4,
                clients: 10,
                round_trips: 10,
            }
        } else {
            Sizes {
                sleepers: 100_000,
                lock_tasks: 100,
                lock_iters: 100,
                producers: 4,
                per_producer: 50_000,
                consumers: 4,
                clients: 100,
                round_trips: 1_000,
            }
        }
    }
}

/// Runs `body` on a fresh loop and returns the time it took inside the root
/// future.
fn timed<F: std::future::Future<Output = ()>>(body: F) -> Duration {
    time_on::<Asyncio, _>(body)
}

/// 100,000 tasks sleeping 1–10 ms each, gathered.
fn sleep_gather(z: Sizes) -> Duration {
    timed(async move {
        let tasks: Vec<_> = (0..z.sleepers)
            .map(|i| {
                asyncio::create_task(async move {
                    asyncio::sleep(Duration::from_millis(1 + i % 10)).await;
                    i
                })
            })
            .collect();
        let results = asyncio::gather(tasks).await;
        let sum: u64 = results.into_iter().map(|r| r.expect("sleeper")).sum();
        assert_eq!(sum, z.sleepers * (z.sleepers - 1) / 2);
    })
}

/// 100 tasks × 100 acquisitions of one lock, yielding inside.
fn lock(z: Sizes) -> Duration {
    timed(async move {
        let lock = Rc::new(Lock::new());
        let counter = Rc::new(Cell::new(0u64));
        let tasks: Vec<_> = (0..z.lock_tasks)
            .map(|_| {
                let (lock, counter) = (lock.clone(), counter.clone());
                asyncio::create_task(async move {
                    for _ in 0..z.lock_iters {
                        let _guard = lock.acquire().await;
                        let v = counter.get();
                        asyncio::yield_now().await;
                        counter.set(v + 1);
                    }
                })
            })
            .collect();
        for r in asyncio::gather(tasks).await {
            r.expect("worker");
        }
        assert_eq!(
            counter.get(),
            z.lock_tasks * z.lock_iters,
            "the lock let an update be lost"
        );
    })
}

/// 100 tasks × 100 acquisitions of a `Semaphore(10)`, yielding inside.
fn semaphore(z: Sizes) -> Duration {
    timed(async move {
        let sem = Rc::new(Semaphore::new(10));
        let (inside, peak) = (Rc::new(Cell::new(0u32)), Rc::new(Cell::new(0u32)));
        let tasks: Vec<_> = (0..z.lock_tasks)
            .map(|_| {
                let (sem, inside, peak) = (sem.clone(), inside.clone(), peak.clone());
                asyncio::create_task(async move {
                    for _ in 0..z.lock_iters {
                        let _permit = sem.acquire().await;
                        inside.set(inside.get() + 1);
                        peak.set(peak.get().max(inside.get()));
                        asyncio::yield_now().await;
                        inside.set(inside.get() - 1);
                    }
                })
            })
            .collect();
        for r in asyncio::gather(tasks).await {
            r.expect("worker");
        }
        assert!(peak.get() <= 10, "more than 10 holders");
    })
}

/// A `Queue(maxsize=100)`, 4 producers, 4 consumers, 200,000 items.
fn queue(z: Sizes) -> Duration {
    timed(async move {
        let q: Rc<Queue<Option<u64>>> = Rc::new(Queue::new(100));
        let consumers: Vec<_> = (0..z.consumers)
            .map(|_| {
                let q = q.clone();
                asyncio::create_task(async move {
                    let (mut n, mut sum) = (0u64, 0u64);
                    while let Some(item) = q.get().await.expect("queue open") {
                        n += 1;
                        sum += item;
                    }
                    (n, sum)
                })
            })
            .collect();
        let producers: Vec<_> = (0..z.producers)
            .map(|p| {
                let q = q.clone();
                asyncio::create_task(async move {
                    for i in 0..z.per_producer {
                        q.put(Some(p * z.per_producer + i)).await.expect("queue open");
                    }
                })
            })
            .collect();
        for r in asyncio::gather(producers).await {
            r.expect("producer");
        }
        for _ in 0..z.consumers {
            q.put(None).await.expect("queue open");
        }
        let (mut n, mut sum) = (0u64, 0u64);
        for r in asyncio::gather(consumers).await {
            let (cn, cs) = r.expect("consumer");
            n += cn;
            sum += cs;
        }
        let total = z.producers * z.per_producer;
        assert_eq!((n, sum), (total, total * (total - 1) / 2), "items lost or duplicated");
    })
}

/// 100 clients × 1,000 round trips of 64 B through a streams echo server,
/// all on one loop.
fn echo(z: Sizes) -> Duration {
    let mut rt = Asyncio::new();
    let took = rt.block_on(async move {
        let server = asyncio::start_server(echo_streams, "127.0.0.1:0")
            .await
            .expect("start_server");
        let addr = server.local_addrs()[0];
        let start = Instant::now();
        let clients: Vec<_> = (0..z.clients)
            .map(|c| {
                asyncio::create_task(async move {
                    let (mut reader, writer) = asyncio::open_connection(addr).await.expect("connect");
                    let mut msg = [0u8; 64];
                    for i in 0..z.round_trips {
                        msg[0] = (c + i) as u8;
                        writer.write(&msg);
                        writer.drain().await.expect("drain");
                        let back = reader.readexactly(64).await.expect("echo");
                        assert_eq!(back[0], msg[0], "wrong echo");
                    }
                    writer.close();
                    writer.wait_closed().await.expect("close");
                })
            })
            .collect();
        for r in asyncio::gather(clients).await {
            r.expect("client");
        }
        let took = start.elapsed();
        server.close();
        server.wait_closed().await;
        took
    });
    drop(rt);
    took
}

type Workload = (&'static str, &'static str, fn(Sizes) -> u64, fn(Sizes) -> Duration);

/// Name, unit, operations per run, run.
const WORKLOADS: [Workload; 5] = [
    ("sleep_gather", "µs/task", |z| z.sleepers, sleep_gather),
    ("lock", "µs/acquire", |z| z.lock_tasks * z.lock_iters, lock),
    ("semaphore", "µs/acquire", |z| z.lock_tasks * z.lock_iters, semaphore),
    ("queue", "µs/item", |z| z.producers * z.per_producer, queue),
    ("echo", "µs/round trip", |z| z.clients * z.round_trips, echo),
];

fn main() {
    // Harmless here (no process pool), and the rule for every bench binary.
    asyncio::executor::worker_entry();
    let cfg = Config::from_env();
    let z = Sizes::new(cfg.smoke);
    let chosen: Vec<&Workload> = WORKLOADS.iter().filter(|w| cfg.selected(w.0)).collect();
    if chosen.is_empty() {
        eprintln!("no workload matches {:?}", cfg.filters);
        return;
    }

    if std::env::args().any(|a| a == "--once") {
        for (name, _, ops, run) in &chosen {
            println!("{name} {:.6} {}", run(z).as_secs_f64(), ops(z));
        }
        return;
    }

    let rounds = cfg.rounds_or(5);
    let mut table = Table::new(&["workload", "ms per run", "unit", "per operation"]);
    for (name, unit, ops, run) in &chosen {
        let samples: Vec<Duration> = (0..rounds).map(|_| run(z)).collect();
        let ms = Summary::of(&samples.iter().map(|d| d.as_secs_f64() * 1e3).collect::<Vec<_>>());
        let per_op = Summary::per_op_ns(&samples, ops(z)).scaled(1e-3);
        eprintln!("{name}: {} ms", ms.display());
        table.row(vec![name.to_string(), ms.display(), unit.to_string(), per_op.display()]);
    }
    println!();
    println!("## The seeds' workloads on this crate: median [min–max] of {rounds} runs");
    println!();
    println!(
        "{}; lower is better. benches/python/run.sh runs the same on CPython's asyncio and uvloop.",
        if cfg.smoke { "smoke sizes" } else { "full sizes" }
    );
    println!();
    print!("{}", table.render());
}
