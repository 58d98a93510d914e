//! Instruction counts of the engine's hot paths, for callgrind: run one
//! workload at one size under one runtime, and nothing else, so that
//! `valgrind --tool=callgrind` counts exactly that (`benches/callgrind.sh`
//! runs every workload at two sizes and prints the per-operation difference,
//! which cancels the fixed cost of starting the process and the runtime).
//!
//! ```text
//! instructions WORKLOAD N [RUNTIME]
//!   WORKLOAD  spawn | wake | timer | ready_timeout | sleep | gather
//!   N         the number of operations
//!   RUNTIME   asyncio (default) | asyncio-debug | tokio-ct | smol-local
//! ```
//!
//! - `spawn`: spawn N empty tasks, then await each handle in order;
//! - `wake`: one spawned task yielding N times (each yield is one wake and
//!   one poll through the run queue);
//! - `timer`: one spawned task running N 60-second timeouts in sequence
//!   around a future that is pending once: each arms a timer and cancels it
//!   (plus the one self-wake of that future);
//! - `ready_timeout`: the same around a future that is ready at once: no
//!   timer is armed;
//! - `sleep`: N tasks each sleeping 1 ms, then each handle awaited: the
//!   timer is armed and fires (how many fire per loop turn depends on the
//!   clock, so this one is the least repeatable);
//! - `gather`: N ready futures joined in place (`gather`; the peers: the
//!   bench crate's `join_all`, which polls every child on every wake).
//!
//! Without a workload and a count (as `cargo bench` runs it) every workload
//! runs once at a small size under every runtime and its wall time per
//! operation is printed: a quick check that they all work (positional
//! arguments are then name filters, as in the other bench targets).

#![forbid(unsafe_code)]

use std::time::Duration;

use asyncio_benches::{fmt_num, runtime_modules, Config, Table};

/// The workloads, generic over the runtime type alias `R`: each builds a
/// fresh runtime, runs the workload as its root future and returns the time
/// the root future took.
macro_rules! workloads {
    ($rt:ty) => {
        use std::time::Duration;

        use asyncio_benches::time_on;

        type R = $rt;

        // spawn_await, timers, timer_churn, timeout_ready: the same code `compare` times.
        asyncio_benches::shared_workloads!();

        /// One spawned task yielding `n` times.
        pub fn wake(n: usize) -> Duration {
            time_on::<R, _>(async move {
                let worker = R::spawn(async move {
                    for _ in 0..n {
                        R::yield_now().await;
                    }
                });
                worker.await;
            })
        }

        /// Joins `n` ready futures in place (asyncio: `gather`; peers: the
        /// bench crate's runtime-neutral `join_all`).
        pub fn gather(n: usize) -> Duration {
            time_on::<R, _>(async move {
                let out = R::join_all((0..n as u64).map(std::future::ready)).await;
                assert_eq!(out.len(), n);
            })
        }

        /// Runs the workload called `name` at size `n`; `None` for an
        /// unknown name.
        pub fn run(name: &str, n: usize) -> Option<Duration> {
            Some(match name {
                "spawn" => spawn_await(n),
                "wake" => wake(n),
                "timer" => timer_churn(n),
                "ready_timeout" => timeout_ready(n),
                // `n` tasks each sleeping 1 ms, awaited in order.
                "sleep" => timers(&vec![Duration::from_millis(1); n]),
                "gather" => gather(n),
                _ => return None,
            })
        }
    };
}

runtime_modules!(
    workloads: on_asyncio = Asyncio,
    on_asyncio_debug = AsyncioDebug,
    on_tokio_ct = TokioCt,
    on_smol_local = SmolLocal
);

/// The workloads, with the unit of one operation.
const WORKLOADS: [(&str, &str); 6] = [
    ("spawn", "task"),
    ("wake", "yield"),
    ("timer", "timeout"),
    ("ready_timeout", "timeout"),
    ("sleep", "task"),
    ("gather", "future"),
];

/// The runtimes, with their column titles.
const RUNTIMES: [&str; 4] = ["asyncio", "asyncio-debug", "tokio-ct", "smol-local"];

/// Runs `workload` at size `n` on `runtime`; `None` if either is unknown.
fn run(runtime: &str, workload: &str, n: usize) -> Option<Duration> {
    match runtime {
        "asyncio" => on_asyncio::run(workload, n),
        "asyncio-debug" => on_asyncio_debug::run(workload, n),
        "tokio-ct" => on_tokio_ct::run(workload, n),
        "smol-local" => on_smol_local::run(workload, n),
        _ => None,
    }
}

fn usage() -> String {
    format!(
        "usage: instructions WORKLOAD N [RUNTIME]\n  WORKLOAD: {}\n  RUNTIME:  {} (default asyncio)",
        WORKLOADS.map(|(w, _)| w).join(" | "),
        RUNTIMES.join(" | ")
    )
}

fn main() {
    // `cargo bench` adds `--bench`; flags are not ours.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let known = |w: &str| WORKLOADS.iter().any(|&(name, _)| name == w);

    // Measurement mode: exactly one workload at one size, nothing printed on
    // success (callgrind's summary goes to stderr).
    if let [workload, n, rest @ ..] = args.as_slice() {
        if known(workload) {
            let Ok(n) = n.replace('_', "").parse::<usize>() else {
                eprintln!("N must be a non-negative integer, not {n:?}\n{}", usage());
                std::process::exit(2);
            };
            let runtime = match rest {
                [] => "asyncio",
                [r] => r.as_str(),
                _ => {
                    eprintln!("too many arguments\n{}", usage());
                    std::process::exit(2);
                }
            };
            if run(runtime, workload, n).is_none() {
                eprintln!("unknown runtime {runtime:?}\n{}", usage());
                std::process::exit(2);
            }
            return;
        }
    }

    // Quick mode: every (selected) workload at a small size under every
    // runtime, wall time per operation. For instruction counts use
    // `bash benches/callgrind.sh`.
    let cfg = Config::from_env();
    let n = 1000;
    println!("{}\n", usage());
    println!("quick check: every workload at N = {n}, one run each, wall time (not instructions)\n");
    let mut header = vec!["workload".to_owned(), "unit".to_owned()];
    header.extend(RUNTIMES.iter().map(|r| r.to_string()));
    let mut table = Table::new(&header);
    for (workload, unit) in WORKLOADS {
        if !cfg.selected(workload) {
            continue;
        }
        let mut row = vec![workload.to_owned(), format!("ns/{unit}")];
        for runtime in RUNTIMES {
            let took = run(runtime, workload, n).expect("known workload and runtime");
            row.push(fmt_num(took.as_nanos() as f64 / n as f64));
        }
        table.row(row);
    }
    print!("{}", table.render());
}
