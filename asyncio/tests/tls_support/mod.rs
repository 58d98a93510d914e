//! What the TLS tests share: certificates made at run time
//! (examples-support's `pki`; no private key is committed) and the contexts
//! built from them, descriptor and task baselines, condition waits,
//! OpenSSL-made keys, child processes killed on failure.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use asyncio::tls::{ClientContext, ServerContext};
#[allow(unused_imports)]
pub use asyncio_examples_support::pki::{Identity, TempDir, Validity};

/// A throwaway certificate authority (examples-support's `pki::Pki`), with
/// the contexts the tests build from it.
pub struct Pki(asyncio_examples_support::pki::Pki);

impl std::ops::Deref for Pki {
    type Target = asyncio_examples_support::pki::Pki;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        Pki(asyncio_examples_support::pki::Pki::new(name))
    }

    /// A client context that trusts this CA only.
    pub fn client_ctx(&self) -> ClientContext {
        ClientContext::builder()
            .no_system_roots()
            .add_ca_pem(self.ca_pem.as_bytes())
            .unwrap()
            .build()
            .unwrap()
    }

    /// A server context serving `id`.
    pub fn server_ctx(id: &Identity) -> ServerContext {
        ServerContext::builder()
            .cert_pem(id.chain.as_bytes(), id.key.as_bytes())
            .unwrap()
            .build()
            .unwrap()
    }
}

/// Serializes the tests of a test binary that counts the process's file
/// descriptors: the tests of a binary run on parallel threads, and another
/// test's sockets would be counted too, so in a binary that uses
/// [`Baseline`] every test holds this.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The process's open file descriptors.
pub fn fd_count() -> usize {
    // The directory's own descriptor is counted each time: the difference
    // between two counts is exact.
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Waits until `cond` holds, polling it each millisecond of loop time, for
/// up to 20 s of real time; panics naming `what` and `state()` otherwise.
/// A wait for a condition, not a sleep that hopes: it returns as soon as
/// the condition holds, and a slow machine only makes it wait longer.
pub async fn settle(what: &str, mut cond: impl FnMut() -> bool, state: impl Fn() -> String) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not settle within 20 s: {}",
            state()
        );
        asyncio::sleep(std::time::Duration::from_millis(1)).await;
    }
}

/// The file descriptors and tasks a running server has between
/// connections: after each bad client, and after the good one, the counts
/// come back here (nothing leaked per connection).
pub struct Baseline {
    fds: usize,
    tasks: usize,
}

impl Baseline {
    /// Taken inside the loop once `server` is serving and idle: its
    /// connections are gone and only the main task, the server's accept
    /// tasks and `other_tasks` more (other servers' accept tasks) are left,
    /// so the descriptors counted are the settled ones.
    pub async fn take(server: &asyncio::net::Server, other_tasks: usize) -> Baseline {
        settle(
            "the server's connections",
            || server.clients() == 0,
            || format!("{server:?}"),
        )
        .await;
        let tasks = 1 + server.local_addrs().len().max(1) + other_tasks;
        settle(
            "the tasks before the baseline",
            || asyncio::all_tasks().len() == tasks,
            || format!("{} tasks, {tasks} expected", asyncio::all_tasks().len()),
        )
        .await;
        Baseline { fds: fd_count(), tasks }
    }

    /// Waits until `server` has no connection left, and the descriptors and
    /// tasks are back to the baseline.
    pub async fn check(&self, server: &asyncio::net::Server) {
        settle(
            "the server's connections",
            || server.clients() == 0,
            || format!("{server:?}"),
        )
        .await;
        settle(
            "the file descriptors",
            || fd_count() == self.fds,
            || format!("{} open, {} at the baseline", fd_count(), self.fds),
        )
        .await;
        settle(
            "the tasks",
            || asyncio::all_tasks().len() == self.tasks,
            || format!("{} tasks, {} at the baseline", asyncio::all_tasks().len(), self.tasks),
        )
        .await;
    }
}

