//! Thread-per-core: several event loops, one per thread, started and
//! stopped together.
//!
//! One loop uses one core. The way past that, with `!Send` tasks and no
//! locks on the hot path, is the one thread-per-core runtimes take (and
//! Python servers take with one process per core, `gunicorn -w N`): N
//! independent loops, each with its own tasks, timers and sockets, and a
//! way to hand work from one to another.
//!
//! - [`Loops::start`] starts N threads, each running a loop of its own and
//!   on it the future that `main` makes for it (made on that thread, so it
//!   need not be `Send`). `main` gets a [`LoopContext`]: its index and every
//!   loop's [`LoopHandle`].
//! - [`LoopsBuilder::pin_to_cores`] pins loop `i` to the `i`-th CPU the
//!   process may use (Linux).
//! - Work goes to another loop with [`LoopHandle::spawn_with`] (the future
//!   is made on the target loop; only the closure and the output cross) or
//!   [`LoopHandle::call_soon_threadsafe`].
//! - Sockets: each loop binds its own listener on the same port with
//!   [`ListenOptions::reuse_port`](crate::net::ListenOptions) and
//!   [`TcpListener::bind_with`](crate::net::TcpListener::bind_with) (the
//!   kernel spreads connections over them; asyncio-http's `Server::workers`
//!   does this on these loops), or one loop accepts and hands the
//!   connections out (a `std::net::TcpStream` is `Send`).
//! - [`Loops::join`] (blocking) or [`Loops::wait`] (async) collects every
//!   main's output in index order; [`Loops::cancel`] cancels every main (as
//!   `Task::cancel`: the future is dropped, destructors run). A loop whose
//!   main has returned goes on serving work handed to it until every main
//!   has returned; then all close, as [`run`](crate::run) closes one
//!   (cancelling whatever tasks were left).
//!
//! ```
//! use asyncio::loops::Loops;
//!
//! // Four loops; each asks the next one for a square.
//! let loops = Loops::start(4, |cx| async move {
//!     let me = cx.index() as u64;
//!     let next = cx.handle((cx.index() + 1) % cx.len());
//!     next.spawn_with(move || async move { me * me }).unwrap().await.unwrap()
//! })
//! .unwrap();
//! let squares: Vec<u64> = loops.join().into_iter().map(Result::unwrap).collect();
//! assert_eq!(squares, [0, 1, 4, 9]);
//! ```

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use atomic_waker::AtomicWaker;

use crate::event_loop::{ConcurrentFuture, LoopHandle, WatchSlot};
use crate::task::TaskError;
use crate::Runner;

/// What each loop's main future is told: which loop it runs on, and how to
/// reach the others.
#[derive(Clone)]
pub struct LoopContext {
    index: usize,
    loops: Arc<[LoopHandle]>,
    all: Arc<AllDone>,
}

impl LoopContext {
    /// This loop's index, `0..len()`.
    pub fn index(&self) -> usize {
        self.index
    }

    /// How many loops there are.
    #[allow(clippy::len_without_is_empty)] // never empty
    pub fn len(&self) -> usize {
        self.loops.len()
    }

    /// Loop `i`'s handle.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn handle(&self, i: usize) -> &LoopHandle {
        &self.loops[i]
    }

    /// Every loop's handle, by index (this one's included).
    pub fn handles(&self) -> &[LoopHandle] {
        &self.loops
    }
}

impl fmt::Debug for LoopContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopContext")
            .field("index", &self.index)
            .field("len", &self.loops.len())
            .finish()
    }
}

type MakeRunner = Arc<dyn Fn(usize) -> Runner + Send + Sync>;
type ThreadName = Arc<dyn Fn(usize) -> String + Send + Sync>;

/// What a loop's thread waits for once its loop exists: its context and
/// the slot for its main's result, or `None` (the start failed elsewhere).
type GoAhead<T> = Option<(LoopContext, WatchSlot<T>)>;

