//! Idle CPU: what a loop with nothing to do costs. Run with
//! `cargo bench -p asyncio-benches --bench idle` (`BENCH_SMOKE=1` or
//! `-- --smoke`: a 0.2 s window instead of 10 s; `BENCH_ROUNDS=N` rounds,
//! default 3; `-- NAME` to run only runtimes whose name contains NAME).
//!
//! Each runtime runs in a process of its own (this binary started again with
//! `ASYNCIO_BENCH_IDLE_CHILD` set), all of them at the same time, so a round
//! takes one window whatever the number of runtimes; idle processes do not
//! compete for the CPU. In each: the runtime is built, one task is spawned
//! that sleeps for an hour, the root future sleeps 10 ms (so that the task
//! has run and armed its timer), then reads the process's CPU counters,
//! sleeps through the window with the runtime's own `sleep`, and reads them
//! again. What is reported is the difference, for the whole process (every
//! thread the runtime started), less the cost of reading the counters
//! themselves (two readings back to back, just before the window: some
//! 50–150 µs on CPU, which a 10 s window would otherwise show as 5–15 µs/s):
//! - `utime + stime` from `/proc/self/stat`, in clock ticks of 10 ms (what
//!   `time` or `ps` would show);
//! - time on a CPU from `/proc/self/task/*/schedstat`, in microseconds (the
//!   scheduler's nanosecond count, precise where the ticks are not);
//! - voluntary context switches, summed over threads: how many times a thread
//!   of the runtime went to sleep, so (give or take one) how many times it was
//!   woken up during the window. The window's end is one of them: the root's
//!   timer firing.
//!
//! The runtimes are the `compare` bench's five: asyncio, tokio's
//! current-thread and multi-thread (2 workers) runtimes, smol's
//! `LocalExecutor` and its `Executor` on two threads; and asyncio on its
//! io_uring driver (`asyncio-uring`).

#![forbid(unsafe_code)]

use std::process::{Command, Stdio};
use std::time::Duration;

use asyncio_benches::report::{cores, heading};
use asyncio_benches::{fmt_num, runtime_modules, Config, CpuUsage, Summary, Table, RUNTIME_NAMES};

/// The `compare` bench's five runtimes, then asyncio on its io_uring driver
/// (readiness where the kernel refuses io_uring).
const NAMES: [&str; 6] = [
    RUNTIME_NAMES[0],
    RUNTIME_NAMES[1],
    RUNTIME_NAMES[2],
    RUNTIME_NAMES[3],
    RUNTIME_NAMES[4],
    "asyncio-uring",
];

/// Set in a child's environment: `RUNTIME_INDEX WINDOW_MS`.
const CHILD_ENV: &str = "ASYNCIO_BENCH_IDLE_CHILD";

/// The idle workload, written once over the runtime alias `R`.
macro_rules! idle_workload {
    ($rt:ty) => {
        use std::time::Duration;

        use asyncio_benches::{CpuUsage, Runtime};

        type R = $rt;

        /// Builds the runtime, parks one task in an hour-long sleep, and
        /// returns what the process used of the CPU while the root future
        /// slept through `window`, and the time on CPU (ns) that reading
        /// the counters takes. With `after_wakes`, the window starts right
        /// after 1,000 round trips with a std thread (as `compare`'s
        /// `cross_thread_wake`), the pattern that makes a loop spin before
        /// sleeping: whatever spinning follows the burst is in the window.
        pub fn idle(window: Duration, after_wakes: bool) -> (CpuUsage, u64) {
            let mut rt = R::new();
            let used = rt.block_on(async move {
                let sleeper = R::spawn(async {
                    R::sleep(Duration::from_secs(3600)).await;
                });
                R::sleep(Duration::from_millis(10)).await;
                if after_wakes {
                    let ping = std::sync::Arc::new(asyncio_benches::Signal::new());
                    let (reply_tx, reply_rx) = std::sync::mpsc::channel::<()>();
                    let pinger = {
                        let ping = ping.clone();
                        std::thread::spawn(move || {
                            for _ in 0..1000 {
                                ping.notify();
                                reply_rx.recv().expect("reply");
                            }
                        })
                    };
                    for _ in 0..1000 {
                        ping.wait().await;
                        reply_tx.send(()).expect("send reply");
                    }
                    pinger.join().expect("pinger thread");
                }
                let probe = CpuUsage::now();
                let before = CpuUsage::now();
                R::sleep(window).await;
                let after = CpuUsage::now();
                R::detach(sleeper);
                (after.since(&before), before.since(&probe).on_cpu_ns)
            });
            drop(rt);
            used
        }
    };
}

runtime_modules!(idle_workload);
runtime_modules!(idle_workload: rt_asyncio_uring = AsyncioUring);

