//! The throwaway nginx (`asyncio_examples_support::nginx`): every port
//! speaks the protocol its docs promise and serves every documented path
//! (checked with `curl` as a subprocess: there is no Rust HTTP client in
//! the workspace yet), and nginx and its directory are gone after a drop
//! and after the death of the process that started it.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use asyncio_examples_support::nginx::{self, TempNginx};
use asyncio_examples_support::pki::Pki;

/// What `curl` got.
#[derive(Debug)]
struct Reply {
    /// curl's exit code (0 on success; 47 for too many redirects).
    exit: i32,
    status: u16,
    /// `1.1` or `2`.
    version: String,
    content_type: String,
    content_encoding: String,
    location: String,
    /// Bytes on the wire (before decompression).
    size_download: u64,
    body: Vec<u8>,
}

impl Reply {
    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("a UTF-8 body")
    }
}

/// Runs `curl` on `url` with `args`, trusting the fixture's CA.
fn curl(nginx: &TempNginx, url: &str, args: &[&str]) -> Reply {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "30", "--cacert"])
        .arg(nginx.ca_file())
        .arg("-w")
        .arg(
            "%{stderr}\n@@%{http_code}\n%{http_version}\n%{content_type}\n%header{content-encoding}\n\
             %header{location}\n%{size_download}\n",
        )
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .expect("run curl");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let (_, written) = stderr.rsplit_once("\n@@").expect("curl's -w output");
    let fields: Vec<&str> = written.split('\n').collect();
    Reply {
        exit: out.status.code().unwrap_or(-1),
        status: fields[0].parse().unwrap_or(0),
        version: fields[1].to_owned(),
        content_type: fields[2].to_owned(),
        content_encoding: fields[3].to_owned(),
        location: fields[4].to_owned(),
        size_download: fields[5].parse().unwrap_or(0),
        body: out.stdout,
    }
}

/// One way to reach the server: a URL maker, curl's protocol flags and
/// the HTTP version that must come out.
struct Route {
    name: &'static str,
    url: fn(&TempNginx, &str) -> String,
    flags: &'static [&'static str],
    version: &'static str,
}

const ROUTES: &[Route] = &[
    Route {
        name: "http",
        url: TempNginx::http_url,
        flags: &["--http1.1"],
        version: "1.1",
    },
    Route {
        name: "https h2",
        url: TempNginx::https_url,
        flags: &["--http2"],
        version: "2",
    },
    Route {
        name: "https http/1.1 by choice",
        url: TempNginx::https_url,
        flags: &["--http1.1"],
        version: "1.1",
    },
    Route {
        name: "https http/1.1 only",
        url: TempNginx::https_h1_url,
        flags: &["--http2"],
        version: "1.1",
    },
    Route {
        name: "h2c",
        url: TempNginx::h2c_url,
        flags: &["--http2-prior-knowledge"],
        version: "2",
    },
];

fn get(nginx: &TempNginx, route: &Route, path: &str, args: &[&str]) -> Reply {
    let mut all = route.flags.to_vec();
    all.extend_from_slice(args);
    let reply = curl(nginx, &(route.url)(nginx, path), &all);
    if reply.exit == 0 {
        assert_eq!(reply.version, route.version, "{}: {path}: {reply:?}", route.name);
    }
    reply
}

