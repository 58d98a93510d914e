//! Shared harness for the comparison benchmarks in `benches/`: run them with
//! `cargo bench -p asyncio-benches` (add `--bench compare` or `--bench memory`).
//!
//! What is here:
//! - [`Config`]: rounds, smoke mode (`BENCH_SMOKE=1` or `--smoke`, every size
//!   shrunk about 1000×) and name filters, read from the environment and the
//!   command line;
//! - [`Summary`], [`XorShift64`], [`Table`] and the number formatting;
//! - [`Signal`], [`YieldOnce`], [`YieldThen`] and [`StaggerChain`]'s
//!   [`Staggered`] children: tiny hand-written futures that every runtime
//!   runs unchanged, so the code around them is identical;
//! - [`join_all`]: a runtime-neutral in-place join of many futures, the
//!   peers' stand-in for `asyncio::gather` (neither tokio nor smol has one);
//! - the runtime adapters ([`Asyncio`], [`TokioCt`], [`SmolLocal`],
//!   [`TokioMt`], [`SmolMt`]): each implements [`Runtime`] (build, run a root
//!   future) and has the same inherent associated functions (`spawn`,
//!   `detach`, `yield_now`, `sleep`, `timeout`, `join_all`, `group`), so a
//!   workload written once in a macro expands to the same code for every
//!   runtime. `group` returns a task group ([`AsyncioGroup`], [`TokioGroup`],
//!   [`SmolGroup`]) with the same `spawn` and `join` methods;
//! - the same adapters' lock, semaphore and queue functions (`new_lock`,
//!   `lock`, `new_semaphore`, `acquire`, `spsc_queue`, `mpmc_queue`), over
//!   asyncio's `sync` primitives (in `Rc`s), tokio's `tokio::sync` ones and
//!   smol's `async-lock` and `async-channel` (in `Arc`s); the queue halves
//!   share the [`QueueTx`] and [`QueueRx`] traits;
//! - the same adapters' notification functions (`new_event`, `notify_event`,
//!   `wait_event`): a one-waiter, auto-reset hand-off over asyncio's
//!   `sync::Event` (in an `Rc`, cleared after each wait), tokio's
//!   `sync::Notify` and, for smol, an `event_listener::Event` with a flag
//!   ([`FlagEvent`]), the peers' in `Arc`s;
//! - the same adapters' `thread_channel`: a bounded channel whose halves are
//!   `Send`, for workloads with one end on a plain std thread (asyncio's
//!   `sync::channel`, `tokio::sync::mpsc`, `async-channel`); the async ends
//!   share [`QueueTx`] and [`QueueRx`], the blocking ends [`ThreadTx`] and
//!   [`ThreadRx`];
//! - `spawn_blocking` on [`Asyncio`], [`TokioCt`] and [`SmolLocal`]: a
//!   closure run on the runtime's thread pool for blocking calls
//!   (`asyncio::to_thread`, `tokio::task::spawn_blocking`,
//!   `blocking::unblock`), its result awaited (the `executor` bench).
//! - [`CpuUsage`]: the process's CPU time (`/proc/self/stat` ticks and the
//!   scheduler's per-thread nanoseconds) and context switches, read before
//!   and after an interval (the `tcp_echo` and `idle` benches).
//!
//! # Fairness rules the adapters follow
//! - A runtime is built before a measured run and dropped after it: building
//!   and tearing down are never timed, and every runtime is built afresh for
//!   every sample (none reuses warm state from the previous one).
//! - Every runtime's own primitives are used (`asyncio::yield_now`,
//!   `tokio::task::yield_now`, `futures_lite::future::yield_now`, and so on),
//!   with no wrapper except the one that turns a join result into the task's
//!   output, which asyncio and tokio both get and smol does not need, and,
//!   likewise, the ones that unwrap a `put`/`send` result, turn a `get`/`recv`
//!   result into an `Option` and unwrap tokio's `Semaphore::acquire` (the
//!   blocking channel ends get the same two). asyncio's `Event` stays set
//!   until cleared, so its `wait_event` clears it as soon as its wait
//!   returns; `event_listener::Event` stores no notification, so the smol
//!   columns pair it with a flag ([`FlagEvent`]), the pattern its own docs
//!   show; tokio's `Notify` stores a permit and needs neither.
//! - smol is driven by `async_io::block_on`, which is what `smol::block_on` is:
//!   that thread then runs async-io's reactor and timers itself while idle.
//!   With `futures_lite::future::block_on` smol's timers would be fired by
//!   async-io's fallback thread and every timer wake would cross threads.
//! - The multi-thread peers run the root future on the calling thread (as
//!   `#[tokio::main]` does) and spawned tasks on a pool of two workers; for
//!   smol, two threads run `Executor::run` and the calling thread only drives
//!   the root future.

#![forbid(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::Duration;

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/// How a benchmark binary was asked to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Smoke mode: every size shrunk about 1000×, for CI.
    pub smoke: bool,
    /// Measured rounds per workload and runtime (`BENCH_ROUNDS`, default 7).
    pub rounds: usize,
    /// Substrings from the command line; a workload runs if its name contains
    /// one of them (all run when there are none).
    pub filters: Vec<String>,
}

impl Config {
    /// Reads `BENCH_SMOKE`, `BENCH_ROUNDS` and the command line (`--smoke`,
    /// name filters; other `--flags`, such as the `--bench` that `cargo bench`
    /// passes, are ignored).
    pub fn from_env() -> Config {
        let env_smoke = std::env::var("BENCH_SMOKE").is_ok_and(|v| !v.is_empty() && v != "0");
        let mut smoke = env_smoke;
        let mut filters = Vec::new();
        for arg in std::env::args().skip(1) {
            if arg == "--smoke" {
                smoke = true;
            } else if !arg.starts_with('-') {
                filters.push(arg);
            }
        }
        let rounds = match std::env::var("BENCH_ROUNDS") {
            Ok(v) => v.trim().parse::<usize>().ok().filter(|&r| r > 0).unwrap_or_else(|| {
                eprintln!("BENCH_ROUNDS={v:?} is not a positive integer; using 7");
                7
            }),
            Err(_) => 7,
        };
        Config { smoke, rounds, filters }
    }

    /// `full` in a normal run; about `full / 1000` (at least 1) in smoke mode.
    pub fn size(&self, full: usize) -> usize {
        if self.smoke {
            (full / 1000).max(1)
        } else {
            full
        }
    }

    /// Whether the workload called `name` was selected.
    pub fn selected(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| name.contains(f.as_str()))
    }
}

// ---------------------------------------------------------------------------
// Statistics and formatting
// ---------------------------------------------------------------------------

/// Median and range of a set of samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// The median (mean of the middle two for an even count).
    pub median: f64,
    /// The smallest sample.
    pub min: f64,
    /// The largest sample.
    pub max: f64,
}

impl Summary {
    /// Summarises `samples`.
    ///
    /// # Panics
    /// If `samples` is empty or holds a NaN.
    pub fn of(samples: &[f64]) -> Summary {
        assert!(!samples.is_empty(), "no samples");
        let mut s = samples.to_vec();
        s.sort_by(|a, b| a.partial_cmp(b).expect("NaN sample"));
        let n = s.len();
        let median = if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        };
        Summary {
            median,
            min: s[0],
            max: s[n - 1],
        }
    }

    /// The summary of per-operation times: each sample divided by `ops`,
    /// in nanoseconds.
    pub fn per_op_ns(samples: &[Duration], ops: u64) -> Summary {
        let ns: Vec<f64> = samples
            .iter()
            .map(|d| d.as_nanos() as f64 / ops.max(1) as f64)
            .collect();
        Summary::of(&ns)
    }

    /// The summary of rates: `ops` divided by each sample, in operations
    /// per second (the fastest sample is the `max`).
    pub fn per_sec(samples: &[Duration], ops: u64) -> Summary {
        let rates: Vec<f64> = samples
            .iter()
            .map(|d| ops as f64 / d.as_secs_f64().max(f64::MIN_POSITIVE))
            .collect();
        Summary::of(&rates)
    }

    /// Every figure multiplied by `k` (a change of unit: `1e-3` turns ns
    /// into µs).
    pub fn scaled(&self, k: f64) -> Summary {
        Summary {
            median: self.median * k,
            min: self.min * k,
            max: self.max * k,
        }
    }

    /// `median [min–max]`, each with [`fmt_num`].
    pub fn display(&self) -> String {
        format!("{} [{}–{}]", fmt_num(self.median), fmt_num(self.min), fmt_num(self.max))
    }
}