/// The child: one runtime, one window; prints
/// `result TICKS ON_CPU_NS VOLUNTARY INVOLUNTARY THREADS`, the time on CPU
/// less the counters' own reading cost.
fn child(spec: &str) {
    let f: Vec<u64> = spec.split_whitespace().map(|x| x.parse().expect("a number")).collect();
    assert_eq!(f.len(), 3, "{CHILD_ENV}: RUNTIME_INDEX WINDOW_MS AFTER_WAKES");
    let window = Duration::from_millis(f[1]);
    let after = f[2] == 1;
    let (used, probe_ns) = match f[0] {
        0 => rt_asyncio::idle(window, after),
        1 => rt_tokio_ct::idle(window, after),
        2 => rt_smol_local::idle(window, after),
        3 => rt_tokio_mt::idle(window, after),
        4 => rt_smol_mt::idle(window, after),
        5 => rt_asyncio_uring::idle(window, after),
        i => panic!("no runtime {i}"),
    };
    println!(
        "result {} {} {} {} {}",
        used.ticks,
        used.on_cpu_ns.saturating_sub(probe_ns),
        used.voluntary_switches,
        used.involuntary_switches,
        used.threads
    );
}

fn main() {
    // Harmless here (no process pool), and the rule for every bench binary.
    asyncio::executor::worker_entry();
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child(&spec);
        return;
    }

    let cfg = Config::from_env();
    let rounds = cfg.rounds_or(3);
    let window_ms: u64 = if cfg.smoke { 200 } else { 10_000 };
    let chosen: Vec<usize> = (0..NAMES.len()).filter(|&i| cfg.selected(NAMES[i])).collect();
    if chosen.is_empty() {
        eprintln!("no runtime matches {:?}", cfg.filters);
        return;
    }
    let exe = std::env::current_exe().expect("this bench's path");
    for after_wakes in [false, true] {
        let samples = rounds_of(&exe, &chosen, rounds, window_ms, after_wakes);
        report(&cfg, &chosen, &samples, rounds, window_ms, after_wakes);
    }
}

/// `rounds` rounds of every chosen runtime idle side by side, each in a
/// process of its own; the samples by runtime index.
fn rounds_of(
    exe: &std::path::Path,
    chosen: &[usize],
    rounds: usize,
    window_ms: u64,
    after_wakes: bool,
) -> Vec<Vec<CpuUsage>> {
    let mut samples: Vec<Vec<CpuUsage>> = vec![Vec::new(); NAMES.len()];
    for round in 0..rounds {
        eprintln!(
            "round {}/{rounds}: {} runtimes idle for {window_ms} ms{}, side by side",
            round + 1,
            chosen.len(),
            if after_wakes {
                " after 1,000 cross-thread wakes"
            } else {
                ""
            }
        );
        let children: Vec<_> = chosen
            .iter()
            .map(|&i| {
                let child = Command::new(exe)
                    .env(CHILD_ENV, format!("{i} {window_ms} {}", u8::from(after_wakes)))
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("start a child");
                (i, child)
            })
            .collect();
        for (i, child) in children {
            let out = child.wait_with_output().expect("wait for a child");
            assert!(out.status.success(), "the {} child failed", NAMES[i]);
            let text = String::from_utf8_lossy(&out.stdout);
            let line = text
                .lines()
                .find_map(|l| l.strip_prefix("result "))
                .expect("the child's result line");
            let v: Vec<u64> = line.split_whitespace().map(|x| x.parse().expect("a number")).collect();
            samples[i].push(CpuUsage {
                ticks: v[0],
                on_cpu_ns: v[1],
                voluntary_switches: v[2],
                involuntary_switches: v[3],
                threads: v[4],
            });
        }
    }

    samples
}

/// The table of one mode.
fn report(cfg: &Config, chosen: &[usize], samples: &[Vec<CpuUsage>], rounds: usize, window_ms: u64, after_wakes: bool) {
    let secs = window_ms as f64 / 1000.0;
    heading(&format!(
        "Idle CPU{}: one task asleep for an hour, the loop idle for {} s; median [min–max] of {rounds} rounds",
        if after_wakes {
            " right after 1,000 cross-thread wakes"
        } else {
            ""
        },
        fmt_num(secs)
    ));
    println!(
        "{}; {} cores; lower is better; each runtime in a process of its own, all at once.",
        if cfg.smoke { "smoke window" } else { "full window" },
        cores()
    );
    println!();
    let mut table = Table::new(&[
        "runtime",
        "utime+stime (ms)",
        "on CPU (µs)",
        "on CPU per second (µs)",
        "wake-ups",
        "threads",
    ]);
    for &i in chosen {
        let s = &samples[i];
        let of = |f: fn(&CpuUsage) -> f64| Summary::of(&s.iter().map(f).collect::<Vec<_>>());
        let on_cpu = of(|u| u.on_cpu_ns as f64 / 1e3);
        table.row(vec![
            NAMES[i].to_owned(),
            of(CpuUsage::ticks_ms).display(),
            on_cpu.display(),
            fmt_num(on_cpu.median / secs),
            of(|u| u.voluntary_switches as f64).display(),
            s.last().map_or(0, |u| u.threads).to_string(),
        ]);
    }
    print!("{}", table.render());
    println!();
    println!(
        "utime+stime: /proc/self/stat, 10 ms ticks, every thread of the process. On CPU: the scheduler's count \
         (/proc/self/task/*/schedstat), live threads, less the cost of reading the counters. Wake-ups: voluntary context switches over the live \
         threads (the root's own timer firing at the end of the window is one). Threads: at the end of the \
         window, the main thread included."
    );
}
