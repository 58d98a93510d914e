//! Subprocesses: pipes, exit codes, signals, reaping without blocking the
//! loop or racing other code's children.

use std::time::{Duration, Instant};

use asyncio::subprocess::{create_subprocess_exec, create_subprocess_shell, Command, Stdio};

fn run<F: std::future::Future>(f: F) -> F::Output {
    asyncio::run(async move {
        asyncio::timeout(Duration::from_secs(10), f)
            .await
            .expect("test took over 10 s")
    })
}

#[test]
fn stdout_lines_and_exit_code() {
    run(async {
        let mut p = create_subprocess_exec("sh", ["-c", "echo one; echo two; exit 7"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = p.stdout.take().unwrap();
        assert_eq!(out.readline().await.unwrap(), b"one\n");
        assert_eq!(out.readline().await.unwrap(), b"two\n");
        assert_eq!(out.readline().await.unwrap(), b"");
        let status = p.wait().await.unwrap();
        assert_eq!(status.code(), Some(7));
        assert_eq!(p.returncode(), Some(7));
    });
}

#[test]
fn communicate_a_megabyte_through_cat_without_deadlock() {
    run(async {
        let input: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
        let mut p = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = p.communicate(Some(&input)).await.unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout.len(), input.len());
        assert!(out.stdout == input);
        assert!(out.stderr.is_empty());
    });
}

#[test]
fn stdin_streams_to_the_child() {
    run(async {
        let mut p = create_subprocess_shell("read a; read b; echo \"$b $a\"")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let w = p.stdin.take().unwrap();
        w.write(b"world\n");
        w.write(b"hello\n");
        w.drain().await.unwrap();
        let mut r = p.stdout.take().unwrap();
        assert_eq!(r.readline().await.unwrap(), b"hello world\n");
        assert!(p.wait().await.unwrap().success());
    });
}

#[test]
fn terminate_and_kill_give_negative_return_codes() {
    run(async {
        let mut p = Command::new("sleep").arg("30").spawn().unwrap();
        p.terminate().unwrap();
        let start = Instant::now();
        p.wait().await.unwrap();
        assert!(start.elapsed() < Duration::from_secs(2));
        assert_eq!(p.returncode(), Some(-15));
        let mut p = Command::new("sleep").arg("30").spawn().unwrap();
        p.kill().unwrap();
        p.wait().await.unwrap();
        assert_eq!(p.returncode(), Some(-9));
        // Signalling a reaped child is a no-op, not a signal to a stranger.
        p.kill().unwrap();
    });
}

#[test]
fn a_missing_program_is_not_found() {
    run(async {
        let err = Command::new("/no/such/program").spawn().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    });
}

#[test]
fn waiting_does_not_block_the_loop() {
    run(async {
        let mut p = Command::new("sleep").arg("0.3").spawn().unwrap();
        let counter = std::rc::Rc::new(std::cell::Cell::new(0u32));
        let c = counter.clone();
        let counting = asyncio::create_task(async move {
            loop {
                asyncio::sleep(Duration::from_millis(10)).await;
                c.set(c.get() + 1);
            }
        });
        assert!(p.wait().await.unwrap().success());
        counting.cancel();
        assert!(counter.get() >= 5, "the loop ran meanwhile ({} ticks)", counter.get());
    });
}

#[test]
fn other_codes_children_are_left_to_it() {
    run(async {
        // Someone else's child, waited for with std.
        let mut theirs = std::process::Command::new("sh").args(["-c", "exit 5"]).spawn().unwrap();
        let mut ours = Command::new("true").spawn().unwrap();
        ours.wait().await.unwrap();
        asyncio::sleep(Duration::from_millis(50)).await;
        // Our reaping did not take their child's status.
        assert_eq!(theirs.wait().unwrap().code(), Some(5));
    });
}

#[test]
fn output_captures_both_streams() {
    run(async {
        let out = create_subprocess_shell("printf out; printf err >&2")
            .output()
            .await
            .unwrap();
        assert_eq!(out.stdout, b"out");
        assert_eq!(out.stderr, b"err");
        assert!(out.status.success());
        let status = Command::new("false").status().await.unwrap();
        assert_eq!(status.code(), Some(1));
    });
}

/// The state letter of `pid` in /proc, if it still exists.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].chars().next()
}

/// Polls (on the loop) until process `pid` is gone or `limit` has passed.
async fn reaped_within(pid: u32, limit: Duration) {
    let deadline = Instant::now() + limit;
    while proc_state(pid).is_some() && Instant::now() < deadline {
        asyncio::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls (blocking this thread; no loop runs) until process `pid` is gone or
/// `limit` has passed.
fn wait_reaped_blocking(pid: u32, limit: Duration) {
    let deadline = Instant::now() + limit;
    while proc_state(pid).is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_dropped_process_is_still_reaped() {
    let pid = asyncio::run(async {
        let p = Command::new("sh").args(["-c", "sleep 0.1"]).spawn().unwrap();
        let pid = p.pid();
        drop(p);
        // The loop reaps it when it exits.
        reaped_within(pid, Duration::from_secs(5)).await;
        pid
    });
    assert_eq!(proc_state(pid), None, "no zombie left");
    // Dropped when no loop can wait: a thread takes over.
    let pid = asyncio::run(async {
        let p = Command::new("sleep").arg("0.1").spawn().unwrap();
        p.pid()
        // `p` dropped here, then the loop closes before the child exits.
    });
    wait_reaped_blocking(pid, Duration::from_secs(5));
    assert_eq!(proc_state(pid), None, "no zombie left after the loop closed");
}

#[test]
fn kill_on_drop_kills() {
    let pid = asyncio::run(async {
        let p = Command::new("sleep").arg("30").kill_on_drop(true).spawn().unwrap();
        let pid = p.pid();
        drop(p);
        reaped_within(pid, Duration::from_secs(5)).await;
        pid
    });
    assert_eq!(proc_state(pid), None);
}

#[test]
fn a_process_dropped_while_the_loop_closes_is_reaped_by_a_thread() {
    let mut runner = asyncio::Runner::new();
    let pid = runner.run(async {
        let p = Command::new("sleep").arg("0.1").spawn().unwrap();
        let pid = p.pid();
        // Owned by a callback that never runs: dropped by close, on a
        // closing loop that can take no new task.
        asyncio::get_running_loop().call_later(Duration::from_secs(3600), move || drop(p));
        pid
    });
    runner.close();
    wait_reaped_blocking(pid, Duration::from_secs(5));
    assert_eq!(proc_state(pid), None, "no zombie left");
}
