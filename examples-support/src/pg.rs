//! A throwaway PostgreSQL server for tests and examples: a fresh cluster in
//! a temporary directory, on a free TCP port of 127.0.0.1 and a Unix socket
//! in that directory, stopped and removed when it is no longer wanted.
//!
//! # How it starts
//! The binaries are looked up in the Debian layout first
//! (`/usr/lib/postgresql/<version>/bin`, newest version), then on `PATH`.
//! If there are none and the process runs as root, the distribution's
//! package is installed (`apt-get update`, then `apt-get install -y
//! postgresql`); otherwise [`TempPostgres::start`] fails with an error that
//! names the package.
//!
//! PostgreSQL refuses to run as root, so when the process is root the
//! directory is given to the `postgres` user (which the package creates) and
//! `initdb` and the server run as that user (`std`'s `Command::uid`/`gid`,
//! which drop privileges in the child before `exec`, as `runuser` would).
//! Otherwise they run as the current user.
//!
//! Authentication: `trust` on the Unix socket, `scram-sha-256` over TCP with
//! the password [`PASSWORD`] for the superuser [`USER`] (so the tests can
//! also see a wrong password refused).
//!
//! TLS: off for [`TempPostgres::start`]; [`TempPostgres::start_tls`] turns
//! it on with a given certificate (plain TCP is still accepted, as with
//! `ssl=on` anywhere), optionally requiring a client certificate from a
//! given CA on TLS connections.
//!
//! # How it stops, even from a `static`
//! The server is not daemonized with `pg_ctl start`. It runs under a small
//! watchdog shell, started by this process with a pipe on its standard
//! input. The watchdog starts the postmaster in the background, prints its
//! pid, and blocks reading the pipe (a `restart` line there restarts the
//! server: [`TempPostgres::restart`]). When the pipe closes — the
//! [`TempPostgres`] is dropped, or this process exits in any way (a test
//! binary's statics are never dropped; a `SIGKILL` closes the pipe too) — the
//! watchdog sends the postmaster `SIGINT` (PostgreSQL's "fast" shutdown, what
//! `pg_ctl stop -m fast` sends), waits for it to exit and removes the
//! directory. [`TempPostgres::shared`] keeps one server per process in a
//! `OnceLock` and relies on exactly that.
//!
//! ```no_run
//! use asyncio_examples_support::pg::TempPostgres;
//!
//! let server = TempPostgres::start().unwrap();
//! println!("{}", server.dsn());
//! drop(server); // fast shutdown; the directory is removed
//! ```

use std::ffi::OsStr;
use std::fs;
use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The superuser of the throwaway cluster.
pub const USER: &str = "postgres";
/// The superuser's password (asked over TCP; the Unix socket trusts).
pub const PASSWORD: &str = "asyncio-test-pw";

/// How long the server may take to accept connections.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// The watchdog: starts the postmaster, prints its pid, reads commands
/// (`restart`: fast shutdown, start again, print the new pid) until its
/// standard input closes, then stops the postmaster (`SIGINT`: fast
/// shutdown) and removes the directory. `$1` is the `postgres` binary, `$2`
/// the directory, the rest the server's arguments.
const WATCHDOG: &str = r#"
postgres_bin=$1; dir=$2; shift 2
start() {
  "$postgres_bin" "$@" </dev/null >>"$dir/server.log" 2>&1 &
  pid=$!
  echo "$pid"
}
start "$@"
while read -r command; do
  if [ "$command" = restart ]; then
    kill -INT "$pid" 2>/dev/null
    wait "$pid"
    start "$@"
  fi
done
kill -INT "$pid" 2>/dev/null
wait "$pid"
rm -rf "$dir"
"#;

/// A running throwaway PostgreSQL server. Dropping it stops the server
/// (fast shutdown) and removes its directory.
#[derive(Debug)]
pub struct TempPostgres {
    dir: PathBuf,
    port: u16,
    postmaster_pid: AtomicU32,
    watchdog: Child,
    /// The write end of the watchdog's standard input (closing it stops
    /// the server) and the read end of its output (the postmaster's pids).
    lifeline: Mutex<Option<(ChildStdin, BufReader<ChildStdout>)>>,
    bin: PathBuf,
}

impl TempPostgres {
    /// Creates a cluster in a new temporary directory, starts it and waits
    /// until it accepts connections.
    ///
    /// # Errors
    /// PostgreSQL is not installed and cannot be (not root: the error names
    /// the package), `initdb` fails, or the server does not accept
    /// connections within a minute (the error carries its log).
    pub fn start() -> io::Result<TempPostgres> {
        Self::start_with(None)
    }

    /// As [`start`](TempPostgres::start), with TLS on (`ssl=on`): the
    /// server presents `identity` (its chain and key). With `client_ca`
    /// (PEM), TLS connections over TCP must also present a client
    /// certificate issued by that CA whose common name is the user's
    /// (`hostssl ... clientcert=verify-full`, on top of the password); plain
    /// TCP connections are still accepted with the password alone.
    ///
    /// # Errors
    /// As [`start`](TempPostgres::start); the files cannot be written.
    pub fn start_tls(identity: &crate::pki::Identity, client_ca: Option<&str>) -> io::Result<TempPostgres> {
        Self::start_with(Some(ServerTls {
            chain: identity.chain.clone(),
            key: identity.key.clone(),
            client_ca: client_ca.map(str::to_owned),
        }))
    }

