//! Runtime comparison, asyncio against tokio and smol: run with
//! `cargo bench -p asyncio-benches --bench compare` (`BENCH_SMOKE=1` or
//! `-- --smoke` for a seconds-long CI run, `BENCH_ROUNDS=N` for the number of
//! rounds, `-- NAME` to run only workloads whose name contains NAME).
//!
//! It shows, for each workload, the wall time per operation (median and
//! min–max over the rounds) under asyncio, tokio's current-thread runtime and
//! smol's `LocalExecutor` (the main comparison: all single-threaded), plus
//! tokio's multi-thread runtime and smol's `Executor` on two worker threads,
//! and the ratio `peer / asyncio` of the medians (above 1: asyncio is faster).
//!
//! Every workload is written once, in the `workloads!` macro, and expanded
//! for each runtime, so the five implementations are the same code over each
//! runtime's own `spawn`, `yield_now`, `sleep`, `timeout` and task group, and
//! asyncio's `gather` or the peers' runtime-neutral `join_all` (see the
//! adapters in `src/runtime/`). The runtimes take turns round-robin, one sample
//! each per round, the starting runtime rotating from round to round, after
//! one untimed warm-up round.

#![forbid(unsafe_code)]

use std::time::Duration;

use asyncio_benches::report::{heading, print_ratio_table, summary_table, Row};
use asyncio_benches::{measure, per_runtime, runtime_modules, Config, Run, Summary, XorShift64, RUNTIME_NAMES};

