//! PostgreSQL clients side by side (issue 17's "Speed"): asyncio-postgres
//! on asyncio's loop against tokio-postgres on tokio's current-thread
//! runtime, and, when a Python with asyncpg is given, asyncpg on CPython's
//! asyncio and on uvloop. Run with `cargo bench -p asyncio-benches --bench
//! postgres` (Rust clients only), or `bash benches/postgres/run.sh` (all
//! four: it makes a virtual environment with asyncpg and uvloop and hands
//! its Python over in `PG_BENCH_PYTHON`). `BENCH_SMOKE=1` (or `--smoke`) for
//! small sizes and one round, `BENCH_ROUNDS=N` for the rounds (default 5),
//! `-- NAME` for the workloads whose name contains NAME,
//! `-- --client=NAME` (repeatable) for some clients only.
//!
//! `-- --callgrind` counts instructions instead (valgrind's callgrind): the
//! sequential `SELECT 1` client of asyncio-postgres and of tokio-postgres,
//! each at two sizes (`PG_CG_N1`, `PG_CG_N2` queries, default 2,000 and
//! 4,000), per query `(Ir(N2) − Ir(N1)) / (queries(N2) − queries(N1))`
//! (warm-up included in both, so the connection's set-up cancels out).
//! `PG_CG_OUT_DIR=DIR` keeps each run's profile there
//! (`DIR/<client>-<queries>.callgrind`, for `callgrind_annotate`).
//!
//! **Server**: one throwaway PostgreSQL for the whole run
//! (`asyncio_examples_support::pg::TempPostgres`: a fresh cluster,
//! `fsync=off`), reached over TCP on 127.0.0.1 with SCRAM authentication.
//!
//! **Clients**: each sample is a new client process (this binary started
//! again with `--peer`, or `benches/postgres/asyncpg_peer.py`) that
//! connects, prepares what it may, warms up on a tenth of the workload, then
//! measures the workload: its wall time and its own CPU time (user +
//! system of the whole process: `CLOCK_PROCESS_CPUTIME_ID`, getrusage's
//! count), reported per query (per row for fetch and COPY). The clients
//! are described in `asyncio_benches::postgres` and the Python file.
//!
//! **Rounds**: round 1 runs every client once on every workload, then round
//! 2, and so on; the first client of each workload rotates from round to
//! round. Tables show the median [min–max] over the rounds and the ratios of
//! the medians: CPU as asyncio-postgres / peer (below 1: asyncio-postgres
//! uses less), wall as peer / asyncio-postgres (above 1: asyncio-postgres
//! is faster), each against issue 17's target.

#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use asyncio_benches::postgres::{asyncio_peer, tokio_peer, Sample, Size, Workload, DSN_ENV, NO_CPU_CLOCK_ENV};
use asyncio_benches::report::{cores, heading};
use asyncio_benches::{fmt_num, fmt_ratio, Config, Summary, Table};
use asyncio_examples_support::pg::TempPostgres;

/// The Python with asyncpg and uvloop (set by benches/postgres/run.sh).
const PYTHON_ENV: &str = "PG_BENCH_PYTHON";

/// The asyncpg client.
const ASYNCPG_PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/postgres/asyncpg_peer.py");

/// The clients, in table order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Peer {
    AsyncioPostgres,
    TokioPostgres,
    AsyncpgUvloop,
    AsyncpgAsyncio,
}

