//! Debug mode's reports, captured through a `tracing` subscriber: slow polls,
//! the stall report while the loop is still blocked, unread failures,
//! tasks pending at shutdown, the task tree, wrong-thread use.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::span;

/// Collects every event's message, process-wide (the watchdog reports from
/// its own thread, so a thread-local subscriber would miss it).
struct Capture(Mutex<Vec<String>>);

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }
    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut m = Message(String::new());
        event.record(&mut m);
        self.0.lock().unwrap().push(m.0);
    }
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}

fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let c: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        tracing::subscriber::set_global_default(CaptureRef(c)).expect("no other subscriber");
        c
    })
}

/// A `Subscriber` forwarding to the leaked capture.
struct CaptureRef(&'static Capture);

impl tracing::Subscriber for CaptureRef {
    fn enabled(&self, m: &tracing::Metadata<'_>) -> bool {
        self.0.enabled(m)
    }
    fn new_span(&self, a: &span::Attributes<'_>) -> span::Id {
        self.0.new_span(a)
    }
    fn record(&self, s: &span::Id, r: &span::Record<'_>) {
        self.0.record(s, r)
    }
    fn record_follows_from(&self, a: &span::Id, b: &span::Id) {
        self.0.record_follows_from(a, b)
    }
    fn event(&self, e: &tracing::Event<'_>) {
        self.0.event(e)
    }
    fn enter(&self, s: &span::Id) {
        self.0.enter(s)
    }
    fn exit(&self, s: &span::Id) {
        self.0.exit(s)
    }
}

/// Messages mentioning `needle` so far.
fn reports(needle: &str) -> Vec<String> {
    capture()
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|m| m.contains(needle))
        .cloned()
        .collect()
}

fn debug_runner(threshold: Duration) -> asyncio::Runner {
    capture();
    asyncio::Runner::new().debug(true).slow_callback_duration(threshold)
}

#[test]
fn a_slow_poll_is_reported_with_the_task_and_its_creation_line() {
    let mut runner = debug_runner(Duration::from_millis(50));
    let line = line!() + 4;
    runner.run(async {
        asyncio::task::Builder::new()
            .name("slow-poller")
            .spawn(async { std::thread::sleep(Duration::from_millis(120)) })
            .await
            .unwrap();
    });
    runner.close();
    let got = reports("slow-poller");
    let slow: Vec<_> = got.iter().filter(|m| m.contains("Executing task")).collect();
    assert_eq!(slow.len(), 1, "{got:?}");
    assert!(slow[0].contains(&format!("debug_mode.rs:{line}")), "{}", slow[0]);
}

#[test]
fn the_stall_report_appears_while_the_loop_is_still_blocked() {
    stall_report();
}

