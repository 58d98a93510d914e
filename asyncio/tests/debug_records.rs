//! Debug mode keeps each task's record in the task's own allocation and
//! holds completed tasks until the next publication: these tests check that
//! no task memory is leaked or kept past that (a counting allocator), on
//! every way a task ends and with debug mode switched off and on while
//! tasks live, and that dumps from another thread stay sound while tasks
//! come and go.
//!
//! Also: futures aligned beyond the record, zero-sized futures, and
//! destructors that dump, spawn or switch debug mode while tasks complete.
//!
//! One `#[test]` per concern would run them in parallel threads and mix
//! their allocations; so there is one test, running the scenarios in turn.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Counts live bytes across the process.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded from the caller.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded from the caller.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded from the caller.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Takes debug mode's reports and keeps none: on stderr, the test harness
/// would keep them in memory, which would look like a leak.
struct Discard;

impl tracing::Subscriber for Discard {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        false
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Every way a task ends, `n` times each, in debug mode: awaited, detached,
/// named, panicking (awaited and detached), cancelled before its first poll,
/// cancelled while waiting, a TaskGroup's children, and tasks still pending
/// when the loop closes.
fn every_ending(n: usize) {
    let mut runner = asyncio::Runner::new()
        .debug(true)
        .slow_callback_duration(Duration::from_secs(3600));
    runner.run(async move {
        let mut handles = Vec::new();
        for i in 0..n {
            handles.push(asyncio::create_task(async move { i }));
            drop(asyncio::create_task(async move { i }));
            let named = asyncio::task::Builder::new().name(format!("named-{i}")).spawn(async {});
            named.set_name(format!("renamed-{i}"));
            let _ = named.await;
            assert!(asyncio::create_task(async { panic!("expected") }).await.is_err());
            drop(asyncio::create_task(async { panic!("expected") }));
            let unpolled = asyncio::create_task(async {});
            unpolled.cancel();
            assert!(unpolled.await.is_err());
            let waiting = asyncio::create_task(asyncio::sleep(Duration::from_secs(3600)));
            asyncio::yield_now().await;
            waiting.cancel();
            assert!(waiting.await.is_err());
            // Left pending: cancelled when the loop closes.
            drop(asyncio::create_task(asyncio::sleep(Duration::from_secs(3600))));
        }
        let tg = asyncio::TaskGroup::new();
        for _ in 0..n {
            tg.create_task(async {}).unwrap();
        }
        tg.join().await.unwrap();
        for h in handles {
            h.await.unwrap();
        }
    });
    runner.close();
}

/// Tasks spawned in debug mode that outlive it (debug switched off, then on
/// again, while they wait), and tasks spawned after it was switched off.
fn debug_switched_while_tasks_live(n: usize) {
    let mut runner = asyncio::Runner::new().debug(true);
    runner.run(async move {
        let lp = asyncio::get_running_loop();
        let gate = std::rc::Rc::new(asyncio::sync::Event::new());
        let mut traced = Vec::new();
        for _ in 0..n {
            let gate = gate.clone();
            traced.push(asyncio::create_task(async move { gate.wait().await }));
        }
        asyncio::yield_now().await;
        lp.set_debug(false);
        let plain: Vec<_> = (0..n).map(|_| asyncio::create_task(async {})).collect();
        lp.set_debug(true);
        // The first session's tasks are in no table now; they complete under
        // the second.
        gate.set();
        for t in traced {
            t.await.unwrap();
        }
        for t in plain {
            t.await.unwrap();
        }
        let dump = asyncio::debug::dump();
        // The main task, too, belongs to the first session: the second
        // knows no task still alive.
        assert!(dump.contains(": 0 task(s)"), "{dump}");
    });
    runner.close();
}

/// A thread calling `dump_all` as fast as it goes until stopped.
struct Dumper {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<usize>,
}

impl Dumper {
    fn start() -> Dumper {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut dumps = 0;
            while !flag.load(Ordering::Relaxed) {
                std::hint::black_box(asyncio::debug::dump_all());
                dumps += 1;
            }
            dumps
        });
        Dumper { stop, thread }
    }

    /// Stops the thread; how many dumps it made.
    fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// Dumps from another thread, as fast as they go, while the loop spawns,
