//! The transaction guard: commit explicitly; dropped without commit it
//! rolls back; nested guards are savepoints.

mod support;

use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use asyncio::net::{TcpListener, TcpStream};
use asyncio::sync::Event;
use asyncio_postgres::{Connection, Error};
use support::{connect, count, fresh_table, server};

#[asyncio::test]
async fn commit_makes_the_work_visible_to_others() {
    let mut conn = connect().await;
    fresh_table(&conn, "tx_commit", "id int").await;
    let other = connect().await;
    let tx = conn.transaction().await.unwrap();
    tx.execute("INSERT INTO tx_commit VALUES (1), (2)", &[]).await.unwrap();
    assert_eq!(count(&other, "tx_commit").await, 0, "visible before commit");
    tx.commit().await.unwrap();
    assert_eq!(count(&other, "tx_commit").await, 2);
}

#[asyncio::test]
async fn dropping_the_guard_rolls_back() {
    let mut conn = connect().await;
    fresh_table(&conn, "tx_drop", "id int").await;
    {
        let tx = conn.transaction().await.unwrap();
        tx.execute("INSERT INTO tx_drop VALUES (1)", &[]).await.unwrap();
        assert_eq!(count(&tx, "tx_drop").await, 1);
    }
    // The next statement runs after the queued ROLLBACK, outside any
    // transaction.
    assert_eq!(count(&conn, "tx_drop").await, 0);
    let in_tx: Option<bool> = conn
        .fetchval("SELECT pg_current_xact_id_if_assigned() IS NOT NULL", &[])
        .await
        .unwrap();
    assert_eq!(in_tx, Some(false));
    let other = connect().await;
    assert_eq!(count(&other, "tx_drop").await, 0);
}

async fn insert_then_fail(conn: &mut Connection) -> Result<(), Error> {
    let tx = conn.transaction().await?;
    tx.execute("INSERT INTO tx_question VALUES (1)", &[]).await?;
    tx.execute("INSERT INTO no_such_table VALUES (1)", &[]).await?;
    tx.commit().await
}

#[asyncio::test]
async fn an_error_returned_with_question_mark_rolls_back() {
    let mut conn = connect().await;
    fresh_table(&conn, "tx_question", "id int").await;
    let err = insert_then_fail(&mut conn).await.unwrap_err();
    assert_eq!(err.code(), Some("42P01"));
    assert_eq!(count(&conn, "tx_question").await, 0);
}

#[asyncio::test]
async fn explicit_rollback() {
    let mut conn = connect().await;
    fresh_table(&conn, "tx_rollback", "id int").await;
    let tx = conn.transaction().await.unwrap();
    tx.execute("INSERT INTO tx_rollback VALUES (1)", &[]).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(count(&conn, "tx_rollback").await, 0);
}

