//! Cancellation as asyncio users expect: a query whose future is dropped
//! while it runs (a timeout, a cancelled task) is cancelled on the server,
//! and the connection answers the next query at once.

mod support;

use std::time::{Duration, Instant};

use asyncio_postgres::Connection;
use support::{connect, server};

/// Far below `pg_sleep(10)`: a query that was not cancelled on the server
/// would hold the connection past it.
const PROMPTLY: Duration = Duration::from_secs(5);

async fn assert_cancel_by_timeout(conn: &Connection) {
    let start = Instant::now();
    let result = asyncio::timeout(Duration::from_millis(100), conn.fetch("SELECT pg_sleep(10)", &[])).await;
    assert!(result.is_err(), "the sleep finished: {result:?}");
    assert_eq!(conn.fetchval::<i32>("SELECT 1", &[]).await.unwrap(), Some(1));
    assert!(start.elapsed() < PROMPTLY, "took {:?}", start.elapsed());
}

#[asyncio::test]
async fn timeout_cancels_the_query_on_the_server_over_tcp() {
    let conn = connect().await;
    assert_cancel_by_timeout(&conn).await;
    // Again: the cancel machinery resets.
    assert_cancel_by_timeout(&conn).await;
}

#[asyncio::test]
async fn timeout_cancels_the_query_on_the_server_over_a_unix_socket() {
    let conn = asyncio_postgres::connect(&server().unix_dsn()).await.unwrap();
    assert_cancel_by_timeout(&conn).await;
}

#[asyncio::test]
async fn cancelling_the_task_cancels_the_query() {
    let conn = std::rc::Rc::new(connect().await);
    let pid: i32 = conn.fetchval("SELECT pg_backend_pid()", &[]).await.unwrap().unwrap();
    let task = {
        let conn = conn.clone();
        asyncio::create_task(async move { conn.execute("SELECT pg_sleep(10)", &[]).await })
    };
    // Wait (to a generous deadline) until the server runs the sleep.
    let observer = connect().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let running: i64 = observer
            .fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND query LIKE '%pg_sleep(10)%' AND state = 'active'", &[&pid])
            .await
            .unwrap()
            .unwrap();
        if running == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the sleep never started");
        asyncio::sleep(Duration::from_millis(5)).await;
    }
    let start = Instant::now();
    task.cancel();
    assert!(task.await.is_err());
    assert_eq!(conn.fetchval::<i32>("SELECT 1", &[]).await.unwrap(), Some(1));
    assert!(start.elapsed() < PROMPTLY, "took {:?}", start.elapsed());
    // The server's record: the backend is idle again, no sleep running.
    let state: Option<String> = observer
        .fetchval("SELECT state FROM pg_stat_activity WHERE pid = $1", &[&pid])
        .await
        .unwrap()
        .flatten();
    assert_eq!(state.as_deref(), Some("idle"));
}

#[asyncio::test]
async fn a_finished_query_sends_no_cancel() {
    // A query that completes leaves nothing queued: the next statement, a
    // long one, is not cut short by a stray cancel request.
    let conn = connect().await;
    for _ in 0..5 {
        conn.fetchval::<i32>("SELECT 1", &[]).await.unwrap();
    }
    let slept = conn.execute("SELECT pg_sleep(0.2)", &[]).await;
    assert!(slept.is_ok(), "{slept:?}");
}

#[asyncio::test]
async fn a_cancelled_query_inside_a_transaction_rolls_back_with_it() {
    let mut conn = connect().await;
    support::fresh_table(&conn, "cancel_tx", "id int").await;
    {
        let tx = conn.transaction().await.unwrap();
        tx.execute("INSERT INTO cancel_tx VALUES (1)", &[]).await.unwrap();
        let result = asyncio::timeout(Duration::from_millis(100), tx.fetch("SELECT pg_sleep(10)", &[])).await;
        assert!(result.is_err());
        // The transaction is aborted on the server; dropping the guard
        // rolls it back.
    }
    assert_eq!(support::count(&conn, "cancel_tx").await, 0);
    assert_eq!(conn.fetchval::<i32>("SELECT 1", &[]).await.unwrap(), Some(1));
}

#[asyncio::test]
async fn statement_timeout_is_its_own_error() {
    let conn = connect().await;
    conn.execute("SET statement_timeout = 50", &[]).await.unwrap();
    let err = conn.execute("SELECT pg_sleep(10)", &[]).await.unwrap_err();
    match &err {
        asyncio_postgres::Error::StatementTimeout(e) => assert_eq!(e.code(), "57014"),
        other => panic!("expected Error::StatementTimeout, got {other:?}"),
    }
    assert_eq!(err.code(), Some("57014"));
    conn.execute("RESET statement_timeout", &[]).await.unwrap();
    assert_eq!(conn.fetchval::<i32>("SELECT 1", &[]).await.unwrap(), Some(1));
}

/// A query dropped about when it finishes: whether the cancel reaches it
/// or comes too late, the interrupt never lands on a later statement (the
/// cancel is waited for until the server has delivered it, then spent).
#[asyncio::test]
async fn a_cancel_that_comes_too_late_never_hits_the_next_statement() {
    let conn = connect().await;
    for i in 0..40u64 {
        let limit = Duration::from_micros(15_000 + i * 250);
        let _ = asyncio::timeout(limit, conn.fetch("SELECT pg_sleep(0.02)", &[])).await;
        for _ in 0..2 {
            let one = conn.fetchval::<i32>("SELECT 1", &[]).await;
            assert_eq!(one.unwrap(), Some(1), "round {i}");
        }
    }
}

/// A cancel that cannot be delivered (the server's port no longer takes
/// connections) leaves a session that may still run the dropped query: a
/// pool does not hand it out again.
#[asyncio::test]
async fn a_pool_drops_a_connection_whose_cancel_failed() {
    // A forwarder that takes one connection, then refuses all others.
    let listener = asyncio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let forward = asyncio::create_task(async move {
        let (client, _) = listener.accept().await.unwrap();
        drop(listener);
        let upstream = asyncio::net::TcpStream::connect(("127.0.0.1", server().port()))
            .await
            .unwrap();
        let (client, upstream) = (std::rc::Rc::new(client), std::rc::Rc::new(upstream));
        let copy = |from: std::rc::Rc<asyncio::net::TcpStream>, to: std::rc::Rc<asyncio::net::TcpStream>| async move {
            let mut buf = vec![0u8; 16 << 10];
            while let Ok(n @ 1..) = from.read(&mut buf).await {
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        };
        let up = asyncio::create_task(copy(client.clone(), upstream.clone()));
        copy(upstream, client).await;
        up.cancel();
    });
    let dsn = format!(
        "postgresql://postgres:{}@127.0.0.1:{port}/postgres",
        asyncio_examples_support::pg::PASSWORD
    );
    let pool = asyncio_postgres::create_pool(&dsn)
        .min_size(1)
        .max_size(1)
        .await
        .unwrap();
    {
        let conn = pool.acquire().await.unwrap();
        let result = asyncio::timeout(Duration::from_millis(100), conn.fetch("SELECT pg_sleep(3)", &[])).await;
        assert!(result.is_err());
    }
    // The only connection is not handed out (it would answer after the
    // sleep); a new one is refused by the forwarder.
    let start = Instant::now();
    let err = pool.acquire().await.unwrap_err();
    assert!(matches!(err, asyncio_postgres::Error::Connect { .. }), "{err:?}");
    assert!(start.elapsed() < PROMPTLY, "took {:?}", start.elapsed());
    assert_eq!(pool.stats().size, 0);
    forward.cancel();
}
