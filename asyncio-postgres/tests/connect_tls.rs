//! TLS to a real server (`ssl=on`, a certificate for `localhost` from a
//! throwaway CA): each `sslmode` encrypts and checks what libpq's does,
//! every refusal is its own error, and queries, cancel requests, channel
//! binding, client certificates and the pool work over it.

#![cfg(feature = "tls")]

mod support;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use asyncio::tls::TlsError;
use asyncio_examples_support::pg::{TempPostgres, PASSWORD, USER};
use asyncio_examples_support::pki::{Pki, TempDir};
use asyncio_postgres::{connect, Connection, Error};

/// The CA, a TLS server with a certificate for `localhost` only, and the
/// CA's certificate as a file.
struct Fixture {
    pki: Pki,
    server: TempPostgres,
    dir: TempDir,
    ca_file: PathBuf,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let pki = Pki::new("pg test CA");
        let server = TempPostgres::start_tls(&pki.server(&["localhost"]), None).expect("a TLS server");
        let dir = TempDir::new();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, &pki.ca_pem).unwrap();
        Fixture {
            pki,
            server,
            dir,
            ca_file,
        }
    })
}

/// A key-value DSN for the TLS server at `host`, with `extra` settings.
fn dsn(host: &str, extra: &str) -> String {
    let f = fixture();
    format!(
        "host={host} port={} user={USER} password={PASSWORD} dbname=postgres {extra}",
        f.server.port()
    )
}

fn ca() -> String {
    fixture().ca_file.display().to_string()
}

/// Whether the session is encrypted, as the server sees it.
async fn encrypted(conn: &Connection) -> bool {
    conn.fetchval::<bool>("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
        .await
        .unwrap()
        .unwrap()
}

#[asyncio::test]
async fn verify_full_with_the_ca_encrypts_and_checks_the_name() {
    let conn = connect(&dsn("localhost", &format!("sslmode=verify-full sslrootcert={}", ca())))
        .await
        .unwrap();
    assert!(encrypted(&conn).await);
    let version: String = conn
        .fetchval("SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(version, "TLSv1.3");
    assert_eq!(
        conn.fetchval::<i32>("SELECT $1::int + 1", &[&41i32]).await.unwrap(),
        Some(42)
    );
}

#[asyncio::test]
async fn verify_full_refuses_a_certificate_for_another_name() {
    // The certificate names `localhost`, not 127.0.0.1.
    let err = connect(&dsn("127.0.0.1", &format!("sslmode=verify-full sslrootcert={}", ca())))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Tls { source: TlsError::NotValidForName, target } if target.starts_with("127.0.0.1:")),
        "{err:?}"
    );
}

#[asyncio::test]
async fn verify_ca_checks_the_chain_not_the_name() {
    let conn = connect(&dsn("127.0.0.1", &format!("sslmode=verify-ca sslrootcert={}", ca())))
        .await
        .unwrap();
    assert!(encrypted(&conn).await);

    // Another CA's roots: refused, in verify-ca as in verify-full.
    let other = Pki::new("some other CA");
    let other_file = fixture().dir.path().join("other-ca.pem");
    std::fs::write(&other_file, &other.ca_pem).unwrap();
    for mode in ["verify-ca", "verify-full"] {
        let err = connect(&dsn(
            "localhost",
            &format!("sslmode={mode} sslrootcert={}", other_file.display()),
        ))
        .await
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Tls {
                    source: TlsError::UnknownIssuer,
                    ..
                }
            ),
            "{mode}: {err:?}"
        );
    }
}

#[asyncio::test]
async fn verify_without_roots_is_refused_and_the_system_store_is_verify_full() {
    // No sslrootcert: ~/.postgresql/root.crt if there is one (it would not
    // hold the throwaway CA), else an error, as in libpq.
    for mode in ["verify-full", "verify-ca"] {
        let err = connect(&dsn("localhost", &format!("sslmode={mode}"))).await;
        assert!(
            matches!(
                err,
                Err(Error::Tls {
                    source: TlsError::UnknownIssuer,
                    ..
                }) | Err(Error::InvalidDsn(_))
            ),
            "{mode}: {err:?}"
        );
    }
    // The system's roots do not know the throwaway CA (an empty system
    // store is an InvalidDsn); with them the mode is verify-full, and a
    // weaker one is refused before any connection is tried.
    let err = connect(&dsn("localhost", "sslrootcert=system")).await;
    assert!(
        matches!(
            err,
            Err(Error::Tls {
                source: TlsError::UnknownIssuer,
                ..
            }) | Err(Error::InvalidDsn(_))
        ),
        "{err:?}"
    );
    let err = connect(&dsn("localhost", "sslrootcert=system sslmode=require")).await;
    assert!(matches!(err, Err(Error::InvalidDsn(_))), "{err:?}");
}

#[asyncio::test]
async fn require_and_prefer_encrypt_without_checking_by_default() {
    // libpq's behaviour: no roots configured, any certificate is taken.
    for extra in ["sslmode=require", "sslmode=prefer", ""] {
        let conn = connect(&dsn("127.0.0.1", extra)).await.unwrap();
        assert!(encrypted(&conn).await, "{extra:?}");
    }
    // With a root certificate given, `require` checks the chain.
    let other = Pki::new("not the server's CA");
    let other_file = fixture().dir.path().join("require-other-ca.pem");
    std::fs::write(&other_file, &other.ca_pem).unwrap();
    let err = connect(&dsn(
        "localhost",
        &format!("sslmode=require sslrootcert={}", other_file.display()),
    ))
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Tls {
                source: TlsError::UnknownIssuer,
                ..
            }
        ),
        "{err:?}"
    );
}