const PEERS: [Peer; 4] = [
    Peer::AsyncioPostgres,
    Peer::TokioPostgres,
    Peer::AsyncpgUvloop,
    Peer::AsyncpgAsyncio,
];

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::AsyncioPostgres => "asyncio-postgres",
            Peer::TokioPostgres => "tokio-postgres",
            Peer::AsyncpgUvloop => "asyncpg+uvloop",
            Peer::AsyncpgAsyncio => "asyncpg+asyncio",
        }
    }

    fn from_name(name: &str) -> Option<Peer> {
        PEERS.into_iter().find(|p| p.name() == name)
    }

    fn is_python(self) -> bool {
        matches!(self, Peer::AsyncpgUvloop | Peer::AsyncpgAsyncio)
    }

    /// asyncpg runs one query at a time per connection (a second one while
    /// the first runs is an error): it has no pipelined row.
    fn runs(self, workload: Workload) -> bool {
        !(self.is_python() && workload == Workload::Pipelined)
    }

    /// The targets against this peer: (CPU at most, wall speed at
    /// least), or none.
    fn targets(self) -> Option<(f64, f64)> {
        match self {
            Peer::TokioPostgres => Some((0.8, 1.0)),
            Peer::AsyncpgUvloop => Some((0.5, 1.0)),
            _ => None,
        }
    }

    /// Runs one sample in a new process.
    fn sample(self, workload: Workload, size: Size, dsn: &str, python: Option<&str>) -> Sample {
        let mut command = if self.is_python() {
            let mut c = Command::new(python.expect("a Python for asyncpg"));
            let event_loop = if self == Peer::AsyncpgUvloop {
                "uvloop"
            } else {
                "asyncio"
            };
            c.arg(ASYNCPG_PEER).arg(event_loop);
            c
        } else {
            let mut c = Command::new(std::env::current_exe().expect("this bench's path"));
            c.arg("--peer").arg(self.name());
            c
        };
        command
            .arg(workload.name())
            .arg(size.count.to_string())
            .arg(size.tasks.to_string())
            .env(DSN_ENV, dsn)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start the {} client: {e}", self.name()));
        let stdout = child.stdout.take().expect("piped stdout");
        let sample = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| Sample::parse(&line));
        let status = child.wait().expect("wait for the client");
        match sample {
            Some(sample) if status.success() => sample,
            _ => panic!("the {} client failed on {} ({status})", self.name(), workload.name()),
        }
    }
}

/// The bench binary started again as a Rust client:
/// `--peer NAME WORKLOAD COUNT TASKS`, the DSN in [`DSN_ENV`].
fn client(args: &[String]) {
    let usage = "usage: postgres --peer asyncio-postgres|tokio-postgres WORKLOAD COUNT TASKS";
    let [peer, workload, count, tasks] = args else {
        panic!("{usage}")
    };
    let workload = Workload::from_name(workload).expect(usage);
    let size = Size {
        count: count.parse().expect(usage),
        tasks: tasks.parse().expect(usage),
    };
    let dsn = std::env::var(DSN_ENV).expect("the DSN in PG_BENCH_DSN");
    let sample = match Peer::from_name(peer) {
        Some(Peer::AsyncioPostgres) => asyncio_peer::run(workload, size, &dsn),
        Some(Peer::TokioPostgres) => tokio_peer::run(workload, size, &dsn),
        _ => panic!("{usage}"),
    };
    println!("{}", sample.line());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--peer") {
        return client(&args[at + 1..]);
    }
    if args.iter().any(|a| a == "--callgrind") {
        return callgrind();
    }
    let cfg = Config::from_env();
    let rounds = cfg.rounds_or(5);
    let chosen: Vec<&str> = args.iter().filter_map(|a| a.strip_prefix("--client=")).collect();
    let python = std::env::var(PYTHON_ENV).ok().filter(|p| !p.is_empty());
    let peers: Vec<Peer> = PEERS
        .into_iter()
        .filter(|p| chosen.is_empty() || chosen.contains(&p.name()))
        .filter(|p| !p.is_python() || python.is_some())
        .collect();
    if python.is_none() {
        eprintln!("postgres bench: {PYTHON_ENV} is not set, so no asyncpg clients (benches/postgres/run.sh sets it)");
    }
    let workloads: Vec<Workload> = Workload::ALL.into_iter().filter(|w| cfg.selected(w.name())).collect();
    assert!(!peers.is_empty() && !workloads.is_empty(), "nothing selected");

    let server = TempPostgres::start().unwrap_or_else(|e| panic!("throwaway PostgreSQL: {e}"));
    let dsn = server.dsn();

    // samples[workload][peer], one per round.
    let mut samples = vec![vec![Vec::with_capacity(rounds); peers.len()]; workloads.len()];
    for round in 0..rounds {
        for (wi, &workload) in workloads.iter().enumerate() {
            let size = workload.size(cfg.smoke);
            for k in 0..peers.len() {
                let pi = (k + round) % peers.len();
                let peer = peers[pi];
                if !peer.runs(workload) {
                    continue;
                }
                let sample = peer.sample(workload, size, &dsn, python.as_deref());
                eprintln!(
                    "round {}/{rounds} {:<18} {:<17} cpu {:>7} µs/{} wall {:>7} µs/{}",
                    round + 1,
                    workload.name(),
                    peer.name(),
                    fmt_num(sample.cpu_us()),
                    workload.unit(),
                    fmt_num(sample.wall_us()),
                    workload.unit(),
                );
                samples[wi][pi].push(sample);
            }
        }
    }
    drop(server);
    report(&cfg, rounds, &peers, &workloads, &samples);
}

