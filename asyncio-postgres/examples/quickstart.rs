//! Run: `cargo run -p asyncio-postgres --example quickstart` — nothing to
//! set up: it starts its own throwaway PostgreSQL server (as root it installs
//! the distribution's `postgresql` package first if it is missing). To use a
//! server of yours instead, give a DSN: `cargo run -p asyncio-postgres
//! --example quickstart -- postgresql://user:password@host/db`, or set
//! `DATABASE_URL` (the example's table is temporary: your database is left
//! as it was).
//!
//! Shows asyncpg's vocabulary on the asyncio loop: connect, execute,
//! executemany, a transaction that commits and one that rolls back,
//! fetch/fetchval, a server error's SQLSTATE, a query cancelled by a
//! timeout, and a pool.

use std::time::{Duration, Instant};

use asyncio_examples_support::pg::TempPostgres;

fn main() {
    let given = std::env::args().nth(1).or_else(|| std::env::var("DATABASE_URL").ok());
    // Started before the loop: initdb and the server's start-up block.
    let (dsn, server) = match given {
        Some(dsn) => (dsn, None),
        None => match TempPostgres::start() {
            Ok(server) => {
                println!("started a throwaway PostgreSQL server: {}", server.dsn());
                (server.dsn(), Some(server))
            }
            Err(e) => {
                eprintln!("could not start a throwaway PostgreSQL server: {e}");
                eprintln!("(or pass a DSN: cargo run -p asyncio-postgres --example quickstart -- postgresql://...)");
                std::process::exit(1);
            }
        },
    };
    let result = asyncio::run(quickstart(&dsn));
    // The throwaway server (if any) stops; its directory is removed.
    drop(server);
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn quickstart(dsn: &str) -> Result<(), asyncio_postgres::Error> {
    let mut conn = asyncio_postgres::connect(dsn).await?;
    let version: Option<String> = conn.fetchval("SHOW server_version", &[]).await?;
    println!("connected: PostgreSQL {}", version.unwrap_or_default());
    // Temporary: gone when this session ends.
    conn.execute(
        "CREATE TEMPORARY TABLE items (id int PRIMARY KEY, name text NOT NULL)",
        &[],
    )
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

    println!("items after executemany, a committed transaction and a rolled-back one:");
    for row in conn.fetch("SELECT id, name FROM items ORDER BY id", &[]).await? {
        println!("  {} {}", row.get::<_, i32>(0), row.get::<_, &str>(1));
    }
    let name: Option<String> = conn.fetchval("SELECT name FROM items WHERE id = $1", &[&2i32]).await?;
    println!("fetchval: item 2 is {name:?}");

    // A server error carries its SQLSTATE, message and constraint.
    match conn.execute("INSERT INTO items VALUES (1, 'dup')", &[]).await {
        Err(asyncio_postgres::Error::Server(e)) => println!(
            "a duplicate id: SQLSTATE {} ({}), constraint {:?}",
            e.code(),
            e.message(),
            e.constraint().unwrap_or_default()
        ),
        other => println!("a duplicate id: unexpectedly {other:?}"),
    }

    // asyncio.wait_for(conn.fetch(...), 0.1): the dropped query gets a
    // cancel request, so the server stops the sleep and the connection
    // answers the next query at once.
    let start = Instant::now();
    let slow = asyncio::timeout(Duration::from_millis(100), conn.fetch("SELECT pg_sleep(10)", &[])).await;
    let timed_out = start.elapsed();
    let one: Option<i32> = conn.fetchval("SELECT 1", &[]).await?;
    println!(
        "SELECT pg_sleep(10) under a 100 ms timeout: {} after {:.0} ms; then SELECT 1 = {one:?} at {:.0} ms",
        if slow.is_err() { "timed out" } else { "finished" },
        timed_out.as_secs_f64() * 1e3,
        start.elapsed().as_secs_f64() * 1e3
    );

    let pool = asyncio_postgres::create_pool(dsn).min_size(2).max_size(4).await?;
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
    println!(
        "8 tasks on a pool of at most 4 connections: squares {squares:?}; {:?}",
        pool.stats()
    );
    pool.close().await;
    conn.close().await;
    Ok(())
}