#[test]
fn every_port_speaks_its_protocol() {
    let nginx = TempNginx::shared();
    for route in ROUTES {
        let reply = get(nginx, route, "/hello", &[]);
        assert_eq!(reply.exit, 0, "{}", route.name);
        assert_eq!(reply.status, 200, "{}", route.name);
        assert_eq!(reply.text(), nginx::HELLO, "{}", route.name);
        assert_eq!(reply.content_type, "text/plain; charset=utf-8", "{}", route.name);
        let echo = get(nginx, route, "/echo", &[]);
        let protocol = if route.version == "2" { "HTTP/2.0" } else { "HTTP/1.1" };
        assert!(
            echo.text().starts_with(&format!("GET /echo {protocol}\n")),
            "{}",
            echo.text()
        );
    }
    // The certificate also names 127.0.0.1.
    let by_ip = curl(nginx, &format!("https://127.0.0.1:{}/hello", nginx.https_port()), &[]);
    assert_eq!((by_ip.exit, by_ip.status), (0, 200), "{by_ip:?}");
    // HTTP/1.1 on the h2c port is not answered as HTTP/1.1.
    let h1_on_h2c = curl(nginx, &nginx.h2c_url("/hello"), &["--http1.1"]);
    assert_ne!(h1_on_h2c.status, 200, "{h1_on_h2c:?}");
    // A client that trusts another CA refuses the certificate.
    let other_ca = std::env::temp_dir().join(format!("nginx-fixture-other-ca-{}", std::process::id()));
    std::fs::write(&other_ca, Pki::new("another CA").ca_pem).unwrap();
    let untrusted = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "--max-time", "30", "--cacert"])
        .arg(&other_ca)
        .arg(nginx.https_url("/hello"))
        .stderr(Stdio::null())
        .status()
        .expect("run curl");
    let _ = std::fs::remove_file(&other_ca);
    assert_eq!(untrusted.code(), Some(60), "a certificate problem expected");
}

#[test]
fn static_files_and_compression_on_every_port() {
    let nginx = TempNginx::shared();
    let big = nginx::big_body();
    let text = nginx::text_body();
    assert_eq!(big.len(), nginx::BIG_LEN);
    assert_eq!(text.len(), nginx::TEXT_LEN);
    for route in ROUTES {
        let json = get(nginx, route, "/json", &[]);
        assert_eq!((json.status, json.content_type.as_str()), (200, "application/json"));
        assert_eq!(json.text(), nginx::JSON);

        let reply = get(nginx, route, "/big", &["--compressed"]);
        assert_eq!(
            (reply.status, reply.content_type.as_str()),
            (200, "application/octet-stream")
        );
        assert_eq!(reply.content_encoding, "", "{}", route.name);
        assert!(reply.body == big, "{}: /big differs", route.name);

        let plain = get(nginx, route, "/text", &[]);
        assert_eq!((plain.status, plain.content_encoding.as_str()), (200, ""));
        assert_eq!(plain.content_type, "text/plain; charset=utf-8");
        assert_eq!(plain.text(), text, "{}", route.name);
        let gzipped = get(nginx, route, "/text", &["--compressed"]);
        assert_eq!((gzipped.status, gzipped.content_encoding.as_str()), (200, "gzip"));
        assert_eq!(gzipped.text(), text, "{}", route.name);
        assert!(
            gzipped.size_download < nginx::TEXT_LEN as u64 / 10,
            "{}",
            gzipped.size_download
        );
        // Ranges on static files.
        let range = get(nginx, route, "/big", &["-r", "10-19"]);
        assert_eq!((range.status, &range.body[..]), (206, &big[10..20]));
    }
}

