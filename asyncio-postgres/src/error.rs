//! The crate's one error type, [`Error`], with one variant per failure a
//! caller can act on, and [`ServerError`], what the server said.

use std::fmt;
use std::io;

use tokio_postgres::error::{DbError, SqlState};

/// Why a connection or a query failed.
///
/// Match on the variant: a server's answer ([`Error::Server`], with its
/// SQLSTATE), a refused connection, a bad DSN, a wrong password, an unknown
/// database, a closed connection, or a value that did not convert.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The DSN could not be parsed (the message says where).
    InvalidDsn(String),
    /// No server could be reached at any of the DSN's hosts: refused, no
    /// such socket file, unknown host, or `connect_timeout` passed. `target`
    /// is the last one tried.
    Connect {
        /// The host and port, or the socket path, last tried.
        target: String,
        /// Why it failed.
        source: io::Error,
    },
    /// The TLS handshake with `target` failed (feature `tls`): the server's
    /// certificate is not trusted or does not name the host (`verify-ca`,
    /// `verify-full`), the server wants a client certificate, …
    #[cfg(feature = "tls")]
    Tls {
        /// The host and port.
        target: String,
        /// What went wrong, as asyncio's TLS reports it.
        source: asyncio::tls::TlsError,
    },
    /// `sslmode` is `require` or above and the server at `target` does not
    /// offer TLS (Unix sockets never use TLS, whatever `sslmode` says).
    TlsUnsupported {
        /// The host and port, or the socket path.
        target: String,
    },
    /// The server refused the credentials: a wrong password or no
    /// `pg_hba.conf` entry (SQLSTATE class 28), or the server asked for a
    /// password and the DSN and `PGPASSWORD` give none (no [`ServerError`]).
    Auth(Option<ServerError>),
    /// The database named in the DSN does not exist (SQLSTATE `3D000` while
    /// connecting).
    UnknownDatabase(ServerError),
    /// The server answered with an error: a constraint violation, a syntax
    /// error, a cancelled statement (`57014`), …
    Server(ServerError),
    /// The server's `statement_timeout` ended the statement (SQLSTATE
    /// `57014` with the timeout's message; a cancel request gives
    /// [`Error::Server`] with the same code). The connection stays usable.
    ///
    /// The server tells the two apart only in the message, which is in its
    /// `lc_messages` language: under a language other than English a
    /// statement timeout is an [`Error::Server`] with code `57014`. Code
    /// that must catch it whatever the language matches on
    /// [`Error::code`] `Some("57014")`, which holds for both variants.
    StatementTimeout(ServerError),
    /// The connection is closed: the server ended it (its reason, if it gave
    /// one, is in the message) or the socket broke. Open a new one.
    Closed(String),
    /// [`Pool::acquire`](crate::Pool::acquire) waited its
    /// `acquire_timeout` without getting a connection.
    AcquireTimeout,
    /// The pool is closed ([`Pool::close`](crate::Pool::close)).
    PoolClosed,
    /// A row did not deserialize into the requested type (feature
    /// `serde`): the message names the field or column.
    Decode(String),
    /// A value could not be converted between Rust and SQL (a column's type
    /// does not match, an unexpected `NULL`, a parameter count mismatch…),
    /// or another client-side failure of the protocol code.
    Client(tokio_postgres::Error),
}

impl Error {
    /// The server's error, if this is one ([`Error::Server`],
    /// [`Error::UnknownDatabase`], [`Error::Auth`] with one).
    pub fn as_server_error(&self) -> Option<&ServerError> {
        match self {
            Error::Server(e) | Error::UnknownDatabase(e) | Error::Auth(Some(e)) | Error::StatementTimeout(e) => Some(e),
            _ => None,
        }
    }

    /// The SQLSTATE code of a server error (`"23505"` for a unique
    /// violation), if this is one.
    pub fn code(&self) -> Option<&str> {
        self.as_server_error().map(ServerError::code)
    }

    /// Maps an error of the protocol code met while running a query.
    pub(crate) fn from_query(error: tokio_postgres::Error, closed_reason: Option<String>) -> Error {
        if let Some(db) = error.as_db_error() {
            let server = ServerError::new(db.clone());
            // FATAL and PANIC end the session (an administrator's
            // `pg_terminate_backend`, a server shutting down).
            if matches!(server.severity(), "FATAL" | "PANIC") {
                return Error::Closed(server.to_string());
            }
            if db.code() == &SqlState::QUERY_CANCELED && db.message().contains("statement timeout") {
                return Error::StatementTimeout(server);
            }
            return Error::Server(server);
        }
        if error.is_closed() || std::error::Error::source(&error).is_some_and(|s| s.is::<io::Error>()) {
            let reason = closed_reason.unwrap_or_else(|| error.to_string());
            return Error::Closed(reason);
        }
        Error::Client(error)
    }

