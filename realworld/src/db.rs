//! The schema, its migrations, and the queries more than one route uses.
//!
//! Migrations are numbered lists of statements, applied at start-up in
//! order, each version in one transaction with its row in
//! `schema_migrations`: a restart applies only what is new, and a failed
//! version leaves nothing half done.

use asyncio_postgres::{Connection, Error, Row};

/// The migrations: version, and its statements.
const MIGRATIONS: &[(i32, &[&str])] = &[(
    1,
    &[
        "CREATE TABLE users (
            id serial PRIMARY KEY,
            username text NOT NULL UNIQUE,
            email text NOT NULL UNIQUE,
            password_hash text NOT NULL,
            bio text,
            image text)",
        "CREATE TABLE follows (
            follower int NOT NULL REFERENCES users ON DELETE CASCADE,
            followee int NOT NULL REFERENCES users ON DELETE CASCADE,
            PRIMARY KEY (follower, followee))",
        "CREATE TABLE articles (
            id serial PRIMARY KEY,
            slug text NOT NULL UNIQUE,
            title text NOT NULL,
            description text NOT NULL,
            body text NOT NULL,
            author_id int NOT NULL REFERENCES users ON DELETE CASCADE,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now())",
        "CREATE INDEX articles_by_date ON articles (created_at DESC, id DESC)",
        "CREATE TABLE article_tags (
            article_id int NOT NULL REFERENCES articles ON DELETE CASCADE,
            tag text NOT NULL,
            PRIMARY KEY (article_id, tag))",
        "CREATE INDEX article_tags_by_tag ON article_tags (tag)",
        "CREATE TABLE favorites (
            user_id int NOT NULL REFERENCES users ON DELETE CASCADE,
            article_id int NOT NULL REFERENCES articles ON DELETE CASCADE,
            PRIMARY KEY (user_id, article_id))",
        "CREATE TABLE comments (
            id serial PRIMARY KEY,
            article_id int NOT NULL REFERENCES articles ON DELETE CASCADE,
            author_id int NOT NULL REFERENCES users ON DELETE CASCADE,
            body text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now())",
    ],
)];

/// Applies the migrations `conn`'s database lacks; returns how many.
///
/// # Errors
/// The database's, for the version that failed (its statements are rolled
/// back; earlier versions stay applied).
///
/// # Cancel safety
/// Not cancel safe: a version being applied is rolled back with its
/// transaction when the future is dropped.
pub async fn migrate(conn: &mut Connection) -> Result<usize, Error> {
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
        &[],
    )
    .await?;
    let mut applied = 0;
    for (version, statements) in MIGRATIONS {
        let tx = conn.transaction().await?;
        // Serialises concurrent start-ups: the second waits, then sees the row.
        tx.execute("LOCK TABLE schema_migrations IN EXCLUSIVE MODE", &[])
            .await?;
        let done = tx
            .fetchrow("SELECT 1 FROM schema_migrations WHERE version = $1", &[version])
            .await?
            .is_some();
        if done {
            tx.rollback().await?;
            continue;
        }
        for sql in *statements {
            tx.execute(sql, &[]).await?;
        }
        tx.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[version])
            .await?;
        tx.commit().await?;
        applied += 1;
    }
    Ok(applied)
}

/// An ISO 8601 timestamp in UTC with milliseconds, as the spec's clients
/// parse it (`2026-12-02T19:01:06.123Z`), for a `timestamptz` column.
macro_rules! iso {
    ($col:literal) => {
        concat!(
            "to_char(",
            $col,
            " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
        )
    };
}
pub(crate) use iso;

/// A profile as seen by `$1` (a user id, or NULL for nobody): the columns
/// `username, bio, image, following` for the user aliased `u`.
pub(crate) const PROFILE_COLUMNS: &str = "u.username, COALESCE(u.bio, ''), COALESCE(u.image, ''), \
     EXISTS (SELECT 1 FROM follows x WHERE x.follower = $1 AND x.followee = u.id)";

/// A profile's JSON from four columns starting at `at`.
pub(crate) fn profile_json(row: &Row, at: usize) -> serde_json::Value {
    serde_json::json!({
        "username": row.get::<_, String>(at),
        "bio": row.get::<_, String>(at + 1),
        "image": row.get::<_, String>(at + 2),
        "following": row.get::<_, bool>(at + 3),
    })
}
