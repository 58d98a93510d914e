//! PostgreSQL on the asyncio loop, in asyncpg's words: [`connect`], then
//! [`fetch`](Connection::fetch), [`fetchrow`](Connection::fetchrow),
//! [`fetchval`](Connection::fetchval), [`execute`](Connection::execute),
//! [`executemany`](Connection::executemany) and
//! [`transaction`](Connection::transaction).
//!
//! Underneath is tokio-postgres's protocol code (messages, types, SCRAM
//! authentication, statements) with its default features off: it runs over
//! asyncio's own sockets through tokio's I/O traits only (asyncio's
//! `tokio-io` feature). No tokio runtime is involved; the connection's
//! socket is driven by an asyncio task.
//!
//! ```no_run
//! # async fn demo() -> Result<(), asyncio_postgres::Error> {
//! let mut conn = asyncio_postgres::connect("postgresql://app:secret@127.0.0.1/shop").await?;
//! conn.execute("CREATE TABLE IF NOT EXISTS items (id int PRIMARY KEY, name text)", &[]).await?;
//! let tx = conn.transaction().await?;
//! tx.executemany("INSERT INTO items VALUES ($1, $2)", &[&[&1i32, &"pen"], &[&2i32, &"ink"]]).await?;
//! tx.commit().await?;
//! let name: Option<String> = conn.fetchval("SELECT name FROM items WHERE id = $1", &[&2i32]).await?;
//! assert_eq!(name.as_deref(), Some("ink"));
//! for row in conn.fetch("SELECT id, name FROM items ORDER BY id", &[]).await? {
//!     let (id, name): (i32, &str) = (row.get(0), row.get(1));
//!     println!("{id} {name}");
//! }
//! # Ok(()) }
//! ```
//!
//! | asyncpg | here |
//! |---|---|
//! | `await asyncpg.connect(dsn)` | [`connect(dsn).await`](connect) |
//! | `await conn.fetch(sql, *args)` | [`conn.fetch(sql, &[args]).await`](Connection::fetch) |
//! | `fetchrow`, `fetchval`, `execute`, `executemany` | the same names |
//! | `async with conn.transaction():` | [`let tx = conn.transaction().await?; …; tx.commit().await?`](Connection::transaction) |
//! | `asyncpg.PostgresError.sqlstate` | [`Error::Server`]`(e)`, [`e.code()`](ServerError::code) |
//! | `pool = await asyncpg.create_pool(dsn, min_size=2, max_size=10)` | [`create_pool(dsn).min_size(2).max_size(10).await?`](create_pool) |
//! | `async with pool.acquire() as conn:` | [`let conn = pool.acquire().await?;`](Pool::acquire) (released on drop) |
//! | rows into objects | with the `serde` feature, `fetch_as::<T>`, `fetchrow_as::<T>`, `from_row` (module `rows`) |
//! | `await conn.add_listener(channel, callback)` | [`let listener = conn.add_listener(channel).await?; listener.recv().await`](Connection::add_listener) |
//! | `conn.add_log_listener(callback)` | [`let log = conn.add_log_listener(); log.recv().await`](Connection::add_log_listener) (notices, warnings) |
//! | `copy_records_to_table(table, records=…, columns=…)`, `copy_from_query(sql, output=…)` | [`copy_records_to_table(table, columns, records)`](Connection::copy_records_to_table), [`copy_from_query(sql)`](Connection::copy_from_query) → a stream of chunks |
//! | `connect(dsn, passfile=…)`, `~/.pgpass` | `passfile=…` in the DSN, `PGPASSFILE`, or `~/.pgpass` (see [`connect`]) |
//! | `connect(dsn, ssl='verify-full')` | `?sslmode=verify-full&sslrootcert=ca.pem` in the DSN (feature `tls`, on by default; see the [`tls`] module) |

#![forbid(unsafe_code)]

pub mod connection;
pub mod copy;
mod dsn;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod __fuzz {
    //! The fuzz target's entry (`fuzz/fuzz_targets/postgres_dsn.rs`),
    //! compiled only with `--cfg fuzzing`.
    pub use crate::dsn::fuzz_dsn as dsn;
}
mod error;
pub mod listener;
mod passfile;
pub mod pool;
#[cfg(feature = "serde")]
pub mod rows;
#[cfg(feature = "tls")]
pub mod tls;
pub mod transaction;

