//! `asyncio_mysql::Pool` against a real MariaDB server from the
//! distribution's packages (installed when missing and root; see
//! `asyncio_examples_support::mariadb`). One server per test binary,
//! stopped by its watchdog when the binary exits; each test uses its own
//! tables.

use std::net::{Ipv4Addr, TcpListener};
use std::sync::OnceLock;
use std::time::Duration;

use asyncio_examples_support::mariadb::{MariaDb, DATABASE, PASSWORD, USER};
use asyncio_mysql::mysql::prelude::Queryable;
use asyncio_mysql::mysql::{Conn, Opts, OptsBuilder, TxOpts};
use asyncio_mysql::{codes, params, Done, Error, Pool};

/// The test binary's server, started by the first test that needs it.
fn server() -> &'static MariaDb {
    static SERVER: OnceLock<MariaDb> = OnceLock::new();
    SERVER.get_or_init(|| MariaDb::start().expect("a MariaDB server for the tests"))
}

/// A generous bound on a whole test: a hang fails it instead of the run.
const DEADLINE: Duration = Duration::from_secs(120);

fn run<F: std::future::Future>(f: F) -> F::Output {
    asyncio::run(async move { asyncio::timeout(DEADLINE, f).await.expect("test timed out") })
}

/// The server's id of the connection the pool's next job runs on (on a
/// pool of one: its only connection).
async fn connection_id(pool: &Pool) -> u64 {
    let id: Option<u64> = pool.query_first("SELECT CONNECTION_ID()").await.unwrap();
    id.expect("a connection id")
}

#[test]
fn query_exec_and_parameters() {
    let url = server().url();
    run(async move {
        let pool = Pool::connect(&url, 2).await.unwrap();
        assert_eq!(pool.size(), 2);
        pool.query_drop("CREATE TABLE qp (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(40), score DOUBLE NULL)")
            .await
            .unwrap();
        let first = pool
            .exec_drop("INSERT INTO qp (name, score) VALUES (?, ?)", ("ada", 9.5))
            .await
            .unwrap();
        assert_eq!(first.affected_rows, 1);
        assert_eq!(first.last_insert_id, Some(1));
        pool.exec_drop(
            "INSERT INTO qp (name, score) VALUES (:name, :score)",
            params! { "name" => "bob", "score" => None::<f64> },
        )
        .await
        .unwrap();
        pool.exec_batch(
            "INSERT INTO qp (name, score) VALUES (?, ?)",
            [("cy", Some(1.0)), ("di", Some(2.0))],
        )
        .await
        .unwrap();

        let rows: Vec<(i32, String, Option<f64>)> =
            pool.query("SELECT id, name, score FROM qp ORDER BY id").await.unwrap();
        assert_eq!(
            rows,
            [
                (1, "ada".to_owned(), Some(9.5)),
                (2, "bob".to_owned(), None),
                (3, "cy".to_owned(), Some(1.0)),
                (4, "di".to_owned(), Some(2.0)),
            ]
        );
        let name: Option<String> = pool.exec_first("SELECT name FROM qp WHERE id = ?", (3,)).await.unwrap();
        assert_eq!(name.as_deref(), Some("cy"));
        let none: Option<String> = pool
            .exec_first("SELECT name FROM qp WHERE id = ?", (99,))
            .await
            .unwrap();
        assert_eq!(none, None);
        let count: Option<i64> = pool.query_first("SELECT COUNT(*) FROM qp").await.unwrap();
        assert_eq!(count, Some(4));
        let big: Vec<String> = pool
            .exec("SELECT name FROM qp WHERE score > ? ORDER BY id", (1.5,))
            .await
            .unwrap();
        assert_eq!(big, ["ada", "di"]);
        let updated = pool
            .exec_drop("UPDATE qp SET score = 0 WHERE id <= ?", (2,))
            .await
            .unwrap();
        assert_eq!(
            updated,
            Done {
                affected_rows: 2,
                last_insert_id: None
            }
        );
    });
}

