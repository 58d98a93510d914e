//! A throwaway nginx for the HTTP client's interop tests and benchmarks: a
//! server we did not write, from the distribution's packages, in a
//! temporary directory, on free ports of 127.0.0.1 (and `::1` when the
//! machine has it), stopped and removed when it is no longer wanted.
//!
//! # What it serves
//! Four ports, the same content on each:
//!
//! | port | protocol | URL helper |
//! |---|---|---|
//! | [`http_port`](TempNginx::http_port) | HTTP/1.1 (and 1.0) over TCP | [`http_url`](TempNginx::http_url) |
//! | [`https_port`](TempNginx::https_port) | TLS, ALPN `h2` and `http/1.1` | [`https_url`](TempNginx::https_url) |
//! | [`https_h1_port`](TempNginx::https_h1_port) | TLS, ALPN `http/1.1` only | [`https_h1_url`](TempNginx::https_h1_url) |
//! | [`h2c_port`](TempNginx::h2c_port) | cleartext HTTP/2 with prior knowledge only | [`h2c_url`](TempNginx::h2c_url) |
//!
//! The TLS ports present a certificate for `localhost` and `127.0.0.1`
//! from the [`Pki`] given to [`TempNginx::start`] (TLS 1.2 and 1.3); the
//! HTTPS URL helpers use the host `localhost`, the others `127.0.0.1`.
//! Every port is also open on `::1` when the machine has an IPv6 loopback
//! (so `localhost` reaches this server whichever address it resolves to;
//! the certificate does not name `::1`).
//!
//! | path | response |
//! |---|---|
//! | `/hello` | 200 [`HELLO`], `text/plain; charset=utf-8` |
//! | `/json` | 200 [`JSON`], `application/json` |
//! | `/text` | 200 [`text_body`] ([`TEXT_LEN`] bytes of UTF-8 lines), `text/plain; charset=utf-8`, a static file: gzip-compressed when the request accepts gzip (`Content-Encoding: gzip`, `Vary: Accept-Encoding`, chunked in HTTP/1.1), with `ETag`, `Last-Modified` and ranges |
//! | `/big` | 200 [`big_body`] ([`BIG_LEN`] deterministic bytes), `application/octet-stream`, a static file (never compressed; ranges work) |
//! | `/echo` | 200, `text/plain; charset=utf-8`: the request as nginx saw it, see [`echo`](#echo) |
//! | `/upload` | any method with a body of up to [`MAX_BODY`] bytes (`Content-Length` or chunked): nginx reads the whole body, then answers 200 with the number of bytes it received and a newline (nginx passes the body on to a second `server` of its own, on a Unix socket in the directory, which counts it); 413 above the limit |
//! | `/files/<path>` | WebDAV `PUT` stores the body (up to [`MAX_BODY`]; 201, or 204 when replacing; missing directories of `<path>` are made), `GET` returns it, `DELETE` removes it: a round trip that checks an upload byte for byte |
//! | `/redirect` | 302 to `/hello` (a relative `Location`: the client resolves it) |
//! | `/redirect-absolute` | 302 to `<scheme>://<host>:<port>/hello`, absolute |
//! | `/redirect/<n>` | `n` from 1 to [`REDIRECT_CHAIN`]: 302 to `/redirect/<n - 1>`, `/redirect/1` to `/hello` (exactly `n` redirects) |
//! | `/redirect-loop` | 302 to itself |
//! | `/redirect-303` | 303 to `/echo` (a POST becomes a GET) |
//! | `/redirect-307` | 307 to `/echo` (method and body kept) |
//! | `/redirect-308` | 308 to `/echo` |
//! | `/redirect-to?url=<url>` | 302 to `<url>` as written in the query (not percent-decoded): a redirect to another origin, e.g. another port of this server or `127.0.0.1` instead of `localhost` |
//! | `/set-cookie` | 200 with `Set-Cookie: asyncio=fixture; Path=/` (a cookie jar then sends it to `/echo`) |
//! | `/status/<code>` | for each code in [`STATUSES`]: that status, with nginx's own small HTML body where nginx has one |
//! | anything else | 404 |
//!
//! Every path answers `HEAD` too. A connection serves a million requests
//! (nginx's default is 1,000) and may idle for 75 s, so a benchmark's
//! pooled client is never cut by the server; HTTP/2 allows 128 concurrent
//! streams per connection (nginx's default); the one worker takes up to
//! 4,096 connections.
//!
//! ## `/echo`
//! A body of text lines, one per item below, each `name: value` after the
//! first (the value is empty when the request did not have it):
//!
//! ```text
//! GET /echo?a=1 HTTP/1.1
//! scheme: http
//! host: 127.0.0.1:41234
//! x-test: <the X-Test header>
//! authorization: <the Authorization header>
//! cookie: <the Cookie header>
//! content-type: <the Content-Type header>
//! content-length: <the Content-Length header>
//! user-agent: <the User-Agent header>
//! accept-encoding: <the Accept-Encoding header>
//! ```
//!
//! The first line is the method, the URI as sent (path and query,
//! not decoded) and the protocol (`HTTP/1.1`, or `HTTP/2.0` over HTTP/2).
//! A request body is read and discarded.
//!
//! ## Logs
//! [`TempNginx::access_log`] has one line per request, written when the
//! response is done: `<connection> <request on that connection> <port>
//! <protocol> "<request line>" <status> <body bytes sent>`: the first two
//! numbers show whether a client reused a connection (over HTTP/2 the
//! streams of one connection share its number and are counted as its
//! requests).
//! [`TempNginx::error_log`] has nginx's own messages (level `info`).
//!
//! # Reverse proxy
//! [`TempNginx::reverse_proxy`] starts one in front of servers of ours
//! instead: on the same four ports, `/hello` is still nginx's own (the
//! start-up check), and every other path goes to an `upstream` of the
//! given addresses, round robin, with what a production configuration
//! has: HTTP/1.1 keep-alive to the upstreams (`keepalive 16`), `Host`
//! passed on, `X-Forwarded-For` (`$proxy_add_x_forwarded_for`: the
//! client's list with the address nginx saw appended) and
//! `X-Forwarded-Proto` (`http` or `https`) set, and a request that fails
//! to connect or gets no response on one upstream tried on the next
//! (`proxy_next_upstream error timeout`; an upstream that fails is left out
//! for 10 s). The access log's lines end with the upstream's address and
//! status (`$upstream_addr $upstream_status`; both lists when a request
//! was tried on more than one).
//!
//! # How it starts
//! `nginx` is looked up in `/usr/sbin`, then on `PATH`. If it is missing
//! and the process runs as root, the distribution's package is installed
//! (`apt-get update`, then `apt-get install -y --no-install-recommends
//! nginx`, once per process, waiting for another process's dpkg lock);
//! otherwise [`TempNginx::start`] fails with an error that names the
//! package. (Where no `policy-rc.d` forbids it, Debian's package also
//! starts the system's nginx on port 80: the fixture neither needs nor
//! stops it.)
//!
//! The master process runs in the foreground (`daemon off`) with one
//! worker, its pid file, logs and every temporary path in the directory,
//! and the configuration alone (`-p`, `-c`, `-e`: nothing from
//! `/etc/nginx`). As root the worker runs as `nobody:nogroup` (the
//! directory and what it serves are world-readable; the key is readable by
//! root only, as the master loads it before the worker starts). The fixture
//! returns once nginx has written its pid file (after binding every
//! listening socket) and answered a `GET /hello` over plain HTTP; if a port was taken between its
//! choice and nginx's start, it starts again on new ports.
//!
//! # How it stops, even from a `static`
//! As with [`pg`](crate::pg): nginx runs under a small watchdog shell that
//! holds a pipe from this process on its standard input. When the pipe
//! closes — the [`TempNginx`] is dropped, or this process exits in any way,
//! `SIGKILL` included — the watchdog sends nginx `SIGTERM` (fast shutdown),
//! waits for it and removes the directory. The watchdog is in its own
//! process group, so a Ctrl-C meant for the tests does not kill it before
//! it has cleaned up. [`TempNginx::shared`] keeps one server per process
//! in a `OnceLock` and relies on exactly that.
//!
//! ```no_run
//! use asyncio_examples_support::nginx::TempNginx;
//! use asyncio_examples_support::pki::Pki;
//!
//! let pki = Pki::new("test CA");
//! let nginx = TempNginx::start(&pki).unwrap();
//! println!("{} and {}", nginx.http_url("/hello"), nginx.https_url("/hello"));
//! // Clients trust `pki.ca_pem` (also in the file `nginx.ca_file()`).
//! drop(nginx); // fast shutdown; the directory is removed
//! ```

