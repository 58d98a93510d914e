//! The pool: sizes, acquire with a timeout, FIFO waiters, release on drop,
//! and connections never handed out dirty.

mod support;

use std::time::{Duration, Instant};

use asyncio_postgres::{create_pool, Error, Pool};
use support::{connect, count, fresh_table, server};

/// The server's DSN with an `application_name`, so a test can count its
/// own backends in `pg_stat_activity`.
fn dsn(app: &str) -> String {
    format!("{}?application_name={app}", server().dsn())
}

async fn backends(app: &str) -> i64 {
    let conn = connect().await;
    conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
        &[&app],
    )
    .await
    .unwrap()
    .unwrap()
}

async fn pid(pool: &Pool) -> i32 {
    pool.acquire()
        .await
        .unwrap()
        .fetchval("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .unwrap()
}

#[asyncio::test]
async fn min_size_connections_open_at_creation_and_max_size_bounds_them() {
    let pool = create_pool(&dsn("pool_sizes")).min_size(2).max_size(3).await.unwrap();
    assert_eq!(backends("pool_sizes").await, 2);
    assert_eq!(pool.stats().size, 2);
    let a = pool.acquire().await.unwrap();
    let b = pool.acquire().await.unwrap();
    let c = pool.acquire().await.unwrap();
    assert_eq!(pool.stats().size, 3);
    assert_eq!(backends("pool_sizes").await, 3);
    // A fourth waits; with a timeout it gives up.
    let waited = asyncio::timeout(Duration::from_millis(50), pool.acquire()).await;
    assert!(waited.is_err());
    drop((a, b, c));
    assert_eq!(
        pool.stats(),
        asyncio_postgres::PoolStats {
            size: 3,
            idle: 3,
            waiting: 0
        }
    );
}

#[asyncio::test]
async fn acquire_timeout_is_its_own_error() {
    let pool = create_pool(&server().dsn())
        .min_size(1)
        .max_size(1)
        .acquire_timeout(Duration::from_millis(50))
        .await
        .unwrap();
    let held = pool.acquire().await.unwrap();
    assert!(matches!(pool.acquire().await, Err(Error::AcquireTimeout)));
    drop(held);
    assert!(pool.acquire().await.is_ok());
}

#[asyncio::test]
async fn a_released_connection_is_reused() {
    let pool = create_pool(&server().dsn()).min_size(1).max_size(1).await.unwrap();
    let first = pid(&pool).await;
    assert_eq!(pid(&pool).await, first);
    assert_eq!(pid(&pool).await, first);
}

#[asyncio::test]
async fn waiters_are_served_in_arrival_order() {
    let pool = create_pool(&server().dsn()).min_size(1).max_size(1).await.unwrap();
    let held = pool.acquire().await.unwrap();
    let order = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let tasks: Vec<_> = (0..5)
        .map(|i| {
            let (pool, order) = (pool.clone(), order.clone());
            asyncio::create_task(async move {
                let conn = pool.acquire().await.unwrap();
                order.borrow_mut().push(i);
                conn.execute("SELECT 1", &[]).await.unwrap();
            })
        })
        .collect();
    // Let every task reach the queue, in creation order.
    while pool.stats().waiting < 5 {
        asyncio::yield_now().await;
    }
    drop(held);
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(*order.borrow(), [0, 1, 2, 3, 4]);
}

#[asyncio::test]
async fn a_transaction_left_open_is_rolled_back_before_the_next_user() {
    let pool = create_pool(&server().dsn()).min_size(1).max_size(1).await.unwrap();
    {
        let conn = pool.acquire().await.unwrap();
        fresh_table(&conn, "pool_dirty_tx", "id int").await;
    }
    {
        let mut conn = pool.acquire().await.unwrap();
        let tx = conn.transaction().await.unwrap();
        tx.execute("INSERT INTO pool_dirty_tx VALUES (1)", &[]).await.unwrap();
        drop(tx);
    }
    let conn = pool.acquire().await.unwrap();
    assert_eq!(count(&conn, "pool_dirty_tx").await, 0);
    let in_tx: Option<bool> = conn
        .fetchval("SELECT pg_current_xact_id_if_assigned() IS NOT NULL", &[])
        .await
        .unwrap();
    assert_eq!(in_tx, Some(false));
}

#[asyncio::test]
async fn session_settings_are_reset_on_release_and_statements_kept() {
    let pool = create_pool(&server().dsn()).min_size(1).max_size(1).await.unwrap();
    {
        let conn = pool.acquire().await.unwrap();
        conn.execute("SET statement_timeout = 1234", &[]).await.unwrap();
        conn.fetchval::<i32>("SELECT 7", &[]).await.unwrap();
    }
    let conn = pool.acquire().await.unwrap();
    assert_eq!(
        conn.fetchval::<String>("SHOW statement_timeout", &[])
            .await
            .unwrap()
            .as_deref(),
        Some("0")
    );
    // The statement cache survives the reset (no DISCARD ALL).
    assert_eq!(conn.fetchval::<i32>("SELECT 7", &[]).await.unwrap(), Some(7));
}

#[asyncio::test]
async fn a_query_cancelled_in_a_pooled_connection_leaves_it_clean() {
    let pool = create_pool(&server().dsn()).min_size(1).max_size(1).await.unwrap();
    let start = Instant::now();
    {
        let conn = pool.acquire().await.unwrap();
        let r = asyncio::timeout(Duration::from_millis(100), conn.fetch("SELECT pg_sleep(10)", &[])).await;
        assert!(r.is_err());
    }
    let conn = pool.acquire().await.unwrap();
    assert_eq!(conn.fetchval::<i32>("SELECT 1", &[]).await.unwrap(), Some(1));
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
}

#[asyncio::test]
async fn a_connection_released_during_a_panic_is_discarded() {
    let pool = create_pool(&server().dsn()).min_size(1).max_size(2).await.unwrap();
    let task = {
        let pool = pool.clone();
        asyncio::create_task(async move {
            let _conn = pool.acquire().await.unwrap();
            panic!("holder fails");
        })
    };
    assert!(task.await.unwrap_err().is_panic());
    assert_eq!(pool.stats().size, 0);
    assert!(pid(&pool).await > 0);
    assert_eq!(pool.stats().size, 1);
}

#[asyncio::test]
async fn a_connection_the_server_ended_is_replaced() {
    let pool = create_pool(&server().dsn()).min_size(1).max_size(1).await.unwrap();
    let old = pid(&pool).await;
    let admin = connect().await;
    admin
        .execute("SELECT pg_terminate_backend($1, 30000)", &[&old])
        .await
        .unwrap();
    // The pool learns of the end when the connection's socket reports it
    // (or a query fails); either way the next acquires get a live one.
    let deadline = Instant::now() + Duration::from_secs(30);
    let new = loop {
        let conn = pool.acquire().await.unwrap();
        match conn.fetchval::<i32>("SELECT pg_backend_pid()", &[]).await {
            Ok(pid) => break pid.unwrap(),
            Err(Error::Closed(_)) => assert!(Instant::now() < deadline),
            Err(e) => panic!("{e}"),
        }
    };
    assert_ne!(new, old);
    assert_eq!(pool.stats().size, 1);
}

#[asyncio::test]
async fn close_waits_for_acquired_connections_then_refuses() {
    let pool = create_pool(&dsn("pool_close")).min_size(2).max_size(2).await.unwrap();
    let held = pool.acquire().await.unwrap();
    let closing = {
        let pool = pool.clone();
        asyncio::create_task(async move { pool.close().await })
    };
    asyncio::yield_now().await;
    assert!(!closing.done());
    assert!(matches!(pool.acquire().await, Err(Error::PoolClosed)));
    drop(held);
    closing.await.unwrap();
    assert_eq!(pool.stats().size, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while backends("pool_close").await != 0 {
        assert!(Instant::now() < deadline, "the pool's backends are still there");
        asyncio::sleep(Duration::from_millis(10)).await;
    }
}

#[asyncio::test]
async fn a_connection_idle_too_long_is_replaced() {
    let pool = create_pool(&server().dsn())
        .min_size(1)
        .max_size(1)
        .max_inactive_connection_lifetime(Some(Duration::from_millis(1)))
        .await
        .unwrap();
    let first = pid(&pool).await;
    // Past the limit (the check compares elapsed time, so this is exact).
    asyncio::sleep(Duration::from_millis(20)).await;
    let second = pid(&pool).await;
    assert_ne!(first, second);
    assert_eq!(pool.stats().size, 1);
}

#[asyncio::test]
async fn a_connection_past_its_max_lifetime_is_closed_on_release() {
    let pool = create_pool(&server().dsn())
        .min_size(0)
        .max_size(1)
        .max_lifetime(Some(Duration::from_millis(1)))
        .await
        .unwrap();
    let conn = pool.acquire().await.unwrap();
    asyncio::sleep(Duration::from_millis(20)).await;
    drop(conn);
    assert_eq!(pool.stats().size, 0);
}

#[asyncio::test]
async fn the_health_check_replaces_a_dead_idle_connection_before_handing_it_out() {
    let pool = create_pool(&server().dsn())
        .min_size(1)
        .max_size(1)
        .health_check_after(Some(Duration::ZERO))
        .await
        .unwrap();
    let old = pid(&pool).await;
    let admin = connect().await;
    admin
        .execute("SELECT pg_terminate_backend($1, 30000)", &[&old])
        .await
        .unwrap();
    // Whether or not the driver has seen the end yet, the caller's first
    // query succeeds on a new connection.
    let conn = pool.acquire().await.unwrap();
    let new: i32 = conn.fetchval("SELECT pg_backend_pid()", &[]).await.unwrap().unwrap();
    assert_ne!(new, old);
}

/// A transaction begun with plain SQL, open or aborted, a role taken with
/// `SET ROLE` and a temporary table: none of them reaches the next user.
#[asyncio::test]
async fn plain_sql_transactions_roles_and_temporary_tables_are_reset_on_release() {
    let pool = create_pool(&server().dsn()).min_size(1).max_size(1).await.unwrap();
    {
        let conn = pool.acquire().await.unwrap();
        fresh_table(&conn, "pool_raw_tx", "id int").await;
        conn.execute("DROP ROLE IF EXISTS pool_reset_role", &[]).await.unwrap();
        conn.execute("CREATE ROLE pool_reset_role", &[]).await.unwrap();
        conn.execute("GRANT pool_reset_role TO CURRENT_USER", &[])
            .await
            .unwrap();
    }
    let user: String = pool
        .acquire()
        .await
        .unwrap()
        .fetchval("SELECT current_user::text", &[])
        .await
        .unwrap()
        .unwrap();
    {
        let conn = pool.acquire().await.unwrap();
        conn.execute("BEGIN", &[]).await.unwrap();
        conn.execute("INSERT INTO pool_raw_tx VALUES (1)", &[]).await.unwrap();
        conn.execute("SET ROLE pool_reset_role", &[]).await.unwrap();
        conn.execute("CREATE TEMPORARY TABLE pool_temp (id int)", &[])
            .await
            .unwrap();
    }
    {
        let conn = pool.acquire().await.unwrap();
        assert_eq!(count(&conn, "pool_raw_tx").await, 0, "the open transaction rolled back");
        let in_tx: Option<bool> = conn
            .fetchval("SELECT pg_current_xact_id_if_assigned() IS NOT NULL", &[])
            .await
            .unwrap();
        assert_eq!(in_tx, Some(false));
        // Committed now, outside any transaction of the previous user's.
        conn.execute("INSERT INTO pool_raw_tx VALUES (2)", &[]).await.unwrap();
        // An aborted one next.
        conn.execute("BEGIN", &[]).await.unwrap();
        conn.execute("CREATE TEMPORARY TABLE pool_temp (id int)", &[])
            .await
            .unwrap();
        assert!(conn.execute("SELECT 1 / 0", &[]).await.is_err());
    }
    let conn = pool.acquire().await.unwrap();
    assert_eq!(conn.fetchval::<i32>("SELECT 1", &[]).await.unwrap(), Some(1));
    assert_eq!(count(&conn, "pool_raw_tx").await, 1);
    let now: Option<String> = conn.fetchval("SELECT current_user::text", &[]).await.unwrap();
    assert_eq!(now.as_deref(), Some(user.as_str()), "the role is reset");
    let temp: Option<bool> = conn
        .fetchval("SELECT to_regclass('pg_temp.pool_temp') IS NULL", &[])
        .await
        .unwrap();
    assert_eq!(temp, Some(true), "the temporary table is dropped");
}

#[asyncio::test]
async fn close_twice_returns() {
    let pool = create_pool(&server().dsn()).min_size(1).max_size(2).await.unwrap();
    asyncio::timeout(Duration::from_secs(10), pool.close())
        .await
        .expect("closes");
    asyncio::timeout(Duration::from_secs(10), pool.close())
        .await
        .expect("a second close returns too");
    assert!(matches!(pool.acquire().await, Err(Error::PoolClosed)));
}

/// An acquire dropped while its connection's health check runs discards
/// the connection and counts it gone.
#[asyncio::test]
async fn an_acquire_dropped_during_the_health_check_leaves_the_counts_right() {
    let pool = create_pool(&server().dsn())
        .min_size(1)
        .max_size(1)
        .health_check_after(Some(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(pool.stats().size, 1);
    {
        let mut acquire = Box::pin(std::future::IntoFuture::into_future(pool.acquire()));
        // The first poll takes the idle connection and sends its check.
        let first = std::future::poll_fn(|cx| {
            std::task::Poll::Ready(std::future::Future::poll(acquire.as_mut(), cx).is_pending())
        })
        .await;
        assert!(first, "waiting for the check's answer");
        assert_eq!(pool.stats().idle, 0);
    }
    assert_eq!(pool.stats().size, 0, "the connection under check is gone");
    assert!(pid(&pool).await > 0);
    assert_eq!(pool.stats().size, 1);
}

/// The reset a released connection runs before its next user draws no
/// notice of its own (its `ROLLBACK` outside a transaction would warn): a
/// log listener the next user adds at once hears only its own.
#[asyncio::test]
async fn the_next_user_hears_no_notice_from_the_reset() {
    let pool = create_pool(&server().dsn()).min_size(1).max_size(1).await.unwrap();
    pool.acquire().await.unwrap().execute("SELECT 1", &[]).await.unwrap();
    let conn = pool.acquire().await.unwrap();
    let log = conn.add_log_listener();
    conn.execute("DO $$ BEGIN RAISE NOTICE 'mine'; END $$", &[])
        .await
        .unwrap();
    let first = log.recv().await.unwrap();
    assert_eq!((first.severity(), first.message()), ("NOTICE", "mine"), "{first:?}");
    // The session's own level is back after the reset.
    let level: String = conn.fetchval("SHOW client_min_messages", &[]).await.unwrap().unwrap();
    assert_eq!(level, "notice");
    // Nor from the reset of a transaction left open.
    conn.execute("BEGIN", &[]).await.unwrap();
    drop(log);
    drop(conn);
    let conn = pool.acquire().await.unwrap();
    let log = conn.add_log_listener();
    conn.execute("SELECT 1", &[]).await.unwrap();
    assert!(log.try_recv().is_none());
}

/// A connection still cancelling a query its last user dropped is passed
/// over while another is ready; an acquire dropped while it waits for one
/// puts it back, healthy, instead of discarding it.
#[asyncio::test]
async fn a_connection_still_cancelling_is_passed_over_and_kept() {
    let pool = create_pool(&server().dsn()).min_size(2).max_size(2).await.unwrap();
    let cancelling = {
        let conn = pool.acquire().await.unwrap();
        let pid: i32 = conn.fetchval("SELECT pg_backend_pid()", &[]).await.unwrap().unwrap();
        let r = asyncio::timeout(Duration::from_millis(50), conn.fetch("SELECT pg_sleep(30)", &[])).await;
        assert!(r.is_err());
        pid
    };
    // The cancel has not even been sent yet: the other connection is ready.
    let other = pool.acquire().await.unwrap();
    let pid: i32 = other.fetchval("SELECT pg_backend_pid()", &[]).await.unwrap().unwrap();
    assert_ne!(pid, cancelling);
    {
        // Only the cancelling one is left: the acquire waits for it, and is
        // dropped while it does.
        let mut acquire = Box::pin(std::future::IntoFuture::into_future(pool.acquire()));
        let first = std::future::poll_fn(|cx| {
            std::task::Poll::Ready(std::future::Future::poll(acquire.as_mut(), cx).is_pending())
        })
        .await;
        assert!(first, "waiting for the cancel");
    }
    assert_eq!(pool.stats().size, 2, "the connection waited for is kept");
    let conn = pool.acquire().await.unwrap();
    let pid: i32 = conn.fetchval("SELECT pg_backend_pid()", &[]).await.unwrap().unwrap();
    assert_eq!(pid, cancelling);
}