    fn start_with(tls: Option<ServerTls>) -> io::Result<TempPostgres> {
        let bin = find_or_install_binaries()?;
        let owner = server_owner()?;
        let dir = make_temp_dir()?;
        let result = Self::start_in(&bin, &dir, owner, tls.as_ref());
        if result.is_err() {
            let _ = fs::remove_dir_all(&dir);
        }
        result
    }

    /// One server per process, started on first use and stopped when the
    /// process exits (see the [module docs](self)).
    ///
    /// # Panics
    /// If the server cannot be started (the panic carries the reason).
    pub fn shared() -> &'static TempPostgres {
        static SHARED: OnceLock<TempPostgres> = OnceLock::new();
        SHARED.get_or_init(|| TempPostgres::start().unwrap_or_else(|e| panic!("throwaway PostgreSQL: {e}")))
    }

    fn start_in(
        bin: &Path,
        dir: &Path,
        owner: Option<(u32, u32)>,
        tls: Option<&ServerTls>,
    ) -> io::Result<TempPostgres> {
        let data = dir.join("data");
        let pwfile = dir.join("pwfile");
        fs::write(&pwfile, PASSWORD)?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid))?;
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid))?;
        }
        let mut initdb = as_owner(Command::new(bin.join("initdb")), owner);
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", USER, "-E", "UTF8", "--locale=C", "--no-sync"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .stdin(Stdio::null());
        let out = initdb.output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "initdb failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        fs::remove_file(&pwfile)?;
        let mut settings = vec![
            "listen_addresses=127.0.0.1".to_owned(),
            "fsync=off".to_owned(),
            "max_connections=100".to_owned(),
        ];
        if let Some(tls) = tls {
            settings.extend(tls.install(dir, &data, owner)?);
        }

        let port = free_port()?;
        let mut watchdog = as_owner(Command::new("sh"), owner);
        watchdog
            .arg("-c")
            .arg(WATCHDOG)
            .arg("watchdog")
            .arg(bin.join("postgres"))
            .arg(dir)
            .arg("-D")
            .arg(&data)
            .arg("-p")
            .arg(port.to_string())
            .arg("-k")
            .arg(dir)
            .args(settings.iter().flat_map(|setting| ["-c", setting.as_str()]))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = watchdog.spawn()?;
        let stdin = child.stdin.take().expect("piped stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let postmaster_pid = read_pid(&mut stdout)?;
        let server = TempPostgres {
            dir: dir.to_path_buf(),
            port,
            postmaster_pid: AtomicU32::new(postmaster_pid),
            watchdog: child,
            lifeline: Mutex::new(Some((stdin, stdout))),
            bin: bin.to_path_buf(),
        };
        server.wait_ready()?;
        Ok(server)
    }

    /// Polls `pg_isready` until the server accepts connections, the
    /// postmaster exits, or the deadline passes.
    fn wait_ready(&self) -> io::Result<()> {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .arg("-q")
                .arg("-h")
                .arg(&self.dir)
                .arg("-p")
                .arg(self.port.to_string())
                .arg("-U")
                .arg(USER)
                .stdin(Stdio::null())
                .status()?;
            if ready.success() {
                return Ok(());
            }
            let alive = Path::new(&format!("/proc/{}", self.pid())).exists();
            if !alive || Instant::now() > deadline {
                let log = fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
                let why = if alive {
                    "did not accept connections within a minute"
                } else {
                    "exited"
                };
                return Err(io::Error::other(format!("PostgreSQL {why}; its log:\n{log}")));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A URL DSN for TCP with the superuser's password:
    /// `postgresql://postgres:<password>@127.0.0.1:<port>/postgres`.
    pub fn dsn(&self) -> String {
        format!("postgresql://{USER}:{PASSWORD}@127.0.0.1:{}/postgres", self.port)
    }

    /// A key-value DSN for the Unix socket (trusted, no password):
    /// `host=<socket dir> port=<port> user=postgres dbname=postgres`.
    pub fn unix_dsn(&self) -> String {
        format!(
            "host={} port={} user={USER} dbname=postgres",
            self.dir.display(),
            self.port
        )
    }

    /// The TCP port on 127.0.0.1 (also the Unix socket's number).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the Unix socket (`.s.PGSQL.<port>`).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// The postmaster's process id.
    pub fn pid(&self) -> u32 {
        self.postmaster_pid.load(Ordering::Relaxed)
    }

    /// Restarts the server: fast shutdown (every session ends), then a new
    /// postmaster on the same port, socket and data; returns once it
    /// accepts connections again.
    ///
    /// # Errors
    /// The watchdog is gone, or the server does not come back (the error
    /// carries its log).
    pub fn restart(&self) -> io::Result<()> {
        {
            let mut lifeline = self.lifeline.lock().unwrap_or_else(|e| e.into_inner());
            let (stdin, stdout) = lifeline
                .as_mut()
                .ok_or_else(|| io::Error::other("the server is stopping"))?;
            stdin.write_all(b"restart\n")?;
            stdin.flush()?;
            self.postmaster_pid.store(read_pid(stdout)?, Ordering::Relaxed);
        }
        self.wait_ready()
    }
}

/// The server's TLS files, for [`TempPostgres::start_tls`].
struct ServerTls {
    chain: String,
    key: String,
    client_ca: Option<String>,
}

impl ServerTls {
    /// Writes the files where the server (running as `owner`) may read them
    /// (the key readable by its owner only, as PostgreSQL demands), puts
    /// the client-certificate rule first in `pg_hba.conf` when there is a
    /// client CA, and returns the server's settings.
    fn install(&self, dir: &Path, data: &Path, owner: Option<(u32, u32)>) -> io::Result<Vec<String>> {
        let write = |name: &str, contents: &str, mode: u32| -> io::Result<PathBuf> {
            let path = dir.join(name);
            fs::write(&path, contents)?;
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
            if let Some((uid, gid)) = owner {
                std::os::unix::fs::chown(&path, Some(uid), Some(gid))?;
            }
            Ok(path)
        };
        let cert = write("server.crt", &self.chain, 0o644)?;
        let key = write("server.key", &self.key, 0o600)?;
        let mut settings = vec![
            "ssl=on".to_owned(),
            format!("ssl_cert_file={}", cert.display()),
            format!("ssl_key_file={}", key.display()),
        ];
        if let Some(ca) = &self.client_ca {
            let ca = write("client-ca.crt", ca, 0o644)?;
            settings.push(format!("ssl_ca_file={}", ca.display()));
            let hba = data.join("pg_hba.conf");
            let rules = fs::read_to_string(&hba)?;
            fs::write(
                &hba,
                format!("hostssl all all 127.0.0.1/32 scram-sha-256 clientcert=verify-full\n{rules}"),
            )?;
        }
        Ok(settings)
    }
}

/// Reads the pid line the watchdog prints for each postmaster it starts.
fn read_pid(stdout: &mut BufReader<ChildStdout>) -> io::Result<u32> {
    let mut line = String::new();
    stdout.read_line(&mut line)?;
    line.trim()
        .parse()
        .map_err(|_| io::Error::other(format!("the watchdog printed {line:?}, not a pid")))
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        // Closing the pipe tells the watchdog to stop the server and remove
        // the directory; wait for it so that both are done on return.
        drop(self.lifeline.lock().unwrap_or_else(|e| e.into_inner()).take());
        let _ = self.watchdog.wait();
    }
}

