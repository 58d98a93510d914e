//! ProcessPoolExecutor: results, panics, dead workers, wire errors, shutdown,
//! zombies. A plain `main` (harness = false), because workers are this test
//! binary started again and must enter through the worker hook.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use asyncio::executor::{run_in_executor, JobError, JobHandle, PoolError, ProcessPoolExecutor};
use serde::{Serialize, Serializer};

fn square(n: u64) -> u64 {
    n * n
}

fn add((a, b): (i64, i64)) -> i64 {
    a + b
}

fn boom(msg: String) -> u32 {
    panic!("{msg}")
}

fn pid(_: ()) -> u32 {
    std::process::id()
}

fn sleep_ms(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

/// Blocks until the file at `path` exists (a gate the test opens with
/// [`Gate::open`]); gives up after a minute.
fn wait_for_file(path: String) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::path::Path::new(&path).exists() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    true
}

fn exit_with(code: i32) -> u32 {
    std::process::exit(code)
}

fn kill_self(_: ()) -> u32 {
    let _ = std::process::Command::new("kill")
        .args(["-9", &std::process::id().to_string()])
        .status();
    std::thread::sleep(Duration::from_secs(30));
    0
}

fn chatty(n: u32) -> u32 {
    println!("a worker printing to stdout: {n}");
    eprintln!("a worker printing to stderr: {n}");
    n + 1
}

/// Serializes to an error: an unserialisable result.
#[derive(Debug, serde::Deserialize)]
struct Unserialisable;

impl Serialize for Unserialisable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("this value refuses to be serialized"))
    }
}

fn unserialisable(_: ()) -> Unserialisable {
    Unserialisable
}

fn nested_pool(_: ()) -> String {
    match ProcessPoolExecutor::new(1) {
        Err(PoolError::InsideWorker) => "refused".to_owned(),
        other => format!("{other:?}"),
    }
}

fn not_registered(n: u64) -> u64 {
    n
}

fn read_stdin(_: ()) -> usize {
    let mut s = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).unwrap_or(0)
}

/// Starts a child that outlives this worker, then dies.
fn orphan_then_abort(_: ()) -> u32 {
    let _child = std::process::Command::new("sleep").arg("30").spawn();
    std::process::abort()
}

asyncio::process_fn!(
    square,
    add,
    boom,
    pid,
    sleep_ms,
    wait_for_file,
    exit_with,
    kill_self,
    chatty,
    unserialisable,
    nested_pool,
    read_stdin,
    orphan_then_abort,
);

const LIMIT: Duration = Duration::from_secs(10);

/// How soon a dead worker must be noticed: far below the 20-30 s its job
/// (or an orphan holding its socket) would otherwise take, far above any
/// scheduling delay.
const NOTICED: Duration = Duration::from_secs(5);

/// A file whose creation releases the jobs blocked in [`wait_for_file`]: a
/// signal across processes, so no test guesses how long a job runs.
struct Gate(std::path::PathBuf);