#[inline(never)]
fn stall_report() {
    let mut runner = debug_runner(Duration::from_millis(100)).stall_backtraces(true);
    let seen_while_blocked = runner.run(async {
        asyncio::task::Builder::new()
            .name("stuck-task")
            .spawn(async {
                // Blocks the loop thread; meanwhile the watchdog must speak.
                let deadline = Instant::now() + Duration::from_secs(5);
                while Instant::now() < deadline {
                    if reports("stuck-task").iter().any(|m| m.contains("is blocked")) {
                        return true;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                false
            })
            .await
            .unwrap()
    });
    runner.close();
    assert!(
        seen_while_blocked,
        "no stall report while blocked: {:?}",
        reports("stuck-task")
    );
    let stall = reports("stuck-task")
        .into_iter()
        .find(|m| m.contains("is blocked"))
        .unwrap();
    assert!(stall.contains("debug_mode.rs:"), "{stall}");
    // Reported once per stall, not on every watchdog tick.
    assert_eq!(
        reports("stuck-task")
            .iter()
            .filter(|m| m.contains("is blocked"))
            .count(),
        1
    );
    // Then the stuck thread's stack (Linux, feature `stall-backtrace`),
    // symbolized after the report.
    if cfg!(all(target_os = "linux", feature = "stall-backtrace")) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let stack = loop {
            let found = reports("blocked loop thread")
                .into_iter()
                .find(|m| m.contains("stall_report"));
            if let Some(s) = found {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "no backtrace: {:?}",
                reports("blocked loop thread")
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(stack.contains("debug_mode.rs"), "{stack}");
    }
}

#[test]
fn a_panic_nobody_read_is_reported() {
    let mut runner = debug_runner(Duration::from_secs(10));
    runner.run(async {
        drop(
            asyncio::task::Builder::new()
                .name("unread-failure")
                .spawn(async { panic!("nobody will read this") }),
        );
        asyncio::sleep(Duration::from_millis(5)).await;
    });
    runner.close();
    let got = reports("unread-failure");
    assert!(
        got.iter().any(|m| m.contains("Task exception was never retrieved")),
        "{got:?}"
    );
}

#[test]
fn tasks_pending_at_shutdown_are_listed_with_their_age() {
    let mut runner = debug_runner(Duration::from_secs(10));
    runner.run(async {
        drop(
            asyncio::task::Builder::new()
                .name("forgotten-task")
                .spawn(asyncio::sleep(Duration::from_secs(3600))),
        );
        asyncio::sleep(Duration::from_millis(20)).await;
    });
    runner.close();
    let got = reports("forgotten-task");
    let pending = got
        .iter()
        .find(|m| m.contains("destroyed but it is pending"))
        .expect("reported");
    assert!(pending.contains("age 0.0"), "{pending}");
    assert!(pending.contains("debug_mode.rs:"), "{pending}");
}

#[test]
fn the_task_tree_shows_parents_groups_and_state() {
    let mut runner = debug_runner(Duration::from_secs(10));
    let tree = runner.run(async {
        let parent = asyncio::task::Builder::new().name("tree-parent").spawn(async {
            let tg = asyncio::TaskGroup::new();
            tg.create_task(asyncio::sleep(Duration::from_secs(3600))).unwrap();
            asyncio::sleep(Duration::from_secs(3600)).await;
        });
        asyncio::sleep(Duration::from_millis(5)).await;
        let tree = asyncio::debug::dump();
        parent.cancel();
        tree
    });
    runner.close();
    assert!(tree.contains("'tree-parent' [waiting]"), "{tree}");
    assert!(tree.contains("in TaskGroup-"), "{tree}");
    // The main task runs the dump; the group's child sits under its parent.
    assert!(tree.contains("[running]"), "{tree}");
    let parent_line = tree.lines().position(|l| l.contains("tree-parent")).unwrap();
    let child_line = tree.lines().position(|l| l.contains("TaskGroup-")).unwrap();
    assert!(child_line > parent_line, "{tree}");
    assert!(tree.lines().nth(child_line).unwrap().starts_with("    "), "{tree}");
}

#[test]
fn a_blocked_loop_can_be_dumped_from_another_thread() {
    let mut runner = debug_runner(Duration::from_secs(10));
    let dumped = runner.run(async {
        asyncio::task::Builder::new()
            .name("dump-me-while-blocked")
            .spawn(async {
                let t = std::thread::spawn(asyncio::debug::dump_all);
                // The loop thread is blocked in this poll until the dump is done.
                t.join().unwrap()
            })
            .await
            .unwrap()
    });
    runner.close();
    assert!(dumped.contains("'dump-me-while-blocked' [running]"), "{dumped}");
}

#[test]
fn without_debug_mode_nothing_is_reported() {
    capture();
    asyncio::Runner::new()
        .debug(false)
        .slow_callback_duration(Duration::from_millis(1))
        .run(async {
            asyncio::task::Builder::new()
                .name("quiet-task")
                .spawn(async { std::thread::sleep(Duration::from_millis(20)) })
                .await
                .unwrap();
        });
    assert!(reports("quiet-task").is_empty());
}

#[test]
fn using_an_event_from_another_loops_thread_names_both_threads() {
    let event = Arc::new(Mutex::new(Some(asyncio::sync::Event::new())));
    let (put_back, put_back_seen) = std::sync::mpsc::channel();
    let b_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (e, done) = (event.clone(), b_done.clone());
    let loop_a = std::thread::Builder::new()
        .name("loop-a".into())
        .spawn(move || {
            asyncio::run(async move {
                let ev = e.lock().unwrap().take().unwrap();
                // Waiting binds the event to this loop.
                assert!(asyncio::timeout(Duration::from_millis(5), ev.wait()).await.is_err());
                *e.lock().unwrap() = Some(ev);
                put_back.send(()).unwrap();
                // Keep loop A alive while loop B misuses the event (polled,
                // to a generous deadline).
                let deadline = Instant::now() + Duration::from_secs(30);
                while !done.load(std::sync::atomic::Ordering::SeqCst) && Instant::now() < deadline {
                    asyncio::sleep(Duration::from_millis(1)).await;
                }
            })
        })
        .unwrap();
    put_back_seen
        .recv_timeout(Duration::from_secs(30))
        .expect("loop A put the event back");
    let ev = event.lock().unwrap().take().expect("loop A put it back");
    let err = std::thread::Builder::new()
        .name("loop-b".into())
        .spawn(move || {
            asyncio::run(async move {
                let _ = asyncio::timeout(Duration::from_millis(5), ev.wait()).await;
            })
        })
        .unwrap()
        .join()
        .unwrap_err();
    b_done.store(true, std::sync::atomic::Ordering::SeqCst);
    loop_a.join().unwrap();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(
        msg.contains("'loop-a'") && msg.contains("'loop-b'") && msg.contains("Event"),
        "{msg}"
    );
}
