//! Writes a throwaway ECDSA P-256 CA and a server certificate for
//! `localhost` and `127.0.0.1` (`ca.pem`, `cert.pem`, `key.pem`) into a
//! directory, for servers that take PEM files (the HTTPS rows of
//! `benches/http/run.sh`):
//!
//! ```sh
//! cargo run --release -p asyncio-benches --example tls_certs -- target/tls-bench
//! ```
//!
//! The files are made fresh on every run (rcgen); none is ever committed.

use std::path::PathBuf;

use asyncio_benches::tls::TestPki;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        eprintln!("usage: tls_certs DIR");
        std::process::exit(2);
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    TestPki::generate()
        .write_to(&dir)
        .unwrap_or_else(|e| panic!("write the PEM files into {}: {e}", dir.display()));
    println!("{}", dir.display());
}