/// An echo handler: what it reads it writes back, until end of stream,
/// then it closes (with `close_notify` on TLS).
pub async fn echo(mut reader: asyncio::net::StreamReader, writer: asyncio::net::StreamWriter) -> std::io::Result<()> {
    loop {
        let data = reader.read(64 * 1024).await?;
        if data.is_empty() {
            writer.close();
            return writer.wait_closed().await;
        }
        writer.write(&data);
        writer.drain().await?;
    }
}

/// A client that does everything right against an [`echo`] server on
/// `port`: a line goes and comes back, and the close is clean both ways.
/// It connects to the address, not to the name, so that no resolver thread
/// runs: on the virtual clock the loop, idle while a thread works, would
/// jump to its next timer.
pub async fn good_client(port: u16, ctx: &ClientContext) {
    let (mut reader, writer) = asyncio::open_tls_connection_to(("127.0.0.1", port), "localhost", ctx)
        .await
        .expect("a good client connects");
    writer.write(b"ping\n");
    assert_eq!(reader.readline().await.unwrap(), b"ping\n");
    writer.write_eof();
    // The server echoes the end of stream with close_notify: a clean end.
    assert_eq!(reader.read(100).await.unwrap(), b"");
    writer.close();
    writer.wait_closed().await.unwrap();
}

/// The leaf certificate of `id`, DER.
pub fn leaf(id: &Identity) -> asyncio::tls::rustls::pki_types::CertificateDer<'static> {
    use asyncio::tls::rustls::pki_types::pem::PemObject;
    asyncio::tls::rustls::pki_types::CertificateDer::pem_slice_iter(id.chain.as_bytes())
        .next()
        .unwrap()
        .unwrap()
}

/// Binds a listener, starts `client` (given the address) as a task,
/// accepts one connection and runs `ctx`'s handshake on it: the server's
/// own view of a failure, which `start_tls_server` only logs. A failed
/// handshake drops the connection, as the server does; the client's task
/// is returned to be awaited.
pub async fn one_server_handshake<C, T>(
    ctx: &ServerContext,
    client: impl FnOnce(std::net::SocketAddr) -> C,
) -> (
    Result<asyncio::tls::TlsStream<asyncio::net::TcpStream>, asyncio::tls::TlsError>,
    asyncio::Task<T>,
)
where
    C: std::future::Future<Output = T> + 'static,
    T: 'static,
{
    let listener = asyncio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = asyncio::create_task(client(addr));
    let (tcp, _) = listener.accept().await.unwrap();
    (ctx.accept(tcp).await, client)
}

/// A certificate authority made with the `openssl` command (the
/// distribution's OpenSSL, not rcgen), for keys in the formats OpenSSL
/// writes: PKCS#1 RSA, SEC1 EC, PKCS#8.
pub struct OpensslCa {
    pub dir: TempDir,
    pub ca_pem: PathBuf,
    ca_key: PathBuf,
    serial: AtomicUsize,
}

/// A private key format `openssl` can write.
#[derive(Clone, Copy, Debug)]
pub enum KeyFormat {
    /// `BEGIN RSA PRIVATE KEY` (`openssl genrsa -traditional`).
    RsaPkcs1,
    /// `BEGIN PRIVATE KEY` holding an RSA key (`openssl genrsa`).
    RsaPkcs8,
    /// `BEGIN EC PRIVATE KEY` after `BEGIN EC PARAMETERS`
    /// (`openssl ecparam -genkey`), on P-256.
    EcSec1WithParams,
    /// `BEGIN EC PRIVATE KEY` alone, on P-384.
    EcSec1P384,
    /// `BEGIN PRIVATE KEY` holding an Ed25519 key (`openssl genpkey`).
    Ed25519Pkcs8,
}

impl KeyFormat {
    /// The PEM header the key file starts with.
    pub fn header(self) -> &'static str {
        match self {
            KeyFormat::RsaPkcs1 => "-----BEGIN RSA PRIVATE KEY-----",
            KeyFormat::RsaPkcs8 | KeyFormat::Ed25519Pkcs8 => "-----BEGIN PRIVATE KEY-----",
            KeyFormat::EcSec1WithParams => "-----BEGIN EC PARAMETERS-----",
            KeyFormat::EcSec1P384 => "-----BEGIN EC PRIVATE KEY-----",
        }
    }
}

