//! A throwaway MariaDB server for tests and examples: [`MariaDb::start`].
//!
//! The server comes from the distribution's packages. When `mariadbd` (or
//! `mysqld`) is missing and this process runs as root, `start` runs
//! `apt-get update` and `apt-get install -y mariadb-server` once; otherwise it
//! fails with a message saying what to install.
//!
//! Each server gets its own temporary directory: a data directory made with
//! `mariadb-install-db` (or `mysql_install_db`), a Unix socket, an error log
//! and an init file. It listens on a free TCP port on 127.0.0.1. The init
//! file creates the user [`USER`] (password [`PASSWORD`], every privilege,
//! from any host) and the database [`DATABASE`], so [`MariaDb::url`] is a
//! ready `mysql://` URL. As root the server runs as the `mysql` user the
//! package creates (`--user=mysql`: mariadbd refuses to run as root).
//!
//! # Stopping, even when the test process dies
//!
//! The server is started by a small `sh` watchdog whose standard input is a
//! pipe from this process: the watchdog blocks reading it, and when it reads
//! end-of-file it stops the server (`SIGTERM`), waits for it and removes the
//! temporary directory. Dropping the [`MariaDb`] closes the pipe and waits for
//! the watchdog; a test process that exits without dropping it (a `static`
//! server, a panic, `SIGKILL`) closes the pipe too, because the kernel closes
//! a dead process's descriptors. So no server outlives its test run. (A
//! process killed while `mariadb-install-db` runs leaves its directory
//! behind; the next `start` removes directories whose process is gone.)
//!
//! ```no_run
//! use asyncio_examples_support::mariadb::MariaDb;
//!
//! let server = MariaDb::start().expect("a MariaDB server");
//! println!("connect to {}", server.url());
//! drop(server); // stopped, its directory removed
//! ```

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The user the init file creates.
pub const USER: &str = "asyncio";
/// [`USER`]'s password.
pub const PASSWORD: &str = "asyncio";
/// The database the init file creates.
pub const DATABASE: &str = "test";

/// How long [`MariaDb::start`] waits for the server to accept connections.
const READY_DEADLINE: Duration = Duration::from_secs(60);

/// A running throwaway MariaDB server; stopped and removed on drop.
#[derive(Debug)]
pub struct MariaDb {
    dir: PathBuf,
    port: u16,
    socket: PathBuf,
    watchdog: Child,
    /// The pipe the watchdog reads: closing it stops the server.
    watchdog_stdin: Option<ChildStdin>,
}

impl MariaDb {
    /// Installs MariaDB if needed (as root), creates a data directory and
    /// starts a server on a free port, returning once it accepts
    /// connections (within 60 s).
    ///
    /// # Errors
    /// A missing server that cannot be installed, a failed
    /// `mariadb-install-db`, or a server that exits or does not answer in
    /// time (the message holds the end of its error log).
    pub fn start() -> io::Result<MariaDb> {
        let bins = find_or_install()?;
        let as_root = is_root();
        static SERVERS: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "asyncio-mariadb-{}-{}",
            std::process::id(),
            SERVERS.fetch_add(1, Ordering::Relaxed)
        ));
        remove_stale_dirs();
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let data = dir.join("data");
        let socket = dir.join("mysqld.sock");
        let log = dir.join("error.log");
        let init = dir.join("init.sql");
        std::fs::write(
            &init,
            format!(
                "CREATE USER IF NOT EXISTS '{USER}'@'%' IDENTIFIED BY '{PASSWORD}';\n\
                 GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'%' WITH GRANT OPTION;\n\
                 CREATE DATABASE IF NOT EXISTS `{DATABASE}`;\n"
            ),
        )?;
        if as_root {
            // The server drops to `mysql`: it must own its directory.
            run(Command::new("chown").args(["-R", "mysql:mysql"]).arg(&dir))?;
        }

        let mut install = Command::new(&bins.install_db);
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(["--skip-test-db", "--auth-root-authentication-method=normal"]);
        if as_root {
            install.arg("--user=mysql");
        }
        run(&mut install)?;

        // Bind then release a port: the server takes it at once after.
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port();
        let mut server_args: Vec<String> = vec![
            bins.server.display().to_string(),
            "--no-defaults".into(),
            format!("--datadir={}", data.display()),
            format!("--socket={}", socket.display()),
            format!("--pid-file={}", dir.join("mysqld.pid").display()),
            format!("--log-error={}", log.display()),
            format!("--init-file={}", init.display()),
            format!("--port={port}"),
            "--bind-address=127.0.0.1".into(),
            "--skip-name-resolve".into(),
            "--innodb-buffer-pool-size=16M".into(),
            "--max-connections=500".into(),
        ];
        if as_root {
            server_args.push("--user=mysql".into());
        }
        // The watchdog: start the server, block on stdin, and on EOF stop
        // the server and remove the directory.
        let script = r#"dir=$1; shift
