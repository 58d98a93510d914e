//! The per-connection statement cache: a repeated query is prepared once,
//! then only bound and executed (asyncpg's cache). The server's own record
//! shows it: `pg_prepared_statements` lists the session's protocol-level
//! statements with how many times each was planned for an execution.

mod support;

use asyncio_postgres::STATEMENT_CACHE_SIZE;
use support::connect;

/// The session's prepared statements with this exact text, and how many
/// executions each has served (generic plus custom plans).
async fn prepared(conn: &asyncio_postgres::Connection, sql: &str) -> Vec<i64> {
    conn.fetch(
        "SELECT generic_plans + custom_plans FROM pg_prepared_statements WHERE statement = $1 AND NOT from_sql",
        &[&sql],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

#[asyncio::test]
async fn a_repeated_query_is_prepared_once() {
    let conn = connect().await;
    let sql = "SELECT $1::int + 1";
    for i in 0..10i32 {
        assert_eq!(conn.fetchval::<i32>(sql, &[&i]).await.unwrap(), Some(i + 1));
    }
    // One statement on the server, executed ten times.
    assert_eq!(prepared(&conn, sql).await, [10]);
    // execute and fetchrow share the same cached statement.
    conn.execute(sql, &[&1i32]).await.unwrap();
    conn.fetchrow(sql, &[&1i32]).await.unwrap();
    assert_eq!(prepared(&conn, sql).await, [12]);
}

#[asyncio::test]
async fn executemany_prepares_once_for_all_its_rows() {
    let conn = connect().await;
    support::fresh_table(&conn, "cache_many", "id int").await;
    let sql = "INSERT INTO cache_many VALUES ($1)";
    let values: Vec<i32> = (0..25).collect();
    let args: Vec<[asyncio_postgres::Param<'_>; 1]> = values.iter().map(|v| [v as _]).collect();
    let args: Vec<&[asyncio_postgres::Param<'_>]> = args.iter().map(|a| &a[..]).collect();
    assert_eq!(conn.executemany(sql, &args).await.unwrap(), 25);
    assert_eq!(prepared(&conn, sql).await, [25]);
}

#[asyncio::test]
async fn the_cache_is_bounded_and_evicted_statements_are_closed_on_the_server() {
    let conn = connect().await;
    for i in 0..STATEMENT_CACHE_SIZE + 10 {
        conn.fetchval::<i32>(&format!("SELECT {i}"), &[]).await.unwrap();
    }
    assert_eq!(conn.statement_cache_len(), STATEMENT_CACHE_SIZE);
    // The least recently used were evicted and closed on the server: only
    // the cache's statements (and this query's own) remain.
    let on_server: i64 = conn
        .fetchval(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'SELECT %' AND NOT from_sql",
            &[],
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(on_server as usize, STATEMENT_CACHE_SIZE);
    let oldest = prepared(&conn, "SELECT 0").await;
    assert!(oldest.is_empty(), "the oldest statement is still prepared: {oldest:?}");
}

#[asyncio::test]
async fn a_statement_made_stale_by_a_schema_change_is_prepared_again() {
    let conn = connect().await;
    support::fresh_table(&conn, "cache_stale", "id int").await;
    conn.execute("INSERT INTO cache_stale VALUES (1)", &[]).await.unwrap();
    let sql = "SELECT * FROM cache_stale";
    assert_eq!(conn.fetch(sql, &[]).await.unwrap()[0].len(), 1);
    conn.execute("ALTER TABLE cache_stale ADD COLUMN name text DEFAULT 'x'", &[])
        .await
        .unwrap();
    // The cached statement's result type changed; the query is retried.
    let rows = conn.fetch(sql, &[]).await.unwrap();
    assert_eq!(rows[0].len(), 2);
    assert_eq!(rows[0].get::<_, &str>(1), "x");
}

#[asyncio::test]
async fn statements_deallocated_on_the_server_are_prepared_again() {
    let conn = connect().await;
    let sql = "SELECT 40 + 2";
    assert_eq!(conn.fetchval::<i32>(sql, &[]).await.unwrap(), Some(42));
    conn.execute("DEALLOCATE ALL", &[]).await.unwrap();
    assert_eq!(conn.fetchval::<i32>(sql, &[]).await.unwrap(), Some(42));
    assert_eq!(conn.execute(sql, &[]).await.unwrap(), 1);
}

/// Polls `future` once (its first poll sends its request), then drops it.
async fn send_then_drop<F: std::future::Future>(future: F) {
    let mut future = Box::pin(future);
    std::future::poll_fn(|cx| {
        let _ = future.as_mut().poll(cx);
        std::task::Poll::Ready(())
    })
    .await;
}

#[asyncio::test]
async fn prepares_dropped_after_they_were_sent_leave_no_statement_on_the_server() {
    let conn = connect().await;
    // Each query's first step is the prepare (a cache miss); it is dropped
    // while the server answers it. (Before, a cancel request went out
    // instead, which killed the prepare only when it came in time.)
    for i in 0..10 {
        send_then_drop(conn.fetchval::<i32>(&format!("SELECT $1::int + {i}"), &[&1i32])).await;
        conn.execute("SELECT 1", &[]).await.unwrap();
    }
    let left: Vec<String> = conn
        .fetch(
            "SELECT statement FROM pg_prepared_statements WHERE statement LIKE 'SELECT $1::int + %'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(left, Vec::<String>::new(), "abandoned statements still prepared");
    assert_eq!(conn.statement_cache_len(), 2, "only the two queries above are cached");
    // A text whose prepare was abandoned is prepared normally when asked again.
    let sql = "SELECT $1::int + 2";
    assert_eq!(conn.fetchval::<i32>(sql, &[&1i32]).await.unwrap(), Some(3));
    assert_eq!(prepared(&conn, sql).await, [1]);
}
