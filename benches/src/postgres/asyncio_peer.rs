//! The asyncio-postgres client of the PostgreSQL bench, on asyncio's loop
//! (`asyncio::run`): asyncpg's calls (`fetchval`, `fetch`,
//! `copy_records_to_table`, `create_pool`/`acquire`), its statement cache
//! doing the preparing (the warm-up fills it).

use std::rc::Rc;

use asyncio_postgres::{Connection, Param, Pool};

use super::{copy_rows, fetch_checksum, Sample, Size, Stopwatch, Workload, COPY_TABLE_SQL, FETCH_SQL, POOL_SIZE};

/// Connects to `dsn`, warms up, measures `workload` at `size`.
///
/// # Panics
/// On any error of the server or the client (a bench must not measure a
/// failure).
pub fn run(workload: Workload, size: Size, dsn: &str) -> Sample {
    asyncio::run(async move {
        match workload {
            Workload::Sequential => {
                let conn = connect(dsn).await;
                sequential(&conn, size.warmup().count).await;
                let clock = Stopwatch::start();
                sequential(&conn, size.count).await;
                clock.stop(size.count)
            }
            Workload::Pipelined => {
                let conn = Rc::new(connect(dsn).await);
                pipelined(&conn, size.warmup()).await;
                let clock = Stopwatch::start();
                pipelined(&conn, size).await;
                clock.stop(size.ops())
            }
            Workload::Pool => {
                let pool = asyncio_postgres::create_pool(dsn)
                    .min_size(POOL_SIZE)
                    .max_size(POOL_SIZE)
                    .build()
                    .await
                    .expect("create_pool");
                pooled(&pool, size.warmup()).await;
                let clock = Stopwatch::start();
                pooled(&pool, size).await;
                let sample = clock.stop(size.ops());
                pool.close().await;
                sample
            }
            Workload::Fetch => {
                let conn = connect(dsn).await;
                fetch(&conn, size.warmup().count).await;
                let clock = Stopwatch::start();
                fetch(&conn, size.count).await;
                clock.stop(size.count)
            }
            Workload::Copy => {
                let conn = connect(dsn).await;
                conn.execute(COPY_TABLE_SQL, &[]).await.expect("CREATE TEMP TABLE");
                let rows = copy_rows(size.count);
                copy(&conn, &rows[..size.warmup().count]).await;
                conn.execute("TRUNCATE bench_copy", &[]).await.expect("TRUNCATE");
                let clock = Stopwatch::start();
                copy(&conn, &rows).await;
                clock.stop(size.count)
            }
        }
    })
}

async fn connect(dsn: &str) -> Connection {
    asyncio_postgres::connect(dsn).await.expect("connect")
}

async fn select1(conn: &Connection) {
    let one: Option<i32> = conn.fetchval("SELECT 1", &[]).await.expect("SELECT 1");
    assert_eq!(one, Some(1));
}

async fn sequential(conn: &Connection, count: usize) {
    for _ in 0..count {
        select1(conn).await;
    }
}

async fn pipelined(conn: &Rc<Connection>, size: Size) {
    let tasks: Vec<_> = (0..size.tasks)
        .map(|_| {
            let conn = conn.clone();
            asyncio::create_task(async move {
                for _ in 0..size.per_task() {
                    select1(&conn).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("pipelined task");
    }
}

async fn pooled(pool: &Pool, size: Size) {
    let tasks: Vec<_> = (0..size.tasks)
        .map(|_| {
            let pool = pool.clone();
            asyncio::create_task(async move {
                for _ in 0..size.per_task() {
                    let conn = pool.acquire().await.expect("acquire");
                    select1(&conn).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("pool task");
    }
}

async fn fetch(conn: &Connection, count: usize) {
    let rows = conn.fetch(FETCH_SQL, &[&(count as i32)]).await.expect("fetch");
    let mut checksum = 0u64;
    for row in &rows {
        let i: i32 = row.get(0);
        let t: &str = row.get(1);
        checksum += i as u64 + t.len() as u64;
    }
    assert_eq!((rows.len(), checksum), (count, fetch_checksum(count)));
}

async fn copy(conn: &Connection, rows: &[(i32, String)]) {
    let records = rows.iter().map(|(i, t)| [i as Param<'_>, t as Param<'_>]);
    let copied = conn
        .copy_records_to_table("bench_copy", &["i", "t"], records)
        .await
        .expect("copy_records_to_table");
    assert_eq!(copied, rows.len() as u64);
}
