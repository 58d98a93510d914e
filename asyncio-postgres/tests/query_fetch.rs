//! fetch, fetchrow, fetchval, execute, executemany against a real server.

mod support;

use asyncio_postgres::{Error, Param};
use support::{connect, count, fresh_table, server};

#[asyncio::test]
async fn fetch_returns_rows_with_typed_columns() {
    let conn = connect().await;
    let rows = conn
        .fetch(
            "SELECT g AS n, 'row ' || g AS label FROM generate_series(1, $1::int) g",
            &[&3i32],
        )
        .await
        .unwrap();
    let got: Vec<(i32, String)> = rows.iter().map(|r| (r.get("n"), r.get("label"))).collect();
    assert_eq!(got, [(1, "row 1".into()), (2, "row 2".into()), (3, "row 3".into())]);
}

#[asyncio::test]
async fn fetchrow_gives_the_first_row_or_none() {
    let conn = connect().await;
    let row = conn
        .fetchrow("SELECT $1::text, $2::int8", &[&"a", &7i64])
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.get::<_, &str>(0), row.get::<_, i64>(1)), ("a", 7));
    assert!(conn.fetchrow("SELECT 1 WHERE false", &[]).await.unwrap().is_none());
    // The other rows are read and dropped: the connection goes on.
    let first = conn
        .fetchrow("SELECT g FROM generate_series(5, 1000) g", &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.get::<_, i32>(0), 5);
    assert_eq!(conn.fetchval::<i32>("SELECT 6", &[]).await.unwrap(), Some(6));
}

#[asyncio::test]
async fn fetchval_gives_the_first_column_and_null_as_option() {
    let conn = connect().await;
    assert_eq!(
        conn.fetchval::<i32>("SELECT 40 + $1", &[&2i32]).await.unwrap(),
        Some(42)
    );
    assert_eq!(
        conn.fetchval::<Option<i32>>("SELECT NULL::int", &[]).await.unwrap(),
        Some(None)
    );
    assert_eq!(conn.fetchval::<i32>("SELECT 1 WHERE false", &[]).await.unwrap(), None);
    // A NULL read as a plain i32 is a conversion error, not a panic.
    assert!(matches!(
        conn.fetchval::<i32>("SELECT NULL::int", &[]).await,
        Err(Error::Client(_))
    ));
    // So is a column of another type.
    assert!(matches!(
        conn.fetchval::<i32>("SELECT 'x'::text", &[]).await,
        Err(Error::Client(_))
    ));
}

#[asyncio::test]
async fn execute_returns_rows_affected() {
    let conn = connect().await;
    fresh_table(&conn, "exec_counts", "id int").await;
    assert_eq!(
        conn.execute("INSERT INTO exec_counts SELECT generate_series(1, 5)", &[])
            .await
            .unwrap(),
        5
    );
    assert_eq!(
        conn.execute("UPDATE exec_counts SET id = id + 1 WHERE id > $1", &[&2i32])
            .await
            .unwrap(),
        3
    );
    assert_eq!(conn.execute("DELETE FROM exec_counts", &[]).await.unwrap(), 5);
}

