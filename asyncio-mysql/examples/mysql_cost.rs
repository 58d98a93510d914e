//! What the thread hop costs: `cargo run --release -p asyncio-mysql --example mysql_cost [queries [rounds]]`
//!
//! Starts a throwaway MariaDB server (installing it first when missing and
//! root), then, in interleaved rounds, runs the same sequential `SELECT 1`
//! (text protocol, first row) through:
//!
//! - the `mysql` crate called directly on this thread (no loop, no hop);
//! - [`asyncio_mysql::Pool::query_first`] from a task, one at a time (one
//!   hop per query), with the pool's default reset of the session after
//!   each query (one more round trip) and without it
//!   (`?reset_connection=false`);
//! - the same pool of 4 under 100 tasks at once (throughput; CPU per query
//!   spread over the threads).
//!
//! It prints the client's CPU time per query (user + system of this whole
//! process, every thread, from the scheduler's per-thread counts; the
//! server's CPU is not counted) beside wall time per query. Round trips to
//! another process swing from run to run on a VM, hence rounds, interleaved,
//! and the range printed. This is a measurement to read, not a test.

use std::time::{Duration, Instant};

use asyncio_examples_support::mariadb::MariaDb;
use asyncio_mysql::mysql::prelude::Queryable;
use asyncio_mysql::mysql::{Conn, Opts};
use asyncio_mysql::Pool;

/// CPU time of this process so far: the scheduler's nanosecond count
/// summed over its live threads (`/proc/self/task/*/schedstat`, first
/// field). Every thread that works in a measured run (this one, the loop,
/// the pool's threads) lives from before the first reading to after the
/// last, so none takes its share away by exiting in between.
fn cpu_now() -> Duration {
    let mut ns = 0u64;
    for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
        if let Ok(s) = std::fs::read_to_string(task.path().join("schedstat")) {
            ns += s.split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(0);
        }
    }
    Duration::from_nanos(ns)
}

/// Per-query CPU and wall time of one run of `n` queries.
#[derive(Clone, Copy)]
struct Sample {
    cpu_us: f64,
    wall_us: f64,
}

fn sample(n: usize, cpu: Duration, wall: Duration) -> Sample {
    Sample {
        cpu_us: cpu.as_secs_f64() * 1e6 / n as f64,
        wall_us: wall.as_secs_f64() * 1e6 / n as f64,
    }
}

fn direct(url: &str, n: usize) -> Sample {
    let mut conn = Conn::new(Opts::from_url(url).unwrap()).unwrap();
    let (cpu0, t0) = (cpu_now(), Instant::now());
    for _ in 0..n {
        let one: Option<i32> = conn.query_first("SELECT 1").unwrap();
        assert_eq!(one, Some(1));
    }
    sample(n, cpu_now() - cpu0, t0.elapsed())
}

fn pooled_sequential(url: &str, n: usize) -> Sample {
    asyncio::run(async {
        let pool = Pool::connect(url, 4).await.unwrap();
        let (cpu0, t0) = (cpu_now(), Instant::now());
        for _ in 0..n {
            let one: Option<i32> = pool.query_first("SELECT 1").await.unwrap();
            assert_eq!(one, Some(1));
        }
        let s = sample(n, cpu_now() - cpu0, t0.elapsed());
        pool.close().await;
        s
    })
}

fn pooled_concurrent(url: &str, n: usize) -> Sample {
    const TASKS: usize = 100;
    asyncio::run(async {
        let pool = Pool::connect(url, 4).await.unwrap();
        // Open all four connections before measuring.
        let warm: Vec<_> = (0..8).map(|_| pool.query::<i32>("SELECT 1")).collect();
        for w in warm {
            w.await.unwrap();
        }
        let (cpu0, t0) = (cpu_now(), Instant::now());
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let pool = pool.clone();
                asyncio::create_task(async move {
                    for _ in 0..n / TASKS {
                        let one: Option<i32> = pool.query_first("SELECT 1").await.unwrap();
                        assert_eq!(one, Some(1));
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let s = sample(n / TASKS * TASKS, cpu_now() - cpu0, t0.elapsed());
        pool.close().await;
        s
    })
}

/// "median (min–max) µs" of one field over the rounds.
fn range(samples: &[Sample], f: impl Fn(&Sample) -> f64) -> String {
    let mut v: Vec<f64> = samples.iter().map(f).collect();
    v.sort_by(f64::total_cmp);
    format!("{:.1} µs ({:.1}–{:.1})", v[v.len() / 2], v[0], v[v.len() - 1])
}

fn main() {
    let arg = |i: usize, default: usize| std::env::args().nth(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (n, rounds) = (arg(1, 20_000), arg(2, 5).max(1));
    let server = MariaDb::start().expect("a MariaDB server");
    let url = server.url();
    println!(
        "MariaDB on {}; {n} queries per round, {rounds} rounds interleaved",
        server.addr()
    );

    // One warm-up round each, not counted.
    direct(&url, n / 10);
    pooled_sequential(&url, n / 10);

    let no_reset = format!("{url}?reset_connection=false");
    let (mut d, mut p, mut k, mut c) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        d.push(direct(&url, n));
        p.push(pooled_sequential(&url, n));
        k.push(pooled_sequential(&no_reset, n));
        c.push(pooled_concurrent(&url, n));
        let i = round - 1;
        eprintln!(
            "round {round}: direct {:.1}/{:.1}, pool {:.1}/{:.1}, pool without reset {:.1}/{:.1}, pool×100 tasks {:.1}/{:.1} (cpu/wall µs per query)",
            d[i].cpu_us, d[i].wall_us, p[i].cpu_us, p[i].wall_us, k[i].cpu_us, k[i].wall_us, c[i].cpu_us, c[i].wall_us
        );
    }
    println!();
    println!("| path | client CPU per query, median (range) | wall per query, median (range) |");
    println!("|---|---|---|");
    for (name, s) in [
        ("`mysql` crate directly, one thread", &d),
        ("`Pool::query_first`, one at a time (pool of 4)", &p),
        ("the same, `reset_connection=false`", &k),
        ("`Pool::query_first`, 100 tasks at once (pool of 4)", &c),
    ] {
        println!("| {name} | {} | {} |", range(s, |s| s.cpu_us), range(s, |s| s.wall_us));
    }
}
