//! `cargo run --release -p conduit [-- --port 8080 --workers N]`: the
//! RealWorld API on `http://127.0.0.1:PORT/api`, against `DATABASE_URL`, or
//! a throwaway PostgreSQL it starts (and removes on exit) when that is
//! unset.

use asyncio_examples_support::args::{ServerArgs, Workers};
use asyncio_examples_support::pg::TempPostgres;
use asyncio_http::Server;
use conduit::Config;

#[asyncio::main]
async fn main() -> std::io::Result<()> {
    let args = ServerArgs::from_env("conduit", Workers::Default(1));
    let mut _temp = None;
    let dsn = match std::env::var("DATABASE_URL") {
        Ok(dsn) => dsn,
        Err(_) => {
            let pg = TempPostgres::start()?;
            println!("conduit: a throwaway PostgreSQL on port {}", pg.port());
            let dsn = pg.dsn();
            _temp = Some(pg);
            dsn
        }
    };
    let applied = conduit::migrate(&dsn).await.map_err(std::io::Error::other)?;
    println!("conduit: {applied} migration(s) applied");
    let secret = std::env::var("CONDUIT_SECRET").unwrap_or_else(|_| {
        let mut key = [0u8; 32];
        let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key);
        key.iter().map(|b| format!("{b:02x}")).collect()
    });
    let config = Config {
        dsn,
        secret: secret.into_bytes(),
        pool_size: 10,
    };
    let server = Server::bind(args.addr().to_string())
        .workers(args.workers)
        .start(move || conduit::router(&config))
        .await?;
    println!("conduit: serving {}/api", args.url("http", server.local_addr()));
    server.wait().await
}
