//! HTTP clients side by side (issue 18's "Speed"): asyncio-http's client on
//! asyncio's loop against reqwest on tokio's current-thread runtime and on
//! its multi-thread runtime with 2 workers, and, when a Python with aiohttp,
//! httpx and uvloop is given, aiohttp and httpx on CPython's asyncio and on
//! uvloop. Run with `cargo bench -p asyncio-benches --bench http_client`
//! (Rust clients only), or `bash benches/http_client/run.sh` (all of them:
//! it makes a virtual environment and hands its Python over in
//! `HTTP_BENCH_PYTHON`). `BENCH_SMOKE=1` (or `--smoke`) for small sizes and
//! one round, `BENCH_ROUNDS=N` for the rounds (default 5), `-- NAME` for the
//! rows whose name contains NAME, `-- --client=NAME` (repeatable) for some
//! clients only. `HTTPX_COUNT=N`: the GETs of an httpx sample (default
//! 2,000; httpx is some thirty times slower than the others, and its figures
//! are per request).
//!
//! `-- --callgrind` counts instructions instead (valgrind's callgrind): the
//! `h1_hello` row's asyncio-http client and reqwest on tokio current-thread,
//! each at two sizes (`HTTP_CG_N1`, `HTTP_CG_N2` GETs, default 2,000 and
//! 4,000, 100 in flight), per request `(Ir(N2) − Ir(N1)) / (requests(N2) −
//! requests(N1))` (warm-ups included in both, so the set-up cancels out).
//! `HTTP_CG_OUT_DIR=DIR` keeps each run's profile there
//! (`DIR/<client>-<requests>.callgrind`, for `callgrind_annotate`).
//!
//! **Servers**, started once for the whole run: asyncio-http's `hello`
//! example (`--port 0 --workers 1`: one loop; built with `cargo build
//! --release -p asyncio-http --example hello` if its binary is missing) over
//! HTTP/1.1, and a second one with `--tls` (a certificate for `localhost`
//! from a throwaway CA, examples-support's `pki`, ALPN `http/1.1`); a
//! throwaway nginx (examples-support's `nginx`, one worker, the same CA) on
//! its four ports: HTTP/1.1, HTTPS with ALPN `h2`, HTTPS with `http/1.1`
//! only, and h2c. Every client trusts that CA only.
//!
//! **Clients**: each sample is a new client process (this binary started
//! again with `--peer`, or `benches/http_client/py_peer.py`) that builds
//! one pooled client, warms up on a tenth of the workload (every pool
//! connection opened), then measures 10,000 GETs with 100 in flight (100
//! tasks each doing 100 one after another): its wall time and its own CPU
//! time (user + system of the whole process: `CLOCK_PROCESS_CPUTIME_ID`).
//! The clients are described in `asyncio_benches::http_client` and the
//! Python file.
//!
//! **Rounds**: round 1 runs every client once on every row, then round 2,
//! and so on; the first client of each row rotates from round to round.
//! Tables show the median [min–max] over the rounds and the ratios of the
//! medians: CPU per request as asyncio-http / peer (below 1: asyncio-http
//! uses less), requests/s as asyncio-http / peer (above 1: asyncio-http is
//! faster), each against issue 18's targets.

#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use asyncio_benches::http_client::reqwest_peer::Flavor;
use asyncio_benches::http_client::{
    asyncio_peer, ca_pem, reqwest_peer, Protocol, Sample, Size, CA_ENV, NO_CPU_CLOCK_ENV,
};
use asyncio_benches::report::{cores, heading};
use asyncio_benches::{fmt_num, fmt_ratio, Config, Summary, Table};
use asyncio_examples_support::nginx::TempNginx;
use asyncio_examples_support::pki::{Pki, TempDir};

/// The Python with aiohttp, httpx and uvloop (set by
/// benches/http_client/run.sh).
const PYTHON_ENV: &str = "HTTP_BENCH_PYTHON";

/// The Python clients.
const PY_PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/http_client/py_peer.py");

/// Which server a row's GETs go to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Hello,
    HelloTls,
    NginxHttp,
    NginxHttpsH1,
    NginxHttps,
    NginxH2c,
}

/// One row of the table.
#[derive(Clone, Copy, Debug)]
struct Row {
    name: &'static str,
    describe: &'static str,
    target: Target,
    protocol: Protocol,
}

