//! Certificates for the TLS tests, made at run time with rcgen (no private
//! key is committed): a throwaway CA, leaves it signs (valid, expired, for
//! other names, client certificates), contexts that trust it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use asyncio::tls::{ClientContext, ServerContext};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

/// A certificate chain (leaf first, then the CA) and its key, as PEM.
#[derive(Clone, Debug)]
pub struct Identity {
    pub chain: String,
    pub key: String,
}

impl Identity {
    /// Writes `NAME.pem` and `NAME.key` into `dir`.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{name}.pem"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, &self.chain).unwrap();
        std::fs::write(&key, &self.key).unwrap();
        (cert, key)
    }
}

/// A throwaway certificate authority.
pub struct Pki {
    pub ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// Validity of a leaf.
pub enum Validity {
    Now,
    Expired,
    NotYet,
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Pki {
            ca_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    fn leaf_with(&self, names: &[&str], validity: Validity, usage: ExtendedKeyUsagePurpose) -> Identity {
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        match validity {
            Validity::Now => {}
            Validity::Expired => {
                params.not_before = rcgen::date_time_ymd(2020, 1, 1);
                params.not_after = rcgen::date_time_ymd(2021, 1, 1);
            }
            Validity::NotYet => {
                params.not_before = rcgen::date_time_ymd(2090, 1, 1);
                params.not_after = rcgen::date_time_ymd(2091, 1, 1);
            }
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Identity {
            chain: format!("{}{}", cert.pem(), self.ca_pem),
            key: key.serialize_pem(),
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    pub fn server(&self, names: &[&str]) -> Identity {
        self.leaf_with(names, Validity::Now, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A server certificate for localhost and 127.0.0.1.
    pub fn localhost(&self) -> Identity {
        self.server(&["localhost", "127.0.0.1"])
    }

    /// A server certificate out of its validity period.
    pub fn server_with(&self, names: &[&str], validity: Validity) -> Identity {
        self.leaf_with(names, validity, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate.
    pub fn client(&self, name: &str) -> Identity {
        self.leaf_with(&[name], Validity::Now, ExtendedKeyUsagePurpose::ClientAuth)
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

/// A fresh empty directory under the system's temporary directory,
/// removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "asyncio-tls-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Serializes the tests of one test binary that count the process's file
/// descriptors (the tests of a binary run on parallel threads, and another
/// test's sockets would be counted too).
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
/// up to 10 s of real time; panics naming `what` and `state()` otherwise.
/// A wait for a condition, not a sleep that hopes: it returns as soon as
/// the condition holds, and a slow machine only makes it wait longer.
pub async fn settle(what: &str, mut cond: impl FnMut() -> bool, state: impl Fn() -> String) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not settle within 10 s: {}",
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
pub async fn good_client(port: u16, ctx: &ClientContext) {
    let (mut reader, writer) = asyncio::open_tls_connection(("localhost", port), ctx)
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
