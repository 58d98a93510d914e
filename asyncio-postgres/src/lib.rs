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
//! | `copy_records_to_table(table, records=…, columns=…)`, `copy_from_query(sql, output=…)` | [`copy_records_to_table(table, columns, records)`](Connection::copy_records_to_table), [`copy_from_query(sql)`](Connection::copy_from_query) → a stream of chunks |
//!
//! Not yet: TLS (`sslmode` other than `disable`/`prefer` fails).

#![forbid(unsafe_code)]

pub mod connection;
pub mod copy;
mod dsn;
mod error;
pub mod listener;
pub mod pool;
#[cfg(feature = "serde")]
pub mod rows;
pub mod transaction;

pub use connection::{Connection, Param, STATEMENT_CACHE_SIZE};
pub use copy::CopyOut;
pub use error::{Error, ServerError};
pub use listener::{Listener, Notification};
pub use pool::{create_pool, Pool, PoolBuilder, PoolStats, PooledConnection};
#[cfg(feature = "serde")]
pub use rows::from_row;
pub use tokio_postgres::error::SqlState;
pub use tokio_postgres::types;
pub use tokio_postgres::Row;
pub use transaction::Transaction;

use dsn::Target;

/// Opens a connection from a DSN: a URL
/// (`postgresql://user:password@host:port/database`) or libpq's key-value
/// form (`host=/var/run/postgresql port=5432 user=app dbname=shop`; a
/// `host` starting with `/` is a Unix socket directory). What the DSN omits
/// comes from `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD` and `PGDATABASE`,
/// as in libpq; with several hosts (`host=a,b`), each is tried in turn.
/// `connect_timeout` bounds each attempt. TLS is not supported yet:
/// `sslmode=disable` and `prefer` (the default) connect in plain text,
/// `require` is refused, `verify-ca` and `verify-full` are not parsed.
///
/// # Errors
/// [`Error::InvalidDsn`], [`Error::Connect`] (refused, no socket, unknown
/// host, timed out), [`Error::Auth`] (wrong password),
/// [`Error::UnknownDatabase`], or [`Error::Server`] for another refusal
/// (too many connections, …).
///
/// # Cancel safety
/// Dropping the future abandons the attempt; no connection is left open.
pub async fn connect(dsn: &str) -> Result<Connection, Error> {
    let config = dsn::parse(dsn, |key| std::env::var(key).ok())?;
    if config.get_ssl_mode() == tokio_postgres::config::SslMode::Require {
        return Err(Error::InvalidDsn(
            "sslmode=require: TLS is not supported yet (disable or prefer connect in plain text)".into(),
        ));
    }
    let mut last = None;
    for target in dsn::targets(&config) {
        let attempt = connect_to(&config, target.clone());
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
            // The next host may do better only if this one was unreachable.
            Err(e @ Error::Connect { .. }) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| Error::InvalidDsn("no host".into())))
}

async fn connect_to(config: &tokio_postgres::Config, target: Target) -> Result<Connection, Error> {
    let unreachable = |source| Error::Connect {
        target: target.to_string(),
        source,
    };
    match &target {
        Target::Tcp { host, port } => {
            let stream = asyncio::net::TcpStream::connect((host.as_str(), *port))
                .await
                .map_err(unreachable)?;
            // Small request and answer messages: no Nagle delay.
            stream.set_nodelay(true).map_err(unreachable)?;
            let (client, connection) = config
                .connect_raw(stream, tokio_postgres::NoTls)
                .await
                .map_err(Error::from_handshake)?;
            Ok(Connection::new(client, connection, target))
        }
        Target::Unix { path } => {
            let stream = asyncio::net::UnixStream::connect(path).await.map_err(unreachable)?;
            let (client, connection) = config
                .connect_raw(stream, tokio_postgres::NoTls)
                .await
                .map_err(Error::from_handshake)?;
            Ok(Connection::new(client, connection, target))
        }
    }
}