/// Median [min–max] of one figure of the samples.
fn summary(samples: &[Sample], figure: fn(&Sample) -> f64) -> Option<Summary> {
    let values: Vec<f64> = samples.iter().map(figure).collect();
    (!values.is_empty()).then(|| Summary::of(&values))
}

fn report(cfg: &Config, rounds: usize, peers: &[Peer], workloads: &[Workload], samples: &[Vec<Vec<Sample>>]) {
    heading(&format!(
        "PostgreSQL clients, {}: median [min–max] of {rounds} round{}",
        cfg.sizes_label(),
        if rounds == 1 { "" } else { "s" }
    ));
    println!(
        "One throwaway PostgreSQL server (examples-support `pg`, fsync=off) over TCP on 127.0.0.1, {} CPUs \
         shared by the server and the client; each sample a new client process; CPU is the client process's own \
         (user + system) over the measured workload.",
        cores()
    );
    println!();
    for &w in workloads {
        println!("- `{}`: {}", w.name(), w.describe(w.size(cfg.smoke)));
    }
    println!();
    let mut table = Table::new(&["workload", "client", "CPU µs/op", "wall µs/op", "wall ms (median)"]);
    for (wi, &w) in workloads.iter().enumerate() {
        for (pi, &peer) in peers.iter().enumerate() {
            let s = &samples[wi][pi];
            let (Some(cpu), Some(wall)) = (summary(s, Sample::cpu_us), summary(s, Sample::wall_us)) else {
                table.row(vec![
                    w.name().into(),
                    peer.name().into(),
                    "n/a".into(),
                    "n/a".into(),
                    "n/a".into(),
                ]);
                continue;
            };
            let total = summary(s, |x| x.wall.as_secs_f64() * 1e3).expect("samples");
            table.row(vec![
                format!("{} (per {})", w.name(), w.unit()),
                peer.name().into(),
                cpu.display(),
                wall.display(),
                fmt_num(total.median),
            ]);
        }
    }
    print!("{}", table.render());

    let Some(ours) = peers.iter().position(|&p| p == Peer::AsyncioPostgres) else {
        return;
    };
    let others: Vec<(usize, Peer)> = peers.iter().copied().enumerate().filter(|&(i, _)| i != ours).collect();
    if others.is_empty() {
        return;
    }
    println!();
    println!(
        "Ratios of the medians. CPU: asyncio-postgres / peer (below 1: asyncio-postgres uses less CPU per \
         operation). Wall: peer / asyncio-postgres (above 1: asyncio-postgres is faster). ✓/✗ against issue 17's \
         targets (CPU ≤ 0.8× tokio-postgres and ≤ 0.5× asyncpg+uvloop; wall ≥ 1.0× both)."
    );
    println!();
    let mut header = vec!["workload".to_owned()];
    header.extend(others.iter().map(|(_, p)| format!("CPU vs {}", p.name())));
    header.extend(others.iter().map(|(_, p)| format!("wall vs {}", p.name())));
    let mut ratios = Table::new(&header);
    for (wi, &w) in workloads.iter().enumerate() {
        let median = |pi: usize, figure: fn(&Sample) -> f64| summary(&samples[wi][pi], figure).map(|s| s.median);
        let mut cpu_cells = Vec::new();
        let mut wall_cells = Vec::new();
        for &(pi, peer) in &others {
            let target = peer.targets();
            let mark = |ok: bool| if ok { " ✓" } else { " ✗" };
            cpu_cells.push(match (median(ours, Sample::cpu_us), median(pi, Sample::cpu_us)) {
                (Some(a), Some(b)) => {
                    let r = a / b;
                    format!("{}{}", fmt_ratio(r), target.map_or("", |(c, _)| mark(r <= c)))
                }
                _ => "n/a".into(),
            });
            wall_cells.push(match (median(ours, Sample::wall_us), median(pi, Sample::wall_us)) {
                (Some(a), Some(b)) => {
                    let r = b / a;
                    format!("{}{}", fmt_ratio(r), target.map_or("", |(_, s)| mark(r >= s)))
                }
                _ => "n/a".into(),
            });
        }
        let mut row = vec![w.name().to_owned()];
        row.extend(cpu_cells);
        row.extend(wall_cells);
        ratios.row(row);
    }
    print!("{}", ratios.render());
}

