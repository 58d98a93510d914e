//! Fairness and idleness: a task that only yields cannot starve timers, I/O
//! or remote wakes; an idle loop sleeps in the kernel.

use std::cell::Cell;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

#[test]
fn a_yield_only_task_cannot_starve_timers_or_io() {
    let spins = Rc::new(Cell::new(0u64));
    let s = spins.clone();
    asyncio::run(async move {
        let spinner = asyncio::create_task(async move {
            loop {
                s.set(s.get() + 1);
                asyncio::yield_now().await;
            }
        });
        // A timer fires while the spinner keeps the ready queue non-empty.
        asyncio::sleep(Duration::from_millis(30)).await;
        // I/O readiness is seen too.
        let (a, mut b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let a = asyncio::io::AsyncFd::new(a).unwrap();
        b.write_all(b"x").unwrap();
        asyncio::timeout(Duration::from_secs(5), a.readable())
            .await
            .expect("I/O seen")
            .unwrap();
        spinner.cancel();
    });
    assert!(spins.get() > 61, "the spinner ran meanwhile ({} polls)", spins.get());
}

/// CPU time used by this thread, from /proc (Linux).
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the comm field.
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10) // USER_HZ = 100 on Linux
}

#[test]
fn an_idle_loop_uses_no_cpu() {
    let used = asyncio::run(async {
        let before = thread_cpu();
        asyncio::sleep(Duration::from_millis(800)).await;
        thread_cpu() - before
    });
    assert!(
        used <= Duration::from_millis(100),
        "idle loop used {used:?} of CPU in 800 ms"
    );
}