pub use connection::{Connection, Param, STATEMENT_CACHE_SIZE};
pub use copy::CopyOut;
pub use error::{Error, ServerError};
pub use listener::{Listener, LogListener, Notification};
pub use pool::{create_pool, Pool, PoolBuilder, PoolStats, PooledConnection};
#[cfg(feature = "serde")]
pub use rows::from_row;
pub use tokio_postgres::error::SqlState;
pub use tokio_postgres::types;
pub use tokio_postgres::Row;
pub use transaction::Transaction;

use dsn::Target;
#[cfg(feature = "tls")]
use tls::Tls;
use tokio_postgres::config::TargetSessionAttrs;

/// Opens a connection from a DSN: a URL
/// (`postgresql://user:password@host:port/database`) or libpq's key-value
/// form (`host=/var/run/postgresql port=5432 user=app dbname=shop`; a
/// `host` starting with `/` is a Unix socket directory). What the DSN omits
/// comes from `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD` and `PGDATABASE`,
/// as in libpq; with several hosts (`host=a,b`), each is tried in turn:
/// an unreachable host, a failed TLS handshake, a server starting up or
/// shutting down (57P03) or full (53300, where libpq would stop), or a
/// session that does not fit `target_session_attrs` (`read-write`,
/// `read-only`) moves on to the next; a wrong password, user or database
/// does not (the same everywhere).
/// `connect_timeout` bounds each attempt, with its `target_session_attrs`
/// check.
///
/// Without a password in the DSN or `PGPASSWORD`, libpq's password file
/// gives it: `passfile=` in the DSN, else `PGPASSFILE`, else `~/.pgpass`,
/// one `hostname:port:database:username:password` line per entry (`*`
/// matches anything, `\` escapes `:` and `\`, the first matching line
/// wins; a Unix socket in the default directory is `localhost`). The file
/// is read on asyncio's thread pool; one that group or others may read is
/// ignored with a warning (`tracing`), as libpq ignores it.
///
/// TLS (feature `tls`, on by default) follows libpq's `sslmode`
/// (`disable`, `prefer` — the default —, `require`, `verify-ca`,
/// `verify-full`), `sslrootcert`, `sslcert` and `sslkey`, and their
/// `PGSSL…` variables: see the [`tls` module](crate::tls) for what each
/// checks. Without the feature, `prefer` connects in plain text and
/// `require` and above are refused. Over a Unix socket `sslmode` does not
/// apply, as in libpq: plain text, and no root certificate needed.
///
/// # Errors
/// [`Error::InvalidDsn`] (also for TLS settings that cannot be used: an
/// unreadable certificate file, …), [`Error::Connect`] (refused, no
/// socket, unknown host, timed out), [`Error::Tls`] (the handshake failed:
/// an untrusted or mismatched certificate, …), [`Error::TlsUnsupported`]
/// (`sslmode=require` or above and the server does not offer TLS),
/// [`Error::Auth`] (wrong password),
/// [`Error::UnknownDatabase`], or [`Error::Server`] for another refusal
/// (too many connections, …).
///
/// # Cancel safety
/// Dropping the future abandons the attempt; no connection is left open.
pub async fn connect(dsn: &str) -> Result<Connection, Error> {
    let (config, settings) = dsn::parse(dsn, |key| std::env::var(key).ok())?;
    let mode = settings.mode;
    let targets = dsn::targets(&config);
    // libpq ignores sslmode over a Unix socket: no TLS files are needed
    // (nor their absence an error) when every target is one.
    let over_tcp = targets.iter().any(|t| matches!(t, Target::Tcp { .. }));
    let (tls, passwords) = read_files(settings, over_tcp).await?;
    let mut last = None;
    for target in targets {
        let config = match passwords.as_ref().and_then(|file| password_for(file, &config, &target)) {
            Some(password) => {
                let mut config = config.clone();
                config.password(password);
                std::borrow::Cow::Owned(config)
            }
            None => std::borrow::Cow::Borrowed(&config),
        };
        let attrs = config.get_target_session_attrs();
        let attempt = async {
            let conn = connect_to(&config, mode, tls.as_ref(), target.clone()).await?;
            session_fits(&conn, attrs, &target).await?;
            Ok(conn)
        };
        let result = match config.get_connect_timeout() {
            Some(limit) => asyncio::timeout(*limit, attempt).await.unwrap_or_else(|_| {
                Err(Error::Connect {
                    target: target.to_string(),
                    source: std::io::Error::new(std::io::ErrorKind::TimedOut, "connect_timeout passed"),
                })
            }),
            None => attempt.await,
        };
        match result {
            Ok(conn) => return Ok(conn),
            // The next host may do better if this one was unreachable, not
            // taking connections now (starting up, shutting down, full) or
            // failed its TLS handshake; not if the DSN, the user or the
            // database is wrong (the same everywhere).
            Err(e) if next_host_may_do_better(&e) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| Error::InvalidDsn("no host".into())))
}