use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::pki::Pki;

/// The body of `/hello`.
pub const HELLO: &str = "Hello, world!";
/// The body of `/json`.
pub const JSON: &str = r#"{"hello":"world"}"#;
/// The length of `/big`: 4 MiB.
pub const BIG_LEN: usize = 4 << 20;
/// The length of `/text` in bytes.
pub const TEXT_LEN: usize = 130_000;
/// The largest request body `/upload` and `/files/` accept: 20 MiB.
pub const MAX_BODY: usize = 20 << 20;
/// The longest redirect chain, `/redirect/<REDIRECT_CHAIN>`.
pub const REDIRECT_CHAIN: u32 = 10;
/// The codes `/status/<code>` answers with.
pub const STATUSES: &[u16] = &[
    200, 201, 202, 204, 400, 401, 403, 404, 405, 409, 410, 418, 429, 500, 502, 503, 504,
];

/// How long nginx may take to answer its first request.
const START_DEADLINE: Duration = Duration::from_secs(30);
/// How many times a start is tried again when a chosen port was taken.
const START_ATTEMPTS: u32 = 3;
/// The user and group the worker runs as when the master is root.
const WORKER_USER: &str = "nobody";
const WORKER_GROUP: &str = "nogroup";

/// The watchdog: starts nginx in the background, prints its pid, then
/// blocks reading its standard input; when that closes, stops nginx
/// (`SIGTERM`: fast shutdown), waits for it and removes the directory.
/// `$1` is the `nginx` binary, `$2` the directory, the rest nginx's
/// arguments.
const WATCHDOG: &str = r#"
nginx_bin=$1; dir=$2; shift 2
"$nginx_bin" "$@" </dev/null >>"$dir/stderr.log" 2>&1 &
pid=$!
echo "$pid"
while read -r _; do :; done
kill -TERM "$pid" 2>/dev/null
wait "$pid"
rm -rf "$dir"
"#;