/// A number with a precision that suits its size: `1234`, `56.7`, `8.90`.
pub fn fmt_num(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// A ratio as `1.23×`.
pub fn fmt_ratio(x: f64) -> String {
    format!("{x:.2}×")
}

/// A byte count as `123 B`, `4.5 KiB`, `67.8 MiB`.
pub fn fmt_bytes(b: f64) -> String {
    if b.abs() >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    } else if b.abs() >= 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else {
        format!("{b:.0} B")
    }
}

/// Marsaglia's xorshift64: a fixed, dependency-free pseudo-random sequence,
/// the same for every runtime.
#[derive(Clone, Debug)]
pub struct XorShift64(u64);

impl XorShift64 {
    /// A generator from `seed` (0 is replaced, xorshift would stay at 0).
    pub fn new(seed: u64) -> Self {
        XorShift64(if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed })
    }

    /// The next value.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// A plain-text table in Markdown syntax, columns padded to line up.
#[derive(Clone, Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new<S: AsRef<str>>(header: &[S]) -> Self {
        Table {
            header: header.iter().map(|s| s.as_ref().to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (cells beyond the header are dropped, missing ones left empty).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, one line per row, ending in a newline.
    pub fn render(&self) -> String {
        let cols = self.header.len();
        let cell = |row: &Vec<String>, i: usize| row.get(i).cloned().unwrap_or_default();
        let mut width: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, w) in width.iter_mut().enumerate() {
                *w = (*w).max(cell(row, i).chars().count());
            }
        }
        let mut out = String::new();
        let line = |out: &mut String, cells: Vec<String>| {
            out.push('|');
            for (i, c) in cells.iter().enumerate() {
                let pad = width[i] - c.chars().count();
                // Left-align the first column, right-align the numbers.
                if i == 0 {
                    let _ = write!(out, " {c}{} |", " ".repeat(pad));
                } else {
                    let _ = write!(out, " {}{c} |", " ".repeat(pad));
                }
            }
            out.push('\n');
        };
        line(&mut out, self.header.clone());
        out.push('|');
        for (i, w) in width.iter().enumerate() {
            if i == 0 {
                let _ = write!(out, "{}|", "-".repeat(w + 2));
            } else {
                let _ = write!(out, "{}:|", "-".repeat(w + 1));
            }
        }
        out.push('\n');
        for row in &self.rows {
            line(&mut out, (0..cols).map(|i| cell(row, i)).collect());
        }
        out
    }
}

// ---------------------------------------------------------------------------
// Runtime-neutral futures
// ---------------------------------------------------------------------------

/// A one-waiter, auto-reset event that any thread can set: a flag plus the
/// waiting task's waker. The same code runs under every runtime, so a
/// workload that uses it measures only the runtime's wake path.
#[derive(Debug, Default)]
pub struct Signal {
    set: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Signal {
    /// An unset signal.
    pub fn new() -> Self {
        Signal::default()
    }

    /// Sets the signal and wakes the waiter, if one is registered.
    pub fn notify(&self) {
        self.set.store(true, Ordering::SeqCst);
        let waker = self.waker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Waits until the signal is set, and clears it. One waiter at a time.
    pub fn wait(&self) -> SignalWait<'_> {
        SignalWait { signal: self }
    }
}

/// The future of [`Signal::wait`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct SignalWait<'a> {
    signal: &'a Signal,
}

impl Future for SignalWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let s = self.signal;
        if s.set.swap(false, Ordering::SeqCst) {
            return Poll::Ready(());
        }
        {
            let mut slot = s.waker.lock().unwrap_or_else(|e| e.into_inner());
            match &*slot {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *slot = Some(cx.waker().clone()),
            }
        }
        // A notify between the first check and the registration found no
        // waker: look again.
        if s.set.swap(false, Ordering::SeqCst) {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

/// A future that is pending once (waking itself, like a yield) and ready at
/// its second poll: the inner future of a timeout that must get as far as
/// arming its timer before it completes.
#[derive(Debug, Default)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldOnce {
    yielded: bool,
}

impl YieldOnce {
    /// A fresh, not yet yielded future.
    pub fn new() -> Self {
        YieldOnce { yielded: false }
    }
}

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A future that is pending once (waking itself, like a yield) and then
/// ready with its value: [`YieldOnce`] with an output, so that a join of many
/// of them has results to check.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct YieldThen<T> {
    value: Option<T>,
    yielded: bool,
}

impl<T> YieldThen<T> {
    /// A fresh, not yet yielded future that will return `value`.
    pub fn new(value: T) -> Self {
        YieldThen {
            value: Some(value),
            yielded: false,
        }
    }
}

// The value is never pinned.
impl<T> Unpin for YieldThen<T> {}

impl<T> Future for YieldThen<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if self.yielded {
            return Poll::Ready(self.value.take().expect("YieldThen polled after completion"));
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The shared state of a chain of [`Staggered`] futures that finish one at a
/// time, in input order: child `i` completes only after child `i - 1` did,
/// and only at a poll that follows a wake given after that.
///
/// The "next to finish" counter and the per-child waker slots live behind an
/// `Rc`: the children run inside one join on one thread (the root future, for
/// every runtime, the multi-thread ones included), so nothing needs `Send`.
#[derive(Debug)]
pub struct StaggerChain {
    /// The index of the child whose turn it is; `n` once all have finished.
    next: Cell<usize>,
    /// Child `i`'s waker, registered while it waits for its turn; taken and
    /// woken by child `i - 1` when that one finishes.
    wakers: Box<[RefCell<Option<Waker>>]>,
    /// Polls of all children together (one non-atomic add per poll), so a
    /// test can tell a poll-everything join from a per-child-waker one.
    polls: Cell<u64>,
}

impl StaggerChain {
    /// The state of a chain of `n` children, none finished.
    pub fn new(n: usize) -> Rc<StaggerChain> {
        Rc::new(StaggerChain {
            next: Cell::new(0),
            wakers: (0..n).map(|_| RefCell::new(None)).collect(),
            polls: Cell::new(0),
        })
    }

    /// The `n` children, in order; child `i` returns `i`.
    pub fn children(self: &Rc<Self>) -> impl Iterator<Item = Staggered> + '_ {
        (0..self.wakers.len()).map(move |index| Staggered {
            chain: self.clone(),
            index,
            turn: false,
        })
    }

    /// How many children have finished.
    pub fn finished(&self) -> usize {
        self.next.get()
    }

    /// How many times the children were polled in all.
    pub fn polls(&self) -> u64 {
        self.polls.get()
    }
}

/// One child of a [`StaggerChain`]. Polled before its turn, it registers its
/// waker and is pending. Polled once it is its turn (child `i - 1` finished),
/// it wakes itself and is pending once more, as a child whose own event
/// arrives a loop turn after its predecessor's would; at the next poll it
/// finishes: it passes the turn on, wakes child `i + 1`'s registered waker,
/// and returns its index.
///
/// That extra wake is what makes the children finish one at a time whatever
/// the join: without it a join that polls its children in input order (both
/// `join_all` and `asyncio::gather` do, on their first poll) would see child
/// `i` ready right after child `i - 1` in the same pass and finish the whole
/// chain in one pass. With it, a join that re-polls every child on every
/// wake finishes one child per pass (n passes, about n²/2 child polls), and
/// one that polls only the woken child polls each child three times at most.
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Staggered {
    chain: Rc<StaggerChain>,
    index: usize,
    /// Whether this child has already seen its turn (and woken itself).
    turn: bool,
}