/// Whether the session is what `target_session_attrs` asks for
/// (`read-write`: a primary that takes writes; `read-only`: a standby, or
/// a server made read-only); an [`Error::Connect`] if not, so that the
/// next host is tried. Bounded with the attempt by `connect_timeout`.
///
/// # Cancel safety
/// Dropping the future drops the connection with it.
async fn session_fits(conn: &Connection, attrs: TargetSessionAttrs, target: &Target) -> Result<(), Error> {
    let wanted_read_only = match attrs {
        TargetSessionAttrs::ReadWrite => false,
        TargetSessionAttrs::ReadOnly => true,
        _ => return Ok(()),
    };
    let refused = |why: String| Error::Connect {
        target: target.to_string(),
        source: std::io::Error::other(why),
    };
    // A simple query: nothing prepared, nothing cached on a session that
    // may be thrown away.
    let answer = conn
        .run(conn.client.simple_query("SHOW transaction_read_only"))
        .await
        .map_err(|e| refused(format!("checking target_session_attrs: {e}")))?;
    let read_only = answer.iter().find_map(|message| match message {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(|v| v == "on"),
        _ => None,
    });
    match read_only {
        Some(read_only) if read_only == wanted_read_only => Ok(()),
        Some(read_only) => Err(refused(format!(
            "the session is {} (target_session_attrs={})",
            if read_only { "read-only" } else { "read-write" },
            if wanted_read_only { "read-only" } else { "read-write" }
        ))),
        None => Err(refused("SHOW transaction_read_only returned no row".into())),
    }
}

/// What the settings need from files, read on asyncio's thread pool so the
/// loop never waits on the disk: the TLS configuration (root and client
/// certificates, the client key; parsing them is CPU work too), and the
/// password file.
///
/// # Cancel safety
/// Dropping the future abandons the reading (the thread finishes it).
async fn read_files(
    settings: dsn::Settings,
    over_tcp: bool,
) -> Result<(Option<Tls>, Option<passfile::PassFile>), Error> {
    let read = asyncio::to_thread(move || -> Result<_, Error> {
        let tls = if over_tcp { Tls::from_params(&settings)? } else { None };
        Ok((tls, settings.passfile.as_deref().and_then(passfile::read)))
    });
    match read.await {
        Ok(result) => result,
        Err(e @ asyncio::executor::JobError::Panicked(_)) => std::panic::resume_unwind(e.into_panic()),
        // Only when the loop's thread pool is shutting down.
        Err(e) => Err(Error::Closed(format!("reading the connection's files: {e}"))),
    }
}

/// The password file's password for `target` with `config`'s user and
/// database (the user's name when none is given, the server's default).
fn password_for<'f>(file: &'f passfile::PassFile, config: &tokio_postgres::Config, target: &Target) -> Option<&'f str> {
    let (host, port) = target.passfile_key();
    let user = config.get_user().unwrap_or("");
    let database = config.get_dbname().unwrap_or(user);
    file.password(&host, port, database, user)
}