/// The bytes of `/big`: [`BIG_LEN`] bytes of a xorshift64 sequence from a
/// fixed seed (incompressible, the same on every run).
pub fn big_body() -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut bytes = Vec::with_capacity(BIG_LEN);
    while bytes.len() < BIG_LEN {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(BIG_LEN);
    bytes
}

/// The text of `/text`: 2,000 numbered lines of UTF-8 (some of it beyond
/// ASCII), [`TEXT_LEN`] bytes, very compressible.
pub fn text_body() -> String {
    let mut text = String::with_capacity(TEXT_LEN);
    for n in 0..2000 {
        // 65 bytes a line: "à" and "é" are two bytes each.
        let _ = writeln!(text, "{n:04} The quick brown fox jumps over the lazy dog; voilà, café!");
    }
    text
}

/// The four ports nginx listens on.
#[derive(Clone, Copy, Debug)]
struct Ports {
    http: u16,
    https: u16,
    https_h1: u16,
    h2c: u16,
}

/// A running throwaway nginx. Dropping it stops nginx (fast shutdown) and
/// removes its directory.
#[derive(Debug)]
pub struct TempNginx {
    dir: PathBuf,
    ports: Ports,
    ca_pem: String,
    pid: u32,
    watchdog: Child,
    /// The write end of the watchdog's standard input: closing it stops
    /// nginx.
    lifeline: Option<ChildStdin>,
}

