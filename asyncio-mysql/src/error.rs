//! [`Error`]: what a query through the [`Pool`](crate::Pool) can fail with,
//! one variant per thing a caller can act on, and [`ServerError`], the
//! server's own error packet with its code.

use std::fmt;
use std::io;

use asyncio::executor::JobError;
use mysql_common::proto::codec::error::PacketCodecError;

/// A failed connect or query.
///
/// ```no_run
/// # async fn demo(pool: &asyncio_mysql::Pool) {
/// use asyncio_mysql::{codes, Error};
///
/// match pool.exec_drop("INSERT INTO users (id) VALUES (?)", (1,)).await {
///     Ok(done) => println!("{} row(s)", done.affected_rows),
///     Err(Error::Server(e)) if e.code == codes::DUP_ENTRY => println!("already there"),
///     Err(e) => eprintln!("{e}"),
/// }
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an error packet (a duplicate key, a syntax
    /// error, a wrong password, an unknown database...): match on
    /// [`ServerError::code`] (see [`codes`](crate::codes)).
    Server(ServerError),
    /// No connection could be made: refused, unreachable, timed out
    /// ([`io::Error::kind`] says which). Nothing was sent; retrying is safe.
    Connect(io::Error),
    /// The connection failed during a query (lost, reset, closed by the
    /// server, or its packets went out of step: then the kind is
    /// [`io::ErrorKind::InvalidData`]). The query may or may not have run.
    /// The pool thread drops that connection and opens a new one for its
    /// next query.
    Io(io::Error),
    /// The connection URL could not be parsed.
    Url(String),
    /// A row or value did not convert to the requested Rust type (a `NULL`
    /// into a non-`Option`, a string into an integer, too few columns).
    Conversion(String),
    /// The parameters do not fit the statement (their count, a missing
    /// named parameter, named and positional mixed). The statement did not
    /// run (for `exec_batch`, the sets before the bad one did); the
    /// connection is kept.
    Params(String),
    /// The options ask for what this crate does not do (TLS; the `mysql`
    /// crate's own pool sizes): the message says which.
    Unsupported(String),
    /// The client library refused something: an unsupported
    /// authentication plugin or protocol version, a read-only transaction
    /// the server cannot start (nothing sent), or a packet larger than the
    /// limit (one to send: nothing sent; one received: the query ran, and
    /// would fail the same way again, so it is not counted as a lost
    /// connection). The connection is dropped; a connection lost is
    /// [`Error::Io`] instead.
    Driver(String),
    /// The closure given to [`Pool::run`](crate::Pool::run) panicked (or
    /// the `mysql` crate did, in any call); its connection was closed, the
    /// pool thread goes on.
    Panicked(String),
    /// The pool was shut down before the query was submitted.
    Closed,
}

/// The server's error packet: MySQL/MariaDB error code, SQLSTATE and
/// message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    /// The server's error number, e.g. 1062 ([`codes::DUP_ENTRY`](crate::codes::DUP_ENTRY)).
    pub code: u16,
    /// The five-character SQLSTATE, e.g. `23000`.
    pub state: String,
    /// The server's message.
    pub message: String,
}

impl Error {
    /// The server's error code, when the server sent one.
    pub fn server_code(&self) -> Option<u16> {
        match self {
            Error::Server(e) => Some(e.code),
            _ => None,
        }
    }

    /// Whether the connection was lost during the query (an I/O or
    /// protocol failure, or the server said it is closing the connection:
    /// killed, shutting down, idle too long): the query may or may not have
    /// run, and the pool thread connects anew for its next job. A program
    /// that retries only what is safe to run twice can retry these.
    pub fn is_connection_lost(&self) -> bool {
        match self {
            Error::Io(_) => true,
            Error::Server(e) => closes_connection(e.code),
            _ => false,
        }
    }

    /// True when the connection this came from is unusable afterwards (the
    /// pool thread then drops it and reconnects for its next query).
    pub(crate) fn breaks_connection(e: &mysql::Error) -> bool {
        match e {
            mysql::Error::DriverError(e) => !is_params_error(e),
            mysql::Error::IoError(_) | mysql::Error::CodecError(_) => true,
            mysql::Error::MySqlError(e) => closes_connection(e.code),
            _ => false,
        }
    }