/// The workloads, generic over the runtime type alias `R`. Every function
/// builds a fresh runtime, runs the workload as its root future, and returns
/// the time the root future took.
macro_rules! workloads {
    ($rt:ty) => {
        use std::future::Future;
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::sync::Arc;
        use std::time::Duration;

        use asyncio_benches::{
            assert_count_and_sum, assert_in_order, count_and_sum, count_and_sum_blocking, time_on, QueueRx, QueueTx,
            Signal, StaggerChain, ThreadTx, YieldThen,
        };

        type R = $rt;

        // spawn_await, timers, timer_churn, timeout_ready: shared with the `instructions` bench.
        asyncio_benches::shared_workloads!();

        /// Joins `n` already-ready futures in place (asyncio: `gather`;
        /// peers: the runtime-neutral `join_all`); checks the outputs' order.
        pub fn gather_ready(n: usize) -> Duration {
            time_on::<R, _>(async move {
                let out = R::join_all((0..n as u64).map(std::future::ready)).await;
                assert_in_order(&out, n);
            })
        }

        /// Joins `n` futures in place that are each pending once (waking
        /// themselves) and then ready with their index; checks the order.
        pub fn gather_yield(n: usize) -> Duration {
            time_on::<R, _>(async move {
                let out = R::join_all((0..n as u64).map(YieldThen::new)).await;
                assert_in_order(&out, n);
            })
        }

        /// Joins `n` futures in place that finish one at a time, in input
        /// order (a `StaggerChain`: child i finishes only after child i - 1,
        /// at a poll after a later wake); checks the order and that every
        /// child finished.
        pub fn gather_staggered(n: usize) -> Duration {
            time_on::<R, _>(async move {
                let chain = StaggerChain::new(n);
                let out = R::join_all(chain.children()).await;
                assert_in_order(&out, n);
                assert_eq!(chain.finished(), n, "a child did not finish");
            })
        }

        /// Spawns `n` tasks returning their index into the runtime's task
        /// group, joins the group and checks the sum of the outputs.
        pub fn taskgroup(n: usize) -> Duration {
            time_on::<R, _>(async move {
                let mut group = R::group(n);
                for i in 0..n as u64 {
                    group.spawn(async move { i });
                }
                let mut sum = 0u64;
                group.join(|v| sum += v).await;
                let n = n as u64;
                assert_eq!(sum, n * (n - 1) / 2, "a child's output is missing");
            })
        }

        /// One link of the chain: spawns the next link (detached) and
        /// returns; the last one sets `done`.
        fn chain_link(left: usize, done: Arc<Signal>) -> impl Future<Output = ()> + Send + 'static {
            async move {
                if left == 0 {
                    done.notify();
                } else {
                    R::detach(R::spawn(chain_link(left - 1, done)));
                }
            }
        }

        /// A chain of `n` tasks, each spawning the next and returning.
        pub fn spawn_chain(n: usize) -> Duration {
            time_on::<R, _>(async move {
                let done = Arc::new(Signal::new());
                R::detach(R::spawn(chain_link(n - 1, done.clone())));
                done.wait().await;
            })
        }

        /// `tasks` tasks each yielding `yields` times, all at once.
        pub fn yielders(tasks: usize, yields: usize) -> Duration {
            time_on::<R, _>(async move {
                let mut handles = Vec::with_capacity(tasks);
                for _ in 0..tasks {
                    handles.push(R::spawn(async move {
                        for _ in 0..yields {
                            R::yield_now().await;
                        }
                    }));
                }
                for h in handles {
                    h.await;
                }
            })
        }

        /// `n` round trips between a std thread and a task: the thread sets
        /// a `Signal` (waking the task through its `Waker`), the task answers
        /// on a std channel, the thread waits for the answer.
        pub fn cross_thread_wake(n: usize) -> Duration {
            time_on::<R, _>(async move {
                let ping = Arc::new(Signal::new());
                let (reply_tx, reply_rx) = std::sync::mpsc::channel::<()>();
                let pinger = {
                    let ping = ping.clone();
                    std::thread::spawn(move || {
                        for _ in 0..n {
                            ping.notify();
                            reply_rx.recv().expect("reply");
                        }
                    })
                };
                let worker = R::spawn(async move {
                    for _ in 0..n {
                        ping.wait().await;
                        reply_tx.send(()).expect("send reply");
                    }
                });
                worker.await;
                pinger.join().expect("pinger thread");
            })
        }

        /// One task, `n` × (acquire the runtime's lock, release it at once):
        /// never contended.
        pub fn lock_uncontended(n: usize) -> Duration {
            time_on::<R, _>(async move {
                let lock = R::new_lock();
                let worker = R::spawn(async move {
                    for _ in 0..n {
                        let guard = R::lock(&lock).await;
                        drop(guard);
                    }
                });
                worker.await;
            })
        }

        /// `tasks` tasks sharing one lock, each `iters` × (acquire, read a
        /// shared counter, yield, write it back plus one, release); checks
        /// at the end that no update was lost (so that the lock really did
        /// exclude across the yield).
        pub fn lock_contended(tasks: usize, iters: usize) -> Duration {
            time_on::<R, _>(async move {
                let lock = R::new_lock();
                let count = Arc::new(AtomicU64::new(0));
                let mut handles = Vec::with_capacity(tasks);
                for _ in 0..tasks {
                    let (lock, count) = (lock.clone(), count.clone());
                    handles.push(R::spawn(async move {
                        for _ in 0..iters {
                            let guard = R::lock(&lock).await;
                            let v = count.load(Ordering::Relaxed);
                            R::yield_now().await;
                            count.store(v + 1, Ordering::Relaxed);
                            drop(guard);
                        }
                    }));
                }
                for h in handles {
                    h.await;
                }
                assert_eq!(
                    count.load(Ordering::Relaxed),
                    (tasks * iters) as u64,
                    "the lock let an update be lost"
                );
            })
        }

        /// `tasks` tasks sharing a semaphore of `permits` permits, each
        /// `iters` × (acquire, yield, release).
        pub fn semaphore(permits: usize, tasks: usize, iters: usize) -> Duration {
            time_on::<R, _>(async move {
                let sem = R::new_semaphore(permits);
                let mut handles = Vec::with_capacity(tasks);
                for _ in 0..tasks {
                    let sem = sem.clone();
                    handles.push(R::spawn(async move {
                        for _ in 0..iters {
                            let permit = R::acquire(&sem).await;
                            R::yield_now().await;
                            drop(permit);
                        }
                    }));
                }
                for h in handles {
                    h.await;
                }
            })
        }

        /// `n` round trips between two tasks through two notifications: A
        /// notifies "ping" and waits for "pong", B waits for "ping" and
        /// notifies "pong". A shared turn counter, bumped by each side before
        /// it notifies, is checked by each side after its wait returns, so a
        /// lost or a stale notification fails the run instead of skewing it.
        pub fn event_pingpong(n: usize) -> Duration {
            time_on::<R, _>(async move {
                let (ping, pong) = (R::new_event(), R::new_event());
                let turns = Arc::new(AtomicU64::new(0));
                let a = {
                    let (ping, pong, turns) = (ping.clone(), pong.clone(), turns.clone());
                    R::spawn(async move {
                        for i in 0..n as u64 {
                            turns.fetch_add(1, Ordering::Relaxed);
                            R::notify_event(&ping);
                            R::wait_event(&pong).await;
                            assert_eq!(turns.load(Ordering::Relaxed), 2 * i + 2, "pong out of turn");
                        }
                    })
                };
                let b = R::spawn(async move {
                    for i in 0..n as u64 {
                        R::wait_event(&ping).await;
                        assert_eq!(turns.load(Ordering::Relaxed), 2 * i + 1, "ping out of turn");
                        turns.fetch_add(1, Ordering::Relaxed);
                        R::notify_event(&pong);
                    }
                });
                a.await;
                b.await;
            })
        }

        /// One producer task putting `0..n` into a bounded queue of
        /// `capacity`, then closing it; one consumer task getting until the
        /// queue is closed and drained, checking the items arrive in order.
        pub fn queue_spsc(n: usize, capacity: usize) -> Duration {
            time_on::<R, _>(async move {
                let (tx, mut rx) = R::spsc_queue::<u64>(capacity);
                let producer = R::spawn(async move {
                    for i in 0..n as u64 {
                        tx.enqueue(i).await;
                    }
                    tx.close_queue();
                });
                let consumer = R::spawn(async move {
                    let mut next = 0u64;
                    while let Some(v) = rx.dequeue().await {
                        assert_eq!(v, next, "items out of order");
                        next += 1;
                    }
                    next
                });
                producer.await;
                assert_eq!(consumer.await, n as u64, "items lost");
            })
        }

        /// `producers` tasks each putting `per_producer` items into one
        /// bounded queue of `capacity`, `consumers` tasks getting until it
        /// is closed and drained; the root closes the queue once every
        /// producer is done, then checks the count and sum of what the
        /// consumers got.
        pub fn queue_mpmc(producers: usize, per_producer: usize, consumers: usize, capacity: usize) -> Duration {
            time_on::<R, _>(async move {
                let (tx, rx) = R::mpmc_queue::<u64>(capacity);
                let mut getters = Vec::with_capacity(consumers);
                for _ in 0..consumers {
                    let mut rx = rx.clone();
                    getters.push(R::spawn(async move { count_and_sum(&mut rx).await }));
                }
                drop(rx);
                let mut putters = Vec::with_capacity(producers);
                for p in 0..producers {
                    let tx = tx.clone();
                    putters.push(R::spawn(async move {
                        let base = (p * per_producer) as u64;
                        for i in 0..per_producer as u64 {
                            tx.enqueue(base + i).await;
                        }
                    }));
                }
                for h in putters {
                    h.await;
                }
                tx.close_queue();
                let (mut got, mut sum) = (0u64, 0u64);
                for h in getters {
                    let (g, s) = h.await;
                    got += g;
                    sum += s;
                }
                assert_count_and_sum(got, sum, (producers * per_producer) as u64);
            })
        }

        /// A plain std thread (no runtime on it) sends `0..n` into the
        /// runtime's cross-thread channel bounded at `capacity` with the
        /// channel's blocking send, then drops its sender (closing the
        /// channel); one task on the runtime receives with the async receive
        /// until the channel is closed and drained, checking the count and
        /// the sum.
        pub fn channel_cross_thread(n: usize, capacity: usize) -> Duration {
            time_on::<R, _>(async move {
                let (tx, mut rx) = R::thread_channel::<u64>(capacity);
                let producer = std::thread::spawn(move || {
                    for i in 0..n as u64 {
                        tx.enqueue_blocking(i);
                    }
                });
                let consumer = R::spawn(async move { count_and_sum(&mut rx).await });
                let (got, sum) = consumer.await;
                producer.join().expect("producer thread");
                assert_count_and_sum(got, sum, n as u64);
            })
        }

        /// The other direction: one task on the runtime sends `0..n` into
        /// the cross-thread channel with the async send, then drops its
        /// sender; a plain std thread receives with the blocking receive
        /// until closed and drained. The root awaits the task, then joins
        /// the thread (by then it has at most `capacity` items left to
        /// drain, which needs nothing from the runtime) and checks the count
        /// and the sum.
        pub fn channel_cross_thread_to_thread(n: usize, capacity: usize) -> Duration {
            time_on::<R, _>(async move {
                let (tx, mut rx) = R::thread_channel::<u64>(capacity);
                let consumer = std::thread::spawn(move || count_and_sum_blocking(&mut rx));
                let producer = R::spawn(async move {
                    for i in 0..n as u64 {
                        tx.enqueue(i).await;
                    }
                    tx.close_queue();
                });
                producer.await;
                let (got, sum) = consumer.join().expect("consumer thread");
                assert_count_and_sum(got, sum, n as u64);
            })
        }
    };
}