const ROWS: [Row; 6] = [
    Row {
        name: "h1_hello",
        describe: "HTTP/1.1 to asyncio-http's `hello` (`--workers 1`), `GET /`",
        target: Target::Hello,
        protocol: Protocol::H1,
    },
    Row {
        name: "h1_nginx",
        describe: "HTTP/1.1 to nginx (one worker), `GET /hello`",
        target: Target::NginxHttp,
        protocol: Protocol::H1,
    },
    Row {
        name: "https_hello",
        describe: "HTTP/1.1 over TLS (ALPN `http/1.1`) to `hello --tls`",
        target: Target::HelloTls,
        protocol: Protocol::H1,
    },
    Row {
        name: "https_nginx",
        describe: "HTTP/1.1 over TLS to nginx's `http/1.1`-only TLS port",
        target: Target::NginxHttpsH1,
        protocol: Protocol::H1,
    },
    Row {
        name: "h2_nginx",
        describe: "HTTP/2 over TLS to nginx (ALPN picks `h2`): one connection, 100 streams at once",
        target: Target::NginxHttps,
        protocol: Protocol::H2,
    },
    Row {
        name: "h2c_nginx",
        describe: "cleartext HTTP/2 with prior knowledge to nginx's h2c port",
        target: Target::NginxH2c,
        protocol: Protocol::H2c,
    },
];

/// The clients, in table order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Peer {
    AsyncioHttp,
    ReqwestCt,
    ReqwestMt2,
    AiohttpUvloop,
    AiohttpAsyncio,
    HttpxUvloop,
    HttpxAsyncio,
}

const PEERS: [Peer; 7] = [
    Peer::AsyncioHttp,
    Peer::ReqwestCt,
    Peer::ReqwestMt2,
    Peer::AiohttpUvloop,
    Peer::AiohttpAsyncio,
    Peer::HttpxUvloop,
    Peer::HttpxAsyncio,
];

/// The peers the ratio table compares asyncio-http with.
const RATIO_PEERS: [Peer; 4] = [
    Peer::ReqwestCt,
    Peer::ReqwestMt2,
    Peer::AiohttpUvloop,
    Peer::HttpxUvloop,
];

impl Peer {
    fn name(self) -> &'static str {
        match self {
            Peer::AsyncioHttp => "asyncio-http",
            Peer::ReqwestCt => "reqwest+tokio-ct",
            Peer::ReqwestMt2 => "reqwest+tokio-mt2",
            Peer::AiohttpUvloop => "aiohttp+uvloop",
            Peer::AiohttpAsyncio => "aiohttp+asyncio",
            Peer::HttpxUvloop => "httpx+uvloop",
            Peer::HttpxAsyncio => "httpx+asyncio",
        }
    }

    fn from_name(name: &str) -> Option<Peer> {
        PEERS.into_iter().find(|p| p.name() == name)
    }

    fn is_python(self) -> bool {
        !matches!(self, Peer::AsyncioHttp | Peer::ReqwestCt | Peer::ReqwestMt2)
    }

    fn is_httpx(self) -> bool {
        matches!(self, Peer::HttpxUvloop | Peer::HttpxAsyncio)
    }

    /// aiohttp speaks HTTP/1.1 only.
    fn runs(self, row: Row) -> bool {
        !(matches!(self, Peer::AiohttpUvloop | Peer::AiohttpAsyncio) && row.protocol.is_h2())
    }

    /// The targets against this peer: (CPU per request at most,
    /// requests/s at least), or none.
    fn targets(self) -> (Option<f64>, Option<f64>) {
        match self {
            Peer::ReqwestCt => (Some(1.0), Some(1.0)),
            Peer::AiohttpUvloop => (Some(0.2), None),
            _ => (None, None),
        }
    }

    /// Runs one sample in a new process.
    fn sample(self, row: Row, url: &str, size: Size, ca: &Path, python: Option<&str>) -> Sample {
        let mut command = if self.is_python() {
            let mut c = Command::new(python.expect("a Python for aiohttp and httpx"));
            let (library, event_loop) = match self {
                Peer::AiohttpUvloop => ("aiohttp", "uvloop"),
                Peer::AiohttpAsyncio => ("aiohttp", "asyncio"),
                Peer::HttpxUvloop => ("httpx", "uvloop"),
                _ => ("httpx", "asyncio"),
            };
            c.arg(PY_PEER).arg(library).arg(event_loop);
            c
        } else {
            let mut c = Command::new(std::env::current_exe().expect("this bench's path"));
            c.arg("--peer").arg(self.name());
            c
        };
        command
            .arg(row.protocol.name())
            .arg(url)
            .arg(size.count.to_string())
            .arg(size.in_flight.to_string())
            .env(CA_ENV, ca)
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
            _ => panic!("the {} client failed on {} ({status})", self.name(), row.name),
        }
    }
}