impl Future for Staggered {
    type Output = u64;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u64> {
        let chain = &*self.chain;
        chain.polls.set(chain.polls.get() + 1);
        let i = self.index;
        if self.turn {
            debug_assert_eq!(chain.next.get(), i, "Staggered polled after completion");
            chain.next.set(i + 1);
            let waker = chain.wakers.get(i + 1).and_then(|slot| slot.borrow_mut().take());
            if let Some(w) = waker {
                w.wake();
            }
            return Poll::Ready(i as u64);
        }
        if chain.next.get() == i {
            self.turn = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let mut slot = chain.wakers[i].borrow_mut();
        match &*slot {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// Awaits every future of `futures` concurrently, in place (no task is
/// spawned), and returns their outputs in input order: the peers' stand-in
/// for `asyncio::gather(iter)`, since neither tokio (only `join!`, for a
/// fixed number) nor smol (`futures_lite::future::zip`, for two) has a
/// join-all of its own. Runtime-neutral: tokio and smol run the same code.
///
/// Every still-running future is polled whenever the join is polled, all
/// with the join's own waker: `futures::future::join_all`'s "small" mode
/// (up to 30 futures; above that it switches to `FuturesOrdered`, one waker
/// per future). Two passes for futures that are pending once; O(n) per wake
/// in general, so O(n²) for children that finish one at a time.
///
/// The futures must be `Unpin` (this crate has no `unsafe` to pin them in
/// place, and boxing each would add an allocation the others don't make).
pub fn join_all<I>(futures: I) -> JoinAll<I::Item>
where
    I: IntoIterator,
    I::Item: Future + Unpin,
{
    JoinAll {
        slots: futures.into_iter().map(JoinSlot::Running).collect(),
    }
}

enum JoinSlot<F: Future> {
    Running(F),
    Done(F::Output),
}

/// The future of [`join_all`].
#[must_use = "futures do nothing unless awaited"]
pub struct JoinAll<F: Future> {
    slots: Vec<JoinSlot<F>>,
}

// Nothing in it is pinned: the futures are `Unpin` and polled with `Pin::new`.
impl<F: Future> Unpin for JoinAll<F> {}

impl<F: Future + Unpin> Future for JoinAll<F> {
    type Output = Vec<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<F::Output>> {
        let mut all_done = true;
        for slot in self.slots.iter_mut() {
            if let JoinSlot::Running(f) = slot {
                match Pin::new(f).poll(cx) {
                    Poll::Ready(out) => *slot = JoinSlot::Done(out),
                    Poll::Pending => all_done = false,
                }
            }
        }
        if !all_done {
            return Poll::Pending;
        }
        let outputs = std::mem::take(&mut self.slots)
            .into_iter()
            .map(|s| match s {
                JoinSlot::Done(out) => out,
                JoinSlot::Running(_) => unreachable!("every future is done"),
            })
            .collect();
        Poll::Ready(outputs)
    }
}

/// Checks that `out` is `0, 1, .., n - 1`: a join returned every output, in
/// input order.
///
/// # Panics
/// If it is not.
pub fn assert_in_order(out: &[u64], n: usize) {
    assert_eq!(out.len(), n, "wrong number of outputs");
    assert!(
        out.iter().enumerate().all(|(i, &v)| v == i as u64),
        "outputs are not in input order"
    );
}

/// Turns a join handle whose output is `Result<T, E>` into a future of `T`,
/// panicking on a failed task (none of the workloads' tasks fail).
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Unwrap<H>(H);

impl<H, T, E> Future for Unwrap<H>
where
    H: Future<Output = Result<T, E>> + Unpin,
    E: std::fmt::Debug,
{
    type Output = T;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match Pin::new(&mut self.0).poll(cx) {
            Poll::Ready(r) => Poll::Ready(r.expect("benchmark task failed")),
            Poll::Pending => Poll::Pending,
        }
    }
}

// ---------------------------------------------------------------------------
// Runtimes
// ---------------------------------------------------------------------------

/// A runtime built for one measured run. Besides this trait, each adapter has
/// inherent associated functions with the same names and shapes (`spawn`,
/// `detach`, `yield_now`, `sleep`, `timeout`, `join_all`, `group`), used by
/// the workload macros;
/// they are inherent rather than trait methods because their bounds differ
/// (the multi-thread peers need `Send` futures, asyncio does not).
pub trait Runtime {
    /// The column title.
    const NAME: &'static str;
    /// Builds the runtime (not timed).
    fn new() -> Self;
    /// Runs `future` to completion as the root future on this thread.
    fn block_on<F: Future>(&mut self, future: F) -> F::Output;
}

/// asyncio's single-threaded loop (`asyncio::Runner`), with debug mode
/// `DEBUG` (whatever `ASYNCIO_DEBUG` says): [`Asyncio`] or [`AsyncioDebug`].
pub struct AsyncioLoop<const DEBUG: bool> {
    runner: asyncio::Runner,
}

/// asyncio's loop as users run it: debug mode off.
pub type Asyncio = AsyncioLoop<false>;

/// asyncio's loop in debug mode, with a slow-callback threshold no poll
/// reaches (the bookkeeping is measured, not reports).
pub type AsyncioDebug = AsyncioLoop<true>;

impl<const DEBUG: bool> Runtime for AsyncioLoop<DEBUG> {
    const NAME: &'static str = if DEBUG { "asyncio-debug" } else { "asyncio" };

    fn new() -> Self {
        // Create the loop now so that its construction is not timed.
        let mut runner = asyncio::Runner::new()
            .debug(DEBUG)
            .slow_callback_duration(Duration::from_secs(3600));
        let _ = runner.get_loop();
        AsyncioLoop { runner }
    }

    fn block_on<F: Future>(&mut self, future: F) -> F::Output {
        self.runner.run(future)
    }
}

impl<const DEBUG: bool> Drop for AsyncioLoop<DEBUG> {
    fn drop(&mut self) {
        self.runner.close();
    }
}

impl<const DEBUG: bool> AsyncioLoop<DEBUG> {
    /// `asyncio::create_task`.
    #[inline]
    pub fn spawn<F: Future + 'static>(f: F) -> Unwrap<asyncio::Task<F::Output>> {
        Unwrap(asyncio::create_task(f))
    }

    /// Lets a task run on without its handle (dropping a `Task` detaches it).
    #[inline]
    pub fn detach<T>(handle: Unwrap<asyncio::Task<T>>) {
        drop(handle);
    }

    /// `asyncio::yield_now`.
    #[inline]
    pub fn yield_now() -> asyncio::task::YieldNow {
        asyncio::yield_now()
    }

    /// `asyncio::sleep`.
    #[inline]
    pub fn sleep(d: Duration) -> asyncio::time::Sleep {
        asyncio::sleep(d)
    }

    /// `asyncio::timeout`.
    #[inline]
    pub fn timeout<F: Future>(d: Duration, f: F) -> asyncio::time::Timeout<F> {
        asyncio::timeout(d, f)
    }

    /// `asyncio::gather(iter)` (the `Unpin` bound is only there to match the
    /// peers' [`join_all`]).
    #[inline]
    pub fn join_all<I>(futures: I) -> asyncio::task::Gather<I::Item>
    where
        I: IntoIterator,
        I::Item: Future + Unpin,
    {
        asyncio::gather(futures)
    }

    /// An empty `asyncio::TaskGroup`, with room for `capacity` handles.
    #[inline]
    pub fn group<T: 'static>(capacity: usize) -> AsyncioGroup<T> {
        AsyncioGroup {
            group: asyncio::TaskGroup::new(),
            children: Vec::with_capacity(capacity),
        }
    }
}

/// An `asyncio::TaskGroup` and the handles of its children, kept to read
/// their results after the join (the group itself does not return them).
pub struct AsyncioGroup<T> {
    group: asyncio::TaskGroup,
    children: Vec<asyncio::task::GroupTask<T>>,
}

impl<T: 'static> AsyncioGroup<T> {
    /// `TaskGroup::create_task`; the handle is kept.
    #[inline]
    pub fn spawn<F: Future<Output = T> + 'static>(&mut self, f: F) {
        self.children
            .push(self.group.create_task(f).expect("TaskGroup is open"));
    }

    /// `TaskGroup::join`, then `GroupTask::result` of every child, in spawn
    /// order, passed to `each`.
    pub async fn join(self, mut each: impl FnMut(T)) {
        self.group.join().await.expect("no child failed");
        for child in self.children {
            each(child.result().expect("child finished"));
        }
    }
}

/// tokio's current-thread runtime, all drivers enabled.
pub struct TokioCt {
    rt: tokio::runtime::Runtime,
}

impl Runtime for TokioCt {
    const NAME: &'static str = "tokio-ct";

    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        TokioCt { rt }
    }

    fn block_on<F: Future>(&mut self, future: F) -> F::Output {
        self.rt.block_on(future)
    }
}

/// tokio's multi-thread runtime with two workers, all drivers enabled.
pub struct TokioMt {
    rt: tokio::runtime::Runtime,
}

impl Runtime for TokioMt {
    const NAME: &'static str = "tokio-mt(2)";

    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        TokioMt { rt }
    }

    fn block_on<F: Future>(&mut self, future: F) -> F::Output {
        self.rt.block_on(future)
    }
}

