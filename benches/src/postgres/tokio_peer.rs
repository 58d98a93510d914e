//! The tokio-postgres client of the PostgreSQL bench, on tokio's
//! current-thread runtime, used the fast way: default features off (no
//! `runtime` feature), so it connects with `Config::connect_raw` over a
//! `tokio::net::TcpStream` it opened itself (`TCP_NODELAY`, as
//! asyncio-postgres), the connection future `tokio::spawn`ed; every
//! statement prepared once, before the warm-up, and executed by its handle.
//!
//! tokio-postgres has no pool of its own; `SmallPool` is the least one
//! (a semaphore of [`POOL_SIZE`] permits and a list of idle connections,
//! each with its prepared `SELECT 1`), which runs asyncpg's reset
//! ([`POOL_RESET_SQL`]) on each connection given back, as asyncio-postgres's
//! and asyncpg's pools do, so that every pool makes the same round trips.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::config::Host;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls, Statement};

use super::{
    copy_rows, fetch_checksum, Sample, Size, Stopwatch, Workload, COPY_TABLE_SQL, FETCH_SQL, POOL_RESET_SQL, POOL_SIZE,
};

/// Connects to `dsn`, prepares, warms up, measures `workload` at `size`.
///
/// # Panics
/// On any error of the server or the client.
pub fn run(workload: Workload, size: Size, dsn: &str) -> Sample {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio current-thread runtime");
    runtime.block_on(async move {
        match workload {
            Workload::Sequential => {
                let client = connect(dsn).await;
                let select1 = client.prepare("SELECT 1").await.expect("prepare");
                sequential(&client, &select1, size.warmup().count).await;
                let clock = Stopwatch::start();
                sequential(&client, &select1, size.count).await;
                clock.stop(size.count)
            }
            Workload::Pipelined => {
                let client = Arc::new(connect(dsn).await);
                let select1 = client.prepare("SELECT 1").await.expect("prepare");
                pipelined(&client, &select1, size.warmup()).await;
                let clock = Stopwatch::start();
                pipelined(&client, &select1, size).await;
                clock.stop(size.ops())
            }
            Workload::Pool => {
                let pool = Arc::new(SmallPool::new(dsn).await);
                pooled(&pool, size.warmup()).await;
                let clock = Stopwatch::start();
                pooled(&pool, size).await;
                clock.stop(size.ops())
            }
            Workload::Fetch => {
                let client = connect(dsn).await;
                let query = client.prepare(FETCH_SQL).await.expect("prepare");
                fetch(&client, &query, size.warmup().count).await;
                let clock = Stopwatch::start();
                fetch(&client, &query, size.count).await;
                clock.stop(size.count)
            }
            Workload::Copy => {
                let client = connect(dsn).await;
                client.batch_execute(COPY_TABLE_SQL).await.expect("CREATE TEMP TABLE");
                let copy_sql = client
                    .prepare("COPY bench_copy (i, t) FROM STDIN (FORMAT binary)")
                    .await
                    .expect("prepare COPY");
                let rows = copy_rows(size.count);
                copy(&client, &copy_sql, &rows[..size.warmup().count]).await;
                client.batch_execute("TRUNCATE bench_copy").await.expect("TRUNCATE");
                let clock = Stopwatch::start();
                copy(&client, &copy_sql, &rows).await;
                clock.stop(size.count)
            }
        }
    })
}

/// `connect_raw` over a tokio `TcpStream` to the DSN's first host.
async fn connect(dsn: &str) -> Client {
    let config: tokio_postgres::Config = dsn.parse().expect("a DSN tokio-postgres reads");
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(host)) => host.clone(),
        other => panic!("the bench's tokio-postgres peer connects over TCP only, not to {other:?}"),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let stream = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .expect("TCP connect");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    let (client, connection) = config.connect_raw(stream, NoTls).await.expect("connect_raw");
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("tokio-postgres connection: {e}");
        }
    });
    client
}

async fn select1(client: &Client, select1: &Statement) {
    let one: i32 = client.query_one(select1, &[]).await.expect("SELECT 1").get(0);
    assert_eq!(one, 1);
}

async fn sequential(client: &Client, statement: &Statement, count: usize) {
    for _ in 0..count {
        select1(client, statement).await;
    }
}

async fn pipelined(client: &Arc<Client>, statement: &Statement, size: Size) {
    let tasks: Vec<_> = (0..size.tasks)
        .map(|_| {
            let (client, statement) = (client.clone(), statement.clone());
            tokio::spawn(async move {
                for _ in 0..size.per_task() {
                    select1(&client, &statement).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("pipelined task");
    }
}

/// The least pool: [`POOL_SIZE`] connections opened up front, a FIFO
/// semaphore (tokio's is fair) for the right to take one.
struct SmallPool {
    permits: tokio::sync::Semaphore,
    idle: Mutex<Vec<(Client, Statement)>>,
}

impl SmallPool {
    async fn new(dsn: &str) -> SmallPool {
        let mut idle = Vec::with_capacity(POOL_SIZE);
        for _ in 0..POOL_SIZE {
            let client = connect(dsn).await;
            let select1 = client.prepare("SELECT 1").await.expect("prepare");
            idle.push((client, select1));
        }
        SmallPool {
            permits: tokio::sync::Semaphore::new(POOL_SIZE),
            idle: Mutex::new(idle),
        }
    }

    /// Runs `SELECT 1` on a connection of the pool, then the reset, then
    /// gives the connection back.
    async fn select1(&self) {
        let _permit = self.permits.acquire().await.expect("pool semaphore");
        let (client, statement) = self
            .idle
            .lock()
            .expect("pool list")
            .pop()
            .expect("a permit means an idle connection");
        select1(&client, &statement).await;
        client.batch_execute(POOL_RESET_SQL).await.expect("reset");
        self.idle.lock().expect("pool list").push((client, statement));
    }
}

async fn pooled(pool: &Arc<SmallPool>, size: Size) {
    let tasks: Vec<_> = (0..size.tasks)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for _ in 0..size.per_task() {
                    pool.select1().await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("pool task");
    }
}

async fn fetch(client: &Client, query: &Statement, count: usize) {
    let rows = client.query(query, &[&(count as i32)]).await.expect("fetch");
    let mut checksum = 0u64;
    for row in &rows {
        let i: i32 = row.get(0);
        let t: &str = row.get(1);
        checksum += i as u64 + t.len() as u64;
    }
    assert_eq!((rows.len(), checksum), (count, fetch_checksum(count)));
}

async fn copy(client: &Client, copy_sql: &Statement, rows: &[(i32, String)]) {
    let sink = client.copy_in::<_, Bytes>(copy_sql).await.expect("COPY");
    let writer = BinaryCopyInWriter::new(sink, &[Type::INT4, Type::TEXT]);
    let mut writer = std::pin::pin!(writer);
    for (i, t) in rows {
        let values: [&(dyn ToSql + Sync); 2] = [i, t];
        writer.as_mut().write(&values).await.expect("COPY row");
    }
    let copied = writer.finish().await.expect("COPY end");
    assert_eq!(copied, rows.len() as u64);
}
