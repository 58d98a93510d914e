//! Run: `cargo run -p asyncio-postgres --example quickstart` (starts its own
//! throwaway PostgreSQL server; as root it installs the distribution's
//! `postgresql` package first if it is missing).
//!
//! Shows asyncpg's vocabulary on the asyncio loop: connect, execute,
//! executemany, a transaction that commits and one that rolls back,
//! fetch/fetchval, a query cancelled by a timeout, and a pool.

use std::time::{Duration, Instant};

use asyncio_examples_support::pg::TempPostgres;

#[asyncio::main]
async fn main() -> Result<(), asyncio_postgres::Error> {
    let server = TempPostgres::start().expect("a throwaway PostgreSQL server");
    println!("server: {}", server.dsn());

    let mut conn = asyncio_postgres::connect(&server.dsn()).await?;
    conn.execute("CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL)", &[])
        .await?;
    conn.executemany(
        "INSERT INTO items VALUES ($1, $2)",
        &[&[&1i32, &"pen"], &[&2i32, &"ink"]],
    )
    .await?;

    let tx = conn.transaction().await?;
    tx.execute("INSERT INTO items VALUES (3, 'paper')", &[]).await?;
    tx.commit().await?;
    {
        let tx = conn.transaction().await?;
        tx.execute("DELETE FROM items", &[]).await?;
        // Dropped without commit: rolled back.
    }

    for row in conn.fetch("SELECT id, name FROM items ORDER BY id", &[]).await? {
        println!("item {}: {}", row.get::<_, i32>(0), row.get::<_, &str>(1));
    }
    let err = conn
        .execute("INSERT INTO items VALUES (1, 'dup')", &[])
        .await
        .unwrap_err();
    println!("duplicate: SQLSTATE {:?}: {err}", err.code());

    let start = Instant::now();
    let slow = asyncio::timeout(Duration::from_millis(100), conn.fetch("SELECT pg_sleep(10)", &[])).await;
    let one: Option<i32> = conn.fetchval("SELECT 1", &[]).await?;
    println!(
        "pg_sleep(10) timed out: {}; then SELECT 1 = {one:?}, {:?} in all",
        slow.is_err(),
        start.elapsed()
    );

    let pool = asyncio_postgres::create_pool(&server.dsn())
        .min_size(2)
        .max_size(4)
        .await?;
    let tasks: Vec<_> = (0..8i32)
        .map(|i| {
            let pool = pool.clone();
            asyncio::create_task(async move {
                let conn = pool.acquire().await?;
                conn.fetchval::<i32>("SELECT $1::int * $1::int", &[&i]).await
            })
        })
        .collect();
    let mut squares = Vec::new();
    for task in tasks {
        squares.push(task.await.expect("task")?.unwrap_or_default());
    }
    println!("squares from a pool of {:?}: {squares:?}", pool.stats());
    pool.close().await;
    conn.close().await;
    Ok(())
}