macro_rules! tokio_fns {
    ($ty:ty) => {
        impl $ty {
            /// `tokio::spawn`.
            #[inline]
            pub fn spawn<F>(f: F) -> Unwrap<tokio::task::JoinHandle<F::Output>>
            where
                F: Future + Send + 'static,
                F::Output: Send + 'static,
            {
                Unwrap(tokio::spawn(f))
            }

            /// Lets a task run on without its handle (dropping a
            /// `JoinHandle` detaches it).
            #[inline]
            pub fn detach<T>(handle: Unwrap<tokio::task::JoinHandle<T>>) {
                drop(handle);
            }

            /// `tokio::task::yield_now`.
            #[inline]
            pub fn yield_now() -> impl Future<Output = ()> + Send {
                tokio::task::yield_now()
            }

            /// `tokio::time::sleep`.
            #[inline]
            pub fn sleep(d: Duration) -> tokio::time::Sleep {
                tokio::time::sleep(d)
            }

            /// `tokio::time::timeout`.
            #[inline]
            pub fn timeout<F: Future>(d: Duration, f: F) -> tokio::time::Timeout<F> {
                tokio::time::timeout(d, f)
            }

            /// The runtime-neutral [`join_all`] (tokio has none).
            #[inline]
            pub fn join_all<I>(futures: I) -> JoinAll<I::Item>
            where
                I: IntoIterator,
                I::Item: Future + Unpin,
            {
                join_all(futures)
            }

            /// An empty `tokio::task::JoinSet` (it needs no capacity).
            #[inline]
            pub fn group<T: 'static>(_capacity: usize) -> TokioGroup<T> {
                TokioGroup {
                    set: tokio::task::JoinSet::new(),
                }
            }
        }
    };
}

/// A `tokio::task::JoinSet`.
pub struct TokioGroup<T> {
    set: tokio::task::JoinSet<T>,
}

impl<T: Send + 'static> TokioGroup<T> {
    /// `JoinSet::spawn` (its `AbortHandle` is dropped).
    #[inline]
    pub fn spawn<F: Future<Output = T> + Send + 'static>(&mut self, f: F) {
        self.set.spawn(f);
    }

    /// `JoinSet::join_next` until it is empty; each output, in completion
    /// order, is passed to `each`.
    pub async fn join(mut self, mut each: impl FnMut(T)) {
        while let Some(r) = self.set.join_next().await {
            each(r.expect("benchmark task failed"));
        }
    }
}

tokio_fns!(TokioCt);
tokio_fns!(TokioMt);

thread_local! {
    static SMOL_LOCAL: RefCell<Option<Rc<async_executor::LocalExecutor<'static>>>> = const { RefCell::new(None) };
    static SMOL_MT: RefCell<Option<Arc<async_executor::Executor<'static>>>> = const { RefCell::new(None) };
}

/// smol's single-threaded `async_executor::LocalExecutor`, driven by
/// `async_io::block_on(ex.run(..))`. Tasks reach the executor through a
/// thread-local, as tokio's and asyncio's `spawn` reach theirs.
pub struct SmolLocal {
    ex: Rc<async_executor::LocalExecutor<'static>>,
}

impl Runtime for SmolLocal {
    const NAME: &'static str = "smol-local";

    fn new() -> Self {
        let ex = Rc::new(async_executor::LocalExecutor::new());
        SMOL_LOCAL.with(|c| *c.borrow_mut() = Some(ex.clone()));
        SmolLocal { ex }
    }

    fn block_on<F: Future>(&mut self, future: F) -> F::Output {
        async_io::block_on(self.ex.run(future))
    }
}

impl Drop for SmolLocal {
    fn drop(&mut self) {
        SMOL_LOCAL.with(|c| c.borrow_mut().take());
    }
}

impl SmolLocal {
    /// `LocalExecutor::spawn` on this thread's executor.
    #[inline]
    pub fn spawn<F: Future + 'static>(f: F) -> async_executor::Task<F::Output> {
        SMOL_LOCAL.with(|c| {
            c.borrow()
                .as_ref()
                .expect("no smol LocalExecutor on this thread")
                .spawn(f)
        })
    }

    /// `Task::detach` (dropping a smol `Task` would cancel it).
    #[inline]
    pub fn detach<T>(handle: async_executor::Task<T>) {
        handle.detach();
    }

    /// `futures_lite::future::yield_now`.
    #[inline]
    pub fn yield_now() -> futures_lite::future::YieldNow {
        futures_lite::future::yield_now()
    }

    /// `async_io::Timer::after`.
    #[inline]
    pub fn sleep(d: Duration) -> async_io::Timer {
        async_io::Timer::after(d)
    }

    /// The runtime-neutral [`join_all`] (smol has none).
    #[inline]
    pub fn join_all<I>(futures: I) -> JoinAll<I::Item>
    where
        I: IntoIterator,
        I::Item: Future + Unpin,
    {
        join_all(futures)
    }

    /// A `Vec` of `Task` handles (smol has no group type).
    #[inline]
    pub fn group<T: 'static>(capacity: usize) -> SmolGroup<T, SmolLocal> {
        SmolGroup {
            tasks: Vec::with_capacity(capacity),
            runtime: PhantomData,
        }
    }

    /// `f` raced against `async_io::Timer::after(d)` with
    /// `futures_lite::future::or` (smol has no timeout combinator of its own);
    /// `f` is polled first, as in asyncio and tokio, and the timer is only
    /// created, and armed, if `f` is still pending.
    #[inline]
    pub fn timeout<F: Future>(d: Duration, f: F) -> impl Future<Output = Result<F::Output, ()>> {
        futures_lite::future::or(async move { Ok(f.await) }, async move {
            async_io::Timer::after(d).await;
            Err(())
        })
    }
}

/// smol's multi-threaded `async_executor::Executor`, run by two threads; the
/// calling thread only drives the root future (`async_io::block_on`).
pub struct SmolMt {
    stops: Vec<Arc<Signal>>,
    threads: Vec<JoinHandle<()>>,
}

impl Runtime for SmolMt {
    const NAME: &'static str = "smol-mt(2)";

    fn new() -> Self {
        let ex = Arc::new(async_executor::Executor::new());
        let mut stops = Vec::new();
        let mut threads = Vec::new();
        for i in 0..2 {
            let stop = Arc::new(Signal::new());
            let (ex, s) = (ex.clone(), stop.clone());
            let t = std::thread::Builder::new()
                .name(format!("smol-worker-{i}"))
                .spawn(move || {
                    SMOL_MT.with(|c| *c.borrow_mut() = Some(ex.clone()));
                    async_io::block_on(ex.run(s.wait()));
                    SMOL_MT.with(|c| c.borrow_mut().take());
                })
                .expect("spawn smol worker");
            stops.push(stop);
            threads.push(t);
        }
        SMOL_MT.with(|c| *c.borrow_mut() = Some(ex));
        SmolMt { stops, threads }
    }

    fn block_on<F: Future>(&mut self, future: F) -> F::Output {
        async_io::block_on(future)
    }
}

impl Drop for SmolMt {
    fn drop(&mut self) {
        for s in &self.stops {
            s.notify();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        SMOL_MT.with(|c| c.borrow_mut().take());
    }
}

impl SmolMt {
    /// `Executor::spawn` on the shared executor.
    #[inline]
    pub fn spawn<F>(f: F) -> async_executor::Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        SMOL_MT.with(|c| c.borrow().as_ref().expect("no smol Executor on this thread").spawn(f))
    }

    /// `Task::detach`.
    #[inline]
    pub fn detach<T>(handle: async_executor::Task<T>) {
        handle.detach();
    }

    /// `futures_lite::future::yield_now`.
    #[inline]
    pub fn yield_now() -> futures_lite::future::YieldNow {
        futures_lite::future::yield_now()
    }

    /// `async_io::Timer::after`.
    #[inline]
    pub fn sleep(d: Duration) -> async_io::Timer {
        async_io::Timer::after(d)
    }

    /// As [`SmolLocal::timeout`].
    #[inline]
    pub fn timeout<F: Future>(d: Duration, f: F) -> impl Future<Output = Result<F::Output, ()>> {
        SmolLocal::timeout(d, f)
    }

    /// As [`SmolLocal::join_all`].
    #[inline]
    pub fn join_all<I>(futures: I) -> JoinAll<I::Item>
    where
        I: IntoIterator,
        I::Item: Future + Unpin,
    {
        join_all(futures)
    }

    /// As [`SmolLocal::group`].
    #[inline]
    pub fn group<T: 'static>(capacity: usize) -> SmolGroup<T, SmolMt> {
        SmolGroup {
            tasks: Vec::with_capacity(capacity),
            runtime: PhantomData,
        }
    }
}

