//! MariaDB from tasks: `cargo run -p asyncio-mysql --example mariadb_users`
//!
//! Starts a throwaway MariaDB server (installing `mariadb-server` first when
//! it is missing and this runs as root), then, on one asyncio loop: a pool
//! of 4 connections, 50 tasks signing users up at once while a ticker task
//! keeps ticking (the loop never waits on the database), a duplicate
//! sign-up caught by its server error code, and a transfer in one
//! transaction. The server stops and its files go when the program ends.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use asyncio_examples_support::mariadb::MariaDb;
use asyncio_mysql::mysql::prelude::Queryable;
use asyncio_mysql::mysql::TxOpts;
use asyncio_mysql::{codes, Error, Pool};

async fn sign_up(pool: Pool, id: i32) -> Result<(), Error> {
    let name = format!("user{id}");
    // A parameterised statement: prepared once per connection, then cached.
    pool.exec_drop("INSERT INTO users (id, name, credits) VALUES (?, ?, 10)", (id, name))
        .await?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("starting a throwaway MariaDB server...");
    let server = MariaDb::start()?;
    let url = server.url();
    println!("listening on {} ({url})", server.addr());

    asyncio::run(async move {
        let pool = Pool::connect(&url, 4).await?;
        pool.query_drop("CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(40), credits INT)")
            .await?;

        // A ticker on the same loop: it keeps running while queries wait.
        let ticks = Rc::new(Cell::new(0u32));
        let ticker = {
            let ticks = ticks.clone();
            asyncio::create_task(async move {
                loop {
                    asyncio::sleep(Duration::from_millis(1)).await;
                    ticks.set(ticks.get() + 1);
                }
            })
        };

        let tasks: Vec<_> = (1..=50)
            .map(|id| asyncio::create_task(sign_up(pool.clone(), id)))
            .collect();
        for task in tasks {
            task.await.expect("sign-up task")?;
        }
        println!(
            "50 users signed up on 4 connections; the ticker ticked {} times meanwhile",
            ticks.get()
        );
        ticker.cancel();

        match sign_up(pool.clone(), 7).await {
            Err(Error::Server(e)) if e.code == codes::DUP_ENTRY => {
                println!("signing user 7 up again: refused ({e})")
            }
            other => println!("unexpected: {other:?}"),
        }

        // Several statements in one thread hop, as one transaction.
        pool.run(|conn| {
            let mut tx = conn.start_transaction(TxOpts::default())?;
            tx.exec_drop("UPDATE users SET credits = credits - ? WHERE id = ?", (5, 1))?;
            tx.exec_drop("UPDATE users SET credits = credits + ? WHERE id = ?", (5, 2))?;
            tx.commit()
        })
        .await?;
        let rows: Vec<(i32, String, i32)> = pool
            .query("SELECT id, name, credits FROM users WHERE id <= 3 ORDER BY id")
            .await?;
        for (id, name, credits) in rows {
            println!("{id:>3} {name:<8} {credits:>3} credits");
        }
        let total: Option<i64> = pool.query_first("SELECT SUM(credits) FROM users").await?;
        println!("credits in all: {}", total.unwrap_or(0));
        pool.close().await;
        Ok::<(), Error>(())
    })?;
    Ok(())
}