/// Instructions per sequential `SELECT 1` of the two Rust clients, under
/// callgrind (user-space instructions of the whole client process; a
/// system call counts as one, time blocked in the kernel not at all).
fn callgrind() {
    let n = |key: &str, default: usize| std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let (n1, n2) = (n("PG_CG_N1", 2_000), n("PG_CG_N2", 4_000));
    assert!(n2 > n1, "PG_CG_N2 must be above PG_CG_N1");
    let server = TempPostgres::start().unwrap_or_else(|e| panic!("throwaway PostgreSQL: {e}"));
    let exe = std::env::current_exe().expect("this bench's path");
    let workload = Workload::Sequential;
    // Each run measures `count` queries after `count / 10` of warm-up.
    let queries = |count: usize| {
        let size = Size { count, tasks: 1 };
        (size.count + size.warmup().count) as f64
    };
    let count = |peer: Peer, queries: usize| -> f64 {
        let profile = match std::env::var("PG_CG_OUT_DIR") {
            Ok(dir) => format!("{dir}/{}-{queries}.callgrind", peer.name()),
            Err(_) => "/dev/null".into(),
        };
        let out = Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={profile}"))
            .arg(&exe)
            .args(["--peer", peer.name(), workload.name(), &queries.to_string(), "1"])
            .env(DSN_ENV, server.dsn())
            .env(NO_CPU_CLOCK_ENV, "1")
            .stdin(Stdio::null())
            .output()
            .expect("valgrind (is it installed?)");
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "valgrind {} failed: {log}", peer.name());
        log.lines()
            .find_map(|l| l.split("Collected : ").nth(1))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no callgrind total in: {log}"))
    };
    heading(&format!(
        "Instructions per sequential `SELECT 1` (callgrind, (Ir(N2) − Ir(N1)) / queries between, N1 = {n1}, N2 = {n2})"
    ));
    let mut table = Table::new(&["client", "Ir(N1)", "Ir(N2)", "Ir/query"]);
    let mut per_query = Vec::new();
    for peer in [Peer::AsyncioPostgres, Peer::TokioPostgres] {
        let (a, b) = (count(peer, n1), count(peer, n2));
        let per = (b - a) / (queries(n2) - queries(n1));
        eprintln!("{}: Ir({n1}) = {a}, Ir({n2}) = {b} -> {per:.0} per query", peer.name());
        per_query.push(per);
        table.row(vec![
            peer.name().into(),
            format!("{a:.0}"),
            format!("{b:.0}"),
            format!("{per:.0}"),
        ]);
    }
    print!("{}", table.render());
    println!();
    println!(
        "asyncio-postgres / tokio-postgres: {}",
        fmt_ratio(per_query[0] / per_query[1])
    );
}