/// smol's stand-in for a task group, which it does not have: the spawned
/// tasks' handles in a `Vec`, awaited in spawn order. `R` picks the executor
/// ([`SmolLocal`] or [`SmolMt`]).
pub struct SmolGroup<T, R> {
    tasks: Vec<async_executor::Task<T>>,
    runtime: PhantomData<R>,
}

impl<T: 'static> SmolGroup<T, SmolLocal> {
    /// [`SmolLocal::spawn`]; the handle is kept.
    #[inline]
    pub fn spawn<F: Future<Output = T> + 'static>(&mut self, f: F) {
        self.tasks.push(SmolLocal::spawn(f));
    }
}

impl<T: Send + 'static> SmolGroup<T, SmolMt> {
    /// [`SmolMt::spawn`]; the handle is kept.
    #[inline]
    pub fn spawn<F: Future<Output = T> + Send + 'static>(&mut self, f: F) {
        self.tasks.push(SmolMt::spawn(f));
    }
}

impl<T, R> SmolGroup<T, R> {
    /// Awaits every handle in spawn order; each output is passed to `each`.
    pub async fn join(self, mut each: impl FnMut(T)) {
        for t in self.tasks {
            each(t.await);
        }
    }
}

// ---------------------------------------------------------------------------
// Locks, semaphores and queues
// ---------------------------------------------------------------------------
//
// Each adapter has the same inherent constructors and wait functions for a
// lock, a semaphore and two kinds of bounded queue, each over the runtime's
// own primitive (or, for smol, the ones `smol::lock` and `smol::channel`
// re-export). asyncio's primitives are loop-bound and `!Sync`, so its
// constructors return `Rc`s; the peers' are `Send + Sync` and come in `Arc`s
// (or as channel halves, which are their own shared handles) for the
// single-threaded columns too: an `Arc` is only cloned once per task, at
// spawn, never in the measured loops.

/// The sending side of a benchmark queue: [`Asyncio::spsc_queue`] and the
/// like return one. Method names differ from every implementer's own so
/// that the calls in a workload can only mean these.
pub trait QueueTx<T> {
    /// Puts `item`, waiting while the queue is full.
    ///
    /// # Panics
    /// If the queue was closed (none of the workloads closes a queue that
    /// is still being put to).
    fn enqueue(&self, item: T) -> impl Future<Output = ()>;

    /// Done putting: asyncio shuts the queue down gracefully
    /// (`Queue::shutdown(false)`: getters drain what is left, then fail);
    /// a channel sender is dropped (the channel closes when its last
    /// sender goes).
    fn close_queue(self);
}

/// The receiving side of a benchmark queue.
pub trait QueueRx<T> {
    /// The next item, waiting while the queue is empty; `None` once the
    /// queue is closed and drained.
    fn dequeue(&mut self) -> impl Future<Output = Option<T>>;
}

impl<T> QueueTx<T> for Rc<asyncio::sync::Queue<T>> {
    #[inline]
    async fn enqueue(&self, item: T) {
        if self.put(item).await.is_err() {
            panic!("asyncio queue shut down while putting");
        }
    }

    fn close_queue(self) {
        self.shutdown(false);
    }
}

impl<T> QueueRx<T> for Rc<asyncio::sync::Queue<T>> {
    #[inline]
    async fn dequeue(&mut self) -> Option<T> {
        self.get().await.ok()
    }
}

impl<T> QueueTx<T> for tokio::sync::mpsc::Sender<T> {
    #[inline]
    async fn enqueue(&self, item: T) {
        if self.send(item).await.is_err() {
            panic!("tokio mpsc receiver dropped while sending");
        }
    }

    fn close_queue(self) {
        drop(self);
    }
}

impl<T> QueueRx<T> for tokio::sync::mpsc::Receiver<T> {
    #[inline]
    fn dequeue(&mut self) -> impl Future<Output = Option<T>> {
        self.recv()
    }
}

impl<T> QueueTx<T> for async_channel::Sender<T> {
    #[inline]
    async fn enqueue(&self, item: T) {
        if self.send(item).await.is_err() {
            panic!("async-channel closed while sending");
        }
    }

    fn close_queue(self) {
        drop(self);
    }
}

impl<T> QueueRx<T> for async_channel::Receiver<T> {
    #[inline]
    async fn dequeue(&mut self) -> Option<T> {
        self.recv().await.ok()
    }
}

impl<T> QueueTx<T> for asyncio::sync::Sender<T> {
    #[inline]
    async fn enqueue(&self, item: T) {
        if self.send(item).await.is_err() {
            panic!("asyncio channel closed while sending");
        }
    }

    fn close_queue(self) {
        drop(self);
    }
}

impl<T> QueueRx<T> for asyncio::sync::Receiver<T> {
    #[inline]
    async fn dequeue(&mut self) -> Option<T> {
        self.recv().await.ok()
    }
}

/// The sending side of a cross-thread channel, used from a plain std thread
/// (never from a thread running a runtime): [`Asyncio::thread_channel`] and
/// the like return one. Method names differ from every implementer's own.
pub trait ThreadTx<T> {
    /// Puts `item`, blocking the thread while the channel is full.
    ///
    /// # Panics
    /// If the channel was closed (none of the workloads closes a channel that
    /// is still being sent to), or, for asyncio and tokio, if called on a
    /// thread that runs their event loop.
    fn enqueue_blocking(&self, item: T);
}

/// The receiving side of a cross-thread channel, used from a plain std
/// thread.
pub trait ThreadRx<T> {
    /// The next item, blocking the thread while the channel is empty; `None`
    /// once every sender is gone and the channel is drained.
    fn dequeue_blocking(&mut self) -> Option<T>;
}

impl<T> ThreadTx<T> for asyncio::sync::Sender<T> {
    #[inline]
    fn enqueue_blocking(&self, item: T) {
        if self.send_blocking(item).is_err() {
            panic!("asyncio channel closed while sending");
        }
    }
}

impl<T> ThreadRx<T> for asyncio::sync::Receiver<T> {
    #[inline]
    fn dequeue_blocking(&mut self) -> Option<T> {
        self.recv_blocking().ok()
    }
}

impl<T> ThreadTx<T> for tokio::sync::mpsc::Sender<T> {
    #[inline]
    fn enqueue_blocking(&self, item: T) {
        if self.blocking_send(item).is_err() {
            panic!("tokio mpsc receiver dropped while sending");
        }
    }
}

impl<T> ThreadRx<T> for tokio::sync::mpsc::Receiver<T> {
    #[inline]
    fn dequeue_blocking(&mut self) -> Option<T> {
        self.blocking_recv()
    }
}

impl<T> ThreadTx<T> for async_channel::Sender<T> {
    #[inline]
    fn enqueue_blocking(&self, item: T) {
        if self.send_blocking(item).is_err() {
            panic!("async-channel closed while sending");
        }
    }
}

impl<T> ThreadRx<T> for async_channel::Receiver<T> {
    #[inline]
    fn dequeue_blocking(&mut self) -> Option<T> {
        self.recv_blocking().ok()
    }
}

impl Asyncio {
    /// An unlocked `asyncio::sync::Lock`.
    pub fn new_lock() -> Rc<asyncio::sync::Lock> {
        Rc::new(asyncio::sync::Lock::new())
    }

    /// `Lock::acquire` (dropping the guard releases).
    #[inline]
    pub fn lock(lock: &asyncio::sync::Lock) -> asyncio::sync::LockAcquire<'_> {
        lock.acquire()
    }

    /// An `asyncio::sync::Semaphore` with `permits` permits.
    pub fn new_semaphore(permits: usize) -> Rc<asyncio::sync::Semaphore> {
        Rc::new(asyncio::sync::Semaphore::new(permits))
    }

    /// `Semaphore::acquire` (dropping the permit releases it).
    #[inline]
    pub fn acquire(sem: &asyncio::sync::Semaphore) -> asyncio::sync::Acquire<'_> {
        sem.acquire()
    }

    /// An `asyncio::sync::Queue` of `capacity` items, as both ends.
    pub fn spsc_queue<T>(capacity: usize) -> (Rc<asyncio::sync::Queue<T>>, Rc<asyncio::sync::Queue<T>>) {
        let q = Rc::new(asyncio::sync::Queue::new(capacity));
        (q.clone(), q)
    }

    /// The same as [`Asyncio::spsc_queue`]: asyncio's one queue serves any
    /// number of producers and consumers.
    pub fn mpmc_queue<T>(capacity: usize) -> (Rc<asyncio::sync::Queue<T>>, Rc<asyncio::sync::Queue<T>>) {
        Self::spsc_queue(capacity)
    }

    /// `asyncio::sync::channel(capacity)`: the cross-thread channel (the
    /// loop-bound `Queue` cannot leave its loop).
    pub fn thread_channel<T: Send>(capacity: usize) -> (asyncio::sync::Sender<T>, asyncio::sync::Receiver<T>) {
        asyncio::sync::channel(capacity)
    }
}