impl Gate {
    fn new(name: &str) -> Gate {
        let path = std::env::temp_dir().join(format!("asyncio-pool-gate-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        Gate(path)
    }

    fn path(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }

    fn open(&self) {
        std::fs::write(&self.0, b"open").unwrap();
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Polls `cond` until it holds, failing after [`LIMIT`].
fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !cond() {
        assert!(Instant::now() < deadline, "not within {LIMIT:?}: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn wait<T>(h: JobHandle<T>) -> Result<T, JobError> {
    h.result_timeout(Some(LIMIT))
        .unwrap_or_else(|_| panic!("job not done within {LIMIT:?}"))
}

fn results_and_awaiting() {
    let pool = ProcessPoolExecutor::new(2).unwrap();
    assert_eq!(wait(pool.submit(square, 12)).unwrap(), 144);
    assert_eq!(wait(pool.submit(add, (40, 2))).unwrap(), 42);
    let mapped: Vec<u64> = pool.map(square, 1..=5).map(Result::unwrap).collect();
    assert_eq!(mapped, [1, 4, 9, 16, 25]);
    let from_loop = asyncio::run(async {
        let (a, b) = asyncio::gather!(
            run_in_executor(&pool, (square, 3)),
            run_in_executor(&pool, (add, (1, 1)))
        )
        .await;
        (a.unwrap(), b.unwrap())
    });
    assert_eq!(from_loop, (9, 2));
    // The loop's method takes either pool too.
    let on_loop = asyncio::run(async { asyncio::get_running_loop().run_in_executor(&pool, (square, 4)).await });
    assert_eq!(on_loop.unwrap(), 16);
    assert_eq!(wait(pool.submit(chatty, 1)).unwrap(), 2);
    pool.shutdown(true, false);
}

fn parallel_on_two_workers() {
    let pool = ProcessPoolExecutor::new(2).unwrap();
    let gate = Gate::new("parallel");
    let handles: Vec<_> = (0..2).map(|_| pool.submit(wait_for_file, gate.path())).collect();
    // Neither can finish before the gate opens: both running at once is
    // two workers, not one after the other.
    until("both jobs run at once on two workers", || {
        handles.iter().all(JobHandle::running)
    });
    gate.open();
    for h in handles {
        assert!(wait(h).unwrap());
    }
    assert_eq!(pool.worker_pids().into_iter().collect::<HashSet<_>>().len(), 2);
    pool.shutdown(true, false);
    assert!(pool.worker_pids().is_empty());
}

fn panic_fails_only_its_job() {
    let pool = ProcessPoolExecutor::new(1).unwrap();
    let before = wait(pool.submit(pid, ())).unwrap();
    let err = wait(pool.submit(boom, "kaboom".to_owned())).unwrap_err();
    assert!(matches!(err, JobError::Panicked(_)), "{err:?}");
    assert_eq!(err.panic_message(), Some("kaboom"));
    // The worker caught the panic and lives on.
    assert_eq!(wait(pool.submit(pid, ())).unwrap(), before);
    pool.shutdown(true, false);
}

fn killed_worker_fails_its_job_and_is_replaced() {
    let pool = ProcessPoolExecutor::new(1).unwrap();
    let first = wait(pool.submit(pid, ())).unwrap();
    let start = Instant::now();
    let err = wait(pool.submit(kill_self, ())).unwrap_err();
    assert!(start.elapsed() < NOTICED, "death noticed in {:?}", start.elapsed());
    match &err {
        JobError::WorkerDied { pid, status } => {
            assert_eq!(*pid, first);
            assert!(status.contains("9"), "status {status}");
        }
        other => panic!("expected WorkerDied, got {other:?}"),
    }
    let second = wait(pool.submit(pid, ())).unwrap();
    assert_ne!(first, second, "a new worker replaced the dead one");
    let err = wait(pool.submit(exit_with, 3)).unwrap_err();
    assert!(
        matches!(&err, JobError::WorkerDied { status, .. } if status.contains('3')),
        "{err:?}"
    );
    assert_eq!(wait(pool.submit(square, 5)).unwrap(), 25);
    pool.shutdown(true, false);
}

fn killed_from_outside_mid_job() {
    let pool = ProcessPoolExecutor::new(1).unwrap();
    let job = pool.submit(sleep_ms, 20_000);
    let deadline = Instant::now() + LIMIT;
    while !job.running() || pool.worker_pids().is_empty() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    let pids = pool.worker_pids();
    assert_eq!(pids.len(), 1);
    let start = Instant::now();
    kill9(pids[0]);
    let err = wait(job).unwrap_err();
    assert!(start.elapsed() < NOTICED, "death noticed in {:?}", start.elapsed());
    assert!(matches!(err, JobError::WorkerDied { .. }), "{err:?}");
    pool.shutdown(true, false);
}

fn wire_errors() {
    let pool = ProcessPoolExecutor::new(1).unwrap();
    let err = wait(pool.submit(unserialisable, ())).unwrap_err();
    assert!(
        matches!(&err, JobError::Wire(why) if why.contains("could not be serialized")),
        "{err:?}"
    );
    let err = wait(pool.submit(not_registered, 1)).unwrap_err();
    assert!(
        matches!(&err, JobError::UnknownFunction(name) if name.contains("not_registered")),
        "{err:?}"
    );
    let err = wait(pool.submit(|x: u64| x, 1)).unwrap_err();
    assert!(
        matches!(err, JobError::UnknownFunction(_)),
        "closures are not registered"
    );
    assert_eq!(wait(pool.submit(nested_pool, ())).unwrap(), "refused");
    // A function pointer has no name of its own: refused, not mistaken for
    // another function of the same signature.
    let pointer: fn(u64) -> u64 = square;
    assert!(matches!(
        wait(pool.submit(pointer, 3)),
        Err(JobError::UnknownFunction(_))
    ));
    // The worker is unharmed by all of it.
    assert_eq!(wait(pool.submit(square, 7)).unwrap(), 49);
    pool.shutdown(true, false);
}

fn workers_stdin_is_not_the_pool_socket() {
    let pool = ProcessPoolExecutor::new(1).unwrap();
    // Reading stdin sees /dev/null's end at once instead of hanging.
    assert_eq!(wait(pool.submit(read_stdin, ())).unwrap(), 0);
    // A process a job started does not keep the dead worker's socket open.
    let start = Instant::now();
    let err = wait(pool.submit(orphan_then_abort, ())).unwrap_err();
    assert!(matches!(err, JobError::WorkerDied { .. }), "{err:?}");
    assert!(start.elapsed() < NOTICED, "death noticed in {:?}", start.elapsed());
    assert_eq!(wait(pool.submit(square, 2)).unwrap(), 4);
    pool.shutdown(true, false);
}

fn dropped_pool_still_finishes_its_jobs() {
    let pool = ProcessPoolExecutor::new(2).unwrap();
    let handles: Vec<_> = (0..20u64).map(|i| pool.submit(square, i)).collect();
    drop(pool);
    let got: Vec<u64> = handles.into_iter().map(|h| wait(h).unwrap()).collect();
    assert_eq!(got, (0..20u64).map(|i| i * i).collect::<Vec<_>>());
}

fn shutdown_cancels_queued_jobs_on_request() {
    let pool = ProcessPoolExecutor::new(1).unwrap();
    let gate = Gate::new("shutdown");
    let running = pool.submit(wait_for_file, gate.path());
    let queued: Vec<_> = (0..5).map(|i| pool.submit(square, i)).collect();
    until("the first job runs", || running.running());
    // The running job ends only once the shutdown has taken the queue.
    let watcher = pool.clone();
    let gate_file = gate.0.clone();
    let opener = std::thread::spawn(move || {
        until("the pool is shut down", || watcher.is_shutdown());
        std::fs::write(gate_file, b"open").unwrap();
    });
    pool.shutdown(true, true);
    opener.join().unwrap();
    assert!(wait(running).unwrap());
    for h in queued {
        assert!(wait(h).unwrap_err().is_cancelled());
    }
    assert!(matches!(wait(pool.submit(square, 1)), Err(JobError::ShutDown)));
}

fn cancelled_handle_never_runs() {
    let pool = ProcessPoolExecutor::new(1).unwrap();
    let gate = Gate::new("cancel");
    let blocker = pool.submit(wait_for_file, gate.path());
    let victim = pool.submit(kill_self, ());
    assert!(victim.cancel());
    assert!(victim.cancelled());
    assert!(wait(victim).unwrap_err().is_cancelled());
    gate.open();
    assert!(wait(blocker).unwrap());
    // Had the victim run, the worker would have died and this pid changed.
    let p1 = wait(pool.submit(pid, ())).unwrap();
    let p2 = wait(pool.submit(pid, ())).unwrap();
    assert_eq!(p1, p2);
    // Dropping an awaiting future (`run_in_executor`) cancels a queued job the same way.
    // The blocker holds the one worker until the gate opens, so the victim
    // is still queued when the timeout drops its future.
    let gate = Gate::new("cancel-on-drop");
    asyncio::run(async {
        let blocker = run_in_executor(&pool, (wait_for_file, gate.path()));
        let r = asyncio::timeout(Duration::from_millis(20), run_in_executor(&pool, (kill_self, ()))).await;
        assert!(r.is_err());
        gate.open();
        assert!(blocker.await.unwrap());
    });
    assert_eq!(wait(pool.submit(pid, ())).unwrap(), p1);
    pool.shutdown(true, false);
}

fn max_tasks_per_child_replaces_workers() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .max_tasks_per_child(Some(2))
        .build()
        .unwrap();
    let pids: Vec<u32> = (0..6).map(|_| wait(pool.submit(pid, ())).unwrap()).collect();
    assert_eq!(pids[0], pids[1]);
    assert_ne!(pids[1], pids[2]);
    assert_eq!(pids[2], pids[3]);
    assert_ne!(pids[3], pids[4]);
    pool.shutdown(true, false);
}

fn hundred_jobs_with_random_kills() {
    let pool = ProcessPoolExecutor::new(2).unwrap();
    let handles: Vec<_> = (0..100u64).map(|i| pool.submit(sleep_ms, 5 + i % 7)).collect();
    let killer_pool = pool.clone();
    let killer = std::thread::spawn(move || {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut kills = 0;
        for _ in 0..12 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            std::thread::sleep(Duration::from_millis(10 + seed % 40));
            let pids = killer_pool.worker_pids();
            if let Some(&p) = pids.get((seed % 2) as usize % pids.len().max(1)) {
                kill9(p);
                kills += 1;
            }
        }
        kills
    });
    let mut ok = 0;
    let mut died = 0;
    for (i, h) in handles.into_iter().enumerate() {
        match wait(h) {
            Ok(ms) => {
                assert_eq!(ms, 5 + i as u64 % 7);
                ok += 1;
            }
            Err(JobError::WorkerDied { .. }) => died += 1,
            Err(e) => panic!("job {i}: unexpected {e:?}"),
        }
    }
    let kills = killer.join().unwrap();
    assert_eq!(ok + died, 100);
    assert!(died <= kills, "{died} jobs failed for {kills} kills");
    assert!(ok > 0);
    pool.shutdown(true, false);
    println!("    ({ok} ok, {died} failed with their worker, {kills} kills)");
}

fn kill9(pid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status();
}

/// Children of this process that are zombies (exited, not reaped).
fn zombies() -> Vec<u32> {
    let me = std::process::id();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces, so split after ')'.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let mut fields = rest.split(' ');
        let state = fields.next();
        let ppid = fields.next().and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(me) && state == Some("Z") {
            found.push(pid);
        }
    }
    found
}

fn main() {
    // Before the hook: a pool must refuse to start.
    let missing = ProcessPoolExecutor::new(1);
    assert!(matches!(missing, Err(PoolError::MissingWorkerHook)), "{missing:?}");
    asyncio::executor::worker_entry();

    let tests: &[(&str, fn())] = &[
        ("results_and_awaiting", results_and_awaiting),
        ("parallel_on_two_workers", parallel_on_two_workers),
        ("panic_fails_only_its_job", panic_fails_only_its_job),
        (
            "killed_worker_fails_its_job_and_is_replaced",
            killed_worker_fails_its_job_and_is_replaced,
        ),
        ("killed_from_outside_mid_job", killed_from_outside_mid_job),
        ("wire_errors", wire_errors),
        (
            "workers_stdin_is_not_the_pool_socket",
            workers_stdin_is_not_the_pool_socket,
        ),
        (
            "dropped_pool_still_finishes_its_jobs",
            dropped_pool_still_finishes_its_jobs,
        ),
        (
            "shutdown_cancels_queued_jobs_on_request",
            shutdown_cancels_queued_jobs_on_request,
        ),
        ("cancelled_handle_never_runs", cancelled_handle_never_runs),
        (
            "max_tasks_per_child_replaces_workers",
            max_tasks_per_child_replaces_workers,
        ),
        ("hundred_jobs_with_random_kills", hundred_jobs_with_random_kills),
    ];
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let mut failed = Vec::new();
    for (name, test) in tests {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let start = Instant::now();
        let outcome = std::panic::catch_unwind(test);
        let took = start.elapsed();
        // A worker told to exit is reaped by its manager a moment later: poll
        // (to a generous deadline) before calling what is left a zombie.
        let mut zombies = zombies();
        let grace = Instant::now() + LIMIT;
        while !zombies.is_empty() && Instant::now() < grace {
            std::thread::sleep(Duration::from_millis(10));
            zombies = self::zombies();
        }
        let ok = outcome.is_ok() && took < LIMIT && zombies.is_empty();
        println!(
            "test {name} ... {} ({took:.2?}{})",
            if ok { "ok" } else { "FAILED" },
            if zombies.is_empty() {
                String::new()
            } else {
                format!(", zombies {zombies:?}")
            }
        );
        if !ok {
            failed.push(*name);
        }
    }
    if !failed.is_empty() {
        eprintln!("failed: {failed:?}");
        std::process::exit(1);
    }
}