/// Settings for [`Loops`]: the number of loops, their threads' names, how
/// each loop's [`Runner`] is configured.
#[must_use = "a builder does nothing until `start`"]
pub struct LoopsBuilder {
    threads: usize,
    name: ThreadName,
    runner: MakeRunner,
    pin: bool,
}

impl fmt::Debug for LoopsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopsBuilder")
            .field("threads", &self.threads)
            .field("name", &(self.name)(0))
            .field("pin", &self.pin)
            .finish_non_exhaustive()
    }
}

impl Default for LoopsBuilder {
    fn default() -> Self {
        LoopsBuilder {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            name: Arc::new(|i| format!("asyncio-loop-{i}")),
            runner: Arc::new(|_| Runner::new()),
            pin: false,
        }
    }
}

impl LoopsBuilder {
    /// How many loops (threads); at least 1. Default: the cores this
    /// process may use (`std::thread::available_parallelism`).
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n.max(1);
        self
    }

    /// The threads' name prefix (`NAME-0`, `NAME-1`, …); default
    /// `asyncio-loop`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        let name = name.into();
        self.name = Arc::new(move |i| format!("{name}-{i}"));
        self
    }

    /// Thread `i`'s name, whole.
    pub fn thread_name_fn(mut self, name: impl Fn(usize) -> String + Send + Sync + 'static) -> Self {
        self.name = Arc::new(name);
        self
    }

    /// How loop `i`'s [`Runner`] is made (debug mode, eager tasks, …);
    /// default `Runner::new()`. Called on the loop's own thread.
    pub fn runner(mut self, make: impl Fn(usize) -> Runner + Send + Sync + 'static) -> Self {
        self.runner = Arc::new(make);
        self
    }

    /// Pins loop `i`'s thread to the `i`-th CPU this process may use
    /// (wrapping around when there are more loops than CPUs); default off.
    /// A pinned loop keeps its caches and is never moved by the scheduler,
    /// at the price of sharing its CPU with whatever else is pinned there.
    /// Linux only: elsewhere `start` fails with `Unsupported`.
    pub fn pin_to_cores(mut self, on: bool) -> Self {
        self.pin = on;
        self
    }

    /// Starts the loops, each running the future `main` makes for it; see
    /// [`Loops::start`].
    ///
    /// # Errors
    /// If a thread cannot be started, pinned (with
    /// [`pin_to_cores`](Self::pin_to_cores)) or given its loop (its runner
    /// panicked): the loops already started are stopped first.
    pub fn start<T, M, F>(self, main: M) -> io::Result<Loops<T>>
    where
        M: Fn(LoopContext) -> F + Send + Sync + 'static,
        F: Future<Output = T> + 'static,
        T: Send + 'static,
    {
        let n = self.threads;
        let main = Arc::new(main);
        let (handle_tx, handle_rx) = mpsc::channel::<(usize, io::Result<LoopHandle>)>();
        let cpus = if self.pin {
            let cpus = crate::runtime::affinity::allowed_cpus()?;
            if cpus.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "pinning threads to CPUs is only supported on Linux",
                ));
            }
            Some(cpus)
        } else {
            None
        };
        let mut threads = Vec::with_capacity(n);
        // Per thread: where its go-ahead comes from (`None`: give up).
        let mut starts: Vec<mpsc::Sender<GoAhead<T>>> = Vec::with_capacity(n);
        let abort = |starts: Vec<mpsc::Sender<_>>, threads: Vec<JoinHandle<()>>| {
            for s in starts {
                let _ = s.send(None);
            }
            for t in threads {
                let _ = t.join();
            }
        };
        for i in 0..n {
            let (go_tx, go_rx) = mpsc::channel();
            let (handle_tx, make_runner, main) = (handle_tx.clone(), self.runner.clone(), main.clone());
            let cpu = cpus.as_ref().map(|c| c[i % c.len()]);
            let spawned = std::thread::Builder::new()
                .name((self.name)(i))
                .spawn(move || loop_thread(i, cpu, &*make_runner, handle_tx, go_rx, &*main));
            match spawned {
                Ok(t) => {
                    threads.push(t);
                    starts.push(go_tx);
                }
                Err(e) => {
                    abort(starts, threads);
                    return Err(e);
                }
            }
        }
        drop(handle_tx);
        let mut handles: Vec<Option<LoopHandle>> = vec![None; n];
        for _ in 0..n {
            match handle_rx.recv() {
                Ok((i, Ok(h))) => handles[i] = Some(h),
                Ok((i, Err(e))) => {
                    abort(starts, threads);
                    return Err(io::Error::new(e.kind(), format!("loop {i}: {e}")));
                }
                Err(_) => {
                    abort(starts, threads);
                    return Err(io::Error::other("a loop of Loops could not be created"));
                }
            }
        }
        let loops: Arc<[LoopHandle]> = handles.into_iter().map(|h| h.expect("every loop reported")).collect();
        let all = Arc::new(AllDone {
            running: AtomicUsize::new(n),
            stops: (0..n).map(|_| Stop::default()).collect(),
        });
        let mut mains = Vec::with_capacity(n);
        for (i, start) in starts.into_iter().enumerate() {
            let (result, watch) = loops[i].watched();
            let cx = LoopContext {
                index: i,
                loops: loops.clone(),
                all: all.clone(),
            };
            // The thread waits for this; if it is gone (it panicked after
            // reporting), the result slot says so when dropped.
            let _ = start.send(Some((cx, watch)));
            mains.push(result);
        }
        Ok(Loops {
            handles: loops,
            mains,
            threads,
        })
    }
}