macro_rules! tokio_sync_fns {
    ($ty:ty) => {
        impl $ty {
            /// An unlocked `tokio::sync::Mutex<()>`.
            pub fn new_lock() -> Arc<tokio::sync::Mutex<()>> {
                Arc::new(tokio::sync::Mutex::new(()))
            }

            /// `Mutex::lock` (dropping the guard releases).
            #[inline]
            pub fn lock(lock: &tokio::sync::Mutex<()>) -> impl Future<Output = tokio::sync::MutexGuard<'_, ()>> + Send {
                lock.lock()
            }

            /// A `tokio::sync::Semaphore` with `permits` permits.
            pub fn new_semaphore(permits: usize) -> Arc<tokio::sync::Semaphore> {
                Arc::new(tokio::sync::Semaphore::new(permits))
            }

            /// `Semaphore::acquire`, unwrapped (the semaphore is never
            /// closed; dropping the permit releases it).
            #[inline]
            pub fn acquire(
                sem: &tokio::sync::Semaphore,
            ) -> impl Future<Output = tokio::sync::SemaphorePermit<'_>> + Send {
                async move { sem.acquire().await.expect("semaphore closed") }
            }

            /// `tokio::sync::mpsc::channel(capacity)`.
            pub fn spsc_queue<T: Send>(
                capacity: usize,
            ) -> (tokio::sync::mpsc::Sender<T>, tokio::sync::mpsc::Receiver<T>) {
                tokio::sync::mpsc::channel(capacity)
            }

            /// `async_channel::bounded(capacity)`: tokio has no bounded
            /// multi-consumer queue (`mpsc` has one receiver, `broadcast`
            /// gives every item to every receiver).
            pub fn mpmc_queue<T: Send>(capacity: usize) -> (async_channel::Sender<T>, async_channel::Receiver<T>) {
                async_channel::bounded(capacity)
            }

            /// `tokio::sync::mpsc::channel(capacity)`, as [`Self::spsc_queue`]
            /// (its blocking ends: `blocking_send`, `blocking_recv`).
            pub fn thread_channel<T: Send>(
                capacity: usize,
            ) -> (tokio::sync::mpsc::Sender<T>, tokio::sync::mpsc::Receiver<T>) {
                tokio::sync::mpsc::channel(capacity)
            }
        }
    };
}

tokio_sync_fns!(TokioCt);
tokio_sync_fns!(TokioMt);

macro_rules! smol_sync_fns {
    ($ty:ty) => {
        impl $ty {
            /// An unlocked `async_lock::Mutex<()>` (`smol::lock::Mutex`).
            pub fn new_lock() -> Arc<async_lock::Mutex<()>> {
                Arc::new(async_lock::Mutex::new(()))
            }

            /// `Mutex::lock` (dropping the guard releases).
            #[inline]
            pub fn lock(lock: &async_lock::Mutex<()>) -> async_lock::futures::Lock<'_, ()> {
                lock.lock()
            }

            /// An `async_lock::Semaphore` with `permits` permits.
            pub fn new_semaphore(permits: usize) -> Arc<async_lock::Semaphore> {
                Arc::new(async_lock::Semaphore::new(permits))
            }

            /// `Semaphore::acquire` (dropping the guard releases it).
            #[inline]
            pub fn acquire(sem: &async_lock::Semaphore) -> async_lock::futures::Acquire<'_> {
                sem.acquire()
            }

            /// `async_channel::bounded(capacity)` (`smol::channel::bounded`).
            pub fn spsc_queue<T>(capacity: usize) -> (async_channel::Sender<T>, async_channel::Receiver<T>) {
                async_channel::bounded(capacity)
            }

            /// `async_channel::bounded(capacity)`, as [`Self::spsc_queue`].
            pub fn mpmc_queue<T>(capacity: usize) -> (async_channel::Sender<T>, async_channel::Receiver<T>) {
                async_channel::bounded(capacity)
            }

            /// `async_channel::bounded(capacity)`, as [`Self::spsc_queue`]
            /// (its blocking ends: `send_blocking`, `recv_blocking`).
            pub fn thread_channel<T: Send>(capacity: usize) -> (async_channel::Sender<T>, async_channel::Receiver<T>) {
                async_channel::bounded(capacity)
            }
        }
    };
}

smol_sync_fns!(SmolLocal);
smol_sync_fns!(SmolMt);

// ---------------------------------------------------------------------------
// Notifications
// ---------------------------------------------------------------------------
//
// Each adapter has `new_event`, `notify_event` and `wait_event`: a
// notification one task sends and one other task waits for, consumed by the
// wait (auto-reset), so that two of them hand a turn back and forth.

/// `event_listener::Event` (the smol ecosystem's notification primitive, on
/// which async-lock and async-channel are built) plus the flag it needs to
/// be a notification: the event itself stores nothing, a `notify` with no
/// listener registered is lost. The flag is set before notifying and
/// consumed by the waiter, which checks it before and again after
/// registering its listener (the pattern of event-listener's own docs).
#[derive(Debug, Default)]
pub struct FlagEvent {
    set: AtomicBool,
    event: event_listener::Event,
}

impl FlagEvent {
    /// An unset event.
    pub fn new() -> Self {
        FlagEvent::default()
    }

    /// Sets the flag, then `Event::notify(1)`.
    #[inline]
    pub fn notify(&self) {
        self.set.store(true, Ordering::SeqCst);
        self.event.notify(1);
    }

    /// Waits until the flag is set and consumes it: check, `Event::listen`,
    /// check again, await the listener, repeat. One waiter at a time.
    pub async fn wait(&self) {
        loop {
            if self.set.swap(false, Ordering::SeqCst) {
                return;
            }
            let listener = self.event.listen();
            // A notify between the first check and the listen found no
            // listener: look again.
            if self.set.swap(false, Ordering::SeqCst) {
                return;
            }
            listener.await;
        }
    }
}

impl Asyncio {
    /// An unset `asyncio::sync::Event`.
    pub fn new_event() -> Rc<asyncio::sync::Event> {
        Rc::new(asyncio::sync::Event::new())
    }

    /// `Event::set`.
    #[inline]
    pub fn notify_event(event: &asyncio::sync::Event) {
        event.set();
    }

    /// `Event::wait`, then `Event::clear` as soon as it returns (an
    /// `Event` stays set until cleared). The notifier only sets it again
    /// after the waiter has answered, so this clear never eats the next
    /// round's notification.
    #[inline]
    pub async fn wait_event(event: &asyncio::sync::Event) {
        event.wait().await;
        event.clear();
    }
}

macro_rules! tokio_event_fns {
    ($ty:ty) => {
        impl $ty {
            /// A `tokio::sync::Notify` with no permit.
            pub fn new_event() -> Arc<tokio::sync::Notify> {
                Arc::new(tokio::sync::Notify::new())
            }

            /// `Notify::notify_one` (stores a permit if nobody waits yet).
            #[inline]
            pub fn notify_event(event: &tokio::sync::Notify) {
                event.notify_one();
            }

            /// `Notify::notified` (consumes the permit).
            #[inline]
            pub fn wait_event(event: &tokio::sync::Notify) -> tokio::sync::futures::Notified<'_> {
                event.notified()
            }
        }
    };
}

tokio_event_fns!(TokioCt);
tokio_event_fns!(TokioMt);

macro_rules! smol_event_fns {
    ($ty:ty) => {
        impl $ty {
            /// An unset [`FlagEvent`] (`event_listener::Event` plus a flag).
            pub fn new_event() -> Arc<FlagEvent> {
                Arc::new(FlagEvent::new())
            }

            /// [`FlagEvent::notify`].
            #[inline]
            pub fn notify_event(event: &FlagEvent) {
                event.notify();
            }

            /// [`FlagEvent::wait`].
            #[inline]
            pub fn wait_event(event: &FlagEvent) -> impl Future<Output = ()> + Send + '_ {
                event.wait()
            }
        }
    };
}

