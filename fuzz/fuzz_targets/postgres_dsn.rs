//! asyncio-postgres's DSN handling: a URL or libpq's key-value form, with
//! the TLS keys taken out before tokio-postgres parses the rest. Never a
//! panic; the TLS keys and only they are taken, the other pairs left as
//! they were.
#![no_main]

libfuzzer_sys::fuzz_target!(|dsn: &str| asyncio_postgres::__fuzz::dsn(dsn));
