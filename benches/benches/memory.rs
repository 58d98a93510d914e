//! Memory per idle task: run with `cargo bench -p asyncio-benches --bench memory`
//! (`BENCH_SMOKE=1` or `-- --smoke` for a quick CI run).
//!
//! A counting global allocator tracks live heap bytes and their peak. For
//! each runtime, 100,000 detached tasks are spawned that each park forever,
//! either on `std::future::pending()` (the task alone: header, future,
//! scheduler bookkeeping) or in a one-hour sleep (plus the runtime's timer
//! entry). Once every task has been polled once, the live heap minus the live
//! heap before spawning, divided by the number of tasks, is the cost of one
//! idle task; the peak during spawning is shown too (transient growth of
//! queues and vectors). Then asyncio alone runs 1,000,000 sleeping tasks and
//! reports the live and peak bytes. Only heap allocations are counted (not
//! thread stacks or other mappings), across all threads of the process.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use asyncio_benches::report::{heading, over_first};
use asyncio_benches::{fmt_bytes, fmt_ratio, runtime_modules, Config, Table, RUNTIME_NAMES};

/// The system allocator, counting live bytes and their high-water mark.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn add(n: usize) {
    let now = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn sub(n: usize) {
    LIVE.fetch_sub(n, Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` with the arguments it was given,
// so `Counting` upholds `GlobalAlloc`'s contract exactly as `System` does;
// the counters are plain atomics and never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract (non-zero
        // size), which is `System.alloc`'s.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `ptr` came from this allocator (so
        // from `System`) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        sub(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `ptr` came from this allocator (so
        // from `System`) with `layout`, and a valid non-zero `new_size`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            sub(layout.size());
            add(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Live heap bytes now.
fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Resets the high-water mark to the current live bytes.
fn reset_peak() {
    PEAK.store(live(), Ordering::Relaxed);
}

/// Heap figures of one run, in bytes relative to the live heap before the
/// tasks were spawned.
#[derive(Clone, Copy, Debug)]
struct Usage {
    tasks: usize,
    /// Live bytes once every task has been polled once.
    live: isize,
    /// Highest live bytes seen meanwhile.
    peak: isize,
}

impl Usage {
    fn live_per_task(&self) -> f64 {
        self.live as f64 / self.tasks as f64
    }

    fn peak_per_task(&self) -> f64 {
        self.peak as f64 / self.tasks as f64
    }
}

/// Tasks that have started (been polled once). A static rather than a
/// captured `Arc`, so that the tasks' futures hold nothing.
static STARTED: AtomicUsize = AtomicUsize::new(0);

macro_rules! workloads {
    ($rt:ty) => {
        use std::sync::atomic::Ordering;
        use std::time::Duration;

        use asyncio_benches::Runtime;

        use super::{live, reset_peak, Usage, STARTED};

        type R = $rt;

        /// Spawns `n` detached tasks, each of which counts itself in
        /// `STARTED` and then awaits `idle()` forever; returns the heap
        /// growth once all have started. Dropping the runtime cancels them.
        fn measure<F: std::future::Future + Send + 'static>(n: usize, idle: fn() -> F) -> Usage {
            let mut rt = R::new();
            let usage = rt.block_on(async move {
                // A short sleep lets smol's global async-io reactor apply the
                // timer removals queued by earlier runs (a no-op elsewhere).
                R::sleep(Duration::from_millis(2)).await;
                STARTED.store(0, Ordering::SeqCst);
                let base = live() as isize;
                reset_peak();
                for _ in 0..n {
                    R::detach(R::spawn(async move {
                        STARTED.fetch_add(1, Ordering::Relaxed);
                        idle().await;
                    }));
                }
                while STARTED.load(Ordering::Relaxed) < n {
                    R::yield_now().await;
                }
                // Likewise for the timers just armed: async-io queues up to
                // 1000 timer insertions before it applies them.
                R::sleep(Duration::from_millis(2)).await;
                Usage {
                    tasks: n,
                    live: live() as isize - base,
                    peak: super::PEAK.load(Ordering::Relaxed) as isize - base,
                }
            });
            drop(rt);
            usage
        }

        /// Tasks parked on `std::future::pending()`.
        pub fn pending(n: usize) -> Usage {
            measure(n, std::future::pending::<()>)
        }

        /// Tasks in a one-hour sleep.
        pub fn sleep_1h(n: usize) -> Usage {
            measure(n, || async {
                R::sleep(Duration::from_secs(3600)).await;
            })
        }
    };
}

runtime_modules!(workloads);

type Measure = fn(usize) -> Usage;

const RUNS: [(Measure, Measure); 5] = [
    (rt_asyncio::pending, rt_asyncio::sleep_1h),
    (rt_tokio_ct::pending, rt_tokio_ct::sleep_1h),
    (rt_smol_local::pending, rt_smol_local::sleep_1h),
    (rt_tokio_mt::pending, rt_tokio_mt::sleep_1h),
    (rt_smol_mt::pending, rt_smol_mt::sleep_1h),
];

fn main() {
    let cfg = Config::from_env();
    let n = cfg.size(100_000);
    let big = cfg.size(1_000_000);

    // Warm-up: first-use allocations (async-io's global reactor, thread
    // locals, lazily built statics) must not land in a measurement.
    for (pending, sleep) in RUNS {
        pending(100);
        sleep(100);
    }

    let mut results = Vec::new();
    for (name, (pending, sleep)) in RUNTIME_NAMES.iter().zip(RUNS) {
        let p = pending(n);
        let s = sleep(n);
        eprintln!(
            "{name}: pending {:.0} B/task (peak {:.0}), sleep 1 h {:.0} B/task (peak {:.0})",
            p.live_per_task(),
            p.peak_per_task(),
            s.live_per_task(),
            s.peak_per_task()
        );
        results.push((name, p, s));
    }

    eprintln!("asyncio: {big} sleeping tasks");
    let one_m = rt_asyncio::sleep_1h(big);

    heading(&format!("Heap bytes per idle task, {n} tasks ({})", cfg.sizes_label()));
    println!("live: heap growth once every task was polled once, per task; peak: highest growth meanwhile, per task.");
    println!("In parentheses: live / asyncio's live (> 1: asyncio uses less).");
    println!();
    let mut t = Table::new(&[
        "runtime",
        "pending(): live",
        "pending(): peak",
        "sleep(1 h): live",
        "sleep(1 h): peak",
    ]);
    // The ratio of every comparison table: each runtime's figure over asyncio's.
    let ratio_p = over_first(&results.iter().map(|r| r.1.live_per_task()).collect::<Vec<_>>());
    let ratio_s = over_first(&results.iter().map(|r| r.2.live_per_task()).collect::<Vec<_>>());
    for (i, (name, p, s)) in results.iter().enumerate() {
        t.row(vec![
            name.to_string(),
            format!("{:.0} B ({})", p.live_per_task(), fmt_ratio(ratio_p[i])),
            format!("{:.0} B", p.peak_per_task()),
            format!("{:.0} B ({})", s.live_per_task(), fmt_ratio(ratio_s[i])),
            format!("{:.0} B", s.peak_per_task()),
        ]);
    }
    print!("{}", t.render());
    heading(&format!("asyncio, {big} tasks in a 1-hour sleep"));
    let mut t = Table::new(&["tasks", "live", "live/task", "peak", "peak/task"]);
    t.row(vec![
        big.to_string(),
        fmt_bytes(one_m.live as f64),
        format!("{:.0} B", one_m.live_per_task()),
        fmt_bytes(one_m.peak as f64),
        format!("{:.0} B", one_m.peak_per_task()),
    ]);
    print!("{}", t.render());
}
