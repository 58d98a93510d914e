//! COPY, streamed: [`Connection::copy_records_to_table`] (rows in, in
//! PostgreSQL's binary format, the column types read from the table) and
//! [`Connection::copy_from_query`] (a query's output, as chunks of COPY
//! text).

use bytes::Bytes;
use futures_util::StreamExt;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::CopyOutStream;

use crate::connection::InFlight;
use crate::{Connection, Error, Param};

impl Connection {
    /// Copies `records` into `table` (its `columns`, in that order) with
    /// `COPY … FROM STDIN (FORMAT binary)`, streamed: each record is encoded
    /// into the socket's buffer as it comes. Returns the number of rows
    /// copied. The columns' types come from the table (a statement
    /// prepared for it, one round trip), as asyncpg's
    /// `copy_records_to_table` does.
    ///
    /// `table` and `columns` are SQL identifiers, quoted here.
    ///
    /// # Errors
    /// [`Error::Server`] if the table or a column does not exist or a row
    /// violates a constraint (nothing is copied then); [`Error::Client`] if
    /// a value does not convert to its column's type.
    ///
    /// # Cancel safety
    /// Dropping the future aborts the COPY (a cancel request): no row is
    /// copied.
    pub async fn copy_records_to_table<'p, I>(&self, table: &str, columns: &[&str], records: I) -> Result<u64, Error>
    where
        I: IntoIterator,
        I::Item: AsRef<[Param<'p>]>,
    {
        let columns: Vec<String> = columns.iter().map(|c| quote_identifier(c)).collect();
        let column_list = columns.join(", ");
        let table = quote_qualified(table);
        // Prepared anew each time, not cached: a cached statement's column
        // types would outlive an `ALTER COLUMN … TYPE` (a statement only
        // prepared is never found stale), and the rows would be encoded
        // for the old type, which the server can misread without error.
        self.shared_idle().await;
        let probe = self
            .prepare(format!("SELECT {column_list} FROM {table} LIMIT 0"))
            .await?;
        let types: Vec<_> = probe.columns().iter().map(|c| c.type_().clone()).collect();
        let copy = format!("COPY {table} ({column_list}) FROM STDIN (FORMAT binary)");
        let guard = InFlight::new(&self.shared);
        let result = async {
            let sink = self.client.copy_in::<_, Bytes>(copy.as_str()).await?;
            let writer = BinaryCopyInWriter::new(sink, &types);
            let mut writer = std::pin::pin!(writer);
            for record in records {
                writer.as_mut().write(record.as_ref()).await?;
            }
            writer.finish().await
        }
        .await;
        guard.finish();
        result.map_err(|e| self.map_error(e))
    }

    /// Runs `COPY (sql) TO STDOUT` and returns its output as a stream of
    /// chunks of COPY's text format (one or more lines each; tab-separated
    /// columns, `\N` for NULL), read from the socket as the caller takes
    /// them (asyncpg's `copy_from_query`, with the output as a stream).
    ///
    /// # Errors
    /// As [`fetch`](Connection::fetch), for starting the COPY.
    ///
    /// # Cancel safety
    /// Dropping the future, or the [`CopyOut`] before its end, cancels the
    /// COPY on the server (a cancel request), as a dropped query.
    pub async fn copy_from_query(&self, sql: &str) -> Result<CopyOut<'_>, Error> {
        self.shared_idle().await;
        let guard = InFlight::new(&self.shared);
        let stream = self.client.copy_out(format!("COPY ({sql}) TO STDOUT").as_str()).await;
        match stream {
            Ok(stream) => Ok(CopyOut {
                conn: self,
                stream: Box::pin(stream),
                guard: Some(guard),
            }),
            Err(e) => {
                guard.finish();
                Err(self.map_error(e))
            }
        }
    }
}

/// The output of [`Connection::copy_from_query`].
pub struct CopyOut<'a> {
    conn: &'a Connection,
    stream: std::pin::Pin<Box<CopyOutStream>>,
    /// Until the stream ends: dropped before, it cancels the COPY.
    guard: Option<InFlight<'a>>,
}

impl CopyOut<'_> {
    /// The next chunk, or `None` at the end of the output.
    ///
    /// # Errors
    /// [`Error::Server`] if the query fails midway, [`Error::Closed`].
    ///
    /// # Cancel safety
    /// Cancel safe: a chunk is only taken when the future completes.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, Error> {
        match self.stream.next().await {
            Some(Ok(chunk)) => Ok(Some(chunk)),
            Some(Err(e)) => {
                self.end();
                Err(self.conn.map_error(e))
            }
            None => {
                self.end();
                Ok(None)
            }
        }
    }
}

impl CopyOut<'_> {
    /// The COPY is over: nothing to cancel when dropped.
    fn end(&mut self) {
        if let Some(guard) = self.guard.take() {
            guard.finish();
        }
    }
}

impl std::fmt::Debug for CopyOut<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CopyOut")
            .field("done", &self.guard.is_none())
            .finish_non_exhaustive()
    }
}

/// `name` as an SQL identifier in double quotes (inner quotes doubled).
pub(crate) fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `schema.table` or `table`, each part quoted.
fn quote_qualified(name: &str) -> String {
    name.split('.').map(quote_identifier).collect::<Vec<_>>().join(".")
}