#[asyncio::test]
async fn disable_stays_in_plain_text_on_a_tls_server() {
    let conn = connect(&dsn("127.0.0.1", "sslmode=disable")).await.unwrap();
    assert!(!encrypted(&conn).await);
}

#[asyncio::test]
async fn a_server_without_tls() {
    let plain = support::server();
    // `prefer` (the default) goes on in plain text…
    let conn = connect(&plain.dsn()).await.unwrap();
    assert!(!encrypted(&conn).await);
    // …`require` and above are refused with their own error.
    for mode in ["require", "verify-ca", "verify-full"] {
        let err = connect(&format!("{}?sslmode={mode}&sslrootcert={}", plain.dsn(), ca()))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::TlsUnsupported { .. }), "{mode}: {err:?}");
    }
    // A Unix socket never has TLS, and `sslmode` does not apply to it (as
    // in libpq): not even the verify modes' need for a root certificate.
    for mode in ["prefer", "require", "verify-ca", "verify-full"] {
        let conn = connect(&format!("{} sslmode={mode}", plain.unix_dsn())).await.unwrap();
        assert_eq!(conn.fetchval::<i32>("SELECT 1", &[]).await.unwrap(), Some(1));
    }
    // A host whose TLS fails is passed over for the next: here TCP
    // without TLS under `require`, then the Unix socket.
    let dsn = format!(
        "host=127.0.0.1,{} port={} user=postgres password={} dbname=postgres sslmode=require",
        plain.socket_dir().display(),
        plain.port(),
        asyncio_examples_support::pg::PASSWORD
    );
    let conn = connect(&dsn).await.unwrap();
    let tcp: Option<bool> = conn
        .fetchval("SELECT inet_client_addr() IS NOT NULL", &[])
        .await
        .unwrap();
    assert_eq!(tcp, Some(false), "connected over the Unix socket");
}

#[asyncio::test]
async fn channel_binding_is_used_over_tls() {
    // `channel_binding=require` fails unless the SCRAM exchange carried
    // the certificate's hash and the server agreed with it.
    let conn = connect(&dsn(
        "localhost",
        &format!("sslmode=verify-full sslrootcert={} channel_binding=require", ca()),
    ))
    .await
    .unwrap();
    assert!(encrypted(&conn).await);
}

#[asyncio::test]
async fn a_timeout_cancels_the_query_over_tls() {
    let conn = connect(&dsn("localhost", &format!("sslmode=verify-full sslrootcert={}", ca())))
        .await
        .unwrap();
    let start = Instant::now();
    let result = asyncio::timeout(Duration::from_millis(100), conn.fetch("SELECT pg_sleep(10)", &[])).await;
    assert!(result.is_err(), "the sleep finished: {result:?}");
    assert_eq!(conn.fetchval::<i32>("SELECT 1", &[]).await.unwrap(), Some(1));
    // Far below the sleep: the cancel request (itself in TLS) reached it.
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
}

#[asyncio::test]
async fn a_pool_over_tls() {
    let pool = asyncio_postgres::create_pool(&dsn("localhost", &format!("sslmode=verify-full sslrootcert={}", ca())))
        .min_size(2)
        .max_size(3)
        .build()
        .await
        .unwrap();
    let conn = pool.acquire().await.unwrap();
    assert!(encrypted(&conn).await);
    drop(conn);
    pool.close().await;
}

#[asyncio::test]
async fn unusable_tls_settings_are_invalid_dsn() {
    let missing = fixture().dir.path().join("no-such-ca.pem");
    let not_pem = fixture().dir.path().join("not-pem.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    for extra in [
        format!("sslmode=verify-full sslrootcert={}", missing.display()),
        format!("sslmode=verify-full sslrootcert={}", not_pem.display()),
        format!("sslmode=require sslcert={}", ca()),
        "sslmode=sometimes".to_owned(),
    ] {
        let err = connect(&dsn("localhost", &extra)).await.unwrap_err();
        assert!(matches!(err, Error::InvalidDsn(_)), "{extra}: {err:?}");
    }
}

#[asyncio::test]
async fn a_server_that_wants_a_client_certificate() {
    let f = fixture();
    let server = TempPostgres::start_tls(&f.pki.server(&["localhost"]), Some(&f.pki.ca_pem)).expect("a TLS server");
    let dir = TempDir::new();
    let base = format!(
        "host=localhost port={} user={USER} password={PASSWORD} dbname=postgres sslmode=verify-full sslrootcert={}",
        server.port(),
        ca()
    );
    // Without one: refused by the server (its pg_hba.conf rule).
    let err = connect(&base).await.unwrap_err();
    assert!(matches!(err, Error::Auth(Some(_))), "{err:?}");

    // With one for the user's name: in.
    let (cert, key) = f.pki.client(USER).write(dir.path(), "client");
    let conn = connect(&format!("{base} sslcert={} sslkey={}", cert.display(), key.display()))
        .await
        .unwrap();
    assert!(encrypted(&conn).await);
    let name: Option<String> = conn
        .fetchval("SELECT client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
        .await
        .unwrap();
    assert_eq!(name.as_deref(), Some("/CN=postgres"));
}