smol_event_fns!(SmolLocal);
smol_event_fns!(SmolMt);

// ---------------------------------------------------------------------------
// Blocking calls on a thread pool
// ---------------------------------------------------------------------------

impl Asyncio {
    /// `asyncio::to_thread`: `f` on the running loop's default thread pool.
    #[inline]
    pub fn spawn_blocking<F, T>(f: F) -> Unwrap<asyncio::executor::CancelOnDrop<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        Unwrap(asyncio::to_thread(f))
    }
}

impl TokioCt {
    /// `tokio::task::spawn_blocking`: `f` on the runtime's blocking pool.
    #[inline]
    pub fn spawn_blocking<F, T>(f: F) -> Unwrap<tokio::task::JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        Unwrap(tokio::task::spawn_blocking(f))
    }
}

impl SmolLocal {
    /// `blocking::unblock` (what `smol::unblock` is): `f` on the process's
    /// global blocking pool.
    #[inline]
    pub fn spawn_blocking<F, T>(f: F) -> blocking::Task<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        blocking::unblock(f)
    }
}

/// The column titles of the five runtimes, in table order.
pub const RUNTIME_NAMES: [&str; 5] = [
    Asyncio::NAME,
    TokioCt::NAME,
    SmolLocal::NAME,
    TokioMt::NAME,
    SmolMt::NAME,
];

/// Builds a runtime of type `R`, runs `body` as its root future and returns
/// the time `body` took, measured inside the root future (building and
/// dropping the runtime are not timed).
pub fn time_on<R: Runtime, F: Future<Output = ()>>(body: F) -> Duration {
    let mut rt = R::new();
    let took = rt.block_on(async move {
        let start = std::time::Instant::now();
        body.await;
        start.elapsed()
    });
    drop(rt);
    took
}

// ---------------------------------------------------------------------------
// CPU accounting from /proc (Linux)
// ---------------------------------------------------------------------------

/// Clock ticks per second of `utime`/`stime` in `/proc/<pid>/stat`: the
/// kernel's `USER_HZ`, 100 on every Linux architecture this runs on (what
/// `getconf CLK_TCK` prints; reading it needs libc, which this crate does
/// not link).
pub const CLOCK_TICKS_PER_SEC: u64 = 100;

/// What a process has used of the CPU so far, read from `/proc/self`:
/// [`CpuUsage::now`]; subtract two readings for an interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuUsage {
    /// `utime + stime` of the whole process (`/proc/self/stat`, every thread,
    /// exited ones included), in clock ticks of 10 ms.
    pub ticks: u64,
    /// Time on a CPU summed over the live threads (`/proc/self/task/*/schedstat`,
    /// the scheduler's own nanosecond count): precise, but a thread that exited
    /// in between takes its share with it.
    pub on_cpu_ns: u64,
    /// Voluntary context switches summed over the live threads: how often a
    /// thread went to sleep (each one a wake-up later).
    pub voluntary_switches: u64,
    /// Involuntary context switches (preemptions) summed over the live threads.
    pub involuntary_switches: u64,
    /// Live threads.
    pub threads: u64,
}

impl CpuUsage {
    /// The reading now. Zero fields where `/proc` cannot be read (not Linux).
    pub fn now() -> CpuUsage {
        let mut u = CpuUsage {
            ticks: std::fs::read_to_string("/proc/self/stat")
                .ok()
                .and_then(|s| stat_ticks(&s))
                .unwrap_or(0),
            ..CpuUsage::default()
        };
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return u;
        };
        for task in tasks.flatten() {
            let dir = task.path();
            // A thread may exit between the listing and the reads: skip it.
            let Ok(sched) = std::fs::read_to_string(dir.join("schedstat")) else {
                continue;
            };
            u.threads += 1;
            u.on_cpu_ns += sched
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if let Ok(status) = std::fs::read_to_string(dir.join("status")) {
                for line in status.lines() {
                    let field = |name: &str| {
                        line.strip_prefix(name)
                            .and_then(|v| v.trim().parse::<u64>().ok())
                            .unwrap_or(0)
                    };
                    u.voluntary_switches += field("voluntary_ctxt_switches:");
                    u.involuntary_switches += field("nonvoluntary_ctxt_switches:");
                }
            }
        }
        u
    }

    /// What was used between `earlier` and `self` (`threads` is `self`'s).
    pub fn since(&self, earlier: &CpuUsage) -> CpuUsage {
        CpuUsage {
            ticks: self.ticks.saturating_sub(earlier.ticks),
            on_cpu_ns: self.on_cpu_ns.saturating_sub(earlier.on_cpu_ns),
            voluntary_switches: self.voluntary_switches.saturating_sub(earlier.voluntary_switches),
            involuntary_switches: self.involuntary_switches.saturating_sub(earlier.involuntary_switches),
            threads: self.threads,
        }
    }

    /// `ticks` in milliseconds.
    pub fn ticks_ms(&self) -> f64 {
        self.ticks as f64 * 1000.0 / CLOCK_TICKS_PER_SEC as f64
    }
}