/// names and completes tasks in many turns.
fn dumps_while_tasks_come_and_go(n: usize) {
    let dumper = Dumper::start();
    let mut runner = asyncio::Runner::new().debug(true);
    runner.run(async move {
        for round in 0..n {
            let tasks: Vec<_> = (0..50)
                .map(|i| {
                    asyncio::task::Builder::new()
                        .name(format!("churn-{round}-{i}"))
                        .spawn(async move {
                            asyncio::yield_now().await;
                            i
                        })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            asyncio::sleep(Duration::ZERO).await;
        }
    });
    runner.close();
    assert!(dumper.stop() > 0);
}

/// Tasks still in the ready queue when the loop closes: cancelled there,
/// each leaving the table at once (its reference belongs to the queue).
fn queued_at_close(n: usize) {
    let mut runner = asyncio::Runner::new().debug(true);
    runner.run(async move {
        for i in 0..n {
            let t = asyncio::create_task(async {
                asyncio::yield_now().await;
                asyncio::yield_now().await;
            });
            if i % 2 == 0 {
                asyncio::yield_now().await;
            }
            drop(t);
        }
        for _ in 0..n {
            drop(asyncio::create_task(async {}));
        }
    });
    std::thread::spawn(asyncio::debug::dump_all).join().unwrap();
    runner.close();
}

/// The last reference to each task dropped on another thread (wakers sent
/// away), while a third thread dumps.
fn last_reference_elsewhere(n: usize) {
    let dumper = Dumper::start();
    let (tx, rx) = std::sync::mpsc::channel::<std::task::Waker>();
    let holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        while let Ok(w) = rx.recv() {
            held.push(w);
            if held.len() > 100 {
                held.clear();
            }
        }
    });
    let mut runner = asyncio::Runner::new().debug(true);
    runner.run(async move {
        for _ in 0..n {
            let tx = tx.clone();
            drop(asyncio::create_task(std::future::poll_fn(move |cx| {
                tx.send(cx.waker().clone()).unwrap();
                std::task::Poll::Ready(())
            })));
        }
        asyncio::sleep(Duration::from_millis(10)).await;
    });
    runner.close();
    drop(runner);
    holder.join().unwrap();
    dumper.stop();
}

/// A future aligned far beyond the record's 8 bytes, pending a few times.
#[repr(align(4096))]
struct Aligned([u8; 5000]);

struct AlignedFuture(Aligned, u32);