/// Whether a failed attempt is worth another host's: libpq moves on after
/// an unreachable host, a failed TLS handshake and 57P03
/// cannot_connect_now (starting up, in recovery, shutting down); we also
/// do after 53300 too_many_connections (libpq stops there), since another
/// host of the list may have room.
fn next_host_may_do_better(error: &Error) -> bool {
    match error {
        Error::Connect { .. } | Error::TlsUnsupported { .. } => true,
        #[cfg(feature = "tls")]
        Error::Tls { .. } => true,
        Error::Server(e) => matches!(e.code(), "57P03" | "53300"),
        _ => false,
    }
}

/// The TLS of a connection attempt: none without the feature.
#[cfg(not(feature = "tls"))]
enum Tls {}

#[cfg(not(feature = "tls"))]
impl Tls {
    fn from_params(params: &dsn::Settings) -> Result<Option<Tls>, Error> {
        match params.mode {
            dsn::SslMode::Disable | dsn::SslMode::Prefer => Ok(None),
            _ => Err(Error::InvalidDsn(
                "sslmode=require and above need asyncio-postgres's `tls` feature".into(),
            )),
        }
    }
}

async fn connect_to(
    config: &tokio_postgres::Config,
    mode: dsn::SslMode,
    tls: Option<&Tls>,
    target: Target,
) -> Result<Connection, Error> {
    use tokio_postgres::config::SslMode as Wire;
    let unreachable = |source| Error::Connect {
        target: target.to_string(),
        source,
    };
    let mut config = config.clone();
    match &target {
        Target::Tcp { host, port, addr } => {
            let stream = match addr {
                Some(addr) => asyncio::net::TcpStream::connect((*addr, *port)).await,
                None => asyncio::net::TcpStream::connect((host.as_str(), *port)).await,
            }
            .map_err(unreachable)?;
            // Small request and answer messages: no Nagle delay.
            stream.set_nodelay(true).map_err(unreachable)?;
            socket_options(&stream, &config).map_err(unreachable)?;
            // The cancel request goes to this same address (no second
            // look-up that could land on another server).
            let peer = stream.peer_addr().map_err(unreachable)?;
            let target = Target::Tcp {
                host: host.clone(),
                port: *port,
                addr: Some(peer.ip()),
            };
            #[cfg(feature = "tls")]
            if let Some(tls) = tls {
                config.ssl_mode(if mode == dsn::SslMode::Prefer {
                    Wire::Prefer
                } else {
                    Wire::Require
                });
                let failure = std::rc::Rc::default();
                let connector = tls.connector(host, std::rc::Rc::clone(&failure));
                let (client, connection) = config
                    .connect_raw(stream, connector)
                    .await
                    .map_err(|e| tls_error(e, &target, failure.take()))?;
                let cancel_tls = Some((tls.clone(), host.clone()));
                return Ok(Connection::new(client, connection, target, cancel_tls));
            }
            let _ = (mode, tls);
            config.ssl_mode(Wire::Disable);
            let (client, connection) = config
                .connect_raw(stream, tokio_postgres::NoTls)
                .await
                .map_err(Error::from_handshake)?;
            Ok(Connection::new(
                client,
                connection,
                target,
                #[cfg(feature = "tls")]
                None,
            ))
        }
        Target::Unix { path } => {
            let stream = asyncio::net::UnixStream::connect(path).await.map_err(unreachable)?;
            // The server offers no TLS on its Unix socket, and libpq
            // ignores `sslmode` there (the socket is local, guarded by its
            // file permissions): plain text whatever the mode, so that a
            // `PGSSLMODE=require` meant for remote servers does not break
            // local connections.
            config.ssl_mode(Wire::Disable);
            let (client, connection) = config
                .connect_raw(stream, tokio_postgres::NoTls)
                .await
                .map_err(Error::from_handshake)?;
            Ok(Connection::new(
                client,
                connection,
                target,
                #[cfg(feature = "tls")]
                None,
            ))
        }
    }
}