/// `utime + stime` from the text of `/proc/<pid>/stat`: fields 14 and 15,
/// counted after the command name, which is in parentheses and may itself
/// hold spaces and parentheses.
fn stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The workloads both bench targets run (`compare` times them, `instructions`
/// counts their instructions), written once. Expand inside a module that has
/// a `type R = <runtime adapter>;` and `std::time::Duration` in scope.
#[macro_export]
macro_rules! shared_workloads {
    () => {
        /// Spawns `n` empty tasks, then awaits each handle in order.
        pub fn spawn_await(n: usize) -> Duration {
            $crate::time_on::<R, _>(async move {
                let mut handles = Vec::with_capacity(n);
                for _ in 0..n {
                    handles.push(R::spawn(async {}));
                }
                for h in handles {
                    h.await;
                }
            })
        }

        /// One task per duration, each sleeping that long; awaits them all.
        pub fn timers(durations: &[Duration]) -> Duration {
            let durations = durations.to_vec();
            $crate::time_on::<R, _>(async move {
                let mut handles = Vec::with_capacity(durations.len());
                for d in durations {
                    handles.push(R::spawn(async move {
                        R::sleep(d).await;
                    }));
                }
                for h in handles {
                    h.await;
                }
            })
        }

        /// One task running `n` 60-second timeouts in sequence around a
        /// future that is pending once: each arms a timer, then cancels it.
        pub fn timer_churn(n: usize) -> Duration {
            $crate::time_on::<R, _>(async move {
                let worker = R::spawn(async move {
                    for _ in 0..n {
                        let r = R::timeout(Duration::from_secs(60), $crate::YieldOnce::new()).await;
                        assert!(r.is_ok(), "a 60 s timeout fired");
                    }
                });
                worker.await;
            })
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_median_and_range() {
        let s = Summary::of(&[5.0, 1.0, 3.0]);
        assert_eq!((s.median, s.min, s.max), (3.0, 1.0, 5.0));
        let s = Summary::of(&[4.0, 1.0, 3.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 4.0));
    }

    #[test]
    fn proc_stat_ticks_skip_the_command_name() {
        // utime 7 and stime 5 are fields 14 and 15; the name holds spaces and
        // a parenthesis.
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 7 5 0 0 20 0 1 0 10 0 0";
        assert_eq!(stat_ticks(stat), Some(12));
        assert_eq!(stat_ticks("42 (x) S 1"), None);
    }

    #[test]
    fn cpu_usage_counts_this_thread() {
        let before = CpuUsage::now();
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let used = CpuUsage::now().since(&before);
        if cfg!(target_os = "linux") {
            assert!(used.threads >= 1);
            assert!(
                used.on_cpu_ns >= 1_000_000,
                "30 ms of spinning showed {} ns on CPU",
                used.on_cpu_ns
            );
        }
    }

    #[test]
    fn summary_rates_and_scaling() {
        let s = Summary::per_sec(
            &[
                Duration::from_millis(500),
                Duration::from_secs(2),
                Duration::from_secs(1),
            ],
            100,
        );
        assert_eq!((s.median, s.min, s.max), (100.0, 50.0, 200.0));
        let s = Summary::of(&[1000.0, 3000.0]).scaled(1e-3);
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
    }

    #[test]
    fn xorshift_is_fixed_and_in_range() {
        let mut a = XorShift64::new(42);
        let mut b = XorShift64::new(42);
        for _ in 0..1000 {
            let x = a.range(1, 20);
            assert_eq!(x, b.range(1, 20));
            assert!((1..=20).contains(&x));
        }
    }

    #[test]
    fn table_lines_up() {
        let mut t = Table::new(&["a", "bb"]);
        t.row(vec!["xyz".into(), "1".into()]);
        let text = t.render();
        let widths: Vec<usize> = text.lines().map(|l| l.chars().count()).collect();
        assert!(widths.windows(2).all(|w| w[0] == w[1]), "{text}");
    }

    #[test]
    fn every_runtime_runs_a_task() {
        fn check<R: Runtime>(spawn_and_join: impl Future<Output = u32>) {
            assert_eq!(R::new().block_on(spawn_and_join), 7);
        }
        check::<Asyncio>(async { Asyncio::spawn(async { 7 }).await });
        check::<TokioCt>(async { TokioCt::spawn(async { 7 }).await });
        check::<SmolLocal>(async { SmolLocal::spawn(async { 7 }).await });
        check::<TokioMt>(async { TokioMt::spawn(async { 7 }).await });
        check::<SmolMt>(async { SmolMt::spawn(async { 7 }).await });
    }

    #[test]
    fn join_all_keeps_input_order() {
        let out = futures_lite::future::block_on(join_all((0..100u64).map(YieldThen::new)));
        assert_in_order(&out, 100);
        let out = futures_lite::future::block_on(join_all((0..3u64).map(std::future::ready)));
        assert_in_order(&out, 3);
        let none: Vec<u64> = futures_lite::future::block_on(join_all(Vec::<std::future::Ready<u64>>::new()));
        assert!(none.is_empty());
    }

    #[test]
    fn staggered_children_finish_one_at_a_time() {
        let n = 200usize;
        // join_all: one child finishes per pass, every pass re-polls all the
        // unfinished ones.
        let chain = StaggerChain::new(n);
        let out = futures_lite::future::block_on(join_all(chain.children()));
        assert_in_order(&out, n);
        assert_eq!(chain.finished(), n);
        let n64 = n as u64;
        assert!(chain.polls() >= n64 * (n64 - 1) / 2, "{} polls", chain.polls());
        // asyncio::gather: each child is polled once in the first pass, then
        // only when woken: three polls at most per child.
        let chain = StaggerChain::new(n);
        let out = Asyncio::new().block_on(asyncio::gather(chain.children()));
        assert_in_order(&out, n);
        assert_eq!(chain.finished(), n);
        assert!(chain.polls() <= 3 * n64, "{} polls", chain.polls());
    }

    #[test]
    fn every_runtime_joins_and_groups() {
        macro_rules! check {
            ($r:ty) => {{
                let out = <$r>::new().block_on(async {
                    let joined = <$r>::join_all((0..50u64).map(YieldThen::new)).await;
                    assert_in_order(&joined, 50);
                    let chain = StaggerChain::new(50);
                    let joined = <$r>::join_all(chain.children()).await;
                    assert_in_order(&joined, 50);
                    assert_eq!(chain.finished(), 50);
                    let mut group = <$r>::group(50);
                    for i in 0..50u64 {
                        group.spawn(async move { i });
                    }
                    let mut seen = Vec::new();
                    group.join(|v| seen.push(v)).await;
                    seen.sort_unstable();
                    seen
                });
                assert_in_order(&out, 50);
            }};
        }
        check!(Asyncio);
        check!(TokioCt);
        check!(SmolLocal);
        check!(TokioMt);
        check!(SmolMt);
    }

    #[test]
    fn every_runtime_locks_and_queues() {
        macro_rules! check {
            ($r:ty) => {{
                <$r>::new().block_on(async {
                    let lock = <$r>::new_lock();
                    let guard = <$r>::lock(&lock).await;
                    drop(guard);
                    let sem = <$r>::new_semaphore(2);
                    let (a, b) = (<$r>::acquire(&sem).await, <$r>::acquire(&sem).await);
                    drop((a, b));
                    let (tx, mut rx) = <$r>::spsc_queue::<u64>(4);
                    for i in 0..3 {
                        tx.enqueue(i).await;
                    }
                    tx.close_queue();
                    let mut got = Vec::new();
                    while let Some(v) = rx.dequeue().await {
                        got.push(v);
                    }
                    assert_in_order(&got, 3);
                    let (tx, rx) = <$r>::mpmc_queue::<u64>(4);
                    let mut rx2 = rx.clone();
                    tx.clone().enqueue(7).await;
                    tx.close_queue();
                    assert_eq!(rx2.dequeue().await, Some(7));
                    assert_eq!(rx2.dequeue().await, None);
                });
            }};
        }
        check!(Asyncio);
        check!(TokioCt);
        check!(SmolLocal);
        check!(TokioMt);
        check!(SmolMt);
    }
    #[test]
    fn every_runtime_hands_events_back_and_forth() {
        macro_rules! check {
            ($r:ty) => {{
                <$r>::new().block_on(async {
                    // A notification sent before anyone waits is kept.
                    let early = <$r>::new_event();
                    <$r>::notify_event(&early);
                    <$r>::wait_event(&early).await;
                    // Strict alternation: each side sees exactly the turns
                    // the other has taken, never a stale notification.
                    let (ping, pong) = (<$r>::new_event(), <$r>::new_event());
                    let turns = Arc::new(std::sync::atomic::AtomicU64::new(0));
                    let a = {
                        let (ping, pong, turns) = (ping.clone(), pong.clone(), turns.clone());
                        <$r>::spawn(async move {
                            for i in 0..100u64 {
                                turns.fetch_add(1, Ordering::Relaxed);
                                <$r>::notify_event(&ping);
                                <$r>::wait_event(&pong).await;
                                assert_eq!(turns.load(Ordering::Relaxed), 2 * i + 2);
                            }
                        })
                    };
                    let b = <$r>::spawn(async move {
                        for i in 0..100u64 {
                            <$r>::wait_event(&ping).await;
                            assert_eq!(turns.load(Ordering::Relaxed), 2 * i + 1);
                            turns.fetch_add(1, Ordering::Relaxed);
                            <$r>::notify_event(&pong);
                        }
                    });
                    a.await;
                    b.await;
                });
            }};
        }
        check!(Asyncio);
        check!(TokioCt);
        check!(SmolLocal);
        check!(TokioMt);
        check!(SmolMt);
    }

    #[test]
    fn every_runtime_runs_blocking_calls_on_a_pool() {
        macro_rules! check {
            ($r:ty) => {{
                let out = <$r>::new().block_on(async {
                    let caller = std::thread::current().id();
                    assert_ne!(
                        <$r>::spawn_blocking(move || std::thread::current().id()).await,
                        caller
                    );
                    let handles: Vec<_> = (0..50u64).map(|i| <$r>::spawn_blocking(move || i)).collect();
                    let mut out = Vec::new();
                    for h in handles {
                        out.push(h.await);
                    }
                    out
                });
                assert_in_order(&out, 50);
            }};
        }
        check!(Asyncio);
        check!(TokioCt);
        check!(SmolLocal);
    }

    #[test]
    fn every_runtime_crosses_threads_on_channels() {
        macro_rules! check {
            ($r:ty) => {{
                <$r>::new().block_on(async {
                    // A std thread sends, a task receives.
                    let (tx, mut rx) = <$r>::thread_channel::<u64>(4);
                    let sender = std::thread::spawn(move || {
                        for i in 0..100 {
                            tx.enqueue_blocking(i);
                        }
                    });
                    let receiver = <$r>::spawn(async move {
                        let mut got = Vec::new();
                        while let Some(v) = rx.dequeue().await {
                            got.push(v);
                        }
                        got
                    });
                    assert_in_order(&receiver.await, 100);
                    sender.join().expect("sender thread");
                    // A task sends, a std thread receives.
                    let (tx, mut rx) = <$r>::thread_channel::<u64>(4);
                    let receiver = std::thread::spawn(move || {
                        let mut got = Vec::new();
                        while let Some(v) = rx.dequeue_blocking() {
                            got.push(v);
                        }
                        got
                    });
                    let sender = <$r>::spawn(async move {
                        for i in 0..100 {
                            tx.enqueue(i).await;
                        }
                        tx.close_queue();
                    });
                    sender.await;
                    assert_in_order(&receiver.join().expect("receiver thread"), 100);
                });
            }};
        }
        check!(Asyncio);
        check!(TokioCt);
        check!(SmolLocal);
        check!(TokioMt);
        check!(SmolMt);
    }
}