/// One loop's thread: makes the loop, reports its handle, waits for the
/// go-ahead, runs `main` as the loop's main task until it ends.
fn loop_thread<T, M, F>(
    index: usize,
    cpu: Option<usize>,
    make_runner: &(dyn Fn(usize) -> Runner + Send + Sync),
    handle_tx: mpsc::Sender<(usize, io::Result<LoopHandle>)>,
    go: mpsc::Receiver<GoAhead<T>>,
    main: &M,
) where
    M: Fn(LoopContext) -> F,
    F: Future<Output = T> + 'static,
    T: Send + 'static,
{
    if let Some(cpu) = cpu {
        if let Err(e) = crate::runtime::affinity::pin_current_thread(cpu) {
            let _ = handle_tx.send((index, Err(e)));
            return;
        }
    }
    let mut runner = make_runner(index);
    if handle_tx.send((index, Ok(runner.get_loop().handle()))).is_err() {
        return;
    }
    drop(handle_tx);
    let Ok(Some((cx, watch))) = go.recv() else {
        return; // the start failed elsewhere
    };
    let all = cx.all.clone();
    runner.run(async move {
        let finished = Finished(&all);
        let task = crate::task::Builder::new()
            .name(format!("loop {index} main"))
            .spawn(main(cx));
        watch.watch(task).await;
        drop(finished);
        // Serve the other loops until every main has returned.
        std::future::poll_fn(|task_cx| {
            let stop = &all.stops[index];
            stop.waker.register(task_cx.waker());
            if stop.flag.load(Ordering::Acquire) {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await;
    });
}

/// What the loops share: how many mains are still running, and each loop's
/// "every main has returned" flag.
struct AllDone {
    running: AtomicUsize,
    stops: Box<[Stop]>,
}

#[derive(Default)]
struct Stop {
    flag: AtomicBool,
    waker: AtomicWaker,
}

/// Counts one main as returned when dropped (on every path, unwinding
/// included); the last one tells every loop to close.
struct Finished<'a>(&'a AllDone);

impl Drop for Finished<'_> {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            for stop in self.0.stops.iter() {
                stop.flag.store(true, Ordering::Release);
                stop.waker.wake();
            }
        }
    }
}

