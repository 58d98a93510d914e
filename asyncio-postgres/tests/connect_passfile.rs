//! libpq's password file supplies the password a DSN leaves out (`passfile=`
//! here; `PGPASSFILE` and `~/.pgpass` name it otherwise, unit-tested in the
//! crate).

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use asyncio_examples_support::pg::{PASSWORD, USER};
use asyncio_postgres::{connect, Error};
use support::server;

/// Writes `text` to a fresh file with `mode` and returns its path.
fn passfile(name: &str, text: &str, mode: u32) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("asyncio-postgres-passfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

fn dsn(path: &Path) -> String {
    format!(
        "host=127.0.0.1 port={} user={USER} dbname=postgres passfile={}",
        server().port(),
        path.display()
    )
}

#[asyncio::test]
async fn the_first_matching_line_gives_the_password() {
    let port = server().port();
    // Lines for another port and another user come first and do not match.
    let text = format!(
        "# throwaway server\n127.0.0.1:{other}:*:{USER}:wrong\n*:*:*:someone_else:wrong\n127.0.0.1:{port}:postgres:{USER}:{PASSWORD}\n*:*:*:*:wrong\n",
        other = port.wrapping_add(1)
    );
    let path = passfile("good", &text, 0o600);
    let conn = connect(&dsn(&path)).await.expect("the file's password");
    assert_eq!(conn.fetchval::<i32>("SELECT 1", &[]).await.unwrap(), Some(1));
    // A password in the DSN wins over the file.
    let err = connect(&format!("{} password=wrong", dsn(&path))).await.unwrap_err();
    assert!(matches!(err, Error::Auth(Some(_))), "{err:?}");
}

#[asyncio::test]
async fn a_wrong_password_in_the_file_is_an_auth_error() {
    let path = passfile("wrong", "*:*:*:*:wrong\n", 0o600);
    match connect(&dsn(&path)).await.unwrap_err() {
        Error::Auth(Some(e)) => assert_eq!(e.code(), "28P01", "{e}"),
        other => panic!("expected Error::Auth, got {other:?}"),
    }
}

#[asyncio::test]
async fn a_file_others_may_read_is_ignored() {
    let path = passfile("open", &format!("*:*:*:*:{PASSWORD}\n"), 0o644);
    // As libpq: not used at all, so the server's question has no answer.
    let err = connect(&dsn(&path)).await.unwrap_err();
    assert!(matches!(err, Error::Auth(None)), "{err:?}");
}

#[asyncio::test]
async fn a_missing_file_is_no_file() {
    let missing = std::env::temp_dir().join("asyncio-postgres-no-such-passfile");
    let err = connect(&dsn(&missing)).await.unwrap_err();
    assert!(matches!(err, Error::Auth(None)), "{err:?}");
}
