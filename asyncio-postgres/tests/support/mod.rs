//! What every test binary of asyncio-postgres shares: one throwaway server
//! per binary (examples-support's `pg`), stopped when the binary exits.

#![allow(dead_code)]

use asyncio_examples_support::pg::TempPostgres;
use asyncio_postgres::Connection;

/// The binary's server.
pub fn server() -> &'static TempPostgres {
    TempPostgres::shared()
}

/// A connection over TCP (SCRAM password).
pub async fn connect() -> Connection {
    asyncio_postgres::connect(&server().dsn())
        .await
        .expect("connect over TCP")
}

/// A table named `name`, dropped first if a previous run left it.
pub async fn fresh_table(conn: &Connection, name: &str, columns: &str) {
    conn.execute(&format!("DROP TABLE IF EXISTS {name}"), &[])
        .await
        .unwrap();
    conn.execute(&format!("CREATE TABLE {name} ({columns})"), &[])
        .await
        .unwrap();
}

/// `SELECT count(*)` of a table.
pub async fn count(conn: &Connection, table: &str) -> i64 {
    conn.fetchval::<i64>(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .unwrap()
}
