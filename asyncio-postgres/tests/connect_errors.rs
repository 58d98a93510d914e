//! Each failure to connect, and a connection the server ends, gives its
//! own error.

mod support;

use asyncio_postgres::{connect, Error};
use support::server;

#[asyncio::test]
async fn refused_port_is_a_connect_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = connect(&format!("postgresql://u:p@127.0.0.1:{port}/db"))
        .await
        .unwrap_err();
    match err {
        Error::Connect { target, source } => {
            assert_eq!(target, format!("127.0.0.1:{port}"));
            assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused);
        }
        other => panic!("expected Error::Connect, got {other:?}"),
    }
}

#[asyncio::test]
async fn missing_socket_is_a_connect_error() {
    let err = connect("host=/nonexistent/asyncio-postgres port=5432 user=u")
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Connect { ref target, .. } if target == "/nonexistent/asyncio-postgres/.s.PGSQL.5432"),
        "{err:?}"
    );
}

#[asyncio::test]
async fn the_next_host_is_tried_when_one_is_unreachable() {
    let dsn = format!(
        "host=/nonexistent/asyncio-postgres,127.0.0.1 port=1,{} user=postgres password={} dbname=postgres",
        server().port(),
        asyncio_examples_support::pg::PASSWORD
    );
    let conn = connect(&dsn).await.unwrap();
    assert_eq!(conn.fetchval::<i32>("SELECT 1", &[]).await.unwrap(), Some(1));
}

/// `hostaddr` is where to connect, with or without a host name beside it
/// (the name is never looked up).
#[asyncio::test]
async fn hostaddr_is_connected_to() {
    for hosts in ["host=db.invalid hostaddr=127.0.0.1", "hostaddr=127.0.0.1"] {
        let dsn = format!(
            "{hosts} port={} user=postgres password={} dbname=postgres",
            server().port(),
            asyncio_examples_support::pg::PASSWORD
        );
        let conn = connect(&dsn).await.unwrap();
        // Over TCP (a Unix socket has no client address).
        let tcp: Option<bool> = conn
            .fetchval("SELECT inet_client_addr() IS NOT NULL", &[])
            .await
            .unwrap();
        assert_eq!(tcp, Some(true), "{hosts}");
    }
}

/// `target_session_attrs=read-write` passes over a read-only session.
#[asyncio::test]
async fn a_read_only_server_is_passed_over_for_read_write() {
    let read_only = format!(
        "host=127.0.0.1 port={} user=postgres password={} dbname=postgres options='-c default_transaction_read_only=on'",
        server().port(),
        asyncio_examples_support::pg::PASSWORD
    );
    let conn = connect(&format!("{read_only} target_session_attrs=any")).await.unwrap();
    assert!(conn.execute("CREATE TEMPORARY TABLE t (x int)", &[]).await.is_err());
    let err = connect(&format!("{read_only} target_session_attrs=read-write"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains("read-only"), "{err}");
    // `read-only` wants the opposite: this session, not a writable one.
    let conn = connect(&format!("{read_only} target_session_attrs=read-only"))
        .await
        .unwrap();
    assert!(conn.execute("CREATE TEMPORARY TABLE t (x int)", &[]).await.is_err());
    let writable = read_only.replace("options='-c default_transaction_read_only=on'", "");
    let err = connect(&format!("{writable} target_session_attrs=read-only"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains("read-write"), "{err}");
}

#[asyncio::test]
async fn bad_dsn_is_invalid_dsn() {
    for dsn in [
        "postgresql://u@localhost:notaport/db",
        "host=a port=x",
        "sslmode=sometimes",
    ] {
        let err = connect(dsn).await.unwrap_err();
        assert!(matches!(err, Error::InvalidDsn(_)), "{dsn}: {err:?}");
    }
}

#[asyncio::test]
async fn wrong_password_is_an_auth_error() {
    let dsn = format!("postgresql://postgres:wrong@127.0.0.1:{}/postgres", server().port());
    match connect(&dsn).await.unwrap_err() {
        Error::Auth(Some(e)) => assert_eq!(e.code(), "28P01", "{e}"),
        other => panic!("expected Error::Auth, got {other:?}"),
    }
}

#[asyncio::test]
async fn unknown_user_is_an_auth_error() {
    let dsn = format!(
        "host={} port={} user=nobody_here dbname=postgres",
        server().socket_dir().display(),
        server().port()
    );
    match connect(&dsn).await.unwrap_err() {
        Error::Auth(Some(e)) => assert_eq!(e.code(), "28000", "{e}"),
        other => panic!("expected Error::Auth, got {other:?}"),
    }
}

#[asyncio::test]
async fn unknown_database_has_its_own_error() {
    let dsn = format!(
        "postgresql://postgres:{}@127.0.0.1:{}/no_such_db",
        asyncio_examples_support::pg::PASSWORD,
        server().port()
    );
    match connect(&dsn).await.unwrap_err() {
        Error::UnknownDatabase(e) => {
            assert_eq!(e.code(), "3D000");
            assert!(e.message().contains("no_such_db"), "{e}");
        }
        other => panic!("expected Error::UnknownDatabase, got {other:?}"),
    }
}

#[asyncio::test]
async fn a_connection_the_server_ends_is_closed() {
    let conn = support::connect().await;
    let pid: i32 = conn.fetchval("SELECT pg_backend_pid()", &[]).await.unwrap().unwrap();
    let admin = support::connect().await;
    assert_eq!(
        admin
            .fetchval::<bool>("SELECT pg_terminate_backend($1, 30000)", &[&pid])
            .await
            .unwrap(),
        Some(true)
    );
    let err = conn.fetch("SELECT 1", &[]).await.unwrap_err();
    assert!(matches!(err, Error::Closed(_)), "{err:?}");
    assert!(conn.is_closed());
    // And it stays closed.
    assert!(matches!(conn.execute("SELECT 1", &[]).await, Err(Error::Closed(_))));
}

#[asyncio::test]
async fn server_errors_carry_sqlstate_and_fields() {
    let conn = support::connect().await;
    support::fresh_table(
        &conn,
        "err_fields",
        "id int CONSTRAINT err_fields_pk PRIMARY KEY, name text NOT NULL",
    )
    .await;
    conn.execute("INSERT INTO err_fields VALUES (1, 'a')", &[])
        .await
        .unwrap();

    let err = conn
        .execute("INSERT INTO err_fields VALUES (1, 'b')", &[])
        .await
        .unwrap_err();
    let Error::Server(e) = &err else {
        panic!("expected Error::Server, got {err:?}")
    };
    assert_eq!(e.code(), "23505");
    assert_eq!(e.sqlstate(), &asyncio_postgres::SqlState::UNIQUE_VIOLATION);
    assert_eq!(e.constraint(), Some("err_fields_pk"));
    assert_eq!(e.table(), Some("err_fields"));
    assert_eq!(e.detail(), Some("Key (id)=(1) already exists."));
    assert_eq!(e.severity(), "ERROR");

    let err = conn
        .execute("INSERT INTO err_fields VALUES (2, NULL)", &[])
        .await
        .unwrap_err();
    let e = err.as_server_error().unwrap();
    assert_eq!((e.code(), e.column()), ("23502", Some("name")));

    let err = conn.fetch("SELEC 1", &[]).await.unwrap_err();
    assert_eq!(err.code(), Some("42601"), "{err}");
    // The connection goes on after errors.
    assert_eq!(
        conn.fetchval::<i64>("SELECT count(*) FROM err_fields", &[])
            .await
            .unwrap(),
        Some(1)
    );
}