    /// A failed connection attempt: refusals and timeouts are `Connect`,
    /// anything else as [`From<mysql::Error>`].
    pub(crate) fn from_connect(e: mysql::Error) -> Error {
        match e {
            mysql::Error::IoError(io) => Error::Connect(io),
            mysql::Error::DriverError(mysql::DriverError::CouldNotConnect(Some((addr, desc, kind)))) => {
                Error::Connect(io::Error::new(kind, format!("could not connect to {addr}: {desc}")))
            }
            mysql::Error::DriverError(mysql::DriverError::CouldNotConnect(None)) => {
                Error::Connect(io::Error::other("could not connect"))
            }
            mysql::Error::DriverError(mysql::DriverError::ConnectTimeout) => {
                Error::Connect(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))
            }
            other => match other.into() {
                // A handshake that went out of step: the attempt failed.
                Error::Io(io) => Error::Connect(io),
                e => e,
            },
        }
    }

    /// What a failed pool job becomes.
    pub(crate) fn from_job(e: JobError) -> Error {
        match e {
            JobError::Panicked(p) => Error::Panicked(p.message().to_owned()),
            // A cancelled job's future was dropped: no one sees this.
            _ => Error::Closed,
        }
    }
}

/// What a row that did not convert was: its columns and their types (not
/// its values, which may be anyone's data).
fn describe_row(row: &mysql::Row) -> String {
    let columns: Vec<String> = row
        .columns_ref()
        .iter()
        .map(|c| format!("{} {:?}", c.name_str(), c.column_type()))
        .collect();
    format!(
        "a row of {} column(s) ({}) does not convert to the requested type (a NULL into a non-Option, a \
         column count that differs, a value that does not fit)",
        columns.len(),
        columns.join(", ")
    )
}

/// The server errors that come with the connection's end.
fn closes_connection(code: u16) -> bool {
    matches!(
        code,
        codes::CONNECTION_KILLED
            | codes::SERVER_SHUTDOWN
            | codes::CLIENT_INTERACTION_TIMEOUT
            | codes::NET_PACKET_TOO_LARGE
    )
}

/// The driver's complaints about parameters, found before the statement
/// is executed: the connection is fine.
fn is_params_error(e: &mysql::DriverError) -> bool {
    matches!(
        e,
        mysql::DriverError::MismatchedStmtParams(..)
            | mysql::DriverError::Params(_)
            | mysql::DriverError::MixedParams
            | mysql::DriverError::BulkExecute(_)
    )
}