#[test]
fn duplicate_key_is_a_server_error_with_its_code() {
    let url = server().url();
    run(async move {
        let pool = Pool::connect(&url, 1).await.unwrap();
        pool.query_drop("CREATE TABLE dup (id INT PRIMARY KEY)").await.unwrap();
        pool.exec_drop("INSERT INTO dup VALUES (?)", (7,)).await.unwrap();
        let err = pool.exec_drop("INSERT INTO dup VALUES (?)", (7,)).await.unwrap_err();
        match &err {
            Error::Server(e) => {
                assert_eq!(e.code, codes::DUP_ENTRY);
                assert_eq!(e.state, "23000");
                assert!(e.message.contains("Duplicate entry '7'"), "{}", e.message);
            }
            other => panic!("expected a server error, got {other:?}"),
        }
        assert_eq!(err.server_code(), Some(codes::DUP_ENTRY));
        // The connection is still good after a server error.
        let n: Option<i64> = pool.query_first("SELECT COUNT(*) FROM dup").await.unwrap();
        assert_eq!(n, Some(1));

        let err = pool.query::<i32>("SELECT * FROM no_such_table").await.unwrap_err();
        assert_eq!(err.server_code(), Some(codes::NO_SUCH_TABLE));
        let err = pool.query_drop("SELEKT 1").await.unwrap_err();
        assert_eq!(err.server_code(), Some(codes::PARSE_ERROR));
    });
}

#[test]
fn a_row_of_the_wrong_type_is_a_conversion_error() {
    let url = server().url();
    run(async move {
        let pool = Pool::connect(&url, 1).await.unwrap();
        let err = pool.query::<i32>("SELECT NULL").await.unwrap_err();
        assert!(matches!(err, Error::Conversion(_)), "{err:?}");
        let err = pool.query::<(i32, i32)>("SELECT 1 AS only_one").await.unwrap_err();
        // The message names the row's columns and their types.
        assert!(
            matches!(&err, Error::Conversion(m) if m.contains("1 column(s) (only_one MYSQL_TYPE_LONG")),
            "{err:?}"
        );
        // Not a broken connection: the next query works.
        assert_eq!(pool.query::<i32>("SELECT 5").await.unwrap(), [5]);
    });
}

#[test]
fn refused_connection_is_a_connect_error() {
    // A port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    run(async move {
        let err = Pool::connect(&format!("mysql://u:p@127.0.0.1:{port}/test"), 2)
            .await
            .unwrap_err();
        match err {
            Error::Connect(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}"),
            other => panic!("expected a connect error, got {other:?}"),
        }
    });
}

#[test]
fn wrong_password_unknown_database_and_bad_url_each_have_their_error() {
    let server = server();
    let port = server.port();
    run(async move {
        let err = Pool::connect(&format!("mysql://{USER}:wrong@127.0.0.1:{port}/{DATABASE}"), 1)
            .await
            .unwrap_err();
        assert_eq!(err.server_code(), Some(codes::ACCESS_DENIED), "{err:?}");
        let err = Pool::connect(&format!("mysql://{USER}:{PASSWORD}@127.0.0.1:{port}/nowhere"), 1)
            .await
            .unwrap_err();
        assert_eq!(err.server_code(), Some(codes::BAD_DB), "{err:?}");
        let err = Pool::connect("postgres://x@y/z", 1).await.unwrap_err();
        assert!(matches!(err, Error::Url(_)), "{err:?}");
    });
}

#[test]
fn unix_socket_through_opts() {
    let server = server();
    let opts = OptsBuilder::new()
        .socket(Some(server.socket().to_str().unwrap()))
        .user(Some(USER))
        .pass(Some(PASSWORD))
        .db_name(Some(DATABASE));
    run(async move {
        let pool = Pool::connect_with(opts, 1).await.unwrap();
        // The server's view of the client: `localhost` over the socket,
        // `address:port` over TCP.
        let host: Option<String> = pool
            .query_first("SELECT HOST FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()")
            .await
            .unwrap();
        assert_eq!(host.as_deref(), Some("localhost"));
        assert_eq!(pool.query::<i32>("SELECT 1").await.unwrap(), [1]);
    });
}