#[test]
fn redirects_statuses_and_echo_on_every_port() {
    let nginx = TempNginx::shared();
    for route in ROUTES {
        let name = route.name;
        let redirect = get(nginx, route, "/redirect", &[]);
        assert_eq!((redirect.status, redirect.location.as_str()), (302, "/hello"), "{name}");
        for (path, status, location) in [
            ("/redirect/2", 302, "/redirect/1"),
            ("/redirect/1", 302, "/hello"),
            ("/redirect-loop", 302, "/redirect-loop"),
            ("/redirect-303", 303, "/echo"),
            ("/redirect-307", 307, "/echo"),
            ("/redirect-308", 308, "/echo"),
        ] {
            let reply = get(nginx, route, path, &[]);
            assert_eq!(
                (reply.status, reply.location.as_str()),
                (status, location),
                "{name}: {path}"
            );
        }
        let absolute = get(nginx, route, "/redirect-absolute", &[]);
        assert_eq!(absolute.status, 302);
        assert_eq!(absolute.location, (route.url)(nginx, "/hello"), "{name}");
        let last = get(nginx, route, &format!("/redirect/{}", nginx::REDIRECT_CHAIN), &[]);
        assert_eq!(last.status, 302);
        // curl 7.88 does not send the request after a redirect on a reused
        // HTTP/2 prior-knowledge connection (it stops with the 302, exit
        // 0): on h2c the Locations above are what is checked.
        if route.name != "h2c" {
            let followed = get(nginx, route, "/redirect", &["-L"]);
            assert_eq!((followed.status, followed.text()), (200, nginx::HELLO), "{name}");
            // /redirect/<n>: exactly n redirects.
            let chain = get(nginx, route, "/redirect/3", &["-L", "--max-redirs", "3"]);
            assert_eq!((chain.exit, chain.text()), (0, nginx::HELLO), "{name}");
            let cut = get(nginx, route, "/redirect/3", &["-L", "--max-redirs", "2"]);
            assert_eq!(cut.exit, 47, "{name}: too many redirects expected");
            let looping = get(nginx, route, "/redirect-loop", &["-L", "--max-redirs", "5"]);
            assert_eq!(looping.exit, 47, "{name}");
            // 303 turns the POST into a GET; 307 and 308 keep it.
            let see_other = get(nginx, route, "/redirect-303", &["-L", "-d", "x=1"]);
            assert!(
                see_other.text().starts_with("GET /echo "),
                "{name}: {}",
                see_other.text()
            );
            for path in ["/redirect-307", "/redirect-308"] {
                let kept = get(nginx, route, path, &["-L", "-d", "x=1"]);
                assert!(kept.text().starts_with("POST /echo "), "{name}: {}", kept.text());
            }
        }
        let elsewhere = nginx.https_url("/hello");
        let to = get(nginx, route, &format!("/redirect-to?url={elsewhere}"), &[]);
        assert_eq!((to.status, to.location.as_str()), (302, elsewhere.as_str()), "{name}");

        for &code in nginx::STATUSES {
            let reply = get(nginx, route, &format!("/status/{code}"), &[]);
            assert_eq!(reply.status, code, "{name}");
        }
        assert_eq!(get(nginx, route, "/nothing-here", &[]).status, 404);
        let head = get(nginx, route, "/hello", &["-I"]);
        assert_eq!(
            (head.status, head.body.is_empty()),
            (200, false),
            "{name}: -I prints the head"
        );

        let echo = get(
            nginx,
            route,
            "/echo?a=1&b=%20",
            &[
                "-H",
                "X-Test: forty two",
                "-u",
                "user:pw",
                "-b",
                "k=v",
                "-A",
                "fixture-test",
            ],
        );
        let (port, scheme) = {
            let url = (route.url)(nginx, "");
            let port = url.rsplit(':').next().unwrap().to_owned();
            (port, url.split(':').next().unwrap().to_owned())
        };
        let host = if scheme == "https" { "localhost" } else { "127.0.0.1" };
        let protocol = if route.version == "2" { "HTTP/2.0" } else { "HTTP/1.1" };
        assert_eq!(
            echo.text(),
            format!(
                "GET /echo?a=1&b=%20 {protocol}\nscheme: {scheme}\nhost: {host}:{port}\nx-test: forty two\n\
                 authorization: Basic dXNlcjpwdw==\ncookie: k=v\ncontent-type: \ncontent-length: \n\
                 user-agent: fixture-test\naccept-encoding: \n"
            ),
            "{name}"
        );
        let cookie = get(nginx, route, "/set-cookie", &["-c", "-"]);
        assert!(cookie.text().contains("asyncio\tfixture"), "{name}: {}", cookie.text());
    }
}