/// The bench binary started again as a Rust client:
/// `--peer NAME PROTOCOL URL COUNT IN_FLIGHT`, the CA's file in [`CA_ENV`].
fn client(args: &[String]) {
    let usage =
        "usage: http_client --peer asyncio-http|reqwest+tokio-ct|reqwest+tokio-mt2 h1|h2|h2c URL COUNT IN_FLIGHT";
    let [peer, protocol, url, count, in_flight] = args else {
        panic!("{usage}")
    };
    let protocol = Protocol::from_name(protocol).expect(usage);
    let size = Size {
        count: count.parse().expect(usage),
        in_flight: in_flight.parse().expect(usage),
    };
    let ca = ca_pem();
    let sample = match Peer::from_name(peer) {
        Some(Peer::AsyncioHttp) => asyncio_peer::run(protocol, url, size, ca.as_deref()),
        Some(Peer::ReqwestCt) => reqwest_peer::run(Flavor::CurrentThread, protocol, url, size, ca.as_deref()),
        Some(Peer::ReqwestMt2) => reqwest_peer::run(Flavor::MultiThread2, protocol, url, size, ca.as_deref()),
        _ => panic!("{usage}"),
    };
    println!("{}", sample.line());
}

/// A `hello` example server, a child process stopped when dropped.
struct Hello {
    child: Child,
    url: String,
}