impl From<mysql::Error> for Error {
    fn from(e: mysql::Error) -> Error {
        match e {
            mysql::Error::MySqlError(e) => Error::Server(ServerError {
                code: e.code,
                state: e.state,
                message: e.message,
            }),
            mysql::Error::IoError(io) | mysql::Error::CodecError(PacketCodecError::Io(io)) => Error::Io(io),
            // The stream went out of step: the connection is lost as surely
            // as by a reset.
            mysql::Error::CodecError(
                e @ (PacketCodecError::PacketsOutOfSync | PacketCodecError::BadCompressedPacketHeader),
            ) => Error::Io(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
            mysql::Error::DriverError(
                e @ (mysql::DriverError::PacketOutOfSync | mysql::DriverError::UnexpectedPacket),
            ) => Error::Io(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
            mysql::Error::UrlError(e) => Error::Url(e.to_string()),
            mysql::Error::FromRowError(row) => Error::Conversion(describe_row(&row)),
            e @ mysql::Error::FromValueError(_) => Error::Conversion(e.to_string()),
            mysql::Error::DriverError(e) if is_params_error(&e) => Error::Params(e.to_string()),
            other => Error::Driver(other.to_string()),
        }
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server error {} ({}): {}", self.code, self.state, self.message)
    }
}

impl std::error::Error for ServerError {}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Server(e) => e.fmt(f),
            Error::Connect(e) => write!(f, "could not connect: {e}"),
            Error::Io(e) => write!(f, "connection failed: {e}"),
            Error::Url(e) => write!(f, "bad connection URL: {e}"),
            Error::Conversion(e) => write!(f, "conversion failed: {e}"),
            Error::Params(e) => write!(f, "parameters do not fit the statement: {e}"),
            Error::Unsupported(e) => write!(f, "not supported: {e}"),
            Error::Driver(e) => write!(f, "client error: {e}"),
            Error::Panicked(m) => write!(f, "the closure panicked: {m}"),
            Error::Closed => f.write_str("the pool is shut down"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Server(e) => Some(e),
            Error::Connect(e) | Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Server error codes a program commonly matches on (MariaDB and MySQL
/// share them).
pub mod codes {
    /// `ER_DUP_ENTRY`: a duplicate value for a unique or primary key.
    pub const DUP_ENTRY: u16 = 1062;
    /// `ER_ACCESS_DENIED_ERROR`: wrong user or password.
    pub const ACCESS_DENIED: u16 = 1045;
    /// `ER_BAD_DB_ERROR`: unknown database.
    pub const BAD_DB: u16 = 1049;
    /// `ER_NO_SUCH_TABLE`: the table does not exist.
    pub const NO_SUCH_TABLE: u16 = 1146;
    /// `ER_PARSE_ERROR`: SQL syntax error.
    pub const PARSE_ERROR: u16 = 1064;
    /// `ER_LOCK_WAIT_TIMEOUT`: a row lock was not granted in time.
    pub const LOCK_WAIT_TIMEOUT: u16 = 1205;
    /// `ER_CONNECTION_KILLED` (MariaDB): the connection was killed
    /// (`KILL`, a server shutdown); the pool drops it.
    pub const CONNECTION_KILLED: u16 = 1927;
    /// `ER_SERVER_SHUTDOWN`: the server is shutting down; the pool drops
    /// the connection.
    pub const SERVER_SHUTDOWN: u16 = 1053;
    /// `ER_LOCK_DEADLOCK`: the transaction was chosen as a deadlock victim.
    pub const LOCK_DEADLOCK: u16 = 1213;
    /// `ER_CLIENT_INTERACTION_TIMEOUT` (MySQL 8.0.24 and later): sent
    /// before the server closes a connection idle past `wait_timeout`; the
    /// pool drops the connection.
    pub const CLIENT_INTERACTION_TIMEOUT: u16 = 4031;
    /// `ER_NET_PACKET_TOO_LARGE`: a packet above `max_allowed_packet`; the
    /// server closes the connection after it, and the pool drops it.
    pub const NET_PACKET_TOO_LARGE: u16 = 1153;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only a connection lost (reset, closed, out of step) says so: a
    /// refusal before anything was sent does not invite a retry.
    #[test]
    fn connection_lost_is_only_a_lost_connection() {
        let lost = [
            mysql::Error::IoError(io::Error::from(io::ErrorKind::ConnectionReset)),
            mysql::Error::CodecError(PacketCodecError::PacketsOutOfSync),
            mysql::Error::DriverError(mysql::DriverError::PacketOutOfSync),
            mysql::Error::DriverError(mysql::DriverError::UnexpectedPacket),
        ];
        for e in lost {
            let text = e.to_string();
            let e = Error::from(e);
            assert!(matches!(e, Error::Io(_)) && e.is_connection_lost(), "{text}: {e:?}");
        }
        let refused = [
            mysql::Error::DriverError(mysql::DriverError::UnknownAuthPlugin("dialog".into())),
            mysql::Error::DriverError(mysql::DriverError::ReadOnlyTransNotSupported),
            mysql::Error::DriverError(mysql::DriverError::CleartextPluginDisabled),
            mysql::Error::CodecError(PacketCodecError::PacketTooLarge),
        ];
        for e in refused {
            let text = e.to_string();
            let e = Error::from(e);
            assert!(
                matches!(e, Error::Driver(_)) && !e.is_connection_lost(),
                "{text}: {e:?}"
            );
        }
        // Out of step during the handshake: the attempt failed.
        let e = Error::from_connect(mysql::Error::DriverError(mysql::DriverError::UnexpectedPacket));
        assert!(matches!(e, Error::Connect(_)), "{e:?}");
        let e = Error::from_connect(mysql::Error::DriverError(mysql::DriverError::UnknownAuthPlugin(
            "x".into(),
        )));
        assert!(matches!(e, Error::Driver(_)), "{e:?}");
    }
}
