//! Interoperability with TLS stacks this crate did not write (issue 16,
//! point 5): Python's `ssl` module (OpenSSL) as a client of
//! `start_tls_server` and as a server for `open_tls_connection`, over TLS
//! 1.3 and 1.2, with ALPN and a client certificate, exchanging data and
//! closing cleanly with `close_notify` both ways; `openssl s_client` and
//! `curl` against our server. Skipped, with the reason printed, when
//! `python3`, `openssl` or `curl` is missing. Every child process is killed
//! if the test fails (`tls_support::Subprocess`).
#![cfg(feature = "tls")]

mod tls_support;

use std::cell::RefCell;
use std::future::Future;
use std::path::Path;
use std::rc::Rc;

use asyncio::net::{StreamReader, StreamWriter};
use asyncio::tls::{ClientContext, ServerContext};
use tls_support::{have, run, settle, Pki, Subprocess, TempDir};

fn python(test: &str) -> bool {
    have("python3", &["-c", "import ssl"], test)
}

/// Python's client: LINES lines, each echoed back (one at a time, so
/// neither side's buffers fill), then `unwrap()`: its close_notify, and it
/// waits for ours. Ragged ends are errors (`suppress_ragged_eofs=False`).
const PY_CLIENT: &str = r#"
import socket, ssl, sys
port, cafile, version = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=cafile)
ctx.set_alpn_protocols(["x/1", "http/1.1"])
if version == "tls12":
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
if len(sys.argv) > 5:
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])
raw = socket.create_connection(("127.0.0.1", port), timeout=20)
s = ctx.wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
f = s.makefile("rb")
for i in range(50):
    line = (b"%03d " % i) + bytes(97 + (i + j) % 26 for j in range(4000)) + b"\n"
    s.sendall(line)
    back = f.readline()
    assert back == line, (i, len(back))
print(s.version(), s.selected_alpn_protocol(), s.cipher()[0], flush=True)
f.close()
s.unwrap()
print("clean", flush=True)
"#;

/// Python's server: prints its port, serves one connection: upper-cases
/// each line until our close_notify (a ragged end raises), then sends its
/// own with `unwrap()`.
const PY_SERVER: &str = r#"
import socket, ssl, sys
cert, key, version = sys.argv[1], sys.argv[2], sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.set_alpn_protocols(["x/1"])
if version == "tls12":
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
names = []
ctx.sni_callback = lambda sock, name, c: names.append(name)
srv = socket.create_server(("127.0.0.1", 0))
srv.settimeout(20)
print(srv.getsockname()[1], flush=True)
conn, _ = srv.accept()
conn.settimeout(20)
s = ctx.wrap_socket(conn, server_side=True, suppress_ragged_eofs=False)
f = s.makefile("rb")
n = 0
while True:
    line = f.readline()
    if not line:
        break
    s.sendall(line.upper())
    n += 1
print(n, s.version(), s.selected_alpn_protocol(), names[0] if names else None, flush=True)
f.close()
s.unwrap()
print("clean", flush=True)
"#;

/// How each connection our server served ended: the bytes it echoed, or
/// the read error (a truncation would show here).
type Outcomes = Rc<RefCell<Vec<std::io::Result<usize>>>>;

/// An echo that records how the connection ended.
fn recording_echo(
    outcomes: Outcomes,
) -> impl Fn(StreamReader, StreamWriter) -> std::pin::Pin<Box<dyn Future<Output = ()>>> {
    move |mut reader, writer| {
        let outcomes = outcomes.clone();
        Box::pin(async move {
            let mut total = 0;
            let end = loop {
                match reader.read(64 * 1024).await {
                    Ok(data) if data.is_empty() => break Ok(total),
                    Ok(data) => {
                        total += data.len();
                        writer.write(&data);
                        if let Err(e) = writer.drain().await {
                            break Err(e);
                        }
                    }
                    Err(e) => break Err(e),
                }
            };
            writer.close();
            let closed = writer.wait_closed().await;
            outcomes.borrow_mut().push(end.and_then(|n| closed.map(|()| n)));
        })
    }
}