impl TempNginx {
    /// Installs nginx if needed (as root), writes its configuration, files
    /// and a `localhost` certificate from `pki` to a new temporary
    /// directory, starts it and returns once it answers.
    ///
    /// # Errors
    /// nginx is not installed and cannot be (not root: the error names the
    /// package), the directory cannot be written, or nginx exits or does
    /// not answer within 30 s (the error carries its logs).
    pub fn start(pki: &Pki) -> io::Result<TempNginx> {
        Self::start_as(pki, &Role::Fixture)
    }

    /// A reverse proxy in front of `upstreams` instead of the fixed
    /// content (see [Reverse proxy](self#reverse-proxy)), connecting to
    /// them from `bind` (a loopback address such as `127.0.0.2`, so the
    /// upstreams can tell nginx from a client on `127.0.0.1`) when given.
    ///
    /// # Errors
    /// As [`start`](TempNginx::start).
    pub fn reverse_proxy(pki: &Pki, upstreams: &[SocketAddr], bind: Option<IpAddr>) -> io::Result<TempNginx> {
        Self::start_as(
            pki,
            &Role::Proxy {
                upstreams: upstreams.to_vec(),
                bind,
            },
        )
    }

    fn start_as(pki: &Pki, role: &Role) -> io::Result<TempNginx> {
        let bin = find_or_install()?;
        let worker = worker_owner()?;
        let identity = pki.localhost();
        // Made once per process: a start then costs no more than nginx's.
        static CONTENT: OnceLock<(Vec<u8>, String)> = OnceLock::new();
        let (big, text) = CONTENT.get_or_init(|| (big_body(), text_body()));
        let mut attempt = 1;
        loop {
            let dir = make_temp_dir()?;
            let result = write_files(&dir, worker, pki, &identity, big, text)
                .and_then(|()| Self::start_in(&bin, &dir, worker, &pki.ca_pem, role));
            match result {
                Ok(nginx) => return Ok(nginx),
                Err(Failure { error, port_taken }) => {
                    let _ = fs::remove_dir_all(&dir);
                    if !port_taken || attempt == START_ATTEMPTS {
                        return Err(error);
                    }
                    attempt += 1;
                }
            }
        }
    }