impl std::future::Future for AlignedFuture {
    type Output = u8;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<u8> {
        assert_eq!(&self.0 as *const Aligned as usize % 4096, 0, "the future is misaligned");
        if self.1 == 0 {
            return std::task::Poll::Ready(self.0 .0[4999]);
        }
        self.1 -= 1;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

/// Over-aligned and zero-sized futures in debug mode.
fn odd_layouts(n: usize) {
    asyncio::Runner::new().debug(true).run(async move {
        for _ in 0..n {
            let t = asyncio::create_task(AlignedFuture(Aligned([7; 5000]), 3));
            assert_eq!(t.await.unwrap(), 7);
            let p = asyncio::create_task(std::future::pending::<()>());
            asyncio::yield_now().await;
            p.cancel();
            assert!(p.await.is_err());
            asyncio::create_task(std::future::ready(())).await.unwrap();
        }
    });
}

/// Runs `f` when dropped.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

/// Destructors of futures and outputs that dump, spawn, and switch debug
/// mode off and on, while tasks complete and while the loop closes.
fn destructors_reenter(n: usize) {
    let mut runner = asyncio::Runner::new().debug(true);
    runner.run(async move {
        let lp = asyncio::get_running_loop();
        for i in 0..n {
            let lp2 = lp.clone();
            drop(asyncio::create_task(async move {
                let _g = OnDrop(move || {
                    let _ = asyncio::debug::dump();
                    if i % 7 == 0 {
                        lp2.set_debug(false);
                        lp2.set_debug(true);
                    }
                    drop(asyncio::create_task(async {}));
                });
                asyncio::yield_now().await;
                i
            }));
            let lp3 = lp.clone();
            drop(asyncio::create_task(async move {
                OnDrop(move || {
                    let _ = asyncio::debug::dump();
                    if i % 5 == 0 {
                        lp3.set_debug(false);
                        lp3.set_debug(true);
                    }
                })
            }));
        }
        for _ in 0..5 {
            asyncio::yield_now().await;
        }
        // Cancelled at close, with the same destructors.
        for i in 0..n {
            let lp2 = lp.clone();
            drop(asyncio::create_task(async move {
                let _g = OnDrop(move || {
                    let _ = asyncio::debug::dump();
                    if i % 11 == 0 {
                        lp2.set_debug(i % 2 == 0);
                    }
                });
                asyncio::sleep(Duration::from_secs(3600)).await;
            }));
        }
        asyncio::yield_now().await;
    });
    runner.close();
}

/// What finished in a run's last turn is out of the table once `run`
/// returns (not kept, with its memory, until the next run).
fn nothing_left_after_run() {
    let mut runner = asyncio::Runner::new().debug(true);
    runner.run(async {
        asyncio::task::Builder::new()
            .name("done-child")
            .spawn(async {})
            .await
            .unwrap();
    });
    let dump = std::thread::spawn(asyncio::debug::dump_all).join().unwrap();
    assert!(dump.contains(": 0 task(s)"), "{dump}");
    runner.close();
}

/// Bytes still allocated after `scenario(n)` ran (and its loop closed).
fn kept(scenario: fn(usize), n: usize) -> isize {
    let before = live();
    scenario(n);
    // The watchdog thread may still be on its way out: wait until it is
    // gone, so that what it held is counted as freed.
    watchdogs_gone();
    live() - before
}

/// Polls, to a generous deadline, until no debug-mode watchdog thread is
/// left in the process (Linux names it in `/proc/self/task/*/comm`,
/// truncated to 15 bytes). Elsewhere, a short pause stands in for it.
fn watchdogs_gone() {
    if !std::path::Path::new("/proc/self/task").exists() {
        std::thread::sleep(Duration::from_millis(50));
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let alive = std::fs::read_dir("/proc/self/task").is_ok_and(|tasks| {
            tasks.flatten().any(|t| {
                std::fs::read_to_string(t.path().join("comm")).is_ok_and(|name| name.trim() == "asyncio-watchdo")
            })
        });
        if !alive {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "a debug-mode watchdog thread was still running after 10 s"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn traced_tasks_are_freed_and_dumps_stay_sound() {
    // The tasks' panics are expected here; keep their reports quiet.
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&"expected") {
            default(info);
        }
    }));
    tracing::subscriber::set_global_default(Discard).unwrap();
    // Warm up lazily initialised statics (thread names, the loop list).
    every_ending(10);
    debug_switched_while_tasks_live(10);
    queued_at_close(10);
    last_reference_elsewhere(10);
    destructors_reenter(10);

    // A leak per task shows as the difference between n and 4n tasks: about
    // 200 bytes per task cell, times 750 rounds of several tasks each, over
    // 150 KB. Allow 8 KiB of noise from the process's own lazily grown or
    // late-freed state (exiting threads, the dump's buffers).
    for (name, scenario) in [
        ("every_ending", every_ending as fn(usize)),
        ("debug_switched_while_tasks_live", debug_switched_while_tasks_live),
        ("queued_at_close", queued_at_close),
        ("last_reference_elsewhere", last_reference_elsewhere),
        ("destructors_reenter", destructors_reenter),
    ] {
        let small = kept(scenario, 250);
        let large = kept(scenario, 1000);
        assert!(
            (large - small).abs() < 8192,
            "{name}: {small} bytes kept after 250 rounds, {large} after 1000: task memory leaked"
        );
    }

    dumps_while_tasks_come_and_go(200);
    odd_layouts(10);
    nothing_left_after_run();
}