fn write_script(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn server_ctx(pki: &Pki, dir: &Path, client_ca: Option<&str>) -> ServerContext {
    let (cert, key) = pki.localhost().write(dir, "server");
    let b = ServerContext::builder()
        .cert_pem_files(&cert, &key)
        .unwrap()
        .alpn(["x/1"]);
    match client_ca {
        Some(ca) => b.client_auth_required_pem(ca.as_bytes()).unwrap(),
        None => b,
    }
    .build()
    .unwrap()
}

/// Python's `ssl` client against `start_tls_server`, TLS 1.3 and 1.2,
/// without and with a client certificate.
#[test]
fn python_client_against_our_server() {
    if !python("python_client_against_our_server") {
        return;
    }
    let pki = Pki::new("python client CA");
    let clients = Pki::new("python client certificates CA");
    let dir = TempDir::new();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let (client_cert, client_key) = clients.client("python").write(dir.path(), "client");
    let script = write_script(dir.path(), "client.py", PY_CLIENT);
    for (version, mtls) in [("tls13", false), ("tls12", false), ("tls13", true), ("tls12", true)] {
        let ctx = server_ctx(&pki, dir.path(), mtls.then_some(clients.ca_pem.as_str()));
        let (script, ca) = (script.clone(), ca.to_str().unwrap().to_owned());
        let (client_cert, client_key) = (
            client_cert.to_str().unwrap().to_owned(),
            client_key.to_str().unwrap().to_owned(),
        );
        run(async move {
            let outcomes: Outcomes = Rc::default();
            let server = asyncio::start_tls_server(recording_echo(outcomes.clone()), "127.0.0.1:0", &ctx)
                .await
                .unwrap();
            let port = server.local_addrs()[0].port().to_string();
            let mut args = vec![script.as_str(), port.as_str(), ca.as_str(), version];
            if mtls {
                args.extend([client_cert.as_str(), client_key.as_str()]);
            }
            let mut py = Subprocess::spawn("python3", &args);
            let info = py.line().await;
            let expected = if version == "tls13" {
                "TLSv1.3 x/1 "
            } else {
                "TLSv1.2 x/1 "
            };
            assert!(info.starts_with(expected), "{version}: {info}");
            assert_eq!(py.line().await, "clean");
            py.finish().await;
            // Our side saw Python's close_notify: a clean end, every byte
            // echoed.
            let o = outcomes.clone();
            settle("the handler", move || !o.borrow().is_empty(), || "still serving".into()).await;
            let outcome = outcomes.borrow_mut().pop().unwrap();
            assert_eq!(outcome.unwrap(), 50 * 4005, "{version} mtls={mtls}");
            server.close();
            server.wait_closed().await;
        });
    }
}

/// Python's `ssl` server for `open_tls_connection`, TLS 1.3 and 1.2.
#[test]
fn our_client_against_a_python_server() {
    if !python("our_client_against_a_python_server") {
        return;
    }
    let pki = Pki::new("python server CA");
    let dir = TempDir::new();
    let (cert, key) = pki.localhost().write(dir.path(), "server");
    let script = write_script(dir.path(), "server.py", PY_SERVER);
    for version in ["tls13", "tls12"] {
        let client = ClientContext::builder()
            .no_system_roots()
            .add_ca_pem(pki.ca_pem.as_bytes())
            .unwrap()
            .alpn(["x/1"])
            .build()
            .unwrap();
        let args = [
            script.clone(),
            cert.to_str().unwrap().to_owned(),
            key.to_str().unwrap().to_owned(),
            version.to_owned(),
        ];
        run(async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut py = Subprocess::spawn("python3", &args);
            let port: u16 = py.line().await.parse().unwrap();
            let (mut reader, writer) = asyncio::open_tls_connection(("localhost", port), &client)
                .await
                .unwrap_or_else(|e| panic!("{version}: {e}"));
            let info = writer.tls_info().unwrap();
            let expected = if version == "tls13" { "TLSv1.3" } else { "TLSv1.2" };
            assert_eq!(info.protocol_version(), expected);
            assert_eq!(info.alpn_protocol(), Some(&b"x/1"[..]));
            for i in 0..20 {
                let line = format!("line {i} {}\n", "x".repeat(i * 500));
                writer.write(line.as_bytes());
                assert_eq!(reader.readline().await.unwrap(), line.to_uppercase().as_bytes());
            }
            // Our close_notify (a half-close); Python answers with its own:
            // a clean end here, not a truncation.
            writer.write_eof();
            let rest = reader.read_to_end().await;
            assert!(matches!(&rest, Ok(b) if b.is_empty()), "{rest:?}");
            // Python saw the name we connected to through SNI.
            assert_eq!(py.line().await, format!("20 {expected} x/1 localhost"));
            assert_eq!(py.line().await, "clean");
            py.finish().await;
            writer.close();
        });
    }
}

