//! COPY in (copy_records_to_table) and out (copy_from_query), streamed.

mod support;

use std::time::{Duration, Instant};

use asyncio_postgres::{Error, Param};
use support::{connect, count, fresh_table};

#[asyncio::test]
async fn records_are_copied_into_the_table_with_its_column_types() {
    let conn = connect().await;
    fresh_table(&conn, "copy_in_rows", "id int8, name text, score float8, note text").await;
    let rows: Vec<(i64, String, f64)> = (0..1000).map(|i| (i, format!("name {i}"), i as f64 / 2.0)).collect();
    let records = rows.iter().map(|(id, name, score)| [id as Param<'_>, name, score]);
    let copied = conn
        .copy_records_to_table("copy_in_rows", &["id", "name", "score"], records)
        .await
        .unwrap();
    assert_eq!(copied, 1000);
    assert_eq!(count(&conn, "copy_in_rows").await, 1000);
    let row = conn
        .fetchrow("SELECT name, score, note FROM copy_in_rows WHERE id = 999", &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.get::<_, &str>(0), "name 999");
    assert_eq!(row.get::<_, f64>(1), 499.5);
    assert_eq!(row.get::<_, Option<&str>>(2), None);
}

#[asyncio::test]
async fn a_bad_row_copies_nothing() {
    let conn = connect().await;
    fresh_table(&conn, "copy_in_bad", "id int PRIMARY KEY").await;
    let ids = [1i32, 2, 2, 3];
    let err = conn
        .copy_records_to_table("copy_in_bad", &["id"], ids.iter().map(|id| [id as Param<'_>]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("23505"), "{err}");
    assert_eq!(count(&conn, "copy_in_bad").await, 0);
    // A value of the wrong type is a client-side error.
    let err = conn
        .copy_records_to_table("copy_in_bad", &["id"], [[&"x" as Param<'_>]])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Client(_)), "{err:?}");
    assert_eq!(conn.fetchval::<i32>("SELECT 1", &[]).await.unwrap(), Some(1));
}

#[asyncio::test]
async fn an_unknown_table_is_a_server_error() {
    let conn = connect().await;
    let err = conn
        .copy_records_to_table("no_such_table", &["id"], [[&1i32 as Param<'_>]])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("42P01"));
}

#[asyncio::test]
async fn a_query_is_copied_out_in_chunks() {
    let conn = connect().await;
    let mut out = conn
        .copy_from_query("SELECT g, 'row ' || g, NULL FROM generate_series(1, 20000) g")
        .await
        .unwrap();
    let mut text = Vec::new();
    let mut chunks = 0;
    while let Some(chunk) = out.next_chunk().await.unwrap() {
        chunks += 1;
        text.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(text).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 20000);
    assert_eq!(lines[0], "1\trow 1\t\\N");
    assert_eq!(lines[19999], "20000\trow 20000\t\\N");
    assert!(chunks > 1, "one chunk: not streamed");
    drop(out);
    assert_eq!(conn.fetchval::<i32>("SELECT 1", &[]).await.unwrap(), Some(1));
}

#[asyncio::test]
async fn dropping_the_copy_out_early_cancels_it() {
    let conn = connect().await;
    let start = Instant::now();
    // Slow on the server: one row, then ten seconds of sleep. The server
    // may hold back even the start of the output (its send buffer), so the
    // whole read is what times out.
    let read_all = async {
        let mut out = conn
            .copy_from_query("SELECT g, pg_sleep(CASE WHEN g = 2 THEN 10 ELSE 0 END) FROM generate_series(1, 3) g")
            .await?;
        let mut chunks = 0;
        while out.next_chunk().await?.is_some() {
            chunks += 1;
        }
        Ok::<_, Error>(chunks)
    };
    let result = asyncio::timeout(Duration::from_millis(200), read_all).await;
    assert!(result.is_err(), "the copy finished: {result:?}");
    assert_eq!(conn.fetchval::<i32>("SELECT 1", &[]).await.unwrap(), Some(1));
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
}

#[asyncio::test]
async fn dropping_a_started_copy_out_cancels_it() {
    let conn = connect().await;
    let start = Instant::now();
    {
        // 100,000 rows stream at once (they fill the server's send buffer,
        // so it flushes), then the last row sleeps ten seconds.
        let mut out = conn
            .copy_from_query("SELECT g, CASE WHEN g = 100001 THEN pg_sleep(10) END FROM generate_series(1, 100001) g")
            .await
            .unwrap();
        assert!(out.next_chunk().await.unwrap().is_some());
        // Dropped here, mid-stream.
    }
    assert_eq!(conn.fetchval::<i32>("SELECT 1", &[]).await.unwrap(), Some(1));
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
}

/// The column types come from the table as it is now: after `ALTER COLUMN
/// … TYPE`, rows are encoded for the new type.
#[asyncio::test]
async fn copy_after_a_column_changed_type_uses_the_new_type() {
    let conn = connect().await;
    fresh_table(&conn, "copy_altered", "x int8").await;
    let copied = conn
        .copy_records_to_table("copy_altered", &["x"], [[&1i64 as Param<'_>]])
        .await
        .unwrap();
    assert_eq!(copied, 1);
    conn.execute("ALTER TABLE copy_altered ALTER COLUMN x TYPE float8", &[])
        .await
        .unwrap();
    let copied = conn
        .copy_records_to_table("copy_altered", &["x"], [[&2.5f64 as Param<'_>]])
        .await
        .unwrap();
    assert_eq!(copied, 1);
    let sum: Option<f64> = conn.fetchval("SELECT sum(x) FROM copy_altered", &[]).await.unwrap();
    assert_eq!(sum, Some(3.5));
}
