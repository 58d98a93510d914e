//! The TechEmpower Framework Benchmarks' six test types on asyncio-http +
//! asyncio-postgres: `/json`, `/db`, `/queries?queries=N`, `/fortunes`,
//! `/updates?queries=N`, `/plaintext`. Run by `benches/techempower/run.sh`:
//!
//!     DATABASE_URL=postgres://… techempower-asyncio PORT WORKERS CONNECTIONS_PER_WORKER

use std::cell::{Cell, OnceCell};
use std::fmt::Write;
use std::rc::Rc;

use asyncio_http::extract::{Json, Query, State};
use asyncio_http::http::header::{HeaderValue, CONTENT_TYPE, SERVER};
use asyncio_http::{IntoResponse, Response, Router, Server};
use asyncio_postgres::Connection;
use serde::{Deserialize, Serialize};

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

/// `queries`: 1 to 500, anything else clamped (a non-number is 1).
fn count(q: &Queries) -> usize {
    q.queries.as_deref().and_then(|s| s.parse::<i64>().ok()).unwrap_or(1).clamp(1, 500) as usize
}

/// One worker loop's connections (used round-robin: each pipelines the
/// queries of the requests that share it) and its random numbers.
#[derive(Clone)]
struct Db {
    conns: Rc<OnceCell<Vec<Connection>>>,
    next: Rc<Cell<usize>>,
    seed: Rc<Cell<u64>>,
}

impl Db {
    fn conn(&self) -> &Connection {
        let conns = self.conns.get().expect("connected at startup");
        let i = self.next.get();
        self.next.set((i + 1) % conns.len());
        &conns[i]
    }

    /// 1..=10000, xorshift64*.
    fn random_id(&self) -> i32 {
        let mut x = self.seed.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.seed.set(x);
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as i32 % 10_000 + 1
    }
}

const SERVER_NAME: HeaderValue = HeaderValue::from_static("asyncio-http");

fn server(mut r: Response) -> Response {
    r.headers_mut().insert(SERVER, SERVER_NAME);
    r
}

async fn json() -> Response {
    server(Json(Message { message: "Hello, World!" }).into_response())
}

async fn plaintext() -> Response {
    server("Hello, World!".into_response())
}

async fn world(db: &Db, id: i32) -> World {
    let row = db
        .conn()
        .fetchrow("SELECT id, randomnumber FROM world WHERE id = $1", &[&id])
        .await
        .expect("the query runs")
        .expect("the row exists");
    World {
        id: row.get(0),
        random_number: row.get(1),
    }
}

async fn single(State(db): State<Db>) -> Response {
    server(Json(world(&db, db.random_id()).await).into_response())
}

async fn queries(State(db): State<Db>, Query(q): Query<Queries>) -> Response {
    let ids: Vec<i32> = (0..count(&q)).map(|_| db.random_id()).collect();
    let worlds = asyncio::gather(ids.into_iter().map(|id| {
        let db = db.clone();
        async move { world(&db, id).await }
    }))
    .await;
    server(Json(worlds).into_response())
}

async fn updates(State(db): State<Db>, Query(q): Query<Queries>) -> Response {
    let ids: Vec<i32> = (0..count(&q)).map(|_| db.random_id()).collect();
    let mut worlds = asyncio::gather(ids.into_iter().map(|id| {
        let db = db.clone();
        async move { world(&db, id).await }
    }))
    .await;
    for w in &mut worlds {
        w.random_number = db.random_id();
    }
    let mut sorted: Vec<(i32, i32)> = worlds.iter().map(|w| (w.id, w.random_number)).collect();
    sorted.sort_unstable();
    let (ids, numbers): (Vec<i32>, Vec<i32>) = sorted.into_iter().unzip();
    db.conn()
        .execute(
            "UPDATE world SET randomnumber = v.r FROM (SELECT unnest($1::int[]) AS id, unnest($2::int[]) AS r) v WHERE world.id = v.id",
            &[&ids, &numbers],
        )
        .await
        .expect("the update runs");
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

async fn fortunes(State(db): State<Db>) -> Response {
    let rows = db.conn().fetch("SELECT id, message FROM fortune", &[]).await.expect("the query runs");
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

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|a| a.parse().ok()).unwrap_or(8080);
    let workers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let per_worker: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    let dsn = std::env::var("DATABASE_URL").expect("DATABASE_URL is set");
    asyncio::run(async move {
        Server::bind(format!("127.0.0.1:{port}"))
            .workers(workers)
            .serve(move || {
                let db = Db {
                    conns: Rc::new(OnceCell::new()),
                    next: Rc::new(Cell::new(0)),
                    seed: Rc::new(Cell::new(0x9E37_79B9_7F4A_7C15 ^ (std::process::id() as u64) << 7 | 1)),
                };
                let (cell, dsn) = (db.conns.clone(), dsn.clone());
                Router::new()
                    .get("/json", json)
                    .get("/plaintext", plaintext)
                    .get("/db", single)
                    .get("/queries", queries)
                    .get("/updates", updates)
                    .get("/fortunes", fortunes)
                    .with_state(db)
                    .on_startup(move || async move {
                        let mut conns = Vec::new();
                        for _ in 0..per_worker {
                            conns.push(asyncio_postgres::connect(&dsn).await.expect("the database is reachable"));
                        }
                        let _ = cell.set(conns);
                    })
            })
            .await
    })
}