#[test]
fn transaction_in_one_hop_commits_or_rolls_back() {
    let url = server().url();
    run(async move {
        let pool = Pool::connect(&url, 2).await.unwrap();
        pool.query_drop("CREATE TABLE acct (id INT PRIMARY KEY, balance INT) ENGINE=InnoDB; INSERT INTO acct VALUES (1, 100), (2, 0)")
            .await
            .unwrap();
        pool.run(|c| {
            let mut tx = c.start_transaction(TxOpts::default())?;
            tx.exec_drop("UPDATE acct SET balance = balance - ? WHERE id = 1", (30,))?;
            tx.exec_drop("UPDATE acct SET balance = balance + ? WHERE id = 2", (30,))?;
            tx.commit()
        })
        .await
        .unwrap();
        // Dropped without commit: rolled back before the connection is reused.
        pool.run(|c| {
            let mut tx = c.start_transaction(TxOpts::default())?;
            tx.exec_drop("UPDATE acct SET balance = 0", ())?;
            Ok(())
        })
        .await
        .unwrap();
        // A panic mid-transaction: the connection is discarded, not reused.
        let err = pool
            .run(|c| -> Result<(), asyncio_mysql::mysql::Error> {
                let mut tx = c.start_transaction(TxOpts::default())?;
                tx.exec_drop("UPDATE acct SET balance = -1", ())?;
                panic!("boom");
            })
            .await
            .unwrap_err();
        assert!(matches!(&err, Error::Panicked(m) if m.contains("boom")), "{err:?}");
        let rows: Vec<(i32, i32)> = pool.query("SELECT id, balance FROM acct ORDER BY id").await.unwrap();
        assert_eq!(rows, [(1, 70), (2, 30)]);
        // On a pool of one, the panicking job's connection is the one that
        // goes: the next job has a new one.
        let single = Pool::connect(&url, 1).await.unwrap();
        let before = connection_id(&single).await;
        let err = single
            .run(|_| -> Result<(), asyncio_mysql::mysql::Error> { panic!("boom") })
            .await
            .unwrap_err();
        assert!(matches!(&err, Error::Panicked(_)), "{err:?}");
        let after = connection_id(&single).await;
        assert_ne!(before, after, "the panicking job's connection was reused");
    });
}

/// What a job leaves in its session (a transaction, a lock, variables, a
/// temporary table) is reset before the next job, on the
/// same connection (a pool of one: the same thread).
#[test]
fn session_state_does_not_leak_to_the_next_job() {
    let url = server().url();
    run(async move {
        let pool = Pool::connect(&url, 1).await.unwrap();
        pool.query_drop("CREATE TABLE leak (x INT) ENGINE=InnoDB")
            .await
            .unwrap();
        let id = connection_id(&pool).await;
        pool.query_drop(
            "SET @leak = 1; SET SESSION sql_mode = 'ANSI_QUOTES'; CREATE TEMPORARY TABLE tmp_leak (x INT); \
             DO GET_LOCK('leak_lock', 0); START TRANSACTION; INSERT INTO leak VALUES (1)",
        )
        .await
        .unwrap();
        let state: Option<(Option<i64>, String, Option<i64>)> = pool
            .query_first("SELECT @leak, @@sql_mode, IS_USED_LOCK('leak_lock')")
            .await
            .unwrap();
        let (var, mode, lock) = state.unwrap();
        assert_eq!(var, None, "a user variable leaked");
        assert!(!mode.contains("ANSI_QUOTES"), "the sql_mode leaked: {mode}");
        assert_eq!(lock, None, "the GET_LOCK lock is still held");
        let err = pool.query::<i32>("SELECT x FROM tmp_leak").await.unwrap_err();
        assert_eq!(err.server_code(), Some(codes::NO_SUCH_TABLE), "{err:?}");
        // The transaction was rolled back, not left open for a later job to
        // commit.
        pool.query_drop("COMMIT").await.unwrap();
        let rows: Vec<i64> = pool.query("SELECT COUNT(*) FROM leak").await.unwrap();
        assert_eq!(rows, [0]);
        // Reset, not reconnected.
        let same = connection_id(&pool).await;
        assert_eq!(same, id);
    });
}