impl Hello {
    /// Starts `hello --port 0 --workers 1` (with `--tls CERT KEY` if
    /// given) and reads the URL it prints.
    fn start(tls: Option<(&Path, &Path)>) -> Hello {
        let mut command = Command::new(hello_binary());
        command.args(["--port", "0", "--workers", "1"]);
        if let Some((cert, key)) = tls {
            command.arg("--tls").arg(cert).arg(key);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the hello example");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let url = lines
            .find_map(|line| {
                let line = line.ok()?;
                Some(
                    line.strip_prefix("listening on ")?
                        .split_whitespace()
                        .next()?
                        .to_owned(),
                )
            })
            .expect("hello printed its URL");
        // Keep reading (and dropping) what it prints, so it never blocks.
        std::thread::spawn(move || lines.for_each(drop));
        Hello { child, url }
    }
}

impl Drop for Hello {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `hello` example's binary: `HELLO_BIN`, or this target directory's
/// `release/examples/hello`, built first if missing.
fn hello_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("HELLO_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("this bench's path");
    // <target>/release/deps/http_client-… → <target>/release/examples/hello
    let path = exe
        .parent()
        .and_then(Path::parent)
        .expect("the bench's target directory")
        .join("examples/hello");
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        eprintln!("http_client bench: building asyncio-http's hello example");
        let status = Command::new(cargo)
            .args(["build", "--release", "-p", "asyncio-http", "--example", "hello"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build");
        assert!(status.success() && path.exists(), "build the hello example ({status})");
    }
    path
}

/// Every server of the run, and the CA's file.
struct Servers {
    hello: Hello,
    hello_tls: Hello,
    nginx: TempNginx,
    ca: PathBuf,
    _dir: TempDir,
}

impl Servers {
    fn start() -> Servers {
        let pki = Pki::new("asyncio-benches http_client CA");
        let dir = TempDir::new();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, &pki.ca_pem).expect("write the CA");
        let (cert, key) = pki.localhost().write(dir.path(), "hello");
        let nginx = TempNginx::start(&pki).unwrap_or_else(|e| panic!("throwaway nginx: {e}"));
        Servers {
            hello: Hello::start(None),
            hello_tls: Hello::start(Some((&cert, &key))),
            nginx,
            ca,
            _dir: dir,
        }
    }

    fn url(&self, target: Target) -> String {
        match target {
            Target::Hello => self.hello.url.clone(),
            Target::HelloTls => self.hello_tls.url.clone(),
            Target::NginxHttp => self.nginx.http_url("/hello"),
            Target::NginxHttpsH1 => self.nginx.https_h1_url("/hello"),
            Target::NginxHttps => self.nginx.https_url("/hello"),
            Target::NginxH2c => self.nginx.h2c_url("/hello"),
        }
    }
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
        eprintln!(
            "http_client bench: {PYTHON_ENV} is not set, so no aiohttp or httpx clients (benches/http_client/run.sh sets it)"
        );
    }
    let rows: Vec<Row> = ROWS.into_iter().filter(|r| cfg.selected(r.name)).collect();
    assert!(!peers.is_empty() && !rows.is_empty(), "nothing selected");
    let size = Size::of(cfg.smoke);
    let httpx_size = Size {
        count: std::env::var("HTTPX_COUNT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if cfg.smoke { size.count } else { 2_000 }),
        ..size
    };

    let servers = Servers::start();
    // samples[row][peer], one per round.
    let mut samples = vec![vec![Vec::with_capacity(rounds); peers.len()]; rows.len()];
    for round in 0..rounds {
        for (ri, &row) in rows.iter().enumerate() {
            let url = servers.url(row.target);
            for k in 0..peers.len() {
                let pi = (k + round) % peers.len();
                let peer = peers[pi];
                if !peer.runs(row) {
                    continue;
                }
                let size = if peer.is_httpx() { httpx_size } else { size };
                let sample = peer.sample(row, &url, size, &servers.ca, python.as_deref());
                eprintln!(
                    "round {}/{rounds} {:<12} {:<18} {:>8} req/s  cpu {:>7} µs/req",
                    round + 1,
                    row.name,
                    peer.name(),
                    fmt_num(per_sec(&sample)),
                    fmt_num(sample.cpu_us()),
                );
                samples[ri][pi].push(sample);
            }
        }
    }
    drop(servers);
    report(&cfg, rounds, size, httpx_size, &peers, &rows, &samples);
}

/// Requests per second of a sample.
fn per_sec(s: &Sample) -> f64 {
    1e6 / s.wall_us()
}

/// Median [min–max] of one figure of the samples.
fn summary(samples: &[Sample], figure: fn(&Sample) -> f64) -> Option<Summary> {
    let values: Vec<f64> = samples.iter().map(figure).collect();
    (!values.is_empty()).then(|| Summary::of(&values))
}

fn report(
    cfg: &Config,
    rounds: usize,
    size: Size,
    httpx_size: Size,
    peers: &[Peer],
    rows: &[Row],
    samples: &[Vec<Vec<Sample>>],
) {
    heading(&format!(
        "HTTP clients, {}: median [min–max] of {rounds} round{}",
        cfg.sizes_label(),
        if rounds == 1 { "" } else { "s" }
    ));
    println!(
        "{} GETs with {} in flight through one pooled client (after a warm-up of {}), each sample a new client \
         process; httpx {} GETs. Servers on 127.0.0.1 (`hello` with one worker loop; nginx with one worker), {} CPUs \
         shared by the server and the client; CPU is the client process's own (user + system, every thread) over \
         the measured GETs.",
        size.requests(),
        size.in_flight,
        size.warmup().requests(),
        httpx_size.requests(),
        cores()
    );
    println!();
    for row in rows {
        println!("- `{}`: {}", row.name, row.describe);
    }
    println!();
    let mut table = Table::new(&["row", "client", "requests/s", "CPU µs/request"]);
    for (ri, row) in rows.iter().enumerate() {
        for (pi, &peer) in peers.iter().enumerate() {
            let s = &samples[ri][pi];
            if !peer.runs(*row) {
                continue;
            }
            let (Some(rate), Some(cpu)) = (summary(s, per_sec), summary(s, Sample::cpu_us)) else {
                continue;
            };
            table.row(vec![row.name.into(), peer.name().into(), rate.display(), cpu.display()]);
        }
    }
    print!("{}", table.render());

    let Some(ours) = peers.iter().position(|&p| p == Peer::AsyncioHttp) else {
        return;
    };
    let others: Vec<(usize, Peer)> = peers
        .iter()
        .copied()
        .enumerate()
        .filter(|&(_, p)| RATIO_PEERS.contains(&p))
        .collect();
    if others.is_empty() {
        return;
    }
    println!();
    println!(
        "Ratios of the medians. CPU: asyncio-http / peer, per request (below 1: asyncio-http uses less CPU). \
         Speed: requests/s of asyncio-http / peer's (above 1: asyncio-http is faster). ✓/✗ against issue 18's \
         targets (CPU ≤ 0.2× aiohttp+uvloop; CPU ≤ 1.0× and speed ≥ 1.0× reqwest+tokio-ct)."
    );
    println!();
    let mut header = vec!["row".to_owned()];
    header.extend(others.iter().map(|(_, p)| format!("CPU vs {}", p.name())));
    header.extend(others.iter().map(|(_, p)| format!("speed vs {}", p.name())));
    let mut ratios = Table::new(&header);
    let mark = |ok: bool| if ok { " ✓" } else { " ✗" };
    for (ri, row) in rows.iter().enumerate() {
        let median = |pi: usize, figure: fn(&Sample) -> f64| summary(&samples[ri][pi], figure).map(|s| s.median);
        let mut cpu_cells = Vec::new();
        let mut speed_cells = Vec::new();
        for &(pi, peer) in &others {
            let (cpu_target, speed_target) = peer.targets();
            cpu_cells.push(match (median(ours, Sample::cpu_us), median(pi, Sample::cpu_us)) {
                (Some(a), Some(b)) => {
                    let r = a / b;
                    format!("{}{}", fmt_ratio(r), cpu_target.map_or("", |t| mark(r <= t)))
                }
                _ => "n/a".into(),
            });
            speed_cells.push(match (median(ours, per_sec), median(pi, per_sec)) {
                (Some(a), Some(b)) => {
                    let r = a / b;
                    format!("{}{}", fmt_ratio(r), speed_target.map_or("", |t| mark(r >= t)))
                }
                _ => "n/a".into(),
            });
        }
        let mut cells = vec![row.name.to_owned()];
        cells.extend(cpu_cells);
        cells.extend(speed_cells);
        ratios.row(cells);
    }
    print!("{}", ratios.render());
}

/// Instructions per GET of asyncio-http's client and of reqwest on tokio
/// current-thread on the `h1_hello` row, under callgrind (user-space
/// instructions of the whole client process; a system call counts as one,
/// time blocked in the kernel not at all).
fn callgrind() {
    let n = |key: &str, default: usize| std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let (n1, n2) = (n("HTTP_CG_N1", 2_000), n("HTTP_CG_N2", 4_000));
    assert!(n2 > n1, "HTTP_CG_N2 must be above HTTP_CG_N1");
    let in_flight = 100;
    let hello = Hello::start(None);
    let exe = std::env::current_exe().expect("this bench's path");
    // Each run does `count` GETs after its warm-up.
    let requests = |count: usize| {
        let size = Size { count, in_flight };
        (size.requests() + size.warmup().requests()) as f64
    };
    let count = |peer: Peer, count: usize| -> f64 {
        let profile = match std::env::var("HTTP_CG_OUT_DIR") {
            Ok(dir) => format!("{dir}/{}-{count}.callgrind", peer.name()),
            Err(_) => "/dev/null".into(),
        };
        let out = Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={profile}"))
            .arg(&exe)
            .args(["--peer", peer.name(), Protocol::H1.name(), &hello.url])
            .args([count.to_string(), in_flight.to_string()])
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
        "Instructions per GET, h1_hello, {in_flight} in flight (callgrind, (Ir(N2) − Ir(N1)) / requests between, \
         N1 = {n1}, N2 = {n2})"
    ));
    let mut table = Table::new(&["client", "Ir(N1)", "Ir(N2)", "Ir/request"]);
    let mut per_request = Vec::new();
    for peer in [Peer::AsyncioHttp, Peer::ReqwestCt] {
        let (a, b) = (count(peer, n1), count(peer, n2));
        let per = (b - a) / (requests(n2) - requests(n1));
        eprintln!(
            "{}: Ir({n1}) = {a}, Ir({n2}) = {b} -> {per:.0} per request",
            peer.name()
        );
        per_request.push(per);
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
        "asyncio-http / reqwest+tokio-ct: {}",
        fmt_ratio(per_request[0] / per_request[1])
    );
}