/// Runs a command to success, or panics with its output.
pub fn run_command(program: &str, args: &[&str], dir: &Path) {
    let out = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// True if `program --version`-like `args` runs; otherwise prints why the
/// test is skipped.
pub fn have(program: &str, args: &[&str], test: &str) -> bool {
    match std::process::Command::new(program).args(args).output() {
        Ok(out) if out.status.success() => true,
        Ok(out) => {
            eprintln!("{test}: skipped: `{program}` fails ({})", out.status);
            false
        }
        Err(e) => {
            eprintln!("{test}: skipped: `{program}` is not available ({e})");
            false
        }
    }
}

impl OpensslCa {
    /// A CA (P-256 key, self-signed), or `None` (with the reason printed)
    /// if there is no `openssl`.
    pub fn new(test: &str) -> Option<OpensslCa> {
        if !have("openssl", &["version"], test) {
            return None;
        }
        let dir = TempDir::new();
        run_command(
            "openssl",
            &[
                "req",
                "-x509",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-subj",
                "/CN=asyncio openssl test CA",
                "-days",
                "2",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
            dir.path(),
        );
        Some(OpensslCa {
            ca_pem: dir.path().join("ca.pem"),
            ca_key: dir.path().join("ca.key"),
            dir,
            serial: AtomicUsize::new(1),
        })
    }

    /// A new key `NAME.key` in `format`.
    pub fn key(&self, name: &str, format: KeyFormat) -> PathBuf {
        let file = format!("{name}.key");
        let args: Vec<&str> = match format {
            KeyFormat::RsaPkcs1 => vec!["genrsa", "-traditional", "-out", &file, "2048"],
            KeyFormat::RsaPkcs8 => vec!["genrsa", "-out", &file, "2048"],
            KeyFormat::EcSec1WithParams => vec!["ecparam", "-name", "prime256v1", "-genkey", "-out", &file],
            KeyFormat::EcSec1P384 => vec!["ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", &file],
            KeyFormat::Ed25519Pkcs8 => vec!["genpkey", "-algorithm", "ed25519", "-out", &file],
        };
        run_command("openssl", &args, self.dir.path());
        let path = self.dir.path().join(&file);
        let pem = std::fs::read_to_string(&path).unwrap();
        assert!(pem.starts_with(format.header()), "{format:?}: {pem}");
        path
    }

    /// A certificate for `key`, signed by the CA, valid for `sans`
    /// (`DNS:localhost,IP:127.0.0.1`) and `usage` (`serverAuth`,
    /// `clientAuth`): `NAME.pem`, the leaf then the CA.
    pub fn sign(&self, name: &str, key: &Path, sans: &str, usage: &str) -> PathBuf {
        let dir = self.dir.path();
        let ext = dir.join(format!("{name}.ext"));
        std::fs::write(
            &ext,
            format!(
                "subjectAltName={sans}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage={usage}\n"
            ),
        )
        .unwrap();
        let csr = format!("{name}.csr");
        let leaf = format!("{name}.leaf.pem");
        let key = key.to_str().unwrap();
        run_command(
            "openssl",
            &[
                "req",
                "-new",
                "-key",
                key,
                "-subj",
                &format!("/CN={name}"),
                "-out",
                &csr,
            ],
            dir,
        );
        let serial = format!("{}", 1000 + self.serial.fetch_add(1, Ordering::Relaxed));
        run_command(
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                self.ca_pem.to_str().unwrap(),
                "-CAkey",
                self.ca_key.to_str().unwrap(),
                "-set_serial",
                &serial,
                "-days",
                "2",
                "-extfile",
                ext.to_str().unwrap(),
                "-out",
                &leaf,
            ],
            dir,
        );
        let chain = dir.join(format!("{name}.pem"));
        let mut pem = std::fs::read_to_string(dir.join(&leaf)).unwrap();
        pem.push_str(&std::fs::read_to_string(&self.ca_pem).unwrap());
        std::fs::write(&chain, pem).unwrap();
        chain
    }

    /// A client context trusting only this CA.
    pub fn client_ctx(&self) -> ClientContext {
        ClientContext::builder()
            .no_system_roots()
            .add_ca_pem_file(&self.ca_pem)
            .unwrap()
            .build()
            .unwrap()
    }
}

/// A child process for the interop tests (Python's `ssl`, `openssl
/// s_client`), killed when dropped, so a failing test (a panic unwinding
/// through it) leaves no process behind; its output is piped.
pub struct Subprocess {
    pub process: asyncio::subprocess::Process,
    what: String,
}

impl Subprocess {
    /// Starts `program args` with stdin, stdout and stderr piped.
    pub fn spawn(program: &str, args: &[&str]) -> Subprocess {
        use asyncio::subprocess::{Command, Stdio};
        let process = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // The guard: dropped while running (the test failed), it is killed.
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        Subprocess {
            process,
            what: format!("{program} {args:?}"),
        }
    }

    /// The next line of its standard output (without the newline); panics
    /// with its standard error if the output ends.
    pub async fn line(&mut self) -> String {
        let out = self.process.stdout.as_mut().unwrap();
        let line = out.readline().await.unwrap();
        if line.is_empty() {
            let err = self.process.stderr.as_mut().unwrap().read_to_end().await.unwrap();
            panic!(
                "{}: standard output ended; standard error:\n{}",
                self.what,
                String::from_utf8_lossy(&err)
            );
        }
        String::from_utf8(line).unwrap().trim_end().to_owned()
    }

    /// Reads standard output to its end and waits for the exit; panics with
    /// both outputs unless it exited with 0. Returns the rest of standard
    /// output.
    pub async fn finish(&mut self) -> String {
        if let Some(stdin) = self.process.stdin.take() {
            stdin.close();
        }
        let (stdout, stderr) = (
            self.process.stdout.as_mut().unwrap(),
            self.process.stderr.as_mut().unwrap(),
        );
        // Both at once: a child blocked on a full stderr pipe would never
        // end its stdout.
        let (out, err) = futures_lite::future::zip(stdout.read_to_end(), stderr.read_to_end()).await;
        let (out, err) = (out.unwrap(), err.unwrap());
        let status = self.process.wait().await.unwrap();
        let out = String::from_utf8_lossy(&out).into_owned();
        assert!(
            status.success(),
            "{}: {status}\nstdout:\n{out}\nstderr:\n{}",
            self.what,
            String::from_utf8_lossy(&err)
        );
        out
    }
}

/// Runs `f` on a fresh loop, failing the test after 30 s instead of
/// hanging.
pub fn run<F: std::future::Future + 'static>(f: F) -> F::Output {
    asyncio::run(async move {
        asyncio::timeout(std::time::Duration::from_secs(30), f)
            .await
            .expect("the test took over 30 s")
    })
}

