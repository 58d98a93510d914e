//! [`Transaction`]: a guard over `BEGIN` … `COMMIT`, or over a savepoint
//! when nested.
//!
//! Commit explicitly with [`Transaction::commit`]; a guard dropped without
//! it (an error returned with `?`, a panic, a cancelled task) rolls back:
//! its `Drop` queues the `ROLLBACK` on the connection's clean-up task (see
//! [`connection`](crate::connection)), which runs it before any later
//! statement of the connection.

use std::ops::Deref;

use crate::connection::RollbackOnDrop;
use crate::{Connection, Error};

/// An open transaction (or savepoint, when nested) on a [`Connection`].
///
/// Queries run through it as on the connection (it dereferences to it).
#[must_use = "a transaction rolls back when dropped; call .commit().await"]
pub struct Transaction<'a> {
    conn: &'a mut Connection,
    /// The savepoint's name when nested.
    savepoint: Option<String>,
    guard: Option<RollbackOnDrop>,
}

impl Connection {
    /// Starts a transaction (`BEGIN`) and returns its guard.
    ///
    /// # Errors
    /// [`Error::Server`] if `BEGIN` fails, [`Error::Closed`].
    ///
    /// # Cancel safety
    /// Dropping the future rolls back whatever it started.
    pub async fn transaction(&mut self) -> Result<Transaction<'_>, Error> {
        Transaction::begin(self, None).await
    }
}

impl<'a> Transaction<'a> {
    async fn begin(conn: &'a mut Connection, savepoint: Option<String>) -> Result<Transaction<'a>, Error> {
        let (begin, rollback) = match &savepoint {
            None => ("BEGIN".to_owned(), "ROLLBACK".to_owned()),
            Some(name) => (
                format!("SAVEPOINT {name}"),
                format!("ROLLBACK TO SAVEPOINT {name}; RELEASE SAVEPOINT {name}"),
            ),
        };
        conn.shared_idle().await;
        // The guard exists before `BEGIN` is sent: a future dropped while
        // it runs still rolls back.
        let guard = RollbackOnDrop::new(&conn.shared, rollback);
        conn.run(conn.client.batch_execute(&begin)).await?;
        Ok(Transaction {
            conn,
            savepoint,
            guard: Some(guard),
        })
    }

    /// Starts a nested transaction: a savepoint, released on commit, rolled
    /// back to when dropped without commit.
    ///
    /// # Errors
    /// As [`Connection::transaction`].
    ///
    /// # Cancel safety
    /// As [`Connection::transaction`].
    pub async fn transaction(&mut self) -> Result<Transaction<'_>, Error> {
        let depth = self.conn.shared.tx_depth.get();
        Transaction::begin(self.conn, Some(format!("asyncio_postgres_sp_{depth}"))).await
    }

    /// Commits (`COMMIT`, or `RELEASE SAVEPOINT` when nested).
    ///
    /// # Errors
    /// [`Error::Server`] if the commit fails (a deferred constraint, a
    /// serialization failure) or a statement failed earlier in the
    /// transaction (SQLSTATE `25P02`): the transaction is then rolled back.
    ///
    /// # Cancel safety
    /// Dropping the future before the server answers leaves the outcome
    /// unknown to the caller: a `ROLLBACK` is queued, which undoes the work
    /// if the commit had not yet happened.
    pub async fn commit(mut self) -> Result<(), Error> {
        // A nested transaction dropped just before has its rollback queued:
        // it goes out first, or this would commit (or release) its work.
        self.conn.shared_idle().await;
        let client = &self.conn.client;
        let result = match &self.savepoint {
            // The server answers COMMIT of a transaction that a failed
            // statement aborted with a plain "ROLLBACK", no error: a
            // `SELECT 1` pipelined before it (one round trip) reports the
            // abort instead of a silent loss.
            None => {
                let check_then_commit = async {
                    let (check, commit) =
                        futures_util::future::join(client.simple_query("SELECT 1"), client.batch_execute("COMMIT"))
                            .await;
                    commit?;
                    check.map(drop)
                };
                self.conn.run(check_then_commit).await
            }
            // RELEASE in an aborted transaction fails by itself.
            Some(name) => {
                self.conn
                    .run(client.batch_execute(&format!("RELEASE SAVEPOINT {name}")))
                    .await
            }
        };
        if result.is_ok() {
            if let Some(guard) = self.guard.take() {
                guard.disarm();
            }
        }
        result
    }

    /// Rolls back now and waits for the server's answer (dropping the guard
    /// does the same in the background).
    ///
    /// # Errors
    /// [`Error::Closed`] if the connection is gone; [`Error::Server`] if
    /// the server refuses the rollback.
    ///
    /// # Cancel safety
    /// Dropping the future still rolls back (in the background).
    pub async fn rollback(mut self) -> Result<(), Error> {
        let Some(guard) = self.guard.take() else {
            return Ok(());
        };
        match guard.roll_back().await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.conn.map_error(e)),
            Err(_) => Err(self.conn.closed()),
        }
    }
}

impl Deref for Transaction<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl std::fmt::Debug for Transaction<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("savepoint", &self.savepoint)
            .finish_non_exhaustive()
    }
}