"$@" </dev/null >/dev/null 2>&1 &
pid=$!
while read -r _; do :; done
kill -TERM "$pid" 2>/dev/null
wait "$pid"
rm -rf "$dir""#;
        let mut watchdog = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .arg(&dir)
            .args(&server_args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let watchdog_stdin = watchdog.stdin.take();
        let mut server = MariaDb {
            dir,
            port,
            socket,
            watchdog,
            watchdog_stdin,
        };
        server.wait_ready(&log)?;
        Ok(server)
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The TCP address, 127.0.0.1 and [`port`](Self::port).
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The server's Unix socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `mysql://asyncio:asyncio@127.0.0.1:<port>/test`.
    pub fn url(&self) -> String {
        format!("mysql://{USER}:{PASSWORD}@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// The server's error log so far (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    /// Polls until the server sends its greeting (protocol version 10) on
    /// the TCP port, the watchdog exits, or the deadline passes.
    fn wait_ready(&mut self, log: &Path) -> io::Result<()> {
        let deadline = Instant::now() + READY_DEADLINE;
        let fail = |why: &str| {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            io::Error::other(format!("MariaDB {why}; its error log ends:\n{}", tail.join("\n")))
        };
        loop {
            if let Some(status) = self.watchdog.try_wait()? {
                return Err(fail(&format!("exited at start ({status})")));
            }
            if greeting(self.addr()).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(fail("did not accept connections within 60 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        // EOF on the watchdog's stdin: it stops the server and removes the
        // directory; wait for it so the port and files are gone after.
        drop(self.watchdog_stdin.take());
        let _ = self.watchdog.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes the directories of servers whose process is gone (one killed
/// while `mariadb-install-db` ran, before the watchdog existed).
fn remove_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("asyncio-mariadb-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Connects and reads the server's first packet: ready when it is a
/// handshake (protocol version 10), not an error packet.
fn greeting(addr: SocketAddr) -> io::Result<()> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut head = [0u8; 5];
    stream.read_exact(&mut head)?;
    let _ = stream.flush();
    if head[4] == 10 {
        Ok(())
    } else {
        Err(io::Error::other("not a handshake"))
    }
}

/// The server and install binaries.
struct Binaries {
    server: PathBuf,
    install_db: PathBuf,
}

fn find_binaries() -> Option<Binaries> {
    let find = |names: &[&str]| {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
        dirs.extend(["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"].map(PathBuf::from));
        names
            .iter()
            .flat_map(|name| dirs.iter().map(move |d| d.join(name)))
            .find(|p| p.is_file())
    };
    Some(Binaries {
        server: find(&["mariadbd", "mysqld"])?,
        install_db: find(&["mariadb-install-db", "mysql_install_db"])?,
    })
}

/// The binaries, installing `mariadb-server` first when missing and root
/// (once per process, whatever the number of servers started at once).
fn find_or_install() -> io::Result<Binaries> {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _once = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(bins) = find_binaries() {
        return Ok(bins);
    }
    if !is_root() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "MariaDB is not installed (no mariadbd or mysqld) and this process is not root: \
             install the `mariadb-server` package (`sudo apt-get install -y mariadb-server`)",
        ));
    }
    run(Command::new("apt-get").arg("update"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "mariadb-server"])
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    find_binaries().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "mariadb-server was installed but mariadbd / mariadb-install-db are not found",
        )
    })
}

/// True when this process runs as root (`id -u` prints 0).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Runs `cmd`, failing with its output when it exits unsuccessfully.
fn run(cmd: &mut Command) -> io::Result<()> {
    let out = cmd.stdin(Stdio::null()).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_starts_answers_and_is_gone_after_drop() {
        let server = MariaDb::start().unwrap();
        greeting(server.addr()).unwrap();
        assert!(server.url().contains(&server.port().to_string()));
        let dir = server.dir.clone();
        let addr = server.addr();
        drop(server);
        assert!(!dir.exists(), "directory {} left behind", dir.display());
        assert!(TcpStream::connect(addr).is_err(), "server still listening after drop");
    }
}
