//! A server restart while the pool is busy: queries in flight fail with
//! `Error::Closed` (or connecting fails while the server is down), the pool
//! discards the dead connections, and once the server is back every task's
//! queries succeed again, without the program restarting. Its own test
//! binary: it restarts the binary's server.

mod support;

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use asyncio_postgres::{create_pool, Error};
use support::server;

#[asyncio::test]
async fn the_pool_recovers_from_a_server_restart() {
    let pool = create_pool(&server().dsn()).min_size(4).max_size(4).await.unwrap();
    let restarted = Rc::new(Cell::new(false));
    let successes = Rc::new(Cell::new(0usize));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (pool, restarted, successes) = (pool.clone(), restarted.clone(), successes.clone());
            asyncio::create_task(async move {
                let mut failures = 0;
                let deadline = Instant::now() + Duration::from_secs(60);
                // Query until the restart is over and one more query
                // succeeded after it.
                loop {
                    assert!(Instant::now() < deadline, "no success after the restart");
                    let after_restart = restarted.get();
                    let result = match pool.acquire().await {
                        Ok(conn) => conn.fetchval::<i32>("SELECT 1", &[]).await,
                        Err(e) => Err(e),
                    };
                    match result {
                        Ok(one) => {
                            assert_eq!(one, Some(1));
                            successes.set(successes.get() + 1);
                            if after_restart {
                                return failures;
                            }
                        }
                        Err(Error::Closed(_) | Error::Connect { .. }) => failures += 1,
                        Err(e) if e.code() == Some("57P03") => failures += 1, // starting up
                        Err(e) => panic!("unexpected error: {e}"),
                    }
                    asyncio::sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .collect();
    // Once the tasks are busy, restart the server from a thread (the
    // restart blocks until the server accepts connections again).
    while successes.get() < 20 {
        asyncio::sleep(Duration::from_millis(1)).await;
    }
    asyncio::to_thread(|| server().restart()).await.unwrap().unwrap();
    restarted.set(true);
    let mut total_failures = 0;
    for task in tasks {
        total_failures += task.await.unwrap();
    }
    assert!(total_failures > 0, "the restart went unnoticed: no query failed");
    // Every connection now in the pool is a live one.
    assert!(pool.stats().size <= 4);
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(pool.acquire().await.unwrap());
    }
    for conn in &held {
        assert_eq!(conn.fetchval::<i32>("SELECT 1", &[]).await.unwrap(), Some(1));
    }
}