#[asyncio::test]
async fn executemany_runs_each_parameter_list() {
    let conn = connect().await;
    fresh_table(&conn, "many_ok", "id int PRIMARY KEY, name text").await;
    let affected = conn
        .executemany(
            "INSERT INTO many_ok VALUES ($1, $2)",
            &[&[&1i32, &"a"], &[&2i32, &"b"], &[&3i32, &"c"]],
        )
        .await
        .unwrap();
    assert_eq!(affected, 3);
    let names: Vec<String> = conn
        .fetch("SELECT name FROM many_ok ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
}

#[asyncio::test]
async fn executemany_is_all_or_nothing() {
    let conn = connect().await;
    fresh_table(&conn, "many_atomic", "id int PRIMARY KEY").await;
    let err = conn
        .executemany(
            "INSERT INTO many_atomic VALUES ($1)",
            &[&[&1i32], &[&2i32], &[&1i32], &[&3i32]],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("23505"), "{err}");
    assert_eq!(count(&conn, "many_atomic").await, 0);
    // The connection is out of the failed transaction.
    assert_eq!(
        conn.execute("INSERT INTO many_atomic VALUES (9)", &[]).await.unwrap(),
        1
    );
}

#[asyncio::test]
async fn unix_socket_and_key_value_dsn() {
    let conn = asyncio_postgres::connect(&server().unix_dsn()).await.unwrap();
    // Over a Unix socket the server sees no client address.
    let addr = conn
        .fetchval::<Option<String>>("SELECT inet_client_addr()::text", &[])
        .await
        .unwrap();
    assert_eq!(addr, Some(None));
    assert_eq!(
        conn.fetchval::<String>("SELECT current_user::text", &[])
            .await
            .unwrap()
            .unwrap(),
        "postgres"
    );
}

#[asyncio::test]
async fn tasks_sharing_a_connection_pipeline_their_queries() {
    let conn = std::rc::Rc::new(connect().await);
    let tasks: Vec<_> = (0..20i32)
        .map(|i| {
            let conn = conn.clone();
            asyncio::create_task(async move { conn.fetchval::<i32>("SELECT $1::int * 2", &[&i]).await })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.unwrap().unwrap(), Some(i as i32 * 2));
    }
}

#[asyncio::test]
async fn close_ends_the_session() {
    let conn = connect().await;
    let pid: i32 = conn.fetchval("SELECT pg_backend_pid()", &[]).await.unwrap().unwrap();
    conn.close().await;
    let other = connect().await;
    // The server notices the Terminate message; poll to a generous deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let alive: i64 = other
            .fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", &[&pid])
            .await
            .unwrap()
            .unwrap();
        if alive == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "backend {pid} still there");
        asyncio::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Other tasks' statements on a shared connection never land inside
/// executemany's own transaction: a batch that fails and rolls back takes
/// none of their work with it.
#[asyncio::test]
async fn executemany_on_a_shared_connection_keeps_other_tasks_out_of_its_transaction() {
    let conn = std::rc::Rc::new(connect().await);
    fresh_table(&conn, "many_shared_a", "id int PRIMARY KEY").await;
    fresh_table(&conn, "many_shared_b", "id int").await;
    let batch = asyncio::create_task({
        let conn = conn.clone();
        async move {
            // The last row breaks the primary key: the batch rolls back.
            let ids: Vec<i32> = (0..200).chain([0]).collect();
            let rows: Vec<[Param<'_>; 1]> = ids.iter().map(|id| [id as Param<'_>]).collect();
            let args: Vec<&[Param<'_>]> = rows.iter().map(|r| &r[..]).collect();
            conn.executemany("INSERT INTO many_shared_a VALUES ($1)", &args).await
        }
    });
    // Meanwhile another task writes on the same connection.
    let mut written = 0;
    while !batch.done() {
        conn.execute("INSERT INTO many_shared_b VALUES (1)", &[]).await.unwrap();
        written += 1;
    }
    let err = batch.await.unwrap().unwrap_err();
    assert_eq!(err.code(), Some("23505"), "{err:?}");
    assert_eq!(count(&conn, "many_shared_a").await, 0);
    assert!(written > 0);
    assert_eq!(
        count(&conn, "many_shared_b").await,
        written,
        "none of the other task's rows lost"
    );
}

/// A parameter list refused before it is sent (here a text for an `int`
/// column) leaves nothing of the lists before it: the transaction rolls
/// back instead of committing them.
#[asyncio::test]
async fn executemany_with_a_list_refused_before_sending_applies_nothing() {
    let conn = connect().await;
    fresh_table(&conn, "many_refused", "id int").await;
    let err = conn
        .executemany(
            "INSERT INTO many_refused VALUES ($1)",
            &[&[&1i32], &[&2i32], &[&"three"], &[&4i32]],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Client(_)), "{err:?}");
    assert_eq!(count(&conn, "many_refused").await, 0);
    // A wrong number of parameters is refused the same way.
    conn.executemany("INSERT INTO many_refused VALUES ($1)", &[&[&1i32], &[]])
        .await
        .unwrap_err();
    assert_eq!(count(&conn, "many_refused").await, 0);
    assert_eq!(
        conn.executemany("INSERT INTO many_refused VALUES ($1)", &[&[&1i32], &[&2i32]])
            .await
            .unwrap(),
        2
    );
}

/// Two executemany calls at once on a shared connection each run in a
/// transaction of their own: the one that fails applies none of its rows,
/// the other all of its rows.
#[asyncio::test]
async fn concurrent_executemany_calls_are_each_atomic() {
    let conn = std::rc::Rc::new(connect().await);
    fresh_table(&conn, "many_concurrent", "id int PRIMARY KEY").await;
    let batch = |ids: Vec<i32>| {
        let conn = conn.clone();
        asyncio::create_task(async move {
            let rows: Vec<[Param<'_>; 1]> = ids.iter().map(|id| [id as Param<'_>]).collect();
            let args: Vec<&[Param<'_>]> = rows.iter().map(|r| &r[..]).collect();
            conn.executemany("INSERT INTO many_concurrent VALUES ($1)", &args).await
        })
    };
    // The second breaks its own primary key half-way.
    let good = batch((0..100).collect());
    let bad = batch((100..150).chain([100]).chain(150..200).collect());
    assert_eq!(good.await.unwrap().unwrap(), 100);
    let err = bad.await.unwrap().unwrap_err();
    assert_eq!(err.code(), Some("23505"), "{err:?}");
    assert_eq!(count(&conn, "many_concurrent").await, 100);
}

/// Dropped while its executions run, executemany applies none of them: the
/// cancel sent on drop aborts its transaction before the `COMMIT`.
#[asyncio::test]
async fn executemany_dropped_half_way_applies_nothing() {
    let conn = connect().await;
    fresh_table(&conn, "many_dropped", "id int").await;
    // The second execution sleeps until cancelled.
    let sql = "INSERT INTO many_dropped SELECT $1::int FROM pg_sleep(CASE WHEN $1::int = 2 THEN 30 ELSE 0 END)";
    let dropped = asyncio::timeout(
        std::time::Duration::from_millis(200),
        conn.executemany(sql, &[&[&1i32], &[&2i32], &[&3i32]]),
    )
    .await;
    assert!(dropped.is_err(), "{dropped:?}");
    assert_eq!(count(&conn, "many_dropped").await, 0);
    assert_eq!(conn.executemany(sql, &[&[&1i32], &[&3i32]]).await.unwrap(), 2);
}