/// `reset_connection=false` (the `mysql` crate's option) keeps the session
/// between jobs, and with it the statement cache: a repeated statement is
/// prepared once.
#[test]
fn without_reset_the_session_and_its_statements_are_kept() {
    let url = format!("{}?reset_connection=false", server().url());
    run(async move {
        let pool = Pool::connect(&url, 1).await.unwrap();
        pool.query_drop("SET @kept = 7").await.unwrap();
        let kept: Option<Option<i64>> = pool.query_first("SELECT @kept").await.unwrap();
        assert_eq!(kept, Some(Some(7)));
        let prepares = || async {
            let row: Option<(String, u64)> = pool
                .query_first("SHOW SESSION STATUS LIKE 'Com_stmt_prepare'")
                .await
                .unwrap();
            row.unwrap().1
        };
        let before = prepares().await;
        for i in 0..5 {
            let n: Option<i64> = pool.exec_first("SELECT ? + 1", (i,)).await.unwrap();
            assert_eq!(n, Some(i + 1));
        }
        assert_eq!(prepares().await - before, 1, "prepared once for five executions");
    });
}

/// A connection the server closed while it sat idle is found dead by the
/// health check and replaced before the next job runs: the job succeeds.
#[test]
fn a_connection_killed_while_idle_is_replaced_before_the_next_job() {
    // Without the reset after each job: the kill could land on the reset,
    // whose failure would replace the connection without any health check.
    let url = format!(
        "{}{}reset_connection=false",
        server().url(),
        if server().url().contains('?') { '&' } else { '?' }
    );
    let mut admin = Conn::new(Opts::from_url(&url).unwrap()).unwrap();
    run(async move {
        let pool = Pool::connect(&url, 1).await.unwrap();
        let before = connection_id(&pool).await;
        // Killed, then idle past the health check's threshold (a lower
        // bound on elapsed time: nothing races).
        asyncio::to_thread(move || {
            admin.query_drop(format!("KILL CONNECTION {before}")).unwrap();
            std::thread::sleep(asyncio_mysql::HEALTH_CHECK_AFTER + Duration::from_millis(100));
        })
        .await
        .unwrap();
        let after = connection_id(&pool).await;
        assert_ne!(after, before);
    });
}

/// Parameters that do not fit are the caller's error: nothing ran, and the
/// connection is kept (not dropped as if broken).
#[test]
fn parameters_that_do_not_fit_are_a_params_error_and_keep_the_connection() {
    let url = server().url();
    run(async move {
        let pool = Pool::connect(&url, 1).await.unwrap();
        let id = connection_id(&pool).await;
        let err = pool.exec_drop("SELECT ?, ?", (1,)).await.unwrap_err();
        assert!(matches!(&err, Error::Params(_)), "{err:?}");
        assert!(!err.is_connection_lost());
        let same = connection_id(&pool).await;
        assert_eq!(same, id);
    });
}

/// Options this crate cannot honour are refused up front: TLS (built
/// without it: it would otherwise panic mid-handshake), and the `mysql`
/// crate's own pool sizes.
#[test]
fn tls_and_foreign_pool_sizes_are_unsupported() {
    let url = server().url();
    run(async move {
        for extra in [
            "root_cert_path=/nonexistent/ca.pem",
            "danger_accept_invalid_certs=true",
            "pool_max=20",
        ] {
            let err = Pool::connect(&format!("{url}?{extra}"), 1).await.unwrap_err();
            assert!(matches!(&err, Error::Unsupported(_)), "{extra}: {err:?}");
        }
    });
}

/// 100 tasks × 10 queries on a pool of 4, and a ticker task on the same
/// loop. First every pool thread is held inside a query that waits on a
/// server-side lock (`GET_LOCK`) the test holds on a connection of its own;
/// the ticker must keep ticking while they wait (so the loop is free), and
/// only after 20 ticks is the lock released. Then all 1,000 queries finish
/// with the right answers.
#[test]
fn hundred_tasks_on_a_pool_of_four_do_not_block_the_loop() {
    let server = server();
    let url = server.url();
    let mut gate = Conn::new(Opts::from_url(&url).unwrap()).unwrap();
    let got: Option<i32> = gate.query_first("SELECT GET_LOCK('gate', 0)").unwrap();
    assert_eq!(got, Some(1));

    run(async move {
        let pool = Pool::connect(&url, 4).await.unwrap();
        let done = std::rc::Rc::new(std::cell::Cell::new(0usize));
        let mut tasks = Vec::new();
        for t in 0..100i64 {
            let pool = pool.clone();
            let done = done.clone();
            tasks.push(asyncio::create_task(async move {
                // Wait for the gate (holds a pool thread until released).
                let _: Vec<(Option<i32>, Option<i32>)> = pool
                    .query("SELECT GET_LOCK('gate', 60), RELEASE_LOCK('gate')")
                    .await
                    .unwrap();
                for q in 0..10i64 {
                    let v: Option<i64> = pool.exec_first("SELECT ? * 1000 + ?", (t, q)).await.unwrap();
                    assert_eq!(v, Some(t * 1000 + q));
                }
                done.set(done.get() + 1);
            }));
        }
        let mut ticks = 0;
        while ticks < 20 {
            asyncio::sleep(Duration::from_millis(1)).await;
            ticks += 1;
            assert_eq!(done.get(), 0, "a task finished while the gate was held");
        }
        // Release the gate on a thread (it is a blocking call too).
        let _gate = asyncio::to_thread(move || {
            gate.query_drop("DO RELEASE_LOCK('gate')").unwrap();
            gate
        })
        .await
        .unwrap();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(done.get(), 100);
        assert!(pool.size() == 4);
    });
}

