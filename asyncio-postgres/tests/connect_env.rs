//! libpq's environment variables fill what the DSN omits. Its own test
//! binary: it sets the process's environment.

mod support;

use support::server;

#[test]
fn pg_environment_variables_fill_an_empty_dsn() {
    let server = server();
    // SAFETY-free in edition 2021; the only test in this binary, so no
    // other thread reads the environment meanwhile.
    std::env::set_var("PGHOST", "127.0.0.1");
    std::env::set_var("PGPORT", server.port().to_string());
    std::env::set_var("PGUSER", asyncio_examples_support::pg::USER);
    std::env::set_var("PGPASSWORD", asyncio_examples_support::pg::PASSWORD);
    std::env::set_var("PGDATABASE", "template1");
    asyncio::run(async {
        let conn = asyncio_postgres::connect("").await.unwrap();
        let db: Option<String> = conn.fetchval("SELECT current_database()::text", &[]).await.unwrap();
        assert_eq!(db.as_deref(), Some("template1"));
        // The DSN wins over the environment.
        let conn = asyncio_postgres::connect("dbname=postgres").await.unwrap();
        let db: Option<String> = conn.fetchval("SELECT current_database()::text", &[]).await.unwrap();
        assert_eq!(db.as_deref(), Some("postgres"));
        // Without PGPASSWORD, the server's question has no answer.
        std::env::remove_var("PGPASSWORD");
        let err = asyncio_postgres::connect("").await.unwrap_err();
        assert!(matches!(err, asyncio_postgres::Error::Auth(None)), "{err:?}");
    });
}