#[test]
fn bodies_on_every_port() {
    let nginx = TempNginx::shared();
    let scratch = std::env::temp_dir().join(format!("nginx-fixture-upload-{}", std::process::id()));
    let body: Vec<u8> = nginx::big_body().into_iter().cycle().take(5_000_001).collect();
    std::fs::write(&scratch, &body).unwrap();
    let file_arg = format!("@{}", scratch.display());
    for (i, route) in ROUTES.iter().enumerate() {
        let name = route.name;
        let upload = get(nginx, route, "/upload", &["--data-binary", &file_arg]);
        assert_eq!((upload.status, upload.text()), (200, "5000001\n"), "{name}");
        if route.version == "1.1" {
            // Chunked: nginx counts what it received.
            let chunked = get(
                nginx,
                route,
                "/upload",
                &["--data-binary", &file_arg, "-H", "Transfer-Encoding: chunked"],
            );
            assert_eq!((chunked.status, chunked.text()), (200, "5000001\n"), "{name}");
        }

        // PUT, GET back, DELETE.
        let path = format!("/files/{i}/upload.bin");
        let put = get(nginx, route, &path, &["-T", &scratch.display().to_string()]);
        assert_eq!(put.status, 201, "{name}: {put:?}");
        let back = get(nginx, route, &path, &[]);
        assert!(
            back.status == 200 && back.body == body,
            "{name}: the PUT body came back different"
        );
        let delete = get(nginx, route, &path, &["-X", "DELETE"]);
        assert_eq!(delete.status, 204, "{name}");
        assert_eq!(get(nginx, route, &path, &[]).status, 404, "{name}");
    }
    // Above the limit: 413.
    let huge: Vec<u8> = vec![b'x'; nginx::MAX_BODY + 1];
    std::fs::write(&scratch, &huge).unwrap();
    let refused = curl(nginx, &nginx.http_url("/upload"), &["--data-binary", &file_arg]);
    assert_eq!(refused.status, 413);
    let _ = std::fs::remove_file(&scratch);
    // The access log shows connection numbers and requests on each.
    let log = nginx.access_log();
    assert!(log.contains("\"POST /upload HTTP/1.1\" 200"), "{log}");
    assert!(log.contains("\"PUT /files/"), "{log}");
}

fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']))
        })
        .is_some_and(|dead| !dead)
}

fn refused(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
}

#[test]
fn drop_stops_nginx_and_removes_its_directory() {
    let pki = Pki::new("drop test CA");
    let nginx = TempNginx::start(&pki).expect("nginx starts");
    let (dir, pid, port) = (nginx.dir().to_path_buf(), nginx.pid(), nginx.http_port());
    assert!(dir.is_dir() && process_alive(pid));
    assert_eq!(nginx.ca_pem(), pki.ca_pem);
    assert_eq!(curl(&nginx, &nginx.https_url("/hello"), &[]).text(), nginx::HELLO);
    drop(nginx);
    assert!(!dir.exists(), "{} is still there", dir.display());
    assert!(!process_alive(pid), "nginx {pid} still runs");
    assert!(refused(port));
}

/// Run by `the_death_of_its_process_stops_nginx` in a child process: starts
/// the shared server, prints where it is, then waits to be killed.
#[test]
#[ignore = "a helper: run by the_death_of_its_process_stops_nginx"]
fn child_holding_the_shared_server() {
    if std::env::var_os("NGINX_FIXTURE_CHILD").is_none() {
        return;
    }
    let nginx = TempNginx::shared();
    println!("NGINX {} {} {}", nginx.pid(), nginx.http_port(), nginx.dir().display());
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

#[test]
fn the_death_of_its_process_stops_nginx() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_holding_the_shared_server", "--ignored", "--nocapture"])
        .env("NGINX_FIXTURE_CHILD", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let line = stdout
        .lines()
        .map_while(Result::ok)
        .find(|line| line.starts_with("NGINX "))
        .expect("the child reports its server");
    let mut fields = line.split(' ').skip(1);
    let pid: u32 = fields.next().unwrap().parse().unwrap();
    let port: u16 = fields.next().unwrap().parse().unwrap();
    let dir = Path::new(fields.next().unwrap()).to_path_buf();
    assert!(process_alive(pid) && dir.is_dir());
    // SIGKILL: no destructor, no exit handler runs in the child.
    child.kill().unwrap();
    child.wait().unwrap();
    // The watchdog notices the closed pipe and cleans up; wait for that
    // (a condition, not a duration: the deadline only bounds a failure).
    let deadline = Instant::now() + Duration::from_secs(60);
    while (dir.exists() || process_alive(pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!dir.exists(), "{} is still there", dir.display());
    assert!(!process_alive(pid), "nginx {pid} still runs");
    assert!(refused(port));
}