/// N event loops, one per thread, each running a main future of its own
/// (see the [module](self)).
///
/// Dropping it cancels the mains still running and lets the threads end on
/// their own; [`join`](Loops::join) or [`wait`](Loops::wait) first to have
/// the outputs.
pub struct Loops<T> {
    handles: Arc<[LoopHandle]>,
    mains: Vec<ConcurrentFuture<T>>,
    threads: Vec<JoinHandle<()>>,
}

impl<T> fmt::Debug for Loops<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loops")
            .field("len", &self.handles.len())
            .field("done", &self.mains.iter().filter(|m| m.done()).count())
            .finish()
    }
}

impl Loops<()> {
    /// A builder for the number of loops, their names and runners.
    pub fn builder() -> LoopsBuilder {
        LoopsBuilder::default()
    }
}

impl<T: Send + 'static> Loops<T> {
    /// Starts `n` loops (at least 1), each on a thread of its own, each
    /// running the future `main` makes for it on that thread; the future
    /// need not be `Send`. [`Loops::builder`] sets more.
    ///
    /// Blocks the calling thread until every loop exists (a thread start
    /// each); call it before the first loop's work, or from a loop whose
    /// turn may wait that long.
    ///
    /// # Errors
    /// As [`LoopsBuilder::start`].
    pub fn start<M, F>(n: usize, main: M) -> io::Result<Loops<T>>
    where
        M: Fn(LoopContext) -> F + Send + Sync + 'static,
        F: Future<Output = T> + 'static,
    {
        Loops::builder().threads(n).start(main)
    }

    /// How many loops there are.
    #[allow(clippy::len_without_is_empty)] // never empty
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Loop `i`'s handle, to hand it work from outside.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn handle(&self, i: usize) -> &LoopHandle {
        &self.handles[i]
    }

    /// Every loop's handle, by index.
    pub fn handles(&self) -> &[LoopHandle] {
        &self.handles
    }

    /// Requests cancellation of every main still running (each sees it as
    /// its task's `cancel()`; a main that catches it may go on).
    pub fn cancel(&self) {
        for m in &self.mains {
            m.cancel();
        }
    }

    /// Waits for every main and its thread; the outputs by index (a main
    /// that panicked or was cancelled gives its [`TaskError`]).
    ///
    /// # Panics
    /// If called on one of these loops' own threads (it would wait for
    /// itself): use [`wait`](Loops::wait) there.
    pub fn join(mut self) -> Vec<Result<T, TaskError>> {
        let mains = std::mem::take(&mut self.mains);
        let out = mains.into_iter().map(ConcurrentFuture::result).collect();
        for t in std::mem::take(&mut self.threads) {
            // The main's result is out: the thread only closes its loop.
            let _ = t.join();
        }
        out
    }

    /// As [`join`](Loops::join), from async code (on any loop, these ones
    /// included); the threads are joined off the loop.
    ///
    /// # Cancel safety
    /// Dropping the wait drops the `Loops`, which cancels the mains still
    /// running.
    pub async fn wait(mut self) -> Vec<Result<T, TaskError>> {
        let mut out = Vec::with_capacity(self.mains.len());
        for m in std::mem::take(&mut self.mains) {
            out.push(m.await);
        }
        let threads = std::mem::take(&mut self.threads);
        if !threads.is_empty() {
            let joined = crate::to_thread(move || {
                for t in threads {
                    let _ = t.join();
                }
            })
            .await;
            // Only fails if the default executor is gone (the loop closing):
            // the threads end on their own regardless.
            drop(joined);
        }
        out
    }
}

impl<T> Loops<T> {
    /// Lets the loops run on with nobody waiting for them: neither
    /// cancelled (as dropping does) nor joined; their outputs are dropped.
    pub fn detach(mut self) {
        self.mains.clear();
        self.threads.clear();
    }
}