    /// One server per process with its own throwaway CA
    /// ([`ca_pem`](TempNginx::ca_pem)), started on first use and stopped
    /// when the process exits (see the [module docs](self)).
    ///
    /// # Panics
    /// If nginx cannot be started (the panic carries the reason).
    pub fn shared() -> &'static TempNginx {
        static SHARED: OnceLock<TempNginx> = OnceLock::new();
        SHARED.get_or_init(|| {
            let pki = Pki::new("asyncio nginx fixture CA");
            TempNginx::start(&pki).unwrap_or_else(|e| panic!("throwaway nginx: {e}"))
        })
    }

    fn start_in(
        bin: &Path,
        dir: &Path,
        worker: Option<(u32, u32)>,
        ca_pem: &str,
        role: &Role,
    ) -> Result<TempNginx, Failure> {
        let (ports, ipv6) = free_ports()?;
        let conf = match role {
            Role::Fixture => config(dir, ports, ipv6, worker.is_some()),
            Role::Proxy { upstreams, bind } => proxy_config(dir, ports, ipv6, worker.is_some(), upstreams, *bind),
        };
        fs::write(dir.join("nginx.conf"), conf)?;
        let mut watchdog = Command::new("sh");
        {
            use std::os::unix::process::CommandExt;
            watchdog.process_group(0);
        }
        watchdog
            .arg("-c")
            .arg(WATCHDOG)
            .arg("watchdog")
            .arg(bin)
            .arg(dir)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = watchdog.spawn()?;
        let lifeline = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        let pid = stdout.read_line(&mut line).and_then(|_| {
            line.trim()
                .parse()
                .map_err(|_| io::Error::other(format!("the watchdog printed {line:?}, not a pid")))
        });
        let nginx = TempNginx {
            dir: dir.to_path_buf(),
            ports,
            ca_pem: ca_pem.to_owned(),
            pid: pid.as_ref().copied().unwrap_or(0),
            watchdog: child,
            lifeline,
        };
        pid?;
        nginx.wait_ready()?;
        Ok(nginx)
    }

    /// Waits until nginx has written its pid file (it does so once every
    /// listening socket is bound: whatever answers on the ports is this
    /// nginx, not a server that took a port meanwhile) and answers `GET
    /// /hello` over plain HTTP (its worker runs), or exits, or the deadline
    /// passes.
    fn wait_ready(&self) -> Result<(), Failure> {
        let deadline = Instant::now() + START_DEADLINE;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.ports.http));
        let pid_file = self.dir.join("nginx.pid");
        loop {
            let bound = fs::read_to_string(&pid_file).is_ok_and(|pid| pid.trim() == self.pid.to_string());
            if bound && hello(addr).is_ok() {
                return Ok(());
            }
            let alive = process_alive(self.pid);
            if !alive || Instant::now() > deadline {
                let logs = format!(
                    "{}{}",
                    fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default(),
                    self.error_log()
                );
                let why = if alive { "did not answer within 30 s" } else { "exited" };
                return Err(Failure {
                    port_taken: !alive && logs.contains("bind()"),
                    error: io::Error::other(format!("nginx {why}; its log:\n{logs}")),
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The plain HTTP/1.1 port.
    pub fn http_port(&self) -> u16 {
        self.ports.http
    }

    /// The HTTPS port offering HTTP/2 and HTTP/1.1 (ALPN `h2`, `http/1.1`).
    pub fn https_port(&self) -> u16 {
        self.ports.https
    }

    /// The HTTPS port offering HTTP/1.1 only (ALPN `http/1.1`).
    pub fn https_h1_port(&self) -> u16 {
        self.ports.https_h1
    }

    /// The cleartext HTTP/2 port (prior knowledge: the client starts with
    /// HTTP/2's preface; an HTTP/1.1 request there fails).
    pub fn h2c_port(&self) -> u16 {
        self.ports.h2c
    }

    /// `http://127.0.0.1:<http_port><path>` (`path` starts with `/`).
    pub fn http_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.ports.http)
    }

    /// `https://localhost:<https_port><path>`: the certificate's name
    /// matches.
    pub fn https_url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.ports.https)
    }

    /// `https://localhost:<https_h1_port><path>`.
    pub fn https_h1_url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.ports.https_h1)
    }

    /// `http://127.0.0.1:<h2c_port><path>`, for a client told to use
    /// HTTP/2 with prior knowledge.
    pub fn h2c_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.ports.h2c)
    }

    /// The CA that issued the server's certificate, as PEM: what a client
    /// trusts.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The file holding [`ca_pem`](TempNginx::ca_pem) (for `curl --cacert`
    /// or `SSL_CERT_FILE`).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The temporary directory (configuration, logs, served files).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The master process's id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The access log so far (see the [module docs](self#logs)).
    pub fn access_log(&self) -> String {
        fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }

    /// The error log so far.
    pub fn error_log(&self) -> String {
        fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for TempNginx {
    fn drop(&mut self) {
        // Closing the pipe tells the watchdog to stop nginx and remove the
        // directory; wait for it so that both are done on return.
        drop(self.lifeline.take());
        let _ = self.watchdog.wait();
    }
}

/// What a server is for.
enum Role {
    /// The fixed content of the module docs.
    Fixture,
    /// A reverse proxy (see [Reverse proxy](self#reverse-proxy)).
    Proxy {
        upstreams: Vec<SocketAddr>,
        bind: Option<IpAddr>,
    },
}

/// A failed start, and whether it failed because a port was taken
/// meanwhile (worth another try on new ports).
struct Failure {
    error: io::Error,
    port_taken: bool,
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Failure {
        Failure {
            error,
            port_taken: false,
        }
    }
}

/// The `listen` lines of the four ports (also on `::1` with `ipv6`).
fn listen_lines(ports: Ports, ipv6: bool) -> String {
    let mut listen = String::new();
    let hosts: &[&str] = if ipv6 { &["127.0.0.1", "[::1]"] } else { &["127.0.0.1"] };
    for host in hosts {
        for (port, params) in [
            (ports.http, ""),
            (ports.https, " ssl http2"),
            (ports.https_h1, " ssl"),
            (ports.h2c, " http2"),
        ] {
            let _ = writeln!(listen, "        listen {host}:{port}{params};");
        }
    }
    listen
}

/// The configuration's start, up to the `http` block: foreground, one
/// worker (as `nobody` when root), pid file and error log in `dir`.
fn head(dir: &Path, as_root: bool) -> String {
    let d = dir.display();
    let user = if as_root {
        format!("user {WORKER_USER} {WORKER_GROUP};")
    } else {
        String::new()
    };
    format!(
        "daemon off;\nmaster_process on;\nworker_processes 1;\nworker_rlimit_nofile 10000;\n{user}\n\
         pid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\nevents {{\n    worker_connections 4096;\n}}\n"
    )
}

/// Every temporary path nginx may write, in `dir`.
fn temp_paths(dir: &Path) -> String {
    let d = dir.display();
    ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
        .iter()
        .map(|t| format!("    {t}_temp_path {d}/{t}_temp;\n"))
        .collect()
}

/// nginx's configuration: everything in `dir`, one `server` on the four
/// ports (also on `::1` with `ipv6`), the locations of the module docs.
fn config(dir: &Path, ports: Ports, ipv6: bool, as_root: bool) -> String {
    let d = dir.display();
    let listen = listen_lines(ports, ipv6);
    let mut extra = String::new();
    for code in STATUSES {
        let _ = writeln!(extra, "        location = /status/{code} {{ return {code}; }}");
    }
    for n in 1..=REDIRECT_CHAIN {
        let next = if n == 1 {
            "/hello".to_owned()
        } else {
            format!("/redirect/{}", n - 1)
        };
        let _ = writeln!(extra, "        location = /redirect/{n} {{ return 302 {next}; }}");
    }
    let head = head(dir, as_root);
    let temp = temp_paths(dir);
    format!(
        r#"# A throwaway nginx for asyncio's HTTP client tests (examples-support/src/nginx.rs).
{head}
http {{
    log_format fixture '$connection $connection_requests $server_port $server_protocol "$request" $status $body_bytes_sent';
    access_log {d}/access.log fixture;
{temp}
    types {{ }}
    default_type application/octet-stream;
    charset utf-8;
    sendfile on;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    gzip on;
    gzip_types text/plain application/json;
    gzip_min_length 1000;
    gzip_vary on;
    gzip_proxied any;
    client_max_body_size {MAX_BODY};

    server {{
{listen}
        server_name localhost;
        ssl_certificate {d}/server.pem;
        ssl_certificate_key {d}/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        root {d}/www;
        absolute_redirect off;

        location = /hello {{ default_type text/plain; return 200 "{HELLO}"; }}
        location = /json {{ default_type application/json; return 200 '{JSON}'; }}
        location = /text {{ default_type text/plain; }}
        location = /big {{ default_type application/octet-stream; }}
        location = /echo {{
            default_type text/plain;
            return 200 "$request_method $request_uri $server_protocol\nscheme: $scheme\nhost: $http_host\nx-test: $http_x_test\nauthorization: $http_authorization\ncookie: $http_cookie\ncontent-type: $content_type\ncontent-length: $content_length\nuser-agent: $http_user_agent\naccept-encoding: $http_accept_encoding\n";
        }}
        location = /upload {{
            # The whole body is read (into client_body_temp past 16 KB),
            # then sent on with its length in Content-Length.
            proxy_pass http://unix:{d}/upload.sock:/;
        }}
        location /files/ {{
            dav_methods PUT DELETE;
            create_full_put_path on;
            dav_access user:rw group:r all:r;
        }}
        location = /redirect {{ return 302 /hello; }}
        location = /redirect-absolute {{ return 302 $scheme://$host:$server_port/hello; }}
        location = /redirect-loop {{ return 302 /redirect-loop; }}
        location = /redirect-303 {{ return 303 /echo; }}
        location = /redirect-307 {{ return 307 /echo; }}
        location = /redirect-308 {{ return 308 /echo; }}
        location = /redirect-to {{ return 302 $arg_url; }}
        location = /set-cookie {{
            add_header Set-Cookie "asyncio=fixture; Path=/";
            default_type text/plain;
            return 200 "cookie set\n";
        }}
{extra}        location / {{ return 404; }}
    }}

    # Behind /upload: answers with the length of what nginx received.
    server {{
        listen unix:{d}/upload.sock;
        location / {{ default_type text/plain; return 200 "$content_length\n"; }}
    }}
}}
"#
    )
}

/// nginx's configuration as a reverse proxy: `/hello` answered by nginx,
/// everything else passed to `upstreams` (see the module docs).
fn proxy_config(
    dir: &Path,
    ports: Ports,
    ipv6: bool,
    as_root: bool,
    upstreams: &[SocketAddr],
    bind: Option<IpAddr>,
) -> String {
    let d = dir.display();
    let listen = listen_lines(ports, ipv6);
    let mut servers = String::new();
    for addr in upstreams {
        let _ = writeln!(servers, "        server {addr} max_fails=1 fail_timeout=10s;");
    }
    let head = head(dir, as_root);
    let temp = temp_paths(dir);
    let bind = bind.map(|ip| format!("proxy_bind {ip};")).unwrap_or_default();
    format!(
        r#"# A throwaway nginx as a reverse proxy (examples-support/src/nginx.rs).
{head}
http {{
    log_format proxy '$connection $connection_requests $server_port $server_protocol "$request" $status $body_bytes_sent $upstream_addr $upstream_status';
    access_log {d}/access.log proxy;
{temp}    keepalive_requests 1000000;
    keepalive_timeout 75s;

    upstream app {{
{servers}        keepalive 16;
    }}

    server {{
{listen}
        server_name localhost;
        ssl_certificate {d}/server.pem;
        ssl_certificate_key {d}/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;

        location = /hello {{ default_type text/plain; return 200 "{HELLO}"; }}
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_next_upstream error timeout;
            {bind}
        }}
    }}
}}
"#
    )
}

/// Writes what nginx reads: the certificate and key, the CA for clients,
/// the served files, and the directory `PUT` writes to (the worker's when
/// it runs as another user).
fn write_files(
    dir: &Path,
    worker: Option<(u32, u32)>,
    pki: &Pki,
    identity: &crate::pki::Identity,
    big: &[u8],
    text: &str,
) -> Result<(), Failure> {
    let write = |path: PathBuf, contents: &[u8], mode: u32| -> io::Result<()> {
        fs::write(&path, contents)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))
    };
    write(dir.join("server.pem"), identity.chain.as_bytes(), 0o644)?;
    write(dir.join("server.key"), identity.key.as_bytes(), 0o600)?;
    write(dir.join("ca.pem"), pki.ca_pem.as_bytes(), 0o644)?;
    let www = dir.join("www");
    fs::create_dir(&www)?;
    fs::set_permissions(&www, fs::Permissions::from_mode(0o755))?;
    write(www.join("big"), big, 0o644)?;
    write(www.join("text"), text.as_bytes(), 0o644)?;
    let files = www.join("files");
    fs::create_dir(&files)?;
    fs::set_permissions(&files, fs::Permissions::from_mode(0o755))?;
    if let Some((uid, gid)) = worker {
        std::os::unix::fs::chown(&files, Some(uid), Some(gid))?;
    }
    Ok(())
}