#[asyncio::test]
async fn nested_transactions_are_savepoints() {
    let mut conn = connect().await;
    fresh_table(&conn, "tx_nested", "id int").await;
    let mut outer = conn.transaction().await.unwrap();
    outer.execute("INSERT INTO tx_nested VALUES (1)", &[]).await.unwrap();
    {
        let inner = outer.transaction().await.unwrap();
        inner.execute("INSERT INTO tx_nested VALUES (2)", &[]).await.unwrap();
        // Dropped: rolled back to its savepoint only.
    }
    {
        let mut inner = outer.transaction().await.unwrap();
        inner.execute("INSERT INTO tx_nested VALUES (3)", &[]).await.unwrap();
        {
            let innermost = inner.transaction().await.unwrap();
            innermost
                .execute("INSERT INTO tx_nested VALUES (4)", &[])
                .await
                .unwrap();
            innermost.commit().await.unwrap();
        }
        inner.commit().await.unwrap();
    }
    {
        // A failed statement inside a savepoint spoils only the savepoint.
        let inner = outer.transaction().await.unwrap();
        assert!(inner.execute("INSERT INTO tx_nested VALUES ('x')", &[]).await.is_err());
    }
    outer.execute("INSERT INTO tx_nested VALUES (5)", &[]).await.unwrap();
    outer.commit().await.unwrap();
    let ids: Vec<i32> = conn
        .fetch("SELECT id FROM tx_nested ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids, [1, 3, 4, 5]);
}

#[asyncio::test]
async fn a_failed_commit_is_reported() {
    let mut conn = connect().await;
    fresh_table(&conn, "tx_deferred", "id int UNIQUE DEFERRABLE INITIALLY DEFERRED").await;
    let tx = conn.transaction().await.unwrap();
    tx.execute("INSERT INTO tx_deferred VALUES (1), (1)", &[])
        .await
        .unwrap();
    let err = tx.commit().await.unwrap_err();
    assert_eq!(err.code(), Some("23505"));
    assert_eq!(count(&conn, "tx_deferred").await, 0);
}

#[asyncio::test]
async fn executemany_inside_a_transaction_joins_it() {
    let mut conn = connect().await;
    fresh_table(&conn, "tx_many", "id int").await;
    {
        let tx = conn.transaction().await.unwrap();
        tx.executemany("INSERT INTO tx_many VALUES ($1)", &[&[&1i32], &[&2i32]])
            .await
            .unwrap();
        // Not committed: its rows go with the transaction.
    }
    assert_eq!(count(&conn, "tx_many").await, 0);
}

#[asyncio::test]
async fn committing_after_an_ignored_error_reports_the_rollback() {
    let mut conn = connect().await;
    fresh_table(&conn, "tx_ignored", "id int").await;
    let tx = conn.transaction().await.unwrap();
    tx.execute("INSERT INTO tx_ignored VALUES (1)", &[]).await.unwrap();
    assert!(tx.execute("SELECT no_such_column FROM tx_ignored", &[]).await.is_err());
    // The server would answer this COMMIT with ROLLBACK; the caller hears it.
    let err = tx.commit().await.unwrap_err();
    assert_eq!(err.code(), Some("25P02"), "{err}");
    assert_eq!(count(&conn, "tx_ignored").await, 0);
    // A savepoint in the same state reports it too.
    let mut tx = conn.transaction().await.unwrap();
    let sp = tx.transaction().await.unwrap();
    assert!(sp.execute("SELECT no_such_column FROM tx_ignored", &[]).await.is_err());
    assert_eq!(sp.commit().await.unwrap_err().code(), Some("25P02"));
}

/// A savepoint dropped right before its parent commits: its rollback goes
/// out first (it was only queued), so its work is not committed with the
/// parent's, nor released with it.
#[asyncio::test]
async fn a_savepoint_dropped_just_before_the_commit_is_rolled_back_first() {
    let mut conn = connect().await;
    fresh_table(&conn, "tx_sp_commit", "id int").await;
    let mut outer = conn.transaction().await.unwrap();
    outer.execute("INSERT INTO tx_sp_commit VALUES (1)", &[]).await.unwrap();
    let inner = outer.transaction().await.unwrap();
    inner.execute("INSERT INTO tx_sp_commit VALUES (2)", &[]).await.unwrap();
    drop(inner);
    outer.commit().await.unwrap();
    // Two levels: the middle one commits (releases) right after the
    // innermost is dropped.
    let mut outer = conn.transaction().await.unwrap();
    let mut middle = outer.transaction().await.unwrap();
    middle
        .execute("INSERT INTO tx_sp_commit VALUES (3)", &[])
        .await
        .unwrap();
    let innermost = middle.transaction().await.unwrap();
    innermost
        .execute("INSERT INTO tx_sp_commit VALUES (4)", &[])
        .await
        .unwrap();
    drop(innermost);
    middle.commit().await.unwrap();
    outer.commit().await.unwrap();
    let ids: Vec<i32> = conn
        .fetch("SELECT id FROM tx_sp_commit ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(ids, [1, 3]);
}

/// `rollback` returns once the server has rolled back: the transaction's
/// locks are free for others at once.
#[asyncio::test]
async fn rollback_returns_once_the_locks_are_released() {
    let mut conn = connect().await;
    fresh_table(&conn, "tx_locked", "id int").await;
    let pid: i32 = conn.fetchval("SELECT pg_backend_pid()", &[]).await.unwrap().unwrap();
    let other = connect().await;
    for _ in 0..20 {
        let tx = conn.transaction().await.unwrap();
        tx.execute("LOCK TABLE tx_locked IN ACCESS EXCLUSIVE MODE", &[])
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        let held: Option<i64> = other
            .fetchval(
                "SELECT count(*) FROM pg_locks WHERE relation = 'tx_locked'::regclass AND pid = $1",
                &[&pid],
            )
            .await
            .unwrap();
        assert_eq!(held, Some(0), "the lock outlived rollback()");
    }
}

/// `rollback` waits for the server's answer and reports it: on a session
/// the server ended, an error.
#[asyncio::test]
async fn rollback_reports_a_session_that_ended() {
    let mut conn = connect().await;
    let pid: i32 = conn.fetchval("SELECT pg_backend_pid()", &[]).await.unwrap().unwrap();
    let tx = conn.transaction().await.unwrap();
    let admin = connect().await;
    let ended: Option<bool> = admin
        .fetchval("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap();
    assert_eq!(ended, Some(true));
    let err = tx.rollback().await.unwrap_err();
    assert!(matches!(err, Error::Closed(_)), "{err:?}");
}

/// A TCP proxy to the test server for one connection, whose answers to
/// the client pass only while `gate` is set (held, not lost, meanwhile).
/// Returns its port.
async fn gated_proxy(gate: Rc<Event>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // Detached: they end with the test's loop.
    let _proxy = asyncio::create_task(async move {
        let (client, _) = listener.accept().await.unwrap();
        let upstream = TcpStream::connect(("127.0.0.1", server().port())).await.unwrap();
        let (client, upstream) = (Rc::new(client), Rc::new(upstream));
        let (from, to) = (client.clone(), upstream.clone());
        let _out = asyncio::create_task(async move {
            let mut buf = [0u8; 8192];
            while let Ok(n @ 1..) = from.read(&mut buf).await {
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        });
        let mut buf = [0u8; 8192];
        while let Ok(n @ 1..) = upstream.read(&mut buf).await {
            gate.wait().await;
            if client.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    });
    port
}

/// `rollback` returns only once the server has answered: with the answer
/// held back, it stays pending; let through, it returns.
#[asyncio::test]
async fn rollback_returns_only_once_the_server_has_answered() {
    let gate = Rc::new(Event::new());
    gate.set();
    let port = gated_proxy(gate.clone()).await;
    let dsn = format!(
        "postgresql://postgres:{}@127.0.0.1:{port}/postgres",
        asyncio_examples_support::pg::PASSWORD
    );
    let mut conn = asyncio_postgres::connect(&dsn).await.unwrap();
    let tx = conn.transaction().await.unwrap();
    tx.execute("SELECT 1", &[]).await.unwrap();
    gate.clear();
    let mut rollback = Box::pin(tx.rollback());
    for _ in 0..50 {
        let pending =
            std::future::poll_fn(|cx| Poll::Ready(std::future::Future::poll(rollback.as_mut(), cx).is_pending())).await;
        assert!(pending, "rollback returned before the server's answer");
        asyncio::sleep(Duration::ZERO).await;
    }
    gate.set();
    asyncio::timeout(Duration::from_secs(10), rollback)
        .await
        .expect("the answer let through")
        .unwrap();
    assert_eq!(conn.fetchval::<i32>("SELECT 1", &[]).await.unwrap(), Some(1));
}