/// A query whose future is dropped after it started (here: once the server
/// shows it waiting for a row lock the test holds) is killed on the server:
/// its statement fails at once, the statements after it in the same call
/// never run, and the pool's one connection (the same one: `KILL QUERY`,
/// not `KILL CONNECTION`) serves the next query while the test still holds
/// the lock. Without the kill, that next query would wait behind the lock
/// for `innodb_lock_wait_timeout` (50 s), past the 30 s bound below.
#[test]
fn a_dropped_query_is_killed_on_the_server_and_the_pool_goes_on() {
    let url = server().url();
    let mut gate = Conn::new(Opts::from_url(&url).unwrap()).unwrap();
    gate.query_drop("CREATE TABLE dropped (id INT); CREATE TABLE dropped_rows (id INT PRIMARY KEY, v INT) ENGINE=InnoDB; INSERT INTO dropped_rows VALUES (1, 0)")
        .unwrap();
    gate.query_drop("START TRANSACTION").unwrap();
    gate.query_drop("SELECT * FROM dropped_rows WHERE id = 1 FOR UPDATE")
        .unwrap();
    run(async move {
        let pool = Pool::connect(&url, 1).await.unwrap();
        let id = connection_id(&pool).await;
        let started = pool.query_drop("UPDATE dropped_rows SET v = v + 1 WHERE id = 1; INSERT INTO dropped VALUES (1)");
        // Watch the server's process list from a connection of its own, on
        // a thread (the pool's only thread is busy with the query).
        let mut watcher = Conn::new(Opts::from_url(&url).unwrap()).unwrap();
        let waiting = asyncio::to_thread(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while std::time::Instant::now() < deadline {
                let n: Option<i64> = watcher
                    .query_first(
                        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'UPDATE dropped_rows%'",
                    )
                    .unwrap();
                if n == Some(1) {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            false
        });
        // Poll the query once (submitting it), then wait for the server to
        // show it blocked; `started` is dropped unfinished after that.
        let mut started = Box::pin(started);
        assert!(futures_poll_once(started.as_mut()).await.is_none());
        assert!(waiting.await.unwrap(), "the query never reached the server");
        drop(started);
        // Queued behind the dropped query on the pool's only thread; the
        // row lock is still held.
        let next = asyncio::timeout(
            Duration::from_secs(30),
            pool.query_first::<(i64, u64)>("SELECT COUNT(*), CONNECTION_ID() FROM dropped"),
        )
        .await
        .expect("the dropped query was not killed: the next one waited behind it")
        .unwrap();
        assert_eq!(
            next,
            Some((0, id)),
            "the INSERT after the killed statement ran, or the connection changed"
        );
        let _gate = asyncio::to_thread(move || {
            gate.query_drop("ROLLBACK").unwrap();
            gate
        })
        .await
        .unwrap();
        let v: Option<i32> = pool
            .query_first("SELECT v FROM dropped_rows WHERE id = 1")
            .await
            .unwrap();
        assert_eq!(v, Some(0), "the killed UPDATE ran after all");
    });
}

/// Polls `f` once: its output if it was ready.
async fn futures_poll_once<F: std::future::Future + Unpin>(mut f: F) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut f).poll(cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        })
    })
    .await
}

