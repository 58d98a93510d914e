//! The program every asyncio tutorial writes: fetch many URLs, at most N
//! at a time (a `TaskGroup` plus a `Semaphore`, as the seeds' notes
//! throttle requests), beside the same fetches one after another.
//!
//! ```text
//! cargo run --release -p asyncio-http --example fetch_many
//! cargo run --release -p asyncio-http --example fetch_many -- --count 200 --limit 20
//! cargo run --release -p asyncio-http --example fetch_many -- https://example.com/ https://www.rust-lang.org/
//! ```
//!
//! With no URL it starts a local server first (on this loop) whose `/item/{n}`
//! answers after 50 ms, standing for a remote API's latency, and fetches
//! `--count` (100) of them. With URLs, it fetches those.
//!
//! In Python:
//!
//! ```python
//! async def fetch(client, sem, url):
//!     async with sem:
//!         r = await client.get(url)
//!         return len(r.content)
//!
//! async with httpx.AsyncClient() as client:
//!     sem = asyncio.Semaphore(10)
//!     async with asyncio.TaskGroup() as tg:
//!         tasks = [tg.create_task(fetch(client, sem, u)) for u in urls]
//! ```

use std::rc::Rc;
use std::time::{Duration, Instant};

use asyncio::sync::Semaphore;
use asyncio::TaskGroup;

use asyncio_http::client::{Client, Error};
use asyncio_http::{Request, Router, Server};

/// The local server's answer delay.
const LATENCY: Duration = Duration::from_millis(50);

async fn item(req: Request) -> String {
    asyncio::sleep(LATENCY).await;
    format!("item {}", req.param("n").unwrap_or("?"))
}

/// One fetch, holding one of the semaphore's permits while it runs.
async fn fetch(client: Client, limit: Rc<Semaphore>, url: String) -> Result<usize, Error> {
    let _permit = limit.acquire().await;
    let resp = client.get(&url).send().await?.error_for_status()?;
    Ok(resp.bytes().await?.len())
}

struct Args {
    urls: Vec<String>,
    count: usize,
    limit: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        urls: Vec::new(),
        count: 100,
        limit: 10,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{name} wants a positive number"))
        };
        match arg.as_str() {
            "--count" => args.count = number("--count")?,
            "--limit" => args.limit = number("--limit")?,
            "-h" | "--help" => return Err(String::new()),
            url if !url.starts_with('-') => args.urls.push(url.to_owned()),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(args)
}

#[asyncio::main]
async fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(why) => {
            if !why.is_empty() {
                eprintln!("error: {why}");
            }
            eprintln!("usage: fetch_many [--count N] [--limit N] [URL...]");
            std::process::exit(2);
        }
    };
    let local = if args.urls.is_empty() {
        let server = Server::bind("127.0.0.1:0")
            .workers(1)
            .handle_signals(false)
            .start(|| Router::new().get("/item/{n}", item))
            .await
            .expect("the local server starts");
        println!(
            "a local server on {} answers /item/{{n}} after {} ms",
            server.local_addr(),
            LATENCY.as_millis()
        );
        Some(server)
    } else {
        None
    };
    let urls: Vec<String> = match &local {
        Some(server) => (0..args.count)
            .map(|n| format!("http://{}/item/{n}", server.local_addr()))
            .collect(),
        None => args.urls.clone(),
    };
    let client = Client::new();

    // One after another.
    let start = Instant::now();
    let mut failed = 0;
    for url in &urls {
        if let Err(e) = fetch(client.clone(), Rc::new(Semaphore::new(1)), url.clone()).await {
            println!("  {url}: {e}");
            failed += 1;
        }
    }
    let sequential = start.elapsed();
    println!(
        "one after another: {} URLs in {:.0} ms ({failed} failed)",
        urls.len(),
        sequential.as_secs_f64() * 1e3
    );

    // At most `limit` at a time, on the same loop.
    let start = Instant::now();
    let limit = Rc::new(Semaphore::new(args.limit));
    let group = TaskGroup::new();
    let tasks: Vec<_> = urls
        .iter()
        .map(|url| {
            group
                .create_task(fetch(client.clone(), limit.clone(), url.clone()))
                .expect("the group is open")
        })
        .collect();
    group.join().await.expect("no fetch panics");
    let mut bytes = 0;
    let mut failed = 0;
    for (url, task) in urls.iter().zip(tasks) {
        match task.await {
            Some(Ok(n)) => bytes += n,
            Some(Err(e)) => {
                println!("  {url}: {e}");
                failed += 1;
            }
            None => println!("  {url}: cancelled"),
        }
    }
    let concurrent = start.elapsed();
    let stats = client.pool_stats();
    println!(
        "{} at a time: {} URLs in {:.0} ms ({bytes} bytes, {failed} failed), {:.1}x faster; the pool holds {} connections",
        args.limit,
        urls.len(),
        concurrent.as_secs_f64() * 1e3,
        sequential.as_secs_f64() / concurrent.as_secs_f64(),
        stats.open
    );
    if let Some(server) = local {
        server.shutdown().await.expect("shutdown");
    }
}
