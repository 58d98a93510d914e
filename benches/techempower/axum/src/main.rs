//! The TechEmpower Framework Benchmarks' six test types on axum +
//! tokio-postgres on tokio's multi-thread runtime: the peer of
//! `../asyncio` (same routes, same queries, same connection scheme: N
//! connections per worker thread's share, used round-robin, pipelining).
//!
//!     DATABASE_URL=postgres://… techempower-axum PORT WORKERS CONNECTIONS_PER_WORKER

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::header::{HeaderValue, CONTENT_TYPE, SERVER};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio_postgres::{Client, NoTls, Statement};

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

#[derive(Serialize)]
struct World {
    id: i32,
    #[serde(rename = "randomNumber")]
    random_number: i32,
}

#[derive(Deserialize)]
struct Queries {
    queries: Option<String>,
}

fn count(q: &Queries) -> usize {
    q.queries.as_deref().and_then(|s| s.parse::<i64>().ok()).unwrap_or(1).clamp(1, 500) as usize
}

struct Conn {
    client: Client,
    world: Statement,
    fortune: Statement,
    update: Statement,
}

struct Db {
    conns: Vec<Conn>,
    next: AtomicUsize,
    seed: AtomicU64,
}

impl Db {
    fn conn(&self) -> &Conn {
        &self.conns[self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len()]
    }

    fn random_id(&self) -> i32 {
        // A Weyl sequence through splitmix64: lock-free across threads.
        let mut z = self.seed.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % 10_000) as i32 + 1
    }
}

type Shared = Arc<Db>;

fn server(mut r: Response) -> Response {
    r.headers_mut().insert(SERVER, HeaderValue::from_static("axum"));
    r
}

async fn json() -> Response {
    server(Json(Message { message: "Hello, World!" }).into_response())
}

async fn plaintext() -> Response {
    server("Hello, World!".into_response())
}

async fn world(db: &Db, id: i32) -> World {
    let c = db.conn();
    let row = c.client.query_one(&c.world, &[&id]).await.expect("the query runs");
    World {
        id: row.get(0),
        random_number: row.get(1),
    }
}

async fn single(State(db): State<Shared>) -> Response {
    let id = db.random_id();
    server(Json(world(&db, id).await).into_response())
}

async fn queries(State(db): State<Shared>, Query(q): Query<Queries>) -> Response {
    let ids: Vec<i32> = (0..count(&q)).map(|_| db.random_id()).collect();
    let worlds = futures_util::future::join_all(ids.into_iter().map(|id| world(&db, id))).await;
    server(Json(worlds).into_response())
}

async fn updates(State(db): State<Shared>, Query(q): Query<Queries>) -> Response {
    let ids: Vec<i32> = (0..count(&q)).map(|_| db.random_id()).collect();
    let mut worlds = futures_util::future::join_all(ids.into_iter().map(|id| world(&db, id))).await;
    for w in &mut worlds {
        w.random_number = db.random_id();
    }
    let mut sorted: Vec<(i32, i32)> = worlds.iter().map(|w| (w.id, w.random_number)).collect();
    sorted.sort_unstable();
    let (ids, numbers): (Vec<i32>, Vec<i32>) = sorted.into_iter().unzip();
    let c = db.conn();
    c.client.execute(&c.update, &[&ids, &numbers]).await.expect("the update runs");
    server(Json(worlds).into_response())
}

fn escape(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
}

async fn fortunes(State(db): State<Shared>) -> Response {
    let c = db.conn();
    let rows = c.client.query(&c.fortune, &[]).await.expect("the query runs");
    let mut all: Vec<(i32, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    all.push((0, "Additional fortune added at request time.".to_owned()));
    all.sort_by(|a, b| a.1.cmp(&b.1));
    let mut html = String::with_capacity(2048);
    html.push_str("<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table><tr><th>id</th><th>message</th></tr>");
    for (id, message) in &all {
        let _ = write!(html, "<tr><td>{id}</td><td>");
        escape(&mut html, message);
        html.push_str("</td></tr>");
    }
    html.push_str("</table></body></html>");
    let mut r = server(html.into_response());
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    r
}

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|a| a.parse().ok()).unwrap_or(8080);
    let workers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let per_worker: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    let dsn = std::env::var("DATABASE_URL").expect("DATABASE_URL is set");
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move {
            let mut conns = Vec::new();
            for _ in 0..per_worker * workers {
                let (client, connection) = tokio_postgres::connect(&dsn, NoTls).await.expect("the database is reachable");
                tokio::spawn(connection);
                let world = client.prepare("SELECT id, randomnumber FROM world WHERE id = $1").await.unwrap();
                let fortune = client.prepare("SELECT id, message FROM fortune").await.unwrap();
                let update = client
                    .prepare("UPDATE world SET randomnumber = v.r FROM (SELECT unnest($1::int[]) AS id, unnest($2::int[]) AS r) v WHERE world.id = v.id")
                    .await
                    .unwrap();
                conns.push(Conn {
                    client,
                    world,
                    fortune,
                    update,
                });
            }
            let db = Arc::new(Db {
                conns,
                next: AtomicUsize::new(0),
                seed: AtomicU64::new(std::process::id() as u64),
            });
            let app = Router::new()
                .route("/json", get(json))
                .route("/plaintext", get(plaintext))
                .route("/db", get(single))
                .route("/queries", get(queries))
                .route("/updates", get(updates))
                .route("/fortunes", get(fortunes))
                .with_state(db);
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
            axum::serve(listener, app).await.unwrap();
        });
}