/// The uid and gid to run PostgreSQL as: the `postgres` user's when this
/// process is root, none (this process's own) otherwise.
fn server_owner() -> io::Result<Option<(u32, u32)>> {
    if rustix::process::getuid().as_raw() != 0 {
        return Ok(None);
    }
    let id = |flag: &str| -> io::Result<u32> {
        let out = Command::new("id").arg(flag).arg(USER).output()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().map_err(|_| {
            io::Error::other(format!(
                "running as root and there is no `{USER}` user to run PostgreSQL as (the postgresql package creates it)"
            ))
        })
    };
    Ok(Some((id("-u")?, id("-g")?)))
}

fn as_owner(mut command: Command, owner: Option<(u32, u32)>) -> Command {
    use std::os::unix::process::CommandExt;
    if let Some((uid, gid)) = owner {
        command.gid(gid).uid(uid);
    }
    command
}

/// A new, empty directory under the system's temporary directory, readable
/// only by its owner (as `initdb` wants its parent's child to be).
fn make_temp_dir() -> io::Result<PathBuf> {
    let base = std::env::temp_dir();
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    for attempt in 0..100u32 {
        let dir = base.join(format!("asyncio-pg-{}-{stamp}-{attempt}", std::process::id()));
        match fs::create_dir(&dir) {
            Ok(()) => {
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
                return Ok(dir);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("could not create a temporary directory"))
}

/// A TCP port that was free a moment ago on 127.0.0.1.
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The directory holding `initdb`, `postgres` and `pg_isready`; installs
/// the distribution's package first if there is none and this is root.
fn find_or_install_binaries() -> io::Result<PathBuf> {
    crate::packages::find_or_install(
        "PostgreSQL's initdb (in /usr/lib/postgresql/*/bin or on PATH)",
        "postgresql",
        find_binaries,
    )
}

/// The Debian layout's newest version first, then `PATH` (following a
/// symbolic link to the directory that also has `postgres`).
fn find_binaries() -> Option<PathBuf> {
    let complete = |dir: &Path| {
        ["initdb", "postgres", "pg_isready"]
            .iter()
            .all(|b| dir.join(b).is_file())
    };
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.into_iter().rev().find(|(_, bin)| complete(bin)) {
        return Some(bin);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|dir| {
        let initdb = fs::canonicalize(dir.join(OsStr::new("initdb"))).ok()?;
        let bin = initdb.parent()?.to_path_buf();
        complete(&bin).then_some(bin)
    })
}