impl<T> Drop for Loops<T> {
    fn drop(&mut self) {
        for m in &self.mains {
            m.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;
    use std::time::Duration;

    #[test]
    fn every_loop_runs_its_main_on_its_own_thread() {
        let loops = Loops::builder()
            .threads(3)
            .name("t-loop")
            .start(|cx| async move {
                let name = std::thread::current().name().unwrap().to_owned();
                // Not Send, and fine: made on this thread.
                let local = Rc::new(cx.index());
                crate::sleep(Duration::from_millis(1)).await;
                (name, *local, cx.len())
            })
            .unwrap();
        assert_eq!(loops.len(), 3);
        let out: Vec<_> = loops.join().into_iter().map(Result::unwrap).collect();
        assert_eq!(
            out,
            [
                ("t-loop-0".to_owned(), 0, 3),
                ("t-loop-1".to_owned(), 1, 3),
                ("t-loop-2".to_owned(), 2, 3)
            ]
        );
    }

    #[test]
    fn work_goes_from_loop_to_loop_and_comes_back() {
        let loops = Loops::start(2, |cx| async move {
            if cx.index() == 1 {
                return 0; // loop 1 only serves
            }
            let mut sum = 0;
            for i in 0..100u64 {
                let on = cx
                    .handle(1)
                    .spawn_with(move || async move {
                        crate::sleep(Duration::from_micros(10)).await;
                        i
                    })
                    .unwrap();
                sum += on.await.unwrap();
            }
            sum
        })
        .unwrap();
        let out: Vec<u64> = loops.join().into_iter().map(Result::unwrap).collect();
        assert_eq!(out, [4950, 0]);
    }

    #[test]
    fn cancel_stops_every_main_and_runs_its_destructors() {
        struct Flag(Arc<std::sync::atomic::AtomicUsize>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let d = dropped.clone();
        let (started_tx, started_rx) = mpsc::sync_channel::<()>(2);
        let loops = Loops::start(2, move |_| {
            let flag = Flag(d.clone());
            let started = started_tx.clone();
            async move {
                let _flag = flag;
                let _ = started.send(());
                std::future::pending::<()>().await;
            }
        })
        .unwrap();
        started_rx.recv().unwrap();
        started_rx.recv().unwrap();
        loops.cancel();
        for r in loops.join() {
            assert!(r.unwrap_err().is_cancelled());
        }
        assert_eq!(dropped.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn a_panicking_main_is_an_error_and_the_others_finish() {
        let loops = Loops::start(2, |cx| async move {
            if cx.index() == 0 {
                panic!("loop 0 fails");
            }
            7
        })
        .unwrap();
        let out = loops.join();
        assert!(out[0].as_ref().unwrap_err().is_panic());
        assert_eq!(*out[1].as_ref().unwrap(), 7);
    }

    #[test]
    fn a_runner_that_panics_fails_the_start() {
        let r = Loops::builder()
            .threads(3)
            .runner(|i| {
                assert!(i != 2, "no runner for loop 2");
                Runner::new()
            })
            .start(|_| async {});
        assert!(r.is_err());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn pinned_loops_run_on_one_cpu_each() {
        let cpus = crate::runtime::affinity::allowed_cpus().unwrap();
        let loops = Loops::builder()
            .threads(3)
            .pin_to_cores(true)
            .start(|_| async { crate::runtime::affinity::allowed_cpus().unwrap() })
            .unwrap();
        let out: Vec<Vec<usize>> = loops.join().into_iter().map(Result::unwrap).collect();
        for (i, allowed) in out.iter().enumerate() {
            assert_eq!(*allowed, [cpus[i % cpus.len()]]);
        }
    }

    #[test]
    fn waited_from_another_loop() {
        let out = crate::run(async {
            let loops = Loops::start(2, |cx| async move { cx.index() * 10 }).unwrap();
            loops.wait().await
        });
        assert_eq!(out.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [0, 10]);
    }
}