runtime_modules!(workloads);

struct Workload<'a> {
    name: &'static str,
    /// What one operation is, for the table.
    unit: &'static str,
    /// Operations per run.
    ops: u64,
    /// How the workload is built, printed under the tables.
    note: String,
    runs: [Run<'a>; 5],
}

fn main() {
    let cfg = Config::from_env();

    let spawn_n = cfg.size(1_000_000);
    let chain_n = cfg.size(1_000_000);
    let pingpong_n = cfg.size(1_000_000);
    let (many_tasks, many_yields) = if cfg.smoke { (100, 10) } else { (100, 10_000) };
    let timers_n = cfg.size(100_000);
    let churn_n = cfg.size(1_000_000);
    let cross_n = cfg.size(100_000);
    let gather_n = cfg.size(100_000);
    let staggered_n = cfg.size(10_000);
    let group_n = cfg.size(100_000);
    let lock_n = cfg.size(1_000_000);
    let (lock_tasks, lock_iters) = if cfg.smoke { (100, 10) } else { (100, 10_000) };
    let (sem_permits, sem_tasks, sem_iters) = if cfg.smoke { (10, 100, 10) } else { (10, 1000, 100) };
    let event_n = cfg.size(100_000);
    let queue_n = cfg.size(1_000_000);
    let queue_cap = 1024;
    let (mpmc_producers, mpmc_consumers) = (4, 4);
    let mpmc_per = cfg.size(250_000);
    let chan_n = cfg.size(1_000_000);
    let chan_cap = 1024;

    let mut rng = XorShift64::new(0x5EED_1234_ABCD_0001);
    let durations: Vec<Duration> = (0..timers_n).map(|_| Duration::from_millis(rng.range(1, 20))).collect();
    let durations: &[Duration] = &durations;

    let workloads = [
        Workload {
            name: "spawn_await",
            unit: "ns/task",
            ops: spawn_n as u64,
            note: format!("spawn {spawn_n} empty tasks, then await each handle in order"),
            runs: per_runtime!(spawn_await(spawn_n)),
        },
        Workload {
            name: "spawn_chain",
            unit: "ns/task",
            ops: chain_n as u64,
            note: format!(
                "{chain_n} tasks in a chain: each spawns the next (detached) and returns; \
                 the last sets a Signal the root awaits"
            ),
            runs: per_runtime!(spawn_chain(chain_n)),
        },
        Workload {
            name: "yield_pingpong",
            unit: "ns/yield",
            ops: 2 * pingpong_n as u64,
            note: format!(
                "2 tasks each calling the runtime's yield_now {pingpong_n} times, concurrently. \
                 Caveat: tokio's yield_now defers its wake until the scheduler has polled the I/O driver, \
                 so with only two tasks tokio makes an epoll_wait(0) call every other yield (asyncio makes \
                 one every 61 polls, smol one every 200; counted with strace)"
            ),
            runs: per_runtime!(yielders(2, pingpong_n)),
        },
        Workload {
            name: "yield_many",
            unit: "ns/yield",
            ops: (many_tasks * many_yields) as u64,
            note: format!(
                "{many_tasks} tasks each calling the runtime's yield_now {many_yields} times, concurrently \
                 (tokio's shape; the yield_pingpong caveat applies once per round of {many_tasks} yields)"
            ),
            runs: per_runtime!(yielders(many_tasks, many_yields)),
        },
        Workload {
            name: "timers_100k",
            unit: "ns/timer",
            ops: timers_n as u64,
            note: format!(
                "{timers_n} tasks each sleeping 1-20 ms (xorshift64, fixed seed, same list for all), all awaited; \
                 wall time is at least 20 ms"
            ),
            runs: per_runtime!(timers(durations)),
        },
        Workload {
            name: "timer_churn",
            unit: "ns/op",
            ops: churn_n as u64,
            note: format!(
                "one task, {churn_n} sequential timeout(60 s, f) where f is pending once (wakes itself) and \
                 then ready: the timer is armed and then cancelled; includes one trip through the run queue. \
                 tokio: tokio::time::timeout; smol: futures_lite::future::or(f, async_io::Timer::after(60 s))"
            ),
            runs: per_runtime!(timer_churn(churn_n)),
        },
        Workload {
            name: "timeout_ready",
            unit: "ns/op",
            ops: churn_n as u64,
            note: format!(
                "one task, {churn_n} sequential timeout(60 s, ready(())): the future is polled first, so no timer \
                 is armed by any runtime (tokio still reads the clock when the Timeout is built)"
            ),
            runs: per_runtime!(timeout_ready(churn_n)),
        },
        Workload {
            name: "cross_thread_wake",
            unit: "ns/round trip",
            ops: cross_n as u64,
            note: format!(
                "{cross_n} round trips: a std thread sets a Signal (flag + Waker, the same code for all) which \
                 wakes a task; the task answers on a std mpsc channel the thread blocks on. Dominated by \
                 the kernel's thread wake-ups: on a VM it swings between ~10 and ~100 us whatever the runtime"
            ),
            runs: per_runtime!(cross_thread_wake(cross_n)),
        },
        Workload {
            name: "gather_ready_100k",
            unit: "ns/future",
            ops: gather_n as u64,
            note: format!(
                "join {gather_n} futures that are ready at once (std::future::ready(i)) in place, no task spawned, \
                 in the root future; the outputs are checked to be 0..n in order. asyncio: asyncio::gather(iter). \
                 tokio and smol have no join-all of their own (tokio::join! takes a fixed number, futures-lite has \
                 only zip), so all four peer columns run the same runtime-neutral join_all from src/join.rs (a Vec of \
                 futures all polled on every wake with the parent's waker, as futures::future::join_all does up to 30 \
                 futures): they measure that combinator, not the runtime. asyncio::gather does the same at first \
                 (every child polled with the gather's own waker), and switches to a waker per child once a pass \
                 finishes under an eighth of them (see gather_staggered_10k)"
            ),
            runs: per_runtime!(gather_ready(gather_n)),
        },
        Workload {
            name: "gather_yield_100k",
            unit: "ns/future",
            ops: gather_n as u64,
            note: format!(
                "as gather_ready_100k, but each of the {gather_n} futures is pending once (wakes itself, the same \
                 hand-written future for all) and then ready with its index: two passes over all children, \
                 whose wakes all go to the root future's own waker, in every column"
            ),
            runs: per_runtime!(gather_yield(gather_n)),
        },
        Workload {
            name: "gather_staggered_10k",
            unit: "ns/future",
            ops: staggered_n as u64,
            note: format!(
                "the other side of the gather rows: join {staggered_n} futures (the same hand-written future for \
                 all, sharing an Rc'd counter and per-child waker slots; the join runs in the root future on one \
                 thread, so Rc serves the mt columns too) that finish one at a time: child i finishes only after \
                 child i-1, which on finishing wakes child i's registered waker; child i then wakes itself once \
                 and finishes at its next poll (without that extra wake an in-order pass, which both joins make \
                 first, would finish the whole chain at once). The outputs are checked to be 0..n in order. \
                 The peers' join_all re-polls every unfinished child on each wake and finishes one child per \
                 pass: about n²/2 = {} child polls, O(n²); asyncio::gather re-polls all twice too, sees the \
                 second pass finish one child, gives each child a waker of its own in a third pass and from then \
                 on polls only the woken child: at most 5 polls per child, O(n). The peer columns measure that \
                 combinator, not the runtime",
                (staggered_n as u64 * staggered_n as u64) / 2
            ),
            runs: per_runtime!(gather_staggered(staggered_n)),
        },
        Workload {
            name: "taskgroup_100k",
            unit: "ns/task",
            ops: group_n as u64,
            note: format!(
                "spawn {group_n} tasks (each returns its index) into a group, wait for all, sum the outputs. \
                 asyncio: TaskGroup::create_task, join().await, then GroupTask::result of each kept handle; tokio: \
                 JoinSet::spawn, then join_next until empty; smol has no group type: Executor::spawn, the Task \
                 handles kept in a Vec and awaited in order (what spawn_await does, plus the outputs)"
            ),
            runs: per_runtime!(taskgroup(group_n)),
        },
        Workload {
            name: "lock_uncontended",
            unit: "ns/acquire",
            ops: lock_n as u64,
            note: format!(
                "one task, {lock_n} × (acquire the lock, drop the guard at once): the fast path only. \
                 asyncio: sync::Lock (Rc); tokio columns: tokio::sync::Mutex<()> (Arc); smol columns: \
                 async_lock::Mutex<()> (smol::lock::Mutex, Arc). tokio's acquire spends coop budget, so \
                 every 128th lock() is Pending once and the task goes round the run queue"
            ),
            runs: per_runtime!(lock_uncontended(lock_n)),
        },
        Workload {
            name: "lock_contended",
            unit: "ns/acquire",
            ops: (lock_tasks * lock_iters) as u64,
            note: format!(
                "{lock_tasks} tasks sharing one lock (peers as lock_uncontended), each {lock_iters} × (acquire, \
                 load a shared AtomicU64, yield_now while holding, store it + 1, release); the count is checked \
                 at the end (no lost update). The yield is what makes it contended: without it each task's \
                 acquire would find the lock free every time (nothing else runs between its release and its \
                 next acquire) and the row would be lock_uncontended plus spawning. asyncio's Lock and tokio's \
                 Mutex are FIFO and hand the lock to the longest waiter, so every acquire is a task switch; \
                 async_lock's Mutex is unfair (a releasing task may take it back before the woken waiter runs; \
                 it turns fair for a waiter starved over 0.5 ms), so the smol columns measure a different policy. \
                 The yield_pingpong caveat about tokio's yield_now applies: under a FIFO lock only the holder is \
                 runnable while it yields"
            ),
            runs: per_runtime!(lock_contended(lock_tasks, lock_iters)),
        },
        Workload {
            name: "semaphore_1000",
            unit: "ns/acquire",
            ops: (sem_tasks * sem_iters) as u64,
            note: format!(
                "a semaphore of {sem_permits} permits shared by {sem_tasks} tasks, each {sem_iters} × (acquire, \
                 yield_now while holding, release). asyncio: sync::Semaphore (Rc); tokio columns: \
                 tokio::sync::Semaphore (Arc; FIFO, like asyncio's hand-off); smol columns: async_lock::Semaphore \
                 (smol::lock::Semaphore, Arc; unfair, no hand-off)"
            ),
            runs: per_runtime!(semaphore(sem_permits, sem_tasks, sem_iters)),
        },
        Workload {
            name: "event_pingpong",
            unit: "ns/round trip",
            ops: event_n as u64,
            note: format!(
                "2 tasks, {event_n} round trips through two notifications: A notifies ping and waits for pong, B \
                 waits for ping and notifies pong; a shared AtomicU64 turn counter (the same code for all) is \
                 bumped before each notify and checked after each wait. asyncio: sync::Event (Rc; set, wait, \
                 then clear at once, since an Event stays set: safe because each side sets only after the other \
                 has answered); tokio columns: tokio::sync::Notify (Arc; notify_one stores a permit if nobody \
                 waits, notified consumes it); smol columns: event_listener::Event (the primitive async-lock and \
                 async-channel are built on, Arc) with an AtomicBool per direction, since a notify with no \
                 listener is lost: set the flag, notify(1); the waiter swaps the flag, listen(), swaps it again, \
                 awaits the listener (listen() boxes the listener, one allocation per wait that blocks, as in \
                 async-lock and async-channel; a Semaphore::new(0) used as a notify would be the same listener \
                 behind a permit count). Each round trip is two task switches"
            ),
            runs: per_runtime!(event_pingpong(event_n)),
        },
        Workload {
            name: "queue_spsc",
            unit: "ns/item",
            ops: queue_n as u64,
            note: format!(
                "one producer task puts 0..{queue_n} into a queue bounded at {queue_cap} and then closes it; one \
                 consumer task gets until closed and drained, checking the order. asyncio: sync::Queue::new({queue_cap}) \
                 (Rc; put/get, closed with shutdown(false)); tokio columns: tokio::sync::mpsc::channel({queue_cap}) \
                 (send/recv, closed by dropping the Sender); smol columns: async_channel::bounded({queue_cap}) \
                 (smol::channel)"
            ),
            runs: per_runtime!(queue_spsc(queue_n, queue_cap)),
        },
        Workload {
            name: "queue_mpmc",
            unit: "ns/item",
            ops: (mpmc_producers * mpmc_per) as u64,
            note: format!(
                "{mpmc_producers} producer tasks × {mpmc_per} items into one queue bounded at {queue_cap}, \
                 {mpmc_consumers} consumer tasks getting until it is closed and drained; the root closes it once \
                 every producer is done, then checks the count and sum. asyncio: sync::Queue (Rc); all four peer \
                 columns, tokio's included: async_channel::bounded({queue_cap}), since tokio has no bounded \
                 multi-consumer queue (mpsc has a single Receiver, broadcast gives every item to every receiver): \
                 the tokio columns measure async-channel on tokio's scheduler"
            ),
            runs: per_runtime!(queue_mpmc(mpmc_producers, mpmc_per, mpmc_consumers, queue_cap)),
        },
        Workload {
            name: "channel_cross_thread",
            unit: "ns/item",
            ops: chan_n as u64,
            note: format!(
                "a plain std thread (not a runtime task) sends 0..{chan_n} into a channel bounded at {chan_cap} \
                 with the channel's blocking send, then drops its sender; one task on the runtime receives with \
                 the async recv until closed and drained; the count and sum are checked. asyncio: \
                 sync::channel({chan_cap}) (send_blocking / recv().await); tokio columns: \
                 tokio::sync::mpsc::channel({chan_cap}) (blocking_send / recv().await); smol columns: \
                 async_channel::bounded({chan_cap}) (send_blocking / recv().await). Includes spawning the std \
                 thread. With two cores the thread, the loop and (mt columns) the two workers share them, so \
                 how often either side parks and has to be woken dominates"
            ),
            runs: per_runtime!(channel_cross_thread(chan_n, chan_cap)),
        },
        Workload {
            name: "channel_cross_thread_to_thread",
            unit: "ns/item",
            ops: chan_n as u64,
            note: format!(
                "the other direction: one task on the runtime sends 0..{chan_n} into the same channels (bounded \
                 at {chan_cap}) with the async send, then drops its sender; a plain std thread receives with the \
                 blocking receive (asyncio: recv_blocking; tokio: blocking_recv; async-channel: recv_blocking) \
                 until closed and drained; the root awaits the task, joins the thread and checks count and sum"
            ),
            runs: per_runtime!(channel_cross_thread_to_thread(chan_n, chan_cap)),
        },
    ];

    let selected: Vec<&Workload> = workloads.iter().filter(|w| cfg.selected(w.name)).collect();
    if selected.is_empty() {
        eprintln!("no workload matches {:?}", cfg.filters);
        return;
    }

    let mut results: Vec<Row> = Vec::new();
    for w in &selected {
        let sums = measure(w.name, &RUNTIME_NAMES, &w.runs, cfg.rounds, w.unit, |s| {
            Summary::per_op_ns(s, w.ops)
        });
        results.push(Row {
            name: w.name.to_owned(),
            unit: w.unit.to_owned(),
            sums,
        });
    }

    heading(&format!(
        "asyncio vs tokio vs smol: time per operation, median [min–max] of {} rounds",
        cfg.rounds
    ));
    println!(
        "{}; {} cores; lower is better. The first three columns are single-threaded.",
        cfg.sizes_label(),
        asyncio_benches::report::cores()
    );
    println!();
    print!("{}", summary_table(&RUNTIME_NAMES, &results).render());
    print_ratio_table(&RUNTIME_NAMES, &results);

    println!();
    println!("Workloads:");
    for w in &selected {
        println!("- {}: {}.", w.name, w.note);
    }
    println!(
        "Each runtime is built before and dropped after each timed run (neither is timed); time is taken \
         inside the root future. tokio-mt(2) runs its root future in block_on on the calling thread and \
         tasks on 2 workers; smol-mt(2) runs Executor::run on 2 threads and drives the root future from \
         the calling thread with async_io::block_on. smol-local is driven by async_io::block_on, as \
         smol::block_on does."
    );
}