#[test]
fn close_waits_and_later_queries_fail_closed() {
    let url = server().url();
    run(async move {
        let pool = Pool::connect(&url, 2).await.unwrap();
        let other = pool.clone();
        // A query in flight when close is called: close waits for it.
        let busy = pool.clone();
        let running = asyncio::create_task(async move { busy.query::<i64>("SELECT SLEEP(0.2)").await });
        asyncio::sleep(Duration::ZERO).await;
        pool.close().await;
        assert!(running.done(), "close returned before the query in flight ended");
        assert_eq!(running.await.unwrap().unwrap(), [0]);
        let err = other.query::<i32>("SELECT 1").await.unwrap_err();
        assert!(matches!(err, Error::Closed), "{err:?}");
    });
}

/// The server kills the pool's connection between two queries: the next
/// query fails (the connection is gone), the pool thread drops it, and the
/// query after that runs on a new connection.
#[test]
fn a_killed_connection_fails_one_query_then_the_pool_reconnects() {
    let url = server().url();
    let mut admin = Conn::new(Opts::from_url(&url).unwrap()).unwrap();
    run(async move {
        let pool = Pool::connect(&url, 1).await.unwrap();
        let before = connection_id(&pool).await;
        let _admin = asyncio::to_thread(move || {
            admin.query_drop(format!("KILL CONNECTION {before}")).unwrap();
            admin
        })
        .await
        .unwrap();
        let err = pool.query::<i32>("SELECT 1").await.unwrap_err();
        assert!(
            matches!(&err, Error::Io(_)) || err.server_code() == Some(codes::CONNECTION_KILLED),
            "{err:?}"
        );
        let after = connection_id(&pool).await;
        assert_ne!(after, before, "the killed connection was reused");
    });
}

/// Dropping the last clone of the pool closes its connections: the
/// server's process list loses them (polled to a deadline).
#[test]
fn dropping_the_pool_closes_its_connections() {
    let url = server().url();
    let mut admin = Conn::new(Opts::from_url(&url).unwrap()).unwrap();
    run(async move {
        let pool = Pool::connect(&url, 1).await.unwrap();
        let id = connection_id(&pool).await;
        drop(pool);
        let gone = asyncio::to_thread(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while std::time::Instant::now() < deadline {
                let n: Option<i64> = admin
                    .exec_first(
                        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?",
                        (id,),
                    )
                    .unwrap();
                if n == Some(0) {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            false
        })
        .await
        .unwrap();
        assert!(gone, "connection {id} still open after the pool was dropped");
    });
}

/// A user of the test server with its own connection limit, so a test can
/// count its connections apart from the other tests'.
fn limited_user(name: &str, limit: u32) -> String {
    let server = server();
    let mut admin = Conn::new(Opts::from_url(&server.url()).unwrap()).unwrap();
    admin
        .query_drop(format!(
            "DROP USER IF EXISTS '{name}'@'%'; CREATE USER '{name}'@'%' IDENTIFIED BY 'pw' WITH MAX_USER_CONNECTIONS {limit}; \
             GRANT ALL PRIVILEGES ON {DATABASE}.* TO '{name}'@'%'"
        ))
        .unwrap();
    format!("mysql://{name}:pw@{}/{DATABASE}", server.addr())
}

/// `Pool::connect` opens every thread's connection: a server that cannot
/// take them all fails it, not a query later.
#[test]
fn connect_opens_every_connection_and_fails_if_it_cannot() {
    let url = limited_user("eager", 2);
    run(async move {
        let err = Pool::connect(&url, 3).await.unwrap_err();
        assert!(matches!(&err, Error::Server(_)), "{err:?}");
        // The failed pool's two connections close as its threads end, and
        // the server counts them against the user until its own threads
        // for them finish (after they leave its process list): a pool of 2
        // is refused with 1226 (max_user_connections) until then. Retried
        // (bounded), not after a set time.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let pool = loop {
            match Pool::connect(&url, 2).await {
                Ok(pool) => break pool,
                Err(Error::Server(e)) if e.code == 1226 && std::time::Instant::now() < deadline => {
                    asyncio::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => panic!("the failed pool's connections stay counted: {e:?}"),
            }
        };
        let open: Vec<i64> = pool
            .query("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'eager'")
            .await
            .unwrap();
        assert_eq!(open, [2]);
    });
}