/// libpq's TCP options: keepalive probes (on unless `keepalives=0`; the
/// idle time, interval and count when given, 0 meaning the system's
/// default, as in libpq) and `tcp_user_timeout`. Where the system has no
/// such option (`TCP_KEEPCNT`, `TCP_KEEPINTVL`, `TCP_USER_TIMEOUT`), it has
/// no effect, as libpq documents.
fn socket_options(stream: &asyncio::net::TcpStream, config: &tokio_postgres::Config) -> std::io::Result<()> {
    let socket = socket2::SockRef::from(stream);
    if config.get_keepalives() {
        let mut keepalive = socket2::TcpKeepalive::new();
        // tokio-postgres's default when the DSN gives none is 2 hours,
        // Linux's own default.
        let idle = config.get_keepalives_idle();
        if !idle.is_zero() {
            keepalive = keepalive.with_time(idle);
        }
        #[cfg(any(
            target_os = "linux",
            target_os = "android",
            target_os = "freebsd",
            target_os = "macos",
            target_os = "ios",
            target_os = "netbsd",
            target_os = "dragonfly",
            target_os = "fuchsia",
            target_os = "illumos"
        ))]
        {
            if let Some(interval) = config.get_keepalives_interval().filter(|i| !i.is_zero()) {
                keepalive = keepalive.with_interval(interval);
            }
            if let Some(count) = config.get_keepalives_retries() {
                keepalive = keepalive.with_retries(count);
            }
        }
        socket.set_tcp_keepalive(&keepalive)?;
    }
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "fuchsia"))]
    if let Some(timeout) = config.get_tcp_user_timeout() {
        socket.set_tcp_user_timeout(Some(*timeout))?;
    }
    Ok(())
}

/// The error of a handshake over TLS: the TLS failure the connector kept,
/// the server's refusal of TLS, or an ordinary handshake error.
#[cfg(feature = "tls")]
fn tls_error(error: tokio_postgres::Error, target: &Target, failure: Option<asyncio::tls::TlsError>) -> Error {
    if let Some(source) = failure {
        return Error::Tls {
            target: target.to_string(),
            source,
        };
    }
    if refused_tls(&error) {
        return Error::TlsUnsupported {
            target: target.to_string(),
        };
    }
    Error::from_handshake(error)
}

/// Whether the server answered `SSLRequest` with "no" (tokio-postgres's
/// error under `sslmode=require`).
#[cfg(feature = "tls")]
fn refused_tls(error: &tokio_postgres::Error) -> bool {
    std::error::Error::source(error).is_some_and(|cause| cause.to_string() == "server does not support TLS")
}

#[cfg(test)]
mod tests {
    #[test]
    fn libpq_tcp_options_reach_the_socket() {
        asyncio::run(async {
            let listener = asyncio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let stream = asyncio::net::TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let (config, _) = crate::dsn::parse(
                "host=h keepalives_idle=77 keepalives_interval=5 keepalives_count=3 tcp_user_timeout=9000",
                |_| None,
            )
            .unwrap();
            super::socket_options(&stream, &config).unwrap();
            let socket = socket2::SockRef::from(&stream);
            assert!(socket.keepalive().unwrap());
            assert_eq!(socket.tcp_keepalive_time().unwrap().as_secs(), 77);
            assert_eq!(socket.tcp_keepalive_interval().unwrap().as_secs(), 5);
            assert_eq!(socket.tcp_keepalive_retries().unwrap(), 3);
            assert_eq!(socket.tcp_user_timeout().unwrap().map(|t| t.as_millis()), Some(9000));
            let (config, _) = crate::dsn::parse("host=h keepalives=0", |_| None).unwrap();
            let plain = asyncio::net::TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            super::socket_options(&plain, &config).unwrap();
            assert!(!socket2::SockRef::from(&plain).keepalive().unwrap());
            // 0 is the system's default, as in libpq (not a count of 0).
            let (config, _) = crate::dsn::parse(
                "host=h keepalives_idle=0 keepalives_interval=0 keepalives_count=0",
                |_| None,
            )
            .unwrap();
            let defaults = asyncio::net::TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let untouched = socket2::SockRef::from(&defaults);
            let system = (
                untouched.tcp_keepalive_time().unwrap(),
                untouched.tcp_keepalive_interval().unwrap(),
                untouched.tcp_keepalive_retries().unwrap(),
            );
            super::socket_options(&defaults, &config).unwrap();
            assert!(untouched.keepalive().unwrap());
            assert_eq!(
                (
                    untouched.tcp_keepalive_time().unwrap(),
                    untouched.tcp_keepalive_interval().unwrap(),
                    untouched.tcp_keepalive_retries().unwrap()
                ),
                system
            );
        });
    }
}