/// One `GET /hello` over HTTP/1.1: `Ok` when nginx answers 200 with
/// [`HELLO`].
fn hello(addr: SocketAddr) -> io::Result<()> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response);
    if response.starts_with("HTTP/1.1 200") && response.contains("\r\nServer: nginx") && response.ends_with(HELLO) {
        Ok(())
    } else {
        Err(io::Error::other("not nginx's hello yet"))
    }
}

/// Whether `pid` is a live process (not gone, not a zombie: nginx stays a
/// zombie until the watchdog reaps it when it stops).
fn process_alive(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) state ...": the state follows the last ')'.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, Some('Z' | 'X') | None)
}

/// Four distinct ports that were free a moment ago on 127.0.0.1 and, when
/// this machine has an IPv6 loopback, on `::1` too (so that `localhost`
/// reaches this server whichever address it resolves to). Returns whether
/// `::1` is used.
fn free_ports() -> io::Result<(Ports, bool)> {
    let ipv6 = TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok();
    // Hold every listener until all four are chosen, so they differ.
    let mut held = Vec::new();
    let mut ports = Vec::new();
    while ports.len() < 4 {
        let v4 = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = v4.local_addr()?.port();
        held.push(v4);
        if ipv6 {
            match TcpListener::bind((Ipv6Addr::LOCALHOST, port)) {
                Ok(v6) => held.push(v6),
                // Taken on `::1`: keep the IPv4 one held and pick another.
                Err(_) => continue,
            }
        }
        ports.push(port);
    }
    Ok((
        Ports {
            http: ports[0],
            https: ports[1],
            https_h1: ports[2],
            h2c: ports[3],
        },
        ipv6,
    ))
}