/// Runs `f` on a fresh loop with the virtual clock; a hang (the loop idle,
/// the clock jumping) fails at an hour of virtual time, at once.
pub fn run_virtual<F: std::future::Future + 'static>(f: F) -> F::Output {
    asyncio::Runner::new().virtual_time(true).run(async move {
        asyncio::timeout(std::time::Duration::from_secs(3600), f)
            .await
            .expect("the test hung (an hour of virtual time)")
    })
}

/// Serves the echo over TLS with `ctx`; one good client first (so what is
/// set up lazily, such as the resolver's threads, is in the baseline), then
/// `bad(port)`, then the checks: nothing left behind, a good client served,
/// nothing left behind again.
pub async fn survives<Fut: std::future::Future<Output = ()>>(
    ctx: &asyncio::tls::ServerContext,
    good: &asyncio::tls::ClientContext,
    other_tasks: usize,
    bad: impl FnOnce(u16) -> Fut,
) {
    let server = asyncio::start_tls_server(echo, "127.0.0.1:0", ctx).await.unwrap();
    let port = server.local_addrs()[0].port();
    good_client(port, good).await;
    let baseline = Baseline::take(&server, other_tasks).await;
    bad(port).await;
    baseline.check(&server).await;
    good_client(port, good).await;
    baseline.check(&server).await;
    server.close();
    server.wait_closed().await;
}