    /// Maps an error of the startup handshake (authentication, database).
    pub(crate) fn from_handshake(error: tokio_postgres::Error) -> Error {
        if let Some(db) = error.as_db_error() {
            let server = ServerError::new(db.clone());
            return if server.code().starts_with("28") {
                Error::Auth(Some(server))
            } else if db.code() == &SqlState::INVALID_CATALOG_NAME {
                Error::UnknownDatabase(server)
            } else {
                Error::Server(server)
            };
        }
        let cause = std::error::Error::source(&error).map(ToString::to_string);
        if cause.as_deref() == Some("password missing") {
            return Error::Auth(None);
        }
        Error::from_query(error, None)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidDsn(why) => write!(f, "invalid DSN: {why}"),
            Error::Connect { target, source } => write!(f, "could not connect to {target}: {source}"),
            #[cfg(feature = "tls")]
            Error::Tls { target, source } => write!(f, "TLS with {target} failed: {source}"),
            Error::TlsUnsupported { target } => {
                write!(f, "the server at {target} does not offer TLS and sslmode asks for it")
            }
            Error::Auth(Some(e)) => write!(f, "authentication failed: {e}"),
            Error::Auth(None) => write!(
                f,
                "authentication failed: the server asked for a password and none is given"
            ),
            Error::UnknownDatabase(e) => write!(f, "unknown database: {e}"),
            Error::Server(e) => e.fmt(f),
            Error::StatementTimeout(e) => write!(f, "statement timeout: {e}"),
            Error::Closed(why) => write!(f, "the connection is closed: {why}"),
            Error::AcquireTimeout => f.write_str("no pooled connection was free within the acquire timeout"),
            Error::PoolClosed => f.write_str("the pool is closed"),
            Error::Decode(why) => write!(f, "row does not fit: {why}"),
            Error::Client(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Connect { source, .. } => Some(source),
            #[cfg(feature = "tls")]
            Error::Tls { source, .. } => Some(source),
            Error::Client(e) => Some(e),
            Error::Server(e) | Error::UnknownDatabase(e) | Error::Auth(Some(e)) | Error::StatementTimeout(e) => {
                Some(e.db_error())
            }
            _ => None,
        }
    }
}

/// An error the server sent: its SQLSTATE, message and the fields that
/// locate it (detail, hint, table, column, constraint).
#[derive(Debug, Clone)]
pub struct ServerError(Box<DbError>);

impl ServerError {
    pub(crate) fn new(db: DbError) -> Self {
        ServerError(Box::new(db))
    }

    /// The five-character SQLSTATE code (`"23505"`, `"42P01"`, …).
    pub fn code(&self) -> &str {
        self.0.code().code()
    }

    /// The SQLSTATE as a constant to compare with
    /// ([`SqlState::UNIQUE_VIOLATION`], …).
    pub fn sqlstate(&self) -> &SqlState {
        self.0.code()
    }

    /// The severity (`ERROR`, `FATAL`, `PANIC`).
    pub fn severity(&self) -> &str {
        self.0.severity()
    }

    /// The primary message.
    pub fn message(&self) -> &str {
        self.0.message()
    }

    /// The optional detail message.
    pub fn detail(&self) -> Option<&str> {
        self.0.detail()
    }

    /// The optional hint.
    pub fn hint(&self) -> Option<&str> {
        self.0.hint()
    }

    /// The schema of the object the error is about.
    pub fn schema(&self) -> Option<&str> {
        self.0.schema()
    }

    /// The table the error is about.
    pub fn table(&self) -> Option<&str> {
        self.0.table()
    }

    /// The column the error is about.
    pub fn column(&self) -> Option<&str> {
        self.0.column()
    }

    /// The constraint the error is about.
    pub fn constraint(&self) -> Option<&str> {
        self.0.constraint()
    }

    /// tokio-postgres's full record of the error (position, `where`, the
    /// server's source file and line, …).
    pub fn db_error(&self) -> &DbError {
        &self.0
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (SQLSTATE {})", self.severity(), self.message(), self.code())?;
        if let Some(detail) = self.detail() {
            write!(f, "; {detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ServerError {}