/// The uid and gid the worker runs as: `nobody:nogroup`'s when this
/// process is root, none (the master's own user) otherwise.
fn worker_owner() -> io::Result<Option<(u32, u32)>> {
    if rustix::process::getuid().as_raw() != 0 {
        return Ok(None);
    }
    let id = |flag: &str, name: &str| -> io::Result<u32> {
        let out = Command::new("id").arg(flag).arg(WORKER_USER).output()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().map_err(|_| {
            io::Error::other(format!(
                "running as root and `id {flag} {WORKER_USER}` gives no {name} to run nginx's worker as"
            ))
        })
    };
    let uid = id("-u", "user")?;
    let out = Command::new("getent").args(["group", WORKER_GROUP]).output()?;
    let gid = String::from_utf8_lossy(&out.stdout)
        .split(':')
        .nth(2)
        .and_then(|gid| gid.trim().parse().ok())
        .ok_or_else(|| io::Error::other(format!("running as root and there is no group `{WORKER_GROUP}`")))?;
    Ok(Some((uid, gid)))
}

/// A new, empty directory under the system's temporary directory,
/// readable by all (the worker may be another user).
fn make_temp_dir() -> io::Result<PathBuf> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let base = std::env::temp_dir();
    for _ in 0..100 {
        let dir = base.join(format!(
            "asyncio-nginx-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        match fs::create_dir(&dir) {
            Ok(()) => {
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
                return Ok(dir);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("could not create a temporary directory"))
}

/// The `nginx` binary (in `/usr/sbin`, where Debian puts it, often off a
/// user's `PATH`, then on `PATH`), installing the distribution's package
/// first when it is missing and this is root.
fn find_or_install() -> io::Result<PathBuf> {
    crate::packages::find_or_install("nginx (in /usr/sbin or on PATH)", "nginx", || {
        crate::packages::find_binary("nginx", &["/usr/sbin"])
    })
}