/// `openssl s_client -CAfile ca.pem` against our server: the chain
/// verifies, a line is echoed, and its close (stdin's end) is a clean
/// close_notify for us.
#[test]
fn openssl_s_client_against_our_server() {
    if !have("openssl", &["version"], "openssl_s_client_against_our_server") {
        return;
    }
    let pki = Pki::new("s_client CA");
    let dir = TempDir::new();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let ctx = server_ctx(&pki, dir.path(), None);
    run(async move {
        let outcomes: Outcomes = Rc::default();
        let server = asyncio::start_tls_server(recording_echo(outcomes.clone()), "127.0.0.1:0", &ctx)
            .await
            .unwrap();
        let connect = format!("127.0.0.1:{}", server.local_addrs()[0].port());
        let mut s_client = Subprocess::spawn(
            "openssl",
            &[
                "s_client",
                "-connect",
                &connect,
                "-servername",
                "localhost",
                "-verify_hostname",
                "localhost",
                "-CAfile",
                ca.to_str().unwrap(),
                "-verify_return_error",
                "-alpn",
                "x/1",
                "-no_ign_eof",
            ],
        );
        let stdin = s_client.process.stdin.clone().unwrap();
        stdin.write(b"hello from s_client\n");
        // s_client prints the session, then what it reads: wait for the
        // echo before closing its input (which makes it close the session).
        let mut seen = Vec::new();
        loop {
            let line = s_client.line().await;
            if line == "hello from s_client" {
                break;
            }
            seen.push(line);
        }
        let seen = seen.join("\n");
        assert!(seen.contains("Verify return code: 0 (ok)"), "{seen}");
        assert!(seen.contains("ALPN protocol: x/1"), "{seen}");
        assert!(seen.contains("TLSv1.3"), "{seen}");
        s_client.finish().await;
        let o = outcomes.clone();
        settle("the handler", move || !o.borrow().is_empty(), || "still serving".into()).await;
        let outcome = outcomes.borrow_mut().pop().unwrap();
        assert_eq!(outcome.unwrap(), "hello from s_client\n".len());
        server.close();
        server.wait_closed().await;
    });
}

/// `curl --cacert ca.pem https://localhost:PORT/` against a one-line HTTP
/// answer over our server (HTTP/1.1 through ALPN).
#[test]
fn curl_against_our_server() {
    if !have("curl", &["--version"], "curl_against_our_server") {
        return;
    }
    let pki = Pki::new("curl CA");
    let dir = TempDir::new();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let (cert, key) = pki.localhost().write(dir.path(), "server");
    let ctx = ServerContext::builder()
        .cert_pem_files(&cert, &key)
        .unwrap()
        .alpn(["http/1.1"])
        .build()
        .unwrap();
    run(async move {
        let handler = |mut reader: StreamReader, writer: StreamWriter| async move {
            let head = reader.readuntil(b"\r\n\r\n").await.map_err(std::io::Error::from)?;
            let alpn = writer.tls_info().unwrap().alpn_protocol().map(<[u8]>::to_vec);
            assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
            assert!(head.starts_with(b"GET /hello HTTP/1.1\r\n"));
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close\r\n\r\nhello, curl!\n");
            writer.close();
            writer.wait_closed().await
        };
        let server = asyncio::start_tls_server(handler, "127.0.0.1:0", &ctx).await.unwrap();
        let url = format!("https://localhost:{}/hello", server.local_addrs()[0].port());
        let mut curl = Subprocess::spawn(
            "curl",
            &["--silent", "--show-error", "--cacert", ca.to_str().unwrap(), &url],
        );
        assert_eq!(curl.finish().await, "hello, curl!\n");
        // And curl refuses us without the CA (its own verification).
        let mut curl = Subprocess::spawn("curl", &["--silent", "--show-error", &url]);
        let status = curl.process.wait().await.unwrap();
        // 60: "peer certificate cannot be authenticated with known CA certificates".
        assert_eq!(status.code(), Some(60));
        server.close();
        server.wait_closed().await;
    });
}
